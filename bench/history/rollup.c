/* bench/history/rollup.c: cost of hist_stats_rollup over the generated table.
 *
 *   rollup URL PASSWORD_FILE DAYS
 *
 * Rolls up the DAYS most recent UTC days (ending with the newest fire time in the
 * table) and prints the time per day and the rows written. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv)
{
    struct sc_err err;
    struct db_url url;
    long long maxfire = 0, rows = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: rollup URL PASSWORD_FILE DAYS\n");
        return 2;
    }
    char *pw = cfg_read_secret(argv[2], &err);
    if (!pw || db_url_parse(argv[1], &url, &err) < 0) {
        fprintf(stderr, "rollup: %s\n", err.msg);
        return 1;
    }
    MYSQL *m = db_connect(&url, pw, 300, &err);
    if (!m) {
        fprintf(stderr, "rollup: %s\n", err.msg);
        return 1;
    }
    db_query_int(m, "SELECT UNIX_TIMESTAMP(MAX(fire_time)) * 1000 FROM job_execution", &maxfire,
                 &err);
    int days = atoi(argv[3]);
    printf("| day | seconds | job_daily_stats rows for the day |\n|---|---:|---:|\n");
    for (int d = 0; d < days; d++) {
        int64_t day = (int64_t)maxfire - (int64_t)d * 86400000;
        int64_t t0 = now_us();
        if (hist_stats_rollup(m, day, &err) < 0) {
            fprintf(stderr, "rollup: %s\n", err.msg);
            return 1;
        }
        double s = (double)(now_us() - t0) / 1e6;
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM job_daily_stats WHERE day = DATE(FROM_UNIXTIME(%lld))",
                 (long long)(day / 1000));
        db_query_int(m, sql, &rows, &err);
        printf("| today - %d | %.2f | %lld |\n", d, s, rows);
    }
    free(pw);
    mysql_close(m);
    mysql_library_end();
    return 0;
}
