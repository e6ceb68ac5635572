/*
 * grid.c - the model-parallel engine (see grid.h): one actor per rank of a
 * dp x pp x tp grid, each running its stage's layers on its micro-batches
 * in schedule order.
 *
 * What is decided before the run (the stages, the schedules, what each
 * rank keeps in memory, where it runs) comes from core/plan.h and
 * sim/placement.h; this file runs it.  Every rank is described and its
 * memory checked before anything big is allocated, and everything an actor
 * needs is allocated before the simulation runs (run_spawn), so no actor
 * can fail half-way and leave its neighbours waiting.  Every stage runs its layers through a
 * tensor-parallel plan (core/tensor_parallel.h), which with tp = 1 is the serial kernels.
 * Parameters and gradients are full-layout blocks (nparams floats, the
 * layout core/ computes in) of which a rank touches only what its shard of
 * its stage holds; the pages of the rest are never written, so they cost
 * no real memory.  The optimizer and the all-reduce across replicas work
 * on the held floats packed into one run (in place without tensor
 * parallelism, where they are one range already), layer after layer, so
 * that a bucket of the all-reduce is a range of it.  A stage keeps one
 * workspace for its layers and, per micro-batch in flight, one block of
 * stashed activations (the workspace's act points at the block of the
 * micro-batch it works on).
 *
 * Receives are posted one message ahead: when a rank has taken message k
 * from a neighbour it posts the receive of message k + 1, so a transfer
 * runs while the rank computes instead of starting when it asks.  Messages
 * between two ranks arrive in the order they were sent, and every stage
 * consumes a neighbour's messages in the order the neighbour sends them
 * (forward in micro-batch order; backward in the schedule's order, which
 * is the same at every stage), so a message never needs a tag.
 *
 * Evaluation: the ranks of replica 0 copy the parameters they own into one
 * assembled block after an update that run_eval_due names; the last one to do so
 * evaluates it (no simulated cost: a measurement) and, after the last step,
 * keeps it for --save-model.  A rank cannot apply the update of step k + 1
 * before every rank of its pipeline has applied that of step k (its next
 * micro-batches depend on them), so the block is never mixed from two
 * steps; grid_deposit checks it anyway.
 *
 * The bubble of a pipeline, as summary.json reports it: a step's window is
 * from the first forward computation of the step on any of its ranks to
 * the last backward computation (the optimizer update and the gradient
 * all-reduce across replicas come after it); a rank is busy while it
 * computes a forward or backward pass of a micro-batch, including the
 * tensor-parallel all-reduces inside it, and idle otherwise (waiting for a
 * neighbour's activations or gradients).  Over all steps S and the R ranks
 * of the pipeline,
 *     bubble = sum over steps and ranks of (window - busy) / (R * sum of windows)
 * which with p equal stages, m micro-batches and free transfers is
 * (p - 1) / (m + p - 1), the window being (m + p - 1)(t_f + t_b).
 */
#include "grid.h"

#include <cJSON.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <stdlib.h>
#include <string.h>
#include <xbt/asserts.h>

#include "collective.h"
#include "run.h"
#include "sampler.h"
#include "strategy.h"
#include "tensor_parallel.h"

const char *const grid_schedules[] = {"gpipe", "1f1b", NULL};

/* One data-parallel replica's pipeline, for its bubble. */
typedef struct GridPipeline {
    double *step_start; /* (steps) first forward computation of the step, -1 before */
    double *step_end;   /* (steps) end of its last backward computation */
    double busy;        /* seconds its ranks spent in forward and backward passes */
    int live;           /* ranks still running: the last one measures the bubble */
    double bubble;      /* measured bubble fraction, once measured */
    double makespan;    /* mean step makespan, 0 if not measured */
    int measured;
} GridPipeline;

/* A rank's place in the grid, for summary.json. */
typedef struct GridPlace {
    int replica, stage, shard;
    int first_layer, last_layer; /* the stage's layers [first, last) */
    int peak_stashed;            /* most micro-batches whose activations it held at once */
} GridPlace;

typedef struct GridRank GridRank;

/* A kernel of a rank, queued to run on the pool while its charge advances
 * simulated time (device_work): what it needs, worked out when queued. */
typedef struct GridOp {
    void (*run)(GridRank *g, const struct GridOp *op);
    int l;
    LayerIO io;
    const uint8_t *y; /* the loss's labels */
} GridOp;

/* What all ranks share; read-only during the run except where noted. */
typedef struct GridShared {
    GridConfig cfg;
    int cost;                            /* compute = cost: no tensor anywhere, no kernel run */
    int recompute;                       /* recompute = full (core/plan.h) */
    unsigned char cut[MODEL_MAX_LAYERS]; /* model_checkpoints: where recompute segments start */
    PipeConfig pipe;                     /* cfg.pipe points here */
    TpPlan *plans;                       /* (pp) each stage's split over its shards */
    GradSyncConfig sync;                 /* cfg.sync points here */
    int first[MODEL_MAX_LAYERS + 1];     /* stage s: layers [first[s], first[s + 1]) */
    int micro;                           /* samples per micro-batch */
    CommWorld world;
    const CollectiveOps *shard_allreduce; /* among a stage's shards (tp_allreduce) */
    GridPipeline *pipes;                  /* (dp) */
    GridPlace *place;                     /* (nranks) */
    float *init;                          /* (nparams) initial parameters, until the ranks start */
    /* evaluation: the assembled parameters (written by the deposits) */
    Replica eval;
    long deposit_step;
    int deposited;
} GridShared;

/* A stream of messages from one neighbour, received one ahead. */
typedef struct Inbox {
    int src;
    size_t count; /* floats per message */
    float *buf[2];
    CommRequest *req;
    long got, total;
} Inbox;

