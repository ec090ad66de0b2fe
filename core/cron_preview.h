/* core/cron_preview.h: the cron preview that `shardcronctl cron preview` and the
 * console's GET /api/v1/cron/preview both serve (design.md, "Contracts").
 *
 * One place builds the JSON so the two cannot drift apart:
 *   valid:   {"valid":true,"expression":E,"timezone":Z,"next":["YYYY-MM-DD HH:MM:SS",...],
 *             "next_epoch":[...],"next_offset":["+08:00",...]}
 *            (wall times in Z, the same instants as epoch seconds, and Z's offset at
 *            each: a repeated hour's two passes show the same wall time with two
 *            offsets; fewer than n past 2199)
 *   invalid: {"valid":false,"error":MSG,"field":F,"position":N}   ("position" only when
 *             the fault has one)
 * Loading the zone and reading the clock stay with the caller. */
#ifndef SC_CRON_PREVIEW_H
#define SC_CRON_PREVIEW_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/tz.h"

struct sc_err;

/* Bounds of n, the number of fire times in a preview. */
#define CRON_PREVIEW_MAX 1000

/* cron_preview_from: TIME ("YYYY-MM-DD HH:MM:SS" wall time in z, or "@EPOCH_SECONDS";
 * NULL means `now`) -> the UTC instant after which fire times are listed. A wall time
 * skipped by DST means "from the jump on", a repeated one its first occurrence.
 * 0 or -EINVAL with err (field "from"). */
int cron_preview_from(const char *text, const tz_zone *z, int64_t now, int64_t *out,
                      struct sc_err *err);

/* cron_preview_json: the preview of `expr` in z after `from`, n fire times (1..
 * CRON_PREVIEW_MAX). *valid says which of the two shapes was built. The object is
 * the caller's (cJSON_Delete); NULL only when out of memory. */
cJSON *cron_preview_json(const char *expr, const tz_zone *z, int64_t from, int n, int *valid);

/* cron_preview_cal_json: the same under a business calendar (cs NULL: exactly
 * cron_preview_json): the fires the calendar leaves (shifted ones at their new
 * time), plus "calendar","calendar_rule","calendar_shift" and
 * "skipped":[{"time","epoch","reason"}], the cron fires it dropped or moved
 * up to the last fire listed (or a year on when there is none), at most n;
 * "skipped_more":true when there were more. */
struct cal_sched;
cJSON *cron_preview_cal_json(const char *expr, const tz_zone *z, const struct cal_sched *cs,
                             int64_t from, int n, int *valid);

/* cron_error_json: the invalid shape for any sc_err (a bad zone, from or n). */
cJSON *cron_error_json(const struct sc_err *err);

#endif
