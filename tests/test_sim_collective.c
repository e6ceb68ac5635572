/*
 * test_sim_collective.c - every collective algorithm moves and adds the
 * right floats, on every member, for awkward group sizes and counts.
 *
 * SimGrid can be initialised once per process, so the whole check is one
 * simulation: every case (an algorithm, a group size, a count) gets its own
 * comm channel and its own hosts, all cases run at once, and each member
 * checks its own result as soon as its collective returns, tallying into a
 * struct the test owns.  After simgrid_run the test compares the members'
 * buffers with each other (all-reduce must be bit-identical everywhere) and
 * asserts how many checks ran, so a case whose actors never ran cannot pass
 * by saying nothing.  Counts are odd (1, 7, 1000, 1001) so blocks are uneven
 * and some are empty; groups of 3 and 5 are not powers of two; one group
 * names non-contiguous world ranks in a shuffled order.  The hierarchical
 * all-reduces run on groups told their node layout (Group.local): the
 * hosts need not form nodes for the floats to be right.  The pool has
 * helper threads, so that the ring steps' deliveries are left for later
 * (comm_ring_step) and each member's check also checks that they were all
 * done by the time its collective returned.
 */
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collective.h"
#include "comm.h"
#include "placement.h"
#include "platform.h"
#include "pool.h"
#include "testutil.h"

#define PLATFORM DTSIM_SOURCE_DIR "/tests/platforms/ideal-64.xml"
#define SENTINEL (-12345.0f) /* what a member holds where data must arrive */

/* What every member reports into (the simulation runs one actor at a time). */
typedef struct Tally {
    int checks;   /* member checks done */
    int failures; /* of which failed */
    char first[256];
} Tally;

typedef struct Case {
    const CollectiveOps *ops;
    int p;
    size_t count;
    int root;         /* broadcast: member index */
    const int *ranks; /* world rank of each member, or NULL */
    int timing_only;  /* NULL buffers: the messages must still all match */
    int local;        /* members per node (Group.local) */
    CommWorld world;
    Comm *comms;   /* (p) */
    Group *groups; /* (p) */
    float **out;   /* (p) each member's buffer after the collective */
    int finished;  /* members whose collective returned */
    Tally *tally;
} Case;

typedef struct Member {
    Case *c;
    int index;
} Member;

/* Member i's contribution at element k: in [0.5, 1.5), rarely exact in
 * float, so that summation order shows in the last bits. */
static float input_value(int i, size_t k)
{
    return 0.5f + (float)((i * 7919 + (long)k * 104729) % 1009) / 1009.0f;
}

static void tally_fail(Tally *t, const Case *c, int i, const char *what)
{
    t->failures++;
    if (t->failures == 1)
        snprintf(t->first, sizeof t->first, "%s %s, p=%d, count=%zu, member %d: %s",
                 collective_op_name(c->ops->op), c->ops->algo, c->p, c->count, i, what);
}

static void fill_input(const Case *c, int i, float *buf)
{
    for (size_t k = 0; k < c->count; k++)
        buf[k] = SENTINEL;
    size_t off = 0, len = c->count;
    switch (c->ops->op) {
    case COLL_ALLGATHER:
        collective_block(c->count, c->p, i, &off, &len);
        break;
    case COLL_BROADCAST:
        if (i != c->root)
            len = 0;
        break;
    default:
        break;
    }
    for (size_t k = off; k < off + len; k++)
        buf[k] = input_value(i, k);
}

/* Largest relative error of buf[off, off+len) against the sum of every
 * member's input, the sum taken serially in double. */
static double sum_error(const Case *c, const float *buf, size_t off, size_t len)
{
    double worst = 0.0;
    for (size_t k = off; k < off + len; k++) {
        double want = 0.0;
        for (int j = 0; j < c->p; j++)
            want += input_value(j, k);
        double err = fabs(buf[k] - want) / fabs(want);
        if (!(err <= worst))
            worst = isnan(err) ? INFINITY : err;
    }
    return worst;
}

