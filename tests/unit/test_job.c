/* tests/unit/test_job.c: the job model against tests/data/job_cases.txt, plus
 * defaults, the ElasticJob shard_params form and canonical round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/job.h"

/* expand: replace the placeholder DESC_5000 with 5000 characters. */
static char *expand(const char *line)
{
    const char *ph = strstr(line, "DESC_5000");
    size_t n = strlen(line);
    char *s = malloc(n + 5001);
    assert_non_null(s);
    if (!ph) {
        memcpy(s, line, n + 1);
        return s;
    }
    size_t pre = (size_t)(ph - line);
    memcpy(s, line, pre);
    memset(s + pre, 'x', 5000);
    strcpy(s + pre + 5000, ph + 9);
    return s;
}

static void check_roundtrip(const struct job *j)
{
    struct sc_err err;
    struct job *back = NULL;
    char *a = job_to_json(j);
    assert_non_null(a);
    if (job_parse(a, strlen(a), &back, &err) != 0)
        fail_msg("canonical form does not parse: %s: %s\n%s", err.field, err.msg, a);
    char *b = job_to_json(back);
    assert_string_equal(a, b);
    free(a);
    free(b);
    job_free(back);
}

static void test_table(void **state)
{
    (void)state;
    FILE *f = fopen("tests/data/job_cases.txt", "r");
    char line[16384];
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
        char *json = expand(tab + 1);
        const char *expect = line;
        struct job *j = NULL;
        struct sc_err err;
        sc_err_clear(&err);
        int rc = job_parse(json, strlen(json), &j, &err);
        cases++;
        if (strcmp(expect, "ok") == 0) {
            if (rc != 0) {
                fprintf(stderr, "line %d: expected ok, got %s: %s\n", lineno, err.field, err.msg);
                bad++;
            } else {
                check_roundtrip(j);
            }
        } else {
            char field[128], frag[256] = "";
            const char *colon = strchr(expect, ':');
            snprintf(field, sizeof field, "%.*s",
                     (int)(colon ? colon - expect : (long)strlen(expect)), expect);
            if (colon)
                snprintf(frag, sizeof frag, "%s", colon + 1);
            const char *want_field = strcmp(field, "-") == 0 ? "" : field;
            if (rc == 0) {
                fprintf(stderr, "line %d: expected error on %s, got ok\n", lineno, field);
                bad++;
            } else if (strcmp(err.field, want_field) != 0 || !strstr(err.msg, frag)) {
                fprintf(stderr, "line %d: expected %s:%s, got %s:%s\n", lineno, want_field, frag,
                        err.field, err.msg);
                bad++;
            }
            assert_null(j);
        }
        job_free(j);
        free(json);
    }
    fclose(f);
    assert_true(cases >= 40);
    assert_int_equal(bad, 0);
}

static struct job *parse_ok(const char *json)
{
    struct job *j = NULL;
    struct sc_err err;
    if (job_parse(json, strlen(json), &j, &err) != 0)
        fail_msg("%s: %s", err.field, err.msg);
    return j;
}

static void test_defaults(void **state)
{
    (void)state;
    struct job *j = parse_ok("{\"name\":\"d\",\"cron\":\"@daily\",\"command\":\"true\"}");
    assert_string_equal(j->timezone, "UTC");
    assert_int_equal(j->shards, 1);
    assert_null(j->shard_params[0]);
    assert_int_equal(j->type, JOB_SHELL);
    assert_string_equal(j->strategy, "average");
    assert_true(j->failover);
    assert_int_equal(j->misfire, JOB_MISFIRE_ONCE);
    assert_int_equal(j->concurrency, JOB_CONC_FORBID);
    assert_int_equal(j->timeout_s, 0);
    assert_int_equal(j->retries, 0);
    assert_int_equal(j->retry_backoff_s, 10);
    assert_false(j->disabled);
    assert_int_equal(j->alert.on, JOB_ALERT_FAILURE | JOB_ALERT_TIMEOUT | JOB_ALERT_MISSED);
    job_free(j);
}

/* A job without cron (omitted or "") runs only when triggered; a cron that is
 * given is still checked. */
static void test_no_cron(void **state)
{
    (void)state;
    struct job *j = parse_ok("{\"name\":\"t\",\"command\":\"true\"}");
    assert_string_equal(j->cron, "");
    char *s = job_to_json(j);
    assert_non_null(strstr(s, "\"cron\":\"\""));
    free(s);
    job_free(j);
    j = parse_ok(
        "{\"name\":\"t\",\"cron\":\"\",\"command\":\"true\",\"timezone\":\"Asia/Shanghai\"}");
    assert_string_equal(j->cron, "");
    assert_string_equal(j->timezone, "Asia/Shanghai");
    job_free(j);
    struct sc_err err;
    struct job *bad = NULL;
    const char *in = "{\"name\":\"t\",\"cron\":\"0 0 0 31 6 ?\",\"command\":\"true\"}";
    assert_int_equal(job_parse(in, strlen(in), &bad, &err), -EINVAL);
    assert_string_equal(err.field, "cron");
    assert_null(bad);
}

