/*
 * plan.c - batch shares, gradient buckets, pipeline stages and schedules,
 * and memory needs (see plan.h).
 */
#include "plan.h"

#include <stdlib.h>

double memory_total(const MemoryNeed *n)
{
    return n->parameters + n->gradients + n->optimizer + n->activations + n->buffers;
}

int plan_shares(int global, int n, const double *speed, int *share, int *offset)
{
    double total = 0.0;
    double *rest = speed ? calloc((size_t)n, sizeof *rest) : NULL;
    if (speed && !rest)
        return -1;
    for (int r = 0; speed && r < n; r++)
        total += speed[r];
    int given = 0;
    for (int r = 0; r < n; r++) {
        if (!speed) {
            share[r] = global / n;
        } else {
            double exact = (double)(global - n) * speed[r] / total;
            share[r] = 1 + (int)exact;
            rest[r] = exact - (int)exact;
        }
        given += share[r];
    }
    for (; given < global && speed; given++) {
        int best = 0;
        for (int r = 1; r < n; r++)
            if (rest[r] > rest[best])
                best = r;
        share[best]++;
        rest[best] = -1.0;
    }
    free(rest);
    for (int r = 0, at = 0; r < n; at += share[r++])
        offset[r] = at;
    return 0;
}

void plan_buckets(BucketPlan *b, const size_t *offset, const size_t *count, int first, int last,
                  size_t limit)
{
    int lowest = last, highest = -1;
    for (int l = last - 1; l >= first; l--)
        if (count[l] > 0) {
            lowest = l;
            highest = highest < 0 ? l : highest;
        }
    if (limit < 1)
        limit = 1;
    /* where the highest layer with parameters ends (a layer without any,
     * a tied one among them, may point anywhere) */
    size_t end = highest >= 0 ? offset[highest] + count[highest] : 0, size = 0;
    b->n = 0;
    for (int l = last - 1; l >= first; l--) {
        b->closes[l] = -1;
        size += count[l];
        if (size > 0 && (size >= limit || l == lowest)) {
            int k = b->n++;
            b->begin[k] = offset[l];
            b->end[k] = end;
            b->closes[l] = k;
            end = b->begin[k];
            size = 0;
        }
    }
}

/* A layer's share of a step, per sample: forward and backward FLOPs, the
 * loss counted with the last layer. */
static double layer_cost(const Model *m, int l)
{
    double c = model_layer_forward_flops(m, l, 1) + model_layer_backward_flops(m, l, 1);
    if (l == m->nlayers - 1)
        c += model_loss_flops(m, 1);
    return c;
}

/* The cut of layers [0, n) into p stages at allowed points that minimises
 * the largest stage cost (dynamic programming; ties go to the earliest
 * cut, so the split is deterministic); -1 when no such cut exists, -2
 * when memory runs out.  best[k][j]: the least largest cost of layers
 * [0, j) in k stages, -1 when they cannot be cut so; cut[k][j]: where its
 * last stage starts (rows of n + 1, k from 1 to p). */
static int plan_balance(const Model *m, int p, int *first)
{
    const int n = m->nlayers;
    const size_t row = (size_t)n + 1;
    double *prefix = calloc(row, sizeof *prefix);
    double *best = malloc((size_t)(p + 1) * row * sizeof *best);
    int *cut = malloc((size_t)(p + 1) * row * sizeof *cut);
    unsigned char can[MODEL_MAX_LAYERS];
    if (!prefix || !best || !cut) {
        free(prefix);
        free(best);
        free(cut);
        return -2;
    }
    model_cuts(m, can);
    for (int l = 0; l < n; l++)
        prefix[l + 1] = prefix[l] + layer_cost(m, l);
#define BEST(k, j) best[(size_t)(k)*row + (size_t)(j)]
#define CUT(k, j) cut[(size_t)(k)*row + (size_t)(j)]
    for (int j = 1; j <= n; j++) {
        BEST(1, j) = prefix[j];
        CUT(1, j) = 0;
    }
    for (int k = 2; k <= p; k++) {
        for (int j = k; j <= n; j++) {
            BEST(k, j) = -1.0;
            for (int i = k - 1; i < j; i++) {
                if (BEST(k - 1, i) < 0.0 || !can[i])
                    continue;
                double last = prefix[j] - prefix[i];
                double c = BEST(k - 1, i) > last ? BEST(k - 1, i) : last;
                if (BEST(k, j) < 0.0 || c < BEST(k, j) * (1 - 1e-12)) {
                    BEST(k, j) = c;
                    CUT(k, j) = i;
                }
            }
        }
    }
    int rc = BEST(p, n) < 0.0 ? -1 : 0;
    first[p] = n;
    for (int k = p, j = n; rc == 0 && k >= 1; k--) {
        first[k - 1] = CUT(k, j);
        j = CUT(k, j);
    }
#undef BEST
#undef CUT
    free(prefix);
    free(best);
    free(cut);
    return rc;
}

