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
#include <simgrid/actor.h>
#include <simgrid/mailbox.h>
#include <simgrid/semaphore.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xbt/asserts.h>

#include "pool.h"

typedef struct Message {
    size_t bytes; /* allocated, this header included (message_alloc) */
    size_t count;
    int rounding;      /* COMM_ROUND_*, applied as the receiver reads the floats */
    double sent_at;    /* simulated time the sender posted it */
    const float *data; /* (count): inline, or the sender's lent buffer; NULL: timing only */
    _Alignas(16) float inline_data[]; /* as malloc aligns the message: vector loads */
} Message;

static void spare_release(void);

struct CommRequest {
    sg_comm_t activity;
    int is_recv;
    int add;           /* add the received floats into dst instead of copying */
    int later;         /* a ring step's receive: may be delivered on the pool */
    float *dst;        /* receive buffer, or NULL */
    size_t count;      /* floats expected */
    void *got;         /* where SimGrid stores the received Message */
    double posted_at;  /* simulated time the request was posted */
    int peer;          /* the other rank */
    int pair;          /* its PairLog in the receiver's ledger, or -1 */
    unsigned long seq; /* its number on that pair */
};

/* When a rank posted its receives from one source on one channel, in order,
 * and which of them it has finished.  A mailbox matches the k-th send with
 * the k-th receive, and their transfer can begin once both are posted: the
 * sender learns here how long it waited for its receiver, and whether its
 * send is over (comm_reap). */
typedef struct PairLog {
    int channel, src;
    unsigned long sends, recvs; /* posted so far */
    unsigned long lo;           /* the oldest receive not yet looked up */
    size_t cap;
    double *posted;      /* (cap) ring: receive k at k % cap, NAN once looked up */
    unsigned char *done; /* (cap) ring: receive k finished */
} PairLog;

/* One receiving rank's logs, a few (its peers). */
struct CommLedger {
    PairLog *pairs;
    int n, cap;
};

/* Where the members of one group meet on one channel (comm_meet). */
struct CommMeeting {
    int channel, size;
    int arrived;       /* members waiting at the gate, plus the one arriving */
    void **args;       /* (size) what each member brought this time */
    sg_sem_t gate;     /* the early ones wait here, in the order they came */
    double memo;       /* the group's number, kept from call to call */
    double met_at;     /* when the last member arrived, this time */
    CommMeeting *next; /* another group with the same first member */
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
    w->ledgers = calloc((size_t)size, sizeof *w->ledgers);
    w->meetings = calloc((size_t)size, sizeof *w->meetings);
    if (!w->slots || !w->ledgers || !w->meetings) {
        comm_world_free(w);
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks' mailboxes", size);
    }
    for (size_t i = 0; i < (size_t)size * COMM_SLOTS; i++)
        w->slots[i].src = -1;
    return 0;
}

void comm_world_free(CommWorld *w)
{
    comm_settle(NULL);
    spare_release();
    free(w->slots);
    w->slots = NULL;
    for (int i = 0; w->ledgers && i < w->size; i++) {
        for (int k = 0; k < w->ledgers[i].n; k++) {
            free(w->ledgers[i].pairs[k].posted);
            free(w->ledgers[i].pairs[k].done);
        }
        free(w->ledgers[i].pairs);
    }
    free(w->ledgers);
    w->ledgers = NULL;
    for (int i = 0; w->meetings && i < w->size; i++) {
        while (w->meetings[i]) {
            CommMeeting *m = w->meetings[i];
            w->meetings[i] = m->next;
            sg_sem_destroy(m->gate);
            free(m->args);
            free(m);
        }
    }
    free(w->meetings);
    w->meetings = NULL;
}

/* The log of receives rank dst posts from src on channel (made on first
 * use); -1 in a world without ledgers. */
static int pair_find(const CommWorld *w, int channel, int src, int dst)
{
    if (!w->ledgers)
        return -1;
    CommLedger *l = &w->ledgers[dst];
    for (int k = 0; k < l->n; k++)
        if (l->pairs[k].src == src && l->pairs[k].channel == channel)
            return k;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4;
        l->pairs = realloc(l->pairs, (size_t)l->cap * sizeof *l->pairs);
        xbt_assert(l->pairs, "out of memory");
    }
    l->pairs[l->n] = (PairLog){.channel = channel, .src = src};
    return l->n++;
}

