/* agent/sched.h: the scheduler of one agent.
 *
 * Holds the shard items this agent owns, each with its own next-fire rule
 * (a callback, so cron lives elsewhere), and decides what runs when: one
 * min-heap of next fire times and one timer armed for the earliest, fired on
 * the wall-clock second (the timer is armed from CLOCK_REALTIME and the clock
 * is re-read on every wake-up, so load delays a fire but never shifts the
 * schedule). It applies the misfire policy (late fires, wall-clock jumps), the
 * concurrency policy (forbid/allow/replace), the agent's capacity (FIFO queue),
 * retries with exponential backoff, manual and failover triggers, and reports
 * every state change through one callback.
 *
 * The scheduler never starts processes itself: a `struct sched_runner` does
 * (agent/runner.c plugs in the shell runner of agent/exec.h and the Java worker
 * of agent/javaw.h; unit tests plug in a fake). The clock is injectable.
 *
 * Pre-arming (opts.prearm_ms > 0 and a runner with prepare/release/cancel):
 * the next cron fire of an item due within prearm_ms gets its run (execution
 * id, environment) and its held process ahead of time, so that at the
 * scheduled instant the runner only releases it. At most `capacity` runs are
 * running, queued or armed at once. An armed run that does not become a
 * started run at its instant (missed, paused, skipped by forbid, the item
 * changed, removed or killed, the clock jumped back) is cancelled: nothing
 * ran, nothing is reported for it beyond what the fire itself gets (the
 * skipped fire keeps the armed run's execution id). STARTED's started_ms is
 * the release.
 *
 * Threading: everything runs on the loop thread. The event callback must not
 * add, update, remove, trigger or kill synchronously (defer it on the loop). */
#ifndef SC_SCHED_H
#define SC_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/exec.h"
#include "agent/fence.h"
#include "core/err.h"

struct job_env;
struct wfctx;

struct event_base;
struct sched;

#define SCHED_MISFIRE_MAX 100 /* "all" runs at most this many missed fires per catch-up */

struct sched_clock {
    int64_t (*now_real_ms)(void *ctx); /* epoch milliseconds, CLOCK_REALTIME */
    int64_t (*now_mono_ms)(void *ctx); /* CLOCK_MONOTONIC milliseconds */
    void *ctx;
};

enum sched_misfire { SCHED_MISFIRE_SKIP = 0, SCHED_MISFIRE_ONCE, SCHED_MISFIRE_ALL };
enum sched_concurrency { SCHED_CONC_FORBID = 0, SCHED_CONC_ALLOW, SCHED_CONC_REPLACE };
enum sched_job_type { SCHED_JOB_SHELL = 0, SCHED_JOB_JAVA };

/* Next fire strictly after `after` (epoch seconds), or -1 for none. */
typedef int64_t (*sched_next_fn)(void *ctx, int64_t after);
/* UTC offset in seconds of the job's zone at `t` (for SHARDCRON_FIRE_TIME). */
typedef int (*sched_offset_fn)(void *ctx, int64_t t);

/* One shard item as the agent owns it. Strings are copied by sched_item_put. */
struct sched_item_conf {
    const char *job;
    int item;  /* shard item, 0..total-1 */
    int total; /* shard count */
    const char *shard_param;
    const char *job_param;
    enum sched_job_type type;
    const char *command; /* shell */
    const char *cwd;
    const char *java_classpath, *java_class, *jvm_opts; /* java */
    const struct job_env *env; /* the job's "env" (shell), nenv entries; copied */
    int nenv;
    int timeout_s;       /* 0 = none */
    int retries;         /* extra attempts after a failure or timeout */
    int retry_backoff_s; /* first retry delay; doubles each attempt (capped at 1 h) */
    enum sched_misfire misfire;
    enum sched_concurrency concurrency;
    int misfire_threshold_ms; /* later than this is a misfire; 0 = 5000 */
    sched_next_fn next;       /* NULL: no schedule, the item runs only when triggered */
    sched_offset_fn offset;   /* NULL = UTC */
    void *ctx;                /* for next/offset; owned by the scheduler after a successful put */
    void (*ctx_free)(void *ctx);
    int64_t
        fire_after; /* first fire strictly after this epoch second; 0 = after the current second */
};

