/*
 * gradsync.c - the gradient all-reduce across replicas, whole or in
 * buckets overlapped with backward (see gradsync.h).
 */
#include "gradsync.h"

#include <simgrid/actor.h>
#include <simgrid/semaphore.h>
#include <stdio.h>

const char *const gradsync_on_off[] = {"off", "on", NULL};

static int gradsync_validate(const GradSyncConfig *c, int members, int with_nodes,
                             const KeySource *given, DtError *err)
{
    const CollectiveOps *ops = collective_find(COLL_ALLREDUCE, c->allreduce);
    if (!ops) {
        char names[128];
        collective_algos(COLL_ALLREDUCE, names, sizeof names);
        return key_fail(given, "allreduce", err,
                        "[strategy] allreduce = %s is unknown; choose one of: %s", c->allreduce,
                        names);
    }
    if (ops->check_nodes && !with_nodes)
        return key_fail(given, "allreduce", err,
                        "[strategy] allreduce = %s follows the nodes, which this strategy does "
                        "not tell its all-reduce; use it with data-parallel or hybrid, or choose "
                        "ring, ring-flow, rhd, tree or ps",
                        c->allreduce);
    char why[256];
    if (ops->check(members, why, sizeof why) < 0)
        return key_fail(given, "allreduce", err, "[strategy] allreduce = %s across %d replicas: %s",
                        c->allreduce, members, why);
    return 0;
}

int gradsync_check(const GradSyncConfig *c, int members, const KeySource *given, DtError *err)
{
    return gradsync_validate(c, members, 0, given, err);
}

int gradsync_check_with_nodes(const GradSyncConfig *c, int members, const KeySource *given,
                              DtError *err)
{
    return gradsync_validate(c, members, 1, given, err);
}

int gradsync_needs_nodes(const GradSyncConfig *c)
{
    const CollectiveOps *ops = collective_find(COLL_ALLREDUCE, c->allreduce);
    return ops && ops->check_nodes;
}

int gradsync_local(const GradSyncConfig *c, const int *node, int members, int *local, DtError *err)
{
    const CollectiveOps *ops = collective_find(COLL_ALLREDUCE, c->allreduce);
    char why[256];
    *local = 0;
    if (!ops || !ops->check_nodes)
        return 0;
    if (ops->check_nodes(node, members, local, why, sizeof why) < 0)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] allreduce = %s %s (a node: the hosts joined by the platform's "
                       "fastest links; see [cluster] hosts)",
                       c->allreduce, why);
    return 0;
}

void gradsync_plan(BucketPlan *b, const GradSyncConfig *c, const size_t *offset,
                   const size_t *count, int first, int last)
{
    size_t total = 0;
    for (int l = first; l < last; l++)
        total += count[l];
    size_t limit = c->overlap ? (size_t)(c->bucket_mb * 1e6 / sizeof(float)) : total;
    plan_buckets(b, offset, count, first, last, limit);
}

void gradsync_init(GradSync *s, const GradSyncConfig *c, const Group *group, float *grad,
                   size_t count, const BucketPlan *plan, long steps)
{
    *s = (GradSync){.algo = collective_find(COLL_ALLREDUCE, c->allreduce),
                    .group = *group,
                    .overlap = c->overlap,
                    .grad = grad,
                    .count = count,
                    .plan = plan,
                    .steps = steps};
    if (s->overlap) {
        s->ready = sg_sem_init(0);
        s->done = sg_sem_init(0);
    }
    s->comp.cfg = c->compress;
    s->compressed = c->compress.kind != COMPRESS_NONE;
    if (c->compress.kind == COMPRESS_FP16 || c->compress.kind == COMPRESS_BF16) {
        s->comm = *group->comm;
        s->comm.wire_bytes = 2.0;
        s->comm.rounding = c->compress.kind == COMPRESS_FP16 ? COMM_ROUND_FP16 : COMM_ROUND_BF16;
        s->group.comm = &s->comm;
    }
}

int gradsync_compress_init(GradSync *s, Device *dev, uint64_t seed, const ModelMatrix *mats,
                           int nmats, long first_step, DtError *err)
{
    CompressConfig cfg = s->comp.cfg;
    cfg.seed = seed;
    cfg.mats = mats;
    cfg.nmats = nmats;
    /* one compressed all-reduce a bucket a step */
    long first = first_step * (s->overlap ? s->plan->n : 1);
    if (!s->grad) { /* cost mode: timing-only messages, nothing to choose from */
        s->comp = (Compress){.cfg = cfg, .dev = dev, .count = s->count, .calls = first};
        return 0;
    }
    return compress_init(&s->comp, &cfg, dev, s->count, first, err);
}

/* All-reduce buf[0 .. n), the gradient's floats from offset on. */
static int gradsync_run(GradSync *s, float *buf, size_t n, size_t offset)
{
    if (s->compressed)
        return compress_allreduce(&s->comp, &s->group, s->algo, buf, n, offset);
    return s->algo->run(&s->group, buf, n, 0);
}

static int gradsync_bucket(GradSync *s, int k)
{
    size_t begin = s->plan->begin[k];
    float *at = s->grad ? s->grad + begin : NULL; /* NULL: cost mode's timing-only messages */
    return gradsync_run(s, at, s->plan->end[k] - begin, begin);
}

/* The communication stream: all-reduce the buckets in order, each as
 * soon as backward has released it. */
static void gradsync_stream_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    GradSync *s = sg_actor_self_get_data();
    for (long step = 0; step < s->steps; step++) {
        for (int k = 0; k < s->plan->n; k++) {
            sg_sem_acquire(s->ready);
            if (gradsync_bucket(s, k) < 0)
                s->failed = 1;
            sg_sem_release(s->done);
        }
    }
}

void gradsync_start(GradSync *s, sg_host_t host, const char *name)
{
    if (!s->overlap)
        return;
    s->stream = sg_actor_init(name, host);
    sg_actor_ref(s->stream);
    sg_actor_set_data(s->stream, s);
    sg_actor_start(s->stream, gradsync_stream_main, 0, NULL);
}

int gradsync_closes(const GradSync *s, int l)
{
    return s->overlap && s->plan->closes[l] >= 0;
}

void gradsync_layer_done(GradSync *s, int l)
{
    if (gradsync_closes(s, l))
        sg_sem_release(s->ready);
}

int gradsync_finish(GradSync *s)
{
    if (!s->overlap)
        return gradsync_run(s, s->grad, s->count, 0);
    for (int k = 0; k < s->plan->n; k++)
        sg_sem_acquire(s->done);
    return s->failed ? -1 : 0;
}

void gradsync_join(GradSync *s)
{
    if (s->stream) {
        sg_actor_join(s->stream, -1);
        sg_actor_unref(s->stream);
        s->stream = NULL;
    }
}

void gradsync_free(GradSync *s)
{
    gradsync_join(s);
    compress_free(&s->comp);
    if (s->ready) {
        sg_sem_destroy(s->ready);
        sg_sem_destroy(s->done);
        s->ready = s->done = NULL;
    }
}
