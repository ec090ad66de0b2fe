/* bench/history/ingest.c: events/s into MariaDB, the batched history writer
 * against one INSERT per event, in the same run on the same server.
 *
 *   ingest URL PASSWORD_FILE SPOOL_DIR EVENTS NAIVE_EVENTS
 *
 * The workload is the midnight peak: every execution reports "queued" and
 * "running" as it fires and "finished" a little later, so the start reports and
 * the finish reports arrive as two overlapping floods (the finish of execution n
 * comes with the start of n + 2000). One event in three inserts a row; the others
 * update it through ON DUPLICATE KEY UPDATE. Prints one table row per method. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "sql/db.h"
#include "sql/hist.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const int64_t T0 = 1767225600000LL;

/* which: 0 queued, 1 running, 2 finished */
static void make_event(struct hist_event *e, char *id, size_t idlen, const char *prefix, long n,
                       int which)
{
    static char job[64];
    snprintf(id, idlen, "%s-%012ld", prefix, n);
    snprintf(job, sizeof job, "%s-job-%ld", prefix, n % 10000);
    memset(e, 0, sizeof *e);
    e->execution_id = id;
    e->job = job;
    e->item = (int)(n / 10000 % 8);
    e->fire_ms = T0 + n / 80000 * 1000;
    e->trigger = HIST_TRIG_CRON;
    e->attempt = 1;
    e->agent = "agent-bench";
    e->host = "bench-host";
    e->queued_ms = e->fire_ms + 1;
    e->status = HIST_QUEUED;
    if (which >= 1) {
        e->started_ms = e->fire_ms + 3;
        e->status = HIST_RUNNING;
    }
    if (which == 2) {
        e->status = n % 50 ? HIST_SUCCEEDED : HIST_FAILED;
        e->finished_ms = e->started_ms + 250;
        e->has_exit_code = true;
        e->exit_code = n % 50 ? 0 : 1;
        e->output = "ok\n";
        e->output_len = 3;
    }
}

