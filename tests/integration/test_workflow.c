/* tests/integration/test_workflow.c: workflows on real agents and a real
 * ZooKeeper (docs/workflows.md). Verdicts come from what the tasks themselves
 * logged (one line when each item starts and ends, with its task, item and
 * pid), and the run's state from ZooKeeper as shardcronctl reads it.
 *
 *   chain       a job task (3 items) -> a command writing XCom -> a branch
 *               reading it -> the chosen path runs, the other is skipped, a
 *               join with none_failed_min_one_success runs; each item once,
 *               each task after its upstream ended
 *   sensor      a sensor pokes until a file exists, then its downstream runs;
 *               a failing task fails the run and its downstream is
 *               upstream_failed
 *   leader_kill the leader (running no task: labels) is killed -9 mid-run:
 *               the new leader resumes, every task runs exactly once
 *   agent_death the agent running an item is killed -9: the item runs again
 *               on a survivor as attempt 2 (retries 1), the run succeeds
 *   cancel      a running item is stopped (SIGTERM seen by the task) and the
 *               run is cancelled; clear re-runs a failed task in the same run
 *   backfill    a dry run lists the logical times; the backfill creates each
 *               once, one at a time (max_active_runs 1) */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/jobops.h"
#include "registry/zkcli.h"
#include "tests/lib/agents.h"
#include "tests/lib/testenv.h"
#include "workflow/wfzk.h"

#define SESSION_MS 2000
#define MAXL 512

static struct zkcli *zk(const char *ns)
{
    struct sc_err err;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    return k;
}

/* ---------------------------------------------------------------- the tasks' log */

struct line {
    char kind; /* S start, E end, K terminated, X xcom input seen */
    char task[64];
    int item;
    long long ns;
    int pid;
    char rest[512];
};

static struct line lines[MAXL];

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    char buf[1024];
    if (!f)
        return 0;
    while (n < MAXL && fgets(buf, sizeof buf, f)) {
        struct line *l = &lines[n];
        int off = 0;
        memset(l, 0, sizeof *l);
        if (sscanf(buf, "%c %63s %d %lld %d %n", &l->kind, l->task, &l->item, &l->ns, &l->pid,
                   &off) >= 5) {
            snprintf(l->rest, sizeof l->rest, "%s", buf + off);
            l->rest[strcspn(l->rest, "\n")] = '\0';
            n++;
        }
    }
    fclose(f);
    return n;
}

static int count(const char *path, char kind, const char *task, int item)
{
    int n = load(path), m = 0;
    for (int i = 0; i < n; i++)
        m += lines[i].kind == kind && !strcmp(lines[i].task, task) &&
             (item < 0 || lines[i].item == item);
    return m;
}

/* first/last: the earliest start or latest end of a task (ns; 0 none). */
static long long first_start(const char *path, const char *task)
{
    int n = load(path);
    long long t = 0;
    for (int i = 0; i < n; i++)
        if (lines[i].kind == 'S' && !strcmp(lines[i].task, task) && (!t || lines[i].ns < t))
            t = lines[i].ns;
    return t;
}

static long long last_end(const char *path, const char *task)
{
    int n = load(path);
    long long t = 0;
    for (int i = 0; i < n; i++)
        if (lines[i].kind == 'E' && !strcmp(lines[i].task, task) && lines[i].ns > t)
            t = lines[i].ns;
    return t;
}

/* cmd: a task command (JSON-escaped) logging S before `body` and E after. */
static const char *cmd(char *buf, size_t len, const char *log, const char *body)
{
    snprintf(buf, len,
             "L=%s; echo S $SHARDCRON_TASK ${SHARDCRON_SHARD_ITEM:-0} $(date +%%s%%N) $$ "
             "$SHARDCRON_RUN_ID >> $L; trap 'echo K $SHARDCRON_TASK $SHARDCRON_SHARD_ITEM "
             "$(date +%%s%%N) $$ >> $L; exit 143' TERM; %s; rc=$?; echo E $SHARDCRON_TASK "
             "${SHARDCRON_SHARD_ITEM:-0} $(date +%%s%%N) $$ rc=$rc >> $L; exit $rc",
             log, body);
    return buf;
}

/* ---------------------------------------------------------------- runs */

