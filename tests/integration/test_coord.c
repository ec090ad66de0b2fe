/* tests/integration/test_coord.c: coordination against a real ZooKeeper and
 * real agent processes: assignment, labels, failover after kill -9, leader
 * change, fencing of a deposed leader, SIGSTOP past the session timeout,
 * duplicate ids, bad job configs, and a ZooKeeper restart.
 *
 * Every wait polls /status of all agents (which also feeds the double-claim
 * checker of tests/lib/agents.c) until the expected state holds or a deadline
 * passes. Each test uses its own namespace. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/jobops.h"
#include "registry/plan.h"
#include "registry/zkcli.h"
#include "tests/lib/agents.h"
#include "tests/lib/testenv.h"

#define SESSION_MS 2000

static struct zkcli *zk_open(const char *ns)
{
    struct sc_err err;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    return k;
}

static void put_job(struct zkcli *k, const char *name, const char *json)
{
    char path[128];
    snprintf(path, sizeof path, "/jobs/%s", name);
    int rc = zkcli_create(k, path, json, (int)strlen(json), 0, NULL, 0);
    if (rc == ZNODEEXISTS)
        rc = zkcli_job_set(k, name, json, (int)strlen(json), -1);
    assert_int_equal(rc, ZOK);
}

struct want {
    const char *job;
    int items;
};

/* all_owned_once: one sample round where every item has exactly one owner.
 * owners[] (optional) gets the owner index per item of wants[0]. */
static bool all_owned_once(struct ta_cluster *c, const struct want *w, int nw, int *owners)
{
    ta_sample(c);
    for (int j = 0; j < nw; j++)
        for (int i = 0; i < w[j].items; i++) {
            int o = -1;
            if (ta_owners(c, w[j].job, i, &o) != 1)
                return false;
            if (owners && j == 0)
                owners[i] = o;
        }
    return true;
}

