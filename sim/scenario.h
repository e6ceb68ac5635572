/*
 * scenario.h - one experiment, as read from a scenario INI file.
 *
 * A Scenario is the run's settings: parsed from the file with libinih,
 * overridden by `--set section.key=value`, completed with defaults and
 * checked as a whole.  scenario.c declares the common keys ([data],
 * [train], [cluster], and the kind of [model] and [strategy]) in tables
 * (core/keys.h); the chosen model kind (core/models.c), the chosen
 * strategy (sim/strategy.c) and the faults (sim/faults.c) each bring a
 * table and a config struct of their own, which the keys of their
 * sections fill.  So parsing, error messages and `dtsim --help` agree,
 * and a new strategy or model adds no field here.  Unknown sections and
 * keys, repeated keys and values out of range are errors naming the file,
 * the line and the key, with what was expected.
 */
#ifndef DT_SCENARIO_H
#define DT_SCENARIO_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "faults.h"
#include "model.h"
#include "optim.h"
#include "plan.h"

typedef enum { DATA_FASHION_MNIST, DATA_SYNTHETIC, DATA_TEXT } DataKind;

typedef struct StrategyOps StrategyOps;

typedef struct Scenario {
    char path[PATH_MAX]; /* the scenario file as given */
    char name[128];      /* its file name without directory and .ini */

    /* [model]: the kind, its own settings (owned), and the data's shape */
    ModelSpec model;

    /* [data] */
    DataKind dataset;
    char data_path[PATH_MAX]; /* fashion-mnist directory, or the text file */
    int train_samples;        /* 0: all */
    int test_samples;         /* 0: all */
    double noise;             /* synthetic noise */
    double val_fraction;      /* text: the share of the corpus kept for validation */
    int shape[3], nshape;     /* synthetic: channels, height, width of a sample */
    int classes;              /* synthetic: labels 0 .. classes-1 */

    /* [train] */
    int batch;
    OptConfig opt;
    int epochs;
    int steps;
    uint64_t seed;
    int eval_every;          /* steps between evaluations; 0: at the end of each epoch */
    int cost;                /* compute = cost: charge every kernel, run none, allocate no tensor */
    Precision precision;     /* what the timing and memory model count tensors in */
    int recompute;           /* recompute = full: stages stash block inputs, run forward again */
    int checkpoint_every;    /* steps between checkpoints; 0: none */
    char checkpoint_to[128]; /* "disk" (a disk of rank 0's host) or a storage host's name */

    /* [cluster] */
    char platform[PATH_MAX]; /* resolved: relative to the scenario, or --platform */
    int workers;
    char hosts[4096]; /* rank r on the r-th of these hosts; empty: natural order */

    /* [strategy]: the kind and its own settings (owned; the strategy's
     * config struct) */
    const StrategyOps *strategy;
    void *strategy_config;

    /* [faults] */
    FaultsConfig faults;

    /* What the reading left out, a line each, for the user to see */
    char notes[2048];
    /* Every key in effect, "section.key=value" a line, in table order: the
     * keys given, those with a default and those whose default depends on
     * others; given back as --set options to an empty file, they make the
     * same scenario (owned, NULL when the load failed) */
    char *settings;
} Scenario;

/* Parse `path`, then apply the `nset` overrides "section.key=value".  On
 * error returns -1 with err naming the file:line or the --set and the key.
 * Free with scenario_free, whatever it returned. */
int scenario_load(Scenario *sc, const char *path, const char *const *sets, int nset, DtError *err);
/* The same on the platform `platform` (the command line's --platform, used
 * as is) instead of [cluster] platform, which may then be absent; NULL:
 * scenario_load. */
int scenario_load_on(Scenario *sc, const char *path, const char *platform, const char *const *sets,
                     int nset, DtError *err);
void scenario_free(Scenario *sc);

/* Replace the platform with one given on the command line (used as is);
 * the settings say so too.  -1 when out of memory. */
int scenario_set_platform(Scenario *sc, const char *platform);

/* Print the key reference (section, key, default, help) for --help. */
void scenario_print_keys(FILE *out);

#endif
