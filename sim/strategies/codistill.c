/*
 * codistill.c - strategy "codistill": online distillation between groups
 * (codistillation, Anil et al. 2018, "Large scale distributed neural
 * network training through online distillation").
 *
 * The [cluster] workers form `groups` = G groups of W = workers / G
 * devices (ranks g W .. g W + W - 1), each training its own model
 * data-parallel inside itself (a ring all-reduce of the gradient every
 * step), from its own initial parameters and on its own order of the
 * batches; group 0 starts from the scenario's seed.  Every
 * `exchange_every` steps each group's first device sends the group's
 * parameters to the other groups' first devices and receives theirs,
 * then broadcasts what it received inside its group (a tree).  From the
 * first exchange on, every device adds to its loss `distill_weight` x the
 * cross-entropy from the other groups' averaged predictions on its batch
 * (computed with the parameters they last sent: the teachers' forward
 * passes are charged) to its own: the gradient of the logits gains
 * distill_weight x (p - q), q the teachers' mean probabilities (a
 * language model's at every position).  With
 * distill_weight = 0 every group is data-parallel training of its own.
 *
 * Each group's first device evaluates the group's model at the evaluation
 * steps; group 0's are the run's rows.  The summary gives every group's
 * final test accuracy, and the bytes sent between groups (the exchanges)
 * against within them (all-reduces and broadcasts).
 */
#include <cJSON.h>
#include <math.h>
#include <simgrid/actor.h>
#include <stdlib.h>
#include <string.h>
#include <xbt/asserts.h>

#include "collective.h"
#include "gradsync.h"
#include "rng.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"

#define CODISTILL_MAX_GROUPS 64

typedef struct CodConfig {
    int groups;
    int exchange_every;
    double distill_weight;
} CodConfig;

static const KeyDef cod_keys[] = {
    KEYDEF_INT(CodConfig, "groups", groups, 2, CODISTILL_MAX_GROUPS, "2",
               "G: groups, each training its own model data-parallel on [cluster] workers / G "
               "devices"),
    KEYDEF_INT(CodConfig, "exchange_every", exchange_every, 1, 1 << 30, "50",
               "steps between exchanges of the groups' parameters"),
    KEYDEF_REAL(CodConfig, "distill_weight", distill_weight, 0, 0, 1e6, "1",
                "weight of the cross-entropy to the other groups' averaged predictions in each "
                "group's loss (0: the groups train apart)"),
};

typedef struct CodShared {
    CommWorld world;
    int G, W;
    double *accuracy; /* (G) each group's latest test accuracy */
    double between;   /* bytes sent between groups */
} CodShared;

typedef struct CodWorker {
    Run *run;
    CodShared *sh;
    int rank, g, j; /* its group, and its place in the group */
    Device dev;
    Comm comm, talk; /* channel 0: the all-reduces; channel 1: exchanges and broadcasts */
    Replica replica;
    GradSync sync;
    Sampler sampler; /* its group's batches */
    int *group;      /* (W) the world ranks of its group */
    float *teacher;  /* (G - 1 x nparams) the other groups' parameters, as last sent */
    int teachers;    /* 0 before the first exchange, then G - 1 */
    Workspace tws;   /* the teachers' forward passes */
    float *mean;     /* (batch x classes) their averaged probabilities */
    float *soft;     /* (classes) one teacher's, for one sample */
    CommRequest **reqs;
} CodWorker;

static int cod_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const CodConfig *c = sc->strategy_config;
    if (sc->cost)
        return key_fail(given, "groups", err,
                        "codistillation distils the groups' predictions: it needs compute = real");
    if (sc->workers % c->groups)
        return key_fail(given, "groups", err,
                        "groups = %d does not divide [cluster] workers = %d into equal groups",
                        c->groups, sc->workers);
    GradSyncConfig ring = {.allreduce = "ring"};
    return gradsync_check(&ring, sc->workers / c->groups, given, err);
}

/* A group's batch: each of its devices takes [train] batch samples. */
static int cod_global_batch(const Scenario *sc)
{
    const CodConfig *c = sc->strategy_config;
    return sc->batch * (sc->workers / c->groups);
}

static uint64_t group_seed(uint64_t seed, int g)
{
    if (g == 0)
        return seed;
    Rng r = rng_make(seed, 0xC0D1000000000000ULL + (uint64_t)g);
    return rng_next(&r);
}

/* The distillation term, in the step's kernels after the loss: the
 * teachers' mean probabilities q on the batch, and distill_weight x scale
 * x (p - q) added to the gradient of the logits. */
