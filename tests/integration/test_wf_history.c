/* tests/integration/test_wf_history.c: the workflow history against a real
 * MariaDB (sql/hist.h "workflow events", sql/hist_wf.h).
 *
 * Migration 0004 -> 0005 with an execution row surviving; seq-guarded upserts
 * of runs, task instances and outputs in both orders, in one transaction and in
 * separate ones; a 65,536-byte output stored and read back byte for byte (and
 * 65,537 refused); bad input refused naming the field; a MariaDB outage during
 * which workflow events are spooled and then replayed exactly once (stops and
 * restarts the shared server, restarting it on every path); retention of ended
 * runs with their tasks and outputs while running runs stay; the JSON of
 * hist_wf_run_get and hist_wf_runs_list. Each test has its own database. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sql/db.h"
#include "sql/hist.h"
#include "sql/hist_wf.h"
#include "tests/lib/testdb.h"
#include "tests/lib/testenv.h"

/* ============================== helpers ============================== */

struct ctx {
    struct db_url url;
    MYSQL *m;
    char spool[512];
};

static void ctx_open(struct ctx *c, const char *tag)
{
    char url[512];
    memset(c, 0, sizeof *c);
    c->m = tdb_scratch(&c->url, url, sizeof url, tag);
    snprintf(c->spool, sizeof c->spool, "%s/spool-wf-%s", tenv("SC_TEST_TMP"), tag);
}

static void ctx_close(struct ctx *c)
{
    char sql[256];
    if (!c->m)
        return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", c->url.db);
    mysql_query(c->m, sql);
    mysql_close(c->m);
    c->m = NULL;
}

static struct hist_writer *writer_open(struct ctx *c, unsigned batch)
{
    struct hist_writer *w;
    struct sc_err err;
    struct hist_writer_opts o = {
        .url = &c->url,
        .password = tenv_password(),
        .spool_path = c->spool,
        .batch_size = batch,
        .flush_ms = 20,
        .io_timeout_s = 3,
    };
    if (hist_writer_open(&o, &w, &err) != 0)
        fail_msg("writer: %s", err.msg);
    return w;
}

struct drain {
    struct hist_writer *w;
    uint64_t expect;
};

static bool drained(void *arg)
{
    struct drain *d = arg;
    struct hist_writer_stats st;
    hist_writer_flush(d->w);
    hist_writer_stats(d->w, &st);
    return st.pending == 0 && st.spool_bytes == 0 && st.written + st.dropped >= d->expect;
}

/* Wait until `expect` events (accepted since open) are in MySQL, none dropped. */
static void wait_drained(struct hist_writer *w, uint64_t expect, int deadline_ms)
{
    struct drain d = {w, expect};
    struct hist_writer_stats st;
    bool ok = tenv_wait(drained, &d, deadline_ms, 20);
    hist_writer_stats(w, &st);
    if (!ok)
        fail_msg("writer did not drain: queued %llu written %llu spooled %llu pending %llu",
                 (unsigned long long)st.queued, (unsigned long long)st.written,
                 (unsigned long long)st.spooled, (unsigned long long)st.pending);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.written, expect);
}

/* The first column of the first row as text ("" for NULL; fails when no row). */
static const char *str1(MYSQL *m, const char *sql, char *buf, size_t len)
{
    tdb_exec(m, sql);
    MYSQL_RES *r = mysql_store_result(m);
    assert_non_null(r);
    MYSQL_ROW row = mysql_fetch_row(r);
    if (!row)
        fail_msg("no row: %s", sql);
    snprintf(buf, len, "%s", row[0] ? row[0] : "");
    mysql_free_result(r);
    return buf;
}

static const int64_t T0 = 1767225600000LL; /* 2026-01-01 00:00:00 UTC */

static void run_ev(struct hist_writer *w, const char *id, const char *wf, int64_t logical,
                   const char *state, int64_t seq)
{
    struct hist_wf_run_event e = {
        .run_id = id,
        .workflow = wf,
        .logical_ms = logical,
        .trigger = "schedule",
        .state = state,
        .params = "{\"region\":\"cn\"}",
        .created_ms = logical + 5,
        .started_ms = strcmp(state, "queued") ? logical + 10 : 0,
        .ended_ms = strcmp(state, "queued") && strcmp(state, "running") ? logical + 1000 : 0,
        .seq = seq,
    };
    assert_int_equal(hist_writer_submit_wf_run(w, &e), 0);
}

