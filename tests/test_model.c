/*
 * test_model.c - whole models: gradients of the full MLP, CNN and residual
 * networks against finite differences, FLOP totals against counts worked
 * by hand from the shapes, parameter layout, the layer graph's gradient
 * buffers and cut points, evaluation in batches; the GPT: its layout, loss,
 * gradient, activation memory and generation; the ResNet: its layout, cut
 * points, gradient through batch norm groups, and its settings.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

/* Mean loss of the model on (x, y), in double. */
static double model_mean_loss(const Model *m, Workspace *ws, const float *p, const float *x,
                              const uint8_t *y, int batch)
{
    model_forward(m, ws, p, x, batch);
    SoftmaxXent s = {.batch = batch,
                     .classes = m->classes,
                     .logits = workspace_output(ws, m->nlayers - 1),
                     .labels = y,
                     .probs = ws->probs};
    return softmax_xent_forward(&s) / batch;
}

/* Every parameter's analytic gradient against a central difference. */
static void check_gradients(const Model *model, int batch)
{
    const Model m = *model;
    Workspace ws;
    DtError err;
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, batch, &err), 0);
    size_t in = shape_size(m.input);
    float *p = malloc(m.nparams * sizeof(float));
    float *g = calloc(m.nparams, sizeof(float));
    float *x = malloc(batch * in * sizeof(float));
    uint8_t *y = malloc(batch);
    model_init_params(&m, p, 5);
    Rng r = rng_make(9, 0);
    for (size_t i = 0; i < batch * in; i++)
        x[i] = 2.0f * rng_uniform(&r) - 1.0f;
    for (int i = 0; i < batch; i++)
        y[i] = (uint8_t)rng_below(&r, (uint32_t)m.classes);
    /* biases start at 0; move them off it so that their gradients are generic */
    for (size_t i = 0; i < m.nparams; i++)
        p[i] += 0.05f * (rng_uniform(&r) - 0.5f);

    model_forward(&m, &ws, p, x, batch);
    model_loss(&m, &ws, y, batch, 1.0f / batch);
    model_backward(&m, &ws, p, g, x, batch);

    /* A ReLU or max-pool kink within a step of a parameter spoils its
     * difference.  On a smooth stretch, central differences with steps h and
     * h/2 agree to O(h^2); where they do not, the point is a kink and is
     * skipped.  A wrong gradient still fails: it disagrees on smooth points
     * by more than the two differences disagree with each other. */
    const float h = 1e-3f;
    size_t bad = 0, kinks = 0;
    double worst = 0;
    for (size_t i = 0; i < m.nparams; i++) {
        float keep = p[i];
        double num[2];
        for (int k = 0; k < 2; k++) {
            float step = k ? h / 2 : h;
            p[i] = keep + step;
            double up = model_mean_loss(&m, &ws, p, x, y, batch);
            p[i] = keep - step;
            double down = model_mean_loss(&m, &ws, p, x, y, batch);
            num[k] = (up - down) / (2.0 * step);
        }
        p[i] = keep;
        double spread = fabs(num[0] - num[1]);
        if (spread > 1e-2 * (fabs(num[0]) + fabs(num[1])) + 1e-3) {
            kinks++;
            continue;
        }
        /* the two differences' spread measures their float32 rounding,
         * which a small gradient of a deep (residual) model can exceed 2% of */
        double diff = (fabs(num[0] - g[i]) - 2 * spread) / (fabs(num[0]) + fabs(g[i]) + 1e-3);
        if (diff > worst)
            worst = diff;
        bad += diff > 2e-2;
    }
    if (bad || kinks > m.nparams / 5)
        fprintf(stderr,
                "\n  %zu of %zu gradients off (worst relative difference %.3g), %zu kinks\n", bad,
                m.nparams, worst, kinks);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_TRUE(kinks <= m.nparams / 5);
    free(p);
    free(g);
    free(x);
    free(y);
    workspace_free(&ws);
}

static void check_model_gradients(const TestModel *cfg, int batch)
{
    Model m;
    DtError err;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, cfg, &err), 0);
    check_gradients(&m, batch);
}

static void test_mlp_gradients(void)
{
    TestModel cfg = {"mlp", {1, 6, 6}, 5, {"hidden=10,8"}};
    check_model_gradients(&cfg, 4);
}

static void test_cnn_gradients(void)
{
    TestModel cfg = {"cnn", {1, 8, 8}, 4, {"hidden=6", "channels=3,4", "kernel=3"}};
    check_model_gradients(&cfg, 3);
}

/* flatten, dense, then two blocks of dense, dense and an add of the
 * block's input, then the logits: outputs 1 and 4 are read twice */
static const TestModel RESMLP = {"resmlp", {1, 4, 4}, 3, {"width=6", "blocks=2"}};

static void test_resmlp_gradients(void)
{
    check_model_gradients(&RESMLP, 3);
}

/* A branch that reads an earlier output and joins the main path again:
 * flatten, dense 6 (1), dense 5 (2), dense 5 from layer 1 (3), layer 3 +
 * layer 2 (4), logits (5); as a ResNet block with a projection shortcut. */
static void build_branch(Model *m)
{
    DtError err;
    model_begin(m, (Shape){1, 4, 4}, 3);
    Layer dense5 = {.ops = &dense_ops, .units = 5, .relu = 1};
    CU_ASSERT_EQUAL_FATAL(model_add(m, (Layer){.ops = &flatten_ops}, &err), 0);
    CU_ASSERT_EQUAL_FATAL(model_add(m, (Layer){.ops = &dense_ops, .units = 6, .relu = 1}, &err), 1);
    CU_ASSERT_EQUAL_FATAL(model_add(m, dense5, &err), 2);
    CU_ASSERT_EQUAL_FATAL(model_add_from(m, dense5, 1, &err), 3);
    CU_ASSERT_EQUAL_FATAL(model_add_residual(m, 2, &err), 4);
    CU_ASSERT_EQUAL_FATAL(model_add(m, (Layer){.ops = &dense_ops, .units = 3}, &err), 5);
}

static void test_branch_gradients(void)
{
    Model m;
    build_branch(&m);
    CU_ASSERT_EQUAL(m.layers[3].src, 1);
    CU_ASSERT_EQUAL(m.layers[4].src, 3);
    CU_ASSERT_EQUAL(m.layers[4].src2, 2);
    check_gradients(&m, 4);
}

/* Which outputs keep their own gradient, which readers add to it, where a
 * pipeline may cut, and what the adds cost. */
