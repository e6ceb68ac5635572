/*
 * federated.c - strategy "federated": federated averaging (FedAvg,
 * McMahan et al. 2017, "Communication-efficient learning of deep networks
 * from decentralized data").
 *
 * Rank 0, the server, holds the global model, on the first host (natural
 * order; an edge platform names it so); `clients` = K more ranks, client
 * k on rank k + 1, each hold their own part of the training set
 * (`partition`: iid, shards or dirichlet; core/partition.h).
 * Each of the [train] rounds, a seeded sample of max(1, floor(fraction x
 * K)) clients (the same sample in every run of the seed) receives the
 * global model from the server, trains `local_epochs` passes over its own
 * part in batches of [train] batch (a fresh shuffle each pass, the last
 * batch of a pass the rest of the part) with a fresh optimizer, and sends
 * its parameters back; the server replaces the global model with their
 * average weighted by the clients' sample counts, added in client order.
 * So each round sends 2 x the model's bytes per client taking part.
 *
 * With `round_deadline` = D > 0, a client whose parameters have not
 * arrived D simulated seconds after the round began (a slow link, a slow
 * device, a [faults] slowdown) is left out of the round, which goes on
 * without it.  It does not know: it finishes and uploads anyway, on links
 * it shares with the next rounds, and the server drops what it sends.
 * The run ends when the last of those uploads has arrived; the summary
 * gives when the final model was ready.  A client late round after round
 * falls further behind: the models it has yet to take and the uploads it
 * has yet to make wait in memory (a real server would stop choosing it).
 *
 * With every client every round, one local epoch and a batch that is each
 * client's whole (equal, iid) part, plain SGD, a round is one step of
 * synchronous data-parallel SGD on the whole training set, up to the order
 * of float additions.
 */
#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xbt/asserts.h>

#include "comm.h"
#include "partition.h"
#include "rng.h"
#include "run.h"
#include "strategy.h"

static const char *const partitions[] = {"iid", "shards", "dirichlet", NULL};

typedef struct FedConfig {
    int clients; /* 0: [cluster] workers */
    double fraction;
    int local_epochs;
    int partition; /* PartitionKind */
    double alpha;
    double round_deadline; /* 0: none */
} FedConfig;

static const KeyDef fed_keys[] = {
    KEYDEF_INT(FedConfig, "clients", clients, 1, 1 << 20, "([cluster] workers)",
               "K: client devices, each holding its own part of the training set (one rank "
               "each, and one more for the server)"),
    KEYDEF_REAL(FedConfig, "fraction", fraction, 0, 1, 1, "0.1",
                "C: the share of the clients sampled each round, in (0, 1]; at least one"),
    KEYDEF_INT(FedConfig, "local_epochs", local_epochs, 1, 4096, "1",
               "E: passes each sampled client makes over its own part per round"),
    KEYDEF_ENUM(FedConfig, "partition", partition, partitions, "iid",
                "how the training set is split among the clients: iid (equal random parts), "
                "shards (sorted by label, two shards a client) or dirichlet (label shares from "
                "Dirichlet(alpha))"),
    {.name = "alpha",
     .type = KEY_DOUBLE,
     .offset = offsetof(FedConfig, alpha),
     .min = 1e-3,
     .max = 1e6,
     .def = "0.5",
     .help = "Dirichlet concentration: small, few labels a client; large, close to iid",
     .when = "partition",
     .is = "dirichlet"},
    KEYDEF_REAL(FedConfig, "round_deadline", round_deadline, 0, 0, 1e12, "0",
                "simulated seconds after a round begins by which a client's parameters must "
                "have arrived, or the round goes on without them (0: wait for every client)"),
};

typedef struct FedRound {
    int selected, took_part;
    double start, end; /* simulated seconds */
    double accuracy;   /* NAN when not evaluated after this round */
} FedRound;

/* An upload that has arrived at the server: whose, for which round. */
typedef struct FedArrival {
    int client;
    long round;
} FedArrival;

