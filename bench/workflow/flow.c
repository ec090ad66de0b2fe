/* bench/workflow/flow.c: workflow runs on real agents, measured from what the
 * tasks themselves logged (bench/workflow/run starts ZooKeeper and agents).
 *
 *   flow ZK NS LOG chain N RUNS     a chain of N one-item tasks, RUNS runs one
 *                                   after another: the hop latency (last
 *                                   upstream item ended -> first downstream
 *                                   item started), p50/p99/max
 *   flow ZK NS LOG fanout N         1 -> N-2 -> 1: wall time of one run
 *   flow ZK NS LOG concurrent R     R runs of a 10-task workflow at once
 *   flow ZK NS LOG big N [LIMIT]    a run of N tasks (layers of 100) while a
 *                                   10-task chain runs 5 times beside it: the
 *                                   big run's wall time and the chain's hops;
 *                                   LIMIT: the big one's max_running_tasks
 *   flow ZK NS LOG kill N PIDFILE   a run of N tasks in layers of 20 with the
 *                                   leader killed -9 in the middle: time from
 *                                   the kill to the first task started after it
 *
 * Every mode prints "key value" lines the run script turns into a table. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "registry/zkcli.h"
#include "workflow/wfzk.h"

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "flow: %s: %s\n", what, why);
    exit(1);
}

/* The log: "S|E task ns". */
struct ev {
    char kind;
    char task[64];
    char run[96];
    long long ns;
};

static struct ev *evs;
static int nevs, capevs;

static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[512];
    nevs = 0;
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f)) {
        if (nevs == capevs) {
            capevs = capevs ? capevs * 2 : 4096;
            evs = realloc(evs, (size_t)capevs * sizeof *evs);
            if (!evs)
                die("log", "out of memory");
        }
        struct ev *e = &evs[nevs];
        if (sscanf(buf, "%c %63s %95s %lld", &e->kind, e->task, e->run, &e->ns) == 4)
            nevs++;
    }
    fclose(f);
}

static const char *cmd(char *buf, size_t len, const char *log, const char *work)
{
    snprintf(buf, len,
             "echo S $SHARDCRON_TASK $SHARDCRON_RUN_ID $(date +%%s%%N) >> %s; %s"
             "echo E $SHARDCRON_TASK $SHARDCRON_RUN_ID $(date +%%s%%N) >> %s",
             log, work, log);
    return buf;
}

static void put(struct zkcli *k, const char *json)
{
    struct sc_err err = {0};
    if (wfzk_put(k, json, strlen(json), -1, &err) < 0) {
        char why[400];
        snprintf(why, sizeof why, "%s: %s", err.field, err.msg);
        die("put", why);
    }
}

static void trigger(struct zkcli *k, const char *wf, long long logical_ms, char *id, size_t len)
{
    cJSON *req = cJSON_CreateObject(), *res = NULL;
    struct sc_err err = {0};
    int status;
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", wf);
    if (logical_ms)
        cJSON_AddNumberToObject(req, "logical_ms", (double)logical_ms);
    if (wfzk_request(k, req, 30000, &res, &status, &err) < 0)
        die("trigger", err.msg);
    snprintf(id, len, "%s", cJSON_GetObjectItem(res, "run_id")->valuestring);
    cJSON_Delete(req);
    cJSON_Delete(res);
}

static const char *state_of(struct zkcli *k, const char *run)
{
    static char st[32];
    cJSON *o = NULL;
    struct sc_err err;
    st[0] = '\0';
    if (wfzk_read_run(k, run, &o, &err) == 0) {
        const cJSON *s = cJSON_GetObjectItem(o, "state");
        if (cJSON_IsString(s))
            snprintf(st, sizeof st, "%s", s->valuestring);
    }
    cJSON_Delete(o);
    return st;
}

