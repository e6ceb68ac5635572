/*
 * cli.h - what dtsim's commands share to read their options.
 */
#ifndef DT_CLI_H
#define DT_CLI_H

#include <stddef.h>

#include "error.h"

/* Is argv[*i] option `name`, as "--name=value" or "--name value"?  Then
 * return 1 and point *value at the value (NULL when the command line ends
 * first), advancing *i past a separate value; otherwise return 0. */
int cli_option(int argc, char **argv, int *i, const char *name, const char **value);

/* -1, bad input, when path exists but is not a regular file (a directory
 * or a FIFO, which would block its reader), naming it as `what` ("scenario")
 * and saying what to give instead (`instead`: "an INI file"); else 0 (a
 * missing file is for the caller's open to report). */
int cli_regular_file(const char *path, const char *what, const char *instead, DtError *err);

/* "[#######.............]  35%" for fraction (0 to 1) into buf. */
void cli_bar(char *buf, size_t size, double fraction);

#endif
