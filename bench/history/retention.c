/* bench/history/retention.c: rate of hist_retention_run's chunked deletes.
 *
 *   retention URL PASSWORD_FILE DAYS
 *
 * Deletes executions older than DAYS in 5000-row chunks until none are left and
 * prints rows/s and the slowest chunk call (how long one call holds locks). */
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
    if (argc != 4) {
        fprintf(stderr, "usage: retention URL PASSWORD_FILE DAYS\n");
        return 2;
    }
    char *pw = cfg_read_secret(argv[2], &err);
    if (!pw || db_url_parse(argv[1], &url, &err) < 0) {
        fprintf(stderr, "retention: %s\n", err.msg);
        return 1;
    }
    MYSQL *m = db_connect(&url, pw, 60, &err);
    if (!m) {
        fprintf(stderr, "retention: %s\n", err.msg);
        return 1;
    }
    uint64_t total = 0, n;
    int64_t worst = 0, t0 = now_us();
    int64_t wall = (int64_t)time(NULL) * 1000;
    do {
        int64_t s = now_us();
        /* One chunk per call, so the worst call time is the longest lock hold. */
        if (hist_retention_run(m, (unsigned)atoi(argv[3]), wall, 5000, 1, &n, &err) < 0) {
            fprintf(stderr, "retention: %s\n", err.msg);
            return 1;
        }
        int64_t d = now_us() - s;
        worst = d > worst ? d : worst;
        total += n;
    } while (n > 0);
    double secs = (double)(now_us() - t0) / 1e6;
    printf(
        "| rows deleted | seconds | rows/s | slowest 5000-row call ms |\n|---:|---:|---:|---:|\n");
    printf("| %" PRIu64 " | %.1f | %.0f | %.1f |\n", total, secs, (double)total / secs,
           (double)worst / 1000.0);
    free(pw);
    mysql_close(m);
    mysql_library_end();
    return 0;
}
