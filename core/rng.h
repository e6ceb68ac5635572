/*
 * rng.h - dtsim's own portable random numbers.
 *
 * Runs must be byte-identical across machines and C libraries, so nothing
 * here touches rand() or libm: the generator is SplitMix64 (Steele, Lea and
 * Flood 2014; the seeding generator of Vigna's xoshiro family), bounded
 * integers use Lemire's multiply-shift with rejection (no modulo bias), and
 * floats take the top 24 bits.  Each user (an actor, a dataset, an epoch's
 * shuffle) owns its own Rng value.
 */
#ifndef DT_RNG_H
#define DT_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t state;
} Rng;

/* A generator seeded from seed and a stream id, so that independent uses
 * (e.g. epoch e's shuffle) get unrelated sequences from one user seed. */
Rng rng_make(uint64_t seed, uint64_t stream);
uint64_t rng_next(Rng *r);
/* Uniform in [0, 1), 24 bits of precision. */
float rng_uniform(Rng *r);
/* Uniform integer in [0, n), n > 0, without bias. */
uint32_t rng_below(Rng *r, uint32_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(Rng *r, int *idx, int n);

#endif
