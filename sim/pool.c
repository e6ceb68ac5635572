/*
 * pool.c - threads that run the ranks' kernels (see pool.h).
 */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "record.h"

#define POOL_MAX 256

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or the pool stops */
    pthread_cond_t done; /* a job finished */
    PoolJob *head, *tail;
    int running; /* jobs taken off the queue, not yet done */
    pthread_t thread[POOL_MAX];
    int helpers;
    int stopping;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .work = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

/* The first queued job, taken off the queue; NULL if none.  Lock held. */
static PoolJob *pool_take(void)
{
    PoolJob *job = pool.head;
    if (job) {
        pool.head = job->next;
        if (!pool.head)
            pool.tail = NULL;
        job->state = POOL_RUNNING;
        pool.running++;
    }
    return job;
}

/* Run a job taken off the queue, then mark it done.  Lock held on entry
 * and on return, released meanwhile. */
static void pool_run(PoolJob *job)
{
    pthread_mutex_unlock(&pool.lock);
    job->fn(job->arg);
    pthread_mutex_lock(&pool.lock);
    job->state = POOL_DONE;
    pool.running--;
    pthread_cond_broadcast(&pool.done);
}

static void *pool_helper(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        PoolJob *job = pool_take();
        if (job) {
            pool_run(job);
            continue;
        }
        if (pool.stopping)
            break;
        pthread_cond_wait(&pool.work, &pool.lock);
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

int pool_start(int n)
{
    if (n > POOL_MAX)
        n = POOL_MAX;
    pool.stopping = 0;
    for (int i = pool.helpers; i < n - 1; i++) {
        if (pthread_create(&pool.thread[i], NULL, pool_helper, NULL) != 0)
            return -1;
        pool.helpers = i + 1;
    }
    return 0;
}

void pool_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = 1;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.helpers; i++)
        pthread_join(pool.thread[i], NULL);
    pool.helpers = 0;
}

void pool_drain(void)
{
    pthread_mutex_lock(&pool.lock);
    for (PoolJob *job; (job = pool_take());)
        pool_run(job);
    while (pool.running > 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

int pool_threads(void)
{
    return pool.helpers + 1;
}

int pool_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : (int)n;
}

void pool_submit(PoolJob *job, void (*fn)(void *), void *arg)
{
    job->fn = fn;
    job->arg = arg;
    job->next = NULL;
    job->pending = 1;
    if (pool.helpers == 0) { /* nobody to hand it to: it runs when waited for */
        job->state = POOL_QUEUED;
        return;
    }
    pthread_mutex_lock(&pool.lock);
    job->state = POOL_QUEUED;
    if (pool.tail)
        pool.tail->next = job;
    else
        pool.head = job;
    pool.tail = job;
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.lock);
}

/* Take job off the queue if it is still there.  Lock held. */
static int pool_unqueue(PoolJob *job)
{
    PoolJob **p = &pool.head, *prev = NULL;
    while (*p && *p != job) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return 0;
    *p = job->next;
    if (pool.tail == job)
        pool.tail = prev;
    job->state = POOL_RUNNING;
    pool.running++;
    return 1;
}

void pool_wait(PoolJob *job, double *waited)
{
    double t = record_clock();
    if (pool.helpers == 0) {
        if (job->state == POOL_QUEUED)
            job->fn(job->arg);
        job->state = POOL_DONE;
    } else {
        pthread_mutex_lock(&pool.lock);
        if (job->state == POOL_QUEUED && pool_unqueue(job))
            pool_run(job);
        /* while a helper runs it, run the jobs queued after it here */
        while (job->state != POOL_DONE) {
            PoolJob *other = pool_take();
            if (other)
                pool_run(other);
            else
                pthread_cond_wait(&pool.done, &pool.lock);
        }
        pthread_mutex_unlock(&pool.lock);
    }
    job->state = POOL_IDLE;
    job->pending = 0;
    if (waited)
        *waited += record_clock() - t;
}

typedef struct PoolFor {
    void (*fn)(void *arg, int i);
    void *arg;
    int i;
} PoolFor;

static void pool_for_one(void *p)
{
    PoolFor *f = p;
    f->fn(f->arg, f->i);
}

void pool_for(int n, void (*fn)(void *arg, int i), void *arg, double *waited)
{
    enum { CHUNK = 64 };
    PoolJob job[CHUNK];
    PoolFor item[CHUNK];
    for (int at = 0; at < n; at += CHUNK) {
        int k = n - at < CHUNK ? n - at : CHUNK;
        for (int j = 0; j < k; j++) {
            item[j] = (PoolFor){fn, arg, at + j};
            pool_submit(&job[j], pool_for_one, &item[j]);
        }
        for (int j = 0; j < k; j++)
            pool_wait(&job[j], waited);
    }
}
