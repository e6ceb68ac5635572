/*
 * maxpool.c - max pooling over kernel x kernel windows, no padding.
 *
 * Windows start every `stride` pixels and must lie inside the input; a
 * trailing strip narrower than a window is left out (floor semantics, as in
 * most frameworks).  The backward pass keeps no argmax from the forward
 * pass: it finds the maximum again in the stashed input (the first one in
 * row-major window order wins a tie) and adds dout there, so a training
 * step needs no extra memory per pooling layer.  Adding (not storing) keeps
 * overlapping windows (stride < kernel) correct.
 */
#include "layer.h"
#include "layer_util.h"

#include <string.h>

static int maxpool_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    if (l->kernel < 1 || l->stride < 1)
        return dt_fail(err, DT_EINPUT, "maxpool: kernel %d and stride %d must both be at least 1",
                       l->kernel, l->stride);
    if (l->pad != 0)
        return dt_fail(err, DT_EINPUT, "maxpool: padding is not supported (got pad %d)", l->pad);
    if (l->kernel > l->in.h || l->kernel > l->in.w)
        return dt_fail(err, DT_EINPUT,
                       "maxpool: %dx%d window does not fit input (%d, %d, %d); use a smaller "
                       "kernel or pool earlier",
                       l->kernel, l->kernel, l->in.c, l->in.h, l->in.w);
    l->out = (Shape){l->in.c, layer_window_count(l->in.h, l->kernel, l->stride, 0),
                     layer_window_count(l->in.w, l->kernel, l->stride, 0)};
    l->param_count = 0;
    return 0;
}

/* Offset (from win) of the window's maximum, first one on ties;
 * kernel*kernel - 1 comparisons.  Written as selects, not branches: the
 * winner of a window is data-dependent and a branch would mispredict. */
static inline size_t maxpool_argmax(const float *win /* window's top-left in a (h, w) plane */,
                                    int w, int k)
{
    float best = win[0];
    size_t at = 0;
    for (int ky = 0; ky < k; ky++) {
        const float *row = win + (size_t)ky * w;
        for (int kx = (ky == 0); kx < k; kx++) {
            float v = row[kx];
            int greater = v > best;
            best = greater ? v : best;
            at = greater ? (size_t)ky * w + kx : at;
        }
    }
    return at;
}

/* The common 2x2, stride 2 case: one pass over two input rows per output
 * row, 3 comparisons a window. */
static void maxpool_forward_2x2(const Layer *l, const LayerIO *io)
{
    const int h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w;
    const size_t planes = (size_t)io->batch * l->in.c;
    for (size_t p = 0; p < planes; p++) {
        const float *src = io->in + p * h * w; /* (h, w) */
        float *dst = io->out + p * oh * ow;    /* (oh, ow) */
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w; /* (w) each */
            float *d = dst + (size_t)oy * ow;                         /* (ow) */
            for (int ox = 0; ox < ow; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1];
                float top = b > a ? b : a, bottom = e > c ? e : c;
                d[ox] = bottom > top ? bottom : top;
            }
        }
    }
}

static int maxpool_is_2x2(const Layer *l)
{
    return l->kernel == 2 && l->stride == 2;
}

static void maxpool_forward(const Layer *l, const LayerIO *io)
{
    const int h = l->in.h, w = l->in.w, k = l->kernel, s = l->stride;
    const int oh = l->out.h, ow = l->out.w;
    const size_t planes = (size_t)io->batch * l->in.c;
    if (maxpool_is_2x2(l)) {
        maxpool_forward_2x2(l, io);
        return;
    }
    for (size_t p = 0; p < planes; p++) {
        const float *src = io->in + p * h * w; /* (h, w) */
        float *dst = io->out + p * oh * ow;    /* (oh, ow) */
        /* One output row at a time, one window tap at a time, so that the
         * innermost loop runs along the row: the first tap is copied, each
         * other tap costs one comparison per output. */
        for (int oy = 0; oy < oh; oy++) {
            const float *top = src + (size_t)oy * s * w; /* (k, w) rows under this output row */
            float *d = dst + (size_t)oy * ow;            /* (ow) */
            for (int ox = 0; ox < ow; ox++)
                d[ox] = top[(size_t)ox * s];
            for (int ky = 0; ky < k; ky++) {
                for (int kx = (ky == 0); kx < k; kx++) {
                    const float *tap = top + (size_t)ky * w + kx;
                    for (int ox = 0; ox < ow; ox++) {
                        float v = tap[(size_t)ox * s];
                        d[ox] = v > d[ox] ? v : d[ox];
                    }
                }
            }
        }
    }
}

