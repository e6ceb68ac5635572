/*
 * batchnorm.c - batch normalisation of NCHW tensors, per channel, with the
 * statistics of the batch at hand ("ghost" groups optional).
 *
 * The samples of a call are split into groups of l->group consecutive
 * samples (the last one possibly smaller; group 0: one group, the whole
 * batch).  For every (group, channel) the n = (samples of the group) * h*w
 * values x of that channel get mean, biased variance var and rstd = 1 /
 * sqrt(var + 1e-5), and become y = (x - mean) * rstd * gamma + beta.  No
 * running averages are kept: evaluation normalises with the statistics of
 * each evaluation batch too (layer.h).  Parameters gamma (c), then beta
 * (c).  Forward saves mean and rstd of every (group, channel): saved[2 *
 * (group * c + channel)] the mean, the float after it the rstd.
 *
 * Sums over a (group, channel) run in two steps, so that the inner loops
 * are contiguous and vectorise: the planes (h*w floats) of the group's
 * samples are added position by position into acc (h*w floats of
 * scratch), then acc is folded into one double.  Two passes forward (mean,
 * then squared deviations) and one to write y; backward one pass for the
 * sums of dy and dy*xhat and one for din:
 *     dbeta += sum dy,  dgamma += sum dy*xhat,
 *     din = k (dy - sum dy / n) - k (sum dy*xhat / n) rstd (x - mean),
 * with k = rstd * gamma: the standard gradient through the group's
 * statistics, din = rstd gamma (dy - mean(dy) - xhat mean(dy xhat)).
 */
#include "layer.h"
#include "layer_util.h"

#include <math.h>
#include <string.h>

#define BATCHNORM_EPS 1e-5f

/* Groups of a call of `batch` samples. */
static int batchnorm_groups(const Layer *l, int batch)
{
    return l->group > 0 ? (batch + l->group - 1) / l->group : 1;
}

/* The samples [*first, *first + return) of group gi. */
static int batchnorm_group_span(const Layer *l, int batch, int gi, int *first)
{
    const int size = l->group > 0 ? l->group : batch;
    *first = gi * size;
    return batch - *first < size ? batch - *first : size;
}

static int batchnorm_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    if (l->group < 0)
        return dt_fail(err, DT_EINPUT,
                       "batchnorm: group %d must be at least 0 (0: the whole batch)", l->group);
    l->out = l->in;
    l->param_count = 2 * (size_t)l->in.c;
    return 0;
}

static void batchnorm_init(const Layer *l, float *p, Rng *rng)
{
    (void)rng;
    const size_t c = (size_t)l->in.c;
    for (size_t j = 0; j < c; j++) {
        p[j] = 1.0f;     /* gamma */
        p[c + j] = 0.0f; /* beta */
    }
}

/* acc: two planes of per-position partial sums. */
static size_t batchnorm_scratch_floats(const Layer *l, int batch)
{
    (void)batch;
    return 2 * (size_t)l->in.h * l->in.w;
}

/* mean and rstd of every (group, channel). */
static size_t batchnorm_saved_floats(const Layer *l, int batch)
{
    return 2 * (size_t)batchnorm_groups(l, batch) * l->in.c;
}

/* The sum of acc[0..hw), one add each, in double. */
static double batchnorm_fold(const float *acc, size_t hw)
{
    double s = 0.0;
    for (size_t p = 0; p < hw; p++)
        s += acc[p];
    return s;
}

/* Mean and rstd of channel ch over the g samples at in (the group's
 * first sample), into stat[0], stat[1]. */
static void batchnorm_stats(const Layer *l, const float *in, int g, int ch, float *acc, float *stat)
{
    const size_t hw = (size_t)l->in.h * l->in.w, chw = (size_t)l->in.c * hw;
    const double n = (double)g * hw;
    memset(acc, 0, hw * sizeof(float));
    for (int b = 0; b < g; b++) {
        const float *x = in + b * chw + ch * hw; /* (h*w) */
        for (size_t p = 0; p < hw; p++)
            acc[p] += x[p];
    }
    const float mean = (float)(batchnorm_fold(acc, hw) / n);
    memset(acc, 0, hw * sizeof(float));
    for (int b = 0; b < g; b++) {
        const float *x = in + b * chw + ch * hw; /* (h*w) */
        for (size_t p = 0; p < hw; p++) {
            float d = x[p] - mean;
            acc[p] += d * d;
        }
    }
    const float var = (float)(batchnorm_fold(acc, hw) / n);
    stat[0] = mean;
    stat[1] = 1.0f / sqrtf(var + BATCHNORM_EPS);
}

static void batchnorm_forward(const Layer *l, const LayerIO *io)
{
    const int c = l->in.c, groups = batchnorm_groups(l, io->batch);
    const size_t hw = (size_t)l->in.h * l->in.w, chw = (size_t)c * hw;
    const float *gamma = io->params, *beta = io->params + c; /* (c) each */
    for (int gi = 0; gi < groups; gi++) {
        int first, g = batchnorm_group_span(l, io->batch, gi, &first);
        const float *in = io->in + (size_t)first * chw; /* (g, c, h, w) */
        float *out = io->out + (size_t)first * chw;     /* (g, c, h, w) */
        for (int ch = 0; ch < c; ch++) {
            float *stat = io->saved + 2 * ((size_t)gi * c + ch);
            batchnorm_stats(l, in, g, ch, io->scratch, stat);
            const float mean = stat[0], scale = stat[1] * gamma[ch], shift = beta[ch];
            for (int b = 0; b < g; b++) {
                const float *x = in + b * chw + ch * hw; /* (h*w) */
                float *y = out + b * chw + ch * hw;      /* (h*w) */
                for (size_t p = 0; p < hw; p++)
                    y[p] = (x[p] - mean) * scale + shift;
            }
        }
    }
}

