/*
 * gemm.c - OpenBLAS behind the single gemm() entry point, and its naive twin.
 */
#include "gemm.h"

#include <cblas.h>

void gemm(const GemmArgs *g)
{
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                g->trans_b ? CblasTrans : CblasNoTrans, g->m, g->n, g->k, g->alpha, g->a, g->lda,
                g->b, g->ldb, g->beta, g->c, g->ldc);
}

void gemm_naive(const GemmArgs *g)
{
    for (int i = 0; i < g->m; i++) {
        for (int j = 0; j < g->n; j++) {
            double sum = 0.0;
            for (int p = 0; p < g->k; p++) {
                float a = g->trans_a ? g->a[p * g->lda + i] : g->a[i * g->lda + p];
                float b = g->trans_b ? g->b[j * g->ldb + p] : g->b[p * g->ldb + j];
                sum += (double)a * b;
            }
            float *c = &g->c[i * g->ldc + j];
            *c = g->alpha * (float)sum + (g->beta == 0.0f ? 0.0f : g->beta * *c);
        }
    }
}

void gemm_set_threads(int n)
{
    openblas_set_num_threads(n);
}

const char *gemm_library(void)
{
    return openblas_get_config();
}

const char *gemm_kernels(void)
{
    return openblas_get_corename();
}
