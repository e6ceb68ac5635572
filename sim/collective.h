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
 *   allreduce ring-flow:  the same: the ring's bytes as one flow per link,
 *                         its other latencies as a pause (ring_flow.c)
 *   allreduce rhd:        2 lg(p) alpha + 2 (p-1)/p n beta  (p a power of two:
 *                         recursive-halving reduce-scatter, recursive-doubling
 *                         allgather; Rabenseifner)
 *   allreduce tree:       binomial-tree reduce to rank 0, then binomial-tree
 *                         broadcast: 2 ceil(lg p) (alpha + n beta)
 *   allreduce ps:         every member to member 0, which sends the sum back:
 *                         2 (alpha + (p-1) n beta)  (member 0's port is the bottleneck)
 *   reduce-scatter ring, allgather ring: (p-1) alpha + (p-1)/p n beta
 *   broadcast tree:       ceil(lg p) (alpha + n beta)
 *   allreduce hierarchical, hierarchical-rhd: N nodes of g members (p = N g),
 *                         alpha_l, beta_l inside a node, alpha_r, beta_r
 *                         across: ring reduce-scatter in the node, ring (or
 *                         rhd) all-reduce of n/g bytes among the N members
 *                         of each local index, ring all-gather in the node:
 *                           2 (g-1) (alpha_l + n/g beta_l)
 *                         + 2 (N-1) (alpha_r + n/(gN) beta_r)       (ring)
 *                           or 2 lg(N) alpha_r + 2 (N-1)/N n/g beta_r (rhd)
 *                         where beta_r is what one of the g all-reduces
 *                         running side by side gets: when a node's g
 *                         flows leave through one shared uplink of
 *                         beta_up seconds per byte (dgx-2x8.xml's bundled
 *                         InfiniBand), beta_r = max(beta_route, g beta_up):
 *                         8 x 5e-12 s/B on dgx-2x8.xml; the two test
 *                         platforms tests/platforms/ideal-nodes-4x*.xml
 *                         have one of each (uplink, host link binding)
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
    /* Members per node, for the algorithms that follow nodes (check_nodes
     * below says what it is): members k*local .. (k+1)*local - 1 share
     * node k.  0 or 1: no node structure; the others ignore it. */
    int local;
} Group;

typedef struct CollectiveOps {
    const char *algo; /* "ring", "rhd", "tree", "ps", "hierarchical", ... */
    CollOp op;
    /* 0 if the algorithm can run on p members; otherwise -1 and a reason
     * in why (e.g. "rhd needs a power-of-two number of ranks"). */
    int (*check)(int p, char *why, size_t why_size);
    /* Only for algorithms that follow nodes (NULL for the others, which
     * run on any hosts): 0 if they can run on p members whose member i
     * sits on node node[i] (any numbering; placement_nodes), with *local
     * set to the Group.local to run them with; otherwise -1 and a reason
     * in why, a phrase to follow the algorithm's name ("needs several
     * nodes of several GPUs each: the 8 ranks sit on 1 node"). */
    int (*check_nodes)(const int *node, int p, int *local, char *why, size_t why_size);
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
