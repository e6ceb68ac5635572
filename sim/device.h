/*
 * device.h - the compute-time model: a rank's work charged on its host.
 *
 * A kernel's simulated time comes from its exact FLOP count and the host's
 * speed in the platform (sg_actor_execute), never from how long the kernel
 * took on this machine.  Each charge is recorded as a compute span of the
 * rank, which is where summary.json's compute seconds and trace.json's
 * compute bars come from.
 */
#ifndef DT_DEVICE_H
#define DT_DEVICE_H

#include <simgrid/forward.h>

#include "record.h"

typedef struct Device {
    int rank;
    sg_host_t host;
    Recorder *rec;
} Device;

void device_init(Device *d, int rank, sg_host_t host, Recorder *rec);
/* Advance simulated time by flops / host speed; name labels the span. */
void device_compute(Device *d, double flops, const char *name);

#endif
