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

/* Options passed through to SimGrid, as "--cfg=name:value" strings. */
typedef struct SimOptions {
    const char *const *cfg;
    int ncfg;
} SimOptions;

/* Initialise SimGrid with the options and load the platform in a child
 * process; then, if the platform has at least nranks hosts, let the first
 * nranks hosts (natural order, as ranks are placed) exchange small messages
 * (every pair up to 64 ranks; beyond, the pairs ring, halving-doubling and
 * tree algorithms use, and every rank with the last eight), so that a
 * platform whose hosts cannot reach each other (no route, a zone without
 * routing or coordinates, a failed host) is refused before the run.
 * Returns the number of hosts, or -1 with SimGrid's reason. */
int platform_check_ranks(const char *path, const SimOptions *opts, int nranks, DtError *err);
/* The same without the trial exchange. */
int platform_check(const char *path, const SimOptions *opts, DtError *err);

/* Initialise SimGrid in this process and load the platform (call once,
 * after platform_check succeeded). */
void platform_load(const char *path, const SimOptions *opts);

/* The platform's hosts in natural name order (node-2 before node-10);
 * malloc'd, *n set to the count. */
sg_host_t *platform_hosts(size_t *n);

/* The network model in force: a --cfg option, else the platform file's
 * <config>, else SimGrid's default LV08. */
void platform_network_model(const char *path, const SimOptions *opts, char *buf, size_t size);

#endif