/* What a runner is asked to start; valid during start() only. */
struct sched_launch {
    const struct sched_item_conf *conf; /* the item's configuration when the run was created */
    const char *exec_id;
    enum exec_trigger trigger;
    int attempt;
    int64_t fire_time;         /* the scheduled second */
    const char *fire_time_iso; /* ISO 8601 with the zone's offset */
    const char *job_param;     /* conf's, or a manual trigger's override */
    int64_t epoch;             /* the coordination epoch it starts under (sched_opts.epoch) */
    const char *fence;         /* agent_fence_format(fire_time, epoch, attempt); "" if it
                                  does not fit (SHARDCRON_FENCE, the history row's fence) */
    const struct wfctx *wf;    /* a workflow task's run (sched_trigger_wf), else NULL */
};

/* A runner starts an execution and later calls sched_run_done(token, result)
 * exactly once, from the loop and never from inside start(). start returns 0
 * with *handle set, or a negative errno with err filled (nothing started):
 * -EAGAIN means "not ours to start now" (the agent cannot prove it owns the
 * item), reported MISSED and never retried; any other error fails the run. */
struct sched_runner {
    int (*start)(void *ctx, const struct sched_launch *l, void *token, void **handle,
                 struct sc_err *err);
    int (*kill)(void *ctx, void *handle, const struct sched_item_conf *conf, const char *reason);
    void *ctx;
    /* Optional pre-arming, all three or none. prepare: like start, but what it
     * creates must not run until release (0 with *handle, or a negative errno:
     * the fire starts the ordinary way at its instant). release: run it now;
     * 0 = running, sched_run_done(token) follows exactly once as after start;
     * negative = the held process was lost and the runner has dropped it,
     * nothing ran: the scheduler calls start. cancel: drop a prepared run that
     * will not be released; sched_run_done is never called for it. */
    int (*prepare)(void *ctx, const struct sched_launch *l, void *token, void **handle,
                   struct sc_err *err);
    int (*release)(void *ctx, void *handle, const struct sched_item_conf *conf, int64_t fire_time);
    void (*cancel)(void *ctx, void *handle, const struct sched_item_conf *conf);
    /* Optional: the process group of a started run (0 = none or not known
     * yet), given as STARTED's pid (the agent's watchdog guards it). */
    int (*pid)(void *ctx, void *handle, const struct sched_item_conf *conf);
};

void sched_run_done(void *token, const struct exec_result *res);

enum sched_ev_type {
    SCHED_EV_QUEUED,     /* waiting for capacity (or for the pause to end) */
    SCHED_EV_STARTED,    /* queued_ms and started_ms (when the runner took it) show the wait;
                            FINISHED's started_ms is when the process was actually created */
    SCHED_EV_FINISHED,   /* status, exit code, signal, output tail */
    SCHED_EV_SKIPPED,    /* not run: forbid overlap, replaced while queued, removed, killed */
    SCHED_EV_MISSED,     /* a due fire that did not run: late past the threshold, paused */
    SCHED_EV_CLOCK_JUMP, /* wall clock moved jump_ms against the monotonic clock */
    SCHED_EV_PAUSED,     /* a cron or catch-up fire inside a pause window (opts.paused): not run */
};

