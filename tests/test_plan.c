/*
 * test_plan.c - the planning strategies do before they run (core/plan.h):
 * batch shares, gradient buckets, stage balancing against a brute-force
 * search, the GPipe and 1F1B schedules and their stash, and memory needs.
 */
#include <stdio.h>
#include <string.h>

#include "plan.h"
#include "testutil.h"

static void test_shares_equal(void)
{
    int share[3], offset[3];
    CU_ASSERT_EQUAL_FATAL(plan_shares(12, 3, NULL, share, offset), 0);
    for (int r = 0; r < 3; r++) {
        CU_ASSERT_EQUAL(share[r], 4);
        CU_ASSERT_EQUAL(offset[r], 4 * r);
    }
}

static void test_shares_by_speed(void)
{
    /* one sample each, then 9 by speed 1:2:3 = 1.5, 3, 4.5: the halves go
     * by largest remainder, the tie to the lower rank */
    int share[3], offset[3];
    const double speed[] = {1, 2, 3};
    CU_ASSERT_EQUAL_FATAL(plan_shares(12, 3, speed, share, offset), 0);
    CU_ASSERT_EQUAL(share[0], 3);
    CU_ASSERT_EQUAL(share[1], 4);
    CU_ASSERT_EQUAL(share[2], 5);
    CU_ASSERT_EQUAL(offset[1], 3);
    CU_ASSERT_EQUAL(offset[2], 7);
    /* a very slow host still gets a sample; the shares always add up */
    const double skew[] = {1e-6, 1, 1, 1, 1};
    int s5[5], o5[5], sum = 0;
    CU_ASSERT_EQUAL_FATAL(plan_shares(64, 5, skew, s5, o5), 0);
    for (int r = 0; r < 5; r++) {
        CU_ASSERT_TRUE(s5[r] >= 1);
        sum += s5[r];
    }
    CU_ASSERT_EQUAL(sum, 64);
    CU_ASSERT_EQUAL(s5[0], 1);
}

/* Layers holding 0, 100, 50, 0, 30 floats, one after another. */
static const size_t OFFSET[] = {0, 0, 100, 150, 150};
static const size_t COUNT[] = {0, 100, 50, 0, 30};

static void test_buckets(void)
{
    BucketPlan b;
    /* from the top: 30 (layers 4, 3), then 80 >= 60 at layer 2; 100 at 1 */
    plan_buckets(&b, OFFSET, COUNT, 0, 5, 60);
    CU_ASSERT_EQUAL_FATAL(b.n, 2);
    CU_ASSERT_EQUAL(b.begin[0], 100);
    CU_ASSERT_EQUAL(b.end[0], 180);
    CU_ASSERT_EQUAL(b.begin[1], 0);
    CU_ASSERT_EQUAL(b.end[1], 100);
    const int closes[] = {-1, 1, 0, -1, -1};
    for (int l = 0; l < 5; l++)
        CU_ASSERT_EQUAL(b.closes[l], closes[l]);
    /* one bucket of everything, closed at the lowest layer with floats */
    plan_buckets(&b, OFFSET, COUNT, 0, 5, 1000);
    CU_ASSERT_EQUAL_FATAL(b.n, 1);
    CU_ASSERT_EQUAL(b.begin[0], 0);
    CU_ASSERT_EQUAL(b.end[0], 180);
    CU_ASSERT_EQUAL(b.closes[1], 0);
    /* a bucket per layer with floats */
    plan_buckets(&b, OFFSET, COUNT, 0, 5, 1);
    CU_ASSERT_EQUAL_FATAL(b.n, 3);
    CU_ASSERT_EQUAL(b.closes[4], 0);
    CU_ASSERT_EQUAL(b.closes[2], 1);
    CU_ASSERT_EQUAL(b.closes[1], 2);
    CU_ASSERT_EQUAL(b.begin[0], 150);
    /* a range of layers, as a pipeline stage's packed run */
    plan_buckets(&b, OFFSET, COUNT, 2, 5, 1000);
    CU_ASSERT_EQUAL_FATAL(b.n, 1);
    CU_ASSERT_EQUAL(b.begin[0], 100);
    CU_ASSERT_EQUAL(b.closes[2], 0);
}

