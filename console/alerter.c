/* console/alerter.c: alert notifications — opens and resolves alert_event rows
 * and sends webhooks.
 *
 * One console at a time notifies: the holder of the ephemeral /console/alerter
 * node (taken again after a new session). Every interval it evaluates, off the
 * loop, the conditions of panel 1 and 2 that have a clear end:
 *   failed | timeout | missed  the newest such execution of a (job, item) in the
 *                              last 24 h with no later succeeded execution;
 *   no_agent                   an enabled job with no eligible live agent (cache).
 * A condition not yet open gets a row (raised_at) and an "open" notice; an open
 * row whose condition is gone gets resolved_at and a "resolve" notice; a row
 * still open after the reminder interval gets a "reminder". Notices go to the
 * job's alert.webhook (http:// only) when alert.on covers the kind, at most one
 * per silence_s per job (resolves always go out). Webhooks are asynchronous with
 * a 5 s timeout and at most ALERT_INFLIGHT in flight: a stuck receiver never
 * blocks the loop, and a notice that could not be sent is not queued (the next
 * reminder carries it), so nothing floods later. notified_at is set when a
 * receiver answered 2xx. */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console/console.h"
#include "core/json.h"
#include "core/log.h"

#define ALERT_INFLIGHT 64
#define ALERT_MAX 2000 /* conditions handled per evaluation */

struct cond {
    char kind[12];
    char job[JOB_NAME_MAX + 1];
    int item; /* -1 when not about one item */
    char execution_id[80];
    char fire[32]; /* "YYYY-MM-DD HH:MM:SS.fff" UTC, "" when none */
    char message[200];
    unsigned long long id; /* alert_event id */
    char event[10];        /* open | resolve | reminder (filled by the worker) */
};

struct hook;

struct alerter {
    struct console *c;
    struct hook *hooks; /* webhook requests whose connection is not freed yet */
    bool stopping;
    struct event *tick;
    int interval_ms, reminder_s;
    bool busy;
    bool leader;
    bool locking;
    uint64_t generation;
    int inflight;
    struct strmap last_notice; /* job -> int64 ms (as a pointer-sized integer) */
    uint64_t sent, failed, dropped, opened, resolved;
};

struct evalrun {
    struct alerter *a;
    struct cond *live; /* conditions from the cache (no_agent) + from history */
    int nlive;
    struct cond *out; /* notices to send */
    int nout;
    bool down;
};

/* ---------------------------------------------------------------- SQL helpers */

static void esc(MYSQL *m, char *out, const char *s)
{
    mysql_real_escape_string(m, out, s, (unsigned long)strlen(s));
}

static bool same(const struct cond *x, const char *kind, const char *job, int item)
{
    return strcmp(x->kind, kind) == 0 && strcmp(x->job, job) == 0 && x->item == item;
}

/* eval_work (worker): add the history conditions, diff with the open rows, write
 * the changes, and list the notices. */
