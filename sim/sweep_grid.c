/*
 * sweep_grid.c - the options and variants of a sweep: --vary lists, linked keys, labels,
 * the x axis of the pictures and the named baseline (see sweep_grid.h).
 */
#include "sweep_grid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Split the keys before '=' ("k1,k2") into v->keys. */
static int vary_keys(Vary *v, const char *spec, const char *eq, DtError *err)
{
    v->nkeys = 0;
    for (const char *p = spec; p < eq;) {
        const char *end = memchr(p, ',', (size_t)(eq - p));
        if (!end)
            end = eq;
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot || dot == p || dot + 1 == end || end - p >= (long)sizeof v->keys[0])
            return dt_fail(err, DT_EINPUT,
                           "--vary %s: expected section.key=v1,v2,..., e.g. --vary "
                           "cluster.workers=1,2,4, or linked keys, e.g. --vary "
                           "cluster.workers,train.batch=1:512,2:256",
                           spec);
        if (v->nkeys == SWEEP_MAX_LINKED)
            return dt_fail(err, DT_EINPUT, "--vary %s: at most %d linked keys", spec,
                           SWEEP_MAX_LINKED);
        snprintf(v->keys[v->nkeys++], sizeof v->keys[0], "%.*s", (int)(end - p), p);
        p = end + 1;
    }
    return 0;
}

/* Each part of a value fits a --set "section.key=value". */
static int vary_lengths(const Vary *v, const char **parts, DtError *err)
{
    for (int n = 0; n < v->nkeys; n++)
        if (strlen(v->keys[n]) + 1 + strlen(parts[n]) >= SWEEP_SET_LEN)
            return dt_fail(err, DT_EINPUT,
                           "--vary %s: the value '%.40s...' is too long (%s=VALUE takes at most "
                           "%d characters)",
                           v->keys[n], parts[n], v->keys[n], SWEEP_SET_LEN - 1);
    return 0;
}

/* Split one value into its linked parts (in place). */
static int vary_value(Vary *v, char *tok, DtError *err)
{
    if (v->nvalues == SWEEP_MAX_VALUES)
        return dt_fail(err, DT_EINPUT, "--vary %s: at most %d values", v->keys[0],
                       SWEEP_MAX_VALUES);
    const char **parts = v->values[v->nvalues++];
    if (v->nkeys == 1) {
        parts[0] = tok;
        return vary_lengths(v, parts, err);
    }
    int colons = 0;
    for (const char *p = tok; *p; p++)
        colons += *p == ':';
    for (int n = 0; colons == v->nkeys - 1 && n < v->nkeys; n++) {
        parts[n] = tok;
        tok += strcspn(tok, ":");
        if (*tok)
            *tok++ = '\0';
        if (!*parts[n])
            colons = -1;
    }
    if (colons != v->nkeys - 1)
        return dt_fail(err, DT_EINPUT,
                       "--vary %s,...: each value needs %d parts joined by ':' (one per "
                       "key), e.g. 2:256",
                       v->keys[0], v->nkeys);
    return vary_lengths(v, parts, err);
}

int sweep_vary_parse(Vary *v, const char *spec, DtError *err)
{
    const char *eq = strchr(spec, '=');
    if (!eq || vary_keys(v, spec, eq, err) < 0) {
        if (!eq)
            dt_fail(err, DT_EINPUT,
                    "--vary %s: expected section.key=v1,v2,..., e.g. --vary cluster.workers=1,2,4",
                    spec);
        return -1;
    }
    if (!(v->text = strdup(eq + 1)))
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    v->nvalues = 0;
    for (char *save = NULL, *tok = strtok_r(v->text, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok && vary_value(v, tok, err) < 0)
            return -1;
    }
    if (v->nvalues == 0)
        return dt_fail(err, DT_EINPUT, "--vary %s: no values; give e.g. --vary %s=1,2,4",
                       v->keys[0], v->keys[0]);
    return 0;
}

void sweep_args_free(SweepArgs *a)
{
    for (int i = 0; i < a->nvary; i++)
        free(a->vary[i].text);
}

int sweep_vary_check(const SweepArgs *a, DtError *err)
{
    for (int k = 0; k < a->nvary; k++)
        for (int j = 0; j < a->vary[k].nkeys; j++)
            for (int l = k; l < a->nvary; l++)
                for (int m = l == k ? j + 1 : 0; m < a->vary[l].nkeys; m++)
                    if (strcmp(a->vary[k].keys[j], a->vary[l].keys[m]) == 0)
                        return dt_fail(err, DT_EINPUT,
                                       "--vary names %s twice; give its values once (link "
                                       "keys that change together: --vary k1,k2=a1:b1,a2:b2)",
                                       a->vary[k].keys[j]);
    return 0;
}

