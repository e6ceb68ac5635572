/*
 * tensor.c - strategy "tensor": Megatron-style tensor parallelism, every
 * dense layer pair split across tp devices.
 *
 * The grid engine (sim/grid.h) with one replica of one stage: the first
 * dense layer of each adjacent pair is split by output features, the
 * second by input features (core/tensor_parallel.h), with a real, timed
 * all-reduce of the activations after each pair's forward and of the input
 * gradient after its backward.  [train] batch is the batch all tp devices
 * work on together.  What it shows: the traffic tensor parallelism costs
 * on every layer (summary.json bytes_communicated), and why it wants the
 * fastest links.
 */
#include "grid.h"
#include "run.h"

static GridConfig tensor_grid(const Scenario *sc)
{
    return (GridConfig){.dp = 1,
                        .pp = 1,
                        .tp = sc->tp,
                        .microbatches = 1,
                        .schedule = SCHEDULE_GPIPE,
                        .stages_key = "pp"};
}

static int tensor_check(const Scenario *sc, DtError *err)
{
    if (sc->workers != sc->tp)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] kind = tensor splits each layer across tp devices: set "
                       "[cluster] workers = %d to match tp = %d (got workers = %d)",
                       sc->tp, sc->tp, sc->workers);
    GridConfig g = tensor_grid(sc);
    return grid_check(sc, &g, err);
}

static int tensor_global_batch(const Scenario *sc)
{
    return sc->batch;
}

static int tensor_ranks(const Scenario *sc)
{
    return sc->tp;
}

static int tensor_start(Run *run, DtError *err)
{
    GridConfig g = tensor_grid(run->sc);
    return grid_start(run, &g, err);
}

const StrategyOps tensor_strategy = {
    .name = "tensor",
    .summary = "dense layer pairs split across tp devices (Megatron), all-reduces in forward and "
               "backward",
    .check = tensor_check,
    .global_batch = tensor_global_batch,
    .ranks = tensor_ranks,
    .start = tensor_start,
};
