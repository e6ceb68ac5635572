/*
 * test_data.c - datasets: the IDX reader, Fashion-MNIST, the synthetic set,
 * statistics, shards and gathers.
 *
 * The IDX reader is the one place dtsim parses bytes it did not write, so
 * most of this suite feeds it small hand-made files, gzip-compressed and
 * plain, good and broken in every way we could think of (missing, wrong
 * magic, truncated header or data, corrupt gzip, bad CRC, disagreeing
 * counts, bad labels, zero or absurd dimensions), and checks that each
 * fails with a message naming the file and leaves the Dataset empty.  The
 * real Fashion-MNIST files are a declared dependency and are loaded too.
 * The character-level text corpus is written at test time too: its
 * vocabulary, windows, seeded split and errors (a FIFO among them).
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "rng.h"
#include "testutil.h"

/* A scratch directory and the two file names a test writes into it. */
typedef struct Files {
    char dir[256];
    char images[512];
    char labels[512];
} Files;

static int files_open(Files *f)
{
    if (!test_tmpdir(f->dir, sizeof f->dir))
        return -1;
    snprintf(f->images, sizeof f->images, "%s/images.idx", f->dir);
    snprintf(f->labels, sizeof f->labels, "%s/labels.idx", f->dir);
    return 0;
}

/* Remove the scratch directory and every file in it. */
static void files_close(Files *f)
{
    DIR *dir = opendir(f->dir);
    if (dir) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(f->dir);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int write_file(const char *path, const uint8_t *b, size_t n, int gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        if (!gz)
            return -1;
        int ok = n == 0 || gzwrite(gz, b, (unsigned)n) == (int)n;
        return gzclose(gz) == Z_OK && ok ? 0 : -1;
    }
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int ok = fwrite(b, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

static uint8_t pixel_byte(size_t i)
{
    return (uint8_t)(i * 37 + 11); /* covers 0..255 with a known pattern */
}

/* An IDX image file: header (magic, n, rows, cols) then `bytes` pixels,
 * which may be fewer than n*rows*cols to make it truncated. */
static int write_images(const char *path, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                        size_t bytes, int gzip)
{
    uint8_t *b = malloc(16 + bytes);
    if (!b)
        return -1;
    put_be32(b, magic);
    put_be32(b + 4, n);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (size_t i = 0; i < bytes; i++)
        b[16 + i] = pixel_byte(i);
    int rc = write_file(path, b, 16 + bytes, gzip);
    free(b);
    return rc;
}

static int write_labels(const char *path, uint32_t magic, uint32_t n, const uint8_t *labels,
                        size_t count, int gzip)
{
    uint8_t b[8 + 64];
    if (count > 64)
        return -1;
    put_be32(b, magic);
    put_be32(b + 4, n);
    memcpy(b + 8, labels, count);
    return write_file(path, b, 8 + count, gzip);
}

static const uint8_t LABELS5[5] = {0, 3, 9, 1, 7};

/* The good pair: 5 images of 3x4 and their 5 labels. */
static int write_good(const Files *f, int gzip)
{
    if (write_images(f->images, 0x803, 5, 3, 4, 5 * 3 * 4, gzip) < 0)
        return -1;
    return write_labels(f->labels, 0x801, 5, LABELS5, 5, gzip);
}

static int dataset_is_empty(const Dataset *d)
{
    return d->n == 0 && d->x == NULL && d->y == NULL && d->classes == 0 && d->shape.c == 0 &&
           d->shape.h == 0 && d->shape.w == 0;
}

/* dataset_load_idx must fail with an input error whose message contains
 * needle (normally the offending file's name), leaving d empty. */
static void expect_load_fails(const char *what, const char *images, const char *labels,
                              const char *needle)
{
    Dataset d;
    memset(&d, 0xAB, sizeof d); /* garbage in: the loader must zero it */
    DtError err = {DT_OK, ""};
    int rc = dataset_load_idx(&d, images, labels, 0, &err);
    int ok = rc == -1 && err.kind == DT_EINPUT && strstr(err.msg, needle) && dataset_is_empty(&d);
    if (!ok)
        fprintf(stderr, "\n  case '%s': rc %d kind %d msg '%s' (wanted '%s')\n", what, rc,
                (int)err.kind, err.msg, needle);
    CU_ASSERT(ok);
    if (rc == 0)
        dataset_free(&d);
}

static void check_good_load(int gzip)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_good(&f, gzip) == 0);

    Dataset d;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(dataset_load_idx(&d, f.images, f.labels, 0, &err), 0);
    CU_ASSERT_EQUAL(d.n, 5);
    CU_ASSERT_EQUAL(d.shape.c, 1);
    CU_ASSERT_EQUAL(d.shape.h, 3);
    CU_ASSERT_EQUAL(d.shape.w, 4);
    CU_ASSERT_EQUAL(d.classes, 10);
    int exact = 1;
    for (size_t i = 0; i < 5 * 3 * 4; i++)
        exact &= d.x[i] == (float)pixel_byte(i) / 255.0f;
    CU_ASSERT(exact);
    CU_ASSERT(memcmp(d.y, LABELS5, 5) == 0);
    dataset_free(&d);
    CU_ASSERT(dataset_is_empty(&d));
    files_close(&f);
}

static void test_idx_gzip(void)
{
    check_good_load(1);
}

static void test_idx_plain(void)
{
    check_good_load(0);
}

