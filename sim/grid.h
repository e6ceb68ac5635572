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
 * order, which is what keeps them inside one node (grid_start checks and,
 * where needed, re-packs the placement).
 *
 * One step: the mini-batch of `batch` samples (per replica) is cut into m
 * micro-batches that flow forward through the stages and backward again in
 * the order the schedule gives (GPipe: all forwards, then all backwards;
 * 1F1B: after p - s - 1 warm-up forwards, one forward and one backward in
 * turn).  Activations and activation gradients cross stage boundaries as
 * real floats (comm.h, channel 0); shards all-reduce inside their group
 * (channel 1); after the micro-batches each rank's gradient is summed over
 * the dp replicas holding the same slice (channel 2).  The loss gradient is
 * scaled by 1 / (global batch), so the gradients summed over micro-batches
 * and replicas are those of the mean loss over the global batch, and one
 * optimizer step per rank on its slice gives serial SGD's parameters.
 *
 * The three strategies are thin: pipeline = (1, p, 1), tensor = (1, 1, t),
 * hybrid = (dp, pp, tp).
 */
#ifndef DT_GRID_H
#define DT_GRID_H

#include "error.h"
#include "model.h"
#include "scenario.h"

typedef struct Run Run;

typedef struct GridConfig {
    int dp, pp, tp;
    int microbatches;       /* per mini-batch; must divide [train] batch */
    Schedule schedule;      /* SCHEDULE_GPIPE or SCHEDULE_1F1B */
    int nsplit;             /* 0: stages balanced by FLOPs; else pp - 1 ... */
    const int *split;       /* ... first layers of stages 1 .. pp-1 */
    const char *stages_key; /* how the scenario names pp ("stages", "pp"), for messages */
} GridConfig;

/* Bad input (exit 2) with a message: a product different from [cluster]
 * workers, more stages than layers, a bad split, micro-batches that do not
 * divide the batch, dense layers tp cannot split evenly. */
int grid_check(const Scenario *sc, const GridConfig *g, DtError *err);

/* The stages' layers: stage s holds [first[s], first[s + 1]), first[pp] =
 * nlayers; explicit (g->split) or balanced by FLOPs (the split that
 * minimises the most expensive stage's forward and backward FLOPs). */
int grid_split(const Model *m, const GridConfig *g, int *first, DtError *err);

/* Place the ranks (keeping tensor-parallel groups inside nodes), check
 * every rank's memory, allocate every actor's state and start the actors. */
int grid_start(Run *run, const GridConfig *g, DtError *err);

#endif