int plan_stages(const Model *m, int p, const int *split, int nsplit, const char *stages_key,
                int *first, DtError *err)
{
    int n = m->nlayers;
    if (p > 1 && model_has_tied(m))
        return dt_fail(err, DT_EINPUT,
                       "[strategy] %s = %d: the %s model's output layer shares the token "
                       "embedding's weights ([model] tie_embeddings = on), which pipeline stages "
                       "cannot split; set tie_embeddings = off or use one stage",
                       stages_key, p, m->name ? m->name : "");
    if (p > n)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] %s = %d but the model has only %d layers (flatten, dense, "
                       "conv and pool layers count one each): use at most %d stages",
                       stages_key, p, n, n);
    if (nsplit == 0) {
        int rc = plan_balance(m, p, first);
        if (rc == -2)
            return dt_fail(err, DT_ERUNTIME, "out of memory while balancing %d stages", p);
        if (rc < 0)
            return dt_fail(err, DT_EINPUT,
                           "[strategy] %s = %d: the model cannot be cut into %d stages without "
                           "cutting a residual connection; use fewer stages",
                           stages_key, p, p);
        return 0;
    }
    if (nsplit != p - 1)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] split gives %d first layers but %s = %d stages need %d (the "
                       "first layer of stages 1 .. %d)",
                       nsplit, stages_key, p, p - 1, p - 1);
    first[0] = 0;
    for (int s = 1; s < p; s++) {
        first[s] = split[s - 1];
        if (first[s] <= first[s - 1] || first[s] >= n)
            return dt_fail(err, DT_EINPUT,
                           "[strategy] split = ...%d...: each stage's first layer must be "
                           "after the previous stage's and below %d (the model's layers are 0 "
                           ".. %d), so that every stage holds at least one layer",
                           first[s], n, n - 1);
        if (!model_can_cut(m, first[s]))
            return dt_fail(err, DT_EINPUT,
                           "[strategy] split = ...%d...: a stage cannot start at layer %d, "
                           "which a residual connection from an earlier layer crosses",
                           first[s], first[s]);
    }
    first[p] = n;
    return 0;
}

int plan_schedule(Schedule sch, int p, int s, int m, Pass *passes)
{
    int n = 0;
    if (sch == SCHEDULE_GPIPE) {
        for (int i = 0; i < m; i++)
            passes[n++] = (Pass){PASS_FORWARD, i};
        for (int i = m - 1; i >= 0; i--)
            passes[n++] = (Pass){PASS_BACKWARD, i};
        return n;
    }
    int warm = p - s - 1 < m ? p - s - 1 : m;
    for (int i = 0; i < warm; i++)
        passes[n++] = (Pass){PASS_FORWARD, i};
    for (int i = 0; i < m - warm; i++) {
        passes[n++] = (Pass){PASS_FORWARD, warm + i};
        passes[n++] = (Pass){PASS_BACKWARD, i};
    }
    for (int i = m - warm; i < m; i++)
        passes[n++] = (Pass){PASS_BACKWARD, i};
    return n;
}

int plan_stash_slots(Schedule sch, int p, int s, int m)
{
    if (sch == SCHEDULE_GPIPE)
        return m;
    return p - s < m ? p - s : m;
}

int precision_bytes(Precision p)
{
    return p == PRECISION_FP32 ? 4 : 2;
}