static void wait_done(struct zkcli *k, const char *run, int timeout_s)
{
    long long t0 = now_ns();
    for (;;) {
        const char *st = state_of(k, run);
        if (!strcmp(st, "succeeded"))
            return;
        if (!strcmp(st, "failed") || !strcmp(st, "cancelled"))
            die(run, st);
        if (now_ns() - t0 > (long long)timeout_s * 1000000000LL)
            die(run, "not done in time");
        usleep(20000);
    }
}

/* def_layers: tasks t0..t(n-1); upstream of t_i: per shape. */
static int run_limit; /* max_running_tasks of the next def_build (0: none) */

static char *def_build(const char *name, int n, const char *shape, const char *log)
{
    size_t cap = (size_t)n * 400 + 4096, len = 0;
    char *d = malloc(cap), c[700];
    /* The commands are a script's name: 5,000 tasks of the full command
     * would not fit the one ZooKeeper node a definition is. */
    char script[600], body[800];
    snprintf(script, sizeof script, "%s.%s.sh", log, shape);
    cmd(body, sizeof body, log, strcmp(shape, "layers") == 0 ? "sleep 0.3; " : "");
    FILE *sf = fopen(script, "w");
    if (!sf)
        die("script", script);
    fprintf(sf, "%s\n", body);
    fclose(sf);
    snprintf(c, sizeof c, "sh %s", script);
    len += (size_t)snprintf(d + len, cap - len, "{\"name\":\"%s\",\"max_active_runs\":1000,", name);
    if (run_limit > 0)
        len += (size_t)snprintf(d + len, cap - len, "\"max_running_tasks\":%d,", run_limit);
    len += (size_t)snprintf(d + len, cap - len, "\"tasks\":{");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(d + len, cap - len, "%s\"t%d\":{\"command\":\"%s\"", i ? "," : "",
                                i, c);
        if (!strcmp(shape, "layers")) /* items on a killed agent run again */
            len += (size_t)snprintf(d + len, cap - len, ",\"retries\":1");
        if (!strcmp(shape, "chain") && i > 0) {
            len += (size_t)snprintf(d + len, cap - len, ",\"upstream\":[\"t%d\"]", i - 1);
        } else if (!strcmp(shape, "fanout") && i > 0 && i < n - 1) {
            len += (size_t)snprintf(d + len, cap - len, ",\"upstream\":[\"t0\"]");
        } else if (!strcmp(shape, "fanout") && i == n - 1) {
            len += (size_t)snprintf(d + len, cap - len, ",\"upstream\":[");
            for (int u = 1; u < n - 1; u++)
                len += (size_t)snprintf(d + len, cap - len, "%s\"t%d\"", u > 1 ? "," : "", u);
            len += (size_t)snprintf(d + len, cap - len, "]");
        } else if (!strcmp(shape, "layers") && i >= 20) {
            len += (size_t)snprintf(d + len, cap - len, ",\"upstream\":[\"t%d\"]", i - 20);
        } else if (!strcmp(shape, "wide") && i >= 100) {
            len += (size_t)snprintf(d + len, cap - len, ",\"upstream\":[\"t%d\"]", i - 100);
        }
        len += (size_t)snprintf(d + len, cap - len, "}");
    }
    snprintf(d + len, cap - len, "}}");
    return d;
}

/* zxid: the server's transaction counter now (a write to a probe node). */
static long long zxid(struct zkcli *k)
{
    struct Stat st;
    memset(&st, 0, sizeof st);
    if (zkcli_set(k, "/bench-probe", "x", 1, -1, &st) == ZNONODE) {
        zkcli_create(k, "/bench-probe", "x", 1, 0, NULL, 0);
        zkcli_set(k, "/bench-probe", "x", 1, -1, &st);
    }
    return (long long)st.mzxid;
}

