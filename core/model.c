/*
 * model.c - layer graphs over one parameter block: building them, and
 * running them forward and backward layer by layer (see model.h).
 *
 * The per-layer entry points exist for the simulator: it runs a layer,
 * charges that layer's exact FLOPs on the simulated device, and moves on,
 * so a trace shows where the time goes and a bucket can start its
 * all-reduce as soon as backward has produced it.
 *
 * Gradients of layer outputs: when a layer's output is read only by the
 * next layer, its gradient lives in one of two ping-pong buffers
 * (dact[l % 2]: backward of layer l + 1 writes it, backward of layer l
 * reads it right after, and writes the other one).  An output that more
 * than one layer reads, or that a later layer than the next reads (a
 * residual), has a gradient buffer of its own: the reader met first in
 * backward order (the last one) writes it, each other reader's input
 * gradient goes to a scratch buffer and is added in.  A chain (the MLP,
 * the CNN) uses the ping-pong buffers only.
 */
#include "model.h"

#include "layer_util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void model_begin(Model *m, Shape input, int classes)
{
    memset(m, 0, sizeof *m);
    m->first_trainable = MODEL_MAX_LAYERS;
    m->input = input;
    m->classes = classes;
    m->positions = 1;
}

/* Which outputs need a gradient buffer of their own, and which readers add
 * their input gradient to another's (model.c's header): readers are met
 * in backward order, the first one writes. */
static void model_link(Model *m)
{
    int readers[MODEL_MAX_LAYERS] = {0}, far[MODEL_MAX_LAYERS] = {0};
    int written[MODEL_MAX_LAYERS] = {0};
    for (int l = m->nlayers - 1; l >= 0; l--) {
        Layer *ly = &m->layers[l];
        ly->din_adds = ly->din2_adds = 0;
        if (ly->src >= 0) {
            ly->din_adds = written[ly->src];
            written[ly->src] = 1;
            readers[ly->src]++;
            far[ly->src] |= ly->src != l - 1;
        }
        if (ly->src2 >= 0) {
            ly->din2_adds = written[ly->src2];
            written[ly->src2] = 1;
            readers[ly->src2]++;
            far[ly->src2] = 1;
        }
    }
    for (int l = 0; l < m->nlayers; l++)
        m->layers[l].keep_grad = readers[l] > 1 || far[l];
}

static int model_push(Model *m, Layer l, int src, int src2, DtError *err)
{
    if (m->nlayers == MODEL_MAX_LAYERS)
        return dt_fail(err, DT_EINPUT, "model has more than %d layers", MODEL_MAX_LAYERS);
    l.src = src;
    l.src2 = src2;
    l.in = src < 0 ? m->input : m->layers[src].out;
    if (src2 >= 0)
        l.in2 = m->layers[src2].out;
    l.param_offset = m->nparams;
    if (l.ops->setup(&l, err) < 0)
        return -1;
    if (l.param_count && m->nparams == 0)
        m->first_trainable = m->nlayers;
    m->nparams += l.param_count;
    m->layers[m->nlayers++] = l;
    model_link(m);
    return m->nlayers - 1;
}

int model_add(Model *m, Layer l, DtError *err)
{
    return model_push(m, l, m->nlayers - 1, -1, err);
}

int model_add_from(Model *m, Layer l, int src, DtError *err)
{
    if (src < -1 || src >= m->nlayers)
        return dt_fail(err, DT_EINPUT, "a layer cannot read layer %d of a model of %d", src,
                       m->nlayers);
    return model_push(m, l, src, -1, err);
}

int model_add_residual(Model *m, int src2, DtError *err)
{
    if (src2 < 0 || src2 >= m->nlayers - 1)
        return dt_fail(err, DT_EINPUT, "a residual add cannot read layer %d of a model of %d", src2,
                       m->nlayers);
    return model_push(m, (Layer){.ops = &add_ops}, m->nlayers - 1, src2, err);
}

