/*
 * compress.c - gradient compression for the all-reduce (see compress.h).
 */
#include "compress.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

const char *const compress_kinds[] = {"none",    "fp16",  "bf16",     "topk", "randomk",
                                      "signsgd", "gtopk", "powersgd", NULL};
const char *const compress_on_off[] = {"on", "off", NULL};

int compress_check(const CompressConfig *c, const KeySource *given, DtError *err)
{
    if (key_given(given, "ratio") && !compress_uses_ratio(c))
        return key_fail(given, "ratio", err,
                        "ratio is for compress = topk, randomk or gtopk, not %s",
                        compress_kinds[c->kind]);
    if (key_given(given, "rank") && c->kind != COMPRESS_POWERSGD)
        return key_fail(given, "rank", err, "rank is for compress = powersgd, not %s",
                        compress_kinds[c->kind]);
    if (key_given(given, "error_feedback") && !compress_sparse(c))
        return key_fail(given, "error_feedback", err,
                        "error_feedback is for compress = topk, randomk, signsgd, gtopk or "
                        "powersgd, which leave something out; %s keeps no residual",
                        compress_kinds[c->kind]);
    return 0;
}

void compress_summary(const CompressConfig *c, cJSON *root, double raw, double sent)
{
    cJSON *o = cJSON_AddObjectToObject(root, "compression");
    cJSON_AddStringToObject(o, "kind", compress_kinds[c->kind]);
    if (compress_uses_ratio(c))
        cJSON_AddNumberToObject(o, "ratio", compress_ratio(c));
    if (c->kind == COMPRESS_POWERSGD)
        cJSON_AddNumberToObject(o, "rank", c->rank > 0 ? c->rank : 4);
    if (compress_sparse(c))
        cJSON_AddStringToObject(o, "error_feedback", compress_on_off[c->error_feedback]);
    cJSON_AddNumberToObject(o, "gradient_bytes", raw);
    cJSON_AddNumberToObject(o, "message_bytes", sent);
    cJSON_AddNumberToObject(o, "compression_ratio", sent > 0 ? raw / sent : 0.0);
    record_measure(root, "compression_ratio", sent > 0 ? raw / sent : 0.0);
}

int compress_sparse(const CompressConfig *c)
{
    return c->kind >= COMPRESS_TOPK;
}

int compress_stateful(const CompressConfig *c)
{
    return c->kind == COMPRESS_POWERSGD ||
           (compress_sparse(c) && c->error_feedback == COMPRESS_FEEDBACK_ON);
}

int compress_uses_ratio(const CompressConfig *c)
{
    return c->kind == COMPRESS_TOPK || c->kind == COMPRESS_RANDOMK || c->kind == COMPRESS_GTOPK;
}

double compress_ratio(const CompressConfig *c)
{
    return c->ratio > 0 ? c->ratio : 0.01;
}

size_t compress_k(const CompressConfig *c, size_t n)
{
    size_t k = (size_t)(compress_ratio(c) * (double)n);
    return n == 0 ? 0 : k < 1 ? 1 : k > n ? n : k;
}

int compress_init(Compress *c, const CompressConfig *cfg, Device *dev, size_t count, long first,
                  DtError *err)
{
    *c = (Compress){.cfg = *cfg, .dev = dev, .count = count, .calls = first};
    if (!compress_sparse(cfg))
        return 0;
    if (cfg->error_feedback == COMPRESS_FEEDBACK_ON &&
        !(c->residual = calloc(count ? count : 1, sizeof *c->residual)))
        return dt_fail(err, DT_ERUNTIME, "out of memory for the compression's residual");
    if (cfg->kind == COMPRESS_POWERSGD)
        return powersgd_init(c, err);
    c->work = malloc((count ? count : 1) * sizeof *c->work);
    c->mag = malloc((count ? count : 1) * sizeof *c->mag);
    c->idx = malloc((count ? count : 1) * sizeof *c->idx);
    c->cand = malloc((count ? count : 1) * sizeof *c->cand);
    if (!c->work || !c->mag || !c->idx || !c->cand) {
        compress_free(c);
        return dt_fail(err, DT_ERUNTIME, "out of memory for the compression");
    }
    return 0;
}

