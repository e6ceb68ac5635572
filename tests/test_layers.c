/*
 * test_layers.c - every layer kind and softmax cross-entropy against finite
 * differences, naive loops and hand-counted FLOPs.
 *
 * The gradient checks use the loss L = sum(out .* r) for a fixed random r,
 * so that dout = r, and compare the analytic din and dparams with central
 * differences of L (computed in double) over ALL coordinates of small
 * layers.  Inputs are built so that no perturbation crosses a ReLU kink or
 * reorders a pooling window.  Around that: the backward conventions of
 * layer.h (dparams accumulate, din is overwritten, din == NULL skips the
 * input gradient, scratch and out carry nothing between calls), forward
 * passes against direct loops, softmax on extreme logits, exact FLOP counts
 * written out as arithmetic on the shapes, and setup errors.  Batch
 * normalisation also against double loops backward, and its groups against
 * one call per group.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "rng.h"
#include "testutil.h"

#define FD_EPS 1e-2f  /* finite-difference step on inputs and parameters of size ~1 */
#define FD_TOL 2e-2   /* relative tolerance of a finite-difference check */
#define FD_FLOOR 5e-2 /* ... below this magnitude the tolerance is absolute */

/* How a case's input is drawn, so that L is smooth around it. */
typedef enum {
    INPUT_SPREAD,         /* U(-1, 1) */
    INPUT_AWAY_FROM_ZERO, /* |x| in [0.1, 1]: no ReLU kink within FD_EPS */
    INPUT_DISTINCT,       /* a shuffled ladder 0.05 apart: no pooling ties within FD_EPS */
} InputKind;

typedef struct Case {
    const char *label;
    Layer layer; /* ops and settings; setup fills in the rest */
    int batch;
    InputKind input;
} Case;

static const Case cases[] = {
    {"dense 7 -> 5", {.ops = &dense_ops, .in = {7, 1, 1}, .units = 5}, 3, INPUT_SPREAD},
    {"dense (2,3,2) -> 4", {.ops = &dense_ops, .in = {2, 3, 2}, .units = 4}, 2, INPUT_SPREAD},
    {"dense 9 -> 6 + relu",
     {.ops = &dense_ops, .in = {9, 1, 1}, .units = 6, .relu = 1},
     3,
     INPUT_SPREAD},
    {"relu (3,4,5)", {.ops = &relu_ops, .in = {3, 4, 5}}, 2, INPUT_AWAY_FROM_ZERO},
    {"conv2d (3,5,6) k3 s1 p0 -> 4",
     {.ops = &conv2d_ops, .in = {3, 5, 6}, .channels = 4, .kernel = 3, .stride = 1, .pad = 0},
     2,
     INPUT_SPREAD},
    {"conv2d (3,5,6) k3 s1 p1 -> 4",
     {.ops = &conv2d_ops, .in = {3, 5, 6}, .channels = 4, .kernel = 3, .stride = 1, .pad = 1},
     2,
     INPUT_SPREAD},
    {"conv2d (2,7,6) k3 s2 p0 -> 3",
     {.ops = &conv2d_ops, .in = {2, 7, 6}, .channels = 3, .kernel = 3, .stride = 2, .pad = 0},
     2,
     INPUT_SPREAD},
    {"conv2d (2,7,6) k3 s2 p1 -> 3",
     {.ops = &conv2d_ops, .in = {2, 7, 6}, .channels = 3, .kernel = 3, .stride = 2, .pad = 1},
     2,
     INPUT_SPREAD},
    {"conv2d (3,4,4) k1 s1 p0 -> 2",
     {.ops = &conv2d_ops, .in = {3, 4, 4}, .channels = 2, .kernel = 1, .stride = 1, .pad = 0},
     2,
     INPUT_SPREAD},
    {"conv2d (2,4,3) k5 s2 p2 -> 3 (kernel wider than input)",
     {.ops = &conv2d_ops, .in = {2, 4, 3}, .channels = 3, .kernel = 5, .stride = 2, .pad = 2},
     2,
     INPUT_SPREAD},
    {"conv2d (2,8,7) k3 s3 p1 -> 3",
     {.ops = &conv2d_ops, .in = {2, 8, 7}, .channels = 3, .kernel = 3, .stride = 3, .pad = 1},
     2,
     INPUT_SPREAD},
    {"maxpool (3,4,6) k2 s2",
     {.ops = &maxpool_ops, .in = {3, 4, 6}, .kernel = 2, .stride = 2},
     2,
     INPUT_DISTINCT},
    {"maxpool (2,5,7) k2 s2 (odd sizes)",
     {.ops = &maxpool_ops, .in = {2, 5, 7}, .kernel = 2, .stride = 2},
     2,
     INPUT_DISTINCT},
    {"maxpool (2,5,5) k3 s1 (overlapping)",
     {.ops = &maxpool_ops, .in = {2, 5, 5}, .kernel = 3, .stride = 1},
     2,
     INPUT_DISTINCT},
    {"maxpool (2,7,8) k2 s3 (gaps between windows)",
     {.ops = &maxpool_ops, .in = {2, 7, 8}, .kernel = 2, .stride = 3},
     2,
     INPUT_DISTINCT},
    {"flatten (2,3,4)", {.ops = &flatten_ops, .in = {2, 3, 4}}, 2, INPUT_SPREAD},
    {"batchnorm (3,2,3), the whole batch",
     {.ops = &batchnorm_ops, .in = {3, 2, 3}},
     4,
     INPUT_SPREAD},
    {"batchnorm (3,2,3) group 2, batch 5 (the last group of 1)",
     {.ops = &batchnorm_ops, .in = {3, 2, 3}, .group = 2},
     5,
     INPUT_SPREAD},
    {"batchnorm (4,1,1) group 4, batch 11 (groups of 4, 4, 3)",
     {.ops = &batchnorm_ops, .in = {4, 1, 1}, .group = 4},
     11,
     INPUT_SPREAD},
    {"avgpool (3,4,5)", {.ops = &avgpool_ops, .in = {3, 4, 5}}, 2, INPUT_SPREAD},
    {"avgpool (2,1,3)", {.ops = &avgpool_ops, .in = {2, 1, 3}}, 3, INPUT_SPREAD},
    {"layernorm (3,5,1)", {.ops = &layernorm_ops, .in = {3, 5, 1}}, 2, INPUT_SPREAD},
    {"layernorm (2,4,3)", {.ops = &layernorm_ops, .in = {2, 4, 3}}, 2, INPUT_SPREAD},
    {"gelu (4,6,1)", {.ops = &gelu_ops, .in = {4, 6, 1}}, 2, INPUT_SPREAD},
    {"attention (4,18,1) heads 2 (hs 3)",
     {.ops = &attention_ops, .in = {4, 18, 1}, .heads = 2},
     2,
     INPUT_SPREAD},
    {"attention (5,12,1) heads 1 (hs 4)",
     {.ops = &attention_ops, .in = {5, 12, 1}, .heads = 1},
     2,
     INPUT_SPREAD},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* One case's layer with every buffer a forward and backward call touch,
 * each allocated to exactly its size so that ASan sees any overrun. */
typedef struct Bufs {
    Layer l;
    int batch;
    size_t n_in, n_out, n_par, n_scr, n_sav;
    float *params;  /* (n_par) */
    float *dparams; /* (n_par) */
    float *in;      /* (batch, in) */
    float *out;     /* (batch, out) */
    float *dout;    /* (batch, out): the r of L = sum(out .* r) */
    float *din;     /* (batch, in) */
    float *scratch; /* (n_scr) */
    float *saved;   /* (n_sav): what forward keeps for backward */
} Bufs;

static float *alloc_floats(size_t n)
{
    return malloc((n ? n : 1) * sizeof(float));
}

static void fill_uniform(float *x, size_t n, float lo, float hi, Rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform(rng);
}

static void fill_value(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

static void fill_input(float *x, size_t n, InputKind kind, Rng *rng)
{
    if (kind == INPUT_SPREAD) {
        fill_uniform(x, n, -1.0f, 1.0f, rng);
    } else if (kind == INPUT_AWAY_FROM_ZERO) {
        for (size_t i = 0; i < n; i++) {
            float mag = 0.1f + 0.9f * rng_uniform(rng);
            x[i] = rng_uniform(rng) < 0.5f ? -mag : mag;
        }
    } else {
        int *idx = malloc(n * sizeof *idx);
        for (size_t i = 0; i < n; i++)
            idx[i] = (int)i;
        rng_shuffle(rng, idx, (int)n);
        for (size_t i = 0; i < n; i++)
            x[i] = 0.05f * ((float)idx[i] - 0.5f * (float)n);
        free(idx);
    }
}

/* saved_floats, 0 for kinds that save nothing (NULL). */
static size_t saved_floats(const Layer *l, int batch)
{
    return l->ops->saved_floats ? l->ops->saved_floats(l, batch) : 0;
}

/* Set up the case's layer (which must succeed) and fill its buffers:
 * random parameters, input by the case's kind, dout = r, NaN elsewhere so
 * that anything read before it is written shows up. */
static void bufs_make(Bufs *b, const Case *c, uint64_t stream)
{
    DtError err = {0};
    b->l = c->layer;
    int rc = b->l.ops->setup(&b->l, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    b->batch = c->batch;
    b->n_in = (size_t)c->batch * shape_size(b->l.in);
    b->n_out = (size_t)c->batch * shape_size(b->l.out);
    b->n_par = b->l.param_count;
    b->n_scr = b->l.ops->scratch_floats(&b->l, c->batch);
    b->n_sav = saved_floats(&b->l, c->batch);
    b->params = alloc_floats(b->n_par);
    b->dparams = alloc_floats(b->n_par);
    b->in = alloc_floats(b->n_in);
    b->out = alloc_floats(b->n_out);
    b->dout = alloc_floats(b->n_out);
    b->din = alloc_floats(b->n_in);
    b->scratch = alloc_floats(b->n_scr);
    b->saved = alloc_floats(b->n_sav);

    Rng rng = rng_make(2024, stream);
    fill_uniform(b->params, b->n_par, -0.5f, 0.5f, &rng);
    fill_input(b->in, b->n_in, c->input, &rng);
    fill_uniform(b->dout, b->n_out, -1.0f, 1.0f, &rng);
    fill_value(b->dparams, b->n_par, 0.0f);
    fill_value(b->out, b->n_out, NAN);
    fill_value(b->din, b->n_in, NAN);
    fill_value(b->scratch, b->n_scr, NAN);
    fill_value(b->saved, b->n_sav, NAN);
}

static void bufs_free(Bufs *b)
{
    free(b->params);
    free(b->dparams);
    free(b->in);
    free(b->out);
    free(b->dout);
    free(b->din);
    free(b->scratch);
    free(b->saved);
}

static LayerIO bufs_io(const Bufs *b)
{
    LayerIO io = {.batch = b->batch,
                  .params = b->params,
                  .dparams = b->dparams,
                  .in = b->in,
                  .out = b->out,
                  .dout = b->dout,
                  .din = b->din,
                  .scratch = b->scratch,
                  .saved = b->saved};
    return io;
}

static void bufs_forward(Bufs *b)
{
    LayerIO io = bufs_io(b);
    fill_value(b->out, b->n_out, NAN);
    fill_value(b->scratch, b->n_scr, NAN);
    fill_value(b->saved, b->n_sav, NAN); /* forward must write all it saves */
    b->l.ops->forward(&b->l, &io);
}

/* Backward into b->dparams (accumulating) and din (NULL to skip), with
 * scratch poisoned first: backward must not rely on forward's scratch (it
 * gets what forward saved in b->saved). */
static void bufs_backward(Bufs *b, float *din)
{
    LayerIO io = bufs_io(b);
    io.din = din;
    fill_value(b->scratch, b->n_scr, NAN);
    b->l.ops->backward(&b->l, &io);
}

/* L = sum(out .* r) in double, after a fresh forward. */
static double bufs_loss(Bufs *b)
{
    bufs_forward(b);
    double loss = 0.0;
    for (size_t i = 0; i < b->n_out; i++)
        loss += (double)b->out[i] * b->dout[i];
    return loss;
}

/* Central differences of L with respect to every x[i] (x is b->in or
 * b->params), dividing by the step actually taken in float. */
static void numeric_gradient(Bufs *b, float *x, size_t n, float *grad /* (n) */)
{
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        float up = saved + FD_EPS, down = saved - FD_EPS;
        x[i] = up;
        double l_up = bufs_loss(b);
        x[i] = down;
        double l_down = bufs_loss(b);
        x[i] = saved;
        grad[i] = (float)((l_up - l_down) / ((double)up - (double)down));
    }
}

static int check_close(const char *label, const char *what, const float *analytic,
                       const float *numeric, size_t n, double tol, double floor)
{
    double d = test_max_rel_diff(analytic, numeric, n, floor);
    if (!(d <= tol)) {
        fprintf(stderr, "\n    %s: %s max rel diff %g > %g\n", label, what, d, tol);
        for (size_t i = 0; i < n; i++)
            if (test_max_rel_diff(analytic + i, numeric + i, 1, floor) > tol) {
                fprintf(stderr, "    first bad [%zu]: %g vs %g\n", i, analytic[i], numeric[i]);
                break;
            }
    }
    return d <= tol;
}

/* Analytic din and dparams of one case against central differences. */
static void check_case_gradients(size_t ci)
{
    const Case *c = &cases[ci];
    Bufs b;
    bufs_make(&b, c, ci);
    bufs_forward(&b);
    bufs_backward(&b, b.din);

    float *num_in = alloc_floats(b.n_in);
    numeric_gradient(&b, b.in, b.n_in, num_in);
    CU_ASSERT(check_close(c->label, "din", b.din, num_in, b.n_in, FD_TOL, FD_FLOOR));
    if (b.n_par) {
        float *num_par = alloc_floats(b.n_par);
        numeric_gradient(&b, b.params, b.n_par, num_par);
        CU_ASSERT(check_close(c->label, "dparams", b.dparams, num_par, b.n_par, FD_TOL, FD_FLOOR));
        free(num_par);
    }
    free(num_in);
    bufs_free(&b);
}

static void check_kind_gradients(const LayerOps *ops)
{
    int seen = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        if (cases[i].layer.ops == ops) {
            check_case_gradients(i);
            seen++;
        }
    }
    CU_ASSERT(seen > 0);
}

static void test_dense_gradients(void)
{
    check_kind_gradients(&dense_ops);
}

static void test_relu_gradients(void)
{
    check_kind_gradients(&relu_ops);
}

static void test_conv2d_gradients(void)
{
    check_kind_gradients(&conv2d_ops);
}

static void test_maxpool_gradients(void)
{
    check_kind_gradients(&maxpool_ops);
}

static void test_flatten_gradients(void)
{
    check_kind_gradients(&flatten_ops);
}

static void test_layernorm_gradients(void)
{
    check_kind_gradients(&layernorm_ops);
}

static void test_batchnorm_gradients(void)
{
    check_kind_gradients(&batchnorm_ops);
}

static void test_avgpool_gradients(void)
{
    check_kind_gradients(&avgpool_ops);
}

static void test_gelu_gradients(void)
{
    check_kind_gradients(&gelu_ops);
}

static void test_attention_gradients(void)
{
    check_kind_gradients(&attention_ops);
}

/* Twice backward from zero: dparams doubles (+=), din comes out the same
 * although it was overwritten with garbage in between (=). */
static void test_backward_accumulates_and_overwrites(void)
{
    for (size_t ci = 0; ci < N_CASES; ci++) {
        Bufs b;
        bufs_make(&b, &cases[ci], 100 + ci);
        bufs_forward(&b);
        bufs_backward(&b, b.din);
        float *once = alloc_floats(b.n_par), *din_once = alloc_floats(b.n_in);
        memcpy(once, b.dparams, b.n_par * sizeof(float));
        memcpy(din_once, b.din, b.n_in * sizeof(float));

        fill_value(b.din, b.n_in, 777.0f);
        bufs_backward(&b, b.din);
        for (size_t i = 0; i < b.n_par; i++)
            once[i] *= 2.0f;
        CU_ASSERT(check_close(cases[ci].label, "dparams after two backwards", b.dparams, once,
                              b.n_par, 1e-6, 1e-6));
        CU_ASSERT(check_close(cases[ci].label, "din after a second backward", b.din, din_once,
                              b.n_in, 1e-6, 1e-6));
        free(once);
        free(din_once);
        bufs_free(&b);
    }
}

/* din == NULL: no crash (ASan would catch a write through NULL), the same
 * parameter gradient, and the caller's din buffer is left alone. */
static void test_backward_without_din(void)
{
    for (size_t ci = 0; ci < N_CASES; ci++) {
        Bufs b;
        bufs_make(&b, &cases[ci], 200 + ci);
        bufs_forward(&b);
        bufs_backward(&b, b.din);
        float *with_din = alloc_floats(b.n_par);
        memcpy(with_din, b.dparams, b.n_par * sizeof(float));

        fill_value(b.dparams, b.n_par, 0.0f);
        fill_value(b.din, b.n_in, 777.0f);
        bufs_backward(&b, NULL);
        CU_ASSERT(check_close(cases[ci].label, "dparams without din", b.dparams, with_din, b.n_par,
                              1e-6, 1e-6));
        int untouched = 1;
        for (size_t i = 0; i < b.n_in; i++)
            untouched &= b.din[i] == 777.0f;
        CU_ASSERT(untouched);
        free(with_din);
        bufs_free(&b);
    }
}

/* out[b][o][y][x] = bias[o] + sum W[o][ci][ky][kx] in[b][ci][y*s-p+ky][x*s-p+kx], in double. */
static void conv2d_naive(const Layer *l, int batch, const float *params, const float *in,
                         float *out /* (batch, channels, oh, ow) */)
{
    const int c = l->in.c, h = l->in.h, w = l->in.w, k = l->kernel;
    const float *wgt = params, *bias = params + (size_t)l->channels * c * k * k;
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < l->channels; o++)
            for (int y = 0; y < l->out.h; y++)
                for (int x = 0; x < l->out.w; x++) {
                    double sum = bias[o];
                    for (int ci = 0; ci < c; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = y * l->stride - l->pad + ky;
                                int ix = x * l->stride - l->pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                sum += (double)wgt[((o * c + ci) * k + ky) * k + kx] *
                                       in[((b * c + ci) * h + iy) * w + ix];
                            }
                    out[((b * l->channels + o) * l->out.h + y) * l->out.w + x] = (float)sum;
                }
}

