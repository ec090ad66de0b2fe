/* tests/sim/sim_agent.c: the agent model — registry/coord.c's event handling
 * (registration, election, caches, apply, gate, publish, evict), the ZooKeeper
 * client's session and lease (zk.c), the watchdog, and a small scheduler
 * (agent/sched.c: fixed-period fires, misfire policy, forbid, capacity,
 * retries, failover re-runs).
 *
 * Every decision registry/own.h makes is taken from it: own_member_self (am
 * I a member), own_gate_open (may pending items start), own_takeover (the
 * window, the first own fire label, the failover re-run, not_before),
 * own_carry/own_pending_lo (items lost while pending), own_may_start (the
 * start check), own_evict/own_evict_bound_ms (the leader's bound). Owners
 * come from shard_assign and the digest from plan_digest. What this file
 * decides itself is what coord.c decides: when to read, what a record says,
 * which agent was the previous owner and what is known of it.
 *
 * Time: w->now is true time and every agent's monotonic clock; an agent's
 * realtime clock is w->now + skew. Fire labels are judged by the realtime
 * clock, the lease and the watchdog by the monotonic one.
 *
 * Sections: state; helpers; timers; ZooKeeper client; session; record;
 * registration and election; caches; apply; gate and takeover; leader;
 * scheduler; runs; faults; events; what the checker sees. */
#include <stdlib.h>
#include <string.h>

#include "registry/plan.h"
#include "sharding/shard.h"
#include "tests/sim/sim.h"

/* ---------------------------------------------------------------- state */

enum { TM_PING, TM_SCHED, TM_TICK, TM_CONNECT, TM_RUNNING, TM_N };
enum { ZS_NONE, ZS_CONNECTING, ZS_CONNECTED, ZS_SUSPENDED };
enum { REG_NONE, REG_CREATING, REG_WAIT_STALE, REG_DONE };
enum { ST_NONE, ST_PENDING, ST_ACTIVE };
enum { R_FREE, R_QUEUED, R_RUNNING, R_RETRY, R_ENDED_UNSEEN };

/* what a request's answer goes to */
enum {
    CK_PING,
    CK_REGISTER,
    CK_REG_GET,
    CK_STALE,
    CK_WRITE,
    CK_ELECT_CREATE,
    CK_ELECT_LIST,
    CK_AGENTS_LIST,
    CK_AGENT_GET,
    CK_SNAP_GET,
    CK_SNAP_EXISTS,
    CK_JOBS_LIST,
    CK_JOB_GET,
    CK_PUBLISH,
    CK_CLOSE
};

struct preq {
    int64_t xid;
    int ck, c1;
    ms_t sent;
    bool watch;
    int op;
    char path[SIM_PATH];
};

struct tomb { /* an ended session of a peer, as this agent saw it go */
    int64_t session;
    ms_t gone_ms;    /* this agent's clock */
    ms_t gone_lo_ms; /* the earliest it may have vanished (own_takeover_in.gone_lo_ms) */
    bool trusted;    /* the record was current when the node went */
    bool evicted;    /* the snapshot we had named it evicted: it may outlive its node */
    struct sim_rec rec;
    bool consumed[SIM_LIST]; /* mutant 3: running entries already re-run here */
};

struct peer {
    bool alive, loaded, stale, need_read;
    int reading;
    /* our last proof (our clock) when our connection broke or our session
     * was lost while this peer was alive, until its record is read again:
     * a vanishing reported after that may have happened since (0 none) */
    ms_t suspect_lo;
    int64_t session;
    struct sim_rec rec;
    int ntomb;
    struct tomb tomb[4];
};

struct jobv {
    int64_t czxid; /* its node's creation, in ZooKeeper's order */
    bool present, loaded, need_read;
    int reading;
    struct sim_job cfg;
};

struct handover {        /* noted at the gain: the owner at the epoch applied before */
    bool valid, unknown; /* unknown: this process knows no epoch before */
    bool any;            /* unowned after a total outage (OWN_PREV_ANY, unowned_before) */
    int64_t inherited;   /* the carry of the owner it came from (0 none) */
    struct sim_member from;
    int64_t prev_epoch;
    ms_t prev_created;
};

struct item {
    int st;
    bool draining;
    struct handover h;
    /* removed from its job by a config write while another agent (or an
     * earlier session) owned it: accounted here once the gate opens
     * (settle_removed), from its owner's stop on */
    bool removed;
    struct handover hr;
    int64_t first_s, rerun;
    int64_t last; /* the highest fire label started here */
    /* lost while active: we account its fires as they come due until its
     * new owner has applied the epoch that names it (coord.c handed_check) */
    bool handed;
    int64_t handed_next;
    bool rerun_due;
    int64_t rerun_wait; /* reran_total that must be acknowledged first */
    ms_t not_before;
    bool sched;
    int64_t next_label;
};

struct assign { /* owners of one epoch, by member (id and session) */
    bool valid;
    int nmembers;
    int64_t outage_from;
    int64_t epoch;
    ms_t created;
    int items[SIM_MAX_JOBS];
    struct sim_member owner[SIM_MAX_JOBS][SIM_MAX_ITEMS]; /* id "" = none */
};

struct run {
    int state;
    int job, item, attempt, trig, ck, prev_ck;
    int64_t label, inc, tag;
    bool fail, listed, force;
    bool rerun;           /* a failover re-run (or its retry): never re-run again */
    bool reported_queued; /* its "queued: at capacity" row was written (sched.c) */
    ms_t retry_due, started_mono;
    uint64_t order;
};

struct ghost { /* mutant 6: an ended run still in the running list */
    int job, item, ck;
    int64_t label;
};

struct sim_agent {
    int idx;
    char id[SIM_ID];
    int64_t inc; /* process incarnation */
    bool proc, frozen, stuck;
    ms_t skew;
    ms_t last_real, last_mono;
    bool jumped_fwd;
    ms_t coord_real, coord_mono; /* coord.c's own look at the clocks (clock_watch) */
    /* while frozen */
    struct msg **inbox;
    int ninbox, capinbox;
    bool pend_timer[TM_N], pend_drop;
    int64_t tseq[TM_N], tctr;
    int64_t wd_tag;
    /* ZooKeeper client */
    int conn, zstate;
    int64_t session, last_zxid, xid;
    ms_t lease_base, connect_sent;
    struct preq pend[SIM_MAX_PENDING];
    int npend;
    struct {
        char path[SIM_PATH];
        int type;
    } cw[64];
    int ncw;
    /* coord */
    int reg;
    char elect[SIM_PATH];
    bool elect_creating, leader, rr_elect;
    bool agents_listed, jobs_listed, snap_loaded, snap_exists;
    bool rr_agents, rr_jobs, rr_snap;
    int snap_version, agents_reading, jobs_reading;
    struct sim_snap snap;
    struct peer peers[SIM_MAX_AGENTS];
    struct jobv jobs[SIM_MAX_JOBS];
    bool loaded;
    int64_t applied;
    ms_t applied_ms, applied_created;
    struct assign before; /* last applied in this process (survives sessions) */
    struct assign seen;   /* from the first snapshot read, until something is applied */
    struct item it[SIM_MAX_JOBS][SIM_MAX_ITEMS];
    int64_t carry_ms;
    int64_t max_started;  /* the highest label started of an item no longer held here */
    int64_t prev_applied; /* the epoch applied before `applied` in this session */
    int64_t backlog_s;    /* the oldest fire queued since the queue was last empty (0 none) */
    /* dead sessions whose cut-off runs we re-run (published in our record
     * before any re-run starts: nobody else re-runs them) */
    int64_t reran[SIM_RERAN];
    int64_t reran_total, reran_inflight, reran_acked;
    struct {
        int64_t session;
        int job, item;
    } rerun_done[64]; /* re-runs decided here */
    int nrerun_done;
    ms_t quarantine[SIM_MAX_AGENTS]; /* leader: evicted ids kept out until (our clock) */
    ms_t view_ms;                    /* when this session first listed the agents (our clock) */
    int64_t view_zxid;               /* the server's zxid in that listing's answer */
    ms_t newer_seen;                 /* when we first saw an epoch newer than the applied one */
    ms_t settled_ms;                 /* the last time we saw the cluster settled (own_settled) */
    int64_t outage_from;             /* own_takeover_in.outage_from_ms */
    bool stalled;                    /* evicted ourselves for not applying (own_apply_overdue) */
    bool node_dirty, node_inflight;
    ms_t node_t0, skew_meas, last_clock_check;
    bool skew_ok, publish_inflight;
    struct sim_snap pub; /* the snapshot being published */
    bool self_lost_valid;
    ms_t self_lost_ms, gap_ms; /* gap: our connection last broke (our clock) */
    ms_t gap_first;            /* the first break since we last saw the cluster settled */
    int64_t self_lost_session;
    int64_t self_lost_applied; /* the last epoch that session applied */
    /* scheduler */
    struct run runs[SIM_MAX_RUNS];
    uint64_t run_order;
    struct ghost ghosts[SIM_LIST];
    int nghost;
};

/* ---------------------------------------------------------------- helpers */

static struct sim_agent *A(struct world *w, int idx)
{
    return w->ag[idx];
}

static ms_t clk(const struct world *w, const struct sim_agent *a)
{
    return w->now + a->skew;
}

static int T(const struct world *w)
{
    return w->p.session_ms;
}