static void eval_work(MYSQL *m, void *arg)
{
    struct evalrun *e = arg;
    char q[2048];
    if (!m) {
        e->down = true;
        return;
    }
    snprintf(
        q, sizeof q,
        "SELECT e.job, e.item, e.status, e.execution_id,"
        " DATE_FORMAT(e.fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f') FROM job_execution e"
        " WHERE e.status IN ('failed','timeout','missed')"
        " AND e.fire_time >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY"
        " AND NOT EXISTS (SELECT 1 FROM job_execution s WHERE s.job = e.job AND s.item = e.item"
        " AND s.status = 'succeeded' AND s.fire_time > e.fire_time)"
        " ORDER BY e.fire_time DESC LIMIT %d",
        ALERT_MAX);
    if (mysql_query(m, "SET time_zone = '+00:00'") != 0 || mysql_query(m, q) != 0) {
        LOGW("alerts: %s", mysql_error(m));
        e->down = true;
        return;
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res)) && e->nlive < ALERT_MAX) {
        bool dup = false;
        for (int i = 0; i < e->nlive && !dup; i++)
            dup = same(&e->live[i], row[2], row[0], atoi(row[1]));
        if (dup)
            continue; /* newest first: keep the newest execution of the (kind, job, item) */
        struct cond *c = &e->live[e->nlive++];
        memset(c, 0, sizeof *c);
        snprintf(c->kind, sizeof c->kind, "%s", row[2]);
        snprintf(c->job, sizeof c->job, "%s", row[0]);
        c->item = atoi(row[1]);
        snprintf(c->execution_id, sizeof c->execution_id, "%s", row[3]);
        snprintf(c->fire, sizeof c->fire, "%.23s", row[4] ? row[4] : "");
        snprintf(c->message, sizeof c->message, "item %d %s", c->item, c->kind);
    }
    if (res)
        mysql_free_result(res);

    /* Open rows of the kinds we manage. */
    snprintf(q, sizeof q,
             "SELECT id, kind, IFNULL(job,''), IFNULL(item,-1), IFNULL(execution_id,''),"
             " IFNULL(DATE_FORMAT(fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'),''),"
             " IFNULL(notified_at, raised_at) < UTC_TIMESTAMP(3) - INTERVAL %d SECOND"
             " FROM alert_event WHERE resolved_at IS NULL"
             " AND kind IN ('failed','timeout','missed','no_agent') LIMIT %d",
             e->a->reminder_s, ALERT_MAX);
    if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m))) {
        LOGW("alerts: %s", mysql_error(m));
        e->down = true;
        return;
    }
    bool *matched = calloc((size_t)e->nlive + 1, sizeof *matched);
    e->out = calloc((size_t)e->nlive + ALERT_MAX + 1, sizeof *e->out);
    if (!matched || !e->out) {
        free(matched);
        mysql_free_result(res);
        e->down = true;
        return;
    }
    while ((row = mysql_fetch_row(res))) {
        int item = atoi(row[3]);
        int k = -1;
        for (int i = 0; i < e->nlive && k < 0; i++)
            if (same(&e->live[i], row[1], row[2], item))
                k = i;
        struct cond *o = &e->out[e->nout];
        memset(o, 0, sizeof *o);
        o->id = strtoull(row[0], NULL, 10);
        snprintf(o->kind, sizeof o->kind, "%s", row[1]);
        snprintf(o->job, sizeof o->job, "%s", row[2]);
        o->item = item;
        snprintf(o->execution_id, sizeof o->execution_id, "%s", row[4]);
        snprintf(o->fire, sizeof o->fire, "%.23s", row[5]);
        if (k < 0) {
            snprintf(q, sizeof q,
                     "UPDATE alert_event SET resolved_at = UTC_TIMESTAMP(3) WHERE id = %llu",
                     o->id);
            if (mysql_query(m, q) == 0) {
                snprintf(o->event, sizeof o->event, "resolve");
                snprintf(o->message, sizeof o->message, "%s cleared", o->kind);
                e->nout++;
            }
        } else {
            matched[k] = true;
            if (row[6] && strcmp(row[6], "1") == 0) {
                snprintf(o->event, sizeof o->event, "reminder");
                snprintf(o->message, sizeof o->message, "%s", e->live[k].message);
                e->nout++;
            }
        }
    }
    mysql_free_result(res);
    for (int i = 0; i < e->nlive; i++) {
        if (matched[i])
            continue;
        struct cond *c = &e->live[i];
        char ej[JOB_NAME_MAX * 2 + 1], ee[170], em[420], item[16], fire[64];
        esc(m, ej, c->job);
        esc(m, ee, c->execution_id);
        esc(m, em, c->message);
        snprintf(item, sizeof item, c->item >= 0 ? "%d" : "NULL", c->item);
        snprintf(fire, sizeof fire, c->fire[0] ? "'%s'" : "NULL", c->fire);
        snprintf(q, sizeof q,
                 "INSERT INTO alert_event (kind, job, item, execution_id, fire_time, message,"
                 " raised_at) VALUES ('%s', '%s', %s, %s%s%s, %s, '%s', UTC_TIMESTAMP(3))",
                 c->kind, ej, item, c->execution_id[0] ? "'" : "NULL", c->execution_id[0] ? ee : "",
                 c->execution_id[0] ? "'" : "", fire, em);
        if (mysql_query(m, q) != 0) {
            LOGW("alerts: %s", mysql_error(m));
            continue;
        }
        e->out[e->nout] = *c;
        e->out[e->nout].id = (unsigned long long)mysql_insert_id(m);
        snprintf(e->out[e->nout].event, sizeof e->out[e->nout].event, "open");
        e->nout++;
    }
    free(matched);
}

