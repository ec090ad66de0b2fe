/* registry/coord.c: the agent's coordination state machine.
 *
 * Sections: state; helpers; agent record and clock check; registration;
 * election; caches (agents, jobs, snapshot); apply (snapshot -> owned items);
 * gate (pending -> active); leader (publish); watches and session; public API.
 * The protocol is described in docs/coordination.md. */
#define LOG_CAT "shardcron.registry"
#include "registry/coord.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/strmap.h"
#include "registry/own.h"
#include "registry/plan.h"
#include "sharding/shard.h"

/* ---------------------------------------------------------------- state */

#define TRIGGER_TTL_MS (10 * 60 * 1000)

struct cjob {
    char *name;
    struct job *cfg; /* NULL when the node holds an invalid config */
    char error[300];
    int64_t mzxid;
    int64_t czxid;    /* the node's creation, in ZooKeeper's order */
    int64_t ctime_ms; /* the node's creation (the server's clock) */
    int loading;      /* reads in flight */
    bool read_failed; /* the last read failed (connection loss): read again on reconnect */
    uint64_t inc;     /* incarnation: a job deleted and created again is a new one */
    uint8_t *st;      /* enum coord_item_state per item */
    int64_t *since;   /* realtime ms an item became ACTIVE */
    int64_t *first;   /* per ACTIVE item, its first own fire label (own_takeover) */
    int64_t *last;    /* per item, the highest fire label started here (0 none) */
    int64_t *rerun;   /* per ACTIVE item, the failover re-run it may start (-1 none): set
                       * once our record's claim of it is acknowledged (coord_take_rerun) */
    int nst;
    int64_t stamp;    /* the epoch whose assignment last included the job */
    bool *draining;   /* per item, lost here but still running */
    char **trig_done; /* triggers already handled by this agent */
    int ntrig_done;
};

struct chg_entry {
    char *name;
    int64_t seq;
    int64_t seen_ms; /* when this process first listed it */
};

/* A session seen to vanish, as far as it bounds the fires it may have
 * started (own_dead_hi_ms): when, whether evicted, its session timeout. */
struct vanish {
    int64_t gone_ms; /* our clock; 0 = none */
    bool evicted;
    int session_ms;
};

struct cagent {
    char *id;
    bool alive, loaded;
    /* the record may be out of date: our connection broke since it was read
     * (a peer's record may change while we are away and its node then
     * vanish: the reconnect reports only the deletion). Cleared by a read. */
    bool suspect;
    int64_t node_session; /* the session owning its node, from the last read */
    int loading;          /* reads in flight */
    struct plan_agent_rec rec;
    /* when this agent saw it vanish (realtime ms, 0 = never), and what its
     * record said then (a returning agent's new record replaces rec) */
    int64_t gone_ms, gone_skew_ms;
    int gone_session_ms;
    int64_t gone_session; /* the session that vanished */
    /* the record held then was current (read since our connection last
     * broke): only then is its running list trusted for a failover re-run */
    bool gone_trusted;
    /* the session was named evicted by a snapshot we held (when it vanished
     * or later): it may have outlived its node by its lease */
    bool gone_evicted;
    /* of every vanishing of this id seen in this session, the one whose
     * session may have started fires the latest */
    struct vanish bound;
};

/* A gained item's handover: who owned it at the epoch this agent applied
 * before gaining it, and, once it is active, the window of fires no owner
 * ran (docs/coordination.md, "Fires between owners"). Keyed "job\x1fitem". */
struct handover {
    bool none;             /* no previous owner known (a new job or item, or nobody owned it) */
    char from[130];        /* "" = our first epoch in this session: any live peer */
    bool unowned_before;   /* from "": nobody owned it at the epoch we applied before */
    int64_t from_session;  /* its session in the snapshot we applied before */
    int64_t rerun_session; /* t.rerun_fire >= 0: the dead session whose run is re-run */
    int64_t prev_epoch, prev_created_ms;
    bool resolved;
    bool died; /* the previous owner's session ended */
    struct own_takeover t;
};

/* A failover re-run decided here, waiting until the record write carrying
 * its claim is acknowledged (coord_take_rerun). Keyed like handovers. */
struct rerun_wait {
    int64_t fire;
    int64_t session; /* the dead session whose run it re-runs */
    uint64_t claim;  /* reran_total after the claim: acknowledged once reran_acked reaches it */
};

/* A re-run decided in this process: taking the same item from the same dead
 * session again (a stale epoch) never re-runs it again. */
struct rerun_done {
    int64_t session;
    int item;
    char job[JOB_NAME_MAX + 1];
};

/* An item this agent lost, for the scheduler to account (coord_take_losses). */
struct loss {
    char job[JOB_NAME_MAX + 1]; /* "" = a drop marker: every item was dropped */
    int item;
    bool pending;
    int64_t lo_ms;
    char why[120]; /* dropped items: why */
};

#define LOSSES_MAX 200000 /* kept until taken; more are not recorded */

#define RERUN_DONE_MAX 64
#define GONE_CLAIMS_MAX 64

enum reg_state { REG_NONE, REG_CREATING, REG_WAIT_STALE, REG_DONE };

struct coord {
    struct event_base *base;
    struct zkreg *z;
    char *id, *host;
    char **labels;
    int nlabels, capacity, max_skew_ms;
    int64_t started_at_ms;
    void (*on_change)(void *);
    void (*on_lost)(void *);
    void (*on_fatal)(void *, const char *);
    bool (*is_running)(void *, const char *, int);
    int (*on_trigger)(void *, const struct job *, int, const char *);
    void (*on_trigger_unrun)(void *, const char *, int, const char *, int64_t, const char *);
    struct trig_open *trigs; /* triggers seen and not finished here (manual triggers) */
    uint64_t trig_seq;       /* ids of trig_open entries */
    void *ctx;
    struct plan_item *running; /* published in the record */
    int nrunning;
    int64_t running_written_ms;
    struct event *ev_running;

    struct strmap jobs, agents;
    int jobs_loading, agents_loading;
    bool jobs_listed, agents_listed;
    uint64_t jobs_gen;   /* bumped when a job appears, goes or changes shape */
    uint64_t job_incs;   /* incarnations handed out to cached jobs */
    uint64_t digest_gen; /* jobs_gen the cached inputs and digest are of (0: none) */
    char digest[17];
    struct shard_job *inputs; /* valid jobs as sharding inputs, in name order (point into jobs) */
    int ninputs;
    uint64_t states_gen; /* bumped when an item's state changes */
    /* the job change log (PLAN_CHANGES) */
    bool chg_listed;       /* first listing done (and /jobs listed after it) */
    bool chg_retry;        /* creating the log's parent failed: list again on a tick */
    int64_t chg_seen;      /* highest entry sequence handled */
    struct chg_entry *chg; /* the latest listing, sorted by sequence */
    int nchg;
    struct strmap trig_wait; /* jobs named by trigger entries before /jobs was listed */
    struct strmap trig_open; /* jobs with triggers not yet removed (leader cleans up) */
    int64_t last_prune_ms, last_trig_scan_ms;
    struct plan_snapshot snap;
    int snap_version;
    bool snap_loaded, snap_exists;
    int64_t applied;
    int64_t prev_applied; /* the epoch applied before `applied` in this session (0 none) */
    int64_t applied_ms, applied_created_ms; /* when we applied it; when it was published */
    int64_t carry_ms;                       /* own_carry of the applied epoch */
    bool member;                            /* we are a member of the applied epoch */
    struct shard_assignment *assign;        /* the assignment of the applied epoch */
    struct plan_snapshot applied_snap;      /* its snapshot (members with sessions) */
    int64_t lost_ms;                        /* when this process last gave up a session */
    int64_t lost_applied; /* the last epoch that session applied (own_takeover_in.owner_epoch) */
    /* the outage_from_ms of the last total outage a snapshot told us of,
     * until we next see the cluster settled (own_takeover_in.outage_from_ms) */
    int64_t outage_from_ms;
    int64_t gap_ms; /* when our connection last broke (0 never) */
    /* the first connection break since we last saw the cluster settled (0
     * none): own_server_gap_ms */
    int64_t gap_first_ms;
    /* the last time (our clock, 0 never) own_settled held over the records
     * we hold (settle_check): own_takeover_in.settled_ms. Per process. */
    int64_t settle_scan_ms; /* when settle_check last scanned our items */
    int64_t settled_ms;
    /* the scheduler's backlog (coord_set_backlog): the oldest fire queued
     * for capacity since its queue was last empty; 0 none (record: backlog_s) */
    int64_t backlog_s;
    /* leader: members evicted since the last publication (own_evict) */
    char **evicting;
    int64_t *evicting_session;
    int nevicting;
    /* leader: evicted ids kept out of the members until then (realtime ms),
     * so a stuck agent that registers again cannot stall every handoff anew */
    struct strmap quarantine;
    /* SHARDCRON_TEST_FAULT=stall_apply: apply the first epoch of a session,
     * then never another (a stuck agent, for the eviction fault test) */
    bool fault_stall_apply, fault_applied;
    /* own_apply_overdue: when we first saw an epoch newer than the applied
     * one (0: none since the last apply); stalled: we evicted ourselves for
     * it and report not ready until an apply succeeds */
    int64_t newer_seen_ms;
    bool stalled;

    /* The takeover bound (own_takeover_in.peers_stop_s, dead_hi_ms,
     * view_start_ms) and failover re-run claims. Per process unless said. */
    int64_t max_started;   /* the highest label started of an item no longer held here (stop_s) */
    int64_t view_start_ms; /* this session's first complete listing of /agents (0: not yet) */
    int64_t view_pzxid;    /* /agents' pzxid in that listing (INT64_MAX: unknown) */
    int64_t agents_pzxid;  /* /agents' pzxid in our latest listing (0: none) */
    int64_t reran[PLAN_RERAN_MAX]; /* dead sessions whose re-runs we claimed (record: reran) */
    int nreran;
    uint64_t reran_total; /* claims added to reran */
    uint64_t reran_acked; /* of them, the ones a record ZooKeeper acknowledged carries */
    struct strmap reruns; /* struct rerun_wait of items active here, until taken */
    struct rerun_done rerun_done[RERUN_DONE_MAX]; /* a ring */
    int nrerun_done;
    int64_t gone_claims[GONE_CLAIMS_MAX]; /* reran lists of records of agents seen to vanish */
    int ngone_claims;
    struct vanish past_bound; /* the latest-bounding vanish seen in earlier sessions */
    struct strmap handovers;  /* struct handover of gained items */
    struct loss *losses;      /* items lost since the last coord_take_losses */
    int nlosses, caplosses;

    uint64_t gen;
    enum reg_state reg;
    char elect[256];
    bool elect_creating, leader, suspended;
    int64_t own_session_prev; /* session of our previous incarnation in this process */

    bool node_dirty, node_inflight;
    int64_t skew_ms, last_clock_check_ms;
    bool skew_ok;
    bool loaded; /* the first full read of /agents, /jobs and the snapshot is done */
    char reason[160];

    bool publish_inflight;
    bool maybe_pending; /* some item may be PENDING: the gate scans only then */
    struct event *ev_eval, *ev_tick;
    struct coord_stats stats;
    bool fatal;
};

static void running_cb(evutil_socket_t fd, short what, void *arg);
static void registration_lost(struct coord *c, const char *why);
static void free_running(struct coord *c);
static void chg_free(struct coord *c);
static void mark_gone(struct coord *c, struct cagent *a);
static void evicting_clear(struct coord *c);
static void maybe_evict(struct coord *c);

/* ---------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void schedule_eval(struct coord *c)
{
    struct timeval tv = {0, 10000}; /* coalesce bursts of watch events */
    if (!evtimer_pending(c->ev_eval, NULL))
        evtimer_add(c->ev_eval, &tv);
}

static void changed(struct coord *c)
{
    if (c->on_change)
        c->on_change(c->ctx);
}

/* vanish_keep: keep in *held whichever of it and v bounds its session's
 * starts the later (own_dead_hi_ms; the skew terms are the same on both
 * sides, so they are left out of the comparison). */
static void vanish_keep(struct vanish *held, const struct vanish *v)
{
    if (v->gone_ms > 0 &&
        (!held->gone_ms ||
         own_dead_hi_ms(v->gone_ms, 0, 0, v->evicted, v->session_ms) >
             own_dead_hi_ms(held->gone_ms, 0, 0, held->evicted, held->session_ms)))
        *held = *v;
}

static void cjob_free(struct cjob *j)
{
    if (!j)
        return;
    free(j->name);
    job_free(j->cfg);
    free(j->st);
    free(j->last);
    free(j->since);
    free(j->first);
    free(j->rerun);
    free(j->draining);
    for (int i = 0; i < j->ntrig_done; i++)
        free(j->trig_done[i]);
    free(j->trig_done);
    free(j);
}

static void cagent_free(struct cagent *a)
{
    if (!a)
        return;
    free(a->id);
    plan_agent_clear(&a->rec);
    free(a);
}

static void clear_caches(struct coord *c)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);)
        cjob_free(v);
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        vanish_keep(&c->past_bound, &((struct cagent *)v)->bound);
        cagent_free(v);
    }
    strmap_free(&c->jobs);
    strmap_free(&c->agents);
    strmap_init(&c->jobs);
    strmap_init(&c->agents);
    c->jobs_loading = c->agents_loading = 0;
    c->jobs_listed = c->agents_listed = false;
    c->chg_listed = false;
    c->chg_seen = -1;
    c->digest_gen = 0;
    free(c->inputs);
    c->inputs = NULL;
    c->ninputs = 0;
    c->states_gen++;
    chg_free(c);
    strmap_free(&c->trig_wait);
    strmap_init(&c->trig_wait);
    strmap_free(&c->trig_open);
    strmap_init(&c->trig_open);
    plan_snapshot_clear(&c->snap);
    c->snap_loaded = c->snap_exists = false;
}

/* stop_fold: (job, item) leaves this agent: the highest label it started
 * here now bounds whoever takes it over (our record's stop_s). */
static void stop_fold(struct coord *c, struct cjob *j, int i)
{
    if (j->last && j->last[i] > c->max_started)
        c->max_started = j->last[i];
}

/* loss_add: note a lost item (job NULL: the drop marker) for the scheduler. */
static void loss_add(struct coord *c, const char *job, int item, bool pending, int64_t lo_ms,
                     const char *why)
{
    if (c->nlosses == c->caplosses) {
        int cap = c->caplosses ? c->caplosses * 2 : 64;
        struct loss *n = cap <= LOSSES_MAX ? realloc(c->losses, (size_t)cap * sizeof *n) : NULL;
        if (!n) {
            LOGW("%s/%d lost here: not accounted (%d losses not taken yet)", job ? job : "-", item,
                 c->nlosses);
            return;
        }
        c->losses = n;
        c->caplosses = cap;
    }
    struct loss *l = &c->losses[c->nlosses++];
    snprintf(l->job, sizeof l->job, "%s", job ? job : "");
    l->item = item;
    l->pending = pending;
    l->lo_ms = lo_ms;
    snprintf(l->why, sizeof l->why, "%s", why ? why : "");
}

static int64_t pending_lo(struct coord *c, const char *job, int item);

/* drop_all: every item goes (session lost, evicted): each is noted for the
 * scheduler to account what came due while this agent could not handle it
 * (`why`), after a marker that ends whatever was handed over before. */
static void drop_all(struct coord *c, const char *why)
{
    const char *k;
    void *v;
    loss_add(c, NULL, 0, false, 0, why);
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        for (int i = 0; j->st && i < j->nst; i++) {
            stop_fold(c, j, i);
            if (j->st[i] != COORD_NONE)
                loss_add(c, j->name, i, j->st[i] == COORD_PENDING,
                         j->st[i] == COORD_PENDING ? pending_lo(c, j->name, i) : 0, why);
        }
        if (j->st)
            memset(j->st, 0, (size_t)j->nst);
        if (j->draining)
            memset(j->draining, 0, (size_t)j->nst * sizeof *j->draining);
    }
    for (size_t it = 0; strmap_next(&c->reruns, &it, &k, &v);)
        free(v);
    strmap_free(&c->reruns);
    strmap_init(&c->reruns);
    c->lost_applied = c->applied;
    c->applied = 0;
    c->prev_applied = 0;
    c->states_gen++;
}

static bool my_session_hex(const struct coord *c, char *buf, size_t len)
{
    int64_t s = zkreg_session_id(c->z);
    snprintf(buf, len, "%016llx", (unsigned long long)s);
    return s != 0;
}

