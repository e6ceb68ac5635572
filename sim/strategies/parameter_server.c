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
 * cost no simulated time; the optimizer update does (and expanding a
 * compressed push).  The modes differ in
 * when a server applies what it receives and when it answers a pull, one
 * server loop each (the table ps_modes below):
 *
 *  sync   every step, each server waits for all N workers' gradients (scaled
 *         by 1/(N*batch)), adds them in worker order, applies one optimizer
 *         step and sends the result to every worker: serial SGD on the
 *         global batch.
 *  backup sync with backup_workers = B (Chen et al. 2016): N + B workers
 *         compute and a step takes the first N gradients computed on the
 *         current parameters to arrive; later ones are dropped.  A worker
 *         that pushed a gradient waits for the next version; a worker that
 *         pushed one computed on an old version gets the current one at
 *         once.  Needs one server (shards would each pick their own first N).
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
#include <cJSON.h>
#include <simgrid/actor.h>
#include <stdlib.h>
#include <string.h>

#include "collective.h"
#include "compress.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"

enum { PS_SYNC, PS_ASYNC, PS_SSP };

typedef struct PsConfig {
    int servers;
    int mode; /* PS_SYNC, PS_ASYNC, PS_SSP */
    int staleness;
    int backup_workers;
    /* fp16, bf16: every push and pull rounded, 2 bytes a float; topk,
     * randomk, signsgd, powersgd: every push compressed (compress.h),
     * each server's slice on its own, and expanded by the server; pulls
     * whole */
    CompressConfig compress;
} PsConfig;

static const char *const mode_names[] = {"sync", "async", "ssp", NULL};

static const KeyDef ps_keys[] = {
    KEYDEF_INT(PsConfig, "servers", servers, 1, 1 << 16, "1",
               "server ranks, each owning a slice of the parameters, on hosts after the "
               "workers'"),
    KEYDEF_ENUM(PsConfig, "mode", mode, mode_names, "sync",
                "sync (one update per step from all workers), async (each gradient applied as "
                "it arrives) or ssp (bounded staleness)"),
    {.name = "staleness",
     .type = KEY_INT,
     .offset = offsetof(PsConfig, staleness),
     .max = 1 << 20,
     .def = "(required with ssp)",
     .help = "mode = ssp: steps a worker may run ahead of the slowest one",
     .when = "mode",
     .is = "ssp"},
    {.name = "backup_workers",
     .type = KEY_INT,
     .offset = offsetof(PsConfig, backup_workers),
     .max = 1 << 16,
     .def = "0",
     .help = "mode = sync: run workers + this many, and use the first `workers` gradients of "
             "each step",
     .when = "mode",
     .is = "sync"},
    COMPRESS_KEYS(PsConfig, compress),
};

typedef struct PsServer PsServer;
typedef struct PsWorker PsWorker;
typedef struct PsShared PsShared;

/* One mode: the server's loop, and how its workers pick their batches. */
typedef struct PsMode {
    const char *name;
    void (*serve)(PsServer *s);
    /* worker w's gradient k: its batch (the global batch it slices) */
    const int *(*batch)(PsWorker *w, long k);
    /* does worker w compute gradient k? */
    int (*more)(const PsWorker *w, long k);
    int own_mean; /* the gradient is the mean over the worker's own batch */
} PsMode;

struct PsShared {
    const PsMode *mode;
    CommWorld world;
    int workers;     /* W: N + backup workers */
    int needed;      /* N: gradients a sync step uses */
    int servers;     /* S */
    int staleness;   /* ssp bound */
    Sampler sampler; /* sync: one for all workers */
    long *version;   /* (W * S) version of server s's slice worker w holds */
    int servers_left;
    int done;              /* backup workers: the last step is applied */
    Replica final;         /* assembled parameters for the final evaluation */
    float *init;           /* (nparams) the initial parameters, until the servers have theirs */
    long *staleness_count; /* (nstaleness) gradients applied with staleness k */
    int nstaleness;
    double raw_bytes, sent_bytes; /* compressed pushes: the gradients' bytes, and the messages' */
    ModelMatrix *blocks;          /* powersgd: the model's matrices cut at the servers' slices */
    int nblocks;
};

