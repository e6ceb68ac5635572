/*
 * sweep.c - `dtsim sweep`: runs the variants of a scenario and tabulates
 * them (see sweep.h).
 *
 * Each variant is a separate `dtsim run` process (SimGrid runs one
 * simulation per process), started with posix_spawn from this executable.
 * Each run computes on one core (dtsim sets OpenBLAS's threads itself, so
 * that results do not depend on them), so parallel runs do not fight over
 * the cores.  The table is built afterwards from the runs' summary.json
 * files (sweep_table.c), so it does not depend on which run finished
 * first; the grid of variants is sweep_grid.c's.
 */
#include "sweep.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "plot.h"
#include "pool.h"
#include "run.h"
#include "scenario.h"
#include "sweep_grid.h"

extern char **environ;

/* argv of one variant's `dtsim run` (strings live in vsets and dir). */
static int sweep_argv(const SweepArgs *a, const char *self, char vsets[][SWEEP_SET_LEN], int nv,
                      const char *dir, const char **argv)
{
    int n = 0;
    argv[n++] = self;
    argv[n++] = "run";
    argv[n++] = a->scenario;
    for (int i = 0; i < a->npass; i++)
        argv[n++] = a->pass[i];
    for (int k = 0; k < nv; k++) {
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
/* Check every variant as a scenario, with the --set options of the command
 * line first, so that a wrong key or value stops the sweep before it runs. */
static int sweep_validate(SweepArgs *a, int nvariants, DtError *err)
{
    const char *sets[SWEEP_MAX_PASS + SWEEP_MAX_SETS];
    Scenario *sc = malloc(sizeof *sc);
    if (!sc)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    int rc = 0;
    SimOptions opts = {0};
    char checked[PATH_MAX] = ""; /* the platform last checked */
    const char *platform = NULL; /* the runs' --platform, the last one given */
    for (int i = 0; i < a->npass; i++)
        if (!strcmp(a->pass[i], "--platform") && i + 1 < a->npass)
            platform = a->pass[++i];
        else if (!strncmp(a->pass[i], "--platform=", 11))
            platform = a->pass[i] + 11;
        else if (!strncmp(a->pass[i], "--cfg=", 6) && rc == 0)
            rc = sim_options_add(&opts, a->pass[i] + 6, err);
        else if (!strcmp(a->pass[i], "--cfg") && i + 1 < a->npass && rc == 0)
            rc = sim_options_add(&opts, a->pass[++i], err);
    for (int v = 0; v < nvariants && rc == 0; v++) {
        int n = 0;
        char vsets[SWEEP_MAX_SETS][SWEEP_SET_LEN];
        int nv = sweep_sets(a, v, vsets);
        for (int i = 0; i < a->npass; i++)
            if (!strcmp(a->pass[i], "--set") && i + 1 < a->npass)
                sets[n++] = a->pass[++i];
            else if (!strncmp(a->pass[i], "--set=", 6))
                sets[n++] = a->pass[i] + 6;
        for (int k = 0; k < nv; k++)
            sets[n++] = vsets[k];
        /* the run's command line, as the run will read it */
        const char *args[SWEEP_MAX_PASS + 2 * SWEEP_MAX_SETS + 16];
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/run-%03d", a->out, v);
        Args run_args = {0};
        rc =
            args_parse(&run_args, sweep_argv(a, "dtsim", vsets, nv, dir, args), (char **)args, err);
        args_free(&run_args);
        if (rc == 0)
            rc = scenario_load_on(sc, a->scenario, platform, sets, n, err);
        if (rc == 0 && strcmp(sc->platform, checked) != 0) {
            /* the platform and --cfg, before any run: SimGrid loads it */
            rc = platform_check(sc->platform, &opts, err) < 0 ? -1 : 0;
            snprintf(checked, sizeof checked, "%s", sc->platform);
        }
        if (rc == 0 && v == 0) {
            const char *plat = strrchr(sc->platform, '/');
            plat = plat ? plat + 1 : sc->platform;
            snprintf(a->about, sizeof a->about, "%s on %.*s", sc->model.ops->name,
                     (int)strcspn(plat, "."), plat);
        }
        scenario_free(sc);
    }
    sim_options_free(&opts);
    free(sc);
    return rc;
}

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

/* Start variant v's run; 0, or an errno from posix_spawn.  Unless told
 * otherwise, the runs at once share the cores: each gets cores / jobs
 * threads (at least one). */
static int sweep_spawn(const SweepArgs *a, const char *self, int v, int nvariants, pid_t *pid)
{
    char vsets[SWEEP_MAX_SETS][SWEEP_SET_LEN], dir[PATH_MAX], threads[16];
    const char *argv[SWEEP_MAX_PASS + 2 * SWEEP_MAX_SETS + 16];
    int nv = sweep_sets(a, v, vsets);
    snprintf(dir, sizeof dir, "%s/run-%03d", a->out, v);
    int n = sweep_argv(a, self, vsets, nv, dir, argv);
    if (!a->threads) {
        int at_once = a->jobs < nvariants ? a->jobs : nvariants;
        int t = pool_cores() / (at_once > 0 ? at_once : 1);
        snprintf(threads, sizeof threads, "%d", t > 1 ? t : 1);
        argv[n++] = "--threads";
        argv[n++] = threads;
        argv[n] = NULL;
    }
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
            int rc = sweep_spawn(a, self, next, nvariants, &pids[next]);
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
        sweep_label(a, v, -1, label, sizeof label);
        snprintf(title, sizeof title, "%s, %s", a->about, label);
        if ((rc = plot_script("timeline.gp", dir, title, note, sizeof note)) != 0)
            fprintf(stderr, "dtsim: note: %s\n", note);
        if (rc == 1 || rc == -1)
            return;
    }
    int workers, d = sweep_xdim(a, &workers);
    char acc[PATH_MAX + 32];
    snprintf(acc, sizeof acc, "%s/accuracy.png", a->out); /* none when nothing learned */
    printf("sweep: plots %s/%stime-split.png, %srun-*/timeline.png\n", a->out,
           d < 0     ? ""
           : workers ? "speedup.png, "
                     : "scaling.png, ",
           access(acc, F_OK) == 0 ? "accuracy.png, " : "");
}

/* --collect: every variant's run directory holds a finished run (its
 * summary.json), as its --print-commands line leaves it. */
static int sweep_check_collected(const SweepArgs *a, int nvariants, DtError *err)
{
    for (int v = 0; v < nvariants; v++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/run-%03d/summary.json", a->out, v);
        if (access(path, R_OK) != 0)
            return dt_fail(err, DT_EINPUT,
                           "--collect: run %d of %d has no results (%s: %s); run its line of "
                           "`dtsim sweep ... --print-commands` (the same options, without "
                           "--collect) first",
                           v, nvariants, path, strerror(errno));
    }
    return 0;
}

int sweep_command(int argc, char **argv, const char *self, DtError *err)
{
    SweepArgs a = {0};
    char out[PATH_MAX];
    int rc = sweep_args_parse(&a, argc, argv, err);
    if (rc == 0)
        rc = sweep_vary_check(&a, err);
    int nvariants = rc == 0 ? sweep_count(&a, err) : -1;
    int base = nvariants > 0 ? sweep_baseline(&a, nvariants, err) : -1;
    rc = nvariants < 0 || base == -2 ? -1 : 0;
    if (rc == 0 && !a.out) {
        const char *name = strrchr(a.scenario, '/');
        name = name ? name + 1 : a.scenario;
        snprintf(out, sizeof out, "results/sweep-%.*s", (int)strcspn(name, "."), name);
        a.out = out;
    }
    if (rc == 0)
        rc = sweep_validate(&a, nvariants, err);
    if (rc == 0 && a.print_commands && a.collect)
        rc = dt_fail(err, DT_EINPUT,
                     "--print-commands prints the runs and --collect gathers them once done: "
                     "give one of them");
    if (rc == 0 && a.collect) {
        rc = sweep_check_collected(&a, nvariants, err);
        if (rc == 0)
            rc = sweep_table(&a, nvariants, base, err);
        if (rc == 0 && !a.no_plot)
            sweep_plot(&a, nvariants);
    } else if (rc == 0 && a.print_commands) {
        for (int v = 0; v < nvariants; v++) {
            char vsets[SWEEP_MAX_SETS][SWEEP_SET_LEN], dir[PATH_MAX];
            const char *args[SWEEP_MAX_PASS + 2 * SWEEP_MAX_SETS + 16];
            int nv = sweep_sets(&a, v, vsets);
            snprintf(dir, sizeof dir, "%s/run-%03d", a.out, v);
            int n = sweep_argv(&a, self, vsets, nv, dir, args);
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
            rc = sweep_table(&a, nvariants, base, err);
        if (rc == 0 && !a.no_plot)
            sweep_plot(&a, nvariants);
    }
    sweep_args_free(&a);
    return rc;
}
