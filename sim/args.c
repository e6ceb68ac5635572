/*
 * args.c - the options of dtsim run and dtsim check (see args.h).
 */
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pool.h"

void args_free(Args *a)
{
    sim_options_free(&a->run.sim);
}

/* --trace-ranks: a positive number of ranks, or all. */
static int parse_trace_ranks(const char *v, int *out, DtError *err)
{
    if (strcmp(v, "all") == 0) {
        *out = INT_MAX;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < 1 || n > INT_MAX)
        return dt_fail(err, DT_EINPUT,
                       "--trace-ranks %s: give a number of ranks from 1 to %d, or all", v, INT_MAX);
    *out = (int)n;
    return 0;
}

/* --threads: how many of this machine's threads run the kernels. */
static int parse_threads(const char *v, int *out, DtError *err)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < 1 || n > 256)
        return dt_fail(err, DT_EINPUT,
                       "--threads %s: give a number of threads from 1 to 256 (default: the "
                       "cores, here %d)",
                       v, pool_cores());
    *out = (int)n;
    return 0;
}

int args_parse(Args *a, int argc, char **argv, DtError *err)
{
    a->command = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        const char *opt = argv[i];
        int valued = 1;
        if (cli_option(argc, argv, &i, "--platform", &v)) {
            a->platform = v;
        } else if (cli_option(argc, argv, &i, "--set", &v)) {
            if (a->nset == ARGS_MAX_SETS)
                return dt_fail(err, DT_EINPUT, "at most %d --set options", ARGS_MAX_SETS);
            a->sets[a->nset++] = v;
        } else if (cli_option(argc, argv, &i, "--out", &v)) {
            a->run.out_dir = v;
        } else if (cli_option(argc, argv, &i, "--save-model", &v)) {
            a->run.save_model = v;
        } else if (cli_option(argc, argv, &i, "--cfg", &v)) {
            if (v && sim_options_add(&a->run.sim, v, err) < 0)
                return -1;
        } else if (cli_option(argc, argv, &i, "--trace-ranks", &v)) {
            if (v && parse_trace_ranks(v, &a->run.trace_ranks, err) < 0)
                return -1;
        } else if (cli_option(argc, argv, &i, "--threads", &v)) {
            if (v && parse_threads(v, &a->run.threads, err) < 0)
                return -1;
        } else {
            valued = 0;
        }
        if (valued && !v)
            return dt_fail(err, DT_EINPUT, "%s needs a value (see dtsim --help)", opt);
        if (valued) {
            continue;
        } else if (strcmp(argv[i], "--force") == 0) {
            a->run.force = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            a->run.quiet = 1;
        } else if (strcmp(argv[i], "--no-plot") == 0) {
            a->run.no_plot = 1;
        } else if (argv[i][0] == '-') {
            return dt_fail(err, DT_EINPUT, "unknown option '%s' (see dtsim --help)", argv[i]);
        } else if (!a->scenario) {
            a->scenario = argv[i];
        } else {
            return dt_fail(err, DT_EINPUT, "unexpected argument '%s': give one scenario", argv[i]);
        }
    }
    if (!a->scenario)
        return dt_fail(err, DT_EINPUT,
                       "dtsim %s needs a scenario file, e.g. dtsim %s "
                       "scenarios/serial-mlp.ini",
                       a->command, a->command);
    return 0;
}
