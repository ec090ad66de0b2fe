/* tests/sim/sim_check.c: the history table and the four invariants, checked
 * after every step.
 *
 * The history table is what agents report: a run (its start), a missed fire,
 * a skipped fire. The checker also sees the truth the agents cannot: which
 * job processes are running at this instant (also those of a killed agent
 * until its watchdog kills them), whether a run's end was seen by its agent,
 * when a record write reached the server, when an agent's node vanished.
 *
 *  1. never two agents running one (job, item) at the same instant (at
 *     every start, against every run still running);
 *  2. no fire label of an item started twice: retries continue one
 *     execution; a second execution is allowed only as the one failover
 *     re-run of an execution that was cut off — killed, or ended without its
 *     end reaching the server before its agent's node vanished (never seen by
 *     its agent, or seen and written at once but the write still in flight);
 *     never a re-run of one whose end was published, or seen but not written
 *     at once;
 *  3. no fire lost without a record: a fire older than the horizon, of an
 *     item that existed then (from the first activation of that item, until a
 *     config write removed it), has a run or a missed/skipped row;
 *  4. liveness in the quiet phase, from quiet start + bound: every item of
 *     every job is active on exactly one agent, and every healthy agent has
 *     applied the snapshot on the server. */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

#define RING 1024 /* fire labels (seconds) kept per item */

struct ckrun {
    int agent, job, item, trig, attempt, prev, chain_first;
    int64_t session, label;
    bool running, killed, at_once;
    ms_t start, end, end_seen, published;
};

struct slot {
    int64_t label;
    bool run, rec;
    int chains;
    int last; /* the latest run of the first execution */
};

struct incarn {
    int64_t from, to; /* owed labels: from <= l < to */
};

struct citem {
    int running[SIM_MAX_AGENTS];
    struct slot ring[RING];
    int64_t cursor; /* next label to judge for invariant 3 */
    bool open;
    int ninc;
    struct incarn inc[6];
};

struct check {
    struct ckrun *runs;
    int nruns, capruns;
    struct citem it[SIM_MAX_JOBS][SIM_MAX_ITEMS];
    ms_t *gone;
    int ngone;
    int *unpub[SIM_MAX_AGENTS];
    int nunpub[SIM_MAX_AGENTS], capunpub[SIM_MAX_AGENTS];
    int64_t last_second;
    int64_t reruns, records, owed, live_checks;
};

static const char *const trig_name[] = {"cron", "misfire", "manual", "failover", "retry"};

static struct slot *slot_of(struct citem *c, int64_t label)
{
    struct slot *s = &c->ring[((label % RING) + RING) % RING];
    if (s->label != label)
        *s = (struct slot){.label = label, .last = -1};
    return s;
}

static ms_t gone_of(const struct check *c, int64_t session)
{
    int64_t k = session - 0x1000;
    return k >= 0 && k < c->ngone ? c->gone[k] : 0;
}

static int period_of(const struct world *w, int j)
{
    char path[SIM_PATH];
    snprintf(path, sizeof path, "/jobs/j%d", j);
    const struct zdata *d = zk_peek(w, path, NULL);
    return d ? d->u.job.period_s : 1;
}

static int shards_of(const struct world *w, int j)
{
    char path[SIM_PATH];
    snprintf(path, sizeof path, "/jobs/j%d", j);
    const struct zdata *d = zk_peek(w, path, NULL);
    return d ? d->u.job.shards : 0;
}

struct check *check_new(struct world *w)
{
    struct check *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            c->it[j][i].cursor = w->now / 1000;
            for (int k = 0; k < RING; k++)
                c->it[j][i].ring[k].label = -1;
        }
    c->last_second = w->now / 1000;
    return c;
}

void check_free(struct check *c)
{
    if (!c)
        return;
    free(c->runs);
    free(c->gone);
    for (int i = 0; i < SIM_MAX_AGENTS; i++)
        free(c->unpub[i]);
    free(c);
}

/* ---------------------------------------------------------------- runs */

