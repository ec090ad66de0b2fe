/* tests/unit/test_wf.c: the workflow model (workflow/wf.c): the refusals of
 * tests/data/wf_cases.txt, defaults and canonical round trips, the order and
 * the cycles, 5,000-task definitions, and the trigger rules as a truth table
 * written out by hand from Airflow's TriggerRuleDep (docs/workflows.md shows
 * the same table). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/strmap.h"
#include "workflow/wf.h"

static void check_roundtrip(const struct wf_def *d)
{
    struct sc_err err;
    struct wf_def *back = NULL;
    char *a = wf_to_json(d);
    assert_non_null(a);
    if (wf_parse(a, strlen(a), &back, &err) != 0)
        fail_msg("canonical form does not parse: %s: %s\n%.300s", err.field, err.msg, a);
    char *b = wf_to_json(back);
    assert_string_equal(a, b);
    assert_int_equal(back->ntasks, d->ntasks);
    for (int i = 0; i < d->ntasks; i++) {
        assert_string_equal(back->tasks[i].id, d->tasks[i].id);
        assert_int_equal(back->tasks[i].nup, d->tasks[i].nup);
        assert_int_equal(back->topo[i], d->topo[i]);
    }
    free(a);
    free(b);
    wf_free(back);
}

static struct wf_def *parse_ok(const char *json)
{
    struct wf_def *d = NULL;
    struct sc_err err;
    sc_err_clear(&err);
    if (wf_parse(json, strlen(json), &d, &err) != 0)
        fail_msg("%s: %s", err.field, err.msg);
    return d;
}

/* parse_err: refused, with err.field and err.msg returned in `err`. */
static void parse_err(const char *json, struct sc_err *err)
{
    struct wf_def *d = (struct wf_def *)1;
    sc_err_clear(err);
    assert_true(wf_parse(json, strlen(json), &d, err) < 0);
    assert_null(d);
}

/* ---------------------------------------------------------------- the case table */

static void test_table(void **state)
{
    (void)state;
    FILE *f = fopen("tests/data/wf_cases.txt", "r");
    char line[8192];
    int lineno = 0, cases = 0, refusals = 0, bad = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const char *json = tab + 1, *expect = line;
        struct wf_def *d = NULL;
        struct sc_err err;
        sc_err_clear(&err);
        int rc = wf_parse(json, strlen(json), &d, &err);
        cases++;
        if (strcmp(expect, "ok") == 0) {
            if (rc != 0) {
                fprintf(stderr, "line %d: expected ok, got %s: %s\n", lineno, err.field, err.msg);
                bad++;
            } else {
                check_roundtrip(d);
            }
        } else {
            const char *colon = strchr(expect, ':');
            assert_non_null(colon);
            char field[128];
            snprintf(field, sizeof field, "%.*s", (int)(colon - expect), expect);
            const char *want = strcmp(field, "-") == 0 ? "" : field;
            refusals++;
            if (rc == 0) {
                fprintf(stderr, "line %d: expected error on %s, got ok\n", lineno, field);
                bad++;
            } else if (strcmp(err.field, want) != 0 || !strstr(err.msg, colon + 1)) {
                fprintf(stderr, "line %d: expected %s:%s\n          got %s:%s\n", lineno, want,
                        colon + 1, err.field, err.msg);
                bad++;
            } else if (rc != -EINVAL) {
                fprintf(stderr, "line %d: expected -EINVAL, got %d\n", lineno, rc);
                bad++;
            }
            assert_null(d);
        }
        wf_free(d);
    }
    fclose(f);
    assert_true(refusals >= 25);
    assert_true(cases >= 60);
    assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- model and defaults */

