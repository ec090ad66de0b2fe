/* tests/integration/test_workflow_faults.c: the workflow guarantees of
 * docs/workflows.md under faults, on real agents, a real ZooKeeper and a real
 * MariaDB. As in test_workflow.c, every verdict comes from what the tasks
 * themselves logged (S when an item starts, E when it ends, K when it is
 * terminated, with the task, item and pid) and from the run as ZooKeeper
 * holds it (wfzk_read_run), or as history holds it (hist_wf_run_get).
 *
 *   leader_expiry  the leader (running no task: labels) is frozen with
 *                  SIGSTOP past its session timeout while a chain runs on
 *                  the other agents, and thawed once another agent leads:
 *                  the run completes on the new leader, every task started
 *                  once, attempt 1, one result each; the thawed leader
 *                  changes nothing (its writes are fenced by an election
 *                  node its expired session no longer holds)
 *   zk_restart     ZooKeeper is killed and started again on the same port and
 *                  data while a task runs: the sessions survive, the run
 *                  completes, each task started once, each after its upstream
 *                  ended (a result made while ZooKeeper was down is reported
 *                  once it is back)
 *   mysql_outage   MariaDB is stopped while a run of agents with history
 *                  runs: the run completes (workflows do not need MySQL),
 *                  the driver's records are spooled, and once MariaDB is back
 *                  workflow_run, task_instance and task_xcom hold the run
 *                  with its final states and a task's output
 *   owner_death    the agent running an item of a task with retries 0 is
 *                  killed -9: the task fails naming the gone agent, its
 *                  downstream tasks are upstream_failed, the run failed, and
 *                  nothing ran twice
 *   death_after_clear  the same with retries 1 during a cleared task's
 *                  attempt 2: the item runs again (the retries are whole)
 *   not_started    an item that is claimed but never started (its job is
 *                  disabled: held, never scheduled; the same report as an item
 *                  that moved between its claim and its start) is asked again
 *                  as new attempts, 3 beyond the retries, then fails the task
 *                  with the agent's reason; nothing ran
 *
 * Each prints how long the platform took to recover from the fault. Waits
 * poll observable state with deadlines. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/jobops.h"
#include "registry/zkcli.h"
#include "sql/db.h"
#include "sql/hist_wf.h"
#include "tests/lib/agents.h"
#include "tests/lib/testdb.h"
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
    char kind; /* S start, E end, K terminated */
    char task[64];
    int item;
    long long ns;
    int pid;
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
        memset(l, 0, sizeof *l);
        if (sscanf(buf, "%c %63s %d %lld %d", &l->kind, l->task, &l->item, &l->ns, &l->pid) == 5)
            n++;
    }
    fclose(f);
    return n;
}

static int count(const char *path, char kind, const char *task)
{
    int n = load(path), m = 0;
    for (int i = 0; i < n; i++)
        m += lines[i].kind == kind && !strcmp(lines[i].task, task);
    return m;
}

/* edge: the earliest start ('S') or latest end ('E') of a task, in ns; 0 none. */
static long long edge(const char *path, char kind, const char *task)
{
    int n = load(path);
    long long t = 0;
    for (int i = 0; i < n; i++)
        if (lines[i].kind == kind && !strcmp(lines[i].task, task) &&
            (!t || (kind == 'S' ? lines[i].ns < t : lines[i].ns > t)))
            t = lines[i].ns;
    return t;
}

/* kill_runs: end what a task's items left running (an agent killed -9 leaves
 * its children behind). */
static void kill_runs(const char *path, const char *task)
{
    int n = load(path);
    for (int i = 0; i < n; i++)
        if (lines[i].kind == 'S' && !strcmp(lines[i].task, task) && lines[i].pid > 1)
            kill(-lines[i].pid, SIGKILL), kill(lines[i].pid, SIGKILL);
}

