/* tests/integration/test_history.c: the history store against a real MariaDB.
 *
 * Migrations (from empty, re-run, from each older version, downgrade refused,
 * equal to sql/schema.sql), 100,000 events through the writer, an outage of the
 * server while a producer keeps reporting (stops and restarts the shared
 * MariaDB, restarting it on every path), bad input, the console queries
 * including an execution's full story with retries, and the fence column.
 * Each test has its own scratch database. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sql/db.h"
#include "sql/hist.h"
#include "sql/hist_query.h"
#include "tests/lib/testdb.h"
#include "tests/lib/testenv.h"

/* ============================== helpers ============================== */

struct ctx {
    struct db_url url; /* points at the test's scratch database */
    MYSQL *m;
    char spool[512];
};

/* A fresh scratch database; migrate it when `migrate`. */
static void ctx_open(struct ctx *c, const char *name, bool migrate)
{
    struct sc_err err;
    char sql[256];
    memset(c, 0, sizeof *c);
    assert_int_equal(db_url_parse(tenv("SC_TEST_MYSQL"), &c->url, &err), 0);
    MYSQL *root = tdb_connect(&c->url);
    snprintf(c->url.db, sizeof c->url.db, "shardcron_h%d_%s", (int)getpid(), name);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", c->url.db);
    tdb_exec(root, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", c->url.db);
    tdb_exec(root, sql);
    mysql_close(root);
    c->m = tdb_connect(&c->url);
    if (migrate && hist_migrate(c->m, HIST_SCHEMA_VERSION, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    snprintf(c->spool, sizeof c->spool, "%s/spool-%s", tenv("SC_TEST_TMP"), name);
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
    uint64_t expect; /* events accepted */
};

static bool drained(void *arg)
{
    struct drain *d = arg;
    struct hist_writer_stats st;
    hist_writer_flush(d->w);
    hist_writer_stats(d->w, &st);
    return st.pending == 0 && st.spool_bytes == 0 && st.written + st.dropped >= d->expect;
}

static void wait_drained(struct hist_writer *w, uint64_t expect, int deadline_ms)
{
    struct drain d = {w, expect};
    struct hist_writer_stats st;
    bool ok = tenv_wait(drained, &d, deadline_ms, 20);
    hist_writer_stats(w, &st);
    if (!ok)
        fail_msg("writer did not drain: queued %llu written %llu spooled %llu pending %llu spool "
                 "%llu bytes dropped %llu",
                 (unsigned long long)st.queued, (unsigned long long)st.written,
                 (unsigned long long)st.spooled, (unsigned long long)st.pending,
                 (unsigned long long)st.spool_bytes, (unsigned long long)st.dropped);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.written, expect);
}

/* The three reports of execution n of a test run: queued, running, finished.
 * Final status: failed (exit 1) for every 7th, else succeeded (exit 0). */
static const int64_t T0 = 1767225600000LL; /* 2026-01-01 00:00:00 UTC */

static void report(struct hist_writer *w, const char *job, long n, int which)
{
    char id[64];
    snprintf(id, sizeof id, "%s-%08ld", job, n);
    bool fail = n % 7 == 0;
    struct hist_event ev = {
        .execution_id = id,
        .job = job,
        .item = (int)(n % 16),
        .fire_ms = T0 + (n / 16) * 1000,
        .trigger = HIST_TRIG_CRON,
        .attempt = 1,
        .agent = n % 2 ? "agent-a" : "agent-b",
        .host = "host-1",
        .queued_ms = T0 + (n / 16) * 1000 + 1,
    };
    ev.status = which == 0   ? HIST_QUEUED
                : which == 1 ? HIST_RUNNING
                : fail       ? HIST_FAILED
                             : HIST_SUCCEEDED;
    if (which >= 1)
        ev.started_ms = ev.queued_ms + 2;
    if (which >= 2) {
        ev.finished_ms = ev.started_ms + 100 + n % 50;
        ev.has_exit_code = true;
        ev.exit_code = fail ? 1 : 0;
        ev.output = "done\n";
        ev.output_len = 5;
        ev.error = fail ? "exit status 1" : NULL;
    }
    ev.message = which == 0 ? "queued" : which == 1 ? "started" : "finished";
    assert_int_equal(hist_writer_submit(w, &ev), 0);
}

/* Every one of n executions present once, in its final state, with its trace. */
static void check_final(MYSQL *m, const char *job, long n)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM job_execution WHERE job = '%s'", job);
    assert_int_equal(tdb_int(m, sql), n);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_execution WHERE job = '%s' AND finished_at IS NOT NULL"
             " AND started_at IS NOT NULL AND queued_at IS NOT NULL AND ((exit_code = 1 AND"
             " status = 'failed' AND CAST(SUBSTRING_INDEX(execution_id, '-', -1) AS UNSIGNED) %% 7"
             " = 0) OR (exit_code = 0 AND status = 'succeeded' AND"
             " CAST(SUBSTRING_INDEX(execution_id, '-', -1) AS UNSIGNED) %% 7 <> 0))",
             job);
    assert_int_equal(tdb_int(m, sql), n);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(DISTINCT CAST(SUBSTRING_INDEX(execution_id, '-', -1) AS UNSIGNED))"
             " FROM job_execution WHERE job = '%s' AND CAST(SUBSTRING_INDEX(execution_id, '-',"
             " -1) AS UNSIGNED) < %ld",
             job, n);
    assert_int_equal(tdb_int(m, sql), n);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM job_status_trace t JOIN job_execution e USING (execution_id)"
             " WHERE e.job = '%s'",
             job);
    assert_int_equal(tdb_int(m, sql), 3 * n);
}

/* ============================== migrations ============================== */

static char *show_create(MYSQL *m, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SHOW CREATE TABLE %s", table);
    tdb_exec(m, sql);
    MYSQL_RES *r = mysql_store_result(m);
    assert_non_null(r);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_non_null(row);
    char *s = strdup(row[1]);
    mysql_free_result(r);
    /* AUTO_INCREMENT=N differs with history, not with schema. */
    char *a = strstr(s, " AUTO_INCREMENT=");
    if (a) {
        char *e = a + 16;
        while (*e >= '0' && *e <= '9')
            e++;
        memmove(a, e, strlen(e) + 1);
    }
    return s;
}

