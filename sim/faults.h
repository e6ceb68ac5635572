/*
 * faults.h - what goes wrong during a run, and when: the [faults] section.
 *
 * A slowdown is a window of simulated time in which a host runs at a
 * fraction of its speed (a straggler, a throttled device); a failure turns
 * a host off at a time, and back on after a repair time if one is given:
 *     [faults]
 *     slowdown = HOST START END FACTOR     (repeat the key for more)
 *     fail = HOST AT [REPAIR]              (repeat the key for more)
 *     detect = SECONDS                     (until the survivors notice)
 *     restart = SECONDS                    (relaunching the job)
 *     mtbf = SECONDS, repair = SECONDS     (failures drawn from the seed)
 *     spares = K, elastic = on | off       (instead of waiting for a repair)
 * This module owns the section's keys, checks them once against the
 * platform, and runs a host's computations through its windows.  Windows
 * are known before the run, so an execution is planned through them
 * exactly (piecewise, at each window's speed) instead of being
 * interrupted at a window's edge, where rounding could stall it.  What a
 * failure does to a run (and checkpoints) is sim/recovery.h's.
 */
#ifndef DT_FAULTS_H
#define DT_FAULTS_H

#include <simgrid/forward.h>

#include "error.h"
#include "keys.h"

#define FAULTS_MAX_SLOWDOWNS 32
#define FAULTS_MAX_FAILURES 32

/* A host runs at `factor` of its speed from `start` to `end` simulated
 * seconds. */
typedef struct Slowdown {
    char host[128];
    double start, end, factor;
} Slowdown;

/* A host goes down at `at` simulated seconds and, when repair >= 0, comes
 * back up repair seconds later. */
typedef struct Failure {
    char host[128];
    double at, repair;
} Failure;

typedef struct FaultsConfig {
    int nslowdowns;
    Slowdown slowdowns[FAULTS_MAX_SLOWDOWNS];
    int nfailures;
    Failure failures[FAULTS_MAX_FAILURES]; /* in the order given */
    double detect;                         /* seconds from a failure until the survivors notice */
    double restart;                        /* seconds to relaunch the job once its hosts are up */
    double mtbf;   /* mean seconds between failures of each rank's host; 0: none drawn */
    double repair; /* seconds until a host failed by mtbf is back */
    int spares;    /* hosts standing by to take a failed host's place */
    int elastic;   /* 1: data-parallel goes on with the surviving workers */
} FaultsConfig;

/* The [faults] keys, into a FaultsConfig (empty by default). */
extern const KeyTable faults_keys;

/* With the platform loaded: every fault names a host the platform has;
 * -1 (bad input) naming the scenario file, the host and the platform. */
int faults_check(const FaultsConfig *f, const char *scenario, const char *platform, DtError *err);
/* With the ranks placed (host[r] for rank r): every failure hits a host a
 * rank runs on; -1 (bad input) naming the host otherwise. */
int faults_check_used(const FaultsConfig *f, const char *scenario, sg_host_t const *host,
                      int nranks, DtError *err);

/* The faults of one host, as its device applies them. */
typedef struct HostFaults {
    int nslow;
    const Slowdown *slow[FAULTS_MAX_SLOWDOWNS];
} HostFaults;

/* Collect the faults of host `name` (f must outlive hf). */
void faults_of_host(const FaultsConfig *f, const char *name, HostFaults *hf);

/* Execute `work` flops, at `speed` flop/s outside any window, on the
 * calling actor's host: the windows it runs through stretch it (in a
 * window of factor f the host gets f of its speed, which SimGrid is told
 * as work / f executed at full speed). */
void faults_execute(const HostFaults *hf, double speed, double work);

#endif
