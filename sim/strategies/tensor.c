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
#include "grid.h"
#include "run.h"

typedef struct TensorConfig {
    int tp;
} TensorConfig;

static const KeyDef tensor_keys[] = {
    {.name = "tp",
     .type = KEY_INT,
     .offset = offsetof(TensorConfig, tp),
     .min = 1,
     .max = 1 << 16,
     .def = "2",
     .help = "devices each dense layer pair is split across"},
};

static GridConfig tensor_grid(const Scenario *sc)
{
    const TensorConfig *c = sc->strategy_config;
    return (GridConfig){.dp = 1, .pp = 1, .tp = c->tp, .stages_key = "pp"};
}

static int tensor_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const TensorConfig *c = sc->strategy_config;
    if (sc->workers != c->tp)
        return key_fail(given, NULL, err,
                        "[strategy] kind = tensor splits each layer across tp devices: set "
                        "[cluster] workers = %d to match tp = %d (got workers = %d)",
                        c->tp, c->tp, sc->workers);
    GridConfig g = tensor_grid(sc);
    return grid_check(sc, &g, given, err);
}

static int tensor_global_batch(const Scenario *sc)
{
    return sc->batch;
}

static int tensor_ranks(const Scenario *sc)
{
    const TensorConfig *c = sc->strategy_config;
    return c->tp;
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
    .keys = {"strategy", tensor_keys, sizeof tensor_keys / sizeof tensor_keys[0]},
    .config_size = sizeof(TensorConfig),
    .check = tensor_check,
    .global_batch = tensor_global_batch,
    .ranks = tensor_ranks,
    .group = tensor_ranks,
    .start = tensor_start,
    .results = grid_results,
    .host_results = grid_host_results,
    .stop = grid_stop,
};
