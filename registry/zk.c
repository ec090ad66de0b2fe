/* registry/zk.c: async ZooKeeper session handed to a libevent loop.
 *
 * Sections: messages and the loop hand-off; completions (ZooKeeper thread);
 * session state machine (loop thread); requests. */
#define LOG_CAT "shardcron.registry"
#include "registry/zk.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* ---------------------------------------------------------------- messages */

enum msg_kind { MSG_SESSION, MSG_WATCH, MSG_REPLY };

struct op {
    struct op *next;          /* hand-off queue (any thread, under the lock) */
    struct op *oprev, *onext; /* requests awaiting a reply (loop thread only) */
    enum msg_kind kind;
    struct zkreg *z;
    uint64_t gen;
    /* MSG_SESSION / MSG_WATCH */
    int zstate, wtype;
    char *wpath;
    /* MSG_REPLY */
    zkreg_cb cb;
    void *arg;
    int rc;
    char *data;
    int len;
    struct Stat stat;
    bool has_stat;
    char *path;
    char **children;
    int nchildren;
    /* the request, kept until it is sent (requests beyond the in-flight cap wait) */
    int req;
    char *rpath, *rdata;
    int rlen, rversion, rflags;
    bool rwatch, counted;
    int64_t sent_ms; /* monotonic: a reply proves the session alive at this time */
    /* multi */
    int nops;
    zoo_op_t *zops;
    zoo_op_result_t *zres;
    char **bufs;        /* path and data copies the multi ops point into */
    struct Stat *mstat; /* per op: the stat a set op returns */
    int nbufs;
    int *op_rc;
};

/* One per ZooKeeper handle: the context of its watchers, freed after the
 * handle is closed (no callback can run after zookeeper_close returns). */
struct zsess {
    struct zkreg *z;
    uint64_t gen;
};

struct zkreg {
    struct event_base *base;
    struct zsess *sess;
    char *hosts, *ns, *auth, *prefix; /* prefix: "/ns" or "" */
    int session_timeout_ms, lost_after_ms, negotiated_ms;
    zkreg_state_cb on_state;
    zkreg_watch_cb on_watch;
    void *ctx;

    zhandle_t *zh;
    uint64_t gen;
    enum zkreg_state state;
    int64_t session_id;
    int64_t lost_count;
    struct ACL_vector *acl;
    struct ACL acl_auth[2];
    struct ACL_vector acl_auth_vec;

