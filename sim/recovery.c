/*
 * recovery.c - failures, checkpoints and restarts (see recovery.h).
 */
#include "recovery.h"

#include <cJSON.h>
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/disk.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "energy.h"
#include "placement.h"
#include "rng.h"
#include "run.h"

/* The stream of the scenario's seed that mtbf's failures are drawn from. */
#define RECOVERY_RNG_STREAM 0xfa11ed

#define STORAGE_MAILBOX "dtsim-checkpoint-storage"
#define STORAGE_REPLY "dtsim-checkpoint-reply"

/* What the storage host's actor is sent: a checkpoint to keep (its bytes
 * are the message's size), or a request to send one back. */
static const char storage_write = 'w', storage_read = 'r';

static void storage_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const Recovery *rc = sg_actor_self_get_data();
    sg_mailbox_t in = sg_mailbox_by_name(STORAGE_MAILBOX);
    for (;;) {
        const char *op = sg_mailbox_get(in);
        if (op == &storage_read)
            sg_mailbox_put(sg_mailbox_by_name(STORAGE_REPLY), (void *)&storage_read,
                           (long)rc->bytes);
    }
}

static void storage_start(Recovery *rc)
{
    sg_actor_t a = sg_actor_init("checkpoint-storage", rc->storage);
    sg_actor_set_data(a, rc);
    sg_actor_start(a, storage_main, 0, NULL);
    sg_actor_daemonize(a);
}

/* Write (or read back) a checkpoint where it goes, taking the time that
 * takes. */
static void storage_io(Recovery *rc, int write)
{
    if (rc->disk) {
        if (write)
            sg_disk_write(rc->disk, (sg_size_t)rc->bytes);
        else
            sg_disk_read(rc->disk, (sg_size_t)rc->bytes);
        return;
    }
    sg_mailbox_t in = sg_mailbox_by_name(STORAGE_MAILBOX);
    if (write) {
        sg_mailbox_put(in, (void *)&storage_write, (long)rc->bytes);
        return;
    }
    sg_mailbox_put(in, (void *)&storage_read, 64);
    (void)sg_mailbox_get(sg_mailbox_by_name(STORAGE_REPLY));
}

long recovery_resume_step(const Run *run)
{
    const Recovery *rc = &run->recovery;
    return rc->launches > 1 && rc->resume ? rc->resume->step : 0;
}

void recovery_restore(const Run *run, Replica *r)
{
    const Checkpoint *k = run->recovery.resume;
    if (recovery_resume_step(run) == 0 || !k->params)
        return;
    size_t n = run->model.nparams;
    memcpy(r->params, k->params, n * sizeof(float));
    if (k->m)
        memcpy(r->opt.m, k->m, n * sizeof(float));
    if (k->v)
        memcpy(r->opt.v, k->v, n * sizeof(float));
    r->opt.t = k->opt_t;
}

/* SimGrid calls this as a rank's actor ends: a killed one is marked, for
 * the controller to free its state once every rank is gone. */
static void slot_exit(int failed, void *arg)
{
    RankSlot *s = arg;
    if (!failed || !s->state_live)
        return;
    s->killed = 1;
    s->state_live = 0;
}

void recovery_enter(Run *run, int rank, void *state, void (*destroy)(void *state))
{
    Recovery *rc = &run->recovery;
    if (!rc->on)
        return;
    rc->slots[rank] = (RankSlot){.state = state, .destroy = destroy, .state_live = 1};
    rc->live++;
    sg_actor_on_exit(slot_exit, &rc->slots[rank]);
}

void recovery_leave(Run *run, int rank)
{
    Recovery *rc = &run->recovery;
    if (!rc->on)
        return;
    rc->slots[rank].state_live = 0;
    /* the job is over: failures still to come would strike nothing */
    if (--rc->live == 0 && rc->controller) {
        sg_actor_t a = rc->controller;
        rc->controller = NULL;
        sg_actor_kill(a);
    }
}

