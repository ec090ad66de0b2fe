/* tests/unit/test_wfzk.c: the pure parts of workflow/wfzk.c — run ids, done
 * paths and the times shardcronctl and the console accept: round trips and
 * refusals. (What touches ZooKeeper: tests/integration/test_wfzk.c.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "workflow/wfzk.h"

/* ---------------------------------------------------------------- names */

static void test_names(void **state)
{
    (void)state;
    char id[WFZK_RUN_ID_MAX + 1], w[64], task[80], path[300];
    int64_t ms;
    int attempt, item;
    struct sc_err err;
    wfzk_run_id(id, sizeof id, "nightly-etl", 1765069200000LL); /* 2025-12-07 01:00:00 UTC */
    assert_string_equal(id, "nightly-etl@20251207T010000Z");
    assert_int_equal(wfzk_run_id_parse(id, w, sizeof w, &ms), 0);
    assert_string_equal(w, "nightly-etl");
    assert_int_equal(ms, 1765069200000LL);
    static const char *const bad[] = {
        "nightly-etl",       "@20251207T010000Z",    "a@20251307T010000Z", "a@20251207T250000Z",
        "a@20251207T010000", "a b@20251207T010000Z", "a@2025120T7010000Z", "a@20250230T000000Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(wfzk_run_id_parse(bad[i], w, sizeof w, &ms), -EINVAL);
    wfzk_task_job(path, sizeof path, "etl", "load");
    assert_string_equal(path, "wf.etl.load");
    wfzk_done_path(path, sizeof path, id, "load", 2, 7);
    assert_string_equal(path, "/wfruns/nightly-etl@20251207T010000Z/d/load~2~7");
    assert_int_equal(wfzk_done_parse("load~2~7", task, sizeof task, &attempt, &item), 0);
    assert_string_equal(task, "load");
    assert_int_equal(attempt, 2);
    assert_int_equal(item, 7);
    static const char *const badd[] = {"load~2",    "~2~7",     "load~~7",  "load~2~",
                                       "load~02~7", "load~2~x", "lo ad~2~7"};
    for (size_t i = 0; i < sizeof badd / sizeof *badd; i++)
        assert_int_equal(wfzk_done_parse(badd[i], task, sizeof task, &attempt, &item), -EINVAL);
    /* times: every spelling of one instant */
    static const char *const same[] = {"2025-12-07T09:00:00+08:00",
                                       "2025-12-07 09:00:00+0800",
                                       "2025-12-07T01:00:00Z",
                                       "2025-12-07T01:00Z",
                                       "1765069200",
                                       "@1765069200",
                                       "2025-12-06T20:00:00-05"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        ms = 0;
        assert_int_equal(wfzk_time_parse(same[i], "from", &ms, &err), 0);
        assert_int_equal(ms, 1765069200000LL);
    }
    static const char *const badt[] = {"2025-12-07 09:00:00", "yesterday", "", "2025-13-07T01:00Z",
                                       "2025-12-07T01:00:00+25:00"};
    for (size_t i = 0; i < sizeof badt / sizeof *badt; i++) {
        assert_int_equal(wfzk_time_parse(badt[i], "to", &ms, &err), -EINVAL);
        assert_string_equal(err.field, "to");
    }
    wfzk_time_format(path, sizeof path, 1765069200000LL, "Asia/Shanghai");
    assert_string_equal(path, "2025-12-07T09:00:00+08:00");
    wfzk_time_format(path, sizeof path, 1765069200000LL, NULL);
    assert_string_equal(path, "2025-12-07T01:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
