/*
 * faults.c - the [faults] section: parsed, checked and applied here (see
 * faults.h).
 */
#include "faults.h"

#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* "HOST START END FACTOR": one more window. */
static int slowdown_parse(void *config, const char *value)
{
    FaultsConfig *f = config;
    if (f->nslowdowns == FAULTS_MAX_SLOWDOWNS)
        return -1;
    Slowdown *w = &f->slowdowns[f->nslowdowns];
    char host[sizeof w->host + 1], rest;
    if (sscanf(value, "%128s %lf %lf %lf %c", host, &w->start, &w->end, &w->factor, &rest) != 4 ||
        strlen(host) >= sizeof w->host || !isfinite(w->start) || !isfinite(w->end) ||
        w->start < 0.0 || w->end <= w->start || !(w->factor > 0.0 && w->factor <= 1.0))
        return -1;
    strcpy(w->host, host);
    f->nslowdowns++;
    return 0;
}

static int slowdown_format(const void *config, int i, char *buf, size_t size)
{
    const FaultsConfig *f = config;
    if (i >= f->nslowdowns)
        return -1;
    const Slowdown *w = &f->slowdowns[i];
    char start[32], end[32], factor[32];
    keys_format_number(w->start, start, sizeof start);
    keys_format_number(w->end, end, sizeof end);
    keys_format_number(w->factor, factor, sizeof factor);
    snprintf(buf, size, "%s %s %s %s", w->host, start, end, factor);
    return 0;
}

/* "HOST AT [REPAIR]": one more failure. */
static int fail_parse(void *config, const char *value)
{
    FaultsConfig *f = config;
    if (f->nfailures == FAULTS_MAX_FAILURES)
        return -1;
    Failure *x = &f->failures[f->nfailures];
    char host[sizeof x->host + 1], rest;
    x->repair = -1.0;
    int n = sscanf(value, "%128s %lf %lf %c", host, &x->at, &x->repair, &rest);
    if ((n != 2 && n != 3) || strlen(host) >= sizeof x->host || !isfinite(x->at) || x->at < 0.0 ||
        (n == 3 && (!isfinite(x->repair) || x->repair < 0.0)))
        return -1;
    if (n == 2)
        x->repair = -1.0;
    strcpy(x->host, host);
    f->nfailures++;
    return 0;
}

static int fail_format(const void *config, int i, char *buf, size_t size)
{
    const FaultsConfig *f = config;
    if (i >= f->nfailures)
        return -1;
    const Failure *x = &f->failures[i];
    char at[32], repair[32] = "";
    keys_format_number(x->at, at, sizeof at);
    if (x->repair >= 0.0) {
        repair[0] = ' ';
        keys_format_number(x->repair, repair + 1, sizeof repair - 1);
    }
    snprintf(buf, size, "%s %s%s", x->host, at, repair);
    return 0;
}

static const char *const faults_on_off[] = {"off", "on", NULL};

#define STR_(x) #x
#define STR(x) STR_(x)

static const KeyDef keys[] = {
    {.name = "slowdown",
     .type = KEY_CUSTOM,
     .def = "(none)",
     .help = "HOST START END FACTOR: the host runs at FACTOR (0 < FACTOR <= 1) of its speed "
             "from START to END simulated seconds; repeat the key for more",
     .repeat = 1,
     .parse = slowdown_parse,
     .format = slowdown_format,
     .expect = "HOST START END FACTOR with 0 <= START < END and 0 < FACTOR <= 1, at most " STR(
         FAULTS_MAX_SLOWDOWNS) " of them"},
    {.name = "fail",
     .type = KEY_CUSTOM,
     .def = "(none)",
     .help = "HOST AT [REPAIR]: the host goes down at AT simulated seconds (its ranks stop, its "
             "messages are lost) and, with REPAIR, comes back REPAIR seconds later; repeat the "
             "key for more (serial and data-parallel)",
     .repeat = 1,
     .parse = fail_parse,
     .format = fail_format,
     .expect = "HOST AT [REPAIR] with AT >= 0 and REPAIR >= 0 seconds, at most " STR(
         FAULTS_MAX_FAILURES) " of them"},
    {.name = "detect",
     .type = KEY_DOUBLE,
     .offset = offsetof(FaultsConfig, detect),
     .min = 0,
     .max = 1e9,
     .def = "10",
     .help = "seconds from a failure until the job notices (a heartbeat's timeout)"},
    {.name = "restart",
     .type = KEY_DOUBLE,
     .offset = offsetof(FaultsConfig, restart),
     .min = 0,
     .max = 1e9,
     .def = "30",
     .help = "seconds to relaunch the job once its hosts are up, before it reads its checkpoint"},
    {.name = "mtbf",
     .type = KEY_DOUBLE,
     .offset = offsetof(FaultsConfig, mtbf),
     .min = 0,
     .min_open = 1,
     .max = 1e15,
     .def = "(none)",
     .help = "mean seconds between failures of each rank's host: failures drawn from the seed, "
             "exponentially apart, the job's mean time between them mtbf / hosts"},
    {.name = "repair",
     .type = KEY_DOUBLE,
     .offset = offsetof(FaultsConfig, repair),
     .min = 0,
     .max = 1e9,
     .def = "0",
     .help = "seconds until a host an mtbf failure brought down is back (0: replaced at once)"},
    KEYDEF_INT(FaultsConfig, "spares", spares, 0, 1 << 20, "0",
               "hosts standing by (the first ones in name order on which no rank runs): a failed "
               "host's ranks restart on one at once, without waiting for its repair"),
    KEYDEF_ENUM(FaultsConfig, "elastic", elastic, faults_on_off, "off",
                "on: after a failure, data-parallel goes on with the surviving workers, from "
                "the last step all had finished, at the same global batch"),
};

