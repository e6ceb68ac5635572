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
    Shape shape; /* per sample, e.g. (1, 28, 28), or (T, 1, 1) token ids for text */
    int classes; /* labels are 0 .. classes-1 */
    int targets; /* labels per sample: 1, or T for text (the next token at each position) */
    float *x;    /* (n, shape_size(shape)) */
    uint8_t *y;  /* (n, targets) */
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
/* The four files dataset_load_fashion_mnist reads (train images, train
 * labels, test images, test labels), checked to exist, for loading them
 * another way (both sets at once). */
int dataset_fashion_mnist_paths(const char *dir, char paths[4][4096], DtError *err);

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
/* The same for samples [first, first + count) only. */
void dataset_normalize_samples(Dataset *d, double mean, double std, int first, int count);
void dataset_free(Dataset *d);

/* Copy samples idx[0..count) into x (count, sample size) and y (count,
 * targets). */
void dataset_gather(const Dataset *d, const int *idx, int count, float *x, uint8_t *y);

/*
 * Text (text.c): a character-level corpus.  The vocabulary is the distinct
 * bytes of the file, sorted (token id i is the i-th smallest byte).  The
 * file is cut into blocks, a seeded val_fraction of them (at least one)
 * forms the validation text and the rest, in file order, the training
 * text; each is cut into windows of seq_len + 1 tokens that overlap by one
 * (window i starts at token i * seq_len): a sample's x is its first
 * seq_len tokens, its targets the last seq_len, so every position predicts
 * the next token.
 */
#define DT_TEXT_CORPUS "/usr/share/games/fortunes/cookie"

typedef struct TextVocab {
    int size;
    uint8_t bytes[256]; /* (size) the byte of each token id */
} TextVocab;

/* The vocabulary of the text file at path; -1 naming the file when it is
 * missing, not a regular file, empty or unreadable. */
int text_vocab(const char *path, TextVocab *v, DtError *err);
/* Load the file's windows as above, and its vocabulary into *vocab (when
 * not NULL); -1 naming the file (as text_vocab) or saying that seq_len
 * leaves no training or no validation window. */
int dataset_load_text(Dataset *train, Dataset *val, const char *path, int seq_len,
                      double val_fraction, uint64_t seed, TextVocab *vocab, DtError *err);
/* Token ids of the bytes of s that are in v (others are skipped) into ids,
 * at most cap of them; returns how many. */
int text_encode(const TextVocab *v, const char *s, int *ids, int cap);

/* Shard s of k over [0, n): sets *begin and *end (end exclusive). */
void shard_range(int n, int k, int s, int *begin, int *end);

#endif
