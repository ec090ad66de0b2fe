/* bench/alerts/eval.c: the leader's alert evaluation over a 10 M-row history
 * (bench/history/gen.sql), before and after it became incremental, in one run.
 *
 *   eval URL PASSWORD_FILE CYCLES BATCH BURST
 *
 * Before: the evaluation of main at 9369451 (copied below, unchanged but for
 * its name): every cycle ranks 24 h of failures and probes each for a later
 * success. After: sql/hist_alert.c — one rebuild per leader term, then cycles
 * that read the status changes recorded since the last one. Between timed
 * cycles, BATCH new executions (4 % failing, spread over the 2,000 jobs) and
 * their trace rows are written, as agents' writers would; the burst cycle adds
 * BURST executions of which 500 are items of one job failing at once. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "sql/db.h"
#include "sql/hist_alert.h"
#include "sql/hist_query.h"

/* ---------------------------------------------------------------- before (main at 9369451) */

static bool same(const struct hist_alert_notice *x, const char *kind, const char *job, int item)
{
    return strcmp(x->kind, kind) == 0 && strcmp(x->job, job) == 0 && x->item == item;
}

static int fail(MYSQL *m, struct sc_err *err)
{
    return sc_err_set(err, EIO, "alerts", -1, "MySQL error %u: %s", mysql_errno(m), mysql_error(m));
}

/* live_conditions: the newest failed/timeout/missed execution of each (kind, job,
 * item) in the last 24 h that no later success cleared; newest first. */
static int live_conditions(MYSQL *m, struct hist_alert_notice *live, size_t *nlive,
                           struct sc_err *err)
{
    char q[1024];
    /* The newest of each (job, item, kind) first, then the NOT EXISTS probe on
     * those only (sql/hist_query.c, hist_alert_open: a cleared newest means
     * cleared older ones); a (job, item) failing every second no longer uses
     * up the row limit either. */
    snprintf(q, sizeof q,
             "SELECT e.job, e.item, e.status, e.execution_id,"
             " DATE_FORMAT(e.fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f') FROM ("
             " SELECT f.job, f.item, f.status, f.execution_id, f.fire_time, f.attempt,"
             "  ROW_NUMBER() OVER (PARTITION BY f.job, f.item, f.status"
             "  ORDER BY f.fire_time DESC, f.attempt DESC, f.id DESC) AS ri"
             " FROM job_execution f WHERE f.status IN ('failed','timeout','missed')"
             " AND f.fire_time >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY) e"
             " WHERE e.ri = 1" HIST_UNRESOLVED_SQL " ORDER BY e.fire_time DESC LIMIT %d",
             HIST_ALERT_MAX);
    if (mysql_query(m, "SET time_zone = '+00:00'") != 0 || mysql_query(m, q) != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) && *nlive < HIST_ALERT_MAX) {
        bool dup = false;
        for (size_t i = 0; i < *nlive && !dup; i++)
            dup = same(&live[i], row[2], row[0], atoi(row[1]));
        if (dup)
            continue; /* newest first: keep the newest execution of the (kind, job, item) */
        struct hist_alert_notice *c = &live[(*nlive)++];
        memset(c, 0, sizeof *c);
        snprintf(c->kind, sizeof c->kind, "%s", row[2]);
        snprintf(c->job, sizeof c->job, "%s", row[0]);
        c->item = atoi(row[1]);
        snprintf(c->execution_id, sizeof c->execution_id, "%s", row[3]);
        snprintf(c->fire, sizeof c->fire, "%.23s", row[4] ? row[4] : "");
        snprintf(c->message, sizeof c->message, "item %d %s", c->item, c->kind);
    }
    mysql_free_result(res);
    return 0;
}

static void esc(MYSQL *m, char *out, const char *s)
{
    mysql_real_escape_string(m, out, s, (unsigned long)strlen(s));
}

/* no_agent_conditions: one condition per listed job (at most HIST_ALERT_MAX). */
static void no_agent_conditions(const char *const *names, size_t nnames,
                                struct hist_alert_notice *live, size_t *nlive)
{
    for (size_t i = 0; i < nnames && i < HIST_ALERT_MAX; i++) {
        if (!names[i] || !names[i][0] || strlen(names[i]) > JOB_NAME_MAX)
            continue;
        struct hist_alert_notice *c = &live[(*nlive)++];
        memset(c, 0, sizeof *c);
        snprintf(c->kind, sizeof c->kind, "no_agent");
        snprintf(c->job, sizeof c->job, "%s", names[i]);
        c->item = -1;
        snprintf(c->message, sizeof c->message, "no eligible agent");
    }
}