void compress_free(Compress *c)
{
    free(c->residual);
    free(c->work);
    free(c->gather);
    free(c->idx);
    free(c->mag);
    free(c->cand);
    free(c->q);
    free(c->pbuf);
    free(c->qbuf);
    c->q = c->pbuf = c->qbuf = NULL;
    c->residual = c->work = c->gather = c->mag = NULL;
    c->idx = c->cand = NULL;
}

/* The all-gather's buffer, at least n floats. */
static float *gather_buffer(Compress *c, size_t n)
{
    if (n > c->gather_cap) {
        free(c->gather);
        c->gather = malloc(n * sizeof *c->gather);
        c->gather_cap = c->gather ? n : 0;
    }
    return c->gather;
}

/* The k-th largest (k >= 1) of v[0 .. n), which it reorders (Wirth's
 * selection, in descending order). */
static float kth_largest(float *v, size_t n, size_t k)
{
    long l = 0, r = (long)n - 1, want = (long)k - 1;
    while (l < r) {
        float x = v[want];
        long i = l, j = r;
        do {
            while (v[i] > x)
                i++;
            while (x > v[j])
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < want)
            l = i;
        if (want < i)
            r = j;
    }
    return v[want];
}

/* Of the m candidates cand[0 .. m) (ascending), the k of largest
 * magnitude mag[], into idx, ascending (ties go to the lower index). */
static void pick_largest(Compress *c, const float *mag, const int *cand, size_t m, size_t k)
{
    for (size_t j = 0; j < m; j++)
        c->work[j] = mag[cand[j]];
    float thr = kth_largest(c->work, m, k);
    size_t above = 0, taken = 0;
    for (size_t j = 0; j < m; j++)
        above += mag[cand[j]] > thr;
    size_t ties = k - above;
    for (size_t j = 0; j < m && taken < k; j++) {
        float v = mag[cand[j]];
        if (v > thr || (v == thr && ties > 0)) {
            ties -= v == thr;
            c->idx[taken++] = cand[j];
        }
    }
}

/* The k coordinates of largest magnitude mag[0 .. n) into idx, ascending
 * (ties go to the lower index).  A sample of the magnitudes gives a
 * threshold a little below the k-th largest, and only the coordinates
 * above it are ranked exactly; when the sample misjudges, all are. */
static void choose_topk(Compress *c, const float *mag, size_t n, size_t k)
{
    enum { SAMPLE = 4096 };
    size_t m = 0;
    if (n > 4 * SAMPLE && k < n / 8) {
        float sample[SAMPLE];
        for (size_t j = 0; j < SAMPLE; j++)
            sample[j] = mag[j * (n / SAMPLE)];
        size_t r = (size_t)(2.0 * (double)k * SAMPLE / (double)n) + 16;
        float thr = kth_largest(sample, SAMPLE, r < SAMPLE ? r : SAMPLE);
        for (size_t i = 0; i < n; i++)
            if (mag[i] >= thr)
                c->cand[m++] = (int)i;
    }
    if (m < k) { /* every coordinate a candidate */
        for (size_t i = 0; i < n; i++)
            c->cand[i] = (int)i;
        m = n;
    }
    pick_largest(c, mag, c->cand, m, k);
}

/* g's members with a handle whose messages travel as 4-byte words
 * whatever the run's precision: indices and sign bits cannot travel in
 * half precision. */
static Group words_group(const Group *g, Comm *words)
{
    *words = *g->comm;
    words->wire_bytes = 4.0;
    words->rounding = COMM_ROUND_NONE;
    Group wg = *g;
    wg.comm = words;
    return wg;
}

/* The ring all-gather of count floats over g, as 4-byte words. */
static int allgather_words(const Group *g, float *all, size_t count)
{
    Comm words;
    Group wg = words_group(g, &words);
    return collective_find(COLL_ALLGATHER, "ring")->run(&wg, all, count, 0);
}

