/*
 * partition.c - a training set split among clients (see partition.h).
 *
 * Each kind decides the owner of every sample; the parts are then read
 * off in sample order, so that indices ascend within a part.
 */
#include "partition.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

#include "rng.h"

/* the streams of rng_make, one per use */
#define STREAM_IID 0xFED1ULL
#define STREAM_SHARDS 0xFED2ULL
#define STREAM_DIRICHLET 0xFED3ULL

static void owners_iid(int *owner, int n, int clients, uint64_t seed, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    Rng r = rng_make(seed, STREAM_IID);
    rng_shuffle(&r, order, n);
    /* part k: positions floor(k n / K) .. floor((k + 1) n / K) - 1 */
    for (int k = 0; k < clients; k++) {
        long lo = (long)k * n / clients, hi = (long)(k + 1) * n / clients;
        for (long i = lo; i < hi; i++)
            owner[order[i]] = k;
    }
}

/* Samples in a seeded order, then sorted by label (stably: the order
 * within a label stays random). */
static int sort_by_label(const uint8_t *labels, int stride, int n, int classes, Rng *r, int *order,
                         int *sorted)
{
    int *at = calloc((size_t)classes + 1, sizeof *at);
    if (!at)
        return -1;
    for (int i = 0; i < n; i++)
        order[i] = i;
    rng_shuffle(r, order, n);
    for (int i = 0; i < n; i++)
        at[labels[(size_t)i * stride] + 1]++;
    for (int c = 0; c < classes; c++)
        at[c + 1] += at[c];
    for (int i = 0; i < n; i++)
        sorted[at[labels[(size_t)order[i] * stride]]++] = order[i];
    free(at);
    return 0;
}

static int owners_shards(int *owner, const uint8_t *labels, int stride, int n, int classes,
                         int clients, uint64_t seed, int *order)
{
    const int shards = 2 * clients;
    int *sorted = malloc((size_t)n * sizeof *sorted);
    int *shard = malloc((size_t)shards * sizeof *shard);
    Rng r = rng_make(seed, STREAM_SHARDS);
    if (!sorted || !shard || sort_by_label(labels, stride, n, classes, &r, order, sorted) < 0) {
        free(sorted);
        free(shard);
        return -1;
    }
    for (int s = 0; s < shards; s++)
        shard[s] = s;
    rng_shuffle(&r, shard, shards);
    /* shard s: sorted positions floor(s n / S) .. floor((s + 1) n / S) - 1,
     * and client k gets shards shard[2k] and shard[2k + 1] */
    for (int j = 0; j < shards; j++) {
        long lo = (long)shard[j] * n / shards, hi = (long)(shard[j] + 1) * n / shards;
        for (long i = lo; i < hi; i++)
            owner[sorted[i]] = j / 2;
    }
    free(sorted);
    free(shard);
    return 0;
}

static int owners_dirichlet(int *owner, const uint8_t *labels, int stride, int n, int classes,
                            int clients, double alpha, uint64_t seed, int *order)
{
    int *sorted = malloc((size_t)n * sizeof *sorted);
    double *a = malloc((size_t)clients * sizeof *a),
           *theta = malloc((size_t)clients * sizeof *theta);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    Rng r = rng_make(seed, STREAM_DIRICHLET);
    int rc = -1;
    if (!sorted || !a || !theta || !g ||
        sort_by_label(labels, stride, n, classes, &r, order, sorted) < 0)
        goto out;
    gsl_rng_set(g, (unsigned long)rng_next(&r));
    for (int k = 0; k < clients; k++)
        a[k] = alpha;
    int first = 0; /* the first sample of label c in sorted */
    for (int c = 0; c < classes; c++) {
        int count = 0;
        while (first + count < n && labels[(size_t)sorted[first + count] * stride] == c)
            count++;
        gsl_ran_dirichlet(g, (size_t)clients, a, theta);
        /* client k: the label's positions from floor(cum_k count) on */
        double cum = 0.0;
        long lo = 0;
        for (int k = 0; k < clients; k++) {
            cum += theta[k];
            long hi = k == clients - 1 ? count : (long)(cum * count);
            hi = hi < lo ? lo : hi > count ? count : hi;
            for (long i = lo; i < hi; i++)
                owner[sorted[first + i]] = k;
            lo = hi;
        }
        first += count;
    }
    rc = 0;
out:
    free(sorted);
    free(a);
    free(theta);
    if (g)
        gsl_rng_free(g);
    return rc;
}

/* Read the parts off the owners, in sample order; -1 when out of memory. */
static int partition_collect(Partition *p, const int *owner)
{
    int *next = malloc((size_t)p->clients * sizeof *next);
    if (!next)
        return -1;
    for (int k = 0; k <= p->clients; k++)
        p->start[k] = 0;
    for (int i = 0; i < p->n; i++)
        p->start[owner[i] + 1]++;
    for (int k = 0; k < p->clients; k++)
        p->start[k + 1] += p->start[k];
    for (int k = 0; k < p->clients; k++)
        next[k] = p->start[k];
    for (int i = 0; i < p->n; i++)
        p->idx[next[owner[i]]++] = i;
    free(next);
    return 0;
}

int partition_make(Partition *p, PartitionKind kind, const uint8_t *labels, int stride, int n,
                   int classes, int clients, double alpha, uint64_t seed, DtError *err)
{
    *p = (Partition){.clients = clients, .n = n};
    int need = kind == PARTITION_IID ? clients : kind == PARTITION_SHARDS ? 2 * clients : 0;
    if (clients < 1 || n < need)
        return dt_fail(err, DT_EINPUT, "%d samples cannot be split among %d clients (%s needs %d)",
                       n, clients, kind == PARTITION_SHARDS ? "shards" : "iid", need);
    p->start = malloc(((size_t)clients + 1) * sizeof *p->start);
    p->idx = malloc((size_t)(n ? n : 1) * sizeof *p->idx);
    int *owner = malloc((size_t)(n ? n : 1) * sizeof *owner);
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    int rc = p->start && p->idx && owner && order ? 0 : -1;
    if (rc == 0 && kind == PARTITION_IID)
        owners_iid(owner, n, clients, seed, order);
    else if (rc == 0 && kind == PARTITION_SHARDS)
        rc = owners_shards(owner, labels, stride, n, classes, clients, seed, order);
    else if (rc == 0)
        rc = owners_dirichlet(owner, labels, stride, n, classes, clients, alpha, seed, order);
    if (rc == 0)
        rc = partition_collect(p, owner);
    free(owner);
    free(order);
    if (rc < 0) {
        partition_free(p);
        return dt_fail(err, DT_ERUNTIME, "out of memory to split %d samples among %d clients", n,
                       clients);
    }
    return 0;
}

void partition_free(Partition *p)
{
    free(p->start);
    free(p->idx);
    p->start = p->idx = NULL;
}

int partition_size(const Partition *p, int k)
{
    return p->start[k + 1] - p->start[k];
}