static void cod_after_loss(void *ctx, Replica *r, int batch, float scale)
{
    CodWorker *w = ctx;
    const Model *m = r->m;
    const CodConfig *c = w->run->sc->strategy_config;
    const int C = m->classes, rows = batch * m->positions; /* a language model: every token */
    const size_t cells = (size_t)rows * C;
    if (!w->teachers || c->distill_weight == 0.0)
        return;
    memset(w->mean, 0, cells * sizeof *w->mean);
    for (int t = 0; t < w->teachers; t++) {
        model_forward(m, &w->tws, w->teacher + (size_t)t * m->nparams, r->x, batch);
        const float *z = workspace_output(&w->tws, m->nlayers - 1);
        for (int i = 0; i < rows; i++) {
            const float *zi = z + (size_t)i * C;
            float top = zi[0], *e = w->soft;
            double sum = 0.0;
            for (int k = 1; k < C; k++)
                top = zi[k] > top ? zi[k] : top;
            for (int k = 0; k < C; k++)
                sum += e[k] = expf(zi[k] - top);
            for (int k = 0; k < C; k++)
                w->mean[(size_t)i * C + k] += (float)(e[k] / sum / w->teachers);
        }
    }
    float *dz = workspace_grad(&r->ws, m->nlayers - 1);
    /* per sample, as the loss: a language model's is the mean over positions */
    const float lambda = (float)c->distill_weight * scale / (float)m->positions;
    for (size_t k = 0; k < cells; k++)
        dz[k] += lambda * (r->ws.probs[k] - w->mean[k]);
}

/* The groups' first devices swap parameters; each broadcasts what it got
 * inside its group. */
static void cod_exchange(CodWorker *w)
{
    CodShared *sh = w->sh;
    Replica *r = &w->replica;
    const size_t n = w->run->model.nparams;
    replica_settle(r, &w->run->rec);
    if (w->j == 0) {
        int k = 0;
        for (int h = 0, t = 0; h < sh->G; h++) {
            if (h == w->g)
                continue;
            w->reqs[k++] = comm_isend(&w->talk, h * sh->W, r->params, n);
            w->reqs[k++] = comm_irecv(&w->talk, h * sh->W, w->teacher + (size_t)t++ * n, n);
        }
        comm_waitall(&w->talk, w->reqs, k);
        sh->between += (double)(sh->G - 1) * (double)n * w->talk.world->wire_bytes;
    }
    if (sh->W > 1) {
        Group grp = {.comm = &w->talk, .size = sh->W, .ranks = w->group, .index = w->j};
        const CollectiveOps *bcast = collective_find(COLL_BROADCAST, "tree");
        for (int t = 0; t < sh->G - 1; t++)
            bcast->run(&grp, w->teacher + (size_t)t * n, n, 0);
    }
    w->teachers = sh->G - 1;
}

static void cod_evaluate(CodWorker *w, long step)
{
    Run *run = w->run;
    if (w->g == 0) {
        run_evaluate(run, &w->replica, step);
        w->sh->accuracy[0] = run->rec.nrows ? run->rec.rows[run->rec.nrows - 1].test_accuracy : 0;
        return;
    }
    replica_settle(&w->replica, &run->rec);
    double t = record_clock();
    w->sh->accuracy[w->g] =
        model_evaluate(&run->model, &w->replica.ws, w->replica.params, &run->test, NULL);
    record_kernel(&run->rec, t);
}

static void cod_worker_free(void *state)
{
    CodWorker *w = state;
    if (w->sh && w->sh->W > 1)
        gradsync_free(&w->sync);
    replica_free(&w->replica);
    sampler_free(&w->sampler);
    workspace_free(&w->tws);
    free(w->group);
    free(w->teacher);
    free(w->mean);
    free(w->soft);
    free(w->reqs);
    free(w);
}

static void cod_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    CodWorker *w = sg_actor_self_get_data();
    Run *run = w->run;
    const CodConfig *c = run->sc->strategy_config;
    Replica *r = &w->replica;
    const int B = run->sc->batch, W = w->sh->W;
    double fwd = 0.0, fwd_bytes = 0.0;
    for (int l = 0; l < run->model.nlayers; l++) {
        fwd += model_layer_forward_flops(&run->model, l, B);
        fwd_bytes += model_layer_forward_bytes(&run->model, l, B);
    }
    for (long step = 1; step <= run->total_steps; step++) {
        const int *batch = sampler_batch(&w->sampler, step - 1);
        replica_load(r, &w->dev, &run->train, batch + (size_t)w->j * B, B);
        if (w->teachers && c->distill_weight > 0) /* the teachers' forward passes */
            device_compute(&w->dev, w->teachers * fwd, w->teachers * fwd_bytes, "teachers");
        float scale = 1.0f / (float)(W * B);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, B, scale, NULL), B);
        if (W > 1)
            gradsync_finish(&w->sync);
        replica_apply(r, &w->dev);
        if (step % c->exchange_every == 0 && step < run->total_steps)
            cod_exchange(w);
        if (w->j == 0 && run_eval_due(run, step))
            cod_evaluate(w, step);
        if (w->rank == 0)
            run_progress(run, step);
    }
    replica_settle(r, &run->rec);
    if (w->rank == 0)
        run_keep_params(run, r->params);
    cod_worker_free(w);
}

