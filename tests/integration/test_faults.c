/* tests/integration/test_faults.c: the reproduced coordination faults of the
 * safety review, each against real agents and a real ZooKeeper, each checked
 * from what the jobs themselves logged (tests/lib/runlog.h):
 *
 *   skew      a handoff between agents whose clocks are +1 s and -1 s apart
 *             (inside the skew limit) runs no fire twice;
 *   retry     an item whose run waits for a retry (backoff 120 s) moves to a
 *             joining agent at once (draining means running, not waiting);
 *   stale     kill -9 an owner during a run, let the survivor re-run it, then
 *             stop the survivor: the third owner does not run it again (only
 *             the direct successor re-runs, from the current record);
 *   finished  kill -9 an owner right after a run ended: the survivor does not
 *             re-run it (a run's end reaches the record at once);
 *   stuck     an agent that never acknowledges an epoch is evicted within the
 *             bound (by the leader, or by itself: own_apply_overdue), and its
 *             items run elsewhere;
 *   stuck-leader  the same when the stuck agent leads: nobody can evict it,
 *             it evicts itself and keeps leading, not ready;
 *   jump      an agent's wall clock jumps 30 s forward: it runs nothing under
 *             the jumped clock, and no fire runs twice.
 *   vjump     an agent sees an owner vanish, its wall clock then jumps 17 s
 *             forward before it takes the item over: no fire runs twice.
 *
 * Waits poll observable state (the run log, /status) with deadlines. */
#include <setjmp.h>
#include <signal.h>
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
#include "registry/plan.h"
#include "registry/zkcli.h"
#include "tests/lib/agents.h"
#include "tests/lib/runlog.h"
#include "tests/lib/testenv.h"

#define SESSION_MS 2000
#define MAX_RUNS 4096
#define LIBFAKETIME "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

static struct rl_run runs[MAX_RUNS];

struct fx {
    struct ta_cluster c;
    char out[512];
    /* agents run with faked clocks: their /status owned_since is in their own
     * clock, so the double-claim checker cannot compare them; the run log
     * (one real clock) decides */
    bool skewed;
};

static void fx_init(struct fx *f, const char *tag)
{
    memset(f, 0, sizeof *f);
    snprintf(f->c.ns, sizeof f->c.ns, "it_faults_%s_%d", tag, (int)getpid());
    f->c.session_ms = SESSION_MS;
    snprintf(f->out, sizeof f->out, "%s/%s.out", tenv("SC_TEST_TMP"), f->c.ns);
}

/* fx_job: create job `name` through the writers' path (with its change-log
 * entry); `extra` is more JSON fields (",\"retries\":1" ...). */
static void fx_job(struct fx *f, const char *name, const char *cron, int shards, const char *secs,
                   int status, const char *extra)
{
    char cmd[2048], job[4096];
    struct sc_err err;
    rl_command(cmd, sizeof cmd, f->out, secs, status);
    snprintf(job, sizeof job,
             "{\"name\":\"%s\",\"cron\":\"%s\",\"shards\":%d,\"command\":\"%s\"%s}", name, cron,
             shards, cmd, extra ? extra : "");
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), f->c.ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    assert_int_equal(zkcli_job_create(k, name, job, (int)strlen(job)), ZOK);
    zkcli_close(k);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* watch_for: sample ownership (the double-claim checker) for `ms`. */
static void watch_for(struct fx *f, int ms)
{
    long long end = tenv_now_ms() + ms;
    while (tenv_now_ms() < end) {
        ta_sample(&f->c);
        pause_ms(50);
    }
}

/* owner_of: the one agent owning (job, item) in a fresh round, or -1. */
static int owner_of(struct fx *f, const char *job, int item)
{
    int o = -1;
    return ta_owners(&f->c, job, item, &o) == 1 ? o : -1;
}

struct own_wait {
    struct fx *f;
    const char *job;
    int items;
    int agent; /* -1: any single owner per item */
    int min;   /* with agent >= 0: at least this many items owned by it */
};