static const char *const tables[] = {
    "schema_version", "job_execution", "job_status_trace", "job_daily_stats", "alert_event",
    "audit_log",      "app_user",      "workflow_run",     "task_instance",   "task_xcom",
    "alert_outbox",   "alert_ack",     "alert_key"};

static void assert_same_schema(MYSQL *a, MYSQL *b)
{
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char *x = show_create(a, tables[i]), *y = show_create(b, tables[i]);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
}

static void test_migrations(void **state)
{
    (void)state;
    struct ctx fresh, ref;
    struct sc_err err;
    int from = -1, to = -1;

    /* The reference: sql/schema.sql as scripts/mysql applies it, twice. */
    ctx_open(&ref, "mref", false);
    assert_int_equal(db_exec_script(ref.m, hist_schema_sql(), &err), 0);
    assert_int_equal(db_exec_script(ref.m, hist_schema_sql(), &err), 0);
    assert_int_equal(hist_schema_version(ref.m, &err), HIST_SCHEMA_VERSION);
    /* ...after which migrate is a no-op. */
    assert_int_equal(hist_migrate(ref.m, HIST_SCHEMA_VERSION, &from, &to, &err), 0);
    assert_int_equal(from, HIST_SCHEMA_VERSION);
    assert_int_equal(to, HIST_SCHEMA_VERSION);

    /* From empty. */
    ctx_open(&fresh, "mfresh", false);
    assert_int_equal(hist_schema_version(fresh.m, &err), 0);
    assert_int_equal(hist_migrate(fresh.m, HIST_SCHEMA_VERSION, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, HIST_SCHEMA_VERSION);
    assert_same_schema(fresh.m, ref.m);
    /* Re-run. */
    assert_int_equal(hist_migrate(fresh.m, HIST_SCHEMA_VERSION, &from, &to, &err), 0);
    assert_int_equal(from, HIST_SCHEMA_VERSION);
    assert_int_equal(to, HIST_SCHEMA_VERSION);
    assert_int_equal(tdb_int(fresh.m, "SELECT COUNT(*) FROM schema_version"), HIST_SCHEMA_VERSION);
    ctx_close(&fresh);

    /* From each older version, with a row written at that version surviving. */
    for (int v = 1; v < HIST_SCHEMA_VERSION; v++) {
        char name[32];
        snprintf(name, sizeof name, "mfrom%d", v);
        ctx_open(&fresh, name, false);
        assert_int_equal(hist_migrate(fresh.m, v, &from, &to, &err), 0);
        assert_int_equal(to, v);
        tdb_exec(fresh.m, "INSERT INTO job_execution (execution_id, job, item, fire_time,"
                          " trigger_type, status) VALUES ('old-1', 'old', 0, '2026-01-01 00:00:00',"
                          " 'cron', 'succeeded')");
        assert_int_equal(hist_migrate(fresh.m, HIST_SCHEMA_VERSION, &from, &to, &err), 0);
        assert_int_equal(from, v);
        assert_int_equal(to, HIST_SCHEMA_VERSION);
        assert_same_schema(fresh.m, ref.m);
        assert_int_equal(
            tdb_int(fresh.m, "SELECT COUNT(*) FROM job_execution WHERE execution_id = 'old-1'"), 1);
        ctx_close(&fresh);
    }

    /* A database newer than the binary: refused, untouched. */
    tdb_exec(ref.m, "INSERT INTO schema_version (version) VALUES (99)");
    sc_err_clear(&err);
    assert_int_equal(hist_migrate(ref.m, HIST_SCHEMA_VERSION, &from, &to, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "newer than this binary"));
    assert_int_equal(from, 99);
    assert_int_equal(hist_schema_version(ref.m, &err), 99);
    ctx_close(&ref);
}

/* ============================== pipeline ============================== */

static void test_pipeline_100k(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "p100k", true);
    struct hist_writer *w = writer_open(&c, 500);
    enum { EXECS = 33334 }; /* x 3 reports = 100,002 events */
    /* Reports of neighbouring executions interleave as they would at a peak; every
     * 10th execution's "running" arrives after its "finished" (a late report). */
    for (long n = 0; n < EXECS; n++) {
        report(w, "bulk", n, 0);
        if (n % 10 == 0) {
            report(w, "bulk", n, 2);
            report(w, "bulk", n, 1);
        } else {
            report(w, "bulk", n, 1);
            report(w, "bulk", n, 2);
        }
    }
    /* Replays of already-final executions change nothing. */
    for (long n = 0; n < 1000; n++)
        report(w, "bulk", n, n % 2);
    wait_drained(w, 3 * EXECS + 1000, 120000);
    hist_writer_close(w, 5000);
    check_final(c.m, "bulk", EXECS);
    ctx_close(&c);
}

/* Every report of every execution in a random global order, plus duplicates: the
 * coalescing in the writer and the ON DUPLICATE KEY UPDATE rules must land each
 * row in the same final state whatever the order. */
static void test_shuffled_reports(void **state)
{
    (void)state;
    enum { EXECS = 3000, DUPS = 1500 };
    struct ctx c;
    ctx_open(&c, "shuffle", true);
    struct hist_writer *w = writer_open(&c, 100);
    size_t total = EXECS * 3 + DUPS;
    long *order = malloc(total * sizeof *order);
    assert_non_null(order);
    for (size_t i = 0; i < EXECS * 3; i++)
        order[i] = (long)i;
    unsigned seed = (unsigned)getpid();
    printf("seed %u\n", seed);
    srand(seed);
    for (size_t i = EXECS * 3; i < total; i++)
        order[i] = rand() % (EXECS * 3);
    for (size_t i = total - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1);
        long t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < total; i++)
        report(w, "shuffle", order[i] / 3, (int)(order[i] % 3));
    free(order);
    wait_drained(w, total, 60000);
    hist_writer_close(w, 5000);
    check_final(c.m, "shuffle", EXECS);
    ctx_close(&c);
}