int model_add_dense_stack(Model *m, const int *hidden, int n, DtError *err)
{
    for (int i = 0; i < n; i++)
        if (model_add(m, (Layer){.ops = &dense_ops, .units = hidden[i], .relu = 1}, err) < 0)
            return -1;
    return model_add(m, (Layer){.ops = &dense_ops, .units = m->classes}, err) < 0 ? -1 : 0;
}

int model_build(Model *m, const ModelSpec *spec, DtError *err)
{
    model_begin(m, spec->input, spec->classes);
    m->name = spec->ops->name;
    if (spec->classes < 2)
        return dt_fail(err, DT_EINPUT, "a model needs at least 2 classes, got %d", spec->classes);
    return spec->ops->build(m, spec->config, err);
}

int model_has_tied(const Model *m)
{
    for (int l = 0; l < m->nlayers; l++)
        if (m->layers[l].tied)
            return 1;
    return 0;
}

int model_matrices(const Model *m, ModelMatrix *out)
{
    int n = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const Layer *l = &m->layers[i];
        if (l->param_count == 0)
            continue;
        if (l->ops == &dense_ops || l->ops == &conv2d_ops) { /* W, then a bias per row */
            int rows = l->ops == &dense_ops ? l->units : l->channels;
            size_t cols = (l->param_count - (size_t)rows) / (size_t)rows;
            out[n++] = (ModelMatrix){l->param_offset, rows, (int)cols};
        } else if (l->ops == &embed_ops) { /* wte (vocab, units), wpe (T, units) */
            out[n++] = (ModelMatrix){l->param_offset, l->vocab, l->units};
            out[n++] = (ModelMatrix){l->param_offset + (size_t)l->vocab * (size_t)l->units, l->in.c,
                                     l->units};
        }
    }
    return n;
}

int model_can_cut(const Model *m, int first)
{
    if (first <= 0 || first >= m->nlayers)
        return 0;
    for (int l = first; l < m->nlayers; l++) {
        const Layer *ly = &m->layers[l];
        if (ly->src < first - 1 || (ly->src2 >= 0 && ly->src2 < first - 1))
            return 0;
    }
    return 1;
}

void model_cuts(const Model *m, unsigned char *cut)
{
    int oldest = m->nlayers; /* the oldest output layers [l, nlayers) read */
    for (int l = m->nlayers - 1; l >= 0; l--) {
        const Layer *ly = &m->layers[l];
        if (ly->src < oldest)
            oldest = ly->src;
        if (ly->src2 >= 0 && ly->src2 < oldest)
            oldest = ly->src2;
        cut[l] = l > 0 && oldest >= l - 1;
    }
}

void model_checkpoints(const Model *m, unsigned char *ck)
{
    model_cuts(m, ck);
    int blocks = 0;
    for (int l = 0; l < m->nlayers; l++)
        blocks |= m->layers[l].block_start;
    for (int l = 0; blocks && l < m->nlayers; l++)
        ck[l] = ck[l] && m->layers[l].block_start;
}

int model_needs_din(const Model *m, int l)
{
    int src = m->layers[l].src;
    return src >= 0 && m->first_trainable <= src;
}

