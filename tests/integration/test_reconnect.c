/* tests/integration/test_reconnect.c: a connection to ZooKeeper that breaks
 * and comes back on the same session, with real agents, a real ZooKeeper and
 * a TCP proxy (tests/lib/tcp_proxy.py) between one agent and the server.
 *
 * ZooKeeper's client re-registers the watches it holds when it reconnects
 * (and the server fires those whose node changed meanwhile), so a break costs
 * nothing while no read is in flight. What a break loses is a read in flight:
 * a watch notification arrived, the agent asked for the new data, and the
 * connection broke before the reply — the read fails with connection loss and
 * sets no watch. So the *_read_in_flight tests hold the agent's requests (the
 * server's replies and notifications still reach it), make the change, wait
 * until the proxy holds the very read the change caused, and then reset the
 * connection (RST on both sides); the other two are controls with nothing in
 * flight. The agent reconnects through the proxy on the same session.
 *
 *   reshard_read_in_flight      three agents; a job goes from 6 to 9 shards
 *                               and the proxied agent's read of the new
 *                               snapshot is reset: every agent applies the new
 *                               epoch, all 9 items run, each on one agent;
 *   reshard_notifications_held  the same with both directions held: the
 *                               notifications themselves are dropped;
 *   election_read_in_flight     the proxied agent is third in the election;
 *                               the second stops and the proxied agent's
 *                               listing of /election (which would put its
 *                               watch on the leader) is reset; then the leader
 *                               is killed -9: the proxied agent must take over
 *                               and apply a further job edit;
 *   election_watch_set          it is second, already watching the leader;
 *                               held both ways, reset, leader killed -9.
 *
 * Against the agent from before the reconnect re-reads (the parent of
 * 31bdfbd) both *_read_in_flight tests fail: the reshard one stays on the old
 * epoch until the leader evicts it, in the election one nobody leads. The
 * election one still fails on an agent that does not list /election again on
 * reconnect (docs/coordination.md, "Reconnects"). No fire may start twice or
 * overlap (the jobs' own run log), and no two agents may claim one item.
 * Waits poll observable state (/status, the proxy's answers, ZooKeeper, the
 * jobs' run log) with deadlines. */
#include <inttypes.h>
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
#include "tests/lib/proxy.h"
#include "tests/lib/runlog.h"
#include "tests/lib/testenv.h"

/* ZooKeeper's largest (20 ticks of 200 ms): a loaded machine stalls the test
 * server for a second or two now and then, which must not cost a session. */
#define SESSION_MS 4000
#define MAX_RUNS 8192
/* How long the proxied agent's requests may be held: its lease counts its
 * session lost at T - T/10 without an answer; well inside that. */
#define HOLD_MAX_MS (SESSION_MS * 3 / 5)
/* The leader evicts an agent that has not acknowledged an epoch 2 T + 5 s
 * after its publication, and the items settle without it: an agent stuck on
 * the old epoch is named only by a wait that ends before that. */
#define SETTLE_MS (2 * SESSION_MS + 5000 - 1000)

static struct rl_run runs[MAX_RUNS];

struct fx {
    struct ta_cluster c;
    struct tp_proxy p;
    struct zkcli *k; /* through fx_k */
    long long k_used;
    char out[512];
    char plog[512];
};

/* The test's fixture is static: a failed assertion leaves the test by
 * longjmp, and fx_teardown still stops its agents and proxy and frees it. */
static struct fx fx_g;

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* fx_k: the test's own ZooKeeper handle. zkcli runs its session only inside
 * a call, so one left idle while agents start (seconds under load) counts its
 * session lost and fails the next call: a handle idle for a second is
 * replaced. */
static struct zkcli *fx_k(struct fx *f)
{
    struct sc_err err;
    if (f->k && tenv_now_ms() - f->k_used > 1000) {
        zkcli_close(f->k);
        f->k = NULL;
    }
    if (!f->k && !(f->k = zkcli_open(tenv("SC_TEST_ZK"), f->c.ns, NULL, 5000, &err)))
        fail_msg("zk: %s", err.msg);
    f->k_used = tenv_now_ms();
    return f->k;
}