static void test_graph_bookkeeping(void)
{
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &RESMLP, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(m.nlayers, 9);
    for (int l = 0; l < m.nlayers; l++)
        CU_ASSERT_EQUAL(m.layers[l].keep_grad, l == 1 || l == 4);
    /* out 1 is read by dense 2 and by the add 4: the add, met first in
     * backward, writes; dense 2 adds */
    CU_ASSERT_EQUAL(m.layers[4].src2, 1);
    CU_ASSERT_FALSE(m.layers[4].din2_adds);
    CU_ASSERT_TRUE(m.layers[2].din_adds);
    CU_ASSERT_FALSE(m.layers[3].din_adds);
    const int cuts[] = {1, 2, 5, 8}; /* before a block, or the logits */
    for (int first = 1, k = 0; first < m.nlayers; first++) {
        int want = k < 4 && cuts[k] == first;
        CU_ASSERT_EQUAL(model_can_cut(&m, first), want);
        k += want;
    }
    /* the adds of dense 2's input gradient into out 1's: batch * 6 */
    Layer dense = m.layers[2];
    CU_ASSERT_DOUBLE_EQUAL(model_layer_backward_flops(&m, 2, 4),
                           dense.ops->backward_flops(&dense, 4, 1) + 4 * 6, 0);
    /* the add reads two inputs */
    CU_ASSERT_DOUBLE_EQUAL(model_layer_forward_bytes(&m, 4, 4), 4.0 * (3 * 4 * 6), 0);
    /* buffers: the chain's (two gradients of the widest output, the
     * probabilities, dense's scratch of batch x units), the two kept
     * gradients, and two scratch gradients */
    size_t widest = 16, chain = 4 * (2 * 4 * widest + 4 * 3 + 4 * 6);
    CU_ASSERT_EQUAL(workspace_buffer_bytes(&m, 4), chain + 4 * (2 * 4 * 6) + 4 * (2 * 4 * widest));
    Model mlp;
    TestModel plain = {"mlp", {1, 4, 4}, 3, {"hidden=6,5"}};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&mlp, &plain, NULL), 0);
    for (int l = 0; l < mlp.nlayers; l++) {
        CU_ASSERT_FALSE(mlp.layers[l].keep_grad);
        if (l > 0)
            CU_ASSERT_TRUE(model_can_cut(&mlp, l));
    }
}

static const TestModel MLP = {"mlp", {1, 28, 28}, 10, {"hidden=256,128"}};
static const TestModel CNN = {"cnn", {1, 28, 28}, 10, {"hidden=128", "channels=16,32", "kernel=3"}};

static void test_parameter_layout(void)
{
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP, NULL), 0);
    /* flatten, dense 256 + relu, dense 128 + relu, dense 10 */
    CU_ASSERT_EQUAL(m.nlayers, 4);
    CU_ASSERT_EQUAL(m.nparams, (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10));
    CU_ASSERT_EQUAL(m.layers[2].param_offset, 784 * 256 + 256);
    CU_ASSERT_TRUE(m.layers[1].relu && m.layers[2].relu && !m.layers[3].relu);
    CU_ASSERT_EQUAL(model_param_bytes(&m), 4 * m.nparams);
    CU_ASSERT_EQUAL(model_activation_bytes(&m, 2), 4 * 2 * (784 + 256 + 128 + 10));

    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &CNN, NULL), 0);
    /* conv + relu, pool, conv + relu, pool, flatten, dense + relu, dense */
    CU_ASSERT_EQUAL(m.nlayers, 7);
    CU_ASSERT_EQUAL(m.nparams, (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 7 * 7 * 128 + 128) +
                                   (128 * 10 + 10));
    CU_ASSERT_EQUAL(m.layers[3].out.c, 32);
    CU_ASSERT_EQUAL(m.layers[3].out.h, 7);
}

static void test_mlp_flops_by_hand(void)
{
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP, NULL), 0);
    const double B = 32;
    double fwd = (2 * B * 784 * 256 + B * 256) + B * 256 + (2 * B * 256 * 128 + B * 128) + B * 128 +
                 (2 * B * 128 * 10 + B * 10) + softmax_xent_forward_flops(32, 10);
    /* backward: weights (2 B out in) and bias (B out) of each dense layer;
     * input gradients (2 B out in) for the second and third only, since
     * nothing below the first dense layer has parameters; ReLU masks. */
    double bwd = softmax_xent_backward_flops(32, 10) + (2 * B * 10 * 128 + B * 10) +
                 2 * B * 10 * 128 + B * 128 + (2 * B * 128 * 256 + B * 128) + 2 * B * 128 * 256 +
                 B * 256 + (2 * B * 256 * 784 + B * 256);
    CU_ASSERT_DOUBLE_EQUAL(model_forward_flops(&m, 32), fwd, 0);
    CU_ASSERT_DOUBLE_EQUAL(model_backward_flops(&m, 32), bwd, 0);
    CU_ASSERT_DOUBLE_EQUAL(model_layer_backward_flops(&m, 0, 32), 0, 0); /* flatten */
    /* the first dense layer: weights, bias, ReLU mask; no input gradient */
    CU_ASSERT_DOUBLE_EQUAL(model_layer_backward_flops(&m, 1, 32),
                           2 * 32.0 * 256 * 784 + 32 * 256 + 32 * 256, 0);
}

static void test_cnn_flops_by_hand(void)
{
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &CNN, NULL), 0);
    const double B = 8;
    /* conv: 2 C_out (B oh ow) (C_in k k) + bias; pool 2x2: 3 compares a window */
    double fwd = (2 * 16 * B * 784 * 9 + 16 * B * 784) + B * 16 * 784 + B * 16 * 196 * 3 +
                 (2 * 32 * B * 196 * 144 + 32 * B * 196) + B * 32 * 196 + B * 32 * 49 * 3 +
                 (2 * B * 128 * 1568 + B * 128) + B * 128 + (2 * B * 10 * 128 + B * 10) +
                 softmax_xent_forward_flops(8, 10);
    CU_ASSERT_DOUBLE_EQUAL(model_forward_flops(&m, 8), fwd, 0);
    /* conv backward: weight GEMM, bias sums (over the batch, then over
     * positions), input GEMM, and col2im's adds: per input channel, the
     * kernel taps that land inside the 14x14 input, 13 + 14 + 13 = 40 per
     * axis with pad 1 */
    double conv2 = 2 * 32 * 144 * B * 196 + 32 * B * 196 + 32 * 196 + 2 * 144 * B * 196 * 32 +
                   B * 16 * 40 * 40;
    double conv1 = 2 * 16 * 9 * B * 784 + 16 * B * 784 + 16 * 784; /* no input gradient */
    double pool = 3; /* 3 compares to find the window's max; dout is stored, not added */
    double bwd = softmax_xent_backward_flops(8, 10) + (2 * B * 10 * 128 + B * 10) +
                 2 * B * 10 * 128 + B * 128 + (2 * B * 128 * 1568 + B * 128) + 2 * B * 128 * 1568 +
                 B * 32 * 49 * pool + B * 32 * 196 + conv2 + B * 16 * 196 * pool + B * 16 * 784 +
                 conv1;
    CU_ASSERT_DOUBLE_EQUAL(model_backward_flops(&m, 8), bwd, 0);
}

static void test_too_many_pools(void)
{
    TestModel cfg = {"cnn", {1, 28, 28}, 10, {"hidden=128", "channels=4,4,4,4,4,4"}};
    Model m;
    DtError err = {0};
    CU_ASSERT_EQUAL(test_model_build(&m, &cfg, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_TRUE(strlen(err.msg) > 0);
}

/* Evaluation in batches of 4 over 10 samples matches one pass over all 10. */
static void test_evaluate_in_batches(void)
{
    TestModel cfg = {"mlp", {1, 4, 4}, 3, {"hidden=5"}};
    Model m;
    Workspace small, whole;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &cfg, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&small, &m, 4, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&whole, &m, 10, NULL), 0);
    SyntheticConfig sc = {
        .n = 10, .shape = {1, 4, 4}, .classes = 3, .noise = 2.0f, .seed = 4, .stream = 1};
    Dataset d;
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&d, &sc, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float));
    model_init_params(&m, p, 2);
    double loss_small, loss_whole;
    double acc_small = model_evaluate(&m, &small, p, &d, &loss_small);
    double acc_whole = model_evaluate(&m, &whole, p, &d, &loss_whole);
    CU_ASSERT_DOUBLE_EQUAL(acc_small, acc_whole, 0);
    CU_ASSERT_DOUBLE_EQUAL(loss_small, loss_whole, 1e-6 * loss_whole);
    CU_ASSERT_DOUBLE_EQUAL(loss_whole, model_mean_loss(&m, &whole, p, d.x, d.y, 10),
                           1e-6 * loss_whole);
    free(p);
    dataset_free(&d);
    workspace_free(&small);
    workspace_free(&whole);
}