static void test_elasticjob_shard_params(void **state)
{
    (void)state;
    struct job *j =
        parse_ok("{\"name\":\"s\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":4,"
                 "\"shard_params\":\"0=Beijing,1=Shanghai,2=Guangzhou,3=Shenzhen\"}");
    assert_string_equal(j->shard_params[0], "Beijing");
    assert_string_equal(j->shard_params[3], "Shenzhen");
    char *s = job_to_json(j);
    assert_non_null(strstr(s, "\"shard_params\":{\"0\":\"Beijing\",\"1\":\"Shanghai\""));
    free(s);
    job_free(j);

    j = parse_ok("{\"name\":\"s\",\"cron\":\"@daily\",\"command\":\"true\",\"shards\":3,"
                 "\"shard_params\":\"1=,2=a=b\"}");
    assert_null(j->shard_params[0]);
    assert_string_equal(j->shard_params[1], "");
    assert_string_equal(j->shard_params[2], "a=b");
    job_free(j);
}

static void test_java_and_alert(void **state)
{
    (void)state;
    struct job *j = parse_ok("{\"name\":\"jv\",\"cron\":\"@hourly\",\"type\":\"java\",\"java\":"
                             "{\"class\":\"com.acme.Settle\",\"jvm_opts\":\"-Xmx64m\"},"
                             "\"alert\":{\"on\":[\"missed\"],\"silence_s\":60}}");
    assert_int_equal(j->type, JOB_JAVA);
    assert_string_equal(j->java.cls, "com.acme.Settle");
    assert_string_equal(j->java.classpath, "");
    assert_string_equal(j->command, "");
    assert_int_equal(j->alert.on, JOB_ALERT_MISSED);
    assert_int_equal(j->alert.silence_s, 60);
    check_roundtrip(j);
    job_free(j);
}

/* Raw bytes cJSON takes silently: a NUL or control byte inside a string (the C
 * string would end there), and NUL as white space between tokens. */
static void test_raw_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        const char *field;
    } cases[] = {
        {"{\"name\":\"j\",\"cron\":\"@daily\",\"command\":\"echo a\0; rm -rf /\"}", 58, "command"},
        {"{\"name\":\"j\",\"cron\":\"@daily\",\"command\":\"a\tb\"}", 44, "command"},
        {"{\"name\":\"j\",\"cron\":\"@daily\",\"command\":\"true\",\0\"disabled\":true}", 62, ""},
        {"{\"name\":\"j\",\"cron\":\"@daily\",\"command\":\"true\",\"labels\":[\0\0\0]}", 60,
         "labels[0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct job *j = NULL;
        struct sc_err err;
        sc_err_clear(&err);
        if (job_parse(cases[i].text, cases[i].len, &j, &err) == 0)
            fail_msg("case %zu: accepted", i);
        if (strcmp(err.field, cases[i].field) != 0)
            fail_msg("case %zu: field \"%s\" (%s), want \"%s\"", i, err.field, err.msg,
                     cases[i].field);
        assert_null(j);
    }
}

/* A job whose stored form is over one ZooKeeper node is refused naming its size;
 * one just under is accepted. */
static void test_stored_size(void **state)
{
    (void)state;
    size_t cap = 4 << 20;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int per = 90; per <= 200; per += 110) { /* 10,000 params of ~90 and ~200 bytes */
        size_t n = (size_t)snprintf(big, cap,
                                    "{\"name\":\"j\",\"cron\":\"@daily\",\"command\":\"true\","
                                    "\"shards\":10000,\"shard_params\":{");
        for (int i = 0; i < 10000; i++)
            n += (size_t)snprintf(big + n, cap - n, "%s\"%d\":\"%0*d\"", i ? "," : "", i, per, i);
        n += (size_t)snprintf(big + n, cap - n, "}}");
        struct job *j = NULL;
        struct sc_err err;
        assert_int_equal(job_parse(big, n, &j, &err), 0);
        int rc = job_check_size(j, &err);
        if (per < 100) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -EINVAL);
            assert_non_null(strstr(err.msg, "bytes as stored"));
            assert_non_null(strstr(err.msg, "1000000"));
        }
        job_free(j);
    }
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_no_cron),        cmocka_unit_test(test_elasticjob_shard_params),
        cmocka_unit_test(test_java_and_alert), cmocka_unit_test(test_stored_size),
        cmocka_unit_test(test_raw_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
