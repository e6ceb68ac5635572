/*
 * layer.h - one layer of a network, behind a small ops table.
 *
 * A Layer is a few numbers (its kind's ops, input and output shape, kernel
 * settings, where its parameters sit in the model's one parameter block,
 * which earlier layers it reads); each kind lives in one file (dense.c,
 * relu.c, conv2d.c, maxpool.c, flatten.c, add.c, batchnorm.c, avgpool.c,
 * ...) and exports a `const LayerOps`.  Tensors are plain float arrays in
 * NCHW order: a batch of B samples of shape (c, h, w) is B*c*h*w floats,
 * sample-major.  A flat vector of n features is (n, 1, 1).
 *
 * Conventions shared by every kind:
 *  - forward writes out; backward ACCUMULATES parameter gradients into
 *    io->dparams (+=, so micro-batches can add up) and OVERWRITES io->din.
 *    io->din is NULL when nobody needs the input gradient (the first layer):
 *    the kernel then skips that work and the FLOP count drops it too.
 *  - backward gets the same in/out the forward saw (the stashed activations)
 *    plus dout, and may use io->scratch (scratch_floats(batch) floats) for
 *    anything it recomputes; scratch is not kept between calls.
 *
 * Cost conventions (what "exact FLOPs" means in dtsim), counted per call for
 * the whole batch and matching what the kernel really does:
 *  - a GEMM of (m,n,k) is 2*m*n*k;
 *  - every other scalar add, subtract, multiply, divide, comparison (max,
 *    ReLU test), exp or log counts 1;
 *  - copies, im2col/col2im index shuffling and zero fills count 0, but the
 *    additions that col2im performs when it scatters a column back count 1
 *    each.
 * Fused ReLU (l->relu on dense and conv2d): forward takes max(x, 0) in the
 * same pass that adds the bias, backward zeroes dout where out <= 0 in a
 * pass it makes anyway; 1 comparison per output element each way, as the
 * separate relu layer counts, but two fewer sweeps over memory and no
 * separate activation to keep.
 * Parameter bytes are 4 per float; activation bytes are the layer's output
 * and what it saves (batch * (out size + saved) * 4), which is what a
 * training step must keep for the backward pass.
 *
 * Sequences (the transformer's layers): a sample of T positions with C
 * features each has shape (T, C, 1), position-major, so that the batch is
 * a (batch * T, C) row-major matrix a GEMM takes whole.  Token ids enter
 * as floats (exact below 2^24).
 */
#ifndef DT_LAYER_H
#define DT_LAYER_H

#include <stddef.h>

#include "error.h"
#include "rng.h"

typedef struct Shape {
    int c, h, w; /* per sample */
} Shape;

size_t shape_size(Shape s); /* c*h*w */

typedef struct LayerOps LayerOps;

typedef struct Layer {
    const LayerOps *ops;
    Shape in, out;
    Shape in2; /* add: the shape of its second input (equal to in) */
    /* Set by model.c when the layer is added (model.h): */
    int src;             /* the layer whose output is this one's input; -1: the model's input */
    int src2;            /* add: the earlier layer whose output it adds; -1: none */
    int keep_grad;       /* the gradient of this layer's output needs a buffer of its own: more
                          * than one layer reads the output, or one other than the next */
    int din_adds;        /* backward adds its input gradient into src's (a later reader wrote it) */
    int din2_adds;       /* likewise for src2 */
    int units;           /* dense: output features */
    int channels;        /* conv2d: output channels */
    int kernel;          /* conv2d, maxpool: square window size */
    int stride, pad;     /* conv2d, maxpool */
    int relu;            /* dense, conv2d: the output goes through ReLU, fused */
    int tokens;          /* dense: the same weights at each of in.c positions (a sequence,
                          * below): in (T, C, 1) -> out (T, units, 1) */
    int heads;           /* attention: heads (d = in.h / 3 a multiple of heads) */
    int vocab;           /* embed: token ids 0 .. vocab-1 */
    int group;           /* batchnorm: statistics over consecutive groups of this many samples
                          * of a call (the last one possibly smaller: "ghost" batch norm);
                          * 0: over the whole batch of the call */
    int tied;            /* dense: no parameters of its own: W is the (units, in features)
                          * table at param_offset, an earlier layer's (the embedding's), and
                          * there is no bias (tied input and output embeddings) */
    int block_start;     /* the first layer of one of the model's blocks (a transformer block):
                          * where recomputation keeps a checkpoint (core/plan.h) */
    float init_std;      /* dense, embed: > 0: weights U(-a, a), a = init_std * sqrt(3) (standard
                          * deviation init_std, as GPT-2 draws them) instead of He-uniform */
    size_t param_offset; /* first float of this layer's parameters in the block */
    size_t param_count;  /* floats of parameters (0 for relu, maxpool, flatten) */
} Layer;

/* Everything one forward or backward call touches; fields a call does not
 * use are ignored.  Shapes are (batch, per-sample size). */
typedef struct LayerIO {
    int batch;
    const float *params; /* this layer's own parameters (block + param_offset) */
    float *dparams;      /* its gradient, same layout; backward accumulates */
    const float *in;     /* (batch, in) */
    const float *in2;    /* (batch, in2): add's second input */
    float *out;          /* (batch, out) */
    const float *dout;   /* (batch, out) */
    float *din;          /* (batch, in) or NULL: backward overwrites */
    float *din2;         /* (batch, in2) or NULL: add's, likewise */
    float *scratch;      /* scratch_floats(batch) floats */
    float *saved;        /* saved_floats(batch) floats forward writes and backward reads */
} LayerIO;