static void fx_init(struct fx *f, const char *tag)
{
    memset(f, 0, sizeof *f);
    f->p.to = f->p.from = -1;
    snprintf(f->c.ns, sizeof f->c.ns, "it_reconn_%s_%d", tag, (int)getpid());
    f->c.session_ms = SESSION_MS;
    snprintf(f->out, sizeof f->out, "%s/%s.out", tenv("SC_TEST_TMP"), f->c.ns);
    snprintf(f->plog, sizeof f->plog, "%s/%s.proxy.log", tenv("SC_TEST_TMP"), f->c.ns);
    assert_int_equal(zkcli_ensure(fx_k(f), "/jobs"), ZOK);
    if (tp_start(&f->p, tenv("SC_TEST_ZK"), f->plog) < 0)
        fail_msg("the TCP proxy (tests/lib/tcp_proxy.py) did not start");
}

/* fx_start: agent `id`, through the proxy when `proxied`; returns its index. */
static int fx_start(struct fx *f, const char *id, bool proxied)
{
    const char *via[] = {"--zk", f->p.addr, "--log-level", "info", NULL};
    int i = ta_start(&f->c, id, proxied ? via : NULL);
    assert_true(i >= 0);
    return i;
}

static void job_json(struct fx *f, char *buf, size_t len, const char *name, int shards)
{
    char cmd[2048];
    rl_command(cmd, sizeof cmd, f->out, "0.2", 0);
    snprintf(buf, len,
             "{\"name\":\"%s\",\"cron\":\"* * * * * ?\",\"shards\":%d,\"command\":\"%s\"}", name,
             shards, cmd);
}

/* fx_job: create or rewrite job `name` through the writers' path (the job and
 * its change-log entry in one multi-op). */
static void fx_job(struct fx *f, const char *name, int shards, bool create)
{
    char job[4096];
    job_json(f, job, sizeof job, name, shards);
    int n = (int)strlen(job);
    assert_int_equal(create ? zkcli_job_create(fx_k(f), name, job, n)
                            : zkcli_job_set(fx_k(f), name, job, n, -1),
                     ZOK);
}

/* published_epoch: the epoch of /state/assignment (0 when none). */
static int64_t published_epoch(struct fx *f)
{
    char *data = NULL;
    int len = 0;
    int64_t e = 0;
    struct sc_err err;
    struct plan_snapshot s;
    if (zkcli_get(fx_k(f), "/state/assignment", &data, &len, NULL) == ZOK &&
        plan_snapshot_parse(data, len, &s, &err) == 0) {
        e = s.epoch;
        plan_snapshot_clear(&s);
    }
    free(data);
    return e;
}

/* session_of: the session owning agent i's registration node and the zxid
 * that created it (0, 0 when it has none). */
static void session_of(struct fx *f, int i, int64_t *owner, int64_t *czxid)
{
    char path[128];
    struct Stat st;
    snprintf(path, sizeof path, "/agents/%s", f->c.a[i].id);
    *owner = *czxid = 0;
    if (zkcli_exists(fx_k(f), path, &st) == ZOK) {
        *owner = st.ephemeralOwner;
        *czxid = st.czxid;
    }
}

static long long metric(struct fx *f, int i, const char *name)
{
    char *m = ta_get(&f->c, i, "/metrics");
    char key[128];
    long long v = -1;
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = m ? strstr(m, key) : NULL;
    if (p)
        v = atoll(p + strlen(key));
    free(m);
    return v;
}

static int status_int(struct fx *f, int i, const char *key)
{
    cJSON *st = ta_status(&f->c, i);
    const cJSON *v = st ? cJSON_GetObjectItem(st, key) : NULL;
    int r = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(st);
    return r;
}

static bool status_leader(struct fx *f, int i)
{
    cJSON *st = ta_status(&f->c, i);
    bool yes = st && cJSON_IsTrue(cJSON_GetObjectItem(st, "leader"));
    cJSON_Delete(st);
    return yes;
}

/* ---------------------------------------------------------------- waits */

struct settled {
    struct fx *f;
    const char *job;
    int items;
    int64_t min_epoch;   /* every live agent applied the published epoch, at least this */
    long long ran_since; /* every item ran a fire labelled at or after this (0: not asked) */
    char why[300];       /* what was still missing at the last look */
};

/* all_settled: one look at the cluster: the published epoch is at least
 * min_epoch and applied by every live agent, every item of the job is owned
 * by exactly one agent, and (ran_since) every item ran since. */
