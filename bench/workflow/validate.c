/* bench/workflow/validate.c: how long wf_parse takes to parse and validate a
 * 5,000-task definition (WF_TASKS_MAX): names, kinds, every upstream link,
 * the order and the cycle check. Three shapes: a chain (each task names the
 * previous one), a fan-out 1 -> 4,998 -> 1 (the last task names 4,998
 * upstream), and 50 layers of 100 tasks each naming 3 of the layer before.
 * Prints one table; bench/workflow/run runs it. Issue 14 asks < 100 ms. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workflow/wf.h"

#define RUNS 20

/* CPU time of this (single) thread: steadier than wall time on a shared machine. */
static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct buf {
    char *s;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 64;
        char *grown = realloc(b->s, b->cap);
        if (!grown) {
            perror("realloc");
            exit(1);
        }
        b->s = grown;
    }
}

enum shape { CHAIN, FAN, LAYERS };

/* make: a definition of n command tasks "task-00000".. in the given shape. */
static char *make(enum shape sh, int n, long *edges)
{
    struct buf b = {malloc(1024), 0, 1024};
    *edges = 0;
    put(&b,
        "{\"name\":\"bench-%d\",\"cron\":\"0 0 1 * * ?\",\"timezone\":\"Asia/Shanghai\","
        "\"tasks\":{",
        sh);
    for (int i = 0; i < n; i++) {
        put(&b, "%s\"task-%05d\":{\"command\":\"/opt/etl/step.sh %d\",\"upstream\":[", i ? "," : "",
            i, i);
        if (sh == CHAIN && i > 0) {
            put(&b, "\"task-%05d\"", i - 1);
            ++*edges;
        } else if (sh == FAN && i > 0 && i < n - 1) {
            put(&b, "\"task-00000\"");
            ++*edges;
        } else if (sh == FAN && i == n - 1) {
            for (int k = 1; k < n - 1; k++, ++*edges)
                put(&b, "%s\"task-%05d\"", k > 1 ? "," : "", k);
        } else if (sh == LAYERS && i >= 100) {
            int base = (i / 100 - 1) * 100;
            for (int k = 0; k < 3; k++, ++*edges)
                put(&b, "%s\"task-%05d\"", k ? "," : "", base + (i * 7 + k * 31) % 100);
        }
        put(&b, "]%s}", sh == FAN && i == n - 1 ? ",\"trigger_rule\":\"all_done\"" : "");
    }
    put(&b, "}}");
    return b.s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    static const struct {
        enum shape sh;
        const char *name;
    } cases[] = {{CHAIN, "chain"}, {FAN, "fan-out 1->4998->1"}, {LAYERS, "50 layers x 100, 3 up"}};
    printf("wf_parse of %d-task definitions, %d runs each (CPU ms of one thread; wall median)\n",
           WF_TASKS_MAX, RUNS);
    printf("%-22s %7s %8s %9s %9s %9s %10s\n", "shape", "edges", "bytes", "median_ms", "max_ms",
           "wall_ms", "to_json_ms");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long edges;
        char *text = make(cases[c].sh, WF_TASKS_MAX, &edges);
        size_t len = strlen(text);
        double cpu[RUNS], wall[RUNS], out_ms = 0;
        for (int r = 0; r < RUNS; r++) {
            struct wf_def *d = NULL;
            struct sc_err err;
            double w0 = wall_ms(), c0 = cpu_ms();
            if (wf_parse(text, len, &d, &err) != 0) {
                fprintf(stderr, "%s: %s: %s\n", cases[c].name, err.field, err.msg);
                return 1;
            }
            cpu[r] = cpu_ms() - c0;
            wall[r] = wall_ms() - w0;
            if (r == 0) {
                double o0 = cpu_ms();
                free(wf_to_json(d));
                out_ms = cpu_ms() - o0;
            }
            wf_free(d);
        }
        qsort(cpu, RUNS, sizeof cpu[0], cmp_double);
        qsort(wall, RUNS, sizeof wall[0], cmp_double);
        printf("%-22s %7ld %8zu %9.2f %9.2f %9.2f %10.2f\n", cases[c].name, edges, len,
               (cpu[RUNS / 2 - 1] + cpu[RUNS / 2]) / 2, cpu[RUNS - 1],
               (wall[RUNS / 2 - 1] + wall[RUNS / 2]) / 2, out_ms);
        free(text);
    }
    return 0;
}