/* model_predict: probabilities that sum to 1 whose argmax makes
 * model_evaluate's accuracy, the same for samples named by index. */
static void test_predict(void)
{
    TestModel cfg = {"mlp", {1, 4, 4}, 3, {"hidden=5"}};
    Model m;
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &cfg, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, 4, NULL), 0);
    SyntheticConfig sc = {
        .n = 10, .shape = {1, 4, 4}, .classes = 3, .noise = 2.0f, .seed = 4, .stream = 1};
    Dataset d;
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&d, &sc, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float)), probs[30], picked[6];
    model_init_params(&m, p, 2);
    CU_ASSERT_EQUAL_FATAL(model_predict(&m, &ws, p, &d, NULL, 10, probs), 0);
    long right = 0;
    for (int i = 0; i < 10; i++) {
        const float *q = probs + 3 * i;
        CU_ASSERT_DOUBLE_EQUAL(q[0] + q[1] + q[2], 1.0, 1e-6);
        int best = q[1] > q[0] ? 1 : 0;
        best = q[2] > q[best] ? 2 : best;
        right += best == d.y[i];
    }
    CU_ASSERT_DOUBLE_EQUAL(right / 10.0, model_evaluate(&m, &ws, p, &d, NULL), 0);
    const int idx[2] = {7, 2};
    CU_ASSERT_EQUAL_FATAL(model_predict(&m, &ws, p, &d, idx, 2, picked), 0);
    CU_ASSERT_EQUAL(memcmp(picked, probs + 21, 3 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(picked + 3, probs + 6, 3 * sizeof(float)), 0);
    free(p);
    dataset_free(&d);
    workspace_free(&ws);
}

/*
 * The gpt model at its smallest: 2 blocks of d_model 8 in 2 heads over 5
 * positions and 7 tokens.  Its layers: embed, then per block layernorm,
 * qkv, attention, proj, add, layernorm, fc, gelu, fc2, add, then the final
 * layernorm and the head.
 */
#define GPT_L 2
#define GPT_C 8
#define GPT_H 2
#define GPT_T 5
#define GPT_V 7

/* Each layer's parameters start where the previous layer's end, and they
 * fill the block. */
static int params_packed(const Model *m)
{
    size_t off = 0;
    int packed = 1;
    for (int l = 0; l < m->nlayers; l++) {
        packed &= m->layers[l].param_offset == off;
        off += m->layers[l].param_count;
    }
    return packed && off == m->nparams;
}

static const TestModel GPT = {
    "gpt", {GPT_T, 1, 1}, GPT_V, {"layers=2", "d_model=8", "heads=2", "seq_len=5"}};

static int gpt_kinds_ok(const Model *m)
{
    static const LayerOps *const block[10] = {
        &layernorm_ops, &dense_ops, &attention_ops, &dense_ops, &add_ops,
        &layernorm_ops, &dense_ops, &gelu_ops,      &dense_ops, &add_ops};
    int ok = m->layers[0].ops == &embed_ops && m->layers[m->nlayers - 2].ops == &layernorm_ops &&
             m->layers[m->nlayers - 1].ops == &dense_ops;
    for (int b = 0; b < GPT_L; b++) {
        for (int k = 0; k < 10; k++)
            ok &= m->layers[1 + 10 * b + k].ops == block[k];
        /* the adds: the block's input, then the first add's output */
        ok &= m->layers[1 + 10 * b + 4].src2 == 10 * b;
        ok &= m->layers[1 + 10 * b + 9].src2 == 10 * b + 5;
    }
    return ok;
}

static void test_gpt_layout(void)
{
    Model m;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, &err), 0);
    CU_ASSERT_STRING_EQUAL(m.name, "gpt");
    CU_ASSERT_EQUAL_FATAL(m.nlayers, 3 + 10 * GPT_L);
    CU_ASSERT_EQUAL(m.positions, GPT_T);
    CU_ASSERT_EQUAL(m.classes, GPT_V);
    CU_ASSERT(m.input.c == GPT_T && m.input.h == 1 && m.input.w == 1);
    CU_ASSERT(gpt_kinds_ok(&m));
    const Layer *head = &m.layers[m.nlayers - 1];
    CU_ASSERT(head->out.c == GPT_T && head->out.h == GPT_V && head->out.w == 1);
    const size_t C = GPT_C, V = GPT_V, T = GPT_T;
    /* per block: 2 layernorms, qkv, proj, fc, fc2 (weights and biases) */
    size_t block =
        2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
    size_t want = (V * C + T * C) + GPT_L * block + 2 * C + (C * V + V);
    CU_ASSERT_EQUAL(m.nparams, want);
    CU_ASSERT(params_packed(&m));
    CU_ASSERT_EQUAL(m.first_trainable, 0);

    /* cuts: before each block (1 + 10 b); after each block's first add
     * (6 + 10 b: the block is two residual halves, and the second reads
     * only that add's output); after the last block (the final layernorm
     * and the head read only their predecessor); nowhere else, where an
     * add reads across the cut */
    for (int first = 1; first < m.nlayers; first++) {
        int want_cut = (first - 1) % 5 == 0 || first >= 1 + 10 * GPT_L;
        if (model_can_cut(&m, first) != want_cut)
            fprintf(stderr, "\n  model_can_cut(%d) is %d\n", first, model_can_cut(&m, first));
        CU_ASSERT_EQUAL(model_can_cut(&m, first), want_cut);
    }
}

static void expect_gpt_fails(const char *setting, const char *needle)
{
    TestModel t = GPT;
    t.settings[4] = setting;
    Model m;
    DtError err = {DT_OK, ""};
    int rc = test_model_build(&m, &t, &err);
    int ok = rc == -1 && err.kind == DT_EINPUT && strstr(err.msg, needle);
    if (!ok)
        fprintf(stderr, "\n  %s: rc %d msg '%s' (wanted '%s')\n", setting, rc, err.msg, needle);
    CU_ASSERT(ok);
}

static void test_gpt_config(void)
{
    expect_gpt_fails("heads=3", "heads"); /* 3 does not divide 8 */
    expect_gpt_fails("heads=16", "heads");
    expect_gpt_fails("vocab=3", "vocab"); /* the data has 7 tokens */
    expect_gpt_fails("vocab=6", "vocab");
    /* a larger vocab than the data's: more rows of wte and of the head */
    TestModel t = GPT;
    t.settings[4] = "vocab=10";
    Model big, m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&big, &t, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    CU_ASSERT_EQUAL(big.classes, 10);
    CU_ASSERT_EQUAL(big.nparams, m.nparams + 3 * GPT_C + 3 * (GPT_C + 1));
    /* d_ff defaults to 4 d_model; given, the MLP takes it */
    t.settings[4] = "d_ff=12";
    CU_ASSERT_EQUAL_FATAL(test_model_build(&big, &t, NULL), 0);
    CU_ASSERT_EQUAL(big.layers[7].out.h, 12);
    CU_ASSERT_EQUAL(m.layers[7].out.h, 4 * GPT_C);
    CU_ASSERT_EQUAL(m.layers[3].heads, GPT_H);
}