static void task_ev(struct hist_writer *w, const char *run, const char *task, const char *state,
                    int attempt, int64_t seq)
{
    bool done = !strcmp(state, "succeeded") || !strcmp(state, "failed");
    struct hist_wf_task_event e = {
        .run_id = run,
        .task = task,
        .state = state,
        .attempt = attempt,
        .items = 2,
        .started_ms = attempt ? T0 + 100 * attempt : 0,
        .ended_ms = done ? T0 + 100 * attempt + 50 : 0,
        .reason = !strcmp(state, "failed") ? "item 1: exit status 3" : NULL,
        .seq = seq,
    };
    assert_int_equal(hist_writer_submit_wf_task(w, &e), 0);
}

static void xcom_ev(struct hist_writer *w, const char *run, const char *task, int item,
                    const char *json, int64_t seq)
{
    struct hist_wf_xcom_event e = {
        .run_id = run,
        .task = task,
        .item = item,
        .attempt = 1,
        .output = json,
        .output_len = json ? strlen(json) : 0,
        .seq = seq,
    };
    assert_int_equal(hist_writer_submit_wf_xcom(w, &e), 0);
}

/* ============================== migration ============================== */

static void test_wf_migrate_from_v4(void **state)
{
    (void)state;
    struct sc_err err;
    struct db_url u;
    char sql[256];
    int from = -1, to = -1;
    assert_int_equal(db_url_parse(tenv("SC_TEST_MYSQL"), &u, &err), 0);
    MYSQL *root = tdb_connect(&u);
    snprintf(u.db, sizeof u.db, "shardcron_wfmig_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", u.db);
    tdb_exec(root, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", u.db);
    tdb_exec(root, sql);
    MYSQL *m = tdb_connect(&u);
    assert_int_equal(hist_migrate(m, 4, &from, &to, &err), 0);
    assert_int_equal(to, 4);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM information_schema.TABLES WHERE"
                                " TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'workflow_run'"),
                     0);
    tdb_exec(m, "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type,"
                " status) VALUES ('v4-1', 'old', 0, '2026-01-01 00:00:00', 'cron', 'succeeded')");
    tdb_exec(m, "COMMIT");
    assert_int_equal(hist_migrate(m, 5, &from, &to, &err), 0);
    assert_int_equal(from, 4);
    assert_int_equal(to, 5);
    assert_int_equal(hist_schema_version(m, &err), 5);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM job_execution WHERE execution_id = 'v4-1'"),
                     1);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM information_schema.TABLES WHERE"
                                " TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('workflow_run',"
                                " 'task_instance', 'task_xcom')"),
                     3);
    /* The output column holds more than 64 KiB - 1 (a BLOB would not). */
    char type[64];
    str1(m,
         "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
         " AND TABLE_NAME = 'task_xcom' AND COLUMN_NAME = 'output'",
         type, sizeof type);
    assert_string_equal(type, "mediumblob");
    snprintf(sql, sizeof sql, "DROP DATABASE %s", u.db);
    tdb_exec(root, sql);
    mysql_close(m);
    mysql_close(root);
}

/* ============================== order ============================== */

/* For runs, task instances and outputs: a newer report then an older one, and
 * an older then a newer one, in one transaction (one batch) and in two. The row
 * always ends at the newest seq; a replay of the same seq changes nothing; a
 * second run id for a taken logical time neither merges nor adds a row. */
