/*
 * ensemble.c - strategy "ensemble": several models trained apart, whose
 * predictions are combined (`method`):
 *
 *   bagging   `members` = k models trained at once, member m on its own
 *             `member_workers` = w devices (ranks m w .. m w + w - 1,
 *             data-parallel with a ring all-reduce when w > 1), each on
 *             its own bootstrap sample of the training set (n draws with
 *             replacement, seeded; `bootstrap = off`: the whole set) and
 *             from its own initial parameters; the ensemble predicts the
 *             class of the members' averaged probabilities (`vote =
 *             majority`: of their votes).  Member 0 starts from the
 *             scenario's seed and, without bootstrap, draws the batches
 *             serial training draws: one member without bootstrap is
 *             serial training.
 *   stacking  the members (`member_models` may make them differ) train
 *             at once, as bagging without bootstrap, on the training set
 *             less a seeded `holdout` share; then each sends its
 *             probabilities on the held-out samples to one more rank, the
 *             server, which trains a meta-model (softmax regression on
 *             the k concatenated probability vectors) on them for
 *             `meta_epochs` passes, with the [train] optimizer.
 *   boosting  multi-class AdaBoost (SAMME, Zhu et al. 2009): k members,
 *             one after another, on the same w devices; member m trains
 *             on n samples drawn with replacement in proportion to the
 *             sample weights, then predicts the whole training set (each
 *             device its block, gathered with a ring all-gather), and
 *             with its weighted error err gets the weight alpha =
 *             log((1 - err) / err) + log(K - 1); the weights of the
 *             samples it got wrong are multiplied by exp(alpha).  The
 *             ensemble predicts the class of the largest alpha-weighted
 *             vote.  A member no better than chance (err >= 1 - 1/K) gets
 *             alpha = 0 and leaves the weights as they were.
 *
 * Each member trains [train] steps (or epochs of the whole training set)
 * with batches of [train] batch per device.  The test set's verdict on
 * the ensemble is a measurement, as every evaluation is: bagging and
 * stacking evaluate every member at each evaluation step and the last
 * member to get there records the combined accuracy (stacking's last row
 * is the meta-model's); boosting records one row when each member is
 * done.  Predictions that training needs (boosting's on the training set,
 * stacking's on the held-out part) are work: charged as forward passes.
 */
#include <cJSON.h>
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xbt/asserts.h>

#include "collective.h"
#include "gradsync.h"
#include "rng.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"

#define ENS_MAX_MEMBERS 64

enum { ENS_BAGGING, ENS_STACKING, ENS_BOOSTING };
static const char *const methods[] = {"bagging", "stacking", "boosting", NULL};
enum { VOTE_AVERAGE, VOTE_MAJORITY };
static const char *const votes[] = {"average", "majority", NULL};
static const char *const off_on[] = {"off", "on", NULL};

typedef struct EnsConfig {
    int method;
    int members;
    int member_workers;
    int bootstrap;
    int vote;
    char member_models[1024];
    double holdout;
    int meta_epochs;
} EnsConfig;

static const KeyDef ens_keys[] = {
    KEYDEF_ENUM(EnsConfig, "method", method, methods, "bagging",
                "how the members learn and combine: bagging (at once, each on its own "
                "bootstrap sample; averaged probabilities), stacking (at once; a meta-model "
                "learns to combine them on held-out data) or boosting (one after another, "
                "each on the samples its predecessors got wrong; SAMME)"),
    KEYDEF_INT(EnsConfig, "members", members, 1, ENS_MAX_MEMBERS, "4", "k: the models"),
    KEYDEF_INT(EnsConfig, "member_workers", member_workers, 1, 1 << 16, "1",
               "devices each member trains on, data-parallel (ring all-reduce); the ranks are "
               "members x member_workers (boosting: member_workers), plus a server for "
               "stacking"),
    {.name = "bootstrap",
     .type = KEY_ENUM,
     .offset = offsetof(EnsConfig, bootstrap),
     .choices = off_on,
     .def = "on",
     .help = "on: each member trains on its own bootstrap sample; off: on the whole set",
     .when = "method",
     .is = "bagging"},
    {.name = "vote",
     .type = KEY_ENUM,
     .offset = offsetof(EnsConfig, vote),
     .choices = votes,
     .def = "average",
     .help = "average: the class of the averaged probabilities; majority: of the votes",
     .when = "method",
     .is = "bagging"},
    {.name = "member_models",
     .type = KEY_STRING,
     .offset = offsetof(EnsConfig, member_models),
     .size = sizeof(((EnsConfig *)0)->member_models),
     .def = "(every member the [model])",
     .help = "bagging and stacking: each member's model, ';' between members: KIND or "
             "KIND:VALUE (VALUE for the kind's first key), e.g. mlp:256,128; mlp:64; cnn"},
    {.name = "holdout",
     .type = KEY_DOUBLE,
     .offset = offsetof(EnsConfig, holdout),
     .min = 0,
     .min_open = 1,
     .max = 0.9,
     .def = "0.2",
     .help = "the share of the training set the members do not see and the meta-model "
             "learns on",
     .when = "method",
     .is = "stacking"},
    {.name = "meta_epochs",
     .type = KEY_INT,
     .offset = offsetof(EnsConfig, meta_epochs),
     .min = 1,
     .max = 1e6,
     .def = "20",
     .help = "passes of the meta-model over the held-out predictions",
     .when = "method",
     .is = "stacking"},
};

