/* tests/unit/test_fence.c: the fencing token (agent/fence.h): exact text,
 * fixed width, refusal of parts that do not fit, and the ordering the jobs
 * rely on: string order equals (fire, epoch, attempt) order, checked for
 * every pair of a grid that crosses each digit-count boundary, plus the three
 * cases docs/jobs.md promises by name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/fence.h"

#define F0 1767225600LL /* 2026-01-01 00:00:00 UTC */

static void fmt(int64_t fire, int64_t epoch, int attempt, char out[AGENT_FENCE_LEN + 1])
{
    assert_int_equal(agent_fence_format(fire, epoch, attempt, out, AGENT_FENCE_LEN + 1), 0);
}

static int sign(long long v)
{
    return (v > 0) - (v < 0);
}

static void test_exact_text(void **state)
{
    (void)state;
    static const struct {
        int64_t fire, epoch;
        int attempt;
        const char *want;
    } cases[] = {
        {F0, 12, 1, "001767225600.000000000012.0001"},
        {0, 0, 1, "000000000000.000000000000.0001"},
        {AGENT_FENCE_PART_MAX, AGENT_FENCE_PART_MAX, AGENT_FENCE_ATTEMPT_MAX,
         "999999999999.999999999999.9999"},
        {F0 + 86399, 1234567, 11, "001767311999.000001234567.0011"},
    };
    char buf[AGENT_FENCE_LEN + 1];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fmt(cases[i].fire, cases[i].epoch, cases[i].attempt, buf);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(strlen(buf), AGENT_FENCE_LEN);
        assert_int_equal(buf[12], '.');
        assert_int_equal(buf[25], '.');
    }
}

static void test_out_of_range(void **state)
{
    (void)state;
    static const struct {
        int64_t fire, epoch;
        int attempt;
    } bad[] = {
        {-1, 1, 1},
        {AGENT_FENCE_PART_MAX + 1, 1, 1},
        {F0, -1, 1},
        {F0, AGENT_FENCE_PART_MAX + 1, 1},
        {F0, 1, 0},
        {F0, 1, AGENT_FENCE_ATTEMPT_MAX + 1},
        {INT64_MAX, INT64_MAX, 1},
    };
    char buf[AGENT_FENCE_LEN + 1];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(buf, 'x', sizeof buf);
        assert_int_equal(
            agent_fence_format(bad[i].fire, bad[i].epoch, bad[i].attempt, buf, sizeof buf),
            -ERANGE);
        assert_string_equal(buf, ""); /* never a partial token */
    }
    /* A buffer too small is refused and left alone. */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(agent_fence_format(F0, 1, 1, buf, AGENT_FENCE_LEN), -EINVAL);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(agent_fence_format(F0, 1, 1, NULL, 64), -EINVAL);
}

/* The promises of docs/jobs.md, one by one. */
static void test_named_orderings(void **state)
{
    (void)state;
    char a[AGENT_FENCE_LEN + 1], b[AGENT_FENCE_LEN + 1];
    /* A later fire beats an earlier one, whatever epoch and attempt the earlier
     * one had (a stalled owner's old fire against the next fire). */
    fmt(F0 + 1, 1, 1, a);
    fmt(F0, AGENT_FENCE_PART_MAX, AGENT_FENCE_ATTEMPT_MAX, b);
    assert_true(strcmp(a, b) > 0);
    /* Same fire: the failover re-run under the newer epoch beats the stale
     * original under the older one, even its retries. */
    fmt(F0, 6, 1, a);
    fmt(F0, 5, 11, b);
    assert_true(strcmp(a, b) > 0);
    /* Epochs across a digit boundary still order (9 < 10). */
    fmt(F0, 10, 1, a);
    fmt(F0, 9, 1, b);
    assert_true(strcmp(a, b) > 0);
    /* Same fire and epoch: a retry beats the attempt before it. */
    fmt(F0, 5, 2, a);
    fmt(F0, 5, 1, b);
    assert_true(strcmp(a, b) > 0);
    fmt(F0, 5, 10, a);
    fmt(F0, 5, 9, b);
    assert_true(strcmp(a, b) > 0);
    /* The same run: the same token (a job may safely re-apply its own write). */
    fmt(F0, 5, 1, a);
    fmt(F0, 5, 1, b);
    assert_string_equal(a, b);
}

/* Every pair of the grid: strcmp agrees with the numeric tuple order. */
static void test_string_order_is_tuple_order(void **state)
{
    (void)state;
    static const int64_t parts[] = {0,
                                    1,
                                    9,
                                    10,
                                    11,
                                    99,
                                    100,
                                    999999,
                                    1000000,
                                    F0,
                                    F0 + 1,
                                    AGENT_FENCE_PART_MAX - 1,
                                    AGENT_FENCE_PART_MAX};
    static const int attempts[] = {1, 2, 9, 10, 11, 99, 100, 999, 1000, 9998, 9999};
    enum { NP = sizeof parts / sizeof *parts, NA = sizeof attempts / sizeof *attempts };
    static char tok[NP * NP * NA][AGENT_FENCE_LEN + 1];
    static int64_t key[NP * NP * NA][3];
    size_t n = 0;
    for (size_t f = 0; f < NP; f++)
        for (size_t e = 0; e < NP; e++)
            for (size_t k = 0; k < NA; k++, n++) {
                fmt(parts[f], parts[e], attempts[k], tok[n]);
                key[n][0] = parts[f];
                key[n][1] = parts[e];
                key[n][2] = attempts[k];
            }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int want = key[i][0] != key[j][0]   ? sign(key[i][0] - key[j][0])
                       : key[i][1] != key[j][1] ? sign(key[i][1] - key[j][1])
                                                : sign(key[i][2] - key[j][2]);
            if (sign(strcmp(tok[i], tok[j])) != want)
                fail_msg("%s vs %s: string order %d, tuple order %d", tok[i], tok[j],
                         sign(strcmp(tok[i], tok[j])), want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_named_orderings),
        cmocka_unit_test(test_string_order_is_tuple_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