static int baseline_eval(MYSQL *m, int reminder_s, const char *const *no_agent, size_t nno_agent,
                         struct hist_alert_notice **outp, size_t *nout, struct sc_err *err)
{
    char q[4096];
    size_t nlive = 0, n = 0;
    /* Open rows read per evaluation: the history kinds' share, plus no_agent's
     * when the list is known. Each row yields at most one notice (resolve or
     * reminder), each unmatched condition at most one (open). */
    int nrows = no_agent ? 2 * HIST_ALERT_MAX : HIST_ALERT_MAX;
    struct hist_alert_notice *live = calloc(2 * HIST_ALERT_MAX + 1, sizeof *live);
    struct hist_alert_notice *out = calloc((size_t)nrows + 2 * HIST_ALERT_MAX + 1, sizeof *out);
    bool *matched = calloc(2 * HIST_ALERT_MAX + 1, sizeof *matched);
    MYSQL_RES *res = NULL;
    int rc = 0;
    *outp = NULL;
    *nout = 0;
    if (!live || !out || !matched) {
        rc = sc_err_set(err, ENOMEM, "alerts", -1, "out of memory");
        goto err;
    }
    if ((rc = live_conditions(m, live, &nlive, err)) < 0)
        goto err;
    if (no_agent)
        no_agent_conditions(no_agent, nno_agent, live, &nlive);

    /* Open rows of the kinds evaluated here; the reminder is due when the last
     * notice (or the raise) is older than the interval. */
    snprintf(q, sizeof q,
             "SELECT id, kind, IFNULL(job,''), IFNULL(item,-1), IFNULL(execution_id,''),"
             " IFNULL(DATE_FORMAT(fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'),''),"
             " IFNULL(notified_at, raised_at) < UTC_TIMESTAMP(3) - INTERVAL %d SECOND"
             " FROM alert_event WHERE resolved_at IS NULL"
             " AND kind IN ('failed','timeout','missed'%s) LIMIT %d",
             reminder_s, no_agent ? ",'no_agent'" : "", nrows);
    if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m))) {
        rc = fail(m, err);
        goto err;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        int item = atoi(row[3]);
        size_t k = nlive;
        for (size_t i = 0; i < nlive && k == nlive; i++)
            if (same(&live[i], row[1], row[2], item))
                k = i;
        struct hist_alert_notice *o = &out[n];
        memset(o, 0, sizeof *o);
        o->id = strtoull(row[0], NULL, 10);
        snprintf(o->kind, sizeof o->kind, "%s", row[1]);
        snprintf(o->job, sizeof o->job, "%s", row[2]);
        o->item = item;
        snprintf(o->execution_id, sizeof o->execution_id, "%s", row[4]);
        snprintf(o->fire, sizeof o->fire, "%.23s", row[5]);
        if (k == nlive) {
            snprintf(q, sizeof q,
                     "UPDATE alert_event SET resolved_at = UTC_TIMESTAMP(3),"
                     " notified_at = UTC_TIMESTAMP(3) WHERE id = %llu AND resolved_at IS NULL",
                     o->id);
            if (mysql_query(m, q) != 0) {
                rc = fail(m, err);
                goto err;
            }
            if (mysql_affected_rows(m) == 1) {
                snprintf(o->event, sizeof o->event, "resolve");
                snprintf(o->message, sizeof o->message, "%s cleared", o->kind);
                n++;
            }
            continue;
        }
        matched[k] = true;
        if (row[6] && strcmp(row[6], "1") == 0) {
            snprintf(q, sizeof q,
                     "UPDATE alert_event SET notified_at = UTC_TIMESTAMP(3) WHERE id = %llu",
                     o->id);
            if (mysql_query(m, q) != 0) {
                rc = fail(m, err);
                goto err;
            }
            snprintf(o->event, sizeof o->event, "reminder");
            snprintf(o->message, sizeof o->message, "%s", live[k].message);
            n++;
        }
    }
    mysql_free_result(res);
    res = NULL;
    for (size_t i = 0; i < nlive; i++) {
        if (matched[i])
            continue;
        struct hist_alert_notice *c = &live[i];
        char ej[JOB_NAME_MAX * 2 + 1], ee[170], em[420], item[16], fire[64];
        esc(m, ej, c->job);
        esc(m, ee, c->execution_id);
        esc(m, em, c->message);
        snprintf(item, sizeof item, c->item >= 0 ? "%d" : "NULL", c->item);
        snprintf(fire, sizeof fire, c->fire[0] ? "'%s'" : "NULL", c->fire);
        /* Conditional insert: an agent that was leader a moment ago may be
         * evaluating too; whoever inserts second opens nothing. */
        snprintf(q, sizeof q,
                 "INSERT INTO alert_event (kind, job, item, execution_id, fire_time, message,"
                 " raised_at, notified_at) SELECT '%s', '%s', %s, %s%s%s, %s, '%s',"
                 " UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) FROM DUAL WHERE NOT EXISTS"
                 " (SELECT 1 FROM alert_event WHERE resolved_at IS NULL AND kind = '%s'"
                 " AND job = '%s' AND item <=> %s)",
                 c->kind, ej, item, c->execution_id[0] ? "'" : "NULL", c->execution_id[0] ? ee : "",
                 c->execution_id[0] ? "'" : "", fire, em, c->kind, ej, item);
        if (mysql_query(m, q) != 0) {
            rc = fail(m, err);
            goto err;
        }
        if (mysql_affected_rows(m) != 1)
            continue;
        out[n] = *c;
        out[n].id = (unsigned long long)mysql_insert_id(m);
        snprintf(out[n].event, sizeof out[n].event, "open");
        n++;
    }
    free(live);
    free(matched);
    if (n == 0) {
        free(out);
        out = NULL;
    }
    *outp = out;
    *nout = n;
    return 0;