/* cmd: a task command (JSON-escaped) logging S before `body` and E after. */
static const char *cmd(char *buf, size_t len, const char *log, const char *body)
{
    snprintf(buf, len,
             "L=%s; echo S $SHARDCRON_TASK ${SHARDCRON_SHARD_ITEM:-0} $(date +%%s%%N) $$ "
             ">> $L; trap 'echo K $SHARDCRON_TASK ${SHARDCRON_SHARD_ITEM:-0} $(date +%%s%%N) $$ "
             ">> $L; exit 143' TERM; %s; rc=$?; echo E $SHARDCRON_TASK "
             "${SHARDCRON_SHARD_ITEM:-0} $(date +%%s%%N) $$ >> $L; exit $rc",
             log, body);
    return buf;
}

/* chain: tasks t1 -> t2 -> t3 of workflow `name`, each running its body. */
static void chain(char *def, size_t len, const char *name, const char *log, const char *labels,
                  const char *extra1, const char *b1, const char *b2, const char *b3)
{
    char c1[2048], c2[2048], c3[2048];
    cmd(c1, sizeof c1, log, b1);
    cmd(c2, sizeof c2, log, b2);
    cmd(c3, sizeof c3, log, b3);
    snprintf(def, len,
             "{\"name\":\"%s\",\"tasks\":{"
             "\"t1\":{\"command\":\"%s\"%s%s},"
             "\"t2\":{\"command\":\"%s\",\"upstream\":[\"t1\"]%s},"
             "\"t3\":{\"command\":\"%s\",\"upstream\":[\"t2\"]%s}}}",
             name, c1, labels, extra1, c2, labels, c3, labels);
}

/* ---------------------------------------------------------------- runs in ZooKeeper */

static cJSON *read_run(const char *ns, const char *run_id)
{
    struct zkcli *k = zk(ns);
    cJSON *run = NULL;
    struct sc_err err;
    if (wfzk_read_run(k, run_id, &run, &err) != 0)
        run = NULL;
    zkcli_close(k);
    return run;
}