/* ---------------------------------------------------------------- webhooks */

struct hook {
    struct alerter *a;
    unsigned long long id;
    struct evhttp_connection *conn;
    struct hook *prev, *next;
};

static void hook_unlink_free(struct hook *h)
{
    struct alerter *a = h->a;
    if (h->prev)
        h->prev->next = h->next;
    else
        a->hooks = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (h->conn)
        evhttp_connection_free(h->conn);
    free(h);
}

static void mark_work(MYSQL *m, void *arg)
{
    unsigned long long *id = arg;
    char q[200];
    snprintf(q, sizeof q, "UPDATE alert_event SET notified_at = UTC_TIMESTAMP(3) WHERE id = %llu",
             *id);
    if (m && mysql_query(m, q) != 0)
        LOGW("alerts: %s", mysql_error(m));
}

static void free_hook_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hook_unlink_free(arg);
}

static void hook_done(struct evhttp_request *req, void *arg)
{
    struct hook *h = arg;
    struct alerter *a = h->a;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    a->inflight--;
    if (code >= 200 && code < 300) {
        a->sent++;
        unsigned long long *id = malloc(sizeof *id);
        if (id) {
            *id = h->id;
            if (dbpool_submit(a->c->db, mark_work, free, id) < 0)
                free(id);
        }
    } else {
        a->failed++;
        LOGW("alert webhook for alert %llu failed (HTTP %d); the next reminder retries", h->id,
             code);
    }
    /* The connection cannot be freed inside its own callback. */
    if (event_base_once(a->c->base, -1, EV_TIMEOUT, free_hook_cb, h, NULL) < 0)
        LOGW("alerts: cannot schedule freeing a webhook connection");
}

