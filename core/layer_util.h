/*
 * layer_util.h - helpers the layer kinds share; private to core/.
 *
 * Each layer kind lives in its own file behind layer.h's ops table, but a
 * few pieces are the same everywhere: He-uniform initialisation (so that
 * dense and conv2d draw their weights the same way and in the same order),
 * the check that an input shape is usable, the sliding-window output size
 * that conv2d and maxpool agree on, and the do-nothing ops of kinds without
 * parameters or scratch.  Nothing here is part of the public contract.
 */
#ifndef DT_LAYER_UTIL_H
#define DT_LAYER_UTIL_H

#include <stddef.h>

#include "layer.h"

/* Fill w[0..count) in memory order with U(-limit, +limit) draws,
 * limit = sqrt(6 / fan_in): w[i] = (2 * rng_uniform - 1) * limit. */
void layer_init_he_uniform(float *w /* (count) */, size_t count, size_t fan_in, Rng *rng);

/* Fill w[0..count) in memory order with U(-a, +a), a = std * sqrt(3): the
 * uniform draw of standard deviation std (GPT-2's initial weights have std
 * 0.02), from the same draws as layer_init_he_uniform. */
void layer_init_std_uniform(float *w /* (count) */, size_t count, float std, Rng *rng);

/* A dense layer's GEMM rows per sample (T for a sequence, with tokens;
 * else 1) and the features of each row. */
int layer_dense_rows(const Layer *l);
int layer_dense_features(const Layer *l);

/* -1 with a message naming the layer kind when a dimension of l->in is < 1. */
int layer_check_input(const Layer *l, DtError *err);

/* Window positions along one axis of length size: (size + 2*pad - kernel)
 * / stride + 1, or 0 when the window does not fit the padded axis. */
int layer_window_count(int size, int kernel, int stride, int pad);

/* The init and scratch_floats of kinds that have no parameters or scratch. */
void layer_init_none(const Layer *l, float *p, Rng *rng);
size_t layer_scratch_none(const Layer *l, int batch);

#endif
