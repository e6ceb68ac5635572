/*
 * fuzz_scenario.c - a libFuzzer target: any bytes as a scenario file and
 * --set options, through everything dtsim does with a scenario before it
 * reads data or a platform (the INI reader, every key's parser and check,
 * the strategy's and the model's checks, the model's layout, the global
 * batch, the ranks and each rank's memory).
 *
 * The input is the scenario; a line "%%" ends it, and each line after
 * that is one --set option.  Whatever the input, dtsim must either accept
 * it or refuse it as bad input with a message; a crash, a sanitizer's
 * report, a hang (libFuzzer's -timeout) or a refusal that is not bad input
 * (or says nothing) is a finding.
 *
 * Built by -DDTSIM_FUZZ=ON with clang; .ci/run runs it for a minute from
 * tests/fuzz/ (the shipped scenarios and a few of its own), and
 * `build-fuzz/tests/fuzz_scenario -max_total_time=600 tests/fuzz` for
 * longer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "plan.h"
#include "scenario.h"
#include "strategy.h"

#define FUZZ_MAX_SETS 16

static char scenario_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/dtsim-fuzz-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    snprintf(scenario_path, sizeof scenario_path, "%s/fuzz.ini", dir);
    return 0;
}

/* Split text (size bytes) at the first "\n%%\n": the scenario before it,
 * --set options a line each after it (in place, *nset of them).  Returns
 * the scenario's length, NULs included. */
static size_t split_sets(char *text, size_t size, const char **sets, int *nset)
{
    *nset = 0;
    char *mark = strstr(text, "\n%%\n");
    if (!mark)
        return size;
    *mark = '\0';
    for (char *line = mark + 4; *line && *nset < FUZZ_MAX_SETS;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        sets[(*nset)++] = line;
        if (!end)
            break;
        line = end + 1;
    }
    return (size_t)(mark - text);
}

static void fuzz_one(const char *text, size_t len, const char *const *sets, int nset)
{
    FILE *f = fopen(scenario_path, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
    Scenario *sc = calloc(1, sizeof *sc);
    if (!sc)
        abort();
    DtError err = {0};
    int rc = scenario_load_on(sc, scenario_path, DTSIM_SOURCE_DIR "/platforms/cluster-10gbe.xml",
                              sets, nset, &err);
    if (rc == 0) {
        Model m;
        rc = model_build(&m, &sc->model, &err);
        if (rc == 0) {
            int batch = sc->strategy->global_batch(sc);
            int ranks = sc->strategy->ranks(sc);
            MemoryNeed need = plan_replica_memory(&m, &sc->opt, sc->batch);
            if (batch < 1 || ranks < 1 || !(memory_total(&need) >= 0.0))
                abort();
        }
    }
    /* refused: as bad input, with a message */
    if (rc != 0 && (err.kind != DT_EINPUT || !err.msg[0])) {
        fprintf(stderr, "refused, but not as bad input (kind %d): '%s'\n", err.kind, err.msg);
        abort();
    }
    scenario_free(sc);
    free(sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *sets[FUZZ_MAX_SETS];
    int nset;
    size_t len = split_sets(text, size, sets, &nset);
    fuzz_one(text, len, sets, nset);
    free(text);
    return 0;
}
