/*
 * scenario.c - reading a scenario INI file into a Scenario.
 *
 * One table below declares every key: where it lives in the Scenario, its
 * type and range, its default as text, and one line of help.  The libinih
 * callback looks a key up in the table and parses its value; the same code
 * applies `--set section.key=value` overrides; scenario_print_keys() prints
 * the table for `dtsim --help`.  Keys the table does not know are errors,
 * never silently ignored: a typo must not quietly run the default.
 *
 * Paths in the file (platform, data path) are relative to the scenario file,
 * so a scenario runs from any directory; paths given with --set are relative
 * to the current directory, as on any command line.
 */
#include "scenario.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "strategy.h"

typedef enum {
    KEY_INT,
    KEY_U64,
    KEY_DOUBLE,
    KEY_ENUM,
    KEY_INT_LIST,
    KEY_STRING,
    KEY_PATH,
    KEY_SLOWDOWN
} KeyType;

typedef struct KeyDef {
    const char *section, *name;
    KeyType type;
    size_t offset;              /* of the value in Scenario */
    size_t count_offset;        /* KEY_INT_LIST: of its element count */
    double min, max;            /* numbers and list elements: inclusive range */
    int min_open;               /* the minimum itself is not allowed */
    const char *const *choices; /* KEY_ENUM: NULL-terminated names */
    size_t size;                /* KEY_STRING, KEY_PATH: buffer size; KEY_INT_LIST: capacity */
    const char *def;            /* default, as it would be written in the file */
    const char *help;
    const char *only; /* the strategies this key belongs to ("a,b"), NULL: any */
} KeyDef;

static const char *const model_kinds[] = {"mlp", "cnn", NULL};
static const char *const datasets[] = {"fashion-mnist", "synthetic", NULL};
static const char *const optimizers[] = {"sgd", "adam", NULL};
static const char *const on_off[] = {"off", "on", NULL};
static const char *const ps_modes[] = {"sync", "async", "ssp", NULL};
static const char *const balances[] = {"equal", "speed", NULL};
static const char *const schedules[] = {"gpipe", "1f1b", NULL};

#define AT(field) offsetof(Scenario, field)
#define BIG 1e9

#define INT(sec, key, field, lo, hi, d, h)                                                         \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_INT, .offset = AT(field), .min = lo, .max = hi,   \
        .def = d, .help = h                                                                        \
    }
#define REAL(sec, key, field, lo, open, hi, d, h)                                                  \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_DOUBLE, .offset = AT(field), .min = lo,           \
        .min_open = open, .max = hi, .def = d, .help = h                                           \
    }
#define ENUM(sec, key, field, names, d, h)                                                         \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_ENUM, .offset = AT(field), .choices = names,      \
        .def = d, .help = h                                                                        \
    }
#define LIST(sec, key, field, count, lo, hi, d, h)                                                 \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_INT_LIST, .offset = AT(field),                    \
        .count_offset = AT(count), .min = lo, .max = hi, .size = MODEL_MAX_WIDTHS, .def = d,       \
        .help = h                                                                                  \
    }
/* A strategy key: like INT or ENUM, for the strategies listed in `for`. */
#define SINT(key, field, lo, hi, d, for, h)                                                        \
    {                                                                                              \
        .section = "strategy", .name = key, .type = KEY_INT, .offset = AT(field), .min = lo,       \
        .max = hi, .def = d, .help = h, .only = for                                                \
    }
#define SENUM(key, field, names, d, for, h)                                                        \
    {                                                                                              \
        .section = "strategy", .name = key, .type = KEY_ENUM, .offset = AT(field),                 \
        .choices = names, .def = d, .help = h, .only = for                                         \
    }
#define TEXT(sec, key, kind, field, d, h)                                                          \
    {                                                                                              \
        .section = sec, .name = key, .type = kind, .offset = AT(field),                            \
        .size = sizeof(((Scenario *)0)->field), .def = d, .help = h                                \
    }