typedef struct FedShared {
    CommWorld world;
    /* The clients tell the server of each upload that has arrived (one
     * release of `arrivals` each, the facts in the queue), so that it can
     * wait for the next one with a deadline. */
    sg_sem_t arrivals;
    FedArrival *queue;
    size_t qhead, qtail, qcap;
    Partition part;
    int clients, per_round; /* K, m */
    int *chosen;            /* (rounds x m) each round's clients, ascending */
    FedRound *rounds;       /* (rounds) */
    double final_model_at;  /* when the last round's model was ready */
    long late;              /* uploads that missed their round */
} FedShared;

static int fed_clients(const Scenario *sc)
{
    const FedConfig *c = sc->strategy_config;
    return c->clients ? c->clients : sc->workers;
}

static int fed_per_round(const Scenario *sc)
{
    const FedConfig *c = sc->strategy_config;
    int m = (int)(c->fraction * fed_clients(sc) + 1e-9);
    return m < 1 ? 1 : m;
}

/* One local step of every client of a round: what its FLOPs per step are
 * counted on (a client whose part is smaller than its batch takes the
 * whole part instead, so this may exceed the training set). */
static int fed_global_batch(const Scenario *sc)
{
    long g = (long)sc->batch * fed_per_round(sc);
    return g > INT_MAX ? INT_MAX : (int)g;
}

static int fed_ranks(const Scenario *sc)
{
    return fed_clients(sc) + 1;
}

static int fed_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const FedConfig *c = sc->strategy_config;
    if (!sc->steps)
        return dt_fail(err, DT_EINPUT,
                       "%s: strategy federated counts rounds: give [train] rounds = R (or steps)",
                       sc->path);
    if (c->partition != PARTITION_IID && (sc->dataset == DATA_TEXT || sc->cost))
        return key_fail(given, "partition", err,
                        "partition = %s splits by label: it needs labelled images (not text) "
                        "and compute = real",
                        partitions[c->partition]);
    return 0;
}

/* ---- clients --------------------------------------------------------- */

typedef struct FedClient {
    Run *run;
    FedShared *sh;
    int rank;
    int client; /* rank - 1 */
    Device dev;
    Comm comm;
    Replica replica;
    int *order; /* (its part) this pass's order of its samples */
} FedClient;

static int fed_is_chosen(const FedShared *sh, long round, int client)
{
    const int *row = sh->chosen + (size_t)round * sh->per_round;
    int lo = 0, hi = sh->per_round;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (row[mid] < client)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sh->per_round && row[lo] == client;
}

/* Tell the server that client's upload for round has arrived. */
static void fed_arrived(FedShared *sh, int client, long round)
{
    if (sh->qtail - sh->qhead == sh->qcap) {
        size_t cap = 2 * sh->qcap + 16;
        FedArrival *q = malloc(cap * sizeof *q);
        xbt_assert(q, "out of memory for the server's arrivals");
        for (size_t i = sh->qhead; i < sh->qtail; i++)
            q[i - sh->qhead] = sh->queue[i % sh->qcap];
        free(sh->queue);
        sh->queue = q;
        sh->qtail -= sh->qhead;
        sh->qhead = 0;
        sh->qcap = cap;
    }
    sh->queue[sh->qtail++ % sh->qcap] = (FedArrival){client, round};
    sg_sem_release(sh->arrivals);
}

/* local_epochs passes over the client's own part, from the model it was
 * sent, with a fresh optimizer. */
static void fed_local_train(FedClient *w, long round)
{
    Run *run = w->run;
    const FedConfig *c = run->sc->strategy_config;
    Replica *r = &w->replica;
    const int nk = partition_size(&w->sh->part, w->client), B = run->sc->batch;
    const int *mine = w->sh->part.idx + w->sh->part.start[w->client];
    optim_reset(&r->opt);
    for (int e = 0; e < c->local_epochs && nk > 0; e++) {
        memcpy(w->order, mine, (size_t)nk * sizeof *w->order);
        /* disjoint fields: epoch bits 0-3 and 56-63, client 4-23, round 24-55 */
        uint64_t stream = 0xFED5000000000000ULL ^ ((uint64_t)round << 24) ^
                          ((uint64_t)w->client << 4) ^ (uint64_t)(e & 15) ^
                          ((uint64_t)(e >> 4) << 56);
        Rng rng = rng_make(run->sc->seed, stream);
        rng_shuffle(&rng, w->order, nk);
        for (int off = 0; off < nk; off += B) {
            int b = nk - off < B ? nk - off : B;
            replica_load(r, &w->dev, &run->train, w->order + off, b);
            run_add_loss(run, replica_compute_gradients(r, &w->dev, b, 1.0f / (float)b, NULL), b);
            replica_apply(r, &w->dev);
        }
    }
    replica_settle(r, &run->rec);
}

