/*
 * strategy.h - the table of training strategies.
 *
 * Each strategy is one file in sim/strategies/ exporting a `const
 * StrategyOps`, and one line in strategy.c's table.  It owns its
 * [strategy] keys (a KeyTable into a config struct of its own, which the
 * scenario holds as sc->strategy_config), checks them against each other
 * and the common keys, starts its actors on the placed hosts, and writes
 * its own part of summary.json.  Whatever it keeps for the run (shared
 * state, measurements for the summary) hangs on run->state from `start`
 * until `stop`.
 */
#ifndef DT_STRATEGY_H
#define DT_STRATEGY_H

#include <stdio.h>

#include "error.h"
#include "keys.h"
#include "scenario.h"

typedef struct Run Run;
struct cJSON;

struct StrategyOps {
    const char *name;
    const char *summary; /* one line for --help */
    int rounds;          /* its steps are communication rounds: [train] rounds counts them */
    int restartable;     /* stops at a [faults] fail and restarts from a checkpoint (recovery.h) */
    int elastic;         /* restarts with fewer ranks ([faults] elastic = on) */
    KeyTable keys;       /* section "strategy": its keys, into its config */
    size_t config_size;
    /* Checks across its keys and the common ones: -1 (bad input) with a
     * message that names the key at fault (key_fail) or the file. */
    int (*check)(const Scenario *sc, const KeySource *given, DtError *err);
    /* Samples in one global step (what serial SGD would use as its batch). */
    int (*global_batch)(const Scenario *sc);
    /* Ranks (hosts) it places, workers and any others (servers): rank r
     * runs on the r-th host. */
    int (*ranks)(const Scenario *sc);
    /* How many of its ranks train, when a key of its own says so (the
     * scenario's workers become that); NULL: [cluster] workers.  And the
     * key, for messages (NULL: "[cluster] workers"). */
    int (*workers)(const Scenario *sc);
    const char *workers_key;
    /* How many consecutive ranks must share a node (tensor-parallel
     * groups), which also has placement find each rank's node; 1 finds
     * the nodes without moving any rank; NULL or 0: nodes not needed. */
    int (*group)(const Scenario *sc);
    /* Create the actors (sim/run.h run_spawn), with anything shared in
     * run->state. */
    int (*start)(Run *run, DtError *err);
    /* Its part of summary.json: keys of the top level, after the common
     * ones; and keys of host `rank`'s object.  NULL: none. */
    void (*results)(const Run *run, struct cJSON *root);
    void (*host_results)(const Run *run, int rank, struct cJSON *host);
    /* Free run->state (which may be NULL, or half made when start failed);
     * NULL: nothing to free. */
    void (*stop)(Run *run);
    /* What the engine the strategy runs on needs to know of it (the grid
     * strategies: a GridKind, sim/grid.h); NULL for others. */
    const void *engine;
};

/* For strategies whose workers each take a slice of `batch` samples of
 * every global batch, one rank each: the global batch (batch x workers),
 * and the ranks (workers). */
int strategy_workers_batch(const Scenario *sc);
int strategy_workers(const Scenario *sc);

/* NULL when no strategy has that name. */
const StrategyOps *strategy_find(const char *name);
/* The i-th strategy, NULL past the last. */
const StrategyOps *strategy_kind(size_t i);
/* Write "serial, data-parallel, ..." into buf, for messages. */
void strategy_names(char *buf, size_t size);
void strategy_print_all(FILE *out);

#endif
