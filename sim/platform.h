/*
 * platform.h - loading a SimGrid platform without letting it crash dtsim.
 *
 * SimGrid aborts the process on a platform file it cannot parse, and on a
 * --cfg option it does not know.  dtsim promises exit code 2 and a message
 * for bad input instead, so platform_check() first does the whole load in a
 * forked child: if the child dies, the parent reports SimGrid's own error
 * line.  Only a platform that loaded cleanly is then loaded for real.
 */
#ifndef DT_PLATFORM_H
#define DT_PLATFORM_H

#include <simgrid/forward.h>
#include <stddef.h>

#include "error.h"

#define SIM_MAX_CFGS 64

/* The slowest rate a platform may give (flop/s of a host, bytes/s of its
 * memory or of a link): below it, a run's simulated seconds and joules
 * can leave the range of a double. */
#define PLATFORM_MIN_RATE 1.0

/* Options passed through to SimGrid, as "--cfg=name:value" strings. */
typedef struct SimOptions {
    const char *cfg[SIM_MAX_CFGS];
    char *owned[SIM_MAX_CFGS]; /* the strings sim_options_add built */
    int ncfg;
} SimOptions;

/* Add the SimGrid option NAME:VALUE (what follows --cfg on a command
 * line); -1 with a message when it is malformed or there are too many. */
int sim_options_add(SimOptions *o, const char *value, DtError *err);
void sim_options_free(SimOptions *o);

/* Initialise SimGrid with the options and load the platform in a child
 * process; then, if the platform has at least nranks hosts, let the first
 * nranks hosts (natural order, as ranks are placed) exchange small messages
 * (every pair up to 64 ranks; beyond, the pairs ring, halving-doubling and
 * tree algorithms use, and every rank with the last eight; plus one 1 MB
 * message from rank 0 to rank 1), so that a
 * platform whose hosts cannot reach each other (no route, a zone without
 * routing or coordinates, a failed host) is refused before the run.
 * With hosts (a comma-separated list of host names, NULL for the natural
 * order), rank r goes on the r-th named host instead, and the names are
 * checked too.  Returns the number of hosts, or -1 with SimGrid's reason. */
int platform_check_ranks(const char *path, const SimOptions *opts, int nranks, const char *hosts,
                         DtError *err);
/* The same, and every placed rank's host has a route to host `reach` (a
 * storage host; NULL: none): -1 naming it otherwise. */
int platform_check_reach(const char *path, const SimOptions *opts, int nranks, const char *hosts,
                         const char *reach, DtError *err);
/* The same without the trial exchange. */
int platform_check(const char *path, const SimOptions *opts, DtError *err);

/* Initialise SimGrid in this process, with the energy plugins the
 * platform's wattage properties ask for (energy.h), and load the platform
 * (call once, after platform_check succeeded, which refused wattage
 * SimGrid would not read). */
void platform_load(const char *path, const SimOptions *opts, const char *trace_dir);

/* The network model in force: a --cfg option, else the platform file's
 * <config>, else SimGrid's default LV08. */
void platform_network_model(const char *path, const SimOptions *opts, char *buf, size_t size);

#endif
