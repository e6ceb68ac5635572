/*
 * resnet.c - model "resnet": a residual convolutional network with batch
 * normalisation (He et al. 2015), sized for small images.
 *
 * A stem conv 3x3 (stride 1, pad 1) to widths[0] channels + batchnorm +
 * ReLU (stem = small), or for ImageNet-sized images (stem = imagenet) a
 * conv 7x7 with stride 2 + batchnorm + ReLU and a 2x2 max-pool with
 * stride 2 (a quarter of the pixels twice, as ResNet-50's stem: it pools
 * 3x3 with padding, to the same 56 x 56 from 224 x 224); then one stage
 * per entry of widths, of blocks[i] residual blocks each, the first block
 * of every stage after the first with stride 2; then global average
 * pooling and dense(classes) (dense reads the (c, 1, 1) output as c
 * features, no flatten needed).  Blocks:
 *   basic:      conv3x3(stride) bn relu, conv3x3 bn, + shortcut, relu
 *   bottleneck: conv1x1 bn relu, conv3x3(stride) bn relu, conv1x1 to
 *               4 x width bn, + shortcut, relu
 * The shortcut is the block's input when the shapes match, else a
 * projection conv1x1(stride) + bn of it (model_add_from).  Every ReLU is a
 * relu layer of its own, since a batchnorm sits between it and the conv.
 * Convolutions keep conv2d's bias (which the batchnorm after it makes
 * redundant: its gradient is 0 up to rounding).
 *
 * Layers: 3 for the stem (4 for imagenet's), 7 a basic block, 10 a bottleneck block, 2 more
 * with a projection, 2 for the head.  A pipeline may cut between blocks
 * (the block's input is all a block reads from before it), inside the stem
 * and the head, and between a block's add and its last ReLU; not inside a
 * block otherwise, where the add or the projection reads across the cut.
 *
 * Batch-norm statistics are those of the batch a device processes, or of
 * groups of bn_group samples of it (layer.h, batchnorm_ops): serial
 * training on N*b samples with bn_group = b computes what N data-parallel
 * workers of b samples each do.
 */
#include <stddef.h>

#include "model.h"

enum { RESNET_PRESET_NONE, RESNET_PRESET_18, RESNET_PRESET_50 };

typedef struct ResNetConfig {
    int nblocks;
    int blocks[MODEL_MAX_WIDTHS]; /* residual blocks of each stage */
    int nwidths;
    int widths[MODEL_MAX_WIDTHS]; /* channels of each stage (x 4 at a bottleneck's output) */
    int bottleneck;               /* 0: basic blocks, 1: bottleneck blocks */
    int preset;                   /* RESNET_PRESET_* */
    int bn_group;                 /* batchnorm groups of this many samples; 0: the batch */
    int imagenet;                 /* stem: 0 small (3x3), 1 imagenet (7x7 / 2, max-pool / 2) */
} ResNetConfig;

static const char *const resnet_on_off[] = {"off", "on", NULL};
static const char *const resnet_presets[] = {"none", "resnet18", "resnet50", NULL};
static const char *const resnet_stems[] = {"small", "imagenet", NULL};

static const KeyDef resnet_keys[] = {
    KEYDEF_LIST(ResNetConfig, "blocks", blocks, nblocks, 1, 1000, MODEL_MAX_WIDTHS, "2,2,2,2",
                "residual blocks of each stage (a stage after the first starts with stride 2)"),
    KEYDEF_LIST(ResNetConfig, "widths", widths, nwidths, 1, 4096, MODEL_MAX_WIDTHS, "16,32,64,128",
                "channels of each stage, one per entry of blocks"),
    KEYDEF_ENUM(ResNetConfig, "bottleneck", bottleneck, resnet_on_off, "off",
                "bottleneck blocks (1x1, 3x3, 1x1 to 4 x width) instead of two 3x3 convs"),
    KEYDEF_ENUM(ResNetConfig, "preset", preset, resnet_presets, "none",
                "resnet18 (basic 2,2,2,2 of 64,128,256,512) or resnet50 (bottleneck 3,4,6,3 of "
                "64,128,256,512): sets blocks, widths and bottleneck"),
    KEYDEF_INT(ResNetConfig, "bn_group", bn_group, 0, 1 << 20, "0",
               "batch-norm statistics over groups of this many samples; 0: the whole batch a "
               "device processes"),
    KEYDEF_ENUM(ResNetConfig, "stem", imagenet, resnet_stems, "small",
                "small (conv 3x3, for 28 x 28 images) or imagenet (conv 7x7 with stride 2 and a "
                "max-pool with stride 2, for 224 x 224)"),
};

/* Channels out of a block of stage width `width`. */
static int resnet_out_channels(const ResNetConfig *c, int width)
{
    return c->bottleneck ? 4 * width : width;
}

/* Layers of the model c describes (which does not depend on the input). */
static long resnet_layer_count(const ResNetConfig *c)
{
    long n = 3 + c->imagenet + 2; /* stem, head */
    int channels = c->widths[0];
    for (int i = 0; i < c->nblocks && i < c->nwidths; i++) {
        int out = resnet_out_channels(c, c->widths[i]);
        n += (long)c->blocks[i] * (c->bottleneck ? 10 : 7);
        if (i > 0 || channels != out)
            n += 2; /* the first block's projection */
        channels = out;
    }
    return n;
}

