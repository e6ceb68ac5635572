/*
 * parameter_server.c - strategy "parameter-server": sync, async and ssp.
 *
 * Ranks 0 .. W-1 are workers, the next `servers` ranks are servers on hosts
 * of their own.  Server s owns a contiguous slice of the parameter block
 * (collective_block) and the optimizer state for it.  A worker computes a
 * gradient on its own slice of a global batch, pushes each server its slice
 * of the gradient and pulls the server's slice of the parameters back; the
 * servers' links carry all the traffic, the bottleneck a ring all-reduce
 * avoids.  As in the collectives' closed forms, the additions on a server
 * cost no simulated time; the optimizer update does.  The modes differ in
 * when a server applies what it receives and when it answers a pull:
 *
 *  sync   every step, each server waits for all N workers' gradients (scaled
 *         by 1/(N*batch)), adds them in worker order, applies one optimizer
 *         step and sends the result to every worker: serial SGD on the
 *         global batch.
 *         With backup_workers = B (Chen et al. 2016), N + B workers compute
 *         and a step takes the first N gradients computed on the current
 *         parameters to arrive; later ones are dropped.  A worker that
 *         pushed a gradient waits for the next version; a worker that
 *         pushed one computed on an old version gets the current one at
 *         once.  (One server: shards would each pick their own first N.)
 *  async  Downpour: a worker pushes a gradient (scaled by 1/batch, the mean
 *         over its own batch), the server applies it at once and answers
 *         with its current parameters.  Each worker makes `steps` updates,
 *         so the run sees the samples a sync run sees.
 *  ssp    stale synchronous parallel (Ho et al. 2013) with bound s: a
 *         worker's c-th gradient belongs to clock c; a server applies clock
 *         c (its N gradients added in worker order, one optimizer step, as
 *         sync does) once all have arrived, and answers a worker that
 *         pushed clock c only when it holds at least version c + 1 - s: so
 *         a worker runs at most s clocks ahead of the slowest.  s = 0 is
 *         sync, operation for operation.
 *
 * Every applied gradient's staleness (server version when it is applied
 * minus the version it was computed on; versions count the server's
 * updates) goes into summary.json, as server 0 sees it.  Worker 0
 * evaluates its copy of the parameters when its version passes an
 * evaluation step; the last server to finish evaluates the final
 * parameters, assembled from every server's slice.
 */
#include <simgrid/actor.h>
#include <stdlib.h>
#include <string.h>

#include "collective.h"
#include "run.h"
#include "sampler.h"

typedef struct PsServer PsServer;

typedef struct PsShared {
    Run *run;
    CommWorld world;
    PsMode mode;
    int workers;      /* W: N + backup workers */
    int needed;       /* N: gradients a sync step uses */
    int servers;      /* S */
    int staleness;    /* ssp bound */
    Sampler sampler;  /* sync without backup: one for all workers */
    long *version;    /* (W * S) version of server s's slice worker w holds */
    int servers_left; /* servers still running */
    int done;         /* backup workers: the last step is applied */
    Replica final;    /* assembled parameters for the final evaluation */
    int live;         /* actors still running: the last frees this */
} PsShared;

typedef struct PsWorker {
    PsShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
    Sampler sampler; /* async, ssp, backup: the worker's own view of the batches */
    long next_eval;  /* worker 0: the next step to evaluate at */
} PsWorker;

struct PsServer {
    PsShared *sh;
    int rank, index;
    size_t begin, count; /* the slice of the parameter block it owns */
    Device dev;
    Comm comm;
    Optimizer opt;
    long version;    /* updates applied */
    float *params;   /* (count) */
    float *sum;      /* (count) gradient summed over workers */
    int slots;       /* gradient buffers per worker: s + 1 clocks for ssp, else 1 */
    float *incoming; /* (slots, W, count) one gradient slice per worker and clock */
    /* bookkeeping of the async, ssp and backup modes, per worker */
    long *pushed;   /* (W) gradients received from the worker */
    long *computed; /* (slots, W) version each pending gradient was computed on */
    int *arrived;   /* (slots) gradients of the clock held in the slot */
    char *waiting;  /* (W) the worker waits for an answer */
    char *take;     /* (W) backup: the worker's gradient is in this step */
};

static int ps_check(const Scenario *sc, DtError *err)
{
    if (sc->backup_workers && sc->servers > 1)
        return dt_fail(err, DT_EINPUT,
                       "backup_workers = %d needs servers = 1 (each shard would pick its own "
                       "first gradients)",
                       sc->backup_workers);
    return 0;
}

