/*
 * replica.c - a training step on one device: real kernels, charged FLOPs.
 */
#include "replica.h"

#include <stdlib.h>
#include <string.h>

int replica_init(Replica *r, const Model *m, const OptConfig *opt, int batch, uint64_t seed,
                 DtError *err)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->batch = batch;
    size_t sample = shape_size(m->input);
    r->params = malloc(m->nparams * sizeof(float));
    r->grads = malloc(m->nparams * sizeof(float));
    r->x = malloc((size_t)batch * sample * sizeof(float));
    r->y = malloc((size_t)batch * m->positions);
    r->load_idx = malloc((size_t)batch * sizeof *r->load_idx);
    if (!r->params || !r->grads || !r->x || !r->y || !r->load_idx) {
        replica_free(r);
        return dt_fail(err, DT_ERUNTIME, "out of memory for a replica of %zu parameters",
                       m->nparams);
    }
    if (workspace_init(&r->ws, m, batch, err) < 0 ||
        optim_init(&r->opt, opt, m->nparams, err) < 0) {
        replica_free(r);
        return -1;
    }
    model_init_params(m, r->params, seed);
    return 0;
}

void replica_describe(Replica *r, const Model *m, const OptConfig *opt, int batch)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->batch = batch;
    r->cost = 1;
    optim_describe(&r->opt, opt, m->nparams);
}

void replica_free(Replica *r)
{
    if (r->job.pending) /* a rank stopped mid-step */
        pool_wait(&r->job, NULL);
    free(r->params);
    free(r->grads);
    free(r->x);
    free(r->y);
    free(r->load_idx);
    workspace_free(&r->ws);
    optim_free(&r->opt);
    memset(r, 0, sizeof *r);
}

void replica_load(Replica *r, Device *dev, const Dataset *d, const int *idx, int count)
{
    (void)dev;
    if (r->cost)
        return;
    memcpy(r->load_idx, idx, (size_t)count * sizeof *idx);
    r->load_from = d;
    r->load_count = count;
}

/* What replica_load and replica_apply left to do: the samples, the
 * update.  On the pool, or at replica_settle. */
static void replica_catch_up(Replica *r)
{
    if (r->load_count) {
        dataset_gather(r->load_from, r->load_idx, r->load_count, r->x, r->y);
        r->load_count = 0;
    }
    if (r->apply_pending) {
        optim_step(&r->opt, r->params, r->grads);
        r->apply_pending = 0;
    }
}

/* The step's kernels (on the pool): the samples replica_load chose and
 * the update replica_apply charged, then forward, loss and backward. */
static void replica_step_job(void *arg)
{
    Replica *r = arg;
    const Model *m = r->m;
    const int batch = r->job_batch;
    replica_catch_up(r);
    memset(r->grads, 0, m->nparams * sizeof(float));
    for (int l = 0; l < m->nlayers; l++)
        model_forward_layer(m, &r->ws, r->params, r->x, l, batch);
    r->job_loss = model_loss(m, &r->ws, r->y, batch, r->job_scale);
    if (r->after_loss)
        r->after_loss(r->after_loss_ctx, r, batch, r->job_scale);
    for (int l = m->nlayers - 1; l >= 0; l--)
        model_backward_layer(m, &r->ws, r->params, r->grads, r->x, l, batch);
}

/* The samples alone (on the pool): replica_prefetch's job, which touches
 * nothing else (the actor may charge an update meanwhile). */
static void replica_load_job(void *arg)
{
    Replica *r = arg;
    dataset_gather(r->load_from, r->load_idx, r->load_count, r->x, r->y);
    r->load_count = 0;
}

void replica_prefetch(Replica *r)
{
    if (!r->cost && r->load_count && !r->apply_pending && !r->job.pending)
        pool_submit(&r->job, replica_load_job, r);
}

void replica_settle(Replica *r, Recorder *rec)
{
    if (r->job.pending)
        pool_wait(&r->job, &rec->kernel_wall);
    if (r->apply_pending || r->load_count) { /* an update after replica_prefetch's job */
        double t = record_clock();
        replica_catch_up(r);
        record_kernel(rec, t);
    }
}

double replica_compute_gradients(Replica *r, Device *d, int batch, float scale,
                                 const ReplicaHook *hook)
{
    const Model *m = r->m;
    if (!r->cost) {
        if (r->job.pending) /* replica_prefetch's samples, taken by now */
            pool_wait(&r->job, &d->rec->kernel_wall);
        r->job_batch = batch;
        r->job_scale = scale;
        pool_submit(&r->job, replica_step_job, r);
    }
    /* The layers of each pass charged as one execution (and one span): the
     * same simulated seconds as one a layer, for a tenth of SimGrid's work.
     * A hook that lets gradients out flushes the charge first. */
    const int deferred = d->defer;
    device_defer(d, 1);
    for (int l = 0; l < m->nlayers; l++)
        device_layer_charge(d, model_layer_forward_flops(m, l, batch),
                            model_layer_forward_bytes(m, l, batch), "forward");
    device_layer_charge(d, model_loss_flops(m, batch), model_loss_bytes(m, batch), "loss");
    for (int l = m->nlayers - 1; l >= 0; l--) {
        device_layer_charge(d, model_layer_backward_flops(m, l, batch),
                            model_layer_backward_bytes(m, l, batch), "backward");
        if (hook)
            hook->after_backward(hook->ctx, l);
    }
    device_defer(d, deferred);
    replica_settle(r, d->rec);
    return r->cost ? 0.0 : r->job_loss;
}

void replica_apply(Replica *r, Device *d)
{
    if (!r->cost)
        r->apply_pending = 1;
    device_compute(d, optim_step_flops(&r->opt), optim_step_bytes(&r->opt), "update");
}
