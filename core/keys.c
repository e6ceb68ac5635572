/*
 * keys.c - parsing settings through their tables (see keys.h).
 */
#include "keys.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long keys_find(const KeyTable *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int in_range(const KeyDef *k, double v)
{
    return v >= k->min && !(k->min_open && v == k->min) && v <= k->max;
}

/* "a, b,c" into list (capacity k->size) and *count; an empty item
 * ("32,,16", "32,") is an error, not skipped. */
static int parse_int_list(const KeyDef *k, const char *value, int *list, int *count)
{
    char buf[256];
    if (strlen(value) >= sizeof buf)
        return -1;
    strcpy(buf, value);
    int n = 0;
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        long v;
        if ((size_t)n == k->size || parse_long(tok, &v) < 0 || !in_range(k, (double)v))
            return -1;
        list[n++] = (int)v;
    }
    *count = n;
    return 0;
}

static int parse_path(const KeyDef *k, char *field, const char *value, const char *dir)
{
    if (!value[0])
        return -1;
    if (value[0] == '/' || !dir || !dir[0]) {
        if (strlen(value) >= k->size)
            return -1;
        strcpy(field, value);
        return 0;
    }
    return (size_t)snprintf(field, k->size, "%s/%s", dir, value) >= k->size ? -1 : 0;
}

int key_parse(const KeyDef *k, void *config, const char *value, const char *dir)
{
    char *field = (char *)config + k->offset;
    switch (k->type) {
    case KEY_INT: {
        long v;
        if (parse_long(value, &v) < 0 || !in_range(k, (double)v))
            return -1;
        *(int *)field = (int)v;
        return 0;
    }
    case KEY_U64:
        return parse_u64(value, (uint64_t *)field);
    case KEY_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end != '\0' || !isfinite(v) || !in_range(k, v))
            return -1;
        *(double *)field = v;
        return 0;
    }
    case KEY_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (strcmp(value, k->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        return -1;
    case KEY_INT_LIST:
        return parse_int_list(k, value, (int *)field, (int *)((char *)config + k->count_offset));
    case KEY_STRING:
        if (!value[0] || strlen(value) >= k->size)
            return -1;
        strcpy(field, value);
        return 0;
    case KEY_PATH:
        return parse_path(k, field, value, dir);
    case KEY_CUSTOM:
        return k->parse(config, value);
    }
    return -1;
}

int key_append(const KeyDef *k, void *config, const char *value)
{
    char *field = (char *)config + k->offset;
    size_t used = strlen(field);
    if (k->type != KEY_STRING || used + 1 + strlen(value) >= k->size)
        return -1;
    int comma = used && field[used - 1] != ',';
    snprintf(field + used, k->size - used, "%s%s", comma ? "," : "", value);
    return 0;
}