static char *run_state(const char *ns, const char *run_id, const char *task)
{
    static char st[64];
    struct zkcli *k = zk(ns);
    cJSON *run = NULL;
    struct sc_err err;
    st[0] = '\0';
    if (wfzk_read_run(k, run_id, &run, &err) == 0) {
        const cJSON *s =
            task ? cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "tasks"), task),
                                       "state")
                 : cJSON_GetObjectItem(run, "state");
        if (cJSON_IsString(s))
            snprintf(st, sizeof st, "%s", s->valuestring);
    }
    cJSON_Delete(run);
    zkcli_close(k);
    return st;
}

struct want {
    const char *ns, *run, *task, *state;
};

static bool state_is(void *arg)
{
    struct want *w = arg;
    return strcmp(run_state(w->ns, w->run, w->task), w->state) == 0;
}

static void wait_state(const char *ns, const char *run, const char *task, const char *state, int ms)
{
    struct want w = {ns, run, task, state};
    if (!tenv_wait(state_is, &w, ms, 50))
        fail_msg("run %s%s%s: state %s after %d ms, expected %s", run, task ? " task " : "",
                 task ? task : "", run_state(ns, run, task), ms, state);
}

static int request(const char *ns, cJSON *req, cJSON **result, char *why, size_t whylen)
{
    struct zkcli *k = zk(ns);
    struct sc_err err = {0};
    int status = 0;
    int rc = wfzk_request(k, req, 20000, result, &status, &err);
    if (rc < 0 && why)
        snprintf(why, whylen, "%s: %s", err.field, err.msg);
    cJSON_Delete(req);
    zkcli_close(k);
    return rc;
}

/* trigger: a run of `wf` now; its id. */
static void trigger(const char *ns, const char *wf, char *run_id, size_t len)
{
    cJSON *req = cJSON_CreateObject(), *res = NULL;
    char why[400] = "";
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", wf);
    if (request(ns, req, &res, why, sizeof why) < 0)
        fail_msg("trigger %s: %s", wf, why);
    const cJSON *id = cJSON_GetObjectItem(res, "run_id");
    assert_true(cJSON_IsString(id));
    snprintf(run_id, len, "%s", id->valuestring);
    cJSON_Delete(res);
}

static void put_wf(const char *ns, const char *json)
{
    struct zkcli *k = zk(ns);
    struct sc_err err = {0};
    if (wfzk_put(k, json, strlen(json), -1, &err) < 0)
        fail_msg("workflow put: %s: %s", err.field, err.msg);
    zkcli_close(k);
}

static void put_job(const char *ns, const char *name, int shards, const char *command)
{
    char job[8192];
    struct zkcli *k = zk(ns);
    snprintf(job, sizeof job, "{\"name\":\"%s\",\"shards\":%d,\"command\":\"%s\"}", name, shards,
             command);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    assert_int_equal(zkcli_job_create(k, name, job, (int)strlen(job)), ZOK);
    zkcli_close(k);
}

static void setup(struct ta_cluster *c, const char *tag, char *log, size_t len)
{
    memset(c, 0, sizeof *c);
    snprintf(c->ns, sizeof c->ns, "it_wf_%s_%d", tag, (int)getpid());
    c->session_ms = SESSION_MS;
    snprintf(log, len, "%s/%s.log", tenv("SC_TEST_TMP"), c->ns);
    unlink(log);
}

static void teardown(struct ta_cluster *c)
{
    char san[900];
    ta_stop_all(c);
    if (ta_sanitizer_reports(c, san, sizeof san))
        fail_msg("sanitizer report in an agent: %s", san);
}

static bool leader_known(void *arg)
{
    struct ta_cluster *c = arg;
    for (int i = 0; i < c->n; i++) {
        cJSON *st = ta_status(c, i);
        bool l = st && cJSON_IsTrue(cJSON_GetObjectItem(st, "leader"));
        cJSON_Delete(st);
        if (l)
            return true;
    }
    return false;
}

static int leader_of(struct ta_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        cJSON *st = ta_status(c, i);
        bool l = st && cJSON_IsTrue(cJSON_GetObjectItem(st, "leader"));
        cJSON_Delete(st);
        if (l)
            return i;
    }
    return -1;
}

/* ---------------------------------------------------------------- cases */

