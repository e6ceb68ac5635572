/*
 * generate.c - text from a trained language model (model.h).
 *
 * One forward pass of a single sample per token: the window is the last
 * seq_len tokens so far (positions after them hold token 0, which causal
 * attention keeps from reaching the positions read), and the next token is
 * drawn from the probabilities at the window's last real position.  Slow
 * by the standards of a serving system (no key-value cache), and plenty
 * for the few hundred characters a run prints.
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
    int len = nprompt;
    for (int i = 0; i < n; i++) {
        int start = len > T ? len - T : 0, w = len - start;
        for (int t = 0; t < T; t++)
            x[t] = t < w ? (float)out[start + t] : 0.0f;
        model_forward(m, ws, params, x, 1);
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