struct sched_event {
    enum sched_ev_type type;
    const char *job;
    int item, total;
    const char *exec_id; /* every event of a fire carries one (missed and skipped too) */
    enum exec_trigger trigger;
    enum exec_trigger origin; /* the first attempt's trigger: a retry of a failover re-run
                                 is EXEC_TRIGGER_RETRY with origin EXEC_TRIGGER_FAILOVER */
    int attempt;
    int64_t fire_time; /* scheduled epoch second */
    const char *fire_time_iso;
    int64_t queued_ms, started_ms, finished_ms; /* wall clock, 0 when not reached */
    int64_t duration_ms;
    enum exec_status status; /* FINISHED only */
    int exit_code, signal;
    int pid;                 /* STARTED (when the runner knows it) and FINISHED */
    const char *output_tail; /* FINISHED only */
    const char *reason;      /* "" or a sentence: why skipped/missed/killed/failed */
    int64_t jump_ms;         /* CLOCK_JUMP only: positive = forward */
    /* STARTED and FINISHED only (the run was handed to the runner): the launch's
     * epoch and fence; other events 0 and "" (a fire that did not run has none). */
    int64_t epoch;
    const char *fence;
    /* Workflow runs (sched_trigger_wf). wf: the context text, on every event
     * of the run; NULL for other runs. FINISHED only: xcom, the JSON the
     * item wrote to SHARDCRON_XCOM_OUT (NULL: none, or refused: then status
     * is failed and reason says why); captured, its stdout when the context
     * asked for capture (NULL otherwise, or when over WF_XCOM_MAX bytes). */
    const char *wf;
    const char *xcom;
    const char *captured;
    /* FINISHED, SKIPPED, MISSED: no later event of this run will follow (it
     * succeeded, or no retry is left, or it was killed, dropped or refused).
     * A FINISHED with final false is followed by the retry's events. */
    bool final;
};

typedef void (*sched_event_cb)(const struct sched_event *ev, void *arg);

struct sched_opts {
    int capacity;          /* executions at once; 0 = 16 */
    int jump_threshold_ms; /* real vs monotonic disagreement that counts as a jump; 0 = 1000 */
    const struct sched_clock *clock; /* NULL = the system clocks */
    struct sched_runner runner;
    sched_event_cb on_event;
    void *event_arg;
    int prearm_ms; /* create processes this long before their cron fire; 0 = off */
    /* Optional: the coordination epoch now, read when a run's process is
     * created (start, or prepare for a pre-armed run) and carried in its
     * launch, its fence and its STARTED/FINISHED events. NULL = 0. */
    int64_t (*epoch)(void *ctx);
    void *epoch_ctx;
    /* Optional: the oldest fire label queued for capacity (due, not started;
     * retries excluded) since the queue was last empty, 0 when it empties.
     * Called only when a backlog starts, ends or gets an older entry, never
     * once per fire (the agent publishes it: plan_agent_rec.backlog_s). */
    void (*on_backlog)(void *ctx, int64_t oldest_s);
    void *backlog_ctx;
    /* Optional: whether the fires of (job, item), an item this agent lost,
     * are still this agent's to report (sched_item_hand, sched_owe): asked
     * after each batch of its due fires is reported. NULL: nothing is owed. */
    bool (*owes)(void *ctx, const char *job, int item);
    void *owes_ctx;
    /* Optional: whether a pause window (core/pause.h) holds this cron or
     * catch-up fire of conf's item; true with `why` filled: the fire is
     * reported SCHED_EV_PAUSED (final) and not run. Also asked before a fire
     * is reported MISSED (late, between owners, while the session is in
     * doubt): one inside a window is reported PAUSED instead. Manual,
     * failover and workflow runs are not asked. A deferring window arranges
     * its one later run itself (sched_trigger with EXEC_TRIGGER_MISFIRE at the
     * window's end, which asks again). */
    bool (*paused)(void *ctx, const struct sched_item_conf *conf, int64_t fire_time, char *why,
                   size_t len);
    void *paused_ctx;
};

/* sched_new: `base` may be NULL (no timer: the caller drives sched_tick(),
 * as unit tests do). opts is copied. */
int sched_new(struct event_base *base, const struct sched_opts *opts, struct sched **out);

