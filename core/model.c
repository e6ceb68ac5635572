/*
 * model.c - building the MLP and CNN as layer lists over one parameter
 * block, and running them forward and backward layer by layer.
 *
 * The per-layer entry points exist for the simulator: it runs a layer,
 * charges that layer's exact FLOPs on the simulated device, and moves on,
 * so a trace shows where the time goes and a bucket can start its
 * all-reduce as soon as backward has produced it.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

static int model_push(Model *m, Layer l, DtError *err)
{
    if (m->nlayers == MODEL_MAX_LAYERS)
        return dt_fail(err, DT_EINPUT, "model has more than %d layers", MODEL_MAX_LAYERS);
    l.in = m->nlayers ? m->layers[m->nlayers - 1].out : m->input;
    l.param_offset = m->nparams;
    if (l.ops->setup(&l, err) < 0)
        return -1;
    if (l.param_count && m->nparams == 0)
        m->first_trainable = m->nlayers;
    m->nparams += l.param_count;
    m->layers[m->nlayers++] = l;
    return 0;
}

static int model_push_dense_stack(Model *m, const ModelConfig *cfg, DtError *err)
{
    for (int i = 0; i < cfg->nhidden; i++) {
        if (model_push(m, (Layer){.ops = &dense_ops, .units = cfg->hidden[i], .relu = 1}, err) < 0)
            return -1;
    }
    return model_push(m, (Layer){.ops = &dense_ops, .units = cfg->classes}, err);
}

int model_build(Model *m, const ModelConfig *cfg, DtError *err)
{
    memset(m, 0, sizeof *m);
    m->first_trainable = MODEL_MAX_LAYERS;
    m->input = cfg->input;
    m->classes = cfg->classes;
    if (cfg->classes < 2)
        return dt_fail(err, DT_EINPUT, "a model needs at least 2 classes, got %d", cfg->classes);
    if (cfg->nhidden < 0 || cfg->nhidden > MODEL_MAX_WIDTHS || cfg->nconv < 0 ||
        cfg->nconv > MODEL_MAX_WIDTHS)
        return dt_fail(err, DT_EINPUT, "at most %d hidden layers and %d conv blocks",
                       MODEL_MAX_WIDTHS, MODEL_MAX_WIDTHS);
    if (cfg->kind == MODEL_CNN) {
        if (cfg->kernel < 1 || cfg->kernel % 2 == 0)
            return dt_fail(err, DT_EINPUT, "a cnn needs an odd kernel size, got %d", cfg->kernel);
        for (int i = 0; i < cfg->nconv; i++) {
            Layer conv = {.ops = &conv2d_ops,
                          .channels = cfg->conv[i],
                          .kernel = cfg->kernel,
                          .stride = 1,
                          .pad = cfg->kernel / 2,
                          .relu = 1};
            Layer pool = {.ops = &maxpool_ops, .kernel = 2, .stride = 2};
            if (model_push(m, conv, err) < 0 || model_push(m, pool, err) < 0)
                return -1;
        }
    }
    if (model_push(m, (Layer){.ops = &flatten_ops}, err) < 0)
        return -1;
    return model_push_dense_stack(m, cfg, err);
}

void model_init_params(const Model *m, float *params, uint64_t seed)
{
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *ly = &m->layers[l];
        Rng rng = rng_make(seed, 0x1417 + (uint64_t)l);
        if (ly->param_count)
            ly->ops->init(ly, params + ly->param_offset, &rng);
    }
}

/* The widest layer output among layers [lo, last) and the largest scratch
 * among layers [first, last), in floats (lo is first - 1 when the stage's
 * input is an earlier layer's output, which its input gradient matches). */
static void workspace_sizes(const Model *m, int batch, int first, int last, size_t *widest,
                            size_t *scratch)
{
    *widest = *scratch = 0;
    for (int l = first > 0 ? first - 1 : 0; l < last; l++) {
        const Layer *ly = &m->layers[l];
        size_t n = shape_size(ly->out), s = l >= first ? ly->ops->scratch_floats(ly, batch) : 0;
        if (n > *widest)
            *widest = n;
        if (s > *scratch)
            *scratch = s;
    }
}

size_t workspace_range_buffer_bytes(const Model *m, int batch, int first, int last)
{
    size_t widest, scratch;
    workspace_sizes(m, batch, first, last, &widest, &scratch);
    return sizeof(float) * (2 * (size_t)batch * widest + (size_t)batch * m->classes + scratch);
}

size_t workspace_buffer_bytes(const Model *m, int batch)
{
    return workspace_range_buffer_bytes(m, batch, 0, m->nlayers);
}

int workspace_init_range(Workspace *ws, const Model *m, int batch, int first, int last,
                         DtError *err)
{
    memset(ws, 0, sizeof *ws);
    ws->batch = batch;
    size_t widest, scratch, off = 0;
    workspace_sizes(m, batch, first, last, &widest, &scratch);
    for (int l = first > 0 ? first - 1 : 0; l < last; l++) {
        ws->act_off[l] = off;
        off += (size_t)batch * shape_size(m->layers[l].out);
    }
    ws->act_floats = off;
    ws->act = malloc((off ? off : 1) * sizeof(float));
    ws->dact[0] = malloc(((size_t)batch * widest + 1) * sizeof(float));
    ws->dact[1] = malloc(((size_t)batch * widest + 1) * sizeof(float));
    ws->probs = malloc((size_t)batch * m->classes * sizeof(float));
    ws->scratch = malloc((scratch ? scratch : 1) * sizeof(float));
    if (!ws->act || !ws->dact[0] || !ws->dact[1] || !ws->probs || !ws->scratch) {
        workspace_free(ws);
        return dt_fail(err, DT_ERUNTIME, "out of memory for a workspace of batch %d", batch);
    }
    return 0;
}

