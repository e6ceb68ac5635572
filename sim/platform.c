/*
 * platform.c - SimGrid platform loading behind a crash-proof check (see
 * platform.h).
 */
#include "platform.h"

#include "cli.h"
#include "energy.h"
#include "placement.h"
#include "profiles.h"
#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/link.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* argv for simgrid_init: the program name, then the --cfg options.  A
 * platform may turn SimGrid's tracing on: its files go where `trace` (a
 * --cfg=tracing/filename option, before the user's own, which may say
 * otherwise) puts them, or with trace NULL (the check) nowhere. */
static char **sim_argv(const SimOptions *opts, const char *trace, int *argc)
{
    char **argv = calloc((size_t)opts->ncfg + 8, sizeof *argv);
    if (!argv)
        return NULL;
    int n = 0;
    argv[n++] = (char *)"dtsim";
    /* dtsim reports the configuration itself (summary.json, result line),
     * and a platform's own <config> giving way to the command line is no news */
    argv[n++] = (char *)"--log=xbt_cfg.thres:warning";
    argv[n++] = (char *)"--log=surf_parse.thres:warning";
    /* and the energy plugins' totals (and hosts without wattage) are
     * dtsim's to report, in summary.json */
    argv[n++] = (char *)"--log=host_energy.thres:error";
    argv[n++] = (char *)"--log=link_energy.thres:error";
    if (trace)
        argv[n++] = (char *)trace;
    for (int i = 0; i < opts->ncfg; i++)
        argv[n++] = (char *)opts->cfg[i];
    if (!trace)
        argv[n++] = (char *)"--cfg=tracing:no";
    *argc = n;
    return argv;
}

/* With energy, SimGrid's energy plugins the platform asks for are on
 * (energy.h). */
static void load(const char *path, const SimOptions *opts, const char *trace_dir, int energy)
{
    char trace[PATH_MAX + 64];
    snprintf(trace, sizeof trace, "--cfg=tracing/filename:%s/simgrid.trace", trace_dir);
    int argc;
    char **argv = sim_argv(opts, trace_dir ? trace : NULL, &argc);
    simgrid_init(&argc, argv);
    int hosts = 0, links = 0;
    char why[512];
    if (energy)
        (void)energy_scan(path, &hosts, &links, why, sizeof why);
    energy_plugins_init(hosts, links);
    simgrid_load_platform(path);
    free(argv);
}

void platform_load(const char *path, const SimOptions *opts, const char *trace_dir)
{
    load(path, opts, trace_dir, 1);
}

/* The most useful line of what SimGrid printed before dying: its first
 * error or critical message, without the "[time] file:line: [cat/LEVEL]"
 * prefix. */
static void sim_error_line(char *text, char *out, size_t size)
{
    char *best = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const char *start = line + strspn(line, " \t");
        if (strstr(line, "Exiting now") || strncmp(start, "Backtrace", 9) == 0 ||
            strncmp(start, "->", 2) == 0)
            continue;
        if (strstr(line, "/ERROR]") || strstr(line, "/CRITICAL]")) {
            best = line;
            break;
        }
        if (!best)
            best = line;
    }
    if (!best) {
        snprintf(out, size, "SimGrid stopped without a message");
        return;
    }
    char *level = strstr(best, "/ERROR] ");
    if (!level)
        level = strstr(best, "/CRITICAL] ");
    char *msg = level ? strchr(level, ']') + 2 : best;
    if (strncmp(msg, "Uncaught exception ", 19) == 0)
        msg += 19;
    snprintf(out, size, "%s", msg);
}

/* One rank of the trial exchange in platform_check's child. */
typedef struct Probe {
    int rank, nranks;
} Probe;

/* The pairs whose routes are asked for: all of them up to 64 ranks; then
 * ring neighbours, hypercube partners, and every rank with the first and
 * the last eight. */
static int probe_pairs(int i, int j, int n)
{
    if (n <= 64)
        return 1;
    int d = i ^ j;
    return (j == (i + 1) % n) || (i == (j + 1) % n) || (d & (d - 1)) == 0 || i == 0 || j == 0 ||
           i >= n - 8 || j >= n - 8;
}

/* The pairs that exchange a message: all of them up to 64 ranks, then ring
 * neighbours only (thousands of ranks each talking to many at once would
 * keep SimGrid's bandwidth sharing busy for minutes; their routes were
 * asked for already). */
static int probe_talks(int i, int j, int n)
{
    return n <= 64 || j == (i + 1) % n || i == (j + 1) % n;
}

