/* tests/integration/test_guard.c: the on-paper claims about the execution
 * guard (docs/coordination.md, "Claims checked"), each against real agents and
 * a real ZooKeeper, each judged from what the job itself wrote:
 *
 *   group     SIGSTOP the running agent's whole process group past the
 *             session timeout: the shell job (and its children) logs no
 *             heartbeat past the lease deadline, and the other agent takes
 *             the item over after it stopped;
 *   replaced  the watchdog is stopped, then killed -9: the agent replaces it
 *             each time, and the replacement still kills the job of the
 *             frozen agent by the lease deadline;
 *   java      a Java run reports its worker's pid, and with its agent frozen
 *             past the session timeout it stops by the lease deadline (the
 *             worker is killed) before the other agent runs the item;
 *   java-timeout  a Java run that ignores its cancel dies at its timeout
 *             plus the cancel grace (the worker is killed);
 *   reconnect an agent frozen between ZooKeeper's answer to its reconnect
 *             (same session) and its loop handling CONNECTED, past the
 *             session timeout: on resume it starts nothing (the lease is not
 *             renewed by the late CONNECTED), and no fire runs twice.
 *
 * The heartbeat jobs append "MS PID EXEC_ID ITEM" every 100 ms (wall clock
 * ms, the process that runs the job). Waits poll with deadlines. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/jobops.h"
#include "registry/zkcli.h"
#include "tests/lib/agents.h"
#include "tests/lib/runlog.h"
#include "tests/lib/testenv.h"

#define SESSION_MS 2000
/* Past the lease deadline (at most the freeze + T), a heartbeat may still be
 * written by a job between two of the watchdog's looks (20 ms) and its own
 * 100 ms step; more than this is a job that outlived the lease. */
#define BEAT_SLACK_MS 300
#define MAX_BEATS 20000

struct beat {
    long long ms;
    int pid;
    char id[64];
};

static struct beat beats[MAX_BEATS];

struct fx {
    struct ta_cluster c;
    char beats[512];
};

static void fx_init(struct fx *f, const char *tag)
{
    memset(f, 0, sizeof *f);
    snprintf(f->c.ns, sizeof f->c.ns, "it_guard_%s_%d", tag, (int)getpid());
    f->c.session_ms = SESSION_MS;
    f->c.own_group = true;
    snprintf(f->beats, sizeof f->beats, "%s/%s.beats", tenv("SC_TEST_TMP"), f->c.ns);
    unlink(f->beats);
}

/* wall_ms: the clock the jobs stamp their heartbeats with. */
static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void put_job(struct fx *f, const char *name, const char *json)
{
    struct sc_err err;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), f->c.ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    assert_int_equal(zkcli_job_create(k, name, json, (int)strlen(json)), ZOK);
    zkcli_close(k);
}

/* shell_job: every second, one run at a time (forbid), a shell loop whose
 * children (date, sleep) write the heartbeat: it never ends by itself. */
static void shell_job(struct fx *f, const char *name)
{
    char job[2048];
    snprintf(job, sizeof job,
             "{\"name\":\"%s\",\"cron\":\"* * * * * ?\",\"shards\":1,\"concurrency\":\"forbid\","
             "\"command\":\"while :; do echo \\\"$(date +%%s%%3N) $$ $SHARDCRON_EXECUTION_ID "
             "$SHARDCRON_SHARD_ITEM\\\" >> %s; sleep 0.1; done\"}",
             name, f->beats);
    put_job(f, name, job);
}

static int load_beats(const char *path)
{
    FILE *fp = fopen(path, "r");
    int n = 0;
    if (!fp)
        return 0;
    char line[256];
    while (n < MAX_BEATS && fgets(line, sizeof line, fp)) {
        struct beat *b = &beats[n];
        int item;
        if (sscanf(line, "%lld %d %63s %d", &b->ms, &b->pid, b->id, &item) == 4)
            n++;
    }
    fclose(fp);
    return n;
}

