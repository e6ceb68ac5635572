/*
 * grid.h - the model-parallel engine behind the pipeline, tensor and hybrid
 * strategies: dp x pp x tp ranks training one model.
 *
 * The ranks form a grid: dp data-parallel replicas, each a pipeline of pp
 * stages, each stage a group of tp tensor-parallel shards.  Stage s holds
 * the consecutive layers [first, last) of the model; shard k of a stage
 * holds its k-th slice of every split dense layer (core/tensor_parallel.h).
 * Rank (d, s, k) is d * pp * tp + s * tp + k: the shard index varies
 * fastest, so the hosts of a tensor-parallel group are neighbours in host
 * order, which is what placement keeps inside one node (sim/placement.h).
 *
 * One step: the mini-batch of `batch` samples (per replica) is cut into m
 * micro-batches that flow forward through the stages and backward again in
 * the order the schedule gives (core/plan.h: GPipe, or 1F1B).  Activations
 * and activation gradients cross stage boundaries as real floats (comm.h,
 * channel 0); shards all-reduce inside their group (channel 1); each
 * rank's gradient is summed over the dp replicas holding the same slice
 * with the data-parallel machinery (sim/gradsync.h: any all-reduce, whole
 * after the micro-batches or in buckets overlapped with the last one's
 * backward; channel 2).  The loss gradient is scaled by 1 / (global
 * batch), so the gradients summed over micro-batches and replicas are
 * those of the mean loss over the global batch, and one optimizer step per
 * rank on its slice gives serial SGD's parameters.
 *
 * The three strategies are thin: pipeline = (1, p, 1), tensor = (1, 1, t),
 * hybrid = (dp, pp, tp).
 */
#ifndef DT_GRID_H
#define DT_GRID_H

#include "error.h"
#include "gradsync.h"
#include "keys.h"
#include "model.h"
#include "plan.h"
#include "scenario.h"

typedef struct Run Run;
struct cJSON;

/* How a pipeline runs its micro-batches: the keys pipeline and hybrid share. */
typedef struct PipeConfig {
    int microbatches;            /* per mini-batch; must divide [train] batch */
    int schedule;                /* SCHEDULE_GPIPE or SCHEDULE_1F1B */
    int nsplit;                  /* 0: stages balanced by FLOPs; else pp - 1 ... */
    int split[MODEL_MAX_LAYERS]; /* ... first layers of stages 1 .. pp-1 */
} PipeConfig;

extern const char *const grid_schedules[];

/* The rows of a strategy's key table for a PipeConfig at `field` of its
 * config struct `T`. */
#define PIPE_KEYS(T, field)                                                                        \
    KEYDEF_INT(T, "microbatches", field.microbatches, 1, 1 << 20, "4",                             \
               "micro-batches each mini-batch is cut into"),                                       \
        KEYDEF_ENUM(T, "schedule", field.schedule, grid_schedules, "1f1b",                         \
                    "gpipe (all forwards, then all backwards) or 1f1b"),                           \
        KEYDEF_LIST(T, "split", field.split, field.nsplit, 1, MODEL_MAX_LAYERS - 1,                \
                    MODEL_MAX_LAYERS, "(balanced by FLOPs)",                                       \
                    "first layer (0-based) of stages 1, 2, ... in increasing order")

typedef struct GridConfig {
    int dp, pp, tp;
    const PipeConfig *pipe;     /* NULL: one micro-batch, stages balanced */
    const GradSyncConfig *sync; /* NULL: ring, after the micro-batches */
    const char *stages_key;     /* how the scenario names pp ("stages", "pp"), for messages */
    const char *tp_allreduce;   /* the shards' all-reduce; NULL: GRID_TP_ALLREDUCE */
} GridConfig;

/* The tensor-parallel shards' all-reduce unless [strategy] tp_allreduce
 * says otherwise, and the key's row for a strategy's table. */
#define GRID_TP_ALLREDUCE "ring-flow"
#define GRID_TP_KEY(T, field)                                                                      \
    KEYDEF_TEXT(                                                                                   \
        T, "tp_allreduce", KEY_STRING, field, GRID_TP_ALLREDUCE,                                   \
        "all-reduce of the activations and their gradients among a stage's tp shards: "            \
        "ring-flow (the ring's bytes and latencies, one flow per link: fast to simulate), "        \
        "ring (a message per step), rhd (power-of-two tp), tree or ps")

/* A strategy on the grid engine: how its keys make a grid, and its own
 * check (that [cluster] workers fits the grid) before grid_check's. */
typedef struct GridKind {
    GridConfig (*grid)(const Scenario *sc);
    int (*check)(const Scenario *sc, const KeySource *given, DtError *err);
} GridKind;

/* The hooks of every grid strategy (a StrategyOps whose engine is its
 * GridKind): the global batch is dp x batch, the ranks dp x pp x tp, a
 * tensor-parallel group shares a node, summary.json gets the grid. */
int grid_strategy_check(const Scenario *sc, const KeySource *given, DtError *err);
int grid_strategy_global_batch(const Scenario *sc);
int grid_strategy_ranks(const Scenario *sc);
int grid_strategy_group(const Scenario *sc);
int grid_strategy_start(Run *run, DtError *err);
#define GRID_STRATEGY_HOOKS                                                                        \
    .check = grid_strategy_check, .global_batch = grid_strategy_global_batch,                      \
    .ranks = grid_strategy_ranks, .group = grid_strategy_group, .start = grid_strategy_start,      \
    .results = grid_results, .host_results = grid_host_results, .stop = grid_stop

/* Bad input (exit 2) with a message naming the key: more stages than
 * layers, a bad split, micro-batches that do not divide the batch, dense
 * layers tp cannot split evenly, an all-reduce the replicas cannot run. */
int grid_check(const Scenario *sc, const GridConfig *g, const KeySource *given, DtError *err);

/* Check every rank's memory, then allocate every actor's state and start
 * the actors; the shared state hangs on run->state. */
int grid_start(Run *run, const GridConfig *g, DtError *err);

/* The StrategyOps hooks the three strategies share: summary.json's
 * "pipelines" (bubble, step makespan, peak stash) and "grid", each host's
 * place in the grid; and freeing the shared state. */
void grid_results(const Run *run, struct cJSON *root);
void grid_host_results(const Run *run, int rank, struct cJSON *host);
void grid_stop(Run *run);

#endif
