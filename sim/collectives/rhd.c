/*
 * rhd.c - all-reduce by recursive halving and doubling (Rabenseifner's
 * algorithm), for a power-of-two number of members.
 *
 * Reduce-scatter by recursive halving: in round k (partner at distance
 * p/2, p/4, ..., 1) the two partners share the same range of the buffer,
 * split it in two (collective_block halves, so odd lengths are fine), each
 * sends the half it gives up and adds the half it keeps.  After lg p rounds
 * each member owns a 1/p share, fully summed.  Allgather by recursive
 * doubling replays the rounds backwards, partners swapping finished
 * halves.  The ring's bandwidth term with lg p latencies instead of p-1:
 * the algorithm of choice for short and medium messages.  Every element
 * is added up by exactly one member, in an order fixed by the rounds, and
 * copied to the others, so results are bit-identical everywhere.
 */
#include <stdlib.h>
#include <xbt/asserts.h>

#include "collective.h"

#define RHD_MAX_ROUNDS 32

typedef struct RhdRange {
    size_t off, len;
} RhdRange;

static float *rhd_at(float *buf, size_t off)
{
    return buf ? buf + off : NULL;
}

/* Split r into the half a member keeps and the half it gives its partner;
 * the lower half (the larger one for odd lengths) goes to the member whose
 * bit for this round is 0. */
static void rhd_split(RhdRange r, int keep_lower, RhdRange *keep, RhdRange *give)
{
    RhdRange lower, upper;
    collective_block(r.len, 2, 0, &lower.off, &lower.len);
    collective_block(r.len, 2, 1, &upper.off, &upper.len);
    lower.off += r.off;
    upper.off += r.off;
    *keep = keep_lower ? lower : upper;
    *give = keep_lower ? upper : lower;
}

static int rhd_check(int p, char *why, size_t why_size)
{
    if (p >= 1 && (p & (p - 1)) == 0)
        return 0;
    snprintf(why, why_size, "rhd needs a power-of-two number of ranks (got %d); use ring or tree",
             p);
    return -1;
}

static int rhd_allreduce_run(const Group *g, float *buf, size_t count, int root)
{
    (void)root;
    const int p = g->size, i = g->index;
    xbt_assert((p & (p - 1)) == 0, "rhd on %d members: not a power of two", p);
    RhdRange before[RHD_MAX_ROUNDS]; /* the range each halving round split */
    int rounds = 0;
    RhdRange cur = {0, count};
    float *scratch = NULL;
    if (buf && p > 1) {
        size_t half = count - count / 2;
        scratch = malloc((half ? half : 1) * sizeof *scratch);
        xbt_assert(scratch, "out of memory for an rhd round of %zu floats", half);
    }

    for (int mask = p / 2; mask > 0; mask /= 2, rounds++) {
        RhdRange keep, give;
        rhd_split(cur, (i & mask) == 0, &keep, &give);
        if (comm_sendrecv(g->comm, group_rank(g, i ^ mask), rhd_at(buf, give.off), give.len,
                          group_rank(g, i ^ mask), scratch, keep.len) < 0) {
            free(scratch);
            return -1;
        }
        if (buf)
            for (size_t k = 0; k < keep.len; k++)
                buf[keep.off + k] += scratch[k];
        before[rounds] = cur;
        cur = keep;
    }

    for (int mask = 1; mask < p; mask *= 2) {
        /* Undo the halving round that used this mask: swap the halves. */
        const RhdRange whole = before[--rounds];
        RhdRange mine, theirs;
        rhd_split(whole, (i & mask) == 0, &mine, &theirs);
        if (comm_sendrecv(g->comm, group_rank(g, i ^ mask), rhd_at(buf, mine.off), mine.len,
                          group_rank(g, i ^ mask), rhd_at(buf, theirs.off), theirs.len) < 0) {
            free(scratch);
            return -1;
        }
    }
    free(scratch);
    return 0;
}

const CollectiveOps rhd_allreduce = {
    .algo = "rhd",
    .op = COLL_ALLREDUCE,
    .check = rhd_check,
    .run = rhd_allreduce_run,
};
