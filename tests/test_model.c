/*
 * test_model.c - whole models: gradients of the full MLP, CNN and residual
 * networks against finite differences, FLOP totals against counts worked
 * by hand from the shapes, parameter layout, the layer graph's gradient
 * buffers and cut points, evaluation in batches.
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
        CU_TEST_INFO_NULL,
    };
    return test_run("model", tests);
}