/* last_of / first_of: the last (first) heartbeat of execution `id`; 0 none. */
static long long last_of(int n, const char *id)
{
    long long t = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(beats[i].id, id) && beats[i].ms > t)
            t = beats[i].ms;
    return t;
}

static long long first_other(int n, const char *id)
{
    long long t = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(beats[i].id, id) && (!t || beats[i].ms < t))
            t = beats[i].ms;
    return t;
}

/* run_of: the one run in agent i's /status "runs" (execution id, pid); false
 * when it has none. */
static bool run_of(struct fx *f, int i, char *id, size_t len, int *pid)
{
    cJSON *st = ta_status(&f->c, i);
    const cJSON *runs = st ? cJSON_GetObjectItem(st, "runs") : NULL;
    const cJSON *r = cJSON_IsArray(runs) ? cJSON_GetArrayItem(runs, 0) : NULL;
    bool ok = false;
    if (r) {
        const cJSON *e = cJSON_GetObjectItem(r, "execution_id");
        const cJSON *p = cJSON_GetObjectItem(r, "pid");
        if (cJSON_IsString(e) && cJSON_IsNumber(p)) {
            snprintf(id, len, "%s", e->valuestring);
            *pid = p->valueint;
            ok = true;
        }
    }
    cJSON_Delete(st);
    return ok;
}

struct running {
    struct fx *f;
    int agent; /* out: who runs it */
    char id[64];
    int pid;
};

/* some_run_beats: one agent reports a run and the job logged a heartbeat for it */
static bool some_run_beats(void *arg)
{
    struct running *w = arg;
    for (int i = 0; i < w->f->c.n; i++)
        if (!w->f->c.a[i].stopped && run_of(w->f, i, w->id, sizeof w->id, &w->pid) &&
            last_of(load_beats(w->f->beats), w->id) > 0) {
            w->agent = i;
            return true;
        }
    return false;
}

struct other_wait {
    const char *path, *id;
};

static bool other_beats(void *arg)
{
    struct other_wait *w = arg;
    return first_other(load_beats(w->path), w->id) > 0;
}

static int status_num(struct fx *f, int i, const char *obj, const char *key)
{
    cJSON *st = ta_status(&f->c, i);
    const cJSON *o = st ? cJSON_GetObjectItem(st, obj) : NULL;
    const cJSON *v = o ? cJSON_GetObjectItem(o, key) : NULL;
    int x = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(st);
    return x;
}

/* freeze_and_check: the run `r` must stop by the lease deadline of its agent,
 * frozen at `t0` (at most t0 + T), and the other agent's run must start only
 * after it stopped. */
static void check_stopped_by_deadline(struct fx *f, const struct running *r, long long t0,
                                      const char *what)
{
    struct other_wait ow = {f->beats, r->id};
    /* The other agent takes the item over: T, then an epoch or two. */
    if (!tenv_wait(other_beats, &ow, SESSION_MS + 20000, 100))
        fail_msg("%s: the other agent never ran the item", what);
    pause_ms(1000); /* a frozen run that survived would go on logging meanwhile */
    int n = load_beats(f->beats);
    long long last = last_of(n, r->id), next = first_other(n, r->id);
    fprintf(stderr,
            "   %s: last heartbeat of the frozen agent's run %lld ms after the freeze (lease "
            "deadline at most %d ms), the new owner's first %lld ms after it\n",
            what, last - t0, SESSION_MS, next - t0);
    if (last > t0 + SESSION_MS + BEAT_SLACK_MS)
        fail_msg("%s: the frozen agent's run went on %lld ms after the freeze (session %d ms)",
                 what, last - t0, SESSION_MS);
    if (next <= last)
        fail_msg("%s: the new owner's run started (%lld) while the old one still ran (%lld)", what,
                 next, last);
}

static void fx_finish(struct fx *f, const char *what)
{
    char san[900];
    ta_stop_all(&f->c);
    if (ta_sanitizer_reports(&f->c, san, sizeof san))
        fail_msg("%s: sanitizer report in an agent: %s", what, san);
}