/* Rank 0, after step `step` (and its write): the state k holds. */
static void checkpoint_commit(Run *run, Replica *r, long step, Checkpoint *k)
{
    size_t n = run->model.nparams;
    replica_settle(r, &run->rec);
    if (k->params)
        memcpy(k->params, r->params, n * sizeof(float));
    if (k->m)
        memcpy(k->m, r->opt.m, n * sizeof(float));
    if (k->v)
        memcpy(k->v, r->opt.v, n * sizeof(float));
    k->opt_t = r->opt.t;
    k->step = step;
    k->loss_sum = run->loss_sum;
    k->loss_samples = run->loss_samples;
    k->updates = run->rec.updates;
    k->nrows = run->rec.nrows;
}

void recovery_step_done(Run *run, int rank, const Comm *c, Replica *r, long step)
{
    Recovery *rc = &run->recovery;
    if (!rc->on)
        return;
    if (rank == 0)
        rc->done_step = step;
    long every = run->sc->checkpoint_every;
    /* elastic: the survivors keep the state of the last step in memory */
    if (rank == 0 && run->sc->faults.elastic && step < run->total_steps) {
        checkpoint_commit(run, r, step, &rc->held);
        rc->held_at = simgrid_get_clock();
    }
    if (every <= 0 || step % every != 0 || step >= run->total_steps)
        return;
    if (rank == 0) {
        double start = simgrid_get_clock();
        storage_io(rc, 1);
        double end = simgrid_get_clock();
        record_span(&run->rec, 0, SPAN_COMM, "checkpoint", start, end);
        rc->checkpoint_seconds += end - start;
        rc->checkpoints++;
    }
    /* the others wait for rank 0's write; every rank's loss of the step
     * is in by then */
    if (c)
        comm_meet(c, 0, c->world->size, rank, NULL, NULL);
    if (rank == 0) {
        checkpoint_commit(run, r, step, &rc->saved);
        rc->saved_at = rc->held_at = simgrid_get_clock();
    }
}

/* The failures in time order (a stable sort of the ones given). */
static int failure_cmp(const void *x, const void *y)
{
    const Failure *a = *(const Failure *const *)x, *b = *(const Failure *const *)y;
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Stop the job: kill every rank's actor at once (and the storage's), wait
 * for them to go, free the states of the killed ones, and let the
 * strategy free what the ranks shared. */
static void stop_job(Run *run)
{
    Recovery *rc = &run->recovery;
    sg_actor_kill_all();
    /* the killed unwind as SimGrid schedules them (a few rounds at most) */
    for (int round = 0; round < 1000; round++) {
        int killed = 0;
        for (int r = 0; r < run->nranks; r++)
            killed += rc->slots[r].killed;
        if (killed >= rc->live)
            break;
        sg_actor_yield();
    }
    comm_settle(&run->rec); /* a killed ring step's deliveries write its buffers */
    for (int r = 0; r < run->nranks; r++) {
        RankSlot *s = &rc->slots[r];
        if (s->killed)
            s->destroy(s->state);
        *s = (RankSlot){0};
    }
    rc->live = 0;
    if (run->strategy->stop)
        run->strategy->stop(run);
}

/* Turn host off, from another host when this actor stands on it; on a
 * platform of one host, where it cannot move, the host stays on (its ranks
 * are gone all the same). */
static void host_off(sg_host_t host)
{
    if (sg_actor_get_host(sg_actor_self()) == host) {
        size_t n = sg_host_count();
        sg_host_t *all = sg_host_list();
        sg_host_t to = NULL;
        for (size_t i = 0; i < n && !to; i++)
            if (all[i] != host && sg_host_is_on(all[i]))
                to = all[i];
        free(all);
        if (!to)
            return;
        sg_actor_set_host(sg_actor_self(), to);
    }
    sg_host_turn_off(host);
}

