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
#include "strategy.h"

typedef struct HybridConfig {
    int dp, pp, tp;
    char tp_allreduce[24];
    PipeConfig pipe;
    GradSyncConfig sync;
} HybridConfig;

static const KeyDef hybrid_keys[] = {
    KEYDEF_INT(HybridConfig, "dp", dp, 1, 1 << 20, "1", "data-parallel replicas"),
    KEYDEF_INT(HybridConfig, "pp", pp, 1, MODEL_MAX_LAYERS, "1", "pipeline stages of each replica"),
    KEYDEF_INT(HybridConfig, "tp", tp, 1, 1 << 16, "2",
               "devices each stage's dense layer pairs are split across"),
    GRID_TP_KEY(HybridConfig, tp_allreduce),
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
                        .stages_key = "pp",
                        .tp_allreduce = c->tp_allreduce};
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
    return 0;
}

static const GridKind hybrid_kind = {hybrid_grid, hybrid_check};

const StrategyOps hybrid_strategy = {
    .name = "hybrid",
    .summary = "dp replicas of pp-stage pipelines of tp-way tensor-parallel groups",
    .keys = {"strategy", hybrid_keys, sizeof hybrid_keys / sizeof hybrid_keys[0]},
    .config_size = sizeof(HybridConfig),
    .engine = &hybrid_kind,
    GRID_STRATEGY_HOOKS,
};