static const cJSON *task_of(const cJSON *run, const char *task)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(run, "tasks"), task);
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static char *run_state(const char *ns, const char *run_id, const char *task)
{
    static char st[64];
    cJSON *run = read_run(ns, run_id);
    snprintf(st, sizeof st, "%s", str_of(task ? task_of(run, task) : run, "state"));
    cJSON_Delete(run);
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

static void trigger(const char *ns, const char *wf, char *run_id, size_t len)
{
    struct zkcli *k = zk(ns);
    cJSON *req = cJSON_CreateObject(), *res = NULL;
    struct sc_err err = {0};
    int status = 0;
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", wf);
    int rc = wfzk_request(k, req, 20000, &res, &status, &err);
    cJSON_Delete(req);
    zkcli_close(k);
    if (rc < 0)
        fail_msg("trigger %s: %s: %s", wf, err.field, err.msg);
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

/* check_chain: t1, t2, t3 each started once and ended once, each after its
 * upstream ended; in ZooKeeper each succeeded, with exactly one result that
 * ran (succeeded) and no other but "missed" ones (an item claimed by an agent
 * that lost it before the start: nothing ran, the driver asked again). */
static void check_chain(const char *ns, const char *run_id, const char *log)
{
    static const char *const t[] = {"t1", "t2", "t3"};
    cJSON *run = read_run(ns, run_id);
    assert_non_null(run);
    for (int i = 0; i < 3; i++) {
        if (count(log, 'S', t[i]) != 1 || count(log, 'E', t[i]) != 1)
            fail_msg("task %s started %d times and ended %d times (once each expected)", t[i],
                     count(log, 'S', t[i]), count(log, 'E', t[i]));
        if (strcmp(str_of(task_of(run, t[i]), "state"), "succeeded") != 0)
            fail_msg("task %s: %s (succeeded expected)", t[i], str_of(task_of(run, t[i]), "state"));
    }
    cJSON_Delete(run);
    if (!(edge(log, 'S', "t2") > edge(log, 'E', "t1") &&
          edge(log, 'S', "t3") > edge(log, 'E', "t2")))
        fail_msg("a task started before its upstream ended");
    struct zkcli *k = zk(ns);
    char path[400], **names = NULL;
    int n = 0, ran[3] = {0, 0, 0};
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", run_id);
    assert_int_equal(zkcli_children(k, path, &names, &n), ZOK);
    for (int i = 0; i < n; i++) {
        char *data = NULL, task[64];
        int len = 0, attempt, item;
        snprintf(path, sizeof path, WFZK_RUNS "/%s/d/%s", run_id, names[i]);
        assert_int_equal(wfzk_done_parse(names[i], task, sizeof task, &attempt, &item), 0);
        assert_int_equal(zkcli_get(k, path, &data, &len, NULL), ZOK);
        cJSON *o = cJSON_ParseWithLength(data, (size_t)len);
        const char *st = str_of(o, "status");
        int ti =
            task[0] == 't' && task[1] >= '1' && task[1] <= '3' && !task[2] ? task[1] - '1' : -1;
        bool good = ti >= 0 && item == 0 && (!strcmp(st, "succeeded") || !strcmp(st, "missed"));
        if (good && !strcmp(st, "succeeded"))
            ran[ti]++;
        else if (good)
            fprintf(stderr, "   %s: %s (%s)\n", names[i], st, str_of(o, "reason"));
        cJSON_Delete(o);
        free(data);
        if (!good)
            fail_msg("run %s: unexpected result %s: %s", run_id, names[i], st);
    }
    zkcli_free_children(names, n);
    zkcli_close(k);
    for (int i = 0; i < 3; i++)
        if (ran[i] != 1)
            fail_msg("run %s: task %s has %d results that ran (one expected)", run_id, t[i],
                     ran[i]);
}

/* ---------------------------------------------------------------- agents */

static void setup(struct ta_cluster *c, const char *tag, int session_ms, char *log, size_t len)
{
    memset(c, 0, sizeof *c);
    snprintf(c->ns, sizeof c->ns, "it_wff_%s_%d", tag, (int)getpid());
    c->session_ms = session_ms;
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

/* leader_of: the agent that reports itself leader (stopped ones are not
 * asked); -1 when none. */
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

static bool leader_known(void *arg)
{
    return leader_of(arg) >= 0;
}

struct not_leader {
    struct ta_cluster *c;
    int old, now;
};

static bool other_leads(void *arg)
{
    struct not_leader *w = arg;
    w->now = leader_of(w->c);
    return w->now >= 0 && w->now != w->old;
}

static long long metric(struct ta_cluster *c, int i, const char *name)
{
    char *m = ta_get(c, i, "/metrics");
    long long v = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = m ? strstr(m, key) : NULL;
    if (p)
        v = atoll(p + strlen(key));
    free(m);
    return v;
}

struct metric_at_least {
    struct ta_cluster *c;
    int agent;
    const char *name;
    long long min;
};

static bool metric_reached(void *arg)
{
    struct metric_at_least *m = arg;
    return metric(m->c, m->agent, m->name) >= m->min;
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

/* ---------------------------------------------------------------- leader session expiry */

static long file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (f)
        fclose(f);
    return n;
}

/* read_from: a file's text from byte `off` on (the caller's to free). */
static char *read_from(const char *path, long off)
{
    FILE *f = fopen(path, "r");
    long end = file_size(path);
    char *buf = f && end >= off ? calloc(1, (size_t)(end - off) + 1) : NULL;
    if (buf && (fseek(f, off, SEEK_SET) != 0 ||
                fread(buf, 1, (size_t)(end - off), f) != (size_t)(end - off)))
        buf[0] = '\0';
    if (f)
        fclose(f);
    return buf;
}

static void test_leader_expiry(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], def[16384];
    const char *ctl[] = {"--labels", "ctl", NULL}, *work[] = {"--labels", "work", NULL};
    setup(&c, "lx", SESSION_MS, log, sizeof log);
    assert_int_equal(ta_start(&c, "A", ctl), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    assert_int_equal(ta_start(&c, "B", work), 1);
    assert_int_equal(ta_start(&c, "C", work), 2);
    /* t2 is long too, so that the old leader thaws while the run is active. */
    chain(def, sizeof def, "lx", log, ",\"labels\":[\"work\"]", "", "sleep 3", "sleep 3", "true");
    put_wf(c.ns, def);
    assert_int_equal(leader_of(&c), 0);
    trigger(c.ns, "lx", run, sizeof run);
    struct running_on r = {&c, "wf.lx.t1", -1};
    assert_true(tenv_wait(runs_job, &r, 20000, 20));
    assert_int_not_equal(r.agent, 0);

    ta_kill(&c, 0, SIGSTOP);
    long long t0 = tenv_now_ms();
    struct not_leader nl = {&c, 0, -1};
    if (!tenv_wait(other_leads, &nl, SESSION_MS + 15000, 20))
        fail_msg("no other agent led within %d ms of the leader's freeze", SESSION_MS + 15000);
    long long led = tenv_now_ms() - t0;
    /* The old leader wakes with the run still going: its driver still holds
     * the run as it was when it froze. */
    const char *at_thaw = run_state(c.ns, run, NULL);
    if (strcmp(at_thaw, "running") != 0)
        fail_msg("the run was %s when the old leader thawed (running needed for the test)",
                 at_thaw);
    char alog[700];
    snprintf(alog, sizeof alog, "%s/agent.log", c.a[0].dir);
    long thaw_at = file_size(alog);
    ta_kill(&c, 0, SIGCONT);
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    long long t2 = edge(log, 'S', "t2"), e1 = edge(log, 'E', "t1");
    fprintf(stderr,
            "   leader A frozen: %s led after %lld ms; hop t1->t2 on the new driver %.1f ms\n",
            c.a[nl.now].id, led, (t2 - e1) / 1e6);
    /* The thawed agent learnt that its session had expired, and is back. */
    struct metric_at_least back = {&c, 0, "shardcron_agent_sessions_lost_total", 1};
    if (!tenv_wait(metric_reached, &back, 20000, 100))
        fail_msg("the thawed leader never reported its lost session (metric %lld)",
                 metric(&c, 0, "shardcron_agent_sessions_lost_total"));
    assert_int_not_equal(leader_of(&c), 0);
    check_chain(c.ns, run, log);
    /* The thawed driver decided nothing about the run (a decision is logged
     * before its write, which its fence would refuse). */
    char *after = read_from(alog, thaw_at), mark[160];
    snprintf(mark, sizeof mark, "workflow run %s", run);
    const char *d = after ? strstr(after, mark) : NULL;
    if (d)
        fail_msg("the old leader acted on the run after its thaw: %.200s", d);
    if (!after || !strstr(after, "workflow driver inactive"))
        fail_msg("the old leader's log has no deactivation of its driver after the thaw");
    free(after);
    teardown(&c);
}

/* ---------------------------------------------------------------- ZooKeeper restart */

static atomic_bool zk_down;

static bool zk_up(void *arg)
{
    (void)arg;
    char cmdline[1024];
    snprintf(cmdline, sizeof cmdline, "%s/scripts/zk start %s >/dev/null 2>&1", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    return system(cmdline) == 0;
}

/* Start the shared ZooKeeper again on every path: later tests need it. */
static int zk_teardown(void **state)
{
    (void)state;
    if (atomic_exchange(&zk_down, false) && !tenv_wait(zk_up, NULL, 30000, 200))
        fprintf(stderr, "could not start ZooKeeper again\n");
    return 0;
}

static void test_zk_restart(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], def[16384], cmdline[1024];
    /* Sessions long enough for a restart to fit inside them (as test_coord's
     * test_zk_restart): a claim held across it is the claim of a live agent. */
    const int session_ms = 20000; /* the client may take seconds to reconnect after the restart */
    setup(&c, "zr", session_ms, log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_int_equal(ta_start(&c, "B", NULL), 1);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    chain(def, sizeof def, "zr", log, "", "", "sleep 3", "sleep 1", "true");
    put_wf(c.ns, def);
    trigger(c.ns, "zr", run, sizeof run);
    /* ZooKeeper goes down late in t1's run, so that t1 most likely ends
     * while it is down and its result waits for the return. */
    for (long long d = tenv_now_ms() + 20000;
         !edge(log, 'S', "t1") || ta_now_ms() - edge(log, 'S', "t1") / 1000000 < 1500;) {
        if (tenv_now_ms() > d)
            fail_msg("t1 did not start within 20 s");
        usleep(20000);
    }

    /* A crash (SIGKILL) and a start on the same port and data. */
    snprintf(cmdline, sizeof cmdline, "%s/scripts/zk stop %s --kill", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    atomic_store(&zk_down, true);
    long long t0 = tenv_now_ms();
    assert_int_equal(system(cmdline), 0);
    assert_true(tenv_wait(zk_up, NULL, 30000, 100));
    atomic_store(&zk_down, false);
    long long down = tenv_now_ms() - t0, up_real = ta_now_ms();
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    long long s2 = edge(log, 'S', "t2") / 1000000, e1 = edge(log, 'E', "t1") / 1000000;
    fprintf(stderr,
            "   ZooKeeper down %lld ms; t1 ended %+lld ms from scripts/zk start's return, t2 "
            "started %lld ms after t1 ended (%+lld ms from that return)\n",
            down, e1 - up_real, s2 - e1, s2 - up_real);
    long long lost0 = metric(&c, 0, "shardcron_agent_sessions_lost_total"),
              lost1 = metric(&c, 1, "shardcron_agent_sessions_lost_total");
    if (lost0 != 0 || lost1 != 0)
        fail_msg("sessions lost across a %lld ms restart (A %lld, B %lld; timeout %d ms)", down,
                 lost0, lost1, session_ms);
    check_chain(c.ns, run, log);
    teardown(&c);
}

/* ---------------------------------------------------------------- MariaDB outage */

static atomic_bool mysql_down;

static void mysql_ctl(const char *verb)
{
    char cmdline[1024];
    snprintf(cmdline, sizeof cmdline, "%s/scripts/mysql %s %s >/dev/null", tenv("SC_ROOT"), verb,
             tenv("SC_TEST_MYSQL_DIR"));
    if (system(cmdline) != 0)
        fail_msg("scripts/mysql %s failed", verb);
}

/* Start the shared server again on every path: later tests need it. */
static int mysql_teardown(void **state)
{
    (void)state;
    if (atomic_exchange(&mysql_down, false)) {
        char cmdline[1024];
        snprintf(cmdline, sizeof cmdline, "%s/scripts/mysql start %s >/dev/null", tenv("SC_ROOT"),
                 tenv("SC_TEST_MYSQL_DIR"));
        if (system(cmdline) != 0)
            fprintf(stderr, "could not start MariaDB again\n");
    }
    return 0;
}

struct in_history {
    MYSQL *m;
    const char *run;
    cJSON *got; /* the last read */
};

/* recorded: history holds the run succeeded, each task succeeded at
 * attempt 1, and t1's output. */
static bool recorded(void *arg)
{
    struct in_history *h = arg;
    struct sc_err err;
    cJSON_Delete(h->got);
    h->got = NULL;
    if (hist_wf_run_get(h->m, h->run, &h->got, &err) != 0)
        return false;
    if (strcmp(str_of(h->got, "state"), "succeeded") != 0)
        return false;
    for (int i = 1; i <= 3; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        const cJSON *tj = task_of(h->got, t);
        const cJSON *a = cJSON_GetObjectItem(tj, "attempt");
        if (strcmp(str_of(tj, "state"), "succeeded") != 0 || !cJSON_IsNumber(a) || a->valueint != 1)
            return false;
    }
    const cJSON *out = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(task_of(h->got, "t1"), "outputs"), "0"), "rows");
    return cJSON_IsNumber(out) && out->valueint == 7;
}

static void test_mysql_outage(void **state)
{
    (void)state;
    struct ta_cluster c;
    struct db_url u;
    char log[600], run[100], def[16384], url[512], sql[400];
    MYSQL *m = tdb_scratch(&u, url, sizeof url, "wff");
    mysql_close(m); /* connected again once the server is back */
    setup(&c, "my", SESSION_MS, log, sizeof log);
    const char *hist[] = {"--mysql", url, "--mysql-password-file",
                          tenv("SC_TEST_MYSQL_PASSWORD_FILE"), NULL};
    assert_int_equal(ta_start(&c, "A", hist), 0);
    assert_int_equal(ta_start(&c, "B", hist), 1);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    int lead = leader_of(&c);
    assert_true(lead >= 0);
    chain(def, sizeof def, "my", log, "", "",
          "sleep 2; echo '{\\\"rows\\\": 7}' > $SHARDCRON_XCOM_OUT", "sleep 1", "true");
    put_wf(c.ns, def);
    trigger(c.ns, "my", run, sizeof run);
    struct running_on r = {&c, "wf.my.t1", -1};
    assert_true(tenv_wait(runs_job, &r, 20000, 20));

    atomic_store(&mysql_down, true);
    long long t0 = tenv_now_ms();
    mysql_ctl("stop");
    /* The run does not wait for MySQL. */
    wait_state(c.ns, run, NULL, "succeeded", 60000);
    long long ran = tenv_now_ms() - t0;
    assert_true(atomic_load(&mysql_down));
    /* What the driver recorded meanwhile went to its spool. */
    struct metric_at_least spooled = {&c, lead, "shardcron_agent_history_spooled_total", 1};
    if (!tenv_wait(metric_reached, &spooled, 30000, 100))
        fail_msg("the leader spooled nothing while MariaDB was down (spooled %lld, connected "
                 "%lld)",
                 metric(&c, lead, "shardcron_agent_history_spooled_total"),
                 metric(&c, lead, "shardcron_agent_history_connected"));
    mysql_ctl("start");
    atomic_store(&mysql_down, false);
    long long back = tenv_now_ms();
    m = tdb_connect(&u);
    struct in_history h = {m, run, NULL};
    bool ok = tenv_wait(recorded, &h, 60000, 200);
    char *got = h.got ? cJSON_PrintUnformatted(h.got) : NULL;
    if (!ok) {
        fail_msg("history does not hold run %s as it ended within 60 s of MariaDB's return: %s",
                 run, got ? got : "(no run)");
    }
    fprintf(stderr,
            "   MariaDB down %lld ms (the run ended %lld ms into it); the run's rows complete "
            "%lld ms after it was back (%lld spooled)\n",
            back - t0, ran, tenv_now_ms() - back,
            metric(&c, lead, "shardcron_agent_history_spooled_total"));
    free(got);
    cJSON_Delete(h.got);
    /* The rows themselves: one run, three task instances, t1's output. */
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM workflow_run WHERE run_id = '%s' AND state = 'succeeded'", run);
    assert_int_equal(tdb_int(m, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM task_instance WHERE run_id = '%s' AND state = 'succeeded'", run);
    assert_int_equal(tdb_int(m, sql), 3);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM task_xcom WHERE run_id = '%s' AND task = 't1' AND item = 0",
             run);
    assert_int_equal(tdb_int(m, sql), 1);
    check_chain(c.ns, run, log);
    teardown(&c);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", u.db);
    mysql_query(m, sql);
    mysql_close(m);
}

/* ---------------------------------------------------------------- owner death, no retry */

static void test_owner_death_no_retry(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], def[16384];
    const char *ctl[] = {"--labels", "ctl", NULL}, *work[] = {"--labels", "work", NULL};
    setup(&c, "od", SESSION_MS, log, sizeof log);
    assert_int_equal(ta_start(&c, "A", ctl), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    assert_int_equal(ta_start(&c, "B", work), 1);
    assert_int_equal(ta_start(&c, "C", work), 2);
    chain(def, sizeof def, "od", log, ",\"labels\":[\"work\"]", ",\"retries\":0", "sleep 60",
          "true", "true");
    put_wf(c.ns, def);
    trigger(c.ns, "od", run, sizeof run);
    struct running_on r = {&c, "wf.od.t1", -1};
    assert_true(tenv_wait(runs_job, &r, 20000, 20));
    for (long long d = tenv_now_ms() + 10000; count(log, 'S', "t1") < 1;) {
        if (tenv_now_ms() > d)
            fail_msg("t1 runs on %s but logged no start", c.a[r.agent].id);
        usleep(20000);
    }
    char victim[64];
    snprintf(victim, sizeof victim, "%s", c.a[r.agent].id);
    ta_kill(&c, r.agent, SIGKILL);
    long long t0 = tenv_now_ms();
    wait_state(c.ns, run, "t1", "failed", 30000);
    long long failed = tenv_now_ms() - t0;
    wait_state(c.ns, run, NULL, "failed", 10000);
    fprintf(stderr, "   %s killed -9 while it ran t1 (retries 0): t1 failed after %lld ms\n",
            victim, failed);
    cJSON *rj = read_run(c.ns, run);
    assert_non_null(rj);
    const char *why = str_of(task_of(rj, "t1"), "reason");
    char name[80];
    snprintf(name, sizeof name, "agent %s ", victim);
    if (!strstr(why, name))
        fail_msg("t1's reason does not name the gone agent %s: \"%s\"", victim, why);
    assert_int_equal(cJSON_GetObjectItem(task_of(rj, "t1"), "attempt")->valueint, 1);
    assert_string_equal(str_of(task_of(rj, "t2"), "state"), "upstream_failed");
    assert_string_equal(str_of(task_of(rj, "t3"), "state"), "upstream_failed");
    cJSON_Delete(rj);
    /* Nothing ran twice, nothing downstream ran. */
    assert_int_equal(count(log, 'S', "t1"), 1);
    assert_int_equal(count(log, 'S', "t2"), 0);
    assert_int_equal(count(log, 'S', "t3"), 0);
    /* The survivor, which now owns the item, did not pick the trigger up. */
    struct running_on again = {&c, "wf.od.t1", -1};
    assert_false(runs_job(&again));
    kill_runs(log, "t1");
    teardown(&c);
}

/* ---------------------------------------------------------------- owner death after a clear */

/* A cleared task starts as a new attempt with its retries whole: its agent
 * killed -9 during that attempt (2), the item runs again (attempt 3 of the
 * item; retries 1). */
static void test_owner_death_after_clear(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], def[16384], c1[8192], body[4608], job[16384], m[2][700];
    const char *ctl[] = {"--labels", "ctl", NULL}, *work[] = {"--labels", "work", NULL};
    setup(&c, "oc", SESSION_MS, log, sizeof log);
    for (int i = 0; i < 2; i++) {
        snprintf(m[i], sizeof m[i], "%s.m%d", log, i);
        unlink(m[i]);
    }
    assert_int_equal(ta_start(&c, "A", ctl), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    assert_int_equal(ta_start(&c, "B", work), 1);
    assert_int_equal(ta_start(&c, "C", work), 2);
    /* Its first run succeeds; the run after the clear hangs (its agent is
     * killed), the next succeeds. */
    snprintf(body, sizeof body,
             "if [ ! -e %s ]; then touch %s; elif [ ! -e %s ]; then touch %s; sleep 60; fi", m[0],
             m[0], m[1], m[1]);
    cmd(c1, sizeof c1, log, body);
    snprintf(job, sizeof job,
             "{\"name\":\"rj\",\"shards\":1,\"retries\":1,\"labels\":[\"work\"],"
             "\"command\":\"%s\"}",
             c1);
    struct zkcli *k = zk(c.ns);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    assert_int_equal(zkcli_job_create(k, "rj", job, (int)strlen(job)), ZOK);
    zkcli_close(k);
    snprintf(def, sizeof def, "{\"name\":\"oc\",\"tasks\":{\"t1\":{\"job\":\"rj\"}}}");
    put_wf(c.ns, def);
    trigger(c.ns, "oc", run, sizeof run);
    wait_state(c.ns, run, NULL, "succeeded", 30000);
    assert_int_equal(count(log, 'S', "t1"), 1);

    struct zkcli *q = zk(c.ns);
    cJSON *req = cJSON_CreateObject(), *res = NULL;
    struct sc_err err = {0};
    int status = 0;
    cJSON_AddStringToObject(req, "op", "clear");
    cJSON_AddStringToObject(req, "run_id", run);
    cJSON_AddStringToObject(req, "task", "t1");
    int rc = wfzk_request(q, req, 20000, &res, &status, &err);
    cJSON_Delete(req);
    cJSON_Delete(res);
    zkcli_close(q);
    if (rc < 0)
        fail_msg("clear: %s: %s", err.field, err.msg);
    struct running_on r = {&c, "rj", -1};
    for (long long d = tenv_now_ms() + 20000; count(log, 'S', "t1") < 2;) {
        if (tenv_now_ms() > d)
            fail_msg("the cleared task did not start within 20 s");
        usleep(20000);
    }
    assert_true(tenv_wait(runs_job, &r, 10000, 20));
    ta_kill(&c, r.agent, SIGKILL);
    wait_state(c.ns, run, NULL, "succeeded", 30000);
    assert_int_equal(count(log, 'S', "t1"), 3); /* the first, the cut one, the retry */
    assert_int_equal(count(log, 'E', "t1"), 2);
    kill_runs(log, "t1");
    teardown(&c);
    for (int i = 0; i < 2; i++)
        unlink(m[i]);
}

/* ---------------------------------------------------------------- an item never started */

/* A job task whose job is disabled: its item is held (the agent owns it) but
 * never scheduled, so its claim is never followed by a start; the agent
 * reports it missed, as it does an item that moved between its claim and its
 * start. The driver asks again, as new attempts of the item, a bounded number
 * of times (nothing ran, so the task's retries are not used), then fails the
 * task with the agent's reason. */
static void test_item_not_started_asked_again(void **state)
{
    (void)state;
    struct ta_cluster c;
    char log[600], run[100], def[16384], c1[2048], c2[2048], job[4096];
    setup(&c, "ms", SESSION_MS, log, sizeof log);
    assert_int_equal(ta_start(&c, "A", NULL), 0);
    assert_true(tenv_wait(leader_known, &c, 20000, 100));
    cmd(c1, sizeof c1, log, "true");
    cmd(c2, sizeof c2, log, "true");
    snprintf(job, sizeof job, "{\"name\":\"dj\",\"shards\":1,\"disabled\":true,\"command\":\"%s\"}",
             c1);
    struct zkcli *k = zk(c.ns);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    assert_int_equal(zkcli_job_create(k, "dj", job, (int)strlen(job)), ZOK);
    snprintf(def, sizeof def,
             "{\"name\":\"ms\",\"tasks\":{\"t1\":{\"job\":\"dj\"},"
             "\"t2\":{\"command\":\"%s\",\"upstream\":[\"t1\"]}}}",
             c2);
    put_wf(c.ns, def);
    trigger(c.ns, "ms", run, sizeof run);
    wait_state(c.ns, run, NULL, "failed", 30000);
    cJSON *rj = read_run(c.ns, run);
    assert_non_null(rj);
    const char *why = str_of(task_of(rj, "t1"), "reason");
    if (!strstr(why, "item 0: ") || !strstr(why, "not run"))
        fail_msg("t1's reason is not its item's: \"%s\"", why);
    assert_string_equal(str_of(task_of(rj, "t1"), "state"), "failed");
    assert_string_equal(str_of(task_of(rj, "t2"), "state"), "upstream_failed");
    cJSON_Delete(rj);
    /* Attempts 1 to 4 of the item, none started; nothing ran. */
    char path[400], **names = NULL;
    int n = 0, unstarted = 0;
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", run);
    assert_int_equal(zkcli_children(k, path, &names, &n), ZOK);
    for (int i = 0; i < n; i++) {
        char *data = NULL, task[64];
        int len = 0, attempt, item;
        snprintf(path, sizeof path, WFZK_RUNS "/%s/d/%s", run, names[i]);
        assert_int_equal(wfzk_done_parse(names[i], task, sizeof task, &attempt, &item), 0);
        assert_int_equal(zkcli_get(k, path, &data, &len, NULL), ZOK);
        unstarted += !strcmp(task, "t1") && item == 0 && attempt >= 1 && attempt <= 4 &&
                     strstr(data, "\"status\":\"missed\"") != NULL;
        free(data);
    }
    zkcli_free_children(names, n);
    zkcli_close(k);
    if (n != 4 || unstarted != 4)
        fail_msg(
            "run %s: %d results, %d of them attempts 1-4 of t1's item not started (4 expected)",
            run, n, unstarted);
    assert_int_equal(count(log, 'S', "t1"), 0);
    assert_int_equal(count(log, 'S', "t2"), 0);
    teardown(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_expiry),
        cmocka_unit_test_teardown(test_zk_restart, zk_teardown),
        cmocka_unit_test_teardown(test_mysql_outage, mysql_teardown),
        cmocka_unit_test(test_owner_death_no_retry),
        cmocka_unit_test(test_owner_death_after_clear),
        cmocka_unit_test(test_item_not_started_asked_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
