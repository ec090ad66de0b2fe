/* tests/unit/test_calendar.c: business calendars (core/calendar.h).
 *
 * Tables of calendars, schedules and the fire times expected under each rule
 * and shift (a Saturday make-up workday, a holiday week dropped or moved, a
 * month end moved back to Friday, a move onto a spring-forward day), the day
 * kinds, the skip reasons, errors that name the field and the value, the job
 * fields, and calendar_next against a brute-force oracle over many days. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/job.h"
#include "core/tz.h"
#include "workflow/wf.h"

#define CN                                                                                         \
    "{\"name\":\"cn-workdays\",\"timezone\":\"Asia/Shanghai\",\"weekend\":[\"SAT\",\"SUN\"],"      \
    "\"holidays\":[\"2026-10-01\",\"2026-10-02\",\"2026-10-03\",\"2026-10-04\",\"2026-10-05\","    \
    "\"2026-10-06\",\"2026-10-07\"],\"workdays\":[\"2026-09-27\",\"2026-10-10\"]}"
#define WEEKDAYS_UTC "{\"name\":\"plain\",\"timezone\":\"UTC\"}"
#define NY "{\"name\":\"ny\",\"timezone\":\"America/New_York\",\"holidays\":[\"2026-03-09\"]}"

static struct calendar *cal_of(const char *json)
{
    struct sc_err err;
    struct calendar *c = NULL;
    if (calendar_parse(json, strlen(json), &c, &err) < 0)
        fail_msg("calendar_parse: %s: %s", err.field, err.msg);
    return c;
}

static int64_t utc_of(const tz_zone *z, const char *wall)
{
    int64_t civil, u;
    assert_int_equal(tz_parse_civil(wall, &civil), 0);
    tz_from_local(z, civil, &u);
    return u;
}

static const char *wall_of(const tz_zone *z, int64_t t, char *buf)
{
    return tz_format_civil(t + tz_offset(z, t), buf, 40);
}

/* ---------------------------------------------------------------- fire times */

static const struct fire_case {
    const char *what, *cal, *cron, *tz, *from;
    enum cal_rule rule;
    enum cal_shift shift;
    const char *want[6]; /* wall times in tz, NULL-terminated */
} fire_cases[] = {
    {"workdays drop the holiday week; the Saturday make-up day fires",
     CN,
     "0 0 9 * * ?",
     "Asia/Shanghai",
     "2026-09-30 00:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_NONE,
     {"2026-09-30 09:00:00", "2026-10-08 09:00:00", "2026-10-09 09:00:00", "2026-10-10 09:00:00",
      "2026-10-12 09:00:00", NULL}},
    {"the Sunday make-up day fires, the Saturday before it does not",
     CN,
     "0 0 9 * * ?",
     "Asia/Shanghai",
     "2026-09-25 10:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_NONE,
     {"2026-09-27 09:00:00", "2026-09-28 09:00:00", NULL}},
    {"holidays rule: the holiday week and plain weekends, not the make-up days",
     CN,
     "0 0 9 * * ?",
     "Asia/Shanghai",
     "2026-09-25 10:00:00",
     CAL_RULE_HOLIDAYS,
     CAL_SHIFT_NONE,
     {"2026-09-26 09:00:00", "2026-10-01 09:00:00", "2026-10-02 09:00:00", "2026-10-03 09:00:00",
      "2026-10-04 09:00:00", NULL}},
    {"shift next: the holiday week's fires move onto 10-08 and merge with its own",
     CN,
     "0 0 9,15 * * ?",
     "Asia/Shanghai",
     "2026-09-30 20:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_NEXT,
     {"2026-10-08 09:00:00", "2026-10-08 15:00:00", "2026-10-09 09:00:00", "2026-10-09 15:00:00",
      "2026-10-10 09:00:00", NULL}},
    {"shift next from inside the moved day: only later wall times are left",
     CN,
     "0 0 9,15 * * ?",
     "Asia/Shanghai",
     "2026-10-08 10:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_NEXT,
     {"2026-10-08 15:00:00", "2026-10-09 09:00:00", NULL}},
    {"month end on a Saturday moves back to Friday",
     WEEKDAYS_UTC,
     "0 0 18 L * ?",
     "UTC",
     "2026-10-01 00:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_PREVIOUS,
     {"2026-10-30 18:00:00", "2026-11-30 18:00:00", "2026-12-31 18:00:00", "2027-01-29 18:00:00",
      NULL}},
    {"shift previous onto a day whose own wall time has passed: the later one only",
     WEEKDAYS_UTC,
     "0 0 6,18 * * ?",
     "UTC",
     "2026-10-30 12:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_PREVIOUS,
     {"2026-10-30 18:00:00", "2026-11-02 06:00:00", NULL}},
    {"DST: a Monday holiday after spring forward moves back to Friday (EST)",
     NY,
     "0 30 2 * * ?",
     "America/New_York",
     "2026-03-05 12:00:00",
     CAL_RULE_WORKDAYS,
     CAL_SHIFT_PREVIOUS,
     {"2026-03-06 02:30:00", "2026-03-10 02:30:00", "2026-03-11 02:30:00", NULL}},
    {"DST: a fire moved onto the spring-forward day's missing 02:30 fires at the jump",
     "{\"name\":\"sundays\",\"timezone\":\"America/New_York\",\"weekend\":[\"SUN\"]}",
     "0 30 2 * * ?",
     "America/New_York",
     "2026-03-07 00:00:00",
     CAL_RULE_HOLIDAYS,
     CAL_SHIFT_NEXT,
     {"2026-03-08 03:00:00", "2026-03-15 02:30:00", "2026-03-22 02:30:00", NULL}},
};