/* ---------------------------------------------------------------- agent record and clock check */

/* not_ready_reason: why the record says not ready ("" when it is ready). */
static const char *not_ready_reason(const struct coord *c)
{
    if (!c->skew_ok)
        return c->reason;
    if (c->stalled)
        return "apply stalled";
    return c->loaded ? "" : "loading job configs";
}

/* count_pending: items held pending here (gained, the gate not yet open). */
static int count_pending(struct coord *c)
{
    const char *k;
    void *v;
    int n = 0;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        const struct cjob *j = v;
        for (int i = 0; i < j->nst; i++)
            n += j->st[i] == COORD_PENDING;
    }
    return n;
}

static char *record_json(struct coord *c)
{
    struct plan_agent_rec r = {0};
    struct plan_item *dr = NULL;
    int ndr = 0, cap = 0;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        for (int i = 0; j->draining && i < j->nst; i++) {
            if (!j->draining[i])
                continue;
            if (ndr == cap) {
                cap = cap ? cap * 2 : 16;
                struct plan_item *n = realloc(dr, (size_t)cap * sizeof *dr);
                if (!n)
                    break;
                dr = n;
            }
            dr[ndr++] = (struct plan_item){j->name, i, 0};
        }
    }
    r.host = c->host;
    r.pid = (int)getpid();
    r.labels = c->labels;
    r.nlabels = c->nlabels;
    r.capacity = c->capacity;
    r.version = SC_VERSION;
    r.started_at_ms = c->started_at_ms;
    r.session = zkreg_session_id(c->z);
    r.applied_epoch = c->applied;
    r.prev_applied = c->applied ? c->prev_applied : 0;
    r.applied_ms = c->applied ? c->applied_ms : 0;
    r.carry_ms = c->applied ? c->carry_ms : 0;
    r.member = c->applied && c->member;
    r.session_ms = zkreg_timeout_ms(c->z);
    /* Not ready until every job config is read: the leader adds an agent to
     * the members only once it can compute and apply an epoch at once. */
    r.ready = c->skew_ok && c->loaded && !c->stalled;
    r.reason = (char *)not_ready_reason(c);
    r.skew_ms = c->skew_ms;
    r.draining = dr;
    r.ndraining = ndr;
    r.running = c->running;
    r.nrunning = c->nrunning;
    /* Rides along with every write (none is made for it): a record written
     * at an apply names every label started before it. */
    r.stop_s = c->max_started;
    /* Both change at an apply, an activation or a backlog's start or end,
     * each of which writes the record anyway or marks it dirty once. */
    r.npending = count_pending(c);
    r.backlog_s = c->backlog_s;
    /* a server restart an agent that started later did not see: own_gap_merge */
    int64_t brk = c->gap_first_ms ? c->gap_first_ms : c->gap_ms;
    r.brk_ms = brk > 0 ? brk - c->skew_ms : 0;
    memcpy(r.reran, c->reran, sizeof r.reran);
    r.nreran = c->nreran;
    char *s = plan_agent_json(&r);
    free(dr); /* entries point into the cache */
    return s;
}

/* clock_check: the server stamped `mtime_ms` on a write we sent at t0 and saw
 * answered at t1; our clock's offset is the midpoint minus the stamp. */
static void clock_check(struct coord *c, int64_t t0, int64_t t1, int64_t mtime_ms)
{
    /* The midpoint is only as good as half the round trip: a write that waited
     * behind other requests tells nothing about the clock. */
    if (t1 - t0 > 500)
        return;
    int64_t skew = (t0 + t1) / 2 - mtime_ms;
    bool ok = llabs(skew) <= c->max_skew_ms;
    c->skew_ms = skew;
    c->last_clock_check_ms = t1;
    if (!ok)
        snprintf(c->reason, sizeof c->reason,
                 "clock skew %lld ms against ZooKeeper over max_clock_skew_ms (%d ms)",
                 (long long)skew, c->max_skew_ms);
    if (ok != c->skew_ok) {
        if (ok)
            LOGN("clock within %d ms of ZooKeeper again (skew %lld ms): accepting work",
                 c->max_skew_ms, (long long)skew);
        else
            LOGE("clock is %lld ms off ZooKeeper's (limit %d ms): refusing to run work",
                 (long long)skew, c->max_skew_ms);
        c->skew_ok = ok;
        if (ok)
            c->reason[0] = '\0';
        c->node_dirty = true;
        changed(c);
        schedule_eval(c);
    }
}

struct write_ctx {
    struct coord *c;
    int64_t t0;
    uint64_t gen;
    uint64_t reran; /* reran_total the written record carries */
};

static void write_record(struct coord *c);

static void record_written(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct write_ctx *w = arg;
    struct coord *c = w->c;
    (void)z;
    if (!r->stale && w->gen == c->gen) {
        c->node_inflight = false;
        if (r->rc == ZOK && r->has_stat)
            clock_check(c, w->t0, now_ms(), r->stat.mtime);
        else if (r->rc != ZOK)
            LOGW("writing agent record: %s", zerror(r->rc));
        if (r->rc == ZOK && w->reran > c->reran_acked) {
            /* Our re-run claims are in ZooKeeper: re-runs waiting for them
             * may be queued (items_sync runs on the generation's change). */
            c->reran_acked = w->reran;
            if (strmap_len(&c->reruns) > 0) {
                c->states_gen++;
                changed(c);
            }
        }
        if (r->rc == ZNONODE && c->reg == REG_DONE)
            /* someone removed it (an eviction): as when the watch says so */
            registration_lost(c, "our agent record is gone (evicted by the leader?)");
        else if (r->rc == ZNONODE)
            c->reg = REG_NONE; /* register again on the next eval */
        if (c->node_dirty)
            write_record(c);
    }
    free(w);
}

static void write_record(struct coord *c)
{
    char path[300];
    if (c->reg != REG_DONE || c->node_inflight || zkreg_state(c->z) != ZKREG_CONNECTED)
        return;
    struct write_ctx *w = malloc(sizeof *w);
    char *data = record_json(c);
    if (!w || !data) {
        free(w);
        free(data);
        return;
    }
    *w = (struct write_ctx){c, now_ms(), c->gen, c->reran_total};
    snprintf(path, sizeof path, "/agents/%s", c->id);
    c->node_dirty = false;
    c->node_inflight = true;
    if (zkreg_set(c->z, path, data, (int)strlen(data), -1, record_written, w) != ZOK) {
        c->node_inflight = false;
        c->node_dirty = true;
        free(w);
    }
    free(data);
}

/* ---------------------------------------------------------------- registration */

static void start_election(struct coord *c);
static void load_all(struct coord *c);
static void register_agent(struct coord *c);

static bool pid_alive(int pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void stale_checked(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale || c->reg != REG_WAIT_STALE)
        return;
    if (r->rc == ZNONODE) { /* gone already */
        c->reg = REG_NONE;
        register_agent(c);
    }
    /* ZOK: the exists watch fires when the stale node goes */
}

static void existing_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    struct plan_agent_rec rec = {0};
    struct sc_err err;
    char path[300];
    (void)z;
    if (r->stale || c->reg != REG_CREATING)
        return;
    if (r->rc == ZNONODE) {
        c->reg = REG_NONE;
        register_agent(c);
        return;
    }
    if (r->rc != ZOK) {
        c->reg = REG_NONE; /* retried on reconnect */
        return;
    }
    if (r->stat.ephemeralOwner == zkreg_session_id(c->z)) {
        /* Our own create succeeded but its reply was lost. */
        c->reg = REG_DONE;
        LOGI("registered as /agents/%s (found our own node)", c->id);
        c->node_dirty = true;
        write_record(c);
        start_election(c);
        load_all(c);
        return;
    }
    int prc = plan_agent_parse(r->data, r->len, &rec, &err);
    bool same_host = prc == 0 && rec.host && strcmp(rec.host, c->host) == 0;
    bool ours = r->stat.ephemeralOwner == c->own_session_prev ||
                (same_host && (rec.pid == (int)getpid() || !pid_alive(rec.pid)));
    snprintf(path, sizeof path, "/agents/%s", c->id);
    if (ours) {
        LOGW("agent id %s: a stale node of an earlier session (0x%llx) of this agent exists; "
             "waiting for ZooKeeper to expire it",
             c->id, (unsigned long long)r->stat.ephemeralOwner);
        c->reg = REG_WAIT_STALE;
        zkreg_exists(c->z, path, true, stale_checked, c);
    } else {
        char why[512];
        snprintf(why, sizeof why,
                 "agent id \"%s\" is already registered by a live agent (host %s, pid %d, "
                 "session 0x%llx); choose another --id",
                 c->id, prc == 0 && rec.host ? rec.host : "?", prc == 0 ? rec.pid : 0,
                 (unsigned long long)r->stat.ephemeralOwner);
        LOGE("%s", why);
        c->fatal = true;
        if (c->on_fatal)
            c->on_fatal(c->ctx, why);
    }
    plan_agent_clear(&rec);
}

static void registered(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    char path[300];
    (void)z;
    if (r->stale || c->reg != REG_CREATING)
        return;
    if (r->rc == ZOK) {
        c->reg = REG_DONE;
        LOGI("registered as /agents/%s (session 0x%llx)", c->id,
             (unsigned long long)zkreg_session_id(c->z));
        c->node_dirty = true; /* rewrite at once: the write also measures clock skew */
        write_record(c);
        start_election(c);
        load_all(c);
    } else if (r->rc == ZNODEEXISTS) {
        snprintf(path, sizeof path, "/agents/%s", c->id);
        zkreg_get(c->z, path, false, existing_read, c);
    } else {
        LOGW("registering /agents/%s: %s; retrying when connected", c->id, zerror(r->rc));
        c->reg = REG_NONE;
    }
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)r, (void)arg;
}

static void register_agent(struct coord *c)
{
    char path[300];
    if (c->reg != REG_NONE || c->fatal || zkreg_state(c->z) != ZKREG_CONNECTED)
        return;
    c->reg = REG_CREATING;
    zkreg_ensure(c->z, "/agents", ensured, NULL);
    zkreg_ensure(c->z, "/election", ensured, NULL);
    zkreg_ensure(c->z, "/jobs", ensured, NULL);
    zkreg_ensure(c->z, "/state", ensured, NULL);
    char *data = record_json(c);
    snprintf(path, sizeof path, "/agents/%s", c->id);
    if (!data ||
        zkreg_create(c->z, path, data, (int)strlen(data), ZOO_EPHEMERAL, registered, c) != ZOK)
        c->reg = REG_NONE;
    free(data);
}

/* registration_lost: our node is gone while our session lives (the leader
 * evicted us, an operator removed it, or we deleted it ourselves): our items
 * may be given to others now. Stop at once, as after a lost session — kill
 * running executions, drop every item — and register again (the next eval). */
static void registration_lost(struct coord *c, const char *why)
{
    LOGW("%s: killing running executions, dropping every item, registering again", why);
    c->reg = REG_NONE;
    c->lost_ms = now_ms();
    drop_all(c, "dropped: this agent's registration was lost (evicted) before it could handle "
                "the fire");
    if (c->on_lost)
        c->on_lost(c->ctx);
    changed(c);
    schedule_eval(c);
}

/* ---------------------------------------------------------------- election */

static void check_leader(struct coord *c);

/* seq_of: the sequence suffix of an election node name. */
static long long seq_of(const char *name)
{
    const char *u = strrchr(name, '_');
    return u ? atoll(u + 1) : -1;
}

static void pred_exists(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZNONODE)
        check_leader(c); /* predecessor went between listing and watching */
}

static void election_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    char want[40], path[300];
    (void)z;
    if (r->stale || r->rc != ZOK)
        return;
    my_session_hex(c, want, sizeof want);
    if (!c->elect[0]) {
        /* A lost create reply: find our node by the session id in its name. */
        for (int i = 0; i < r->nchildren; i++)
            if (strstr(r->children[i], want))
                snprintf(c->elect, sizeof c->elect, "/election/%s", r->children[i]);
        if (!c->elect[0]) {
            start_election(c);
            return;
        }
    }
    const char *mine = c->elect + strlen("/election/");
    long long my_seq = seq_of(mine), best_below = -1;
    const char *pred = NULL;
    bool found = false;
    for (int i = 0; i < r->nchildren; i++) {
        long long s = seq_of(r->children[i]);
        if (strcmp(r->children[i], mine) == 0)
            found = true;
        else if (s < my_seq && s > best_below) {
            best_below = s;
            pred = r->children[i];
        }
    }
    if (!found) { /* our node is gone (should not happen within a session) */
        c->elect[0] = '\0';
        start_election(c);
        return;
    }
    bool was = c->leader;
    c->leader = pred == NULL;
    if (c->leader && !was) {
        LOGN("elected leader (%s)", mine);
        schedule_eval(c);
        changed(c);
    }
    if (pred) {
        snprintf(path, sizeof path, "/election/%s", pred);
        zkreg_exists(c->z, path, true, pred_exists, c);
    }
}

static void check_leader(struct coord *c)
{
    if (zkreg_state(c->z) == ZKREG_CONNECTED)
        zkreg_children(c->z, "/election", false, election_listed, c);
}

static void elect_created(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale)
        return;
    c->elect_creating = false;
    if (r->rc == ZOK)
        snprintf(c->elect, sizeof c->elect, "%s", r->path);
    /* On ZCONNECTIONLOSS the node may exist: check_leader finds it by session id. */
    check_leader(c);
}

static void start_election(struct coord *c)
{
    char path[300], hex[40];
    if (c->elect[0] || c->elect_creating || !my_session_hex(c, hex, sizeof hex))
        return;
    snprintf(path, sizeof path, "/election/n_%s_", hex);
    c->elect_creating = true;
    if (zkreg_create(c->z, path, c->id, (int)strlen(c->id), ZOO_EPHEMERAL | ZOO_SEQUENCE,
                     elect_created, c) != ZOK)
        c->elect_creating = false;
}

/* ---------------------------------------------------------------- caches */

static void job_read(struct zkreg *z, const struct zkreg_result *r, void *arg);
static void agent_read(struct zkreg *z, const struct zkreg_result *r, void *arg);

struct read_ctx {
    struct coord *c;
    char *name;
    uint64_t inc; /* jobs: the incarnation the read is for */
};

/* watch_read: get `path` (with a watch when asked). `loading` counts this
 * node's reads in flight and `pending` the nodes with reads in flight, so the
 * views count as settled only when every read has answered. Replies come in
 * order, so each is applied and the last one read wins. */
static void watch_read(struct coord *c, const char *path, const char *name, uint64_t inc,
                       bool watch, int *loading, int *pending, zkreg_cb cb)
{
    struct read_ctx *rc = malloc(sizeof *rc);
    if (!rc)
        return;
    *rc = (struct read_ctx){c, strdup(name), inc};
    if ((*loading)++ == 0)
        (*pending)++;
    if (!rc->name || zkreg_get(c->z, path, watch, cb, rc) != ZOK) {
        if (--(*loading) == 0)
            (*pending)--;
        free(rc->name);
        free(rc);
    }
}

static void list_triggers(struct coord *c, const char *job);

static void read_job(struct coord *c, struct cjob *j)
{
    char path[300];
    snprintf(path, sizeof path, "/jobs/%s", j->name);
    /* No watch: the change log announces rewrites (one watch per agent
     * instead of one per job). */
    watch_read(c, path, j->name, j->inc, false, &j->loading, &c->jobs_loading, job_read);
}

static void read_agent(struct coord *c, struct cagent *a)
{
    char path[300];
    snprintf(path, sizeof path, "/agents/%s", a->id);
    watch_read(c, path, a->id, 0, true, &a->loading, &c->agents_loading, agent_read);
}

