/*
 * partition.h - a training set split among clients that each keep their
 * own part, as in federated learning.
 *
 *   iid        a seeded shuffle cut into equal parts (sizes differ by at
 *              most one sample);
 *   shards     the samples sorted by label, cut into 2 x clients shards
 *              of equal size, two shards (chosen at random) per client,
 *              so that most clients see two labels (McMahan et al. 2017,
 *              "Communication-efficient learning of deep networks from
 *              decentralized data");
 *   dirichlet  for each label, the shares of the clients drawn from a
 *              symmetric Dirichlet(alpha) (Hsu et al. 2019): small alpha,
 *              few labels per client and unequal sizes; large alpha,
 *              close to iid.  A client may get no sample at all.
 *
 * Everything is drawn from the seed: the same seed gives the same parts
 * (the Dirichlet draws are GSL's, from a generator seeded from ours; they
 * go through the C library's exp and log, so another C library could move
 * a boundary by a sample).  Within a part the indices ascend.
 */
#ifndef DT_PARTITION_H
#define DT_PARTITION_H

#include <stdint.h>

#include "error.h"

typedef enum { PARTITION_IID, PARTITION_SHARDS, PARTITION_DIRICHLET } PartitionKind;

typedef struct Partition {
    int clients;
    int n;      /* samples in all */
    int *start; /* (clients + 1): client k holds idx[start[k] .. start[k + 1]) */
    int *idx;   /* (n) every sample exactly once */
} Partition;

/* Split samples 0 .. n-1, whose labels are labels[i * stride] (in 0 ..
 * classes-1; iid reads none and labels may be NULL), among `clients`
 * clients; alpha is dirichlet's concentration (> 0).  -1 with err when
 * out of memory, or (bad input) when there are fewer samples than the
 * kind needs: one per client (iid), one per shard (shards). */
int partition_make(Partition *p, PartitionKind kind, const uint8_t *labels, int stride, int n,
                   int classes, int clients, double alpha, uint64_t seed, DtError *err);
void partition_free(Partition *p);

/* How many samples client k holds. */
int partition_size(const Partition *p, int k);

#endif