static void test_chain(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], c1[2048], c2[2048], c3[2048], c4[2048], c5[2048], c6[2048];
    char def[16384];
    setup(&c, "chain", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_int_equal(ta_start(&c, "B", NULL), 1);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    put_job(c.ns, "wext", 3, cmd(c1, sizeof c1, log, "true"));
    cmd(c2, sizeof c2, log, "echo '{\\\"rows\\\": 42}' > $SHARDCRON_XCOM_OUT");
    cmd(c3, sizeof c3, log,
        "echo X route 0 0 0 $(cat $SHARDCRON_XCOM_IN | tr -d ' ') >> $L; echo full");
    cmd(c4, sizeof c4, log, "true");
    cmd(c5, sizeof c5, log, "true");
    cmd(c6, sizeof c6, log, "true");
    snprintf(def, sizeof def,
             "{\"name\":\"chain\",\"tasks\":{"
             "\"extract\":{\"job\":\"wext\"},"
             "\"a\":{\"command\":\"%s\",\"upstream\":[\"extract\"]},"
             "\"route\":{\"branch\":\"%s\",\"upstream\":[\"a\"]},"
             "\"full\":{\"command\":\"%s\",\"upstream\":[\"route\"]},"
             "\"delta\":{\"command\":\"%s\",\"upstream\":[\"route\"]},"
             "\"report\":{\"command\":\"%s\",\"upstream\":[\"full\",\"delta\"],"
             "\"trigger_rule\":\"none_failed_min_one_success\"}}}",
             c2, c3, c4, c5, c6);
    put_wf(c.ns, def);
    trigger(c.ns, "chain", run, sizeof run);
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(count(log, 'E', "extract", i), 1);
    assert_int_equal(count(log, 'S', "extract", -1), 3);
    assert_int_equal(count(log, 'S', "a", -1), 1);
    assert_int_equal(count(log, 'S', "route", -1), 1);
    assert_int_equal(count(log, 'S', "full", -1), 1);
    assert_int_equal(count(log, 'S', "delta", -1), 0);
    assert_int_equal(count(log, 'S', "report", -1), 1);
    /* Each task after its upstream ended. */
    assert_true(first_start(log, "a") > last_end(log, "extract"));
    assert_true(first_start(log, "route") > last_end(log, "a"));
    assert_true(first_start(log, "full") > last_end(log, "route"));
    assert_true(first_start(log, "report") > last_end(log, "full"));
    /* The branch saw a's output. */
    int n = load(log);
    bool seen = false;
    for (int i = 0; i < n; i++)
        if (lines[i].kind == 'X')
            seen |= strstr(lines[i].rest, "{\"a\":{\"0\":{\"rows\":42}}}") != NULL;
    if (!seen)
        fail_msg("the branch did not see a's output in SHARDCRON_XCOM_IN");
    assert_string_equal(run_state(c.ns, run, "delta"), "skipped");
    assert_string_equal(run_state(c.ns, run, "report"), "succeeded");
    /* The driver set t/ with its task writes: readers may trust the run's
     * signature (wfzk_run_sig) to tell them a task changed. */
    {
        struct wfzk_sig sig;
        struct zkcli *k = zk(c.ns);
        assert_int_equal(wfzk_run_sig(k, run, &sig), 0);
        assert_true(sig.trusted);
        zkcli_close(k);
    }
    /* Hop latency, as the tasks saw it. */
    fprintf(stderr, "   hops (ms): extract->a %.1f, a->route %.1f, route->full %.1f\n",
            (first_start(log, "a") - last_end(log, "extract")) / 1e6,
            (first_start(log, "route") - last_end(log, "a")) / 1e6,
            (first_start(log, "full") - last_end(log, "route")) / 1e6);
    teardown(&c);
}

static void test_sensor_and_failure(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], flag[700], run[100], c1[2048], c2[2048], c3[2048], c4[2048], body[800];
    char def[16384];
    setup(&c, "sensor", log, sizeof log);
    snprintf(flag, sizeof flag, "%s.ready", log);
    unlink(flag);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    snprintf(body, sizeof body, "test -f %s", flag);
    cmd(c1, sizeof c1, log, body);
    cmd(c2, sizeof c2, log, "true");
    cmd(c3, sizeof c3, log, "exit 3");
    cmd(c4, sizeof c4, log, "true");
    snprintf(def, sizeof def,
             "{\"name\":\"sense\",\"tasks\":{"
             "\"ready\":{\"sensor\":\"%s\",\"interval_s\":1,\"timeout_s\":120},"
             "\"after\":{\"command\":\"%s\",\"upstream\":[\"ready\"]},"
             "\"bad\":{\"command\":\"%s\",\"upstream\":[\"after\"]},"
             "\"never\":{\"command\":\"%s\",\"upstream\":[\"bad\"]}}}",
             c1, c2, c3, c4);
    put_wf(c.ns, def);
    trigger(c.ns, "sense", run, sizeof run);
    wait_state(c.ns, run, "ready", "sensing", 20000);
    /* Two pokes that fail, then the file appears. */
    for (long long t0 = tenv_now_ms(); count(log, 'E', "ready", -1) < 2;) {
        if (tenv_now_ms() - t0 > 20000)
            fail_msg("the sensor poked %d times in 20 s (interval 1 s)",
                     count(log, 'E', "ready", -1));
        usleep(50000);
    }
    assert_int_equal(count(log, 'S', "after", -1), 0);
    FILE *f = fopen(flag, "w");
    assert_non_null(f);
    fclose(f);
    wait_state(c.ns, run, NULL, "failed", 30000);
    assert_string_equal(run_state(c.ns, run, "ready"), "succeeded");
    assert_string_equal(run_state(c.ns, run, "after"), "succeeded");
    assert_string_equal(run_state(c.ns, run, "bad"), "failed");
    assert_string_equal(run_state(c.ns, run, "never"), "upstream_failed");
    assert_int_equal(count(log, 'S', "never", -1), 0);
    assert_int_equal(count(log, 'S', "after", -1), 1);
    teardown(&c);
    unlink(flag);
}

