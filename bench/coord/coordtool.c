/* bench/coord/coordtool.c: helpers for the coordination benchmark.
 *
 *   coordtool populate ZK NS NJOBS ITEMS [STRATEGY [CRON]]  create NJOBS jobs of ITEMS items
 *                                                    (pipelined async creates)
 *   coordtool applied ZK NS                          print "<epoch> <agents> <min applied>"
 *   coordtool wait ZK NS EPOCH NAGENTS DEADLINE_MS   wait until NAGENTS live agents have
 *                                                    applied >= EPOCH; print the ms waited,
 *                                                    the epoch, and ms since it was published
 *   coordtool epoch ZK NS                            print the published epoch
 *
 * It reads agent records from ZooKeeper (the acknowledgements themselves), so
 * it measures exactly what the protocol waits for. */
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/plan.h"
#include "registry/zk.h"
#include "registry/zkcli.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pending, failures;

static void created(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)arg;
    pending--;
    if (r->rc != ZOK && r->rc != ZNODEEXISTS)
        failures++;
}

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    (void)z, (void)st, (void)ctx;
}

static int populate(const char *zk, const char *ns, int njobs, int items, const char *strategy,
                    const char *cron)
{
    struct event_base *base;
    struct zkreg *z;
    struct sc_err err;
    struct timeval step = {0, 10000};
    evthread_use_pthreads();
    base = event_base_new();
    struct zkreg_opts o = {
        .hosts = zk, .ns = ns, .session_timeout_ms = 20000, .on_state = on_state};
    if (zkreg_open(base, &o, &z, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    while (zkreg_state(z) != ZKREG_CONNECTED) {
        event_base_loopexit(base, &step);
        event_base_dispatch(base);
    }
    pending = 1;
    zkreg_ensure(z, "/jobs", created, NULL);
    long long t0 = now_ms();
    for (int i = 0; i < njobs; i++) {
        char name[64], path[96], json[512];
        snprintf(name, sizeof name, "bench-%06d", i);
        snprintf(path, sizeof path, "/jobs/%s", name);
        int n = snprintf(json, sizeof json,
                         "{\"name\":\"%s\",\"cron\":\"%s\",\"command\":\"true\","
                         "\"shards\":%d,\"strategy\":\"%s\"}",
                         name, cron, items, strategy);
        pending++;
        if (zkreg_create(z, path, json, n, 0, created, NULL) != ZOK) {
            pending--;
            failures++;
        }
        while (pending > 2000) { /* bounded pipeline */
            event_base_loopexit(base, &step);
            event_base_dispatch(base);
        }
    }
    while (pending > 0) {
        event_base_loopexit(base, &step);
        event_base_dispatch(base);
    }
    fprintf(stderr, "created %d jobs in %lld ms (%d failures)\n", njobs, now_ms() - t0, failures);
    zkreg_close(z);
    event_base_free(base);
    return failures ? 1 : 0;
}

/* applied: epoch, live agents, min applied epoch over them; the snapshot's
 * member count in `members` (an epoch counts only once it has every live agent
 * as a member: agents join the membership when they are ready). */
static long long created_ms, last_ack_ms;
static int members;

static int read_applied(struct zkcli *k, long long *epoch, int *nagents, long long *min_applied)
{
    char *data = NULL, **ids = NULL;
    int len = 0, n = 0;
    struct plan_snapshot s = {0};
    struct sc_err err;
    *epoch = 0;
    if (zkcli_get(k, "/state/assignment", &data, &len, NULL) == ZOK &&
        plan_snapshot_parse(data, len, &s, &err) == 0) {
        *epoch = s.epoch;
        created_ms = s.created_ms;
        members = s.nmembers;
    }
    plan_snapshot_clear(&s);
    free(data);
    *min_applied = -1;
    last_ack_ms = 0;
    if (zkcli_children(k, "/agents", &ids, &n) != ZOK)
        return -1;
    *nagents = n;
    for (int i = 0; i < n; i++) {
        char path[256];
        struct plan_agent_rec r = {0};
        struct Stat st;
        snprintf(path, sizeof path, "/agents/%s", ids[i]);
        data = NULL;
        if (zkcli_get(k, path, &data, &len, &st) == ZOK &&
            plan_agent_parse(data, len, &r, &err) == 0) {
            if (st.mtime > last_ack_ms)
                last_ack_ms = st.mtime; /* the server's time of the newest record write */
            if (*min_applied < 0 || r.applied_epoch < *min_applied)
                *min_applied = r.applied_epoch;
        } else {
            *min_applied = 0;
        }
        plan_agent_clear(&r);
        free(data);
    }
    zkcli_free_children(ids, n);
    return 0;
}

int main(int argc, char **argv)
{
    struct sc_err err;
    if (argc >= 6 && strcmp(argv[1], "populate") == 0)
        return populate(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
                        argc > 6 ? argv[6] : "average", argc > 7 ? argv[7] : "0 0 0 * * ?");
    if (argc < 4) {
        fprintf(stderr, "usage: see bench/coord/coordtool.c\n");
        return 2;
    }
    struct zkcli *k = zkcli_open(argv[2], argv[3], NULL, 10000, &err);
    if (!k) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long long epoch = 0, min_applied = 0;
    int n = 0, rc = 0;
    if (strcmp(argv[1], "applied") == 0 || strcmp(argv[1], "epoch") == 0) {
        read_applied(k, &epoch, &n, &min_applied);
        if (argv[1][0] == 'a')
            printf("%lld %d %lld %d\n", epoch, n, min_applied, members);
        else
            printf("%lld\n", epoch);
    } else if (strcmp(argv[1], "wait") == 0 && argc >= 7) {
        long long want = atoll(argv[4]), t0 = now_ms(), deadline = atoll(argv[6]);
        int nagents = atoi(argv[5]);
        rc = 1;
        while (now_ms() - t0 < deadline) {
            if (read_applied(k, &epoch, &n, &min_applied) == 0 && epoch >= want && n == nagents &&
                members == nagents && min_applied >= epoch) {
                struct timespec rt;
                clock_gettime(CLOCK_REALTIME, &rt);
                /* waited ms, epoch, ms from the leader's publication to all applied
                 * as seen by this poller, and to the last acknowledgement's commit
                 * (the server's mtime of the newest record: no polling delay) */
                printf("%lld %lld %lld %lld\n", now_ms() - t0, epoch,
                       (long long)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 - created_ms,
                       last_ack_ms - created_ms);
                rc = 0;
                break;
            }
            /* Each poll reads every agent record: poll gently (10 ms) so the
             * observer does not load the server it measures. */
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (rc)
            printf("timeout epoch=%lld agents=%d min_applied=%lld\n", epoch, n, min_applied);
    }
    zkcli_close(k);
    return rc;
}
