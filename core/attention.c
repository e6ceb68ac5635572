/*
 * attention.c - causal multi-head self-attention, no parameters.
 *
 * A sample's input (T, 3d, 1) holds at each position t the query, key and
 * value rows q_t, k_t, v_t of d = heads * hs features each, side by side;
 * head h reads features h*hs .. h*hs + hs - 1 of each.  Per (sample, head)
 * the kernel works on the (T, hs) matrices Q, K, V read in place out of the
 * interleaved rows (row stride 3d, no copies) with four GEMMs:
 *   S = Q K^T (T, T), P = causal softmax of S / sqrt(hs) row by row
 *   (position t attends to 0..t; the row maximum is subtracted first),
 *   O = P V (T, hs), written into head h's hs features of the output rows.
 * The GEMMs are dense: the masked upper triangle of S is computed and
 * thrown away, and P V multiplies its zeros, and both are charged (as a
 * dense GEMM is); the softmax loops touch only the causal part.  Forward
 * saves P (batch, heads, T, T), masked entries exactly 0.
 *
 * Backward, per (sample, head), with dP/dS one (T, T) matrix in scratch:
 *   dP = dO V^T, dV = P^T dO, dS = P .* (dP - rowsum(P .* dP)) / sqrt(hs)
 *   on the causal part (0 above it), dQ = dS K, dK = dS^T Q,
 * the last three written straight into din's interleaved rows (beta = 0:
 * together the heads cover every feature of din).  Without din there is
 * nothing to do: there are no parameters.
 */
#include "layer.h"
#include "layer_util.h"

#include <math.h>

#include "gemm.h"

static int attention_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    if (l->heads < 1)
        return dt_fail(err, DT_EINPUT, "attention: heads must be at least 1 (got %d)", l->heads);
    if (l->in.w != 1)
        return dt_fail(err, DT_EINPUT,
                       "attention: input (%d, %d, %d) is not a sequence (T, 3 * d_model, 1)",
                       l->in.c, l->in.h, l->in.w);
    if (l->in.h % 3 != 0)
        return dt_fail(err, DT_EINPUT,
                       "attention: input features %d are not 3 * d_model (query, key, value)",
                       l->in.h);
    if ((l->in.h / 3) % l->heads != 0)
        return dt_fail(err, DT_EINPUT, "attention: d_model %d is not a multiple of heads %d",
                       l->in.h / 3, l->heads);
    l->out = (Shape){l->in.c, l->in.h / 3, 1};
    l->param_count = 0;
    return 0;
}

/* One (T, T) matrix: dP, then dS in place, of one (sample, head). */
static size_t attention_scratch_floats(const Layer *l, int batch)
{
    (void)batch;
    return (size_t)l->in.c * l->in.c;
}

/* The probabilities P of every (sample, head). */
static size_t attention_saved_floats(const Layer *l, int batch)
{
    return (size_t)batch * l->heads * l->in.c * l->in.c;
}

/* Where one (sample, head)'s matrices live. */
typedef struct Head {
    int seq, hs, d; /* T, head size, d_model */
    float scale;    /* 1 / sqrt(hs) */
    size_t qkv, o;  /* offsets of its Q (K, V follow at +d, +2d) and of its O */
    float *p;       /* (T, T): P */
} Head;

static Head attention_head(const Layer *l, const LayerIO *io, int b, int h)
{
    Head hd;
    hd.seq = l->in.c;
    hd.d = l->in.h / 3;
    hd.hs = hd.d / l->heads;
    hd.scale = 1.0f / sqrtf((float)hd.hs);
    hd.qkv = (size_t)b * hd.seq * 3 * hd.d + (size_t)h * hd.hs;
    hd.o = (size_t)b * hd.seq * hd.d + (size_t)h * hd.hs;
    hd.p = io->saved + ((size_t)b * l->heads + h) * hd.seq * hd.seq;
    return hd;
}

