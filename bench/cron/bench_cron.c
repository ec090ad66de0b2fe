/* bench/cron/bench_cron.c: cost of one cron_next call for a fixed set of schedules.
 *
 *   bench_cron time            ns per call, median of 7 runs, every case
 *   bench_cron count CASE N    N calls of one case and nothing else, for
 *                              valgrind --tool=callgrind --toggle-collect=cron_next
 *
 * Each run calls cron_next from 4096 fixed pseudo-random instants in 2000-2100, so
 * the figure is an average over positions in the calendar, not one lucky spot. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"
#include "core/err.h"
#include "core/tz.h"

static const struct {
    const char *name, *expr, *zone;
} cases[] = {
    {"every-5-seconds", "0/5 * * * * ?", "UTC"},
    {"weekdays-07:00", "0 0 7 ? * MON-FRI", "UTC"},
    {"quarterly-day-30", "0 0 0 30 1,4,7,10 ?", "UTC"},
    {"month-end-L", "0 0 0 L * ?", "UTC"},
    {"third-friday", "0 0 10 ? * FRI#3", "UTC"},
    {"every-5-seconds-berlin", "0/5 * * * * ?", "Europe/Berlin"},
    {"daily-02:30-berlin", "0 30 2 * * ?", "Europe/Berlin"},
    {"weekdays-07:00-new-york", "0 0 7 ? * MON-FRI", "America/New_York"},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])
#define NSTARTS 4096

static int64_t starts[NSTARTS];

static void make_starts(void)
{
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < NSTARTS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        starts[i] = 946684800LL + (int64_t)(x % (100ULL * 365 * 86400)); /* 2000..2100 */
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int setup(int i, cron_expr **e, tz_zone **z)
{
    struct sc_err err;
    if (cron_parse(cases[i].expr, e, &err) < 0 || !(*z = tz_load(cases[i].zone, &err))) {
        fprintf(stderr, "%s: %s\n", cases[i].name, err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    volatile int64_t sink = 0;
    make_starts();
    if (argc == 4 && strcmp(argv[1], "count") == 0) {
        int i = atoi(argv[2]), n = atoi(argv[3]);
        cron_expr *e;
        tz_zone *z;
        if (i < 0 || i >= NCASES || setup(i, &e, &z) < 0)
            return 1;
        for (int k = 0; k < n; k++)
            sink += cron_next(e, starts[k % NSTARTS], z);
        cron_free(e);
        tz_free(z);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (int i = 0; i < NCASES; i++)
            printf("%d\t%s\t%s\t%s\n", i, cases[i].name, cases[i].expr, cases[i].zone);
        return 0;
    }
    if (argc != 2 || strcmp(argv[1], "time") != 0) {
        fprintf(stderr, "usage: bench_cron time | list | count CASE N\n");
        return 2;
    }
    for (int i = 0; i < NCASES; i++) {
        cron_expr *e;
        tz_zone *z;
        double runs[7];
        if (setup(i, &e, &z) < 0)
            return 1;
        for (int r = 0; r < 7; r++) {
            double t0 = now_ns();
            for (int rep = 0; rep < 50; rep++)
                for (int k = 0; k < NSTARTS; k++)
                    sink += cron_next(e, starts[k], z);
            runs[r] = (now_ns() - t0) / (50.0 * NSTARTS);
        }
        qsort(runs, 7, sizeof runs[0], cmp_double);
        printf("%d\t%s\t%s\t%s\t%.1f\n", i, cases[i].name, cases[i].expr, cases[i].zone, runs[3]);
        cron_free(e);
        tz_free(z);
    }
    (void)sink;
    return 0;
}