struct GridRank {
    Run *run;
    GridShared *sh;
    int rank, replica, stage, shard;
    int first, last;     /* layers [first, last) */
    const TpPlan *plan;  /* how the stage's layers are split over its tp shards (shared) */
    size_t pbegin, pend; /* parameters of the stage: [pbegin, pend) of the block */
    /* by model layer index l in [first, last), allocated at describe: */
    TpBlock *held;     /* ((last - first) TP_MAX_BLOCKS) the parts this shard holds */
    int *held_at;      /* (last + 1) layer l's parts: held[held_at[l] .. held_at[l + 1]) */
    size_t *pack_at;   /* (last) where layer l's parts start in the packed run */
    size_t *pack_len;  /* (last) and how many floats they hold */
    size_t nhold;      /* parameter floats it holds (tp_param_floats) */
    float *gpack;      /* (nhold) its gradient packed, likewise */
    int next, prev;    /* ranks of the neighbouring stages' matching shard, -1 if none */
    int grad_to_prev;  /* the stage's input gradient goes back to prev */
    size_t in_floats;  /* per micro-batch: the stage's input (stage > 0) */
    size_t out_floats; /* and its output */
    Device dev;
    Comm p2p, tpc, dpc;
    int *tp_group; /* (tp) the shards of the stage */
    int *dp_group; /* (dp) ranks holding the same slice in every replica */
    BucketPlan buckets;
    GradSync sync; /* the all-reduce across replicas, when dp > 1 and it holds parameters */
    int syncs;
    float *params; /* (nparams) full layout; only the held blocks are used */
    float *grads;  /* (nparams) likewise */
    Optimizer opt;
    Workspace ws;
    int nslots;
    float **slots;   /* (nslots) stashed activations, ws.act_floats each */
    int *free_slots; /* (nslots) a stack */
    int nfree;
    int *slot_of; /* (m) slot of each micro-batch in flight */
    int stash, peak;
    Pass *passes; /* (2m) the schedule */
    int npasses;
    int last_backward;   /* index in passes of the step's last backward */
    Inbox fwd, bwd;      /* activations from prev, gradients from next */
    CommRequest **sends; /* (2m) this step's sends */
    int nsends;
    float *lossbuf;  /* the vocabulary-parallel loss's maxima and sums (tensor_parallel.h) */
    Sampler sampler; /* stage 0 and the last stage read the data */
    float *x;        /* (batch, sample) stage 0: this step's mini-batch */
    uint8_t *y;      /* (batch) the last stage: its labels */
    GridOp *ops;     /* (max_ops) kernels queued for the device's next charge */
    int nops, max_ops;
    double loss; /* what the last queued loss kernel returned */
};

/* ---- checks --------------------------------------------------------------- */

/* The stages, from the config's split or balanced by FLOPs. */
static int grid_stages(const Model *m, const GridConfig *c, int *first, DtError *err)
{
    const PipeConfig *p = c->pipe;
    return plan_stages(m, c->pp, p ? p->split : NULL, p ? p->nsplit : 0, c->stages_key, first, err);
}

static const char *grid_tp_allreduce(const GridConfig *g)
{
    return g->tp_allreduce ? g->tp_allreduce : GRID_TP_ALLREDUCE;
}

/* The shards' all-reduce exists, does not follow nodes, and runs on tp. */
static int grid_check_tp_allreduce(const GridConfig *g, const KeySource *given, DtError *err)
{
    const char *name = grid_tp_allreduce(g);
    const CollectiveOps *ops = collective_find(COLL_ALLREDUCE, name);
    char why[256];
    if (!ops || ops->check_nodes)
        return key_fail(given, "tp_allreduce", err,
                        "[strategy] tp_allreduce = %s is not an all-reduce for a stage's shards; "
                        "choose one of: ring-flow, ring, rhd, tree, ps",
                        name);
    if (ops->check(g->tp, why, sizeof why) < 0)
        return key_fail(given, "tp_allreduce", err, "[strategy] tp_allreduce = %s on tp = %d: %s",
                        name, g->tp, why);
    return 0;
}

int grid_check(const Scenario *sc, const GridConfig *g, const KeySource *given, DtError *err)
{
    Model m;
    int first[MODEL_MAX_LAYERS + 1];
    int micro = g->pipe ? g->pipe->microbatches : 1;
    if (model_build(&m, &sc->model, err) < 0)
        return key_blame(given, NULL, err);
    if (grid_stages(&m, g, first, err) < 0)
        return key_blame(given, g->pipe && g->pipe->nsplit ? "split" : g->stages_key, err);
    if (sc->batch % micro != 0)
        return key_fail(given, "microbatches", err,
                        "[train] batch = %d is not divisible by [strategy] microbatches = %d: "
                        "every micro-batch must hold the same number of samples",
                        sc->batch, micro);
    for (int s = 0; s < g->pp; s++) {
        TpPlan plan;
        if (tp_plan(&plan, &m, first[s], first[s + 1], g->tp, err) < 0)
            return key_blame(given, "tp", err);
    }
    if (g->sync && gradsync_check_with_nodes(g->sync, g->dp, given, err) < 0)
        return -1;
    return grid_check_tp_allreduce(g, given, err);
}

static GridConfig grid_of(const Scenario *sc)
{
    const GridKind *k = sc->strategy->engine;
    return k->grid(sc);
}

int grid_strategy_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    const GridKind *k = sc->strategy->engine;
    GridConfig g = k->grid(sc);
    if (k->check(sc, given, err) < 0)
        return -1;
    return grid_check(sc, &g, given, err);
}

int grid_strategy_global_batch(const Scenario *sc)
{
    return sc->batch * grid_of(sc).dp;
}

int grid_strategy_ranks(const Scenario *sc)
{
    GridConfig g = grid_of(sc);
    return g.dp * g.pp * g.tp;
}

int grid_strategy_group(const Scenario *sc)
{
    return grid_of(sc).tp;
}

int grid_strategy_start(Run *run, DtError *err)
{
    GridConfig g = grid_of(run->sc);
    return grid_start(run, &g, err);
}

/* ---- the actors ----------------------------------------------------------- */

static void inbox_start(const GridRank *g, Inbox *in)
{
    if (in->total > 0)
        in->req = comm_irecv(&g->p2p, in->src, in->buf[0], in->count);
}

/* Wait for the next message of the stream and copy it to dst; post the
 * receive of the one after. */
static void inbox_take(const GridRank *g, Inbox *in, float *dst)
{
    comm_wait(&g->p2p, in->req);
    in->req = NULL;
    if (dst) /* NULL in cost mode, where messages carry no floats */
        memcpy(dst, in->buf[in->got % 2], in->count * sizeof(float));
    in->got++;
    if (in->got < in->total)
        in->req = comm_irecv(&g->p2p, in->src, in->buf[in->got % 2], in->count);
}