static int ps_global_batch(const Scenario *sc)
{
    return sc->batch * sc->workers;
}

static int ps_ranks(const Scenario *sc)
{
    return sc->workers + sc->backup_workers + sc->servers;
}

static void ps_release(PsShared *sh)
{
    if (--sh->live == 0) {
        sampler_free(&sh->sampler);
        replica_free(&sh->final);
        comm_world_free(&sh->world);
        free(sh->version);
        free(sh);
    }
}

static void ps_worker_free(PsWorker *w)
{
    replica_free(&w->replica);
    sampler_free(&w->sampler);
    ps_release(w->sh);
    free(w);
}

static void ps_server_free(PsServer *s)
{
    optim_free(&s->opt);
    free(s->params);
    free(s->sum);
    free(s->incoming);
    free(s->pushed);
    free(s->computed);
    free(s->arrived);
    free(s->waiting);
    free(s->take);
    ps_release(s->sh);
    free(s);
}

/* The step worker w's parameters stand for: server 0's version, counted in
 * global steps (async makes N updates a step). */
static long ps_view_step(const PsShared *sh, int w)
{
    long v = sh->version[(size_t)w * sh->servers];
    return sh->mode == PS_ASYNC ? v / sh->workers : v;
}

/* Worker 0 after a pull: evaluate when its parameters pass the next
 * evaluation step (the final one is the servers'). */
static void ps_worker_evaluate(PsWorker *w)
{
    Run *run = w->sh->run;
    long step = ps_view_step(w->sh, 0);
    if (w->rank != 0 || step >= run->total_steps)
        return;
    if (step >= w->next_eval) {
        run_evaluate(run, &w->replica, step);
        long every = run->sc->eval_every ? run->sc->eval_every : run->steps_per_epoch;
        w->next_eval = (step / every + 1) * every;
    }
    run_progress(run, step);
}

/* Push the gradient slices to every server and pull the parameters back. */
static void ps_push_pull(PsWorker *w, CommRequest **reqs)
{
    PsShared *sh = w->sh;
    Replica *r = &w->replica;
    const int S = sh->servers;
    for (int s = 0; s < S; s++) {
        size_t off, len;
        collective_block(sh->run->model.nparams, S, s, &off, &len);
        reqs[s] = comm_isend(&w->comm, sh->workers + s, r->grads + off, len);
        reqs[S + s] = comm_irecv(&w->comm, sh->workers + s, r->params + off, len);
    }
    comm_waitall(&w->comm, reqs, 2 * S);
}

static void ps_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PsWorker *w = sg_actor_self_get_data();
    PsShared *sh = w->sh;
    Run *run = sh->run;
    Replica *r = &w->replica;
    const int b = run->sc->batch;
    const int backup = sh->workers > sh->needed;
    /* async: the mean over the worker's batch; otherwise a share of the
     * global batch's mean */
    const float scale = 1.0f / (float)(sh->mode == PS_ASYNC ? b : run->global_batch);
    CommRequest **reqs = malloc(2 * (size_t)sh->servers * sizeof *reqs);
    for (long k = 0; backup ? !sh->done : k < run->total_steps; k++) {
        const int *batch;
        if (sh->mode == PS_SYNC && !backup)
            batch = sampler_batch(&sh->sampler, k); /* all workers move in step */
        else
            batch = sampler_batch(&w->sampler, backup ? sh->version[(size_t)w->rank] : k);
        replica_load(r, &w->dev, &run->train, batch + (size_t)w->rank * b, b);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, b, scale, NULL), b);
        ps_push_pull(w, reqs);
        ps_worker_evaluate(w);
    }
    free(reqs);
    ps_worker_free(w);
}

/* Sum the gradients of the given slot from the workers marked in take
 * (all when NULL), in worker order, into s->sum. */
static void ps_sum(PsServer *s, int slot, const char *take)
{
    const int W = s->sh->workers;
    const float *base = s->incoming + (size_t)slot * W * s->count;
    int first = 1;
    for (int i = 0; i < W; i++) {
        if (take && !take[i])
            continue;
        const float *g = base + (size_t)i * s->count;
        if (first)
            memcpy(s->sum, g, s->count * sizeof(float));
        else
            for (size_t j = 0; j < s->count; j++)
                s->sum[j] += g[j];
        first = 0;
    }
}

