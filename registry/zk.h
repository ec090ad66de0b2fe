/* registry/zk.h: the one ZooKeeper wrapper — an async session owned by a libevent loop.
 *
 * Every ZooKeeper completion and watch event arrives on the client library's
 * completion thread; this layer copies it into a message and hands it to the
 * owning event loop through a queue and an eventfd (memcached's pattern), so
 * all user callbacks run on the loop thread and never block the client.
 *
 * Session states drive the process:
 *   CONNECTING  first connect in progress (no session yet)
 *   CONNECTED   session alive, requests flow
 *   SUSPENDED   connection lost; the session may be alive. Callers stop starting
 *               new work. The lease (below) keeps ageing.
 *   LOST        the lease ran out (the server may already have expired us) or the
 *               server said the session expired. Callers kill running work and
 *               drop everything owned. zkreg then builds a new handle by itself
 *               and reports CONNECTED again with a new session id: callers
 *               register again and resume. Expiry never leaves a process idle.
 *
 * Paths given to the calls are relative to the namespace: "/agents/a1" is
 * "/<namespace>/agents/a1" on the server (after any chroot of the connect string).
 * Watches all report to the one on_watch callback (session events are handled
 * here and reported through on_state, never to on_watch). */
#ifndef SC_REGISTRY_ZK_H
#define SC_REGISTRY_ZK_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <zookeeper.h>

#include "core/err.h"

struct zkreg;

enum zkreg_state { ZKREG_CONNECTING, ZKREG_CONNECTED, ZKREG_SUSPENDED, ZKREG_LOST };

struct zkreg_result {
    int rc;           /* ZOK or a ZooKeeper error (ZNONODE, ZCONNECTIONLOSS, ZCLOSING...) */
    bool stale;       /* the request belonged to an earlier session */
    const char *data; /* get: node data (may be NULL when empty) */
    int len;          /* get: data length */
    struct Stat stat; /* get/set/exists/children/create; multi: that of its first set */
    bool has_stat;
    const char *path; /* create: the created path, relative to the namespace; multi: the
                       * path of its first create */
    char **children;  /* children: names, sorted */
    int nchildren;
    const int *op_rc; /* multi: per-op results */
    int nops;
};

/* Callbacks run on the loop thread. A request callback is called exactly once. */
typedef void (*zkreg_cb)(struct zkreg *z, const struct zkreg_result *r, void *arg);
typedef void (*zkreg_state_cb)(struct zkreg *z, enum zkreg_state st, void *ctx);
typedef void (*zkreg_watch_cb)(struct zkreg *z, int type, const char *path, void *ctx);

struct zkreg_opts {
    const char *hosts; /* HOST:PORT[,...][/chroot] */
    const char *ns;    /* namespace, without slashes; "" for none */
    int session_timeout_ms;
    const char *auth;  /* "user:password" for the digest ACL, or NULL */
    int lost_after_ms; /* SUSPENDED -> LOST after this at the latest; 0 = the lease decides */
    zkreg_state_cb on_state;
    zkreg_watch_cb on_watch;
    void *ctx;
};

/* zkreg_hosts_local: every server of a connect string ("h:p,h:p/chroot") is a
 * loopback address or localhost; without zk_auth_file zkreg_open warns when not. */
bool zkreg_hosts_local(const char *hosts);

/* zkreg_open: start connecting; returns 0 or -errno with err set. The handle is
 * the caller's; close it with zkreg_close() from the loop thread. */
int zkreg_open(struct event_base *base, const struct zkreg_opts *o, struct zkreg **out,
               struct sc_err *err);
/* zkreg_close: closes the session (ephemeral nodes go at once), runs pending
 * callbacks with rc ZCLOSING, frees the handle. */
void zkreg_close(struct zkreg *z);

enum zkreg_state zkreg_state(const struct zkreg *z);
int64_t zkreg_session_id(const struct zkreg *z);  /* 0 before the first session */
uint64_t zkreg_generation(const struct zkreg *z); /* bumps with every new session */
int zkreg_timeout_ms(const struct zkreg *z);      /* negotiated session timeout */
int64_t zkreg_sessions_lost(const struct zkreg *z);

/* The lease: the session is known alive at the send time of the last request
 * the server answered (a heartbeat goes out every timeout/5). zkreg_lease_ok:
 * that proof is younger than half the timeout, so new work may start.
 * zkreg_lease_age_ms: how old the proof is. When the proof ages past the
 * timeout minus a margin, zkreg treats the session as LOST by itself, even if
 * the loop was frozen (SIGSTOP) and nothing else noticed. */
bool zkreg_lease_ok(const struct zkreg *z);
int64_t zkreg_lease_age_ms(const struct zkreg *z);

/* Requests. Return 0 when queued (the callback will run), or a ZooKeeper error
 * code when the request could not be sent (the callback will not run). */
int zkreg_create(struct zkreg *z, const char *path, const char *data, int len, int flags,
                 zkreg_cb cb, void *arg);
int zkreg_get(struct zkreg *z, const char *path, bool watch, zkreg_cb cb, void *arg);
int zkreg_exists(struct zkreg *z, const char *path, bool watch, zkreg_cb cb, void *arg);
int zkreg_children(struct zkreg *z, const char *path, bool watch, zkreg_cb cb, void *arg);
int zkreg_set(struct zkreg *z, const char *path, const char *data, int len, int version,
              zkreg_cb cb, void *arg);
int zkreg_delete(struct zkreg *z, const char *path, int version, zkreg_cb cb, void *arg);

/* A multi-op transaction: all ops apply or none. */
enum zkreg_op_type { ZKOP_CHECK, ZKOP_SET, ZKOP_CREATE, ZKOP_DELETE };
struct zkreg_op {
    enum zkreg_op_type type;
    const char *path; /* relative to the namespace */
    const char *data;
    int len;
    int version; /* CHECK/SET/DELETE: expected version, -1 = any */
    int flags;   /* CREATE */
};
int zkreg_multi(struct zkreg *z, const struct zkreg_op *ops, int n, zkreg_cb cb, void *arg);

/* zkreg_ensure: create `path` and its missing parents as persistent nodes
 * (ZNODEEXISTS is success); cb gets the result of the last create. */
int zkreg_ensure(struct zkreg *z, const char *path, zkreg_cb cb, void *arg);

/* zkreg_state_name: "connecting|connected|suspended|lost". */
const char *zkreg_state_name(enum zkreg_state st);

#endif