/* Does member i hold what the operation promises? */
static void check_member(const Case *c, int i, const float *buf)
{
    char what[128] = "";
    size_t off, len;
    switch (c->ops->op) {
    case COLL_ALLREDUCE:
        if (sum_error(c, buf, 0, c->count) > 1e-5)
            snprintf(what, sizeof what, "not the sum of the inputs");
        break;
    case COLL_REDUCE_SCATTER:
        collective_block(c->count, c->p, i, &off, &len);
        if (sum_error(c, buf, off, len) > 1e-5)
            snprintf(what, sizeof what, "block %d (%zu floats at %zu) not the sum", i, len, off);
        break;
    case COLL_ALLGATHER:
        for (int j = 0; j < c->p && !what[0]; j++) {
            collective_block(c->count, c->p, j, &off, &len);
            for (size_t k = off; k < off + len && !what[0]; k++)
                if (buf[k] != input_value(j, k))
                    snprintf(what, sizeof what, "element %zu of block %d wrong", k, j);
        }
        break;
    case COLL_BROADCAST:
        for (size_t k = 0; k < c->count && !what[0]; k++)
            if (buf[k] != input_value(c->root, k))
                snprintf(what, sizeof what, "element %zu is not the root's", k);
        break;
    }
    c->tally->checks++;
    if (what[0])
        tally_fail(c->tally, c, i, what);
}

static void member_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Member *m = sg_actor_self_get_data();
    Case *c = m->c;
    float *buf = NULL;
    if (!c->timing_only) {
        buf = malloc((c->count ? c->count : 1) * sizeof *buf);
        fill_input(c, m->index, buf);
    }
    c->ops->run(&c->groups[m->index], buf, c->count, c->root);
    if (buf)
        check_member(c, m->index, buf);
    c->out[m->index] = buf;
    c->finished++;
    free(m);
}

/* Set up case c on channel `channel`, its members on distinct hosts. */
static void case_start(Case *c, int channel, sg_host_t *hosts, size_t nhosts)
{
    int world_size = c->p;
    for (int i = 0; c->ranks && i < c->p; i++)
        if (c->ranks[i] + 1 > world_size)
            world_size = c->ranks[i] + 1;
    DtError err = {0};
    CU_ASSERT_FATAL(comm_world_init(&c->world, world_size, NULL, 4.0, &err) == 0);
    c->comms = calloc((size_t)c->p, sizeof *c->comms);
    c->groups = calloc((size_t)c->p, sizeof *c->groups);
    c->out = calloc((size_t)c->p, sizeof *c->out);
    CU_ASSERT_FATAL(c->comms && c->groups && c->out);
    for (int i = 0; i < c->p; i++) {
        c->groups[i] = (Group){
            .comm = &c->comms[i], .size = c->p, .ranks = c->ranks, .index = i, .local = c->local};
        int rank = group_rank(&c->groups[i], i);
        c->comms[i] = (Comm){.world = &c->world, .rank = rank, .channel = channel};
        Member *m = malloc(sizeof *m);
        CU_ASSERT_FATAL(m != NULL);
        *m = (Member){.c = c, .index = i};
        char name[48];
        snprintf(name, sizeof name, "case%d-member%d", channel, i);
        sg_actor_t a = sg_actor_init(name, hosts[((size_t)channel * 5 + (size_t)rank) % nhosts]);
        sg_actor_set_data(a, m);
        sg_actor_start(a, member_main, 0, NULL);
    }
}

static int is_power_of_two(int p)
{
    return p > 0 && (p & (p - 1)) == 0;
}

/* After the simulation: did every member finish, and does every member of
 * an all-reduce hold member 0's bits?  Then free the case's buffers. */
static void case_finish(Case *c, Tally *tally, int *identical, int *unfinished)
{
    *unfinished += c->finished != c->p;
    if (c->ops->op == COLL_ALLREDUCE && !c->timing_only) {
        for (int i = 1; i < c->p; i++) {
            (*identical)++;
            if (!c->out[0] || !c->out[i] ||
                memcmp(c->out[0], c->out[i], c->count * sizeof(float)) != 0)
                tally_fail(tally, c, i, "differs from member 0 in some bits");
        }
    }
    for (int i = 0; i < c->p; i++)
        free(c->out[i]);
    free(c->out);
    free(c->comms);
    free(c->groups);
    comm_world_free(&c->world);
}

