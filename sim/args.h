/*
 * args.h - the options of dtsim run and dtsim check, read from the
 * command line (no file is opened: the scenario and the platform are the
 * run's to read).
 */
#ifndef DT_ARGS_H
#define DT_ARGS_H

#include "error.h"
#include "run.h"

#define ARGS_MAX_SETS 64

typedef struct Args {
    const char *command;
    const char *scenario;
    const char *platform;
    const char *sets[ARGS_MAX_SETS];
    int nset;
    RunOptions run;
} Args;

/* argv[1] is the command (run or check); its options from argv[2] on into
 * a (zeroed by the caller).  0, or -1 (bad input) naming the option. */
int args_parse(Args *a, int argc, char **argv, DtError *err);
void args_free(Args *a);

#endif