    pthread_mutex_t lock;
    struct op *head, *tail;
    struct op *outstanding;            /* requests sent and not yet answered */
    struct op *backlog, *backlog_tail; /* requests waiting for an in-flight slot */
    int inflight;
    int efd;
    struct event *ev_notify, *ev_lost, *ev_rebuild, *ev_beat;
    int64_t connect_started_ms; /* monotonic ms this handle was created (a new session) */
    bool closing;
    int64_t lease_base_ms; /* monotonic send time of the last answered request */
    bool beat_inflight;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void op_free(struct op *o)
{
    if (!o)
        return;
    free(o->wpath);
    free(o->rpath);
    free(o->rdata);
    free(o->data);
    free(o->path);
    for (int i = 0; i < o->nchildren; i++)
        free(o->children[i]);
    free(o->children);
    for (int i = 0; i < o->nbufs; i++)
        free(o->bufs[i]);
    free(o->bufs);
    free(o->zops);
    free(o->zres);
    free(o->mstat);
    free(o->op_rc);
    free(o);
}

static void unlink_outstanding(struct zkreg *z, struct op *o)
{
    if (o->kind != MSG_REPLY || (!o->oprev && !o->onext && z->outstanding != o))
        return;
    if (o->oprev)
        o->oprev->onext = o->onext;
    else
        z->outstanding = o->onext;
    if (o->onext)
        o->onext->oprev = o->oprev;
    o->oprev = o->onext = NULL;
}

static void reply_seen(struct zkreg *z, struct op *o);
static void pump(struct zkreg *z);

/* push: called on any thread; the loop picks the message up. */
static void push(struct zkreg *z, struct op *o)
{
    uint64_t one = 1;
    pthread_mutex_lock(&z->lock);
    o->next = NULL;
    if (z->tail)
        z->tail->next = o;
    else
        z->head = o;
    z->tail = o;
    pthread_mutex_unlock(&z->lock);
    if (write(z->efd, &one, sizeof one) < 0) {
        /* eventfd counter overflow cannot happen at our rates; the message is queued anyway */
    }
}

/* strip: server path -> namespace-relative path (copy, the caller's). */
static char *strip(const struct zkreg *z, const char *path)
{
    size_t n = strlen(z->prefix);
    if (path && n && strncmp(path, z->prefix, n) == 0)
        return strdup(path[n] ? path + n : "/");
    return strdup(path ? path : "");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------------------------------------------------------- completions (ZooKeeper thread)
 */

static void global_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    const struct zsess *s = ctx;
    struct zkreg *z = s->z;
    struct op *o = calloc(1, sizeof *o);
    (void)zh;
    if (!o)
        return;
    o->z = z;
    o->gen = s->gen;
    if (type == ZOO_SESSION_EVENT) {
        o->kind = MSG_SESSION;
        o->zstate = state;
    } else {
        o->kind = MSG_WATCH;
        o->wtype = type;
        o->wpath = strip(z, path);
    }
    push(z, o);
}

static void done_void(int rc, const void *data)
{
    struct op *o = (struct op *)data;
    o->rc = rc;
    push(o->z, o);
}

static void done_stat(int rc, const struct Stat *st, const void *data)
{
    struct op *o = (struct op *)data;
    o->rc = rc;
    if (rc == ZOK && st) {
        o->stat = *st;
        o->has_stat = true;
    }
    push(o->z, o);
}

static void done_data(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
    struct op *o = (struct op *)data;
    o->rc = rc;
    if (rc == ZOK) {
        if (st) {
            o->stat = *st;
            o->has_stat = true;
        }
        if (value && len > 0 && (o->data = malloc((size_t)len + 1))) {
            memcpy(o->data, value, (size_t)len);
            o->data[len] = '\0';
            o->len = len;
        }
    }
    push(o->z, o);
}

static void done_string_stat(int rc, const char *s, const struct Stat *st, const void *data)
{
    struct op *o = (struct op *)data;
    o->rc = rc;
    if (rc == ZOK) {
        o->path = strip(o->z, s);
        if (st) {
            o->stat = *st;
            o->has_stat = true;
        }
    }
    push(o->z, o);
}

static void done_strings(int rc, const struct String_vector *sv, const struct Stat *st,
                         const void *data)
{
    struct op *o = (struct op *)data;
    o->rc = rc;
    if (rc == ZOK && sv) {
        if (st) {
            o->stat = *st;
            o->has_stat = true;
        }
        o->children = calloc((size_t)sv->count + 1, sizeof *o->children);
        for (int i = 0; o->children && i < sv->count; i++)
            if ((o->children[o->nchildren] = strdup(sv->data[i])))
                o->nchildren++;
        if (o->children)
            qsort(o->children, (size_t)o->nchildren, sizeof *o->children, cmp_str);
    }
    push(o->z, o);
}

static void done_multi(int rc, const void *data)
{
    struct op *o = (struct op *)data;
    o->rc = rc;
    for (int i = 0; i < o->nops; i++) {
        o->op_rc[i] = o->zres[i].err;
        if (rc == ZOK && !o->path && o->zops[i].type == ZOO_CREATE_OP && o->zres[i].value)
            o->path = strip(o->z, o->zres[i].value);
        if (rc == ZOK && !o->has_stat && o->zops[i].type == ZOO_SETDATA_OP) {
            o->stat = o->mstat[i];
            o->has_stat = true;
        }
    }
    push(o->z, o);
}

/* ---------------------------------------------------------------- session state machine (loop) */

const char *zkreg_state_name(enum zkreg_state st)
{
    static const char *const names[] = {"connecting", "connected", "suspended", "lost"};
    return names[st];
}

static void set_state(struct zkreg *z, enum zkreg_state st)
{
    if (z->state == st)
        return;
    LOGI("zookeeper session %s -> %s (session 0x%llx)", zkreg_state_name(z->state),
         zkreg_state_name(st), (unsigned long long)z->session_id);
    z->state = st;
    if (z->on_state)
        z->on_state(z, st, z->ctx);
}

/* zk_log: the C client's own log lines (any of its threads). While a server
 * is unreachable it writes one error per connection attempt, a dozen a second:
 * the first of a burst is kept at info level with later ones counted, at most
 * one a minute; our own state messages and errors say what matters (a command
 * line tool prints one line, not a page of client internals). */
static void zk_log(const char *message)
{
    static _Atomic int64_t last_ms;
    static _Atomic unsigned quiet;
    if (!strstr(message, "ZOO_ERROR")) {
        LOGD("zookeeper client: %s", message);
        return;
    }
    int64_t now = mono_ms(), prev = atomic_load(&last_ms);
    if (prev && now - prev < 60000) {
        atomic_fetch_add(&quiet, 1);
        LOGD("zookeeper client: %s", message);
        return;
    }
    atomic_store(&last_ms, now);
    unsigned n = atomic_exchange(&quiet, 0);
    if (n)
        LOGI("zookeeper client: %s (%u more like it in the last minute)", message, n);
    else
        LOGI("zookeeper client: %s", message);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg);
static void reap_orphans(struct zkreg *z);

static void close_handle(struct zkreg *z)
{
    if (z->zh) {
        zhandle_t *old = z->zh;
        z->zh = NULL;
        zookeeper_close(old); /* pending completions are pushed with ZCLOSING */
        z->gen++;             /* whatever is still queued belongs to the old session */
        notify_cb(z->efd, EV_READ, z);
        reap_orphans(z);
    }
    free(z->sess);
    z->sess = NULL;
}

static int connect_handle(struct zkreg *z)
{
    z->gen++;
    if (!(z->sess = malloc(sizeof *z->sess)))
        return -ENOMEM;
    z->sess->z = z;
    z->sess->gen = z->gen;
    z->connect_started_ms = mono_ms();
    z->zh =
        zookeeper_init2(z->hosts, global_watcher, z->session_timeout_ms, NULL, z->sess, 0, zk_log);
    if (!z->zh) {
        free(z->sess);
        z->sess = NULL;
        return -EIO;
    }
    /* The client's default delay of 0 re-resolves the host list (getaddrinfo,
     * a netlink round trip) on every pass of its I/O thread while connected:
     * dozens of times a second under load. Once a minute follows DNS changes. */
    zoo_set_servers_resolution_delay(z->zh, 60000);
    if (z->auth)
        zoo_add_auth(z->zh, "digest", z->auth, (int)strlen(z->auth), NULL, NULL);
    return 0;
}

/* rebuild: drop the old handle (its session is gone or presumed gone) and start
 * a new one. Runs from a timer so it never nests inside a callback. */
static void rebuild_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zkreg *z = arg;
    (void)fd, (void)what;
    if (z->closing)
        return;
    close_handle(z);
    z->session_id = 0;
    set_state(z, ZKREG_CONNECTING);
    if (connect_handle(z) < 0) {
        struct timeval tv = {1, 0};
        LOGE("zookeeper_init failed; retrying in 1 s");
        evtimer_add(z->ev_rebuild, &tv);
    }
}