/* ---------------------------------------------------------------- group */

static void test_group_freeze(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, "group");
    assert_true(ta_start(&f.c, "g1", NULL) >= 0);
    assert_true(ta_start(&f.c, "g2", NULL) >= 0);
    shell_job(&f, "hb");
    struct running r = {&f, -1, "", 0};
    assert_true(tenv_wait(some_run_beats, &r, 30000, 100));
    /* /status names the process that writes the heartbeat (the job's shell). */
    int n = load_beats(f.beats);
    bool pid_seen = false;
    for (int i = 0; i < n; i++)
        pid_seen |= !strcmp(beats[i].id, r.id) && beats[i].pid == r.pid;
    if (!pid_seen || r.pid <= 0)
        fail_msg("/status reports pid %d for %s, not the job's", r.pid, r.id);
    /* The whole group: the agent and everything that shares its group. */
    long long t0 = wall_ms();
    ta_kill_group(&f.c, r.agent, SIGSTOP);
    check_stopped_by_deadline(&f, &r, t0, "agent group frozen");
    ta_kill_group(&f.c, r.agent, SIGCONT);
    fx_finish(&f, "agent group frozen");
}

/* ---------------------------------------------------------------- replaced */

struct replaced {
    struct fx *f;
    int agent, restarts;
};

static bool watchdog_replaced(void *arg)
{
    struct replaced *w = arg;
    return status_num(w->f, w->agent, "watchdog", "restarts") >= w->restarts &&
           status_num(w->f, w->agent, "watchdog", "pid") > 0;
}

static void test_watchdog_replaced(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, "repl");
    assert_true(ta_start(&f.c, "r1", NULL) >= 0);
    assert_true(ta_start(&f.c, "r2", NULL) >= 0);
    shell_job(&f, "hb");
    struct running r = {&f, -1, "", 0};
    assert_true(tenv_wait(some_run_beats, &r, 30000, 100));
    /* A stopped watchdog, then a dead one: each is replaced. */
    int wd = status_num(&f, r.agent, "watchdog", "pid");
    assert_true(wd > 0);
    kill(wd, SIGSTOP);
    struct replaced rw = {&f, r.agent, 1};
    assert_true(tenv_wait(watchdog_replaced, &rw, 5000, 50));
    int wd2 = status_num(&f, r.agent, "watchdog", "pid");
    assert_true(wd2 > 0 && wd2 != wd);
    kill(wd2, SIGKILL);
    rw.restarts = 2;
    assert_true(tenv_wait(watchdog_replaced, &rw, 5000, 50));
    int wd3 = status_num(&f, r.agent, "watchdog", "pid");
    fprintf(stderr, "   watchdog %d stopped -> %d, killed -> %d\n", wd, wd2, wd3);
    assert_true(wd3 > 0 && wd3 != wd2);
    /* The run went on meanwhile (the guard holds its group), and the
     * replacement still kills it when the agent freezes. */
    assert_true(last_of(load_beats(f.beats), r.id) > 0);
    long long t0 = wall_ms();
    ta_kill(&f.c, r.agent, SIGSTOP);
    check_stopped_by_deadline(&f, &r, t0, "replaced watchdog, agent frozen");
    ta_kill(&f.c, r.agent, SIGCONT);
    fx_finish(&f, "replaced watchdog");
}

/* ---------------------------------------------------------------- java */

static const char *jar_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s/build/java/shardcron-java.jar", tenv("SC_ROOT"));
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void java_job(struct fx *f, const char *name, int timeout_s)
{
    char job[2048];
    snprintf(job, sizeof job,
             "{\"name\":\"%s\",\"cron\":\"* * * * * ?\",\"shards\":1,\"concurrency\":\"forbid\","
             "\"type\":\"java\",\"java\":{\"class\":\"io.shardcron.examples.Example\","
             "\"jvm_opts\":\"-Xmx64m\"},\"job_param\":\"beat:%s\",\"timeout_s\":%d}",
             name, f->beats, timeout_s);
    put_job(f, name, job);
}