static void resnet_apply_preset(ResNetConfig *c)
{
    static const int b18[] = {2, 2, 2, 2}, b50[] = {3, 4, 6, 3}, w[] = {64, 128, 256, 512};
    const int *b = c->preset == RESNET_PRESET_18 ? b18 : b50;
    c->nblocks = c->nwidths = 4;
    for (int i = 0; i < 4; i++) {
        c->blocks[i] = b[i];
        c->widths[i] = w[i];
    }
    c->bottleneck = c->preset == RESNET_PRESET_50;
}

static int resnet_finish(void *config, const KeySource *given, DtError *err)
{
    ResNetConfig *c = config;
    static const char *const shaped[] = {"blocks", "widths", "bottleneck"};
    if (c->preset != RESNET_PRESET_NONE) {
        for (int k = 0; k < 3; k++)
            if (key_given(given, shaped[k]))
                return key_fail(given, shaped[k], err,
                                "[model] preset = %s and %s are both given: the preset sets "
                                "blocks, widths and bottleneck itself; give one or the other",
                                resnet_presets[c->preset], shaped[k]);
        resnet_apply_preset(c);
    }
    if (c->nwidths != c->nblocks)
        return key_fail(given, key_given(given, "widths") ? "widths" : "blocks", err,
                        "[model] widths has %d entries but blocks has %d: give one width per "
                        "stage",
                        c->nwidths, c->nblocks);
    long n = resnet_layer_count(c);
    if (n > MODEL_MAX_LAYERS)
        return key_fail(given, c->preset != RESNET_PRESET_NONE ? "preset" : "blocks", err,
                        "[model] this resnet has %ld layers, more than the %d a model may have; "
                        "give fewer blocks",
                        n, MODEL_MAX_LAYERS);
    return 0;
}

/* conv(k x k, stride, pad k/2) to `out` channels reading layer src, then
 * batchnorm, then a relu layer when relu is set; the last one's index. */
static int resnet_conv_bn(Model *m, int src, int out, int k, int stride, int relu, int group,
                          DtError *err)
{
    Layer conv = {.ops = &conv2d_ops, .channels = out, .kernel = k, .stride = stride, .pad = k / 2};
    if (model_add_from(m, conv, src, err) < 0 ||
        model_add(m, (Layer){.ops = &batchnorm_ops, .group = group}, err) < 0)
        return -1;
    if (relu && model_add(m, (Layer){.ops = &relu_ops}, err) < 0)
        return -1;
    return m->nlayers - 1;
}

/* One residual block of stage width `width` on the last layer's output. */
static int resnet_block(Model *m, const ResNetConfig *c, int width, int stride, DtError *err)
{
    const int in = m->nlayers - 1, g = c->bn_group, out = resnet_out_channels(c, width);
    int last;
    if (c->bottleneck) {
        if (resnet_conv_bn(m, in, width, 1, 1, 1, g, err) < 0 ||
            resnet_conv_bn(m, m->nlayers - 1, width, 3, stride, 1, g, err) < 0)
            return -1;
        last = resnet_conv_bn(m, m->nlayers - 1, out, 1, 1, 0, g, err);
    } else {
        if (resnet_conv_bn(m, in, width, 3, stride, 1, g, err) < 0)
            return -1;
        last = resnet_conv_bn(m, m->nlayers - 1, width, 3, 1, 0, g, err);
    }
    if (last < 0)
        return -1;
    int shortcut = in;
    if (stride != 1 || m->layers[in].out.c != out) {
        if (resnet_conv_bn(m, in, out, 1, stride, 0, g, err) < 0)
            return -1;
        shortcut = last; /* the add reads the projection and the main branch */
    }
    if (model_add_residual(m, shortcut, err) < 0 ||
        model_add(m, (Layer){.ops = &relu_ops}, err) < 0)
        return -1;
    return 0;
}

static int resnet_build(Model *m, const void *config, DtError *err)
{
    const ResNetConfig *c = config;
    if (c->nblocks != c->nwidths || c->nblocks < 1)
        return dt_fail(err, DT_EINPUT,
                       "a resnet needs one width per stage, got %d widths and %d "
                       "stages of blocks",
                       c->nwidths, c->nblocks);
    long n = resnet_layer_count(c);
    if (n > MODEL_MAX_LAYERS)
        return dt_fail(err, DT_EINPUT,
                       "this resnet has %ld layers, more than the %d a model may have (give "
                       "fewer [model] blocks)",
                       n, MODEL_MAX_LAYERS);
    if (resnet_conv_bn(m, -1, c->widths[0], c->imagenet ? 7 : 3, c->imagenet ? 2 : 1, 1,
                       c->bn_group, err) < 0)
        return -1;
    if (c->imagenet &&
        model_add(m, (Layer){.ops = &maxpool_ops, .kernel = 2, .stride = 2}, err) < 0)
        return -1;
    for (int i = 0; i < c->nblocks; i++)
        for (int b = 0; b < c->blocks[i]; b++)
            if (resnet_block(m, c, c->widths[i], i > 0 && b == 0 ? 2 : 1, err) < 0)
                return -1;
    if (model_add(m, (Layer){.ops = &avgpool_ops}, err) < 0 ||
        model_add(m, (Layer){.ops = &dense_ops, .units = m->classes}, err) < 0)
        return -1;
    return 0;
}

const ModelOps resnet_model = {
    .name = "resnet",
    .summary = "a ResNet: conv + batchnorm stem, stages of residual blocks (basic or "
               "bottleneck), global average pooling, logits",
    .keys = {"model", resnet_keys, sizeof resnet_keys / sizeof resnet_keys[0]},
    .config_size = sizeof(ResNetConfig),
    .finish = resnet_finish,
    .build = resnet_build,
};
