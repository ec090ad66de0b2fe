/* console/dbpool.h: MySQL work off the console's loop.
 *
 * A few worker threads, each with its own connection (opened lazily, opened again
 * after the server went away), take jobs from one queue. A job's `work` runs on a
 * worker; its `done` runs afterwards on the loop thread, handed back through an
 * eventfd (the pattern of registry/zk.c), so replies are always sent from the loop.
 *
 * The console runs three: the history pool (history routes, audit), a bounded
 * one-worker pool for the user store (logins' lookups, user changes), and a
 * bounded one-worker pool without MySQL for argon2 (console/auth.c): a burst of
 * logins never holds the workers the history routes need, and argon2 holds no
 * MySQL connection. */
#ifndef SC_CONSOLE_DBPOOL_H
#define SC_CONSOLE_DBPOOL_H

#include <event2/event.h>
#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "sql/db.h"

struct dbpool;

/* work: on a worker thread; m is NULL when no connection could be made (the job
 * must report that). done: on the loop thread, exactly once. */
typedef void (*dbpool_work_fn)(MYSQL *m, void *arg);
typedef void (*dbpool_done_fn)(void *arg);

/* dbpool_new: start `nthreads` workers. url and password are copied. url NULL:
 * workers that never connect (every work gets m NULL), for CPU work that must
 * stay off the loop and off the MySQL workers (password hashing). */
int dbpool_new(struct event_base *base, const struct db_url *url, const char *password,
               int nthreads, struct dbpool **out, struct sc_err *err);

/* dbpool_submit: queue a job; 0, -ENOMEM or -EBUSY (the pool's bound is
 * reached); on error nothing runs. Loop thread. */
int dbpool_submit(struct dbpool *p, dbpool_work_fn work, dbpool_done_fn done, void *arg);

/* dbpool_set_bound: at most `max` jobs queued or running (0 = no bound, the
 * default); beyond it dbpool_submit refuses with -EBUSY instead of queueing, so
 * a burst is answered at once rather than waited on. */
void dbpool_set_bound(struct dbpool *p, int max);

/* dbpool_free: finish every queued job, join the workers and run the remaining
 * done callbacks on the calling (loop) thread. NULL is fine. */
void dbpool_free(struct dbpool *p);

/* dbpool_health: true when the store answered at the last check (a connection
 * made, a statement run, a ping); else false with the reason in why (e.g. the
 * server's "Access denied ..."). A check older than a few seconds starts a ping
 * in the background, so this never waits on MySQL. Loop thread. */
bool dbpool_health(struct dbpool *p, char *why, size_t len);

/* dbpool_pending: jobs queued or running (for /metrics). */
int dbpool_pending(const struct dbpool *p);

#endif
