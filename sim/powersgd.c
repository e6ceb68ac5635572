/*
 * powersgd.c - PowerSGD (Vogels, Karimireddy and Jaggi, NeurIPS 2019):
 * `compress = powersgd` with `rank` r (see compress.h).
 *
 * For each weight matrix M (rows x cols, row-major; core/model.h
 * model_matrices) of a worker's gradient, plus its residual with error
 * feedback:
 *   P = M Q        (rows x r), Q the one kept from the last step (the warm
 *                  start: successive steps continue one power iteration);
 *   P summed over the workers: the first all-reduce, which also carries
 *                  every float no compressed matrix holds (biases, and
 *                  the matrices that (rows + cols) r floats would not
 *                  shrink), sent whole;
 *   P^             P with orthonormal columns (Gram-Schmidt);
 *   Q = M^T P^     (cols x r), summed over the workers: the second
 *                  all-reduce;
 *   and every worker takes P^ Q^T for the sum of the workers' M: the sum
 *   projected on P^'s columns.
 * Both all-reduces are sums, and everyone gets the same sum, so every
 * worker ends with the same gradient and the same Q.  With error feedback
 * a worker keeps M - P^ Q_w^T (its matrix less its own share of the
 * approximation, Q_w = M^T P^ before the sum) and adds it to its next
 * gradient; floats sent whole leave nothing.  Q starts uniform in [-1, 1)
 * from the scenario's seed, the same on every worker.  The products are
 * OpenBLAS GEMMs (core/gemm.h), charged on the device as compute.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "gemm.h"
#include "rng.h"

/* The rank m travels with; 0 when its factors would not be fewer floats
 * than itself (it is then sent whole). */
static int psgd_rank(const Compress *c, const ModelMatrix *m)
{
    int r = c->cfg.rank > 0 ? c->cfg.rank : 4;
    r = r < m->rows ? r : m->rows;
    r = r < m->cols ? r : m->cols;
    size_t whole = (size_t)m->rows * (size_t)m->cols;
    return whole > ((size_t)m->rows + (size_t)m->cols) * (size_t)r ? r : 0;
}

int powersgd_init(Compress *c, DtError *err)
{
    size_t qn = 0, pn = 0;
    for (int j = 0; j < c->cfg.nmats; j++) {
        const ModelMatrix *m = &c->cfg.mats[j];
        size_t r = (size_t)psgd_rank(c, m);
        pn += (size_t)m->rows * r;
        qn += (size_t)m->cols * r;
    }
    c->pbuf = malloc((pn + c->count + 1) * sizeof *c->pbuf);
    c->qbuf = malloc((qn + 1) * sizeof *c->qbuf);
    c->q = malloc((qn + 1) * sizeof *c->q);
    if (!c->pbuf || !c->qbuf || !c->q) {
        compress_free(c);
        return dt_fail(err, DT_ERUNTIME, "out of memory for PowerSGD's factors");
    }
    Rng rng = rng_make(c->cfg.seed ^ 0x70e35cdULL, 0);
    for (size_t i = 0; i < qn; i++)
        c->q[i] = 2.0f * rng_uniform(&rng) - 1.0f;
    return 0;
}

/* A bucket [offset, offset + n) of the gradient: its matrices mats[j0 ..
 * j1), the first one's Q at q + qat; the floats of its P's, its Q's and
 * what goes whole; sums over its compressed matrices for the costs. */
typedef struct PsgdSpan {
    int j0, j1;
    size_t qat, pn, qn, whole;
    double mn, mnr, mrr; /* rows cols, rows cols r, rows r r */
} PsgdSpan;

static PsgdSpan psgd_span(const Compress *c, size_t n, size_t offset)
{
    PsgdSpan s = {.whole = n};
    int j = 0;
    for (; j < c->cfg.nmats && c->cfg.mats[j].offset < offset; j++)
        s.qat += (size_t)c->cfg.mats[j].cols * (size_t)psgd_rank(c, &c->cfg.mats[j]);
    for (s.j0 = j; j < c->cfg.nmats && c->cfg.mats[j].offset < offset + n; j++) {
        const ModelMatrix *m = &c->cfg.mats[j];
        size_t r = (size_t)psgd_rank(c, m), mn = (size_t)m->rows * (size_t)m->cols;
        if (!r)
            continue;
        s.pn += (size_t)m->rows * r;
        s.qn += (size_t)m->cols * r;
        s.whole -= mn;
        s.mn += (double)mn;
        s.mnr += (double)mn * (double)r;
        s.mrr += (double)m->rows * (double)r * (double)r;
    }
    s.j1 = j;
    return s;
}