static Layer setup_ok(Layer l);

/* A layer with a fused ReLU must give exactly what the same layer without
 * it, followed by a relu layer, gives: the same output, and for the same
 * dout the same dparams and din.  (The unfused layer and the relu layer
 * are each checked against finite differences above; this comparison has
 * no trouble with kinks.) */
static void check_fused_relu(Layer fused, int batch, uint64_t seed)
{
    Layer plain = fused;
    plain.relu = 0;
    fused = setup_ok(fused);
    plain = setup_ok(plain);
    Layer relu = setup_ok((Layer){.ops = &relu_ops, .in = plain.out});
    size_t n_in = batch * shape_size(fused.in), n_out = batch * shape_size(fused.out);
    size_t n_par = fused.param_count;
    size_t scratch = fused.ops->scratch_floats(&fused, batch);
    size_t s2 = plain.ops->scratch_floats(&plain, batch);
    if (s2 > scratch)
        scratch = s2;
    float *params = alloc_floats(n_par), *in = alloc_floats(n_in), *dout = alloc_floats(n_out);
    float *out_f = alloc_floats(n_out), *out_p = alloc_floats(n_out), *out_r = alloc_floats(n_out);
    float *dpar_f = alloc_floats(n_par), *dpar_p = alloc_floats(n_par);
    float *din_f = alloc_floats(n_in), *din_p = alloc_floats(n_in), *dmid = alloc_floats(n_out);
    float *scr = alloc_floats(scratch ? scratch : 1);
    memset(dpar_f, 0, n_par * sizeof(float)); /* backward accumulates */
    memset(dpar_p, 0, n_par * sizeof(float));
    Rng r = rng_make(seed, 1);
    fused.ops->init(&fused, params, &r);
    for (size_t i = 0; i < n_par; i++)
        params[i] += 0.2f * (rng_uniform(&r) - 0.5f); /* nonzero biases */
    for (size_t i = 0; i < n_in; i++)
        in[i] = 2.0f * rng_uniform(&r) - 1.0f;
    for (size_t i = 0; i < n_out; i++)
        dout[i] = 2.0f * rng_uniform(&r) - 1.0f;

    fused.ops->forward(
        &fused,
        &(LayerIO){.batch = batch, .params = params, .in = in, .out = out_f, .scratch = scr});
    plain.ops->forward(
        &plain,
        &(LayerIO){.batch = batch, .params = params, .in = in, .out = out_p, .scratch = scr});
    relu.ops->forward(&relu, &(LayerIO){.batch = batch, .in = out_p, .out = out_r});
    CU_ASSERT(check_close("fused relu", "forward", out_f, out_r, n_out, 0.0, 1.0));
    size_t positive = 0;
    for (size_t i = 0; i < n_out; i++)
        positive += out_f[i] > 0.0f;
    CU_ASSERT(positive > n_out / 8 && positive < n_out - n_out / 8); /* both sides exercised */

    fused.ops->backward(&fused, &(LayerIO){.batch = batch,
                                           .params = params,
                                           .dparams = dpar_f,
                                           .in = in,
                                           .out = out_f,
                                           .dout = dout,
                                           .din = din_f,
                                           .scratch = scr});
    relu.ops->backward(
        &relu, &(LayerIO){.batch = batch, .in = out_p, .out = out_r, .dout = dout, .din = dmid});
    plain.ops->backward(&plain, &(LayerIO){.batch = batch,
                                           .params = params,
                                           .dparams = dpar_p,
                                           .in = in,
                                           .out = out_p,
                                           .dout = dmid,
                                           .din = din_p,
                                           .scratch = scr});
    CU_ASSERT(check_close("fused relu", "dparams", dpar_f, dpar_p, n_par, 0.0, 1.0));
    CU_ASSERT(check_close("fused relu", "din", din_f, din_p, n_in, 0.0, 1.0));
    float *bufs[] = {params, in,     dout,  out_f, out_p, out_r,
                     dpar_f, dpar_p, din_f, din_p, dmid,  scr};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

static void test_fused_relu(void)
{
    check_fused_relu((Layer){.ops = &dense_ops, .in = {13, 1, 1}, .units = 9, .relu = 1}, 5, 1);
    check_fused_relu((Layer){.ops = &conv2d_ops,
                             .in = {3, 7, 6},
                             .channels = 5,
                             .kernel = 3,
                             .stride = 1,
                             .pad = 1,
                             .relu = 1},
                     3, 2);
    check_fused_relu((Layer){.ops = &conv2d_ops,
                             .in = {2, 9, 9},
                             .channels = 4,
                             .kernel = 5,
                             .stride = 2,
                             .pad = 2,
                             .relu = 1},
                     2, 3);
}

static void test_conv2d_forward_matches_naive(void)
{
    for (size_t ci = 0; ci < N_CASES; ci++) {
        if (cases[ci].layer.ops != &conv2d_ops)
            continue;
        Bufs b;
        bufs_make(&b, &cases[ci], 300 + ci);
        bufs_forward(&b);
        float *want = alloc_floats(b.n_out);
        conv2d_naive(&b.l, b.batch, b.params, b.in, want);
        CU_ASSERT(check_close(cases[ci].label, "conv2d forward", b.out, want, b.n_out, 1e-5, 1.0));
        free(want);
        bufs_free(&b);
    }
}

/* The gradients of conv2d_naive, in double: dW and db (param_count) and
 * din (batch, c, h, w), all overwritten. */
static void conv2d_naive_backward(const Layer *l, int batch, const float *params, const float *in,
                                  const float *dout, double *dparams, double *din)
{
    const int c = l->in.c, h = l->in.h, w = l->in.w, k = l->kernel;
    const int oh = l->out.h, ow = l->out.w, ch = l->channels;
    const float *wgt = params;
    double *dwgt = dparams, *dbias = dparams + (size_t)ch * c * k * k;
    memset(dparams, 0, l->param_count * sizeof *dparams);
    memset(din, 0, (size_t)batch * c * h * w * sizeof *din);
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < ch; o++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double g = dout[((b * ch + o) * oh + y) * ow + x];
                    dbias[o] += g;
                    for (int ci = 0; ci < c; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = y * l->stride - l->pad + ky;
                                int ix = x * l->stride - l->pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                int wi = ((o * c + ci) * k + ky) * k + kx;
                                int ii = ((b * c + ci) * h + iy) * w + ix;
                                dwgt[wi] += g * in[ii];
                                din[ii] += g * wgt[wi];
                            }
                }
}

