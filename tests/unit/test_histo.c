/* tests/unit/test_histo.c: core/histo.h, the /metrics histograms: an upper
 * bound is inclusive (Prometheus' "le"), buckets are written cumulative with
 * the +Inf bucket equal to _count, negative and NaN observations count as 0,
 * bad bounds are refused, and a short buffer gets the length the text needs
 * (as snprintf) with a prefix of the same text. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/histo.h"

static const double le3[] = {0.1, 1, 2.5};

static void test_exact_text(void **state)
{
    (void)state;
    struct histo h;
    assert_int_equal(histo_init(&h, le3, 3), 0);
    const double obs[] = {0.05, 0.1, 0.5, 1, 1.5, 7, -3, NAN};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        histo_observe(&h, obs[i]);
    char buf[1024];
    int n = histo_write(&h, "x_seconds", "What x took.", buf, sizeof buf);
    const char *want =
        "# HELP x_seconds What x took.\n"
        "# TYPE x_seconds histogram\n"
        "x_seconds_bucket{le=\"0.1\"} 4\n" /* 0.05, 0.1 (inclusive), -3 and NaN as 0 */
        "x_seconds_bucket{le=\"1\"} 6\n"
        "x_seconds_bucket{le=\"2.5\"} 7\n"
        "x_seconds_bucket{le=\"+Inf\"} 8\n"
        "x_seconds_sum 10.150000\n"
        "x_seconds_count 8\n";
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

static void test_empty(void **state)
{
    (void)state;
    struct histo h;
    assert_int_equal(histo_init(&h, le3, 1), 0);
    char buf[256];
    histo_write(&h, "e", "Empty.", buf, sizeof buf);
    assert_non_null(strstr(buf, "e_bucket{le=\"0.1\"} 0\ne_bucket{le=\"+Inf\"} 0\ne_sum 0.000000\n"
                                "e_count 0\n"));
}

static void test_bad_bounds(void **state)
{
    (void)state;
    struct histo h;
    static const double down[] = {1, 0.5}, same[] = {1, 1};
    double many[HISTO_MAX_BUCKETS + 1];
    for (int i = 0; i <= HISTO_MAX_BUCKETS; i++)
        many[i] = i + 1;
    assert_int_equal(histo_init(&h, down, 2), -EINVAL);
    assert_int_equal(histo_init(&h, same, 2), -EINVAL);
    assert_int_equal(histo_init(&h, le3, 0), -EINVAL);
    assert_int_equal(histo_init(&h, many, HISTO_MAX_BUCKETS + 1), -EINVAL);
    assert_int_equal(histo_init(&h, many, HISTO_MAX_BUCKETS), 0);
    /* a refused histogram ignores observations instead of reading bounds */
    assert_int_equal(histo_init(&h, down, 2), -EINVAL);
    histo_observe(&h, 1);
    assert_int_equal(h.count, 0);
}

static void test_short_buffer(void **state)
{
    (void)state;
    struct histo h;
    assert_int_equal(histo_init(&h, le3, 3), 0);
    histo_observe(&h, 2);
    char full[1024], part[40];
    int n = histo_write(&h, "s", "Short.", full, sizeof full);
    for (size_t size = 0; size <= sizeof part; size++) {
        memset(part, 'Z', sizeof part);
        assert_int_equal(histo_write(&h, "s", "Short.", part, size), n);
        if (size > 0) {
            assert_int_equal(strlen(part), size - 1);
            assert_memory_equal(part, full, size - 1);
        }
    }
    assert_int_equal(histo_write(&h, "s", "Short.", NULL, 0), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bad_bounds),
        cmocka_unit_test(test_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
