/*
 * gossip.c - strategy "gossip": decentralized SGD between neighbours
 * (D-PSGD, Lian et al. 2017), with no server and no all-reduce.
 *
 * Every worker holds a replica and trains on its own slice of each global
 * batch, applying its own gradient (the mean over its own samples) at
 * once, as local SGD does; then it sends its parameters to its neighbours
 * in `topology` (ring, torus, exponential or complete), receives theirs,
 * and takes the weighted average x_i <- w_ii x_i + sum_j w_ij x_j with
 * Metropolis-Hastings weights w_ij = 1 / (1 + max(deg i, deg j)), w_ii the
 * rest (uniform, 1 / (deg + 1), on a regular graph), added in neighbour
 * order.  Each worker sends degree x parameter bytes a step.  On the
 * complete graph every worker takes the mean of all: local SGD with H = 1,
 * up to the order of float additions.
 *
 * The consensus distance (the mean over workers of the root-mean-square
 * distance of a replica's parameters from the replicas' average) is
 * measured at every evaluation: each worker leaves a copy of its
 * parameters after that step's averaging, and the last to do so computes
 * it; a measurement, costing no simulated time.
 */
#include <cJSON.h>
#include <math.h>
#include <simgrid/actor.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"

enum { TOPO_RING, TOPO_TORUS, TOPO_EXPONENTIAL, TOPO_COMPLETE };
static const char *const topologies[] = {"ring", "torus", "exponential", "complete", NULL};

typedef struct GossipConfig {
    int topology;
} GossipConfig;

static const KeyDef gossip_keys[] = {
    KEYDEF_ENUM(GossipConfig, "topology", topology, topologies, "ring",
                "who averages with whom: ring (2 neighbours), torus (4, on a rows x columns grid), "
                "exponential (peers 2^k apart) or complete (every worker)"),
};

/* A torus's rows for n workers: the largest divisor <= sqrt(n), at least 2
 * rows and 2 columns; 0 when there is none (n prime, or under 4). */
static int torus_rows(int n)
{
    for (int r = (int)sqrt((double)n); r >= 2; r--)
        if (n % r == 0)
            return r;
    return 0;
}

/* The neighbours of worker i of n, ascending, none twice, never i; returns
 * how many (at most n - 1). */
static int gossip_neighbours(int topology, int n, int i, int *out)
{
    int k = 0;
    char *seen = calloc((size_t)n, 1);
    if (!seen)
        return -1;
    seen[i] = 1;
#define ADD(j)                                                                                     \
    do {                                                                                           \
        int j_ = (((j) % n) + n) % n;                                                              \
        if (!seen[j_]) {                                                                           \
            seen[j_] = 1;                                                                          \
            k++;                                                                                   \
        }                                                                                          \
    } while (0)
    if (topology == TOPO_RING) {
        ADD(i - 1);
        ADD(i + 1);
    } else if (topology == TOPO_TORUS) {
        int rows = torus_rows(n), cols = n / rows, r = i / cols, c = i % cols;
        ADD(((r + rows - 1) % rows) * cols + c);
        ADD(((r + 1) % rows) * cols + c);
        ADD(r * cols + (c + cols - 1) % cols);
        ADD(r * cols + (c + 1) % cols);
    } else if (topology == TOPO_EXPONENTIAL) {
        for (int d = 1; d < n; d *= 2) {
            ADD(i + d);
            ADD(i - d);
        }
    } else {
        for (int j = 0; j < n; j++)
            ADD(j);
    }
#undef ADD
    int m = 0;
    for (int j = 0; j < n; j++)
        if (seen[j] && j != i)
            out[m++] = j;
    free(seen);
    return m == k ? m : -1;
}

static int gossip_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const GossipConfig *c = sc->strategy_config;
    if (sc->workers < 2)
        return dt_fail(err, DT_EINPUT,
                       "%s: strategy gossip needs at least 2 workers ([cluster] workers = %d)",
                       sc->path, sc->workers);
    if (c->topology == TOPO_TORUS && !torus_rows(sc->workers))
        return key_fail(given, "topology", err,
                        "a torus needs a worker count that is rows x columns, both at least 2, "
                        "but %d is %s; use 4, 6, 8, 9, ... workers or another topology",
                        sc->workers, sc->workers < 4 ? "too few" : "prime");
    return 0;
}

