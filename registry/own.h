/* registry/own.h: who may run which fire of a shard item — the ownership and
 * handoff decisions of the coordination protocol as pure functions.
 *
 * No I/O, no clocks, no ZooKeeper: every input is a value the caller read
 * (its own state, the snapshot, the agent records it has), every output a
 * decision. registry/coord.c feeds them from ZooKeeper; tests/sim/ feeds them
 * from a simulated world and checks the invariants after every step. The
 * protocol they implement is docs/coordination.md.
 *
 * Fire labels are epoch seconds (the scheduled second of a fire). Times are
 * realtime milliseconds of the clock named at each field. */
#ifndef SC_REGISTRY_OWN_H
#define SC_REGISTRY_OWN_H

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- members are sessions */

/* own_member_self: whether this agent (id, session) is the member `mid`
 * (session `msession`) of a snapshot. A member entry published for an earlier
 * session of the same id is not us: an agent on a new session owns nothing
 * until the leader publishes it with that session (msession 0: a snapshot
 * from before sessions were published, matched by id). */
bool own_member_self(const char *id, int64_t session, const char *mid, int64_t msession);

/* ---------------------------------------------------------------- the gate */

/* One other agent as this agent sees it. */
struct own_peer {
    const char *id;
    int64_t session;       /* the session owning its node (ephemeralOwner) */
    bool alive;            /* its node exists */
    bool loaded;           /* its record has been read since it (re)appeared */
    int64_t applied_epoch; /* from its record; 0 = nothing applied in that session */
    bool member;           /* from its record: a member of its applied epoch */
};

/* own_gate_open: a pending item may become active only when every live peer
 * that has applied an epoch in its session has applied exactly `applied`
 * (so it computed the same owners and stopped what it lost). A peer not yet
 * read blocks; one that has applied nothing, or applied an epoch it is not a
 * member of, owns nothing and cannot own anything before it applies another,
 * so it is not waited for (a run it still drains is seen in its record's
 * draining list). `me` is skipped. */
bool own_gate_open(const struct own_peer *peers, int n, const char *me, int64_t applied);

/* own_handed: whether the new owner `p` of an item this agent lost at epoch
 * `applied` holds it now (so its fires are no longer ours to account,
 * coord_owes): it is alive, its record is read, it is the session the
 * snapshot names (msession) and it has applied our epoch or a later one (it
 * holds the item pending or active and accounts it from there). */
bool own_handed(const struct own_peer *p, int64_t msession, int64_t applied);

/* ---------------------------------------------------------------- takeover */

enum own_prev {
    OWN_PREV_NONE,     /* no previous owner known: new job or item, or nothing applied before */
    OWN_PREV_ALIVE,    /* the previous owner's session is alive */
    OWN_PREV_DIED,     /* the previous owner's session ended (expired, closed, evicted) */
    OWN_PREV_UNKNOWN,  /* an owner existed but this agent has no record of it */
    OWN_PREV_SELF_OLD, /* this agent's own earlier session */
    OWN_PREV_ANY,      /* our first epoch in this session, or nobody owned it at the epoch
                        * we applied before: any live peer may have owned it */
};

/* What the new owner has seen of an item's previous owner: the owner at the
 * epoch it applied before gaining the item (docs/coordination.md, "Fires
 * between owners"). */
struct own_prev_seen {
    bool none;               /* no previous owner (a new job or item, or nobody owned it) */
    bool any;                /* our first epoch in this session: any live peer may have */
    bool self;               /* it was this agent's id (so an earlier session of ours) */
    bool known;              /* we hold a record (or a tombstone) of that agent */
    bool alive;              /* its node exists */
    int64_t gone_ms;         /* when we last saw its node vanish (0 never) */
    int64_t prev_created_ms; /* publication of the epoch we applied before the gain */
    int64_t from_session;    /* its session in that epoch's snapshot (0 unknown) */
    int64_t node_session;    /* the session owning its node when last read (0 unknown) */
};

/* own_prev_kind: which previous owner a takeover is from. *ended: the
 * session that owned the item ended — the agent is gone, its node belongs to
 * another session now, or it vanished after the previous epoch was published
 * and came back (also true for our own earlier session and an agent we hold
 * no record of; false for NONE and ANY). */
enum own_prev own_prev_kind(const struct own_prev_seen *p, bool *ended);

