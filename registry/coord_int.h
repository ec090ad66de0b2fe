/* registry/coord_int.h: the state shared by the files of the agent's
 * coordination state machine — private to registry/coord*.c.
 *
 * struct coord is one agent's whole view and protocol state; each file owns
 * a part of it and the functions that change that part (their prototypes
 * below, grouped by file). The public API is registry/coord.h; the protocol
 * is docs/coordination.md; every ownership and handoff decision is a pure
 * function of registry/own.c.
 *
 *   coord.c           the frame: open/close, evaluation, watches, session states, queries
 *   coord_record.c    this agent's presence: registration, its record, the clock check,
 *                     evicting itself when it cannot apply
 *   coord_elect.c     the election
 *   coord_peers.c     the other agents (the /agents cache, sessions seen to vanish)
 *                     and the snapshot as read
 *   jobcache.c        the job configs through the change log (shared with the console)
 *   coord_apply.c     snapshot -> owned items, the gate (pending -> active), losses
 *   coord_takeover.c  fires between owners: handovers, the takeover bound, re-run claims
 *   coord_trig.c      manual triggers
 *   coord_leader.c    the leader: publishing epochs, evicting, pruning the change log */
#ifndef SC_REGISTRY_COORD_INT_H
#define SC_REGISTRY_COORD_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/strmap.h"
#include "registry/calcache.h"
#include "registry/coord.h"
#include "registry/jobcache.h"
#include "registry/own.h"
#include "registry/pausecache.h"
#include "registry/plan.h"
#include "sharding/shard.h"

/* ---------------------------------------------------------------- state */

/* A job as the agent holds it: the cache's entry (registry/jobcache.h) and
 * the state of its items here. */
struct cjob {
    struct jobcache_job jc; /* first: the job cache allocates cjobs */
    uint8_t *st;            /* enum coord_item_state per item */
    int64_t *since;         /* realtime ms an item became ACTIVE */
    int64_t *first;         /* per ACTIVE item, its first own fire label (own_takeover) */
    int64_t *last;          /* per item, the highest fire label started here (0 none) */
    int64_t *rerun;         /* per ACTIVE item, the failover re-run it may start (-1 none): set
                             * once our record's claim of it is acknowledged (coord_take_rerun) */
    int nst;
    int64_t stamp;    /* the epoch whose assignment last included the job */
    bool *draining;   /* per item, lost here but still running */
    char **trig_done; /* triggers already handled by this agent */
    int ntrig_done;
};

/* A session seen to vanish, as far as it bounds the fires it may have
 * started (own_dead_hi_ms): when, whether evicted, its session timeout. */
struct vanish {
    int64_t gone_mono; /* a moment (moment_ms); 0 = none */
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
    /* when this agent saw it vanish (a moment, moment_ms; 0 = never), and
     * what its record said then (a returning agent's new record replaces rec) */
    int64_t gone_mono, gone_skew_ms;
    int gone_session_ms;
    int64_t gone_session; /* the session that vanished */
    /* the record held then was current (read since our connection last
     * broke): only then is its running list trusted for a failover re-run */
    bool gone_trusted;
    /* the session was named evicted by a snapshot we held (when it vanished
     * or later): it may have outlived its node by its lease */
    bool gone_evicted;
    /* our last proof of the session (a moment) when our connection broke
     * while it was alive, until its record is read again (0 none), and the
     * earliest it may have vanished (own_takeover_in.gone_lo_ms; a moment) */
    int64_t suspect_lo_mono, gone_lo_mono;
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
    /* not gained: removed from its job by a config write while another
     * agent (or an earlier session of ours) owned it; its fires since that
     * owner stopped are accounted here once the gate opens
     * (coord_removed_settle), as a new owner's window would be */
    bool removed;
    bool removed_owes; /* own_removed_owes, set when resolved */
    struct own_takeover t;
    int64_t not_before_mono; /* t.not_before_ms as a moment: a lease waited out by time */
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
    int (*on_trigger)(void *, const struct job *, int, const char *, const char *);
    void (*on_trigger_unrun)(void *, const char *, int, const char *, int64_t, const char *,
                             const char *);
    struct coord_ext ext;    /* .ctx NULL: none */
    struct trig_open *trigs; /* triggers seen and not finished here (manual triggers) */
    uint64_t trig_seq;       /* ids of trig_open entries */
    void *ctx;
    struct plan_item *running; /* published in the record */
    int nrunning;
    int64_t running_written_mono; /* a moment: a clock step must not hold the write back */
    struct event *ev_running;