/* Load this step's mini-batch slice: stage 0 its samples, the last stage
 * its labels. */
static void grid_load(GridRank *g)
{
    Run *run = g->run;
    const int b = run->sc->batch;
    double t = record_clock();
    const int *idx = sampler_next(&g->sampler) + (size_t)g->replica * b;
    const size_t t_n = (size_t)run->train.targets;
    if (g->x)
        dataset_gather(&run->train, idx, b, g->x, g->y);
    else if (g->y)
        for (int i = 0; i < b; i++)
            memcpy(g->y + i * t_n, run->train.y + (size_t)idx[i] * t_n, t_n);
    record_kernel(&run->rec, t);
}

/* When a rank's passes of one step ran: its first start, its last end,
 * and the seconds in between that it computed. */
typedef struct StepClock {
    double start, end, busy;
} StepClock;

static void clock_pass(StepClock *c, double t0)
{
    double t1 = simgrid_get_clock();
    if (c->start < 0.0)
        c->start = t0;
    c->end = t1;
    c->busy += t1 - t0;
}

/* The output of layer l and its gradient in the workspace (model.h), or
 * NULL in cost mode, which has no workspace. */
static float *grid_output(const GridRank *g, int l)
{
    return g->sh->cost ? NULL : workspace_output(&g->ws, l);
}

static float *grid_grad(const GridRank *g, int l)
{
    return g->sh->cost ? NULL : workspace_grad(&g->ws, l);
}

/* The stage's first layer reads the mini-batch's samples on stage 0. */
static const float *grid_input(const GridRank *g, int micro)
{
    if (!g->x)
        return NULL;
    return g->x + (size_t)micro * g->sh->micro * shape_size(g->run->model.input);
}

/* Sum buf (count floats) over the stage's tensor-parallel shards. */
static void grid_allreduce_shards(GridRank *g, float *buf, size_t count)
{
    Group grp = {.comm = &g->tpc, .size = g->sh->cfg.tp, .ranks = g->tp_group, .index = g->shard};
    device_flush(&g->dev);
    g->sh->shard_allreduce->run(&grp, buf, count, 0);
}

/* ---- kernels on the pool ----------------------------------------------------
 *
 * A rank queues its layer kernels as it charges them; they run on the pool
 * while the charge advances simulated time (device_work), in the order
 * they were queued, and the rank reads what they wrote only after
 * device_flush, which comes before every message, all-reduce and the end
 * of every pass.  Ranks whose charges overlap in simulated time (the
 * stages of a pipeline in its steady state, the shards of a stage) so run
 * their kernels at once, each touching only its own workspace,
 * parameters and gradients: the same floats whatever the thread count. */

static void grid_ops_run(void *arg)
{
    GridRank *g = arg;
    for (int k = 0; k < g->nops; k++)
        g->ops[k].run(g, &g->ops[k]);
    g->nops = 0;
}

static void grid_queue(GridRank *g, void (*run)(GridRank *, const GridOp *), int l,
                       const LayerIO *io, const uint8_t *y)
{
    xbt_assert(g->nops < g->max_ops, "rank %d: more than %d kernels queued", g->rank, g->max_ops);
    g->ops[g->nops++] = (GridOp){run, l, io ? *io : (LayerIO){0}, y};
    device_work(&g->dev, grid_ops_run, g);
}

static void op_forward(GridRank *g, const GridOp *op)
{
    tp_forward(g->plan, op->l, g->shard, &op->io);
}

static void op_forward_finish(GridRank *g, const GridOp *op)
{
    tp_forward_finish(g->plan, op->l, &op->io);
}

static void op_backward(GridRank *g, const GridOp *op)
{
    tp_backward(g->plan, op->l, g->shard, &op->io);
}

static void op_backward_finish(GridRank *g, const GridOp *op)
{
    model_backward_finish(&g->run->model, &g->ws, op->l, g->sh->micro);
}

/* Layer l's forward on this shard (tensor_parallel.h's calling sequence;
 * with tp = 1 the serial kernels), charged on the device as `name`. */
static void grid_layer_forward(GridRank *g, int l, const float *x, const char *name)
{
    const Model *m = &g->run->model;
    const int b = g->sh->micro, real = !g->sh->cost;
    LayerIO io = {0};
    if (real) {
        model_layer_io(m, &g->ws, g->params, NULL, x, l, b, &io);
        grid_queue(g, op_forward, l, &io, NULL);
    }
    TpCost c = tp_forward_cost(g->plan, l, b);
    device_layer_charge(&g->dev, c.flops, c.bytes, name);
    size_t n = tp_forward_allreduce_floats(g->plan, l, b);
    if (n == 0)
        return;
    grid_allreduce_shards(g, io.out, n);
    if (real)
        grid_queue(g, op_forward_finish, l, &io, NULL);
    c = tp_finish_cost(g->plan, l, b);
    device_layer_charge(&g->dev, c.flops, c.bytes, name);
}

/* Layer l's backward on this shard: the gradient of its output is in the
 * workspace (model.h), that of its input goes where model_layer_io says,
 * summed over the shards after a COLUMN layer. */
static void grid_layer_backward(GridRank *g, int l, const float *x)
{
    const Model *m = &g->run->model;
    const int b = g->sh->micro, real = !g->sh->cost;
    if (m->first_trainable > l)
        return; /* nothing below the first layer with parameters */
    LayerIO io = {0};
    if (real) {
        model_layer_io(m, &g->ws, g->params, g->grads, x, l, b, &io);
        grid_queue(g, op_backward, l, &io, NULL);
    }
    TpCost c = tp_backward_cost(g->plan, l, b);
    device_layer_charge(&g->dev, c.flops, c.bytes, "backward");
    size_t n = tp_backward_allreduce_floats(g->plan, l, b);
    if (n > 0)
        grid_allreduce_shards(g, io.din, n);
    if (real)
        grid_queue(g, op_backward_finish, l, NULL, NULL);
}

/* Let go of the step's sends that are done (comm_reap): SimGrid walks
 * every activity of the rank's actor each time one of them ends. */
static void grid_reap(GridRank *g)
{
    if (g->nsends > 0)
        g->nsends = comm_reap(&g->p2p, g->sends, g->nsends);
}