/* Copy the bucket's floats that no compressed matrix holds into packed
 * (out) or back from it. */
static void psgd_whole(const Compress *c, const PsgdSpan *s, float *buf, size_t n, size_t offset,
                       float *packed, int out)
{
    size_t at = 0, from = 0; /* in packed; in buf */
    for (int j = s->j0; j <= s->j1; j++) {
        size_t until = n, len = 0;
        if (j < s->j1) {
            const ModelMatrix *m = &c->cfg.mats[j];
            if (!psgd_rank(c, m))
                continue;
            until = m->offset - offset;
            len = (size_t)m->rows * (size_t)m->cols;
        }
        size_t gap = until - from;
        if (out)
            memcpy(packed + at, buf + from, gap * sizeof *buf);
        else
            memcpy(buf + from, packed + at, gap * sizeof *buf);
        at += gap;
        from = until + len;
    }
}

/* The r columns of p (rows x r, row-major) made orthonormal, in order
 * (modified Gram-Schmidt, sums in double); a column that was all but in
 * the span of the earlier ones becomes 0. */
static void psgd_orthonormal(float *p, int rows, int r)
{
    for (int a = 0; a < r; a++) {
        double before = 0.0, after = 0.0;
        for (int i = 0; i < rows; i++)
            before += (double)p[(size_t)i * r + a] * p[(size_t)i * r + a];
        for (int b = 0; b < a; b++) {
            double dot = 0.0;
            for (int i = 0; i < rows; i++)
                dot += (double)p[(size_t)i * r + b] * p[(size_t)i * r + a];
            for (int i = 0; i < rows; i++)
                p[(size_t)i * r + a] -= (float)dot * p[(size_t)i * r + b];
        }
        for (int i = 0; i < rows; i++)
            after += (double)p[(size_t)i * r + a] * p[(size_t)i * r + a];
        float scale = after > 1e-10 * before && after > 0.0 ? (float)(1.0 / sqrt(after)) : 0.0f;
        for (int i = 0; i < rows; i++)
            p[(size_t)i * r + a] *= scale;
    }
}

/* Before the first all-reduce: M plus residual, P = M Q for each matrix,
 * and the floats sent whole after the P's. */
static void psgd_project(Compress *c, const PsgdSpan *s, float *buf, size_t n, size_t offset)
{
    float *res = c->residual ? c->residual + offset : NULL;
    for (size_t i = 0; res && i < n; i++) {
        buf[i] += res[i];
        res[i] = 0.0f; /* what goes whole leaves nothing; psgd_factor sets the matrices' */
    }
    size_t pat = 0, qat = s->qat;
    for (int j = s->j0; j < s->j1; j++) {
        const ModelMatrix *m = &c->cfg.mats[j];
        int r = psgd_rank(c, m);
        if (!r)
            continue;
        gemm(&(GemmArgs){.m = m->rows,
                         .n = r,
                         .k = m->cols,
                         .alpha = 1.0f,
                         .a = buf + (m->offset - offset),
                         .lda = m->cols,
                         .b = c->q + qat,
                         .ldb = r,
                         .c = c->pbuf + pat,
                         .ldc = r});
        pat += (size_t)m->rows * (size_t)r;
        qat += (size_t)m->cols * (size_t)r;
    }
    psgd_whole(c, s, buf, n, offset, c->pbuf + s->pn, 1);
}

/* After it: the floats sent whole back in buf (summed), P^, this worker's
 * Q = M^T P^, and with error feedback its residual M - P^ Q^T. */
