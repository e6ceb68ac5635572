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

typedef struct PipelineConfig {
    int stages;
    PipeConfig pipe;
} PipelineConfig;

static const KeyDef pipeline_keys[] = {
    {.name = "stages",
     .type = KEY_INT,
     .offset = offsetof(PipelineConfig, stages),
     .min = 1,
     .max = MODEL_MAX_LAYERS,
     .def = "2",
     .help = "stages, one host each, holding consecutive layers"},
    PIPE_KEYS(PipelineConfig, pipe),
};

static GridConfig pipeline_grid(const Scenario *sc)
{
    const PipelineConfig *c = sc->strategy_config;
    return (GridConfig){
        .dp = 1, .pp = c->stages, .tp = 1, .pipe = &c->pipe, .stages_key = "stages"};
}

static int pipeline_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const PipelineConfig *c = sc->strategy_config;
    if (sc->workers != c->stages)
        return key_fail(given, NULL, err,
                        "[strategy] kind = pipeline puts one stage on each device: set [cluster] "
                        "workers = %d to match stages = %d (got workers = %d)",
                        c->stages, c->stages, sc->workers);
    GridConfig g = pipeline_grid(sc);
    return grid_check(sc, &g, given, err);
}

static int pipeline_global_batch(const Scenario *sc)
{
    return sc->batch;
}

static int pipeline_ranks(const Scenario *sc)
{
    const PipelineConfig *c = sc->strategy_config;
    return c->stages;
}

static int pipeline_group(const Scenario *sc)
{
    (void)sc;
    return 1;
}

static int pipeline_start(Run *run, DtError *err)
{
    GridConfig g = pipeline_grid(run->sc);
    return grid_start(run, &g, err);
}

const StrategyOps pipeline_strategy = {
    .name = "pipeline",
    .summary = "layers split into stages, one device each; micro-batches scheduled GPipe or 1F1B",
    .keys = {"strategy", pipeline_keys, sizeof pipeline_keys / sizeof pipeline_keys[0]},
    .config_size = sizeof(PipelineConfig),
    .check = pipeline_check,
    .global_batch = pipeline_global_batch,
    .ranks = pipeline_ranks,
    .group = pipeline_group,
    .start = pipeline_start,
    .results = grid_results,
    .host_results = grid_host_results,
    .stop = grid_stop,
};