/* A worker's parameters after an evaluation step, until every worker has
 * left its own for that step (neighbours wait for each other, but workers
 * far apart on the graph can be steps apart). */
typedef struct Snapshot {
    float *x;
    long step;
    struct Snapshot *next;
} Snapshot;

/* What the workers share: the sampler, and the consensus measurements. */
typedef struct GossipShared {
    CommWorld world;
    Sampler sampler;
    int *degree;       /* (N) each worker's neighbour count */
    Snapshot **head;   /* (N) each worker's snapshots not yet measured, oldest first */
    Snapshot **tail;   /* (N) */
    float **heads;     /* (N) scratch: the oldest snapshot of each */
    int ready;         /* workers with at least one snapshot waiting */
    int broken;        /* a snapshot could not be kept: measuring stopped */
    double *consensus; /* (evaluations) distance at each */
    long *consensus_step;
    int nconsensus, cap_consensus;
} GossipShared;

typedef struct GossipWorker {
    Run *run;
    GossipShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica replica;
    int degree;
    int *peer;         /* (degree) neighbours, ascending */
    float *weight;     /* (degree) Metropolis weights */
    float self_weight; /* w_ii */
    float *incoming;   /* (degree x nparams) the neighbours' parameters */
    CommRequest **reqs;
} GossipWorker;

/* The consensus distance of the snapshots: mean over workers of
 * sqrt(mean over parameters of (x_i - mean_j x_j)^2). */
static double consensus_distance(float *const *x, int n, size_t count)
{
    double total = 0.0;
    double *sq = calloc((size_t)n, sizeof *sq);
    if (!sq)
        return NAN;
    for (size_t k = 0; k < count; k++) {
        double mean = 0.0;
        for (int i = 0; i < n; i++)
            mean += x[i][k];
        mean /= n;
        for (int i = 0; i < n; i++)
            sq[i] += (x[i][k] - mean) * (x[i][k] - mean);
    }
    for (int i = 0; i < n; i++)
        total += sqrt(sq[i] / (double)count);
    free(sq);
    return total / n;
}

/* Drop every snapshot kept. */
static void snapshots_free(GossipShared *sh, int n)
{
    for (int i = 0; sh->head && sh->tail && i < n; i++) {
        while (sh->head[i]) {
            Snapshot *next = sh->head[i]->next;
            free(sh->head[i]->x);
            free(sh->head[i]);
            sh->head[i] = next;
        }
        sh->tail[i] = NULL;
    }
    sh->ready = 0;
}

/* Measure the oldest step every worker has left a snapshot of. */
static void snapshots_measure(GossipShared *sh, int n, size_t count)
{
    long step = sh->head[0]->step;
    for (int i = 0; i < n; i++)
        sh->heads[i] = sh->head[i]->x;
    if (sh->nconsensus < sh->cap_consensus) {
        sh->consensus[sh->nconsensus] = consensus_distance(sh->heads, n, count);
        sh->consensus_step[sh->nconsensus++] = step;
    }
    sh->ready = 0;
    for (int i = 0; i < n; i++) {
        Snapshot *old = sh->head[i];
        sh->head[i] = old->next;
        if (!sh->head[i])
            sh->tail[i] = NULL;
        sh->ready += sh->head[i] != NULL;
        free(old->x);
        free(old);
    }
}

/* Leave a copy of the parameters for this step's measurement; whoever
 * completes a step's set measures it. */
static void gossip_measure(GossipWorker *w, long step)
{
    GossipShared *sh = w->sh;
    const int n = w->run->nranks;
    const size_t count = w->run->model.nparams;
    if (w->replica.cost || sh->broken)
        return;
    Snapshot *s = malloc(sizeof *s);
    float *x = malloc(count * sizeof(float));
    if (!s || !x) {
        free(s);
        free(x);
        snapshots_free(sh, n);
        sh->broken = 1;
        return;
    }
    memcpy(x, w->replica.params, count * sizeof(float));
    *s = (Snapshot){x, step, NULL};
    if (sh->tail[w->rank]) {
        sh->tail[w->rank]->next = s;
    } else {
        sh->head[w->rank] = s;
        sh->ready++;
    }
    sh->tail[w->rank] = s;
    while (sh->ready == n)
        snapshots_measure(sh, n, count);
}

