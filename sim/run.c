/*
 * run.c - one `dtsim run`, from scenario to result files (see run.h).
 *
 * Everything that can be wrong with the user's input is checked before the
 * simulation starts: the output paths, the data, the model shape, the
 * platform, the placement.  A run that starts is expected to finish; only
 * resource failures (memory, disk) can stop it after that.
 */
#include "run.h"

#include "cli.h"
#include "comm.h"
#include "gemm.h"
#include "plot.h"
#include "pool.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/version.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESULTS_MARKER ".dtsim-results"

/* mkdir -p */
static int make_dirs(const char *dir, DtError *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return dt_fail(err, DT_EINPUT, "output directory name too long: %s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0777) < 0 && errno != EEXIST)
                return dt_fail(err, DT_EINPUT, "cannot create directory '%s': %s", path,
                               strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d));)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* The output directory must be new, empty, or one dtsim wrote before
 * (it holds the marker file); anything else needs --force. */
int run_prepare_out_dir(const char *dir, int force, DtError *err)
{
    char marker[PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/%s", dir, RESULTS_MARKER);
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return dt_fail(err, DT_EINPUT, "--out '%s' exists and is not a directory", dir);
        if (access(marker, F_OK) != 0 && !force && !dir_is_empty(dir))
            return dt_fail(err, DT_EINPUT,
                           "output directory '%s' holds files dtsim did not write; choose "
                           "another --out or pass --force to write into it",
                           dir);
    } else if (make_dirs(dir, err) < 0) {
        return -1;
    }
    FILE *f = fopen(marker, "w");
    if (!f)
        return dt_fail(err, DT_EINPUT, "cannot write in output directory '%s': %s", dir,
                       strerror(errno));
    fprintf(f, "This directory holds results written by dtsim; dtsim may overwrite them.\n");
    fclose(f);
    return 0;
}

/* A note when [data] asks for more samples than the data set has. */
static void note_samples(const Run *run)
{
    const Scenario *sc = run->sc;
    const char *key[] = {"train_samples", "test_samples"};
    const int asked[] = {sc->train_samples, sc->test_samples};
    const int has[] = {run->train.n, run->test.n};
    for (int i = 0; i < 2 && !run->opts->quiet; i++)
        if (asked[i] > has[i])
            fprintf(stderr,
                    "dtsim: note: [data] %s = %d is more than the data set has: the run uses "
                    "its %d\n",
                    key[i], asked[i], has[i]);
}

/* Reading a set of IDX files on the pool (sim/pool.h). */
typedef struct LoadJob {
    Dataset *d;
    const char *images, *labels;
    int max_samples;
    int rc;
    DtError err;
} LoadJob;

static void load_job(void *arg)
{
    LoadJob *j = arg;
    j->rc = dataset_load_idx(j->d, j->images, j->labels, j->max_samples, &j->err);
}

/* Fashion-MNIST, the test set read while this thread reads the training set
 * and takes its mean and standard deviation: what
 * dataset_load_fashion_mnist and dataset_stats give, sooner. */
static int load_fashion_mnist(Run *run, double *mean, double *std, DtError *err)
{
    const Scenario *sc = run->sc;
    char paths[4][4096];
    if (dataset_fashion_mnist_paths(sc->data_path, paths, err) < 0)
        return -1;
    LoadJob test = {&run->test, paths[2], paths[3], sc->test_samples, 0, {0}};
    PoolJob job;
    pool_submit(&job, load_job, &test);
    int rc = dataset_load_idx(&run->train, paths[0], paths[1], sc->train_samples, err);
    if (rc == 0)
        dataset_stats(&run->train, mean, std);
    pool_wait(&job, NULL);
    if (rc == 0 && test.rc < 0) {
        *err = test.err;
        rc = -1;
    }
    if (rc < 0) {
        dataset_free(&run->train);
        dataset_free(&run->test);
    }
    return rc;
}

typedef struct NormalizeParts {
    Dataset *set[2];
    double mean, std;
    int parts; /* of each set */
} NormalizeParts;

static void normalize_part(void *arg, int i)
{
    NormalizeParts *p = arg;
    Dataset *d = p->set[i / p->parts];
    int k = i % p->parts;
    int first = (int)((long)d->n * k / p->parts);
    dataset_normalize_samples(d, p->mean, p->std, first,
                              (int)((long)d->n * (k + 1) / p->parts) - first);
}

/* dataset_normalize on both sets, in parts on the pool. */
static void normalize_on_pool(Run *run, double mean, double std)
{
    NormalizeParts p = {{&run->train, &run->test}, mean, std, 4 * pool_threads()};
    pool_for(2 * p.parts, normalize_part, &p, NULL);
}

static int load_data(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    if (sc->dataset == DATA_TEXT) { /* token ids: nothing to standardise */
        if (dataset_load_text(&run->train, &run->test, sc->data_path, run->model.positions,
                              sc->val_fraction, sc->seed, &run->vocab, err) < 0)
            return -1;
        if (sc->train_samples && sc->train_samples < run->train.n)
            run->train.n = sc->train_samples;
        if (sc->test_samples && sc->test_samples < run->test.n)
            run->test.n = sc->test_samples;
        note_samples(run);
        return 0;
    }
    double mean, std;
    if (sc->dataset == DATA_FASHION_MNIST) {
        if (load_fashion_mnist(run, &mean, &std, err) < 0)
            return -1;
        note_samples(run);
    } else {
        SyntheticConfig cfg = {.n = sc->train_samples,
                               .shape = sc->model.input,
                               .classes = sc->model.classes,
                               .noise = (float)sc->noise,
                               .seed = sc->seed,
                               .stream = 1};
        if (dataset_synthetic(&run->train, &cfg, err) < 0)
            return -1;
        cfg.n = sc->test_samples;
        cfg.stream = 2;
        if (dataset_synthetic(&run->test, &cfg, err) < 0)
            return -1;
        dataset_stats(&run->train, &mean, &std);
    }
    /* Standardise both sets with the training set's statistics. */
    if (std <= 0.0)
        std = 1.0;
    normalize_on_pool(run, mean, std);
    return 0;
}

