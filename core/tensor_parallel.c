/*
 * tensor_parallel.c - the plan, kernels, costs and ownership of Megatron-
 * style tensor-parallel dense layers (see tensor_parallel.h for the rules
 * and the calling sequence).
 *
 * The split kernels are dense.c's kernels on a slice: the same GEMMs, with
 * m, n or k cut to the shard's slice and the slice of W addressed in place
 * (rows [lo, hi) of W are contiguous; columns [lo, hi) are W + lo with the
 * row stride of the whole W as leading dimension), and the same bias and
 * ReLU loops.  Nothing is copied and nothing outside the shard's slice of
 * the parameter gradient is written.  Replicated layers call the layer's
 * own ops, so a plan with t == 1 computes exactly what the serial model
 * does.
 */
#include "tensor_parallel.h"

#include <limits.h>
#include <string.h>

#include "gemm.h"

int tp_plan(TpPlan *plan, const Model *m, int first, int last, int t, DtError *err)
{
    memset(plan, 0, sizeof *plan);
    if (t < 1)
        return dt_fail(err, DT_EINPUT, "tensor parallelism needs at least 1 device, got tp = %d",
                       t);
    if (first < 0 || first > last || last > m->nlayers)
        return dt_fail(err, DT_EINPUT,
                       "tensor parallelism: layers [%d, %d) are not a range of the model's %d "
                       "layers",
                       first, last, m->nlayers);
    for (int l = first; l < last; l++) {
        /* TpBlock counts floats in int, as the layers count their sizes */
        if (m->layers[l].param_count > INT_MAX)
            return dt_fail(err, DT_EINPUT,
                           "tensor parallelism: layer %d (%s) has %zu parameters, more than "
                           "%d",
                           l, m->layers[l].ops->name, m->layers[l].param_count, INT_MAX);
    }
    plan->m = m;
    plan->first = first;
    plan->last = last;
    plan->t = t;
    if (t == 1)
        return 0; /* all REPLICATED, as memset left them */
    for (int l = first; l < last; l++)
        if (m->layers[l].tokens || m->layers[l].ops == &attention_ops)
            return dt_fail(err, DT_EINPUT,
                           "tensor parallelism over tp = %d devices does not yet split the "
                           "%s model's attention and MLP blocks (layer %d, %s); use tp = 1 "
                           "with data-parallel or pipeline stages",
                           t, m->name ? m->name : "transformer", l, m->layers[l].ops->name);
    for (int l = first; l + 1 < last; l++) {
        const Layer *col = &m->layers[l];
        /* a pair: the ROW layer is the one and only reader of the COLUMN
         * layer's output, the split activation */
        if (col->ops != &dense_ops || m->layers[l + 1].ops != &dense_ops ||
            m->layers[l + 1].src != l || col->keep_grad)
            continue;
        /* The ROW layer's inputs are the COLUMN layer's outputs: one check
         * covers both splits. */
        if (col->units % t != 0)
            return dt_fail(err, DT_EINPUT,
                           "tensor parallelism over tp = %d devices: layer %d (dense, %d units) "
                           "is split by its outputs and layer %d by its inputs, but %d is not a "
                           "multiple of %d; hidden sizes must be multiples of tp (change "
                           "[model] hidden or [strategy] tp)",
                           t, l, col->units, l + 1, col->units, t);
        plan->layers[l] = (TpLayer){.split = TP_COLUMN, .slice = col->units / t};
        plan->layers[l + 1] = (TpLayer){.split = TP_ROW, .slice = col->units / t};
        l++; /* the pair is taken; the next pair starts after it */
    }
    return 0;
}

