/*
 * avgpool.c - global average pooling: (c, h, w) -> (c, 1, 1).
 *
 * Each channel's h*w positions are summed (in double, one add each) and
 * divided by h*w; backward gives every position of a channel dout / (h*w).
 * No parameters: the head of a ResNet, between the last block and the
 * classifier.
 */
#include "layer.h"
#include "layer_util.h"

static int avgpool_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    l->out = (Shape){l->in.c, 1, 1};
    l->param_count = 0;
    return 0;
}

static void avgpool_forward(const Layer *l, const LayerIO *io)
{
    const size_t hw = (size_t)l->in.h * l->in.w, planes = (size_t)io->batch * l->in.c;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = io->in + pl * hw; /* (h*w) */
        double s = 0.0;
        for (size_t p = 0; p < hw; p++)
            s += x[p];
        io->out[pl] = (float)(s / (double)hw);
    }
}

static void avgpool_backward(const Layer *l, const LayerIO *io)
{
    if (!io->din)
        return;
    const size_t hw = (size_t)l->in.h * l->in.w, planes = (size_t)io->batch * l->in.c;
    for (size_t pl = 0; pl < planes; pl++) {
        const float g = io->dout[pl] / (float)hw;
        float *dx = io->din + pl * hw; /* (h*w) */
        for (size_t p = 0; p < hw; p++)
            dx[p] = g;
    }
}

/* forward: per (sample, channel) h*w adds and 1 division. */
static double avgpool_forward_flops(const Layer *l, int batch)
{
    return (double)batch * l->in.c * ((double)l->in.h * l->in.w + 1.0);
}

/* backward, when din is wanted: 1 division per (sample, channel), then
 * copies; nothing otherwise (no parameters). */
static double avgpool_backward_flops(const Layer *l, int batch, int need_din)
{
    return need_din ? (double)batch * l->in.c : 0.0;
}

const LayerOps avgpool_ops = {
    .name = "avgpool",
    .setup = avgpool_setup,
    .init = layer_init_none,
    .scratch_floats = layer_scratch_none,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .forward_flops = avgpool_forward_flops,
    .backward_flops = avgpool_backward_flops,
};
