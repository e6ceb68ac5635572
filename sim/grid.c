/*
 * grid.c - the model-parallel engine (see grid.h): one actor per rank of a
 * dp x pp x tp grid, each running its stage's layers on its micro-batches
 * in schedule order.
 *
 * Everything an actor needs is allocated in grid_start, before the
 * simulation runs, so no actor can fail half-way and leave its neighbours
 * waiting.  Every stage runs its layers through a tensor-parallel plan
 * (core/tensor_parallel.h), which with tp = 1 is the serial kernels.
 * Parameters and gradients are full-layout blocks (nparams floats, the
 * layout core/ computes in) of which a rank touches only what its shard of
 * its stage holds; the pages of the rest are never written, so they cost
 * no real memory.  The optimizer and the all-reduce across replicas work
 * on the held floats packed into one run (in place without tensor
 * parallelism, where they are one range already).  A stage keeps one
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

#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xbt/asserts.h>

#include "collective.h"
#include "platform.h"
#include "run.h"
#include "sampler.h"
#include "tensor_parallel.h"

typedef enum { OP_FORWARD, OP_BACKWARD } OpKind;

typedef struct Op {
    OpKind kind;
    int micro;
} Op;

/* One data-parallel replica's pipeline, for its bubble. */
typedef struct GridPipeline {
    double *step_start; /* (steps) first forward computation of the step, -1 before */
    double *step_end;   /* (steps) end of its last backward computation */
    double busy;        /* seconds its ranks spent in forward and backward passes */
    int live;           /* ranks still running: the last one records the bubble */
} GridPipeline;

/* What all ranks share; read-only during the run except where noted. */
typedef struct GridShared {
    Run *run;
    GridConfig cfg;
    int first[MODEL_MAX_LAYERS + 1]; /* stage s: layers [first[s], first[s + 1]) */
    int micro;                       /* samples per micro-batch */
    CommWorld world;
    const CollectiveOps *allreduce;
    GridPipeline *pipes; /* (dp) */
    /* evaluation: the assembled parameters (written by the deposits) */
    Replica eval;
    long deposit_step;
    int deposited;
    int live; /* ranks still running: the last one frees this */
} GridShared;

/* A stream of messages from one neighbour, received one ahead. */
typedef struct Inbox {
    int src;
    size_t count; /* floats per message */
    float *buf[2];
    CommRequest *req;
    long got, total;
} Inbox;

/* A strided run of parameters a shard holds (tensor_parallel.h's TpBlock). */
typedef TpBlock HeldBlock;

typedef struct GridRank {
    GridShared *sh;
    int rank, replica, stage, shard;
    int first, last;                      /* layers [first, last) */
    TpPlan plan;                          /* how the stage's layers are split over its tp shards */
    size_t pbegin, pend;                  /* parameters of the stage: [pbegin, pend) of the block */
    HeldBlock held[2 * MODEL_MAX_LAYERS]; /* the parts of them this shard holds */
    int nheld;
    size_t nhold;      /* parameter floats it holds (tp_param_floats) */
    float *ppack;      /* (nhold) its parameters packed, or NULL: contiguous in params */
    float *gpack;      /* (nhold) its gradient packed, likewise */
    int next, prev;    /* ranks of the neighbouring stages' matching shard, -1 if none */
    int grad_to_prev;  /* the stage's input gradient goes back to prev */
    size_t in_floats;  /* per micro-batch: the stage's input (stage > 0) */
    size_t out_floats; /* and its output */
    Device dev;
    Comm p2p, tpc, dpc;
    int *tp_group; /* (tp) the shards of the stage */
    int *dp_group; /* (dp) ranks holding the same slice in every replica */
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
    Op *ops; /* (2m) the schedule */
    int nops;
    Inbox fwd, bwd;      /* activations from prev, gradients from next */
    CommRequest **sends; /* (2m) this step's sends */
    int nsends;
    Sampler sampler; /* stage 0 and the last stage read the data */
    float *x;        /* (batch, sample) stage 0: this step's mini-batch */
    uint8_t *y;      /* (batch) the last stage: its labels */
} GridRank;

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the plan: stages, schedule, memory ---------------------------------- */

static double layer_cost(const Model *m, int l)
{
    double c = model_layer_forward_flops(m, l, 1) + model_layer_backward_flops(m, l, 1);
    if (l == m->nlayers - 1)
        c += softmax_xent_forward_flops(1, m->classes) + softmax_xent_backward_flops(1, m->classes);
    return c;
}