static bool all_settled(void *arg)
{
    struct settled *w = arg;
    struct fx *f = w->f;
    int64_t e = published_epoch(f);
    ta_sample(&f->c);
    if (e < w->min_epoch) {
        snprintf(w->why, sizeof w->why, "published epoch %" PRId64 " < %" PRId64, e, w->min_epoch);
        return false;
    }
    for (int i = 0; i < f->c.n; i++) {
        if (f->c.a[i].pid <= 0)
            continue;
        int applied = status_int(f, i, "applied_epoch");
        if (applied != e) {
            snprintf(w->why, sizeof w->why, "%s applied epoch %d, published %" PRId64, f->c.a[i].id,
                     applied, e);
            return false;
        }
    }
    for (int it = 0; it < w->items; it++) {
        int o = -1, n = ta_owners(&f->c, w->job, it, &o);
        if (n != 1) {
            snprintf(w->why, sizeof w->why, "item %d of %s owned by %d agents", it, w->job, n);
            return false;
        }
    }
    if (w->ran_since) {
        int n = rl_load(f->out, runs, MAX_RUNS);
        for (int it = 0; it < w->items; it++) {
            bool ran = false;
            for (int k = 0; k < n && !ran; k++)
                ran = runs[k].item == it && runs[k].fire >= w->ran_since;
            if (!ran) {
                snprintf(w->why, sizeof w->why, "item %d ran no fire since %lld", it, w->ran_since);
                return false;
            }
        }
    }
    return true;
}

static void wait_settled(struct fx *f, const char *job, int items, int64_t min_epoch,
                         long long ran_since, int deadline_ms, const char *what)
{
    struct settled w = {f, job, items, min_epoch, ran_since, ""};
    long long t0 = tenv_now_ms();
    if (!tenv_wait(all_settled, &w, deadline_ms, 100))
        fail_msg("%s: not settled within %d ms: %s", what, deadline_ms, w.why);
    fprintf(stderr, "   %s: settled in %lld ms\n", what, tenv_now_ms() - t0);
}

struct held {
    struct fx *f;
    char what[200]; /* a held request or notification to wait for (proxy_holds) */
};

static bool proxy_holds(void *arg)
{
    struct held *h = arg;
    return tp_holds(&h->f->p, h->what);
}

/* hold_then_reset: with the proxied agent's traffic held since `held_at`,
 * wait until cond(h) (the change reached the server, or the read it caused is
 * held), then reset the connection. Fails the test when that took more than
 * HOLD_MAX_MS from the hold. */
static void hold_then_reset(struct held *h, bool (*cond)(void *), const char *what,
                            long long held_at)
{
    struct fx *f = h->f;
    char ans[4096];
    int left = HOLD_MAX_MS - (int)(tenv_now_ms() - held_at);
    bool got = left > 0 && tenv_wait(cond, h, left, 5);
    tp_cmd(&f->p, "stats", ans, sizeof ans);
    if (!got) {
        tp_cmd(&f->p, "release", NULL, 0);
        fail_msg("not seen within %d ms of the hold: %s (%s)", HOLD_MAX_MS, what, ans);
    }
    fprintf(stderr, "   held %lld ms, reset with %s\n", tenv_now_ms() - held_at, ans);
    assert_int_equal(tp_cmd(&f->p, "reset", ans, sizeof ans), 0);
    assert_string_equal(ans, "ok reset 1");
}

/* reconnected: the agent's connection came back through the proxy (a second
 * accepted connection) and its log shows suspended -> connected. */
static bool reconnected(void *arg)
{
    struct fx *f = ((struct held *)arg)->f;
    char ans[4096];
    int conns = 0, accepted = 0;
    return tp_cmd(&f->p, "stats", ans, sizeof ans) == 0 &&
           sscanf(ans, "ok conns=%d accepted=%d", &conns, &accepted) == 2 && conns == 1 &&
           accepted >= 2;
}

/* assert_kept: agent i still holds the registration node it had before the
 * reset, on that session: it was neither evicted (a stuck agent's node is
 * deleted and made again) nor did it build a new session. */
