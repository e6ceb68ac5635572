/*
 * scenario.c - reading a scenario INI file into a Scenario (scenario.h).
 *
 * The tables below declare the common keys: where each lives in the
 * Scenario, its type and range, its default as text, and one line of
 * help.  The keys of [model] and [strategy] other than `kind` belong to
 * the kind chosen, whose table (ModelOps, StrategyOps) says where they go
 * in its own config struct; [faults] is faults.c's.  Since `kind` may come
 * after the keys it governs, or from --set, the file and the overrides
 * are read into a list of entries first; once both kinds are known, the
 * entries are applied in order, each through its table, and the first
 * bad one is reported.  Keys no table knows are errors, never silently
 * ignored: a typo must not quietly run the default.
 *
 * Paths in the file (platform, data path) are relative to the scenario file,
 * so a scenario runs from any directory; paths given with --set are relative
 * to the current directory, as on any command line.
 */
#include "scenario.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "strategy.h"

static const char *const datasets[] = {"fashion-mnist", "synthetic", "text", NULL};
static const char *const optimizers[] = {"sgd", "adam", NULL};
static const char *const computes[] = {"real", "cost", NULL};
static const char *const precisions[] = {"fp32", "bf16", "fp16", NULL};
static const char *const recomputes[] = {"none", "full", NULL};

#define BIG 1e9
#define INT(key, field, lo, hi, d, h) KEYDEF_INT(Scenario, key, field, lo, hi, d, h)
#define REAL(key, field, lo, open, hi, d, h) KEYDEF_REAL(Scenario, key, field, lo, open, hi, d, h)
#define ENUM(key, field, names, d, h) KEYDEF_ENUM(Scenario, key, field, names, d, h)
#define TEXT(key, kind, field, d, h) KEYDEF_TEXT(Scenario, key, kind, field, d, h)
/* A setting of one optimizer: a number in [0, 1] (above 0 when open). */
#define ADAM_OR_SGD(key, field, open, d, h, opt)                                                   \
    {                                                                                              \
        .name = key, .type = KEY_DOUBLE, .offset = offsetof(Scenario, field), .min = 0,            \
        .min_open = open, .max = 1, .def = d, .help = h, .when = "optimizer", .is = opt            \
    }

static const KeyDef data_keys[] = {
    {.name = "dataset",
     .type = KEY_ENUM,
     .offset = offsetof(Scenario, dataset),
     .choices = datasets,
     .def = "(text for a language model, else fashion-mnist)",
     .help =
         "fashion-mnist (real images), synthetic (seeded, for quick tests) or text (characters, "
         "for [model] kind = gpt)",
     .derived = 1},
    {.name = "path",
     .type = KEY_PATH,
     .offset = offsetof(Scenario, data_path),
     .size = sizeof(((Scenario *)0)->data_path),
     .def = "(" DT_FASHION_MNIST_DIR ", or " DT_TEXT_CORPUS " for text)",
     .help = "directory holding the Fashion-MNIST IDX .gz files, or the text file",
     .derived = 1},
    INT("train_samples", train_samples, 0, BIG, "0",
        "training samples to use (0: all; synthetic: 0 means 10000)"),
    INT("test_samples", test_samples, 0, BIG, "0",
        "test samples to evaluate on (0: all; synthetic: 0 means 2000)"),
    REAL("noise", noise, 0, 0, 100, "0.5",
         "synthetic: half-width of the uniform noise around each class prototype"),
    {.name = "shape",
     .type = KEY_INT_LIST,
     .offset = offsetof(Scenario, shape),
     .count_offset = offsetof(Scenario, nshape),
     .min = 1,
     .max = 4096,
     .size = 3,
     .def = "1,28,28",
     .help = "synthetic: channels, height and width of a sample (3,224,224 for ImageNet's)",
     .when = "dataset",
     .is = "synthetic"},
    {.name = "classes",
     .type = KEY_INT,
     .offset = offsetof(Scenario, classes),
     .min = 2,
     .max = 1e6,
     .def = "10",
     .help = "synthetic: the number of classes (more than 256 only with compute = cost)",
     .when = "dataset",
     .is = "synthetic"},
    {.name = "val_fraction",
     .type = KEY_DOUBLE,
     .offset = offsetof(Scenario, val_fraction),
     .min = 0,
     .min_open = 1,
     .max = 0.5,
     .def = "0.1",
     .help = "text: the share of the corpus held out for validation",
     .when = "dataset",
     .is = "text"},
};

