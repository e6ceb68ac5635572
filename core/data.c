/*
 * data.c - datasets in memory: IDX files (Fashion-MNIST) and a synthetic set.
 *
 * IDX files are read through zlib's gz* API, which decompresses gzip and
 * passes plain files through unchanged, so one reader serves both.  Every
 * header field is checked against sane bounds before anything is trusted,
 * and the payload is read into a buffer that grows with what the file
 * really holds (not with what its header claims), so a corrupt header can
 * neither overflow arithmetic nor make us allocate terabytes.  Failures go
 * through dt_fail naming the file; nothing leaks and the Dataset stays
 * zeroed until the whole load has succeeded.
 *
 * The synthetic set follows a fixed draw order (prototypes from stream
 * 0xC1A55, then per sample a label and its pixels from stream+1) and its
 * arithmetic is exact up to one final rounding, so it is byte-identical on
 * every machine and compiler.
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zlib.h>

#include "rng.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAX_SAMPLES 10000000u /* far beyond any real IDX set */
#define IDX_MAX_SIDE 4096u
#define IDX_CLASSES 10
#define IDX_CHUNK (1u << 20) /* bytes per gzread and first buffer size */

#define SYNTH_PROTOTYPE_STREAM 0xC1A55u
#define SYNTH_MAX_FLOATS ((size_t)1 << 32) /* 16 GiB of floats: surely a typo */

#define FMNIST_HINT                                                                                \
    "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"

/* The payload of one IDX file: dims[0] x dims[1] x ... unsigned bytes. */
typedef struct IdxFile {
    uint32_t dims[3];
    uint8_t *data; /* (dims[0] * ... * dims[ndims-1]) */
} IdxFile;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read up to len bytes, stopping early only at end of file.  Returns the
 * number of bytes read, or -1 (with err filled) when zlib reports an error
 * such as corrupt compressed data. */
static long long gz_read_full(gzFile gz, uint8_t *buf, size_t len, const char *path, DtError *err)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got < IDX_CHUNK ? len - got : IDX_CHUNK;
        int r = gzread(gz, buf + got, (unsigned)want);
        if (r < 0) {
            int errnum = Z_OK;
            const char *why = gzerror(gz, &errnum);
            size_t plen = strlen(path); /* zlib prefixes its message with the path */
            if (strncmp(why, path, plen) == 0 && why[plen] == ':' && why[plen + 1] == ' ')
                why += plen + 2;
            if (errnum == Z_MEM_ERROR)
                return dt_fail(err, DT_ERUNTIME, "%s: out of memory while decompressing", path);
            return dt_fail(err, DT_EINPUT, "%s: %s: %s", path,
                           errnum == Z_DATA_ERROR ? "corrupt gzip data" : "cannot read", why);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* Memory for a large array, on huge pages where the system lends them on
 * request: the first touch of a 188 MB training set then takes a few
 * hundred page faults, not 46,000 (which cost more than decompressing it
 * in a virtual machine).  Freed with free(). */
static void *big_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (bytes < 2 * huge)
        return malloc(bytes);
    size_t rounded = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, rounded) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice: without it, small pages */
#endif
    return p;
}

/* Read the payload of `want` bytes: into a buffer of that size when the
 * file could hold that much (up to `bound` bytes), else into one that
 * doubles as data arrives, so its size follows the file and not the
 * header. */
static int idx_read_payload(gzFile gz, size_t want, size_t bound, uint8_t **out, const char *path,
                            DtError *err)
{
    size_t cap = want <= bound ? want : want < IDX_CHUNK ? want : IDX_CHUNK;
    size_t got = 0;
    uint8_t *buf = cap == want ? big_alloc(cap) : malloc(cap);
    if (!buf)
        return dt_fail(err, DT_ERUNTIME, "%s: out of memory for %zu bytes", path, cap);
    for (;;) {
        long long r = gz_read_full(gz, buf + got, cap - got, path, err);
        if (r < 0) {
            free(buf);
            return -1;
        }
        got += (size_t)r;
        if (got < cap) {
            free(buf);
            return dt_fail(err, DT_EINPUT,
                           "%s is truncated: its header promises %zu bytes of data after "
                           "the header but the file holds %zu",
                           path, want, got);
        }
        if (got == want)
            break;
        size_t grown = cap > want / 2 ? want : cap * 2;
        uint8_t *bigger = realloc(buf, grown);
        if (!bigger) {
            free(buf);
            return dt_fail(err, DT_ERUNTIME, "%s: out of memory for %zu bytes", path, grown);
        }
        buf = bigger;
        cap = grown;
    }
    *out = buf;
    return 0;
}

