/* tests/unit/test_wfhist.c: workflow/wfhist.c, the one view of ZooKeeper's
 * and history's runs — a history run put in ZooKeeper's shape, and merges:
 * interleaved by logical time, ZooKeeper winning for a run in both, no
 * history at all, an empty ZooKeeper. (Against real servers:
 * tests/integration/workflow_history.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "workflow/wfhist.h"

static cJSON *parse(const char *text)
{
    struct sc_err err;
    cJSON *o = json_parse(text, strlen(text), &err);
    assert_non_null(o);
    return o;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* As hist_wf_run_get returns it: nulls for what is not known. */
static const char *const HIST_RUN =
    "{\"run_id\":\"etl@20251207T010000Z\",\"workflow\":\"etl\",\"state\":\"failed\","
    "\"logical_time\":\"2025-12-07T01:00:00+00:00\",\"logical_ms\":1765069200000,"
    "\"trigger\":\"schedule\",\"params\":{\"region\":\"cn\"},\"created_ms\":1765069200005,"
    "\"started_ms\":null,\"ended_ms\":1765069201000,"
    "\"tasks\":{\"a\":{\"state\":\"failed\",\"attempt\":2,\"items\":2,\"started_ms\":1765069200100,"
    "\"ended_ms\":1765069200900,\"reason\":\"item 1: exit status 3\","
    "\"outputs\":{\"0\":{\"rows\":3}}},"
    "\"b\":{\"state\":\"upstream_failed\",\"attempt\":0,\"items\":0,\"started_ms\":null,"
    "\"ended_ms\":null,\"reason\":null}}}";

static void test_from_history(void **state)
{
    (void)state;
    cJSON *run = parse(HIST_RUN);
    wfhist_from_history(run, "Asia/Shanghai");
    assert_string_equal(str(run, "logical_time"), "2025-12-07T09:00:00+08:00");
    assert_string_equal(str(run, "source"), WFHIST_HISTORY);
    assert_true(num(run, "started_ms") == 0);
    assert_true(num(run, "ended_ms") == 1765069201000.0);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(run, "params"), "region"), "cn");
    cJSON *tasks = cJSON_GetObjectItemCaseSensitive(run, "tasks");
    cJSON *a = cJSON_GetObjectItemCaseSensitive(tasks, "a");
    cJSON *b = cJSON_GetObjectItemCaseSensitive(tasks, "b");
    assert_string_equal(str(a, "reason"), "item 1: exit status 3");
    assert_true(num(a, "attempt") == 2);
    char *outs = json_print(cJSON_GetObjectItemCaseSensitive(a, "outputs"));
    assert_string_equal(outs, "{\"0\":{\"rows\":3}}");
    free(outs);
    assert_string_equal(str(b, "reason"), "");
    assert_true(num(b, "started_ms") == 0 && num(b, "ended_ms") == 0);
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "outputs")));
    cJSON_Delete(run);

    /* no zone (or an unknown one): UTC as ZooKeeper's listing writes it */
    run = parse(HIST_RUN);
    wfhist_from_history(run, NULL);
    assert_string_equal(str(run, "logical_time"), "2025-12-07T01:00:00Z");
    cJSON_Delete(run);
}

/* ids: the run ids of arr, in order, joined by spaces. */
static void ids(const cJSON *arr, char *buf, size_t len)
{
    const cJSON *r;
    buf[0] = '\0';
    cJSON_ArrayForEach(r, arr)
    {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s%s:%s", n ? " " : "", str(r, "run_id"), str(r, "source"));
    }
}

static cJSON *row(const char *id, double logical_ms, const char *state, bool from_history)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", id);
    cJSON_AddStringToObject(o, "workflow", "etl");
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddNumberToObject(o, "logical_ms", logical_ms);
    if (from_history) {
        cJSON_AddStringToObject(o, "logical_time", "+00:00 form");
        cJSON_AddItemToObject(o, "params", cJSON_CreateObject());
        cJSON_AddNullToObject(o, "started_ms");
    }
    return o;
}

static void test_merge(void **state)
{
    (void)state;
    char got[512];
    /* ZooKeeper: days 7 and 5 (a day-5 run also in history, older state there) */
    cJSON *zk = cJSON_CreateArray();
    cJSON_AddItemToArray(zk, row("etl@7", 7000, "running", false));
    cJSON_AddItemToArray(zk, row("etl@5", 5000, "succeeded", false));
    cJSON *hist = cJSON_CreateArray();
    cJSON_AddItemToArray(hist, row("etl@6", 6000, "failed", true));
    cJSON_AddItemToArray(hist, row("etl@5", 5000, "running", true));
    cJSON_AddItemToArray(hist, row("etl@8", 8000, "queued", true));
    cJSON_AddItemToArray(hist, row("etl@1", 1000, "succeeded", true));
    wfhist_merge_runs(zk, hist);
    ids(zk, got, sizeof got);
    assert_string_equal(got, "etl@8:history etl@7:zookeeper etl@6:history etl@5:zookeeper "
                             "etl@1:history");
    const cJSON *five = cJSON_GetArrayItem(zk, 3);
    assert_string_equal(str(five, "state"), "succeeded"); /* ZooKeeper's view */
    const cJSON *six = cJSON_GetArrayItem(zk, 2);
    assert_null(cJSON_GetObjectItemCaseSensitive(six, "params"));
    assert_string_equal(str(six, "logical_time"), "1970-01-01T00:00:06Z");
    assert_true(num(six, "started_ms") == 0);
    cJSON_Delete(zk);

    /* no history (no --mysql, or unreadable): ZooKeeper's rows, each with a source */
    zk = cJSON_CreateArray();
    cJSON_AddItemToArray(zk, row("etl@2", 2000, "running", false));
    wfhist_merge_runs(zk, NULL);
    ids(zk, got, sizeof got);
    assert_string_equal(got, "etl@2:zookeeper");
    cJSON_Delete(zk);

    /* nothing in ZooKeeper any more: history alone, in its order; equal
     * logical times fall back to the run id, descending */
    zk = cJSON_CreateArray();
    hist = cJSON_CreateArray();
    cJSON_AddItemToArray(hist, row("etl@3a", 3000, "succeeded", true));
    cJSON_AddItemToArray(hist, row("etl@3b", 3000, "succeeded", true));
    cJSON_AddItemToArray(hist, row("etl@4", 4000, "failed", true));
    wfhist_merge_runs(zk, hist);
    ids(zk, got, sizeof got);
    assert_string_equal(got, "etl@4:history etl@3b:history etl@3a:history");
    cJSON_Delete(zk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_history),
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