int sweep_count(const SweepArgs *a, DtError *err)
{
    int n = 1;
    for (int k = 0; k < a->nvary; k++) {
        n *= a->vary[k].nvalues;
        if (n > 4096)
            return dt_fail(err, DT_EINPUT, "the --vary grid has more than 4096 variants");
    }
    return n;
}

void sweep_variant(const SweepArgs *a, int variant, int *pick)
{
    for (int k = a->nvary - 1; k >= 0; k--) {
        pick[k] = variant % a->vary[k].nvalues;
        variant /= a->vary[k].nvalues;
    }
}

int sweep_sets(const SweepArgs *a, int variant, char sets[][SWEEP_SET_LEN])
{
    int pick[SWEEP_MAX_VARY], n = 0;
    sweep_variant(a, variant, pick);
    for (int k = 0; k < a->nvary; k++)
        for (int j = 0; j < a->vary[k].nkeys; j++)
            snprintf(sets[n++], SWEEP_SET_LEN, "%s=%s", a->vary[k].keys[j],
                     a->vary[k].values[pick[k]][j]);
    return n;
}

void sweep_label(const SweepArgs *a, int variant, int skip, char *buf, size_t size)
{
    int pick[SWEEP_MAX_VARY];
    sweep_variant(a, variant, pick);
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < a->nvary; k++) {
        for (int j = 0; j < a->vary[k].nkeys && k != skip && used < size; j++) {
            const char *key = strchr(a->vary[k].keys[j], '.') + 1;
            used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", used ? " " : "", key,
                                     a->vary[k].values[pick[k]][j]);
        }
    }
    if (!buf[0])
        snprintf(buf, size, "%s", "all");
}

static int is_number(const char *s)
{
    char *end = NULL;
    strtod(s, &end);
    return end != s && *end == '\0';
}

int sweep_xdim(const SweepArgs *a, int *workers)
{
    *workers = 0;
    for (int k = 0; k < a->nvary; k++)
        for (int j = 0; j < a->vary[k].nkeys; j++)
            if (strcmp(a->vary[k].keys[j], "cluster.workers") == 0 && a->vary[k].nvalues > 1) {
                *workers = 1;
                return k;
            }
    for (int k = 0; k < a->nvary; k++) {
        int numeric = a->vary[k].nvalues > 1;
        for (int i = 0; i < a->vary[k].nvalues && numeric; i++)
            numeric = is_number(a->vary[k].values[i][0]);
        if (numeric)
            return k;
    }
    return -1;
}

/* Does variant v set key to value? -1 when no --vary has the key. */
static int variant_has(const SweepArgs *a, int v, const char *key, size_t keylen, const char *value)
{
    int pick[SWEEP_MAX_VARY], found = 0;
    sweep_variant(a, v, pick);
    for (int k = 0; k < a->nvary; k++)
        for (int j = 0; j < a->vary[k].nkeys; j++)
            if (strlen(a->vary[k].keys[j]) == keylen && !strncmp(a->vary[k].keys[j], key, keylen)) {
                if (strcmp(a->vary[k].values[pick[k]][j], value) != 0)
                    return 0;
                found = 1;
            }
    return found ? 1 : -1;
}

/* Does variant v match every key=value of spec ("k=v,k=v")? -1 (with err)
 * when spec is malformed or names a key that is not varied. */
static int variant_matches(const SweepArgs *a, int v, const char *spec, DtError *err)
{
    char value[SWEEP_SET_LEN];
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p || len - (size_t)(eq - p) - 1 >= sizeof value)
            return dt_fail(err, DT_EINPUT,
                           "--baseline %s: expected a run number (e.g. 0 or run-000) or "
                           "section.key=value,... naming one variant",
                           spec);
        snprintf(value, sizeof value, "%.*s", (int)(len - (size_t)(eq - p) - 1), eq + 1);
        int has = variant_has(a, v, p, (size_t)(eq - p), value);
        if (has < 0)
            return dt_fail(err, DT_EINPUT, "--baseline %s: %.*s is not a key the sweep varies",
                           spec, (int)(eq - p), p);
        if (!has)
            return 0;
        p += len + (p[len] == ',');
    }
    return 1;
}

