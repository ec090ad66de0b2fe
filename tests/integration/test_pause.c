/* tests/integration/test_pause.c: pause windows on a real agent, with real
 * ZooKeeper and MariaDB (docs/pauses.md).
 *
 * A job fires every second and logs each run to a file of its own (the job's
 * view, tests/lib/runlog.h). A window written to /pauses/<id> a few seconds
 * ahead must be seen by the agent through its watch, and then:
 *   skip:  no run of a fire inside the window; the history has one `paused`
 *          row for each of those fires and no `missed` one; runs resume after.
 *   defer: the fires inside are recorded `paused`, and exactly one run follows
 *          the window's end (trigger misfire, the latest fire inside), started
 *          at or after the end.
 *   a long run started before a window keeps running through it and ends
 *          normally (not killed); fires inside are `paused`, not `skipped`.
 * Every wait is on observable state with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/zkcli.h"
#include "sql/db.h"
#include "tests/lib/agents.h"
#include "tests/lib/runlog.h"
#include "tests/lib/testdb.h"
#include "tests/lib/testenv.h"

#define MAX_RUNS 2048

struct setup {
    struct ta_cluster c;
    char out[512];
    struct db_url db;
    char url[600];
    MYSQL *m;
    struct rl_run runs[MAX_RUNS];
    int nruns;
};

static struct zkcli *zk(const struct setup *s)
{
    struct sc_err err;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), s->c.ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    return k;
}

/* start: one agent with history (and `labels`, may be NULL), and job `name`
 * firing every second. */
static void start(struct setup *s, const char *tag, const char *name, const char *extra_job,
                  const char *secs, const char *labels)
{
    char job[4096], cmd[2048];
    memset(&s->c, 0, sizeof s->c);
    s->m = tdb_scratch(&s->db, s->url, sizeof s->url, tag);
    tdb_exec(s->m, "SET time_zone = '+00:00'");
    snprintf(s->c.ns, sizeof s->c.ns, "it_pause_%s_%d", tag, (int)getpid());
    s->c.session_ms = 4000;
    snprintf(s->out, sizeof s->out, "%s/%s.out", tenv("SC_TEST_TMP"), s->c.ns);
    /* alerts evaluated every 300 ms: a paused fire must never become one */
    const char *extra[] = {"--mysql",
                           s->url,
                           "--mysql-password-file",
                           tenv("SC_TEST_MYSQL_PASSWORD_FILE"),
                           "--alert-interval-ms",
                           "300",
                           labels ? "--labels" : NULL,
                           labels,
                           NULL};
    assert_true(ta_start(&s->c, "p1", extra) >= 0);
    snprintf(job, sizeof job,
             "{\"name\":\"%s\",\"cron\":\"* * * * * ?\",\"shards\":1%s,"
             "\"command\":\"%s\"}",
             name, extra_job, rl_command(cmd, sizeof cmd, s->out, secs, 0));
    struct zkcli *k = zk(s);
    char path[200];
    snprintf(path, sizeof path, "/jobs/%s", name);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    assert_int_equal(zkcli_create(k, path, job, (int)strlen(job), 0, NULL, 0), ZOK);
    zkcli_close(k);
}

static void stop(struct setup *s)
{
    char sql[256], san[512];
    ta_stop_all(&s->c);
    if (ta_sanitizer_reports(&s->c, san, sizeof san))
        fail_msg("sanitizer report in %s", san);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s->db.db);
    tdb_exec(s->m, sql);
    mysql_close(s->m);
}

/* put_window: /pauses/<id> with the given scope and [from, to) epoch seconds. */
static void put_window(struct setup *s, const char *id, const char *scope, long long from,
                       long long to, const char *action)
{
    char w[1024], path[200];
    snprintf(w, sizeof w,
             "{\"id\":\"%s\",\"scope\":%s,\"from\":\"@%lld\",\"to\":\"@%lld\","
             "\"action\":\"%s\",\"reason\":\"integration test\"}",
             id, scope, from, to, action);
    snprintf(path, sizeof path, "/pauses/%s", id);
    struct zkcli *k = zk(s);
    assert_int_equal(zkcli_ensure(k, "/pauses"), ZOK);
    assert_int_equal(zkcli_create(k, path, w, (int)strlen(w), 0, NULL, 0), ZOK);
    zkcli_close(k);
}

/* ---------------------------------------------------------------- waits */

struct wait_run {
    struct setup *s;
    long long fire_at_least; /* a run of a fire >= this started */
    int ended;               /* ... and ended (1) */
};