/* MySQL unreachable from the start and a tiny spool: submit never blocks, the
 * spool keeps the newest reports and counts what it dropped, raises the alert
 * flag; a writer opened later on the same spool replays exactly what was kept. */
static bool all_spooled(void *arg)
{
    struct hist_writer_stats st;
    hist_writer_flush(arg);
    hist_writer_stats(arg, &st);
    return st.pending == 0;
}

static void test_spool_limit_keeps_newest(void **state)
{
    (void)state;
    enum { EXECS = 3000 };
    struct ctx c;
    struct hist_writer *w;
    struct hist_writer_stats st;
    struct sc_err err;
    ctx_open(&c, "spoolcap", true);
    struct db_url nowhere = c.url;
    nowhere.port = 1; /* nothing listens there */
    struct hist_writer_opts o = {.url = &nowhere,
                                 .password = tenv_password(),
                                 .spool_path = c.spool,
                                 .spool_max_bytes = 128 * 1024,
                                 .batch_size = 100,
                                 .flush_ms = 5,
                                 .io_timeout_s = 2};
    assert_int_equal(hist_writer_open(&o, &w, &err), 0);
    long long worst = 0;
    for (long n = 0; n < EXECS; n++)
        for (int which = 0; which < 3; which++) {
            long long t0 = tenv_now_ms();
            report(w, "capped", n, which);
            long long d = tenv_now_ms() - t0;
            worst = d > worst ? d : worst;
        }
    assert_true(tenv_wait(all_spooled, w, 30000, 10));
    hist_writer_stats(w, &st);
    printf("spool cap: %llu spooled, %llu dropped, %llu bytes kept, worst submit %lld ms\n",
           (unsigned long long)st.spooled, (unsigned long long)st.dropped,
           (unsigned long long)st.spool_bytes, worst);
    assert_false(st.connected);
    assert_true(st.spool_full);
    assert_true(st.dropped > 0);
    assert_true(st.spool_bytes <= 128 * 1024);
    assert_int_equal(st.queued, EXECS * 3);
    uint64_t kept = st.queued - st.dropped;
    hist_writer_close(w, 100);

    /* The real server now: everything kept is replayed, nothing else appears. */
    o.url = &c.url;
    assert_int_equal(hist_writer_open(&o, &w, &err), 0);
    struct drain d = {w, kept};
    assert_true(tenv_wait(drained, &d, 60000, 20));
    hist_writer_stats(w, &st);
    assert_int_equal(st.written, kept);
    assert_int_equal(st.replayed, kept);
    hist_writer_close(w, 5000);
    /* The newest were kept: the last execution is complete and final, and what is
     * present is a contiguous newest range (reports were appended in order). */
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM job_execution WHERE execution_id ="
                                  " 'capped-00002999' AND status = 'succeeded'"),
                     1);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM job_status_trace"), kept);
    assert_int_equal(tdb_int(c.m, "SELECT MAX(CAST(SUBSTRING_INDEX(execution_id, '-', -1) AS"
                                  " UNSIGNED)) - MIN(CAST(SUBSTRING_INDEX(execution_id, '-', -1) AS"
                                  " UNSIGNED)) + 1 - COUNT(*) FROM job_execution"),
                     0);
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

