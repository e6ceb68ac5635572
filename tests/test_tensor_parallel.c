/*
 * test_tensor_parallel.c - Megatron-style tensor parallelism (core/
 * tensor_parallel.h) against the serial model.
 *
 * The t shards of a plan are simulated in one process: each has its own
 * copy of the parameter block in which every float it does not hold is
 * NaN, its own gradient block that is NaN outside what it holds, and its
 * own activation buffers of exactly the sizes the plan gives (so that ASan
 * sees an overrun).  The all-reduces are done by hand (sum over the shards,
 * copy the sum back to each).  One training step must then give the serial
 * model's logits and, assembled from each float's owner, its gradient, and
 * no shard may have read or written outside its part: a read would turn
 * outputs into NaN, a write would overwrite a NaN.  Around that: the plan
 * of each model kind, its errors, and all-reduce sizes, FLOPs, bytes and
 * buffer sizes against counts written out by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tensor_parallel.h"
#include "testutil.h"

#define TP_TOL 1e-5   /* relative difference allowed against the serial model */
#define TP_FLOOR 1e-2 /* ... below this magnitude the tolerance is absolute */
#define MAX_SHARDS 4
#define MAX_LOGITS 256 /* batch * classes of the models below */

/* flatten, dense 8 + relu, dense 12 + relu, dense 5: COLUMN 8, ROW 12 (with
 * a fused ReLU to finish), REPLICATED logits */
static const TestModel MLP_8_12 = {"mlp", {1, 6, 6}, 5, {"hidden=8,12"}};
/* flatten, dense 12, dense 10, dense 6, dense 5 (relu on the hidden ones):
 * two pairs, the second COLUMN layer with an input gradient to all-reduce */
static const TestModel MLP_12_10_6 = {"mlp", {1, 6, 6}, 5, {"hidden=12,10,6"}};
/* conv 2 + relu, maxpool, flatten (18), dense 8 + relu, dense 4: convs
 * replicated, then a COLUMN layer that is not the first with parameters */
static const TestModel CNN_2_8 = {"cnn", {1, 6, 6}, 4, {"hidden=8", "channels=2", "kernel=3"}};

static float *alloc_floats(size_t n)
{
    return malloc((n ? n : 1) * sizeof(float));
}

static void fill_value(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

/* Set every float of block b in dst to v (src NULL) or to src's value. */
static void block_set(const TpBlock *b, float *dst, const float *src, float v)
{
    for (int r = 0; r < b->rows; r++) {
        for (int c = 0; c < b->cols; c++) {
            size_t i = b->offset + (size_t)r * b->stride + (size_t)c;
            dst[i] = src ? src[i] : v;
        }
    }
}

/* One simulated device: the full layout everywhere, NaN where it holds nothing. */
typedef struct Shard {
    float *params;                    /* (nparams) */
    float *grads;                     /* (nparams) */
    float *out[MODEL_MAX_LAYERS];     /* (tp_out_floats) */
    float *dout[MODEL_MAX_LAYERS];    /* (tp_out_floats) */
    float *scratch[MODEL_MAX_LAYERS]; /* (tp_scratch_floats) */
    float *din_first;                 /* (batch, input of layer first) */
    float probs[MAX_LOGITS];          /* (batch, classes) softmax outputs */
} Shard;

static void shard_init(Shard *s, const TpPlan *plan, int j, const float *params, int batch)
{
    const Model *m = plan->m;
    memset(s, 0, sizeof *s);
    s->params = alloc_floats(m->nparams);
    s->grads = alloc_floats(m->nparams);
    fill_value(s->params, m->nparams, NAN);
    fill_value(s->grads, m->nparams, NAN);
    for (int l = plan->first; l < plan->last; l++) {
        TpBlock blocks[TP_MAX_BLOCKS];
        int nb = tp_layer_blocks(plan, l, j, blocks);
        for (int i = 0; i < nb; i++) {
            block_set(&blocks[i], s->params, params, 0.0f);
            block_set(&blocks[i], s->grads, NULL, 0.0f);
        }
        size_t n = tp_out_floats(plan, l, batch);
        s->out[l] = alloc_floats(n);
        s->dout[l] = alloc_floats(n);
        s->scratch[l] = alloc_floats(tp_scratch_floats(plan, l, batch));
        fill_value(s->out[l], n, NAN);
        fill_value(s->dout[l], n, NAN);
    }
    size_t n_first = (size_t)batch * shape_size(m->layers[plan->first].in);
    s->din_first = alloc_floats(n_first);
    fill_value(s->din_first, n_first, NAN);
}

static void shard_free(Shard *s, const TpPlan *plan)
{
    for (int l = plan->first; l < plan->last; l++) {
        free(s->out[l]);
        free(s->dout[l]);
        free(s->scratch[l]);
    }
    free(s->params);
    free(s->grads);
    free(s->din_first);
}

/* The all-reduce, by hand: bufs[j][0..n) = the sum over j, on every shard. */
static void allreduce_by_hand(float *bufs[], int t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float sum = 0.0f;
        for (int j = 0; j < t; j++)
            sum += bufs[j][i];
        for (int j = 0; j < t; j++)
            bufs[j][i] = sum;
    }
}