/* Send the parameters to every neighbour, take theirs, and average. */
static void gossip_average(GossipWorker *w)
{
    Replica *r = &w->replica;
    const size_t n = w->run->model.nparams;
    replica_settle(r, &w->run->rec);
    for (int j = 0; j < w->degree; j++) {
        w->reqs[2 * j] = comm_isend(&w->comm, w->peer[j], r->cost ? NULL : r->params, n);
        w->reqs[2 * j + 1] =
            comm_irecv(&w->comm, w->peer[j], r->cost ? NULL : w->incoming + (size_t)j * n, n);
    }
    comm_waitall(&w->comm, w->reqs, 2 * w->degree);
    double t = record_clock();
    for (size_t k = 0; !r->cost && k < n; k++) {
        float s = w->self_weight * r->params[k];
        for (int j = 0; j < w->degree; j++)
            s += w->weight[j] * w->incoming[(size_t)j * n + k];
        r->params[k] = s;
    }
    double neighbours = (double)w->degree;
    device_kernel(&w->dev, t, 2.0 * (neighbours + 1) * (double)n,
                  (neighbours + 2) * sizeof(float) * (double)n, "average");
}

static void gossip_worker_free(void *state)
{
    GossipWorker *w = state;
    replica_free(&w->replica);
    free(w->peer);
    free(w->weight);
    free(w->incoming);
    free(w->reqs);
    free(w);
}

static void gossip_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    GossipWorker *w = sg_actor_self_get_data();
    Run *run = w->run;
    Replica *r = &w->replica;
    const int b = run->sc->batch;
    for (long step = 1; step <= run->total_steps; step++) {
        const int *batch = sampler_batch(&w->sh->sampler, step - 1);
        replica_load(r, &w->dev, &run->train, batch + (size_t)w->rank * b, b);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, b, 1.0f / (float)b, NULL), b);
        replica_apply(r, &w->dev);
        gossip_average(w);
        if (run_eval_due(run, step))
            gossip_measure(w, step);
        if (w->rank == 0 && run_eval_due(run, step))
            run_evaluate(run, r, step);
        if (w->rank == 0)
            run_progress(run, step);
    }
    replica_settle(r, &run->rec);
    if (w->rank == 0)
        run_keep_params(run, r->params);
    gossip_worker_free(w);
}

static int gossip_worker_describe(void *state, Run *run, int rank, DtError *err)
{
    GossipWorker *w = state;
    GossipShared *sh = run->state;
    const GossipConfig *c = run->sc->strategy_config;
    *w = (GossipWorker){.run = run, .sh = sh, .rank = rank};
    w->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    if (!(w->peer = malloc((size_t)run->nranks * sizeof *w->peer)) ||
        (w->degree = gossip_neighbours(c->topology, run->nranks, rank, w->peer)) < 0)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    record_role(&run->rec, rank, "worker", run->sc->batch);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, run->sc->batch);
    /* the neighbours' parameters, as they arrive */
    need.buffers += (double)w->degree * (double)run->model.nparams * sizeof(float);
    return device_init(&w->dev, run, rank, &need, err);
}

static int gossip_worker_alloc(void *state, DtError *err)
{
    GossipWorker *w = state;
    const Run *run = w->run;
    if (run_replica_init(run, &w->replica, run->sc->batch, err) < 0)
        return -1;
    w->weight = malloc((size_t)(w->degree ? w->degree : 1) * sizeof *w->weight);
    w->reqs = malloc((size_t)(2 * w->degree + 1) * sizeof *w->reqs);
    if (!w->replica.cost)
        w->incoming = malloc((size_t)w->degree * run->model.nparams * sizeof(float) + 1);
    if (!w->weight || !w->reqs || (!w->replica.cost && !w->incoming))
        return dt_fail(err, DT_ERUNTIME, "out of memory for worker %d's neighbours", w->rank);
    /* Metropolis-Hastings: 1 / (1 + the larger degree), the rest to itself */
    double rest = 1.0;
    for (int j = 0; j < w->degree; j++) {
        int d = w->sh->degree[w->peer[j]] > w->degree ? w->sh->degree[w->peer[j]] : w->degree;
        w->weight[j] = (float)(1.0 / (1.0 + d));
        rest -= 1.0 / (1.0 + d);
    }
    w->self_weight = (float)rest;
    return 0;
}

