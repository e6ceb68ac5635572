/*
 * resmlp.c - model "resmlp": a multi-layer perceptron with residual blocks.
 *
 * flatten, dense(width) with a fused ReLU, then `blocks` residual blocks,
 * each dense(width) + ReLU, dense(width) + ReLU, added to the block's
 * input (model_add_residual), then dense(classes).  The smallest network
 * with skip connections, as ResNets and transformers have them: it shows
 * the residual seam at work under every strategy (a pipeline cuts only
 * between blocks, tensor parallelism pairs the two dense layers of a
 * block), and it learns Fashion-MNIST as well as the MLP.
 */
#include <stddef.h>

#include "model.h"

typedef struct ResMlpConfig {
    int width;  /* features of the stem and of every block */
    int blocks; /* residual blocks */
} ResMlpConfig;

static const KeyDef resmlp_keys[] = {
    KEYDEF_INT(ResMlpConfig, "width", width, 1, 65536, "128",
               "features of the first dense layer and of every block"),
    KEYDEF_INT(ResMlpConfig, "blocks", blocks, 0, 9, "2",
               "residual blocks of two dense layers each, added to their input"),
};

static int resmlp_build(Model *m, const void *config, DtError *err)
{
    const ResMlpConfig *c = config;
    Layer dense = {.ops = &dense_ops, .units = c->width, .relu = 1};
    if (model_add(m, (Layer){.ops = &flatten_ops}, err) < 0 || model_add(m, dense, err) < 0)
        return -1;
    for (int b = 0; b < c->blocks; b++) {
        int input = m->nlayers - 1;
        if (model_add(m, dense, err) < 0 || model_add(m, dense, err) < 0 ||
            model_add_residual(m, input, err) < 0)
            return -1;
    }
    return model_add(m, (Layer){.ops = &dense_ops, .units = m->classes}, err) < 0 ? -1 : 0;
}

const ModelOps resmlp_model = {
    .name = "resmlp",
    .summary = "dense layers with residual blocks: flatten, dense, blocks of two dense layers "
               "added to their input, logits",
    .keys = {"model", resmlp_keys, sizeof resmlp_keys / sizeof resmlp_keys[0]},
    .config_size = sizeof(ResMlpConfig),
    .build = resmlp_build,
};