static void test_idx_max_samples(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    static const struct {
        int max, n;
    } cases[] = {{2, 2}, {1, 1}, {5, 5}, {100, 5}, {0, 5}, {-3, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Dataset d;
        DtError err = {DT_OK, ""};
        CU_ASSERT_EQUAL_FATAL(dataset_load_idx(&d, f.images, f.labels, cases[c].max, &err), 0);
        CU_ASSERT_EQUAL(d.n, cases[c].n);
        int exact = 1;
        for (size_t i = 0; i < (size_t)d.n * 12; i++)
            exact &= d.x[i] == (float)pixel_byte(i) / 255.0f;
        CU_ASSERT(exact);
        CU_ASSERT(memcmp(d.y, LABELS5, (size_t)d.n) == 0);
        dataset_free(&d);
    }
    files_close(&f);
}

static void test_idx_missing(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-file.gz", f.dir);
    expect_load_fails("missing images", missing, f.labels, "no-such-file.gz");
    expect_load_fails("missing labels", f.images, missing, "no-such-file.gz");
    expect_load_fails("directory as images", f.dir, f.labels, f.dir);
    files_close(&f);
}

static void test_idx_wrong_magic(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    /* Swapped: the label file where images belong and vice versa. */
    expect_load_fails("labels as images", f.labels, f.labels, f.labels);
    expect_load_fails("images as labels", f.images, f.images, f.images);
    CU_ASSERT_FATAL(write_images(f.images, 0x0803 | 0x01000000, 5, 3, 4, 60, 0) == 0);
    expect_load_fails("bad image magic", f.images, f.labels, f.images);
    files_close(&f);
}

static void test_idx_truncated(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);

    /* Header says 5 images, data for 3: gzip and plain. */
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 5, 3, 4, 3 * 12, 1) == 0);
    expect_load_fails("truncated image data (gz)", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 5, 3, 4, 3 * 12, 0) == 0);
    expect_load_fails("truncated image data (plain)", f.images, f.labels, f.images);

    /* Labels: header says 5, 4 present. */
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    CU_ASSERT_FATAL(write_labels(f.labels, 0x801, 5, LABELS5, 4, 1) == 0);
    expect_load_fails("truncated label data", f.images, f.labels, f.labels);

    /* A header cut after the count; and an empty file. */
    static const uint8_t head[6] = {0, 0, 8, 3, 0, 0};
    CU_ASSERT_FATAL(write_file(f.images, head, sizeof head, 1) == 0);
    expect_load_fails("truncated header", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_file(f.images, head, 0, 0) == 0);
    expect_load_fails("empty file", f.images, f.labels, f.images);
    files_close(&f);
}

/* Read a whole file into a malloc'd buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    uint8_t *b = NULL;
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (size > 0 && fseek(fp, 0, SEEK_SET) == 0 && (b = malloc((size_t)size)) != NULL)
        *len = fread(b, 1, (size_t)size, fp);
    fclose(fp);
    return b;
}

static void test_idx_corrupt_gzip(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);

    /* A valid gzip member header, then a deflate block of the reserved
     * type 3 and more garbage: inflate reports an error. */
    uint8_t bad[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    for (size_t i = 10; i < sizeof bad; i++)
        bad[i] = (uint8_t)(0xff - i);
    bad[10] = 0xff; /* BFINAL 1, BTYPE 3 */
    CU_ASSERT_FATAL(write_file(f.images, bad, sizeof bad, 0) == 0);
    expect_load_fails("corrupt gzip images", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_file(f.labels, bad, sizeof bad, 0) == 0);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 5, 3, 4, 60, 1) == 0);
    expect_load_fails("corrupt gzip labels", f.images, f.labels, f.labels);

    /* A good gzip file whose CRC no longer matches: caught at the trailer. */
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    size_t len = 0;
    uint8_t *b = slurp(f.images, &len);
    CU_ASSERT_FATAL(b != NULL && len > 8);
    b[len - 8] ^= 0x5a;
    CU_ASSERT_FATAL(write_file(f.images, b, len, 0) == 0);
    expect_load_fails("bad gzip CRC", f.images, f.labels, f.images);

    /* The same for a file bigger than zlib's buffers, read in several
     * pieces. */
    free(b);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 2000, 28, 28, 2000 * 784, 1) == 0);
    b = slurp(f.images, &len);
    CU_ASSERT_FATAL(b != NULL && len > 8);
    b[len - 8] ^= 0x5a;
    CU_ASSERT_FATAL(write_file(f.images, b, len, 0) == 0);
    expect_load_fails("bad gzip CRC, big file", f.images, f.labels, f.images);

    /* The same gzip stream cut in half. */
    CU_ASSERT_FATAL(write_file(f.images, b, len / 2, 0) == 0);
    expect_load_fails("gzip stream cut short", f.images, f.labels, f.images);
    free(b);
    files_close(&f);
}