static void assert_kept(struct fx *f, int i, int64_t owner, int64_t czxid)
{
    int64_t now_owner, now_czxid;
    session_of(f, i, &now_owner, &now_czxid);
    if (now_owner != owner || now_czxid != czxid)
        fail_msg("%s: registration node owner 0x%" PRIx64 " czxid %" PRId64
                 " at the reset, 0x%" PRIx64 " czxid %" PRId64 " now (evicted or a new session)",
                 f->c.a[i].id, owner, czxid, now_owner, now_czxid);
    assert_int_equal(metric(f, i, "shardcron_agent_sessions_lost_total"), 0);
}

/* log_reconnected: the agent's log shows connected -> suspended and then
 * suspended -> connected on session `want` ("(session 0x...)"). */
struct log_want {
    const char *path, *want;
};

static bool log_reconnected(void *arg)
{
    const struct log_want *w = arg;
    char line[1024];
    bool suspended = false, back = false;
    FILE *lf = fopen(w->path, "r");
    if (!lf)
        return false;
    while (fgets(line, sizeof line, lf)) {
        if (strstr(line, "zookeeper session connected -> suspended") && strstr(line, w->want))
            suspended = true;
        if (suspended && strstr(line, "zookeeper session suspended -> connected") &&
            strstr(line, w->want))
            back = true;
    }
    fclose(lf);
    return back;
}

/* same_session: agent i reconnected on the session it had (its registration
 * node is the one created before the break, owned by the same session, and
 * its log says so), and lost none. */
static void assert_same_session(struct fx *f, int i, int64_t owner, int64_t czxid)
{
    struct held h = {f, ""};
    char path[700], want[64];
    if (!tenv_wait(reconnected, &h, 5000, 20))
        fail_msg("%s did not connect again through the proxy within 5 s", f->c.a[i].id);
    assert_kept(f, i, owner, czxid);
    snprintf(want, sizeof want, "(session 0x%" PRIx64 ")", owner);
    snprintf(path, sizeof path, "%s/agent.log", f->c.a[i].dir);
    /* The proxy sees the new connection before the agent's loop has handled
     * (and logged) it: wait for the line. */
    struct log_want lw = {path, want};
    if (!tenv_wait(log_reconnected, &lw, 5000, 20))
        fail_msg("%s: its log shows no suspended -> connected on session 0x%" PRIx64, f->c.a[i].id,
                 owner);
    fprintf(stderr, "   %s reconnected on session 0x%" PRIx64 "\n", f->c.a[i].id, owner);
}

/* fx_release: stop and free what the fixture holds (again: a no-op). */
static void fx_release(struct fx *f)
{
    ta_stop_all(&f->c);
    tp_stop(&f->p);
    if (f->k)
        zkcli_close(f->k);
    f->k = NULL;
}

static int fx_teardown(void **state)
{
    (void)state;
    fx_release(&fx_g);
    return 0;
}

static void fx_finish(struct fx *f, const char *what)
{
    char san[900], first[512];
    int v = f->c.violations;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long stop_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    snprintf(first, sizeof first, "%s", f->c.first_violation);
    fx_release(f);
    if (v)
        fail_msg("%s: %d double claims; first: %s", what, v, first);
    if (ta_sanitizer_reports(&f->c, san, sizeof san))
        fail_msg("%s: sanitizer report in an agent: %s", what, san);
    /* The scenario ends when its agents are told to stop. Stopping them one
     * after another hands items down the line, and a clean stop just after a
     * run ended can have that fire re-run by the next owner (seen under load:
     * the run's end had not reached the stopped agent's record when its
     * session closed) — a fault of its own, not this one's. */
    int n = rl_load(f->out, runs, MAX_RUNS), kept = 0;
    for (int k = 0; k < n; k++)
        if (runs[k].start_ns < stop_ns)
            runs[kept++] = runs[k];
    rl_check(runs, kept, what);
    fprintf(stderr, "   %s: %d runs, none twice, none overlapping (%d more while stopping)\n", what,
            kept, n - kept);
}

/* watch_for: feed the double-claim checker for `ms`. */
static void watch_for(struct fx *f, int ms)
{
    long long end = tenv_now_ms() + ms;
    while (tenv_now_ms() < end) {
        ta_sample(&f->c);
        pause_ms(50);
    }
}

/* ---------------------------------------------------------------- reshard */

/* reshard: 3 agents, the job goes from 6 to 9 shards while the proxied
 * agent's traffic is held (`mode`: "up", its requests only, reset once its
 * read of the new snapshot is held; "both", reset once the notification of
 * the new snapshot is held, nothing of it having reached the agent). */
