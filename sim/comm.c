/*
 * comm.c - rank-addressed messages over SimGrid mailboxes (see comm.h).
 *
 * One mailbox per (channel, source, destination), so that messages between
 * two ranks on one channel match in the order they were sent, whatever else
 * is in flight.  The sender copies its floats into a heap message that the
 * receiver copies out and frees: both sides wake at the same simulated
 * instant when a transfer ends, in an order SimGrid chooses, so a sender
 * that reuses its buffer right away must not be able to change what the
 * receiver reads.
 */
#include "comm.h"

#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xbt/asserts.h>

typedef struct Message {
    size_t count;
    const float *data; /* (count): inline, or the sender's lent buffer; NULL: timing only */
    float inline_data[];
} Message;

struct CommRequest {
    sg_comm_t activity;
    int is_recv;
    int add;      /* add the received floats into dst instead of copying */
    float *dst;   /* receive buffer, or NULL */
    size_t count; /* floats expected */
    void *got;    /* where SimGrid stores the received Message */
};

#define COMM_SLOTS 8 /* cached mailboxes per rank */

struct CommMailboxSlot {
    int src, dst, channel; /* src < 0: empty */
    sg_mailbox_t mailbox;
};

int comm_world_init(CommWorld *w, int size, Recorder *rec, double wire_bytes, DtError *err)
{
    *w = (CommWorld){.size = size, .rec = rec, .wire_bytes = wire_bytes};
    w->slots = malloc((size_t)size * COMM_SLOTS * sizeof *w->slots);
    if (!w->slots)
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks' mailboxes", size);
    for (size_t i = 0; i < (size_t)size * COMM_SLOTS; i++)
        w->slots[i].src = -1;
    return 0;
}

void comm_world_free(CommWorld *w)
{
    free(w->slots);
    w->slots = NULL;
}

/* Decimal digits of v (>= 0) at p; returns the end. */
static char *put_int(char *p, int v)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = digits[--n];
    return p;
}

static sg_mailbox_t comm_mailbox_lookup(int channel, int src, int dst)
{
    char name[48], *p = name;
    *p++ = 'd';
    *p++ = 't';
    p = put_int(p, channel);
    *p++ = ':';
    p = put_int(p, src);
    *p++ = '>';
    p = put_int(p, dst);
    *p = '\0';
    return sg_mailbox_by_name(name);
}

/* The mailbox from src to dst on c's channel, through the calling rank's
 * slots (direct-mapped by peer). */
static sg_mailbox_t comm_mailbox(const Comm *c, int src, int dst)
{
    CommMailboxSlot *slots = c->world->slots;
    if (!slots)
        return comm_mailbox_lookup(c->channel, src, dst);
    int peer = src == c->rank ? dst : src;
    CommMailboxSlot *s =
        &slots[(size_t)c->rank * COMM_SLOTS + (size_t)(2 * peer + (src == c->rank)) % COMM_SLOTS];
    if (s->src != src || s->dst != dst || s->channel != c->channel) {
        *s = (CommMailboxSlot){src, dst, c->channel, comm_mailbox_lookup(c->channel, src, dst)};
    }
    return s->mailbox;
}

/* A message carrying a copy of buf, or (lend) buf itself. */
static Message *message_make(const float *buf, size_t count, int lend)
{
    int copy = buf && !lend;
    Message *m = malloc(sizeof *m + (copy ? count * sizeof(float) : 0));
    xbt_assert(m, "out of memory for a message of %zu floats", count);
    m->count = count;
    m->data = copy ? m->inline_data : buf;
    if (copy && count)
        memcpy(m->inline_data, buf, count * sizeof(float));
    return m;
}

/* Copy or add a message's floats into dst; the adds are a reduction's real
 * arithmetic and are timed with the kernels (rec, when not NULL). */
static void message_deliver(Message *m, float *dst, size_t count, int add, Recorder *rec)
{
    xbt_assert(m->count == count, "message of %zu floats where %zu were expected", m->count, count);
    if (dst && m->data && count) {
        if (add) {
            double t = rec ? record_clock() : 0.0;
            for (size_t k = 0; k < count; k++)
                dst[k] += m->data[k];
            if (rec)
                record_kernel(rec, t);
        } else {
            memcpy(dst, m->data, count * sizeof(float));
        }
    }
    free(m);
}

static long wire_size(const Comm *c, size_t count)
{
    return (long)((double)count * c->world->wire_bytes);
}

static void comm_record(const Comm *c, double start, double bytes)
{
    Recorder *rec = c->world->rec;
    if (!rec)
        return;
    record_span(rec, c->rank, SPAN_COMM, "comm", start, simgrid_get_clock());
    rec->ranks[c->rank].bytes_sent += bytes;
}

/* SimGrid's word on a finished wait, as comm.h's status. */
static int comm_status(sg_error_t e)
{
    return e == SG_OK ? 0 : -1;
}

int comm_send(const Comm *c, int dst, const float *buf, size_t count)
{
    double start = simgrid_get_clock();
    long size = wire_size(c, count);
    Message *m = message_make(buf, count, 0);
    sg_comm_t act = sg_mailbox_put_async(comm_mailbox(c, c->rank, dst), m, size);
    int rc = comm_status(sg_comm_wait(act));
    comm_record(c, start, (double)size);
    return rc;
}

