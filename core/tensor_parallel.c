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
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "layer_util.h"

/* May layer l work on a shard's slice alone, between a COLUMN and a ROW
 * layer: attention (split by heads) or GELU, reading only the layer
 * before it, which nothing else reads? */
static int tp_can_be_local(const Model *m, int l)
{
    const Layer *ly = &m->layers[l];
    return (ly->ops == &attention_ops || ly->ops == &gelu_ops) && ly->src == l - 1 &&
           !m->layers[l - 1].keep_grad;
}

/* The shard's copy of LOCAL layer ly: the slice's features, heads / t. */
static int tp_local(Layer *local, const Layer *ly, int t, DtError *err)
{
    *local = *ly;
    local->in.h = ly->in.h / t;
    local->heads = ly->heads / t;
    return local->ops->setup(local, err);
}

/* A group starting at dense layer l: COLUMN, LOCAL layers, ROW; set in the
 * plan.  Returns the ROW layer's index, l when there is no group there,
 * or -1 with a message when the sizes do not split by t. */
static int tp_group(TpPlan *plan, int l, DtError *err)
{
    const Model *m = plan->m;
    const Layer *col = &m->layers[l];
    const int t = plan->t;
    int r = l + 1, parts = 1;
    if (col->ops != &dense_ops || col->keep_grad)
        return l;
    for (; r < plan->last && tp_can_be_local(m, r); r++)
        if (m->layers[r].ops == &attention_ops)
            parts = 3;
    if (r >= plan->last || m->layers[r].ops != &dense_ops || m->layers[r].src != r - 1 ||
        (r > l + 1 && m->layers[r - 1].keep_grad))
        return l;
    /* The ROW layer's inputs are the COLUMN layer's outputs (or the local
     * layers' made of them): one check covers both splits. */
    if (col->units % (parts * t) != 0)
        return dt_fail(err, DT_EINPUT,
                       "tensor parallelism over tp = %d devices: layer %d (dense, %d units) "
                       "is split by its outputs and layer %d by its inputs, but %d is not a "
                       "multiple of %d; hidden sizes must be multiples of tp (change "
                       "[model] hidden, d_model or d_ff, or [strategy] tp)",
                       t, l, col->units, r, col->units / parts, t);
    for (int k = l + 1; k < r; k++) {
        const Layer *ly = &m->layers[k];
        if (ly->ops == &attention_ops && ly->heads % t != 0)
            return dt_fail(err, DT_EINPUT,
                           "tensor parallelism over tp = %d devices splits the attention heads "
                           "among them, but [model] heads = %d is not a multiple of %d (change "
                           "[model] heads or [strategy] tp)",
                           t, ly->heads, t);
        plan->layers[k] = (TpLayer){.split = TP_LOCAL};
        if (tp_local(&plan->layers[k].local, ly, t, err) < 0)
            return -1;
    }
    int slice = col->units / (parts * t);
    plan->layers[l] = (TpLayer){.split = TP_COLUMN, .slice = slice, .parts = parts};
    plan->layers[r] = (TpLayer){.split = TP_ROW, .slice = slice, .parts = 1};
    return r;
}

/* The token embedding splits by vocabulary when the vocabulary divides
 * among the shards and no later layer reads its table (tie_embeddings):
 * shard j holds token rows [j s, j s + s), s = vocab / t. */
static void tp_vocab(TpPlan *plan, int l)
{
    const Model *m = plan->m;
    const Layer *ly = &m->layers[l];
    if (ly->ops != &embed_ops || ly->vocab % plan->t != 0 || model_has_tied(m))
        return;
    plan->layers[l] = (TpLayer){.split = TP_VOCAB, .slice = ly->vocab / plan->t, .parts = 1};
}

/* A language model's output layer (the logits of every position) splits
 * by vocabulary when the stage holds it, it is left REPLICATED by the
 * pairing, t divides the vocabulary and it has a table of its own: a
 * COLUMN layer of one part without a ROW partner, whose logits slice the
 * vocabulary-parallel loss reads (tp_loss_split). */