struct LayerOps {
    const char *name;
    /* From l->in and the kind's settings, set l->out and l->param_count.
     * Returns -1 (with a message naming the layer and the shapes) when the
     * settings do not fit the input. */
    int (*setup)(Layer *l, DtError *err);
    /* Initialise this layer's parameters (p points at block + param_offset):
     * weights He-uniform U(-sqrt(6/fan_in), +sqrt(6/fan_in)), biases 0. */
    void (*init)(const Layer *l, float *p, Rng *rng);
    size_t (*scratch_floats)(const Layer *l, int batch);
    /* Floats forward keeps for backward besides its output (attention's
     * probabilities, layer normalisation's statistics); NULL: none.  They
     * are part of the activations a training step stashes. */
    size_t (*saved_floats)(const Layer *l, int batch);
    void (*forward)(const Layer *l, const LayerIO *io);
    /* Forward of positions [first, last) of the first sample alone, for a
     * layer of a sequence whose output at a position depends on other
     * positions or on where it is (attention, the embedding); io->out's
     * rows before first hold what the same inputs gave earlier.  NULL for
     * the others (generate.c). */
    void (*forward_rows)(const Layer *l, const LayerIO *io, int first, int last);
    void (*backward)(const Layer *l, const LayerIO *io);
    double (*forward_flops)(const Layer *l, int batch);
    double (*backward_flops)(const Layer *l, int batch, int need_din);
};

/* Dense: out = in W^T + b, W (units, in) then b (units). */
extern const LayerOps dense_ops;
/* ReLU: out = max(in, 0). */
extern const LayerOps relu_ops;
/* Conv2d by im2col + GEMM: W (channels, in.c, kernel, kernel) then
 * b (channels); stride and zero padding pad. */
extern const LayerOps conv2d_ops;
/* Max pooling over kernel x kernel windows with the given stride; out-of-range
 * windows are an error in setup, there is no padding. */
extern const LayerOps maxpool_ops;
/* Flatten: (c, h, w) -> (c*h*w, 1, 1); a copy in both directions. */
extern const LayerOps flatten_ops;
/* Residual add: out = in + in2, two inputs of one shape; both input
 * gradients are dout. */
extern const LayerOps add_ops;
/* Token and position embedding: in (T, 1, 1) token ids, out (T, units, 1)
 * = wte[id] + wpe[t]; parameters wte (vocab, units) then wpe (T, units).
 * No input gradient (ids are not differentiable). */
extern const LayerOps embed_ops;
/* Layer normalisation of each position's features: in (T, C, 1), out =
 * (x - mean) / sqrt(var + 1e-5) * gamma + beta; parameters gamma (C), then
 * beta (C); saves each row's mean and 1/std. */
extern const LayerOps layernorm_ops;
/* GELU, tanh approximation (as GPT-2): out = 0.5 x (1 + tanh(sqrt(2/pi)
 * (x + 0.044715 x^3))), element by element. */
extern const LayerOps gelu_ops;
/* Causal multi-head self-attention: in (T, 3d, 1), each position's query,
 * key and value of d = heads * hs features (head h at features h*hs ..
 * h*hs + hs - 1 of each); out (T, d, 1), head h's output in its hs
 * features; position t attends to positions 0..t, scores scaled by
 * 1/sqrt(hs).  No parameters; saves the probabilities (batch, heads, T, T). */
extern const LayerOps attention_ops;

/* Batch normalisation of (c, h, w) inputs, per channel: out = (x - mean) *
 * rstd * gamma + beta, rstd = 1 / sqrt(var + 1e-5), mean and biased var
 * over the samples of a group (Layer.group; 0: the whole batch of the
 * call) and all h*w positions of the channel; parameters gamma (c), then
 * beta (c).  There are no running averages: dtsim normalises with the
 * statistics of the batch at hand in training and evaluation alike, so
 * evaluation uses the statistics of each evaluation batch (of each group
 * of it).  Data-parallel workers each normalise over their own samples
 * (PyTorch DDP without SyncBatchNorm), which is serial training on the
 * global batch with group = the per-worker batch.  Saves the mean and
 * rstd of every (group, channel); backward is the exact gradient through
 * the statistics, group by group. */
extern const LayerOps batchnorm_ops;
/* Global average pooling: (c, h, w) -> (c, 1, 1), each channel's mean over
 * its h*w positions; no parameters; backward spreads dout / (h*w) over
 * them. */
extern const LayerOps avgpool_ops;

/*
 * Softmax cross-entropy over `classes` logits per sample, numerically stable
 * (the row maximum is subtracted before exp).  Not a Layer: it ends every
 * model and needs labels.
 *
 * forward: probs (batch, classes) = softmax(logits); returns the SUM over
 * the batch of -log(prob of the label) (callers divide by what they need).
 * backward: dlogits (batch, classes) = (probs - onehot(label)) * scale;
 * scale is 1/(global batch) so that gradients summed across workers are the
 * gradient of the mean loss.
 */
typedef struct SoftmaxXent {
    int batch, classes;
    const float *logits;         /* (batch, classes) */
    const unsigned char *labels; /* (batch) */
    float *probs;                /* (batch, classes) */
    float *dlogits;              /* (batch, classes) */
    float scale;
} SoftmaxXent;

double softmax_xent_forward(const SoftmaxXent *s);
void softmax_xent_backward(const SoftmaxXent *s);
/* Number of samples whose largest logit is the label (first max on ties). */
int softmax_xent_correct(const SoftmaxXent *s);
double softmax_xent_forward_flops(int batch, int classes);
double softmax_xent_backward_flops(int batch, int classes);

#endif