/* Note that the next receive on p was posted now; returns its number. */
static unsigned long pair_post_recv(PairLog *p)
{
    if (p->recvs - p->lo == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        double *ring = malloc(cap * sizeof *ring);
        unsigned char *done = malloc(cap);
        xbt_assert(ring && done, "out of memory");
        for (unsigned long k = p->lo; k < p->recvs; k++) {
            ring[k % cap] = p->posted[k % p->cap];
            done[k % cap] = p->done[k % p->cap];
        }
        free(p->posted);
        free(p->done);
        p->posted = ring;
        p->done = done;
        p->cap = cap;
    }
    p->posted[p->recvs % p->cap] = simgrid_get_clock();
    p->done[p->recvs % p->cap] = 0;
    return p->recvs++;
}

/* Has receive seq on p finished (and not been looked up yet)? */
static int pair_done(const PairLog *p, unsigned long seq)
{
    return seq >= p->lo && seq < p->recvs && p->done[seq % p->cap];
}

/* When receive seq on p was posted (0 if it never was), looked up once. */
static double pair_take(PairLog *p, unsigned long seq)
{
    if (seq < p->lo || seq >= p->recvs)
        return 0.0;
    double t = p->posted[seq % p->cap];
    p->posted[seq % p->cap] = NAN;
    while (p->lo < p->recvs && isnan(p->posted[p->lo % p->cap]))
        p->lo++;
    return t;
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
static inline float round_fp16(float x)
{
    uint32_t u, a;
    memcpy(&u, &x, sizeof u);
    uint32_t sign = u & 0x80000000u;
    a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* infinity, NaN */
        return x;
    if (a >= 0x477ff000u) { /* 65520 and above: past the largest half, 65504 */
        u = sign | 0x7f800000u;
    } else if (a < 0x38800000u) { /* below 2^-14: a subnormal half, in steps of 2^-24 */
        float m;
        memcpy(&m, &a, sizeof m);
        m = (m + 0.5f) - 0.5f; /* the float sum's unit in [0.5, 1) is 2^-24: ties to even */
        memcpy(&a, &m, sizeof a);
        u = sign | a;
    } else { /* keep 10 of the 23 mantissa bits, ties to even */
        a += 0xfffu + ((a >> 13) & 1u);
        u = sign | (a & ~0x1fffu);
    }
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline float round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) /* not infinity or NaN: keep 7 mantissa bits */
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

float comm_round_fp16(float x)
{
    return round_fp16(x);
}

float comm_round_bf16(float x)
{
    return round_bf16(x);
}

/* dst[k] = (or +=) src[k] rounded, each kind and operation its own loop. */
static void deliver_rounded(float *dst, const float *src, size_t count, int add, int rounding)
{
    if (rounding == COMM_ROUND_FP16 && add)
        for (size_t k = 0; k < count; k++)
            dst[k] += round_fp16(src[k]);
    else if (rounding == COMM_ROUND_FP16)
        for (size_t k = 0; k < count; k++)
            dst[k] = round_fp16(src[k]);
    else if (add)
        for (size_t k = 0; k < count; k++)
            dst[k] += round_bf16(src[k]);
    else
        for (size_t k = 0; k < count; k++)
            dst[k] = round_bf16(src[k]);
}

/* ---- message memory -------------------------------------------------------
 *
 * A message past glibc's mmap threshold (128 KiB, rising to 32 MiB at most
 * as it adapts) is a mapping of its own: every page of it faults in as
 * the sender's copy writes it, and goes back to the system when the
 * receiver frees it.  For the megabytes of a pipeline's activations or a
 * shard's gradients that costs more than the copy.  So freed large
 * messages are kept, a few and SPARE_BYTES in all (the oldest going
 * first), for the next message they fit (within a quarter of its size),
 * their pages still there. */
enum { SPARE_MAX = 16 };
#define SPARE_MIN ((size_t)64 << 10)
#define SPARE_BYTES ((size_t)256 << 20)

static struct {
    pthread_mutex_t lock;
    Message *kept[SPARE_MAX];
    int n;
    size_t bytes;
} spare = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The best fit kept for a message of `bytes`, taken; NULL if none fits. */
static Message *spare_take(size_t bytes)
{
    pthread_mutex_lock(&spare.lock);
    int best = -1;
    for (int i = 0; i < spare.n; i++) {
        size_t have = spare.kept[i]->bytes;
        if (have >= bytes && have - bytes <= bytes / 4 &&
            (best < 0 || have < spare.kept[best]->bytes))
            best = i;
    }
    Message *m = NULL;
    if (best >= 0) {
        m = spare.kept[best];
        memmove(spare.kept + best, spare.kept + best + 1,
                (size_t)(--spare.n - best) * sizeof *spare.kept);
        spare.bytes -= m->bytes;
    }
    pthread_mutex_unlock(&spare.lock);
    return m;
}

static Message *message_alloc(size_t bytes)
{
    Message *m = bytes >= SPARE_MIN ? spare_take(bytes) : NULL;
    if (!m && (m = malloc(bytes)))
        m->bytes = bytes;
    return m;
}

/* Keep m for a later message, the oldest kept going when there is no room:
 * the sizes a run sends now are the ones it sends next. */
static void message_free(Message *m)
{
    if (m->bytes < SPARE_MIN || m->bytes > SPARE_BYTES) {
        free(m);
        return;
    }
    Message *gone[SPARE_MAX];
    int ngone = 0;
    pthread_mutex_lock(&spare.lock);
    while (spare.n == SPARE_MAX || spare.bytes + m->bytes > SPARE_BYTES) {
        gone[ngone++] = spare.kept[0];
        spare.bytes -= spare.kept[0]->bytes;
        memmove(spare.kept, spare.kept + 1, (size_t)--spare.n * sizeof *spare.kept);
    }
    spare.kept[spare.n++] = m;
    spare.bytes += m->bytes;
    pthread_mutex_unlock(&spare.lock);
    for (int i = 0; i < ngone; i++)
        free(gone[i]);
}

/* Give back what message_free kept. */
static void spare_release(void)
{
    pthread_mutex_lock(&spare.lock);
    while (spare.n > 0)
        free(spare.kept[--spare.n]);
    spare.bytes = 0;
    pthread_mutex_unlock(&spare.lock);
}

static Message *message_make(const float *buf, size_t count, int lend)
{
    int copy = buf && !lend;
    Message *m = message_alloc(sizeof *m + (copy ? count * sizeof(float) : 0));
    xbt_assert(m, "out of memory for a message of %zu floats", count);
    m->count = count;
    m->sent_at = simgrid_get_clock();
    m->data = copy ? m->inline_data : buf;
    if (copy && count)
        memcpy(m->inline_data, buf, count * sizeof(float));
    return m;
}

/* dst[k] += src[k]: each sum rounded once, so that the wider vectors of
 * the processors that have them give the same bytes. */
#if defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
static void
add_floats(float *restrict dst, const float *restrict src, size_t count)
{
    for (size_t k = 0; k < count; k++)
        dst[k] += src[k];
}

/* Copy or add a message's floats into dst: the adds are a reduction's real
 * arithmetic, the copies the data a collective delivers (what a network
 * writes into the receiver's memory on any hardware), and both are timed
 * with the kernels (rec, when not NULL). */
static void message_deliver(Message *m, float *dst, size_t count, int add, Recorder *rec)
{
    xbt_assert(m->count == count, "message of %zu floats where %zu were expected", m->count, count);
    if (dst && m->data && count) {
        double t = rec ? record_clock() : 0.0;
        if (m->rounding)
            deliver_rounded(dst, m->data, count, add, m->rounding);
        else if (add)
            add_floats(dst, m->data, count);
        else
            memcpy(dst, m->data, count * sizeof(float));
        if (rec)
            record_kernel(rec, t);
    }
    message_free(m);
}

/* ---- deliveries on the pool ------------------------------------------------
 *
 * A ring step's delivery (the sum or the copy of a received block into the
 * receiver's buffer) is needed by nobody before the receiver's next step
 * sends that block, and that send only lends it.  So with helper threads
 * these deliveries queue, in the order SimGrid delivers them, for one pool
 * job that does them one after another while SimGrid goes on with the
 * next steps; every other communication, and whoever frees a rank's
 * buffers, first waits for the queue to empty (comm_settle).  Every buffer
 * then sees the same operations in the same order as when each is done
 * on the spot: the same bytes. */
typedef struct Delivery {
    Message *m;
    float *dst;
    size_t count;
    int add;
} Delivery;

static struct {
    pthread_mutex_t lock;
    Delivery *queue; /* [head, tail) to do */
    size_t head, tail, cap;
    int active; /* the job runs or is queued: it empties the queue before it ends */
    PoolJob job;
} later = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void later_run(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&later.lock);
    while (later.head < later.tail) {
        Delivery d = later.queue[later.head++];
        pthread_mutex_unlock(&later.lock);
        message_deliver(d.m, d.dst, d.count, d.add, NULL);
        pthread_mutex_lock(&later.lock);
    }
    later.head = later.tail = 0;
    later.active = 0;
    pthread_mutex_unlock(&later.lock);
}

