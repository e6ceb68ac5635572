/*
 * text.c - a character-level text corpus as a data set (data.h).
 *
 * The whole file is read at once (a corpus a language model here can learn
 * is a few megabytes at most; the bound below refuses a mistaken device
 * or disk image).  Only regular files are read, so that a FIFO or a
 * directory named as the corpus is an error and not a hang.  The split is
 * by blocks, not by windows, so that validation windows never overlap
 * training ones: the model is judged on text it has not seen.
 */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rng.h"

#define TEXT_MAX_BYTES ((long)1 << 30)
#define TEXT_BLOCK 2048L         /* bytes per split block, at most */
#define TEXT_MIN_BLOCKS 10L      /* blocks at least, for small files */
#define TEXT_SPLIT_STREAM 0x7E47 /* the rng stream of the split */

#define TEXT_HINT "name a text file with [data] path, or install the Debian package fortunes"

/* The file's bytes (a NUL after them) and their count; -1 naming the file. */
static int text_read(const char *path, uint8_t **bytes, long *len, DtError *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return dt_fail(err, DT_EINPUT, "text corpus '%s': %s (%s)", path, strerror(errno),
                       TEXT_HINT);
    if (!S_ISREG(st.st_mode))
        return dt_fail(err, DT_EINPUT, "text corpus '%s' is not a regular file", path);
    if (st.st_size == 0)
        return dt_fail(err, DT_EINPUT, "text corpus '%s' is empty", path);
    if (st.st_size > TEXT_MAX_BYTES)
        return dt_fail(err, DT_EINPUT, "text corpus '%s' has %lld bytes, more than the %ld read",
                       path, (long long)st.st_size, TEXT_MAX_BYTES);
    FILE *f = fopen(path, "rb");
    if (!f)
        return dt_fail(err, DT_EINPUT, "cannot open text corpus '%s': %s", path, strerror(errno));
    *len = (long)st.st_size;
    *bytes = malloc((size_t)*len + 1);
    size_t got = *bytes ? fread(*bytes, 1, (size_t)*len, f) : 0;
    fclose(f);
    if (!*bytes)
        return dt_fail(err, DT_ERUNTIME, "out of memory for text corpus '%s'", path);
    if ((long)got != *len) {
        free(*bytes);
        *bytes = NULL;
        return dt_fail(err, DT_EINPUT, "text corpus '%s': read %zu of %ld bytes", path, got, *len);
    }
    (*bytes)[*len] = 0;
    return 0;
}

static void vocab_of(const uint8_t *bytes, long len, TextVocab *v)
{
    int seen[256] = {0};
    for (long i = 0; i < len; i++)
        seen[bytes[i]] = 1;
    v->size = 0;
    for (int b = 0; b < 256; b++)
        if (seen[b])
            v->bytes[v->size++] = (uint8_t)b;
}

int text_vocab(const char *path, TextVocab *v, DtError *err)
{
    uint8_t *bytes;
    long len = 0;
    if (text_read(path, &bytes, &len, err) < 0)
        return -1;
    vocab_of(bytes, len, v);
    free(bytes);
    return 0;
}

int text_encode(const TextVocab *v, const char *s, int *ids, int cap)
{
    int n = 0;
    for (; *s && n < cap; s++)
        for (int i = 0; i < v->size; i++)
            if (v->bytes[i] == (uint8_t)*s) {
                ids[n++] = i;
                break;
            }
    return n;
}

/* The split: blocks of `block` tokens, is_val[b] for each of nblocks. */
typedef struct TextSplit {
    long len, block;
    int nblocks;
    char *is_val; /* (nblocks) */
} TextSplit;

/* Choose the validation blocks by a seeded shuffle; -1 when out of memory. */
static int text_split(TextSplit *sp, long len, double val_fraction, uint64_t seed)
{
    long block = len / TEXT_MIN_BLOCKS < TEXT_BLOCK ? len / TEXT_MIN_BLOCKS : TEXT_BLOCK;
    sp->len = len;
    sp->block = block < 1 ? 1 : block;
    sp->nblocks = (int)((len + sp->block - 1) / sp->block);
    int nval = (int)(val_fraction * sp->nblocks + 0.5);
    nval = nval < 1 ? 1 : nval >= sp->nblocks ? sp->nblocks - 1 : nval;
    int *order = malloc((size_t)sp->nblocks * sizeof *order);
    sp->is_val = calloc((size_t)sp->nblocks, 1);
    if (!order || !sp->is_val) {
        free(order);
        return -1;
    }
    for (int i = 0; i < sp->nblocks; i++)
        order[i] = i;
    Rng rng = rng_make(seed, TEXT_SPLIT_STREAM);
    rng_shuffle(&rng, order, sp->nblocks);
    for (int i = 0; i < nval; i++)
        sp->is_val[order[i]] = 1;
    free(order);
    return 0;
}

