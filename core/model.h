/*
 * model.h - models as layer graphs over one contiguous parameter block.
 *
 * A Model is a list of Layers (layer.h) in an order where every layer
 * comes after the layers it reads, ending in softmax cross-entropy.  Most
 * layers read the output of the layer before them; a layer may instead
 * read an earlier one (src), and an add layer reads a second, earlier
 * output as well (src2): that is all a residual network needs.  Its
 * parameters are one float block of nparams floats; each layer's
 * parameters are the view (block + param_offset, param_count).  Gradients,
 * momentum and Adam moments use the same layout, so an optimizer, a
 * collective, a bucket or a shard is just (float *p, size_t offset, size_t n).
 *
 * The kinds of model are behind a table of ModelOps (models.c), one file
 * each, owning their [model] keys (core/keys.h) and config struct:
 *   mlp (mlp.c): flatten, then for each hidden size h: dense(h) + relu;
 *                then dense(classes)
 *   cnn (cnn.c): for each conv width c: conv2d(c, k x k, pad k/2) + relu,
 *                maxpool 2x2; then flatten, dense(hidden) + relu for each
 *                hidden size, dense(classes)
 *   resmlp (resmlp.c): dense layers with residual blocks
 *   gpt (gpt.c): a GPT-2-style transformer over token sequences
 *   resnet (resnet.c): a residual convolutional network with batch norm
 * where "+ relu" is the ReLU fused into the layer before it (layer.h).
 *
 * A Workspace holds what one replica needs for a batch of up to `batch`
 * samples: every layer's output (the activations backward needs), two
 * buffers for activation gradients, a buffer of its own for the gradient
 * of every output more than one layer reads (where the readers' input
 * gradients add up), softmax outputs and shared scratch.  Forward and
 * backward are exposed per layer as well as whole, so that a simulator can
 * charge each layer's cost as it runs it, and a pipeline can run a range
 * of layers.
 */
#ifndef DT_MODEL_H
#define DT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "error.h"
#include "keys.h"
#include "layer.h"

#define MODEL_MAX_LAYERS 1536
#define MODEL_MAX_WIDTHS 8

typedef struct Model {
    const char *name; /* the kind of model (ModelOps name) */
    int nlayers;
    Layer layers[MODEL_MAX_LAYERS];
    Shape input;
    int classes;
    int positions; /* rows of logits per sample the loss is taken over: 1, or T for a
                    * language model (every position predicts the next token) */
    size_t nparams;
    int first_trainable; /* the first layer with parameters (MODEL_MAX_LAYERS if none):
                          * backward does nothing below it */
} Model;

/* A kind of model: its [model] keys, filling a config struct of its own. */
typedef struct ModelOps {
    const char *name;    /* [model] kind */
    const char *summary; /* one line for --help */
    KeyTable keys;       /* section "model"; offsets into the config */
    size_t config_size;
    /* Defaults that depend on other keys, and checks across keys (NULL:
     * none); given says which keys the scenario set, and where. */
    int (*finish)(void *config, const KeySource *given, DtError *err);
    /* The layers and parameter layout, added with model_add* to m (begun
     * on the spec's input shape and classes); -1 with a message when the
     * configuration does not fit the input. */
    int (*build)(Model *m, const void *config, DtError *err);
    /* Language models: the tokens of a sample (its seq_len), which the
     * text data set cuts its windows to; NULL for models of images. */
    int (*sequence)(const void *config);
} ModelOps;

/* The model a scenario describes: its kind, that kind's config (a
 * config_size block the caller owns), and what the data set gives. */
typedef struct ModelSpec {
    const ModelOps *ops;
    void *config;
    Shape input;
    int classes;
} ModelSpec;

/* The table (models.c): NULL when no kind has that name. */
const ModelOps *model_find(const char *name);
/* The i-th kind, NULL past the last. */
const ModelOps *model_kind(size_t i);
/* "mlp, cnn" for messages. */
void model_kinds(char *buf, size_t size);
/* A spec of kind `kind` with its table's defaults, then the settings
 * "key=value" of the NULL-terminated list (NULL: none), finished as a
 * scenario would be: for tests and benchmarks that build models by their
 * keys.  Free it with model_spec_free. */
int model_spec_init(ModelSpec *spec, const char *kind, const char *const *settings, Shape input,
                    int classes, DtError *err);
void model_spec_free(ModelSpec *spec);

/* Build the layer graph and parameter layout; -1 with a message if the
 * configuration does not fit the input (e.g. too many pooling blocks). */
int model_build(Model *m, const ModelSpec *spec, DtError *err);
/* For builders: start an empty model on inputs of shape `input`. */
void model_begin(Model *m, Shape input, int classes);
/* Append layer l reading the last layer's output (the model's input when
 * it is the first); returns its index, or -1 with a message. */