static void tp_vocab_head(TpPlan *plan)
{
    const Model *m = plan->m;
    const int l = m->nlayers - 1;
    const Layer *ly = &m->layers[l];
    if (plan->last != m->nlayers || l < plan->first || m->positions < 2 || ly->ops != &dense_ops ||
        ly->tied || plan->layers[l].split != TP_REPLICATED || ly->units != m->classes ||
        ly->units % plan->t != 0)
        return;
    plan->layers[l] = (TpLayer){.split = TP_COLUMN, .slice = ly->units / plan->t, .parts = 1};
}

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
    plan->m = m;
    plan->first = first;
    plan->last = last;
    plan->t = t;
    if (t == 1)
        return 0; /* all REPLICATED, as memset left them */
    for (int l = first; l < last; l++)
        tp_vocab(plan, l);
    for (int l = first; l + 1 < last; l++) {
        int r = tp_group(plan, l, err);
        if (r < 0)
            return -1;
        l = r > l ? r : l; /* a group is taken; the next starts after it */
    }
    tp_vocab_head(plan);
    return 0;
}

int tp_loss_split(const TpPlan *plan)
{
    const int l = plan->m->nlayers - 1;
    return plan->last == plan->m->nlayers && l >= plan->first && plan->layers[l].split == TP_COLUMN;
}

void tp_loss_floats(const TpPlan *plan, int batch, size_t *maxima, size_t *sums)
{
    const size_t rows = (size_t)batch * plan->m->positions;
    *maxima = rows * (size_t)plan->t;
    *sums = 2 * rows;
}

void tp_loss_maxima(const TpPlan *plan, int shard, const float *logits, int batch, float *maxima)
{
    const int s = plan->layers[plan->m->nlayers - 1].slice, t = plan->t;
    const size_t rows = (size_t)batch * plan->m->positions;
    memset(maxima, 0, rows * t * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        const float *x = logits + i * s; /* (s) */
        float max = x[0];
        for (int j = 1; j < s; j++)
            max = x[j] > max ? x[j] : max;
        maxima[i * t + shard] = max;
    }
}

/* Row i's maximum over the whole vocabulary, from every shard's. */
static float loss_row_max(const float *maxima, size_t i, int t)
{
    float max = maxima[i * t];
    for (int k = 1; k < t; k++)
        max = maxima[i * t + k] > max ? maxima[i * t + k] : max;
    return max;
}

void tp_loss_sums(const TpPlan *plan, int shard, const float *logits, const uint8_t *labels,
                  int batch, const float *maxima, float *sums)
{
    const int s = plan->layers[plan->m->nlayers - 1].slice, t = plan->t, lo = shard * s;
    const size_t rows = (size_t)batch * plan->m->positions;
    for (size_t i = 0; i < rows; i++) {
        const float *x = logits + i * s;
        const float max = loss_row_max(maxima, i, t);
        float sum = 0.0f;
        for (int j = 0; j < s; j++)
            sum += expf(x[j] - max);
        int y = labels[i] - lo;
        sums[2 * i] = sum;
        sums[2 * i + 1] = y >= 0 && y < s ? x[y] : 0.0f;
    }
}

double tp_loss_finish(const TpPlan *plan, int shard, const float *logits, const uint8_t *labels,
                      int batch, const float *maxima, const float *sums, float scale,
                      float *dlogits)
{
    const Model *m = plan->m;
    const int s = plan->layers[m->nlayers - 1].slice, t = plan->t, lo = shard * s;
    const size_t rows = (size_t)batch * m->positions;
    const float per = scale / (float)m->positions;
    double loss = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const float *x = logits + i * s;
        float *d = dlogits + i * s;
        const float max = loss_row_max(maxima, i, t), inv = 1.0f / sums[2 * i];
        loss += (double)logf(sums[2 * i]) - ((double)sums[2 * i + 1] - (double)max);
        for (int j = 0; j < s; j++)
            d[j] = expf(x[j] - max) * inv;
        int y = labels[i] - lo;
        if (y >= 0 && y < s)
            d[y] -= 1.0f;
        for (int j = 0; j < s; j++)
            d[j] *= per;
    }
    return m->positions > 1 ? loss / m->positions : loss;
}