static void test_defaults(void **state)
{
    (void)state;
    struct wf_def *d = parse_ok("{\"name\":\"w\",\"tasks\":{\"c\":{\"command\":\"true\"},"
                                "\"s\":{\"sensor\":\"test -f x\",\"timeout_s\":60},"
                                "\"j\":{\"job\":\"nightly\",\"upstream\":[\"c\",\"s\"]},"
                                "\"b\":{\"branch\":\"echo j\"},"
                                "\"e\":{\"external\":{\"workflow\":\"o\",\"task\":\"t\"},"
                                "\"timeout_s\":9}}}");
    assert_string_equal(d->name, "w");
    assert_string_equal(d->description, "");
    assert_string_equal(d->cron, "");
    assert_string_equal(d->timezone, "UTC");
    assert_true(d->enabled);
    assert_int_equal(d->max_active_runs, 1);
    assert_false(d->catchup);
    assert_int_equal(d->timeout_s, 0);
    assert_true(cJSON_IsObject(d->params));
    assert_int_equal(cJSON_GetArraySize(d->params), 0);
    assert_int_equal(d->ntasks, 5);

    const struct wf_task *c = &d->tasks[0], *s = &d->tasks[1], *j = &d->tasks[2], *b = &d->tasks[3],
                         *e = &d->tasks[4];
    assert_int_equal(c->kind, WF_COMMAND);
    assert_string_equal(c->command, "true");
    assert_int_equal(c->shards, 1);
    assert_int_equal(c->timeout_s, 0);
    assert_int_equal(c->retries, 0);
    assert_int_equal(c->nlabels, 0);
    assert_int_equal(c->rule, WF_ALL_SUCCESS);
    assert_null(c->job);
    assert_int_equal(s->kind, WF_SENSOR);
    assert_int_equal(s->interval_s, 60);
    assert_int_equal(s->timeout_s, 60);
    assert_int_equal(j->kind, WF_JOB);
    assert_string_equal(j->job, "nightly");
    assert_null(j->command);
    assert_int_equal(j->shards, 1);
    assert_int_equal(j->nup, 2);
    assert_int_equal(j->up[0], 0);
    assert_int_equal(j->up[1], 1);
    assert_int_equal(b->kind, WF_BRANCH);
    assert_string_equal(b->command, "echo j");
    assert_int_equal(e->kind, WF_EXTERNAL);
    assert_string_equal(e->ext.workflow, "o");
    assert_string_equal(e->ext.task, "t");
    assert_int_equal(e->ext.offset_s, 0);
    assert_int_equal(e->interval_s, 60);
    /* derived downstream */
    assert_int_equal(c->ndown, 1);
    assert_int_equal(c->down[0], 2);
    assert_int_equal(s->ndown, 1);
    assert_int_equal(j->ndown, 0);

    char *s1 = wf_to_json(d);
    assert_string_equal(
        s1, "{\"name\":\"w\",\"description\":\"\",\"cron\":\"\",\"timezone\":\"UTC\",\"enabled\":"
            "true,\"max_active_runs\":1,\"catchup\":false,\"timeout_s\":0,\"params\":{},"
            "\"tasks\":{\"c\":{\"command\":\"true\",\"shards\":1,\"timeout_s\":0,\"retries\":0,"
            "\"labels\":[],\"upstream\":[],\"trigger_rule\":\"all_success\"},"
            "\"s\":{\"sensor\":\"test -f x\",\"interval_s\":60,\"timeout_s\":60,\"labels\":[],"
            "\"upstream\":[],\"trigger_rule\":\"all_success\"},"
            "\"j\":{\"job\":\"nightly\",\"upstream\":[\"c\",\"s\"],\"trigger_rule\":"
            "\"all_success\"},"
            "\"b\":{\"branch\":\"echo j\",\"timeout_s\":0,\"retries\":0,\"labels\":[],"
            "\"upstream\":[],\"trigger_rule\":\"all_success\"},"
            "\"e\":{\"external\":{\"workflow\":\"o\",\"task\":\"t\",\"offset\":\"0\"},"
            "\"interval_s\":60,\"timeout_s\":9,\"upstream\":[],\"trigger_rule\":"
            "\"all_success\"}}}");
    free(s1);
    check_roundtrip(d);
    wf_free(d);
}

static void test_design_example(void **state)
{
    (void)state;
    struct wf_def *d = parse_ok(
        "{ \"name\": \"nightly-etl\", \"description\": \"...\", \"cron\": \"0 0 1 * * ?\", "
        "\"timezone\": \"Asia/Shanghai\",\n"
        "  \"max_active_runs\": 1, \"catchup\": false, \"timeout_s\": 86400, \"params\": "
        "{\"region\": \"cn\"},\n"
        "  \"tasks\": {\n"
        "    \"extract\":   {\"job\": \"extract-orders\"},\n"
        "    \"ready\":     {\"sensor\": \"test -f /data/ready\", \"interval_s\": 30, "
        "\"timeout_s\": 3600},\n"
        "    \"transform\": {\"command\": \"python3 t.py\", \"upstream\": [\"extract\", "
        "\"ready\"], \"retries\": 1},\n"
        "    \"route\":     {\"branch\": \"/opt/route.sh\", \"upstream\": [\"transform\"]},\n"
        "    \"full\":      {\"job\": \"load-full\", \"upstream\": [\"route\"]},\n"
        "    \"delta\":     {\"job\": \"load-delta\", \"upstream\": [\"route\"]},\n"
        "    \"report\":    {\"job\": \"report\", \"upstream\": [\"full\", \"delta\"], "
        "\"trigger_rule\": \"none_failed_min_one_success\"},\n"
        "    \"yesterday\": {\"external\": {\"workflow\": \"other\", \"task\": \"done\", "
        "\"offset\": \"-1d\"}, \"timeout_s\": 7200} } }");
    assert_int_equal(d->ntasks, 8);
    assert_string_equal(cJSON_GetObjectItem(d->params, "region")->valuestring, "cn");
    int rep = wf_task_index(d, "report");
    assert_int_equal(rep, 6);
    assert_int_equal(d->tasks[rep].rule, WF_NONE_FAILED_MIN_ONE_SUCCESS);
    int y = wf_task_index(d, "yesterday");
    assert_int_equal(d->tasks[y].ext.offset_s, -86400);
    assert_int_equal(d->tasks[wf_task_index(d, "transform")].retries, 1);
    /* route's downstream: full and delta, ascending */
    const struct wf_task *route = &d->tasks[wf_task_index(d, "route")];
    assert_int_equal(route->ndown, 2);
    assert_int_equal(route->down[0], wf_task_index(d, "full"));
    assert_int_equal(route->down[1], wf_task_index(d, "delta"));
    char *s = wf_to_json(d);
    assert_non_null(strstr(s, "\"offset\":\"-1d\""));
    free(s);
    check_roundtrip(d);
    assert_int_equal(wf_check_size(d, NULL), 0);
    wf_free(d);
}

