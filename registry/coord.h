/* registry/coord.h: an agent's side of the coordination protocol (docs/coordination.md).
 *
 * Owns the agent's ZooKeeper presence: its ephemeral record under /agents, its
 * election node, the caches of /agents and /jobs kept current by watches, the
 * snapshot published by the leader, and — while this agent leads — publishing
 * new snapshots with fenced writes. From the snapshot it computes which shard
 * items are this agent's, and it decides when a gained item may start (every
 * live agent has acknowledged the epoch and nobody still drains the item).
 *
 * Everything runs on the owner's event loop. The agent's scheduler reads the
 * result through coord_foreach_item() after each on_change callback and tells
 * coord which lost items are still running (coord_set_draining). */
#ifndef SC_REGISTRY_COORD_H
#define SC_REGISTRY_COORD_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/job.h"
#include "registry/own.h"
#include "registry/zk.h"

struct coord;
struct pausecache;

enum coord_item_state { COORD_NONE = 0, COORD_PENDING = 1, COORD_ACTIVE = 2 };

struct coord_opts {
    const char *id;
    const char *host;
    const char *const *labels;
    int nlabels;
    int capacity;
    int max_clock_skew_ms;
    /* on_change: owned items, job configs or the ability to start work changed. */
    void (*on_change)(void *ctx);
    /* on_lost: the session is gone or presumed gone: kill every running execution
     * now; coord has already dropped every item. */
    void (*on_lost)(void *ctx);
    /* on_fatal: the agent must not run (e.g. its id is taken by a live agent). */
    void (*on_fatal)(void *ctx, const char *why);
    /* is_running: whether an execution of (job, item) is running right now. */
    bool (*is_running)(void *ctx, const char *job, int item);
    /* on_trigger: a manual trigger of `cfg` (param NULL = the job's own) claimed
     * by this agent for `item` (ACTIVE here): queue its run now. wf: NULL, or
     * the workflow context of a task's trigger (JSON text, docs/workflows.md).
     * 0, or a negative errno when it could not be queued (then
     * on_trigger_unrun, with the wf context of a workflow trigger). */
    int (*on_trigger)(void *ctx, const struct job *cfg, int item, const char *param,
                      const char *wf);
    /* on_trigger_unrun: trigger `name` (created at ctime_ms, server clock) of
     * (job, item) will not run: record why, for the operator. Optional. */
    void (*on_trigger_unrun)(void *ctx, const char *job, int item, const char *name,
                             int64_t ctime_ms, const char *why, const char *wf);
    void *ctx;
};

/* An extension on coord's session and loop (the workflow driver and the
 * reporting of workflow items, agent/wfdrive.c): it issues its own requests
 * through coord_zk() and gets the watch events of paths it owns. */
struct coord_ext {
    /* on_watch: a watch fired on `path`; true when the path is the ext's. */
    bool (*on_watch)(void *ctx, int type, const char *path);
    /* on_change: the session, the leadership or the agents may have changed
     * (coord_is_leader, coord_can_start, coord_session_alive). */
    void (*on_change)(void *ctx);
    void (*on_tick)(void *ctx); /* every second */
    /* on_entry: a change-log entry of a kind coord does not follow (e.g. 'w'
     * for a workflow) was listed: kind, and the name it names. */
    void (*on_entry)(void *ctx, char kind, const char *name);
    void *ctx;
};
void coord_set_ext(struct coord *c, const struct coord_ext *e);
/* coord_elect_path: this agent's election node ("" when none): the node every
 * leader write is conditioned on (a ZKOP_CHECK at version -1). */
const char *coord_elect_path(const struct coord *c);
/* coord_session_alive: agent `id` is live in this agent's view with session
 * `session` (the session a claim names: coord_claim_owner). */
bool coord_session_alive(const struct coord *c, const char *id, int64_t session);
/* coord_claim_owner: the agent and session of a trigger claim's data. */
int coord_claim_owner(const char *data, int len, char *id, size_t idlen, int64_t *session);
/* Workflow triggers are named "w-<seq>" (manual ones "t-<seq>"): coord claims
 * and runs their items like manual triggers, but leaves their removal and
 * the reporting of what nobody ran to the workflow driver. Their data is
 * {"wf":{...},"items":[...]}: the context given to on_trigger, and the items
 * to run (all when absent). */
#define COORD_WF_TRIGGER_PREFIX "w-"

/* coord_open: connects (zk settings in `zo`; its callbacks are coord's own) and
 * registers. The handle is the caller's (coord_close). */
int coord_open(struct event_base *base, const struct zkreg_opts *zo, const struct coord_opts *o,
               struct coord **out, struct sc_err *err);
/* coord_close: closes the session (the record and election node vanish at once). */
void coord_close(struct coord *c);

/* coord_can_start: new executions may start (session connected, registered,
 * clock within bounds). */
bool coord_can_start(const struct coord *c);
bool coord_is_leader(const struct coord *c);
int64_t coord_epoch(const struct coord *c);         /* newest snapshot seen */
int64_t coord_applied_epoch(const struct coord *c); /* snapshot applied */
struct zkreg *coord_zk(struct coord *c);

/* coord_generation: changes whenever an item's state or a job's config may
 * have changed; equal values mean coord_foreach_item would report the same. */
uint64_t coord_generation(const struct coord *c);
/* coord_calendar: the business calendar `name` (registry/calcache.h), borrowed
 * until the next coordination change (calendar_ref to keep it); NULL when
 * there is none (or it is invalid). A calendar change bumps coord_generation. */
struct calendar *coord_calendar(const struct coord *c, const char *name);
/* coord_calendars_gen: changes whenever any calendar appears, changes or goes. */
uint64_t coord_calendars_gen(const struct coord *c);