/* The run cannot go on after failure f: say why, keep what was done. */
static void give_up(Run *run, const Failure *f, double at, const char *why)
{
    DtError err;
    run->recovery.stopped_at = at;
    dt_fail(&err, DT_ERUNTIME,
            "host '%s' failed at %.6g simulated s (rank 0 had finished %ld of %ld steps) and %s; "
            "the results up to the failure are in",
            f->host, at, run->recovery.done_step, run->total_steps, why);
    run_fail(run, &err);
}

/* A copy of checkpoint from's state into to (elastic: the state a launch
 * from a stored checkpoint starts from is the one it holds). */
static void checkpoint_copy(const Run *run, Checkpoint *to, const Checkpoint *from)
{
    size_t n = run->model.nparams;
    if (to->params && from->params)
        memcpy(to->params, from->params, n * sizeof(float));
    if (to->m && from->m)
        memcpy(to->m, from->m, n * sizeof(float));
    if (to->v && from->v)
        memcpy(to->v, from->v, n * sizeof(float));
    float *p = to->params, *m = to->m, *v = to->v;
    *to = *from;
    to->params = p;
    to->m = m;
    to->v = v;
}

/* Back from checkpoint k (read from where it was stored when `read`):
 * what the run had recorded then, and a new launch of the strategy's
 * ranks. */
static int relaunch(Run *run, const Checkpoint *k, int read)
{
    Recovery *rc = &run->recovery;
    double start = simgrid_get_clock();
    sg_actor_sleep_for(run->sc->faults.restart);
    if (rc->storage) /* the failure stopped it with the rest */
        storage_start(rc);
    if (read && k->step > 0)
        storage_io(rc, 0);
    rc->restart_seconds += simgrid_get_clock() - start;
    if (k != &rc->held && run->sc->faults.elastic)
        checkpoint_copy(run, &rc->held, k);
    run->rec.nrows = k->nrows;
    run->rec.updates = k->updates;
    run->loss_sum = k->loss_sum;
    run->loss_samples = k->loss_samples;
    rc->done_step = k->step;
    rc->saved_at = rc->held_at = simgrid_get_clock();
    rc->resume = k;
    rc->launches++;
    DtError err;
    if (run->strategy->start(run, &err) < 0) {
        run_fail(run, &err);
        return -1;
    }
    return 0;
}

static int ranks_on(const Run *run, sg_host_t host)
{
    int n = 0;
    for (int r = 0; r < run->nranks; r++)
        n += run->place.host[r] == host;
    return n;
}

/* The ranks of host go to spare, their figures to new entries of the
 * recorder's.  -1 when out of memory. */
/* Is there a spare standing by that its state profile (if any) has on at
 * time t?  Then it is next in line (spares_used); those off are passed
 * over. */
static int spare_ready(Run *run, double t)
{
    Recovery *rc = &run->recovery;
    for (int i = rc->spares_used; i < rc->nspares; i++) {
        const char *name = sg_host_get_name(rc->spares[i]);
        int on = 1;
        for (int j = 0; j < run->profiles.n && on; j++)
            if (strcmp(run->profiles.host[j].host, name) == 0)
                on = profile_on_at(&run->profiles.host[j], t);
        if (on) {
            sg_host_t s = rc->spares[i];
            rc->spares[i] = rc->spares[rc->spares_used];
            rc->spares[rc->spares_used] = s;
            return 1;
        }
    }
    return 0;
}

static int move_ranks(Run *run, sg_host_t host, sg_host_t spare)
{
    for (int r = 0; r < run->nranks; r++)
        if (run->place.host[r] == host) {
            int entry = record_add_entry(&run->rec);
            if (entry < 0)
                return -1;
            run->rec.slot[r] = entry;
            run->place.host[r] = spare;
        }
    return 0;
}
/* Elastic: the ranks of host leave; the others keep their order, numbered
 * from 0 again, and their figures go on in their first numbering's place
 * (Recorder.slot), where summary.json reports them; the placement's tail
 * keeps the hosts of the ones that left.  -1 when out of memory. */