/* ---------------------------------------------------------------- order and cycles */

static void check_topo(const struct wf_def *d)
{
    unsigned char *seen = calloc((size_t)d->ntasks, 1);
    assert_non_null(seen);
    for (int k = 0; k < d->ntasks; k++) {
        int v = d->topo[k];
        assert_true(v >= 0 && v < d->ntasks);
        assert_false(seen[v]);
        for (int u = 0; u < d->tasks[v].nup; u++)
            assert_true(seen[d->tasks[v].up[u]]); /* upstream first */
        seen[v] = 1;
    }
    free(seen);
}

static void test_topo(void **state)
{
    (void)state;
    /* b0 <- a1; c2; d3 <- b, c: ready at first {a, c}; a (written later than
     * b but earlier than c) goes first, then b (now ready, written first) */
    struct wf_def *d = parse_ok("{\"name\":\"w\",\"tasks\":{\"b\":{\"command\":\"x\",\"upstream\":"
                                "[\"a\"]},\"a\":{\"command\":\"x\"},\"c\":{\"command\":\"x\"},"
                                "\"d\":{\"command\":\"x\",\"upstream\":[\"c\",\"b\"]}}}");
    int want[] = {1, 0, 2, 3};
    for (int k = 0; k < 4; k++)
        assert_int_equal(d->topo[k], want[k]);
    check_topo(d);
    /* upstream kept as written; downstream ascending */
    assert_int_equal(d->tasks[3].up[0], 2);
    assert_int_equal(d->tasks[3].up[1], 0);
    assert_int_equal(d->tasks[1].ndown, 1);
    assert_int_equal(d->tasks[1].down[0], 0);
    wf_free(d);

    /* a diamond written backwards */
    d = parse_ok("{\"name\":\"w\",\"tasks\":{\"z\":{\"command\":\"x\",\"upstream\":[\"y\",\"x\"]},"
                 "\"y\":{\"command\":\"x\",\"upstream\":[\"w\"]},\"x\":{\"command\":\"x\","
                 "\"upstream\":[\"w\"]},\"w\":{\"command\":\"x\"}}}");
    int want2[] = {3, 1, 2, 0};
    for (int k = 0; k < 4; k++)
        assert_int_equal(d->topo[k], want2[k]);
    assert_int_equal(d->tasks[3].ndown, 2);
    assert_int_equal(d->tasks[3].down[0], 1);
    assert_int_equal(d->tasks[3].down[1], 2);
    check_topo(d);
    wf_free(d);
}

/* build: a workflow of n command tasks "t0000".. where task i names the
 * upstream listed by up(i) (a JSON fragment), the caller's to free. */
static char *build(int n, void (*up)(int i, int n, char *buf, size_t len))
{
    /* each task takes at most 64 bytes besides its fragment (< 256) */
    size_t cap = (size_t)n * (64 + 256) + 64, at = 0;
    char *s = malloc(cap), frag[256];
    assert_non_null(s);
    at += (size_t)snprintf(s, cap, "{\"name\":\"big\",\"tasks\":{");
    for (int i = 0; i < n; i++) {
        up(i, n, frag, sizeof frag);
        at += (size_t)snprintf(s + at, cap - at, "%s\"t%04d\":{\"command\":\"x\"%s%s}",
                               i ? "," : "", i, frag[0] ? ",\"upstream\":" : "", frag);
    }
    assert_true(at + 3 <= cap);
    strcpy(s + at, "}}");
    return s;
}

static void up_none(int i, int n, char *buf, size_t len)
{
    (void)i, (void)n;
    snprintf(buf, len, "%s", "");
}
/* a chain written from its end: t0000 <- t0001 <- ... (task i's upstream is i+1) */
static void up_chain_rev(int i, int n, char *buf, size_t len)
{
    snprintf(buf, len, i + 1 < n ? "[\"t%04d\"]" : "", i + 1);
}
/* a ring: task i's upstream is i-1, task 0's the last */
static void up_ring(int i, int n, char *buf, size_t len)
{
    snprintf(buf, len, "[\"t%04d\"]", i ? i - 1 : n - 1);
}
/* 1 -> n-2 -> 1, the last task's upstream written separately */
static void up_fan(int i, int n, char *buf, size_t len)
{
    if (i == 0 || i == n - 1)
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "[\"t0000\"]");
}