static void fed_client_free(void *state)
{
    FedClient *w = state;
    replica_free(&w->replica);
    free(w->order);
    free(w);
}

static void fed_client_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    FedClient *w = sg_actor_self_get_data();
    Run *run = w->run;
    Replica *r = &w->replica;
    const int server = 0;
    const size_t n = run->model.nparams;
    for (long round = 0; round < run->total_steps; round++) {
        if (!fed_is_chosen(w->sh, round, w->client))
            continue;
        replica_settle(r, &run->rec);
        if (comm_recv(&w->comm, server, r->cost ? NULL : r->params, n) < 0)
            break;
        fed_local_train(w, round);
        if (comm_send(&w->comm, server, r->cost ? NULL : r->params, n) < 0)
            break;
        fed_arrived(w->sh, w->client, round);
    }
    fed_client_free(w);
}

static int fed_client_describe(void *state, Run *run, int rank, DtError *err)
{
    FedClient *w = state;
    FedShared *sh = run->state;
    *w = (FedClient){.run = run, .sh = sh, .rank = rank, .client = rank - 1};
    w->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    record_role(&run->rec, rank, "client", run->sc->batch);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, run->sc->batch);
    return device_init(&w->dev, run, rank, &need, err);
}

static int fed_client_alloc(void *state, DtError *err)
{
    FedClient *w = state;
    int nk = partition_size(&w->sh->part, w->client);
    if (run_replica_init(w->run, &w->replica, w->run->sc->batch, err) < 0)
        return -1;
    if (!(w->order = malloc((size_t)(nk ? nk : 1) * sizeof *w->order)))
        return dt_fail(err, DT_ERUNTIME, "out of memory for client %d's samples", w->client);
    return 0;
}

static const RankKind fed_client_kind = {
    "client",         sizeof(FedClient), fed_client_describe,
    fed_client_alloc, fed_client_free,   fed_client_main,
};

/* ---- the server -------------------------------------------------------- */

/* A request of the server's: a model sent, or a client's parameters on
 * their way (into buf), for round `round`. */
typedef struct FedPending {
    CommRequest *req;
    float *buf; /* a receive's */
    int client;
    long round;
    int recv; /* 1: the client's upload; 0: the model sent to it */
} FedPending;

typedef struct FedServer {
    Run *run;
    FedShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica global;   /* the global model (its params), evaluated after the rounds */
    FedPending *pend; /* (cap) this round's 2m requests first, then late ones */
    int npend, cap;
    char *arrived; /* (m) this round's client i has sent its parameters in time */
    float **in;    /* (m) their parameters */
} FedServer;

/* Send the model to this round's clients and post the receives of their
 * uploads: pend[0 .. m) the sends, pend[m .. 2m) the receives, the
 * requests of earlier rounds moved behind them. */
static void fed_server_post(FedServer *s, long round)
{
    const int m = s->sh->per_round;
    const size_t n = s->run->model.nparams;
    const int *row = s->sh->chosen + (size_t)round * m;
    if (s->npend + 2 * m > s->cap) {
        s->cap = 2 * (s->npend + 2 * m);
        s->pend = realloc(s->pend, (size_t)s->cap * sizeof *s->pend);
        xbt_assert(s->pend, "out of memory for the server's requests");
    }
    memmove(s->pend + 2 * m, s->pend, (size_t)s->npend * sizeof *s->pend);
    s->npend += 2 * m;
    for (int i = 0; i < m; i++) {
        float *buf = s->global.cost ? NULL : malloc(n * sizeof(float));
        xbt_assert(s->global.cost || buf, "out of memory for a client's parameters");
        s->pend[i] = (FedPending){comm_isend(&s->comm, row[i] + 1, s->global.params, n), NULL,
                                  row[i], round, 0};
        s->pend[m + i] =
            (FedPending){comm_irecv(&s->comm, row[i] + 1, buf, n), buf, row[i], round, 1};
        s->arrived[i] = 0;
        s->in[i] = buf;
    }
}