static bool wait_owned(struct ta_cluster *c, const struct want *w, int nw, int deadline_ms,
                       int *owners)
{
    long long end = tenv_now_ms() + deadline_ms;
    do {
        if (all_owned_once(c, w, nw, owners))
            return true;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    } while (tenv_now_ms() < end);
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

static void init_cluster(struct ta_cluster *c, const char *tag, int session_ms)
{
    memset(c, 0, sizeof *c);
    snprintf(c->ns, sizeof c->ns, "it_%s_%d", tag, (int)getpid());
    c->session_ms = session_ms;
}

static void finish(struct ta_cluster *c)
{
    int v = c->violations;
    char first[512];
    snprintf(first, sizeof first, "%s", c->first_violation);
    char san[900];
    ta_stop_all(c);
    if (v)
        fail_msg("%d double claims; first: %s", v, first);
    if (ta_sanitizer_reports(c, san, sizeof san))
        fail_msg("sanitizer report in an agent: %s", san);
}

/* ---------------------------------------------------------------- assignment, failover, leader */

static void test_assign_failover_leader(void **state)
{
    (void)state;
    struct ta_cluster c;
    init_cluster(&c, "fail", SESSION_MS);
    struct zkcli *k = zk_open(c.ns);
    const char *gpu[] = {"--labels", "gpu,batch", NULL};
    const char *batch[] = {"--labels", "batch", NULL};
    assert_true(ta_start(&c, "a1", batch) >= 0);
    assert_true(ta_start(&c, "a2", batch) >= 0);
    assert_true(ta_start(&c, "a3", gpu) >= 0);
    assert_true(ta_start(&c, "a4", gpu) >= 0);
    put_job(k, "j8",
            "{\"name\":\"j8\",\"cron\":\"0 0 0 * * ?\",\"command\":\"true\",\"shards\":8}");
    put_job(k, "jb",
            "{\"name\":\"jb\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":5,"
            "\"strategy\":\"balanced\"}");
    put_job(k, "jgpu",
            "{\"name\":\"jgpu\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":4,"
            "\"labels\":[\"gpu\"]}");
    const struct want w[] = {{"j8", 8}, {"jb", 5}, {"jgpu", 4}};
    assert_true(wait_owned(&c, w, 3, 15000, NULL));

    /* Labels: jgpu only on a3/a4. */
    int owner;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ta_owners(&c, "jgpu", i, &owner), 1);
        assert_true(owner == 2 || owner == 3);
    }

    /* kill -9 a non-leader: its items move within session timeout + 2 s. */
    int leader = leader_of(&c);
    assert_true(leader >= 0);
    int victim = leader == 0 ? 1 : 0;
    ta_kill(&c, victim, SIGKILL);
    long long t0 = tenv_now_ms();
    assert_true(wait_owned(&c, w, 3, SESSION_MS + 2000, NULL));
    fprintf(stderr, "   failover after kill -9 of %s: %lld ms\n", c.a[victim].id,
            tenv_now_ms() - t0);

    /* kill -9 the leader: a new one is elected and assignment continues. */
    cJSON *st = ta_status(&c, leader);
    long long epoch_before = (long long)cJSON_GetObjectItem(st, "epoch")->valuedouble;
    cJSON_Delete(st);
    char old_elect[256] = "";
    {
        char **names;
        int n;
        assert_int_equal(zkcli_children(k, "/election", &names, &n), ZOK);
        long long best = -1;
        for (int i = 0; i < n; i++) {
            long long s = atoll(strrchr(names[i], '_') + 1);
            if (best < 0 || s < best) {
                best = s;
                snprintf(old_elect, sizeof old_elect, "/election/%s", names[i]);
            }
        }
        zkcli_free_children(names, n);
    }
    ta_kill(&c, leader, SIGKILL);
    t0 = tenv_now_ms();
    assert_true(wait_owned(&c, w, 3, SESSION_MS + 4000, NULL));
    int new_leader = leader_of(&c);
    assert_true(new_leader >= 0 && new_leader != leader);
    st = ta_status(&c, new_leader);
    assert_true((long long)cJSON_GetObjectItem(st, "epoch")->valuedouble > epoch_before);
    cJSON_Delete(st);
    fprintf(stderr, "   leader change: %lld ms\n", tenv_now_ms() - t0);

    /* The dead leader's fenced write (the exact ops publish uses) is rejected. */
    const char *snap = "{\"epoch\":999,\"leader\":\"ghost\",\"digest\":\"0000000000000000\","
                       "\"members\":[]}";
    struct zkreg_op ops[2] = {{.type = ZKOP_CHECK, .path = old_elect, .version = -1},
                              {.type = ZKOP_SET,
                               .path = "/state/assignment",
                               .data = snap,
                               .len = (int)strlen(snap),
                               .version = -1}};
    int op_rc[2];
    assert_int_not_equal(zkcli_multi(k, ops, 2, op_rc), ZOK);
    assert_int_equal(op_rc[0], ZNONODE);
    char *data = NULL;
    assert_int_equal(zkcli_get(k, "/state/assignment", &data, NULL, NULL), ZOK);
    assert_null(strstr(data, "ghost"));
    free(data);

    zkcli_close(k);
    finish(&c);
}

/* ---------------------------------------------------------------- SIGSTOP past the session timeout
 */

static void test_pause_past_timeout(void **state)
{
    (void)state;
    struct ta_cluster c;
    init_cluster(&c, "pause", SESSION_MS);
    struct zkcli *k = zk_open(c.ns);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        assert_true(ta_start(&c, id, NULL) >= 0);
    }
    put_job(k, "j6", "{\"name\":\"j6\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":6}");
    const struct want w[] = {{"j6", 6}};
    int owners[6];
    assert_true(wait_owned(&c, w, 1, 15000, owners));
    int victim = owners[0];

    ta_kill(&c, victim, SIGSTOP);
    /* Its items move to the others once ZooKeeper expires its session. */
    long long t0 = tenv_now_ms();
    bool moved = false;
    while (!moved && tenv_now_ms() < t0 + SESSION_MS + 4000) {
        moved = wait_owned(&c, w, 1, 200, owners);
        for (int i = 0; moved && i < 6; i++)
            moved = owners[i] != victim;
    }
    assert_true(moved);
    fprintf(stderr, "   items of the stopped agent moved after %lld ms\n", tenv_now_ms() - t0);

    ta_kill(&c, victim, SIGCONT);
    /* It notices the lost session, builds a new one, registers, and gets items again. */
    long long end = tenv_now_ms() + 15000;
    bool back = false;
    while (!back && tenv_now_ms() < end) {
        if (wait_owned(&c, w, 1, 200, owners))
            for (int i = 0; i < 6; i++)
                back = back || owners[i] == victim;
    }
    assert_true(back);
    assert_true(metric(&c, victim, "shardcron_agent_sessions_lost_total") >= 1);
    zkcli_close(k);
    finish(&c);
}