/* What the new owner knows when a gained item becomes active. */
struct own_takeover_in {
    enum own_prev prev;
    int64_t epoch;           /* the epoch applied now */
    int64_t prev_epoch;      /* the epoch applied before gaining the item */
    int64_t prev_created_ms; /* its publication (the leader's clock) */
    int64_t snap_created_ms; /* publication of the epoch applied now */
    int session_ms;          /* our session timeout */
    int max_skew_ms;
    int64_t skew_ms;        /* ours against ZooKeeper */
    int64_t now_ms;         /* our clock, at activation */
    int64_t job_created_ms; /* when the job's node was created (0 unknown): no fire before it */
    /* OWN_PREV_ALIVE: from its record; OWN_PREV_ANY: the latest applied_ms of
     * the live peers at our epoch (owner_epoch = ours; 0: none has applied);
     * OWN_PREV_DIED: owner_epoch is what its last record (if current when it
     * vanished; else 0) says it applied */
    int64_t owner_epoch, owner_applied_ms;
    /* OWN_PREV_ALIVE: the epoch its record says it applied before that one
     * (0 unknown): it held the item only if it applied prev_epoch itself */
    int64_t owner_prev_applied;
    /* OWN_PREV_ANY: nobody owned it at the epoch we applied before (so its
     * last owner, if any, was a session that is gone) */
    bool unowned_before;
    /* OWN_PREV_ALIVE and OWN_PREV_DIED: its (last) record's carry_ms (0 =
     * none): see own_carry */
    int64_t owner_carry_ms;
    /* OWN_PREV_DIED: when we saw its node vanish (our clock) and its last record */
    int64_t gone_ms;
    /* OWN_PREV_DIED: the earliest it may have vanished (our clock; 0 = gone_ms):
     * news of a vanishing can come late (our loop frozen, our connection
     * down), and the node was there when the server answered our last
     * request before the news (our last proof before a break, when the news
     * came after one) */
    int64_t gone_lo_ms;
    int owner_session_ms;
    int64_t owner_skew_ms;
    /* OWN_PREV_DIED: a run its last record listed as running (fire label), -1 none;
     * whether that record was written after the run's start (so it is current) */
    int64_t owner_running_fire;
    /* OWN_PREV_DIED: the oldest fire label its last record says was queued
     * (due, not started: lost with it); 0 none */
    int64_t owner_backlog_s;
    bool failover; /* the job has failover on */
    /* OWN_PREV_DIED: the leader evicted it (its node was deleted while its
     * session may still have been alive: see own_evict) */
    bool evicted;
    /* OWN_PREV_SELF_OLD: when our old session was given up (our clock);
     * owner_epoch is then the last epoch that session applied */
    int64_t self_lost_ms;
    /* The bound every takeover respects, whatever is known of the previous
     * owner (own_takeover): the highest fire label started by any live peer
     * (at our epoch, or with nothing applied in its session) and by us (their
     * records' stop_s; 0 none), the latest end
     * of a session seen to vanish (own_dead_hi_ms; 0 none), and when this
     * session first listed the agents (our clock; 0 unknown). */
    int64_t peers_stop_s;
    int64_t dead_hi_ms;
    int64_t view_start_ms;
    bool recent_evictions; /* the snapshot applied names evicted members */
    /* The leader's bound (label ms) on every session that had vanished by a
     * listing of /agents that reflects everything before our first view (its
     * pzxid at least ours): a tighter bound than view_start for sessions that
     * vanished before we looked; 0 none. */
    int64_t snap_gone_hi_ms;
    /* The last time (our clock; 0 never) this process saw the cluster
     * settled (own_settled): every item active on a live member. */
    int64_t settled_ms;
    /* The last moment any leader saw the cluster settled, as the snapshot
     * applied now carries it (our clock; 0 none). */
    int64_t snap_settled_ms;
    /* The publication (the leader's clock) of the last epoch with members
     * before a total outage this process learnt of (a snapshot's
     * outage_from) since it last saw the cluster settled; 0 none. An owner
     * that held an item only on paper since then (stuck, or dead before it
     * applied) leaves its fires since that outage to us. */
    int64_t outage_from_ms;
    /* OWN_PREV_DIED, OWN_PREV_UNKNOWN: when our own connection to ZooKeeper
     * last broke (our clock; 0 = never). A server restart gives every session
     * a fresh timeout, so "the server heard from it T before the expiry" only
     * holds after it: the window then starts a session timeout before it. */
    int64_t server_gap_ms;
};

struct own_takeover {
    /* Fires with label*1000 > lo_ms had no owner unless the previous owner ran
     * them; up to hi_ms (the previous owner's clock) it may have: those are
     * reported missed, never run here (its report of a run wins). */
    int64_t lo_ms, hi_ms;
    /* The first fire label that is ours: every fire >= it is ours alone and
     * goes through our schedule (late ones through the misfire policy). It is
     * decided by what the previous owner declared or by its session's end,
     * never by our own clock. */
    int64_t first_s;
    /* A run the previous owner's death cut off, to re-run here once
     * (trigger failover); -1 none. */
    int64_t rerun_fire;
    /* Our clock: do not start the item before (an evicted owner may run
     * until its lease runs out); 0 = at once. */
    int64_t not_before_ms;
};