    struct jobcache jobs;     /* entries are struct cjob (jobcache.c, the change log) */
    struct calcache cals;     /* business calendars, for the items' fire times */
    struct pausecache pauses; /* /pauses (registry/pausecache.h) */
    struct strmap agents;
    int agents_loading;
    bool agents_listed;
    uint64_t digest_gen; /* jobs.gen the cached inputs and digest are of (0: none) */
    char digest[17];
    struct shard_job *inputs; /* valid jobs as sharding inputs, in name order (point into jobs) */
    int ninputs;
    uint64_t states_gen;     /* bumped when an item's state changes */
    struct strmap trig_open; /* jobs with triggers not yet removed (leader cleans up) */
    int64_t last_trig_scan_ms;
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
    int64_t gap_mono; /* when our connection last broke (a moment; 0 never) */
    /* the first connection break since we last saw the cluster settled (0
     * none; a moment): own_server_gap_ms */
    int64_t gap_first_mono;
    /* the last time (a moment, 0 never) own_settled held over the records
     * we hold (coord_settle_check): own_takeover_in.settled_ms. Per process. */
    int64_t settle_scan_mono; /* when coord_settle_check last scanned our items (a moment) */
    int64_t settled_mono;
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
    int64_t newer_seen_mono; /* a moment */
    bool stalled;

    /* The takeover bound (own_takeover_in.peers_stop_s, dead_hi_ms,
     * view_start_ms) and failover re-run claims. Per process unless said. */
    int64_t max_started;     /* the highest label started of an item no longer held here (stop_s) */
    int64_t view_start_mono; /* this session's first listing of /agents (a moment; 0: not yet) */
    int64_t view_pzxid;      /* /agents' pzxid in that listing (INT64_MAX: unknown) */
    int64_t agents_pzxid;    /* /agents' pzxid in our latest listing (0: none) */
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
    /* coord_clock_watch's last look at both clocks (realtime, monotonic) */
    int64_t watch_real_ms, watch_mono_ms;
    bool skew_ok;
    bool loaded; /* the first full read of /agents, /jobs and the snapshot is done */
    char reason[160];

    bool publish_inflight;
    bool maybe_pending; /* some item may be PENDING: the gate scans only then */
    struct event *ev_eval, *ev_tick;
    struct coord_stats stats;
    bool fatal;
};

/* ---- the takeover bound */

/* struct bound: own_takeover_in's bound every takeover respects, whoever owned
 * the item before (the same for every item at one instant). */
struct bound {
    bool valid;
    int64_t peers_stop_s, dead_hi_ms, view_start_ms;
    bool recent_evictions;
};

/* A request about one agent or one job's triggers. */
struct read_ctx {
    struct coord *c;
    char *name;
};

/* ---------------------------------------------------------------- functions, by file */

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moments. What this agent observes and uses later (a peer vanishing, our
 * connection breaking, our first view of /agents, the cluster settled, a
 * newer epoch seen) is kept on the monotonic clock (a "moment", fields
 * *_mono, taken with mono_ms()) and read as the realtime clock says it was
 * *now* (moment_ms): the skew every decision converts with is measured
 * against the realtime clock as it is now, so a wall-clock jump between an
 * observation and its use must move the observation with it
 * (docs/coordination.md, "Clock jumps"). What is published as the clock
 * that judged our fires (applied_ms, lost_ms) stays on the realtime clock:
 * those labels were judged by it as it was then. 0 stays 0 (none). */
