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

#include "core/job.h"
#include "core/strmap.h"
#include "registry/plan.h"

static void test_snapshot_roundtrip(void **state)
{
    (void)state;
    struct plan_snapshot s = {0}, back = {0};
    struct sc_err err;
    char *l1[] = {"gpu", "batch"};
    struct plan_member m[2] = {{"b2", l1, 2, 4, 0x1234abcdLL}, {"a1", NULL, 0, 16, 0}};
    char *ev[] = {"c3"};
    int64_t evs[] = {0x77LL};
    s.epoch = 42;
    s.leader = "a1";
    memcpy(s.digest, "0123456789abcdef", 17);
    s.created_ms = 1700000000123LL;
    s.members = m;
    s.nmembers = 2;
    s.evicted = ev;
    s.evicted_session = evs;
    s.nevicted = 1;
    s.dead_hi_ms = 1700000000500LL;
    s.view_hi_ms = 1699999990000LL;
    s.view_pzxid = 0x100000004LL;
    s.agents_pzxid = 0x100000020LL;
    s.outage_from_ms = 1699999980000LL;
    s.settled_ms = 1699999970000LL;
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
    /* Members are sessions; evicted members ride along with their session. */
    assert_int_equal(back.members[1].session, 0x1234abcdLL);
    assert_int_equal(back.members[0].session, 0);
    assert_int_equal(back.nevicted, 1);
    assert_string_equal(back.evicted[0], "c3");
    assert_int_equal(back.evicted_session[0], 0x77);
    /* the leader's bound on sessions that vanished before an agent looked */
    assert_int_equal(back.dead_hi_ms, 1700000000500LL);
    assert_int_equal(back.view_hi_ms, 1699999990000LL);
    assert_int_equal(back.view_pzxid, 0x100000004LL);
    assert_int_equal(back.agents_pzxid, 0x100000020LL);
    struct plan_snapshot copy;
    assert_int_equal(plan_snapshot_copy(&back, &copy), 0);
    assert_true(plan_snapshot_same(&back, &copy));
    assert_string_equal(copy.evicted[0], "c3");
    assert_int_equal(copy.members[1].session, 0x1234abcdLL);
    assert_int_equal(copy.view_pzxid, 0x100000004LL);
    /* a total outage rides along (docs/coordination.md, "Total outages") */
    assert_int_equal(back.outage_from_ms, 1699999980000LL);
    assert_int_equal(copy.outage_from_ms, 1699999980000LL);
    /* the last settled moment rides along, and does not make a new epoch
     * (docs/coordination.md, "The settled watermark") */
    assert_int_equal(back.settled_ms, 1699999970000LL);
    assert_int_equal(copy.settled_ms, 1699999970000LL);
    copy.settled_ms = 1699999975000LL;
    assert_true(plan_snapshot_same(&back, &copy));
    plan_snapshot_clear(&copy);

    /* Same members and digest -> same, whatever the epoch. */
    struct plan_snapshot again = {0};
    assert_int_equal(plan_snapshot_parse(json, (int)strlen(json), &again, &err), 0);
    again.epoch = 43;
    assert_true(plan_snapshot_same(&back, &again));
    again.members[1].session = 0x99;
    assert_false(plan_snapshot_same(&back, &again)); /* the same id on a new session */
    again.members[1].session = back.members[1].session;
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
    assert_int_equal(back.stop_s, 0);
    assert_int_equal(back.nreran, 0);
    free(json);
    plan_agent_clear(&back);
    assert_int_equal(plan_agent_parse("{\"draining\":[[1,2]]}", 20, &back, &err), -EINVAL);
    assert_int_equal(plan_agent_parse("nope", 4, &back, &err), -EINVAL);
}

/* stop_s and reran: written with the record, read back; a record without
 * them (an older agent) reads as 0 and none. */