/* Layers and batches large enough that conv2d splits the batch into several
 * im2col chunks, the last one partial: forward and backward (accumulating
 * onto non-zero dparams) against the direct loops. */
static void test_conv2d_chunks_match_naive(void)
{
    const Case big[] = {
        {"conv2d (3,34,34) k3 s1 p1 -> 4, batch 10",
         {.ops = &conv2d_ops, .in = {3, 34, 34}, .channels = 4, .kernel = 3, .stride = 1, .pad = 1},
         10,
         INPUT_SPREAD},
        {"conv2d (2,66,66) k3 s2 p1 -> 3, batch 15",
         {.ops = &conv2d_ops, .in = {2, 66, 66}, .channels = 3, .kernel = 3, .stride = 2, .pad = 1},
         15,
         INPUT_SPREAD},
    };
    for (size_t ci = 0; ci < sizeof big / sizeof big[0]; ci++) {
        Bufs b;
        bufs_make(&b, &big[ci], 500 + ci);
        size_t ckk = (size_t)b.l.in.c * b.l.kernel * b.l.kernel;
        size_t whole_batch = (ckk + b.l.channels) * (size_t)b.batch * b.l.out.h * b.l.out.w;
        CU_ASSERT(b.n_scr < whole_batch); /* the batch really is split */

        float *want = alloc_floats(b.n_out);
        bufs_forward(&b);
        conv2d_naive(&b.l, b.batch, b.params, b.in, want);
        CU_ASSERT(check_close(big[ci].label, "forward", b.out, want, b.n_out, 1e-5, 1.0));

        Rng rng = rng_make(3, ci);
        float *start = alloc_floats(b.n_par), *got = alloc_floats(b.n_par);
        fill_uniform(start, b.n_par, -1.0f, 1.0f, &rng);
        memcpy(b.dparams, start, b.n_par * sizeof(float));
        bufs_backward(&b, b.din);
        for (size_t i = 0; i < b.n_par; i++)
            got[i] = b.dparams[i] - start[i];

        double *dpar = malloc(b.n_par * sizeof *dpar), *din = malloc(b.n_in * sizeof *din);
        conv2d_naive_backward(&b.l, b.batch, b.params, b.in, b.dout, dpar, din);
        float *want_par = alloc_floats(b.n_par), *want_din = alloc_floats(b.n_in);
        for (size_t i = 0; i < b.n_par; i++)
            want_par[i] = (float)dpar[i];
        for (size_t i = 0; i < b.n_in; i++)
            want_din[i] = (float)din[i];
        /* each dW entry sums batch*oh*ow products: its float error grows
         * like the square root of that */
        double terms = (double)b.batch * b.l.out.h * b.l.out.w;
        CU_ASSERT(check_close(big[ci].label, "dparams", got, want_par, b.n_par, 1e-5, sqrt(terms)));
        CU_ASSERT(check_close(big[ci].label, "din", b.din, want_din, b.n_in, 1e-5, 1.0));
        free(dpar);
        free(din);
        free(want_par);
        free(want_din);
        free(start);
        free(got);
        free(want);
        bufs_free(&b);
    }
}

static void maxpool_naive(const Layer *l, int batch, const float *in,
                          float *out /* (batch, c, oh, ow) */)
{
    const int h = l->in.h, w = l->in.w, k = l->kernel, s = l->stride;
    for (int p = 0; p < batch * l->in.c; p++)
        for (int y = 0; y < l->out.h; y++)
            for (int x = 0; x < l->out.w; x++) {
                float m = -INFINITY;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        m = fmaxf(m, in[(p * h + y * s + ky) * w + x * s + kx]);
                out[(p * l->out.h + y) * l->out.w + x] = m;
            }
}

static void test_maxpool_forward_matches_naive(void)
{
    for (size_t ci = 0; ci < N_CASES; ci++) {
        if (cases[ci].layer.ops != &maxpool_ops)
            continue;
        Bufs b;
        bufs_make(&b, &cases[ci], 400 + ci);
        fill_uniform(b.in, b.n_in, -1.0f, 1.0f, &(Rng){ci}); /* ties do not matter here */
        bufs_forward(&b);
        float *want = alloc_floats(b.n_out);
        maxpool_naive(&b.l, b.batch, b.in, want);
        CU_ASSERT(memcmp(b.out, want, b.n_out * sizeof(float)) == 0);
        free(want);
        bufs_free(&b);
    }
}

/* Ties go to the first maximum in row-major window order; elements that
 * are no window's maximum get 0. */
static void test_maxpool_ties_and_routing(void)
{
    Layer l = {.ops = &maxpool_ops, .in = {1, 2, 6}, .kernel = 2, .stride = 2};
    CU_ASSERT_EQUAL_FATAL(l.ops->setup(&l, NULL), 0);
    /* windows: [5 5; 5 5] -> top-left, [1 3; 3 2] -> top-right, [0 -1; -1 4] -> bottom-right */
    const float in[12] = {5, 5, 1, 3, 0,  -1, /* row 0 */
                          5, 5, 3, 2, -1, 4 /* row 1 */};
    const float dout[3] = {10, 20, 30};
    const float want_din[12] = {10, 0, 0, 20, 0, 0, /* row 0 */
                                0,  0, 0, 0,  0, 30 /* row 1 */};
    float out[3], din[12];
    fill_value(din, 12, NAN);
    LayerIO io = {.batch = 1, .in = in, .out = out, .dout = dout, .din = din};
    l.ops->forward(&l, &io);
    CU_ASSERT_EQUAL(out[0], 5.0f);
    CU_ASSERT_EQUAL(out[1], 3.0f);
    CU_ASSERT_EQUAL(out[2], 4.0f);
    l.ops->backward(&l, &io);
    CU_ASSERT(memcmp(din, want_din, sizeof din) == 0);
}

/* ReLU's backward tests out > 0: zero input passes no gradient. */
static void test_relu_values(void)
{
    Layer l = {.ops = &relu_ops, .in = {4, 1, 1}};
    CU_ASSERT_EQUAL_FATAL(l.ops->setup(&l, NULL), 0);
    const float in[4] = {-1.5f, 0.0f, 2.0f, -0.0f};
    const float dout[4] = {1, 2, 3, 4};
    float out[4], din[4];
    LayerIO io = {.batch = 1, .in = in, .out = out, .dout = dout, .din = din};
    l.ops->forward(&l, &io);
    l.ops->backward(&l, &io);
    const float want_out[4] = {0, 0, 2, 0}, want_din[4] = {0, 0, 3, 0};
    CU_ASSERT(memcmp(out, want_out, sizeof out) == 0);
    CU_ASSERT(memcmp(din, want_din, sizeof din) == 0);
}

/* The residual add: out = in + in2 exactly; both input gradients are dout
 * (the derivative of a sum, so finite differences of L = sum(out .* r)
 * give r for every input float, which the copies are); either may be
 * skipped; no FLOPs backward, one addition per element forward. */
static void test_add_values(void)
{
    Layer l = {.ops = &add_ops, .in = {2, 3, 1}, .in2 = {2, 3, 1}};
    CU_ASSERT_EQUAL_FATAL(l.ops->setup(&l, NULL), 0);
    enum { N = 2 * 2 * 3 }; /* batch 2 */
    float a[N], b[N], dout[N], out[N], din[N], din2[N];
    Rng rng = rng_make(99, 1);
    fill_uniform(a, N, -1.0f, 1.0f, &rng);
    fill_uniform(b, N, -1.0f, 1.0f, &rng);
    fill_uniform(dout, N, -1.0f, 1.0f, &rng);
    LayerIO io = {
        .batch = 2, .in = a, .in2 = b, .out = out, .dout = dout, .din = din, .din2 = din2};
    l.ops->forward(&l, &io);
    int sums = 1;
    for (int i = 0; i < N; i++)
        sums &= out[i] == a[i] + b[i];
    CU_ASSERT(sums);
    fill_value(din, N, NAN);
    fill_value(din2, N, NAN);
    l.ops->backward(&l, &io);
    CU_ASSERT(memcmp(din, dout, sizeof din) == 0 && memcmp(din2, dout, sizeof din2) == 0);
    fill_value(din2, N, NAN);
    io.din = NULL; /* only the second input's gradient */
    l.ops->backward(&l, &io);
    CU_ASSERT(memcmp(din2, dout, sizeof din2) == 0);
    CU_ASSERT_EQUAL(l.ops->forward_flops(&l, 2), (double)N);
    CU_ASSERT_EQUAL(l.ops->backward_flops(&l, 2, 1), 0.0);
    Layer bad = {.ops = &add_ops, .in = {2, 3, 1}, .in2 = {3, 2, 1}};
    CU_ASSERT_EQUAL(bad.ops->setup(&bad, NULL), -1);
}

/* Dense on a hand-sized example: out = in W^T + b. */
static void test_dense_values(void)
{
    Layer l = {.ops = &dense_ops, .in = {3, 1, 1}, .units = 2};
    CU_ASSERT_EQUAL_FATAL(l.ops->setup(&l, NULL), 0);
    const float params[8] = {1, 2, 3, /* W row 0 */ -1, 0, 1, /* W row 1 */ 0.5f, -2 /* b */};
    const float in[6] = {1, 1, 1, /* sample 0 */ 2, 0, -1 /* sample 1 */};
    float out[4];
    LayerIO io = {.batch = 2, .params = params, .in = in, .out = out};
    l.ops->forward(&l, &io);
    const float want[4] = {6.5f, -2.0f, /* sample 0 */ -0.5f, -5.0f /* sample 1 */};
    CU_ASSERT(memcmp(out, want, sizeof out) == 0);
}

/* ---- transformer layers ---- */

/* Embedding forward against direct loops (bitwise: one float add each),
 * and backward accumulating onto non-zero dwte/dwpe, in double, with a
 * token repeated within a sample (its wte row gets both dout rows), a
 * token unused (its row is left as it was) and din NULL. */
