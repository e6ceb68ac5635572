/*
 * collective_cmd.c - `dtsim collective` (see collective_cmd.h).
 *
 * Everything the user typed is checked before SimGrid starts, so that bad
 * input ends with exit code 2 and one line saying what to fix: the sizes,
 * the operation and algorithm, the platform (loaded first in a child
 * process by platform_check, since SimGrid aborts on a bad file), the
 * number of ranks against the platform's hosts and the algorithm's own
 * limits, and whether those ranks can reach each other at all (a trial
 * exchange, again in a child).  An algorithm that follows nodes checks
 * how the ranks' hosts group into nodes once the platform is loaded, still
 * before the simulation runs.  The run itself places rank i on the i-th
 * host in natural name order and gives every rank a timing-only buffer:
 * the same messages and simulated bytes as a real collective, without
 * allocating or adding the floats, so sizes far beyond this machine's
 * memory can be timed.
 * Bandwidths follow nccl-tests: algbw = bytes / time, and busbw scales it
 * by what each link must carry, so that busbw is comparable across
 * operations and rank counts and approaches the link bandwidth.
 */
#include "collective_cmd.h"

#include "cli.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collective.h"
#include "placement.h"
#include "platform.h"

typedef struct CollArgs {
    const char *platform, *op, *algo, *ranks, *bytes, *root;
    int json;
    int help;
    SimOptions sim; /* the --cfg options */
} CollArgs;

/* What the command will run, once the arguments are understood. */
typedef struct CollPlan {
    CollOp op;
    const CollectiveOps *ops;
    unsigned long long bytes;
    int ranks; /* 0 until known: every host of the platform */
    int root;
    double wall_start; /* record_clock() when the simulation began */
    const SimOptions *sim;
} CollPlan;

/* The state of one simulated rank (heap: all ranks share one process). */
typedef struct CollRank {
    Comm comm;
    Group group;
    const CollectiveOps *ops;
    size_t count;
    int root;
} CollRank;

void collective_print_usage(FILE *out)
{
    fprintf(out,
            "  dtsim collective --platform F --op OP --algo A --bytes N [options]\n"
            "      time one collective on every rank, as nccl-tests would report it\n"
            "  --op allreduce|allgather|reduce-scatter|broadcast\n"
            "  --algo ring|ring-flow|rhd|tree|ps|hierarchical|hierarchical-rhd\n"
            "                        ring: all but broadcast; ring-flow: allreduce, the\n"
            "                        ring's bytes and latencies as one flow per link;\n"
            "                        rhd: allreduce on a power-of-two number of ranks;\n"
            "                        tree: allreduce and broadcast; ps: allreduce through\n"
            "                        rank 0 (one server);\n"
            "                        hierarchical: allreduce on several nodes of several\n"
            "                        hosts each (ring inside nodes; ring, or rhd, across)\n"
            "  --bytes N             size, a multiple of 4 (float32); K, M, G are powers of\n"
            "                        1024, e.g. 64K, 16M\n"
            "  --ranks N             one rank per host in name order (default: every host)\n"
            "  --root R              the broadcasting rank (default 0)\n"
            "  --json                one JSON object instead of a line of text\n"
            "  --cfg=NAME:VALUE      a SimGrid option (repeatable); the ideal alpha-beta\n"
            "                        network: --cfg=network/model:CM02\n"
            "                        --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:1e18\n");
}

static void coll_args_free(CollArgs *a)
{
    sim_options_free(&a->sim);
}

