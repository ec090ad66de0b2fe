/* core/calendar.h: business calendars (design.md, "Calendars and pause windows").
 *
 * A calendar is stored as JSON at /calendars/<name>:
 *   {"name":"cn-workdays","timezone":"Asia/Shanghai","weekend":["SAT","SUN"],
 *    "holidays":["2026-10-01",...],"workdays":["2026-10-10",...]}
 * `workdays` are weekend days that are worked (China's make-up days). A job or a
 * workflow names a calendar with a rule (fire only on its workdays, or only on
 * its holidays: weekend days not made up, and the listed holidays) and a shift:
 * a fire on an excluded day is dropped (none), or moved to the same wall time on
 * the next/previous included day.
 *
 * DECISION: the day of a fire is its date in the calendar's time zone, and a
 * shift keeps the wall time in that zone (with the job in the same zone, as is
 * usual, that is the job's wall time). A shifted wall time that does not exist
 * on its new day (spring forward) fires at the jump; a repeated one at its first
 * pass. A shift looks at most CAL_SEARCH_DAYS days away; a fire with no included
 * day that near is dropped.
 *
 * A parsed calendar is immutable and reference counted (calendar_ref/unref, on
 * one thread: the agent shares one among every item that names it). Everything
 * here is pure: no I/O beyond tz_load's reading of the zone at parse time. */
#ifndef SC_CALENDAR_H
#define SC_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/cron.h"
#include "core/err.h"
#include "core/tz.h"

#define CAL_NAME_MAX 128
#define CAL_DATES_MAX 10000 /* holidays, and workdays, each */
#define CAL_SEARCH_DAYS 366 /* how far a shift looks for an included day */
#define CAL_STORED_MAX 1000000

enum cal_rule { CAL_RULE_WORKDAYS = 0, CAL_RULE_HOLIDAYS };
enum cal_shift { CAL_SHIFT_NONE = 0, CAL_SHIFT_NEXT, CAL_SHIFT_PREVIOUS };
/* What a day is in a calendar. */
enum cal_day { CAL_DAY_WORKDAY, CAL_DAY_WEEKEND, CAL_DAY_HOLIDAY, CAL_DAY_MAKEUP };

struct calendar {
    char *name;
    char *description; /* "" when absent */
    char *timezone;
    tz_zone *zone;
    unsigned weekend;  /* bit d set: weekday d (0 = Sunday .. 6 = Saturday) is a weekend day */
    int64_t *holidays; /* days since 1970-01-01, sorted, nholidays entries */
    int nholidays;
    int64_t *workdays; /* make-up workdays, sorted */
    int nworkdays;
    int refs;
};

/* calendar_parse / calendar_from_cjson: validate a calendar; *out is the
 * caller's (calendar_unref). -EINVAL with err naming the field and the value
 * ("holidays[2]: \"2026-13-01\" is not a date YYYY-MM-DD"). The zone is loaded
 * here (an unknown zone is refused, field "timezone"). */
int calendar_parse(const char *json, size_t len, struct calendar **out, struct sc_err *err);
int calendar_from_cjson(const cJSON *root, struct calendar **out, struct sc_err *err);
/* Canonical form (dates sorted); the caller's (cJSON_Delete / free). NULL on OOM. */
cJSON *calendar_to_cjson(const struct calendar *c);
char *calendar_to_json(const struct calendar *c);

struct calendar *calendar_ref(struct calendar *c);
void calendar_unref(struct calendar *c);

/* calendar_day_kind: what `day` (days since 1970-01-01) is in c. */
enum cal_day calendar_day_kind(const struct calendar *c, int64_t day);
/* calendar_included: whether a fire on `day` is allowed under `rule`. */
bool calendar_included(const struct calendar *c, enum cal_rule rule, int64_t day);
/* calendar_day_of: the date (days since 1970-01-01) of UTC instant t in c's zone. */
int64_t calendar_day_of(const struct calendar *c, int64_t t);

int calendar_rule_parse(const char *s);  /* -1 unknown */
int calendar_shift_parse(const char *s); /* -1 unknown */
const char *calendar_rule_name(enum cal_rule r);
const char *calendar_shift_name(enum cal_shift s);

/* What a job or workflow asks of a calendar. cal NULL: no calendar. */
struct cal_sched {
    const struct calendar *cal;
    enum cal_rule rule;
    enum cal_shift shift;
};

/* calendar_next: the first fire strictly after `after` of cron `e` in zone z,
 * under cs (days excluded by the rule dropped or shifted); -1 when none (past
 * CRON_YEAR_MAX, or no included day found). cs NULL or cs->cal NULL: cron_next. */
int64_t calendar_next(const cron_expr *e, const tz_zone *z, const struct cal_sched *cs,
                      int64_t after);

/* calendar_skip_reason: when cron fire t is on a day cs excludes, 1 and a
 * sentence into buf ("2026-10-01 is a holiday in cn-workdays", with "; moved
 * to 2026-10-08 09:00:00" or "; no workday within 366 days" under a shift);
 * 0 when the day is included. */
int calendar_skip_reason(const struct cal_sched *cs, int64_t t, char *buf, size_t len);

/* calendar_preview_skipped: the cron fires in (from, to] that cs excludes (with
 * shift previous, also those of the excluded days right after to's, which
 * move onto it or before), at most max, as [{"time":"YYYY-MM-DD
 * HH:MM:SS","epoch":N,"reason":"..."}] (wall times in z); *more set when some were left out. The
 * caller's; NULL on OOM. */
cJSON *calendar_preview_skipped(const cron_expr *e, const tz_zone *z, const struct cal_sched *cs,
                                int64_t from, int64_t to, int max, bool *more);

/* calendar_opt_fields: the "calendar", "calendar_rule", "calendar_shift" of a
 * job or workflow object: *name (copied, "" when absent), *rule, *shift; a rule
 * or shift without a calendar is refused. -EINVAL naming the field. */
int calendar_opt_fields(const cJSON *o, char **name, enum cal_rule *rule, enum cal_shift *shift,
                        struct sc_err *err);
/* calendar_add_fields: the same three into o, only when a calendar is named
 * (an agent of a release without calendars refuses the fields). */
void calendar_add_fields(cJSON *o, const char *name, enum cal_rule rule, enum cal_shift shift);

/* calendar_name_valid: 1..CAL_NAME_MAX of [A-Za-z0-9._-], not "." or "..". */
int calendar_name_valid(const char *name);

#endif