static void test_fire_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fire_cases / sizeof fire_cases[0]; i++) {
        const struct fire_case *fc = &fire_cases[i];
        struct sc_err err;
        struct calendar *c = cal_of(fc->cal);
        tz_zone *z = tz_load(fc->tz, &err);
        cron_expr *e = NULL;
        assert_non_null(z);
        assert_int_equal(cron_parse(fc->cron, &e, &err), 0);
        struct cal_sched cs = {c, fc->rule, fc->shift};
        int64_t t = utc_of(z, fc->from);
        for (int k = 0; fc->want[k]; k++) {
            char got[40];
            t = calendar_next(e, z, &cs, t);
            if (t < 0 || strcmp(wall_of(z, t, got), fc->want[k]) != 0)
                fail_msg("%s: fire %d: want %s, got %s", fc->what, k, fc->want[k],
                         t < 0 ? "none" : got);
        }
        cron_free(e);
        tz_free(z);
        calendar_unref(c);
    }
}

/* The offsets of the DST case: Friday's 02:30 is EST, the Tuesday's EDT. */
static void test_dst_instants(void **state)
{
    (void)state;
    struct sc_err err;
    struct calendar *c = cal_of(NY);
    tz_zone *z = tz_load("America/New_York", &err);
    cron_expr *e = NULL;
    assert_int_equal(cron_parse("0 30 2 * * ?", &e, &err), 0);
    struct cal_sched cs = {c, CAL_RULE_WORKDAYS, CAL_SHIFT_PREVIOUS};
    int64_t t = calendar_next(e, z, &cs, 1772712000); /* 2026-03-05 12:00 UTC */
    assert_int_equal(t, 1772782200);                  /* 2026-03-06 07:30 UTC */
    t = calendar_next(e, z, &cs, t);
    assert_int_equal(t, 1773124200); /* 2026-03-10 06:30 UTC */
    cron_free(e);
    tz_free(z);
    calendar_unref(c);
}

/* ---------------------------------------------------------------- brute force */

/* oracle: every cron fire in [lo, hi) mapped as the calendar says, the least
 * one after `after`. */
static int64_t oracle(const cron_expr *e, const tz_zone *z, const struct cal_sched *cs,
                      int64_t after, int64_t lo, int64_t hi)
{
    int64_t best = -1;
    for (int64_t t = cron_next(e, lo - 1, z); t >= 0 && t < hi; t = cron_next(e, t, z)) {
        int64_t day = calendar_day_of(cs->cal, t), T = -1, m;
        if (calendar_included(cs->cal, cs->rule, day)) {
            m = t;
        } else {
            int step = cs->shift == CAL_SHIFT_NEXT ? 1 : cs->shift == CAL_SHIFT_PREVIOUS ? -1 : 0;
            for (int i = 1; step && i <= CAL_SEARCH_DAYS; i++)
                if (calendar_included(cs->cal, cs->rule, day + step * i)) {
                    T = day + step * i;
                    break;
                }
            if (T < 0)
                continue;
            int64_t civ = t + tz_offset(cs->cal->zone, t);
            tz_from_local(cs->cal->zone, T * 86400 + (civ - day * 86400), &m);
        }
        if (m > after && (best < 0 || m < best))
            best = m;
    }
    return best;
}