/* The contiguous split of the layers into p non-empty stages that
 * minimises the largest stage cost (dynamic programming; ties go to the
 * earliest boundary, so the split is deterministic). */
static void grid_balance(const Model *m, int p, int *first)
{
    int n = m->nlayers;
    double prefix[MODEL_MAX_LAYERS + 1] = {0};
    for (int l = 0; l < n; l++)
        prefix[l + 1] = prefix[l] + layer_cost(m, l);
    /* best[k][j]: the least largest cost of layers [0, j) in k stages */
    double best[MODEL_MAX_LAYERS + 1][MODEL_MAX_LAYERS + 1];
    int cut[MODEL_MAX_LAYERS + 1][MODEL_MAX_LAYERS + 1];
    for (int j = 1; j <= n; j++) {
        best[1][j] = prefix[j];
        cut[1][j] = 0;
    }
    for (int k = 2; k <= p; k++) {
        for (int j = k; j <= n; j++) {
            best[k][j] = -1.0;
            for (int i = k - 1; i < j; i++) {
                double last = prefix[j] - prefix[i];
                double c = best[k - 1][i] > last ? best[k - 1][i] : last;
                if (best[k][j] < 0.0 || c < best[k][j] * (1 - 1e-12)) {
                    best[k][j] = c;
                    cut[k][j] = i;
                }
            }
        }
    }
    first[p] = n;
    for (int k = p, j = n; k >= 1; k--) {
        first[k - 1] = cut[k][j];
        j = cut[k][j];
    }
}

int grid_split(const Model *m, const GridConfig *g, int *first, DtError *err)
{
    int p = g->pp, n = m->nlayers;
    if (p > n)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] %s = %d but the model has only %d layers (flatten, dense, "
                       "conv and pool layers count one each): use at most %d stages",
                       g->stages_key, p, n, n);
    if (g->nsplit == 0) {
        grid_balance(m, p, first);
        return 0;
    }
    if (g->nsplit != p - 1)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] split gives %d first layers but %s = %d stages need %d (the "
                       "first layer of stages 1 .. %d)",
                       g->nsplit, g->stages_key, p, p - 1, p - 1);
    first[0] = 0;
    for (int s = 1; s < p; s++) {
        first[s] = g->split[s - 1];
        if (first[s] <= first[s - 1] || first[s] >= n)
            return dt_fail(err, DT_EINPUT,
                           "[strategy] split = ...%d...: each stage's first layer must be "
                           "after the previous stage's and below %d (the model's layers are 0 "
                           ".. %d), so that every stage holds at least one layer",
                           first[s], n, n - 1);
    }
    first[p] = n;
    return 0;
}

int grid_check(const Scenario *sc, const GridConfig *g, DtError *err)
{
    Model m;
    int first[MODEL_MAX_LAYERS + 1];
    if (model_build(&m, &sc->model, err) < 0 || grid_split(&m, g, first, err) < 0)
        return -1;
    if (sc->batch % g->microbatches != 0)
        return dt_fail(err, DT_EINPUT,
                       "[train] batch = %d is not divisible by [strategy] microbatches = %d: "
                       "every micro-batch must hold the same number of samples",
                       sc->batch, g->microbatches);
    for (int s = 0; s < g->pp; s++) {
        TpPlan plan;
        if (tp_plan(&plan, &m, first[s], first[s + 1], g->tp, err) < 0)
            return -1;
    }
    return 0;
}

/* The schedule of stage s of p over m micro-batches, into ops (2m). */
static int grid_schedule(Schedule sch, int p, int s, int m, Op *ops)
{
    int n = 0;
    if (sch == SCHEDULE_GPIPE) {
        for (int i = 0; i < m; i++)
            ops[n++] = (Op){OP_FORWARD, i};
        for (int i = m - 1; i >= 0; i--)
            ops[n++] = (Op){OP_BACKWARD, i};
        return n;
    }
    int warm = p - s - 1 < m ? p - s - 1 : m;
    for (int i = 0; i < warm; i++)
        ops[n++] = (Op){OP_FORWARD, i};
    for (int i = 0; i < m - warm; i++) {
        ops[n++] = (Op){OP_FORWARD, warm + i};
        ops[n++] = (Op){OP_BACKWARD, i};
    }
    for (int i = m - warm; i < m; i++)
        ops[n++] = (Op){OP_BACKWARD, i};
    return n;
}

/* Micro-batches whose activations stage s keeps at the peak of its
 * schedule: all m with GPipe; with 1F1B its warm-up forwards plus one. */
static int grid_stash_slots(Schedule sch, int p, int s, int m)
{
    if (sch == SCHEDULE_GPIPE)
        return m;
    return p - s < m ? p - s : m;
}

