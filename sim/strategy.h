/*
 * strategy.h - the table of training strategies.
 *
 * Each strategy is one file in sim/strategies/ exporting a `const
 * StrategyOps`; strategy.c lists them.  `check` validates the scenario keys
 * the strategy cares about before anything is loaded (bad input, exit 2);
 * `start` creates the strategy's actors on the placed hosts before the
 * simulation runs.
 */
#ifndef DT_STRATEGY_H
#define DT_STRATEGY_H

#include <stdio.h>

#include "error.h"
#include "scenario.h"

typedef struct Run Run;

typedef struct StrategyOps {
    const char *name;
    const char *summary; /* one line for --help */
    int (*check)(const Scenario *sc, DtError *err);
    /* Samples in one global step (what serial SGD would use as its batch). */
    int (*global_batch)(const Scenario *sc);
    /* Ranks (hosts) the strategy places: rank r runs on the r-th host. */
    int (*ranks)(const Scenario *sc);
    int (*start)(Run *run, DtError *err);
} StrategyOps;

/* NULL when no strategy has that name. */
const StrategyOps *strategy_find(const char *name);
/* Write "serial, data-parallel, ..." into buf, for messages. */
void strategy_names(char *buf, size_t size);
void strategy_print_all(FILE *out);

#endif
