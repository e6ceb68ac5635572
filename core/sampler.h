/*
 * sampler.h - which samples make up each global batch.
 *
 * Every epoch is a fresh permutation of [0, n) drawn from (seed, epoch), and
 * global batches are consecutive slices of it; the tail that does not fill
 * a batch is dropped, so every step sees exactly `batch` samples.  Every
 * replica of a data-parallel run holds its own Sampler with the same seed,
 * so all of them agree on the global batch without talking, and worker r
 * takes its slice of it: this is what makes N workers of batch b see the same
 * samples as one serial learner of batch N*b.
 */
#ifndef DT_SAMPLER_H
#define DT_SAMPLER_H

#include <stdint.h>

#include "error.h"

typedef struct Sampler {
    int n;     /* samples in the dataset */
    int batch; /* global batch */
    uint64_t seed;
    long step;  /* global batches handed out by sampler_next */
    long epoch; /* the epoch perm belongs to, -1 before the first */
    int *perm;  /* (n) that epoch's permutation */
} Sampler;

int sampler_init(Sampler *s, int n, int batch, uint64_t seed, DtError *err);
void sampler_free(Sampler *s);
int sampler_steps_per_epoch(const Sampler *s);
/* The indices of the next global batch (batch of them, valid until the
 * next call); reshuffles when an epoch begins. */
const int *sampler_next(Sampler *s);
/* The indices of global batch `step` (0-based), for a sampler shared by
 * replicas that move through the steps together: valid until a call for a
 * step of another epoch. */
const int *sampler_batch(Sampler *s, long step);

#endif