/* cut_off: whether execution `r` may be re-run once by a failover. */
static bool cut_off(const struct check *c, const struct ckrun *r, const char **why)
{
    ms_t gone = gone_of(c, r->session);
    if (r->running) {
        *why = "it is still running";
        return false;
    }
    if (r->killed) {
        *why = "killed";
        return true;
    }
    if (!r->end_seen || (gone && r->end_seen >= gone)) {
        *why = "its end was never seen by its agent while its node existed";
        return true;
    }
    if (!r->at_once) {
        *why = "it finished and its agent saw it, but did not publish its end at once";
        return false;
    }
    if (r->published && (!gone || r->published < gone)) {
        *why = "it finished and its end was published";
        return false;
    }
    *why = "its end was being written when its agent's node vanished";
    return true;
}

static void describe(const struct ckrun *r, char *buf, size_t len)
{
    snprintf(buf, len, "a%d session %llx %s attempt %d started %lld.%03lld %s", r->agent,
             (unsigned long long)r->session, trig_name[r->trig], r->attempt,
             (long long)(r->start / 1000), (long long)(r->start % 1000),
             r->running  ? "running"
             : r->killed ? "killed"
                         : "finished");
}

int check_run_start(struct world *w, int agent, int64_t session, int job, int item, int64_t label,
                    enum own_trigger trig, int attempt, int prev_run)
{
    struct check *c = w->ck;
    if (c->nruns == c->capruns) {
        c->capruns = c->capruns ? c->capruns * 2 : 4096;
        c->runs = realloc(c->runs, (size_t)c->capruns * sizeof *c->runs);
        if (!c->runs)
            abort();
    }
    int id = c->nruns++;
    struct ckrun *r = &c->runs[id];
    *r = (struct ckrun){.agent = agent,
                        .job = job,
                        .item = item,
                        .trig = trig,
                        .attempt = attempt,
                        .prev = prev_run,
                        .session = session,
                        .label = label,
                        .running = true,
                        .start = w->now,
                        .chain_first = id};
    w->runs_started++;
    struct citem *ci = &c->it[job][item];
    sim_trace(w, "a%d starts j%d/%d fire %lld (%s, attempt %d)", agent, job, item, (long long)label,
              trig_name[trig], attempt);
    char d[200];
    /* 1: nobody else runs this item now */
    for (int b = 0; b < w->p.agents; b++)
        if (b != agent && ci->running[b] > 0) {
            for (int k = c->nruns - 2; k >= 0; k--)
                if (c->runs[k].running && c->runs[k].agent == b && c->runs[k].job == job &&
                    c->runs[k].item == item) {
                    describe(&c->runs[k], d, sizeof d);
                    break;
                }
            sim_violation(w, 1, "j%d/%d: a%d starts fire %lld while a%d runs it (%s)", job, item,
                          agent, (long long)label, b, d);
            break;
        }
    ci->running[agent]++;
    /* 2: each fire label once */
    struct slot *s = slot_of(ci, label);
    s->run = true;
    if (trig == OWN_RETRY) {
        const struct ckrun *p = prev_run >= 0 ? &c->runs[prev_run] : NULL;
        if (!p || p->agent != agent || p->session != session || p->label != label || p->running ||
            p->killed)
            sim_violation(w, 2, "j%d/%d fire %lld: a retry without a failed attempt before it", job,
                          item, (long long)label);
        r->chain_first = p ? p->chain_first : id;
        if (s->last == prev_run || s->last < 0)
            s->last = id;
        return id;
    }
    if (s->chains == 0) {
        s->chains = 1;
        s->last = id;
        return id;
    }
    const struct ckrun *f = s->last >= 0 ? &c->runs[s->last] : NULL;
    const char *why = "";
    if (s->chains == 1 && trig == OWN_FAILOVER && f && cut_off(c, f, &why)) {
        s->chains = 2;
        c->reruns++;
        sim_trace(w, "  (re-run of a cut-off run: %s)", why);
        return id;
    }
    if (f)
        describe(f, d, sizeof d);
    sim_violation(w, 2, "j%d/%d fire %lld started again by a%d (%s): before: %s%s%s", job, item,
                  (long long)label, agent, trig_name[trig], f ? d : "?",
                  trig == OWN_FAILOVER ? "; not a cut-off run: " : "",
                  trig == OWN_FAILOVER ? why : "");
    return id;
}