/* ---------------------------------------------------------------- duplicate id, bad input */

static void test_duplicate_id_refused(void **state)
{
    (void)state;
    struct ta_cluster c;
    init_cluster(&c, "dup", SESSION_MS);
    assert_true(ta_start(&c, "same", NULL) >= 0);
    cJSON *st = NULL;
    long long end = tenv_now_ms() + 10000;
    while (tenv_now_ms() < end) { /* registered once it reports a connected session */
        st = ta_status(&c, 0);
        if (st && cJSON_IsTrue(cJSON_GetObjectItem(st, "ready")))
            break;
        cJSON_Delete(st);
        st = NULL;
    }
    assert_non_null(st);
    cJSON_Delete(st);
    int second = ta_start(&c, "same", NULL);
    assert_true(second >= 0);
    assert_int_equal(ta_wait_exit(&c, second, 15000), 3);
    char log[700], buf[8192] = "";
    snprintf(log, sizeof log, "%s/agent.log", c.a[second].dir);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "already registered by a live agent"));
    /* The first one is unharmed. */
    st = ta_status(&c, 0);
    assert_non_null(st);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(st, "ready")));
    cJSON_Delete(st);
    finish(&c);
}

static void test_bad_job_configs(void **state)
{
    (void)state;
    struct ta_cluster c;
    init_cluster(&c, "bad", SESSION_MS);
    struct zkcli *k = zk_open(c.ns);
    assert_true(ta_start(&c, "b1", NULL) >= 0);
    assert_true(ta_start(&c, "b2", NULL) >= 0);
    put_job(k, "broken", "{\"name\":\"broken\",\"cron\":");
    put_job(k, "wrongfield",
            "{\"name\":\"wrongfield\",\"cron\":\"@daily\",\"command\":\"x\","
            "\"shards\":0}");
    put_job(k, "good", "{\"name\":\"good\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":2}");
    const struct want w[] = {{"good", 2}};
    assert_true(wait_owned(&c, w, 1, 15000, NULL));
    long long end = tenv_now_ms() + 5000;
    while (metric(&c, 0, "shardcron_agent_invalid_jobs") != 2 && tenv_now_ms() < end)
        ta_sample(&c);
    assert_int_equal(metric(&c, 0, "shardcron_agent_invalid_jobs"), 2);
    assert_int_equal(metric(&c, 1, "shardcron_agent_invalid_jobs"), 2);
    /* Fixing a job brings it in without a restart. */
    put_job(k, "wrongfield",
            "{\"name\":\"wrongfield\",\"cron\":\"@daily\",\"command\":\"x\","
            "\"shards\":3}");
    const struct want w2[] = {{"good", 2}, {"wrongfield", 3}};
    assert_true(wait_owned(&c, w2, 2, 15000, NULL));
    zkcli_close(k);
    finish(&c);
}

/* ---------------------------------------------------------------- job change log */

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    if (!f)
        return 0;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static int nchildren(struct zkcli *k, const char *path)
{
    char **names = NULL;
    int n = 0;
    if (zkcli_children(k, path, &names, &n) != ZOK)
        return -1;
    zkcli_free_children(names, n);
    return n;
}

/* Agents watch only /state/changes, not each job: a rewrite and a manual
 * trigger reach them through the entry their writer adds; a raw write (no
 * entry) reaches them when the log says entries were pruned past what they saw. */
