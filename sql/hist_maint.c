/* sql/hist_maint.c: history maintenance the leader runs: retention (bounded
 * chunked deletes) and the daily-stats rollup.
 *
 * Why chunked deletes rather than daily partitions: MariaDB requires the
 * partitioning column in every unique key, and job_execution's two unique keys
 * (execution_id; job, item, fire time, attempt, trigger) are what make replayed
 * reports idempotent. Adding fire_time to uk_execution would let a replay with a
 * different fire time create a second row. Deleting by the fire_time index in
 * chunks of a few thousand rows keeps each transaction short (docs/history.md
 * has the measured rate).
 *
 * Workflow runs go by the time they ended (runs still queued or running stay
 * whatever their age), a chunk of run ids at a time: their outputs and task
 * instances first, then the run rows, so a call cut short leaves the run to be
 * found again by the next one and no orphan behind. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sql/hist.h"

static int exec_time_limit(MYSQL *m, const char *sql, int64_t ms, unsigned chunk,
                           uint64_t *affected, struct sc_err *err)
{
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return -EIO;
    MYSQL_BIND b[2];
    MYSQL_TIME t;
    long long lim = chunk;
    memset(b, 0, sizeof b);
    db_ms_to_time(ms, &t);
    b[0].buffer_type = MYSQL_TYPE_DATETIME;
    b[0].buffer = &t;
    b[1].buffer_type = MYSQL_TYPE_LONGLONG;
    b[1].buffer = &lim;
    int rc = 0;
    if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st))
        rc = sc_err_set(err, EIO, "retention", -1, "%s", mysql_stmt_error(st));
    else
        *affected = mysql_stmt_affected_rows(st);
    mysql_stmt_close(st);
    if (rc == 0 && mysql_commit(m) != 0)
        rc = sc_err_set(err, EIO, "retention", -1, "commit: %s", mysql_error(m));
    return rc;
}

/* ============================== workflow runs ============================== */

#define WF_RUNS_PER_ROUND 100

/* Run ids of up to max ended runs older than cutoff into ids (HIST_RUN_ID_MAX + 1
 * bytes each); *n their count. */
static int wf_old_runs(MYSQL *m, int64_t cutoff, unsigned max, char (*ids)[HIST_RUN_ID_MAX + 1],
                       unsigned *n, struct sc_err *err)
{
    /* Both ranges of ix_retention (ended_ms, created_ms): a time it ended, or
     * none (cancelled before it started) and the time it was created. */
    static const char sql[] =
        "SELECT run_id FROM workflow_run WHERE (ended_ms < ? OR (ended_ms IS NULL AND"
        " created_ms < ?)) AND state IN ('succeeded', 'failed', 'cancelled') LIMIT ?";
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return -EIO;
    MYSQL_BIND b[3], r[1];
    long long c = cutoff, lim = max;
    char id[HIST_RUN_ID_MAX + 1] = "";
    unsigned long len = 0;
    memset(b, 0, sizeof b);
    memset(r, 0, sizeof r);
    b[0].buffer_type = b[1].buffer_type = b[2].buffer_type = MYSQL_TYPE_LONGLONG;
    b[0].buffer = b[1].buffer = &c;
    b[2].buffer = &lim;
    r[0].buffer_type = MYSQL_TYPE_STRING;
    r[0].buffer = id;
    r[0].buffer_length = sizeof id;
    r[0].length = &len;
    int rc = 0;
    *n = 0;
    if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, r)) {
        rc = sc_err_set(err, EIO, "retention", -1, "%s", mysql_stmt_error(st));
    } else {
        int f;
        while ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED) {
            if (*n < max && len <= HIST_RUN_ID_MAX) {
                memcpy(ids[*n], id, len);
                ids[(*n)++][len] = '\0';
            }
        }
        if (f == 1)
            rc = sc_err_set(err, EIO, "retention", -1, "%s", mysql_stmt_error(st));
    }
    mysql_stmt_close(st);
    return rc;
}

