/* tests/integration/test_wfzk.c: workflow/wfzk.c against a real ZooKeeper.
 *
 *   put        valid and invalid definitions (a cycle named, an unknown job
 *              named), the 'w' change-log entry, a stale version refused,
 *              enable/disable, list, delete refused while a run is active
 *   request    the request protocol against a fake driver (a thread with its
 *              own ZooKeeper session that answers /wfreq as the driver's
 *              contract says): an answer, a refusal with its status, and
 *              with no driver the timeout that withdraws the request
 *   read_run   a run written in the documented node shapes read back as the
 *              contract's JSON: waiting tasks, current-attempt outputs only
 *
 * `it_test_wfzk --wait-request NS` exits 0 once a request is pending in NS
 * (1 after 10 s). `it_test_wfzk --fake-driver NS` runs only the fake driver, until SIGTERM:
 * tests/integration/workflow_cli.sh uses it to stand in for the leader's
 * driver behind shardcronctl and the console. It is a stand-in for the
 * driver (agent/wfdrive.c), not a ZooKeeper mock: every node is real. */
#include <errno.h>
#include <pthread.h>
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

#include "core/json.h"
#include "registry/plan.h"
#include "registry/zkcli.h"
#include "tests/lib/testenv.h"
#include "workflow/wfzk.h"

static char ns[64];

static struct zkcli *zk(const char *space)
{
    struct sc_err err;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), space, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    return k;
}

/* ---------------------------------------------------------------- the fake driver */

static volatile sig_atomic_t driver_stop;

static void set_data(struct zkcli *k, const char *path, cJSON *o)
{
    char *s = json_print(o);
    int rc = zkcli_set(k, path, s, (int)strlen(s), -1, NULL);
    if (rc == ZNONODE)
        zkcli_create(k, path, s, (int)strlen(s), 0, NULL, 0);
    free(s);
    cJSON_Delete(o);
}

static cJSON *refusal(const char *msg, const char *field, int status)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", false);
    cJSON_AddStringToObject(a, "error", msg);
    cJSON_AddStringToObject(a, "field", field);
    cJSON_AddNumberToObject(a, "status", status);
    return a;
}

/* answer_one: what the fake driver says to one request. A trigger of a
 * workflow that exists creates its run node (documented shape) and answers
 * its id; cancel sets the run's state; every answer echoes the request so
 * tests can check what reached the driver. Unknown workflow or run: 404;
 * task "nope": 404 naming the task. */
static cJSON *answer_one(struct zkcli *k, const cJSON *req)
{
    char path[400], id[WFZK_RUN_ID_MAX + 1];
    const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "op"));
    const char *wf = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "workflow"));
    const char *run = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "run_id"));
    const char *task = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "task"));
    cJSON *result = cJSON_CreateObject();
    if (wf) {
        snprintf(path, sizeof path, WFZK_DEFS "/%s", wf);
        if (zkcli_exists(k, path, NULL) != ZOK) {
            cJSON_Delete(result);
            return refusal("no workflow of that name", "workflow", 404);
        }
    }
    if (run) {
        snprintf(path, sizeof path, WFZK_RUNS "/%s", run);
        if (zkcli_exists(k, path, NULL) != ZOK) {
            cJSON_Delete(result);
            return refusal("no such run", "run_id", 404);
        }
    }
    if (task && strcmp(task, "nope") == 0) {
        cJSON_Delete(result);
        return refusal("the run has no task nope", "task", 404);
    }
    if (op && strcmp(op, "trigger") == 0) {
        const cJSON *lm = cJSON_GetObjectItemCaseSensitive(req, "logical_ms");
        int64_t ms = cJSON_IsNumber(lm) ? (int64_t)lm->valuedouble : 1765069200000LL;
        wfzk_run_id(id, sizeof id, wf, ms);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "run_id", id);
        cJSON_AddStringToObject(r, "workflow", wf);
        cJSON_AddNumberToObject(r, "logical_ms", (double)ms);
        cJSON_AddStringToObject(r, "trigger", "manual");
        cJSON_AddStringToObject(r, "state", "queued");
        cJSON_AddItemToObject(r, "params",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(req, "params"), 1));
        zkcli_ensure(k, WFZK_RUNS);
        snprintf(path, sizeof path, WFZK_RUNS "/%s", id);
        set_data(k, path, r);
        cJSON_AddStringToObject(result, "run_id", id);
    } else if (op && strcmp(op, "backfill") == 0) {
        /* the driver's plan shape: the two ends of the range, the first with a run */
        cJSON *runs = cJSON_AddArrayToObject(result, "runs");
        const char *ends[] = {"from_ms", "to_ms"};
        for (int i = 0; i < 2; i++) {
            int64_t ms =
                (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(req, ends[i]));
            char iso[48];
            wfzk_run_id(id, sizeof id, wf, ms);
            wfzk_time_format(iso, sizeof iso, ms, NULL);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "run_id", id);
            cJSON_AddStringToObject(e, "logical_time", iso);
            cJSON_AddNumberToObject(e, "logical_ms", (double)ms);
            cJSON_AddStringToObject(e, "action", i == 0 ? "skip" : "create");
            if (i == 0)
                cJSON_AddStringToObject(e, "state", "succeeded");
            cJSON_AddItemToArray(runs, e);
        }
        cJSON_AddBoolToObject(result, "dry_run",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "dry_run")));
    } else if (op && strcmp(op, "cancel") == 0) {
        char *data = NULL;
        snprintf(path, sizeof path, WFZK_RUNS "/%s", run);
        if (zkcli_get(k, path, &data, NULL, NULL) == ZOK) {
            cJSON *r = cJSON_Parse(data);
            if (r) {
                cJSON_ReplaceItemInObjectCaseSensitive(r, "state", cJSON_CreateString("cancelled"));
                set_data(k, path, r);
            }
        }
        free(data);
        cJSON_AddStringToObject(result, "state", "cancelled");
    }
    cJSON_AddItemToObject(result, "echo", cJSON_Duplicate(req, 1));
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", true);
    cJSON_AddItemToObject(a, "result", result);
    return a;
}