static const KeyDef keys[] = {
    ENUM("model", "kind", model.kind, model_kinds, "mlp",
         "network: mlp (dense layers) or cnn (conv blocks, then dense layers)"),
    LIST("model", "hidden", model.hidden, model.nhidden, 1, 65536, "256,128 (mlp), 128 (cnn)",
         "widths of the hidden dense layers"),
    LIST("model", "channels", model.conv, model.nconv, 1, 4096, "16,32",
         "cnn: output channels of each conv (kernel x kernel) + 2x2 max-pool block"),
    INT("model", "kernel", model.kernel, 1, 15, "3",
        "cnn: odd size of the square conv kernels (padded to keep the image size)"),
    ENUM("data", "dataset", dataset, datasets, "fashion-mnist",
         "fashion-mnist (real data) or synthetic (seeded, for quick tests)"),
    TEXT("data", "path", KEY_PATH, data_path, DT_FASHION_MNIST_DIR,
         "directory holding the Fashion-MNIST IDX .gz files"),
    INT("data", "train_samples", train_samples, 0, BIG, "0",
        "training samples to use (0: all; synthetic: 0 means 10000)"),
    INT("data", "test_samples", test_samples, 0, BIG, "0",
        "test samples to evaluate on (0: all; synthetic: 0 means 2000)"),
    REAL("data", "noise", noise, 0, 0, 100, "0.5",
         "synthetic: half-width of the uniform noise around each class prototype"),
    INT("train", "batch", batch, 1, 1 << 20, "64", "samples one model replica processes per step"),
    ENUM("train", "optimizer", opt.kind, optimizers, "sgd",
         "sgd (with momentum, weight_decay) or adam"),
    REAL("train", "lr", opt.lr, 0, 1, 100, "0.05 (sgd), 0.001 (adam)", "learning rate"),
    REAL("train", "momentum", opt.momentum, 0, 0, 1, "0.9", "sgd momentum, in [0, 1)"),
    REAL("train", "weight_decay", opt.weight_decay, 0, 0, 1, "0",
         "L2 penalty added to the gradient"),
    REAL("train", "beta1", opt.beta1, 0, 0, 1, "0.9", "adam first-moment decay, in [0, 1)"),
    REAL("train", "beta2", opt.beta2, 0, 0, 1, "0.999", "adam second-moment decay, in [0, 1)"),
    REAL("train", "eps", opt.eps, 0, 1, 1, "1e-8", "adam epsilon"),
    INT("train", "epochs", epochs, 1, 1e6, "1", "passes over the training set (or give steps)"),
    INT("train", "steps", steps, 1, BIG, "-", "global training steps (instead of epochs)"),
    {.section = "train",
     .name = "seed",
     .type = KEY_U64,
     .offset = AT(seed),
     .def = "1",
     .help = "seeds initialisation, shuffling and synthetic data"},
    INT("train", "eval_every", eval_every, 0, BIG, "0",
        "steps between test evaluations (0: at the end of every epoch)"),
    TEXT("cluster", "platform", KEY_PATH, platform, "(required)",
         "SimGrid platform XML, relative to the scenario file"),
    INT("cluster", "workers", workers, 1, 1 << 20, "1", "ranks (devices) in all"),
    TEXT("cluster", "hosts", KEY_STRING, hosts, "(the first hosts in name order)",
         "comma-separated hosts, rank r on the r-th (continue a long list on indented lines)"),
    TEXT("strategy", "kind", KEY_STRING, strategy, "serial",
         "training strategy (see the list above)"),
    {.section = "strategy",
     .name = "allreduce",
     .type = KEY_STRING,
     .offset = AT(allreduce),
     .size = sizeof(((Scenario *)0)->allreduce),
     .def = "ring",
     .help = "data-parallel: all-reduce algorithm: ring, rhd (power-of-two workers), tree, or ps "
             "(through rank 0)",
     .only = "data-parallel"},
    {.section = "strategy",
     .name = "overlap",
     .type = KEY_ENUM,
     .offset = AT(overlap),
     .choices = on_off,
     .def = "on",
     .help = "data-parallel: all-reduce gradient buckets while backward runs (on) or after it",
     .only = "data-parallel"},
    {.section = "strategy",
     .name = "bucket_mb",
     .type = KEY_DOUBLE,
     .offset = AT(bucket_mb),
     .min = 0,
     .min_open = 1,
     .max = 1e6,
     .def = "25",
     .help = "data-parallel: gradient bucket size in MB (1e6 bytes) with overlap = on",
     .only = "data-parallel"},
    {.section = "strategy",
     .name = "servers",
     .type = KEY_INT,
     .offset = AT(servers),
     .min = 1,
     .max = 1 << 16,
     .def = "1",
     .help = "parameter-server: server ranks, each owning a slice of the parameters, on hosts "
             "after the workers'",
     .only = "parameter-server"},
    SENUM("mode", mode, ps_modes, "sync", "parameter-server",
          "parameter-server: sync (one update per step from all workers), async (each "
          "gradient applied as it arrives) or ssp (bounded staleness)"),
    SINT("staleness", staleness, 0, 1 << 20, "(required with ssp)", "parameter-server",
         "mode = ssp: steps a worker may run ahead of the slowest one"),
    SINT("backup_workers", backup_workers, 0, 1 << 16, "0", "parameter-server",
         "mode = sync: run workers + this many, and use the first `workers` gradients of each "
         "step"),
    SENUM("balance", balance, balances, "equal", "data-parallel",
          "data-parallel: split each global batch equally, or in proportion to host speed"),
    SINT("stages", stages, 1, MODEL_MAX_LAYERS, "2", "pipeline",
         "pipeline: stages, one host each, holding consecutive layers"),
    SINT("microbatches", microbatches, 1, 1 << 20, "4", "pipeline,hybrid",
         "pipeline, hybrid: micro-batches each mini-batch is cut into"),
    SENUM("schedule", schedule, schedules, "1f1b", "pipeline,hybrid",
          "pipeline, hybrid: gpipe (all forwards, then all backwards) or 1f1b"),
    {.section = "strategy",
     .name = "split",
     .type = KEY_INT_LIST,
     .offset = AT(split),
     .count_offset = AT(nsplit),
     .min = 1,
     .max = MODEL_MAX_LAYERS - 1,
     .size = MODEL_MAX_LAYERS,
     .def = "(balanced by FLOPs)",
     .help = "pipeline, hybrid: first layer (0-based) of stages 1, 2, ... in increasing order",
     .only = "pipeline,hybrid"},
    SINT("tp", tp, 1, 1 << 16, "2", "tensor,hybrid",
         "tensor, hybrid: devices each dense layer pair is split across"),
    SINT("dp", dp, 1, 1 << 20, "1", "hybrid", "hybrid: data-parallel replicas"),
    SINT("pp", pp, 1, MODEL_MAX_LAYERS, "1", "hybrid", "hybrid: pipeline stages"),
    {.section = "faults",
     .name = "slowdown",
     .type = KEY_SLOWDOWN,
     .def = "(none)",
     .help = "HOST START END FACTOR: the host runs at FACTOR (0 < FACTOR <= 1) of its speed "
             "from START to END simulated seconds; repeat the key for more"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* What the parse knows besides the Scenario: where each key was set. */
typedef struct ParseState {
    Scenario *sc;
    const char *where;   /* the file, or "--set" */
    char dir[PATH_MAX];  /* directory that relative paths start from */
    int line[NKEYS];     /* line of the key's setting in the file, 0 if unset */
    int from_set[NKEYS]; /* set on the command line */
    int current_line;    /* for overrides: not from a file */
    DtError *err;
    int failed; /* line where the handler wrote err, 0 if it did not */
} ParseState;

/* Index of a key in the table, or -1 when there is no such key. */
static long key_index(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int section_known(const char *section)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0)
            return 1;
    return 0;
}

static void key_expectation(const KeyDef *k, char *buf, size_t size)
{
    switch (k->type) {
    case KEY_ENUM: {
        size_t used = (size_t)snprintf(buf, size, "one of:");
        for (int i = 0; k->choices[i] && used < size; i++)
            used += (size_t)snprintf(buf + used, size - used, " %s", k->choices[i]);
        break;
    }
    case KEY_INT:
        if (k->max >= BIG)
            snprintf(buf, size, "a whole number >= %.0f", k->min);
        else
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
    case KEY_SLOWDOWN:
        snprintf(buf, size,
                 "HOST START END FACTOR with 0 <= START < END and 0 < FACTOR <= 1, at most %d "
                 "of them",
                 SCENARIO_MAX_SLOWDOWNS);
        break;
    }
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

/* Parse one value into the Scenario; 0 if it is well-formed and in range. */
static int key_store(const KeyDef *k, ParseState *ps, const char *value)
{
    char *field = (char *)ps->sc + k->offset;
    switch (k->type) {
    case KEY_INT: {
        long v;
        if (parse_long(value, &v) < 0 || v < k->min || v > k->max)
            return -1;
        *(int *)field = (int)v;
        return 0;
    }
    case KEY_U64: {
        char *end;
        errno = 0;
        if (value[0] == '-')
            return -1;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end != '\0')
            return -1;
        *(uint64_t *)field = (uint64_t)v;
        return 0;
    }
    case KEY_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end != '\0' || !isfinite(v) || v < k->min ||
            (k->min_open && v == k->min) || v > k->max)
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
    case KEY_INT_LIST: {
        int *list = (int *)field;
        int *count = (int *)((char *)ps->sc + k->count_offset);
        char buf[256];
        if (strlen(value) >= sizeof buf)
            return -1;
        strcpy(buf, value);
        int n = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            size_t len = strlen(tok);
            while (len && tok[len - 1] == ' ')
                tok[--len] = '\0';
            long v;
            if ((size_t)n == k->size || parse_long(tok, &v) < 0 || v < k->min || v > k->max)
                return -1;
            list[n++] = (int)v;
        }
        if (n == 0)
            return -1;
        *count = n;
        return 0;
    }
    case KEY_STRING:
        if (!value[0] || strlen(value) >= k->size)
            return -1;
        strcpy(field, value);
        return 0;
    case KEY_SLOWDOWN: {
        Slowdown *w = &ps->sc->slowdowns[ps->sc->nslowdowns];
        char host[sizeof w->host + 1], rest;
        if (ps->sc->nslowdowns == SCENARIO_MAX_SLOWDOWNS ||
            sscanf(value, "%128s %lf %lf %lf %c", host, &w->start, &w->end, &w->factor, &rest) !=
                4 ||
            strlen(host) >= sizeof w->host || !isfinite(w->start) || !isfinite(w->end) ||
            w->start < 0.0 || w->end <= w->start || !(w->factor > 0.0 && w->factor <= 1.0))
            return -1;
        strcpy(w->host, host);
        ps->sc->nslowdowns++;
        return 0;
    }
    case KEY_PATH:
        if (!value[0])
            return -1;
        if (value[0] == '/' || !ps->dir[0]) {
            if (strlen(value) >= k->size)
                return -1;
            strcpy(field, value);
        } else if ((size_t)snprintf(field, k->size, "%s/%s", ps->dir, value) >= k->size) {
            return -1;
        }
        return 0;
    }
    return -1;
}

