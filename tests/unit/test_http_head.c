/* tests/unit/test_http_head.c: the strict request-head check (core/http_head.c)
 * against tests/data/http_head_cases.txt, plus every prefix of the good cases
 * (a head cut anywhere is "more", never an error or a false "complete"). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/http_head.h"

static const struct http_head_limits lim = {512, 1000, 20};

/* unescape: C escapes to bytes; returns the length. */
static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    while (*s) {
        if (*s != '\\') {
            out[n++] = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case 'r':
            out[n++] = '\r';
            s++;
            break;
        case 'n':
            out[n++] = '\n';
            s++;
            break;
        case 't':
            out[n++] = '\t';
            s++;
            break;
        case '0':
            out[n++] = '\0';
            s++;
            break;
        case '\\':
            out[n++] = '\\';
            s++;
            break;
        case 'x': {
            char hex[3] = {s[1], s[2], 0};
            out[n++] = (char)strtol(hex, NULL, 16);
            s += 3;
            break;
        }
        default:
            fail_msg("bad escape \\%c", *s);
        }
    }
    return n;
}

static void test_table(void **state)
{
    (void)state;
    FILE *f = fopen("tests/data/http_head_cases.txt", "r");
    char line[8192], buf[8192];
    int lineno = 0, cases = 0, bad = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        size_t n = unescape(tab + 1, buf);
        struct http_head h;
        int rc = http_head_check(buf, n, &lim, &h);
        cases++;
        if (strncmp(line, "ok", 2) == 0) {
            long long want = line[2] == ':' ? atoll(line + 3) : 0;
            if (rc != 1 || h.content_length != want) {
                fprintf(stderr, "line %d: want ok:%lld, got rc %d (%d %s: %s)\n", lineno, want, rc,
                        h.status, h.err.field, h.err.msg);
                bad++;
                continue;
            }
            /* every proper prefix is "more", never an error or complete */
            const char *end = strstr(buf, "\r\n\r\n");
            size_t head = (size_t)(end - buf) + 4;
            assert_int_equal(h.head_len, head);
            for (size_t k = 0; k < head; k++) {
                int prc = http_head_check(buf, k, &lim, &h);
                if (prc != 0) {
                    fprintf(stderr, "line %d: prefix of %zu bytes gave %d (%s)\n", lineno, k, prc,
                            h.err.msg);
                    bad++;
                    break;
                }
            }
        } else if (strcmp(line, "more") == 0) {
            if (rc != 0) {
                fprintf(stderr, "line %d: want more, got %d (%s)\n", lineno, rc, h.err.msg);
                bad++;
            }
        } else {
            int status = atoi(line);
            const char *field = strchr(line, ':') + 1;
            if (rc != -EINVAL || h.status != status || strcmp(h.err.field, field) != 0 ||
                !h.err.msg[0]) {
                fprintf(stderr, "line %d: want %d %s, got rc %d: %d %s: %s\n", lineno, status,
                        field, rc, h.status, h.err.field, h.err.msg);
                bad++;
            }
        }
    }
    fclose(f);
    assert_true(cases >= 55);
    assert_int_equal(bad, 0);
}

/* A long head without its end is refused once past the limit, not buffered on. */
static void test_unterminated(void **state)
{
    (void)state;
    char buf[2048];
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
    struct http_head h;
    assert_int_equal(http_head_check(buf, 400, &lim, &h), 0);
    assert_int_equal(http_head_check(buf, 513, &lim, &h), -EINVAL);
    assert_int_equal(h.status, 431);
}

/* Query strings: what evhttp_parse_query_str would decode silently wrong. */
static void test_query(void **state)
{
    (void)state;
    static const struct {
        const char *qs, *field; /* field NULL: accepted */
    } cases[] = {
        {"job=a&status=failed,timeout&limit=5", NULL},
        {"q=caf%C3%A9+x&n=", NULL},
        {"", NULL},
        {"a&b", NULL},
        {"job=%zz", NULL}, /* not an escape: taken as it is */
        {"job=%00", "job"},
        {"job=a%00b", "job"},
        {"agent=%ff", "agent"},
        {"agent=%c0%af", "agent"},
        {"job=a&job=b", "job"},
        {"job=a&j%6fb=b", "job"},
        {"%00=1", "query"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sc_err err;
        sc_err_clear(&err);
        int rc = http_query_check(cases[i].qs, &err);
        if (!cases[i].field) {
            if (rc != 0)
                fail_msg("\"%s\": refused (%s: %s)", cases[i].qs, err.field, err.msg);
        } else if (rc != -EINVAL || strcmp(err.field, cases[i].field) != 0) {
            fail_msg("\"%s\": want %s refused, got %d (%s)", cases[i].qs, cases[i].field, rc,
                     err.field);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