/* topk's and gtopk's start: the gradient plus residual into buf, and its
 * k largest magnitudes (c->idx, ascending) as k pairs into mine: k
 * indices as words, then k values; the residual keeps the rest. */
static void topk_pack(Compress *c, float *buf, size_t n, size_t offset, size_t k, float *mine)
{
    float *res = c->residual ? c->residual + offset : NULL;
    for (size_t i = 0; i < n; i++) { /* acc, its magnitude, and (so far) the residual */
        float a = res ? buf[i] + res[i] : buf[i];
        buf[i] = a;
        c->mag[i] = fabsf(a);
        if (res)
            res[i] = a;
    }
    choose_topk(c, c->mag, n, k);
    for (size_t j = 0; j < k; j++) {
        uint32_t i = (uint32_t)c->idx[j];
        memcpy(mine + j, &i, sizeof i);
        mine[k + j] = buf[c->idx[j]];
        if (res) /* sent: nothing left of it */
            res[c->idx[j]] = 0.0f;
    }
}

static int allreduce_topk(Compress *c, const Group *g, float *buf, size_t n, size_t offset,
                          size_t k)
{
    const size_t per = 2 * k, p = (size_t)g->size;
    float *all = buf ? gather_buffer(c, p * per) : NULL;
    if (buf && !all)
        return -1;
    double t = record_clock();
    if (buf)
        topk_pack(c, buf, n, offset, k, all + (size_t)g->index * per);
    device_kernel(c->dev, t, 6.0 * (double)n, 16.0 * (double)n, "compress");
    if (allgather_words(g, all, p * per) < 0)
        return -1;
    t = record_clock();
    if (buf) {
        memset(buf, 0, n * sizeof *buf);
        for (size_t w = 0; w < p; w++)
            for (size_t j = 0; j < k; j++) {
                uint32_t i;
                memcpy(&i, all + w * per + j, sizeof i);
                buf[i] += all[w * per + k + j];
            }
    }
    device_kernel(c->dev, t, (double)(p * k), 4.0 * (double)(n + 2 * p * k), "decompress");
    c->sent_bytes += 8.0 * (double)k;
    return 0;
}

static uint32_t word_at(const float *v, size_t j)
{
    uint32_t i;
    memcpy(&i, v + j, sizeof i);
    return i;
}

/* gtopk's merge: b's k pairs added to a's (both ascending in index, as
 * topk_pack lays them out), and the k of largest magnitude kept in a,
 * ascending (ties go to the lower index); scratch holds 6 k floats. */
static void gtopk_merge(float *a, const float *b, size_t k, float *scratch)
{
    float *val = scratch, *idx = scratch + 2 * k, *mag = scratch + 4 * k;
    size_t m = 0, ia = 0, ib = 0;
    while (ia < k || ib < k) {
        uint32_t xa = ia < k ? word_at(a, ia) : UINT32_MAX,
                 xb = ib < k ? word_at(b, ib) : UINT32_MAX;
        uint32_t x = xa < xb ? xa : xb;
        float v = 0.0f;
        if (xa == x)
            v = a[k + ia++];
        if (xb == x)
            v += b[k + ib++];
        memcpy(idx + m, &x, sizeof x);
        val[m] = v;
        mag[m++] = fabsf(v);
    }
    float thr = kth_largest(mag, m, k);
    size_t above = 0, taken = 0;
    for (size_t j = 0; j < m; j++)
        above += fabsf(val[j]) > thr;
    size_t ties = k - above;
    for (size_t j = 0; j < m && taken < k; j++) {
        float v = fabsf(val[j]);
        if (v > thr || (v == thr && ties > 0)) {
            ties -= v == thr;
            memcpy(a + taken, idx + j, sizeof(float));
            a[k + taken++] = val[j];
        }
    }
}

/* gtopk: each member's top k up a binomial tree to member 0, merged at
 * every member on the way, then member 0's k pairs back down the tree. */