MemoryNeed memory_at_precision(const MemoryNeed *n, Precision p)
{
    double s = precision_bytes(p) / 4.0;
    MemoryNeed out = {
        .parameters = s * n->parameters,
        .gradients = s * n->gradients,
        .optimizer = n->optimizer + (p == PRECISION_FP32 ? 0.0 : n->parameters),
        .activations = s * n->activations,
        .buffers = s * n->buffers,
        .attention = s * n->attention,
    };
    return out;
}

MemoryNeed plan_replica_memory(const Model *m, const OptConfig *opt, int batch)
{
    double p = (double)model_param_bytes(m);
    return (MemoryNeed){
        .parameters = p,
        .gradients = p,
        .optimizer = optim_state_per_param(opt) * p,
        .activations = (double)model_activation_bytes(m, batch) +
                       sizeof(float) * (double)batch * shape_size(m->input),
        .buffers = (double)workspace_buffer_bytes(m, batch),
        .attention = model_attention_bytes(m, batch, 0, m->nlayers),
    };
}

int plan_recompute_end(const Model *m, int last)
{
    return last == m->nlayers ? last - 1 : last;
}

double plan_checkpoint_floats(const Model *m, int first, int last, int micro)
{
    const int end = plan_recompute_end(m, last);
    unsigned char cut[MODEL_MAX_LAYERS];
    model_checkpoints(m, cut);
    double n = (double)shape_size(first > 0 ? m->layers[first - 1].out : m->input);
    for (int l = first + 1; l < end; l++)
        if (cut[l])
            n += (double)shape_size(m->layers[l - 1].out);
    for (int l = end; l < last; l++)
        n += (double)shape_size(m->layers[l].out);
    return micro * n;
}

/* The most floats of activations one recompute segment of the shard's
 * stage holds (see plan_recompute_end), and the most attention bytes. */
static double plan_largest_segment(const TpPlan *tp, int micro, double *attention)
{
    const Model *m = tp->m;
    const int end = plan_recompute_end(m, tp->last);
    unsigned char cut[MODEL_MAX_LAYERS];
    model_checkpoints(m, cut);
    double most = 0.0, seg = 0.0;
    *attention = 0.0;
    for (int l = tp->first, a = tp->first; l < end; l++) {
        if (l > tp->first && cut[l]) {
            seg = 0.0;
            a = l;
        }
        seg += (double)tp_layer_activation_floats(tp, l, micro);
        most = seg > most ? seg : most;
        double att = model_attention_bytes(m, micro, a, l + 1);
        *attention = att > *attention ? att : *attention;
    }
    return most;
}

MemoryNeed plan_stage_memory(const TpPlan *tp, const OptConfig *opt, int micro, int slots,
                             int has_prev, int has_next, int recompute)
{
    const Model *m = tp->m;
    const int b = micro, first = tp->first, last = tp->last;
    double params = sizeof(float) * (double)tp_param_floats(tp);
    double stash = sizeof(float) * (double)tp_activation_floats(tp, b);
    if (first > 0)
        stash += sizeof(float) * (double)b * shape_size(m->layers[first - 1].out);
    if (first == 0)
        stash += sizeof(float) * (double)b * shape_size(m->input);
    double in = first > 0 ? (double)b * shape_size(m->layers[first - 1].out) : 0.0;
    double out = (double)b * shape_size(m->layers[last - 1].out);
    double staging = sizeof(float) * 2.0 * (has_prev ? in : 0.0);
    staging += sizeof(float) * 2.0 * (has_next ? out : 0.0);
    double activations = slots * stash;
    double attention = slots * model_attention_bytes(m, b, first, last);
    if (recompute) {
        double segment = sizeof(float) * plan_largest_segment(tp, b, &attention);
        activations = slots * sizeof(float) * plan_checkpoint_floats(m, first, last, b) + segment;
    }
    return (MemoryNeed){
        .parameters = params,
        .gradients = params,
        .optimizer = optim_state_per_param(opt) * params,
        .activations = activations,
        .buffers = (double)workspace_range_buffer_bytes(m, b, first, last) + staging,
        .attention = attention,
    };
}
