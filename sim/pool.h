/*
 * pool.h - this machine's cores, lent to the simulated ranks' kernels.
 *
 * SimGrid runs one actor at a time, so a rank's real kernels would run one
 * after another on one core.  A rank whose kernels' results are not needed
 * until later hands them to the pool (pool_submit), goes on advancing
 * simulated time (the charges of those kernels, which depend on their
 * FLOP counts, never on their results), and collects them when it needs
 * them (pool_wait).  Meanwhile the other ranks hand theirs over, and the
 * pool's threads run them at once, one core each.
 *
 * Results do not depend on the number of threads: a job touches only what
 * its rank owns (its parameters, gradients, workspace), runs its kernels on
 * one OpenBLAS thread (gemm_set_threads(1) holds for every thread), and
 * whatever the ranks share is combined by the actors, in SimGrid's order,
 * after pool_wait.  With one thread there is no helper: a job runs when it
 * is waited for, exactly as before.
 */
#ifndef DT_POOL_H
#define DT_POOL_H

typedef struct PoolJob {
    void (*fn)(void *arg);
    void *arg;
    int state;   /* POOL_IDLE, POOL_QUEUED, POOL_RUNNING, POOL_DONE (under the pool's lock) */
    int pending; /* submitted, not yet waited for: the submitting thread's to read */
    struct PoolJob *next;
} PoolJob;

enum { POOL_IDLE, POOL_QUEUED, POOL_RUNNING, POOL_DONE };

/* Threads for the kernels, this one included: n - 1 helpers start.  0 on
 * success, -1 when a thread cannot be created (then fewer run, never
 * none: this thread does every job). */
int pool_start(int n);
void pool_stop(void);
/* Return once no job is queued or running: at the end of a simulation
 * whose ranks did not all finish (a deadlock), before what their jobs
 * touch is freed. */
void pool_drain(void);
/* The threads the pool has, this one included (1 when not started). */
int pool_threads(void);
/* The number of processors online: --threads' default. */
int pool_cores(void);

/* Queue fn(arg); job must live until pool_wait returns. */
void pool_submit(PoolJob *job, void (*fn)(void *), void *arg);
/* Return once the job has run: run it here if no helper has taken it yet.
 * Adds the wall time this thread spent running or waiting for it to
 * *waited (a seconds counter) when waited is not NULL. */
void pool_wait(PoolJob *job, double *waited);
/* Run fn(arg, i) for i in [0, n), spread over the pool, and return when
 * every one has run.  Each i runs exactly once; which thread runs it is
 * unspecified, so fn(arg, i) must touch only what i owns. */
void pool_for(int n, void (*fn)(void *arg, int i), void *arg, double *waited);

#endif
