/* console/dbpool.c: worker threads for MySQL, results back to the loop (dbpool.h). */
#define LOG_CAT "shardcron.console"
#include "console/dbpool.h"

#include <errmsg.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct dbjob {
    dbpool_work_fn work;
    dbpool_done_fn done;
    void *arg;
    bool probe; /* the pool's own health probe: outside the bound and the count */
    struct dbjob *next;
};

struct dbpool {
    struct event_base *base;
    struct db_url url;
    bool noconn; /* url was NULL: a pool of threads without MySQL */
    char *password;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dbjob *todo, *todo_tail; /* FIFO */
    struct dbjob *done;             /* LIFO, reversed when drained */
    bool stopping;
    int pending;
    int bound; /* 0: none */
    int efd;
    struct event *ev;
    pthread_t *threads;
    int nthreads;
    /* health: what the last connect, query or ping said (under mu) */
    int up; /* 1 answered, 0 did not, -1 not tried yet */
    char why[256];
    int64_t checked_ms;
    bool probing; /* loop thread only */
};

#define DBPOOL_HEALTH_MS 5000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(struct dbpool *p, bool ok, const char *why)
{
    pthread_mutex_lock(&p->mu);
    p->up = ok;
    snprintf(p->why, sizeof p->why, "%s", ok ? "" : why);
    p->checked_ms = mono_ms();
    pthread_mutex_unlock(&p->mu);
}

static void *worker(void *arg)
{
    struct dbpool *p = arg;
    MYSQL *m = NULL;
    bool warned = false; /* one warning per outage and worker, not one per request */
    mysql_thread_init();
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->todo && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct dbjob *j = p->todo;
        if (!j) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->todo = j->next;
        if (!p->todo)
            p->todo_tail = NULL;
        pthread_mutex_unlock(&p->mu);

        if (!m && !p->noconn) {
            struct sc_err err;
            m = db_connect(&p->url, p->password, 5, &err);
            note(p, m != NULL, err.msg);
            if (!m && !warned)
                LOGW("history store: %s", err.msg);
            else if (m && warned)
                LOGN("history store reachable again");
            warned = !m;
        }
        j->work(m, j->arg);
        if (m) {
            unsigned e = mysql_errno(m);
            if (e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR) {
                note(p, false, mysql_error(m));
                mysql_close(m);
                m = NULL;
            } else {
                note(p, true, NULL);
            }
        }
        pthread_mutex_lock(&p->mu);
        j->next = p->done;
        p->done = j;
        pthread_mutex_unlock(&p->mu);
        uint64_t one = 1;
        ssize_t w = write(p->efd, &one, sizeof one);
        (void)w;
    }
    if (m)
        mysql_close(m);
    mysql_thread_end();
    return NULL;
}

static void run_done(struct dbpool *p)
{
    pthread_mutex_lock(&p->mu);
    struct dbjob *list = p->done, *rev = NULL;
    p->done = NULL;
    pthread_mutex_unlock(&p->mu);
    while (list) {
        struct dbjob *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct dbjob *n = rev->next;
        if (!rev->probe)
            p->pending--;
        rev->done(rev->arg);
        free(rev);
        rev = n;
    }
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    uint64_t v;
    (void)what;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    run_done(arg);
}

static int enqueue(struct dbpool *p, dbpool_work_fn work, dbpool_done_fn done, void *arg,
                   bool probe);

static void probe_work(MYSQL *m, void *arg)
{
    (void)arg;
    if (m)
        mysql_ping(m); /* a dead connection sets a CR_ error: the worker notes it */
}

static void probe_done(void *arg)
{
    ((struct dbpool *)arg)->probing = false;
}

int dbpool_new(struct event_base *base, const struct db_url *url, const char *password,
               int nthreads, struct dbpool **out, struct sc_err *err)
{
    struct dbpool *p = calloc(1, sizeof *p);
    if (!p)
        return sc_err_set(err, ENOMEM, "mysql", -1, "out of memory");
    p->base = base;
    if (url)
        p->url = *url;
    p->noconn = !url;
    p->password = strdup(password ? password : "");
    p->up = -1;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->password || p->efd < 0 || !p->threads)
        goto err;
    p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_notify, p);
    if (!p->ev || event_add(p->ev, NULL) < 0)
        goto err;
    for (; p->nthreads < nthreads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) != 0)
            goto err;
    /* Know at once whether the store answers (a wrong password must not pass
     * for healthy until the first page that needs history). */
    if (!p->noconn && enqueue(p, probe_work, probe_done, p, true) == 0)
        p->probing = true;
    *out = p;
    return 0;
err:
    dbpool_free(p);
    return sc_err_set(err, ENOMEM, "mysql", -1, "cannot start the MySQL workers");
}

static int enqueue(struct dbpool *p, dbpool_work_fn work, dbpool_done_fn done, void *arg,
                   bool probe)
{
    struct dbjob *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->probe = probe;
    pthread_mutex_lock(&p->mu);
    if (p->todo_tail)
        p->todo_tail->next = j;
    else
        p->todo = j;
    p->todo_tail = j;
    if (!probe)
        p->pending++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int dbpool_submit(struct dbpool *p, dbpool_work_fn work, dbpool_done_fn done, void *arg)
{
    if (p->bound > 0 && p->pending >= p->bound)
        return -EBUSY;
    return enqueue(p, work, done, arg, false);
}

bool dbpool_health(struct dbpool *p, char *why, size_t len)
{
    pthread_mutex_lock(&p->mu);
    int up = p->up;
    bool stale = up < 0 || mono_ms() - p->checked_ms > DBPOOL_HEALTH_MS;
    snprintf(why, len, "%s", up < 0 ? "not checked yet" : p->why);
    pthread_mutex_unlock(&p->mu);
    if (stale && !p->probing && !p->noconn && enqueue(p, probe_work, probe_done, p, true) == 0)
        p->probing = true;
    return up == 1;
}

void dbpool_set_bound(struct dbpool *p, int max)
{
    p->bound = max;
}

int dbpool_pending(const struct dbpool *p)
{
    return p ? p->pending : 0;
}

void dbpool_free(struct dbpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    run_done(p);
    if (p->ev)
        event_free(p->ev);
    if (p->efd >= 0)
        close(p->efd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->password);
    free(p);
}