static void test_idx_bad_contents(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);

    /* 5 images, 4 labels: both files are well-formed, they just disagree. */
    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    CU_ASSERT_FATAL(write_labels(f.labels, 0x801, 4, LABELS5, 4, 1) == 0);
    expect_load_fails("count mismatch", f.images, f.labels, f.labels);
    expect_load_fails("count mismatch names images", f.images, f.labels, f.images);

    static const uint8_t bad_label[5] = {0, 3, 12, 1, 7};
    CU_ASSERT_FATAL(write_labels(f.labels, 0x801, 5, bad_label, 5, 1) == 0);
    expect_load_fails("label 12", f.images, f.labels, f.labels);

    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 0, 3, 4, 0, 1) == 0);
    expect_load_fails("zero images", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 5, 0, 4, 0, 1) == 0);
    expect_load_fails("zero rows", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 5, 3, 0, 0, 1) == 0);
    expect_load_fails("zero cols", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 5, 3, 5000, 0, 1) == 0);
    expect_load_fails("absurd cols", f.images, f.labels, f.images);
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 0xffffffffu, 3, 4, 0, 1) == 0);
    expect_load_fails("absurd count", f.images, f.labels, f.images);
    /* Plausible but huge header over a tiny file: fails as truncated
     * without first allocating what the header claims. */
    CU_ASSERT_FATAL(write_images(f.images, 0x803, 10000000, 4096, 4096, 10, 1) == 0);
    expect_load_fails("huge header, tiny file", f.images, f.labels, f.images);

    CU_ASSERT_FATAL(write_good(&f, 1) == 0);
    CU_ASSERT_FATAL(write_labels(f.labels, 0x801, 0, LABELS5, 0, 1) == 0);
    expect_load_fails("zero labels", f.images, f.labels, f.labels);
    files_close(&f);
}

static void test_fashion_missing(void)
{
    Dataset train, test;
    DtError err = {DT_OK, ""};
    memset(&train, 0xAB, sizeof train);
    memset(&test, 0xAB, sizeof test);
    const char *dir = "/nonexistent/dtsim-fashion-mnist";
    CU_ASSERT_EQUAL(dataset_load_fashion_mnist(&train, &test, dir, 0, 0, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dataset-fashion-mnist"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, dir));
    CU_ASSERT(dataset_is_empty(&train));
    CU_ASSERT(dataset_is_empty(&test));

    /* The directory exists but holds no files. */
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    err = (DtError){DT_OK, ""};
    CU_ASSERT_EQUAL(dataset_load_fashion_mnist(&train, &test, f.dir, 0, 0, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dataset-fashion-mnist"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "train-images-idx3-ubyte.gz"));
    CU_ASSERT(dataset_is_empty(&train));
    CU_ASSERT(dataset_is_empty(&test));

    /* Training files present and good, test labels missing: the loaded
     * training set must be released again. */
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", f.dir);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", f.dir);
    snprintf(c, sizeof c, "%s/t10k-images-idx3-ubyte.gz", f.dir);
    CU_ASSERT_FATAL(write_images(a, 0x803, 5, 3, 4, 60, 1) == 0);
    CU_ASSERT_FATAL(write_labels(b, 0x801, 5, LABELS5, 5, 1) == 0);
    CU_ASSERT_FATAL(write_images(c, 0x803, 5, 3, 4, 60, 1) == 0);
    err = (DtError){DT_OK, ""};
    CU_ASSERT_EQUAL(dataset_load_fashion_mnist(&train, &test, f.dir, 0, 0, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t10k-labels-idx1-ubyte.gz"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dataset-fashion-mnist"));

    /* With all four present the small files load, sizes capped as asked. */
    snprintf(c, sizeof c, "%s/t10k-labels-idx1-ubyte.gz", f.dir);
    CU_ASSERT_FATAL(write_labels(c, 0x801, 5, LABELS5, 5, 1) == 0);
    CU_ASSERT_EQUAL_FATAL(dataset_load_fashion_mnist(&train, &test, f.dir, 3, 9, &err), 0);
    CU_ASSERT_EQUAL(train.n, 3);
    CU_ASSERT_EQUAL(test.n, 5);
    dataset_free(&train);
    dataset_free(&test);

    /* A corrupt test file after a good training set: both come back empty. */
    snprintf(c, sizeof c, "%s/t10k-images-idx3-ubyte.gz", f.dir);
    CU_ASSERT_FATAL(write_images(c, 0x801, 5, 3, 4, 60, 1) == 0);
    CU_ASSERT_EQUAL(dataset_load_fashion_mnist(&train, &test, f.dir, 0, 0, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, c));
    CU_ASSERT(dataset_is_empty(&train));
    CU_ASSERT(dataset_is_empty(&test));
    files_close(&f);
}

static void test_fashion_real(void)
{
    /* dataset-fashion-mnist is a declared dependency: its absence is a
     * failure, not a skip. */
    struct stat st;
    CU_ASSERT_FATAL(stat(DT_FASHION_MNIST_DIR, &st) == 0);

    Dataset train, test;
    DtError err = {DT_OK, ""};
    int rc = dataset_load_fashion_mnist(&train, &test, NULL, 100, 20000, &err);
    if (rc != 0)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(train.n, 100);
    CU_ASSERT_EQUAL(test.n, 10000);
    CU_ASSERT(test.shape.c == 1 && test.shape.h == 28 && test.shape.w == 28);
    CU_ASSERT(train.shape.c == 1 && train.shape.h == 28 && train.shape.w == 28);
    CU_ASSERT_EQUAL(test.classes, 10);

    int count[10] = {0}, labels_ok = 1;
    for (int i = 0; i < test.n; i++) {
        if (test.y[i] >= 10)
            labels_ok = 0;
        else
            count[test.y[i]]++;
    }
    CU_ASSERT(labels_ok);
    for (int c = 0; c < 10; c++)
        CU_ASSERT_EQUAL(count[c], 1000);
    /* First labels of each set (ankle boot, then ...) pin the file order. */
    static const uint8_t train_first[4] = {9, 0, 0, 3}, test_first[4] = {9, 2, 1, 1};
    CU_ASSERT(memcmp(train.y, train_first, 4) == 0);
    CU_ASSERT(memcmp(test.y, test_first, 4) == 0);

    float lo = 1.0f, hi = 0.0f;
    for (size_t i = 0; i < (size_t)test.n * 784; i++) {
        lo = test.x[i] < lo ? test.x[i] : lo;
        hi = test.x[i] > hi ? test.x[i] : hi;
    }
    CU_ASSERT(lo == 0.0f && hi == 1.0f);
    double mean, std;
    dataset_stats(&test, &mean, &std);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.2868, 0.001); /* the well-known Fashion-MNIST mean */
    dataset_free(&train);
    dataset_free(&test);
}

static SyntheticConfig synth_config(void)
{
    return (SyntheticConfig){
        .n = 64, .shape = {2, 3, 3}, .classes = 5, .noise = 0.25f, .seed = 42, .stream = 0};
}

static void test_synthetic_deterministic(void)
{
    SyntheticConfig cfg = synth_config();
    Dataset a, b, c;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&a, &cfg, &err), 0);
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&b, &cfg, &err), 0);
    cfg.seed = 43;
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&c, &cfg, &err), 0);

    size_t floats = 64 * 18;
    CU_ASSERT_EQUAL(a.n, 64);
    CU_ASSERT(a.shape.c == 2 && a.shape.h == 3 && a.shape.w == 3);
    CU_ASSERT_EQUAL(a.classes, 5);
    CU_ASSERT(memcmp(a.x, b.x, floats * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a.y, b.y, 64) == 0);
    CU_ASSERT(memcmp(a.x, c.x, floats * sizeof(float)) != 0);
    CU_ASSERT(memcmp(a.y, c.y, 64) != 0);

    int seen[5] = {0}, labels_ok = 1, values_ok = 1;
    for (int i = 0; i < a.n; i++) {
        if (a.y[i] >= 5)
            labels_ok = 0;
        else
            seen[a.y[i]] = 1;
    }
    for (size_t i = 0; i < floats; i++)
        values_ok &= a.x[i] >= -0.25f && a.x[i] <= 1.25f;
    CU_ASSERT(labels_ok);
    CU_ASSERT(values_ok);
    CU_ASSERT(seen[0] && seen[1] && seen[2] && seen[3] && seen[4]);
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
}