/* Queue a delivery; the one thread that runs SimGrid's actors calls it. */
static void later_push(Message *m, float *dst, size_t count, int add)
{
    pthread_mutex_lock(&later.lock);
    if (later.tail == later.cap) {
        size_t cap = later.cap ? 2 * later.cap : 64;
        Delivery *q = realloc(later.queue, cap * sizeof *q);
        xbt_assert(q, "out of memory");
        later.queue = q;
        later.cap = cap;
    }
    later.queue[later.tail++] = (Delivery){m, dst, count, add};
    int start = !later.active;
    later.active = 1;
    pthread_mutex_unlock(&later.lock);
    if (start) {
        if (later.job.pending) /* its last run, which ended or is ending */
            pool_wait(&later.job, NULL);
        pool_submit(&later.job, later_run, NULL);
    }
}

void comm_settle(Recorder *rec)
{
    if (later.job.pending)
        pool_wait(&later.job, rec ? &rec->kernel_wall : NULL);
}

static long wire_size(const Comm *c, size_t count)
{
    return (long)((double)count * (c->wire_bytes > 0 ? c->wire_bytes : c->world->wire_bytes));
}

/* When a transfer was in progress: from when both sides had posted to when
 * the wait for it returned. */
typedef struct Transfer {
    double from, to;
} Transfer;