/* sum dy and sum dy*xhat of channel ch over the g samples at in and dout,
 * through the per-position partial sums s1 and s2 (h*w each). */
static void batchnorm_grad_sums(const Layer *l, const float *in, const float *dout, int g, int ch,
                                const float *stat, float *s1, float *s2, double *sums)
{
    const size_t hw = (size_t)l->in.h * l->in.w, chw = (size_t)l->in.c * hw;
    const float mean = stat[0], rstd = stat[1];
    memset(s1, 0, hw * sizeof(float));
    memset(s2, 0, hw * sizeof(float));
    for (int b = 0; b < g; b++) {
        const float *x = in + b * chw + ch * hw;    /* (h*w) */
        const float *dy = dout + b * chw + ch * hw; /* (h*w) */
        for (size_t p = 0; p < hw; p++) {
            float xhat = (x[p] - mean) * rstd;
            s1[p] += dy[p];
            s2[p] += dy[p] * xhat;
        }
    }
    sums[0] = batchnorm_fold(s1, hw);
    sums[1] = batchnorm_fold(s2, hw);
}

static void batchnorm_backward(const Layer *l, const LayerIO *io)
{
    const int c = l->in.c, groups = batchnorm_groups(l, io->batch);
    const size_t hw = (size_t)l->in.h * l->in.w, chw = (size_t)c * hw;
    const float *gamma = io->params;                  /* (c) */
    float *dgamma = io->dparams, *dbeta = dgamma + c; /* (c) each */
    float *s1 = io->scratch, *s2 = io->scratch + hw;  /* (h*w) each */
    for (int gi = 0; gi < groups; gi++) {
        int first, g = batchnorm_group_span(l, io->batch, gi, &first);
        const float *in = io->in + (size_t)first * chw;     /* (g, c, h, w) */
        const float *dout = io->dout + (size_t)first * chw; /* (g, c, h, w) */
        const float n = (float)((double)g * hw);
        for (int ch = 0; ch < c; ch++) {
            const float *stat = io->saved + 2 * ((size_t)gi * c + ch);
            double sums[2];
            batchnorm_grad_sums(l, in, dout, g, ch, stat, s1, s2, sums);
            dbeta[ch] += (float)sums[0];
            dgamma[ch] += (float)sums[1];
            if (!io->din)
                continue;
            const float mean = stat[0], rstd = stat[1], k = rstd * gamma[ch];
            const float a = (float)sums[0] / n, kb = k * ((float)sums[1] / n) * rstd;
            float *din = io->din + (size_t)first * chw; /* (g, c, h, w) */
            for (int b = 0; b < g; b++) {
                const float *x = in + b * chw + ch * hw;    /* (h*w) */
                const float *dy = dout + b * chw + ch * hw; /* (h*w) */
                float *dx = din + b * chw + ch * hw;        /* (h*w) */
                for (size_t p = 0; p < hw; p++)
                    dx[p] = k * (dy[p] - a) - kb * (x[p] - mean);
            }
        }
    }
}

/* forward, per (group, channel) of n = samples * h*w values, from the loops
 * of batchnorm_stats and batchnorm_forward:
 *   n adds into acc + h*w adds folding it + 1 division (mean)
 * + 3n (subtract, square, add) + h*w (fold) + 4 (divide by n, add eps,
 *   sqrt, reciprocal: rstd)
 * + 1 (scale = rstd * gamma) + 3n (subtract, multiply, add: y)
 * = 7n + 2 h*w + 6.  Summed over groups and channels the n add up to
 * batch * c * h*w: 7 batch c hw + groups c (2 hw + 6). */
static double batchnorm_forward_flops(const Layer *l, int batch)
{
    double hw = (double)l->in.h * l->in.w, c = l->in.c, groups = batchnorm_groups(l, batch);
    return 7.0 * batch * c * hw + groups * c * (2.0 * hw + 6.0);
}

/* backward, per (group, channel), from batchnorm_grad_sums and
 * batchnorm_backward:
 *   5n (subtract, multiply: xhat; add into s1; multiply, add into s2)
 * + 2 h*w (folding s1 and s2) + 2 (into dbeta and dgamma)
 * and with din:
 * + 5 (k = rstd*gamma; a = sum/n; kb: a division and two multiplies)
 * + 5n (subtract, multiply, subtract, multiply, subtract: din)
 * i.e. 5 batch c hw + groups c (2 hw + 2), plus 5 batch c hw + 5 groups c
 * with din. */
static double batchnorm_backward_flops(const Layer *l, int batch, int need_din)
{
    double hw = (double)l->in.h * l->in.w, c = l->in.c, groups = batchnorm_groups(l, batch);
    double elems = (double)batch * c * hw;
    double flops = 5.0 * elems + groups * c * (2.0 * hw + 2.0);
    if (need_din)
        flops += 5.0 * elems + 5.0 * groups * c;
    return flops;
}

const LayerOps batchnorm_ops = {
    .name = "batchnorm",
    .setup = batchnorm_setup,
    .init = batchnorm_init,
    .scratch_floats = batchnorm_scratch_floats,
    .saved_floats = batchnorm_saved_floats,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .forward_flops = batchnorm_forward_flops,
    .backward_flops = batchnorm_backward_flops,
};
