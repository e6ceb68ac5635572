/*
 * test_partition.c - a training set split among clients: every sample in
 * exactly one part, iid parts of equal size and mixed labels, shards of
 * few labels, Dirichlet parts skewed for small alpha and even for large,
 * the same parts from the same seed.
 */
#include <stdlib.h>
#include <string.h>

#include "partition.h"
#include "testutil.h"

#define N 1000
#define CLASSES 10

static uint8_t labels[N];

static void fill_labels(void)
{
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)((i * 7 + i / 13) % CLASSES);
}

/* Every sample once, indices ascending within each part. */
static void check_cover(const Partition *p)
{
    static int seen[N];
    memset(seen, 0, sizeof seen);
    CU_ASSERT_EQUAL(p->start[0], 0);
    CU_ASSERT_EQUAL(p->start[p->clients], N);
    for (int k = 0; k < p->clients; k++)
        for (int i = p->start[k]; i < p->start[k + 1]; i++) {
            CU_ASSERT_TRUE_FATAL(p->idx[i] >= 0 && p->idx[i] < N);
            seen[p->idx[i]]++;
            if (i > p->start[k])
                CU_ASSERT_TRUE(p->idx[i] > p->idx[i - 1]);
        }
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(seen[i], 1);
}

/* The mean number of labels a client holds. */
static double mean_labels(const Partition *p)
{
    double total = 0.0;
    for (int k = 0; k < p->clients; k++) {
        int has[CLASSES] = {0};
        for (int i = p->start[k]; i < p->start[k + 1]; i++)
            has[labels[p->idx[i]]] = 1;
        for (int c = 0; c < CLASSES; c++)
            total += has[c];
    }
    return total / p->clients;
}

static void test_iid(void)
{
    fill_labels();
    Partition p;
    CU_ASSERT_EQUAL_FATAL(partition_make(&p, PARTITION_IID, NULL, 1, N, CLASSES, 7, 0, 5, NULL), 0);
    check_cover(&p);
    for (int k = 0; k < 7; k++)
        CU_ASSERT_TRUE(partition_size(&p, k) == N / 7 || partition_size(&p, k) == N / 7 + 1);
    CU_ASSERT_TRUE(mean_labels(&p) > 9.5);
    partition_free(&p);
}

static void test_shards(void)
{
    fill_labels();
    Partition p;
    CU_ASSERT_EQUAL_FATAL(
        partition_make(&p, PARTITION_SHARDS, labels, 1, N, CLASSES, 20, 0, 5, NULL), 0);
    check_cover(&p);
    for (int k = 0; k < 20; k++)
        CU_ASSERT_EQUAL(partition_size(&p, k), N / 20);
    /* two shards of 25 in labels of 100 each: two labels, now and then
     * three (a shard across a label's end) */
    double m = mean_labels(&p);
    CU_ASSERT_TRUE(m >= 2.0 && m <= 2.5);
    partition_free(&p);
    /* more shards than samples: bad input */
    DtError err = {0};
    CU_ASSERT_EQUAL(partition_make(&p, PARTITION_SHARDS, labels, 1, 30, CLASSES, 20, 0, 5, &err),
                    -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
}

static void test_dirichlet(void)
{
    fill_labels();
    Partition skew, even, again;
    CU_ASSERT_EQUAL_FATAL(
        partition_make(&skew, PARTITION_DIRICHLET, labels, 1, N, CLASSES, 10, 0.1, 5, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(
        partition_make(&even, PARTITION_DIRICHLET, labels, 1, N, CLASSES, 10, 1000, 5, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(
        partition_make(&again, PARTITION_DIRICHLET, labels, 1, N, CLASSES, 10, 0.1, 5, NULL), 0);
    check_cover(&skew);
    check_cover(&even);
    CU_ASSERT_EQUAL(memcmp(skew.idx, again.idx, N * sizeof(int)), 0);
    CU_ASSERT_EQUAL(memcmp(skew.start, again.start, 11 * sizeof(int)), 0);
    CU_ASSERT_TRUE(mean_labels(&skew) < 5.0);
    CU_ASSERT_TRUE(mean_labels(&even) > 9.5);
    for (int k = 0; k < 10; k++) /* close to 100 each */
        CU_ASSERT_TRUE(abs(partition_size(&even, k) - 100) <= 15);
    partition_free(&skew);
    partition_free(&even);
    partition_free(&again);
}

static void test_seed_changes_parts(void)
{
    fill_labels();
    Partition a, b;
    CU_ASSERT_EQUAL_FATAL(partition_make(&a, PARTITION_IID, NULL, 1, N, CLASSES, 4, 0, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(partition_make(&b, PARTITION_IID, NULL, 1, N, CLASSES, 4, 0, 2, NULL), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a.idx, b.idx, N * sizeof(int)), 0);
    partition_free(&a);
    partition_free(&b);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"iid: equal parts, every label", test_iid},
        {"shards: two or three labels a client", test_shards},
        {"dirichlet: skewed for small alpha, even for large, seeded", test_dirichlet},
        {"another seed, other parts", test_seed_changes_parts},
        CU_TEST_INFO_NULL,
    };
    return test_run("partition", tests);
}