/* C (m, n) = op(A) op(B) with beta = 0. */
static void attention_gemm(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda,
                           const float *b, int ldb, float *c, int ldc)
{
    GemmArgs g = {.trans_a = trans_a,
                  .trans_b = trans_b,
                  .m = m,
                  .n = n,
                  .k = k,
                  .alpha = 1.0f,
                  .a = a,
                  .lda = lda,
                  .b = b,
                  .ldb = ldb,
                  .beta = 0.0f,
                  .c = c,
                  .ldc = ldc};
    gemm(&g);
}

/* Row t of S (in p) becomes softmax(S[t][0..t] * scale), zeros after. */
static void attention_softmax(float *p /* (T, T) */, int seq, float scale)
{
    for (int t = 0; t < seq; t++) {
        float *row = p + (size_t)t * seq; /* (T) */
        float max = row[0];
        for (int j = 1; j <= t; j++)
            max = row[j] > max ? row[j] : max;
        float sum = 0.0f;
        for (int j = 0; j <= t; j++) {
            row[j] = expf((row[j] - max) * scale);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j <= t; j++)
            row[j] *= inv;
        for (int j = t + 1; j < seq; j++)
            row[j] = 0.0f;
    }
}

static void attention_forward(const Layer *l, const LayerIO *io)
{
    for (int b = 0; b < io->batch; b++) {
        for (int h = 0; h < l->heads; h++) {
            Head hd = attention_head(l, io, b, h);
            const int seq = hd.seq, hs = hd.hs, d = hd.d;
            const float *q = io->in + hd.qkv; /* (T, hs), row stride 3d */
            const float *k = q + d, *v = q + 2 * d;
            /* S = Q K^T into P, then the causal softmax in place */
            attention_gemm(0, 1, seq, seq, hs, q, 3 * d, k, 3 * d, hd.p, seq);
            attention_softmax(hd.p, seq, hd.scale);
            /* O = P V */
            attention_gemm(0, 0, seq, hs, seq, hd.p, seq, v, 3 * d, io->out + hd.o, d);
        }
    }
}

/* Positions [first, last) of sample 0, one at a time: position t's scores
 * against the keys of 0..t (dot products in scratch), their causal softmax
 * as attention_softmax takes it, and the weighted sum of the values.  The
 * same maths as the GEMMs above, rounded in another order. */
static void attention_forward_rows(const Layer *l, const LayerIO *io, int first, int last)
{
    const int d = l->in.h / 3, hs = d / l->heads;
    const float scale = 1.0f / sqrtf((float)hs);
    float *s = io->scratch; /* (T): the scores of one position */
    for (int h = 0; h < l->heads; h++) {
        const float *qkv = io->in + (size_t)h * hs; /* head h's q of position 0 */
        for (int t = first; t < last; t++) {
            const float *q = qkv + (size_t)t * 3 * d; /* (hs) */
            float max = -INFINITY;
            for (int j = 0; j <= t; j++) {
                const float *k = qkv + (size_t)j * 3 * d + d; /* (hs) */
                float dot = 0.0f;
                for (int i = 0; i < hs; i++)
                    dot += q[i] * k[i];
                s[j] = dot;
                max = dot > max ? dot : max;
            }
            float sum = 0.0f;
            for (int j = 0; j <= t; j++) {
                s[j] = expf((s[j] - max) * scale);
                sum += s[j];
            }
            float inv = 1.0f / sum, *o = io->out + (size_t)t * d + (size_t)h * hs; /* (hs) */
            for (int i = 0; i < hs; i++)
                o[i] = 0.0f;
            for (int j = 0; j <= t; j++) {
                const float p = s[j] * inv, *v = qkv + (size_t)j * 3 * d + 2 * d; /* (hs) */
                for (int i = 0; i < hs; i++)
                    o[i] += p * v[i];
            }
        }
    }
}

/* dP (in ds) becomes dS = P .* (dP - rowsum(P .* dP)) * scale on the
 * causal part, 0 above it. */