/* What model_loss returns at scale 1: the sum over the batch of each
 * sample's mean cross-entropy over its positions. */
static double gpt_loss(const Model *m, Workspace *ws, const float *p, const float *x,
                       const uint8_t *y, int batch)
{
    model_forward(m, ws, p, x, batch);
    return model_loss(m, ws, y, batch, 1.0f);
}

/* Random token ids (as floats) and next-token labels for a batch. */
static void gpt_batch(float *x, uint8_t *y, int batch, uint64_t seed)
{
    Rng r = rng_make(seed, 0);
    for (int i = 0; i < batch * GPT_T; i++) {
        x[i] = (float)rng_below(&r, GPT_V);
        y[i] = (uint8_t)rng_below(&r, GPT_V);
    }
}

/* model_loss: the sum of per-sample means (worked out here from the
 * probabilities it leaves), and d(loss * scale)/dlogits for backward,
 * (probs - onehot) * scale / T. */
static void test_gpt_loss(void)
{
    Model m;
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, 3, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float)), x[3 * GPT_T];
    uint8_t y[3 * GPT_T];
    model_init_params(&m, p, 1);
    gpt_batch(x, y, 3, 2);
    model_forward(&m, &ws, p, x, 3);
    double loss = model_loss(&m, &ws, y, 3, 0.5f), want = 0.0;
    int grad_ok = 1;
    const float *dlogits = workspace_grad(&ws, m.nlayers - 1);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < GPT_T; t++) {
            size_t row = ((size_t)b * GPT_T + t) * GPT_V;
            want -= log(ws.probs[row + y[b * GPT_T + t]]) / GPT_T;
            for (int k = 0; k < GPT_V; k++) {
                double g = (ws.probs[row + k] - (k == y[b * GPT_T + t])) * 0.5 / GPT_T;
                grad_ok &= fabs(dlogits[row + k] - g) <= 1e-6;
            }
        }
    CU_ASSERT_DOUBLE_EQUAL(loss, want, 1e-5 * want);
    CU_ASSERT(grad_ok);
    /* near uniform at initialisation: about ln 7 a sample */
    CU_ASSERT_DOUBLE_EQUAL(loss / 3, log(GPT_V), 0.1);
    free(p);
    workspace_free(&ws);
}

/* Finite differences for the whole GPT, at two points.
 *
 * At initialisation the residual stream has a standard deviation of about
 * 0.02 and every layernorm divides by it, so the loss curves sharply: a
 * central difference with a step of 1e-2 is off by up to 6% of the
 * gradient (its h^2 term), while float32 rounding of the loss keeps the
 * step from being much smaller.  Steps h and h/2 combined as
 * (4 D(h/2) - D(h)) / 3 (Richardson) cancel the h^2 term: then the
 * difference is within 1% everywhere.  Attention is close to uniform
 * there, though, and the gradients of the queries and keys are ~1e-4,
 * under any tolerance float32 allows.
 *
 * So the second point moves every parameter off its initial value by
 * U(-0.5, 0.5), as test_layers.c draws its parameters: activations of
 * order 1, attention far from uniform, and every parameter's gradient
 * large enough to check with plain central differences of step 1e-2. */
#define GPT_TOL 2e-2 /* relative, as in test_layers.c */

typedef struct GptPoint {
    const char *what;
    float step;     /* central difference step */
    int richardson; /* combine steps h and h/2 */
    double floor;   /* below this magnitude the tolerance is absolute */
} GptPoint;

static double gpt_numeric(const Model *m, Workspace *ws, float *p, size_t i, const float *x,
                          const uint8_t *y, int batch, const GptPoint *pt)
{
    float keep = p[i];
    double d[2] = {0.0, 0.0};
    for (int k = 0; k < 1 + pt->richardson; k++) {
        float h = k ? pt->step / 2 : pt->step, up = keep + h, down = keep - h;
        p[i] = up;
        double l_up = gpt_loss(m, ws, p, x, y, batch);
        p[i] = down;
        double l_down = gpt_loss(m, ws, p, x, y, batch);
        d[k] = (l_up - l_down) / ((double)up - (double)down);
    }
    p[i] = keep;
    return pt->richardson ? (4.0 * d[1] - d[0]) / 3.0 : d[0];
}

/* The layer whose parameters hold float i of the block. */
static int gpt_layer_of(const Model *m, size_t i)
{
    for (int l = 0; l < m->nlayers; l++)
        if (i >= m->layers[l].param_offset &&
            i < m->layers[l].param_offset + m->layers[l].param_count)
            return l;
    return -1;
}

/* Analytic gradient g against the numeric one, num, for every parameter;
 * the first one off is printed with its layer. */
static int gpt_compare(const Model *m, const float *g, const float *num, const GptPoint *pt)
{
    double worst = test_max_rel_diff(g, num, m->nparams, pt->floor);
    if (worst <= GPT_TOL)
        return 1;
    fprintf(stderr, "\n  gpt gradient %s: max rel diff %g > %g\n", pt->what, worst, GPT_TOL);
    for (size_t i = 0; i < m->nparams; i++)
        if (test_max_rel_diff(g + i, num + i, 1, pt->floor) > GPT_TOL) {
            int l = gpt_layer_of(m, i);
            fprintf(stderr, "  first bad [%zu] (layer %d %s, float %zu): %g vs %g\n", i, l,
                    m->layers[l].ops->name, i - m->layers[l].param_offset, g[i], num[i]);
            break;
        }
    return 0;
}

/* Does every layer with parameters have gradients well above the
 * absolute tolerance (the check is not vacuous)? */
static int gpt_gradients_matter(const Model *m, const float *g, double floor)
{
    int ok = 1;
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *ly = &m->layers[l];
        float big = 0.0f;
        for (size_t i = 0; i < ly->param_count; i++)
            big = fmaxf(big, fabsf(g[ly->param_offset + i]));
        if (ly->param_count && !(big > 5 * GPT_TOL * floor)) {
            fprintf(stderr, "\n  layer %d: gradients at most %g\n", l, big);
            ok = 0;
        }
    }
    return ok;
}

/* Every parameter (embeddings, layernorm gains and biases, qkv, proj, fc,
 * fc2 and the head) against finite differences of the loss model_loss
 * returns at scale 1, whose gradient backward then computes. */