static bool run_seen(void *arg)
{
    struct wait_run *w = arg;
    w->s->nruns = rl_load(w->s->out, w->s->runs, MAX_RUNS);
    for (int i = 0; i < w->s->nruns; i++)
        if (w->s->runs[i].fire >= w->fire_at_least && (!w->ended || w->s->runs[i].end_ns))
            return true;
    return false;
}

static void wait_run(struct setup *s, long long fire_at_least, int ended, int deadline_ms,
                     const char *what)
{
    struct wait_run w = {s, fire_at_least, ended};
    if (!tenv_wait(run_seen, &w, deadline_ms, 100))
        fail_msg("%s: no run of a fire >= %lld%s within %d ms", what, fire_at_least,
                 ended ? " ended" : "", deadline_ms);
}

struct wait_sql {
    MYSQL *m;
    const char *sql;
    long long want;
    long long got;
};

static bool sql_reached(void *arg)
{
    struct wait_sql *w = arg;
    w->got = tdb_int(w->m, w->sql);
    return w->got >= w->want;
}

/* wait_count: the query's count reaches `want` (the writer flushes in batches). */
static long long wait_count(MYSQL *m, const char *sql, long long want)
{
    struct wait_sql w = {m, sql, want, 0};
    if (!tenv_wait(sql_reached, &w, 10000, 100))
        fail_msg("%s: %lld rows, want %lld", sql, w.got, want);
    return w.got;
}

/* ---------------------------------------------------------------- tests */

static void test_skip_window(void **state)
{
    static struct setup s;
    char sql[512];
    (void)state;
    start(&s, "skip", "tick", "", "0.1", NULL);
    long long t0 = time(NULL);
    wait_run(&s, t0, 1, 20000, "first run");
    long long from = time(NULL) + 3, to = from + 4;
    put_window(&s, "w-skip", "{\"job\":\"tick\"}", from, to, "skip");
    wait_run(&s, to + 2, 1, 20000, "runs after the window");

    int before = 0, after = 0;
    for (int i = 0; i < s.nruns; i++) {
        if (s.runs[i].fire >= from && s.runs[i].fire < to)
            fail_msg("fire %lld ran inside the skip window [%lld, %lld)", s.runs[i].fire, from, to);
        long long start_s = s.runs[i].start_ns / 1000000000LL;
        if (start_s >= from && start_s < to)
            fail_msg("a run started at %lld, inside the skip window [%lld, %lld)", start_s, from,
                     to);
        before += s.runs[i].fire < from;
        after += s.runs[i].fire >= to;
    }
    assert_true(before > 0);
    assert_true(after >= 2);
    /* one paused row for every fire inside, none missed, none run */
    snprintf(sql, sizeof sql,
             "SELECT COUNT(DISTINCT fire_time) FROM job_execution WHERE job = 'tick' AND status ="
             " 'paused' AND fire_time >= FROM_UNIXTIME(%lld) AND fire_time < FROM_UNIXTIME(%lld)",
             from, to);
    assert_int_equal(wait_count(s.m, sql, to - from), to - from);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'tick' AND status <> 'paused' AND"
             " fire_time >= FROM_UNIXTIME(%lld) AND fire_time < FROM_UNIXTIME(%lld)",
             from, to);
    assert_int_equal(tdb_int(s.m, sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'tick' AND status = 'paused' AND"
             " error LIKE '%%w-skip%%integration test%%'");
    assert_int_equal(tdb_int(s.m, sql), to - from);
    /* and the runs after it are recorded as runs */
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'tick' AND status = 'succeeded' AND"
             " fire_time >= FROM_UNIXTIME(%lld)",
             to);
    wait_count(s.m, sql, 2);
    /* the agent counts them too */
    char *metrics = ta_get(&s.c, 0, "/metrics");
    const char *m = metrics ? strstr(metrics, "\nshardcron_agent_fires_paused_total ") : NULL;
    if (!m || atoll(m + strlen("\nshardcron_agent_fires_paused_total ")) != to - from)
        fail_msg("fires_paused_total: %.80s", m ? m + 1 : "(absent)");
    free(metrics);
    /* Never alerted as missed. The control: a missed row of another item,
     * written now, is alerted by the same leader's evaluation, which by then
     * has read the paused rows too. */
    snprintf(sql, sizeof sql,
             "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, status)"
             " VALUES ('control-missed', 'tick', 7, FROM_UNIXTIME(%lld), 'cron', 'missed')",
             to);
    tdb_exec(s.m, sql);
    /* and its trace row, as the writer records it: the leader's incremental
     * evaluation reads status changes from there */
    tdb_exec(s.m, "INSERT INTO job_status_trace (execution_id, state, at)"
                  " VALUES ('control-missed', 'missed', NOW(3))");
    wait_count(s.m,
               "SELECT COUNT(*) FROM alert_event WHERE kind = 'missed' AND job = 'tick' AND"
               " item = 7",
               1);
    assert_int_equal(
        tdb_int(s.m, "SELECT COUNT(*) FROM alert_event WHERE job = 'tick' AND item = 0"), 0);
    stop(&s);
}

