/*
 * sweep.c - `dtsim sweep`: runs the variants of a scenario and tabulates
 * them (see sweep.h).
 *
 * Each variant is a separate `dtsim run` process (SimGrid runs one
 * simulation per process), started with posix_spawn from this executable.
 * Each run computes on one core (dtsim sets OpenBLAS's threads itself, so
 * that results do not depend on them), so parallel runs do not fight over
 * the cores.  The table is built afterwards from the
 * runs' summary.json files, so it does not depend on which run finished
 * first.
 */
#include "sweep.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "run.h"
#include "scenario.h"

extern char **environ;

#define SWEEP_MAX_VARY 8
#define SWEEP_MAX_VALUES 64
#define SWEEP_MAX_PASS 128

typedef struct Vary {
    char key[64];                   /* section.key */
    char *values[SWEEP_MAX_VALUES]; /* into text */
    int nvalues;
    char *text; /* owned copy of the value list */
} Vary;

typedef struct SweepArgs {
    const char *scenario;
    const char *out;
    int jobs;
    int print_commands;
    int force;
    int no_plot;
    char about[256]; /* "mlp on fattree-64", for the plot titles */
    Vary vary[SWEEP_MAX_VARY];
    int nvary;
    const char *pass[SWEEP_MAX_PASS]; /* options handed to every run */
    int npass;
} SweepArgs;

static void sweep_args_free(SweepArgs *a)
{
    for (int i = 0; i < a->nvary; i++)
        free(a->vary[i].text);
}

static int sweep_vary_parse(Vary *v, const char *spec, DtError *err)
{
    const char *eq = strchr(spec, '=');
    const char *dot = strchr(spec, '.');
    if (!eq || !dot || dot > eq || eq - spec >= (long)sizeof v->key)
        return dt_fail(
            err, DT_EINPUT,
            "--vary %s: expected section.key=v1,v2,..., e.g. --vary cluster.workers=1,2,4", spec);
    snprintf(v->key, sizeof v->key, "%.*s", (int)(eq - spec), spec);
    if (!(v->text = strdup(eq + 1)))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    v->nvalues = 0;
    for (char *save = NULL, *tok = strtok_r(v->text, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        if (v->nvalues == SWEEP_MAX_VALUES)
            return dt_fail(err, DT_EINPUT, "--vary %s: at most %d values", v->key,
                           SWEEP_MAX_VALUES);
        v->values[v->nvalues++] = tok;
    }
    if (v->nvalues == 0)
        return dt_fail(err, DT_EINPUT, "--vary %s: no values; give e.g. --vary %s=1,2,4", v->key,
                       v->key);
    return 0;
}

static int sweep_args_parse(SweepArgs *a, int argc, char **argv, DtError *err)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->jobs = cores > 0 ? (int)cores : 1;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_option(argc, argv, &i, "--vary", &v)) {
            if (!v)
                return dt_fail(err, DT_EINPUT, "--vary needs a value (see dtsim --help)");
            if (a->nvary == SWEEP_MAX_VARY)
                return dt_fail(err, DT_EINPUT, "at most %d --vary options", SWEEP_MAX_VARY);
            if (sweep_vary_parse(&a->vary[a->nvary++], v, err) < 0)
                return -1;
        } else if (cli_option(argc, argv, &i, "--out", &v)) {
            if (!v)
                return dt_fail(err, DT_EINPUT, "--out needs a value (see dtsim --help)");
            a->out = v;
        } else if (cli_option(argc, argv, &i, "--jobs", &v)) {
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 1024)
                return dt_fail(err, DT_EINPUT, "--jobs %s: expected a whole number from 1 to 1024",
                               v ? v : "");
            a->jobs = (int)n;
        } else if (strcmp(argv[i], "--print-commands") == 0) {
            a->print_commands = 1;
        } else if (strcmp(argv[i], "--no-plot") == 0) {
            a->no_plot = 1;
        } else if (strcmp(argv[i], "--force") == 0) {
            a->force = 1;
            a->pass[a->npass++] = argv[i];
        } else if (!strcmp(argv[i], "--platform") || !strcmp(argv[i], "--set") ||
                   !strncmp(argv[i], "--platform=", 11) || !strncmp(argv[i], "--set=", 6) ||
                   !strncmp(argv[i], "--cfg", 5)) {
            /* handed to every run as they are; "--opt value" or "--opt=value" */
            int has_value = !strchr(argv[i], '=');
            if (a->npass + 2 > SWEEP_MAX_PASS)
                return dt_fail(err, DT_EINPUT, "too many options");
            a->pass[a->npass++] = argv[i];
            if (has_value) {
                if (i + 1 >= argc)
                    return dt_fail(err, DT_EINPUT, "%s needs a value", argv[i]);
                a->pass[a->npass++] = argv[++i];
            }
        } else if (argv[i][0] == '-') {
            return dt_fail(err, DT_EINPUT, "unknown option '%s' for dtsim sweep (see dtsim --help)",
                           argv[i]);
        } else if (!a->scenario) {
            a->scenario = argv[i];
        } else {
            return dt_fail(err, DT_EINPUT, "unexpected argument '%s': give one scenario", argv[i]);
        }
    }
    if (!a->scenario)
        return dt_fail(err, DT_EINPUT, "dtsim sweep needs a scenario file");
    if (a->nvary == 0)
        return dt_fail(err, DT_EINPUT,
                       "dtsim sweep needs at least one --vary section.key=v1,v2,...");
    return 0;
}

