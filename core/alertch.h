/* core/alertch.h: alert channels — where a notice goes and what it looks like
 * there (docs/alerts.md). Pure: validation of a channel list, rendering of one
 * notice for one channel (body, URL, signature). No I/O; the sender is
 * sql/hist_hooks.c, the outbox sql/hist_outbox.c.
 *
 * A channel is a JSON object:
 *   {"type": "webhook",  "url": "http://..."}            the notice's own JSON
 *   {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=..",
 *    "secret": SECRET, "format": "markdown|text"}         signed in the query
 *   {"type": "wecom",    "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=.."}
 *   {"type": "feishu",   "url": "https://open.feishu.cn/open-apis/bot/v2/hook/..",
 *    "secret": SECRET}                                    signed in the body
 *   {"type": "slack",    "url": "https://hooks.slack.com/services/.."}
 *   {"type": "email",    "smtp": "smtp://host:25", "from": "a@x", "to": ["b@y"],
 *    "starttls": false, "user": "..", "password": SECRET}
 * SECRET is a string, or {"secret": "NAME"}: the value of NAME in the leader
 * agent's secrets store (agent/secrets.h), so it need not sit in ZooKeeper. */
#ifndef SC_ALERTCH_H
#define SC_ALERTCH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define ALERTCH_MAX 8 /* channels in one list, escalation levels */

/* alertch_validate: `arr` is a list of 1..ALERTCH_MAX channels. -EINVAL with
 * err->field "<prefix>[i].<field>" naming the fault. */
int alertch_validate(const cJSON *arr, const char *prefix, struct sc_err *err);

/* alertch_validate_escalate: [{"after_s": N, "channels": [...]}, ...], after_s
 * 60..7 days and increasing. -EINVAL naming "<prefix>[i].<field>". */
int alertch_validate_escalate(const cJSON *arr, const char *prefix, struct sc_err *err);

/* alertch_validate_defaults: the agent's default channels (setting
 * alert_channels_file): a channel list, used for every job naming none, or
 * {"default": [...], "domains": {"<domain>": [...], ...}} (each optional, at
 * most 1000 domains). -EINVAL naming "<prefix>.domains.<name>[i].<field>". */
int alertch_validate_defaults(const cJSON *j, const char *prefix, struct sc_err *err);

/* alertch_default_for: the list (borrowed from defaults) for a job of domain
 * `domain` ("" when none): the domain's, else "default", else NULL. */
const cJSON *alertch_default_for(const cJSON *defaults, const char *domain);

/* alertch_secret_ref: the store name when the channel's `key` is
 * {"secret": NAME}; NULL when it is a plain string or absent. */
const char *alertch_secret_ref(const cJSON *ch, const char *key);

/* One rendered delivery. All strings are the caller's (alertch_msg_free). */
struct alertch_msg {
    char *url;       /* http(s) with any signature query, or the smtp URL */
    char *body;      /* JSON, or for email the whole message (headers, blank line, text) */
    bool smtp;       /* send over SMTP (the fields below), else POST application/json */
    char *mail_from; /* email */
    char **rcpt;     /* email: nrcpt addresses */
    int nrcpt;
    bool starttls;         /* email: require STARTTLS */
    char *user, *password; /* email: NULL when no login */
};

/* alertch_render: the notice (the webhook payload object, see sql/hist_alert.h,
 * plus outbox fields) as channel `ch` wants it. secret: the channel's resolved
 * signing secret or SMTP password (NULL when none); now_ms: the signing time.
 * 0, -EINVAL (err says why: unknown type, missing field), -ENOMEM. */
int alertch_render(const cJSON *ch, const cJSON *notice, const char *secret, int64_t now_ms,
                   struct alertch_msg *out, struct sc_err *err);
void alertch_msg_free(struct alertch_msg *m);

/* alertch_text: the notice as one human line block (chat and mail text); the
 * caller's to free. markdown: emphasis and a link for the ack URL. */
char *alertch_text(const cJSON *notice, bool markdown);

/* alertch_sign: base64(HMAC-SHA256(key, msg)) into out (>= 45 bytes). */
void alertch_sign(const char *key, size_t keylen, const char *msg, size_t msglen, char *out,
                  size_t outlen);

#endif