static int cod_worker_describe(void *state, Run *run, int rank, DtError *err)
{
    CodWorker *w = state;
    CodShared *sh = run->state;
    *w = (CodWorker){.run = run, .sh = sh, .rank = rank, .g = rank / sh->W, .j = rank % sh->W};
    w->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    w->talk = (Comm){.world = &sh->world, .rank = rank, .channel = 1};
    record_role(&run->rec, rank, "worker", run->sc->batch);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, run->sc->batch);
    /* the teachers' parameters, and the activations of their forward passes */
    need.buffers += (double)(sh->G - 1) * (double)model_param_bytes(&run->model) +
                    (double)model_activation_bytes(&run->model, run->sc->batch);
    return device_init(&w->dev, run, rank, &need, err);
}

static int cod_worker_alloc(void *state, DtError *err)
{
    CodWorker *w = state;
    const Run *run = w->run;
    const CodShared *sh = w->sh;
    const int B = run->sc->batch;
    const uint64_t seed = group_seed(run->sc->seed, w->g);
    if (replica_init(&w->replica, &run->model, &run->sc->opt, B, seed, err) < 0 ||
        sampler_init(&w->sampler, run->train.n, run->global_batch, seed, err) < 0 ||
        workspace_init(&w->tws, &run->model, B, err) < 0)
        return -1;
    w->replica.after_loss = cod_after_loss;
    w->replica.after_loss_ctx = w;
    w->group = malloc((size_t)sh->W * sizeof *w->group);
    w->teacher = malloc((size_t)(sh->G - 1) * run->model.nparams * sizeof *w->teacher);
    w->mean = malloc((size_t)B * run->model.positions * run->model.classes * sizeof *w->mean);
    w->soft = malloc((size_t)run->model.classes * sizeof *w->soft);
    w->reqs = malloc(2 * (size_t)sh->G * sizeof *w->reqs);
    if (!w->group || !w->teacher || !w->mean || !w->soft || !w->reqs)
        return dt_fail(err, DT_ERUNTIME, "out of memory for worker %d", w->rank);
    for (int i = 0; i < sh->W; i++)
        w->group[i] = w->g * sh->W + i;
    if (sh->W > 1) {
        static const GradSyncConfig ring = {.allreduce = "ring"};
        Group g = {.comm = &w->comm, .size = sh->W, .ranks = w->group, .index = w->j};
        gradsync_init(&w->sync, &ring, &g, w->replica.grads, run->model.nparams, NULL,
                      run->total_steps);
    }
    return 0;
}

static const RankKind cod_worker_kind = {
    "worker",         sizeof(CodWorker), cod_worker_describe,
    cod_worker_alloc, cod_worker_free,   cod_worker_main,
};

static int cod_start(Run *run, DtError *err)
{
    const CodConfig *c = run->sc->strategy_config;
    CodShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh || !(sh->accuracy = calloc((size_t)c->groups, sizeof *sh->accuracy)))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->G = c->groups;
    sh->W = run->nranks / c->groups;
    if (comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0)
        return -1;
    return run_spawn_all(run, &cod_worker_kind, err);
}

static void cod_results(const Run *run, cJSON *root)
{
    const CodConfig *c = run->sc->strategy_config;
    const CodShared *sh = run->state;
    double total = 0.0;
    for (int r = 0; r < run->nranks; r++)
        total += run->rec.ranks[r].bytes_sent;
    cJSON *o = cJSON_AddObjectToObject(root, "codistill");
    cJSON_AddNumberToObject(o, "groups", sh->G);
    cJSON_AddNumberToObject(o, "group_workers", sh->W);
    cJSON_AddNumberToObject(o, "exchange_every", c->exchange_every);
    cJSON_AddNumberToObject(o, "distill_weight", c->distill_weight);
    cJSON_AddNumberToObject(o, "bytes_between_groups", sh->between);
    cJSON_AddNumberToObject(o, "bytes_within_groups", total - sh->between);
    cJSON *list = cJSON_AddArrayToObject(o, "group_test_accuracy");
    for (int g = 0; g < sh->G; g++)
        cJSON_AddItemToArray(list, cJSON_CreateNumber(sh->accuracy[g]));
    record_measure(root, "bytes_between_groups", sh->between);
}

static void cod_stop(Run *run)
{
    CodShared *sh = run->state;
    if (!sh)
        return;
    comm_world_free(&sh->world);
    free(sh->accuracy);
    free(sh);
    run->state = NULL;
}

const StrategyOps codistill_strategy = {
    .name = "codistill",
    .summary = "groups train data-parallel apart and now and then swap parameters; each adds "
               "the cross-entropy to the others' predictions to its loss (online distillation)",
    .keys = {"strategy", cod_keys, sizeof cod_keys / sizeof cod_keys[0]},
    .config_size = sizeof(CodConfig),
    .check = cod_check,
    .global_batch = cod_global_batch,
    .ranks = strategy_workers,
    .start = cod_start,
    .results = cod_results,
    .stop = cod_stop,
};