static const KeyDef train_keys[] = {
    INT("batch", batch, 1, 1 << 20, "64", "samples one model replica processes per step"),
    ENUM("optimizer", opt.kind, optimizers, "sgd", "sgd (with momentum, weight_decay) or adam"),
    {.name = "lr",
     .type = KEY_DOUBLE,
     .offset = offsetof(Scenario, opt.lr),
     .min = 0,
     .min_open = 1,
     .max = 100,
     .def = "(0.05 for sgd, 0.001 for adam)",
     .help = "learning rate",
     .derived = 1},
    ADAM_OR_SGD("momentum", opt.momentum, 0, "0.9", "sgd momentum, in [0, 1)", "sgd"),
    REAL("weight_decay", opt.weight_decay, 0, 0, 1, "0", "L2 penalty added to the gradient"),
    ADAM_OR_SGD("beta1", opt.beta1, 0, "0.9", "adam first-moment decay, in [0, 1)", "adam"),
    ADAM_OR_SGD("beta2", opt.beta2, 0, "0.999", "adam second-moment decay, in [0, 1)", "adam"),
    ADAM_OR_SGD("eps", opt.eps, 1, "1e-8", "adam epsilon", "adam"),
    INT("epochs", epochs, 1, 1e6, "1", "passes over the training set (or give steps)"),
    INT("steps", steps, 1, BIG, "(default: epochs)", "global training steps (instead of epochs)"),
    INT("rounds", steps, 1, BIG, "(none)",
        "communication rounds of a strategy that counts them (federated), instead of steps"),
    {.name = "seed",
     .type = KEY_U64,
     .offset = offsetof(Scenario, seed),
     .def = "1",
     .help = "seeds initialisation, shuffling and synthetic data"},
    INT("eval_every", eval_every, 0, BIG, "0",
        "steps between test evaluations (0: at the end of every epoch)"),
    ENUM("compute", cost, computes, "real",
         "real: every kernel runs on real data; cost: the same schedule, messages and charges "
         "without running kernels or allocating tensors (no loss, no accuracy)"),
    ENUM("precision", precision, precisions, "fp32",
         "bytes of activations, wire traffic and weights in the timing and memory model: fp32, "
         "or bf16 / fp16 with fp32 master weights and optimizer state (kernels run in fp32)"),
    ENUM("recompute", recompute, recomputes, "none",
         "full: a stage stashes only its blocks' inputs and runs its forward again before each "
         "backward (pipeline, tensor, hybrid)"),
    INT("checkpoint_every", checkpoint_every, 1, BIG, "(none)",
        "steps between checkpoints of the training state (parameters, optimizer state, "
        "position), from which the job restarts after a [faults] fail (serial, data-parallel)"),
    {.name = "checkpoint_to",
     .type = KEY_STRING,
     .offset = offsetof(Scenario, checkpoint_to),
     .size = sizeof(((Scenario *)0)->checkpoint_to),
     .def = "disk",
     .help = "where checkpoints go: disk (a SimGrid disk of rank 0's host, at its write and read "
             "bandwidths) or the name of a storage host (over the network)"},
};

static const KeyDef cluster_keys[] = {
    TEXT("platform", KEY_PATH, platform, "(required)",
         "SimGrid platform XML, relative to the scenario file"),
    INT("workers", workers, 1, 1 << 20, "1", "devices that train, in all"),
    {.name = "hosts",
     .type = KEY_STRING,
     .offset = offsetof(Scenario, hosts),
     .size = sizeof(((Scenario *)0)->hosts),
     .def = "(the first hosts in name order)",
     .help = "comma-separated hosts, rank r on the r-th (continue a long list on indented lines)",
     .repeat = 1},
};

/* The kinds, read before the keys they govern. */
typedef struct Kinds {
    char model[64];
    char strategy[64];
} Kinds;

static const KeyDef model_kind_keys[] = {
    KEYDEF_TEXT(Kinds, "kind", KEY_STRING, model, "mlp",
                "the kind of model (each kind's keys below)"),
};

static const KeyDef strategy_kind_keys[] = {
    KEYDEF_TEXT(Kinds, "kind", KEY_STRING, strategy, "serial",
                "training strategy (each strategy's keys below)"),
};

#define TABLE(section, keys)                                                                       \
    {                                                                                              \
        section, keys, sizeof keys / sizeof keys[0]                                                \
    }

static const KeyTable model_kind_table = TABLE("model", model_kind_keys);
static const KeyTable data_table = TABLE("data", data_keys);
static const KeyTable train_table = TABLE("train", train_keys);
static const KeyTable cluster_table = TABLE("cluster", cluster_keys);
static const KeyTable strategy_kind_table = TABLE("strategy", strategy_kind_keys);

/* The tables an entry may go to, in the order the sections are listed. */
enum {
    T_MODEL_KIND,
    T_MODEL,
    T_DATA,
    T_TRAIN,
    T_CLUSTER,
    T_STRATEGY_KIND,
    T_STRATEGY,
    T_FAULTS,
    NT
};

/* One table in use: where its values go, and where each key was set. */
typedef struct Table {
    const KeyTable *keys;
    void *config;
    int *line;      /* (keys->n) line in the file, 0 if not there */
    char *from_set; /* (keys->n) given with --set */
} Table;

/* One "key = value" of the file or one --set, kept until the kinds are known. */
typedef struct Entry {
    char *section, *name, *value;
    int line;     /* in the file; 0 for --set */
    int indented; /* the file's line began with a blank: it goes on with the key above */
} Entry;