struct running_on {
    struct ta_cluster *c;
    const char *job;
    int agent; /* out */
};

/* runs_job: some agent's /status lists `job` as running. */
static bool runs_job(void *arg)
{
    struct running_on *r = arg;
    for (int i = 0; i < r->c->n; i++) {
        cJSON *st = ta_status(r->c, i);
        const cJSON *running = st ? cJSON_GetObjectItem(st, "running") : NULL;
        bool yes = running && cJSON_GetObjectItem(running, r->job);
        cJSON_Delete(st);
        if (yes) {
            r->agent = i;
            return true;
        }
    }
    return false;
}

static void test_leader_kill(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], c1[2048], c2[2048], c3[2048], def[16384];
    const char *ctl[] = {"--labels", "ctl", NULL}, *work[] = {"--labels", "work", NULL};
    setup(&c, "lk", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", ctl), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    assert_int_equal(ta_start(&c, "B", work), 1);
    assert_int_equal(ta_start(&c, "C", work), 2);
    cmd(c1, sizeof c1, log, "sleep 3");
    cmd(c2, sizeof c2, log, "sleep 1");
    cmd(c3, sizeof c3, log, "true");
    snprintf(def, sizeof def,
             "{\"name\":\"lk\",\"tasks\":{"
             "\"t1\":{\"command\":\"%s\",\"labels\":[\"work\"]},"
             "\"t2\":{\"command\":\"%s\",\"labels\":[\"work\"],\"upstream\":[\"t1\"]},"
             "\"t3\":{\"command\":\"%s\",\"labels\":[\"work\"],\"upstream\":[\"t2\"]}}}",
             c1, c2, c3);
    put_wf(c.ns, def);
    assert_int_equal(leader_of(&c), 0);
    trigger(c.ns, "lk", run, sizeof run);
    struct running_on r = {&c, "wf.lk.t1", -1};
    assert_true(tenv_wait(runs_job, &r, 20000, 20));
    assert_int_not_equal(r.agent, 0);
    ta_kill(&c, 0, SIGKILL);
    fprintf(stderr, "   leader A killed -9 while t1 runs on %s\n", c.a[r.agent].id);
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    for (int t = 1; t <= 3; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", t);
        if (count(log, 'S', name, -1) != 1)
            fail_msg("task %s started %d times (once expected)", name, count(log, 'S', name, -1));
    }
    assert_true(first_start(log, "t2") > last_end(log, "t1"));
    assert_true(first_start(log, "t3") > last_end(log, "t2"));
    teardown(&c);
}

static bool slow_started(void *log)
{
    return count(log, 'S', "slow", -1) >= 1;
}

