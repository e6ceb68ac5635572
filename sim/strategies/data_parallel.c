/*
 * data_parallel.c - strategy "data-parallel": synchronous data parallelism.
 *
 * Every worker holds a full replica and trains on its own slice of each
 * global batch (worker r takes samples [r*b, (r+1)*b) of the batch all
 * samplers agree on).  Gradients are scaled by 1/(global batch) and summed
 * with an all-reduce (sim/gradsync.h: ring, rhd, tree, ps, or hierarchical
 * on several nodes, whole after backward or in buckets overlapped with
 * it), so every replica applies the gradient of the mean loss over the
 * global batch: after k steps the parameters are those of serial SGD with
 * batch N*b, up to the order of float additions.
 *
 * With balance = speed worker r takes b_r samples instead of b, in proportion
 * to its host's speed (the same N*b in all, so the same maths): on a
 * platform of unequal devices, fast and slow workers finish their backward
 * passes together instead of the fast ones idling at the all-reduce.
 */
#include <cJSON.h>
#include <simgrid/actor.h>
#include <simgrid/host.h>
#include <stdlib.h>
#include <string.h>

#include "gradsync.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"

typedef struct DpConfig {
    GradSyncConfig sync;
    int balance; /* 0 equal, 1 speed */
} DpConfig;

static const char *const balances[] = {"equal", "speed", NULL};

static const KeyDef dp_keys[] = {
    GRADSYNC_KEYS(DpConfig, sync, "on"),
    COMPRESS_KEYS(DpConfig, sync.compress),
    KEYDEF_ENUM(DpConfig, "balance", balance, balances, "equal",
                "split each global batch equally, or in proportion to host speed"),
};

/* What every worker shares; read-only during the simulation. */
typedef struct DpShared {
    CommWorld world;
    Sampler sampler; /* one for all workers: they agree on every global batch */
    BucketPlan buckets;
    int *share;                   /* (N) samples of each global batch worker r takes */
    int *offset;                  /* (N) where its samples start in the global batch */
    int local;                    /* workers per node, for a hierarchical all-reduce; else 0 */
    double raw_bytes, sent_bytes; /* compression: the gradients' bytes, and the messages' */
    ModelMatrix *mats;            /* compress = powersgd: the model's matrices */
    int nmats;
} DpShared;

typedef struct DpWorker {
    Run *run;
    DpShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
    GradSync sync;
} DpWorker;

static int dp_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const DpConfig *c = sc->strategy_config;
    if (compress_check(&c->sync.compress, given, err) < 0)
        return -1;
    return gradsync_check_with_nodes(&c->sync, sc->workers, given, err);
}

/* A hierarchical all-reduce needs each worker's node: a group of 1 has
 * placement find the nodes without moving any rank.  Other algorithms do
 * not, and the nodes cost a route query per pair of hosts. */
static int dp_group(const Scenario *sc)
{
    const DpConfig *c = sc->strategy_config;
    return gradsync_needs_nodes(&c->sync) ? 1 : 0;
}

static void dp_after_backward(void *ctx, int layer)
{
    DpWorker *w = ctx;
    if (!gradsync_closes(&w->sync, layer))
        return;
    /* a bucket is complete: it leaves when its layers' backward has been
     * charged, with the gradients the kernels computed */
    device_flush(&w->dev);
    replica_settle(&w->replica, &w->run->rec);
    gradsync_layer_done(&w->sync, layer);
}

static void dp_worker_free(void *state)
{
    DpWorker *w = state;
    if (w->sh) {
        w->sh->raw_bytes += w->sync.comp.raw_bytes;
        w->sh->sent_bytes += w->sync.comp.sent_bytes;
    }
    gradsync_free(&w->sync);
    replica_free(&w->replica);
    free(w);
}

/* A worker killed by a failure (recovery.h): its kernels finish, then it
 * goes. */