static int transfer_cmp(const void *x, const void *y)
{
    const Transfer *a = x, *b = y;
    return a->from < b->from ? -1 : a->from > b->from;
}

/* Record a blocking call or a wait that began at `start` and ends now,
 * during which n transfers of the rank were in progress (tr, sorted here):
 * communication where one was, waiting for a peer elsewhere. */
static void comm_record(const Comm *c, double start, Transfer *tr, int n)
{
    Recorder *rec = c->world->rec;
    if (!rec)
        return;
    qsort(tr, (size_t)n, sizeof *tr, transfer_cmp);
    double at = start;
    for (int i = 0; i < n; i++) {
        double from = tr[i].from > at ? tr[i].from : at;
        if (tr[i].to <= from)
            continue;
        if (from > at)
            record_span(rec, c->rank, SPAN_WAIT, "wait", at, from);
        record_span(rec, c->rank, SPAN_COMM, "comm", from, tr[i].to);
        at = tr[i].to;
    }
    double end = simgrid_get_clock();
    if (end > at)
        record_span(rec, c->rank, SPAN_WAIT, "wait", at, end);
}

static void request_send(const Comm *c, CommRequest *r, int dst, const float *buf, size_t count,
                         int lend)
{
    *r = (CommRequest){.peer = dst, .posted_at = simgrid_get_clock()};
    r->pair = pair_find(c->world, c->channel, c->rank, dst);
    if (r->pair >= 0)
        r->seq = c->world->ledgers[dst].pairs[r->pair].sends++;
    long size = wire_size(c, count);
    Message *m = message_make(buf, count, lend);
    m->rounding = c->rounding;
    r->activity = sg_mailbox_put_async(comm_mailbox(c, c->rank, dst), m, size);
    if (c->world->rec)
        record_totals(c->world->rec, c->rank)->bytes_sent += (double)size;
}

static void request_recv(const Comm *c, CommRequest *r, int src, float *buf, size_t count)
{
    *r = (CommRequest){.is_recv = 1, .dst = buf, .count = count, .peer = src, .pair = -1};
    r->posted_at = simgrid_get_clock();
    r->pair = pair_find(c->world, c->channel, src, c->rank);
    if (r->pair >= 0)
        r->seq = pair_post_recv(&c->world->ledgers[c->rank].pairs[r->pair]);
    r->activity = sg_mailbox_get_async(comm_mailbox(c, src, c->rank), &r->got);
}

CommRequest *comm_isend(const Comm *c, int dst, const float *buf, size_t count)
{
    comm_settle(c->world->rec);
    CommRequest *r = malloc(sizeof *r);
    xbt_assert(r, "out of memory");
    request_send(c, r, dst, buf, count, 0);
    return r;
}

