/*
 * plan.h - how a strategy lays out its work, decided before anything runs.
 *
 * The pure parts of the strategies, with no simulator in sight, so that
 * unit tests can reach them: how many samples of a global batch each
 * data-parallel worker takes, how the gradient is cut into all-reduce
 * buckets, how a model's layers are split into pipeline stages, in which
 * order a stage runs its micro-batches, how many of them it keeps at once,
 * and what a device must hold for all that.
 */
#ifndef DT_PLAN_H
#define DT_PLAN_H

#include <stddef.h>

#include "error.h"
#include "model.h"
#include "optim.h"
#include "tensor_parallel.h"

/* What a rank keeps on its device, in bytes; activations at the peak of
 * its schedule. */
typedef struct MemoryNeed {
    double parameters, gradients, optimizer, activations, buffers;
    double attention; /* of the activations: attention probabilities (batch x heads x
                       * seq_len^2 a layer), named when they are why a model does not fit */
} MemoryNeed;

double memory_total(const MemoryNeed *n);

/* The precision a run is modelled in (kernels always compute in fp32):
 * the bytes of an activation, a weight, a gradient and a float on the
 * wire. */
typedef enum { PRECISION_FP32, PRECISION_BF16, PRECISION_FP16 } Precision;
int precision_bytes(Precision p);
/* What a rank needs at precision p, from its fp32 accounting n: weights,
 * gradients, activations and buffers take precision_bytes(p) a number,
 * and with 16-bit precision the optimizer keeps fp32 master weights beside
 * its fp32 state (mixed-precision Adam: 2 + 2 + 4 + 4 + 4 = 16 bytes a
 * parameter; SGD with momentum 12, without 8). */
MemoryNeed memory_at_precision(const MemoryNeed *n, Precision p);

/* ---- data parallelism ---------------------------------------------------- */

/* Split a global batch of `global` samples over n workers: equally (speed
 * NULL; global must be a multiple of n), or one sample each and the rest
 * in proportion to speed[r], largest remainders first, ties to the lower
 * rank.  Writes share[r] and offset[r] (where worker r's samples start in
 * the global batch); -1 when out of memory. */
int plan_shares(int global, int n, const double *speed, int *share, int *offset);

/* Gradient buckets: contiguous runs of a gradient buffer, cut at layer
 * boundaries in backward order, each all-reduced as soon as backward has
 * produced it. */
typedef struct BucketPlan {
    int n;
    size_t begin[MODEL_MAX_LAYERS]; /* bucket k is floats [begin[k], end[k]) of the buffer */
    size_t end[MODEL_MAX_LAYERS];
    int closes[MODEL_MAX_LAYERS]; /* by layer: the bucket its backward completes, or -1 */
} BucketPlan;

/* Layers [first, last) hold count[l] floats of the buffer from offset[l]
 * (increasing with l).  Walking from the last layer down, a bucket closes
 * at the first layer that brings it to `limit` floats or more, and at the
 * lowest layer with any floats. */
void plan_buckets(BucketPlan *b, const size_t *offset, const size_t *count, int first, int last,
                  size_t limit);

/* ---- pipeline parallelism ------------------------------------------------ */

typedef enum { SCHEDULE_GPIPE, SCHEDULE_1F1B } Schedule;
typedef enum { PASS_FORWARD, PASS_BACKWARD } PassKind;

/* One step of a stage's schedule: a forward or backward pass of a micro-batch. */
typedef struct Pass {
    PassKind kind;
    int micro;
} Pass;

/* The stages' layers: stage s holds [first[s], first[s + 1]), first[p] =
 * nlayers.  With nsplit = 0, balanced by FLOPs: the contiguous split into
 * p non-empty stages, cut only where model_can_cut allows, that minimises
 * the most expensive stage's forward and backward FLOPs (per sample, the
 * loss counted with the last layer; ties to the earliest cut).  Otherwise
 * split[0 .. p-2] are the first layers of stages 1 .. p-1.  Bad input
 * (more stages than layers or cuts, a split that is not increasing, or
 * cuts a residual) is -1 with a message that calls the stage count
 * `stages_key`, as the scenario does. */
int plan_stages(const Model *m, int p, const int *split, int nsplit, const char *stages_key,
                int *first, DtError *err);

/* The passes of stage s (of p) over m micro-batches, in order, into
 * passes (2m of them): GPipe runs every forward, then every backward in
 * reverse; 1F1B runs p - s - 1 warm-up forwards, then a forward and a
 * backward in turn, then the remaining backwards.  Returns 2m. */
int plan_schedule(Schedule sch, int p, int s, int m, Pass *passes);

/* Micro-batches whose activations stage s keeps at the peak of its
 * schedule: all m with GPipe; with 1F1B its warm-up forwards plus one. */
int plan_stash_slots(Schedule sch, int p, int s, int m);

/* ---- memory -------------------------------------------------------------- */

/* A whole replica training on `batch` samples: parameters, gradient,
 * optimizer state, every layer's activations and the input batch, and its
 * workspace's other buffers. */
MemoryNeed plan_replica_memory(const Model *m, const OptConfig *opt, int batch);

/* One shard of a pipeline stage (layers [tp->first, tp->last) split over
 * tp->t shards) on micro-batches of `micro` samples, keeping `slots`
 * micro-batches' activations at its peak (with the stage's input, or the
 * samples on the first stage), with two staging buffers for what it
 * receives from the previous stage (has_prev) and from the next (has_next).
 * Buffers are counted at their unsplit size, an upper bound for a shard.
 * With recompute, the slots hold only the stage's checkpoints
 * (plan_checkpoint_floats), and besides them the largest segment's
 * activations while its backward runs. */
MemoryNeed plan_stage_memory(const TpPlan *tp, const OptConfig *opt, int micro, int slots,
                             int has_prev, int has_next, int recompute);

/* Activation recomputation (recompute = full), as Megatron-LM does it: a
 * stage recomputes layers [first, plan_recompute_end), all of them but the
 * model's output layer (whose logits, which the loss reads, are kept),
 * segment by segment during backward.  Between forward and backward it
 * keeps only its checkpoints: its input, the input of every block that
 * starts in it (model_checkpoints: for a GPT each transformer block's, the
 * residual stream), which start the segments, and the kept layers'
 * outputs.  Backward goes down the segments: it runs a segment's
 * forward again from its checkpoint, then the segment's backward, so only
 * one segment's activations exist besides the checkpoints.
 * plan_checkpoint_floats: the checkpoints' floats for micro samples. */
int plan_recompute_end(const Model *m, int last);
double plan_checkpoint_floats(const Model *m, int first, int last, int micro);

#endif