static bool owned(void *arg)
{
    struct own_wait *w = arg;
    int mine = 0;
    ta_sample(&w->f->c);
    for (int i = 0; i < w->items; i++) {
        int o = owner_of(w->f, w->job, i);
        if (o < 0)
            return false;
        mine += o == w->agent;
    }
    return w->agent < 0 || mine >= w->min;
}

/* wait_owned: every item of `job` has exactly one owner (and `agent` owns at
 * least `min`), within `deadline_ms`. */
static bool wait_owned(struct fx *f, const char *job, int items, int agent, int min,
                       int deadline_ms)
{
    struct own_wait w = {f, job, items, agent, min};
    return tenv_wait(owned, &w, deadline_ms, 100);
}

struct log_wait {
    struct fx *f;
    bool (*pred)(const struct rl_run *r, int n, void *arg);
    void *arg;
};

static bool log_holds(void *arg)
{
    struct log_wait *w = arg;
    ta_sample(&w->f->c);
    int n = rl_load(w->f->out, runs, MAX_RUNS);
    return w->pred(runs, n, w->arg);
}

static bool wait_log(struct fx *f, bool (*pred)(const struct rl_run *, int, void *), void *arg,
                     int deadline_ms)
{
    struct log_wait w = {f, pred, arg};
    return tenv_wait(log_holds, &w, deadline_ms, 50);
}

static void fx_finish(struct fx *f, const char *what)
{
    char san[900], first[512];
    int v = f->skewed ? 0 : f->c.violations;
    snprintf(first, sizeof first, "%s", f->c.first_violation);
    ta_stop_all(&f->c);
    if (v)
        fail_msg("%s: %d double claims; first: %s", what, v, first);
    if (ta_sanitizer_reports(&f->c, san, sizeof san))
        fail_msg("%s: sanitizer report in an agent: %s", what, san);
    int n = rl_check(runs, rl_load(f->out, runs, MAX_RUNS), what);
    fprintf(stderr, "   %s: %d runs, none twice, none overlapping\n", what, n);
}

/* ---------------------------------------------------------------- skew */

static bool ran_all_items_recently(const struct rl_run *r, int n, void *arg)
{
    int items = *(int *)arg, seen = 0;
    long long now = time(NULL);
    for (int i = 0; i < items; i++)
        for (int k = 0; k < n; k++)
            if (r[k].item == i && r[k].fire >= now - 3) {
                seen++;
                break;
            }
    return seen == items;
}

static void test_skew_handoff(void **state)
{
    (void)state;
    struct fx f;
    int items = 6;
    fx_init(&f, "skew");
    f.skewed = true;
    const char *ahead[] = {"env", LIBFAKETIME, "FAKETIME=+1s", NULL};
    const char *behind[] = {"env", LIBFAKETIME, "FAKETIME=-1s", NULL};
    f.c.wrapper = ahead;
    assert_true(ta_start(&f.c, "ahead", NULL) >= 0);
    f.c.wrapper = NULL;
    fx_job(&f, "sk", "* * * * * ?", items, "0.2", 0, NULL);
    assert_true(wait_owned(&f, "sk", items, 0, items, 20000));
    assert_true(wait_log(&f, ran_all_items_recently, &items, 15000));
    /* The new owner's clock is 2 s behind the old owner's: before the fix it
     * ran the fires the old owner had run in those 2 s again. */
    f.c.wrapper = behind;
    assert_true(ta_start(&f.c, "behind", NULL) >= 0);
    f.c.wrapper = NULL;
    assert_true(wait_owned(&f, "sk", items, 1, 1, 20000));
    watch_for(&f, 4000);
    /* And back: the item's new owner is ahead (a gap, never a repeat). */
    ta_kill(&f.c, 1, SIGTERM);
    assert_true(ta_wait_exit(&f.c, 1, 10000) >= 0);
    assert_true(wait_owned(&f, "sk", items, 0, items, 20000));
    watch_for(&f, 3000);
    fx_finish(&f, "skew handoff");
}

/* ---------------------------------------------------------------- retry */