static void test_oracle(void **state)
{
    (void)state;
    static const char *const crons[] = {"0 0 9 * * ?",        "0 30 1,13 * * ?", "0 0 18 L * ?",
                                        "0 15 3 ? * MON,SAT", "0 0 0 1 * ?",     "0 0 */6 * * ?",
                                        "@every 7h"};
    static const char *const cals[] = {CN, WEEKDAYS_UTC, NY};
    static const char *const zones[] = {"Asia/Shanghai", "UTC", "America/New_York"};
    struct sc_err err;
    int checked = 0;
    for (size_t ci = 0; ci < 3; ci++) {
        struct calendar *c = cal_of(cals[ci]);
        tz_zone *z = tz_load(zones[ci], &err);
        for (size_t k = 0; k < sizeof crons / sizeof crons[0]; k++) {
            cron_expr *e = NULL;
            assert_int_equal(cron_parse(crons[k], &e, &err), 0);
            for (int rule = 0; rule < 2; rule++)
                for (int shift = 0; shift < 3; shift++) {
                    struct cal_sched cs = {c, (enum cal_rule)rule, (enum cal_shift)shift};
                    /* 2026-02-20 .. 2026-11-20, every 37 hours */
                    for (int64_t after = 1771545600; after < 1795132800;
                         after += 29 * 3600 + 17 * 60) {
                        int64_t want =
                            oracle(e, z, &cs, after, after - 400 * 86400LL, after + 800 * 86400LL);
                        int64_t got = calendar_next(e, z, &cs, after);
                        if (want != got)
                            fail_msg("%s, cron %s, rule %d shift %d after %lld: want %lld got "
                                     "%lld",
                                     c->name, crons[k], rule, shift, (long long)after,
                                     (long long)want, (long long)got);
                        checked++;
                    }
                }
            cron_free(e);
        }
        tz_free(z);
        calendar_unref(c);
    }
    assert_true(checked > 1000);
}

/* ---------------------------------------------------------------- days, reasons */

