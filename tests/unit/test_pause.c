/* tests/unit/test_pause.c: pause windows (core/pause.h).
 *
 * Parsing and the canonical form, every scope, one-off windows in a zone,
 * recurring windows across midnight and across both DST changes (expected
 * instants from Python's zoneinfo, an independent implementation), which
 * window wins when several hold a fire, and a table of bad windows with the
 * field each error must name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/pause.h"

static struct pause *must(const char *json)
{
    struct sc_err err;
    struct pause *p = NULL;
    sc_err_clear(&err);
    if (pause_parse(json, strlen(json), &p, &err) < 0)
        fail_msg("pause_parse(%s): %s: %s", json, err.field, err.msg);
    return p;
}

static void test_one_off_zone_and_round_trip(void **state)
{
    (void)state;
    struct pause *p = must("{\"id\":\"fin-1\",\"scope\":{\"domain\":\"finance\"},"
                           "\"from\":\"2026-12-08 00:00:00\",\"to\":\"2026-12-08 06:00:00\","
                           "\"timezone\":\"Asia/Shanghai\",\"action\":\"defer\","
                           "\"reason\":\"ledger migration\"}");
    assert_int_equal(p->from, 1796659200); /* 2026-12-07 16:00 UTC */
    assert_int_equal(p->to, 1796680800);
    assert_int_equal(p->action, PAUSE_DEFER);
    int64_t b = 0, e = 0;
    assert_int_equal(pause_window_at(p, p->from - 1, &b, &e), 0);
    assert_int_equal(pause_window_at(p, p->from, &b, &e), 1);
    assert_int_equal(b, 1796659200);
    assert_int_equal(e, 1796680800);
    assert_int_equal(pause_window_at(p, p->to - 1, NULL, NULL), 1);
    assert_int_equal(pause_window_at(p, p->to, NULL, NULL), 0); /* the end is not inside */

    char *s = pause_to_json(p);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"from\":\"2026-12-08 00:00:00\""));
    struct pause *q = must(s);
    char *s2 = pause_to_json(q);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    pause_free(q);
    pause_free(p);

    /* an instant in the second pass of a repeated hour (01:20 EST on
     * 2026-11-01, after 01:20 EDT) keeps its instant through the canonical form */
    p = must("{\"id\":\"fb\",\"scope\":{\"all\":true},\"from\":\"@1793514000\",\"to\":"
             "\"2026-11-01 03:00:00\",\"timezone\":\"America/New_York\",\"reason\":\"r\"}");
    s = pause_to_json(p);
    assert_non_null(strstr(s, "\"from\":\"@1793514000\""));
    assert_non_null(strstr(s, "\"to\":\"2026-11-01 03:00:00\""));
    q = must(s);
    assert_int_equal(q->from, 1793514000);
    free(s);
    pause_free(q);
    pause_free(p);

    /* @EPOCH is taken too, and action defaults to skip, timezone to UTC */
    p = must("{\"id\":\"e\",\"scope\":{\"all\":true},\"from\":\"@100\",\"to\":\"@160\","
             "\"reason\":\"r\"}");
    assert_int_equal(p->from, 100);
    assert_int_equal(p->to, 160);
    assert_int_equal(p->action, PAUSE_SKIP);
    assert_string_equal(p->timezone, "UTC");
    pause_free(p);
}

