/*
 * test_sim_pool.c - the kernels' thread pool (sim/pool.h): every job runs
 * exactly once and has run when pool_wait returns, on one thread (where a
 * job runs only when waited for) and on several; pool_for covers every
 * index once; and the helpers run jobs while this thread is busy.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pool.h"
#include "testutil.h"

enum { JOBS = 200 };

typedef struct Work {
    int in;
    long out;
    atomic_int runs;
} Work;

/* Enough arithmetic that the helpers get their share. */
static void square_sum(void *arg)
{
    Work *w = arg;
    long s = 0;
    for (int k = 0; k < 20000; k++)
        s += (long)(w->in + k % 7) * (w->in + k % 7);
    w->out = s;
    atomic_fetch_add(&w->runs, 1);
}

static long expected(int in)
{
    long s = 0;
    for (int k = 0; k < 20000; k++)
        s += (long)(in + k % 7) * (in + k % 7);
    return s;
}

static void submit_all_then_wait(int threads)
{
    static PoolJob job[JOBS];
    static Work work[JOBS];
    CU_ASSERT_EQUAL_FATAL(pool_start(threads), 0);
    CU_ASSERT_EQUAL(pool_threads(), threads);
    for (int i = 0; i < JOBS; i++) {
        work[i] = (Work){.in = i};
        pool_submit(&job[i], square_sum, &work[i]);
    }
    double waited = 0.0;
    /* waited for in another order than submitted */
    for (int i = JOBS - 1; i >= 0; i--) {
        CU_ASSERT(job[i].pending);
        pool_wait(&job[i], &waited);
        CU_ASSERT(!job[i].pending);
        CU_ASSERT_EQUAL(job[i].state, POOL_IDLE);
        CU_ASSERT_EQUAL(atomic_load(&work[i].runs), 1);
        CU_ASSERT_EQUAL(work[i].out, expected(i));
    }
    CU_ASSERT(waited > 0.0);
    pool_stop();
    CU_ASSERT_EQUAL(pool_threads(), 1);
}

static void test_one_thread_runs_when_waited(void)
{
    PoolJob job;
    Work w = {.in = 3};
    pool_submit(&job, square_sum, &w);
    CU_ASSERT_EQUAL(atomic_load(&w.runs), 0); /* nobody else to run it */
    pool_wait(&job, NULL);
    CU_ASSERT_EQUAL(atomic_load(&w.runs), 1);
    CU_ASSERT_EQUAL(w.out, expected(3));
    submit_all_then_wait(1);
}

static void test_several_threads(void)
{
    submit_all_then_wait(2);
    submit_all_then_wait(5);
}

/* A helper runs a job while this thread does not wait for it. */
static void test_helpers_run_meanwhile(void)
{
    PoolJob job;
    Work w = {.in = 1};
    CU_ASSERT_EQUAL_FATAL(pool_start(2), 0);
    pool_submit(&job, square_sum, &w);
    for (int spin = 0; spin < 2000 && atomic_load(&w.runs) == 0; spin++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    CU_ASSERT_EQUAL(atomic_load(&w.runs), 1);
    pool_wait(&job, NULL);
    CU_ASSERT_EQUAL(atomic_load(&w.runs), 1);
    pool_stop();
}

static void mark(void *arg, int i)
{
    atomic_int *seen = arg;
    atomic_fetch_add(&seen[i], 1);
}

static void test_pool_for_covers_each_index_once(void)
{
    static atomic_int seen[1000];
    for (int threads = 1; threads <= 3; threads++) {
        CU_ASSERT_EQUAL_FATAL(pool_start(threads), 0);
        for (int i = 0; i < 1000; i++)
            atomic_store(&seen[i], 0);
        pool_for(1000, mark, seen, NULL);
        int once = 0;
        for (int i = 0; i < 1000; i++)
            once += atomic_load(&seen[i]) == 1;
        CU_ASSERT_EQUAL(once, 1000);
        pool_stop();
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"one thread: a job runs when waited for", test_one_thread_runs_when_waited},
        {"2 and 5 threads: every job once, done when waited", test_several_threads},
        {"a helper runs a job meanwhile", test_helpers_run_meanwhile},
        {"pool_for: each index once", test_pool_for_covers_each_index_once},
        CU_TEST_INFO_NULL,
    };
    return test_run("pool", tests);
}