static int margin(const struct world *w)
{
    return T(w) / 10 > 100 ? T(w) / 10 : 100;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static struct msg *msg_new(int kind)
{
    struct msg *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->kind = kind;
    return m;
}

static int peer_of(const char *name)
{
    return name[0] == 'a' ? atoi(name + 1) : -1;
}

static void eval(struct world *w, struct sim_agent *a);
static void evicted(struct world *w, struct sim_agent *a);
static void write_record(struct world *w, struct sim_agent *a);
static int64_t pending_lo(const struct world *w, const struct sim_agent *a, const struct item *x);
static void session_lost(struct world *w, struct sim_agent *a, const char *why);
static void register_agent(struct world *w, struct sim_agent *a);
static void sched_tick(struct world *w, struct sim_agent *a);
static void drop_items(struct world *w, struct sim_agent *a, const char *why);
static void settle_removed(struct world *w, struct sim_agent *a, int j, int i);
static void kill_runs(struct world *w, struct sim_agent *a, int64_t inc, const char *why);
static void see_run_end(struct world *w, struct sim_agent *a, struct run *r, bool killed);

/* ---------------------------------------------------------------- timers */

static void arm(struct world *w, struct sim_agent *a, int kind, ms_t delay)
{
    a->tseq[kind] = ++a->tctr;
    sim_push(w, w->now + (delay < 1 ? 1 : delay), EV_TIMER, a->idx, kind, a->tseq[kind], NULL);
}

static void disarm(struct sim_agent *a, int kind)
{
    a->tseq[kind] = ++a->tctr;
}

/* the watchdog's deadline: where the lease runs out (zk.c's lost point) */
static void arm_watchdog(struct world *w, struct sim_agent *a)
{
    sim_push(w, a->lease_base + T(w) - margin(w), EV_WATCHDOG, a->idx, 0, ++a->wd_tag, NULL);
}

/* ---------------------------------------------------------------- ZooKeeper client */

static bool connected(const struct sim_agent *a)
{
    return a->zstate == ZS_CONNECTED && a->conn > 0;
}

static void answer(struct world *w, struct sim_agent *a, struct msg *r, const struct preq *q);

/* req: send a request; when not connected it fails at once with CONNLOSS. */
static void req(struct world *w, struct sim_agent *a, struct msg *m, int ck, int c1)
{
    struct preq q = {
        .xid = ++a->xid, .ck = ck, .c1 = c1, .sent = w->now, .watch = m->watch, .op = m->op};
    snprintf(q.path, sizeof q.path, "%s", m->path);
    m->kind = MK_REQ;
    m->xid = q.xid;
    if (!connected(a) || a->npend == SIM_MAX_PENDING) {
        free(m);
        struct msg r = {.kind = MK_RESP, .rc = ZR_CONNLOSS, .xid = q.xid};
        answer(w, a, &r, &q);
        return;
    }
    a->pend[a->npend++] = q;
    zk_send(w, a->conn, m);
}

static struct msg *op(int o, const char *path, bool watch)
{
    struct msg *m = msg_new(MK_REQ);
    m->op = o;
    m->watch = watch;
    m->version = -1;
    snprintf(m->path, sizeof m->path, "%s", path);
    return m;
}

static void cw_add(struct sim_agent *a, const char *path, int type)
{
    for (int i = 0; i < a->ncw; i++)
        if (a->cw[i].type == type && strcmp(a->cw[i].path, path) == 0)
            return;
    if (a->ncw < 64) {
        snprintf(a->cw[a->ncw].path, SIM_PATH, "%s", path);
        a->cw[a->ncw++].type = type;
    }
}

static void cw_fired(struct sim_agent *a, const char *path, int event)
{
    for (int i = 0; i < a->ncw; i++) {
        bool child = a->cw[i].type == ZW_CHILD;
        if (strcmp(a->cw[i].path, path) == 0 &&
            (child ? event == ZE_CHILD || event == ZE_DELETED : event != ZE_CHILD))
            a->cw[i--] = a->cw[--a->ncw];
    }
}

static void connect(struct world *w, struct sim_agent *a)
{
    if (a->conn > 0 && a->connect_sent && w->now - a->connect_sent >= 1500) {
        a->gap_ms = clk(w, a); /* the server did not answer: it may be restarting */
        if (!a->gap_first)
            a->gap_first = a->gap_ms;
    }
    if (a->conn > 0) {
        int c = a->conn;
        a->conn = 0;
        zk_drop_conn(w, c);
    }
    a->conn = zk_new_conn(w, a->idx);
    struct msg *m = msg_new(MK_CONNECT);
    m->session = a->session;
    m->last_zxid = a->last_zxid;
    for (int i = 0; i < a->ncw && i < 64; i++) {
        snprintf(m->watches[i].path, SIM_PATH, "%s", a->cw[i].path);
        m->watches[i].type = a->cw[i].type;
    }
    m->nwatch = a->ncw;
    a->connect_sent = w->now;
    zk_send(w, a->conn, m);
    arm(w, a, TM_CONNECT, 1500); /* no answer by then: try again */
}

/* fail_pending: the connection broke; every request in flight fails. */
static void fail_pending(struct world *w, struct sim_agent *a)
{
    struct preq q[SIM_MAX_PENDING];
    int n = a->npend;
    memcpy(q, a->pend, (size_t)n * sizeof *q);
    a->npend = 0;
    for (int i = 0; i < n; i++) {
        struct msg r = {.kind = MK_RESP, .rc = ZR_CONNLOSS, .xid = q[i].xid};
        answer(w, a, &r, &q[i]);
    }
}

/* proof_clk: our last proof of the session (the send time of the last
 * request the server answered), on our realtime clock. */
static ms_t proof_clk(const struct world *w, const struct sim_agent *a)
{
    return clk(w, a) - (w->now - a->lease_base);
}

/* views_suspect: our view of every live peer stops being current at our
 * last proof (coord_peers.c peers_suspect). */
static void views_suspect(struct world *w, struct sim_agent *a)
{
    for (int p = 0; p < w->p.agents; p++)
        if (a->peers[p].alive && !a->peers[p].suspect_lo)
            a->peers[p].suspect_lo = proof_clk(w, a);
}

static void conn_broken(struct world *w, struct sim_agent *a)
{
    views_suspect(w, a);
    a->conn = 0;
    a->gap_ms = clk(w, a);
    if (!a->gap_first)
        a->gap_first = a->gap_ms;
    if (a->zstate == ZS_CONNECTED) {
        a->zstate = ZS_SUSPENDED;
        sim_trace(w, "a%d: disconnected (session %llx suspended)", a->idx,
                  (unsigned long long)a->session);
    }
    fail_pending(w, a);
    /* A peer's record may change while we are away and its node then
     * vanish: the reconnect reports only the deletion. What we hold is not
     * known to be its last record until it is read again (coord.c
     * peers_suspect): reread() reads every live peer on reconnect. */
    for (int p = 0; p < w->p.agents; p++)
        if (a->peers[p].alive) {
            a->peers[p].stale = true;
            a->peers[p].need_read = true;
        }
    if (a->zstate == ZS_SUSPENDED || a->zstate == ZS_CONNECTING)
        arm(w, a, TM_CONNECT, sim_range(w, 50, 800));
}

/* ---------------------------------------------------------------- session */

static void reset_views(struct sim_agent *a)
{
    a->reg = REG_NONE;
    a->elect[0] = '\0';
    a->elect_creating = a->leader = a->rr_elect = false;
    a->agents_listed = a->jobs_listed = a->snap_loaded = a->snap_exists = false;
    a->view_ms = 0;
    a->rr_agents = a->rr_jobs = a->rr_snap = false;
    a->agents_reading = a->jobs_reading = 0;
    a->publish_inflight = a->node_inflight = false;
    a->loaded = false;
    for (int i = 0; i < SIM_MAX_AGENTS; i++) {
        a->peers[i].loaded = a->peers[i].need_read = false;
        a->peers[i].reading = 0;
    }
    for (int j = 0; j < SIM_MAX_JOBS; j++) /* a new session reads (and watches) every job */
        a->jobs[j] = (struct jobv){0};
}

static void on_new_session(struct world *w, struct sim_agent *a)
{
    reset_views(a);
    a->ncw = 0;
    sim_trace(w, "a%d: new session %llx", a->idx, (unsigned long long)a->session);
    register_agent(w, a);
}

static void reread(struct world *w, struct sim_agent *a);

/* session_lost: the lease ran out or the server expired us: kill, drop,
 * close, build a new session (zk.c go_lost, coord.c on_state LOST). */
static void session_lost(struct world *w, struct sim_agent *a, const char *why)
{
    sim_trace(w, "a%d: session %llx lost (%s): kill runs, drop items, new session", a->idx,
              (unsigned long long)a->session, why);
    views_suspect(w, a);
    kill_runs(w, a, a->inc, "session lost");
    drop_items(w, a, "session lost");
    a->self_lost_valid = true;
    a->self_lost_ms = clk(w, a);
    a->self_lost_session = a->session;
    a->self_lost_applied = a->applied;
    a->applied = 0;
    a->leader = false;
    if (connected(a) && zk_conn_open(w, a->conn)) {
        struct msg *m = op(ZO_CLOSE, "", false);
        m->kind = MK_REQ;
        zk_send(w, a->conn, m); /* the server closes the connection */
    }
    a->conn = 0;
    a->npend = 0; /* the old handle's completions go nowhere */
    a->session = 0;
    a->zstate = ZS_CONNECTING;
    a->ncw = 0;
    reset_views(a);
    disarm(a, TM_PING);
    arm(w, a, TM_CONNECT, sim_range(w, 10, 200));
}

static bool lease_ok(const struct world *w, const struct sim_agent *a)
{
    return connected(a) && w->now - a->lease_base < T(w) / 2;
}

static bool can_start(const struct world *w, const struct sim_agent *a)
{
    return a->proc && !a->frozen && a->reg == REG_DONE && a->skew_ok && lease_ok(w, a);
}

static void lease_check(struct world *w, struct sim_agent *a)
{
    if ((a->zstate == ZS_CONNECTED || a->zstate == ZS_SUSPENDED) &&
        w->now - a->lease_base > T(w) - margin(w))
        session_lost(w, a, "no answer for longer than the lease allows");
}

/* ---------------------------------------------------------------- record */

static void write_record(struct world *w, struct sim_agent *a)
{
    char path[SIM_PATH];
    if (a->reg != REG_DONE || a->node_inflight || !connected(a))
        return;
    struct msg *m = op(ZO_SET, "", false);
    snprintf(path, sizeof path, "/agents/%s", a->id);
    snprintf(m->path, sizeof m->path, "%s", path);
    m->data.tag = ZD_REC;
    struct sim_rec *r = &m->data.u.rec;
    r->session = a->session;
    r->applied_epoch = a->applied;
    r->applied_ms = a->applied ? a->applied_ms : 0;
    r->stop_s = a->max_started;
    r->prev_applied = a->prev_applied;
    r->backlog_s = a->backlog_s;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            r->npending += a->it[j][i].st == ST_PENDING;
    for (int64_t k = a->reran_total > SIM_RERAN ? a->reran_total - SIM_RERAN : 0;
         k < a->reran_total; k++)
        r->reran[r->nreran++] = a->reran[k % SIM_RERAN];
    a->reran_inflight = a->reran_total;
    /* carry: items lost while pending at the last apply, and those pending now */
    r->carry_ms = a->carry_ms;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            if (a->it[j][i].st == ST_PENDING && (a->it[j][i].h.valid || a->it[j][i].h.any))
                r->carry_ms = own_carry(r->carry_ms, pending_lo(w, a, &a->it[j][i]));
    r->skew_ms = a->skew_meas;
    r->session_ms = T(w);
    r->brk_ms = a->gap_first ? a->gap_first - a->skew_meas
                : a->gap_ms  ? a->gap_ms - a->skew_meas
                             : 0; /* the earliest unsettled break */
    r->ready = a->skew_ok && a->loaded && !a->stalled;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            if (a->it[j][i].draining && r->ndrain < SIM_LIST)
                r->drain[r->ndrain++] = (struct sim_item_ref){(int8_t)j, (int8_t)i, 0, -1};
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *x = &a->runs[k];
        if (x->state == R_RUNNING && x->inc == a->inc && x->listed && !x->rerun &&
            r->nrun < SIM_LIST)
            r->run[r->nrun++] =
                (struct sim_item_ref){(int8_t)x->job, (int8_t)x->item, x->label, x->ck};
    }
    for (int k = 0; k < a->nghost && r->nrun < SIM_LIST; k++)
        r->run[r->nrun++] =
            (struct sim_item_ref){(int8_t)a->ghosts[k].job, (int8_t)a->ghosts[k].item,
                                  a->ghosts[k].label, a->ghosts[k].ck};
    a->node_dirty = false;
    a->node_inflight = true;
    a->node_t0 = clk(w, a);
    req(w, a, m, CK_WRITE, 0);
}

static void record_written(struct world *w, struct sim_agent *a, const struct msg *r)
{
    a->node_inflight = false;
    if (r->rc == ZR_OK) {
        if (a->reran_inflight > a->reran_acked) {
            a->reran_acked = a->reran_inflight;
            arm(w, a, TM_SCHED, 1); /* re-runs waiting for it */
        }
        ms_t t1 = clk(w, a);
        if (t1 - a->node_t0 <= 500) {
            a->skew_meas = (a->node_t0 + t1) / 2 - r->stat.mtime;
            bool ok = llabs(a->skew_meas) <= w->p.max_skew_ms;
            if (ok != a->skew_ok) {
                sim_trace(w, "a%d: clock skew %lld ms: %s", a->idx, (long long)a->skew_meas,
                          ok ? "accepting work" : "refusing work");
                a->skew_ok = ok;
                a->node_dirty = true;
            }
            a->last_clock_check = w->now;
        }
    } else if (r->rc == ZR_NONODE && a->reg == REG_DONE) {
        evicted(w, a); /* someone deleted our node: as if evicted */
    } else if (r->rc == ZR_CONNLOSS) {
        a->node_dirty = true;
    }
}

/* ---------------------------------------------------------------- registration and election */

static void load_all(struct world *w, struct sim_agent *a);
static void start_election(struct world *w, struct sim_agent *a);

static void register_agent(struct world *w, struct sim_agent *a)
{
    char path[SIM_PATH];
    if (a->reg != REG_NONE || !connected(a))
        return;
    a->reg = REG_CREATING;
    snprintf(path, sizeof path, "/agents/%s", a->id);
    struct msg *m = op(ZO_CREATE, path, false);
    m->flags = ZF_EPHEMERAL;
    m->data.tag = ZD_REC;
    m->data.u.rec.session = a->session;
    m->data.u.rec.session_ms = T(w);
    req(w, a, m, CK_REGISTER, 0);
}

static void registered(struct world *w, struct sim_agent *a)
{
    a->reg = REG_DONE;
    a->node_dirty = true;
    sim_trace(w, "a%d: registered (session %llx)", a->idx, (unsigned long long)a->session);
    start_election(w, a);
    load_all(w, a);
}

static void start_election(struct world *w, struct sim_agent *a)
{
    char path[SIM_PATH];
    if (a->elect[0] || a->elect_creating || !connected(a))
        return;
    snprintf(path, sizeof path, "/election/n_%llx_", (unsigned long long)a->session);
    struct msg *m = op(ZO_CREATE, path, false);
    m->flags = ZF_EPHEMERAL | ZF_SEQUENCE;
    m->data.tag = ZD_ELECT;
    snprintf(m->data.u.elect.id, SIM_ID, "%s", a->id);
    m->data.u.elect.session = a->session;
    a->elect_creating = true;
    req(w, a, m, CK_ELECT_CREATE, 0);
}

static void list_election(struct world *w, struct sim_agent *a)
{
    req(w, a, op(ZO_CHILDREN, "/election", true), CK_ELECT_LIST, 0);
}

static void election_listed(struct world *w, struct sim_agent *a, const struct msg *r)
{
    char want[40];
    snprintf(want, sizeof want, "n_%llx_", (unsigned long long)a->session);
    const char *mine = a->elect[0] ? a->elect + strlen("/election/") : NULL;
    if (!mine) {
        for (int i = 0; i < r->nchildren; i++)
            if (strncmp(r->children[i], want, strlen(want)) == 0)
                snprintf(a->elect, sizeof a->elect, "/election/%s", r->children[i]);
        if (!a->elect[0]) {
            start_election(w, a);
            return;
        }
        mine = a->elect + strlen("/election/");
    }
    const char *lowest = NULL, *seqm = strrchr(mine, '_');
    bool found = false;
    for (int i = 0; i < r->nchildren; i++) {
        const char *s = strrchr(r->children[i], '_');
        if (strcmp(r->children[i], mine) == 0)
            found = true;
        if (!lowest || strcmp(s, strrchr(lowest, '_')) < 0)
            lowest = r->children[i];
    }
    if (!found) {
        a->elect[0] = '\0';
        start_election(w, a);
        return;
    }
    bool was = a->leader;
    a->leader = lowest && strcmp(strrchr(lowest, '_'), seqm) == 0;
    if (a->leader && !was)
        sim_trace(w, "a%d: elected leader", a->idx);
}

/* ---------------------------------------------------------------- caches */

static void read_peer(struct world *w, struct sim_agent *a, int p)
{
    char path[SIM_PATH];
    snprintf(path, sizeof path, "/agents/a%d", p);
    if (a->peers[p].reading++ == 0)
        a->agents_reading++;
    req(w, a, op(ZO_GET, path, true), CK_AGENT_GET, p);
}

static void read_job(struct world *w, struct sim_agent *a, int j)
{
    char path[SIM_PATH];
    snprintf(path, sizeof path, "/jobs/j%d", j);
    if (a->jobs[j].reading++ == 0)
        a->jobs_reading++;
    req(w, a, op(ZO_GET, path, true), CK_JOB_GET, j);
}

static void read_snap(struct world *w, struct sim_agent *a)
{
    req(w, a, op(ZO_GET, "/state/assignment", true), CK_SNAP_GET, 0);
}

