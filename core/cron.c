/* core/cron.c: the cron parser and the fire-time search.
 *
 * Owns struct cron_expr, the compact parsed form: one bitset per field (seconds,
 * minutes, hours, days of the month, months, weekdays, years) plus the Quartz
 * day specials (L, L-n, W, LW, nL, n#k) and a per-first-weekday table of which
 * days of a month the weekday set selects. The search never walks second by second
 * or day by day: it takes the next set bit in each field from the largest unit down
 * and computes a month's matching days as one 32-bit mask.
 *
 * Time zones enter only through tz_period(): a fire time is searched as a wall
 * ("civil") time inside one constant-offset period at a time, which is how the DST
 * rules fall out: wall times inside a forward jump belong to no period (skipped), and
 * after a backward jump the repeated wall times are cut from the later period (they
 * fired at their first occurrence) unless the hour field matches every hour: such a
 * schedule keeps firing through both passes. See cron.h for the dialect. */
#include "core/cron.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* 2200-01-01 00:00:00 is day 84006 since 1970-01-01. */
#define CIVIL_MAX ((int64_t)84006 * 86400 - 1)
#define TEXT_MAX 1024
#define EVERY_MAX (366 * 86400)

struct cron_expr {
    uint64_t sec;      /* bits 0..59 */
    uint64_t min;      /* bits 0..59 */
    uint32_t hour;     /* bits 0..23 */
    uint32_t dom;      /* bits 1..31 */
    uint32_t dom_last; /* bit n: "L-n" ("L" is n = 0) */
    uint32_t dom_w;    /* bit d: "dW" */
    uint32_t
        dowpat[7];    /* dowpat[w]: days 1..31 selected by `dow` in a month starting on weekday w */
    uint16_t mon;     /* bits 1..12 */
    uint8_t dow;      /* bits 0..6, 0 = Sunday */
    uint8_t dow_last; /* bit w: "wL", the last weekday w of the month */
    uint8_t dow_nth[7]; /* dow_nth[w] bit k: "w#k", the k-th weekday w */
    uint8_t dom_lw;     /* "LW": the last weekday (Mon-Fri) of the month */
    uint8_t dom_special, dow_special;
    uint8_t day_or;       /* 5-field rule: a day matches when either day field does */
    uint8_t weekday_only; /* every month, year and day of month: only `dow` decides */
    uint64_t year[4];     /* bit y - CRON_YEAR_MIN */
    int64_t every;        /* > 0: "@every", fires when epoch seconds % every == 0 */
};

/* ============================== bit helpers ============================== */