/* One optimizer step on the server's slice from g. */
static void ps_apply(PsServer *s, const float *g)
{
    optim_step(&s->opt, s->params, g);
    device_compute(&s->dev, optim_step_flops(&s->opt), optim_step_bytes(&s->opt), "update");
    s->version++;
    if (s->index == 0)
        s->sh->run->rec.updates = s->version;
}

static float *ps_slot(PsServer *s, int slot, int worker)
{
    return s->incoming + ((size_t)slot * s->sh->workers + (size_t)worker) * s->count;
}

/* Answer worker i's pull with the current slice. */
static void ps_reply(PsServer *s, CommRequest **sends, int i)
{
    if (sends[i])
        comm_wait(&s->comm, sends[i]); /* the previous answer, long received */
    sends[i] = comm_isend(&s->comm, i, s->params, s->count);
    s->sh->version[(size_t)i * s->sh->servers + (size_t)s->index] = s->version;
}

/* sync without backup workers: everyone, every step, in worker order. */
static void ps_serve_sync(PsServer *s, CommRequest **reqs)
{
    const int N = s->sh->workers;
    for (long step = 1; step <= s->sh->run->total_steps; step++) {
        for (int i = 0; i < N; i++)
            reqs[i] = comm_irecv(&s->comm, i, ps_slot(s, 0, i), s->count);
        comm_waitall(&s->comm, reqs, N);
        ps_sum(s, 0, NULL);
        for (int i = 0; i < N && s->index == 0; i++)
            record_staleness(&s->sh->run->rec, 0);
        ps_apply(s, s->sum);
        for (int i = 0; i < N; i++) {
            reqs[i] = comm_isend(&s->comm, i, s->params, s->count);
            s->sh->version[(size_t)i * s->sh->servers + (size_t)s->index] = s->version;
        }
        comm_waitall(&s->comm, reqs, N);
    }
}

/* async and ssp: take gradients in arrival order. */
static void ps_serve_stale(PsServer *s, CommRequest **reqs, CommRequest **sends)
{
    PsShared *sh = s->sh;
    const int W = sh->workers, slots = s->slots;
    const long steps = sh->run->total_steps;
    Recorder *rec = &sh->run->rec;
    for (int i = 0; i < W; i++)
        reqs[i] = comm_irecv(&s->comm, i, ps_slot(s, 0, i), s->count);
    for (long left = (long)W * steps; left > 0; left--) {
        int i = comm_waitany(&s->comm, reqs, W);
        /* the gradient of worker i's clock pushed[i], in that clock's slot */
        int slot = (int)(s->pushed[i]++ % slots);
        long used = sh->version[(size_t)i * sh->servers + (size_t)s->index];
        if (sh->mode == PS_ASYNC) {
            if (s->index == 0)
                record_staleness(rec, (int)(s->version - used));
            ps_apply(s, ps_slot(s, slot, i));
            ps_reply(s, sends, i);
        } else {
            s->computed[(size_t)slot * W + (size_t)i] = used;
            s->arrived[slot]++;
            s->waiting[i] = 1;
            /* apply the next clock while all its gradients are in: clock
             * `version` sits in slot version % slots */
            for (int c; s->arrived[c = (int)(s->version % slots)] == W;) {
                s->arrived[c] = 0;
                ps_sum(s, c, NULL);
                for (int j = 0; j < W && s->index == 0; j++)
                    record_staleness(rec, (int)(s->version - s->computed[(size_t)c * W + j]));
                ps_apply(s, s->sum);
            }
            /* answer every worker whose next clock may now start */
            for (int j = 0; j < W; j++) {
                if (s->waiting[j] && s->version >= s->pushed[j] - sh->staleness) {
                    s->waiting[j] = 0;
                    ps_reply(s, sends, j);
                }
            }
        }
        /* The next clock's slot held clock pushed[i] - slots, which is
         * applied before worker i can send what lands there. */
        if (s->pushed[i] < steps)
            reqs[i] = comm_irecv(&s->comm, i, ps_slot(s, (int)(s->pushed[i] % slots), i), s->count);
    }
}

/* sync with backup workers (one server): the first N gradients computed on
 * the current version make the step. */