static void grid_forward(GridRank *g, int micro, StepClock *clk)
{
    /* the schedule never has more micro-batches in flight than its peak */
    xbt_assert(g->nfree > 0, "rank %d: no free activation slot for micro-batch %d", g->rank, micro);
    int slot = g->free_slots[--g->nfree];
    g->slot_of[micro] = slot;
    g->ws.act = g->slots[slot];
    if (++g->stash > g->peak)
        g->peak = g->stash;
    if (g->prev >= 0)
        inbox_take(g, &g->fwd, grid_output(g, g->first - 1));
    const float *x = grid_input(g, micro);
    double t0 = simgrid_get_clock();
    device_defer(&g->dev, 1); /* the layers between two all-reduces as one execution */
    for (int l = g->first; l < g->last; l++)
        grid_layer_forward(g, l, x, "forward");
    device_defer(&g->dev, 0);
    clock_pass(clk, t0);
    if (g->next >= 0)
        g->sends[g->nsends++] =
            comm_isend(&g->p2p, g->next, grid_output(g, g->last - 1), g->out_floats);
    grid_reap(g);
}

/* Layer op->l's gradient into its place in the packed gradient. */
static void op_pack_layer(GridRank *g, const GridOp *op)
{
    const int l = op->l;
    tp_blocks_copy(g->held + g->held_at[l], g->held_at[l + 1] - g->held_at[l], g->grads,
                   g->gpack + g->pack_at[l], 1);
}

/* Copy every held float between the full-layout block and a packed run
 * (to_pack: block -> pack), or set them to zero (pack NULL). */
static void grid_held_copy(const GridRank *g, float *block, float *pack, int to_pack)
{
    tp_blocks_copy(g->held, g->held_at[g->last], block, pack, to_pack);
}

/* The whole gradient into the packed run, for an all-reduce across
 * replicas without buckets (with them grid_layer_done packs each; without
 * that all-reduce nothing is packed: op_update reads it in place). */
static void op_pack_all(GridRank *g, const GridOp *op)
{
    (void)op;
    grid_held_copy(g, g->grads, g->gpack, 1);
}

/* After layer l's backward of the step's last micro-batch its gradient is
 * whole: pack it (tensor parallelism, on the pool after that backward)
 * and hand its bucket over. */
static void grid_layer_done(GridRank *g, int l)
{
    if (!g->syncs || !g->sync.overlap)
        return;
    if (g->gpack)
        grid_queue(g, op_pack_layer, l, NULL, NULL);
    device_flush(&g->dev); /* the bucket is ready now */
    gradsync_layer_done(&g->sync, l);
}

/* Phase op->l of the vocabulary-parallel loss (tensor_parallel.h), on
 * the last layer's logits and the labels op->y; the last sets g->loss. */
static void op_loss_split(GridRank *g, const GridOp *op)
{
    const int b = g->sh->micro, last = g->run->model.nlayers - 1;
    const float *logits = grid_output(g, last);
    size_t n1, n2;
    tp_loss_floats(g->plan, b, &n1, &n2);
    float *maxima = g->lossbuf, *sums = g->lossbuf + n1;
    if (op->l == 0)
        tp_loss_maxima(g->plan, g->shard, logits, b, maxima);
    else if (op->l == 1)
        tp_loss_sums(g->plan, g->shard, logits, op->y, b, maxima, sums);
    else
        g->loss = tp_loss_finish(g->plan, g->shard, logits, op->y, b, maxima, sums,
                                 1.0f / (float)g->run->global_batch, grid_grad(g, last));
}

static void op_loss(GridRank *g, const GridOp *op)
{
    g->loss =
        model_loss(&g->run->model, &g->ws, op->y, g->sh->micro, 1.0f / (float)g->run->global_batch);
}

/* The vocabulary-parallel loss (tensor_parallel.h): three local phases,
 * each charged, with an all-reduce among the stage's shards after the
 * first two. */
static void grid_loss_split(GridRank *g, const uint8_t *y)
{
    const int b = g->sh->micro, real = !g->sh->cost;
    size_t n1, n2;
    tp_loss_floats(g->plan, b, &n1, &n2);
    for (int k = 0; k < 3; k++) {
        if (real)
            grid_queue(g, op_loss_split, k, NULL, y);
        TpCost c = tp_loss_cost(g->plan, b, k);
        device_layer_charge(&g->dev, c.flops, c.bytes, "loss");
        if (k == 0)
            grid_allreduce_shards(g, g->lossbuf, n1);
        else if (k == 1) /* (timing only in cost mode) */
            grid_allreduce_shards(g, real ? g->lossbuf + n1 : NULL, n2);
    }
}

/* The loss on the last stage, queued and charged: its sum over the
 * micro-batch is in g->loss once the device is flushed. */
static void grid_loss(GridRank *g, int micro)
{
    const Model *m = &g->run->model;
    const int b = g->sh->micro;
    const uint8_t *y = g->y ? g->y + (size_t)micro * b * m->positions : NULL;
    g->loss = 0.0;
    if (tp_loss_split(g->plan)) {
        grid_loss_split(g, y);
        return;
    }
    if (!g->sh->cost)
        grid_queue(g, op_loss, 0, NULL, y);
    device_layer_charge(&g->dev, model_loss_flops(m, b), model_loss_bytes(m, b), "loss");
}

/* recompute = full (core/plan.h): before the backward of layer l, when l
 * ends a segment, that segment's forward again from its checkpoint.  Here
 * every activation was kept, and the same kernels on the same inputs
 * write the same floats over them. */
static void grid_recompute(GridRank *g, int l, const float *x)
{
    const Model *m = &g->run->model;
    const int end = plan_recompute_end(m, g->last);
    if (!g->sh->recompute || l >= end || l < m->first_trainable ||
        (l + 1 < end && !g->sh->cut[l + 1]))
        return;
    int a = l;
    while (a > g->first && !g->sh->cut[a])
        a--;
    for (int k = a; k <= l; k++)
        grid_layer_forward(g, k, x, "recompute");
}

