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
#include "strategy.h"

typedef struct PipelineConfig {
    int stages;
    PipeConfig pipe;
} PipelineConfig;

static const KeyDef pipeline_keys[] = {
    KEYDEF_INT(PipelineConfig, "stages", stages, 1, MODEL_MAX_LAYERS, "2",
               "stages, one host each, holding consecutive layers"),
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
    return 0;
}

static const GridKind pipeline_kind = {pipeline_grid, pipeline_check};

const StrategyOps pipeline_strategy = {
    .name = "pipeline",
    .summary = "layers split into stages, one device each; micro-batches scheduled GPipe or 1F1B",
    .keys = {"strategy", pipeline_keys, sizeof pipeline_keys / sizeof pipeline_keys[0]},
    .config_size = sizeof(PipelineConfig),
    .engine = &pipeline_kind,
    GRID_STRATEGY_HOOKS,
};