/* Cost mode reads no data: the sets are sizes and shapes only.  Fashion-
 * MNIST has 60,000 training and 10,000 test images; a text's size is
 * unknown without reading it, so an epoch is the whole run (or
 * train_samples). */
static void describe_data(Run *run)
{
    const Scenario *sc = run->sc;
    const Model *m = &run->model;
    Dataset d = {.shape = m->input, .classes = m->classes, .targets = m->positions};
    run->train = run->test = d;
    if (sc->dataset == DATA_TEXT) {
        long gb = run->strategy->global_batch(sc);
        long whole = gb * (sc->steps ? sc->steps : 1);
        run->train.n = sc->train_samples  ? sc->train_samples
                       : whole <= INT_MAX ? (int)whole
                                          : (int)(INT_MAX / gb * gb);
        return;
    }
    int all = sc->dataset == DATA_FASHION_MNIST;
    run->train.n =
        sc->train_samples && (!all || sc->train_samples < 60000) ? sc->train_samples : 60000;
    run->test.n = sc->test_samples && (!all || sc->test_samples < 10000) ? sc->test_samples : 10000;
}

static int prepare(Run *run, DtError *err)
{
    const Scenario *sc = run->sc;
    if (model_build(&run->model, &sc->model, err) < 0)
        return -1;
    if (sc->cost)
        describe_data(run);
    else if (load_data(run, err) < 0)
        return -1;
    run->global_batch = run->strategy->global_batch(sc);
    /* a strategy counting rounds takes what its clients hold, whatever the batch */
    if (run->global_batch > run->train.n && !run->strategy->rounds)
        return dt_fail(err, DT_EINPUT,
                       "%s: a global batch of %d samples is more than the %d training samples",
                       sc->path, run->global_batch, run->train.n);
    run->steps_per_epoch = run->train.n / run->global_batch;
    if (run->steps_per_epoch < 1)
        run->steps_per_epoch = 1;
    run->total_steps = sc->steps ? sc->steps : (long)sc->epochs * run->steps_per_epoch;
    if (sc->cost)
        return 0; /* no parameters to keep */
    if (!(run->final_params = calloc(run->model.nparams, sizeof(float))))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    return 0;
}

static int place_ranks(Run *run, int host_count, DtError *err)
{
    const Scenario *sc = run->sc;
    run->nranks = run->strategy->ranks(sc);
    if (run->nranks > host_count)
        return dt_fail(err, DT_EINPUT,
                       "%s: strategy %s needs %d hosts (one per rank) but platform '%s' has %d; "
                       "lower %s or use a larger platform",
                       sc->path, sc->strategy->name, run->nranks, sc->platform, host_count,
                       sc->strategy->workers_key ? sc->strategy->workers_key : "[cluster] workers");
    return 0;
}

/* " (6 ranks)" when the run has ranks besides its workers (servers). */
static void run_ranks_note(const Run *run, char *buf, size_t size)
{
    buf[0] = '\0';
    if (run->nranks != run->sc->workers)
        snprintf(buf, size, " (%d ranks in all)", run->nranks);
}

static void run_facts(const Run *run, double wall, const char *network, RunFacts *facts)
{
    const Scenario *sc = run->sc;
    *facts = (RunFacts){
        .scenario = sc->path,
        .platform = sc->platform,
        .network_model = network,
        .strategy = sc->strategy->name,
        .model = run->model.name,
        .workers = sc->workers,
        .ranks = run->nranks,
        .parameters = run->model.nparams,
        .flops_per_step = model_forward_flops(&run->model, run->global_batch) +
                          model_backward_flops(&run->model, run->global_batch),
        .global_batch = run->global_batch,
        .steps = run->total_steps,
        .epochs = run_epochs(run, run->total_steps),
        .simulated_seconds = simgrid_get_clock(),
        .wall_seconds = wall,
        .seed = (unsigned long long)sc->seed,
        .cost = sc->cost,
        .trace_ranks = record_trace_ranks(&run->rec, run->opts->trace_ranks),
    };
}

/* "settings": every key in effect, by section, as written in a file (a
 * key given several times: an array), from the scenario's settings. */
static void summary_settings(cJSON *root, const char *settings)
{
    cJSON *all = cJSON_AddObjectToObject(root, "settings");
    for (const char *line = settings; line && *line;) {
        size_t len = strcspn(line, "\n");
        const char *dot = memchr(line, '.', len), *eq = dot ? memchr(dot, '=', len) : NULL;
        if (eq) {
            char section[64], name[64], value[PATH_MAX + 64];
            snprintf(section, sizeof section, "%.*s", (int)(dot - line), line);
            snprintf(name, sizeof name, "%.*s", (int)(eq - dot - 1), dot + 1);
            snprintf(value, sizeof value, "%.*s", (int)(line + len - eq - 1), eq + 1);
            cJSON *sec = cJSON_GetObjectItemCaseSensitive(all, section);
            if (!sec)
                sec = cJSON_AddObjectToObject(all, section);
            cJSON *old = cJSON_GetObjectItemCaseSensitive(sec, name);
            if (!old) {
                cJSON_AddStringToObject(sec, name, value);
            } else if (cJSON_IsArray(old)) {
                cJSON_AddItemToArray(old, cJSON_CreateString(value));
            } else {
                cJSON *list = cJSON_CreateArray();
                cJSON_AddItemToArray(list, cJSON_CreateString(old->valuestring));
                cJSON_AddItemToArray(list, cJSON_CreateString(value));
                cJSON_ReplaceItemInObjectCaseSensitive(sec, name, list);
            }
        }
        line += len + (line[len] == '\n');
    }
}