/* Does layer l read src2 and need its gradient? */
static int model_needs_din2(const Model *m, int l)
{
    int src2 = m->layers[l].src2;
    return src2 >= 0 && m->first_trainable <= src2;
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

/* Floats of the gradient buffers of layers [first - 1, last) with
 * keep_grad (offsets into keep_off when not NULL), and whether a layer of
 * [first, last) adds an input gradient to another (*adds). */
static size_t workspace_keep(const Model *m, int batch, int first, int last, size_t *keep_off,
                             int *adds)
{
    size_t floats = 0;
    *adds = 0;
    for (int l = 0; keep_off && l < MODEL_MAX_LAYERS; l++)
        keep_off[l] = SIZE_MAX;
    for (int l = first > 0 ? first - 1 : 0; l < last; l++) {
        const Layer *ly = &m->layers[l];
        if (l >= first)
            *adds |= ly->din_adds || ly->din2_adds;
        if (!ly->keep_grad)
            continue;
        if (keep_off)
            keep_off[l] = floats;
        floats += (size_t)batch * shape_size(ly->out);
    }
    return floats;
}

size_t workspace_range_buffer_bytes(const Model *m, int batch, int first, int last)
{
    size_t widest, scratch;
    int adds;
    workspace_sizes(m, batch, first, last, &widest, &scratch);
    size_t keep = workspace_keep(m, batch, first, last, NULL, &adds);
    size_t tmp = adds ? 2 * (size_t)batch * widest : 0;
    size_t probs = (size_t)batch * m->positions * m->classes;
    return sizeof(float) * (2 * (size_t)batch * widest + probs + scratch + keep + tmp);
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
    int adds;
    workspace_sizes(m, batch, first, last, &widest, &scratch);
    for (int l = first > 0 ? first - 1 : 0; l < last; l++) {
        const Layer *ly = &m->layers[l];
        ws->act_off[l] = off;
        off += (size_t)batch * shape_size(ly->out);
        ws->sav_off[l] = off;
        if (l >= first && ly->ops->saved_floats)
            off += ly->ops->saved_floats(ly, batch);
    }
    ws->act_floats = off;
    ws->act = malloc((off ? off : 1) * sizeof(float));
    ws->dact[0] = malloc(((size_t)batch * widest + 1) * sizeof(float));
    ws->dact[1] = malloc(((size_t)batch * widest + 1) * sizeof(float));
    ws->probs = malloc((size_t)batch * m->positions * m->classes * sizeof(float));
    ws->scratch = malloc((scratch ? scratch : 1) * sizeof(float));
    int ok = ws->act && ws->dact[0] && ws->dact[1] && ws->probs && ws->scratch;
    size_t keep = workspace_keep(m, batch, first, last, ws->keep_off, &adds);
    if (ok && keep)
        ok = (ws->dkeep = malloc(keep * sizeof(float))) != NULL;
    for (int k = 0; ok && adds && k < 2; k++)
        ok = (ws->dtmp[k] = malloc(((size_t)batch * widest + 1) * sizeof(float))) != NULL;
    if (!ok) {
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
    free(ws->dkeep);
    free(ws->dtmp[0]);
    free(ws->dtmp[1]);
    free(ws->probs);
    free(ws->scratch);
    memset(ws, 0, sizeof *ws);
}

float *workspace_output(const Workspace *ws, int l)
{
    return ws->act + ws->act_off[l];
}

float *workspace_grad(const Workspace *ws, int l)
{
    if (ws->keep_off[l] != SIZE_MAX)
        return ws->dkeep + ws->keep_off[l];
    return ws->dact[l % 2];
}

void model_layer_io(const Model *m, const Workspace *ws, const float *params, float *grads,
                    const float *x, int l, int batch, LayerIO *io)
{
    const Layer *ly = &m->layers[l];
    *io = (LayerIO){
        .batch = batch,
        .params = params + ly->param_offset,
        .dparams = grads ? grads + ly->param_offset : NULL,
        .in = ly->src < 0 ? x : workspace_output(ws, ly->src),
        .in2 = ly->src2 >= 0 ? workspace_output(ws, ly->src2) : NULL,
        .out = workspace_output(ws, l),
        .dout = workspace_grad(ws, l),
        .scratch = ws->scratch,
        .saved = ws->act + ws->sav_off[l],
    };
    if (model_needs_din(m, l))
        io->din = ly->din_adds ? ws->dtmp[0] : workspace_grad(ws, ly->src);
    if (model_needs_din2(m, l))
        io->din2 = ly->din2_adds ? ws->dtmp[1] : workspace_grad(ws, ly->src2);
}

static void add_into(float *acc, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] += g[i];
}

void model_backward_finish(const Model *m, Workspace *ws, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    if (ly->din_adds && model_needs_din(m, l))
        add_into(workspace_grad(ws, ly->src), ws->dtmp[0], (size_t)batch * shape_size(ly->in));
    if (ly->din2_adds && model_needs_din2(m, l))
        add_into(workspace_grad(ws, ly->src2), ws->dtmp[1], (size_t)batch * shape_size(ly->in2));
}

void model_forward_layer(const Model *m, Workspace *ws, const float *params, const float *x, int l,
                         int batch)
{
    LayerIO io;
    model_layer_io(m, ws, params, NULL, x, l, batch, &io);
    m->layers[l].ops->forward(&m->layers[l], &io);
}

double model_loss(const Model *m, Workspace *ws, const uint8_t *labels, int batch, float scale)
{
    int last = m->nlayers - 1;
    SoftmaxXent s = {
        .batch = batch * m->positions,
        .classes = m->classes,
        .logits = workspace_output(ws, last),
        .labels = labels,
        .probs = ws->probs,
        .dlogits = workspace_grad(ws, last),
        .scale = scale / (float)m->positions,
    };
    double loss = softmax_xent_forward(&s);
    softmax_xent_backward(&s);
    return m->positions > 1 ? loss / m->positions : loss;
}

/* Does any layer before `end` have parameters?  Below the first layer with
 * parameters, backward has nothing to compute. */
static int model_params_before(const Model *m, int end)
{
    return m->first_trainable < end;
}

void model_backward_layer(const Model *m, Workspace *ws, const float *params, float *grads,
                          const float *x, int l, int batch)
{
    if (!model_params_before(m, l + 1))
        return;
    LayerIO io;
    model_layer_io(m, ws, params, grads, x, l, batch, &io);
    m->layers[l].ops->backward(&m->layers[l], &io);
    model_backward_finish(m, ws, l, batch);
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

/* Elements added into other readers' gradients by layer l's backward. */
static double model_layer_adds(const Model *m, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    double n = 0.0;
    if (ly->din_adds && model_needs_din(m, l))
        n += (double)batch * shape_size(ly->in);
    if (ly->din2_adds && model_needs_din2(m, l))
        n += (double)batch * shape_size(ly->in2);
    return n;
}

double model_layer_backward_flops(const Model *m, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    if (!model_params_before(m, l + 1))
        return 0.0;
    return ly->ops->backward_flops(ly, batch, model_needs_din(m, l)) +
           model_layer_adds(m, l, batch);
}

/* The loss's forward: softmax cross-entropy over every position, and the
 * division of the sum by the positions when there are several. */
static double loss_forward_flops(const Model *m, int batch)
{
    return softmax_xent_forward_flops(batch * m->positions, m->classes) + (m->positions > 1);
}

double model_forward_flops(const Model *m, int batch)
{
    double f = loss_forward_flops(m, batch);
    for (int l = 0; l < m->nlayers; l++)
        f += model_layer_forward_flops(m, l, batch);
    return f;
}

double model_backward_flops(const Model *m, int batch)
{
    double f = softmax_xent_backward_flops(batch * m->positions, m->classes);
    for (int l = 0; l < m->nlayers; l++)
        f += model_layer_backward_flops(m, l, batch);
    return f;
}

/* The parameter floats layer l reads: its own, or a tied layer's table. */
static double layer_param_floats(const Layer *ly)
{
    if (ly->tied)
        return (double)ly->units *
               (double)(shape_size(ly->in) / (size_t)(ly->tokens ? ly->in.c : 1));
    return (double)ly->param_count;
}

double model_layer_forward_bytes(const Model *m, int l, int batch)
{
    const Layer *ly = &m->layers[l];
    double in = (double)shape_size(ly->in) * batch, out = (double)shape_size(ly->out) * batch;
    if (ly->src2 >= 0)
        in += (double)shape_size(ly->in2) * batch;
    return sizeof(float) * (in + layer_param_floats(ly) + out);
}

double model_layer_backward_bytes(const Model *m, int l, int batch)
{
    if (!model_params_before(m, l + 1))
        return 0.0;
    const Layer *ly = &m->layers[l];
    double in = (double)shape_size(ly->in) * batch, out = (double)shape_size(ly->out) * batch;
    double p = layer_param_floats(ly);
    double bytes = out + in + 2.0 * p;
    if (model_needs_din(m, l))
        bytes += p + in;
    /* each addition reads two gradients and writes one */
    return sizeof(float) * (bytes + 3.0 * model_layer_adds(m, l, batch));
}

double model_loss_flops(const Model *m, int batch)
{
    return loss_forward_flops(m, batch) +
           softmax_xent_backward_flops(batch * m->positions, m->classes);
}

double model_loss_bytes(const Model *m, int batch)
{
    return 3.0 * sizeof(float) * batch * m->positions * m->classes;
}

size_t model_param_bytes(const Model *m)
{
    return m->nparams * sizeof(float);
}

size_t model_activation_bytes(const Model *m, int batch)
{
    size_t n = 0;
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *ly = &m->layers[l];
        n += (size_t)batch * shape_size(ly->out);
        if (ly->ops->saved_floats)
            n += ly->ops->saved_floats(ly, batch);
    }
    return n * sizeof(float);
}

double model_attention_bytes(const Model *m, int batch, int first, int last)
{
    double n = 0.0;
    for (int l = first; l < last; l++)
        if (m->layers[l].ops == &attention_ops)
            n += (double)m->layers[l].ops->saved_floats(&m->layers[l], batch);
    return n * sizeof(float);
}

void model_evaluate_batches(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                            int first, int last, double *loss, long *correct)
{
    for (int k = first; k < last; k++) {
        int i = k * ws->batch;
        int b = d->n - i < ws->batch ? d->n - i : ws->batch;
        model_forward(m, ws, params, d->x + (size_t)i * shape_size(d->shape), b);
        SoftmaxXent s = {
            .batch = b * m->positions,
            .classes = m->classes,
            .logits = workspace_output(ws, m->nlayers - 1),
            .labels = d->y + (size_t)i * d->targets,
            .probs = ws->probs,
        };
        loss[k - first] = softmax_xent_forward(&s);
        *correct += softmax_xent_correct(&s);
    }
}

double model_evaluate(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                      double *loss)
{
    double total = 0.0, rows = (double)d->n * m->positions;
    long correct = 0;
    for (int k = 0; k * ws->batch < d->n; k++) {
        double batch_loss;
        model_evaluate_batches(m, ws, params, d, k, k + 1, &batch_loss, &correct);
        total += batch_loss;
    }
    if (loss)
        *loss = d->n ? total / rows : 0.0;
    return d->n ? (double)correct / rows : 0.0;
}

int model_predict(const Model *m, Workspace *ws, const float *params, const Dataset *d,
                  const int *idx, int n, float *probs)
{
    const size_t sample = shape_size(d->shape);
    const int C = m->classes;
    float *x = idx ? malloc((size_t)ws->batch * sample * sizeof *x) : NULL;
    if (idx && !x)
        return -1;
    for (int i = 0; i < n; i += ws->batch) {
        int b = n - i < ws->batch ? n - i : ws->batch;
        for (int j = 0; idx && j < b; j++)
            memcpy(x + (size_t)j * sample, d->x + (size_t)idx[i + j] * sample, sample * sizeof *x);
        model_forward(m, ws, params, idx ? x : d->x + (size_t)i * sample, b);
        const float *logits = workspace_output(ws, m->nlayers - 1);
        for (int j = 0; j < b; j++) {
            const float *z = logits + (size_t)j * C;
            float *p = probs + (size_t)(i + j) * C, top = z[0];
            double sum = 0.0;
            for (int c = 1; c < C; c++)
                top = z[c] > top ? z[c] : top;
            for (int c = 0; c < C; c++)
                sum += p[c] = expf(z[c] - top);
            for (int c = 0; c < C; c++)
                p[c] = (float)(p[c] / sum);
        }
    }
    free(x);
    return 0;
}
