/*
 * placement.h - which host each rank runs on.
 *
 * Ranks go on the first hosts of the platform in natural name order
 * (node-2 before node-10), or on the hosts [cluster] hosts lists, rank r
 * on the r-th.  Strategies that keep groups of consecutive ranks talking
 * all the time (tensor-parallel shards) ask for groups: then each rank's
 * node is found (the hosts joined by the platform's fastest links), and
 * when the natural order would split a group across nodes, whole groups
 * are packed into nodes instead.
 */
#ifndef DT_PLACEMENT_H
#define DT_PLACEMENT_H

#include <simgrid/forward.h>
#include <stddef.h>

#include "error.h"

/* The loaded platform's hosts in natural name order; malloc'd, *n set to
 * the count. */
sg_host_t *placement_all_hosts(size_t *n);

/* The hosts of ranks 0 .. nranks-1: the named ones (hosts, comma-
 * separated) or the first nranks in natural order; malloc'd, or NULL with
 * a message when a name is unknown, repeated, or the count does not match. */
sg_host_t *placement_list(int nranks, const char *hosts, DtError *err);

/* Group hosts[0..n) into nodes, the sets of hosts joined by the platform's
 * fastest links: host j joins host i's node when the route from i to j
 * has the highest bandwidth of any route from i, and the lowest latency
 * among those (taking hosts in order; on dgx-2x8.xml the two NVLink
 * islands, on a one-switch cluster all hosts).  Writes node[i] (0, 1, ...
 * in order of first appearance) and returns the number of nodes.  It asks
 * for n^2 routes, so it is for platforms of up to a few thousand hosts. */
int placement_nodes(const sg_host_t *hosts, size_t n, int *node);

typedef struct Placement {
    int nranks;
    sg_host_t *host; /* (nranks) rank r's host */
    /* With groups only: */
    int *node;          /* (nranks) the node of rank r's host */
    int nodes;          /* nodes the ranks use */
    int groups_in_node; /* every group of consecutive ranks sits in one node */
    const char *how;    /* a string literal: how the ranks were placed */
} Placement;

/* Place nranks ranks (hosts: the [cluster] hosts list, or NULL).  With
 * group >= 1, find each rank's node and, unless the hosts are listed,
 * pack groups of `group` consecutive ranks into nodes where the natural
 * order splits one and the nodes can hold them all.  -1 with a message
 * when the hosts are wrong (bad input) or memory runs out. */
int placement_place(Placement *p, int nranks, const char *hosts, int group, DtError *err);
void placement_free(Placement *p);

/* Is rank r the first of host[0 .. r] on its host?  (Counting these gives
 * the distinct hosts of ranks.) */
int placement_first_on_host(const sg_host_t *host, int r);

#endif
