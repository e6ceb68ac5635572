/*
 * sweep.h - `dtsim sweep`: one scenario, a grid of variants.
 *
 *   dtsim sweep SCENARIO --vary section.key=v1,v2,... [--vary ...]
 *               [--vary key1,key2=a1:b1,a2:b2,...] [--baseline RUN]
 *               [--out DIR] [--jobs N] [--print-commands]
 *               [--platform F] [--set section.key=value]... [--cfg=...]
 *
 * Several --vary make a product; keys linked in one --vary change together
 * (cluster.workers,train.batch=1:512,2:256 holds the global batch for
 * strong scaling).  Every variant is checked as a scenario first (an
 * unknown key or a bad value stops the sweep before anything runs), then
 * each runs as its own `dtsim run` process, up to --jobs at a time, into
 * DIR/run-NNN.  DIR/sweep.csv has one row per variant, in grid order
 * whatever the finishing order, with speedup (throughput) and parallel
 * efficiency against one baseline for all: --baseline (a run number, or
 * key=value,... naming one variant), by default the variant with the
 * fewest workers.  The pictures follow what varies (plots/sweep.gp).
 * --print-commands prints the runs' command lines instead, one per line,
 * for GNU parallel or a cluster's job array.  Every run computes on one
 * OpenBLAS thread, so the rows do not depend on --jobs.
 */
#ifndef DT_SWEEP_H
#define DT_SWEEP_H

#include "error.h"

/* argv as main got it (argv[1] is "sweep"); 0, or -1 with err. */
int sweep_command(int argc, char **argv, const char *self, DtError *err);

#endif
