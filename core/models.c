/*
 * models.c - the one table that names every kind of model (model.h).
 * Adding a model is one file in core/ exporting a `const ModelOps` and one
 * line here.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ModelOps mlp_model;
extern const ModelOps cnn_model;
extern const ModelOps resmlp_model;
extern const ModelOps gpt_model;
extern const ModelOps resnet_model;

/* one line a model, so that adding one adds one line */
// clang-format off
static const ModelOps *const models[] = {
    &mlp_model,
    &cnn_model,
    &resmlp_model,
    &gpt_model,
    &resnet_model,
};
// clang-format on

#define NMODELS (sizeof models / sizeof models[0])

const ModelOps *model_find(const char *name)
{
    for (size_t i = 0; i < NMODELS; i++)
        if (strcmp(models[i]->name, name) == 0)
            return models[i];
    return NULL;
}

const ModelOps *model_kind(size_t i)
{
    return i < NMODELS ? models[i] : NULL;
}

void model_kinds(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NMODELS && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", models[i]->name);
}

/* Parse "key=value" settings into a model config: the key-table path a
 * scenario file takes, for tests and benchmarks. */
static int model_spec_settings(ModelSpec *spec, const char *const *settings, int *line,
                               DtError *err)
{
    const KeyTable *t = &spec->ops->keys;
    for (int i = 0; settings && settings[i]; i++) {
        const char *eq = strchr(settings[i], '=');
        char name[64];
        if (!eq || eq - settings[i] >= (long)sizeof name)
            return dt_fail(err, DT_EINPUT, "'%s' is not key=value", settings[i]);
        snprintf(name, sizeof name, "%.*s", (int)(eq - settings[i]), settings[i]);
        long k = keys_find(t, name);
        if (k < 0 || key_parse(&t->keys[k], spec->config, eq + 1, NULL) < 0)
            return dt_fail(err, DT_EINPUT, "model %s: bad setting '%s'", spec->ops->name,
                           settings[i]);
        line[k] = i + 1;
    }
    return 0;
}

int model_spec_init(ModelSpec *spec, const char *kind, const char *const *settings, Shape input,
                    int classes, DtError *err)
{
    *spec = (ModelSpec){.ops = model_find(kind), .input = input, .classes = classes};
    if (!spec->ops)
        return dt_fail(err, DT_EINPUT, "no model kind '%s'", kind);
    const KeyTable *t = &spec->ops->keys;
    int *line = calloc(t->n + 1, sizeof *line);
    char *from_set = calloc(t->n + 1, 1);
    spec->config = calloc(1, spec->ops->config_size);
    int rc = line && from_set && spec->config ? 0 : dt_fail(err, DT_ERUNTIME, "out of memory");
    if (rc == 0)
        rc = keys_defaults(t, spec->config, err);
    if (rc == 0)
        rc = model_spec_settings(spec, settings, line, err);
    KeySource given = {.file = "settings", .table = t, .line = line, .from_set = from_set};
    if (rc == 0 && spec->ops->finish)
        rc = spec->ops->finish(spec->config, &given, err);
    free(line);
    free(from_set);
    if (rc < 0)
        model_spec_free(spec);
    return rc;
}

void model_spec_free(ModelSpec *spec)
{
    free(spec->config);
    spec->config = NULL;
}
