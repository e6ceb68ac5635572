/*
 * record.c - collecting spans and metrics, writing the result files.
 *
 * summary.json is built with cJSON; trace.json can hold hundreds of
 * thousands of spans, so it is streamed with fprintf instead of being built
 * as a tree in memory.  Numbers are printed with enough digits to be exact
 * and with no locale or timing dependence, so two runs of the same scenario
 * give the same bytes.
 */
#include "record.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int record_init(Recorder *r, int nranks, DtError *err)
{
    memset(r, 0, sizeof *r);
    r->nranks = nranks;
    if (!(r->ranks = calloc((size_t)nranks, sizeof *r->ranks)))
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks", nranks);
    return 0;
}

void record_free(Recorder *r)
{
    free(r->ranks);
    free(r->spans);
    free(r->rows);
    free(r->slot);
    memset(r, 0, sizeof *r);
}

int record_add_entry(Recorder *r)
{
    RankTotals *more = realloc(r->ranks, (size_t)(record_entries(r) + 1) * sizeof *more);
    if (!more)
        return -1;
    r->ranks = more;
    r->ranks[record_entries(r)] = (RankTotals){0};
    if (!r->slot) {
        if (!(r->slot = malloc((size_t)r->nranks * sizeof *r->slot)))
            return -1;
        for (int i = 0; i < r->nranks; i++)
            r->slot[i] = i;
    }
    return r->nranks + r->extra++;
}