static void load_all(struct world *w, struct sim_agent *a)
{
    req(w, a, op(ZO_CHILDREN, "/agents", true), CK_AGENTS_LIST, 0);
    read_snap(w, a);
    req(w, a, op(ZO_CHILDREN, "/jobs", true), CK_JOBS_LIST, 0);
}

static void mark_gone(struct world *w, struct sim_agent *a, int p)
{
    struct peer *x = &a->peers[p];
    if (!x->alive)
        return;
    if (x->ntomb == 4)
        memmove(&x->tomb[0], &x->tomb[1], 3 * sizeof x->tomb[0]), x->ntomb--;
    struct tomb *t = &x->tomb[x->ntomb++];
    memset(t, 0, sizeof *t);
    t->session = x->session;
    t->gone_ms = clk(w, a);
    /* It vanished after the server answered our last request before this
     * news (a watch event comes before the answers that follow it), or,
     * when our view of it was suspect, after our last proof before that */
    t->gone_lo_ms = proof_clk(w, a) < t->gone_ms ? proof_clk(w, a) : t->gone_ms;
    if (x->suspect_lo && x->suspect_lo < t->gone_lo_ms)
        t->gone_lo_ms = x->suspect_lo;
    x->suspect_lo = 0;
    t->trusted = x->loaded && !x->stale;
    t->rec = x->rec;
    for (int k = 0; k < a->snap.nevicted; k++)
        t->evicted |= peer_of(a->snap.ev[k].id) == p && a->snap.ev[k].session == t->session;
    x->alive = x->loaded = false;
    if (p == a->idx && a->reg == REG_WAIT_STALE)
        a->reg = REG_NONE; /* our stale node went (seen in a listing): register now */
    sim_trace(w, "a%d: saw a%d (session %llx) go%s", a->idx, p, (unsigned long long)x->session,
              t->trusted ? "" : " (its last record not current)");
}

static void agents_listed(struct world *w, struct sim_agent *a, const struct msg *r)
{
    bool listed[SIM_MAX_AGENTS] = {0};
    for (int i = 0; i < r->nchildren; i++) {
        int p = peer_of(r->children[i]);
        if (p >= 0 && p < SIM_MAX_AGENTS)
            listed[p] = true;
    }
    for (int p = 0; p < w->p.agents; p++) {
        if (a->peers[p].alive && !listed[p])
            mark_gone(w, a, p);
        if (listed[p] && !a->peers[p].alive) {
            a->peers[p].alive = true;
            a->peers[p].loaded = false;
            a->peers[p].session = 0;
            read_peer(w, a, p);
        } else if (listed[p] && !a->peers[p].loaded && a->peers[p].reading == 0) {
            read_peer(w, a, p);
        }
    }
    if (!a->agents_listed && !a->view_ms) {
        a->view_ms = clk(w, a);
        a->view_zxid = r->zxid; /* coord.c: the listing's pzxid, a tighter bound */
    }
    a->agents_listed = true;
}

static void peer_read(struct world *w, struct sim_agent *a, int p, const struct msg *r)
{
    struct peer *x = &a->peers[p];
    if (x->reading > 0 && --x->reading == 0)
        a->agents_reading--;
    if (r->rc == ZR_OK) {
        if (x->alive && x->session && x->session != r->stat.owner)
            mark_gone(w, a, p); /* an earlier session went without our seeing it */
        x->alive = true;
        x->session = r->stat.owner;
        x->rec = r->data.u.rec;
        x->loaded = true;
        x->stale = false;
        x->suspect_lo = 0;
        if (w->p.verbose)
            sim_trace(w, "a%d: read a%d's record (session %llx, epoch %lld, %d running)", a->idx, p,
                      (unsigned long long)x->session, (long long)x->rec.applied_epoch, x->rec.nrun);
    } else if (r->rc == ZR_NONODE) {
        mark_gone(w, a, p);
        if (p == a->idx && a->reg == REG_DONE)
            evicted(w, a); /* the deletion's event came while no watch was set */
    } else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD) {
        x->need_read = true;
    }
}

static void snap_read(struct world *w, struct sim_agent *a, const struct msg *r)
{
    if (r->rc == ZR_OK) {
        if (!a->snap_exists || r->data.u.snap.epoch >= a->snap.epoch) {
            a->snap = r->data.u.snap;
            a->snap_version = r->stat.version;
            if (a->snap.outage_from > 0)
                a->outage_from = a->snap.outage_from;
        }
        if (a->snap.epoch > a->applied && !a->newer_seen)
            a->newer_seen = clk(w, a);
        a->snap_exists = a->snap_loaded = true;
    } else if (r->rc == ZR_NONODE) {
        a->snap_loaded = true;
        a->snap_exists = false;
        req(w, a, op(ZO_EXISTS, "/state/assignment", true), CK_SNAP_EXISTS, 0);
    } else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD) {
        a->rr_snap = true;
    }
}

static void jobs_listed(struct world *w, struct sim_agent *a, const struct msg *r)
{
    for (int i = 0; i < r->nchildren; i++) {
        int j = atoi(r->children[i] + 1);
        if (j >= 0 && j < SIM_MAX_JOBS && !a->jobs[j].present) {
            a->jobs[j].present = true;
            read_job(w, a, j);
        } else if (j >= 0 && j < SIM_MAX_JOBS && !a->jobs[j].loaded && !a->jobs[j].reading) {
            read_job(w, a, j);
        }
    }
    a->jobs_listed = true;
}

static void job_read(struct world *w, struct sim_agent *a, int j, const struct msg *r)
{
    struct jobv *x = &a->jobs[j];
    if (x->reading > 0 && --x->reading == 0)
        a->jobs_reading--;
    if (r->rc == ZR_OK) {
        x->cfg = r->data.u.job;
        x->czxid = r->stat.czxid;
        x->loaded = true;
        x->need_read = false;
    } else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD) {
        x->need_read = true;
    }
}

/* reread: a reconnect within the session — every read that failed with
 * connection loss registered no watch, so it is issued again. */
static void reread(struct world *w, struct sim_agent *a)
{
    if (a->reg == REG_NONE) {
        register_agent(w, a);
        return; /* registration loads everything */
    }
    if (a->reg == REG_DONE && !a->elect[0] && !a->elect_creating)
        list_election(w, a); /* finds a node whose create answer was lost */
    if (a->rr_elect) {
        a->rr_elect = false;
        list_election(w, a);
    }
    if (a->rr_agents) {
        a->rr_agents = false;
        req(w, a, op(ZO_CHILDREN, "/agents", true), CK_AGENTS_LIST, 0);
    }
    for (int p = 0; p < w->p.agents; p++)
        if (a->peers[p].need_read) {
            a->peers[p].need_read = false;
            read_peer(w, a, p);
        }
    if (a->rr_snap) {
        a->rr_snap = false;
        read_snap(w, a);
    }
    if (a->rr_jobs) {
        a->rr_jobs = false;
        req(w, a, op(ZO_CHILDREN, "/jobs", true), CK_JOBS_LIST, 0);
    }
    for (int j = 0; j < w->p.jobs; j++)
        if (a->jobs[j].need_read) {
            a->jobs[j].need_read = false;
            read_job(w, a, j);
        }
    a->node_dirty = true;
}

static bool views_settled(const struct world *w, const struct sim_agent *a)
{
    if (a->reg != REG_DONE || !a->jobs_listed || a->jobs_reading > 0 || !a->snap_loaded ||
        !connected(a))
        return false;
    for (int j = 0; j < w->p.jobs; j++)
        if (a->jobs[j].present && !a->jobs[j].loaded)
            return false;
    return true;
}

/* ---------------------------------------------------------------- apply */

struct inputs {
    int n;
    char names[SIM_MAX_JOBS][16];
    struct shard_job jobs[SIM_MAX_JOBS];
    int jidx[SIM_MAX_JOBS];
};

static void job_inputs(const struct world *w, const struct jobv *jobs, struct inputs *in,
                       char digest[17])
{
    static const enum shard_strategy st[4] = {SHARD_AVERAGE, SHARD_ODD_EVEN, SHARD_ROUND_ROBIN,
                                              SHARD_BALANCED};
    in->n = 0;
    for (int j = 0; j < w->p.jobs; j++) {
        if (!jobs[j].present || !jobs[j].loaded)
            continue;
        snprintf(in->names[in->n], 16, "j%d", j);
        in->jobs[in->n] = (struct shard_job){in->names[in->n], jobs[j].cfg.shards,
                                             st[jobs[j].cfg.strategy & 3], NULL, 0};
        in->jidx[in->n++] = j;
    }
    plan_digest(in->jobs, in->n, digest);
}

/* compute: the owners of snapshot s over the agent's job shapes. */
static int compute(const struct world *w, const struct sim_agent *a, const struct sim_snap *s,
                   struct assign *out)
{
    struct inputs in;
    char digest[17];
    job_inputs(w, a->jobs, &in, digest);
    if (strcmp(digest, s->digest) != 0)
        return -1;
    struct shard_agent ag[SIM_MAX_AGENTS];
    for (int i = 0; i < s->nmembers; i++)
        ag[i] = (struct shard_agent){s->m[i].id, NULL, 0, 1};
    struct shard_assignment *as = NULL;
    if (shard_assign(in.jobs, in.n, ag, s->nmembers, &as) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->valid = true;
    out->epoch = s->epoch;
    out->created = s->created_ms;
    out->nmembers = s->nmembers;
    out->outage_from = s->outage_from;
    for (int k = 0; k < in.n; k++) {
        int j = in.jidx[k], ji = shard_job_find(as, in.names[k]);
        out->items[j] = in.jobs[k].items;
        for (int i = 0; i < in.jobs[k].items && i < SIM_MAX_ITEMS; i++) {
            int o = shard_owner(as, ji, i);
            if (o < 0)
                continue;
            const char *id = shard_agent_id(as, o);
            for (int m = 0; m < s->nmembers; m++)
                if (strcmp(s->m[m].id, id) == 0)
                    out->owner[j][i] = s->m[m];
        }
    }
    shard_assignment_free(as);
    return 0;
}

static bool is_me(const struct world *w, const struct sim_agent *a, const struct sim_member *m)
{
    if (!m->id[0])
        return false;
    if (w->p.mutant == MUT_MEMBER_ID)
        return strcmp(m->id, a->id) == 0;
    return own_member_self(a->id, a->session, m->id, m->session);
}

static void sched_item_remove(struct world *w, struct sim_agent *a, int j, int i);

/* pending_lo: the window start of an item held pending — own_pending_lo, or
 * earlier if the owner it came from carried an earlier start itself (it too
 * held the item only pending) */
static int64_t pending_lo(const struct world *w, const struct sim_agent *a, const struct item *x)
{
    int64_t lo = x->h.any ? own_pending_lo_any(x->h.prev_created, T(w), w->p.max_skew_ms)
                          : own_pending_lo(x->h.prev_created, T(w), w->p.max_skew_ms);
    lo = own_pending_lo_outage(lo, a->outage_from, T(w), w->p.max_skew_ms);
    lo = own_pending_lo_settled(lo, a->snap.settled_zk > 0 ? a->snap.settled_zk + a->skew_meas : 0,
                                a->skew_meas, T(w), w->p.max_skew_ms);
    return x->h.inherited > 0 && x->h.inherited < lo ? x->h.inherited : lo;
}

/* period_of_job: the job's period in seconds as this agent knows it (>= 1). */
static int period_of_job(const struct sim_agent *a, int j)
{
    return a->jobs[j].cfg.period_s > 0 ? a->jobs[j].cfg.period_s : 1;
}

/* account_back: report missed the item's fires in (lo_ms, now], newest first,
 * at most 100 (coord.c pending windows, sched_owe); returns the newest label
 * reported or that could have been (the current period's). */
static int64_t account_back(struct world *w, struct sim_agent *a, int j, int i, int64_t lo_ms,
                            const char *why)
{
    int period = period_of_job(a, j), n = 0;
    int64_t top = floor_div(floor_div(clk(w, a), 1000), period) * period;
    for (int64_t l = top; l * 1000 > lo_ms && n < 100; l -= period, n++)
        check_record(w, a->idx, j, i, l, false, why);
    return top;
}

/* account_due: report an active item's fires already due by our clock that
 * the scheduler has not handled (sched.c detach), at most 100; returns the
 * next label not reported. */
static int64_t account_due(struct world *w, struct sim_agent *a, int j, int i, bool skipped,
                           const char *why)
{
    int period = period_of_job(a, j), n = 0;
    int64_t l = a->it[j][i].next_label;
    for (; l * 1000 <= clk(w, a) && n < 100; l += period, n++)
        check_record(w, a->idx, j, i, l, skipped, why);
    return l;
}

static void lose_item(struct world *w, struct sim_agent *a, int j, int i, int64_t *carry)
{
    struct item *x = &a->it[j][i];
    if (x->last > a->max_started)
        a->max_started = x->last; /* coord_apply.c stop_fold */
    if (x->st == ST_PENDING && (x->h.valid || x->h.any)) {
        int64_t lo = pending_lo(w, a, x);
        *carry = own_carry(*carry, lo);
        /* Its fires since then were nobody's to run: account them here too
         * (the next owner starts from the carry as well; both are "missed
         * unless run"), for an item removed meanwhile has no next owner
         * (coord.c account_pending_loss). */
        int64_t top = account_back(w, a, j, i, lo, "lost while pending");
        x->handed = true; /* and on, until its next owner is there */
        x->handed_next = top + period_of_job(a, j);
    }
    bool running = false, any = false;
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->state == R_FREE || r->inc != a->inc || r->job != j || r->item != i)
            continue;
        any = true;
        running |= r->state == R_RUNNING || r->state == R_ENDED_UNSEEN;
    }
    /* An active item stops here at this instant: fires already due that the
     * scheduler has not handled yet are ours, reported skipped now (sched.c
     * sched_item_remove), so nothing before our stop is left to anyone; the
     * later ones stay ours until its next owner is there (handed_check). */
    if (x->st == ST_ACTIVE && x->sched) {
        x->handed = true;
        x->handed_next = account_due(w, a, j, i, true, "removed from this agent before its turn");
    }
    /* draining means running here now (coord.c sched_has_running), whatever
     * the item's history: a flag that only a run's end clears would stick */
    if (w->p.mutant == MUT_DRAIN_QUEUED)
        x->draining = x->draining || (x->st == ST_ACTIVE && any);
    else
        x->draining = running;
    sched_item_remove(w, a, j, i);
    x->st = ST_NONE;
    x->h.valid = x->h.any = false;
}

