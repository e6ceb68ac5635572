/*
 * device.h - the device model: a rank's work charged on its host.
 *
 * A kernel's simulated time comes from its exact FLOP count and the host's
 * speed in the platform, never from how long the kernel took on this
 * machine.  Where the host has a `memory_bandwidth` property (bytes/s), the
 * time is the roofline maximum of compute time and memory time (the
 * kernel's compulsory bytes over that bandwidth).  Where it has a `memory`
 * property (bytes), a strategy checks what it needs on the device before
 * the run and stops with an out-of-memory error if it does not fit.
 * Each charge is recorded as a compute span of the rank, which is where
 * summary.json's compute seconds and trace.json's compute bars come from.
 *
 * Precision ([train] precision): with bf16 or fp16 a layer kernel moves
 * half its fp32 bytes, what a rank keeps is counted by memory_at_precision
 * (core/plan.h), and a host's `speed_bf16` or `speed_fp16` property
 * (flop/s), when it has one, is the rate every kernel runs at instead of
 * its speed (as tensor cores run 16-bit GEMMs faster).
 */
#ifndef DT_DEVICE_H
#define DT_DEVICE_H

#include <simgrid/forward.h>

#include "faults.h"
#include "plan.h"
#include "pool.h"
#include "record.h"

typedef struct Run Run;

typedef struct Device {
    int rank;
    sg_host_t host;
    Recorder *rec;
    double speed;            /* flop/s */
    double memory_bandwidth; /* bytes/s, 0 when the platform gives none */
    double memory;           /* bytes, 0 when the platform gives none */
    double tensor_scale;     /* a layer kernel's fp32 bytes to the run's precision: 1 or 1/2 */
    double flop_scale;       /* speed / speed_bf16 or speed_fp16 when the host gives one, else 1 */
    HostFaults faults;       /* the scenario's [faults] on this host */
    /* Charging deferred (device_defer) by actor defer_actor: the work of
     * its kernels not yet charged, all of them named pending_name.  What
     * another actor charges on the device (a gradient stream compressing)
     * is charged at once. */
    int defer;
    sg_actor_t defer_actor;
    double pending;
    const char *pending_name;
    /* Kernels handed over by actor work_actor (device_work), not yet
     * submitted to the pool. */
    void (*work)(void *ctx);
    void *work_ctx;
    sg_actor_t work_actor;
    int work_pending;
    PoolJob work_job;
} Device;

/* The device of rank `rank` of a run, on its placed host, holding what
 * need says the rank keeps on it (in fp32: converted to the run's
 * precision here): reads the host's speed and memory properties (-1, bad input, when a property is
 * present but not a positive number) and the scenario's faults of that host, records need for
 * summary.json, and checks it against the host's `memory` property (-1,
 * bad input, with a message naming the device, what it needs and what it
 * has, when it does not fit). */
int device_init(Device *d, const Run *run, int rank, const MemoryNeed *need, DtError *err);
/* Advance simulated time by max(flops / speed, bytes / memory bandwidth),
 * stretched by the slowdowns active meanwhile; name labels the span.  A
 * SimGrid speed profile on the host slows it further, as SimGrid applies
 * it to every execution. */
void device_compute(Device *d, double flops, double bytes, const char *name);
/* A real kernel ran on this machine since `began` (a record_clock()
 * reading): add its wall time to the kernels' (the simulator's overhead
 * is the rest), then charge its cost as device_compute does.  The simple
 * way a strategy times and charges its work, the kernel on this thread:
 *     double t = record_clock();
 *     ...the kernel...
 *     device_kernel(dev, t, flops, bytes, "forward");
 * (device_work, below, runs it on the pool while it is charged.) */
void device_kernel(Device *d, double began, double flops, double bytes, const char *name);
/* The same for a layer's forward or backward kernel (or the loss), whose
 * fp32 bytes shrink with the run's precision (an optimizer step's do
 * not: it reads and writes fp32 master weights and state). */
void device_layer_kernel(Device *d, double began, double flops, double bytes, const char *name);
/* The charge of a layer kernel alone, for a kernel timed elsewhere (one
 * that runs on the pool, sim/pool.h). */
void device_layer_charge(Device *d, double flops, double bytes, const char *name);

/* Deferred charging, for a rank that runs many kernels between two
 * messages (a transformer stage's layers between two tensor-parallel
 * all-reduces): after device_defer, consecutive kernels of one name are
 * charged as one execution of their summed work, when device_flush is
 * called or a kernel of another name comes.  Their span is the one the
 * kernels would have made (record_span joins touching spans of one name)
 * and their time the same up to rounding, for far fewer SimGrid
 * executions.  The caller flushes before anything that reads the
 * simulated clock or shows the rank's progress to another actor (a
 * message, a wait, a meeting); device_defer(d, 0) flushes and charges
 * every kernel at once again. */
void device_defer(Device *d, int on);
void device_flush(Device *d);

/* Kernels whose results the calling actor reads only after its next
 * charge on d ends, or after device_flush: fn(ctx) goes to the pool
 * (sim/pool.h) as that charge begins and runs while it advances simulated
 * time, so that the kernels of ranks charged at the same simulated time
 * run at once, and the charge returns once fn has run (the wall time
 * waited is kernel time).  device_flush runs it even when nothing is left
 * to charge.  fn must touch only what the rank owns; calling device_work
 * again before then changes nothing (fn runs once, and does all the work
 * the actor queued for it). */
void device_work(Device *d, void (*fn)(void *ctx), void *ctx);

#endif