static void send_hook(struct alerter *a, const struct job *j, const struct cond *n)
{
    struct evhttp_uri *u = evhttp_uri_parse(j->alert.webhook);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!u || !host || strcmp(evhttp_uri_get_scheme(u), "http") != 0) {
        LOGW("alert for %s not sent: only http:// webhooks are supported (%s)", j->name,
             j->alert.webhook);
        a->failed++;
        if (u)
            evhttp_uri_free(u);
        return;
    }
    if (a->inflight >= ALERT_INFLIGHT) {
        a->dropped++;
        evhttp_uri_free(u);
        return;
    }
    int port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    char path[1200];
    const char *p = evhttp_uri_get_path(u), *qs = evhttp_uri_get_query(u);
    snprintf(path, sizeof path, "%s%s%s", p && *p ? p : "/", qs ? "?" : "", qs ? qs : "");
    struct hook *h = calloc(1, sizeof *h);
    struct evhttp_connection *conn =
        evhttp_connection_base_new(a->c->base, NULL, host, (ev_uint16_t)port);
    struct evhttp_request *req = h && conn ? evhttp_request_new(hook_done, h) : NULL;
    if (!req) {
        free(h);
        if (conn)
            evhttp_connection_free(conn);
        evhttp_uri_free(u);
        return;
    }
    evhttp_connection_set_timeout(conn, 5);
    h->a = a;
    h->id = n->id;
    h->conn = conn;
    h->next = a->hooks;
    if (a->hooks)
        a->hooks->prev = h;
    a->hooks = h;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", n->event);
    cJSON_AddNumberToObject(o, "alert_id", (double)n->id);
    cJSON_AddStringToObject(o, "kind", n->kind);
    cJSON_AddStringToObject(o, "job", n->job);
    if (n->item >= 0)
        cJSON_AddNumberToObject(o, "item", n->item);
    cJSON_AddStringToObject(o, "domain", j->domain);
    cJSON_AddNumberToObject(o, "job_level", j->level);
    int dl = zkview_domain_level(&a->c->view, j->domain);
    if (dl >= 0)
        cJSON_AddNumberToObject(o, "domain_level", dl);
    if (n->execution_id[0])
        cJSON_AddStringToObject(o, "execution_id", n->execution_id);
    if (n->fire[0])
        cJSON_AddStringToObject(o, "fire_time", n->fire);
    cJSON_AddStringToObject(o, "message", n->message);
    char *body = json_print(o);
    cJSON_Delete(o);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    evhttp_add_header(hd, "Host", host);
    evhttp_add_header(hd, "Content-Type", "application/json");
    evhttp_add_header(hd, "User-Agent", "shardcron-console");
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    free(body);
    evhttp_uri_free(u);
    a->inflight++;
    if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, path) < 0) {
        a->inflight--;
        a->failed++;
        hook_unlink_free(h);
    }
}

/* notify (loop): send the notices the evaluation produced. */
static void notify(struct alerter *a, const struct cond *n)
{
    const struct zkview_job *zj = zkview_job(&a->c->view, n->job);
    const struct job *j = zj ? zj->job : NULL;
    if (!j || !j->alert.webhook[0])
        return;
    unsigned bit = strcmp(n->kind, "failed") == 0    ? JOB_ALERT_FAILURE
                   : strcmp(n->kind, "timeout") == 0 ? JOB_ALERT_TIMEOUT
                   : strcmp(n->kind, "missed") == 0
                       ? JOB_ALERT_MISSED
                       : JOB_ALERT_MISSED; /* no_agent: fires are missed */
    if (!(j->alert.on & bit))
        return;
    int64_t now = console_now_ms();
    void *last = strmap_get(&a->last_notice, j->name);
    if (strcmp(n->event, "resolve") != 0 && last && j->alert.silence_s > 0 &&
        now - (int64_t)(intptr_t)last < (int64_t)j->alert.silence_s * 1000)
        return; /* silenced: the reminder brings it later */
    int perr = 0;
    strmap_put(&a->last_notice, j->name, (void *)(intptr_t)now, &perr);
    send_hook(a, j, n);
}

static void eval_done(void *arg)
{
    struct evalrun *e = arg;
    struct alerter *a = e->a;
    a->busy = false;
    for (int i = 0; !e->down && !a->stopping && i < e->nout; i++) {
        if (strcmp(e->out[i].event, "open") == 0)
            a->opened++;
        else if (strcmp(e->out[i].event, "resolve") == 0)
            a->resolved++;
        LOGN("alert %llu %s: %s %s item %d", e->out[i].id, e->out[i].event, e->out[i].kind,
             e->out[i].job, e->out[i].item);
        notify(a, &e->out[i]);
    }
    free(e->live);
    free(e->out);
    free(e);
}

/* ---------------------------------------------------------------- the lock and the tick */