/* What rank g keeps on its device at the peak of its schedule; the
 * workspace's other buffers are counted at their unsplit size, an upper
 * bound for a tensor-parallel shard. */
static DeviceMemoryNeed grid_memory_need(const GridRank *g, const Model *m, const OptConfig *opt)
{
    int b = g->sh->micro;
    double params = sizeof(float) * (double)g->nhold;
    int state = (opt->kind == OPT_ADAM) ? 2 : (opt->momentum != 0.0);
    double stash = sizeof(float) * (double)tp_activation_floats(&g->plan, b);
    if (g->first > 0)
        stash += sizeof(float) * (double)b * shape_size(m->layers[g->first - 1].out);
    if (g->first == 0)
        stash += sizeof(float) * (double)b * shape_size(m->input);
    double staging = sizeof(float) * 2.0 * (double)(g->prev >= 0 ? g->in_floats : 0);
    staging += sizeof(float) * 2.0 * (double)(g->next >= 0 ? g->out_floats : 0);
    return (DeviceMemoryNeed){
        .parameters = params,
        .gradients = params,
        .optimizer = state * params,
        .activations = g->nslots * stash,
        .buffers = (double)workspace_range_buffer_bytes(m, b, g->first, g->last) + staging,
    };
}

/* ---- placement ------------------------------------------------------------ */

/* Does every tensor-parallel group (tp consecutive ranks) sit on one node? */
static int grid_tp_in_node(const int *node, int nranks, int tp)
{
    for (int r = 0; r < nranks; r++)
        if (node[r] != node[r - r % tp])
            return 0;
    return 1;
}

/* Rank r's host: the natural order unless it splits a tensor-parallel
 * group across nodes, in which case whole groups are packed into nodes
 * (the first tp, 2tp, ... hosts of each node, nodes in order) when the
 * nodes can hold them all.  An explicit [cluster] hosts list is kept as
 * given.  Records each rank's node and the summary of the placement. */
static int grid_place(Run *run, const GridConfig *c, int *node_of_rank, DtError *err)
{
    GridSummary *sum = &run->rec.grid;
    int n = run->nranks;
    size_t nhosts;
    sg_host_t *all = platform_hosts(&nhosts);
    int *node = malloc(nhosts * sizeof *node);
    if (!all || !node) {
        free(all);
        free(node);
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    }
    int nodes = platform_nodes(all, nhosts, node);
    sum->placement = "host order: ranks on the first hosts in name order";
    if (run->sc->hosts[0]) {
        sum->placement = "as listed in [cluster] hosts";
    } else if (!grid_tp_in_node(node, n, c->tp)) {
        /* pack whole groups into each node: its first tp hosts, its next
         * tp, ...; nodes in order */
        int placed = 0;
        sg_host_t *packed = malloc((size_t)n * sizeof *packed);
        for (int k = 0; packed && k < nodes && placed < n; k++) {
            int in_node = 0;
            for (size_t h = 0; h < nhosts; h++)
                in_node += node[h] == k;
            int take = in_node / c->tp * c->tp;
            for (size_t h = 0; h < nhosts && take > 0 && placed < n; h++) {
                if (node[h] != k)
                    continue;
                packed[placed++] = all[h];
                take--;
            }
        }
        if (packed && placed == n) {
            memcpy(run->rank_host, packed, (size_t)n * sizeof *packed);
            sum->placement = "tensor-parallel groups packed into nodes";
        } else {
            sum->placement = "host order: the nodes cannot hold whole tensor-parallel groups";
        }
        free(packed);
    }
    /* each rank's node, and how many nodes the ranks use */
    int used = 0;
    for (int r = 0; r < n; r++) {
        node_of_rank[r] = -1;
        for (size_t h = 0; h < nhosts && node_of_rank[r] < 0; h++)
            if (all[h] == run->rank_host[r])
                node_of_rank[r] = node[h];
        int seen = 0;
        for (int q = 0; q < r; q++)
            seen |= node_of_rank[q] == node_of_rank[r];
        used += !seen;
    }
    free(node);
    free(all);
    sum->nodes = used;
    sum->tp_in_node = grid_tp_in_node(node_of_rank, n, c->tp);
    return 0;
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
    memcpy(dst, in->buf[in->got % 2], in->count * sizeof(float));
    in->got++;
    if (in->got < in->total)
        in->req = comm_irecv(&g->p2p, in->src, in->buf[in->got % 2], in->count);
}

/* Load this step's mini-batch slice: stage 0 its samples, the last stage
 * its labels. */
