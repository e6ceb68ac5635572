/*
 * record.h - what a run leaves behind: metrics.csv, summary.json, trace.json.
 *
 * Actors report into one Recorder as they go: spans of simulated time per
 * rank (compute, communication), bytes sent, and evaluation rows.  The
 * simulation is single-threaded (SimGrid runs one actor at a time), so
 * there is no locking.  At the end, record_write_* turn it into files whose
 * bytes depend only on the scenario, platform and seed, never on this
 * machine's speed (wall_seconds in summary.json is the one exception).
 */
#ifndef DT_RECORD_H
#define DT_RECORD_H

#include <stddef.h>

#include "error.h"
#include "plan.h"

struct cJSON;

/* What a rank is doing: computing; a transfer of its in progress; blocked
 * on a peer that has not sent yet (a slower worker, a pipeline bubble). */
typedef enum { SPAN_COMPUTE, SPAN_COMM, SPAN_WAIT } SpanKind;

typedef struct Span {
    int rank;
    SpanKind kind;
    const char *name; /* a string literal: "forward", "backward", ... */
    double start, end;
} Span;

typedef struct MetricRow {
    long step;
    long updates; /* parameter updates applied so far (one per step unless asynchronous) */
    double epoch;
    double sim_seconds;
    double train_loss;
    double test_loss;
    double test_accuracy;
    double device_joules; /* the ranks' hosts' energy so far (Recorder.energy) */
} MetricRow;

typedef struct RankTotals {
    char host[128];
    const char *role;        /* a string literal: "worker", "server", "stage", "shard" */
    int batch;               /* samples of each step it computes on (0: none, a server) */
    double speed;            /* flop/s of the host */
    double memory_bandwidth; /* bytes/s of the host, 0 when the platform gives none */
    double compute_seconds;  /* the spans of each kind, added up */
    double comm_seconds;
    double wait_seconds;
    double bytes_sent;
    MemoryNeed memory;      /* as checked against the device's capacity */
    double memory_capacity; /* bytes, 0 when the platform gives none */
    size_t last_span;       /* index + 1 of the rank's latest span, 0 if none */
} RankTotals;

typedef struct Recorder {
    int nranks;
    RankTotals *ranks; /* (nranks) */
    Span *spans;
    size_t nspans, cap_spans;
    MetricRow *rows;
    size_t nrows, cap_rows;
    long updates;       /* parameter updates applied; 0: one per step */
    int oom;            /* a span or row could not be stored */
    int energy;         /* the hosts give wattage: metrics.csv has device_joules */
    int *slot;          /* (nranks) where rank r's figures go, once ranks were renumbered
                         * (an elastic restart) or moved (to a spare); NULL: rank r's own */
    int extra;          /* entries of ranks after ranks[nranks - 1]: spares that took a
                         * failed host's place, each with its own figures */
    double kernel_wall; /* wall seconds this machine spent in the real kernels */
} Recorder;

int record_init(Recorder *r, int nranks, DtError *err);
void record_free(Recorder *r);
/* A span that continues the rank's previous one (same kind and name, starting
 * where it ended) extends it, so per-layer charges make one bar per phase. */
void record_span(Recorder *r, int rank, SpanKind kind, const char *name, double start, double end);
/* The totals of rank `rank` (of the running ranks' numbering). */
RankTotals *record_totals(Recorder *r, int rank);
/* The entries of ranks: nranks and the extra ones. */
int record_entries(const Recorder *r);
/* One more entry (for a rank moved to a spare host), zeroed; its index, or
 * -1 when out of memory. */
int record_add_entry(Recorder *r);
void record_metric(Recorder *r, const MetricRow *row);
/* What rank `rank` is for summary.json: its role (a string literal) and
 * the samples of each step it computes on. */
void record_role(Recorder *r, int rank, const char *role, int batch);

/* Wall seconds on a monotonic clock, to time the real kernels with. */
double record_clock(void);
/* Add the wall time since `since` (a record_clock reading) to the kernels'. */
void record_kernel(Recorder *r, double since);

/* How a rank's time splits (summary.json); compute + comm + wait + idle is
 * the run's simulated time, overlap is apart (inside compute). */
typedef struct TimeSplit {
    double compute; /* computing */
    double comm;    /* a transfer in progress, not computing */
    double wait;    /* blocked on a peer not ready yet, neither computing nor transferring */
    double overlap; /* computing and transferring at once */
} TimeSplit;

/* Plain-data facts about the run for summary.json, filled by the caller. */
typedef struct RunFacts {
    const char *scenario, *platform, *network_model, *strategy, *model;
    int workers; /* the scenario's: the devices that train */
    int ranks;   /* every simulated rank: workers and any others (servers) */
    size_t parameters;
    double flops_per_step;
    int global_batch;
    long steps;
    double epochs;
    double simulated_seconds;
    double wall_seconds;
    unsigned long long seed;
    int cost;        /* compute = cost: no loss or accuracy to report */
    int trace_ranks; /* the ranks trace.json and timeline.dat hold (record_trace_ranks) */
} RunFacts;

/* A figure the strategy adds to summary.json's "measures" (which sweeps
 * tabulate): bytes_per_step is there for every run. */
void record_measure(struct cJSON *root, const char *name, double value);

/* Where the strategy adds to summary.json: keys of the top level, after
 * the common ones, and keys of each host's object, before its memory. */
typedef struct SummaryHooks {
    void (*sections)(void *ctx, struct cJSON *root);
    void (*host)(void *ctx, int rank, struct cJSON *host);
    void *ctx;
} SummaryHooks;

int record_write_metrics(const Recorder *r, const char *path, DtError *err);
int record_write_summary(const Recorder *r, const RunFacts *facts, const SummaryHooks *hooks,
                         const char *path, DtError *err);
/* How many ranks, from rank 0, trace.json and timeline.dat hold: `asked`
 * when it is positive (at most every rank), else every rank when their
 * spans number at most RECORD_TRACE_SPANS, else as many as fit (at least
 * one): a trace that a viewer can open, where every span of a run of
 * thousands of ranks would take gigabytes.  summary.json's totals always
 * count every rank. */
#define RECORD_TRACE_SPANS 2000000
int record_trace_ranks(const Recorder *r, int asked);
/* The spans of ranks 0 .. ranks-1 in Chrome's trace format. */
int record_write_trace(const Recorder *r, int ranks, const char *path, DtError *err);
/* The spans of the last step, for plots/timeline.gp: every span of ranks
 * 0 .. ranks-1 that ends after the start of rank 0's last forward pass, as
 * "rank start_ms end_ms kind" with times from that start and kind 0
 * forward, 1 loss, 2 backward, 3 update (or other compute), 4
 * communication, 5 waiting. */
int record_write_timeline(const Recorder *r, int ranks, const char *path, DtError *err);

#endif