/* Set one key; on error, write a message that says where and what to write. */
static int scenario_set(ParseState *ps, const char *section, const char *name, const char *value,
                        int lineno)
{
    char loc[PATH_MAX + 32];
    if (lineno > 0)
        snprintf(loc, sizeof loc, "%s:%d", ps->where, lineno);
    else
        snprintf(loc, sizeof loc, "--set %s.%s=%s", section, name, value);
    long index = key_index(section, name);
    if (index < 0) {
        if (!section_known(section))
            return dt_fail(ps->err, DT_EINPUT,
                           "%s: unknown section [%s]; sections are [model] [data] [train] "
                           "[cluster] [strategy] [faults] (see dtsim --help)",
                           loc, section);
        return dt_fail(ps->err, DT_EINPUT,
                       "%s: unknown key '%s' in [%s]; `dtsim --help` lists the keys", loc, name,
                       section);
    }
    const KeyDef *k = &keys[index];
    /* A long host list may go on over indented lines: libinih hands each
     * line over as the same key again. */
    if (lineno > 0 && ps->line[index] && strcmp(name, "hosts") == 0 &&
        strcmp(section, "cluster") == 0) {
        size_t used = strlen(ps->sc->hosts);
        if (used + 1 + strlen(value) >= sizeof ps->sc->hosts)
            return dt_fail(ps->err, DT_EINPUT, "%s: [cluster] hosts is longer than %zu characters",
                           loc, sizeof ps->sc->hosts - 1);
        int comma = used && ps->sc->hosts[used - 1] != ',';
        snprintf(ps->sc->hosts + used, sizeof ps->sc->hosts - used, "%s%s", comma ? "," : "",
                 value);
        return 0;
    }
    if (lineno > 0 && ps->line[index] && k->type != KEY_SLOWDOWN)
        return dt_fail(ps->err, DT_EINPUT, "%s: [%s] %s is already set on line %d", loc, section,
                       name, ps->line[index]);
    if (key_store(k, ps, value) < 0) {
        char expect[256];
        key_expectation(k, expect, sizeof expect);
        return dt_fail(ps->err, DT_EINPUT, "%s: [%s] %s = '%s' is not valid: expected %s (%s)", loc,
                       section, name, value, expect, k->help);
    }
    if (lineno > 0)
        ps->line[index] = lineno;
    else
        ps->from_set[index] = 1;
    return 0;
}

