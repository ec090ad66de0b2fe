/* tests/integration/test_recreate.c: a job deleted and created again at once
 * (between two listings of /jobs, so both listings hold it) with another
 * shape: every agent takes the new config — the create's change-log entry
 * makes it re-read — so the job-shape digests agree, the new epoch is applied
 * and every new item runs, once (docs/coordination.md, "Job changes" and
 * "Claims checked"). Real agents, a real ZooKeeper; the run log decides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/jobops.h"
#include "registry/zkcli.h"
#include "tests/lib/agents.h"
#include "tests/lib/runlog.h"
#include "tests/lib/testenv.h"

#define MAX_RUNS 4096
/* 3: the delete, the create and its change-log entry; 2 leaves the entry out
 * (as a raw write would), to see this test fail */
#ifndef RECREATE_OPS
#define RECREATE_OPS 3
#endif

static struct rl_run runs[MAX_RUNS];

struct owned {
    struct ta_cluster *c;
    int items;
};

static bool each_owned_once(void *arg)
{
    struct owned *w = arg;
    ta_sample(w->c);
    for (int i = 0; i < w->items; i++) {
        int o = -1;
        if (ta_owners(w->c, "dr", i, &o) != 1)
            return false;
    }
    return true;
}

struct ran {
    const char *out;
    int items;
    long long since;
};

static bool each_ran_since(void *arg)
{
    struct ran *w = arg;
    int n = rl_load(w->out, runs, MAX_RUNS);
    for (int i = 0; i < w->items; i++) {
        bool seen = false;
        for (int k = 0; k < n && !seen; k++)
            seen = runs[k].item == i && runs[k].fire >= w->since;
        if (!seen)
            return false;
    }
    return true;
}

static void job_json(char *buf, size_t len, const char *out, int shards)
{
    char cmd[2048];
    rl_command(cmd, sizeof cmd, out, "0.1", 0);
    snprintf(buf, len,
             "{\"name\":\"dr\",\"cron\":\"* * * * * ?\",\"shards\":%d,\"command\":\"%s\"}", shards,
             cmd);
}

static void test_delete_and_recreate(void **state)
{
    (void)state;
    struct ta_cluster c;
    struct sc_err err;
    char out[600], job[4096];
    memset(&c, 0, sizeof c);
    snprintf(c.ns, sizeof c.ns, "it_recreate_%d", (int)getpid());
    c.session_ms = 2000;
    snprintf(out, sizeof out, "%s/%s.out", tenv("SC_TEST_TMP"), c.ns);
    unlink(out);
    assert_int_equal(ta_start(&c, "d1", NULL), 0);
    assert_int_equal(ta_start(&c, "d2", NULL), 1);
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), c.ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    job_json(job, sizeof job, out, 2);
    assert_int_equal(zkcli_job_create(k, "dr", job, (int)strlen(job)), ZOK);
    struct owned w = {&c, 2};
    assert_true(tenv_wait(each_owned_once, &w, 20000, 100));

    /* Deleted and created again with 4 items in one transaction (the
     * tightest case of a delete and a create between two listings: no agent
     * can list /jobs without "dr"), the create logged as the writers log it
     * (jobops_create). */
    job_json(job, sizeof job, out, 4);
    struct jobops jo = {0};
    jobops_create(&jo, "dr", job, (int)strlen(job));
    struct zkreg_op ops[3] = {
        {.type = ZKOP_DELETE, .path = "/jobs/dr", .version = -1}, jo.ops[0], jo.ops[1]};
    int op_rc[3];
    assert_int_equal(zkcli_multi(k, ops, RECREATE_OPS, op_rc), ZOK);
    zkcli_close(k);
    long long t0 = tenv_now_ms(), since = time(NULL) + 1;
    w.items = 4;
    if (!tenv_wait(each_owned_once, &w, 20000, 100))
        fail_msg("the 4 items of the recreated job are not each owned once within 20 s (stale "
                 "config: the digests never agree)");
    struct ran r = {out, 4, since};
    assert_true(tenv_wait(each_ran_since, &r, 10000, 100));
    fprintf(stderr, "   recreated job: 4 items owned and run %lld ms after the recreate\n",
            tenv_now_ms() - t0);
    int violations = c.violations;
    char first[512], san[900];
    snprintf(first, sizeof first, "%s", c.first_violation);
    ta_stop_all(&c);
    if (violations)
        fail_msg("%d double claims; first: %s", violations, first);
    if (ta_sanitizer_reports(&c, san, sizeof san))
        fail_msg("sanitizer report in an agent: %s", san);
    rl_check(runs, rl_load(out, runs, MAX_RUNS), "delete and recreate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_and_recreate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