static inline int next_bit(uint64_t mask, int from)
{
    if (from < 0)
        from = 0;
    if (from > 63)
        return -1;
    mask &= ~0ULL << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

static inline int prev_bit(uint64_t mask, int from)
{
    if (from < 0)
        return -1;
    if (from < 63)
        mask &= (2ULL << from) - 1;
    return mask ? 63 - __builtin_clzll(mask) : -1;
}

static inline int year_has(const cron_expr *e, int64_t y)
{
    if (y < CRON_YEAR_MIN || y > CRON_YEAR_MAX)
        return 0;
    int b = (int)(y - CRON_YEAR_MIN);
    return (int)(e->year[b >> 6] >> (b & 63)) & 1;
}

/* next_year: first year >= y in the set, or -1. */
static int64_t next_year(const cron_expr *e, int64_t y)
{
    if (y < CRON_YEAR_MIN)
        y = CRON_YEAR_MIN;
    for (int b = (int)(y - CRON_YEAR_MIN); b <= CRON_YEAR_MAX - CRON_YEAR_MIN;) {
        int n = next_bit(e->year[b >> 6], b & 63);
        if (n >= 0)
            return CRON_YEAR_MIN + (b & ~63) + n;
        b = (b | 63) + 1;
    }
    return -1;
}

/* prev_year: last year <= y in the set, or -1. */
static int64_t prev_year(const cron_expr *e, int64_t y)
{
    if (y > CRON_YEAR_MAX)
        y = CRON_YEAR_MAX;
    for (int b = (int)(y - CRON_YEAR_MIN); b >= 0;) {
        int n = prev_bit(e->year[b >> 6], b & 63);
        if (n >= 0)
            return CRON_YEAR_MIN + (b & ~63) + n;
        b = (b & ~63) - 1;
    }
    return -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ============================== day masks ============================== */

/* day_mask: days 1..31 (bits) of month m of year y that match both day fields;
 * `first` is the day number (since 1970-01-01) of the month's first day. */
static uint32_t day_mask(const cron_expr *e, int64_t y, int m, int64_t first)
{
    int md = tz_month_days(y, m);
    uint32_t valid = (uint32_t)((2ULL << md) - 2);
    int wd1 = (int)((uint64_t)(first + 4) % 7); /* first: day number of the 1st, >= 0 */
    uint32_t dm = e->dom, wm = e->dowpat[wd1];

    if (e->dom_special) {
        int wdl = (wd1 + md - 1) % 7;
        for (uint32_t b = e->dom_last; b; b &= b - 1) {
            int d = md - __builtin_ctz(b);
            if (d >= 1)
                dm |= 1u << d;
        }
        for (uint32_t b = e->dom_w; b; b &= b - 1) {
            int d = __builtin_ctz(b);
            if (d > md)
                continue;
            int wd = (wd1 + d - 1) % 7;
            if (wd == 6)
                d = d == 1 ? 3 : d - 1;
            else if (wd == 0)
                d = d == md ? d - 2 : d + 1;
            dm |= 1u << d;
        }
        if (e->dom_lw)
            dm |= 1u << (wdl == 6 ? md - 1 : wdl == 0 ? md - 2 : md);
    }
    if (e->dow_special) {
        int wdl = (wd1 + md - 1) % 7;
        for (int w = 0; w < 7; w++) {
            if ((e->dow_last >> w) & 1)
                wm |= 1u << (md - (wdl - w + 7) % 7);
            for (uint32_t b = e->dow_nth[w]; b; b &= b - 1) {
                int d = 1 + (w - wd1 + 7) % 7 + 7 * (__builtin_ctz(b) - 1);
                if (d <= md)
                    wm |= 1u << d;
            }
        }
    }
    return (e->day_or ? dm | wm : dm & wm) & valid;
}

int cron_matches_civil(const cron_expr *e, int64_t civil)
{
    int64_t days = floor_div(civil, 86400), y;
    int sod = (int)(civil - days * 86400), m, d;
    if (e->every)
        return 0;
    tz_civil_from_days(days, &y, &m, &d);
    if (!year_has(e, y) || !((e->mon >> m) & 1) || !((e->hour >> (sod / 3600)) & 1) ||
        !((e->min >> (sod / 60 % 60)) & 1) || !((e->sec >> (sod % 60)) & 1))
        return 0;
    /* Day fields, checked directly (not through day_mask) so tests can compare the two. */
    int md = tz_month_days(y, m), wd = tz_weekday(days);
    int dom_ok = (e->dom >> d) & 1, dow_ok = (e->dow >> wd) & 1;
    for (int n = 0; n <= 30; n++)
        if (((e->dom_last >> n) & 1) && d == md - n)
            dom_ok = 1;
    for (int t = 1; t <= md; t++) {
        if (!((e->dom_w >> t) & 1))
            continue;
        int twd = tz_weekday(days - d + t), fire = t;
        if (twd == 6)
            fire = t == 1 ? t + 2 : t - 1;
        if (twd == 0)
            fire = t == md ? t - 2 : t + 1;
        if (fire == d)
            dom_ok = 1;
    }
    if (e->dom_lw && wd >= 1 && wd <= 5 && (d == md || (wd == 5 && d >= md - 2)))
        dom_ok = 1;
    if (((e->dow_last >> wd) & 1) && d + 7 > md)
        dow_ok = 1;
    if ((e->dow_nth[wd] >> ((d - 1) / 7 + 1)) & 1)
        dow_ok = 1;
    return e->day_or ? dom_ok || dow_ok : dom_ok && dow_ok;
}

/* ============================== civil search ============================== */

/* next_tod: the first matching time of day (seconds) at or after h:mi:s, or -1. */
static int next_tod(const cron_expr *e, int h, int mi, int s)
{
    for (;;) {
        int n = next_bit(e->hour, h);
        if (n < 0)
            return -1;
        if (n != h)
            h = n, mi = s = 0;
        n = next_bit(e->min, mi);
        if (n < 0) {
            h++, mi = s = 0;
            continue;
        }
        if (n != mi)
            mi = n, s = 0;
        n = next_bit(e->sec, s);
        if (n < 0) {
            mi++, s = 0;
            continue;
        }
        return h * 3600 + mi * 60 + n;
    }
}

/* next_civil: the first matching wall time >= t, or -1 when none through 2199. */
static int64_t next_civil(const cron_expr *e, int64_t t)
{
    if (e->weekday_only && t >= 0 && t <= CIVIL_MAX) {
        /* Most schedules: no calendar needed, only the weekday (at most 8 days). */
        int64_t days = t / 86400;
        int sod = (int)(t - days * 86400), h = sod / 3600, mi = sod / 60 % 60, s = sod % 60;
        for (;; days++, h = mi = s = 0) {
            if (days > CIVIL_MAX / 86400)
                return -1;
            if (!((e->dow >> ((uint64_t)(days + 4) % 7)) & 1))
                continue;
            int r = next_tod(e, h, mi, s);
            if (r >= 0)
                return days * 86400 + r;
        }
    }
    int64_t y;
    int m, d;
    if (t < 0)
        t = 0;
    if (t > CIVIL_MAX)
        return -1;
    int64_t days = t / 86400;
    int sod = (int)(t - days * 86400);
    tz_civil_from_days(days, &y, &m, &d);
    int h = sod / 3600, mi = sod / 60 % 60, s = sod % 60;
    int64_t first = days - d + 1; /* day number of the 1st of (y, m); -1: recompute */

    for (;;) {
        if (!year_has(e, y)) {
            y = next_year(e, y + 1);
            if (y < 0)
                return -1;
            m = 1, d = 1, h = mi = s = 0, first = -1;
        }
        int n = next_bit(e->mon, m);
        if (n < 0) {
            y++, m = 1, d = 1, h = mi = s = 0, first = -1;
            continue;
        }
        if (n != m)
            m = n, d = 1, h = mi = s = 0, first = -1;
        if (first < 0)
            first = tz_days_from_civil(y, m, 1);
        n = next_bit(day_mask(e, y, m, first), d);
        if (n < 0) {
            if (++m > 12)
                y++, m = 1;
            d = 1, h = mi = s = 0, first = -1;
            continue;
        }
        if (n != d)
            d = n, h = mi = s = 0;
        n = next_bit(e->hour, h);
        if (n < 0) {
            d++, h = mi = s = 0;
            continue;
        }
        if (n != h)
            h = n, mi = s = 0;
        n = next_bit(e->min, mi);
        if (n < 0) {
            h++, mi = s = 0;
            continue;
        }
        if (n != mi)
            mi = n, s = 0;
        n = next_bit(e->sec, s);
        if (n < 0) {
            mi++, s = 0;
            continue;
        }
        return (first + d - 1) * 86400 + h * 3600 + mi * 60 + n;
    }
}

/* prev_civil: the last matching wall time <= t, or -1 when none since 1970. */
static int64_t prev_civil(const cron_expr *e, int64_t t)
{
    int64_t y;
    int m, d;
    if (t < 0)
        return -1;
    if (t > CIVIL_MAX)
        t = CIVIL_MAX;
    int64_t days = t / 86400;
    int sod = (int)(t - days * 86400);
    tz_civil_from_days(days, &y, &m, &d);
    int h = sod / 3600, mi = sod / 60 % 60, s = sod % 60;
    int64_t first = days - d + 1; /* day number of the 1st of (y, m); -1: recompute */

    for (;;) {
        if (!year_has(e, y)) {
            y = prev_year(e, y - 1);
            if (y < 0)
                return -1;
            m = 12, d = 31, h = 23, mi = s = 59, first = -1;
        }
        int n = prev_bit(e->mon, m);
        if (n < 1) {
            y--, m = 12, d = 31, h = 23, mi = s = 59, first = -1;
            continue;
        }
        if (n != m)
            m = n, d = 31, h = 23, mi = s = 59, first = -1;
        if (first < 0)
            first = tz_days_from_civil(y, m, 1);
        n = prev_bit(day_mask(e, y, m, first), d);
        if (n < 1) {
            if (--m < 1)
                y--, m = 12;
            d = 31, h = 23, mi = s = 59, first = -1;
            continue;
        }
        if (n != d)
            d = n, h = 23, mi = s = 59;
        n = prev_bit(e->hour, h);
        if (n < 0) {
            d--, h = 23, mi = s = 59;
            continue;
        }
        if (n != h)
            h = n, mi = s = 59;
        n = prev_bit(e->min, mi);
        if (n < 0) {
            h--, mi = s = 59;
            continue;
        }
        if (n != mi)
            mi = n, s = 59;
        n = prev_bit(e->sec, s);
        if (n < 0) {
            mi--, s = 59;
            continue;
        }
        return (first + d - 1) * 86400 + h * 3600 + mi * 60 + n;
    }
}

/* ============================== zone-aware search ============================== */

/* Fire times are instants >= 0 (never before 1970-01-01 00:00:00 UTC), so -1 is never a
 * fire time; instants past 2199 are clamped so the arithmetic cannot overflow. */
#define UTC_HI (CIVIL_MAX + 2 * 86400)

#define ALL_HOURS ((1u << 24) - 1)

bool cron_every_hour(const cron_expr *e)
{
    return e->every > 0 || e->hour == ALL_HOURS;
}

int64_t cron_next(const cron_expr *e, int64_t after, const tz_zone *z)
{
    if (after > CIVIL_MAX + 2 * 86400)
        return -1;
    if (after < 0)
        after = -1;
    if (e->every) {
        int64_t n = (floor_div(after, e->every) + 1) * e->every;
        return n > CIVIL_MAX ? -1 : n;
    }
    int64_t t = after + 1;
    int64_t w = INT64_MIN, w_lo = INT64_MAX; /* w: the first match >= w_lo */
    for (;;) {
        struct tz_period p;
        tz_period(z, t, &p);
        int64_t lo = t + p.off;
        /* After a backward jump, wall times below start + prev_off already happened;
         * a schedule of every hour fires through them again. */
        if (p.prev_off > p.off && p.start != INT64_MIN && lo < p.start + p.prev_off &&
            e->hour != ALL_HOURS)
            lo = p.start + p.prev_off;
        if (w < lo || lo < w_lo) {
            w = next_civil(e, lo);
            w_lo = lo;
            if (w < 0)
                return -1;
        }
        if (p.end == INT64_MAX || w - p.off < p.end)
            return w - p.off;
        t = p.end;
    }
}

int64_t cron_prev(const cron_expr *e, int64_t before, const tz_zone *z)
{
    if (before <= 0)
        return -1;
    if (before > UTC_HI)
        before = UTC_HI;
    if (e->every) {
        int64_t n = floor_div(before - 1, e->every) * e->every;
        return n > CIVIL_MAX ? floor_div(CIVIL_MAX, e->every) * e->every : n;
    }
    int64_t t = before - 1;
    int64_t w = INT64_MAX, w_hi = INT64_MIN; /* w: the last match <= w_hi */
    for (;;) {
        struct tz_period p;
        tz_period(z, t, &p);
        int64_t hi = t + p.off;
        if (w > hi || hi > w_hi) {
            w = prev_civil(e, hi);
            w_hi = hi;
            if (w < 0)
                return -1;
        }
        int64_t lo = p.start == INT64_MIN                         ? INT64_MIN
                     : p.prev_off > p.off && e->hour != ALL_HOURS ? p.start + p.prev_off
                                                                  : p.start + p.off;
        if (w >= lo)
            return w - p.off >= 0 ? w - p.off : -1;
        t = p.start - 1;
    }
}

/* ============================== parser ============================== */

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR, F_COUNT };

struct fdef {
    const char *name;
    int min, max;
};

static const char *const mon_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct pctx {
    const char *text;
    int unix_form;
    cron_expr *e;
    struct sc_err *err;
    struct fdef f;    /* the field being parsed (dow's range depends on the form) */
    int fi;           /* F_* */
    uint64_t bits[4]; /* values - f.min */
    int any;          /* the field is "?" */
};

static int perr(struct pctx *c, int pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct pctx *c, int pos, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sc_err_set(c->err, EINVAL, c->fi < F_COUNT ? c->f.name : "expression", pos, "%s", msg);
}

/* chr_desc: "character 'x'" for printable ASCII, "byte 0xNN" otherwise, so error
 * messages (and the JSON carrying them) stay valid text. */
static const char *chr_desc(char ch, char *buf)
{
    unsigned char u = (unsigned char)ch;
    if (u >= 0x20 && u < 0x7f)
        snprintf(buf, 24, "character '%c'", ch);
    else
        snprintf(buf, 24, "byte 0x%02x", u);
    return buf;
}

static int is_sp(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int up(char ch)
{
    return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* parse_value: a number or (month, day-of-week) a three-letter name at *pp. */
static int parse_value(struct pctx *c, const char **pp, const char *end, int *out)
{
    char cb[24];
    const char *p = *pp;
    int pos = (int)(p - c->text);
    if (p < end && *p >= '0' && *p <= '9') {
        long v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v < 100000)
                v = v * 10 + (*p - '0');
            p++;
        }
        if (v < c->f.min || v > c->f.max)
            return perr(c, pos, "%s out of range %d-%d", c->f.name, c->f.min, c->f.max);
        *out = (int)v;
        *pp = p;
        return 0;
    }
    const char *const *names = c->fi == F_MON ? mon_names : c->fi == F_DOW ? dow_names : NULL;
    int n = c->fi == F_MON ? 12 : 7, base = c->fi == F_MON ? 1 : c->unix_form ? 0 : 1;
    if (names && end - p >= 3) {
        for (int i = 0; i < n; i++) {
            /* "FRIL" is FRI + L, "JANUARY" is not JAN. */
            int more = p + 3 < end && up(p[3]) >= 'A' && up(p[3]) <= 'Z';
            if (more && c->fi == F_DOW && up(p[3]) == 'L')
                more = p + 4 < end && up(p[4]) >= 'A' && up(p[4]) <= 'Z';
            if (up(p[0]) == names[i][0] && up(p[1]) == names[i][1] && up(p[2]) == names[i][2] &&
                !more) {
                *out = i + base;
                *pp = p + 3;
                return 0;
            }
        }
    }
    if (p >= end || *p == ',' || *p == '-' || *p == '/')
        return perr(c, pos, "%s: missing value", c->f.name);
    if (names && up(*p) >= 'A' && up(*p) <= 'Z')
        return perr(c, pos,
                    c->fi == F_MON ? "%s: unknown name (expected JAN-DEC or %d-%d)"
                                   : "%s: unknown name (expected SUN-SAT or %d-%d)",
                    c->f.name, c->f.min, c->f.max);
    return sc_err_set(c->err, EINVAL, c->f.name, pos, "%s: unexpected %s", c->f.name,
                      chr_desc(*p, cb));
}

static void add_range(struct pctx *c, int lo, int hi, int step)
{
    int size = c->f.max - c->f.min + 1;
    int span = (hi - lo + size) % size;
    for (int k = 0; k <= span; k += step) {
        int b = (lo - c->f.min + k) % size;
        c->bits[b >> 6] |= 1ULL << (b & 63);
    }
}

/* dow_internal: a user's day-of-week number -> 0 = Sunday .. 6. */
static int dow_internal(const struct pctx *c, int v)
{
    return c->unix_form ? v % 7 : v - 1;
}

/* parse_item: one element of a comma list, [p, end). */
static int parse_item(struct pctx *c, const char *p, const char *end, int whole_field)
{
    char cb[24];
    int pos = (int)(p - c->text), lo, hi, step = 1, rc;
    cron_expr *e = c->e;

    if (p == end)
        return perr(c, pos, "%s: empty list item", c->f.name);
    if (*p == '?' && end - p == 1) {
        if (c->fi != F_DOM && c->fi != F_DOW)
            return perr(c, pos, "%s: '?' is only allowed in day-of-month or day-of-week",
                        c->f.name);
        if (c->unix_form)
            return perr(c, pos, "%s: '?' needs the 6/7-field (Quartz) form; use '*'", c->f.name);
        if (!whole_field)
            return perr(c, pos, "%s: '?' cannot be part of a list", c->f.name);
        c->any = 1;
        return 0;
    }
    if (c->fi == F_DOM && up(*p) == 'L') {
        if (c->unix_form)
            return perr(c, pos, "%s: 'L' needs the 6/7-field (Quartz) form", c->f.name);
        e->dom_special = 1;
        p++;
        if (p == end) {
            e->dom_last |= 1;
            return 0;
        }
        if (up(*p) == 'W' && p + 1 == end) {
            e->dom_lw = 1;
            return 0;
        }
        if (*p == '-') {
            const char *q = ++p;
            long n = 0;
            while (p < end && *p >= '0' && *p <= '9' && n < 1000)
                n = n * 10 + (*p++ - '0');
            if (q == p || p != end || n < 1 || n > 30)
                return perr(c, (int)(q - c->text), "%s: 'L-n' needs n between %d and %d", c->f.name,
                            1, 30);
            e->dom_last |= 1u << n;
            return 0;
        }
        return perr(c, (int)(p - c->text), "%s: 'L' may only be followed by 'W' or '-n'",
                    c->f.name);
    }
    if (c->fi == F_DOW && up(*p) == 'L' && end - p == 1) {
        if (c->unix_form)
            return perr(c, pos, "%s: 'L' needs the 6/7-field (Quartz) form", c->f.name);
        add_range(c, 7, 7, 1); /* Quartz: "L" alone in day-of-week is Saturday */
        return 0;
    }
    if (*p == '*') {
        lo = c->f.min, hi = c->f.max;
        p++;
        if (p < end && *p != '/')
            return sc_err_set(c->err, EINVAL, c->f.name, (int)(p - c->text),
                              "%s: unexpected %s after '*'", c->f.name, chr_desc(*p, cb));
    } else {
        if ((rc = parse_value(c, &p, end, &lo)) < 0)
            return rc;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            if ((rc = parse_value(c, &p, end, &hi)) < 0)
                return rc;
            if (c->fi == F_YEAR && hi < lo)
                return perr(c, pos, "%s: range %d-%d ends before it starts", c->f.name, lo, hi);
        } else if (p < end && *p == '/') {
            hi = c->f.max; /* "a/n": from a to the end of the range */
        } else if (p < end && c->fi == F_DOM && up(*p) == 'W') {
            if (c->unix_form)
                return perr(c, (int)(p - c->text), "%s: 'W' needs the 6/7-field (Quartz) form",
                            c->f.name);
            if (p + 1 != end)
                return sc_err_set(c->err, EINVAL, c->f.name, (int)(p + 1 - c->text),
                                  "%s: unexpected %s after 'W'", c->f.name, chr_desc(p[1], cb));
            e->dom_special = 1;
            e->dom_w |= 1u << lo;
            return 0;
        } else if (p < end && c->fi == F_DOW && (up(*p) == 'L' || *p == '#')) {
            if (c->unix_form)
                return sc_err_set(c->err, EINVAL, c->f.name, (int)(p - c->text),
                                  "%s: '%c' needs the 6/7-field (Quartz) form", c->f.name, *p);
            int w = dow_internal(c, lo);
            e->dow_special = 1;
            if (up(*p) == 'L') {
                if (p + 1 != end)
                    return sc_err_set(c->err, EINVAL, c->f.name, (int)(p + 1 - c->text),
                                      "%s: unexpected %s after 'L'", c->f.name, chr_desc(p[1], cb));
                e->dow_last |= (uint8_t)(1u << w);
                return 0;
            }
            const char *q = ++p;
            if (!(p + 1 == end && *p >= '1' && *p <= '5'))
                return perr(c, (int)(q - c->text), "%s: '#k' needs k between %d and %d", c->f.name,
                            1, 5);
            e->dow_nth[w] |= (uint8_t)(1u << (*p - '0'));
            return 0;
        }
    }
    if (p < end && *p == '/') {
        const char *q = ++p;
        long n = 0;
        int size = c->f.max - c->f.min + 1;
        while (p < end && *p >= '0' && *p <= '9' && n < 100000)
            n = n * 10 + (*p++ - '0');
        if (q == p || n < 1 || n > size)
            return perr(c, (int)(q - c->text), "%s: step must be between %d and %d", c->f.name, 1,
                        size);
        step = (int)n;
    }
    if (p != end)
        return sc_err_set(c->err, EINVAL, c->f.name, (int)(p - c->text), "%s: unexpected %s",
                          c->f.name, chr_desc(*p, cb));
    add_range(c, lo, hi, step);
    return 0;
}