/* One training step of the t shards over plan, which must end at the
 * model's last layer: forward from x (the full input of layer first),
 * loss (scale 1/batch), backward, with the all-reduces where the plan asks
 * for them.  Returns shard 0's summed loss. */
static double sharded_step(const TpPlan *plan, Shard *sh, const float *x, const uint8_t *y,
                           int batch)
{
    const Model *m = plan->m;
    const int t = plan->t;
    float *bufs[MAX_SHARDS];
    for (int l = plan->first; l < plan->last; l++) {
        const size_t off = m->layers[l].param_offset;
        for (int j = 0; j < t; j++) {
            LayerIO io = {.batch = batch,
                          .params = sh[j].params + off,
                          .in = l == plan->first ? x : sh[j].out[l - 1],
                          .out = sh[j].out[l],
                          .scratch = sh[j].scratch[l]};
            tp_forward(plan, l, j, &io);
            bufs[j] = sh[j].out[l];
        }
        size_t n = tp_forward_allreduce_floats(plan, l, batch);
        if (n) {
            allreduce_by_hand(bufs, t, n);
            for (int j = 0; j < t; j++) {
                LayerIO io = {.batch = batch, .params = sh[j].params + off, .out = sh[j].out[l]};
                tp_forward_finish(plan, l, &io);
            }
        }
    }
    const int last = plan->last - 1;
    double loss = 0.0;
    for (int j = 0; j < t; j++) {
        SoftmaxXent s = {.batch = batch,
                         .classes = m->classes,
                         .logits = sh[j].out[last],
                         .labels = y,
                         .probs = sh[j].probs,
                         .dlogits = sh[j].dout[last],
                         .scale = 1.0f / batch};
        double lj = softmax_xent_forward(&s);
        softmax_xent_backward(&s);
        if (j == 0)
            loss = lj;
    }
    for (int l = last; l >= plan->first; l--) {
        const size_t off = m->layers[l].param_offset;
        const int need_din = m->first_trainable < l;
        for (int j = 0; j < t; j++) {
            float *din = l == plan->first ? sh[j].din_first : sh[j].dout[l - 1];
            LayerIO io = {.batch = batch,
                          .params = sh[j].params + off,
                          .dparams = sh[j].grads + off,
                          .in = l == plan->first ? x : sh[j].out[l - 1],
                          .out = sh[j].out[l],
                          .dout = sh[j].dout[l],
                          .din = need_din ? din : NULL,
                          .scratch = sh[j].scratch[l]};
            tp_backward(plan, l, j, &io);
            bufs[j] = din;
        }
        size_t n = tp_backward_allreduce_floats(plan, l, batch);
        if (n)
            allreduce_by_hand(bufs, t, n);
    }
    return loss;
}

/* The serial reference: logits and gradient of the whole model, and the
 * gradient of layer first's input (NULL din_first: not wanted). */
typedef struct Reference {
    float *logits; /* (batch, classes) */
    float *grads;  /* (nparams) */
    float *input;  /* (batch, input of layer first): the activation entering it */
    float *din;    /* (batch, input of layer first) */
    double loss;
} Reference;

static void reference_step(const Model *m, const float *params, const float *x, const uint8_t *y,
                           int batch, int first, Reference *ref)
{
    Workspace ws;
    CU_ASSERT_EQUAL_FATAL(workspace_init(&ws, m, batch, NULL), 0);
    const size_t n_first = (size_t)batch * shape_size(m->layers[first].in);
    ref->logits = alloc_floats((size_t)batch * m->classes);
    ref->grads = calloc(m->nparams, sizeof(float));
    ref->input = alloc_floats(n_first);
    ref->din = alloc_floats(n_first);
    fill_value(ref->din, n_first, NAN);
    model_forward(m, &ws, params, x, batch);
    memcpy(ref->input, first ? workspace_output(&ws, first - 1) : x, n_first * sizeof(float));
    memcpy(ref->logits, workspace_output(&ws, m->nlayers - 1),
           (size_t)batch * m->classes * sizeof(float));
    ref->loss = model_loss(m, &ws, y, batch, 1.0f / batch);
    for (int l = m->nlayers - 1; l >= 0; l--) {
        model_backward_layer(m, &ws, params, ref->grads, x, l, batch);
        if (l == first && m->first_trainable < first) /* layer l's din is in dact[(l+1) % 2] */
            memcpy(ref->din, ws.dact[(l + 1) % 2], n_first * sizeof(float));
    }
    workspace_free(&ws);
}

