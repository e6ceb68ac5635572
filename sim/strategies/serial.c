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

static int serial_check(const Scenario *sc, DtError *err)
{
    if (sc->workers != 1)
        return dt_fail(err, DT_EINPUT,
                       "[strategy] kind = serial trains on one device: set [cluster] workers = 1 "
                       "(got %d), or choose a parallel strategy",
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

static void serial_actor_free(SerialActor *a)
{
    replica_free(&a->replica);
    sampler_free(&a->sampler);
    free(a);
}

static void serial_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    SerialActor *a = sg_actor_self_get_data();
    Run *run = a->run;
    Replica *r = &a->replica;
    DtError err;
    if (replica_init(r, &run->model, &run->sc->opt, run->global_batch, run->sc->seed, &err) < 0 ||
        sampler_init(&a->sampler, run->train.n, run->global_batch, run->sc->seed, &err) < 0) {
        run_fail(run, &err);
        serial_actor_free(a);
        return;
    }
    const int b = run->global_batch;
    for (long step = 1; step <= run->total_steps; step++) {
        replica_load(r, &a->dev, &run->train, sampler_next(&a->sampler), b);
        run_add_loss(run, replica_compute_gradients(r, &a->dev, b, 1.0f / (float)b, NULL), b);
        replica_apply(r, &a->dev);
        if (run_eval_due(run, step))
            run_evaluate(run, r, step);
        run_progress(run, step);
    }
    run_keep_params(run, r->params);
    serial_actor_free(a);
}

static int serial_start(Run *run, DtError *err)
{
    SerialActor *a = calloc(1, sizeof *a);
    if (!a)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    a->run = run;
    DeviceMemoryNeed need = replica_memory_need(&run->model, &run->sc->opt, run->global_batch);
    if (device_init(&a->dev, run, 0, err) < 0 || device_check_memory(&a->dev, &need, err) < 0) {
        free(a);
        return -1;
    }
    sg_actor_t actor = sg_actor_init("rank-0", run->rank_host[0]);
    sg_actor_set_data(actor, a);
    sg_actor_start(actor, serial_main, 0, NULL);
    return 0;
}

const StrategyOps serial_strategy = {
    .name = "serial",
    .summary = "one device trains alone: the baseline for speedup and correctness",
    .check = serial_check,
    .global_batch = serial_global_batch,
    .ranks = serial_ranks,
    .start = serial_start,
};