/* idle: wait, keeping the session alive (zkcli talks only during calls). */
static void idle(struct zkcli *k, int secs)
{
    for (int i = 0; i < secs * 2; i++) {
        usleep(500000);
        zkcli_exists(k, "/workflows", NULL);
    }
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long find(char kind, const char *run, const char *task, int want_max)
{
    long long t = 0;
    for (int i = 0; i < nevs; i++)
        if (evs[i].kind == kind && !strcmp(evs[i].task, task) && !strcmp(evs[i].run, run) &&
            (!t || (want_max ? evs[i].ns > t : evs[i].ns < t)))
            t = evs[i].ns;
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 6)
        die("usage", "flow ZK NS LOG chain|fanout|concurrent|kill N [RUNS|PIDFILE]");
    const char *zkhosts = argv[1], *ns = argv[2], *log = argv[3], *mode = argv[4];
    int n = atoi(argv[5]);
    struct sc_err err;
    struct zkcli *k = zkcli_open(zkhosts, ns, NULL, 10000, &err);
    if (!k)
        die("zk", err.msg);
    char id[128];
    if (!strcmp(mode, "chain")) {
        int runs = argc > 6 ? atoi(argv[6]) : 1;
        char *d = def_build("chain", n, "chain", log);
        put(k, d);
        free(d);
        idle(k, 2); /* the task jobs are created and assigned */
        long long *hops = calloc((size_t)(n * runs), sizeof *hops);
        int nh = 0;
        char ids[64][128];
        for (int r = 0; r < runs && r < 64; r++) {
            trigger(k, "chain", (long long)(1000000 + r) * 1000, ids[r], sizeof ids[r]);
            wait_done(k, ids[r], 600);
        }
        load(log);
        for (int r = 0; r < runs && r < 64; r++)
            for (int i = 1; i < n; i++) {
                char a[16], b[16];
                snprintf(a, sizeof a, "t%d", i - 1);
                snprintf(b, sizeof b, "t%d", i);
                long long e = find('E', ids[r], a, 1), s = find('S', ids[r], b, 0);
                if (e && s)
                    hops[nh++] = s - e;
            }
        qsort(hops, (size_t)nh, sizeof *hops, cmp_ll);
        printf("hops %d\np50_ms %.1f\np99_ms %.1f\nmax_ms %.1f\n", nh, hops[nh / 2] / 1e6,
               hops[(nh * 99) / 100] / 1e6, hops[nh - 1] / 1e6);
        free(hops);
    } else if (!strcmp(mode, "fanout") || !strcmp(mode, "concurrent")) {
        bool fan = !strcmp(mode, "fanout");
        char *d = def_build(fan ? "fan" : "ten", fan ? n : 10, fan ? "fanout" : "chain", log);
        put(k, d);
        free(d);
        idle(k, fan ? 5 : 2);
        int runs = fan ? 1 : n;
        char(*ids)[128] = calloc((size_t)runs, sizeof *ids);
        long long t0 = now_ns(), z0 = zxid(k);
        for (int r = 0; r < runs; r++)
            trigger(k, fan ? "fan" : "ten", (long long)(2000000 + r) * 1000, ids[r], sizeof ids[r]);
        for (int r = 0; r < runs; r++)
            wait_done(k, ids[r], 900);
        long long wall = now_ns() - t0;
        idle(k, 2); /* the last results' cleanup (trigger removal) counts too */
        long long z1 = zxid(k);
        int tasks = fan ? n : 10 * runs;
        /* minus the probe write and this tool's requests (a create and a delete each) */
        printf("wall_ms %.0f\ntasks %d\nwrites %lld\n", wall / 1e6, tasks,
               z1 - z0 - 1 - 2LL * runs);
        free(ids);
    } else if (!strcmp(mode, "big")) {
        run_limit = argc > 6 ? atoi(argv[6]) : 0;
        char *d = def_build("big", n, "wide", log);
        run_limit = 0;
        put(k, d);
        free(d);
        d = def_build("small", 10, "chain", log);
        put(k, d);
        free(d);
        /* the task jobs are created and assigned: wait for the last one */
        char last[64];
        snprintf(last, sizeof last, "/jobs/wf.big.t%d", n - 1);
        for (int i = 0; i < 600 && zkcli_exists(k, last, NULL) != ZOK; i++)
            usleep(100000);
        idle(k, 10);
        char big[128], small[5][128];
        long long t0 = now_ns();
        trigger(k, "big", 4000000000LL, big, sizeof big);
        for (int r = 0; r < 5; r++) {
            trigger(k, "small", (long long)(5000000 + r) * 1000, small[r], sizeof small[r]);
            wait_done(k, small[r], 600);
        }
        const char *bst = state_of(k, big);
        bool big_running = strcmp(bst, "succeeded") != 0;
        wait_done(k, big, 1800);
        long long wall = now_ns() - t0;
        load(log);
        long long hops[64] = {0};
        int nh = 0;
        for (int r = 0; r < 5; r++)
            for (int i = 1; i < 10; i++) {
                char a[16], b[16];
                snprintf(a, sizeof a, "t%d", i - 1);
                snprintf(b, sizeof b, "t%d", i);
                long long e = find('E', small[r], a, 1), st = find('S', small[r], b, 0);
                if (e && st)
                    hops[nh++] = st - e;
            }
        qsort(hops, (size_t)nh, sizeof *hops, cmp_ll);
        printf("tasks %d\nbig_wall_ms %.0f\nsmall_done_during_big %d\nhops %d\np50_ms %.1f\n"
               "p99_ms %.1f\nmax_ms %.1f\n",
               n, wall / 1e6, big_running, nh, hops[nh / 2] / 1e6, hops[(nh * 99) / 100] / 1e6,
               hops[nh - 1] / 1e6);
    } else if (!strcmp(mode, "kill")) {
        char *d = def_build("lk", n, "layers", log);
        FILE *pf = argc > 6 ? fopen(argv[6], "r") : NULL;
        char aid[64];
        int pid = 0, leader_pid = 0;
        char leader[64] = "";
        char **ch = NULL;
        int nch = 0;
        put(k, d);
        free(d);
        idle(k, 5);
        /* The leader: the lowest election node's data. */
        if (zkcli_children(k, "/election", &ch, &nch) == ZOK && nch > 0) {
            char *best = NULL;
            for (int i = 0; i < nch; i++) {
                const char *s = strrchr(ch[i], '_');
                if (!best || strcmp(s, strrchr(best, '_')) < 0)
                    best = ch[i];
            }
            char path[300], *data = NULL;
            int len = 0;
            snprintf(path, sizeof path, "/election/%s", best);
            if (zkcli_get(k, path, &data, &len, NULL) == ZOK && data)
                snprintf(leader, sizeof leader, "%.*s", len, data);
            free(data);
            zkcli_free_children(ch, nch);
        }
        while (pf && fscanf(pf, "%63s %d", aid, &pid) == 2)
            if (!strcmp(aid, leader))
                leader_pid = pid;
        if (pf)
            fclose(pf);
        if (!leader_pid)
            die("kill", "the leader's pid is not known");
        trigger(k, "lk", 0, id, sizeof id);
        /* Kill once about half the tasks have started. */
        for (;;) {
            load(log);
            int started = 0;
            for (int i = 0; i < nevs; i++)
                started += evs[i].kind == 'S' && !strcmp(evs[i].run, id);
            if (started >= n / 2)
                break;
            usleep(5000);
        }
        long long tk = now_ns();
        kill(leader_pid, SIGKILL);
        wait_done(k, id, 600);
        load(log);
        /* Resumed: the first start of a task whose upstream ended after the
         * kill (a start only the new driver could make). */
        long long first = 0;
        int starts = 0;
        for (int i = 0; i < nevs; i++) {
            if (strcmp(evs[i].run, id) || evs[i].kind != 'S')
                continue;
            starts++;
            int t = atoi(evs[i].task + 1);
            char up[16];
            snprintf(up, sizeof up, "t%d", t - 20);
            long long ue = t >= 20 ? find('E', id, up, 1) : 0;
            if (ue > tk && (!first || evs[i].ns < first))
                first = evs[i].ns;
        }
        printf("leader %s\nresume_ms %.0f\nstarts %d\ntasks %d\n", leader, (first - tk) / 1e6,
               starts, n);
    } else {
        die("mode", mode);
    }
    zkcli_close(k);
    return 0;
}