void check_run_end(struct world *w, int run, bool killed)
{
    struct check *c = w->ck;
    if (run < 0 || run >= c->nruns || !c->runs[run].running)
        return;
    struct ckrun *r = &c->runs[run];
    r->running = false;
    r->killed = killed;
    r->end = w->now;
    c->it[r->job][r->item].running[r->agent]--;
}

void check_run_end_seen(struct world *w, int run, bool at_once)
{
    struct check *c = w->ck;
    if (run < 0 || run >= c->nruns)
        return;
    struct ckrun *r = &c->runs[run];
    r->end_seen = w->now;
    r->at_once = at_once;
    int a = r->agent;
    if (c->nunpub[a] == c->capunpub[a]) {
        c->capunpub[a] = c->capunpub[a] ? c->capunpub[a] * 2 : 64;
        c->unpub[a] = realloc(c->unpub[a], (size_t)c->capunpub[a] * sizeof(int));
        if (!c->unpub[a])
            abort();
    }
    c->unpub[a][c->nunpub[a]++] = run;
}

void check_rec_applied(struct world *w, int agent, const struct sim_rec *rec)
{
    struct check *c = w->ck;
    for (int k = 0; k < c->nunpub[agent]; k++) {
        struct ckrun *r = &c->runs[c->unpub[agent][k]];
        bool listed = false;
        for (int e = 0; e < rec->nrun; e++)
            listed |= rec->run[e].run == c->unpub[agent][k];
        if (r->session != rec->session || !listed) {
            if (r->session == rec->session)
                r->published = w->now;
            c->unpub[agent][k--] = c->unpub[agent][--c->nunpub[agent]];
        }
    }
}

void check_agent_gone(struct world *w, int agent, int64_t session)
{
    struct check *c = w->ck;
    (void)agent;
    int64_t k = session - 0x1000;
    if (k < 0)
        return;
    if (k >= c->ngone) {
        int n = (int)k + 64;
        c->gone = realloc(c->gone, (size_t)n * sizeof *c->gone);
        if (!c->gone)
            abort();
        memset(c->gone + c->ngone, 0, (size_t)(n - c->ngone) * sizeof *c->gone);
        c->ngone = n;
    }
    if (!c->gone[k])
        c->gone[k] = w->now;
}

/* ---------------------------------------------------------------- records and owed fires */

void check_record(struct world *w, int agent, int job, int item, int64_t label, bool skipped,
                  const char *why)
{
    struct check *c = w->ck;
    struct citem *ci = &c->it[job][item];
    c->records++;
    if (w->p.verbose)
        sim_trace(w, "a%d: j%d/%d fire %lld %s (%s)", agent, job, item, (long long)label,
                  skipped ? "skipped" : "missed", why);
    if (label < ci->cursor)
        return; /* judged already */
    slot_of(ci, label)->rec = true;
}

static void open_inc(struct citem *ci, int64_t from)
{
    if (ci->open)
        return;
    if (ci->ninc == 6) {
        memmove(&ci->inc[0], &ci->inc[1], 5 * sizeof ci->inc[0]);
        ci->ninc--;
    }
    ci->inc[ci->ninc++] = (struct incarn){from, INT64_MAX};
    ci->open = true;
}

static void close_inc(struct citem *ci, int64_t to)
{
    if (!ci->open)
        return;
    ci->inc[ci->ninc - 1].to = to;
    if (ci->inc[ci->ninc - 1].to < ci->inc[ci->ninc - 1].from)
        ci->inc[ci->ninc - 1].to = ci->inc[ci->ninc - 1].from;
    ci->open = false;
}

void check_item_active(struct world *w, int job, int item, int64_t first_s)
{
    if (item >= shards_of(w, job))
        return; /* activated from a config already edited away: nothing owed */
    open_inc(&w->ck->it[job][item], first_s);
}

void check_item_unowned(struct world *w, int job, int item)
{
    close_inc(&w->ck->it[job][item], (w->now - w->p.session_ms - 3000) / 1000);
}