static char *build_fan(int n)
{
    char *s = build(n, up_fan);
    /* give the last task every middle task as upstream */
    size_t cap = strlen(s) + (size_t)n * 9 + 64;
    char *t = malloc(cap);
    assert_non_null(t);
    char last[16];
    snprintf(last, sizeof last, "\"t%04d\":{", n - 1);
    char *p = strstr(s, last);
    assert_non_null(p);
    size_t at = (size_t)(p - s) + strlen(last);
    memcpy(t, s, at);
    at += (size_t)snprintf(t + at, cap - at, "\"upstream\":[");
    for (int i = 1; i < n - 1; i++)
        at += (size_t)snprintf(t + at, cap - at, "%s\"t%04d\"", i > 1 ? "," : "", i);
    at += (size_t)snprintf(t + at, cap - at, "],");
    snprintf(t + at, cap - at, "%s", p + strlen(last));
    free(s);
    return t;
}

static void test_cycles(void **state)
{
    (void)state;
    struct sc_err err;
    /* a ring too long for the message: its start, "...", the closing task and the count */
    char *s = build(200, up_ring);
    parse_err(s, &err);
    free(s);
    assert_string_equal(err.field, "tasks");
    assert_true(strncmp(err.msg, "cycle t0000 -> t0001 -> t0002 -> ", 33) == 0);
    assert_non_null(strstr(err.msg, "-> ... -> t0000 (200 tasks)"));
    assert_true(strlen(err.msg) < sizeof err.msg - 1);

    /* a cycle downstream of ordered tasks, entered from its middle: named from
     * its earliest written task, in the direction work flows */
    parse_err("{\"name\":\"w\",\"tasks\":{\"a\":{\"command\":\"x\"},"
              "\"q\":{\"command\":\"x\",\"upstream\":[\"p\"]},"
              "\"r\":{\"command\":\"x\",\"upstream\":[\"q\",\"a\"]},"
              "\"p\":{\"command\":\"x\",\"upstream\":[\"r\"]},"
              "\"z\":{\"command\":\"x\",\"upstream\":[\"r\"]}}}",
              &err);
    assert_string_equal(err.field, "tasks");
    assert_string_equal(err.msg, "cycle q -> r -> p -> q");
}

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_big(void **state)
{
    (void)state;
    struct sc_err err;
    struct wf_def *d;

    char *s = build(WF_TASKS_MAX, up_chain_rev);
    double t0 = cpu_ms();
    d = parse_ok(s);
    double chain_ms = cpu_ms() - t0;
    assert_int_equal(d->ntasks, WF_TASKS_MAX);
    for (int k = 0; k < WF_TASKS_MAX; k++)
        assert_int_equal(d->topo[k], WF_TASKS_MAX - 1 - k);
    check_topo(d);
    check_roundtrip(d);
    wf_free(d);
    free(s);

    s = build_fan(WF_TASKS_MAX);
    t0 = cpu_ms();
    d = parse_ok(s);
    double fan_ms = cpu_ms() - t0;
    const struct wf_task *last = &d->tasks[WF_TASKS_MAX - 1];
    assert_int_equal(last->nup, WF_TASKS_MAX - 2);
    assert_int_equal(d->tasks[0].ndown, WF_TASKS_MAX - 2);
    assert_int_equal(d->topo[0], 0);
    assert_int_equal(d->topo[WF_TASKS_MAX - 1], WF_TASKS_MAX - 1);
    check_topo(d);
    check_roundtrip(d);
    assert_int_equal(wf_check_size(d, NULL), 0);
    wf_free(d);
    free(s);
    /* The figure is bench/workflow's (release build); under ASan a quadratic
     * lookup (25M string compares) would still show far above this bound. */
    fprintf(stderr, "5000-task chain %.1f ms, fan-out %.1f ms (CPU, ASan)\n", chain_ms, fan_ms);
    assert_true(chain_ms < 400);
    assert_true(fan_ms < 400);

    s = build(WF_TASKS_MAX + 1, up_none);
    parse_err(s, &err);
    free(s);
    assert_string_equal(err.field, "tasks");
    assert_string_equal(err.msg, "at most 5000 tasks (got 5001)");
}

/* ---------------------------------------------------------------- trigger rules */

/* Upstream combinations: the columns of the truth table. Unfinished states
 * vary (running, retrying, queued, sensing, waiting): all count alike. */