/* Variant index -> the value index of each --vary (the last varies fastest). */
static void sweep_variant(const SweepArgs *a, int variant, int *pick)
{
    for (int k = a->nvary - 1; k >= 0; k--) {
        pick[k] = variant % a->vary[k].nvalues;
        variant /= a->vary[k].nvalues;
    }
}

/* The --set strings of a variant, "section.key=value", into buf. */
static void sweep_sets(const SweepArgs *a, const int *pick, char sets[][192])
{
    for (int k = 0; k < a->nvary; k++)
        snprintf(sets[k], 192, "%s=%s", a->vary[k].key, a->vary[k].values[pick[k]]);
}

/* Check every variant as a scenario, with the --set options of the command
 * line first, so that a wrong key or value stops the sweep before it runs. */
static int sweep_validate(SweepArgs *a, int nvariants, DtError *err)
{
    const char *sets[SWEEP_MAX_PASS + SWEEP_MAX_VARY];
    Scenario *sc = malloc(sizeof *sc);
    if (!sc)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    int rc = 0;
    for (int v = 0; v < nvariants && rc == 0; v++) {
        int pick[SWEEP_MAX_VARY], n = 0;
        char vsets[SWEEP_MAX_VARY][192];
        sweep_variant(a, v, pick);
        sweep_sets(a, pick, vsets);
        for (int i = 0; i < a->npass; i++)
            if (!strcmp(a->pass[i], "--set") && i + 1 < a->npass)
                sets[n++] = a->pass[++i];
            else if (!strncmp(a->pass[i], "--set=", 6))
                sets[n++] = a->pass[i] + 6;
        for (int k = 0; k < a->nvary; k++)
            sets[n++] = vsets[k];
        rc = scenario_load(sc, a->scenario, sets, n, err);
        if (rc == 0 && v == 0) {
            const char *plat = strrchr(sc->platform, '/');
            plat = plat ? plat + 1 : sc->platform;
            snprintf(a->about, sizeof a->about, "%s on %.*s", sc->model.ops->name,
                     (int)strcspn(plat, "."), plat);
        }
        scenario_free(sc);
    }
    free(sc);
    return rc;
}

/* argv of one variant's `dtsim run` (strings live in vsets and dir). */
static int sweep_argv(const SweepArgs *a, const char *self, char vsets[][192], const char *dir,
                      const char **argv)
{
    int n = 0;
    argv[n++] = self;
    argv[n++] = "run";
    argv[n++] = a->scenario;
    for (int i = 0; i < a->npass; i++)
        argv[n++] = a->pass[i];
    for (int k = 0; k < a->nvary; k++) {
        argv[n++] = "--set";
        argv[n++] = vsets[k];
    }
    argv[n++] = "--out";
    argv[n++] = dir;
    argv[n++] = "--quiet";
    argv[n++] = "--no-plot";
    argv[n] = NULL;
    return n;
}