static void check_gpt_gradients(const TestModel *t, const GptPoint *pt, float spread)
{
    Model m;
    Workspace ws;
    const int B = 2;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, t, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, B, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float)), *g = calloc(m.nparams, sizeof(float));
    float *num = malloc(m.nparams * sizeof(float)), x[B * GPT_T];
    uint8_t y[B * GPT_T];
    CU_ASSERT_FATAL(p && g && num);
    model_init_params(&m, p, 5);
    Rng r = rng_make(17, 0);
    for (size_t i = 0; i < m.nparams; i++)
        p[i] += spread * (rng_uniform(&r) - 0.5f);
    gpt_batch(x, y, B, 13);
    gpt_loss(&m, &ws, p, x, y, B);
    model_backward(&m, &ws, p, g, x, B);
    for (size_t i = 0; i < m.nparams; i++)
        num[i] = (float)gpt_numeric(&m, &ws, p, i, x, y, B, pt);
    CU_ASSERT(gpt_compare(&m, g, num, pt));
    if (spread > 0.0f)
        CU_ASSERT(gpt_gradients_matter(&m, g, pt->floor));
    free(p);
    free(g);
    free(num);
    workspace_free(&ws);
}

static void test_gpt_gradients_at_init(void)
{
    const GptPoint pt = {"at initialisation", 5e-3f, 1, 5e-3};
    check_gpt_gradients(&GPT, &pt, 0.0f);
}

static void test_gpt_gradients(void)
{
    const GptPoint pt = {"off initialisation", 1e-2f, 0, 3e-3};
    check_gpt_gradients(&GPT, &pt, 1.0f);
}

/* tie_embeddings = on: the output projection owns no parameters, reads
 * the token embedding's table (no bias), and its gradient adds to it. */
static void test_gpt_tied(void)
{
    TestModel t = GPT;
    t.settings[4] = "tie_embeddings=on";
    Model tied, m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&tied, &t, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    const Layer *head = &tied.layers[tied.nlayers - 1];
    CU_ASSERT(head->tied && head->param_count == 0);
    CU_ASSERT_EQUAL(head->param_offset, tied.layers[0].param_offset);
    CU_ASSERT_EQUAL(tied.nparams, m.nparams - (size_t)GPT_V * GPT_C - GPT_V);
    CU_ASSERT(model_has_tied(&tied) && !model_has_tied(&m));
    const GptPoint pt = {"tied, off initialisation", 1e-2f, 0, 3e-3};
    check_gpt_gradients(&t, &pt, 1.0f);
}

/* Activations a step keeps: every output, and what layers save besides:
 * attention its probabilities (batch, heads, T, T), layernorm a mean and
 * a 1/std per row (batch * T of each). */
static void test_gpt_activation_bytes(void)
{
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    const size_t B = 3, T = GPT_T, C = GPT_C;
    size_t floats = 0, probs = 0;
    int attention = 0;
    for (int l = 0; l < m.nlayers; l++) {
        const Layer *ly = &m.layers[l];
        size_t saved = 0;
        if (ly->ops == &attention_ops) {
            saved = B * (size_t)ly->heads * T * T;
            probs += saved;
            attention++;
        } else if (ly->ops == &layernorm_ops) {
            saved = 2 * B * T;
        }
        size_t reported = ly->ops->saved_floats ? ly->ops->saved_floats(ly, (int)B) : 0;
        CU_ASSERT_EQUAL(reported, saved);
        floats += B * shape_size(ly->out) + saved;
    }
    CU_ASSERT_EQUAL(attention, GPT_L);
    CU_ASSERT_EQUAL(probs, GPT_L * B * GPT_H * T * T);
    CU_ASSERT_EQUAL(model_activation_bytes(&m, (int)B), sizeof(float) * floats);
    /* by hand: outputs of T x (C, then per block C 3C C C C C 4C 4C C C,
     * then C, V) features; saved: 2 + 2 layernorms of 2T, heads T^2 */
    size_t per_sample =
        T * C * (1 + 18 * GPT_L + 1) + T * GPT_V + GPT_L * (2 * 2 * T + GPT_H * T * T) + 2 * T;
    CU_ASSERT_EQUAL(model_activation_bytes(&m, (int)B), sizeof(float) * B * per_sample);
    /* the workspace stashes exactly that */
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, (int)B, NULL), 0);
    CU_ASSERT_EQUAL(ws.act_floats, floats);
    workspace_free(&ws);
}

static int tokens_ok(const int *t, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= t[i] >= 0 && t[i] < GPT_V;
    return ok;
}

static void test_gpt_generate(void)
{
    Model m;
    Workspace one, four;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&one, &m, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&four, &m, 4, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float));
    model_init_params(&m, p, 3);
    static const int prompt[8] = {1, 6, 2, 0, 5, 3, 3, 4};
    int a[60], b[60], c[60];
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, prompt, 3, 50, 42, a), 53);
    CU_ASSERT(tokens_ok(a, 53));
    CU_ASSERT(memcmp(a, prompt, 3 * sizeof(int)) == 0);
    /* the same seed, any workspace: the same tokens; another seed: others */
    CU_ASSERT_EQUAL(model_generate(&m, &four, p, prompt, 3, 50, 42, b), 53);
    CU_ASSERT(memcmp(a, b, 53 * sizeof(int)) == 0);
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, prompt, 3, 50, 43, c), 53);
    CU_ASSERT(tokens_ok(c, 53));
    CU_ASSERT(memcmp(a, c, 53 * sizeof(int)) != 0);
    /* a prompt longer than seq_len; none asked; no prompt at all */
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, prompt, 8, 10, 1, a), 18);
    CU_ASSERT(memcmp(a, prompt, 8 * sizeof(int)) == 0 && tokens_ok(a, 18));
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, prompt, 4, 0, 1, a), 4);
    CU_ASSERT(memcmp(a, prompt, 4 * sizeof(int)) == 0);
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, prompt, 0, 5, 1, a), 0);
    /* a prompt id outside the vocabulary (7 classes) gives nothing */
    static const int outside[2] = {1, 7}, negative[1] = {-1};
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, outside, 2, 5, 1, a), 0);
    CU_ASSERT_EQUAL(model_generate(&m, &one, p, negative, 1, 5, 1, a), 0);
    free(p);
    workspace_free(&one);
    workspace_free(&four);
}

/* A model that predicts its position: no token embedding, position t's
 * embedding 10 at feature t, the head's row v reading feature v with weight
 * 10 (the blocks' small initial weights barely move the stream), so the
 * logits at position t favour token t by about 30.  Generation reads the
 * window's last real position: from one token, 0 1 2 3 4, then (the
 * window full, sliding) 4 ever after. */
static void test_gpt_generate_reads_last_position(void)
{
    Model m;
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, 1, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float));
    model_init_params(&m, p, 3);
    float *wte = p + m.layers[0].param_offset, *wpe = wte + GPT_V * GPT_C;
    const Layer *head = &m.layers[m.nlayers - 1];
    float *w = p + head->param_offset, *bias = w + GPT_V * GPT_C;
    memset(wte, 0, GPT_V * GPT_C * sizeof(float));
    for (int t = 0; t < GPT_T; t++)
        for (int j = 0; j < GPT_C; j++)
            wpe[t * GPT_C + j] = j == t ? 10.0f : 0.0f;
    for (int v = 0; v < GPT_V; v++) {
        bias[v] = 0.0f;
        for (int j = 0; j < GPT_C; j++)
            w[v * GPT_C + j] = j == v ? 10.0f : 0.0f;
    }
    static const int prompt[1] = {6}, want[13] = {6, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4};
    int out[13];
    CU_ASSERT_EQUAL(model_generate(&m, &ws, p, prompt, 1, 12, 9, out), 13);
    if (memcmp(out, want, sizeof want) != 0) {
        fprintf(stderr, "\n  generated");
        for (int i = 0; i < 13; i++)
            fprintf(stderr, " %d", out[i]);
        fprintf(stderr, "\n");
    }
    CU_ASSERT(memcmp(out, want, sizeof want) == 0);
    free(p);
    workspace_free(&ws);
}

