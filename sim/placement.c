/*
 * placement.c - ranks on hosts: natural order, listed hosts, and groups
 * packed into nodes (see placement.h).
 */
#include "placement.h"

#include <ctype.h>
#include <simgrid/host.h>
#include <simgrid/link.h>
#include <xbt/asserts.h>
#include <xbt/dynar.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compare names so that digit runs compare as numbers: node-2 < node-10. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int host_cmp(const void *x, const void *y)
{
    const char *a = sg_host_get_name(*(const sg_host_t *)x);
    const char *b = sg_host_get_name(*(const sg_host_t *)y);
    int c = natural_cmp(a, b);
    return c ? c : strcmp(a, b);
}

sg_host_t *placement_all_hosts(size_t *n)
{
    *n = sg_host_count();
    sg_host_t *hosts = sg_host_list();
    qsort(hosts, *n, sizeof *hosts, host_cmp);
    return hosts;
}

/* The route from a to b: its narrowest link's bandwidth and its latency,
 * as sg_host_get_route_bandwidth and _latency give them, from one lookup. */
static void route_of(sg_host_t a, sg_host_t b, xbt_dynar_t links, double *bw, double *lat)
{
    xbt_dynar_reset(links);
    sg_host_get_route(a, b, links);
    *bw = -1.0;
    *lat = 0.0;
    unsigned k;
    sg_link_t link;
    xbt_dynar_foreach(links, k, link)
    {
        double b_k = sg_link_get_bandwidth(link);
        if (b_k < *bw || *bw < 0.0)
            *bw = b_k;
        *lat += sg_link_get_latency(link);
    }
}

int placement_nodes(const sg_host_t *hosts, size_t n, int *node)
{
    int nodes = 0;
    double *bw = malloc((n ? n : 1) * sizeof *bw), *lat = malloc((n ? n : 1) * sizeof *lat);
    xbt_dynar_t links = xbt_dynar_new(sizeof(sg_link_t), NULL);
    xbt_assert(bw && lat, "out of memory");
    for (size_t i = 0; i < n; i++)
        node[i] = -1;
    for (size_t i = 0; i < n; i++) {
        if (node[i] >= 0)
            continue;
        double best_bw = 0.0, best_lat = 0.0;
        for (size_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            route_of(hosts[i], hosts[j], links, &bw[j], &lat[j]);
            if (bw[j] > best_bw * (1 + 1e-9) ||
                (bw[j] >= best_bw * (1 - 1e-9) && lat[j] < best_lat)) {
                best_bw = bw[j];
                best_lat = lat[j];
            }
        }
        node[i] = nodes;
        for (size_t j = i + 1; j < n; j++)
            if (node[j] < 0 && bw[j] >= best_bw * (1 - 1e-9) && lat[j] <= best_lat * (1 + 1e-9))
                node[j] = nodes;
        nodes++;
    }
    xbt_dynar_free(&links);
    free(bw);
    free(lat);
    return nodes;
}

sg_host_t *placement_list(int nranks, const char *hosts, DtError *err)
{
    size_t nhosts;
    sg_host_t *all = placement_all_hosts(&nhosts);
    sg_host_t *placed = calloc((size_t)nranks, sizeof *placed);
    if (!all || !placed) {
        free(all);
        free(placed);
        dt_fail(err, DT_ERUNTIME, "out of memory");
        return NULL;
    }
    if (!hosts) {
        if ((size_t)nranks > nhosts) {
            dt_fail(err, DT_EINPUT, "%d ranks but only %zu hosts", nranks, nhosts);
            goto fail;
        }
        memcpy(placed, all, (size_t)nranks * sizeof *placed);
        free(all);
        return placed;
    }
    int n = 0;
    for (const char *p = hosts; *p;) {
        size_t len = strcspn(p, ",");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        /* trim the blanks around a name */
        char *start = name + strspn(name, " \t");
        for (char *end = start + strlen(start); end > start && (end[-1] == ' ' || end[-1] == '\t');)
            *--end = '\0';
        if (!*start) {
            dt_fail(err, DT_EINPUT, "[cluster] hosts has an empty name");
            goto fail;
        }
        sg_host_t h = sg_host_by_name(start);
        if (!h) {
            dt_fail(err, DT_EINPUT, "[cluster] hosts names '%s', which the platform does not have",
                    start);
            goto fail;
        }
        for (int i = 0; i < n && i < nranks; i++) {
            if (placed[i] == h) {
                dt_fail(err, DT_EINPUT, "[cluster] hosts names '%s' twice: one rank per host",
                        start);
                goto fail;
            }
        }
        if (n < nranks)
            placed[n] = h;
        n++;
        p += len + (p[len] == ',');
    }
    if (n != nranks) {
        dt_fail(err, DT_EINPUT, "[cluster] hosts names %d host%s but the run has %d rank%s", n,
                n == 1 ? "" : "s", nranks, nranks == 1 ? "" : "s");
        goto fail;
    }
    free(all);
    return placed;
fail:
    free(all);
    free(placed);
    return NULL;
}

