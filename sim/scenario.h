/*
 * scenario.h - one experiment, as read from a scenario INI file.
 *
 * A Scenario is plain data: parsed from the file with libinih, overridden by
 * `--set section.key=value`, completed with defaults and checked as a whole.
 * Every key is declared once in a table in scenario.c (its section, type,
 * range and a one-line help), so parsing, error messages and `dtsim --help`
 * agree.  Unknown sections and keys, repeated keys and values out of range
 * are errors naming the file, the line and the key, with what was expected.
 */
#ifndef DT_SCENARIO_H
#define DT_SCENARIO_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "model.h"
#include "optim.h"

typedef enum { DATA_FASHION_MNIST, DATA_SYNTHETIC } DataKind;
typedef enum { PS_SYNC, PS_ASYNC, PS_SSP } PsMode;
typedef enum { BALANCE_EQUAL, BALANCE_SPEED } Balance;
typedef enum { SCHEDULE_GPIPE, SCHEDULE_1F1B } Schedule;

#define SCENARIO_MAX_SLOWDOWNS 32

/* [faults] slowdown: a host runs at `factor` of its speed from `start` to
 * `end` simulated seconds. */
typedef struct Slowdown {
    char host[128];
    double start, end, factor;
} Slowdown;

typedef struct Scenario {
    char path[PATH_MAX]; /* the scenario file as given */
    char name[128];      /* its file name without directory and .ini */

    /* [model] */
    ModelConfig model;

    /* [data] */
    DataKind dataset;
    char data_path[PATH_MAX]; /* fashion-mnist directory */
    int train_samples;        /* 0: all */
    int test_samples;         /* 0: all */
    double noise;             /* synthetic noise */

    /* [train] */
    int batch;
    OptConfig opt;
    int epochs;
    int steps;
    uint64_t seed;
    int eval_every; /* steps between evaluations; 0: at the end of each epoch */

    /* [cluster] */
    char platform[PATH_MAX]; /* resolved: relative to the scenario, or --platform */
    int workers;
    char hosts[4096]; /* rank r on the r-th of these hosts; empty: natural order */

    /* [strategy] */
    char strategy[32];
    char allreduce[16];          /* data-parallel: ring, rhd or tree */
    int overlap;                 /* data-parallel: all-reduce buckets during backward */
    double bucket_mb;            /* data-parallel: bucket size with overlap, in MB */
    int servers;                 /* parameter-server: server ranks */
    PsMode mode;                 /* parameter-server: sync, async or ssp */
    int staleness;               /* parameter-server, mode = ssp: steps a worker may run ahead */
    int backup_workers;          /* parameter-server, mode = sync: extra workers whose gradients
                                  * arrive too late are dropped */
    Balance balance;             /* data-parallel: split of the global batch */
    int stages;                  /* pipeline: stages (hosts) */
    int microbatches;            /* pipeline, hybrid: micro-batches per mini-batch */
    Schedule schedule;           /* pipeline, hybrid */
    int nsplit;                  /* pipeline, hybrid: explicit split (0: balanced by FLOPs) */
    int split[MODEL_MAX_LAYERS]; /* first layer of stages 1, 2, ... */
    int tp, dp, pp;              /* tensor, hybrid: group sizes */

    /* [faults] */
    int nslowdowns;
    Slowdown slowdowns[SCENARIO_MAX_SLOWDOWNS];
} Scenario;

/* Parse `path`, then apply the `nset` overrides "section.key=value".  On
 * error returns -1 with err naming the file:line or the --set and the key. */
int scenario_load(Scenario *sc, const char *path, const char *const *sets, int nset, DtError *err);

/* Replace the platform with one given on the command line (used as is). */
void scenario_set_platform(Scenario *sc, const char *platform);

/* Print the key reference (section, key, default, help) for --help. */
void scenario_print_keys(FILE *out);

#endif