static inline int64_t moment_ms(int64_t mono)
{
    return own_moment_ms(mono, now_ms(), mono_ms());
}

/* coord.c */
void coord_schedule_eval(struct coord *c); /* evaluate soon (bursts coalesce) */
void coord_changed(struct coord *c);       /* tell the agent (on_change) */
void coord_load_all(struct coord *c);      /* registered: read agents, snapshot, jobs */

/* coord_record.c */
const char *coord_not_ready_reason(const struct coord *c);
void coord_write_record(struct coord *c);
void coord_register(struct coord *c);
void coord_registration_lost(struct coord *c, const char *why);
void coord_apply_watchdog(struct coord *c);
void coord_free_running(struct coord *c);
void coord_running_cb(evutil_socket_t fd, short what, void *arg);

/* coord_elect.c */
void coord_elect_start(struct coord *c);
void coord_elect_check(struct coord *c);

/* coord_peers.c */
void coord_vanish_keep(struct vanish *held, const struct vanish *v);
void coord_cagent_free(struct cagent *a);
bool coord_listed(const struct zkreg_result *r, const char *name);
void coord_read_agent(struct coord *c, struct cagent *a);
void coord_agents_listed(struct zkreg *z, const struct zkreg_result *r, void *arg);
void coord_mark_gone(struct coord *c, struct cagent *a);
int64_t coord_proof_mono(const struct coord *c);
void coord_clock_watch(struct coord *c);
void coord_note_evicted(struct coord *c, const struct plan_snapshot *s);
bool coord_evicted_in_snapshot(const struct plan_snapshot *s, const char *id, int64_t session);
int64_t coord_member_session(const struct plan_snapshot *s, const char *id);
bool coord_named_member(const struct plan_snapshot *s, const char *id, int64_t session);
bool coord_gone_claimed(const struct coord *c, int64_t session);
void coord_snap_seen(struct coord *c);
void coord_snap_read(struct zkreg *z, const struct zkreg_result *r, void *arg);

/* coord_apply.c */
int64_t coord_pending_lo(struct coord *c, const char *job, int item);
void coord_drop_all(struct coord *c, const char *why);
const char *coord_jobs_digest(struct coord *c);
bool coord_views_settled(const struct coord *c);
void coord_maybe_apply(struct coord *c);
void coord_gate_check(struct coord *c);
void coord_settle_check(struct coord *c);

/* coord_takeover.c */
void coord_handover_gain(struct coord *c, const struct shard_assignment *before, const char *job,
                         int item);
void coord_handover_forget(struct coord *c, const char *job, int item);
void coord_handover_sweep(struct coord *c);
/* coord_handover_removed: note (job, item), removed from the job at the epoch
 * being applied while `before` gave it to another owner. */
void coord_handover_removed(struct coord *c, const struct shard_assignment *before, const char *job,
                            int item);
void coord_takeover_bound(struct coord *c, struct bound *b);
int64_t coord_handover_resolve(struct coord *c, struct cjob *j, int item, const struct bound *b);
void coord_rerun_claim(struct coord *c, struct cjob *j, int item);
void coord_rerun_forget(struct coord *c, const char *job, int item);

/* coord_trig.c */
void coord_list_triggers(struct coord *c, const char *job);
void coord_scan_triggers(struct coord *c);
void coord_trig_sweep(struct coord *c); /* every tick: claim and run what we hold active */
void coord_trig_free_all(struct coord *c);

/* coord_leader.c */
void coord_maybe_publish(struct coord *c);
void coord_maybe_evict(struct coord *c);
void coord_evicting_clear(struct coord *c);
void coord_prune_changes(struct coord *c);

#endif
