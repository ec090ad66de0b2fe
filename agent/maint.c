/* agent/maint.c: the leader's history work — retention and the daily-stats
 * rollup (housekeeping thread), alert evaluation (alert thread) and the alert
 * webhooks (sql/hist_hooks.c's thread). See agent/maint.h. */
#define LOG_CAT "shardcron.history"
#include "agent/maint.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/secrets.h"
#include "core/alertch.h"
#include "core/json.h"
#include "core/log.h"
#include "core/strmap.h"
#include "sql/hist.h"
#include "sql/hist_alert.h"
#include "sql/hist_outbox.h"

struct maint {
    struct db_url url;
    char *password;
    unsigned retention_days, period_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, leader, kick, akick;
    _Atomic uint64_t deleted;
    /* alerts */
    struct maint_opts o;
    char *sender;
    bool alerting; /* the alert thread runs */
    pthread_t athread;
    pthread_cond_t acond;
    struct hist_outbox_new *pending; /* outbox rows to route, not yet seen by the loop (lock) */
    unsigned long long handed;       /* alert thread: highest outbox id handed to the loop */
    bool rehand;                     /* the loop left rows `new`: hand them again (lock) */
    int64_t next_sweep;              /* alert thread: next look for stray `new` rows */
    struct routed *routed;           /* routing decisions for the alert thread (lock) */
    struct sent *results;            /* send results for the alert thread (lock) */
    bool akick_eval;                 /* evaluate at once (lock) */
    char *secrets, *ack_url;
    cJSON *defaults; /* the agent's default channels (alert_channels_file), loop only */
    unsigned char ack_key[HIST_ACK_KEYBYTES];
    bool have_key;     /* alert thread */
    uint64_t claims;   /* alert thread */
    int64_t next_trim; /* alert thread */
    _Atomic uint64_t delivered, retried, failovers, escalations;
    /* conditions from the leader's ZooKeeper view, from the loop (lock);
     * na_known false until the loop has said */
    struct hist_alert_cond *na;
    size_t nna;
    bool na_known;
    uint64_t term; /* becomes leader: +1 (lock); an evaluation state is of one term */
    char *webhook; /* alert_webhook, or NULL */
    size_t npending, cappending;
    struct event *ev_notices; /* loop: filter and queue `pending` */
    struct hist_hooks *hooks;
    struct strmap last_notice; /* loop: job -> ms of its last notice (silence) */
    _Atomic uint64_t evaluations, eval_errors;
    uint64_t opened, resolved, reminders, silenced; /* loop */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_once(struct maint *m, MYSQL **conn)
{
    struct sc_err err;
    uint64_t deleted = 0;
    sc_err_clear(&err);
    if (!*conn && !(*conn = db_connect(&m->url, m->password, 30, &err))) {
        LOGW("housekeeping: %s", err.msg);
        return;
    }
    int64_t now = now_ms();
    if (hist_stats_rollup(*conn, now, &err) < 0 ||
        hist_stats_rollup(*conn, now - 86400000LL, &err) < 0 ||
        hist_retention_run(*conn, m->retention_days, now, 5000, 100, &deleted, &err) < 0) {
        LOGW("housekeeping: %s; reconnecting next time", err.msg);
        mysql_close(*conn);
        *conn = NULL;
        return;
    }
    atomic_fetch_add(&m->deleted, deleted);
    if (deleted)
        LOGI("retention: deleted %llu executions older than %u days", (unsigned long long)deleted,
             m->retention_days);
}

static void *loop(void *arg)
{
    struct maint *m = arg;
    MYSQL *conn = NULL;
    mysql_thread_init();
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        if (m->leader) {
            m->kick = false;
            pthread_mutex_unlock(&m->lock);
            run_once(m, &conn);
            pthread_mutex_lock(&m->lock);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->period_s;
        while (!m->stop && !m->kick &&
               pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&m->lock);
    if (conn)
        mysql_close(conn);
    mysql_thread_end();
    return NULL;
}

/* ---------------------------------------------------------------- alerts */

/* A routing decision of the loop, applied to the outbox by the alert thread. */
struct routed {
    unsigned long long id, alert_id;
    char event[16];
    char *notice, *channels, *escalate; /* channels NULL: nothing to deliver */
    struct routed *next;
};

/* A send result of the sender thread, recorded by the alert thread. */
struct sent {
    unsigned long long id;
    char claim[96];
    bool ok;
    char error[160];
    struct maint *m;
    struct sent *next;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* eval_once (alert thread): one evaluation; its notices enter the outbox in
 * the transaction that decided them, so a crash either loses both the
 * decision and the notice (the next leader decides again) or neither. On
 * an error the caller drops the evaluation state st (it may have moved past
 * what was rolled back) and it is rebuilt from MySQL. */
static int eval_once(struct maint *m, MYSQL *conn, struct hist_alert_state *st,
                     const struct hist_alert_cond *conds, size_t nna, bool known,
                     struct sc_err *err)
{
    static const struct hist_alert_cond none[1]; /* a known, empty list */
    struct hist_alert_opts ao = {.reminder_s = m->o.alert_reminder_s,
                                 .group_ms = m->o.alert_group_ms};
    struct hist_alert_notice *n = NULL;
    size_t nn = 0;
    if (mysql_query(conn, "START TRANSACTION") != 0)
        return sc_err_set(err, EIO, "alerts", -1, "MySQL error %u: %s", mysql_errno(conn),
                          mysql_error(conn));
    int rc = hist_alert_eval(conn, st, &ao, now_ms(),
                             !known  ? NULL
                             : conds ? conds
                                     : none,
                             nna, &n, &nn, err);
    if (rc == -ENOMEM && !err->msg[0])
        sc_err_set(err, ENOMEM, "alerts", -1, "out of memory");
    if (rc == 0)
        rc = hist_outbox_add(conn, n, nn, m->sender, err);
    if (rc == 0 && mysql_query(conn, "COMMIT") != 0)
        rc = sc_err_set(err, EIO, "alerts", -1, "MySQL error %u: %s", mysql_errno(conn),
                        mysql_error(conn));
    if (rc < 0)
        mysql_query(conn, "ROLLBACK");
    free(n);
    return rc;
}

/* sent_cb (sender thread): queue the result for the alert thread. */
static void sent_cb(void *arg, bool ok, const char *error)
{
    struct sent *r = arg;
    struct maint *m = r->m;
    r->ok = ok;
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    pthread_mutex_lock(&m->lock);
    r->next = m->results;
    m->results = r;
    m->akick = true;
    pthread_cond_signal(&m->acond);
    pthread_mutex_unlock(&m->lock);
}

/* channel_secret: the channel's secret or password, read from the store when
 * it is {"secret": NAME}; NULL when it is a plain string or absent. */
static int channel_secret(struct maint *m, const cJSON *ch, char **out, struct sc_err *err)
{
    const char *name = alertch_secret_ref(ch, "secret");
    if (!name)
        name = alertch_secret_ref(ch, "password");
    *out = NULL;
    return name ? agent_secret_read(m->secrets, name, out, err) : 0;
}

/* send_row (alert thread): render row r on its current channel and queue it.
 * -EAGAIN: the sender's queue is full (the row is released by the caller). */
static int send_row(struct maint *m, const struct hist_outbox_row *r, const char *claim, char *why,
                    size_t whylen)
{
    struct sc_err err;
    struct alertch_msg msg;
    char *secret = NULL;
    sc_err_clear(&err);
    cJSON *route = cJSON_Parse(r->route), *n = cJSON_Parse(r->notice);
    const cJSON *ch = route ? cJSON_GetArrayItem(route, r->channel_idx) : NULL;
    int rc = -EINVAL;
    if (!ch || !n) {
        snprintf(why, whylen, "no channel %d in the route", r->channel_idx);
        goto out;
    }
    if (!cJSON_GetObjectItemCaseSensitive(n, "notice_id"))
        cJSON_AddNumberToObject(n, "notice_id", (double)r->id);
    if (r->late) {
        cJSON_AddBoolToObject(n, "late", true);
        cJSON_AddStringToObject(n, "late_since", r->created);
    }
    if (m->ack_url && m->have_key && strcmp(r->event, "resolve") != 0) {
        char tok[HIST_ACK_TOKEN_MAX + 1], *url = NULL;
        hist_ack_token(m->ack_key, r->alert_id, now_ms() / 1000 + 7 * 86400, tok, sizeof tok);
        if (asprintf(&url, "%s/api/v1/alerts/ack?token=%s", m->ack_url, tok) >= 0) {
            cJSON_AddStringToObject(n, "ack_url", url);
            free(url);
        }
    }
    if ((rc = channel_secret(m, ch, &secret, &err)) < 0 ||
        (rc = alertch_render(ch, n, secret, now_ms(), &msg, &err)) < 0) {
        snprintf(why, whylen, "%s", sc_err_format(&err, (char[300]){0}, 300));
        goto out;
    }
    struct sent *s = calloc(1, sizeof *s);
    if (!s) {
        alertch_msg_free(&msg);
        rc = -ENOMEM;
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    s->m = m;
    s->id = r->id;
    snprintf(s->claim, sizeof s->claim, "%s", claim);
    rc = hist_hooks_send(m->hooks, &msg, sent_cb, s);
    if (rc < 0) {
        free(s);
        snprintf(why, whylen, rc == -EAGAIN ? "the send queue is full" : "out of memory");
    }
out:
    if (secret) {
        sodium_memzero(secret, strlen(secret));
        free(secret);
    }
    cJSON_Delete(route);
    cJSON_Delete(n);
    return rc;
}

/* outbox_step (alert thread, leader): route, suppress, escalate, fail over,
 * claim and send. -EIO: drop the connection. */
static int outbox_step(struct maint *m, MYSQL *conn, struct sc_err *err)
{
    int rc;
    size_t k = 0;
    /* Routing decisions from the loop. */
    pthread_mutex_lock(&m->lock);
    struct routed *rl = m->routed;
    m->routed = NULL;
    pthread_mutex_unlock(&m->lock);
    /* One transaction for the batch: one log flush, and a route with its
     * escalation row is all or nothing. */
    rc = rl && mysql_query(conn, "START TRANSACTION") != 0
             ? sc_err_set(err, EIO, "alert outbox", -1, "MySQL error %u: %s", mysql_errno(conn),
                          mysql_error(conn))
             : 0;
    while (rl) {
        struct routed *r = rl;
        rl = r->next;
        if (rc == 0)
            rc = hist_outbox_route(conn, r->id, r->alert_id, r->event, r->notice, r->channels,
                                   r->escalate, err);
        free(r->notice);
        free(r->channels);
        free(r->escalate);
        free(r);
        if (!rl && rc == 0 && mysql_query(conn, "COMMIT") != 0)
            rc = sc_err_set(err, EIO, "alert outbox", -1, "MySQL error %u: %s", mysql_errno(conn),
                            mysql_error(conn));
    }
    if (rc < 0) {
        mysql_query(conn, "ROLLBACK");
        m->handed = 0; /* the rows are still `new`: hand them to the loop again */
        return rc;
    }
    if (!m->have_key && m->ack_url && hist_ack_key(conn, true, m->ack_key, err) == 0)
        m->have_key = true;
    /* New rows (this leader's, or a previous one's left unrouted) to the loop. */
    struct hist_outbox_new *nr = NULL;
    size_t nn = 0;
    /* Rows the loop could not route (out of memory), and once a minute any row
     * left `new` below the mark (a deposed leader's transaction that committed
     * late): routing is conditional on `new`, so a row handed twice is routed
     * once. */
    pthread_mutex_lock(&m->lock);
    bool rehand = m->rehand;
    m->rehand = false;
    pthread_mutex_unlock(&m->lock);
    if (rehand)
        m->handed = 0;
    if ((rc = hist_outbox_new_rows(conn, m->handed, 0, 500, &nr, &nn, err)) < 0)
        return rc;
    if (!nn && mono_ms() >= m->next_sweep) {
        m->next_sweep = mono_ms() + 60000;
        if ((rc = hist_outbox_new_rows(conn, 0, 30, 500, &nr, &nn, err)) < 0)
            return rc;
    }
    if (nn) {
        pthread_mutex_lock(&m->lock);
        if (m->npending + nn > m->cappending) {
            struct hist_outbox_new *p = realloc(m->pending, (m->npending + nn) * sizeof *p);
            if (p) {
                m->pending = p;
                m->cappending = m->npending + nn;
            }
        }
        if (m->npending + nn <= m->cappending) {
            /* the payloads move to `pending` */
            memcpy(m->pending + m->npending, nr, nn * sizeof *nr);
            m->npending += nn;
            if (nr[nn - 1].id > m->handed)
                m->handed = nr[nn - 1].id;
            event_active(m->ev_notices, EV_READ, 0);
            nn = 0;
        }
        pthread_mutex_unlock(&m->lock);
    }
    hist_outbox_new_free(nr, nn);
    if ((rc = hist_outbox_suppress(conn, err)) < 0 ||
        (rc = hist_outbox_escalate(conn, &k, err)) < 0)
        return rc;
    atomic_fetch_add(&m->escalations, k);
    if ((rc = hist_outbox_failover(conn, m->o.failover_s, m->o.give_up_s, &k, err)) < 0)
        return rc;
    atomic_fetch_add(&m->failovers, k);
    if (mono_ms() >= m->next_trim) {
        m->next_trim = mono_ms() + 3600 * 1000;
        if ((rc = hist_outbox_trim(conn, 7, err)) < 0)
            return rc;
    }
    /* Claim what the sender has room for; the lease outlives its timeout. */
    int room = hist_hooks_room(m->hooks);
    if (room <= 0)
        return 0;
    char claim[96];
    unsigned char rnd[6];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(claim, sizeof claim, "%.40s:%llu:%02x%02x%02x%02x%02x%02x", m->sender,
             (unsigned long long)++m->claims, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    struct hist_outbox_row *rows = NULL;
    size_t nrows = 0;
    if ((rc = hist_outbox_claim(conn, claim, m->o.webhook_timeout_ms + 5000, (size_t)room, &rows,
                                &nrows, err)) < 0)
        return rc;
    bool full = false;
    for (size_t i = 0; i < nrows && rc == 0; i++) {
        char why[300];
        if (full) {
            rc = hist_outbox_release(conn, rows[i].id, claim, err);
            continue;
        }
        int src = send_row(m, &rows[i], claim, why, sizeof why);
        if (src == 0 && rows[i].attempts > 1)
            atomic_fetch_add(&m->retried, 1);
        if (src == -EAGAIN) {
            /* This row and the rest go back, due again at once; the rows
             * already queued keep their claim. */
            full = true;
            rc = hist_outbox_release(conn, rows[i].id, claim, err);
        } else if (src < 0) {
            LOGW("alert notice %llu not sent: %s", rows[i].id, why);
            rc = hist_outbox_done(conn, rows[i].id, claim, false, why, m->o.retry_max_s, NULL, err);
        }
    }
    hist_outbox_rows_free(rows, nrows);
    return rc;
}

/* results_apply (alert thread): record send results under their claims, in
 * one transaction; on an error the whole batch waits for the next connection. */
static int results_apply(struct maint *m, MYSQL *conn, struct sc_err *err)
{
    pthread_mutex_lock(&m->lock);
    struct sent *l = m->results;
    m->results = NULL;
    pthread_mutex_unlock(&m->lock);
    if (!l)
        return 0;
    uint64_t delivered = 0;
    int rc = mysql_query(conn, "START TRANSACTION") != 0 ? -EIO : 0;
    for (struct sent *r = l; r && rc == 0; r = r->next) {
        bool applied = false;
        rc = hist_outbox_done(conn, r->id, r->claim, r->ok, r->error, m->o.retry_max_s, &applied,
                              err);
        if (rc == 0 && r->ok && applied)
            delivered++;
        else if (rc == 0 && r->ok)
            LOGW("alert notice %llu sent after its claim lapsed", r->id);
    }
    if (rc == 0 && mysql_query(conn, "COMMIT") != 0)
        rc = -EIO;
    if (rc < 0) {
        if (!err->msg[0])
            sc_err_set(err, EIO, "alert outbox", -1, "MySQL error %u: %s", mysql_errno(conn),
                       mysql_error(conn));
        mysql_query(conn, "ROLLBACK");
        pthread_mutex_lock(&m->lock);
        struct sent **tail = &l;
        while (*tail)
            tail = &(*tail)->next;
        *tail = m->results;
        m->results = l;
        pthread_mutex_unlock(&m->lock);
        return rc;
    }
    atomic_fetch_add(&m->delivered, delivered);
    while (l) {
        struct sent *r = l;
        l = r->next;
        free(r);
    }
    return 0;
}

/* alert_loop (alert thread): evaluate while leader every alert interval; work
 * the outbox on every wake (results, the loop's routing, or its own poll). */
static void *alert_loop(void *arg)
{
    struct maint *m = arg;
    MYSQL *conn = NULL;
    struct hist_alert_state *st = NULL;
    uint64_t st_term = 0;
    int64_t next_eval = 0;
    bool was_leader = false;
    int poll_ms = m->o.alert_interval_ms < 1000 ? m->o.alert_interval_ms : 1000;
    mysql_thread_init();
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        bool eval_kick = m->akick_eval;
        m->akick = m->akick_eval = false;
        bool leader = m->leader;
        if (st && (!leader || st_term != m->term)) {
            /* what another leader did meanwhile is in MySQL, not here */
            hist_alert_state_free(st);
            st = NULL;
        }
        st_term = m->term;
        bool have_work = leader || m->results;
        pthread_mutex_unlock(&m->lock);
        if (leader && !was_leader)
            m->handed = 0; /* route what a previous leader left `new` */
        was_leader = leader;
        struct sc_err err;
        sc_err_clear(&err);
        if (have_work && !conn && !(conn = db_connect(&m->url, m->password, 10, &err))) {
            LOGW("alerts: %s", err.msg);
            atomic_fetch_add(&m->eval_errors, 1);
        }
        if (conn && results_apply(m, conn, &err) < 0) {
            LOGW("alert outbox: %s; reconnecting next time", err.msg);
            mysql_close(conn);
            conn = NULL;
        }
        if (leader && conn && (eval_kick || mono_ms() >= next_eval)) {
            next_eval = mono_ms() + m->o.alert_interval_ms;
            /* The conditions as the loop last gave them, copied so the loop
             * may replace them during the evaluation. */
            struct hist_alert_cond *na = NULL;
            size_t nna = 0;
            pthread_mutex_lock(&m->lock);
            bool known = m->na_known;
            if (known && m->nna > 0) {
                if ((na = malloc(m->nna * sizeof *na))) {
                    memcpy(na, m->na, m->nna * sizeof *na);
                    nna = m->nna;
                } else {
                    known = false; /* out of memory: leave those alerts alone */
                }
            }
            pthread_mutex_unlock(&m->lock);
            if ((!st && hist_alert_state_new(&st) < 0) ||
                eval_once(m, conn, st, na, nna, known, &err) < 0) {
                LOGW("alerts: %s; reconnecting next time", err.msg[0] ? err.msg : "out of memory");
                atomic_fetch_add(&m->eval_errors, 1);
                mysql_close(conn);
                conn = NULL;
                hist_alert_state_free(st);
                st = NULL;
            } else {
                atomic_fetch_add(&m->evaluations, 1);
            }
            free(na);
        }
        if (leader && conn && outbox_step(m, conn, &err) < 0) {
            LOGW("alert outbox: %s; reconnecting next time", err.msg);
            mysql_close(conn);
            conn = NULL;
        }
        pthread_mutex_lock(&m->lock);
        int64_t wait = leader ? next_eval - mono_ms() : m->o.alert_interval_ms;
        if (wait > poll_ms)
            wait = poll_ms;
        if (wait < 1)
            wait = 1;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait / 1000;
        until.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!m->stop && !m->akick &&
               pthread_cond_timedwait(&m->acond, &m->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&m->lock);
    hist_alert_state_free(st);
    if (conn)
        mysql_close(conn);
    mysql_thread_end();
    return NULL;
}

static unsigned kind_bit(const char *kind)
{
    /* no_agent: nothing can run the job's fires, so they are missed. */
    return strcmp(kind, "failed") == 0        ? JOB_ALERT_FAILURE
           : strcmp(kind, "timeout") == 0     ? JOB_ALERT_TIMEOUT
           : strcmp(kind, "no_failover") == 0 ? JOB_ALERT_NO_FAILOVER
                                              : JOB_ALERT_MISSED;
}

static bool workflow_kind(const char *kind)
{
    return !strcmp(kind, "run_failed") || !strcmp(kind, "run_overdue") ||
           !strcmp(kind, "task_failed") || !strcmp(kind, "sensor_late");
}

/* route_unowned (loop): the channels of a notice no job's settings take: a
 * workflow's own alert channels for a workflow's; else alert_webhook, else
 * the agent's plain default channels; NULL: nowhere. */
static char *route_unowned(struct maint *m, const struct hist_alert_notice *x)
{
    if (workflow_kind(x->kind) && m->o.workflow_channels) {
        char *own = m->o.workflow_channels(m->o.ctx, x->job);
        if (own)
            return own;
    }
    if (m->webhook) {
        cJSON *a = cJSON_CreateArray(), *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "type", "webhook");
        cJSON_AddStringToObject(w, "url", m->webhook);
        cJSON_AddItemToArray(a, w);
        char *s = json_print(a);
        cJSON_Delete(a);
        return s;
    }
    const cJSON *d = m->defaults ? alertch_default_for(m->defaults, NULL) : NULL;
    return d && cJSON_GetArraySize(d) > 0 ? json_print(d) : NULL;
}

/* route_of (loop): the job's channel list as JSON text (alert.webhook first,
 * then alert.channels; the agent's default for the job's domain, else its
 * plain default, when it names neither), the
 * caller's; NULL when the job wants no notice of this kind. */
static char *route_of(struct maint *m, const struct job *j, const struct hist_alert_notice *n)
{
    if (!j || !(j->alert.on & kind_bit(n->kind)))
        return NULL;
    cJSON *a = j->alert.channels ? cJSON_Parse(j->alert.channels) : cJSON_CreateArray();
    if (!a)
        return NULL;
    if (j->alert.webhook && j->alert.webhook[0]) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "type", "webhook");
        cJSON_AddStringToObject(w, "url", j->alert.webhook);
        cJSON_InsertItemInArray(a, 0, w);
    }
    if (cJSON_GetArraySize(a) == 0 && m->defaults) {
        const cJSON *d = alertch_default_for(m->defaults, j->domain);
        cJSON_Delete(a);
        a = d ? cJSON_Duplicate(d, 1) : NULL;
    }
    char *s = a && cJSON_GetArraySize(a) > 0 ? json_print(a) : NULL;
    cJSON_Delete(a);
    return s;
}

/* notices_cb (loop): route the new outbox rows with each job's alert settings. */
static void notices_cb(evutil_socket_t fd, short what, void *arg)
{
    struct maint *m = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&m->lock);
    struct hist_outbox_new *n = m->pending;
    size_t nn = m->npending;
    m->pending = NULL;
    m->npending = m->cappending = 0;
    pthread_mutex_unlock(&m->lock);
    int64_t now = mono_ms();
    struct routed *head = NULL, **tail = &head;
    bool oom = false;
    for (size_t i = 0; i < nn; i++) {
        struct hist_alert_notice *x = &n[i].n;
        bool resolve = strcmp(x->event, "resolve") == 0;
        if (strcmp(x->event, "open") == 0)
            m->opened++;
        else if (resolve)
            m->resolved++;
        else
            m->reminders++;
        LOGN("alert %llu %s: %s %s%s item %d count %u", x->id, x->event, x->kind, x->job, x->agent,
             x->item, x->count);
        struct routed *r = calloc(1, sizeof *r);
        if (!r) {
            oom = true; /* the row stays `new` and is handed again */
            break;
        }
        r->id = n[i].id;
        r->alert_id = x->id;
        snprintf(r->event, sizeof r->event, "%s", x->event);
        if (!hist_alert_about_job(x)) {
            /* an agent's or a workflow's: its stored payload, as decided */
            r->channels = route_unowned(m, x);
            if (r->channels && !(r->notice = strdup(n[i].payload))) {
                free(r->channels);
                free(r);
                oom = true;
                continue;
            }
            *tail = r;
            tail = &r->next;
            continue;
        }
        const struct job *j = m->o.job ? m->o.job(m->o.ctx, x->job) : NULL;
        r->channels = route_of(m, j, x);
        void *last = j ? strmap_get(&m->last_notice, j->name) : NULL;
        if (r->channels && !resolve && last && j->alert.silence_s > 0 &&
            now - (int64_t)(intptr_t)last < (int64_t)j->alert.silence_s * 1000) {
            m->silenced++; /* the reminder brings it later */
            free(r->channels);
            r->channels = NULL;
        }
        if (r->channels) {
            int perr = 0;
            strmap_put(&m->last_notice, j->name, (void *)(intptr_t)(now ? now : 1), &perr);
            /* The stored payload, with what comes from the job's config now
             * (domain, level, ...) laid over it. */
            char *body = hist_alert_payload(j, x, m->sender);
            cJSON *o = cJSON_Parse(n[i].payload), *fresh = body ? cJSON_Parse(body) : NULL, *f;
            if (o && fresh) {
                cJSON_ArrayForEach(f, fresh)
                {
                    cJSON_DeleteItemFromObjectCaseSensitive(o, f->string);
                    cJSON_AddItemToObject(o, f->string, cJSON_Duplicate(f, 1));
                }
                cJSON_DeleteItemFromObjectCaseSensitive(o, "notice_id");
                cJSON_AddNumberToObject(o, "notice_id", (double)r->id);
                r->notice = json_print(o);
            }
            cJSON_Delete(o);
            cJSON_Delete(fresh);
            free(body);
            if (j->alert.escalate)
                r->escalate = strdup(j->alert.escalate);
            if (!r->notice || (j->alert.escalate && !r->escalate)) {
                free(r->channels);
                free(r->notice);
                free(r->escalate);
                free(r);
                oom = true; /* left `new`, handed again */
                continue;
            }
        }
        *tail = r;
        tail = &r->next;
    }
    hist_outbox_new_free(n, nn);
    if (head || oom) {
        pthread_mutex_lock(&m->lock);
        *tail = m->routed;
        m->routed = head;
        m->rehand = m->rehand || oom;
        m->akick = true;
        pthread_cond_signal(&m->acond);
        pthread_mutex_unlock(&m->lock);
    }
}

int maint_start(const struct maint_opts *o, struct maint **out)
{
    struct maint *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->o = *o;
    m->url = *o->url;
    m->password = o->password ? strdup(o->password) : NULL;
    m->sender = strdup(o->sender ? o->sender : "");
    m->o.url = NULL; /* copied above; the caller's pointers are not kept */
    m->o.password = NULL;
    m->o.sender = NULL;
    m->retention_days = o->retention_days ? o->retention_days : 30;
    m->period_s = o->period_s ? o->period_s : 300;
    m->secrets = o->secrets && o->secrets[0] ? strdup(o->secrets) : NULL;
    m->ack_url = o->ack_url && o->ack_url[0] ? strdup(o->ack_url) : NULL;
    m->defaults = o->channels && o->channels[0] ? cJSON_Parse(o->channels) : NULL;
    m->webhook = o->alert_webhook && o->alert_webhook[0] ? strdup(o->alert_webhook) : NULL;
    m->o.secrets = m->o.ack_url = m->o.channels = m->o.alert_webhook = NULL;
    if (m->ack_url && m->ack_url[strlen(m->ack_url) - 1] == '/')
        m->ack_url[strlen(m->ack_url) - 1] = 0;
    if (m->o.failover_s < 1)
        m->o.failover_s = 300;
    if (m->o.retry_max_s < 1)
        m->o.retry_max_s = 60;
    if (m->o.give_up_s < 1)
        m->o.give_up_s = 86400;
    strmap_init(&m->last_notice);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    pthread_cond_init(&m->acond, NULL);
    if (o->alert_interval_ms > 0 && o->base) {
        if (m->o.alert_reminder_s < 1)
            m->o.alert_reminder_s = 3600;
        m->ev_notices = event_new(o->base, -1, 0, notices_cb, m);
        if (!m->ev_notices ||
            hist_hooks_new(o->webhook_queue, o->webhook_timeout_ms, &m->hooks) < 0 ||
            pthread_create(&m->athread, NULL, alert_loop, m) != 0) {
            LOGW("alerts: cannot start the alert thread; no alert notifications");
            if (m->ev_notices)
                event_free(m->ev_notices);
            m->ev_notices = NULL;
            hist_hooks_free(m->hooks);
            m->hooks = NULL;
        } else {
            m->alerting = true;
        }
    }
    if (pthread_create(&m->thread, NULL, loop, m) != 0) {
        m->stop = true;
        if (m->alerting) {
            pthread_cond_signal(&m->acond);
            pthread_join(m->athread, NULL);
            hist_hooks_free(m->hooks);
            event_free(m->ev_notices);
        }
        strmap_free(&m->last_notice);
        free(m->sender);
        free(m->password);
        free(m->secrets);
        free(m->ack_url);
        cJSON_Delete(m->defaults);
        free(m->webhook);
        free(m);
        return -EAGAIN;
    }
    *out = m;
    return 0;
}

void maint_alert_stats(struct maint *m, struct maint_alert_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!m)
        return;
    struct hist_hooks_stats hs;
    hist_hooks_stats(m->hooks, &hs);
    s->evaluations = atomic_load(&m->evaluations);
    s->eval_errors = atomic_load(&m->eval_errors);
    s->opened = m->opened;
    s->resolved = m->resolved;
    s->reminders = m->reminders;
    s->silenced = m->silenced;
    s->sent = hs.sent;
    s->failed = hs.failed;
    s->dropped = hs.dropped;
    s->queued = hs.queued;
    s->delivered = atomic_load(&m->delivered);
    s->retried = atomic_load(&m->retried);
    s->failovers = atomic_load(&m->failovers);
    s->escalations = atomic_load(&m->escalations);
}