static const RankKind gossip_worker = {
    "rank",
    sizeof(GossipWorker),
    gossip_worker_describe,
    gossip_worker_alloc,
    gossip_worker_free,
    gossip_worker_main,
};

static int gossip_start(Run *run, DtError *err)
{
    const GossipConfig *c = run->sc->strategy_config;
    const int n = run->nranks;
    GossipShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->cap_consensus = (int)(run->total_steps < 100000 ? run->total_steps : 100000);
    sh->degree = malloc((size_t)n * sizeof *sh->degree);
    sh->head = calloc((size_t)n, sizeof *sh->head);
    sh->tail = calloc((size_t)n, sizeof *sh->tail);
    sh->heads = calloc((size_t)n, sizeof *sh->heads);
    sh->consensus = malloc((size_t)sh->cap_consensus * sizeof *sh->consensus);
    sh->consensus_step = malloc((size_t)sh->cap_consensus * sizeof *sh->consensus_step);
    int *peers = malloc((size_t)n * sizeof *peers);
    int ok = sh->degree && sh->head && sh->tail && sh->heads && sh->consensus &&
             sh->consensus_step && peers;
    for (int i = 0; ok && i < n; i++)
        ok = (sh->degree[i] = gossip_neighbours(c->topology, n, i, peers)) >= 0;
    free(peers);
    if (!ok)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (comm_world_init(&sh->world, n, &run->rec, run_wire_bytes(run), err) < 0 ||
        sampler_init(&sh->sampler, run->train.n, run->global_batch, run->sc->seed, err) < 0)
        return -1;
    return run_spawn_all(run, &gossip_worker, err);
}

static void gossip_results(const Run *run, cJSON *root)
{
    const GossipConfig *c = run->sc->strategy_config;
    const GossipShared *sh = run->state;
    cJSON *o = cJSON_AddObjectToObject(root, "gossip");
    cJSON_AddStringToObject(o, "topology", topologies[c->topology]);
    int lo = run->nranks, hi = 0;
    for (int i = 0; i < run->nranks; i++) {
        lo = sh->degree[i] < lo ? sh->degree[i] : lo;
        hi = sh->degree[i] > hi ? sh->degree[i] : hi;
    }
    cJSON_AddNumberToObject(o, "min_degree", lo);
    cJSON_AddNumberToObject(o, "max_degree", hi);
    cJSON *list = cJSON_AddArrayToObject(o, "consensus");
    for (int k = 0; k < sh->nconsensus; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "step", (double)sh->consensus_step[k]);
        cJSON_AddNumberToObject(e, "distance", sh->consensus[k]);
        cJSON_AddItemToArray(list, e);
    }
    if (sh->nconsensus)
        record_measure(root, "consensus_distance", sh->consensus[sh->nconsensus - 1]);
}

static void gossip_stop(Run *run)
{
    GossipShared *sh = run->state;
    if (!sh)
        return;
    sampler_free(&sh->sampler);
    comm_world_free(&sh->world);
    snapshots_free(sh, run->nranks);
    free(sh->head);
    free(sh->tail);
    free(sh->heads);
    free(sh->degree);
    free(sh->consensus);
    free(sh->consensus_step);
    free(sh);
    run->state = NULL;
}

const StrategyOps gossip_strategy = {
    .name = "gossip",
    .summary = "replicas take an SGD step on their own data, then average their parameters with "
               "their neighbours in a ring, torus, exponential graph or complete graph (D-PSGD)",
    .keys = {"strategy", gossip_keys, sizeof gossip_keys / sizeof gossip_keys[0]},
    .config_size = sizeof(GossipConfig),
    .check = gossip_check,
    .global_batch = strategy_workers_batch,
    .ranks = strategy_workers,
    .start = gossip_start,
    .results = gossip_results,
    .stop = gossip_stop,
};
