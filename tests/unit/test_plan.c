/* tests/unit/test_plan.c: coordination records (snapshot, agent record) round
 * trip and reject bad input; the shape digest ignores order and sees every
 * shape change; the string map holds 100,000 keys through deletes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/strmap.h"
#include "registry/plan.h"

static void test_snapshot_roundtrip(void **state)
{
    (void)state;
    struct plan_snapshot s = {0}, back = {0};
    struct sc_err err;
    char *l1[] = {"gpu", "batch"};
    struct plan_member m[2] = {{"b2", l1, 2, 4}, {"a1", NULL, 0, 16}};
    s.epoch = 42;
    s.leader = "a1";
    memcpy(s.digest, "0123456789abcdef", 17);
    s.created_ms = 1700000000123LL;
    s.members = m;
    s.nmembers = 2;
    char *json = plan_snapshot_json(&s);
    assert_int_equal(plan_snapshot_parse(json, (int)strlen(json), &back, &err), 0);
    assert_int_equal(back.epoch, 42);
    assert_string_equal(back.leader, "a1");
    assert_string_equal(back.digest, "0123456789abcdef");
    assert_int_equal(back.nmembers, 2);
    assert_string_equal(back.members[0].id, "a1"); /* sorted by id */
    assert_string_equal(back.members[1].id, "b2");
    assert_int_equal(back.members[1].capacity, 4);
    assert_int_equal(back.members[1].nlabels, 2);
    assert_string_equal(back.members[1].labels[1], "batch");

    /* Same members and digest -> same, whatever the epoch. */
    struct plan_snapshot again = {0};
    assert_int_equal(plan_snapshot_parse(json, (int)strlen(json), &again, &err), 0);
    again.epoch = 43;
    assert_true(plan_snapshot_same(&back, &again));
    again.members[0].capacity = 15;
    assert_false(plan_snapshot_same(&back, &again));
    plan_snapshot_clear(&again);
    free(json);
    plan_snapshot_clear(&back);

    const char *bad[] = {
        "",
        "{}",
        "{\"epoch\":-1,\"digest\":\"0123456789abcdef\",\"members\":[]}",
        "{\"epoch\":1,\"digest\":\"short\",\"members\":[]}",
        "{\"epoch\":1,\"digest\":\"0123456789abcdef\",\"members\":[{\"id\":\"x\"}]}",
        "{\"epoch\":1,\"digest\":\"0123456789abcdef\",\"members\":[{\"id\":\"x\",\"capacity\":0}]}",
        "{\"epoch\":1,\"digest\":\"0123456789abcdef\",\"members\":[{\"id\":\"x\",\"capacity\":1,"
        "\"labels\":[1]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct plan_snapshot x = {0};
        assert_int_equal(plan_snapshot_parse(bad[i], (int)strlen(bad[i]), &x, &err), -EINVAL);
        assert_int_equal(x.nmembers, 0);
    }
}

static void test_agent_record_roundtrip(void **state)
{
    (void)state;
    struct plan_agent_rec r = {0}, back = {0};
    struct sc_err err;
    char *labels[] = {"x"};
    struct plan_item dr[] = {{"settle", 3, 0}};
    struct plan_item run[] = {{"report", 0, 1700000000}};
    r.host = "h1";
    r.pid = 77;
    r.labels = labels;
    r.nlabels = 1;
    r.capacity = 8;
    r.version = "0.1.0";
    r.started_at_ms = 123;
    r.session = 0x1000014afeb0001LL;
    r.applied_epoch = 9;
    r.applied_ms = 1767225600123LL;
    r.session_ms = 2000;
    r.ready = true;
    r.reason = "";
    r.skew_ms = -5;
    r.draining = dr;
    r.ndraining = 1;
    r.running = run;
    r.nrunning = 1;
    char *json = plan_agent_json(&r);
    assert_int_equal(plan_agent_parse(json, (int)strlen(json), &back, &err), 0);
    assert_string_equal(back.host, "h1");
    assert_int_equal(back.pid, 77);
    assert_int_equal(back.session, 0x1000014afeb0001LL);
    assert_int_equal(back.applied_epoch, 9);
    assert_int_equal(back.applied_ms, 1767225600123LL);
    assert_int_equal(back.session_ms, 2000);
    assert_true(back.ready);
    assert_int_equal(back.skew_ms, -5);
    assert_int_equal(back.ndraining, 1);
    assert_string_equal(back.draining[0].job, "settle");
    assert_int_equal(back.draining[0].item, 3);
    assert_int_equal(back.nrunning, 1);
    assert_int_equal(back.running[0].fire, 1700000000);
    free(json);
    plan_agent_clear(&back);
    assert_int_equal(plan_agent_parse("{\"draining\":[[1,2]]}", 20, &back, &err), -EINVAL);
    assert_int_equal(plan_agent_parse("nope", 4, &back, &err), -EINVAL);
}

static void test_digest(void **state)
{
    (void)state;
    const char *gpu[] = {"gpu", "batch"}, *gpu_rev[] = {"batch", "gpu"};
    struct shard_job a[3] = {{"a", 8, SHARD_AVERAGE, NULL, 0},
                             {"b", 1, SHARD_BALANCED, gpu, 2},
                             {"c", 3, SHARD_ODD_EVEN, NULL, 0}};
    struct shard_job b[3] = {a[2], a[0], a[1]};
    char d1[17], d2[17], d3[17];
    plan_digest(a, 3, d1);
    b[2].labels = gpu_rev; /* label order does not matter */
    plan_digest(b, 3, d2);
    assert_string_equal(d1, d2);
    b[1].items = 9; /* any shape change does */
    plan_digest(b, 3, d3);
    assert_string_not_equal(d1, d3);
    b[1].items = 8;
    b[1].strategy = SHARD_ROUND_ROBIN;
    plan_digest(b, 3, d3);
    assert_string_not_equal(d1, d3);
    b[1].strategy = SHARD_AVERAGE;
    plan_digest(b, 2, d3); /* a job fewer */
    assert_string_not_equal(d1, d3);
    plan_digest(NULL, 0, d3);
    assert_int_equal(strlen(d3), 16);
}

static void test_strmap(void **state)
{
    (void)state;
    struct strmap m;
    char key[32];
    int err;
    strmap_init(&m);
    for (long i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "job-%ld", i);
        assert_null(strmap_put(&m, key, (void *)(i + 1), &err));
        assert_int_equal(err, 0);
    }
    assert_int_equal(strmap_len(&m), 100000);
    for (long i = 0; i < 100000; i += 2) {
        snprintf(key, sizeof key, "job-%ld", i);
        assert_ptr_equal(strmap_del(&m, key), (void *)(i + 1));
    }
    assert_int_equal(strmap_len(&m), 50000);
    for (long i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "job-%ld", i);
        assert_ptr_equal(strmap_get(&m, key), i % 2 ? (void *)(i + 1) : NULL);
    }
    assert_ptr_equal(strmap_put(&m, "job-1", (void *)7, &err), (void *)2); /* replace */
    size_t it = 0, n = 0;
    const char *k;
    void *v;
    while (strmap_next(&m, &it, &k, &v))
        n++;
    assert_int_equal(n, 50000);
    strmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_agent_record_roundtrip),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_strmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