#define S WF_T_SUCCEEDED
#define F WF_T_FAILED
#define K WF_T_SKIPPED
#define U WF_T_UPSTREAM_FAILED
#define C WF_T_CANCELLED
static const struct {
    const char *name;
    int n;
    enum wf_tstate st[3];
} combos[] = {
    {"none", 0, {0}},
    {"S S", 2, {S, S}},
    {"F F", 2, {F, F}},
    {"K K", 2, {K, K}},
    {"U U", 2, {U, U}},
    {"S F", 2, {S, F}},
    {"S K", 2, {S, K}},
    {"F K", 2, {F, K}},
    {"S run", 2, {S, WF_T_RUNNING}},
    {"F run", 2, {F, WF_T_RETRYING}},
    {"K run", 2, {K, WF_T_QUEUED}},
    {"U run", 2, {U, WF_T_SENSING}},
    {"run run", 2, {WF_T_WAITING, WF_T_RUNNING}},
    {"C S", 2, {C, S}},
    {"U S", 2, {U, S}},
    {"S S run", 3, {S, S, WF_T_RUNNING}},
    {"S F K", 3, {S, F, K}},
};
#define NCOMBO ((int)(sizeof combos / sizeof combos[0]))

/* R run, W wait, K skip, U upstream_failed; one character per combination,
 * in the order above. */
static const char *const truth[WF_RULE_COUNT] = {
    /* columns: none, S S, F F, K K, U U, S F, S K, F K, S run, F run, K run, U run,
     * run run, C S, U S, S S run, S F K */
    [WF_ALL_SUCCESS] /*              */ "RRUKUUKUWUKUWUUWU",
    [WF_ALL_FAILED] /*               */ "RKRKRKKKKWKWWKKKK",
    [WF_ALL_DONE] /*                 */ "RRRRRRRRWWWWWRRWR",
    [WF_ALL_DONE_MIN_ONE_SUCCESS] /* */ "RRUKURKKWWKWWRRWK",
    [WF_ALL_SKIPPED] /*              */ "RKKRKKKKKKWKWKKKK",
    [WF_ONE_SUCCESS] /*              */ "RRUKURRURWWWWRRRR",
    [WF_ONE_FAILED] /*               */ "RKRKRRKRWRWRWRRWR",
    [WF_ONE_DONE] /*                 */ "RRRKKRRRRRWWWRRRR",
    [WF_NONE_FAILED] /*              */ "RRURUURUWUWUWUUWU",
    [WF_NONE_FAILED_MIN_ONE_SUCCESS] "RRUKUURUWUWUWUUWU",
    [WF_NONE_SKIPPED] /*             */ "RRRKRRKKWWKWWRRWK",
    [WF_ALWAYS] /*                   */ "RRRRRRRRRRRRRRRRR",
};
#undef S
#undef F
#undef K
#undef U
#undef C

static char decision_char(enum wf_decision d)
{
    switch (d) {
    case WF_RUN:
        return 'R';
    case WF_WAIT:
        return 'W';
    case WF_SKIP:
        return 'K';
    case WF_UPSTREAM_FAILED:
        return 'U';
    }
    return '?';
}

static void test_truth_table(void **state)
{
    (void)state;
    int bad = 0;
    for (int r = 0; r < WF_RULE_COUNT; r++) {
        assert_int_equal((int)strlen(truth[r]), NCOMBO);
        for (int c = 0; c < NCOMBO; c++) {
            char got = decision_char(wf_rule_decide((enum wf_rule)r, combos[c].st, combos[c].n));
            /* the order of the upstream never matters */
            enum wf_tstate rev[3];
            for (int k = 0; k < combos[c].n; k++)
                rev[k] = combos[c].st[combos[c].n - 1 - k];
            char got_rev = decision_char(wf_rule_decide((enum wf_rule)r, rev, combos[c].n));
            if (got != truth[r][c] || got_rev != got) {
                fprintf(stderr, "%s with upstream [%s]: expected %c, got %c (reversed %c)\n",
                        wf_rule_name((enum wf_rule)r), combos[c].name, truth[r][c], got, got_rev);
                bad++;
            }
        }
    }
    assert_int_equal(bad, 0);
}

/* A skip propagates down a chain of all_success tasks as Airflow's does: each
 * decides skipped once its one upstream is. */
static void test_skip_propagation(void **state)
{
    (void)state;
    struct wf_def *d =
        parse_ok("{\"name\":\"w\",\"tasks\":{\"route\":{\"branch\":\"echo a\"},"
                 "\"a\":{\"command\":\"x\",\"upstream\":[\"route\"]},"
                 "\"b\":{\"command\":\"x\",\"upstream\":[\"route\"]},"
                 "\"b2\":{\"command\":\"x\",\"upstream\":[\"b\"]},"
                 "\"join\":{\"command\":\"x\",\"upstream\":[\"a\",\"b2\"],\"trigger_rule\":"
                 "\"none_failed_min_one_success\"},"
                 "\"strict\":{\"command\":\"x\",\"upstream\":[\"a\",\"b2\"]}}}");
    enum wf_tstate st[6];
    for (int i = 0; i < 6; i++)
        st[i] = WF_T_WAITING;
    st[0] = WF_T_SUCCEEDED; /* route chose a */
    st[1] = WF_T_SUCCEEDED;
    st[2] = WF_T_SKIPPED;
    /* settle: decide every waiting task in order until nothing changes */
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < d->ntasks; k++) {
            int i = d->topo[k];
            if (st[i] != WF_T_WAITING)
                continue;
            enum wf_tstate up[6];
            for (int u = 0; u < d->tasks[i].nup; u++)
                up[u] = st[d->tasks[i].up[u]];
            switch (wf_rule_decide(d->tasks[i].rule, up, d->tasks[i].nup)) {
            case WF_RUN:
                st[i] = WF_T_SUCCEEDED; /* ran and succeeded */
                break;
            case WF_SKIP:
                st[i] = WF_T_SKIPPED;
                break;
            case WF_UPSTREAM_FAILED:
                st[i] = WF_T_UPSTREAM_FAILED;
                break;
            case WF_WAIT:
                break;
            }
        }
    assert_int_equal(st[3], WF_T_SKIPPED);   /* b2 */
    assert_int_equal(st[4], WF_T_SUCCEEDED); /* join ran */
    assert_int_equal(st[5], WF_T_SKIPPED);   /* strict all_success: skipped */
    assert_int_equal(wf_run_state(d, st), WF_R_SUCCEEDED);
    wf_free(d);
}