static void psgd_factor(Compress *c, const PsgdSpan *s, float *buf, size_t n, size_t offset)
{
    psgd_whole(c, s, buf, n, offset, c->pbuf + s->pn, 0);
    size_t pat = 0, qat = 0;
    for (int j = s->j0; j < s->j1; j++) {
        const ModelMatrix *m = &c->cfg.mats[j];
        int r = psgd_rank(c, m);
        if (!r)
            continue;
        float *p = c->pbuf + pat, *q = c->qbuf + qat, *mat = buf + (m->offset - offset);
        psgd_orthonormal(p, m->rows, r);
        gemm(&(GemmArgs){.trans_a = 1,
                         .m = m->cols,
                         .n = r,
                         .k = m->rows,
                         .alpha = 1.0f,
                         .a = mat,
                         .lda = m->cols,
                         .b = p,
                         .ldb = r,
                         .c = q,
                         .ldc = r});
        if (c->residual) {
            float *res = c->residual + m->offset;
            memcpy(res, mat, (size_t)m->rows * (size_t)m->cols * sizeof *res);
            gemm(&(GemmArgs){.trans_b = 1,
                             .m = m->rows,
                             .n = m->cols,
                             .k = r,
                             .alpha = -1.0f,
                             .a = p,
                             .lda = r,
                             .b = q,
                             .ldb = r,
                             .beta = 1.0f,
                             .c = res,
                             .ldc = m->cols});
        }
        pat += (size_t)m->rows * (size_t)r;
        qat += (size_t)m->cols * (size_t)r;
    }
}

/* qbuf's Q's kept for the next step's P.  A column that came out 0
 * (its P column was dependent on the others, or the gradient had lower
 * rank, or none) would stay 0 for ever: it is drawn afresh, from the
 * seed, the matrix and the call (in an all-reduce the same on every
 * worker). */
static void psgd_keep(Compress *c, const PsgdSpan *s)
{
    size_t qat = 0;
    for (int j = s->j0; j < s->j1; j++) {
        const ModelMatrix *m = &c->cfg.mats[j];
        int r = psgd_rank(c, m);
        float *q = c->q + s->qat + qat;
        memcpy(q, c->qbuf + qat, (size_t)m->cols * (size_t)r * sizeof *q);
        for (int a = 0; a < r; a++) {
            int zero = 1;
            for (int i = 0; i < m->cols && zero; i++)
                zero = q[(size_t)i * r + a] == 0.0f;
            Rng rng = rng_make(c->cfg.seed ^ 0x70e35cdULL ^ ((uint64_t)j << 32),
                               (uint64_t)c->calls * 65537ULL + (uint64_t)a + 1);
            for (int i = 0; i < m->cols && zero; i++)
                q[(size_t)i * r + a] = 2.0f * rng_uniform(&rng) - 1.0f;
        }
        qat += (size_t)m->cols * (size_t)r;
    }
}

/* After the second: Q kept for the next step, and M = P^ Q^T. */
static void psgd_expand(Compress *c, const PsgdSpan *s, float *buf, size_t offset)
{
    psgd_keep(c, s);
    size_t pat = 0, qat = 0;
    for (int j = s->j0; j < s->j1; j++) {
        const ModelMatrix *m = &c->cfg.mats[j];
        int r = psgd_rank(c, m);
        if (!r)
            continue;
        size_t qn = (size_t)m->cols * (size_t)r;
        gemm(&(GemmArgs){.trans_b = 1,
                         .m = m->rows,
                         .n = m->cols,
                         .k = r,
                         .alpha = 1.0f,
                         .a = c->pbuf + pat,
                         .lda = r,
                         .b = c->qbuf + qat,
                         .ldb = r,
                         .c = buf + (m->offset - offset),
                         .ldc = m->cols});
        pat += (size_t)m->rows * (size_t)r;
        qat += qn;
    }
}

int powersgd_allreduce(Compress *c, const Group *g, const CollectiveOps *allreduce, float *buf,
                       size_t n, size_t offset)
{
    const PsgdSpan s = psgd_span(c, n, offset);
    const double pq = (double)(s.pn + s.qn);
    const double feedback = c->cfg.error_feedback == COMPRESS_FEEDBACK_ON ? 1.0 : 0.0;
    double t = record_clock();
    if (buf)
        psgd_project(c, &s, buf, n, offset);
    device_kernel(c->dev, t, (double)n + 2.0 * s.mnr, 8.0 * (double)n + 4.0 * (s.mn + pq),
                  "compress");
    if (allreduce->run(g, buf ? c->pbuf : NULL, s.pn + s.whole, 0) < 0)
        return -1;
    c->sent_bytes += g->comm->world->wire_bytes * (double)(s.pn + s.whole);
    t = record_clock();
    if (buf)
        psgd_factor(c, &s, buf, n, offset);
    if (s.qn == 0) /* nothing factored here (the same on every worker): all went whole */
        return 0;
    device_kernel(c->dev, t, 4.0 * s.mrr + (2.0 + 2.0 * feedback) * s.mnr + feedback * s.mn,
                  4.0 * (1.0 + 2.0 * feedback) * s.mn + 8.0 * pq + 4.0 * (double)s.whole,
                  "compress");
    if (allreduce->run(g, buf ? c->qbuf : NULL, s.qn, 0) < 0)
        return -1;
    t = record_clock();
    if (buf)
        psgd_expand(c, &s, buf, offset);
    device_kernel(c->dev, t, 2.0 * s.mnr, 4.0 * (s.mn + pq), "decompress");
    c->sent_bytes += g->comm->world->wire_bytes * (double)s.qn;
    return 0;
}

