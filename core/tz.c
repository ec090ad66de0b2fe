/* core/tz.c: TZif reader, POSIX TZ footer rules, offset lookups and calendar math.
 *
 * Owns struct tz_zone: a sorted array of transitions (instant, offset from then on)
 * built from the file's 64-bit data plus the footer rule expanded through
 * TZ_EXPAND_YEAR, and the parsed footer rule for instants after that. A zone never
 * changes after tz_load returns, which is what makes sharing it between threads safe. */
#include "core/tz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"

#define TZ_MAX_FILE (1 << 20)
#define TZ_NAME_MAX 255

/* A POSIX TZ rule date: Jn, n or Mm.w.d, plus the wall time of the change. */
struct tz_rdate {
    char kind; /* 'J', 'N' (zero-based day) or 'M' */
    int a, b, c;
    int secs; /* local time of day of the change, may be negative or > 24h */
};

struct tz_rule {
    int std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    struct tz_rdate start, end;
};

struct tz_zone {
    char name[TZ_NAME_MAX + 1];
    int n;       /* transitions */
    int64_t *at; /* at[i]: instant of transition i (strictly increasing) */
    int *off;    /* off[i]: offset from at[i] until at[i + 1] */
    int off0;    /* offset before at[0] (or always, when n == 0) */
    int has_rule;
    struct tz_rule rule; /* applies after at[n - 1] when has_rule */
    /* bucket[b]: the last transition at or before instant b << TZ_BUCKET_SHIFT (-1:
     * none), for b < nbuckets (1970 through TZ_EXPAND_YEAR): one lookup and a step or
     * two instead of a binary search on the cron hot path. */
    int nbuckets;
    int *bucket;
};

#define TZ_BUCKET_SHIFT 23 /* 97 days: at most a few transitions per bucket */

static int build_buckets(tz_zone *z);

/* ============================== calendar ============================== */

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    if (z >= -719468 && z < 100000000) {
        /* Neri & Schneider, "Euclidean affine functions and their application to
         * calendar algorithms" (2022): 32-bit, no branches on the era; the hot path of
         * every cron search. n counts days since 0000-03-01. */
        uint32_t n1 = 4 * (uint32_t)(z + 719468) + 3;
        uint32_t c = n1 / 146097, nc = n1 % 146097 / 4;
        uint64_t p2 = 2939745ULL * (4 * nc + 3);
        uint32_t yy = 100 * c + (uint32_t)(p2 >> 32), ny = (uint32_t)p2 / 2939745 / 4;
        uint32_t n3 = 2141 * ny + 197913, j = ny >= 306;
        *y = (int64_t)(yy + j);
        *m = (int)(j ? (n3 >> 16) - 12 : n3 >> 16);
        *d = (int)((n3 & 0xffff) / 2141 + 1);
        return;
    }
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int tz_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

int tz_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tz_month_days(int64_t y, int m)
{
    static const unsigned char md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return md[m - 1] + (m == 2 && tz_is_leap(y));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

const char *tz_format_civil(int64_t civil, char *buf, int len)
{
    int64_t days = floor_div(civil, 86400), y;
    int sod = (int)(civil - days * 86400), m, d;
    tz_civil_from_days(days, &y, &m, &d);
    snprintf(buf, (size_t)len, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)y, m, d, sod / 3600,
             sod / 60 % 60, sod % 60);
    return buf;
}

const char *tz_format_offset(int off, char *buf, int len)
{
    int a = off < 0 ? -off : off;
    if (a % 60) /* a few zones kept second offsets into the 1970s (Africa/Monrovia) */
        snprintf(buf, (size_t)len, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60,
                 a % 60);
    else
        snprintf(buf, (size_t)len, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    return buf;
}

int tz_parse_civil(const char *s, int64_t *civil)
{
    int y, mo, d, h, mi, se, n = 0;
    char sep;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &se, &n) != 7 ||
        s[n] != '\0' || (sep != ' ' && sep != 'T'))
        return -EINVAL;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > tz_month_days(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 59)
        return -EINVAL;
    *civil = tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