int sweep_baseline(const SweepArgs *a, int nvariants, DtError *err)
{
    const char *s = a->baseline;
    if (!s)
        return -1;
    const char *digits = strncmp(s, "run-", 4) == 0 ? s + 4 : s;
    if (*digits && strspn(digits, "0123456789") == strlen(digits)) {
        long v = strtol(digits, NULL, 10);
        if (v >= nvariants) {
            dt_fail(err, DT_EINPUT, "--baseline %s: the sweep has runs 0 to %d", s, nvariants - 1);
            return -2;
        }
        return (int)v;
    }
    int found = -1, count = 0;
    for (int v = 0; v < nvariants; v++) {
        int m = variant_matches(a, v, s, err);
        if (m < 0)
            return -2;
        if (m) {
            found = found < 0 ? v : found;
            count++;
        }
    }
    if (count != 1) {
        dt_fail(err, DT_EINPUT,
                "--baseline %s: %s; name every varied key, or give a run number (0 to %d)", s,
                count ? "several variants match" : "no variant matches", nvariants - 1);
        return -2;
    }
    return found;
}

int sweep_args_parse(SweepArgs *a, int argc, char **argv, DtError *err)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->jobs = cores > 0 ? (int)cores : 1;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_option(argc, argv, &i, "--vary", &v)) {
            if (!v)
                return dt_fail(err, DT_EINPUT, "--vary needs a value (see dtsim --help)");
            if (a->nvary == SWEEP_MAX_VARY)
                return dt_fail(err, DT_EINPUT, "at most %d --vary options", SWEEP_MAX_VARY);
            if (sweep_vary_parse(&a->vary[a->nvary++], v, err) < 0)
                return -1;
        } else if (cli_option(argc, argv, &i, "--out", &v)) {
            if (!v)
                return dt_fail(err, DT_EINPUT, "--out needs a value (see dtsim --help)");
            a->out = v;
        } else if (cli_option(argc, argv, &i, "--baseline", &v)) {
            if (!v)
                return dt_fail(err, DT_EINPUT, "--baseline needs a value (see dtsim --help)");
            a->baseline = v;
        } else if (cli_option(argc, argv, &i, "--jobs", &v)) {
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 1024)
                return dt_fail(err, DT_EINPUT, "--jobs %s: expected a whole number from 1 to 1024",
                               v ? v : "");
            a->jobs = (int)n;
        } else if (strcmp(argv[i], "--print-commands") == 0) {
            a->print_commands = 1;
        } else if (strcmp(argv[i], "--collect") == 0) {
            a->collect = 1;
        } else if (strcmp(argv[i], "--no-plot") == 0) {
            a->no_plot = 1;
        } else if (strcmp(argv[i], "--force") == 0) {
            if (!a->force && a->npass + 1 > SWEEP_MAX_PASS)
                return dt_fail(err, DT_EINPUT,
                               "--force: at most %d options (with their values) go to every run",
                               SWEEP_MAX_PASS);
            if (!a->force) /* once is enough */
                a->pass[a->npass++] = argv[i];
            a->force = 1;
        } else if (!strcmp(argv[i], "--platform") || !strcmp(argv[i], "--set") ||
                   !strncmp(argv[i], "--platform=", 11) || !strncmp(argv[i], "--set=", 6) ||
                   !strcmp(argv[i], "--cfg") || !strncmp(argv[i], "--cfg=", 6) ||
                   !strcmp(argv[i], "--trace-ranks") || !strncmp(argv[i], "--trace-ranks=", 14) ||
                   !strcmp(argv[i], "--threads") || !strncmp(argv[i], "--threads=", 10)) {
            a->threads |= !strncmp(argv[i], "--threads", 9);
            /* handed to every run as they are; "--opt value" or "--opt=value" */
            int has_value = !strchr(argv[i], '=');
            if (a->npass + 2 > SWEEP_MAX_PASS)
                return dt_fail(err, DT_EINPUT,
                               "%s: at most %d options (with their values) go to every run",
                               argv[i], SWEEP_MAX_PASS);
            a->pass[a->npass++] = argv[i];
            if (has_value) {
                if (i + 1 >= argc)
                    return dt_fail(err, DT_EINPUT, "%s needs a value", argv[i]);
                a->pass[a->npass++] = argv[++i];
            }
        } else if (argv[i][0] == '-') {
            return dt_fail(err, DT_EINPUT, "unknown option '%s' for dtsim sweep (see dtsim --help)",
                           argv[i]);
        } else if (!a->scenario) {
            a->scenario = argv[i];
        } else {
            return dt_fail(err, DT_EINPUT, "unexpected argument '%s': give one scenario", argv[i]);
        }
    }
    if (!a->scenario)
        return dt_fail(err, DT_EINPUT, "dtsim sweep needs a scenario file");
    if (a->nvary == 0)
        return dt_fail(err, DT_EINPUT,
                       "dtsim sweep needs at least one --vary section.key=v1,v2,...");
    return 0;
}