typedef struct ParseState {
    Scenario *sc;
    const char *where;  /* the file */
    char dir[PATH_MAX]; /* directory that relative paths in the file start from */
    Entry *entries;
    size_t n, cap;
    int current_line; /* the line libinih is on */
    int indented;     /* and whether it began with a blank */
    const char *bad;  /* why the reader stopped early (a line too long, CR line ends), or NULL */
    int oom;
    Kinds kinds;
    Table tables[NT];
    const char *platform; /* --platform, or NULL */
} ParseState;

static int entry_add(ParseState *ps, const char *section, const char *name, const char *value,
                     int line)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        Entry *e = realloc(ps->entries, cap * sizeof *e);
        if (!e)
            return -1;
        ps->entries = e;
        ps->cap = cap;
    }
    Entry *e = &ps->entries[ps->n];
    *e = (Entry){strdup(section), strdup(name), strdup(value), line, line > 0 && ps->indented};
    if (!e->section || !e->name || !e->value) {
        free(e->section);
        free(e->name);
        free(e->value);
        return -1;
    }
    ps->n++;
    return 0;
}

static void entries_free(ParseState *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->entries[i].section);
        free(ps->entries[i].name);
        free(ps->entries[i].value);
    }
    free(ps->entries);
}

static int scenario_ini_handler(void *user, const char *section, const char *name,
                                const char *value)
{
    ParseState *ps = user;
    if (entry_add(ps, section, name, value, ps->current_line) < 0) {
        ps->oom = 1;
        return 0;
    }
    return 1;
}

/* libinih tells the failing line only through ini_parse's return value, so
 * the entries learn their lines from a reader that counts them. */
typedef struct LineReader {
    FILE *f;
    ParseState *ps;
} LineReader;

static char *line_reader(char *str, int num, void *stream)
{
    LineReader *lr = stream;
    ParseState *ps = lr->ps;
    int n = 0, c = EOF, nul = 0;
    while (n < num - 1 && (c = getc(lr->f)) != EOF) { /* fgets, but seeing NUL bytes */
        nul |= c == '\0';
        str[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == 0)
        return NULL;
    str[n] = '\0';
    char *s = str;
    ps->current_line++;
    if (nul) {
        ps->bad = "it holds a NUL byte (is it a binary file?); save it as text";
        return NULL;
    }
    ps->indented = s[0] == ' ' || s[0] == '\t';
    const char *cr = strchr(s, '\r');
    if (cr && cr[1] != '\n' && cr[1] != '\0') {
        ps->bad = "its lines end with a carriage return alone (old Mac style); save it with "
                  "Unix (LF) or Windows (CRLF) line ends";
        return NULL; /* stop reading: the rest would be one line */
    }
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] != '\n' && !feof(lr->f)) {
        const char *t = s + strspn(s, " \t");
        if (*t != ';' && *t != '#') {
            ps->bad = "the line is too long for the INI reader; go on with a long list on "
                      "indented lines";
            return NULL;
        }
        /* a long comment: the rest of it is comment too */
        int c;
        while ((c = fgetc(lr->f)) != EOF && c != '\n')
            ;
    }
    return s;
}

/* Where an entry stands, for messages: "FILE:LINE" or "--set s.k=v". */
static void entry_place(const ParseState *ps, const Entry *e, char *buf, size_t size)
{
    if (e->line > 0)
        snprintf(buf, size, "%s:%d", ps->where, e->line);
    else
        snprintf(buf, size, "--set %s.%s=%s", e->section, e->name, e->value);
}

static KeySource table_source(const ParseState *ps, int t)
{
    const Table *tb = &ps->tables[t];
    return (KeySource){ps->where, tb->keys, tb->line, tb->from_set};
}

/* The kind of a section: the last entry of its `kind` key, or the default. */
static const Entry *kind_entry(const ParseState *ps, const char *section)
{
    const Entry *found = NULL;
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->entries[i].section, section) && !strcmp(ps->entries[i].name, "kind"))
            found = &ps->entries[i];
    return found;
}

/* Choose the model kind and the strategy from the entries, and make
 * their configs with their tables' defaults. */
static int scenario_kinds(ParseState *ps, DtError *err)
{
    Scenario *sc = ps->sc;
    char at[PATH_MAX + 64], names[256];
    const Entry *mk = kind_entry(ps, "model"), *sk = kind_entry(ps, "strategy");
    sc->model.ops = model_find(mk ? mk->value : model_kind_keys[0].def);
    if (!sc->model.ops) {
        entry_place(ps, mk, at, sizeof at);
        model_kinds(names, sizeof names);
        return dt_fail(err, DT_EINPUT, "%s: [model] kind = '%s' is not valid: expected one of: %s",
                       at, mk->value, names);
    }
    sc->strategy = strategy_find(sk ? sk->value : strategy_kind_keys[0].def);
    if (!sc->strategy) {
        entry_place(ps, sk, at, sizeof at);
        strategy_names(names, sizeof names);
        return dt_fail(err, DT_EINPUT, "%s: unknown strategy '%s'; available: %s", at, sk->value,
                       names);
    }
    sc->model.config = calloc(1, sc->model.ops->config_size ? sc->model.ops->config_size : 1);
    sc->strategy_config = calloc(1, sc->strategy->config_size ? sc->strategy->config_size : 1);
    if (!sc->model.config || !sc->strategy_config)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    ps->tables[T_MODEL] = (Table){.keys = &sc->model.ops->keys, .config = sc->model.config};
    ps->tables[T_STRATEGY] = (Table){.keys = &sc->strategy->keys, .config = sc->strategy_config};
    for (int t = 0; t < NT; t++) {
        Table *tb = &ps->tables[t];
        tb->line = calloc(tb->keys->n + 1, sizeof *tb->line);
        tb->from_set = calloc(tb->keys->n + 1, 1);
        if (!tb->line || !tb->from_set)
            return dt_fail(err, DT_ERUNTIME, "out of memory");
        if (keys_defaults(tb->keys, tb->config, err) < 0)
            return -1;
    }
    return 0;
}

