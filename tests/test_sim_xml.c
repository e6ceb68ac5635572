/*
 * test_sim_xml.c - reading a platform's elements and attributes (sim/xml.h):
 * elements by name only (not a longer name, not in a comment), attributes
 * quoted either way over lines, entities decoded once, the span of
 * name="value", and line numbers.
 */
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

int main(void)
{
    CU_TestInfo tests[] = {
        {"elements, attributes, entities, comments", test_elements},
        CU_TEST_INFO_NULL,
    };
    return test_run("platform text", tests);
}
