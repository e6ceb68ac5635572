/*
 * sweep_grid.h - the variants of a `dtsim sweep` (see sweep.h): what the
 * command line asked for, the grid of variants it makes, their labels, and
 * the tables and pictures made from their results (sweep_table.c).
 *
 * Each --vary is a dimension of the grid.  A dimension may link several
 * keys that change together:
 *     --vary cluster.workers,train.batch=1:512,2:256,4:128
 * is one dimension of three values, each setting both keys.  Variants are
 * numbered in grid order, the last --vary varying fastest.
 */
#ifndef DT_SWEEP_GRID_H
#define DT_SWEEP_GRID_H

#include "error.h"

#define SWEEP_MAX_VARY 8    /* --vary options */
#define SWEEP_MAX_LINKED 4  /* keys in one --vary */
#define SWEEP_MAX_VALUES 64 /* values of one --vary */
#define SWEEP_MAX_PASS 128  /* options handed to every run */
#define SWEEP_MAX_SETS (SWEEP_MAX_VARY * SWEEP_MAX_LINKED)
#define SWEEP_SET_LEN 192 /* one "section.key=value" */

typedef struct Vary {
    char keys[SWEEP_MAX_LINKED][64]; /* section.key, set together */
    int nkeys;
    const char *values[SWEEP_MAX_VALUES][SWEEP_MAX_LINKED]; /* into text */
    int nvalues;
    char *text; /* owned copy of the value list */
} Vary;

typedef struct SweepArgs {
    const char *scenario;
    const char *out;
    const char *baseline; /* --baseline as given, or NULL */
    int jobs;
    int print_commands;
    int collect; /* --collect: tabulate runs done elsewhere, run nothing */
    int force;
    int no_plot;
    char about[256]; /* "mlp on fattree-64", for the plot titles */
    Vary vary[SWEEP_MAX_VARY];
    int nvary;
    const char *pass[SWEEP_MAX_PASS]; /* options handed to every run */
    int npass;
    int threads; /* --threads given (in pass): else each run gets the cores over the jobs */
} SweepArgs;

/* dtsim sweep's options (argv[2] on) into a (zeroed by the caller): 0, or
 * -1 (bad input) naming the option.  No file is opened. */
int sweep_args_parse(SweepArgs *a, int argc, char **argv, DtError *err);
/* One --vary value list, "k1[,k2...]=v1,v2,..." with linked values joined
 * by ':' ("1:512"). */
int sweep_vary_parse(Vary *v, const char *spec, DtError *err);
void sweep_args_free(SweepArgs *a);

/* No key is varied twice (in two --vary, or twice in one); -1 with err
 * naming it. */
int sweep_vary_check(const SweepArgs *a, DtError *err);
/* The number of variants, or -1 with err when the grid is too large. */
int sweep_count(const SweepArgs *a, DtError *err);
/* Variant index -> the value index of each --vary. */
void sweep_variant(const SweepArgs *a, int variant, int *pick);
/* The --set strings "section.key=value" of a variant; returns how many. */
int sweep_sets(const SweepArgs *a, int variant, char sets[][SWEEP_SET_LEN]);
/* A variant's label, "key=value" joined by spaces (keys without their
 * section), leaving out dimension skip (-1: none); "all" when empty. */
void sweep_label(const SweepArgs *a, int variant, int skip, char *buf, size_t size);

/* The dimension the pictures put on the x axis: the one that varies
 * cluster.workers, else the first whose values are all numbers; -1 when
 * there is none.  *workers says whether it varies the workers. */
int sweep_xdim(const SweepArgs *a, int *workers);

/* The variant --baseline names: a run number ("3" or "run-003"), or
 * "key=value[,key=value...]" that exactly one variant matches.  -1 when
 * --baseline was not given (the default is chosen from the results), or
 * -2 with err when it names no variant or several. */
int sweep_baseline(const SweepArgs *a, int nvariants, DtError *err);

/* Read every run's summary.json and write DIR/sweep.csv and the plots'
 * data files; base: sweep_baseline's answer. */
int sweep_table(const SweepArgs *a, int nvariants, int base, DtError *err);

#endif
