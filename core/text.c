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

/* Windows of seq_len + 1 tokens over ids[0..len), one every seq_len. */
static int text_windows(Dataset *d, const uint8_t *ids, long len, int seq_len, int classes,
                        DtError *err)
{
    long n = len > 1 ? (len - 1) / seq_len : 0;
    if (n > 1000000000L)
        n = 1000000000L;
    memset(d, 0, sizeof *d);
    d->x = malloc(((size_t)n * seq_len + 1) * sizeof(float));
    d->y = malloc((size_t)n * seq_len + 1);
    if (!d->x || !d->y) {
        dataset_free(d);
        return dt_fail(err, DT_ERUNTIME, "out of memory for %ld text windows", n);
    }
    for (long i = 0; i < n; i++)
        for (int t = 0; t < seq_len; t++) {
            d->x[i * seq_len + t] = (float)ids[i * seq_len + t];
            d->y[i * seq_len + t] = ids[i * seq_len + t + 1];
        }
    d->n = (int)n;
    d->shape = (Shape){seq_len, 1, 1};
    d->classes = classes;
    d->targets = seq_len;
    return 0;
}

/* Token ids of the training text (first) and the validation text (after
 * it) in out, *ntrain of the first: blocks chosen by a seeded shuffle. */
static void text_split(const uint8_t *ids, long len, double val_fraction, uint64_t seed,
                       uint8_t *out, long *ntrain)
{
    long block = len / TEXT_MIN_BLOCKS < TEXT_BLOCK ? len / TEXT_MIN_BLOCKS : TEXT_BLOCK;
    if (block < 1)
        block = 1;
    int nblocks = (int)((len + block - 1) / block);
    int nval = (int)(val_fraction * nblocks + 0.5);
    nval = nval < 1 ? 1 : nval >= nblocks ? nblocks - 1 : nval;
    int *order = malloc((size_t)nblocks * sizeof *order);
    char *is_val = calloc((size_t)nblocks, 1);
    if (!order || !is_val) {
        *ntrain = -1;
        free(order);
        free(is_val);
        return;
    }
    for (int i = 0; i < nblocks; i++)
        order[i] = i;
    Rng rng = rng_make(seed, TEXT_SPLIT_STREAM);
    rng_shuffle(&rng, order, nblocks);
    for (int i = 0; i < nval; i++)
        is_val[order[i]] = 1;
    long tr = 0, va = 0, nv = 0;
    for (int b = 0; b < nblocks; b++)
        if (is_val[b])
            nv += (b + 1L) * block > len ? len - b * block : block;
    for (int b = 0; b < nblocks; b++) {
        long lo = b * block, n = lo + block > len ? len - lo : block;
        memcpy(is_val[b] ? out + (len - nv) + va : out + tr, ids + lo, (size_t)n);
        *(is_val[b] ? &va : &tr) += n;
    }
    *ntrain = tr;
    free(order);
    free(is_val);
}

int dataset_load_text(Dataset *train, Dataset *val, const char *path, int seq_len,
                      double val_fraction, uint64_t seed, TextVocab *vocab, DtError *err)
{
    uint8_t *bytes, *split = NULL;
    long len = 0, ntrain = -1;
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
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
    if ((split = malloc((size_t)len)))
        text_split(bytes, len, val_fraction, seed, split, &ntrain);
    free(bytes);
    int rc = ntrain < 0 ? dt_fail(err, DT_ERUNTIME, "out of memory for text corpus '%s'", path) : 0;
    if (rc == 0)
        rc = text_windows(train, split, ntrain, seq_len, v.size, err);
    if (rc == 0)
        rc = text_windows(val, split + ntrain, len - ntrain, seq_len, v.size, err);
    free(split);
    if (rc == 0 && (train->n < 1 || val->n < 1))
        rc = dt_fail(err, DT_EINPUT,
                     "text corpus '%s' (%ld characters, %ld for training and %ld for validation) "
                     "has no %s window of seq_len + 1 = %d characters: use a shorter seq_len or a "
                     "longer text",
                     path, len, ntrain, len - ntrain, train->n < 1 ? "training" : "validation",
                     seq_len + 1);
    if (rc < 0) {
        dataset_free(train);
        dataset_free(val);
    }
    return rc;
}
