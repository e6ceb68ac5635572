/*
 * data_parallel.c - strategy "data-parallel": synchronous data parallelism.
 *
 * Every worker holds a full replica and trains on its own slice of each
 * global batch (worker r takes samples [r*b, (r+1)*b) of the batch all
 * samplers agree on).  Gradients are scaled by 1/(global batch) and summed
 * with an all-reduce, so every replica applies the gradient of the mean loss
 * over the global batch: after k steps the parameters are those of serial
 * SGD with batch N*b, up to the order of float additions.
 *
 * With balance = speed worker r takes b_r samples instead of b, in proportion
 * to its host's speed (the same N*b in all, so the same maths): on a
 * platform of unequal devices, fast and slow workers finish their backward
 * passes together instead of the fast ones idling at the all-reduce.
 *
 * With overlap = off the all-reduce of the whole gradient follows the
 * backward pass.  With overlap = on the gradient is cut into buckets of
 * about bucket_mb at layer boundaries, in backward order (as PyTorch DDP
 * does); each worker has a second actor, its communication stream, that
 * all-reduces a bucket as soon as backward has produced it, so
 * communication hides behind the rest of backward.  The two actors of a
 * worker hand buckets over with two semaphores.
 */
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "collective.h"
#include "run.h"
#include "sampler.h"

/* What every worker shares; read-only during the simulation. */
typedef struct DpShared {
    Run *run;
    CommWorld world;
    const CollectiveOps *allreduce;
    Sampler sampler; /* one for all workers: they agree on every global batch */
    int nbuckets;
    size_t bucket_begin[MODEL_MAX_LAYERS]; /* first parameter of bucket k */
    size_t bucket_end[MODEL_MAX_LAYERS];   /* one past its last */
    int closes[MODEL_MAX_LAYERS];          /* bucket that layer l's backward completes, or -1 */
    int live;                              /* workers still running: the last frees this */
    int *share;                            /* (N) samples of each global batch worker r takes */
    int *offset;                           /* (N) where its samples start in the global batch */
    double *done_at; /* (2, N) when each worker's backward ended, steps of each parity */
} DpShared;

typedef struct DpWorker {
    DpShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
    sg_sem_t ready;    /* buckets whose gradients are complete */
    sg_sem_t done;     /* buckets all-reduced */
    sg_actor_t stream; /* the communication stream (overlap = on) */
} DpWorker;

static int dp_check(const Scenario *sc, DtError *err)
{
    const CollectiveOps *ops = collective_find(COLL_ALLREDUCE, sc->allreduce);
    if (!ops) {
        char names[128];
        collective_algos(COLL_ALLREDUCE, names, sizeof names);
        return dt_fail(err, DT_EINPUT, "[strategy] allreduce = %s is unknown; choose one of: %s",
                       sc->allreduce, names);
    }
    char why[256];
    if (ops->check(sc->workers, why, sizeof why) < 0)
        return dt_fail(err, DT_EINPUT, "[strategy] allreduce = %s with workers = %d: %s",
                       sc->allreduce, sc->workers, why);
    return 0;
}

static int dp_global_batch(const Scenario *sc)
{
    return sc->batch * sc->workers;
}

static int dp_ranks(const Scenario *sc)
{
    return sc->workers;
}

/* Cut the parameter block into buckets at layer boundaries, in backward
 * order: a bucket closes at the first layer that brings it to bucket_mb. */
static void dp_plan_buckets(DpShared *sh, const Model *m, int overlap, double bucket_mb)
{
    size_t limit = overlap ? (size_t)(bucket_mb * 1e6 / sizeof(float)) : m->nparams;
    if (limit < 1)
        limit = 1;
    size_t end = m->nparams, size = 0;
    sh->nbuckets = 0;
    for (int l = m->nlayers - 1; l >= 0; l--) {
        sh->closes[l] = -1;
        size += m->layers[l].param_count;
        if (size > 0 && (size >= limit || l == m->first_trainable)) {
            int k = sh->nbuckets++;
            sh->bucket_begin[k] = m->layers[l].param_offset;
            sh->bucket_end[k] = end;
            sh->closes[l] = k;
            end = sh->bucket_begin[k];
            size = 0;
        }
    }
}