/* The draw order is part of the contract: recompute it from rng alone. */
static void test_synthetic_reference(void)
{
    SyntheticConfig cfg = synth_config();
    Dataset d;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&d, &cfg, &err), 0);

    float proto[5][18];
    Rng pr = rng_make(cfg.seed, 0xC1A55);
    for (int c = 0; c < 5; c++)
        for (int j = 0; j < 18; j++)
            proto[c][j] = rng_uniform(&pr);
    Rng sr = rng_make(cfg.seed, cfg.stream + 1);
    int labels_ok = 1;
    double worst = 0.0;
    for (int i = 0; i < d.n; i++) {
        uint32_t label = rng_below(&sr, 5);
        labels_ok &= d.y[i] == label;
        for (int j = 0; j < 18; j++) {
            double u = rng_uniform(&sr);
            double want = proto[label][j] + 0.25 * (2.0 * u - 1.0);
            worst = fmax(worst, fabs(d.x[i * 18 + j] - want));
        }
    }
    CU_ASSERT(labels_ok);
    CU_ASSERT(worst < 1e-6);
    dataset_free(&d);
}

/* Prototypes depend on the seed only: without noise, every sample of a
 * class is the same image whatever the stream. */
static void test_synthetic_streams_share_prototypes(void)
{
    SyntheticConfig cfg = synth_config();
    cfg.noise = 0.0f;
    Dataset a, b;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&a, &cfg, &err), 0);
    cfg.stream = 1;
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&b, &cfg, &err), 0);
    CU_ASSERT(memcmp(a.y, b.y, 64) != 0);
    int same = 1;
    for (int i = 0; i < a.n; i++)
        for (int j = 0; j < b.n; j++)
            if (a.y[i] == b.y[j])
                same &= memcmp(a.x + i * 18, b.x + j * 18, 18 * sizeof(float)) == 0;
    CU_ASSERT(same);
    dataset_free(&a);
    dataset_free(&b);
}

static void test_synthetic_invalid(void)
{
    SyntheticConfig bad[7];
    for (int i = 0; i < 7; i++)
        bad[i] = synth_config();
    bad[0].n = 0;
    bad[1].classes = 1;
    bad[2].classes = 256;
    bad[3].shape.h = 0;
    bad[4].shape.c = -2;
    bad[5].noise = -0.1f;
    bad[6].noise = NAN;
    for (int i = 0; i < 7; i++) {
        Dataset d;
        memset(&d, 0xAB, sizeof d);
        DtError err = {DT_OK, ""};
        CU_ASSERT_EQUAL(dataset_synthetic(&d, &bad[i], &err), -1);
        CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
        CU_ASSERT(strstr(err.msg, "synthetic") != NULL);
        CU_ASSERT(dataset_is_empty(&d));
    }
}

static void test_stats_and_normalize(void)
{
    /* Known values: 1, 2, 3, 4 have mean 2.5 and population std sqrt(1.25). */
    Dataset d = {.n = 2, .shape = {1, 1, 2}, .classes = 2};
    d.x = malloc(4 * sizeof *d.x);
    d.y = malloc(2);
    CU_ASSERT_FATAL(d.x && d.y);
    for (int i = 0; i < 4; i++)
        d.x[i] = (float)(i + 1);
    double mean, std;
    dataset_stats(&d, &mean, &std);
    CU_ASSERT_DOUBLE_EQUAL(mean, 2.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(std, sqrt(1.25), 1e-12);
    dataset_normalize(&d, mean, std);
    CU_ASSERT_DOUBLE_EQUAL(d.x[0], -1.5 / sqrt(1.25), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(d.x[3], 1.5 / sqrt(1.25), 1e-6);
    dataset_free(&d);

    SyntheticConfig cfg = synth_config();
    cfg.n = 500;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&d, &cfg, &err), 0);
    dataset_stats(&d, &mean, &std);
    CU_ASSERT(mean > 0.3 && mean < 0.7);
    CU_ASSERT(std > 0.1);
    dataset_normalize(&d, mean, std);
    dataset_stats(&d, &mean, &std);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(std, 1.0, 1e-5);
    dataset_free(&d);
}