static void probe_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Probe *p = sg_actor_self_get_data();
    sg_comm_t *acts = malloc(2 * (size_t)p->nranks * sizeof *acts);
    void **got = malloc((size_t)p->nranks * sizeof *got);
    size_t n = 0;
    char name[48];
    for (int j = 0; j < p->nranks; j++) {
        if (j == p->rank || !probe_talks(p->rank, j, p->nranks))
            continue;
        snprintf(name, sizeof name, "probe:%d>%d", p->rank, j);
        acts[n++] = sg_mailbox_put_async(sg_mailbox_by_name(name), p, 1);
        snprintf(name, sizeof name, "probe:%d>%d", j, p->rank);
        acts[n++] = sg_mailbox_get_async(sg_mailbox_by_name(name), &got[j]);
    }
    sg_comm_wait_all(acts, n);
    /* and one large message, which some network models (ns-3) cannot carry */
    if (p->rank < 2 && p->nranks >= 2) {
        sg_mailbox_t big = sg_mailbox_by_name("probe:big");
        if (p->rank == 0)
            sg_mailbox_put(big, p, 1 << 20);
        else
            sg_mailbox_get(big);
    }
    free(acts);
    free(got);
}

/* In the child: a link SimGrid would fail on (its own message is "The
 * Impossible Did Happen") or too slow for a run's time to stay finite,
 * in words for the user naming path and line; 0 when all are sound. */
static int links_check(const char *path, char *buf, size_t size)
{
    size_t n = sg_link_count();
    sg_link_t *links = sg_link_list();
    int bad = 0;
    char where[512];
    for (size_t i = 0; i < n && !bad; i++) {
        double bw = sg_link_get_bandwidth(links[i]), lat = sg_link_get_latency(links[i]);
        const char *name = sg_link_get_name(links[i]);
        if (!(bw >= PLATFORM_MIN_RATE) || !isfinite(bw)) {
            xml_where(path, "link", name, where, sizeof where);
            snprintf(buf, size,
                     "%s: link '%s' has a bandwidth of %g bytes/s; give it a finite one of at "
                     "least %g, e.g. 1.25GBps",
                     where, name, bw, PLATFORM_MIN_RATE);
            bad = 1;
        } else if (!(lat >= 0.0) || !isfinite(lat)) {
            xml_where(path, "link", name, where, sizeof where);
            snprintf(buf, size,
                     "%s: link '%s' has a latency of %g s; give it a finite one of 0 or more, "
                     "e.g. 25us",
                     where, name, lat);
            bad = 1;
        }
    }
    free(links);
    return bad;
}

/* The reach check's actors: each placed host sends one byte to `to`,
 * whose actor takes them all; a host without a route to it stops SimGrid. */
static void reach_send(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    sg_mailbox_put(sg_mailbox_by_name("probe:reach"), sg_actor_self_get_data(), 1);
}

static void reach_take(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int n = *(const int *)sg_actor_self_get_data();
    for (int i = 0; i < n; i++)
        (void)sg_mailbox_get(sg_mailbox_by_name("probe:reach"));
}

static void reach_run(int nranks, sg_host_t *hosts, sg_host_t to)
{
    int senders = 0;
    for (int i = 0; i < nranks; i++) {
        if (hosts[i] == to)
            continue;
        sg_actor_t a = sg_actor_init("reach", hosts[i]);
        sg_actor_set_data(a, hosts[i]);
        sg_actor_start(a, reach_send, 0, NULL);
        senders++;
    }
    sg_actor_t t = sg_actor_init("reach-target", to);
    sg_actor_set_data(t, &senders);
    sg_actor_start(t, reach_take, 0, NULL);
    simgrid_run();
}

/* In the child: start the probes on the placed hosts and run. */
static void probe_run(int nranks, sg_host_t *hosts)
{
    /* a missing route stops SimGrid here, with its reason */
    for (int i = 0; nranks > 64 && i < nranks; i++)
        for (int j = 0; j < nranks; j++)
            if (j != i && probe_pairs(i, j, nranks))
                (void)sg_host_get_route_latency(hosts[i], hosts[j]);
    Probe *probes = malloc((size_t)nranks * sizeof *probes);
    for (int i = 0; i < nranks; i++) {
        probes[i] = (Probe){i, nranks};
        sg_actor_t a = sg_actor_init("probe", hosts[i]);
        sg_actor_set_data(a, &probes[i]);
        sg_actor_start(a, probe_main, 0, NULL);
    }
    simgrid_run();
    free(probes);
}