err:
    if (res)
        mysql_free_result(res);
    free(live);
    free(out);
    free(matched);
    return rc;
}

/* ---------------------------------------------------------------- the bench */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, int64_t *us, int n, const char *note)
{
    qsort(us, (size_t)n, sizeof *us, cmp64);
    printf("| %s | %d | %.1f | %.1f | %.1f | %s |\n", name, n, (double)us[n / 2] / 1000.0,
           (double)us[(n * 99) / 100] / 1000.0, (double)us[n - 1] / 1000.0, note);
}

static void must(MYSQL *m, const char *q)
{
    if (mysql_query(m, q) != 0) {
        fprintf(stderr, "eval: %s: %s\n", q, mysql_error(m));
        exit(1);
    }
}

/* add: n executions of fire "now" named tag-N, their running and terminal trace
 * rows; `failing` of them (spread over jobs) fail. burst: 500 items of job
 * "burst" fail besides. */
static void add(MYSQL *m, const char *tag, int n, bool burst)
{
    char q[2048];
    snprintf(
        q, sizeof q,
        "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, attempt,"
        " agent, host, status, exit_code) SELECT CONCAT('%s-', seq), CONCAT('job-', seq MOD 2000),"
        " 100 + seq DIV 2000, UTC_TIMESTAMP(3), 'cron', 1, CONCAT('agent-', seq MOD 50), 'h',"
        " IF(seq MOD 25 = 7, 'failed', 'succeeded'), IF(seq MOD 25 = 7, 1, 0)"
        " FROM seq_0_to_%d",
        tag, n - 1);
    must(m, q);
    if (burst) {
        snprintf(q, sizeof q,
                 "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type,"
                 " attempt, agent, host, status, exit_code) SELECT CONCAT('%s-b', seq), 'burst',"
                 " seq, UTC_TIMESTAMP(3), 'cron', 1, 'agent-1', 'h', 'failed', 1"
                 " FROM seq_0_to_499",
                 tag);
        must(m, q);
    }
    snprintf(q, sizeof q,
             "INSERT INTO job_status_trace (execution_id, state, at) SELECT execution_id,"
             " 'running', UTC_TIMESTAMP(3) FROM job_execution WHERE execution_id LIKE '%s-%%'",
             tag);
    must(m, q);
    snprintf(q, sizeof q,
             "INSERT INTO job_status_trace (execution_id, state, at) SELECT execution_id,"
             " status, UTC_TIMESTAMP(3) FROM job_execution WHERE execution_id LIKE '%s-%%'",
             tag);
    must(m, q);
}

