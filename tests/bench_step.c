/*
 * bench_step.c - how fast the real kernels train, against the machine's own
 * GEMM peak, measured side by side in one run.
 *
 * Prints plain cblas_sgemm GFLOP/s on large square matrices (the peak this
 * machine's OpenBLAS reaches), then the GFLOP/s of a whole training step
 * (gather the batch, forward, loss, backward, optimizer update) of the MLP
 * 784-256-128-10 and of the CNN at batch 256, counted with the same exact
 * FLOP counts dtsim charges as simulated time.  Ratios, not absolute times,
 * are what to compare: these machines are shared and noisy, so each figure
 * is the best of several timed repetitions.
 *
 * Usage: bench_step [batch]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "gemm.h"
#include "model.h"
#include "optim.h"
#include "sampler.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double bench_sgemm(int n)
{
    float *a = malloc((size_t)n * n * sizeof(float));
    float *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    GemmArgs g = {.m = n, .n = n, .k = n, .alpha = 1, .a = a, .lda = n, .b = b, .ldb = n,
                  .beta = 0, .c = c, .ldc = n};
    gemm(&g); /* warm up threads and caches */
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        int iters = 0;
        double t0 = now(), t;
        do {
            gemm(&g);
            iters++;
        } while ((t = now() - t0) < 0.2);
        if (t / iters < best)
            best = t / iters;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

typedef struct StepBench {
    double gflops, ms, flops;
} StepBench;

static StepBench bench_model(const ModelConfig *cfg, const Dataset *d, int batch)
{
    StepBench r = {0};
    DtError err;
    Model m;
    Workspace ws;
    Optimizer o;
    Sampler s;
    OptConfig oc = {.kind = OPT_SGD, .lr = 0.01, .momentum = 0.9};
    if (model_build(&m, cfg, &err) < 0 || workspace_init(&ws, &m, batch, &err) < 0 ||
        optim_init(&o, &oc, m.nparams, &err) < 0 || sampler_init(&s, d->n, batch, 1, &err) < 0) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        exit(1);
    }
    float *params = malloc(m.nparams * sizeof(float));
    float *grads = malloc(m.nparams * sizeof(float));
    float *x = malloc((size_t)batch * shape_size(m.input) * sizeof(float));
    uint8_t *y = malloc((size_t)batch);
    model_init_params(&m, params, 1);
    r.flops = model_forward_flops(&m, batch) + model_backward_flops(&m, batch) +
              optim_step_flops(&o);
    double best = 1e30;
    for (int rep = 0; rep < 7; rep++) {
        int iters = 0;
        double t0 = now(), t;
        do {
            dataset_gather(d, sampler_next(&s), batch, x, y);
            memset(grads, 0, m.nparams * sizeof(float));
            model_forward(&m, &ws, params, x, batch);
            model_loss(&m, &ws, y, batch, 1.0f / batch);
            model_backward(&m, &ws, params, grads, x, batch);
            optim_step(&o, params, grads);
            iters++;
        } while ((t = now() - t0) < 0.3);
        if (rep > 0 && t / iters < best) /* the first repetition warms up */
            best = t / iters;
    }
    r.ms = best * 1e3;
    r.gflops = r.flops / best / 1e9;
    free(params);
    free(grads);
    free(x);
    free(y);
    sampler_free(&s);
    optim_free(&o);
    workspace_free(&ws);
    return r;
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 256;
    int c1 = argc > 2 ? atoi(argv[2]) : 16, c2 = argc > 3 ? atoi(argv[3]) : 32;
    int kern = argc > 4 ? atoi(argv[4]) : 3;
    if (batch <= 0) {
        fprintf(stderr, "usage: bench_step [batch > 0]\n");
        return 2;
    }
    DtError err;
    Dataset d;
    SyntheticConfig sc = {.n = 4096, .shape = {1, 28, 28}, .classes = 10, .noise = 0.5f,
                          .seed = 1, .stream = 1};
    if (dataset_synthetic(&d, &sc, &err) < 0) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    double peak = 0;
    for (int n = 512; n <= 2048; n *= 2) {
        double g = bench_sgemm(n);
        printf("sgemm %4dx%-4d   %8.1f GFLOP/s\n", n, n, g);
        if (g > peak)
            peak = g;
    }
    printf("sgemm peak        %8.1f GFLOP/s\n\n", peak);

    ModelConfig mlp = {.kind = MODEL_MLP, .input = {1, 28, 28}, .classes = 10, .nhidden = 2,
                       .hidden = {256, 128}};
    ModelConfig cnn = {.kind = MODEL_CNN, .input = {1, 28, 28}, .classes = 10, .nhidden = 1,
                       .hidden = {argc > 5 ? atoi(argv[5]) : 128}, .nconv = 2, .conv = {c1, c2}, .kernel = kern};
    struct {
        const char *name;
        const ModelConfig *cfg;
        double target;
    } cases[] = {{"mlp 784-256-128-10", &mlp, 0.60}, {"cnn 16,32 / 128", &cnn, 0.35}};
    printf("training step at batch %d (forward, loss, backward, SGD update):\n", batch);
    int missed = 0;
    for (int i = 0; i < 2; i++) {
        StepBench r = bench_model(cases[i].cfg, &d, batch);
        double frac = r.gflops / peak;
        printf("  %-20s %9.4g FLOP  %8.3f ms  %8.1f GFLOP/s  %5.1f%% of peak (target %.0f%%)\n",
               cases[i].name, r.flops, r.ms, r.gflops, 100 * frac, 100 * cases[i].target);
        missed += frac < cases[i].target;
    }
    dataset_free(&d);
    return missed ? 1 : 0;
}