/* `head` + " WHERE run_id IN (ids)" [+ " LIMIT chunk"], committed. */
static int wf_delete_ids(MYSQL *m, const char *head, char (*ids)[HIST_RUN_ID_MAX + 1], unsigned n,
                         unsigned chunk, uint64_t *affected, struct sc_err *err)
{
    char sql[128 + WF_RUNS_PER_ROUND * 2 + 32];
    MYSQL_BIND b[WF_RUNS_PER_ROUND + 1];
    long long lim = chunk;
    int k = snprintf(sql, sizeof sql, "%s WHERE run_id IN (", head);
    memset(b, 0, sizeof b);
    for (unsigned i = 0; i < n; i++) {
        k += snprintf(sql + k, sizeof sql - (size_t)k, i ? ",?" : "?");
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = ids[i];
        b[i].buffer_length = (unsigned long)strlen(ids[i]);
    }
    snprintf(sql + k, sizeof sql - (size_t)k, chunk ? ") LIMIT ?" : ")");
    b[n].buffer_type = MYSQL_TYPE_LONGLONG;
    b[n].buffer = &lim;
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return -EIO;
    int rc = 0;
    if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st))
        rc = sc_err_set(err, EIO, "retention", -1, "%s", mysql_stmt_error(st));
    else
        *affected = mysql_stmt_affected_rows(st);
    mysql_stmt_close(st);
    if (rc == 0 && mysql_commit(m) != 0)
        rc = sc_err_set(err, EIO, "retention", -1, "commit: %s", mysql_error(m));
    return rc;
}

static int wf_retention(MYSQL *m, int64_t cutoff, unsigned chunk, unsigned max_chunks,
                        uint64_t *deleted, struct sc_err *err)
{
    static const char *const children[] = {"DELETE FROM task_xcom", "DELETE FROM task_instance"};
    unsigned per = chunk < WF_RUNS_PER_ROUND ? chunk : WF_RUNS_PER_ROUND;
    char(*ids)[HIST_RUN_ID_MAX + 1] = malloc(WF_RUNS_PER_ROUND * sizeof *ids);
    int rc = 0;
    if (!ids)
        return sc_err_set(err, ENOMEM, "retention", -1, "out of memory");
    for (unsigned round = 0; round < max_chunks; round++) {
        unsigned n = 0;
        if ((rc = wf_old_runs(m, cutoff, per, ids, &n, err)) < 0 || n == 0)
            break;
        for (int c = 0; c < 2 && rc == 0; c++) {
            uint64_t got;
            do {
                got = 0;
                rc = wf_delete_ids(m, children[c], ids, n, chunk, &got, err);
                *deleted += got;
            } while (rc == 0 && got == chunk);
        }
        uint64_t got = 0;
        if (rc == 0)
            rc = wf_delete_ids(m, "DELETE FROM workflow_run", ids, n, 0, &got, err);
        *deleted += got;
        if (rc < 0 || n < per)
            break;
    }
    free(ids);
    return rc;
}

/* ============================== API ============================== */

int hist_retention_run(MYSQL *m, unsigned retention_days, int64_t now_ms, unsigned chunk,
                       unsigned max_chunks, uint64_t *deleted, struct sc_err *err)
{
    static const char *const stmts[] = {
        "DELETE FROM job_execution WHERE fire_time < ? LIMIT ?",
        "DELETE FROM job_status_trace WHERE at < ? LIMIT ?",
        "DELETE FROM alert_event WHERE raised_at < ? LIMIT ?",
    };
    int64_t cutoff = now_ms - (int64_t)(retention_days ? retention_days : 30) * 86400000;
    *deleted = 0;
    if (chunk == 0)
        chunk = 5000;
    if (max_chunks == 0)
        max_chunks = 100;
    for (unsigned i = 0; i < 3; i++) {
        for (unsigned c = 0; c < max_chunks; c++) {
            uint64_t n = 0;
            int rc = exec_time_limit(m, stmts[i], cutoff, chunk, &n, err);
            if (rc < 0)
                return rc;
            *deleted += n;
            if (n < chunk)
                break;
        }
    }
    int rc = wf_retention(m, cutoff, chunk, max_chunks, deleted, err);
    if (rc < 0)
        return rc;
    if (*deleted)
        LOGD("retention: deleted %" PRIu64 " history rows older than %u days", *deleted,
             retention_days ? retention_days : 30);
    return 0;
}

