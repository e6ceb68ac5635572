/*
 * profiles.h - SimGrid host state profiles, as dtsim's failures.
 *
 * A platform may give a host a state profile (`<host ... state_file=
 * "FILE">`): a list of "DATE VALUE" lines, VALUE > 0 the host is on, else
 * off, with PERIODICITY or LOOPAFTER to repeat it, as SimGrid reads it.
 * dtsim honours it as it does [faults] fail = HOST AT REPAIR: each time
 * the host goes off at AT and back on at a later date of the profile,
 * the recovery (recovery.h) turns it off at AT, stops the job, and
 * restarts it (from a checkpoint, on a spare, elastically) or ends the
 * run with exit 1, REPAIR seconds later being when the profile turns it
 * back on (never, if it does not).  SimGrid itself must not act on the
 * profile as well, since it would kill the host's ranks behind the
 * recovery's back: the run loads a copy of the platform without its
 * hosts' state_file attributes (blanked, so that every line keeps its
 * number), from which relative files resolve as from the original.
 * Stochastic profiles and HOST_AVAIL trace connections are refused
 * (profiles.c, platform.c), and so are state profiles of links and
 * LINK_AVAIL for ranks that communicate.  A spare whose profile has it
 * off when it is needed is passed over; a storage host's profile is not
 * followed.
 */
#ifndef DT_PROFILES_H
#define DT_PROFILES_H

#include <limits.h>

#include "error.h"

typedef struct HostProfile {
    char host[128];      /* the host's id */
    char file[PATH_MAX]; /* the profile, as found */
    int n;
    double *at;              /* (n) the dates of the first round, ascending */
    char *on;                /* (n) the state from each date on */
    double period;           /* > 0: the dates repeat every period seconds; 0: once */
    const char *what, *kind; /* "host" or "link", "state" or a scale's name, for messages */
} HostProfile;

typedef struct Profiles {
    int n;
    HostProfile *host;
    char copy[PATH_MAX]; /* the platform without the hosts' state files ("": no copy) */
    char dir[PATH_MAX];  /* the original's directory, where relative files resolve */
} Profiles;

/* Read the state profiles of platform's hosts and, when there are any,
 * write the copy SimGrid loads instead.  0, or -1 naming the file and
 * line: bad input (a profile SimGrid would refuse, or one that is
 * stochastic) or a runtime failure (the copy cannot be written). */
int profiles_read(Profiles *p, const char *platform, DtError *err);
/* The scale profiles of platform's hosts (speed_file) and links
 * (bandwidth_file, latency_file) checked: values SimGrid aborts on (a
 * speed or bandwidth of 0 or less, a negative latency) refused with exit
 * 2, naming the file and line; 0 when all are sound. */
int profiles_check_scales(const char *platform, DtError *err);
/* What SimGrid loads: the copy, or platform itself. */
const char *profiles_platform(const Profiles *p, const char *platform);
/* SimGrid has read the platform: remove the copy. */
void profiles_loaded(Profiles *p);
/* In a message about the platform SimGrid loaded, the copy's name made
 * the original's, platform. */
void profiles_rename(const Profiles *p, const char *platform, char *msg, size_t size);
/* Remove the copy, if still there, and free everything. */
void profiles_free(Profiles *p);
/* Its host's first failure after `after`: it goes off at *at and is back
 * on *repair seconds later (-1: never).  0 when there is none. */
int profile_next_failure(const HostProfile *h, double after, double *at, double *repair);
/* Is its host on at time t? */
int profile_on_at(const HostProfile *h, double t);

#endif