static void go_lost(struct zkreg *z, const char *why)
{
    struct timeval now = {0, 0};
    LOGW("zookeeper session 0x%llx lost: %s; building a new session",
         (unsigned long long)z->session_id, why);
    evtimer_del(z->ev_lost);
    event_del(z->ev_beat);
    z->lost_count++;
    set_state(z, ZKREG_LOST);
    evtimer_add(z->ev_rebuild, &now);
}

static void lost_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct zkreg *z = arg;
    if (z->state == ZKREG_SUSPENDED)
        go_lost(z, "disconnected past the local deadline; the server may have expired us");
}

struct beat {
    struct zkreg *z;
    int64_t sent_ms;
    uint64_t gen;
};

static int zkreg_exists_internal(struct zkreg *z, const char *path, zkreg_cb cb, void *arg);

static void beat_done(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct beat *b = arg;
    (void)z;
    if (b->gen == b->z->gen) {
        b->z->beat_inflight = false;
        /* Any answer from the server (the node may or may not exist) proves the
         * session was alive when the request left. */
        if (!r->stale && (r->rc == ZOK || r->rc == ZNONODE) && b->sent_ms > b->z->lease_base_ms)
            b->z->lease_base_ms = b->sent_ms;
    }
    free(b);
}

static int lease_margin_ms(const struct zkreg *z)
{
    int t = zkreg_timeout_ms(z);
    return t / 10 > 100 ? t / 10 : 100;
}

/* beat_send: a heartbeat now, unless one is in flight; its answer proves the
 * session was alive when it left. */
static void beat_send(struct zkreg *z)
{
    if (z->state != ZKREG_CONNECTED || z->beat_inflight)
        return;
    struct beat *b = malloc(sizeof *b);
    if (!b)
        return;
    *b = (struct beat){z, mono_ms(), z->gen};
    z->beat_inflight = true;
    if (zkreg_exists_internal(z, "/", beat_done, b) != ZOK) {
        z->beat_inflight = false;
        free(b);
    }
}

/* beat_cb: every T/5. A loss is declared at the first tick after the proof
 * is T - margin old, so between 0.9 T and 1.1 T: late, but nothing relies on
 * it for safety — new work needs a proof younger than T/2 (zkreg_lease_ok,
 * read at each start), and the agent's watchdog kills the running executions
 * at exactly T - margin (the deadline is computed from the proof, not from
 * this tick). Declaring it later only delays rebuilding the session. */
static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zkreg *z = arg;
    (void)fd, (void)what;
    if (z->state != ZKREG_CONNECTED && z->state != ZKREG_SUSPENDED)
        return;
    if (mono_ms() - z->lease_base_ms > zkreg_timeout_ms(z) - lease_margin_ms(z)) {
        go_lost(z, "no answer from ZooKeeper for longer than the session timeout allows");
        return;
    }
    beat_send(z);
}

