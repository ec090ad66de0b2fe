/* console/api_alert.c: acknowledging and silencing alerts (docs/alerts.md).
 *
 *   POST /alerts/{id}/ack                       operator: stop reminders and escalation
 *   POST /alerts/{id}/silence {"minutes": N}    operator: hold reminders and escalation N minutes
 *   GET  /alerts/ack?token=T                    a page asking to confirm (no effect)
 *   POST /alerts/ack?token=T                    anyone holding a link from a notice
 *
 * The GET only shows a confirmation form: chat apps fetch the links in a
 * message to preview them, and such a fetch must not acknowledge anything.
 * The link's token is signed by the leader agent with the key in alert_key
 * (sql/hist_outbox.h, libsodium crypto_auth); the console checks it with the
 * same key, so the link needs no login and cannot be made for another alert.
 * The work runs on the history pool; the reply comes back on the loop. */
#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "console/dbpool.h"
#include "core/json.h"
#include "sql/hist_outbox.h"
#include <sodium.h>

struct ackq {
    struct creq *r;
    unsigned long long id;
    char by[96];
    char token[HIST_ACK_TOKEN_MAX + 1];
    int silence_s;
    bool confirm; /* GET of a link: check the token, change nothing */
    bool html;    /* the client is a browser (Accept: text/html) */
    int rc;
    bool down;
    struct sc_err err;
};

static void ack_work(MYSQL *m, void *arg)
{
    struct ackq *q = arg;
    if (!m) {
        q->down = true;
        return;
    }
    if (q->token[0]) {
        unsigned char key[HIST_ACK_KEYBYTES];
        if ((q->rc = hist_ack_key(m, false, key, &q->err)) < 0)
            return;
        int v = hist_ack_verify(key, q->token, console_now_ms() / 1000, &q->id);
        sodium_memzero(key, sizeof key);
        if (v == -ETIMEDOUT) {
            q->rc = sc_err_set(&q->err, EACCES, "token", -1, "the link has expired");
            return;
        }
        if (v < 0) {
            q->rc = sc_err_set(&q->err, EACCES, "token", -1, "not a valid acknowledgement link");
            return;
        }
        if (q->confirm)
            return;
    }
    q->rc = hist_ack_set(m, q->id, q->by, q->silence_s, &q->err);
}

static void ack_done(void *arg)
{
    struct ackq *q = arg;
    struct creq *r = q->r;
    if (q->down)
        creq_error(r, 503, "mysql", "the history store is unreachable");
    else if (q->rc == -ENOENT && q->err.field[0] == 'a')
        creq_error(r, 404, "id", "%s", q->err.msg);
    else if (q->rc == -EACCES)
        creq_error(r, 403, "token", "%s", q->err.msg);
    else if (q->rc == -ENOENT)
        creq_error(r, 503, "alert_key", "%s", q->err.msg);
    else if (q->rc < 0)
        creq_error(r, 500, NULL, "%s", q->err.msg);
    else if (q->confirm || q->html) {
        /* The token is checked, so it holds only [0-9A-Za-z._-]: safe in HTML. */
        char page[1024];
        int n =
            q->confirm
                ? snprintf(page, sizeof page,
                           "<!doctype html><meta charset=utf-8><title>shardcron alert %llu</title>"
                           "<h1>Acknowledge alert %llu?</h1><p>Reminders and escalation of this "
                           "alert stop.</p><form method=post action=\"ack?token=%s\">"
                           "<button id=ack type=submit>Acknowledge</button></form>\n",
                           q->id, q->id, q->token)
                : snprintf(page, sizeof page,
                           "<!doctype html><meta charset=utf-8><title>shardcron alert %llu</title>"
                           "<h1>Alert %llu acknowledged</h1>\n",
                           q->id, q->id);
        creq_send(r, 200, "text/html; charset=utf-8", page, (size_t)n);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "alert_id", (double)q->id);
        if (q->silence_s > 0)
            cJSON_AddNumberToObject(o, "silenced_s", q->silence_s);
        else
            cJSON_AddBoolToObject(o, "acknowledged", true);
        cJSON_AddStringToObject(o, "by", q->by);
        creq_json(r, 200, o);
    }
    free(q);
}

static void submit(struct creq *r, struct ackq *q)
{
    q->r = r;
    if (!r->c->db) {
        free(q);
        creq_error(r, 503, "mysql", "the console runs without --mysql: no alerts");
        return;
    }
    if (dbpool_submit(r->c->db, ack_work, ack_done, q) < 0) {
        free(q);
        creq_error(r, 500, NULL, "out of memory");
    }
}

/* alert_id: the path's id, or 0 after replying 400. */
static unsigned long long alert_id(struct creq *r, const char *s)
{
    char *end = NULL;
    unsigned long long id = s && *s >= '1' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!id || !end || *end) {
        creq_error(r, 400, "id", "must be an alert id (a positive number)");
        return 0;
    }
    return id;
}

void api_alert_ack(struct creq *r, const char *id)
{
    unsigned long long n = alert_id(r, id);
    struct ackq *q = n ? calloc(1, sizeof *q) : NULL;
    if (!n)
        return;
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    q->id = n;
    snprintf(q->by, sizeof q->by, "%s", r->sess.user);
    submit(r, q);
}