/* Backward of one micro-batch; returns its summed loss on the last stage. */
static double grid_backward(GridRank *g, int micro, int last, StepClock *clk)
{
    double loss = 0.0;
    g->ws.act = g->slots[g->slot_of[micro]];
    int work = g->next < 0 || g->bwd.total > 0; /* below the first parameters: nothing */
    if (g->next >= 0 && work)
        inbox_take(g, &g->bwd, grid_grad(g, g->last - 1));
    double t0 = simgrid_get_clock();
    device_defer(&g->dev, 1);
    if (g->next < 0)
        grid_loss(g, micro);
    if (work) {
        const float *x = grid_input(g, micro);
        for (int l = g->last - 1; l >= g->first; l--) {
            grid_recompute(g, l, x);
            grid_layer_backward(g, l, x);
            if (last)
                grid_layer_done(g, l);
        }
    }
    if (last && g->gpack && g->syncs && !g->sync.overlap) /* with the pass's kernels */
        grid_queue(g, op_pack_all, 0, NULL, NULL);
    device_defer(&g->dev, 0); /* and the kernels have run */
    if (g->next < 0)
        loss = g->loss;
    if (work)
        clock_pass(clk, t0);
    if (g->grad_to_prev)
        g->sends[g->nsends++] =
            comm_isend(&g->p2p, g->prev, grid_grad(g, g->first - 1), g->in_floats);
    grid_reap(g);
    g->free_slots[g->nfree++] = g->slot_of[micro];
    g->stash--;
    return loss;
}

static void op_zero_grads(GridRank *g, const GridOp *op)
{
    (void)op;
    grid_held_copy(g, g->grads, NULL, 0);
}

/* One row of the held blocks updated where it lies (op_update): its
 * optimizer state packed, its gradient packed too when it was all-reduced
 * across replicas, else read where it lies. */
static void update_row(void *ctx, size_t at, size_t k, size_t len)
{
    GridRank *g = ctx;
    optim_step_run(&g->opt, g->params + at, g->syncs ? g->gpack + k : g->grads + at, k, len);
}

static void op_update(GridRank *g, const GridOp *op)
{
    (void)op;
    if (!g->gpack) { /* one range of the block */
        optim_step(&g->opt, g->params + g->pbegin, g->grads + g->pbegin);
        return;
    }
    optim_begin_step(&g->opt);
    tp_blocks_each(g->held, g->held_at[g->last], update_row, g);
}

/* One optimizer step over every parameter the rank holds (replicated ones
 * too: their gradients agree on all shards, so their values stay equal),
 * run on the pool while it is charged. */
static void grid_apply(GridRank *g)
{
    if (g->nhold == 0)
        return;
    if (!g->sh->cost)
        grid_queue(g, op_update, 0, NULL, NULL);
    device_compute(&g->dev, optim_step_flops(&g->opt), optim_step_bytes(&g->opt), "update");
    device_flush(&g->dev); /* (an update too small to charge) */
}

/* After the update of `step`: replica 0's ranks hand their slices in when
 * an evaluation is due; the last one evaluates the assembled model. */
static void grid_deposit(GridRank *g, long step)
{
    GridShared *sh = g->sh;
    Run *run = g->run;
    if (g->replica != 0 || !run_eval_due(run, step))
        return;
    if (sh->deposited > 0 && sh->deposit_step != step) {
        DtError err;
        dt_fail(&err, DT_ERUNTIME,
                "internal error: rank %d finished step %ld while step %ld was being assembled",
                g->rank, step, sh->deposit_step);
        run_fail(run, &err);
        return;
    }
    sh->deposit_step = step;
    if (!sh->cost)
        tp_gather_owned(g->plan, g->shard, g->params, sh->eval.params);
    if (++sh->deposited < sh->cfg.pp * sh->cfg.tp)
        return;
    sh->deposited = 0;
    run_evaluate(run, &sh->eval, step);
    if (step == run->total_steps)
        run_keep_params(run, sh->eval.params);
}

/* The last rank of a pipeline to finish measures its bubble. */
static void grid_pipeline_done(GridShared *sh, int d, long total_steps)
{
    GridPipeline *p = &sh->pipes[d];
    if (--p->live > 0 || sh->cfg.pp == 1)
        return;
    double windows = 0.0;
    long steps = 0;
    for (long k = 0; k < total_steps; k++) {
        if (p->step_start[k] < 0.0)
            continue;
        windows += p->step_end[k] - p->step_start[k];
        steps++;
    }
    int ranks = sh->cfg.pp * sh->cfg.tp;
    if (windows > 0.0) {
        p->bubble = 1.0 - p->busy / (ranks * windows);
        p->makespan = windows / (double)steps;
        p->measured = 1;
    }
}

static void grid_rank_free(void *state)
{
    GridRank *g = state;
    if (g->slots) {
        g->ws.act = g->slots[0];
        for (int k = 1; k < g->nslots; k++)
            free(g->slots[k]);
        free(g->slots);
    }
    if (g->syncs)
        gradsync_free(&g->sync);
    workspace_free(&g->ws);
    optim_free(&g->opt);
    free(g->params);
    free(g->grads);
    free(g->free_slots);
    free(g->slot_of);
    free(g->passes);
    free(g->sends);
    for (int k = 0; k < 2; k++) {
        free(g->fwd.buf[k]);
        free(g->bwd.buf[k]);
    }
    if (g->sampler.perm)
        sampler_free(&g->sampler);
    free(g->x);
    free(g->y);
    free(g->dp_group);
    free(g->tp_group);
    free(g->gpack);
    free(g->lossbuf);
    free(g->ops);
    free(g->held);
    free(g->held_at);
    free(g->pack_at);
    free(g->pack_len);
    free(g);
}

/* Note when the step's passes of this rank ran, for its pipeline's bubble. */
static void grid_clock_step(GridRank *g, long step, const StepClock *clk)
{
    GridPipeline *pipe = &g->sh->pipes[g->replica];
    if (clk->start < 0.0)
        return;
    double *s = &pipe->step_start[step - 1], *e = &pipe->step_end[step - 1];
    if (*s < 0.0 || clk->start < *s)
        *s = clk->start;
    if (clk->end > *e)
        *e = clk->end;
    pipe->busy += clk->busy;
}