static int drop_ranks(Run *run, sg_host_t host)
{
    Placement *p = &run->place;
    Recorder *rec = &run->rec;
    int n = run->nranks, kept = 0, nleft = 0;
    if (!rec->slot) {
        if (!(rec->slot = malloc((size_t)rec->nranks * sizeof *rec->slot)))
            return -1;
        for (int r = 0; r < rec->nranks; r++)
            rec->slot[r] = r;
    }
    sg_host_t *left = malloc((size_t)n * sizeof *left);
    int *left_node = malloc((size_t)n * sizeof *left_node),
        *left_slot = malloc((size_t)n * sizeof *left_slot);
    if (!left || !left_node || !left_slot) {
        free(left);
        free(left_node);
        free(left_slot);
        return -1;
    }
    for (int r = 0; r < n; r++) {
        int node = p->node ? p->node[r] : 0, slot = rec->slot[r];
        if (p->host[r] == host) {
            left[nleft] = p->host[r];
            left_node[nleft] = node;
            left_slot[nleft++] = slot;
            continue;
        }
        p->host[kept] = p->host[r];
        if (p->node)
            p->node[kept] = node;
        rec->slot[kept++] = slot;
    }
    for (int i = 0; i < nleft; i++) {
        p->host[kept + i] = left[i];
        if (p->node)
            p->node[kept + i] = left_node[i];
        rec->slot[kept + i] = left_slot[i];
    }
    free(left);
    free(left_node);
    free(left_slot);
    run->nranks = kept;
    run->recovery.shrinks++;
    run->recovery.workers_at_end = kept;
    return 0;
}

/* Failure f strikes now: stop the job, wait until it notices, and
 * relaunch it on a spare, with fewer workers (elastic), or once the host
 * is back, from the state it can resume from; -1 when it cannot. */
static int fail_and_recover(Run *run, const Failure *f, int random)
{
    Recovery *rc = &run->recovery;
    sg_host_t host = sg_host_by_name(f->host);
    if (ranks_on(run, host) == 0) /* none of the job runs there any more */
        return 0;
    /* one that strikes as the job relaunches finds every rank started */
    for (int i = 0; i < 1000 && rc->live < run->nranks; i++)
        sg_actor_yield();
    double at = simgrid_get_clock();
    int spare = run->sc->checkpoint_every > 0 && spare_ready(run, at);
    int shrink = !spare && run->sc->faults.elastic && ranks_on(run, host) < run->nranks;
    const Checkpoint *from = shrink ? &rc->held : &rc->saved;
    rc->failures++;
    rc->lost_seconds += at - (shrink ? rc->held_at : rc->saved_at);
    rc->lost_steps += rc->done_step - from->step;
    /* failures faster than the job can save its progress: it never ends */
    rc->stalled = from->step == rc->stalled_at && rc->failures > 1 ? rc->stalled + 1 : 0;
    rc->stalled_at = from->step;
    stop_job(run);
    host_off(host);
    if (rc->stalled + 1 >= (random ? RECOVERY_MAX_STALLED_RANDOM : RECOVERY_MAX_STALLED)) {
        char why[256];
        snprintf(why, sizeof why,
                 "%d failures in a row have struck before the job could get past step %ld: it "
                 "cannot make progress (checkpoint more often, or make failures rarer)",
                 rc->stalled + 1, from->step);
        give_up(run, f, at, why);
        return -1;
    }
    if (!shrink && run->sc->checkpoint_every <= 0) {
        give_up(run, f, at,
                "there is no checkpoint to restart from ([train] checkpoint_every) and the job is "
                "not elastic");
        return -1;
    }
    if (!shrink && !spare && f->repair < 0.0) {
        give_up(run, f, at,
                "is not repaired (give [faults] fail = HOST AT REPAIR, or spares), so the job "
                "cannot restart");
        return -1;
    }
    double detect = run->sc->faults.detect;
    sg_actor_sleep_for(detect);
    rc->detect_seconds += detect;
    int rc_move = 0;
    if (spare)
        rc_move = move_ranks(run, host, rc->spares[rc->spares_used++]);
    else if (shrink)
        rc_move = drop_ranks(run, host);
    else {
        if (f->repair > detect) {
            sg_actor_sleep_for(f->repair - detect);
            rc->repair_wait_seconds += f->repair - detect;
        }
        if (!sg_host_is_on(host))
            sg_host_turn_on(host);
    }
    if (rc_move < 0) {
        DtError err;
        dt_fail(&err, DT_ERUNTIME, "out of memory moving the ranks");
        run_fail(run, &err);
        return -1;
    }
    return relaunch(run, from, !shrink);
}