static void job_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct coord *c = rc->c;
    struct cjob *j = r->stale ? NULL : strmap_get(&c->jobs, rc->name);
    (void)z;
    if (j && j->inc == rc->inc && j->loading > 0) {
        if (--j->loading == 0)
            c->jobs_loading--;
        j->read_failed = r->rc != ZOK && r->rc != ZNONODE;
        if (r->rc == ZOK) {
            struct job *cfg = NULL;
            struct sc_err err;
            sc_err_clear(&err);
            int prc = job_parse(r->data ? r->data : "", r->data ? (size_t)r->len : 0, &cfg, &err);
            if (prc == 0 && strcmp(cfg->name, j->name) != 0) {
                prc = sc_err_set(&err, EINVAL, "name", -1, "\"%s\" differs from the node name",
                                 cfg->name);
                job_free(cfg);
                cfg = NULL;
            }
            if (prc < 0) {
                char msg[300];
                snprintf(j->error, sizeof j->error, "%s", sc_err_format(&err, msg, sizeof msg));
                if (j->cfg || j->mzxid != r->stat.mzxid)
                    LOGW("job %s: invalid config, skipped: %s", j->name, j->error);
            } else {
                j->error[0] = '\0';
            }
            job_free(j->cfg);
            j->cfg = cfg;
            j->mzxid = r->stat.mzxid;
            j->czxid = r->stat.czxid;
            j->ctime_ms = r->stat.ctime;
            c->jobs_gen++;
        } else if (r->rc == ZNONODE) {
            /* deleted: the children watch removes it */
        }
        changed(c);
        schedule_eval(c);
    }
    free(rc->name);
    free(rc);
}

static void agent_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct coord *c = rc->c;
    struct cagent *a = r->stale ? NULL : strmap_get(&c->agents, rc->name);
    (void)z;
    if (a && a->loading > 0) {
        if (--a->loading == 0)
            c->agents_loading--;
        if (r->rc == ZOK) {
            struct plan_agent_rec rec;
            struct sc_err err;
            if (plan_agent_parse(r->data, r->len, &rec, &err) == 0) {
                /* An earlier session of it went without our seeing it go
                 * (its node was deleted and created again between our
                 * reads): it vanished by now. */
                if (a->alive && a->loaded && a->node_session &&
                    a->node_session != r->stat.ephemeralOwner) {
                    mark_gone(c, a);
                    a->alive = true;
                }
                plan_agent_clear(&a->rec);
                a->rec = rec;
                a->loaded = true;
                a->suspect = false;
                a->node_session = r->stat.ephemeralOwner;
            } else {
                LOGW("agent record /agents/%s unreadable: %s: %s", a->id, err.field, err.msg);
            }
        } else if (r->rc == ZNONODE) {
            mark_gone(c, a);
            if (strcmp(a->id, c->id) == 0 && c->reg == REG_DONE)
                /* its deletion's event came while no watch was set */
                registration_lost(c, "our agent record is gone (evicted by the leader?)");
        }
        schedule_eval(c);
    }
    free(rc->name);
    free(rc);
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool listed(const struct zkreg_result *r, const char *name)
{
    return bsearch(&name, r->children, (size_t)r->nchildren, sizeof(char *), strcmp_ptr) != NULL;
}

static void jobs_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    const char *k;
    void *v;
    int e;
    (void)z;
    if (r->stale || r->rc != ZOK)
        return;
    /* Remove jobs that are gone (the children are sorted: bsearch). */
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        if (!listed(r, k)) {
            struct cjob *j = strmap_del(&c->jobs, k);
            if (j->loading)
                c->jobs_loading--;
            LOGI("job %s deleted", j->name);
            cjob_free(j);
            c->jobs_gen++;
        }
    }
    for (int i = 0; i < r->nchildren; i++) {
        if (strmap_get(&c->jobs, r->children[i]))
            continue;
        struct cjob *j = calloc(1, sizeof *j);
        if (!j || !(j->name = strdup(r->children[i]))) {
            cjob_free(j);
            continue;
        }
        j->inc = ++c->job_incs;
        strmap_put(&c->jobs, j->name, j, &e);
        if (e < 0) {
            cjob_free(j);
            continue;
        }
        read_job(c, j);
        c->jobs_gen++;
    }
    c->jobs_listed = true;
    /* Triggers announced before the jobs were known. */
    for (size_t it = 0; strmap_next(&c->trig_wait, &it, &k, &v);)
        if (strmap_get(&c->jobs, k))
            list_triggers(c, k);
    strmap_free(&c->trig_wait);
    strmap_init(&c->trig_wait);
    changed(c);
    schedule_eval(c);
}

static void agents_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    const char *k;
    void *v;
    int e;
    (void)z;
    if (r->stale || r->rc != ZOK)
        return;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (a->alive && !listed(r, k)) {
            LOGI("agent %s left", a->id);
            mark_gone(c, a); /* kept as a tombstone: its last record names what it ran */
        }
    }
    for (int i = 0; i < r->nchildren; i++) {
        struct cagent *a = strmap_get(&c->agents, r->children[i]);
        if (a && a->alive)
            continue;
        if (!a) {
            a = calloc(1, sizeof *a);
            if (!a || !(a->id = strdup(r->children[i]))) {
                cagent_free(a);
                continue;
            }
            strmap_put(&c->agents, a->id, a, &e);
            if (e < 0) {
                cagent_free(a);
                continue;
            }
        }
        a->alive = true;
        a->loaded = false;
        a->suspect = false;
        if (strcmp(a->id, c->id) != 0)
            LOGI("agent %s joined", a->id);
        read_agent(c, a);
    }
    /* Every session that vanished before now and that we did not see go
     * started nothing after now, by a clock within the skew of ours
     * (own_takeover_in.view_start_ms). */
    if (r->has_stat && r->stat.pzxid > c->agents_pzxid)
        c->agents_pzxid = r->stat.pzxid;
    if (!c->view_start_ms) {
        c->view_start_ms = now_ms();
        /* every session that vanished before this listing had its node
         * deleted at or before the listing's pzxid: a job created after it
         * was never seen by any of them */
        c->view_pzxid = r->has_stat ? r->stat.pzxid : INT64_MAX;
    }
    c->agents_listed = true;
    schedule_eval(c);
}

static void snap_exists_cb(struct zkreg *z, const struct zkreg_result *r, void *arg);
static void note_evicted(struct coord *c, const struct plan_snapshot *s);

/* snap_seen: c->snap was just replaced (read, or published by us). */
static void snap_seen(struct coord *c)
{
    if (c->snap.epoch > c->applied && !c->newer_seen_ms)
        c->newer_seen_ms = now_ms(); /* own_apply_overdue counts from here */
    if (c->snap.outage_from_ms > 0)
        c->outage_from_ms = c->snap.outage_from_ms;
    note_evicted(c, &c->snap);
}

static void snap_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    struct plan_snapshot s;
    struct sc_err err;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) {
        c->snap_loaded = true;
        c->snap_exists = false;
        zkreg_exists(c->z, "/state/assignment", true, snap_exists_cb, c);
    } else if (r->rc == ZOK) {
        if (plan_snapshot_parse(r->data, r->len, &s, &err) == 0) {
            if (!c->snap_exists || s.epoch >= c->snap.epoch) {
                plan_snapshot_clear(&c->snap);
                c->snap = s;
                c->snap_version = r->stat.version;
                snap_seen(c);
            } else {
                plan_snapshot_clear(&s);
            }
            c->snap_exists = true;
            c->snap_loaded = true;
        } else {
            LOGE("assignment snapshot unreadable (%s: %s); waiting for the leader to rewrite it",
                 err.field, err.msg);
            c->snap_version = r->stat.version;
            c->snap_loaded = true;
            c->snap_exists = true; /* the leader overwrites it at version snap_version */
        }
    }
    schedule_eval(c);
}

static void snap_exists_cb(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (!r->stale && r->rc == ZOK) /* created in between */
        zkreg_get(c->z, "/state/assignment", true, snap_read, c);
}

/* ---------------------------------------------------------------- job change log */

static void changes_list(struct coord *c);

static void chg_free(struct coord *c)
{
    for (int i = 0; i < c->nchg; i++)
        free(c->chg[i].name);
    free(c->chg);
    c->chg = NULL;
    c->nchg = 0;
}

static int cmp_chg(const void *a, const void *b)
{
    const struct chg_entry *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* note_trigger: a trigger entry names `job`: look at its triggers (the leader
 * keeps looking until they are gone, to remove finished ones). */
static void note_trigger(struct coord *c, const char *job)
{
    int e;
    if (!c->jobs_listed) {
        strmap_put(&c->trig_wait, job, (void *)1, &e);
        return;
    }
    if (strmap_get(&c->jobs, job))
        list_triggers(c, job);
}

struct chg_ctx {
    struct coord *c;
    uint64_t gen;
    char **names;
    int n;
};

static void chg_ctx_free(struct chg_ctx *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->names[i]);
    free(x->names);
    free(x);
}

/* changes_data: the parent's data (pruned_through) read after the listing in
 * x; handle the entries this agent has not seen. */
static void changes_data(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct chg_ctx *x = arg;
    struct coord *c = x->c;
    (void)z;
    if (r->stale || x->gen != c->gen || (r->rc != ZOK && r->rc != ZNONODE)) {
        chg_ctx_free(x);
        return;
    }
    int64_t pruned = r->rc == ZOK ? plan_changes_pruned(r->data, r->len) : -1;
    int64_t t = now_ms();
    struct chg_entry *v = calloc((size_t)x->n + 1, sizeof *v);
    int n = 0;
    char job[JOB_NAME_MAX + 1];
    enum plan_change_kind kind;
    int64_t seq;
    if (!v) {
        chg_ctx_free(x);
        return;
    }
    for (int i = 0; i < x->n; i++) {
        if (plan_change_parse(x->names[i], &kind, job, sizeof job, &seq) < 0)
            continue;
        v[n].name = x->names[i];
        x->names[i] = NULL;
        v[n].seq = seq;
        v[n].seen_ms = t;
        for (int k = 0; k < c->nchg; k++)
            if (c->chg[k].seq == seq) {
                v[n].seen_ms = c->chg[k].seen_ms;
                break;
            }
        n++;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_chg);
    bool first = !c->chg_listed;
    if (!first && c->chg_seen < pruned) {
        /* Entries this agent never saw were pruned: read every job again. */
        const char *k;
        void *val;
        LOGW("job change log pruned past what this agent saw (%lld < %lld): re-reading all jobs",
             (long long)c->chg_seen, (long long)pruned);
        for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &val);)
            read_job(c, val);
    }
    int64_t seen = c->chg_seen > pruned ? c->chg_seen : pruned;
    for (int i = 0; i < n; i++) {
        if (v[i].seq <= c->chg_seen && !first)
            continue;
        if (plan_change_parse(v[i].name, &kind, job, sizeof job, &seq) < 0)
            continue;
        if (kind == PLAN_CHANGE_TRIGGER) {
            note_trigger(c, job);
        } else if (!first) {
            /* On the first listing the jobs are read after it anyway. */
            struct cjob *j = strmap_get(&c->jobs, job);
            if (j)
                read_job(c, j);
        }
        if (seq > seen)
            seen = seq;
    }
    c->chg_seen = seen;
    chg_free(c);
    c->chg = v;
    c->nchg = n;
    if (first) {
        c->chg_listed = true;
        /* Listed after the log: a rewrite from now on has an entry we will see. */
        zkreg_children(c->z, "/jobs", true, jobs_listed, c);
    }
    chg_ctx_free(x);
    schedule_eval(c);
}

static void changes_ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZOK || r->rc == ZNODEEXISTS) {
        changes_list(c);
    } else {
        LOGE("cannot create " PLAN_CHANGES ": %s; retrying", zerror(r->rc));
        c->chg_retry = true; /* the next tick lists again */
    }
}

static void changes_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) { /* first use of this namespace: create, then list */
        if (zkreg_ensure(z, PLAN_CHANGES, changes_ensured, c) != ZOK)
            c->chg_retry = true;
        return;
    }
    if (r->rc != ZOK)
        return;
    struct chg_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return;
    x->c = c;
    x->gen = c->gen;
    x->names = calloc((size_t)r->nchildren + 1, sizeof *x->names);
    for (int i = 0; x->names && i < r->nchildren; i++)
        if ((x->names[x->n] = strdup(r->children[i])))
            x->n++;
    /* The watermark is read after the listing: if a prune ran in between, the
     * newer watermark can only make this agent re-read more, never less. */
    if (!x->names || zkreg_get(z, PLAN_CHANGES, false, changes_data, x) != ZOK)
        chg_ctx_free(x);
}

static void changes_list(struct coord *c)
{
    zkreg_children(c->z, PLAN_CHANGES, true, changes_listed, c);
}

#define CHANGE_KEEP_MS (TRIGGER_TTL_MS + 60 * 1000) /* entries outlive their triggers */
#define PRUNE_EVERY_MS (30 * 1000)
#define PRUNE_BATCH 100

static void pruned(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)arg;
    if (!r->stale && r->rc != ZOK)
        LOGD("pruning the job change log: %s", zerror(r->rc));
}

/* prune_changes (leader): delete entries listed more than CHANGE_KEEP_MS ago,
 * oldest first, and record the highest deleted sequence; fenced by our
 * election node like every leader write. */
static void prune_changes(struct coord *c)
{
    int64_t t = now_ms();
    if (!c->leader || !c->elect[0] || t - c->last_prune_ms < PRUNE_EVERY_MS)
        return;
    c->last_prune_ms = t;
    struct zkreg_op ops[PRUNE_BATCH + 2];
    char paths[PRUNE_BATCH][300], data[64];
    int n = 0;
    int64_t through = 0;
    for (int i = 0; i < c->nchg && n < PRUNE_BATCH; i++) {
        if (t - c->chg[i].seen_ms < CHANGE_KEEP_MS)
            break;
        snprintf(paths[n], sizeof paths[n], PLAN_CHANGES "/%s", c->chg[i].name);
        ops[n + 1] = (struct zkreg_op){.type = ZKOP_DELETE, .path = paths[n], .version = -1};
        through = c->chg[i].seq;
        n++;
    }
    if (n == 0)
        return;
    ops[0] = (struct zkreg_op){.type = ZKOP_CHECK, .path = c->elect, .version = -1};
    snprintf(data, sizeof data, "{\"pruned_through\":%lld}", (long long)through);
    ops[n + 1] = (struct zkreg_op){.type = ZKOP_SET,
                                   .path = PLAN_CHANGES,
                                   .data = data,
                                   .len = (int)strlen(data),
                                   .version = -1};
    zkreg_multi(c->z, ops, n + 2, pruned, NULL);
}

/* scan_triggers (leader): look again at jobs whose triggers are not removed
 * yet; triggers_listed removes the finished ones. */
static void scan_triggers(struct coord *c)
{
    const char *k;
    void *v;
    int64_t t = now_ms();
    if (!c->leader || t - c->last_trig_scan_ms < 2000 || strmap_len(&c->trig_open) == 0)
        return;
    c->last_trig_scan_ms = t;
    for (size_t it = 0; strmap_next(&c->trig_open, &it, &k, &v);)
        list_triggers(c, k);
}

static void load_all(struct coord *c)
{
    zkreg_children(c->z, "/agents", true, agents_listed, c);
    zkreg_get(c->z, "/state/assignment", true, snap_read, c);
    changes_list(c); /* then /jobs */
}

/* ---------------------------------------------------------------- fires between owners */

/* When an item moves, the previous owner stops it when it applies the epoch
 * (or when its session ends) and the new owner starts it only when its gate
 * opens; fires in between are run by nobody. The new owner accounts for them
 * (docs/coordination.md, "Fires between owners"): at the gain it notes who
 * owned the item at the epoch it applied before; when the item becomes active
 * it computes from that owner's record a window (lo, hi] (plan_handover_window):
 * fires after lo had no owner unless the previous owner ran them, fires after
 * hi certainly had none. The agent's scheduler takes the window
 * (coord_take_handover) when it adds the item. */

/* item_forget: free the value a per-item map holds for (job, item). */
static void item_forget(struct strmap *m, const char *job, int item)
{
    char key[JOB_ITEM_KEY_MAX];
    if (strmap_len(m) == 0)
        return;
    job_item_key(key, sizeof key, job, item);
    free(strmap_del(m, key));
}

static void handover_forget(struct coord *c, const char *job, int item)
{
    item_forget(&c->handovers, job, item);
}

static int cmp_member_key(const void *key, const void *m)
{
    return strcmp(key, ((const struct plan_member *)m)->id);
}

/* member_session: the session of member `id` in snapshot s (0 unknown). */
static int64_t member_session(const struct plan_snapshot *s, const char *id)
{
    const struct plan_member *m =
        bsearch(id, s->members, (size_t)s->nmembers, sizeof *s->members, cmp_member_key);
    return m ? m->session : 0;
}

/* handover_put: note a gain's handover (the caller's calloc'ed h is taken). */
static void handover_put(struct coord *c, const char *job, int item, struct handover *h)
{
    char key[JOB_NAME_MAX + 16];
    int e;
    job_item_key(key, sizeof key, job, item);
    strmap_put(&c->handovers, key, h, &e);
    if (e < 0)
        free(h);
}