int workspace_init(Workspace *ws, const Model *m, int batch, DtError *err)
{
    return workspace_init_range(ws, m, batch, 0, m->nlayers, err);
}

void workspace_free(Workspace *ws)
{
    free(ws->act);
    free(ws->dact[0]);
    free(ws->dact[1]);
    free(ws->probs);
    free(ws->scratch);
    memset(ws, 0, sizeof *ws);
}

float *workspace_output(const Workspace *ws, int l)
{
    return ws->act + ws->act_off[l];
}

void model_forward_layer(const Model *m, Workspace *ws, const float *params, const float *x, int l,
                         int batch)
{
    const Layer *ly = &m->layers[l];
    LayerIO io = {
        .batch = batch,
        .params = params + ly->param_offset,
        .in = l == 0 ? x : workspace_output(ws, l - 1),
        .out = workspace_output(ws, l),
        .scratch = ws->scratch,
    };
    ly->ops->forward(ly, &io);
}

double model_loss(const Model *m, Workspace *ws, const uint8_t *labels, int batch, float scale)
{
    int last = m->nlayers - 1;
    SoftmaxXent s = {
        .batch = batch,
        .classes = m->classes,
        .logits = workspace_output(ws, last),
        .labels = labels,
        .probs = ws->probs,
        .dlogits = ws->dact[last % 2],
        .scale = scale,
    };
    double loss = softmax_xent_forward(&s);
    softmax_xent_backward(&s);
    return loss;
}

/* Does any layer before `end` have parameters?  Below the first layer with
 * parameters, backward has nothing to compute: no input gradient is needed
 * (the MLP's leading flatten, the first dense layer's input). */
static int model_params_before(const Model *m, int end)
{
    return m->first_trainable < end;
}

/* The gradient of layer l's output lives in dact[l % 2]; its backward writes
 * the gradient of layer l-1's output into the other buffer. */
void model_backward_layer(const Model *m, Workspace *ws, const float *params, float *grads,
                          const float *x, int l, int batch)
{
    if (!model_params_before(m, l + 1))
        return;
    const Layer *ly = &m->layers[l];
    LayerIO io = {
        .batch = batch,
        .params = params + ly->param_offset,
        .dparams = grads + ly->param_offset,
        .in = l == 0 ? x : workspace_output(ws, l - 1),
        .out = workspace_output(ws, l),
        .dout = ws->dact[l % 2],
        .din = model_params_before(m, l) ? ws->dact[(l + 1) % 2] : NULL,
        .scratch = ws->scratch,
    };
    ly->ops->backward(ly, &io);
}

void model_forward(const Model *m, Workspace *ws, const float *params, const float *x, int batch)
{
    for (int l = 0; l < m->nlayers; l++)
        model_forward_layer(m, ws, params, x, l, batch);
}

void model_backward(const Model *m, Workspace *ws, const float *params, float *grads,
                    const float *x, int batch)
{
    for (int l = m->nlayers - 1; l >= 0; l--)
        model_backward_layer(m, ws, params, grads, x, l, batch);
}

double model_layer_forward_flops(const Model *m, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    return ly->ops->forward_flops(ly, batch);
}

double model_layer_backward_flops(const Model *m, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    if (!model_params_before(m, l + 1))
        return 0.0;
    return ly->ops->backward_flops(ly, batch, model_params_before(m, l));
}

double model_forward_flops(const Model *m, int batch)
{
    double f = softmax_xent_forward_flops(batch, m->classes);
    for (int l = 0; l < m->nlayers; l++)
        f += model_layer_forward_flops(m, l, batch);
    return f;
}

double model_backward_flops(const Model *m, int batch)
{
    double f = softmax_xent_backward_flops(batch, m->classes);
    for (int l = 0; l < m->nlayers; l++)
        f += model_layer_backward_flops(m, l, batch);
    return f;
}

double model_layer_forward_bytes(const Model *m, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    double in = (double)shape_size(ly->in) * batch, out = (double)shape_size(ly->out) * batch;
    return sizeof(float) * (in + (double)ly->param_count + out);
}

double model_layer_backward_bytes(const Model *m, int l, int batch)
{
    if (!model_params_before(m, l + 1))
        return 0.0;
    const Layer *ly = &m->layers[l];
    double in = (double)shape_size(ly->in) * batch, out = (double)shape_size(ly->out) * batch;
    double p = (double)ly->param_count;
    double bytes = out + in + 2.0 * p;
    if (model_params_before(m, l))
        bytes += p + in;
    return sizeof(float) * bytes;
}

size_t model_param_bytes(const Model *m)
{
    return m->nparams * sizeof(float);
}

size_t model_activation_bytes(const Model *m, int batch)
{
    size_t n = 0;
    for (int l = 0; l < m->nlayers; l++)
        n += shape_size(m->layers[l].out);
    return n * (size_t)batch * sizeof(float);
}

double model_evaluate(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                      double *loss)
{
    size_t sample = shape_size(d->shape);
    double total = 0.0;
    long correct = 0;
    for (int i = 0; i < d->n; i += ws->batch) {
        int b = d->n - i < ws->batch ? d->n - i : ws->batch;
        model_forward(m, ws, params, d->x + (size_t)i * sample, b);
        SoftmaxXent s = {
            .batch = b,
            .classes = m->classes,
            .logits = workspace_output(ws, m->nlayers - 1),
            .labels = d->y + i,
            .probs = ws->probs,
        };
        total += softmax_xent_forward(&s);
        correct += softmax_xent_correct(&s);
    }
    if (loss)
        *loss = d->n ? total / d->n : 0.0;
    return d->n ? (double)correct / d->n : 0.0;
}
