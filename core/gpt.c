/*
 * gpt.c - model "gpt": a GPT-2-style decoder-only transformer.
 *
 * Token and position embeddings, then `layers` pre-LayerNorm blocks, each
 *     x = x + proj(attention(qkv(layernorm(x))))
 *     x = x + fc2(gelu(fc(layernorm(x))))
 * where qkv maps d_model to the 3 * d_model features of the queries, keys
 * and values of all heads at once, attention is causal multi-head
 * self-attention, and fc widens to d_ff; then a final LayerNorm and the
 * output projection to the vocabulary, with softmax cross-entropy at every
 * position (each predicts the next token); with tie_embeddings = on the
 * output projection is the token embedding's table, transposed, without
 * a bias of its own (GPT-2's weight tying).  Every linear map is a dense
 * layer over the positions (layer.h, tokens).  Weights are drawn with
 * standard deviation 0.02, the two projections that end a block with
 * 0.02 / sqrt(2 * layers), as GPT-2 does; biases 0, LayerNorm gains 1.
 *
 * The block is ten layers: layernorm, qkv, attention, proj, add,
 * layernorm, fc, gelu, fc2, add.  A pipeline may cut between blocks, or
 * between a block's attention half and its MLP half (after the first
 * add, whose output is all the second half reads); nowhere else, since
 * the residual adds read across.  Tensor parallelism would pair qkv with
 * proj and fc with fc2 (Megatron-LM).
 */
#include <math.h>
#include <stddef.h>

#include "model.h"

typedef struct GptConfig {
    int layers;  /* transformer blocks */
    int d_model; /* features of every position between blocks */
    int heads;   /* attention heads; d_model is a multiple */
    int seq_len; /* tokens of context */
    int vocab;   /* tokens of the vocabulary; 0: the data set's */
    int d_ff;    /* features of the MLP's hidden layer; 0: 4 * d_model */
    int tie;     /* the output projection is the token embedding's table */
} GptConfig;

static const char *const off_on[] = {"off", "on", NULL};

static const KeyDef gpt_keys[] = {
    KEYDEF_INT(GptConfig, "layers", layers, 1, 150, "4", "transformer blocks"),
    KEYDEF_INT(GptConfig, "d_model", d_model, 1, 65536, "128",
               "features of each position between blocks"),
    KEYDEF_INT(GptConfig, "heads", heads, 1, 1024, "4",
               "attention heads (d_model must be a multiple)"),
    KEYDEF_INT(GptConfig, "seq_len", seq_len, 1, 65536, "64",
               "tokens of context: each sample is a window of seq_len + 1 tokens"),
    {.name = "vocab",
     .type = KEY_INT,
     .offset = offsetof(GptConfig, vocab),
     .min = 0,
     .max = 1 << 20,
     .def = "(the data set's)",
     .help = "tokens of the vocabulary (the text's distinct characters when not given)",
     .derived = 1},
    {.name = "d_ff",
     .type = KEY_INT,
     .offset = offsetof(GptConfig, d_ff),
     .min = 0,
     .max = 1 << 20,
     .def = "(4 x d_model)",
     .help = "features of the hidden layer of each block's MLP",
     .derived = 1},
    KEYDEF_ENUM(GptConfig, "tie_embeddings", tie, off_on, "off",
                "on: the output projection uses the token embedding's weights (no bias of its "
                "own), as GPT-2 does; not with pipeline stages"),
};

static int gpt_finish(void *config, const KeySource *given, DtError *err)
{
    GptConfig *c = config;
    if (c->d_model % c->heads != 0)
        return key_fail(given, "heads", err,
                        "[model] heads = %d does not divide d_model = %d: every head takes "
                        "d_model / heads features",
                        c->heads, c->d_model);
    if (!c->d_ff)
        c->d_ff = 4 * c->d_model;
    return 0;
}

static int gpt_block(Model *m, const GptConfig *c, float proj_std, DtError *err)
{
    Layer ln = {.ops = &layernorm_ops}, first = {.ops = &layernorm_ops, .block_start = 1};
    Layer qkv = {.ops = &dense_ops, .tokens = 1, .units = 3 * c->d_model, .init_std = 0.02f};
    Layer attn = {.ops = &attention_ops, .heads = c->heads};
    Layer proj = {.ops = &dense_ops, .tokens = 1, .units = c->d_model, .init_std = proj_std};
    Layer fc = {.ops = &dense_ops, .tokens = 1, .units = c->d_ff, .init_std = 0.02f};
    Layer gelu = {.ops = &gelu_ops};
    int in = m->nlayers - 1;
    if (model_add(m, first, err) < 0 || model_add(m, qkv, err) < 0 || model_add(m, attn, err) < 0 ||
        model_add(m, proj, err) < 0 || model_add_residual(m, in, err) < 0)
        return -1;
    int mid = m->nlayers - 1;
    if (model_add(m, ln, err) < 0 || model_add(m, fc, err) < 0 || model_add(m, gelu, err) < 0 ||
        model_add(m, proj, err) < 0 || model_add_residual(m, mid, err) < 0)
        return -1;
    return 0;
}

static int gpt_build(Model *m, const void *config, DtError *err)
{
    const GptConfig *c = config;
    if (c->vocab && c->vocab < m->classes)
        return dt_fail(err, DT_EINPUT,
                       "[model] vocab = %d is smaller than the %d tokens of the data set", c->vocab,
                       m->classes);
    if (c->vocab)
        m->classes = c->vocab;
    m->input = (Shape){c->seq_len, 1, 1};
    m->positions = c->seq_len;
    Layer embed = {.ops = &embed_ops, .units = c->d_model, .vocab = m->classes, .init_std = 0.02f};
    if (model_add(m, embed, err) < 0)
        return -1;
    float proj_std = (float)(0.02 / sqrt(2.0 * c->layers));
    for (int b = 0; b < c->layers; b++)
        if (gpt_block(m, c, proj_std, err) < 0)
            return -1;
    Layer head = {
        .ops = &dense_ops, .tokens = 1, .units = m->classes, .init_std = 0.02f, .tied = c->tie};
    int last;
    if (model_add(m, (Layer){.ops = &layernorm_ops}, err) < 0 ||
        (last = model_add(m, head, err)) < 0)
        return -1;
    if (c->tie) /* the embedding's first table, wte (vocab, d_model) */
        m->layers[last].param_offset = m->layers[0].param_offset;
    return 0;
}

static int gpt_sequence(const void *config)
{
    return ((const GptConfig *)config)->seq_len;
}

const ModelOps gpt_model = {
    .name = "gpt",
    .summary = "a GPT-2-style transformer over characters: embeddings, pre-LayerNorm blocks of "
               "causal self-attention and a GELU MLP, logits at every position",
    .keys = {"model", gpt_keys, sizeof gpt_keys / sizeof gpt_keys[0]},
    .config_size = sizeof(GptConfig),
    .finish = gpt_finish,
    .build = gpt_build,
    .sequence = gpt_sequence,
};
