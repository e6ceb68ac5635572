/*
 * energy.c - joules from SimGrid's host and link energy plugins (see
 * energy.h).
 */
#include "energy.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <simgrid/host.h>
#include <simgrid/link.h>
#include <simgrid/plugins/energy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"
#include "record.h"
#include "xml.h"

void energy_plugins_init(int hosts, int links)
{
    if (hosts)
        sg_host_energy_plugin_init();
    if (links)
        sg_link_energy_plugin_init();
}

/* A number of watts as SimGrid reads one (the whole text, nothing after),
 * and not below 0. */
static int watts(const char *text, size_t len, double *out)
{
    char buf[64], *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    *out = strtod(buf, &end);
    return *end == '\0' && !errno && isfinite(*out) && *out >= 0.0 ? 0 : -1;
}

/* The watts of one group, colon-separated (len characters of text): how
 * many, or -1 when one is not a number of watts. */
static int group_watts(const char *text, size_t len)
{
    int n = 0;
    for (size_t start = 0; start <= len;) {
        size_t end = start;
        while (end < len && text[end] != ':')
            end++;
        double w;
        if (watts(text + start, end - start, &w) < 0)
            return -1;
        n++;
        start = end + 1;
    }
    return n;
}

/* A property's value: comma-separated groups of lo to hi watts each
 * (wattage_per_state: IDLE:PEAK or IDLE:EPSILON:PEAK a pstate;
 * wattage_range: IDLE:BUSY).  How many groups, or -1 when one is not. */
static long groups_ok(const char *value, int lo, int hi)
{
    long n = 0;
    for (const char *p = value;; p++) {
        size_t len = strcspn(p, ",");
        int k = group_watts(p, len);
        if (k < lo || k > hi)
            return -1;
        n++;
        p += len;
        if (*p == '\0')
            return n;
    }
}

int energy_check_hosts(char *why, size_t size)
{
    size_t n = sg_host_count();
    sg_host_t *hosts = sg_host_list();
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const char *name = sg_host_get_name(hosts[i]);
        const char *per = sg_host_get_property_value(hosts[i], "wattage_per_state");
        const char *off = sg_host_get_property_value(hosts[i], "wattage_off");
        unsigned long pstates = sg_host_get_nb_pstates(hosts[i]);
        double w;
        if (per && groups_ok(per, 2, 3) != (long)pstates) {
            snprintf(why, size,
                     "host '%s': property wattage_per_state = '%s' is not what SimGrid reads: "
                     "give IDLE:PEAK (or IDLE:EPSILON:PEAK) watts, each a number of 0 or more, "
                     "for each of its %lu pstate%s, comma-separated, e.g. value=\"60:400\"",
                     name, per, pstates, pstates == 1 ? "" : "s");
            bad = 1;
        } else if (off && watts(off, strlen(off), &w) < 0) {
            snprintf(why, size,
                     "host '%s': property wattage_off = '%s' is not a number of watts of 0 or "
                     "more; e.g. value=\"10\"",
                     name, off);
            bad = 1;
        }
    }
    free(hosts);
    return bad ? -1 : 0;
}

int energy_scan(const char *path, int *hosts, int *links, char *why, size_t size)
{
    *hosts = *links = 0;
    char *text = xml_text(path);
    if (!text)
        return 0;
    *hosts = strstr(text, "wattage_per_state") != NULL;
    int bad = 0;
    for (const char *el = strstr(text, "<prop"); el && !bad; el = strstr(el + 5, "<prop")) {
        const char *end = strchr(el, '>');
        char id[64], value[256];
        if (!end || !xml_attribute(el, end, "id", id, sizeof id, NULL) ||
            strcmp(id, "wattage_range") != 0)
            continue;
        *links = 1;
        if (xml_attribute(el, end, "value", value, sizeof value, NULL) &&
            groups_ok(value, 2, 2) > 0)
            continue;
        snprintf(why, size,
                 "%s:%d: property wattage_range = '%s' is not what SimGrid reads: give "
                 "IDLE:BUSY watts, each a number of 0 or more, e.g. value=\"10:20\"",
                 path, xml_line(text, el),
                 xml_attribute(el, end, "value", value, sizeof value, NULL) ? value : "");
        bad = 1;
    }
    free(text);
    return bad ? -1 : 0;
}