static void test_shard_range(void)
{
    static const int ns[] = {0, 1, 3, 7, 10, 64, 101};
    static const int ks[] = {1, 2, 3, 5, 8, 16};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
            int n = ns[a], k = ks[b], next = 0, ok = 1;
            for (int s = 0; s < k; s++) {
                int begin, end;
                shard_range(n, k, s, &begin, &end);
                int want = n / k + (s < n % k ? 1 : 0);
                ok &= begin == next && end - begin == want;
                next = end;
            }
            ok &= next == n;
            if (!ok)
                fprintf(stderr, "\n  shard_range wrong for n %d k %d\n", n, k);
            CU_ASSERT(ok);
        }
    }
    int begin, end;
    shard_range(10, 4, 0, &begin, &end);
    CU_ASSERT(begin == 0 && end == 3);
    shard_range(10, 4, 3, &begin, &end);
    CU_ASSERT(begin == 8 && end == 10);
}

static void test_gather(void)
{
    SyntheticConfig cfg = synth_config();
    Dataset d;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(dataset_synthetic(&d, &cfg, &err), 0);
    static const int idx[5] = {3, 0, 3, 63, 17};
    float x[5 * 18];
    uint8_t y[5];
    dataset_gather(&d, idx, 5, x, y);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT(memcmp(x + i * 18, d.x + idx[i] * 18, 18 * sizeof(float)) == 0);
        CU_ASSERT_EQUAL(y[i], d.y[idx[i]]);
    }
    dataset_gather(&d, idx, 0, x, y); /* nothing to copy */
    dataset_free(&d);
}

/*
 * Text corpus (text.c).  The corpus a test loads is pseudo-text written
 * into the scratch directory: TEXT_LEN bytes over a 16-letter alphabet,
 * so that every window of TEXT_SEQ + 1 characters occurs in it once (a
 * repeat has probability about TEXT_LEN^2 / 16^17) and a window's decoded
 * text pins the place in the file it came from.
 */
#define TEXT_LEN 4000
#define TEXT_SEQ 16
#define TEXT_VAL 0.2

static void make_text(char *buf, size_t len, uint64_t seed)
{
    static const char alphabet[] = "etaoinshrdlu ,.\n";
    Rng r = rng_make(seed, 0x7E57);
    for (size_t i = 0; i < len; i++)
        buf[i] = alphabet[rng_below(&r, sizeof alphabet - 1)];
    buf[len] = 0;
}

static int cmp_byte(const void *a, const void *b)
{
    return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

/* text_vocab of a file holding s[0..n): the distinct bytes, ascending as
 * unsigned bytes, worked out here by sorting a copy and dropping repeats. */
static void check_vocab_of(const Files *f, const char *s, size_t n)
{
    uint8_t sorted[1024], want[256];
    CU_ASSERT_FATAL(n > 0 && n <= sizeof sorted);
    memcpy(sorted, s, n);
    qsort(sorted, n, 1, cmp_byte);
    int distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[i - 1])
            want[distinct++] = sorted[i];
    CU_ASSERT_FATAL(write_file(f->images, (const uint8_t *)s, n, 0) == 0);
    TextVocab v;
    memset(&v, 0xAB, sizeof v);
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(text_vocab(f->images, &v, &err), 0);
    CU_ASSERT_EQUAL(v.size, distinct);
    CU_ASSERT(v.size == distinct && memcmp(v.bytes, want, (size_t)distinct) == 0);
    int covered = 1;
    for (size_t i = 0; i < n; i++)
        covered &= memchr(v.bytes, (uint8_t)s[i], (size_t)v.size) != NULL;
    CU_ASSERT(covered);
}

static void test_text_vocab(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    static const char hello[] = "hello world\n";
    check_vocab_of(&f, hello, strlen(hello));
    /* worked by hand: '\n' < ' ' < d e h l o r w, 9 bytes */
    TextVocab v;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(text_vocab(f.images, &v, &err), 0);
    CU_ASSERT(v.size == 9 && memcmp(v.bytes, "\n dehlorw", 9) == 0);
    /* bytes above 127 sort as unsigned, after ASCII; a NUL byte is a token */
    static const char high[] = "\xff\x80z\x01\x80 \xff";
    check_vocab_of(&f, high, sizeof high); /* with its NUL */
    CU_ASSERT_EQUAL_FATAL(text_vocab(f.images, &v, &err), 0);
    CU_ASSERT(v.size == 6 && v.bytes[0] == 0 && v.bytes[5] == 0xff && v.bytes[4] == 0x80);
    /* all 256 byte values, shuffled and repeated: the largest vocabulary */
    char all[768];
    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (char)(uint8_t)((i * 7 + 3) % 256); /* 7 is prime to 256 */
    check_vocab_of(&f, all, sizeof all);
    CU_ASSERT_EQUAL_FATAL(text_vocab(f.images, &v, &err), 0);
    CU_ASSERT_EQUAL(v.size, 256);
    files_close(&f);
}

/* A text file of TEXT_LEN pseudo-random characters in a scratch directory;
 * text gets its bytes and a NUL. */
