/*
 * optim.c - SGD with momentum and weight decay, and Adam (see optim.h).
 *
 * The loops are written so each term of optim_step_flops() maps onto one
 * operation in them; the Adam bias corrections are computed once per step
 * in double and are not per-parameter work.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int optim_state_per_param(const OptConfig *cfg)
{
    return cfg->kind == OPT_ADAM ? 2 : cfg->momentum != 0.0;
}

void optim_describe(Optimizer *o, const OptConfig *cfg, size_t count)
{
    o->cfg = *cfg;
    o->count = count;
    o->t = 0;
    o->m = NULL;
    o->v = NULL;
}

int optim_init(Optimizer *o, const OptConfig *cfg, size_t count, DtError *err)
{
    optim_describe(o, cfg, count);
    int state = optim_state_per_param(cfg);
    if (state >= 1 && !(o->m = calloc(count ? count : 1, sizeof(float))))
        goto oom;
    if (state == 2 && !(o->v = calloc(count ? count : 1, sizeof(float))))
        goto oom;
    return 0;
oom:
    optim_free(o);
    return dt_fail(err, DT_ERUNTIME, "out of memory for optimizer state of %zu floats", count);
}

void optim_free(Optimizer *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void optim_reset(Optimizer *o)
{
    if (o->m)
        memset(o->m, 0, o->count * sizeof(float));
    if (o->v)
        memset(o->v, 0, o->count * sizeof(float));
    o->t = 0;
}

static void optim_sgd(const Optimizer *o, float *p, const float *grads, size_t first, size_t n)
{
    const float lr = (float)o->cfg.lr, mu = (float)o->cfg.momentum;
    const float wd = (float)o->cfg.weight_decay;
    float *v = o->m ? o->m + first : NULL;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        if (wd != 0.0f)
            g += wd * p[i];
        if (v) {
            v[i] = mu * v[i] + g;
            g = v[i];
        }
        p[i] -= lr * g;
    }
}

static void optim_adam(const Optimizer *o, float *p, const float *grads, size_t first, size_t n)
{
    const float b1 = (float)o->cfg.beta1, b2 = (float)o->cfg.beta2;
    const float wd = (float)o->cfg.weight_decay, a = o->a, e = o->e;
    float *m = o->m + first, *v = o->v + first;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        if (wd != 0.0f)
            g += wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p[i] -= a * m[i] / (sqrtf(v[i]) + e);
    }
}

void optim_begin_step(Optimizer *o)
{
    o->t++;
    /* Adam: fold both bias corrections into the step size and epsilon,
     * lr * mhat / (sqrt(vhat) + eps) = a * m / (sqrt(v) + eps * sqrt(c2)) */
    double c1 = 1.0 - pow(o->cfg.beta1, (double)o->t);
    double c2 = 1.0 - pow(o->cfg.beta2, (double)o->t);
    o->a = (float)(o->cfg.lr * sqrt(c2) / c1);
    o->e = (float)(o->cfg.eps * sqrt(c2));
}

void optim_step_run(const Optimizer *o, float *params, const float *grads, size_t first, size_t n)
{
    if (o->cfg.kind == OPT_ADAM)
        optim_adam(o, params, grads, first, n);
    else
        optim_sgd(o, params, grads, first, n);
}

void optim_step(Optimizer *o, float *params, const float *grads)
{
    optim_begin_step(o);
    optim_step_run(o, params, grads, 0, o->count);
}

double optim_step_bytes(const Optimizer *o)
{
    double state = optim_state_per_param(&o->cfg);
    return sizeof(float) * (double)o->count * (2.0 + state + 1.0 + state);
}

double optim_step_flops(const Optimizer *o)
{
    double per = o->cfg.weight_decay != 0.0 ? 2.0 : 0.0; /* g += wd * p */
    if (o->cfg.kind == OPT_ADAM)
        /* m: 3 (two mul, one add; 1-b1 is a constant), v: 4 (g*g, two mul,
         * add), p: sqrt, add, div, mul, sub = 5 */
        per += 3.0 + 4.0 + 5.0;
    else
        per += (optim_state_per_param(&o->cfg) ? 2.0 : 0.0) + 2.0; /* v = mu v + g;  p -= lr g */
    return per * (double)o->count;
}