/* Does every group (group consecutive ranks) sit on one node? */
static int groups_in_node(const int *node, int nranks, int group)
{
    for (int r = 0; r < nranks; r++)
        if (node[r] != node[r - r % group])
            return 0;
    return 1;
}

/* Whole groups into each node: its first `group` hosts, its next `group`,
 * ...; nodes in order.  NULL when the nodes cannot hold every group. */
static sg_host_t *placement_pack(const sg_host_t *all, const int *node, size_t nhosts, int nodes,
                                 int n, int group)
{
    int placed = 0;
    sg_host_t *packed = malloc((size_t)n * sizeof *packed);
    for (int k = 0; packed && k < nodes && placed < n; k++) {
        int in_node = 0;
        for (size_t h = 0; h < nhosts; h++)
            in_node += node[h] == k;
        int take = in_node / group * group;
        for (size_t h = 0; h < nhosts && take > 0 && placed < n; h++) {
            if (node[h] != k)
                continue;
            packed[placed++] = all[h];
            take--;
        }
    }
    if (packed && placed == n)
        return packed;
    free(packed);
    return NULL;
}

/* Each rank's node, from the nodes of all hosts, and how many are used. */
static void placement_rank_nodes(Placement *p, const sg_host_t *all, const int *node, size_t nhosts)
{
    p->nodes = 0;
    for (int r = 0; r < p->nranks; r++) {
        p->node[r] = -1;
        for (size_t h = 0; h < nhosts && p->node[r] < 0; h++)
            if (all[h] == p->host[r])
                p->node[r] = node[h];
        int seen = 0;
        for (int q = 0; q < r; q++)
            seen |= p->node[q] == p->node[r];
        p->nodes += !seen;
    }
}

/* Nodes for the placed ranks, packing groups into them where needed. */
static int placement_groups(Placement *p, int listed, int group, DtError *err)
{
    size_t nhosts;
    sg_host_t *all = placement_all_hosts(&nhosts);
    int *node = malloc(nhosts * sizeof *node);
    p->node = malloc((size_t)p->nranks * sizeof *p->node);
    if (!all || !node || !p->node) {
        free(all);
        free(node);
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    }
    int nodes = placement_nodes(all, nhosts, node);
    p->how = "host order: ranks on the first hosts in name order";
    if (listed) {
        p->how = "as listed in [cluster] hosts";
    } else if (!groups_in_node(node, p->nranks, group)) {
        sg_host_t *packed = placement_pack(all, node, nhosts, nodes, p->nranks, group);
        if (packed) {
            memcpy(p->host, packed, (size_t)p->nranks * sizeof *packed);
            p->how = "tensor-parallel groups packed into nodes";
        } else {
            p->how = "host order: the nodes cannot hold whole tensor-parallel groups";
        }
        free(packed);
    }
    placement_rank_nodes(p, all, node, nhosts);
    p->groups_in_node = groups_in_node(p->node, p->nranks, group);
    free(node);
    free(all);
    return 0;
}

int placement_place(Placement *p, int nranks, const char *hosts, int group, DtError *err)
{
    *p = (Placement){.nranks = nranks};
    if (!(p->host = placement_list(nranks, hosts, err)))
        return -1;
    if (group >= 1 && placement_groups(p, hosts != NULL, group, err) < 0) {
        placement_free(p);
        return -1;
    }
    return 0;
}

int placement_first_on_host(const sg_host_t *host, int r)
{
    for (int q = 0; q < r; q++)
        if (host[q] == host[r])
            return 0;
    return 1;
}

void placement_free(Placement *p)
{
    free(p->host);
    free(p->node);
    p->host = NULL;
    p->node = NULL;
}
