/*
 * keys.h - settings declared as tables.
 *
 * Every setting a scenario file can hold is declared once, in a table of
 * KeyDefs beside the code that uses it: its name, type, range, default
 * and one line of help, and where its value goes in a plain config struct
 * (an offset).  sim/scenario.c owns the common sections; each model
 * (core/), each strategy (sim/strategies/) and the faults (sim/faults.c)
 * declare a table and a config struct of their own, so that adding one
 * edits no shared list of fields, and parsing, error messages and
 * `dtsim --help` all read the same table.
 *
 * This file parses one value into a config struct, says in words what a
 * key expects, fills a struct with the table's defaults, and remembers
 * where each key was set, so that a check across keys can name the line
 * at fault.  It reads no file and prints nothing.
 */
#ifndef DT_KEYS_H
#define DT_KEYS_H

#include <stddef.h> /* offsetof, for the KEYDEF_ rows */

#include "error.h"

typedef enum {
    KEY_INT,      /* int */
    KEY_U64,      /* uint64_t, >= 0 */
    KEY_DOUBLE,   /* double, finite */
    KEY_ENUM,     /* int: the index of the value among choices */
    KEY_INT_LIST, /* int[size] and an int count: "a, b, c" */
    KEY_STRING,   /* char[size], not empty */
    KEY_PATH,     /* char[size]: relative to the scenario's directory */
    KEY_CUSTOM    /* parsed by the table's own function */
} KeyType;

typedef struct KeyDef {
    const char *name;
    KeyType type;
    size_t offset;              /* of the value in the config struct */
    size_t count_offset;        /* KEY_INT_LIST: of its element count (an int) */
    double min, max;            /* numbers and list elements: inclusive range */
    int min_open;               /* the minimum itself is not allowed */
    const char *const *choices; /* KEY_ENUM: NULL-terminated names */
    size_t size;                /* KEY_STRING, KEY_PATH: buffer size; KEY_INT_LIST: capacity */
    /* The default as it would be written in the file, which keys_defaults
     * parses; one in parentheses describes a default that something else
     * computes, or none. */
    const char *def;
    const char *help;
    /* The key may stand on several lines: KEY_CUSTOM takes each value in
     * turn, KEY_STRING joins them with commas (a long list goes on over
     * indented lines). */
    int repeat;
    /* KEY_CUSTOM: store value in config (0), or -1 when it is not valid;
     * what a valid value looks like, for the error message; and the i-th
     * value config holds, as it would be written (-1 past the last). */
    int (*parse)(void *config, const char *value);
    const char *expect;
    int (*format)(const void *config, int i, char *buf, size_t size);
    /* Its default depends on other keys (written "(...)"), and the value
     * in effect is worth recording even when no one gave it. */
    int derived;
    /* The key means something only while key `when` of its table has the
     * value `is` (as written): given otherwise it is an error
     * (keys_check_when), not given it is left out of what a scenario
     * records.  NULL: always. */
    const char *when, *is;
} KeyDef;

/* Rows of a table for a config struct T, one line each: an int, a double
 * (open: the minimum itself is not allowed), an enum (names: its
 * NULL-terminated choices), a list of ints (n: the count field, cap: the
 * capacity), and text (kind KEY_STRING or KEY_PATH; field a char array). */
// clang-format off
#define KEYDEF_INT(T, key, field, lo, hi, d, h)                                                    \
    {.name = key, .type = KEY_INT, .offset = offsetof(T, field), .min = lo, .max = hi, .def = d,  \
     .help = h}
#define KEYDEF_REAL(T, key, field, lo, open, hi, d, h)                                             \
    {.name = key, .type = KEY_DOUBLE, .offset = offsetof(T, field), .min = lo, .min_open = open,  \
     .max = hi, .def = d, .help = h}
#define KEYDEF_ENUM(T, key, field, names, d, h)                                                    \
    {.name = key, .type = KEY_ENUM, .offset = offsetof(T, field), .choices = names, .def = d,     \
     .help = h}
#define KEYDEF_LIST(T, key, field, n, lo, hi, cap, d, h)                                           \
    {.name = key, .type = KEY_INT_LIST, .offset = offsetof(T, field),                             \
     .count_offset = offsetof(T, n), .min = lo, .max = hi, .size = cap, .def = d, .help = h}
#define KEYDEF_TEXT(T, key, kind, field, d, h)                                                     \
    {.name = key, .type = kind, .offset = offsetof(T, field), .size = sizeof(((T *)0)->field),    \
     .def = d, .help = h}
// clang-format on

/* The keys of one section (or of one strategy's or model's part of it). */
typedef struct KeyTable {
    const char *section;
    const KeyDef *keys;
    size_t n;
} KeyTable;

/* Index of the key called name, or -1. */
long keys_find(const KeyTable *t, const char *name);

/* Store value into config as k says; 0, or -1 when it is malformed or out
 * of range.  A relative KEY_PATH is taken relative to dir (NULL or "": as
 * it is). */
int key_parse(const KeyDef *k, void *config, const char *value, const char *dir);
/* A KEY_STRING with repeat set, given again on a later line: append
 * value, after a comma unless there is one; -1 when it does not fit. */
int key_append(const KeyDef *k, void *config, const char *value);

/* The i-th value of k in config, as it would be written in a file (only
 * a repeated KEY_CUSTOM has more than one); -1 past the last. */
int key_format(const KeyDef *k, const void *config, int i, char *buf, size_t size);
/* Is the value of k in config one the key accepts (a count of 0 where the
 * minimum is 1 means "not set")? */
int key_valid(const KeyDef *k, const void *config);
/* Does k mean something with the other values of config (its `when`)? */
int key_applies(const KeyTable *t, const KeyDef *k, const void *config);

/* The shortest decimal that reads back as v. */
void keys_format_number(double v, char *buf, size_t size);

/* What a valid value of k looks like, in words ("a whole number from 1 to
 * 64"), for error messages. */
void key_expectation(const KeyDef *k, char *buf, size_t size);

/* Set every key of t whose default is a value (not in parentheses) to it.
 * Returns -1 with a message naming the key when a default does not parse:
 * a mistake in the table, which a unit test keeps out. */
int keys_defaults(const KeyTable *t, void *config, DtError *err);

/* Where the keys of one table were set, for checks across keys. */
typedef struct KeySource {
    const char *file; /* the scenario file */
    const KeyTable *table;
    const int *line;      /* (table->n) the key's line in the file, 0 when not there */
    const char *from_set; /* (table->n) 1 when --set gave it (which wins over the file) */
} KeySource;

/* Was the key set, in the file or with --set?  0 for a name not in the table. */
int key_given(const KeySource *s, const char *name);
/* "FILE:LINE" or "--set SECTION.NAME" where the key was set; the file
 * alone when it was not (or name is NULL). */
void key_origin(const KeySource *s, const char *name, char *buf, size_t size);
/* Lead the message already in err with key_origin(s, name) (for a check
 * made by code that does not know where its input came from); -1. */
int key_blame(const KeySource *s, const char *name, DtError *err);
/* dt_fail(err, DT_EINPUT, ...) with the message led by key_origin(s, name). */
int key_fail(const KeySource *s, const char *name, DtError *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Every key given where it does not apply is an error naming its line:
 * "[train] beta1 is for optimizer = adam, not optimizer = sgd". */
int keys_check_when(const KeySource *s, const void *config, DtError *err);

#endif
