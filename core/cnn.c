/*
 * cnn.c - model "cnn": a convolutional network.
 *
 * For each conv width c: conv2d(c, k x k, padded to keep the image size)
 * with a fused ReLU, then 2x2 max-pooling; then flatten and the MLP's dense
 * stack (mlp.c): dense(h) + ReLU for each hidden width, dense(classes).
 * With channels = 32,64, kernel = 5 and hidden = 1024 it is TensorFlow's
 * MNIST-tutorial CNN (about 0.90 test accuracy on Fashion-MNIST).
 */
#include <stddef.h>

#include "model.h"

typedef struct CnnConfig {
    int nconv;
    int conv[MODEL_MAX_WIDTHS]; /* output channels of each conv block */
    int kernel;                 /* odd square kernel size */
    int nhidden;
    int hidden[MODEL_MAX_WIDTHS]; /* dense widths after the convolutions */
} CnnConfig;

static const KeyDef cnn_keys[] = {
    KEYDEF_LIST(CnnConfig, "channels", conv, nconv, 1, 4096, MODEL_MAX_WIDTHS, "16,32",
                "output channels of each conv (kernel x kernel) + 2x2 max-pool block"),
    KEYDEF_INT(CnnConfig, "kernel", kernel, 1, 15, "3",
               "odd size of the square conv kernels (padded to keep the image size)"),
    KEYDEF_LIST(CnnConfig, "hidden", hidden, nhidden, 1, 65536, MODEL_MAX_WIDTHS, "128",
                "widths of the hidden dense layers after the convolutions"),
};

static int cnn_finish(void *config, const KeySource *given, DtError *err)
{
    const CnnConfig *c = config;
    if (c->kernel % 2 == 0)
        return key_fail(given, "kernel", err, "[model] kernel = %d: use an odd size (3, 5, 7)",
                        c->kernel);
    return 0;
}

static int cnn_build(Model *m, const void *config, DtError *err)
{
    const CnnConfig *c = config;
    if (c->kernel < 1 || c->kernel % 2 == 0)
        return dt_fail(err, DT_EINPUT, "a cnn needs an odd kernel size, got %d", c->kernel);
    /* each block halves the image: say how many fit before a pool has
     * nothing left to pool */
    int h = m->input.h, w = m->input.w, fit = 0;
    while (h >= 2 && w >= 2) {
        h /= 2;
        w /= 2;
        fit++;
    }
    if (c->nconv > fit)
        return dt_fail(err, DT_EINPUT,
                       "[model] channels: %d conv + 2x2 max-pool blocks, but the %dx%d input "
                       "halves to 1 pixel after %d; give at most %d channel widths",
                       c->nconv, m->input.h, m->input.w, fit, fit);
    for (int i = 0; i < c->nconv; i++) {
        Layer conv = {.ops = &conv2d_ops,
                      .channels = c->conv[i],
                      .kernel = c->kernel,
                      .stride = 1,
                      .pad = c->kernel / 2,
                      .relu = 1};
        Layer pool = {.ops = &maxpool_ops, .kernel = 2, .stride = 2};
        if (model_add(m, conv, err) < 0 || model_add(m, pool, err) < 0)
            return -1;
    }
    if (model_add(m, (Layer){.ops = &flatten_ops}, err) < 0)
        return -1;
    return model_add_dense_stack(m, c->hidden, c->nhidden, err);
}

const ModelOps cnn_model = {
    .name = "cnn",
    .summary = "conv + ReLU + 2x2 max-pool blocks, then dense layers",
    .keys = {"model", cnn_keys, sizeof cnn_keys / sizeof cnn_keys[0]},
    .config_size = sizeof(CnnConfig),
    .finish = cnn_finish,
    .build = cnn_build,
};