static bool failed_once(const struct rl_run *r, int n, void *arg)
{
    int items = *(int *)arg, seen = 0;
    for (int i = 0; i < items; i++)
        for (int k = 0; k < n; k++)
            if (r[k].item == i && r[k].end_ns) {
                seen++;
                break;
            }
    return seen == items;
}

static void test_retry_backoff_handoff(void **state)
{
    (void)state;
    struct fx f;
    int items = 4;
    fx_init(&f, "retry");
    assert_true(ta_start(&f.c, "r1", NULL) >= 0);
    /* Fails every time; the retry waits 120 s. */
    fx_job(&f, "rb", "0/2 * * * * ?", items, "0.1", 1, ",\"retries\":1,\"retry_backoff_s\":120");
    assert_true(wait_owned(&f, "rb", items, 0, items, 20000));
    assert_true(wait_log(&f, failed_once, &items, 15000));
    /* Every item now has a retry waiting on r1. A joining agent must get its
     * share at once, not after the backoff. */
    assert_true(ta_start(&f.c, "r2", NULL) >= 0);
    assert_true(wait_owned(&f, "rb", items, 1, 1, 15000));
    watch_for(&f, 2000);
    fx_finish(&f, "retry waiting at a handoff");
}

/* ---------------------------------------------------------------- stale records */

struct run_of {
    long long fire; /* -1: any */
    const char *trigger;
    bool ended;
    long long found; /* out: the fire */
};

static bool has_run(const struct rl_run *r, int n, void *arg)
{
    struct run_of *w = arg;
    for (int k = n - 1; k >= 0; k--)
        if (r[k].item == 0 && (w->fire < 0 || r[k].fire == w->fire) &&
            (!w->trigger || strcmp(r[k].trigger, w->trigger) == 0) && (!w->ended || r[k].end_ns)) {
            w->found = r[k].fire;
            return true;
        }
    return false;
}

static int running_owner(struct fx *f)
{
    for (int i = 0; i < f->c.n; i++) {
        cJSON *st = ta_status(&f->c, i);
        cJSON *arr = st ? cJSON_GetObjectItem(cJSON_GetObjectItem(st, "running"), "st") : NULL;
        bool yes = cJSON_GetArraySize(arr) > 0;
        cJSON_Delete(st);
        if (yes)
            return i;
    }
    return -1;
}

/* in_record: agent i's record in ZooKeeper lists the run of (job, 0, fire). */
struct rec_wait {
    struct fx *f;
    int agent;
    const char *job;
    long long fire;
};

static bool in_record(void *arg)
{
    struct rec_wait *w = arg;
    struct sc_err err;
    char path[128], *data = NULL;
    int len = 0;
    bool yes = false;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), w->f->c.ns, NULL, 5000, &err);
    if (!k)
        return false;
    snprintf(path, sizeof path, "/agents/%s", w->f->c.a[w->agent].id);
    struct plan_agent_rec r;
    if (zkcli_get(k, path, &data, &len, NULL) == ZOK &&
        plan_agent_parse(data, len, &r, &err) == 0) {
        for (int i = 0; i < r.nrunning; i++)
            yes |= r.running[i].item == 0 && r.running[i].fire == w->fire &&
                   strcmp(r.running[i].job, w->job) == 0;
        plan_agent_clear(&r);
    }
    free(data);
    zkcli_close(k);
    return yes;
}