/* Does every member of ring-flow case f hold, bit for bit, what the same
 * members of the ring all-reduce hold on the same inputs?  Counts the
 * comparisons in *compared; 0 when no ring case matches f. */
static int same_as_ring(const Case *cases, int ncases, const Case *f, int *compared)
{
    for (int k = 0; k < ncases; k++) {
        const Case *r = &cases[k];
        if (r->ops->op != COLL_ALLREDUCE || strcmp(r->ops->algo, "ring") != 0 || r->p != f->p ||
            r->count != f->count || r->ranks != f->ranks || r->local != f->local)
            continue;
        for (int i = 0; i < f->p; i++) {
            (*compared)++;
            if (!r->out[i] || !f->out[i] ||
                memcmp(r->out[i], f->out[i], f->count * sizeof(float)) != 0)
                return 0;
        }
        return 1;
    }
    return 0;
}

/* The hierarchical all-reduces on nodes x members per node, rhd across
 * only for a power-of-two number of nodes; the shuffled group as 2 nodes
 * of 2; one timing-only case each.  Appends to cases; returns how many. */
static int hierarchical_cases(Case *cases, Tally *tally, int *want_checks, int *want_identical)
{
    static const int layouts[][2] = {{2, 2}, {2, 3}, {3, 2}, {2, 4}, {4, 2}, {3, 3}};
    static const size_t counts[] = {1, 7, 1000, 1001};
    static const int shuffled[] = {7, 2, 9, 4}; /* world ranks: nodes {7, 2} and {9, 4} */
    const char *algos[] = {"hierarchical", "hierarchical-rhd"};
    int n = 0;
    for (int a = 0; a < 2; a++) {
        const CollectiveOps *ops = collective_find(COLL_ALLREDUCE, algos[a]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
        for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
            const int nodes = layouts[l][0], local = layouts[l][1], p = nodes * local;
            if (a == 1 && !is_power_of_two(nodes))
                continue;
            for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                cases[n++] =
                    (Case){.ops = ops, .p = p, .count = counts[k], .local = local, .tally = tally};
                *want_checks += p;
                *want_identical += p - 1;
            }
        }
        cases[n++] = (Case){
            .ops = ops, .p = 4, .count = 1001, .local = 2, .ranks = shuffled, .tally = tally};
        *want_checks += 4;
        *want_identical += 3;
        cases[n++] =
            (Case){.ops = ops, .p = 8, .count = 1001, .local = 4, .timing_only = 1, .tally = tally};
    }
    return n;
}