/* ---- the members' models ------------------------------------------------ */

/* Member m's part of member_models, trimmed ("" when member_models is
 * empty); -1 when it has fewer parts. */
static int member_text(const EnsConfig *c, int m, char *out, size_t size)
{
    const char *p = c->member_models;
    out[0] = '\0';
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (!*p)
        return 0;
    for (int i = 0; i < m; i++) {
        if (!(p = strchr(p, ';')))
            return -1;
        p++;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    size_t len = strcspn(p, ";");
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n'))
        len--;
    snprintf(out, size, "%.*s", (int)len, p);
    return 0;
}

/* How many models member_models names (0 when empty). */
static int member_count(const EnsConfig *c)
{
    char text[sizeof c->member_models];
    if (member_text(c, 0, text, sizeof text) < 0 || !text[0])
        return 0;
    int n = 1;
    for (const char *p = c->member_models; (p = strchr(p, ';')); p++)
        n++;
    return n;
}

/* Build member m's model: "KIND" or "KIND:VALUE" ("KIND:key=value" works
 * too), or the scenario's [model] when member_models is empty. */
static int member_model(const Scenario *sc, int m, Model *model, DtError *err)
{
    const EnsConfig *c = sc->strategy_config;
    char text[sizeof c->member_models], kind[64], setting[sizeof text + 64];
    member_text(c, m, text, sizeof text);
    if (!text[0])
        return model_build(model, &sc->model, err);
    size_t klen = strcspn(text, ":");
    snprintf(kind, sizeof kind, "%.*s", (int)klen, text);
    const ModelOps *ops = model_find(kind);
    if (!ops) {
        char kinds[256];
        model_kinds(kinds, sizeof kinds);
        return dt_fail(err, DT_EINPUT, "member %d: no model kind '%s' (kinds: %s)", m + 1, kind,
                       kinds);
    }
    const char *settings[2] = {NULL, NULL};
    if (text[klen] == ':') {
        const char *value = text + klen + 1;
        if (strchr(value, '='))
            snprintf(setting, sizeof setting, "%s", value);
        else
            snprintf(setting, sizeof setting, "%s=%s", ops->keys.keys[0].name, value);
        settings[0] = setting;
    }
    ModelSpec spec;
    int rc = model_spec_init(&spec, kind, settings, sc->model.input, sc->model.classes, err);
    if (rc == 0)
        rc = model_build(model, &spec, err);
    model_spec_free(&spec);
    const Shape in = sc->model.input;
    if (rc == 0 && (ops->sequence || model->positions != 1 || model->classes != sc->model.classes ||
                    model->input.c != in.c || model->input.h != in.h || model->input.w != in.w))
        rc = dt_fail(err, DT_EINPUT,
                     "a %s reads other inputs than the [model]'s images (a member classifies the "
                     "same images)",
                     kind);
    if (rc < 0 && err) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return dt_fail(err, DT_EINPUT, "member %d (%s): %s", m + 1, text, why);
    }
    return rc;
}

static int ens_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const EnsConfig *c = sc->strategy_config;
    if (sc->dataset == DATA_TEXT || sc->cost || sc->model.ops->sequence)
        return key_fail(given, "method", err,
                        "an ensemble combines the class predictions of image classifiers "
                        "trained for real: not a language model, nor compute = cost");
    int named = member_count(c);
    if (named && c->method == ENS_BOOSTING)
        return key_fail(given, "member_models", err,
                        "boosting trains every member as the [model]: leave member_models out");
    if (named && named != c->members)
        return key_fail(given, "member_models", err, "%d models for members = %d", named,
                        c->members);
    for (int m = 0; m < named; m++) {
        Model model;
        DtError why = {0};
        if (member_model(sc, m, &model, &why) < 0)
            return key_fail(given, "member_models", err, "%s", why.msg);
    }
    if ((long)sc->batch * c->member_workers > (1L << 30))
        return key_fail(given, "member_workers", err,
                        "[train] batch x member_workers = %ld samples a step, more than the %ld "
                        "dtsim counts",
                        (long)sc->batch * c->member_workers, 1L << 30);
    GradSyncConfig ring = {.allreduce = "ring"};
    return gradsync_check(&ring, c->member_workers, given, err);
}

/* The ranks that train: every member's devices (boosting: one member's,
 * which the members take in turn). */
static int ens_workers(const Scenario *sc)
{
    const EnsConfig *c = sc->strategy_config;
    return c->method == ENS_BOOSTING ? c->member_workers : c->members * c->member_workers;
}

static int ens_ranks(const Scenario *sc)
{
    const EnsConfig *c = sc->strategy_config;
    return ens_workers(sc) + (c->method == ENS_STACKING);
}

/* A member's global batch: what each of its steps trains on. */
static int ens_global_batch(const Scenario *sc)
{
    const EnsConfig *c = sc->strategy_config;
    return sc->batch * c->member_workers;
}

/* ---- shared state --------------------------------------------------------- */