/* Grow *buf (of *cap elements of size elem) so that it holds one more. */
static int grow(void **buf, size_t *cap, size_t used, size_t elem)
{
    if (used < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 1024;
    void *n = realloc(*buf, ncap * elem);
    if (!n)
        return -1;
    *buf = n;
    *cap = ncap;
    return 0;
}

int record_entries(const Recorder *r)
{
    return r->nranks + r->extra;
}

RankTotals *record_totals(Recorder *r, int rank)
{
    return &r->ranks[r->slot ? r->slot[rank] : rank];
}

void record_span(Recorder *r, int rank, SpanKind kind, const char *name, double start, double end)
{
    if (r->slot)
        rank = r->slot[rank];
    RankTotals *t = &r->ranks[rank];
    if (kind == SPAN_COMPUTE)
        t->compute_seconds += end - start;
    else if (kind == SPAN_COMM)
        t->comm_seconds += end - start;
    else
        t->wait_seconds += end - start;
    if (end <= start)
        return;
    if (t->last_span) {
        Span *prev = &r->spans[t->last_span - 1];
        if (prev->kind == kind && prev->end == start && strcmp(prev->name, name) == 0) {
            prev->end = end;
            return;
        }
    }
    if (grow((void **)&r->spans, &r->cap_spans, r->nspans, sizeof *r->spans) < 0) {
        r->oom = 1;
        return;
    }
    r->spans[r->nspans++] = (Span){rank, kind, name, start, end};
    t->last_span = r->nspans;
}

void record_metric(Recorder *r, const MetricRow *row)
{
    if (grow((void **)&r->rows, &r->cap_rows, r->nrows, sizeof *r->rows) < 0) {
        r->oom = 1;
        return;
    }
    r->rows[r->nrows++] = *row;
}

void record_role(Recorder *r, int rank, const char *role, int batch)
{
    record_totals(r, rank)->role = role;
    record_totals(r, rank)->batch = batch;
}

double record_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void record_kernel(Recorder *r, double since)
{
    r->kernel_wall += record_clock() - since;
}

static FILE *open_out(const char *path, DtError *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        dt_fail(err, DT_ERUNTIME, "cannot write '%s': %s", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, DtError *err)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return dt_fail(err, DT_ERUNTIME, "error while writing '%s'", path);
    return 0;
}

int record_write_metrics(const Recorder *r, const char *path, DtError *err)
{
    FILE *f = open_out(path, err);
    if (!f)
        return -1;
    fprintf(f, "step,epoch,simulated_seconds,train_loss,test_loss,test_accuracy,updates%s\n",
            r->energy ? ",device_joules" : "");
    for (size_t i = 0; i < r->nrows; i++) {
        const MetricRow *m = &r->rows[i];
        if (isnan(m->train_loss)) /* compute = cost: times only */
            fprintf(f, "%ld,%.6f,%.9g,,,,%ld", m->step, m->epoch, m->sim_seconds, m->updates);
        else
            fprintf(f, "%ld,%.6f,%.9g,%.9g,%.9g,%.6f,%ld", m->step, m->epoch, m->sim_seconds,
                    m->train_loss, m->test_loss, m->test_accuracy, m->updates);
        if (r->energy)
            fprintf(f, ",%.9g", m->device_joules);
        fputc('\n', f);
    }
    return close_out(f, path, err);
}

/* A span's start (+1) or end (-1), for the sweep below. */
typedef struct SpanEvent {
    int rank;
    SpanKind kind;
    int delta;
    double t;
} SpanEvent;

static int event_cmp(const void *x, const void *y)
{
    const SpanEvent *a = x, *b = y;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return a->t < b->t ? -1 : a->t > b->t;
}

/* Per rank, how its time splits, by a sweep over its spans' starts and
 * ends: computing; a transfer in progress while not computing (comm);
 * blocked on a peer while neither (wait); and, apart, computing and
 * transferring at once (overlap).  -1 when the spans are incomplete. */
static int record_split(const Recorder *r, TimeSplit *split)
{
    if (r->oom)
        return -1;
    SpanEvent *ev = malloc((2 * r->nspans + 1) * sizeof *ev);
    if (!ev)
        return -1;
    for (size_t i = 0; i < r->nspans; i++) {
        const Span *s = &r->spans[i];
        ev[2 * i] = (SpanEvent){s->rank, s->kind, 1, s->start};
        ev[2 * i + 1] = (SpanEvent){s->rank, s->kind, -1, s->end};
    }
    size_t n = 2 * r->nspans;
    qsort(ev, n, sizeof *ev, event_cmp);
    memset(split, 0, (size_t)record_entries(r) * sizeof *split);
    int active[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && ev[i].rank == ev[i - 1].rank) {
            double dt = ev[i].t - ev[i - 1].t;
            TimeSplit *s = &split[ev[i].rank];
            if (active[SPAN_COMPUTE] > 0) {
                s->compute += dt;
                s->overlap += active[SPAN_COMM] > 0 ? dt : 0.0;
            } else if (active[SPAN_COMM] > 0) {
                s->comm += dt;
            } else if (active[SPAN_WAIT] > 0) {
                s->wait += dt;
            }
        } else {
            active[0] = active[1] = active[2] = 0; /* a new rank */
        }
        active[ev[i].kind] += ev[i].delta;
    }
    free(ev);
    return 0;
}