/* The pending receive of client's upload for round: its index in pend. */
static int fed_server_find(const FedServer *s, int client, long round)
{
    const int m = s->sh->per_round;
    for (int i = m; i < s->npend; i++)
        if (s->pend[i].recv && s->pend[i].req && s->pend[i].client == client &&
            s->pend[i].round == round)
            return i;
    xbt_die("federated: an upload of client %d for round %ld that nobody waits for", client,
            round + 1);
}

/* Take this round's uploads as they arrive, until all have or the
 * deadline has passed; uploads of earlier rounds that arrive meanwhile are
 * dropped. */
static void fed_server_collect(FedServer *s, long round, double start)
{
    const FedConfig *c = s->run->sc->strategy_config;
    FedShared *sh = s->sh;
    const int m = sh->per_round;
    for (int got = 0; got < m;) {
        double t0 = simgrid_get_clock(), left = start + c->round_deadline - t0;
        int timed_out = 0;
        if (c->round_deadline > 0)
            timed_out = left <= 0 || sg_sem_acquire_timeout(sh->arrivals, left);
        else
            sg_sem_acquire(sh->arrivals);
        record_span(&s->run->rec, s->rank, SPAN_WAIT, "wait", t0, simgrid_get_clock());
        if (timed_out)
            break;
        FedArrival a = sh->queue[sh->qhead++ % sh->qcap];
        int k = fed_server_find(s, a.client, a.round);
        comm_wait(&s->comm, s->pend[k].req); /* it is over: this returns at once */
        s->pend[k].req = NULL;
        if (a.round == round) {
            s->arrived[k - m] = 1;
            got++;
        } else {
            free(s->pend[k].buf); /* a late upload, dropped */
            s->pend[k] = s->pend[--s->npend];
        }
    }
}

/* After a round: forget the requests that are over (the uploads that
 * came in time, the models the clients have taken) and keep the others,
 * counting this round's late uploads. */
static void fed_server_tidy(FedServer *s)
{
    const int m = s->sh->per_round;
    int kept = 0;
    for (int i = 0; i < s->npend; i++) {
        FedPending p = s->pend[i];
        if (!p.recv && p.req && comm_reap(&s->comm, &p.req, 1) == 0)
            p.req = NULL;
        if (p.req) {
            s->sh->late += p.recv && i < 2 * m;
            s->pend[kept++] = p;
        } else {
            free(p.buf);
        }
    }
    s->npend = kept;
}

/* Replace the global model with the weighted average of the parameters
 * that arrived in time; keep what is still on its way as late requests.
 * Returns the clients that took part. */
static int fed_server_average(FedServer *s)
{
    const FedConfig *c = s->run->sc->strategy_config;
    const FedShared *sh = s->sh;
    const int m = sh->per_round;
    const size_t n = s->run->model.nparams;
    double total = 0.0;
    int took = 0;
    for (int i = 0; i < m; i++)
        if (s->arrived[i]) {
            total += partition_size(&sh->part, s->pend[m + i].client);
            took++;
        }
    s->run->samples_trained += total * c->local_epochs;
    double t = record_clock();
    int first = 1;
    for (int i = 0; !s->global.cost && total > 0 && i < m; i++) {
        if (!s->arrived[i])
            continue;
        float wgt = (float)(partition_size(&sh->part, s->pend[m + i].client) / total);
        float *x = s->global.params, *in = s->in[i];
        for (size_t k = 0; k < n; k++)
            x[k] = first ? wgt * in[k] : x[k] + wgt * in[k];
        first = 0;
    }
    device_kernel(&s->dev, t, 2.0 * took * (double)n, (took + 1.0) * sizeof(float) * (double)n,
                  "average");
    fed_server_tidy(s);
    return took;
}

static void fed_server_free(void *state)
{
    FedServer *s = state;
    for (int i = 0; i < s->npend; i++)
        free(s->pend[i].buf);
    free(s->pend);
    free(s->arrived);
    free(s->in);
    replica_free(&s->global);
    free(s);
}

/* The round's facts, and the test set's verdict on the new model when an
 * evaluation is due. */
