/*
 * gradsync.h - summing a gradient over data-parallel replicas: the one
 * data-parallel machinery, for the data-parallel strategy's workers and
 * for the replicas of a hybrid grid's ranks.
 *
 * The gradient is all-reduced with the algorithm `allreduce` (ring, ring-flow, rhd,
 * tree, ps; hierarchical and hierarchical-rhd where the caller knows its
 * replicas' nodes) among the ranks that hold the same part of the model.  With
 * overlap = off, after backward, in one piece.  With overlap = on, cut
 * into buckets of about bucket_mb at layer boundaries, in backward order
 * (core/plan.h, as PyTorch DDP does), and each rank has a second actor,
 * its communication stream, that all-reduces a bucket as soon as backward
 * has produced it, so communication hides behind the rest of backward.
 * The rank and its stream hand buckets over with two semaphores.
 *
 * Per step, a rank calls gradsync_layer_done after each layer's backward
 * (only the step's last backward pass, when a pipeline runs several), then
 * gradsync_finish before it uses the sum.
 */
#ifndef DT_GRADSYNC_H
#define DT_GRADSYNC_H

#include <simgrid/forward.h>
#include <stddef.h>

#include "collective.h"
#include "compress.h"
#include "keys.h"
#include "plan.h"

typedef struct GradSyncConfig {
    char allreduce[24];      /* ring, ring-flow, rhd, tree, ps, hierarchical or hierarchical-rhd */
    int overlap;             /* 0 off, 1 on */
    double bucket_mb;        /* bucket size with overlap, in MB (1e6 bytes) */
    CompressConfig compress; /* none unless the strategy's keys set it (compress.h) */
} GradSyncConfig;

extern const char *const gradsync_on_off[];

/* The rows of a strategy's key table for a GradSyncConfig at `field` of
 * its config struct `T`, with overlap's default `overlap_def`. */
#define GRADSYNC_KEYS(T, field, overlap_def)                                                       \
    KEYDEF_TEXT(T, "allreduce", KEY_STRING, field.allreduce, "ring",                               \
                "all-reduce algorithm of the gradient across replicas: ring, ring-flow (the "      \
                "ring's bytes and latencies as one flow per link), rhd (power-of-two "             \
                "replicas), tree, ps (through the first replica), or, for data-parallel and "      \
                "hybrid replicas on several nodes of several GPUs each, hierarchical (ring "       \
                "inside nodes and across) or hierarchical-rhd (rhd across a power-of-two number "  \
                "of nodes)"),                                                                      \
        KEYDEF_ENUM(T, "overlap", field.overlap, gradsync_on_off, overlap_def,                     \
                    "all-reduce gradient buckets while backward runs (on) or after it"),           \
        KEYDEF_REAL(T, "bucket_mb", field.bucket_mb, 0, 1, 1e6, "25",                              \
                    "gradient bucket size in MB (1e6 bytes) with overlap = on")

/* The algorithm exists and can run on `members` replicas; -1 naming the
 * allreduce key otherwise.  It refuses the algorithms that follow nodes
 * (hierarchical), which need what the next three give. */
int gradsync_check(const GradSyncConfig *c, int members, const KeySource *given, DtError *err);
/* gradsync_check for a caller that gives the all-reduce its replicas'
 * nodes: it accepts the algorithms that follow nodes too. */
int gradsync_check_with_nodes(const GradSyncConfig *c, int members, const KeySource *given,
                              DtError *err);
/* Does the algorithm follow nodes?  Then the caller finds the node of each
 * replica's host (placement_nodes, or placement_place with a group of 1;
 * only then, as it asks members^2 routes) and asks gradsync_local. */
int gradsync_needs_nodes(const GradSyncConfig *c);
/* The Group.local of `members` replicas, member i on node node[i]: what
 * the algorithm runs with (0 for those that do not follow nodes, when
 * node may be NULL); -1 (bad input) naming the allreduce key when the
 * nodes do not suit it, e.g. all replicas on one node. */
int gradsync_local(const GradSyncConfig *c, const int *node, int members, int *local, DtError *err);

/* The buckets of a buffer whose layers [first, last) hold count[l] floats
 * from offset[l]: one bucket of all of it with overlap off. */
void gradsync_plan(BucketPlan *b, const GradSyncConfig *c, const size_t *offset,
                   const size_t *count, int first, int last);

/* One rank's part. */
typedef struct GradSync {
    const CollectiveOps *algo;
    Group group; /* the replicas holding the same part; group.comm is this rank's */
    int overlap;
    float *grad; /* (count) the buffer the buckets index */
    size_t count;
    const BucketPlan *plan; /* must outlive the GradSync */
    long steps;             /* steps its stream serves */
    sg_sem_t ready, done;   /* buckets backward has finished; buckets all-reduced */
    sg_actor_t stream;
    int failed;     /* a bucket's all-reduce failed */
    Comm comm;      /* compress = fp16 or bf16: the group's handle, rounding its messages */
    Compress comp;  /* compress: its state (gradsync_compress_init) */
    int compressed; /* compress is not none */
} GradSync;

/* Set up s (no allocation that can fail; semaphores with overlap). */
void gradsync_init(GradSync *s, const GradSyncConfig *c, const Group *group, float *grad,
                   size_t count, const BucketPlan *plan, long steps);
/* With compression (c->compress not none), its state, charged on dev;
 * mats[0 .. nmats): the gradient's matrices, for powersgd.  -1 when out
 * of memory. */
int gradsync_compress_init(GradSync *s, Device *dev, uint64_t seed, const ModelMatrix *mats,
                           int nmats, long first_step, DtError *err);
/* Wait for the communication stream's actor to end (gradsync_free does). */
void gradsync_join(GradSync *s);
/* With overlap, start the rank's stream actor `name` on `host`. */
void gradsync_start(GradSync *s, sg_host_t host, const char *name);
/* Does layer l's gradient close a bucket (with overlap)? */
int gradsync_closes(const GradSync *s, int l);
/* Backward has produced layer l's gradient: hand its bucket to the stream
 * if the layer closes one. */
void gradsync_layer_done(GradSync *s, int l);
/* The sum is complete when this returns: wait for every bucket, or (no
 * overlap) all-reduce the whole buffer now.  0, or -1 when a transfer
 * failed. */
int gradsync_finish(GradSync *s);
/* Wait for the stream to end; free the semaphores. */
void gradsync_free(GradSync *s);

#endif