static void test_defer_window(void **state)
{
    static struct setup s;
    char sql[512];
    (void)state;
    /* concurrency allow: the deferred run and the on-time fire at the
     * window's end may start in the same instant; neither may skip the other */
    start(&s, "defer", "dj", ",\"domain\":\"fin\",\"concurrency\":\"allow\"", "0.1", NULL);
    wait_run(&s, time(NULL), 1, 20000, "first run");
    long long from = time(NULL) + 3, to = from + 4;
    put_window(&s, "w-defer", "{\"domain\":\"fin\"}", from, to, "defer");
    wait_run(&s, to + 2, 1, 20000, "runs after the window");

    int deferred = 0;
    for (int i = 0; i < s.nruns; i++) {
        const struct rl_run *r = &s.runs[i];
        if (r->fire < from || r->fire >= to)
            continue;
        deferred++;
        if (r->fire != to - 1 || strcmp(r->trigger, "misfire") != 0)
            fail_msg("fire %lld ran inside the defer window (trigger %s); want one misfire run"
                     " of fire %lld",
                     r->fire, r->trigger, to - 1);
        if (r->start_ns < to * 1000000000LL)
            fail_msg("the deferred run started %lld ms before the window ended",
                     (to * 1000000000LL - r->start_ns) / 1000000);
        if (r->start_ns > (to + 3) * 1000000000LL)
            fail_msg("the deferred run started %lld ms after the window ended",
                     (r->start_ns - to * 1000000000LL) / 1000000);
    }
    assert_int_equal(deferred, 1);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'dj' AND status = 'paused' AND"
             " trigger_type = 'cron' AND fire_time >= FROM_UNIXTIME(%lld) AND"
             " fire_time < FROM_UNIXTIME(%lld)",
             from, to);
    assert_int_equal(wait_count(s.m, sql, to - from), to - from);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'dj' AND status = 'succeeded' AND"
             " trigger_type = 'misfire' AND fire_time = FROM_UNIXTIME(%lld)",
             to - 1);
    assert_int_equal(wait_count(s.m, sql, 1), 1);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'dj' AND status IN ('missed',"
             " 'skipped') AND fire_time >= FROM_UNIXTIME(%lld)",
             from);
    assert_int_equal(tdb_int(s.m, sql), 0);
    stop(&s);
}

static void test_running_execution_finishes(void **state)
{
    static struct setup s;
    char sql[512];
    (void)state;
    /* each run lasts 4 s; forbid: fires while one runs are skipped, except
     * inside the window, where they are paused */
    start(&s, "long", "long", ",\"labels\":[\"slow\"]", "4", "slow");
    long long t0 = time(NULL);
    wait_run(&s, t0, 0, 20000, "a long run starting");
    const struct rl_run *first = NULL;
    for (int i = 0; i < s.nruns && !first; i++)
        if (s.runs[i].fire >= t0)
            first = &s.runs[i];
    long long fire = first->fire;
    long long from = time(NULL) + 1, to = from + 2;
    put_window(&s, "w-long", "{\"labels\":[\"slow\",\"other\"]}", from, to, "skip");
    wait_run(&s, fire, 1, 20000, "the long run ending");
    const struct rl_run *r = NULL;
    for (int i = 0; i < s.nruns && !r; i++)
        if (s.runs[i].fire == fire)
            r = &s.runs[i];
    assert_non_null(r);
    if (r->terminated)
        fail_msg("the run of fire %lld, started before the window, was terminated", fire);
    if (r->end_ns < from * 1000000000LL)
        fail_msg("the run of fire %lld ended before the window began: nothing was tested", fire);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'long' AND status = 'succeeded' AND"
             " fire_time = FROM_UNIXTIME(%lld)",
             fire);
    assert_int_equal(wait_count(s.m, sql, 1), 1);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'long' AND status = 'paused' AND"
             " fire_time >= FROM_UNIXTIME(%lld) AND fire_time < FROM_UNIXTIME(%lld)",
             from, to);
    assert_int_equal(wait_count(s.m, sql, to - from), to - from);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = 'long' AND status <> 'paused' AND"
             " fire_time >= FROM_UNIXTIME(%lld) AND fire_time < FROM_UNIXTIME(%lld)",
             from, to);
    assert_int_equal(tdb_int(s.m, sql), 0);
    stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_window),
        cmocka_unit_test(test_defer_window),
        cmocka_unit_test(test_running_execution_finishes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