typedef struct EnsMember {
    Model model;
    uint64_t seed; /* of its initial parameters and its sampler */
    int *pool;     /* (npool) the training samples it draws its batches from */
    int npool;
    Sampler sampler; /* positions in pool, member_workers x batch a step */
    float *probs;    /* (test samples x classes) its latest test probabilities */
    double accuracy; /* its test accuracy at its latest evaluation */
    double alpha, error, ensemble_train_error, ensemble_accuracy; /* boosting */
    double done_at; /* simulated s when its training ended */
} EnsMember;

/* One evaluation of bagging or stacking, as the members get there. */
typedef struct EnsEval {
    int arrived;
    float **probs; /* (k) each member's test probabilities, once it got there */
} EnsEval;

typedef struct EnsShared {
    CommWorld world;
    int k, w, classes;
    long steps; /* each member's */
    EnsMember *member;
    EnsEval *evals; /* bagging and stacking: one per evaluation step */
    int nevals;
    /* boosting */
    int boosted;       /* members whose weight is known */
    double *weight;    /* (n) the samples' weights, summing to 1 */
    float *vote_train; /* (n x classes) alpha-weighted votes */
    float *vote_test;  /* (test x classes) */
    /* stacking */
    int *holdout; /* (nholdout) the held-out samples, ascending */
    int nholdout;
    Model meta;
    double meta_accuracy, meta_loss;
} EnsShared;

static uint64_t member_seed(uint64_t seed, int m)
{
    if (m == 0)
        return seed;
    Rng r = rng_make(seed, 0xE45E000000000000ULL + (uint64_t)m);
    return rng_next(&r);
}

/* The index of the largest of v[0 .. n) (the first of equals). */
static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return best;
}

/* Accuracy of per-sample scores (n x classes) against d's labels. */
static double scores_accuracy(const float *s, const Dataset *d, int classes)
{
    long right = 0;
    for (int i = 0; i < d->n; i++)
        right += argmax(s + (size_t)i * classes, classes) == d->y[i];
    return d->n ? (double)right / d->n : 0.0;
}

/* n draws with replacement of 0 .. n-1 in proportion to weight (NULL:
 * uniform), seeded. */
static void draw_pool(int *pool, int n, const double *weight, uint64_t seed, uint64_t stream)
{
    Rng r = rng_make(seed, stream);
    double *cum = weight ? malloc((size_t)n * sizeof *cum) : NULL;
    xbt_assert(!weight || cum, "out of memory for the sample weights");
    double total = 0.0;
    for (int i = 0; cum && i < n; i++)
        cum[i] = total += weight[i];
    for (int i = 0; i < n; i++) {
        if (!cum) {
            pool[i] = (int)rng_below(&r, (uint32_t)n);
            continue;
        }
        double u = (double)(rng_next(&r) >> 11) * 0x1.0p-53 * total;
        int lo = 0, hi = n - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cum[mid] <= u)
                lo = mid + 1;
            else
                hi = mid;
        }
        pool[i] = lo;
    }
    free(cum);
}

/* Do two models lay out the same parameters (the same layers, each as
 * many)? */
static int same_layout(const Model *a, const Model *b)
{
    if (a->nlayers != b->nlayers || a->nparams != b->nparams)
        return 0;
    for (int l = 0; l < a->nlayers; l++)
        if (a->layers[l].ops != b->layers[l].ops ||
            a->layers[l].param_count != b->layers[l].param_count)
            return 0;
    return 1;
}

/* ---- the members' devices ------------------------------------------------ */

typedef struct EnsWorker {
    Run *run;
    EnsShared *sh;
    int rank;
    int m, j; /* its member (bagging, stacking), and its place among the member's devices */
    Device dev;
    Comm comm;
    Replica replica;
    GradSync sync;
    int *group; /* (w) the world ranks of its member's devices */
    int *ids;   /* (batch) this step's samples */
    float *buf; /* boosting: (n) predicted classes; stacking: (held out x classes) */
    int evals;  /* evaluations it has made */
} EnsWorker;

/* The member's probabilities on the test set, measured (no simulated
 * cost), into mem->probs, and its accuracy. */
static void member_measure(EnsWorker *w, EnsMember *mem)
{
    Run *run = w->run;
    replica_settle(&w->replica, &run->rec);
    double t = record_clock();
    xbt_assert(model_predict(&mem->model, &w->replica.ws, w->replica.params, &run->test, NULL,
                             run->test.n, mem->probs) == 0,
               "out of memory for predictions");
    record_kernel(&run->rec, t);
    mem->accuracy = scores_accuracy(mem->probs, &run->test, w->sh->classes);
}

/* The combined scores of the members' probabilities (k of them, each
 * test samples x classes), added in member order: their average, or
 * their votes; and the test loss of the average (NAN for votes). */
