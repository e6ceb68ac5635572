/*
 * faults.h - what goes wrong during a run, and when: the [faults] section.
 *
 * Today a fault is a slowdown, a window of simulated time in which a host
 * runs at a fraction of its speed (a straggler, a throttled device):
 *     [faults]
 *     slowdown = HOST START END FACTOR     (repeat the key for more)
 * This module owns the section's keys, checks them once against the
 * platform, and runs a host's computations through its windows.  Windows
 * are known before the run, so an execution is planned through them
 * exactly (piecewise, at each window's speed) instead of being
 * interrupted at a window's edge, where rounding could stall it.
 * Failures of hosts will live here too.
 */
#ifndef DT_FAULTS_H
#define DT_FAULTS_H

#include <simgrid/forward.h>

#include "error.h"
#include "keys.h"

#define FAULTS_MAX_SLOWDOWNS 32

/* A host runs at `factor` of its speed from `start` to `end` simulated
 * seconds. */
typedef struct Slowdown {
    char host[128];
    double start, end, factor;
} Slowdown;

typedef struct FaultsConfig {
    int nslowdowns;
    Slowdown slowdowns[FAULTS_MAX_SLOWDOWNS];
} FaultsConfig;

/* The [faults] keys, into a FaultsConfig (empty by default). */
extern const KeyTable faults_keys;

/* With the platform loaded: every fault names a host the platform has;
 * -1 (bad input) naming the scenario file, the host and the platform. */
int faults_check(const FaultsConfig *f, const char *scenario, const char *platform, DtError *err);

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