/* handover_any: a takeover from an owner we do not know (OWN_PREV_ANY):
 * whoever owned it last is a live peer that stopped it when it applied our
 * epoch, or is gone. */
static void handover_any(struct coord *c, const char *job, int item, int64_t prev_created_ms,
                         bool unowned_before)
{
    struct handover *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->prev_created_ms = prev_created_ms;
    h->unowned_before = unowned_before;
    handover_put(c, job, item, h);
}

/* handover_none: no previous owner is known (OWN_PREV_NONE). The item still
 * goes through own_takeover: whoever may have run it (an agent at an epoch
 * we skipped, a clock ahead of ours) is within its bound. */
static void handover_none(struct coord *c, const char *job, int item)
{
    struct handover *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->none = true;
    h->prev_epoch = c->applied;
    h->prev_created_ms = c->applied_created_ms;
    handover_put(c, job, item, h);
}

/* handover_gain: (job, item) just became ours; `before` is the assignment of
 * the epoch we applied until now (NULL: none in this session, so there is no
 * previous owner we know of). */
static void handover_gain(struct coord *c, const struct shard_assignment *before, const char *job,
                          int item)
{
    handover_forget(c, job, item);
    if (!before || !c->applied) {
        /* Our first epoch in this session (a new agent, a rebuilt session). */
        handover_any(c, job, item, c->snap.created_ms, false);
        return;
    }
    int ji = shard_job_find(before, job);
    if (ji < 0 || item >= shard_job_items(before, ji)) {
        handover_none(c, job, item); /* a new job or item: it had no owner */
        return;
    }
    int o = shard_owner(before, ji, item);
    if (o < 0) {
        /* Nobody owned it at our previous epoch. After a total outage (an
         * epoch with no members, and our own session lost moments ago) its
         * last owner was a session that is gone: its fires since are
         * accounted here. Otherwise (a cluster starting, or no eligible
         * agent) nobody ran it and the leader's no_agent alert says so. */
        int64_t t = zkreg_timeout_ms(c->z);
        if (c->applied_snap.nmembers == 0 && c->applied_snap.outage_from_ms > 0)
            handover_any(c, job, item, c->applied_snap.outage_from_ms, true);
        else if (c->applied_snap.nmembers == 0 && c->lost_ms > 0 && now_ms() - c->lost_ms < 10 * t)
            handover_any(c, job, item, c->applied_created_ms, true);
        else
            handover_none(c, job, item);
        return;
    }
    const char *from = shard_agent_id(before, o);
    int64_t from_session = from ? member_session(&c->applied_snap, from) : 0;
    /* Ours already, unless it was our own earlier session's (members are
     * sessions: that one stopped when it was given up). */
    if (!from || (strcmp(from, c->id) == 0 &&
                  own_member_self(c->id, zkreg_session_id(c->z), from, from_session))) {
        handover_none(c, job, item);
        return;
    }
    struct handover *h = calloc(1, sizeof *h);
    if (!h)
        return;
    snprintf(h->from, sizeof h->from, "%s", from);
    h->from_session = from_session;
    h->prev_epoch = c->applied;
    h->prev_created_ms = c->applied_created_ms;
    handover_put(c, job, item, h);
}

/* evicted_in_snapshot: the leader evicted (id, session) for the epoch we apply. */
static bool evicted_in_snapshot(const struct plan_snapshot *s, const char *id, int64_t session)
{
    for (int i = 0; i < s->nevicted; i++)
        if (strcmp(s->evicted[i], id) == 0 &&
            (session == 0 || s->evicted_session[i] == 0 || s->evicted_session[i] == session))
            return true;
    return false;
}

/* ---- the takeover bound */

/* struct bound: own_takeover_in's bound every takeover respects, whoever owned
 * the item before (the same for every item at one instant). */
struct bound {
    bool valid;
    int64_t peers_stop_s, dead_hi_ms, view_start_ms;
    bool recent_evictions;
};

/* takeover_bound: from live peers at our epoch (their records' stop_s: they
 * stopped what they do not own at it and name every label started before),
 * every session this process saw vanish (own_dead_hi_ms), and when this
 * session first listed the agents (sessions that vanished before it). */
static void takeover_bound(struct coord *c, struct bound *b)
{
    const char *k;
    void *v;
    struct vanish latest = c->past_bound; /* sessions seen to vanish in this process */
    *b = (struct bound){.valid = true,
                        .peers_stop_s = c->max_started,
                        .view_start_ms = c->view_start_ms,
                        .recent_evictions = c->snap.nevicted > 0};
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        /* every live peer: one at our epoch stopped what it lost at its
         * apply; one that applied nothing in its session (it evicted itself,
         * or built a new one) dropped everything before writing this record;
         * one at another epoch keeps the gate shut */
        if (a->alive && a->loaded && strcmp(a->id, c->id) != 0 && a->rec.stop_s > b->peers_stop_s)
            b->peers_stop_s = a->rec.stop_s;
        vanish_keep(&latest, &a->bound);
    }
    if (latest.gone_ms > 0)
        b->dead_hi_ms = own_dead_hi_ms(latest.gone_ms, c->skew_ms, c->max_skew_ms, latest.evicted,
                                       latest.session_ms);
}

/* ---- failover re-run claims */

static bool gone_claimed(const struct coord *c, int64_t session)
{
    int n = c->ngone_claims < GONE_CLAIMS_MAX ? c->ngone_claims : GONE_CLAIMS_MAX;
    return plan_reran_has(c->gone_claims, n, session);
}

/* rerun_claimed: another agent published that it re-runs the cut-off runs of
 * dead session d: a live peer's record, or the last record we held of an
 * agent we saw vanish. */
static bool rerun_claimed(struct coord *c, int64_t d)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        if (a->loaded && strcmp(a->id, c->id) != 0 &&
            plan_reran_has(a->rec.reran, a->rec.nreran, d))
            return true;
    }
    return gone_claimed(c, d);
}

static bool rerun_decided(const struct coord *c, int64_t d, const char *job, int item)
{
    int n = c->nrerun_done < RERUN_DONE_MAX ? c->nrerun_done : RERUN_DONE_MAX;
    for (int i = 0; i < n; i++)
        if (c->rerun_done[i].session == d && c->rerun_done[i].item == item &&
            strcmp(c->rerun_done[i].job, job) == 0)
            return true;
    return false;
}

static void rerun_forget(struct coord *c, const char *job, int item)
{
    item_forget(&c->reruns, job, item);
}

/* rerun_claim: (job, item) became active here with a failover re-run from
 * its takeover (own_takeover: only the direct successor of the dead session).
 * Unless another agent claimed that session's re-runs, or this process
 * already decided this one, our record claims the session (reran) and the
 * re-run waits until ZooKeeper has acknowledged a record carrying the claim
 * (coord_take_rerun): an agent that takes the item from the same session
 * later sees the claim and does not run the fire again. */
static void rerun_claim(struct coord *c, struct cjob *j, int item)
{
    char key[JOB_NAME_MAX + 16];
    int e;
    job_item_key(key, sizeof key, j->name, item);
    const struct handover *h = strmap_get(&c->handovers, key);
    if (!h || !h->resolved || h->t.rerun_fire < 0)
        return;
    int64_t d = h->rerun_session;
    if (rerun_claimed(c, d)) {
        LOGN("job %s item %d: the cut-off runs of session 0x%llx (%s) are re-run by another "
             "agent: fire %lld is not re-run here",
             j->name, item, (unsigned long long)d, h->from, (long long)h->t.rerun_fire);
        return;
    }
    if (rerun_decided(c, d, j->name, item))
        return; /* taken from that session again (a stale epoch): re-run once */
    struct rerun_done *done = &c->rerun_done[c->nrerun_done++ % RERUN_DONE_MAX];
    done->session = d;
    done->item = item;
    snprintf(done->job, sizeof done->job, "%s", j->name);
    if (plan_reran_add(c->reran, &c->nreran, d)) {
        c->reran_total++;
        c->node_dirty = true;
    }
    struct rerun_wait *w = malloc(sizeof *w);
    if (!w)
        return;
    *w = (struct rerun_wait){h->t.rerun_fire, d, c->reran_total};
    free(strmap_del(&c->reruns, key));
    strmap_put(&c->reruns, key, w, &e);
    if (e < 0)
        free(w);
}

/* snap_gone_hi: the leader's bound on the sessions that vanished before our
 * first view, for job j, when its listing reflects everything up to that
 * view (own_takeover_in.snap_gone_hi_ms; 0: none). A session that vanished
 * before the leader's own first listing never saw a job created after it. */
static int64_t snap_gone_hi(const struct coord *c, const struct cjob *j)
{
    const struct plan_snapshot *s = &c->snap;
    if (s->agents_pzxid <= 0 || s->agents_pzxid < c->view_pzxid)
        return 0;
    int64_t v = j->czxid > s->view_pzxid ? 0 : s->view_hi_ms;
    int64_t hi = s->dead_hi_ms > v ? s->dead_hi_ms : v;
    return hi > 0 ? hi : 1; /* 1: stated, and nobody to fear */
}

/* handover_resolve: (job, item) is about to become active: fix its window
 * and first own fire from what we know of the previous owner now
 * (own_takeover, with the bound b), once. Returns the time before which it
 * must not start (our clock; 0 = now). */
static int64_t handover_resolve(struct coord *c, struct cjob *j, int item, const struct bound *b)
{
    char key[JOB_NAME_MAX + 16];
    /* A failover re-run is allowed only once its claim is acknowledged
     * (coord_take_rerun). */
    j->first[item] = 0;
    j->rerun[item] = -1;
    if (strmap_len(&c->handovers) == 0)
        return 0;
    job_item_key(key, sizeof key, j->name, item);
    struct handover *h = strmap_get(&c->handovers, key);
    if (!h)
        return 0;
    if (h->resolved) {
        j->first[item] = h->t.first_s;
        return h->t.not_before_ms;
    }
    struct cagent *x = h->none ? NULL : strmap_get(&c->agents, h->from);
    bool self_old = !h->none && strcmp(h->from, c->id) == 0, any = !h->none && !h->from[0];
    /* The session that owned the item ended: the agent is gone, its node
     * belongs to another session now, or it vanished after our previous
     * snapshot was published and came back. */
    h->died =
        !h->none && (self_old || !x || !x->alive || x->gone_ms > h->prev_created_ms ||
                     (h->from_session && x->node_session && x->node_session != h->from_session));
    struct own_takeover_in in = {
        .prev = h->none    ? OWN_PREV_NONE
                : any      ? OWN_PREV_ANY
                : self_old ? OWN_PREV_SELF_OLD
                : !x       ? OWN_PREV_UNKNOWN
                : h->died  ? OWN_PREV_DIED
                           : OWN_PREV_ALIVE,
        .epoch = c->applied,
        .prev_epoch = h->prev_epoch,
        .prev_created_ms = h->prev_created_ms,
        .snap_created_ms = c->snap.created_ms,
        .session_ms = zkreg_timeout_ms(c->z),
        .max_skew_ms = c->max_skew_ms,
        .skew_ms = c->skew_ms,
        .now_ms = now_ms(),
        .owner_running_fire = -1,
        .failover = j->cfg && j->cfg->failover,
        .self_lost_ms = c->lost_ms,
        .outage_from_ms = c->outage_from_ms,
        .job_created_ms = j->ctime_ms,
        .unowned_before = h->unowned_before,
        .peers_stop_s = b->peers_stop_s,
        .dead_hi_ms = b->dead_hi_ms,
        /* sessions that vanished before our first view never saw a job
         * created after it (ZooKeeper's order, no clocks) */
        .view_start_ms = j->czxid > c->view_pzxid ? 0 : b->view_start_ms,
        .snap_gone_hi_ms = snap_gone_hi(c, j),
        .recent_evictions = b->recent_evictions,
        .settled_ms = c->settled_ms,
        .server_gap_ms =
            own_server_gap_ms(c->gap_first_ms, c->gap_ms, c->view_start_ms, zkreg_timeout_ms(c->z)),
    };
    {
        /* a server restart we did not see (we started later) may be one a
         * live peer saw */
        const char *k;
        void *v;
        for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
            const struct cagent *a = v;
            if (a->alive && a->loaded && strcmp(a->id, c->id) != 0)
                in.server_gap_ms = own_gap_merge(in.server_gap_ms, a->rec.brk_ms, c->skew_ms,
                                                 in.now_ms, zkreg_timeout_ms(c->z));
        }
    }
    if (self_old) {
        /* our old session held the item only if it applied the epoch that
         * gave it; we know that of the session we gave up last */
        in.owner_epoch =
            !h->from_session || h->from_session == c->own_session_prev ? c->lost_applied : 0;
    }
    if (any) {
        const char *k;
        void *v;
        h->died = false;
        for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
            const struct cagent *a = v;
            if (a->alive && a->loaded && strcmp(a->id, c->id) != 0 &&
                a->rec.applied_epoch == c->applied && a->rec.applied_ms > in.owner_applied_ms) {
                in.owner_epoch = c->applied;
                in.owner_applied_ms = a->rec.applied_ms;
            }
        }
    } else if (x && h->died && !self_old) {
        in.gone_ms = x->gone_ms;
        in.owner_session_ms = x->gone_session_ms;
        in.owner_skew_ms = x->gone_skew_ms;
        in.evicted = evicted_in_snapshot(&c->snap, h->from, h->from_session) ||
                     (x->gone_evicted && (!h->from_session || x->gone_session == h->from_session));
        /* Only the record of the session that owned it, only if it was
         * current when the node went (not held across a broken connection),
         * and only here: the direct successor re-runs a cut-off run once,
         * nobody else ever. */
        /* it held the item only if its last record shows it applied the
         * epoch that gave it (own.c takeover_exact) */
        /* its queued fires (due, not started) died with it unrecorded: from
         * its last record, when that was current as it vanished */
        if (x->loaded && !x->alive && x->gone_trusted &&
            (!h->from_session || x->rec.session == h->from_session)) {
            in.owner_epoch = x->rec.applied_epoch;
            in.owner_backlog_s = x->rec.backlog_s;
        }
        if (x->loaded && !x->alive && x->gone_trusted &&
            (!h->from_session || x->rec.session == h->from_session)) {
            h->rerun_session = h->from_session ? h->from_session : x->rec.session;
            for (int i = 0; i < x->rec.nrunning; i++)
                if (x->rec.running[i].item == item && strcmp(x->rec.running[i].job, j->name) == 0)
                    in.owner_running_fire = x->rec.running[i].fire;
        }
    } else if (x && x->loaded) {
        in.owner_epoch = x->rec.applied_epoch;
        in.owner_applied_ms = x->rec.applied_ms;
        in.owner_carry_ms = x->rec.carry_ms;
        in.owner_prev_applied = x->rec.prev_applied;
        /* A clock out of bounds: it started nothing by it, and what it
         * declared is in its clock; judge it by ZooKeeper's. */
        if (llabs(x->rec.skew_ms) > c->max_skew_ms)
            in.owner_applied_ms -= x->rec.skew_ms;
    }
    own_takeover(&in, &h->t);
    j->first[item] = h->t.first_s;
    h->resolved = true;
    LOGD("job %s item %d: taken over from %s (%s); fires after %lld had no owner unless it ran "
         "them, after %lld none; ours from %lld%s",
         j->name, item,
         h->none ? "nobody"
         : any   ? "any live agent"
                 : h->from,
         h->none    ? "no previous owner known"
         : any      ? "our first epoch"
         : self_old ? "our own earlier session"
         : h->died  ? "its session ended"
                    : "moved",
         (long long)h->t.lo_ms, (long long)h->t.hi_ms, (long long)h->t.first_s,
         h->t.rerun_fire >= 0 ? "; its cut-off run is to be re-run" : "");
    if (h->t.not_before_ms > 0)
        LOGW("job %s item %d: %s was evicted; starting after its lease has run out (in %lld ms)",
             j->name, item, h->from, (long long)(h->t.not_before_ms - now_ms()));
    return h->t.not_before_ms;
}

