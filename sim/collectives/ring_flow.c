/*
 * ring_flow.c - "ring-flow": the ring all-reduce of ring.c, with the
 * 2(p-1) messages each member sends to its right neighbour merged into one
 * flow, for groups where the ring's steps would cost the simulator far more
 * than they tell (a tensor-parallel group inside a node does six
 * all-reduces per transformer block and micro-batch).
 *
 * What it simulates, on each member: a meeting of the group (the
 * all-reduce begins when the last member arrives, as the ring cannot get
 * far before); one flow to the right neighbour of all the bytes the ring
 * would send it, 2 (p-1) blocks, received the same way from the left; a
 * second meeting (the ring's members finish together, each step waiting
 * for its neighbours), where the group pauses for the latency of the
 * ring's other 2(p-1) - 1 steps.  The latency is measured once per group: the
 * first call exchanges an empty message with the neighbours (one of the
 * steps' latencies, so that call pauses one step less).  On an ideal
 * network (DESIGN.md) that is the ring's time to the rounding,
 * 2(p-1) alpha + 2 (p-1)/p n beta, with the same bytes on the same links
 * and a fourteenth of the simulator's messages for a ring of 8; what it
 * does not show is how other traffic interleaves with the steps (one flow
 * shares a link as a long message does).
 *
 * The arithmetic is the ring's, to the bit: at the second meeting the last
 * member to arrive sums every block along the ring, starting at member
 * b+1 and ending at member b for block b (own + incoming, as ring.c's
 * reduce-scatter adds), and writes it to every member's buffer, as the
 * ring's all-gather would.
 */
#include "collective.h"

#include <math.h>
#include <string.h>
#include <simgrid/engine.h>

/* What a member brings to the meetings. */
typedef struct FlowMember {
    float *buf; /* (count) or NULL: timing only */
    size_t count;
    double probe; /* seconds the empty exchange took on the first call, or NAN */
} FlowMember;

static int flow_check(int p, char *why, size_t why_size)
{
    if (p >= 1)
        return 0;
    snprintf(why, why_size, "ring-flow needs at least one rank (got %d)", p);
    return -1;
}

/* Floats the ring sends from member i to its right: every block but its
 * own in the reduce-scatter, every block but its right neighbour's in the
 * all-gather. */
static size_t flow_floats(size_t count, int p, int i)
{
    size_t off, own, next;
    collective_block(count, p, i, &off, &own);
    collective_block(count, p, (i + 1) % p, &off, &next);
    return 2 * count - own - next;
}

/* At the second meeting: the group's latency (the slowest empty exchange),
 * on the first call; every block summed in the ring's order and written
 * to every member; returns the pause for the ring's other latencies. */
static double flow_sum(void *const *args, int p, double *memo)
{
    FlowMember *const *m = (FlowMember *const *)args;
    int probed = isnan(*memo);
    if (probed) {
        double alpha = 0.0;
        for (int i = 0; i < p; i++)
            if (m[i]->probe > alpha)
                alpha = m[i]->probe;
        *memo = alpha;
    }
    double pause = (2 * (p - 1) - 1 - probed) * *memo;
    if (!m[0]->buf)
        return pause;
    /* a tile of each block at a time, so that each member's buffer is read
     * and written along its length (one member after another, not the
     * members in turn at each index) */
    enum { TILE = 512 };
    float s[TILE];
    for (int b = 0; b < p; b++) {
        size_t off, len;
        collective_block(m[0]->count, p, b, &off, &len);
        for (size_t at = off; at < off + len; at += TILE) {
            size_t n = off + len - at < TILE ? off + len - at : TILE;
            memcpy(s, m[(b + 1) % p]->buf + at, n * sizeof *s);
            for (int j = 2; j <= p; j++) {
                const float *x = m[(b + j) % p]->buf + at;
                for (size_t k = 0; k < n; k++)
                    s[k] = x[k] + s[k];
            }
            for (int j = 0; j < p; j++)
                memcpy(m[j]->buf + at, s, n * sizeof *s);
        }
    }
    return pause;
}

static int flow_allreduce_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    const int p = g->size, i = g->index;
    if (p < 2)
        return 0;
    const Comm *c = g->comm;
    const int first = group_rank(g, 0);
    const int right = group_rank(g, (i + 1) % p), left = group_rank(g, (i + p - 1) % p);
    FlowMember me = {.buf = buf, .count = count, .probe = NAN};
    const int probing = isnan(comm_meet(c, first, p, i, &me, NULL));
    if (probing) {
        double t = simgrid_get_clock();
        if (comm_sendrecv(c, right, NULL, 0, left, NULL, 0) < 0)
            return -1;
        me.probe = simgrid_get_clock() - t;
    }
    if (comm_sendrecv(c, right, NULL, flow_floats(count, p, i), left, NULL,
                      flow_floats(count, p, (i + p - 1) % p)) < 0)
        return -1;
    comm_meet(c, first, p, i, &me, flow_sum);
    return 0;
}

const CollectiveOps ring_flow_allreduce = {
    .algo = "ring-flow",
    .op = COLL_ALLREDUCE,
    .check = flow_check,
    .run = flow_allreduce_run,
};
