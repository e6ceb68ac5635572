/*
 * comm.h - rank-addressed messages between simulated devices.
 *
 * The thin seam between algorithms and transport: collectives and
 * strategies send and receive float buffers by rank; only comm.c knows that
 * a message travels through a SimGrid mailbox, and how mailboxes are named.
 *
 * A message carries a real copy of the floats (the receiver copies them
 * into its own buffer and frees the copy, so the sender may reuse its
 * buffer as soon as its send completes) and is charged on the platform as
 * count * wire_bytes bytes.  A NULL buffer sends a timing-only message: the
 * same simulated bytes, no payload (for `dtsim collective` on sizes that
 * would not fit in memory).
 *
 * Messages between the same pair of ranks on the same channel arrive in the
 * order they were sent.  Channels keep independent traffic apart (a
 * data-parallel all-reduce and a parameter-server push between the same
 * ranks never match each other's messages).
 *
 * Every blocking call and every wait is recorded in the calling rank's
 * spans: as communication while one of its transfers was in progress (both
 * sides posted, the bytes on their way), as waiting before (the peer had
 * not sent yet, or had not posted its receive); every send adds its bytes
 * to the rank's total.
 *
 * Every blocking call and wait returns 0, or -1 when the transfer failed
 * because the peer's host or a link on the way went down (SimGrid's
 * failure report): then nothing was delivered, and the caller decides
 * what its rank does next.  Only a platform that turns hosts or links off
 * can make a transfer fail, and dtsim either refuses those for ranks that
 * communicate (links; platform.c) or turns them into its own failures (a
 * host's state profile; profiles.h), which stop every rank of the job at
 * the instant its host goes off (recovery.h), before a peer can see a
 * failed transfer: the waits for several requests at once, which see each
 * transfer end when it does, rely on SimGrid's wait-any, which stops the
 * simulation on a failure instead of reporting it.
 */
#ifndef DT_COMM_H
#define DT_COMM_H

#include <simgrid/forward.h>
#include <stddef.h>

#include "error.h"
#include "record.h"

typedef struct CommMailboxSlot CommMailboxSlot;
typedef struct CommLedger CommLedger;
typedef struct CommMeeting CommMeeting;

typedef struct CommWorld {
    int size;          /* ranks */
    Recorder *rec;     /* where spans and bytes go (NULL: not recorded) */
    double wire_bytes; /* simulated bytes per float on the wire (4 for float32) */
    /* A few recently used mailboxes per rank, so that the algorithms'
     * neighbours are not looked up by name for every message; NULL (a world
     * set up by hand) looks every mailbox up. */
    CommMailboxSlot *slots;
    /* Per rank, when it posted its receives, so that a sender knows when it
     * began to wait for a transfer rather than for its receiver; NULL (a
     * world set up by hand) counts a sender's wait as a transfer. */
    CommLedger *ledgers;
    /* Per rank, the meeting points (comm_meet) of the groups whose first
     * member it is, made on first use; NULL (a world set up by hand): no
     * meetings. */
    CommMeeting **meetings;
} CommWorld;

/* Progress of long work (a collective over thousands of ranks, a step of
 * a huge model): once set, fn is called as messages are delivered, at
 * most every half second of wall time, with how many have been so far;
 * NULL: none.  For commands that draw a progress line on a terminal. */
typedef void CommProgressFn(void *ctx, unsigned long long delivered);
void comm_progress(CommProgressFn *fn, void *ctx);

/* Set up a world of size ranks, with its mailbox cache. */
int comm_world_init(CommWorld *w, int size, Recorder *rec, double wire_bytes, DtError *err);
void comm_world_free(CommWorld *w);

/* One rank's handle on a world: which rank it is, and on which channel. */
/* What the floats of a message are rounded to on their way (a gradient
 * all-reduced in half precision): the receiver gets the rounded values. */
enum { COMM_ROUND_NONE, COMM_ROUND_FP16, COMM_ROUND_BF16 };

typedef struct Comm {
    const CommWorld *world;
    int rank;
    int channel;
    double wire_bytes; /* simulated bytes per float of its messages; 0: the world's */
    int rounding;      /* COMM_ROUND_*: what its messages' floats are rounded to */
} Comm;

/* x rounded to the nearest IEEE half (fp16) or bfloat16 value, ties to
 * even, as a float (overflow gives infinity). */
float comm_round_fp16(float x);
float comm_round_bf16(float x);