/* The run's own fields, the first of summary.json. */
static void summary_head(const Recorder *r, const RunFacts *facts, cJSON *root)
{
    const MetricRow *last = r->nrows ? &r->rows[r->nrows - 1] : NULL;
    double bytes = 0.0;
    for (int i = 0; i < record_entries(r); i++)
        bytes += r->ranks[i].bytes_sent;
    cJSON_AddStringToObject(root, "dtsim_version", DTSIM_VERSION);
    cJSON_AddStringToObject(root, "scenario", facts->scenario);
    cJSON_AddStringToObject(root, "platform", facts->platform);
    cJSON_AddStringToObject(root, "network_model", facts->network_model);
    cJSON_AddStringToObject(root, "strategy", facts->strategy);
    cJSON_AddStringToObject(root, "model", facts->model);
    cJSON_AddNumberToObject(root, "parameters", (double)facts->parameters);
    cJSON_AddNumberToObject(root, "flops_per_step", facts->flops_per_step);
    cJSON_AddNumberToObject(root, "workers", facts->workers);
    cJSON_AddNumberToObject(root, "ranks", facts->ranks);
    cJSON_AddNumberToObject(root, "global_batch", facts->global_batch);
    cJSON_AddNumberToObject(root, "seed", (double)facts->seed);
    cJSON_AddNumberToObject(root, "steps", (double)facts->steps);
    cJSON_AddNumberToObject(root, "updates_applied",
                            (double)(r->updates ? r->updates : facts->steps));
    cJSON_AddNumberToObject(root, "epochs", facts->epochs);
    cJSON_AddNumberToObject(root, "simulated_seconds", facts->simulated_seconds);
    cJSON_AddStringToObject(root, "compute", facts->cost ? "cost" : "real");
    if (facts->cost) {
        cJSON_AddNullToObject(root, "final_loss");
        cJSON_AddNullToObject(root, "test_loss");
        cJSON_AddNullToObject(root, "test_accuracy");
        cJSON_AddStringToObject(root, "compute_note",
                                "compute = cost: every kernel was charged and none ran, so "
                                "there is no loss and no accuracy");
    } else {
        cJSON_AddNumberToObject(root, "final_loss", last ? last->train_loss : 0.0);
        cJSON_AddNumberToObject(root, "test_loss", last ? last->test_loss : 0.0);
        cJSON_AddNumberToObject(root, "test_accuracy", last ? last->test_accuracy : 0.0);
    }
    cJSON_AddNumberToObject(root, "bytes_communicated", bytes);
    cJSON_AddNumberToObject(root, "wall_seconds", facts->wall_seconds);
    if (facts->trace_ranks > 0 && facts->trace_ranks < record_entries(r)) {
        cJSON_AddNumberToObject(root, "trace_ranks", facts->trace_ranks);
        cJSON_AddStringToObject(root, "trace_note",
                                "trace.json and timeline.dat hold the spans of ranks 0 to "
                                "trace_ranks - 1 only (dtsim run --trace-ranks all writes "
                                "every rank's); the figures here count every rank");
    }
    record_measure(root, "bytes_per_step", facts->steps ? bytes / (double)facts->steps : 0.0);
}

void record_measure(cJSON *root, const char *name, double value)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "measures");
    if (!m)
        m = cJSON_AddObjectToObject(root, "measures");
    cJSON_AddNumberToObject(m, name, value);
}

static void summary_memory(const RankTotals *t, cJSON *h)
{
    const MemoryNeed *m = &t->memory;
    double total = memory_total(m);
    if (total <= 0.0)
        return;
    cJSON *mem = cJSON_AddObjectToObject(h, "memory_bytes");
    cJSON_AddNumberToObject(mem, "parameters", m->parameters);
    cJSON_AddNumberToObject(mem, "gradients", m->gradients);
    cJSON_AddNumberToObject(mem, "optimizer", m->optimizer);
    cJSON_AddNumberToObject(mem, "activations", m->activations);
    cJSON_AddNumberToObject(mem, "buffers", m->buffers);
    cJSON_AddNumberToObject(mem, "total", total);
    if (t->memory_capacity > 0.0)
        cJSON_AddNumberToObject(mem, "capacity", t->memory_capacity);
    else
        cJSON_AddNullToObject(mem, "capacity");
}

