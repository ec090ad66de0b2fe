/* tests/unit/test_tz.c: the TZif reader and the calendar helpers.
 *
 * Offsets around known transitions (values from Python's zoneinfo, an independent
 * reader), every offset change 1970-2199 of eight zones from tests/data/tz_vectors.txt
 * (tests/data/gen_tz_vectors.py), local->UTC conversion in gaps and overlaps, the
 * POSIX footer on its own (a synthetic TZif file with no transitions), v1-only
 * files, $TZDIR, and names that must be refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/tz.h"

static tz_zone *load(const char *name)
{
    struct sc_err err;
    tz_zone *z = tz_load(name, &err);
    if (!z)
        fail_msg("tz_load(%s): %s", name, err.msg);
    return z;
}

static void test_known_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *zone;
        int64_t utc;
        int off;
    } cases[] = {
        {"Europe/Berlin", 1616893199LL, 3600},        /* 2021-03-28 00:59:59 UTC */
        {"Europe/Berlin", 1616893200LL, 7200},        /* 2021-03-28 01:00:00 UTC */
        {"Europe/Berlin", 1635641999LL, 7200},        /* 2021-10-31 00:59:59 UTC */
        {"Europe/Berlin", 1635642000LL, 3600},        /* 2021-10-31 01:00:00 UTC */
        {"America/New_York", 1615705199LL, -18000},   /* 2021-03-14 06:59:59 UTC */
        {"America/New_York", 1615705200LL, -14400},   /* 2021-03-14 07:00:00 UTC */
        {"America/New_York", 1636264799LL, -14400},   /* 2021-11-07 05:59:59 UTC */
        {"America/New_York", 1636264800LL, -18000},   /* 2021-11-07 06:00:00 UTC */
        {"Australia/Lord_Howe", 1617461999LL, 39600}, /* 2021-04-03 14:59:59 UTC */
        {"Australia/Lord_Howe", 1617462000LL, 37800}, /* 2021-04-03 15:00:00 UTC */
        {"Australia/Lord_Howe", 1633188599LL, 37800}, /* 2021-10-02 15:29:59 UTC */
        {"Australia/Lord_Howe", 1633188600LL, 39600}, /* 2021-10-02 15:30:00 UTC */
        {"Pacific/Chatham", 1617458399LL, 49500},     /* 2021-04-03 13:59:59 UTC */
        {"Pacific/Chatham", 1617458400LL, 45900},     /* 2021-04-03 14:00:00 UTC */
        {"Pacific/Apia", 1325239199LL, -36000},       /* 2011-12-30 09:59:59 UTC */
        {"Pacific/Apia", 1325239200LL, 50400},        /* 2011-12-30 10:00:00 UTC */
        {"Pacific/Apia", 1622505600LL, 46800},        /* 2021-06-01 00:00:00 UTC */
        {"Asia/Shanghai", 1504051200LL, 28800},       /* 2017-08-30 00:00:00 UTC */
        {"Asia/Shanghai", 583718400LL, 32400},        /* 1988-07-01 00:00:00 UTC */
        {"UTC", 1622505600LL, 0},                     /* 2021-06-01 00:00:00 UTC */
        {"Europe/Berlin", 5695963200LL, 7200},        /* 2150-07-01 12:00:00 UTC */
        {"Europe/Berlin", 5680281600LL, 3600},        /* 2150-01-01 00:00:00 UTC */
        {"Europe/Berlin", 10429430400LL, 7200},       /* 2300-07-01: the rule, on the fly */
        {"Europe/Berlin", 10442649600LL, 3600},       /* 2300-12-01 */
        {"America/New_York", 8851593600LL, -14400},   /* 2250-07-01 00:00:00 UTC */
        {"America/New_York", 8837164800LL, -18000},   /* 2250-01-15 00:00:00 UTC */
        {"Australia/Lord_Howe", 6942585600LL, 39600}, /* 2190-01-01 00:00:00 UTC */
        {"Australia/Lord_Howe", 6958224000LL, 37800}, /* 2190-07-01 00:00:00 UTC */
        {"Europe/Berlin", -315619200LL, 3600},        /* 1960-01-01 00:00:00 UTC */
        {"America/Sao_Paulo", 1609459200LL, -10800},  /* 2021-01-01 00:00:00 UTC */
        {"America/Sao_Paulo", 946684800LL, -7200},    /* 2000-01-01 00:00:00 UTC */
        {"Europe/London", 44582400LL, 3600},          /* 1971-06-01 00:00:00 UTC */
        {"Africa/Casablanca", 1898553600LL, 3600},    /* 2030-03-01 00:00:00 UTC */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tz_zone *z = load(cases[i].zone);
        if (tz_offset(z, cases[i].utc) != cases[i].off)
            fail_msg("%s at %lld: want %d, got %d", cases[i].zone, (long long)cases[i].utc,
                     cases[i].off, tz_offset(z, cases[i].utc));
        assert_string_equal(tz_name(z), cases[i].zone);
        tz_free(z);
    }
}