CommRequest *comm_irecv(const Comm *c, int src, float *buf, size_t count)
{
    comm_settle(c->world->rec);
    CommRequest *r = malloc(sizeof *r);
    xbt_assert(r, "out of memory");
    request_recv(c, r, src, buf, count);
    return r;
}

static struct {
    CommProgressFn *fn;
    void *ctx;
    unsigned long long delivered;
    double last; /* wall time of the last call */
} progress;

void comm_progress(CommProgressFn *fn, void *ctx)
{
    progress.fn = fn;
    progress.ctx = ctx;
    progress.delivered = 0;
    progress.last = record_clock();
}

/* One more message delivered: tell progress.fn now and then. */
static void progress_count(void)
{
    if (!progress.fn || (++progress.delivered & 255) != 0)
        return;
    double now = record_clock();
    if (now - progress.last < 0.5)
        return;
    progress.last = now;
    progress.fn(progress.ctx, progress.delivered);
}

/* Request r finished at t->to: deliver what it received, and note in
 * t->from when its transfer could begin, once the peer had sent (a receive)
 * or had posted its receive (a send). */
static void request_finish(const Comm *c, CommRequest *r, Transfer *t)
{
    double ready = r->posted_at;
    if (r->pair >= 0 && r->is_recv) {
        /* the sender may now let go of its side (comm_reap) */
        PairLog *p = &c->world->ledgers[c->rank].pairs[r->pair];
        if (r->seq >= p->lo && r->seq < p->recvs)
            p->done[r->seq % p->cap] = 1;
    } else if (r->pair >= 0) {
        double posted = pair_take(&c->world->ledgers[r->peer].pairs[r->pair], r->seq);
        ready = posted > ready ? posted : ready;
    }
    if (r->is_recv) {
        const Message *m = r->got;
        ready = m->sent_at > ready ? m->sent_at : ready;
        /* (a timing-only message has nothing to deliver but its own free) */
        if (r->later && pool_threads() > 1 && r->dst && m->data && r->count)
            later_push(r->got, r->dst, r->count, r->add);
        else
            message_deliver(r->got, r->dst, r->count, r->add, c->world->rec);
        progress_count();
    }
    t->from = ready;
}

/* Wait for n requests and deliver what they received, in order; frees
 * nothing.  They are waited for together, so that each one's transfer is
 * seen to end when it does.  -1 when one failed: SimGrid then drops them
 * all, and nothing more is delivered. */
static int requests_wait(const Comm *c, CommRequest **reqs, int n)
{
    double start = simgrid_get_clock();
    Transfer tr_stack[8];
    sg_comm_t act_stack[8];
    int map_stack[8];
    Transfer *tr = n <= 8 ? tr_stack : malloc((size_t)n * sizeof *tr);
    sg_comm_t *acts = n <= 8 ? act_stack : malloc((size_t)n * sizeof *acts);
    int *map = n <= 8 ? map_stack : malloc((size_t)n * sizeof *map);
    xbt_assert(tr && acts && map, "out of memory");
    for (int i = 0; i < n; i++) {
        acts[i] = reqs[i]->activity;
        map[i] = i;
        tr[i] = (Transfer){start, -1.0}; /* to < 0: not finished */
    }
    int live = n, rc = 0;
    while (live > 0) {
        ssize_t pos = sg_comm_wait_any(acts, (size_t)live);
        if (pos < 0) {
            rc = -1;
            break;
        }
        tr[map[pos]].to = simgrid_get_clock();
        live--;
        acts[pos] = acts[live];
        map[pos] = map[live];
    }
    for (int i = 0; i < n && rc == 0; i++)
        request_finish(c, reqs[i], &tr[i]);
    comm_record(c, start, tr, rc == 0 ? n : 0);
    if (tr != tr_stack) {
        free(tr);
        free(acts);
        free(map);
    }
    return rc;
}

int comm_send(const Comm *c, int dst, const float *buf, size_t count)
{
    comm_settle(c->world->rec);
    CommRequest r;
    request_send(c, &r, dst, buf, count, 0);
    CommRequest *reqs[1] = {&r};
    return requests_wait(c, reqs, 1);
}

int comm_recv(const Comm *c, int src, float *buf, size_t count)
{
    comm_settle(c->world->rec);
    CommRequest r;
    request_recv(c, &r, src, buf, count);
    CommRequest *reqs[1] = {&r};
    return requests_wait(c, reqs, 1);
}

