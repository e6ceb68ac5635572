/*
 * tensor_parallel.h - Megatron-style tensor parallelism of dense layers.
 *
 * t devices ("shards", numbered 0..t-1) run the same layers on the same
 * batch, and split the big dense layers between them so that each holds,
 * computes and updates only 1/t of their weights (Shoeybi et al., 2019,
 * "Megatron-LM", section 3).  This file is the math only: which layer is
 * split how (a TpPlan), each shard's forward and backward kernels, their
 * exact costs, and how many floats each all-reduce moves.  The simulator
 * moves and sums the floats (sim/), nothing here communicates.
 *
 * The plan.  Over layers [first, last) of a model (a whole model, or one
 * pipeline stage), dense layers that are ADJACENT in the layer list are
 * paired greedily from the left, where the second reads the first's output
 * and nothing else does:
 *   - the first of a pair is TP_COLUMN, split by output features: shard j
 *     holds rows [lo, hi) of W (units, in) and b[lo, hi), lo = j * slice,
 *     hi = lo + slice, slice = units / t;
 *   - the second is TP_ROW, split by input features (the first one's
 *     outputs): shard j holds columns [lo, hi) of W, slice = in / t.  Its
 *     bias is not split: every shard holds all of it, adds it once after
 *     the all-reduce, and computes the same (full) bias gradient;
 *   - every other layer is TP_REPLICATED: each shard computes it fully on
 *     full tensors, with identical parameters and identical gradients and
 *     no communication.  That covers conv2d, maxpool, flatten, a separate
 *     relu, a dense layer left without a partner (an MLP's logits layer
 *     when it has an even number of hidden layers) and a dense layer whose
 *     partner lies outside [first, last).
 * A parameter-free layer between two dense layers (a separate relu or
 * flatten) breaks the pairing there: it is REPLICATED and the dense layers
 * on either side pair with other neighbours or stay REPLICATED.  This keeps
 * one invariant the simulator can rely on: the only activations that are
 * ever split are a COLUMN layer's output and those of the LOCAL layers
 * after it (below), consumed at once by the ROW layer that ends the
 * group, and a split output layer's logits, consumed by the loss; every
 * other activation, a stage's input and output included, is full and
 * identical on all shards.  dtsim's models fuse ReLU into the
 * dense layer (layer.h), so their dense stacks pair as Megatron's MLP
 * blocks do: mlp hidden = h1,h2,h3 gives COLUMN h1, ROW h2, COLUMN h3, ROW
 * logits; hidden = h1,h2 gives COLUMN h1, ROW h2, REPLICATED logits.
 * Transformers (Megatron-LM's blocks): between a COLUMN and its ROW
 * partner may stand parameter-free layers that work on each shard's slice
 * alone (TP_LOCAL): an attention layer, whose heads are split among the
 * shards (heads / t each), or a GELU.  Each reads only the layer before
 * it.  With an attention layer in the chain the COLUMN layer is its q, k,
 * v projection: its units are three parts (queries, keys, values), each
 * split by t, so that shard j holds rows [p U/3 + j s, p U/3 + j s + s) of
 * W for each part p (s = U / (3 t)) and its output row is its heads'
 * queries, then keys, then values, as a local attention of heads / t heads
 * reads them.  So qkv, attention, proj is one group (COLUMN, LOCAL, ROW)
 * and fc, gelu, fc2 another: two all-reduces forward and two backward a
 * block.  The token embedding is TP_VOCAB (Megatron-LM's vocabulary-
 * parallel embedding): shard j holds token rows [j s, j s + s) of the
 * table, s = vocab / t, and the whole position table; its forward writes
 * the rows of the tokens it holds and zeros for the others, the sum over
 * the shards is all-reduced, and tp_forward_finish adds the positions'
 * rows; its backward needs no communication.  It stays REPLICATED when t
 * does not divide the vocabulary, or when the output layer shares its
 * table (tie_embeddings).  A language model's output layer (its logits
 * at every position) is a COLUMN layer of its own, without a ROW partner,
 * when t divides the vocabulary and it has a table of its own: each shard
 * computes the logits of its slice of the vocabulary, and the loss is
 * vocabulary-parallel (tp_loss_split, below), so the (batch x T x vocab)
 * logits are never gathered.  Every other layer of a transformer (layer
 * norms, residual adds) is REPLICATED.  Dense layers over
 * positions (layer.h, tokens) take batch * T rows in every count below.
 * A COLUMN layer's units must be a multiple of t (the ROW layer after it
 * splits the same number); otherwise tp_plan fails with DT_EINPUT.  With
 * t == 1 every layer is REPLICATED and the kernels are the serial ones.
 *
 * Parameters stay in the model's full layout: every shard has a whole
 * block (params and grads, model.h), reads and writes only what it holds
 * (tp_layer_blocks), and leaves the rest alone, so that afterwards the
 * owner of each float has its true value and tp_gather_owned can assemble
 * the full block.  The owner of a split slice is the shard that holds it;
 * the owner of a replicated float (a REPLICATED layer, a ROW layer's bias)
 * is shard 0, though all shards hold the same value.  Weights are never
 * copied: the strided column slice of a ROW layer's W goes to the GEMM
 * through its leading dimension.
 *
 * One step of shard j over a plan, with a LayerIO (layer.h) per layer as
 * for the serial kernels: params and dparams point at the layer's FULL
 * parameters (block + param_offset), the activation buffers have the
 * shard's sizes (tp_out_floats: the output of layer l and the gradient of
 * that output; a layer's input and din are the previous layer's output),
 * scratch has tp_scratch_floats floats:
 *
 *   forward, l = first .. last-1:
 *       tp_forward(plan, l, j, &io);
 *       n = tp_forward_allreduce_floats(plan, l, batch);   n > 0: ROW only
 *       if (n) { all-reduce (sum) io.out[0..n) over the t shards;
 *                tp_forward_finish(plan, l, &io); }         bias, fused relu
 *   loss on the last layer's output (full and identical on every shard)
 *   backward, l = last-1 .. first, io from model_layer_io (din NULL unless
 *   model_needs_din), then model_backward_finish after any all-reduce:
 *       tp_backward(plan, l, j, &io);
 *       n = tp_backward_allreduce_floats(plan, l, batch);  n > 0: COLUMN only
 *       if (n) all-reduce (sum) io.din[0..n) over the t shards;
 *
 * The two all-reduces are Megatron's g (forward, after a ROW layer: the
 * partial products of the t column slices add up to the layer's output)
 * and f (backward, after a COLUMN layer: each shard's rows of W give a
 * partial input gradient).  A COLUMN layer that is the model's first layer
 * with parameters produces no input gradient, so it has no backward
 * all-reduce.  A Workspace built by workspace_init for the model and batch
 * is big enough for every shard: no shard buffer exceeds the unsplit one.
 *
 * Costs follow layer.h and model.c: per call, for the whole batch, exactly
 * what the kernel does.  Split GEMMs and the COLUMN bias and relu loops are
 * divided among the shards, so the t shards' FLOPs of a COLUMN layer add up
 * to the unsplit layer's.  A ROW layer's bias add, fused ReLU, ReLU mask
 * and bias gradient run on every shard over the full output (each shard
 * needs the finished output, and keeps its own copy of the bias), so the t
 * shards of a ROW layer do (t-1) * batch * units * (1 + relu) FLOPs more in
 * each direction than the unsplit layer.  The additions of an all-reduce
 * are the collective's work, not counted here.
 */