bool zkreg_lease_ok(const struct zkreg *z)
{
    return z->state == ZKREG_CONNECTED && mono_ms() - z->lease_base_ms < zkreg_timeout_ms(z) / 2;
}

int64_t zkreg_lease_age_ms(const struct zkreg *z)
{
    return mono_ms() - z->lease_base_ms;
}

/* SHARDCRON_TEST_FAULT=stop_at_reconnect (fault tests only): the first time
 * the loop handles CONNECTED for a session it already had, the process stops
 * itself (SIGSTOP) as if frozen between the handshake and the loop's turn. */
static void test_fault_connected(bool same)
{
    static bool done;
    const char *f = getenv("SHARDCRON_TEST_FAULT");
    if (done || !same || !f || strcmp(f, "stop_at_reconnect") != 0)
        return;
    done = true;
    LOGW("SHARDCRON_TEST_FAULT=stop_at_reconnect: stopping before handling CONNECTED");
    raise(SIGSTOP);
}

static void on_session(struct zkreg *z, int zstate)
{
    if (zstate == ZOO_CONNECTED_STATE) {
        const clientid_t *cid = zoo_client_id(z->zh);
        bool same = z->session_id && cid && cid->client_id == z->session_id;
        test_fault_connected(same);
        evtimer_del(z->ev_lost);
        z->session_id = cid ? cid->client_id : 0;
        z->negotiated_ms = zoo_recv_timeout(z->zh);
        /* The handshake's answer may have waited in our queue, or this process
         * may have been frozen since (SIGSTOP, a VM pause): "now" proves
         * nothing, and the server may have expired the session meanwhile. A
         * new session cannot have been created before we asked for it; a
         * session we had keeps its last proof. Either way the heartbeat sent
         * below proves it afresh when answered (its send time). */
        if (!same)
            z->lease_base_ms = z->connect_started_ms;
        z->beat_inflight = false;
        if (!evtimer_pending(z->ev_beat, NULL)) {
            int ms = zkreg_timeout_ms(z) / 5;
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            event_add(z->ev_beat, &tv);
        }
        set_state(z, ZKREG_CONNECTED);
        beat_send(z);
    } else if (zstate == ZOO_CONNECTING_STATE || zstate == ZOO_ASSOCIATING_STATE) {
        if (z->state == ZKREG_CONNECTED) {
            /* The heartbeat's lease decides when a suspended session counts as
             * lost (beat_cb); lost_after_ms, when set, is an earlier deadline. */
            set_state(z, ZKREG_SUSPENDED);
            if (z->lost_after_ms > 0) {
                struct timeval tv = {z->lost_after_ms / 1000, (z->lost_after_ms % 1000) * 1000};
                evtimer_add(z->ev_lost, &tv);
            }
        }
    } else if (zstate == ZOO_EXPIRED_SESSION_STATE) {
        go_lost(z, "the server expired the session");
    } else if (zstate == ZOO_AUTH_FAILED_STATE) {
        go_lost(z, "authentication failed");
    }
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zkreg *z = arg;
    uint64_t n;
    (void)what;
    if (fd >= 0 && read(fd, &n, sizeof n) < 0) {
        /* EAGAIN: nothing new; the queue is drained below either way */
    }
    /* A bounded batch per call: with thousands of replies queued (start-up
     * reads), timers — the heartbeat among them — still get their turn. When
     * closing (fd < 0 is never passed; `closing` is), drain everything. */
    for (int handled = 0;; handled++) {
        if (handled >= 512 && !z->closing && z->zh) {
            event_active(z->ev_notify, EV_READ, 0);
            break;
        }
        pthread_mutex_lock(&z->lock);
        struct op *o = z->head;
        if (o) {
            z->head = o->next;
            if (!z->head)
                z->tail = NULL;
        }
        pthread_mutex_unlock(&z->lock);
        if (!o)
            break;
        bool current = o->gen == z->gen;
        if (o->kind == MSG_SESSION) {
            if (current && !z->closing)
                on_session(z, o->zstate);
        } else if (o->kind == MSG_WATCH) {
            if (current && !z->closing && z->on_watch)
                z->on_watch(z, o->wtype, o->wpath, z->ctx);
        } else if (o->cb) {
            unlink_outstanding(z, o);
            reply_seen(z, o);
            struct zkreg_result r = {
                .rc = o->rc,
                .stale = !current,
                .data = o->data,
                .len = o->len,
                .stat = o->stat,
                .has_stat = o->has_stat,
                .path = o->path,
                .children = o->children,
                .nchildren = o->nchildren,
                .op_rc = o->op_rc,
                .nops = o->nops,
            };
            o->cb(z, &r, o->arg);
        } else {
            unlink_outstanding(z, o);
            reply_seen(z, o);
        }
        op_free(o);
        pump(z);
    }
}