/* sched_free: drops every item and run without calling the runner or the
 * event callback. Free the runner first (or let runs finish): a runner must
 * not call sched_run_done() after this. */
void sched_free(struct sched *s);

/* sched_item_put: add or replace the item (job, item). A change takes effect
 * at the next fire, recomputed with the new rule from the last fire (never a
 * second run of a fire time already started). Runs in progress keep the
 * configuration they started with. -EINVAL with err for a bad conf; on error
 * the previous configuration (if any) stays and conf->ctx is not taken. */
int sched_item_put(struct sched *s, const struct sched_item_conf *conf, struct sc_err *err);

/* sched_item_remove: stop firing; fires already due by the clock that the
 * scheduler has not handled yet are reported SKIPPED ("removed from this
 * agent before its turn", at most SCHED_MISFIRE_MAX), queued runs and pending
 * retries are dropped (SKIPPED, "removed"); a running execution is killed when
 * `kill`, else left to finish (its FINISHED event still comes). -ENOENT when
 * unknown. */
int sched_item_remove(struct sched *s, const char *job, int item, bool kill);

/* sched_item_drop: as sched_item_remove (without kill), but the fires due and
 * not handled yet are reported MISSED with `why` (the session was lost: they
 * came due while this agent could not handle them). -ENOENT when unknown. */
int sched_item_drop(struct sched *s, const char *job, int item, const char *why);
/* sched_batch_begin/sched_batch_end: removals between them (sched_item_remove,
 * sched_item_drop, sched_item_hand) re-check the backlog and re-arm the
 * timer once, at the end, instead of once each: losing 40,000 items at an
 * apply is one pass, not 40,000. */
void sched_batch_begin(struct sched *s);
void sched_batch_end(struct sched *s);

/* sched_item_hand: (job, item) was lost to another agent: removed as by
 * sched_item_remove (running executions left to finish), but its later fires
 * are reported MISSED with `why` as they come due, for as long as opts.owes
 * says so (its new owner is not there yet) or until it is put again.
 * -ENOENT when unknown. */
int sched_item_hand(struct sched *s, const char *job, int item, const char *why);
/* sched_owe: an item this agent held without scheduling it (pending) is lost:
 * its fires f with f*1000 > lo_ms up to now are reported MISSED with
 * `window_why` (the newest SCHED_MISFIRE_MAX, one more report standing for
 * older ones), then, when `why` is not NULL, its later fires as with
 * sched_item_hand. conf->ctx is the scheduler's on success. Returns how many
 * fires were reported, or -EINVAL with err for a bad conf. */
int sched_owe(struct sched *s, const struct sched_item_conf *conf, int64_t lo_ms,
              const char *window_why, const char *why, struct sc_err *err);
/* sched_owed_clear: forget every owed item (the session was lost: nothing
 * handed over from it is this agent's any more). sched_owed: how many. */
void sched_owed_clear(struct sched *s);
/* sched_owed_recheck: coordination changed: the next tick asks owes() of
 * every owed item (otherwise only of those whose fire is due). */
void sched_owed_recheck(struct sched *s);
int sched_owed(const struct sched *s);
/* sched_trigger: a manual or failover run (or any trigger) of an owned item,
 * through the same path as a cron fire (concurrency, capacity, retries).
 * fire_time 0 = now. job_param NULL = the item's. exec_id_out (may be NULL,
 * >= EXEC_ID_LEN+1) receives the new execution id, also when the fire was
 * skipped by the concurrency policy. -ENOENT when the item is not owned here. */
int sched_trigger(struct sched *s, const char *job, int item, enum exec_trigger trigger,
                  int64_t fire_time, const char *job_param, char *exec_id_out);