#ifndef DT_TENSOR_PARALLEL_H
#define DT_TENSOR_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "layer.h"
#include "model.h"

typedef enum {
    TP_REPLICATED = 0, /* every shard computes the whole layer */
    TP_COLUMN,         /* dense, split by output features (rows of W, slices of b) */
    TP_ROW,            /* dense, split by input features (columns of W); b whole */
    TP_LOCAL,          /* attention or GELU between the two: on the shard's slice */
    TP_VOCAB,          /* embed, split by vocabulary (rows of the token table); its output
                        * is a partial sum until the all-reduce, then the positions' rows
                        * are added (Megatron-LM's vocabulary-parallel embedding) */
} TpSplit;

typedef struct TpLayer {
    TpSplit split;
    int slice;   /* COLUMN: units / (parts t); ROW: input features / t; VOCAB: vocab / t;
                  * else 0 */
    int parts;   /* COLUMN: 3 when it makes an attention's queries, keys and values,
                  * each split alike; else 1 */
    Layer local; /* LOCAL: the layer as one shard runs it (its slice's shapes, and
                  * heads / t heads for attention) */
} TpLayer;

typedef struct TpPlan {
    const Model *m;                   /* the model planned; must outlive the plan */
    int first, last;                  /* the layers [first, last) planned */
    int t;                            /* shards */
    TpLayer layers[MODEL_MAX_LAYERS]; /* by model layer index; only [first, last) set */
} TpPlan;