/* note_handover: the item's previous owner as far as `before` (the
 * assignment of the epoch applied until now; NULL: none in this process)
 * tells, for own_takeover (coord_takeover.c coord_handover_gain). */
static void note_handover(struct world *w, struct sim_agent *a, const struct assign *before, int j,
                          int i, struct handover *h)
{
    h->valid = h->any = false;
    h->unknown = !before;
    /* Nobody owned it at our previous epoch because that epoch
     * followed a total outage (no members after an epoch with
     * some, or our own session lost moments ago): its last owner was a session that is
     * gone (coord_takeover.c coord_handover_gain) */
    if (before && i < before->items[j] && !before->owner[j][i].id[0] && before->nmembers == 0 &&
        (before->outage_from > 0 ||
         (a->self_lost_valid && clk(w, a) - a->self_lost_ms < 10LL * T(w)))) {
        h->any = true;
        h->prev_epoch = before->epoch;
        /* its last owner was a member of the last epoch that
         * had members: the window reaches back from there */
        h->prev_created = before->outage_from > 0 ? before->outage_from : before->created;
        h->inherited = 0;
    }
    if (before && i < before->items[j] && before->owner[j][i].id[0]) {
        h->valid = true;
        h->from = before->owner[j][i];
        h->prev_epoch = before->epoch;
        h->prev_created = before->created;
        h->inherited = 0;
        const struct sim_member *f = &before->owner[j][i];
        const struct peer *px = &a->peers[peer_of(f->id)];
        if (px->alive && px->session == f->session && px->loaded)
            h->inherited = px->rec.carry_ms;
        else
            for (int k = 0; k < px->ntomb; k++)
                if (px->tomb[k].session == f->session)
                    h->inherited = px->tomb[k].rec.carry_ms;
    }
}

static void maybe_apply(struct world *w, struct sim_agent *a)
{
    if (a->stuck || !views_settled(w, a) || !a->snap_exists || a->snap.epoch <= a->applied)
        return;
    struct assign as;
    if (compute(w, a, &a->snap, &as) < 0)
        return; /* the leader saw other shapes: wait for its next epoch */
    const struct assign *before = a->before.valid ? &a->before : a->seen.valid ? &a->seen : NULL;
    int64_t carry = 0;
    int gained = 0, lost = 0;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            struct item *x = &a->it[j][i];
            bool mine = i < as.items[j] && is_me(w, a, &as.owner[j][i]);
            if (mine && x->st == ST_NONE) {
                x->st = ST_PENDING;
                note_handover(w, a, before, j, i, &x->h);
                gained++;
                if (w->p.verbose)
                    sim_trace(w, "a%d: j%d/%d pending at epoch %lld (before: %s %llx)", a->idx, j,
                              i, (long long)a->snap.epoch, x->h.valid ? x->h.from.id : "-",
                              (unsigned long long)(x->h.valid ? x->h.from.session : 0));
            } else if (!mine && x->st != ST_NONE) {
                if (w->p.verbose)
                    sim_trace(w, "a%d: j%d/%d lost at epoch %lld (%s)", a->idx, j, i,
                              (long long)a->snap.epoch, x->st == ST_PENDING ? "pending" : "active");
                lose_item(w, a, j, i, &carry);
                lost++;
            }
            /* Removed by a config write: nobody will own it again, so whoever
             * owned it accounts its fires up to its stop, and every agent
             * that sees the removal (an agent that skipped the epoch that
             * removed it does not) those after, as a new owner would: the
             * history keeps one row per fire (coord_apply.c removed_note). */
            if (!mine && !x->removed && before && i >= as.items[j] && i < before->items[j] &&
                as.items[j] > 0 && !is_me(w, a, &before->owner[j][i])) {
                x->removed = true;
                note_handover(w, a, before, j, i, &x->hr);
            }
        }
    a->carry_ms = carry;
    a->prev_applied = a->applied;
    a->applied = a->snap.epoch;
    a->newer_seen = 0;
    if (a->stalled) {
        a->stalled = false;
        sim_trace(w, "a%d: applies again: ready", a->idx);
    }
    a->applied_ms = clk(w, a);
    a->applied_created = a->snap.created_ms;
    a->before = as;
    a->node_dirty = true;
    sim_trace(w, "a%d: applied epoch %lld (%d members): +%d -%d items", a->idx,
              (long long)a->applied, a->snap.nmembers, gained, lost);
}

/* ---------------------------------------------------------------- gate and takeover */

static void fire(struct world *w, struct sim_agent *a, int j, int i, int64_t label, int trig,
                 bool force);
static void sched_item_add(struct world *w, struct sim_agent *a, int j, int i, int64_t lo_ms);

static const struct tomb *tomb_of(const struct peer *x, int64_t session)
{
    for (int k = x->ntomb - 1; k >= 0; k--)
        if (x->tomb[k].session == session)
            return &x->tomb[k];
    return NULL;
}

static bool evicted_in(const struct sim_snap *s, const struct sim_member *m)
{
    for (int k = 0; k < s->nevicted; k++)
        if (strcmp(s->ev[k].id, m->id) == 0 && s->ev[k].session == m->session)
            return true;
    return false;
}

/* safe_bound_in: own_takeover's bound from every agent, whoever owned the
 * item (coord_takeover.c coord_takeover_bound): live peers at our epoch, every session we saw
 * vanish, and when this session first listed the agents. */
static void safe_bound_in(struct world *w, struct sim_agent *a, int j, struct own_takeover_in *in)
{
    in->peers_stop_s = a->max_started;
    /* sessions that vanished before our first view never saw a job created
     * after it (ZooKeeper's order) */
    in->view_start_ms = a->jobs[j].czxid > a->view_zxid ? 0 : a->view_ms;
    in->recent_evictions = a->snap.nevicted > 0;
    in->settled_ms = a->settled_ms;
    in->snap_settled_ms = a->snap.settled_zk > 0 ? a->snap.settled_zk + a->skew_meas : 0;
    in->outage_from_ms = a->outage_from;
    for (int p = 0; p < w->p.agents; p++) {
        const struct peer *x = &a->peers[p];
        /* every live peer: one at our epoch stopped what it lost at its apply;
         * one that applied nothing in its session (it evicted itself, or
         * built a new one) dropped everything before it wrote this record */
        if (p != a->idx && x->alive && x->loaded && x->rec.stop_s > in->peers_stop_s)
            in->peers_stop_s = x->rec.stop_s;
        for (int k = 0; k < x->ntomb; k++) {
            int64_t hi = own_dead_hi_ms(x->tomb[k].gone_ms, a->skew_meas, w->p.max_skew_ms,
                                        x->tomb[k].evicted, T(w));
            if (hi > in->dead_hi_ms)
                in->dead_hi_ms = hi;
        }
    }
}

/* takeover_in: what this agent knows of the item's previous owner now
 * (coord_takeover.c coord_handover_resolve): alive in the session that owned it, its
 * session ended (we saw it go), our own earlier session, or no record. */
static const char *takeover_in(struct world *w, struct sim_agent *a, int j, int i,
                               const struct handover *h, struct own_takeover_in *in)
{
    memset(in, 0, sizeof *in);
    in->epoch = a->applied;
    in->snap_created_ms = a->snap.created_ms;
    in->session_ms = T(w);
    in->max_skew_ms = w->p.max_skew_ms;
    in->skew_ms = a->skew_meas;
    in->now_ms = clk(w, a);
    in->owner_running_fire = -1;
    in->server_gap_ms = own_server_gap_ms(a->gap_first, a->gap_ms, a->view_ms, T(w));
    for (int p = 0; p < w->p.agents; p++)
        if (p != a->idx && a->peers[p].alive && a->peers[p].loaded)
            in->server_gap_ms = own_gap_merge(in->server_gap_ms, a->peers[p].rec.brk_ms,
                                              a->skew_meas, in->now_ms, T(w));
    in->failover = a->jobs[j].cfg.failover;
    safe_bound_in(w, a, j, in);
    if (h->unknown) {
        in->prev = OWN_PREV_UNKNOWN;
        return "unknown (no epoch known before)";
    }
    if (h->any) {
        in->prev = OWN_PREV_ANY;
        in->unowned_before = true;
        in->prev_epoch = h->prev_epoch;
        in->prev_created_ms = h->prev_created;
        return "any (after a total outage)";
    }
    if (!h->valid) {
        in->prev = OWN_PREV_NONE;
        return "none";
    }
    in->prev_epoch = h->prev_epoch;
    in->prev_created_ms = h->prev_created;
    const struct sim_member *f = &h->from;
    int p = peer_of(f->id);
    if (strcmp(f->id, a->id) == 0 && a->self_lost_valid &&
        (f->session == a->self_lost_session || f->session == a->session)) {
        in->prev = OWN_PREV_SELF_OLD;
        in->self_lost_ms = a->self_lost_ms;
        in->owner_epoch = f->session == a->session ? in->prev_epoch : a->self_lost_applied;
        return "self";
    }
    const struct peer *px = p >= 0 && p < SIM_MAX_AGENTS ? &a->peers[p] : NULL;
    if (px && px->alive && px->loaded && px->session == f->session) {
        in->prev = OWN_PREV_ALIVE;
        in->owner_epoch = px->rec.applied_epoch;
        in->owner_applied_ms = px->rec.applied_ms;
        in->owner_carry_ms = px->rec.carry_ms;
        in->owner_prev_applied = px->rec.prev_applied;
        return "alive";
    }
    const struct tomb *t = px ? tomb_of(px, f->session) : NULL;
    if (t) {
        in->prev = OWN_PREV_DIED;
        in->gone_ms = t->gone_ms;
        in->gone_lo_ms = t->gone_lo_ms;
        in->owner_session_ms = t->rec.session_ms;
        in->owner_skew_ms = t->rec.skew_ms;
        in->owner_carry_ms = t->rec.carry_ms;
        in->evicted = evicted_in(&a->snap, f);
        in->owner_backlog_s = t->rec.backlog_s;
        in->owner_epoch = t->trusted ? t->rec.applied_epoch : 0;
        for (int k = 0; t->trusted && k < t->rec.nrun; k++)
            if (t->rec.run[k].job == j && t->rec.run[k].item == i &&
                t->rec.run[k].fire > in->owner_running_fire)
                in->owner_running_fire = t->rec.run[k].fire;
        return "died";
    }
    in->prev = OWN_PREV_UNKNOWN;
    return "unknown";
}

/* rerun_claimed: whether another agent published that it re-runs the
 * cut-off runs of dead session `d` (coord_takeover.c rerun_claimed): a live peer's
 * record, or the last record of a session we saw go. */
static bool rerun_claimed(const struct world *w, const struct sim_agent *a, int64_t d)
{
    for (int p = 0; p < w->p.agents; p++) {
        const struct peer *x = &a->peers[p];
        if (p == a->idx)
            continue;
        for (int k = 0; x->loaded && k < x->rec.nreran; k++)
            if (x->rec.reran[k] == d)
                return true;
        for (int t = 0; t < x->ntomb; t++)
            for (int k = 0; k < x->tomb[t].rec.nreran; k++)
                if (x->tomb[t].rec.reran[k] == d)
                    return true;
    }
    return false;
}

static bool rerun_done(const struct sim_agent *a, int64_t d, int j, int i)
{
    for (int k = 0; k < a->nrerun_done && k < 64; k++)
        if (a->rerun_done[k].session == d && a->rerun_done[k].job == j &&
            a->rerun_done[k].item == i)
            return true;
    return false;
}