struct PsWorker {
    Run *run;
    PsShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
    Sampler sampler;    /* async, ssp, backup: the worker's own view of the batches */
    long next_eval;     /* worker 0: the next step to evaluate at */
    CommRequest **reqs; /* (2S) a push and a pull per server */
    /* compress = topk, randomk or signsgd: */
    Compress comp; /* the worker's state (its residual) */
    Comm push;     /* its handle for pushes: 4-byte words for topk and signsgd */
    float *msg;    /* the messages to the servers, one after the other */
    long pushes;   /* gradients pushed so far */
};

struct PsServer {
    Run *run;
    PsShared *sh;
    int rank, index;
    size_t begin, count; /* the slice of the parameter block it owns */
    Device dev;
    Comm comm;
    Optimizer opt;
    long version;        /* updates applied */
    float *params;       /* (count) */
    float *sum;          /* (count) gradient summed over workers */
    int slots;           /* gradient buffers per worker: s + 1 clocks for ssp, else 1 */
    float *incoming;     /* (slots, W, count) one gradient slice per worker and clock */
    CommRequest **reqs;  /* (W) receives */
    CommRequest **sends; /* (W) answers */
    /* bookkeeping of the async, ssp and backup modes, per worker */
    long *pushed;   /* (W) gradients received from the worker */
    long *computed; /* (slots, W) version each pending gradient was computed on */
    int *arrived;   /* (slots) gradients of the clock held in the slot */
    char *waiting;  /* (W) the worker waits for an answer */
    char *take;     /* (W) backup: the worker's gradient is in this step */
    /* compressed pushes: */
    size_t msg_count; /* floats of a worker's message */
    float *packed;    /* (W, msg_count) the message being received from each worker */
    int *into;        /* (W) the slot it expands into */
    long *expanded;   /* (W) messages expanded so far */
    int *cand;        /* (count) randomk's scratch */
};

/* Are pushes compressed point to point (topk, randomk, signsgd,
 * powersgd)? */
static int ps_sparse(const PsConfig *c)
{
    return compress_sparse(&c->compress);
}

/* The compression of pushes: the keys', with the run's seed and
 * PowerSGD's matrices. */
static CompressConfig ps_compress(const Run *run, const PsShared *sh)
{
    const PsConfig *c = run->sc->strategy_config;
    CompressConfig cfg = c->compress;
    cfg.seed = run->sc->seed;
    cfg.mats = sh->blocks;
    cfg.nmats = sh->nblocks;
    return cfg;
}

static int ps_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const PsConfig *c = sc->strategy_config;
    if (c->compress.kind == COMPRESS_GTOPK)
        return key_fail(given, "compress", err,
                        "compress = gtopk merges the workers' top-k up a tree of workers, which a "
                        "parameter server has not: choose topk (each push its own top-k), "
                        "randomk, signsgd, powersgd, fp16 or bf16, or kind = data-parallel");
    if (compress_check(&c->compress, given, err) < 0)
        return -1;
    if (c->mode == PS_SSP && !key_given(given, "staleness"))
        return key_fail(given, "mode", err,
                        "mode = ssp needs [strategy] staleness = s (0 behaves as sync)");
    if (c->backup_workers && c->servers > 1)
        return key_fail(given, NULL, err,
                        "backup_workers = %d needs servers = 1 (each shard would pick its own "
                        "first gradients)",
                        c->backup_workers);
    return 0;
}

static int ps_ranks(const Scenario *sc)
{
    const PsConfig *c = sc->strategy_config;
    return sc->workers + c->backup_workers + c->servers;
}

/* ---- what a server does with gradients --------------------------------- */

/* A gradient was applied `k` versions after the one it was computed on
 * (server 0 keeps count). */
static void ps_staleness(PsServer *s, long k)
{
    PsShared *sh = s->sh;
    if (k >= sh->nstaleness) {
        long *n = realloc(sh->staleness_count, (size_t)(k + 1) * sizeof *n);
        if (!n) {
            DtError err;
            dt_fail(&err, DT_ERUNTIME, "out of memory while counting staleness");
            run_fail(s->run, &err);
            return;
        }
        memset(n + sh->nstaleness, 0, (size_t)(k + 1 - sh->nstaleness) * sizeof *n);
        sh->staleness_count = n;
        sh->nstaleness = (int)k + 1;
    }
    sh->staleness_count[k]++;
}