/* out (batch, n) += bias (n), then max(out, 0) when relu: dense.c's loop. */
static void add_bias_relu(float *out, const float *bias, int batch, int n, int relu)
{
    for (int i = 0; i < batch; i++) {
        float *row = out + (size_t)i * n; /* (n) */
        if (relu) {
            for (int j = 0; j < n; j++) {
                float v = row[j] + bias[j];
                row[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (int j = 0; j < n; j++)
                row[j] += bias[j];
        }
    }
}

/* masked = dout where out > 0, else 0: the gradient through a fused ReLU. */
static const float *relu_mask(const float *out, const float *dout, float *masked, size_t n)
{
    for (size_t i = 0; i < n; i++)
        masked[i] = out[i] > 0.0f ? dout[i] : 0.0f;
    return masked;
}

/* dbias (n) += column sums of dout (batch, n), one contiguous row at a time. */
static void add_column_sums(float *dbias, const float *dout, int batch, int n)
{
    for (int i = 0; i < batch; i++) {
        const float *row = dout + (size_t)i * n; /* (n) */
        for (int j = 0; j < n; j++)
            dbias[j] += row[j];
    }
}

/* A dense block, the arithmetic both splits share: a shard's view of W is
 * an (M, N) block with row stride n_in, in is (batch, N), out (batch, M).
 * COLUMN: M = s output rows, N = n_in; ROW: M = units, N = s input columns.
 *   out = in W^T  (no bias) */
static void block_forward(const float *in, const float *wgt, float *out, int batch, int M, int N,
                          int n_in)
{
    GemmArgs g = {.trans_b = 1,
                  .m = batch,
                  .n = M,
                  .k = N,
                  .alpha = 1.0f,
                  .a = in,
                  .lda = N,
                  .b = wgt,
                  .ldb = n_in,
                  .beta = 0.0f,
                  .c = out,
                  .ldc = M};
    gemm(&g);
}

/* COLUMN forward: out (batch, s) = in (batch, n_in) W[lo:hi, :]^T + b[lo:hi]. */
static void column_forward(const Layer *ly, int s, int lo, const LayerIO *io)
{
    const int units = ly->units, n_in = (int)shape_size(ly->in);
    const float *wgt = io->params + (size_t)lo * n_in;          /* (s, n_in), rows of W */
    const float *bias = io->params + (size_t)units * n_in + lo; /* (s) */
    block_forward(io->in, wgt, io->out, io->batch, s, n_in, n_in);
    add_bias_relu(io->out, bias, io->batch, s, ly->relu);
}

/* ROW forward: partial out (batch, units) = in (batch, s) W[:, lo:hi]^T. */
static void row_forward(const Layer *ly, int s, int lo, const LayerIO *io)
{
    const int n_in = (int)shape_size(ly->in);
    /* (units, s), row stride n_in */
    block_forward(io->in, io->params + lo, io->out, io->batch, ly->units, s, n_in);
}

void tp_forward(const TpPlan *plan, int l, int shard, const LayerIO *io)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN)
        column_forward(ly, tl->slice, shard * tl->slice, io);
    else if (tl->split == TP_ROW)
        row_forward(ly, tl->slice, shard * tl->slice, io);
    else
        ly->ops->forward(ly, io);
}

void tp_forward_finish(const TpPlan *plan, int l, const LayerIO *io)
{
    const Layer *ly = &plan->m->layers[l];
    if (plan->layers[l].split != TP_ROW)
        return;
    const float *bias = io->params + (size_t)ly->units * shape_size(ly->in); /* (units) */
    add_bias_relu(io->out, bias, io->batch, ly->units, ly->relu);
}

/* The backward of block_forward's block, dout (batch, M) (masked by the
 * fused ReLU when the layer has one):
 *   dW block += dout^T in;  dbias (M) += sums of dout;  din (batch, N) = dout W block */
static void block_backward(const Layer *ly, const float *wgt, float *dwgt, float *dbias, int M,
                           int N, const LayerIO *io)
{
    const int batch = io->batch, n_in = (int)shape_size(ly->in);
    const float *dout = io->dout;
    if (ly->relu)
        dout = relu_mask(io->out, dout, io->scratch, (size_t)batch * M);

    GemmArgs gw = {.trans_a = 1,
                   .m = M,
                   .n = N,
                   .k = batch,
                   .alpha = 1.0f,
                   .a = dout,
                   .lda = M,
                   .b = io->in,
                   .ldb = N,
                   .beta = 1.0f,
                   .c = dwgt,
                   .ldc = n_in};
    gemm(&gw);
    add_column_sums(dbias, dout, batch, M);
    if (io->din) {
        GemmArgs gx = {.m = batch,
                       .n = N,
                       .k = M,
                       .alpha = 1.0f,
                       .a = dout,
                       .lda = M,
                       .b = wgt,
                       .ldb = n_in,
                       .beta = 0.0f,
                       .c = io->din,
                       .ldc = N};
        gemm(&gx);
    }
}

/* COLUMN backward, dout (batch, s):
 *   dW[lo:hi, :] += dout^T in;  db[lo:hi] += sums of dout;  din = dout W[lo:hi, :] (partial) */
