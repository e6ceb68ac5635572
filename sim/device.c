/*
 * device.c - charging work as simulated time on a host (see device.h).
 */
#include "device.h"

#include "run.h"
#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number of `unit` of at least `min` (above 0 when min is 0) from a host
 * property; 0 when absent.  Errors name the platform file and line
 * (platform). */
static int device_property(sg_host_t host, const char *platform, const char *name, const char *unit,
                           double min, double *out, DtError *err)
{
    const char *text = sg_host_get_property_value(host, name);
    *out = 0.0;
    if (!text)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v) || v <= 0.0 || v < min) {
        char where[PATH_MAX + 32];
        xml_where(platform, "host", sg_host_get_name(host), where, sizeof where);
        char least[64] = "";
        if (min > 0.0)
            snprintf(least, sizeof least, " of at least %g", min);
        return dt_fail(err, DT_EINPUT, "%s: host '%s': property %s = '%s' is not a %s of %s%s",
                       where, sg_host_get_name(host), name, text,
                       min > 0.0 ? "number" : "positive number", unit, least);
    }
    *out = v;
    return 0;
}

/* Record what the rank keeps on its device, and check it fits. */
static int device_check_memory(const Device *d, const MemoryNeed *need, DtError *err)
{
    RankTotals *t = record_totals(d->rec, d->rank);
    t->memory = *need;
    t->memory_capacity = d->memory;
    double total = memory_total(need);
    if (d->memory <= 0.0 || total <= d->memory)
        return 0;
    char attention[256] = "";
    if (need->attention > 0.25 * total)
        snprintf(attention, sizeof attention,
                 "; the attention probabilities (batch x heads x seq_len^2 floats a layer) take "
                 "%.3g GB of the activations: a shorter seq_len or a smaller batch shrinks them",
                 need->attention / 1e9);
    return dt_fail(
        err, DT_EINPUT,
        "out of memory on rank %d (host %s): it needs %.3g GB (parameters %.3g, "
        "gradients %.3g, optimizer state %.3g, activations %.3g, buffers %.3g) but "
        "the device has %.3g GB%s; use a smaller batch or model, or split the model over more "
        "devices (strategy pipeline, tensor or hybrid)",
        d->rank, sg_host_get_name(d->host), total / 1e9, need->parameters / 1e9,
        need->gradients / 1e9, need->optimizer / 1e9, need->activations / 1e9, need->buffers / 1e9,
        d->memory / 1e9, attention);
}

int device_init(Device *d, const Run *run, int rank, const MemoryNeed *need, DtError *err)
{
    sg_host_t host = run->place.host[rank];
    Recorder *rec = (Recorder *)&run->rec;
    *d = (Device){.rank = rank, .host = host, .rec = rec};
    /* the peak speed: a speed profile's current scale is SimGrid's business */
    d->speed = sg_host_get_pstate_speed(host, sg_host_get_pstate(host));
    const char *platform = run->sc->platform;
    if (!(d->speed >= PLATFORM_MIN_RATE) || !isfinite(d->speed)) {
        char where[PATH_MAX + 32];
        xml_where(platform, "host", sg_host_get_name(host), where, sizeof where);
        return dt_fail(err, DT_EINPUT,
                       "%s: host '%s' computes at %g flop/s; give it a finite speed of at "
                       "least %g flop/s, e.g. speed=\"14Tf\"",
                       where, sg_host_get_name(host), d->speed, PLATFORM_MIN_RATE);
    }
    faults_of_host(&run->sc->faults, sg_host_get_name(host), &d->faults);
    RankTotals *t = record_totals(rec, rank);
    snprintf(t->host, sizeof t->host, "%s", sg_host_get_name(host));
    t->speed = d->speed;
    Precision p = run->sc->precision;
    static const char *const rate[] = {NULL, "speed_bf16", "speed_fp16"};
    double fast = 0.0;
    if (device_property(host, platform, "memory_bandwidth", "bytes per second", PLATFORM_MIN_RATE,
                        &d->memory_bandwidth, err) < 0 ||
        device_property(host, platform, "memory", "bytes", 0.0, &d->memory, err) < 0 ||
        (rate[p] && device_property(host, platform, rate[p], "flop per second", PLATFORM_MIN_RATE,
                                    &fast, err) < 0))
        return -1;
    d->tensor_scale = precision_bytes(p) / 4.0;
    d->flop_scale = fast > 0.0 ? d->speed / fast : 1.0;
    t->memory_bandwidth = d->memory_bandwidth;
    MemoryNeed at = memory_at_precision(need, p);
    return device_check_memory(d, &at, err);
}

void device_work(Device *d, void (*fn)(void *ctx), void *ctx)
{
    d->work = fn;
    d->work_ctx = ctx;
    d->work_actor = sg_actor_self();
    d->work_pending = 1;
}

/* Submit the calling actor's kernels (device_work), if it has any: 1 when
 * it did, and must then wait for them (device_collect). */
static int device_hand(Device *d)
{
    if (!d->work_pending || sg_actor_self() != d->work_actor)
        return 0;
    d->work_pending = 0;
    pool_submit(&d->work_job, d->work, d->work_ctx);
    return 1;
}

static void device_collect(Device *d)
{
    pool_wait(&d->work_job, &d->rec->kernel_wall);
}

/* Advance simulated time by `work` flop at the host's speed, while the
 * kernels handed over run. */
static void device_charge(Device *d, double work, const char *name)
{
    int handed = device_hand(d);
    double start = simgrid_get_clock();
    faults_execute(&d->faults, d->speed, work);
    record_span(d->rec, d->rank, SPAN_COMPUTE, name, start, simgrid_get_clock());
    if (handed)
        device_collect(d);
}

void device_compute(Device *d, double flops, double bytes, const char *name)
{
    /* The roofline: a memory-bound kernel takes bytes / bandwidth, which
     * SimGrid charges as the flops the host would do in that time. */
    double work = flops * d->flop_scale;
    if (d->memory_bandwidth > 0.0 && bytes / d->memory_bandwidth * d->speed > work)
        work = bytes / d->memory_bandwidth * d->speed;
    if (work <= 0.0)
        return;
    if (!d->defer || sg_actor_self() != d->defer_actor) {
        device_charge(d, work, name);
        return;
    }
    if (d->pending > 0.0 && strcmp(d->pending_name, name) != 0)
        device_flush(d);
    d->pending += work;
    d->pending_name = name;
}

void device_defer(Device *d, int on)
{
    if (!on)
        device_flush(d);
    d->defer = on;
    d->defer_actor = on ? sg_actor_self() : NULL;
}

void device_flush(Device *d)
{
    /* taken before the charge, which lets other actors run meanwhile */
    double work = d->pending;
    d->pending = 0.0;
    if (work > 0.0)
        device_charge(d, work, d->pending_name);
    if (device_hand(d)) /* kernels with nothing (left) to charge */
        device_collect(d);
}

void device_kernel(Device *d, double began, double flops, double bytes, const char *name)
{
    record_kernel(d->rec, began);
    device_compute(d, flops, bytes, name);
}

void device_layer_kernel(Device *d, double began, double flops, double bytes, const char *name)
{
    device_kernel(d, began, flops, bytes * d->tensor_scale, name);
}

void device_layer_charge(Device *d, double flops, double bytes, const char *name)
{
    device_compute(d, flops, bytes * d->tensor_scale, name);
}