/* ---------------------------------------------------------------- settled */

/* One live agent's record, for own_settled. */
struct own_settle_peer {
    int64_t applied_epoch;
    bool member;  /* a member of the epoch it applied */
    int pending;  /* items it holds pending */
    int draining; /* items it lost and still runs */
    bool backlog; /* fires due and queued, not yet started */
};

/* own_settled: whether every item of `epoch` is active on a live member, as
 * far as these records (every live agent's, ours included) tell: all are at
 * `epoch`, none holds anything pending or draining, and every member named
 * by the snapshot is among them (members_live). A fire since such a moment
 * is accounted by the item's active owner until it stops; an accounting gap
 * can only begin after the last such moment, minus a session timeout (a
 * member may have died unseen for that long). */
bool own_settled(const struct own_settle_peer *p, int n, int64_t epoch, int nmembers,
                 bool members_live, int64_t now_ms, int64_t last_break_ms, int session_ms);
/* (members_live: every member of the snapshot is a live agent, in the
 * session the snapshot names, whose record says it applied `epoch`.
 * last_break_ms: when our connection last broke, or our session began,
 * whichever is later (a restart before it went unseen): a server restart
 * gives every session, a dead one's too, a fresh timeout, so records look
 * settled for up to a session timeout after it while their owner may be
 * dead; such a view bounds nothing.) */

/* own_server_gap_ms: the server_gap_ms input of own_takeover: the earliest
 * moment since the cluster was last settled at which the server may have
 * restarted (giving every session, a dead one's too, a fresh timeout): our
 * first connection break since then (first_break_ms, 0 none), else the
 * start of our session when it is recent (a restart before it went unseen),
 * else our last break (last_break_ms). */
int64_t own_server_gap_ms(int64_t first_break_ms, int64_t last_break_ms, int64_t view_ms,
                          int session_ms);

/* own_gap_merge: a peer's record names its own last connection break
 * (brk_zk_ms, by ZooKeeper's clock as that peer measured it; 0 none). A server
 * restart this process did not see (it started later, or was frozen) may
 * still be one a peer saw: the earlier of the two, on our clock (skew_ms: ours
 * against ZooKeeper), counts for own_takeover_in.server_gap_ms when it is
 * recent (within ten session timeouts of now). Returns the merged gap. */
int64_t own_gap_merge(int64_t gap_ms, int64_t brk_zk_ms, int64_t skew_ms, int64_t now_ms,
                      int session_ms);

/* own_dead_hi_ms: the highest fire label (in ms) a session that was seen to
 * vanish at gone_ms (our clock) may have started: it started nothing after
 * its node vanished, by a clock at most max_skew off ZooKeeper's; an evicted
 * one (its node deleted while its session may live) until its lease ran out,
 * a session timeout later. */
int64_t own_dead_hi_ms(int64_t gone_ms, int64_t skew_ms, int max_skew_ms, bool evicted,
                       int session_ms);

#define OWN_ANY_LOOKBACK 4 /* session timeouts an OWN_PREV_ANY window reaches back */

/* own_takeover: the window and the first own fire of a takeover. */
void own_takeover(const struct own_takeover_in *in, struct own_takeover *out);

/* own_removed_owes: whether the fires of an item removed from its job by a
 * config write are left to account, by the agent that would have been its
 * next owner (the owner of the job's item i mod n): yes unless its last owner
 * held it and stopped at the epoch that removed it (a live, exact handoff:
 * it accounted them itself) or it never had one. */
bool own_removed_owes(const struct own_takeover_in *in);

/* own_carry: an agent that loses an item it held only pending (gained, never
 * started) never accounted that item's fires since its previous owner
 * stopped. It publishes, with the epoch that took the item away, the lowest
 * window start of such items (its record's carry_ms); the next owner starts
 * its window there. Items it holds pending count too, from the apply that
 * gained them: if it dies before starting them, its last record carries
 * their window start to the next owner. `cur` is the value so far (0 = none). */
int64_t own_carry(int64_t cur, int64_t pending_lo_ms);

/* own_pending_lo: the window start a pending item would have if it were
 * activated now (used for carry): a conservative bound from the publication
 * of the epoch applied before the gain. */
int64_t own_pending_lo(int64_t prev_created_ms, int session_ms, int max_skew_ms);