static void reference_free(Reference *ref)
{
    free(ref->logits);
    free(ref->grads);
    free(ref->input);
    free(ref->din);
}

/* Random parameters (biases moved off 0), inputs and labels. */
static void make_data(const Model *m, float *params, float *x, uint8_t *y, int batch, int seed)
{
    model_init_params(m, params, (uint64_t)seed);
    Rng r = rng_make((uint64_t)seed, 7);
    for (size_t i = 0; i < m->nparams; i++)
        params[i] += 0.1f * (rng_uniform(&r) - 0.5f);
    for (size_t i = 0; i < (size_t)batch * shape_size(m->input); i++)
        x[i] = 2.0f * rng_uniform(&r) - 1.0f;
    for (int i = 0; i < batch; i++)
        y[i] = (uint8_t)rng_below(&r, (uint32_t)m->classes);
}

/* Does block list of (l, shard) contain parameter float i? */
static int shard_holds(const TpPlan *plan, int shard, size_t i)
{
    for (int l = plan->first; l < plan->last; l++) {
        TpBlock blocks[TP_MAX_BLOCKS];
        int nb = tp_layer_blocks(plan, l, shard, blocks);
        for (int k = 0; k < nb; k++) {
            const TpBlock *b = &blocks[k];
            if (i < b->offset)
                continue;
            size_t r = (i - b->offset) / b->stride, c = (i - b->offset) % b->stride;
            if (r < (size_t)b->rows && c < (size_t)b->cols)
                return 1;
        }
    }
    return 0;
}

/* One step of the t shards of layers [first, nlayers) against the serial
 * model: logits, loss, the assembled gradient and (for a stage) the input
 * gradient; every shard wrote only what it holds and replicated gradients
 * agree across shards. */
static void check_sharded_step(const TestModel *cfg, int first, int t, int batch)
{
    Model m;
    TpPlan plan;
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, cfg, &err), 0);
    int rc = tp_plan(&plan, &m, first, m.nlayers, t, &err);
    if (rc)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_FATAL(t <= MAX_SHARDS && batch * m.classes <= MAX_LOGITS);

    float *params = alloc_floats(m.nparams);
    float *x = alloc_floats((size_t)batch * shape_size(m.input));
    uint8_t *y = malloc((size_t)batch);
    make_data(&m, params, x, y, batch, 11 + t);
    Reference ref;
    reference_step(&m, params, x, y, batch, first, &ref);

    Shard sh[MAX_SHARDS];
    for (int j = 0; j < t; j++)
        shard_init(&sh[j], &plan, j, params, batch);
    double loss = sharded_step(&plan, sh, ref.input, y, batch);

    const size_t n_logits = (size_t)batch * m.classes;
    CU_ASSERT_DOUBLE_EQUAL(loss, ref.loss, TP_TOL * fabs(ref.loss));
    for (int j = 0; j < t; j++) {
        double d = test_max_rel_diff(sh[j].out[m.nlayers - 1], ref.logits, n_logits, TP_FLOOR);
        if (d > TP_TOL)
            fprintf(stderr, "\n  t=%d shard %d: logits differ by %.3g\n", t, j, d);
        CU_ASSERT(d <= TP_TOL);
    }

    /* Each shard wrote exactly what it holds: NaN stays NaN elsewhere. */
    size_t stray = 0, unwritten = 0;
    for (int j = 0; j < t; j++) {
        for (size_t i = 0; i < m.nparams; i++) {
            int holds = i >= m.layers[first].param_offset && shard_holds(&plan, j, i);
            stray += !holds && !isnan(sh[j].grads[i]);
            unwritten += holds && !isfinite(sh[j].grads[i]);
        }
    }
    CU_ASSERT_EQUAL(stray, 0);
    CU_ASSERT_EQUAL(unwritten, 0);

    /* The gradient assembled from the owners equals the serial one over the
     * layers planned (below first: not computed, stays NaN in both). */
    float *assembled = alloc_floats(m.nparams);
    float *params_back = alloc_floats(m.nparams);
    fill_value(assembled, m.nparams, NAN);
    fill_value(params_back, m.nparams, NAN);
    for (int j = 0; j < t; j++) {
        tp_gather_owned(&plan, j, sh[j].grads, assembled);
        tp_gather_owned(&plan, j, sh[j].params, params_back);
    }
    const size_t off = m.layers[first].param_offset, n = m.nparams - off;
    double dg = test_max_rel_diff(assembled + off, ref.grads + off, n, TP_FLOOR);
    if (dg > TP_TOL)
        fprintf(stderr, "\n  t=%d first=%d: gradient differs by %.3g\n", t, first, dg);
    CU_ASSERT(dg <= TP_TOL);
    CU_ASSERT_EQUAL(memcmp(params_back + off, params + off, n * sizeof(float)), 0);

    /* Replicated floats: every shard computed the same gradient. */
    for (int l = first; l < m.nlayers; l++) {
        TpBlock blocks[TP_MAX_BLOCKS];
        for (int j = 1; j < t; j++) {
            int nb = tp_layer_blocks(&plan, l, j, blocks);
            for (int k = 0; k < nb; k++) {
                if (!blocks[k].replicated)
                    continue;
                for (int r = 0; r < blocks[k].rows; r++) {
                    size_t at = blocks[k].offset + (size_t)r * blocks[k].stride;
                    CU_ASSERT(test_max_rel_diff(sh[j].grads + at, sh[0].grads + at,
                                                (size_t)blocks[k].cols, TP_FLOOR) <= TP_TOL);
                }
            }
        }
    }

    /* A stage's input gradient, all-reduced, is the serial one. */
    if (m.first_trainable < first) {
        size_t n_in = (size_t)batch * shape_size(m.layers[first].in);
        for (int j = 0; j < t; j++)
            CU_ASSERT(test_max_rel_diff(sh[j].din_first, ref.din, n_in, TP_FLOOR) <= TP_TOL);
    }

    for (int j = 0; j < t; j++)
        shard_free(&sh[j], &plan);
    reference_free(&ref);
    free(assembled);
    free(params_back);
    free(params);
    free(x);
    free(y);
}

