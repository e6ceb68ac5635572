/*
 * sweep_table.c - a sweep's results: sweep.csv, and the data and settings
 * plots/sweep.gp draws from (see sweep_grid.h).
 *
 * Speedup is throughput (samples per simulated second) against one
 * baseline shared by every variant, so that rows of different strategies
 * compare: the variant --baseline names, by default the one with the
 * fewest workers (the first of them in grid order).
 */
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_grid.h"

#define SWEEP_MAX_MEASURES 32

typedef struct SweepRow {
    double workers, steps, global_batch, seconds, loss, accuracy, bytes;
    double throughput;                /* samples per simulated second */
    double compute, comm, wait, idle; /* fractions of the ranks' total time */
    double speedup, efficiency;       /* against the baseline */
    cJSON *measures;                  /* the run's summary.json "measures" (owned) */
} SweepRow;

typedef struct SweepTable {
    const SweepArgs *a;
    int n;    /* variants */
    int base; /* the baseline variant */
    SweepRow *rows;
    const char *names[SWEEP_MAX_MEASURES]; /* measures any run reports */
    int nnames;
} SweepTable;

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : 0.0;
}

/* The same, NaN when the key is null or absent (compute = cost has no loss
 * and no accuracy). */
static double json_num_or_nan(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static cJSON *read_json(const char *path, DtError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dt_fail(err, DT_ERUNTIME, "cannot read %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    size_t got = text ? fread(text, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!text) {
        dt_fail(err, DT_ERUNTIME, "out of memory");
        return NULL;
    }
    text[got] = '\0';
    cJSON *s = cJSON_Parse(text);
    free(text);
    if (!s)
        dt_fail(err, DT_ERUNTIME, "%s is not JSON", path);
    return s;
}

static int sweep_read(const char *dir, SweepRow *row, DtError *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    cJSON *s = read_json(path, err);
    if (!s)
        return -1;
    *row = (SweepRow){
        .workers = json_num(s, "workers"),
        .steps = json_num(s, "steps"),
        .global_batch = json_num(s, "global_batch"),
        .seconds = json_num(s, "simulated_seconds"),
        .loss = json_num_or_nan(s, "final_loss"),
        .accuracy = json_num_or_nan(s, "test_accuracy"),
        .bytes = json_num(s, "bytes_communicated"),
    };
    row->throughput = row->seconds > 0 ? row->steps * row->global_batch / row->seconds : 0.0;
    double compute = 0, comm = 0, wait = 0, idle = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(s, "hosts"))
    {
        compute += json_num(h, "compute_seconds");
        comm += json_num(h, "comm_seconds");
        wait += json_num(h, "wait_seconds");
        idle += json_num(h, "idle_seconds");
    }
    double total = compute + comm + wait + idle;
    if (total > 0) {
        row->compute = compute / total;
        row->comm = comm / total;
        row->wait = wait / total;
        row->idle = idle / total;
    }
    row->measures = cJSON_DetachItemFromObjectCaseSensitive(s, "measures");
    cJSON_Delete(s);
    return 0;
}

/* The names of the measures any run reports, in order of first appearance. */
static void table_measure_names(SweepTable *t)
{
    t->nnames = 0;
    for (int v = 0; v < t->n; v++) {
        const cJSON *m;
        cJSON_ArrayForEach(m, t->rows[v].measures)
        {
            int seen = 0;
            for (int k = 0; k < t->nnames && !seen; k++)
                seen = strcmp(t->names[k], m->string) == 0;
            if (!seen && t->nnames < SWEEP_MAX_MEASURES)
                t->names[t->nnames++] = m->string;
        }
    }
}

/* A row's measure k, NAN when its run does not report it. */
static double row_measure(const SweepTable *t, int v, int k)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(t->rows[v].measures, t->names[k]);
    return cJSON_IsNumber(m) ? m->valuedouble : NAN;
}

/* Every row's speedup and efficiency against the baseline. */
static void table_speedup(SweepTable *t)
{
    if (t->base < 0) { /* the fewest workers, the first of them */
        t->base = 0;
        for (int v = 1; v < t->n; v++)
            if (t->rows[v].workers < t->rows[t->base].workers)
                t->base = v;
    }
    const SweepRow *b = &t->rows[t->base];
    for (int v = 0; v < t->n; v++) {
        SweepRow *r = &t->rows[v];
        r->speedup = b->throughput > 0 ? r->throughput / b->throughput : 0.0;
        r->efficiency = r->workers > 0 ? r->speedup * b->workers / r->workers : 0.0;
    }
}

/* sweep.csv: a header, then a line a variant; the measures as columns,
 * empty where a run does not report one. */