/* Print s quoted for a POSIX shell when it needs it. */
static void shell_quote(FILE *out, const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "_-./=:,+@%") == strlen(s)) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", out);
        else
            fputc(*s, out);
    }
    fputc('\'', out);
}

/* Start variant v's run; 0, or an errno from posix_spawn. */
static int sweep_spawn(const SweepArgs *a, const char *self, int v, pid_t *pid)
{
    int pick[SWEEP_MAX_VARY];
    char vsets[SWEEP_MAX_VARY][192], dir[PATH_MAX];
    const char *argv[SWEEP_MAX_PASS + 2 * SWEEP_MAX_VARY + 16];
    sweep_variant(a, v, pick);
    sweep_sets(a, pick, vsets);
    snprintf(dir, sizeof dir, "%s/run-%03d", a->out, v);
    sweep_argv(a, self, vsets, dir, argv);
    return posix_spawn(pid, self, NULL, NULL, (char *const *)argv, environ);
}

static void sweep_report(int done, int nvariants, int failed)
{
    if (isatty(STDERR_FILENO)) {
        char bar[64];
        cli_bar(bar, sizeof bar, (double)done / nvariants);
        fprintf(stderr, "\r\033[K%s  sweep: %d/%d runs done%s%s", bar, done, nvariants,
                failed ? " (some failed)" : "", done < nvariants ? "" : "\n");
    } else {
        fprintf(stderr, "sweep: %d/%d runs done%s\n", done, nvariants,
                failed ? " (some failed)" : "");
    }
}

/* Run every variant, --jobs at a time; status[v] is each run's wait status. */
static int sweep_run_jobs(const SweepArgs *a, const char *self, int nvariants, pid_t *pids,
                          int *status, DtError *err)
{
    int next = 0, running = 0, done = 0, failed = 0;
    while (next < nvariants || running > 0) {
        while (next < nvariants && running < a->jobs) {
            int rc = sweep_spawn(a, self, next, &pids[next]);
            if (rc != 0)
                return dt_fail(err, DT_ERUNTIME, "cannot start %s: %s", self, strerror(rc));
            next++;
            running++;
        }
        int st;
        pid_t pid = wait(&st);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int v = 0; v < next; v++) {
            if (pids[v] == pid) {
                status[v] = st;
                pids[v] = 0;
                running--;
                done++;
                failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
                sweep_report(done, nvariants, failed);
                break;
            }
        }
    }
    return 0;
}

static int sweep_run_all(const SweepArgs *a, const char *self, int nvariants, DtError *err)
{
    pid_t *pids = calloc((size_t)nvariants, sizeof *pids);
    int *status = calloc((size_t)nvariants, sizeof *status);
    int rc = pids && status ? 0 : dt_fail(err, DT_ERUNTIME, "out of memory");
    if (rc == 0)
        rc = sweep_run_jobs(a, self, nvariants, pids, status, err);
    for (int v = 0; v < nvariants && rc == 0; v++) {
        if (!(WIFEXITED(status[v]) && WEXITSTATUS(status[v]) == 0))
            rc = dt_fail(err, DT_ERUNTIME,
                         "run %d (%s/run-%03d) failed; its command: dtsim sweep "
                         "--print-commands shows it",
                         v, a->out, v);
    }
    free(pids);
    free(status);
    return rc;
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : 0.0;
}

typedef struct SweepRow {
    double workers, steps, global_batch, seconds, loss, accuracy, bytes;
    double compute, comm, wait, idle; /* fractions of the ranks' total time */
    double speedup, efficiency; /* against the group's fewest workers */
    cJSON *measures;            /* the run's summary.json "measures" (owned) */
} SweepRow;

#define SWEEP_MAX_MEASURES 32

/* The names of the measures any run reports, in order of first appearance. */
static int sweep_measure_names(const SweepRow *rows, int n, const char **names)
{
    int count = 0;
    for (int v = 0; v < n; v++) {
        const cJSON *m;
        cJSON_ArrayForEach(m, rows[v].measures)
        {
            int seen = 0;
            for (int k = 0; k < count && !seen; k++)
                seen = strcmp(names[k], m->string) == 0;
            if (!seen && count < SWEEP_MAX_MEASURES)
                names[count++] = m->string;
        }
    }
    return count;
}

