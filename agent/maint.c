/* agent/maint.c: retention and daily-stats rollup run by the leader. */
#define LOG_CAT "shardcron.history"
#include "agent/maint.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "sql/hist.h"

struct maint {
    struct db_url url;
    char *password;
    unsigned retention_days, period_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, leader, kick;
    _Atomic uint64_t deleted;
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

int maint_start(const struct db_url *url, const char *password, unsigned retention_days,
                unsigned period_s, struct maint **out)
{
    struct maint *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->url = *url;
    m->password = password ? strdup(password) : NULL;
    m->retention_days = retention_days ? retention_days : 30;
    m->period_s = period_s ? period_s : 300;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    if (pthread_create(&m->thread, NULL, loop, m) != 0) {
        free(m->password);
        free(m);
        return -EAGAIN;
    }
    *out = m;
    return 0;
}

void maint_set_leader(struct maint *m, bool leader)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    if (leader && !m->leader)
        m->kick = true; /* run at once on becoming leader */
    m->leader = leader;
    pthread_cond_signal(&m->cond);
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
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m->password);
    free(m);
}
