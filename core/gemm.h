/*
 * gemm.h - the one matrix-multiply entry point of dtsim.
 *
 * Every layer that multiplies matrices goes through gemm(), which calls
 * OpenBLAS cblas_sgemm.  gemm_naive() is the triple loop it must agree with;
 * it exists for the tests and is never called on a training path.
 *
 * Row-major, argument order as in darknet's gemm():
 *   C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C(m,n)
 * where op(X) is X, or X transposed when the matching flag is non-zero.
 * lda/ldb/ldc are the row strides of A, B and C as stored.
 *
 * FLOPs of one call: 2*m*n*k (one multiply and one add per term).  alpha
 * and beta scaling are not counted: callers use alpha = 1 and beta in {0, 1}.
 */
#ifndef DT_GEMM_H
#define DT_GEMM_H

typedef struct GemmArgs {
    int trans_a, trans_b;
    int m, n, k;
    float alpha;
    const float *a; /* (m, k), or (k, m) when trans_a */
    int lda;
    const float *b; /* (k, n), or (n, k) when trans_b */
    int ldb;
    float beta;
    float *c; /* (m, n) */
    int ldc;
} GemmArgs;

void gemm(const GemmArgs *g);
void gemm_naive(const GemmArgs *g);

/* Run gemm() on n threads.  OpenBLAS's sums depend on its thread count, so
 * whoever wants results that do not depend on the machine's cores or on
 * the environment (OPENBLAS_NUM_THREADS) sets it. */
void gemm_set_threads(int n);

/* The BLAS behind gemm(): its build ("OpenBLAS 0.3.21 DYNAMIC_ARCH ...") and
 * the kernels it chose for this processor ("Haswell").  Float results
 * depend on both, and on the thread count. */
const char *gemm_library(void);
const char *gemm_kernels(void);

#endif