/* One object per rank: where its time went, what it sent, what it holds. */
static void summary_hosts(const Recorder *r, const RunFacts *facts, const SummaryHooks *hooks,
                          cJSON *root)
{
    TimeSplit *split = malloc((size_t)record_entries(r) * sizeof *split);
    int exact = split && record_split(r, split) == 0;
    cJSON *hosts = cJSON_AddArrayToObject(root, "hosts");
    for (int i = 0; i < record_entries(r); i++) {
        const RankTotals *t = &r->ranks[i];
        TimeSplit sp =
            exact ? split[i] : (TimeSplit){t->compute_seconds, t->comm_seconds, t->wait_seconds, 0};
        double idle = facts->simulated_seconds - sp.compute - sp.comm - sp.wait;
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "rank", i);
        cJSON_AddStringToObject(h, "host", t->host);
        cJSON_AddStringToObject(h, "role", t->role ? t->role : "worker");
        cJSON_AddNumberToObject(h, "batch", t->batch);
        cJSON_AddNumberToObject(h, "speed_flops", t->speed);
        cJSON_AddNumberToObject(h, "memory_bandwidth", t->memory_bandwidth);
        /* compute + comm + wait + idle = simulated_seconds */
        cJSON_AddNumberToObject(h, "compute_seconds", sp.compute);
        cJSON_AddNumberToObject(h, "comm_seconds", sp.comm);
        cJSON_AddNumberToObject(h, "wait_seconds", sp.wait);
        cJSON_AddNumberToObject(h, "idle_seconds", idle > 0.0 ? idle : 0.0);
        /* transfers hidden behind compute (overlap = on), not in comm_seconds */
        cJSON_AddNumberToObject(h, "overlap_seconds", sp.overlap);
        cJSON_AddNumberToObject(h, "bytes_sent", t->bytes_sent);
        if (hooks && hooks->host)
            hooks->host(hooks->ctx, i, h);
        summary_memory(t, h);
        cJSON_AddItemToArray(hosts, h);
    }
    free(split);
}

int record_write_summary(const Recorder *r, const RunFacts *facts, const SummaryHooks *hooks,
                         const char *path, DtError *err)
{
    cJSON *root = cJSON_CreateObject();
    summary_head(r, facts, root);
    if (hooks && hooks->sections)
        hooks->sections(hooks->ctx, root);
    summary_hosts(r, facts, hooks, root);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return dt_fail(err, DT_ERUNTIME, "out of memory while writing '%s'", path);
    FILE *f = open_out(path, err);
    if (!f) {
        free(text);
        return -1;
    }
    fprintf(f, "%s\n", text);
    free(text);
    return close_out(f, path, err);
}

static const char *const span_categories[] = {"compute", "comm", "wait"};

int record_trace_ranks(const Recorder *r, int asked)
{
    if (asked > 0)
        return asked < record_entries(r) ? asked : record_entries(r);
    if (r->nspans <= RECORD_TRACE_SPANS)
        return record_entries(r);
    size_t *count = calloc((size_t)record_entries(r), sizeof *count);
    if (!count)
        return 1;
    for (size_t i = 0; i < r->nspans; i++)
        count[r->spans[i].rank]++;
    int ranks = 0;
    for (size_t total = 0; ranks < record_entries(r); ranks++) {
        total += count[ranks];
        if (total > RECORD_TRACE_SPANS)
            break;
    }
    free(count);
    return ranks > 0 ? ranks : 1;
}