static void table_csv(FILE *f, const SweepTable *t)
{
    const SweepArgs *a = t->a;
    fprintf(f, "run");
    for (int k = 0; k < a->nvary; k++)
        for (int j = 0; j < a->vary[k].nkeys; j++)
            fprintf(f, ",%s", a->vary[k].keys[j]);
    fprintf(f, ",workers,simulated_seconds,seconds_per_step,samples_per_second,final_loss,"
               "test_accuracy,bytes_communicated,compute_fraction,comm_fraction,wait_fraction,"
               "idle_fraction,speedup,efficiency");
    for (int k = 0; k < t->nnames; k++)
        fprintf(f, ",%s", t->names[k]);
    fputc('\n', f);
    for (int v = 0; v < t->n; v++) {
        const SweepRow *r = &t->rows[v];
        double per_step = r->steps > 0 ? r->seconds / r->steps : 0.0;
        int pick[SWEEP_MAX_VARY];
        sweep_variant(a, v, pick);
        fprintf(f, "%d", v);
        for (int k = 0; k < a->nvary; k++)
            for (int j = 0; j < a->vary[k].nkeys; j++)
                fprintf(f, ",%s", a->vary[k].values[pick[k]][j]);
        fprintf(f, ",%.0f,%.9g,%.9g,%.9g", r->workers, r->seconds, per_step, r->throughput);
        if (isnan(r->loss)) /* compute = cost: nothing learned */
            fprintf(f, ",,");
        else
            fprintf(f, ",%.9g,%.6f", r->loss, r->accuracy);
        fprintf(f, ",%.0f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f", r->bytes, r->compute, r->comm, r->wait,
                r->idle, r->speedup, r->efficiency);
        for (int k = 0; k < t->nnames; k++) {
            double m = row_measure(t, v, k);
            if (isnan(m))
                fputc(',', f);
            else
                fprintf(f, ",%.9g", m);
        }
        fputc('\n', f);
    }
}

/* Do variants u and v differ in nothing but dimension d? */
static int same_but(const SweepArgs *a, int u, int v, int d)
{
    int pu[SWEEP_MAX_VARY], pv[SWEEP_MAX_VARY];
    sweep_variant(a, u, pu);
    sweep_variant(a, v, pv);
    for (int k = 0; k < a->nvary; k++)
        if (k != d && pu[k] != pv[k])
            return 0;
    return 1;
}

/* Does measure k change from one run to another (else it is not worth a
 * picture)? */
static int measure_varies(const SweepTable *t, int k)
{
    double first = row_measure(t, 0, k);
    for (int v = 1; v < t->n; v++) {
        double m = row_measure(t, v, k);
        if (isnan(m) != isnan(first) || (!isnan(m) && m != first))
            return 1;
    }
    return 0;
}

/* plot-groups.dat: one block per group of variants that differ only in
 * dimension d (blocks start with the group's label), by increasing value
 * of its first key: x, workers, speedup, efficiency, ideal speedup,
 * samples per second, seconds per step, then the measures. */
static void write_groups(FILE *f, const SweepTable *t, int d)
{
    const SweepArgs *a = t->a;
    int *done = calloc((size_t)t->n, sizeof *done);
    char label[512];
    if (!done)
        return;
    fprintf(f, "# x workers speedup efficiency ideal samples_per_second seconds_per_step");
    for (int k = 0; k < t->nnames; k++)
        fprintf(f, " %s", t->names[k]);
    fputc('\n', f);
    for (int v = 0, blocks = 0; v < t->n; v++) {
        if (done[v])
            continue;
        sweep_label(a, v, d, label, sizeof label);
        fprintf(f, "%s\"%s\"\n", blocks++ ? "\n\n" : "", label);
        for (;;) { /* the group's members, by increasing x */
            int best = -1, pick[SWEEP_MAX_VARY];
            double bx = 0;
            for (int u = 0; u < t->n; u++) {
                if (done[u] || !same_but(a, u, v, d))
                    continue;
                sweep_variant(a, u, pick);
                double x = strtod(a->vary[d].values[pick[d]][0], NULL);
                if (best < 0 || x < bx) {
                    best = u;
                    bx = x;
                }
            }
            if (best < 0)
                break;
            done[best] = 1;
            const SweepRow *r = &t->rows[best], *b = &t->rows[t->base];
            fprintf(f, "%.9g %.0f %.6f %.6f %.6g %.9g %.9g", bx, r->workers, r->speedup,
                    r->efficiency, b->workers > 0 ? r->workers / b->workers : 0.0, r->throughput,
                    r->steps > 0 ? r->seconds / r->steps : 0.0);
            for (int k = 0; k < t->nnames; k++)
                fprintf(f, " %.9g", row_measure(t, best, k));
            fputc('\n', f);
        }
    }
    free(done);
}

/* gnuplot string literal s (labels have no double quotes or backslashes
 * but a user's values might). */
static void gp_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++)
        fprintf(f, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    fputc('"', f);
}