static void activate(struct world *w, struct sim_agent *a, int j, int i)
{
    struct item *x = &a->it[j][i];
    struct own_takeover_in in;
    struct own_takeover out;
    const char *kind = takeover_in(w, a, j, i, &x->h, &in);
    own_takeover(&in, &out);
    x->st = ST_ACTIVE;
    x->rerun_due = false;
    a->node_dirty = true; /* one pending item fewer (own_settled) */
    x->first_s = out.first_s;
    x->rerun = out.rerun_fire;
    x->not_before = out.not_before_ms;
    if (w->p.mutant == MUT_FIRST_NOW)
        x->first_s = floor_div(clk(w, a), 1000) + 1;
    sim_trace(w,
              "a%d: j%d/%d active (from %s %s): window (%lld, %lld], first %lld, rerun %lld, "
              "not before %lld (epochs %lld<-%lld, settled %lld)",
              a->idx, j, i, x->h.valid ? x->h.from.id : "-", kind, (long long)out.lo_ms,
              (long long)out.hi_ms, (long long)x->first_s, (long long)x->rerun,
              (long long)x->not_before, (long long)in.epoch, (long long)in.prev_epoch,
              (long long)in.settled_ms);
    sim_trace(w,
              "a%d:   takeover inputs: gone %lld, break %lld, snapshot %lld, previous %lld, "
              "owner epoch %lld, skew %lld, owner skew %lld, view %lld, outage %lld",
              a->idx, (long long)in.gone_ms, (long long)in.server_gap_ms,
              (long long)in.snap_created_ms, (long long)in.prev_created_ms,
              (long long)in.owner_epoch, (long long)in.skew_ms, (long long)in.owner_skew_ms,
              (long long)a->view_ms, (long long)in.outage_from_ms);
    sched_item_add(w, a, j, i, out.lo_ms);
    arm(w, a, TM_SCHED, 1); /* items.c adds it at once; its due fires are handled then */
    /* the window's start: what the previous owner could not have run is
     * accounted from lo on (sched_item_account); the owed fires begin here */
    check_item_active(w, j, i, out.first_s);
    if (w->p.mutant == MUT_FAILOVER_ANY) {
        /* coord.c failover_check: any dead agent's last record, every activation */
        for (int p = 0; p < w->p.agents; p++)
            for (int k = 0; k < a->peers[p].ntomb; k++) {
                struct tomb *t = &a->peers[p].tomb[k];
                for (int e = 0; e < t->rec.nrun; e++)
                    if (!t->consumed[e] && t->rec.run[e].job == j && t->rec.run[e].item == i &&
                        in.failover) {
                        t->consumed[e] = true;
                        fire(w, a, j, i, t->rec.run[e].fire, OWN_FAILOVER, true);
                    }
            }
    } else if (x->rerun >= 0 && rerun_claimed(w, a, x->h.from.session)) {
        sim_trace(w, "a%d: j%d/%d: session %llx's cut-off runs are re-run by another agent", a->idx,
                  j, i, (unsigned long long)x->h.from.session);
        x->rerun = -1;
    } else if (x->rerun >= 0 && rerun_done(a, x->h.from.session, j, i)) {
        x->rerun = -1; /* taken from that session again (a stale epoch): re-run once */
    } else if (x->rerun >= 0) {
        /* publish the claim first; sched_tick starts the re-run once our
         * record carrying it is acknowledged (and after not_before) */
        bool mine = false;
        for (int64_t k = a->reran_total > SIM_RERAN ? a->reran_total - SIM_RERAN : 0;
             k < a->reran_total; k++)
            mine |= a->reran[k % SIM_RERAN] == x->h.from.session;
        if (!mine) {
            a->reran[a->reran_total++ % SIM_RERAN] = x->h.from.session;
            a->node_dirty = true;
        }
        x->rerun_wait = a->reran_total;
        x->rerun_due = true;
        int k = a->nrerun_done++ % 64;
        a->rerun_done[k].session = x->h.from.session;
        a->rerun_done[k].job = j;
        a->rerun_done[k].item = i;
    }
}

static bool drained_elsewhere(const struct world *w, const struct sim_agent *a, int j, int i)
{
    for (int p = 0; p < w->p.agents; p++) {
        const struct peer *x = &a->peers[p];
        if (p == a->idx || !x->alive)
            continue;
        for (int k = 0; k < x->rec.ndrain; k++)
            if (x->rec.drain[k].job == j && x->rec.drain[k].item == i)
                return true;
    }
    return false;
}

/* settle_removed: the fires of a removed item that its owner did not
 * account (it died, or held it only pending, or skipped epochs) are reported
 * missed here, from where a new owner's window would start. */
static void settle_removed(struct world *w, struct sim_agent *a, int j, int i)
{
    struct item *x = &a->it[j][i];
    struct own_takeover_in in;
    struct own_takeover out;
    const char *kind = takeover_in(w, a, j, i, &x->hr, &in);
    x->removed = false;
    if (!own_removed_owes(&in))
        return;
    own_takeover(&in, &out);
    sim_trace(w, "a%d: j%d/%d removed (from %s %s): its fires since %lld are accounted here",
              a->idx, j, i, x->hr.valid ? x->hr.from.id : "-", kind, (long long)out.lo_ms);
    account_back(w, a, j, i, out.lo_ms, "removed while its owner was gone");
}

static void gate_check(struct world *w, struct sim_agent *a)
{
    if (!can_start(w, a) || !a->applied || !a->agents_listed || a->agents_reading > 0)
        return;
    bool any = false;
    for (int j = 0; j < SIM_MAX_JOBS && !any; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            any |= a->it[j][i].st == ST_PENDING || a->it[j][i].removed;
    if (!any)
        return;
    struct own_peer peers[SIM_MAX_AGENTS];
    char ids[SIM_MAX_AGENTS][SIM_ID];
    int n = 0;
    for (int p = 0; p < w->p.agents; p++) {
        const struct peer *x = &a->peers[p];
        snprintf(ids[n], SIM_ID, "a%d", p);
        /* The model's records carry no member flag: every peer counts as a
         * member of its epoch (the stricter gate). */
        peers[n] = (struct own_peer){
            ids[n], x->session, x->alive, x->loaded, x->loaded ? x->rec.applied_epoch : 0, true};
        n++;
    }
    if (!own_gate_open(peers, n, a->id, a->applied))
        return;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            if (a->it[j][i].removed)
                settle_removed(w, a, j, i);
            if (a->it[j][i].st == ST_PENDING && !drained_elsewhere(w, a, j, i))
                activate(w, a, j, i);
        }
}

/* ---------------------------------------------------------------- leader */

static bool same_snap(const struct sim_snap *x, const struct sim_snap *y)
{
    if (x->nmembers != y->nmembers || x->nevicted != y->nevicted ||
        strcmp(x->digest, y->digest) != 0)
        return false;
    for (int i = 0; i < x->nmembers; i++)
        if (strcmp(x->m[i].id, y->m[i].id) != 0 || x->m[i].session != y->m[i].session)
            return false;
    for (int i = 0; i < x->nevicted; i++)
        if (strcmp(x->ev[i].id, y->ev[i].id) != 0 || x->ev[i].session != y->ev[i].session)
            return false;
    return true;
}

static void publish(struct world *w, struct sim_agent *a, struct sim_snap *s, int evict)
{
    s->epoch = (a->snap_exists ? a->snap.epoch : 0) + 1;
    s->created_ms = clk(w, a);
    snprintf(s->leader, SIM_ID, "%s", a->id);
    struct msg *m = op(ZO_MULTI, "", false);
    int n = 0;
    m->ops[n] = (struct zsubop){.op = ZO_CHECK, .version = -1};
    snprintf(m->ops[n++].path, SIM_PATH, "%s", a->elect);
    if (evict >= 0) {
        m->ops[n] =
            (struct zsubop){.op = ZO_DELETE, .version = -1, .owner = a->snap.m[evict].session};
        snprintf(m->ops[n++].path, SIM_PATH, "/agents/%s", a->snap.m[evict].id);
    }
    m->ops[n] = (struct zsubop){.op = a->snap_exists ? ZO_SET : ZO_CREATE,
                                .version = a->snap_exists ? a->snap_version : -1};
    snprintf(m->ops[n].path, SIM_PATH, "/state/assignment");
    m->ops[n].data.tag = ZD_SNAP;
    m->ops[n++].data.u.snap = *s;
    m->nops = n;
    a->pub = *s; /* what the answer confirms */
    a->publish_inflight = true;
    sim_trace(w, "a%d: publishes epoch %lld (%d members%s%s)", a->idx, (long long)s->epoch,
              s->nmembers, evict >= 0 ? ", evicting " : "", evict >= 0 ? a->snap.m[evict].id : "");
    req(w, a, m, CK_PUBLISH, evict);
}

static void build_snap(struct world *w, struct sim_agent *a, struct sim_snap *s, int evict)
{
    struct inputs in;
    memset(s, 0, sizeof *s);
    job_inputs(w, a->jobs, &in, s->digest);
    /* the evicted list: kept while that session lives and has not applied
     * the published epoch (an evicted agent that recovers is a member again) */
    for (int k = 0; a->snap_exists && k < a->snap.nevicted; k++) {
        const struct sim_member *e = &a->snap.ev[k];
        const struct peer *x = &a->peers[peer_of(e->id)];
        if (x->alive && x->session == e->session &&
            !(x->loaded && x->rec.applied_epoch == a->snap.epoch))
            s->ev[s->nevicted++] = *e;
    }
    if (evict >= 0) {
        s->ev[s->nevicted++] = a->snap.m[evict];
        /* coord_leader.c quarantined(): kept out of the members for five minutes */
        a->quarantine[peer_of(a->snap.m[evict].id)] = clk(w, a) + 300000;
    }
    for (int p = 0; p < w->p.agents; p++) {
        const struct peer *x = &a->peers[p];
        struct sim_member m;
        snprintf(m.id, SIM_ID, "a%d", p);
        m.session = x->session;
        if (!x->alive || !x->loaded || !x->rec.ready || evicted_in(s, &m) ||
            a->quarantine[p] > clk(w, a))
            continue;
        s->m[s->nmembers++] = m;
    }
    if (s->nmembers == 0 && a->snap_exists)
        s->outage_from = a->snap.nmembers > 0 ? a->snap.created_ms : a->snap.outage_from;
    s->settled_zk = a->settled_ms > 0 ? a->settled_ms - a->skew_meas : 0;
    if (a->snap_exists && a->snap.settled_zk > s->settled_zk)
        s->settled_zk = a->snap.settled_zk;
}

static void maybe_publish(struct world *w, struct sim_agent *a)
{
    if (!a->leader || !a->elect[0] || a->publish_inflight || !views_settled(w, a) ||
        !a->agents_listed || a->agents_reading > 0)
        return;
    struct sim_snap s;
    build_snap(w, a, &s, -1);
    if (a->snap_exists && same_snap(&s, &a->snap))
        return;
    publish(w, a, &s, -1);
}

static void maybe_evict(struct world *w, struct sim_agent *a)
{
    if (w->p.mutant == MUT_NO_EVICT || !a->leader || !a->elect[0] || a->publish_inflight ||
        !views_settled(w, a) || !a->snap_exists || a->agents_reading > 0)
        return;
    struct own_ack acks[SIM_MAX_AGENTS];
    for (int k = 0; k < a->snap.nmembers; k++) {
        const struct peer *x = &a->peers[peer_of(a->snap.m[k].id)];
        acks[k] = (struct own_ack){a->snap.m[k].id, a->snap.m[k].session, x->alive ? x->session : 0,
                                   x->loaded ? x->rec.applied_epoch : 0};
    }
    /* Two steps, so that nobody mistakes the evicted agent for a dead one:
     * first an epoch that leaves it out and names it evicted; its node is
     * deleted only when every other live agent has applied that epoch (so
     * each knows, when the node goes, that its owner may run until its lease
     * runs out: own_takeover's not_before). */
    for (int k = 0; k < a->snap.nevicted; k++) {
        const struct sim_member *v = &a->snap.ev[k];
        const struct peer *x = &a->peers[peer_of(v->id)];
        if (!x->alive || x->session != v->session)
            continue;
        bool all = true;
        for (int p = 0; p < w->p.agents; p++) {
            const struct peer *y = &a->peers[p];
            if (p != peer_of(v->id) && y->alive && y->loaded && y->rec.applied_epoch != 0 &&
                y->rec.applied_epoch != a->snap.epoch)
                all = false;
        }
        if (!all)
            continue;
        struct msg *m = op(ZO_MULTI, "", false);
        m->ops[0] = (struct zsubop){.op = ZO_CHECK, .version = -1};
        snprintf(m->ops[0].path, SIM_PATH, "%s", a->elect);
        m->ops[1] = (struct zsubop){.op = ZO_DELETE, .version = -1, .owner = v->session};
        snprintf(m->ops[1].path, SIM_PATH, "/agents/%s", v->id);
        m->nops = 2;
        sim_trace(w, "a%d: deletes the node of evicted %s", a->idx, v->id);
        req(w, a, m, CK_CLOSE, 0);
        return;
    }
    int e = own_evict(acks, a->snap.nmembers, a->snap.epoch, a->snap.created_ms, clk(w, a),
                      own_evict_bound_ms(T(w)));
    if (e < 0)
        return;
    struct sim_snap s;
    build_snap(w, a, &s, e);
    publish(w, a, &s, -1);
}

static void published(struct world *w, struct sim_agent *a, const struct msg *r)
{
    a->publish_inflight = false;
    if (r->rc == ZR_OK) {
        a->snap = a->pub;
        if (a->snap.outage_from > 0)
            a->outage_from = a->snap.outage_from;
        a->snap_version = a->snap_exists ? a->snap_version + 1 : 0;
        a->snap_exists = true;
        if (a->snap.epoch > a->applied && !a->newer_seen)
            a->newer_seen = clk(w, a);
        w->epochs++;
    } else if (r->rc == ZR_CONNLOSS) {
        a->rr_snap = true; /* did it happen? the snapshot tells */
    } else if (r->op_rc[0] == ZR_NONODE) {
        sim_trace(w, "a%d: publish fenced off: no longer the leader", a->idx);
        a->leader = false;
        a->elect[0] = '\0';
        start_election(w, a);
    } else {
        read_snap(w, a);
    }
}

/* ---------------------------------------------------------------- scheduler */

static int64_t align_up(int64_t label, int period)
{
    return floor_div(label + period - 1, period) * period;
}

static void sched_item_add(struct world *w, struct sim_agent *a, int j, int i, int64_t lo_ms)
{
    struct item *x = &a->it[j][i];
    int period = a->jobs[j].cfg.period_s;
    x->sched = true;
    x->next_label = align_up(x->first_s, period);
    /* sched_item_account: fires after lo and before our first are reported
     * missed unless the previous owner ran them (its report would win) */
    /* the newest 100 (coord sched_item_account's cap): a window that
     * reaches far back is a conservative bound, and its oldest fires are
     * the likeliest to have been accounted by an owner before */
    int n = 0;
    for (int64_t l = floor_div(x->first_s - 1, period) * period; l * 1000 > lo_ms && n < 100;
         l -= period, n++)
        check_record(w, a->idx, j, i, l, false, "failover window");
}

