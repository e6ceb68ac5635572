/*
 * replica.c - a training step on one device: real kernels, charged FLOPs.
 */
#include "replica.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int replica_init(Replica *r, const Model *m, const OptConfig *opt, int batch, uint64_t seed,
                 DtError *err)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->batch = batch;
    size_t sample = shape_size(m->input);
    r->params = malloc(m->nparams * sizeof(float));
    r->grads = malloc(m->nparams * sizeof(float));
    r->x = malloc((size_t)batch * sample * sizeof(float));
    r->y = malloc((size_t)batch);
    if (!r->params || !r->grads || !r->x || !r->y) {
        replica_free(r);
        return dt_fail(err, DT_ERUNTIME, "out of memory for a replica of %zu parameters",
                       m->nparams);
    }
    if (workspace_init(&r->ws, m, batch, err) < 0 ||
        optim_init(&r->opt, opt, m->nparams, err) < 0) {
        replica_free(r);
        return -1;
    }
    model_init_params(m, r->params, seed);
    return 0;
}

void replica_free(Replica *r)
{
    free(r->params);
    free(r->grads);
    free(r->x);
    free(r->y);
    workspace_free(&r->ws);
    optim_free(&r->opt);
    memset(r, 0, sizeof *r);
}

void replica_load(Replica *r, Device *dev, const Dataset *d, const int *idx, int count)
{
    double t = wall_clock();
    dataset_gather(d, idx, count, r->x, r->y);
    dev->rec->kernel_wall += wall_clock() - t;
}

double replica_compute_gradients(Replica *r, Device *d, int batch, float scale,
                                 const ReplicaHook *hook)
{
    const Model *m = r->m;
    double t = wall_clock();
    memset(r->grads, 0, m->nparams * sizeof(float));
    for (int l = 0; l < m->nlayers; l++) {
        model_forward_layer(m, &r->ws, r->params, r->x, l, batch);
        d->rec->kernel_wall += wall_clock() - t;
        device_compute(d, model_layer_forward_flops(m, l, batch),
                       model_layer_forward_bytes(m, l, batch), "forward");
        t = wall_clock();
    }
    double loss = model_loss(m, &r->ws, r->y, batch, scale);
    d->rec->kernel_wall += wall_clock() - t;
    /* read the logits, write the probabilities and their gradient */
    device_compute(d,
                   softmax_xent_forward_flops(batch, m->classes) +
                       softmax_xent_backward_flops(batch, m->classes),
                   3.0 * sizeof(float) * batch * m->classes, "loss");
    for (int l = m->nlayers - 1; l >= 0; l--) {
        t = wall_clock();
        model_backward_layer(m, &r->ws, r->params, r->grads, r->x, l, batch);
        d->rec->kernel_wall += wall_clock() - t;
        device_compute(d, model_layer_backward_flops(m, l, batch),
                       model_layer_backward_bytes(m, l, batch), "backward");
        if (hook)
            hook->after_backward(hook->ctx, l);
    }
    return loss;
}

void replica_apply(Replica *r, Device *d)
{
    double t = wall_clock();
    optim_step(&r->opt, r->params, r->grads);
    d->rec->kernel_wall += wall_clock() - t;
    device_compute(d, optim_step_flops(&r->opt), optim_step_bytes(&r->opt), "update");
}

DeviceMemoryNeed replica_memory_need(const Model *m, const OptConfig *opt, int batch)
{
    double p = (double)model_param_bytes(m);
    int state = (opt->kind == OPT_ADAM) ? 2 : (opt->momentum != 0.0);
    DeviceMemoryNeed need = {
        .parameters = p,
        .gradients = p,
        .optimizer = state * p,
        .activations = (double)model_activation_bytes(m, batch) +
                       sizeof(float) * (double)batch * shape_size(m->input),
        .buffers = (double)workspace_buffer_bytes(m, batch),
    };
    return need;
}