int hist_stats_rollup(MYSQL *m, int64_t day_ms, struct sc_err *err)
{
    /* Counts in one grouped range scan of the day; percentiles of run time with
     * MariaDB's PERCENTILE_CONT window function over the same day. */
    static const char sql[] =
        "INSERT INTO job_daily_stats (job, day, total, queued, running, succeeded, failed,"
        " timeout, killed, skipped, missed, duration_p50_ms, duration_p95_ms, duration_max_ms,"
        " updated_at)"
        " SELECT c.job, DATE(?), c.total, c.q, c.r, c.s, c.f, c.t, c.k, c.sk, c.mi,"
        " ROUND(d.p50), ROUND(d.p95), c.mx, UTC_TIMESTAMP(3) FROM"
        " (SELECT job, COUNT(*) AS total, SUM(status = 'queued') AS q, SUM(status = 'running') AS "
        "r,"
        " SUM(status = 'succeeded') AS s, SUM(status = 'failed') AS f, SUM(status = 'timeout') AS "
        "t,"
        " SUM(status = 'killed') AS k, SUM(status = 'skipped') AS sk, SUM(status = 'missed') AS mi,"
        " MAX(TIMESTAMPDIFF(MICROSECOND, started_at, finished_at)) DIV 1000 AS mx"
        " FROM job_execution WHERE fire_time >= ? AND fire_time < ? GROUP BY job) c"
        " LEFT JOIN (SELECT DISTINCT job,"
        " PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY dur) OVER (PARTITION BY job) AS p50,"
        " PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY dur) OVER (PARTITION BY job) AS p95"
        " FROM (SELECT job, TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) DIV 1000 AS dur"
        " FROM job_execution WHERE fire_time >= ? AND fire_time < ? AND started_at IS NOT NULL"
        " AND finished_at IS NOT NULL) x) d ON d.job = c.job"
        " ON DUPLICATE KEY UPDATE total = VALUES(total), queued = VALUES(queued),"
        " running = VALUES(running), succeeded = VALUES(succeeded), failed = VALUES(failed),"
        " timeout = VALUES(timeout), killed = VALUES(killed), skipped = VALUES(skipped),"
        " missed = VALUES(missed), duration_p50_ms = VALUES(duration_p50_ms),"
        " duration_p95_ms = VALUES(duration_p95_ms), duration_max_ms = VALUES(duration_max_ms),"
        " updated_at = VALUES(updated_at)";
    int64_t start = day_ms - ((day_ms % 86400000) + 86400000) % 86400000;
    MYSQL_TIME t[5];
    MYSQL_BIND b[5];
    int64_t v[5] = {start, start, start + 86400000, start, start + 86400000};
    memset(b, 0, sizeof b);
    for (int i = 0; i < 5; i++) {
        db_ms_to_time(v[i], &t[i]);
        b[i].buffer_type = MYSQL_TYPE_DATETIME;
        b[i].buffer = &t[i];
    }
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return -EIO;
    int rc = 0;
    if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st))
        rc = sc_err_set(err, EIO, "stats", -1, "rollup: %s", mysql_stmt_error(st));
    mysql_stmt_close(st);
    if (rc == 0 && mysql_commit(m) != 0)
        rc = sc_err_set(err, EIO, "stats", -1, "commit: %s", mysql_error(m));
    return rc;
}