static void grid_load(GridRank *g)
{
    Run *run = g->sh->run;
    const int b = run->sc->batch;
    double t = wall_clock();
    const int *idx = sampler_next(&g->sampler) + (size_t)g->replica * b;
    if (g->x)
        dataset_gather(&run->train, idx, b, g->x, g->y);
    else if (g->y)
        for (int i = 0; i < b; i++)
            g->y[i] = run->train.y[idx[i]];
    g->dev.rec->kernel_wall += wall_clock() - t;
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

/* The stage's first layer reads the mini-batch's samples on stage 0. */
static const float *grid_input(const GridRank *g, int micro)
{
    if (!g->x)
        return NULL;
    const Model *m = &g->sh->run->model;
    return g->x + (size_t)micro * g->sh->micro * shape_size(m->input);
}

/* Sum buf (count floats) over the stage's tensor-parallel shards. */
static void grid_allreduce_shards(GridRank *g, float *buf, size_t count)
{
    Group grp = {.comm = &g->tpc, .size = g->sh->cfg.tp, .ranks = g->tp_group, .index = g->shard};
    g->sh->allreduce->run(&grp, buf, count, 0);
}

/* Layer l's forward on this shard (tensor_parallel.h's calling sequence;
 * with tp = 1 the serial kernels), charged on the device; its input is x
 * for layer 0, else the previous layer's output in the workspace. */
static void grid_layer_forward(GridRank *g, int l, const float *x)
{
    const Model *m = &g->sh->run->model;
    const int b = g->sh->micro;
    LayerIO io = {
        .batch = b,
        .params = g->params + m->layers[l].param_offset,
        .in = l == 0 ? x : workspace_output(&g->ws, l - 1),
        .out = workspace_output(&g->ws, l),
        .scratch = g->ws.scratch,
    };
    double t = wall_clock();
    tp_forward(&g->plan, l, g->shard, &io);
    g->dev.rec->kernel_wall += wall_clock() - t;
    TpCost c = tp_forward_cost(&g->plan, l, b);
    device_compute(&g->dev, c.flops, c.bytes, "forward");
    size_t n = tp_forward_allreduce_floats(&g->plan, l, b);
    if (n == 0)
        return;
    grid_allreduce_shards(g, io.out, n);
    t = wall_clock();
    tp_forward_finish(&g->plan, l, &io);
    g->dev.rec->kernel_wall += wall_clock() - t;
    c = tp_finish_cost(&g->plan, l, b);
    device_compute(&g->dev, c.flops, c.bytes, "forward");
}

/* Layer l's backward on this shard: the gradient of its output is in
 * dact[l % 2], that of its input goes to dact[(l + 1) % 2] (model.c's
 * convention), summed over the shards after a COLUMN layer. */
static void grid_layer_backward(GridRank *g, int l, const float *x)
{
    const Model *m = &g->sh->run->model;
    const int b = g->sh->micro;
    if (m->first_trainable > l)
        return; /* nothing below the first layer with parameters */
    const size_t off = m->layers[l].param_offset;
    LayerIO io = {
        .batch = b,
        .params = g->params + off,
        .dparams = g->grads + off,
        .in = l == 0 ? x : workspace_output(&g->ws, l - 1),
        .out = workspace_output(&g->ws, l),
        .dout = g->ws.dact[l % 2],
        .din = m->first_trainable < l ? g->ws.dact[(l + 1) % 2] : NULL,
        .scratch = g->ws.scratch,
    };
    double t = wall_clock();
    tp_backward(&g->plan, l, g->shard, &io);
    g->dev.rec->kernel_wall += wall_clock() - t;
    TpCost c = tp_backward_cost(&g->plan, l, b);
    device_compute(&g->dev, c.flops, c.bytes, "backward");
    size_t n = tp_backward_allreduce_floats(&g->plan, l, b);
    if (n > 0)
        grid_allreduce_shards(g, io.din, n);
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
        inbox_take(g, &g->fwd, workspace_output(&g->ws, g->first - 1));
    const float *x = grid_input(g, micro);
    double t0 = simgrid_get_clock();
    for (int l = g->first; l < g->last; l++)
        grid_layer_forward(g, l, x);
    clock_pass(clk, t0);
    if (g->next >= 0)
        g->sends[g->nsends++] =
            comm_isend(&g->p2p, g->next, workspace_output(&g->ws, g->last - 1), g->out_floats);
}

/* Backward of one micro-batch; returns its summed loss on the last stage. */
static double grid_backward(GridRank *g, int micro, StepClock *clk)
{
    GridShared *sh = g->sh;
    const Model *m = &sh->run->model;
    const int b = sh->micro;
    double loss = 0.0;
    g->ws.act = g->slots[g->slot_of[micro]];
    int work = g->next < 0 || g->bwd.total > 0; /* below the first parameters: nothing */
    if (g->next >= 0 && work)
        inbox_take(g, &g->bwd, g->ws.dact[(g->last - 1) % 2]);
    double t0 = simgrid_get_clock();
    if (g->next < 0) {
        double t = wall_clock();
        loss =
            model_loss(m, &g->ws, g->y + (size_t)micro * b, b, 1.0f / (float)sh->run->global_batch);
        g->dev.rec->kernel_wall += wall_clock() - t;
        device_compute(&g->dev,
                       softmax_xent_forward_flops(b, m->classes) +
                           softmax_xent_backward_flops(b, m->classes),
                       3.0 * sizeof(float) * b * m->classes, "loss");
    }
    if (work) {
        const float *x = grid_input(g, micro);
        for (int l = g->last - 1; l >= g->first; l--)
            grid_layer_backward(g, l, x);
        clock_pass(clk, t0);
    }
    if (g->grad_to_prev)
        g->sends[g->nsends++] =
            comm_isend(&g->p2p, g->prev, g->ws.dact[(g->first - 1) % 2], g->in_floats);
    g->free_slots[g->nfree++] = g->slot_of[micro];
    g->stash--;
    return loss;
}

/* Sum the rank's gradient slice over the replicas that hold it. */
/* Copy the held floats between the full-layout block and a packed buffer
 * (to_pack: block -> pack), or set them to zero (pack NULL). */
static void grid_held_copy(const GridRank *g, float *block, float *pack, int to_pack)
{
    size_t k = 0;
    for (int i = 0; i < g->nheld; i++) {
        const HeldBlock *h = &g->held[i];
        for (int r = 0; r < h->rows; r++) {
            float *run = block + h->offset + (size_t)r * h->stride;
            size_t n = (size_t)h->cols;
            if (!pack)
                memset(run, 0, n * sizeof(float));
            else if (to_pack)
                memcpy(pack + k, run, n * sizeof(float));
            else
                memcpy(run, pack + k, n * sizeof(float));
            k += n;
        }
    }
}

/* The rank's gradient as one contiguous run: in place when it holds one
 * range of the block (no tensor parallelism), else packed. */
static float *grid_gradient(GridRank *g)
{
    if (!g->gpack)
        return g->grads + g->pbegin;
    grid_held_copy(g, g->grads, g->gpack, 1);
    return g->gpack;
}

/* Sum the rank's gradient over the replicas that hold the same part. */
static void grid_allreduce_replicas(GridRank *g, float *grad)
{
    const GridConfig *c = &g->sh->cfg;
    if (c->dp == 1 || g->nhold == 0)
        return;
    Group grp = {.comm = &g->dpc, .size = c->dp, .ranks = g->dp_group, .index = g->replica};
    g->sh->allreduce->run(&grp, grad, g->nhold, 0);
}

/* One optimizer step over every parameter the rank holds (replicated ones
 * too: their gradients agree on all shards, so their values stay equal). */
static void grid_apply(GridRank *g, const float *grad)
{
    if (g->nhold == 0)
        return;
    double t = wall_clock();
    if (g->ppack) {
        grid_held_copy(g, g->params, g->ppack, 1);
        optim_step(&g->opt, g->ppack, grad);
        grid_held_copy(g, g->params, g->ppack, 0);
    } else {
        optim_step(&g->opt, g->params + g->pbegin, grad);
    }
    g->dev.rec->kernel_wall += wall_clock() - t;
    device_compute(&g->dev, optim_step_flops(&g->opt), optim_step_bytes(&g->opt), "update");
}

/* After the update of `step`: replica 0's ranks hand their slices in when
 * an evaluation is due; the last one evaluates the assembled model. */
static void grid_deposit(GridRank *g, long step)
{
    GridShared *sh = g->sh;
    Run *run = sh->run;
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
    tp_gather_owned(&g->plan, g->shard, g->params, sh->eval.params);
    if (++sh->deposited < sh->cfg.pp * sh->cfg.tp)
        return;
    sh->deposited = 0;
    run_evaluate(run, &sh->eval, step);
    if (step == run->total_steps)
        run_keep_params(run, sh->eval.params);
}

static void grid_shared_free(GridShared *sh)
{
    if (sh->pipes) {
        for (int d = 0; d < sh->cfg.dp; d++) {
            free(sh->pipes[d].step_start);
            free(sh->pipes[d].step_end);
        }
        free(sh->pipes);
    }
    free(sh->eval.params);
    workspace_free(&sh->eval.ws);
    comm_world_free(&sh->world);
    free(sh);
}

/* The last rank of a pipeline to finish records its bubble. */
static void grid_pipeline_done(GridShared *sh, int d)
{
    GridPipeline *p = &sh->pipes[d];
    if (--p->live > 0 || sh->cfg.pp == 1)
        return;
    double windows = 0.0;
    long steps = 0;
    for (long k = 0; k < sh->run->total_steps; k++) {
        if (p->step_start[k] < 0.0)
            continue;
        windows += p->step_end[k] - p->step_start[k];
        steps++;
    }
    int ranks = sh->cfg.pp * sh->cfg.tp;
    if (windows > 0.0) {
        record_bubble(&sh->run->rec, d, 1.0 - p->busy / (ranks * windows));
        record_step_seconds(&sh->run->rec, d, windows / (double)steps);
    }
}

static void grid_rank_free(GridRank *g)
{
    GridShared *sh = g->sh;
    if (g->slots) {
        g->ws.act = g->slots[0];
        for (int k = 1; k < g->nslots; k++)
            free(g->slots[k]);
        free(g->slots);
    }
    workspace_free(&g->ws);
    optim_free(&g->opt);
    free(g->params);
    free(g->grads);
    free(g->free_slots);
    free(g->slot_of);
    free(g->ops);
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
    free(g->ppack);
    free(g->gpack);
    free(g);
    if (--sh->live == 0)
        grid_shared_free(sh);
}

static void grid_rank_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    GridRank *g = sg_actor_self_get_data();
    GridShared *sh = g->sh;
    Run *run = sh->run;
    GridPipeline *pipe = &sh->pipes[g->replica];
    inbox_start(g, &g->fwd);
    inbox_start(g, &g->bwd);
    for (long step = 1; step <= run->total_steps; step++) {
        if (g->x || g->y)
            grid_load(g);
        grid_held_copy(g, g->grads, NULL, 0);
        StepClock clk = {.start = -1.0};
        double loss = 0.0;
        for (int k = 0; k < g->nops; k++) {
            if (g->ops[k].kind == OP_FORWARD)
                grid_forward(g, g->ops[k].micro, &clk);
            else
                loss += grid_backward(g, g->ops[k].micro, &clk);
        }
        comm_waitall(&g->p2p, g->sends, g->nsends);
        g->nsends = 0;
        if (g->next < 0 && g->shard == 0)
            run_add_loss(run, loss, run->sc->batch);
        if (clk.start >= 0.0) {
            double *s = &pipe->step_start[step - 1], *e = &pipe->step_end[step - 1];
            if (*s < 0.0 || clk.start < *s)
                *s = clk.start;
            if (clk.end > *e)
                *e = clk.end;
            pipe->busy += clk.busy;
        }
        float *grad = grid_gradient(g);
        grid_allreduce_replicas(g, grad);
        grid_apply(g, grad);
        grid_deposit(g, step);
        if (g->rank == 0)
            run_progress(run, step);
    }
    run->rec.ranks[g->rank].grid.peak_stashed = g->peak;
    grid_pipeline_done(sh, g->replica);
    grid_rank_free(g);
}