/* sched_trigger_wf: as sched_trigger(..., EXEC_TRIGGER_MANUAL, now, ...) for
 * a workflow task's item: wf_json is the context (agent/wfctx.h), kept with
 * the run through the queue and its retries, given to the runner in
 * sched_launch.wf and carried in every event of the run (sched_event.wf).
 * -EINVAL when wf_json is not a valid context (nothing is run or reported),
 * -ENOENT when the item is not owned here. */
int sched_trigger_wf(struct sched *s, const char *job, int item, const char *job_param,
                     const char *wf_json, char *exec_id_out);

/* sched_kill_wf: stop the runs of (job, item) that belong to workflow run
 * run_id: a running one is killed through the runner (FINISHED, status
 * killed, reason "cancelled by the workflow", final), queued and
 * retry-waiting ones are dropped (SKIPPED, same reason, final). Returns how
 * many runs it stopped (0 when none, or the item is unknown). */
int sched_kill_wf(struct sched *s, const char *job, int item, const char *run_id);
#define SCHED_WF_CANCELLED "cancelled by the workflow"

/* sched_item_account: (job, item) was just added because this agent took it
 * over; its fires since the previous owner stopped, up to the item's floor
 * (its own schedule starts after it), had no owner. Fires f with
 * f*1000 > lo_ms are accounted: those with f*1000 <= hi_ms may have been
 * started by the previous owner and are only reported MISSED (the previous
 * owner's report of a run wins in the history); later ones are missed fires
 * under the item's misfire policy (skip: MISSED; once: the latest runs with
 * trigger misfire, the others MISSED; all: each runs), at most
 * SCHED_MISFIRE_MAX of them: the newest (nearest the floor); one more MISSED
 * report at the newest fire left out stands for the older ones. `why` goes
 * into the reasons ("taken over from a2"). Returns how many fires were
 * accounted, -ENOENT when unknown. */
int sched_item_account(struct sched *s, const char *job, int item, int64_t lo_ms, int64_t hi_ms,
                       const char *why);

/* sched_kill_item / sched_kill_all: kill running executions (status killed,
 * `reason`), drop queued runs and pending retries (SKIPPED). Items stay.
 * Return how many executions were killed. */
int sched_kill_item(struct sched *s, const char *job, int item, const char *reason);
int sched_kill_all(struct sched *s, const char *reason);

/* sched_set_paused: while paused nothing starts; due fires are MISSED
 * ("paused"), queued runs wait. For a session that cannot be proven alive. */
void sched_set_paused(struct sched *s, bool paused);

/* sched_tick: process everything due at the clock's now and re-arm the timer.
 * Called by the timer; tests call it after moving their clock. */
void sched_tick(struct sched *s);

/* sched_next_wake_ms: the delay the timer is (or would be) armed with. */
int64_t sched_next_wake_ms(struct sched *s);

/* Introspection (status page, tests). */
int sched_items(const struct sched *s);
int sched_running(const struct sched *s);
int sched_queued(const struct sched *s);
int sched_armed(const struct sched *s); /* pre-armed runs waiting for their instant */
/* Pre-arming counters since sched_new: processes prepared, released at their
 * instant, cancelled, and lost (gone before their release: started afresh). */
struct sched_prearm_stats {
    int64_t armed, released, cancelled, lost;
};
void sched_prearm_stats(const struct sched *s, struct sched_prearm_stats *out);
/* sched_item_next: next fire time of an item, -1 none, -ENOENT unknown. */
int64_t sched_item_next(const struct sched *s, const char *job, int item);
/* sched_item_active: queued + running + waiting-to-retry runs of an item. */
int sched_item_active(const struct sched *s, const char *job, int item);
/* sched_item_running: runs of an item whose process is running (what an
 * item handed to another agent still drains; queued and retry-waiting runs
 * are dropped when the item is removed). */
int sched_item_running(const struct sched *s, const char *job, int item);

const char *sched_ev_name(enum sched_ev_type t);
int sched_parse_misfire(const char *s);     /* -1 unknown */
int sched_parse_concurrency(const char *s); /* -1 unknown */

#endif
