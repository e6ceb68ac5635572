/*
 * recovery.h - hosts that fail during a run, checkpoints, and restarts.
 *
 * A [faults] fail = HOST AT [REPAIR] is real in the simulation, and so
 * are mtbf's draws and the platform's host state profiles (profiles.h).  At AT the
 * host is turned off (SimGrid drops what it was sending and receiving) and
 * the job stops: every rank's actor is killed at that instant, since a
 * synchronous job cannot take a step without one of its ranks.  The job
 * notices `detect` seconds later (a heartbeat's timeout).  Then:
 *   - with [train] checkpoint_every = N (rank 0 writes the training state,
 *     parameters, optimizer state and step, every N steps, to a SimGrid
 *     disk of its host or over the network to a storage host, timed by
 *     their bandwidths, while the other ranks wait), once the host is back
 *     up (REPAIR after the failure) the job relaunches (`restart` seconds),
 *     reads the last checkpoint back, and every rank resumes from it: the
 *     steps done since are done again (the work lost), on the same
 *     batches, so the run ends with the parameters it would have had
 *     without the failure;
 *   - with [faults] spares = K, the failed host's ranks restart at once on
 *     a host standing by (the first K in natural order on which no rank
 *     runs), from the last checkpoint, without waiting for the repair;
 *   - with [faults] elastic = on (data-parallel), the surviving workers go
 *     on at once from the last step they all finished (which every
 *     replica holds: the state is copied in memory after each step, at no
 *     simulated cost), at the same global batch, now split among fewer;
 *   - with no checkpoint, or no repair, the run stops: its results up to
 *     the failure are written and it exits 1, naming the host and the
 *     time.
 * The time a failure costs is then exactly the checkpoints' writes, the
 * work lost since the last one, the wait until the job notices and the
 * host is back, and the restart (summary.json's "recovery" gives each).
 *
 * A restartable strategy (StrategyOps.restartable: serial, data-parallel)
 * starts each rank's loop after recovery_resume_step(), loads its replica
 * with recovery_restore() and calls recovery_step_done() after every step;
 * each rank's actor enters with recovery_enter() and leaves with
 * recovery_leave(), so that a killed rank's state is freed.
 */
#ifndef DT_RECOVERY_H
#define DT_RECOVERY_H

#include <simgrid/forward.h>
#include <stddef.h>

#include "error.h"

typedef struct Run Run;
typedef struct Replica Replica;
typedef struct Comm Comm;
struct cJSON;

/* Failures in a row that may restart from the same step before the run
 * stops (exit 1): the job cannot make progress.  Failures at given dates
 * (listed, or by a state profile) that come faster than the checkpoints
 * do so for ever; random ones (mtbf) might just be unlucky, so they have
 * far more rope. */
#define RECOVERY_MAX_STALLED 100
#define RECOVERY_MAX_STALLED_RANDOM 10000

/* The training state a checkpoint holds. */
typedef struct Checkpoint {
    long step;       /* the steps it holds the state after (0: the initial state) */
    float *params;   /* (nparams), NULL in cost mode */
    float *m, *v;    /* optimizer moments, NULL when the optimizer has none */
    long opt_t;      /* optimizer steps taken */
    double loss_sum; /* the run's training loss since its last evaluation */
    long loss_samples;
    long updates;
    size_t nrows; /* metrics rows written by then */
} Checkpoint;

/* A rank's actor, as the recovery sees it. */
typedef struct RankSlot {
    void *state;
    void (*destroy)(void *state); /* frees a killed rank's state */
    int state_live;               /* entered, not left */
    int killed;
} RankSlot;

typedef struct Recovery {
    int on;                   /* failures or checkpoints asked for */
    double bytes;             /* of a checkpoint */
    sg_disk_t disk;           /* where checkpoints go: a disk of rank 0's host, */
    sg_host_t storage;        /* or a storage host */
    Checkpoint saved;         /* the last complete checkpoint */
    double saved_at;          /* when the running launch last stood at saved's state */
    Checkpoint held;          /* elastic: the state after the last step, in memory */
    double held_at;           /* when the running launch last stood at held's state */
    const Checkpoint *resume; /* what the running launch started from */
    long done_step;           /* steps rank 0 has finished */
    RankSlot *slots;          /* (nranks) the running launch's ranks */
    int live;                 /* rank actors alive */
    sg_actor_t controller;    /* the failures' actor, until it is done */
    struct Failure *drawn;    /* its next failures: mtbf's, then each state profile's */
    int stalled;              /* failures in a row that restarted from the same step, */
    long stalled_at;          /* this one */
    sg_host_t *spares;        /* (nspares) hosts standing by, in natural order */
    int nspares, spares_used;
    int shrinks;        /* elastic restarts with fewer workers */
    int workers_at_end; /* the ranks of the last launch */
    int launches;
    /* what summary.json reports */
    int failures, checkpoints;
    double checkpoint_seconds, lost_seconds, detect_seconds, repair_wait_seconds, restart_seconds;
    long lost_steps;
    double stopped_at; /* the run stopped at a failure (no restart): when; else -1 */
} Recovery;

/* After placement: check what a checkpoint needs (a disk on rank 0's host,
 * or the storage host, not one that fails), size it, and start the
 * failures' controller.  -1 with err (bad input) otherwise. */
int recovery_start(Run *run, DtError *err);
void recovery_free(Run *run);

/* For a restartable strategy. */
long recovery_resume_step(const Run *run);
/* Overwrite a freshly initialised replica with the checkpoint's state (a
 * first launch: nothing). */
void recovery_restore(const Run *run, Replica *r);
/* A rank's actor begins (state, and destroy to free it if the rank is
 * killed) and ends (before it frees its state itself). */
void recovery_enter(Run *run, int rank, void *state, void (*destroy)(void *state));
void recovery_leave(Run *run, int rank);
/* After step `step` of rank `rank` (its replica r, its communicator c, or
 * NULL when it is alone): on a checkpoint step rank 0 writes the state
 * while the others wait for it. */
void recovery_step_done(Run *run, int rank, const Comm *c, Replica *r, long step);

/* dtsim check's lines on failures and checkpoints, when on. */
void recovery_describe(const Run *run);
/* summary.json's "recovery" section, when on. */
void recovery_summary(const Run *run, struct cJSON *root);

#endif