/* Plan layers [first, last) of m over t shards (rules above).  Returns -1
 * with DT_EINPUT when t < 1, the range is not within the model, or a COLUMN
 * layer's units are not a multiple of t (the message names the layer, its
 * units and t, and what to change). */
int tp_plan(TpPlan *plan, const Model *m, int first, int last, int t, DtError *err);

/*
 * The kernels of shard `shard` on layer l (first <= l < last), shapes per
 * split (in = input features, units = output features, s = slice):
 *
 *                 io->in         io->out        io->dout       io->din
 *   REPLICATED    as layer.h     as layer.h     as layer.h     as layer.h
 *   COLUMN        (batch, in)    (batch, s)     (batch, s)     (batch, in), partial
 *   ROW           (batch, s)     (batch, units) (batch, units) (batch, s)
 *
 * tp_forward:  REPLICATED runs the layer's own forward.  COLUMN writes
 *   out = in W[lo:hi, :]^T + b[lo:hi], through ReLU when the layer has it.
 *   ROW writes the PARTIAL out = in W[:, lo:hi]^T, with no bias and no ReLU;
 *   the caller sums it over the shards, then calls tp_forward_finish.
 * tp_forward_finish:  ROW: out += b, then out = max(out, 0) if the layer has
 *   a fused ReLU, on the summed (batch, units) output; every shard calls it
 *   on its copy.  Uses io->batch, io->params and io->out only.  Does nothing
 *   for other layers.
 * tp_backward:  backward of what tp_forward (and tp_forward_finish) did,
 *   with layer.h's conventions: io->in and io->out are what the forward
 *   saw and left (for ROW, the FINISHED output), io->dout the gradient of
 *   that output; parameter gradients ACCUMULATE into io->dparams (only
 *   into the floats this shard holds), io->din is OVERWRITTEN, or skipped
 *   when NULL; pass NULL exactly when !model_needs_din(m, l), as
 *   model_backward_layer does (never for ROW: its COLUMN partner has
 *   parameters), which is what the costs and all-reduce sizes assume.  A fused ReLU's mask (dout
 * where out > 0, else 0) is applied inside, into scratch, for COLUMN on the shard's slice and for
 * ROW on the full dout.  COLUMN: dW[lo:hi, :] += dout^T in, db[lo:hi] += column sums of dout, din =
 * dout W[lo:hi, :], a partial sum the caller all-reduces.  ROW: dW[:, lo:hi] += dout^T in, db +=
 * column sums of dout (the whole bias, the same on every shard), din = dout W[:, lo:hi], final, no
 * communication.  REPLICATED runs the layer's own backward, and nothing below the model's first
 * layer with parameters (as model_backward_layer).
 */
void tp_forward(const TpPlan *plan, int l, int shard, const LayerIO *io);
void tp_forward_finish(const TpPlan *plan, int l, const LayerIO *io);
void tp_backward(const TpPlan *plan, int l, int shard, const LayerIO *io);

/* Floats each shard contributes to (and receives from) the all-reduce that
 * follows layer l's forward (ROW: batch * units; else 0) and its backward
 * (COLUMN that is not the model's first layer with parameters: batch * in;
 * else 0), for a batch of `batch` samples.  Bytes on the wire are the
 * collective's business (count times the wire dtype size). */
size_t tp_forward_allreduce_floats(const TpPlan *plan, int l, int batch);
size_t tp_backward_allreduce_floats(const TpPlan *plan, int l, int batch);

/*
 * The vocabulary-parallel loss (Megatron-LM's parallel cross-entropy), when
 * the plan splits a language model's output layer by vocabulary
 * (tp_loss_split): shard j holds the logits of vocabulary entries
 * [j s, j s + s) of every position, s = vocab / t, and the softmax cross-
 * entropy is taken over the whole vocabulary with two all-reduces of
 * per-position numbers instead of the (batch x T x vocab) logits:
 *   tp_loss_maxima(plan, j, logits, batch, maxima);  maxima (rows, t): its
 *       column the row maxima of its slice, the others 0;
 *   all-reduce (sum) maxima;                          every shard's maxima
 *   tp_loss_sums(plan, j, logits, labels, batch, maxima, sums);  sums
 *       (rows, 2): the sum of exp(x - max) over its slice, and the label's
 *       logit where it holds it (else 0);
 *   all-reduce (sum) sums;
 *   loss = tp_loss_finish(..., scale, dlogits);       the loss of the batch
 *       as model_loss returns it, and the gradient of its logits slice
 * with rows = batch * positions (tp_loss_floats gives the two all-reduces'
 * floats).  The maximum is every shard's largest, so the exps are those of
 * the unsplit softmax; only the order of the additions differs.
 */