TpCost tp_loss_cost(const TpPlan *plan, int batch, int phase)
{
    const Model *m = plan->m;
    const double s = plan->layers[m->nlayers - 1].slice, t = plan->t;
    const double rows = (double)batch * m->positions, f = sizeof(float);
    /* per row, counted as its loops run: maxima, s - 1 comparisons; sums,
     * t - 1 comparisons (the row's maximum), s subtractions, exps and
     * adds; finish, t - 1 comparisons, a reciprocal, a log and 3 for the
     * loss term, s subtractions, exps and multiplies for the
     * probabilities, the onehot subtraction, s multiplies by the scale,
     * and the division by positions once */
    if (phase == 0)
        return (TpCost){rows * (s - 1.0), f * (rows * s + rows * t)};
    if (phase == 1)
        return (TpCost){rows * (t - 1.0 + 3.0 * s), f * (rows * s + rows * t + 2.0 * rows)};
    return (TpCost){rows * (t - 1.0 + 5.0 + 3.0 * s + 1.0 + s) + (m->positions > 1),
                    f * (2.0 * rows * s + rows * t + 2.0 * rows)};
}

/* out (rows, n) with row stride ld += bias (n), then max(out, 0) when
 * relu: dense.c's loop. */
static void add_bias_relu(float *out, const float *bias, int rows, int n, int ld, int relu)
{
    for (int i = 0; i < rows; i++) {
        float *row = out + (size_t)i * ld; /* (n) */
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

/* dbias (n) += column sums of dout (rows, n; row stride ld), one
 * contiguous row at a time. */
static void add_column_sums(float *dbias, const float *dout, int rows, int n, int ld)
{
    for (int i = 0; i < rows; i++) {
        const float *row = dout + (size_t)i * ld; /* (n) */
        for (int j = 0; j < n; j++)
            dbias[j] += row[j];
    }
}

/* A dense block, the arithmetic both splits share: a shard's view of W is
 * an (M, N) block with row stride n_in, in is (rows, N), out (rows, M)
 * with row stride ldo.  COLUMN: M = s output rows of one part, N = n_in;
 * ROW: M = units, N = s input columns.
 *   out = in W^T  (no bias) */
static void block_forward(const float *in, const float *wgt, float *out, int rows, int M, int N,
                          int n_in, int ldo)
{
    GemmArgs g = {.trans_b = 1,
                  .m = rows,
                  .n = M,
                  .k = N,
                  .alpha = 1.0f,
                  .a = in,
                  .lda = N,
                  .b = wgt,
                  .ldb = n_in,
                  .beta = 0.0f,
                  .c = out,
                  .ldc = ldo};
    gemm(&g);
}

/* Where part p of the COLUMN layer's rows that shard j holds begins. */
static int column_lo(const Layer *ly, const TpLayer *tl, int shard, int p)
{
    return p * (ly->units / tl->parts) + shard * tl->slice;
}

/* COLUMN forward: for each part p, out[:, p s : p s + s] (rows, parts s) =
 * in (rows, n_in) W[lo_p : lo_p + s, :]^T + b[lo_p : lo_p + s]. */
static void column_forward(const Layer *ly, const TpLayer *tl, int shard, const LayerIO *io)
{
    const int rows = io->batch * layer_dense_rows(ly), n_in = layer_dense_features(ly);
    const int s = tl->slice, ld = tl->parts * s;
    const float *bias = io->params + (size_t)ly->units * n_in; /* (units) */
    for (int p = 0; p < tl->parts; p++) {
        int lo = column_lo(ly, tl, shard, p);
        block_forward(io->in, io->params + (size_t)lo * n_in, io->out + p * s, rows, s, n_in, n_in,
                      ld);
        add_bias_relu(io->out + p * s, bias + lo, rows, s, ld, ly->relu);
    }
}

/* ROW forward: partial out (rows, units) = in (rows, s) W[:, lo:hi]^T. */
static void row_forward(const Layer *ly, int s, int lo, const LayerIO *io)
{
    const int rows = io->batch * layer_dense_rows(ly), n_in = layer_dense_features(ly);
    /* (units, s), row stride n_in */
    block_forward(io->in, io->params + lo, io->out, rows, ly->units, s, n_in, ly->units);
}

/* VOCAB forward: each position's token row when the shard holds it,
 * zeros otherwise (the all-reduce makes the sum the token's row); the
 * positions' rows come in tp_forward_finish. */
static void vocab_forward(const Layer *ly, int lo, int s, const LayerIO *io)
{
    const int seq = ly->in.c, units = ly->units;
    for (int b = 0; b < io->batch; b++) {
        for (int t = 0; t < seq; t++) {
            int id = (int)io->in[(size_t)b * seq + t] - lo;
            float *row = io->out + ((size_t)b * seq + t) * units; /* (units) */
            if (id >= 0 && id < s)
                memcpy(row, io->params + (size_t)(id + lo) * units, units * sizeof(float));
            else
                memset(row, 0, units * sizeof(float));
        }
    }
}

/* VOCAB finish: the summed rows plus each position's row of wpe. */
static void vocab_finish(const Layer *ly, const LayerIO *io)
{
    const int seq = ly->in.c, units = ly->units;
    const float *wpe = io->params + (size_t)ly->vocab * units; /* (seq, units) */
    for (int b = 0; b < io->batch; b++)
        for (int t = 0; t < seq; t++) {
            float *row = io->out + ((size_t)b * seq + t) * units;
            for (int j = 0; j < units; j++)
                row[j] += wpe[(size_t)t * units + j];
        }
}

/* VOCAB backward: dout (full) into the shard's token rows and into every
 * position's row (replicated: the same on all shards). */
static void vocab_backward(const Layer *ly, int lo, int s, const LayerIO *io)
{
    const int seq = ly->in.c, units = ly->units;
    float *dwpe = io->dparams + (size_t)ly->vocab * units;
    for (int b = 0; b < io->batch; b++) {
        for (int t = 0; t < seq; t++) {
            int id = (int)io->in[(size_t)b * seq + t] - lo;
            const float *row = io->dout + ((size_t)b * seq + t) * units;
            float *tok = id >= 0 && id < s ? io->dparams + (size_t)(id + lo) * units : NULL;
            for (int j = 0; j < units; j++) {
                if (tok)
                    tok[j] += row[j];
                dwpe[(size_t)t * units + j] += row[j];
            }
        }
    }
}

void tp_forward(const TpPlan *plan, int l, int shard, const LayerIO *io)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN)
        column_forward(ly, tl, shard, io);
    else if (tl->split == TP_ROW)
        row_forward(ly, tl->slice, shard * tl->slice, io);
    else if (tl->split == TP_LOCAL)
        tl->local.ops->forward(&tl->local, io);
    else if (tl->split == TP_VOCAB)
        vocab_forward(ly, shard * tl->slice, tl->slice, io);
    else
        ly->ops->forward(ly, io);
}

