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
 * Then the step of a GPT (d_model 128, 4 layers, 4 heads, seq_len 64,
 * batch 32 windows, a vocabulary of 96 characters) on random tokens, with
 * Adam, against a target of half the peak; tests/bench_gpt.sh runs the
 * same step in PyTorch beside it where python3-torch is installed.
 *
 * Both are measured twice: with OpenBLAS's default thread count (every
 * core) and with one thread, since the non-GEMM work (im2col, pooling,
 * bias and ReLU passes, the optimizer) runs on one core and is bound by
 * memory bandwidth, the ratio depends on how many cores the GEMMs get.
 *
 * Usage: bench_step [batch]   (the batch of the MLP and the CNN)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

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
    GemmArgs g = {.m = n,
                  .n = n,
                  .k = n,
                  .alpha = 1,
                  .a = a,
                  .lda = n,
                  .b = b,
                  .ldb = n,
                  .beta = 0,
                  .c = c,
                  .ldc = n};
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

/* One model to time: its spec, the data it trains on, its batch, its
 * optimizer and the share of the sgemm peak it should reach. */
typedef struct BenchCase {
    const char *name;
    const ModelSpec *spec;
    const Dataset *data;
    int batch;
    OptKind opt;
    double target;
} BenchCase;

/* n windows of T random token ids below V, as the text data set gives. */
static int token_data(Dataset *d, int n, int T, int V)
{
    memset(d, 0, sizeof *d);
    d->x = malloc((size_t)n * T * sizeof(float));
    d->y = malloc((size_t)n * T);
    if (!d->x || !d->y)
        return -1;
    unsigned s = 1;
    for (size_t i = 0; i < (size_t)n * T; i++) {
        s = s * 1103515245u + 12345u;
        d->x[i] = (float)((s >> 16) % (unsigned)V);
        d->y[i] = (uint8_t)((s >> 8) % (unsigned)V);
    }
    *d = (Dataset){.n = n, .shape = {T, 1, 1}, .classes = V, .targets = T, .x = d->x, .y = d->y};
    return 0;
}

static StepBench bench_model(const BenchCase *c)
{
    const ModelSpec *cfg = c->spec;
    const Dataset *d = c->data;
    const int batch = c->batch;
    StepBench r = {0};
    DtError err;
    Model m;
    Workspace ws;
    Optimizer o;
    Sampler s;
    OptConfig oc = {
        .kind = c->opt, .lr = 0.001, .momentum = 0.9, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8};
    if (model_build(&m, cfg, &err) < 0 || workspace_init(&ws, &m, batch, &err) < 0 ||
        optim_init(&o, &oc, m.nparams, &err) < 0 || sampler_init(&s, d->n, batch, 1, &err) < 0) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        exit(1);
    }
    float *params = malloc(m.nparams * sizeof(float));
    float *grads = malloc(m.nparams * sizeof(float));
    float *x = malloc((size_t)batch * shape_size(m.input) * sizeof(float));
    uint8_t *y = malloc((size_t)batch * d->targets);
    model_init_params(&m, params, 1);
    r.flops =
        model_forward_flops(&m, batch) + model_backward_flops(&m, batch) + optim_step_flops(&o);
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

/* One row of figures: the sgemm peak and both models' steps at the
 * current OpenBLAS thread count; returns how many targets were missed. */
static int bench_row(const BenchCase *cases, int ncases)
{
    double peak = 0;
    for (int n = 512; n <= 2048; n *= 2) {
        double g = bench_sgemm(n);
        if (g > peak)
            peak = g;
    }
    printf("\nOpenBLAS threads %d: sgemm peak %.1f GFLOP/s (best of 512, 1024, 2048 squares)\n",
           openblas_get_num_threads(), peak);
    int missed = 0;
    for (int i = 0; i < ncases; i++) {
        StepBench r = bench_model(&cases[i]);
        double frac = r.gflops / peak;
        printf("  %-44s %9.4g FLOP %9.3f ms %7.1f GFLOP/s %5.1f%% of peak (target %.0f%%)\n",
               cases[i].name, r.flops, r.ms, r.gflops, 100 * frac, 100 * cases[i].target);
        missed += frac < cases[i].target;
    }
    return missed;
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 256;
    if (batch <= 0 || argc > 2) {
        fprintf(stderr, "usage: bench_step [batch > 0]\n");
        return 2;
    }
    DtError err;
    Dataset d;
    SyntheticConfig sc = {
        .n = 4096, .shape = {1, 28, 28}, .classes = 10, .noise = 0.5f, .seed = 1, .stream = 1};
    if (dataset_synthetic(&d, &sc, &err) < 0) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    /* The models of scenarios/serial-mlp.ini and scenarios/serial-cnn.ini. */
    const char *mlp_keys[] = {"hidden=256,128", NULL};
    const char *cnn_keys[] = {"hidden=1024", "channels=32,64", "kernel=5", NULL};
    ModelSpec mlp, cnn;
    if (model_spec_init(&mlp, "mlp", mlp_keys, (Shape){1, 28, 28}, 10, &err) < 0 ||
        model_spec_init(&cnn, "cnn", cnn_keys, (Shape){1, 28, 28}, 10, &err) < 0) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    const char *gpt_keys[] = {"layers=4", "d_model=128", "heads=4", "seq_len=64", NULL};
    ModelSpec gpt;
    Dataset text;
    if (model_spec_init(&gpt, "gpt", gpt_keys, (Shape){64, 1, 1}, 96, &err) < 0 ||
        token_data(&text, 256, 64, 96) < 0) {
        fprintf(stderr, "bench_step: cannot make the gpt case\n");
        return 1;
    }
    const BenchCase cases[] = {
        {"mlp 784-256-128-10 (sgd)", &mlp, &d, batch, OPT_SGD, 0.60},
        {"cnn 5x5 conv 32, 64; dense 1024 (sgd)", &cnn, &d, batch, OPT_SGD, 0.35},
        {"gpt 4 x 128, 4 heads, T 64, batch 32 (adam)", &gpt, &text, 32, OPT_ADAM, 0.50},
    };
    const int ncases = sizeof cases / sizeof cases[0];
    printf("training step (gather, forward, loss, backward, update); mlp and cnn at batch %d\n",
           batch);
    int threads = openblas_get_num_threads();
    int missed = bench_row(cases, ncases);
    if (threads > 1) {
        /* The same on one core: sgemm and the step both single-threaded. */
        openblas_set_num_threads(1);
        missed += bench_row(cases, ncases);
        openblas_set_num_threads(threads);
    }
    dataset_free(&d);
    dataset_free(&text);
    model_spec_free(&mlp);
    model_spec_free(&cnn);
    model_spec_free(&gpt);
    return missed ? 1 : 0;
}