static void text_file(Files *f, char *text)
{
    CU_ASSERT_FATAL(files_open(f) == 0);
    make_text(text, TEXT_LEN, 11);
    CU_ASSERT_FATAL(write_file(f->images, (const uint8_t *)text, TEXT_LEN, 0) == 0);
}

static int load_text(const Files *f, uint64_t seed, int seq_len, Dataset *train, Dataset *val,
                     TextVocab *v)
{
    DtError err = {DT_OK, ""};
    int rc = dataset_load_text(train, val, f->images, seq_len, TEXT_VAL, seed, v, &err);
    if (rc != 0)
        fprintf(stderr, "\n  %s\n", err.msg);
    return rc;
}

/* Shape, targets, classes; each target the next input; ids in range.
 * (Consecutive windows overlap by one inside a run of adjacent blocks,
 * not across the runs the split leaves: test_text_windows_in_file.) */
static void check_text_windows(const char *what, const Dataset *d, int classes)
{
    CU_ASSERT(d->n > 0);
    CU_ASSERT(d->shape.c == TEXT_SEQ && d->shape.h == 1 && d->shape.w == 1);
    CU_ASSERT_EQUAL(d->targets, TEXT_SEQ);
    CU_ASSERT_EQUAL(d->classes, classes);
    int shifted = 1, in_range = 1, integral = 1;
    for (int i = 0; i < d->n; i++) {
        const float *x = d->x + (size_t)i * TEXT_SEQ;
        const uint8_t *y = d->y + (size_t)i * TEXT_SEQ;
        for (int t = 0; t < TEXT_SEQ; t++) {
            integral &= x[t] >= 0.0f && x[t] == floorf(x[t]);
            in_range &= x[t] < (float)classes && y[t] < classes;
            if (t + 1 < TEXT_SEQ)
                shifted &= y[t] == (uint8_t)x[t + 1];
        }
    }
    if (!shifted || !in_range || !integral)
        fprintf(stderr, "\n  %s: shifted %d, in range %d, integral %d\n", what, shifted, in_range,
                integral);
    CU_ASSERT(shifted && in_range && integral);
}

static void test_text_load_shapes(void)
{
    Files f;
    char text[TEXT_LEN + 1];
    text_file(&f, text);
    Dataset train, val;
    TextVocab v;
    CU_ASSERT_EQUAL_FATAL(load_text(&f, 1, TEXT_SEQ, &train, &val, &v), 0);
    TextVocab direct;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(text_vocab(f.images, &direct, &err), 0);
    CU_ASSERT(v.size == direct.size && memcmp(v.bytes, direct.bytes, (size_t)v.size) == 0);
    check_text_windows("train", &train, v.size);
    check_text_windows("val", &val, v.size);

    /* A run of L adjacent characters gives (L - 1) / T windows covering
     * n T + 1 of them: together train and val cover the file but for
     * fewer than T characters at the end of each run.  Ten blocks of
     * which two are validation make at most five runs. */
    long tr = (long)train.n * TEXT_SEQ + 1, va = (long)val.n * TEXT_SEQ + 1;
    CU_ASSERT(tr + va <= TEXT_LEN);
    CU_ASSERT(tr + va >= TEXT_LEN - 5 * TEXT_SEQ);
    /* val_fraction of the text, to a block (a tenth of so small a file) */
    double want = TEXT_VAL * TEXT_LEN;
    if (fabs(va - want) > TEXT_LEN / 10 + TEXT_SEQ)
        fprintf(stderr, "\n  validation covers %ld of %d characters, wanted about %g\n", va,
                TEXT_LEN, want);
    CU_ASSERT(fabs(va - want) <= TEXT_LEN / 10 + TEXT_SEQ);
    dataset_free(&train);
    dataset_free(&val);
    CU_ASSERT(dataset_is_empty(&train) && dataset_is_empty(&val));
    files_close(&f);
}

static int same_dataset(const Dataset *a, const Dataset *b)
{
    size_t n = (size_t)a->n * TEXT_SEQ;
    return a->n == b->n && memcmp(a->x, b->x, n * sizeof(float)) == 0 && memcmp(a->y, b->y, n) == 0;
}

static void test_text_load_seeds(void)
{
    Files f;
    char text[TEXT_LEN + 1];
    text_file(&f, text);
    Dataset tr[3], va[3];
    CU_ASSERT_EQUAL_FATAL(load_text(&f, 7, TEXT_SEQ, &tr[0], &va[0], NULL), 0);
    CU_ASSERT_EQUAL_FATAL(load_text(&f, 7, TEXT_SEQ, &tr[1], &va[1], NULL), 0);
    CU_ASSERT_EQUAL_FATAL(load_text(&f, 8, TEXT_SEQ, &tr[2], &va[2], NULL), 0);
    CU_ASSERT(same_dataset(&tr[0], &tr[1]));
    CU_ASSERT(same_dataset(&va[0], &va[1]));
    CU_ASSERT_FALSE(same_dataset(&va[0], &va[2]));
    CU_ASSERT_FALSE(same_dataset(&tr[0], &tr[2]));
    for (int i = 0; i < 3; i++) {
        dataset_free(&tr[i]);
        dataset_free(&va[i]);
    }
    files_close(&f);
}

/* Window i of d as text: its T inputs and its last target, NUL-ended. */
static void window_text(const Dataset *d, const TextVocab *v, int i, char *out)
{
    for (int t = 0; t < TEXT_SEQ; t++)
        out[t] = (char)v->bytes[(int)d->x[(size_t)i * TEXT_SEQ + t]];
    out[TEXT_SEQ] = (char)v->bytes[d->y[(size_t)i * TEXT_SEQ + TEXT_SEQ - 1]];
    out[TEXT_SEQ + 1] = 0;
}