int model_add(Model *m, Layer l, DtError *err);
/* Append layer l reading the output of layer src (-1: the model's input). */
int model_add_from(Model *m, Layer l, int src, DtError *err);
/* Append an add layer: the last layer's output plus layer src2's. */
int model_add_residual(Model *m, int src2, DtError *err);
/* Append dense(h) with a fused ReLU for each of the n widths, then
 * dense(classes): the classifier head of the MLP and the CNN. */
int model_add_dense_stack(Model *m, const int *hidden, int n, DtError *err);

/* Initialise all parameters from seed (layer by layer, in order). */
void model_init_params(const Model *m, float *params, uint64_t seed);
/* May a pipeline stage start at layer `first` (0 < first < nlayers)?  Only
 * when the one tensor crossing the cut is layer first-1's output: no layer
 * at or after `first` reads anything older. */
int model_can_cut(const Model *m, int first);
/* model_can_cut for every layer at once, in one pass: cut[l] for l in
 * [0, nlayers) (cut[0] = 0). */
void model_cuts(const Model *m, unsigned char *cut);
/* Where recomputation keeps checkpoints: ck[l] when the stage may keep
 * layer l-1's output and recompute from it, at the cuts (model_cuts) that
 * start a block (Layer.block_start), or at every cut of a model that marks
 * no blocks.  ck[0] = 0. */
void model_checkpoints(const Model *m, unsigned char *ck);
/* Does a layer use another's parameters (tie_embeddings)?  Such a model
 * cannot be cut into pipeline stages (plan_stages refuses it). */
int model_has_tied(const Model *m);
/* A matrix among the parameters: rows x cols floats from offset, row-major
 * (a dense layer's W (units, in), a convolution's kernels as (channels,
 * in.c * kernel * kernel), an embedding's token and position tables).
 * What no matrix covers are vectors: biases, normalisation scales. */
typedef struct ModelMatrix {
    size_t offset;
    int rows, cols;
} ModelMatrix;
#define MODEL_MAX_MATRICES (2 * MODEL_MAX_LAYERS)
/* The model's matrices in ascending offset into out (room for
 * MODEL_MAX_MATRICES); returns how many. */
int model_matrices(const Model *m, ModelMatrix *out);
/* Does layer l's backward produce a gradient for its input: is there a
 * layer with parameters at or before the one it reads? */
int model_needs_din(const Model *m, int l);

typedef struct Workspace {
    int batch;                            /* capacity in samples */
    size_t act_off[MODEL_MAX_LAYERS + 1]; /* act + act_off[l]: output of layer l */
    size_t sav_off[MODEL_MAX_LAYERS];     /* act + sav_off[l]: what layer l saves (layer.h) */
    size_t act_floats;                    /* floats of act */
    float *act;                           /* all layer outputs, (batch, out size) each */
    float *dact[2];                       /* activation gradients, ping-pong, (batch, max size) */
    size_t keep_off[MODEL_MAX_LAYERS];    /* dkeep + keep_off[l]: the gradient of layer l's
                                           * output when it has keep_grad, else SIZE_MAX */
    float *dkeep;                         /* those gradients, or NULL when there are none */
    float *dtmp[2]; /* (batch, max size) each: input gradients on their way to being added
                     * (din, din2), or NULL when no layer adds */
    float *probs;   /* (batch, positions, classes) */
    float *scratch; /* shared by all layers */
} Workspace;

int workspace_init(Workspace *ws, const Model *m, int batch, DtError *err);
/* A workspace for layers [first, last) only, as a pipeline stage needs:
 * act holds the stage's input (the output of layer first-1, when first >
 * 0, where the caller puts what it receives) and the outputs of its
 * layers, and nothing else; the other buffers are sized for these layers.
 * act is one block of act_floats floats, so a caller that stashes several
 * micro-batches may point act at blocks of its own of that size. */
int workspace_init_range(Workspace *ws, const Model *m, int batch, int first, int last,
                         DtError *err);
/* Bytes of a workspace's buffers besides the stashed activations: the
 * activation-gradient buffers, the softmax outputs and the scratch. */
size_t workspace_buffer_bytes(const Model *m, int batch);
/* The same for a workspace of layers [first, last). */
size_t workspace_range_buffer_bytes(const Model *m, int batch, int first, int last);
void workspace_free(Workspace *ws);
/* The output of layer l (its activations) for the current batch. */
float *workspace_output(const Workspace *ws, int l);
/* The gradient of layer l's output: where backward reads layer l's dout,
 * and where the layers that read that output leave their input gradients
 * (a pipeline stage receives its last layer's there and sends its input's
 * from there). */
float *workspace_grad(const Workspace *ws, int l);

/* The LayerIO of layer l (layer.h) over the workspace: its input (x when
 * it reads the model's input), second input, output and parameters, and
 * for backward its parameter gradient, dout, and din and din2 (NULL when
 * not needed; a scratch buffer when the gradient must be added to another
 * reader's, which model_backward_finish then does). */
void model_layer_io(const Model *m, const Workspace *ws, const float *params, float *grads,
                    const float *x, int l, int batch, LayerIO *io);
