/*
 * test_optim.c - optimizer steps against the textbook (PyTorch) formulas
 * worked by hand, and their FLOP counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "testutil.h"

static void test_sgd_momentum_weight_decay(void)
{
    OptConfig cfg = {.kind = OPT_SGD, .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
    Optimizer o;
    CU_ASSERT_EQUAL_FATAL(optim_init(&o, &cfg, 2, NULL), 0);
    float p[2] = {1.0f, -2.0f};
    float g1[2] = {0.5f, 0.25f}, g2[2] = {0.5f, -1.0f};
    optim_step(&o, p, g1);
    /* g' = 0.5 + 0.01 * 1 = 0.51; v = 0.51; p = 1 - 0.1 * 0.51 */
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.949, 1e-6);
    /* g' = 0.25 - 0.02 = 0.23; p = -2 - 0.023 */
    CU_ASSERT_DOUBLE_EQUAL(p[1], -2.023, 1e-6);
    optim_step(&o, p, g2);
    /* g' = 0.5 + 0.00949 = 0.50949; v = 0.9 * 0.51 + 0.50949 = 0.96849 */
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.949 - 0.096849, 1e-6);
    /* g' = -1 - 0.02023 = -1.02023; v = 0.9 * 0.23 - 1.02023 = -0.81323 */
    CU_ASSERT_DOUBLE_EQUAL(p[1], -2.023 + 0.081323, 1e-6);
    /* weight decay (2) + momentum (2) + update (2) per parameter */
    CU_ASSERT_DOUBLE_EQUAL(optim_step_flops(&o), 6.0 * 2, 0);
    optim_free(&o);
}

