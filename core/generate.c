/*
 * generate.c - text from a trained language model (model.h).
 *
 * The window is the last seq_len tokens so far (positions after them hold
 * token 0, which causal attention keeps from reaching the positions read),
 * and the next token is drawn from the probabilities at the window's last
 * real position.  Until the window is full, each token adds one position
 * to it and moves none: the positions before it keep what the workspace
 * holds for them (every layer's output, the keys and values among them),
 * and only the new one goes through the layers (model_forward_positions),
 * a seq_len-th of a whole forward pass.  Once the window slides, every
 * position has moved, and each token is one whole forward pass.
 */
#include "model.h"

#include <stdlib.h>

#include "rng.h"

#define GENERATE_STREAM 0x6E4E

/* The token whose cumulative probability first exceeds u (the last one
 * when rounding leaves the sum short of u). */
static int draw(const float *p, int classes, float u)
{
    float sum = 0.0f;
    for (int k = 0; k < classes; k++) {
        sum += p[k];
        if (u < sum)
            return k;
    }
    return classes - 1;
}

/* Whether layer l can take some positions alone: its own forward_rows, or
 * a layer whose output at a position depends on that position's input
 * alone (then a view of those rows is a layer of its own). */
static int by_rows(const Layer *l)
{
    return l->ops->forward_rows || l->ops == &layernorm_ops || l->ops == &gelu_ops ||
           l->ops == &add_ops || (l->ops == &dense_ops && l->tokens);
}

int model_forward_positions(const Model *m, Workspace *ws, const float *params, const float *x,
                            int first, int last)
{
    for (int l = 0; l < m->nlayers; l++)
        if (!by_rows(&m->layers[l]))
            return -1;
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *ly = &m->layers[l];
        LayerIO io;
        model_layer_io(m, ws, params, NULL, x, l, 1, &io);
        if (ly->ops->forward_rows) {
            ly->ops->forward_rows(ly, &io, first, last);
            continue;
        }
        /* rows [first, last): a sequence of last - first positions */
        Layer view = *ly;
        view.in.c = view.out.c = view.in2.c = last - first;
        io.in += (size_t)first * shape_size(view.in) / view.in.c;
        io.out += (size_t)first * shape_size(view.out) / view.out.c;
        if (io.in2)
            io.in2 += (size_t)first * shape_size(view.in2) / view.in2.c;
        ly->ops->forward(&view, &io);
    }
    return 0;
}

int model_generate(const Model *m, Workspace *ws, const float *params, const int *prompt,
                   int nprompt, int n, uint64_t seed, int *out)
{
    const int T = m->positions, V = m->classes;
    for (int i = 0; i < nprompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return 0;
    float *x = calloc((size_t)T, sizeof *x);
    if (!x || nprompt < 1) {
        free(x);
        return 0;
    }
    Rng rng = rng_make(seed, GENERATE_STREAM);
    for (int i = 0; i < nprompt; i++)
        out[i] = prompt[i];
    int len = nprompt, ready = 0; /* positions of an unmoved window in ws */
    for (int i = 0; i < n; i++) {
        int start = len > T ? len - T : 0, w = len - start;
        for (int t = 0; t < T; t++)
            x[t] = t < w ? (float)out[start + t] : 0.0f;
        if (start > 0 || model_forward_positions(m, ws, params, x, ready, w) < 0)
            model_forward(m, ws, params, x, 1);
        ready = w;
        SoftmaxXent s = {
            .batch = 1,
            .classes = V,
            .logits = workspace_output(ws, m->nlayers - 1) + (size_t)(w - 1) * V,
            .labels = (const unsigned char *)"",
            .probs = ws->probs,
        };
        softmax_xent_forward(&s);
        out[len++] = draw(ws->probs, V, rng_uniform(&rng));
    }
    free(x);
    return len;
}