static void test_change_log(void **state)
{
    (void)state;
    struct ta_cluster c;
    char out[512], json[1024], created[300];
    init_cluster(&c, "chg", SESSION_MS);
    struct zkcli *k = zk_open(c.ns);
    snprintf(out, sizeof out, "%s/chg-%d.out", tenv("SC_TEST_TMP"), (int)getpid());
    unlink(out);
    assert_true(ta_start(&c, "c1", NULL) >= 0);
    assert_true(ta_start(&c, "c2", NULL) >= 0);
    snprintf(json, sizeof json,
             "{\"name\":\"cl\",\"cron\":\"0 0 0 1 1 ? 2099\",\"shards\":2,"
             "\"command\":\"echo $SHARDCRON_SHARD_ITEM >> %s\"}",
             out);
    put_job(k, "cl", json);
    const struct want w2[] = {{"cl", 2}};
    assert_true(wait_owned(&c, w2, 1, 15000, NULL));

    /* A manual trigger runs every item once; the leader removes it when done. */
    assert_int_equal(zkcli_job_trigger(k, "cl", "{}", 2, created, sizeof created), ZOK);
    assert_non_null(strstr(created, "/jobs/cl/triggers/t-"));
    long long end = tenv_now_ms() + 15000;
    while (count_lines(out) < 2 && tenv_now_ms() < end)
        ta_sample(&c);
    assert_int_equal(count_lines(out), 2);
    end = tenv_now_ms() + 15000;
    while (nchildren(k, "/jobs/cl/triggers") != 0 && tenv_now_ms() < end)
        ta_sample(&c);
    assert_int_equal(nchildren(k, "/jobs/cl/triggers"), 0);
    assert_int_equal(count_lines(out), 2); /* once per item, not again */
    assert_int_equal(zkcli_job_trigger(k, "ghost", "{}", 2, created, sizeof created), ZNONODE);

    /* A rewrite through the log: 3 items. */
    snprintf(json, sizeof json,
             "{\"name\":\"cl\",\"cron\":\"0 0 0 1 1 ? 2099\",\"shards\":3,"
             "\"command\":\"echo $SHARDCRON_SHARD_ITEM >> %s\"}",
             out);
    assert_int_equal(zkcli_job_set(k, "cl", json, (int)strlen(json), -1), ZOK);
    const struct want w3[] = {{"cl", 3}};
    assert_true(wait_owned(&c, w3, 1, 15000, NULL));
    /* A stale version is refused and logs nothing. */
    assert_int_equal(zkcli_job_set(k, "cl", json, (int)strlen(json), 0), ZBADVERSION);

    /* A raw write is not announced; once the log says entries this agent never
     * saw were pruned, it re-reads every job and finds it. */
    snprintf(json, sizeof json,
             "{\"name\":\"cl\",\"cron\":\"0 0 0 1 1 ? 2099\",\"shards\":4,"
             "\"command\":\"echo $SHARDCRON_SHARD_ITEM >> %s\"}",
             out);
    assert_int_equal(zkcli_set(k, "/jobs/cl", json, (int)strlen(json), -1, NULL), ZOK);
    const char *wm = "{\"pruned_through\":9999999999}";
    assert_int_equal(zkcli_set(k, PLAN_CHANGES, wm, (int)strlen(wm), -1, NULL), ZOK);
    put_job(k, "other", "{\"name\":\"other\",\"cron\":\"@daily\",\"command\":\"true\"}");
    const char *o2 = "{\"name\":\"other\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":2}";
    assert_int_equal(zkcli_job_set(k, "other", o2, (int)strlen(o2), -1), ZOK);
    const struct want w4[] = {{"cl", 4}};
    assert_true(wait_owned(&c, w4, 1, 15000, NULL));
    zkcli_close(k);
    finish(&c);
}

/* ---------------------------------------------------------------- clock skew */