static void test_agent_record_stop_and_reran(void **state)
{
    (void)state;
    struct plan_agent_rec r = {0}, back = {0};
    struct sc_err err;
    r.host = "h1";
    r.session = 0x1000014afeb0001LL;
    r.stop_s = 1767225601;
    r.prev_applied = 41;
    r.npending = 3;
    r.backlog_s = 1767225590;
    r.brk_ms = 1767225580123LL;
    r.log_free_pct = 5;
    r.reran[0] = 0x1000014afeb0002LL;
    r.reran[1] = 0x7fffffffffffffffLL;
    r.reran[2] = 1;
    r.nreran = 3;
    char *json = plan_agent_json(&r);
    assert_non_null(strstr(json, "\"stop_s\":1767225601"));
    assert_non_null(strstr(json, "\"reran\":[\"1000014afeb0002\",\"7fffffffffffffff\",\"1\"]"));
    assert_int_equal(plan_agent_parse(json, (int)strlen(json), &back, &err), 0);
    assert_int_equal(back.stop_s, 1767225601);
    assert_int_equal(back.prev_applied, 41);
    assert_int_equal(back.npending, 3);
    assert_int_equal(back.backlog_s, 1767225590);
    assert_int_equal(back.brk_ms, 1767225580123LL);
    assert_int_equal(back.log_free_pct, 5);
    assert_int_equal(back.nreran, 3);
    assert_int_equal(back.reran[0], 0x1000014afeb0002LL);
    assert_int_equal(back.reran[1], 0x7fffffffffffffffLL);
    assert_int_equal(back.reran[2], 1);
    free(json);
    plan_agent_clear(&back);

    /* no reran field at all when the list is empty, no backlog_s when none */
    r.nreran = 0;
    r.backlog_s = 0;
    r.brk_ms = 0;
    r.log_free_pct = -1;
    json = plan_agent_json(&r);
    assert_null(strstr(json, "log_free_pct"));
    assert_null(strstr(json, "reran"));
    assert_null(strstr(json, "backlog_s"));
    assert_null(strstr(json, "brk_ms"));
    free(json);

    const char *old = "{\"host\":\"h\",\"session\":\"10\",\"applied_epoch\":3}";
    assert_int_equal(plan_agent_parse(old, (int)strlen(old), &back, &err), 0);
    assert_int_equal(back.stop_s, 0);
    assert_int_equal(back.prev_applied, 0);
    assert_int_equal(back.npending, 0);
    assert_int_equal(back.backlog_s, 0);
    assert_int_equal(back.log_free_pct, -1); /* not known */
    assert_int_equal(back.nreran, 0);
    plan_agent_clear(&back);

    /* a longer list keeps its newest (last) entries; a repeat counts once */
    const char *many = "{\"reran\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
                       "\"a\",\"a\"]}";
    assert_int_equal(plan_agent_parse(many, (int)strlen(many), &back, &err), 0);
    assert_int_equal(back.nreran, PLAN_RERAN_MAX);
    assert_int_equal(back.reran[0], 3);
    assert_int_equal(back.reran[PLAN_RERAN_MAX - 1], 10);
    plan_agent_clear(&back);

    const char *bad[] = {
        "{\"reran\":[12]}", "{\"reran\":[\"xyz\"]}", "{\"reran\":[\"\"]}", "{\"reran\":\"1\"}",
        "{\"stop_s\":-1}",  "{\"stop_s\":\"1\"}",    "{\"npending\":-1}",  "{\"backlog_s\":-5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(plan_agent_parse(bad[i], (int)strlen(bad[i]), &back, &err), -EINVAL);
        assert_int_equal(back.nreran, 0);
    }
}

