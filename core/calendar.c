/* core/calendar.c: business calendars: parse and validate, which days a rule
 * includes, and fire times under a calendar (dropped or shifted).
 *
 * Sections: names; parsing; serialization; days; fire times; preview; job fields. */
#include "core/calendar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/job.h"
#include "core/json.h"

/* ---------------------------------------------------------------- names */

static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
static const char *const wday_long[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char *const rule_names[] = {"workdays", "holidays"};
static const char *const shift_names[] = {"none", "next", "previous"};

int calendar_rule_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(s, rule_names[i]) == 0)
            return i;
    return -1;
}

int calendar_shift_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, shift_names[i]) == 0)
            return i;
    return -1;
}

const char *calendar_rule_name(enum cal_rule r)
{
    return rule_names[r];
}

const char *calendar_shift_name(enum cal_shift s)
{
    return shift_names[s];
}

int calendar_name_valid(const char *name)
{
    return job_name_valid(name);
}

/* ---------------------------------------------------------------- parsing */

static const char *const cal_fields[] = {"name",     "description", "timezone", "weekend",
                                         "holidays", "workdays",    NULL};

/* parse_date: strict "YYYY-MM-DD" -> days since 1970-01-01. */
static int parse_date(const char *s, int64_t *day)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -EINVAL;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -EINVAL;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1970 || y > CRON_YEAR_MAX || m < 1 || m > 12 || d < 1 || d > tz_month_days(y, m))
        return -EINVAL;
    *day = tz_days_from_civil(y, m, d);
    return 0;
}

static void format_date(int64_t day, char *buf, size_t len)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(day, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
}