static float *ps_slot(PsServer *s, int slot, int worker)
{
    if (!s->incoming)
        return NULL; /* cost mode: timing-only messages */
    return s->incoming + ((size_t)slot * s->sh->workers + (size_t)worker) * s->count;
}

/* Sum the gradients of the given slot from the workers marked in take
 * (all when NULL), in worker order, into s->sum. */
static void ps_sum(PsServer *s, int slot, const char *take)
{
    if (!s->sum)
        return; /* cost mode */
    int first = 1;
    for (int i = 0; i < s->sh->workers; i++) {
        if (take && !take[i])
            continue;
        const float *g = ps_slot(s, slot, i);
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
    if (s->params)
        optim_step(&s->opt, s->params, g);
    device_compute(&s->dev, optim_step_flops(&s->opt), optim_step_bytes(&s->opt), "update");
    s->version++;
    if (s->index == 0)
        s->run->rec.updates = s->version;
}

/* The version of this server's slice worker i holds. */
static long *ps_held(PsServer *s, int i)
{
    return &s->sh->version[(size_t)i * s->sh->servers + (size_t)s->index];
}

/* Answer worker i's pull with the current slice. */
static void ps_reply(PsServer *s, int i)
{
    if (s->sends[i])
        comm_wait(&s->comm, s->sends[i]); /* the previous answer, long received */
    s->sends[i] = comm_isend(&s->comm, i, s->params, s->count);
    *ps_held(s, i) = s->version;
}

static void ps_receive(PsServer *s, int i, int slot)
{
    if (!s->msg_count) {
        s->reqs[i] = comm_irecv(&s->comm, i, ps_slot(s, slot, i), s->count);
        return;
    }
    s->into[i] = slot;
    float *at = s->packed ? s->packed + (size_t)i * s->msg_count : NULL;
    s->reqs[i] = comm_irecv(&s->comm, i, at, s->msg_count);
}

/* Worker i's message has arrived: with compressed pushes, what it stands
 * for goes into its slot. */
static void ps_expand(PsServer *s, int i)
{
    if (!s->msg_count || i < 0)
        return;
    const float *msg = s->packed ? s->packed + (size_t)i * s->msg_count : NULL;
    uint64_t draw = ((uint64_t)s->expanded[i]++ * (uint64_t)s->sh->servers + (uint64_t)s->index) *
                        (uint64_t)s->sh->workers +
                    (uint64_t)i;
    CompressConfig cfg = ps_compress(s->run, s->sh);
    compress_expand(&cfg, &s->dev, msg, s->count, s->begin, draw, ps_slot(s, s->into[i], i),
                    s->cand);
}

/* ---- the modes' server loops ------------------------------------------- */

/* sync: everyone, every step, in worker order. */
static void ps_serve_sync(PsServer *s)
{
    const int N = s->sh->workers;
    for (long step = 1; step <= s->run->total_steps; step++) {
        for (int i = 0; i < N; i++)
            ps_receive(s, i, 0);
        comm_waitall(&s->comm, s->reqs, N);
        for (int i = 0; i < N; i++)
            ps_expand(s, i);
        ps_sum(s, 0, NULL);
        for (int i = 0; i < N && s->index == 0; i++)
            ps_staleness(s, 0);
        ps_apply(s, s->sum);
        for (int i = 0; i < N; i++) {
            s->reqs[i] = comm_isend(&s->comm, i, s->params, s->count);
            *ps_held(s, i) = s->version;
        }
        comm_waitall(&s->comm, s->reqs, N);
    }
}

/* backup: the first N gradients computed on the current version make the
 * step. */
static void ps_backup_step(PsServer *s)
{
    PsShared *sh = s->sh;
    ps_sum(s, 0, s->take);
    for (int j = 0; j < sh->needed; j++)
        ps_staleness(s, 0);
    ps_apply(s, s->sum);
    memset(s->take, 0, (size_t)sh->workers);
    if (s->version == s->run->total_steps)
        sh->done = 1; /* read by the workers when they wake */
}

static void ps_serve_backup(PsServer *s)
{
    PsShared *sh = s->sh;
    const int W = sh->workers, N = sh->needed;
    int taken = 0, computing = W;
    for (int i = 0; i < W; i++)
        ps_receive(s, i, 0);
    while (computing > 0) {
        int i = comm_waitany(&s->comm, s->reqs, W);
        ps_expand(s, i);
        computing--;
        if (!sh->done && *ps_held(s, i) == s->version && taken < N) {
            s->take[i] = 1;
            taken++;
        }
        s->waiting[i] = 1;
        if (taken == N) {
            ps_backup_step(s);
            taken = 0;
        }
        /* a worker whose gradient was too late for its version starts on
         * the current one at once; the others wait for the next */
        for (int j = 0; j < W; j++) {
            if (s->waiting[j] && (sh->done || *ps_held(s, j) < s->version)) {
                s->waiting[j] = 0;
                ps_reply(s, j);
                if (!sh->done) {
                    computing++;
                    ps_receive(s, j, 0);
                }
            }
        }
    }
}

/* async: worker i's gradient is applied at once and answered. */
static void ps_take_async(PsServer *s, int i, int slot, long used)
{
    if (s->index == 0)
        ps_staleness(s, s->version - used);
    ps_apply(s, ps_slot(s, slot, i));
    ps_reply(s, i);
}

/* ssp: worker i's gradient joins its clock; whole clocks are applied in
 * order, and workers within the bound are answered. */
static void ps_take_ssp(PsServer *s, int i, int slot, long used)
{
    PsShared *sh = s->sh;
    const int W = sh->workers, slots = s->slots;
    s->computed[(size_t)slot * W + (size_t)i] = used;
    s->arrived[slot]++;
    s->waiting[i] = 1;
    /* apply the next clock while all its gradients are in: clock `version`
     * sits in slot version % slots */
    for (int c; s->arrived[c = (int)(s->version % slots)] == W;) {
        s->arrived[c] = 0;
        ps_sum(s, c, NULL);
        for (int j = 0; j < W && s->index == 0; j++)
            ps_staleness(s, s->version - s->computed[(size_t)c * W + (size_t)j]);
        ps_apply(s, s->sum);
    }
    /* answer every worker whose next clock may now start */
    for (int j = 0; j < W; j++) {
        if (s->waiting[j] && s->version >= s->pushed[j] - sh->staleness) {
            s->waiting[j] = 0;
            ps_reply(s, j);
        }
    }
}

/* async and ssp: take gradients in arrival order. */
static void ps_serve_stale(PsServer *s, void (*take)(PsServer *s, int i, int slot, long used))
{
    const int W = s->sh->workers, slots = s->slots;
    const long steps = s->run->total_steps;
    for (int i = 0; i < W; i++)
        ps_receive(s, i, 0);
    for (long left = (long)W * steps; left > 0; left--) {
        int i = comm_waitany(&s->comm, s->reqs, W);
        ps_expand(s, i);
        /* the gradient of worker i's clock pushed[i], in that clock's slot */
        int slot = (int)(s->pushed[i]++ % slots);
        take(s, i, slot, *ps_held(s, i));
        /* The next clock's slot held clock pushed[i] - slots, which is
         * applied before worker i can send what lands there. */
        if (s->pushed[i] < steps)
            ps_receive(s, i, (int)(s->pushed[i] % slots));
    }
}

static void ps_serve_async(PsServer *s)
{
    ps_serve_stale(s, ps_take_async);
}

static void ps_serve_ssp(PsServer *s)
{
    ps_serve_stale(s, ps_take_ssp);
}

/* ---- the modes' workers ------------------------------------------------ */

static const int *ps_batch_shared(PsWorker *w, long k)
{
    return sampler_batch(&w->sh->sampler, k); /* all workers move in step */
}

static const int *ps_batch_own(PsWorker *w, long k)
{
    return sampler_batch(&w->sampler, k);
}

static const int *ps_batch_current(PsWorker *w, long k)
{
    (void)k;
    return sampler_batch(&w->sampler, w->sh->version[(size_t)w->rank * w->sh->servers]);
}

static int ps_more_steps(const PsWorker *w, long k)
{
    return k < w->run->total_steps;
}

static int ps_more_until_done(const PsWorker *w, long k)
{
    (void)k;
    return !w->sh->done;
}

static const PsMode ps_modes[] = {
    {"sync", ps_serve_sync, ps_batch_shared, ps_more_steps, 0},
    {"backup", ps_serve_backup, ps_batch_current, ps_more_until_done, 0},
    {"async", ps_serve_async, ps_batch_own, ps_more_steps, 1},
    {"ssp", ps_serve_ssp, ps_batch_own, ps_more_steps, 0},
};

static const PsMode *ps_mode(const PsConfig *c)
{
    if (c->mode == PS_SYNC)
        return &ps_modes[c->backup_workers ? 1 : 0];
    return &ps_modes[c->mode == PS_ASYNC ? 2 : 3];
}

/* The step worker w's parameters stand for: server 0's version, counted in
 * global steps (async makes N updates a step). */
static long ps_view_step(const PsShared *sh, int w)
{
    long v = sh->version[(size_t)w * sh->servers];
    return sh->mode->own_mean ? v / sh->workers : v;
}

/* Worker 0 after a pull: evaluate when its parameters pass the next
 * evaluation step (the final one is the servers'). */
static void ps_worker_evaluate(PsWorker *w)
{
    Run *run = w->run;
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
static void ps_push_pull(PsWorker *w)
{
    PsShared *sh = w->sh;
    Replica *r = &w->replica;
    const int S = sh->servers;
    const PsConfig *c = w->run->sc->strategy_config;
    float *msg = w->msg;
    for (int s = 0; s < S; s++) {
        size_t off, len;
        collective_block(w->run->model.nparams, S, s, &off, &len);
        /* cost mode: timing-only messages */
        if (ps_sparse(c)) {
            size_t m = compress_message_count(&w->comp.cfg, len, off);
            uint64_t draw =
                ((uint64_t)w->pushes * (uint64_t)S + (uint64_t)s) * (uint64_t)sh->workers +
                (uint64_t)w->rank;
            compress_pack(&w->comp, r->cost ? NULL : r->grads + off, len, off, draw, msg);
            w->reqs[s] = comm_isend(&w->push, sh->workers + s, msg, m);
            double wire = sh->world.wire_bytes;
            sh->raw_bytes += wire * (double)len;
            sh->sent_bytes += (compress_message_words(&c->compress) ? 4.0 : wire) * (double)m;
            msg = msg ? msg + m : NULL;
        } else {
            w->reqs[s] =
                comm_isend(&w->comm, sh->workers + s, r->cost ? NULL : r->grads + off, len);
        }
        w->reqs[S + s] =
            comm_irecv(&w->comm, sh->workers + s, r->cost ? NULL : r->params + off, len);
    }
    comm_waitall(&w->comm, w->reqs, 2 * S);
    w->pushes++;
}

static void ps_worker_free(void *state)
{
    PsWorker *w = state;
    replica_free(&w->replica);
    sampler_free(&w->sampler);
    compress_free(&w->comp);
    free(w->msg);
    free(w->reqs);
    free(w);
}

static void ps_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PsWorker *w = sg_actor_self_get_data();
    PsShared *sh = w->sh;
    Run *run = w->run;
    Replica *r = &w->replica;
    const int b = run->sc->batch;
    const float scale = 1.0f / (float)(sh->mode->own_mean ? b : run->global_batch);
    for (long k = 0; sh->mode->more(w, k); k++) {
        const int *batch = sh->mode->batch(w, k);
        replica_load(r, &w->dev, &run->train, batch + (size_t)w->rank * b, b);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, b, scale, NULL), b);
        ps_push_pull(w);
        ps_worker_evaluate(w);
    }
    ps_worker_free(w);
}