static double ens_combine(const Run *run, float *const *probs, int k, int vote, float *sum)
{
    const int n = run->test.n, C = run->model.classes;
    const size_t cells = (size_t)n * C;
    memset(sum, 0, cells * sizeof *sum);
    for (int m = 0; m < k; m++)
        for (int i = 0; i < n; i++) {
            const float *p = probs[m] + (size_t)i * C;
            if (vote == VOTE_MAJORITY)
                sum[(size_t)i * C + argmax(p, C)] += 1.0f;
            else
                for (int c = 0; c < C; c++)
                    sum[(size_t)i * C + c] += p[c];
        }
    if (vote == VOTE_MAJORITY)
        return NAN;
    double loss = 0.0;
    for (int i = 0; i < n; i++)
        loss -= log(sum[(size_t)i * C + run->test.y[i]] / k + 1e-30);
    return loss / (n ? n : 1);
}

/* Bagging and stacking: the member's leader evaluates; the last member to
 * reach this evaluation records the ensemble's accuracy. */
static void ens_evaluate(EnsWorker *w, EnsMember *mem, long step)
{
    Run *run = w->run;
    EnsShared *sh = w->sh;
    const EnsConfig *c = run->sc->strategy_config;
    const size_t cells = (size_t)run->test.n * sh->classes;
    member_measure(w, mem);
    EnsEval *ev = &sh->evals[w->evals++];
    if (c->method == ENS_STACKING && step == sh->steps)
        return; /* the meta-model's row comes from the server */
    if (!ev->probs)
        xbt_assert(ev->probs = calloc((size_t)sh->k, sizeof *ev->probs), "out of memory");
    xbt_assert(ev->probs[w->m] = malloc((cells ? cells : 1) * sizeof(float)), "out of memory");
    memcpy(ev->probs[w->m], mem->probs, cells * sizeof(float));
    if (++ev->arrived < sh->k)
        return;
    float *sum = malloc((cells ? cells : 1) * sizeof *sum);
    xbt_assert(sum, "out of memory");
    double loss = ens_combine(run, ev->probs, sh->k, c->vote, sum);
    double acc = scores_accuracy(sum, &run->test, sh->classes);
    free(sum);
    for (int m = 0; m < sh->k; m++)
        free(ev->probs[m]);
    free(ev->probs);
    ev->probs = NULL;
    run_record(run, step, loss, acc);
}

/* Train member mem for its steps (after `before` steps of earlier members,
 * for the progress line). */
static void ens_train(EnsWorker *w, EnsMember *mem, long before)
{
    Run *run = w->run;
    const EnsConfig *c = run->sc->strategy_config;
    Replica *r = &w->replica;
    const int B = run->sc->batch, W = w->sh->w;
    for (long s = 1; s <= w->sh->steps; s++) {
        const int *pos = sampler_batch(&mem->sampler, s - 1);
        for (int i = 0; i < B; i++)
            w->ids[i] = mem->pool ? mem->pool[pos[w->j * B + i]] : pos[w->j * B + i];
        replica_load(r, &w->dev, &run->train, w->ids, B);
        run_add_loss(run, replica_compute_gradients(r, &w->dev, B, 1.0f / (float)(W * B), NULL), B);
        if (W > 1)
            gradsync_finish(&w->sync);
        replica_apply(r, &w->dev);
        if (c->method != ENS_BOOSTING && w->j == 0 && run_eval_due(run, s))
            ens_evaluate(w, mem, s);
        if (w->rank == 0)
            run_progress(run, before + s);
    }
    replica_settle(r, &run->rec);
    mem->done_at = simgrid_get_clock();
}

/* FLOPs and bytes of forward passes over n samples. */
static void forward_cost(const Model *m, int n, double *flops, double *bytes)
{
    *flops = 0.0;
    *bytes = 0.0;
    for (int l = 0; l < m->nlayers; l++) {
        *flops += model_layer_forward_flops(m, l, n);
        *bytes += model_layer_forward_bytes(m, l, n);
    }
}

/* Predict samples idx[0 .. n) of the training set with the member's
 * parameters into probs, charged as forward passes. */
static void predict_charged(EnsWorker *w, const Model *model, const int *idx, int n, float *probs)
{
    double t = record_clock(), flops, bytes;
    xbt_assert(
        model_predict(model, &w->replica.ws, w->replica.params, &w->run->train, idx, n, probs) == 0,
        "out of memory for predictions");
    forward_cost(model, n, &flops, &bytes);
    device_kernel(&w->dev, t, flops, bytes, "predict");
}

/* ---- boosting ------------------------------------------------------------ */

/* The member's predicted class of every training sample, in w->buf: each
 * device its block, gathered. */
static void boost_predict(EnsWorker *w, const EnsMember *mem)
{
    const int n = w->run->train.n, C = w->sh->classes;
    size_t begin, count;
    collective_block((size_t)n, w->sh->w, w->j, &begin, &count);
    int *idx = malloc((count ? count : 1) * sizeof *idx);
    float *probs = malloc((count ? count : 1) * (size_t)C * sizeof *probs);
    xbt_assert(idx && probs, "out of memory for predictions");
    for (size_t i = 0; i < count; i++)
        idx[i] = (int)(begin + i);
    predict_charged(w, &mem->model, idx, (int)count, probs);
    for (size_t i = 0; i < count; i++)
        w->buf[begin + i] = (float)argmax(probs + i * C, C);
    free(idx);
    free(probs);
    if (w->sh->w > 1) {
        Group g = {.comm = &w->comm, .size = w->sh->w, .ranks = w->group, .index = w->j};
        collective_find(COLL_ALLGATHER, "ring")->run(&g, w->buf, (size_t)n, 0);
    }
}