static void test_failover_from_stale_record(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, "stale");
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        assert_true(ta_start(&f.c, id, NULL) >= 0);
    }
    /* One item, a 4 s run every 20 s: there is time to kill twice in one run. */
    fx_job(&f, "st", "0/20 * * * * ?", 1, "4", 0, NULL);
    assert_true(wait_owned(&f, "st", 1, -1, 0, 20000));
    struct run_of w = {-1, "cron", false, 0};
    assert_true(wait_log(&f, has_run, &w, 30000));
    long long fire = w.found;
    /* Killed while running (listed as running in its record, after 1 s). */
    int x = -1;
    long long end = tenv_now_ms() + 5000;
    while ((x = running_owner(&f)) < 0 && tenv_now_ms() < end)
        pause_ms(50);
    assert_true(x >= 0);
    /* Killed while its record lists the run (from the run's first second). */
    struct rec_wait rw = {&f, x, "st", fire};
    assert_true(tenv_wait(in_record, &rw, 3000, 50));
    ta_kill(&f.c, x, SIGKILL);
    /* The survivor re-runs the cut-off run once, and it finishes. */
    struct run_of re = {fire, "failover", true, 0};
    assert_true(wait_log(&f, has_run, &re, SESSION_MS + 15000));
    int y = owner_of(&f, "st", 0);
    assert_true(y >= 0 && y != x);
    /* Stop the survivor cleanly: the third owner must not run the fire a
     * third time from the dead first owner's last record. */
    ta_kill(&f.c, y, SIGTERM);
    assert_true(ta_wait_exit(&f.c, y, 10000) >= 0);
    int z = -1;
    end = tenv_now_ms() + 15000;
    while ((z = owner_of(&f, "st", 0)) < 0 && tenv_now_ms() < end)
        pause_ms(100);
    assert_true(z >= 0 && z != x && z != y);
    watch_for(&f, 3000);
    int n = rl_load(f.out, runs, MAX_RUNS);
    assert_int_equal(rl_count(runs, n, 0, fire, NULL), 2);
    fx_finish(&f, "failover from a stale record");
}

/* ---------------------------------------------------------------- finished runs */

static void test_finished_run_not_rerun(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, "fin");
    assert_true(ta_start(&f.c, "f1", NULL) >= 0);
    assert_true(ta_start(&f.c, "f2", NULL) >= 0);
    /* 1.5 s runs: in the record (after 1 s) when they end. */
    fx_job(&f, "fn", "0/10 * * * * ?", 1, "1.5", 0, NULL);
    assert_true(wait_owned(&f, "fn", 1, -1, 0, 20000));
    int x = owner_of(&f, "fn", 0);
    assert_true(x >= 0);
    struct run_of w = {-1, "cron", true, 0};
    long long t0 = tenv_now_ms();
    /* The instant the owner says the run is over (its /status), kill it. */
    assert_true(wait_log(&f, has_run, &w, 30000));
    long long fire = w.found;
    long long end = tenv_now_ms() + 5000;
    while (running_owner(&f) >= 0 && tenv_now_ms() < end)
        ;
    ta_kill(&f.c, x, SIGKILL);
    fprintf(stderr, "   killed %d ms after waiting began\n", (int)(tenv_now_ms() - t0));
    assert_true(wait_owned(&f, "fn", 1, 1 - x, 1, SESSION_MS + 15000));
    watch_for(&f, 2000);
    int n = rl_load(f.out, runs, MAX_RUNS);
    assert_int_equal(rl_count(runs, n, 0, fire, NULL), 1);
    fx_finish(&f, "a finished run at a kill -9");
}

/* ---------------------------------------------------------------- stuck agent */