/* After layer l's backward kernel: add the input gradients it left in
 * scratch to the ones other readers produced. */
void model_backward_finish(const Model *m, Workspace *ws, int l, int batch);

/* Forward of layer l, reading x when it reads the model's input. */
void model_forward_layer(const Model *m, Workspace *ws, const float *params, const float *x, int l,
                         int batch);
/* Softmax cross-entropy on the last layer's output: returns the summed loss
 * over the batch, leaves probabilities in ws->probs and, for backward,
 * d(loss * scale)/d(logits) in the gradient buffer backward starts from.
 * labels are (batch, positions); a sample's loss is the mean over its
 * positions (a language model's loss per token), and so is its gradient. */
double model_loss(const Model *m, Workspace *ws, const uint8_t *labels, int batch, float scale);
/* Backward of layer l: accumulates into grads (the whole block's layout)
 * and produces the gradient of the output it reads when some layer at or
 * before that one has parameters (otherwise nobody needs it, and layers
 * below the first one with parameters do nothing at all), adding it to
 * what other readers of that output produced.  Call for l from nlayers-1
 * down to 0 after model_loss. */
void model_backward_layer(const Model *m, Workspace *ws, const float *params, float *grads,
                          const float *x, int l, int batch);

/* Whole-model conveniences over the per-layer calls. */
void model_forward(const Model *m, Workspace *ws, const float *params, const float *x, int batch);
void model_backward(const Model *m, Workspace *ws, const float *params, float *grads,
                    const float *x, int batch);

/* Exact FLOPs (layer.h conventions).  Forward includes the loss forward;
 * backward includes the loss backward and skips the work model_backward
 * skips (input gradients below the first layer with parameters); a layer
 * whose input gradient is added to another reader's counts the additions. */
double model_layer_forward_flops(const Model *m, int l, int batch);
double model_layer_backward_flops(const Model *m, int l, int batch);
double model_forward_flops(const Model *m, int batch);
double model_backward_flops(const Model *m, int batch);
/* Memory traffic of a layer's forward and backward pass for a batch, for
 * a roofline device model: the compulsory bytes, each tensor once.
 *   forward:  read the input and the parameters, write the output
 *   backward: read dout and the input, read and write the parameter
 *             gradient; with an input gradient, also read the parameters
 *             and write din
 * Layers below the first one with parameters move nothing in backward. */
double model_layer_forward_bytes(const Model *m, int l, int batch);
double model_layer_backward_bytes(const Model *m, int l, int batch);

/* The loss (softmax cross-entropy, forward and backward) on a batch: its
 * FLOPs, and its bytes (read the logits, write the probabilities and
 * their gradient). */
double model_loss_flops(const Model *m, int batch);
double model_loss_bytes(const Model *m, int batch);

/* Bytes of parameters, and of the activations a training step keeps (the
 * layers' outputs and what they save for backward). */
size_t model_param_bytes(const Model *m);
size_t model_activation_bytes(const Model *m, int batch);
/* Of those, what attention layers [first, last) save: their probabilities. */
double model_attention_bytes(const Model *m, int batch, int first, int last);

/* Test-set pass in batches of ws->batch: returns accuracy in [0, 1] and the
 * mean loss in *loss (for a language model: per token, and the accuracy
 * is of the next token). */
double model_evaluate(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                      double *loss);
/* Its part for batches [first, last) of those ws->batch-sample batches
 * (there are ceil(d->n / ws->batch)): each batch's summed loss in
 * loss[b - first], its correct predictions added to *correct.  Parts
 * evaluated on several workspaces, their losses added in batch order, give
 * model_evaluate's figures bit for bit. */
void model_evaluate_batches(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                            int first, int last, double *loss, long *correct);

/* Class probabilities (the softmax of the logits) of n samples of d, of a
 * model with one position per sample: samples idx[0 .. n), or 0 .. n-1
 * when idx is NULL, in batches of ws->batch, into probs (n, classes).
 * -1 when out of memory. */
int model_predict(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                  const int *idx, int n, float *probs);

/* A language model's continuation (generate.c): starting from the
 * nprompt token ids of prompt (at least 1), append n tokens to out (which
 * receives the prompt first, so it has room for nprompt + n), each drawn
 * from the softmax at the last position of the last m->positions tokens,
 * with a generator seeded by seed.  ws may be any workspace of the whole
 * model.  Returns the tokens in out (0 when a prompt id is not below
 * m->classes). */
int model_generate(const Model *m, Workspace *ws, const float *params, const int *prompt,
                   int nprompt, int n, uint64_t seed, int *out);
/* The forward pass of positions [first, last) of the first sample of x
 * (generate.c), ws already holding what the same inputs at positions
 * before first gave: a language model's next token without a whole pass.
 * -1 (nothing done) when a layer cannot take positions alone. */
int model_forward_positions(const Model *m, Workspace *ws, const float *params, const float *x,
                            int first, int last);

#endif