static void grid_step(GridRank *g, long step)
{
    Run *run = g->run;
    if (g->x || g->y)
        grid_load(g);
    if (!g->sh->cost) /* the gradients zeroed, with the first pass's kernels */
        grid_queue(g, op_zero_grads, 0, NULL, NULL);
    StepClock clk = {.start = -1.0};
    double loss = 0.0;
    for (int k = 0; k < g->npasses; k++) {
        if (g->passes[k].kind == PASS_FORWARD)
            grid_forward(g, g->passes[k].micro, &clk);
        else
            loss += grid_backward(g, g->passes[k].micro, k == g->last_backward, &clk);
    }
    comm_waitall(&g->p2p, g->sends, g->nsends);
    g->nsends = 0;
    if (g->next < 0 && g->shard == 0)
        run_add_loss(run, loss, run->sc->batch);
    grid_clock_step(g, step, &clk);
    if (g->syncs)
        gradsync_finish(&g->sync);
    grid_apply(g);
    grid_deposit(g, step);
    if (g->rank == 0)
        run_progress(run, step);
}

static void grid_rank_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    GridRank *g = sg_actor_self_get_data();
    Run *run = g->run;
    char name[32];
    snprintf(name, sizeof name, "rank-%d-stream", g->rank);
    if (g->syncs)
        gradsync_start(&g->sync, g->dev.host, name);
    inbox_start(g, &g->fwd);
    inbox_start(g, &g->bwd);
    for (long step = 1; step <= run->total_steps; step++)
        grid_step(g, step);
    g->sh->place[g->rank].peak_stashed = g->peak;
    grid_pipeline_done(g->sh, g->replica, run->total_steps);
    grid_rank_free(g);
}

/* ---- start ---------------------------------------------------------------- */

/* The parts of its stage's parameters rank g holds, layer by layer, and
 * where each layer's parts sit in the packed run. */
static void grid_rank_held(GridRank *g)
{
    size_t at = 0;
    g->held_at[g->first] = 0;
    for (int l = g->first; l < g->last; l++) {
        int n = tp_layer_blocks(g->plan, l, g->shard, g->held + g->held_at[l]);
        g->held_at[l + 1] = g->held_at[l] + n;
        g->pack_at[l] = at;
        g->pack_len[l] = 0;
        for (int i = 0; i < n; i++) {
            const TpBlock *h = &g->held[g->held_at[l] + i];
            g->pack_len[l] += (size_t)h->rows * (size_t)h->cols;
        }
        at += g->pack_len[l];
    }
}

/* Rank r's place, plan and sizes, and its memory checked against its
 * device: nothing big is allocated before every rank is known to fit. */
static int grid_rank_describe(void *state, Run *run, int r, DtError *err)
{
    GridRank *g = state;
    GridShared *sh = run->state;
    const Model *m = &run->model;
    const GridConfig *c = &sh->cfg;
    const int b = sh->micro;
    *g = (GridRank){.run = run, .sh = sh, .rank = r};
    g->replica = r / (c->pp * c->tp);
    g->stage = r / c->tp % c->pp;
    g->shard = r % c->tp;
    g->first = sh->first[g->stage];
    g->last = sh->first[g->stage + 1];
    g->pbegin = m->layers[g->first].param_offset;
    g->pend = g->last < m->nlayers ? m->layers[g->last].param_offset : m->nparams;
    g->plan = &sh->plans[g->stage];
    g->nhold = tp_param_floats(g->plan);
    g->held = malloc((size_t)(g->last - g->first) * TP_MAX_BLOCKS * sizeof *g->held);
    g->held_at = malloc((size_t)(g->last + 1) * sizeof *g->held_at);
    g->pack_at = malloc((size_t)g->last * sizeof *g->pack_at);
    g->pack_len = malloc((size_t)g->last * sizeof *g->pack_len);
    if (!g->held || !g->held_at || !g->pack_at || !g->pack_len)
        return dt_fail(err, DT_ERUNTIME, "out of memory for rank %d", r);
    grid_rank_held(g);
    g->next = g->stage + 1 < c->pp ? r + c->tp : -1;
    g->prev = g->stage > 0 ? r - c->tp : -1;
    g->grad_to_prev = g->prev >= 0 && m->first_trainable < g->first;
    g->in_floats = g->first > 0 ? (size_t)b * shape_size(m->layers[g->first - 1].out) : 0;
    g->out_floats = (size_t)b * shape_size(m->layers[g->last - 1].out);
    g->p2p = (Comm){.world = &sh->world, .rank = r, .channel = 0};
    g->tpc = (Comm){.world = &sh->world, .rank = r, .channel = 1};
    g->dpc = (Comm){.world = &sh->world, .rank = r, .channel = 2};
    g->nslots = plan_stash_slots(c->pipe->schedule, c->pp, g->stage, c->pipe->microbatches);
    record_role(&run->rec, r, c->tp > 1 ? "shard" : c->pp > 1 ? "stage" : "worker", run->sc->batch);
    sh->place[r] = (GridPlace){.replica = g->replica,
                               .stage = g->stage,
                               .shard = g->shard,
                               .first_layer = g->first,
                               .last_layer = g->last};
    MemoryNeed need = plan_stage_memory(g->plan, &run->sc->opt, b, g->nslots, g->prev >= 0,
                                        g->next >= 0, sh->recompute);
    return device_init(&g->dev, run, r, &need, err);
}

/* The rank's buffers: parameters, gradients, packs, stash, schedule,
 * staging, data; 0 or -1 when memory runs out. */