static void test_embed_values(void)
{
    enum { T = 4, C = 3, V = 6, B = 2 };
    Layer l = setup_ok((Layer){.ops = &embed_ops, .in = {T, 1, 1}, .units = C, .vocab = V});
    CU_ASSERT_EQUAL_FATAL(l.param_count, (size_t)V * C + (size_t)T * C);
    const float ids[B * T] = {1, 4, 1, 0, /* sample 0: 1 twice */ 2, 2, 3, 1 /* 5 unused */};
    float params[V * C + T * C], dparams[V * C + T * C], start[V * C + T * C];
    float out[B * T * C], dout[B * T * C], want[V * C + T * C];
    Rng rng = rng_make(11, 0);
    fill_uniform(params, V * C + T * C, -1.0f, 1.0f, &rng);
    fill_uniform(start, V * C + T * C, -1.0f, 1.0f, &rng);
    fill_uniform(dout, B * T * C, -1.0f, 1.0f, &rng);
    memcpy(dparams, start, sizeof dparams);
    fill_value(out, B * T * C, NAN);
    LayerIO io = {.batch = B,
                  .params = params,
                  .dparams = dparams,
                  .in = ids,
                  .out = out,
                  .dout = dout,
                  .din = NULL};
    l.ops->forward(&l, &io);
    l.ops->backward(&l, &io);

    const float *wte = params, *wpe = params + V * C;
    int same = 1;
    double acc[V * C + T * C];
    for (int i = 0; i < V * C + T * C; i++)
        acc[i] = start[i];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int id = (int)ids[b * T + t];
            for (int j = 0; j < C; j++) {
                same &= out[(b * T + t) * C + j] == wte[id * C + j] + wpe[t * C + j];
                acc[id * C + j] += dout[(b * T + t) * C + j];
                acc[V * C + t * C + j] += dout[(b * T + t) * C + j];
            }
        }
    for (int i = 0; i < V * C + T * C; i++)
        want[i] = (float)acc[i];
    CU_ASSERT(same);
    CU_ASSERT(check_close("embed", "dwte, dwpe", dparams, want, V * C + T * C, 1e-6, 1.0));
    CU_ASSERT(memcmp(dparams + 5 * C, start + 5 * C, C * sizeof(float)) == 0); /* token 5 */
}

/* Layer normalisation and its saved statistics against direct loops in
 * double, on rows with a mean far from 0. */
static void test_layernorm_forward_matches_naive(void)
{
    const Case c = {
        "layernorm (6,10,1)", {.ops = &layernorm_ops, .in = {6, 10, 1}}, 3, INPUT_SPREAD};
    Bufs b;
    bufs_make(&b, &c, 600);
    for (size_t i = 0; i < b.n_in; i++)
        b.in[i] = 3.0f * b.in[i] + 1.5f;
    bufs_forward(&b);
    const int cols = 10;
    const size_t rows = b.n_in / cols;
    CU_ASSERT_EQUAL_FATAL(b.n_sav, 2 * rows);
    float *want = alloc_floats(b.n_out), *want_sav = alloc_floats(b.n_sav);
    for (size_t r = 0; r < rows; r++) {
        const float *x = b.in + r * cols;
        double mean = 0.0, var = 0.0;
        for (int j = 0; j < cols; j++)
            mean += x[j];
        mean /= cols;
        for (int j = 0; j < cols; j++)
            var += (x[j] - mean) * (x[j] - mean);
        double rstd = 1.0 / sqrt(var / cols + 1e-5);
        for (int j = 0; j < cols; j++)
            want[r * cols + j] = (float)((x[j] - mean) * rstd * b.params[j] + b.params[cols + j]);
        want_sav[2 * r] = (float)mean;
        want_sav[2 * r + 1] = (float)rstd;
    }
    CU_ASSERT(check_close(c.label, "forward", b.out, want, b.n_out, 1e-5, 1.0));
    CU_ASSERT(check_close(c.label, "mean and rstd", b.saved, want_sav, b.n_sav, 1e-5, 1e-3));
    free(want);
    free(want_sav);
    bufs_free(&b);
}

/* GELU and its derivative at a few points against the formula in double,
 * from the saturated tails to 0. */
static void test_gelu_values(void)
{
    enum { N = 11 };
    const float x[N] = {-10.0f, -3.0f, -1.5f, -1.0f, -0.5f, 0.0f, 0.1f, 0.5f, 1.0f, 3.0f, 10.0f};
    const float ones[N] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    float out[N], din[N];
    Layer l = setup_ok((Layer){.ops = &gelu_ops, .in = {N, 1, 1}});
    LayerIO io = {.batch = 1, .in = x, .out = out, .dout = ones, .din = din};
    l.ops->forward(&l, &io);
    l.ops->backward(&l, &io);
    const double k = sqrt(2.0 / M_PI), a = 0.044715;
    for (int i = 0; i < N; i++) {
        double v = x[i], t = tanh(k * (v + a * v * v * v));
        double y = 0.5 * v * (1.0 + t);
        double dy = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * k * (1.0 + 3.0 * a * v * v);
        CU_ASSERT_DOUBLE_EQUAL(out[i], y, 1e-6 * fmax(1.0, fabs(y)));
        CU_ASSERT_DOUBLE_EQUAL(din[i], dy, 1e-6);
    }
    CU_ASSERT_EQUAL(out[5], 0.0f);
    CU_ASSERT_EQUAL(din[5], 0.5f);
}

/* Causal attention in double: out (batch, T, d) and the probabilities p
 * (batch, heads, T, T), 0 where masked. */
static void attention_naive(const Layer *l, int batch, const float *in, double *out, double *p)
{
    const int seq = l->in.c, d = l->out.h, hs = d / l->heads;
    const double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < l->heads; h++)
            for (int t = 0; t < seq; t++) {
                const float *q = in + ((size_t)b * seq + t) * 3 * d + h * hs;
                double *row = p + (((size_t)b * l->heads + h) * seq + t) * seq;
                double max = -INFINITY, sum = 0.0;
                for (int j = 0; j < seq; j++) {
                    const float *k = in + ((size_t)b * seq + j) * 3 * d + d + h * hs;
                    double s = 0.0;
                    for (int c = 0; c < hs; c++)
                        s += (double)q[c] * k[c];
                    row[j] = j <= t ? s * scale : 0.0;
                    max = j <= t ? fmax(max, row[j]) : max;
                }
                for (int j = 0; j <= t; j++) {
                    row[j] = exp(row[j] - max);
                    sum += row[j];
                }
                for (int j = 0; j <= t; j++)
                    row[j] /= sum;
                for (int c = 0; c < hs; c++) {
                    double o = 0.0;
                    for (int j = 0; j <= t; j++)
                        o += row[j] * in[((size_t)b * seq + j) * 3 * d + 2 * d + h * hs + c];
                    out[((size_t)b * seq + t) * d + h * hs + c] = o;
                }
            }
}

#define ATT_MAX_T 16

/* The gradient of attention_naive for dout, given its p: din (batch, T,
 * 3d), overwritten. */
static void attention_naive_backward(const Layer *l, int batch, const float *in, const float *dout,
                                     const double *p, double *din)
{
    const int seq = l->in.c, d = l->out.h, hs = d / l->heads;
    const double scale = 1.0 / sqrt((double)hs);
    memset(din, 0, (size_t)batch * seq * 3 * d * sizeof *din);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < l->heads; h++)
            for (int t = 0; t < seq; t++) {
                const double *row = p + (((size_t)b * l->heads + h) * seq + t) * seq;
                const float *g = dout + ((size_t)b * seq + t) * d + h * hs;
                size_t qt = ((size_t)b * seq + t) * 3 * d + h * hs;
                double dp[ATT_MAX_T], dot = 0.0;
                for (int j = 0; j <= t; j++) {
                    size_t vj = ((size_t)b * seq + j) * 3 * d + 2 * d + h * hs;
                    dp[j] = 0.0;
                    for (int c = 0; c < hs; c++) {
                        dp[j] += (double)g[c] * in[vj + c];
                        din[vj + c] += row[j] * g[c];
                    }
                    dot += row[j] * dp[j];
                }
                for (int j = 0; j <= t; j++) {
                    size_t kj = ((size_t)b * seq + j) * 3 * d + d + h * hs;
                    double ds = row[j] * (dp[j] - dot) * scale;
                    for (int c = 0; c < hs; c++) {
                        din[qt + c] += ds * in[kj + c];
                        din[kj + c] += ds * in[qt + c];
                    }
                }
            }
}

static void doubles_to_floats(const double *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)x[i];
}

/* T 5, heads 2, hs 4, batch 2: output, saved probabilities (the masked
 * ones exactly 0) and din against the double loops. */
static void test_attention_matches_naive(void)
{
    const Case c = {"attention (5,24,1) heads 2",
                    {.ops = &attention_ops, .in = {5, 24, 1}, .heads = 2},
                    2,
                    INPUT_SPREAD};
    Bufs b;
    bufs_make(&b, &c, 700);
    const int seq = b.l.in.c;
    CU_ASSERT_FATAL(seq <= ATT_MAX_T);
    for (size_t i = 0; i < b.n_in; i++)
        b.in[i] *= 2.0f; /* scores of a few units: peaked and flat rows */
    bufs_forward(&b);
    bufs_backward(&b, b.din);
    CU_ASSERT_EQUAL_FATAL(b.n_sav, (size_t)b.batch * 2 * seq * seq);

    double *out = malloc(b.n_out * sizeof *out), *p = malloc(b.n_sav * sizeof *p);
    double *din = malloc(b.n_in * sizeof *din);
    attention_naive(&b.l, b.batch, b.in, out, p);
    attention_naive_backward(&b.l, b.batch, b.in, b.dout, p, din);
    float *want_out = alloc_floats(b.n_out), *want_p = alloc_floats(b.n_sav);
    float *want_din = alloc_floats(b.n_in);
    doubles_to_floats(out, want_out, b.n_out);
    doubles_to_floats(p, want_p, b.n_sav);
    doubles_to_floats(din, want_din, b.n_in);
    CU_ASSERT(check_close(c.label, "forward", b.out, want_out, b.n_out, 1e-5, 1.0));
    CU_ASSERT(check_close(c.label, "probabilities", b.saved, want_p, b.n_sav, 1e-5, 1.0));
    CU_ASSERT(check_close(c.label, "din", b.din, want_din, b.n_in, 1e-5, 1.0));
    int masked_zero = 1;
    for (size_t m = 0; m < b.n_sav / (seq * seq); m++)
        for (int t = 0; t < seq; t++)
            for (int j = t + 1; j < seq; j++)
                masked_zero &= b.saved[(m * seq + t) * seq + j] == 0.0f;
    CU_ASSERT(masked_zero);
    free(out);
    free(p);
    free(din);
    free(want_out);
    free(want_p);
    free(want_din);
    bufs_free(&b);
}

/* Position t's output does not depend on the queries, keys or values of
 * positions after t: redrawing them leaves rows 0..t bitwise unchanged. */
static void test_attention_causal(void)
{
    const Case c = {"attention (5,24,1) heads 2",
                    {.ops = &attention_ops, .in = {5, 24, 1}, .heads = 2},
                    2,
                    INPUT_SPREAD};
    Bufs b;
    bufs_make(&b, &c, 800);
    const int seq = b.l.in.c;
    const size_t in_row = shape_size(b.l.in) / seq, out_row = shape_size(b.l.out) / seq;
    bufs_forward(&b);
    float *before = alloc_floats(b.n_out);
    memcpy(before, b.out, b.n_out * sizeof(float));
    Rng rng = rng_make(5, 0);
    for (int t = seq - 2; t >= 0; t--) {
        for (int s = 0; s < b.batch; s++) /* redraw positions t+1 .. seq-1 */
            fill_uniform(b.in + ((size_t)s * seq + t + 1) * in_row, (seq - t - 1) * in_row, -1.0f,
                         1.0f, &rng);
        bufs_forward(&b);
        int same = 1;
        for (int s = 0; s < b.batch; s++)
            same &= memcmp(b.out + (size_t)s * seq * out_row, before + (size_t)s * seq * out_row,
                           (t + 1) * out_row * sizeof(float)) == 0;
        CU_ASSERT(same);
        int changed = 0; /* ... and the later rows do change */
        for (int s = 0; s < b.batch; s++)
            changed |= memcmp(b.out + ((size_t)s * seq + t + 1) * out_row,
                              before + ((size_t)s * seq + t + 1) * out_row,
                              (seq - t - 1) * out_row * sizeof(float)) != 0;
        CU_ASSERT(changed);
    }
    free(before);
    bufs_free(&b);
}