static int coll_parse_args(CollArgs *a, int argc, char **argv, DtError *err)
{
    static const char *const names[] = {"--platform", "--op",    "--algo",
                                        "--ranks",    "--bytes", "--root"};
    for (int i = 2; i < argc; i++) {
        const char **slots[] = {&a->platform, &a->op, &a->algo, &a->ranks, &a->bytes, &a->root};
        const char *v = NULL;
        int matched = 0;
        for (size_t k = 0; !matched && k < sizeof names / sizeof names[0]; k++) {
            if (!cli_option(argc, argv, &i, names[k], &v))
                continue;
            if (!v || !*v)
                return dt_fail(err, DT_EINPUT, "option %s needs a value (see dtsim --help)",
                               names[k]);
            *slots[k] = v;
            matched = 1;
        }
        if (matched)
            continue;
        if (cli_option(argc, argv, &i, "--cfg", &v)) {
            if (sim_options_add(&a->sim, v, err) < 0)
                return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            a->help = 1;
        } else if (argv[i][0] == '-') {
            return dt_fail(err, DT_EINPUT,
                           "unknown option '%s' for dtsim collective (see dtsim --help)", argv[i]);
        } else {
            return dt_fail(err, DT_EINPUT,
                           "unexpected argument '%s': dtsim collective takes options only",
                           argv[i]);
        }
    }
    return 0;
}

/* A size in bytes: digits, then optionally K, M or G (powers of 1024). */
static int coll_parse_bytes(const char *text, unsigned long long *bytes)
{
    if (!isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned long long unit = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        unit = 1ULL << 10;
        end++;
        break;
    case 'M':
        unit = 1ULL << 20;
        end++;
        break;
    case 'G':
        unit = 1ULL << 30;
        end++;
        break;
    default:
        break;
    }
    /* Simulated sizes travel as long; keep them well inside it. */
    if (*end != '\0' || v == 0 || v > (1ULL << 50) / unit)
        return -1;
    *bytes = v * unit;
    return 0;
}