static void dp_allreduce(DpWorker *w, size_t begin, size_t end)
{
    Group g = {.comm = &w->comm, .size = w->sh->world.size, .index = w->rank};
    w->sh->allreduce->run(&g, w->replica.grads + begin, end - begin, 0);
}

/* The communication stream of a worker: all-reduce buckets in order. */
static void dp_stream_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    DpWorker *w = sg_actor_self_get_data();
    const long steps = w->sh->run->total_steps;
    const int nbuckets = w->sh->nbuckets;
    for (long step = 0; step < steps; step++) {
        for (int k = 0; k < nbuckets; k++) {
            sg_sem_acquire(w->ready);
            dp_allreduce(w, w->sh->bucket_begin[k], w->sh->bucket_end[k]);
            sg_sem_release(w->done);
        }
    }
}

static void dp_after_backward(void *ctx, int layer)
{
    DpWorker *w = ctx;
    if (w->sh->closes[layer] >= 0)
        sg_sem_release(w->ready);
}

static void dp_shared_free(DpShared *sh)
{
    sampler_free(&sh->sampler);
    comm_world_free(&sh->world);
    free(sh->share);
    free(sh->offset);
    free(sh->done_at);
    free(sh);
}

static void dp_worker_free(DpWorker *w)
{
    replica_free(&w->replica);
    if (w->ready) {
        sg_sem_destroy(w->ready);
        sg_sem_destroy(w->done);
    }
    if (--w->sh->live == 0)
        dp_shared_free(w->sh);
    free(w);
}

static void dp_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    DpWorker *w = sg_actor_self_get_data();
    Run *run = w->sh->run;
    Replica *r = &w->replica;
    const int b = w->sh->share[w->rank];
    const float scale = 1.0f / (float)run->global_batch;
    const int overlap = run->sc->overlap;
    ReplicaHook hook = {dp_after_backward, w};
    for (long step = 1; step <= run->total_steps; step++) {
        /* a worker reads step's batch before it can finish the step, and
         * none can start step + 1 before all have finished step: sharing
         * one sampler is safe */
        const int *batch = sampler_batch(&w->sh->sampler, step - 1);
        replica_load(r, &w->dev, &run->train, batch + w->sh->offset[w->rank], b);
        double loss = replica_compute_gradients(r, &w->dev, b, scale, overlap ? &hook : NULL);
        run_add_loss(run, loss, b);
        double *done_at = w->sh->done_at + (step % 2) * (size_t)w->sh->world.size;
        done_at[w->rank] = simgrid_get_clock();
        if (overlap) {
            for (int k = 0; k < w->sh->nbuckets; k++)
                sg_sem_acquire(w->done);
        } else {
            dp_allreduce(w, 0, run->model.nparams);
        }
        /* Every worker's gradient is in the sum now, so every done_at of
         * this step is set (and none of the next-but-one can be yet): the
         * time this worker waited for the slowest one. */
        double last = done_at[w->rank];
        for (int i = 0; i < w->sh->world.size; i++)
            last = done_at[i] > last ? done_at[i] : last;
        run->rec.ranks[w->rank].wait_seconds += last - done_at[w->rank];
        replica_apply(r, &w->dev);
        if (w->rank == 0 && run_eval_due(run, step))
            run_evaluate(run, r, step);
        if (w->rank == 0)
            run_progress(run, step);
    }
    if (w->rank == 0)
        run_keep_params(run, r->params);
    if (w->stream) {
        sg_actor_join(w->stream, -1);
        sg_actor_unref(w->stream);
    }
    dp_worker_free(w);
}

/* Split the global batch G = N*b: equally, or (balance = speed) one sample
 * each and the rest in proportion to host speed, largest remainders
 * first (ties to the lower rank). */