static int cmp_day(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool has_day(const int64_t *days, int n, int64_t day)
{
    return n > 0 && bsearch(&day, days, (size_t)n, sizeof *days, cmp_day) != NULL;
}

/* parse_dates: an array of dates into a sorted array; a date given twice is refused. */
static int parse_dates(const cJSON *root, const char *key, int64_t **out, int *nout,
                       struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    char field[64];
    int rc = json_get_arr(root, key, JSON_OPTIONAL, &arr, err), i = 0;
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    int n = cJSON_GetArraySize(arr);
    if (n > CAL_DATES_MAX)
        return sc_err_set(err, EINVAL, key, -1, "at most %d dates (got %d)", CAL_DATES_MAX, n);
    if (n == 0)
        return 0;
    if (!(*out = calloc((size_t)n, sizeof **out)))
        return sc_err_set(err, ENOMEM, key, -1, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(field, sizeof field, "%s[%d]", key, i);
        if (!cJSON_IsString(it))
            return sc_err_set(err, EINVAL, field, -1, "must be a date string \"YYYY-MM-DD\"");
        if (parse_date(it->valuestring, &(*out)[i]) < 0)
            return sc_err_set(err, EINVAL, field, -1,
                              "\"%.40s\" is not a date YYYY-MM-DD (years 1970-%d)", it->valuestring,
                              CRON_YEAR_MAX);
        i++;
    }
    *nout = n;
    qsort(*out, (size_t)n, sizeof **out, cmp_day);
    for (int k = 1; k < n; k++)
        if ((*out)[k] == (*out)[k - 1]) {
            char d[16];
            format_date((*out)[k], d, sizeof d);
            return sc_err_set(err, EINVAL, key, -1, "%s is given twice", d);
        }
    return 0;
}

static int parse_weekend(const cJSON *root, struct calendar *c, struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    char field[32];
    int rc = json_get_arr(root, "weekend", JSON_OPTIONAL, &arr, err), i = 0;
    if (rc == -ENOENT) {
        c->weekend = 1u << 0 | 1u << 6;
        return 0;
    }
    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(it, arr)
    {
        int d = -1;
        snprintf(field, sizeof field, "weekend[%d]", i++);
        for (int k = 0; cJSON_IsString(it) && k < 7; k++)
            if (strcasecmp(it->valuestring, wday_names[k]) == 0)
                d = k;
        if (d < 0)
            return sc_err_set(err, EINVAL, field, -1,
                              "\"%.20s\" is not a weekday (SUN MON TUE WED THU FRI SAT)",
                              cJSON_IsString(it) ? it->valuestring : "?");
        if (c->weekend & (1u << d))
            return sc_err_set(err, EINVAL, field, -1, "%s is given twice", wday_names[d]);
        c->weekend |= 1u << d;
    }
    return 0;
}

int calendar_from_cjson(const cJSON *root, struct calendar **out, struct sc_err *err)
{
    struct calendar *c;
    const char *name = NULL;
    char d[16];
    int rc;

    *out = NULL;
    if (!cJSON_IsObject(root))
        return sc_err_set(err, EINVAL, "", -1, "a calendar must be a JSON object");
    if ((rc = json_check_fields(root, cal_fields, err)) < 0 ||
        (rc = json_get_str(root, "name", JSON_REQUIRED, &name, err)) < 0)
        return rc;
    if (!calendar_name_valid(name))
        return sc_err_set(err, EINVAL, "name", -1,
                          "must be 1-%d characters of [A-Za-z0-9._-] (got \"%.40s\")", CAL_NAME_MAX,
                          name);
    if (!(c = calloc(1, sizeof *c)))
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    c->refs = 1;
    if (!(c->name = strdup(name))) {
        rc = sc_err_set(err, ENOMEM, "name", -1, "out of memory");
        goto err;
    }
    if ((rc = json_opt_str(root, "description", "", 4096, &c->description, err)) < 0 ||
        (rc = json_opt_str(root, "timezone", "UTC", 64, &c->timezone, err)) < 0)
        goto err;
    if (!(c->zone = tz_load(c->timezone, err))) {
        rc = sc_err_set(err, EINVAL, "timezone", -1, "unknown time zone \"%.64s\"", c->timezone);
        goto err;
    }
    if ((rc = parse_weekend(root, c, err)) < 0 ||
        (rc = parse_dates(root, "holidays", &c->holidays, &c->nholidays, err)) < 0 ||
        (rc = parse_dates(root, "workdays", &c->workdays, &c->nworkdays, err)) < 0)
        goto err;
    for (int i = 0; i < c->nworkdays; i++) {
        int64_t day = c->workdays[i];
        format_date(day, d, sizeof d);
        if (has_day(c->holidays, c->nholidays, day)) {
            rc = sc_err_set(err, EINVAL, "workdays", -1, "%s is also a holiday", d);
            goto err;
        }
        int wd = tz_weekday(day);
        if (!(c->weekend & (1u << wd))) {
            rc = sc_err_set(err, EINVAL, "workdays", -1,
                            "%s is a %s, not a weekend day: workdays lists weekend days that "
                            "are worked",
                            d, wday_long[wd]);
            goto err;
        }
    }
    *out = c;
    return 0;
err:
    calendar_unref(c);
    return rc;
}

int calendar_parse(const char *json, size_t len, struct calendar **out, struct sc_err *err)
{
    cJSON *root = json_parse(json, len, err);
    *out = NULL;
    if (!root)
        return -EINVAL;
    int rc = calendar_from_cjson(root, out, err);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- serialization */

static void add_dates(cJSON *o, const char *key, const int64_t *days, int n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    char d[16];
    for (int i = 0; a && i < n; i++) {
        format_date(days[i], d, sizeof d);
        cJSON_AddItemToArray(a, cJSON_CreateString(d));
    }
}

cJSON *calendar_to_cjson(const struct calendar *c)
{
    cJSON *o = cJSON_CreateObject(), *we;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", c->name);
    if (c->description[0])
        cJSON_AddStringToObject(o, "description", c->description);
    cJSON_AddStringToObject(o, "timezone", c->timezone);
    we = cJSON_AddArrayToObject(o, "weekend");
    for (int d = 0; we && d < 7; d++)
        if (c->weekend & (1u << d))
            cJSON_AddItemToArray(we, cJSON_CreateString(wday_names[d]));
    add_dates(o, "holidays", c->holidays, c->nholidays);
    add_dates(o, "workdays", c->workdays, c->nworkdays);
    return o;
}

char *calendar_to_json(const struct calendar *c)
{
    cJSON *o = calendar_to_cjson(c);
    char *s = o ? json_print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

struct calendar *calendar_ref(struct calendar *c)
{
    if (c)
        c->refs++;
    return c;
}

void calendar_unref(struct calendar *c)
{
    if (!c || --c->refs > 0)
        return;
    free(c->name);
    free(c->description);
    free(c->timezone);
    tz_free(c->zone);
    free(c->holidays);
    free(c->workdays);
    free(c);
}

/* ---------------------------------------------------------------- days */

enum cal_day calendar_day_kind(const struct calendar *c, int64_t day)
{
    if (has_day(c->holidays, c->nholidays, day))
        return CAL_DAY_HOLIDAY;
    if (has_day(c->workdays, c->nworkdays, day))
        return CAL_DAY_MAKEUP;
    return (c->weekend & (1u << tz_weekday(day))) ? CAL_DAY_WEEKEND : CAL_DAY_WORKDAY;
}

bool calendar_included(const struct calendar *c, enum cal_rule rule, int64_t day)
{
    enum cal_day k = calendar_day_kind(c, day);
    bool work = k == CAL_DAY_WORKDAY || k == CAL_DAY_MAKEUP;
    return rule == CAL_RULE_WORKDAYS ? work : !work;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t calendar_day_of(const struct calendar *c, int64_t t)
{
    return floor_div(t + tz_offset(c->zone, t), 86400);
}

/* ---------------------------------------------------------------- fire times */

/* at_wall: the UTC instant of wall time `tod` (seconds into the day) on `day`
 * in z: a skipped wall time is the jump, a repeated one its first pass. */
static int64_t at_wall(const tz_zone *z, int64_t day, int64_t tod)
{
    int64_t u;
    tz_from_local(z, day * 86400 + tod, &u);
    return u;
}

static int64_t tod_of(const tz_zone *z, int64_t t)
{
    int64_t c = t + tz_offset(z, t);
    return c - floor_div(c, 86400) * 86400;
}

/* target: the day a fire on `day` happens on under cs: itself when included,
 * else the next/previous included day within CAL_SEARCH_DAYS; -1 when dropped. */
static int target(const struct cal_sched *cs, int64_t day, int64_t *out)
{
    if (calendar_included(cs->cal, cs->rule, day)) {
        *out = day;
        return 0;
    }
    if (cs->shift == CAL_SHIFT_NONE)
        return -1;
    int step = cs->shift == CAL_SHIFT_NEXT ? 1 : -1;
    for (int i = 1; i <= CAL_SEARCH_DAYS; i++)
        if (calendar_included(cs->cal, cs->rule, day + step * i)) {
            *out = day + step * i;
            return 0;
        }
    return -1;
}

/* The most fire days calendar_next walks before it says there is none. */
#define CAL_WALK_DAYS 1000

/* first_on_or_after: the first fire of e at or after the start of `day` (in the
 * calendar's zone cz). */
static int64_t first_from_day(const cron_expr *e, const tz_zone *z, const tz_zone *cz, int64_t day)
{
    return cron_next(e, at_wall(cz, day, 0) - 1, z);
}

/* moved: the earliest instant after `after` that a fire on excluded day E
 * lands on when moved to day T (T's wall time = the fire's wall time). The fire
 * t is the first of E; -1 when none of E's fires lands after `after`. */
static int64_t moved(const cron_expr *e, const tz_zone *z, const tz_zone *cz, int64_t E, int64_t T,
                     int64_t t, int64_t after)
{
    int64_t d0 = floor_div(after + tz_offset(cz, after), 86400);
    if (T < d0)
        return -1;
    if (T > d0)
        return at_wall(cz, T, tod_of(cz, t));
    /* T is after's own day: the first fire of E whose wall time is past after's. */
    int64_t u = cron_next(e, at_wall(cz, E, tod_of(cz, after)) - 1, z);
    for (int i = 0; u >= 0 && i < 7200; i++) {
        if (floor_div(u + tz_offset(cz, u), 86400) != E)
            return -1;
        int64_t c = at_wall(cz, T, tod_of(cz, u));
        if (c > after)
            return c;
        u = cron_next(e, u, z);
    }
    return -1;
}

int64_t calendar_next(const cron_expr *e, const tz_zone *z, const struct cal_sched *cs,
                      int64_t after)
{
    if (!cs || !cs->cal)
        return cron_next(e, after, z);
    const struct calendar *cal = cs->cal;
    const tz_zone *cz = cal->zone;
    int64_t d0 = calendar_day_of(cal, after), start = d0, best = -1, bestday = 0;
    /* Excluded days before d0 back to the last included day move forward onto
     * d0 or later: their fires are candidates too. */
    if (cs->shift == CAL_SHIFT_NEXT) {
        start = d0 - CAL_SEARCH_DAYS;
        for (int i = 1; i <= CAL_SEARCH_DAYS; i++)
            if (calendar_included(cal, cs->rule, d0 - i)) {
                start = d0 - i + 1;
                break;
            }
    }
    /* Only shift next moves fires of days before `after`'s, or of its own
     * day when excluded, past `after`: otherwise the walk starts there. */
    int64_t t = cs->shift != CAL_SHIFT_NEXT || (start == d0 && calendar_included(cal, cs->rule, d0))
                    ? cron_next(e, after, z)
                    : first_from_day(e, z, cz, start);
    for (int walked = 0; t >= 0 && walked < CAL_WALK_DAYS;) {
        int64_t E = calendar_day_of(cal, t), T;
        bool ok = target(cs, E, &T) == 0;
        /* Later days land later (none, next), or no earlier than their
         * target (previous): stop once nothing can beat the best. */
        if (best >= 0 && E > bestday && (cs->shift != CAL_SHIFT_PREVIOUS || !ok || T > bestday))
            break;
        if (ok && T == E && t <= after) {
            t = cron_next(e, after, z); /* the same day's first fire past `after` */
            continue;
        }
        int64_t cand = !ok ? -1 : T == E ? t : moved(e, z, cz, E, T, t, after);
        if (cand > after && (best < 0 || cand < best)) {
            best = cand;
            bestday = calendar_day_of(cal, best);
        }
        /* An included day's first fire: no later day lands before it (but
         * under previous, whose later days move back onto it). */
        if (ok && T == E && cs->shift != CAL_SHIFT_PREVIOUS)
            break;
        walked++;
        t = first_from_day(e, z, cz, E + 1);
    }
    return best;
}

/* ---------------------------------------------------------------- preview */

int calendar_skip_reason(const struct cal_sched *cs, int64_t t, char *buf, size_t len)
{
    static const char *const what[] = {"a workday", "a weekend day", "a holiday",
                                       "a make-up workday"};
    const struct calendar *cal = cs->cal;
    int64_t day = calendar_day_of(cal, t), T;
    char d[16], when[40];
    if (calendar_included(cal, cs->rule, day))
        return 0;
    format_date(day, d, sizeof d);
    int n = snprintf(buf, len, "%s is %s in %s", d, what[calendar_day_kind(cal, day)], cal->name);
    if (n < 0 || (size_t)n >= len || cs->shift == CAL_SHIFT_NONE)
        return 1;
    if (target(cs, day, &T) < 0)
        snprintf(buf + n, len - (size_t)n, "; no %s within %d days",
                 cs->rule == CAL_RULE_WORKDAYS ? "workday" : "holiday", CAL_SEARCH_DAYS);
    else
        snprintf(buf + n, len - (size_t)n, "; moved to %s",
                 tz_format_civil(T * 86400 + tod_of(cal->zone, t), when, sizeof when));
    return 1;
}

cJSON *calendar_preview_skipped(const cron_expr *e, const tz_zone *z, const struct cal_sched *cs,
                                int64_t from, int64_t to, int max, bool *more)
{
    cJSON *arr = cJSON_CreateArray();
    char why[256], wall[40];
    int n = 0;
    *more = false;
    if (!arr || !cs || !cs->cal)
        return arr;
    /* Fires moved back onto `to`'s day come from the excluded days after it. */
    if (cs->shift == CAL_SHIFT_PREVIOUS) {
        int64_t d = calendar_day_of(cs->cal, to) + 1;
        for (int i = 0; i < CAL_SEARCH_DAYS && !calendar_included(cs->cal, cs->rule, d); i++)
            d++;
        to = at_wall(cs->cal->zone, d, 0) - 1;
    }
    for (int64_t t = cron_next(e, from, z); t >= 0 && t <= to; t = cron_next(e, t, z)) {
        if (!calendar_skip_reason(cs, t, why, sizeof why))
            continue;
        if (n == max) {
            *more = true;
            break;
        }
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddStringToObject(o, "time", tz_format_civil(t + tz_offset(z, t), wall, sizeof wall));
        cJSON_AddNumberToObject(o, "epoch", (double)t);
        cJSON_AddStringToObject(o, "reason", why);
        cJSON_AddItemToArray(arr, o);
        n++;
    }
    return arr;
}

/* ---------------------------------------------------------------- job fields */

int calendar_opt_fields(const cJSON *o, char **name, enum cal_rule *rule, enum cal_shift *shift,
                        struct sc_err *err)
{
    const char *v = NULL;
    int rc, k;
    *rule = CAL_RULE_WORKDAYS;
    *shift = CAL_SHIFT_NONE;
    if ((rc = json_opt_str(o, "calendar", "", CAL_NAME_MAX, name, err)) < 0)
        return rc;
    if ((*name)[0] && !calendar_name_valid(*name))
        return sc_err_set(err, EINVAL, "calendar", -1,
                          "must be a calendar name of [A-Za-z0-9._-] (got \"%.40s\")", *name);
    if ((rc = json_get_str(o, "calendar_rule", JSON_OPTIONAL, &v, err)) == 0) {
        if ((k = calendar_rule_parse(v)) < 0)
            return sc_err_set(err, EINVAL, "calendar_rule", -1,
                              "must be workdays or holidays (got \"%.40s\")", v);
        if (!(*name)[0])
            return sc_err_set(err, EINVAL, "calendar_rule", -1, "needs a calendar");
        *rule = (enum cal_rule)k;
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = json_get_str(o, "calendar_shift", JSON_OPTIONAL, &v, err)) == 0) {
        if ((k = calendar_shift_parse(v)) < 0)
            return sc_err_set(err, EINVAL, "calendar_shift", -1,
                              "must be none, next or previous (got \"%.40s\")", v);
        if (!(*name)[0])
            return sc_err_set(err, EINVAL, "calendar_shift", -1, "needs a calendar");
        *shift = (enum cal_shift)k;
    } else if (rc != -ENOENT) {
        return rc;
    }
    return 0;
}

void calendar_add_fields(cJSON *o, const char *name, enum cal_rule rule, enum cal_shift shift)
{
    if (!name || !name[0])
        return;
    cJSON_AddStringToObject(o, "calendar", name);
    cJSON_AddStringToObject(o, "calendar_rule", rule_names[rule]);
    cJSON_AddStringToObject(o, "calendar_shift", shift_names[shift]);
}