/* The next failure mtbf draws after now: exponentially distributed, at
 * the rate of all the ranks' hosts (rng's next numbers); a host of a rank
 * picked uniformly.  Nothing when there is no mtbf. */
static void mtbf_draw(Run *run, Rng *rng, Failure *next)
{
    const FaultsConfig *fc = &run->sc->faults;
    next->at = INFINITY;
    if (fc->mtbf <= 0.0)
        return;
    int hosts = 0;
    for (int r = 0; r < run->nranks; r++)
        hosts += placement_first_on_host(run->place.host, r);
    double u = (double)(rng_next(rng) >> 11) * 0x1.0p-53;
    next->at = simgrid_get_clock() - fc->mtbf / hosts * log1p(-u);
    next->repair = fc->repair;
    /* the k-th distinct host of a rank */
    int k = (int)rng_below(rng, (uint32_t)hosts);
    for (int r = 0; r < run->nranks; r++) {
        if (placement_first_on_host(run->place.host, r) && k-- == 0) {
            snprintf(next->host, sizeof next->host, "%s", sg_host_get_name(run->place.host[r]));
            break;
        }
    }
}

/* Profile i's next failure after `after` into f (at INFINITY: none). */
static void profile_draw(const Run *run, int i, double after, Failure *f)
{
    const HostProfile *h = &run->profiles.host[i];
    snprintf(f->host, sizeof f->host, "%s", h->host);
    if (!profile_next_failure(h, after, &f->at, &f->repair))
        f->at = INFINITY;
}

/* The failures in time order: those given, those mtbf draws, and those
 * of the platform's state profiles (drawn[0], then drawn[1 + i] for
 * profile i). */
static void controller_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Run *run = sg_actor_self_get_data();
    const FaultsConfig *fc = &run->sc->faults;
    const Failure *order[FAULTS_MAX_FAILURES];
    for (int i = 0; i < fc->nfailures; i++)
        order[i] = &fc->failures[i];
    qsort(order, (size_t)fc->nfailures, sizeof *order, failure_cmp);
    Rng rng = rng_make(run->sc->seed, RECOVERY_RNG_STREAM);
    Failure *drawn = run->recovery.drawn;
    mtbf_draw(run, &rng, &drawn[0]);
    for (int i = 0; i < run->profiles.n; i++)
        profile_draw(run, i, -1.0, &drawn[1 + i]);
    for (int i = 0;;) {
        int d = 0; /* the earliest drawn */
        for (int j = 1; j <= run->profiles.n; j++)
            d = drawn[j].at < drawn[d].at ? j : d;
        int listed = i < fc->nfailures && order[i]->at <= drawn[d].at;
        if (!listed && !isfinite(drawn[d].at))
            break;
        const Failure *f = listed ? order[i++] : &drawn[d];
        /* one that comes while the job is down strikes as it is back; a
         * state profile's, only if its host is still off then, for what
         * is left of its outage */
        Failure late;
        int over = 0;
        double now = simgrid_get_clock();
        if (!listed && d > 0 && f->at < now) {
            late = *f;
            late.at = now;
            if (f->repair >= 0.0) {
                late.repair = f->at + f->repair - now;
                over = late.repair <= 0.0; /* back on already */
            }
            f = &late;
        }
        if (f->at > now)
            sg_actor_sleep_until(f->at);
        if (!over && fail_and_recover(run, f, !listed && d == 0) < 0)
            break;
        if (!listed && d == 0)
            mtbf_draw(run, &rng, &drawn[0]);
        else if (!listed)
            profile_draw(run, d - 1, drawn[d].at, &drawn[d]);
    }
    run->recovery.controller = NULL;
}