/* ============================== POSIX TZ rules ============================== */

/* Parses [+-]hh[:mm[:ss]] with hours up to 167 (RFC 8536 allows it for rule times). */
static const char *parse_hms(const char *p, int *out)
{
    int sign = 1, h = 0, m = 0, s = 0, nd = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    while (*p >= '0' && *p <= '9' && nd < 3)
        h = h * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || h > 167)
        return NULL;
    if (*p == ':') {
        p++;
        if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
            return NULL;
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
                return NULL;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    if (m > 59 || s > 59)
        return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_abbr(const char *p)
{
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        return *p == '>' ? p + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *parse_num(const char *p, int lo, int hi, int *out)
{
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4)
        v = v * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_rdate(const char *p, struct tz_rdate *r)
{
    if (*p == 'J') {
        r->kind = 'J';
        p = parse_num(p + 1, 1, 365, &r->a);
    } else if (*p == 'M') {
        r->kind = 'M';
        p = parse_num(p + 1, 1, 12, &r->a);
        if (!p || *p != '.' || !(p = parse_num(p + 1, 1, 5, &r->b)) || *p != '.')
            return NULL;
        p = parse_num(p + 1, 0, 6, &r->c);
    } else {
        r->kind = 'N';
        p = parse_num(p, 0, 365, &r->a);
    }
    if (!p)
        return NULL;
    r->secs = 7200;
    if (*p == '/')
        p = parse_hms(p + 1, &r->secs);
    return p;
}

/* POSIX limits a TZ string's offsets to hours 0-24 (rule times may go to 167). */
#define POSIX_OFF_MAX (24 * 3600 + 59 * 60 + 59)

/* parse_rule: "CET-1CEST,M3.5.0,M10.5.0/3". 0 or -EINVAL. */
static int parse_rule(const char *p, struct tz_rule *r)
{
    int o;
    memset(r, 0, sizeof *r);
    if (!(p = parse_abbr(p)) || !(p = parse_hms(p, &o)) || o > POSIX_OFF_MAX || o < -POSIX_OFF_MAX)
        return -EINVAL;
    r->std_off = -o;
    if (*p == '\0')
        return 0;
    if (!(p = parse_abbr(p)))
        return -EINVAL;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &o)) || o > POSIX_OFF_MAX || o < -POSIX_OFF_MAX)
            return -EINVAL;
        r->dst_off = -o;
    }
    if (*p != ',') /* POSIX leaves the default rule to the implementation; TZif always has one */
        return -EINVAL;
    if (!(p = parse_rdate(p + 1, &r->start)) || *p != ',')
        return -EINVAL;
    if (!(p = parse_rdate(p + 1, &r->end)) || *p != '\0')
        return -EINVAL;
    return 0;
}

/* rdate_local: the local (civil) time in year y at which the rule date happens. */
static int64_t rdate_local(const struct tz_rdate *r, int64_t y)
{
    int64_t days;
    if (r->kind == 'J') {
        days = tz_days_from_civil(y, 1, 1) + r->a - 1 + (tz_is_leap(y) && r->a >= 60);
    } else if (r->kind == 'N') {
        days = tz_days_from_civil(y, 1, 1) + r->a;
    } else {
        int64_t first = tz_days_from_civil(y, r->a, 1);
        int d = 1 + (r->c - tz_weekday(first) + 7) % 7 + 7 * (r->b - 1);
        if (d > tz_month_days(y, r->a))
            d -= 7;
        days = first + d - 1;
    }
    return days * 86400 + r->secs;
}

/* rule_year: the rule's two transitions of year y, in order: at[], off[] after each. */
static void rule_year(const struct tz_rule *r, int64_t y, int64_t at[2], int off[2])
{
    int64_t s = rdate_local(&r->start, y) - r->std_off; /* start is given in standard time */
    int64_t e = rdate_local(&r->end, y) - r->dst_off;   /* end is given in daylight time */
    if (s <= e) {
        at[0] = s, off[0] = r->dst_off, at[1] = e, off[1] = r->std_off;
    } else {
        at[0] = e, off[0] = r->std_off, at[1] = s, off[1] = r->dst_off;
    }
}