static int allreduce_gtopk(Compress *c, const Group *g, float *buf, size_t n, size_t offset,
                           size_t k)
{
    const size_t per = 2 * k;
    float *set = buf ? gather_buffer(c, 10 * k) : NULL, *child = set ? set + per : NULL;
    if (buf && !set)
        return -1;
    double t = record_clock();
    if (buf)
        topk_pack(c, buf, n, offset, k, set);
    device_kernel(c->dev, t, 6.0 * (double)n, 16.0 * (double)n, "compress");
    Comm words;
    Group wg = words_group(g, &words);
    const int p = g->size, vr = g->index;
    for (int mask = 1; mask < p; mask <<= 1) {
        if (vr & mask) {
            if (comm_send(&words, group_rank(g, vr - mask), set, per) < 0)
                return -1;
            break;
        }
        if (vr + mask < p) {
            if (comm_recv(&words, group_rank(g, vr + mask), child, per) < 0)
                return -1;
            t = record_clock();
            if (buf)
                gtopk_merge(set, child, k, child + per);
            device_kernel(c->dev, t, 6.0 * (double)k, 48.0 * (double)k, "compress");
        }
    }
    if (collective_find(COLL_BROADCAST, "tree")->run(&wg, set, per, 0) < 0)
        return -1;
    t = record_clock();
    if (buf) {
        float *res = c->residual ? c->residual + offset : NULL;
        for (size_t j = 0, f = 0; res && j < k; j++) { /* sent, but not in the final k */
            while (f < k && word_at(set, f) < (uint32_t)c->idx[j])
                f++;
            if (f == k || word_at(set, f) != (uint32_t)c->idx[j])
                res[c->idx[j]] = buf[c->idx[j]];
        }
        memset(buf, 0, n * sizeof *buf);
        for (size_t j = 0; j < k; j++)
            buf[word_at(set, j)] = set[k + j];
    }
    device_kernel(c->dev, t, (double)k, 4.0 * (double)n + 16.0 * (double)k, "decompress");
    c->sent_bytes += 8.0 * (double)k;
    return 0;
}

/* randomk's k coordinates of n for draw number `draw`, into cand[0 ..
 * k) (a partial shuffle of cand[0 .. n) from the seed). */
static void randomk_draw(uint64_t seed, uint64_t draw, size_t n, size_t k, int *cand)
{
    Rng rng = rng_make(seed ^ 0x5eed5a4d3e7ULL, draw);
    for (size_t i = 0; i < n; i++)
        cand[i] = (int)i;
    for (size_t j = 0; j < k; j++) {
        size_t pick = j + rng_below(&rng, (uint32_t)(n - j));
        int tmp = cand[j];
        cand[j] = cand[pick];
        cand[pick] = tmp;
    }
}

/* randomk's message: the values of gradient plus residual at the draw's
 * coordinates; the residual keeps the rest. */
static void randomk_pack(Compress *c, const float *buf, size_t n, size_t offset, size_t k,
                         uint64_t draw, float *vals)
{
    randomk_draw(c->cfg.seed, draw, n, k, c->cand);
    float *res = c->residual ? c->residual + offset : NULL;
    for (size_t j = 0; j < k; j++) {
        size_t i = (size_t)c->cand[j];
        vals[j] = res ? buf[i] + res[i] : buf[i];
    }
    if (res) { /* what is not sent waits for the next step */
        for (size_t i = 0; i < n; i++)
            res[i] += buf[i];
        for (size_t j = 0; j < k; j++)
            res[c->cand[j]] = 0.0f;
    }
}

/* randomk: the same k coordinates on every worker (a partial shuffle
 * from the seed and the all-reduce's number), their values
 * all-reduced, the rest zero. */
