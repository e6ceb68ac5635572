/*
 * parameter_server.c - strategy "parameter-server", synchronous.
 *
 * Ranks 0 .. workers-1 are workers, the next `servers` ranks are servers on
 * hosts of their own.  Server s owns a contiguous slice of the parameter
 * block (collective_block) and the optimizer state for it.  Each step every
 * worker computes its gradient on its slice of the global batch (scaled by
 * 1/global batch), pushes each server its slice of the gradient, and pulls
 * the updated slices back.  A server waits for all workers, adds their
 * gradients in worker order, applies the optimizer, and sends the new slice
 * to every worker.  So the update is serial SGD's on the global batch, and
 * the servers' links carry all the traffic: the bottleneck a ring
 * all-reduce avoids.  As in the collectives' closed forms, the additions on
 * the server cost no simulated time; the optimizer update does.
 */
#include <simgrid/actor.h>
#include <stdlib.h>
#include <string.h>

#include "collective.h"
#include "run.h"
#include "sampler.h"

typedef struct PsShared {
    Run *run;
    CommWorld world;
    int workers, servers;
    Sampler sampler; /* one for all workers: they agree on every global batch */
    int live;        /* actors still running: the last frees this */
} PsShared;

typedef struct PsWorker {
    PsShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
} PsWorker;

typedef struct PsServer {
    PsShared *sh;
    int rank, index;
    size_t begin, count; /* the slice of the parameter block it owns */
    Device dev;
    Comm comm;
    Optimizer opt;
    float *params;   /* (count) */
    float *sum;      /* (count) gradient summed over workers */
    float *incoming; /* (workers, count) one gradient slice per worker */
} PsServer;

static int ps_check(const Scenario *sc, DtError *err)
{
    (void)sc;
    (void)err;
    return 0;
}

static int ps_global_batch(const Scenario *sc)
{
    return sc->batch * sc->workers;
}

static int ps_ranks(const Scenario *sc)
{
    return sc->workers + sc->servers;
}

static void ps_release(PsShared *sh)
{
    if (--sh->live == 0) {
        sampler_free(&sh->sampler);
        comm_world_free(&sh->world);
        free(sh);
    }
}

static void ps_worker_free(PsWorker *w)
{
    replica_free(&w->replica);
    ps_release(w->sh);
    free(w);
}

static void ps_server_free(PsServer *s)
{
    optim_free(&s->opt);
    free(s->params);
    free(s->sum);
    free(s->incoming);
    ps_release(s->sh);
    free(s);
}

static void ps_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PsWorker *w = sg_actor_self_get_data();
    PsShared *sh = w->sh;
    Run *run = sh->run;
    Replica *r = &w->replica;
    const int b = run->sc->batch, S = sh->servers;
    const float scale = 1.0f / (float)run->global_batch;
    CommRequest **reqs = malloc(2 * (size_t)S * sizeof *reqs);
    for (long step = 1; step <= run->total_steps; step++) {
        /* no worker starts step + 1 before every worker has pushed step's
         * gradient, so all have read step's batch: one sampler is enough */
        const int *batch = sampler_batch(&sh->sampler, step - 1);
        replica_load(r, &w->dev, &run->train, batch + (size_t)w->rank * b, b);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, b, scale, NULL), b);
        for (int s = 0; s < S; s++) {
            size_t off, len;
            collective_block(run->model.nparams, S, s, &off, &len);
            reqs[s] = comm_isend(&w->comm, sh->workers + s, r->grads + off, len);
            reqs[S + s] = comm_irecv(&w->comm, sh->workers + s, r->params + off, len);
        }
        comm_waitall(&w->comm, reqs, 2 * S);
        if (w->rank == 0 && run_eval_due(run, step))
            run_evaluate(run, r, step);
        if (w->rank == 0)
            run_progress(run, step);
    }
    free(reqs);
    if (w->rank == 0)
        run_keep_params(run, r->params);
    ps_worker_free(w);
}

static void ps_server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PsServer *s = sg_actor_self_get_data();
    PsShared *sh = s->sh;
    const int N = sh->workers;
    CommRequest **reqs = malloc((size_t)N * sizeof *reqs);
    for (long step = 1; step <= sh->run->total_steps; step++) {
        for (int i = 0; i < N; i++)
            reqs[i] = comm_irecv(&s->comm, i, s->incoming + (size_t)i * s->count, s->count);
        comm_waitall(&s->comm, reqs, N);
        /* add in worker order, whatever order the pushes arrived in */
        memcpy(s->sum, s->incoming, s->count * sizeof(float));
        for (int i = 1; i < N; i++) {
            const float *g = s->incoming + (size_t)i * s->count;
            for (size_t j = 0; j < s->count; j++)
                s->sum[j] += g[j];
        }
        optim_step(&s->opt, s->params, s->sum);
        device_compute(&s->dev, optim_step_flops(&s->opt), optim_step_bytes(&s->opt), "update");
        for (int i = 0; i < N; i++)
            reqs[i] = comm_isend(&s->comm, i, s->params, s->count);
        comm_waitall(&s->comm, reqs, N);
    }
    free(reqs);
    ps_server_free(s);
}

