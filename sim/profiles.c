/*
 * profiles.c - SimGrid host state profiles, as dtsim's failures (see
 * profiles.h).
 */
#include "profiles.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform.h"
#include "xml.h"

/* Where SimGrid finds a relative file: the working directory, then the
 * platform's directory. */
static void profile_find(const char *name, const char *dir, char *out, size_t size)
{
    int n = -1;
    if (name[0] != '/' && access(name, R_OK) != 0)
        n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) /* absolute, here, or too long to look for elsewhere */
        snprintf(out, size, "%s", name);
}

/* The platform's directory, where SimGrid finds its relative files. */
static void platform_dir(const char *platform, char *dir, size_t size)
{
    const char *slash = strrchr(platform, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", slash == platform ? 1 : (int)(slash - platform), platform);
}

static int profile_add(HostProfile *h, double at, int on)
{
    double *a = realloc(h->at, (size_t)(h->n + 1) * sizeof *a);
    if (a)
        h->at = a;
    char *o = a ? realloc(h->on, (size_t)(h->n + 1)) : NULL;
    if (!o)
        return -1;
    h->on = o;
    h->at[h->n] = at;
    h->on[h->n++] = (char)on;
    return 0;
}

/* One line of a profile: blank, a comment, PERIODICITY or LOOPAFTER, or
 * DATE VALUE; -1 with why when SimGrid would refuse it or it is
 * stochastic.  *loop_after < 0 until LOOPAFTER. */
static int profile_line(HostProfile *h, char *line, double *loop_after, char *why, size_t size)
{
    char *s = line + strspn(line, " \t");
    double date, value;
    if (!*s || *s == '#' || *s == '%')
        return 0;
    /* as SimGrid, what follows the numbers it reads is not looked at */
    if (sscanf(s, "PERIODICITY %lg", &h->period) == 1)
        return h->period > 0.0 && isfinite(h->period)
                   ? 0
                   : (snprintf(why, size, "PERIODICITY must be a number above 0"), -1);
    if (sscanf(s, "LOOPAFTER %lg", loop_after) == 1)
        return *loop_after >= 0.0 && isfinite(*loop_after)
                   ? 0
                   : (snprintf(why, size, "LOOPAFTER must be a number of 0 or more"), -1);
    if (strncmp(s, "STOCHASTIC", 10) == 0) {
        snprintf(why, size,
                 "stochastic profiles draw their dates at random in SimGrid's own "
                 "generator; give fixed dates (for random failures, [faults] mtbf)");
        return -1;
    }
    if (sscanf(s, "%lg %lg", &date, &value) != 2 || !isfinite(date) || !isfinite(value)) {
        snprintf(why, size, "'%s' is not DATE VALUE", s);
        return -1;
    }
    if (fpclassify(date) == FP_SUBNORMAL || fpclassify(value) == FP_SUBNORMAL) {
        snprintf(why, size, "'%s': SimGrid reads no number nearer 0 than %g but 0", s, DBL_MIN);
        return -1;
    }
    if (date < 0.0 || (h->n > 0 && date < h->at[h->n - 1])) {
        snprintf(why, size, "date %g is %s", date,
                 date < 0.0 ? "negative" : "before the line above's: dates must be ascending");
        return -1;
    }
    /* a speed profile scales the host's speed; a link's profiles give its
     * bandwidth (bytes/s) and latency (s) themselves */
    if (strcmp(h->kind, "speed") == 0 && value <= 0.0) {
        snprintf(why, size, "value %g: it scales the host's speed, so it must be above 0", value);
        return -1;
    }
    if (strcmp(h->kind, "bandwidth") == 0 && value < PLATFORM_MIN_RATE) {
        snprintf(why, size, "value %g: it is the link's bandwidth in bytes/s, at least %g", value,
                 PLATFORM_MIN_RATE);
        return -1;
    }
    if (strcmp(h->kind, "latency") == 0 && value < 0.0) {
        snprintf(why, size, "value %g: it is the link's latency in seconds, 0 or more", value);
        return -1;
    }
    if (profile_add(h, date, value > 0.0) < 0) {
        snprintf(why, size, "out of memory");
        return -1;
    }
    return 0;
}

/* Parse a profile's text (changed), its lines ended by \n, \r or both (as
 * SimGrid splits them) and as long as they come; -1 with err naming its
 * line, line0 + its number in text, of h->file. */
static int profile_parse(HostProfile *h, char *text, int line0, DtError *err)
{
    char why[256];
    double loop_after = -1.0;
    int n = 0, rc = 0;
    for (char *line = text; rc == 0 && *line;) {
        size_t len = strcspn(line, "\r\n");
        char *next = line + len;
        next += *next == '\r' && next[1] == '\n' ? 2 : *next ? 1 : 0;
        line[len] = '\0';
        n++;
        rc = profile_line(h, line, &loop_after, why, sizeof why);
        line = next;
    }
    if (rc < 0)
        return dt_fail(err, DT_EINPUT, "%s:%d: %s %s's %s profile: %s", h->file, line0 + n, h->what,
                       h->host, h->kind, why);
    double last = h->n ? h->at[h->n - 1] : 0.0;
    if (h->period > 0.0 && (loop_after >= 0.0 || h->period < last))
        return dt_fail(err, DT_EINPUT, "%s: %s %s's %s profile: PERIODICITY %g %s", h->file,
                       h->what, h->host, h->kind, h->period,
                       loop_after >= 0.0 ? "and LOOPAFTER together (SimGrid takes one)"
                                         : "is shorter than the profile's dates");
    if (loop_after >= 0.0)
        h->period = last + loop_after;
    if (loop_after >= 0.0 && h->period <= 0.0)
        return dt_fail(err, DT_EINPUT,
                       "%s: %s %s's %s profile repeats every 0 s: give a LOOPAFTER above 0",
                       h->file, h->what, h->host, h->kind);
    return 0;
}

/* Read and parse host h's profile file, h->file. */
static int profile_read(HostProfile *h, DtError *err)
{
    char *text = xml_text(h->file);
    if (!text)
        return dt_fail(err, DT_EINPUT,
                       "cannot read %s %s's %s profile '%s' (a regular file, named "
                       "from the working directory or the platform's)",
                       h->what, h->host, h->kind, h->file);
    int rc = profile_parse(h, text, 0, err);
    free(text);
    return rc;
}

/* Check each of the platform's elements tag whose attribute attr names a
 * profile that scales kind. */
static int scales_of(const char *platform, const char *dir, const char *text, const char *tag,
                     const char *attr, const char *kind, DtError *err)
{
    const char *end;
    int rc = 0;
    for (const char *el = xml_element(text, tag, &end); el && rc == 0;
         el = xml_element(end, tag, &end)) {
        char name[PATH_MAX];
        if (!xml_attribute(el, end, attr, name, sizeof name, NULL) || !name[0])
            continue;
        HostProfile h = {.what = strcmp(tag, "link") == 0 ? "link" : "host", .kind = kind};
        if (!xml_attribute(el, end, "id", h.host, sizeof h.host, NULL))
            snprintf(h.host, sizeof h.host, "at %s:%d", platform, xml_line(text, el));
        profile_find(name, dir, h.file, sizeof h.file);
        rc = profile_read(&h, err);
        free(h.at);
        free(h.on);
    }
    return rc;
}

/* Check one <trace> (el to end) that scales kind of element: its file,
 * or its lines between <trace> and </trace>. */
static int trace_check(const char *platform, const char *dir, const char *text, const char *el,
                       const char *end, HostProfile *h, DtError *err)
{
    char name[PATH_MAX];
    if (xml_attribute(el, end, "file", name, sizeof name, NULL) && name[0]) {
        profile_find(name, dir, h->file, sizeof h->file);
        return profile_read(h, err);
    }
    const char *close = end[-1] == '/' ? NULL : strstr(end, "</trace>");
    if (!close)
        return 0;
    char *lines = strndup(end + 1, (size_t)(close - end - 1));
    if (!lines)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    snprintf(h->file, sizeof h->file, "%s", platform);
    int rc = profile_parse(h, lines, xml_line(text, end) - 1, err);
    free(lines);
    return rc;
}

/* The platform's <trace_connect> of kinds SPEED, BANDWIDTH and LATENCY:
 * the traces they connect checked as scales of those. */
static int traces_of(const char *platform, const char *dir, const char *text, DtError *err)
{
    static const char *const kinds[][3] = {{"SPEED", "speed", "host"},
                                           {"BANDWIDTH", "bandwidth", "link"},
                                           {"LATENCY", "latency", "link"}};
    const char *end, *tend;
    int rc = 0;
    for (const char *el = xml_element(text, "trace_connect", &end); el && rc == 0;
         el = xml_element(end, "trace_connect", &end)) {
        char kind[32], id[256];
        HostProfile h = {0};
        if (!xml_attribute(el, end, "kind", kind, sizeof kind, NULL) ||
            !xml_attribute(el, end, "trace", id, sizeof id, NULL))
            continue;
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
            if (strcmp(kind, kinds[k][0]) == 0) {
                h.kind = kinds[k][1];
                h.what = kinds[k][2];
            }
        const char *trace = h.kind ? xml_by_id(text, "trace", id, &tend) : NULL;
        if (!trace)
            continue; /* another kind, or no such trace: SimGrid says so */
        xml_attribute(el, end, "element", h.host, sizeof h.host, NULL);
        rc = trace_check(platform, dir, text, trace, tend, &h, err);
        free(h.at);
        free(h.on);
    }
    return rc;
}

/* profiles_check_scales on the platform's text, its directory dir. */
static int scales_check(const char *platform, const char *dir, const char *text, DtError *err)
{
    int rc = scales_of(platform, dir, text, "host", "speed_file", "speed", err);
    if (rc == 0)
        rc = scales_of(platform, dir, text, "peer", "speed_file", "speed", err);
    if (rc == 0)
        rc = scales_of(platform, dir, text, "link", "bandwidth_file", "bandwidth", err);
    if (rc == 0)
        rc = scales_of(platform, dir, text, "link", "latency_file", "latency", err);
    if (rc == 0)
        rc = traces_of(platform, dir, text, err);
    return rc;
}

int profiles_check_scales(const char *platform, DtError *err)
{
    char *text = xml_text(platform);
    if (!text)
        return 0; /* the platform's check names it */
    char dir[PATH_MAX];
    platform_dir(platform, dir, sizeof dir);
    int rc = scales_check(platform, dir, text, err);
    free(text);
    return rc;
}

/* The platform with the hosts' state_file attributes blanked, into a
 * file of its own. */
static int profiles_copy(Profiles *p, char *text, DtError *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(p->copy, sizeof p->copy, "%s/dtsim-platform-XXXXXX.xml", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemps(p->copy, 4);
    if (fd < 0) {
        int e = errno;
        p->copy[0] = '\0';
        return dt_fail(err, DT_ERUNTIME, "cannot write a copy of the platform: %s", strerror(e));
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : dt_fail(err, DT_ERUNTIME, "cannot write %s", p->copy);
}

/* The state profiles of the platform's elements `tag` (host, peer), their
 * state_file attributes blanked in text (line breaks kept, so that every
 * line keeps its number). */
static int profiles_of(Profiles *p, const char *platform, char *text, const char *tag, DtError *err)
{
    const char *end, *span[2];
    for (const char *el = xml_element(text, tag, &end); el; el = xml_element(end, tag, &end)) {
        char name[PATH_MAX], id[sizeof p->host->host + 1];
        if (!xml_attribute(el, end, "state_file", name, sizeof name, span) || !name[0])
            continue; /* an empty one is none, to SimGrid too */
        int line = xml_line(text, el);
        if (!xml_attribute(el, end, "id", id, sizeof id, NULL) || strlen(id) >= sizeof id - 1)
            return dt_fail(err, DT_EINPUT,
                           "%s:%d: a %s with a state_file needs an id of at most %zu characters",
                           platform, line, tag, sizeof id - 2);
        HostProfile *more = realloc(p->host, (size_t)(p->n + 1) * sizeof *more);
        if (!more)
            return dt_fail(err, DT_ERUNTIME, "out of memory");
        p->host = more;
        HostProfile *h = &p->host[p->n++];
        *h = (HostProfile){.what = "host", .kind = "state"};
        memcpy(h->host, id, strlen(id) + 1); /* shorter than h->host: checked above */
        profile_find(name, p->dir, h->file, sizeof h->file);
        if (profile_read(h, err) < 0)
            return -1;
        for (char *c = (char *)span[0]; c < span[1]; c++)
            *c = *c == '\n' ? '\n' : ' ';
    }
    return 0;
}

int profiles_read(Profiles *p, const char *platform, DtError *err)
{
    *p = (Profiles){0};
    platform_dir(platform, p->dir, sizeof p->dir);
    char *text = xml_text(platform);
    if (!text)
        return 0; /* the platform's check names it */
    int rc = scales_check(platform, p->dir, text, err);
    if (rc == 0)
        rc = profiles_of(p, platform, text, "host", err);
    if (rc == 0)
        rc = profiles_of(p, platform, text, "peer", err);
    if (rc == 0 && p->n > 0)
        rc = profiles_copy(p, text, err);
    free(text);
    return rc;
}

const char *profiles_platform(const Profiles *p, const char *platform)
{
    return p->copy[0] ? p->copy : platform;
}

void profiles_loaded(Profiles *p)
{
    if (p->copy[0])
        unlink(p->copy);
    p->copy[0] = '\0';
}

void profiles_rename(const Profiles *p, const char *platform, char *msg, size_t size)
{
    size_t len = strlen(p->copy), plen = strlen(platform);
    for (char *at = len ? strstr(msg, p->copy) : NULL; at; at = strstr(at + plen, p->copy)) {
        char rest[sizeof((DtError *)0)->msg];
        snprintf(rest, sizeof rest, "%s", at + len);
        snprintf(at, size - (size_t)(at - msg), "%s%s", platform, rest);
        if (strlen(msg) < (size_t)(at - msg) + plen) /* cut short: no more to find */
            break;
    }
}

void profiles_free(Profiles *p)
{
    profiles_loaded(p);
    for (int i = 0; i < p->n; i++) {
        free(p->host[i].at);
        free(p->host[i].on);
    }
    free(p->host);
    *p = (Profiles){0};
}

/* The date of the k-th of the profile's changes (k over every round). */
static double profile_date(const HostProfile *h, long k)
{
    return h->at[k % h->n] + (double)(k / h->n) * h->period;
}

/* Does the k-th change stand (not followed by another at its date, which
 * decides the state from that date on, as SimGrid applies them in turn)? */
static int profile_stands(const HostProfile *h, long k)
{
    int next = h->period > 0.0 || k + 1 < h->n;
    return !next || profile_date(h, k + 1) != profile_date(h, k);
}

/* The rounds to scan for what happens around time t: from the one before
 * t's (whose end state is its last change's) to two after. */
static void profile_rounds(const HostProfile *h, double t, long *start, long *rounds)
{
    *start = 0;
    *rounds = 1;
    if (h->period > 0.0) {
        double r = floor(t / h->period) - 1.0;
        *start = r > 1e12 ? (long)1e12 : r > 0.0 ? (long)r : 0;
        *rounds = *start + 3;
    }
}

int profile_on_at(const HostProfile *h, double t)
{
    long start, rounds;
    profile_rounds(h, t, &start, &rounds);
    int on = start > 0 ? h->on[h->n - 1] : 1;
    for (long k = start * h->n; k < rounds * h->n && profile_date(h, k) <= t; k++)
        if (profile_stands(h, k))
            on = h->on[k % h->n];
    return on;
}

int profile_next_failure(const HostProfile *h, double after, double *at, double *repair)
{
    if (h->n == 0)
        return 0;
    if (h->period > 0.0 && after / h->period > 1e12) /* beyond any run */
        return 0;
    long start, rounds;
    profile_rounds(h, after, &start, &rounds);
    int on = start > 0 ? h->on[h->n - 1] : 1;
    for (long k = start * h->n; k < rounds * h->n; k++) {
        if (!profile_stands(h, k))
            continue;
        int now = h->on[k % h->n];
        double date = profile_date(h, k);
        if (on && !now && date > after) {
            *at = date;
            *repair = -1.0;
            long end = h->period > 0.0 ? k + 2 * h->n + 1 : h->n;
            for (long j = k + 1; j < end; j++)
                if (profile_stands(h, j) && h->on[j % h->n]) {
                    *repair = profile_date(h, j) - date;
                    break;
                }
            return 1;
        }
        on = now;
    }
    return 0;
}
