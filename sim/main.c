/*
 * main.c - the dtsim command line.
 *
 * Parses the command and its options, and turns every error into a message
 * and an exit code: 0 when all went well, 2 when the input is wrong (a
 * scenario, platform, option or dataset the user must fix), 1 when a run
 * failed for another reason.  Nothing below main() exits.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simgrid/forward.h> /* before version.h, which needs its macros */
#include <simgrid/version.h>

#include "args.h"
#include "collective_cmd.h"
#include "gemm.h"
#include "cli.h"
#include "pool.h"
#include "run.h"
#include "sweep.h"
#include "scenario.h"
#include "strategy.h"

#define EXIT_INPUT 2

static void usage(FILE *out)
{
    fprintf(out,
            "dtsim %s - a discrete-event simulator of distributed deep-learning training\n"
            "\n"
            "Real kernels train a real model on real data; SimGrid decides when every\n"
            "computation and message finishes on the cluster a platform XML describes.\n"
            "\n"
            "Usage:\n"
            "  dtsim run SCENARIO [options]    train as the scenario says, write results\n"
            "  dtsim check SCENARIO [options]  validate scenario, data, platform, memory\n"
            "  dtsim sweep SCENARIO --vary section.key=v1,v2,... [--vary ...] [options]\n"
            "                                  run every variant (several --vary: the product),\n"
            "                                  --jobs N at a time (default: the cores), into\n"
            "                                  DIR/run-NNN and DIR/sweep.csv (default DIR:\n"
            "                                  results/sweep-<scenario>); --print-commands\n"
            "                                  prints one `dtsim run` line per variant instead\n"
            "                                  (for GNU parallel, ssh or a batch system), and\n"
            "                                  --collect tabulates those runs once they are done;\n"
            "                                  --vary k1,k2=a1:b1,a2:b2 links keys (strong\n"
            "                                  scaling: cluster.workers,train.batch=1:512,2:256);\n"
            "                                  --baseline RUN: speedups against run RUN (a number\n"
            "                                  or key=value,...; default: the fewest workers)\n"
            "  dtsim collective [options]      time one collective operation (see below)\n"
            "  dtsim --help | --version\n"
            "\n"
            "Options:\n"
            "  --platform F         use platform XML F instead of [cluster] platform\n"
            "  --set SECTION.KEY=V  override one scenario key (repeatable)\n"
            "  --out DIR            results directory (default: results/<scenario name>)\n"
            "  --save-model F       write the final parameters to F (raw little-endian float32)\n"
            "  --force              allow overwriting files that dtsim did not write\n"
            "  --quiet              no progress lines, no result lines\n"
            "  --no-plot            do not draw DIR/training.png with gnuplot\n"
            "  --trace-ranks N|all  ranks 0..N-1 only (or every rank) in trace.json and\n"
            "                       timeline.dat (default: every rank, unless that is over\n"
            "                       2 million spans: then the first ranks that fit)\n"
            "  --threads N          run the ranks' kernels on N threads of this machine\n"
            "                       (default: its cores; a sweep's runs share them); the\n"
            "                       results are the same, byte for byte, for every N\n"
            "  --cfg=NAME:VALUE     a SimGrid option, e.g. --cfg=network/model:CM02 (repeatable)\n"
            "\n"
            "Results: DIR/metrics.csv (one row per evaluation), DIR/summary.json,\n"
            "DIR/trace.json (Chrome trace format: open it in Perfetto), and with gnuplot\n"
            "installed DIR/training.png and .svg (loss and test accuracy over simulated time).\n"
            "\n"
            "Strategies ([strategy] kind):\n",
            DTSIM_VERSION);
    strategy_print_all(out);
    fprintf(out, "\nCollectives:\n");
    collective_print_usage(out);
    fprintf(out, "\nScenario keys (INI; unknown keys are errors):\n");
    scenario_print_keys(out);
    fprintf(out, "\nExit status: 0 success, 2 bad input (the message says what to fix), "
                 "1 runtime failure.\n"
                 "Example: dtsim run scenarios/serial-mlp.ini --set train.epochs=2\n");
}

static int command_run(Args *a, int check_only, DtError *err)
{
    Scenario *sc = malloc(sizeof *sc);
    if (!sc)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    int rc = scenario_load_on(sc, a->scenario, a->platform, a->sets, a->nset, err);
    for (const char *n = sc->notes; rc == 0 && !a->run.quiet && *n;) {
        size_t len = strcspn(n, "\n");
        fprintf(stderr, "dtsim: note: %.*s\n", (int)len, n);
        n += len + (n[len] == '\n');
    }
    if (rc == 0)
        rc = check_only ? run_check(sc, &a->run, err) : run_scenario(sc, &a->run, err);
    scenario_free(sc);
    free(sc);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_INPUT;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        int major, minor, patch;
        sg_version_get(&major, &minor, &patch);
        printf("dtsim %s\nSimGrid %d.%d.%d\n%s, %s kernels\n", DTSIM_VERSION, major, minor, patch,
               gemm_library(), gemm_kernels());
        return 0;
    }
    int collective = strcmp(argv[1], "collective") == 0;
    int sweep = strcmp(argv[1], "sweep") == 0;
    int check_only = strcmp(argv[1], "check") == 0;
    /* `dtsim run --help` and the like: the usage, as `dtsim --help` */
    for (int i = 2; i < argc && !collective; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (!collective && !sweep && !check_only && strcmp(argv[1], "run") != 0) {
        fprintf(stderr,
                "dtsim: unknown command '%s'; commands are run, check, sweep and collective "
                "(see dtsim --help)\n",
                argv[1]);
        return EXIT_INPUT;
    }
    /* Every kernel on one OpenBLAS thread: OpenBLAS adds in another order
     * with more threads, and a run's results must be the same whatever
     * the machine's cores or OPENBLAS_NUM_THREADS say. */
    gemm_set_threads(1);
    Args args = {0};
    DtError err = {0};
    int rc;
    if (collective) {
        rc = collective_command(argc, argv, &err);
    } else if (sweep) {
        /* the runs are this very executable */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0)
            self[n] = '\0';
        else
            snprintf(self, sizeof self, "%s", argv[0]);
        rc = sweep_command(argc, argv, self, &err);
    } else if ((rc = args_parse(&args, argc, argv, &err)) == 0) {
        if (!check_only)
            pool_start(args.run.threads ? args.run.threads : pool_cores());
        rc = command_run(&args, check_only, &err);
        pool_stop();
    }
    args_free(&args);
    int code = rc == 0 ? 0 : err.kind == DT_EINPUT ? EXIT_INPUT : 1;
    if (rc < 0)
        fprintf(stderr, "dtsim: %s\n", err.msg);
    /* Leave without running SimGrid's engine teardown at exit: the results
     * are written, and some network models (ns-3) crash while tearing down. */
    fflush(NULL);
    _exit(code);
}
