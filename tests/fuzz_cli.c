/*
 * fuzz_cli.c - a libFuzzer target: any bytes as a dtsim command line,
 * through everything each command does with its options before it opens
 * a file: run and check (args.h), sweep (its options, --vary lists, the
 * grid of variants, every variant's --set options, labels and axis, and
 * --baseline; sweep_grid.h) and collective (its options, sizes and ranks
 * against a platform of 64 hosts; collective_cmd.h).
 *
 * The input's first line is the command (run, check, sweep or
 * collective; anything else is run), and each later line one argument.
 * Whatever the input, dtsim must either take the options or refuse them
 * as bad input with a message; a crash, a sanitizer's report, a hang or
 * a refusal that is not bad input (or says nothing) is a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "collective_cmd.h"
#include "sweep_grid.h"

#define FUZZ_MAX_ARGS 96

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every variant of the sweep (the first thousand) as a run would get it. */
static int sweep_all(int argc, char **argv, DtError *err)
{
    SweepArgs a = {0};
    int rc = sweep_args_parse(&a, argc, argv, err);
    if (rc == 0)
        rc = sweep_vary_check(&a, err);
    int n = rc == 0 ? sweep_count(&a, err) : -1;
    if (n >= 0 && sweep_baseline(&a, n, err) == -2)
        n = -1;
    for (int v = 0; v < n && v < 1000; v++) {
        char sets[SWEEP_MAX_SETS][SWEEP_SET_LEN], label[512];
        int workers, k = sweep_sets(&a, v, sets);
        if (k < 0 || k > SWEEP_MAX_SETS)
            abort();
        sweep_label(&a, v, sweep_xdim(&a, &workers), label, sizeof label);
    }
    sweep_args_free(&a);
    return n < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[FUZZ_MAX_ARGS + 1] = {"dtsim"};
    int argc = 1;
    for (char *line = text; argc < FUZZ_MAX_ARGS;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        argv[argc++] = line;
        if (!end)
            break;
        line = end + 1;
    }
    const char *cmd = argv[1];
    static char run[] = "run";
    if (strcmp(cmd, "check") && strcmp(cmd, "sweep") && strcmp(cmd, "collective"))
        argv[1] = run;
    DtError err = {0};
    int rc;
    if (strcmp(argv[1], "sweep") == 0) {
        rc = sweep_all(argc, argv, &err);
    } else if (strcmp(argv[1], "collective") == 0) {
        rc = collective_parse(argc, argv, 64, &err);
    } else {
        Args a = {0};
        rc = args_parse(&a, argc, argv, &err);
        args_free(&a);
    }
    if (rc < 0 && (err.kind != DT_EINPUT || !err.msg[0])) {
        fprintf(stderr, "refused, but not as bad input: '%s'\n", err.msg);
        abort();
    }
    free(text);
    return 0;
}
