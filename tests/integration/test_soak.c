/* tests/integration/test_soak.c: a soak of random faults against real agents,
 * a real ZooKeeper and a real MariaDB, checked from what the jobs saw.
 *
 * Four agents run two jobs: "fast" (every second, 6 items, short runs) and
 * "slow" (every 5 s, 2 items, 2.5 s runs, so faults land inside runs and
 * failover re-runs happen). Each trial applies one fault chosen by a seeded
 * PRNG — kill -9 (and restart), SIGSTOP past the session timeout, SIGSTOP
 * within it, a ZooKeeper crash and restart, killing the leader, SIGTERM and
 * restart, a shard-count edit — then waits (with a deadline: liveness) until
 * every item has exactly one owner again. At the end, from the jobs' own run
 * logs: no fire ran twice (one failover re-run of a cut-off run allowed), no
 * two runs of an item overlapped; and from the history: every fire of the
 * fast job's items either ran or has a row (missed/skipped) — nothing lost
 * without a record.
 *
 * SC_SOAK_TRIALS (default 40, what `make test` runs; `make soak` runs 100) and
 * SC_SOAK_SEED (default: the time) set the run; the seed is printed so a
 * failure can be replayed (the timing of real processes is not). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/jobops.h"
#include "registry/zkcli.h"
#include "sql/db.h"
#include "tests/lib/agents.h"
#include "tests/lib/runlog.h"
#include "tests/lib/testdb.h"
#include "tests/lib/testenv.h"

#define SESSION_MS 2000
#define AGENTS 4
#define FAST_MIN 6 /* items the fast job always has (edits move it between 6 and 8) */
#define MAX_RUNS 65536

static struct rl_run runs[MAX_RUNS];

/* When an agent could not have recorded a run's end: frozen (SIGSTOP to
 * SIGCONT) or killed (the last moments before a kill -9). */
#define MAX_BLIND 512
struct blind {
    long long from_ns, to_ns;
};

struct soak {
    struct blind blind[MAX_BLIND];
    int nblind;
    struct ta_cluster c;
    char fast_out[512], slow_out[512];
    struct db_url db;
    char url[600];
    MYSQL *m;
    const char *extra[5];
    int fast_items;
    uint64_t rng;
    int counts[8];
};

static uint64_t next_rand(struct soak *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct zkcli *zk(struct soak *s)
{
    struct sc_err err;
    struct zkcli *k = zkcli_open(tenv("SC_TEST_ZK"), s->c.ns, NULL, 5000, &err);
    if (!k)
        fail_msg("zk: %s", err.msg);
    return k;
}

static void job_json(struct soak *s, char *buf, size_t len, const char *name, bool fast)
{
    char cmd[2048];
    if (fast)
        rl_command(cmd, sizeof cmd, s->fast_out, "0.2", 0);
    else
        rl_command(cmd, sizeof cmd, s->slow_out, "2.5", 0);
    snprintf(buf, len, "{\"name\":\"%s\",\"cron\":\"%s\",\"shards\":%d,\"command\":\"%s\"}", name,
             fast ? "* * * * * ?" : "0/5 * * * * ?", fast ? s->fast_items : 2, cmd);
}

/* settled: every item of both jobs has exactly one owner in one round. */
static bool settled(void *arg)
{
    struct soak *s = arg;
    ta_sample(&s->c);
    for (int i = 0; i < s->fast_items; i++)
        if (ta_owners(&s->c, "fast", i, NULL) != 1)
            return false;
    for (int i = 0; i < 2; i++)
        if (ta_owners(&s->c, "slow", i, NULL) != 1)
            return false;
    return true;
}

static void wait_settled(struct soak *s, int trial, const char *what)
{
    if (!tenv_wait(settled, s, 30000, 100))
        fail_msg("trial %d (%s): items not owned exactly once within 30 s", trial, what);
}

static int leader_of(struct soak *s)
{
    for (int i = 0; i < s->c.n; i++) {
        cJSON *st = ta_status(&s->c, i);
        bool yes = st && cJSON_IsTrue(cJSON_GetObjectItem(st, "leader"));
        cJSON_Delete(st);
        if (yes)
            return i;
    }
    return -1;
}

static bool zk_up(void *arg)
{
    (void)arg;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/zk start %s >/dev/null 2>&1", tenv("SC_ROOT"),
             tenv("SC_TEST_ZK_DIR"));
    return system(cmd) == 0;
}

static void restart(struct soak *s, int i)
{
    if (ta_restart(&s->c, i, s->extra) < 0)
        fail_msg("agent %s did not start again", s->c.a[i].id);
}

/* others_own: every item is owned once by agents other than i. */
struct others {
    struct soak *s;
    int i;
};

