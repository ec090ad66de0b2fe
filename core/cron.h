/* core/cron.h: cron expressions (Quartz 6/7 fields, Unix 5 fields, macros) and
 * their fire times in an IANA time zone.
 *
 * The dialect is design.md's and docs/cron.md's:
 *   - 6/7 fields: second minute hour day-of-month month day-of-week [year], Quartz
 *     semantics: day-of-week 1-7 = SUN-SAT, names, `?`, ranges, lists, steps, `L`,
 *     `L-n`, `W`, `LW`, `nL`, `n#k`; year 1970-2199.
 *   - 5 fields: minute hour day-of-month month day-of-week, second 0, day-of-week
 *     0-7 (0 and 7 = SUN); when neither day field starts with `*`, a day matches if
 *     EITHER matches (Vixie cron's rule).
 *   - @yearly @annually @monthly @weekly @daily @midnight @hourly, and
 *     `@every <n>s|m|h`: a fixed rate anchored at the Unix epoch (fires at the UTC
 *     instants where epoch seconds % period == 0, whatever the zone), so every agent
 *     computes the same instants.
 * DECISION (lead): in 6/7-field form, restricting BOTH day fields (`0 0 0 15 * MON`)
 * is rejected as Quartz does, with the error at the day-of-week field suggesting
 * `?`; `*` in both means every day, and `*` in one with a restriction in the other
 * means the restriction alone.
 *
 * Time zone rules (docs/cron.md): a wall time that does not exist (spring forward,
 * Pacific/Apia's skipped 2011-12-30) is skipped. In a repeated hour (fall back) a
 * schedule that names fixed hours (`0 30 1 * * ?`) fires once, at the first
 * occurrence; one whose hour field matches every hour (`0/5 * * * * ?`,
 * `0 * * * * ?`, 5-field `* * * * *`) keeps firing through both passes, and `@every`
 * counts real seconds (cron_every_hour).
 *
 * A parsed expression is immutable and may be shared between threads; everything
 * here is pure (no I/O, no global state). */
#ifndef SC_CRON_H
#define SC_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tz.h"

struct sc_err;

typedef struct cron_expr cron_expr;

/* Fire times are searched in years CRON_YEAR_MIN..CRON_YEAR_MAX (wall time). */
#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2199

/* cron_parse: 0 and *out (the caller's to cron_free), or -EINVAL with err->field
 * naming the cron field ("second", "minute", "hour", "day-of-month", "month",
 * "day-of-week", "year", "expression"), err->msg the reason and err->pos the
 * character offset in `text`. Expressions that never fire between CRON_YEAR_MIN
 * and CRON_YEAR_MAX are rejected too (field "expression"). */
int cron_parse(const char *text, cron_expr **out, struct sc_err *err);
void cron_free(cron_expr *e);

/* cron_next: the first fire time strictly after UTC instant `after`, in zone z;
 * -1 when there is none (past year CRON_YEAR_MAX). Fire times are never before the
 * epoch (instant 0), so -1 is unambiguous. */
int64_t cron_next(const cron_expr *e, int64_t after, const tz_zone *z);

/* cron_prev: the last fire time strictly before `before`; -1 when none. */
int64_t cron_prev(const cron_expr *e, int64_t before, const tz_zone *z);

/* cron_matches_civil: does wall time `civil` (tz.h) match the fields? A plain
 * field-by-field predicate that ignores time zones and @every (always 0 for it);
 * tests use it as the brute-force oracle for cron_next. */
int cron_matches_civil(const cron_expr *e, int64_t civil);

/* cron_every_hour: does the schedule fire in both passes of a repeated hour (its hour
 * field matches every hour, or it is `@every`)? */
bool cron_every_hour(const cron_expr *e);

#endif