/* ---- start ---------------------------------------------------------------- */

/* Rank r's place, plan and sizes, and its memory checked against its
 * device: nothing big is allocated before every rank is known to fit. */
static int grid_rank_describe(GridRank *g, GridShared *sh, int r, int node, DtError *err)
{
    Run *run = sh->run;
    const Scenario *sc = run->sc;
    const Model *m = &run->model;
    const GridConfig *c = &sh->cfg;
    const int b = sh->micro, mb = c->microbatches;
    g->sh = sh;
    g->rank = r;
    g->replica = r / (c->pp * c->tp);
    g->stage = r / c->tp % c->pp;
    g->shard = r % c->tp;
    g->first = sh->first[g->stage];
    g->last = sh->first[g->stage + 1];
    g->pbegin = m->layers[g->first].param_offset;
    g->pend = g->last < m->nlayers ? m->layers[g->last].param_offset : m->nparams;
    if (tp_plan(&g->plan, m, g->first, g->last, c->tp, err) < 0)
        return -1;
    g->nhold = tp_param_floats(&g->plan);
    for (int l = g->first; l < g->last; l++)
        g->nheld += tp_layer_blocks(&g->plan, l, g->shard, g->held + g->nheld);
    g->next = g->stage + 1 < c->pp ? r + c->tp : -1;
    g->prev = g->stage > 0 ? r - c->tp : -1;
    g->grad_to_prev = g->prev >= 0 && m->first_trainable < g->first;
    g->in_floats = g->first > 0 ? (size_t)b * shape_size(m->layers[g->first - 1].out) : 0;
    g->out_floats = (size_t)b * shape_size(m->layers[g->last - 1].out);
    g->p2p = (Comm){.world = &sh->world, .rank = r, .channel = 0};
    g->tpc = (Comm){.world = &sh->world, .rank = r, .channel = 1};
    g->dpc = (Comm){.world = &sh->world, .rank = r, .channel = 2};
    g->nslots = grid_stash_slots(c->schedule, c->pp, g->stage, mb);

    RankTotals *t = &run->rec.ranks[r];
    t->in_grid = 1;
    t->grid = (GridPlace){.replica = g->replica,
                          .stage = g->stage,
                          .shard = g->shard,
                          .first_layer = g->first,
                          .last_layer = g->last,
                          .node = node};
    DeviceMemoryNeed need = grid_memory_need(g, m, &sc->opt);
    if (device_init(&g->dev, run, r, err) < 0 || device_check_memory(&g->dev, &need, err) < 0)
        return -1;
    return 0;
}

