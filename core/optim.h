/*
 * optim.h - optimizers over a flat slice of the parameter block.
 *
 * An Optimizer owns the state (momentum, Adam moments) for `count`
 * consecutive parameters, so a replica uses one over the whole block and a
 * parameter-server shard uses one over its own slice.  The update rules are
 * PyTorch's, so results can be compared with it:
 *   SGD:  g += weight_decay * p;  v = momentum * v + g;  p -= lr * v
 *         (no v when momentum is 0: p -= lr * g)
 *   Adam: g += weight_decay * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *         p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 */
#ifndef DT_OPTIM_H
#define DT_OPTIM_H

#include <stddef.h>

#include "error.h"

typedef enum { OPT_SGD, OPT_ADAM } OptKind;

typedef struct OptConfig {
    OptKind kind;
    double lr;
    double momentum; /* sgd */
    double weight_decay;
    double beta1, beta2; /* adam */
    double eps;          /* adam */
} OptConfig;

typedef struct Optimizer {
    OptConfig cfg;
    size_t count;
    long t;     /* steps taken */
    float a, e; /* Adam: step t's step size and epsilon, bias corrections folded in */
    float *m;   /* (count) momentum or Adam first moment; NULL for plain SGD */
    float *v;   /* (count) Adam second moment; NULL for SGD */
} Optimizer;

/* Floats of optimizer state per parameter: 2 for Adam (two moments), 1 for
 * SGD with momentum, 0 for plain SGD. */
int optim_state_per_param(const OptConfig *cfg);

int optim_init(Optimizer *o, const OptConfig *cfg, size_t count, DtError *err);
/* An optimizer over count floats that holds no state (m and v NULL): what
 * optim_step_flops and optim_step_bytes need, for cost mode. */
void optim_describe(Optimizer *o, const OptConfig *cfg, size_t count);
void optim_free(Optimizer *o);
/* Back to the state of a fresh optimizer (zero moments, no step taken). */
void optim_reset(Optimizer *o);
/* One update of params[0..count) from grads[0..count). */
void optim_step(Optimizer *o, float *params, const float *grads);
/* The same update in pieces, for parameters that do not lie in one run:
 * optim_begin_step, then optim_step_run for each run of n parameters,
 * which are state entries first .. first + n - 1, until all count have
 * been updated once.  The same floats as optim_step. */
void optim_begin_step(Optimizer *o);
void optim_step_run(const Optimizer *o, float *params, const float *grads, size_t first, size_t n);
/* Exact FLOPs of one optim_step (layer.h conventions; sqrt counts 1). */
double optim_step_flops(const Optimizer *o);
/* Bytes one optim_step reads and writes: parameters, gradient and state
 * read, parameters and state written. */
double optim_step_bytes(const Optimizer *o);

#endif
