/*
 * testutil.c - CUnit runner and comparison helpers (see testutil.h).
 */
#include "testutil.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int test_run(const char *suite, CU_TestInfo *tests)
{
    CU_SuiteInfo suites[] = {{suite, NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
    return test_run_suites(suites);
}

int test_run_suites(CU_SuiteInfo *suites)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "cannot register suites: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed == 0 && run > 0) ? 0 : 1;
}

double test_max_rel_diff(const float *a, const float *b, size_t n, double floor)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs(a[i]), fabs(b[i])), floor);
        double d = fabs((double)a[i] - b[i]) / scale;
        if (!(d <= worst)) /* also catches NaN */
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

const char *test_tmpdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/dtsim-test-%ld-XXXXXX", (long)getpid());
    if (!mkdtemp(buf))
        return NULL;
    return buf;
}

int test_model_build(Model *m, const TestModel *t, DtError *err)
{
    ModelSpec spec;
    DtError local;
    if (!err)
        err = &local;
    if (model_spec_init(&spec, t->kind, t->settings, t->input, t->classes, err) < 0)
        return -1;
    int rc = model_build(m, &spec, err);
    model_spec_free(&spec);
    return rc;
}