static void test_step_mlp_8_12(void)
{
    int ts[] = {1, 2, 4};
    for (int i = 0; i < 3; i++)
        check_sharded_step(&MLP_8_12, 0, ts[i], 4);
}

/* Two pairs; t = 3 and batch 3 so that nothing is a power of two. */
static void test_step_mlp_two_pairs(void)
{
    int ts[] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        check_sharded_step(&MLP_12_10_6, 0, ts[i], 3);
}

static void test_step_cnn(void)
{
    int ts[] = {1, 2, 4};
    for (int i = 0; i < 3; i++)
        check_sharded_step(&CNN_2_8, 0, ts[i], 2);
}

/* The last pipeline stage, layers [2, 5): COLUMN 12 -> 10, ROW 10 -> 6,
 * REPLICATED logits; its input gradient goes through the COLUMN all-reduce. */
static void test_step_stage(void)
{
    check_sharded_step(&MLP_12_10_6, 2, 2, 3);
    check_sharded_step(&MLP_12_10_6, 3, 3, 2); /* [3, 5): COLUMN 6, ROW logits */
}

static void check_splits(const TpPlan *plan, const TpSplit *want, const int *slice)
{
    for (int l = plan->first; l < plan->last; l++) {
        CU_ASSERT_EQUAL(plan->layers[l].split, want[l - plan->first]);
        CU_ASSERT_EQUAL(plan->layers[l].slice, slice[l - plan->first]);
    }
}

static void test_plan_kinds(void)
{
    Model m;
    TpPlan p;
    const TpSplit R = TP_REPLICATED, C = TP_COLUMN, W = TP_ROW;

    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_8_12, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 4, NULL), 0);
    check_splits(&p, (TpSplit[]){R, C, W, R}, (int[]){0, 8 / 4, 8 / 4, 0});
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 1, NULL), 0);
    check_splits(&p, (TpSplit[]){R, R, R, R}, (int[]){0, 0, 0, 0});
    /* a stage holding only the second hidden layer and the logits */
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 2, 4, 2, NULL), 0);
    check_splits(&p, (TpSplit[]){C, W}, (int[]){12 / 2, 12 / 2});
    /* a stage cutting the first pair: its dense layers pair with no one */
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, 2, 2, NULL), 0);
    check_splits(&p, (TpSplit[]){R, R}, (int[]){0, 0});

    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_12_10_6, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    check_splits(&p, (TpSplit[]){R, C, W, C, W}, (int[]){0, 6, 6, 3, 3});
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 2, 5, 2, NULL), 0);
    CU_ASSERT_EQUAL(p.first, 2);
    CU_ASSERT_EQUAL(p.last, 5);
    check_splits(&p, (TpSplit[]){C, W, R}, (int[]){5, 5, 0});

    /* conv + relu, maxpool, flatten: replicated; then the dense pair */
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &CNN_2_8, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    check_splits(&p, (TpSplit[]){R, R, R, C, W}, (int[]){0, 0, 0, 4, 4});

    /* a separate relu layer between two dense layers breaks the pair */
    Model hand = {.input = {6, 1, 1}, .classes = 4, .first_trainable = 0};
    Layer d1 = {.ops = &dense_ops, .in = {6, 1, 1}, .units = 4};
    CU_ASSERT_EQUAL_FATAL(d1.ops->setup(&d1, NULL), 0);
    Layer r = {.ops = &relu_ops, .in = d1.out};
    CU_ASSERT_EQUAL_FATAL(r.ops->setup(&r, NULL), 0);
    Layer d2 = {.ops = &dense_ops, .in = r.out, .units = 4, .param_offset = d1.param_count};
    CU_ASSERT_EQUAL_FATAL(d2.ops->setup(&d2, NULL), 0);
    hand.layers[0] = d1;
    hand.layers[1] = r;
    hand.layers[2] = d2;
    hand.nlayers = 3;
    hand.nparams = d1.param_count + d2.param_count;
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &hand, 0, 3, 2, NULL), 0);
    check_splits(&p, (TpSplit[]){R, R, R}, (int[]){0, 0, 0});
}