/* status_str: a string field of agent i's /status ("" when absent). */
static void status_str(struct fx *f, int i, const char *key, char *buf, size_t len)
{
    cJSON *st = ta_status(&f->c, i);
    const cJSON *v = st ? cJSON_GetObjectItem(st, key) : NULL;
    snprintf(buf, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(st);
}

static bool status_leader(struct fx *f, int i)
{
    cJSON *st = ta_status(&f->c, i);
    bool yes = st && cJSON_IsTrue(cJSON_GetObjectItem(st, "leader"));
    cJSON_Delete(st);
    return yes;
}

struct leads {
    struct fx *f;
    int agent;
};

static bool leads(void *arg)
{
    struct leads *w = arg;
    return status_leader(w->f, w->agent);
}

/* ran_since: every item ran a fire labelled at or after `since`. */
struct ran_since {
    int items;
    long long since;
};

static bool all_ran_since(const struct rl_run *r, int n, void *arg)
{
    struct ran_since *w = arg;
    int seen = 0;
    for (int i = 0; i < w->items; i++)
        for (int k = 0; k < n; k++)
            if (r[k].item == i && r[k].fire >= w->since) {
                seen++;
                break;
            }
    return seen == w->items;
}

static void test_stuck_agent_evicted(void **state)
{
    (void)state;
    struct fx f;
    int items = 4;
    char reason[200];
    fx_init(&f, "stuck");
    assert_true(ta_start(&f.c, "ok", NULL) >= 0);
    fx_job(&f, "sa", "* * * * * ?", items, "0.1", 0, NULL);
    assert_true(wait_owned(&f, "sa", items, 0, items, 20000));
    /* A second agent that applies its first epoch and then never another:
     * it is published as a member and never acknowledges. */
    setenv("SHARDCRON_TEST_FAULT", "stall_apply", 1);
    int s = ta_start(&f.c, "stuck", NULL);
    unsetenv("SHARDCRON_TEST_FAULT");
    assert_true(s >= 0);
    long long t0 = tenv_now_ms();
    /* Its share stops running on "ok" (moved to it, never started) ... */
    struct own_wait lost = {&f, "sa", items, 0, items};
    long long end = tenv_now_ms() + 15000;
    while (owned(&lost) && tenv_now_ms() < end)
        pause_ms(100);
    /* ... until it is evicted — by the leader, 2 T + 5 s after the epoch's
     * publication, or by itself, as long after it saw the epoch, whichever
     * comes first — and "ok" takes all back (after the stuck agent's lease
     * T when the leader evicted it; at once when it evicted itself: it
     * killed its runs before its node went). */
    int bound = 2 * SESSION_MS + 5000;
    assert_true(wait_owned(&f, "sa", items, 0, items, bound + SESSION_MS + 15000));
    long long back = time(NULL);
    status_str(&f, s, "reason", reason, sizeof reason);
    fprintf(stderr,
            "   all items back on the healthy agent %lld ms after the stuck one joined (evicted "
            "%s)\n",
            tenv_now_ms() - t0,
            strcmp(reason, "apply stalled") == 0 ? "by itself" : "by the leader");
    /* It stays out (quarantined, or not ready: "apply stalled"), the items
     * keep one owner each and every one of them runs again. */
    watch_for(&f, 4000);
    assert_true(wait_owned(&f, "sa", items, 0, items, 1000));
    struct ran_since rs = {items, back};
    assert_true(wait_log(&f, all_ran_since, &rs, 5000));
    fx_finish(&f, "a stuck agent");
}

static void test_stuck_leader_evicts_itself(void **state)
{
    (void)state;
    struct fx f;
    int items = 4;
    char reason[200];
    fx_init(&f, "stuckl");
    /* The stuck agent starts first and leads: no leader evicts it. */
    setenv("SHARDCRON_TEST_FAULT", "stall_apply", 1);
    int s = ta_start(&f.c, "stuck", NULL);
    unsetenv("SHARDCRON_TEST_FAULT");
    assert_true(s >= 0);
    struct leads lw = {&f, s};
    assert_true(tenv_wait(leads, &lw, 20000, 100));
    /* It applied its first epoch; the next one (the job's shapes, itself as a
     * member) it publishes and never applies: nobody runs its items ... */
    fx_job(&f, "sl", "* * * * * ?", items, "0.1", 0, NULL);
    long long t0 = tenv_now_ms();
    int ok = ta_start(&f.c, "ok", NULL);
    assert_true(ok >= 0);
    /* ... until it evicts itself (own_apply_overdue: 2 T + 5 s after it saw
     * the epoch): not ready, left out of the next epoch, which gives "ok"
     * every item. */
    int bound = 2 * SESSION_MS + 5000;
    assert_true(wait_owned(&f, "sl", items, ok, items, bound + SESSION_MS + 15000));
    long long back = time(NULL);
    fprintf(stderr, "   all items on the healthy agent %lld ms after the job was created\n",
            tenv_now_ms() - t0);
    status_str(&f, s, "reason", reason, sizeof reason);
    assert_string_equal(reason, "apply stalled");
    assert_true(status_leader(&f, s)); /* it still leads (publishes), owning nothing */
    watch_for(&f, 4000);
    assert_true(wait_owned(&f, "sl", items, ok, items, 1000));
    struct ran_since rs = {items, back};
    assert_true(wait_log(&f, all_ran_since, &rs, 5000));
    fx_finish(&f, "a stuck leader");
}

/* ---------------------------------------------------------------- clock jump */

static bool none_in_future(const struct rl_run *r, int n, long long limit)
{
    for (int k = 0; k < n; k++)
        if (r[k].fire > limit)
            return false;
    return true;
}

static void test_clock_jump_forward(void **state)
{
    (void)state;
    struct fx f;
    char file[600], env_file[700];
    fx_init(&f, "jump");
    f.skewed = true;
    snprintf(file, sizeof file, "%s/%s.faketime", tenv("SC_TEST_TMP"), f.c.ns);
    FILE *ft = fopen(file, "w");
    assert_non_null(ft);
    fputs("+0\n", ft);
    fclose(ft);
    snprintf(env_file, sizeof env_file, "FAKETIME_TIMESTAMP_FILE=%s", file);
    const char *jumpy[] = {"env", LIBFAKETIME, env_file, "FAKETIME_NO_CACHE=1", NULL};
    f.c.wrapper = jumpy;
    assert_true(ta_start(&f.c, "jumpy", NULL) >= 0);
    f.c.wrapper = NULL;
    assert_true(ta_start(&f.c, "steady", NULL) >= 0);
    int items = 4;
    fx_job(&f, "jp", "* * * * * ?", items, "0.1", 0, ",\"misfire\":\"once\"");
    assert_true(wait_owned(&f, "jp", items, 0, 1, 20000));
    /* The jumpy agent's wall clock leaps 30 s ahead. */
    ft = fopen(file, "w");
    assert_non_null(ft);
    fputs("+30s\n", ft);
    fclose(ft);
    long long jumped = time(NULL);
    /* Its items move to the steady agent (its clock is out of bounds). */
    assert_true(wait_owned(&f, "jp", items, 1, items, 20000));
    watch_for(&f, 3000);
    int n = rl_load(f.out, runs, MAX_RUNS);
    /* No fire labelled in the future of the real clock ran anywhere. */
    if (!none_in_future(runs, n, time(NULL) + 2))
        fail_msg("a fire labelled in the future ran (the jumped clock's) after the jump at %lld",
                 jumped);
    fx_finish(&f, "a forward clock jump");
}

/* ---------------------------------------------------------------- vanishing, jump, takeover */

struct member_wait {
    struct fx *f;
    const char *id;
};

struct starts_since {
    int n;
    long long since_ns; /* real clock */
};

/* started_since: at least n runs started since since_ns. */
static bool started_since(const struct rl_run *r, int n, void *arg)
{
    struct starts_since *w = arg;
    int seen = 0;
    for (int k = 0; k < n; k++)
        seen += r[k].start_ns >= w->since_ns;
    return seen >= w->n;
}

/* node_gone: agent `id`'s node is gone (its session ended). */
static bool node_gone(void *arg)
{
    struct member_wait *w = arg;
    struct sc_err err;
    char path[200];
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), w->f->c.ns, NULL, 5000, &err);
    if (!k)
        return false;
    snprintf(path, sizeof path, "/agents/%s", w->id);
    bool gone = zkcli_exists(k, path, NULL) == ZNONODE;
    zkcli_close(k);
    return gone;
}