static void dp_worker_killed(void *state)
{
    DpWorker *w = state;
    replica_settle(&w->replica, &w->run->rec);
    dp_worker_free(w);
}

/* The worker's share of step's batch, into its replica. */
static void dp_load(DpWorker *w, long step)
{
    const int *batch = sampler_batch(&w->sh->sampler, step - 1);
    replica_load(&w->replica, &w->dev, &w->run->train, batch + w->sh->offset[w->rank],
                 w->sh->share[w->rank]);
}

static void dp_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    DpWorker *w = sg_actor_self_get_data();
    Run *run = w->run;
    Replica *r = &w->replica;
    const int b = w->sh->share[w->rank];
    const float scale = 1.0f / (float)run->global_batch;
    ReplicaHook hook = {dp_after_backward, w};
    char name[32];
    snprintf(name, sizeof name, "rank-%d-stream", w->rank);
    gradsync_start(&w->sync, w->dev.host, name);
    recovery_enter(run, w->rank, w, dp_worker_killed);
    long first = recovery_resume_step(run) + 1;
    for (long step = first; step <= run->total_steps; step++) {
        /* a worker copies the indices of a batch as soon as it asks for
         * them (replica_load), and SimGrid runs one actor at a time:
         * sharing one sampler is safe, even when one worker asks for the
         * next epoch's batch while another asks for this one's */
        if (step == first)
            dp_load(w, step);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, b, scale, &hook), b);
        if (step < run->total_steps) { /* the next batch, gathered during the all-reduce */
            dp_load(w, step + 1);
            replica_prefetch(r);
        }
        gradsync_finish(&w->sync);
        replica_apply(r, &w->dev);
        if (w->rank == 0 && run_eval_due(run, step))
            run_evaluate(run, r, step);
        if (w->rank == 0)
            run_progress(run, step);
        recovery_step_done(run, w->rank, &w->comm, r, step);
    }
    replica_settle(r, &run->rec);
    if (w->rank == 0)
        run_keep_params(run, r->params);
    gradsync_join(&w->sync); /* nothing blocks once the rank has left */
    recovery_leave(run, w->rank);
    dp_worker_free(w);
}

static int dp_worker_describe(void *state, Run *run, int rank, DtError *err)
{
    DpWorker *w = state;
    DpShared *sh = run->state;
    *w = (DpWorker){.run = run, .sh = sh, .rank = rank};
    w->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    record_role(&run->rec, rank, "worker", sh->share[rank]);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, sh->share[rank]);
    return device_init(&w->dev, run, rank, &need, err);
}

static int dp_worker_alloc(void *state, DtError *err)
{
    DpWorker *w = state;
    const Run *run = w->run;
    const Scenario *sc = run->sc;
    const DpConfig *c = sc->strategy_config;
    if (run_replica_init(run, &w->replica, w->sh->share[w->rank], err) < 0)
        return -1;
    recovery_restore(run, &w->replica);
    Group group = {.comm = &w->comm, .size = run->nranks, .index = w->rank, .local = w->sh->local};
    gradsync_init(&w->sync, &c->sync, &group, w->replica.grads, run->model.nparams, &w->sh->buckets,
                  run->total_steps - recovery_resume_step(run));
    return gradsync_compress_init(&w->sync, &w->dev, sc->seed, w->sh->mats, w->sh->nmats,
                                  recovery_resume_step(run), err);
}

static const RankKind dp_worker = {
    "rank", sizeof(DpWorker), dp_worker_describe, dp_worker_alloc, dp_worker_free, dp_worker_main,
};

static void dp_stop(Run *run)
{
    DpShared *sh = run->state;
    if (!sh)
        return;
    run->kept[0] += sh->raw_bytes;
    run->kept[1] += sh->sent_bytes;
    sampler_free(&sh->sampler);
    comm_world_free(&sh->world);
    free(sh->share);
    free(sh->offset);
    free(sh->mats);
    free(sh);
    run->state = NULL;
}