static void test_collectives_on_every_member(void)
{
    static const int sizes[] = {2, 3, 4, 5, 8};
    static const size_t counts[] = {1, 7, 1000, 1001};
    static const int shuffled[] = {7, 2, 9, 4, 0}; /* world ranks of a 5-member group */
    const CollectiveOps *all[] = {
        collective_find(COLL_ALLREDUCE, "ring"),      collective_find(COLL_ALLGATHER, "ring"),
        collective_find(COLL_REDUCE_SCATTER, "ring"), collective_find(COLL_ALLREDUCE, "rhd"),
        collective_find(COLL_ALLREDUCE, "tree"),      collective_find(COLL_BROADCAST, "tree"),
        collective_find(COLL_ALLREDUCE, "ps"),        collective_find(COLL_ALLREDUCE, "ring-flow"),
    };
    const int nalgos = (int)(sizeof all / sizeof all[0]);
    for (int a = 0; a < nalgos; a++)
        CU_ASSERT_PTR_NOT_NULL_FATAL(all[a]);

    Tally tally = {0};
    Case *cases = calloc(512, sizeof *cases);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cases);
    int ncases = 0, want_checks = 0, want_identical = 0;
    for (int a = 0; a < nalgos; a++) {
        const int rhd = strcmp(all[a]->algo, "rhd") == 0;
        const int allreduce = all[a]->op == COLL_ALLREDUCE;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            if (rhd && !is_power_of_two(sizes[s]))
                continue;
            for (size_t n = 0; n < sizeof counts / sizeof counts[0]; n++) {
                cases[ncases++] = (Case){.ops = all[a],
                                         .p = sizes[s],
                                         .count = counts[n],
                                         .root = sizes[s] - 1,
                                         .tally = &tally};
                want_checks += sizes[s];
                want_identical += allreduce ? sizes[s] - 1 : 0;
            }
        }
        /* The shuffled non-contiguous group (its first four for rhd). */
        for (size_t n = 0; n < sizeof counts / sizeof counts[0]; n++) {
            int p = rhd ? 4 : 5;
            cases[ncases++] = (Case){.ops = all[a],
                                     .p = p,
                                     .count = counts[n],
                                     .root = 2,
                                     .ranks = shuffled,
                                     .tally = &tally};
            want_checks += p;
            want_identical += allreduce ? p - 1 : 0;
        }
        /* Timing-only: the same messages, nothing to check but completion. */
        cases[ncases++] = (Case){.ops = all[a],
                                 .p = rhd ? 8 : 5,
                                 .count = 1001,
                                 .root = 1,
                                 .timing_only = 1,
                                 .tally = &tally};
    }
    /* 8 algorithms x 5 sizes x 4 counts, minus rhd on 3 and 5; 5 extra per algorithm */
    CU_ASSERT_EQUAL_FATAL(ncases, (8 * 5 - 2) * 4 + 8 * 5);
    /* hierarchical on 6 layouts, rhd across on 4 of them, x 4 counts; 2 extra each */
    ncases += hierarchical_cases(cases + ncases, &tally, &want_checks, &want_identical);
    CU_ASSERT_EQUAL_FATAL(ncases, (8 * 5 - 2) * 4 + 8 * 5 + (6 + 4) * 4 + 2 * 2);

    SimOptions opts = {0};
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(platform_check(PLATFORM, &opts, &err), 64);
    platform_load(PLATFORM, &opts, NULL);
    size_t nhosts;
    sg_host_t *hosts = placement_all_hosts(&nhosts);
    CU_ASSERT_EQUAL_FATAL(nhosts, 64);
    for (int k = 0; k < ncases; k++)
        case_start(&cases[k], k, hosts, nhosts);
    CU_ASSERT_EQUAL(pool_start(3), 0);
    simgrid_run();
    pool_stop();
    free(hosts);

    /* ring-flow against the ring: 5 sizes x 4 counts and the shuffled group x 4 */
    int compared = 0, flows = 0;
    for (int k = 0; k < ncases; k++) {
        const Case *f = &cases[k];
        if (strcmp(f->ops->algo, "ring-flow") != 0 || f->timing_only)
            continue;
        flows++;
        if (!same_as_ring(cases, ncases, f, &compared))
            tally_fail(&tally, f, 0, "differs from the ring's all-reduce in some bits");
    }
    CU_ASSERT_EQUAL(flows, 5 * 4 + 4);
    CU_ASSERT_EQUAL(compared, (2 + 3 + 4 + 5 + 8) * 4 + 5 * 4);

    int identical = 0, unfinished = 0;
    for (int k = 0; k < ncases; k++)
        case_finish(&cases[k], &tally, &identical, &unfinished);
    free(cases);
    if (tally.failures)
        fprintf(stderr, "\n  %d of %d checks failed; first: %s\n", tally.failures,
                tally.checks + identical, tally.first);
    CU_ASSERT_EQUAL(unfinished, 0);
    CU_ASSERT_EQUAL(tally.checks, want_checks);
    CU_ASSERT_EQUAL(identical, want_identical);
    CU_ASSERT_EQUAL(tally.failures, 0);
}

static void test_block_split(void)
{
    for (size_t count = 0; count < 40; count++) {
        for (int p = 1; p <= 9; p++) {
            size_t next = 0;
            for (int i = 0; i < p; i++) {
                size_t off, len;
                collective_block(count, p, i, &off, &len);
                CU_ASSERT_EQUAL(off, next);
                CU_ASSERT_EQUAL(len, count / (size_t)p + ((size_t)i < count % (size_t)p));
                next = off + len;
            }
            CU_ASSERT_EQUAL(next, count);
        }
    }
}