/* rule_period: the period holding `utc` under the rule alone (years y-1..y+1 suffice
 * because a rule changes the offset at least once a year in each direction). */
static void rule_period(const struct tz_rule *r, int64_t utc, struct tz_period *p)
{
    int64_t y, at[6];
    int m, d, off[6];
    if (!r->has_dst) {
        p->start = INT64_MIN, p->end = INT64_MAX, p->off = p->prev_off = r->std_off;
        return;
    }
    tz_civil_from_days(floor_div(utc, 86400), &y, &m, &d);
    for (int i = 0; i < 3; i++)
        rule_year(r, y - 1 + i, at + 2 * i, off + 2 * i);
    for (int i = 5; i >= 0; i--) {
        if (at[i] <= utc) {
            p->start = at[i];
            p->off = off[i];
            p->prev_off = i > 0 ? off[i - 1] : (off[i] == r->std_off ? r->dst_off : r->std_off);
            p->end = i < 5 ? at[i + 1] : INT64_MAX;
            return;
        }
    }
    p->start = INT64_MIN, p->end = at[0], p->off = p->prev_off = off[1];
}

/* ============================== TZif ============================== */

static int64_t be32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static int64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

struct tzif_hdr {
    int version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_hdr(const unsigned char *p, size_t len, struct tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -EINVAL;
    h->version = p[4] ? p[4] - '0' : 1;
    h->isutcnt = (uint32_t)be32(p + 20);
    h->isstdcnt = (uint32_t)be32(p + 24);
    h->leapcnt = (uint32_t)be32(p + 28);
    h->timecnt = (uint32_t)be32(p + 32);
    h->typecnt = (uint32_t)be32(p + 36);
    h->charcnt = (uint32_t)be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 100000 || h->leapcnt > 10000 ||
        h->charcnt > 100000 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt))
        return -EINVAL;
    return 0;
}