/* Where the windows of d occur in text: marks the characters each covers
 * with `mark` in cover; counts windows that overlap another set's (cover
 * already nonzero), that are out of file order, and that occur nowhere
 * (a window that joined two pieces of the file not adjacent in it). */
typedef struct Placed {
    int overlap, disorder, missing;
} Placed;

static Placed place_windows(const char *text, const Dataset *d, const TextVocab *v, char *cover,
                            char mark)
{
    Placed p = {0, 0, 0};
    long last = -1;
    char w[TEXT_SEQ + 2];
    for (int i = 0; i < d->n; i++) {
        window_text(d, v, i, w);
        const char *found = strstr(text, w);
        if (!found) {
            p.missing++;
            continue;
        }
        long at = found - text;
        p.disorder += at <= last;
        last = at;
        for (long j = at; j <= at + TEXT_SEQ; j++) {
            p.overlap += cover[j] != 0 && cover[j] != mark;
            cover[j] = mark;
        }
    }
    return p;
}

/* Every window decodes to a piece of the file (none straddles a place
 * where blocks of the other set were cut out, so every target is the
 * character that follows in the text), training windows in file order,
 * and no validation window shares a character with a training one. */
static void test_text_windows_in_file(void)
{
    Files f;
    char text[TEXT_LEN + 1], cover[TEXT_LEN] = {0};
    text_file(&f, text);
    Dataset train, val;
    TextVocab v;
    CU_ASSERT_EQUAL_FATAL(load_text(&f, 5, TEXT_SEQ, &train, &val, &v), 0);
    Placed pt = place_windows(text, &train, &v, cover, 't');
    Placed pv = place_windows(text, &val, &v, cover, 'v');
    if (pt.missing || pv.missing)
        fprintf(stderr, "\n  %d training and %d validation windows are not in the file\n",
                pt.missing, pv.missing);
    CU_ASSERT_EQUAL(pt.missing + pv.missing, 0);
    CU_ASSERT_EQUAL(pt.disorder, 0);
    CU_ASSERT_EQUAL(pt.overlap + pv.overlap, 0);
    int n = 0;
    for (int j = 0; j < TEXT_LEN; j++)
        n += cover[j] != 0;
    /* the windows found are distinct places: T new characters each at least */
    CU_ASSERT(n >= (train.n + val.n - pt.missing - pv.missing) * TEXT_SEQ);
    dataset_free(&train);
    dataset_free(&val);
    files_close(&f);
}

/* dataset_load_text on path fails with an input error naming path and
 * containing needle, both sets left empty; and text_vocab (when vocab_too)
 * fails naming path. */
static void expect_text_fails(const char *what, const char *path, int seq_len, const char *needle,
                              int vocab_too)
{
    Dataset train, val;
    memset(&train, 0xAB, sizeof train);
    memset(&val, 0xAB, sizeof val);
    DtError err = {DT_OK, ""};
    int rc = dataset_load_text(&train, &val, path, seq_len, TEXT_VAL, 1, NULL, &err);
    int ok = rc == -1 && err.kind == DT_EINPUT && strstr(err.msg, path) &&
             strstr(err.msg, needle) && dataset_is_empty(&train) && dataset_is_empty(&val);
    if (!ok)
        fprintf(stderr, "\n  case '%s': rc %d kind %d msg '%s' (wanted '%s' and '%s')\n", what, rc,
                (int)err.kind, err.msg, path, needle);
    CU_ASSERT(ok);
    if (rc == 0) {
        dataset_free(&train);
        dataset_free(&val);
    }
    if (!vocab_too)
        return;
    TextVocab v;
    err = (DtError){DT_OK, ""};
    rc = text_vocab(path, &v, &err);
    ok = rc == -1 && err.kind == DT_EINPUT && strstr(err.msg, path);
    if (!ok)
        fprintf(stderr, "\n  case '%s' (text_vocab): rc %d msg '%s'\n", what, rc, err.msg);
    CU_ASSERT(ok);
}

static void fifo_blocked(int sig)
{
    (void)sig;
    static const char msg[] = "\n  reading the text corpus blocked on a FIFO\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(3);
}

/* A FIFO nobody writes to: opening it for reading would block, so the
 * loaders must refuse it before.  Should they block, SIGALRM ends the
 * process with a message instead of hanging the suite. */
static void expect_fifo_fails(const char *path)
{
    CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
    void (*old)(int) = signal(SIGALRM, fifo_blocked);
    alarm(10);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_text_fails("FIFO", path, TEXT_SEQ, path, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);
    signal(SIGALRM, old);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CU_ASSERT(s < 1.0);
}