static void attention_dscores(const float *p /* (T, T) */, float *ds /* (T, T) */, int seq,
                              float scale)
{
    for (int t = 0; t < seq; t++) {
        const float *pr = p + (size_t)t * seq; /* (T) */
        float *row = ds + (size_t)t * seq;     /* (T) */
        float dot = 0.0f;
        for (int j = 0; j <= t; j++)
            dot += pr[j] * row[j];
        for (int j = 0; j <= t; j++)
            row[j] = pr[j] * (row[j] - dot) * scale;
        for (int j = t + 1; j < seq; j++)
            row[j] = 0.0f;
    }
}

static void attention_backward(const Layer *l, const LayerIO *io)
{
    if (!io->din)
        return;
    float *ds = io->scratch; /* (T, T) */
    for (int b = 0; b < io->batch; b++) {
        for (int h = 0; h < l->heads; h++) {
            Head hd = attention_head(l, io, b, h);
            const int seq = hd.seq, hs = hd.hs, d = hd.d;
            const float *q = io->in + hd.qkv; /* (T, hs), row stride 3d */
            const float *k = q + d, *v = q + 2 * d;
            const float *dout = io->dout + hd.o; /* (T, hs), row stride d */
            float *dq = io->din + hd.qkv;        /* (T, hs), row stride 3d */
            float *dk = dq + d, *dv = dq + 2 * d;
            /* dP = dO V^T; dV = P^T dO */
            attention_gemm(0, 1, seq, seq, hs, dout, d, v, 3 * d, ds, seq);
            attention_gemm(1, 0, seq, hs, seq, hd.p, seq, dout, d, dv, 3 * d);
            attention_dscores(hd.p, ds, seq, hd.scale);
            /* dQ = dS K; dK = dS^T Q */
            attention_gemm(0, 0, seq, hs, seq, ds, seq, k, 3 * d, dq, 3 * d);
            attention_gemm(1, 0, seq, hs, seq, ds, seq, q, 3 * d, dk, 3 * d);
        }
    }
}

/* forward, per (sample, head): the S GEMM (T, T, hs) 2*T*T*hs and the O
 * GEMM (T, hs, T) 2*T*hs*T, both dense; the softmax of row t (n = t + 1
 * entries): n - 1 comparisons, per entry a subtraction, a multiply by the
 * scale, an exp and an add to the sum (4n), 1 reciprocal and n
 * normalising multiplies: 6n, summed over t: 6 * T(T+1)/2 = 3T(T+1).
 * I.e. batch*heads * (4*T*T*hs + 3*T*(T+1)). */
static double attention_forward_flops(const Layer *l, int batch)
{
    double t = l->in.c, hs = (double)(l->in.h / 3 / l->heads);
    return (double)batch * l->heads * (4.0 * t * t * hs + 3.0 * t * (t + 1.0));
}

/* backward, per (sample, head) when din is wanted: four dense GEMMs of
 * 2*T*T*hs each (dP, dV, dQ, dK); dS of row t (n = t + 1 entries): a
 * multiply and an add per entry for the row sum (2n), then a subtraction
 * and two multiplies per entry (3n): 5n, summed over t: 5 * T(T+1)/2.
 * I.e. batch*heads * (8*T*T*hs + 5*T*(T+1)/2).  Nothing without din. */
static double attention_backward_flops(const Layer *l, int batch, int need_din)
{
    if (!need_din)
        return 0.0;
    double t = l->in.c, hs = (double)(l->in.h / 3 / l->heads);
    return (double)batch * l->heads * (8.0 * t * t * hs + 2.5 * t * (t + 1.0));
}

const LayerOps attention_ops = {
    .name = "attention",
    .setup = attention_setup,
    .init = layer_init_none,
    .scratch_floats = attention_scratch_floats,
    .saved_floats = attention_saved_floats,
    .forward = attention_forward,
    .forward_rows = attention_forward_rows,
    .backward = attention_backward,
    .forward_flops = attention_forward_flops,
    .backward_flops = attention_backward_flops,
};