static int scenario_ini_handler(void *user, const char *section, const char *name,
                                const char *value)
{
    ParseState *ps = user;
    if (ps->failed)
        return 0; /* keep the first error */
    if (scenario_set(ps, section, name, value, ps->current_line) < 0) {
        ps->failed = ps->current_line;
        return 0;
    }
    return 1;
}

/* libinih tells the failing line only through ini_parse's return value, so
 * the handler reports it by re-reading: count lines as the reader goes. */
typedef struct LineReader {
    FILE *f;
    ParseState *ps;
} LineReader;

static char *line_reader(char *str, int num, void *stream)
{
    LineReader *lr = stream;
    char *s = fgets(str, num, lr->f);
    if (s)
        lr->ps->current_line++;
    return s;
}

static void scenario_defaults(Scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->model.kind = MODEL_MLP;
    sc->model.input = (Shape){1, 28, 28};
    sc->model.classes = 10;
    sc->model.kernel = 3;
    sc->dataset = DATA_FASHION_MNIST;
    strcpy(sc->data_path, DT_FASHION_MNIST_DIR);
    sc->noise = 0.5;
    sc->batch = 64;
    sc->opt.kind = OPT_SGD;
    sc->opt.momentum = 0.9;
    sc->opt.beta1 = 0.9;
    sc->opt.beta2 = 0.999;
    sc->opt.eps = 1e-8;
    sc->seed = 1;
    sc->workers = 1;
    strcpy(sc->strategy, "serial");
    strcpy(sc->allreduce, "ring");
    sc->overlap = 1;
    sc->bucket_mb = 25.0;
    sc->servers = 1;
    sc->mode = PS_SYNC;
    sc->balance = BALANCE_EQUAL;
    sc->stages = 2;
    sc->microbatches = 4;
    sc->schedule = SCHEDULE_1F1B;
    sc->tp = 2;
    sc->dp = 1;
    sc->pp = 1;
}

