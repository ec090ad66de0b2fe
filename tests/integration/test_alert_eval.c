/* tests/integration/test_alert_eval.c: hist_alert_eval against a real MariaDB
 * (a scratch database of its own), rows written as the agents' history writer
 * writes them (job_execution plus a job_status_trace row per status).
 *
 * - caller conditions (no_agent, no_failover, agent): one open row and one
 *   notice each; nothing again while listed; an unknown list leaves them
 *   alone; a new leader's state reminds rows whose last notice is older than
 *   the interval, once; one not listed any more resolves, once;
 * - a burst of 200 failed items of one job, recorded after the state was
 *   built (the incremental path): one "open" notice with count 200 and 200
 *   rows; a success of every item: one recovery notice with count 200;
 * - a new leader (a new state) over open rows announces nothing again;
 * - a trace row that commits after a later one (a gap in seq) is still seen;
 * - a failed workflow run: run_failed and task_failed; a later successful
 *   run: both recover. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sql/db.h"
#include "sql/hist.h"
#include "sql/hist_alert.h"
#include "tests/lib/testdb.h"
#include "tests/lib/testenv.h"

struct ctx {
    struct db_url url;
    MYSQL *m;
};

static void ctx_open(struct ctx *c)
{
    struct sc_err err;
    char sql[256];
    memset(c, 0, sizeof *c);
    assert_int_equal(db_url_parse(tenv("SC_TEST_MYSQL"), &c->url, &err), 0);
    MYSQL *root = tdb_connect(&c->url);
    snprintf(c->url.db, sizeof c->url.db, "shardcron_alerteval_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", c->url.db);
    tdb_exec(root, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", c->url.db);
    tdb_exec(root, sql);
    mysql_close(root);
    c->m = tdb_connect(&c->url);
    if (hist_migrate(c->m, HIST_SCHEMA_VERSION, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
}

static void ctx_close(struct ctx *c)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", c->url.db);
    mysql_query(c->m, sql);
    mysql_close(c->m);
}

/* eval: one evaluation at the wall clock; the notices are the caller's to free. */
static struct hist_alert_notice *eval(struct ctx *c, struct hist_alert_state *st,
                                      const struct hist_alert_cond *v, size_t n, size_t *nn)
{
    struct hist_alert_notice *out = NULL;
    struct hist_alert_opts o = {.reminder_s = 3600, .group_ms = 0};
    struct sc_err err;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sc_err_clear(&err);
    if (hist_alert_eval(c->m, st, &o, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, v, n, &out,
                        nn, &err) != 0)
        fail_msg("eval: %s", err.msg);
    return out;
}

static struct hist_alert_state *state(void)
{
    struct hist_alert_state *st = NULL;
    assert_int_equal(hist_alert_state_new(&st), 0);
    return st;
}

static const struct hist_alert_notice *find(const struct hist_alert_notice *v, size_t n,
                                            const char *event, const char *kind, const char *job)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].event, event) && !strcmp(v[i].kind, kind) && !strcmp(v[i].job, job))
            return &v[i];
    return NULL;
}

static struct hist_alert_cond cc(const char *kind, const char *job, const char *agent,
                                 const char *msg)
{
    struct hist_alert_cond c;
    memset(&c, 0, sizeof c);
    snprintf(c.kind, sizeof c.kind, "%s", kind);
    snprintf(c.job, sizeof c.job, "%s", job);
    snprintf(c.agent, sizeof c.agent, "%s", agent);
    snprintf(c.message, sizeof c.message, "%s", msg);
    return c;
}

/* record: n executions of job (items first..first+n-1) at fire offset off_s
 * from now, with status, and their trace rows, in one transaction as the
 * writer does. */
