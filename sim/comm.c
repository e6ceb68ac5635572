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
#include <xbt/asserts.h>

typedef struct Message {
    size_t count;
    int has_data;
    float data[]; /* (count) when has_data */
} Message;

struct CommRequest {
    sg_comm_t activity;
    int is_recv;
    float *dst;   /* receive buffer, or NULL */
    size_t count; /* floats expected */
    void *got;    /* where SimGrid stores the received Message */
};

static sg_mailbox_t comm_mailbox(const Comm *c, int src, int dst)
{
    char name[48];
    snprintf(name, sizeof name, "dt%d:%d>%d", c->channel, src, dst);
    return sg_mailbox_by_name(name);
}

static Message *message_make(const float *buf, size_t count)
{
    Message *m = malloc(sizeof *m + (buf ? count * sizeof(float) : 0));
    xbt_assert(m, "out of memory for a message of %zu floats", count);
    m->count = count;
    m->has_data = buf != NULL;
    if (buf && count)
        memcpy(m->data, buf, count * sizeof(float));
    return m;
}

static void message_deliver(Message *m, float *dst, size_t count)
{
    xbt_assert(m->count == count, "message of %zu floats where %zu were expected", m->count,
               count);
    if (dst && m->has_data && count)
        memcpy(dst, m->data, count * sizeof(float));
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

void comm_send(const Comm *c, int dst, const float *buf, size_t count)
{
    double start = simgrid_get_clock();
    long size = wire_size(c, count);
    sg_mailbox_put(comm_mailbox(c, c->rank, dst), message_make(buf, count), size);
    comm_record(c, start, (double)size);
}

void comm_recv(const Comm *c, int src, float *buf, size_t count)
{
    double start = simgrid_get_clock();
    Message *m = sg_mailbox_get(comm_mailbox(c, src, c->rank));
    message_deliver(m, buf, count);
    comm_record(c, start, 0.0);
}

CommRequest *comm_isend(const Comm *c, int dst, const float *buf, size_t count)
{
    CommRequest *r = calloc(1, sizeof *r);
    xbt_assert(r, "out of memory");
    long size = wire_size(c, count);
    r->activity = sg_mailbox_put_async(comm_mailbox(c, c->rank, dst), message_make(buf, count),
                                       size);
    if (c->world->rec)
        c->world->rec->ranks[c->rank].bytes_sent += (double)size;
    return r;
}

CommRequest *comm_irecv(const Comm *c, int src, float *buf, size_t count)
{
    CommRequest *r = calloc(1, sizeof *r);
    xbt_assert(r, "out of memory");
    r->is_recv = 1;
    r->dst = buf;
    r->count = count;
    r->activity = sg_mailbox_get_async(comm_mailbox(c, src, c->rank), &r->got);
    return r;
}

static void request_finish(CommRequest *r)
{
    if (r->is_recv)
        message_deliver(r->got, r->dst, r->count);
    free(r);
}

void comm_wait(const Comm *c, CommRequest *req)
{
    double start = simgrid_get_clock();
    sg_comm_wait(req->activity);
    request_finish(req);
    comm_record(c, start, 0.0);
}

void comm_waitall(const Comm *c, CommRequest **reqs, int n)
{
    double start = simgrid_get_clock();
    sg_comm_t stack[8];
    sg_comm_t *acts = n <= 8 ? stack : malloc((size_t)n * sizeof *acts);
    xbt_assert(acts, "out of memory");
    for (int i = 0; i < n; i++)
        acts[i] = reqs[i]->activity;
    sg_comm_wait_all(acts, (size_t)n);
    for (int i = 0; i < n; i++)
        request_finish(reqs[i]);
    if (acts != stack)
        free(acts);
    comm_record(c, start, 0.0);
}

void comm_sendrecv(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                   float *recvbuf, size_t recvcount)
{
    CommRequest *reqs[2] = {comm_irecv(c, src, recvbuf, recvcount),
                            comm_isend(c, dst, sendbuf, sendcount)};
    comm_waitall(c, reqs, 2);
}