static bool others_own(void *arg)
{
    struct others *o = arg;
    if (!settled(o->s))
        return false;
    for (int k = 0; k < o->s->fast_items; k++) {
        int owner = -1;
        if (ta_owners(&o->s->c, "fast", k, &owner) != 1 || owner == o->i)
            return false;
    }
    return true;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void blind(struct soak *s, long long from_ns, long long to_ns)
{
    if (s->nblind < MAX_BLIND)
        s->blind[s->nblind++] = (struct blind){from_ns, to_ns};
}

/* ended_blind: the run ended while its agent could not record it. */
static bool ended_blind(const struct rl_run *r, void *arg)
{
    struct soak *s = arg;
    for (int i = 0; i < s->nblind; i++)
        if (r->end_ns >= s->blind[i].from_ns && r->end_ns <= s->blind[i].to_ns)
            return true;
    return false;
}

static const char *fault(struct soak *s)
{
    int kind = (int)(next_rand(s) % 7), i = (int)(next_rand(s) % AGENTS);
    s->counts[kind]++;
    switch (kind) {
    case 0: /* kill -9, back once its items run elsewhere */
        blind(s, now_ns() - 300000000LL, now_ns());
        ta_kill(&s->c, i, SIGKILL);
        {
            struct others o = {s, i};
            tenv_wait(others_own, &o, 15000, 100);
        }
        restart(s, i);
        return "kill -9";
    case 1: { /* frozen past the session timeout */
        long long from = now_ns();
        ta_kill(&s->c, i, SIGSTOP);
        struct others o = {s, i};
        tenv_wait(others_own, &o, 15000, 100);
        ta_kill(&s->c, i, SIGCONT);
        blind(s, from, now_ns());
        return "SIGSTOP past the timeout";
    }
    case 2: { /* frozen within the timeout: nothing must move, nothing run twice */
        long long from = now_ns();
        ta_kill(&s->c, i, SIGSTOP);
        pause_ms(SESSION_MS / 3 + (int)(next_rand(s) % 300));
        ta_kill(&s->c, i, SIGCONT);
        blind(s, from, now_ns());
    }
        return "SIGSTOP within the timeout";
    case 3: { /* ZooKeeper crashes and comes back on the same data */
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s/scripts/zk stop %s --kill >/dev/null 2>&1", tenv("SC_ROOT"),
                 tenv("SC_TEST_ZK_DIR"));
        if (system(cmd) != 0)
            fail_msg("stopping ZooKeeper failed");
        if (!tenv_wait(zk_up, NULL, 30000, 200))
            fail_msg("ZooKeeper did not come back");
        return "ZooKeeper restart";
    }
    case 4: { /* the leader dies */
        int l = leader_of(s);
        if (l < 0)
            l = i;
        blind(s, now_ns() - 300000000LL, now_ns());
        ta_kill(&s->c, l, SIGKILL);
        struct others o = {s, l};
        tenv_wait(others_own, &o, 15000, 100);
        restart(s, l);
        return "leader kill -9";
    }
    case 5: /* a clean stop and a start */
        ta_kill(&s->c, i, SIGTERM);
        if (ta_wait_exit(&s->c, i, 20000) < 0)
            fail_msg("agent %s did not stop on SIGTERM", s->c.a[i].id);
        restart(s, i);
        return "SIGTERM and restart";
    default: { /* a shape edit: 6 <-> 8 items */
        char job[4096];
        s->fast_items = s->fast_items == FAST_MIN ? FAST_MIN + 2 : FAST_MIN;
        job_json(s, job, sizeof job, "fast", true);
        struct zkcli *k = zk(s);
        int rc = zkcli_job_set(k, "fast", job, (int)strlen(job), -1);
        zkcli_close(k);
        if (rc != ZOK)
            fail_msg("editing job fast: %s", zerror(rc));
        return "shard count edit";
    }
    }
}

/* recorded: every (item < FAST_MIN, fire) of [first, last] ran (the log) or
 * has a history row. Counts the fires neither ran nor recorded into *lost. */
struct rec_check {
    struct soak *s;
    long long first, last;
    int n;
    int lost;
    long long lost_fire;
    int lost_item;
};

static bool recorded(void *arg)
{
    struct rec_check *r = arg;
    char sql[512];
    static unsigned char rows[FAST_MIN][200000];
    long long span = r->last - r->first + 1;
    if (span <= 0 || span > 200000)
        return true;
    memset(rows, 0, sizeof rows);
    snprintf(sql, sizeof sql,
             "SELECT item, TIMESTAMPDIFF(SECOND, '1970-01-01', fire_time) FROM job_execution"
             " WHERE job = 'fast' AND item < %d",
             FAST_MIN);
    tdb_exec(r->s->m, sql);
    MYSQL_RES *res = mysql_store_result(r->s->m);
    if (!res)
        return false;
    for (MYSQL_ROW row; (row = mysql_fetch_row(res));) {
        long long t = atoll(row[1]) - r->first;
        int item = atoi(row[0]);
        if (t >= 0 && t < span && item >= 0 && item < FAST_MIN)
            rows[item][t] = 1;
    }
    mysql_free_result(res);
    for (int i = 0; i < r->n; i++) {
        long long t = runs[i].fire - r->first;
        if (t >= 0 && t < span && runs[i].item < FAST_MIN)
            rows[runs[i].item][t] = 1;
    }
    r->lost = 0;
    for (int item = 0; item < FAST_MIN; item++)
        for (long long t = 0; t < span; t++)
            if (!rows[item][t]) {
                if (!r->lost++) {
                    r->lost_item = item;
                    r->lost_fire = r->first + t;
                }
            }
    return r->lost == 0;
}

