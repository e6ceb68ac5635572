/*
 * embed.c - token and position embedding, the first layer of a transformer.
 *
 * The input is a sequence of T token ids held as floats, shape (T, 1, 1);
 * position t of a sample becomes the row wte[id] + wpe[t] of units = C
 * features, so the output is (T, C, 1).  Parameters: the token table wte
 * (vocab, C), then the position table wpe (T, C).  Ids must lie in
 * [0, vocab): the data loader guarantees it, and the layer takes them as
 * given.  Backward adds each position's dout row into the wte row of its
 * token (a token seen twice gets both rows) and into the wpe row of its
 * position.  Ids are not differentiable: there is no input gradient, and
 * io->din is never written.
 */
#include "layer.h"
#include "layer_util.h"

#define EMBED_DEFAULT_STD 0.02f /* GPT-2's */

static int embed_setup(Layer *l, DtError *err)
{
    if (layer_check_input(l, err) < 0)
        return -1;
    if (l->vocab < 1 || l->units < 1)
        return dt_fail(err, DT_EINPUT, "embed: vocab %d and units %d must both be at least 1",
                       l->vocab, l->units);
    if (l->in.h != 1 || l->in.w != 1)
        return dt_fail(err, DT_EINPUT,
                       "embed: input (%d, %d, %d) is not a sequence of token ids (T, 1, 1)",
                       l->in.c, l->in.h, l->in.w);
    l->out = (Shape){l->in.c, l->units, 1};
    l->param_count = (size_t)l->vocab * l->units + (size_t)l->in.c * l->units;
    return 0;
}

static void embed_init(const Layer *l, float *p, Rng *rng)
{
    float std = l->init_std > 0.0f ? l->init_std : EMBED_DEFAULT_STD;
    layer_init_std_uniform(p, l->param_count, std, rng); /* wte, then wpe (layer_util.h) */
}

/* Positions [first, last) of sample b. */
static void embed_rows(const Layer *l, const LayerIO *io, int b, int first, int last)
{
    const int seq = l->in.c, units = l->units;
    const float *wte = io->params;                            /* (vocab, units) */
    const float *wpe = io->params + (size_t)l->vocab * units; /* (seq, units) */
    const float *ids = io->in + (size_t)b * seq;              /* (seq) */
    for (int t = first; t < last; t++) {
        const float *tok = wte + (size_t)(int)ids[t] * units; /* (units) */
        const float *pos = wpe + (size_t)t * units;           /* (units) */
        float *row = io->out + ((size_t)b * seq + t) * units; /* (units) */
        for (int j = 0; j < units; j++)
            row[j] = tok[j] + pos[j];
    }
}

static void embed_forward(const Layer *l, const LayerIO *io)
{
    for (int b = 0; b < io->batch; b++)
        embed_rows(l, io, b, 0, l->in.c);
}

static void embed_forward_rows(const Layer *l, const LayerIO *io, int first, int last)
{
    embed_rows(l, io, 0, first, last);
}

static void embed_backward(const Layer *l, const LayerIO *io)
{
    const int seq = l->in.c, units = l->units;
    float *dwte = io->dparams;                            /* (vocab, units) */
    float *dwpe = io->dparams + (size_t)l->vocab * units; /* (seq, units) */
    for (int b = 0; b < io->batch; b++) {
        const float *ids = io->in + (size_t)b * seq; /* (seq) */
        for (int t = 0; t < seq; t++) {
            float *tok = dwte + (size_t)(int)ids[t] * units;             /* (units) */
            float *pos = dwpe + (size_t)t * units;                       /* (units) */
            const float *row = io->dout + ((size_t)b * seq + t) * units; /* (units) */
            for (int j = 0; j < units; j++) {
                tok[j] += row[j];
                pos[j] += row[j];
            }
        }
    }
}

/* forward: batch*T*units additions (wte row + wpe row). */
static double embed_forward_flops(const Layer *l, int batch)
{
    return (double)batch * l->in.c * l->units;
}

/* backward: 2*batch*T*units additions (into the wte row and the wpe row),
 * with or without din (there is never an input gradient). */
static double embed_backward_flops(const Layer *l, int batch, int need_din)
{
    (void)need_din;
    return 2.0 * batch * l->in.c * l->units;
}

const LayerOps embed_ops = {
    .name = "embed",
    .setup = embed_setup,
    .init = embed_init,
    .scratch_floats = layer_scratch_none,
    .saved_floats = NULL,
    .forward = embed_forward,
    .forward_rows = embed_forward_rows,
    .backward = embed_backward,
    .forward_flops = embed_forward_flops,
    .backward_flops = embed_backward_flops,
};