int comm_wait(const Comm *c, CommRequest *req)
{
    int rc = requests_wait(c, &req, 1);
    free(req);
    return rc;
}

int comm_waitall(const Comm *c, CommRequest **reqs, int n)
{
    int rc = requests_wait(c, reqs, n);
    for (int i = 0; i < n; i++)
        free(reqs[i]);
    return rc;
}

int comm_reap(const Comm *c, CommRequest **reqs, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        CommRequest *r = reqs[i];
        if (r->is_recv || r->pair < 0 ||
            !pair_done(&c->world->ledgers[r->peer].pairs[r->pair], r->seq)) {
            reqs[kept++] = r;
            continue;
        }
        /* The receiver has its message, so the transfer is over and this
         * wait returns at once; a wait (not a test, which SimGrid 3.32
         * leaves in the actor's list of activities) lets SimGrid forget
         * it. */
        sg_comm_wait(r->activity);
        double now = simgrid_get_clock();
        Transfer t = {now, now};
        request_finish(c, r, &t);
        free(r);
    }
    return kept;
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
    Transfer t = {start, simgrid_get_clock()};
    if (i >= 0) {
        request_finish(c, reqs[i], &t);
        free(reqs[i]);
        reqs[i] = NULL;
    }
    comm_record(c, start, &t, 1);
    return i;
}

/* A receive from src into buf (adding when add) and a send to dst of
 * sendbuf (lent when lend), waited for together. */
static int comm_exchange(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                         float *recvbuf, size_t recvcount, int add, int lend)
{
    CommRequest r[2];
    if (!lend) /* the last step of a ring's pass: its buffer is the caller's once it returns */
        comm_settle(c->world->rec);
    request_recv(c, &r[0], src, recvbuf, recvcount);
    r[0].add = add;
    r[0].later = lend;
    request_send(c, &r[1], dst, sendbuf, sendcount, lend);
    CommRequest *reqs[2] = {&r[0], &r[1]};
    int rc = requests_wait(c, reqs, 2);
    if (rc < 0) /* the caller may give up on the ring and reuse its buffer */
        comm_settle(c->world->rec);
    return rc;
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

/* ---- meetings ------------------------------------------------------------ */

/* The meeting point of the group of `size` whose first member is `first`,
 * on `channel` (made on first use). */
static CommMeeting *meeting_find(const CommWorld *w, int channel, int first, int size)
{
    xbt_assert(w->meetings, "comm_meet in a world set up by hand");
    xbt_assert(first >= 0 && first < w->size, "meeting of a group led by rank %d of %d", first,
               w->size);
    CommMeeting **at = &w->meetings[first];
    for (; *at; at = &(*at)->next)
        if ((*at)->channel == channel && (*at)->size == size)
            return *at;
    CommMeeting *m = calloc(1, sizeof *m);
    xbt_assert(m, "out of memory");
    m->args = calloc((size_t)size, sizeof *m->args);
    xbt_assert(m->args, "out of memory");
    m->channel = channel;
    m->size = size;
    m->memo = NAN;
    m->gate = sg_sem_init(0);
    *at = m;
    return m;
}

double comm_meet(const Comm *c, int first, int size, int index, void *arg, CommMeetDone *done)
{
    comm_settle(c->world->rec);
    CommMeeting *m = meeting_find(c->world, c->channel, first, size);
    double start = simgrid_get_clock();
    m->args[index] = arg;
    if (++m->arrived < size) {
        sg_sem_acquire(m->gate);
    } else {
        /* everybody is here: the last one finishes the work, pauses for
         * the group, then opens */
        m->met_at = start;
        double pause = done ? done(m->args, size, &m->memo) : 0.0;
        m->arrived = 0;
        if (pause > 0.0)
            sg_actor_sleep_for(pause);
        for (int i = 1; i < size; i++)
            sg_sem_release(m->gate);
    }
    /* read before anyone can meet again: that needs this member too */
    double met = m->met_at, end = simgrid_get_clock();
    Recorder *rec = c->world->rec;
    if (rec && met > start)
        record_span(rec, c->rank, SPAN_WAIT, "wait", start, met);
    if (rec && end > met)
        record_span(rec, c->rank, SPAN_COMM, "comm", met > start ? met : start, end);
    return m->memo;
}