/* For trace_order's sort: by start, then as recorded. */
static const Span *order_spans;
static int order_cmp(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    double sa = order_spans[a].start, sb = order_spans[b].start;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* The spans of ranks 0 .. ranks-1 as indices, rank by rank and each
 * rank's by start: an order that does not depend on how SimGrid
 * interleaved the actors within an instant (which a simcall, such as the
 * energy plugin's, can change).  NULL when out of memory. */
static size_t *trace_order(const Recorder *r, int ranks, size_t *n)
{
    size_t *first = calloc((size_t)ranks + 1, sizeof *first);
    size_t *order = malloc((r->nspans ? r->nspans : 1) * sizeof *order);
    if (!first || !order) {
        free(first);
        free(order);
        return NULL;
    }
    for (size_t i = 0; i < r->nspans; i++)
        if (r->spans[i].rank < ranks)
            first[r->spans[i].rank + 1]++;
    for (int k = 0; k < ranks; k++)
        first[k + 1] += first[k];
    *n = first[ranks];
    for (size_t i = 0; i < r->nspans; i++)
        if (r->spans[i].rank < ranks)
            order[first[r->spans[i].rank]++] = i;
    /* first[k] is now where rank k + 1 begins */
    order_spans = r->spans;
    for (int k = 0; k < ranks; k++) {
        size_t start = k ? first[k - 1] : 0;
        qsort(order + start, first[k] - start, sizeof *order, order_cmp);
    }
    free(first);
    return order;
}

int record_write_trace(const Recorder *r, int ranks, const char *path, DtError *err)
{
    FILE *f = open_out(path, err);
    if (!f)
        return -1;
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    for (int i = 0; i < ranks; i++)
        fprintf(f,
                "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,"
                "\"args\":{\"name\":\"rank %d (%s)\"}},\n",
                i, i, r->ranks[i].host);
    size_t n;
    size_t *order = trace_order(r, ranks, &n);
    if (!order) {
        fclose(f);
        return dt_fail(err, DT_ERUNTIME, "out of memory while writing '%s'", path);
    }
    for (size_t k = 0; k < n; k++) {
        const Span *s = &r->spans[order[k]];
        /* Chrome traces count microseconds. */
        fprintf(f,
                "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":0,\"tid\":%d,"
                "\"ts\":%.12g,\"dur\":%.12g},\n",
                s->name, span_categories[s->kind], s->rank, s->start * 1e6,
                (s->end - s->start) * 1e6);
    }
    free(order);
    /* A closing metadata event keeps the list free of a trailing comma. */
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"dtsim\"}}"
               "\n]}\n");
    return close_out(f, path, err);
}

/* Where the last step begins: rank 0's first forward after its
 * second-to-last update (a pipeline's step has a forward per micro-batch),
 * or its last forward when it applies no updates itself. */
static double timeline_start(const Recorder *r)
{
    double t0 = 0.0, prev = -1.0, last = -1.0;
    for (size_t i = 0; i < r->nspans; i++) {
        const Span *s = &r->spans[i];
        if (s->rank != 0 || s->kind != SPAN_COMPUTE)
            continue;
        if (strcmp(s->name, "forward") == 0)
            t0 = s->start;
        else if (strcmp(s->name, "update") == 0) {
            prev = last;
            last = s->end;
        }
    }
    if (last < 0.0)
        return t0;
    for (size_t i = 0; i < r->nspans; i++) {
        const Span *s = &r->spans[i];
        if (s->rank == 0 && strcmp(s->name, "forward") == 0 && s->start >= prev)
            return s->start;
    }
    return t0;
}

int record_write_timeline(const Recorder *r, int ranks, const char *path, DtError *err)
{
    static const char *const kinds[] = {"forward", "loss", "backward", "update"};
    double t0 = timeline_start(r);
    FILE *f = open_out(path, err);
    if (!f)
        return -1;
    fprintf(f,
            "# rank start_ms end_ms kind (0 forward, 1 loss, 2 backward, 3 update or other "
            "compute, 4 comm, 5 wait); times from %.9g s\n",
            t0);
    for (size_t i = 0; i < r->nspans; i++) {
        const Span *s = &r->spans[i];
        if (s->end <= t0 || s->rank >= ranks)
            continue;
        int kind = s->kind == SPAN_COMM ? 4 : s->kind == SPAN_WAIT ? 5 : 3;
        for (int k = 0; k < 4 && s->kind == SPAN_COMPUTE; k++)
            if (strcmp(s->name, kinds[k]) == 0)
                kind = k;
        if (s->kind == SPAN_COMPUTE && strcmp(s->name, "recompute") == 0)
            kind = 0; /* a forward pass again (trace.json names it) */
        double start = s->start > t0 ? s->start : t0;
        fprintf(f, "%d %.9g %.9g %d\n", s->rank, (start - t0) * 1e3, (s->end - t0) * 1e3, kind);
    }
    return close_out(f, path, err);
}
