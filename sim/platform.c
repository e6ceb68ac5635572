/*
 * platform.c - SimGrid platform loading behind a crash-proof check (see
 * platform.h).
 */
#include "platform.h"

#include <ctype.h>
#include <errno.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* argv for simgrid_init: the program name, then the --cfg options. */
static char **sim_argv(const SimOptions *opts, int *argc)
{
    char **argv = calloc((size_t)opts->ncfg + 3, sizeof *argv);
    if (!argv)
        return NULL;
    argv[0] = (char *)"dtsim";
    /* dtsim reports the configuration itself (summary.json, result line). */
    argv[1] = (char *)"--log=xbt_cfg.thres:warning";
    for (int i = 0; i < opts->ncfg; i++)
        argv[i + 2] = (char *)opts->cfg[i];
    *argc = opts->ncfg + 2;
    return argv;
}

void platform_load(const char *path, const SimOptions *opts)
{
    int argc;
    char **argv = sim_argv(opts, &argc);
    simgrid_init(&argc, argv);
    simgrid_load_platform(path);
    free(argv);
}

/* The most useful line of what SimGrid printed before dying: its first
 * error or critical message, without the "[time] file:line: [cat/LEVEL]"
 * prefix. */
static void sim_error_line(char *text, char *out, size_t size)
{
    char *best = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "Exiting now") || strstr(line, "backtrace") || strstr(line, "->"))
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

int platform_check(const char *path, const SimOptions *opts, DtError *err)
{
    FILE *probe = fopen(path, "r");
    if (!probe)
        return dt_fail(err, DT_EINPUT, "cannot open platform '%s': %s", path, strerror(errno));
    fclose(probe);

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
        platform_load(path, opts);
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%zu", sg_host_count());
        if (write(outpipe[1], buf, (size_t)len) != len)
            _exit(3);
        _exit(0);
    }
    close(errpipe[1]);
    close(outpipe[1]);
    /* Read both pipes to the end before waiting, so a chatty child cannot
     * block on a full pipe. */
    char text[16384], count[32];
    size_t used = 0, cused = 0;
    ssize_t got;
    while ((got = read(errpipe[0], text + used, sizeof text - 1 - used)) > 0)
        used += (size_t)got;
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
        sim_error_line(text, line, sizeof line);
        return dt_fail(err, DT_EINPUT, "platform '%s' (or a --cfg option) is not valid: %s",
                       path, line);
    }
    return atoi(count);
}

/* Compare names so that digit runs compare as numbers: node-2 < node-10. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int host_cmp(const void *x, const void *y)
{
    const char *a = sg_host_get_name(*(const sg_host_t *)x);
    const char *b = sg_host_get_name(*(const sg_host_t *)y);
    int c = natural_cmp(a, b);
    return c ? c : strcmp(a, b);
}

sg_host_t *platform_hosts(size_t *n)
{
    *n = sg_host_count();
    sg_host_t *hosts = sg_host_list();
    qsort(hosts, *n, sizeof *hosts, host_cmp);
    return hosts;
}

/* The value of <prop id="network/model" value="..."/> in the platform's
 * <config> section, if any, copied into buf. */
static int platform_config_model(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "\"network/model\"");
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

void platform_network_model(const char *path, const SimOptions *opts, char *buf, size_t size)
{
    snprintf(buf, size, "LV08");
    platform_config_model(path, buf, size);
    /* An option on the command line wins over the platform file. */
    for (int i = 0; i < opts->ncfg; i++) {
        const char *p = strstr(opts->cfg[i], "network/model:");
        if (p)
            snprintf(buf, size, "%s", p + strlen("network/model:"));
    }
}
