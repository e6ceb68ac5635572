/*
 * data.h - datasets in memory: Fashion-MNIST from IDX files, or synthetic.
 *
 * A Dataset is n samples of one Shape, stored as floats (n, c*h*w) with a
 * label byte each.  Fashion-MNIST is read from the gzip-compressed IDX files
 * that Debian's dataset-fashion-mnist package installs under
 * /usr/share/datasets/fashion-mnist (train-images-idx3-ubyte.gz, ...), with
 * zlib; pixels become floats in [0, 1], and dataset_normalize() then
 * standardises them with statistics the caller chooses (the training set's).
 *
 * The synthetic dataset is for fast, data-free tests: each class has a
 * random prototype image, and a sample is its class prototype plus uniform
 * noise, all drawn from a seeded Rng, so it is learnable and identical on
 * every machine.
 *
 * Shards and batches are index ranges: a shard is a contiguous slice of
 * [0, n), split as evenly as possible (the first n % k shards get one more).
 */
#ifndef DT_DATA_H
#define DT_DATA_H

#include <stdint.h>

#include "error.h"
#include "layer.h"

#define DT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct Dataset {
    int n;       /* samples */
    Shape shape; /* per sample, e.g. (1, 28, 28) */
    int classes; /* labels are 0 .. classes-1 */
    float *x;    /* (n, shape_size(shape)) */
    uint8_t *y;  /* (n) */
} Dataset;

/* Read an IDX image file (magic 0x00000803, n x rows x cols unsigned bytes)
 * and the matching IDX label file (magic 0x00000801), gzip-compressed or
 * not (zlib reads both).  Keeps the first max_samples samples when
 * max_samples > 0.  Errors (missing file, wrong magic, counts that disagree,
 * a file shorter than its header says, a label >= 10) name the file and
 * return -1 with the dataset left empty. */
int dataset_load_idx(Dataset *d, const char *images_path, const char *labels_path, int max_samples,
                     DtError *err);

/* Load the Fashion-MNIST train and test sets from dir (DT_FASHION_MNIST_DIR
 * when dir is NULL or empty).  A missing directory or file says to install
 * the Debian package dataset-fashion-mnist. */
int dataset_load_fashion_mnist(Dataset *train, Dataset *test, const char *dir, int train_samples,
                               int test_samples, DtError *err);

typedef struct SyntheticConfig {
    int n;
    Shape shape;
    int classes;
    float noise;     /* half-width of the uniform noise added to the prototype */
    uint64_t seed;   /* the prototypes depend on seed only; samples on seed and stream */
    uint64_t stream; /* use different streams for train and test sets */
} SyntheticConfig;

int dataset_synthetic(Dataset *d, const SyntheticConfig *cfg, DtError *err);

/* Mean and standard deviation over all pixels of d, in double. */
void dataset_stats(const Dataset *d, double *mean, double *std);
/* x <- (x - mean) / std for every float. */
void dataset_normalize(Dataset *d, double mean, double std);
void dataset_free(Dataset *d);

/* Copy samples idx[0..count) into x (count, sample size) and y (count). */
void dataset_gather(const Dataset *d, const int *idx, int count, float *x, uint8_t *y);

/* Shard s of k over [0, n): sets *begin and *end (end exclusive). */
void shard_range(int n, int k, int s, int *begin, int *end);

#endif
