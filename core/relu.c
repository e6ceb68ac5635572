/*
 * relu.c - the rectifier: out = max(in, 0), element by element.
 *
 * Both directions are one branch-free, contiguous loop with one comparison
 * per element, which the compiler turns into vector selects.  The backward
 * pass tests the stashed output (out > 0), not the input, so it needs
 * nothing the training step does not already keep.
 */
#include "layer.h"
#include "layer_util.h"

static int relu_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    l->out = l->in;
    l->param_count = 0;
    return 0;
}

static void relu_forward(const Layer *l, const LayerIO *io)
{
    const size_t n = (size_t)io->batch * shape_size(l->in);
    const float *in = io->in; /* (batch, in) */
    float *out = io->out;     /* (batch, in) */
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

static void relu_backward(const Layer *l, const LayerIO *io)
{
    if (!io->din)
        return;
    const size_t n = (size_t)io->batch * shape_size(l->in);
    const float *out = io->out;   /* (batch, in) */
    const float *dout = io->dout; /* (batch, in) */
    float *din = io->din;         /* (batch, in) */
    /* dout[i] is read unconditionally so that the select below is a
     * vector blend, not a branch on the sign of every activation */
    for (size_t i = 0; i < n; i++) {
        float d = dout[i];
        din[i] = out[i] > 0.0f ? d : 0.0f;
    }
}

/* forward: batch*size comparisons (in > 0) in the one loop. */
static double relu_forward_flops(const Layer *l, int batch)
{
    return (double)batch * (double)shape_size(l->in);
}

/* backward: batch*size comparisons (out > 0) when din is wanted, else
 * nothing (there are no parameters). */
static double relu_backward_flops(const Layer *l, int batch, int need_din)
{
    return need_din ? (double)batch * (double)shape_size(l->in) : 0.0;
}

const LayerOps relu_ops = {
    .name = "relu",
    .setup = relu_setup,
    .init = layer_init_none,
    .scratch_floats = layer_scratch_none,
    .forward = relu_forward,
    .backward = relu_backward,
    .forward_flops = relu_forward_flops,
    .backward_flops = relu_backward_flops,
};
