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