static void column_backward(const Layer *ly, int s, int lo, const LayerIO *io)
{
    const size_t units = (size_t)ly->units, n_in = shape_size(ly->in);
    block_backward(ly, io->params + lo * n_in, io->dparams + lo * n_in,
                   io->dparams + units * n_in + (size_t)lo, s, (int)n_in, io);
}

/* ROW backward, dout (batch, units) full:
 *   dW[:, lo:hi] += dout^T in;  db += sums of dout (whole);  din = dout W[:, lo:hi] (final) */
static void row_backward(const Layer *ly, int s, int lo, const LayerIO *io)
{
    const size_t units = (size_t)ly->units, n_in = shape_size(ly->in);
    block_backward(ly, io->params + lo, io->dparams + lo, io->dparams + units * n_in, ly->units, s,
                   io);
}

void tp_backward(const TpPlan *plan, int l, int shard, const LayerIO *io)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN)
        column_backward(ly, tl->slice, shard * tl->slice, io);
    else if (tl->split == TP_ROW)
        row_backward(ly, tl->slice, shard * tl->slice, io);
    else if (l >= plan->m->first_trainable) /* below it, as model_backward_layer: nothing */
        ly->ops->backward(ly, io);
}

/* Does layer l's backward produce an input gradient?  model.c's rule. */
static int needs_din(const TpPlan *plan, int l)
{
    return model_needs_din(plan->m, l);
}

size_t tp_forward_allreduce_floats(const TpPlan *plan, int l, int batch)
{
    if (plan->layers[l].split != TP_ROW)
        return 0;
    return (size_t)batch * (size_t)plan->m->layers[l].units;
}

size_t tp_backward_allreduce_floats(const TpPlan *plan, int l, int batch)
{
    if (plan->layers[l].split != TP_COLUMN || !needs_din(plan, l))
        return 0;
    return (size_t)batch * shape_size(plan->m->layers[l].in);
}

/*
 * Costs of one shard, B = batch, n = input features, u = units, s = slice,
 * r = 1 with a fused ReLU (else 0), d = 1 when din is produced (else 0),
 * p = parameter floats the shard holds (tp_layer_blocks):
 *   COLUMN forward   2 B s n + B s + r B s                (GEMM, bias, ReLU)
 *          backward  2 s n B + B s + d 2 B n s + r B s    (dW, db, din, mask)
 *   ROW    forward   2 B u s                              (GEMM only)
 *          finish    B u + r B u                          (bias, ReLU)
 *          backward  r B u + 2 u s B + B u + d 2 B s u    (mask, dW, db, din)
 * Bytes as model.c counts them, 4 per float: forward reads the input and
 * the parameters it uses and writes the output (the finish reads the summed
 * output and b, and writes the output); backward reads dout and the input,
 * reads and writes the p gradient floats, and with din also reads the p
 * parameters and writes din.
 */
TpCost tp_forward_cost(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    double B = batch, n = (double)shape_size(ly->in), u = ly->units, s = tl->slice;
    double r = ly->relu ? 1.0 : 0.0;
    if (tl->split == TP_COLUMN)
        return (TpCost){.flops = 2.0 * B * s * n + B * s + r * B * s,
                        .bytes = sizeof(float) * (B * n + s * (n + 1.0) + B * s)};
    if (tl->split == TP_ROW)
        return (TpCost){.flops = 2.0 * B * u * s, .bytes = sizeof(float) * (B * s + u * s + B * u)};
    return (TpCost){.flops = model_layer_forward_flops(plan->m, l, batch),
                    .bytes = model_layer_forward_bytes(plan->m, l, batch)};
}

TpCost tp_finish_cost(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    if (plan->layers[l].split != TP_ROW)
        return (TpCost){0.0, 0.0};
    double B = batch, u = ly->units, r = ly->relu ? 1.0 : 0.0;
    return (TpCost){.flops = B * u + r * B * u, .bytes = sizeof(float) * (B * u + u + B * u)};
}