static int sweep_read(const char *dir, SweepRow *row, DtError *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return dt_fail(err, DT_ERUNTIME, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    size_t got = text ? fread(text, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!text)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    text[got] = '\0';
    cJSON *s = cJSON_Parse(text);
    free(text);
    if (!s)
        return dt_fail(err, DT_ERUNTIME, "%s is not JSON", path);
    *row = (SweepRow){
        .workers = json_num(s, "workers"),
        .steps = json_num(s, "steps"),
        .global_batch = json_num(s, "global_batch"),
        .seconds = json_num(s, "simulated_seconds"),
        .loss = json_num(s, "final_loss"),
        .accuracy = json_num(s, "test_accuracy"),
        .bytes = json_num(s, "bytes_communicated"),
    };
    double compute = 0, comm = 0, wait = 0, idle = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(s, "hosts"))
    {
        compute += json_num(h, "compute_seconds");
        comm += json_num(h, "comm_seconds");
        wait += json_num(h, "wait_seconds");
        idle += json_num(h, "idle_seconds");
    }
    double total = compute + comm + wait + idle;
    if (total > 0) {
        row->compute = compute / total;
        row->comm = comm / total;
        row->wait = wait / total;
        row->idle = idle / total;
    }
    row->measures = cJSON_DetachItemFromObjectCaseSensitive(s, "measures");
    cJSON_Delete(s);
    return 0;
}

/* Do variants a and b differ in nothing but cluster.workers? */
static int sweep_same_but_workers(const SweepArgs *a, int va, int vb)
{
    int pa[SWEEP_MAX_VARY], pb[SWEEP_MAX_VARY];
    sweep_variant(a, va, pa);
    sweep_variant(a, vb, pb);
    for (int k = 0; k < a->nvary; k++)
        if (pa[k] != pb[k] && strcmp(a->vary[k].key, "cluster.workers") != 0)
            return 0;
    return 1;
}

/* A variant's label: its varied values, "key=value" joined by spaces,
 * leaving out cluster.workers when skip_workers. */
static void sweep_label(const SweepArgs *a, int v, int skip_workers, char *buf, size_t size)
{
    int pick[SWEEP_MAX_VARY];
    sweep_variant(a, v, pick);
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < a->nvary && used < size; k++) {
        const char *key = strchr(a->vary[k].key, '.') + 1;
        if (skip_workers && strcmp(a->vary[k].key, "cluster.workers") == 0)
            continue;
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", used ? " " : "", key,
                                 a->vary[k].values[pick[k]]);
    }
    if (!buf[0])
        snprintf(buf, size, "%s", "all");
}

/* Data for plots/sweep.gp, read back from sweep.csv's rows:
 *   plot-runs.dat: per variant, its directory, label and time fractions
 *   plot-scaling.dat: one block per group of variants that differ only in
 *   cluster.workers (blocks start with the group's label): workers,
 *   speedup, efficiency and the ideal speedup, by increasing workers. */
static int sweep_plot_data(const SweepArgs *a, int nvariants, const SweepRow *rows, DtError *err)
{
    char path[PATH_MAX + 32], label[512];
    snprintf(path, sizeof path, "%s/plot-runs.dat", a->out);
    FILE *runs = fopen(path, "w");
    snprintf(path, sizeof path, "%s/plot-scaling.dat", a->out);
    FILE *scaling = fopen(path, "w");
    int *done = calloc((size_t)nvariants, sizeof *done);
    if (!runs || !scaling || !done) {
        if (runs)
            fclose(runs);
        if (scaling)
            fclose(scaling);
        free(done);
        return dt_fail(err, DT_ERUNTIME, "cannot write plot data in %s", a->out);
    }
    fprintf(runs, "# run label compute_fraction comm_fraction wait_fraction idle_fraction\n");
    for (int v = 0; v < nvariants; v++) {
        sweep_label(a, v, 0, label, sizeof label);
        fprintf(runs, "run-%03d \"%s\" %.6f %.6f %.6f %.6f\n", v, label, rows[v].compute,
                rows[v].comm, rows[v].wait, rows[v].idle);
    }
    int blocks = 0;
    for (int v = 0; v < nvariants; v++) {
        if (done[v])
            continue;
        sweep_label(a, v, 1, label, sizeof label);
        fprintf(scaling, "%s\"%s\"\n", blocks++ ? "\n\n" : "", label);
        for (;;) { /* the group's members, fewest workers first */
            int best = -1;
            for (int u = 0; u < nvariants; u++)
                if (!done[u] && sweep_same_but_workers(a, u, v) &&
                    (best < 0 || rows[u].workers < rows[best].workers))
                    best = u;
            if (best < 0)
                break;
            done[best] = 1;
            const SweepRow *r = &rows[best];
            double ideal = r->efficiency > 0 ? r->speedup / r->efficiency : 0.0;
            fprintf(scaling, "%.0f %.6f %.6f %.6f\n", r->workers, r->speedup, r->efficiency, ideal);
        }
    }
    int bad = ferror(runs) || ferror(scaling);
    bad |= fclose(runs) != 0;
    bad |= fclose(scaling) != 0;
    free(done);
    return bad ? dt_fail(err, DT_ERUNTIME, "error while writing plot data in %s", a->out) : 0;
}

