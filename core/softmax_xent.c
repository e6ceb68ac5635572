/*
 * softmax_xent.c - softmax with cross-entropy loss, the end of every model.
 *
 * Numerically stable: each row's maximum is subtracted before exp, so the
 * largest term is exp(0) = 1 and the sum lies in [1, classes]; the loss of a
 * sample is then taken as log(sum) - (logit[label] - max) rather than
 * -log(prob), which stays finite even when the label's probability
 * underflows to 0.  Every loop is a short contiguous sweep over one row of
 * `classes` floats; the FLOP counts below follow those loops one for one.
 */
#include "layer.h"

#include <math.h>

double softmax_xent_forward(const SoftmaxXent *s)
{
    const int classes = s->classes;
    double loss = 0.0;
    for (int i = 0; i < s->batch; i++) {
        const float *x = s->logits + (size_t)i * classes; /* (classes) */
        float *p = s->probs + (size_t)i * classes;        /* (classes) */
        float max = x[0];
        for (int j = 1; j < classes; j++)
            max = x[j] > max ? x[j] : max;
        float sum = 0.0f;
        for (int j = 0; j < classes; j++) {
            p[j] = expf(x[j] - max);
            sum += p[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < classes; j++)
            p[j] *= inv;
        loss += (double)logf(sum) - ((double)x[s->labels[i]] - (double)max);
    }
    return loss;
}

void softmax_xent_backward(const SoftmaxXent *s)
{
    const int classes = s->classes;
    const float scale = s->scale;
    for (int i = 0; i < s->batch; i++) {
        const float *p = s->probs + (size_t)i * classes; /* (classes) */
        float *d = s->dlogits + (size_t)i * classes;     /* (classes) */
        for (int j = 0; j < classes; j++)
            d[j] = p[j];
        d[s->labels[i]] -= 1.0f;
        for (int j = 0; j < classes; j++)
            d[j] *= scale;
    }
}

int softmax_xent_correct(const SoftmaxXent *s)
{
    int correct = 0;
    for (int i = 0; i < s->batch; i++) {
        const float *x = s->logits + (size_t)i * s->classes; /* (classes) */
        int best = 0;
        for (int j = 1; j < s->classes; j++)
            if (x[j] > x[best])
                best = j;
        correct += best == s->labels[i];
    }
    return correct;
}

/* forward, per sample: (classes - 1) max comparisons + classes subtractions
 * + classes exps + classes sum adds (first loop pair) + 1 reciprocal
 * division + classes multiplies (normalising) + 1 log + 2 subtractions and
 * 1 add (the loss term, accumulated); i.e. batch * (5*classes + 4). */
double softmax_xent_forward_flops(int batch, int classes)
{
    double c = classes;
    return (double)batch * ((c - 1.0) + c + c + c + 1.0 + c + 1.0 + 3.0);
}

/* backward, per sample: 1 subtraction (the label's onehot) + classes
 * multiplies by scale; i.e. batch * (classes + 1). */
double softmax_xent_backward_flops(int batch, int classes)
{
    return (double)batch * ((double)classes + 1.0);
}