static void test_text_errors(void)
{
    Files f;
    char text[TEXT_LEN + 1], path[600];
    text_file(&f, text);
    snprintf(path, sizeof path, "%s/no-such-corpus.txt", f.dir);
    expect_text_fails("missing file", path, TEXT_SEQ, path, 1);
    expect_text_fails("directory", f.dir, TEXT_SEQ, f.dir, 1);
    snprintf(path, sizeof path, "%s/empty.txt", f.dir);
    CU_ASSERT_FATAL(write_file(path, (const uint8_t *)"", 0, 0) == 0);
    expect_text_fails("empty file", path, TEXT_SEQ, "empty", 1);
    snprintf(path, sizeof path, "%s/corpus.fifo", f.dir);
    expect_fifo_fails(path);
    /* A fifth of 4000 characters is 800 for validation: windows of 1001
     * fit the training text only, of 4001 neither. */
    expect_text_fails("seq_len past the validation text", f.images, 1000, "seq_len", 0);
    expect_text_fails("seq_len past the validation text", f.images, 1000, "validation", 0);
    expect_text_fails("seq_len past the whole text", f.images, TEXT_LEN, "seq_len", 0);
    expect_text_fails("seq_len past the whole text", f.images, TEXT_LEN, "training", 0);
    expect_text_fails("seq_len 0", f.images, 0, "seq_len", 0);
    expect_text_fails("seq_len -3", f.images, -3, "seq_len", 0);
    /* one character: no window of 2 */
    CU_ASSERT_FATAL(write_file(f.images, (const uint8_t *)"x", 1, 0) == 0);
    expect_text_fails("one character", f.images, 1, "seq_len", 0);
    files_close(&f);
}

static void fill_ids(int *ids, int n)
{
    for (int i = 0; i < n; i++)
        ids[i] = -7;
}

static void test_text_encode(void)
{
    Files f;
    CU_ASSERT_FATAL(files_open(&f) == 0);
    CU_ASSERT_FATAL(write_file(f.images, (const uint8_t *)"hello world\n", 12, 0) == 0);
    TextVocab v;
    DtError err = {DT_OK, ""};
    CU_ASSERT_EQUAL_FATAL(text_vocab(f.images, &v, &err), 0);
    /* ids: '\n' 0, ' ' 1, d 2, e 3, h 4, l 5, o 6, r 7, w 8 */
    int ids[16];
    static const int hold[] = {4, 6, 5, 2}, known[] = {4, 5, 5, 6}, capped[] = {4, 3, 5};
    CU_ASSERT_EQUAL(text_encode(&v, "hold", ids, 16), 4);
    CU_ASSERT(memcmp(ids, hold, sizeof hold) == 0);
    /* characters not in the vocabulary are skipped, not mapped */
    CU_ASSERT_EQUAL(text_encode(&v, "H?h\xff\tlLlzo!", ids, 16), 4);
    CU_ASSERT(memcmp(ids, known, sizeof known) == 0);
    /* cap: at most cap ids, nothing written past them */
    fill_ids(ids, 16);
    CU_ASSERT_EQUAL(text_encode(&v, "hello world", ids, 3), 3);
    CU_ASSERT(memcmp(ids, capped, sizeof capped) == 0 && ids[3] == -7);
    fill_ids(ids, 16);
    CU_ASSERT_EQUAL(text_encode(&v, "?h??e", ids, 1), 1); /* skipped ones do not count */
    CU_ASSERT(ids[0] == 4 && ids[1] == -7);
    fill_ids(ids, 16);
    CU_ASSERT_EQUAL(text_encode(&v, "hello", ids, 0), 0);
    CU_ASSERT_EQUAL(ids[0], -7);
    CU_ASSERT_EQUAL(text_encode(&v, "", ids, 16), 0);
    /* round trip: each id is the token of its character */
    static const char s[] = "world\nhello ";
    int n = text_encode(&v, s, ids, 16), back = n == 12;
    for (int i = 0; back && i < n; i++)
        back &= v.bytes[ids[i]] == (uint8_t)s[i];
    CU_ASSERT(back);
    files_close(&f);
}

static CU_TestInfo idx_tests[] = {
    {"gzip IDX loads byte/255 and labels", test_idx_gzip},
    {"plain IDX loads byte/255 and labels", test_idx_plain},
    {"max_samples keeps the first samples", test_idx_max_samples},
    {"missing file", test_idx_missing},
    {"wrong magic", test_idx_wrong_magic},
    {"truncated header and data", test_idx_truncated},
    {"corrupt gzip", test_idx_corrupt_gzip},
    {"count mismatch, bad label, bad dims", test_idx_bad_contents},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo fashion_tests[] = {
    {"missing directory or file names the package", test_fashion_missing},
    {"real Fashion-MNIST test set", test_fashion_real},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo synthetic_tests[] = {
    {"deterministic, seed-dependent, in range", test_synthetic_deterministic},
    {"follows the documented draw order", test_synthetic_reference},
    {"streams share the seed's prototypes", test_synthetic_streams_share_prototypes},
    {"invalid configs are input errors", test_synthetic_invalid},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo helper_tests[] = {
    {"stats and normalize", test_stats_and_normalize},
    {"shard_range covers [0, n) disjointly", test_shard_range},
    {"gather copies rows", test_gather},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo text_tests[] = {
    {"text_vocab: the distinct bytes, sorted", test_text_vocab},
    {"text windows: shapes, next-token targets, coverage, val share", test_text_load_shapes},
    {"text split: same seed same bytes, other seed other split", test_text_load_seeds},
    {"text windows decode to the file, val apart from train", test_text_windows_in_file},
    {"text errors: missing, directory, empty, FIFO, seq_len", test_text_errors},
    {"text_encode: known ids, unknown skipped, cap", test_text_encode},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"idx", NULL, NULL, NULL, NULL, idx_tests},
    {"fashion-mnist", NULL, NULL, NULL, NULL, fashion_tests},
    {"synthetic", NULL, NULL, NULL, NULL, synthetic_tests},
    {"dataset helpers", NULL, NULL, NULL, NULL, helper_tests},
    {"text", NULL, NULL, NULL, NULL, text_tests},
    CU_SUITE_INFO_NULL,
};

int main(void)
{
    return test_run_suites(suites);
}