static void write_offset(const char *file, const char *offset)
{
    FILE *ft = fopen(file, "w");
    assert_non_null(ft);
    fputs(offset, ft);
    fclose(ft);
}

/* An owner is killed; its successor sees its node vanish, and then its own
 * wall clock steps 17 s forward (within the skew limit: -8.5 s to +8.5 s
 * against ZooKeeper, monotonic clock untouched) before it takes the item
 * over: the leader is frozen (less than its session) from before the
 * vanishing until the successor has measured its new skew, so the epoch
 * that moves the item comes after both. The takeover must read the
 * vanishing on the clock its new skew was measured by: read as the wall
 * clock said it before the jump, the dead owner's fires end 17 s early by
 * its clock, and one of its last ones runs again (before the moments were
 * kept on the monotonic clock: the first own fire of the takeover, run as a
 * misfire, was one the dead owner had run 3-4 s before its kill; the later
 * ones were skipped by the concurrency policy while it ran).
 * One item, the average strategy: the lowest id owns it, so the dead owner
 * is "d1", the successor "j1" runs nothing before the takeover (a label it
 * started under the jumped clock would bound the takeover by itself), and
 * the leader "l1" never holds it. */
static void test_clock_jump_before_takeover(void **state)
{
    (void)state;
    struct fx f;
    char file[600], env_file[700];
    fx_init(&f, "vjump");
    f.c.session_ms = 4000; /* the leader's freeze must stay under 0.9 T */
    f.skewed = true;
    snprintf(file, sizeof file, "%s/%s.faketime", tenv("SC_TEST_TMP"), f.c.ns);
    write_offset(file, "-8.5s\n");
    snprintf(env_file, sizeof env_file, "FAKETIME_TIMESTAMP_FILE=%s", file);
    const char *jumpy[] = {
        "env", LIBFAKETIME, env_file, "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1",
        NULL};
    const char *wide[] = {"--max-clock-skew-ms", "9000", NULL};
    int l = ta_start(&f.c, "l1", wide); /* first: it leads */
    assert_true(l >= 0);
    f.c.wrapper = jumpy;
    int j = ta_start(&f.c, "j1", wide);
    f.c.wrapper = NULL;
    assert_true(j >= 0);
    int k = ta_start(&f.c, "d1", wide);
    assert_true(k >= 0);
    fx_job(&f, "vj", "* * * * * ?", 1, "0.1", 0, ",\"misfire\":\"all\"");
    assert_true(wait_owned(&f, "vj", 1, k, 1, 20000));
    /* its own runs going (a taker starts some seconds on: the others'
     * clocks may be 9 s apart), six in a row: a takeover read with the
     * jump in between would put its first own fire 3-4 s before the kill */
    struct starts_since st = {6, (long long)time(NULL) * 1000000000LL};
    assert_true(wait_log(&f, started_since, &st, 30000));
    ta_kill(&f.c, k, SIGKILL);
    /* its session expires 4 s after the server last heard from it (at most
     * a heartbeat before the kill, plus a tick): freeze the leader before */
    pause_ms(2800);
    ta_kill(&f.c, l, SIGSTOP);
    long long frozen = tenv_now_ms();
    struct member_wait gw = {&f, "d1"};
    assert_true(tenv_wait(node_gone, &gw, 4000, 20));
    pause_ms(200); /* the successor has seen it go (a watch event) */
    write_offset(file, "+8.5s\n");
    long long jumped = tenv_now_ms();
    pause_ms(1300); /* its scheduler wakes (every second at most), sees the
                     * jump, and a record write measures the new skew */
    ta_kill(&f.c, l, SIGCONT);
    fprintf(stderr, "   leader frozen %lld ms\n", tenv_now_ms() - frozen);
    assert_true(wait_owned(&f, "vj", 1, j, 1, 20000));
    fprintf(stderr, "   the item on the jumped agent %lld ms after its jump\n",
            tenv_now_ms() - jumped);
    watch_for(&f, 4000);
    fx_finish(&f, "a clock jump between a vanishing and its takeover");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skew_handoff),
        cmocka_unit_test(test_retry_backoff_handoff),
        cmocka_unit_test(test_failover_from_stale_record),
        cmocka_unit_test(test_finished_run_not_rerun),
        cmocka_unit_test(test_stuck_agent_evicted),
        cmocka_unit_test(test_stuck_leader_evicts_itself),
        cmocka_unit_test(test_clock_jump_forward),
        cmocka_unit_test(test_clock_jump_before_takeover),
    };
    /* SC_TEST_CASE=name runs one of them (cmocka's filter pattern). */
    if (getenv("SC_TEST_CASE"))
        cmocka_set_test_filter(getenv("SC_TEST_CASE"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