/* Does profile h turn a rank's host off?  Its first time into *at. */
static int profile_strikes(const Run *run, const HostProfile *h, double *at)
{
    double repair;
    int on = 0;
    for (int r = 0; r < run->nranks && !on; r++)
        on = strcmp(sg_host_get_name(run->place.host[r]), h->host) == 0;
    return on && profile_next_failure(h, -1.0, at, &repair);
}

/* How many of the platform's state profiles are of the ranks' hosts; -1
 * (bad input) when the strategy cannot restart after a failure. */
static int profiles_used(const Run *run, DtError *err)
{
    int used = 0;
    for (int i = 0; i < run->profiles.n; i++) {
        const HostProfile *h = &run->profiles.host[i];
        double at;
        if (!profile_strikes(run, h, &at))
            continue;
        if (!run->strategy->restartable)
            return dt_fail(err, DT_EINPUT,
                           "%s: host %s, on which a rank runs, goes off at %g s by its state "
                           "profile %s, and strategy %s cannot restart after a failure yet "
                           "(serial and data-parallel can): place the ranks elsewhere "
                           "([cluster] hosts) or use a platform without it",
                           run->sc->platform, h->host, at, h->file, run->strategy->name);
        used++;
    }
    return used;
}

/* Where checkpoints go: a disk of rank 0's host, or the storage host. */
static int storage_find(Run *run, DtError *err)
{
    Recovery *rc = &run->recovery;
    const Scenario *sc = run->sc;
    if (strcmp(sc->checkpoint_to, "disk") == 0 && (sc->faults.spares > 0 || sc->faults.elastic))
        return dt_fail(err, DT_EINPUT,
                       "%s: [train] checkpoint_to = disk with [faults] %s: rank 0's host may fail "
                       "and another host go on without its disk; name a storage host",
                       sc->path, sc->faults.spares > 0 ? "spares" : "elastic = on");
    if (strcmp(sc->checkpoint_to, "disk") == 0) {
        unsigned int n = 0;
        sg_disk_t *disks = NULL;
        sg_host_get_disks(run->place.host[0], &n, &disks);
        rc->disk = n > 0 ? disks[0] : NULL;
        free(disks);
        if (!rc->disk)
            return dt_fail(err, DT_EINPUT,
                           "%s: [train] checkpoint_to = disk, but host '%s' of rank 0 has no "
                           "disk in platform '%s': give it one (<disk id=\"ssd\" "
                           "read_bw=\"3GBps\" write_bw=\"2GBps\"/> inside its <host>) or name a "
                           "storage host",
                           sc->path, sg_host_get_name(run->place.host[0]), sc->platform);
        return 0;
    }
    rc->storage = sg_host_by_name(sc->checkpoint_to);
    if (!rc->storage)
        return dt_fail(err, DT_EINPUT,
                       "%s: [train] checkpoint_to = %s: platform '%s' has no such host; give "
                       "disk or the name of a storage host",
                       sc->path, sc->checkpoint_to, sc->platform);
    for (int r = 0; r < run->nranks && sc->faults.mtbf > 0.0; r++)
        if (run->place.host[r] == rc->storage)
            return dt_fail(err, DT_EINPUT,
                           "%s: [train] checkpoint_to = %s names a host of a rank, which [faults] "
                           "mtbf may bring down: checkpoints must outlive it",
                           sc->path, sc->checkpoint_to);
    for (int i = 0; i < sc->faults.nfailures; i++)
        if (strcmp(sc->faults.failures[i].host, sc->checkpoint_to) == 0)
            return dt_fail(err, DT_EINPUT,
                           "%s: [train] checkpoint_to = %s names a host that [faults] fail "
                           "brings down: checkpoints must outlive it",
                           sc->path, sc->checkpoint_to);
    return 0;
}

/* The hosts standing by: the first in natural order on which no rank runs
 * (nor the checkpoints' storage); they count in the run's energy. */
