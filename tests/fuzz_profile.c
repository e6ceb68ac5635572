/*
 * fuzz_profile.c - a libFuzzer target: any bytes as a platform's host
 * state profile, or as the platform itself, through what dtsim reads of
 * them before SimGrid does (sim/profiles.h, sim/xml.h): the platform's
 * hosts and peers with a state_file, their profiles, the copy of the
 * platform without them, and the failures the profiles give.
 *
 * The input is the profile; when it starts with '<', the part before a
 * line "%%" is the platform instead (its state_file attributes may name
 * p.profile) and the rest the profile.  Whatever the input, dtsim must
 * either read it or refuse it as bad input with a message; the failures
 * must come in order, each after the one before, at finite dates, each
 * back after a positive repair or never.  A crash, a sanitizer's report,
 * a hang or a broken promise is a finding.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiles.h"

static char dir[64], platform[96], profile[96];

static const char default_platform[] =
    "<?xml version='1.0'?>\n<platform version=\"4.1\">\n<zone id=\"z\" routing=\"Full\">\n"
    "<host id=\"a\" speed=\"1Gf\" state_file=\"p.profile\"/>\n<host id=\"b\" speed=\"1Gf\"/>\n"
    "</zone>\n</platform>\n";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/dtsim-fuzz-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(platform, sizeof platform, "%s/p.xml", dir);
    snprintf(profile, sizeof profile, "%s/p.profile", dir);
    setenv("TMPDIR", dir, 1); /* the copies */
    return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
}

/* The failures of every profile, in order, until none or many. */
static void check_failures(const Profiles *p)
{
    for (int i = 0; i < p->n; i++) {
        double after = -1.0, at, repair;
        for (int k = 0; k < 64 && profile_next_failure(&p->host[i], after, &at, &repair); k++) {
            if (!(at > after) || !isfinite(at) || !(repair < 0.0 || repair > 0.0) ||
                !isfinite(repair)) {
                fprintf(stderr, "profile %s: failure at %g (after %g), repair %g\n",
                        p->host[i].file, at, after, repair);
                abort();
            }
            after = at;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *prof = text;
    size_t plen = size;
    char *mark = size && text[0] == '<' ? strstr(text, "\n%%\n") : NULL;
    if (mark) {
        write_file(platform, text, (size_t)(mark - text) + 1);
        prof = mark + 4;
        plen = size - (size_t)(prof - text);
    } else {
        write_file(platform, default_platform, sizeof default_platform - 1);
    }
    write_file(profile, prof, plen);
    Profiles p;
    DtError err = {0};
    int rc = profiles_read(&p, platform, &err);
    if (rc < 0 && (err.kind != DT_EINPUT || !err.msg[0])) {
        fprintf(stderr, "refused, but not as bad input: %s\n", err.msg);
        abort();
    }
    if (rc == 0) {
        check_failures(&p);
        if (p.n > 0 && access(profiles_platform(&p, platform), R_OK) != 0)
            abort(); /* the copy SimGrid would load */
    }
    profiles_free(&p);
    if (p.copy[0] || access(platform, R_OK) != 0)
        abort();
    free(text);
    return 0;
}