static int allreduce_randomk(Compress *c, const Group *g, const CollectiveOps *allreduce,
                             float *buf, size_t n, size_t offset, size_t k)
{
    float *vals = buf ? gather_buffer(c, k) : NULL;
    if (buf && !vals)
        return -1;
    double t = record_clock();
    if (buf) /* the call's number: the same on every worker, step by step and
              * bucket by bucket, and after a restart (compress_init's first) */
        randomk_pack(c, buf, n, offset, k, (uint64_t)c->calls, vals);
    device_kernel(c->dev, t, 2.0 * (double)n, 12.0 * (double)n, "compress");
    if (allreduce->run(g, vals, k, 0) < 0)
        return -1;
    t = record_clock();
    if (buf) {
        memset(buf, 0, n * sizeof *buf);
        for (size_t j = 0; j < k; j++)
            buf[c->cand[j]] = vals[j];
    }
    device_kernel(c->dev, t, (double)k, 4.0 * (double)n + 8.0 * (double)k, "decompress");
    c->sent_bytes += g->comm->world->wire_bytes * (double)k;
    return 0;
}

/* signsgd's message: the scale, then the signs, bit b of word w for
 * coordinate 32 w + b (set: not negative); the residual keeps the rest. */
static void sign_pack(Compress *c, float *buf, size_t n, size_t offset, float *mine)
{
    float *res = c->residual ? c->residual + offset : NULL;
    double l1 = 0.0;
    for (size_t i = 0; i < n; i++) {
        float a = res ? buf[i] + res[i] : buf[i];
        buf[i] = a;
        l1 += fabsf(a);
    }
    float scale = n ? (float)(l1 / (double)n) : 0.0f;
    mine[0] = scale;
    for (size_t w = 0; w * 32 < n; w++) {
        uint32_t bits = 0;
        for (size_t b = 0; b < 32 && w * 32 + b < n; b++)
            bits |= (uint32_t)(buf[w * 32 + b] >= 0.0f) << b;
        memcpy(mine + 1 + w, &bits, sizeof bits);
    }
    for (size_t i = 0; res && i < n; i++)
        res[i] = buf[i] - (buf[i] >= 0.0f ? scale : -scale);
}

/* out[0 .. n) += what signsgd's message msg stands for: scale x sign. */
static void sign_add(const float *msg, size_t n, float *out)
{
    /* -s + bit x 2s, exactly s or -s, without a branch (signs are coin
     * flips a branch predictor cannot learn) */
    const float down = -msg[0], span = 2.0f * msg[0];
    for (size_t j = 0; j * 32 < n; j++) {
        uint32_t bits;
        memcpy(&bits, msg + 1 + j, sizeof bits);
        float *at = out + j * 32;
        size_t lim = n - j * 32 < 32 ? n - j * 32 : 32;
        for (size_t b = 0; b < lim; b++)
            at[b] += down + (float)((bits >> b) & 1u) * span;
    }
}

static int allreduce_sign(Compress *c, const Group *g, float *buf, size_t n, size_t offset)
{
    const size_t words = (n + 31) / 32, per = 1 + words, p = (size_t)g->size;
    float *all = buf ? gather_buffer(c, p * per) : NULL;
    if (buf && !all)
        return -1;
    double t = record_clock();
    if (buf)
        sign_pack(c, buf, n, offset, all + (size_t)g->index * per);
    device_kernel(c->dev, t, 4.0 * (double)n, 12.0 * (double)n, "compress");
    if (allgather_words(g, all, p * per) < 0)
        return -1;
    t = record_clock();
    if (buf) { /* the workers' scale x sign, added in worker order */
        memset(buf, 0, n * sizeof *buf);
        for (size_t w = 0; w < p; w++)
            sign_add(all + w * per, n, buf);
    }
    device_kernel(c->dev, t, (double)(p * n), 4.0 * (double)n + 4.0 * (double)(p * per),
                  "decompress");
    c->sent_bytes += 4.0 * (double)per;
    return 0;
}

