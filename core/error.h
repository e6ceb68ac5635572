/*
 * error.h - how core/ reports failure.
 *
 * core/ never prints and never exits: a function that can fail returns -1
 * and writes one human sentence into a DtError the caller owns.  The CLI in
 * sim/ decides what to print and which exit code to use.  The `kind` lets it
 * tell bad input (exit 2) from a failure at run time (exit 1).
 */
#ifndef DT_ERROR_H
#define DT_ERROR_H

#include <stddef.h>

typedef enum {
    DT_OK = 0,
    DT_EINPUT,   /* the user's input is wrong: file missing, malformed, bad value */
    DT_ERUNTIME, /* something failed while running: out of memory, I/O error */
} DtErrorKind;

typedef struct DtError {
    DtErrorKind kind;
    char msg[1024];
} DtError;

/* Fill err (when non-NULL) with a printf-style message; always returns -1 so
 * callers can write `return dt_fail(err, DT_EINPUT, "...", ...);`. */
int dt_fail(DtError *err, DtErrorKind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