static void record(MYSQL *m, const char *tag, const char *job, int first, int n, int off_s,
                   const char *status)
{
    char q[1024];
    snprintf(q, sizeof q,
             "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, status,"
             " agent) SELECT CONCAT('%s-', seq), '%s', %d + seq,"
             " UTC_TIMESTAMP(3) + INTERVAL %d SECOND, 'cron', '%s', 'a1' FROM seq_0_to_%d",
             tag, job, first, off_s, status, n - 1);
    tdb_exec(m, "BEGIN");
    tdb_exec(m, q);
    snprintf(q, sizeof q,
             "INSERT INTO job_status_trace (execution_id, state, at) SELECT CONCAT('%s-', seq),"
             " '%s', UTC_TIMESTAMP(3) FROM seq_0_to_%d",
             tag, status, n - 1);
    tdb_exec(m, q);
    tdb_exec(m, "COMMIT");
}

static void test_caller_lifecycle(void **state_)
{
    (void)state_;
    struct ctx c;
    size_t nn;
    struct hist_alert_notice *v;
    struct hist_alert_cond both[] = {cc("no_agent", "pay", "", "no eligible agent"),
                                     cc("no_failover", "report", "",
                                        "fewer than two live eligible agents"),
                                     cc("agent", "", "a7", "clock skew 5000 ms")},
                           *report = &both[1];
    ctx_open(&c);
    struct hist_alert_state *st = state();

    /* open: one row and one notice per condition */
    v = eval(&c, st, both, 3, &nn);
    assert_int_equal(nn, 3);
    const struct hist_alert_notice *o = find(v, nn, "open", "no_agent", "pay");
    assert_non_null(o);
    assert_int_equal(o->item, -1);
    assert_int_equal(o->count, 1);
    assert_string_equal(o->execution_id, "");
    assert_string_equal(o->message, "no eligible agent");
    assert_non_null(find(v, nn, "open", "no_failover", "report"));
    o = find(v, nn, "open", "agent", "");
    assert_non_null(o);
    assert_string_equal(o->agent, "a7");
    unsigned long long pay_id = find(v, nn, "open", "no_agent", "pay")->id;
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE resolved_at IS NULL"
                                  " AND item IS NULL AND execution_id IS NULL"
                                  " AND notified_at IS NOT NULL"),
                     3);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE kind='agent'"
                                  " AND agent='a7' AND job IS NULL"),
                     1);

    /* the same list again: nothing new; an unknown list: nothing resolved */
    v = eval(&c, st, both, 3, &nn);
    assert_int_equal(nn, 0);
    assert_null(v);
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE resolved_at IS NULL"), 3);

    /* a new leader whose rows were last notified 2 h ago: reminded once */
    hist_alert_state_free(st);
    st = state();
    tdb_exec(c.m, "UPDATE alert_event SET notified_at = UTC_TIMESTAMP(3) - INTERVAL 2 HOUR");
    v = eval(&c, st, both, 3, &nn);
    assert_int_equal(nn, 3);
    assert_non_null(find(v, nn, "reminder", "no_agent", "pay"));
    assert_non_null(find(v, nn, "reminder", "no_failover", "report"));
    free(v);
    v = eval(&c, st, both, 3, &nn);
    assert_int_equal(nn, 0);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event"
                                  " WHERE notified_at < UTC_TIMESTAMP(3) - INTERVAL 1 HOUR"),
                     0);

    /* only report listed: pay and the agent recover, once */
    v = eval(&c, st, report, 1, &nn);
    assert_int_equal(nn, 2);
    o = find(v, nn, "resolve", "no_agent", "pay");
    assert_non_null(o);
    assert_true(o->recovered);
    assert_int_equal(o->id, pay_id);
    assert_non_null(find(v, nn, "resolve", "agent", ""));
    free(v);
    v = eval(&c, st, report, 1, &nn);
    assert_int_equal(nn, 0);

    /* pay loses its agents again: a new row, not the resolved one reopened */
    v = eval(&c, st, both, 2, &nn);
    assert_int_equal(nn, 1);
    assert_non_null(find(v, nn, "open", "no_agent", "pay"));
    assert_true(v[0].id != pay_id);
    free(v);
    hist_alert_state_free(st);
    ctx_close(&c);
}

