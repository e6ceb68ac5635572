/*
 * hierarchical.c - all-reduce that follows the nodes, as NCCL and Horovod
 * do on multi-GPU nodes: ring reduce-scatter inside each node, all-reduce
 * of each shard across nodes, ring all-gather inside each node.
 *
 * The group is N >= 2 nodes of g >= 2 members, member k*g + j being the
 * j-th of node k (Group.local = g).  Inside a node the members reduce-
 * scatter the buffer into g blocks (collective_block), so member j holds
 * its node's sum of block j; the g members with the same j, one per node,
 * then all-reduce block j among themselves (ring for "hierarchical", rhd
 * for "hierarchical-rhd"), g such all-reduces side by side; and the node
 * all-gathers the blocks.  Only n/g bytes per member cross the slow links
 * between nodes, in N-1 or lg N steps, instead of the flat ring's p-1
 * steps that each pay the slowest hop.  Every phase is an existing
 * algorithm run on a sub-group, so each element is added in an order
 * fixed by the group (the node's ring, then the nodes' ring or rounds)
 * and copied from there: results are bit-identical on every member.
 *
 * The phases share the caller's channel.  That is safe because messages
 * between one pair of ranks on one channel arrive in the order they were
 * sent (comm.h): the pairs across nodes and the pairs inside a node are
 * disjoint, and the two intra-node phases use the same pairs in the same
 * order on both sides.  Each phase returns only when its last step has
 * copied what it sent (ring.c), so the next may write the buffer.
 */
#include <stdlib.h>
#include <xbt/asserts.h>

#include "collective.h"

static float *hier_at(float *buf, size_t off)
{
    return buf ? buf + off : NULL;
}

static int hier_check(int p, char *why, size_t why_size)
{
    if (p >= 4)
        return 0;
    snprintf(why, why_size,
             "hierarchical needs at least 2 nodes of 2 ranks each, so at least 4 ranks (got %d)",
             p);
    return -1;
}

/* The run of node[from..p) that has node[from]'s value: its length. */
static int hier_run_length(const int *node, int p, int from)
{
    int k = from;
    while (k < p && node[k] == node[from])
        k++;
    return k - from;
}

/* Members per node when node[0..p) is runs of one value each, all of one
 * length; -1 and why otherwise.  *nodes is set to the number of runs. */
static int hier_layout(const int *node, int p, int *nodes, char *why, size_t why_size)
{
    int local = hier_run_length(node, p, 0);
    *nodes = 0;
    for (int k = 0; k < p; k += hier_run_length(node, p, k), (*nodes)++) {
        for (int e = 0; e < k; e++) {
            if (node[e] == node[k]) {
                snprintf(why, why_size,
                         "needs each node's ranks consecutive: ranks %d and %d share a node, but "
                         "rank %d between them does not",
                         e, k, k - 1);
                return -1;
            }
        }
        int len = hier_run_length(node, p, k);
        if (len != local) {
            snprintf(why, why_size,
                     "needs the same number of ranks on every node: the first node has %d of the "
                     "%d ranks, the one from rank %d has %d",
                     local, p, k, len);
            return -1;
        }
    }
    if (*nodes < 2 || local < 2) {
        snprintf(why, why_size,
                 "needs several nodes of several GPUs each: the %d ranks sit on %d node%s%s", p,
                 *nodes, *nodes == 1 ? "" : "s", local == 1 ? ", one each" : "");
        return -1;
    }
    return local;
}

static int hier_ring_nodes(const int *node, int p, int *local, char *why, size_t why_size)
{
    int nodes;
    *local = hier_layout(node, p, &nodes, why, why_size);
    return *local < 0 ? -1 : 0;
}

static int hier_rhd_nodes(const int *node, int p, int *local, char *why, size_t why_size)
{
    int nodes;
    *local = hier_layout(node, p, &nodes, why, why_size);
    if (*local < 0)
        return -1;
    if ((nodes & (nodes - 1)) != 0) {
        snprintf(why, why_size,
                 "needs a power-of-two number of nodes for rhd across them (got %d nodes of %d); "
                 "use hierarchical",
                 nodes, *local);
        return -1;
    }
    return 0;
}

/* Reduce-scatter in the node, `across` among the nodes, all-gather in the
 * node. */
static int hier_run(const Group *g, float *buf, size_t count, const CollectiveOps *across)
{
    const CollectiveOps *rs = collective_find(COLL_REDUCE_SCATTER, "ring");
    const CollectiveOps *ag = collective_find(COLL_ALLGATHER, "ring");
    const int local = g->local, nodes = local > 0 ? g->size / local : 0;
    xbt_assert(rs && ag && across, "the ring algorithms are missing from the table");
    xbt_assert(local >= 2 && nodes >= 2 && nodes * local == g->size,
               "hierarchical all-reduce on %d members, %d per node: not nodes of equal size",
               g->size, local);
    const int node = g->index / local, j = g->index % local;
    int *ranks = malloc((size_t)(local + nodes) * sizeof *ranks);
    xbt_assert(ranks, "out of memory");
    for (int k = 0; k < local; k++)
        ranks[k] = group_rank(g, node * local + k);
    for (int k = 0; k < nodes; k++)
        ranks[local + k] = group_rank(g, k * local + j);
    const Group inside = {.comm = g->comm, .size = local, .ranks = ranks, .index = j};
    const Group among = {.comm = g->comm, .size = nodes, .ranks = ranks + local, .index = node};
    size_t off, len;
    collective_block(count, local, j, &off, &len);
    int rc = rs->run(&inside, buf, count, 0);
    if (rc == 0)
        rc = across->run(&among, hier_at(buf, off), len, 0);
    if (rc == 0)
        rc = ag->run(&inside, buf, count, 0);
    free(ranks);
    return rc;
}

static int hier_ring_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    return hier_run(g, buf, count, collective_find(COLL_ALLREDUCE, "ring"));
}

static int hier_rhd_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    return hier_run(g, buf, count, collective_find(COLL_ALLREDUCE, "rhd"));
}

const CollectiveOps hierarchical_allreduce = {
    .algo = "hierarchical",
    .op = COLL_ALLREDUCE,
    .check = hier_check,
    .check_nodes = hier_ring_nodes,
    .run = hier_ring_run,
};

const CollectiveOps hierarchical_rhd_allreduce = {
    .algo = "hierarchical-rhd",
    .op = COLL_ALLREDUCE,
    .check = hier_check,
    .check_nodes = hier_rhd_nodes,
    .run = hier_rhd_run,
};