/* handover_sweep: drop windows of items no longer ours or gone. */
static void handover_sweep(struct coord *c)
{
    const char *k;
    void *v;
    char job[JOB_NAME_MAX + 1];
    for (size_t it = 0; strmap_next(&c->handovers, &it, &k, &v);) {
        const char *sep = strchr(k, '\x1f');
        int item = sep ? atoi(sep + 1) : -1;
        snprintf(job, sizeof job, "%.*s", sep ? (int)(sep - k) : 0, k);
        const struct cjob *j = strmap_get(&c->jobs, job);
        if (!j || item < 0 || item >= j->nst || j->st[item] == COORD_NONE)
            free(strmap_del(&c->handovers, k));
    }
    for (size_t it = 0; strmap_next(&c->reruns, &it, &k, &v);) {
        const char *sep = strchr(k, '\x1f');
        int item = sep ? atoi(sep + 1) : -1;
        snprintf(job, sizeof job, "%.*s", sep ? (int)(sep - k) : 0, k);
        const struct cjob *j = strmap_get(&c->jobs, job);
        if (!j || item < 0 || item >= j->nst || j->st[item] != COORD_ACTIVE)
            free(strmap_del(&c->reruns, k));
    }
}

/* mark_gone: we saw agent a's node vanish (or its session replaced). What we
 * hold of it becomes a tombstone: its last record (re-run claims, running
 * list if it was current), when it went, whether it was evicted. */
static void mark_gone(struct coord *c, struct cagent *a)
{
    if (a->alive) {
        a->gone_ms = now_ms();
        a->gone_skew_ms = a->rec.skew_ms;
        a->gone_session_ms = a->rec.session_ms;
        a->gone_session = a->node_session ? a->node_session : a->rec.session;
        a->gone_trusted = a->loaded && !a->suspect;
        a->gone_evicted = evicted_in_snapshot(&c->snap, a->id, a->gone_session);
        struct vanish v = {a->gone_ms, a->gone_evicted,
                           a->gone_session_ms > 0 ? a->gone_session_ms : zkreg_timeout_ms(c->z)};
        vanish_keep(&a->bound, &v);
        /* Its claims outlive the record (a returning agent's replaces it). */
        for (int i = 0; a->loaded && strcmp(a->id, c->id) != 0 && i < a->rec.nreran; i++)
            if (!gone_claimed(c, a->rec.reran[i]))
                c->gone_claims[c->ngone_claims++ % GONE_CLAIMS_MAX] = a->rec.reran[i];
    }
    a->alive = false;
}

/* note_evicted: snapshot s names members evicted; one we saw vanish may have
 * outlived its node by its lease (the leader deletes the node first and names
 * it in the next epoch). */
static void note_evicted(struct coord *c, const struct plan_snapshot *s)
{
    for (int i = 0; i < s->nevicted; i++) {
        struct cagent *a = strmap_get(&c->agents, s->evicted[i]);
        if (!a || !a->gone_ms || a->gone_evicted || !evicted_in_snapshot(s, a->id, a->gone_session))
            continue;
        a->gone_evicted = true;
        struct vanish v = {a->gone_ms, true,
                           a->gone_session_ms > 0 ? a->gone_session_ms : zkreg_timeout_ms(c->z)};
        vanish_keep(&a->bound, &v);
    }
}

/* ---------------------------------------------------------------- apply */

/* shard_inputs: valid jobs as shard_job entries (pointing into the cache). The
 * array is the caller's to free; *labels_out too. */
static struct shard_job *shard_inputs(struct coord *c, int *n)
{
    struct shard_job *v = calloc(strmap_len(&c->jobs) + 1, sizeof *v);
    const char *k;
    void *val;
    *n = 0;
    if (!v)
        return NULL;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &val);) {
        struct cjob *j = val;
        enum shard_strategy st;
        if (!j->cfg || shard_strategy_parse(j->cfg->strategy, &st) < 0)
            continue;
        v[(*n)++] = (struct shard_job){j->name, j->cfg->shards, st,
                                       (const char *const *)j->cfg->labels, j->cfg->nlabels};
    }
    return v;
}

static int cmp_input_name(const void *a, const void *b)
{
    return strcmp(((const struct shard_job *)a)->name, ((const struct shard_job *)b)->name);
}

/* refresh_inputs: the sharding inputs (in name order, so shard_assign need not
 * sort them) and their digest, rebuilt only when a job appeared, went or was
 * re-read: every agent-record event evaluates, and an epoch applies, without
 * walking 100,000 job configs again. 0 or -ENOMEM. */
static int refresh_inputs(struct coord *c)
{
    if (c->digest_gen == c->jobs_gen && c->inputs)
        return 0;
    int n = 0;
    struct shard_job *jobs = shard_inputs(c, &n);
    if (!jobs)
        return -ENOMEM;
    qsort(jobs, (size_t)n, sizeof *jobs, cmp_input_name);
    free(c->inputs);
    c->inputs = jobs;
    c->ninputs = n;
    plan_digest(jobs, n, c->digest);
    c->digest_gen = c->jobs_gen;
    return 0;
}

static const char *jobs_digest(struct coord *c)
{
    return refresh_inputs(c) == 0 ? c->digest : NULL;
}

static bool views_settled(const struct coord *c)
{
    return c->reg == REG_DONE && c->chg_listed && c->jobs_listed && c->jobs_loading == 0 &&
           c->snap_loaded && zkreg_state(c->z) == ZKREG_CONNECTED;
}

static int ensure_items(struct cjob *j, int n)
{
    if (n <= j->nst)
        return 0;
    uint8_t *st = realloc(j->st, (size_t)n);
    bool *dr = realloc(j->draining, (size_t)n * sizeof *dr);
    int64_t *since = realloc(j->since, (size_t)n * sizeof *since);
    if (st)
        j->st = st;
    if (dr)
        j->draining = dr;
    if (since)
        j->since = since;
    int64_t *first = realloc(j->first, (size_t)n * sizeof *first);
    if (first)
        j->first = first;
    int64_t *rerun = realloc(j->rerun, (size_t)n * sizeof *rerun);
    if (rerun)
        j->rerun = rerun;
    int64_t *last = realloc(j->last, (size_t)n * sizeof *last);
    if (last)
        j->last = last;
    if (!st || !dr || !since || !first || !rerun || !last)
        return -ENOMEM;
    memset(j->last + j->nst, 0, (size_t)(n - j->nst) * sizeof *last);
    memset(j->st + j->nst, 0, (size_t)(n - j->nst));
    memset(j->since + j->nst, 0, (size_t)(n - j->nst) * sizeof *since);
    memset(j->first + j->nst, 0, (size_t)(n - j->nst) * sizeof *first);
    for (int i = j->nst; i < n; i++)
        j->rerun[i] = -1;
    memset(j->draining + j->nst, 0, (size_t)(n - j->nst) * sizeof *dr);
    j->nst = n;
    return 0;
}

/* carry_pending: (job, item) is lost while only pending here: we never
 * accounted its fires since its previous owner stopped, so the next owner
 * starts its window where ours would have (own_carry, published with the
 * epoch as carry_ms). */
static void carry_pending(struct coord *c, const char *job, int item)
{
    int64_t lo = pending_lo(c, job, item);
    if (lo)
        c->carry_ms = own_carry(c->carry_ms, lo);
}

/* pending_lo: the window start of an item held pending (own_pending_lo from
 * the publication of the epoch applied before the gain); 0 unknown. */
static int64_t pending_lo(struct coord *c, const char *job, int item)
{
    char key[JOB_NAME_MAX + 16];
    job_item_key(key, sizeof key, job, item);
    const struct handover *h = strmap_get(&c->handovers, key);
    if (!h)
        return 0;
    /* gained after a total outage: the window reaches back as an OWN_PREV_ANY one does */
    return h->unowned_before
               ? own_pending_lo_any(h->prev_created_ms, zkreg_timeout_ms(c->z), c->max_skew_ms)
               : own_pending_lo(h->prev_created_ms, zkreg_timeout_ms(c->z), c->max_skew_ms);
}

/* apply_job: the states of one job's items under assignment `a` (ji: the job's
 * index there, -1 when it was left out). */
static void apply_job(struct coord *c, const struct shard_assignment *a,
                      const struct shard_assignment *before, struct cjob *j, int ji, int me,
                      int64_t *gained, int64_t *lost)
{
    int n = ji >= 0 ? shard_job_items(a, ji) : 0;
    if (ensure_items(j, n) < 0)
        return;
    for (int i = 0; i < j->nst; i++) {
        bool mine = me >= 0 && i < n && shard_owner(a, ji, i) == me;
        if (mine && j->st[i] == COORD_NONE) {
            j->st[i] = COORD_PENDING;
            c->maybe_pending = true;
            handover_gain(c, before, j->name, i);
            (*gained)++;
        } else if (!mine && j->st[i] != COORD_NONE) {
            /* ours to account until its next owner is there (coord_owes) */
            loss_add(c, j->name, i, j->st[i] == COORD_PENDING,
                     j->st[i] == COORD_PENDING ? pending_lo(c, j->name, i) : 0, NULL);
            if (j->st[i] == COORD_PENDING)
                carry_pending(c, j->name, i);
            handover_forget(c, j->name, i);
            rerun_forget(c, j->name, i);
            /* Draining means a run of it is running here now (queued and
             * retry-waiting runs are dropped with the item), whatever its
             * state: one that came back pending while its old run still
             * drains is still draining. A run's end clears it. */
            j->draining[i] = c->is_running && c->is_running(c->ctx, j->name, i);
            j->st[i] = COORD_NONE;
            stop_fold(c, j, i);
            (*lost)++;
        }
    }
}

static void maybe_apply(struct coord *c)
{
    int njobs = 0;
    if (!views_settled(c) || !c->snap_exists || c->snap.epoch <= c->applied)
        return;
    if (c->fault_stall_apply && c->fault_applied)
        return;
    int64_t t_start = now_ms();
    double cpu_start = cpu_ms();
    const char *digest = jobs_digest(c);
    if (!digest)
        return;
    if (strcmp(digest, c->snap.digest) != 0) {
        LOGD("epoch %lld waits: local job shapes %s differ from the leader's %s",
             (long long)c->snap.epoch, digest, c->snap.digest);
        return;
    }
    if (refresh_inputs(c) < 0)
        return;
    const struct shard_job *jobs = c->inputs;
    njobs = c->ninputs;
    struct shard_agent *members = calloc((size_t)c->snap.nmembers + 1, sizeof *members);
    struct shard_assignment *a = NULL;
    if (!members)
        return;
    plan_members_to_shard(&c->snap, members);
    int rc = shard_assign(jobs, njobs, members, c->snap.nmembers, &a);
    free(members);
    if (rc < 0) {
        LOGE("epoch %lld: cannot compute the assignment (%d)", (long long)c->snap.epoch, rc);
        return;
    }
    /* Members are sessions: an entry for an earlier session of our id is not
     * us (we own nothing until the leader publishes this session). */
    int me = own_member_self(c->id, zkreg_session_id(c->z), c->id, member_session(&c->snap, c->id))
                 ? shard_agent_find(a, c->id)
                 : -1;
    int64_t gained = 0, lost = 0;
    c->carry_ms = 0;
    c->member = me >= 0;
    const struct shard_assignment *before = c->assign; /* of the epoch applied until now */
    const char *k;
    void *val;
    /* The assignment's jobs are looked up by name (hash) rather than each
     * cached job searched in the assignment; jobs it left out (invalid config
     * or strategy) have nothing here. */
    int na = shard_njobs(a);
    for (int ji = 0; ji < na; ji++) {
        struct cjob *j = strmap_get(&c->jobs, shard_job_name(a, ji));
        if (j) {
            j->stamp = c->snap.epoch;
            apply_job(c, a, before, j, ji, me, &gained, &lost);
        }
    }
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &val);) {
        struct cjob *j = val;
        if (j->stamp != c->snap.epoch && j->nst > 0)
            apply_job(c, a, before, j, -1, me, &gained, &lost);
    }
    /* Every item lost here is stopped from now on (the scheduler and the start
     * guard see the new states): published as applied_ms with the epoch. */
    c->applied_ms = now_ms();
    c->applied_created_ms = c->snap.created_ms;
    shard_assignment_free(c->assign);
    c->assign = a;
    plan_snapshot_clear(&c->applied_snap);
    if (plan_snapshot_copy(&c->snap, &c->applied_snap) < 0)
        LOGW("out of memory keeping the applied snapshot: takeovers of epoch %lld count as "
             "unknown owners",
             (long long)c->snap.epoch);
    handover_sweep(c);
    if (gained || lost)
        c->states_gen++;
    LOGI("applied epoch %lld (%d members): gained %lld items, lost %lld (%lld ms, %.1f ms CPU; "
         "%lld ms after publication)",
         (long long)c->snap.epoch, c->snap.nmembers, (long long)gained, (long long)lost,
         (long long)(now_ms() - t_start), cpu_ms() - cpu_start,
         (long long)(now_ms() - c->snap.created_ms));
    c->prev_applied = c->applied;
    c->applied = c->snap.epoch;
    c->stats.epochs_applied++;
    c->newer_seen_ms = 0;
    c->fault_applied = true;
    if (c->stalled) {
        c->stalled = false;
        LOGN("applied an epoch again: ready");
    }
    c->node_dirty = true;
    write_record(c);
    changed(c);
}

/* ---------------------------------------------------------------- gate */

/* gate_open: own_gate_open over the agents we know. */
static bool gate_open(struct coord *c)
{
    const char *k;
    void *v;
    if (!c->agents_listed || c->agents_loading > 0)
        return false;
    size_t n = 0;
    struct own_peer *p = calloc(strmap_len(&c->agents) + 1, sizeof *p);
    if (!p)
        return false;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        p[n++] = (struct own_peer){a->id,     a->node_session,      a->alive,
                                   a->loaded, a->rec.applied_epoch, a->rec.member};
    }
    bool open = own_gate_open(p, (int)n, c->id, c->applied);
    free(p);
    return open;
}

static bool drained_elsewhere(struct coord *c, const char *job, int item)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (!a->alive || strcmp(a->id, c->id) == 0)
            continue;
        for (int i = 0; i < a->rec.ndraining; i++)
            if (a->rec.draining[i].item == item && strcmp(a->rec.draining[i].job, job) == 0)
                return true;
    }
    return false;
}

static void gate_check(struct coord *c)
{
    const char *k;
    void *v;
    bool any = false, left = false;
    struct bound b = {0};
    /* Every agent-record change lands here; scanning all items is paid only
     * while something is pending. */
    if (!c->maybe_pending || !coord_can_start(c) || !c->applied || !gate_open(c))
        return;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        for (int i = 0; i < j->nst; i++)
            if (j->st[i] == COORD_PENDING) {
                /* Still running elsewhere, or here from before we lost it
                 * and got it back: one run of an item at a time. */
                if (j->draining[i] || drained_elsewhere(c, j->name, i)) {
                    left = true;
                    continue;
                }
                if (!b.valid)
                    takeover_bound(c, &b); /* the gate is open: the same for every item now */
                if (handover_resolve(c, j, i, &b) > now_ms()) {
                    left = true;
                    continue;
                }
                j->st[i] = COORD_ACTIVE;
                j->since[i] = now_ms();
                rerun_claim(c, j, i);
                any = true;
            }
    }
    c->maybe_pending = left;
    if (any) {
        c->states_gen++;
        /* npending changed (own_settled): at most one write per agent per
         * epoch, coalesced with any other change */
        c->node_dirty = true;
    }
    if (any)
        changed(c);
}

/* ---------------------------------------------------------------- manual triggers */

/* A trigger runs each item of its job exactly once, on whichever agent holds
 * the item ACTIVE first: that agent creates the item's claim
 * (/jobs/J/triggers/t-N/~<item>, data: its id) and starts the run only when
 * the create succeeds. An agent that cannot start work, or does not hold an
 * item active (pending in a handoff, or gone), claims nothing and looks again
 * every tick while the trigger lives, so a trigger seen mid-handoff runs on
 * the new owner once it activates. The leader removes a trigger once every
 * live agent has seen it and every item is claimed, or after the TTL — then
 * reporting each unclaimed item as not run (on_trigger_unrun), so no trigger
 * is acknowledged and silently lost. */

#define TRIG_CLAIM_PREFIX '~' /* not a character of agent ids in practice: acks are ids */
#define TRIG_CLAIM_MARGIN_MS 30000

struct trig_open {
    struct trig_open *next;
    uint64_t id; /* c->trig_seq: found again by a claim's answer, never by pointer */
    char job[JOB_NAME_MAX + 1];
    char name[64];
    char *param;
    bool has_param;
    int64_t ctime; /* the trigger's creation (server clock) */
    uint64_t inc;  /* the job's incarnation it was for */
    int nitems;
    uint8_t *done; /* per item: 0 open, 1 claim in flight, 2 claimed (by anybody) */
};