static size_t block_len(const struct tzif_hdr *h, int tsize)
{
    return (size_t)h->timecnt * (size_t)tsize + h->timecnt + h->typecnt * 6u + h->charcnt +
           h->leapcnt * (size_t)(tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* push: append a transition unless it changes nothing. */
static int push(tz_zone *z, int *cap, int64_t at, int off)
{
    int prev = z->n ? z->off[z->n - 1] : z->off0;
    if (z->n && at <= z->at[z->n - 1])
        return 0;
    if (off == prev)
        return 0;
    if (z->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        int64_t *na = realloc(z->at, sizeof *na * (size_t)nc);
        if (!na)
            return -ENOMEM;
        z->at = na;
        int *no = realloc(z->off, sizeof *no * (size_t)nc);
        if (!no)
            return -ENOMEM;
        z->off = no;
        *cap = nc;
    }
    z->at[z->n] = at;
    z->off[z->n] = off;
    z->n++;
    return 0;
}

/* parse_tzif: fill z from a whole TZif file. 0 or -EINVAL/-ENOMEM. */
static int parse_tzif(tz_zone *z, const unsigned char *buf, size_t len)
{
    struct tzif_hdr h;
    const unsigned char *p = buf, *end = buf + len;
    int tsize = 4, cap = 0, rc;

    if (read_hdr(p, len, &h) < 0)
        return -EINVAL;
    if (h.version >= 2) { /* skip the v1 block, use the 64-bit one */
        size_t skip = 44 + block_len(&h, 4);
        if (skip > len || read_hdr(p + skip, len - skip, &h) < 0)
            return -EINVAL;
        p += skip;
        tsize = 8;
    }
    p += 44;
    if (block_len(&h, tsize) > (size_t)(end - p))
        return -EINVAL;
    const unsigned char *times = p, *idx = p + (size_t)h.timecnt * (size_t)tsize;
    const unsigned char *types = idx + h.timecnt;
    int offs[256] = {0};
    for (uint32_t i = 0; i < h.typecnt; i++) {
        int64_t o = be32(types + 6 * i);
        if (o < -25 * 3600 || o > 26 * 3600)
            return -EINVAL;
        offs[i] = (int)o;
    }
    /* RFC 8536: times before the first transition use type 0. */
    z->off0 = offs[0];
    for (uint32_t i = 0; i < h.timecnt; i++) {
        int64_t at = tsize == 8 ? be64(times + 8 * i) : be32(times + 4 * i);
        if (idx[i] >= h.typecnt)
            return -EINVAL;
        if (z->n && at <= z->at[z->n - 1])
            return -EINVAL;
        if ((rc = push(z, &cap, at, offs[idx[i]])) < 0)
            return rc;
    }
    p += block_len(&h, tsize);

    /* Footer: "\n<POSIX TZ>\n" (v2+). */
    if (h.version >= 2 && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        char tzs[128];
        size_t n = nl ? (size_t)(nl - p - 1) : 0;
        if (nl && n > 0 && n < sizeof tzs) {
            memcpy(tzs, p + 1, n);
            tzs[n] = '\0';
            if (parse_rule(tzs, &z->rule) < 0)
                return -EINVAL;
            z->has_rule = 1;
        }
    }
    if (!z->has_rule)
        return 0;
    if (!z->rule.has_dst) { /* a fixed offset from the last transition on */
        if (z->n == 0)
            z->off0 = z->rule.std_off;
        return 0;
    }
    /* Expand the rule into explicit transitions after the last listed one. */
    int64_t y0 = 1970, y;
    int m, d;
    if (z->n) {
        tz_civil_from_days(floor_div(z->at[z->n - 1], 86400), &y, &m, &d);
        y0 = y;
    }
    for (y = y0; y <= TZ_EXPAND_YEAR; y++) {
        int64_t at[2];
        int off[2];
        rule_year(&z->rule, y, at, off);
        for (int i = 0; i < 2; i++)
            if ((rc = push(z, &cap, at[i], off[i])) < 0)
                return rc;
    }
    return 0;
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[0] == '.')
        return 0;
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '_' || *c == '-' || *c == '+' || *c == '.'))
            return 0;
        if (*c == '.' && c[1] == '.')
            return 0;
    }
    return 1;
}

tz_zone *tz_load(const char *name, struct sc_err *err)
{
    const char *dir = getenv("TZDIR");
    char path[4096];
    unsigned char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    tz_zone *z;

    if (!name || !valid_name(name)) {
        sc_err_set(err, EINVAL, "timezone", -1, "\"%s\" is not a valid IANA time zone name",
                   name ? name : "");
        return NULL;
    }
    z = calloc(1, sizeof *z);
    if (!z) {
        sc_err_set(err, ENOMEM, "timezone", -1, "out of memory");
        return NULL;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    f = fopen(path, "rb");
    if (!f) {
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
            return z; /* no database at all: UTC needs none */
        sc_err_set(err, ENOENT, "timezone", -1, "unknown time zone \"%s\"", name);
        goto err;
    }
    /* Sized by the file, not TZ_MAX_FILE: a megabyte per load was most of its cost. */
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= TZ_MAX_FILE) {
        sc_err_set(err, EINVAL, "timezone", -1, "%s is not a valid TZif file", path);
        goto err;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        sc_err_set(err, ENOMEM, "timezone", -1, "out of memory");
        goto err;
    }
    len = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (len != (size_t)st.st_size || parse_tzif(z, buf, len) < 0) {
        sc_err_set(err, EINVAL, "timezone", -1, "%s is not a valid TZif file", path);
        goto err;
    }
    if (build_buckets(z) < 0) {
        sc_err_set(err, ENOMEM, "timezone", -1, "out of memory");
        goto err;
    }
    fclose(f);
    free(buf);
    return z;
err:
    if (f)
        fclose(f);
    free(buf);
    tz_free(z);
    return NULL;
}