/* Windows of seq_len + 1 tokens, one every seq_len, within each run of
 * adjacent blocks of one side (val or not), so that no window joins text
 * that is not adjacent in the file: counted when x is NULL, else written.
 * Adds the side's tokens to *tokens; returns the windows. */
static long text_cut(const TextSplit *sp, const uint8_t *ids, int val, int seq_len, float *x,
                     uint8_t *y, long *tokens)
{
    long n = 0;
    for (int b = 0; b < sp->nblocks;) {
        int e = b;
        while (e < sp->nblocks && sp->is_val[e] == sp->is_val[b])
            e++;
        long lo = b * sp->block, hi = e * sp->block > sp->len ? sp->len : e * sp->block;
        if (sp->is_val[b] == val) {
            *tokens += hi - lo;
            for (long w = lo; w + seq_len < hi; w += seq_len, n++)
                for (int t = 0; x && t < seq_len; t++) {
                    x[n * seq_len + t] = (float)ids[w + t];
                    y[n * seq_len + t] = ids[w + t + 1];
                }
        }
        b = e;
    }
    return n;
}

/* One side's windows as a data set; -1 when out of memory. */
static int text_windows(Dataset *d, const TextSplit *sp, const uint8_t *ids, int val, int seq_len,
                        int classes, long *tokens, DtError *err)
{
    long n = text_cut(sp, ids, val, seq_len, NULL, NULL, tokens);
    if (n > 1000000000L)
        return dt_fail(err, DT_EINPUT, "%ld text windows are more than dtsim holds", n);
    memset(d, 0, sizeof *d);
    d->x = malloc(((size_t)n * seq_len + 1) * sizeof(float));
    d->y = malloc((size_t)n * seq_len + 1);
    if (!d->x || !d->y) {
        dataset_free(d);
        return dt_fail(err, DT_ERUNTIME, "out of memory for %ld text windows", n);
    }
    long ignored = 0;
    text_cut(sp, ids, val, seq_len, d->x, d->y, &ignored);
    d->n = (int)n;
    d->shape = (Shape){seq_len, 1, 1};
    d->classes = classes;
    d->targets = seq_len;
    return 0;
}

int dataset_load_text(Dataset *train, Dataset *val, const char *path, int seq_len,
                      double val_fraction, uint64_t seed, TextVocab *vocab, DtError *err)
{
    uint8_t *bytes;
    long len = 0, ntrain = 0, nval = 0;
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (seq_len < 1 || !(val_fraction > 0.0 && val_fraction < 1.0))
        return dt_fail(err, DT_EINPUT,
                       "text corpus '%s': windows need seq_len >= 1 (got %d) and a validation "
                       "share in (0, 1) (got %g)",
                       path, seq_len, val_fraction);
    if (text_read(path, &bytes, &len, err) < 0)
        return -1;
    TextVocab v;
    vocab_of(bytes, len, &v);
    if (vocab)
        *vocab = v;
    uint8_t id[256] = {0};
    for (int i = 0; i < v.size; i++)
        id[v.bytes[i]] = (uint8_t)i;
    for (long i = 0; i < len; i++)
        bytes[i] = id[bytes[i]];
    TextSplit sp = {0};
    int rc = text_split(&sp, len, val_fraction, seed) < 0
                 ? dt_fail(err, DT_ERUNTIME, "out of memory for text corpus '%s'", path)
                 : 0;
    if (rc == 0)
        rc = text_windows(train, &sp, bytes, 0, seq_len, v.size, &ntrain, err);
    if (rc == 0)
        rc = text_windows(val, &sp, bytes, 1, seq_len, v.size, &nval, err);
    free(sp.is_val);
    free(bytes);
    if (rc == 0 && (train->n < 1 || val->n < 1))
        rc = dt_fail(err, DT_EINPUT,
                     "text corpus '%s' (%ld characters, %ld for training and %ld for validation, "
                     "in blocks of %ld) has no %s window of seq_len + 1 = %d characters: use a "
                     "shorter seq_len or a longer text",
                     path, len, ntrain, nval, sp.block, train->n < 1 ? "training" : "validation",
                     seq_len + 1);
    if (rc < 0) {
        dataset_free(train);
        dataset_free(val);
    }
    return rc;
}
