/* sql/hist_alert.h: alert evaluation — what becomes a notice — and the
 * webhooks that announce notices (docs/alerts.md "Evaluation").
 *
 * The coordination leader runs this (agent/maint.c): a thread with its own
 * MySQL connection calls hist_alert_eval every alert interval with a
 * hist_alert_state it keeps for its term as leader; the notices it returns are
 * filtered against each job's `alert` settings on the agent's loop and handed
 * to a hist_hooks sender. Nothing here blocks the caller's event loop.
 *
 * Conditions, each an alert_event row while open:
 *   failed | timeout | missed   the newest such execution of a (job, item) in the
 *                               last 24 h that no later success cleared
 *                               (HIST_UNRESOLVED_SQL: a later fire, or a retry);
 *   no_agent | no_failover | agent
 *                               given by the caller from the leader's ZooKeeper
 *                               view (hist_alert_cond), open while listed;
 *   run_failed | run_overdue | task_failed | sensor_late
 *                               a workflow's newest finished run failed (over its
 *                               timeout_s: run_overdue), until a later run
 *                               succeeds; a task failed after its retries
 *                               (task_failed; a sensor that timed out:
 *                               sensor_late), in a run ended or still going on,
 *                               until that run or a later one succeeds.
 * Evaluation is incremental: the first call of a state rebuilds it from the
 * open alert_event rows and one bounded (24 h) query; later calls read only the
 * status changes recorded since (job_status_trace.seq past the high-water mark)
 * and the workflow runs ended since.
 *
 * Notices are per group — (kind, job), (kind, agent), (kind, workflow, task) —
 * not per item: a group's first open condition starts a grouping window
 * (group_ms) and one "open" notice counts what opened in it; more items of an
 * open group give no notice; a "reminder" comes every reminder_s while the
 * group is open; a "resolve" (recovered) when its last condition clears. */
#ifndef SC_HIST_ALERT_H
#define SC_HIST_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/job.h"
#include "sql/db.h"

#define HIST_ALERT_MAX 2000 /* conditions read by a rebuild, and given by the caller */
#define HIST_ALERT_AGENT_MAX 130
#define HIST_ALERT_TASK_MAX 72

struct hist_alert_notice {
    unsigned long long id;      /* alert_event.id (of the group's first open row) */
    char event[10];             /* open | resolve | reminder */
    char kind[12];              /* failed | timeout | missed | no_agent | no_failover | agent |
                                   run_failed | run_overdue | task_failed | sensor_late */
    char job[JOB_NAME_MAX + 1]; /* the job, or the workflow; "" for kind agent */
    int item;                   /* -1 when not about one item (count > 1, or no item) */
    char execution_id[80];      /* "" when none; a workflow run's id for workflow kinds */
    char fire[32];              /* "YYYY-MM-DD HH:MM:SS.fff" UTC, "" when none */
    char message[200];
    /* grouping (added after the fields above; readers of those are unchanged) */
    unsigned count; /* conditions the notice stands for: items open (open, reminder),
                       items that were open (resolve); >= 1 */
    bool recovered; /* event resolve: nothing of the group is open any more */
    char agent[HIST_ALERT_AGENT_MAX]; /* kind agent: the agent's id */
    char task[HIST_ALERT_TASK_MAX];   /* task_failed, sensor_late: the task */
    char items[160];                  /* the first items, "0,1,2" ("" when none) */
};

/* A condition the caller knows from elsewhere (the leader's ZooKeeper view). */
struct hist_alert_cond {
    char kind[12]; /* no_agent | no_failover | agent */
    char job[JOB_NAME_MAX + 1];
    char agent[HIST_ALERT_AGENT_MAX];
    char message[200];
};

struct hist_alert_opts {
    int reminder_s; /* >= 1 */
    int group_ms;   /* grouping window; 0: a group's open notice goes at its first cycle */
};

/* hist_alert_state: one leader term's conditions and high-water marks. The
 * caller's (hist_alert_state_free); drop it when leadership or the connection
 * is lost, or hist_alert_eval failed: the next state rebuilds from MySQL. */
struct hist_alert_state;
int hist_alert_state_new(struct hist_alert_state **out);
void hist_alert_state_free(struct hist_alert_state *s);