/* parse_field: a whole field [p, end) into c->bits / the expression's specials. */
static int parse_field(struct pctx *c, int fi, const char *p, const char *end)
{
    static const struct fdef defs[F_COUNT] = {
        {"second", 0, 59},
        {"minute", 0, 59},
        {"hour", 0, 23},
        {"day-of-month", 1, 31},
        {"month", 1, 12},
        {"day-of-week", 1, 7},
        {"year", CRON_YEAR_MIN, CRON_YEAR_MAX},
    };
    c->fi = fi;
    c->f = defs[fi];
    if (fi == F_DOW && c->unix_form)
        c->f.min = 0;
    memset(c->bits, 0, sizeof c->bits);
    c->any = 0;
    int whole = memchr(p, ',', (size_t)(end - p)) == NULL;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        int rc = parse_item(c, p, ie, whole);
        if (rc < 0)
            return rc;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static const char *const macros[][2] = {
    {"@yearly", "0 0 0 1 1 ?"},   {"@annually", "0 0 0 1 1 ?"}, {"@monthly", "0 0 0 1 * ?"},
    {"@weekly", "0 0 0 ? * SUN"}, {"@daily", "0 0 0 * * ?"},    {"@midnight", "0 0 0 * * ?"},
    {"@hourly", "0 0 * * * ?"},
};

static int parse_fields(const char *text, cron_expr *e, struct sc_err *err);

static int parse_macro(const char *text, const char *p, cron_expr *e, struct sc_err *err)
{
    const char *w = p;
    int pos = (int)(p - text);
    while (*p && !is_sp(*p))
        p++;
    size_t n = (size_t)(p - w);
    while (is_sp(*p))
        p++;
    if (n == 6 && strncasecmp(w, "@every", 6) == 0) {
        const char *q = p;
        long long v = 0;
        while (*p >= '0' && *p <= '9' && v < 100000000)
            v = v * 10 + (*p++ - '0');
        int unit = up(*p) == 'S' ? 1 : up(*p) == 'M' ? 60 : up(*p) == 'H' ? 3600 : 0;
        if (q == p || !unit)
            return sc_err_set(err, EINVAL, "expression", (int)(p - text),
                              "@every needs a period like 5s, 2m or 1h");
        p++;
        while (is_sp(*p))
            p++;
        if (*p)
            return sc_err_set(err, EINVAL, "expression", (int)(p - text),
                              "unexpected text after the @every period");
        if (v < 1 || v * unit > EVERY_MAX)
            return sc_err_set(err, EINVAL, "expression", (int)(q - text),
                              "@every period must be between 1s and 8784h");
        e->every = v * unit;
        return 0;
    }
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (strlen(macros[i][0]) == n && strncasecmp(w, macros[i][0], n) == 0) {
            if (*p)
                return sc_err_set(err, EINVAL, "expression", (int)(p - text),
                                  "unexpected text after %s", macros[i][0]);
            return parse_fields(macros[i][1], e, err);
        }
    }
    return sc_err_set(err, EINVAL, "expression", pos,
                      "unknown macro (expected @yearly, @annually, @monthly, @weekly, @daily, "
                      "@midnight, @hourly or @every)");
}

