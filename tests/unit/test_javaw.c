/* tests/unit/test_javaw.c: the example Java job (io.shardcron.examples.Example
 * in build/java/shardcron-java.jar) through the warm JVM worker on a real
 * event loop: success with the context fields, reuse of one warm worker, a job
 * that throws, a job that hangs past its timeout (the worker is restarted), an
 * interruptible timeout, the kill API, a worker that exits, a hung (stopped)
 * worker found by its pings, and a class that cannot be loaded.
 * Skipped when the jar was not built (no JDK). */
#include <errno.h>
#include <event2/event.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/exec.h"
#include "agent/javaw.h"
#include "agent/runner.h"
#include "agent/sched.h"
#include "tests/lib/testenv.h"

#define JAR "build/java/shardcron-java.jar"
#define CLASS "io.shardcron.examples.Example"
#define DEADLINE_MS 60000

struct done {
    int n;
    struct exec_result r;
    char tail[EXEC_TAIL_MAX + 1];
    char reason[400];
};

static struct event_base *base;
static struct event *tick;
static struct exec_runner *reaper;
static struct javaw_pool *pool;

static void on_done(const struct exec_result *r, void *arg)
{
    struct done *d = arg;
    d->n++;
    d->r = *r;
    snprintf(d->tail, sizeof d->tail, "%s", r->output_tail);
    snprintf(d->reason, sizeof d->reason, "%s", r->reason);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

static bool is_done(void *arg)
{
    return ((struct done *)arg)->n > 0;
}

static bool run_until(bool (*cond)(void *), void *arg, int deadline_ms)
{
    long long end = tenv_now_ms() + deadline_ms;
    while (!cond(arg)) {
        if (tenv_now_ms() > end)
            return false;
        event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

/* Generous limits: a loaded CI machine must not make a healthy JVM look hung
 * or an interrupted thread look stuck. test_hung_worker uses its own. */
static void new_pool(int hang_ms)
{
    struct javaw_opts o = {.jar = JAR,
                           .ping_interval_ms = 200,
                           .hang_ms = hang_ms,
                           .cancel_grace_ms = 2000,
                           .restart_backoff_ms = 100};
    assert_int_equal(javaw_pool_new(base, reaper, &o, &pool), 0);
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);
    assert_int_equal(exec_runner_new(base, NULL, &reaper), 0);
    new_pool(20000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    javaw_pool_free(pool);
    exec_runner_free(reaper);
    event_free(tick);
    event_base_free(base);
    return 0;
}

static void submit(const char *cls, const char *param, int timeout_ms, struct done *d,
                   struct javaw_exec **h)
{
    static int seq;
    char id[40];
    snprintf(id, sizeof id, "exec-%d", ++seq);
    struct javaw_run run = {.class_name = cls,
                            .timeout_ms = timeout_ms,
                            .env = {.job = "jv",
                                    .shard_item = 1,
                                    .shard_total = 4,
                                    .shard_param = "P",
                                    .job_param = param,
                                    .fire_time = "2030-01-01T08:00:00+08:00",
                                    .execution_id = id,
                                    .trigger = EXEC_TRIGGER_MANUAL,
                                    .attempt = 1,
                                    .fence = "001893456000.000000000005.0001",
                                    .epoch = 5}};
    memset(d, 0, sizeof *d);
    struct sc_err err;
    assert_int_equal(javaw_submit(pool, &run, on_done, d, h, &err), 0);
}

static void run_one(const char *param, int timeout_ms, struct done *d)
{
    submit(CLASS, param, timeout_ms, d, NULL);
    assert_true(run_until(is_done, d, DEADLINE_MS));
}

static void need_jar(void)
{
    struct stat st;
    if (stat(JAR, &st) != 0) {
        fprintf(stderr, "%s not built (no JDK?): skipping\n", JAR);
        skip();
    }
}

static void test_success_and_warm_reuse(void **state)
{
    (void)state;
    need_jar();
    struct done d1, d2;
    run_one("ok", 0, &d1);
    assert_int_equal(d1.r.status, EXEC_SUCCEEDED);
    assert_int_equal(d1.r.exit_code, 0);
    assert_non_null(strstr(d1.tail, "job=jv item=1/4 param=P fire=2030-01-01T08:00:00+08:00 "
                                    "trigger=manual attempt=1 id=exec-"));
    assert_non_null(strstr(d1.tail, " fence=001893456000.000000000005.0001 epoch=5"));
    run_one("", 0, &d2);
    assert_int_equal(d2.r.status, EXEC_SUCCEEDED);
    assert_int_equal(d2.r.pid, d1.r.pid); /* the same warm JVM */
    assert_int_equal(javaw_workers(pool), 1);
    assert_int_equal(javaw_restarts(pool), 0);
}

static void test_throw(void **state)
{
    (void)state;
    need_jar();
    struct done d;
    run_one("throw", 0, &d);
    assert_int_equal(d.r.status, EXEC_FAILED);
    assert_string_equal(d.reason, "java.lang.IllegalStateException: example failure on item 1");
    assert_int_equal(javaw_restarts(pool), 0);
}

static void test_interruptible_timeout_and_kill(void **state)
{
    (void)state;
    need_jar();
    struct done d, k;
    run_one("sleep:60000", 300, &d);
    assert_int_equal(d.r.status, EXEC_TIMEOUT);
    assert_string_equal(d.reason, "timeout after 300 ms");
    assert_int_equal(javaw_restarts(pool), 0); /* the thread stopped: the JVM stays */

    struct javaw_exec *h = NULL;
    submit(CLASS, "sleep:60000", 0, &k, &h);
    assert_int_equal(javaw_cancel(h, "the job was deleted"), 0);
    assert_true(run_until(is_done, &k, DEADLINE_MS));
    assert_int_equal(k.r.status, EXEC_KILLED);
    assert_string_equal(k.reason, "the job was deleted");
    assert_int_equal(javaw_restarts(pool), 0);
}

static void test_hang_past_timeout(void **state)
{
    (void)state;
    need_jar();
    struct done warm, hang, bystander, after;
    run_one("ok", 0, &warm);
    submit(CLASS, "sleep:60000", 0, &bystander, NULL);
    run_one("hang", 300, &hang);
    assert_int_equal(hang.r.status, EXEC_TIMEOUT);
    assert_true(run_until(is_done, &bystander, DEADLINE_MS));
    assert_int_equal(bystander.r.status, EXEC_FAILED);
    assert_non_null(strstr(bystander.reason, "did not stop within 2000 ms"));
    assert_int_equal(javaw_restarts(pool), 1);
    run_one("ok", 0, &after);
    assert_int_equal(after.r.status, EXEC_SUCCEEDED);
    assert_true(after.r.pid != warm.r.pid);
}

static void test_worker_exit_and_restart(void **state)
{
    (void)state;
    need_jar();
    struct done d, after;
    run_one("exit:7", 0, &d);
    assert_int_equal(d.r.status, EXEC_FAILED);
    assert_non_null(strstr(d.reason, "exited with status 7"));
    assert_int_equal(javaw_restarts(pool), 1);
    run_one("ok", 0, &after);
    assert_int_equal(after.r.status, EXEC_SUCCEEDED);
}

static void test_hung_worker(void **state)
{
    (void)state;
    need_jar();
    javaw_pool_free(pool);
    new_pool(1500);
    struct done warm, d;
    run_one("ok", 0, &warm);
    submit(CLASS, "sleep:60000", 0, &d, NULL);
    assert_int_equal(kill(warm.r.pid, SIGSTOP), 0);
    assert_true(run_until(is_done, &d, DEADLINE_MS));
    assert_int_equal(d.r.status, EXEC_FAILED);
    assert_non_null(strstr(d.reason, "hung: no answer to a ping in 1500 ms"));
    assert_int_equal(javaw_restarts(pool), 1);
}

static void test_bad_class(void **state)
{
    (void)state;
    need_jar();
    struct done d;
    submit("no.such.Job", "ok", 0, &d, NULL);
    assert_true(run_until(is_done, &d, DEADLINE_MS));
    assert_int_equal(d.r.status, EXEC_FAILED);
    assert_non_null(strstr(d.reason, "cannot run no.such.Job: java.lang.ClassNotFoundException"));
    submit("java.lang.String", "ok", 0, &d, NULL);
    assert_true(run_until(is_done, &d, DEADLINE_MS));
    assert_non_null(strstr(d.reason, "does not implement io.shardcron.ShardJob"));
}

/* The scheduler's runner dispatches a java item to the worker, and its kill
 * (concurrency replace) reaches the job's thread. */
struct evs {
    int finished;
    enum exec_status status[8];
    char tail[8][512];
    char reason[8][200];
    char fence[8][AGENT_FENCE_LEN + 1];
    char xcom[8][512];
    bool final[8];
};

static void on_sched_event(const struct sched_event *ev, void *arg)
{
    struct evs *e = arg;
    if (ev->type != SCHED_EV_FINISHED || e->finished >= 8)
        return;
    e->status[e->finished] = ev->status;
    snprintf(e->tail[e->finished], sizeof e->tail[0], "%s", ev->output_tail);
    snprintf(e->reason[e->finished], sizeof e->reason[0], "%s", ev->reason);
    snprintf(e->fence[e->finished], sizeof e->fence[0], "%s", ev->fence);
    snprintf(e->xcom[e->finished], sizeof e->xcom[0], "%s", ev->xcom ? ev->xcom : "");
    e->final[e->finished] = ev->final;
    e->finished++;
}

static int64_t epoch_12(void *ctx)
{
    (void)ctx;
    return 12;
}

static int64_t hourly(void *ctx, int64_t after)
{
    (void)ctx;
    return (after / 3600 + 1) * 3600;
}

struct want {
    struct evs *e;
    int n;
};

static bool finished(void *arg)
{
    struct want *w = arg;
    return w->e->finished >= w->n;
}

static void test_through_scheduler(void **state)
{
    (void)state;
    need_jar();
    struct agent_runner ar = {.exec = reaper, .javaw = pool};
    struct evs evs = {0};
    struct sched_opts o = {.capacity = 4,
                           .runner = agent_runner_ops(&ar),
                           .on_event = on_sched_event,
                           .event_arg = &evs,
                           .epoch = epoch_12};
    struct sched *s = NULL;
    assert_int_equal(sched_new(base, &o, &s), 0);
    struct sched_item_conf c = {.job = "javajob",
                                .item = 0,
                                .total = 1,
                                .type = SCHED_JOB_JAVA,
                                .java_class = CLASS,
                                .job_param = "ok",
                                .next = hourly,
                                .concurrency = SCHED_CONC_REPLACE};
    struct sc_err err;
    assert_int_equal(sched_item_put(s, &c, &err), 0);
    assert_int_equal(sched_trigger(s, "javajob", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    struct want w = {&evs, 1};
    assert_true(run_until(finished, &w, DEADLINE_MS));
    assert_int_equal(evs.status[0], EXEC_SUCCEEDED);
    assert_non_null(strstr(evs.tail[0], "job=javajob item=0/1"));
    assert_non_null(strstr(evs.tail[0], "trigger=manual attempt=1"));
    /* the job saw the fence the scheduler stamped and reported */
    char want[80];
    assert_int_equal(strlen(evs.fence[0]), AGENT_FENCE_LEN);
    assert_non_null(strstr(evs.fence[0], ".000000000012.0001"));
    snprintf(want, sizeof want, " fence=%s epoch=12", evs.fence[0]);
    assert_non_null(strstr(evs.tail[0], want));

    assert_int_equal(sched_trigger(s, "javajob", 0, EXEC_TRIGGER_MANUAL, 0, "sleep:60000", NULL),
                     0);
    assert_int_equal(sched_trigger(s, "javajob", 0, EXEC_TRIGGER_MANUAL, 0, "ok", NULL), 0);
    w.n = 3;
    assert_true(run_until(finished, &w, DEADLINE_MS));
    int killed = 0, ok = 0;
    for (int i = 1; i < 3; i++) {
        killed += evs.status[i] == EXEC_KILLED && strstr(evs.reason[i], "replace") != NULL;
        ok += evs.status[i] == EXEC_SUCCEEDED;
    }
    assert_int_equal(killed, 1);
    assert_int_equal(ok, 1);
    sched_free(s);
}

/* A workflow task's run of a Java job: the context reaches the job through
 * ShardContext (one JVM serves many runs: no environment), its XCom output is
 * read back; capture is refused with the reason. */
static void test_workflow_run(void **state)
{
    (void)state;
    need_jar();
    char dir[] = "/tmp/sc-test-javaw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct agent_runner ar = {.exec = reaper, .javaw = pool};
    snprintf(ar.work_dir, sizeof ar.work_dir, "%s", dir);
    struct evs evs = {0};
    struct sched_opts o = {.capacity = 4,
                           .runner = agent_runner_ops(&ar),
                           .on_event = on_sched_event,
                           .event_arg = &evs};
    struct sched *s = NULL;
    assert_int_equal(sched_new(base, &o, &s), 0);
    struct sched_item_conf c = {.job = "javawf",
                                .item = 0,
                                .total = 1,
                                .type = SCHED_JOB_JAVA,
                                .java_class = CLASS,
                                .job_param = "xcom",
                                .concurrency = SCHED_CONC_ALLOW}; /* no cron */
    struct sc_err err;
    assert_int_equal(sched_item_put(s, &c, &err), 0);
    assert_int_equal(
        sched_trigger_wf(s, "javawf", 0, NULL,
                         "{\"workflow\":\"etl\",\"run_id\":\"r5\",\"task\":\"load\","
                         "\"logical_ms\":1893456000000,\"timezone\":\"Asia/Shanghai\","
                         "\"params\":{\"region\":\"cn\"},\"xcom_in\":{\"up\":{\"0\":1}}}",
                         NULL),
        0);
    struct want w = {&evs, 1};
    assert_true(run_until(finished, &w, DEADLINE_MS));
    assert_int_equal(evs.status[0], EXEC_SUCCEEDED);
    assert_non_null(strstr(evs.tail[0], "workflow=etl run=r5 task=load "
                                        "logical=2030-01-01T08:00:00+08:00 params={region=cn}"));
    assert_string_equal(evs.xcom[0], "{\"run\":\"r5\",\"in\":{\"up\":{\"0\":1}}}");
    assert_true(evs.final[0]);
    assert_int_equal(sched_trigger_wf(s, "javawf", 0, NULL,
                                      "{\"workflow\":\"etl\",\"run_id\":\"r6\",\"task\":\"b\","
                                      "\"capture\":true}",
                                      NULL),
                     0);
    w.n = 2;
    assert_true(run_until(finished, &w, DEADLINE_MS));
    assert_int_equal(evs.status[1], EXEC_FAILED);
    assert_non_null(strstr(evs.reason[1], "not supported for Java jobs"));
    sched_free(s);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rmdir %s", dir); /* empty: the XCom files are gone */
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success_and_warm_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interruptible_timeout_and_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_past_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_exit_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hung_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_class, setup, teardown),
        cmocka_unit_test_setup_teardown(test_through_scheduler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