static void test_scopes(void **state)
{
    (void)state;
    char *lab[] = {"batch", "etl"};
    char *other[] = {"web"};
    struct pause_subject job = {.job = "settle", .domain = "finance", .labels = lab, .nlabels = 2};
    struct pause_subject plain = {.job = "report", .domain = "ops", .labels = other, .nlabels = 1};
    struct pause_subject wf = {.workflow = "nightly", .job = "extract"};
    static const struct {
        const char *scope;
        bool job, plain, wf;
    } cases[] = {
        {"{\"all\":true}", true, true, true},
        {"{\"domain\":\"finance\"}", true, false, false},
        {"{\"job\":\"settle\"}", true, false, false},
        {"{\"job\":\"extract\"}", false, false, true},
        {"{\"workflow\":\"nightly\"}", false, false, true},
        {"{\"labels\":[\"etl\",\"x\"]}", true, false, false},
        {"{\"labels\":[\"web\"]}", false, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char json[300];
        snprintf(json, sizeof json,
                 "{\"id\":\"s\",\"scope\":%s,\"from\":\"@0\",\"to\":\"@10\",\"reason\":\"r\"}",
                 cases[i].scope);
        struct pause *p = must(json);
        assert_int_equal(pause_scopes(p, &job), cases[i].job);
        assert_int_equal(pause_scopes(p, &plain), cases[i].plain);
        assert_int_equal(pause_scopes(p, &wf), cases[i].wf);
        pause_free(p);
    }
}

static void test_recurring_across_midnight(void **state)
{
    (void)state;
    /* 23:30 to 00:30 every night, Shanghai time */
    struct pause *p = must("{\"id\":\"night\",\"scope\":{\"all\":true},\"cron\":\"0 30 23 * * ?\","
                           "\"duration_s\":3600,\"timezone\":\"Asia/Shanghai\",\"reason\":\"r\"}");
    int64_t start = 1796743800; /* 2026-12-08 23:30 +08:00 */
    int64_t b = 0, e = 0;
    assert_int_equal(pause_window_at(p, start - 1, NULL, NULL), 0);
    assert_int_equal(pause_window_at(p, start, &b, &e), 1);
    assert_int_equal(b, start);
    assert_int_equal(pause_window_at(p, 1796746200, &b, &e), 1); /* 00:10 the next day */
    assert_int_equal(b, start);
    assert_int_equal(e, 1796747400);
    assert_int_equal(pause_window_at(p, 1796747400, NULL, NULL), 0); /* 00:30: over */
    /* the next night's window */
    assert_int_equal(pause_window_at(p, start + 86400 + 5, &b, NULL), 1);
    assert_int_equal(b, start + 86400);
    assert_int_equal(pause_next_start(p, start, &e), start + 86400);
    assert_int_equal(e, start + 86400 + 3600);
    pause_free(p);
}

static void test_recurring_across_dst(void **state)
{
    (void)state;
    /* Spring forward (2026-03-08, 02:00 EST -> 03:00 EDT): two real hours from
     * 01:00 EST end at 04:00 EDT, not 03:00. */
    struct pause *p =
        must("{\"id\":\"ny\",\"scope\":{\"all\":true},\"cron\":\"0 0 1 * * ?\","
             "\"duration_s\":7200,\"timezone\":\"America/New_York\",\"reason\":\"r\"}");
    int64_t b = 0, e = 0;
    assert_int_equal(pause_window_at(p, 1772956799, &b, &e), 1); /* 03:59:59 EDT */
    assert_int_equal(b, 1772949600);                             /* 01:00 EST */
    assert_int_equal(e, 1772956800);
    assert_int_equal(pause_window_at(p, 1772956800, NULL, NULL), 0); /* 04:00 EDT */
    pause_free(p);

    /* Fall back (2026-11-01, 02:00 EDT -> 01:00 EST): a fixed-hour cron fires
     * at the first 01:30 only; one hour later is 01:30 EST, in the second pass. */
    p = must("{\"id\":\"ny2\",\"scope\":{\"all\":true},\"cron\":\"0 30 1 * * ?\","
             "\"duration_s\":3600,\"timezone\":\"America/New_York\",\"reason\":\"r\"}");
    assert_int_equal(pause_window_at(p, 1793514000, &b, &e), 1); /* 01:20 EST */
    assert_int_equal(b, 1793511000);                             /* 01:30 EDT */
    assert_int_equal(e, 1793511000 + 3600);
    assert_int_equal(pause_window_at(p, 1793515200, NULL, NULL), 0); /* 01:40 EST */
    pause_free(p);
}

static void test_find_prefers_skip_then_latest_end(void **state)
{
    (void)state;
    struct pause *ps[3];
    ps[0] = must("{\"id\":\"d1\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@100\","
                 "\"action\":\"defer\",\"reason\":\"r\"}");
    ps[1] = must("{\"id\":\"d2\",\"scope\":{\"all\":true},\"from\":\"@50\",\"to\":\"@200\","
                 "\"action\":\"defer\",\"reason\":\"r\"}");
    ps[2] = must("{\"id\":\"s\",\"scope\":{\"job\":\"a\"},\"from\":\"@60\",\"to\":\"@70\","
                 "\"reason\":\"r\"}");
    struct pause_subject a = {.job = "a"}, b = {.job = "b"};
    int64_t end = 0;
    assert_string_equal(pause_find(ps, 3, &a, 10, &end)->id, "d1");
    assert_int_equal(end, 100);
    assert_string_equal(pause_find(ps, 3, &a, 60, &end)->id, "s"); /* skip wins */
    assert_int_equal(end, 70);
    assert_string_equal(pause_find(ps, 3, &b, 60, &end)->id, "d2"); /* ends last */
    assert_int_equal(end, 200);
    assert_null(pause_find(ps, 3, &a, 200, &end));
    for (int i = 0; i < 3; i++)
        pause_free(ps[i]);
}

static void test_bad_windows(void **state)
{
    (void)state;
    static const struct {
        const char *json, *field, *msg;
    } cases[] = {
        {"[]", "", "JSON object"},
        {"{\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\"}", "id",
         "required"},
        {"{\"id\":\"a/b\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\"}",
         "id", "characters"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@1\"}", "reason",
         "required"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"\"}",
         "reason", "why"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\","
         "\"colour\":1}",
         "colour", "unknown"},
        {"{\"id\":\"a\",\"scope\":{\"team\":\"x\"},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\"}",
         "scope.team", "unknown scope"},
        {"{\"id\":\"a\",\"scope\":{},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\"}", "scope",
         "exactly one"},
        {"{\"id\":\"a\",\"scope\":{\"job\":\"x\",\"domain\":\"y\"},\"from\":\"@0\",\"to\":\"@1\","
         "\"reason\":\"r\"}",
         "scope", "exactly one"},
        {"{\"id\":\"a\",\"scope\":{\"all\":false},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\"}",
         "scope.all", "true"},
        {"{\"id\":\"a\",\"scope\":{\"labels\":[]},\"from\":\"@0\",\"to\":\"@1\",\"reason\":\"r\"}",
         "scope.labels", "1 to"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"2026-12-08 06:00:00\","
         "\"to\":\"2026-12-08 05:00:00\",\"reason\":\"r\"}",
         "to", "ends (2026-12-08 05:00:00) before it starts (2026-12-08 06:00:00)"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@5\",\"to\":\"@5\",\"reason\":\"r\"}",
         "to", "before it starts"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"tomorrow\",\"to\":\"@5\","
         "\"reason\":\"r\"}",
         "from", "YYYY-MM-DD"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@5\",\"reason\":\"r\"}", "to",
         "required"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"reason\":\"r\"}", "from", "missing"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"cron\":\"0 0 1 * * ?\",\"reason\":\"r\"}",
         "duration_s", "required"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"cron\":\"0 0 25 * * ?\",\"duration_s\":60,"
         "\"reason\":\"r\"}",
         "cron", "hour"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"cron\":\"0 0 1 * * ?\",\"duration_s\":0,"
         "\"reason\":\"r\"}",
         "duration_s", ""},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"cron\":\"0 0 1 * * ?\",\"duration_s\":60,"
         "\"from\":\"@0\",\"to\":\"@9\",\"reason\":\"r\"}",
         "cron", "not both"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@9\","
         "\"action\":\"stop\",\"reason\":\"r\"}",
         "action", "skip or defer"},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"@0\",\"to\":\"@9\","
         "\"timezone\":\"Mars/Base\",\"reason\":\"r\"}",
         "timezone", ""},
        {"{\"id\":\"a\",\"scope\":{\"all\":true},\"from\":\"2026-03-08 02:30:00\","
         "\"to\":\"2026-03-08 05:00:00\",\"timezone\":\"America/New_York\",\"reason\":\"r\"}",
         "from", "does not exist"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sc_err err;
        struct pause *p = (struct pause *)1;
        sc_err_clear(&err);
        int rc = pause_parse(cases[i].json, strlen(cases[i].json), &p, &err);
        if (rc != -EINVAL || p)
            fail_msg("case %zu accepted: %s", i, cases[i].json);
        if (strcmp(err.field, cases[i].field) != 0 || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: got \"%s: %s\", want field \"%s\" and \"%s\"", i, err.field,
                     err.msg, cases[i].field, cases[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_off_zone_and_round_trip),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_recurring_across_midnight),
        cmocka_unit_test(test_recurring_across_dst),
        cmocka_unit_test(test_find_prefers_skip_then_latest_end),
        cmocka_unit_test(test_bad_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
