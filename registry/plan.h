/* registry/plan.h: the coordination records as they are stored in ZooKeeper —
 * pure encode/decode and the job-shape digest. No I/O.
 *
 * /state/assignment holds the leader's snapshot: the epoch, the members (live,
 * ready agents with labels and capacity) and the digest of the job shapes the
 * leader saw. Every agent computes the full assignment from the snapshot with
 * sharding/'s pure function; it applies an epoch only when its own job shapes
 * have the same digest, so all agents compute from identical inputs.
 * /agents/<id> holds each agent's record, including the epoch it has applied
 * (its acknowledgement) and the items it still drains. */
#ifndef SC_REGISTRY_PLAN_H
#define SC_REGISTRY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "sharding/shard.h"

struct plan_member {
    char *id;
    char **labels;
    int nlabels;
    int capacity;
    int64_t session; /* the session that owned its node when published (0: unknown) */
};

struct plan_snapshot {
    int64_t epoch;
    char *leader;
    char digest[17]; /* 16 hex digits */
    int64_t created_ms;
    struct plan_member *members; /* sorted by id */
    int nmembers;
    /* members of the previous epoch the leader evicted for not acknowledging
     * it in time (own_evict): their session may still have been alive when
     * their node was deleted, so a new owner of their items waits for their
     * lease to run out (id and session, in the same order) */
    char **evicted;
    int64_t *evicted_session;
    int nevicted;
    /* The leader's bound on every session that had vanished by its listing
     * of /agents whose pzxid is agents_pzxid (own_takeover_in.snap_gone_hi_ms):
     * those it saw vanish started no fire labelled after dead_hi_ms; those
     * that vanished before its own first listing (pzxid view_pzxid) none
     * after view_hi_ms — and none of a job created after that listing.
     * 0: not stated (an older leader). */
    int64_t dead_hi_ms, view_hi_ms, view_pzxid, agents_pzxid;
    /* An epoch with no members after one that had some (or after another
     * such): every session was lost. The publication of the last epoch that
     * had members (the leader's clock); 0 otherwise. Its items' last owners
     * are sessions that are gone: a takeover from it reaches back from here
     * (docs/coordination.md, "Total outages"). */
    int64_t outage_from_ms;
    /* The last moment a leader saw the cluster settled (own_settled), on
     * ZooKeeper's clock as that leader measured it, carried from snapshot
     * to snapshot (the latest one known); 0 none. Every fire before it, less
     * a session timeout, was accounted by an active owner: a takeover that
     * cannot trust its own bounds reaches back here (own_takeover_in.
     * snap_settled_ms), also when every process that saw it is gone. */
    int64_t settled_ms;
};

/* plan_snapshot_parse: 0 or -EINVAL naming the field; *out is the caller's
 * (plan_snapshot_clear) on success and untouched on failure. */
int plan_snapshot_parse(const char *data, int len, struct plan_snapshot *out, struct sc_err *err);
/* plan_snapshot_json: the caller's to free(). */
char *plan_snapshot_json(const struct plan_snapshot *s);
void plan_snapshot_clear(struct plan_snapshot *s);
/* plan_snapshot_copy: a deep copy into *out (the caller's, plan_snapshot_clear);
 * 0 or -ENOMEM (then *out is empty). */
int plan_snapshot_copy(const struct plan_snapshot *s, struct plan_snapshot *out);
/* plan_snapshot_same: same members (ids, labels, capacity) and digest; the epoch
 * and leader are not compared. */
bool plan_snapshot_same(const struct plan_snapshot *a, const struct plan_snapshot *b);
/* plan_members_to_shard: fill `out` (nmembers entries, pointing into s). */
void plan_members_to_shard(const struct plan_snapshot *s, struct shard_agent *out);

/* The job change log (docs/coordination.md, "Job changes"): every rewrite of a
 * job's config and every manual trigger creates, in the same multi-op, a
 * sequential node /state/changes/<kind>-<job>-<10-digit sequence>, kind 'c'
 * (config rewritten) or 't' (trigger created), or, with a workflow's name
 * in place of the job's, 'w' (/workflows/<name> written or deleted:
 * workflow/wfzk.h). Agents watch that one parent
 * instead of every job node. The leader prunes old entries and records the
 * highest pruned sequence as the parent's data ({"pruned_through":N}); an
 * agent that has not seen every entry up to it re-reads all jobs. Creates and
 * deletes of /jobs/<name> are seen through the /jobs children watch. */
#define PLAN_CHANGES "/state/changes"
#define PLAN_TRIGGER_TTL_MS (10 * 60 * 1000) /* a manual trigger is acted on this long */
enum plan_change_kind {
    PLAN_CHANGE_CONFIG = 'c',
    PLAN_CHANGE_TRIGGER = 't',
    PLAN_CHANGE_WORKFLOW = 'w'
};
/* plan_change_prefix: the path to create (ZOO_SEQUENCE) for a change of `job`. */
void plan_change_prefix(char *buf, size_t len, enum plan_change_kind kind, const char *job);
/* plan_change_parse: split an entry name; -EINVAL when it is not one. */
int plan_change_parse(const char *name, enum plan_change_kind *kind, char *job, size_t joblen,
                      int64_t *seq);
/* plan_changes_pruned: the pruned_through of the parent's data (-1 when none). */
int64_t plan_changes_pruned(const char *data, int len);

/* plan_digest: 16 hex digits over the shapes (name, items, strategy, labels)
 * of `jobs`, independent of their order. */
void plan_digest(const struct shard_job *jobs, int njobs, char out[17]);