static void drop_run(struct world *w, struct sim_agent *a, struct run *r, const char *why)
{
    if (r->state == R_QUEUED && r->trig != OWN_RETRY)
        check_record(w, a->idx, r->job, r->item, r->label, true, why);
    r->state = R_FREE; /* a retry's fire has its run already */
}

static void sched_item_remove(struct world *w, struct sim_agent *a, int j, int i)
{
    a->it[j][i].sched = false;
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->inc == a->inc && r->job == j && r->item == i &&
            (r->state == R_QUEUED || r->state == R_RETRY))
            drop_run(w, a, r, "removed");
    }
}

static void drop_items(struct world *w, struct sim_agent *a, const char *why)
{
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            struct item *x = &a->it[j][i];
            if (x->last > a->max_started)
                a->max_started = x->last; /* coord_apply.c stop_fold */
            /* fires that came due while we could not handle them (paused,
             * cut off): ours, reported missed before the item goes */
            if (x->st == ST_ACTIVE && x->sched)
                account_due(w, a, j, i, false, why);
            else if (x->st == ST_PENDING && (x->h.valid || x->h.any))
                account_back(w, a, j, i, pending_lo(w, a, x), why); /* as at a loss */
            /* A removed item noted here and not yet settled: nobody else may
             * settle it (every agent that saw the removal may be losing its
             * session now, a total outage), so it is settled now, from what
             * we know (coord_apply.c coord_drop_all). */
            if (x->removed && a->applied)
                settle_removed(w, a, j, i);
            sched_item_remove(w, a, j, i);
            a->it[j][i].st = ST_NONE;
            a->it[j][i].draining = false;
            a->it[j][i].h.valid = a->it[j][i].h.any = false;
            a->it[j][i].handed = false;
            a->it[j][i].removed = false;
        }
    a->carry_ms = 0;
}

static int busy(const struct sim_agent *a)
{
    int n = 0;
    for (int k = 0; k < SIM_MAX_RUNS; k++)
        n += a->runs[k].inc == a->inc &&
             (a->runs[k].state == R_RUNNING || a->runs[k].state == R_ENDED_UNSEEN);
    return n;
}

static bool item_has_runs(const struct sim_agent *a, int j, int i)
{
    for (int k = 0; k < SIM_MAX_RUNS; k++)
        if (a->runs[k].state != R_FREE && a->runs[k].inc == a->inc && a->runs[k].job == j &&
            a->runs[k].item == i)
            return true;
    return false;
}

static ms_t duration(struct world *w)
{
    uint64_t r = sim_rand(w) % 100;
    if (r < 70)
        return sim_range(w, 20, 800);
    if (r < 90)
        return sim_range(w, 1000, 3000);
    return sim_range(w, 3000, 6000);
}

static void start_run(struct world *w, struct sim_agent *a, struct run *r)
{
    struct item *x = &a->it[r->job][r->item];
    bool ok = can_start(w, a) && x->st == ST_ACTIVE &&
              (r->force || own_may_start(true, x->first_s, x->rerun, r->label, r->trig));
    if (!ok) {
        /* "not ours to start now": reported missed, never retried */
        if (r->trig != OWN_RETRY)
            check_record(w, a->idx, r->job, r->item, r->label, false, "refused");
        r->state = R_FREE;
        return;
    }
    r->state = R_RUNNING;
    r->listed = false;
    if (r->label > x->last)
        x->last = r->label; /* folded into max_started when the item leaves */
    r->started_mono = w->now;
    r->fail = sim_chance(w, 0.15);
    r->ck = check_run_start(w, a->idx, a->session, r->job, r->item, r->label, r->trig, r->attempt,
                            r->prev_ck);
    r->tag = (int64_t)(r - a->runs) + 1000 * (++a->run_order);
    sim_push(w, w->now + duration(w), EV_RUN_END, a->idx, 0, r->tag, NULL);
}

static void pump(struct world *w, struct sim_agent *a)
{
    while (busy(a) < w->p.capacity) {
        struct run *best = NULL;
        for (int k = 0; k < SIM_MAX_RUNS; k++)
            if (a->runs[k].state == R_QUEUED && a->runs[k].inc == a->inc &&
                (!best || a->runs[k].order < best->order))
                best = &a->runs[k];
        if (!best)
            break;
        start_run(w, a, best);
    }
    /* sched.c reports a run left waiting for capacity (SCHED_EV_QUEUED): a
     * history row of the fire exists from then on */
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->state == R_QUEUED && r->inc == a->inc && !r->reported_queued) {
            r->reported_queued = true;
            if (r->trig != OWN_RETRY)
                check_record(w, a->idx, r->job, r->item, r->label, true, "queued: at capacity");
        }
    }
    /* The queue's oldest fire rides on the record (coord.c backlog): a fire
     * queued behind the capacity dies with the agent unrecorded, so whoever
     * takes over from a dead agent accounts from there. Written when a
     * backlog starts and when it ends, never per fire. */
    int64_t oldest = 0;
    for (int k = 0; k < SIM_MAX_RUNS; k++)
        if (a->runs[k].state == R_QUEUED && a->runs[k].inc == a->inc &&
            a->runs[k].trig != OWN_RETRY && (!oldest || a->runs[k].label < oldest))
            oldest = a->runs[k].label;
    if (oldest && !a->backlog_s) {
        a->backlog_s = oldest;
        a->node_dirty = true;
    } else if (!oldest && a->backlog_s) {
        a->backlog_s = 0;
        a->node_dirty = true;
    } else if (oldest && oldest < a->backlog_s) {
        a->backlog_s = oldest; /* a misfire catch-up queued an older fire */
        a->node_dirty = true;
    }
}

static struct run *new_run(struct sim_agent *a)
{
    for (int k = 0; k < SIM_MAX_RUNS; k++)
        if (a->runs[k].state == R_FREE)
            return &a->runs[k];
    return NULL;
}

static void fire(struct world *w, struct sim_agent *a, int j, int i, int64_t label, int trig,
                 bool force)
{
    if (a->jobs[j].cfg.conc == CONC_FORBID && item_has_runs(a, j, i)) {
        check_record(w, a->idx, j, i, label, true, "forbid: still running");
        return;
    }
    struct run *r = new_run(a);
    if (!r) {
        check_record(w, a->idx, j, i, label, true, "no run slot");
        return;
    }
    *r = (struct run){.state = R_QUEUED,
                      .job = j,
                      .item = i,
                      .attempt = 1,
                      .trig = trig,
                      .ck = -1,
                      .prev_ck = -1,
                      .label = label,
                      .inc = a->inc,
                      .force = force,
                      .order = ++a->run_order,
                      .rerun = trig == OWN_FAILOVER};
    pump(w, a);
}

/* process_due: the fires of one item due at `now` (its realtime clock), by
 * the misfire policy; the caller has found n > 0 of them. */
static void process_due(struct world *w, struct sim_agent *a, int j, int i, const int64_t *due,
                        int n, ms_t now)
{
    const struct sim_job *c = &a->jobs[j].cfg;
    if (w->p.mutant == MUT_JUMP_FUTURE && a->jumped_fwd && c->misfire == MF_ONCE) {
        /* the known-bad catch-up: every fire jumped over counts as missed and
         * the one catch-up run takes the next label, which is in the future */
        for (int k = 0; k < n; k++)
            check_record(w, a->idx, j, i, due[k], false, "jump");
        int64_t fut = align_up(floor_div(now, 1000) + 1, c->period_s);
        a->it[j][i].next_label = fut;
        fire(w, a, j, i, fut, OWN_MISFIRE, false);
        return;
    }
    int missed[100], nm = 0;
    for (int k = 0; k < n; k++)
        if (now - due[k] * 1000 > w->p.misfire_ms)
            missed[nm++] = k;
    for (int k = 0; k < nm; k++) {
        int64_t l = due[missed[k]];
        if (c->misfire == MF_ALL || (c->misfire == MF_ONCE && k == nm - 1))
            fire(w, a, j, i, l, OWN_MISFIRE, false);
        else
            check_record(w, a->idx, j, i, l, false, "misfire");
    }
    for (int k = 0; k < n; k++)
        if (now - due[k] * 1000 <= w->p.misfire_ms)
            fire(w, a, j, i, due[k], OWN_CRON, false);
}

/* handed_check: items we lost while active are ours to account until
 * their new owner has applied the epoch that names it: from then on it holds
 * them pending (and accounts them when it loses them so) or active (its
 * window starts where we stopped). An owner that never gets there (stuck,
 * dead before applying) or an item removed meanwhile leaves nobody else. */
static void handed_check(struct world *w, struct sim_agent *a)
{
    const struct assign *as = a->before.valid ? &a->before : NULL;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            struct item *x = &a->it[j][i];
            if (!x->handed)
                continue;
            bool done = x->st != ST_NONE || !as;
            if (!done && i >= as->items[j])
                done = true; /* removed: accounted up to now below, then closed */
            else if (!done) {
                const struct sim_member *m = &as->owner[j][i];
                int q = m->id[0] ? peer_of(m->id) : -1;
                done = q >= 0 && q != a->idx && a->peers[q].alive && a->peers[q].loaded &&
                       a->peers[q].session == m->session &&
                       a->peers[q].rec.applied_epoch >= a->applied;
            }
            int period = a->jobs[j].cfg.period_s > 0 ? a->jobs[j].cfg.period_s : 1, n = 0;
            if (x->st == ST_NONE)
                for (; x->handed_next * 1000 <= clk(w, a) && n < 100; x->handed_next += period, n++)
                    check_record(w, a->idx, j, i, x->handed_next, false,
                                 "handed over, its new owner not there yet");
            if (done)
                x->handed = false;
        }
}

/* clock_suspect: the wall clock jumped (coord_record.c coord_clock_suspect):
 * the skew we measured is stale, so nothing starts or activates (can_start)
 * until a record write measures it again. */
static void clock_suspect(struct world *w, struct sim_agent *a)
{
    a->node_dirty = true; /* re-measure the skew with the next write */
    /* mutant 5 is the scheduler's catch-up bug as it was found, before the
     * model refused work after a jump: that refusal now stops those starts
     * too, so the mutant takes both away */
    if (w->p.mutant == MUT_NO_SUSPECT || w->p.mutant == MUT_JUMP_FUTURE)
        return;
    if (a->skew_ok)
        sim_trace(w, "a%d: refusing work until the clock is checked again", a->idx);
    a->skew_ok = false;
    write_record(w, a);
}

/* clock_watch: coord.c's own comparison of the two clocks before it decides
 * anything (coord_clock_watch): a jump seen first here, not by the
 * scheduler, must not let a takeover use a skew measured before it. */
static void clock_watch(struct world *w, struct sim_agent *a)
{
    bool jumped = own_clock_jumped(clk(w, a), w->now, a->coord_real, a->coord_mono, 1000);
    if (jumped)
        sim_trace(w, "a%d: wall clock jumped %+lld ms (coord)", a->idx,
                  (long long)((clk(w, a) - a->coord_real) - (w->now - a->coord_mono)));
    a->coord_real = clk(w, a);
    a->coord_mono = w->now;
    if (jumped)
        clock_suspect(w, a);
}

static void sched_tick(struct world *w, struct sim_agent *a)
{
    handed_check(w, a);
    ms_t now = clk(w, a);
    int64_t jump = (now - a->last_real) - (w->now - a->last_mono);
    a->jumped_fwd = jump > 1000;
    if (jump > 1000 || jump < -1000) {
        sim_trace(w, "a%d: wall clock jumped %+lld ms", a->idx, (long long)jump);
        clock_suspect(w, a);
    }
    a->last_real = now;
    a->last_mono = w->now;
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->state == R_RETRY && r->inc == a->inc && r->retry_due <= w->now) {
            r->state = R_QUEUED;
            r->order = ++a->run_order;
        }
    }
    ms_t wake = 1000;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            struct item *x = &a->it[j][i];
            if (!x->sched || x->st != ST_ACTIVE)
                continue;
            if (x->not_before > now) {
                if (x->not_before - now < wake)
                    wake = x->not_before - now;
                continue;
            }
            if (x->rerun_due && a->reran_acked >= x->rerun_wait) {
                x->rerun_due = false;
                fire(w, a, j, i, x->rerun, OWN_FAILOVER, false);
            }
            int period = a->jobs[j].cfg.period_s, n = 0;
            int64_t due[100];
            int64_t l = x->next_label;
            while (l * 1000 <= now && n < 100) {
                due[n++] = l;
                l += period;
            }
            if (n == 100 && l * 1000 <= now)
                l = align_up(floor_div(now, 1000) + 1, period);
            if (n > 0) {
                x->next_label = l;
                process_due(w, a, j, i, due, n, now);
            }
            if (x->next_label * 1000 - now < wake)
                wake = x->next_label * 1000 - now;
        }
    a->jumped_fwd = false;
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->state == R_RETRY && r->inc == a->inc && r->retry_due - w->now < wake)
            wake = r->retry_due - w->now;
    }
    pump(w, a);
    arm(w, a, TM_SCHED, wake);
}

/* ---------------------------------------------------------------- runs */

static void clear_draining(struct sim_agent *a, int j, int i)
{
    struct item *x = &a->it[j][i];
    if (!x->draining)
        return;
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        const struct run *r = &a->runs[k];
        if (r->inc == a->inc && r->job == j && r->item == i && r->state != R_FREE &&
            (r->state == R_RUNNING || r->state == R_ENDED_UNSEEN))
            return;
    }
    x->draining = false;
    a->node_dirty = true;
}

