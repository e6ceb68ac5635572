/*
 * collective.h - collective operations over a group of ranks, one file per
 * algorithm behind a small ops table.
 *
 * Every member of a group calls the same collective with the same count;
 * the algorithm moves real floats with comm.h and really adds them, in an
 * order fixed by the algorithm and the group (never by timing), so every
 * member ends with bit-identical results and runs are reproducible.  A NULL
 * buffer runs the same message pattern with timing-only messages and no
 * arithmetic (`dtsim collective` on sizes that would not fit in memory).
 *
 * Semantics, on buf (count floats) of each member i of a group of p:
 *   allreduce       in: i's contribution; out: the sum over all members
 *   reduce-scatter  in: i's contribution; out: block i (see collective_block)
 *                   holds the sum of every member's block i; other blocks
 *                   are left in an unspecified state
 *   allgather       in: block i holds i's data; out: every block filled
 *   broadcast       in: the root's buffer; out: everybody holds it
 *
 * Algorithms and their costs on an ideal network (alpha latency, beta
 * seconds per byte, n bytes; DESIGN.md):
 *   allreduce ring:       2(p-1) alpha + 2 (p-1)/p n beta
 *   allreduce rhd:        2 lg(p) alpha + 2 (p-1)/p n beta  (p a power of two:
 *                         recursive-halving reduce-scatter, recursive-doubling
 *                         allgather; Rabenseifner)
 *   allreduce tree:       binomial-tree reduce to rank 0, then binomial-tree
 *                         broadcast: 2 ceil(lg p) (alpha + n beta)
 *   allreduce ps:         every member to member 0, which sends the sum back:
 *                         2 (alpha + (p-1) n beta)  (member 0's port is the bottleneck)
 *   reduce-scatter ring, allgather ring: (p-1) alpha + (p-1)/p n beta
 *   broadcast tree:       ceil(lg p) (alpha + n beta)
 */
#ifndef DT_COLLECTIVE_H
#define DT_COLLECTIVE_H

#include <stddef.h>
#include <stdio.h>

#include "comm.h"

typedef enum { COLL_ALLREDUCE, COLL_ALLGATHER, COLL_REDUCE_SCATTER, COLL_BROADCAST } CollOp;

/* The members of a collective, as the calling rank sees them. */
typedef struct Group {
    const Comm *comm; /* the caller's handle (its world rank and channel) */
    int size;         /* members */
    const int *ranks; /* (size) world rank of each member; NULL means 0 .. size-1 */
    int index;        /* the caller's position among the members */
} Group;

typedef struct CollectiveOps {
    const char *algo; /* "ring", "rhd", "tree", "ps" */
    CollOp op;
    /* 0 if the algorithm can run on p members; otherwise -1 and a reason
     * in why (e.g. "rhd needs a power-of-two number of ranks"). */
    int (*check)(int p, char *why, size_t why_size);
    /* In place on buf (count floats, or NULL); root matters for broadcast.
     * 0, or -1 when a transfer failed (comm.h): the member stops there. */
    int (*run)(const Group *g, float *buf, size_t count, int root);
} CollectiveOps;

/* NULL when no such algorithm exists for op. */
const CollectiveOps *collective_find(CollOp op, const char *algo);
/* "allreduce" etc., and back; -1 for an unknown name. */
const char *collective_op_name(CollOp op);
int collective_op_parse(const char *name);
/* "ring, rhd, tree" for messages. */
void collective_algos(CollOp op, char *buf, size_t size);

/* Block i of p over count floats: the first count % p blocks get one more. */
void collective_block(size_t count, int p, int i, size_t *offset, size_t *len);

/* World rank of member i (g->ranks ? g->ranks[i] : i). */
int group_rank(const Group *g, int i);

#endif
