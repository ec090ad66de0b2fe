/* bench/history/query.c: latency of the console's main history queries over the
 * generated table (bench/history/gen.sql), through the same C functions the
 * console calls.
 *
 *   query URL PASSWORD_FILE ITERATIONS
 *
 * Prints p50/p99 per query. Parameters vary per iteration (random job, agent) so
 * the figures are not one cached page. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "sql/db.h"
#include "sql/hist.h"
#include "sql/hist_query.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, int64_t *us, int n, size_t rows)
{
    qsort(us, (size_t)n, sizeof *us, cmp64);
    printf("| %s | %d | %.2f | %.2f | %.2f | %zu |\n", name, n, (double)us[n / 2] / 1000.0,
           (double)us[(n * 99) / 100] / 1000.0, (double)us[n - 1] / 1000.0, rows);
}

int main(int argc, char **argv)
{
    struct sc_err err;
    struct db_url url;
    if (argc != 4) {
        fprintf(stderr, "usage: query URL PASSWORD_FILE ITERATIONS\n");
        return 2;
    }
    int iters = atoi(argv[3]);
    char *pw = cfg_read_secret(argv[2], &err);
    if (!pw || db_url_parse(argv[1], &url, &err) < 0) {
        fprintf(stderr, "query: %s\n", err.msg);
        return 1;
    }
    MYSQL *m = db_connect(&url, pw, 60, &err);
    if (!m) {
        fprintf(stderr, "query: %s\n", err.msg);
        return 1;
    }
    long long rows_total = 0, maxfire = 0;
    db_query_int(m, "SELECT COUNT(*) FROM job_execution", &rows_total, &err);
    db_query_int(m, "SELECT UNIX_TIMESTAMP(MAX(fire_time)) * 1000 FROM job_execution", &maxfire,
                 &err);
    int64_t now = (int64_t)maxfire; /* "now" is the newest fire in the data */
    int64_t today = now - now % 86400000;
    int64_t *us = calloc((size_t)iters, sizeof *us);
    struct hist_page pg;
    char job[32], agent[32], cursor[HIST_CURSOR_LEN], id[HIST_ID_MAX + 1];
    size_t rows;
    int failures = 0;
    srand(42);
    printf("job_execution rows: %lld\n\n", rows_total);
    printf("| query | runs | p50 ms | p99 ms | max ms | rows (last run) |\n"
           "|---|---:|---:|---:|---:|---:|\n");

#define TIMED(name, setup, call)                                                                   \
    do {                                                                                           \
        rows = 0;                                                                                  \
        for (int i = 0; i < iters; i++) {                                                          \
            setup;                                                                                 \
            int64_t t0 = now_us();                                                                 \
            if ((call) != 0) {                                                                     \
                fprintf(stderr, "query %s: %s\n", name, err.msg);                                  \
                failures++;                                                                        \
            }                                                                                      \
            us[i] = now_us() - t0;                                                                 \
            rows = pg.n;                                                                           \
            hist_page_free(&pg);                                                                   \
        }                                                                                          \
        report(name, us, iters, rows);                                                             \
    } while (0)

    struct hist_filter f;
    TIMED("latest executions of a job (50)",
          (snprintf(job, sizeof job, "job-%d", rand() % 2000),
           f = (struct hist_filter){.job = job, .item = -1, .limit = 50}),
          hist_query_executions(m, &f, &pg, &err));
    TIMED("failures in the last hour (50)",
          (f = (struct hist_filter){.item = -1,
                                    .status_mask = 1u << HIST_FAILED | 1u << HIST_TIMEOUT,
                                    .from_ms = now - 3600000,
                                    .limit = 50}),
          hist_query_executions(m, &f, &pg, &err));
    TIMED("one agent's runs today (50)",
          (snprintf(agent, sizeof agent, "agent-%d", rand() % 50),
           f = (struct hist_filter){.agent = agent, .item = -1, .from_ms = today, .limit = 50}),
          hist_query_executions(m, &f, &pg, &err));
    /* The 20th page of a job's history through cursors: no OFFSET scan. */
    {
        struct hist_filter g = {.job = "job-7", .item = -1, .limit = 50};
        cursor[0] = '\0';
        for (int p = 0; p < 19; p++) {
            g.cursor = cursor;
            hist_query_executions(m, &g, &pg, &err);
            snprintf(cursor, sizeof cursor, "%s", pg.next_cursor);
            hist_page_free(&pg);
        }
        TIMED("20th page of a job via cursor (50)", (g.cursor = cursor),
              hist_query_executions(m, &g, &pg, &err));
    }
    bool trunc;
    TIMED("open alert conditions, 24 h (the console's panels: 10 per job, 1000)", (void)0,
          hist_alert_open(m, now - 86400000, 10, 1000, &pg, &trunc, &err));
    TIMED("latest status of one job", (snprintf(job, sizeof job, "job-%d", rand() % 2000)),
          hist_latest_per_job(m, job, &pg, &err));
    {
        int few = iters < 20 ? iters : 20;
        int save = iters;
        iters = few;
        TIMED("latest status of every job (2000 jobs)", (void)0,
              hist_latest_per_job(m, NULL, &pg, &err));
        iters = save;
    }
    /* Story: pick ids from the data. */
    {
        struct hist_story s;
        for (int i = 0; i < iters; i++) {
            long long n = ((long long)rand() * 7919) % (rows_total ? rows_total : 1);
            snprintf(id, sizeof id, "%010llX-%lld", n, n % 16000);
            int64_t t0 = now_us();
            int rc = hist_story_get(m, id, &s, &err);
            us[i] = now_us() - t0;
            if (rc == 0)
                hist_story_free(&s);
            else if (i == 0)
                fprintf(stderr, "story %s: %s\n", id, err.msg);
        }
        report("execution story by id (row + trace + attempts)", us, iters, 1);
    }
    free(us);
    free(pw);
    mysql_close(m);
    mysql_library_end();
    return failures ? 1 : 0;
}