/* Member m's weight from its predictions (w->buf), the samples' new
 * weights, the next member's samples, and the ensemble's figures; done by
 * whichever device gets here first (they all hold the same predictions). */
static void boost_finish(EnsWorker *w, int m)
{
    EnsShared *sh = w->sh;
    Run *run = w->run;
    EnsMember *mem = &sh->member[m];
    const int n = run->train.n, C = sh->classes;
    if (sh->boosted != m)
        return;
    double err = 0.0, total = 0.0;
    for (int i = 0; i < n; i++)
        err += (int)w->buf[i] != run->train.y[i] ? sh->weight[i] : 0.0;
    double e = err > 1e-10 ? err : 1e-10;
    mem->error = err;
    mem->alpha = err >= 1.0 - 1.0 / C ? 0.0 : log((1.0 - e) / e) + log(C - 1.0);
    long wrong = 0;
    for (int i = 0; i < n; i++) {
        int p = (int)w->buf[i];
        if (p != run->train.y[i])
            sh->weight[i] *= exp(mem->alpha);
        total += sh->weight[i];
        sh->vote_train[(size_t)i * C + p] += (float)mem->alpha;
        wrong += argmax(sh->vote_train + (size_t)i * C, C) != run->train.y[i];
    }
    for (int i = 0; i < n; i++)
        sh->weight[i] /= total;
    mem->ensemble_train_error = (double)wrong / n;
    member_measure(w, mem);
    for (int i = 0; i < run->test.n; i++)
        sh->vote_test[(size_t)i * C + argmax(mem->probs + (size_t)i * C, C)] += (float)mem->alpha;
    mem->ensemble_accuracy = scores_accuracy(sh->vote_test, &run->test, C);
    sh->boosted = m + 1;
    if (m + 1 < sh->k)
        draw_pool(sh->member[m + 1].pool, n, sh->weight, run->sc->seed,
                  0xB0057000ULL + (uint64_t)m + 1);
    run_record(run, (m + 1) * sh->steps, NAN, mem->ensemble_accuracy);
}

/* ---- the workers' bodies ---------------------------------------------------- */

static void ens_worker_free(void *state)
{
    EnsWorker *w = state;
    if (w->sh && w->sh->w > 1)
        gradsync_free(&w->sync);
    replica_free(&w->replica);
    free(w->group);
    free(w->ids);
    free(w->buf);
    free(w);
}

/* Stacking: the member's probabilities on the held-out samples, to the
 * server. */
static void stack_send(EnsWorker *w, const EnsMember *mem)
{
    EnsShared *sh = w->sh;
    predict_charged(w, &mem->model, sh->holdout, sh->nholdout, w->buf);
    comm_send(&w->comm, sh->k * sh->w, w->buf, (size_t)sh->nholdout * sh->classes);
}

static void ens_worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    EnsWorker *w = sg_actor_self_get_data();
    Run *run = w->run;
    EnsShared *sh = w->sh;
    const EnsConfig *c = run->sc->strategy_config;
    Replica *r = &w->replica;
    if (c->method == ENS_BOOSTING) {
        for (int m = 0; m < sh->k; m++) {
            EnsMember *mem = &sh->member[m];
            model_init_params(&mem->model, r->params, mem->seed);
            optim_reset(&r->opt);
            ens_train(w, mem, m * sh->steps);
            if (m == 0 && w->rank == 0) /* --save-model saves member 1 */
                run_keep_params(run, r->params);
            boost_predict(w, mem);
            boost_finish(w, m);
        }
    } else {
        ens_train(w, &sh->member[w->m], 0);
        if (c->method == ENS_STACKING && w->j == 0)
            stack_send(w, &sh->member[w->m]);
    }
    if (w->rank == 0 && c->method != ENS_BOOSTING && same_layout(&sh->member[0].model, &run->model))
        run_keep_params(run, r->params);
    ens_worker_free(w);
}

static int ens_worker_describe(void *state, Run *run, int rank, DtError *err)
{
    EnsWorker *w = state;
    EnsShared *sh = run->state;
    const EnsConfig *c = run->sc->strategy_config;
    *w = (EnsWorker){.run = run, .sh = sh, .rank = rank, .j = rank % sh->w};
    w->m = c->method == ENS_BOOSTING ? 0 : rank / sh->w;
    w->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    record_role(&run->rec, rank, "member", run->sc->batch);
    MemoryNeed need = plan_replica_memory(&sh->member[w->m].model, &run->sc->opt, run->sc->batch);
    if (c->method == ENS_BOOSTING)
        need.buffers += (double)run->train.n * sizeof(float);
    else if (c->method == ENS_STACKING && w->j == 0)
        need.buffers += (double)sh->nholdout * sh->classes * sizeof(float);
    return device_init(&w->dev, run, rank, &need, err);
}