/* Row v's speedup and efficiency against the fewest workers among the
 * variants like it. */
static void sweep_speedup(const SweepArgs *a, int nvariants, SweepRow *rows, int v)
{
    SweepRow *r = &rows[v];
    int base = v;
    for (int u = 0; u < nvariants; u++)
        if (sweep_same_but_workers(a, u, v) && rows[u].workers < rows[base].workers)
            base = u;
    const SweepRow *b = &rows[base];
    double throughput = r->seconds > 0 ? r->steps * r->global_batch / r->seconds : 0.0;
    double base_tp = b->seconds > 0 ? b->steps * b->global_batch / b->seconds : 0.0;
    r->speedup = base_tp > 0 ? throughput / base_tp : 0.0;
    r->efficiency = r->workers > 0 ? r->speedup * b->workers / r->workers : 0.0;
}

/* sweep.csv: a header, then a line a variant; the measures as columns,
 * empty where a run does not report one. */
static void sweep_csv(FILE *f, const SweepArgs *a, int nvariants, const SweepRow *rows,
                      const char **names, int nnames)
{
    fprintf(f, "run");
    for (int k = 0; k < a->nvary; k++)
        fprintf(f, ",%s", a->vary[k].key);
    fprintf(f, ",workers,simulated_seconds,seconds_per_step,samples_per_second,final_loss,"
               "test_accuracy,bytes_communicated,compute_fraction,comm_fraction,wait_fraction,"
               "idle_fraction,"
               "speedup,efficiency");
    for (int k = 0; k < nnames; k++)
        fprintf(f, ",%s", names[k]);
    fputc('\n', f);
    for (int v = 0; v < nvariants; v++) {
        const SweepRow *r = &rows[v];
        double per_step = r->steps > 0 ? r->seconds / r->steps : 0.0;
        double throughput = r->seconds > 0 ? r->steps * r->global_batch / r->seconds : 0.0;
        int pick[SWEEP_MAX_VARY];
        sweep_variant(a, v, pick);
        fprintf(f, "%d", v);
        for (int k = 0; k < a->nvary; k++)
            fprintf(f, ",%s", a->vary[k].values[pick[k]]);
        fprintf(f, ",%.0f,%.9g,%.9g,%.9g,%.9g,%.6f,%.0f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f", r->workers,
                r->seconds, per_step, throughput, r->loss, r->accuracy, r->bytes, r->compute,
                r->comm, r->wait, r->idle, r->speedup, r->efficiency);
        for (int k = 0; k < nnames; k++) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->measures, names[k]);
            if (cJSON_IsNumber(m))
                fprintf(f, ",%.9g", m->valuedouble);
            else
                fputc(',', f);
        }
        fputc('\n', f);
    }
}

