/*
 * model.h - sequential models with one contiguous parameter block.
 *
 * A Model is a list of Layers (layer.h) ending in softmax cross-entropy.
 * Its parameters are one float block of nparams floats; each layer's
 * parameters are the view (block + param_offset, param_count).  Gradients,
 * momentum and Adam moments use the same layout, so an optimizer, a
 * collective, a bucket or a shard is just (float *p, size_t offset, size_t n).
 *
 * The two models dtsim trains:
 *   mlp: flatten, then for each hidden size h: dense(h) + relu; then dense(classes)
 *   cnn: for each conv width c: conv2d(c, k x k, pad k/2) + relu, maxpool 2x2;
 *        then flatten, dense(hidden) + relu for each hidden size, dense(classes)
 * where "+ relu" is the ReLU fused into the layer before it (layer.h).
 *
 * A Workspace holds what one replica needs for a batch of up to `batch`
 * samples: every layer's output (the activations backward needs), two
 * buffers for activation gradients, softmax outputs and shared scratch.
 * Forward and backward are exposed per layer as well as whole, so that a
 * simulator can charge each layer's cost as it runs it, and a pipeline can
 * run a range of layers.
 */
#ifndef DT_MODEL_H
#define DT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "error.h"
#include "layer.h"

#define MODEL_MAX_LAYERS 32
#define MODEL_MAX_WIDTHS 8

typedef enum { MODEL_MLP, MODEL_CNN } ModelKind;

typedef struct ModelConfig {
    ModelKind kind;
    Shape input;
    int classes;
    int nhidden;
    int hidden[MODEL_MAX_WIDTHS]; /* dense widths (mlp; cnn after the convs) */
    int nconv;
    int conv[MODEL_MAX_WIDTHS]; /* cnn: output channels of each conv block */
    int kernel;                 /* cnn: odd square kernel size; "same" padding */
} ModelConfig;

typedef struct Model {
    int nlayers;
    Layer layers[MODEL_MAX_LAYERS];
    Shape input;
    int classes;
    size_t nparams;
    int first_trainable; /* the first layer with parameters (MODEL_MAX_LAYERS if none):
                          * backward does nothing below it */
} Model;

/* Build the layer list and parameter layout; -1 with a message if the
 * configuration does not fit the input (e.g. too many pooling blocks). */
int model_build(Model *m, const ModelConfig *cfg, DtError *err);
/* Initialise all parameters from seed (layer by layer, in order). */
void model_init_params(const Model *m, float *params, uint64_t seed);

typedef struct Workspace {
    int batch;                            /* capacity in samples */
    size_t act_off[MODEL_MAX_LAYERS + 1]; /* act + act_off[l]: output of layer l */
    size_t act_floats;                    /* floats of act */
    float *act;                           /* all layer outputs, (batch, out size) each */
    float *dact[2];                       /* activation gradients, ping-pong, (batch, max size) */
    float *probs;                         /* (batch, classes) */
    float *scratch;                       /* shared by all layers */
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
/* Bytes of a workspace's buffers besides the stashed activations: the two
 * activation-gradient buffers, the softmax outputs and the scratch. */
size_t workspace_buffer_bytes(const Model *m, int batch);
/* The same for a workspace of layers [first, last). */
size_t workspace_range_buffer_bytes(const Model *m, int batch, int first, int last);
void workspace_free(Workspace *ws);
/* The output of layer l (its activations) for the current batch. */
float *workspace_output(const Workspace *ws, int l);

/* Forward of layer l, reading x when l == 0 and layer l-1's output otherwise. */
void model_forward_layer(const Model *m, Workspace *ws, const float *params, const float *x, int l,
                         int batch);
/* Softmax cross-entropy on the last layer's output: returns the summed loss
 * over the batch, leaves probabilities in ws->probs and, for backward,
 * d(loss * scale)/d(logits) in the gradient buffer backward starts from. */
double model_loss(const Model *m, Workspace *ws, const uint8_t *labels, int batch, float scale);
/* Backward of layer l: accumulates into grads (the whole block's layout)
 * and produces layer l-1's output gradient when some earlier layer has
 * parameters (otherwise nobody needs it, and layers below the first one
 * with parameters do nothing at all).  Call for l from nlayers-1 down to 0
 * after model_loss. */
void model_backward_layer(const Model *m, Workspace *ws, const float *params, float *grads,
                          const float *x, int l, int batch);

/* Whole-model conveniences over the per-layer calls. */
void model_forward(const Model *m, Workspace *ws, const float *params, const float *x, int batch);
void model_backward(const Model *m, Workspace *ws, const float *params, float *grads,
                    const float *x, int batch);

/* Exact FLOPs (layer.h conventions).  Forward includes the loss forward;
 * backward includes the loss backward and skips the work model_backward
 * skips (input gradients below the first layer with parameters). */
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

/* Bytes of parameters, and of the activations a training step keeps. */
size_t model_param_bytes(const Model *m);
size_t model_activation_bytes(const Model *m, int batch);

/* Test-set pass in batches of ws->batch: returns accuracy in [0, 1] and the
 * mean loss in *loss. */
double model_evaluate(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                      double *loss);

#endif