/* Rank rank's handle on the world, its messages in half precision when
 * compressed. */
static Comm ps_comm(const Run *run, PsShared *sh, int rank)
{
    const PsConfig *c = run->sc->strategy_config;
    const int kind = c->compress.kind;
    const int half = kind == COMPRESS_FP16 || kind == COMPRESS_BF16;
    return (Comm){.world = &sh->world,
                  .rank = rank,
                  .channel = 0,
                  .wire_bytes = half ? 2.0 : 0.0,
                  .rounding = !half                   ? COMM_ROUND_NONE
                              : kind == COMPRESS_FP16 ? COMM_ROUND_FP16
                                                      : COMM_ROUND_BF16};
}

static int ps_worker_describe(void *state, Run *run, int rank, DtError *err)
{
    PsWorker *w = state;
    PsShared *sh = run->state;
    const Scenario *sc = run->sc;
    *w = (PsWorker){.run = run, .sh = sh, .rank = rank, .comm = ps_comm(run, sh, rank)};
    w->push = w->comm;
    if (compress_message_words(&((const PsConfig *)sc->strategy_config)->compress))
        w->push.wire_bytes = 4.0; /* indices and sign bits, whatever the precision */
    w->next_eval = sc->eval_every ? sc->eval_every : run->steps_per_epoch;
    record_role(&run->rec, rank, "worker", sc->batch);
    MemoryNeed need = plan_replica_memory(&run->model, &sc->opt, sc->batch);
    need.optimizer = 0.0; /* the servers hold it */
    return device_init(&w->dev, run, rank, &need, err);
}

