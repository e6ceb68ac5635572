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
#include "strategy.h"

typedef struct TensorConfig {
    int tp;
    char tp_allreduce[24];
} TensorConfig;

static const KeyDef tensor_keys[] = {
    KEYDEF_INT(TensorConfig, "tp", tp, 1, 1 << 16, "2",
               "devices each dense layer pair is split across"),
    GRID_TP_KEY(TensorConfig, tp_allreduce),
};

static GridConfig tensor_grid(const Scenario *sc)
{
    const TensorConfig *c = sc->strategy_config;
    return (GridConfig){
        .dp = 1, .pp = 1, .tp = c->tp, .stages_key = "pp", .tp_allreduce = c->tp_allreduce};
}

static int tensor_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const TensorConfig *c = sc->strategy_config;
    if (sc->workers != c->tp)
        return key_fail(given, NULL, err,
                        "[strategy] kind = tensor splits each layer across tp devices: set "
                        "[cluster] workers = %d to match tp = %d (got workers = %d)",
                        c->tp, c->tp, sc->workers);
    return 0;
}

static const GridKind tensor_kind = {tensor_grid, tensor_check};

const StrategyOps tensor_strategy = {
    .name = "tensor",
    .summary = "dense layer pairs split across tp devices (Megatron), all-reduces in forward and "
               "backward",
    .keys = {"strategy", tensor_keys, sizeof tensor_keys / sizeof tensor_keys[0]},
    .config_size = sizeof(TensorConfig),
    .engine = &tensor_kind,
    GRID_STRATEGY_HOOKS,
};