static int spares_find(Run *run, DtError *err)
{
    Recovery *rc = &run->recovery;
    const Scenario *sc = run->sc;
    int want = sc->faults.spares;
    if (want == 0)
        return 0;
    size_t n;
    sg_host_t *all = placement_all_hosts(&n);
    rc->spares = malloc((size_t)want * sizeof *rc->spares);
    if (!all || !rc->spares) {
        free(all);
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d spares", want);
    }
    for (size_t i = 0; i < n && rc->nspares < want; i++) {
        int used = all[i] == rc->storage;
        for (int r = 0; r < run->nranks && !used; r++)
            used = run->place.host[r] == all[i];
        if (!used)
            rc->spares[rc->nspares++] = all[i];
    }
    free(all);
    if (rc->nspares < want)
        return dt_fail(err, DT_EINPUT,
                       "%s: [faults] spares = %d, but platform '%s' has only %d host%s on which "
                       "no rank runs%s",
                       sc->path, want, sc->platform, rc->nspares, rc->nspares == 1 ? "" : "s",
                       rc->storage ? " (besides the checkpoints' storage)" : "");
    for (int i = 0; i < rc->nspares; i++)
        if (energy_add_host(&run->energy, rc->spares[i]) < 0)
            return dt_fail(err, DT_ERUNTIME, "out of memory");
    return 0;
}

/* The buffers of a checkpoint (none in cost mode). */
static int checkpoint_alloc(Run *run, DtError *err)
{
    size_t n = run->model.nparams;
    int moments = optim_state_per_param(&run->sc->opt);
    run->recovery.bytes = (double)n * 4.0 * (1 + moments) + 64.0;
    for (int i = 0; i < 2 && !run->sc->cost; i++) {
        if (i == 0 ? run->sc->checkpoint_every <= 0 : !run->sc->faults.elastic)
            continue;
        Checkpoint *k = i == 0 ? &run->recovery.saved : &run->recovery.held;
        k->params = malloc(n * sizeof(float));
        k->m = moments >= 1 ? malloc(n * sizeof(float)) : NULL;
        k->v = moments >= 2 ? malloc(n * sizeof(float)) : NULL;
        if (!k->params || (moments >= 1 && !k->m) || (moments >= 2 && !k->v))
            return dt_fail(err, DT_ERUNTIME, "out of memory for a checkpoint of %zu parameters", n);
    }
    return 0;
}

int recovery_start(Run *run, DtError *err)
{
    Recovery *rc = &run->recovery;
    const Scenario *sc = run->sc;
    *rc = (Recovery){.stopped_at = -1.0, .launches = 1, .workers_at_end = run->nranks};
    int profiled = profiles_used(run, err);
    if (profiled < 0)
        return -1;
    rc->on = sc->faults.nfailures > 0 || sc->faults.mtbf > 0.0 || sc->checkpoint_every > 0 ||
             sc->faults.spares > 0 || sc->faults.elastic || profiled > 0;
    if (!rc->on)
        return 0;
    if (faults_check_used(&sc->faults, sc->path, run->place.host, run->nranks, err) < 0 ||
        (sc->checkpoint_every > 0 && storage_find(run, err) < 0) || spares_find(run, err) < 0 ||
        checkpoint_alloc(run, err) < 0)
        return -1;
    if (!(rc->slots = calloc((size_t)run->nranks, sizeof *rc->slots)))
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks", run->nranks);
    if (run->describe_only)
        return 0;
    if (rc->storage)
        storage_start(rc);
    /* not a daemon: it holds the simulation up while the job is down, and
     * the job's last rank ends it */
    if (!(rc->drawn = calloc((size_t)run->profiles.n + 1, sizeof *rc->drawn)))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    if (sc->faults.nfailures > 0 || sc->faults.mtbf > 0.0 || profiled > 0) {
        rc->controller = sg_actor_init("faults", run->place.host[0]);
        sg_actor_set_data(rc->controller, run);
        sg_actor_start(rc->controller, controller_main, 0, NULL);
    }
    return 0;
}

