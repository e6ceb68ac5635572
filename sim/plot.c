/*
 * plot.c - running the gnuplot scripts of plots/ on a run's results.
 */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Is `name` an executable somewhere on PATH? */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char dir[PATH_MAX];
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int)len, path, name);
        if (len && access(dir, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

/* Append s to a gnuplot single-quoted string, doubling quotes. */
static void quote_into(char *buf, size_t size, size_t *used, const char *s)
{
    for (; *s && *used + 2 < size; s++) {
        if (*s == '\'')
            buf[(*used)++] = '\'';
        buf[(*used)++] = *s;
    }
    buf[*used] = '\0';
}

static int plot_run(const char *name, const char *out_dir, const char *title, const char *extra,
                    char *note, int note_size);

int plot_training(const char *out_dir, const char *title, int text, char *note, int note_size)
{
    return plot_run("training.gp", out_dir, title, text ? "; text=1" : "", note, note_size);
}

int plot_script(const char *name, const char *out_dir, const char *title, char *note, int note_size)
{
    return plot_run(name, out_dir, title, "", note, note_size);
}

/* gnuplot on plots/NAME with dir, title, plots and the assignments extra
 * (empty, or "; name=value ...") set. */
static int plot_run(const char *name, const char *out_dir, const char *title, const char *extra,
                    char *note, int note_size)
{
    if (!on_path("gnuplot")) {
        snprintf(note, (size_t)note_size,
                 "gnuplot not found, no plot drawn (apt-get install gnuplot-nox)");
        return 1;
    }
    const char *dir = getenv("DTSIM_PLOTS");
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/%s", dir && *dir ? dir : DTSIM_PLOTS_DIR, name);
    if (access(script, R_OK) != 0) {
        snprintf(note, (size_t)note_size, "plot script '%s' not found, no plot drawn", script);
        return 1;
    }
    char expr[2 * PATH_MAX];
    size_t used = (size_t)snprintf(expr, sizeof expr, "dir='");
    quote_into(expr, sizeof expr, &used, out_dir);
    used += (size_t)snprintf(expr + used, sizeof expr - used, "'; title='");
    quote_into(expr, sizeof expr, &used, title);
    used += (size_t)snprintf(expr + used, sizeof expr - used, "'; plots='");
    quote_into(expr, sizeof expr, &used, dir && *dir ? dir : DTSIM_PLOTS_DIR);
    snprintf(expr + used, sizeof expr - used, "'%s", extra);

    /* gnuplot's messages go to a log beside the pictures */
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/%.*s.log", out_dir, (int)strcspn(name, "."), name);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    char *argv[] = {"gnuplot", "-e", expr, script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        snprintf(note, (size_t)note_size, "cannot start gnuplot: %s", strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(note, (size_t)note_size, "gnuplot failed on %s (its messages: %s)", script, log);
        return -1;
    }
    struct stat st;
    if (stat(log, &st) == 0 && st.st_size > 0) {
        snprintf(note, (size_t)note_size, "gnuplot warned on %s (its messages: %s)", script, log);
        return 2;
    }
    unlink(log);
    return 0;
}