static void test_all_transitions_table(void **state)
{
    (void)state;
    const char *root = getenv("SC_ROOT");
    char path[512], line[256], cur[64] = "";
    snprintf(path, sizeof path, "%s%stests/data/tz_vectors.txt", root ? root : "", root ? "/" : "");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    tz_zone *z = NULL;
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        long long utc;
        int off;
        if (line[0] == '#')
            continue;
        assert_int_equal(sscanf(line, "%63s %lld %d", name, &utc, &off), 3);
        if (strcmp(name, cur) != 0) {
            tz_free(z);
            z = load(name);
            snprintf(cur, sizeof cur, "%s", name);
        }
        n++;
        if (tz_offset(z, utc) != off && bad++ < 10)
            fprintf(stderr, "%s at %lld: want %d, got %d\n", name, utc, off, tz_offset(z, utc));
    }
    tz_free(z);
    fclose(f);
    fprintf(stderr, "tz vectors: %d offsets checked, %d wrong\n", n, bad);
    assert_true(n > 1000);
    assert_int_equal(bad, 0);
}

static void test_period_bounds(void **state)
{
    (void)state;
    tz_zone *z = load("Europe/Berlin");
    struct tz_period p;
    tz_period(z, 1616893200LL + 100, &p);
    assert_int_equal(p.start, 1616893200LL);
    assert_int_equal(p.end, 1635642000LL);
    assert_int_equal(p.off, 7200);
    assert_int_equal(p.prev_off, 3600);
    tz_free(z);
    z = load("UTC");
    tz_period(z, 12345, &p);
    assert_true(p.start == INT64_MIN && p.end == INT64_MAX && p.off == 0);
    tz_free(z);
}

static void test_from_local(void **state)
{
    (void)state;
    tz_zone *z = load("Europe/Berlin");
    int64_t civil, utc;
    /* 02:30 on 2021-03-28 does not exist: the jump happens at 01:00 UTC. */
    assert_int_equal(tz_parse_civil("2021-03-28 02:30:00", &civil), 0);
    assert_int_equal(tz_from_local(z, civil, &utc), -ENOENT);
    assert_int_equal(utc, 1616893200LL);
    /* 02:30 on 2021-10-31 happens twice; the first is 00:30 UTC. */
    assert_int_equal(tz_parse_civil("2021-10-31 02:30:00", &civil), 0);
    assert_int_equal(tz_from_local(z, civil, &utc), 1);
    assert_int_equal(utc, 1635640200LL);
    assert_int_equal(tz_parse_civil("2021-07-01T12:00:00", &civil), 0);
    assert_int_equal(tz_from_local(z, civil, &utc), 0);
    assert_int_equal(utc, 1625133600LL);
    tz_free(z);
    /* Apia skipped the whole of 2011-12-30. */
    z = load("Pacific/Apia");
    assert_int_equal(tz_parse_civil("2011-12-30 12:00:00", &civil), 0);
    assert_int_equal(tz_from_local(z, civil, &utc), -ENOENT);
    assert_int_equal(utc, 1325239200LL);
    tz_free(z);
}