static int ps_server_init(PsServer *s, const Run *run, const float *init, DtError *err)
{
    const int N = run->sc->workers;
    s->params = malloc((s->count ? s->count : 1) * sizeof(float));
    s->sum = malloc((s->count ? s->count : 1) * sizeof(float));
    s->incoming = malloc(((size_t)N * s->count + 1) * sizeof(float));
    if (!s->params || !s->sum || !s->incoming)
        return dt_fail(err, DT_ERUNTIME, "out of memory for server %d", s->index);
    memcpy(s->params, init + s->begin, s->count * sizeof(float));
    return optim_init(&s->opt, &run->sc->opt, s->count, err);
}

static int ps_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    PsShared *sh = calloc(1, sizeof *sh);
    float *init = malloc(run->model.nparams * sizeof(float));
    if (!sh || !init) {
        free(sh);
        free(init);
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    }
    *sh = (PsShared){.run = run, .workers = sc->workers, .servers = sc->servers};
    model_init_params(&run->model, init, sc->seed);
    if (comm_world_init(&sh->world, run->nranks, &run->rec, sizeof(float), err) < 0) {
        free(sh);
        free(init);
        return -1;
    }
    if (sampler_init(&sh->sampler, run->train.n, run->global_batch, sc->seed, err) < 0) {
        comm_world_free(&sh->world);
        free(sh);
        free(init);
        return -1;
    }
    /* Allocate every actor's state before the simulation starts, so that
     * none can fail half-way and leave the others waiting. */
    void **state = calloc((size_t)run->nranks, sizeof *state);
    int rc = state ? 0 : dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->live = 1; /* held by ps_start until the actors are launched */
    for (int i = 0; i < run->nranks && rc == 0; i++) {
        Comm comm = {.world = &sh->world, .rank = i, .channel = 0};
        if (i < sc->workers) {
            PsWorker *w = calloc(1, sizeof *w);
            if (!w) {
                rc = dt_fail(err, DT_ERUNTIME, "out of memory for worker %d", i);
                break;
            }
            state[i] = w;
            *w = (PsWorker){.sh = sh, .rank = i, .comm = comm};
            sh->live++;
            DeviceMemoryNeed need = replica_memory_need(&run->model, &sc->opt, sc->batch);
            need.optimizer = 0.0; /* the servers hold it */
            if (device_init(&w->dev, run, i, err) < 0 ||
                device_check_memory(&w->dev, &need, err) < 0) {
                rc = -1;
                break;
            }
            if (replica_init(&w->replica, &run->model, &sc->opt, sc->batch, sc->seed, err) < 0)
                rc = -1;
        } else {
            PsServer *s = calloc(1, sizeof *s);
            if (!s) {
                rc = dt_fail(err, DT_ERUNTIME, "out of memory for server %d", i);
                break;
            }
            state[i] = s;
            *s = (PsServer){.sh = sh, .rank = i, .index = i - sc->workers, .comm = comm};
            sh->live++;
            collective_block(run->model.nparams, sc->servers, s->index, &s->begin, &s->count);
            double shard = sizeof(float) * (double)s->count;
            int state = (sc->opt.kind == OPT_ADAM) ? 2 : (sc->opt.momentum != 0.0);
            DeviceMemoryNeed need = {.parameters = shard,
                                     .optimizer = state * shard,
                                     .buffers = (sc->workers + 1) * shard};
            if (device_init(&s->dev, run, i, err) < 0 ||
                device_check_memory(&s->dev, &need, err) < 0)
                rc = -1;
            else
                rc = ps_server_init(s, run, init, err);
        }
    }
    free(init);
    for (int i = 0; i < run->nranks && state; i++) {
        if (!state[i])
            continue;
        if (rc < 0) {
            if (i < sc->workers)
                ps_worker_free(state[i]);
            else
                ps_server_free(state[i]);
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, i < sc->workers ? "worker-%d" : "server-%d", i);
        sg_actor_t actor = sg_actor_init(name, run->rank_host[i]);
        sg_actor_set_data(actor, state[i]);
        sg_actor_start(actor, i < sc->workers ? ps_worker_main : ps_server_main, 0, NULL);
    }
    free(state);
    ps_release(sh);
    return rc;
}

const StrategyOps parameter_server_strategy = {
    .name = "parameter-server",
    .summary = "workers push gradients to servers that own slices of the parameters and "
               "send back the update (synchronous)",
    .check = ps_check,
    .global_batch = ps_global_batch,
    .ranks = ps_ranks,
    .start = ps_start,
};