/* The shares of the global batch: equal, or by host speed. */
static int dp_plan_shares(DpShared *sh, const Run *run, int by_speed)
{
    double *speed = NULL;
    if (by_speed) {
        if (!(speed = malloc((size_t)run->nranks * sizeof *speed)))
            return -1;
        for (int r = 0; r < run->nranks; r++)
            speed[r] = sg_host_get_pstate_speed(run->place.host[r],
                                                sg_host_get_pstate(run->place.host[r]));
    }
    int rc = plan_shares(run->global_batch, run->nranks, speed, sh->share, sh->offset);
    free(speed);
    return rc;
}

static int dp_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    const DpConfig *c = sc->strategy_config;
    const Model *m = &run->model;
    int local;
    if ((sc->checkpoint_every > 0 || sc->faults.elastic) && compress_stateful(&c->sync.compress))
        return dt_fail(
            err, DT_EINPUT,
            "%s: [strategy] compress = %s keeps state in every worker (%s), which a "
            "checkpoint (or an elastic restart) does not hold yet: %sor give no "
            "[train] checkpoint_every and no [faults] elastic",
            sc->path, compress_kinds[c->sync.compress.kind],
            c->sync.compress.kind == COMPRESS_POWERSGD ? "its factors Q, kept from step to step"
                                                       : "a residual: error_feedback = on",
            c->sync.compress.kind == COMPRESS_POWERSGD ? "" : "set error_feedback = off, ");
    if (gradsync_local(&c->sync, run->place.node, run->nranks, &local, err) < 0)
        return -1;
    DpShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->local = local;
    if (c->sync.compress.kind == COMPRESS_POWERSGD) {
        if (!(sh->mats = malloc(MODEL_MAX_MATRICES * sizeof *sh->mats)))
            return dt_fail(err, DT_ERUNTIME, "out of memory");
        sh->nmats = model_matrices(m, sh->mats);
    }
    sh->share = malloc((size_t)run->nranks * sizeof *sh->share);
    sh->offset = malloc((size_t)run->nranks * sizeof *sh->offset);
    if (!sh->share || !sh->offset || dp_plan_shares(sh, run, c->balance) < 0)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0 ||
        sampler_init(&sh->sampler, run->train.n, run->global_batch, sc->seed, err) < 0)
        return -1;
    size_t offset[MODEL_MAX_LAYERS], count[MODEL_MAX_LAYERS];
    for (int l = 0; l < m->nlayers; l++) {
        offset[l] = m->layers[l].param_offset;
        count[l] = m->layers[l].param_count;
    }
    gradsync_plan(&sh->buckets, &c->sync, offset, count, 0, m->nlayers);
    return run_spawn_all(run, &dp_worker, err);
}

/* Compression's figures, when it is on. */
static void dp_results(const Run *run, cJSON *root)
{
    const DpConfig *c = run->sc->strategy_config;
    const DpShared *sh = run->state;
    const CompressConfig *k = &c->sync.compress;
    if (k->kind == COMPRESS_NONE)
        return;
    /* the launches before a failure's restart, then the last one's (none
     * when a failure stopped the run) */
    compress_summary(k, root, run->kept[0] + (sh ? sh->raw_bytes : 0.0),
                     run->kept[1] + (sh ? sh->sent_bytes : 0.0));
}

const StrategyOps data_parallel_strategy = {
    .name = "data-parallel",
    .summary = "replicas on every worker; gradients summed by all-reduce (ring, rhd, tree, ps, "
               "hierarchical), optionally overlapped with backward",
    .keys = {"strategy", dp_keys, sizeof dp_keys / sizeof dp_keys[0]},
    .config_size = sizeof(DpConfig),
    .restartable = 1,
    .elastic = 1,
    .check = dp_check,
    .global_batch = strategy_workers_batch,
    .ranks = strategy_workers,
    .group = dp_group,
    .start = dp_start,
    .results = dp_results,
    .stop = dp_stop,
};