static int ens_worker_alloc(void *state, DtError *err)
{
    EnsWorker *w = state;
    const Run *run = w->run;
    const EnsConfig *c = run->sc->strategy_config;
    EnsMember *mem = &w->sh->member[w->m];
    const int W = w->sh->w;
    if (replica_init(&w->replica, &mem->model, &run->sc->opt, run->sc->batch, mem->seed, err) < 0)
        return -1;
    size_t nbuf = c->method == ENS_BOOSTING ? (size_t)run->train.n
                  : c->method == ENS_STACKING && w->j == 0
                      ? (size_t)w->sh->nholdout * w->sh->classes
                      : 0;
    w->ids = malloc((size_t)run->sc->batch * sizeof *w->ids);
    w->group = malloc((size_t)W * sizeof *w->group);
    w->buf = malloc((nbuf ? nbuf : 1) * sizeof *w->buf);
    if (!w->ids || !w->group || !w->buf)
        return dt_fail(err, DT_ERUNTIME, "out of memory for rank %d", w->rank);
    for (int i = 0; i < W; i++)
        w->group[i] = (w->rank / W) * W + i;
    if (W > 1) {
        static const GradSyncConfig ring = {.allreduce = "ring"};
        Group g = {.comm = &w->comm, .size = W, .ranks = w->group, .index = w->j};
        gradsync_init(&w->sync, &ring, &g, w->replica.grads, mem->model.nparams, NULL,
                      run->total_steps);
    }
    return 0;
}

static const RankKind ens_worker_kind = {
    "member",         sizeof(EnsWorker), ens_worker_describe,
    ens_worker_alloc, ens_worker_free,   ens_worker_main,
};

/* ---- stacking's server ------------------------------------------------------ */

typedef struct EnsServer {
    Run *run;
    EnsShared *sh;
    int rank;
    Device dev;
    Comm comm;
    Replica meta;
    float *in;           /* (k x held out x classes) the members' probabilities */
    Dataset train, test; /* the meta-model's: the k probability vectors side by side */
} EnsServer;

static void ens_server_free(void *state)
{
    EnsServer *s = state;
    replica_free(&s->meta);
    free(s->in);
    free(s->train.x);
    free(s->train.y);
    free(s->test.x);
    free(s);
}

/* Lay the k members' (n x classes) probabilities side by side: x (n x k
 * classes). */
static void side_by_side(float *x, const float *const *member, int k, int n, int C)
{
    for (int i = 0; i < n; i++)
        for (int m = 0; m < k; m++)
            memcpy(x + ((size_t)i * k + m) * C, member[m] + (size_t)i * C, C * sizeof *x);
}

/* The meta-model learns on the held-out predictions, in batches of
 * [train] batch (at most the held-out samples), for meta_epochs passes. */
static void ens_server_train(EnsServer *s)
{
    Run *run = s->run;
    const EnsConfig *c = run->sc->strategy_config;
    const int B = s->meta.batch;
    Sampler sampler;
    xbt_assert(sampler_init(&sampler, s->train.n, B, run->sc->seed ^ 0x3E7AULL, NULL) == 0,
               "out of memory for the meta-model's sampler");
    long steps = (long)c->meta_epochs * sampler_steps_per_epoch(&sampler);
    for (long t = 0; t < steps; t++) {
        replica_load(&s->meta, &s->dev, &s->train, sampler_next(&sampler), B);
        replica_compute_gradients(&s->meta, &s->dev, B, 1.0f / (float)B, NULL);
        replica_apply(&s->meta, &s->dev);
    }
    replica_settle(&s->meta, &run->rec);
    sampler_free(&sampler);
}

static void ens_server_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    EnsServer *s = sg_actor_self_get_data();
    EnsShared *sh = s->sh;
    Run *run = s->run;
    const int k = sh->k, C = sh->classes, nh = sh->nholdout;
    const float *parts[ENS_MAX_MEMBERS];
    for (int m = 0; m < k; m++) {
        parts[m] = s->in + (size_t)m * nh * C;
        comm_recv(&s->comm, m * sh->w, s->in + (size_t)m * nh * C, (size_t)nh * C);
    }
    side_by_side(s->train.x, parts, k, nh, C);
    for (int i = 0; i < nh; i++)
        s->train.y[i] = run->train.y[sh->holdout[i]];
    ens_server_train(s);
    for (int m = 0; m < k; m++)
        parts[m] = sh->member[m].probs; /* the members' final test probabilities */
    side_by_side(s->test.x, parts, k, run->test.n, C);
    double t = record_clock();
    sh->meta_accuracy =
        model_evaluate(&sh->meta, &s->meta.ws, s->meta.params, &s->test, &sh->meta_loss);
    record_kernel(&run->rec, t);
    run_record(run, sh->steps, sh->meta_loss, sh->meta_accuracy);
    ens_server_free(s);
}

static int ens_server_describe(void *state, Run *run, int rank, DtError *err)
{
    EnsServer *s = state;
    EnsShared *sh = run->state;
    *s = (EnsServer){.run = run, .sh = sh, .rank = rank};
    s->comm = (Comm){.world = &sh->world, .rank = rank, .channel = 0};
    record_role(&run->rec, rank, "server", run->sc->batch);
    MemoryNeed need = plan_replica_memory(&sh->meta, &run->sc->opt, run->sc->batch);
    need.buffers += 2.0 * sh->k * sh->nholdout * sh->classes * sizeof(float);
    return device_init(&s->dev, run, rank, &need, err);
}