void api_alert_silence(struct creq *r, const char *id)
{
    unsigned long long n = alert_id(r, id);
    if (!n)
        return;
    struct sc_err err;
    long long minutes = 0;
    cJSON *b = json_parse(r->body, r->blen, &err);
    if (!b || !cJSON_IsObject(b)) {
        cJSON_Delete(b);
        creq_error(r, 400, "body", "must be a JSON object {\"minutes\": N}");
        return;
    }
    int rc = json_get_int(b, "minutes", JSON_REQUIRED, 1, 7 * 24 * 60, &minutes, &err);
    cJSON_Delete(b);
    if (rc < 0) {
        creq_error(r, 400, err.field, "%s", err.msg);
        return;
    }
    struct ackq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    q->id = n;
    q->silence_s = (int)minutes * 60;
    snprintf(q->by, sizeof q->by, "%s", r->sess.user);
    submit(r, q);
}

void api_alert_link(struct creq *r, bool confirm)
{
    const char *t = creq_arg(r, "token");
    if (!t || !*t || strlen(t) > HIST_ACK_TOKEN_MAX) {
        creq_error(r, 400, "token", "is required (the link from a notice)");
        return;
    }
    struct ackq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    snprintf(q->token, sizeof q->token, "%s", t);
    snprintf(q->by, sizeof q->by, "link");
    q->confirm = confirm;
    const char *acc = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Accept");
    q->html = acc && strstr(acc, "text/html");
    submit(r, q);
}

/* ---------------------------------------------------------------- open alerts */

struct listq {
    struct creq *r;
    cJSON *rows;
    bool down;
    int rc;
    struct sc_err err;
};

static void list_work(MYSQL *m, void *arg)
{
    struct listq *q = arg;
    if (!m) {
        q->down = true;
        return;
    }
    /* Open alert_event rows (the leader's), newest first, with their
     * acknowledgement state: what the alert page's buttons act on. */
    if (mysql_query(m, "SELECT e.id, e.kind, IFNULL(e.job, ''), IFNULL(e.item, -1),"
                       " DATE_FORMAT(e.raised_at, '%Y-%m-%dT%H:%i:%s.%fZ'),"
                       " IFNULL(DATE_FORMAT(a.acked_at, '%Y-%m-%dT%H:%i:%s.%fZ'), ''),"
                       " IFNULL(a.acked_by, ''),"
                       " IF(a.silenced_until > UTC_TIMESTAMP(3),"
                       "  DATE_FORMAT(a.silenced_until, '%Y-%m-%dT%H:%i:%s.%fZ'), ''),"
                       " IFNULL(a.level, 0)"
                       " FROM alert_event e LEFT JOIN alert_ack a ON a.alert_id = e.id"
                       " WHERE e.resolved_at IS NULL ORDER BY e.id DESC LIMIT 500") != 0) {
        q->rc = sc_err_set(&q->err, EIO, "mysql", -1, "%s", mysql_error(m));
        return;
    }
    MYSQL_RES *res = mysql_store_result(m);
    if (!res) {
        q->rc = sc_err_set(&q->err, EIO, "mysql", -1, "%s", mysql_error(m));
        return;
    }
    q->rows = cJSON_CreateArray();
    MYSQL_ROW row;
    while (q->rows && (row = mysql_fetch_row(res))) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", strtod(row[0], NULL));
        cJSON_AddStringToObject(o, "kind", row[1]);
        cJSON_AddStringToObject(o, "job", row[2]);
        if (atoi(row[3]) >= 0)
            cJSON_AddNumberToObject(o, "item", atoi(row[3]));
        cJSON_AddStringToObject(o, "raised_at", row[4]);
        if (row[5][0])
            cJSON_AddStringToObject(o, "acked_at", row[5]);
        if (row[6][0])
            cJSON_AddStringToObject(o, "acked_by", row[6]);
        if (row[7][0])
            cJSON_AddStringToObject(o, "silenced_until", row[7]);
        cJSON_AddNumberToObject(o, "escalation_level", atoi(row[8]));
        cJSON_AddItemToArray(q->rows, o);
    }
    mysql_free_result(res);
}

static void list_done(void *arg)
{
    struct listq *q = arg;
    if (q->down)
        creq_error(q->r, 503, "mysql", "the history store is unreachable");
    else if (q->rc < 0 || !q->rows)
        creq_error(q->r, 500, NULL, "%s", q->rc < 0 ? q->err.msg : "out of memory");
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "alerts", q->rows);
        q->rows = NULL;
        creq_json(q->r, 200, o);
    }
    cJSON_Delete(q->rows);
    free(q);
}

void api_alert_events(struct creq *r)
{
    struct listq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    q->r = r;
    if (!r->c->db) {
        free(q);
        creq_error(r, 503, "mysql", "the console runs without --mysql: no alerts");
        return;
    }
    if (dbpool_submit(r->c->db, list_work, list_done, q) < 0) {
        free(q);
        creq_error(r, 500, NULL, "out of memory");
    }
}
