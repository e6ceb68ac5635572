/*
 * cli.c - reading "--name=value" and "--name value" options (see cli.h).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int cli_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return 0;
    if (argv[*i][len] == '=') {
        *value = argv[*i] + len + 1;
        return 1;
    }
    if (argv[*i][len] != '\0')
        return 0;
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

void cli_bar(char *buf, size_t size, double fraction)
{
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    if (fraction < 0.0)
        fraction = 0.0;
    if (fraction > 1.0)
        fraction = 1.0;
    int full = (int)(fraction * WIDTH + 0.5);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < full ? '#' : '.';
    bar[WIDTH] = '\0';
    snprintf(buf, size, "[%s] %3.0f%%", bar, 100.0 * fraction);
}

int cli_regular_file(const char *path, const char *what, const char *instead, DtError *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return dt_fail(err, DT_EINPUT,
                       "%s '%s' is not a regular file (a directory, a pipe or a device); give %s",
                       what, path, instead);
    return 0;
}