/* ---------------------------------------------------------------- run state and closure */

static void test_run_state(void **state)
{
    (void)state;
    /* a -> b (all_done), a -> c; b and c are the leaves */
    struct wf_def *d =
        parse_ok("{\"name\":\"w\",\"tasks\":{\"a\":{\"command\":\"x\"},\"b\":{\"command\":\"x\","
                 "\"upstream\":[\"a\"],\"trigger_rule\":\"all_done\"},\"c\":{\"command\":\"x\","
                 "\"upstream\":[\"a\"],\"trigger_rule\":\"one_failed\"}}}");
    static const struct {
        enum wf_tstate a, b, c;
        enum wf_rstate want;
    } cases[] = {
        {WF_T_SUCCEEDED, WF_T_SUCCEEDED, WF_T_SKIPPED, WF_R_SUCCEEDED},
        {WF_T_SUCCEEDED, WF_T_FAILED, WF_T_SKIPPED, WF_R_FAILED}, /* a leaf failed */
        {WF_T_SUCCEEDED, WF_T_SUCCEEDED, WF_T_UPSTREAM_FAILED, WF_R_FAILED},
        {WF_T_SUCCEEDED, WF_T_CANCELLED, WF_T_SUCCEEDED, WF_R_FAILED},
        /* a failed, but it is no leaf and its downstream ran and succeeded */
        {WF_T_FAILED, WF_T_SUCCEEDED, WF_T_SUCCEEDED, WF_R_SUCCEEDED},
        {WF_T_FAILED, WF_T_SUCCEEDED, WF_T_RUNNING, WF_R_RUNNING},
        {WF_T_SUCCEEDED, WF_T_WAITING, WF_T_SKIPPED, WF_R_RUNNING},
        {WF_T_RETRYING, WF_T_WAITING, WF_T_WAITING, WF_R_RUNNING},
        {WF_T_SKIPPED, WF_T_SKIPPED, WF_T_SKIPPED, WF_R_SUCCEEDED},
        /* a failed leaf decides only once nothing runs */
        {WF_T_SUCCEEDED, WF_T_FAILED, WF_T_SENSING, WF_R_RUNNING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum wf_tstate st[3] = {cases[i].a, cases[i].b, cases[i].c};
        if (wf_run_state(d, st) != cases[i].want)
            fail_msg("case %zu: expected %s, got %s", i, wf_rstate_name(cases[i].want),
                     wf_rstate_name(wf_run_state(d, st)));
    }
    wf_free(d);
}

static void test_downstream_closure(void **state)
{
    (void)state;
    /* a -> b -> d, a -> c, e -> d, f alone, d -> g */
    struct wf_def *d = parse_ok(
        "{\"name\":\"w\",\"tasks\":{\"g\":{\"command\":\"x\",\"upstream\":[\"d\"]},"
        "\"a\":{\"command\":\"x\"},\"b\":{\"command\":\"x\",\"upstream\":[\"a\"]},"
        "\"c\":{\"command\":\"x\",\"upstream\":[\"a\"]},\"d\":{\"command\":\"x\","
        "\"upstream\":[\"b\",\"e\"]},\"e\":{\"command\":\"x\"},\"f\":{\"command\":\"x\"}}}");
    static const struct {
        const char *from, *want; /* want: the marked ids, in written order */
    } cases[] = {
        {"a", "g a b c d"}, {"b", "g b d"}, {"e", "g d e"}, {"f", "f"}, {"g", "g"}, {"d", "g d"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned char mark[7] = {0};
        char got[64] = "";
        wf_downstream_closure(d, wf_task_index(d, cases[c].from), mark);
        for (int i = 0; i < d->ntasks; i++)
            if (mark[i])
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", got[0] ? " " : "",
                         d->tasks[i].id);
        assert_string_equal(got, cases[c].want);
    }
    wf_free(d);
}

static void test_branch_follow(void **state)
{
    (void)state;
    struct wf_def *d = parse_ok(
        "{\"name\":\"w\",\"tasks\":{\"t\":{\"command\":\"x\"},\"route\":{\"branch\":\"r\","
        "\"upstream\":[\"t\"]},\"full\":{\"job\":\"f\",\"upstream\":[\"route\"]},"
        "\"other\":{\"command\":\"x\"},\"delta\":{\"job\":\"g\",\"upstream\":[\"route\"]}}}");
    int r = wf_task_index(d, "route");
    assert_int_equal(d->tasks[r].ndown, 2); /* full (2), delta (4) */
    static const struct {
        const char *out;
        const char *want; /* follow[] as characters, or the error's fragment */
    } cases[] = {
        {"full\n", "10"},
        {"delta", "01"},
        {"  delta \r\n\n\tfull\nfull\n", "11"},
        {"", "00"},
        {"\n \n", "00"},
        {"report\n", "line 1: \"report\" is not a task directly downstream of route"},
        {"full\nother\n", "line 2: \"other\" is not"},
        {"t", "line 1: \"t\" is not"},
        {"ful l", "line 1: \"ful l\" is not"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned char follow[2] = {0};
        struct sc_err err;
        sc_err_clear(&err);
        int rc = wf_branch_follow(d, r, cases[c].out, strlen(cases[c].out), follow, &err);
        if (cases[c].want[0] == '0' || cases[c].want[0] == '1') {
            if (rc != 0)
                fail_msg("\"%s\": %s", cases[c].out, err.msg);
            char got[3] = {(char)('0' + follow[0]), (char)('0' + follow[1]), 0};
            assert_string_equal(got, cases[c].want);
        } else {
            assert_int_equal(rc, -EINVAL);
            if (!strstr(err.msg, cases[c].want))
                fail_msg("\"%s\": got \"%s\"", cases[c].out, err.msg);
        }
    }
    /* a NUL inside the output is no task id */
    unsigned char follow[2] = {0};
    assert_int_equal(wf_branch_follow(d, r, "full\0x\n", 7, follow, NULL), -EINVAL);
    wf_free(d);
}

/* ---------------------------------------------------------------- offsets, names, jobs */

static void test_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t want;
        const char *canon;
    } ok[] = {
        {"0", 0, "0"},           {"-1d", -86400, "-1d"},  {"+2h", 7200, "+2h"},
        {"90s", 90, "+90s"},     {"15m", 900, "+15m"},    {"-0s", 0, "0"},
        {"+25h", 90000, "+25h"}, {"60s", 60, "+1m"},      {"-3650d", -3650LL * 86400, "-3650d"},
        {"007m", 420, "+7m"},    {"+48h", 172800, "+2d"},
    };
    static const char *const bad[] = {"",    "1",   "d",    "-",      "1x",          "1dd", "+-1d",
                                      " 1d", "1d ", "1.5h", "+3651d", "1234567890s", "1D"};
    struct sc_err err;
    char buf[32];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = 12345;
        if (wf_offset_parse(ok[i].in, &v, &err) != 0)
            fail_msg("\"%s\": %s", ok[i].in, err.msg);
        assert_int_equal(v, ok[i].want);
        assert_string_equal(wf_offset_format(v, buf, sizeof buf), ok[i].canon);
        assert_int_equal(wf_offset_parse(buf, &v, NULL), 0);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 12345;
        sc_err_clear(&err);
        if (wf_offset_parse(bad[i], &v, &err) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_string_equal(err.field, "offset");
        assert_int_equal(v, 12345);
    }
}

