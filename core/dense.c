/*
 * dense.c - the fully connected layer: out = in W^T + b.
 *
 * Both directions are GEMMs through gemm(), so nearly all of a dense
 * layer's time is spent in OpenBLAS; the only other loops are the bias add
 * and the bias gradient's column sums, written as contiguous row sweeps that
 * the compiler vectorises.  The input is taken as shape_size(in) features
 * whatever its (c, h, w), which is exactly what a flatten in front would
 * give.  Parameters: W (units, in) then b (units).
 *
 * With l->tokens the layer is a transformer's linear map: a sequence (T,
 * C, 1) is T rows of C features, each mapped by the same W, so the GEMMs
 * take batch * T rows and the output is (T, units, 1).
 *
 * With l->tied the layer owns no parameters: W is an earlier layer's table
 * (the model points param_offset at it; a GPT's output projection reads
 * the token embedding), its gradient adds to that layer's, and there is
 * no bias, so the bias loops and their FLOPs drop out.
 */
#include "layer.h"
#include "layer_util.h"

#include "gemm.h"

static int dense_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    if (l->units < 1)
        return dt_fail(err, DT_EINPUT,
                       "dense: units must be at least 1 (got %d) for input (%d, %d, %d)", l->units,
                       l->in.c, l->in.h, l->in.w);
    size_t n_in = (size_t)layer_dense_features(l);
    l->out = l->tokens ? (Shape){l->in.c, l->units, 1} : (Shape){l->units, 1, 1};
    l->param_count = l->tied ? 0 : (size_t)l->units * n_in + (size_t)l->units;
    return 0;
}

static void dense_init(const Layer *l, float *p, Rng *rng)
{
    size_t n_in = (size_t)layer_dense_features(l);
    size_t n_w = (size_t)l->units * n_in;
    if (l->init_std > 0.0f)
        layer_init_std_uniform(p, n_w, l->init_std, rng);
    else
        layer_init_he_uniform(p, n_w, n_in, rng);
    for (int j = 0; j < l->units; j++)
        p[n_w + (size_t)j] = 0.0f;
}

static void dense_forward(const Layer *l, const LayerIO *io)
{
    const int batch = io->batch * layer_dense_rows(l), units = l->units,
              n_in = layer_dense_features(l);
    const float *wgt = io->params;                         /* (units, in) */
    const float *bias = io->params + (size_t)units * n_in; /* (units) */
    float *out = io->out;                                  /* (batch, units) */

    GemmArgs g = {.trans_b = 1,
                  .m = batch,
                  .n = units,
                  .k = n_in,
                  .alpha = 1.0f,
                  .a = io->in,
                  .lda = n_in,
                  .b = wgt,
                  .ldb = n_in,
                  .beta = 0.0f,
                  .c = out,
                  .ldc = units};
    gemm(&g);
    for (int i = 0; i < batch && !l->tied; i++) {
        float *row = out + (size_t)i * units; /* (units) */
        if (l->relu) {
            for (int j = 0; j < units; j++) {
                float v = row[j] + bias[j];
                row[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (int j = 0; j < units; j++)
                row[j] += bias[j];
        }
    }
}

static void dense_backward(const Layer *l, const LayerIO *io)
{
    const int batch = io->batch * layer_dense_rows(l), units = l->units,
              n_in = layer_dense_features(l);
    const float *wgt = io->params;                     /* (units, in) */
    float *dwgt = io->dparams;                         /* (units, in) */
    float *dbias = io->dparams + (size_t)units * n_in; /* (units) */
    const float *dout = io->dout;                      /* (batch, units) */

    if (l->relu) {
        /* the gradient through the fused ReLU, into scratch */
        float *masked = io->scratch; /* (batch, units) */
        const size_t n = (size_t)batch * units;
        for (size_t i = 0; i < n; i++)
            masked[i] = io->out[i] > 0.0f ? dout[i] : 0.0f;
        dout = masked;
    }

    /* dW += dout^T in */
    GemmArgs gw = {.trans_a = 1,
                   .m = units,
                   .n = n_in,
                   .k = batch,
                   .alpha = 1.0f,
                   .a = dout,
                   .lda = units,
                   .b = io->in,
                   .ldb = n_in,
                   .beta = 1.0f,
                   .c = dwgt,
                   .ldc = n_in};
    gemm(&gw);
    /* db += column sums of dout, one row at a time so the inner loop is contiguous */
    for (int i = 0; i < batch && !l->tied; i++) {
        const float *row = dout + (size_t)i * units; /* (units) */
        for (int j = 0; j < units; j++)
            dbias[j] += row[j];
    }
    /* din = dout W */
    if (io->din) {
        GemmArgs gx = {.m = batch,
                       .n = n_in,
                       .k = units,
                       .alpha = 1.0f,
                       .a = dout,
                       .lda = units,
                       .b = wgt,
                       .ldb = n_in,
                       .beta = 0.0f,
                       .c = io->din,
                       .ldc = n_in};
        gemm(&gx);
    }
}

/* Per GEMM row (batch * T rows for a sequence):
 * forward: 2*batch*units*in (the GEMM in W^T) + batch*units (bias add loop)
 * + batch*units comparisons when the ReLU is fused. */
static double dense_forward_flops(const Layer *l, int batch)
{
    double b = (double)batch * layer_dense_rows(l), u = l->units, n = layer_dense_features(l);
    double bias = l->tied ? 0.0 : b * u;
    return 2.0 * b * u * n + bias + (l->relu ? b * u : 0.0);
}

/* backward: 2*units*in*batch (dW GEMM) + batch*units (db column-sum loop)
 * + need_din * 2*batch*in*units (din GEMM) + batch*units comparisons (the
 * fused ReLU's mask). */
static double dense_backward_flops(const Layer *l, int batch, int need_din)
{
    double b = (double)batch * layer_dense_rows(l), u = l->units, n = layer_dense_features(l);
    double bias = l->tied ? 0.0 : b * u;
    return 2.0 * u * n * b + bias + (need_din ? 2.0 * b * n * u : 0.0) + (l->relu ? b * u : 0.0);
}

/* The masked dout of a fused ReLU. */
static size_t dense_scratch_floats(const Layer *l, int batch)
{
    return l->relu ? (size_t)batch * shape_size(l->out) : 0;
}

const LayerOps dense_ops = {
    .name = "dense",
    .setup = dense_setup,
    .init = dense_init,
    .scratch_floats = dense_scratch_floats,
    .forward = dense_forward,
    .backward = dense_backward,
    .forward_flops = dense_forward_flops,
    .backward_flops = dense_backward_flops,
};