static void test_wf_seq_order(void **state)
{
    (void)state;
    struct ctx c;
    char buf[256];
    ctx_open(&c, "wfseq");
    struct hist_writer *w = writer_open(&c, 100);
    uint64_t sent = 0;
    for (int split = 0; split < 2; split++) {
        for (int newer_first = 0; newer_first < 2; newer_first++) {
            char run[32];
            snprintf(run, sizeof run, "run-%d-%d", split, newer_first);
            int64_t logical = T0 + (split * 2 + newer_first) * 3600000LL;
            /* seq 7: the final state; seq 3: an earlier one. */
            for (int k = 0; k < 2; k++) {
                bool newer = (k == 0) == (newer_first == 1);
                run_ev(w, run, "order", logical, newer ? "failed" : "running", newer ? 7 : 3);
                task_ev(w, run, "load", newer ? "failed" : "running", newer ? 2 : 1, newer ? 7 : 3);
                xcom_ev(w, run, "load", 0, newer ? "{\"v\":\"new\"}" : "{\"v\":\"old\"}",
                        newer ? 7 : 3);
                sent += 3;
                if (split && k == 0)
                    wait_drained(w, sent, 30000);
            }
            /* The same final reports again (a replay): idempotent. */
            run_ev(w, run, "order", logical, "failed", 7);
            task_ev(w, run, "load", "failed", 2, 7);
            xcom_ev(w, run, "load", 0, "{\"v\":\"new\"}", 7);
            sent += 3;
        }
    }
    /* Another run id for a logical time that has a run: no merge, no row. */
    run_ev(w, "intruder", "order", T0, "succeeded", 100);
    sent++;
    wait_drained(w, sent, 30000);
    hist_writer_close(w, 5000);

    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run"), 4);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run WHERE state = 'failed'"
                                  " AND seq = 7 AND ended_ms IS NOT NULL"),
                     4);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run WHERE run_id = 'intruder'"),
                     0);
    assert_string_equal(
        str1(c.m, "SELECT state FROM workflow_run WHERE run_id = 'run-0-0'", buf, sizeof buf),
        "failed");
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_instance"), 4);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_instance WHERE state = 'failed'"
                                  " AND attempt = 2 AND seq = 7 AND reason = 'item 1: exit"
                                  " status 3' AND ended_ms = started_ms + 50"),
                     4);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom"), 4);
    assert_int_equal(
        tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom WHERE output = '{\"v\":\"new\"}' AND seq = 7"),
        4);

    /* A newer report clears an output and moves a run back to running (a task
     * cleared for a re-run): the guard is seq, not the state. */
    w = writer_open(&c, 100);
    run_ev(w, "run-0-0", "order", T0, "running", 8);
    xcom_ev(w, "run-0-0", "load", 0, NULL, 8);
    wait_drained(w, 2, 30000);
    hist_writer_close(w, 5000);
    assert_string_equal(
        str1(c.m, "SELECT state FROM workflow_run WHERE run_id = 'run-0-0'", buf, sizeof buf),
        "running");
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run WHERE run_id = 'run-0-0'"
                                  " AND ended_ms IS NULL"),
                     1);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom WHERE run_id = 'run-0-0'"
                                  " AND output IS NULL AND seq = 8"),
                     1);
    ctx_close(&c);
}

/* ============================== 64 KiB ============================== */

/* A JSON document of exactly n bytes: a string of varied characters, with
 * escapes and multi-byte UTF-8, so nothing short of the whole value matches. */
static char *json_of(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    size_t i = 0;
    s[i++] = '"';
    while (i < n - 1) {
        size_t left = n - 1 - i;
        if (i % 97 == 0 && left >= 2) {
            memcpy(s + i, "\\n", 2), i += 2;
        } else if (i % 89 == 0 && left >= 3) {
            memcpy(s + i, "\xE6\x97\xA5", 3), i += 3;
        } else {
            s[i] = (char)('a' + (i * 7) % 26);
            i++;
        }
    }
    s[i++] = '"';
    s[i] = '\0';
    assert_int_equal(i, n);
    return s;
}

