/*
 * replica.h - one copy of the model on one simulated device.
 *
 * A Replica owns the parameter block, its gradient, the optimizer state and
 * the workspace for one rank, and runs training steps with the real kernels
 * while charging each layer's exact FLOPs on its Device.  Every strategy
 * that keeps whole replicas (serial, data-parallel) builds on it.
 */
#ifndef DT_REPLICA_H
#define DT_REPLICA_H

#include <stdint.h>

#include "device.h"
#include "model.h"
#include "optim.h"
#include "pool.h"

typedef struct Replica {
    const Model *m;
    int batch;     /* capacity in samples */
    float *params; /* (nparams) */
    float *grads;  /* (nparams) */
    Workspace ws;
    Optimizer opt;
    float *x;   /* (batch, sample size): the current batch, filled by the caller */
    uint8_t *y; /* (batch) */
    int cost;   /* compute = cost: no buffer at all (every pointer NULL); the
                 * steps charge what they would compute and compute nothing */
    /* The step's kernels, handed to the pool (see replica_settle). */
    PoolJob job;
    const Dataset *load_from; /* replica_load's samples, gathered on the pool: */
    int *load_idx;            /* (batch) their indices, copied */
    int load_count;           /* 0: none to gather */
    int job_batch;
    float job_scale;
    double job_loss;
    int apply_pending; /* replica_apply charged an update not yet applied */
    /* When set, called in the step's kernels right after the loss, before
     * backward, on a pool thread: it may change the gradient of the logits
     * (workspace_grad of the last layer) given the probabilities (ws.probs)
     * and the batch (x, y), touching nothing but the replica and what its
     * caller keeps unchanged while replica_compute_gradients runs (an
     * extra loss term: codistillation's). */
    void (*after_loss)(void *ctx, struct Replica *r, int batch, float scale);
    void *after_loss_ctx;
} Replica;

/* Parameters are initialised from seed, so replicas with one seed agree. */
int replica_init(Replica *r, const Model *m, const OptConfig *opt, int batch, uint64_t seed,
                 DtError *err);
/* A cost-mode replica: its sizes, nothing allocated (replica_free is
 * still fine). */
void replica_describe(Replica *r, const Model *m, const OptConfig *opt, int batch);
void replica_free(Replica *r);

/* Called after the backward pass of layer l has produced its gradients. */
typedef struct ReplicaHook {
    void (*after_backward)(void *ctx, int layer);
    void *ctx;
} ReplicaHook;

/* Copy samples idx[0..count) of d into r->x / r->y (the data loader, timed
 * with the kernels: it is training work, not simulation); nothing in cost
 * mode.  The indices are copied now, the samples with the next step's
 * kernels on the pool (or at replica_settle). */
void replica_load(Replica *r, Device *dev, const Dataset *d, const int *idx, int count);

/* Gather the samples replica_load chose on the pool now, while the rank
 * goes on (an all-reduce, say), rather than with the next step's kernels;
 * nothing when an update is pending or a job is running. */
void replica_prefetch(Replica *r);

/* Zero the gradient, then forward, loss and backward on the first `batch`
 * samples of r->x / r->y with loss scale `scale`, charging every layer on d
 * and calling hook (when not NULL) after each layer's backward.  Returns the
 * summed loss over the batch.  The kernels run on the pool (sim/pool.h)
 * while the charges advance simulated time; they have all run when this
 * returns.  The charges are deferred (device_defer) until the pass changes
 * or this returns: a hook that sends gradients first calls device_flush
 * and replica_settle. */
double replica_compute_gradients(Replica *r, Device *d, int batch, float scale,
                                 const ReplicaHook *hook);
/* One optimizer step from r->grads, charged on d now; its kernel runs
 * with the next replica_compute_gradients' kernels on the pool, or at
 * replica_settle, whichever comes first. */
void replica_apply(Replica *r, Device *d);
/* Finish every kernel the replica owes (the pool's job, a pending
 * update), adding the wall time spent to rec's kernel time: call it before
 * reading r->params or r->grads other than through the two functions
 * above. */
void replica_settle(Replica *r, Recorder *rec);

#endif