static void test_burst_grouped(void **state_)
{
    (void)state_;
    struct ctx c;
    size_t nn;
    struct hist_alert_notice *v;
    ctx_open(&c);
    struct hist_alert_state *st = state();
    v = eval(&c, st, NULL, 0, &nn); /* built: what follows is incremental */
    assert_int_equal(nn, 0);

    record(c.m, "b", "burst", 0, 200, -5, "failed");
    record(c.m, "q", "quiet", 0, 4, -5, "succeeded");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_string_equal(v[0].event, "open");
    assert_string_equal(v[0].kind, "failed");
    assert_string_equal(v[0].job, "burst");
    assert_int_equal(v[0].count, 200);
    assert_int_equal(v[0].item, -1);
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE job='burst'"
                                  " AND kind='failed' AND resolved_at IS NULL"),
                     200);
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);

    /* half the items succeed at a later fire: still open, no notice */
    record(c.m, "s1", "burst", 0, 100, -2, "succeeded");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE job='burst'"
                                  " AND resolved_at IS NULL"),
                     100);
    /* a new leader now: the open group is not announced again */
    hist_alert_state_free(st);
    st = state();
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    /* the rest succeed: one recovery notice for the job */
    record(c.m, "s2", "burst", 100, 100, -1, "succeeded");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_string_equal(v[0].event, "resolve");
    assert_string_equal(v[0].job, "burst");
    assert_true(v[0].recovered);
    assert_int_equal(v[0].count, 100);
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE resolved_at IS NULL"), 0);
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    hist_alert_state_free(st);
    ctx_close(&c);
}

/* A trace row whose transaction took its seq first but commits after a later
 * one committed and was read: the gap is re-read, the failure is seen. */
static void test_late_commit(void **state_)
{
    (void)state_;
    struct ctx c;
    size_t nn;
    struct hist_alert_notice *v;
    ctx_open(&c);
    MYSQL *late = tdb_connect(&c.url);
    struct hist_alert_state *st = state();
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    tdb_exec(late, "BEGIN");
    tdb_exec(late, "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type,"
                   " status, agent) VALUES ('late-1', 'slow', 0, UTC_TIMESTAMP(3), 'cron',"
                   " 'failed', 'a2')");
    tdb_exec(late, "INSERT INTO job_status_trace (execution_id, state, at)"
                   " VALUES ('late-1', 'failed', UTC_TIMESTAMP(3))");
    record(c.m, "f", "fast", 0, 1, 0, "failed");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_string_equal(v[0].job, "fast");
    free(v);
    tdb_exec(late, "COMMIT");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_string_equal(v[0].event, "open");
    assert_string_equal(v[0].job, "slow");
    assert_int_equal(v[0].item, 0);
    free(v);
    mysql_close(late);
    hist_alert_state_free(st);
    ctx_close(&c);
}

static void run_row(MYSQL *m, const char *run, const char *state, int ago_s)
{
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO workflow_run (run_id, workflow, logical_ms, run_trigger, state, params,"
             " created_ms, started_ms, ended_ms, seq) VALUES ('%s', 'etl',"
             " UNIX_TIMESTAMP() * 1000 - %d000, 'manual', '%s', '{}', UNIX_TIMESTAMP() * 1000,"
             " UNIX_TIMESTAMP() * 1000, UNIX_TIMESTAMP() * 1000 - %d000, 1)",
             run, ago_s, state, ago_s);
    tdb_exec(m, q);
}

