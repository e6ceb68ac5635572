/*
 * test_sim_serial.c - a whole serial run inside the test process: its
 * simulated time must be the closed form steps * (sum over the step's
 * kernels of the roofline max(FLOPs / speed, bytes / memory bandwidth)),
 * all of it compute, and its result files must be what
 * DESIGN.md promises (a metrics row per evaluation, valid JSON summary and
 * Chrome trace).
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "run.h"
#include "testutil.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static double json_number(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    CU_ASSERT_TRUE_FATAL(cJSON_IsNumber(item));
    return item->valuedouble;
}

static void test_serial_time_is_closed_form(void)
{
    Scenario *sc = malloc(sizeof *sc);
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(
        scenario_load(sc, DTSIM_SOURCE_DIR "/tests/scenarios/tiny.ini", NULL, 0, &err), 0);
    char dir[256], out[300], path[400];
    CU_ASSERT_PTR_NOT_NULL_FATAL(test_tmpdir(dir, sizeof dir));
    snprintf(out, sizeof out, "%s/out", dir);
    RunOptions opts = {.out_dir = out, .quiet = 1};
    int rc = run_scenario(sc, &opts, &err);
    if (rc)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    /* The closed form, from core/ alone. */
    Model m;
    CU_ASSERT_EQUAL_FATAL(model_build(&m, &sc->model, &err), 0);
    Optimizer o;
    CU_ASSERT_EQUAL_FATAL(optim_init(&o, &sc->opt, m.nparams, &err), 0);
    /* platforms/one-gpu.xml: 14 TFLOP/s, 1.555 TB/s; each kernel takes the
     * longer of its compute time and its memory time (the roofline) */
    const double speed = 14e12, bw = 1.555e12;
    const int b = sc->batch;
#define ROOF(flops, bytes) fmax((flops) / speed, (bytes) / bw)
    double step =
        ROOF(softmax_xent_forward_flops(b, m.classes) + softmax_xent_backward_flops(b, m.classes),
             3.0 * 4 * b * m.classes) +
        ROOF(optim_step_flops(&o), optim_step_bytes(&o));
    for (int l = 0; l < m.nlayers; l++)
        step += ROOF(model_layer_forward_flops(&m, l, b), model_layer_forward_bytes(&m, l, b)) +
                ROOF(model_layer_backward_flops(&m, l, b), model_layer_backward_bytes(&m, l, b));
#undef ROOF
    optim_free(&o);
    double want = sc->steps * step;

    snprintf(path, sizeof path, "%s/summary.json", out);
    char *text = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    cJSON *summary = cJSON_Parse(text);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(summary);
    double got = json_number(summary, "simulated_seconds");
    CU_ASSERT_DOUBLE_EQUAL(got / want, 1.0, 1e-9);
    CU_ASSERT_EQUAL(json_number(summary, "steps"), sc->steps);
    CU_ASSERT_EQUAL(json_number(summary, "workers"), 1);
    CU_ASSERT_EQUAL(json_number(summary, "bytes_communicated"), 0);
    CU_ASSERT_EQUAL(json_number(summary, "parameters"), (double)m.nparams);
    CU_ASSERT_TRUE(json_number(summary, "test_accuracy") > 0.5); /* 10 classes: chance is 0.1 */
    const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(summary, "hosts");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(hosts), 1);
    const cJSON *h0 = cJSON_GetArrayItem(hosts, 0);
    CU_ASSERT_DOUBLE_EQUAL(json_number(h0, "compute_seconds") / want, 1.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_number(h0, "idle_seconds"), 0.0, want * 1e-9);
    CU_ASSERT_EQUAL(json_number(h0, "comm_seconds"), 0.0);
    cJSON_Delete(summary);

    /* metrics.csv: a header, then one row per evaluation (every 10 steps). */
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    text = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, 1 + sc->steps / sc->eval_every);
    CU_ASSERT_EQUAL(strncmp(text, "step,epoch,simulated_seconds,", 29), 0);
    free(text);

    /* trace.json: valid JSON; the compute spans of rank 0 add up to the run. */
    snprintf(path, sizeof path, "%s/trace.json", out);
    text = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    cJSON *trace = cJSON_Parse(text);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(trace, "traceEvents");
    double busy_us = 0;
    int spans = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, events)
    {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(ev, "ph");
        if (cJSON_IsString(ph) && strcmp(ph->valuestring, "X") == 0) {
            busy_us += json_number(ev, "dur");
            spans++;
        }
    }
    /* forward, loss, backward, update: four merged spans a step */
    CU_ASSERT_EQUAL(spans, 4 * sc->steps);
    CU_ASSERT_DOUBLE_EQUAL(busy_us * 1e-6 / want, 1.0, 1e-6);
    cJSON_Delete(trace);
    scenario_free(sc);
    free(sc);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"serial time is the closed form", test_serial_time_is_closed_form},
        CU_TEST_INFO_NULL,
    };
    return test_run("serial run", tests);
}
