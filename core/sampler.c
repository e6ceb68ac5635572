/*
 * sampler.c - epoch permutations and global batches (see sampler.h).
 */
#include "sampler.h"

#include <stdlib.h>

#include "rng.h"

int sampler_init(Sampler *s, int n, int batch, uint64_t seed, DtError *err)
{
    s->n = n;
    s->batch = batch;
    s->seed = seed;
    s->step = 0;
    s->epoch = -1;
    s->perm = NULL;
    if (batch <= 0 || n < batch)
        return dt_fail(err, DT_EINPUT, "a batch of %d samples does not fit a dataset of %d", batch,
                       n);
    if (!(s->perm = malloc((size_t)n * sizeof(int))))
        return dt_fail(err, DT_ERUNTIME, "out of memory for a sampler of %d samples", n);
    return 0;
}

void sampler_free(Sampler *s)
{
    free(s->perm);
    s->perm = NULL;
}

int sampler_steps_per_epoch(const Sampler *s)
{
    return s->n / s->batch;
}

const int *sampler_batch(Sampler *s, long step)
{
    long per_epoch = sampler_steps_per_epoch(s);
    long epoch = step / per_epoch;
    if (epoch != s->epoch) {
        for (int i = 0; i < s->n; i++)
            s->perm[i] = i;
        Rng r = rng_make(s->seed, 0xE90C0000ULL + (uint64_t)epoch);
        rng_shuffle(&r, s->perm, s->n);
        s->epoch = epoch;
    }
    return s->perm + (step % per_epoch) * s->batch;
}

const int *sampler_next(Sampler *s)
{
    return sampler_batch(s, s->step++);
}