static void test_wf_xcom_64k(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    ctx_open(&c, "wf64k");
    struct hist_writer *w = writer_open(&c, 100);
    char *big = json_of(HIST_XCOM_MAX), *over = json_of(HIST_XCOM_MAX + 1);
    run_ev(w, "big-1", "big", T0, "running", 1);
    task_ev(w, "big-1", "t", "succeeded", 1, 2);
    xcom_ev(w, "big-1", "t", 0, big, 2);
    struct hist_wf_xcom_event e = {.run_id = "big-1",
                                   .task = "t",
                                   .item = 1,
                                   .attempt = 1,
                                   .output = over,
                                   .output_len = strlen(over),
                                   .seq = 2};
    assert_int_equal(hist_writer_submit_wf_xcom(w, &e), -EINVAL);
    wait_drained(w, 3, 30000);
    hist_writer_close(w, 5000);

    /* Byte for byte in the table. */
    tdb_exec(c.m, "SELECT output FROM task_xcom WHERE run_id = 'big-1' AND task = 't' AND"
                  " item = 0");
    MYSQL_RES *r = mysql_store_result(c.m);
    assert_non_null(r);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_non_null(row);
    unsigned long *len = mysql_fetch_lengths(r);
    assert_int_equal(len[0], HIST_XCOM_MAX);
    assert_memory_equal(row[0], big, HIST_XCOM_MAX);
    mysql_free_result(r);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom"), 1);

    /* And through hist_wf_run_get: the same JSON value. */
    cJSON *run = NULL;
    if (hist_wf_run_get(c.m, "big-1", &run, &err) != 0)
        fail_msg("run_get: %s: %s", err.field, err.msg);
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "tasks"), "t"),
            "outputs"),
        "0");
    assert_non_null(out);
    char *printed = cJSON_PrintUnformatted(out);
    cJSON *want = cJSON_Parse(big);
    char *want_printed = cJSON_PrintUnformatted(want);
    assert_string_equal(printed, want_printed);
    free(printed);
    free(want_printed);
    cJSON_Delete(want);
    cJSON_Delete(run);

    /* 300 outputs of 64 KiB in one flush (19 MiB, past the server's 16 MiB
     * max_allowed_packet for one statement): written in statements that fit. */
    enum { MANY = 300 };
    w = writer_open(&c, 500);
    for (int i = 0; i < MANY; i++) {
        struct hist_wf_xcom_event x = {.run_id = "big-2",
                                       .task = "fan",
                                       .item = i,
                                       .attempt = 1,
                                       .output = big,
                                       .output_len = HIST_XCOM_MAX,
                                       .seq = 1};
        assert_int_equal(hist_writer_submit_wf_xcom(w, &x), 0);
    }
    wait_drained(w, MANY, 60000);
    hist_writer_close(w, 5000);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom WHERE run_id = 'big-2' AND"
                                  " LENGTH(output) = 65536"),
                     MANY);
    free(big);
    free(over);
    ctx_close(&c);
}

/* ============================== bad input ============================== */

static void test_wf_bad_input(void **state)
{
    (void)state;
    struct ctx c;
    struct hist_writer_stats st;
    ctx_open(&c, "wfbad");
    struct hist_writer *w = writer_open(&c, 100);
    struct hist_wf_run_event r = {.run_id = "r1",
                                  .workflow = "wf",
                                  .logical_ms = T0,
                                  .trigger = "schedule",
                                  .state = "running",
                                  .created_ms = T0,
                                  .seq = 1};
    r.state = "runing";
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.state = "running", r.trigger = "cron";
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.trigger = "manual", r.params = "[1,2]";
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.params = "{\"a\":", r.run_id = "r1";
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.params = NULL, r.run_id = "has space";
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.run_id = "r1", r.workflow = "";
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.workflow = "wf", r.seq = -1;
    assert_int_equal(hist_writer_submit_wf_run(w, &r), -EINVAL);
    r.seq = 1;
    assert_int_equal(hist_writer_submit_wf_run(w, &r), 0); /* accepted once corrected */

    struct hist_wf_task_event t = {.run_id = "r1", .task = "t", .state = "done", .seq = 1};
    assert_int_equal(hist_writer_submit_wf_task(w, &t), -EINVAL);
    t.state = "upstream_failed", t.attempt = -1;
    assert_int_equal(hist_writer_submit_wf_task(w, &t), -EINVAL);
    char longtask[HIST_TASK_MAX + 2];
    memset(longtask, 'x', sizeof longtask - 1);
    longtask[sizeof longtask - 1] = '\0';
    t.attempt = 0, t.task = longtask;
    assert_int_equal(hist_writer_submit_wf_task(w, &t), -EINVAL);
    static char reason[3000];
    memset(reason, 'r', sizeof reason - 1);
    reason[5] = (char)0xFF;
    t.task = "t", t.reason = reason; /* long, invalid UTF-8: cut and cleaned, not refused */
    assert_int_equal(hist_writer_submit_wf_task(w, &t), 0);

    struct hist_wf_xcom_event x = {
        .run_id = "r1", .task = "t", .output = "{not json}", .output_len = 10, .seq = 1};
    assert_int_equal(hist_writer_submit_wf_xcom(w, &x), -EINVAL);
    x.output = "{\"a\":1} x", x.output_len = 9;
    assert_int_equal(hist_writer_submit_wf_xcom(w, &x), -EINVAL);
    x.output = "[1,2,3]", x.output_len = 7, x.item = -1;
    assert_int_equal(hist_writer_submit_wf_xcom(w, &x), -EINVAL);
    x.item = 3;
    assert_int_equal(hist_writer_submit_wf_xcom(w, &x), 0);

    wait_drained(w, 3, 30000);
    hist_writer_stats(w, &st);
    assert_int_equal(st.rejected, 13);
    hist_writer_close(w, 5000);
    assert_int_equal(tdb_int(c.m, "SELECT CHAR_LENGTH(reason) FROM task_instance"),
                     HIST_REASON_MAX);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run WHERE params = '{}'"), 1);
    ctx_close(&c);
}