static void test_table(void)
{
    CU_ASSERT_PTR_NOT_NULL(collective_find(COLL_ALLREDUCE, "ring"));
    CU_ASSERT_PTR_NOT_NULL(collective_find(COLL_ALLREDUCE, "rhd"));
    CU_ASSERT_PTR_NOT_NULL(collective_find(COLL_ALLREDUCE, "tree"));
    CU_ASSERT_PTR_NOT_NULL(collective_find(COLL_ALLGATHER, "ring"));
    CU_ASSERT_PTR_NOT_NULL(collective_find(COLL_REDUCE_SCATTER, "ring"));
    CU_ASSERT_PTR_NOT_NULL(collective_find(COLL_BROADCAST, "tree"));
    CU_ASSERT_PTR_NULL(collective_find(COLL_ALLGATHER, "rhd"));
    CU_ASSERT_PTR_NULL(collective_find(COLL_BROADCAST, "ring"));
    CU_ASSERT_PTR_NULL(collective_find(COLL_ALLREDUCE, "butterfly"));
    CU_ASSERT_PTR_NULL(collective_find(COLL_ALLREDUCE, NULL));
    const CollectiveOps *f = collective_find(COLL_REDUCE_SCATTER, "ring");
    CU_ASSERT(f && f->op == COLL_REDUCE_SCATTER && strcmp(f->algo, "ring") == 0);

    const char *names[] = {"allreduce", "allgather", "reduce-scatter", "broadcast"};
    for (int op = 0; op < 4; op++) {
        CU_ASSERT_STRING_EQUAL(collective_op_name((CollOp)op), names[op]);
        CU_ASSERT_EQUAL(collective_op_parse(names[op]), op);
    }
    CU_ASSERT_EQUAL(collective_op_parse("alltoall"), -1);
    CU_ASSERT_EQUAL(collective_op_parse(""), -1);

    char buf[64];
    collective_algos(COLL_ALLREDUCE, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "ring, ring-flow, rhd, tree, ps, hierarchical, hierarchical-rhd");
    collective_algos(COLL_BROADCAST, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "tree");
    collective_algos(COLL_ALLREDUCE, buf, 6); /* truncated, still a string */
    CU_ASSERT(strlen(buf) < 6);
}

static void test_checks(void)
{
    char why[128];
    const CollectiveOps *rhd = collective_find(COLL_ALLREDUCE, "rhd");
    const CollectiveOps *ring = collective_find(COLL_ALLREDUCE, "ring");
    const CollectiveOps *tree = collective_find(COLL_BROADCAST, "tree");
    for (int p = 1; p <= 64; p *= 2)
        CU_ASSERT_EQUAL(rhd->check(p, why, sizeof why), 0);
    why[0] = '\0';
    CU_ASSERT_EQUAL(rhd->check(6, why, sizeof why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "power-of-two"));
    CU_ASSERT_EQUAL(rhd->check(0, why, sizeof why), -1);
    for (int p = 1; p <= 9; p++) {
        CU_ASSERT_EQUAL(ring->check(p, why, sizeof why), 0);
        CU_ASSERT_EQUAL(tree->check(p, why, sizeof why), 0);
    }
    CU_ASSERT_EQUAL(ring->check(0, why, sizeof why), -1);
}

/* check_nodes on a layout: its result, and Group.local or a word of why. */
static void expect_nodes(const CollectiveOps *ops, const int *node, int p, int want_local,
                         const char *want_why)
{
    char why[256] = "";
    int local = -7;
    int rc = ops->check_nodes(node, p, &local, why, sizeof why);
    if (want_why) {
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, want_why));
    } else {
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(local, want_local);
    }
}