int platform_check(const char *path, const SimOptions *opts, DtError *err)
{
    /* (a run reads them with its state profiles, before loading a copy;
     * a path that is not a regular file is refused just below) */
    if (profiles_check_scales(path, err) < 0)
        return -1;
    return platform_check_ranks(path, opts, 0, NULL, err);
}

/* Refuse a platform that turns a host or a link off at some time (a state
 * profile) for ranks that exchange messages: a transfer cut by a failure
 * stops SimGrid itself.  Names the first line that does. */
/* What in a platform turns a resource off that dtsim does not follow:
 * its element and a message, NULL when nothing.  A run follows its
 * hosts' (and peers') state profiles (profiles.h, which blanks them in
 * the copy it has SimGrid load; with hosts, they are looked for: a
 * collective does not follow them); a link that goes off matters only to
 * ranks that communicate (links). */
static const char *failure_mark(const char *text, int hosts, int links, const char **at)
{
    static const char *const tags[] = {"host", "peer", "link"};
    const char *end;
    char value[PATH_MAX];
    for (size_t t = hosts ? 0 : 2; t < (links ? 3u : 2u); t++)
        for (const char *el = xml_element(text, tags[t], &end); el;
             el = xml_element(end, tags[t], &end))
            if (xml_attribute(el, end, "state_file", value, sizeof value, NULL)) {
                *at = el;
                return t < 2 ? "a host's state_file turns it off during the run, which `dtsim "
                               "run` follows as a failure but a collective does not: use a "
                               "platform without it"
                             : "a link's state_file turns it off during the run; dtsim "
                               "follows hosts that fail (their state_file, [faults] fail), not "
                               "links: use a platform whose links have no state profile";
            }
    for (const char *el = xml_element(text, "trace_connect", &end); el;
         el = xml_element(end, "trace_connect", &end))
        if (xml_attribute(el, end, "kind", value, sizeof value, NULL) &&
            (strcmp(value, "HOST_AVAIL") == 0 || (links && strcmp(value, "LINK_AVAIL") == 0))) {
            *at = el;
            return strcmp(value, "HOST_AVAIL") == 0
                       ? "trace_connect kind=\"HOST_AVAIL\" turns a host off during the run: give "
                         "the host its profile as state_file=\"FILE\", which dtsim follows"
                       : "trace_connect kind=\"LINK_AVAIL\" turns a link off during the run; "
                         "dtsim follows hosts that fail, not links: use a platform without it";
        }
    return NULL;
}

static int platform_refuse_failures(const char *path, int nranks, DtError *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return dt_fail(err, DT_EINPUT, "cannot open platform '%s': %s", path, strerror(errno));
    fclose(f);
    char *text = xml_text(path);
    if (!text)
        return 0;
    const char *at = NULL, *why = failure_mark(text, nranks > 0, nranks > 1, &at);
    int line = why ? xml_line(text, at) : 0;
    free(text);
    if (why)
        return dt_fail(err, DT_EINPUT, "%s:%d: %s", path, line, why);
    return 0;
}

/* The check's child: load the platform, check its links, place and probe
 * the ranks, and tell the parent the host count, or "!why", on out; never
 * returns. */
static void check_child(const char *path, const SimOptions *opts, int nranks, const char *hosts,
                        const char *reach, int out)
{
    /* without the energy plugins, which abort on wattage they cannot read:
     * energy_check_hosts says why instead */
    load(path, opts, NULL, 0);
    char buf[sizeof((DtError *)0)->msg + 32];
    int len;
    if (links_check(path, buf + 1, sizeof buf - 1) || energy_check_hosts(buf + 1, sizeof buf - 1)) {
        buf[0] = '!';
        len = (int)strlen(buf);
        _exit(write(out, buf, (size_t)len) != len ? 3 : 0);
    }
    if (nranks > 0 && (hosts || (size_t)nranks <= sg_host_count())) {
        DtError perr;
        sg_host_t *placed = placement_list(nranks, hosts, &perr);
        if (!placed) {
            /* a placement error, told to the parent as "!message" */
            len = snprintf(buf, sizeof buf, "!%s", perr.msg);
            _exit(write(out, buf, (size_t)len) != len ? 3 : 0);
        }
        if (nranks > 1)
            probe_run(nranks, placed);
        /* a missing route to `reach` stops SimGrid here: "@" first says so */
        sg_host_t to = reach ? sg_host_by_name(reach) : NULL;
        if (to && write(out, "@", 1) != 1)
            _exit(3);
        if (to)
            reach_run(nranks, placed, to);
        free(placed);
    }
    len = snprintf(buf, sizeof buf, "%zu", sg_host_count());
    _exit(write(out, buf, (size_t)len) != len ? 3 : 0);
}

