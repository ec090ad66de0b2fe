/* bench/web/seed_runs.c: the data of the web pages' benchmark (bench/web/run):
 * a layered workflow of N tasks and RUNS runs of it in ZooKeeper, as a driver
 * leaves them (/wfruns/<id> and one t/<task> node per task), without running
 * anything: the pages and the API read these nodes as they read a driver's.
 *
 *   seed_runs def NAME N                 the definition (JSON) on stdout
 *   seed_runs runs HOSTS NS NAME N RUNS  create the runs (newest: running)
 *
 * Tasks t0000...: 50 layers of N/50, each task after two of the layer before.
 * Creates are asynchronous through registry/zk, up to 2000 in flight; one
 * session applies them in order, so a parent always precedes its children. */
#define LOG_CAT "shardcron.bench"
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "registry/zk.h"
#include "registry/zkcli.h"
#include "workflow/wfzk.h"

#define LAYERS 50
#define DAY_MS 86400000LL

struct seeder {
    struct event_base *base;
    struct zkreg *z;
    const char *name;
    long n, runs;
    long next, total; /* next node to create: per run 2 + n */
    long done, failed;
    int inflight;
    bool started;
    long long base_ms;
};

static void print_def(const char *name, long n)
{
    long w = n / LAYERS > 0 ? n / LAYERS : 1;
    printf("{\"name\":\"%s\",\"cron\":\"0 0 1 * * ?\",\"timezone\":\"UTC\",\"tasks\":{", name);
    for (long i = 0; i < n; i++) {
        long l = i / w;
        printf("%s\"t%04ld\":{\"command\":\"true\"", i ? "," : "", i);
        if (l > 0) {
            long a = (l - 1) * w + i % w, b = (l - 1) * w + (i * 7) % w;
            if (a == b)
                printf(",\"upstream\":[\"t%04ld\"]", a);
            else
                printf(",\"upstream\":[\"t%04ld\",\"t%04ld\"]", a, b);
        }
        printf("}");
    }
    printf("}}\n");
}

/* task_state: what task i of run r holds. Run 0 is running (60% of the
 * layers done, one running, the rest waiting); every fifth run failed in
 * one task with its column of the last layers upstream_failed. */
static const char *task_state(const struct seeder *s, long r, long i)
{
    long w = s->n / LAYERS > 0 ? s->n / LAYERS : 1, l = i / w;
    if (i % 97 == 5)
        return "skipped";
    if (r == 0)
        return l < LAYERS * 6 / 10 ? "succeeded" : l == LAYERS * 6 / 10 ? "running" : "waiting";
    if (r % 5 == 3 && i % w == r % w && l >= LAYERS - 10)
        return l == LAYERS - 10 ? "failed" : "upstream_failed";
    return "succeeded";
}

static void created(struct zkreg *z, const struct zkreg_result *r, void *arg);

