/*
 * local_sgd.c - strategy "local-sgd": periodic model averaging.
 *
 * Every worker holds a replica and trains on its own slice of each global
 * batch, as in data-parallel, but applies its own gradient (the mean over
 * its own samples) at once and talks to the others only every
 * `local_steps` = H steps, when the replicas' parameters are averaged with
 * an all-reduce (`allreduce`: ring, rhd, tree or ps) and a division by the
 * worker count (Stich 2019, "Local SGD converges fast and communicates
 * little").  It sends 1/H of data-parallel's bytes; with H = 1 and plain
 * SGD it is data-parallel, up to the order of float additions.  Optimizer
 * state (momentum, Adam moments) stays local.  With `warmup_steps` = w the
 * first w steps are synchronous data-parallel (post-local SGD, Lin et al.
 * 2020).  The last step always averages, so that the run ends with one
 * model; an evaluation between averagings sees worker 0's own replica.
 */
#include <cJSON.h>
#include <simgrid/actor.h>
#include <stdlib.h>

#include "gradsync.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"

typedef struct LocalSgdConfig {
    int local_steps;
    int warmup_steps;
    GradSyncConfig sync; /* its allreduce only */
} LocalSgdConfig;

static const KeyDef local_sgd_keys[] = {
    KEYDEF_INT(LocalSgdConfig, "local_steps", local_steps, 1, 1 << 20, "4",
               "H: optimizer steps each worker takes on its own between averagings"),
    KEYDEF_INT(LocalSgdConfig, "warmup_steps", warmup_steps, 0, 1e9, "0",
               "steps of synchronous data-parallel before local SGD starts"),
    KEYDEF_TEXT(LocalSgdConfig, "allreduce", KEY_STRING, sync.allreduce, "ring",
                "all-reduce algorithm of the averaging: ring, rhd (power-of-two workers), tree "
                "or ps"),
};

typedef struct LocalShared {
    CommWorld world;
    Sampler sampler; /* one for all workers: they agree on every global batch */
    long averagings; /* parameter averagings so far (worker 0 counts) */
} LocalShared;

typedef struct LocalWorker {
    Run *run;
    LocalShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
    GradSync sync; /* the all-reduces: gradients in warm-up, then parameters */
} LocalWorker;

static int local_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const LocalSgdConfig *c = sc->strategy_config;
    return gradsync_check(&c->sync, sc->workers, given, err);
}

/* The average of the replicas' parameters, in every replica. */
static void local_average(LocalWorker *w)
{
    Replica *r = &w->replica;
    const size_t n = w->run->model.nparams;
    replica_settle(r, &w->run->rec);
    w->sync.algo->run(&w->sync.group, r->params, n, 0);
    double t = record_clock();
    const float inv = 1.0f / (float)w->run->nranks;
    for (size_t i = 0; !r->cost && i < n; i++)
        r->params[i] *= inv;
    device_kernel(&w->dev, t, (double)n, 2.0 * sizeof(float) * (double)n, "average");
    if (w->rank == 0)
        w->sh->averagings++;
}

static void local_worker_free(void *state)
{
    LocalWorker *w = state;
    gradsync_free(&w->sync);
    replica_free(&w->replica);
    free(w);
}

static void local_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    LocalWorker *w = sg_actor_self_get_data();
    Run *run = w->run;
    const LocalSgdConfig *c = run->sc->strategy_config;
    Replica *r = &w->replica;
    const int b = run->sc->batch;
    for (long step = 1; step <= run->total_steps; step++) {
        const int warm = step <= c->warmup_steps;
        const int *batch = sampler_batch(&w->sh->sampler, step - 1);
        replica_load(r, &w->dev, &run->train, batch + (size_t)w->rank * b, b);
        /* warm-up: a share of the global mean, summed; then its own mean */
        float scale = 1.0f / (float)(warm ? run->global_batch : b);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, b, scale, NULL), b);
        if (warm)
            gradsync_finish(&w->sync);
        replica_apply(r, &w->dev);
        if (!warm && ((step - c->warmup_steps) % c->local_steps == 0 || step == run->total_steps))
            local_average(w);
        if (w->rank == 0 && run_eval_due(run, step))
            run_evaluate(run, r, step);
        if (w->rank == 0)
            run_progress(run, step);
    }
    replica_settle(r, &run->rec);
    if (w->rank == 0)
        run_keep_params(run, r->params);
    local_worker_free(w);
}

static int local_worker_describe(void *state, Run *run, int rank, DtError *err)
{
    LocalWorker *w = state;
    *w = (LocalWorker){.run = run, .sh = run->state, .rank = rank};
    w->comm = (Comm){.world = &w->sh->world, .rank = rank, .channel = 0};
    record_role(&run->rec, rank, "worker", run->sc->batch);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, run->sc->batch);
    return device_init(&w->dev, run, rank, &need, err);
}

static int local_worker_alloc(void *state, DtError *err)
{
    LocalWorker *w = state;
    const Run *run = w->run;
    const Scenario *sc = run->sc;
    const LocalSgdConfig *c = sc->strategy_config;
    if (run_replica_init(run, &w->replica, sc->batch, err) < 0)
        return -1;
    /* overlap off (no key sets it): one all-reduce of the whole gradient */
    Group group = {.comm = &w->comm, .size = run->nranks, .index = w->rank};
    gradsync_init(&w->sync, &c->sync, &group, w->replica.grads, run->model.nparams, NULL,
                  run->total_steps);
    return 0;
}

static const RankKind local_worker = {
    "rank",
    sizeof(LocalWorker),
    local_worker_describe,
    local_worker_alloc,
    local_worker_free,
    local_worker_main,
};

static int local_start(Run *run, DtError *err)
{
    LocalShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0 ||
        sampler_init(&sh->sampler, run->train.n, run->global_batch, run->sc->seed, err) < 0)
        return -1;
    return run_spawn_all(run, &local_worker, err);
}

static void local_results(const Run *run, cJSON *root)
{
    const LocalSgdConfig *c = run->sc->strategy_config;
    const LocalShared *sh = run->state;
    cJSON *o = cJSON_AddObjectToObject(root, "local_sgd");
    cJSON_AddNumberToObject(o, "local_steps", c->local_steps);
    cJSON_AddNumberToObject(o, "warmup_steps", c->warmup_steps);
    cJSON_AddNumberToObject(o, "averagings", (double)sh->averagings);
    record_measure(root, "averagings", (double)sh->averagings);
}

static void local_stop(Run *run)
{
    LocalShared *sh = run->state;
    if (!sh)
        return;
    sampler_free(&sh->sampler);
    comm_world_free(&sh->world);
    free(sh);
    run->state = NULL;
}

const StrategyOps local_sgd_strategy = {
    .name = "local-sgd",
    .summary = "replicas take local_steps SGD steps on their own data, then average their "
               "parameters with an all-reduce",
    .keys = {"strategy", local_sgd_keys, sizeof local_sgd_keys / sizeof local_sgd_keys[0]},
    .config_size = sizeof(LocalSgdConfig),
    .check = local_check,
    .global_batch = strategy_workers_batch,
    .ranks = strategy_workers,
    .start = local_start,
    .results = local_results,
    .stop = local_stop,
};
