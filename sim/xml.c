/*
 * xml.c - a platform file's elements and attributes (see xml.h).
 */
#include "xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *xml_text(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) /* a FIFO would block */
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, used = 0;
    char *text = malloc(cap + 1);
    size_t got;
    while (text && (got = fread(text + used, 1, cap - used, f)) > 0) {
        used += got;
        if (used == cap) {
            char *more = realloc(text, 2 * cap + 1);
            if (!more) {
                free(text);
                text = NULL;
                break;
            }
            text = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (text)
        text[used] = '\0';
    return text;
}

const char *xml_element(const char *p, const char *tag, const char **end)
{
    size_t len = strlen(tag);
    for (const char *el = strchr(p, '<'); el; el = strchr(el + 1, '<')) {
        if (strncmp(el + 1, tag, len) != 0 || !el[len + 1] || !strchr(" \t\r\n/>", el[len + 1]))
            continue;
        *end = strchr(el, '>');
        return *end ? el : NULL;
    }
    return NULL;
}

int xml_attribute(const char *el, const char *end, const char *name, char *buf, size_t size,
                  const char **span)
{
    size_t len = strlen(name);
    for (const char *p = el; p + len < end; p++) {
        if (strncmp(p, name, len) != 0 || (p > el && !strchr(" \t\r\n", p[-1])))
            continue;
        const char *q = p + len;
        while (q < end && strchr(" \t\r\n", *q))
            q++;
        if (q >= end || *q != '=')
            continue;
        q++;
        while (q < end && strchr(" \t\r\n", *q))
            q++;
        if (q >= end || (*q != '"' && *q != '\''))
            continue;
        const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));
        if (!close)
            return 0;
        snprintf(buf, size, "%.*s", (int)(close - q - 1), q + 1);
        if (span) {
            span[0] = p;
            span[1] = close + 1;
        }
        return 1;
    }
    return 0;
}

int xml_line(const char *text, const char *at)
{
    int line = 1;
    for (const char *c = text; c < at; c++)
        line += *c == '\n';
    return line;
}