void tp_forward_finish(const TpPlan *plan, int l, const LayerIO *io)
{
    const Layer *ly = &plan->m->layers[l];
    if (plan->layers[l].split == TP_VOCAB)
        vocab_finish(ly, io);
    if (plan->layers[l].split != TP_ROW)
        return;
    const int rows = io->batch * layer_dense_rows(ly), n_in = layer_dense_features(ly);
    const float *bias = io->params + (size_t)ly->units * n_in; /* (units) */
    add_bias_relu(io->out, bias, rows, ly->units, ly->units, ly->relu);
}

/* The backward of block_forward's block, dout (rows, M) with row stride
 * ldo (masked by the fused ReLU when the layer has one, contiguous):
 *   dW block += dout^T in;  dbias (M) += sums of dout;
 *   din (rows, N) = dout W block, or += when din_adds */
static void block_backward(const Layer *ly, const float *wgt, float *dwgt, float *dbias, int M,
                           int N, const float *dout, int ldo, int din_adds, const LayerIO *io)
{
    const int rows = io->batch * layer_dense_rows(ly), n_in = layer_dense_features(ly);
    if (ly->relu) {
        dout = relu_mask(io->out, dout, io->scratch, (size_t)rows * M);
        ldo = M;
    }
    GemmArgs gw = {.trans_a = 1,
                   .m = M,
                   .n = N,
                   .k = rows,
                   .alpha = 1.0f,
                   .a = dout,
                   .lda = ldo,
                   .b = io->in,
                   .ldb = N,
                   .beta = 1.0f,
                   .c = dwgt,
                   .ldc = n_in};
    gemm(&gw);
    add_column_sums(dbias, dout, rows, M, ldo);
    if (io->din) {
        GemmArgs gx = {.m = rows,
                       .n = N,
                       .k = M,
                       .alpha = 1.0f,
                       .a = dout,
                       .lda = ldo,
                       .b = wgt,
                       .ldb = n_in,
                       .beta = din_adds ? 1.0f : 0.0f,
                       .c = io->din,
                       .ldc = N};
        gemm(&gx);
    }
}