static void test_agent_death(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], mark[700], run[100], c1[2048], c2[2048], body[2048], def[16384];
    const char *ctl[] = {"--labels", "ctl", NULL}, *work[] = {"--labels", "work", NULL};
    setup(&c, "ad", log, sizeof log);
    snprintf(mark, sizeof mark, "%s.first", log);
    unlink(mark);
    assert_int_equal(ta_start(&c, "A", ctl), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    assert_int_equal(ta_start(&c, "B", work), 1);
    assert_int_equal(ta_start(&c, "C", work), 2);
    /* The first run hangs (its agent is killed); a second one is quick. */
    snprintf(body, sizeof body, "if [ ! -e %s ]; then touch %s; sleep 60; fi", mark, mark);
    cmd(c1, sizeof c1, log, body);
    cmd(c2, sizeof c2, log, "true");
    snprintf(def, sizeof def,
             "{\"name\":\"ad\",\"tasks\":{"
             "\"slow\":{\"command\":\"%s\",\"labels\":[\"work\"],\"retries\":1},"
             "\"next\":{\"command\":\"%s\",\"labels\":[\"work\"],\"upstream\":[\"slow\"]}}}",
             c1, c2);
    put_wf(c.ns, def);
    trigger(c.ns, "ad", run, sizeof run);
    /* Killed once its process has started (logged, marker made): an agent
     * lists a run as running a moment before its shell begins. */
    if (!tenv_wait(slow_started, log, 20000, 20))
        fail_msg("task slow did not start within 20 s");
    struct running_on r = {&c, "wf.ad.slow", -1};
    assert_true(tenv_wait(runs_job, &r, 20000, 20));
    ta_kill(&c, r.agent, SIGKILL);
    fprintf(stderr, "   %s killed -9 while it runs slow\n", c.a[r.agent].id);
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    assert_int_equal(count(log, 'S', "slow", -1), 2); /* the cut one and the retry */
    assert_int_equal(count(log, 'E', "slow", -1), 1); /* only the retry ended */
    assert_int_equal(count(log, 'S', "next", -1), 1);
    struct zkcli *k = zk(c.ns);
    cJSON *rj = NULL;
    struct sc_err err;
    assert_int_equal(wfzk_read_run(k, run, &rj, &err), 0);
    const cJSON *slow = cJSON_GetObjectItem(cJSON_GetObjectItem(rj, "tasks"), "slow");
    assert_int_equal(cJSON_GetObjectItem(slow, "attempt")->valueint >= 1, 1);
    cJSON_Delete(rj);
    zkcli_close(k);
    /* An agent killed -9 leaves its process group orphaned: end the hung run. */
    int n = load(log);
    for (int i = 0; i < n; i++)
        if (lines[i].kind == 'S' && !strcmp(lines[i].task, "slow"))
            kill(-lines[i].pid, SIGKILL), kill(lines[i].pid, SIGKILL);
    teardown(&c);
    unlink(mark);
}

static void test_cancel_and_clear(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], mark[700], run[100], run2[100], c1[2048], c2[2048], body[2048], def[16384];
    char why[400];
    setup(&c, "cc", log, sizeof log);
    snprintf(mark, sizeof mark, "%s.failed-once", log);
    unlink(mark);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "sleep 60");
    snprintf(body, sizeof body, "if [ ! -e %s ]; then touch %s; exit 1; fi", mark, mark);
    cmd(c2, sizeof c2, log, body);
    snprintf(def, sizeof def,
             "{\"name\":\"cc\",\"max_active_runs\":2,\"tasks\":{"
             "\"long\":{\"command\":\"%s\"}}}",
             c1);
    put_wf(c.ns, def);
    snprintf(def, sizeof def, "{\"name\":\"cl\",\"tasks\":{\"flaky\":{\"command\":\"%s\"}}}", c2);
    put_wf(c.ns, def);

    trigger(c.ns, "cc", run, sizeof run);
    for (long long t0 = tenv_now_ms(); count(log, 'S', "long", -1) < 1;) {
        if (tenv_now_ms() - t0 > 20000)
            fail_msg("task long did not start within 20 s");
        usleep(20000);
    }
    cJSON *req = cJSON_CreateObject(), *res = NULL;
    cJSON_AddStringToObject(req, "op", "cancel");
    cJSON_AddStringToObject(req, "run_id", run);
    if (request(c.ns, req, &res, why, sizeof why) < 0)
        fail_msg("cancel: %s", why);
    cJSON_Delete(res);
    wait_state(c.ns, run, NULL, "cancelled", 10000);
    for (long long t0 = tenv_now_ms(); count(log, 'K', "long", -1) < 1;) {
        if (tenv_now_ms() - t0 > 10000)
            fail_msg("the cancelled task's process got no SIGTERM within 10 s");
        usleep(20000);
    }
    assert_string_equal(run_state(c.ns, run, "long"), "cancelled");

    trigger(c.ns, "cl", run2, sizeof run2);
    wait_state(c.ns, run2, NULL, "failed", 30000);
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "clear");
    cJSON_AddStringToObject(req, "run_id", run2);
    cJSON_AddStringToObject(req, "task", "flaky");
    if (request(c.ns, req, &res, why, sizeof why) < 0)
        fail_msg("clear: %s", why);
    cJSON_Delete(res);
    wait_state(c.ns, run2, NULL, "succeeded", 30000);
    assert_int_equal(count(log, 'S', "flaky", -1), 2);
    teardown(&c);
    unlink(mark);
}