/* In a residual MLP the two dense layers of a block pair up; the stem
 * does not pair with the block's first layer, whose input (the stem's
 * output) the block's add reads too. */
static void test_plan_residual(void)
{
    Model m;
    TpPlan p;
    const TpSplit R = TP_REPLICATED, C = TP_COLUMN, W = TP_ROW;
    const TestModel res = {"resmlp", {1, 6, 6}, 5, {"width=8", "blocks=2"}};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &res, NULL), 0);
    /* flatten, stem, [dense, dense, add], [dense, dense, add], logits */
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    check_splits(&p, (TpSplit[]){R, R, C, W, R, C, W, R, R}, (int[]){0, 0, 4, 4, 0, 4, 4, 0, 0});
}

static void test_plan_errors(void)
{
    Model m;
    TpPlan p;
    DtError err = {0};

    /* the first hidden layer, 8 units, over 3 devices */
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_8_12, NULL), 0);
    CU_ASSERT_EQUAL(tp_plan(&p, &m, 0, m.nlayers, 3, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "layer 1 (dense, 8 units)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tp = 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "hidden sizes must be multiples of tp"));

    /* 12 splits over 4, but the third hidden layer (6 units, layer 3) does not */
    err = (DtError){0};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_12_10_6, NULL), 0);
    CU_ASSERT_EQUAL(tp_plan(&p, &m, 0, m.nlayers, 4, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "layer 3 (dense, 6 units)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tp = 4"));
    /* the same stage without layer 3's pair is fine */
    CU_ASSERT_EQUAL(tp_plan(&p, &m, 0, 3, 4, NULL), 0);

    err = (DtError){0};
    CU_ASSERT_EQUAL(tp_plan(&p, &m, 0, m.nlayers, 0, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "tp = 0"));
    err = (DtError){0};
    CU_ASSERT_EQUAL(tp_plan(&p, &m, 2, m.nlayers + 1, 2, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_EQUAL(tp_plan(&p, &m, 3, 2, 2, NULL), -1);
}

static void test_allreduce_floats_by_hand(void)
{
    Model m;
    TpPlan p;
    /* MLP 8, 12 over 2, batch 4 */
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_8_12, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 1, 4), 0);      /* COLUMN */
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 2, 4), 4 * 12); /* ROW, 12 units: 48 */
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 3, 4), 0);      /* replicated */
    /* the COLUMN layer is the first with parameters: nobody needs its din */
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 1, 4), 0);
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 2, 4), 0);
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 3, 4), 0);

    /* MLP 12, 10, 6 over 2, batch 3 */
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_12_10_6, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 2, 3), 3 * 10);  /* ROW 12 -> 10 */
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 4, 3), 3 * 5);   /* ROW 6 -> 5 logits */
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 1, 3), 0);      /* first with params */
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 3, 3), 3 * 10); /* COLUMN 10 -> 6 */

    /* CNN over 4, batch 2: the COLUMN dense layer's input is 2 channels of 3x3 */
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &CNN_2_8, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 4, NULL), 0);
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 3, 2), 2 * (2 * 3 * 3));
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 4, 2), 2 * 4);
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 0, 2), 0); /* conv: replicated */
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 0, 2), 0);

    /* t = 1: no communication at all */
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 1, NULL), 0);
    for (int l = 0; l < m.nlayers; l++) {
        CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, l, 2), 0);
        CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, l, 2), 0);
    }
}

/* The t shards' FLOPs of each layer add up to the serial layer's: exactly
 * for COLUMN and REPLICATED layers (replicated ones counted once, since
 * every shard repeats them), plus (t-1) * batch * units * (1 + relu) in each
 * direction for ROW layers. */