/* coord_foreach_item: calls fn for every item in state PENDING or ACTIVE. */
void coord_foreach_item(struct coord *c,
                        void (*fn)(void *arg, const struct job *cfg, int item,
                                   enum coord_item_state st),
                        void *arg);
enum coord_item_state coord_item_state(const struct coord *c, const char *job, int item);
/* What a takeover of (job, item) leaves to the new owner's scheduler
 * (docs/coordination.md, "Fires between owners"; own_takeover). */
struct coord_takeover {
    int64_t lo_ms, hi_ms; /* fires after lo had no owner unless the previous one ran them
                           * (up to hi, the previous owner's clock); after hi none */
    int64_t first_s;      /* the first fire label that is ours */
    char why[200];        /* names the previous owner */
};
/* coord_take_handover: (job, item) became active here (after another agent,
 * an earlier session of ours, or no known owner). True once per takeover
 * (consumed); false when there is nothing to account (not active, or taken). */
bool coord_take_handover(struct coord *c, const char *job, int item, struct coord_takeover *out);
/* coord_take_rerun: (job, item) is active here after a takeover from a
 * session that died with a run of it cut off, this agent's record claims
 * that session's re-runs ("reran") and ZooKeeper has acknowledged a write of
 * it: *fire is the run to re-run once (trigger failover), *session the dead
 * session. True once per takeover; until then coord_may_start refuses the
 * re-run. Call it on every change (on_change) for active items. */
bool coord_take_rerun(struct coord *c, const char *job, int item, int64_t *fire, int64_t *session);
/* coord_may_start: the one ownership check at the instant a run starts: the
 * session is provably alive, the item is active here, and the fire is ours
 * (own_may_start: at or after the item's first own fire; a failover re-run
 * only of the fire its takeover named). A yes is taken as a start: the fire
 * label counts in the highest label this agent started (its record's stop_s,
 * written with the next record write). */
bool coord_may_start(struct coord *c, const char *job, int item, int64_t fire,
                     enum own_trigger trig);
const struct job *coord_job(const struct coord *c, const char *name);
/* coord_pauses: the pause windows as last read (registry/pausecache.h). */
const struct pausecache *coord_pauses(const struct coord *c);
/* coord_job_version: changes whenever the job's config is rewritten (its mzxid). */
int64_t coord_job_version(const struct coord *c, const char *name);

/* coord_job_eligible: the number of agents eligible for the job (labels) in
 * the assignment this agent applied; 0 means no live agent may run it. -1 when
 * nothing is applied yet or the job is not in it (invalid, or newer than the
 * applied epoch). */
int coord_job_eligible(const struct coord *c, const char *job);
/* coord_foreach_job: calls fn for every job with a valid config (disabled ones
 * included); the config is coord's, valid until the callback returns. */
void coord_foreach_job(struct coord *c, void (*fn)(void *arg, const struct job *cfg), void *arg);

/* coord_set_running: the items running for a while here, published (at most
 * once a second) so that a survivor can re-run them if this agent dies. The
 * array is copied. */
void coord_set_running(struct coord *c, const char *const *jobs, const int *items,
                       const int64_t *fires, int n);

/* coord_run_ended: a run of (job, item) for `fire` ended here: if the record
 * lists it as running, it is rewritten at once (not at the next second), so a
 * survivor of our death never re-runs a run that had finished. */
void coord_run_ended(struct coord *c, const char *job, int item, int64_t fire);

/* An item this agent lost (docs/coordination.md, "Fires between owners"). */
struct coord_loss {
    const char *job; /* NULL: a marker: every item was dropped (what was handed
                      * over before is no longer ours to account) */
    int item;
    bool pending;  /* held pending (never scheduled here) */
    int64_t lo_ms; /* pending: the window start of its fires (0 unknown) */
    /* NULL: lost to another agent (ours to account until it is there:
     * coord_owes); else every item was dropped (session lost, evicted): why */
    const char *dropped;
};
/* coord_take_losses: calls fn for every item lost since the last call, in
 * order, and forgets them. Strings are valid during the call. */
void coord_take_losses(struct coord *c, void (*fn)(void *arg, const struct coord_loss *l),
                       void *arg);
/* coord_owes: whether the fires of (job, item), an item this agent lost, are
 * still its to account: until the owner in our applied assignment is an alive
 * peer, in the session the snapshot names, whose record shows it applied our
 * epoch (or a later one) — or the item is ours again or no longer assigned. */
bool coord_owes(const struct coord *c, const char *job, int item);

/* coord_set_backlog: the scheduler's backlog changed: the oldest fire label
 * queued for capacity since its queue was last empty (0: it emptied). Written
 * with the record (backlog_s): a successor of our death accounts our queued
 * fires from there, and the cluster is not settled while any agent has one. */
void coord_set_backlog(struct coord *c, int64_t oldest_s);

/* coord_clock_suspect: the wall clock jumped: refuse work until a fresh clock
 * check against ZooKeeper passes (started at once). */
void coord_clock_suspect(struct coord *c);

/* coord_set_draining: an item this agent lost is still running (true) or has
 * stopped (false); published in the agent record so the new owner waits. */
void coord_set_draining(struct coord *c, const char *job, int item, bool draining);

/* coord_status: the /status fields owned by coordination (id, leader, session,
 * epoch, applied_epoch, owned, pending, ready, reason, skew_ms) added to `o`. */
void coord_status(const struct coord *c, cJSON *o);

struct coord_stats {
    int64_t epochs_applied, publishes, deposed, sessions_lost, invalid_jobs, jobs, agents_alive;
    int64_t evictions; /* members this agent evicted as leader */
    int64_t owned_items, pending_items, draining_items;
    int64_t skew_ms;
};
void coord_stats(const struct coord *c, struct coord_stats *s);

#endif