/* One agent's record (/agents/<id>). */
#define PLAN_RERAN_MAX 8 /* dead sessions a record's reran list keeps */
struct plan_item {
    char *job;
    int item;
    int64_t fire; /* running: scheduled fire time (epoch s); draining: 0 */
};

struct plan_agent_rec {
    char *host;
    int pid;
    char **labels;
    int nlabels;
    int capacity;
    char *version;
    int64_t started_at_ms;
    int64_t session;
    int64_t applied_epoch;
    /* realtime ms at which applied_epoch was applied: items this agent lost in
     * that epoch were stopped then (a fire after it was not started here) */
    int64_t applied_ms;
    int session_ms; /* negotiated session timeout (its lease is half of it) */
    /* with applied_epoch: the lowest window start (realtime ms) of items it
     * lost at that epoch while holding them only pending (own_carry); 0 none */
    int64_t carry_ms;
    /* false: not a member of its applied epoch, so it owns nothing there
     * (records without the field: true) */
    bool member;
    bool ready; /* false: refuses work (reason says why) */
    char *reason;
    int64_t skew_ms;
    struct plan_item *draining; /* lost at the applied epoch, still running here */
    int ndraining;
    struct plan_item *running; /* running for a while (for failover re-runs) */
    int nrunning;
    /* the highest fire label this agent's process has started (any trigger;
     * 0 none): with its applied epoch, it bounds every start of an item it
     * no longer owns there (own_takeover_in.peers_stop_s). Records without
     * the field: 0. */
    int64_t stop_s;
    /* the epoch it applied before applied_epoch in this session (0 none):
     * it held an item it lost at applied_epoch only if it applied the epoch
     * that gave it (own_takeover_in.owner_prev_applied). Records without
     * the field: 0. */
    int64_t prev_applied;
    /* dead sessions whose cut-off runs this agent took over to re-run, the
     * newest last: nobody else re-runs them (docs/coordination.md,
     * "Failover re-runs"). Records without the field: none. */
    int64_t reran[PLAN_RERAN_MAX];
    int nreran;
    /* items this agent holds pending (gained, gate not yet open): the
     * cluster is not settled while any agent holds one (own_settled).
     * Records without the field: 0. */
    int npending;
    /* the oldest fire label queued for capacity (due, not started) since
     * the run queue was last empty; 0 none. A dead agent's queued fires die
     * unrecorded with it: its successor accounts from here
     * (own_takeover_in.owner_backlog_s). Changes only when a backlog starts,
     * ends or gets an older entry. Records without the field: 0. */
    int64_t backlog_s;
    /* the earliest connection break of its process since it last saw the
     * cluster settled (else its last one), on ZooKeeper's clock as it
     * measured it; 0 none. A server restart that another agent did not see
     * (it started later) is one this agent saw: own_gap_merge. Records
     * without the field: 0. */
    int64_t brk_ms;
    /* free share of the disk holding its execution logs, in percent rounded
     * down to a multiple of 5 (changes write the record rarely); -1 not known
     * (records without the field) */
    int log_free_pct;
};

/* plan_reran_has: whether `session` is in a reran list of n entries. */
bool plan_reran_has(const int64_t *list, int n, int64_t session);
/* plan_reran_add: append `session` to a reran list (PLAN_RERAN_MAX entries;
 * the oldest drops out when it is full). False when it is listed already
 * (nothing changes). */
bool plan_reran_add(int64_t *list, int *n, int64_t session);

/* ---- fires between owners (docs/coordination.md) ---- */

enum plan_prev { PLAN_PREV_UNKNOWN, PLAN_PREV_ALIVE, PLAN_PREV_DIED };

/* What an agent that just activated a gained item knows about the item's
 * previous owner (the owner at the epoch it applied before gaining it). Times
 * are realtime ms; skews are "clock minus ZooKeeper's" as agents publish them. */
struct plan_handover {
    int64_t epoch;           /* the epoch applied now */
    int64_t prev_epoch;      /* the epoch applied before gaining the item */
    int64_t prev_created_ms; /* its publication (the leader's clock) */
    int64_t snap_created_ms; /* the publication of the epoch applied now */
    int session_ms;          /* our session timeout */
    int max_skew_ms;         /* the clock skew agents tolerate */
    int64_t skew_ms;         /* ours */
    enum plan_prev prev;     /* UNKNOWN: no record of it at all */
    /* PLAN_PREV_DIED: the session that owned the item ended */
    int64_t gone_ms;      /* when we saw its node vanish (0 = not seen) */
    int owner_session_ms; /* its session timeout from its last record (0 = unknown) */
    int64_t owner_skew_ms;
    /* PLAN_PREV_ALIVE: from its record now */
    int64_t owner_epoch, owner_applied_ms;
};

#define PLAN_HANDOVER_LAG_MS 1000 /* the previous owner's loop lag; a server tick */
#define PLAN_CLOCK_ERR_MS 500     /* two skew measurements, each within half a round trip */

/* plan_handover_window: fires f with f*1000 > *lo_ms had no owner unless the
 * previous owner ran them; those with f*1000 > *hi_ms (its clock) were not
 * started by it. hi >= lo. Pure. */
void plan_handover_window(const struct plan_handover *h, int64_t *lo_ms, int64_t *hi_ms);

int plan_agent_parse(const char *data, int len, struct plan_agent_rec *out, struct sc_err *err);
char *plan_agent_json(const struct plan_agent_rec *r);
void plan_agent_clear(struct plan_agent_rec *r);

#endif