/* Is name one of the comma-separated names in list? */
static int name_in_list(const char *name, const char *list)
{
    size_t len = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}

/* Was the key (which must exist) set in the file or on the command line? */
static int key_given(const ParseState *ps, const char *section, const char *name)
{
    long i = key_index(section, name);
    return ps->line[i] || ps->from_set[i];
}

static void key_origin(const ParseState *ps, const char *section, const char *name, char *buf,
                       size_t size)
{
    long i = key_index(section, name);
    if (ps->from_set[i])
        snprintf(buf, size, "--set %s.%s", section, name);
    else
        snprintf(buf, size, "%s:%d", ps->where, ps->line[i]);
}

/* Defaults that depend on other keys, and checks across keys. */
static int scenario_finish(Scenario *sc, ParseState *ps, DtError *err)
{
    char a[PATH_MAX + 64], b[PATH_MAX + 64];
    if (!key_given(ps, "model", "hidden")) {
        if (sc->model.kind == MODEL_MLP) {
            sc->model.nhidden = 2;
            sc->model.hidden[0] = 256;
            sc->model.hidden[1] = 128;
        } else {
            sc->model.nhidden = 1;
            sc->model.hidden[0] = 128;
        }
    }
    if (sc->model.kind == MODEL_CNN && !key_given(ps, "model", "channels")) {
        sc->model.nconv = 2;
        sc->model.conv[0] = 16;
        sc->model.conv[1] = 32;
    }
    const char *cnn_only[] = {"channels", "kernel"};
    for (size_t i = 0; i < 2 && sc->model.kind == MODEL_MLP; i++) {
        if (key_given(ps, "model", cnn_only[i])) {
            key_origin(ps, "model", cnn_only[i], a, sizeof a);
            return dt_fail(err, DT_EINPUT, "%s: [model] %s is for kind = cnn, not mlp", a,
                           cnn_only[i]);
        }
    }
    if (sc->model.kernel % 2 == 0) {
        key_origin(ps, "model", "kernel", a, sizeof a);
        return dt_fail(err, DT_EINPUT, "%s: [model] kernel = %d: use an odd size (3, 5, 7)", a,
                       sc->model.kernel);
    }
    if (!key_given(ps, "train", "lr"))
        sc->opt.lr = sc->opt.kind == OPT_ADAM ? 0.001 : 0.05;
    const char *sgd_only[] = {"momentum"}, *adam_only[] = {"beta1", "beta2", "eps"};
    if (sc->opt.kind == OPT_ADAM && key_given(ps, "train", sgd_only[0])) {
        key_origin(ps, "train", sgd_only[0], a, sizeof a);
        return dt_fail(err, DT_EINPUT, "%s: [train] momentum is an sgd setting; adam uses beta1",
                       a);
    }
    for (size_t i = 0; i < 3 && sc->opt.kind == OPT_SGD; i++) {
        if (key_given(ps, "train", adam_only[i])) {
            key_origin(ps, "train", adam_only[i], a, sizeof a);
            return dt_fail(err, DT_EINPUT,
                           "%s: [train] %s is an adam setting; set optimizer = adam", a,
                           adam_only[i]);
        }
    }
    if (sc->opt.momentum >= 1.0 || sc->opt.beta1 >= 1.0 || sc->opt.beta2 >= 1.0)
        return dt_fail(err, DT_EINPUT, "%s: momentum, beta1 and beta2 must be below 1", ps->where);
    if (key_given(ps, "train", "epochs") && key_given(ps, "train", "steps")) {
        key_origin(ps, "train", "epochs", a, sizeof a);
        key_origin(ps, "train", "steps", b, sizeof b);
        return dt_fail(err, DT_EINPUT, "%s and %s: give [train] epochs or steps, not both", a, b);
    }
    if (!key_given(ps, "train", "epochs") && !key_given(ps, "train", "steps"))
        sc->epochs = 1;
    if (sc->dataset == DATA_SYNTHETIC && key_given(ps, "data", "path")) {
        key_origin(ps, "data", "path", a, sizeof a);
        return dt_fail(err, DT_EINPUT, "%s: [data] path is for dataset = fashion-mnist", a);
    }
    if (sc->dataset == DATA_SYNTHETIC) {
        if (!sc->train_samples)
            sc->train_samples = 10000;
        if (!sc->test_samples)
            sc->test_samples = 2000;
    }
    if (!sc->platform[0])
        return dt_fail(err, DT_EINPUT,
                       "%s: no platform: set [cluster] platform = FILE.xml or pass --platform",
                       ps->where);
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].only && (ps->line[i] || ps->from_set[i]) &&
            !name_in_list(sc->strategy, keys[i].only)) {
            char kinds[128];
            snprintf(kinds, sizeof kinds, "%s", keys[i].only);
            char *comma = strchr(kinds, ',');
            if (comma) /* "a,b" reads "a or b" */
                snprintf(comma, sizeof kinds - (size_t)(comma - kinds), " or %s",
                         strchr(keys[i].only, ',') + 1);
            key_origin(ps, keys[i].section, keys[i].name, a, sizeof a);
            return dt_fail(err, DT_EINPUT,
                           "%s: [%s] %s is a setting of kind = %s, not of kind = %s", a,
                           keys[i].section, keys[i].name, kinds, sc->strategy);
        }
    }
    if (key_given(ps, "strategy", "staleness") && sc->mode != PS_SSP) {
        key_origin(ps, "strategy", "staleness", a, sizeof a);
        return dt_fail(err, DT_EINPUT,
                       "%s: [strategy] staleness is for mode = ssp, not mode = %s; set mode = ssp "
                       "or remove staleness",
                       a, ps_modes[sc->mode]);
    }
    if (sc->mode == PS_SSP && !key_given(ps, "strategy", "staleness")) {
        key_origin(ps, "strategy", "mode", a, sizeof a);
        return dt_fail(err, DT_EINPUT,
                       "%s: mode = ssp needs [strategy] staleness = s (0 behaves as sync)", a);
    }
    if (key_given(ps, "strategy", "backup_workers") && sc->mode != PS_SYNC) {
        key_origin(ps, "strategy", "backup_workers", a, sizeof a);
        return dt_fail(err, DT_EINPUT,
                       "%s: [strategy] backup_workers is for mode = sync, not mode = %s", a,
                       ps_modes[sc->mode]);
    }
    const StrategyOps *st = strategy_find(sc->strategy);
    if (!st) {
        char names[256];
        strategy_names(names, sizeof names);
        key_origin(ps, "strategy", "kind", a, sizeof a);
        return dt_fail(err, DT_EINPUT, "%s: unknown strategy '%s'; available: %s", a, sc->strategy,
                       names);
    }
    if (st->check(sc, err) < 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return dt_fail(err, DT_EINPUT, "%s: %s", ps->where, msg);
    }
    return 0;
}