/* The kinds of section that have a key called name, "a or b", into buf;
 * 0 when none has. */
static int kinds_with_key(const char *section, const char *name, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    int strategy = !strcmp(section, "strategy");
    for (size_t i = 0;; i++) {
        const char *kind;
        const KeyTable *t;
        if (strategy) {
            const StrategyOps *s = strategy_kind(i);
            if (!s)
                break;
            kind = s->name;
            t = &s->keys;
        } else {
            const ModelOps *m = model_kind(i);
            if (!m)
                break;
            kind = m->name;
            t = &m->keys;
        }
        if (keys_find(t, name) >= 0 && used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? " or " : "", kind);
    }
    return used > 0;
}

/* A key of another kind in the file, when --set chose the kind: the
 * scenario was written for that other kind, so the key is left out, with
 * a note (for instance a pipeline scenario run with --set
 * strategy.kind=data-parallel: the pipeline's keys mean nothing there). */
static void entry_ignore(ParseState *ps, const Entry *e, const char *at, const char *kinds)
{
    Scenario *sc = ps->sc;
    size_t used = strlen(sc->notes);
    snprintf(sc->notes + used, sizeof sc->notes - used,
             "%s: [%s] %s is a setting of kind = %s: left out, as --set %s.kind chose another\n",
             at, e->section, e->name, kinds, e->section);
}

/* The table of e's section that declares e's key: -1 with a message when
 * there is none (an unknown section, an unknown key, or a key of another
 * kind of model or strategy); -2 when the entry is left out (entry_ignore). */
static int entry_table(ParseState *ps, const Entry *e, long *key, DtError *err)
{
    char at[PATH_MAX + 300], kinds[256];
    int section_known = 0;
    for (int t = 0; t < NT; t++) {
        const Table *tb = &ps->tables[t];
        if (strcmp(tb->keys->section, e->section) != 0)
            continue;
        section_known = 1;
        if ((*key = keys_find(tb->keys, e->name)) >= 0)
            return t;
    }
    entry_place(ps, e, at, sizeof at);
    if (!section_known)
        return dt_fail(err, DT_EINPUT,
                       "%s: unknown section [%s]; sections are [model] [data] [train] "
                       "[cluster] [strategy] [faults] (see dtsim --help)",
                       at, e->section);
    int model = !strcmp(e->section, "model");
    if ((model || !strcmp(e->section, "strategy")) &&
        kinds_with_key(e->section, e->name, kinds, sizeof kinds)) {
        const Entry *kind = kind_entry(ps, e->section);
        if (e->line > 0 && kind && kind->line == 0) {
            entry_ignore(ps, e, at, kinds);
            return -2;
        }
        return dt_fail(err, DT_EINPUT, "%s: [%s] %s is a setting of kind = %s, not of kind = %s",
                       at, e->section, e->name, kinds,
                       model ? ps->sc->model.ops->name : ps->sc->strategy->name);
    }
    return dt_fail(err, DT_EINPUT, "%s: unknown key '%s' in [%s]; `dtsim --help` lists the keys",
                   at, e->name, e->section);
}

/* epochs, steps and rounds say the same thing: the last one given with
 * --set replaces the others, from the file or an earlier --set. */
static void entry_forget_other(ParseState *ps, const Entry *e)
{
    static const char *const length[] = {"epochs", "steps", "rounds"};
    if (e->line > 0 || strcmp(e->section, "train") != 0)
        return;
    int mine = -1;
    for (int i = 0; i < 3; i++)
        mine = strcmp(e->name, length[i]) ? mine : i;
    if (mine < 0)
        return;
    Table *tb = &ps->tables[T_TRAIN];
    for (int i = 0; i < 3; i++) {
        long o = keys_find(tb->keys, length[i]);
        if (i == mine || !(tb->line[o] || tb->from_set[o]))
            continue;
        tb->line[o] = tb->from_set[o] = 0;
        if (strcmp(length[i], "epochs") == 0 || mine == 0) /* steps and rounds share a field */
            *(int *)((char *)tb->config + tb->keys->keys[o].offset) = 0;
    }
}

/* --set section.key= (nothing after '='): the key goes back to its
 * default, as if neither the file nor an earlier --set had given it. */
