/* agent/maint.c: the leader's history work — retention and the daily-stats
 * rollup (housekeeping thread), alert evaluation (alert thread) and the alert
 * webhooks (sql/hist_hooks.c's thread). See agent/maint.h. */
#define LOG_CAT "shardcron.history"
#include "agent/maint.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/strmap.h"
#include "sql/hist.h"
#include "sql/hist_alert.h"

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
    struct hist_alert_notice *pending; /* decided, not yet seen by the loop (lock) */
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

/* alert_loop (alert thread): evaluate while leader, hand notices to the loop.
 * The evaluation state lives for one term as leader on one connection: a new
 * term, or an error, rebuilds it from MySQL. */
static void *alert_loop(void *arg)
{
    struct maint *m = arg;
    MYSQL *conn = NULL;
    struct hist_alert_state *st = NULL;
    uint64_t st_term = 0;
    mysql_thread_init();
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        m->akick = false;
        if (st && (!m->leader || st_term != m->term)) {
            /* what another leader did meanwhile is in MySQL, not here */
            hist_alert_state_free(st);
            st = NULL;
        }
        st_term = m->term;
        if (m->leader) {
            /* The list as the loop last gave it, copied so the loop may
             * replace it during the evaluation. */
            struct hist_alert_cond *na = NULL;
            size_t nna = 0;
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
            static const struct hist_alert_cond none[1];
            struct hist_alert_opts ao = {.reminder_s = m->o.alert_reminder_s,
                                         .group_ms = m->o.alert_group_ms};
            struct sc_err err;
            struct hist_alert_notice *n = NULL;
            size_t nn = 0;
            sc_err_clear(&err);
            int rc = 0;
            if (!conn && !(conn = db_connect(&m->url, m->password, 10, &err))) {
                LOGW("alerts: %s", err.msg);
                atomic_fetch_add(&m->eval_errors, 1);
            } else if ((!st && (rc = hist_alert_state_new(&st)) < 0) ||
                       (rc = hist_alert_eval(conn, st, &ao, now_ms(),
                                             !known ? NULL
                                             : na   ? na
                                                    : none,
                                             nna, &n, &nn, &err)) < 0) {
                LOGW("alerts: %s; reconnecting next time",
                     rc == -ENOMEM ? "out of memory" : err.msg);
                atomic_fetch_add(&m->eval_errors, 1);
                hist_alert_state_free(st);
                st = NULL;
                mysql_close(conn);
                conn = NULL;
            } else {
                atomic_fetch_add(&m->evaluations, 1);
            }
            free(na);
            pthread_mutex_lock(&m->lock);
            if (nn && m->npending + nn > m->cappending) {
                size_t cap = m->npending + nn;
                struct hist_alert_notice *p = realloc(m->pending, cap * sizeof *p);
                if (p) {
                    m->pending = p;
                    m->cappending = cap;
                }
            }
            if (nn && m->npending + nn <= m->cappending) {
                memcpy(m->pending + m->npending, n, nn * sizeof *n);
                m->npending += nn;
                event_active(m->ev_notices, EV_READ, 0);
            }
            free(n);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->o.alert_interval_ms / 1000;
        until.tv_nsec += (long)(m->o.alert_interval_ms % 1000) * 1000000L;
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

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* notices_cb (loop): the job's alert settings decide what is sent. */
static void notices_cb(evutil_socket_t fd, short what, void *arg)
{
    struct maint *m = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&m->lock);
    struct hist_alert_notice *n = m->pending;
    size_t nn = m->npending;
    m->pending = NULL;
    m->npending = m->cappending = 0;
    pthread_mutex_unlock(&m->lock);
    int64_t now = mono_ms();
    for (size_t i = 0; i < nn; i++) {
        bool resolve = strcmp(n[i].event, "resolve") == 0;
        if (strcmp(n[i].event, "open") == 0)
            m->opened++;
        else if (resolve)
            m->resolved++;
        else
            m->reminders++;
        LOGN("alert %llu %s: %s %s%s item %d count %u", n[i].id, n[i].event, n[i].kind, n[i].job,
             n[i].agent, n[i].item, n[i].count);
        if (!hist_alert_about_job(&n[i])) { /* an agent's or a workflow's: alert_webhook */
            char *body = m->webhook ? hist_alert_payload(NULL, &n[i], m->sender) : NULL;
            if (m->webhook && (!body || hist_hooks_post(m->hooks, m->webhook, body) < 0))
                LOGW("alert %llu not sent to alert_webhook", n[i].id);
            free(body);
            continue;
        }
        const struct job *j = m->o.job ? m->o.job(m->o.ctx, n[i].job) : NULL;
        if (!hist_alert_wanted(j, &n[i]))
            continue;
        void *last = strmap_get(&m->last_notice, j->name);
        if (!resolve && last && j->alert.silence_s > 0 &&
            now - (int64_t)(intptr_t)last < (int64_t)j->alert.silence_s * 1000) {
            m->silenced++; /* the reminder brings it later */
            continue;
        }
        int perr = 0;
        strmap_put(&m->last_notice, j->name, (void *)(intptr_t)(now ? now : 1), &perr);
        char *body = hist_alert_payload(j, &n[i], m->sender);
        int rc = body ? hist_hooks_post(m->hooks, j->alert.webhook, body) : -ENOMEM;
        if (rc == -EINVAL)
            LOGW("alert for %s not sent: %s is not an http:// or https:// URL", j->name,
                 j->alert.webhook);
        else if (rc == -EAGAIN)
            LOGW("alert for %s dropped: %d webhooks already queued", j->name, m->o.webhook_queue);
        free(body);
    }
    free(n);
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
    m->webhook = o->alert_webhook && o->alert_webhook[0] ? strdup(o->alert_webhook) : NULL;
    m->o.url = NULL; /* copied above; the caller's pointers are not kept */
    m->o.password = NULL;
    m->o.sender = NULL;
    m->o.alert_webhook = NULL;
    m->retention_days = o->retention_days ? o->retention_days : 30;
    m->period_s = o->period_s ? o->period_s : 300;
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
        free(m->webhook);
        free(m->password);
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
}

void maint_set_leader(struct maint *m, bool leader)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    if (leader && !m->leader) {
        m->kick = m->akick = true; /* run at once on becoming leader */
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
    free(m->pending);
    free(m->na);
    free(m->webhook);
    free(m->sender);
    free(m->password);
    free(m);
}
