/* agent/maint.h: the leader's history work, off the event loop.
 *
 * Housekeeping: one thread with its own MySQL connection. Every `period_s`
 * (and at once when this agent becomes leader) it recomputes today's
 * job_daily_stats (and yesterday's), then deletes executions older than
 * retention_days in bounded chunks.
 *
 * Alerts (sql/hist_alert.h): a second thread with its own connection evaluates
 * alert conditions every alert_interval_ms, opening and resolving alert_event
 * rows, and writes the notices it decides into the outbox (sql/hist_outbox.h)
 * in the same transaction. The loop routes them (each job's `alert` settings:
 * webhook, channels, on, silence_s, escalate); the alert thread then claims
 * due outbox rows and hands them to the sender thread (sql/hist_hooks.c),
 * whose results come back to be recorded. Neither thread ever waits for the
 * other or for a receiver.
 *
 * Only the leader does either, so the work is not repeated by every agent; the
 * flag is set from the loop with maint_set_leader(). */
#ifndef SC_AGENT_MAINT_H
#define SC_AGENT_MAINT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/job.h"
#include "sql/db.h"
#include "sql/hist_alert.h"

struct maint;

struct maint_opts {
    const struct db_url *url; /* copied */
    const char *password;     /* copied; NULL when none */
    unsigned retention_days, period_s;
    int alert_interval_ms; /* 0: no alert evaluation */
    int alert_reminder_s;
    int alert_group_ms; /* grouping window of a notice (sql/hist_alert.h) */
    int webhook_timeout_ms;
    int webhook_queue;       /* notices waiting or in flight, at most */
    struct event_base *base; /* the loop notices are filtered and queued on */
    const char *sender;      /* "sender" in the payloads (the agent id); copied */
    /* where notices no job's settings take go (agents, workflows): a webhook, else the default channels;
     * copied */
    const char *alert_webhook;
    /* Delivery (docs/alerts.md): */
    const char *secrets;  /* the agent's secrets store, for channel secrets; copied */
    const char *ack_url;  /* console base URL for acknowledgement links, or NULL; copied */
    const char *channels; /* default channels (core/alertch.h) of jobs naming none; copied */
    int failover_s;       /* a channel failing this long: the next channel takes over */
    int retry_max_s;      /* backoff between attempts grows to this */
    int give_up_s;        /* a notice undelivered this long is dead */
    /* workflow_channels: a workflow's alert channels as JSON text (the
     * caller's), or NULL (loop thread); NULL callback: none. */
    char *(*workflow_channels)(void *ctx, const char *workflow);
    /* job: the current config of a job, or NULL (called on the loop thread). */
    const struct job *(*job)(void *ctx, const char *name);
    void *ctx;
};

struct maint_alert_stats {
    uint64_t evaluations, eval_errors, opened, resolved, reminders, silenced;
    uint64_t sent, failed, dropped, queued;              /* webhooks */
    uint64_t delivered, retried, failovers, escalations; /* outbox */
};

/* maint_start: 0 or -errno; the handle is the caller's (maint_stop, on the
 * loop thread after the loop has ended). */
int maint_start(const struct maint_opts *o, struct maint **out);
void maint_set_leader(struct maint *m, bool leader);
/* maint_set_conditions (loop): the conditions the leader sees in ZooKeeper
 * now (no_agent, no_failover, agent; n of them, the first HIST_ALERT_MAX kept;
 * copied), for the next evaluations; known false: not known (those alerts are
 * then left as they are; v is ignored). Ignored unless this agent is leader;
 * the list is forgotten when it stops being leader. */
void maint_set_conditions(struct maint *m, bool known, const struct hist_alert_cond *v, size_t n);
/* maint_deleted: executions deleted by retention so far. */
uint64_t maint_deleted(const struct maint *m);
void maint_alert_stats(struct maint *m, struct maint_alert_stats *s);
void maint_stop(struct maint *m);

#endif