struct trig_claim {
    struct coord *c;
    uint64_t id; /* the trig_open's */
    int item;
    int64_t ctime;
    char job[JOB_NAME_MAX + 1];
    char name[64];
};

struct trig_ctx {
    struct coord *c;
    char job[JOB_NAME_MAX + 1];
    char name[64];
    char *param;
    bool has_param;
    int64_t ctime;
};

static void trig_ctx_free(struct trig_ctx *t)
{
    free(t->param);
    free(t);
}

static void trig_open_free(struct trig_open *t)
{
    free(t->param);
    free(t->done);
    free(t);
}

static void trig_sweep(struct coord *c);

/* trig_drop: forget trigger t here (finished, expired, removed, job gone). */
static void trig_drop(struct coord *c, struct trig_open *t)
{
    for (struct trig_open **pp = &c->trigs; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    trig_open_free(t);
}

static void trig_claimed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_claim *cl = arg;
    (void)z;
    if (r->stale) {
        free(cl);
        return;
    }
    struct coord *c = cl->c;
    struct trig_open *t = c->trigs;
    while (t && t->id != cl->id)
        t = t->next;
    int i = cl->item;
    if (r->rc == ZOK) {
        /* Ours to run: nobody else will. */
        const struct cjob *j = strmap_get(&c->jobs, cl->job);
        int rc = t && j && j->cfg && j->inc == t->inc && c->on_trigger
                     ? c->on_trigger(c->ctx, j->cfg, i, t->has_param ? t->param : NULL)
                     : -ENOENT;
        if (rc < 0) {
            LOGW("job %s item %d: trigger %s claimed here but not started (%s)", cl->job, i,
                 cl->name, strerror(-rc));
            if (c->on_trigger_unrun)
                c->on_trigger_unrun(c->ctx, cl->job, i, cl->name, cl->ctime,
                                    "manual trigger not run: the agent that claimed it no longer "
                                    "held the item (or the job changed)");
        } else {
            LOGI("job %s item %d: trigger %s runs here", cl->job, i, cl->name);
        }
        if (t)
            t->done[i] = 2;
    } else if (!t) {
        /* dropped meanwhile: nothing to update */
    } else if (r->rc == ZNODEEXISTS) {
        t->done[i] = 2; /* another agent (or this one, before a restart) ran it */
    } else if (r->rc == ZNONODE) {
        trig_drop(c, t); /* the trigger was removed (expired, job deleted) */
    } else {
        t->done[i] = 0; /* connection trouble: the next sweep tries again */
    }
    free(cl);
}

/* trig_sweep (every tick, and when a trigger is seen): claim and run the
 * items of open triggers that this agent holds active. */
static void trig_sweep(struct coord *c)
{
    char path[400];
    struct trig_open *next;
    for (struct trig_open *t = c->trigs; t; t = next) {
        next = t->next;
        const struct cjob *j = strmap_get(&c->jobs, t->job);
        if (j && j->cfg && j->cfg->shards > t->nitems) { /* the job grew meanwhile */
            uint8_t *d = realloc(t->done, (size_t)j->cfg->shards);
            if (d) {
                memset(d + t->nitems, 0, (size_t)(j->cfg->shards - t->nitems));
                t->done = d;
                t->nitems = j->cfg->shards;
            }
        }
        bool all = true;
        for (int i = 0; i < t->nitems; i++)
            all &= t->done[i] == 2;
        /* Claims stop well before the leader reports what is unclaimed at the
         * TTL (its clock and ours may differ by the skew limit). */
        if (all || !j || j->inc != t->inc ||
            now_ms() - t->ctime > TRIGGER_TTL_MS - TRIG_CLAIM_MARGIN_MS) {
            trig_drop(c, t);
            continue;
        }
        if (!coord_can_start(c))
            continue;
        for (int i = 0; i < t->nitems; i++) {
            if (t->done[i] || coord_item_state(c, t->job, i) != COORD_ACTIVE)
                continue;
            struct trig_claim *cl = malloc(sizeof *cl);
            if (!cl)
                break;
            *cl = (struct trig_claim){.c = c, .id = t->id, .item = i, .ctime = t->ctime};
            snprintf(cl->job, sizeof cl->job, "%s", t->job);
            snprintf(cl->name, sizeof cl->name, "%s", t->name);
            snprintf(path, sizeof path, "/jobs/%s/triggers/%s/%c%d", t->job, t->name,
                     TRIG_CLAIM_PREFIX, i);
            t->done[i] = 1;
            if (zkreg_create(c->z, path, c->id, (int)strlen(c->id), 0, trig_claimed, cl) != ZOK) {
                t->done[i] = 0;
                free(cl);
            }
        }
    }
}

/* trig_open_add: a trigger this agent has seen (its acknowledgement is
 * written); its items are claimed by trig_sweep. */
static void trig_open_add(struct coord *c, const struct trig_ctx *x)
{
    const struct cjob *j = strmap_get(&c->jobs, x->job);
    if (!j || !j->cfg || j->cfg->shards <= 0)
        return;
    for (struct trig_open *t = c->trigs; t; t = t->next)
        if (!strcmp(t->job, x->job) && !strcmp(t->name, x->name))
            return;
    struct trig_open *t = calloc(1, sizeof *t);
    if (!t || !(t->done = calloc((size_t)j->cfg->shards, 1)) ||
        (x->has_param && !(t->param = strdup(x->param)))) {
        if (t)
            trig_open_free(t);
        LOGE("job %s: trigger %s not handled here: out of memory", x->job, x->name);
        return;
    }
    t->id = ++c->trig_seq;
    snprintf(t->job, sizeof t->job, "%s", x->job);
    snprintf(t->name, sizeof t->name, "%s", x->name);
    t->has_param = x->has_param;
    t->ctime = x->ctime;
    t->inc = j->inc;
    t->nitems = j->cfg->shards;
    t->next = c->trigs;
    c->trigs = t;
    trig_sweep(c);
}

static void trigger_acked(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_ctx *t = arg;
    struct coord *c = t->c;
    (void)z;
    /* ZNODEEXISTS: this agent saw it before (e.g. before a restart); the
     * items' claims say what ran. */
    if (!r->stale && (r->rc == ZOK || r->rc == ZNODEEXISTS))
        trig_open_add(c, t);
    trig_ctx_free(t);
}

static void trigger_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_ctx *t = arg;
    struct coord *c = t->c;
    char path[400];
    (void)z;
    if (r->stale || r->rc != ZOK) {
        trig_ctx_free(t);
        return;
    }
    cJSON *o = r->data ? cJSON_ParseWithLength(r->data, (size_t)r->len) : NULL;
    const cJSON *p = o ? cJSON_GetObjectItemCaseSensitive(o, "param") : NULL;
    if (cJSON_IsString(p)) {
        t->param = strdup(p->valuestring);
        t->has_param = t->param != NULL;
    }
    cJSON_Delete(o);
    t->ctime = r->stat.ctime;
    if (now_ms() - r->stat.ctime > TRIGGER_TTL_MS) {
        trig_ctx_free(t); /* too old to act on; the leader removes it */
        return;
    }
    /* The acknowledgement says "seen"; what runs is decided per item. */
    snprintf(path, sizeof path, "/jobs/%s/triggers/%s/%s", t->job, t->name, c->id);
    if (zkreg_create(c->z, path, NULL, 0, 0, trigger_acked, t) != ZOK)
        trig_ctx_free(t);
}

/* trigger_acks_listed (leader): remove a trigger every live agent acknowledged,
 * or one older than the TTL. */
static void trigger_acks_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_ctx *t = arg;
    struct coord *c = t->c;
    char path[400];
    const char *k;
    void *v;
    (void)z;
    if (!r->stale && r->rc == ZOK && c->leader) {
        bool all = true;
        for (size_t it = 0; all && strmap_next(&c->agents, &it, &k, &v);) {
            struct cagent *a = v;
            if (a->alive && !listed(r, a->id))
                all = false;
        }
        /* ... and every item claimed (run, or reported, by its owner). */
        const struct cjob *j = strmap_get(&c->jobs, t->job);
        int shards = j && j->cfg ? j->cfg->shards : 0;
        bool expired = now_ms() - r->stat.ctime > TRIGGER_TTL_MS;
        for (int i = 0; i < shards && (all || expired); i++) {
            char claim[32];
            snprintf(claim, sizeof claim, "%c%d", TRIG_CLAIM_PREFIX, i);
            if (listed(r, claim))
                continue;
            all = false;
            if (expired && c->on_trigger_unrun) {
                LOGW("job %s item %d: trigger %s expired unrun (no agent held the item active "
                     "and could start it within %d s)",
                     t->job, i, t->name, TRIGGER_TTL_MS / 1000);
                c->on_trigger_unrun(c->ctx, t->job, i, t->name, r->stat.ctime,
                                    "manual trigger not run: no agent held the item active and "
                                    "could start it before the trigger expired");
            }
        }
        if (all || expired) {
            for (int i = 0; i < r->nchildren; i++) {
                snprintf(path, sizeof path, "/jobs/%s/triggers/%s/%s", t->job, t->name,
                         r->children[i]);
                zkreg_delete(c->z, path, -1, ensured, NULL);
            }
            snprintf(path, sizeof path, "/jobs/%s/triggers/%s", t->job, t->name);
            zkreg_delete(c->z, path, -1, ensured, NULL);
        }
    }
    trig_ctx_free(t);
}

static bool trig_seen(struct cjob *j, const char *name)
{
    for (int i = 0; i < j->ntrig_done; i++)
        if (strcmp(j->trig_done[i], name) == 0)
            return true;
    return false;
}

static void triggers_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct coord *c = rc->c;
    char path[400];
    (void)z;
    struct cjob *j = r->stale ? NULL : strmap_get(&c->jobs, rc->name);
    int e;
    if (!r->stale && (r->rc == ZNONODE || (r->rc == ZOK && r->nchildren == 0)))
        strmap_del(&c->trig_open, rc->name); /* all removed */
    else if (j && r->rc == ZOK)
        strmap_put(&c->trig_open, j->name, (void *)1, &e);
    for (int i = 0; j && r->rc == ZOK && i < r->nchildren; i++) {
        const char *name = r->children[i];
        if (c->leader) {
            struct trig_ctx *t = calloc(1, sizeof *t);
            if (t) {
                *t = (struct trig_ctx){.c = c};
                snprintf(t->job, sizeof t->job, "%s", j->name);
                snprintf(t->name, sizeof t->name, "%s", name);
                snprintf(path, sizeof path, "/jobs/%s/triggers/%s", j->name, name);
                if (zkreg_children(c->z, path, false, trigger_acks_listed, t) != ZOK)
                    trig_ctx_free(t);
            }
        }
        if (trig_seen(j, name))
            continue;
        char **nv = realloc(j->trig_done, (size_t)(j->ntrig_done + 1) * sizeof *nv);
        if (!nv)
            continue;
        j->trig_done = nv;
        if (!(j->trig_done[j->ntrig_done] = strdup(name)))
            continue;
        j->ntrig_done++;
        struct trig_ctx *t = calloc(1, sizeof *t);
        if (!t)
            continue;
        *t = (struct trig_ctx){.c = c};
        snprintf(t->job, sizeof t->job, "%s", j->name);
        snprintf(t->name, sizeof t->name, "%s", name);
        snprintf(path, sizeof path, "/jobs/%s/triggers/%s", j->name, name);
        if (zkreg_get(c->z, path, false, trigger_read, t) != ZOK)
            trig_ctx_free(t);
    }
    free(rc->name);
    free(rc);
}

static void list_triggers(struct coord *c, const char *job)
{
    char path[400];
    struct read_ctx *rc = malloc(sizeof *rc);
    if (!rc)
        return;
    *rc = (struct read_ctx){c, strdup(job), 0};
    snprintf(path, sizeof path, "/jobs/%s/triggers", job);
    if (!rc->name || zkreg_children(c->z, path, false, triggers_listed, rc) != ZOK) {
        free(rc->name);
        free(rc);
    }
}

/* ---------------------------------------------------------------- leader */

struct publish_ctx {
    struct coord *c;
    struct plan_snapshot snap;
    uint64_t gen;
};

static void published(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct publish_ctx *p = arg;
    struct coord *c = p->c;
    (void)z;
    if (!r->stale && p->gen == c->gen) {
        c->publish_inflight = false;
        if (r->rc == ZOK) {
            c->stats.publishes++;
            evicting_clear(c);
            LOGI("published epoch %lld: %d members, digest %s", (long long)p->snap.epoch,
                 p->snap.nmembers, p->snap.digest);
            plan_snapshot_clear(&c->snap);
            c->snap = p->snap;
            memset(&p->snap, 0, sizeof p->snap);
            c->snap_version = c->snap_exists ? c->snap_version + 1 : 0;
            c->snap_exists = true;
            snap_seen(c);
        } else if (r->nops > 0 && r->op_rc[0] == ZNONODE) {
            /* Fencing: our election node is gone, so we are no longer the leader. */
            LOGW("publish of epoch %lld rejected: this agent is no longer the leader",
                 (long long)p->snap.epoch);
            c->leader = false;
            c->stats.deposed++;
            c->elect[0] = '\0';
            start_election(c);
        } else {
            LOGI("publish of epoch %lld raced (%s); re-reading the snapshot",
                 (long long)p->snap.epoch, zerror(r->rc));
            zkreg_get(c->z, "/state/assignment", true, snap_read, c);
        }
        schedule_eval(c);
    }
    plan_snapshot_clear(&p->snap);
    free(p);
}

#define QUARANTINE_MS (5 * 60 * 1000)

/* quarantined (leader): an evicted id stays out of the members for a while. */
static bool quarantined(struct coord *c, const char *id)
{
    int64_t *until = strmap_get(&c->quarantine, id);
    if (!until)
        return false;
    if (now_ms() < *until)
        return true;
    free(strmap_del(&c->quarantine, id));
    LOGN("agent %s may be a member again (its quarantine after an eviction ended)", id);
    return false;
}

static void evicting_clear(struct coord *c)
{
    for (int i = 0; i < c->nevicting; i++)
        free(c->evicting[i]);
    free(c->evicting);
    free(c->evicting_session);
    c->evicting = NULL;
    c->evicting_session = NULL;
    c->nevicting = 0;
}

struct evict_ctx {
    struct coord *c;
    char id[130];
    int64_t session;
    uint64_t gen;
};

static void evicted_cb(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct evict_ctx *x = arg;
    struct coord *c = x->c;
    (void)z;
    if (!r->stale && x->gen == c->gen) {
        if (r->rc == ZOK) {
            char **ids = realloc(c->evicting, (size_t)(c->nevicting + 1) * sizeof *ids);
            if (ids)
                c->evicting = ids;
            int64_t *ss = realloc(c->evicting_session, (size_t)(c->nevicting + 1) * sizeof *ss);
            if (ss)
                c->evicting_session = ss;
            if (ids && ss && (ids[c->nevicting] = strdup(x->id)))
                ss[c->nevicting++] = x->session;
            int64_t *until = malloc(sizeof *until);
            int e;
            if (until) {
                *until = now_ms() + QUARANTINE_MS;
                free(strmap_del(&c->quarantine, x->id));
                strmap_put(&c->quarantine, x->id, until, &e);
                if (e < 0)
                    free(until);
            }
            LOGW("evicted agent %s: kept out of the members for %d s", x->id, QUARANTINE_MS / 1000);
            c->stats.evictions++;
            schedule_eval(c);
        } else {
            LOGW("evicting %s: %s", x->id, zerror(r->rc));
        }
    }
    free(x);
}

/* maybe_evict (leader): a member that has not acknowledged the published
 * epoch within own_evict_bound_ms is evicted: its node is deleted (fenced by
 * our election node), so the next epoch leaves it out and no handoff waits
 * on it forever. The agent itself, when it sees its node go, stops at once;
 * if it cannot see it, its lease runs out. Its items' new owners wait for
 * that (own_takeover's not_before_ms). */
