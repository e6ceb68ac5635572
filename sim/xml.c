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
        if (strncmp(el, "<!--", 4) == 0) { /* a comment holds no element */
            const char *close = strstr(el + 4, "-->");
            if (!close)
                return NULL;
            el = close;
            continue;
        }
        if (strncmp(el + 1, tag, len) != 0 || !el[len + 1] || !strchr(" \t\r\n/>", el[len + 1]))
            continue;
        *end = strchr(el, '>');
        return *end ? el : NULL;
    }
    return NULL;
}

/* The text [from, to) into buf with its entities (&amp; &lt; &gt; &quot;
 * &apos;, &#N; &#xN; below 128) replaced; what does not fit is cut. */
static void xml_unescape(char *buf, size_t size, const char *from, const char *to)
{
    static const char *const names[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    static const char chars[] = "&<>\"'";
    size_t n = 0;
    while (from < to && n + 1 < size) {
        char c = *from++;
        int named = 0;
        if (c == '&') {
            for (size_t e = 0; e < sizeof names / sizeof *names && !named; e++) {
                size_t len = strlen(names[e]);
                if ((size_t)(to - from + 1) >= len && strncmp(from - 1, names[e], len) == 0) {
                    c = chars[e];
                    from += len - 1;
                    named = 1;
                }
            }
            char *stop;
            long code = !named && from < to && *from == '#'
                            ? strtol(from + 1 + (from[1] == 'x'), &stop, from[1] == 'x' ? 16 : 10)
                            : -1;
            if (code > 0 && code < 128 && stop < to && *stop == ';') {
                c = (char)code;
                from = stop + 1;
            }
        }
        buf[n++] = c;
    }
    if (size)
        buf[n] = '\0';
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
        xml_unescape(buf, size, q + 1, close);
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

/* Is n in radical, SimGrid's list of numbers and ranges ("0-7,9")? */
static int radical_has(const char *radical, long n)
{
    for (const char *p = radical; *p;) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p)
            return 0;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        if (n >= lo && n <= hi)
            return 1;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 0;
    }
    return 0;
}

/* Does the <cluster> [el, end) make a host `name`: its prefix, a number
 * of its radical, its suffix? */
static int cluster_host(const char *el, const char *end, const char *name)
{
    char prefix[256] = "", suffix[256] = "", radical[256] = "";
    xml_attribute(el, end, "prefix", prefix, sizeof prefix, NULL);
    xml_attribute(el, end, "suffix", suffix, sizeof suffix, NULL);
    xml_attribute(el, end, "radical", radical, sizeof radical, NULL);
    size_t n = strlen(name), p = strlen(prefix), s = strlen(suffix);
    if (n <= p + s || n - p - s > 9 || strncmp(name, prefix, p) != 0 ||
        strcmp(name + n - s, suffix) != 0)
        return 0;
    long number = 0;
    for (size_t i = p; i < n - s; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        number = 10 * number + (name[i] - '0');
    }
    return radical_has(radical, number);
}

const char *xml_by_id(const char *text, const char *tag, const char *id, const char **end)
{
    char value[256];
    for (const char *el = xml_element(text, tag, end); el; el = xml_element(*end, tag, end))
        if (xml_attribute(el, *end, "id", value, sizeof value, NULL) && strcmp(value, id) == 0)
            return el;
    return NULL;
}

/* The element that defines host or link `name`: <TAG id="name"> (a link
 * split in two, NAME_UP and NAME_DOWN, by its id), else the cluster that
 * makes it: a host by prefix, number and suffix, a link by the longest
 * cluster id followed by '_'; NULL when none. */
static const char *xml_definer(const char *text, const char *tag, const char *name)
{
    const char *end;
    const char *el = xml_by_id(text, tag, name, &end);
    size_t n = strlen(name);
    char base[256];
    for (int k = 0; !el && k < 2 && strcmp(tag, "link") == 0; k++) {
        const char *split = k ? "_DOWN" : "_UP";
        size_t len = strlen(split);
        if (n > len && n - len < sizeof base && strcmp(name + n - len, split) == 0) {
            snprintf(base, sizeof base, "%.*s", (int)(n - len), name);
            el = xml_by_id(text, tag, base, &end);
        }
    }
    if (el)
        return el;
    const char *best = NULL;
    size_t best_len = 0;
    for (const char *c = xml_element(text, "cluster", &end); c;
         c = xml_element(end, "cluster", &end)) {
        char id[256];
        size_t len = xml_attribute(c, end, "id", id, sizeof id, NULL) ? strlen(id) : 0;
        if (strcmp(tag, "host") == 0
                ? cluster_host(c, end, name)
                : len && len > best_len && strncmp(name, id, len) == 0 && name[len] == '_') {
            best = c;
            best_len = len;
            if (strcmp(tag, "host") == 0)
                break;
        }
    }
    return best;
}

void xml_where(const char *path, const char *tag, const char *name, char *buf, size_t size)
{
    char *text = xml_text(path);
    const char *el = text ? xml_definer(text, tag, name) : NULL;
    if (el)
        snprintf(buf, size, "%s:%d", path, xml_line(text, el));
    else
        snprintf(buf, size, "%s", path);
    free(text);
}