static void reshard(const char *tag, const char *mode)
{
    struct fx *f = &fx_g;
    char cmd[32], what[300];
    int64_t owner, czxid;
    fx_init(f, tag);
    fx_start(f, "d1", false);
    fx_start(f, "d2", false);
    int x = fx_start(f, "px", true);
    fx_job(f, "rs", 6, true);
    wait_settled(f, "rs", 6, 1, 0, 30000, "6 shards on 3 agents");
    session_of(f, x, &owner, &czxid);
    assert_true(owner != 0);
    int64_t before = published_epoch(f);

    struct held h = {f, ""};
    if (strcmp(mode, "up") == 0)
        snprintf(h.what, sizeof h.what, "getData:/%.63s/state/assignment:w", f->c.ns);
    else
        snprintf(h.what, sizeof h.what, "dataChanged:/%.63s/state/assignment", f->c.ns);
    snprintf(what, sizeof what, "%s held", h.what);
    snprintf(cmd, sizeof cmd, "hold %s", mode);
    assert_int_equal(tp_cmd(&f->p, cmd, NULL, 0), 0);
    long long held_at = tenv_now_ms();
    fx_job(f, "rs", 9, false);
    hold_then_reset(&h, proxy_holds, what, held_at);
    long long reset_at = tenv_now_ms(), edited = time(NULL);
    assert_same_session(f, x, owner, czxid);

    /* Every agent applies the new epoch, the 9 items are owned once each and
     * run; the agents' gained items do not stay pending. */
    wait_settled(f, "rs", 9, before + 1, 0, SETTLE_MS, "9 shards after the reset");
    assert_kept(f, x, owner, czxid);
    wait_settled(f, "rs", 9, before + 1, edited + 1, 20000, "9 shards running");
    fprintf(stderr, "   all 9 items running %lld ms after the reset\n", tenv_now_ms() - reset_at);
    watch_for(f, 2000);
    fx_finish(f, "reshard across a reset");
}

/* The snapshot read the new epoch caused is in flight at the reset. */
static void test_reshard_read_in_flight(void **state)
{
    (void)state;
    reshard("reshard", "up");
}

/* Nothing in flight: the notifications are held and dropped with the
 * connection; ZooKeeper's client re-registers its watches on reconnect and
 * the server fires those whose node changed meanwhile. */
static void test_reshard_notifications_held(void **state)
{
    (void)state;
    reshard("reshard_both", "both");
}

/* ---------------------------------------------------------------- election */

struct elect_node {
    long long seq;
    char name[200];
};