typedef struct CommRequest CommRequest;

/* Blocking send of count floats of buf (NULL: timing only) to rank dst. */
int comm_send(const Comm *c, int dst, const float *buf, size_t count);
/* Blocking receive of count floats from rank src into buf (NULL: discard). */
int comm_recv(const Comm *c, int src, float *buf, size_t count);

/* Start a send or a receive; finish it with comm_wait or comm_waitall.
 * The buffer of an irecv must stay valid until the wait returns. */
CommRequest *comm_isend(const Comm *c, int dst, const float *buf, size_t count);
CommRequest *comm_irecv(const Comm *c, int src, float *buf, size_t count);
/* Wait for one request (and free it). */
int comm_wait(const Comm *c, CommRequest *req);
/* Wait for every one of n requests, in order, and free them; -1 when any
 * failed. */
int comm_waitall(const Comm *c, CommRequest **reqs, int n);
/* Finish and free the sends among reqs[0..n) whose receiver has finished
 * its receive (the transfer is over), without advancing simulated time,
 * and keep the others at the front of reqs, in order; returns how many are
 * left.  A rank that keeps many sends in flight (a pipeline stage's,
 * waited for at the end of a step) reaps them now and then: SimGrid scans
 * an actor's activities whenever one of them ends, so a long list of them
 * slows every later message and kernel of the rank.  What a later wait
 * would have recorded of them is nothing (they were done), so the result
 * is the same.  In a world set up by hand nothing is reaped. */
int comm_reap(const Comm *c, CommRequest **reqs, int n);
/* Wait until one of the pending requests (the non-NULL ones among
 * reqs[0..n)) completes: finish it, free it, set its entry to NULL and
 * return its index; -1 when one failed (which one, SimGrid does not say).
 * Which of several requests completing at the same instant comes first is
 * SimGrid's choice, the same in every run. */
int comm_waitany(const Comm *c, CommRequest **reqs, int n);

/* Send to dst and receive from src at the same time (as a ring step does). */
int comm_sendrecv(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                  float *recvbuf, size_t recvcount);
/* The same, but the received floats are added into accbuf (accbuf[k] +=
 * received[k], in index order) instead of overwriting it: a reduction step
 * without a scratch copy. */
int comm_sendrecv_add(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                      float *accbuf, size_t recvcount);

/* A ring step: like comm_sendrecv (add = 0) or comm_sendrecv_add (add =
 * 1), but sendbuf is lent, not copied: the receiver reads it when its
 * receive completes.  Only for patterns where the sender does not write
 * sendbuf until a later message from the same neighbour proves the data
 * was taken, as in a ring, where each rank writes only the blocks it
 * receives and the next step cannot finish before the neighbour has taken
 * the previous one.  With helper threads (pool.h) what it receives may be
 * added or copied into recvbuf later, on the pool, in the order the steps
 * ended: the next ring step may send recvbuf at once, but anything else
 * must call comm_settle first (every function here that posts a request or
 * meets does; the waits only finish requests posted after it). */
int comm_ring_step(const Comm *c, int dst, const float *sendbuf, size_t sendcount, int src,
                   float *recvbuf, size_t recvcount, int add);
/* Return once every delivery comm_ring_step left for later is done, adding
 * the wall time waited for them to rec's kernel time (rec may be NULL):
 * before reading or freeing a buffer a ring step may still write. */
void comm_settle(Recorder *rec);

/* A meeting of the members of a group, which crosses no link: member
 * `index` of the group of `size` ranks whose first member is world rank
 * `first` arrives with `arg` and waits, in simulated time, until every
 * member has arrived on the same channel; the last to arrive calls
 * done(args, size, memo) with every member's arg (args[i]: member i's)
 * before anyone leaves, so done may read and write what the others
 * brought.  memo is one number kept with the meeting point from call to
 * call (NAN at first), which comm_meet returns as everybody leaves.  done
 * returns how many simulated seconds of communication everybody spends
 * before leaving (a latency an algorithm charges without a message; one
 * pause for the group, not one per member).  Each member records its wait
 * for the last one as waiting, and the pause as communication.  done may
 * be NULL (no pause).  Aborts in a world without meetings (one set up by
 * hand). */
typedef double CommMeetDone(void *const *args, int size, double *memo);
double comm_meet(const Comm *c, int first, int size, int index, void *arg, CommMeetDone *done);

#endif
