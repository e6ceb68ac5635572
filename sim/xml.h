/*
 * xml.h - reading a platform file's text: its elements and their
 * attributes, where SimGrid's C API does not tell (link properties, a
 * host's state file).  Not an XML parser: elements are found by name,
 * attributes by name within them, quoted either way, over lines.
 */
#ifndef DT_XML_H
#define DT_XML_H

#include <stddef.h>

/* The file's text, NUL-terminated; NULL when it cannot be read or is
 * not a regular file. */
char *xml_text(const char *path);
/* The first element <tag ...> at or after p (tag followed by a space, a
 * line break, / or >), with *end at its closing '>'; NULL when none. */
const char *xml_element(const char *p, const char *tag, const char **end);
/* The value of attribute name in the element text [el, end) into buf,
 * its entities replaced; with span, span[0] .. span[1] is all of
 * name="value"; 0 when absent.  Elements in comments are not found. */
int xml_attribute(const char *el, const char *end, const char *name, char *buf, size_t size,
                  const char **span);
/* The first element <tag id="id"> of text, with *end at its closing '>';
 * NULL when none. */
const char *xml_by_id(const char *text, const char *tag, const char *id, const char **end);
/* The line of text that at is on, from 1. */
int xml_line(const char *text, const char *at);
/* "PATH:LINE" of the element that defines host or link (tag) `name`:
 * <host id="name">, <link id="name">, or the <cluster> that makes it;
 * "PATH" alone when none is found.  For messages. */
void xml_where(const char *path, const char *tag, const char *name, char *buf, size_t size);

#endif