static int parse_fields(const char *text, cron_expr *e, struct sc_err *err)
{
    const char *fs[8], *fe[8];
    int nf = 0, rc;
    const char *p = text;
    struct pctx c = {.text = text, .e = e, .err = err, .fi = F_COUNT};

    for (;;) {
        while (is_sp(*p))
            p++;
        if (!*p)
            break;
        if (nf == 7)
            return sc_err_set(err, EINVAL, "expression", (int)(p - text),
                              "too many fields: expected 5, 6 or 7");
        fs[nf] = p;
        while (*p && !is_sp(*p))
            p++;
        fe[nf++] = p;
    }
    if (nf == 0)
        return sc_err_set(err, EINVAL, "expression", 0, "empty expression");
    if (fs[0][0] == '@')
        return parse_macro(text, fs[0], e, err);
    if (nf < 5)
        return sc_err_set(err, EINVAL, "expression", (int)(p - text),
                          "expected 5, 6 or 7 fields, got %d", nf);
    /* Field i of the text -> F_*; 5-field form has no seconds and no year. */
    static const int quartz[7] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR};
    static const int unixf[5] = {F_MIN, F_HOUR, F_DOM, F_MON, F_DOW};
    c.unix_form = nf == 5;
    const int *map = c.unix_form ? unixf : quartz;
    int dom_any = 0, dow_any = 0, dom_star = 0, dow_star = 0, dow_i = 0;
    e->sec = 1; /* 5-field: second 0 */
    memset(e->year, 0xff, sizeof e->year);
    e->year[3] &= (1ULL << (CRON_YEAR_MAX - CRON_YEAR_MIN + 1 - 192)) - 1;
    for (int i = 0; i < nf; i++) {
        if ((rc = parse_field(&c, map[i], fs[i], fe[i])) < 0)
            return rc;
        switch (map[i]) {
        case F_SEC:
            e->sec = c.bits[0];
            break;
        case F_MIN:
            e->min = c.bits[0];
            break;
        case F_HOUR:
            e->hour = (uint32_t)c.bits[0];
            break;
        case F_DOM:
            e->dom = c.any ? 0xfffffffeu : (uint32_t)(c.bits[0] << 1);
            dom_any = c.any;
            dom_star = c.unix_form ? fs[i][0] == '*' : fe[i] - fs[i] == 1 && fs[i][0] == '*';
            break;
        case F_MON:
            e->mon = (uint16_t)(c.bits[0] << 1);
            break;
        case F_DOW:
            if (c.any)
                e->dow = 0x7f;
            else if (c.unix_form)
                e->dow = (uint8_t)((c.bits[0] & 0x7f) | ((c.bits[0] >> 7) & 1));
            else
                e->dow = (uint8_t)(c.bits[0] & 0x7f);
            dow_any = c.any, dow_i = i;
            dow_star = c.unix_form ? fs[i][0] == '*' : fe[i] - fs[i] == 1 && fs[i][0] == '*';
            break;
        case F_YEAR:
            memcpy(e->year, c.bits, sizeof e->year);
            break;
        }
    }
    if (!c.unix_form) {
        if (dom_any && dow_any)
            return sc_err_set(err, EINVAL, "day-of-week", (int)(fs[dow_i] - text),
                              "'?' may be used in only one of day-of-month and day-of-week");
        if (!dom_any && !dow_any && !dom_star && !dow_star)
            return sc_err_set(err, EINVAL, "day-of-week", (int)(fs[dow_i] - text),
                              "day-of-month and day-of-week cannot both be restricted; "
                              "use '?' in one of them");
        /* "*" beside a restriction means the restriction alone; "* *" means every day. */
        if (dom_star && !dow_star)
            e->dom = 0xfffffffeu;
        if (dow_star)
            e->dow = 0x7f;
    } else {
        e->day_or = !dom_star && !dow_star;
    }
    e->weekday_only = e->mon == 0x1ffe && e->dom == 0xfffffffeu && !e->dom_special &&
                      !e->dow_special && !e->day_or && e->year[0] == ~0ULL && e->year[1] == ~0ULL &&
                      e->year[2] == ~0ULL &&
                      e->year[3] == (1ULL << (CRON_YEAR_MAX - CRON_YEAR_MIN + 1 - 192)) - 1;
    for (int w = 0; w < 7; w++) {
        e->dowpat[w] = 0;
        for (int d = 1; d <= 31; d++)
            if ((e->dow >> ((w + d - 1) % 7)) & 1)
                e->dowpat[w] |= 1u << d;
    }
    return 0;
}

int cron_parse(const char *text, cron_expr **out, struct sc_err *err)
{
    cron_expr *e;
    int rc;
    *out = NULL;
    if (!text)
        return sc_err_set(err, EINVAL, "expression", 0, "empty expression");
    size_t len = strnlen(text, TEXT_MAX + 1);
    if (len > TEXT_MAX)
        return sc_err_set(err, EINVAL, "expression", TEXT_MAX, "expression longer than %d bytes",
                          TEXT_MAX);
    e = calloc(1, sizeof *e);
    if (!e)
        return sc_err_set(err, ENOMEM, "expression", -1, "out of memory");
    if ((rc = parse_fields(text, e, err)) < 0)
        goto err;
    if (!e->every && next_civil(e, 0) < 0) {
        rc = sc_err_set(err, EINVAL, "expression", 0,
                        "expression never fires (no matching date between %d and %d)",
                        CRON_YEAR_MIN, CRON_YEAR_MAX);
        goto err;
    }
    *out = e;
    return 0;
err:
    free(e);
    return rc;
}

void cron_free(cron_expr *e)
{
    free(e);
}