void keys_format_number(double v, char *buf, size_t size)
{
    /* a whole number as one (10, not 1e+01) */
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

int key_format(const KeyDef *k, const void *config, int i, char *buf, size_t size)
{
    const char *field = (const char *)config + k->offset;
    if (k->type == KEY_CUSTOM)
        return k->format(config, i, buf, size);
    if (i > 0)
        return -1;
    switch (k->type) {
    case KEY_INT:
        snprintf(buf, size, "%d", *(const int *)field);
        break;
    case KEY_U64:
        snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case KEY_DOUBLE:
        keys_format_number(*(const double *)field, buf, size);
        break;
    case KEY_ENUM:
        snprintf(buf, size, "%s", k->choices[*(const int *)field]);
        break;
    case KEY_INT_LIST: {
        const int *list = (const int *)field;
        int n = *(const int *)((const char *)config + k->count_offset);
        size_t used = 0;
        buf[0] = '\0';
        for (int j = 0; j < n && used < size; j++)
            used += (size_t)snprintf(buf + used, size - used, "%s%d", j ? "," : "", list[j]);
        break;
    }
    default: /* KEY_STRING, KEY_PATH */
        snprintf(buf, size, "%s", field);
        break;
    }
    return 0;
}

int key_valid(const KeyDef *k, const void *config)
{
    const char *field = (const char *)config + k->offset;
    char probe[8];
    switch (k->type) {
    case KEY_INT:
        return in_range(k, (double)*(const int *)field);
    case KEY_DOUBLE:
        return in_range(k, *(const double *)field);
    case KEY_INT_LIST:
        return *(const int *)((const char *)config + k->count_offset) > 0;
    case KEY_STRING:
    case KEY_PATH:
        return field[0] != '\0';
    case KEY_CUSTOM:
        return k->format(config, 0, probe, sizeof probe) == 0;
    default:
        return 1;
    }
}

void key_expectation(const KeyDef *k, char *buf, size_t size)
{
    switch (k->type) {
    case KEY_ENUM: {
        size_t used = (size_t)snprintf(buf, size, "one of:");
        for (int i = 0; k->choices[i] && used < size; i++)
            used += (size_t)snprintf(buf + used, size - used, " %s", k->choices[i]);
        break;
    }
    case KEY_INT: /* the maximum said, however large */
        snprintf(buf, size, "a whole number from %.0f to %.0f", k->min, k->max);
        break;
    case KEY_U64:
        snprintf(buf, size, "a whole number >= 0");
        break;
    case KEY_DOUBLE:
        snprintf(buf, size, "a number %s %g and %s %g", k->min_open ? ">" : ">=", k->min,
                 "<=", k->max);
        break;
    case KEY_INT_LIST:
        snprintf(buf, size, "a comma-separated list of 1 to %zu whole numbers from %.0f to %.0f",
                 k->size, k->min, k->max);
        break;
    case KEY_STRING:
    case KEY_PATH:
        snprintf(buf, size, "a non-empty value shorter than %zu characters", k->size);
        break;
    case KEY_CUSTOM:
        snprintf(buf, size, "%s", k->expect);
        break;
    }
}

int keys_defaults(const KeyTable *t, void *config, DtError *err)
{
    for (size_t i = 0; i < t->n; i++) {
        const KeyDef *k = &t->keys[i];
        if (k->def[0] == '(')
            continue;
        if (key_parse(k, config, k->def, NULL) < 0)
            return dt_fail(err, DT_ERUNTIME, "[%s] %s: default '%s' does not parse", t->section,
                           k->name, k->def);
    }
    return 0;
}

int key_given(const KeySource *s, const char *name)
{
    long i = name ? keys_find(s->table, name) : -1;
    return i >= 0 && (s->line[i] || s->from_set[i]);
}

void key_origin(const KeySource *s, const char *name, char *buf, size_t size)
{
    long i = name ? keys_find(s->table, name) : -1;
    if (i >= 0 && s->from_set[i])
        snprintf(buf, size, "--set %s.%s", s->table->section, name);
    else if (i >= 0 && s->line[i])
        snprintf(buf, size, "%s:%d", s->file, s->line[i]);
    else
        snprintf(buf, size, "%s", s->file);
}

int key_fail(const KeySource *s, const char *name, DtError *err, const char *fmt, ...)
{
    char where[1100], msg[sizeof err->msg];
    key_origin(s, name, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dt_fail(err, DT_EINPUT, "%s: %s", where, msg);
}

int key_blame(const KeySource *s, const char *name, DtError *err)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    DtErrorKind kind = err->kind;
    char where[1100];
    key_origin(s, name, where, sizeof where);
    return dt_fail(err, kind, "%s: %s", where, msg);
}

int key_applies(const KeyTable *t, const KeyDef *k, const void *config)
{
    if (!k->when)
        return 1;
    long w = keys_find(t, k->when);
    char value[256];
    return w < 0 || (key_format(&t->keys[w], config, 0, value, sizeof value) == 0 &&
                     strcmp(value, k->is) == 0);
}

int keys_check_when(const KeySource *s, const void *config, DtError *err)
{
    const KeyTable *t = s->table;
    for (size_t i = 0; i < t->n; i++) {
        const KeyDef *k = &t->keys[i];
        if (!key_given(s, k->name) || key_applies(t, k, config))
            continue;
        char value[256];
        key_format(&t->keys[keys_find(t, k->when)], config, 0, value, sizeof value);
        return key_fail(s, k->name, err, "[%s] %s is for %s = %s, not %s = %s", t->section, k->name,
                        k->when, k->is, k->when, value);
    }
    return 0;
}