static void test_soak(void **state)
{
    (void)state;
    struct soak s;
    char job[4096];
    memset(&s, 0, sizeof s);
    const char *tv = getenv("SC_SOAK_TRIALS"), *sv = getenv("SC_SOAK_SEED");
    int trials = tv ? atoi(tv) : 40;
    s.rng = sv ? strtoull(sv, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "   soak: %d trials, seed %llu (SC_SOAK_SEED replays it)\n", trials,
            (unsigned long long)s.rng);
    snprintf(s.c.ns, sizeof s.c.ns, "it_soak_%d", (int)getpid());
    s.c.session_ms = SESSION_MS;
    snprintf(s.fast_out, sizeof s.fast_out, "%s/%s.fast", tenv("SC_TEST_TMP"), s.c.ns);
    snprintf(s.slow_out, sizeof s.slow_out, "%s/%s.slow", tenv("SC_TEST_TMP"), s.c.ns);
    s.m = tdb_scratch(&s.db, s.url, sizeof s.url, "soak");
    const char *extra[] = {"--mysql", s.url, "--mysql-password-file",
                           tenv("SC_TEST_MYSQL_PASSWORD_FILE"), NULL};
    memcpy(s.extra, extra, sizeof extra);
    for (int i = 0; i < AGENTS; i++) {
        char id[16];
        snprintf(id, sizeof id, "k%d", i + 1);
        assert_true(ta_start(&s.c, id, s.extra) >= 0);
    }
    s.fast_items = FAST_MIN;
    struct zkcli *k = zk(&s);
    assert_int_equal(zkcli_ensure(k, "/jobs"), ZOK);
    job_json(&s, job, sizeof job, "fast", true);
    assert_int_equal(zkcli_job_create(k, "fast", job, (int)strlen(job)), ZOK);
    job_json(&s, job, sizeof job, "slow", false);
    assert_int_equal(zkcli_job_create(k, "slow", job, (int)strlen(job)), ZOK);
    zkcli_close(k);
    wait_settled(&s, 0, "start");
    long long first = time(NULL) + 2, t0 = tenv_now_ms();
    for (int t = 1; t <= trials; t++) {
        const char *what = fault(&s);
        wait_settled(&s, t, what);
        /* a little steady running between faults */
        long long end = tenv_now_ms() + 300 + (long long)(next_rand(&s) % 1200);
        while (tenv_now_ms() < end) {
            ta_sample(&s.c);
            pause_ms(50);
        }
    }
    pause_ms(1500);
    long long last = time(NULL) - 3;
    char san[900], firstv[512];
    int v = s.c.violations;
    snprintf(firstv, sizeof firstv, "%s", s.c.first_violation);
    ta_stop_all(&s.c);
    if (v)
        fail_msg("%d double claims; first: %s", v, firstv);
    if (ta_sanitizer_reports(&s.c, san, sizeof san))
        fail_msg("sanitizer report in an agent: %s", san);
    int excused_s = 0, excused_f = 0;
    int ns = rl_check_excused(runs, rl_load(s.slow_out, runs, MAX_RUNS), "soak, slow job",
                              ended_blind, &s, &excused_s);
    int reruns = 0;
    for (int i = 0; i < ns; i++)
        reruns += strcmp(runs[i].trigger, "failover") == 0;
    int nf = rl_check_excused(runs, rl_load(s.fast_out, runs, MAX_RUNS), "soak, fast job",
                              ended_blind, &s, &excused_f);
    tdb_exec(s.m, "SET time_zone = '+00:00'");
    struct rec_check rc = {&s, first, last, nf, 0, 0, 0};
    if (!tenv_wait(recorded, &rc, 20000, 500))
        fail_msg("%d fires of the fast job neither ran nor were recorded; first: item %d fire %lld",
                 rc.lost, rc.lost_item, rc.lost_fire);
    fprintf(
        stderr,
        "   soak: %d trials in %lld s (kill -9 %d, SIGSTOP past %d, SIGSTOP within %d, ZooKeeper "
        "restart %d, leader kill %d, SIGTERM %d, edits %d); fast: %d runs, slow: %d runs "
        "(%d failover re-runs); 0 double runs, 0 overlaps, 0 fires lost without a record "
        "over %lld s; %d re-runs of runs whose end their frozen or killed agent could not "
        "record (the window docs/coordination.md names)\n",
        trials, (tenv_now_ms() - t0) / 1000, s.counts[0], s.counts[1], s.counts[2], s.counts[3],
        s.counts[4], s.counts[5], s.counts[6], nf, ns, reruns, last - first + 1,
        excused_s + excused_f);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s.db.db);
    tdb_exec(s.m, sql);
    mysql_close(s.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