/* Why the check's child failed, from what SimGrid printed (text) and how
 * it ended (status), into line. */
static void child_failure(char *text, int status, const SimOptions *opts, char *line, size_t size)
{
    sim_error_line(text ? text : (char *)"", line, size);
    int ns3 = 0;
    for (int i = 0; opts && i < opts->ncfg; i++)
        ns3 |= strstr(opts->cfg[i], "network/model:ns-3") != NULL;
    if (WIFSIGNALED(status) && strcmp(line, "SimGrid stopped without a message") == 0)
        snprintf(line, size,
                 "SimGrid crashed (%s) loading it or sending its first messages, without a "
                 "word%s",
                 strsignal(WTERMSIG(status)),
                 ns3 ? "; under --cfg=network/model:ns-3 this SimGrid cannot load every "
                       "platform: try CM02 or LV08"
                     : "");
}

static void platform_option(const char *path, const SimOptions *opts, const char *name,
                            const char *def, char *buf, size_t size);

/* The wattage properties in the platform's text read, and the SimGrid
 * models its energy plugins cannot run with refused. */
static int platform_energy_models(const char *path, const SimOptions *opts, DtError *err)
{
    char why[sizeof err->msg], model[256], optim[64];
    int watts, links;
    if (energy_scan(path, &watts, &links, why, sizeof why) < 0)
        return dt_fail(err, DT_EINPUT, "%s", why);
    platform_option(path, opts, "network/model", "LV08", model, sizeof model);
    platform_option(path, opts, "cpu/optim", "Lazy", optim, sizeof optim);
    if (links && strncmp(model, "ns-3", 4) == 0)
        return dt_fail(err, DT_EINPUT,
                       "platform '%s' gives links a wattage_range, but SimGrid's link energy "
                       "cannot run under network/model:ns-3; use CM02 or LV08, or drop the "
                       "links' wattage_range",
                       path);
    if (watts && strcmp(optim, "TI") == 0)
        return dt_fail(err, DT_EINPUT,
                       "platform '%s' gives hosts a wattage_per_state, but SimGrid's host "
                       "energy cannot run under cpu/optim:TI; use --cfg=cpu/optim:Lazy, or drop "
                       "the hosts' wattage_per_state",
                       path);
    return 0;
}

int platform_check_ranks(const char *path, const SimOptions *opts, int nranks, const char *hosts,
                         DtError *err)
{
    return platform_check_reach(path, opts, nranks, hosts, NULL, err);
}