static int entry_reset(Table *tb, long k, const char *at, DtError *err)
{
    const KeyDef *def = &tb->keys->keys[k];
    if (def->def[0] == '(')
        return dt_fail(err, DT_EINPUT,
                       "%s: [%s] %s has no fixed default to go back to %s: give it a value", at,
                       tb->keys->section, def->name, def->def);
    if (key_parse(def, tb->config, def->def, NULL) < 0)
        return dt_fail(err, DT_ERUNTIME, "[%s] %s: default '%s' does not parse", tb->keys->section,
                       def->name, def->def);
    tb->line[k] = tb->from_set[k] = 0;
    return 0;
}

/* Apply one entry through its table; on error, a message that says where
 * and what to write. */
static int entry_apply(ParseState *ps, const Entry *e, DtError *err)
{
    long k = -1;
    int t = entry_table(ps, e, &k, err);
    if (t < 0)
        return t == -2 ? 0 : -1;
    Table *tb = &ps->tables[t];
    const KeyDef *def = &tb->keys->keys[k];
    char at[PATH_MAX + 300];
    entry_place(ps, e, at, sizeof at);
    int again = e->line > 0 && tb->line[k];
    if (again && !def->repeat)
        return dt_fail(err, DT_EINPUT, "%s: [%s] %s is already set on line %d", at, e->section,
                       e->name, tb->line[k]);
    if (again && def->type == KEY_STRING && !e->indented)
        return dt_fail(err, DT_EINPUT,
                       "%s: [%s] %s is already set on line %d; to go on with a long list, "
                       "indent the lines that continue it",
                       at, e->section, e->name, tb->line[k]);
    if (e->line == 0 && !e->value[0]) /* --set section.key= */
        return entry_reset(tb, k, at, err);
    int rc;
    if (again && def->type == KEY_STRING)
        rc = key_append(def, tb->config, e->value);
    else
        rc = key_parse(def, tb->config, e->value, e->line > 0 ? ps->dir : NULL);
    if (rc < 0) {
        char expect[256];
        key_expectation(def, expect, sizeof expect);
        if (again && def->type == KEY_STRING)
            return dt_fail(err, DT_EINPUT, "%s: [%s] %s is longer than %zu characters", at,
                           e->section, e->name, def->size - 1);
        return dt_fail(err, DT_EINPUT, "%s: [%s] %s = '%s' is not valid: expected %s (%s)", at,
                       e->section, e->name, e->value, expect, def->help);
    }
    entry_forget_other(ps, e);
    if (e->line > 0)
        tb->line[k] = e->line;
    else
        tb->from_set[k] = 1;
    return 0;
}

static void scenario_defaults(Scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->model.input = (Shape){1, 28, 28};
    sc->model.classes = 10;
}

/* Was the key of table t set in the file or on the command line? */
static int given(const ParseState *ps, int t, const char *name)
{
    KeySource s = table_source(ps, t);
    return key_given(&s, name);
}

/* Defaults that depend on other keys, and checks across the [train] keys. */
/* The largest number of samples a step may take in all (a replica's batch
 * times the workers bounds every strategy's global batch), so that the
 * counts derived from it fit an int. */
#define SCENARIO_MAX_STEP_SAMPLES (1L << 30)

static int scenario_finish_train(Scenario *sc, ParseState *ps, DtError *err)
{
    long step_samples = (long)sc->batch * sc->workers;
    if (step_samples > SCENARIO_MAX_STEP_SAMPLES)
        return dt_fail(err, DT_EINPUT,
                       "%s: [train] batch x [cluster] workers = %d x %d = %ld samples a step, "
                       "more than the %ld dtsim counts; lower one of them",
                       ps->where, sc->batch, sc->workers, step_samples, SCENARIO_MAX_STEP_SAMPLES);
    if (!given(ps, T_TRAIN, "lr"))
        sc->opt.lr = sc->opt.kind == OPT_ADAM ? 0.001 : 0.05;
    if (sc->opt.momentum >= 1.0 || sc->opt.beta1 >= 1.0 || sc->opt.beta2 >= 1.0)
        return dt_fail(err, DT_EINPUT, "%s: momentum, beta1 and beta2 must be below 1", ps->where);
    static const char *const length[] = {"epochs", "steps", "rounds"};
    KeySource train = table_source(ps, T_TRAIN);
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (given(ps, T_TRAIN, length[i]) && given(ps, T_TRAIN, length[j])) {
                char a[PATH_MAX + 64], b[PATH_MAX + 64];
                key_origin(&train, length[i], a, sizeof a);
                key_origin(&train, length[j], b, sizeof b);
                return dt_fail(err, DT_EINPUT, "%s and %s: give [train] %s or %s, not both", a, b,
                               length[i], length[j]);
            }
    if (given(ps, T_TRAIN, "rounds") && !sc->strategy->rounds)
        return key_fail(&train, "rounds", err,
                        "strategy %s counts steps, not rounds: give [train] steps (or epochs)",
                        sc->strategy->name);
    if (given(ps, T_TRAIN, "steps") || given(ps, T_TRAIN, "rounds"))
        sc->epochs = 0;
    if (sc->faults.elastic && !sc->strategy->elastic) {
        KeySource faults = table_source(ps, T_FAULTS);
        return key_fail(&faults, "elastic", err,
                        "strategy %s cannot go on with fewer workers (data-parallel can)",
                        sc->strategy->name);
    }
    if (!sc->strategy->restartable) {
        KeySource faults = table_source(ps, T_FAULTS);
        if (given(ps, T_TRAIN, "checkpoint_every"))
            return key_fail(&train, "checkpoint_every", err,
                            "strategy %s cannot checkpoint and restart yet (serial and "
                            "data-parallel can)",
                            sc->strategy->name);
        if (given(ps, T_FAULTS, "fail") || given(ps, T_FAULTS, "mtbf"))
            return key_fail(&faults, given(ps, T_FAULTS, "fail") ? "fail" : "mtbf", err,
                            "strategy %s cannot stop at a failed host yet (serial and "
                            "data-parallel can)",
                            sc->strategy->name);
    }
    return 0;
}