static int ens_server_alloc(void *state, DtError *err)
{
    EnsServer *s = state;
    const Run *run = s->run;
    const EnsShared *sh = s->sh;
    const int B = run->sc->batch < sh->nholdout ? run->sc->batch : sh->nholdout;
    const size_t width = (size_t)sh->k * sh->classes;
    if (replica_init(&s->meta, &sh->meta, &run->sc->opt, B, run->sc->seed, err) < 0)
        return -1;
    s->train = (Dataset){
        .n = sh->nholdout, .shape = {(int)width, 1, 1}, .classes = sh->classes, .targets = 1};
    s->test = s->train;
    s->test.n = run->test.n;
    s->test.y = run->test.y;
    s->in = malloc(width * sh->nholdout * sizeof *s->in);
    s->train.x = malloc(width * sh->nholdout * sizeof *s->train.x);
    s->train.y = malloc((size_t)sh->nholdout);
    s->test.x = malloc(width * (run->test.n ? run->test.n : 1) * sizeof *s->test.x);
    if (!s->in || !s->train.x || !s->train.y || !s->test.x)
        return dt_fail(err, DT_ERUNTIME, "out of memory for the meta-model's data");
    return 0;
}

static const RankKind ens_server_kind = {
    "server",         sizeof(EnsServer), ens_server_describe,
    ens_server_alloc, ens_server_free,   ens_server_main,
};

static const RankKind *ens_kind(const Run *run, int rank)
{
    const EnsConfig *c = run->sc->strategy_config;
    const EnsShared *sh = run->state;
    return c->method == ENS_STACKING && rank == sh->k * sh->w ? &ens_server_kind : &ens_worker_kind;
}

/* ---- start, results, stop --------------------------------------------------- */

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Stacking: a seeded share of the training set held out, the rest the
 * members' pool (both ascending). */
static int stack_split(Run *run, EnsShared *sh, int **rest, int *nrest, DtError *err)
{
    const EnsConfig *c = run->sc->strategy_config;
    const int n = run->train.n;
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    for (int i = 0; i < n; i++)
        perm[i] = i;
    Rng r = rng_make(run->sc->seed, 0x57AC0000ULL);
    rng_shuffle(&r, perm, n);
    sh->nholdout = (int)(c->holdout * n + 0.5);
    *nrest = n - sh->nholdout;
    if (sh->nholdout < 1 || *nrest < run->global_batch) {
        free(perm);
        return dt_fail(err, DT_EINPUT,
                       "%s: [strategy] holdout = %g of %d training samples leaves %d held out "
                       "and %d to train on, with batches of %d: change holdout or the batch",
                       run->sc->path, c->holdout, n, sh->nholdout, *nrest, run->global_batch);
    }
    sh->holdout = perm;
    *rest = malloc((size_t)*nrest * sizeof **rest);
    if (!*rest)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    memcpy(*rest, perm + sh->nholdout, (size_t)*nrest * sizeof **rest);
    qsort(sh->holdout, (size_t)sh->nholdout, sizeof *sh->holdout, int_cmp);
    qsort(*rest, (size_t)*nrest, sizeof **rest, int_cmp);
    return 0;
}

/* Each member's model, seed and pool of samples. */
static int ens_members(Run *run, EnsShared *sh, DtError *err)
{
    const Scenario *sc = run->sc;
    const EnsConfig *c = sc->strategy_config;
    const int n = run->train.n, C = sh->classes;
    int *rest = NULL, nrest = n, rc = 0;
    if (c->method == ENS_STACKING && stack_split(run, sh, &rest, &nrest, err) < 0)
        return -1;
    const int own = c->method != ENS_BAGGING || c->bootstrap; /* a pool of its own */
    for (int m = 0; rc == 0 && m < sh->k; m++) {
        EnsMember *mem = &sh->member[m];
        if ((rc = member_model(sc, m, &mem->model, err)) < 0)
            break;
        mem->seed = member_seed(sc->seed, m);
        mem->npool = nrest;
        mem->probs = malloc((size_t)(run->test.n ? run->test.n : 1) * C * sizeof *mem->probs);
        if (own)
            mem->pool = malloc((size_t)nrest * sizeof *mem->pool);
        if (!mem->probs || (own && !mem->pool)) {
            rc = dt_fail(err, DT_ERUNTIME, "out of memory for the members");
            break;
        }
        if (c->method == ENS_STACKING)
            memcpy(mem->pool, rest, (size_t)nrest * sizeof *rest);
        else if (c->method == ENS_BAGGING && c->bootstrap)
            draw_pool(mem->pool, n, NULL, mem->seed, 0xB0075ULL);
        else if (c->method == ENS_BOOSTING && m == 0)
            draw_pool(mem->pool, n, sh->weight, sc->seed, 0xB0057000ULL);
        rc = sampler_init(&mem->sampler, mem->npool, run->global_batch, mem->seed, err);
    }
    free(rest);
    return rc;
}