static void test_clock_skew_refused(void **state)
{
    (void)state;
    struct ta_cluster c;
    init_cluster(&c, "skew", SESSION_MS);
    struct zkcli *k = zk_open(c.ns);
    assert_true(ta_start(&c, "ok1", NULL) >= 0);
    /* A second agent whose wall clock runs 10 s ahead of ZooKeeper's. */
    /* libfaketime preloaded through env(1), which execs: the agent keeps the
     * pid the test knows (faketime(1) would fork and leave it orphaned). */
    const char *faketime[] = {"env",
                              "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                              "FAKETIME=+10s", NULL};
    c.wrapper = faketime;
    assert_true(ta_start(&c, "ahead", NULL) >= 0);
    c.wrapper = NULL;
    put_job(k, "j4", "{\"name\":\"j4\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":4}");
    const struct want w[] = {{"j4", 4}};
    int owners[4];
    assert_true(wait_owned(&c, w, 1, 15000, owners));
    for (int i = 0; i < 4; i++)
        assert_int_equal(owners[i], 0); /* all on the agent with a good clock */
    cJSON *st = NULL;
    long long end = tenv_now_ms() + 10000;
    while (tenv_now_ms() < end) {
        st = ta_status(&c, 1);
        if (st && !cJSON_IsTrue(cJSON_GetObjectItem(st, "ready")))
            break;
        cJSON_Delete(st);
        st = NULL;
    }
    assert_non_null(st);
    assert_non_null(strstr(cJSON_GetObjectItem(st, "reason")->valuestring, "clock skew"));
    double skew = cJSON_GetObjectItem(st, "skew_ms")->valuedouble;
    assert_true(skew > 8000 && skew < 12000);
    cJSON_Delete(st);
    zkcli_close(k);
    finish(&c);
}

/* ---------------------------------------------------------------- ACL */

static void test_digest_acl(void **state)
{
    (void)state;
    struct ta_cluster c;
    char auth[600];
    init_cluster(&c, "acl", SESSION_MS);
    snprintf(auth, sizeof auth, "%s/%s.auth", tenv("SC_TEST_TMP"), c.ns);
    FILE *f = fopen(auth, "w");
    assert_non_null(f);
    fputs("ops:s3cret\n", f);
    fclose(f);
    chmod(auth, 0600);
    const char *args[] = {"--zk-auth-file", auth, NULL};
    assert_true(ta_start(&c, "sec1", args) >= 0);
    struct sc_err err;
    struct zkcli *holder = zkcli_open(tenv("SC_TEST_ZK"), c.ns, "ops:s3cret", 5000, &err);
    struct zkcli *other = zkcli_open(tenv("SC_TEST_ZK"), c.ns, NULL, 5000, &err);
    assert_non_null(holder);
    assert_non_null(other);
    long long end = tenv_now_ms() + 10000;
    while (zkcli_exists(other, "/agents/sec1", NULL) != ZOK && tenv_now_ms() < end)
        ta_sample(&c);
    assert_int_equal(zkcli_exists(other, "/agents/sec1", NULL), ZOK); /* readable by all */
    /* Only holders of the credential may write the namespace. */
    assert_int_equal(zkcli_create(other, "/jobs/x", "{}", 2, 0, NULL, 0), ZNOAUTH);
    assert_int_equal(zkcli_set(other, "/agents/sec1", "{}", 2, -1, NULL), ZNOAUTH);
    assert_int_equal(zkcli_create(holder, "/jobs/x", "{}", 2, 0, NULL, 0), ZOK);
    zkcli_close(holder);
    zkcli_close(other);
    finish(&c);
}

/* ---------------------------------------------------------------- ZooKeeper restart */

static bool zk_up(void *arg)
{
    (void)arg;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/zk start %s >/dev/null 2>&1", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    return system(cmd) == 0;
}

static void test_zk_restart(void **state)
{
    (void)state;
    struct ta_cluster c;
    /* A longer session than the other tests, so a restart fits well inside it. */
    init_cluster(&c, "zkre", 8000);
    struct zkcli *k = zk_open(c.ns);
    assert_true(ta_start(&c, "r1", NULL) >= 0);
    assert_true(ta_start(&c, "r2", NULL) >= 0);
    put_job(k, "j4", "{\"name\":\"j4\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":4}");
    zkcli_close(k);
    const struct want w[] = {{"j4", 4}};
    assert_true(wait_owned(&c, w, 1, 15000, NULL));

    char cmd[1024];
    /* A crash (SIGKILL) and a restart on the same port and data. */
    snprintf(cmd, sizeof cmd, "%s/scripts/zk stop %s --kill", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    long long t0 = tenv_now_ms();
    assert_int_equal(system(cmd), 0);
    assert_true(tenv_wait(zk_up, NULL, 30000, 100));
    long long down = tenv_now_ms() - t0;
    fprintf(stderr, "   ZooKeeper was down for %lld ms\n", down);
    assert_true(wait_owned(&c, w, 1, 15000, NULL));
    fprintf(stderr, "   sessions lost: r1 %lld, r2 %lld\n",
            metric(&c, 0, "shardcron_agent_sessions_lost_total"),
            metric(&c, 1, "shardcron_agent_sessions_lost_total"));
    if (down < 5000) {
        /* Back well within the timeout (the lease allows 7.2 s of silence): the
         * sessions survived. A slower restart may legitimately cost a session. */
        assert_int_equal(metric(&c, 0, "shardcron_agent_sessions_lost_total"), 0);
        assert_int_equal(metric(&c, 1, "shardcron_agent_sessions_lost_total"), 0);
    }
    finish(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_failover_leader),
        cmocka_unit_test(test_pause_past_timeout),
        cmocka_unit_test(test_duplicate_id_refused),
        cmocka_unit_test(test_bad_job_configs),
        cmocka_unit_test(test_change_log),
        cmocka_unit_test(test_clock_skew_refused),
        cmocka_unit_test(test_digest_acl),
        cmocka_unit_test(test_zk_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
