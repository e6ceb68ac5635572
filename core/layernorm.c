/*
 * layernorm.c - layer normalisation of each position's features.
 *
 * The input (T, C, 1) of a sample is T rows of C features (for any (c, h, w)
 * input: in.c rows of in.h*in.w features); each row x becomes
 * xhat * gamma + beta with xhat = (x - mean) * rstd, rstd = 1 / sqrt(var +
 * 1e-5) and var the biased variance of the row.  Parameters: gamma (C),
 * then beta (C).  Forward saves each row's mean and rstd ((batch*T, 2):
 * saved[2r] the mean, saved[2r+1] the rstd of row r); backward rebuilds
 * xhat from them and the stashed input into scratch (one row, C floats)
 * and applies the standard gradient: dgamma += sum dout*xhat, dbeta +=
 * sum dout, din = rstd * (g - mean(g) - xhat * mean(g*xhat)), g = dout *
 * gamma.  Everything is float, in straightforward row loops.
 */
#include "layer.h"
#include "layer_util.h"

#include <math.h>

#define LAYERNORM_EPS 1e-5f

static int layernorm_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    l->out = l->in;
    l->param_count = 2 * (size_t)l->in.h * l->in.w;
    return 0;
}

static void layernorm_init(const Layer *l, float *p, Rng *rng)
{
    (void)rng;
    const size_t c = (size_t)l->in.h * l->in.w;
    for (size_t j = 0; j < c; j++) {
        p[j] = 1.0f;     /* gamma */
        p[c + j] = 0.0f; /* beta */
    }
}

/* One row (xhat) at a time. */
static size_t layernorm_scratch_floats(const Layer *l, int batch)
{
    (void)batch;
    return (size_t)l->in.h * l->in.w;
}

/* Each row's mean and rstd. */
static size_t layernorm_saved_floats(const Layer *l, int batch)
{
    return 2 * (size_t)batch * l->in.c;
}

static void layernorm_forward(const Layer *l, const LayerIO *io)
{
    const int c = l->in.h * l->in.w;
    const size_t rows = (size_t)io->batch * l->in.c;
    const float *gamma = io->params, *beta = io->params + c; /* (c) each */
    for (size_t r = 0; r < rows; r++) {
        const float *x = io->in + r * c; /* (c) */
        float *y = io->out + r * c;      /* (c) */
        float sum = 0.0f;
        for (int j = 0; j < c; j++)
            sum += x[j];
        float mean = sum / (float)c;
        float sq = 0.0f;
        for (int j = 0; j < c; j++) {
            float d = x[j] - mean;
            sq += d * d;
        }
        float rstd = 1.0f / sqrtf(sq / (float)c + LAYERNORM_EPS);
        for (int j = 0; j < c; j++)
            y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
        io->saved[2 * r] = mean;
        io->saved[2 * r + 1] = rstd;
    }
}

/* din of one row: g = dout*gamma goes into din, then din = rstd * (g -
 * mean(g) - xhat * mean(g*xhat)) in place. */
static void layernorm_row_din(int c, const float *gamma, const float *xhat /* (c) */,
                              const float *dy /* (c) */, float rstd, float *dx /* (c) */)
{
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int j = 0; j < c; j++) {
        float g = dy[j] * gamma[j];
        dx[j] = g;
        sum_g += g;
        sum_gx += g * xhat[j];
    }
    float mean_g = sum_g / (float)c, mean_gx = sum_gx / (float)c;
    for (int j = 0; j < c; j++)
        dx[j] = rstd * (dx[j] - mean_g - xhat[j] * mean_gx);
}

static void layernorm_backward(const Layer *l, const LayerIO *io)
{
    const int c = l->in.h * l->in.w;
    const size_t rows = (size_t)io->batch * l->in.c;
    const float *gamma = io->params;                  /* (c) */
    float *dgamma = io->dparams, *dbeta = dgamma + c; /* (c) each */
    float *xhat = io->scratch;                        /* (c) */
    for (size_t r = 0; r < rows; r++) {
        const float *x = io->in + r * c;    /* (c) */
        const float *dy = io->dout + r * c; /* (c) */
        float mean = io->saved[2 * r], rstd = io->saved[2 * r + 1];
        for (int j = 0; j < c; j++) {
            xhat[j] = (x[j] - mean) * rstd;
            dgamma[j] += dy[j] * xhat[j];
            dbeta[j] += dy[j];
        }
        if (io->din)
            layernorm_row_din(c, gamma, xhat, dy, rstd, io->din + r * c);
    }
}

/* forward, per row of C features: C adds (sum) + 1 division (mean) + 3C
 * (subtract, square, add: the squared deviations) + 4 (divide by C, add
 * eps, sqrt, reciprocal) + 4C (subtract mean, times rstd, times gamma,
 * plus beta); i.e. batch*T * (8C + 5). */
static double layernorm_forward_flops(const Layer *l, int batch)
{
    double rows = (double)batch * l->in.c, c = (double)l->in.h * l->in.w;
    return rows * (8.0 * c + 5.0);
}

/* backward, per row: 2C (xhat) + 2C (dgamma multiply and add) + C (dbeta)
 * = 5C; with din, layernorm_row_din adds C (g) + C (sum g) + 2C (sum
 * g*xhat) + 2 divisions + 4C (subtract, multiply, subtract, times rstd) =
 * 8C + 2; i.e. batch*T * 5C, or batch*T * (13C + 2) with din. */
static double layernorm_backward_flops(const Layer *l, int batch, int need_din)
{
    double rows = (double)batch * l->in.c, c = (double)l->in.h * l->in.w;
    return rows * (5.0 * c + (need_din ? 8.0 * c + 2.0 : 0.0));
}

const LayerOps layernorm_ops = {
    .name = "layernorm",
    .setup = layernorm_setup,
    .init = layernorm_init,
    .scratch_floats = layernorm_scratch_floats,
    .saved_floats = layernorm_saved_floats,
    .forward = layernorm_forward,
    .backward = layernorm_backward,
    .forward_flops = layernorm_forward_flops,
    .backward_flops = layernorm_backward_flops,
};