static void test_java_frozen(void **state)
{
    (void)state;
    struct fx f;
    char jar[600];
    if (!jar_path(jar, sizeof jar))
        fail_msg("%s/build/java/shardcron-java.jar not built (make builds it with a JDK)",
                 tenv("SC_ROOT"));
    const char *extra[] = {"--java-jar", jar, NULL};
    fx_init(&f, "java");
    assert_true(ta_start(&f.c, "j1", extra) >= 0);
    assert_true(ta_start(&f.c, "j2", extra) >= 0);
    java_job(&f, "jhb", 0);
    struct running r = {&f, -1, "", 0};
    assert_true(tenv_wait(some_run_beats, &r, 60000, 100));
    /* A Java run is a thread of its worker JVM: /status names that process. */
    int n = load_beats(f.beats), jvm = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(beats[i].id, r.id))
            jvm = beats[i].pid;
    fprintf(stderr, "   java run %s: /status pid %d, the job's JVM %d\n", r.id, r.pid, jvm);
    if (r.pid <= 0 || r.pid != jvm)
        fail_msg("/status reports pid %d for the java run %s; its JVM is %d", r.pid, r.id, jvm);
    long long t0 = wall_ms();
    ta_kill(&f.c, r.agent, SIGSTOP);
    check_stopped_by_deadline(&f, &r, t0, "java job, agent frozen");
    ta_kill(&f.c, r.agent, SIGCONT);
    fx_finish(&f, "java job, agent frozen");
}

struct beats_of {
    const char *path, *id;
};

static bool beats_stopped(void *arg)
{
    struct beats_of *w = arg;
    long long last = last_of(load_beats(w->path), w->id);
    return last > 0 && wall_ms() - last > 1000;
}

static void test_java_timeout(void **state)
{
    (void)state;
    struct fx f;
    char jar[600];
    if (!jar_path(jar, sizeof jar))
        fail_msg("%s/build/java/shardcron-java.jar not built", tenv("SC_ROOT"));
    const char *extra[] = {"--java-jar", jar, NULL};
    fx_init(&f, "jto");
    assert_true(ta_start(&f.c, "t1", extra) >= 0);
    int timeout_s = 2, grace_ms = 5000; /* javaw's cancel grace */
    java_job(&f, "jto", timeout_s);
    struct running r = {&f, -1, "", 0};
    assert_true(tenv_wait(some_run_beats, &r, 60000, 100));
    /* The job ignores its cancel: the worker goes at timeout + grace. */
    struct beats_of w = {f.beats, r.id};
    assert_true(tenv_wait(beats_stopped, &w, (timeout_s * 1000 + grace_ms) * 2 + 5000, 100));
    int n = load_beats(f.beats);
    long long first = 0, last = last_of(n, r.id);
    for (int i = 0; i < n; i++)
        if (!strcmp(beats[i].id, r.id) && (!first || beats[i].ms < first))
            first = beats[i].ms;
    fprintf(stderr, "   java run ignoring its cancel ran %lld ms (timeout %d s + grace %d ms)\n",
            last - first, timeout_s, grace_ms);
    if (last - first > timeout_s * 1000 + grace_ms + 1000)
        fail_msg("the java run went on %lld ms (timeout %d s + grace %d ms)", last - first,
                 timeout_s, grace_ms);
    if (last - first < timeout_s * 1000 - 200)
        fail_msg("the java run stopped after %lld ms, before its timeout", last - first);
    fx_finish(&f, "java timeout");
}

/* ---------------------------------------------------------------- reconnect */