/* ============================== outage ============================== */

static atomic_bool mysql_down;

static void mysql_ctl(const char *verb)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/mysql %s %s >/dev/null", tenv("SC_ROOT"), verb,
             tenv("SC_TEST_MYSQL_DIR"));
    if (system(cmd) != 0)
        fail_msg("scripts/mysql %s failed", verb);
}

/* Restart the shared server on every path: later tests need it. */
static int restart_teardown(void **state)
{
    (void)state;
    if (atomic_exchange(&mysql_down, false)) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s/scripts/mysql start %s >/dev/null", tenv("SC_ROOT"),
                 tenv("SC_TEST_MYSQL_DIR"));
        if (system(cmd) != 0)
            fprintf(stderr, "could not restart MariaDB\n");
    }
    return 0;
}

static bool spooled_n(void *arg)
{
    struct hist_writer *w = ((void **)arg)[0];
    uint64_t n = *(uint64_t *)((void **)arg)[1];
    struct hist_writer_stats st;
    hist_writer_flush(w);
    hist_writer_stats(w, &st);
    return !st.connected && st.pending == 0 && st.spooled >= n;
}

/* A run of `tasks` tasks reported the way a driver would: queued, running,
 * each task running then succeeded with an output, the run succeeded. The
 * events of task k have seqs above those of task k - 1. Returns events sent. */
static uint64_t report_run(struct hist_writer *w, const char *run, int64_t logical, int tasks,
                           const char *bigout)
{
    uint64_t n = 0;
    int64_t seq = 1;
    run_ev(w, run, "outage", logical, "queued", seq++), n++;
    run_ev(w, run, "outage", logical, "running", seq++), n++;
    for (int k = 0; k < tasks; k++) {
        char task[16], out[64];
        snprintf(task, sizeof task, "t%02d", k);
        snprintf(out, sizeof out, "{\"task\":%d,\"run\":\"%s\"}", k, run);
        task_ev(w, run, task, "running", 1, seq++), n++;
        xcom_ev(w, run, task, 0, k == 0 && bigout ? bigout : out, seq), n++;
        task_ev(w, run, task, "succeeded", 1, seq++), n++;
    }
    run_ev(w, run, "outage", logical, "succeeded", seq++), n++;
    return n;
}

static void check_runs(MYSQL *m, int runs, int tasks, const char *bigout)
{
    char sql[256];
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM workflow_run"), runs);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM workflow_run WHERE state = 'succeeded'"),
                     runs);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM task_instance WHERE state = 'succeeded'"),
                     runs * tasks);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM task_instance"), runs * tasks);
    assert_int_equal(tdb_int(m, "SELECT COUNT(*) FROM task_xcom"), runs * tasks);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM task_xcom WHERE task = 't00' AND LENGTH(output) = %zu",
             strlen(bigout));
    assert_int_equal(tdb_int(m, sql), runs);
}

static void test_wf_outage_spools_and_replays(void **state)
{
    (void)state;
    enum { TASKS = 20, BEFORE = 5, DURING = 40 };
    struct ctx c;
    struct hist_writer_stats st;
    ctx_open(&c, "wfout");
    mysql_close(c.m); /* reopened after the restart */
    c.m = NULL;
    char *big = json_of(HIST_XCOM_MAX);
    struct hist_writer *w = writer_open(&c, 50);
    uint64_t sent = 0;
    char run[32];
    for (int r = 0; r < BEFORE; r++) {
        snprintf(run, sizeof run, "before-%d", r);
        sent += report_run(w, run, T0 + r * 60000LL, TASKS, big);
    }
    wait_drained(w, sent, 30000);

    atomic_store(&mysql_down, true);
    mysql_ctl("stop");
    uint64_t during = 0;
    for (int r = 0; r < DURING; r++) {
        snprintf(run, sizeof run, "during-%d", r);
        during += report_run(w, run, T0 + (BEFORE + r) * 60000LL, TASKS, big);
    }
    sent += during;
    void *args[2] = {w, &during};
    assert_true(tenv_wait(spooled_n, args, 60000, 20));
    hist_writer_stats(w, &st);
    assert_int_equal(st.spooled, during);
    /* Spooled whole: the 64 KiB outputs are in it. */
    assert_true(st.spool_bytes > (uint64_t)DURING * HIST_XCOM_MAX);
    mysql_ctl("start");
    atomic_store(&mysql_down, false);
    wait_drained(w, sent, 120000);
    hist_writer_stats(w, &st);
    printf("wf outage: %llu events, %llu spooled, %llu replayed\n", (unsigned long long)sent,
           (unsigned long long)st.spooled, (unsigned long long)st.replayed);
    /* Exactly once: every spooled record replayed, none twice, nothing left. */
    assert_int_equal(st.replayed, during);
    assert_int_equal(st.written, sent);
    hist_writer_close(w, 5000);
    w = writer_open(&c, 50); /* a new writer on the same spool finds nothing to replay */
    hist_writer_flush(w);
    hist_writer_stats(w, &st);
    assert_int_equal(st.spool_bytes, 0);
    hist_writer_close(w, 5000);
    assert_int_equal(st.replayed, 0);
    c.m = tdb_connect(&c.url);
    check_runs(c.m, BEFORE + DURING, TASKS, big);
    free(big);
    ctx_close(&c);
}

