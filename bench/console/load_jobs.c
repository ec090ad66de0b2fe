/* bench/console/load_jobs.c: create N jobs (job-0 ... job-N-1) under /jobs of a
 * namespace, fast: asynchronous creates through registry/zk with up to 2000 in
 * flight. Existing nodes count as done. Usage: load_jobs HOSTS NAMESPACE N */
#define LOG_CAT "shardcron.bench"
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "registry/zk.h"

struct loader {
    struct event_base *base;
    struct zkreg *z;
    long n, next, done, failed;
    int inflight;
    bool started;
};

static void pump(struct loader *l);

static void created(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct loader *l = arg;
    (void)z;
    l->inflight--;
    l->done++;
    if (r->rc != ZOK && r->rc != ZNODEEXISTS)
        l->failed++;
    pump(l);
}

static void pump(struct loader *l)
{
    static const char *const shapes[] = {"average", "odd_even", "round_robin", "balanced"};
    while (l->inflight < 2000 && l->next < l->n) {
        char path[64], data[512];
        long i = l->next++;
        snprintf(path, sizeof path, "/jobs/job-%ld", i);
        snprintf(
            data, sizeof data,
            "{\"name\":\"job-%ld\",\"cron\":\"%ld %ld * * * ?\",\"command\":\"/opt/jobs/run.sh\","
            "\"shards\":%ld,\"strategy\":\"%s\",\"domain\":\"d%ld\",\"level\":%ld,"
            "\"description\":\"benchmark job %ld\"}",
            i, i % 60, (i / 60) % 60, 1 + i % 8, shapes[i % 4], i % 20, i % 5, i);
        if (zkreg_create(l->z, path, data, (int)strlen(data), 0, created, l) == ZOK)
            l->inflight++;
        else
            l->failed++, l->done++;
    }
    if (l->done >= l->n)
        event_base_loopexit(l->base, NULL);
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z;
    (void)r;
    pump(arg);
}

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    struct loader *l = ctx;
    if (st == ZKREG_CONNECTED && !l->started) {
        l->started = true;
        zkreg_ensure(z, "/jobs", ensured, l);
    }
}

int main(int argc, char **argv)
{
    struct loader l = {0};
    struct sc_err err;
    if (argc != 4) {
        fprintf(stderr, "usage: load_jobs HOSTS NAMESPACE N\n");
        return 2;
    }
    log_init("load_jobs", NULL, "warn");
    evthread_use_pthreads();
    l.base = event_base_new();
    l.n = atol(argv[3]);
    struct zkreg_opts o = {.hosts = argv[1],
                           .ns = argv[2],
                           .session_timeout_ms = 30000,
                           .on_state = on_state,
                           .ctx = &l};
    if (zkreg_open(l.base, &o, &l.z, &err) < 0) {
        fprintf(stderr, "load_jobs: %s\n", err.msg);
        return 1;
    }
    event_base_dispatch(l.base);
    zkreg_close(l.z);
    event_base_free(l.base);
    log_fini();
    printf("created %ld jobs (%ld failed)\n", l.done - l.failed, l.failed);
    return l.failed ? 1 : 0;
}