/* What made the results: the settings, the software, SimGrid's options. */
static void summary_provenance(const Run *run, cJSON *root)
{
    summary_settings(root, run->sc->settings);
    int major, minor, patch;
    char version[64], blas[512];
    sg_version_get(&major, &minor, &patch);
    snprintf(version, sizeof version, "%d.%d.%d", major, minor, patch);
    snprintf(blas, sizeof blas, "%s, %s kernels", gemm_library(), gemm_kernels());
    cJSON_AddStringToObject(root, "simgrid_version", version);
    cJSON_AddStringToObject(root, "blas", blas);
    cJSON *cfg = cJSON_AddArrayToObject(root, "simgrid_options");
    for (int i = 0; i < run->opts->sim.ncfg; i++)
        cJSON_AddItemToArray(cfg, cJSON_CreateString(run->opts->sim.cfg[i] + strlen("--cfg=")));
}

/* Tokens a global step trains on, and how a language model did. */
static double run_tokens_per_step(const Run *run)
{
    return (double)run->global_batch * run->model.positions;
}

static void summary_language(const Run *run, cJSON *root)
{
    const MetricRow *last = run->rec.nrows ? &run->rec.rows[run->rec.nrows - 1] : NULL;
    double sim = simgrid_get_clock(), loss = last ? last->test_loss : 0.0;
    double tps = sim > 0 ? run_tokens_per_step(run) * run->total_steps / sim : 0.0;
    cJSON *lm = cJSON_AddObjectToObject(root, "language_model");
    cJSON_AddNumberToObject(lm, "vocabulary", run->model.classes);
    cJSON_AddNumberToObject(lm, "tokens_per_step", run_tokens_per_step(run));
    if (run->sc->cost) { /* nothing was learned, nothing to sample */
        cJSON_AddNumberToObject(lm, "tokens_per_simulated_second", tps);
        record_measure(root, "tokens_per_simulated_second", tps);
        return;
    }
    cJSON_AddNumberToObject(lm, "validation_loss", loss);
    cJSON_AddNumberToObject(lm, "perplexity", exp(loss));
    cJSON_AddNumberToObject(lm, "tokens_per_simulated_second", tps);
    cJSON_AddStringToObject(lm, "sample", run->sample);
    record_measure(root, "perplexity", exp(loss));
    record_measure(root, "tokens_per_simulated_second", tps);
}

static void run_summary_sections(void *ctx, cJSON *root)
{
    const Run *run = ctx;
    summary_provenance(run, root);
    if (run->sc->dataset == DATA_TEXT)
        summary_language(run, root);
    if (run->strategy->results)
        run->strategy->results(run, root);
    double samples = run->samples_trained > 0.0
                         ? run->samples_trained
                         : (double)run->global_batch * (double)run->total_steps;
    energy_summary(&run->energy, root, simgrid_get_clock(), samples);
    recovery_summary(run, root);
}

static void run_summary_host(void *ctx, int rank, cJSON *host)
{
    const Run *run = ctx;
    if (run->strategy->host_results)
        run->strategy->host_results(run, rank, host);
    /* the rank's host by name: an elastic restart renumbers the ranks */
    sg_host_t h = sg_host_by_name(run->rec.ranks[rank].host);
    double joules = h ? energy_host_joules(&run->energy, h) : -1.0;
    if (joules >= 0.0)
        cJSON_AddNumberToObject(host, "joules", joules);
}