/* The largest stage cost of a split, as plan_stages minimises it. */
static double split_cost(const Model *m, const int *first, int p)
{
    double worst = 0;
    for (int s = 0; s < p; s++) {
        double c = 0;
        for (int l = first[s]; l < first[s + 1]; l++) {
            c += model_layer_forward_flops(m, l, 1) + model_layer_backward_flops(m, l, 1);
            if (l == m->nlayers - 1)
                c += model_loss_flops(m, 1);
        }
        worst = c > worst ? c : worst;
    }
    return worst;
}

/* The least largest stage cost over every split at allowed cuts. */
static double brute_force(const Model *m, int p, int s, int *first, double best)
{
    if (s == p) {
        first[p] = m->nlayers;
        double c = split_cost(m, first, p);
        return c < best || best < 0 ? c : best;
    }
    for (int f = first[s - 1] + 1; f <= m->nlayers - (p - s); f++) {
        if (!model_can_cut(m, f))
            continue;
        first[s] = f;
        best = brute_force(m, p, s + 1, first, best);
    }
    return best;
}

static void check_balance(const TestModel *t, int pmax)
{
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, t, NULL), 0);
    for (int p = 1; p <= pmax; p++) {
        int first[MODEL_MAX_LAYERS + 1], probe[MODEL_MAX_LAYERS + 1] = {0};
        DtError err;
        CU_ASSERT_EQUAL_FATAL(plan_stages(&m, p, NULL, 0, "stages", first, &err), 0);
        CU_ASSERT_EQUAL(first[0], 0);
        CU_ASSERT_EQUAL(first[p], m.nlayers);
        for (int s = 1; s < p; s++)
            CU_ASSERT_TRUE(first[s] > first[s - 1] && model_can_cut(&m, first[s]));
        double best = brute_force(&m, p, 1, probe, -1);
        CU_ASSERT_DOUBLE_EQUAL(split_cost(&m, first, p), best, best * 1e-12);
    }
}

static void test_stage_balance(void)
{
    TestModel mlp = {"mlp", {1, 8, 8}, 10, {"hidden=64,8,32,16,4"}};
    TestModel cnn = {"cnn", {1, 12, 12}, 10, {"channels=4,8", "hidden=32"}};
    TestModel res = {"resmlp", {1, 8, 8}, 10, {"width=16", "blocks=3"}};
    check_balance(&mlp, 7);
    check_balance(&cnn, 6);
    check_balance(&res, 5); /* cuts only before a block or the logits: 5 places */
}

