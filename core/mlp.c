/*
 * mlp.c - model "mlp": a multi-layer perceptron.
 *
 * flatten, then for each hidden width h: dense(h) with a fused ReLU, then
 * dense(classes).  The smallest model that learns Fashion-MNIST well
 * (about 0.89 test accuracy), cheap enough to run hundreds of simulated
 * workers on one machine.
 */
#include <stddef.h>

#include "model.h"

typedef struct MlpConfig {
    int nhidden;
    int hidden[MODEL_MAX_WIDTHS]; /* widths of the hidden dense layers */
} MlpConfig;

static const KeyDef mlp_keys[] = {
    KEYDEF_LIST(MlpConfig, "hidden", hidden, nhidden, 1, 65536, MODEL_MAX_WIDTHS, "256,128",
                "widths of the hidden dense layers"),
};

static int mlp_build(Model *m, const void *config, DtError *err)
{
    const MlpConfig *c = config;
    if (model_add(m, (Layer){.ops = &flatten_ops}, err) < 0)
        return -1;
    return model_add_dense_stack(m, c->hidden, c->nhidden, err);
}

const ModelOps mlp_model = {
    .name = "mlp",
    .summary = "dense layers with ReLU: flatten, hidden widths, logits",
    .keys = {"model", mlp_keys, sizeof mlp_keys / sizeof mlp_keys[0]},
    .config_size = sizeof(MlpConfig),
    .build = mlp_build,
};