int scenario_load(Scenario *sc, const char *path, const char *const *sets, int nset, DtError *err)
{
    ParseState ps = {.sc = sc, .where = path, .err = err};
    scenario_defaults(sc);
    snprintf(sc->path, sizeof sc->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(sc->name, sizeof sc->name, "%s", base);
    char *dot = strrchr(sc->name, '.');
    if (dot && dot != sc->name)
        *dot = '\0';
    if (base != path)
        snprintf(ps.dir, sizeof ps.dir, "%.*s", (int)(base - path - 1), path);
    else
        strcpy(ps.dir, ".");

    FILE *f = fopen(path, "r");
    if (!f)
        return dt_fail(err, DT_EINPUT, "cannot open scenario '%s': %s", path, strerror(errno));
    LineReader lr = {f, &ps};
    int rc = ini_parse_stream(line_reader, &lr, scenario_ini_handler, &ps);
    fclose(f);
    if (rc != 0) {
        /* libinih goes on after a syntax error, so the handler may have
         * failed later on a line it misread; report the earlier problem. */
        if (ps.failed && ps.failed <= rc)
            return -1;
        if (rc < 0)
            return dt_fail(err, DT_ERUNTIME, "cannot read scenario '%s'", path);
        return dt_fail(err, DT_EINPUT,
                       "%s:%d: not a 'key = value' line, a [section] header or a comment "
                       "(lines starting with ; or #)",
                       path, rc);
    }

    ps.current_line = 0;
    ps.dir[0] = '\0';
    for (int i = 0; i < nset; i++) {
        const char *eq = strchr(sets[i], '=');
        const char *dotp = strchr(sets[i], '.');
        char section[64], name[64];
        if (!eq || !dotp || dotp > eq || dotp - sets[i] >= (long)sizeof section ||
            eq - dotp - 1 >= (long)sizeof name)
            return dt_fail(err, DT_EINPUT,
                           "--set %s: expected section.key=value, e.g. --set train.lr=0.1",
                           sets[i]);
        snprintf(section, sizeof section, "%.*s", (int)(dotp - sets[i]), sets[i]);
        snprintf(name, sizeof name, "%.*s", (int)(eq - dotp - 1), dotp + 1);
        if (scenario_set(&ps, section, name, eq + 1, 0) < 0)
            return -1;
        /* epochs and steps say the same thing: the last one given with
         * --set replaces the other, from the file or an earlier --set. */
        const char *other = strcmp(section, "train") != 0 ? NULL
                            : strcmp(name, "steps") == 0  ? "epochs"
                            : strcmp(name, "epochs") == 0 ? "steps"
                                                          : NULL;
        if (other) {
            long o = key_index("train", other);
            ps.line[o] = ps.from_set[o] = 0;
            *(int *)((char *)sc + keys[o].offset) = 0;
        }
    }
    return scenario_finish(sc, &ps, err);
}

void scenario_set_platform(Scenario *sc, const char *platform)
{
    snprintf(sc->platform, sizeof sc->platform, "%s", platform);
}

void scenario_print_keys(FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(out, "  [%s]\n", section);
        }
        fprintf(out, "    %-14s %s (default: %s)\n", keys[i].name, keys[i].help, keys[i].def);
    }
}