static void maybe_evict(struct coord *c)
{
    if (!c->leader || !c->elect[0] || !c->snap_exists || c->publish_inflight || !c->agents_listed ||
        c->agents_loading > 0 || strcmp(c->snap.leader, c->id) != 0)
        return;
    struct own_ack *m = calloc((size_t)c->snap.nmembers + 1, sizeof *m);
    if (!m)
        return;
    int t = zkreg_timeout_ms(c->z); /* the longest session among them bounds the wait */
    for (int i = 0; i < c->snap.nmembers; i++) {
        const struct cagent *a = strmap_get(&c->agents, c->snap.members[i].id);
        m[i] = (struct own_ack){c->snap.members[i].id, c->snap.members[i].session,
                                a && a->alive && a->loaded ? a->node_session : 0,
                                a ? a->rec.applied_epoch : 0};
        if (a && a->rec.session_ms > t)
            t = a->rec.session_ms;
    }
    int bound = own_evict_bound_ms(t);
    int i = own_evict(m, c->snap.nmembers, c->snap.epoch, c->snap.created_ms, now_ms(), bound);
    if (i >= 0 && strcmp(m[i].id, c->id) != 0) {
        char path[300];
        struct evict_ctx *x = calloc(1, sizeof *x);
        if (x) {
            x->c = c;
            x->gen = c->gen;
            x->session = m[i].session;
            snprintf(x->id, sizeof x->id, "%s", m[i].id);
            snprintf(path, sizeof path, "/agents/%s", m[i].id);
            LOGW("evicting agent %s: it has not acknowledged epoch %lld within %d ms of its "
                 "publication",
                 m[i].id, (long long)c->snap.epoch, bound);
            struct zkreg_op ops[2] = {
                {.type = ZKOP_CHECK, .path = c->elect, .version = -1},
                {.type = ZKOP_DELETE, .path = path, .version = -1},
            };
            if (zkreg_multi(c->z, ops, 2, evicted_cb, x) != ZOK)
                free(x);
        }
    }
    free(m);
}

static int cmp_member_id(const void *a, const void *b)
{
    return strcmp(((const struct plan_member *)a)->id, ((const struct plan_member *)b)->id);
}

static void maybe_publish(struct coord *c)
{
    const char *k;
    void *v;
    if (!c->leader || !c->elect[0] || c->publish_inflight || !views_settled(c) ||
        !c->agents_listed || c->agents_loading > 0)
        return;
    struct publish_ctx *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->c = c;
    p->gen = c->gen;
    p->snap.members = calloc(strmap_len(&c->agents) + 1, sizeof *p->snap.members);
    const char *digest = jobs_digest(c);
    if (!p->snap.members || !digest)
        goto out;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (!a->alive || !a->loaded || !a->rec.ready || a->rec.capacity < 1 ||
            quarantined(c, a->id))
            continue;
        struct plan_member *m = &p->snap.members[p->snap.nmembers++];
        m->id = strdup(a->id);
        m->session = a->node_session;
        m->capacity = a->rec.capacity;
        m->labels = calloc((size_t)a->rec.nlabels + 1, sizeof *m->labels);
        for (int i = 0; m->labels && i < a->rec.nlabels; i++)
            m->labels[m->nlabels++] = strdup(a->rec.labels[i]);
    }
    qsort(p->snap.members, (size_t)p->snap.nmembers, sizeof *p->snap.members, cmp_member_id);
    memcpy(p->snap.digest, digest, sizeof p->snap.digest);
    if (c->snap_exists && plan_snapshot_same(&p->snap, &c->snap))
        goto out;
    p->snap.epoch = (c->snap_exists ? c->snap.epoch : 0) + 1;
    p->snap.leader = strdup(c->id);
    /* Evicted members ride along once, so that their items' new owners wait
     * for their lease to run out. */
    if (c->nevicting > 0) {
        p->snap.evicted = calloc((size_t)c->nevicting, sizeof *p->snap.evicted);
        p->snap.evicted_session = calloc((size_t)c->nevicting, sizeof *p->snap.evicted_session);
        for (int i = 0; p->snap.evicted && p->snap.evicted_session && i < c->nevicting; i++)
            if ((p->snap.evicted[p->snap.nevicted] = strdup(c->evicting[i])))
                p->snap.evicted_session[p->snap.nevicted++] = c->evicting_session[i];
    }
    p->snap.created_ms = now_ms();
    /* Every session lost (no members after an epoch that had some): say
     * since when, so that a takeover from this epoch reaches back there. */
    if (p->snap.nmembers == 0 && c->snap_exists)
        p->snap.outage_from_ms = c->snap.nmembers > 0 ? c->snap.created_ms : c->snap.outage_from_ms;
    /* Our bound on every session that had vanished by our latest listing of
     * /agents (own_takeover_in.snap_gone_hi_ms): an agent that joins after
     * it need not fear a session it never saw beyond this. */
    if (c->agents_pzxid > 0 && c->view_start_ms > 0 && c->view_pzxid < INT64_MAX) {
        struct bound b;
        takeover_bound(c, &b);
        p->snap.dead_hi_ms = b.dead_hi_ms;
        p->snap.view_hi_ms =
            c->view_start_ms - c->skew_ms + c->max_skew_ms + PLAN_CLOCK_ERR_MS +
            (p->snap.nevicted > 0 || c->snap.nevicted > 0 ? zkreg_timeout_ms(c->z) : 0);
        p->snap.view_pzxid = c->view_pzxid;
        p->snap.agents_pzxid = c->agents_pzxid;
    }
    char *data = plan_snapshot_json(&p->snap);
    if (!data)
        goto out;
    struct zkreg_op ops[2] = {
        {.type = ZKOP_CHECK, .path = c->elect, .version = -1},
        {.type = c->snap_exists ? ZKOP_SET : ZKOP_CREATE,
         .path = "/state/assignment",
         .data = data,
         .len = (int)strlen(data),
         .version = c->snap_version},
    };
    int rc = zkreg_multi(c->z, ops, 2, published, p);
    free(data);
    if (rc == ZOK) {
        c->publish_inflight = true;
        return;
    }
    plan_snapshot_clear(&p->snap);
    free(p);
    return;
out:
    plan_snapshot_clear(&p->snap);
    free(p);
}

/* ---------------------------------------------------------------- evaluation, watches, session */

/* settle_check: own_settled over the records we hold — every live agent
 * that applied something is at our applied epoch (the snapshot's), none
 * holds pending or draining items or a backlog, and every member of the
 * snapshot is alive in the session it names and has applied it. Fires since
 * such a moment are accounted by the item's active owner until it stops, so
 * an accounting window need not reach back past it (own_takeover_in.
 * settled_ms); the first connection break since is where a server restart
 * may have begun (own_server_gap_ms). Our own items are counted only once
 * every other record allows it (a scan of every item; while some may be
 * pending, maybe_pending, we are not settled anyway). */
static void settle_check(struct coord *c)
{
    const char *k;
    void *v;
    if (!c->applied || !c->agents_listed || c->agents_loading > 0 || !c->snap_exists ||
        c->snap.epoch != c->applied || c->backlog_s || c->maybe_pending)
        return;
    struct own_settle_peer *p = calloc(strmap_len(&c->agents) + 1, sizeof *p);
    if (!p)
        return;
    int n = 1;          /* p[0]: ours, filled in last */
    bool others = true; /* every other record and member allows it */
    for (size_t it = 0; others && strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        if (!a->alive || strcmp(a->id, c->id) == 0)
            continue;
        /* a record not (re)read since our connection broke tells nothing */
        others = a->loaded && !a->suspect;
        if (!others || a->rec.applied_epoch == 0)
            continue; /* nothing applied in its session: owns nothing */
        p[n++] = (struct own_settle_peer){a->rec.applied_epoch, true, a->rec.npending,
                                          a->rec.ndraining, a->rec.backlog_s != 0};
        others = a->rec.applied_epoch == c->applied && !a->rec.npending && !a->rec.ndraining &&
                 !a->rec.backlog_s;
    }
    int64_t mine = zkreg_session_id(c->z);
    for (int i = 0; others && i < c->snap.nmembers; i++) {
        const struct plan_member *m = &c->snap.members[i];
        if (strcmp(m->id, c->id) == 0) {
            others = own_member_self(c->id, mine, m->id, m->session);
            continue;
        }
        /* a member that has not applied the epoch holds its items pending */
        const struct cagent *a = strmap_get(&c->agents, m->id);
        others = a && a->alive && a->loaded &&
                 own_member_self(m->id, a->node_session, m->id, m->session) &&
                 a->rec.applied_epoch == c->applied;
    }
    /* Our items are scanned at most every 250 ms: every record change of
     * every peer lands here, and at 80,000 items a scan per event costs the
     * whole cluster its CPU while an epoch settles (bench/coord). A watermark
     * a moment old is only more conservative. */
    int64_t t = now_ms();
    if (!others || t - c->settle_scan_ms < 250) {
        free(p); /* not settled, whatever we hold: our items need no scan */
        return;
    }
    c->settle_scan_ms = t;
    int pending = 0, draining = 0;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        const struct cjob *j = v;
        for (int i = 0; i < j->nst; i++) {
            pending += j->st[i] == COORD_PENDING;
            draining += j->draining[i];
        }
    }
    p[0] = (struct own_settle_peer){c->applied, true, pending, draining, false};
    /* our session's first view counts as a break: a restart before it went unseen */
    int64_t brk = c->gap_ms > c->view_start_ms ? c->gap_ms : c->view_start_ms;
    if (own_settled(p, n, c->applied, c->snap.nmembers, true, t, brk, zkreg_timeout_ms(c->z))) {
        c->settled_ms = t;
        c->gap_first_ms = 0;
        c->outage_from_ms = 0;
    }
    free(p);
}

static void eval_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    (void)fd, (void)what;
    if (c->fatal)
        return;
    if (c->reg == REG_NONE)
        register_agent(c);
    settle_check(c);
    if (!c->loaded && views_settled(c) && c->agents_listed && c->agents_loading == 0) {
        c->loaded = true;
        c->node_dirty = true;
        LOGI("all job configs loaded (%zu jobs): ready", strmap_len(&c->jobs));
    }
    maybe_publish(c);
    maybe_apply(c);
    gate_check(c);
    if (c->node_dirty)
        write_record(c);
}

static void self_deleted(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)arg;
    if (!r->stale && r->rc != ZOK && r->rc != ZNONODE)
        LOGW("deleting our own agent record: %s", zerror(r->rc));
}

/* named_member: whether snapshot s names (id, session) as a member. */
static bool named_member(const struct plan_snapshot *s, const char *id, int64_t session)
{
    const struct plan_member *m =
        bsearch(id, s->members, (size_t)s->nmembers, sizeof *s->members, cmp_member_key);
    return m && own_member_self(id, session, m->id, m->session);
}

/* apply_watchdog (every tick): an agent that has not applied a newer epoch
 * within own_evict_bound_ms of seeing it stalls every handoff that waits on
 * it (and, as leader, nobody evicts it): it evicts itself. It kills its runs
 * and drops every item (registration_lost), then deletes its own node — so a
 * successor that sees it go treats it as dead: it starts nothing after — and
 * registers again on the next eval (the create follows the delete in order),
 * not ready ("apply stalled") until an apply succeeds. Only while somebody waits on
 * it: it applied an epoch in this session, or the newest snapshot names it;
 * otherwise nobody does, and deleting the node again would only disturb. */
static void apply_watchdog(struct coord *c)
{
    char path[300];
    if (c->reg != REG_DONE || zkreg_state(c->z) != ZKREG_CONNECTED || !c->snap_exists)
        return;
    int64_t t = now_ms();
    int bound = own_evict_bound_ms(zkreg_timeout_ms(c->z));
    if (!own_apply_overdue(c->applied, c->snap.epoch, c->newer_seen_ms, t, bound))
        return;
    if (c->applied == 0 && !named_member(&c->snap, c->id, zkreg_session_id(c->z)))
        return;
    LOGE("epoch %lld not applied within %d ms of seeing it (applied: %lld): every handoff waits "
         "on this agent; evicting itself",
         (long long)c->snap.epoch, bound, (long long)c->applied);
    c->stalled = true;
    c->newer_seen_ms = 0;
    registration_lost(c, "evicting ourselves (apply stalled)");
    snprintf(path, sizeof path, "/agents/%s", c->id);
    zkreg_delete(c->z, path, -1, self_deleted, NULL);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    (void)fd, (void)what;
    apply_watchdog(c);
    /* Re-measure the clock every 30 s (any record write does it). */
    if (c->reg == REG_DONE && (!c->skew_ok || now_ms() - c->last_clock_check_ms > 30000))
        c->node_dirty = true;
    if (c->chg_retry && zkreg_state(c->z) == ZKREG_CONNECTED) {
        c->chg_retry = false;
        changes_list(c);
    }
    trig_sweep(c);
    if (views_settled(c)) {
        scan_triggers(c);
        prune_changes(c);
        maybe_evict(c);
    }
    schedule_eval(c);
}

static void on_watch(struct zkreg *z, int type, const char *path, void *ctx)
{
    struct coord *c = ctx;
    char mine[300];
    (void)z;
    snprintf(mine, sizeof mine, "/agents/%s", c->id);
    if (strcmp(path, "/agents") == 0) {
        zkreg_children(c->z, "/agents", true, agents_listed, c);
    } else if (strncmp(path, "/agents/", 8) == 0) {
        if (strcmp(path, mine) == 0 && type == ZOO_DELETED_EVENT) {
            if (c->reg == REG_WAIT_STALE) {
                LOGI("the stale node is gone; registering");
                c->reg = REG_NONE;
                register_agent(c);
                return;
            }
            if (c->reg == REG_DONE)
                registration_lost(c, "our agent record was deleted (evicted by the leader?)");
        }
        struct cagent *a = strmap_get(&c->agents, path + 8);
        if (a && type == ZOO_CHANGED_EVENT)
            read_agent(c, a);
        else if (a && type == ZOO_DELETED_EVENT)
            mark_gone(c, a);
        schedule_eval(c);
    } else if (strcmp(path, "/jobs") == 0) {
        zkreg_children(c->z, "/jobs", true, jobs_listed, c);
    } else if (strcmp(path, PLAN_CHANGES) == 0) {
        changes_list(c);
    } else if (strcmp(path, "/state/assignment") == 0) {
        zkreg_get(c->z, "/state/assignment", true, snap_read, c);
    } else if (strncmp(path, "/election/", 10) == 0) {
        check_leader(c);
    }
}

/* reconnected: the connection is back within the same session. Requests in
 * flight when it broke failed, and a failed read set no watch; a peer's
 * record may have changed meanwhile without our seeing it (the reconnect
 * reports only a deletion). So: list the agents again and read every live
 * peer's record (each one suspect until read), read the snapshot, list the
 * jobs and the change log again, read jobs whose reads failed, and rewrite our
 * record (a write that failed may carry re-run claims). */
static void reconnected(struct coord *c)
{
    const char *k;
    void *v;
    if (c->reg == REG_NONE) {
        register_agent(c); /* registration loads everything */
        return;
    }
    if (c->reg == REG_DONE && !c->elect[0])
        start_election(c);
    if (c->reg != REG_DONE)
        return;
    /* A listing of /election in flight failed: our predecessor (and the
     * watch on it) is found again (test_reconnect election_read_in_flight). */
    if (c->elect[0])
        check_leader(c);
    zkreg_children(c->z, "/agents", true, agents_listed, c);
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (a->alive)
            read_agent(c, a);
    }
    zkreg_get(c->z, "/state/assignment", true, snap_read, c);
    changes_list(c); /* the first listing also lists /jobs */
    if (c->chg_listed)
        zkreg_children(c->z, "/jobs", true, jobs_listed, c);
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        if (j->read_failed && !j->loading)
            read_job(c, j);
    }
    c->node_dirty = true;
}

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    struct coord *c = ctx;
    const char *k;
    void *v;
    if (st == ZKREG_CONNECTED) {
        c->suspended = false;
        if (zkreg_generation(z) != c->gen) {
            /* A new session: every watch and ephemeral of the old one is gone. */
            c->gen = zkreg_generation(z);
            c->reg = REG_NONE;
            c->elect[0] = '\0';
            c->elect_creating = false;
            c->leader = false;
            c->publish_inflight = false;
            c->node_inflight = false;
            clear_caches(c);
            c->applied = 0;
            c->loaded = false;
            c->view_start_ms = 0;
            c->newer_seen_ms = 0;
            c->fault_applied = false;
            register_agent(c);
        } else {
            reconnected(c);
        }
        changed(c);
        schedule_eval(c);
    } else if (st == ZKREG_SUSPENDED) {
        c->suspended = true;  /* stop starting new work; running work continues */
        c->gap_ms = now_ms(); /* own_takeover_in.server_gap_ms */
        if (!c->gap_first_ms)
            c->gap_first_ms = c->gap_ms;
        /* What we hold of every peer is not known to be its last record
         * until it is read again (reconnected): a peer that vanishes
         * meanwhile is not trusted as to what it was running. */
        for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
            struct cagent *a = v;
            if (a->alive)
                a->suspect = true;
        }
        changed(c);
    } else if (st == ZKREG_LOST) {
        c->stats.sessions_lost++;
        c->own_session_prev = zkreg_session_id(z);
        c->lost_ms = now_ms();
        c->suspended = true;
        if (c->leader)
            LOGW("leadership lost with the session");
        c->leader = false;
        drop_all(c, "dropped: the session was lost before this agent could handle the fire");
        if (c->on_lost)
            c->on_lost(c->ctx);
        changed(c);
    }
}