static void test_workflow(void **state_)
{
    (void)state_;
    struct ctx c;
    size_t nn;
    struct hist_alert_notice *v;
    ctx_open(&c);
    struct hist_alert_state *st = state();
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    run_row(c.m, "etl-1", "failed", 30);
    tdb_exec(c.m, "INSERT INTO task_instance (run_id, task, state, attempt, reason, seq) VALUES"
                  " ('etl-1', 'load', 'failed', 2, 'exit status 3', 1),"
                  " ('etl-1', 'extract', 'succeeded', 1, NULL, 1)");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 2);
    const struct hist_alert_notice *o = find(v, nn, "open", "run_failed", "etl");
    assert_non_null(o);
    assert_string_equal(o->execution_id, "etl-1");
    o = find(v, nn, "open", "task_failed", "etl");
    assert_non_null(o);
    assert_string_equal(o->task, "load");
    free(v);
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    /* a sensor that timed out in a later run: the run is still failing (no
     * new run_failed notice), the sensor is its own */
    run_row(c.m, "etl-2", "failed", 20);
    tdb_exec(c.m, "INSERT INTO task_instance (run_id, task, state, attempt, reason, seq) VALUES"
                  " ('etl-2', 'ready', 'failed', 3, 'sensor timed out after 60 s (3 pokes)', 1)");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_non_null(find(v, nn, "open", "sensor_late", "etl"));
    free(v);
    run_row(c.m, "etl-3", "succeeded", 10);
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 3);
    assert_non_null(find(v, nn, "resolve", "run_failed", "etl"));
    assert_non_null(find(v, nn, "resolve", "task_failed", "etl"));
    assert_non_null(find(v, nn, "resolve", "sensor_late", "etl"));
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE resolved_at IS NULL"), 0);
    /* a task failed after its retries while its run goes on: announced now;
     * the run's end (failed) keeps that task condition and opens run_failed */
    tdb_exec(c.m, "INSERT INTO workflow_run (run_id, workflow, logical_ms, run_trigger, state,"
                  " params, created_ms, started_ms, ended_ms, seq) VALUES ('etl-5', 'etl',"
                  " 5, 'manual', 'running', '{}', UNIX_TIMESTAMP() * 1000,"
                  " UNIX_TIMESTAMP() * 1000, NULL, 1)");
    tdb_exec(c.m, "INSERT INTO task_instance (run_id, task, state, attempt, reason, seq) VALUES"
                  " ('etl-5', 'transform', 'failed', 2, 'exit status 1', 1),"
                  " ('etl-5', 'report', 'running', 1, NULL, 1)");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    o = find(v, nn, "open", "task_failed", "etl");
    assert_non_null(o);
    assert_string_equal(o->task, "transform");
    assert_string_equal(o->execution_id, "etl-5");
    free(v);
    tdb_exec(c.m, "UPDATE workflow_run SET state = 'failed', ended_ms = UNIX_TIMESTAMP() * 1000 + 1"
                  " WHERE run_id = 'etl-5'");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_non_null(find(v, nn, "open", "run_failed", "etl"));
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE task = 'transform'"), 1);
    tdb_exec(c.m, "UPDATE alert_event SET resolved_at = UTC_TIMESTAMP(3) WHERE job = 'etl'");
    hist_alert_state_free(st);
    st = state(); /* (a clean slate for what follows) */
    v = eval(&c, st, NULL, 0, &nn);
    free(v);

    /* a run failed at its timeout_s (the driver cancels what still runs, with
     * that reason): run_overdue, and no task_failed for the cancelled task */
    run_row(c.m, "etl-4", "failed", 5);
    tdb_exec(c.m, "INSERT INTO task_instance (run_id, task, state, attempt, reason, seq) VALUES"
                  " ('etl-4', 'load', 'cancelled', 1, 'the run timed out after 60 s', 1)");
    v = eval(&c, st, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    assert_non_null(find(v, nn, "open", "run_overdue", "etl"));
    free(v);
    hist_alert_state_free(st);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caller_lifecycle),
        cmocka_unit_test(test_burst_grouped),
        cmocka_unit_test(test_late_commit),
        cmocka_unit_test(test_workflow),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
