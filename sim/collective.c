/*
 * collective.c - the table of collective algorithms, and what every
 * algorithm shares: how a buffer splits into blocks, and how a member of a
 * group maps to a world rank (see collective.h).
 *
 * Each algorithm lives in its own file in sim/collectives/ and exports one
 * `const CollectiveOps` per operation it implements; adding one is a new
 * file and a line in the table below.  The table is searched by name, so
 * the order of its lines is the order `collective_algos` lists them in.
 */
#include "collective.h"

#include <string.h>

extern const CollectiveOps ring_allreduce;
extern const CollectiveOps ring_allgather;
extern const CollectiveOps ring_reduce_scatter;
extern const CollectiveOps rhd_allreduce;
extern const CollectiveOps tree_allreduce;
extern const CollectiveOps tree_broadcast;
extern const CollectiveOps ps_allreduce;
extern const CollectiveOps hierarchical_allreduce;
extern const CollectiveOps hierarchical_rhd_allreduce;
extern const CollectiveOps ring_flow_allreduce;

static const CollectiveOps *const collective_table[] = {
    &ring_allreduce,         &ring_flow_allreduce,
    &ring_allgather,         &ring_reduce_scatter,
    &rhd_allreduce,          &tree_allreduce,
    &tree_broadcast,         &ps_allreduce,
    &hierarchical_allreduce, &hierarchical_rhd_allreduce,
};

#define COLLECTIVE_COUNT (sizeof collective_table / sizeof collective_table[0])

static const char *const op_names[] = {
    [COLL_ALLREDUCE] = "allreduce",
    [COLL_ALLGATHER] = "allgather",
    [COLL_REDUCE_SCATTER] = "reduce-scatter",
    [COLL_BROADCAST] = "broadcast",
};

#define OP_COUNT (int)(sizeof op_names / sizeof op_names[0])

const CollectiveOps *collective_find(CollOp op, const char *algo)
{
    if (!algo)
        return NULL;
    for (size_t i = 0; i < COLLECTIVE_COUNT; i++)
        if (collective_table[i]->op == op && strcmp(collective_table[i]->algo, algo) == 0)
            return collective_table[i];
    return NULL;
}

const char *collective_op_name(CollOp op)
{
    if ((int)op < 0 || (int)op >= OP_COUNT)
        return "unknown";
    return op_names[op];
}

int collective_op_parse(const char *name)
{
    for (int i = 0; name && i < OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0)
            return i;
    return -1;
}

void collective_algos(CollOp op, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < COLLECTIVE_COUNT; i++) {
        if (collective_table[i]->op != op)
            continue;
        int n =
            snprintf(buf + used, size - used, "%s%s", used ? ", " : "", collective_table[i]->algo);
        if (n < 0 || (size_t)n >= size - used)
            return; /* truncated, still terminated */
        used += (size_t)n;
    }
}

void collective_block(size_t count, int p, int i, size_t *offset, size_t *len)
{
    size_t q = count / (size_t)p, r = count % (size_t)p, u = (size_t)i;
    *len = q + (u < r);
    *offset = u * q + (u < r ? u : r);
}

int group_rank(const Group *g, int i)
{
    return g->ranks ? g->ranks[i] : i;
}
