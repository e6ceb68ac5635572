/*
 * add.c - the residual add: out = in + in2, element by element.
 *
 * The layer that lets a network skip: in is the previous layer's output
 * (or any earlier one's, model.h), in2 the output of an earlier layer the
 * model names, as a ResNet block adds its input to its last convolution
 * and a transformer block adds its input to its attention and MLP
 * branches.  The gradient of a sum reaches both inputs unchanged, so
 * backward copies dout to din and din2; where another layer also reads an
 * input, model.c adds the gradients up.
 */
#include "layer.h"
#include "layer_util.h"

#include <string.h>

static int add_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    if (l->in.c != l->in2.c || l->in.h != l->in2.h || l->in.w != l->in2.w)
        return dt_fail(err, DT_EINPUT,
                       "add: the inputs have different shapes, (%d, %d, %d) and (%d, %d, %d)",
                       l->in.c, l->in.h, l->in.w, l->in2.c, l->in2.h, l->in2.w);
    l->out = l->in;
    l->param_count = 0;
    return 0;
}

static void add_forward(const Layer *l, const LayerIO *io)
{
    const size_t n = (size_t)io->batch * shape_size(l->in);
    const float *a = io->in;  /* (batch, in) */
    const float *b = io->in2; /* (batch, in) */
    float *out = io->out;     /* (batch, in) */
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static void add_backward(const Layer *l, const LayerIO *io)
{
    const size_t bytes = (size_t)io->batch * shape_size(l->in) * sizeof(float);
    if (io->din)
        memcpy(io->din, io->dout, bytes);
    if (io->din2)
        memcpy(io->din2, io->dout, bytes);
}

/* forward: batch*size additions. */
static double add_forward_flops(const Layer *l, int batch)
{
    return (double)batch * (double)shape_size(l->in);
}

/* backward: 0 (copies). */
static double add_backward_flops(const Layer *l, int batch, int need_din)
{
    (void)l;
    (void)batch;
    (void)need_din;
    return 0.0;
}

const LayerOps add_ops = {
    .name = "add",
    .setup = add_setup,
    .init = layer_init_none,
    .scratch_floats = layer_scratch_none,
    .forward = add_forward,
    .backward = add_backward,
    .forward_flops = add_forward_flops,
    .backward_flops = add_backward_flops,
};