/* ============================== retention ============================== */

static void test_wf_retention(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    uint64_t deleted = 0;
    const int64_t day = 86400000LL, now = T0 + 100 * day;
    ctx_open(&c, "wfret");
    struct hist_writer *w = writer_open(&c, 100);
    uint64_t sent = 0;
    /* 7 runs ended 40 days ago, 3 tasks with 3 outputs each: deleted. */
    for (int r = 0; r < 7; r++) {
        char run[32];
        snprintf(run, sizeof run, "old-%d", r);
        struct hist_wf_run_event e = {.run_id = run,
                                      .workflow = "ret",
                                      .logical_ms = now - 41 * day + r * 1000,
                                      .trigger = "backfill",
                                      .state = r % 2 ? "failed" : "succeeded",
                                      .created_ms = now - 41 * day,
                                      .started_ms = now - 41 * day,
                                      .ended_ms = now - 40 * day,
                                      .seq = 9};
        assert_int_equal(hist_writer_submit_wf_run(w, &e), 0), sent++;
        for (int t = 0; t < 3; t++) {
            char task[16];
            snprintf(task, sizeof task, "t%d", t);
            task_ev(w, run, task, "succeeded", 1, 5), sent++;
            for (int i = 0; i < 3; i++)
                xcom_ev(w, run, task, i, "{\"x\":1}", 5), sent++;
        }
    }
    /* Cancelled before it started, 40 days ago: no end time, deleted by creation. */
    struct hist_wf_run_event cancelled = {.run_id = "cancelled-old",
                                          .workflow = "ret",
                                          .logical_ms = now - 40 * day,
                                          .trigger = "manual",
                                          .state = "cancelled",
                                          .created_ms = now - 40 * day,
                                          .seq = 2};
    assert_int_equal(hist_writer_submit_wf_run(w, &cancelled), 0), sent++;
    /* Still running after 50 days (and one queued as long): kept with its tasks. */
    struct hist_wf_run_event running = {.run_id = "running-old",
                                        .workflow = "ret",
                                        .logical_ms = now - 50 * day,
                                        .trigger = "schedule",
                                        .state = "running",
                                        .created_ms = now - 50 * day,
                                        .started_ms = now - 50 * day,
                                        .seq = 3};
    assert_int_equal(hist_writer_submit_wf_run(w, &running), 0), sent++;
    task_ev(w, "running-old", "t0", "succeeded", 1, 2), sent++;
    xcom_ev(w, "running-old", "t0", 0, "{\"keep\":true}", 2), sent++;
    running.run_id = "queued-old", running.state = "queued", running.started_ms = 0;
    running.logical_ms--;
    assert_int_equal(hist_writer_submit_wf_run(w, &running), 0), sent++;
    /* Ended yesterday: kept. */
    struct hist_wf_run_event recent = {.run_id = "recent",
                                       .workflow = "ret",
                                       .logical_ms = now - 2 * day,
                                       .trigger = "schedule",
                                       .state = "succeeded",
                                       .created_ms = now - 2 * day,
                                       .started_ms = now - 2 * day,
                                       .ended_ms = now - day,
                                       .seq = 4};
    assert_int_equal(hist_writer_submit_wf_run(w, &recent), 0), sent++;
    task_ev(w, "recent", "t0", "succeeded", 1, 2), sent++;
    xcom_ev(w, "recent", "t0", 0, "{\"keep\":true}", 2), sent++;
    wait_drained(w, sent, 30000);
    hist_writer_close(w, 5000);

    /* Chunks of 2 rows (and so 2 runs a round): many statements, each bounded;
     * a call limited to 1 round leaves work for the next. */
    assert_int_equal(hist_retention_run(c.m, 30, now, 2, 1, &deleted, &err), 0);
    assert_true(deleted > 0);
    /* 11 runs, 8 of them deletable; one round of 2 runs went. */
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run"), 9);
    /* Nothing orphaned by a call cut short: every run left has all its rows. */
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_instance t LEFT JOIN workflow_run r"
                                  " USING (run_id) WHERE r.run_id IS NULL"),
                     0);
    uint64_t total = deleted;
    do {
        assert_int_equal(hist_retention_run(c.m, 30, now, 2, 1000, &deleted, &err), 0);
        total += deleted;
    } while (deleted > 0);
    assert_int_equal(total, 7 + 7 * 3 + 7 * 9 + 1);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run"), 3);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM workflow_run WHERE run_id IN"
                                  " ('running-old', 'queued-old', 'recent')"),
                     3);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_instance"), 2);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom"), 2);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM task_xcom WHERE run_id LIKE 'old-%'"), 0);
    ctx_close(&c);
}