static void check_flop_sums(const TestModel *cfg, int t, int batch)
{
    Model m;
    TpPlan p;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, cfg, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, t, NULL), 0);
    for (int l = 0; l < m.nlayers; l++) {
        const Layer *ly = &m.layers[l];
        double fwd = 0, bwd = 0;
        for (int j = 0; j < t; j++) {
            fwd += tp_forward_cost(&p, l, batch).flops + tp_finish_cost(&p, l, batch).flops;
            bwd += tp_backward_cost(&p, l, batch).flops;
        }
        double extra = 0;
        if (p.layers[l].split == TP_REPLICATED) {
            fwd /= t;
            bwd /= t;
        } else if (p.layers[l].split == TP_ROW) {
            extra = (t - 1.0) * batch * ly->units * (1.0 + ly->relu);
        }
        CU_ASSERT_DOUBLE_EQUAL(fwd, model_layer_forward_flops(&m, l, batch) + extra, 0);
        CU_ASSERT_DOUBLE_EQUAL(bwd, model_layer_backward_flops(&m, l, batch) + extra, 0);
    }
}

static void test_flop_sums(void)
{
    for (int t = 1; t <= 4; t *= 2) {
        check_flop_sums(&MLP_8_12, t, 4);
        check_flop_sums(&CNN_2_8, t, 2);
    }
    check_flop_sums(&MLP_12_10_6, 2, 3);
    check_flop_sums(&MLP_12_10_6, 3, 3);
}

/* The token embedding splits by vocabulary when t divides it and the
 * output layer does not share its table: each shard holds vocab / t token
 * rows and the whole position table; the forward's output is all-reduced
 * (batch x T x d_model floats), and a shard counts the unsplit layer's
 * FLOPs (its finish adds the positions' rows). */
static void test_plan_vocab(void)
{
    const TestModel gpt = {
        "gpt", {8, 1, 1}, 12, {"layers=1", "d_model=8", "heads=4", "seq_len=8", "vocab=12", NULL}};
    Model m;
    TpPlan p;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &gpt, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 4, NULL), 0);
    CU_ASSERT_EQUAL(p.layers[0].split, TP_VOCAB);
    CU_ASSERT_EQUAL(p.layers[0].slice, 3);
    TpBlock b[TP_MAX_BLOCKS];
    CU_ASSERT_EQUAL_FATAL(tp_layer_blocks(&p, 0, 2, b), 2);
    CU_ASSERT(b[0].offset == 6 * 8 && b[0].rows == 3 && b[0].cols == 8 && !b[0].replicated);
    CU_ASSERT(b[1].offset == 12 * 8 && b[1].rows == 8 && b[1].cols == 8 && b[1].replicated);
    CU_ASSERT_EQUAL(tp_forward_allreduce_floats(&p, 0, 5), 5 * 8 * 8);
    CU_ASSERT_EQUAL(tp_backward_allreduce_floats(&p, 0, 5), 0);
    CU_ASSERT_DOUBLE_EQUAL(tp_forward_cost(&p, 0, 5).flops + tp_finish_cost(&p, 0, 5).flops,
                           model_layer_forward_flops(&m, 0, 5), 0);
    CU_ASSERT_DOUBLE_EQUAL(tp_backward_cost(&p, 0, 5).flops, model_layer_backward_flops(&m, 0, 5),
                           0);
    /* 13 tokens over 2 shards do not split; nor does a table the output
     * layer shares */
    const TestModel tied = {
        "gpt",
        {8, 1, 1},
        12,
        {"layers=1", "d_model=8", "heads=2", "seq_len=8", "vocab=12", "tie_embeddings=on", NULL}};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &tied, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    CU_ASSERT_EQUAL(p.layers[0].split, TP_REPLICATED);
    const TestModel odd = {
        "gpt", {8, 1, 1}, 12, {"layers=1", "d_model=8", "heads=2", "seq_len=8", "vocab=13", NULL}};
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &odd, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    CU_ASSERT_EQUAL(p.layers[0].split, TP_REPLICATED);
}

/* The vocabulary-parallel loss over t shards, with the all-reduces done
 * by adding the shards' buffers, against the unsplit softmax cross-
 * entropy on the whole logits: the same loss and, slice by slice, the same
 * gradient. */