/* What one kind of IDX file must look like. */
typedef struct IdxKind {
    uint32_t magic;
    int ndims;
    const char *what;         /* "image" or "label", for messages */
    const char *dim_names[3]; /* for messages */
    uint32_t dim_max[3];
} IdxKind;

static const IdxKind IDX_IMAGES = {IDX_MAGIC_IMAGES,
                                   3,
                                   "image",
                                   {"image count", "rows", "columns"},
                                   {IDX_MAX_SAMPLES, IDX_MAX_SIDE, IDX_MAX_SIDE}};
static const IdxKind IDX_LABELS = {
    IDX_MAGIC_LABELS, 1, "label", {"label count", NULL, NULL}, {IDX_MAX_SAMPLES, 0, 0}};

/* Open path, check its magic and dimensions against kind, read the payload. */
static int idx_read(IdxFile *f, const char *path, const IdxKind *kind, DtError *err)
{
    memset(f, 0, sizeof *f);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return dt_fail(err, DT_EINPUT, "cannot open %s file %s: %s", kind->what, path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1u << 17);

    int rc = -1;
    uint8_t header[4 + 4 * 3];
    size_t header_len = 4 + 4 * (size_t)kind->ndims;
    long long r = gz_read_full(gz, header, header_len, path, err);
    if (r < 0)
        goto out;
    /* The magic first, so that a wrong kind of file is called that even
     * when it is too short for this kind's header. */
    if (r >= 4 && be32(header) != kind->magic) {
        dt_fail(err, DT_EINPUT, "%s is not an IDX %s file: magic 0x%08x, expected 0x%08x", path,
                kind->what, (unsigned)be32(header), (unsigned)kind->magic);
        goto out;
    }
    if ((size_t)r < header_len) {
        dt_fail(err, DT_EINPUT,
                "%s is truncated: it ends inside the IDX header (%lld of %zu bytes)", path, r,
                header_len);
        goto out;
    }
    size_t total = 1;
    for (int i = 0; i < kind->ndims; i++) {
        uint32_t dim = be32(header + 4 + 4 * i);
        if (dim == 0 || dim > kind->dim_max[i]) {
            dt_fail(err, DT_EINPUT, "%s: header says %s = %u, expected 1..%u", path,
                    kind->dim_names[i], (unsigned)dim, (unsigned)kind->dim_max[i]);
            goto out;
        }
        f->dims[i] = dim;
        total *= dim; /* at most 1e7 * 4096 * 4096 < 2^48 */
    }
    /* what a gzip file of this size can hold at most (deflate packs at most
     * 1032 bytes in one), or the file itself when it is not compressed */
    struct stat st;
    size_t bound = stat(path, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    if (!gzdirect(gz))
        bound *= 1032;
    if (idx_read_payload(gz, total, bound, &f->data, path, err) < 0)
        goto out;
    /* Read past the payload so that zlib checks the gzip trailer (CRC and
     * length); bytes after the data are ignored. */
    uint8_t extra;
    if (gz_read_full(gz, &extra, 1, path, err) < 0) {
        free(f->data);
        f->data = NULL;
        goto out;
    }
    rc = 0;
out:
    gzclose(gz);
    return rc;
}

int dataset_load_idx(Dataset *d, const char *images_path, const char *labels_path, int max_samples,
                     DtError *err)
{
    memset(d, 0, sizeof *d);
    if (!images_path || !labels_path)
        return dt_fail(err, DT_EINPUT, "dataset_load_idx: missing file name");

    IdxFile img, lab;
    if (idx_read(&img, images_path, &IDX_IMAGES, err) < 0)
        return -1;
    if (idx_read(&lab, labels_path, &IDX_LABELS, err) < 0) {
        free(img.data);
        return -1;
    }

    int rc = -1;
    float *x = NULL;
    uint8_t *y = NULL;
    if (img.dims[0] != lab.dims[0]) {
        dt_fail(err, DT_EINPUT, "%s holds %u images but %s holds %u labels", images_path,
                (unsigned)img.dims[0], labels_path, (unsigned)lab.dims[0]);
        goto out;
    }
    for (uint32_t i = 0; i < lab.dims[0]; i++) {
        if (lab.data[i] >= IDX_CLASSES) {
            dt_fail(err, DT_EINPUT, "%s: label %u of sample %u is not a class 0..%d", labels_path,
                    (unsigned)lab.data[i], (unsigned)i, IDX_CLASSES - 1);
            goto out;
        }
    }

    int n = (int)img.dims[0];
    if (max_samples > 0 && max_samples < n)
        n = max_samples;
    size_t sample = (size_t)img.dims[1] * img.dims[2];
    x = big_alloc((size_t)n * sample * sizeof *x);
    y = malloc((size_t)n);
    if (!x || !y) {
        dt_fail(err, DT_ERUNTIME, "%s: out of memory for %d samples", images_path, n);
        goto out;
    }
    float scaled[256]; /* byte / 255, the same float as the division gives */
    for (int v = 0; v < 256; v++)
        scaled[v] = (float)v / 255.0f;
    for (size_t i = 0; i < (size_t)n * sample; i++)
        x[i] = scaled[img.data[i]];
    memcpy(y, lab.data, (size_t)n);

    d->n = n;
    d->shape = (Shape){1, (int)img.dims[1], (int)img.dims[2]};
    d->classes = IDX_CLASSES;
    d->targets = 1;
    d->x = x;
    d->y = y;
    x = NULL;
    y = NULL;
    rc = 0;
out:
    free(x);
    free(y);
    free(img.data);
    free(lab.data);
    return rc;
}

/* Check that dir/name exists, so that a missing file gets the install hint;
 * writes the full path into path. */
static int fmnist_path(char *path, size_t size, const char *dir, const char *name, DtError *err)
{
    int len = snprintf(path, size, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= size)
        return dt_fail(err, DT_EINPUT, "Fashion-MNIST directory name too long: %s", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return dt_fail(err, DT_EINPUT, "Fashion-MNIST file %s not found: %s", path, FMNIST_HINT);
    return 0;
}

int dataset_fashion_mnist_paths(const char *dir, char paths[4][4096], DtError *err)
{
    if (!dir || !dir[0])
        dir = DT_FASHION_MNIST_DIR;

    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dt_fail(err, DT_EINPUT, "Fashion-MNIST directory %s not found: %s", dir,
                       FMNIST_HINT);

    static const char *const names[4] = {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    };
    for (int i = 0; i < 4; i++)
        if (fmnist_path(paths[i], sizeof paths[i], dir, names[i], err) < 0)
            return -1;
    return 0;
}

int dataset_load_fashion_mnist(Dataset *train, Dataset *test, const char *dir, int train_samples,
                               int test_samples, DtError *err)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    char paths[4][4096];
    if (dataset_fashion_mnist_paths(dir, paths, err) < 0)
        return -1;
    if (dataset_load_idx(train, paths[0], paths[1], train_samples, err) < 0)
        return -1;
    if (dataset_load_idx(test, paths[2], paths[3], test_samples, err) < 0) {
        dataset_free(train);
        return -1;
    }
    return 0;
}

int dataset_synthetic(Dataset *d, const SyntheticConfig *cfg, DtError *err)
{
    memset(d, 0, sizeof *d);
    if (cfg->n <= 0)
        return dt_fail(err, DT_EINPUT, "synthetic dataset: n must be positive, got %d", cfg->n);
    if (cfg->classes < 2 || cfg->classes > 255)
        return dt_fail(err, DT_EINPUT, "synthetic dataset: classes must be 2..255, got %d",
                       cfg->classes);
    Shape s = cfg->shape;
    if (s.c <= 0 || s.h <= 0 || s.w <= 0)
        return dt_fail(err, DT_EINPUT, "synthetic dataset: shape (%d, %d, %d) must be positive",
                       s.c, s.h, s.w);
    if (!(cfg->noise >= 0.0f))
        return dt_fail(err, DT_EINPUT, "synthetic dataset: noise must be >= 0, got %g",
                       (double)cfg->noise);
    /* Sizes in double first: c*h*w*n can overflow size_t for silly inputs. */
    double floats = (double)s.c * s.h * s.w * cfg->n;
    double proto_floats = (double)s.c * s.h * s.w * cfg->classes;
    if (floats > (double)SYNTH_MAX_FLOATS || proto_floats > (double)SYNTH_MAX_FLOATS)
        return dt_fail(err, DT_EINPUT, "synthetic dataset: %d samples of (%d, %d, %d) is too large",
                       cfg->n, s.c, s.h, s.w);

    size_t sample = shape_size(s);
    float *proto = malloc((size_t)cfg->classes * sample * sizeof *proto); /* (classes, sample) */
    float *x = big_alloc((size_t)cfg->n * sample * sizeof *x);            /* (n, sample) */
    uint8_t *y = malloc((size_t)cfg->n);                                  /* (n) */
    if (!proto || !x || !y) {
        free(proto);
        free(x);
        free(y);
        return dt_fail(err, DT_ERUNTIME, "synthetic dataset: out of memory for %d samples", cfg->n);
    }

    Rng pr = rng_make(cfg->seed, SYNTH_PROTOTYPE_STREAM);
    for (size_t i = 0; i < (size_t)cfg->classes * sample; i++)
        proto[i] = rng_uniform(&pr);

    /* 2u-1 is exact in float and noise*(2u-1) is exact in double, so the
     * only rounding is the final one: no FMA contraction or excess
     * precision can change the result from one machine to another. */
    Rng sr = rng_make(cfg->seed, cfg->stream + 1);
    for (int i = 0; i < cfg->n; i++) {
        uint32_t label = rng_below(&sr, (uint32_t)cfg->classes);
        const float *p = proto + label * sample;
        float *xi = x + (size_t)i * sample;
        for (size_t j = 0; j < sample; j++) {
            float v = 2.0f * rng_uniform(&sr) - 1.0f;
            xi[j] = (float)((double)p[j] + (double)cfg->noise * (double)v);
        }
        y[i] = (uint8_t)label;
    }
    free(proto);

    d->n = cfg->n;
    d->shape = s;
    d->classes = cfg->classes;
    d->targets = 1;
    d->x = x;
    d->y = y;
    return 0;
}

void dataset_stats(const Dataset *d, double *mean, double *std)
{
    size_t count = (size_t)d->n * shape_size(d->shape);
    if (count == 0) {
        *mean = 0.0;
        *std = 0.0;
        return;
    }
    /* Two passes: the mean first, then squared deviations from it, which
     * does not cancel the way sum(x^2) - n*mean^2 does. */
    double sum = 0.0;
    for (size_t i = 0; i < count; i++)
        sum += d->x[i];
    double m = sum / (double)count;
    double sq = 0.0;
    for (size_t i = 0; i < count; i++) {
        double dev = d->x[i] - m;
        sq += dev * dev;
    }
    *mean = m;
    *std = sqrt(sq / (double)count);
}

void dataset_normalize_samples(Dataset *d, double mean, double std, int first, int count)
{
    size_t sample = shape_size(d->shape);
    float *x = d->x + (size_t)first * sample;
    for (size_t i = 0; i < (size_t)count * sample; i++)
        x[i] = (float)((x[i] - mean) / std);
}

void dataset_normalize(Dataset *d, double mean, double std)
{
    dataset_normalize_samples(d, mean, std, 0, d->n);
}

void dataset_free(Dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

void dataset_gather(const Dataset *d, const int *idx, int count, float *x, uint8_t *y)
{
    size_t sample = shape_size(d->shape), t = (size_t)d->targets;
    for (int i = 0; i < count; i++) {
        memcpy(x + (size_t)i * sample, d->x + (size_t)idx[i] * sample, sample * sizeof *x);
        memcpy(y + (size_t)i * t, d->y + (size_t)idx[i] * t, t);
    }
}

void shard_range(int n, int k, int s, int *begin, int *end)
{
    int base = n / k, extra = n % k;
    *begin = s * base + (s < extra ? s : extra);
    *end = *begin + base + (s < extra ? 1 : 0);
}
