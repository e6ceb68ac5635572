/*
 * test_sampler.c - global batches: each epoch a permutation, the same on
 * every replica, the tail dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "testutil.h"

static void test_epoch_is_permutation(void)
{
    Sampler s;
    CU_ASSERT_EQUAL_FATAL(sampler_init(&s, 103, 10, 7, NULL), 0);
    CU_ASSERT_EQUAL(sampler_steps_per_epoch(&s), 10);
    int seen[103] = {0};
    for (int step = 0; step < 10; step++) {
        const int *b = sampler_next(&s);
        for (int i = 0; i < 10; i++) {
            CU_ASSERT_TRUE_FATAL(b[i] >= 0 && b[i] < 103);
            seen[b[i]]++;
        }
    }
    int once = 0;
    for (int i = 0; i < 103; i++) {
        CU_ASSERT_TRUE(seen[i] <= 1);
        once += seen[i];
    }
    CU_ASSERT_EQUAL(once, 100); /* 3 samples of the tail dropped */
    sampler_free(&s);
}

static void test_replicas_agree_epochs_differ(void)
{
    Sampler a, b;
    CU_ASSERT_EQUAL_FATAL(sampler_init(&a, 50, 25, 3, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(sampler_init(&b, 50, 25, 3, NULL), 0);
    int first[25];
    for (int step = 0; step < 6; step++) {
        const int *x = sampler_next(&a), *y = sampler_next(&b);
        CU_ASSERT_EQUAL(memcmp(x, y, 25 * sizeof(int)), 0);
        if (step == 0)
            memcpy(first, x, sizeof first);
        if (step == 2) /* first batch of epoch 1: reshuffled */
            CU_ASSERT_NOT_EQUAL(memcmp(first, x, sizeof first), 0);
    }
    sampler_free(&a);
    sampler_free(&b);
}

static void test_batch_too_large(void)
{
    Sampler s;
    DtError err;
    CU_ASSERT_EQUAL(sampler_init(&s, 10, 11, 1, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "11"));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"an epoch is a permutation", test_epoch_is_permutation},
        {"replicas agree, epochs differ", test_replicas_agree_epochs_differ},
        {"batch larger than data", test_batch_too_large},
        CU_TEST_INFO_NULL,
    };
    return test_run("sampler", tests);
}
