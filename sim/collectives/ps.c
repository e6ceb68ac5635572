/*
 * ps.c - all-reduce through one parameter server: every member sends its
 * buffer to member 0, which adds them in member order and sends the sum
 * back to everybody.
 *
 * The pattern of a single parameter server, as a collective: member 0's
 * port carries (p-1) buffers in and (p-1) out, so on an ideal network it
 * costs 2 (alpha + (p-1) n beta), against a ring's 2 (p-1)/p n beta.  It is
 * here to be compared with the others (`dtsim collective --algo ps`).
 */
#include <stdlib.h>
#include <xbt/asserts.h>

#include "collective.h"

static int ps_check(int p, char *why, size_t why_size)
{
    if (p >= 1)
        return 0;
    snprintf(why, why_size, "ps needs at least one rank (got %d)", p);
    return -1;
}

static int ps_allreduce_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    const int p = g->size;
    if (p < 2)
        return 0;
    if (g->index != 0) {
        if (comm_send(g->comm, group_rank(g, 0), buf, count) < 0)
            return -1;
        return comm_recv(g->comm, group_rank(g, 0), buf, count);
    }
    /* receive everybody's buffer at once, then add in member order */
    float *in = buf ? malloc((size_t)(p - 1) * count * sizeof *in + 1) : NULL;
    xbt_assert(!buf || in, "out of memory for %d buffers of %zu floats", p - 1, count);
    CommRequest **reqs = malloc((size_t)(p - 1) * sizeof *reqs);
    xbt_assert(reqs, "out of memory");
    for (int i = 1; i < p; i++)
        reqs[i - 1] =
            comm_irecv(g->comm, group_rank(g, i), in ? in + (size_t)(i - 1) * count : NULL, count);
    int rc = comm_waitall(g->comm, reqs, p - 1);
    for (int i = 1; i < p && buf && rc == 0; i++) {
        const float *x = in + (size_t)(i - 1) * count;
        for (size_t k = 0; k < count; k++)
            buf[k] += x[k];
    }
    free(in);
    for (int i = 1; i < p && rc == 0; i++)
        reqs[i - 1] = comm_isend(g->comm, group_rank(g, i), buf, count);
    if (rc == 0)
        rc = comm_waitall(g->comm, reqs, p - 1);
    free(reqs);
    return rc;
}

const CollectiveOps ps_allreduce = {
    .algo = "ps",
    .op = COLL_ALLREDUCE,
    .check = ps_check,
    .run = ps_allreduce_run,
};
