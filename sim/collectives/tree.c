/*
 * tree.c - binomial trees: broadcast from a root, and all-reduce as a
 * binomial reduce to member 0 followed by a broadcast from it.
 *
 * In a binomial tree every member that already holds the data passes it on
 * in each round, so ceil(lg p) rounds reach everybody; each round moves the
 * whole buffer, which makes the tree latency-friendly and bandwidth-poor
 * (see collective.h for the costs).  A member sends to its children one
 * after the other, farthest subtree first, as MPICH does, so no link is
 * shared and each round costs one message time.  The reduce walks the same
 * tree upwards: a member adds its children's partial sums as own + child,
 * nearest child first, and the broadcast then hands member 0's sum to
 * everybody, so all members end bit-identical.
 */
#include <stdlib.h>
#include <xbt/asserts.h>

#include "collective.h"

static int tree_check(int p, char *why, size_t why_size)
{
    if (p >= 1)
        return 0;
    snprintf(why, why_size, "tree needs at least one rank (got %d)", p);
    return -1;
}

/* Binomial broadcast of buf from member root (an index into the group). */
static int tree_broadcast_run(const Group *g, float *buf, size_t count, int root)
{
    const int p = g->size;
    const int vr = (g->index - root + p) % p; /* position relative to the root */
    int mask = 1;
    while (mask < p) {
        if (vr & mask) {
            if (comm_recv(g->comm, group_rank(g, (vr - mask + root) % p), buf, count) < 0)
                return -1;
            break;
        }
        mask <<= 1;
    }
    for (mask >>= 1; mask > 0; mask >>= 1)
        if (vr + mask < p &&
            comm_send(g->comm, group_rank(g, (vr + mask + root) % p), buf, count) < 0)
            return -1;
    return 0;
}

/* Binomial reduce: member 0 ends with the sum of every member's buf. */
static int tree_reduce(const Group *g, float *buf, size_t count)
{
    const int p = g->size, vr = g->index;
    float *scratch = NULL;
    if (buf && p > 1) {
        scratch = malloc((count ? count : 1) * sizeof *scratch);
        xbt_assert(scratch, "out of memory for a tree reduce of %zu floats", count);
    }
    int rc = 0;
    for (int mask = 1; mask < p && rc == 0; mask <<= 1) {
        if (vr & mask) {
            rc = comm_send(g->comm, group_rank(g, vr - mask), buf, count);
            break;
        }
        if (vr + mask < p) {
            rc = comm_recv(g->comm, group_rank(g, vr + mask), scratch, count);
            if (buf && rc == 0)
                for (size_t k = 0; k < count; k++)
                    buf[k] += scratch[k];
        }
    }
    free(scratch);
    return rc;
}

static int tree_allreduce_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    if (tree_reduce(g, buf, count) < 0)
        return -1;
    return tree_broadcast_run(g, buf, count, 0);
}

const CollectiveOps tree_allreduce = {
    .algo = "tree",
    .op = COLL_ALLREDUCE,
    .check = tree_check,
    .run = tree_allreduce_run,
};

const CollectiveOps tree_broadcast = {
    .algo = "tree",
    .op = COLL_BROADCAST,
    .check = tree_check,
    .run = tree_broadcast_run,
};