static void check_parallel_loss(int t)
{
    const TestModel gpt = {
        "gpt", {4, 1, 1}, 24, {"layers=1", "d_model=8", "heads=4", "seq_len=4", "vocab=24", NULL}};
    Model m;
    TpPlan p;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &gpt, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, t, NULL), 0);
    CU_ASSERT_FATAL(tp_loss_split(&p));
    const int batch = 3, V = 24, s = V / t, rows = batch * 4;
    float logits[12 * 24], probs[12 * 24], dfull[12 * 24], slice[4][12 * 24], d[12 * 24];
    uint8_t labels[12];
    Rng r = rng_make(5, 1);
    for (int i = 0; i < rows * V; i++)
        logits[i] = 8.0f * rng_uniform(&r) - 4.0f;
    for (int i = 0; i < rows; i++)
        labels[i] = (uint8_t)((i * 7) % V);
    SoftmaxXent x = {rows, V, logits, labels, probs, dfull, 0.25f / 4};
    double want = softmax_xent_forward(&x) / 4;
    softmax_xent_backward(&x);
    size_t n1, n2;
    tp_loss_floats(&p, batch, &n1, &n2);
    CU_ASSERT(n1 == (size_t)rows * t && n2 == (size_t)rows * 2);
    float maxima[12 * 4] = {0}, sums[12 * 2] = {0}, part[12 * 4];
    for (int j = 0; j < t; j++) { /* each shard's slice, laid out as its COLUMN output */
        for (int i = 0; i < rows; i++)
            memcpy(slice[j] + i * s, logits + i * V + j * s, s * sizeof(float));
        tp_loss_maxima(&p, j, slice[j], batch, part);
        for (size_t k = 0; k < n1; k++)
            maxima[k] += part[k];
    }
    for (int j = 0; j < t; j++) {
        tp_loss_sums(&p, j, slice[j], labels, batch, maxima, part);
        for (size_t k = 0; k < n2; k++)
            sums[k] += part[k];
    }
    for (int j = 0; j < t; j++) {
        double got = tp_loss_finish(&p, j, slice[j], labels, batch, maxima, sums, 0.25f, d);
        CU_ASSERT_DOUBLE_EQUAL(got, want, 1e-5 * fabs(want));
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < s; k++)
                CU_ASSERT_DOUBLE_EQUAL(d[i * s + k], dfull[i * V + j * s + k], 1e-6);
    }
}

static void test_parallel_loss(void)
{
    check_parallel_loss(2);
    check_parallel_loss(4);
}

static void test_costs_by_hand(void)
{
    Model m;
    TpPlan p;
    const double B = 4;
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_8_12, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);

    /* layer 1, COLUMN 36 -> 8 + relu, slice 4: GEMM, bias, relu */
    TpCost c = tp_forward_cost(&p, 1, 4);
    CU_ASSERT_DOUBLE_EQUAL(c.flops, 2 * B * 4 * 36 + B * 4 + B * 4, 0);
    /* reads the input, its 4 rows of W and 4 biases; writes (B, 4) */
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, 4 * (B * 36 + 4 * 36 + 4 + B * 4), 0);
    /* backward: mask, dW, db; no din (first layer with parameters) */
    c = tp_backward_cost(&p, 1, 4);
    CU_ASSERT_DOUBLE_EQUAL(c.flops, B * 4 + 2 * 4 * 36 * B + B * 4, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, 4 * (B * 4 + B * 36 + 2 * (4 * 36 + 4)), 0);
    CU_ASSERT_DOUBLE_EQUAL(tp_finish_cost(&p, 1, 4).flops, 0, 0);

    /* layer 2, ROW 8 -> 12 + relu, slice 4: the partial GEMM only ... */
    c = tp_forward_cost(&p, 2, 4);
    CU_ASSERT_DOUBLE_EQUAL(c.flops, 2 * B * 12 * 4, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, 4 * (B * 4 + 12 * 4 + B * 12), 0);
    /* ... then, after the all-reduce, bias and relu on all of (B, 12) */
    c = tp_finish_cost(&p, 2, 4);
    CU_ASSERT_DOUBLE_EQUAL(c.flops, B * 12 + B * 12, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, 4 * (B * 12 + 12 + B * 12), 0);
    /* backward: mask on the full dout, dW columns, the whole db, din slice */
    c = tp_backward_cost(&p, 2, 4);
    CU_ASSERT_DOUBLE_EQUAL(c.flops, B * 12 + 2 * 12 * 4 * B + B * 12 + 2 * B * 4 * 12, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, 4 * (B * 12 + B * 4 + 3 * (12 * 4 + 12) + B * 4), 0);

    /* replicated layers cost what the serial layer costs */
    c = tp_forward_cost(&p, 3, 4);
    CU_ASSERT_DOUBLE_EQUAL(c.flops, model_layer_forward_flops(&m, 3, 4), 0);
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, model_layer_forward_bytes(&m, 3, 4), 0);
    c = tp_backward_cost(&p, 0, 4); /* flatten below the first layer with parameters */
    CU_ASSERT_DOUBLE_EQUAL(c.flops, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.bytes, 0, 0);
}