static void locked(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct alerter *a = arg;
    a->locking = false;
    if (r->rc == ZOK) {
        a->leader = true;
        a->generation = zkreg_generation(z);
        LOGN("this console sends alert notifications");
    }
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct alerter *a = arg;
    (void)r;
    if (zkreg_create(z, "/console/alerter", "", 0, ZOO_EPHEMERAL, locked, a) != ZOK)
        a->locking = false;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct alerter *a = arg;
    struct console *c = a->c;
    (void)fd;
    (void)what;
    if (zkreg_state(c->z) != ZKREG_CONNECTED || !zkview_ready(&c->view))
        return;
    if (a->leader && a->generation != zkreg_generation(c->z))
        a->leader = false; /* a new session: the ephemeral lock went with the old one */
    if (!a->leader) {
        if (!a->locking) {
            a->locking = true;
            if (zkreg_ensure(c->z, "/console", ensured, a) != ZOK)
                a->locking = false;
        }
        return;
    }
    if (a->busy)
        return;
    struct evalrun *e = calloc(1, sizeof *e);
    if (!e || !(e->live = calloc(ALERT_MAX + 1, sizeof *e->live))) {
        free(e);
        return;
    }
    e->a = a;
    const struct shard_assignment *as = zkview_assignment(&c->view);
    size_t n;
    struct zkview_job *const *all = zkview_jobs_sorted(&c->view, &n);
    for (size_t i = 0; as && i < n && e->nlive < ALERT_MAX / 2; i++) {
        const struct job *j = all[i]->job;
        if (!j || j->disabled)
            continue;
        int ji = shard_job_find(as, j->name);
        if (ji >= 0 && shard_job_eligible(as, ji) > 0)
            continue;
        struct cond *cd = &e->live[e->nlive++];
        snprintf(cd->kind, sizeof cd->kind, "no_agent");
        snprintf(cd->job, sizeof cd->job, "%s", j->name);
        cd->item = -1;
        snprintf(cd->message, sizeof cd->message, "no eligible agent");
    }
    a->busy = true;
    if (dbpool_submit(c->db, eval_work, eval_done, e) < 0) {
        a->busy = false;
        free(e->live);
        free(e);
    }
}

int alerter_new(struct console *c, int interval_ms, int reminder_s, struct alerter **out)
{
    struct alerter *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->c = c;
    a->interval_ms = interval_ms;
    a->reminder_s = reminder_s;
    strmap_init(&a->last_notice);
    a->tick = event_new(c->base, -1, EV_PERSIST, tick_cb, a);
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    if (!a->tick || event_add(a->tick, &tv) < 0) {
        alerter_free(a);
        return -ENOMEM;
    }
    *out = a;
    return 0;
}

void alerter_stop(struct alerter *a)
{
    if (a)
        a->stopping = true;
}

void alerter_free(struct alerter *a)
{
    if (!a)
        return;
    /* Requests still in flight are dropped with their connections (no callback). */
    while (a->hooks)
        hook_unlink_free(a->hooks);
    if (a->tick)
        event_free(a->tick);
    strmap_free(&a->last_notice);
    free(a);
}

void alerter_metrics(const struct alerter *a, char *buf, size_t len)
{
    snprintf(buf, len,
             "# TYPE shardcron_console_alerts_total counter\n"
             "shardcron_console_alerts_total{event=\"open\"} %llu\n"
             "shardcron_console_alerts_total{event=\"resolve\"} %llu\n"
             "# TYPE shardcron_console_webhooks_total counter\n"
             "shardcron_console_webhooks_total{result=\"sent\"} %llu\n"
             "shardcron_console_webhooks_total{result=\"failed\"} %llu\n"
             "shardcron_console_webhooks_total{result=\"dropped\"} %llu\n"
             "# TYPE shardcron_console_alert_notifier gauge\n"
             "shardcron_console_alert_notifier %d\n",
             a ? (unsigned long long)a->opened : 0ULL, a ? (unsigned long long)a->resolved : 0ULL,
             a ? (unsigned long long)a->sent : 0ULL, a ? (unsigned long long)a->failed : 0ULL,
             a ? (unsigned long long)a->dropped : 0ULL, a && a->leader);
}