int compress_allreduce(Compress *c, const Group *g, const CollectiveOps *allreduce, float *buf,
                       size_t n, size_t offset)
{
    int rc;
    const size_t k = compress_k(&c->cfg, n);
    if (n == 0) { /* the same on every member */
        c->calls++;
        return 0;
    }
    if (c->cfg.kind == COMPRESS_TOPK) {
        rc = allreduce_topk(c, g, buf, n, offset, k);
    } else if (c->cfg.kind == COMPRESS_RANDOMK) {
        rc = allreduce_randomk(c, g, allreduce, buf, n, offset, k);
    } else if (c->cfg.kind == COMPRESS_GTOPK) {
        rc = allreduce_gtopk(c, g, buf, n, offset, k);
    } else if (c->cfg.kind == COMPRESS_POWERSGD) {
        rc = powersgd_allreduce(c, g, allreduce, buf, n, offset);
    } else if (c->cfg.kind == COMPRESS_SIGNSGD) {
        rc = allreduce_sign(c, g, buf, n, offset);
    } else { /* fp16, bf16: the messages are rounded on their way */
        rc = allreduce->run(g, buf, n, 0);
        if (rc == 0)
            c->sent_bytes += 2.0 * (double)n;
    }
    /* the gradient's bytes at the run's precision, once delivered */
    if (rc == 0)
        c->raw_bytes += g->comm->world->wire_bytes * (double)n;
    c->calls++;
    return rc;
}

size_t compress_message_count(const CompressConfig *c, size_t n, size_t offset)
{
    if (n == 0)
        return 0;
    if (c->kind == COMPRESS_POWERSGD) {
        const Compress k = {.cfg = *c};
        return powersgd_message_count(&k, n, offset);
    }
    if (c->kind == COMPRESS_TOPK)
        return 2 * compress_k(c, n);
    if (c->kind == COMPRESS_RANDOMK)
        return compress_k(c, n);
    if (c->kind == COMPRESS_SIGNSGD)
        return 1 + (n + 31) / 32;
    return n;
}

int compress_message_words(const CompressConfig *c)
{
    return c->kind == COMPRESS_TOPK || c->kind == COMPRESS_SIGNSGD;
}

void compress_pack(Compress *c, float *buf, size_t n, size_t offset, uint64_t draw, float *msg)
{
    const size_t k = compress_k(&c->cfg, n);
    if (n == 0) /* an empty slice: an empty message */
        buf = NULL;
    double t = record_clock();
    if (c->cfg.kind == COMPRESS_TOPK) {
        if (buf)
            topk_pack(c, buf, n, offset, k, msg);
        device_kernel(c->dev, t, 6.0 * (double)n, 16.0 * (double)n, "compress");
    } else if (c->cfg.kind == COMPRESS_RANDOMK) {
        if (buf)
            randomk_pack(c, buf, n, offset, k, draw, msg);
        device_kernel(c->dev, t, 2.0 * (double)n, 12.0 * (double)n, "compress");
    } else if (c->cfg.kind == COMPRESS_SIGNSGD) {
        if (buf)
            sign_pack(c, buf, n, offset, msg);
        device_kernel(c->dev, t, 4.0 * (double)n, 12.0 * (double)n, "compress");
    } else if (c->cfg.kind == COMPRESS_POWERSGD) {
        powersgd_pack(c, buf, n, offset, msg);
    }
    c->calls++;
}

void compress_expand(const CompressConfig *cfg, Device *dev, const float *msg, size_t n,
                     size_t offset, uint64_t draw, float *out, int *cand)
{
    if (cfg->kind == COMPRESS_POWERSGD) {
        const Compress c = {.cfg = *cfg};
        powersgd_expand(&c, dev, msg, n, offset, out);
        return;
    }
    const size_t k = compress_k(cfg, n);
    double t = record_clock();
    if (n == 0)
        out = NULL;
    if (out)
        memset(out, 0, n * sizeof *out);
    if (out && cfg->kind == COMPRESS_TOPK) {
        for (size_t j = 0; j < k; j++)
            out[word_at(msg, j)] = msg[k + j];
    } else if (out && cfg->kind == COMPRESS_RANDOMK) {
        randomk_draw(cfg->seed, draw, n, k, cand);
        for (size_t j = 0; j < k; j++)
            out[cand[j]] = msg[j];
    } else if (out && cfg->kind == COMPRESS_SIGNSGD) {
        sign_add(msg, n, out);
    }
    double m = (double)compress_message_count(cfg, n, offset);
    device_kernel(dev, t, cfg->kind == COMPRESS_SIGNSGD ? (double)n : (double)k,
                  4.0 * (double)n + 4.0 * m, "decompress");
}
