/*
 * compress.h - gradient compression for the data-parallel all-reduce
 * (`[strategy] compress`, with ratio and error_feedback).
 *
 *   none     the all-reduce as it is.
 *   fp16     every float of every message rounded to IEEE half precision
 *   bf16     (bfloat16) on its way, ties to even, each message 2 bytes a
 *            float (half those of fp32 training): partial sums are rounded at every hop, as an
 *            all-reduce in half precision does (sim/comm.h rounding).
 *   topk     each worker keeps the ratio x count largest magnitudes of
 *            its gradient (plus its residual with error feedback); the
 *            workers' (index, value) pairs, 8 bytes each, are exchanged
 *            with a ring all-gather, since each chose its own indices,
 *            and every worker adds them up in worker order.  The
 *            all-gather's bytes grow with the workers: a worker receives
 *            every other's pairs, so the traffic falls by count / (workers
 *            x k), not by count / k.
 *   randomk  every worker keeps the same ratio x count coordinates, drawn
 *            afresh for every all-reduce from the scenario's seed (so no
 *            index travels), and the values alone are all-reduced: the
 *            traffic falls by count / k whatever the workers.  Indices
 *            and sign bits always travel as 4-byte words.  Nothing is
 *            rescaled: with error feedback what is left out comes back.
 *   signsgd  each worker sends the signs of its gradient (plus residual),
 *            32 to a word, and one scale, their mean magnitude; the
 *            messages are all-gathered and every worker adds up the
 *            workers' scale x sign in worker order: 1 bit a coordinate.
 *   gtopk    global top-k (Shi et al. 2019): each worker chooses its top
 *            k as topk does, then the sets go up a binomial tree, each
 *            member adding its child's pairs to its own (by index) and
 *            keeping the k of largest magnitude, and member 0's final k
 *            pairs come back down the tree.  Every message is k pairs,
 *            whatever the workers, so the traffic falls by count / (2 k);
 *            the sum is that of the coordinates the tree kept.  With
 *            error feedback a worker keeps what it did not send and what
 *            it sent at the coordinates not in the final k, as Shi et
 *            al. do: a value a merge dropped at a coordinate that still
 *            reached the final k through another subtree is lost (its
 *            worker cannot tell).  Keeping what a merge drops in the
 *            merging member's residual instead loses nothing, but ends
 *            0.75 points lower on the quickstart (0.8659 against 0.8734):
 *            one member then holds the tree's leftovers.
 *   powersgd PowerSGD (Vogels et al. 2019, sim/powersgd.c): each weight
 *            matrix's gradient M (rows x cols; core/model.h) travels as
 *            two thin factors of `rank` columns, P = M Q and Q = M^T P^,
 *            each all-reduced; biases and matrices too small to gain
 *            are all-reduced whole.
 *
 * With error_feedback = on each worker keeps what its compression left
 * out (its gradient less what it sent) and adds it to its next gradient.
 * Choosing, packing and unpacking are charged on the worker's device as
 * compute.  A compressed all-reduce gives every worker the same sum,
 * as the uncompressed one does, so replicas stay identical.
 */
#ifndef DT_COMPRESS_H
#define DT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "collective.h"
#include "device.h"
#include "keys.h"
#include "model.h"

enum {
    COMPRESS_NONE,
    COMPRESS_FP16,
    COMPRESS_BF16,
    COMPRESS_TOPK,
    COMPRESS_RANDOMK,
    COMPRESS_SIGNSGD,
    COMPRESS_GTOPK,
    COMPRESS_POWERSGD
};
enum { COMPRESS_FEEDBACK_ON, COMPRESS_FEEDBACK_OFF };
extern const char *const compress_kinds[];

/* Every field's zero is its default, so that a strategy whose keys leave
 * it out compresses nothing, and the scenario records none of its keys
 * unless given. */
typedef struct CompressConfig {
    int kind;
    double ratio;       /* topk, randomk: the share of coordinates sent; 0: 0.01 */
    int error_feedback; /* COMPRESS_FEEDBACK_ON or _OFF */
    int rank;           /* powersgd: the factors' columns; 0: 4 */
    uint64_t seed;      /* randomk, powersgd: draws from it (not a key: the run's seed) */
    /* powersgd: the gradient's matrices, ascending (not keys: the model's) */
    const ModelMatrix *mats;
    int nmats;
} CompressConfig;

/* The rows of a strategy's key table for a CompressConfig at `field` of
 * its config struct `T`. */
#define COMPRESS_KEYS(T, field)                                                                    \
    KEYDEF_ENUM(T, "compress", field.kind, compress_kinds, "(none)",                               \
                "gradient compression: none, fp16 or bf16 (every message in half precision), "     \
                "topk (the ratio of largest coordinates, as index and value), "                    \
                "randomk (the same random ratio of coordinates on every worker, values only), "    \
                "signsgd (signs and a scale), gtopk (top-k merged up a tree: the global top "      \
                "ratio), powersgd (each weight matrix as two factors of `rank` columns)"),         \
        {.name = "ratio",                                                                          \
         .type = KEY_DOUBLE,                                                                       \
         .offset = offsetof(T, field.ratio),                                                       \
         .min = 0,                                                                                 \
         .min_open = 1,                                                                            \
         .max = 1,                                                                                 \
         .def = "(0.01)",                                                                          \
         .help = "topk, randomk, gtopk: the share of the gradient's coordinates each worker "      \
                 "sends, in (0, 1]"},                                                              \
        {.name = "rank",                                                                           \
         .type = KEY_INT,                                                                          \
         .offset = offsetof(T, field.rank),                                                        \
         .min = 1,                                                                                 \
         .max = 1 << 16,                                                                           \
         .def = "(4)",                                                                             \
         .help = "powersgd: the columns of each matrix's factors (its rank)"},                     \
        KEYDEF_ENUM(T, "error_feedback", field.error_feedback, compress_on_off, "(on)",            \
                    "topk, randomk, signsgd, gtopk, powersgd: keep what was left out and add it "  \
                    "to the next gradient")

