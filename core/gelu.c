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

static void gelu_forward(const Layer *l, const LayerIO *io)
{
    const size_t n = (size_t)io->batch * shape_size(l->in);
    const float *in = io->in; /* (batch, in) */
    float *out = io->out;     /* (batch, in) */
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float u = GELU_K * x * (1.0f + GELU_A * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
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
        float t = tanhf(GELU_K * x * (1.0f + GELU_A * x2));
        float du = GELU_K * (1.0f + GELU_3A * x2);
        float dy = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        din[i] = dout[i] * dy;
    }
}

/* forward, per element: u = K*x*(1 + A*x*x) is 5 (three multiplies in
 * A*x*x and K*x, the add, the product), then tanh, the add of 1 and two
 * multiplies by 0.5 and x: 4; i.e. 9 * batch*size. */
static double gelu_forward_flops(const Layer *l, int batch)
{
    return 9.0 * batch * (double)shape_size(l->in);
}

/* backward, per element when din is wanted: x2 (1), u = K*x*(1 + A*x2)
 * (4), tanh (1), du = K*(1 + 3A*x2) (3), dy: 1 + t, times 0.5, 0.5*x, t*t,
 * 1 - t*t, two more multiplies and the sum (8), times dout (1); i.e. 18 *
 * batch*size.  Nothing without din (no parameters). */
static double gelu_backward_flops(const Layer *l, int batch, int need_din)
{
    return need_din ? 18.0 * batch * (double)shape_size(l->in) : 0.0;
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