/* metrics.csv, summary.json, trace.json and timeline.dat into out_dir. */
static int write_files(Run *run, const RunFacts *facts, const char *out_dir, DtError *err)
{
    char path[PATH_MAX + 32];
    if (run->rec.oom)
        return dt_fail(err, DT_ERUNTIME, "out of memory while recording the run");
    snprintf(path, sizeof path, "%s/metrics.csv", out_dir);
    if (record_write_metrics(&run->rec, path, err) < 0)
        return -1;
    SummaryHooks hooks = {run_summary_sections, run_summary_host, run};
    snprintf(path, sizeof path, "%s/summary.json", out_dir);
    if (record_write_summary(&run->rec, facts, &hooks, path, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/trace.json", out_dir);
    if (record_write_trace(&run->rec, facts->trace_ranks, path, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/timeline.dat", out_dir);
    return record_write_timeline(&run->rec, facts->trace_ranks, path, err);
}

/* The run's own files in its results directory, which --save-model must
 * not name. */
static const char *const run_files[] = {
    "metrics.csv",  "summary.json", "trace.json",   "timeline.dat",   "training.png",
    "training.svg", "timeline.png", "timeline.svg", ".dtsim-results",
};

/* The results directory: --out, or results/<scenario name>. */
static void run_out_dir(const Scenario *sc, const RunOptions *opts, char *buf, size_t size)
{
    if (opts->out_dir)
        snprintf(buf, size, "%s", opts->out_dir);
    else
        snprintf(buf, size, "results/%s", sc->name);
}

/* Before anything runs: --save-model names a file that can be written
 * where it says, is none of the run's own results, and is new unless
 * --force. */
static int check_save_model(const Scenario *sc, const RunOptions *opts, const char *out_dir,
                            DtError *err)
{
    const char *path = opts->save_model;
    if (sc->cost)
        return dt_fail(err, DT_EINPUT,
                       "%s: --save-model with [train] compute = cost: cost mode holds no "
                       "parameters, so there is nothing to save; drop --save-model or set "
                       "compute = real",
                       sc->path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return dt_fail(err, DT_EINPUT, "--save-model '%s' is a directory; give a file name", path);
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return dt_fail(err, DT_EINPUT,
                       "--save-model '%s' is %s, not a regular file; give a file name of its own",
                       path, S_ISLNK(st.st_mode) ? "a symbolic link" : "a pipe or a device");
    char dir[PATH_MAX], real_dir[PATH_MAX], real_out[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + (slash == path)) : 1,
             slash ? path : ".");
    const char *base = slash ? slash + 1 : path;
    if (!*base || !realpath(dir, real_dir) || stat(real_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dt_fail(err, DT_EINPUT,
                       "--save-model '%s': no directory '%s' to write it in; create it first", path,
                       dir);
    if (access(real_dir, W_OK) != 0)
        return dt_fail(err, DT_EINPUT, "--save-model '%s': cannot write in '%s': %s", path, dir,
                       strerror(errno));
    if (realpath(out_dir, real_out) && strcmp(real_out, real_dir) == 0)
        for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++)
            if (strcmp(base, run_files[i]) == 0)
                return dt_fail(err, DT_EINPUT,
                               "--save-model '%s' is the run's own %s/%s; choose another file",
                               path, out_dir, run_files[i]);
    if (!opts->force && access(path, F_OK) == 0)
        return dt_fail(err, DT_EINPUT, "--save-model '%s' exists; remove it or pass --force", path);
    return 0;
}

static int save_model(const Run *run, const char *path, DtError *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return dt_fail(err, DT_ERUNTIME, "cannot write model '%s': %s", path, strerror(errno));
    size_t n = fwrite(run->final_params, sizeof(float), run->model.nparams, f);
    if (fclose(f) != 0 || n != run->model.nparams)
        return dt_fail(err, DT_ERUNTIME, "error while writing model '%s'", path);
    return 0;
}

static void print_results(const Run *run, const RunFacts *facts, double wall, const char *out_dir)
{
    const Scenario *sc = run->sc;
    const MetricRow *last = run->rec.nrows ? &run->rec.rows[run->rec.nrows - 1] : NULL;
    char ranks[64];
    run_ranks_note(run, ranks, sizeof ranks);
    printf("%s: %s, %d worker%s%s, %ld %ss (%.2f epochs) in %.6g simulated s "
           "(platform %s, network %s)\n",
           sc->name, sc->strategy->name, sc->workers, sc->workers == 1 ? "" : "s", ranks,
           run->total_steps, run_step_word(run), facts->epochs, facts->simulated_seconds,
           sc->platform, facts->network_model);
    const Recovery *rc = &run->recovery;
    if (rc->stopped_at >= 0.0)
        printf("  stopped by a failure at %.6g simulated s, after %ld of the %ld %ss\n",
               rc->stopped_at, rc->done_step, run->total_steps, run_step_word(run));
    else if (rc->failures > 0)
        printf("  %d failure%s: %.6g simulated s lost, %.6g s checkpointing, %.6g s down and "
               "restarting; %d worker%s at the end (summary.json's recovery)\n",
               rc->failures, rc->failures == 1 ? "" : "s", rc->lost_seconds, rc->checkpoint_seconds,
               rc->detect_seconds + rc->repair_wait_seconds + rc->restart_seconds,
               rc->workers_at_end, rc->workers_at_end == 1 ? "" : "s");
    if (facts->trace_ranks < run->nranks)
        printf("  trace.json and timeline.dat hold ranks 0-%d of %d (--trace-ranks all writes "
               "every rank's spans)\n",
               facts->trace_ranks - 1, run->nranks);
    if (energy_on(&run->energy)) {
        double joules = energy_hosts_joules(&run->energy);
        printf("  energy %.6g kJ on %d device%s (%.4g W each on average)%s\n", joules / 1e3,
               run->energy.nhosts, run->energy.nhosts == 1 ? "" : "s",
               joules / run->energy.nhosts / facts->simulated_seconds,
               run->energy.missing ? "; some hosts give no wattage (summary.json)" : "");
    }
    if (sc->cost) {
        double per_s = (double)run->total_steps / facts->simulated_seconds;
        printf("  compute = cost: every kernel charged, none run, so no loss or accuracy; "
               "%.6g samples",
               run->global_batch * per_s);
        if (sc->dataset == DATA_TEXT)
            printf(" (%.6g tokens)", run_tokens_per_step(run) * per_s);
        printf(" per simulated s\n  wall %.1f s; results in %s/\n", wall, out_dir);
        return;
    }
    if (last && sc->dataset == DATA_TEXT) {
        printf("  final train loss %.4f, validation loss %.4f nats per character (perplexity "
               "%.3f), next-character accuracy %.4f; %.6g tokens per simulated s\n",
               last->train_loss, last->test_loss, exp(last->test_loss), last->test_accuracy,
               run_tokens_per_step(run) * run->total_steps / facts->simulated_seconds);
        printf("  sample (seed %llu):\n    ", (unsigned long long)sc->seed);
        for (const char *c = run->sample; *c; c++)
            fputs(*c == '\n' ? "\n    " : (char[2]){*c, 0}, stdout);
        putchar('\n');
    } else if (last) {
        printf("  final train loss %.4f, test loss %.4f, test accuracy %.4f\n", last->train_loss,
               last->test_loss, last->test_accuracy);
    }
    /* with several threads: the wall time spent running the kernels or
     * waiting for the pool's threads to finish them; the kernels include
     * the collectives' sums and the copies that deliver what a rank
     * receives, work the training does on any hardware */
    double kernels = run->rec.kernel_wall;
    char threads[32] = "";
    if (pool_threads() > 1)
        snprintf(threads, sizeof threads, " on %d threads", pool_threads());
    printf("  wall %.1f s, of which %.1f s in the real kernels (training, evaluation, the "
           "collectives' sums and copies)%s "
           "(simulation overhead %.1f%%); results in %s/\n",
           wall, kernels, threads, kernels > 0 ? 100.0 * (wall - kernels) / kernels : 0.0, out_dir);
}

static void draw_plots(const Run *run, const char *out_dir)
{
    const Scenario *sc = run->sc;
    char title[PATH_MAX + 512], note[PATH_MAX + 128];
    const char *plat = strrchr(sc->platform, '/');
    plat = plat ? plat + 1 : sc->platform;
    int len = (int)strlen(plat);
    if (len > 4 && strcmp(plat + len - 4, ".xml") == 0)
        len -= 4;
    snprintf(title, sizeof title, "%s: %s %s, %d worker%s on %.*s", sc->name, sc->strategy->name,
             run->model.name, sc->workers, sc->workers == 1 ? "" : "s", len, plat);
    /* cost mode: no learning curve to draw */
    int drawn =
        sc->cost ? 0 : plot_training(out_dir, title, sc->dataset == DATA_TEXT, note, sizeof note);
    if (drawn == 0 || drawn == 2)
        drawn = plot_script("timeline.gp", out_dir, title, note, sizeof note);
    if (run->opts->quiet)
        return; /* quiet: the pictures are there, or they are not */
    if ((drawn == 0 || drawn == 2) && sc->cost)
        printf("  plots: %s/timeline.png\n", out_dir);
    else if (drawn == 0 || drawn == 2)
        printf("  plots: %s/training.png, %s/timeline.png\n", out_dir, out_dir);
    if (drawn != 0)
        fprintf(stderr, "dtsim: note: %s\n", note);
}

/* What the trained language model writes after a newline (or after its
 * first character when the text has no newline), drawn with the seed;
 * bytes other than printable ASCII, newline and tab are shown as '?'. */
static void run_sample(Run *run)
{
    int prompt = 0;
    text_encode(&run->vocab, "\n", &prompt, 1);
    int ids[RUN_SAMPLE_CHARS + 1], n = 0;
    Workspace ws;
    if (workspace_init(&ws, &run->model, 1, NULL) == 0) {
        n = model_generate(&run->model, &ws, run->final_params, &prompt, 1, RUN_SAMPLE_CHARS,
                           run->sc->seed, ids);
        workspace_free(&ws);
    }
    for (int i = 1; i < n; i++) { /* bytes a terminal or JSON would garble: '?' */
        uint8_t c = run->vocab.bytes[ids[i]];
        run->sample[i - 1] = c == '\n' || c == '\t' || (c >= 32 && c < 127) ? (char)c : '?';
    }
    run->sample[n > 0 ? n - 1 : 0] = '\0';
}

static int write_results(Run *run, const char *out_dir, double wall, DtError *err)
{
    /* a run a failure stopped has no final parameters */
    int stopped = run->recovery.stopped_at >= 0.0;
    if (run->sc->dataset == DATA_TEXT && !run->sc->cost && !stopped)
        run_sample(run);
    char network[64];
    platform_network_model(run->sc->platform, &run->opts->sim, network, sizeof network);
    RunFacts facts;
    run_facts(run, wall, network, &facts);
    if (write_files(run, &facts, out_dir, err) < 0)
        return -1;
    if (run->opts->save_model && !stopped && save_model(run, run->opts->save_model, err) < 0)
        return -1;
    if (!run->opts->quiet)
        print_results(run, &facts, wall, out_dir);
    if (!run->opts->no_plot)
        draw_plots(run, out_dir);
    return 0;
}

static void run_free(Run *run)
{
    if (run->strategy->stop)
        run->strategy->stop(run);
    dataset_free(&run->train);
    dataset_free(&run->test);
    record_free(&run->rec);
    energy_free(&run->energy);
    recovery_free(run);
    profiles_free(&run->profiles);
    sim_options_free(&run->sim);
    placement_free(&run->place);
    free(run->final_params);
    for (int i = 0; i + 1 < run->eval_parts; i++)
        workspace_free(&run->eval_ws[i]);
    free(run->eval_ws);
}

/* The platform's host state profiles (profiles.h), and SimGrid's options:
 * the user's and, when SimGrid loads a copy of the platform, the
 * original's directory for its relative files. */
static int run_profiles(Run *run, DtError *err)
{
    const SimOptions *user = &run->opts->sim;
    run->sim = (SimOptions){.ncfg = user->ncfg};
    memcpy(run->sim.cfg, user->cfg, sizeof run->sim.cfg); /* lent: owned stays NULL */
    if (profiles_read(&run->profiles, run->sc->platform, err) < 0)
        return -1;
    if (!run->profiles.copy[0])
        return 0;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "path:%s", run->profiles.dir);
    return sim_options_add(&run->sim, path, err);
}

/* The checks shared by run and check: data, model, platform, placement. */
static int run_validate(Run *run, DtError *err)
{
    if (prepare(run, err) < 0)
        return -1;
    const Scenario *sc = run->sc;
    const char *names = sc->hosts[0] ? sc->hosts : NULL;
    /* checkpoints to a storage host travel from the ranks' hosts */
    const char *storage = sc->checkpoint_every > 0 && strcmp(sc->checkpoint_to, "disk") != 0
                              ? sc->checkpoint_to
                              : NULL;
    if (run_profiles(run, err) < 0)
        return -1;
    int host_count = platform_check_reach(profiles_platform(&run->profiles, sc->platform),
                                          &run->sim, run->strategy->ranks(sc), names, storage, err);
    if (host_count < 0) {
        profiles_rename(&run->profiles, sc->platform, err->msg, sizeof err->msg);
        return -1;
    }
    if (place_ranks(run, host_count, err) < 0)
        return -1;
    return host_count;
}

/* With the platform loaded: the faults name its hosts. */
static int run_check_faults(const Run *run, DtError *err)
{
    return faults_check(&run->sc->faults, run->sc->path, run->sc->platform, err);
}

static void print_check(const Run *run, int hosts)
{
    const Scenario *sc = run->sc;
    const Model *m = &run->model;
    char network[64], ranks[64];
    platform_network_model(sc->platform, &run->opts->sim, network, sizeof network);
    run_ranks_note(run, ranks, sizeof ranks);
    printf("%s: ok\n", sc->path);
    printf("  model %s: %d layers, %zu parameters (%.3g MB), %.6g FLOP per global step\n", m->name,
           m->nlayers, m->nparams, model_param_bytes(m) / 1e6,
           model_forward_flops(m, run->global_batch) + model_backward_flops(m, run->global_batch));
    printf("  data: %d training and %d test samples; global batch %d, %d steps per epoch, "
           "%ld steps\n",
           run->train.n, run->test.n, run->global_batch, run->steps_per_epoch, run->total_steps);
    printf("  platform %s: %d host%s; strategy %s on %d worker%s%s; network model %s\n",
           sc->platform, hosts, hosts == 1 ? "" : "s", sc->strategy->name, sc->workers,
           sc->workers == 1 ? "" : "s", ranks, network);
    const Energy *e = &run->energy;
    if (energy_on(e))
        printf("  energy: reported for the %d device%s that give%s wattage_per_state%s\n",
               e->nhosts, e->nhosts == 1 ? "" : "s", e->nhosts == 1 ? "s" : "",
               e->missing ? " (some hosts of ranks give none)" : "");
    else
        printf("  energy: not reported (no host of a rank gives wattage_per_state)\n");
    recovery_describe(run);
}

static void run_progress_messages(void *ctx, unsigned long long delivered);

static int run_start(Run *run, const char *out_dir, DtError *err);

/* What the busiest device keeps, against what it has. */
static void print_memory(const Run *run)
{
    int busiest = 0;
    for (int r = 1; r < run->nranks; r++)
        if (memory_total(&run->rec.ranks[r].memory) > memory_total(&run->rec.ranks[busiest].memory))
            busiest = r;
    const RankTotals *t = &run->rec.ranks[busiest];
    const MemoryNeed *m = &t->memory;
    printf("  memory: rank %d (%s) keeps the most, %.3g GB (parameters %.3g, gradients %.3g, "
           "optimizer state %.3g, activations %.3g, buffers %.3g)",
           busiest, t->host, memory_total(m) / 1e9, m->parameters / 1e9, m->gradients / 1e9,
           m->optimizer / 1e9, m->activations / 1e9, m->buffers / 1e9);
    if (t->memory_capacity > 0.0)
        printf(", of its %.3g GB\n", t->memory_capacity / 1e9);
    else
        printf("; the platform gives no memory to check it against\n");
}

int run_check(const Scenario *sc, const RunOptions *opts, DtError *err)
{
    /* everything a run does before it simulates, the ranks described (and
     * their memory checked) but not started */
    Run run = {.sc = sc, .opts = opts, .strategy = sc->strategy, .describe_only = 1};
    char out_dir[PATH_MAX];
    run_out_dir(sc, opts, out_dir, sizeof out_dir);
    if (opts->save_model && check_save_model(sc, opts, out_dir, err) < 0)
        return -1;
    int hosts = run_validate(&run, err);
    if (hosts >= 0 && run_start(&run, NULL, err) < 0)
        hosts = -1;
    if (hosts >= 0) {
        print_check(&run, hosts);
        print_memory(&run);
    }
    run_free(&run);
    return hosts < 0 ? -1 : 0;
}

/* Load the platform (SimGrid's own trace files, should the platform ask
 * for them, into out_dir), place the ranks and let the strategy start them. */
static int run_start(Run *run, const char *out_dir, DtError *err)
{
    const Scenario *sc = run->sc;
    platform_load(profiles_platform(&run->profiles, sc->platform), &run->sim, out_dir);
    profiles_loaded(&run->profiles);
    if (run_check_faults(run, err) < 0)
        return -1;
    int group = run->strategy->group ? run->strategy->group(sc) : 0;
    const char *hosts = sc->hosts[0] ? sc->hosts : NULL;
    if (placement_place(&run->place, run->nranks, hosts, group, err) < 0 ||
        record_init(&run->rec, run->nranks, err) < 0 ||
        energy_start(&run->energy, run->place.host, run->nranks, err) < 0)
        return -1;
    run->rec.energy = energy_on(&run->energy);
    if (recovery_start(run, err) < 0)
        return -1;
    run->progress_tty = isatty(STDERR_FILENO);
    if (run->progress_tty && !run->opts->quiet)
        comm_progress(run_progress_messages, run);
    return run->strategy->start(run, err);
}

int run_scenario(const Scenario *sc, const RunOptions *opts, DtError *err)
{
    Run run = {.sc = sc, .opts = opts, .strategy = sc->strategy};
    char out_dir[PATH_MAX];
    run_out_dir(sc, opts, out_dir, sizeof out_dir);
    int rc = -1;

    if (opts->save_model && check_save_model(sc, opts, out_dir, err) < 0)
        goto out;
    if (run_validate(&run, err) < 0 || run_prepare_out_dir(out_dir, opts->force, err) < 0 ||
        run_start(&run, out_dir, err) < 0)
        goto out;
    run.wall_start = record_clock();
    simgrid_run();
    pool_drain(); /* a deadlocked rank may have left kernels running */
    double wall = record_clock() - run.wall_start;
    comm_progress(NULL, NULL);
    run.nranks = run.rec.nranks; /* every rank that ran, elastic or not */
    if (!opts->quiet && run.progress_tty)
        fputs("\r\033[K", stderr); /* the bar goes when the run is done */
    if (run.failed) {
        /* a failure the job could not recover from: what was done is kept */
        if (run.recovery.stopped_at >= 0.0) {
            if (write_results(&run, out_dir, wall, err) == 0)
                dt_fail(err, DT_ERUNTIME, "%s %s/", run.err.msg, out_dir);
            goto out;
        }
        *err = run.err;
        goto out;
    }
    /* SimGrid ends the run when nothing can progress any more: ranks still
     * waiting then (a deadlock), or a clock gone to infinity (a kernel or
     * a transfer that never ends), is a failure, not a result */
    /* ranks left waiting; or ended by SimGrid as deadlocked, which a
     * restartable run's steps tell */
    int stuck =
        sg_actor_count() > 0 || (run.recovery.on && run.recovery.done_step < run.total_steps);
    double end = simgrid_get_clock();
    rc = write_results(&run, out_dir, wall, err);
    if (rc == 0 && (stuck || !isfinite(end)))
        rc = dt_fail(err, DT_ERUNTIME,
                     "the simulation stopped at %g simulated s%s: nothing could progress (a "
                     "device or link so slow that its work never ends, or a SimGrid option "
                     "that stalls the solver); what was done is in %s/",
                     end, stuck ? " with ranks still waiting" : "", out_dir);
out:
    run_free(&run);
    return rc;
}

/* run_spawn with one kind for all ranks (kind) or a kind per rank (kind_of). */
static int spawn(Run *run, const RankKind *kind, const RankKind *(*kind_of)(const Run *, int),
                 DtError *err)
{
    const int n = run->nranks;
    void **state = calloc((size_t)n, sizeof *state);
    if (!state)
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks", n);
#define KIND(r) (kind_of ? kind_of(run, r) : kind)
    int rc = 0;
    for (int r = 0; r < n && rc == 0; r++) {
        if (!(state[r] = calloc(1, KIND(r)->size)))
            rc = dt_fail(err, DT_ERUNTIME, "out of memory for rank %d", r);
        else
            rc = KIND(r)->describe(state[r], run, r, err);
    }
    for (int r = 0; r < n && rc == 0 && !run->describe_only; r++)
        rc = KIND(r)->alloc(state[r], err);
    for (int r = 0; r < n; r++) {
        if (rc < 0 || run->describe_only) {
            if (state[r])
                KIND(r)->destroy(state[r]);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "%s-%d", KIND(r)->name, r);
        sg_actor_t actor = sg_actor_init(name, run->place.host[r]);
        sg_actor_set_data(actor, state[r]);
        sg_actor_start(actor, KIND(r)->main, 0, NULL);
    }
#undef KIND
    free(state);
    return rc;
}

int run_spawn(Run *run, const RankKind *(*kind_of)(const Run *run, int rank), DtError *err)
{
    return spawn(run, NULL, kind_of, err);
}

int run_spawn_all(Run *run, const RankKind *kind, DtError *err)
{
    return spawn(run, kind, NULL, err);
}

int run_replica_init(const Run *run, Replica *r, int batch, DtError *err)
{
    const Scenario *sc = run->sc;
    if (!sc->cost)
        return replica_init(r, &run->model, &sc->opt, batch, sc->seed, err);
    replica_describe(r, &run->model, &sc->opt, batch);
    return 0;
}

double run_wire_bytes(const Run *run)
{
    return precision_bytes(run->sc->precision);
}

int run_eval_due(const Run *run, long step)
{
    if (step == run->total_steps)
        return 1;
    long every = run->sc->eval_every ? run->sc->eval_every : run->steps_per_epoch;
    return step % every == 0;
}

const char *run_step_word(const Run *run)
{
    return run->strategy->rounds ? "round" : "step";
}

double run_epochs(const Run *run, long step)
{
    if (run->strategy->rounds)
        return run->samples_trained / run->train.n;
    return (double)step / run->steps_per_epoch;
}

void run_add_loss(Run *run, double loss_sum, int samples)
{
    run->loss_sum += loss_sum;
    run->loss_samples += samples;
}

/* One part of the test set on the pool: batches [first, last). */
typedef struct EvalPart {
    const Replica *r;
    Workspace *ws;
    const Dataset *d;
    int first, last;
    double *loss; /* (last - first) */
    long correct;
} EvalPart;

static void eval_part(void *arg, int i)
{
    EvalPart *p = (EvalPart *)arg + i;
    model_evaluate_batches(p->r->m, p->ws, p->r->params, p->d, p->first, p->last, p->loss,
                           &p->correct);
}

/* Workspaces like r's for `parts` parts of the test set (r's own is the
 * first); 0, or -1 when they cannot be had (then one part it is). */
static int eval_workspaces(Run *run, const Replica *r, int parts)
{
    if (run->eval_parts > 1 && run->eval_ws[0].batch != r->ws.batch) {
        /* made for a replica of another batch */
        for (int i = 0; i + 1 < run->eval_parts; i++)
            workspace_free(&run->eval_ws[i]);
        run->eval_parts = 0;
    }
    if (parts <= 1 || run->eval_parts >= parts)
        return 0;
    Workspace *ws = realloc(run->eval_ws, (size_t)(parts - 1) * sizeof *ws);
    if (!ws)
        return -1;
    run->eval_ws = ws;
    DtError err;
    for (int i = run->eval_parts > 0 ? run->eval_parts - 1 : 0; i < parts - 1; i++) {
        if (workspace_init(&ws[i], r->m, r->ws.batch, &err) < 0)
            return -1;
        run->eval_parts = i + 2;
    }
    return 0;
}

/* The test set's accuracy, and its mean loss in *loss, as model_evaluate
 * gives them bit for bit, with its batches spread over the pool. */
static double run_eval_test(Run *run, const Replica *r, double *loss)
{
    const Dataset *d = &run->test;
    int batches = (int)((d->n + (long)r->ws.batch - 1) / r->ws.batch);
    int parts = pool_threads() < batches ? pool_threads() : batches;
    double *part_loss = malloc((size_t)(batches > 0 ? batches : 1) * sizeof *part_loss);
    EvalPart *part = malloc((size_t)(parts > 0 ? parts : 1) * sizeof *part);
    if (!part_loss || !part || eval_workspaces(run, r, parts) < 0)
        parts = 1;
    if (parts <= 1 || !part_loss || !part) {
        free(part_loss);
        free(part);
        double t = record_clock();
        double acc = model_evaluate(r->m, (Workspace *)&r->ws, r->params, d, loss);
        record_kernel(&run->rec, t);
        return acc;
    }
    for (int i = 0; i < parts; i++) {
        int first = (int)((long)batches * i / parts);
        part[i] =
            (EvalPart){r,     i ? &run->eval_ws[i - 1] : (Workspace *)&r->ws, d,
                       first, (int)((long)batches * (i + 1) / parts),         part_loss + first,
                       0};
    }
    pool_for(parts, eval_part, part, &run->rec.kernel_wall);
    double total = 0.0, rows = (double)d->n * r->m->positions;
    long correct = 0;
    for (int k = 0; k < batches; k++)
        total += part_loss[k];
    for (int i = 0; i < parts; i++)
        correct += part[i].correct;
    free(part_loss);
    free(part);
    *loss = d->n ? total / rows : 0.0;
    return d->n ? (double)correct / rows : 0.0;
}

void run_evaluate(Run *run, Replica *r, long step)
{
    double test_loss = NAN, acc = NAN;
    if (!run->sc->cost) {
        replica_settle(r, &run->rec);
        acc = run_eval_test(run, r, &test_loss);
    }
    run_record(run, step, test_loss, acc);
}

void run_record(Run *run, long step, double test_loss, double acc)
{
    double train_loss = run->loss_samples ? run->loss_sum / (double)run->loss_samples : 0.0;
    run->loss_sum = 0.0;
    run->loss_samples = 0;
    if (run->sc->cost)
        train_loss = NAN; /* no kernel ran: a row of times only */
    MetricRow row = {
        .step = step,
        .updates = run->rec.updates ? run->rec.updates : step,
        .epoch = run_epochs(run, step),
        .sim_seconds = simgrid_get_clock(),
        .train_loss = train_loss,
        .test_loss = test_loss,
        .test_accuracy = acc,
        .device_joules = energy_on(&run->energy) ? energy_hosts_joules(&run->energy) : NAN,
    };
    record_metric(&run->rec, &row);
    if (run->opts->quiet)
        return;
    /* on a terminal, over the progress bar, which is drawn again below */
    char learned[64] = "";
    if (!run->sc->cost)
        snprintf(learned, sizeof learned, "  train loss %.4f  test acc %.4f", train_loss, acc);
    fprintf(stderr, "%s%s %ld/%ld  epoch %.2f  sim %.6g s%s  wall %.1f s\n",
            run->progress_tty ? "\r\033[K" : "", run_step_word(run), step, run->total_steps,
            row.epoch, row.sim_seconds, learned, record_clock() - run->wall_start);
    run->progress_last = 0.0;
    run_progress(run, step);
}

/* The progress line: the bar, the steps done, and the messages delivered
 * when more than none. */
static void progress_draw(Run *run, double now, unsigned long long messages)
{
    run->progress_last = now;
    char bar[64], more[64] = "";
    cli_bar(bar, sizeof bar, (double)run->progress_step / run->total_steps);
    if (messages)
        snprintf(more, sizeof more, "  %llu messages", messages);
    fprintf(stderr, "\r\033[K%s  step %ld/%ld  sim %.6g s  wall %.1f s%s", bar, run->progress_step,
            run->total_steps, simgrid_get_clock(), now - run->wall_start, more);
    fflush(stderr);
}

void run_progress(Run *run, long step)
{
    run->progress_step = step;
    if (run->opts->quiet || !run->progress_tty || step >= run->total_steps)
        return;
    double now = record_clock();
    if (now - run->progress_last >= 0.25)
        progress_draw(run, now, 0);
}

/* Inside a long step (a huge model, thousands of ranks): the line again,
 * with the messages delivered so far, so that it is not taken for a hang. */
static void run_progress_messages(void *ctx, unsigned long long delivered)
{
    Run *run = ctx;
    double now = record_clock();
    if (now - run->progress_last >= 0.5)
        progress_draw(run, now, delivered);
}

void run_keep_params(Run *run, const float *params)
{
    if (run->sc->cost)
        return;
    memcpy(run->final_params, params, run->model.nparams * sizeof(float));
}

void run_fail(Run *run, const DtError *err)
{
    if (!run->failed) {
        run->failed = 1;
        run->err = *err;
    }
}