static void test_backfill(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], c1[2048], def[16384], why[400];
    setup(&c, "bf", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "echo T $SHARDCRON_LOGICAL_TIME >> $L");
    /* Hourly, never due during the test for the schedule itself to matter. */
    snprintf(def, sizeof def,
             "{\"name\":\"bf\",\"cron\":\"0 0 * * * ?\",\"max_active_runs\":1,\"tasks\":{"
             "\"t\":{\"command\":\"%s\"}}}",
             c1);
    put_wf(c.ns, def);
    long long now_s = time(NULL), hour = now_s / 3600 * 3600;
    long long from = (hour - 5 * 3600) * 1000, to = (hour - 1 * 3600) * 1000;
    for (int dry = 1; dry >= 0; dry--) {
        cJSON *req = cJSON_CreateObject(), *res = NULL;
        cJSON_AddStringToObject(req, "op", "backfill");
        cJSON_AddStringToObject(req, "workflow", "bf");
        cJSON_AddNumberToObject(req, "from_ms", (double)from);
        cJSON_AddNumberToObject(req, "to_ms", (double)to);
        cJSON_AddBoolToObject(req, "dry_run", dry);
        if (request(c.ns, req, &res, why, sizeof why) < 0)
            fail_msg("backfill: %s", why);
        const cJSON *runs = cJSON_GetObjectItem(res, "runs");
        assert_int_equal(cJSON_GetArraySize(runs), 5);
        for (int i = 0; i < 5; i++) {
            const cJSON *e = cJSON_GetArrayItem(runs, i);
            assert_int_equal((long long)cJSON_GetObjectItem(e, "logical_ms")->valuedouble,
                             from + (long long)i * 3600000);
            assert_string_equal(cJSON_GetObjectItem(e, "action")->valuestring, "create");
        }
        cJSON_Delete(res);
        if (dry) { /* nothing was created */
            char id[100];
            wfzk_run_id(id, sizeof id, "bf", from);
            struct zkcli *k = zk(c.ns);
            cJSON *rj = NULL;
            struct sc_err err;
            assert_int_equal(wfzk_read_run(k, id, &rj, &err), -ENOENT);
            zkcli_close(k);
        }
    }
    for (int i = 0; i < 5; i++) {
        char id[100];
        wfzk_run_id(id, sizeof id, "bf", from + (long long)i * 3600000);
        wait_state(c.ns, id, NULL, "succeeded", 60000);
    }
    /* Each logical time once, in order, never two at once. */
    assert_int_equal(count(log, 'S', "t", -1), 5);
    int n = load(log);
    long long prev_end = 0;
    for (int i = 0; i < n; i++) {
        if (lines[i].kind == 'S') {
            assert_true(lines[i].ns > prev_end);
        } else if (lines[i].kind == 'E') {
            prev_end = lines[i].ns;
        }
    }
    teardown(&c);
}

/* schedule: a cron every 2 s, max_active_runs 1, catchup false, a task of
 * 3 s: runs never overlap, each logical time runs once, fire times that
 * passed while a run was active are not all run (only the latest). */
static void test_schedule(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], c1[2048], def[16384];
    setup(&c, "sch", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_int_equal(ta_start(&c, "B", NULL), 1);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "sleep 3");
    snprintf(def, sizeof def,
             "{\"name\":\"sch\",\"cron\":\"*/2 * * * * ?\",\"max_active_runs\":1,"
             "\"catchup\":false,\"tasks\":{\"t\":{\"command\":\"%s\"}}}",
             c1);
    put_wf(c.ns, def);
    long long t0 = tenv_now_ms();
    for (;;) {
        if (count(log, 'E', "t", -1) >= 3)
            break;
        if (tenv_now_ms() - t0 > 40000)
            fail_msg("3 scheduled runs did not end within 40 s (%d did)", count(log, 'E', "t", -1));
        usleep(100000);
    }
    ta_stop_all(&c);
    int n = load(log);
    /* Each run id once; no start before the previous run's end. */
    long long prev_end = 0;
    char seen[16][128];
    int ns = 0;
    for (int i = 0; i < n; i++) {
        if (lines[i].kind == 'S') {
            if (lines[i].ns <= prev_end)
                fail_msg("a scheduled run started before the previous one ended");
            for (int k = 0; k < ns; k++)
                if (!strcmp(seen[k], lines[i].rest))
                    fail_msg("run %s ran twice", lines[i].rest);
            if (ns < 16)
                snprintf(seen[ns++], sizeof seen[0], "%s", lines[i].rest);
        } else if (lines[i].kind == 'E') {
            prev_end = lines[i].ns;
        }
    }
    /* 3 s runs on a 2 s cron: with catchup false, consecutive logical times
     * are at least 4 s apart (the fire during a run is not run late). */
    for (int k = 1; k < ns; k++) {
        char wf[64];
        int64_t a, b;
        assert_int_equal(wfzk_run_id_parse(seen[k - 1], wf, sizeof wf, &a), 0);
        assert_int_equal(wfzk_run_id_parse(seen[k], wf, sizeof wf, &b), 0);
        if (b - a < 4000)
            fail_msg("runs %s and %s: a fire missed during a run was run late (catchup false)",
                     seen[k - 1], seen[k]);
    }
    teardown(&c);
}

