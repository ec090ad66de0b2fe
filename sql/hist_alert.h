/* sql/hist_alert.h: alert notifications — alert_event rows and the webhooks
 * that announce them (issue #7, docs/console.md "Alert notifications").
 *
 * The coordination leader runs this (agent/maint.c): a thread with its own
 * MySQL connection calls hist_alert_eval every few seconds; the notices it
 * returns are filtered against each job's `alert` settings on the agent's loop
 * (hist_alert_wanted, plus the per-job silence window) and handed to a
 * hist_hooks sender, whose own thread posts them with libcurl. Nothing here
 * blocks the caller's event loop: evaluation is on the maintenance side, and
 * hist_hooks_post only copies into a bounded queue.
 *
 * Conditions (the ones of alert panels 1 and 2 that have a clear end):
 *   failed | timeout | missed  the newest such execution of a (job, item) in the
 *                              last 24 h that no later success cleared
 *                              (HIST_UNRESOLVED_SQL: a later fire, or a retry);
 *   no_agent                   a job named in the caller's list (the leader's
 *                              enabled, valid jobs with no eligible live agent
 *                              in its applied assignment); item NULL.
 * A condition without an open row gets one (raised_at) and an "open" notice; an
 * open row whose condition is gone gets resolved_at and a "resolve" notice; a
 * row whose last notice (notified_at, else raised_at) is older than the reminder
 * interval gets a "reminder", and notified_at is set when a notice is decided
 * (sent or not), so a dead receiver gets one attempt per alert per interval:
 * nothing piles up and nothing floods after an outage. */
#ifndef SC_HIST_ALERT_H
#define SC_HIST_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/job.h"
#include "sql/db.h"

#define HIST_ALERT_MAX 2000 /* conditions handled per evaluation */

struct hist_alert_notice {
    unsigned long long id; /* alert_event.id */
    char event[10];        /* open | resolve | reminder */
    char kind[12];         /* failed | timeout | missed | no_agent */
    char job[JOB_NAME_MAX + 1];
    int item;              /* -1 when not about one item */
    char execution_id[80]; /* "" when none */
    char fire[32];         /* "YYYY-MM-DD HH:MM:SS.fff" UTC, "" when none */
    char message[200];
};

/* hist_alert_eval: one evaluation (see the file comment). no_agent lists the
 * jobs (nno_agent names, the first HIST_ALERT_MAX used) that have no eligible
 * agent now; NULL when that is not known (not leader long enough, nothing
 * applied): no_agent rows are then neither opened, resolved nor reminded.
 * *out (the caller's to free(), NULL when *n is 0) lists the notices decided.
 * reminder_s >= 1. 0, or -EIO with err set (the connection should be dropped). */
int hist_alert_eval(MYSQL *m, int reminder_s, const char *const *no_agent, size_t nno_agent,
                    struct hist_alert_notice **out, size_t *n, struct sc_err *err);

/* hist_alert_wanted: the job has a webhook and its alert.on covers the kind
 * (no_agent counts as "missed": none of the job's fires can run). */
bool hist_alert_wanted(const struct job *j, const struct hist_alert_notice *n);

/* hist_alert_payload: the webhook body (JSON), the caller's to free; NULL on OOM.
 * {"event","alert_id","kind","job","item","domain","job_level","execution_id",
 *  "fire_time","message","sender"} (item/execution_id/fire_time when known). */
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