/* own_pending_lo_any: the same for an item gained after a total outage (an
 * OWN_PREV_ANY takeover with unowned_before): its window reaches back
 * OWN_ANY_LOOKBACK session timeouts, and so does the carry of its loss. */
int64_t own_pending_lo_any(int64_t prev_created_ms, int session_ms, int max_skew_ms);

/* own_pending_lo_outage: a pending item's window start `lo` when this process
 * learnt of a total outage (outage_from_ms, the last epoch with members
 * before it; 0 none) since it last saw the cluster settled: an owner after
 * the outage may have held the item only on paper (stuck, or dead before it
 * applied), so the window reaches back as a non-exact takeover's does
 * (own_takeover's outage_from_ms), for the carry and the loss alike. */
int64_t own_pending_lo_outage(int64_t lo, int64_t outage_from_ms, int session_ms, int max_skew_ms);

/* own_pending_lo_settled: the same for the last moment the cluster was
 * settled as the snapshot carries it (own_takeover_in.snap_settled_ms, our
 * clock; 0 none): the owners since may all have held the item only on paper
 * or pending, and a non-exact takeover would reach back there too. */
int64_t own_pending_lo_settled(int64_t lo, int64_t snap_settled_ms, int64_t skew_ms, int session_ms,
                               int max_skew_ms);

/* ---------------------------------------------------------------- starting a fire */

enum own_trigger { OWN_CRON, OWN_MISFIRE, OWN_MANUAL, OWN_FAILOVER, OWN_RETRY };

/* own_may_start: whether this agent may start a fire labelled `fire` of an
 * item it holds in state active (`active`), whose first own fire is first_s.
 * Cron and misfire runs need fire >= first_s (a retry too, or the re-run fire); a manual trigger
 * needs only the item active; a failover re-run is allowed for exactly the fire the takeover named
 * (rerun_fire). The lease is checked by the caller. */
bool own_may_start(bool active, int64_t first_s, int64_t rerun_fire, int64_t fire,
                   enum own_trigger trig);

/* ---------------------------------------------------------------- bounded barriers */

/* One member of the published epoch as the leader sees it. */
struct own_ack {
    const char *id;
    int64_t session;       /* the member's session in the snapshot */
    int64_t node_session;  /* the session owning its node now (0: no node) */
    int64_t applied_epoch; /* from its record */
};

/* own_evict: which member the leader evicts because it has not acknowledged
 * `epoch` within `bound_ms` of its publication (now_ms - created_ms, both the
 * leader's clock). Returns the index of the first such member or -1. A member
 * whose node is gone or belongs to another session is not waited for
 * (the next epoch drops it). */
int own_evict(const struct own_ack *m, int n, int64_t epoch, int64_t created_ms, int64_t now_ms,
              int bound_ms);

/* own_apply_overdue: whether this agent has failed to apply a newer epoch
 * (first seen at seen_ms, our clock) within bound_ms: it stalls every
 * handoff, so it evicts itself at once (kills its runs, drops its items,
 * deletes its own node, registers again not ready) instead of waiting for the
 * leader to do it — the only way out when the stalled agent is the leader. */
bool own_apply_overdue(int64_t applied, int64_t newest_epoch, int64_t seen_ms, int64_t now_ms,
                       int bound_ms);

/* own_evict_bound_ms: the acknowledgement bound for a session timeout T: long
 * enough that a healthy loaded agent acknowledges well within it, and longer
 * than T so that an agent that cannot acknowledge because its connection is
 * down has lost its lease (and killed its runs) first. */
int own_evict_bound_ms(int session_ms);

/* own_moment_ms: a moment observed at monotonic time mono_ms (0 = none), as
 * the realtime clock reads it now (real_now_ms, mono_now_ms: both clocks
 * now). Every observation a takeover uses later (a peer's vanishing, our
 * connection breaks, our first view, the settled moment) is converted so:
 * the skews it is combined with are measured against the realtime clock as
 * it is now, so a wall-clock jump between the observation and its use moves
 * the observation with it (simulator seeds 1289, 794). */
int64_t own_moment_ms(int64_t mono_ms, int64_t real_now_ms, int64_t mono_now_ms);

/* own_clock_jumped: the realtime clock moved more than threshold_ms against
 * the monotonic one since (last_real_ms, last_mono_ms) (last_mono_ms 0: no
 * look yet). Every measured skew is then stale: nothing may start or be
 * taken over until the clock is checked again (coord_clock_suspect). */
bool own_clock_jumped(int64_t real_ms, int64_t mono_ms, int64_t last_real_ms, int64_t last_mono_ms,
                      int threshold_ms);

#endif