int platform_check_reach(const char *path, const SimOptions *opts, int nranks, const char *hosts,
                         const char *reach, DtError *err)
{
    if (cli_regular_file(path, "platform", "a SimGrid platform XML file", err) < 0)
        return -1;
    if (platform_refuse_failures(path, nranks, err) < 0)
        return -1;
    if (platform_energy_models(path, opts, err) < 0)
        return -1;

    int errpipe[2], outpipe[2];
    if (pipe(errpipe) < 0 || pipe(outpipe) < 0)
        return dt_fail(err, DT_ERUNTIME, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return dt_fail(err, DT_ERUNTIME, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(errpipe[1], STDERR_FILENO);
        close(errpipe[0]);
        close(outpipe[0]);
        check_child(path, opts, nranks, hosts, reach, outpipe[1]);
    }
    close(errpipe[1]);
    close(outpipe[1]);
    /* Read both pipes to the end before waiting, so a chatty child cannot
     * block on a full pipe. */
    /* SimGrid may print a long backtrace before its message: keep it all
     * (up to a bound), then pick the message out. */
    size_t cap = 1 << 20, used = 0, cused = 0;
    char *text = malloc(cap + 1), count[sizeof err->msg + 32], sink[4096];
    ssize_t got;
    while ((got = read(errpipe[0], text && used < cap ? text + used : sink,
                       text && used < cap ? cap - used : sizeof sink)) > 0)
        if (text && used < cap)
            used += (size_t)got;
    if (text)
        text[used] = '\0';
    while ((got = read(outpipe[0], count + cused, sizeof count - 1 - cused)) > 0)
        cused += (size_t)got;
    count[cused] = '\0';
    close(errpipe[0]);
    close(outpipe[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[768];
        child_failure(text, status, opts, line, sizeof line);
        free(text);
        if (count[0] == '@')
            return dt_fail(err, DT_EINPUT,
                           "platform '%s' has no route from every rank's host to host '%s', where "
                           "[train] checkpoint_to sends the checkpoints: %s",
                           path, reach, line);
        if (nranks > 1)
            return dt_fail(err, DT_EINPUT,
                           "platform '%s' (or a --cfg option) cannot run %d ranks: %s", path,
                           nranks, line);
        return dt_fail(err, DT_EINPUT, "platform '%s' (or a --cfg option) is not valid: %s", path,
                       line);
    }
    free(text);
    size_t len = strlen(path);
    if (count[0] == '!' && strncmp(count + 1, path, len) == 0 && count[1 + len] == ':')
        return dt_fail(err, DT_EINPUT, "%s", count + 1); /* names the file and line already */
    if (count[0] == '!')
        return dt_fail(err, DT_EINPUT, "platform '%s': %s", path, count + 1);
    return atoi(count[0] == '@' ? count + 1 : count);
}

/* The value of <prop id="NAME" value="..."/> in the platform's <config>
 * section, if any, copied into buf. */
static int platform_config_value(const char *path, const char *name, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024], quoted[128];
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = strstr(line, quoted);
        char *v = p ? strstr(p, "value") : NULL;
        if (!v)
            continue;
        v += strlen("value");
        v += strspn(v, " \t=");
        char *end = *v == '"' ? strchr(v + 1, '"') : NULL;
        if (end) {
            snprintf(buf, size, "%.*s", (int)(end - v - 1), v + 1);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* SimGrid's option NAME (default def): a --cfg option, else the platform
 * file's <config>, else def. */
static void platform_option(const char *path, const SimOptions *opts, const char *name,
                            const char *def, char *buf, size_t size)
{
    snprintf(buf, size, "%s", def);
    platform_config_value(path, name, buf, size);
    /* An option on the command line wins over the platform file. */
    char key[128];
    snprintf(key, sizeof key, "%s:", name);
    for (int i = 0; i < opts->ncfg; i++) {
        const char *p = strstr(opts->cfg[i], key);
        if (p)
            snprintf(buf, size, "%s", p + strlen(key));
    }
}

void platform_network_model(const char *path, const SimOptions *opts, char *buf, size_t size)
{
    platform_option(path, opts, "network/model", "LV08", buf, size);
}

/* SimGrid's solver precisions: at 0 or NaN its solver never converges (a
 * run hangs), below 0 or at NaN it crashes, at 1 it fails ("The
 * Impossible Did Happen"); it reads them only once the simulation runs,
 * too late for the platform check. */
static int sim_option_check(const char *value, DtError *err)
{
    static const char *const positive[] = {"surf/precision:", "maxmin/precision:", "bmf/precision:",
                                           "precision/timing:", "precision/work-amount:"};
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++) {
        size_t n = strlen(positive[i]);
        if (strncmp(value, positive[i], n) != 0)
            continue;
        char *end;
        errno = 0;
        double v = strtod(value + n, &end);
        if (errno || end == value + n || *end || !isfinite(v) || v <= 0.0 || v > 1e-2)
            return dt_fail(err, DT_EINPUT,
                           "--cfg %s: SimGrid's solver needs a small positive precision, from "
                           "above 0 to 0.01, e.g. 1e-5 (or leave the option out for its "
                           "default); at 0 it never converges, below 0 it crashes, and at 1 its "
                           "solver gives up",
                           value);
    }
    const char *nthreads = "contexts/nthreads:";
    if (strncmp(value, nthreads, strlen(nthreads)) == 0 && strcmp(value + strlen(nthreads), "1"))
        return dt_fail(err, DT_EINPUT,
                       "--cfg %s: dtsim's ranks rely on SimGrid running one actor at a time; "
                       "leave contexts/nthreads at 1 and give the real kernels the machine's "
                       "cores with --threads N (by default all of them)",
                       value);
    return 0;
}

int sim_options_add(SimOptions *o, const char *value, DtError *err)
{
    if (o->ncfg == SIM_MAX_CFGS)
        return dt_fail(err, DT_EINPUT, "at most %d --cfg options", SIM_MAX_CFGS);
    if (!value || !strchr(value, ':'))
        return dt_fail(err, DT_EINPUT,
                       "--cfg %s: expected NAME:VALUE, e.g. --cfg=network/model:CM02",
                       value ? value : "");
    if (sim_option_check(value, err) < 0)
        return -1;
    size_t n = strlen(value) + 7;
    char *s = malloc(n);
    if (!s)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    snprintf(s, n, "--cfg=%s", value);
    o->owned[o->ncfg] = s;
    o->cfg[o->ncfg++] = s;
    return 0;
}

void sim_options_free(SimOptions *o)
{
    for (int i = 0; i < o->ncfg; i++)
        free(o->owned[i]);
    o->ncfg = 0;
}