static int sweep_table(const SweepArgs *a, int nvariants, DtError *err)
{
    SweepRow *rows = calloc((size_t)nvariants, sizeof *rows);
    if (!rows)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    int rc = 0;
    for (int v = 0; v < nvariants && rc == 0; v++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/run-%03d", a->out, v);
        rc = sweep_read(dir, &rows[v], err);
    }
    for (int v = 0; v < nvariants && rc == 0; v++)
        sweep_speedup(a, nvariants, rows, v);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sweep.csv", a->out);
    FILE *f = rc == 0 ? fopen(path, "w") : NULL;
    if (rc == 0 && !f)
        rc = dt_fail(err, DT_ERUNTIME, "cannot write %s: %s", path, strerror(errno));
    if (rc == 0) {
        const char *names[SWEEP_MAX_MEASURES];
        sweep_csv(f, a, nvariants, rows, names, sweep_measure_names(rows, nvariants, names));
        rc = fclose(f) != 0 ? dt_fail(err, DT_ERUNTIME, "error while writing %s", path) : 0;
    }
    if (rc == 0)
        rc = sweep_plot_data(a, nvariants, rows, err);
    for (int v = 0; v < nvariants; v++)
        cJSON_Delete(rows[v].measures);
    free(rows);
    if (rc == 0)
        printf("sweep: %d runs; table in %s\n", nvariants, path);
    return rc;
}

/* The sweep's pictures, and each run's timeline of its last step; a missing
 * gnuplot is a note, not a failure. */
static void sweep_plot(const SweepArgs *a, int nvariants)
{
    char title[PATH_MAX + 512], note[PATH_MAX + 128], dir[PATH_MAX], label[512];
    const char *base = strrchr(a->scenario, '/');
    snprintf(title, sizeof title, "sweep of %s: %s", base ? base + 1 : a->scenario, a->about);
    int rc = plot_script("sweep.gp", a->out, title, note, sizeof note);
    if (rc != 0)
        fprintf(stderr, "dtsim: note: %s\n", note);
    if (rc == 1 || rc == -1)
        return;
    for (int v = 0; v < nvariants; v++) {
        snprintf(dir, sizeof dir, "%s/run-%03d", a->out, v);
        sweep_label(a, v, 0, label, sizeof label);
        snprintf(title, sizeof title, "%s, %s", a->about, label);
        if ((rc = plot_script("timeline.gp", dir, title, note, sizeof note)) != 0)
            fprintf(stderr, "dtsim: note: %s\n", note);
        if (rc == 1 || rc == -1)
            return;
    }
    printf("sweep: plots %s/speedup.png, time-split.png, accuracy.png, run-*/timeline.png\n",
           a->out);
}

int sweep_command(int argc, char **argv, const char *self, DtError *err)
{
    SweepArgs a = {0};
    char out[PATH_MAX];
    int rc = sweep_args_parse(&a, argc, argv, err);
    int nvariants = 1;
    for (int k = 0; rc == 0 && k < a.nvary; k++) {
        nvariants *= a.vary[k].nvalues;
        if (nvariants > 4096)
            rc = dt_fail(err, DT_EINPUT, "the --vary grid has more than 4096 variants");
    }
    if (rc == 0 && !a.out) {
        const char *base = strrchr(a.scenario, '/');
        base = base ? base + 1 : a.scenario;
        snprintf(out, sizeof out, "results/sweep-%.*s", (int)strcspn(base, "."), base);
        a.out = out;
    }
    if (rc == 0)
        rc = sweep_validate(&a, nvariants, err);
    if (rc == 0 && a.print_commands) {
        for (int v = 0; v < nvariants; v++) {
            int pick[SWEEP_MAX_VARY];
            char vsets[SWEEP_MAX_VARY][192], dir[PATH_MAX];
            const char *args[SWEEP_MAX_PASS + 2 * SWEEP_MAX_VARY + 16];
            sweep_variant(&a, v, pick);
            sweep_sets(&a, pick, vsets);
            snprintf(dir, sizeof dir, "%s/run-%03d", a.out, v);
            int n = sweep_argv(&a, self, vsets, dir, args);
            for (int i = 0; i < n; i++) {
                if (i)
                    putchar(' ');
                shell_quote(stdout, args[i]);
            }
            putchar('\n');
        }
    } else if (rc == 0) {
        rc = run_prepare_out_dir(a.out, a.force, err);
        if (rc == 0)
            rc = sweep_run_all(&a, self, nvariants, err);
        if (rc == 0)
            rc = sweep_table(&a, nvariants, err);
        if (rc == 0 && !a.no_plot)
            sweep_plot(&a, nvariants);
    }
    sweep_args_free(&a);
    return rc;
}
