/*
 * ring.c - ring algorithms: reduce-scatter, allgather, and allreduce as the
 * one followed by the other (the bandwidth-optimal all-reduce of Baidu and
 * NCCL; see collective.h for costs).
 *
 * The buffer is cut into p blocks (collective_block) and member i finally
 * owns block i.  In each of the p-1 steps of a pass, every member sends one
 * block to its right neighbour and receives one from its left, so every
 * link carries exactly one block per step whatever p is: that is why the
 * ring's bandwidth term does not grow with p.  Reduce-scatter adds each
 * incoming block into the member's own copy as own + incoming, so block b
 * is summed along the ring starting at member b+1 and ending at member b;
 * that order depends only on the group, and the allgather then copies the
 * one finished block b to everybody, which makes the results bit-identical
 * on every member.
 */

#include "collective.h"

/* buf + off, keeping NULL (a timing-only buffer) NULL. */
static float *ring_at(float *buf, size_t off)
{
    return buf ? buf + off : NULL;
}

/* One step around the ring.  A rank only ever writes the block it
 * receives, never the one it sends, and a step cannot finish before the
 * right neighbour has finished the previous one (and so taken its data):
 * blocks can be lent instead of copied.  The last step of a phase copies,
 * so that the caller may write buf as soon as the collective returns. */
static int ring_step(const Comm *c, int last, int right, const float *send, size_t slen, int left,
                     float *recv, size_t rlen, int add)
{
    if (!last)
        return comm_ring_step(c, right, send, slen, left, recv, rlen, add);
    if (add)
        return comm_sendrecv_add(c, right, send, slen, left, recv, rlen);
    return comm_sendrecv(c, right, send, slen, left, recv, rlen);
}

static int ring_check(int p, char *why, size_t why_size)
{
    if (p >= 1)
        return 0;
    snprintf(why, why_size, "ring needs at least one rank (got %d)", p);
    return -1;
}

/* Member i ends with the sum of everybody's block i.  lend_last: the last
 * step lends its block too, as an allgather follows that writes it only
 * once the right neighbour has taken it (its first step cannot finish
 * before that neighbour has finished this pass). */
static int ring_reduce_scatter_pass(const Group *g, float *buf, size_t count, int lend_last)
{
    const int p = g->size, i = g->index;
    if (p < 2)
        return 0;
    const int right = group_rank(g, (i + 1) % p), left = group_rank(g, (i + p - 1) % p);
    for (int s = 0; s < p - 1; s++) {
        size_t soff, slen, roff, rlen;
        collective_block(count, p, (i - s - 1 + 2 * p) % p, &soff, &slen);
        collective_block(count, p, (i - s - 2 + 2 * p) % p, &roff, &rlen);
        /* the left neighbour's partial sum is added into our block; the
         * block we send is lent (see ring_step) */
        if (ring_step(g->comm, s == p - 2 && !lend_last, right, ring_at(buf, soff), slen, left,
                      ring_at(buf, roff), rlen, 1) < 0)
            return -1;
    }
    return 0;
}

static int ring_reduce_scatter_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    return ring_reduce_scatter_pass(g, buf, count, 0);
}

/* Member i holds block i; everybody ends with every block. */
static int ring_allgather_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    const int p = g->size, i = g->index;
    if (p < 2)
        return 0;
    const int right = group_rank(g, (i + 1) % p), left = group_rank(g, (i + p - 1) % p);
    for (int s = 0; s < p - 1; s++) {
        size_t soff, slen, roff, rlen;
        collective_block(count, p, (i - s + p) % p, &soff, &slen);
        collective_block(count, p, (i - s - 1 + 2 * p) % p, &roff, &rlen);
        if (ring_step(g->comm, s == p - 2, right, ring_at(buf, soff), slen, left,
                      ring_at(buf, roff), rlen, 0) < 0)
            return -1;
    }
    return 0;
}

static int ring_allreduce_run(const Group *g, float *buf, size_t count, int root)
{
    if (ring_reduce_scatter_pass(g, buf, count, 1) < 0)
        return -1;
    return ring_allgather_run(g, buf, count, root);
}

const CollectiveOps ring_allreduce = {
    .algo = "ring",
    .op = COLL_ALLREDUCE,
    .check = ring_check,
    .run = ring_allreduce_run,
};

const CollectiveOps ring_allgather = {
    .algo = "ring",
    .op = COLL_ALLGATHER,
    .check = ring_check,
    .run = ring_allgather_run,
};

const CollectiveOps ring_reduce_scatter = {
    .algo = "ring",
    .op = COLL_REDUCE_SCATTER,
    .check = ring_check,
    .run = ring_reduce_scatter_run,
};