static void test_stage_errors(void)
{
    Model m;
    TestModel res = {"resmlp", {1, 8, 8}, 10, {"width=16", "blocks=2"}};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &res, NULL), 0);
    int first[MODEL_MAX_LAYERS + 1];
    DtError err;
    CU_ASSERT_EQUAL(plan_stages(&m, 10, NULL, 0, "pp", first, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "pp = 10 but the model has only 9 layers"));
    CU_ASSERT_EQUAL(plan_stages(&m, 6, NULL, 0, "stages", first, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cutting a residual"));
    const int inside[] = {3}, ok[] = {5}, two[] = {2, 5}, down[] = {5, 2};
    CU_ASSERT_EQUAL(plan_stages(&m, 2, inside, 1, "stages", first, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "residual connection"));
    CU_ASSERT_EQUAL(plan_stages(&m, 2, ok, 1, "stages", first, &err), 0);
    CU_ASSERT_EQUAL(first[1], 5);
    CU_ASSERT_EQUAL(plan_stages(&m, 2, two, 2, "stages", first, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "split gives 2 first layers"));
    CU_ASSERT_EQUAL(plan_stages(&m, 3, down, 2, "stages", first, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "after the previous stage's"));
}

/* A schedule runs each micro-batch forward once and backward once,
 * forward first, never keeps more than its stash slots, and hands
 * micro-batches to the next stage in order. */
static void check_schedule(Schedule sch, int p, int m)
{
    for (int s = 0; s < p; s++) {
        Pass passes[64];
        int n = plan_schedule(sch, p, s, m, passes), fwd[32] = {0}, bwd[32] = {0};
        int live = 0, peak = 0, next_fwd = 0;
        CU_ASSERT_EQUAL_FATAL(n, 2 * m);
        for (int k = 0; k < n; k++) {
            int i = passes[k].micro;
            if (passes[k].kind == PASS_FORWARD) {
                CU_ASSERT_EQUAL(i, next_fwd++);
                fwd[i]++;
                live++;
            } else {
                CU_ASSERT_EQUAL(fwd[i], 1);
                bwd[i]++;
                live--;
            }
            peak = live > peak ? live : peak;
        }
        for (int i = 0; i < m; i++)
            CU_ASSERT_TRUE(fwd[i] == 1 && bwd[i] == 1);
        CU_ASSERT_EQUAL(peak, plan_stash_slots(sch, p, s, m));
    }
}

static void test_schedules(void)
{
    Pass g[6];
    plan_schedule(SCHEDULE_GPIPE, 2, 0, 3, g);
    const int gk[] = {0, 0, 0, 1, 1, 1}, gm[] = {0, 1, 2, 2, 1, 0};
    for (int k = 0; k < 6; k++)
        CU_ASSERT_TRUE(g[k].kind == (PassKind)gk[k] && g[k].micro == gm[k]);
    /* 1F1B, stage 0 of 4, 8 micro-batches: 3 warm-up forwards, then F3 B0 ...
     * F7 B4, then B5 B6 B7 */
    Pass o[16];
    plan_schedule(SCHEDULE_1F1B, 4, 0, 8, o);
    CU_ASSERT_TRUE(o[2].kind == PASS_FORWARD && o[2].micro == 2);
    CU_ASSERT_TRUE(o[3].kind == PASS_FORWARD && o[3].micro == 3);
    CU_ASSERT_TRUE(o[4].kind == PASS_BACKWARD && o[4].micro == 0);
    CU_ASSERT_TRUE(o[13].kind == PASS_BACKWARD && o[13].micro == 5);
    CU_ASSERT_EQUAL(plan_stash_slots(SCHEDULE_1F1B, 4, 0, 8), 4);
    CU_ASSERT_EQUAL(plan_stash_slots(SCHEDULE_1F1B, 4, 3, 8), 1);
    CU_ASSERT_EQUAL(plan_stash_slots(SCHEDULE_1F1B, 4, 0, 2), 2);
    CU_ASSERT_EQUAL(plan_stash_slots(SCHEDULE_GPIPE, 4, 3, 8), 8);
    const int ps[] = {1, 2, 3, 4, 7}, ms[] = {1, 2, 4, 5, 8, 16};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 6; b++) {
            check_schedule(SCHEDULE_GPIPE, ps[a], ms[b]);
            check_schedule(SCHEDULE_1F1B, ps[a], ms[b]);
        }
}

