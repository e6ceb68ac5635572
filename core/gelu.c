/*
 * gelu.c - the Gaussian error linear unit, tanh approximation (GPT-2's):
 * out = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), element by
 * element, any shape.
 *
 * u is computed as sqrt(2/pi) x (1 + 0.044715 x^2) in both directions.
 * Backward keeps nothing from the forward pass: it recomputes u and tanh(u)
 * from the stashed input and applies the exact derivative of the formula,
 * d out / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715
 * x^2), t = tanh(u).  No parameters.
 */
#include "layer.h"
#include "layer_util.h"

#include <math.h>

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f
#define GELU_3A 0.134145f /* 3 * GELU_A */

static int gelu_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    l->out = l->in;
    l->param_count = 0;
    return 0;
}

/* tanh(u) = (e^2u - 1) / (e^2u + 1), with u clamped to [-9, 9], where
 * tanh is 1 in float to the last bit: glibc's expf is several times
 * faster than its tanhf, and GELU runs over the widest activations of a
 * transformer (batch x seq_len x d_ff).  Exact to a few ulps. */
static inline float gelu_tanh(float u)
{
    u = u < -9.0f ? -9.0f : u > 9.0f ? 9.0f : u;
    float e = expf(2.0f * u);
    return (e - 1.0f) / (e + 1.0f);
}

static void gelu_forward(const Layer *l, const LayerIO *io)
{
    const size_t n = (size_t)io->batch * shape_size(l->in);
    const float *in = io->in; /* (batch, in) */
    float *out = io->out;     /* (batch, in) */
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float u = GELU_K * x * (1.0f + GELU_A * x * x);
        out[i] = 0.5f * x * (1.0f + gelu_tanh(u));
    }
}

static void gelu_backward(const Layer *l, const LayerIO *io)
{
    if (!io->din)
        return;
    const size_t n = (size_t)io->batch * shape_size(l->in);
    const float *in = io->in;     /* (batch, in) */
    const float *dout = io->dout; /* (batch, in) */
    float *din = io->din;         /* (batch, in) */
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float x2 = x * x;
        float t = gelu_tanh(GELU_K * x * (1.0f + GELU_A * x2));
        float du = GELU_K * (1.0f + GELU_3A * x2);
        float dy = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        din[i] = dout[i] * dy;
    }
}

/* gelu_tanh, per element: two comparisons (the clamp), 2u, the exp, e - 1,
 * e + 1 and the division: 7. */
#define GELU_TANH_FLOPS 7.0

/* forward, per element: u = K*x*(1 + A*x*x) is 5 (three multiplies in
 * A*x*x and K*x, the add, the product), then tanh (7), the add of 1 and
 * two multiplies by 0.5 and x: 3; i.e. 15 * batch*size. */
static double gelu_forward_flops(const Layer *l, int batch)
{
    return (8.0 + GELU_TANH_FLOPS) * batch * (double)shape_size(l->in);
}

/* backward, per element when din is wanted: x2 (1), u = K*x*(1 + A*x2)
 * (4), tanh (7), du = K*(1 + 3A*x2) (3), dy: 1 + t, times 0.5, 0.5*x, t*t,
 * 1 - t*t, two more multiplies and the sum (8), times dout (1); i.e. 24 *
 * batch*size.  Nothing without din (no parameters). */
static double gelu_backward_flops(const Layer *l, int batch, int need_din)
{
    return need_din ? (17.0 + GELU_TANH_FLOPS) * batch * (double)shape_size(l->in) : 0.0;
}

const LayerOps gelu_ops = {
    .name = "gelu",
    .setup = gelu_setup,
    .init = layer_init_none,
    .scratch_floats = layer_scratch_none,
    .saved_floats = NULL,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .forward_flops = gelu_forward_flops,
    .backward_flops = gelu_backward_flops,
};