/* plan_reran_add / plan_reran_has: the last PLAN_RERAN_MAX sessions, each once. */
static void test_reran_list(void **state)
{
    (void)state;
    int64_t v[PLAN_RERAN_MAX] = {0};
    int n = 0;
    assert_false(plan_reran_has(v, n, 5));
    assert_true(plan_reran_add(v, &n, 5));
    assert_false(plan_reran_add(v, &n, 5)); /* listed already: unchanged */
    assert_int_equal(n, 1);
    assert_true(plan_reran_has(v, n, 5));
    for (int64_t s = 100; s < 100 + PLAN_RERAN_MAX; s++)
        assert_true(plan_reran_add(v, &n, s));
    assert_int_equal(n, PLAN_RERAN_MAX);
    assert_false(plan_reran_has(v, n, 5)); /* the oldest dropped out */
    assert_int_equal(v[0], 100);
    assert_int_equal(v[PLAN_RERAN_MAX - 1], 100 + PLAN_RERAN_MAX - 1);
    assert_true(plan_reran_add(v, &n, 5)); /* and may come back, as the newest */
    assert_int_equal(v[PLAN_RERAN_MAX - 1], 5);
    assert_int_equal(v[0], 101);
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

static void test_change_names(void **state)
{
    (void)state;
    char buf[300], job[JOB_NAME_MAX + 1];
    enum plan_change_kind kind;
    int64_t seq;
    plan_change_prefix(buf, sizeof buf, PLAN_CHANGE_CONFIG, "nightly-etl.v2");
    assert_string_equal(buf, "/state/changes/c-nightly-etl.v2-");
    /* what ZooKeeper makes of it: the 10-digit sequence appended */
    assert_int_equal(plan_change_parse("c-nightly-etl.v2-0000000042", &kind, job, sizeof job, &seq),
                     0);
    assert_int_equal(kind, PLAN_CHANGE_CONFIG);
    assert_string_equal(job, "nightly-etl.v2");
    assert_int_equal(seq, 42);
    assert_int_equal(plan_change_parse("t-a-0000000000", &kind, job, sizeof job, &seq), 0);
    assert_int_equal(kind, PLAN_CHANGE_TRIGGER);
    assert_string_equal(job, "a");
    assert_int_equal(seq, 0);
    plan_change_prefix(buf, sizeof buf, PLAN_CHANGE_WORKFLOW, "nightly-etl");
    assert_string_equal(buf, "/state/changes/w-nightly-etl-");
    assert_int_equal(plan_change_parse("w-nightly-etl-0000000007", &kind, job, sizeof job, &seq),
                     0);
    assert_int_equal(kind, PLAN_CHANGE_WORKFLOW);
    assert_string_equal(job, "nightly-etl");
    assert_int_equal(seq, 7);
    assert_int_equal(plan_change_parse("t-a-2147483648", &kind, job, sizeof job, &seq), 0);
    assert_int_equal(seq, 2147483648LL);
    static const char *const bad[] = {"",
                                      "c-",
                                      "x-a-0000000001",
                                      "c-a0000000001",
                                      "c-a-000000001",
                                      "c-a-00000000x1",
                                      "ca-0000000001",
                                      "c--0000000001"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(plan_change_parse(bad[i], &kind, job, sizeof job, &seq), -EINVAL);
    /* a job name longer than the caller's buffer */
    char small[4];
    assert_int_equal(plan_change_parse("c-abcdef-0000000001", &kind, small, sizeof small, &seq),
                     -EINVAL);
    assert_int_equal(plan_changes_pruned(NULL, 0), -1);
    assert_int_equal(plan_changes_pruned("{\"pruned_through\":17}", 21), 17);
    assert_int_equal(plan_changes_pruned("{\"pruned_through\":0}", 20), 0);
    assert_int_equal(plan_changes_pruned("garbage", 7), -1);
    /* found by fuzz_plan_agent: a number past int64_t's range was cast anyway (UBSan) */
    assert_int_equal(plan_changes_pruned("{\"pruned_through\":1e300}", 24), -1);
    assert_int_equal(plan_changes_pruned("{\"pruned_through\":9223372036854775808}", 38), -1);
}

/* Found by fuzz_plan_agent: the fire (and item) of a draining or running entry were
 * cast from any JSON number; past int64_t's range that is undefined behaviour (UBSan
 * aborts). Such a record is refused, naming the list. */
static void test_agent_record_item_ranges(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"{\"running\":[[\"settle\",1,1.7e107]]}", "running"},
        {"{\"running\":[[\"settle\",1,-1e300]]}", "running"},
        {"{\"draining\":[[\"settle\",1,1e19]]}", "draining"},
        {"{\"draining\":[[\"settle\",-1]]}", "draining"},
        {"{\"running\":[[\"settle\",1e10,5]]}", "running"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct plan_agent_rec r;
        struct sc_err err;
        sc_err_clear(&err);
        assert_int_equal(plan_agent_parse(bad[i][0], (int)strlen(bad[i][0]), &r, &err), -EINVAL);
        assert_string_equal(err.field, bad[i][1]);
    }
    struct plan_agent_rec r;
    struct sc_err err;
    const char *ok = "{\"running\":[[\"settle\",7,1700000000]],\"draining\":[[\"settle\",0]]}";
    assert_int_equal(plan_agent_parse(ok, (int)strlen(ok), &r, &err), 0);
    assert_int_equal(r.nrunning, 1);
    assert_int_equal(r.running[0].item, 7);
    assert_int_equal(r.running[0].fire, 1700000000);
    assert_int_equal(r.ndraining, 1);
    plan_agent_clear(&r);
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

/* The window of fires between owners, case by case (docs/coordination.md). */
struct hcase {
    const char *name;
    struct plan_handover in;
    int64_t lo, hi;
};

static void test_handover_window(void **state)
{
    (void)state;
    const int64_t S = 1767225600000LL; /* 2026-01-01 00:00:00 UTC */
    const struct plan_handover base = {.epoch = 8,
                                       .prev_epoch = 7,
                                       .prev_created_ms = S - 60000,
                                       .snap_created_ms = S + 2300,
                                       .session_ms = 2000,
                                       .max_skew_ms = 2000};
    struct hcase cases[10];
    int n = 0;
    /* A live handoff at the next epoch: exactly from its apply (minus a second
     * of scheduler lag); nothing after its apply was started there. */
    cases[n] = (struct hcase){"live, next epoch", base, S + 1234 - 1000, S + 1234};
    cases[n].in.prev = PLAN_PREV_ALIVE;
    cases[n].in.owner_epoch = 8;
    cases[n++].in.owner_applied_ms = S + 1234;
    /* Epochs skipped: it may have stopped at any epoch after our previous one. */
    cases[n] = cases[0];
    cases[n].name = "live, epochs skipped";
    cases[n].in.epoch = 10;
    cases[n].in.owner_epoch = 10;
    cases[n].lo = S - 60000 - 2000 - 1000;
    n++;
    /* Alive but not at our epoch (a rebuilt session): its old session may
     * have run anything until the publication we apply (its clock). */
    cases[n] = cases[0];
    cases[n].name = "live, no epoch";
    cases[n].in.owner_epoch = 0;
    cases[n].lo = S - 60000 - 1000 - 2000;
    cases[n].hi = S + 2300 + 2000 + 500;
    n++;
    /* Died: seen gone at S+2100 (expiry or a clean close), session 2 s, same
     * clocks: alive until about S+100; nothing started after S+2100. */
    cases[n] = (struct hcase){"died", base, S + 2100 - 2000 - 1000 - 500, S + 2100 + 500};
    cases[n].in.prev = PLAN_PREV_DIED;
    cases[n].in.gone_ms = S + 2100;
    cases[n++].in.owner_session_ms = 2000;
    /* Its clock 300 ms ahead of ours: the window moves to its clock. */
    cases[n] = cases[n - 1];
    cases[n].name = "died, clock ahead";
    cases[n].in.owner_skew_ms = 250;
    cases[n].in.skew_ms = -50;
    cases[n].lo += 300;
    cases[n].hi += 300;
    n++;
    /* The leader published before we saw it go: the earlier time bounds lo. */
    cases[n] = cases[n - 2];
    cases[n].name = "died, seen late";
    cases[n].in.gone_ms = S + 4000;
    cases[n].in.snap_created_ms = S + 2100;
    cases[n].hi = S + 4000 + 500;
    n++;
    /* Its session timeout unknown: ours. */
    cases[n] = cases[n - 3];
    cases[n].name = "died, timeout unknown";
    cases[n].in.owner_session_ms = 0;
    cases[n].in.session_ms = 5000;
    cases[n].lo = S + 2100 - 5000 - 1000 - 500;
    n++;
    /* No record of it (or its vanishing unseen): from the epoch that left it
     * out; it may have run fires until that publication, by its clock. */
    cases[n] = (struct hcase){"unknown", base, S + 2300 - 2000 - 1000 - 2000, 0};
    cases[n].hi = S + 2300 + 2000 + 500;
    n++;
    /* Died, but we never saw its node go (our own session was rebuilt). */
    cases[n] = cases[n - 1];
    cases[n].name = "died, vanishing unseen";
    cases[n].in.prev = PLAN_PREV_DIED;
    cases[n].in.gone_ms = 0;
    n++;
    for (int i = 0; i < n; i++) {
        int64_t lo = -1, hi = -1;
        plan_handover_window(&cases[i].in, &lo, &hi);
        if (lo != cases[i].lo || hi != cases[i].hi)
            fail_msg("%s: (%lld, %lld], want (%lld, %lld]", cases[i].name, (long long)(lo - S),
                     (long long)(hi - S), (long long)(cases[i].lo - S),
                     (long long)(cases[i].hi - S));
        assert_true(hi >= lo);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_agent_record_roundtrip),
        cmocka_unit_test(test_agent_record_stop_and_reran),
        cmocka_unit_test(test_agent_record_item_ranges),
        cmocka_unit_test(test_reran_list),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_change_names),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_handover_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