/* With compressed pushes, the worker's state and message buffer (none in
 * cost mode, which sends timing-only messages). */
static int ps_worker_compress(PsWorker *w, DtError *err)
{
    const Run *run = w->run;
    const PsConfig *c = run->sc->strategy_config;
    CompressConfig cfg = ps_compress(run, w->sh);
    w->comp = (Compress){.cfg = cfg, .dev = &w->dev};
    if (!ps_sparse(c) || run->sc->cost)
        return 0;
    size_t total = 0;
    for (int s = 0; s < w->sh->servers; s++) {
        size_t off, len;
        collective_block(run->model.nparams, w->sh->servers, s, &off, &len);
        total += compress_message_count(&cfg, len, off);
    }
    if (!(w->msg = malloc((total + 1) * sizeof *w->msg)))
        return dt_fail(err, DT_ERUNTIME, "out of memory for worker %d's messages", w->rank);
    return compress_init(&w->comp, &cfg, &w->dev, run->model.nparams, 0, err);
}

static int ps_worker_alloc(void *state, DtError *err)
{
    PsWorker *w = state;
    const PsShared *sh = w->sh;
    const Run *run = w->run;
    const Scenario *sc = run->sc;
    if (!(w->reqs = malloc(2 * (size_t)sh->servers * sizeof *w->reqs)))
        return dt_fail(err, DT_ERUNTIME, "out of memory for worker %d", w->rank);
    if (run_replica_init(run, &w->replica, sc->batch, err) < 0 || ps_worker_compress(w, err) < 0)
        return -1;
    if (sh->mode->batch == ps_batch_shared)
        return 0;
    /* the same global batches as sync, each worker at its own pace; with
     * backup workers a global batch has a slice for every worker */
    int global = sh->workers > sh->needed ? sc->batch * sh->workers : run->global_batch;
    return sampler_init(&w->sampler, run->train.n, global, sc->seed, err);
}