static int grid_rank_buffers(GridRank *g)
{
    const Run *run = g->run;
    const Model *m = &run->model;
    const GridConfig *c = &g->sh->cfg;
    const int mb = c->pipe->microbatches;
    g->free_slots = malloc((size_t)g->nslots * sizeof(int));
    g->slot_of = malloc((size_t)mb * sizeof(int));
    g->passes = malloc(2 * (size_t)mb * sizeof(Pass));
    g->sends = malloc(2 * (size_t)mb * sizeof(CommRequest *));
    g->slots = calloc((size_t)g->nslots, sizeof(float *));
    g->dp_group = malloc((size_t)c->dp * sizeof(int));
    g->tp_group = malloc((size_t)c->tp * sizeof(int));
    int ok = g->free_slots && g->slot_of && g->passes && g->sends && g->slots && g->dp_group &&
             g->tp_group;
    if (g->sh->cost)
        return ok ? 0 : -1; /* no tensor at all */
    /* the kernels queued between two flushes: in a pass, each layer's
     * forward and its recomputation (two each), its backward (two), three
     * for the loss, the gradients' zeroing, a bucket's packing; the update
     * alone */
    g->max_ops = 6 * (g->last - g->first) + 5;
    g->ops = malloc((size_t)g->max_ops * sizeof *g->ops);
    ok = ok && g->ops;
    g->params = calloc(m->nparams, sizeof(float));
    g->grads = calloc(m->nparams, sizeof(float));
    ok = ok && g->params && g->grads;
    if (ok && c->tp > 1) {
        g->gpack = malloc((g->nhold ? g->nhold : 1) * sizeof(float));
        ok = g->gpack != NULL;
    }
    for (int k = 0; ok && k < 2; k++) {
        if (g->fwd.total && !(g->fwd.buf[k] = malloc(g->fwd.count * sizeof(float))))
            ok = 0;
        if (g->bwd.total && !(g->bwd.buf[k] = malloc(g->bwd.count * sizeof(float))))
            ok = 0;
    }
    if (ok && g->stage == 0)
        ok = (g->x = malloc((size_t)run->sc->batch * shape_size(m->input) * sizeof(float))) != NULL;
    if (ok && (g->stage == 0 || g->stage == c->pp - 1))
        ok = (g->y = malloc((size_t)run->sc->batch * m->positions)) != NULL;
    if (ok && tp_loss_split(g->plan)) {
        size_t n1, n2;
        tp_loss_floats(g->plan, g->sh->micro, &n1, &n2);
        ok = (g->lossbuf = malloc((n1 + n2) * sizeof(float))) != NULL;
    }
    return ok ? 0 : -1;
}

/* The all-reduce of the rank's gradient across replicas, in buckets of its
 * layers' held parts. */
static int grid_rank_sync(GridRank *g, DtError *err)
{
    const GridConfig *c = &g->sh->cfg;
    for (int d = 0; d < c->dp; d++)
        g->dp_group[d] = d * c->pp * c->tp + g->stage * c->tp + g->shard;
    g->syncs = c->dp > 1 && g->nhold > 0;
    if (!g->syncs)
        return 0;
    /* a hierarchical all-reduce follows the nodes of the replicas' hosts */
    int local = 0, *node = malloc((size_t)c->dp * sizeof *node);
    if (!node)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    for (int d = 0; d < c->dp; d++)
        node[d] = g->run->place.node[g->dp_group[d]];
    int rc = gradsync_local(c->sync, node, c->dp, &local, err);
    free(node);
    if (rc < 0)
        return -1;
    gradsync_plan(&g->buckets, c->sync, g->pack_at, g->pack_len, g->first, g->last);
    Group grp = {
        .comm = &g->dpc, .size = c->dp, .ranks = g->dp_group, .index = g->replica, .local = local};
    float *grad = g->sh->cost ? NULL : g->gpack ? g->gpack : g->grads + g->pbegin;
    gradsync_init(&g->sync, c->sync, &grp, grad, g->nhold, &g->buckets, g->run->total_steps);
    return 0;
}

/* The assembled model that evaluation and --save-model read, and the
 * initial parameters the ranks take their parts of. */
static int grid_eval_init(GridShared *sh, const Run *run, DtError *err)
{
    const Model *m = &run->model;
    sh->eval.m = m;
    sh->eval.batch = run->global_batch;
    if (sh->cost)
        return 0; /* nothing to evaluate, nothing to initialise */
    sh->eval.params = calloc(m->nparams, sizeof(float));
    sh->init = malloc(m->nparams * sizeof(float));
    if (!sh->eval.params || !sh->init)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    model_init_params(m, sh->init, run->sc->seed);
    return workspace_init(&sh->eval.ws, m, sh->eval.batch, err);
}

/* Everything the rank's actor uses, and its initial parameters. */
static int grid_rank_alloc(void *state, DtError *err)
{
    GridRank *g = state;
    const Run *run = g->run;
    const Scenario *sc = run->sc;
    const Model *m = &run->model;
    const GridConfig *c = &g->sh->cfg;
    const int mb = c->pipe->microbatches;
    long messages = run->total_steps * mb;
    /* the first rank to allocate, after every rank's memory was checked,
     * makes the blocks they share */
    if (!g->sh->init && grid_eval_init(g->sh, run, err) < 0)
        return -1;
    g->fwd = (Inbox){.src = g->prev, .count = g->in_floats, .total = g->prev >= 0 ? messages : 0};
    g->bwd = (Inbox){.src = g->next,
                     .count = g->out_floats,
                     .total = g->next >= 0 && m->first_trainable < g->last ? messages : 0};
    if (grid_rank_buffers(g) < 0)
        return dt_fail(err, DT_ERUNTIME, "out of memory for rank %d", g->rank);
    if (g->sh->cost)
        optim_describe(&g->opt, &sc->opt, g->nhold);
    else if (workspace_init_range(&g->ws, m, g->sh->micro, g->first, g->last, err) < 0 ||
             optim_init(&g->opt, &sc->opt, g->nhold, err) < 0)
        return -1;
    g->slots[0] = g->ws.act;
    for (int k = 1; k < g->nslots && !g->sh->cost; k++)
        if (!(g->slots[k] = malloc((g->ws.act_floats ? g->ws.act_floats : 1) * sizeof(float))))
            return dt_fail(err, DT_ERUNTIME, "out of memory for rank %d's activations", g->rank);
    for (int k = 0; k < g->nslots; k++)
        g->free_slots[k] = g->nslots - 1 - k;
    g->nfree = g->nslots;
    g->npasses = plan_schedule(c->pipe->schedule, c->pp, g->stage, mb, g->passes);
    for (int k = 0; k < g->npasses; k++)
        if (g->passes[k].kind == PASS_BACKWARD)
            g->last_backward = k;
    for (int k = 0; k < c->tp; k++)
        g->tp_group[k] = g->rank - g->shard + k;
    if (grid_rank_sync(g, err) < 0)
        return -1;
    if ((g->x || g->y) &&
        sampler_init(&g->sampler, run->train.n, run->global_batch, sc->seed, err) < 0)
        return -1;
    /* the initial values of what it holds, and only those */
    float *init = g->sh->init;
    for (int i = 0; init && i < g->held_at[g->last]; i++) {
        const TpBlock *h = &g->held[i];
        for (int row = 0; row < h->rows; row++) {
            size_t at = h->offset + (size_t)row * h->stride;
            memcpy(g->params + at, init + at, (size_t)h->cols * sizeof(float));
        }
    }
    return 0;
}