/* see_run_end: the agent learns that a run ended (its child exited or was
 * killed): the running list loses it at once, a failure is retried. */
static void see_run_end(struct world *w, struct sim_agent *a, struct run *r, bool killed)
{
    struct item *x = &a->it[r->job][r->item];
    bool lazy = w->p.mutant == MUT_RUNNING_LAZY && r->listed;
    if (r->listed) {
        if (lazy && a->nghost < SIM_LIST)
            a->ghosts[a->nghost++] = (struct ghost){r->job, r->item, r->ck, r->label};
        else
            a->node_dirty = true;
    }
    check_run_end_seen(w, r->ck, !lazy);
    const struct sim_job *c = &a->jobs[r->job].cfg;
    if (!killed && r->fail && r->attempt <= c->retries && x->sched && x->st == ST_ACTIVE) {
        r->state = R_RETRY;
        r->prev_ck = r->ck;
        r->attempt++;
        r->trig = OWN_RETRY;
        r->retry_due = w->now + (ms_t)c->backoff_ms * (1 << (r->attempt - 2));
        r->listed = false;
        return;
    }
    r->state = R_FREE;
    clear_draining(a, r->job, r->item);
    pump(w, a);
}

static void kill_runs(struct world *w, struct sim_agent *a, int64_t inc, const char *why)
{
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->inc != inc)
            continue;
        if (r->state == R_RUNNING) {
            sim_trace(w, "a%d: kills j%d/%d fire %lld (%s)", a->idx, r->job, r->item,
                      (long long)r->label, why);
            check_run_end(w, r->ck, true);
            if (inc == a->inc && a->proc && !a->frozen)
                see_run_end(w, a, r, true);
            else {
                r->state = inc == a->inc && a->proc ? R_ENDED_UNSEEN : R_FREE;
                r->fail = false; /* killed: never retried */
            }
        } else if (r->state == R_ENDED_UNSEEN && inc == a->inc && a->proc && !a->frozen) {
            see_run_end(w, a, r, true);
        } else if ((r->state == R_QUEUED || r->state == R_RETRY) && inc == a->inc) {
            drop_run(w, a, r, why);
        }
    }
}

/* the running list: runs older than a second are added once a second (never
 * a write per fire); mutant 6 also removes ended ones only then */
static void running_tick(struct world *w, struct sim_agent *a)
{
    bool changed = a->nghost > 0;
    a->nghost = 0;
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->state == R_RUNNING && r->inc == a->inc && !r->listed &&
            w->now - r->started_mono >= 1000) {
            r->listed = true;
            changed = true;
        }
    }
    if (changed)
        a->node_dirty = true;
    arm(w, a, TM_RUNNING, 1000);
}

/* ---------------------------------------------------------------- answers */

static void answer(struct world *w, struct sim_agent *a, struct msg *r, const struct preq *q)
{
    if (r->rc != ZR_CONNLOSS) {
        if (q->sent > a->lease_base) {
            a->lease_base = q->sent;
            arm_watchdog(w, a);
        }
        if (q->watch && (r->rc == ZR_OK || (q->op == ZO_EXISTS && r->rc == ZR_NONODE)))
            cw_add(a, q->path,
                   q->op == ZO_CHILDREN                   ? ZW_CHILD
                   : q->op == ZO_EXISTS && r->rc != ZR_OK ? ZW_EXIST
                                                          : ZW_DATA);
    }
    switch (q->ck) {
    case CK_PING:
    case CK_CLOSE:
        break;
    case CK_REGISTER:
        if (a->reg != REG_CREATING)
            break;
        if (r->rc == ZR_OK)
            registered(w, a);
        else if (r->rc == ZR_NODEEXISTS) {
            char path[SIM_PATH];
            snprintf(path, sizeof path, "/agents/%s", a->id);
            req(w, a, op(ZO_GET, path, false), CK_REG_GET, 0);
        } else
            a->reg = REG_NONE;
        break;
    case CK_REG_GET:
        if (a->reg != REG_CREATING)
            break;
        if (r->rc == ZR_OK && r->stat.owner == a->session) {
            registered(w, a);
        } else if (r->rc == ZR_OK) {
            /* an earlier session of this agent: wait for the server to expire it */
            char path[SIM_PATH];
            snprintf(path, sizeof path, "/agents/%s", a->id);
            a->reg = REG_WAIT_STALE;
            sim_trace(w, "a%d: waits for its stale node (session %llx)", a->idx,
                      (unsigned long long)r->stat.owner);
            /* it is a peer like any other until it goes (its tombstone matters) */
            struct peer *x = &a->peers[a->idx];
            x->alive = x->loaded = true;
            x->session = r->stat.owner;
            x->rec = r->data.u.rec;
            req(w, a, op(ZO_EXISTS, path, true), CK_STALE, 0);
        } else {
            a->reg = REG_NONE;
            if (r->rc == ZR_NONODE)
                register_agent(w, a);
        }
        break;
    case CK_STALE:
        if (a->reg != REG_WAIT_STALE)
            break;
        if (r->rc == ZR_NONODE) {
            mark_gone(w, a, a->idx);
            a->reg = REG_NONE;
            register_agent(w, a);
        } else if (r->rc == ZR_CONNLOSS)
            a->reg = REG_NONE;
        break;
    case CK_WRITE:
        record_written(w, a, r);
        break;
    case CK_ELECT_CREATE:
        a->elect_creating = false;
        if (r->rc == ZR_OK)
            snprintf(a->elect, sizeof a->elect, "%s", r->path);
        if (r->rc == ZR_CONNLOSS)
            a->rr_elect = true; /* the node may exist: the listing finds it */
        else
            list_election(w, a);
        break;
    case CK_ELECT_LIST:
        if (r->rc == ZR_OK)
            election_listed(w, a, r);
        else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD)
            a->rr_elect = true;
        break;
    case CK_AGENTS_LIST:
        if (r->rc == ZR_OK)
            agents_listed(w, a, r);
        else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD)
            a->rr_agents = true;
        break;
    case CK_AGENT_GET:
        peer_read(w, a, q->c1, r);
        break;
    case CK_SNAP_GET:
        snap_read(w, a, r);
        break;
    case CK_SNAP_EXISTS:
        if (r->rc == ZR_OK)
            read_snap(w, a);
        else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD)
            a->rr_snap = true;
        break;
    case CK_JOBS_LIST:
        if (r->rc == ZR_OK)
            jobs_listed(w, a, r);
        else if (r->rc == ZR_CONNLOSS && w->p.mutant != MUT_REREAD)
            a->rr_jobs = true;
        break;
    case CK_JOB_GET:
        job_read(w, a, q->c1, r);
        break;
    case CK_PUBLISH:
        published(w, a, r);
        break;
    }
}

/* ---------------------------------------------------------------- watches */

static void evicted(struct world *w, struct sim_agent *a)
{
    sim_trace(w, "a%d: its node was deleted (evicted): kill runs, drop items, register again",
              a->idx);
    kill_runs(w, a, a->inc, "evicted");
    drop_items(w, a, "evicted");
    a->self_lost_valid = true;
    a->self_lost_ms = clk(w, a);
    a->self_lost_session = a->session;
    a->self_lost_applied = a->applied;
    a->applied = 0;
    a->reg = REG_NONE;
}

/* self_evict: own_apply_overdue (coord_record.c coord_apply_watchdog): stop everything,
 * then delete our node (a successor that sees it go treats us as dead: we
 * started nothing after) and register again, not ready until we apply. */
static void self_evict(struct world *w, struct sim_agent *a)
{
    sim_trace(w, "a%d: no epoch applied for too long: evicts itself", a->idx);
    a->stalled = true;
    a->newer_seen = 0;
    struct msg *m = op(ZO_DELETE, "", false);
    snprintf(m->path, sizeof m->path, "/agents/%s", a->id);
    m->version = -1;
    kill_runs(w, a, a->inc, "evicting itself");
    drop_items(w, a, "evicting itself");
    req(w, a, m, CK_CLOSE, 0);
    evicted(w, a); /* register again (after the delete, in order) */
}

static void on_watch(struct world *w, struct sim_agent *a, const struct msg *m)
{
    cw_fired(a, m->path, m->event);
    if (strcmp(m->path, "/agents") == 0) {
        req(w, a, op(ZO_CHILDREN, "/agents", true), CK_AGENTS_LIST, 0);
    } else if (strncmp(m->path, "/agents/a", 9) == 0) {
        int p = atoi(m->path + 9);
        if (p == a->idx && m->event == ZE_DELETED) {
            if (a->reg == REG_WAIT_STALE) {
                mark_gone(w, a, p);
                a->reg = REG_NONE;
                register_agent(w, a);
                return;
            }
            if (a->reg == REG_DONE)
                evicted(w, a);
        }
        if (m->event == ZE_CHANGED) {
            a->peers[p].stale = true;
            read_peer(w, a, p);
        } else if (m->event == ZE_DELETED) {
            mark_gone(w, a, p);
        }
    } else if (strcmp(m->path, "/jobs") == 0) {
        req(w, a, op(ZO_CHILDREN, "/jobs", true), CK_JOBS_LIST, 0);
    } else if (strncmp(m->path, "/jobs/j", 7) == 0) {
        read_job(w, a, atoi(m->path + 7));
    } else if (strcmp(m->path, "/state/assignment") == 0) {
        read_snap(w, a);
    } else if (strcmp(m->path, "/election") == 0) {
        list_election(w, a);
    }
}

/* ---------------------------------------------------------------- handling one message */

static void handle_msg(struct world *w, struct sim_agent *a, struct msg *m)
{
    if (m->conn != a->conn || !a->proc) {
        free(m);
        return;
    }
    if (m->zxid > a->last_zxid)
        a->last_zxid = m->zxid;
    switch (m->kind) {
    case MK_CONNECTED:
        disarm(a, TM_CONNECT);
        a->lease_base = a->connect_sent;
        arm_watchdog(w, a);
        arm(w, a, TM_PING, T(w) / 3);
        if (m->session == a->session) {
            a->zstate = ZS_CONNECTED;
            sim_trace(w, "a%d: reconnected (session %llx)", a->idx, (unsigned long long)a->session);
            reread(w, a);
        } else {
            a->session = m->session;
            a->zstate = ZS_CONNECTED;
            on_new_session(w, a);
        }
        break;
    case MK_EXPIRED: {
        int c = a->conn;
        a->conn = 0;
        zk_drop_conn(w, c);
        session_lost(w, a, "expired by the server");
        break;
    }
    case MK_RESP:
        for (int i = 0; i < a->npend; i++)
            if (a->pend[i].xid == m->xid) {
                struct preq q = a->pend[i];
                memmove(&a->pend[i], &a->pend[i + 1], (size_t)(a->npend - i - 1) * sizeof q);
                a->npend--;
                answer(w, a, m, &q);
                break;
            }
        break;
    case MK_WATCH:
        on_watch(w, a, m);
        break;
    }
    free(m);
    eval(w, a);
}

/* settle_check: own_settled over the records we hold (coord_apply.c coord_settle_check) */
static void settle_check(struct world *w, struct sim_agent *a)
{
    if (!a->applied || !a->agents_listed || a->agents_reading > 0 || !a->snap_exists ||
        a->snap.epoch != a->applied)
        return;
    struct own_settle_peer p[SIM_MAX_AGENTS];
    int n = 0, mine = 0;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            mine += a->it[j][i].st == ST_PENDING, n += a->it[j][i].draining;
    p[0] = (struct own_settle_peer){a->applied, true, mine, n, a->backlog_s != 0};
    n = 1;
    for (int q = 0; q < w->p.agents; q++) {
        const struct peer *x = &a->peers[q];
        if (q == a->idx || !x->alive)
            continue;
        if (!x->loaded || x->stale)
            return;
        if (x->rec.applied_epoch == 0)
            continue; /* nothing applied in its session: owns nothing */
        p[n++] = (struct own_settle_peer){x->rec.applied_epoch, true, x->rec.npending,
                                          x->rec.ndrain, x->rec.backlog_s != 0};
    }
    bool live = true;
    for (int k = 0; k < a->snap.nmembers; k++) {
        const struct sim_member *m = &a->snap.m[k];
        int q = peer_of(m->id);
        /* a member that has not applied the epoch holds its items pending */
        live &= q == a->idx ? m->session == a->session
                            : a->peers[q].alive && a->peers[q].session == m->session &&
                                  a->peers[q].loaded && a->peers[q].rec.applied_epoch == a->applied;
    }
    /* our session's start counts as a break: a restart before it is unseen */
    ms_t brk = a->gap_ms > a->view_ms ? a->gap_ms : a->view_ms;
    if (own_settled(p, n, a->applied, a->snap.nmembers, live, clk(w, a), brk, T(w))) {
        a->settled_ms = clk(w, a);
        a->gap_first = 0;
        a->outage_from = 0;
    }
}

static void eval(struct world *w, struct sim_agent *a)
{
    if (!a->proc || a->frozen)
        return;
    clock_watch(w, a);
    settle_check(w, a);
    if (a->reg == REG_NONE && connected(a))
        register_agent(w, a);
    if (!a->loaded && views_settled(w, a) && a->agents_listed && a->agents_reading == 0) {
        a->loaded = true;
        a->node_dirty = true;
    }
    /* the first snapshot this process reads: who owned what before it applied anything */
    if (!a->before.valid && !a->seen.valid && a->loaded && a->snap_exists)
        compute(w, a, &a->snap, &a->seen);
    maybe_publish(w, a);
    maybe_apply(w, a);
    gate_check(w, a);
    if (a->node_dirty)
        write_record(w, a);
}