extern const char *const compress_on_off[];

/* A worker's compression state, over a gradient of `count` floats. */
typedef struct Compress {
    CompressConfig cfg;
    Device *dev;     /* where compression is charged */
    size_t count;    /* the whole gradient */
    long calls;      /* compressed all-reduces (or pushed slices) so far */
    float *residual; /* (count) with error feedback, else NULL */
    float *mag;      /* (count) the magnitudes of the gradient plus residual */
    float *work;     /* (count) magnitudes being ranked */
    float *gather;   /* the all-gather's buffer */
    size_t gather_cap;
    int *idx;           /* (count) chosen coordinates */
    int *cand;          /* (count) coordinates in the running */
    float *q;           /* powersgd: each matrix's Q, kept from the last all-reduce */
    float *pbuf, *qbuf; /* powersgd: the two all-reduces' messages */
    double raw_bytes;   /* what the uncompressed gradients would have carried */
    double sent_bytes;  /* what the compressed messages carried (each worker's part) */
} Compress;

/* ratio is in range for the kinds that use it; error feedback needs a
 * kind that leaves something out: -1 naming the key otherwise. */
int compress_check(const CompressConfig *c, const KeySource *given, DtError *err);
/* Allocate the state (none and fp16/bf16 need none); charged on dev;
 * `first` compressed all-reduces already done (a restart's); -1 when out
 * of memory. */
int compress_init(Compress *c, const CompressConfig *cfg, Device *dev, size_t count, long first,
                  DtError *err);
void compress_free(Compress *c);
/* Does this kind leave something out, which error feedback keeps (topk,
 * randomk, signsgd, gtopk, powersgd)?  fp16 and bf16 only round the
 * messages. */
int compress_sparse(const CompressConfig *c);
/* summary.json's "compression": the kind and its settings, the bytes the
 * gradients would have carried (raw) and the messages' (sent), and
 * their ratio (also a measure for sweeps). */
struct cJSON;
void compress_summary(const CompressConfig *c, struct cJSON *root, double raw, double sent);
/* Does it keep state between steps that a checkpoint does not hold: a
 * residual (error feedback), or powersgd's warm start? */
int compress_stateful(const CompressConfig *c);
/* Does it send a ratio of the coordinates (topk, randomk, gtopk)? */
int compress_uses_ratio(const CompressConfig *c);
/* topk's and randomk's ratio in effect. */
double compress_ratio(const CompressConfig *c);
/* The sum over the group of buf[0 .. n) (the gradient's floats from
 * offset on), compressed: every member ends with the same sum of what
 * the members sent.  0, or -1 when a transfer failed. */
int compress_allreduce(Compress *c, const Group *g, const CollectiveOps *allreduce, float *buf,
                       size_t n, size_t offset);

/* topk's, randomk's and gtopk's k for a buffer of n floats: the ratio of
 * n, at least 1 (0 for nothing). */
size_t compress_k(const CompressConfig *c, size_t n);

/* Point to point (a parameter server's pushes), for topk, randomk,
 * signsgd and powersgd: each message stands for n floats of a gradient on
 * its own, from offset.  The floats of the message (topk's pairs and
 * signsgd's signs are 4-byte words: compress_message_words). */
size_t compress_message_count(const CompressConfig *c, size_t n, size_t offset);
int compress_message_words(const CompressConfig *c);
/* The message for buf[0 .. n), the gradient's floats from offset on, into
 * msg (compress_message_count floats; with error feedback the residual
 * keeps what it leaves out); randomk draws its coordinates by `draw`,
 * which compress_expand is given too.  buf NULL (cost mode): the charge
 * alone. */
void compress_pack(Compress *c, float *buf, size_t n, size_t offset, uint64_t draw, float *msg);
/* The n floats from offset that msg stands for, into out (NULL: the
 * charge alone), charged on dev; cand: n ints of scratch for randomk. */
void compress_expand(const CompressConfig *cfg, Device *dev, const float *msg, size_t n,
                     size_t offset, uint64_t draw, float *out, int *cand);

/* powersgd.c: compress_init's part and compress_allreduce's for powersgd. */
int powersgd_init(Compress *c, DtError *err);
int powersgd_allreduce(Compress *c, const Group *g, const CollectiveOps *allreduce, float *buf,
                       size_t n, size_t offset);
/* PowerSGD point to point: a push is one worker's gradient compressed as
 * PowerSGD compresses it on one worker (P = M Q orthonormalised into P^,
 * then Q = M^T P^, both sent, Q kept for the next push), expanded into
 * P^ Q^T.  A server's slice cuts matrices: the rows of each matrix that
 * lie whole within [off, off + len), a matrix of their own, into out
 * (NULL: only counted); the rest of the slice goes whole.  The caller
 * gives the cut matrices of every slice as CompressConfig.mats. */
int powersgd_cut(const ModelMatrix *mats, int n, size_t off, size_t len, ModelMatrix *out);
size_t powersgd_message_count(const Compress *c, size_t n, size_t offset);
void powersgd_pack(Compress *c, float *buf, size_t n, size_t offset, float *msg);
void powersgd_expand(const Compress *c, Device *dev, const float *msg, size_t n, size_t offset,
                     float *out);

#endif
