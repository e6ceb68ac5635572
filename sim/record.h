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

typedef enum { SPAN_COMPUTE, SPAN_COMM } SpanKind;

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
} MetricRow;

/* What a rank keeps on its device, in bytes; activations at the peak of
 * its schedule. */
typedef struct DeviceMemoryNeed {
    double parameters, gradients, optimizer, activations, buffers;
} DeviceMemoryNeed;

/* A rank's place in a model-parallel grid of dp replicas of pipelines of
 * pp stages, each stage a group of tp tensor-parallel shards (strategies
 * pipeline, tensor and hybrid; sim/grid.h). */
typedef struct GridPlace {
    int replica, stage, shard;
    int first_layer, last_layer; /* the stage's layers [first, last) */
    int node;                    /* the node (sim/platform.h) its host belongs to */
    int peak_stashed;            /* most micro-batches whose activations it held at once */
} GridPlace;

typedef struct RankTotals {
    char host[128];
    double speed; /* flop/s of the host */
    double compute_seconds;
    double comm_seconds;
    double bytes_sent;
    double wait_seconds;     /* waiting for slower ranks (data-parallel: their gradients) */
    DeviceMemoryNeed memory; /* as checked against the device's capacity */
    double memory_capacity;  /* bytes, 0 when the platform gives none */
    int in_grid;             /* grid holds the rank's place */
    GridPlace grid;
    size_t last_span; /* index + 1 of the rank's latest span, 0 if none */
} RankTotals;

/* The shape of a model-parallel run, for summary.json's "grid". */
typedef struct GridSummary {
    int dp, pp, tp;        /* 0: not a grid run */
    int microbatches;      /* per mini-batch */
    int micro_batch;       /* samples per micro-batch */
    const char *schedule;  /* a string literal: "gpipe" or "1f1b" */
    int nodes;             /* nodes of the placed hosts */
    int tp_in_node;        /* every tensor-parallel group sits inside one node */
    const char *placement; /* a string literal: how ranks were placed */
} GridSummary;

typedef struct Recorder {
    int nranks;
    RankTotals *ranks; /* (nranks) */
    Span *spans;
    size_t nspans, cap_spans;
    MetricRow *rows;
    size_t nrows, cap_rows;
    long *staleness;      /* (nstaleness) gradients applied with staleness k */
    int nstaleness;       /* 1 + the largest staleness seen, 0 if none recorded */
    double *bubble;       /* (nbubble) measured bubble fraction of each pipeline */
    double *step_seconds; /* (nbubble) its mean step makespan, 0 if not measured */
    int nbubble;
    GridSummary grid;   /* the model-parallel grid, when grid.tp > 0 */
    long updates;       /* parameter updates applied; 0: one per step */
    int oom;            /* a span or row could not be stored */
    double kernel_wall; /* wall seconds this machine spent in the real kernels */
} Recorder;

int record_init(Recorder *r, int nranks, DtError *err);
void record_free(Recorder *r);
/* A span that continues the rank's previous one (same kind and name, starting
 * where it ended) extends it, so per-layer charges make one bar per phase. */
void record_span(Recorder *r, int rank, SpanKind kind, const char *name, double start, double end);
void record_metric(Recorder *r, const MetricRow *row);
/* A gradient was applied `staleness` versions after the one it was
 * computed on (asynchronous and bounded-staleness parameter servers). */
void record_staleness(Recorder *r, int staleness);
/* The measured bubble fraction of pipeline `index`. */
void record_bubble(Recorder *r, int index, double fraction);
/* The mean makespan of pipeline `index`'s steps (see sim/grid.c). */
void record_step_seconds(Recorder *r, int index, double seconds);

/* Plain-data facts about the run for summary.json, filled by the caller. */
typedef struct RunFacts {
    const char *scenario, *platform, *network_model, *strategy, *model;
    int workers;
    size_t parameters;
    double flops_per_step;
    int global_batch;
    long steps;
    double epochs;
    double simulated_seconds;
    double wall_seconds;
    unsigned long long seed;
} RunFacts;

int record_write_metrics(const Recorder *r, const char *path, DtError *err);
int record_write_summary(const Recorder *r, const RunFacts *facts, const char *path, DtError *err);
int record_write_trace(const Recorder *r, const char *path, DtError *err);
/* The spans of the last step, for plots/timeline.gp: every span that ends
 * after the start of rank 0's last forward pass, as "rank start_ms end_ms
 * kind" with times from that start and kind 0 forward, 1 loss, 2 backward,
 * 3 update, 4 communication. */
int record_write_timeline(const Recorder *r, const char *path, DtError *err);

#endif