static void test_calendar(void **state)
{
    (void)state;
    int64_t y, c;
    int m, d;
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tz_days_from_civil(1969, 12, 31), -1);
    for (int64_t days = -800000; days < 800000; days += 997) {
        tz_civil_from_days(days, &y, &m, &d);
        assert_int_equal(tz_days_from_civil(y, m, d), days);
    }
    /* Every day of the range cron searches, and across the fast path's edges. */
    int py = 1969, pm = 12, pd = 30; /* the day before, to check days advance one by one */
    for (int64_t days = -1; days < 90000; days++) {
        tz_civil_from_days(days, &y, &m, &d);
        assert_true(d >= 1 && d <= tz_month_days(y, m));
        assert_int_equal(tz_days_from_civil(y, m, d), days);
        if (pd < tz_month_days(py, pm))
            assert_true(y == py && m == pm && d == pd + 1);
        else
            assert_true(d == 1 && (m == pm + 1 || (pm == 12 && m == 1 && y == py + 1)));
        py = (int)y, pm = m, pd = d;
    }
    static const int64_t edges[] = {-719469, -719468, -719467, 99999999, 100000000, 100000001};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        tz_civil_from_days(edges[i], &y, &m, &d);
        assert_int_equal(tz_days_from_civil(y, m, d), edges[i]);
    }
    tz_civil_from_days(-719468, &y, &m, &d);
    assert_true(y == 0 && m == 3 && d == 1);
    assert_int_equal(tz_weekday(0), 4); /* Thursday */
    assert_int_equal(tz_weekday(-1), 3);
    assert_int_equal(tz_month_days(2024, 2), 29);
    assert_int_equal(tz_month_days(2100, 2), 28);
    assert_int_equal(tz_month_days(2000, 2), 29);
    assert_int_equal(tz_parse_civil("2023-02-29 00:00:00", &c), -EINVAL);
    assert_int_equal(tz_parse_civil("2024-02-29 24:00:00", &c), -EINVAL);
    assert_int_equal(tz_parse_civil("2024-02-29 00:00:00x", &c), -EINVAL);
    assert_int_equal(tz_parse_civil("2024-02-29 23:59:59", &c), 0);
    char buf[40];
    assert_string_equal(tz_format_civil(c, buf, sizeof buf), "2024-02-29 23:59:59");
    assert_string_equal(tz_format_civil(-1, buf, sizeof buf), "1969-12-31 23:59:59");
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *bad[] = {"",
                                "Nowhere/City",
                                "../etc/passwd",
                                "/etc/localtime",
                                "Europe/../../etc/passwd",
                                "Europe/Berlin\n",
                                "Asia"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sc_err err;
        sc_err_clear(&err);
        assert_null(tz_load(bad[i], &err));
        assert_string_equal(err.field, "timezone");
        assert_true(err.msg[0] != '\0');
    }
}

/* ---- synthetic TZif files under a private $TZDIR ---- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* write_tzif: a file with no transitions, one type (utoff) and the given footer
 * (version '2'), or a v1 file (footer NULL, version 0). */
static void write_tzif(const char *path, int utoff, const char *footer)
{
    unsigned char buf[256];
    size_t n = 0;
    for (int pass = 0; pass < (footer ? 2 : 1); pass++) {
        memset(buf + n, 0, 44);
        memcpy(buf + n, "TZif", 4);
        buf[n + 4] = footer ? '2' : 0;
        put32(buf + n + 36, 1); /* typecnt */
        put32(buf + n + 40, 4); /* charcnt */
        n += 44;
        put32(buf + n, (uint32_t)utoff); /* ttinfo */
        buf[n + 4] = 0, buf[n + 5] = 0;
        n += 6;
        memcpy(buf + n, "XXX", 4);
        n += 4;
    }
    if (footer)
        n += (size_t)snprintf((char *)buf + n, sizeof buf - n, "\n%s\n", footer);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static void test_footer_rule_and_tzdir(void **state)
{
    (void)state;
    char dir[] = "/tmp/sc-tz-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/My", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/My/Rule", dir);
    write_tzif(path, -18000, "EST5EDT,M3.2.0,M11.1.0");
    snprintf(path, sizeof path, "%s/My/Old", dir);
    write_tzif(path, 19800, NULL);
    snprintf(path, sizeof path, "%s/My/Junk", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a zone file", f);
    fclose(f);

    assert_int_equal(setenv("TZDIR", dir, 1), 0);
    tz_zone *z = load("My/Rule");
    /* Same rule as America/New_York since 2007: compare over a few years. */
    unsetenv("TZDIR");
    tz_zone *ny = load("America/New_York");
    for (int64_t t = 1262304000LL; t < 1420070400LL; t += 3571)
        if (tz_offset(z, t) != tz_offset(ny, t))
            fail_msg("at %lld: rule %d, New York %d", (long long)t, tz_offset(z, t),
                     tz_offset(ny, t));
    assert_int_equal(tz_offset(z, 1615705199LL), -18000);
    assert_int_equal(tz_offset(z, 1615705200LL), -14400);
    assert_int_equal(tz_offset(z, 8851593600LL), -14400); /* 2250-07-01 */
    tz_free(z);
    tz_free(ny);

    assert_int_equal(setenv("TZDIR", dir, 1), 0);
    z = load("My/Old");
    assert_int_equal(tz_offset(z, 0), 19800);
    assert_int_equal(tz_offset(z, 5000000000LL), 19800);
    tz_free(z);
    struct sc_err err;
    assert_null(tz_load("My/Junk", &err));
    assert_non_null(strstr(err.msg, "not a valid TZif"));
    unsetenv("TZDIR");

    unlink(path);
    snprintf(path, sizeof path, "%s/My/Old", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/My/Rule", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/My", dir);
    rmdir(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_offsets),
        cmocka_unit_test(test_all_transitions_table),
        cmocka_unit_test(test_period_bounds),
        cmocka_unit_test(test_from_local),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_footer_rule_and_tzdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