/* model_forward_positions gives every position what a whole forward pass
 * gives it (the logits, to float rounding: its GEMMs have other shapes),
 * one position at a time or in pieces, the positions before each piece
 * left from the earlier ones; a model without positions cannot. */
static void test_gpt_forward_positions(void)
{
    Model m, mlp;
    Workspace whole, parts;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &GPT, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&whole, &m, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(workspace_init(&parts, &m, 1, NULL), 0);
    float *p = malloc(m.nparams * sizeof(float));
    model_init_params(&m, p, 5);
    for (size_t i = 0; i < m.nparams; i++) /* weights far from their small start */
        p[i] *= 20.0f;
    static const float x[GPT_T] = {3, 0, 6, 6, 1};
    model_forward(&m, &whole, p, x, 1);
    const float *want = workspace_output(&whole, m.nlayers - 1);
    float *got = workspace_output(&parts, m.nlayers - 1);
    static const int cuts[][GPT_T + 1] = {{0, 1, 2, 3, 4, 5}, {0, 2, 5, -1}, {0, 5, -1}};
    for (int c = 0; c < 3; c++) {
        memset(got, 0, GPT_T * GPT_V * sizeof(float));
        for (int k = 0; k < GPT_T && cuts[c][k + 1] >= 0; k++)
            CU_ASSERT_EQUAL(model_forward_positions(&m, &parts, p, x, cuts[c][k], cuts[c][k + 1]),
                            0);
        double worst = 0.0;
        for (int i = 0; i < GPT_T * GPT_V; i++) {
            double e = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
            worst = e > worst ? e : worst;
        }
        CU_ASSERT(worst < 1e-5);
        if (worst >= 1e-5)
            fprintf(stderr, "\n  cut %d: relative difference %g\n", c, worst);
    }
    CU_ASSERT_EQUAL_FATAL(test_model_build(&mlp, &MLP, NULL), 0);
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &mlp, 1, NULL), 0);
    float *q = calloc(mlp.nparams, sizeof(float)), *in = calloc(784, sizeof(float));
    CU_ASSERT_EQUAL(model_forward_positions(&mlp, &ws, q, in, 0, 1), -1);
    free(q);
    free(in);
    workspace_free(&ws);
    free(p);
    workspace_free(&whole);
    workspace_free(&parts);
}

/*
 * The resnet at its smallest: stages of 1 block each, widths 4 and 8, on
 * (1, 8, 8) inputs and 10 classes.  Layers:
 *   0 conv 3x3 1->4, 1 bn, 2 relu                             (stem)
 *   3 conv 3x3 4->4, 4 bn, 5 relu, 6 conv 3x3, 7 bn,
 *   8 add (7 + 2), 9 relu                                      (identity block)
 *   10 conv 3x3 s2 4->8, 11 bn, 12 relu, 13 conv 3x3, 14 bn,
 *   15 conv 1x1 s2 from 9, 16 bn, 17 add (16 + 14), 18 relu    (projection block)
 *   19 avgpool, 20 dense 8 -> 10                               (head)
 */
#define RESNET_LAYERS 21

static const TestModel RESNET = {"resnet", {1, 8, 8}, 10, {"blocks=1,1", "widths=4,8"}};

static void test_resnet_layout(void)
{
    Model m;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &RESNET, &err), 0);
    CU_ASSERT_STRING_EQUAL(m.name, "resnet");
    CU_ASSERT_EQUAL_FATAL(m.nlayers, RESNET_LAYERS);
    static const LayerOps *const kinds[RESNET_LAYERS] = {
        &conv2d_ops, &batchnorm_ops, &relu_ops,      &conv2d_ops, &batchnorm_ops, &relu_ops,
        &conv2d_ops, &batchnorm_ops, &add_ops,       &relu_ops,   &conv2d_ops,    &batchnorm_ops,
        &relu_ops,   &conv2d_ops,    &batchnorm_ops, &conv2d_ops, &batchnorm_ops, &add_ops,
        &relu_ops,   &avgpool_ops,   &dense_ops};
    int kinds_ok = 1;
    for (int l = 0; l < RESNET_LAYERS; l++)
        kinds_ok &= m.layers[l].ops == kinds[l];
    CU_ASSERT(kinds_ok);
    /* the adds and the projection's input */
    CU_ASSERT(m.layers[8].src == 7 && m.layers[8].src2 == 2);
    CU_ASSERT(m.layers[15].src == 9 && m.layers[15].stride == 2 && m.layers[15].kernel == 1);
    CU_ASSERT(m.layers[17].src == 16 && m.layers[17].src2 == 14);
    CU_ASSERT(m.layers[10].stride == 2 && m.layers[13].stride == 1);
    /* 8x8 -> 4x4 in the second stage, then (8,1,1) and the logits */
    CU_ASSERT(m.layers[14].out.c == 8 && m.layers[14].out.h == 4 && m.layers[14].out.w == 4);
    CU_ASSERT(m.layers[16].out.c == 8 && m.layers[16].out.h == 4 && m.layers[16].out.w == 4);
    CU_ASSERT(m.layers[19].out.c == 8 && m.layers[19].out.h == 1 && m.layers[19].out.w == 1);
    CU_ASSERT(m.layers[20].out.c == 10);
    /* conv k x k c -> o: o*c*k*k + o; batchnorm over c channels: 2c */
    size_t stem = (4 * 1 * 9 + 4) + 2 * 4;
    size_t block1 = 2 * ((4 * 4 * 9 + 4) + 2 * 4);
    size_t block2 = (8 * 4 * 9 + 8) + 2 * 8 + (8 * 8 * 9 + 8) + 2 * 8 + (8 * 4 + 8) + 2 * 8;
    size_t head = 8 * 10 + 10;
    CU_ASSERT_EQUAL(m.nparams, stem + block1 + block2 + head);
    CU_ASSERT_EQUAL(m.nparams, 1418);
    CU_ASSERT(params_packed(&m));
    /* cuts: inside the stem (1, 2), before each block (3, 10), between a
     * block's add and its ReLU (9, 18), in the head (19, 20); nowhere
     * else, where an add or the projection reads across the cut */
    const int cuts[] = {1, 2, 3, 9, 10, 18, 19, 20};
    for (int first = 1, k = 0; first < m.nlayers; first++) {
        int want = k < 8 && cuts[k] == first;
        if (model_can_cut(&m, first) != want)
            fprintf(stderr, "\n  model_can_cut(%d) is %d\n", first, model_can_cut(&m, first));
        CU_ASSERT_EQUAL(model_can_cut(&m, first), want);
        k += want;
    }
}

/* Activation bytes count what batchnorm saves: a mean and an rstd per
 * (group, channel), groups of bn_group samples. */
