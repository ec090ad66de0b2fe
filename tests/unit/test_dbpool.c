/* tests/unit/test_dbpool.c: console/dbpool hands work to worker threads and
 * results back to the loop thread. No server is needed: the URL points at a
 * closed port, so every job's `work` sees a NULL connection (what a job must
 * report as "store unreachable"). Checks: work never runs on the loop thread,
 * every done runs exactly once on the loop thread, in submission order for one
 * worker, and dbpool_free runs the done callbacks still pending; a bounded pool
 * refuses with -EBUSY once `bound` jobs are queued or running, and takes work
 * again when they are done. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "console/dbpool.h"

#define NJOBS 200

struct ctx {
    pthread_t loop;
    struct event_base *base;
    int done[NJOBS];
    int order[NJOBS];
    int ndone;
    int work_on_loop;
    int work_with_conn;
};

struct job {
    struct ctx *c;
    int i;
};

static void work(MYSQL *m, void *arg)
{
    struct job *j = arg;
    if (pthread_equal(pthread_self(), j->c->loop))
        j->c->work_on_loop++;
    if (m)
        j->c->work_with_conn++;
}

static void done(void *arg)
{
    struct job *j = arg;
    struct ctx *c = j->c;
    assert_true(pthread_equal(pthread_self(), c->loop));
    c->done[j->i]++;
    c->order[c->ndone++] = j->i;
    if (c->ndone == NJOBS)
        event_base_loopbreak(c->base);
    free(j);
}

static void run(int nthreads, bool wait_all)
{
    struct ctx c = {0};
    struct db_url u = {.user = "nobody", .host = "127.0.0.1", .port = 1, .db = "none"};
    struct dbpool *p = NULL;
    struct sc_err err;
    c.loop = pthread_self();
    c.base = event_base_new();
    assert_non_null(c.base);
    assert_int_equal(dbpool_new(c.base, &u, "pw", nthreads, &p, &err), 0);
    for (int i = 0; i < NJOBS; i++) {
        struct job *j = malloc(sizeof *j);
        j->c = &c;
        j->i = i;
        assert_int_equal(dbpool_submit(p, work, done, j), 0);
    }
    assert_true(dbpool_pending(p) > 0);
    if (wait_all) {
        struct timeval limit = {60, 0};
        event_base_loopexit(c.base, &limit);
        event_base_dispatch(c.base);
        assert_int_equal(c.ndone, NJOBS);
        assert_int_equal(dbpool_pending(p), 0);
    }
    dbpool_free(p); /* runs whatever is still pending */
    assert_int_equal(c.ndone, NJOBS);
    for (int i = 0; i < NJOBS; i++)
        assert_int_equal(c.done[i], 1);
    if (nthreads == 1)
        for (int i = 0; i < NJOBS; i++)
            assert_int_equal(c.order[i], i);
    assert_int_equal(c.work_on_loop, 0);
    assert_int_equal(c.work_with_conn, 0);
    event_base_free(c.base);
}

static void test_one_worker_in_order(void **state)
{
    (void)state;
    run(1, true);
}

static void test_three_workers(void **state)
{
    (void)state;
    run(3, true);
}

static void test_free_runs_pending(void **state)
{
    (void)state;
    run(2, false);
}

/* ---- the bound: jobs held in `work` by a gate until the test opens it */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int held_done;

static void held_work(MYSQL *m, void *arg)
{
    (void)m;
    (void)arg;
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void held_finished(void *arg)
{
    struct event_base *base = arg;
    if (++held_done == 4)
        event_base_loopbreak(base);
}

static void test_bound(void **state)
{
    (void)state;
    struct db_url u = {.user = "nobody", .host = "127.0.0.1", .port = 1, .db = "none"};
    struct dbpool *p = NULL;
    struct sc_err err;
    struct event_base *base = event_base_new();
    assert_int_equal(dbpool_new(base, &u, "pw", 1, &p, &err), 0);
    dbpool_set_bound(p, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(dbpool_submit(p, held_work, held_finished, base), 0);
    assert_int_equal(dbpool_submit(p, held_work, held_finished, base), -EBUSY);
    assert_int_equal(dbpool_pending(p), 4);
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    struct timeval limit = {60, 0};
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    assert_int_equal(held_done, 4);
    assert_int_equal(dbpool_pending(p), 0);
    assert_int_equal(dbpool_submit(p, held_work, held_finished, base), 0);
    dbpool_free(p);
    assert_int_equal(held_done, 5);
    event_base_free(base);
}

/* A pool without a URL never connects: its work gets NULL at once. */
static bool noconn_saw_null;

static void noconn_work(MYSQL *m, void *arg)
{
    (void)arg;
    noconn_saw_null = m == NULL;
}

static void noconn_done(void *arg)
{
    event_base_loopbreak(arg);
}

static void test_no_connection(void **state)
{
    (void)state;
    struct dbpool *p = NULL;
    struct sc_err err;
    struct event_base *base = event_base_new();
    assert_int_equal(dbpool_new(base, NULL, NULL, 1, &p, &err), 0);
    assert_int_equal(dbpool_submit(p, noconn_work, noconn_done, base), 0);
    struct timeval limit = {60, 0};
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    assert_true(noconn_saw_null);
    assert_int_equal(dbpool_pending(p), 0);
    dbpool_free(p);
    event_base_free(base);
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_worker_in_order), cmocka_unit_test(test_three_workers),
        cmocka_unit_test(test_free_runs_pending),   cmocka_unit_test(test_bound),
        cmocka_unit_test(test_no_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