/* driver_pass: answer every unanswered request once. */
static void driver_pass(struct zkcli *k)
{
    char **names = NULL;
    int n = 0;
    if (zkcli_children(k, WFZK_REQS, &names, &n) != ZOK)
        return;
    for (int i = 0; i < n; i++) {
        char path[300], *data = NULL;
        snprintf(path, sizeof path, WFZK_REQS "/%s", names[i]);
        if (zkcli_get(k, path, &data, NULL, NULL) != ZOK) {
            free(data);
            continue;
        }
        cJSON *req = cJSON_Parse(data);
        free(data);
        if (req && !cJSON_GetObjectItemCaseSensitive(req, "ok"))
            set_data(k, path, answer_one(k, req));
        cJSON_Delete(req);
    }
    zkcli_free_children(names, n);
}

static void *driver_main(void *arg)
{
    struct zkcli *k = zk(arg);
    struct timespec step = {0, 20 * 1000000L};
    while (!driver_stop) {
        driver_pass(k);
        nanosleep(&step, NULL);
    }
    zkcli_close(k);
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    driver_stop = 1;
}

/* ---------------------------------------------------------------- put and friends */

static int count_changes(struct zkcli *k, const char *name)
{
    char **names = NULL, job[128];
    int n = 0, hits = 0;
    enum plan_change_kind kind;
    int64_t seq;
    zkcli_children(k, PLAN_CHANGES, &names, &n);
    for (int i = 0; i < n; i++)
        if (plan_change_parse(names[i], &kind, job, sizeof job, &seq) == 0 &&
            kind == PLAN_CHANGE_WORKFLOW && strcmp(job, name) == 0)
            hits++;
    zkcli_free_children(names, n);
    return hits;
}

static cJSON *stored(struct zkcli *k, const char *name, int *version)
{
    cJSON *def = NULL;
    struct sc_err err;
    assert_int_equal(wfzk_get(k, name, &def, version, &err), 0);
    return def;
}

#define CHAIN                                                                                      \
    "{\"name\":\"chain\",\"cron\":\"0 0 1 * * ?\",\"timezone\":\"Asia/Shanghai\",\"tasks\":{"      \
    "\"a\":{\"job\":\"extract\"},\"b\":{\"command\":\"true\",\"upstream\":[\"a\"]}}}"