/* COLUMN backward, dout (rows, parts s), for each part p:
 *   dW[lo_p : lo_p + s, :] += dout_p^T in;  db[lo_p : lo_p + s] += sums of dout_p;
 *   din (+)= dout_p W[lo_p : lo_p + s, :] (partial: the caller all-reduces) */
static void column_backward(const Layer *ly, const TpLayer *tl, int shard, const LayerIO *io)
{
    const size_t units = (size_t)ly->units, n_in = (size_t)layer_dense_features(ly);
    const int s = tl->slice;
    for (int p = 0; p < tl->parts; p++) {
        size_t lo = (size_t)column_lo(ly, tl, shard, p);
        block_backward(ly, io->params + lo * n_in, io->dparams + lo * n_in,
                       io->dparams + units * n_in + lo, s, (int)n_in, io->dout + p * s,
                       tl->parts * s, p > 0, io);
    }
}

/* ROW backward, dout (rows, units) full:
 *   dW[:, lo:hi] += dout^T in;  db += sums of dout (whole);  din = dout W[:, lo:hi] (final) */
static void row_backward(const Layer *ly, int s, int lo, const LayerIO *io)
{
    const size_t units = (size_t)ly->units, n_in = (size_t)layer_dense_features(ly);
    block_backward(ly, io->params + lo, io->dparams + lo, io->dparams + units * n_in, ly->units, s,
                   io->dout, ly->units, 0, io);
}

void tp_backward(const TpPlan *plan, int l, int shard, const LayerIO *io)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN)
        column_backward(ly, tl, shard, io);
    else if (tl->split == TP_ROW)
        row_backward(ly, tl->slice, shard * tl->slice, io);
    else if (tl->split == TP_LOCAL)
        tl->local.ops->backward(&tl->local, io);
    else if (tl->split == TP_VOCAB)
        vocab_backward(ly, shard * tl->slice, tl->slice, io);
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
    const Layer *ly = &plan->m->layers[l];
    if (plan->layers[l].split == TP_VOCAB)
        return (size_t)batch * shape_size(ly->out);
    if (plan->layers[l].split != TP_ROW)
        return 0;
    return (size_t)batch * (size_t)layer_dense_rows(ly) * (size_t)ly->units;
}

size_t tp_backward_allreduce_floats(const TpPlan *plan, int l, int batch)
{
    if (plan->layers[l].split != TP_COLUMN || !needs_din(plan, l))
        return 0;
    return (size_t)batch * shape_size(plan->m->layers[l].in);
}

/*
 * Costs of one shard, B = GEMM rows (batch, or batch * T over positions),
 * n = input features a row, u = units, s = slice, P = parts, r = 1 with a
 * fused ReLU (else 0), d = 1 when din is produced (else 0), p = parameter
 * floats the shard holds (tp_layer_blocks):
 *   COLUMN forward   2 B P s n + B P s + r B P s          (GEMMs, bias, ReLU)
 *          backward  2 P s n B + B P s + d 2 B n P s + r B P s
 *                                                         (dW, db, din, mask)
 *   ROW    forward   2 B u s                              (GEMM only)
 *          finish    B u + r B u                          (bias, ReLU)
 *          backward  r B u + 2 u s B + B u + d 2 B s u    (mask, dW, db, din)
 *   LOCAL  the layer's own counts on the shard's shapes
 *   VOCAB  forward 0 (copies), finish B u (the positions' rows), backward
 *          2 B u, as the unsplit embedding counts them (every token's row
 *          as if it were the shard's), with B = batch * T
 * Bytes as model.c counts them, 4 per float: forward reads the input and
 * the parameters it uses and writes the output (the finish reads the summed
 * output and b, and writes the output); backward reads dout and the input,
 * reads and writes the p gradient floats, and with din also reads the p
 * parameters and writes din.
 */
typedef struct TpDims {
    double B, n, u, s, r, d;
} TpDims;

static TpDims tp_dims(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    double parts = tl->split == TP_COLUMN ? tl->parts : 1;
    return (TpDims){.B = (double)batch * layer_dense_rows(ly),
                    .n = layer_dense_features(ly),
                    .u = ly->units,
                    .s = parts * tl->slice,
                    .r = ly->relu ? 1.0 : 0.0,
                    .d = needs_din(plan, l) ? 1.0 : 0.0};
}