/* build_buckets: fill z->bucket; 0 or -ENOMEM. */
static int build_buckets(tz_zone *z)
{
    int64_t end = tz_days_from_civil(TZ_EXPAND_YEAR + 1, 1, 1) * 86400;
    int nb = (int)(end >> TZ_BUCKET_SHIFT) + 1, i = -1;
    if (z->n == 0)
        return 0;
    z->bucket = malloc(sizeof *z->bucket * (size_t)nb);
    if (!z->bucket)
        return -ENOMEM;
    for (int b = 0; b < nb; b++) {
        int64_t start = (int64_t)b << TZ_BUCKET_SHIFT;
        while (i + 1 < z->n && z->at[i + 1] <= start)
            i++;
        z->bucket[b] = i;
    }
    z->nbuckets = nb;
    return 0;
}

void tz_free(tz_zone *z)
{
    if (!z)
        return;
    free(z->bucket);
    free(z->at);
    free(z->off);
    free(z);
}

const char *tz_name(const tz_zone *z)
{
    return z->name;
}

/* ============================== lookups ============================== */

void tz_period(const tz_zone *z, int64_t utc, struct tz_period *p)
{
    int n = z->n;
    if (n == 0 || utc < z->at[0]) {
        p->start = INT64_MIN;
        p->end = n ? z->at[0] : INT64_MAX;
        p->off = p->prev_off = z->off0;
        if (n == 0 && z->has_rule && z->rule.has_dst)
            rule_period(&z->rule, utc, p);
        return;
    }
    /* Last transition <= utc: from the bucket index when in range, else bisect. */
    int lo, hi;
    if (utc >= 0 && (utc >> TZ_BUCKET_SHIFT) < z->nbuckets) {
        lo = z->bucket[utc >> TZ_BUCKET_SHIFT];
        if (lo < 0)
            lo = 0; /* utc >= at[0] here */
        while (lo + 1 < n && z->at[lo + 1] <= utc)
            lo++;
    } else {
        lo = 0, hi = n - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >> 1;
            if (z->at[mid] <= utc)
                lo = mid;
            else
                hi = mid - 1;
        }
    }
    if (lo == n - 1 && z->has_rule && z->rule.has_dst) {
        /* Past the expanded table: the rule decides, but never reaches back before it. */
        rule_period(&z->rule, utc, p);
        if (p->start <= z->at[lo]) {
            p->start = z->at[lo];
            p->prev_off = lo ? z->off[lo - 1] : z->off0;
        }
        return;
    }
    p->start = z->at[lo];
    p->end = lo + 1 < n ? z->at[lo + 1] : INT64_MAX;
    p->off = z->off[lo];
    p->prev_off = lo ? z->off[lo - 1] : z->off0;
}

int tz_offset(const tz_zone *z, int64_t utc)
{
    struct tz_period p;
    tz_period(z, utc, &p);
    return p.off;
}

int tz_from_local(const tz_zone *z, int64_t civil, int64_t *utc)
{
    /* Offsets lie within +-26 h, so every instant whose wall time could be `civil`
     * lies in [civil - 26h, civil + 26h]; walk the periods covering that window. */
    int64_t t = civil - 26 * 3600, stop = civil + 26 * 3600;
    int64_t first = INT64_MAX, gap_end = INT64_MAX;
    int hits = 0;
    while (t <= stop) {
        struct tz_period p;
        tz_period(z, t, &p);
        int64_t u = civil - p.off;
        if (u >= p.start && u < p.end) {
            if (u < first)
                first = u;
            hits++;
        } else if (p.start != INT64_MIN && p.start > civil - 26 * 3600 && civil < p.start + p.off &&
                   civil >= p.start + p.prev_off && p.start < gap_end) {
            gap_end = p.start; /* civil falls in the jump at p.start */
        }
        if (p.end == INT64_MAX)
            break;
        t = p.end;
    }
    if (hits) {
        *utc = first;
        return hits > 1 ? 1 : 0;
    }
    *utc = gap_end;
    return -ENOENT;
}