/* reap_orphans: after zookeeper_close() returned no completion can arrive, yet
 * the client library sometimes drops requests that were in flight when the
 * session expired. Answer those with ZCLOSING so callers free what they own. */
static void reap_orphans(struct zkreg *z)
{
    while (z->backlog) {
        struct op *o = z->backlog;
        z->backlog = o->onext;
        o->onext = NULL;
        struct zkreg_result r = {.rc = ZCLOSING, .stale = true};
        if (o->cb)
            o->cb(z, &r, o->arg);
        op_free(o);
    }
    z->backlog_tail = NULL;
    z->inflight = 0;
    while (z->outstanding) {
        struct op *o = z->outstanding;
        unlink_outstanding(z, o);
        struct zkreg_result r = {.rc = ZCLOSING, .stale = true};
        if (o->cb)
            o->cb(z, &r, o->arg);
        op_free(o);
    }
}

/* ---------------------------------------------------------------- open / close */

/* ensure_chroot: a connect string's chroot ("host:2181/team/a") must exist
 * before anything under it can be created, and a chrooted handle cannot
 * create it. Like Curator's namespace and Kafka's chroot, create the missing
 * path from a plain handle, once, before the session proper starts; bounded
 * (a server that is not up yet is the normal path's to wait for). */
static void ensure_chroot(struct zkreg *z)
{
    const char *slash = strchr(z->hosts, '/');
    if (!slash || !slash[1])
        return;
    char hosts[1024], path[512];
    snprintf(hosts, sizeof hosts, "%.*s", (int)(slash - z->hosts), z->hosts);
    snprintf(path, sizeof path, "%s", slash);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    zhandle_t *zh = zookeeper_init2(hosts, NULL, 10000, NULL, NULL, 0, zk_log);
    if (!zh)
        return;
    if (z->auth)
        zoo_add_auth(zh, "digest", z->auth, (int)strlen(z->auth), NULL, NULL);
    int64_t deadline = mono_ms() + 5000;
    while (zoo_state(zh) != ZOO_CONNECTED_STATE && mono_ms() < deadline)
        usleep(10000);
    if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
        LOGI("ZooKeeper at %s not reachable yet: cannot check the chroot %s now", hosts, path);
        zookeeper_close(zh);
        return;
    }
    struct Stat st;
    if (zoo_exists(zh, path, 0, &st) == ZNONODE) {
        int rc = ZOK;
        for (char *p = path + 1; rc == ZOK || rc == ZNODEEXISTS; p++) {
            bool last = *p == '\0';
            if (*p != '/' && !last)
                continue;
            char c = *p;
            *p = '\0';
            rc = zoo_create(zh, path, NULL, -1, z->acl, 0, NULL, 0);
            *p = c;
            if (last)
                break;
        }
        if (rc == ZOK || rc == ZNODEEXISTS)
            LOGW("created the ZooKeeper chroot %s (it did not exist)", path);
        else
            LOGE("cannot create the ZooKeeper chroot %s: %s", path, zerror(rc));
    }
    zookeeper_close(zh);
}