void check_job_shards(struct world *w, int job, int before, int after)
{
    /* A removed item is owed up to its removal, less what only the successor
     * of an owner that died just before could have accounted: a session
     * timeout (and the clock and lag margins), the same bound as a total
     * outage (docs/coordination.md, "Limits"). */
    for (int i = after; i < before; i++)
        close_inc(&w->ck->it[job][i], (w->now - w->p.session_ms - w->p.max_skew_ms - 3000) / 1000);
    for (int i = before; i < after && i < SIM_MAX_ITEMS; i++) {
        /* an item removed and added back while still active somewhere keeps
         * firing there: owed again from now on */
        for (int a = 0; a < w->p.agents; a++)
            if (agent_proc_alive(w, a) && agent_item_active(w, a, job, i)) {
                open_inc(&w->ck->it[job][i], (w->now + w->p.max_skew_ms) / 1000 + 1);
                break;
            }
    }
}

void check_snap_applied(struct world *w, const struct sim_snap *snap)
{
    if (snap->nmembers > 0)
        return;
    for (int j = 0; j < w->p.jobs; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            check_item_unowned(w, j, i);
}

static bool owed(const struct citem *ci, int64_t l)
{
    for (int k = 0; k < ci->ninc; k++)
        if (ci->inc[k].from <= l && l < ci->inc[k].to)
            return true;
    return false;
}

static void judge_fires(struct world *w)
{
    struct check *c = w->ck;
    ms_t upto = w->now - w->p.horizon_ms;
    for (int j = 0; j < w->p.jobs; j++) {
        int period = period_of(w, j);
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            struct citem *ci = &c->it[j][i];
            for (; ci->cursor * 1000 <= upto; ci->cursor++) {
                if (ci->cursor % period != 0 || !owed(ci, ci->cursor))
                    continue;
                struct slot *s = slot_of(ci, ci->cursor);
                c->owed++;
                if (!s->run && !s->rec) {
                    sim_violation(w, 3,
                                  "j%d/%d fire %lld (%lld s ago) has no run and no missed or "
                                  "skipped record",
                                  j, i, (long long)ci->cursor,
                                  (long long)(w->now / 1000 - ci->cursor));
                    return;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- liveness */

static void judge_liveness(struct world *w)
{
    struct check *c = w->ck;
    struct zstat st;
    const struct zdata *snap = zk_peek(w, "/state/assignment", &st);
    int64_t epoch = snap ? snap->u.snap.epoch : 0;
    c->live_checks++;
    for (int a = 0; a < w->p.agents; a++)
        if (agent_healthy(w, a) && agent_applied(w, a) != epoch) {
            sim_violation(w, 4, "a%d has applied epoch %lld, the snapshot is at %lld", a,
                          (long long)agent_applied(w, a), (long long)epoch);
            return;
        }
    for (int j = 0; j < w->p.jobs; j++) {
        int n = shards_of(w, j);
        for (int i = 0; i < n; i++) {
            int on = 0, who[SIM_MAX_AGENTS];
            for (int a = 0; a < w->p.agents; a++)
                if (agent_proc_alive(w, a) && agent_item_active(w, a, j, i))
                    who[on++] = a;
            if (on != 1) {
                sim_violation(w, 4, "j%d/%d is active on %d agents%s%s%.0d", j, i, on,
                              on ? " (the first: a" : "", on ? "" : "", on ? who[0] : 0);
                return;
            }
        }
    }
}

void check_step(struct world *w)
{
    struct check *c = w->ck;
    if (w->now / 1000 != c->last_second) {
        c->last_second = w->now / 1000;
        judge_fires(w);
    }
    if (w->quiet && w->now >= w->quiet_at + w->p.live_bound_ms)
        judge_liveness(w);
}

void check_final(struct world *w)
{
    if (w->p.verbose)
        printf("seed %llu: %lld runs, %lld re-runs of cut-off runs, %lld records, %lld owed "
               "fires judged, %lld liveness checks\n",
               (unsigned long long)w->seed, (long long)w->ck->nruns, (long long)w->ck->reruns,
               (long long)w->ck->records, (long long)w->ck->owed, (long long)w->ck->live_checks);
}