static void fed_server_report(FedServer *s, long round, int took)
{
    Run *run = s->run;
    FedRound *fr = &s->sh->rounds[round];
    fr->took_part = took;
    fr->end = simgrid_get_clock();
    if (run_eval_due(run, round + 1)) {
        run_evaluate(run, &s->global, round + 1);
        if (run->rec.nrows)
            fr->accuracy = run->rec.rows[run->rec.nrows - 1].test_accuracy;
    }
    run_progress(run, round + 1);
}

static void fed_server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    FedServer *s = sg_actor_self_get_data();
    Run *run = s->run;
    for (long round = 0; round < run->total_steps; round++) {
        FedRound *fr = &s->sh->rounds[round];
        *fr =
            (FedRound){.selected = s->sh->per_round, .start = simgrid_get_clock(), .accuracy = NAN};
        fed_server_post(s, round);
        fed_server_collect(s, round, fr->start);
        fed_server_report(s, round, fed_server_average(s));
    }
    s->sh->final_model_at = simgrid_get_clock();
    /* what is still on its way: late uploads, models to late clients */
    for (int i = 0; i < s->npend; i++)
        comm_wait(&s->comm, s->pend[i].req);
    for (int i = 0; i < s->npend; i++)
        free(s->pend[i].buf);
    s->npend = 0;
    replica_settle(&s->global, &run->rec);
    run_keep_params(run, s->global.params);
    fed_server_free(s);
}

static int fed_server_describe(void *state, Run *run, int rank, DtError *err)
{
    FedServer *s = state;
    FedShared *sh = run->state;
    *s = (FedServer){.run = run, .sh = sh, .rank = rank};
    s->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    record_role(&run->rec, rank, "server", 0);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, run->sc->batch);
    /* the parameters of a round's clients, as they arrive */
    need.buffers += (double)sh->per_round * (double)run->model.nparams * sizeof(float);
    return device_init(&s->dev, run, rank, &need, err);
}

static int fed_server_alloc(void *state, DtError *err)
{
    FedServer *s = state;
    const int m = s->sh->per_round;
    if (run_replica_init(s->run, &s->global, s->run->sc->batch, err) < 0)
        return -1;
    s->arrived = calloc((size_t)m, 1);
    s->in = calloc((size_t)m, sizeof *s->in);
    if (!s->arrived || !s->in)
        return dt_fail(err, DT_ERUNTIME, "out of memory for the server");
    return 0;
}

static const RankKind fed_server_kind = {
    "server",         sizeof(FedServer), fed_server_describe,
    fed_server_alloc, fed_server_free,   fed_server_main,
};