/* Cost mode reads no text: the vocabulary is the model's vocab key (which
 * the model's build puts in place of the 2 tokens left here), and an
 * epoch has no size unless train_samples gives one. */
static int scenario_cost_text(Scenario *sc, ParseState *ps, DtError *err)
{
    KeySource model = table_source(ps, T_MODEL);
    if (!given(ps, T_MODEL, "vocab"))
        return key_fail(&model, NULL, err,
                        "[train] compute = cost reads no text: give the vocabulary's size, e.g. "
                        "[model] vocab = 50257");
    if (!sc->steps && !sc->train_samples) {
        KeySource train = table_source(ps, T_TRAIN);
        return key_fail(&train, NULL, err,
                        "[train] compute = cost reads no text, so an epoch has no size: give "
                        "[train] steps (or [data] train_samples)");
    }
    sc->model.classes = 2;
    return 0;
}

/* The data set and the model agree (text for a language model, images
 * for the others), and the model's input and classes are the data's: for
 * text, windows of the model's seq_len over the file's characters. */
static int scenario_finish_data(Scenario *sc, ParseState *ps, DtError *err)
{
    int text = sc->dataset == DATA_TEXT;
    int (*sequence)(const void *) = sc->model.ops->sequence;
    if (!sc->data_path[0])
        snprintf(sc->data_path, sizeof sc->data_path, "%s",
                 text ? DT_TEXT_CORPUS : DT_FASHION_MNIST_DIR);
    KeySource data = table_source(ps, T_DATA);
    if (text != (sequence != NULL))
        return key_fail(&data, "dataset", err,
                        "[model] kind = %s needs %s data: set [data] dataset = %s",
                        sc->model.ops->name, text ? "image" : "text",
                        text ? "fashion-mnist or synthetic" : "text");
    if (!text)
        return 0;
    int seq_len = sequence(sc->model.config);
    sc->model.input = (Shape){seq_len, 1, 1};
    if (sc->cost)
        return scenario_cost_text(sc, ps, err);
    TextVocab v;
    Dataset train, val;
    if (text_vocab(sc->data_path, &v, err) < 0)
        return key_blame(&data, "path", err);
    KeySource model = table_source(ps, T_MODEL);
    if (dataset_load_text(&train, &val, sc->data_path, seq_len, sc->val_fraction, sc->seed, NULL,
                          err) < 0)
        return key_blame(&model, "seq_len", err);
    dataset_free(&train);
    dataset_free(&val);
    sc->model.classes = v.size;
    return 0;
}

/* Synthetic data: its sizes, and the samples' shape and classes, which
 * the model is built on.  Labels are bytes, so a real run has at most 256
 * classes; cost mode reads no label. */
static int scenario_synthetic(Scenario *sc, ParseState *ps, DtError *err)
{
    if (!sc->train_samples)
        sc->train_samples = 10000;
    if (!sc->test_samples)
        sc->test_samples = 2000;
    KeySource data = table_source(ps, T_DATA);
    if (sc->nshape != 3)
        return key_fail(&data, "shape", err,
                        "[data] shape needs 3 numbers, channels, height and width (got %d)",
                        sc->nshape);
    double values = (double)sc->shape[0] * sc->shape[1] * sc->shape[2];
    if (values > INT_MAX)
        return key_fail(&data, "shape", err,
                        "[data] shape = %d,%d,%d is %.3g values a sample; at most %d (2^31-1) "
                        "are allowed",
                        sc->shape[0], sc->shape[1], sc->shape[2], values, INT_MAX);
    if (sc->classes > 256 && !sc->cost)
        return key_fail(&data, "classes", err,
                        "[data] classes = %d: labels are bytes, so a run that trains has at "
                        "most 256 classes; use compute = cost to time a model of more",
                        sc->classes);
    sc->model.input = (Shape){sc->shape[0], sc->shape[1], sc->shape[2]};
    sc->model.classes = sc->classes;
    return 0;
}

/* Defaults that depend on other keys, and checks across keys: the common
 * ones, then the model's and the strategy's own. */
