/*
 * pipeline.c - strategy "pipeline": the model's layers split into stages,
 * one device each, with micro-batches flowing through them (GPipe or 1F1B).
 *
 * The grid engine (sim/grid.h) with one replica and no tensor parallelism:
 * stages = p hosts, each holding consecutive layers (balanced by FLOPs, or
 * `split`); [train] batch is the mini-batch, cut into `microbatches`.  What
 * it shows: the bubble (summary.json "pipelines"), and how much activation
 * memory each schedule stashes (hosts[].memory_bytes, and the measured
 * peak_stashed_microbatches).
 */
#include "grid.h"
#include "run.h"

static GridConfig pipeline_grid(const Scenario *sc)
{
    return (GridConfig){.dp = 1,
                        .pp = sc->stages,
                        .tp = 1,
                        .microbatches = sc->microbatches,
                        .schedule = sc->schedule,
                        .nsplit = sc->nsplit,
                        .split = sc->split,
                        .stages_key = "stages"};
}

static int pipeline_check(const Scenario *sc, DtError *err)
{
    if (sc->workers != sc->stages)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] kind = pipeline puts one stage on each device: set [cluster] "
                       "workers = %d to match stages = %d (got workers = %d)",
                       sc->stages, sc->stages, sc->workers);
    GridConfig g = pipeline_grid(sc);
    return grid_check(sc, &g, err);
}

static int pipeline_global_batch(const Scenario *sc)
{
    return sc->batch;
}

static int pipeline_ranks(const Scenario *sc)
{
    return sc->stages;
}

static int pipeline_start(Run *run, DtError *err)
{
    GridConfig g = pipeline_grid(run->sc);
    return grid_start(run, &g, err);
}

const StrategyOps pipeline_strategy = {
    .name = "pipeline",
    .summary = "layers split into stages, one device each; micro-batches scheduled GPipe or 1F1B",
    .check = pipeline_check,
    .global_batch = pipeline_global_batch,
    .ranks = pipeline_ranks,
    .start = pipeline_start,
};