static void test_put(void **state)
{
    (void)state;
    struct zkcli *k = zk(ns);
    struct sc_err err;
    int version = -1;
    sc_err_clear(&err);
    assert_int_equal(zkcli_ensure(k, "/jobs/extract"), ZOK);
    assert_int_equal(wfzk_put(k, CHAIN, strlen(CHAIN), -1, &err), 0);
    assert_int_equal(count_changes(k, "chain"), 1);
    cJSON *def = stored(k, "chain", &version);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(def, "timezone")),
                        "Asia/Shanghai");
    cJSON_Delete(def);

    /* a cycle: refused naming the tasks on it; nothing written */
    const char *cyc = "{\"name\":\"loop\",\"tasks\":{\"x\":{\"command\":\"true\",\"upstream\":"
                      "[\"z\"]},\"y\":{\"command\":\"true\",\"upstream\":[\"x\"]},"
                      "\"z\":{\"command\":\"true\",\"upstream\":[\"y\"]}}}";
    assert_int_equal(wfzk_put(k, cyc, strlen(cyc), -1, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "cycle"));
    assert_non_null(strstr(err.msg, "x"));
    assert_non_null(strstr(err.msg, "y"));
    assert_non_null(strstr(err.msg, "z"));
    assert_int_equal(zkcli_exists(k, WFZK_DEFS "/loop", NULL), ZNONODE);
    /* an unknown job: named, with the task */
    const char *unk = "{\"name\":\"unk\",\"tasks\":{\"load\":{\"job\":\"no-such-job\"}}}";
    assert_int_equal(wfzk_put(k, unk, strlen(unk), -1, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "no-such-job"));
    assert_non_null(strstr(err.field, "load"));
    assert_int_equal(zkcli_exists(k, WFZK_DEFS "/unk", NULL), ZNONODE);

    /* a zone of the right shape that does not exist */
    const char *mars = "{\"name\":\"mars\",\"timezone\":\"Mars/Olympus\",\"tasks\":{\"a\":"
                       "{\"command\":\"true\"}}}";
    assert_int_equal(wfzk_put(k, mars, strlen(mars), -1, &err), -EINVAL);
    assert_string_equal(err.field, "timezone");
    assert_int_equal(zkcli_exists(k, WFZK_DEFS "/mars", NULL), ZNONODE);

    /* versions: the one read writes; a stale one is refused and changes nothing */
    assert_int_equal(wfzk_put(k, CHAIN, strlen(CHAIN), version, &err), 0);
    assert_int_equal(wfzk_put(k, CHAIN, strlen(CHAIN), version, &err), -EAGAIN);
    assert_string_equal(err.field, "version");
    assert_int_equal(count_changes(k, "chain"), 2);

    /* disable: stored, versioned, logged, listed */
    int v2;
    cJSON_Delete(stored(k, "chain", &v2));
    assert_int_equal(wfzk_set_enabled(k, "chain", false, v2 - 1, &err), -EAGAIN);
    assert_int_equal(wfzk_set_enabled(k, "chain", false, v2, &err), 0);
    def = stored(k, "chain", &version);
    assert_int_equal(version, v2 + 1);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(def, "enabled")));
    cJSON_Delete(def);
    assert_int_equal(count_changes(k, "chain"), 3);
    cJSON *list = NULL;
    assert_int_equal(wfzk_list(k, 1765069200000LL, &list, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON *row = cJSON_GetArrayItem(list, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(row, "name")), "chain");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(row, "enabled")));
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "tasks")), 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(row, "next_logical_time"))); /* disabled */
    cJSON_Delete(list);
    assert_int_equal(wfzk_set_enabled(k, "chain", true, -1, &err), 0);
    assert_int_equal(wfzk_list(k, 1765069200000LL, &list, &err), 0);
    row = cJSON_GetArrayItem(list, 0);
    /* 01:00 in Shanghai after 2025-12-07 01:00 UTC (09:00 there): the next day's */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(row, "next_logical_time")),
                        "2025-12-08T01:00:00+08:00");
    cJSON_Delete(list);

    /* delete: refused while a run is active, then done and logged */
    const char *run = "{\"run_id\":\"chain@20251207T010000Z\",\"workflow\":\"chain\","
                      "\"logical_ms\":1765069200000,\"trigger\":\"manual\",\"state\":\"running\","
                      "\"params\":{}}";
    assert_int_equal(zkcli_ensure(k, WFZK_RUNS), ZOK);
    assert_int_equal(
        zkcli_create(k, WFZK_RUNS "/chain@20251207T010000Z", run, (int)strlen(run), 0, NULL, 0),
        ZOK);
    assert_int_equal(wfzk_delete(k, "chain", -1, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "chain@20251207T010000Z"));
    assert_int_equal(zkcli_exists(k, WFZK_DEFS "/chain", NULL), ZOK);
    const char *ended = "{\"workflow\":\"chain\",\"state\":\"succeeded\"}";
    assert_int_equal(
        zkcli_set(k, WFZK_RUNS "/chain@20251207T010000Z", ended, (int)strlen(ended), -1, NULL),
        ZOK);
    assert_int_equal(wfzk_delete(k, "chain", -1, &err), 0);
    assert_int_equal(zkcli_exists(k, WFZK_DEFS "/chain", NULL), ZNONODE);
    assert_int_equal(count_changes(k, "chain"), 5);
    assert_int_equal(wfzk_delete(k, "chain", -1, &err), -ENOENT);
    zkcli_delete_tree(k, WFZK_RUNS);
    zkcli_close(k);
}

