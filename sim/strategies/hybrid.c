/*
 * hybrid.c - strategy "hybrid": a grid of dp data-parallel replicas of
 * pipelines of pp stages, each stage a tp-way tensor-parallel group.
 *
 * The grid engine (sim/grid.h) in full: [train] batch is each pipeline's
 * mini-batch, cut into `microbatches` and scheduled GPipe or 1F1B; after
 * the micro-batches every rank's gradient is all-reduced (ring) with the
 * ranks of the other replicas that hold the same stage and shard.  The
 * global batch is dp x batch.  Ranks are numbered with the shard fastest,
 * then the stage, then the replica, so a tensor-parallel group is tp
 * neighbouring hosts, kept inside one node (summary.json "grid" says how
 * the ranks were placed).
 */
#include "grid.h"
#include "run.h"

static GridConfig hybrid_grid(const Scenario *sc)
{
    return (GridConfig){.dp = sc->dp,
                        .pp = sc->pp,
                        .tp = sc->tp,
                        .microbatches = sc->microbatches,
                        .schedule = sc->schedule,
                        .nsplit = sc->nsplit,
                        .split = sc->split,
                        .stages_key = "pp"};
}

static int hybrid_check(const Scenario *sc, DtError *err)
{
    long product = (long)sc->dp * sc->pp * sc->tp;
    if (product != sc->workers)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] kind = hybrid runs dp x pp x tp = %d x %d x %d = %ld ranks, but "
                       "[cluster] workers = %d; make the product equal workers",
                       sc->dp, sc->pp, sc->tp, product, sc->workers);
    GridConfig g = hybrid_grid(sc);
    return grid_check(sc, &g, err);
}

static int hybrid_global_batch(const Scenario *sc)
{
    return sc->batch * sc->dp;
}

static int hybrid_ranks(const Scenario *sc)
{
    return sc->dp * sc->pp * sc->tp;
}

static int hybrid_start(Run *run, DtError *err)
{
    GridConfig g = hybrid_grid(run->sc);
    return grid_start(run, &g, err);
}

const StrategyOps hybrid_strategy = {
    .name = "hybrid",
    .summary = "dp replicas of pp-stage pipelines of tp-way tensor-parallel groups",
    .check = hybrid_check,
    .global_batch = hybrid_global_batch,
    .ranks = hybrid_ranks,
    .start = hybrid_start,
};