/* ---- servers ----------------------------------------------------------- */

static void ps_server_free(void *state)
{
    PsServer *s = state;
    optim_free(&s->opt);
    free(s->params);
    free(s->sum);
    free(s->incoming);
    free(s->reqs);
    free(s->sends);
    free(s->pushed);
    free(s->computed);
    free(s->arrived);
    free(s->waiting);
    free(s->take);
    free(s->packed);
    free(s->into);
    free(s->expanded);
    free(s->cand);
    free(s);
}

/* A server is done: its slice goes into the final parameters, and the
 * last one out evaluates them. */
static void ps_finish(PsServer *s)
{
    PsShared *sh = s->sh;
    Run *run = s->run;
    if (s->params)
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
    s->sh->mode->serve(s);
    for (int i = 0; i < s->sh->workers; i++)
        if (s->sends[i])
            comm_wait(&s->comm, s->sends[i]);
    ps_finish(s);
    ps_server_free(s);
}

static int ps_server_describe(void *state, Run *run, int rank, DtError *err)
{
    PsServer *s = state;
    PsShared *sh = run->state;
    *s = (PsServer){.run = run,
                    .sh = sh,
                    .rank = rank,
                    .index = rank - sh->workers,
                    .comm = ps_comm(run, sh, rank),
                    .slots = sh->mode->serve == ps_serve_ssp ? sh->staleness + 1 : 1};
    collective_block(run->model.nparams, sh->servers, s->index, &s->begin, &s->count);
    record_role(&run->rec, rank, "server", 0);
    double shard = sizeof(float) * (double)s->count;
    MemoryNeed need = {.parameters = shard,
                       .optimizer = optim_state_per_param(&run->sc->opt) * shard,
                       .buffers = ((double)s->slots * sh->workers + 1) * shard};
    return device_init(&s->dev, run, rank, &need, err);
}

