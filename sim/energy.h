/*
 * energy.h - what a run costs in joules, from SimGrid's energy plugins.
 *
 * A platform gives a host's wattage as SimGrid defines it:
 *     <prop id="wattage_per_state" value="IDLE:PEAK"/>  (or IDLE:EPSILON:PEAK)
 *     <prop id="wattage_off" value="WATTS"/>            (optional, 0 by default)
 * with one IDLE:PEAK group per pstate, comma-separated; and a link's as
 *     <prop id="wattage_range" value="IDLE:BUSY"/>
 * SimGrid's model: a host that computes nothing draws IDLE; one that
 * computes draws EPSILON + load x (PEAK - EPSILON) (EPSILON is IDLE when
 * not given), and a dtsim device runs one kernel at a time at full speed,
 * so PEAK.  A link draws IDLE + (its usage / its bandwidth) x (BUSY - IDLE).
 * Energy is the integral of that power over the simulated time.
 *
 * A plugin is on when the platform's text names its property (they only
 * watch, but some SimGrid models do not go with them: ns-3 with the link
 * plugin); a run reports its energy when a host one of its ranks runs on
 * gives wattage_per_state.
 */
#ifndef DT_ENERGY_H
#define DT_ENERGY_H

#include <simgrid/forward.h>
#include <stddef.h>

#include "error.h"

struct cJSON;

/* Turn SimGrid's host energy plugin on (hosts) and its link energy plugin
 * (links): before the platform is loaded. */
void energy_plugins_init(int hosts, int links);

/* With the platform loaded and no host plugin on (the platform check's
 * child): every host's wattage_per_state and wattage_off read as SimGrid
 * reads them, and each non-negative; -1 with why (naming the host, the
 * property and what to write) when one is not. */
int energy_check_hosts(char *why, size_t size);
/* From the platform file's text: does it name wattage_per_state (*hosts)
 * or wattage_range (*links)?  And every link's wattage_range as SimGrid
 * reads it, or -1 with why naming the file and the line (SimGrid's C
 * interface does not give a link's properties). */
int energy_scan(const char *path, int *hosts, int *links, char *why, size_t size);

/* A run's energy: the distinct hosts its ranks run on. */
typedef struct Energy {
    sg_host_t *hosts; /* (nhosts) those that give wattage_per_state, in rank order */
    int nhosts;
    int missing; /* hosts of ranks that give none (their energy is unknown) */
    char missing_example[128];
} Energy;

/* After placement: which of the ranks' hosts give wattage.  -1 (out of
 * memory) with err. */
int energy_start(Energy *e, const sg_host_t *placed, int nranks, DtError *err);
/* One more host to count (a spare standing by), when it gives wattage;
 * -1 when out of memory. */
int energy_add_host(Energy *e, sg_host_t h);
void energy_free(Energy *e);
/* Is there anything to report? */
int energy_on(const Energy *e);
/* The joules e's hosts have drawn so far (from an actor: one simcall). */
double energy_hosts_joules(const Energy *e);
/* The joules host h has drawn, or a negative number when it gives no
 * wattage. */
double energy_host_joules(const Energy *e, sg_host_t h);
/* summary.json's "energy" section and measures, at the end of the run
 * (seconds: its simulated time; samples: the training samples it took). */
void energy_summary(const Energy *e, struct cJSON *root, double seconds, double samples);

#endif