/* ---- point to point: a parameter server's pushes ----------------------- */

int powersgd_cut(const ModelMatrix *mats, int n, size_t off, size_t len, ModelMatrix *out)
{
    int k = 0;
    for (int j = 0; j < n; j++) {
        const ModelMatrix *m = &mats[j];
        size_t cols = (size_t)m->cols, end = m->offset + (size_t)m->rows * cols;
        size_t from = off > m->offset ? off : m->offset, to = off + len < end ? off + len : end;
        if (from >= to)
            continue;
        size_t r0 = (from - m->offset + cols - 1) / cols, r1 = (to - m->offset) / cols;
        if (r1 <= r0)
            continue;
        if (out)
            out[k] = (ModelMatrix){m->offset + r0 * cols, (int)(r1 - r0), m->cols};
        k++;
    }
    return k;
}

size_t powersgd_message_count(const Compress *c, size_t n, size_t offset)
{
    const PsgdSpan s = psgd_span(c, n, offset);
    return s.pn + s.qn + s.whole;
}

void powersgd_pack(Compress *c, float *buf, size_t n, size_t offset, float *msg)
{
    const PsgdSpan s = psgd_span(c, n, offset);
    const double feedback = c->cfg.error_feedback == COMPRESS_FEEDBACK_ON ? 1.0 : 0.0;
    double t = record_clock();
    if (buf) {
        /* P = M Q, as psgd_project lays them out, then P^ and this
         * worker's own Q = M^T P^ (and its residual), as psgd_factor */
        psgd_project(c, &s, buf, n, offset);
        psgd_factor(c, &s, buf, n, offset);
        memcpy(msg, c->pbuf, s.pn * sizeof *msg);
        memcpy(msg + s.pn, c->qbuf, s.qn * sizeof *msg);
        memcpy(msg + s.pn + s.qn, c->pbuf + s.pn, s.whole * sizeof *msg);
        psgd_keep(c, &s); /* the next push's warm start */
    }
    device_kernel(
        c->dev, t, (double)n + 4.0 * s.mrr + (4.0 + 2.0 * feedback) * s.mnr + feedback * s.mn,
        8.0 * (double)n + 4.0 * (2.0 + 2.0 * feedback) * s.mn + 12.0 * (double)(s.pn + s.qn),
        "compress");
}

void powersgd_expand(const Compress *c, Device *dev, const float *msg, size_t n, size_t offset,
                     float *out)
{
    const PsgdSpan s = psgd_span(c, n, offset);
    double t = record_clock();
    if (out) {
        size_t pat = 0, qat = 0;
        for (int j = s.j0; j < s.j1; j++) {
            const ModelMatrix *m = &c->cfg.mats[j];
            int r = psgd_rank(c, m);
            if (!r)
                continue;
            gemm(&(GemmArgs){.trans_b = 1,
                             .m = m->rows,
                             .n = m->cols,
                             .k = r,
                             .alpha = 1.0f,
                             .a = msg + pat,
                             .lda = r,
                             .b = msg + s.pn + qat,
                             .ldb = r,
                             .c = out + (m->offset - offset),
                             .ldc = m->cols});
            pat += (size_t)m->rows * (size_t)r;
            qat += (size_t)m->cols * (size_t)r;
        }
        psgd_whole(c, &s, out, n, offset, (float *)msg + s.pn + s.qn, 0);
    }
    device_kernel(dev, t, 2.0 * s.mnr, 4.0 * (s.mn + (double)(s.pn + s.qn + s.whole)),
                  "decompress");
}