/* With compressed pushes, the messages' buffers (real: not cost mode). */
static int ps_server_compress(PsServer *s, int real)
{
    const PsConfig *c = s->run->sc->strategy_config;
    if (!ps_sparse(c))
        return 0;
    const size_t W = (size_t)s->sh->workers;
    CompressConfig cfg = ps_compress(s->run, s->sh);
    s->msg_count = compress_message_count(&cfg, s->count, s->begin);
    s->into = calloc(W, sizeof *s->into);
    s->expanded = calloc(W, sizeof *s->expanded);
    if (real) {
        s->packed = malloc((W * s->msg_count + 1) * sizeof *s->packed);
        s->cand = malloc((s->count + 1) * sizeof *s->cand);
    }
    return !s->into || !s->expanded || (real && (!s->packed || !s->cand)) ? -1 : 0;
}

static int ps_server_alloc(void *state, DtError *err)
{
    PsServer *s = state;
    const size_t W = (size_t)s->sh->workers;
    const int real = !s->run->sc->cost; /* cost mode: no parameter, gradient or state */
    if (real) {
        s->params = malloc((s->count ? s->count : 1) * sizeof(float));
        s->sum = malloc((s->count ? s->count : 1) * sizeof(float));
        s->incoming = malloc(((size_t)s->slots * W * s->count + 1) * sizeof(float));
    }
    s->reqs = calloc(W, sizeof *s->reqs);
    s->sends = calloc(W, sizeof *s->sends);
    s->pushed = calloc(W, sizeof *s->pushed);
    s->computed = calloc((size_t)s->slots * W, sizeof *s->computed);
    s->arrived = calloc((size_t)s->slots, sizeof *s->arrived);
    s->waiting = calloc(W, 1);
    s->take = calloc(W, 1);
    if ((real && (!s->params || !s->sum || !s->incoming)) || !s->reqs || !s->sends || !s->pushed ||
        !s->computed || !s->arrived || !s->waiting || !s->take)
        return dt_fail(err, DT_ERUNTIME, "out of memory for server %d", s->index);
    if (ps_server_compress(s, real) < 0)
        return dt_fail(err, DT_ERUNTIME, "out of memory for server %d", s->index);
    if (!real) {
        optim_describe(&s->opt, &s->run->sc->opt, s->count);
        return 0;
    }
    memcpy(s->params, s->sh->init + s->begin, s->count * sizeof(float));
    return optim_init(&s->opt, &s->run->sc->opt, s->count, err);
}

static const RankKind ps_worker_kind = {
    "worker", sizeof(PsWorker), ps_worker_describe, ps_worker_alloc, ps_worker_free, ps_worker_main,
};
static const RankKind ps_server_kind = {
    "server", sizeof(PsServer), ps_server_describe, ps_server_alloc, ps_server_free, ps_server_main,
};

static const RankKind *ps_kind(const Run *run, int rank)
{
    const PsShared *sh = run->state;
    return rank < sh->workers ? &ps_worker_kind : &ps_server_kind;
}

/* ---- the strategy ------------------------------------------------------ */

static void ps_stop(Run *run)
{
    PsShared *sh = run->state;
    if (!sh)
        return;
    sampler_free(&sh->sampler);
    replica_free(&sh->final);
    comm_world_free(&sh->world);
    free(sh->version);
    free(sh->init);
    free(sh->staleness_count);
    free(sh->blocks);
    free(sh);
    run->state = NULL;
}