static bool zk_up(void *arg)
{
    (void)arg;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/zk start %s >/dev/null 2>&1", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    return system(cmd) == 0;
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

static bool stopped_itself(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    return proc_state(pid) == 'T';
}

struct all_on {
    struct fx *f;
    const char *job;
    int items, agent;
};

static bool all_on(void *arg)
{
    struct all_on *w = arg;
    ta_sample(&w->f->c);
    for (int i = 0; i < w->items; i++) {
        int o = -1;
        if (ta_owners(&w->f->c, w->job, i, &o) != 1 || o != w->agent)
            return false;
    }
    return true;
}

static bool victim_owns(void *arg)
{
    struct all_on *w = arg;
    ta_sample(&w->f->c);
    for (int i = 0; i < w->items; i++) {
        int o = -1;
        if (ta_owners(&w->f->c, w->job, i, &o) == 1 && o == 0)
            return true;
    }
    return false;
}

#define MAX_RUNS 4096
static struct rl_run runs[MAX_RUNS];

static void test_frozen_at_reconnect(void **state)
{
    (void)state;
    struct fx f;
    char cmd[1024], job[2048], out[600];
    fx_init(&f, "recon");
    f.c.session_ms = 8000; /* a ZooKeeper restart fits well inside it */
    f.c.own_group = false;
    snprintf(out, sizeof out, "%s/%s.runs", tenv("SC_TEST_TMP"), f.c.ns);
    setenv("SHARDCRON_TEST_FAULT", "stop_at_reconnect", 1);
    int v = ta_start(&f.c, "victim", NULL);
    unsetenv("SHARDCRON_TEST_FAULT");
    assert_int_equal(v, 0);
    assert_true(ta_start(&f.c, "other", NULL) == 1);
    int items = 4;
    rl_command(cmd, sizeof cmd, out, "0.1", 0);
    snprintf(job, sizeof job,
             "{\"name\":\"rc\",\"cron\":\"* * * * * ?\",\"shards\":%d,\"command\":\"%s\"}", items,
             cmd);
    put_job(&f, "rc", job);
    struct all_on w = {&f, "rc", items, 1};
    assert_true(tenv_wait(victim_owns, &w, 30000, 100));
    /* A ZooKeeper crash and restart: both agents reconnect on their sessions;
     * the victim freezes as its loop is about to handle CONNECTED. */
    snprintf(cmd, sizeof cmd, "%s/scripts/zk stop %s --kill", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    assert_int_equal(system(cmd), 0);
    assert_true(tenv_wait(zk_up, NULL, 30000, 100));
    pid_t vp = f.c.a[v].pid;
    assert_true(tenv_wait(stopped_itself, &vp, 20000, 50));
    f.c.a[v].stopped = true;
    long long frozen = tenv_now_ms();
    /* Its session expires (T after the handshake): the other agent takes all. */
    assert_true(tenv_wait(all_on, &w, 8000 + 30000, 100));
    fprintf(stderr, "   all items on the other agent %lld ms after the victim froze\n",
            tenv_now_ms() - frozen);
    pause_ms(1500);
    ta_kill(&f.c, v, SIGCONT);
    /* Resumed: it must start nothing under its dead session. */
    long long end = tenv_now_ms() + 5000;
    while (tenv_now_ms() < end) {
        ta_sample(&f.c);
        pause_ms(50);
    }
    int violations = f.c.violations;
    char first[512];
    snprintf(first, sizeof first, "%s", f.c.first_violation);
    fx_finish(&f, "frozen at reconnect");
    if (violations)
        fail_msg("frozen at reconnect: %d double claims; first: %s", violations, first);
    int n = rl_check(runs, rl_load(out, runs, MAX_RUNS), "frozen at reconnect");
    fprintf(stderr, "   frozen at reconnect: %d runs, none twice, none overlapping\n", n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_freeze),        cmocka_unit_test(test_watchdog_replaced),
        cmocka_unit_test(test_java_frozen),         cmocka_unit_test(test_java_timeout),
        cmocka_unit_test(test_frozen_at_reconnect),
    };
    const char *only = getenv("GUARD_TEST");
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