static void test_days_and_reasons(void **state)
{
    (void)state;
    struct calendar *c = cal_of(CN);
    static const struct {
        const char *date;
        enum cal_day kind;
        bool workday;
    } days[] = {
        {"2026-09-26", CAL_DAY_WEEKEND, false}, {"2026-09-27", CAL_DAY_MAKEUP, true},
        {"2026-09-30", CAL_DAY_WORKDAY, true},  {"2026-10-01", CAL_DAY_HOLIDAY, false},
        {"2026-10-03", CAL_DAY_HOLIDAY, false}, {"2026-10-10", CAL_DAY_MAKEUP, true},
        {"2026-10-11", CAL_DAY_WEEKEND, false},
    };
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
        int y, m, d;
        sscanf(days[i].date, "%d-%d-%d", &y, &m, &d);
        int64_t day = tz_days_from_civil(y, m, d);
        assert_int_equal(calendar_day_kind(c, day), days[i].kind);
        assert_int_equal(calendar_included(c, CAL_RULE_WORKDAYS, day), days[i].workday);
        assert_int_equal(calendar_included(c, CAL_RULE_HOLIDAYS, day), !days[i].workday);
    }
    char why[256];
    struct cal_sched none = {c, CAL_RULE_WORKDAYS, CAL_SHIFT_NONE};
    struct cal_sched next = {c, CAL_RULE_WORKDAYS, CAL_SHIFT_NEXT};
    struct cal_sched hol = {c, CAL_RULE_HOLIDAYS, CAL_SHIFT_NONE};
    int64_t oct1 = 1790816400; /* 2026-10-01 09:00 +08:00 */
    assert_int_equal(calendar_skip_reason(&none, oct1, why, sizeof why), 1);
    assert_string_equal(why, "2026-10-01 is a holiday in cn-workdays");
    assert_int_equal(calendar_skip_reason(&next, oct1, why, sizeof why), 1);
    assert_string_equal(why,
                        "2026-10-01 is a holiday in cn-workdays; moved to 2026-10-08 09:00:00");
    assert_int_equal(calendar_skip_reason(&hol, oct1 + 9 * 86400, why, sizeof why), 1);
    assert_string_equal(why, "2026-10-10 is a make-up workday in cn-workdays");
    assert_int_equal(calendar_skip_reason(&none, oct1 + 9 * 86400, why, sizeof why), 0);

    /* the preview's skipped list: the seven holiday fires, then the cap */
    struct sc_err err;
    tz_zone *z = tz_load("Asia/Shanghai", &err);
    cron_expr *e = NULL;
    bool more;
    assert_int_equal(cron_parse("0 0 9 * * ?", &e, &err), 0);
    cJSON *sk = calendar_preview_skipped(e, z, &none, oct1 - 86400, oct1 + 7 * 86400, 20, &more);
    assert_int_equal(cJSON_GetArraySize(sk), 7); /* 10-01 .. 10-07; 10-08 fires */
    assert_false(more);
    cJSON_Delete(sk);
    sk = calendar_preview_skipped(e, z, &none, oct1 - 86400, oct1 + 6 * 86400, 3, &more);
    assert_int_equal(cJSON_GetArraySize(sk), 3);
    assert_true(more);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(sk, 0), "time")->valuestring,
                        "2026-10-01 09:00:00");
    cJSON_Delete(sk);
    cron_free(e);
    tz_free(z);
    calendar_unref(c);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *field, *msg;
    } cases[] = {
        {"{\"name\":\"c\",\"holidays\":[\"2026-10-01\",\"2026-13-01\"]}", "holidays[1]",
         "\"2026-13-01\" is not a date"},
        {"{\"name\":\"c\",\"holidays\":[\"2026-02-29\"]}", "holidays[0]",
         "\"2026-02-29\" is not a date"},
        {"{\"name\":\"c\",\"holidays\":[\"26-10-01\"]}", "holidays[0]", "\"26-10-01\""},
        {"{\"name\":\"c\",\"holidays\":[20261001]}", "holidays[0]", "must be a date string"},
        {"{\"name\":\"c\",\"holidays\":\"2026-10-01\"}", "holidays", "must be an array"},
        {"{\"name\":\"c\",\"holidays\":[\"2026-10-01\",\"2026-10-01\"]}", "holidays",
         "2026-10-01 is given twice"},
        {"{\"name\":\"c\",\"weekend\":[\"SAT\",\"FUNDAY\"]}", "weekend[1]",
         "\"FUNDAY\" is not a weekday"},
        {"{\"name\":\"c\",\"weekend\":[\"SAT\",\"sat\"]}", "weekend[1]", "SAT is given twice"},
        {"{\"name\":\"c\",\"timezone\":\"Mars/Olympus\"}", "timezone",
         "unknown time zone \"Mars/Olympus\""},
        {"{\"name\":\"c\",\"holidays\":[\"2026-10-10\"],\"workdays\":[\"2026-10-10\"]}", "workdays",
         "2026-10-10 is also a holiday"},
        {"{\"name\":\"c\",\"workdays\":[\"2026-10-12\"]}", "workdays",
         "2026-10-12 is a Monday, not a weekend day"},
        {"{\"name\":\"c\",\"holiday\":[]}", "holiday", "unknown field"},
        {"{\"name\":\"a/b\"}", "name", "must be 1-128 characters"},
        {"{\"holidays\":[]}", "name", ""},
        {"[]", "", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sc_err err;
        struct calendar *c = NULL;
        sc_err_clear(&err);
        assert_int_equal(calendar_parse(cases[i].json, strlen(cases[i].json), &c, &err), -EINVAL);
        assert_null(c);
        if (strcmp(err.field, cases[i].field) != 0 || !strstr(err.msg, cases[i].msg))
            fail_msg("%s: want %s: ...%s..., got %s: %s", cases[i].json, cases[i].field,
                     cases[i].msg, err.field, err.msg);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *in = "{\"name\":\"x\",\"timezone\":\"Asia/Shanghai\",\"weekend\":[\"sun\",\"FRI\"],"
                     "\"holidays\":[\"2026-10-02\",\"2026-10-01\"],\"workdays\":[\"2026-10-09\"]}";
    struct calendar *c = cal_of(in);
    char *s = calendar_to_json(c);
    assert_string_equal(s, "{\"name\":\"x\",\"timezone\":\"Asia/Shanghai\",\"weekend\":[\"SUN\","
                           "\"FRI\"],\"holidays\":[\"2026-10-01\",\"2026-10-02\"],\"workdays\":["
                           "\"2026-10-09\"]}");
    struct calendar *c2 = cal_of(s);
    char *s2 = calendar_to_json(c2);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    calendar_unref(calendar_ref(c2));
    calendar_unref(c2);
    calendar_unref(c);
}

static void test_job_fields(void **state)
{
    (void)state;
    static const struct {
        const char *extra, *field, *msg;
    } bad[] = {
        {",\"calendar\":\"cn\",\"calendar_rule\":\"weekdays\"", "calendar_rule",
         "must be workdays or holidays (got \"weekdays\")"},
        {",\"calendar\":\"cn\",\"calendar_shift\":\"later\"", "calendar_shift",
         "must be none, next or previous (got \"later\")"},
        {",\"calendar_shift\":\"next\"", "calendar_shift", "needs a calendar"},
        {",\"calendar\":\"no/such\"", "calendar", "must be a calendar name"},
        {",\"calendar\":7", "calendar", ""},
    };
    char buf[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct job *j = NULL;
        struct sc_err err;
        snprintf(buf, sizeof buf,
                 "{\"name\":\"j\",\"cron\":\"0 0 9 * * ?\",\"command\":\"true\"%s}", bad[i].extra);
        assert_int_equal(job_parse(buf, strlen(buf), &j, &err), -EINVAL);
        if (strcmp(err.field, bad[i].field) != 0 || !strstr(err.msg, bad[i].msg))
            fail_msg("%s: want %s: %s, got %s: %s", bad[i].extra, bad[i].field, bad[i].msg,
                     err.field, err.msg);
    }
    struct job *j = NULL;
    struct sc_err err;
    const char *nocron = "{\"name\":\"j\",\"command\":\"true\",\"calendar\":\"cn\"}";
    assert_int_equal(job_parse(nocron, strlen(nocron), &j, &err), -EINVAL);
    assert_string_equal(err.field, "calendar");

    const char *ok = "{\"name\":\"j\",\"cron\":\"0 0 9 * * ?\",\"command\":\"true\","
                     "\"calendar\":\"cn-workdays\",\"calendar_shift\":\"previous\"}";
    assert_int_equal(job_parse(ok, strlen(ok), &j, &err), 0);
    assert_string_equal(j->calendar, "cn-workdays");
    assert_int_equal(j->calendar_rule, CAL_RULE_WORKDAYS);
    assert_int_equal(j->calendar_shift, CAL_SHIFT_PREVIOUS);
    char *s = job_to_json(j);
    assert_non_null(strstr(s, "\"calendar\":\"cn-workdays\",\"calendar_rule\":\"workdays\","
                              "\"calendar_shift\":\"previous\""));
    job_free(j);
    assert_int_equal(job_parse(s, strlen(s), &j, &err), 0);
    assert_int_equal(j->calendar_shift, CAL_SHIFT_PREVIOUS);
    job_free(j);
    free(s);
    /* without a calendar the stored form has none of the fields */
    const char *plain = "{\"name\":\"j\",\"cron\":\"0 0 9 * * ?\",\"command\":\"true\"}";
    assert_int_equal(job_parse(plain, strlen(plain), &j, &err), 0);
    s = job_to_json(j);
    assert_null(strstr(s, "calendar"));
    free(s);
    job_free(j);
}

/* A workflow's own cron takes the same three fields (workflow/wf.c). */
static void test_wf_fields(void **state)
{
    (void)state;
    struct wf_def *d = NULL;
    struct sc_err err;
    const char *ok = "{\"name\":\"w\",\"cron\":\"0 0 1 * * ?\",\"calendar\":\"cn\","
                     "\"calendar_rule\":\"holidays\",\"calendar_shift\":\"next\","
                     "\"tasks\":{\"a\":{\"command\":\"true\"}}}";
    assert_int_equal(wf_parse(ok, strlen(ok), &d, &err), 0);
    assert_string_equal(d->calendar, "cn");
    assert_int_equal(d->calendar_rule, CAL_RULE_HOLIDAYS);
    assert_int_equal(d->calendar_shift, CAL_SHIFT_NEXT);
    char *s = wf_to_json(d);
    assert_non_null(strstr(s, "\"calendar\":\"cn\",\"calendar_rule\":\"holidays\""));
    free(s);
    wf_free(d);
    const char *bad = "{\"name\":\"w\",\"calendar\":\"cn\",\"calendar_shift\":\"back\","
                      "\"tasks\":{\"a\":{\"command\":\"true\"}}}";
    assert_int_equal(wf_parse(bad, strlen(bad), &d, &err), -EINVAL);
    assert_string_equal(err.field, "calendar_shift");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fire_table), cmocka_unit_test(test_dst_instants),
        cmocka_unit_test(test_oracle),     cmocka_unit_test(test_days_and_reasons),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_job_fields), cmocka_unit_test(test_wf_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