/* A non-negative int, all of the text. */
static int coll_parse_int(const char *text, int *out)
{
    if (!isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno || *end != '\0' || v > INT32_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* Everything that does not need the platform. */
static int coll_plan(const CollArgs *a, CollPlan *plan, DtError *err)
{
    if (!a->platform)
        return dt_fail(err, DT_EINPUT,
                       "dtsim collective needs --platform F, a SimGrid platform XML");
    if (!a->op)
        return dt_fail(err, DT_EINPUT,
                       "dtsim collective needs --op allreduce, allgather, reduce-scatter or "
                       "broadcast");
    int op = collective_op_parse(a->op);
    if (op < 0)
        return dt_fail(err, DT_EINPUT,
                       "unknown --op '%s'; choose allreduce, allgather, reduce-scatter or "
                       "broadcast",
                       a->op);
    plan->op = (CollOp)op;
    char algos[128];
    collective_algos(plan->op, algos, sizeof algos);
    if (!a->algo)
        return dt_fail(err, DT_EINPUT, "dtsim collective needs --algo; for %s: %s", a->op, algos);
    plan->ops = collective_find(plan->op, a->algo);
    if (!plan->ops)
        return dt_fail(err, DT_EINPUT, "no algorithm '%s' for %s; choose %s", a->algo, a->op,
                       algos);
    if (!a->bytes)
        return dt_fail(err, DT_EINPUT, "dtsim collective needs --bytes N, e.g. --bytes 16M");
    if (coll_parse_bytes(a->bytes, &plan->bytes) < 0 || plan->bytes % 4 != 0)
        return dt_fail(err, DT_EINPUT,
                       "--bytes '%s': expected a positive multiple of 4 bytes (float32), "
                       "optionally with a K, M or G suffix, e.g. 1024, 64K, 16M",
                       a->bytes);
    plan->ranks = 0;
    if (a->ranks && (coll_parse_int(a->ranks, &plan->ranks) < 0 || plan->ranks < 1))
        return dt_fail(err, DT_EINPUT, "--ranks '%s': expected a positive number of ranks",
                       a->ranks);
    plan->root = 0;
    if (a->root && coll_parse_int(a->root, &plan->root) < 0)
        return dt_fail(err, DT_EINPUT, "--root '%s': expected a rank, 0 or more", a->root);
    if (a->root && plan->ops->op != COLL_BROADCAST)
        return dt_fail(err, DT_EINPUT,
                       "--root %s: only a broadcast has a root; drop --root for --op %s", a->root,
                       a->op);
    plan->sim = &a->sim;
    return 0;
}

/* What needs the platform's host count. */
static int coll_plan_ranks(const CollArgs *a, CollPlan *plan, int hosts, DtError *err)
{
    if (hosts < 1)
        return dt_fail(err, DT_EINPUT, "platform '%s' has no hosts", a->platform);
    if (plan->ranks == 0)
        plan->ranks = hosts;
    if (plan->ranks > hosts)
        return dt_fail(err, DT_EINPUT,
                       "--ranks %d but platform '%s' has %d host%s (one rank per host); lower "
                       "--ranks or use a larger platform",
                       plan->ranks, a->platform, hosts, hosts == 1 ? "" : "s");
    char why[256];
    if (plan->ops->check(plan->ranks, why, sizeof why) < 0)
        return dt_fail(err, DT_EINPUT, "--algo %s --op %s on %d ranks: %s", a->algo, a->op,
                       plan->ranks, why);
    if (plan->root >= plan->ranks)
        return dt_fail(err, DT_EINPUT, "--root %d: there are only %d ranks (0 to %d)", plan->root,
                       plan->ranks, plan->ranks - 1);
    return 0;
}

static void coll_rank_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const CollRank *r = sg_actor_self_get_data();
    r->ops->run(&r->group, NULL, r->count, r->root);
}

/* For an algorithm that follows nodes: the nodes of the ranks' hosts, and
 * the members per node it runs with (*local; 0 for the others). */
static int coll_nodes(const CollArgs *a, const CollPlan *plan, const sg_host_t *hosts, int *local,
                      DtError *err)
{
    *local = 0;
    if (!plan->ops->check_nodes)
        return 0;
    int *node = malloc((size_t)plan->ranks * sizeof *node);
    if (!node)
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks", plan->ranks);
    placement_nodes(hosts, (size_t)plan->ranks, node);
    char why[256];
    int rc = plan->ops->check_nodes(node, plan->ranks, local, why, sizeof why);
    free(node);
    if (rc < 0)
        return dt_fail(err, DT_EINPUT,
                       "--algo %s on the first %d hosts of platform '%s' %s (a node: the hosts "
                       "joined by its fastest links)",
                       a->algo, plan->ranks, a->platform, why);
    return 0;
}

/* On a terminal, a line that says the collective is under way. */
static void coll_progress(void *ctx, unsigned long long delivered)
{
    const CollPlan *plan = ctx;
    fprintf(stderr, "\r\033[K%s %s on %d ranks: %llu messages delivered, sim %.6g s, wall %.0f s",
            collective_op_name(plan->op), plan->ops->algo, plan->ranks, delivered,
            simgrid_get_clock(), record_clock() - plan->wall_start);
    fflush(stderr);
}

/* Run the collective once on every rank; returns the simulated seconds. */
static int coll_simulate(const CollArgs *a, const CollPlan *plan, double *seconds, DtError *err)
{
    platform_load(a->platform, plan->sim, NULL);
    size_t nhosts;
    sg_host_t *hosts = placement_all_hosts(&nhosts);
    const int p = plan->ranks;
    int local = 0;
    if (hosts && coll_nodes(a, plan, hosts, &local, err) < 0) {
        free(hosts);
        return -1;
    }
    CommWorld world;
    CollRank *ranks = calloc((size_t)p, sizeof *ranks);
    if (!hosts || !ranks || comm_world_init(&world, p, NULL, (double)sizeof(float), err) < 0) {
        free(hosts);
        free(ranks);
        return dt_fail(err, DT_ERUNTIME, "out of memory for %d ranks", p);
    }
    for (int i = 0; i < p; i++) {
        CollRank *r = &ranks[i];
        r->comm = (Comm){.world = &world, .rank = i, .channel = 0};
        r->group = (Group){.comm = &r->comm, .size = p, .ranks = NULL, .index = i, .local = local};
        r->ops = plan->ops;
        r->count = (size_t)(plan->bytes / sizeof(float));
        r->root = plan->root;
        char name[32];
        snprintf(name, sizeof name, "rank-%d", i);
        sg_actor_t actor = sg_actor_init(name, hosts[i]);
        sg_actor_set_data(actor, r);
        sg_actor_start(actor, coll_rank_main, 0, NULL);
    }
    int tty = isatty(STDERR_FILENO);
    if (tty)
        comm_progress(coll_progress, (void *)plan);
    simgrid_run();
    if (tty) {
        comm_progress(NULL, NULL);
        fputs("\r\033[K", stderr);
    }
    *seconds = simgrid_get_clock();
    comm_world_free(&world);
    free(ranks);
    free(hosts);
    return 0;
}

/* nccl-tests' bus bandwidth factor: what each rank's link carries per byte
 * of the operation's size. */
static double coll_bus_factor(CollOp op, int p)
{
    switch (op) {
    case COLL_ALLREDUCE:
        return 2.0 * (p - 1) / p;
    case COLL_ALLGATHER:
    case COLL_REDUCE_SCATTER:
        return (double)(p - 1) / p;
    case COLL_BROADCAST:
    default:
        return 1.0;
    }
}

static int coll_report(const CollArgs *a, const CollPlan *plan, double seconds, DtError *err)
{
    char network[64];
    platform_network_model(a->platform, plan->sim, network, sizeof network);
    /* One rank, or nothing to wait for: no time, no meaningful bandwidth. */
    const int timed = seconds > 0.0;
    const double algbw = timed ? (double)plan->bytes / seconds / 1e9 : 0.0;
    const double busbw = algbw * coll_bus_factor(plan->op, plan->ranks);
    const char *op = collective_op_name(plan->op);
    if (!a->json) {
        printf("%s %s: %d rank%s, %llu bytes, %.6g simulated s, algbw %.4g GB/s, busbw %.4g "
               "GB/s (network %s, platform %s)\n",
               op, plan->ops->algo, plan->ranks, plan->ranks == 1 ? "" : "s", plan->bytes, seconds,
               algbw, busbw, network, a->platform);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    cJSON_AddStringToObject(o, "op", op);
    cJSON_AddStringToObject(o, "algo", plan->ops->algo);
    cJSON_AddNumberToObject(o, "ranks", plan->ranks);
    cJSON_AddNumberToObject(o, "bytes", (double)plan->bytes);
    if (plan->op == COLL_BROADCAST)
        cJSON_AddNumberToObject(o, "root", plan->root);
    cJSON_AddNumberToObject(o, "simulated_seconds", seconds);
    cJSON_AddNumberToObject(o, "algbw_gbps", algbw);
    cJSON_AddNumberToObject(o, "busbw_gbps", busbw);
    cJSON_AddStringToObject(o, "network_model", network);
    cJSON_AddStringToObject(o, "platform", a->platform);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return dt_fail(err, DT_ERUNTIME, "out of memory");
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int collective_parse(int argc, char **argv, int hosts, DtError *err)
{
    CollArgs a = {0};
    CollPlan plan = {0};
    int rc = coll_parse_args(&a, argc, argv, err);
    if (rc == 0 && !a.help)
        rc = coll_plan(&a, &plan, err);
    if (rc == 0 && !a.help)
        rc = coll_plan_ranks(&a, &plan, hosts, err);
    coll_args_free(&a);
    return rc;
}

int collective_command(int argc, char **argv, DtError *err)
{
    CollArgs a = {0};
    CollPlan plan = {0};
    double seconds = 0.0;
    int rc = coll_parse_args(&a, argc, argv, err);
    if (rc == 0 && a.help) {
        printf("Usage:\n");
        collective_print_usage(stdout);
        coll_args_free(&a);
        return 0;
    }
    if (rc == 0)
        rc = coll_plan(&a, &plan, err);
    if (rc == 0) {
        int hosts = platform_check(a.platform, plan.sim, err);
        rc = hosts < 0 ? -1 : coll_plan_ranks(&a, &plan, hosts, err);
    }
    /* Only now is the number of ranks known: can they reach each other? */
    if (rc == 0 && platform_check_ranks(a.platform, plan.sim, plan.ranks, NULL, err) < 0)
        rc = -1;
    if (rc == 0) {
        plan.wall_start = record_clock();
        rc = coll_simulate(&a, &plan, &seconds, err);
    }
    if (rc == 0)
        rc = coll_report(&a, &plan, seconds, err);
    coll_args_free(&a);
    return rc;
}
