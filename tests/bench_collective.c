/*
 * bench_collective.c - how many simulated messages per wall second dtsim's
 * ring all-reduce sustains, against bare SimGrid doing the same traffic.
 *
 * Mode "dtsim" runs sim/collectives/ring.c on real float buffers through
 * sim/comm.c: every message copies its floats into a heap message, names
 * its mailbox, and the receiver copies them out and adds them.  Mode "bare"
 * is what a SimGrid user would write by hand for the same pattern: each
 * rank makes the same 2(p-1) ring steps, each an sg_mailbox_put_async of a
 * malloc'd payload of the block's size to its right neighbour and an
 * sg_mailbox_get_async from its left, both waited for together, with
 * mailboxes looked up once.  The ratio of the two is dtsim's overhead per
 * message.  SimGrid initialises once per process, so each mode is its own
 * run (tests/bench_collective.sh runs both and prints them side by side);
 * only simgrid_run() is timed.
 *
 * Usage: bench_collective dtsim|bare PLATFORM [COUNT] [ALLREDUCES] [--cfg=...]...
 * COUNT floats per rank (default 65536), every host of PLATFORM a rank.
 */
#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collective.h"
#include "placement.h"
#include "platform.h"

/* What every rank of a run shares (read-only during the run). */
typedef struct Bench {
    int p;
    size_t count;
    int allreduces;
    const CollectiveOps *ring;
    CommWorld world;
} Bench;

typedef struct BenchRank {
    const Bench *b;
    int rank;
    Comm comm;
    Group group;
} BenchRank;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void dtsim_rank(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    BenchRank *r = sg_actor_self_get_data();
    const Bench *b = r->b;
    float *buf = malloc(b->count * sizeof *buf);
    for (size_t k = 0; k < b->count; k++)
        buf[k] = (float)((r->rank + (int)k) % 7) * 0.25f;
    for (int rep = 0; rep < b->allreduces; rep++)
        b->ring->run(&r->group, buf, b->count, 0);
    free(buf);
}

static void bare_rank(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    BenchRank *r = sg_actor_self_get_data();
    const Bench *b = r->b;
    char name[32];
    snprintf(name, sizeof name, "bare%d", (r->rank + 1) % b->p);
    sg_mailbox_t to_right = sg_mailbox_by_name(name);
    snprintf(name, sizeof name, "bare%d", r->rank);
    sg_mailbox_t from_left = sg_mailbox_by_name(name);
    size_t block = b->count / (size_t)b->p * sizeof(float);
    for (int rep = 0; rep < b->allreduces; rep++) {
        for (int step = 0; step < 2 * (b->p - 1); step++) {
            void *got = NULL;
            sg_comm_t comms[2] = {sg_mailbox_get_async(from_left, &got),
                                  sg_mailbox_put_async(to_right, malloc(block), (long)block)};
            sg_comm_wait_all(comms, 2);
            free(got);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "dtsim") != 0 && strcmp(argv[1], "bare") != 0)) {
        fprintf(stderr, "usage: %s dtsim|bare PLATFORM [COUNT] [ALLREDUCES] [--cfg=...]...\n",
                argv[0]);
        return 2;
    }
    const int bare = strcmp(argv[1], "bare") == 0;
    const char *platform = argv[2];
    SimOptions opts = {0};
    DtError err = {0};
    int npos = 0;
    long pos[2] = {65536, 1};
    for (int i = 3; i < argc; i++) {
        if (strncmp(argv[i], "--cfg=", 6) == 0 && sim_options_add(&opts, argv[i] + 6, &err) < 0) {
            fprintf(stderr, "bench_collective: %s\n", err.msg);
            return 2;
        } else if (strncmp(argv[i], "--cfg=", 6) != 0 && npos < 2) {
            pos[npos++] = atol(argv[i]);
        }
    }
    int nhosts = platform_check(platform, &opts, &err);
    if (nhosts < 2 || pos[0] < nhosts || pos[1] < 1) {
        fprintf(stderr, "bench_collective: %s\n",
                nhosts < 0 ? err.msg : "need 2+ hosts, COUNT >= hosts, ALLREDUCES >= 1");
        return 2;
    }

    Bench b = {.p = nhosts,
               .count = (size_t)pos[0],
               .allreduces = (int)pos[1],
               .ring = collective_find(COLL_ALLREDUCE, "ring")};
    if (comm_world_init(&b.world, b.p, NULL, 4.0, &err) < 0) {
        fprintf(stderr, "bench_collective: %s\n", err.msg);
        return 1;
    }
    platform_load(platform, &opts, NULL);
    size_t n;
    sg_host_t *hosts = placement_all_hosts(&n);
    BenchRank *ranks = calloc((size_t)b.p, sizeof *ranks);
    if (!hosts || !ranks)
        return 1;
    for (int i = 0; i < b.p; i++) {
        BenchRank *r = &ranks[i];
        r->b = &b;
        r->rank = i;
        r->comm = (Comm){.world = &b.world, .rank = i, .channel = 0};
        r->group = (Group){.comm = &r->comm, .size = b.p, .ranks = NULL, .index = i};
        char name[32];
        snprintf(name, sizeof name, "rank-%d", i);
        sg_actor_t a = sg_actor_init(name, hosts[i]);
        sg_actor_set_data(a, r);
        sg_actor_start(a, bare ? bare_rank : dtsim_rank, 0, NULL);
    }
    double t0 = wall_now();
    simgrid_run();
    double wall = wall_now() - t0;
    double messages = (double)b.p * 2.0 * (b.p - 1) * b.allreduces;
    printf("%s ranks=%d count=%zu block_bytes=%zu allreduces=%d messages=%.0f wall_seconds=%.3f "
           "messages_per_second=%.0f simulated_seconds=%.9g\n",
           bare ? "bare" : "dtsim", b.p, b.count, b.count / (size_t)b.p * sizeof(float),
           b.allreduces, messages, wall, messages / wall, simgrid_get_clock());
    free(ranks);
    free(hosts);
    fflush(NULL);
    _exit(0); /* skip SimGrid's engine teardown, as dtsim does */
}
