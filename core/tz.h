/* core/tz.h: IANA time zones read from the system's TZif files, as shareable objects.
 *
 * A zone is loaded once (tz_load reads $TZDIR or /usr/share/zoneinfo/<name>), is
 * immutable afterwards and may be used from any number of threads without locks.
 * Nothing here touches $TZ, localtime() or any other process-wide state.
 *
 * The reader takes the 64-bit (v2+) data of a TZif file (v1 files: the 32-bit data)
 * and the POSIX TZ footer string that describes times after the last listed
 * transition. At load the footer's rule is expanded into explicit transitions
 * through TZ_EXPAND_YEAR so lookups are one binary search; instants later than that
 * evaluate the rule on the fly. Leap-second records ("right/" zones) are ignored:
 * times here are POSIX seconds.
 *
 * Also here: proleptic Gregorian calendar helpers used by cron and the CLI. A
 * "civil" time is a wall-clock time encoded as seconds since 1970-01-01 00:00:00 of
 * that wall clock (what UTC seconds would be if the wall clock were UTC). */
#ifndef SC_TZ_H
#define SC_TZ_H

#include <stdint.h>

struct sc_err;

typedef struct tz_zone tz_zone;

/* Transitions produced from the footer rule at load time reach through this year. */
#define TZ_EXPAND_YEAR 2200

/* tz_load: "UTC", "Asia/Shanghai", ... NULL with err filled (field "timezone") when
 * the name is malformed, unknown or the file is not valid TZif. The zone is the
 * caller's to tz_free(); it is immutable and safe to share between threads.
 * "UTC" (and "Etc/UTC") work even without a zoneinfo database. */
tz_zone *tz_load(const char *name, struct sc_err *err);
void tz_free(tz_zone *z);

/* tz_name: the name given to tz_load (owned by the zone). */
const char *tz_name(const tz_zone *z);

/* tz_offset: seconds east of UTC in effect at UTC instant `utc`. */
int tz_offset(const tz_zone *z, int64_t utc);

/* One stretch of time with a constant UTC offset. */
struct tz_period {
    int64_t start; /* first instant with `off` (INT64_MIN: since forever) */
    int64_t end;   /* first instant after it (INT64_MAX: forever) */
    int off;       /* seconds east of UTC during [start, end) */
    int prev_off;  /* offset just before `start` (== off when start is INT64_MIN) */
};

/* tz_period: the period holding UTC instant `utc`. */
void tz_period(const tz_zone *z, int64_t utc, struct tz_period *p);

/* tz_from_local: civil (wall) time in the zone -> UTC. Returns 0 when the wall
 * time occurs once, 1 when it occurs twice (*utc is the first occurrence), and
 * -ENOENT when it does not exist (skipped by a forward jump; *utc is then the
 * instant the jump happens, i.e. the first existing time after it). */
int tz_from_local(const tz_zone *z, int64_t civil, int64_t *utc);

/* ---- calendar helpers (proleptic Gregorian, any year) ---- */

/* tz_days_from_civil: days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
int64_t tz_days_from_civil(int64_t y, int m, int d);
/* tz_civil_from_days: the inverse. */
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* tz_weekday: 0 = Sunday .. 6 = Saturday, of a day count since 1970-01-01. */
int tz_weekday(int64_t days);
int tz_is_leap(int64_t y);
int tz_month_days(int64_t y, int m);

/* tz_format_civil: "YYYY-MM-DD HH:MM:SS" of a civil time into buf (>= 32 bytes). */
const char *tz_format_civil(int64_t civil, char *buf, int len);
/* tz_format_offset: "+08:00", "-04:00", "+10:30" (seconds only when not whole
 * minutes: "-00:44:30") of an offset in seconds east of UTC, into buf (>= 16 bytes). */
const char *tz_format_offset(int off, char *buf, int len);
/* tz_parse_civil: "YYYY-MM-DD HH:MM:SS" (also 'T' as separator) -> civil seconds;
 * 0 or -EINVAL when malformed or a field is out of range. */
int tz_parse_civil(const char *s, int64_t *civil);

#endif