/* A LOCAL layer's cost, as model.c counts a parameter-free layer's. */
static TpCost local_cost(const TpPlan *plan, int l, int batch, int backward)
{
    const Layer *lo = &plan->layers[l].local;
    double in = (double)batch * shape_size(lo->in), out = (double)batch * shape_size(lo->out);
    if (!backward)
        return (TpCost){lo->ops->forward_flops(lo, batch), sizeof(float) * (in + out)};
    int d = needs_din(plan, l);
    return (TpCost){lo->ops->backward_flops(lo, batch, d),
                    sizeof(float) * (out + in + (d ? in : 0.0))};
}

/* VOCAB: floats of the ids, of the output, of the shard's token rows and
 * of the position table. */
typedef struct VocabDims {
    double in, out, rows, pos;
} VocabDims;

static VocabDims vocab_dims(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    return (VocabDims){.in = (double)batch * shape_size(ly->in),
                       .out = (double)batch * shape_size(ly->out),
                       .rows = (double)plan->layers[l].slice * ly->units,
                       .pos = (double)ly->in.c * ly->units};
}

TpCost tp_forward_cost(const TpPlan *plan, int l, int batch)
{
    const TpLayer *tl = &plan->layers[l];
    TpDims x = tp_dims(plan, l, batch);
    if (tl->split == TP_VOCAB) {
        VocabDims v = vocab_dims(plan, l, batch);
        return (TpCost){.flops = 0.0, .bytes = sizeof(float) * (v.in + v.rows + v.out)};
    }
    if (tl->split == TP_COLUMN)
        return (TpCost){.flops = 2.0 * x.B * x.s * x.n + x.B * x.s + x.r * x.B * x.s,
                        .bytes = sizeof(float) * (x.B * x.n + x.s * (x.n + 1.0) + x.B * x.s)};
    if (tl->split == TP_ROW)
        return (TpCost){.flops = 2.0 * x.B * x.u * x.s,
                        .bytes = sizeof(float) * (x.B * x.s + x.u * x.s + x.B * x.u)};
    if (tl->split == TP_LOCAL)
        return local_cost(plan, l, batch, 0);
    return (TpCost){.flops = model_layer_forward_flops(plan->m, l, batch),
                    .bytes = model_layer_forward_bytes(plan->m, l, batch)};
}

TpCost tp_finish_cost(const TpPlan *plan, int l, int batch)
{
    if (plan->layers[l].split == TP_VOCAB) {
        VocabDims v = vocab_dims(plan, l, batch);
        return (TpCost){.flops = v.out, .bytes = sizeof(float) * (2.0 * v.out + v.pos)};
    }
    if (plan->layers[l].split != TP_ROW)
        return (TpCost){0.0, 0.0};
    TpDims x = tp_dims(plan, l, batch);
    return (TpCost){.flops = x.B * x.u + x.r * x.B * x.u,
                    .bytes = sizeof(float) * (x.B * x.u + x.u + x.B * x.u)};
}

TpCost tp_backward_cost(const TpPlan *plan, int l, int batch)
{
    const TpLayer *tl = &plan->layers[l];
    TpDims x = tp_dims(plan, l, batch);
    const double B = x.B, n = x.n, u = x.u, s = x.s, r = x.r, d = x.d;
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
    if (tl->split == TP_LOCAL)
        return local_cost(plan, l, batch, 1);
    if (tl->split == TP_VOCAB) {
        VocabDims v = vocab_dims(plan, l, batch);
        return (TpCost){.flops = 2.0 * v.out,
                        .bytes = sizeof(float) * (v.out + v.in + 2.0 * (v.rows + v.pos))};
    }
    return (TpCost){.flops = model_layer_backward_flops(plan->m, l, batch),
                    .bytes = model_layer_backward_bytes(plan->m, l, batch)};
}

size_t tp_out_floats(const TpPlan *plan, int l, int batch)
{
    const TpLayer *tl = &plan->layers[l];
    const Layer *ly = &plan->m->layers[l];
    if (tl->split == TP_COLUMN)
        return (size_t)batch * layer_dense_rows(ly) * (size_t)tl->parts * (size_t)tl->slice;
    if (tl->split == TP_LOCAL)
        return (size_t)batch * shape_size(tl->local.out);
    return (size_t)batch * shape_size(ly->out);
}