struct producer {
    struct hist_writer *w;
    atomic_bool stop;
    atomic_long made; /* executions fully reported */
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    long n = 0;
    while (!atomic_load(&p->stop)) {
        /* 10 executions (30 reports) per ~10 ms: a steady stream, paced. */
        for (int k = 0; k < 10; k++, n++)
            for (int which = 0; which < 3; which++)
                report(p->w, "outage", n, which);
        atomic_store(&p->made, n);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static bool spooling(void *arg)
{
    struct hist_writer_stats st;
    hist_writer_stats(arg, &st);
    return !st.connected && st.spooled > 0 && st.spool_bytes > 0;
}

static bool reconnected(void *arg)
{
    struct hist_writer_stats st;
    hist_writer_stats(arg, &st);
    return st.connected && st.replayed > 0;
}

static bool producer_past(void *arg)
{
    struct producer *p = ((void **)arg)[0];
    long target = *(long *)((void **)arg)[1];
    return atomic_load(&p->made) >= target;
}

static void test_outage_spools_and_replays(void **state)
{
    (void)state;
    struct ctx c;
    struct hist_writer_stats st;
    ctx_open(&c, "outage", true);
    mysql_close(c.m); /* reopened after the restart */
    c.m = NULL;
    struct hist_writer *w = writer_open(&c, 500);
    struct producer p = {.w = w};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
    long target = 2000; /* some history lands before the outage */
    void *args[2] = {&p, &target};
    assert_true(tenv_wait(producer_past, args, 30000, 20));

    atomic_store(&mysql_down, true);
    mysql_ctl("stop");
    assert_true(tenv_wait(spooling, w, 30000, 20));
    /* Down for a while, the producer never waiting on it: ~10 s of reports. */
    long before = atomic_load(&p.made);
    target = before + 10000;
    assert_true(tenv_wait(producer_past, args, 60000, 50));
    mysql_ctl("start");
    atomic_store(&mysql_down, false);
    assert_true(tenv_wait(reconnected, w, 30000, 20));
    /* Keep producing a little while the spool drains. */
    target = atomic_load(&p.made) + 5000;
    assert_true(tenv_wait(producer_past, args, 60000, 50));
    atomic_store(&p.stop, true);
    pthread_join(th, NULL);
    long made = atomic_load(&p.made);
    hist_writer_stats(w, &st);
    printf("outage: %ld executions, %llu events spooled, %llu replayed\n", made,
           (unsigned long long)st.spooled, (unsigned long long)st.replayed);
    assert_true(st.spooled > 0);
    wait_drained(w, (uint64_t)made * 3, 120000);
    hist_writer_close(w, 5000);
    c.m = tdb_connect(&c.url);
    check_final(c.m, "outage", made);
    ctx_close(&c);
}

/* ============================== bad input ============================== */

static void test_bad_input(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    ctx_open(&c, "bad", true);
    struct hist_writer *w = writer_open(&c, 100);
    static unsigned char out[10000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (unsigned char)(i * 7); /* every byte value, NULs and invalid UTF-8 */
    char job[HIST_JOB_MAX * 4 + 2];
    for (int i = 0; i < HIST_JOB_MAX; i++) /* maximum length, 4-byte characters */
        memcpy(job + 4 * i, "\xF0\x9F\x98\x80", 4);
    job[4 * HIST_JOB_MAX] = '\0';
    static char bigerr[5000];
    memset(bigerr, 'E', sizeof bigerr - 1);
    bigerr[10] = (char)0xFF; /* invalid UTF-8 in text */
    struct hist_event ev = {
        .execution_id = "bad-1",
        .job = job,
        .item = 3,
        .fire_ms = T0,
        .trigger = HIST_TRIG_MANUAL,
        .attempt = 1,
        .agent = "ag\xC3\x28",
        .host = "h",
        .status = HIST_FAILED,
        .has_exit_code = true,
        .exit_code = 2,
        .signal = 9,
        .queued_ms = T0,
        .started_ms = T0 + 1,
        .finished_ms = T0 + 2,
        .output = out,
        .output_len = sizeof out,
        .error = bigerr,
        .message = "\xE0\x80\x80 overlong",
    };
    assert_int_equal(hist_writer_submit(w, &ev), 0);
    /* Too long a job name is refused, not cut; the rest keeps flowing. */
    strcat(job, "x");
    ev.execution_id = "bad-2";
    assert_int_equal(hist_writer_submit(w, &ev), -EINVAL);
    job[4 * HIST_JOB_MAX] = '\0';
    ev.execution_id = "bad id with spaces";
    assert_int_equal(hist_writer_submit(w, &ev), -EINVAL);
    wait_drained(w, 1, 30000);
    struct hist_writer_stats st;
    hist_writer_stats(w, &st);
    assert_int_equal(st.rejected, 2);
    hist_writer_close(w, 5000);

    struct hist_story s;
    assert_int_equal(hist_story_get(c.m, "bad-1", &s, &err), 0);
    assert_string_equal(s.row.job, job);
    assert_int_equal(s.row.output_len, HIST_OUTPUT_MAX);
    assert_memory_equal(s.row.output, out + sizeof out - HIST_OUTPUT_MAX, HIST_OUTPUT_MAX);
    assert_int_equal(strlen(s.row.error), HIST_ERROR_MAX + 2); /* U+FFFD is 3 bytes */
    assert_memory_equal(s.row.error + 10, "\xEF\xBF\xBD", 3);
    assert_string_equal(s.row.agent, "ag\xEF\xBF\xBD(");
    assert_int_equal(s.row.signal, 9);
    assert_true(s.row.has_exit_code);
    assert_int_equal(s.row.exit_code, 2);
    assert_int_equal(s.ntrace, 1);
    assert_string_equal(s.trace[0].message, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD overlong");
    hist_story_free(&s);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM job_execution"), 1);
    ctx_close(&c);
}

/* ============================== queries ============================== */

static void ev_base(struct hist_event *e, const char *id, const char *job, int item, int64_t fire,
                    int trig, int attempt, int status)
{
    memset(e, 0, sizeof *e);
    e->execution_id = id;
    e->job = job;
    e->item = item;
    e->fire_ms = fire;
    e->trigger = trig;
    e->attempt = attempt;
    e->agent = "agent-q";
    e->host = "host-q";
    e->status = status;
    e->queued_ms = fire + 5;
    if (status >= HIST_RUNNING)
        e->started_ms = fire + 10;
    if (status >= HIST_SUCCEEDED) {
        e->finished_ms = fire + 1010;
        e->has_exit_code = true;
        e->exit_code = status == HIST_SUCCEEDED ? 0 : 3;
    }
}

static void test_story_and_queries(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    struct hist_event e;
    ctx_open(&c, "query", true);
    struct hist_writer *w = writer_open(&c, 50);
    uint64_t sent = 0;
    int64_t fire = T0 + 3600000;

    /* Attempt 1 fails; a retry succeeds. Reports arrive out of order and twice. */
    ev_base(&e, "st-1", "story", 2, fire, HIST_TRIG_CRON, 1, HIST_FAILED);
    e.error = "exit status 3";
    e.message = "exited 3";
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    ev_base(&e, "st-1", "story", 2, fire, HIST_TRIG_CRON, 1, HIST_QUEUED);
    e.message = "queued on agent-q";
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    ev_base(&e, "st-1", "story", 2, fire, HIST_TRIG_CRON, 1, HIST_RUNNING);
    e.message = "started pid 42";
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++; /* duplicate */
    ev_base(&e, "st-2", "story", 2, fire, HIST_TRIG_RETRY, 2, HIST_QUEUED);
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    ev_base(&e, "st-2", "story", 2, fire, HIST_TRIG_RETRY, 2, HIST_RUNNING);
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    ev_base(&e, "st-2", "story", 2, fire, HIST_TRIG_RETRY, 2, HIST_SUCCEEDED);
    e.output = "ok\n";
    e.output_len = 3;
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    /* A duplicate report under another execution id for the same fire and attempt
     * cannot create a second row. */
    ev_base(&e, "st-2-dup", "story", 2, fire, HIST_TRIG_RETRY, 2, HIST_RUNNING);
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;

    /* 120 executions of job "pager", one per minute, every 4th failed, two agents;
     * plus a missed and a timeout for the alert inputs. */
    char ids[130][32];
    for (int i = 0; i < 120; i++) {
        snprintf(ids[i], sizeof ids[i], "pg-%03d", i);
        ev_base(&e, ids[i], "pager", i % 3, T0 + i * 60000LL, HIST_TRIG_CRON, 1,
                i % 4 == 0 ? HIST_FAILED : HIST_SUCCEEDED);
        e.agent = i % 2 ? "agent-odd" : "agent-even";
        assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    }
    ev_base(&e, "al-missed", "alerts", 0, fire, HIST_TRIG_CRON, 1, HIST_MISSED);
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    ev_base(&e, "al-timeout", "alerts", 1, fire, HIST_TRIG_CRON, 1, HIST_TIMEOUT);
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    /* An old execution for retention. */
    ev_base(&e, "old-1", "pager", 0, T0 - 40LL * 86400000, HIST_TRIG_CRON, 1, HIST_SUCCEEDED);
    assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
    wait_drained(w, sent, 30000);
    hist_writer_close(w, 5000);

    /* The story. */
    struct hist_story s;
    assert_int_equal(hist_story_get(c.m, "st-1", &s, &err), 0);
    assert_string_equal(s.row.status, "failed");
    assert_string_equal(s.row.error, "exit status 3");
    assert_int_equal(s.row.queued_ms, fire + 5);
    assert_int_equal(s.row.started_ms, fire + 10);
    assert_int_equal(s.row.finished_ms, fire + 1010);
    assert_int_equal(s.row.exit_code, 3);
    assert_int_equal(s.ntrace, 3);
    assert_string_equal(s.trace[0].state, "queued");
    assert_string_equal(s.trace[0].message, "queued on agent-q");
    assert_int_equal(s.trace[0].at_ms, fire + 5);
    assert_string_equal(s.trace[1].state, "running");
    assert_string_equal(s.trace[1].message, "started pid 42");
    assert_string_equal(s.trace[2].state, "failed");
    assert_int_equal(s.trace[2].at_ms, fire + 1010);
    assert_int_equal(s.attempts.n, 2);
    assert_string_equal(s.attempts.rows[0].execution_id, "st-1");
    assert_string_equal(s.attempts.rows[1].execution_id, "st-2");
    assert_string_equal(s.attempts.rows[1].status, "succeeded");
    assert_string_equal(s.attempts.rows[1].trigger, "retry");
    hist_story_free(&s);
    assert_int_equal(hist_story_get(c.m, "st-2", &s, &err), 0);
    assert_int_equal(s.row.output_len, 3);
    assert_memory_equal(s.row.output, "ok\n", 3);
    assert_int_equal(s.ntrace, 3);
    hist_story_free(&s);
    assert_int_equal(hist_story_get(c.m, "nope", &s, &err), -ENOENT);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM job_execution WHERE job = 'story'"), 2);

    /* Keyset pages over "pager": 50 + 50 + 20, newest first, no repeats. */
    struct hist_filter f = {.job = "pager", .item = -1, .limit = 50, .from_ms = T0};
    struct hist_page pg;
    char cursor[HIST_CURSOR_LEN] = "";
    int seen = 0, sizes[3] = {50, 50, 20};
    for (int page = 0; page < 3; page++) {
        f.cursor = cursor;
        assert_int_equal(hist_query_executions(c.m, &f, &pg, &err), 0);
        assert_int_equal(pg.n, sizes[page]);
        for (size_t i = 0; i < pg.n; i++, seen++)
            assert_string_equal(pg.rows[i].execution_id, ids[119 - seen]);
        assert_int_equal(pg.next_cursor[0] != '\0', page < 2);
        snprintf(cursor, sizeof cursor, "%s", pg.next_cursor);
        hist_page_free(&pg);
    }
    assert_int_equal(seen, 120);
    /* Filters: status, agent, item and time range together. */
    f = (struct hist_filter){.job = "pager",
                             .item = 0,
                             .status_mask = 1u << HIST_FAILED,
                             .agent = "agent-even",
                             .from_ms = T0,
                             .to_ms = T0 + 60 * 60000LL};
    assert_int_equal(hist_query_executions(c.m, &f, &pg, &err), 0);
    /* i in [0,60), i%3==0, i%4==0, even: i = 0,12,24,36,48 */
    assert_int_equal(pg.n, 5);
    assert_string_equal(pg.rows[0].execution_id, "pg-048");
    assert_string_equal(pg.rows[4].execution_id, "pg-000");
    hist_page_free(&pg);
    /* A forged cursor is refused, naming the field. */
    f.cursor = "0000000000000001000000000000000100000000";
    assert_int_equal(hist_query_executions(c.m, &f, &pg, &err), -EINVAL);
    assert_string_equal(err.field, "cursor");
    f.cursor = "x' OR 1=1 --";
    assert_int_equal(hist_query_executions(c.m, &f, &pg, &err), -EINVAL);
    /* User input is only ever a parameter. */
    f = (struct hist_filter){.job = "pager' OR '1'='1", .item = -1};
    assert_int_equal(hist_query_executions(c.m, &f, &pg, &err), 0);
    assert_int_equal(pg.n, 0);
    hist_page_free(&pg);

    /* Open alert conditions: the newest uncleared failure of each pager item
     * (items 0 and 1: i % 3 == 0 lands on both), st-1, the missed and the timeout. */
    bool trunc;
    assert_int_equal(hist_alert_open(c.m, T0, 10, 500, &pg, &trunc, &err), 0);
    size_t pager = 0;
    for (size_t i = 0; i < pg.n; i++)
        pager += strcmp(pg.rows[i].job, "pager") == 0;
    assert_true(pager <= 2 && !trunc);
    hist_page_free(&pg);

    /* Latest per job. */
    assert_int_equal(hist_latest_per_job(c.m, NULL, &pg, &err), 0);
    assert_int_equal(pg.n, 2 + 1 + 2); /* alerts: 2 items; pager: 1; story: 2 attempts */
    assert_string_equal(pg.rows[0].job, "alerts");
    assert_string_equal(pg.rows[2].execution_id, "pg-119");
    hist_page_free(&pg);
    assert_int_equal(hist_latest_per_job(c.m, "pager", &pg, &err), 0);
    assert_int_equal(pg.n, 1);
    assert_string_equal(pg.rows[0].execution_id, "pg-119");
    hist_page_free(&pg);

    /* Daily stats rollup. */
    assert_int_equal(hist_stats_rollup(c.m, T0 + 1000, &err), 0);
    assert_int_equal(hist_stats_rollup(c.m, T0 + 1000, &err), 0); /* idempotent */
    struct hist_daily *d;
    size_t nd;
    assert_int_equal(hist_daily_stats(c.m, "pager", T0, T0 + 86400000 - 1, &d, &nd, &err), 0);
    assert_int_equal(nd, 1);
    assert_int_equal(d[0].total, 120);
    assert_int_equal(d[0].by_status[HIST_FAILED], 30);
    assert_int_equal(d[0].by_status[HIST_SUCCEEDED], 90);
    assert_int_equal(d[0].p50_ms, 1000);
    assert_int_equal(d[0].p95_ms, 1000);
    assert_int_equal(d[0].day_ms, T0);
    free(d);
    assert_int_equal(hist_daily_stats(c.m, NULL, T0, T0, &d, &nd, &err), 0);
    assert_int_equal(nd, 3);
    free(d);

    /* Retention: 30 days before T0 + 1 day removes only the old execution. */
    uint64_t deleted = 0;
    assert_int_equal(hist_retention_run(c.m, 30, T0 + 86400000, 1, 1000, &deleted, &err), 0);
    assert_int_equal(deleted, 2); /* the execution and its trace row */
    assert_int_equal(
        tdb_int(c.m, "SELECT COUNT(*) FROM job_execution WHERE execution_id = 'old-1'"), 0);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM job_execution"), 2 + 120 + 2);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM job_daily_stats"), 3);
    ctx_close(&c);
}

/* ============================== alert panels ============================== */

static int open_rows_of(const struct hist_page *pg, const char *job, const char *status)
{
    int n = 0;
    for (size_t i = 0; i < pg->n; i++)
        n += strcmp(pg->rows[i].job, job) == 0 && strcmp(pg->rows[i].status, status) == 0;
    return n;
}

/* The rows behind each complaint about panels 1 and 2: a failure cleared by a
 * later success, or by a successful retry of the same fire, is not open; one job
 * with 600 failing items adds at most per_job rows (with the real count) and
 * hides nobody; a timeout of item 0 is there as item 0 with its run times. */
static void test_alert_open(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    struct hist_page pg;
    bool trunc;
    ctx_open(&c, "alertopen", true);
    const char *cols = "INSERT INTO job_execution (execution_id, job, item, fire_time,"
                       " trigger_type, attempt, status, started_at, finished_at) VALUES ";
    char sql[2048];
    /* noisy: 600 items failed at 00:01:00, item k at k ms after. */
    snprintf(sql, sizeof sql,
             "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type,"
             " attempt, status) SELECT CONCAT('noisy-', seq), 'noisy', seq,"
             " TIMESTAMPADD(MICROSECOND, seq * 1000, '2026-01-01 00:01:00'), 'cron', 1, 'failed'"
             " FROM seq_0_to_599");
    tdb_exec(c.m, sql);
    snprintf(sql, sizeof sql,
             "%s ('h-0a', 'healed', 0, '2026-01-01 00:00:10', 'cron', 1, 'failed', NULL, NULL),"
             " ('h-0b', 'healed', 0, '2026-01-01 00:00:20', 'cron', 1, 'succeeded', NULL, NULL),"
             " ('h-1a', 'healed', 1, '2026-01-01 00:00:10', 'cron', 1, 'failed', NULL, NULL),"
             " ('h-1b', 'healed', 1, '2026-01-01 00:00:10', 'retry', 2, 'succeeded', NULL, NULL),"
             " ('h-2a', 'healed', 2, '2026-01-01 00:00:30', 'cron', 1, 'failed', NULL, NULL),"
             " ('h-2b', 'healed', 2, '2026-01-01 00:00:20', 'cron', 1, 'succeeded', NULL, NULL),"
             " ('q-0', 'quiet', 0, '2026-01-01 00:00:05', 'cron', 1, 'failed', NULL, NULL),"
             " ('old-0', 'quiet', 1, '2025-12-31 23:00:00', 'cron', 1, 'failed', NULL, NULL),"
             " ('m-3', 'gone', 3, '2026-01-01 00:00:40', 'cron', 1, 'missed', NULL, NULL),"
             " ('s-0a', 'slow', 0, '2026-01-01 00:00:00', 'cron', 1, 'timeout',"
             "   '2026-01-01 00:00:01', '2026-01-01 00:10:01'),"
             " ('s-0b', 'slow', 0, '2026-01-01 00:20:00', 'cron', 1, 'timeout',"
             "   '2026-01-01 00:20:00', '2026-01-01 00:30:00')",
             cols);
    tdb_exec(c.m, sql);

    assert_int_equal(hist_alert_open(c.m, T0, 10, 500, &pg, &trunc, &err), 0);
    assert_false(trunc);
    /* noisy: 10 rows, the newest items, each knowing 600 are open. */
    assert_int_equal(open_rows_of(&pg, "noisy", "failed"), 10);
    for (size_t i = 0; i < pg.n; i++)
        if (strcmp(pg.rows[i].job, "noisy") == 0) {
            assert_int_equal(pg.rows[i].open_n, 600);
            assert_true(pg.rows[i].item >= 590);
        }
    /* healed: items 0 and 1 cleared; item 2 failed after its success: open. */
    assert_int_equal(open_rows_of(&pg, "healed", "failed"), 1);
    for (size_t i = 0; i < pg.n; i++)
        if (strcmp(pg.rows[i].job, "healed") == 0)
            assert_string_equal(pg.rows[i].execution_id, "h-2a");
    /* quiet is not crowded out; its failure from before the window is not shown. */
    assert_int_equal(open_rows_of(&pg, "quiet", "failed"), 1);
    assert_int_equal(open_rows_of(&pg, "gone", "missed"), 1);
    /* slow: item 0, one row (the newest of its two timeouts), with its run times. */
    assert_int_equal(open_rows_of(&pg, "slow", "timeout"), 1);
    for (size_t i = 0; i < pg.n; i++)
        if (strcmp(pg.rows[i].job, "slow") == 0) {
            assert_string_equal(pg.rows[i].execution_id, "s-0b");
            assert_int_equal(pg.rows[i].item, 0);
            assert_int_equal(pg.rows[i].open_n, 1);
            assert_int_equal(pg.rows[i].finished_ms - pg.rows[i].started_ms, 600000);
        }
    assert_int_equal(pg.n, 10 + 1 + 1 + 1 + 1);
    /* Newest first. */
    for (size_t i = 1; i < pg.n; i++)
        assert_true(pg.rows[i - 1].fire_ms >= pg.rows[i].fire_ms);
    hist_page_free(&pg);

    /* The overall cap says so. */
    assert_int_equal(hist_alert_open(c.m, T0, 10, 5, &pg, &trunc, &err), 0);
    assert_int_equal(pg.n, 5);
    assert_true(trunc);
    hist_page_free(&pg);
    ctx_close(&c);
}

/* ============================== missed vs run ============================== */

/* A 'missed' or 'skipped' report says only that its reporter did not run the
 * fire; another agent's report that it started the same fire (same job, item,
 * fire time, attempt, trigger) must win whatever the order, and take over the
 * row's execution id and error. Everything else keeps the old ranking: a row
 * never moves back from a terminal status, the first terminal status wins. */
struct step {
    const char *id;
    int status;
    const char *agent;
};

struct scenario {
    struct step steps[3];
    const char *want_status, *want_id, *want_error, *want_agent;
};

#define WINDOW_MISS "failover window: no owner ran this fire"

static const struct scenario missed_cases[] = {
    {{{"m1", HIST_MISSED, "b"}, {"x1", HIST_RUNNING, "a"}, {"x1", HIST_SUCCEEDED, "a"}},
     "succeeded",
     "x1",
     NULL,
     "a"},
    {{{"x2", HIST_RUNNING, "a"}, {"x2", HIST_SUCCEEDED, "a"}, {"m2", HIST_MISSED, "b"}},
     "succeeded",
     "x2",
     NULL,
     "a"},
    {{{"x3", HIST_RUNNING, "a"}, {"m3", HIST_MISSED, "b"}}, "running", "x3", NULL, "a"},
    {{{"m4", HIST_MISSED, "b"}}, "missed", "m4", WINDOW_MISS, "b"},
    {{{"x5", HIST_QUEUED, "a"}, {"m5", HIST_MISSED, "b"}}, "missed", NULL, WINDOW_MISS, "b"},
    {{{"m6", HIST_MISSED, "b"}, {"x6", HIST_FAILED, "a"}}, "failed", "x6", "exit status 1", "a"},
    {{{"x7", HIST_SUCCEEDED, "a"}, {"y7", HIST_SUCCEEDED, "b"}}, "succeeded", "x7", NULL, "a"},
    {{{"m8", HIST_MISSED, "b"}, {"n8", HIST_MISSED, "c"}}, "missed", "m8", WINDOW_MISS, "b"},
    /* a stale agent's forbid-skip of a fire another agent ran */
    {{{"k9", HIST_SKIPPED, "b"}, {"x9", HIST_RUNNING, "a"}, {"x9", HIST_SUCCEEDED, "a"}},
     "succeeded",
     "x9",
     NULL,
     "a"},
    {{{"x10", HIST_SUCCEEDED, "a"}, {"k10", HIST_SKIPPED, "b"}}, "succeeded", "x10", NULL, "a"},
};

static void missed_event(struct hist_event *e, const char *job, int item, const struct step *st)
{
    ev_base(e, st->id, job, item, T0, HIST_TRIG_CRON, 1, st->status);
    e->agent = st->agent;
    if (st->status == HIST_MISSED || st->status == HIST_SKIPPED) {
        e->queued_ms = e->started_ms = e->finished_ms = 0;
        e->has_exit_code = false;
        e->error = e->message = WINDOW_MISS;
    } else if (st->status == HIST_FAILED) {
        e->exit_code = 1;
        e->error = "exit status 1";
    }
}

static void test_missed_gives_way_to_a_run(void **state)
{
    (void)state;
    struct ctx c;
    struct hist_event e;
    char sql[512], job[16], id[32];
    ctx_open(&c, "missed", true);
    struct hist_writer *w = writer_open(&c, 50);
    uint64_t sent = 0;
    size_t n = sizeof missed_cases / sizeof missed_cases[0];
    /* Job "together": every report in one batch (one transaction, colliding rows
     * in one statement); job "apart": each report written before the next. */
    for (int mode = 0; mode < 2; mode++) {
        snprintf(job, sizeof job, "%s", mode ? "apart" : "together");
        for (int step = 0; step < 3; step++)
            for (size_t i = 0; i < n; i++) {
                const struct step *st = &missed_cases[i].steps[step];
                if (!st->id)
                    continue;
                snprintf(id, sizeof id, "%s-%s", job, st->id);
                struct step named = {id, st->status, st->agent};
                missed_event(&e, job, (int)i, &named);
                assert_int_equal(hist_writer_submit(w, &e), 0), sent++;
                if (mode)
                    wait_drained(w, sent, 30000);
            }
        wait_drained(w, sent, 30000);
    }
    hist_writer_close(w, 5000);
    for (int mode = 0; mode < 2; mode++) {
        snprintf(job, sizeof job, "%s", mode ? "apart" : "together");
        for (size_t i = 0; i < n; i++) {
            const struct scenario *sc = &missed_cases[i];
            snprintf(sql, sizeof sql,
                     "SELECT COUNT(*) FROM job_execution WHERE job = '%s' AND item = %zu", job, i);
            assert_int_equal(tdb_int(c.m, sql), 1);
            snprintf(sql, sizeof sql,
                     "SELECT COUNT(*) FROM job_execution WHERE job = '%s' AND item = %zu AND"
                     " status = '%s' AND agent = '%s' AND error <=> %s%s%s",
                     job, i, sc->want_status, sc->want_agent, sc->want_error ? "'" : "",
                     sc->want_error ? sc->want_error : "NULL", sc->want_error ? "'" : "");
            if (tdb_int(c.m, sql) != 1)
                fail_msg("%s case %zu: not %s by %s with error %s", job, i, sc->want_status,
                         sc->want_agent, sc->want_error ? sc->want_error : "NULL");
            if (sc->want_id) {
                snprintf(sql, sizeof sql,
                         "SELECT COUNT(*) FROM job_execution WHERE job = '%s' AND item = %zu AND"
                         " execution_id = '%s-%s'",
                         job, i, job, sc->want_id);
                if (tdb_int(c.m, sql) != 1)
                    fail_msg("%s case %zu: the row does not carry execution id %s", job, i,
                             sc->want_id);
            }
        }
        /* The run's story (its trace rows) belongs to the row it took over. */
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM job_status_trace t JOIN job_execution e USING"
                 " (execution_id) WHERE e.job = '%s' AND e.item = 0",
                 job);
        assert_int_equal(tdb_int(c.m, sql), 2);
    }
    ctx_close(&c);
}

/* The fence column: filled by the run's own reports (not by the queued report
 * before it, nor by another agent's not-run report of the same fire, whichever
 * order they come in), the same whether the reports share a transaction
 * (coalesced) or are written one at a time; NULL for a fire that did not run;
 * returned by the queries. */
static void test_fence_column(void **state)
{
    (void)state;
    struct ctx c;
    struct sc_err err;
    struct hist_event e;
    char sql[512], job[16], id[48];
    static const char *const F7 = "001767229200.000000000007.0001";
    static const char *const F8 = "001767229200.000000000008.0001";
    int64_t fire = T0 + 3600000;
    ctx_open(&c, "fence", true);
    struct hist_writer *w = writer_open(&c, 50);
    uint64_t sent = 0;
    for (int mode = 0; mode < 2; mode++) {
        snprintf(job, sizeof job, "%s", mode ? "f-apart" : "f-together");
#define SEND(EID, ITEM, STATUS, AGENT, FENCE)                                                      \
    do {                                                                                           \
        snprintf(id, sizeof id, "%s-%s", job, EID);                                                \
        ev_base(&e, id, job, ITEM, fire, HIST_TRIG_CRON, 1, STATUS);                               \
        e.agent = AGENT;                                                                           \
        e.fence = FENCE;                                                                           \
        assert_int_equal(hist_writer_submit(w, &e), 0), sent++;                                    \
        if (mode)                                                                                  \
            wait_drained(w, sent, 30000);                                                          \
    } while (0)
        /* item 0: queued (no fence yet), then the run's reports */
        SEND("q", 0, HIST_QUEUED, "agent-q", NULL);
        SEND("q", 0, HIST_RUNNING, "agent-q", F7);
        SEND("q", 0, HIST_SUCCEEDED, "agent-q", F7);
        /* item 1: another agent's missed first; the run takes the row and its fence */
        SEND("m1", 1, HIST_MISSED, "agent-b", NULL);
        SEND("r1", 1, HIST_RUNNING, "agent-q", F8);
        SEND("r1", 1, HIST_SUCCEEDED, "agent-q", F8);
        /* item 2: the run first; a late missed report of the fire changes nothing */
        SEND("r2", 2, HIST_SUCCEEDED, "agent-q", F7);
        SEND("m2", 2, HIST_MISSED, "agent-b", NULL);
        /* item 3: not run at all */
        SEND("m3", 3, HIST_MISSED, "agent-b", NULL);
#undef SEND
        wait_drained(w, sent, 30000);
    }
    hist_writer_close(w, 5000);
    static const struct {
        int item;
        const char *fence; /* NULL: the column is NULL */
    } want[] = {{0, "001767229200.000000000007.0001"},
                {1, "001767229200.000000000008.0001"},
                {2, "001767229200.000000000007.0001"},
                {3, NULL}};
    for (int mode = 0; mode < 2; mode++) {
        snprintf(job, sizeof job, "%s", mode ? "f-apart" : "f-together");
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            snprintf(sql, sizeof sql,
                     "SELECT COUNT(*) FROM job_execution WHERE job = '%s' AND item = %d AND"
                     " fence <=> %s%s%s",
                     job, want[i].item, want[i].fence ? "'" : "",
                     want[i].fence ? want[i].fence : "NULL", want[i].fence ? "'" : "");
            if (tdb_int(c.m, sql) != 1)
                fail_msg("%s item %d: fence is not %s", job, want[i].item,
                         want[i].fence ? want[i].fence : "NULL");
        }
        /* GET /executions rows and an execution's story carry it */
        struct hist_filter f = {.job = job, .item = -1};
        struct hist_page pg;
        assert_int_equal(hist_query_executions(c.m, &f, &pg, &err), 0);
        assert_int_equal(pg.n, 4);
        for (size_t i = 0; i < pg.n; i++) {
            const struct hist_row *r = &pg.rows[i];
            assert_true(r->item >= 0 && r->item < 4);
            assert_string_equal(r->fence, want[r->item].fence ? want[r->item].fence : "");
        }
        hist_page_free(&pg);
        struct hist_story st;
        snprintf(id, sizeof id, "%s-r1", job);
        assert_int_equal(hist_story_get(c.m, id, &st, &err), 0);
        assert_string_equal(st.row.fence, F8);
        assert_string_equal(st.attempts.rows[0].fence, F8);
        hist_story_free(&st);
    }
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations),
        cmocka_unit_test(test_missed_gives_way_to_a_run),
        cmocka_unit_test(test_fence_column),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_story_and_queries),
        cmocka_unit_test(test_alert_open),
        cmocka_unit_test(test_pipeline_100k),
        cmocka_unit_test(test_shuffled_reports),
        cmocka_unit_test(test_spool_limit_keeps_newest),
        cmocka_unit_test_teardown(test_outage_spools_and_replays, restart_teardown),
    };
    if (getenv("IT_CASES")) /* e.g. IT_CASES='test_alert*': a few cases while working */
        cmocka_set_test_filter(getenv("IT_CASES"));
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