static void test_names(void **state)
{
    (void)state;
    static const char *const rules[] = {"all_success",  "all_failed",
                                        "all_done",     "all_done_min_one_success",
                                        "all_skipped",  "one_success",
                                        "one_failed",   "one_done",
                                        "none_failed",  "none_failed_min_one_success",
                                        "none_skipped", "always"};
    assert_int_equal(sizeof rules / sizeof rules[0], WF_RULE_COUNT);
    for (int r = 0; r < WF_RULE_COUNT; r++) {
        enum wf_rule got;
        assert_string_equal(wf_rule_name((enum wf_rule)r), rules[r]);
        assert_int_equal(wf_rule_parse(rules[r], &got), 0);
        assert_int_equal(got, r);
    }
    enum wf_rule rr;
    assert_int_equal(wf_rule_parse("ALL_SUCCESS", &rr), -EINVAL);
    assert_int_equal(wf_rule_parse("", &rr), -EINVAL);

    static const char *const ts[] = {"waiting",  "queued",    "running", "sensing",
                                     "retrying", "succeeded", "failed",  "upstream_failed",
                                     "skipped",  "cancelled"};
    assert_int_equal(sizeof ts / sizeof ts[0], WF_T_COUNT);
    for (int s = 0; s < WF_T_COUNT; s++) {
        enum wf_tstate got;
        assert_string_equal(wf_tstate_name((enum wf_tstate)s), ts[s]);
        assert_int_equal(wf_tstate_parse(ts[s], &got), 0);
        assert_int_equal(got, s);
        assert_int_equal(wf_tstate_done((enum wf_tstate)s), s >= WF_T_SUCCEEDED);
    }
    enum wf_tstate tt;
    assert_int_equal(wf_tstate_parse("success", &tt), -EINVAL);

    static const char *const rs[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    for (int s = 0; s < WF_R_COUNT; s++) {
        enum wf_rstate got;
        assert_string_equal(wf_rstate_name((enum wf_rstate)s), rs[s]);
        assert_int_equal(wf_rstate_parse(rs[s], &got), 0);
        assert_int_equal(got, s);
    }
    enum wf_rstate r2;
    assert_int_equal(wf_rstate_parse("done", &r2), -EINVAL);
    assert_string_equal(wf_kind_name(WF_JOB), "job");
    assert_string_equal(wf_kind_name(WF_EXTERNAL), "external");

    assert_true(wf_name_valid("nightly-etl.v2_x"));
    assert_false(wf_name_valid("."));
    assert_false(wf_name_valid("a/b"));
    char id[WF_TASK_ID_MAX + 2];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_false(wf_task_id_valid(id));
    id[WF_TASK_ID_MAX] = '\0';
    assert_true(wf_task_id_valid(id));
}

static bool job_in(void *arg, const char *job)
{
    for (const char *const *j = arg; *j; j++)
        if (strcmp(*j, job) == 0)
            return true;
    return false;
}

static void test_check_jobs_and_index(void **state)
{
    (void)state;
    struct wf_def *d =
        parse_ok("{\"name\":\"w\",\"tasks\":{\"extract\":{\"job\":\"extract-orders\"},"
                 "\"t\":{\"command\":\"x\"},\"load\":{\"job\":\"load\","
                 "\"upstream\":[\"extract\",\"t\"]}}}");
    static const char *const both[] = {"extract-orders", "load", NULL};
    static const char *const one[] = {"extract-orders", "other", NULL};
    struct sc_err err;
    assert_int_equal(wf_check_jobs(d, job_in, (void *)both, &err), 0);
    sc_err_clear(&err);
    assert_int_equal(wf_check_jobs(d, job_in, (void *)one, &err), -ENOENT);
    assert_string_equal(err.field, "tasks.load.job");
    assert_string_equal(err.msg, "job \"load\" does not exist");

    assert_int_equal(wf_task_index(d, "extract"), 0);
    assert_int_equal(wf_task_index(d, "load"), 2);
    assert_int_equal(wf_task_index(d, "nope"), -1);
    assert_int_equal(wf_task_index(d, NULL), -1);
    /* a definition built without the map still answers (a linear scan) */
    struct strmap *ids = d->ids;
    d->ids = NULL;
    assert_int_equal(wf_task_index(d, "t"), 1);
    assert_int_equal(wf_task_index(d, "nope"), -1);
    d->ids = ids;
    wf_free(d);
    wf_free(NULL);
}

/* Raw bytes inside the text (not escapes): json_parse refuses them naming the
 * member, so "echo a\0; rm -rf /" never becomes "echo a". */
static void test_raw_bytes(void **state)
{
    (void)state;
    static const char text[] = "{\"name\":\"w\",\"tasks\":{\"a\":{\"command\":\"echo a\0; rm\"}}}";
    struct wf_def *d = NULL;
    struct sc_err err;
    assert_int_equal(wf_parse(text, sizeof text - 1, &d, &err), -EINVAL);
    assert_null(d);
    assert_string_equal(err.field, "tasks.a.command");
}

static void test_stored_size(void **state)
{
    (void)state;
    /* 300 tasks with 4,000-byte commands: 1.2 MB, over one ZooKeeper node */
    size_t cap = 300 * 4100 + 100, at = 0;
    char *s = malloc(cap), *cmd = malloc(4001);
    assert_non_null(s);
    assert_non_null(cmd);
    memset(cmd, 'x', 4000);
    cmd[4000] = '\0';
    at += (size_t)snprintf(s, cap, "{\"name\":\"w\",\"tasks\":{");
    for (int i = 0; i < 300; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s\"t%d\":{\"command\":\"%s\"}", i ? "," : "", i,
                               cmd);
    snprintf(s + at, cap - at, "}}");
    struct wf_def *d = parse_ok(s);
    struct sc_err err;
    sc_err_clear(&err);
    assert_int_equal(wf_check_size(d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "over the 1000000 bytes"));
    wf_free(d);
    free(s);
    free(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_design_example), cmocka_unit_test(test_topo),
        cmocka_unit_test(test_cycles),         cmocka_unit_test(test_big),
        cmocka_unit_test(test_truth_table),    cmocka_unit_test(test_skip_propagation),
        cmocka_unit_test(test_run_state),      cmocka_unit_test(test_downstream_closure),
        cmocka_unit_test(test_branch_follow),  cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_check_jobs_and_index),
        cmocka_unit_test(test_raw_bytes),      cmocka_unit_test(test_stored_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