size_t tp_scratch_floats(const TpPlan *plan, int l, int batch)
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    if (tl->split == TP_COLUMN) /* the masked dout slice */
        return ly->relu ? tp_out_floats(plan, l, batch) : 0;
    if (tl->split == TP_ROW) /* the masked full dout */
        return ly->relu ? tp_out_floats(plan, l, batch) : 0;
    if (tl->split == TP_LOCAL)
        return tl->local.ops->scratch_floats(&tl->local, batch);
    return ly->ops->scratch_floats(ly, batch);
}

size_t tp_layer_activation_floats(const TpPlan *plan, int l, int batch)
{
    const TpLayer *tl = &plan->layers[l];
    const Layer *ly = tl->split == TP_LOCAL ? &tl->local : &plan->m->layers[l];
    size_t n = tp_out_floats(plan, l, batch);
    if (ly->ops->saved_floats) /* a LOCAL layer's on its slice, else whole */
        n += ly->ops->saved_floats(ly, batch);
    return n;
}

size_t tp_activation_floats(const TpPlan *plan, int batch)
{
    size_t n = 0;
    for (int l = plan->first; l < plan->last; l++)
        n += tp_layer_activation_floats(plan, l, batch);
    return n;
}

int tp_layer_blocks(const TpPlan *plan, int l, int shard, TpBlock blocks[TP_MAX_BLOCKS])
{
    const Layer *ly = &plan->m->layers[l];
    const TpLayer *tl = &plan->layers[l];
    const size_t off = ly->param_offset;
    if (ly->param_count == 0)
        return 0;
    if (tl->split == TP_REPLICATED) { /* runs of at most 2^30 floats (TpBlock counts in int) */
        const size_t run = (size_t)1 << 30, whole = ly->param_count / run;
        int n = 0;
        if (whole > 0)
            blocks[n++] = (TpBlock){off, (int)whole, (int)run, run, 1};
        if (ly->param_count % run)
            blocks[n++] = (TpBlock){off + whole * run, 1, (int)(ly->param_count % run),
                                    ly->param_count % run, 1};
        return n;
    }
    if (tl->split == TP_VOCAB) { /* the shard's token rows, then the whole position table */
        const size_t units = (size_t)ly->units, lo = (size_t)shard * tl->slice;
        blocks[0] = (TpBlock){off + lo * units, tl->slice, ly->units, units, 0};
        blocks[1] = (TpBlock){off + (size_t)ly->vocab * units, ly->in.c, ly->units, units, 1};
        return 2;
    }
    const int units = ly->units, n_in = layer_dense_features(ly), s = tl->slice;
    const size_t bias = off + (size_t)units * n_in;
    if (tl->split == TP_COLUMN) { /* each part's rows, then each part's bias */
        for (int p = 0; p < tl->parts; p++) {
            size_t lo = (size_t)column_lo(ly, tl, shard, p);
            blocks[p] = (TpBlock){off + lo * n_in, s, n_in, (size_t)n_in, 0};
            blocks[tl->parts + p] = (TpBlock){bias + lo, 1, s, (size_t)s, 0};
        }
        return 2 * tl->parts;
    }
    const int lo = shard * s; /* ROW: columns, then the whole bias */
    blocks[0] = (TpBlock){off + (size_t)lo, units, s, (size_t)n_in, 0};
    blocks[1] = (TpBlock){bias, 1, units, (size_t)units, 1};
    return 2;
}

size_t tp_blocks_each(const TpBlock *blocks, int n,
                      void (*fn)(void *ctx, size_t at, size_t k, size_t len), void *ctx)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        const TpBlock *h = &blocks[i];
        for (int r = 0; r < h->rows; r++, k += (size_t)h->cols)
            fn(ctx, h->offset + (size_t)r * h->stride, k, (size_t)h->cols);
    }
    return k;
}

typedef struct BlocksCopy {
    float *block, *pack;
    int to_pack;
} BlocksCopy;

static void blocks_copy_row(void *ctx, size_t at, size_t k, size_t len)
{
    const BlocksCopy *c = ctx;
    if (!c->pack)
        memset(c->block + at, 0, len * sizeof(float));
    else if (c->to_pack)
        memcpy(c->pack + k, c->block + at, len * sizeof(float));
    else
        memcpy(c->block + at, c->pack + k, len * sizeof(float));
}

size_t tp_blocks_copy(const TpBlock *blocks, int n, float *block, float *pack, int to_pack)
{
    BlocksCopy c = {block, pack, to_pack};
    return tp_blocks_each(blocks, n, blocks_copy_row, &c);
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