static void timer(struct world *w, struct sim_agent *a, int which)
{
    switch (which) {
    case TM_PING:
        lease_check(w, a);
        if (connected(a))
            req(w, a, op(ZO_PING, "", false), CK_PING, 0);
        if (a->zstate == ZS_CONNECTED || a->zstate == ZS_SUSPENDED)
            arm(w, a, TM_PING, T(w) / 3);
        break;
    case TM_SCHED:
        sched_tick(w, a);
        break;
    case TM_TICK:
        if (a->reg == REG_DONE && w->now - a->last_clock_check > 30000)
            a->node_dirty = true;
        if (w->p.mutant != MUT_NO_EVICT && a->reg == REG_DONE && connected(a) &&
            own_apply_overdue(a->applied, a->snap.epoch, a->newer_seen, clk(w, a),
                              own_evict_bound_ms(T(w))))
            self_evict(w, a);
        maybe_evict(w, a);
        arm(w, a, TM_TICK, 1000);
        break;
    case TM_CONNECT:
        if (a->zstate != ZS_CONNECTED) {
            if (a->zstate == ZS_NONE)
                a->zstate = ZS_CONNECTING;
            lease_check(w, a);
            if (a->zstate != ZS_CONNECTED)
                connect(w, a);
        }
        break;
    case TM_RUNNING:
        running_tick(w, a);
        break;
    }
    eval(w, a);
}

/* ---------------------------------------------------------------- processes and faults */

struct sim_agent *agent_new(struct world *w, int idx)
{
    struct sim_agent *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    (void)w;
    a->idx = idx;
    snprintf(a->id, sizeof a->id, "a%d", idx);
    return a;
}

void agent_free(struct sim_agent *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->ninbox; i++)
        free(a->inbox[i]);
    free(a->inbox);
    free(a);
}

/* agent_start: a new process with this id (fresh memory; the machine's clock
 * and the runs of an earlier process, until its watchdog, stay). */
void agent_start(struct world *w, int idx)
{
    struct sim_agent *a = A(w, idx);
    struct run runs[SIM_MAX_RUNS];
    memcpy(runs, a->runs, sizeof runs);
    ms_t skew = a->skew;
    int64_t inc = a->inc, tctr = a->tctr, wd = a->wd_tag;
    uint64_t order = a->run_order;
    for (int i = 0; i < a->ninbox; i++)
        free(a->inbox[i]);
    free(a->inbox);
    memset(a, 0, sizeof *a);
    a->idx = idx;
    snprintf(a->id, sizeof a->id, "a%d", idx);
    memcpy(a->runs, runs, sizeof runs);
    a->skew = skew;
    a->inc = inc + 1;
    a->tctr = tctr;
    a->wd_tag = wd;
    a->run_order = order;
    a->proc = true;
    a->skew_ok = true;
    a->zstate = ZS_CONNECTING;
    a->last_real = clk(w, a);
    a->last_mono = w->now;
    a->lease_base = w->now - T(w); /* nothing proven yet */
    arm(w, a, TM_CONNECT, sim_range(w, 1, 300));
    arm(w, a, TM_SCHED, 1000);
    arm(w, a, TM_TICK, sim_range(w, 500, 1000));
    arm(w, a, TM_RUNNING, 1000);
}

/* the process is gone: its connection breaks at once (the server keeps the
 * session until it expires); its runs go on until the watchdog's deadline */
static void proc_gone(struct world *w, struct sim_agent *a)
{
    a->proc = false;
    a->frozen = false;
    a->stuck = false;
    for (int i = 0; i < a->ninbox; i++)
        free(a->inbox[i]);
    a->ninbox = 0;
    if (a->conn > 0) {
        int c = a->conn;
        a->conn = 0;
        zk_drop_conn(w, c);
    }
    for (int k = 0; k < SIM_MAX_RUNS; k++) {
        struct run *r = &a->runs[k];
        if (r->inc == a->inc && (r->state == R_QUEUED || r->state == R_RETRY))
            r->state = R_FREE; /* they were only in the process's memory */
        if (r->inc == a->inc && r->state == R_ENDED_UNSEEN)
            r->state = R_FREE;
    }
    /* the watchdog of this incarnation kills what is left at its deadline */
    sim_push(w, a->lease_base + T(w) - margin(w), EV_WATCHDOG, a->idx, 1, a->inc, NULL);
}

void agent_kill(struct world *w, int idx)
{
    struct sim_agent *a = A(w, idx);
    if (a->proc)
        proc_gone(w, a);
}

void agent_stop(struct world *w, int idx)
{
    struct sim_agent *a = A(w, idx);
    if (!a->proc || a->frozen)
        return;
    kill_runs(w, a, a->inc, "stopping");
    drop_items(w, a, "stopping");
    if (connected(a)) {
        struct msg *m = op(ZO_CLOSE, "", false);
        m->kind = MK_REQ;
        zk_send(w, a->conn, m);
        a->conn = 0; /* the server closes it when the close arrives */
    }
    proc_gone(w, a);
}

static void resume(struct world *w, struct sim_agent *a)
{
    a->frozen = false;
    bool timers_first = sim_chance(w, 0.5);
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0) == timers_first) {
            for (int k = 0; k < TM_N && a->proc && !a->frozen; k++)
                if (a->pend_timer[k]) {
                    a->pend_timer[k] = false;
                    timer(w, a, k);
                }
        } else {
            /* the socket: what arrived before it broke, then the break */
            struct msg **box = a->inbox;
            int n = a->ninbox;
            a->inbox = NULL;
            a->ninbox = a->capinbox = 0;
            for (int i = 0; i < n; i++) {
                if (a->proc && !a->frozen)
                    handle_msg(w, a, box[i]);
                else
                    free(box[i]);
            }
            free(box);
            if (a->pend_drop && a->proc) {
                a->pend_drop = false;
                if (!zk_conn_open(w, a->conn) && a->conn > 0)
                    conn_broken(w, a);
            }
        }
    }
    /* children that exited meanwhile */
    for (int k = 0; k < SIM_MAX_RUNS && a->proc; k++)
        if (a->runs[k].state == R_ENDED_UNSEEN && a->runs[k].inc == a->inc)
            see_run_end(w, a, &a->runs[k], false);
    if (a->proc)
        eval(w, a);
}

void agent_freeze(struct world *w, int idx, bool on)
{
    struct sim_agent *a = A(w, idx);
    if (!a->proc)
        return;
    if (on && !a->frozen) {
        a->frozen = true;
    } else if (!on && a->frozen) {
        resume(w, a);
    }
}

void agent_set_stuck(struct world *w, int idx, bool on)
{
    struct sim_agent *a = A(w, idx);
    a->stuck = on;
    if (!on && a->proc && !a->frozen)
        eval(w, a);
}

void agent_conn_loss(struct world *w, int idx)
{
    struct sim_agent *a = A(w, idx);
    if (a->conn > 0)
        zk_drop_conn(w, a->conn);
}

/* moments_follow: the moments this agent observed are kept on the monotonic
 * clock and read as the realtime clock now says they were (coord_int.h
 * struct moment, moment_ms): a step of the realtime clock against the
 * monotonic one moves each of them with it, so a moment is always on the
 * clock our current skew is measured by. Not moved: what is published as
 * the clock that judged our fires (applied_ms, the moment our old session
 * was given up: its fires were labelled by the clock then), and the
 * scheduler's own reference (it must see the jump). */
static void moments_follow(struct sim_agent *a, ms_t delta)
{
#define FOLLOW(v) ((v) = (v) ? (v) + delta : 0)
    for (int p = 0; p < SIM_MAX_AGENTS; p++) {
        struct peer *x = &a->peers[p];
        FOLLOW(x->suspect_lo);
        for (int k = 0; k < x->ntomb; k++) {
            FOLLOW(x->tomb[k].gone_ms);
            FOLLOW(x->tomb[k].gone_lo_ms);
        }
        FOLLOW(a->quarantine[p]);
    }
    FOLLOW(a->view_ms);
    FOLLOW(a->newer_seen);
    FOLLOW(a->settled_ms);
    FOLLOW(a->gap_ms);
    FOLLOW(a->gap_first);
    FOLLOW(a->node_t0);
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++)
            FOLLOW(a->it[j][i].not_before);
#undef FOLLOW
}

void agent_jump(struct world *w, int idx, ms_t delta, bool detectable)
{
    struct sim_agent *a = A(w, idx);
    a->skew += delta;
    if (w->p.mutant != MUT_MOMENTS_WALL)
        moments_follow(a, delta);
    if (delta)
        sim_trace(w, "FAULT a%d clock %+lld ms (skew now %lld)%s", idx, (long long)delta,
                  (long long)a->skew, detectable ? " jump" : "");
}

/* ---------------------------------------------------------------- events */

void agent_on_s2c(struct world *w, struct msg *m)
{
    struct sim_agent *a = A(w, m->agent);
    if (!a->proc || m->conn != a->conn) {
        free(m);
        return;
    }
    if (a->frozen) {
        if (a->ninbox == a->capinbox) {
            a->capinbox = a->capinbox ? a->capinbox * 2 : 16;
            a->inbox = realloc(a->inbox, (size_t)a->capinbox * sizeof *a->inbox);
            if (!a->inbox)
                abort();
        }
        a->inbox[a->ninbox++] = m;
        return;
    }
    handle_msg(w, a, m);
}

void agent_on_timer(struct world *w, int idx, int which, int64_t seq)
{
    struct sim_agent *a = A(w, idx);
    if (!a->proc || seq != a->tseq[which])
        return;
    if (a->frozen) {
        a->pend_timer[which] = true;
        return;
    }
    timer(w, a, which);
}

void agent_on_run_end(struct world *w, int idx, int64_t tag)
{
    struct sim_agent *a = A(w, idx);
    int k = (int)(tag % 1000);
    struct run *r = &a->runs[k];
    if (r->tag != tag || r->state != R_RUNNING)
        return; /* killed before */
    check_run_end(w, r->ck, false);
    if (!a->proc || r->inc != a->inc) {
        r->state = R_FREE; /* nobody is there to see it */
        return;
    }
    if (a->frozen) {
        r->state = R_ENDED_UNSEEN;
        return;
    }
    see_run_end(w, a, r, false);
    eval(w, a);
}

/* which 0: the live process's deadline (x: its tag, the latest one counts);
 * which 1: a gone process's runs (x: its incarnation) */
void agent_on_watchdog(struct world *w, int idx, int which, int64_t x)
{
    struct sim_agent *a = A(w, idx);
    int64_t inc = x;
    if (which == 0) {
        if (x != a->wd_tag || !a->proc)
            return;
        inc = a->inc;
    }
    bool any = false;
    for (int k = 0; k < SIM_MAX_RUNS; k++)
        any |= a->runs[k].inc == inc && a->runs[k].state == R_RUNNING;
    if (!any)
        return;
    sim_trace(w, "a%d: watchdog kills the runs of incarnation %lld", idx, (long long)inc);
    kill_runs(w, a, inc, "watchdog: lease ran out");
    if (a->proc && !a->frozen)
        eval(w, a);
}

void agent_on_conn_drop(struct world *w, int idx, int conn)
{
    struct sim_agent *a = A(w, idx);
    if (!a->proc || conn != a->conn)
        return;
    if (a->frozen) {
        a->pend_drop = true;
        return;
    }
    conn_broken(w, a);
    eval(w, a);
}

/* ---------------------------------------------------------------- what the checker sees */

bool agent_proc_alive(const struct world *w, int idx)
{
    return w->ag[idx]->proc;
}
bool agent_frozen(const struct world *w, int idx)
{
    return w->ag[idx]->frozen;
}
bool agent_stuck(const struct world *w, int idx)
{
    return w->ag[idx]->stuck;
}
bool agent_healthy(const struct world *w, int idx)
{
    const struct sim_agent *a = w->ag[idx];
    return a->proc && !a->frozen && !a->stuck;
}
bool agent_is_leader(const struct world *w, int idx)
{
    return w->ag[idx]->leader;
}
bool agent_item_active(const struct world *w, int idx, int job, int item)
{
    const struct sim_agent *a = w->ag[idx];
    /* ownership, not this instant's lease: a heartbeat answered late
     * pauses starts for a moment without moving anything */
    return a->proc && !a->frozen && a->reg == REG_DONE && a->it[job][item].st == ST_ACTIVE;
}
int64_t agent_applied(const struct world *w, int idx)
{
    return w->ag[idx]->applied;
}
ms_t agent_clock(const struct world *w, int idx)
{
    return clk(w, w->ag[idx]);
}
int64_t agent_session(const struct world *w, int idx)
{
    return w->ag[idx]->session;
}

void agent_describe(const struct world *w, int idx, char *buf, size_t len)
{
    const struct sim_agent *a = w->ag[idx];
    int act = 0, pend = 0, drain = 0;
    for (int j = 0; j < SIM_MAX_JOBS; j++)
        for (int i = 0; i < SIM_MAX_ITEMS; i++) {
            act += a->it[j][i].st == ST_ACTIVE;
            pend += a->it[j][i].st == ST_PENDING;
            drain += a->it[j][i].draining;
        }
    snprintf(buf, len,
             "a%d: %s%s%s session %llx reg %d%s applied %lld (snapshot %lld) skew %lld "
             "(measured %lld) active %d pending %d draining %d running %d lease %lld ms%s",
             idx, a->proc ? "up" : "dead", a->frozen ? " frozen" : "", a->stuck ? " stuck" : "",
             (unsigned long long)a->session, a->reg, a->leader ? " leader" : "",
             (long long)a->applied, (long long)(a->snap_exists ? a->snap.epoch : 0),
             (long long)a->skew, (long long)a->skew_meas, act, pend, drain, busy(a),
             (long long)(w->now - a->lease_base), a->skew_ok ? "" : " skew refused");
}