static void test_resnet_bn_group(void)
{
    TestModel t = RESNET;
    t.settings[2] = "bn_group=2";
    Model m, whole;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &t, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(test_model_build(&whole, &RESNET, NULL), 0);
    size_t outputs = 0, stats = 0;
    int bns = 0;
    for (int l = 0; l < m.nlayers; l++) {
        const Layer *ly = &m.layers[l];
        outputs += 5 * shape_size(ly->out);
        if (ly->ops == &batchnorm_ops) {
            CU_ASSERT_EQUAL(ly->group, 2);
            CU_ASSERT_EQUAL(whole.layers[l].group, 0);
            stats += 2 * 3 * (size_t)ly->in.c; /* batch 5: groups of 2, 2, 1 */
            bns++;
        }
    }
    CU_ASSERT_EQUAL(bns, 6);
    CU_ASSERT_EQUAL(model_activation_bytes(&m, 5), sizeof(float) * (outputs + stats));
    CU_ASSERT_EQUAL(model_activation_bytes(&whole, 5), sizeof(float) * (outputs + stats / 3));
}

/*
 * Whole-ResNet gradients against central differences.  With batch norm
 * every ReLU sees inputs of unit variance, and a parameter moves every
 * activation after it (the statistics couple the samples): some ReLU of
 * the model crosses its kink within a step of almost every parameter, and
 * the steps-h-and-h/2 test of check_gradients cannot tell all of those
 * apart.  So, as the GPT's test does with its GELUs, the check runs on the
 * same graph with each relu layer swapped for a GELU (relu_ops and
 * gelu_ops are each checked on their own in test_layers.c): the loss is
 * smooth, and every parameter's gradient of the summed loss is compared
 * with central differences of steps 1e-2 and 5e-3 combined (Richardson,
 * as gpt_numeric does), to 2% or 2e-4 absolute (conv biases before a
 * batch norm have a gradient of 0, up to rounding).
 */
static void check_resnet_gradients(const TestModel *cfg, int batch)
{
    Model m;
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, cfg, NULL), 0);
    for (int l = 0; l < m.nlayers; l++)
        if (m.layers[l].ops == &relu_ops)
            m.layers[l].ops = &gelu_ops;
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, &m, batch, NULL), 0);
    size_t in = shape_size(m.input);
    float *p = malloc(m.nparams * sizeof(float)), *g = calloc(m.nparams, sizeof(float));
    float *num = malloc(m.nparams * sizeof(float)), *x = malloc(batch * in * sizeof(float));
    uint8_t *y = malloc(batch);
    model_init_params(&m, p, 5);
    Rng r = rng_make(9, 0);
    for (size_t i = 0; i < batch * in; i++)
        x[i] = 2.0f * rng_uniform(&r) - 1.0f;
    for (int i = 0; i < batch; i++)
        y[i] = (uint8_t)rng_below(&r, (uint32_t)m.classes);
    for (size_t i = 0; i < m.nparams; i++) /* gammas off 1, betas and biases off 0 */
        p[i] += 0.2f * (rng_uniform(&r) - 0.5f);
    const GptPoint pt = {"resnet", 1e-2f, 1, 1e-2};
    gpt_loss(&m, &ws, p, x, y, batch);
    model_backward(&m, &ws, p, g, x, batch);
    for (size_t i = 0; i < m.nparams; i++)
        num[i] = (float)gpt_numeric(&m, &ws, p, i, x, y, batch, &pt);
    CU_ASSERT(gpt_compare(&m, g, num, &pt));
    /* not vacuous: every batch norm's gamma and beta gradients matter */
    for (int l = 0; l < m.nlayers; l++) {
        const Layer *ly = &m.layers[l];
        float big = 0.0f;
        for (size_t i = 0; i < ly->param_count; i++)
            big = fmaxf(big, fabsf(g[ly->param_offset + i]));
        if (ly->ops == &batchnorm_ops)
            CU_ASSERT(big > 5 * pt.floor);
    }
    free(p);
    free(g);
    free(num);
    free(x);
    free(y);
    workspace_free(&ws);
}

/* batch norm over groups of 2 of a batch of 5 (the last group of 1) */
static void test_resnet_gradients(void)
{
    TestModel t = RESNET;
    t.settings[2] = "bn_group=2";
    check_resnet_gradients(&t, 5);
}

/* bottleneck blocks, statistics of the whole batch */
static void test_resnet_bottleneck_gradients(void)
{
    TestModel t = {"resnet", {2, 6, 6}, 3, {"blocks=1,1", "widths=2,3", "bottleneck=on"}};
    check_resnet_gradients(&t, 4);
}

/* Loss and parameter gradient of model m on (x, y), scale 1/scale_batch. */
static double resnet_step(const Model *m, const float *p, const float *x, const uint8_t *y,
                          int batch, int scale_batch, float *g)
{
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, m, batch, NULL), 0);
    model_forward(m, &ws, p, x, batch);
    double loss = model_loss(m, &ws, y, batch, 1.0f / scale_batch);
    model_backward(m, &ws, p, g, x, batch);
    workspace_free(&ws);
    return loss;
}

/* What makes data-parallel runs comparable: one step on 6 samples with
 * bn_group = 2 has the loss and the gradient of three workers of 2
 * samples each (statistics of their own samples), summed. */
static void test_resnet_ghost_bn_is_workers(void)
{
    TestModel t = RESNET;
    t.settings[2] = "bn_group=2";
    Model ghost, worker;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&ghost, &t, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(test_model_build(&worker, &RESNET, NULL), 0);
    const int B = 6, in = 64;
    float *p = malloc(ghost.nparams * sizeof(float)), x[6 * 64];
    float *g = calloc(ghost.nparams, sizeof(float)), *sum = calloc(ghost.nparams, sizeof(float));
    uint8_t y[6] = {1, 7, 3, 3, 0, 9};
    model_init_params(&ghost, p, 8);
    Rng r = rng_make(21, 0);
    for (int i = 0; i < B * in; i++)
        x[i] = 2.0f * rng_uniform(&r) - 1.0f;
    double loss = resnet_step(&ghost, p, x, y, B, B, g), parts = 0.0;
    for (int w = 0; w < 3; w++)
        parts += resnet_step(&worker, p, x + w * 2 * in, y + w * 2, 2, B, sum);
    CU_ASSERT_DOUBLE_EQUAL(loss, parts, 1e-5 * loss);
    CU_ASSERT(test_max_rel_diff(g, sum, ghost.nparams, 1e-3) < 1e-4);
    /* ... and not what the statistics of all 6 give */
    float *plain = calloc(ghost.nparams, sizeof(float));
    resnet_step(&worker, p, x, y, B, B, plain);
    CU_ASSERT(test_max_rel_diff(g, plain, ghost.nparams, 1e-3) > 1e-2);
    free(p);
    free(g);
    free(sum);
    free(plain);
}

static void expect_resnet_fails(const char *const *settings, const char *a, const char *b)
{
    TestModel t = {"resnet", {1, 28, 28}, 10, {NULL}};
    for (int i = 0; settings[i]; i++)
        t.settings[i] = settings[i];
    Model m;
    DtError err = {DT_OK, ""};
    int rc = test_model_build(&m, &t, &err);
    int ok = rc == -1 && err.kind == DT_EINPUT && strstr(err.msg, a) && (!b || strstr(err.msg, b));
    if (!ok)
        fprintf(stderr, "\n  %s: rc %d msg '%s' (wanted '%s', '%s')\n", settings[0], rc, err.msg, a,
                b ? b : "");
    CU_ASSERT(ok);
}