static void dp_plan_shares(DpShared *sh, const Run *run)
{
    const int N = run->nranks, G = run->global_batch;
    double total = 0.0;
    for (int r = 0; r < N; r++)
        total += sg_host_get_pstate_speed(run->rank_host[r], sg_host_get_pstate(run->rank_host[r]));
    int given = 0;
    double *rest = calloc((size_t)N, sizeof *rest);
    for (int r = 0; r < N; r++) {
        if (run->sc->balance == BALANCE_EQUAL || !rest) {
            sh->share[r] = G / N;
        } else {
            double exact =
                (double)(G - N) *
                sg_host_get_pstate_speed(run->rank_host[r], sg_host_get_pstate(run->rank_host[r])) /
                total;
            sh->share[r] = 1 + (int)exact;
            rest[r] = exact - (int)exact;
        }
        given += sh->share[r];
    }
    for (; given < G && rest; given++) {
        int best = 0;
        for (int r = 1; r < N; r++)
            if (rest[r] > rest[best])
                best = r;
        sh->share[best]++;
        rest[best] = -1.0;
    }
    free(rest);
    for (int r = 0, at = 0; r < N; at += sh->share[r++])
        sh->offset[r] = at;
}

static int dp_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    DpShared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->run = run;
    sh->allreduce = collective_find(COLL_ALLREDUCE, sc->allreduce);
    sh->share = malloc((size_t)run->nranks * sizeof *sh->share);
    sh->offset = malloc((size_t)run->nranks * sizeof *sh->offset);
    /* Everything a worker needs is allocated here, before the simulation
     * starts, so that no worker can fail half-way and leave the others
     * waiting in a collective. */
    sh->done_at = calloc(2 * (size_t)run->nranks, sizeof *sh->done_at);
    DpWorker **workers = calloc((size_t)run->nranks, sizeof *workers);
    if (!sh->share || !sh->offset || !sh->done_at || !workers) {
        free(workers);
        dp_shared_free(sh);
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    }
    if (comm_world_init(&sh->world, run->nranks, &run->rec, sizeof(float), err) < 0 ||
        sampler_init(&sh->sampler, run->train.n, run->global_batch, sc->seed, err) < 0) {
        free(workers);
        dp_shared_free(sh);
        return -1;
    }
    dp_plan_shares(sh, run);
    dp_plan_buckets(sh, &run->model, sc->overlap, sc->bucket_mb);
    int rc = 0;
    for (int i = 0; i < run->nranks && rc == 0; i++) {
        DpWorker *w = workers[i] = calloc(1, sizeof *w);
        if (!w) {
            rc = dt_fail(err, DT_ERUNTIME, "out of memory for worker %d", i);
            break;
        }
        w->sh = sh;
        w->rank = i;
        w->comm = (Comm){.world = &sh->world, .rank = i, .channel = 0};
        sh->live++;
        DeviceMemoryNeed need = replica_memory_need(&run->model, &sc->opt, sh->share[i]);
        if (device_init(&w->dev, run, i, err) < 0 || device_check_memory(&w->dev, &need, err) < 0) {
            rc = -1;
            break;
        }
        if (replica_init(&w->replica, &run->model, &sc->opt, sh->share[i], sc->seed, err) < 0)
            rc = -1;
    }
    if (rc < 0) {
        for (int i = 0; i < run->nranks; i++)
            if (workers[i])
                dp_worker_free(workers[i]);
        free(workers);
        return -1;
    }
    for (int i = 0; i < run->nranks; i++) {
        DpWorker *w = workers[i];
        char name[32];
        if (sc->overlap) {
            w->ready = sg_sem_init(0);
            w->done = sg_sem_init(0);
            snprintf(name, sizeof name, "rank-%d-stream", i);
            w->stream = sg_actor_init(name, run->rank_host[i]);
            sg_actor_ref(w->stream);
            sg_actor_set_data(w->stream, w);
        }
        snprintf(name, sizeof name, "rank-%d", i);
        sg_actor_t actor = sg_actor_init(name, run->rank_host[i]);
        sg_actor_set_data(actor, w);
        sg_actor_start(actor, dp_worker_main, 0, NULL);
        if (w->stream)
            sg_actor_start(w->stream, dp_stream_main, 0, NULL);
    }
    free(workers);
    return 0;
}

const StrategyOps data_parallel_strategy = {
    .name = "data-parallel",
    .summary = "replicas on every worker; gradients summed by all-reduce (ring, rhd, tree, ps), "
               "optionally overlapped with backward",
    .check = dp_check,
    .global_batch = dp_global_batch,
    .ranks = dp_ranks,
    .start = dp_start,
};