/* ---- batch normalisation and average pooling ---- */

/* What batchnorm computes, in double: out, the (mean, rstd) pairs of every
 * (group, channel), and for dout the gradients din and dparams (gamma's,
 * then beta's), all overwritten. */
typedef struct BnRef {
    double *out, *saved, *din, *dpar;
} BnRef;

static void batchnorm_naive(const Layer *l, int batch, const float *params, const float *in,
                            const float *dout, const BnRef *r)
{
    const int c = l->in.c, hw = l->in.h * l->in.w, size = l->group ? l->group : batch;
    const float *gamma = params, *beta = params + c;
    memset(r->dpar, 0, 2 * (size_t)c * sizeof(double));
    for (int s0 = 0, gi = 0; s0 < batch; s0 += size, gi++) {
        const int g = batch - s0 < size ? batch - s0 : size;
        const double n = (double)g * hw;
        for (int ch = 0; ch < c; ch++) {
#define BN_AT(b, p) ((((size_t)s0 + (b)) * c + ch) * hw + (p))
            double mean = 0.0, var = 0.0, sdy = 0.0, sdyx = 0.0;
            for (int b = 0; b < g; b++)
                for (int p = 0; p < hw; p++)
                    mean += in[BN_AT(b, p)];
            mean /= n;
            for (int b = 0; b < g; b++)
                for (int p = 0; p < hw; p++)
                    var += (in[BN_AT(b, p)] - mean) * (in[BN_AT(b, p)] - mean);
            double rstd = 1.0 / sqrt(var / n + 1e-5);
            for (int b = 0; b < g; b++)
                for (int p = 0; p < hw; p++) {
                    double xhat = (in[BN_AT(b, p)] - mean) * rstd;
                    r->out[BN_AT(b, p)] = xhat * gamma[ch] + beta[ch];
                    sdy += dout[BN_AT(b, p)];
                    sdyx += dout[BN_AT(b, p)] * xhat;
                }
            for (int b = 0; b < g; b++)
                for (int p = 0; p < hw; p++) {
                    double xhat = (in[BN_AT(b, p)] - mean) * rstd;
                    r->din[BN_AT(b, p)] =
                        rstd * gamma[ch] * (dout[BN_AT(b, p)] - sdy / n - xhat * sdyx / n);
                }
#undef BN_AT
            r->saved[2 * ((size_t)gi * c + ch)] = mean;
            r->saved[2 * ((size_t)gi * c + ch) + 1] = rstd;
            r->dpar[ch] += sdyx;
            r->dpar[c + ch] += sdy;
        }
    }
}

static void check_close_double(const char *label, const char *what, const float *got,
                               const double *want, size_t n, double tol, double floor)
{
    float *w = alloc_floats(n);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)want[i];
    CU_ASSERT(check_close(label, what, got, w, n, tol, floor));
    free(w);
}

/* Forward (output and statistics) and backward (din, dgamma, dbeta)
 * against batchnorm_naive, on inputs whose mean is far from 0, for the
 * whole batch and for groups with a smaller last one. */
static void test_batchnorm_matches_naive(void)
{
    const Case cs[] = {
        {"batchnorm (4,3,5), batch 6", {.ops = &batchnorm_ops, .in = {4, 3, 5}}, 6, INPUT_SPREAD},
        {"batchnorm (4,3,5) group 3, batch 7",
         {.ops = &batchnorm_ops, .in = {4, 3, 5}, .group = 3},
         7,
         INPUT_SPREAD},
        {"batchnorm (3,6,6) group 2, batch 4",
         {.ops = &batchnorm_ops, .in = {3, 6, 6}, .group = 2},
         4,
         INPUT_SPREAD},
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        Bufs b;
        bufs_make(&b, &cs[ci], 900 + ci);
        for (size_t i = 0; i < b.n_in; i++)
            b.in[i] = 3.0f * b.in[i] + 1.5f;
        bufs_forward(&b);
        bufs_backward(&b, b.din);
        BnRef r = {malloc(b.n_out * sizeof(double)), malloc(b.n_sav * sizeof(double)),
                   malloc(b.n_in * sizeof(double)), malloc(b.n_par * sizeof(double))};
        batchnorm_naive(&b.l, b.batch, b.params, b.in, b.dout, &r);
        const char *label = cs[ci].label;
        check_close_double(label, "forward", b.out, r.out, b.n_out, 1e-5, 1.0);
        check_close_double(label, "mean and rstd", b.saved, r.saved, b.n_sav, 1e-5, 1e-3);
        check_close_double(label, "din", b.din, r.din, b.n_in, 1e-5, 1.0);
        check_close_double(label, "dgamma, dbeta", b.dparams, r.dpar, b.n_par, 1e-5, 1.0);
        free(r.out);
        free(r.saved);
        free(r.din);
        free(r.dpar);
        bufs_free(&b);
    }
}

/* Ghost batch norm is what separate calls compute: group g over `batch`
 * samples gives, bitwise, the outputs, statistics and input gradients of
 * one call (group 0) per group of g consecutive samples (the last one
 * smaller when g does not divide batch), and the parameter gradient those
 * calls accumulate one after the other: what data-parallel workers of g
 * samples each compute and sum. */
static void check_groups_are_calls(int group, int batch, uint64_t seed)
{
    const Case c = {"batchnorm (3,4,4) grouped",
                    {.ops = &batchnorm_ops, .in = {3, 4, 4}, .group = group},
                    batch,
                    INPUT_SPREAD};
    Case one = c;
    one.layer.group = 0;
    one.batch = group < batch ? group : batch;
    Bufs whole, part;
    bufs_make(&whole, &c, seed);
    bufs_make(&part, &one, seed + 1);
    memcpy(part.params, whole.params, whole.n_par * sizeof(float));
    bufs_forward(&whole);
    bufs_backward(&whole, whole.din);
    const size_t per = shape_size(whole.l.in), sav = 2 * (size_t)whole.l.in.c;
    int same = 1, calls = 0;
    for (int s0 = 0; s0 < batch; s0 += one.batch, calls++) {
        part.batch = batch - s0 < one.batch ? batch - s0 : one.batch;
        const size_t n = (size_t)part.batch * per;
        memcpy(part.in, whole.in + s0 * per, n * sizeof(float));
        memcpy(part.dout, whole.dout + s0 * per, n * sizeof(float));
        bufs_forward(&part);
        bufs_backward(&part, part.din);
        same &= memcmp(part.out, whole.out + s0 * per, n * sizeof(float)) == 0;
        same &= memcmp(part.saved, whole.saved + calls * sav, sav * sizeof(float)) == 0;
        same &= memcmp(part.din, whole.din + s0 * per, n * sizeof(float)) == 0;
    }
    CU_ASSERT_EQUAL(calls * sav, whole.n_sav);
    if (!same)
        fprintf(stderr, "\n    group %d, batch %d: a call's results differ\n", group, batch);
    CU_ASSERT(same);
    CU_ASSERT(memcmp(part.dparams, whole.dparams, whole.n_par * sizeof(float)) == 0);
    bufs_free(&whole);
    bufs_free(&part);
}

static void test_batchnorm_groups_are_calls(void)
{
    check_groups_are_calls(2, 6, 1000); /* 3 workers of 2 */
    check_groups_are_calls(4, 12, 1010);
    check_groups_are_calls(2, 5, 1020); /* 2, 2, 1 */
    check_groups_are_calls(3, 3, 1030); /* one group: the whole batch */
    check_groups_are_calls(8, 5, 1040); /* a group larger than the batch */
}

/* Global average pooling against its definition, and the gradient that
 * spreads each dout over the positions. */
static void test_avgpool_values(void)
{
    Layer l = setup_ok((Layer){.ops = &avgpool_ops, .in = {2, 2, 3}});
    const float in[12] = {1,  2, 3, 4, 5, 6, /* channel 0: mean 3.5 */
                          -6, 0, 0, 0, 0, 0 /* channel 1: mean -1 */};
    const float dout[2] = {12, -3};
    const float want_din[12] = {2, 2, 2, 2, 2, 2, -0.5f, -0.5f, -0.5f, -0.5f, -0.5f, -0.5f};
    float out[2], din[12];
    LayerIO io = {.batch = 1, .in = in, .out = out, .dout = dout, .din = din};
    l.ops->forward(&l, &io);
    l.ops->backward(&l, &io);
    CU_ASSERT_EQUAL(out[0], 3.5f);
    CU_ASSERT_EQUAL(out[1], -1.0f);
    CU_ASSERT(memcmp(din, want_din, sizeof din) == 0);
}

/* ---- softmax cross-entropy ---- */

#define SX_BATCH 4
#define SX_CLASSES 5

static double softmax_loss_scaled(SoftmaxXent *s)
{
    return s->scale * softmax_xent_forward(s);
}

static void test_softmax_gradients(void)
{
    float logits[SX_BATCH * SX_CLASSES], probs[SX_BATCH * SX_CLASSES];
    float dlogits[SX_BATCH * SX_CLASSES], num[SX_BATCH * SX_CLASSES];
    unsigned char labels[SX_BATCH] = {0, 4, 2, 2};
    Rng rng = rng_make(7, 0);
    fill_uniform(logits, SX_BATCH * SX_CLASSES, -2.0f, 2.0f, &rng);
    SoftmaxXent s = {.batch = SX_BATCH,
                     .classes = SX_CLASSES,
                     .logits = logits,
                     .labels = labels,
                     .probs = probs,
                     .dlogits = dlogits,
                     .scale = 0.3f};
    softmax_xent_forward(&s);
    fill_value(dlogits, SX_BATCH * SX_CLASSES, NAN);
    softmax_xent_backward(&s);
    for (int i = 0; i < SX_BATCH * SX_CLASSES; i++) {
        float saved = logits[i], up = saved + FD_EPS, down = saved - FD_EPS;
        logits[i] = up;
        double l_up = softmax_loss_scaled(&s);
        logits[i] = down;
        double l_down = softmax_loss_scaled(&s);
        logits[i] = saved;
        num[i] = (float)((l_up - l_down) / ((double)up - (double)down));
    }
    CU_ASSERT(check_close("softmax_xent", "dlogits", dlogits, num, SX_BATCH * SX_CLASSES, FD_TOL,
                          FD_FLOOR * 0.3));
}

/* Probabilities and loss against a double-precision reference. */
static void test_softmax_values(void)
{
    float logits[SX_BATCH * SX_CLASSES], probs[SX_BATCH * SX_CLASSES];
    float want[SX_BATCH * SX_CLASSES];
    unsigned char labels[SX_BATCH] = {1, 3, 0, 4};
    Rng rng = rng_make(8, 0);
    fill_uniform(logits, SX_BATCH * SX_CLASSES, -5.0f, 5.0f, &rng);
    SoftmaxXent s = {.batch = SX_BATCH,
                     .classes = SX_CLASSES,
                     .logits = logits,
                     .labels = labels,
                     .probs = probs};
    double loss = softmax_xent_forward(&s);
    double want_loss = 0.0;
    for (int i = 0; i < SX_BATCH; i++) {
        const float *x = logits + i * SX_CLASSES;
        double sum = 0.0, row = 0.0;
        for (int j = 0; j < SX_CLASSES; j++)
            sum += exp(x[j]);
        for (int j = 0; j < SX_CLASSES; j++) {
            want[i * SX_CLASSES + j] = (float)(exp(x[j]) / sum);
            row += probs[i * SX_CLASSES + j];
        }
        want_loss -= log(exp(x[labels[i]]) / sum);
        CU_ASSERT_DOUBLE_EQUAL(row, 1.0, 1e-6);
    }
    CU_ASSERT(check_close("softmax_xent", "probs", probs, want, SX_BATCH * SX_CLASSES, 1e-5, 1e-6));
    CU_ASSERT_DOUBLE_EQUAL(loss, want_loss, 1e-5 * fabs(want_loss));
}