int main(int argc, char **argv)
{
    struct sc_err err;
    struct db_url url;
    if (argc != 6) {
        fprintf(stderr, "usage: ingest URL PASSWORD_FILE SPOOL_DIR EVENTS NAIVE_EVENTS\n");
        return 2;
    }
    long events = atol(argv[4]), naive = atol(argv[5]);
    char *pw = cfg_read_secret(argv[2], &err);
    if (!pw || db_url_parse(argv[1], &url, &err) < 0) {
        fprintf(stderr, "ingest: %s\n", err.msg);
        return 1;
    }

    /* ---- batched writer ---- */
    struct hist_writer *w;
    struct hist_writer_opts o = {.url = &url,
                                 .password = pw,
                                 .spool_path = argv[3],
                                 .batch_size = 1000,
                                 .flush_ms = 20,
                                 .queue_max_bytes = 1u << 30};
    if (hist_writer_open(&o, &w, &err) < 0) {
        fprintf(stderr, "ingest: %s\n", err.msg);
        return 1;
    }
    char id[64];
    struct hist_event e;
    struct hist_writer_stats st;
    long execs = events / 3;
    int64_t t0 = now_us(), submit_us = 0, worst_submit = 0;
    /* Two overlapping floods: the finish of execution n comes with the start of n + 2000. */
    for (long k = 0; k < execs + 2000; k++) {
        for (int which = 0; which < 2 && k < execs; which++) {
            make_event(&e, id, sizeof id, "b", k, which);
            int64_t s = now_us();
            hist_writer_submit(w, &e);
            int64_t d = now_us() - s;
            submit_us += d;
            worst_submit = d > worst_submit ? d : worst_submit;
        }
        if (k >= 2000) {
            make_event(&e, id, sizeof id, "b", k - 2000, 2);
            hist_writer_submit(w, &e);
        }
    }
    for (;;) {
        hist_writer_stats(w, &st);
        if (st.written + st.dropped >= (uint64_t)execs * 3 && st.pending == 0)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    double batched_s = (double)(now_us() - t0) / 1e6;
    double batched = (double)st.written / batched_s;
    hist_writer_close(w, 5000);
    if (st.dropped || st.spooled)
        fprintf(stderr, "ingest: warning: %" PRIu64 " dropped, %" PRIu64 " spooled\n", st.dropped,
                st.spooled);

    /* ---- naive: one single-row INSERT ... ON DUPLICATE KEY UPDATE per event ---- */
    MYSQL *m = db_connect(&url, pw, 30, &err);
    if (!m) {
        fprintf(stderr, "ingest: %s\n", err.msg);
        return 1;
    }
    MYSQL_STMT *ins = db_stmt_prepare(
        m,
        "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, attempt,"
        " agent, host, status, exit_code, queued_at, started_at, finished_at, output_tail)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE"
        " status = IF(LEAST(VALUES(status)+0,3) > LEAST(status+0,3), VALUES(status), status),"
        " started_at = COALESCE(started_at, VALUES(started_at)),"
        " finished_at = COALESCE(finished_at, VALUES(finished_at)),"
        " exit_code = COALESCE(exit_code, VALUES(exit_code))",
        &err);
    if (!ins) {
        fprintf(stderr, "ingest: %s\n", err.msg);
        return 1;
    }
    long nexec = naive / 3;
    t0 = now_us();
    for (long k = 0; k < nexec + 200; k++) {
        for (int which = 0; which < 3; which++) {
            long n = which == 2 ? k - 200 : k;
            if (n < 0 || n >= nexec)
                continue;
            make_event(&e, id, sizeof id, "n", n, which);
            MYSQL_BIND b[14];
            MYSQL_TIME t[4];
            const char *status = hist_status_name(e.status);
            memset(b, 0, sizeof b);
            const char *s[] = {e.execution_id, e.job};
            for (int i = 0; i < 2; i++) {
                b[i].buffer_type = MYSQL_TYPE_STRING;
                b[i].buffer = (void *)s[i];
                b[i].buffer_length = strlen(s[i]);
            }
            b[2].buffer_type = MYSQL_TYPE_LONG, b[2].buffer = &e.item;
            db_ms_to_time(e.fire_ms, &t[0]);
            b[3].buffer_type = MYSQL_TYPE_DATETIME, b[3].buffer = &t[0];
            b[4].buffer_type = MYSQL_TYPE_STRING, b[4].buffer = "cron", b[4].buffer_length = 4;
            b[5].buffer_type = MYSQL_TYPE_LONG, b[5].buffer = &e.attempt;
            b[6].buffer_type = MYSQL_TYPE_STRING, b[6].buffer = (void *)e.agent;
            b[6].buffer_length = strlen(e.agent);
            b[7].buffer_type = MYSQL_TYPE_STRING, b[7].buffer = (void *)e.host;
            b[7].buffer_length = strlen(e.host);
            b[8].buffer_type = MYSQL_TYPE_STRING, b[8].buffer = (void *)status;
            b[8].buffer_length = strlen(status);
            b[9].buffer_type = e.has_exit_code ? MYSQL_TYPE_LONG : MYSQL_TYPE_NULL;
            b[9].buffer = &e.exit_code;
            int64_t tm[3] = {e.queued_ms, e.started_ms, e.finished_ms};
            for (int i = 0; i < 3; i++) {
                db_ms_to_time(tm[i], &t[1 + i]);
                b[10 + i].buffer_type = tm[i] ? MYSQL_TYPE_DATETIME : MYSQL_TYPE_NULL;
                b[10 + i].buffer = &t[1 + i];
            }
            b[13].buffer_type = e.output_len ? MYSQL_TYPE_BLOB : MYSQL_TYPE_NULL;
            b[13].buffer = (void *)e.output;
            b[13].buffer_length = e.output_len;
            if (mysql_stmt_bind_param(ins, b) || mysql_stmt_execute(ins)) {
                fprintf(stderr, "ingest: naive insert: %s\n", mysql_stmt_error(ins));
                return 1;
            }
        }
    }
    double naive_s = (double)(now_us() - t0) / 1e6;
    double naive_rate = (double)(nexec * 3) / naive_s;
    mysql_stmt_close(ins);
    mysql_close(m);

    printf("| method | events | seconds | events/s |\n|---|---:|---:|---:|\n");
    printf("| batched writer (1000 rows/INSERT, + trace rows) | %" PRIu64 " | %.2f | %.0f |\n",
           st.written, batched_s, batched);
    printf("| one INSERT per event (autocommit) | %ld | %.2f | %.0f |\n", nexec * 3, naive_s,
           naive_rate);
    printf("| ratio | | | %.1f x |\n", batched / naive_rate);
    printf("\nsubmit(): mean %.2f us, worst %" PRId64 " us (the agent's cost per event)\n",
           (double)submit_us / (double)execs, worst_submit);
    free(pw);
    mysql_library_end();
    return 0;
}