static int scenario_finish(Scenario *sc, ParseState *ps, DtError *err)
{
    if (!given(ps, T_DATA, "dataset") && sc->model.ops->sequence)
        sc->dataset = DATA_TEXT;
    for (int t = 0; t < NT; t++) {
        KeySource s = table_source(ps, t);
        if (keys_check_when(&s, ps->tables[t].config, err) < 0)
            return -1;
    }
    if (scenario_finish_train(sc, ps, err) < 0)
        return -1;
    if (sc->dataset == DATA_SYNTHETIC && scenario_synthetic(sc, ps, err) < 0)
        return -1;
    if (ps->platform)
        snprintf(sc->platform, sizeof sc->platform, "%s", ps->platform);
    if (!sc->platform[0])
        return dt_fail(err, DT_EINPUT,
                       "%s: no platform: set [cluster] platform = FILE.xml or pass --platform",
                       ps->where);
    KeySource model = table_source(ps, T_MODEL);
    if (sc->model.ops->finish && sc->model.ops->finish(sc->model.config, &model, err) < 0)
        return -1;
    if (scenario_finish_data(sc, ps, err) < 0)
        return -1;
    KeySource strategy = table_source(ps, T_STRATEGY);
    if (sc->recompute && !sc->strategy->engine) {
        KeySource train = table_source(ps, T_TRAIN);
        return key_fail(&train, "recompute", err,
                        "recompute = full needs a strategy that runs stages: pipeline, tensor or "
                        "hybrid (hybrid with pp = 1 and tp = 1 is data parallelism), not %s",
                        sc->strategy->name);
    }
    if (sc->strategy->check(sc, &strategy, err) < 0)
        return -1;
    if (sc->strategy->workers)
        sc->workers = sc->strategy->workers(sc);
    return 0;
}

/* Read the file's entries; -1 with a message when it cannot be read or a
 * line is not INI (reported after any bad entry on an earlier line, which
 * *syntax_line tells). */
static int scenario_read(ParseState *ps, const char *path, int *syntax_line, DtError *err)
{
    if (cli_regular_file(path, "scenario", "an INI file", err) < 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return dt_fail(err, DT_EINPUT, "cannot open scenario '%s': %s", path, strerror(errno));
    LineReader lr = {f, ps};
    int rc = ini_parse_stream(line_reader, &lr, scenario_ini_handler, ps);
    fclose(f);
    if (ps->oom)
        return dt_fail(err, DT_ERUNTIME, "out of memory while reading '%s'", path);
    if (ps->bad)
        return dt_fail(err, DT_EINPUT, "%s:%d: %s", path, ps->current_line, ps->bad);
    if (rc < 0)
        return dt_fail(err, DT_ERUNTIME, "cannot read scenario '%s'", path);
    *syntax_line = rc;
    return 0;
}

/* The --set overrides, as entries after the file's. */
static int scenario_sets(ParseState *ps, const char *const *sets, int nset, DtError *err)
{
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
        if (entry_add(ps, section, name, eq + 1, 0) < 0)
            return dt_fail(err, DT_ERUNTIME, "out of memory");
    }
    return 0;
}