const KeyTable faults_keys = {"faults", keys, sizeof keys / sizeof keys[0]};

int faults_check(const FaultsConfig *f, const char *scenario, const char *platform, DtError *err)
{
    for (int i = 0; i < f->nslowdowns; i++)
        if (!sg_host_by_name(f->slowdowns[i].host))
            return dt_fail(err, DT_EINPUT,
                           "%s: [faults] slowdown names host '%s', which platform '%s' does not "
                           "have",
                           scenario, f->slowdowns[i].host, platform);
    for (int i = 0; i < f->nfailures; i++)
        if (!sg_host_by_name(f->failures[i].host))
            return dt_fail(err, DT_EINPUT,
                           "%s: [faults] fail names host '%s', which platform '%s' does not have",
                           scenario, f->failures[i].host, platform);
    return 0;
}

int faults_check_used(const FaultsConfig *f, const char *scenario, sg_host_t const *host,
                      int nranks, DtError *err)
{
    for (int i = 0; i < f->nfailures; i++) {
        int used = 0;
        for (int r = 0; r < nranks && !used; r++)
            used = strcmp(sg_host_get_name(host[r]), f->failures[i].host) == 0;
        if (!used)
            return dt_fail(err, DT_EINPUT,
                           "%s: [faults] fail names host '%s', on which no rank runs; name one of "
                           "the ranks' hosts (rank 0 runs on '%s')",
                           scenario, f->failures[i].host, sg_host_get_name(host[0]));
    }
    return 0;
}

void faults_of_host(const FaultsConfig *f, const char *name, HostFaults *hf)
{
    hf->nslow = 0;
    for (int i = 0; i < f->nslowdowns; i++)
        if (strcmp(f->slowdowns[i].host, name) == 0)
            hf->slow[hf->nslow++] = &f->slowdowns[i];
}

/* The speed factor at time t (the product of the active slowdowns), and in
 * *next the next time after t where it changes (INFINITY if never). */
static double faults_factor(const HostFaults *hf, double t, double *next)
{
    double f = 1.0;
    *next = INFINITY;
    for (int i = 0; i < hf->nslow; i++) {
        const Slowdown *s = hf->slow[i];
        if (s->start <= t && t < s->end)
            f *= s->factor;
        if (s->start > t && s->start < *next)
            *next = s->start;
        if (s->end > t && s->end < *next)
            *next = s->end;
    }
    return f;
}

void faults_execute(const HostFaults *hf, double speed, double work)
{
    if (hf->nslow == 0) {
        sg_actor_execute(work);
        return;
    }
    /* The times are planned here, not read back, so that rounding cannot
     * stall at a window's edge. */
    double t = simgrid_get_clock();
    while (work > 0.0) {
        double next, f = faults_factor(hf, t, &next);
        double need = work / f / speed; /* seconds to finish at this factor */
        if (t + need <= next) {
            sg_actor_execute(work / f);
            return;
        }
        sg_actor_execute((next - t) * speed);
        work -= (next - t) * speed * f;
        t = next;
    }
}
