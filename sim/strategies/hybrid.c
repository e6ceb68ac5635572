/*
 * hybrid.c - strategy "hybrid": a grid of dp data-parallel replicas of
 * pipelines of pp stages, each stage a tp-way tensor-parallel group.
 *
 * The grid engine (sim/grid.h) in full: [train] batch is each pipeline's
 * mini-batch, cut into `microbatches` and scheduled GPipe or 1F1B; every
 * rank's gradient is all-reduced with the ranks of the other replicas that
 * hold the same stage and shard, by the data-parallel machinery
 * (sim/gradsync.h: `allreduce` ring, rhd, tree or ps; after the
 * micro-batches, or with overlap = on in buckets during the last
 * micro-batch's backward; off by default, as in Megatron-LM).  The global
 * batch is dp x batch.  Ranks are numbered with the shard fastest, then
 * the stage, then the replica, so a tensor-parallel group is tp
 * neighbouring hosts, kept inside one node (summary.json "grid" says how
 * the ranks were placed).
 */
#include "grid.h"
#include "run.h"

typedef struct HybridConfig {
    int dp, pp, tp;
    PipeConfig pipe;
    GradSyncConfig sync;
} HybridConfig;

static const KeyDef hybrid_keys[] = {
    {.name = "dp",
     .type = KEY_INT,
     .offset = offsetof(HybridConfig, dp),
     .min = 1,
     .max = 1 << 20,
     .def = "1",
     .help = "data-parallel replicas"},
    {.name = "pp",
     .type = KEY_INT,
     .offset = offsetof(HybridConfig, pp),
     .min = 1,
     .max = MODEL_MAX_LAYERS,
     .def = "1",
     .help = "pipeline stages of each replica"},
    {.name = "tp",
     .type = KEY_INT,
     .offset = offsetof(HybridConfig, tp),
     .min = 1,
     .max = 1 << 16,
     .def = "2",
     .help = "devices each stage's dense layer pairs are split across"},
    PIPE_KEYS(HybridConfig, pipe),
    GRADSYNC_KEYS(HybridConfig, sync, "off"),
};

static GridConfig hybrid_grid(const Scenario *sc)
{
    const HybridConfig *c = sc->strategy_config;
    return (GridConfig){.dp = c->dp,
                        .pp = c->pp,
                        .tp = c->tp,
                        .pipe = &c->pipe,
                        .sync = &c->sync,
                        .stages_key = "pp"};
}

static int hybrid_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const HybridConfig *c = sc->strategy_config;
    long product = (long)c->dp * c->pp * c->tp;
    if (product != sc->workers)
        return key_fail(given, NULL, err,
                        "[strategy] kind = hybrid runs dp x pp x tp = %d x %d x %d = %ld ranks, "
                        "but [cluster] workers = %d; make the product equal workers",
                        c->dp, c->pp, c->tp, product, sc->workers);
    GridConfig g = hybrid_grid(sc);
    return grid_check(sc, &g, given, err);
}

static int hybrid_global_batch(const Scenario *sc)
{
    const HybridConfig *c = sc->strategy_config;
    return sc->batch * c->dp;
}

static int hybrid_ranks(const Scenario *sc)
{
    const HybridConfig *c = sc->strategy_config;
    return c->dp * c->pp * c->tp;
}

static int hybrid_group(const Scenario *sc)
{
    const HybridConfig *c = sc->strategy_config;
    return c->tp;
}

static int hybrid_start(Run *run, DtError *err)
{
    GridConfig g = hybrid_grid(run->sc);
    return grid_start(run, &g, err);
}

const StrategyOps hybrid_strategy = {
    .name = "hybrid",
    .summary = "dp replicas of pp-stage pipelines of tp-way tensor-parallel groups",
    .keys = {"strategy", hybrid_keys, sizeof hybrid_keys / sizeof hybrid_keys[0]},
    .config_size = sizeof(HybridConfig),
    .check = hybrid_check,
    .global_batch = hybrid_global_batch,
    .ranks = hybrid_ranks,
    .group = hybrid_group,
    .start = hybrid_start,
    .results = grid_results,
    .host_results = grid_host_results,
    .stop = grid_stop,
};