/* Logits of +-1000 overflow a naive exp; the stable form must give finite
 * probabilities that sum to 1, a finite loss (2000 when the label's
 * probability underflows to 0) and finite gradients. */
static void test_softmax_extreme_logits(void)
{
    float logits[3 * 3] = {1000,  -1000, 0,   /* label 1: prob underflows to 0 */
                           -1000, 1000,  999, /* label 2 */
                           -1000, -1000, -1000 /* label 0: uniform */};
    unsigned char labels[3] = {1, 2, 0};
    float probs[9], dlogits[9];
    SoftmaxXent s = {.batch = 3,
                     .classes = 3,
                     .logits = logits,
                     .labels = labels,
                     .probs = probs,
                     .dlogits = dlogits,
                     .scale = 1.0f / 3.0f};
    double loss = softmax_xent_forward(&s);
    softmax_xent_backward(&s);
    int finite = 1;
    for (int i = 0; i < 9; i++)
        finite &= isfinite(probs[i]) && isfinite(dlogits[i]);
    CU_ASSERT(finite);
    CU_ASSERT(isfinite(loss));
    for (int i = 0; i < 3; i++)
        CU_ASSERT_DOUBLE_EQUAL(probs[3 * i] + probs[3 * i + 1] + probs[3 * i + 2], 1.0, 1e-6);
    /* 2000 + (log(1 + e^-1) + 1) + log(3) */
    double want = 2000.0 + (log(1.0 + exp(-1.0)) + 1.0) + log(3.0);
    CU_ASSERT_DOUBLE_EQUAL(loss, want, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(dlogits[1], -1.0 / 3.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dlogits[0], 1.0 / 3.0, 1e-6);
}

static void test_softmax_correct(void)
{
    const float logits[4 * 3] = {1, 3, 3, /* tie: first max (1) wins */
                                 1, 3, 3, 0, -1, -2, 5, 6, 7};
    const unsigned char labels[4] = {1, 2, 0, 1};
    SoftmaxXent s = {.batch = 4, .classes = 3, .logits = logits, .labels = labels};
    CU_ASSERT_EQUAL(softmax_xent_correct(&s), 2);
}

/* ---- FLOP counts, written out from the shapes ---- */

static Layer setup_ok(Layer l)
{
    DtError err = {0};
    CU_ASSERT_EQUAL(l.ops->setup(&l, &err), 0);
    return l;
}

static void check_flops(Layer l, int batch, double fwd, double bwd_din, double bwd_no_din)
{
    CU_ASSERT_DOUBLE_EQUAL(l.ops->forward_flops(&l, batch), fwd, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(l.ops->backward_flops(&l, batch, 1), bwd_din, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(l.ops->backward_flops(&l, batch, 0), bwd_no_din, 0.0);
}

static void test_flops_dense(void)
{
    /* in 784, units 256, batch 32: GEMM + bias add; dW GEMM + db column
     * sums (+ din GEMM) */
    Layer l = setup_ok((Layer){.ops = &dense_ops, .in = {784, 1, 1}, .units = 256});
    check_flops(l, 32, 2.0 * 32 * 784 * 256 + 32 * 256,
                2.0 * 256 * 784 * 32 + 32 * 256 + 2.0 * 32 * 784 * 256,
                2.0 * 256 * 784 * 32 + 32 * 256);
    /* a (2,3,2) input is 12 features */
    l = setup_ok((Layer){.ops = &dense_ops, .in = {2, 3, 2}, .units = 4});
    check_flops(l, 5, 2.0 * 5 * 12 * 4 + 5 * 4, 2.0 * 4 * 12 * 5 + 5 * 4 + 2.0 * 5 * 12 * 4,
                2.0 * 4 * 12 * 5 + 5 * 4);
    /* a fused ReLU adds one comparison per output each way */
    l = setup_ok((Layer){.ops = &dense_ops, .in = {784, 1, 1}, .units = 256, .relu = 1});
    check_flops(l, 32, 2.0 * 32 * 784 * 256 + 32 * 256 + 32 * 256,
                2.0 * 256 * 784 * 32 + 32 * 256 + 2.0 * 32 * 784 * 256 + 32 * 256,
                2.0 * 256 * 784 * 32 + 32 * 256 + 32 * 256);
}

static void test_flops_relu(void)
{
    /* one comparison per element each way; nothing backward without din */
    Layer l = setup_ok((Layer){.ops = &relu_ops, .in = {256, 1, 1}});
    check_flops(l, 32, 32 * 256, 32 * 256, 0);
    l = setup_ok((Layer){.ops = &relu_ops, .in = {32, 28, 28}});
    check_flops(l, 8, 8 * 32 * 28 * 28, 8 * 32 * 28 * 28, 0);
}

static void test_flops_conv2d(void)
{
    /* (1,28,28) -> 32 channels, k3 s1 p1, batch 8: output 28x28.
     * forward: GEMM (32, 8*28*28, 1*3*3) + bias add per output.
     * backward: dW GEMM + bias partial sums per output + folding them
     * (32 * 28*28); with din, the dcol GEMM and col2im adds: of the three
     * row taps the top one misses output row 0 and the bottom one row 27,
     * so 3*28 - 2 (tap, row) pairs land inside, likewise for columns. */
    Layer l = setup_ok((Layer){
        .ops = &conv2d_ops, .in = {1, 28, 28}, .channels = 32, .kernel = 3, .stride = 1, .pad = 1});
    double n = 8.0 * 28 * 28;
    double bwd = 2.0 * 32 * (1 * 3 * 3) * n + 32 * n + 32 * 28 * 28;
    check_flops(l, 8, 2.0 * 32 * n * (1 * 3 * 3) + 32 * n,
                bwd + 2.0 * (1 * 3 * 3) * n * 32 + 8.0 * 1 * (3 * 28 - 2) * (3 * 28 - 2), bwd);

    /* (3,9,9) -> 4 channels, k3 s2 p0, batch 2: output 4x4; without
     * padding every tap is inside: 3*4 pairs per axis. */
    l = setup_ok((Layer){
        .ops = &conv2d_ops, .in = {3, 9, 9}, .channels = 4, .kernel = 3, .stride = 2, .pad = 0});
    n = 2.0 * 4 * 4;
    bwd = 2.0 * 4 * (3 * 3 * 3) * n + 4 * n + 4 * 4 * 4;
    check_flops(l, 2, 2.0 * 4 * n * (3 * 3 * 3) + 4 * n,
                bwd + 2.0 * (3 * 3 * 3) * n * 4 + 2.0 * 3 * (3 * 4) * (3 * 4), bwd);

    /* (2,7,6) -> 3 channels, k3 s2 p1, batch 2: output 4x3.  Rows: tap 0
     * reads row -1 at oy=0, tap 2 reads row 7 at oy=3: 3*4 - 2 inside.
     * Columns: tap 0 reads column -1 at ox=0, tap 2 reaches column 5 < 6:
     * 3*3 - 1 inside. */
    l = setup_ok((Layer){
        .ops = &conv2d_ops, .in = {2, 7, 6}, .channels = 3, .kernel = 3, .stride = 2, .pad = 1});
    n = 2.0 * 4 * 3;
    bwd = 2.0 * 3 * (2 * 3 * 3) * n + 3 * n + 3 * 4 * 3;
    check_flops(l, 2, 2.0 * 3 * n * (2 * 3 * 3) + 3 * n,
                bwd + 2.0 * (2 * 3 * 3) * n * 3 + 2.0 * 2 * (3 * 4 - 2) * (3 * 3 - 1), bwd);

    /* the same with a fused ReLU: one more comparison per output each way */
    l.relu = 1;
    check_flops(l, 2, 2.0 * 3 * n * (2 * 3 * 3) + 3 * n + 3 * n,
                bwd + 3 * n + 2.0 * (2 * 3 * 3) * n * 3 + 2.0 * 2 * (3 * 4 - 2) * (3 * 3 - 1),
                bwd + 3 * n);
}

/* The col2im term of every conv2d case against a brute-force count of the
 * (tap, output) pairs that do not land on padding. */
static void test_flops_conv2d_col2im_count(void)
{
    for (size_t ci = 0; ci < N_CASES; ci++) {
        if (cases[ci].layer.ops != &conv2d_ops)
            continue;
        Layer l = setup_ok(cases[ci].layer);
        double inside_y = 0, inside_x = 0;
        for (int t = 0; t < l.kernel; t++) {
            for (int o = 0; o < l.out.h; o++) {
                int i = o * l.stride - l.pad + t;
                inside_y += i >= 0 && i < l.in.h;
            }
            for (int o = 0; o < l.out.w; o++) {
                int i = o * l.stride - l.pad + t;
                inside_x += i >= 0 && i < l.in.w;
            }
        }
        double ckk = (double)l.in.c * l.kernel * l.kernel;
        double n = 3.0 * l.out.h * l.out.w;
        double extra = l.ops->backward_flops(&l, 3, 1) - l.ops->backward_flops(&l, 3, 0);
        CU_ASSERT_DOUBLE_EQUAL(
            extra, 2.0 * ckk * n * l.channels + 3.0 * l.in.c * inside_y * inside_x, 0.0);
    }
}

static void test_flops_maxpool(void)
{
    /* (32,28,28) k2 s2, batch 8: 14x14 windows of 2*2 - 1 comparisons;
     * backward the same (the 2x2 path stores dout, it adds nothing) */
    Layer l = setup_ok((Layer){.ops = &maxpool_ops, .in = {32, 28, 28}, .kernel = 2, .stride = 2});
    check_flops(l, 8, 8 * 32 * 14 * 14 * (2 * 2 - 1), 8 * 32 * 14 * 14 * (2 * 2 - 1), 0);
    /* (4,6,6) k3 s3, batch 2: 2x2 windows; the general path adds once a window */
    l = setup_ok((Layer){.ops = &maxpool_ops, .in = {4, 6, 6}, .kernel = 3, .stride = 3});
    check_flops(l, 2, 2 * 4 * 2 * 2 * (3 * 3 - 1), 2 * 4 * 2 * 2 * (3 * 3 - 1) + 2 * 4 * 2 * 2, 0);
    /* (2,5,5) k3 s1, batch 2: 3x3 windows of 3*3 - 1 comparisons */
    l = setup_ok((Layer){.ops = &maxpool_ops, .in = {2, 5, 5}, .kernel = 3, .stride = 1});
    check_flops(l, 2, 2 * 2 * 3 * 3 * (3 * 3 - 1), 2 * 2 * 3 * 3 * (3 * 3 - 1) + 2 * 2 * 3 * 3, 0);
}

static void test_flops_flatten(void)
{
    Layer l = setup_ok((Layer){.ops = &flatten_ops, .in = {32, 7, 7}});
    check_flops(l, 64, 0, 0, 0);
}

static void test_flops_embed(void)
{
    /* T 8, 16 features, vocab 50, batch 4: one add per output forward
     * (wte row + wpe row), two backward (into dwte and dwpe), din or not */
    Layer l = setup_ok((Layer){.ops = &embed_ops, .in = {8, 1, 1}, .units = 16, .vocab = 50});
    check_flops(l, 4, 4 * 8 * 16, 2 * 4 * 8 * 16, 2 * 4 * 8 * 16);
}

static void test_flops_layernorm(void)
{
    /* (8,16,1), batch 4: 32 rows of 16.  Forward per row: sum 16, mean 1,
     * squared deviations 3*16, variance / eps / sqrt / reciprocal 4,
     * normalise-scale-shift 4*16.  Backward per row: xhat 2*16, dgamma
     * 2*16, dbeta 16; with din g 16, sum g 16, sum g*xhat 2*16, two means,
     * din 4*16. */
    Layer l = setup_ok((Layer){.ops = &layernorm_ops, .in = {8, 16, 1}});
    double param = 2 * 16 + 2 * 16 + 16;
    check_flops(l, 4, 4 * 8 * (16 + 1 + 3 * 16 + 4 + 4 * 16),
                4 * 8 * (param + 16 + 16 + 2 * 16 + 2 + 4 * 16), 4 * 8 * param);
    /* a (2,4,3) input is 2 rows of 12 */
    l = setup_ok((Layer){.ops = &layernorm_ops, .in = {2, 4, 3}});
    check_flops(l, 3, 3 * 2 * (8 * 12 + 5), 3 * 2 * (13 * 12 + 2), 3 * 2 * 5 * 12);
}

static void test_flops_batchnorm(void)
{
    /* (16,7,7), batch 8, one group: per channel n = 8*49 values.
     * forward: n adds into the per-position sums, 49 folding them, 1
     * division (mean); 3n (subtract, square, add) and 49 (fold) for the
     * variance, 4 more for rstd (divide, add eps, sqrt, reciprocal); 1
     * for rstd*gamma; 3n (subtract, multiply, add) for the output.
     * backward: 5n for the sums of dy and dy*xhat (xhat 2, add 1, multiply
     * and add 2), 2*49 folding them, 2 adds into dbeta and dgamma; with
     * din 5 (rstd*gamma, two divisions by n, two multiplies) and 5n. */
    Layer l = setup_ok((Layer){.ops = &batchnorm_ops, .in = {16, 7, 7}});
    double n = 8 * 49;
    double param = 16 * (5 * n + 2 * 49 + 2);
    check_flops(l, 8, 16 * ((n + 49 + 1) + (3 * n + 49 + 4) + 1 + 3 * n), param + 16 * (5 + 5 * n),
                param);
    /* group 3, batch 8: groups of 3, 3 and 2 samples, each with its own
     * folds and statistics */
    l = setup_ok((Layer){.ops = &batchnorm_ops, .in = {16, 7, 7}, .group = 3});
    double fwd = 0, bwd = 0, din = 0;
    const int sizes[3] = {3, 3, 2};
    for (int gi = 0; gi < 3; gi++) {
        double ng = sizes[gi] * 49.0;
        fwd += 16 * ((ng + 49 + 1) + (3 * ng + 49 + 4) + 1 + 3 * ng);
        bwd += 16 * (5 * ng + 2 * 49 + 2);
        din += 16 * (5 + 5 * ng);
    }
    check_flops(l, 8, fwd, bwd + din, bwd);
    /* a group of the whole batch or more counts as one group */
    l = setup_ok((Layer){.ops = &batchnorm_ops, .in = {16, 7, 7}, .group = 8});
    check_flops(l, 8, 16 * ((n + 49 + 1) + (3 * n + 49 + 4) + 1 + 3 * n), param + 16 * (5 + 5 * n),
                param);
}

static void test_flops_avgpool(void)
{
    /* (32,7,7), batch 4: 49 adds and a division per (sample, channel);
     * backward one division per (sample, channel), the rest copies;
     * nothing without din */
    Layer l = setup_ok((Layer){.ops = &avgpool_ops, .in = {32, 7, 7}});
    check_flops(l, 4, 4 * 32 * (49 + 1), 4 * 32, 0);
}

static void test_flops_gelu(void)
{
    /* 15 per element forward, 24 backward with din (each with tanh as an
     * exp, 7), nothing without */
    Layer l = setup_ok((Layer){.ops = &gelu_ops, .in = {8, 16, 1}});
    check_flops(l, 4, 15 * 4 * 8 * 16, 24 * 4 * 8 * 16, 0);
}

static void test_flops_attention(void)
{
    /* T 8, heads 3, hs 4 (in (8, 36, 1)), batch 2, per (sample, head):
     * forward the dense S = Q K^T (8, 8, 4) and O = P V (8, 4, 8) GEMMs
     * and the causal softmax, 6 per entry of rows of 1..8 entries;
     * backward four dense GEMMs (dP, dV, dQ, dK) of 2*8*8*4 and dS, 5 per
     * causal entry; nothing without din */
    Layer l = setup_ok((Layer){.ops = &attention_ops, .in = {8, 36, 1}, .heads = 3});
    double causal = 8 * 9 / 2;
    check_flops(l, 2, 2 * 3 * (2.0 * 8 * 8 * 4 + 2.0 * 8 * 4 * 8 + 6 * causal),
                2 * 3 * (4 * 2.0 * 8 * 8 * 4 + 5 * causal), 0);
    /* heads 1, T 5, hs 6 (in (5, 18, 1)), batch 1 */
    l = setup_ok((Layer){.ops = &attention_ops, .in = {5, 18, 1}, .heads = 1});
    check_flops(l, 1, 2.0 * 5 * 5 * 6 * 2 + 6 * (5 * 6 / 2), 2.0 * 5 * 5 * 6 * 4 + 5 * (5 * 6 / 2),
                0);
}

static void test_flops_softmax(void)
{
    /* batch 32, 10 classes, per sample: 9 max comparisons, 10 subtractions,
     * 10 exps, 10 sum adds, 1 reciprocal, 10 multiplies, 1 log, 2
     * subtractions and 1 add for the loss; backward 1 subtraction and 10
     * multiplies */
    CU_ASSERT_DOUBLE_EQUAL(softmax_xent_forward_flops(32, 10),
                           32 * ((10 - 1) + 10 + 10 + 10 + 1 + 10 + 1 + 2 + 1), 0.0);
    CU_ASSERT_DOUBLE_EQUAL(softmax_xent_backward_flops(32, 10), 32 * (1 + 10), 0.0);
}

/* ---- setup, init ---- */

static void test_setup_shapes(void)
{
    Layer l = setup_ok((Layer){.ops = &dense_ops, .in = {784, 1, 1}, .units = 256});
    CU_ASSERT(l.out.c == 256 && l.out.h == 1 && l.out.w == 1);
    CU_ASSERT_EQUAL(l.param_count, 784 * 256 + 256);
    l = setup_ok((Layer){
        .ops = &conv2d_ops, .in = {1, 28, 28}, .channels = 32, .kernel = 3, .stride = 1, .pad = 1});
    CU_ASSERT(l.out.c == 32 && l.out.h == 28 && l.out.w == 28);
    CU_ASSERT_EQUAL(l.param_count, 32 * 1 * 3 * 3 + 32);
    l = setup_ok((Layer){
        .ops = &conv2d_ops, .in = {2, 7, 6}, .channels = 3, .kernel = 3, .stride = 2, .pad = 1});
    CU_ASSERT(l.out.c == 3 && l.out.h == 4 && l.out.w == 3);
    l = setup_ok((Layer){.ops = &maxpool_ops, .in = {32, 28, 28}, .kernel = 2, .stride = 2});
    CU_ASSERT(l.out.c == 32 && l.out.h == 14 && l.out.w == 14);
    CU_ASSERT_EQUAL(l.param_count, 0);
    l = setup_ok((Layer){.ops = &maxpool_ops, .in = {3, 5, 7}, .kernel = 2, .stride = 2});
    CU_ASSERT(l.out.c == 3 && l.out.h == 2 && l.out.w == 3);
    l = setup_ok((Layer){.ops = &flatten_ops, .in = {32, 7, 7}});
    CU_ASSERT(l.out.c == 32 * 7 * 7 && l.out.h == 1 && l.out.w == 1);
    l = setup_ok((Layer){.ops = &relu_ops, .in = {3, 5, 7}});
    CU_ASSERT(l.out.c == 3 && l.out.h == 5 && l.out.w == 7);
    CU_ASSERT_EQUAL(l.param_count, 0);
}

/* The transformer kinds: shapes, parameters, scratch and saved floats. */
static void test_setup_shapes_sequences(void)
{
    Layer l = setup_ok((Layer){.ops = &embed_ops, .in = {16, 1, 1}, .units = 8, .vocab = 65});
    CU_ASSERT(l.out.c == 16 && l.out.h == 8 && l.out.w == 1);
    CU_ASSERT_EQUAL(l.param_count, 65 * 8 + 16 * 8);
    CU_ASSERT_EQUAL(saved_floats(&l, 4), 0);
    l = setup_ok((Layer){.ops = &layernorm_ops, .in = {16, 8, 1}});
    CU_ASSERT(l.out.c == 16 && l.out.h == 8 && l.out.w == 1);
    CU_ASSERT_EQUAL(l.param_count, 2 * 8);
    CU_ASSERT_EQUAL(saved_floats(&l, 4), 2 * 4 * 16);
    CU_ASSERT_EQUAL(l.ops->scratch_floats(&l, 4), 8);
    l = setup_ok((Layer){.ops = &gelu_ops, .in = {16, 32, 1}});
    CU_ASSERT(l.out.c == 16 && l.out.h == 32 && l.out.w == 1);
    CU_ASSERT_EQUAL(l.param_count, 0);
    CU_ASSERT_EQUAL(saved_floats(&l, 4), 0);
    l = setup_ok((Layer){.ops = &attention_ops, .in = {16, 3 * 8, 1}, .heads = 2});
    CU_ASSERT(l.out.c == 16 && l.out.h == 8 && l.out.w == 1);
    CU_ASSERT_EQUAL(l.param_count, 0);
    CU_ASSERT_EQUAL(saved_floats(&l, 4), 4 * 2 * 16 * 16);
    CU_ASSERT_EQUAL(l.ops->scratch_floats(&l, 4), 16 * 16);
}

static void check_setup_fails(Layer l, const char *name)
{
    DtError err = {0};
    CU_ASSERT_EQUAL(l.ops->setup(&l, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, name));
    CU_ASSERT_EQUAL(l.ops->setup(&l, NULL), -1); /* err is optional */
}

static void test_setup_errors(void)
{
    /* window larger than the input, in either direction */
    check_setup_fails((Layer){.ops = &maxpool_ops, .in = {1, 2, 2}, .kernel = 3, .stride = 1},
                      "maxpool");
    check_setup_fails((Layer){.ops = &maxpool_ops, .in = {1, 1, 5}, .kernel = 2, .stride = 2},
                      "maxpool");
    check_setup_fails((Layer){.ops = &maxpool_ops, .in = {1, 4, 4}, .kernel = 2, .stride = 0},
                      "maxpool");
    check_setup_fails(
        (Layer){.ops = &maxpool_ops, .in = {1, 4, 4}, .kernel = 2, .stride = 2, .pad = 1},
        "maxpool");
    /* kernel larger than the padded input */
    check_setup_fails(
        (Layer){
            .ops = &conv2d_ops, .in = {1, 2, 2}, .channels = 4, .kernel = 5, .stride = 1, .pad = 1},
        "conv2d");
    check_setup_fails(
        (Layer){
            .ops = &conv2d_ops, .in = {1, 2, 5}, .channels = 4, .kernel = 3, .stride = 1, .pad = 0},
        "conv2d");
    check_setup_fails(
        (Layer){
            .ops = &conv2d_ops, .in = {1, 8, 8}, .channels = 0, .kernel = 3, .stride = 1, .pad = 0},
        "conv2d");
    check_setup_fails(
        (Layer){
            .ops = &conv2d_ops, .in = {1, 8, 8}, .channels = 2, .kernel = 3, .stride = 0, .pad = 0},
        "conv2d");
    check_setup_fails((Layer){.ops = &conv2d_ops,
                              .in = {1, 8, 8},
                              .channels = 2,
                              .kernel = 3,
                              .stride = 1,
                              .pad = -1},
                      "conv2d");
    check_setup_fails((Layer){.ops = &dense_ops, .in = {10, 1, 1}, .units = 0}, "dense");
    check_setup_fails((Layer){.ops = &relu_ops, .in = {0, 1, 1}}, "relu");
    check_setup_fails((Layer){.ops = &flatten_ops, .in = {3, 0, 2}}, "flatten");
    /* embed: no vocabulary, no features, not a sequence of ids */
    check_setup_fails((Layer){.ops = &embed_ops, .in = {8, 1, 1}, .units = 4, .vocab = 0}, "embed");
    check_setup_fails((Layer){.ops = &embed_ops, .in = {8, 1, 1}, .units = 0, .vocab = 10},
                      "embed");
    check_setup_fails((Layer){.ops = &embed_ops, .in = {8, 2, 1}, .units = 4, .vocab = 10},
                      "embed");
    /* attention: heads not dividing d, features not 3d, no heads, not a sequence */
    check_setup_fails((Layer){.ops = &attention_ops, .in = {4, 30, 1}, .heads = 4}, "attention");
    DtError err = {0};
    Layer l = {.ops = &attention_ops, .in = {4, 30, 1}, .heads = 4};
    l.ops->setup(&l, &err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "d_model 10 is not a multiple of heads 4"));
    check_setup_fails((Layer){.ops = &attention_ops, .in = {4, 20, 1}, .heads = 1}, "attention");
    check_setup_fails((Layer){.ops = &attention_ops, .in = {4, 24, 1}, .heads = 0}, "attention");
    check_setup_fails((Layer){.ops = &attention_ops, .in = {4, 24, 2}, .heads = 2}, "attention");
    check_setup_fails((Layer){.ops = &layernorm_ops, .in = {4, 0, 1}}, "layernorm");
    check_setup_fails((Layer){.ops = &gelu_ops, .in = {0, 4, 1}}, "gelu");
    check_setup_fails((Layer){.ops = &batchnorm_ops, .in = {4, 3, 3}, .group = -1}, "batchnorm");
    check_setup_fails((Layer){.ops = &batchnorm_ops, .in = {0, 3, 3}}, "batchnorm");
    check_setup_fails((Layer){.ops = &avgpool_ops, .in = {4, 0, 3}}, "avgpool");
}

/* Weights w[i] = (2u_i - 1) * sqrt(6 / fan_in) for the i-th draw u_i, in
 * memory order; biases 0. */
static void check_init(Layer l, size_t fan_in, size_t n_weights)
{
    l = setup_ok(l);
    CU_ASSERT_EQUAL_FATAL(l.param_count, n_weights + (size_t)(l.units + l.channels));
    float *p = alloc_floats(l.param_count);
    fill_value(p, l.param_count, NAN);
    Rng rng = rng_make(99, 1), replay = rng;
    l.ops->init(&l, p, &rng);
    float limit = (float)sqrt(6.0 / (double)fan_in);
    int ok_draws = 1, ok_bound = 1, ok_bias = 1;
    float biggest = 0.0f;
    for (size_t i = 0; i < n_weights; i++) {
        ok_draws &= p[i] == (2.0f * rng_uniform(&replay) - 1.0f) * limit;
        ok_bound &= fabsf(p[i]) <= limit;
        biggest = fmaxf(biggest, fabsf(p[i]));
    }
    for (size_t i = n_weights; i < l.param_count; i++)
        ok_bias &= p[i] == 0.0f;
    CU_ASSERT(ok_draws);
    CU_ASSERT(ok_bound);
    CU_ASSERT(ok_bias);
    CU_ASSERT(biggest > 0.5f * limit);
    free(p);
}

static void test_init(void)
{
    check_init((Layer){.ops = &dense_ops, .in = {10, 1, 1}, .units = 4}, 10, 40);
    check_init(
        (Layer){
            .ops = &conv2d_ops, .in = {3, 8, 8}, .channels = 5, .kernel = 3, .stride = 1, .pad = 1},
        3 * 3 * 3, 5 * 3 * 3 * 3);
    /* kinds without parameters touch nothing */
    Rng rng = rng_make(1, 1), before = rng;
    relu_ops.init(NULL, NULL, &rng);
    maxpool_ops.init(NULL, NULL, &rng);
    flatten_ops.init(NULL, NULL, &rng);
    CU_ASSERT_EQUAL(rng.state, before.state);
}

/* Embedding tables: w[i] = (2u_i - 1) * std * sqrt(3) in memory order, wte
 * then wpe, std = init_std or 0.02 when unset; layernorm: gamma 1, beta 0. */
static void check_init_std(Layer l, float std)
{
    l = setup_ok(l);
    float *p = alloc_floats(l.param_count);
    Rng rng = rng_make(99, 2), replay = rng;
    l.ops->init(&l, p, &rng);
    float limit = (float)((double)std * sqrt(3.0));
    int ok_draws = 1, ok_bound = 1;
    float biggest = 0.0f;
    for (size_t i = 0; i < l.param_count; i++) {
        ok_draws &= p[i] == (2.0f * rng_uniform(&replay) - 1.0f) * limit;
        ok_bound &= fabsf(p[i]) <= limit;
        biggest = fmaxf(biggest, fabsf(p[i]));
    }
    CU_ASSERT(ok_draws);
    CU_ASSERT(ok_bound);
    CU_ASSERT(biggest > 0.5f * limit);
    free(p);
}

static void test_init_sequences(void)
{
    check_init_std((Layer){.ops = &embed_ops, .in = {6, 1, 1}, .units = 4, .vocab = 10}, 0.02f);
    check_init_std(
        (Layer){.ops = &embed_ops, .in = {6, 1, 1}, .units = 4, .vocab = 10, .init_std = 0.5f},
        0.5f);
    Layer l = setup_ok((Layer){.ops = &layernorm_ops, .in = {3, 5, 1}});
    float p[10];
    Rng rng = rng_make(1, 1), before = rng;
    l.ops->init(&l, p, &rng);
    const float want[10] = {1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    CU_ASSERT(memcmp(p, want, sizeof p) == 0);
    gelu_ops.init(NULL, NULL, &rng);
    attention_ops.init(NULL, NULL, &rng);
    CU_ASSERT_EQUAL(rng.state, before.state);
}

/* Batchnorm and avgpool: shapes, parameters, scratch, saved statistics
 * (a mean and an rstd per (group, channel)), init (gamma 1, beta 0, no
 * draws). */
static void test_setup_norm_pool(void)
{
    Layer l = setup_ok((Layer){.ops = &batchnorm_ops, .in = {6, 5, 4}, .group = 3});
    CU_ASSERT(l.out.c == 6 && l.out.h == 5 && l.out.w == 4);
    CU_ASSERT_EQUAL(l.param_count, 2 * 6);
    CU_ASSERT_EQUAL(saved_floats(&l, 7), 2 * 3 * 6); /* groups of 3, 3, 1 */
    CU_ASSERT_EQUAL(saved_floats(&l, 6), 2 * 2 * 6);
    CU_ASSERT_EQUAL(saved_floats(&l, 2), 2 * 1 * 6);
    CU_ASSERT_EQUAL(l.ops->scratch_floats(&l, 7), 2 * 5 * 4);
    l.group = 0;
    CU_ASSERT_EQUAL(saved_floats(&l, 7), 2 * 6);
    float p[12];
    Rng rng = rng_make(1, 1), before = rng;
    l.ops->init(&l, p, &rng);
    const float want[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    CU_ASSERT(memcmp(p, want, sizeof p) == 0);
    avgpool_ops.init(NULL, NULL, &rng);
    CU_ASSERT_EQUAL(rng.state, before.state);
    l = setup_ok((Layer){.ops = &avgpool_ops, .in = {6, 5, 4}});
    CU_ASSERT(l.out.c == 6 && l.out.h == 1 && l.out.w == 1);
    CU_ASSERT_EQUAL(l.param_count, 0);
    CU_ASSERT_EQUAL(saved_floats(&l, 7), 0);
}

static void test_shape_size(void)
{
    CU_ASSERT_EQUAL(shape_size((Shape){3, 28, 28}), 3 * 28 * 28);
    CU_ASSERT_EQUAL(shape_size((Shape){10, 1, 1}), 10);
    CU_ASSERT_EQUAL(shape_size((Shape){50000, 1000, 100}), (size_t)50000 * 1000 * 100);
}

static CU_TestInfo gradient_tests[] = {
    {"dense", test_dense_gradients},
    {"relu", test_relu_gradients},
    {"conv2d, stride 1 to 3, pad 0 to 2", test_conv2d_gradients},
    {"maxpool", test_maxpool_gradients},
    {"flatten", test_flatten_gradients},
    {"layernorm", test_layernorm_gradients},
    {"batchnorm, whole batch and groups (the last one smaller)", test_batchnorm_gradients},
    {"avgpool", test_avgpool_gradients},
    {"gelu", test_gelu_gradients},
    {"attention, heads 2 and 1", test_attention_gradients},
    {"softmax cross-entropy", test_softmax_gradients},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo convention_tests[] = {
    {"backward accumulates dparams, overwrites din", test_backward_accumulates_and_overwrites},
    {"backward with din == NULL", test_backward_without_din},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo forward_tests[] = {
    {"dense hand values", test_dense_values},
    {"relu hand values", test_relu_values},
    {"residual add: sums, both gradients dout, FLOPs", test_add_values},
    {"fused ReLU equals layer then relu", test_fused_relu},
    {"conv2d against a direct loop", test_conv2d_forward_matches_naive},
    {"conv2d in several chunks, forward and backward, against direct loops",
     test_conv2d_chunks_match_naive},
    {"maxpool against a direct loop", test_maxpool_forward_matches_naive},
    {"maxpool ties and routing", test_maxpool_ties_and_routing},
    {"softmax against double precision", test_softmax_values},
    {"softmax with logits of +-1000", test_softmax_extreme_logits},
    {"softmax correct count", test_softmax_correct},
    {"embed against direct loops, backward accumulates", test_embed_values},
    {"layernorm against a direct loop", test_layernorm_forward_matches_naive},
    {"batchnorm against double loops, forward and backward, groups", test_batchnorm_matches_naive},
    {"batchnorm groups compute what one call per group does", test_batchnorm_groups_are_calls},
    {"avgpool hand values", test_avgpool_values},
    {"gelu against the formula in double", test_gelu_values},
    {"attention against double loops, forward and backward", test_attention_matches_naive},
    {"attention is causal", test_attention_causal},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo flops_tests[] = {
    {"dense", test_flops_dense},
    {"relu", test_flops_relu},
    {"conv2d", test_flops_conv2d},
    {"conv2d col2im adds, brute force", test_flops_conv2d_col2im_count},
    {"maxpool", test_flops_maxpool},
    {"flatten", test_flops_flatten},
    {"embed", test_flops_embed},
    {"layernorm", test_flops_layernorm},
    {"batchnorm, whole batch and groups", test_flops_batchnorm},
    {"avgpool", test_flops_avgpool},
    {"gelu", test_flops_gelu},
    {"attention", test_flops_attention},
    {"softmax cross-entropy", test_flops_softmax},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo setup_tests[] = {
    {"output shapes and parameter counts", test_setup_shapes},
    {"sequence kinds: shapes, parameters, scratch, saved", test_setup_shapes_sequences},
    {"settings that do not fit", test_setup_errors},
    {"He-uniform init", test_init},
    {"embed and layernorm init", test_init_sequences},
    {"batchnorm and avgpool: shapes, saved, init", test_setup_norm_pool},
    {"shape_size", test_shape_size},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gradients vs finite differences", NULL, NULL, NULL, NULL, gradient_tests},
    {"backward conventions", NULL, NULL, NULL, NULL, convention_tests},
    {"forward values", NULL, NULL, NULL, NULL, forward_tests},
    {"flop counts", NULL, NULL, NULL, NULL, flops_tests},
    {"setup and init", NULL, NULL, NULL, NULL, setup_tests},
    CU_SUITE_INFO_NULL,
};

int main(void)
{
    return test_run_suites(suites);
}