/* PowerSGD's matrices: the model's, cut at the servers' slices. */
static int ps_cut_matrices(const Run *run, PsShared *sh, DtError *err)
{
    ModelMatrix *mats = malloc(MODEL_MAX_MATRICES * sizeof *mats);
    if (!mats)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    int n = model_matrices(&run->model, mats), total = 0;
    for (int s = 0; s < sh->servers; s++) {
        size_t off, len;
        collective_block(run->model.nparams, sh->servers, s, &off, &len);
        total += powersgd_cut(mats, n, off, len, NULL);
    }
    sh->blocks = malloc(((size_t)total + 1) * sizeof *sh->blocks);
    for (int s = 0; s < sh->servers && sh->blocks; s++) {
        size_t off, len;
        collective_block(run->model.nparams, sh->servers, s, &off, &len);
        sh->nblocks += powersgd_cut(mats, n, off, len, sh->blocks + sh->nblocks);
    }
    free(mats);
    return sh->blocks ? 0 : dt_fail(err, DT_ERUNTIME, "out of memory");
}

static int ps_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    const PsConfig *c = sc->strategy_config;
    PsShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    *sh = (PsShared){.mode = ps_mode(c),
                     .workers = sc->workers + c->backup_workers,
                     .needed = sc->workers,
                     .servers = c->servers,
                     .staleness = c->mode == PS_SSP ? c->staleness : 0,
                     .servers_left = c->servers};
    sh->version = calloc((size_t)sh->workers * c->servers, sizeof *sh->version);
    if (!sc->cost)
        sh->init = malloc(run->model.nparams * sizeof(float));
    if (!sh->version || (!sc->cost && !sh->init))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (!sc->cost)
        model_init_params(&run->model, sh->init, sc->seed);
    if (comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0 ||
        (c->compress.kind == COMPRESS_POWERSGD && ps_cut_matrices(run, sh, err) < 0))
        return -1;
    if (sh->mode->batch == ps_batch_shared &&
        sampler_init(&sh->sampler, run->train.n, run->global_batch, sc->seed, err) < 0)
        return -1;
    if (run_replica_init(run, &sh->final, sc->batch, err) < 0 || run_spawn(run, ps_kind, err) < 0)
        return -1;
    free(sh->init); /* the servers have their slices */
    sh->init = NULL;
    return 0;
}

static void ps_results(const Run *run, cJSON *root)
{
    const PsShared *sh = run->state;
    const PsConfig *c = run->sc->strategy_config;
    cJSON_AddNumberToObject(root, "servers", sh->servers);
    const CompressConfig *k = &c->compress;
    if (k->kind == COMPRESS_FP16 || k->kind == COMPRESS_BF16) {
        cJSON *o = cJSON_AddObjectToObject(root, "compression");
        cJSON_AddStringToObject(o, "kind", compress_kinds[k->kind]);
        cJSON_AddNumberToObject(o, "compression_ratio", run_wire_bytes(run) / 2.0);
        record_measure(root, "compression_ratio", run_wire_bytes(run) / 2.0);
    } else if (ps_sparse(c)) { /* the pushes' */
        compress_summary(k, root, sh->raw_bytes, sh->sent_bytes);
    }
    if (!sh->nstaleness)
        return;
    long n = 0, max = 0;
    double sum = 0.0;
    cJSON *st = cJSON_AddObjectToObject(root, "staleness");
    cJSON *hist = cJSON_CreateArray();
    for (int k = 0; k < sh->nstaleness; k++) {
        n += sh->staleness_count[k];
        sum += (double)k * sh->staleness_count[k];
        if (sh->staleness_count[k])
            max = k;
        cJSON_AddItemToArray(hist, cJSON_CreateNumber((double)sh->staleness_count[k]));
    }
    cJSON_AddNumberToObject(st, "gradients", (double)n);
    cJSON_AddNumberToObject(st, "mean", n ? sum / n : 0.0);
    record_measure(root, "staleness_mean", n ? sum / n : 0.0);
    cJSON_AddNumberToObject(st, "max", (double)max);
    /* histogram[k]: gradients applied with staleness k */
    cJSON_AddItemToObject(st, "histogram", hist);
}

const StrategyOps parameter_server_strategy = {
    .name = "parameter-server",
    .summary = "workers push gradients to servers that own slices of the parameters and pull "
               "them back: sync (optionally with backup workers), async, or ssp",
    .keys = {"strategy", ps_keys, sizeof ps_keys / sizeof ps_keys[0]},
    .config_size = sizeof(PsConfig),
    .check = ps_check,
    .global_batch = strategy_workers_batch,
    .ranks = ps_ranks,
    .start = ps_start,
    .results = ps_results,
    .stop = ps_stop,
};
