/*
 * serial.c - strategy "serial": one device trains the model alone.
 *
 * The baseline every other strategy is compared with, for speed (speedup is
 * relative to it) and for correctness (a synchronous strategy must end with
 * the parameters serial SGD reaches on the same global batch).  One actor
 * on the first host runs the real training loop and charges each layer's
 * FLOPs on that host.
 */
#include <simgrid/actor.h>
#include <stdlib.h>

#include "run.h"
#include "sampler.h"

typedef struct SerialActor {
    Run *run;
    Device dev;
    Replica replica;
    Sampler sampler;
} SerialActor;

static int serial_check(const Scenario *sc, const KeySource *given, DtError *err)
{
    if (sc->workers != 1)
        return key_fail(given, NULL, err,
                        "[strategy] kind = serial trains on one device: set [cluster] workers = "
                        "1 (got %d), or choose a parallel strategy",
                        sc->workers);
    return 0;
}

static int serial_global_batch(const Scenario *sc)
{
    return sc->batch;
}

static int serial_ranks(const Scenario *sc)
{
    (void)sc;
    return 1;
}

static void serial_free(void *state)
{
    SerialActor *a = state;
    replica_free(&a->replica);
    sampler_free(&a->sampler);
    free(a);
}

/* Killed by a failure (recovery.h): its kernels finish, then it goes. */
static void serial_killed(void *state)
{
    SerialActor *a = state;
    replica_settle(&a->replica, &a->run->rec);
    serial_free(a);
}

static void serial_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    SerialActor *a = sg_actor_self_get_data();
    Run *run = a->run;
    Replica *r = &a->replica;
    const int b = run->global_batch;
    recovery_enter(run, 0, a, serial_killed);
    for (long step = recovery_resume_step(run) + 1; step <= run->total_steps; step++) {
        replica_load(r, &a->dev, &run->train, sampler_batch(&a->sampler, step - 1), b);
        run_add_loss(run, replica_compute_gradients(r, &a->dev, b, 1.0f / (float)b, NULL), b);
        replica_apply(r, &a->dev);
        if (run_eval_due(run, step))
            run_evaluate(run, r, step);
        run_progress(run, step);
        recovery_step_done(run, 0, NULL, r, step);
    }
    replica_settle(r, &run->rec);
    run_keep_params(run, r->params);
    recovery_leave(run, 0);
    serial_free(a);
}

static int serial_describe(void *state, Run *run, int rank, DtError *err)
{
    SerialActor *a = state;
    a->run = run;
    record_role(&run->rec, rank, "worker", run->global_batch);
    MemoryNeed need = plan_replica_memory(&run->model, &run->sc->opt, run->global_batch);
    return device_init(&a->dev, run, rank, &need, err);
}

static int serial_alloc(void *state, DtError *err)
{
    SerialActor *a = state;
    const Run *run = a->run;
    const Scenario *sc = run->sc;
    if (run_replica_init(run, &a->replica, run->global_batch, err) < 0)
        return -1;
    recovery_restore(run, &a->replica);
    return sampler_init(&a->sampler, run->train.n, run->global_batch, sc->seed, err);
}

static const RankKind serial_rank = {
    "rank", sizeof(SerialActor), serial_describe, serial_alloc, serial_free, serial_main,
};

static int serial_start(Run *run, DtError *err)
{
    return run_spawn_all(run, &serial_rank, err);
}

const StrategyOps serial_strategy = {
    .name = "serial",
    .restartable = 1,
    .summary = "one device trains alone: the baseline for speedup and correctness",
    .keys = {"strategy", NULL, 0},
    .check = serial_check,
    .global_batch = serial_global_batch,
    .ranks = serial_ranks,
    .start = serial_start,
};