TpCost tp_backward_cost(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    double B = batch, n = (double)shape_size(ly->in), u = ly->units, s = tl->slice;
    double r = ly->relu ? 1.0 : 0.0, d = needs_din(plan, l) ? 1.0 : 0.0;
    if (tl->split == TP_COLUMN) {
        double p = s * (n + 1.0);
        return (TpCost){.flops = 2.0 * s * n * B + B * s + d * 2.0 * B * n * s + r * B * s,
                        .bytes = sizeof(float) * (B * s + B * n + 2.0 * p + d * (p + B * n))};
    }
    if (tl->split == TP_ROW) {
        double p = u * s + u;
        return (TpCost){.flops = r * B * u + 2.0 * u * s * B + B * u + d * 2.0 * B * s * u,
                        .bytes = sizeof(float) * (B * u + B * s + 2.0 * p + d * (p + B * s))};
    }
    return (TpCost){.flops = model_layer_backward_flops(plan->m, l, batch),
                    .bytes = model_layer_backward_bytes(plan->m, l, batch)};
}

size_t tp_out_floats(const TpPlan *plan, int l, int batch)
{
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN)
        return (size_t)batch * (size_t)tl->slice;
    return (size_t)batch * shape_size(plan->m->layers[l].out);
}

size_t tp_scratch_floats(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN) /* the masked dout slice */
        return ly->relu ? (size_t)batch * (size_t)tl->slice : 0;
    if (tl->split == TP_ROW) /* the masked full dout */
        return ly->relu ? (size_t)batch * (size_t)ly->units : 0;
    return ly->ops->scratch_floats(ly, batch);
}

size_t tp_activation_floats(const TpPlan *plan, int batch)
{
    size_t n = 0;
    for (int l = plan->first; l < plan->last; l++) {
        const Layer *ly = &plan->m->layers[l];
        n += tp_out_floats(plan, l, batch);
        if (ly->ops->saved_floats) /* a REPLICATED layer's, whole */
            n += ly->ops->saved_floats(ly, batch);
    }
    return n;
}

int tp_layer_blocks(const TpPlan *plan, int l, int shard, TpBlock blocks[TP_MAX_BLOCKS])
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    const size_t off = ly->param_offset;
    if (ly->param_count == 0)
        return 0;
    if (tl->split == TP_REPLICATED) {
        int count = (int)ly->param_count; /* tp_plan checked that it fits */
        blocks[0] = (TpBlock){off, 1, count, (size_t)count, 1};
        return 1;
    }
    const int units = ly->units, n_in = (int)shape_size(ly->in), s = tl->slice, lo = shard * s;
    const size_t bias = off + (size_t)units * n_in;
    if (tl->split == TP_COLUMN) {
        blocks[0] = (TpBlock){off + (size_t)lo * n_in, s, n_in, (size_t)n_in, 0}; /* rows */
        blocks[1] = (TpBlock){bias + (size_t)lo, 1, s, (size_t)s, 0};
    } else {
        blocks[0] = (TpBlock){off + (size_t)lo, units, s, (size_t)n_in, 0}; /* columns */
        blocks[1] = (TpBlock){bias, 1, units, (size_t)units, 1};
    }
    return 2;
}

size_t tp_blocks_copy(const TpBlock *blocks, int n, float *block, float *pack, int to_pack)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        const TpBlock *h = &blocks[i];
        for (int r = 0; r < h->rows; r++) {
            float *run = block + h->offset + (size_t)r * h->stride;
            size_t len = (size_t)h->cols;
            if (!pack)
                memset(run, 0, len * sizeof(float));
            else if (to_pack)
                memcpy(pack + k, run, len * sizeof(float));
            else
                memcpy(run, pack + k, len * sizeof(float));
            k += len;
        }
    }
    return k;
}

size_t tp_param_floats(const TpPlan *plan)
{
    size_t n = 0;
    for (int l = plan->first; l < plan->last; l++) {
        TpBlock blocks[TP_MAX_BLOCKS];
        int nb = tp_layer_blocks(plan, l, 0, blocks);
        for (int i = 0; i < nb; i++)
            n += (size_t)blocks[i].rows * (size_t)blocks[i].cols;
    }
    return n;
}

void tp_gather_owned(const TpPlan *plan, int shard, const float *src, float *dst)
{
    for (int l = plan->first; l < plan->last; l++) {
        TpBlock blocks[TP_MAX_BLOCKS];
        int nb = tp_layer_blocks(plan, l, shard, blocks);
        for (int i = 0; i < nb; i++) {
            const TpBlock *b = &blocks[i];
            if (b->replicated && shard != 0)
                continue;
            for (int r = 0; r < b->rows; r++) {
                size_t at = b->offset + (size_t)r * b->stride;
                memcpy(dst + at, src + at, (size_t)b->cols * sizeof(float));
            }
        }
    }
}