static int by_seq(const void *a, const void *b)
{
    const struct elect_node *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* election_order: agent indexes in election order into order[], or false
 * when the election does not hold exactly `n` nodes of known agents. */
static bool election_order(struct fx *f, int *order, int n)
{
    char **names = NULL;
    int count = 0;
    struct elect_node nodes[TA_MAX];
    if (zkcli_children(fx_k(f), "/election", &names, &count) != ZOK)
        return false;
    bool ok = count == n && n <= TA_MAX;
    for (int j = 0; ok && j < count; j++) {
        const char *u = strrchr(names[j], '_'); /* n_<session hex>_<sequence> */
        nodes[j].seq = u ? atoll(u + 1) : -1;
        snprintf(nodes[j].name, sizeof nodes[j].name, "%s", names[j]);
    }
    zkcli_free_children(names, count);
    if (!ok)
        return false;
    qsort(nodes, (size_t)n, sizeof *nodes, by_seq);
    for (int j = 0; ok && j < n; j++) {
        char path[300], *data = NULL;
        int len = 0;
        snprintf(path, sizeof path, "/election/%s", nodes[j].name);
        order[j] = -1;
        if (zkcli_get(fx_k(f), path, &data, &len, NULL) == ZOK)
            for (int i = 0; i < f->c.n; i++)
                if (strcmp(data, f->c.a[i].id) == 0)
                    order[j] = i;
        ok = order[j] >= 0;
        free(data);
    }
    return ok;
}

struct in_election {
    struct fx *f;
    int n;
};

static bool n_in_election(void *arg)
{
    struct in_election *w = arg;
    int order[TA_MAX];
    return election_order(w->f, order, w->n);
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

/* election: "lead", ("mid",) the proxied "px" and "last" join in that
 * order; px's connection is reset; then the leader is killed -9: px, next in
 * line, must take over and publish a further job edit. With `in_flight`, the
 * reset fails px's listing of /election after "mid" stopped (the listing that
 * puts its watch on the leader); without, px already watches the leader and
 * its traffic is held both ways and reset while idle. */
static void election(const char *tag, bool in_flight)
{
    struct fx *f = &fx_g;
    int64_t owner, czxid;
    int order[TA_MAX];
    fx_init(f, tag);
    /* One at a time, each in the election before the next starts: the
     * election order is the start order. */
    const char *ids[] = {"lead", "mid", "px", "last"};
    int n = 0, x = -1;
    for (int i = 0; i < 4; i++) {
        if (i == 1 && !in_flight)
            continue;
        if (i == 2)
            x = n;
        fx_start(f, ids[i], i == 2);
        struct in_election w = {f, ++n};
        assert_true(tenv_wait(n_in_election, &w, 20000, 50));
    }
    assert_true(election_order(f, order, n));
    for (int i = 0; i < n; i++)
        assert_int_equal(order[i], i);
    struct leads lw = {f, 0};
    assert_true(tenv_wait(leads, &lw, 20000, 50));
    fx_job(f, "el", 4, true);
    wait_settled(f, "el", 4, 1, 0, 30000, "4 shards on every agent");
    session_of(f, x, &owner, &czxid);
    assert_true(owner != 0);

    struct held h = {f, ""};
    if (in_flight) {
        /* "mid" stops (its session closes, its election node goes): px is
         * notified and lists /election to find its new predecessor, the
         * leader. That listing is held, and the reset fails it. */
        snprintf(h.what, sizeof h.what, "getChildren2:/%.63s/election:-", f->c.ns);
        assert_int_equal(tp_cmd(&f->p, "hold up", NULL, 0), 0);
        long long held_at = tenv_now_ms();
        ta_kill(&f->c, 1, SIGTERM);
        hold_then_reset(&h, proxy_holds, h.what, held_at);
        assert_true(ta_wait_exit(&f->c, 1, 10000) >= 0);
    } else {
        char ans[4096];
        assert_int_equal(tp_cmd(&f->p, "hold both", NULL, 0), 0);
        assert_int_equal(tp_cmd(&f->p, "reset", ans, sizeof ans), 0);
        assert_string_equal(ans, "ok reset 1");
    }
    assert_same_session(f, x, owner, czxid);
    wait_settled(f, "el", 4, 1, 0, 20000, "every agent after the reset");

    /* The leader dies: px, next in line, must take over. */
    long long t0 = tenv_now_ms();
    ta_kill(&f->c, 0, SIGKILL);
    lw.agent = x;
    if (!tenv_wait(leads, &lw, SESSION_MS + 15000, 50))
        fail_msg("nobody took over from the killed leader within %d ms", SESSION_MS + 15000);
    fprintf(stderr, "   %s leads %lld ms after the leader was killed\n", f->c.a[x].id,
            tenv_now_ms() - t0);
    assert_kept(f, x, owner, czxid);

    /* And leads: a further edit is published and applied. */
    int64_t before = published_epoch(f);
    fx_job(f, "el", 6, false);
    long long edited = time(NULL);
    wait_settled(f, "el", 6, before + 1, edited + 1, 20000, "6 shards under the new leader");
    watch_for(f, 2000);
    fx_finish(f, "leader election across a reset");
}

/* The listing that finds the new predecessor (the leader) is in flight. */
static void test_election_read_in_flight(void **state)
{
    (void)state;
    election("elect", true);
}

/* The watch on the leader was set before: it survives the reset. */
static void test_election_watch_set(void **state)
{
    (void)state;
    election("elect_set", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reshard_read_in_flight, fx_teardown),
        cmocka_unit_test_teardown(test_reshard_notifications_held, fx_teardown),
        cmocka_unit_test_teardown(test_election_read_in_flight, fx_teardown),
        cmocka_unit_test_teardown(test_election_watch_set, fx_teardown),
    };
    /* SC_TEST_CASE=name runs one of them (cmocka's filter pattern). */
    if (getenv("SC_TEST_CASE"))
        cmocka_set_test_filter(getenv("SC_TEST_CASE"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