int main(int argc, char **argv)
{
    struct sc_err err;
    struct db_url url;
    if (argc != 6) {
        fprintf(stderr, "usage: eval URL PASSWORD_FILE CYCLES BATCH BURST\n");
        return 2;
    }
    int cycles = atoi(argv[3]), batch = atoi(argv[4]), burst = atoi(argv[5]);
    char *pw = cfg_read_secret(argv[2], &err);
    if (!pw || db_url_parse(argv[1], &url, &err) < 0) {
        fprintf(stderr, "eval: %s\n", err.msg);
        return 1;
    }
    MYSQL *m = db_connect(&url, pw, 60, &err), *w = db_connect(&url, pw, 60, &err);
    if (!m || !w) {
        fprintf(stderr, "eval: %s\n", err.msg);
        return 1;
    }
    long long rows = 0, day = 0;
    db_query_int(m, "SELECT COUNT(*) FROM job_execution", &rows, &err);
    db_query_int(
        m, "SELECT COUNT(*) FROM job_execution WHERE fire_time >= UTC_TIMESTAMP() - INTERVAL 1 DAY",
        &day, &err);
    printf(
        "job_execution rows: %lld (last 24 h: %lld); per cycle: %d new executions; burst: %d + 500 "
        "items of one job failing\n\n",
        rows, day, batch, burst);
    printf("| evaluation | cycles | p50 ms | p99 ms | max ms | notes "
           "|\n|---|---:|---:|---:|---:|---|\n");
    int64_t *us = calloc((size_t)cycles + 1, sizeof *us);
    struct hist_alert_notice *n = NULL;
    size_t nn = 0;
    char tag[32];
    int failures = 0;

    /* before: the first call opens the rows; the steady cycles are timed */
    static const char *const none[1] = {NULL};
    if (baseline_eval(m, 3600, none, 0, &n, &nn, &err) < 0) {
        fprintf(stderr, "eval: before: %s\n", err.msg);
        free(us);
        return 1;
    }
    free(n);
    int before = cycles < 5 ? cycles : 5; /* ~1 s each: a few are enough */
    for (int i = 0; i < before; i++) {
        snprintf(tag, sizeof tag, "x%d", i);
        add(w, tag, batch, false);
        int64_t t0 = now_us();
        failures += baseline_eval(m, 3600, none, 0, &n, &nn, &err) < 0;
        us[i] = now_us() - t0;
        free(n);
    }
    report("before: full evaluation every cycle", us, before, "main at 9369451");

    /* after: a new leader's state (rebuild), then incremental cycles */
    struct hist_alert_state *st = NULL;
    struct hist_alert_opts o = {.reminder_s = 3600, .group_ms = 0};
    hist_alert_state_new(&st);
    int64_t t0 = now_us();
    failures += hist_alert_eval(m, st, &o, wall_ms(), NULL, 0, &n, &nn, &err) < 0;
    us[0] = now_us() - t0;
    free(n);
    size_t nc, ng;
    unsigned long long seq;
    hist_alert_state_counts(st, &nc, &ng, &seq);
    char note[160];
    snprintf(note, sizeof note, "once per leader term; %zu conditions, %zu groups", nc, ng);
    report("after: rebuild", us, 1, note);
    for (int i = 0; i < cycles; i++) {
        snprintf(tag, sizeof tag, "y%d", i);
        add(w, tag, batch, false);
        t0 = now_us();
        if (hist_alert_eval(m, st, &o, wall_ms(), NULL, 0, &n, &nn, &err) < 0) {
            fprintf(stderr, "eval: %s\n", err.msg);
            failures++;
        }
        us[i] = now_us() - t0;
        free(n);
    }
    snprintf(note, sizeof note, "%d new executions each", batch);
    report("after: incremental cycle", us, cycles, note);
    for (int i = 0; i < cycles; i++) {
        t0 = now_us();
        failures += hist_alert_eval(m, st, &o, wall_ms(), NULL, 0, &n, &nn, &err) < 0;
        us[i] = now_us() - t0;
        free(n);
    }
    report("after: idle cycle", us, cycles, "nothing new");
    add(w, "burst", burst, true);
    t0 = now_us();
    failures += hist_alert_eval(m, st, &o, wall_ms(), NULL, 0, &n, &nn, &err) < 0;
    us[0] = now_us() - t0;
    unsigned bursts = 0, count = 0;
    for (size_t i = 0; i < nn; i++)
        if (!strcmp(n[i].job, "burst")) {
            bursts++;
            count = n[i].count;
        }
    free(n);
    snprintf(note, sizeof note, "notices for the burst job: %u (count %u)", bursts, count);
    report("after: burst cycle", us, 1, note);
    if (bursts != 1 || count != 500) {
        fprintf(stderr, "eval: the burst gave %u notices (count %u), want 1 (500)\n", bursts,
                count);
        failures++;
    }
    hist_alert_state_free(st);
    free(us);
    free(pw);
    mysql_close(m);
    mysql_close(w);
    mysql_library_end();
    return failures ? 1 : 0;
}