static void scenario_names(Scenario *sc, ParseState *ps, const char *path)
{
    snprintf(sc->path, sizeof sc->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(sc->name, sizeof sc->name, "%s", base);
    char *dot = strrchr(sc->name, '.');
    if (dot && dot != sc->name)
        *dot = '\0';
    if (base != path)
        snprintf(ps->dir, sizeof ps->dir, "%.*s", (int)(base - path - 1), path);
    else
        strcpy(ps->dir, ".");
}

/* Apply the entries in order, then the checks across keys. */
static int scenario_apply(ParseState *ps, int syntax_line, DtError *err)
{
    if (scenario_kinds(ps, err) < 0)
        return -1;
    for (size_t i = 0; i < ps->n; i++) {
        const Entry *e = &ps->entries[i];
        /* libinih goes on after a syntax error, so a later line may be
         * misread: report the earlier problem */
        if (syntax_line > 0 && (e->line == 0 || e->line > syntax_line))
            break;
        if (entry_apply(ps, e, err) < 0)
            return -1;
    }
    if (syntax_line > 0)
        return dt_fail(err, DT_EINPUT,
                       "%s:%d: not a 'key = value' line, a [section] header or a comment "
                       "(lines starting with ; or #)",
                       ps->where, syntax_line);
    return scenario_finish(ps->sc, ps, err);
}

/* Append "section.key=value\n" to the growing text *buf (*used of *cap). */
static int settings_add(char **buf, size_t *used, size_t *cap, const char *section,
                        const char *name, const char *value)
{
    size_t need = strlen(section) + strlen(name) + strlen(value) + 3;
    if (*used + need + 1 > *cap) {
        size_t ncap = 2 * (*cap + need);
        char *n = realloc(*buf, ncap);
        if (!n)
            return -1;
        *buf = n;
        *cap = ncap;
    }
    *used += (size_t)snprintf(*buf + *used, *cap - *used, "%s.%s=%s\n", section, name, value);
    return 0;
}

/* The keys in effect, into sc->settings (scenario.h). */
static int scenario_settings(Scenario *sc, const ParseState *ps, DtError *err)
{
    size_t used = 0, cap = 1024;
    char *buf = malloc(cap), value[PATH_MAX + 64];
    for (int t = 0; buf && t < NT; t++) {
        const Table *tb = &ps->tables[t];
        for (size_t k = 0; buf && k < tb->keys->n; k++) {
            const KeyDef *d = &tb->keys->keys[k];
            int given = tb->line[k] || tb->from_set[k];
            if (!key_valid(d, tb->config) || !key_applies(tb->keys, d, tb->config) ||
                (!given && d->def[0] == '(' && !d->derived))
                continue;
            for (int i = 0; key_format(d, tb->config, i, value, sizeof value) == 0; i++)
                if (settings_add(&buf, &used, &cap, tb->keys->section, d->name, value) < 0) {
                    free(buf);
                    buf = NULL;
                    break;
                }
        }
    }
    if (!buf)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    buf[used] = '\0';
    sc->settings = buf;
    return 0;
}

int scenario_load(Scenario *sc, const char *path, const char *const *sets, int nset, DtError *err)
{
    return scenario_load_on(sc, path, NULL, sets, nset, err);
}

int scenario_load_on(Scenario *sc, const char *path, const char *platform, const char *const *sets,
                     int nset, DtError *err)
{
    ParseState ps = {.sc = sc, .where = path, .platform = platform};
    scenario_defaults(sc);
    scenario_names(sc, &ps, path);
    ps.tables[T_MODEL_KIND] = (Table){.keys = &model_kind_table, .config = &ps.kinds};
    ps.tables[T_DATA] = (Table){.keys = &data_table, .config = sc};
    ps.tables[T_TRAIN] = (Table){.keys = &train_table, .config = sc};
    ps.tables[T_CLUSTER] = (Table){.keys = &cluster_table, .config = sc};
    ps.tables[T_STRATEGY_KIND] = (Table){.keys = &strategy_kind_table, .config = &ps.kinds};
    ps.tables[T_FAULTS] = (Table){.keys = &faults_keys, .config = &sc->faults};
    int syntax_line = 0;
    int rc = scenario_read(&ps, path, &syntax_line, err);
    if (rc == 0)
        rc = scenario_sets(&ps, sets, nset, err);
    if (rc == 0)
        rc = scenario_apply(&ps, syntax_line, err);
    if (rc == 0)
        rc = scenario_settings(sc, &ps, err);
    if (rc == 0 && platform && scenario_set_platform(sc, platform) < 0)
        rc = dt_fail(err, DT_ERUNTIME, "out of memory");
    entries_free(&ps);
    for (int t = 0; t < NT; t++) {
        free(ps.tables[t].line);
        free(ps.tables[t].from_set);
    }
    return rc;
}

void scenario_free(Scenario *sc)
{
    free(sc->model.config);
    free(sc->strategy_config);
    free(sc->settings);
    sc->model.config = sc->strategy_config = NULL;
    sc->settings = NULL;
}

int scenario_set_platform(Scenario *sc, const char *platform)
{
    snprintf(sc->platform, sizeof sc->platform, "%s", platform);
    /* the settings' platform line, replaced */
    const char *key = "cluster.platform=";
    char *at = strstr(sc->settings, key);
    if (!at || (at != sc->settings && at[-1] != '\n'))
        return 0;
    size_t head = (size_t)(at - sc->settings) + strlen(key);
    const char *tail = strchr(at, '\n');
    size_t need = head + strlen(platform) + strlen(tail) + 1;
    char *n = malloc(need);
    if (!n)
        return -1;
    snprintf(n, need, "%.*s%s%s", (int)head, sc->settings, platform, tail);
    free(sc->settings);
    sc->settings = n;
    return 0;
}

static void print_table(FILE *out, const KeyTable *t, const char *indent)
{
    for (size_t i = 0; i < t->n; i++) {
        const KeyDef *k = &t->keys[i];
        /* a default in parentheses says what happens without the key */
        fprintf(out, "%s%-14s %s %s%s%s\n", indent, k->name, k->help,
                k->def[0] == '(' ? "" : "(default: ", k->def, k->def[0] == '(' ? "" : ")");
    }
}

void scenario_print_keys(FILE *out)
{
    fprintf(out, "  [model]\n");
    print_table(out, &model_kind_table, "    ");
    for (size_t i = 0; model_kind(i); i++) {
        const ModelOps *m = model_kind(i);
        fprintf(out, "    kind = %s: %s\n", m->name, m->summary);
        print_table(out, &m->keys, "      ");
    }
    const KeyTable *common[] = {&data_table, &train_table, &cluster_table};
    for (size_t i = 0; i < 3; i++) {
        fprintf(out, "  [%s]\n", common[i]->section);
        print_table(out, common[i], "    ");
    }
    fprintf(out, "  [strategy]\n");
    print_table(out, &strategy_kind_table, "    ");
    for (size_t i = 0; strategy_kind(i); i++) {
        const StrategyOps *s = strategy_kind(i);
        if (s->keys.n == 0)
            continue;
        fprintf(out, "    kind = %s:\n", s->name);
        print_table(out, &s->keys, "      ");
    }
    fprintf(out, "  [faults]\n");
    print_table(out, &faults_keys, "    ");
}
