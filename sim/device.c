/*
 * device.c - charging FLOPs as simulated time on a host (see device.h).
 */
#include "device.h"

#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <stdio.h>

void device_init(Device *d, int rank, sg_host_t host, Recorder *rec)
{
    d->rank = rank;
    d->host = host;
    d->rec = rec;
    RankTotals *t = &rec->ranks[rank];
    snprintf(t->host, sizeof t->host, "%s", sg_host_get_name(host));
    t->speed = sg_host_get_speed(host);
}

void device_compute(Device *d, double flops, const char *name)
{
    if (flops <= 0.0)
        return;
    double start = simgrid_get_clock();
    sg_actor_execute(flops);
    record_span(d->rec, d->rank, SPAN_COMPUTE, name, start, simgrid_get_clock());
}
