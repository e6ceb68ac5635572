/*
 * test_sim_record.c - which ranks trace.json and timeline.dat hold
 * (record_trace_ranks): every rank while their spans are few, the first
 * ranks that fit beyond RECORD_TRACE_SPANS, exactly as many as asked when
 * asked.
 */
#include "record.h"
#include "testutil.h"

/* n spans of rank on recorder r, apart from each other (so that none
 * extends the one before). */
static void add_spans(Recorder *r, int rank, size_t n)
{
    for (size_t i = 0; i < n; i++)
        record_span(r, rank, SPAN_COMPUTE, "forward", 2.0 * (double)i, 2.0 * (double)i + 1.0);
}

static void test_few_spans_trace_every_rank(void)
{
    Recorder r;
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(record_init(&r, 3, &err), 0);
    add_spans(&r, 0, 10);
    add_spans(&r, 2, 10);
    CU_ASSERT_EQUAL(r.nspans, 20);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 0), 3);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 1), 1);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 2), 2);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 100), 3);
    record_free(&r);
}

static void test_many_spans_trace_the_first_ranks(void)
{
    Recorder r;
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(record_init(&r, 4, &err), 0);
    add_spans(&r, 0, RECORD_TRACE_SPANS / 2);
    add_spans(&r, 1, RECORD_TRACE_SPANS / 2); /* exactly the limit so far */
    add_spans(&r, 2, 1);
    add_spans(&r, 3, 5);
    CU_ASSERT_EQUAL_FATAL(r.oom, 0);
    CU_ASSERT_EQUAL(r.nspans, (size_t)RECORD_TRACE_SPANS + 6);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 0), 2);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 4), 4); /* asked: all of them */
    record_free(&r);

    /* a first rank alone over the limit is still traced */
    CU_ASSERT_EQUAL_FATAL(record_init(&r, 2, &err), 0);
    add_spans(&r, 0, RECORD_TRACE_SPANS + 1);
    add_spans(&r, 1, 1);
    CU_ASSERT_EQUAL(record_trace_ranks(&r, 0), 1);
    record_free(&r);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"few spans: every rank traced", test_few_spans_trace_every_rank},
        {"many spans: the first ranks that fit", test_many_spans_trace_the_first_ranks},
        CU_TEST_INFO_NULL,
    };
    return test_run("trace ranks", tests);
}