void recovery_free(Run *run)
{
    Recovery *rc = &run->recovery;
    free(rc->saved.params);
    free(rc->saved.m);
    free(rc->saved.v);
    free(rc->held.params);
    free(rc->held.m);
    free(rc->held.v);
    free(rc->slots);
    free(rc->spares);
    free(rc->drawn);
    *rc = (Recovery){0};
}

void recovery_describe(const Run *run)
{
    const Recovery *rc = &run->recovery;
    const Scenario *sc = run->sc;
    if (!rc->on)
        return;
    printf("  failures: %d given", sc->faults.nfailures);
    for (int i = 0; i < run->profiles.n; i++) {
        double at;
        if (profile_strikes(run, &run->profiles.host[i], &at))
            printf(", host %s's by its state profile (the first at %g s)",
                   run->profiles.host[i].host, at);
    }
    if (sc->faults.mtbf > 0.0)
        printf(", and more drawn from the seed, a host's mean time between them %g s",
               sc->faults.mtbf);
    printf("; noticed after %g s, restarted in %g s%s%s\n", sc->faults.detect, sc->faults.restart,
           rc->nspares ? ", on spares" : "", sc->faults.elastic ? ", elastic" : "");
    if (sc->checkpoint_every > 0) {
        double bw = rc->disk ? sg_disk_write_bandwidth(rc->disk) : 0.0;
        printf("  checkpoints: every %d steps, %.3g MB each, to %s", sc->checkpoint_every,
               rc->bytes / 1e6, rc->disk ? sg_disk_get_name(rc->disk) : sc->checkpoint_to);
        if (bw > 0.0)
            printf(" (%.4g s a write at %.4g MB/s)", rc->bytes / bw, bw / 1e6);
        printf("\n");
    }
}

void recovery_summary(const Run *run, cJSON *root)
{
    const Recovery *rc = &run->recovery;
    if (!rc->on)
        return;
    double total = simgrid_get_clock();
    double overhead = rc->checkpoint_seconds + rc->lost_seconds + rc->detect_seconds +
                      rc->repair_wait_seconds + rc->restart_seconds;
    cJSON *o = cJSON_AddObjectToObject(root, "recovery");
    cJSON_AddNumberToObject(o, "failures", rc->failures);
    cJSON_AddNumberToObject(o, "checkpoint_every", run->sc->checkpoint_every);
    cJSON_AddNumberToObject(o, "checkpoints", rc->checkpoints);
    cJSON_AddNumberToObject(o, "checkpoint_bytes", rc->bytes);
    cJSON_AddNumberToObject(o, "checkpoint_seconds", rc->checkpoint_seconds);
    cJSON_AddNumberToObject(o, "lost_steps", (double)rc->lost_steps);
    cJSON_AddNumberToObject(o, "lost_seconds", rc->lost_seconds);
    cJSON_AddNumberToObject(o, "detect_seconds", rc->detect_seconds);
    cJSON_AddNumberToObject(o, "repair_wait_seconds", rc->repair_wait_seconds);
    cJSON_AddNumberToObject(o, "restart_seconds", rc->restart_seconds);
    cJSON_AddNumberToObject(o, "training_fraction", total > 0.0 ? 1.0 - overhead / total : 1.0);
    if (rc->nspares > 0)
        cJSON_AddNumberToObject(o, "spares_used", rc->spares_used);
    if (run->sc->faults.elastic) {
        cJSON_AddNumberToObject(o, "elastic_shrinks", rc->shrinks);
        cJSON_AddNumberToObject(o, "workers_at_end", rc->workers_at_end);
    }
    if (rc->stopped_at >= 0.0) {
        cJSON_AddNumberToObject(o, "stopped_at", rc->stopped_at);
        cJSON_AddNumberToObject(o, "steps_done", (double)rc->done_step);
    }
    record_measure(root, "training_fraction", total > 0.0 ? 1.0 - overhead / total : 1.0);
}