/* Everything the rank's actor uses, and its initial parameters. */
static int grid_rank_alloc(GridRank *g, const float *init, DtError *err)
{
    GridShared *sh = g->sh;
    Run *run = sh->run;
    const Scenario *sc = run->sc;
    const Model *m = &run->model;
    const GridConfig *c = &sh->cfg;
    const int b = sh->micro, mb = c->microbatches, r = g->rank;
    long messages = run->total_steps * mb;
    g->fwd = (Inbox){.src = g->prev, .count = g->in_floats, .total = g->prev >= 0 ? messages : 0};
    g->bwd = (Inbox){.src = g->next,
                     .count = g->out_floats,
                     .total = g->next >= 0 && m->first_trainable < g->last ? messages : 0};
    g->params = calloc(m->nparams, sizeof(float));
    g->grads = calloc(m->nparams, sizeof(float));
    g->free_slots = malloc((size_t)g->nslots * sizeof(int));
    g->slot_of = malloc((size_t)mb * sizeof(int));
    g->ops = malloc(2 * (size_t)mb * sizeof(Op));
    g->sends = malloc(2 * (size_t)mb * sizeof(CommRequest *));
    g->slots = calloc((size_t)g->nslots, sizeof(float *));
    g->dp_group = malloc((size_t)c->dp * sizeof(int));
    g->tp_group = malloc((size_t)c->tp * sizeof(int));
    int ok = g->params && g->grads && g->free_slots && g->slot_of && g->ops && g->sends &&
             g->slots && g->dp_group && g->tp_group;
    if (ok && c->tp > 1) {
        g->ppack = malloc((g->nhold ? g->nhold : 1) * sizeof(float));
        g->gpack = malloc((g->nhold ? g->nhold : 1) * sizeof(float));
        ok = g->ppack && g->gpack;
    }
    for (int k = 0; ok && k < 2; k++) {
        if (g->fwd.total && !(g->fwd.buf[k] = malloc(g->fwd.count * sizeof(float))))
            ok = 0;
        if (g->bwd.total && !(g->bwd.buf[k] = malloc(g->bwd.count * sizeof(float))))
            ok = 0;
    }
    if (ok && g->stage == 0) {
        g->x = malloc((size_t)sc->batch * shape_size(m->input) * sizeof(float));
        ok = g->x != NULL;
    }
    if (ok && (g->stage == 0 || g->stage == c->pp - 1)) {
        g->y = malloc((size_t)sc->batch);
        ok = g->y != NULL;
    }
    if (!ok)
        return dt_fail(err, DT_ERUNTIME, "out of memory for rank %d", r);
    if (workspace_init_range(&g->ws, m, b, g->first, g->last, err) < 0 ||
        optim_init(&g->opt, &sc->opt, g->nhold, err) < 0)
        return -1;
    g->slots[0] = g->ws.act;
    for (int k = 1; k < g->nslots; k++)
        if (!(g->slots[k] = malloc((g->ws.act_floats ? g->ws.act_floats : 1) * sizeof(float))))
            return dt_fail(err, DT_ERUNTIME, "out of memory for rank %d's activations", r);
    for (int k = 0; k < g->nslots; k++)
        g->free_slots[k] = g->nslots - 1 - k;
    g->nfree = g->nslots;
    g->nops = grid_schedule(c->schedule, c->pp, g->stage, mb, g->ops);
    for (int d = 0; d < c->dp; d++)
        g->dp_group[d] = d * c->pp * c->tp + g->stage * c->tp + g->shard;
    for (int k = 0; k < c->tp; k++)
        g->tp_group[k] = r - g->shard + k;
    if ((g->x || g->y) &&
        sampler_init(&g->sampler, run->train.n, run->global_batch, sc->seed, err) < 0)
        return -1;
    /* the initial values of what it holds, and only those */
    for (int i = 0; i < g->nheld; i++) {
        const HeldBlock *h = &g->held[i];
        for (int row = 0; row < h->rows; row++) {
            size_t at = h->offset + (size_t)row * h->stride;
            memcpy(g->params + at, init + at, (size_t)h->cols * sizeof(float));
        }
    }
    return 0;
}

