/*
 * error.c - the one helper behind DtError (see error.h).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int dt_fail(DtError *err, DtErrorKind kind, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->kind = kind;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
