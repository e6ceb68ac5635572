/*
 * flatten.c - (c, h, w) -> (c*h*w, 1, 1): a copy in both directions.
 *
 * NCHW is already sample-major and contiguous, so flattening changes only
 * the shape; the data is copied (not aliased) so that every layer owns its
 * own output buffer, as the training step's activation stash expects.
 * Copies cost no FLOPs.
 */
#include "layer.h"
#include "layer_util.h"

#include <string.h>

static int flatten_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    size_t n = shape_size(l->in);
    if (n > (size_t)0x7fffffff)
        return dt_fail(err, DT_EINPUT, "flatten: input (%d, %d, %d) has more than 2^31-1 features",
                       l->in.c, l->in.h, l->in.w);
    l->out = (Shape){(int)n, 1, 1};
    l->param_count = 0;
    return 0;
}

static void flatten_forward(const Layer *l, const LayerIO *io)
{
    /* out (batch, c*h*w) <- in (batch, c, h, w) */
    memcpy(io->out, io->in, (size_t)io->batch * shape_size(l->in) * sizeof(float));
}

static void flatten_backward(const Layer *l, const LayerIO *io)
{
    /* din (batch, c, h, w) <- dout (batch, c*h*w) */
    if (io->din)
        memcpy(io->din, io->dout, (size_t)io->batch * shape_size(l->in) * sizeof(float));
}

/* forward: 0 (a copy). */
static double flatten_forward_flops(const Layer *l, int batch)
{
    (void)l;
    (void)batch;
    return 0.0;
}

/* backward: 0 (a copy, or nothing when din is not wanted). */
static double flatten_backward_flops(const Layer *l, int batch, int need_din)
{
    (void)l;
    (void)batch;
    (void)need_din;
    return 0.0;
}

const LayerOps flatten_ops = {
    .name = "flatten",
    .setup = flatten_setup,
    .init = layer_init_none,
    .scratch_floats = layer_scratch_none,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .forward_flops = flatten_forward_flops,
    .backward_flops = flatten_backward_flops,
};
