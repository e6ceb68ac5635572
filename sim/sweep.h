/*
 * sweep.h - `dtsim sweep`: one scenario, a grid of variants.
 *
 *   dtsim sweep SCENARIO --vary section.key=v1,v2,... [--vary ...]
 *               [--out DIR] [--jobs N] [--print-commands]
 *               [--platform F] [--set section.key=value]... [--cfg=...]
 *
 * Several --vary make a product.  Every variant is checked as a scenario
 * first (an unknown key or a bad value stops the sweep before anything
 * runs), then each runs as its own `dtsim run` process, up to --jobs at a
 * time, into DIR/run-NNN.  DIR/sweep.csv has one row per variant, in grid
 * order whatever the finishing order, with speedup and parallel efficiency
 * against the variant with the fewest workers among those that differ
 * only in cluster.workers.  --print-commands prints the runs' command lines
 * instead, one per line, for GNU parallel or a cluster's job array.  Every
 * run uses one OpenBLAS thread (OpenBLAS's sums depend on its thread
 * count), so the rows do not depend on --jobs, and the printed lines say so.
 */
#ifndef DT_SWEEP_H
#define DT_SWEEP_H

#include "error.h"

/* argv as main got it (argv[1] is "sweep"); 0, or -1 with err. */
int sweep_command(int argc, char **argv, const char *self, DtError *err);

#endif