/* ---------------------------------------------------------------- public API */

int coord_open(struct event_base *base, const struct zkreg_opts *zo, const struct coord_opts *o,
               struct coord **out, struct sc_err *err)
{
    struct coord *c = calloc(1, sizeof *c);
    struct zkreg_opts zopts = *zo;
    int rc;
    *out = NULL;
    if (!c)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    if (!job_name_valid(o->id)) {
        free(c);
        return sc_err_set(err, EINVAL, "id", -1, "must be 1-128 characters of [A-Za-z0-9._-]");
    }
    c->base = base;
    c->id = strdup(o->id);
    c->host = strdup(o->host);
    c->labels = calloc((size_t)o->nlabels + 1, sizeof *c->labels);
    for (int i = 0; c->labels && i < o->nlabels; i++)
        c->labels[c->nlabels++] = strdup(o->labels[i]);
    c->capacity = o->capacity;
    c->max_skew_ms = o->max_clock_skew_ms;
    c->started_at_ms = now_ms();
    c->on_change = o->on_change;
    c->on_lost = o->on_lost;
    c->on_fatal = o->on_fatal;
    c->is_running = o->is_running;
    c->on_trigger = o->on_trigger;
    c->on_trigger_unrun = o->on_trigger_unrun;
    c->ctx = o->ctx;
    c->skew_ok = true;
    strmap_init(&c->jobs);
    strmap_init(&c->agents);
    strmap_init(&c->trig_wait);
    strmap_init(&c->trig_open);
    c->jobs_gen = 1;
    c->chg_seen = -1;
    strmap_init(&c->handovers);
    strmap_init(&c->reruns);
    strmap_init(&c->quarantine);
    const char *fault = getenv("SHARDCRON_TEST_FAULT");
    if (fault && strcmp(fault, "stall_apply") == 0) {
        c->fault_stall_apply = true;
        LOGW("SHARDCRON_TEST_FAULT=stall_apply: this agent will not apply epochs after its "
             "first (a fault test)");
    }
    c->ev_eval = evtimer_new(base, eval_cb, c);
    c->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, c);
    c->ev_running = evtimer_new(base, running_cb, c);
    struct timeval tick = {1, 0};
    if (!c->id || !c->host || !c->labels || !c->ev_eval || !c->ev_tick || !c->ev_running ||
        event_add(c->ev_tick, &tick) < 0) {
        coord_close(c);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    zopts.on_state = on_state;
    zopts.on_watch = on_watch;
    zopts.ctx = c;
    if ((rc = zkreg_open(base, &zopts, &c->z, err)) < 0) {
        coord_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void coord_close(struct coord *c)
{
    if (!c)
        return;
    if (c->z)
        zkreg_close(c->z);
    clear_caches(c);
    strmap_free(&c->jobs);
    strmap_free(&c->agents);
    strmap_free(&c->trig_wait);
    strmap_free(&c->trig_open);
    while (c->trigs) {
        struct trig_open *t = c->trigs;
        c->trigs = t->next;
        trig_open_free(t);
    }
    const char *hk;
    void *hv;
    for (size_t it = 0; strmap_next(&c->handovers, &it, &hk, &hv);)
        free(hv);
    strmap_free(&c->handovers);
    free(c->losses);
    for (size_t it = 0; strmap_next(&c->reruns, &it, &hk, &hv);)
        free(hv);
    strmap_free(&c->reruns);
    shard_assignment_free(c->assign);
    plan_snapshot_clear(&c->applied_snap);
    evicting_clear(c);
    for (size_t it = 0; strmap_next(&c->quarantine, &it, &hk, &hv);)
        free(hv);
    strmap_free(&c->quarantine);
    if (c->ev_eval)
        event_free(c->ev_eval);
    if (c->ev_tick)
        event_free(c->ev_tick);
    if (c->ev_running)
        event_free(c->ev_running);
    free_running(c);
    for (int i = 0; i < c->nlabels; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c->id);
    free(c->host);
    free(c);
}

uint64_t coord_generation(const struct coord *c)
{
    return c->jobs_gen + c->states_gen;
}

bool coord_can_start(const struct coord *c)
{
    return !c->fatal && !c->suspended && c->reg == REG_DONE && c->skew_ok && !c->stalled &&
           zkreg_lease_ok(c->z);
}

bool coord_is_leader(const struct coord *c)
{
    return c->leader;
}
int64_t coord_epoch(const struct coord *c)
{
    return c->snap_exists ? c->snap.epoch : 0;
}
int64_t coord_applied_epoch(const struct coord *c)
{
    return c->applied;
}
struct zkreg *coord_zk(struct coord *c)
{
    return c->z;
}

void coord_foreach_item(struct coord *c,
                        void (*fn)(void *arg, const struct job *cfg, int item,
                                   enum coord_item_state st),
                        void *arg)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        if (!j->cfg)
            continue;
        /* A shard count just lowered keeps its old items owned until the next
         * epoch; items the new config no longer has are not reported. */
        for (int i = 0; i < j->nst && i < j->cfg->shards; i++)
            if (j->st[i] != COORD_NONE)
                fn(arg, j->cfg, i, (enum coord_item_state)j->st[i]);
    }
}

bool coord_take_handover(struct coord *c, const char *job, int item, struct coord_takeover *out)
{
    char key[JOB_NAME_MAX + 16];
    if (strmap_len(&c->handovers) == 0)
        return false;
    job_item_key(key, sizeof key, job, item);
    struct handover *h = strmap_get(&c->handovers, key);
    if (!h || !h->resolved)
        return false;
    strmap_del(&c->handovers, key);
    out->lo_ms = h->t.lo_ms;
    out->hi_ms = h->t.hi_ms;
    out->first_s = h->t.first_s;
    if (h->none)
        snprintf(out->why, sizeof out->why, "%s",
                 "no previous owner known: up to the last fire another agent may have started");
    else
        snprintf(out->why, sizeof out->why, "taken over from %s, %s",
                 h->from[0] ? h->from : "another agent",
                 !h->from[0]                   ? "at this agent's first epoch"
                 : strcmp(h->from, c->id) == 0 ? "our own earlier session"
                 : h->died                     ? "whose session ended"
                                               : "which handed it over");
    free(h);
    return true;
}

bool coord_take_rerun(struct coord *c, const char *job, int item, int64_t *fire, int64_t *session)
{
    char key[JOB_NAME_MAX + 16];
    if (strmap_len(&c->reruns) == 0)
        return false;
    job_item_key(key, sizeof key, job, item);
    struct rerun_wait *w = strmap_get(&c->reruns, key);
    if (!w || c->reran_acked < w->claim)
        return false;
    struct cjob *j = strmap_get(&c->jobs, job);
    strmap_del(&c->reruns, key);
    bool ok = j && item >= 0 && item < j->nst && j->st[item] == COORD_ACTIVE;
    if (ok) {
        j->rerun[item] = w->fire; /* coord_may_start allows it (and its retries) from now */
        *fire = w->fire;
        *session = w->session;
    }
    free(w);
    return ok;
}

bool coord_may_start(struct coord *c, const char *job, int item, int64_t fire,
                     enum own_trigger trig)
{
    struct cjob *j = strmap_get(&c->jobs, job);
    if (!coord_can_start(c) || !j || item < 0 || item >= j->nst ||
        !own_may_start(j->st[item] == COORD_ACTIVE, j->first[item], j->rerun[item], fire, trig))
        return false;
    /* The caller starts it now. Once the item leaves us, its highest label
     * goes out with our next record write (stop_s), never in a write of its
     * own: labels of items we still hold bound nobody's takeover. */
    if (j->last && fire > j->last[item])
        j->last[item] = fire;
    return true;
}

enum coord_item_state coord_item_state(const struct coord *c, const char *job, int item)
{
    const struct cjob *j = strmap_get(&c->jobs, job);
    if (!j || item < 0 || item >= j->nst)
        return COORD_NONE;
    return (enum coord_item_state)j->st[item];
}

const struct job *coord_job(const struct coord *c, const char *name)
{
    const struct cjob *j = strmap_get(&c->jobs, name);
    return j ? j->cfg : NULL;
}

static void free_running(struct coord *c)
{
    for (int i = 0; i < c->nrunning; i++)
        free(c->running[i].job);
    free(c->running);
    c->running = NULL;
    c->nrunning = 0;
}

static void running_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    (void)fd, (void)what;
    c->running_written_ms = now_ms();
    c->node_dirty = true;
    write_record(c);
}

void coord_set_running(struct coord *c, const char *const *jobs, const int *items,
                       const int64_t *fires, int n)
{
    bool same = n == c->nrunning;
    for (int i = 0; same && i < n; i++)
        same = items[i] == c->running[i].item && fires[i] == c->running[i].fire &&
               strcmp(jobs[i], c->running[i].job) == 0;
    if (same)
        return;
    free_running(c);
    if (n > 0 && (c->running = calloc((size_t)n, sizeof *c->running))) {
        for (int i = 0; i < n; i++)
            if ((c->running[c->nrunning].job = strdup(jobs[i]))) {
                c->running[c->nrunning].item = items[i];
                c->running[c->nrunning].fire = fires[i];
                c->nrunning++;
            }
    }
    /* At most one record write a second for this: never a write per fire. */
    if (!evtimer_pending(c->ev_running, NULL)) {
        int64_t wait = 1000 - (now_ms() - c->running_written_ms);
        struct timeval tv = {0, 0};
        if (wait > 0) {
            tv.tv_sec = wait / 1000;
            tv.tv_usec = (wait % 1000) * 1000;
        }
        evtimer_add(c->ev_running, &tv);
    }
}

void coord_run_ended(struct coord *c, const char *job, int item, int64_t fire)
{
    for (int i = 0; i < c->nrunning; i++)
        if (c->running[i].item == item && c->running[i].fire == fire &&
            strcmp(c->running[i].job, job) == 0) {
            free(c->running[i].job);
            c->running[i] = c->running[--c->nrunning];
            c->running_written_ms = now_ms();
            c->node_dirty = true;
            write_record(c);
            return;
        }
}

void coord_take_losses(struct coord *c, void (*fn)(void *arg, const struct coord_loss *l),
                       void *arg)
{
    /* fn may not call back into coord's loss list: take it first */
    struct loss *v = c->losses;
    int n = c->nlosses;
    c->losses = NULL;
    c->nlosses = c->caplosses = 0;
    for (int i = 0; i < n; i++) {
        struct coord_loss l = {v[i].job[0] ? v[i].job : NULL, v[i].item, v[i].pending, v[i].lo_ms,
                               v[i].why[0] ? v[i].why : NULL};
        fn(arg, &l);
    }
    free(v);
}

bool coord_owes(const struct coord *c, const char *job, int item)
{
    if (!c->applied || !c->assign)
        return false;
    const struct cjob *j = strmap_get(&c->jobs, job);
    if (j && item < j->nst && j->st[item] != COORD_NONE)
        return false; /* ours again */
    int ji = shard_job_find(c->assign, job);
    if (ji < 0 || item >= shard_job_items(c->assign, ji))
        return false; /* no longer in the assignment: nobody's */
    int o = shard_owner(c->assign, ji, item);
    const char *id = o >= 0 ? shard_agent_id(c->assign, o) : NULL;
    if (!id || strcmp(id, c->id) == 0)
        return true; /* no owner (or our id under another session): still ours */
    const struct cagent *a = strmap_get(&c->agents, id);
    int64_t ms = member_session(&c->applied_snap, id);
    /* its new owner has applied our epoch in the session that names it: it
     * holds the item pending or active and accounts it from there */
    return !(a && a->alive && a->loaded && own_member_self(id, a->node_session, id, ms) &&
             a->rec.applied_epoch >= c->applied);
}

void coord_set_backlog(struct coord *c, int64_t oldest_s)
{
    if (oldest_s == c->backlog_s)
        return;
    c->backlog_s = oldest_s;
    c->node_dirty = true;
    schedule_eval(c);
}

void coord_clock_suspect(struct coord *c)
{
    if (c->skew_ok) {
        LOGW("wall clock jumped: refusing work until the clock is checked against ZooKeeper");
        c->skew_ok = false;
        snprintf(c->reason, sizeof c->reason, "%s",
                 "wall clock jumped: re-checking against ZooKeeper");
        changed(c);
    }
    c->node_dirty = true;
    write_record(c);
}

int64_t coord_job_version(const struct coord *c, const char *name)
{
    const struct cjob *j = strmap_get(&c->jobs, name);
    return j ? j->mzxid : 0;
}

void coord_set_draining(struct coord *c, const char *job, int item, bool draining)
{
    struct cjob *j = strmap_get(&c->jobs, job);
    if (!j || item < 0 || item >= j->nst || j->draining[item] == draining)
        return;
    j->draining[item] = draining;
    c->node_dirty = true;
    schedule_eval(c);
}

/* add_items: {job: [items]} of the items in state `want`; with `since`, also
 * {job: [ms]} of when each became active. */
static void add_items(cJSON *obj, cJSON *since, struct coord *c, enum coord_item_state want)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        cJSON *arr = NULL, *sarr = NULL;
        for (int i = 0; i < j->nst; i++)
            if (j->st[i] == want) {
                if (!arr) {
                    arr = cJSON_AddArrayToObject(obj, j->name);
                    sarr = since ? cJSON_AddArrayToObject(since, j->name) : NULL;
                }
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
                if (sarr)
                    cJSON_AddItemToArray(sarr, cJSON_CreateNumber((double)j->since[i]));
            }
    }
}

void coord_status(const struct coord *cc, cJSON *o)
{
    struct coord *c = (struct coord *)cc;
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddBoolToObject(o, "leader", c->leader);
    cJSON_AddStringToObject(o, "session", zkreg_state_name(zkreg_state(c->z)));
    cJSON_AddNumberToObject(o, "epoch", (double)coord_epoch(c));
    cJSON_AddNumberToObject(o, "applied_epoch", (double)c->applied);
    /* Items count as owned only while this agent may start work: an agent that
     * cannot prove its session is alive claims nothing. */
    cJSON *owned = cJSON_AddObjectToObject(o, "owned");
    cJSON *since = cJSON_AddObjectToObject(o, "owned_since");
    if (coord_can_start(c))
        add_items(owned, since, c, COORD_ACTIVE);
    add_items(cJSON_AddObjectToObject(o, "pending"), NULL, c, COORD_PENDING);
    cJSON_AddBoolToObject(o, "ready", coord_can_start(c));
    cJSON_AddStringToObject(o, "reason", c->fatal ? "fatal" : not_ready_reason(c));
    cJSON_AddNumberToObject(o, "skew_ms", (double)c->skew_ms);
}

void coord_stats(const struct coord *c, struct coord_stats *s)
{
    const char *k;
    void *v;
    *s = c->stats;
    s->sessions_lost = zkreg_sessions_lost(c->z);
    s->skew_ms = c->skew_ms;
    s->jobs = (int64_t)strmap_len(&c->jobs);
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        struct cjob *j = v;
        if (!j->cfg)
            s->invalid_jobs++;
        for (int i = 0; i < j->nst; i++) {
            s->owned_items += j->st[i] == COORD_ACTIVE;
            s->pending_items += j->st[i] == COORD_PENDING;
            s->draining_items += j->draining[i];
        }
    }
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);)
        s->agents_alive += ((struct cagent *)v)->alive;
}

/* ---------------------------------------------------------------- eligibility (alerts) */

int coord_job_eligible(const struct coord *c, const char *job)
{
    if (!c->assign || c->applied <= 0)
        return -1;
    int ji = shard_job_find(c->assign, job);
    if (ji < 0)
        return -1;
    int n = shard_job_eligible(c->assign, ji);
    return n < 0 ? -1 : n;
}

void coord_foreach_job(struct coord *c, void (*fn)(void *arg, const struct job *cfg), void *arg)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs, &it, &k, &v);) {
        const struct cjob *j = v;
        if (j->cfg)
            fn(arg, j->cfg);
    }
}
