/*
 * test_sim_scenario.c - scenario files: values, defaults, overrides, and
 * errors that name the file, the line and the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"
#include "strategy.h"
#include "testutil.h"

typedef struct Fixture {
    char dir[256];
    char path[512];
} Fixture;

/* Write text to a fresh scenario file; returns its path. */
static const char *write_ini(Fixture *fx, const char *text)
{
    if (!fx->dir[0])
        CU_ASSERT_PTR_NOT_NULL_FATAL(test_tmpdir(fx->dir, sizeof fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/case.ini", fx->dir);
    FILE *f = fopen(fx->path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    return fx->path;
}

static void fixture_done(Fixture *fx)
{
    if (fx->dir[0]) {
        unlink(fx->path);
        rmdir(fx->dir);
    }
}

/* Load and expect failure whose message contains every given fragment. */
static void expect_error(const char *text, const char *const *sets, int nset, const char *frag1,
                         const char *frag2)
{
    Fixture fx = {0};
    Scenario *sc = malloc(sizeof *sc);
    DtError err = {0};
    int rc = scenario_load(sc, write_ini(&fx, text), sets, nset, &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    if (frag1 && !strstr(err.msg, frag1)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", err.msg, frag1);
        CU_FAIL("message lacks expected text");
    }
    if (frag2 && !strstr(err.msg, frag2)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", err.msg, frag2);
        CU_FAIL("message lacks expected text");
    }
    scenario_free(sc);
    free(sc);
    fixture_done(&fx);
}

static const char *const GOOD = "; a comment\n"
                                "[model]\n"
                                "kind = cnn\n"
                                "channels = 8, 12\n"
                                "[data]\n"
                                "dataset = synthetic\n"
                                "train_samples = 500\n"
                                "[train]\n"
                                "batch = 32\n"
                                "optimizer = adam\n"
                                "steps = 7\n"
                                "seed = 42\n"
                                "[cluster]\n"
                                "platform = plat/one.xml\n";

static void test_values_and_defaults(void)
{
    Fixture fx = {0};
    Scenario *sc = malloc(sizeof *sc);
    DtError err = {0};
    int rc = scenario_load(sc, write_ini(&fx, GOOD), NULL, 0, &err);
    if (rc)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(sc->model.ops->name, "cnn");
    /* conv 8, pool, conv 12, pool, flatten, dense 128 (the cnn's default), dense 10 */
    Model m;
    CU_ASSERT_EQUAL_FATAL(model_build(&m, &sc->model, &err), 0);
    CU_ASSERT_EQUAL_FATAL(m.nlayers, 7);
    CU_ASSERT_EQUAL(m.layers[0].channels, 8);
    CU_ASSERT_EQUAL(m.layers[0].kernel, 3);
    CU_ASSERT_EQUAL(m.layers[2].channels, 12);
    CU_ASSERT_EQUAL(m.layers[5].units, 128);
    CU_ASSERT_EQUAL(m.layers[6].units, 10);
    CU_ASSERT_EQUAL(sc->dataset, DATA_SYNTHETIC);
    CU_ASSERT_EQUAL(sc->train_samples, 500);
    CU_ASSERT_EQUAL(sc->test_samples, 2000);
    CU_ASSERT_EQUAL(sc->batch, 32);
    CU_ASSERT_EQUAL(sc->opt.kind, OPT_ADAM);
    CU_ASSERT_DOUBLE_EQUAL(sc->opt.lr, 0.001, 0); /* adam's default */
    CU_ASSERT_EQUAL(sc->steps, 7);
    CU_ASSERT_EQUAL(sc->epochs, 0);
    CU_ASSERT_EQUAL(sc->seed, 42);
    CU_ASSERT_EQUAL(sc->workers, 1);
    CU_ASSERT_STRING_EQUAL(sc->strategy->name, "serial");
    CU_ASSERT_STRING_EQUAL(sc->name, "case");
    /* the platform is relative to the scenario file */
    char want[600];
    snprintf(want, sizeof want, "%s/plat/one.xml", fx.dir);
    CU_ASSERT_STRING_EQUAL(sc->platform, want);
    scenario_free(sc);
    free(sc);
    fixture_done(&fx);
}

static void test_set_overrides(void)
{
    Fixture fx = {0};
    Scenario *sc = malloc(sizeof *sc);
    DtError err = {0};
    const char *sets[] = {"train.batch=16", "model.channels=4", "cluster.platform=x.xml"};
    CU_ASSERT_EQUAL_FATAL(scenario_load(sc, write_ini(&fx, GOOD), sets, 3, &err), 0);
    CU_ASSERT_EQUAL(sc->batch, 16);
    Model m; /* one conv of 4: conv, pool, flatten, dense, dense */
    CU_ASSERT_EQUAL_FATAL(model_build(&m, &sc->model, &err), 0);
    CU_ASSERT_EQUAL(m.nlayers, 5);
    CU_ASSERT_EQUAL(m.layers[0].channels, 4);
    CU_ASSERT_STRING_EQUAL(sc->platform, "x.xml"); /* relative to the current directory */
    /* --set epochs replaces the file's steps (and the other way round) */
    const char *epochs[] = {"train.epochs=3"};
    scenario_free(sc);
    CU_ASSERT_EQUAL_FATAL(scenario_load(sc, fx.path, epochs, 1, &err), 0);
    CU_ASSERT_EQUAL(sc->epochs, 3);
    CU_ASSERT_EQUAL(sc->steps, 0);
    const char *both[] = {"train.epochs=3", "train.steps=9"};
    scenario_free(sc);
    CU_ASSERT_EQUAL_FATAL(scenario_load(sc, fx.path, both, 2, &err), 0);
    CU_ASSERT_EQUAL(sc->epochs, 0);
    CU_ASSERT_EQUAL(sc->steps, 9);
    scenario_free(sc);
    free(sc);
    fixture_done(&fx);
}

static void test_unknown_key_names_line(void)
{
    expect_error("[cluster]\nplatform = a.xml\n[train]\nbatch = 4\nlearning_rate = 3\n", NULL, 0,
                 "case.ini:5", "learning_rate");
}

static void test_unknown_section(void)
{
    expect_error("[cluster]\nplatform = a.xml\n[trian]\nbatch = 4\n", NULL, 0, "case.ini:4",
                 "[trian]");
}

static void test_bad_values(void)
{
    const char *base = "[cluster]\nplatform = a.xml\n[train]\n";
    char text[256];
    const char *bad[][2] = {
        {"lr = abc", "lr"},
        {"lr = 0", "lr"},
        {"lr = -1", "lr"},
        {"batch = 0", "batch"},
        {"batch = 3.5", "batch"},
        {"epochs = -2", "epochs"},
        {"seed = -1", "seed"},
        {"optimizer = sgdd", "sgd adam"},
        {"momentum = 1.5", "momentum"},
        {"steps = 99999999999999", "steps"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s\n", base, bad[i][0]);
        expect_error(text, NULL, 0, "case.ini:4", bad[i][1]);
    }
    expect_error("[cluster]\nplatform = a.xml\n[model]\nhidden = 10,,x\n", NULL, 0, "case.ini:4",
                 "hidden");
    expect_error("[cluster]\nplatform = a.xml\n[model]\nhidden = \n", NULL, 0, "case.ini:4",
                 "hidden");
}

static void test_cross_key_errors(void)
{
    expect_error("[cluster]\nplatform = a.xml\n[train]\nepochs = 2\nsteps = 5\n", NULL, 0,
                 "case.ini:4", "case.ini:5");
    expect_error("[cluster]\nplatform = a.xml\n[train]\nepochs = 2\nepochs = 3\n", NULL, 0,
                 "case.ini:5", "line 4");
    expect_error("[cluster]\nplatform = a.xml\n[train]\noptimizer = adam\nmomentum = 0.5\n", NULL,
                 0, "case.ini:5", "momentum");
    expect_error("[cluster]\nplatform = a.xml\n[train]\nbeta1 = 0.5\n", NULL, 0, "case.ini:4",
                 "adam");
    expect_error("[model]\nkind = mlp\nchannels = 3\n[cluster]\nplatform = a.xml\n", NULL, 0,
                 "case.ini:3", "cnn");
    expect_error("[train]\nbatch = 4\n", NULL, 0, "platform", NULL);
    expect_error("[cluster]\nplatform = a.xml\n[strategy]\nkind = magic\n", NULL, 0, "magic",
                 "serial");
    expect_error("[cluster]\nplatform = a.xml\nworkers = 4\n", NULL, 0, "workers = 1", NULL);
}

/* A key of another kind is an error, unless --set chose the kind: then
 * the file was written for the other kind, and its keys are left out. */
static void test_other_kind(void)
{
    const char *text = "[cluster]\nplatform = a.xml\nworkers = 2\n[strategy]\nkind = pipeline\n"
                       "stages = 2\nmicrobatches = 2\n";
    const char *dp[] = {"strategy.kind=data-parallel"};
    Fixture fx = {0};
    Scenario *sc = malloc(sizeof *sc);
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(scenario_load(sc, write_ini(&fx, text), dp, 1, &err), 0);
    CU_ASSERT_STRING_EQUAL(sc->strategy->name, "data-parallel");
    CU_ASSERT_PTR_NOT_NULL(strstr(sc->notes, "case.ini:6: [strategy] stages is a setting of kind = "
                                             "pipeline: left out"));
    CU_ASSERT_PTR_NOT_NULL(strstr(sc->notes, "case.ini:7: [strategy] microbatches"));
    scenario_free(sc);
    free(sc);
    fixture_done(&fx);
    expect_error("[cluster]\nplatform = a.xml\n[strategy]\nkind = data-parallel\nstages = 2\n",
                 NULL, 0, "case.ini:5", "stages is a setting of kind = pipeline");
    const char *stages[] = {"strategy.kind=data-parallel", "strategy.stages=2"};
    expect_error("[cluster]\nplatform = a.xml\n", stages, 2, "--set strategy.stages=2",
                 "not of kind = data-parallel");
}

static void test_malformed_line(void)
{
    expect_error("[cluster]\nplatform = a.xml\nthis is not ini\n", NULL, 0, "case.ini:3", NULL);
}

static void test_bad_set(void)
{
    const char *a[] = {"train.lr"};
    expect_error("[cluster]\nplatform = a.xml\n", a, 1, "--set train.lr", "section.key=value");
    const char *b[] = {"train.nope=1"};
    expect_error("[cluster]\nplatform = a.xml\n", b, 1, "--set train.nope=1", "nope");
    const char *c[] = {"train.lr=-3"};
    expect_error("[cluster]\nplatform = a.xml\n", c, 1, "--set train.lr=-3", "lr");
}

static void test_missing_file(void)
{
    Scenario *sc = malloc(sizeof *sc);
    DtError err = {0};
    CU_ASSERT_EQUAL(scenario_load(sc, "/nonexistent/dir/x.ini", NULL, 0, &err), -1);
    CU_ASSERT_EQUAL(err.kind, DT_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/dir/x.ini"));
    scenario_free(sc);
    free(sc);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"values and defaults", test_values_and_defaults},
        {"--set overrides", test_set_overrides},
        {"unknown key names file:line", test_unknown_key_names_line},
        {"unknown section", test_unknown_section},
        {"bad values", test_bad_values},
        {"errors across keys", test_cross_key_errors},
        {"keys of another kind", test_other_kind},
        {"malformed line", test_malformed_line},
        {"bad --set", test_bad_set},
        {"missing file", test_missing_file},
        CU_TEST_INFO_NULL,
    };
    return test_run("scenario", tests);
}