static void pump(struct seeder *s)
{
    while (s->inflight < 2000 && s->next < s->total) {
        char id[WFZK_RUN_ID_MAX + 1], path[400], data[512];
        long k = s->next++, r = k / (s->n + 2), j = k % (s->n + 2);
        long long lms = s->base_ms - r * DAY_MS;
        wfzk_run_id(id, sizeof id, s->name, lms);
        data[0] = '\0';
        if (j == 0) {
            snprintf(path, sizeof path, WFZK_RUNS "/%s", id);
            snprintf(
                data, sizeof data,
                "{\"workflow\":\"%s\",\"state\":\"%s\",\"trigger\":\"scheduled\","
                "\"logical_ms\":%lld,\"created_ms\":%lld,\"started_ms\":%lld,\"ended_ms\":%lld,"
                "\"params\":{}}",
                s->name,
                r == 0       ? "running"
                : r % 5 == 3 ? "failed"
                             : "succeeded",
                lms, lms, lms, r == 0 ? 0 : lms + LAYERS * 60000LL);
        } else if (j == 1) {
            snprintf(path, sizeof path, WFZK_RUNS "/%s/t", id);
        } else {
            long i = j - 2, w = s->n / LAYERS > 0 ? s->n / LAYERS : 1, l = i / w;
            const char *st = task_state(s, r, i);
            bool ran =
                strcmp(st, "waiting") && strcmp(st, "skipped") && strcmp(st, "upstream_failed");
            bool ended = ran && strcmp(st, "running");
            snprintf(path, sizeof path, WFZK_RUNS "/%s/t/t%04ld", id, i);
            snprintf(data, sizeof data,
                     "{\"state\":\"%s\",\"attempt\":%d,\"started_ms\":%lld,\"ended_ms\":%lld,"
                     "\"reason\":\"%s\"}",
                     st, ran ? 1 : 0, ran ? lms + l * 60000LL + (i % w) * 100 : 0,
                     ended ? lms + l * 60000LL + (i % w) * 100 + 30000 + (i % 13) * 1000 : 0,
                     !strcmp(st, "failed") ? "item 0 failed" : "");
        }
        if (zkreg_create(s->z, path, data, (int)strlen(data), 0, created, s) == ZOK)
            s->inflight++;
        else
            s->failed++, s->done++;
    }
    if (s->done >= s->total)
        event_base_loopexit(s->base, NULL);
}

static void created(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct seeder *s = arg;
    (void)z;
    s->inflight--;
    s->done++;
    if (r->rc != ZOK && r->rc != ZNODEEXISTS)
        s->failed++;
    pump(s);
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z;
    (void)r;
    pump(arg);
}

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    struct seeder *s = ctx;
    if (st == ZKREG_CONNECTED && !s->started) {
        s->started = true;
        zkreg_ensure(z, WFZK_RUNS, ensured, s);
    }
}

int main(int argc, char **argv)
{
    struct seeder s = {0};
    struct sc_err err;
    if (argc == 4 && !strcmp(argv[1], "def")) {
        print_def(argv[2], atol(argv[3]));
        return 0;
    }
    if (argc != 7 || strcmp(argv[1], "runs")) {
        fprintf(stderr, "usage: seed_runs def NAME N | seed_runs runs HOSTS NS NAME N RUNS\n");
        return 2;
    }
    log_init("seed_runs", NULL, "warn");
    evthread_use_pthreads();
    s.base = event_base_new();
    s.name = argv[4];
    s.n = atol(argv[5]);
    s.runs = atol(argv[6]);
    s.total = s.runs * (s.n + 2);
    s.base_ms = 1796774400000LL; /* 2026-12-09T00:00:00Z, the newest logical time */
    struct zkreg_opts o = {.hosts = argv[2],
                           .ns = argv[3],
                           .session_timeout_ms = 30000,
                           .on_state = on_state,
                           .ctx = &s};
    if (zkreg_open(s.base, &o, &s.z, &err) < 0) {
        fprintf(stderr, "seed_runs: %s\n", err.msg);
        return 1;
    }
    event_base_dispatch(s.base);
    zkreg_close(s.z);
    event_base_free(s.base);
    /* as the driver leaves them: t/ set with its task writes (wfzk_run_sig) */
    struct zkcli *k = s.failed ? NULL : zkcli_open(argv[2], argv[3], NULL, 30000, &err);
    for (long r = 0; k && r < s.runs; r++) {
        char id[WFZK_RUN_ID_MAX + 1], path[400];
        wfzk_run_id(id, sizeof id, s.name, s.base_ms - r * DAY_MS);
        snprintf(path, sizeof path, WFZK_RUNS "/%s/t", id);
        if (zkcli_set(k, path, "", 0, -1, NULL) != ZOK)
            s.failed++;
    }
    zkcli_close(k);
    log_fini();
    printf("created %ld nodes (%ld failed)\n", s.done - s.failed, s.failed);
    return s.failed ? 1 : 0;
}
