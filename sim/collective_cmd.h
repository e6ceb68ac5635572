/*
 * collective_cmd.h - `dtsim collective`: time one collective on a platform.
 *
 * The microbenchmark of dtsim, in the spirit of nccl-tests: one rank per
 * host, every rank runs the chosen algorithm once on a timing-only buffer,
 * and the result is the simulated time with the algorithm and bus
 * bandwidths nccl-tests would report.  It is how the collectives are
 * checked against their closed forms, and how a user sizes a network
 * before running a whole training scenario on it.
 */
#ifndef DT_COLLECTIVE_CMD_H
#define DT_COLLECTIVE_CMD_H

#include <stdio.h>

#include "error.h"

/* argv as main() got it: argv[1] is "collective", options follow.  Prints
 * the result on stdout; returns 0, or -1 with err (DT_EINPUT: bad input). */
int collective_command(int argc, char **argv, DtError *err);

/* Its options read and checked against a platform of `hosts` hosts, as
 * collective_command does before it loads the platform: 0, or -1 (bad
 * input) naming the option.  No file is opened. */
int collective_parse(int argc, char **argv, int hosts, DtError *err);

/* The usage lines of the command, for dtsim --help. */
void collective_print_usage(FILE *out);

#endif