/* An open ACL on a ZooKeeper on this host is reachable only from here. */
bool zkreg_hosts_local(const char *hosts)
{
    if (!hosts || !*hosts)
        return false;
    for (const char *p = hosts; *p && *p != '/';) {
        size_t n = strcspn(p, ",/"), h = n;
        const char *host = p;
        if (*p == '[') {
            const char *close = memchr(p, ']', n);
            host = p + 1;
            h = close ? (size_t)(close - host) : 0;
        } else {
            const char *colon = memrchr(p, ':', n);
            h = colon ? (size_t)(colon - p) : n;
        }
        bool lo = (h == 9 && strncmp(host, "localhost", 9) == 0) ||
                  (h == 3 && strncmp(host, "::1", 3) == 0) ||
                  (h >= 7 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") >= h);
        if (!lo)
            return false;
        p += n + (p[n] == ',');
    }
    return true;
}

int zkreg_open(struct event_base *base, const struct zkreg_opts *opt, struct zkreg **out,
               struct sc_err *err)
{
    struct zkreg *z = calloc(1, sizeof *z);
    char prefix[256];
    *out = NULL;
    if (!z)
        return sc_err_set(err, ENOMEM, "zk", -1, "out of memory");
    z->base = base;
    z->efd = -1;
    pthread_mutex_init(&z->lock, NULL);
    if (opt->ns && strchr(opt->ns, '/')) {
        free(z);
        return sc_err_set(err, EINVAL, "namespace", -1, "must not contain '/'");
    }
    snprintf(prefix, sizeof prefix, "%s%s", opt->ns && *opt->ns ? "/" : "", opt->ns ? opt->ns : "");
    z->hosts = strdup(opt->hosts);
    z->ns = strdup(opt->ns ? opt->ns : "");
    z->prefix = strdup(prefix);
    z->auth = opt->auth ? strdup(opt->auth) : NULL;
    z->session_timeout_ms = opt->session_timeout_ms;
    z->lost_after_ms = opt->lost_after_ms;
    z->on_state = opt->on_state;
    z->on_watch = opt->on_watch;
    z->ctx = opt->ctx;
    z->state = ZKREG_CONNECTING;
    if (z->auth) {
        z->acl_auth[0] = (struct ACL){ZOO_PERM_ALL, {"auth", ""}};
        z->acl_auth[1] = (struct ACL){ZOO_PERM_READ, {"world", "anyone"}};
        z->acl_auth_vec = (struct ACL_vector){2, z->acl_auth};
        z->acl = &z->acl_auth_vec;
    } else {
        z->acl = &ZOO_OPEN_ACL_UNSAFE;
        if (!zkreg_hosts_local(opt->hosts))
            LOGW("NO ZOOKEEPER ACL: %s is not on this host and no zk_auth_file is set, so the "
                 "namespace is world-writable: anyone who reaches ZooKeeper can create a job, "
                 "i.e. run commands on every agent. Set zk_auth_file (docs/operations.md).",
                 opt->hosts);
    }
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    z->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (z->efd < 0 || !z->hosts || !z->ns || !z->prefix)
        goto err;
    z->ev_notify = event_new(base, z->efd, EV_READ | EV_PERSIST, notify_cb, z);
    z->ev_lost = evtimer_new(base, lost_cb, z);
    z->ev_rebuild = evtimer_new(base, rebuild_cb, z);
    z->ev_beat = event_new(base, -1, EV_PERSIST, beat_cb, z);
    if (!z->ev_notify || !z->ev_lost || !z->ev_rebuild || !z->ev_beat ||
        event_add(z->ev_notify, NULL) < 0)
        goto err;
    ensure_chroot(z);
    if (connect_handle(z) < 0) {
        sc_err_set(err, EINVAL, "zk", -1, "cannot start a ZooKeeper client for \"%s\"", opt->hosts);
        zkreg_close(z);
        return -EINVAL;
    }
    *out = z;
    return 0;
err:
    zkreg_close(z);
    return sc_err_set(err, ENOMEM, "zk", -1, "cannot set up the ZooKeeper event hand-off");
}

void zkreg_close(struct zkreg *z)
{
    if (!z)
        return;
    z->closing = true;
    if (z->efd >= 0)
        close_handle(z); /* runs what is pending, as stale */
    if (z->ev_notify)
        event_free(z->ev_notify);
    if (z->ev_lost)
        event_free(z->ev_lost);
    if (z->ev_rebuild)
        event_free(z->ev_rebuild);
    if (z->ev_beat)
        event_free(z->ev_beat);
    if (z->efd >= 0)
        close(z->efd);
    pthread_mutex_destroy(&z->lock);
    free(z->hosts);
    free(z->ns);
    free(z->prefix);
    free(z->auth);
    free(z);
}

enum zkreg_state zkreg_state(const struct zkreg *z)
{
    return z->state;
}
int64_t zkreg_session_id(const struct zkreg *z)
{
    return z->session_id;
}
uint64_t zkreg_generation(const struct zkreg *z)
{
    return z->gen;
}
int64_t zkreg_sessions_lost(const struct zkreg *z)
{
    return z->lost_count;
}
int zkreg_timeout_ms(const struct zkreg *z)
{
    return z->negotiated_ms > 0 ? z->negotiated_ms : z->session_timeout_ms;
}

/* ---------------------------------------------------------------- requests */

static struct op *new_op(struct zkreg *z, zkreg_cb cb, void *arg)
{
    struct op *o = calloc(1, sizeof *o);
    if (o) {
        o->kind = MSG_REPLY;
        o->z = z;
        o->gen = z->gen;
        o->cb = cb;
        o->arg = arg;
    }
    return o;
}

/* full: namespace-relative -> server path. */
static void full(const struct zkreg *z, const char *path, char *buf, size_t len)
{
    if (strcmp(path, "/") == 0 && z->prefix[0])
        snprintf(buf, len, "%s", z->prefix);
    else
        snprintf(buf, len, "%s%s", z->prefix, path);
}

/* Requests go out at most ZK_INFLIGHT at a time; the rest wait here in order.
 * ZooKeeper answers one client's requests in order, so an unbounded pipeline
 * (say 10,000 reads at start-up) would put every heartbeat behind all of them
 * and starve the lease; a bounded one keeps a heartbeat's answer close. */
#define ZK_INFLIGHT 256

enum { R_CREATE, R_GET, R_EXISTS, R_CHILDREN, R_SET, R_DELETE, R_MULTI };

/* server_answered: the rc came from the server (not a local connection or
 * session failure), so the session was alive when the request left. */
static bool server_answered(int rc)
{
    return rc == ZOK || rc == ZNONODE || rc == ZNODEEXISTS || rc == ZBADVERSION ||
           rc == ZNOTEMPTY || rc == ZNOAUTH || rc == ZNOCHILDRENFOREPHEMERALS ||
           rc == ZINVALIDACL || rc == ZRUNTIMEINCONSISTENCY;
}

static void reply_seen(struct zkreg *z, struct op *o)
{
    if (o->counted && o->gen == z->gen) {
        z->inflight--;
        if (server_answered(o->rc) && o->sent_ms > z->lease_base_ms)
            z->lease_base_ms = o->sent_ms;
    }
    o->counted = false;
}

static int send_op(struct zkreg *z, struct op *o)
{
    watcher_fn w = o->rwatch ? global_watcher : NULL;
    void *wctx = o->rwatch ? z->sess : NULL;
    if (!z->zh)
        return ZINVALIDSTATE;
    o->sent_ms = mono_ms();
    switch (o->req) {
    case R_CREATE:
        return zoo_acreate2(z->zh, o->rpath, o->rdata, o->rdata ? o->rlen : -1, z->acl, o->rflags,
                            done_string_stat, o);
    case R_GET:
        return zoo_awget(z->zh, o->rpath, w, wctx, done_data, o);
    case R_EXISTS:
        return zoo_awexists(z->zh, o->rpath, w, wctx, done_stat, o);
    case R_CHILDREN:
        return zoo_awget_children2(z->zh, o->rpath, w, wctx, done_strings, o);
    case R_SET:
        return zoo_aset(z->zh, o->rpath, o->rdata, o->rlen, o->rversion, done_stat, o);
    case R_DELETE:
        return zoo_adelete(z->zh, o->rpath, o->rversion, done_void, o);
    case R_MULTI: {
        /* zoo_amulti on a handle whose session expired (or failed auth)
         * skips each op's request init after the first failure but still
         * frees the op's "duplicate path" from its stale stack slot: the
         * previous op's path, which we own and free again (a double free
         * seen after SIGCONT of a frozen leader). The library fails such a
         * multi anyway: fail it here without calling it. */
        int st = zoo_state(z->zh);
        if (st == ZOO_EXPIRED_SESSION_STATE || st == ZOO_AUTH_FAILED_STATE)
            return ZINVALIDSTATE;
        return zoo_amulti(z->zh, o->nops, o->zops, o->zres, done_multi, o);
    }
    }
    return ZBADARGUMENTS;
}

/* launch: send now; on success the reply will come through the queue. */
static int launch(struct zkreg *z, struct op *o)
{
    int rc = send_op(z, o);
    if (rc != ZOK)
        return rc;
    o->counted = true;
    z->inflight++;
    o->oprev = NULL;
    o->onext = z->outstanding;
    if (z->outstanding)
        z->outstanding->oprev = o;
    z->outstanding = o;
    return ZOK;
}

/* pump: send waiting requests while there is room. A request that cannot be
 * sent is answered at once with the client's error. */
static void pump(struct zkreg *z)
{
    while (z->backlog && z->inflight < ZK_INFLIGHT && z->zh) {
        struct op *o = z->backlog;
        z->backlog = o->onext;
        if (!z->backlog)
            z->backlog_tail = NULL;
        o->onext = NULL;
        int rc = launch(z, o);
        if (rc != ZOK) {
            struct zkreg_result r = {.rc = rc};
            if (o->cb)
                o->cb(z, &r, o->arg);
            op_free(o);
        }
    }
}

/* submit: send now if there is room (and nothing waits before it), else queue.
 * `urgent` requests (heartbeats) skip the queue. */
static int submit(struct zkreg *z, struct op *o, bool urgent)
{
    if (!z->zh) {
        op_free(o);
        return ZINVALIDSTATE;
    }
    if (urgent || (z->inflight < ZK_INFLIGHT && !z->backlog)) {
        int rc = launch(z, o);
        if (rc != ZOK)
            op_free(o);
        return rc;
    }
    o->onext = NULL;
    if (z->backlog_tail)
        z->backlog_tail->onext = o;
    else
        z->backlog = o;
    z->backlog_tail = o;
    return ZOK;
}

static struct op *req_op(struct zkreg *z, int req, const char *path, const char *data, int len,
                         zkreg_cb cb, void *arg)
{
    char fp[1024];
    struct op *o = new_op(z, cb, arg);
    if (!o)
        return NULL;
    full(z, path, fp, sizeof fp);
    o->req = req;
    o->rpath = strdup(fp);
    if (data && len >= 0 && (o->rdata = malloc((size_t)len + 1)))
        memcpy(o->rdata, data, (size_t)len);
    o->rlen = len;
    if (!o->rpath || (data && len >= 0 && !o->rdata)) {
        op_free(o);
        return NULL;
    }
    return o;
}

int zkreg_create(struct zkreg *z, const char *path, const char *data, int len, int flags,
                 zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_CREATE, path, data, len, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->rflags = flags;
    return submit(z, o, false);
}

int zkreg_get(struct zkreg *z, const char *path, bool watch, zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_GET, path, NULL, 0, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->rwatch = watch;
    return submit(z, o, false);
}

static int zkreg_exists_internal(struct zkreg *z, const char *path, zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_EXISTS, path, NULL, 0, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    return submit(z, o, true);
}

int zkreg_exists(struct zkreg *z, const char *path, bool watch, zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_EXISTS, path, NULL, 0, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->rwatch = watch;
    return submit(z, o, false);
}

int zkreg_children(struct zkreg *z, const char *path, bool watch, zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_CHILDREN, path, NULL, 0, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->rwatch = watch;
    return submit(z, o, false);
}

int zkreg_set(struct zkreg *z, const char *path, const char *data, int len, int version,
              zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_SET, path, data, len, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->rversion = version;
    return submit(z, o, false);
}

int zkreg_delete(struct zkreg *z, const char *path, int version, zkreg_cb cb, void *arg)
{
    struct op *o = req_op(z, R_DELETE, path, NULL, 0, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->rversion = version;
    return submit(z, o, false);
}

int zkreg_multi(struct zkreg *z, const struct zkreg_op *ops, int n, zkreg_cb cb, void *arg)
{
    struct op *o = new_op(z, cb, arg);
    if (!o)
        return ZSYSTEMERROR;
    o->req = R_MULTI;
    o->nops = n;
    o->zops = calloc((size_t)n, sizeof *o->zops);
    o->zres = calloc((size_t)n, sizeof *o->zres);
    o->op_rc = calloc((size_t)n, sizeof *o->op_rc);
    o->mstat = calloc((size_t)n, sizeof *o->mstat);
    o->bufs = calloc((size_t)n * 3, sizeof *o->bufs);
    if (!o->zops || !o->zres || !o->op_rc || !o->mstat || !o->bufs) {
        op_free(o);
        return ZSYSTEMERROR;
    }
    for (int i = 0; i < n; i++) {
        char fp[1024];
        full(z, ops[i].path, fp, sizeof fp);
        char *p = o->bufs[o->nbufs++] = strdup(fp);
        char *d = NULL;
        if (ops[i].data && (d = o->bufs[o->nbufs++] = malloc((size_t)ops[i].len + 1)))
            memcpy(d, ops[i].data, (size_t)ops[i].len);
        switch (ops[i].type) {
        case ZKOP_CHECK:
            zoo_check_op_init(&o->zops[i], p, ops[i].version);
            break;
        case ZKOP_SET:
            zoo_set_op_init(&o->zops[i], p, d, ops[i].len, ops[i].version, &o->mstat[i]);
            break;
        case ZKOP_CREATE: {
            char *created = o->bufs[o->nbufs++] = calloc(1, 1024);
            zoo_create_op_init(&o->zops[i], p, d, d ? ops[i].len : -1, z->acl, ops[i].flags,
                               created, created ? 1024 : 0);
            break;
        }
        case ZKOP_DELETE:
            zoo_delete_op_init(&o->zops[i], p, ops[i].version);
            break;
        }
    }
    return submit(z, o, false);
}

static void ensure_step(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)r, (void)arg;
}

int zkreg_ensure(struct zkreg *z, const char *path, zkreg_cb cb, void *arg)
{
    char part[1024];
    int rc;
    /* One client's requests are processed in order, so parents sent first are
     * created first; only the last create reports back. */
    if (z->prefix[0] && (rc = zkreg_create(z, "/", NULL, 0, 0, ensure_step, NULL)) != ZOK)
        return rc;
    for (const char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            snprintf(part, sizeof part, "%.*s", (int)(p - path), path);
            bool last = *p == '\0';
            if ((rc = zkreg_create(z, part, NULL, 0, 0, last ? cb : ensure_step,
                                   last ? arg : NULL)) != ZOK)
                return rc;
            if (last)
                break;
        }
    }
    return ZOK;
}