int comm_recv(const Comm *c, int src, float *buf, size_t count)
{
    double start = simgrid_get_clock();
    void *got = NULL;
    sg_comm_t act = sg_mailbox_get_async(comm_mailbox(c, src, c->rank), &got);
    int rc = comm_status(sg_comm_wait(act));
    if (rc == 0)
        message_deliver(got, buf, count, 0, NULL);
    comm_record(c, start, 0.0);
    return rc;
}

static void request_send(const Comm *c, CommRequest *r, int dst, const float *buf, size_t count,
                         int lend)
{
    *r = (CommRequest){0};
    long size = wire_size(c, count);
    r->activity =
        sg_mailbox_put_async(comm_mailbox(c, c->rank, dst), message_make(buf, count, lend), size);
    if (c->world->rec)
        c->world->rec->ranks[c->rank].bytes_sent += (double)size;
}

static void request_recv(const Comm *c, CommRequest *r, int src, float *buf, size_t count)
{
    *r = (CommRequest){.is_recv = 1, .dst = buf, .count = count};
    r->activity = sg_mailbox_get_async(comm_mailbox(c, src, c->rank), &r->got);
}

CommRequest *comm_isend(const Comm *c, int dst, const float *buf, size_t count)
{
    CommRequest *r = malloc(sizeof *r);
    xbt_assert(r, "out of memory");
    request_send(c, r, dst, buf, count, 0);
    return r;
}

CommRequest *comm_irecv(const Comm *c, int src, float *buf, size_t count)
{
    CommRequest *r = malloc(sizeof *r);
    xbt_assert(r, "out of memory");
    request_recv(c, r, src, buf, count);
    return r;
}

/* Wait for one request and deliver what it received. */
static int request_wait(const Comm *c, CommRequest *r)
{
    int rc = comm_status(sg_comm_wait(r->activity));
    if (rc == 0 && r->is_recv)
        message_deliver(r->got, r->dst, r->count, r->add, c->world->rec);
    return rc;
}

int comm_wait(const Comm *c, CommRequest *req)
{
    double start = simgrid_get_clock();
    int rc = request_wait(c, req);
    free(req);
    comm_record(c, start, 0.0);
    return rc;
}

/* Wait for n requests in order and deliver what they received; frees
 * nothing. */
static int requests_wait(const Comm *c, CommRequest **reqs, int n)
{
    double start = simgrid_get_clock();
    int rc = 0;
    for (int i = 0; i < n; i++)
        rc |= request_wait(c, reqs[i]);
    comm_record(c, start, 0.0);
    return rc;
}

int comm_waitall(const Comm *c, CommRequest **reqs, int n)
{
    int rc = requests_wait(c, reqs, n);
    for (int i = 0; i < n; i++)
        free(reqs[i]);
    return rc;
}

int comm_waitany(const Comm *c, CommRequest **reqs, int n)
{
    double start = simgrid_get_clock();
    sg_comm_t stack[16];
    int map_stack[16];
    sg_comm_t *acts = n <= 16 ? stack : malloc((size_t)n * sizeof *acts);
    int *map = n <= 16 ? map_stack : malloc((size_t)n * sizeof *map);
    xbt_assert(acts && map, "out of memory");
    int live = 0;
    for (int i = 0; i < n; i++) {
        if (reqs[i]) {
            map[live] = i;
            acts[live++] = reqs[i]->activity;
        }
    }
    xbt_assert(live > 0, "comm_waitany on no pending request");
    ssize_t pos = sg_comm_wait_any(acts, (size_t)live);
    int i = pos >= 0 ? map[pos] : -1;
    if (acts != stack)
        free(acts);
    if (map != map_stack)
        free(map);
    if (i >= 0) {
        if (reqs[i]->is_recv)
            message_deliver(reqs[i]->got, reqs[i]->dst, reqs[i]->count, reqs[i]->add,
                            c->world->rec);
        free(reqs[i]);
        reqs[i] = NULL;
    }
    comm_record(c, start, 0.0);
    return i;
}

/* A receive from src into buf (adding when add) and a send to dst of
 * sendbuf (lent when lend), waited for together. */
static int comm_exchange(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                         float *recvbuf, size_t recvcount, int add, int lend)
{
    CommRequest r[2];
    request_recv(c, &r[0], src, recvbuf, recvcount);
    r[0].add = add;
    request_send(c, &r[1], dst, sendbuf, sendcount, lend);
    CommRequest *reqs[2] = {&r[0], &r[1]};
    return requests_wait(c, reqs, 2);
}

int comm_sendrecv(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                  float *recvbuf, size_t recvcount)
{
    return comm_exchange(c, dst, sendbuf, sendcount, src, recvbuf, recvcount, 0, 0);
}

int comm_sendrecv_add(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                      float *accbuf, size_t recvcount)
{
    return comm_exchange(c, dst, sendbuf, sendcount, src, accbuf, recvcount, 1, 0);
}

int comm_ring_step(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                   float *recvbuf, size_t recvcount, int add)
{
    return comm_exchange(c, dst, sendbuf, sendcount, src, recvbuf, recvcount, add, 1);
}