/* Presets and their conflicts, stages that do not match, too many layers. */
static void test_resnet_config(void)
{
    expect_resnet_fails((const char *const[]){"preset=resnet18", "blocks=1,1,1,1", NULL}, "preset",
                        "blocks");
    expect_resnet_fails((const char *const[]){"widths=8,8,8,8", "preset=resnet50", NULL}, "preset",
                        "widths");
    expect_resnet_fails((const char *const[]){"preset=resnet50", "bottleneck=off", NULL}, "preset",
                        "bottleneck");
    expect_resnet_fails((const char *const[]){"widths=16,32,64", NULL}, "widths", "blocks");
    expect_resnet_fails((const char *const[]){"blocks=1,1", "widths=4,8,16", NULL}, "widths",
                        "blocks");
    expect_resnet_fails((const char *const[]){"blocks=1,1,1", NULL}, "widths", "blocks");
    /* four basic stages: 3 + 7 B + 3*2 + 2 = 11 + 7 B layers for B blocks */
    const int fit = (MODEL_MAX_LAYERS - 11) / 7;
    char over[64], just[64];
    snprintf(over, sizeof over, "blocks=%d,1,1,1", fit - 2);
    snprintf(just, sizeof just, "blocks=%d,1,1,1", fit - 3);
    expect_resnet_fails((const char *const[]){over, NULL}, "layers", "blocks");
    TestModel t = {"resnet", {1, 28, 28}, 10, {over}};
    Model m;
    CU_ASSERT_EQUAL(test_model_build(&m, &t, NULL), -1);
    t.settings[0] = just;
    CU_ASSERT_EQUAL(test_model_build(&m, &t, NULL), 0);
    CU_ASSERT_EQUAL(m.nlayers, 11 + 7 * fit);
    CU_ASSERT(m.nlayers <= MODEL_MAX_LAYERS && m.nlayers + 7 > MODEL_MAX_LAYERS);
    /* one bottleneck stage, its first block projected (16 -> 64
     * channels): 3 + 10 B + 2 + 2 layers */
    const int bfit = (MODEL_MAX_LAYERS - 7) / 10;
    char bover[64], bjust[64], count[32];
    snprintf(bover, sizeof bover, "blocks=%d", bfit + 1);
    snprintf(bjust, sizeof bjust, "blocks=%d", bfit);
    snprintf(count, sizeof count, "%d layers", 7 + 10 * (bfit + 1));
    expect_resnet_fails((const char *const[]){bover, "widths=16", "bottleneck=on", NULL}, count,
                        "blocks");
    TestModel one = {"resnet", {1, 28, 28}, 10, {bjust, "widths=16", "bottleneck=on"}};
    CU_ASSERT_EQUAL(test_model_build(&m, &one, NULL), 0);
    CU_ASSERT_EQUAL(m.nlayers, 7 + 10 * bfit);

    /* resnet18: stem 3, 8 basic blocks of 7, 3 projections of 2, head 2 */
    t.settings[0] = "preset=resnet18";
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &t, NULL), 0);
    CU_ASSERT_EQUAL(m.nlayers, 3 + 8 * 7 + 3 * 2 + 2);
    CU_ASSERT_EQUAL(m.layers[m.nlayers - 2].out.c, 512);
    /* 28 -> 14 -> 7 -> 4 */
    CU_ASSERT(m.layers[m.nlayers - 3].out.h == 4 && m.layers[m.nlayers - 3].out.w == 4);
    /* resnet50: 16 bottleneck blocks of 10, 4 projections (the first
     * stage's too: 64 -> 256 channels) */
    t.settings[0] = "preset=resnet50";
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &t, NULL), 0);
    CU_ASSERT_EQUAL(m.nlayers, 3 + 16 * 10 + 4 * 2 + 2);
    CU_ASSERT_EQUAL(m.layers[m.nlayers - 2].out.c, 2048);
    CU_ASSERT_EQUAL(m.layers[3].out.c, 64);  /* the first 1x1 */
    CU_ASSERT_EQUAL(m.layers[9].out.c, 256); /* the 1x1 out to 4 x 64 */
    CU_ASSERT_EQUAL(m.layers[11].src, 2);    /* the projection reads the stem */
    CU_ASSERT_EQUAL(m.layers[11].out.c, 256);
    /* ResNet-50 on ImageNet: the 7x7 / 2 stem and its max-pool take 224 x
     * 224 to 56 x 56, then 28, 14, 7; 25.6 M parameters (the convolutions'
     * biases, 26,560 floats, are dtsim's), 8.2 GFLOP of convolutions an image
     * forward and 8.3 with batch norm, ReLU, pooling and the logits */
    TestModel in = {"resnet", {3, 224, 224}, 1000, {"preset=resnet50", "stem=imagenet"}};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &in, NULL), 0);
    CU_ASSERT_EQUAL(m.nlayers, 4 + 16 * 10 + 4 * 2 + 2);
    CU_ASSERT(m.layers[0].out.h == 112 && m.layers[3].out.h == 56 && m.layers[3].out.c == 64);
    CU_ASSERT(m.layers[m.nlayers - 3].out.h == 7 && m.layers[m.nlayers - 3].out.c == 2048);
    CU_ASSERT_EQUAL(m.nparams, 25557032 + 26560);
    double fwd = model_forward_flops(&m, 1);
    CU_ASSERT(fwd > 8.25e9 && fwd < 8.35e9);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"whole MLP gradient vs finite differences", test_mlp_gradients},
        {"whole CNN gradient vs finite differences", test_cnn_gradients},
        {"residual MLP gradient vs finite differences", test_resmlp_gradients},
        {"branch and join gradient vs finite differences", test_branch_gradients},
        {"layer graph: gradient buffers, adds, cut points", test_graph_bookkeeping},
        {"parameter layout", test_parameter_layout},
        {"MLP FLOPs by hand", test_mlp_flops_by_hand},
        {"CNN FLOPs by hand", test_cnn_flops_by_hand},
        {"too many pooling blocks", test_too_many_pools},
        {"evaluation in batches", test_evaluate_in_batches},
        {"class probabilities, by index too", test_predict},
        {"gpt: layers, parameter count, cut points", test_gpt_layout},
        {"gpt: heads, vocab and d_ff settings", test_gpt_config},
        {"gpt: tied embeddings share the table and its gradient", test_gpt_tied},
        {"gpt: loss is the sum of per-sample means", test_gpt_loss},
        {"whole GPT gradient vs finite differences", test_gpt_gradients},
        {"whole GPT gradient at initialisation", test_gpt_gradients_at_init},
        {"gpt: activation bytes include attention probabilities", test_gpt_activation_bytes},
        {"gpt: generation is seeded, in range, prompt first", test_gpt_generate},
        {"gpt: generation reads the window's last position", test_gpt_generate_reads_last_position},
        {"gpt: positions alone give what a whole pass gives", test_gpt_forward_positions},
        {"resnet: layers, parameter count, cut points", test_resnet_layout},
        {"resnet: bn_group reaches every batchnorm, saved statistics", test_resnet_bn_group},
        {"whole ResNet gradient vs finite differences, bn groups", test_resnet_gradients},
        {"whole bottleneck ResNet gradient vs finite differences",
         test_resnet_bottleneck_gradients},
        {"resnet: bn_group b over N*b samples is N workers of b", test_resnet_ghost_bn_is_workers},
        {"resnet: presets, stage counts, too many layers", test_resnet_config},
        CU_TEST_INFO_NULL,
    };
    return test_run("model", tests);
}