/* ---------------------------------------------------------------- requests */

static bool no_requests(void *arg)
{
    char **names = NULL;
    int n = 0;
    int rc = zkcli_children(arg, WFZK_REQS, &names, &n);
    zkcli_free_children(names, n);
    return rc == ZOK && n == 0;
}

static void test_request(void **state)
{
    (void)state;
    struct zkcli *k = zk(ns);
    struct sc_err err;
    cJSON *result = NULL;
    int status = 0;
    pthread_t th;
    const char *def = "{\"name\":\"req\",\"tasks\":{\"a\":{\"command\":\"true\"}}}";
    assert_int_equal(wfzk_put(k, def, strlen(def), -1, &err), 0);
    driver_stop = 0;
    assert_int_equal(pthread_create(&th, NULL, driver_main, ns), 0);

    cJSON *req = cJSON_Parse("{\"op\":\"trigger\",\"workflow\":\"req\",\"params\":{\"region\":"
                             "\"cn\"},\"logical_ms\":1765069200000}");
    assert_int_equal(wfzk_request(k, req, WFZK_REQ_WAIT_MS, &result, &status, &err), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(result, "run_id")),
                        "req@20251207T010000Z");
    cJSON *echo = cJSON_GetObjectItem(result, "echo");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(echo, "params"), "region")),
        "cn");
    cJSON_Delete(result);
    cJSON_Delete(req);
    assert_int_equal(zkcli_exists(k, WFZK_RUNS "/req@20251207T010000Z", NULL), ZOK);

    /* refused: the driver's message, field and status */
    req = cJSON_Parse("{\"op\":\"mark\",\"run_id\":\"req@20251207T010000Z\",\"task\":\"nope\","
                      "\"state\":\"failed\"}");
    result = NULL;
    assert_int_equal(wfzk_request(k, req, WFZK_REQ_WAIT_MS, &result, &status, &err), -EREMOTEIO);
    assert_null(result);
    assert_int_equal(status, 404);
    assert_string_equal(err.field, "task");
    assert_string_equal(err.msg, "the run has no task nope");
    cJSON_Delete(req);
    /* no op: refused before anything is written */
    req = cJSON_Parse("{\"workflow\":\"req\"}");
    assert_int_equal(wfzk_request(k, req, 1000, &result, &status, &err), -EINVAL);
    assert_string_equal(err.field, "op");
    cJSON_Delete(req);

    /* no driver: the wait ends at its deadline and the request is withdrawn */
    driver_stop = 1;
    pthread_join(th, NULL);
    zkcli_delete_tree(k, WFZK_REQS);
    req = cJSON_Parse("{\"op\":\"cancel\",\"run_id\":\"req@20251207T010000Z\"}");
    long long t0 = tenv_now_ms();
    assert_int_equal(wfzk_request(k, req, 1500, &result, &status, &err), -ETIMEDOUT);
    long long took = tenv_now_ms() - t0;
    assert_true(took >= 1500);
    assert_true(took < 5000);
    assert_string_equal(err.msg, "no leader answered within 2 s");
    assert_true(no_requests(k));
    cJSON_Delete(req);
    zkcli_delete_tree(k, WFZK_RUNS);
    zkcli_close(k);
}

/* ---------------------------------------------------------------- read_run */

static void put_node(struct zkcli *k, const char *path, const char *data)
{
    int rc = zkcli_create(k, path, data, (int)strlen(data), 0, NULL, 0);
    if (rc != ZOK)
        fail_msg("create %s: %s", path, zerror(rc));
}