/* ============================== JSON ============================== */

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        fail_msg("no \"%s\"", k);
    return v;
}

static void assert_keys(const cJSON *o, const char *const *keys)
{
    int n = 0;
    for (const cJSON *c = o->child; c; c = c->next, n++)
        assert_string_equal(c->string, keys[n]);
    assert_null(keys[n]);
}

static void test_wf_json(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    char st[32];
    ctx_open(&c, "wfjson");
    struct hist_writer *w = writer_open(&c, 100);
    /* Three runs of "etl" (out of logical order) and one of another workflow. */
    const int64_t l1 = T0, l2 = T0 + 86400000LL, l3 = T0 + 2 * 86400000LL + 250;
    run_ev(w, "etl-2", "etl", l2, "succeeded", 4);
    run_ev(w, "etl-3", "etl", l3, "running", 2);
    run_ev(w, "etl-1", "etl", l1, "failed", 9);
    run_ev(w, "other-1", "other", l1, "queued", 1);
    task_ev(w, "etl-2", "extract", "succeeded", 1, 2);
    task_ev(w, "etl-2", "load", "failed", 2, 3);
    task_ev(w, "etl-2", "report", "waiting", 0, 1);
    xcom_ev(w, "etl-2", "extract", 0, "{\"rows\":10}", 2);
    xcom_ev(w, "etl-2", "extract", 1, "[1,\"two\",null]", 2);
    xcom_ev(w, "etl-2", "load", 0, "42", 3);
    wait_drained(w, 10, 30000);
    hist_writer_close(w, 5000);

    cJSON *run = NULL;
    if (hist_wf_run_get(c.m, "etl-2", &run, &err) != 0)
        fail_msg("run_get: %s: %s", err.field, err.msg);
    static const char *const run_keys[] = {"run_id",     "workflow", "state",  "logical_time",
                                           "logical_ms", "trigger",  "params", "created_ms",
                                           "started_ms", "ended_ms", "tasks",  NULL};
    assert_keys(run, run_keys);
    assert_string_equal(get(run, "run_id")->valuestring, "etl-2");
    assert_string_equal(get(run, "workflow")->valuestring, "etl");
    assert_string_equal(get(run, "state")->valuestring, "succeeded");
    assert_string_equal(get(run, "logical_time")->valuestring, "2026-01-02T00:00:00+00:00");
    assert_true(get(run, "logical_ms")->valuedouble == (double)l2);
    assert_string_equal(get(run, "trigger")->valuestring, "schedule");
    assert_string_equal(get(get(run, "params"), "region")->valuestring, "cn");
    assert_true(get(run, "created_ms")->valuedouble == (double)(l2 + 5));
    assert_true(get(run, "started_ms")->valuedouble == (double)(l2 + 10));
    assert_true(get(run, "ended_ms")->valuedouble == (double)(l2 + 1000));
    const cJSON *tasks = get(run, "tasks");
    assert_int_equal(cJSON_GetArraySize(tasks), 3);
    static const char *const task_keys[] = {"state",    "attempt", "items",   "started_ms",
                                            "ended_ms", "reason",  "outputs", NULL};
    const cJSON *ex = get(tasks, "extract"), *load = get(tasks, "load"),
                *rep = get(tasks, "report");
    assert_keys(ex, task_keys);
    assert_keys(rep, task_keys);
    assert_string_equal(get(ex, "state")->valuestring, "succeeded");
    assert_true(cJSON_IsNull(get(ex, "reason")));
    assert_int_equal(get(load, "attempt")->valueint, 2);
    assert_int_equal(get(load, "items")->valueint, 2);
    assert_string_equal(get(load, "reason")->valuestring, "item 1: exit status 3");
    assert_true(cJSON_IsNull(get(rep, "started_ms")));
    assert_true(cJSON_IsNull(get(rep, "ended_ms")));
    assert_int_equal(cJSON_GetArraySize(get(rep, "outputs")), 0);
    char *o = cJSON_PrintUnformatted(get(ex, "outputs"));
    assert_string_equal(o, "{\"0\":{\"rows\":10},\"1\":[1,\"two\",null]}");
    free(o);
    assert_int_equal(get(get(load, "outputs"), "0")->valueint, 42);
    cJSON_Delete(run);

    /* Milliseconds in the logical time; an unknown run; a malformed id. */
    assert_int_equal(hist_wf_run_get(c.m, "etl-3", &run, &err), 0);
    assert_string_equal(get(run, "logical_time")->valuestring, "2026-01-03T00:00:00.250+00:00");
    assert_true(cJSON_IsNull(get(run, "ended_ms")));
    assert_int_equal(cJSON_GetArraySize(get(run, "tasks")), 0);
    cJSON_Delete(run);
    run = (cJSON *)1;
    assert_int_equal(hist_wf_run_get(c.m, "etl-9", &run, &err), -ENOENT);
    assert_null(run);
    assert_int_equal(hist_wf_run_get(c.m, "bad id", &run, &err), -EINVAL);
    assert_string_equal(err.field, "run_id");

    /* Lists: newest logical time first, no "tasks", limited. */
    cJSON *arr = NULL;
    assert_int_equal(hist_wf_runs_list(c.m, "etl", 0, &arr, &err), 0);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    static const char *const list_keys[] = {"run_id",     "workflow", "state",  "logical_time",
                                            "logical_ms", "trigger",  "params", "created_ms",
                                            "started_ms", "ended_ms", NULL};
    const char *order[] = {"etl-3", "etl-2", "etl-1"};
    for (int i = 0; i < 3; i++) {
        const cJSON *r = cJSON_GetArrayItem(arr, i);
        assert_keys(r, list_keys);
        assert_string_equal(get(r, "run_id")->valuestring, order[i]);
    }
    cJSON_Delete(arr);
    assert_int_equal(hist_wf_runs_list(c.m, "etl", 2, &arr, &err), 0);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_string_equal(get(cJSON_GetArrayItem(arr, 1), "run_id")->valuestring, "etl-2");
    cJSON_Delete(arr);
    assert_int_equal(hist_wf_runs_list(c.m, "nothing", 10, &arr, &err), 0);
    assert_int_equal(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
    assert_int_equal(hist_wf_runs_list(c.m, "etl", HIST_WF_LIST_MAX + 1, &arr, &err), -EINVAL);
    assert_string_equal(err.field, "limit");

    /* The driver's guard. */
    assert_int_equal(hist_wf_run_exists(c.m, "etl", l1, st, sizeof st), 1);
    assert_string_equal(st, "failed");
    assert_int_equal(hist_wf_run_exists(c.m, "etl", l3, NULL, 0), 1);
    assert_int_equal(hist_wf_run_exists(c.m, "etl", l1 + 1, st, sizeof st), 0);
    assert_int_equal(hist_wf_run_exists(c.m, "other", l2, st, sizeof st), 0);
    assert_int_equal(hist_wf_run_exists(c.m, "", l1, st, sizeof st), -EINVAL);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wf_migrate_from_v4),
        cmocka_unit_test(test_wf_seq_order),
        cmocka_unit_test(test_wf_xcom_64k),
        cmocka_unit_test(test_wf_bad_input),
        cmocka_unit_test(test_wf_json),
        cmocka_unit_test(test_wf_retention),
        cmocka_unit_test_teardown(test_wf_outage_spools_and_replays, restart_teardown),
    };
    if (getenv("IT_CASES"))
        cmocka_set_test_filter(getenv("IT_CASES"));
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