/* hist_alert_eval: one evaluation (see the file comment) at now_ms (realtime).
 * ext lists the caller's conditions (next of them, the first HIST_ALERT_MAX
 * used); NULL when they are not known (not leader long enough, nothing
 * applied): their kinds are then neither opened nor resolved. *out (the
 * caller's to free(), NULL when *n is 0) lists the notices decided. 0, or -EIO
 * / -ENOMEM with err set (drop the state; for -EIO the connection too). */
int hist_alert_eval(MYSQL *m, struct hist_alert_state *s, const struct hist_alert_opts *o,
                    int64_t now_ms, const struct hist_alert_cond *ext, size_t next,
                    struct hist_alert_notice **out, size_t *n, struct sc_err *err);

/* hist_alert_state_counts: conditions open and high-water mark (tests, bench). */
void hist_alert_state_counts(const struct hist_alert_state *s, size_t *conds, size_t *groups,
                             unsigned long long *seq);

/* ---------------------------------------------------------------- grouping
 * The notice logic on its own (no MySQL): hist_alert_eval feeds it every
 * condition that opens or clears, then takes the notices due. */
struct hist_alert_groups;
int hist_alert_groups_new(struct hist_alert_groups **out);
void hist_alert_groups_free(struct hist_alert_groups *g);
/* hist_alert_group_open: condition c (kind, job, agent, task, item, id,
 * execution, fire, message) is open. announced: a notice of its group went out
 * at notified_ms already (a rebuild); otherwise its group's window starts now
 * if the group was closed. 0 or -ENOMEM. */
int hist_alert_group_open(struct hist_alert_groups *g, const struct hist_alert_notice *c,
                          bool announced, int64_t notified_ms, int64_t now_ms);
/* hist_alert_group_clear: condition c (as given to _open) cleared. */
void hist_alert_group_clear(struct hist_alert_groups *g, const struct hist_alert_notice *c);
/* hist_alert_group_take: the notices due at now_ms, appended to *out (*n
 * entries, realloc'd; the caller's to free). 0 or -ENOMEM. */
int hist_alert_group_take(struct hist_alert_groups *g, const struct hist_alert_opts *o,
                          int64_t now_ms, struct hist_alert_notice **out, size_t *n);
size_t hist_alert_groups_len(const struct hist_alert_groups *g);

/* hist_alert_about_job: the notice is about a job (else an agent or a workflow). */
bool hist_alert_about_job(const struct hist_alert_notice *n);

/* hist_alert_wanted: the job has a webhook and its alert.on covers the kind
 * (no_agent counts as "missed": none of the job's fires can run; no_failover
 * needs "no_failover" in alert.on). */
bool hist_alert_wanted(const struct job *j, const struct hist_alert_notice *n);

/* hist_alert_payload: the webhook body (JSON), the caller's to free; NULL on OOM.
 * {"event","alert_id","kind","job","item","domain","job_level","execution_id",
 *  "fire_time","message","count","recovered","items","agent","task","sender"}
 * (item/execution_id/fire_time/items/agent/task when known). */
char *hist_alert_payload(const struct job *j, const struct hist_alert_notice *n,
                         const char *sender);

/* ---------------------------------------------------------------- webhooks */

/* hist_hooks: one thread posting JSON bodies with libcurl (http:// and https://,
 * certificates verified against the system store). At most HIST_HOOKS_INFLIGHT
 * requests at once, each bounded by timeout_ms (connect included); at most
 * max_queued waiting. Redirects are not followed. */
#define HIST_HOOKS_INFLIGHT 16

struct hist_hooks;

struct hist_hooks_stats {
    uint64_t sent;    /* answered 2xx */
    uint64_t failed;  /* refused, timed out, or answered other than 2xx */
    uint64_t dropped; /* the queue was full */
    uint64_t queued;  /* waiting or in flight now */
};

/* hist_hooks_new: 0, or -errno. The handle is the caller's (hist_hooks_free). */
int hist_hooks_new(int max_queued, int timeout_ms, struct hist_hooks **out);

/* hist_hooks_post: queue a POST of `body` (application/json) to `url`; both are
 * copied. Any thread; never blocks on the network. 0, -EINVAL when the URL is
 * not http:// or https://, -EAGAIN when the queue is full (counted as dropped). */
int hist_hooks_post(struct hist_hooks *h, const char *url, const char *body);

void hist_hooks_stats(struct hist_hooks *h, struct hist_hooks_stats *s);

/* hist_hooks_free: stops the thread; requests still queued or in flight are
 * abandoned (at most one timeout's wait for a transfer already running). */
void hist_hooks_free(struct hist_hooks *h);

#endif