static const RankKind *fed_kind(const Run *run, int rank)
{
    (void)run;
    return rank == 0 ? &fed_server_kind : &fed_client_kind;
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Each round's clients: m drawn without replacement, from a permutation
 * that each round's draw goes on shuffling (partial Fisher-Yates). */
static int fed_choose(FedShared *sh, long rounds, uint64_t seed, DtError *err)
{
    const int K = sh->clients, m = sh->per_round;
    int *perm = malloc((size_t)K * sizeof *perm);
    sh->chosen = malloc((size_t)rounds * (size_t)m * sizeof *sh->chosen);
    sh->rounds = calloc((size_t)rounds, sizeof *sh->rounds);
    if (!perm || !sh->chosen || !sh->rounds) {
        free(perm);
        return dt_fail(err, DT_ERUNTIME, "out of memory for %ld rounds of %d clients", rounds, m);
    }
    for (int k = 0; k < K; k++)
        perm[k] = k;
    for (long r = 0; r < rounds; r++) {
        Rng rng = rng_make(seed, 0xFED4000000000000ULL + (uint64_t)r);
        int *row = sh->chosen + (size_t)r * m;
        for (int i = 0; i < m; i++) {
            int j = i + (int)rng_below(&rng, (uint32_t)(K - i)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            row[i] = perm[i];
        }
        qsort(row, (size_t)m, sizeof *row, int_cmp);
    }
    free(perm);
    return 0;
}

static int fed_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    const FedConfig *c = sc->strategy_config;
    FedShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->clients = fed_clients(sc);
    sh->per_round = fed_per_round(sc);
    if (partition_make(&sh->part, (PartitionKind)c->partition, run->train.y, run->train.targets,
                       run->train.n, run->train.classes, sh->clients, c->alpha, sc->seed,
                       err) < 0) {
        if (!err || err->kind != DT_EINPUT)
            return -1;
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return dt_fail(err, DT_EINPUT, "%s: [strategy] clients = %d, partition = %s: %s", sc->path,
                       sh->clients, partitions[c->partition], why);
    }
    if (fed_choose(sh, run->total_steps, sc->seed, err) < 0)
        return -1;
    /* an epoch (when evaluations are due by default): the rounds that
     * train on about as many samples as the training set holds */
    double per_epoch = (double)sh->clients / ((double)sh->per_round * c->local_epochs);
    run->steps_per_epoch = per_epoch > 1 ? (int)per_epoch : 1;
    if (comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0)
        return -1;
    sh->arrivals = sg_sem_init(0);
    return run_spawn(run, fed_kind, err);
}

static void fed_results(const Run *run, cJSON *root)
{
    const FedConfig *c = run->sc->strategy_config;
    const FedShared *sh = run->state;
    const double model_bytes = (double)run->model.nparams * run_wire_bytes(run);
    cJSON *o = cJSON_AddObjectToObject(root, "federated");
    cJSON_AddNumberToObject(o, "clients", sh->clients);
    cJSON_AddNumberToObject(o, "clients_per_round", sh->per_round);
    cJSON_AddNumberToObject(o, "local_epochs", c->local_epochs);
    cJSON_AddStringToObject(o, "partition", partitions[c->partition]);
    if (c->partition == PARTITION_DIRICHLET)
        cJSON_AddNumberToObject(o, "alpha", c->alpha);
    int lo = run->train.n, hi = 0;
    for (int k = 0; k < sh->clients; k++) {
        int nk = partition_size(&sh->part, k);
        lo = nk < lo ? nk : lo;
        hi = nk > hi ? nk : hi;
    }
    cJSON_AddNumberToObject(o, "min_client_samples", lo);
    cJSON_AddNumberToObject(o, "max_client_samples", hi);
    cJSON_AddNumberToObject(o, "round_deadline", c->round_deadline);
    cJSON_AddNumberToObject(o, "late_uploads", (double)sh->late);
    cJSON_AddNumberToObject(o, "final_model_seconds", sh->final_model_at);
    cJSON *list = cJSON_AddArrayToObject(o, "rounds");
    for (long r = 0; r < run->total_steps; r++) {
        const FedRound *fr = &sh->rounds[r];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "round", (double)(r + 1));
        cJSON_AddNumberToObject(e, "selected", fr->selected);
        cJSON_AddNumberToObject(e, "took_part", fr->took_part);
        cJSON_AddNumberToObject(e, "bytes", 2.0 * fr->selected * model_bytes);
        cJSON_AddNumberToObject(e, "start_seconds", fr->start);
        cJSON_AddNumberToObject(e, "end_seconds", fr->end);
        if (!isnan(fr->accuracy))
            cJSON_AddNumberToObject(e, "test_accuracy", fr->accuracy);
        cJSON_AddItemToArray(list, e);
    }
}

static void fed_stop(Run *run)
{
    FedShared *sh = run->state;
    if (!sh)
        return;
    comm_world_free(&sh->world);
    if (sh->arrivals)
        sg_sem_destroy(sh->arrivals);
    free(sh->queue);
    partition_free(&sh->part);
    free(sh->chosen);
    free(sh->rounds);
    free(sh);
    run->state = NULL;
}

const StrategyOps federated_strategy = {
    .name = "federated",
    .summary = "FedAvg: each round a sample of clients, each holding its own part of the data, "
               "trains the server's model locally; the server averages their parameters",
    .rounds = 1,
    .keys = {"strategy", fed_keys, sizeof fed_keys / sizeof fed_keys[0]},
    .config_size = sizeof(FedConfig),
    .check = fed_check,
    .global_batch = fed_global_batch,
    .ranks = fed_ranks,
    .workers = fed_clients,
    .workers_key = "[strategy] clients",
    .start = fed_start,
    .results = fed_results,
    .stop = fed_stop,
};
