/* sql/hist_outbox.h: the durable alert outbox and acknowledgements (migration
 * 0006, docs/alerts.md).
 *
 * Life of a notice: hist_outbox_add inserts it `new` in the transaction that
 * decided it (agent/maint.c wraps hist_alert_eval and this in one); the
 * leader's loop routes it (the job's channels) with hist_outbox_route
 * (`pending`, or deleted when the job wants no notice); hist_outbox_claim takes
 * due rows under a claim token and a lease; hist_outbox_done records the
 * result only while that claim stands (a sent row is never re-sent, a failed
 * one is due again after an exponential backoff). hist_outbox_failover moves a
 * row whose channel has been failing longer than the bound to the next channel
 * of its route (`failed_over` + a new `pending` row), or makes it `dead` when
 * it is older than give_up_s. hist_outbox_escalate and hist_outbox_suppress
 * act on alert_ack: an open alert unacknowledged past its next level's after_s
 * gets an `escalate` notice on that level's channels; reminders and
 * escalations of an acknowledged or silenced alert are `suppressed`.
 *
 * Every function takes a connection owned by the calling thread; 0 or -EIO
 * (MySQL error, err set: drop the connection) or -ENOMEM. */
#ifndef SC_HIST_OUTBOX_H
#define SC_HIST_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alertch.h"
#include "core/err.h"
#include "sql/db.h"
#include "sql/hist_alert.h"

#define HIST_ACK_KEYBYTES 32
#define HIST_ACK_TOKEN_MAX 128

/* hist_outbox_add: the nn notices as `new` rows, each stored as its payload
 * (hist_alert_payload without the job; sender as given). */
int hist_outbox_add(MYSQL *m, const struct hist_alert_notice *n, size_t nn, const char *sender,
                    struct sc_err *err);

struct hist_outbox_new {
    unsigned long long id;
    struct hist_alert_notice n; /* read back from the payload */
    char *payload;              /* as stored (JSON text) */
};

/* hist_outbox_new_rows: `new` rows with id > after and at least min_age_s old,
 * oldest first, at most max; *out the caller's (hist_outbox_new_free). */
int hist_outbox_new_rows(MYSQL *m, unsigned long long after, int min_age_s, size_t max,
                         struct hist_outbox_new **out, size_t *n, struct sc_err *err);

void hist_outbox_new_free(struct hist_outbox_new *r, size_t n);

/* hist_outbox_route: row `id` (if still `new`) becomes `pending` with notice
 * (the payload, JSON text) and channels (JSON list); channels NULL: deleted
 * (nothing to deliver). escalate (JSON list, or NULL) with an `open` notice
 * starts the alert's escalation clock in alert_ack; a `resolve` is also copied
 * to the channels of every escalation level the alert reached. Several
 * statements then: the
 * caller runs a batch of routes in one transaction (one log flush for all). */
int hist_outbox_route(MYSQL *m, unsigned long long id, unsigned long long alert_id,
                      const char *event, const char *notice, const char *channels,
                      const char *escalate, struct sc_err *err);

struct hist_outbox_row {
    unsigned long long id, alert_id;
    char event[16];
    char *notice, *route; /* JSON text */
    int channel_idx, attempts, level;
    bool late;        /* not delivered at its first try, or older than a minute */
    char created[32]; /* "YYYY-MM-DD HH:MM:SS.fff" UTC */
};

/* hist_outbox_claim: up to max due `pending` rows, claimed under `claim` (a
 * token unique to this call) for lease_ms; *out the caller's
 * (hist_outbox_rows_free). */
int hist_outbox_claim(MYSQL *m, const char *claim, int lease_ms, size_t max,
                      struct hist_outbox_row **out, size_t *n, struct sc_err *err);
void hist_outbox_rows_free(struct hist_outbox_row *r, size_t n);

/* hist_outbox_done: the result of sending row id under claim. ok: `sent`;
 * else due again after min(retry_max_s, 2^(attempts-1)) seconds, error kept.
 * *applied false when the claim no longer stood (another sender took it).
 * One statement; a batch of results may share a transaction. */
int hist_outbox_done(MYSQL *m, unsigned long long id, const char *claim, bool ok, const char *error,
                     int retry_max_s, bool *applied, struct sc_err *err);

/* hist_outbox_release: give claimed row id back unsent (the send queue was
 * full); only that row: others of the same claim may be in flight. */
int hist_outbox_release(MYSQL *m, unsigned long long id, const char *claim, struct sc_err *err);

int hist_outbox_failover(MYSQL *m, int failover_s, int give_up_s, size_t *moved,
                         struct sc_err *err);
int hist_outbox_escalate(MYSQL *m, size_t *made, struct sc_err *err);
int hist_outbox_suppress(MYSQL *m, struct sc_err *err);
/* hist_outbox_trim: delete finished rows older than days (bounded). */
int hist_outbox_trim(MYSQL *m, int days, struct sc_err *err);

/* ---------------------------------------------------------------- sending */

/* On the hist_hooks sender (sql/hist_alert.h): hist_hooks_send queues one
 * rendered delivery (an HTTP POST, or a mail over SMTP with libcurl: smtp://
 * with STARTTLS when msg->starttls, smtps://), taking msg's strings (msg is
 * emptied, even on error). done(arg, ok, error) runs on the sender's thread
 * when it ends, and for requests hist_hooks_free abandons (ok false). 0, -ENOMEM,
 * -EAGAIN (queue full; done is not called). */
typedef void (*hist_hooks_done_fn)(void *arg, bool ok, const char *error);
struct hist_hooks;
int hist_hooks_send(struct hist_hooks *h, struct alertch_msg *msg, hist_hooks_done_fn done,
                    void *arg);
/* hist_hooks_room: how many more requests the queue takes now. */
int hist_hooks_room(struct hist_hooks *h);

/* ---------------------------------------------------------------- acks */

/* hist_ack_key: the link-signing key; create: make one when there is none. */
int hist_ack_key(MYSQL *m, bool create, unsigned char key[HIST_ACK_KEYBYTES], struct sc_err *err);
/* hist_ack_token: "<alert_id>.<expiry s>.<mac>" for an acknowledgement link. */
void hist_ack_token(const unsigned char key[HIST_ACK_KEYBYTES], unsigned long long alert_id,
                    int64_t exp_s, char *out, size_t len);
/* hist_ack_verify: 0 and *alert_id when token is one of ours and not expired;
 * -EINVAL (malformed, forged) or -ETIMEDOUT (expired). */
int hist_ack_verify(const unsigned char key[HIST_ACK_KEYBYTES], const char *token, int64_t now_s,
                    unsigned long long *alert_id);
/* hist_ack_set: acknowledge (silence_s 0) or silence for silence_s an alert
 * by `by`. -ENOENT when there is no such alert. */
int hist_ack_set(MYSQL *m, unsigned long long alert_id, const char *by, int silence_s,
                 struct sc_err *err);

#endif