/* One stage holding the whole model, unsplit, needs what a replica does. */
static void test_memory(void)
{
    TestModel t = {"cnn", {1, 12, 12}, 10, {"channels=4,8", "hidden=32"}};
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &t, NULL), 0);
    OptConfig adam = {.kind = OPT_ADAM, .lr = 0.001}, sgd = {.kind = OPT_SGD, .lr = 0.1};
    TpPlan whole;
    DtError err;
    CU_ASSERT_EQUAL_FATAL(tp_plan(&whole, &m, 0, m.nlayers, 1, &err), 0);
    MemoryNeed r = plan_replica_memory(&m, &adam, 16);
    MemoryNeed s = plan_stage_memory(&whole, &adam, 16, 1, 0, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(memory_total(&r), memory_total(&s), 0);
    CU_ASSERT_DOUBLE_EQUAL(r.optimizer, 2 * r.parameters, 0);
    CU_ASSERT_DOUBLE_EQUAL(plan_replica_memory(&m, &sgd, 16).optimizer, 0, 0);
    /* a stage keeps its input and its layers' outputs per stashed
     * micro-batch, and two staging buffers each way */
    TpPlan tail;
    CU_ASSERT_EQUAL_FATAL(tp_plan(&tail, &m, 4, m.nlayers, 1, &err), 0);
    MemoryNeed one = plan_stage_memory(&tail, &sgd, 16, 1, 1, 0, 0);
    MemoryNeed three = plan_stage_memory(&tail, &sgd, 16, 3, 1, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(three.activations, 3 * one.activations, 0);
    double in = 4.0 * 16 * shape_size(m.layers[3].out);
    double outs = 0;
    for (int l = 4; l < m.nlayers; l++)
        outs += 4.0 * 16 * shape_size(m.layers[l].out);
    CU_ASSERT_DOUBLE_EQUAL(one.activations, in + outs, 0);
    CU_ASSERT_DOUBLE_EQUAL(one.buffers - 2 * in,
                           (double)workspace_range_buffer_bytes(&m, 16, 4, m.nlayers), 0);
}

/* Recomputation on a GPT of 2 blocks (embed; 10 layers a block; final
 * LayerNorm; output layer): the checkpoints are the input tokens, each
 * block's input (the residual stream: not the cut inside a block, after
 * its attention half, nor the final LayerNorm's input), and the logits of
 * the output layer, which is not recomputed; a stage keeps checkpoints for
 * every micro-batch in flight and one segment's activations. */
static void test_recompute_memory(void)
{
    const int T = 16, d = 32, V = 50, b = 4;
    TestModel t = {
        "gpt", {T, 1, 1}, V, {"layers=2", "d_model=32", "heads=4", "seq_len=16", "vocab=50", NULL}};
    Model m;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &t, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(m.nlayers, 23);
    CU_ASSERT_EQUAL(plan_recompute_end(&m, m.nlayers), 22);
    CU_ASSERT_EQUAL(plan_recompute_end(&m, 11), 11);
    CU_ASSERT_DOUBLE_EQUAL(plan_checkpoint_floats(&m, 0, m.nlayers, b),
                           (double)b * T * (1 + 2 * d + V), 0);
    /* the first block alone: its input */
    CU_ASSERT_DOUBLE_EQUAL(plan_checkpoint_floats(&m, 1, 11, b), (double)b * T * d, 0);
    OptConfig sgd = {.kind = OPT_SGD, .lr = 0.1};
    TpPlan whole;
    DtError err;
    CU_ASSERT_EQUAL_FATAL(tp_plan(&whole, &m, 0, m.nlayers, 1, &err), 0);
    MemoryNeed all = plan_stage_memory(&whole, &sgd, b, 3, 0, 0, 0);
    MemoryNeed kept = plan_stage_memory(&whole, &sgd, b, 3, 0, 0, 1);
    double ckpt = 4.0 * plan_checkpoint_floats(&m, 0, m.nlayers, b);
    CU_ASSERT_TRUE(kept.activations > 3 * ckpt);
    CU_ASSERT_TRUE(kept.activations < 3 * ckpt + all.activations / 6);
    CU_ASSERT_DOUBLE_EQUAL(kept.attention, all.attention / 6, 1e-6); /* one of 2 blocks, 1 slot */
    /* a stage that is one segment (the first attention half, layers 1 ..
     * 5): its input for each of 3 micro-batches, everything else once */
    TpPlan half;
    CU_ASSERT_EQUAL_FATAL(tp_plan(&half, &m, 1, 6, 1, &err), 0);
    MemoryNeed h1 = plan_stage_memory(&half, &sgd, b, 1, 0, 0, 0);
    MemoryNeed h3 = plan_stage_memory(&half, &sgd, b, 3, 0, 0, 1);
    CU_ASSERT_DOUBLE_EQUAL(h3.activations, h1.activations + 2 * 4.0 * b * T * d, 1e-6);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"equal batch shares", test_shares_equal},
        {"batch shares by speed", test_shares_by_speed},
        {"gradient buckets", test_buckets},
        {"stages balanced as a brute-force search would", test_stage_balance},
        {"stage errors", test_stage_errors},
        {"GPipe and 1F1B schedules and stash", test_schedules},
        {"recomputation's checkpoints and memory", test_recompute_memory},
        {"memory needs", test_memory},
        CU_TEST_INFO_NULL,
    };
    return test_run("plan", tests);
}