/* external: a task waiting for another workflow's task in the run at the
 * same logical time succeeds once that task has; one whose other run never
 * comes fails at its timeout. mark: a failed task marked succeeded lets its
 * downstream run. */
static void test_external_and_mark(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], c1[2048], c2[2048], c3[2048], def[16384], why[400];
    char down_run[100], up_run[100], lone_run[100], mark_run[100];
    setup(&c, "ext", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "true");
    cmd(c2, sizeof c2, log, "exit 4");
    cmd(c3, sizeof c3, log, "true");
    snprintf(def, sizeof def, "{\"name\":\"up\",\"tasks\":{\"done\":{\"command\":\"%s\"}}}", c1);
    put_wf(c.ns, def);
    snprintf(def, sizeof def,
             "{\"name\":\"down\",\"tasks\":{"
             "\"wait\":{\"external\":{\"workflow\":\"up\",\"task\":\"done\",\"offset\":\"-1h\"},"
             "\"interval_s\":1,\"timeout_s\":60},"
             "\"after\":{\"command\":\"%s\",\"upstream\":[\"wait\"]}}}",
             c1);
    put_wf(c.ns, def);
    snprintf(def, sizeof def,
             "{\"name\":\"lone\",\"tasks\":{"
             "\"wait\":{\"external\":{\"workflow\":\"up\",\"task\":\"done\",\"offset\":\"+1d\"},"
             "\"interval_s\":1,\"timeout_s\":3}}}");
    put_wf(c.ns, def);
    snprintf(def, sizeof def,
             "{\"name\":\"mk\",\"tasks\":{\"bad\":{\"command\":\"%s\"},"
             "\"next\":{\"command\":\"%s\",\"upstream\":[\"bad\"]}}}",
             c2, c3);
    put_wf(c.ns, def);

    /* down at T waits for up at T - 1 h. */
    long long t = (time(NULL) / 60) * 60 * 1000LL;
    cJSON *req = cJSON_CreateObject(), *res = NULL;
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", "down");
    cJSON_AddNumberToObject(req, "logical_ms", (double)t);
    if (request(c.ns, req, &res, why, sizeof why) < 0)
        fail_msg("trigger down: %s", why);
    snprintf(down_run, sizeof down_run, "%s", cJSON_GetObjectItem(res, "run_id")->valuestring);
    cJSON_Delete(res);
    wait_state(c.ns, down_run, "wait", "sensing", 10000);
    trigger(c.ns, "lone", lone_run, sizeof lone_run);
    usleep(1500000); /* down's external has checked and found nothing */
    assert_string_equal(run_state(c.ns, down_run, "wait"), "sensing");
    assert_int_equal(count(log, 'S', "after", -1), 0);
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", "up");
    cJSON_AddNumberToObject(req, "logical_ms", (double)(t - 3600000));
    if (request(c.ns, req, &res, why, sizeof why) < 0)
        fail_msg("trigger up: %s", why);
    snprintf(up_run, sizeof up_run, "%s", cJSON_GetObjectItem(res, "run_id")->valuestring);
    cJSON_Delete(res);
    wait_state(c.ns, up_run, NULL, "succeeded", 20000);
    wait_state(c.ns, down_run, NULL, "succeeded", 20000);
    assert_int_equal(count(log, 'S', "after", -1), 1);
    /* lone's other run never comes: failed at its timeout. */
    wait_state(c.ns, lone_run, NULL, "failed", 20000);
    assert_string_equal(run_state(c.ns, lone_run, "wait"), "failed");

    /* mark */
    trigger(c.ns, "mk", mark_run, sizeof mark_run);
    wait_state(c.ns, mark_run, NULL, "failed", 20000);
    assert_string_equal(run_state(c.ns, mark_run, "next"), "upstream_failed");
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "mark");
    cJSON_AddStringToObject(req, "run_id", mark_run);
    cJSON_AddStringToObject(req, "task", "next");
    cJSON_AddStringToObject(req, "state", "succeeded");
    if (request(c.ns, req, &res, why, sizeof why) < 0)
        fail_msg("mark: %s", why);
    cJSON_Delete(res);
    /* bad is still failed (a leaf? no: next is the leaf, now succeeded) */
    wait_state(c.ns, mark_run, NULL, "succeeded", 20000);
    assert_int_equal(count(log, 'S', "next", -1), 0); /* marked, never run */
    teardown(&c);
}