static void test_blocks_and_sizes_by_hand(void)
{
    Model m;
    TpPlan p;
    TpBlock b[TP_MAX_BLOCKS];
    CU_ASSERT_EQUAL_FATAL(test_model_build(&m, &MLP_8_12, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
    const size_t off1 = 0, off2 = 36 * 8 + 8, off3 = off2 + 8 * 12 + 12;
    CU_ASSERT_EQUAL(m.layers[2].param_offset, off2);

    CU_ASSERT_EQUAL(tp_layer_blocks(&p, 0, 1, b), 0); /* flatten */
    /* COLUMN, shard 1: rows 4..7 of W (8, 36) and b[4..7] */
    CU_ASSERT_EQUAL_FATAL(tp_layer_blocks(&p, 1, 1, b), 2);
    CU_ASSERT_EQUAL(b[0].offset, off1 + 4 * 36);
    CU_ASSERT_TRUE(b[0].rows == 4 && b[0].cols == 36 && b[0].stride == 36 && !b[0].replicated);
    CU_ASSERT_EQUAL(b[1].offset, off1 + 8 * 36 + 4);
    CU_ASSERT_TRUE(b[1].rows == 1 && b[1].cols == 4 && !b[1].replicated);
    /* ROW, shard 1: columns 4..7 of W (12, 8), and all of b, replicated */
    CU_ASSERT_EQUAL_FATAL(tp_layer_blocks(&p, 2, 1, b), 2);
    CU_ASSERT_EQUAL(b[0].offset, off2 + 4);
    CU_ASSERT_TRUE(b[0].rows == 12 && b[0].cols == 4 && b[0].stride == 8 && !b[0].replicated);
    CU_ASSERT_EQUAL(b[1].offset, off2 + 12 * 8);
    CU_ASSERT_TRUE(b[1].rows == 1 && b[1].cols == 12 && b[1].replicated);
    /* REPLICATED logits layer: all of it */
    CU_ASSERT_EQUAL_FATAL(tp_layer_blocks(&p, 3, 1, b), 1);
    CU_ASSERT_TRUE(b[0].offset == off3 && b[0].rows * b[0].cols == 12 * 5 + 5 && b[0].replicated);

    /* held floats: half of layer 1, half of W2 and all of b2, all of layer 3 */
    CU_ASSERT_EQUAL(tp_param_floats(&p), (36 * 8 + 8) / 2 + 12 * 8 / 2 + 12 + (12 * 5 + 5));

    /* buffers for batch 4: flatten 36, COLUMN slice 4, ROW 12, logits 5 */
    CU_ASSERT_EQUAL(tp_out_floats(&p, 0, 4), 4 * 36);
    CU_ASSERT_EQUAL(tp_out_floats(&p, 1, 4), 4 * 4);
    CU_ASSERT_EQUAL(tp_out_floats(&p, 2, 4), 4 * 12);
    CU_ASSERT_EQUAL(tp_out_floats(&p, 3, 4), 4 * 5);
    CU_ASSERT_EQUAL(tp_activation_floats(&p, 4), 4 * (36 + 4 + 12 + 5));
    CU_ASSERT_EQUAL(tp_scratch_floats(&p, 1, 4), 4 * 4);  /* masked dout slice */
    CU_ASSERT_EQUAL(tp_scratch_floats(&p, 2, 4), 4 * 12); /* masked full dout */
    CU_ASSERT_EQUAL(tp_scratch_floats(&p, 3, 4), 0);

    /* a serial Workspace is big enough for every shard, for every model */
    const TestModel *cfgs[] = {&MLP_8_12, &MLP_12_10_6, &CNN_2_8};
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL_FATAL(test_model_build(&m, cfgs[k], NULL), 0);
        CU_ASSERT_EQUAL_FATAL(tp_plan(&p, &m, 0, m.nlayers, 2, NULL), 0);
        for (int l = 0; l < m.nlayers; l++) {
            const Layer *ly = &m.layers[l];
            CU_ASSERT(tp_out_floats(&p, l, 3) <= 3 * shape_size(ly->out));
            CU_ASSERT(tp_scratch_floats(&p, l, 3) <= ly->ops->scratch_floats(ly, 3));
        }
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"plan of mlp, cnn, stages, t = 1", test_plan_kinds},
        {"plan of a residual mlp: pairs inside blocks", test_plan_residual},
        {"plan errors name layer, size and tp", test_plan_errors},
        {"mlp 8,12: t = 1, 2, 4 shards equal serial", test_step_mlp_8_12},
        {"mlp 12,10,6: two pairs, t = 1, 2, 3", test_step_mlp_two_pairs},
        {"cnn: replicated convs, t = 1, 2, 4", test_step_cnn},
        {"pipeline stage: gradients and input gradient", test_step_stage},
        {"all-reduce floats by hand", test_allreduce_floats_by_hand},
        {"shard FLOPs add up to the serial layer's", test_flop_sums},
        {"FLOPs and bytes by hand", test_costs_by_hand},
        {"the token embedding split by vocabulary", test_plan_vocab},
        {"the vocabulary-parallel loss equals the unsplit one", test_parallel_loss},
        {"blocks, held floats and buffer sizes by hand", test_blocks_and_sizes_by_hand},
        CU_TEST_INFO_NULL,
    };
    return test_run("tensor_parallel", tests);
}
