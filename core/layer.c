/*
 * layer.c - what every layer kind shares: shape sizes, He-uniform weights,
 * input checks and window arithmetic (see layer.h and layer_util.h).
 *
 * The kinds themselves live one per file (dense.c, relu.c, conv2d.c,
 * maxpool.c, flatten.c); this file only holds the pieces they would
 * otherwise each repeat, so that e.g. dense and conv2d cannot drift apart
 * in how they draw their initial weights.
 */
#include "layer.h"
#include "layer_util.h"

#include <math.h>

size_t shape_size(Shape s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

void layer_init_he_uniform(float *w /* (count) */, size_t count, size_t fan_in, Rng *rng)
{
    /* sqrt is correctly rounded in IEEE arithmetic, so the bound (and with
     * it every weight) is the same on every machine. */
    float limit = (float)sqrt(6.0 / (double)fan_in);
    for (size_t i = 0; i < count; i++)
        w[i] = (2.0f * rng_uniform(rng) - 1.0f) * limit;
}

void layer_init_std_uniform(float *w /* (count) */, size_t count, float std, Rng *rng)
{
    float limit = (float)((double)std * sqrt(3.0));
    for (size_t i = 0; i < count; i++)
        w[i] = (2.0f * rng_uniform(rng) - 1.0f) * limit;
}

int layer_dense_rows(const Layer *l)
{
    return l->tokens ? l->in.c : 1;
}

int layer_dense_features(const Layer *l)
{
    return (int)(shape_size(l->in) / (size_t)layer_dense_rows(l));
}

int layer_check_input(const Layer *l, DtError *err)
{
    if (l->in.c < 1 || l->in.h < 1 || l->in.w < 1)
        return dt_fail(err, DT_EINPUT, "%s: input shape (%d, %d, %d) has an empty dimension",
                       l->ops->name, l->in.c, l->in.h, l->in.w);
    return 0;
}

int layer_window_count(int size, int kernel, int stride, int pad)
{
    int span = size + 2 * pad - kernel;
    if (span < 0 || stride < 1)
        return 0;
    return span / stride + 1;
}

void layer_init_none(const Layer *l, float *p, Rng *rng)
{
    (void)l;
    (void)p;
    (void)rng;
}

size_t layer_scratch_none(const Layer *l, int batch)
{
    (void)l;
    (void)batch;
    return 0;
}