static const RankKind grid_rank = {
    "rank", sizeof(GridRank), grid_rank_describe, grid_rank_alloc, grid_rank_free, grid_rank_main,
};

static int grid_shared_init(GridShared *sh, Run *run, const GridConfig *c, DtError *err)
{
    const Model *m = &run->model;
    sh->cfg = *c;
    sh->cost = run->sc->cost;
    sh->recompute = run->sc->recompute;
    model_checkpoints(m, sh->cut);
    sh->pipe = c->pipe ? *c->pipe : (PipeConfig){.microbatches = 1, .schedule = SCHEDULE_GPIPE};
    sh->sync = c->sync ? *c->sync : (GradSyncConfig){.allreduce = "ring"};
    sh->cfg.pipe = &sh->pipe;
    sh->cfg.sync = &sh->sync;
    sh->micro = run->sc->batch / sh->pipe.microbatches;
    if (grid_stages(m, &sh->cfg, sh->first, err) < 0 ||
        comm_world_init(&sh->world, run->nranks, &run->rec, run_wire_bytes(run), err) < 0)
        return -1;
    if (!(sh->plans = malloc((size_t)c->pp * sizeof *sh->plans)))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    for (int s = 0; s < c->pp; s++)
        if (tp_plan(&sh->plans[s], m, sh->first[s], sh->first[s + 1], c->tp, err) < 0)
            return -1;
    sh->shard_allreduce = collective_find(COLL_ALLREDUCE, grid_tp_allreduce(c));
    sh->pipes = calloc((size_t)c->dp, sizeof *sh->pipes);
    sh->place = calloc((size_t)run->nranks, sizeof *sh->place);
    if (!sh->pipes || !sh->place)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    for (int d = 0; d < c->dp; d++) {
        GridPipeline *p = &sh->pipes[d];
        p->live = c->pp * c->tp;
        p->step_start = malloc((size_t)run->total_steps * sizeof(double));
        p->step_end = calloc((size_t)run->total_steps, sizeof(double));
        if (!p->step_start || !p->step_end)
            return dt_fail(err, DT_ERUNTIME, "out of memory");
        for (long k = 0; k < run->total_steps; k++)
            p->step_start[k] = -1.0;
    }
    return 0;
}

int grid_start(Run *run, const GridConfig *c, DtError *err)
{
    GridShared *sh = run->state = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (grid_shared_init(sh, run, c, err) < 0 || run_spawn_all(run, &grid_rank, err) < 0)
        return -1;
    free(sh->init);
    sh->init = NULL;
    return 0;
}

void grid_stop(Run *run)
{
    GridShared *sh = run->state;
    if (!sh)
        return;
    for (int d = 0; sh->pipes && d < sh->cfg.dp; d++) {
        free(sh->pipes[d].step_start);
        free(sh->pipes[d].step_end);
    }
    free(sh->pipes);
    free(sh->place);
    free(sh->plans);
    free(sh->init);
    free(sh->eval.params);
    workspace_free(&sh->eval.ws);
    comm_world_free(&sh->world);
    free(sh);
    run->state = NULL;
}

/* ---- results -------------------------------------------------------------- */

static void grid_pipelines(const Run *run, const GridShared *sh, cJSON *root)
{
    int n = 0, measured = 0;
    double bubble = 0.0;
    for (int d = 0; d < sh->cfg.dp; d++) {
        if (!sh->pipes[d].measured)
            continue;
        n = d + 1;
        measured++;
        bubble += sh->pipes[d].bubble;
    }
    if (n == 0)
        return;
    record_measure(root, "bubble_fraction", bubble / measured);
    cJSON *pipes = cJSON_AddArrayToObject(root, "pipelines");
    for (int i = 0; i < n; i++) {
        const GridPipeline *p = &sh->pipes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddNumberToObject(o, "bubble_fraction", p->bubble);
        if (p->makespan > 0.0)
            cJSON_AddNumberToObject(o, "step_makespan_seconds", p->makespan);
        cJSON *peaks = cJSON_AddArrayToObject(o, "peak_stashed_microbatches");
        for (int k = 0; k < run->nranks; k++)
            if (sh->place[k].replica == i && sh->place[k].shard == 0)
                cJSON_AddItemToArray(peaks, cJSON_CreateNumber(sh->place[k].peak_stashed));
        cJSON_AddItemToArray(pipes, o);
    }
}

void grid_results(const Run *run, cJSON *root)
{
    const GridShared *sh = run->state;
    const GridConfig *c = &sh->cfg;
    grid_pipelines(run, sh, root);
    cJSON *grid = cJSON_AddObjectToObject(root, "grid");
    cJSON_AddNumberToObject(grid, "dp", c->dp);
    cJSON_AddNumberToObject(grid, "pp", c->pp);
    cJSON_AddNumberToObject(grid, "tp", c->tp);
    cJSON_AddNumberToObject(grid, "microbatches", sh->pipe.microbatches);
    cJSON_AddNumberToObject(grid, "micro_batch", sh->micro);
    cJSON_AddStringToObject(grid, "schedule", grid_schedules[sh->pipe.schedule]);
    cJSON_AddNumberToObject(grid, "nodes", run->place.nodes);
    cJSON_AddBoolToObject(grid, "tp_groups_within_node", run->place.groups_in_node);
    cJSON_AddStringToObject(grid, "placement", run->place.how);
}

void grid_host_results(const Run *run, int rank, cJSON *host)
{
    const GridShared *sh = run->state;
    const GridPlace *g = &sh->place[rank];
    cJSON *place = cJSON_AddObjectToObject(host, "grid");
    cJSON_AddNumberToObject(place, "replica", g->replica);
    cJSON_AddNumberToObject(place, "stage", g->stage);
    cJSON_AddNumberToObject(place, "shard", g->shard);
    cJSON_AddNumberToObject(place, "first_layer", g->first_layer);
    cJSON_AddNumberToObject(place, "last_layer", g->last_layer - 1);
    cJSON_AddNumberToObject(place, "node", run->place.node[rank]);
    cJSON_AddNumberToObject(place, "peak_stashed_microbatches", g->peak_stashed);
}