/* right_after_put: a workflow triggered the moment its put returns (its
 * definition and task jobs not yet seen by the driver) runs. Before: the
 * first task's start waited for its job and nothing started it again. */
static void test_trigger_right_after_put(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], c1[2048], def[8192], run[8][100], name[32];
    setup(&c, "rap", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "true");
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "rap%d", i);
        snprintf(def, sizeof def,
                 "{\"name\":\"%s\",\"tasks\":{\"a\":{\"command\":\"%s\"},"
                 "\"b\":{\"command\":\"%s\",\"upstream\":[\"a\"]}}}",
                 name, c1, c1);
        put_wf(c.ns, def);
        trigger(c.ns, name, run[i], sizeof run[i]);
    }
    for (int i = 0; i < 5; i++)
        wait_state(c.ns, run[i], NULL, "succeeded", 30000);
    assert_int_equal(count(log, 'S', "a", -1), 5);
    assert_int_equal(count(log, 'S', "b", -1), 5);
    teardown(&c);
}

/* max_running_tasks: eight independent tasks of a run bounded to two at a
 * time: the tasks' own start and end lines never overlap more than two deep,
 * and every task ran once. */
static void test_max_running_tasks(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], c1[2048], def[32768], run[100];
    setup(&c, "mrt", log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_int_equal(ta_start(&c, "B", NULL), 1);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "sleep 0.4");
    int len = snprintf(def, sizeof def, "{\"name\":\"mrt\",\"max_running_tasks\":2,\"tasks\":{");
    for (int i = 0; i < 8; i++)
        len += snprintf(def + len, sizeof def - (size_t)len, "%s\"t%d\":{\"command\":\"%s\"}",
                        i ? "," : "", i, c1);
    snprintf(def + len, sizeof def - (size_t)len, "}}");
    put_wf(c.ns, def);
    trigger(c.ns, "mrt", run, sizeof run);
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    int n = load(log), depth = 0, deepest = 0;
    /* the lines in time order: +1 at a start, -1 at an end */
    long long ev[64][2];
    int ne = 0;
    for (int i = 0; i < n && ne < 64; i++)
        if (lines[i].kind == 'S' || lines[i].kind == 'E')
            ev[ne][0] = lines[i].ns, ev[ne++][1] = lines[i].kind == 'S' ? 1 : -1;
    for (int i = 1; i < ne; i++)
        for (int j = i; j > 0 && (ev[j][0] < ev[j - 1][0] ||
                                  (ev[j][0] == ev[j - 1][0] && ev[j][1] < ev[j - 1][1]));
             j--) {
            long long t0 = ev[j][0], t1 = ev[j][1];
            ev[j][0] = ev[j - 1][0], ev[j][1] = ev[j - 1][1];
            ev[j - 1][0] = t0, ev[j - 1][1] = t1;
        }
    for (int i = 0; i < ne; i++) {
        depth += (int)ev[i][1];
        if (depth > deepest)
            deepest = depth;
    }
    for (int i = 0; i < 8; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        assert_int_equal(count(log, 'S', t, -1), 1);
    }
    fprintf(stderr, "   8 tasks, max_running_tasks 2: at most %d ran at once\n", deepest);
    assert_true(deepest >= 1 && deepest <= 2);
    teardown(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_sensor_and_failure),
        cmocka_unit_test(test_leader_kill),
        cmocka_unit_test(test_agent_death),
        cmocka_unit_test(test_cancel_and_clear),
        cmocka_unit_test(test_backfill),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_external_and_mark),
        cmocka_unit_test(test_trigger_right_after_put),
        cmocka_unit_test(test_max_running_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
