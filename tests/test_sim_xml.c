/*
 * test_sim_xml.c - reading a platform's elements and attributes (sim/xml.h):
 * elements by name only (not a longer name, not in a comment), attributes
 * quoted either way over lines, entities decoded once, the span of
 * name="value", and line numbers.
 */
#include <stdio.h>
#include <string.h>

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

/* xml_where finds a host or a link by its id, or the cluster that makes
 * it; else names the file alone. */
static void test_where(void)
{
    char dir[256], path[300], buf[400], want[400];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/where.xml", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("<platform>\n<zone id=\"z\">\n"
          "<cluster id=\"c\" prefix=\"node-\" suffix=\".x\" radical=\"0-9\"/>\n"
          "<host id=\"node-1\"/>\n<link id=\"wire\"/>\n</zone></platform>\n",
          f);
    fclose(f);
    xml_where(path, "host", "node-1", buf, sizeof buf);
    snprintf(want, sizeof want, "%s:4", path);
    CU_ASSERT_STRING_EQUAL(buf, want);
    xml_where(path, "host", "node-12.x", buf, sizeof buf);
    snprintf(want, sizeof want, "%s:3", path);
    CU_ASSERT_STRING_EQUAL(buf, want);
    xml_where(path, "link", "c_link_3_UP", buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, want);
    xml_where(path, "link", "wire", buf, sizeof buf);
    snprintf(want, sizeof want, "%s:5", path);
    CU_ASSERT_STRING_EQUAL(buf, want);
    xml_where(path, "host", "node-a.x", buf, sizeof buf); /* not a number */
    CU_ASSERT_STRING_EQUAL(buf, path);
    xml_where(path, "host", "node-.x", buf, sizeof buf); /* no number */
    CU_ASSERT_STRING_EQUAL(buf, path);
    remove(path);
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
