/*
 * test_gemm.c - gemm() (OpenBLAS) against gemm_naive(), its oracle.
 *
 * Every layer's FLOPs go through gemm(), so its argument mapping (row-major,
 * transposes, leading dimensions, beta) is checked here in isolation: all
 * four transpose combinations, sizes from 1x1x1 to sizes that cross
 * OpenBLAS's blocking, leading dimensions larger than the matrices, and
 * beta 0 (C must be overwritten, even when it holds NaN) and 1 (C += A B).
 * Padding between rows of C must be left untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"
#include "rng.h"
#include "testutil.h"

#define LD_PAD 3          /* extra floats at the end of every stored row */
#define SENTINEL 12345.0f /* value of C's row padding, must survive */

typedef struct Size {
    int m, n, k;
} Size;

static const Size sizes[] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 96, 200}, {3, 64, 1}};

static float *alloc_random(size_t n, Rng *rng)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = 2.0f * rng_uniform(rng) - 1.0f;
    return x;
}

/* One comparison: C from gemm() and from gemm_naive(), same inputs. */
static void check_one(Size sz, int trans_a, int trans_b, float beta, Rng *rng)
{
    /* Stored shapes: A is (m, k) or (k, m); B is (k, n) or (n, k). */
    int a_rows = trans_a ? sz.k : sz.m, a_cols = trans_a ? sz.m : sz.k;
    int b_rows = trans_b ? sz.n : sz.k, b_cols = trans_b ? sz.k : sz.n;
    int lda = a_cols + LD_PAD, ldb = b_cols + LD_PAD, ldc = sz.n + LD_PAD;
    float *a = alloc_random((size_t)a_rows * lda, rng);
    float *b = alloc_random((size_t)b_rows * ldb, rng);
    float *c_blas = alloc_random((size_t)sz.m * ldc, rng);
    float *c_naive = malloc((size_t)sz.m * ldc * sizeof *c_naive);
    for (int i = 0; i < sz.m; i++) {
        for (int j = 0; j < ldc; j++) {
            float *x = &c_blas[(size_t)i * ldc + j];
            if (j >= sz.n)
                *x = SENTINEL;
            else if (beta == 0.0f)
                *x = NAN; /* beta = 0 must not read C */
        }
    }
    for (size_t i = 0; i < (size_t)sz.m * ldc; i++)
        c_naive[i] = c_blas[i];

    GemmArgs g = {.trans_a = trans_a,
                  .trans_b = trans_b,
                  .m = sz.m,
                  .n = sz.n,
                  .k = sz.k,
                  .alpha = 1.0f,
                  .a = a,
                  .lda = lda,
                  .b = b,
                  .ldb = ldb,
                  .beta = beta,
                  .c = c_blas,
                  .ldc = ldc};
    gemm(&g);
    g.c = c_naive;
    gemm_naive(&g);

    /* Entries are sums of k products of numbers in [-1, 1]; their float
     * rounding error grows like sqrt(k), hence the floor. */
    double floor = sqrt((double)sz.k);
    double worst = 0.0;
    int pad_ok = 1;
    for (int i = 0; i < sz.m; i++) {
        const float *rb = c_blas + (size_t)i * ldc, *rn = c_naive + (size_t)i * ldc;
        double d = test_max_rel_diff(rb, rn, (size_t)sz.n, floor);
        worst = d > worst ? d : worst;
        for (int j = sz.n; j < ldc; j++)
            pad_ok &= rb[j] == SENTINEL;
    }
    if (!(worst <= 1e-5))
        fprintf(stderr, "\n  gemm %dx%dx%d trans %d%d beta %g: max rel diff %g\n", sz.m, sz.n, sz.k,
                trans_a, trans_b, beta, worst);
    CU_ASSERT(worst <= 1e-5);
    CU_ASSERT(pad_ok);
    free(a);
    free(b);
    free(c_blas);
    free(c_naive);
}

static void check_all_sizes(int trans_a, int trans_b)
{
    Rng rng = rng_make(42, (uint64_t)(trans_a * 2 + trans_b));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_one(sizes[i], trans_a, trans_b, 0.0f, &rng);
        check_one(sizes[i], trans_a, trans_b, 1.0f, &rng);
    }
}

static void test_gemm_nn(void)
{
    check_all_sizes(0, 0);
}

static void test_gemm_tn(void)
{
    check_all_sizes(1, 0);
}

static void test_gemm_nt(void)
{
    check_all_sizes(0, 1);
}

static void test_gemm_tt(void)
{
    check_all_sizes(1, 1);
}

/* A hand-sized case whose answer is written out, so that the two
 * implementations cannot agree on a shared misreading of the layout. */
static void test_gemm_known_values(void)
{
    /* A (2, 3), B (3, 2) row-major; C = A B = [[58, 64], [139, 154]] */
    const float a[] = {1, 2, 3, 4, 5, 6};
    const float b[] = {7, 8, 9, 10, 11, 12};
    const float want[] = {58, 64, 139, 154};
    float c[4] = {1, 1, 1, 1};
    GemmArgs g = {.m = 2,
                  .n = 2,
                  .k = 3,
                  .alpha = 1.0f,
                  .a = a,
                  .lda = 3,
                  .b = b,
                  .ldb = 2,
                  .beta = 1.0f,
                  .c = c,
                  .ldc = 2};
    gemm(&g);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_DOUBLE_EQUAL(c[i], want[i] + 1.0, 1e-4);
    float cn[4] = {1, 1, 1, 1};
    g.c = cn;
    gemm_naive(&g);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_DOUBLE_EQUAL(cn[i], want[i] + 1.0, 1e-4);
}

static CU_TestInfo gemm_tests[] = {
    {"known 2x2x3 values", test_gemm_known_values},
    {"A B", test_gemm_nn},
    {"A^T B", test_gemm_tn},
    {"A B^T", test_gemm_nt},
    {"A^T B^T", test_gemm_tt},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return test_run("gemm", gemm_tests);
}
