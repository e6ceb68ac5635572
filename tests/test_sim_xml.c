/*
 * test_sim_xml.c - reading a platform's elements and attributes (sim/xml.h):
 * elements by name only (not a longer name, not in a comment), attributes
 * quoted either way over lines, entities decoded once, the span of
 * name="value", and line numbers.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "xml.h"

static const char text[] = "<platform>\n"
                           "<!-- <host id=\"ghost\" state_file=\"x\"/> -->\n"
                           "<host_link id=\"no\"/>\n"
                           "<host\n  id='a&amp;b' state_file = \"p&lt;1&#62;.txt\"\n/>\n"
                           "<host id=\"c&amp;#98;\"/>\n"
                           "</platform>\n";

static void test_elements(void)
{
    const char *end, *span[2];
    char buf[64];
    const char *el = xml_element(text, "host", &end);
    CU_ASSERT_PTR_NOT_NULL_FATAL(el);
    CU_ASSERT_EQUAL(xml_line(text, el), 4);
    CU_ASSERT(xml_attribute(el, end, "id", buf, sizeof buf, NULL));
    CU_ASSERT_STRING_EQUAL(buf, "a&b");
    CU_ASSERT(xml_attribute(el, end, "state_file", buf, sizeof buf, span));
    CU_ASSERT_STRING_EQUAL(buf, "p<1>.txt");
    CU_ASSERT(strncmp(span[0], "state_file", 10) == 0 && span[1][-1] == '"');
    CU_ASSERT(!xml_attribute(el, end, "file", buf, sizeof buf, NULL));
    el = xml_element(end, "host", &end);
    CU_ASSERT_PTR_NOT_NULL_FATAL(el);
    CU_ASSERT(xml_attribute(el, end, "id", buf, sizeof buf, NULL));
    CU_ASSERT_STRING_EQUAL(buf, "c&#98;"); /* decoded once */
    CU_ASSERT_PTR_NULL(xml_element(end, "host", &end));
    CU_ASSERT(xml_attribute(el, end, "id", buf, 3, NULL));
    CU_ASSERT_STRING_EQUAL(buf, "c&"); /* cut to fit */
}

/* xml_where finds a host or a link by its id (a link split in two by its
 * sharing policy too), or the cluster that makes it (a host by prefix,
 * radical and suffix; a link by the longest cluster id before '_'); else
 * names the file alone. */
static void test_where(void)
{
    char dir[256], path[300], buf[400], want[400];
    CU_ASSERT_PTR_NOT_NULL_FATAL(test_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/where.xml", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("<platform>\n<zone id=\"z\">\n"
          "<cluster id=\"c\" prefix=\"node-\" suffix=\".x\" radical=\"0-3,7\"/>\n"
          "<host id=\"node-1\"/>\n<link id=\"wire\" sharing_policy=\"SPLITDUPLEX\"/>\n"
          "<cluster id=\"c1\" prefix=\"node-\" suffix=\".x\" radical=\"10-19\"/>\n"
          "</zone></platform>\n",
          f);
    fclose(f);
    static const struct {
        const char *tag, *name;
        int line; /* 0: none */
    } cases[] = {
        {"host", "node-1", 4},     {"host", "node-7.x", 3},  {"host", "node-12.x", 6},
        {"host", "node-5.x", 0},   {"host", "node-a.x", 0},  {"host", "node-.x", 0},
        {"link", "wire_UP", 5},    {"link", "wire_DOWN", 5}, {"link", "c_link_3_UP", 3},
        {"link", "c1_link_12", 6}, {"link", "core_UP", 0},   {"link", "wire", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        xml_where(path, cases[i].tag, cases[i].name, buf, sizeof buf);
        if (cases[i].line)
            snprintf(want, sizeof want, "%s:%d", path, cases[i].line);
        else
            snprintf(want, sizeof want, "%s", path);
        CU_ASSERT_STRING_EQUAL(buf, want);
    }
    remove(path);
    rmdir(dir);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"elements, attributes, entities, comments", test_elements},
        {"where a host or a link is defined", test_where},
        CU_TEST_INFO_NULL,
    };
    return test_run("platform text", tests);
}
