/*
 * testutil.h - what every CUnit suite of dtsim shares: one runner, and
 * float comparisons that report where two arrays part ways.
 */
#ifndef DT_TESTUTIL_H
#define DT_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>

#include "model.h"

/* Register the tests (up to CU_TEST_INFO_NULL) as one suite, run them
 * verbosely, return 0 only when all passed. */
int test_run(const char *suite, CU_TestInfo *tests);
/* The same for several suites (up to CU_SUITE_INFO_NULL). */
int test_run_suites(CU_SuiteInfo *suites);

/* Largest |a-b| / max(|a|, |b|, floor) over n floats. */
double test_max_rel_diff(const float *a, const float *b, size_t n, double floor);

/* A writable temporary directory for this test process (created on first
 * use by the caller through test_tmpdir(buf, size)). */
const char *test_tmpdir(char *buf, size_t size);

/* A model for tests, given by its [model] keys as a scenario gives them. */
typedef struct TestModel {
    const char *kind;
    Shape input;
    int classes;
    const char *settings[8]; /* "key=value", up to a NULL */
} TestModel;

/* Build m from t, through the model's key table; 0, or -1 with err. */
int test_model_build(Model *m, const TestModel *t, DtError *err);

#endif
