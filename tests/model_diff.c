/*
 * model_diff.c - how far apart two saved parameter blocks are.
 *
 * Usage: model_diff A.bin B.bin TOL
 * Reads two files written by `dtsim run --save-model` (raw float32), prints
 * the relative difference |a - b|_2 / |a|_2 and the largest absolute
 * difference, and exits 0 when the relative difference is below TOL, 1 when
 * it is not, 2 when the files cannot be compared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *slurp_floats(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "model_diff: cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = bytes > 0 && bytes % 4 == 0 ? malloc((size_t)bytes) : NULL;
    *n = v ? (size_t)bytes / 4 : 0;
    if (!v || fread(v, 4, *n, f) != *n) {
        fprintf(stderr, "model_diff: %s is not a float32 parameter file\n", path);
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: model_diff A.bin B.bin TOL\n");
        return 2;
    }
    size_t na, nb;
    float *a = slurp_floats(argv[1], &na), *b = slurp_floats(argv[2], &nb);
    if (!a || !b || na != nb) {
        if (a && b)
            fprintf(stderr, "model_diff: %zu parameters against %zu\n", na, nb);
        free(a);
        free(b);
        return 2;
    }
    double diff = 0, norm = 0, worst = 0;
    for (size_t i = 0; i < na; i++) {
        double d = (double)a[i] - b[i];
        diff += d * d;
        norm += (double)a[i] * a[i];
        if (fabs(d) > worst || isnan(d))
            worst = isnan(d) ? INFINITY : fabs(d);
    }
    double rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
    double tol = atof(argv[3]);
    printf("%zu parameters, relative difference %.3g, largest absolute difference %.3g\n", na, rel,
           worst);
    free(a);
    free(b);
    return rel < tol ? 0 : 1;
}