static void test_hierarchical_checks(void)
{
    const CollectiveOps *ring = collective_find(COLL_ALLREDUCE, "hierarchical");
    const CollectiveOps *rhd = collective_find(COLL_ALLREDUCE, "hierarchical-rhd");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ring);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rhd);
    CU_ASSERT_PTR_NULL(collective_find(COLL_ALLREDUCE, "ring")->check_nodes);
    char why[256];
    CU_ASSERT_EQUAL(ring->check(3, why, sizeof why), -1);
    CU_ASSERT_EQUAL(ring->check(4, why, sizeof why), 0);
    CU_ASSERT_EQUAL(rhd->check(6, why, sizeof why), 0); /* the nodes decide */

    const int two_by_two[] = {5, 5, 3, 3}, one_node[] = {0, 0, 0, 0}, each[] = {0, 1, 2, 3};
    const int unequal[] = {0, 0, 0, 1, 1}, split[] = {0, 1, 0, 1}, three[] = {0, 0, 1, 1, 2, 2};
    expect_nodes(ring, two_by_two, 4, 2, NULL);
    expect_nodes(rhd, two_by_two, 4, 2, NULL);
    expect_nodes(ring, one_node, 4, 0, "sit on 1 node");
    expect_nodes(ring, each, 4, 0, "sit on 4 nodes, one each");
    expect_nodes(ring, unequal, 5, 0, "same number of ranks on every node");
    expect_nodes(ring, split, 4, 0, "ranks 0 and 2 share a node");
    expect_nodes(ring, three, 6, 2, NULL);
    expect_nodes(rhd, three, 6, 0, "power-of-two number of nodes");
}

static void test_group_rank(void)
{
    const int ranks[] = {7, 2, 9};
    Group g = {.comm = NULL, .size = 3, .ranks = ranks, .index = 1};
    CU_ASSERT_EQUAL(group_rank(&g, 0), 7);
    CU_ASSERT_EQUAL(group_rank(&g, 2), 9);
    g.ranks = NULL;
    CU_ASSERT_EQUAL(group_rank(&g, 2), 2);
}

/* Half-precision and bfloat16 rounding of message floats, ties to even:
 * normal, subnormal, overflow and exact values. */
static void test_rounding(void)
{
    CU_ASSERT_EQUAL(comm_round_fp16(1.0f), 1.0f);
    CU_ASSERT_EQUAL(comm_round_fp16(0.1f), 0.0999755859375f);
    CU_ASSERT_EQUAL(comm_round_fp16(-3.14159265f), -3.140625f);
    CU_ASSERT_EQUAL(comm_round_fp16(65504.0f), 65504.0f);
    CU_ASSERT_EQUAL(comm_round_fp16(65519.0f), 65504.0f);
    CU_ASSERT_TRUE(isinf(comm_round_fp16(65520.0f)));
    CU_ASSERT_EQUAL(comm_round_fp16(1.0f + 0x1p-11f), 1.0f);               /* a tie: to even */
    CU_ASSERT_EQUAL(comm_round_fp16(1.0f + 3 * 0x1p-11f), 1.0f + 0x1p-9f); /* a tie: to even */
    CU_ASSERT_EQUAL(comm_round_fp16(3e-8f), 0x1p-24f);                     /* subnormal */
    CU_ASSERT_EQUAL(comm_round_fp16(2e-8f), 0.0f);
    CU_ASSERT_EQUAL(comm_round_fp16(1e-5f), 0x1p-24f * 168);
    CU_ASSERT_EQUAL(comm_round_bf16(1.0f), 1.0f);
    CU_ASSERT_EQUAL(comm_round_bf16(0.1f), 0.10009765625f);
    CU_ASSERT_EQUAL(comm_round_bf16(1.0f + 0x1p-8f), 1.0f); /* a tie: to even */
    CU_ASSERT_EQUAL(comm_round_bf16(-2.5f), -2.5f);
    CU_ASSERT_TRUE(isinf(comm_round_bf16(INFINITY)));
}

int main(void)
{
    CU_TestInfo pure[] = {
        {"blocks tile the buffer, larger first", test_block_split},
        {"table, names and algorithm lists", test_table},
        {"algorithms say which group sizes they take", test_checks},
        {"group members map to world ranks", test_group_rank},
        {"hierarchical all-reduces check their nodes", test_hierarchical_checks},
        {"messages rounded to fp16 and bf16", test_rounding},
        CU_TEST_INFO_NULL,
    };
    CU_TestInfo simulated[] = {
        {"every member holds the right floats", test_collectives_on_every_member},
        CU_TEST_INFO_NULL,
    };
    CU_SuiteInfo suites[] = {
        {"collective table", NULL, NULL, NULL, NULL, pure},
        {"collectives in one simulation", NULL, NULL, NULL, NULL, simulated},
        CU_SUITE_INFO_NULL,
    };
    return test_run_suites(suites);
}