static void test_read_run(void **state)
{
    (void)state;
    struct zkcli *k = zk(ns);
    struct sc_err err;
    cJSON *o = NULL;
    const char *id = "rr@20251207T010000Z";
    assert_int_equal(wfzk_read_run(k, id, &o, &err), -ENOENT);
    assert_int_equal(wfzk_read_run(k, "not-a-run", &o, &err), -EINVAL);
    assert_int_equal(zkcli_ensure(k, WFZK_RUNS), ZOK);
    put_node(k, "/wfruns/rr@20251207T010000Z",
             "{\"run_id\":\"rr@20251207T010000Z\",\"workflow\":\"rr\",\"logical_ms\":"
             "1765069200000,\"trigger\":\"backfill\",\"state\":\"running\",\"params\":"
             "{\"region\":\"cn\"},\"created_ms\":1765069200100,\"started_ms\":1765069200200,"
             "\"ended_ms\":0}");
    put_node(k, "/wfruns/rr@20251207T010000Z/def",
             "{\"name\":\"rr\",\"timezone\":\"Asia/Shanghai\",\"tasks\":{\"a\":{\"command\":"
             "\"true\"},\"b\":{\"command\":\"true\",\"upstream\":[\"a\"]},\"c\":{\"command\":"
             "\"true\",\"upstream\":[\"b\"]}}}");
    put_node(k, "/wfruns/rr@20251207T010000Z/t", "");
    put_node(k, "/wfruns/rr@20251207T010000Z/t/a",
             "{\"state\":\"succeeded\",\"attempt\":1,\"started_ms\":1765069201000,\"ended_ms\":"
             "1765069202000,\"reason\":\"\"}");
    put_node(k, "/wfruns/rr@20251207T010000Z/t/b",
             "{\"state\":\"running\",\"attempt\":2,\"started_ms\":1765069203000,\"ended_ms\":0,"
             "\"reason\":\"retry after exit 3\"}");
    put_node(k, "/wfruns/rr@20251207T010000Z/d", "");
    put_node(k, "/wfruns/rr@20251207T010000Z/d/a~1~0",
             "{\"status\":\"succeeded\",\"exit\":0,\"exec_id\":\"e1\",\"agent\":\"a1\","
             "\"started_ms\":1,\"ended_ms\":2,\"reason\":\"\",\"xcom\":{\"rows\":5}}");
    put_node(k, "/wfruns/rr@20251207T010000Z/d/a~1~1",
             "{\"status\":\"succeeded\",\"exit\":0,\"exec_id\":\"e2\",\"agent\":\"a2\","
             "\"started_ms\":1,\"ended_ms\":2,\"reason\":\"\"}");
    put_node(k, "/wfruns/rr@20251207T010000Z/d/b~1~0",
             "{\"status\":\"failed\",\"exit\":3,\"exec_id\":\"e3\",\"agent\":\"a1\","
             "\"started_ms\":1,\"ended_ms\":2,\"reason\":\"exit 3\",\"xcom\":[1,2]}");
    assert_int_equal(wfzk_read_run(k, id, &o, &err), 0);
    char *s = json_print(o);
    cJSON *want = cJSON_Parse(
        "{\"run_id\":\"rr@20251207T010000Z\",\"workflow\":\"rr\",\"state\":\"running\","
        "\"logical_time\":\"2025-12-07T09:00:00+08:00\",\"logical_ms\":1765069200000,"
        "\"trigger\":\"backfill\",\"params\":{\"region\":\"cn\"},\"created_ms\":1765069200100,"
        "\"started_ms\":1765069200200,\"ended_ms\":0,\"tasks\":{"
        "\"a\":{\"state\":\"succeeded\",\"attempt\":1,\"started_ms\":1765069201000,"
        "\"ended_ms\":1765069202000,\"reason\":\"\",\"outputs\":{\"0\":{\"rows\":5}}},"
        "\"b\":{\"state\":\"running\",\"attempt\":2,\"started_ms\":1765069203000,\"ended_ms\":0,"
        "\"reason\":\"retry after exit 3\",\"outputs\":{}},"
        "\"c\":{\"state\":\"waiting\",\"attempt\":0,\"started_ms\":0,\"ended_ms\":0,"
        "\"reason\":\"\",\"outputs\":{}}}}");
    if (!cJSON_Compare(o, want, true))
        fail_msg("read_run gave %s", s);
    free(s);
    cJSON_Delete(want);
    cJSON_Delete(o);
    zkcli_delete_tree(k, WFZK_RUNS);
    zkcli_close(k);
}