/* 2x2, stride 2: windows do not overlap, so each window of din is written
 * whole (dout at the first maximum, zeros elsewhere) with no memset and no
 * adds; rows and columns past the last window (odd h or w) are zeroed. */
static void maxpool_backward_2x2(const Layer *l, const LayerIO *io)
{
    const int h = l->in.h, w = l->in.w, oh = l->out.h, ow = l->out.w;
    const size_t planes = (size_t)io->batch * l->in.c;
    for (size_t p = 0; p < planes; p++) {
        const float *src = io->in + p * h * w;      /* (h, w) */
        const float *dout = io->dout + p * oh * ow; /* (oh, ow) */
        float *din = io->din + p * h * w;           /* (h, w) */
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w; /* (w) each */
            float *d0 = din + (size_t)2 * oy * w, *d1 = d0 + w;       /* (w) each */
            const float *g = dout + (size_t)oy * ow;                  /* (ow) */
            for (int ox = 0; ox < ow; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1];
                /* first maximum in row-major order wins, as in maxpool_argmax */
                int tb = b > a, be = e > c;
                float top = tb ? b : a, bottom = be ? e : c;
                int low = bottom > top;
                float v = g[ox];
                d0[2 * ox] = !low && !tb ? v : 0.0f;
                d0[2 * ox + 1] = !low && tb ? v : 0.0f;
                d1[2 * ox] = low && !be ? v : 0.0f;
                d1[2 * ox + 1] = low && be ? v : 0.0f;
            }
            for (int x = 2 * ow; x < w; x++)
                d0[x] = d1[x] = 0.0f;
        }
        for (size_t i = (size_t)2 * oh * w; i < (size_t)h * w; i++)
            din[i] = 0.0f;
    }
}

static void maxpool_backward(const Layer *l, const LayerIO *io)
{
    if (!io->din)
        return;
    if (maxpool_is_2x2(l)) {
        maxpool_backward_2x2(l, io);
        return;
    }
    const int h = l->in.h, w = l->in.w, k = l->kernel, s = l->stride;
    const int oh = l->out.h, ow = l->out.w;
    const size_t planes = (size_t)io->batch * l->in.c;
    memset(io->din, 0, planes * h * w * sizeof(float));
    for (size_t p = 0; p < planes; p++) {
        const float *src = io->in + p * h * w;      /* (h, w) */
        const float *dout = io->dout + p * oh * ow; /* (oh, ow) */
        float *din = io->din + p * h * w;           /* (h, w) */
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                size_t corner = (size_t)oy * s * w + (size_t)ox * s;
                din[corner + maxpool_argmax(src + corner, w, k)] += dout[(size_t)oy * ow + ox];
            }
        }
    }
}

/* forward: batch*c*oh*ow windows, kernel*kernel - 1 comparisons each
 * (the tap loops of maxpool_forward). */
static double maxpool_forward_flops(const Layer *l, int batch)
{
    double windows = (double)batch * (double)shape_size(l->out);
    return windows * ((double)l->kernel * l->kernel - 1.0);
}

/* backward, when din is wanted: per window kernel*kernel - 1 comparisons
 * (the argmax again) + 1 add of dout into din, except in the 2x2 stride-2
 * path, which stores dout instead of adding it; nothing otherwise (no
 * parameters). */
static double maxpool_backward_flops(const Layer *l, int batch, int need_din)
{
    if (!need_din)
        return 0.0;
    double windows = (double)batch * (double)shape_size(l->out);
    return windows * ((double)l->kernel * l->kernel - 1.0) + (maxpool_is_2x2(l) ? 0.0 : windows);
}

const LayerOps maxpool_ops = {
    .name = "maxpool",
    .setup = maxpool_setup,
    .init = layer_init_none,
    .scratch_floats = layer_scratch_none,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .forward_flops = maxpool_forward_flops,
    .backward_flops = maxpool_backward_flops,
};