static int ens_start(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    const EnsConfig *c = sc->strategy_config;
    EnsShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    *sh = (EnsShared){.k = c->members,
                      .w = c->member_workers,
                      .classes = run->model.classes,
                      .steps = run->total_steps};
    const size_t n = (size_t)run->train.n, C = (size_t)sh->classes;
    sh->member = calloc((size_t)sh->k, sizeof *sh->member);
    int ok = sh->member != NULL;
    if (c->method == ENS_BOOSTING) {
        sh->weight = malloc(n * sizeof *sh->weight);
        sh->vote_train = calloc(n * C, sizeof *sh->vote_train);
        sh->vote_test = calloc((size_t)run->test.n * C + 1, sizeof *sh->vote_test);
        ok = ok && sh->weight && sh->vote_train && sh->vote_test;
        for (size_t i = 0; ok && i < n; i++)
            sh->weight[i] = 1.0 / (double)n;
        run->total_steps = sh->steps * sh->k; /* the members one after another */
    } else {
        long every = sc->eval_every ? sc->eval_every : run->steps_per_epoch;
        sh->nevals = (int)(sh->steps / every + (sh->steps % every != 0));
        ok = ok && (sh->evals = calloc((size_t)sh->nevals, sizeof *sh->evals));
    }
    if (!ok)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (ens_members(run, sh, err) < 0)
        return -1;
    if (c->method == ENS_STACKING) {
        model_begin(&sh->meta, (Shape){sh->k * sh->classes, 1, 1}, sh->classes);
        sh->meta.name = "softmax regression";
        if (model_add_dense_stack(&sh->meta, NULL, 0, err) < 0)
            return -1;
    }
    if (run->opts->save_model && !same_layout(&sh->member[0].model, &run->model))
        return dt_fail(err, DT_EINPUT,
                       "%s: --save-model saves member 1's parameters, and its model is not the "
                       "[model]: leave --save-model out, or make [model] member 1's model",
                       sc->path);
    if (comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0)
        return -1;
    return run_spawn(run, ens_kind, err);
}

static void ens_results(const Run *run, cJSON *root)
{
    const EnsConfig *c = run->sc->strategy_config;
    const EnsShared *sh = run->state;
    cJSON *o = cJSON_AddObjectToObject(root, "ensemble");
    cJSON_AddStringToObject(o, "method", methods[c->method]);
    cJSON_AddNumberToObject(o, "members", sh->k);
    cJSON_AddNumberToObject(o, "member_workers", sh->w);
    cJSON *list = cJSON_AddArrayToObject(o, "member");
    double mean = 0.0;
    for (int m = 0; m < sh->k; m++) {
        const EnsMember *mem = &sh->member[m];
        char text[sizeof c->member_models];
        member_text(c, m, text, sizeof text);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "member", m + 1);
        cJSON_AddStringToObject(e, "model", text[0] ? text : run->model.name);
        cJSON_AddNumberToObject(e, "parameters", (double)mem->model.nparams);
        cJSON_AddNumberToObject(e, "test_accuracy", mem->accuracy);
        cJSON_AddNumberToObject(e, "trained_by_seconds", mem->done_at);
        if (c->method == ENS_BOOSTING) {
            cJSON_AddNumberToObject(e, "weighted_error", mem->error);
            cJSON_AddNumberToObject(e, "alpha", mem->alpha);
            cJSON_AddNumberToObject(e, "ensemble_train_error", mem->ensemble_train_error);
            cJSON_AddNumberToObject(e, "ensemble_test_accuracy", mem->ensemble_accuracy);
        }
        cJSON_AddItemToArray(list, e);
        mean += mem->accuracy / sh->k;
    }
    cJSON_AddNumberToObject(o, "mean_member_accuracy", mean);
    if (c->method == ENS_STACKING) {
        cJSON_AddNumberToObject(o, "holdout_samples", sh->nholdout);
        cJSON_AddNumberToObject(o, "meta_test_accuracy", sh->meta_accuracy);
    }
    record_measure(root, "mean_member_accuracy", mean);
}

static void ens_stop(Run *run)
{
    EnsShared *sh = run->state;
    if (!sh)
        return;
    comm_world_free(&sh->world);
    for (int m = 0; sh->member && m < sh->k; m++) {
        free(sh->member[m].pool);
        free(sh->member[m].probs);
        sampler_free(&sh->member[m].sampler);
    }
    for (int e = 0; sh->evals && e < sh->nevals; e++)
        for (int m = 0; sh->evals[e].probs && m < sh->k; m++)
            free(sh->evals[e].probs[m]);
    for (int e = 0; sh->evals && e < sh->nevals; e++)
        free(sh->evals[e].probs);
    free(sh->evals);
    free(sh->member);
    free(sh->weight);
    free(sh->vote_train);
    free(sh->vote_test);
    free(sh->holdout);
    free(sh);
    run->state = NULL;
}

const StrategyOps ensemble_strategy = {
    .name = "ensemble",
    .summary = "several models trained apart whose predictions are combined: bagging, stacking "
               "(a meta-model on held-out predictions) or boosting (SAMME)",
    .keys = {"strategy", ens_keys, sizeof ens_keys / sizeof ens_keys[0]},
    .config_size = sizeof(EnsConfig),
    .check = ens_check,
    .global_batch = ens_global_batch,
    .ranks = ens_ranks,
    .workers = ens_workers,
    .workers_key = "[strategy] members or member_workers",
    .start = ens_start,
    .results = ens_results,
    .stop = ens_stop,
};