static int grid_shared_init(GridShared *sh, Run *run, const GridConfig *c, DtError *err)
{
    const Model *m = &run->model;
    sh->run = run;
    sh->cfg = *c;
    sh->micro = run->sc->batch / c->microbatches;
    if (grid_split(m, c, sh->first, err) < 0 ||
        comm_world_init(&sh->world, run->nranks, &run->rec, sizeof(float), err) < 0)
        return -1;
    sh->allreduce = collective_find(COLL_ALLREDUCE, "ring");
    sh->pipes = calloc((size_t)c->dp, sizeof *sh->pipes);
    if (!sh->pipes)
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

/* The assembled model that evaluation and --save-model read. */
static int grid_eval_init(GridShared *sh, DtError *err)
{
    const Model *m = &sh->run->model;
    sh->eval.m = m;
    sh->eval.batch = sh->run->global_batch;
    if (!(sh->eval.params = calloc(m->nparams, sizeof(float))))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    return workspace_init(&sh->eval.ws, m, sh->eval.batch, err);
}

int grid_start(Run *run, const GridConfig *c, DtError *err)
{
    const Model *m = &run->model;
    GridShared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    sh->live = 1; /* grid_start's own hold, released at the end */
    GridRank **ranks = calloc((size_t)run->nranks, sizeof *ranks);
    int *node = calloc((size_t)run->nranks, sizeof *node);
    float *init = NULL;
    int rc = 0;
    if (!ranks || !node)
        rc = dt_fail(err, DT_ERUNTIME, "out of memory");
    if (rc == 0)
        rc = grid_shared_init(sh, run, c, err);
    if (rc == 0)
        rc = grid_place(run, c, node, err);
    if (rc == 0) {
        GridSummary *sum = &run->rec.grid;
        sum->dp = c->dp;
        sum->pp = c->pp;
        sum->tp = c->tp;
        sum->microbatches = c->microbatches;
        sum->micro_batch = sh->micro;
        sum->schedule = c->schedule == SCHEDULE_GPIPE ? "gpipe" : "1f1b";
    }
    for (int r = 0; r < run->nranks && rc == 0; r++) {
        if (!(ranks[r] = calloc(1, sizeof **ranks))) {
            rc = dt_fail(err, DT_ERUNTIME, "out of memory for rank %d", r);
            break;
        }
        ranks[r]->sh = sh;
        sh->live++;
        rc = grid_rank_describe(ranks[r], sh, r, node[r], err);
    }
    if (rc == 0 && !(init = malloc(m->nparams * sizeof(float))))
        rc = dt_fail(err, DT_ERUNTIME, "out of memory");
    if (rc == 0) {
        model_init_params(m, init, run->sc->seed);
        rc = grid_eval_init(sh, err);
    }
    for (int r = 0; r < run->nranks && rc == 0; r++)
        rc = grid_rank_alloc(ranks[r], init, err);
    free(init);
    free(node);
    if (rc < 0) {
        for (int r = 0; ranks && r < run->nranks; r++)
            if (ranks[r])
                grid_rank_free(ranks[r]);
        free(ranks);
        if (--sh->live == 0)
            grid_shared_free(sh);
        return -1;
    }
    for (int r = 0; r < run->nranks; r++) {
        char name[32];
        snprintf(name, sizeof name, "rank-%d", r);
        sg_actor_t actor = sg_actor_init(name, run->rank_host[r]);
        sg_actor_set_data(actor, ranks[r]);
        sg_actor_start(actor, grid_rank_main, 0, NULL);
    }
    free(ranks);
    sh->live--; /* the ranks hold it now */
    return 0;
}
