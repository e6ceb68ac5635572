/*
 * run.h - one `dtsim run`: from a Scenario to result files.
 *
 * run_scenario() loads the data and builds the model (bad input is reported
 * before any simulation starts), checks and loads the platform, places the
 * ranks on hosts, lets the strategy start its actors, runs the simulation
 * and writes metrics.csv, summary.json and trace.json.  The Run is the
 * read-mostly context every actor of the strategy gets; actors keep their
 * own mutable state in their own heap structs.
 */
#ifndef DT_RUN_H
#define DT_RUN_H

#include <simgrid/forward.h>
#include <stdio.h>

#include "data.h"
#include "energy.h"
#include "model.h"
#include "placement.h"
#include "platform.h"
#include "profiles.h"
#include "record.h"
#include "recovery.h"
#include "replica.h"
#include "scenario.h"
#include "strategy.h"

typedef struct RunOptions {
    const char *out_dir;    /* NULL: results/<scenario name> */
    const char *save_model; /* NULL: do not save */
    int force;              /* allow overwriting files dtsim did not write */
    int quiet;              /* no progress and no result lines */
    int no_plot;            /* do not run gnuplot at the end */
    int trace_ranks;        /* --trace-ranks: 0 as record_trace_ranks chooses, else how many */
    int threads;            /* --threads: the pool's threads for the kernels (sim/pool.h) */
    SimOptions sim;
} RunOptions;

#define RUN_SAMPLE_CHARS 240 /* a language model's sample at the end of a run */

struct Run {
    const Scenario *sc;
    const RunOptions *opts;
    const StrategyOps *strategy;
    Model model;
    Dataset train, test;
    TextVocab vocab;                   /* text: the characters of the token ids */
    char sample[RUN_SAMPLE_CHARS + 1]; /* text: what the trained model writes */
    int nranks;
    Placement place; /* rank r runs on place.host[r] */
    Recorder rec;
    Energy energy;     /* the joules of the ranks' hosts, when the platform gives wattage */
    Recovery recovery; /* failures, checkpoints and restarts (recovery.h) */
    Profiles profiles; /* the platform's host state profiles (profiles.h) */
    SimOptions sim;    /* SimGrid's options: the user's, and where the platform's copy
                        * finds the original's relative files */
    double kept[2];    /* a strategy's running totals, kept across a failure's restarts */
    int global_batch;
    long total_steps;
    int steps_per_epoch;
    double samples_trained; /* training samples consumed so far, for a strategy whose steps
                             * vary in size (federated's rounds), which keeps it; 0: the
                             * epochs are counted as steps x global_batch */
    float *final_params;    /* (nparams) rank 0's parameters at the end */
    Workspace *eval_ws;     /* (eval_parts - 1) more workspaces, to evaluate on the pool */
    int eval_parts;
    double loss_sum;   /* training loss summed since the last evaluation, all ranks */
    long loss_samples; /* samples behind loss_sum */
    int failed;        /* an actor hit a runtime error, described in err */
    DtError err;
    double wall_start;
    int progress_tty;     /* stderr is a terminal: draw a progress bar */
    double progress_last; /* wall time of the last progress bar drawn */
    long progress_step;   /* the last step run_progress was told of */
    void *state;          /* the strategy's, from its start to its stop */
    int describe_only;    /* dtsim check: run_spawn describes every rank (its device and
                           * memory checked) and starts none */
};

/* One kind of rank a strategy runs (a worker, a server): how its state is
 * made, undone, and run. */
typedef struct RankKind {
    const char *name; /* its actors are called "<name>-<rank>" */
    size_t size;      /* of its state, which run_spawn allocates zeroed */
    /* Fill in the rank's place: its device, what it will hold, its memory
     * checked against the device; nothing big allocated.  -1 with err. */
    int (*describe)(void *state, Run *run, int rank, DtError *err);
    /* Allocate everything the rank will need; -1 with err. */
    int (*alloc)(void *state, DtError *err);
    /* Free whatever describe and alloc made (all of it, or part when one
     * of them failed), and the state. */
    void (*destroy)(void *state);
    /* The actor's body: sg_actor_self_get_data() is its state, which it
     * destroys when done. */
    void (*main)(int argc, char **argv);
} RankKind;

/* Describe every rank (kind_of tells each rank's kind), so that a model
 * that does not fit stops before anything big is allocated; allocate
 * every rank's state; and only then start one actor per rank, in rank
 * order, on its host, so that no rank can fail half-way and leave the
 * others waiting.  -1 with err when a rank could not be made (all are
 * freed).  With run->describe_only, the ranks are described and freed. */
int run_spawn(Run *run, const RankKind *(*kind_of)(const Run *run, int rank), DtError *err);
/* The same when every rank is of one kind. */
int run_spawn_all(Run *run, const RankKind *kind, DtError *err);

/* The whole run; returns 0, or -1 with err->kind telling bad input from a
 * runtime failure. */
int run_scenario(const Scenario *sc, const RunOptions *opts, DtError *err);

/* Everything run_scenario checks before it simulates (scenario, data, model,
 * platform, placement), then a one-paragraph description of the run. */
int run_check(const Scenario *sc, const RunOptions *opts, DtError *err);

/* Make dir ready for results: it must be new, empty, or written by dtsim
 * before (it holds dtsim's marker file); anything else needs force. */
int run_prepare_out_dir(const char *dir, int force, DtError *err);

/* For strategies: a replica of the run's model for `batch` samples,
 * initialised from the scenario's seed with its optimizer, or (compute =
 * cost) described without a buffer (replica.h). */
int run_replica_init(const Run *run, Replica *r, int batch, DtError *err);
/* For strategies: the bytes of a float on the wire at the run's precision
 * (a CommWorld's wire_bytes). */
double run_wire_bytes(const Run *run);
/* For strategies: is an evaluation due after global step `step` (1-based)? */
int run_eval_due(const Run *run, long step);
/* What one of the run's steps is called in messages: "step", or "round"
 * for a strategy that counts rounds. */
const char *run_step_word(const Run *run);
/* Epochs of training data consumed after `step` steps. */
double run_epochs(const Run *run, long step);
/* Add a rank's summed training loss over `samples` samples of this step. */
void run_add_loss(Run *run, double loss_sum, int samples);
/* Evaluate params on the test set (no simulated cost: it is a measurement,
 * not part of training), record a metrics row with the mean training loss
 * since the previous one, and report progress. */
void run_evaluate(Run *run, Replica *r, long step);
/* The same with the test set's figures measured by the caller (an
 * ensemble's combined prediction): the metrics row, and progress. */
void run_record(Run *run, long step, double test_loss, double acc);
/* Step `step` (1-based) is done: on a terminal, redraw the progress bar
 * (at most a few times a second). */
void run_progress(Run *run, long step);
/* Keep a copy of the final parameters for --save-model. */
void run_keep_params(Run *run, const float *params);
/* An actor's runtime failure: remembered, and reported when the run ends. */
void run_fail(Run *run, const DtError *err);

#endif