static void ps_serve_backup(PsServer *s, CommRequest **reqs, CommRequest **sends)
{
    PsShared *sh = s->sh;
    const int W = sh->workers, N = sh->needed;
    int taken = 0, computing = W;
    for (int i = 0; i < W; i++)
        reqs[i] = comm_irecv(&s->comm, i, ps_slot(s, 0, i), s->count);
    while (computing > 0) {
        int i = comm_waitany(&s->comm, reqs, W);
        computing--;
        if (!sh->done && sh->version[i] == s->version && taken < N) {
            s->take[i] = 1;
            taken++;
        }
        s->waiting[i] = 1;
        if (taken == N) {
            ps_sum(s, 0, s->take);
            for (int j = 0; j < N; j++)
                record_staleness(&sh->run->rec, 0);
            ps_apply(s, s->sum);
            taken = 0;
            memset(s->take, 0, (size_t)W);
            if (s->version == sh->run->total_steps)
                sh->done = 1; /* read by the workers when they wake */
        }
        /* a worker whose gradient was too late for its version starts on
         * the current one at once; the others wait for the next */
        for (int j = 0; j < W; j++) {
            if (s->waiting[j] && (sh->done || sh->version[j] < s->version)) {
                s->waiting[j] = 0;
                ps_reply(s, sends, j);
                if (!sh->done) {
                    computing++;
                    reqs[j] = comm_irecv(&s->comm, j, ps_slot(s, 0, j), s->count);
                }
            }
        }
    }
}

/* A server is done: its slice goes into the final parameters, and the
 * last one out evaluates them. */
static void ps_finish(PsServer *s)
{
    PsShared *sh = s->sh;
    Run *run = sh->run;
    memcpy(sh->final.params + s->begin, s->params, s->count * sizeof(float));
    if (--sh->servers_left > 0)
        return;
    run_evaluate(run, &sh->final, run->total_steps);
    run_keep_params(run, sh->final.params);
}

static void ps_server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PsServer *s = sg_actor_self_get_data();
    PsShared *sh = s->sh;
    const int W = sh->workers;
    CommRequest **reqs = calloc((size_t)W, sizeof *reqs);
    CommRequest **sends = calloc((size_t)W, sizeof *sends);
    if (sh->mode == PS_SYNC && W == sh->needed)
        ps_serve_sync(s, reqs);
    else if (sh->mode == PS_SYNC)
        ps_serve_backup(s, reqs, sends);
    else
        ps_serve_stale(s, reqs, sends);
    for (int i = 0; i < W; i++)
        if (sends[i])
            comm_wait(&s->comm, sends[i]);
    free(reqs);
    free(sends);
    ps_finish(s);
    ps_server_free(s);
}

static int ps_server_init(PsServer *s, const Run *run, const float *init, DtError *err)
{
    const size_t W = (size_t)s->sh->workers;
    s->slots = s->sh->mode == PS_SSP ? s->sh->staleness + 1 : 1;
    s->params = malloc((s->count ? s->count : 1) * sizeof(float));
    s->sum = malloc((s->count ? s->count : 1) * sizeof(float));
    s->incoming = malloc(((size_t)s->slots * W * s->count + 1) * sizeof(float));
    s->pushed = calloc(W, sizeof *s->pushed);
    s->computed = calloc((size_t)s->slots * W, sizeof *s->computed);
    s->arrived = calloc((size_t)s->slots, sizeof *s->arrived);
    s->waiting = calloc(W, 1);
    s->take = calloc(W, 1);
    if (!s->params || !s->sum || !s->incoming || !s->pushed || !s->computed || !s->arrived ||
        !s->waiting || !s->take)
        return dt_fail(err, DT_ERUNTIME, "out of memory for server %d", s->index);
    memcpy(s->params, init + s->begin, s->count * sizeof(float));
    return optim_init(&s->opt, &run->sc->opt, s->count, err);
}

static int ps_worker_init(PsWorker *w, Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    PsShared *sh = w->sh;
    DeviceMemoryNeed need = replica_memory_need(&run->model, &sc->opt, sc->batch);
    need.optimizer = 0.0; /* the servers hold it */
    if (device_init(&w->dev, run, w->rank, err) < 0 ||
        device_check_memory(&w->dev, &need, err) < 0 ||
        replica_init(&w->replica, &run->model, &sc->opt, sc->batch, sc->seed, err) < 0)
        return -1;
    if (sh->mode != PS_SYNC || sh->workers > sh->needed) {
        /* the same global batches as sync, each worker at its own pace; with
         * backup workers a global batch has a slice for every worker */
        int global = sh->mode == PS_SYNC ? sc->batch * sh->workers : run->global_batch;
        if (sampler_init(&w->sampler, run->train.n, global, sc->seed, err) < 0)
            return -1;
    }
    w->next_eval = sc->eval_every ? sc->eval_every : run->steps_per_epoch;
    return 0;
}