static void test_plain_sgd(void)
{
    OptConfig cfg = {.kind = OPT_SGD, .lr = 0.5};
    Optimizer o;
    CU_ASSERT_EQUAL_FATAL(optim_init(&o, &cfg, 3, NULL), 0);
    CU_ASSERT_PTR_NULL(o.m); /* no momentum buffer when momentum is 0 */
    float p[3] = {1, 2, 3}, g[3] = {2, -2, 0};
    optim_step(&o, p, g);
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(p[1], 3.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(p[2], 3.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(optim_step_flops(&o), 2.0 * 3, 0);
    optim_free(&o);
}

/* Adam as PyTorch writes it, in double, as the oracle. */
static double adam_ref(double p, const double *g, int steps, double lr, double b1, double b2,
                       double eps)
{
    double m = 0, v = 0;
    for (int t = 1; t <= steps; t++) {
        m = b1 * m + (1 - b1) * g[t - 1];
        v = b2 * v + (1 - b2) * g[t - 1] * g[t - 1];
        double mhat = m / (1 - pow(b1, t)), vhat = v / (1 - pow(b2, t));
        p -= lr * mhat / (sqrt(vhat) + eps);
    }
    return p;
}

static void test_adam(void)
{
    OptConfig cfg = {.kind = OPT_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    Optimizer o;
    CU_ASSERT_EQUAL_FATAL(optim_init(&o, &cfg, 1, NULL), 0);
    float p = 1.0f;
    const double g[3] = {0.5, -1.0, 0.125};
    float gf = (float)g[0];
    optim_step(&o, &p, &gf);
    /* First step of Adam moves by lr * sign(g), whatever |g|. */
    CU_ASSERT_DOUBLE_EQUAL(p, 0.9, 1e-6);
    gf = (float)g[1];
    optim_step(&o, &p, &gf);
    /* m = -0.055, mhat = -0.289474; v = 0.00124975, vhat = 0.625188 */
    CU_ASSERT_DOUBLE_EQUAL(p, 0.9 + 0.1 * 0.289474 / sqrt(0.625188), 1e-5);
    gf = (float)g[2];
    optim_step(&o, &p, &gf);
    CU_ASSERT_DOUBLE_EQUAL(p, adam_ref(1.0, g, 3, 0.1, 0.9, 0.999, 1e-8), 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(optim_step_flops(&o), 12.0, 0);
    optim_free(&o);
}

/* After a reset, Adam's next step is a first step again: lr * sign(g). */
static void test_reset(void)
{
    OptConfig cfg = {.kind = OPT_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    Optimizer o;
    CU_ASSERT_EQUAL_FATAL(optim_init(&o, &cfg, 1, NULL), 0);
    float p = 1.0f, g = 0.5f;
    optim_step(&o, &p, &g);
    g = -2.0f;
    optim_step(&o, &p, &g);
    optim_reset(&o);
    CU_ASSERT_EQUAL(o.t, 0);
    CU_ASSERT_EQUAL(o.m[0], 0.0f);
    CU_ASSERT_EQUAL(o.v[0], 0.0f);
    float before = p;
    g = 0.25f;
    optim_step(&o, &p, &g);
    CU_ASSERT_DOUBLE_EQUAL(p, before - 0.1, 1e-6);
    optim_free(&o);
}

static void test_adam_weight_decay_flops(void)
{
    OptConfig cfg = {.kind = OPT_ADAM,
                     .lr = 0.1,
                     .beta1 = 0.9,
                     .beta2 = 0.999,
                     .eps = 1e-8,
                     .weight_decay = 0.1};
    Optimizer o;
    CU_ASSERT_EQUAL_FATAL(optim_init(&o, &cfg, 10, NULL), 0);
    CU_ASSERT_DOUBLE_EQUAL(optim_step_flops(&o), 14.0 * 10, 0);
    optim_free(&o);
}

/* A step taken in pieces (optim_begin_step, then optim_step_run over runs
 * in any order, the parameters laid out elsewhere with gaps between them)
 * gives the floats of optim_step, step after step, for SGD with momentum
 * and for Adam, both with weight decay. */
static void test_step_in_pieces(void)
{
    const OptConfig cfgs[2] = {
        {.kind = OPT_SGD, .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01},
        {.kind = OPT_ADAM,
         .lr = 0.01,
         .beta1 = 0.9,
         .beta2 = 0.99,
         .eps = 1e-8,
         .weight_decay = 0.1},
    };
    enum { N = 11 };
    static const size_t first[3] = {5, 0, 2}, len[3] = {6, 2, 3}, at[3] = {0, 20, 40};
    for (int c = 0; c < 2; c++) {
        Optimizer whole, parts;
        CU_ASSERT_EQUAL_FATAL(optim_init(&whole, &cfgs[c], N, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(optim_init(&parts, &cfgs[c], N, NULL), 0);
        float p[N], q[60] = {0}, g[N];
        for (int i = 0; i < N; i++)
            p[i] = 0.3f * (float)i - 1.0f;
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < len[k]; i++)
                q[at[k] + i] = p[first[k] + i];
        for (int step = 0; step < 4; step++) {
            for (int i = 0; i < N; i++)
                g[i] = sinf((float)(7 * step + i));
            optim_step(&whole, p, g);
            optim_begin_step(&parts);
            for (int k = 0; k < 3; k++)
                optim_step_run(&parts, q + at[k], g + first[k], first[k], len[k]);
        }
        int same = 1;
        for (int k = 0; k < 3; k++)
            same &= memcmp(q + at[k], p + first[k], len[k] * sizeof(float)) == 0;
        CU_ASSERT(same);
        CU_ASSERT(p[3] != 0.3f * 3.0f - 1.0f); /* the steps moved it */
        optim_free(&whole);
        optim_free(&parts);
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"sgd with momentum and weight decay", test_sgd_momentum_weight_decay},
        {"plain sgd", test_plain_sgd},
        {"adam against the textbook formula", test_adam},
        {"adam flops with weight decay", test_adam_weight_decay_flops},
        {"a reset optimizer starts afresh", test_reset},
        {"a step in pieces gives optim_step's floats", test_step_in_pieces},
        CU_TEST_INFO_NULL,
    };
    return test_run("optim", tests);
}