int tp_loss_split(const TpPlan *plan);
void tp_loss_floats(const TpPlan *plan, int batch, size_t *maxima, size_t *sums);
void tp_loss_maxima(const TpPlan *plan, int shard, const float *logits, int batch, float *maxima);
void tp_loss_sums(const TpPlan *plan, int shard, const float *logits, const uint8_t *labels,
                  int batch, const float *maxima, float *sums);
double tp_loss_finish(const TpPlan *plan, int shard, const float *logits, const uint8_t *labels,
                      int batch, const float *maxima, const float *sums, float scale,
                      float *dlogits);

/* What one shard's call costs: exact FLOPs, and compulsory memory bytes as
 * model_layer_forward_bytes / model_layer_backward_bytes count them, with
 * the shard's shapes and the parameter floats it holds.  The same for every
 * shard.  tp_finish_cost is 0 except for ROW layers. */
typedef struct TpCost {
    double flops;
    double bytes;
} TpCost;

TpCost tp_forward_cost(const TpPlan *plan, int l, int batch);
TpCost tp_finish_cost(const TpPlan *plan, int l, int batch);
TpCost tp_backward_cost(const TpPlan *plan, int l, int batch);
/* Phase 0 (maxima), 1 (sums) or 2 (finish) of the vocabulary-parallel
 * loss on one shard. */
TpCost tp_loss_cost(const TpPlan *plan, int batch, int phase);

/* Buffer sizes of one shard for a batch: floats of layer l's output (and of
 * the gradient of that output), and of the scratch its kernels use. */
size_t tp_out_floats(const TpPlan *plan, int l, int batch);
size_t tp_scratch_floats(const TpPlan *plan, int l, int batch);
/* Floats of the activations one shard keeps for backward over [first, last)
 * (the sum of tp_out_floats, and what replicated layers save), as
 * model_activation_bytes counts them. */
size_t tp_activation_floats(const TpPlan *plan, int batch);
/* The same for layer l alone. */
size_t tp_layer_activation_floats(const TpPlan *plan, int l, int batch);

/* A strided part of the parameter block: `rows` runs of `cols` consecutive
 * floats, the first starting at `offset`, each next one `stride` floats
 * after the previous one. */
typedef struct TpBlock {
    size_t offset; /* in the model's parameter block */
    int rows, cols;
    size_t stride;
    int replicated; /* all shards hold these floats alike; shard 0 owns them */
} TpBlock;

#define TP_MAX_BLOCKS 6

/* The parts of layer l's parameters that `shard` holds, reads and writes
 * (the gradient too): fills blocks[] and returns how many (0 for a layer
 * without parameters; 1 for REPLICATED: all of it; 2 for COLUMN and ROW:
 * its part of W, then its part of b). */
int tp_layer_blocks(const TpPlan *plan, int l, int shard, TpBlock blocks[TP_MAX_BLOCKS]);
/* Call fn(ctx, at, k, len) for each row of blocks[0..n) in block order:
 * its len floats start at `at` in the full-layout block and are floats
 * k .. k + len - 1 of the packed order that holds them one after another.
 * Returns how many floats the blocks hold. */
size_t tp_blocks_each(const TpBlock *blocks, int n,
                      void (*fn)(void *ctx, size_t at, size_t k, size_t len), void *ctx);
/* Copy the floats of blocks[0..n) between a full-layout block and a packed
 * buffer that holds them one after another in block order: block -> pack
 * when to_pack, pack -> block otherwise; with pack NULL, set them to zero
 * in block.  Returns how many floats the blocks hold. */
size_t tp_blocks_copy(const TpBlock *blocks, int n, float *block, float *pack, int to_pack);
/* Parameter floats one shard holds over [first, last), for memory
 * accounting (gradient and optimizer state have as many).  Each shard
 * updates every float it holds, replicated ones included: their gradients
 * are the same on all shards, so their values stay the same without any
 * communication.  (Running the optimizer over the whole block also works,
 * since a shard never reads what it does not hold, but charge its cost
 * for tp_param_floats floats.) */
size_t tp_param_floats(const TpPlan *plan);
/* Copy the floats of [first, last) that `shard` owns from its block src to
 * dst (both in the full layout).  Called for every shard, it assembles the
 * true full block (parameters or gradients) in dst. */
void tp_gather_owned(const TpPlan *plan, int shard, const float *src, float *dst);

#endif