/* plot-settings.gp: what the pictures show, for plots/sweep.gp. */
static void write_settings(FILE *f, const SweepTable *t, int d, int workers)
{
    char label[512];
    fprintf(f, "# written by dtsim sweep for plots/sweep.gp\n");
    fprintf(f, "runs = %d\n", t->n);
    fprintf(f, "xkey = ");
    gp_string(f, d >= 0 ? t->a->vary[d].keys[0] : "");
    fprintf(f, " # the varied key on the x axis of the scaling picture\n");
    fprintf(f, "xworkers = %d\n", workers);
    int text = 0; /* language models report a perplexity */
    for (int k = 0; k < t->nnames; k++)
        text |= strcmp(t->names[k], "perplexity") == 0;
    fprintf(f, "text = %d # language models: validation loss, next-character accuracy\n", text);
    int learned = 0;
    for (int v = 0; v < t->n; v++)
        learned |= !isnan(t->rows[v].loss);
    fprintf(f, "learned = %d # some run learned (compute = real): draw accuracy.png\n", learned);
    double lo = INFINITY, hi = 0;
    for (int i = 0; d >= 0 && i < t->a->vary[d].nvalues; i++) {
        double x = strtod(t->a->vary[d].values[i][0], NULL);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    fprintf(f, "xlog = %d # values from %g to %g\n", d >= 0 && lo > 0 && hi >= 4 * lo, lo, hi);
    sweep_label(t->a, t->base, -1, label, sizeof label);
    fprintf(f, "baseline = ");
    char both[600];
    snprintf(both, sizeof both, "run-%03d (%s)", t->base, label);
    gp_string(f, both);
    fprintf(f, "\n# measures worth a picture (they change), and their columns in "
               "plot-groups.dat\nmeasures = \"");
    for (int k = 0, n = 0; k < t->nnames; k++)
        if (measure_varies(t, k))
            fprintf(f, "%s%s", n++ ? " " : "", t->names[k]);
    fprintf(f, "\"\nmeasure_columns = \"");
    for (int k = 0, n = 0; k < t->nnames; k++)
        if (measure_varies(t, k))
            fprintf(f, "%s%d", n++ ? " " : "", 8 + k);
    fprintf(f, "\"\n");
}

/* plot-runs.dat: per variant, its directory, label and time fractions;
 * plot-groups.dat and plot-settings.gp (above). */
static int table_plot_data(const SweepTable *t, DtError *err)
{
    char path[PATH_MAX + 32], label[512];
    const char *names[3] = {"plot-runs.dat", "plot-groups.dat", "plot-settings.gp"};
    FILE *f[3] = {NULL, NULL, NULL};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", t->a->out, names[i]);
        bad |= !(f[i] = fopen(path, "w"));
    }
    if (!bad) {
        fprintf(f[0], "# run label compute_fraction comm_fraction wait_fraction idle_fraction\n");
        for (int v = 0; v < t->n; v++) {
            const SweepRow *r = &t->rows[v];
            sweep_label(t->a, v, -1, label, sizeof label);
            fprintf(f[0], "run-%03d \"%s\" %.6f %.6f %.6f %.6f\n", v, label, r->compute, r->comm,
                    r->wait, r->idle);
        }
        int workers, d = sweep_xdim(t->a, &workers);
        if (d >= 0)
            write_groups(f[1], t, d);
        write_settings(f[2], t, d, workers);
    }
    for (int i = 0; i < 3; i++)
        if (f[i]) {
            bad |= ferror(f[i]);
            bad |= fclose(f[i]) != 0;
        }
    return bad ? dt_fail(err, DT_ERUNTIME, "cannot write plot data in %s", t->a->out) : 0;
}

int sweep_table(const SweepArgs *a, int nvariants, int base, DtError *err)
{
    SweepTable t = {.a = a, .n = nvariants, .base = base};
    t.rows = calloc((size_t)nvariants, sizeof *t.rows);
    if (!t.rows)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    int rc = 0;
    for (int v = 0; v < nvariants && rc == 0; v++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/run-%03d", a->out, v);
        rc = sweep_read(dir, &t.rows[v], err);
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sweep.csv", a->out);
    if (rc == 0) {
        table_speedup(&t);
        table_measure_names(&t);
        FILE *f = fopen(path, "w");
        if (!f)
            rc = dt_fail(err, DT_ERUNTIME, "cannot write %s: %s", path, strerror(errno));
        if (f) {
            table_csv(f, &t);
            rc = fclose(f) != 0 ? dt_fail(err, DT_ERUNTIME, "error while writing %s", path) : 0;
        }
    }
    if (rc == 0)
        rc = table_plot_data(&t, err);
    if (rc == 0) {
        char label[512];
        sweep_label(a, t.base, -1, label, sizeof label);
        printf("sweep: %d runs; table in %s; speedup against run-%03d (%s)\n", nvariants, path,
               t.base, label);
    }
    for (int v = 0; v < nvariants; v++)
        cJSON_Delete(t.rows[v].measures);
    free(t.rows);
    return rc;
}