void maint_set_leader(struct maint *m, bool leader)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    if (leader && !m->leader) {
        m->kick = m->akick = m->akick_eval = true; /* run at once on becoming leader */
        m->term++;
    }
    if (!leader)
        m->na_known = false; /* a list from an earlier term is not trusted again */
    m->leader = leader;
    pthread_cond_signal(&m->cond);
    pthread_cond_signal(&m->acond);
    pthread_mutex_unlock(&m->lock);
}

void maint_set_conditions(struct maint *m, bool known, const struct hist_alert_cond *v, size_t n)
{
    if (!m || !m->alerting)
        return;
    if (!known || !v)
        n = 0;
    if (n > HIST_ALERT_MAX)
        n = HIST_ALERT_MAX;
    struct hist_alert_cond *buf = n ? malloc(n * sizeof *buf) : NULL;
    if (n && !buf) {
        n = 0;
        known = false; /* out of memory: the list becomes unknown */
    }
    if (buf)
        memcpy(buf, v, n * sizeof *buf);
    pthread_mutex_lock(&m->lock);
    free(m->na);
    m->na = buf;
    m->nna = n;
    m->na_known = known && m->leader;
    pthread_mutex_unlock(&m->lock);
}

uint64_t maint_deleted(const struct maint *m)
{
    return m ? atomic_load(&m->deleted) : 0;
}

void maint_stop(struct maint *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->cond);
    pthread_cond_signal(&m->acond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    if (m->alerting) {
        pthread_join(m->athread, NULL);
        hist_hooks_free(m->hooks);
        event_free(m->ev_notices);
    }
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->acond);
    pthread_mutex_destroy(&m->lock);
    strmap_free(&m->last_notice);
    hist_outbox_new_free(m->pending, m->npending);
    while (m->routed) {
        struct routed *r = m->routed;
        m->routed = r->next;
        free(r->notice);
        free(r->channels);
        free(r->escalate);
        free(r);
    }
    /* hist_hooks_free has reported what it abandoned: the rows' leases lapse
     * and the next leader sends them. */
    while (m->results) {
        struct sent *r = m->results;
        m->results = r->next;
        free(r);
    }
    free(m->secrets);
    free(m->ack_url);
    cJSON_Delete(m->defaults);
    free(m->na);
    free(m->webhook);
    free(m->sender);
    free(m->password);
    free(m);
}