static int ps_server_setup(PsServer *s, Run *run, const float *init, DtError *err)
{
    const Scenario *sc = run->sc;
    collective_block(run->model.nparams, sc->servers, s->index, &s->begin, &s->count);
    double shard = sizeof(float) * (double)s->count;
    int state = (sc->opt.kind == OPT_ADAM) ? 2 : (sc->opt.momentum != 0.0);
    int slots = sc->mode == PS_SSP ? sc->staleness + 1 : 1;
    DeviceMemoryNeed need = {.parameters = shard,
                             .optimizer = state * shard,
                             .buffers = ((double)slots * s->sh->workers + 1) * shard};
    if (device_init(&s->dev, run, s->rank, err) < 0 || device_check_memory(&s->dev, &need, err) < 0)
        return -1;
    return ps_server_init(s, run, init, err);
}

static PsShared *ps_shared_new(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    PsShared *sh = calloc(1, sizeof *sh);
    if (!sh) {
        dt_fail(err, DT_ERUNTIME, "out of memory");
        return NULL;
    }
    *sh = (PsShared){.run = run,
                     .mode = sc->mode,
                     .workers = sc->workers + sc->backup_workers,
                     .needed = sc->workers,
                     .servers = sc->servers,
                     .staleness = sc->mode == PS_SSP ? sc->staleness : 0,
                     .servers_left = sc->servers,
                     .live = 1};
    sh->version = calloc((size_t)sh->workers * sc->servers, sizeof *sh->version);
    int rc = !sh->version ? dt_fail(err, DT_ERUNTIME, "out of memory") : 0;
    if (rc == 0)
        rc = comm_world_init(&sh->world, run->nranks, &run->rec, sizeof(float), err);
    if (rc == 0 && sc->mode == PS_SYNC && !sc->backup_workers)
        rc = sampler_init(&sh->sampler, run->train.n, run->global_batch, sc->seed, err);
    if (rc == 0)
        rc = replica_init(&sh->final, &run->model, &sc->opt, sc->batch, sc->seed, err);
    if (rc < 0) {
        ps_release(sh);
        return NULL;
    }
    return sh;
}

static int ps_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    PsShared *sh = ps_shared_new(run, err);
    float *init = malloc(run->model.nparams * sizeof(float));
    void **state = calloc((size_t)run->nranks, sizeof *state);
    int rc = (sh && init && state) ? 0 : sh ? dt_fail(err, DT_ERUNTIME, "out of memory") : -1;
    if (rc == 0)
        model_init_params(&run->model, init, sc->seed);
    /* Allocate every actor's state before the simulation starts, so that
     * none can fail half-way and leave the others waiting. */
    const int W = sh ? sh->workers : 0;
    for (int i = 0; i < run->nranks && rc == 0; i++) {
        if (i < W) {
            PsWorker *w = state[i] = calloc(1, sizeof *w);
            if (!w) {
                rc = dt_fail(err, DT_ERUNTIME, "out of memory for worker %d", i);
                break;
            }
            *w = (PsWorker){.sh = sh, .rank = i, .comm = {&sh->world, i, 0}};
            sh->live++;
            rc = ps_worker_init(w, run, err);
        } else {
            PsServer *s = state[i] = calloc(1, sizeof *s);
            if (!s) {
                rc = dt_fail(err, DT_ERUNTIME, "out of memory for server %d", i);
                break;
            }
            *s = (PsServer){.sh = sh, .rank = i, .index = i - W, .comm = {&sh->world, i, 0}};
            sh->live++;
            rc = ps_server_setup(s, run, init, err);
        }
    }
    free(init);
    for (int i = 0; i < run->nranks && state; i++) {
        if (!state[i])
            continue;
        if (rc < 0) {
            if (i < W)
                ps_worker_free(state[i]);
            else
                ps_server_free(state[i]);
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, i < W ? "worker-%d" : "server-%d", i);
        sg_actor_t actor = sg_actor_init(name, run->rank_host[i]);
        sg_actor_set_data(actor, state[i]);
        sg_actor_start(actor, i < W ? ps_worker_main : ps_server_main, 0, NULL);
    }
    free(state);
    if (sh)
        ps_release(sh);
    return rc;
}

const StrategyOps parameter_server_strategy = {
    .name = "parameter-server",
    .summary = "workers push gradients to servers that own slices of the parameters and pull "
               "them back: sync (optionally with backup workers), async, or ssp",
    .check = ps_check,
    .global_batch = ps_global_batch,
    .ranks = ps_ranks,
    .start = ps_start,
};