int energy_start(Energy *e, const sg_host_t *placed, int nranks, DtError *err)
{
    *e = (Energy){0};
    e->hosts = malloc((size_t)(nranks > 0 ? nranks : 1) * sizeof *e->hosts);
    if (!e->hosts)
        return dt_fail(err, DT_ERUNTIME, "out of memory for the energy of %d hosts", nranks);
    for (int r = 0; r < nranks; r++) {
        if (!placement_first_on_host(placed, r))
            continue;
        if (sg_host_get_property_value(placed[r], "wattage_per_state"))
            e->hosts[e->nhosts++] = placed[r];
        else if (e->missing++ == 0)
            snprintf(e->missing_example, sizeof e->missing_example, "%s",
                     sg_host_get_name(placed[r]));
    }
    return 0;
}

int energy_add_host(Energy *e, sg_host_t h)
{
    if (!sg_host_get_property_value(h, "wattage_per_state"))
        return 0;
    sg_host_t *more = realloc(e->hosts, (size_t)(e->nhosts + 1) * sizeof *more);
    if (!more)
        return -1;
    e->hosts = more;
    e->hosts[e->nhosts++] = h;
    return 0;
}

void energy_free(Energy *e)
{
    free(e->hosts);
    *e = (Energy){0};
}

int energy_on(const Energy *e)
{
    return e->nhosts > 0;
}

double energy_hosts_joules(const Energy *e)
{
    if (!energy_on(e))
        return 0.0;
    sg_host_energy_update_all();
    double sum = 0.0;
    for (int i = 0; i < e->nhosts; i++)
        sum += sg_host_get_consumed_energy(e->hosts[i]);
    return sum;
}

static int energy_has(const Energy *e, const_sg_host_t h)
{
    for (int i = 0; i < e->nhosts; i++)
        if (e->hosts[i] == h)
            return 1;
    return 0;
}

double energy_host_joules(const Energy *e, sg_host_t h)
{
    return energy_has(e, h) ? sg_host_get_consumed_energy(h) : -1.0;
}

/* The joules of the platform's hosts no rank runs on, which give wattage
 * (they idle through the run, or draw wattage_off when off). */
static double unused_joules(const Energy *e)
{
    size_t n = sg_host_count();
    sg_host_t *hosts = sg_host_list();
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (sg_host_get_property_value(hosts[i], "wattage_per_state") && !energy_has(e, hosts[i]))
            sum += sg_host_get_consumed_energy(hosts[i]);
    }
    free(hosts);
    return sum;
}

static double links_joules(void)
{
    if (!sg_link_energy_is_inited())
        return 0.0;
    size_t n = sg_link_count();
    sg_link_t *links = sg_link_list();
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sg_link_get_name(links[i]), "__loopback__") != 0)
            sum += sg_link_get_consumed_energy(links[i]);
    free(links);
    return sum;
}

void energy_summary(const Energy *e, cJSON *root, double seconds, double samples)
{
    if (!energy_on(e))
        return;
    double hosts = energy_hosts_joules(e), links = links_joules();
    cJSON *s = cJSON_AddObjectToObject(root, "energy");
    cJSON_AddNumberToObject(s, "devices_joules", hosts);
    cJSON_AddNumberToObject(s, "devices", e->nhosts);
    cJSON_AddNumberToObject(s, "devices_average_watts", seconds > 0.0 ? hosts / seconds : 0.0);
    cJSON_AddNumberToObject(s, "links_joules", links);
    cJSON_AddNumberToObject(s, "total_joules", hosts + links);
    if (samples > 0.0)
        cJSON_AddNumberToObject(s, "joules_per_sample", (hosts + links) / samples);
    cJSON_AddNumberToObject(s, "unused_hosts_joules", unused_joules(e));
    if (e->missing > 0) {
        char note[256];
        snprintf(note, sizeof note,
                 "%d host%s of ranks (%s%s) give%s no wattage_per_state: not counted", e->missing,
                 e->missing == 1 ? "" : "s", e->missing_example, e->missing > 1 ? ", ..." : "",
                 e->missing == 1 ? "s" : "");
        cJSON_AddStringToObject(s, "missing", note);
    }
    cJSON_AddStringToObject(s, "model",
                            "SimGrid's energy plugins: a device draws its idle wattage when it "
                            "computes nothing and its peak when it computes; a link its idle "
                            "wattage plus its usage times (busy - idle); links_joules counts "
                            "every link of the platform that gives wattage_range");
    record_measure(root, "energy_joules", hosts + links);
}