/* test_get_many: more reads than one window, some of missing nodes, each
 * answered with its own node's data or ZNONODE. */
static void test_get_many(void **state)
{
    (void)state;
    struct zkcli *k = zk(ns);
    enum { N = 3 * ZKCLI_INFLIGHT + 17 };
    static char paths[N][32];
    static struct zkcli_read r[N];
    assert_int_equal(zkcli_ensure(k, "/many"), ZOK);
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "/many/n%d", i);
        r[i].path = paths[i];
        if (i % 7 != 3) {
            char data[32];
            int len = snprintf(data, sizeof data, "data of %d", i);
            assert_int_equal(zkcli_create(k, paths[i], data, len, 0, NULL, 0), ZOK);
        }
    }
    assert_int_equal(zkcli_get_many(k, r, N), ZOK);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "data of %d", i);
        if (i % 7 == 3) {
            assert_int_equal(r[i].rc, ZNONODE);
            assert_null(r[i].data);
        } else {
            assert_int_equal(r[i].rc, ZOK);
            assert_string_equal(r[i].data, want);
            assert_int_equal(r[i].len, (int)strlen(want));
        }
    }
    zkcli_reads_free(r, N);
    assert_int_equal(zkcli_get_many(k, r, 0), ZOK);
    zkcli_delete_tree(k, "/many");
    zkcli_close(k);
}

/* test_run_sig: what changes a run's signature: its node, a task created,
 * t/ set (the driver's mark with every task write), a done node; a task's
 * data set alone does not (so the driver must set t/ with it). */
static void test_run_sig(void **state)
{
    (void)state;
    struct zkcli *k = zk(ns);
    struct wfzk_sig a, b;
    const char *id = "sg@20251207T010000Z";
    assert_int_equal(wfzk_run_sig(k, id, &a), -ENOENT);
    assert_int_equal(zkcli_ensure(k, WFZK_RUNS), ZOK);
    put_node(k, "/wfruns/sg@20251207T010000Z", "{\"state\":\"running\"}");
    put_node(k, "/wfruns/sg@20251207T010000Z/t", "");
    put_node(k, "/wfruns/sg@20251207T010000Z/d", "");
    assert_int_equal(wfzk_run_sig(k, id, &a), 0);
    assert_false(a.trusted); /* nothing has set t/ yet */
    assert_int_equal(wfzk_run_sig(k, id, &b), 0);
    assert_true(wfzk_sig_equal(&a, &b));
#define CHANGED(what)                                                                              \
    do {                                                                                           \
        what;                                                                                      \
        assert_int_equal(wfzk_run_sig(k, id, &b), 0);                                              \
        assert_false(wfzk_sig_equal(&a, &b));                                                      \
        a = b;                                                                                     \
    } while (0)
    CHANGED(put_node(k, "/wfruns/sg@20251207T010000Z/t/x", "{\"state\":\"running\"}"));
    CHANGED(assert_int_equal(zkcli_set(k, "/wfruns/sg@20251207T010000Z/t", "", 0, -1, NULL), ZOK));
    assert_true(a.trusted);
    CHANGED(put_node(k, "/wfruns/sg@20251207T010000Z/d/x~1~0", "{\"status\":\"succeeded\"}"));
    CHANGED(assert_int_equal(zkcli_set(k, "/wfruns/sg@20251207T010000Z", "{}", 2, -1, NULL), ZOK));
#undef CHANGED
    assert_int_equal(zkcli_set(k, "/wfruns/sg@20251207T010000Z/t/x", "{}", 2, -1, NULL), ZOK);
    assert_int_equal(wfzk_run_sig(k, id, &b), 0);
    assert_true(wfzk_sig_equal(&a, &b));
    zkcli_delete_tree(k, WFZK_RUNS);
    zkcli_close(k);
}

static bool some_request(void *arg)
{
    return !no_requests(arg);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--wait-request") == 0) {
        struct zkcli *k = zk(argv[2]);
        bool seen = tenv_wait(some_request, k, 10000, 20);
        zkcli_close(k);
        return seen ? 0 : 1;
    }
    if (argc == 3 && strcmp(argv[1], "--fake-driver") == 0) {
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        driver_main(argv[2]);
        return 0;
    }
    snprintf(ns, sizeof ns, "wfzk_%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_read_run),
        cmocka_unit_test(test_get_many),
        cmocka_unit_test(test_run_sig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
