/* registry/zkcli.c: blocking calls over registry/zk with a private event loop. */
#include "registry/zkcli.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct zkcli {
    struct event_base *base;
    struct zkreg *z;
    int timeout_ms;
};

struct wait {
    struct event_base *base; /* broken out of as soon as the reply is in */
    bool done;
    int rc;
    char *data;
    int len;
    struct Stat stat;
    bool has_stat;
    char *path;
    char **children;
    int nchildren;
    int op_rc[16];
};

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    (void)z, (void)st, (void)ctx;
}

static void done(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct wait *w = arg;
    (void)z;
    w->done = true;
    event_base_loopbreak(w->base);
    w->rc = r->rc;
    w->has_stat = r->has_stat;
    w->stat = r->stat;
    if (r->data && (w->data = malloc((size_t)r->len + 1))) {
        memcpy(w->data, r->data, (size_t)r->len);
        w->data[r->len] = '\0';
        w->len = r->len;
    }
    if (r->path)
        w->path = strdup(r->path);
    if (r->children) {
        w->children = calloc((size_t)r->nchildren + 1, sizeof *w->children);
        for (int i = 0; w->children && i < r->nchildren; i++)
            w->children[w->nchildren++] = strdup(r->children[i]);
    }
    for (int i = 0; i < r->nops && i < 16; i++)
        w->op_rc[i] = r->op_rc[i];
}

/* run: drive the loop until the reply or the deadline. */
static int run(struct zkcli *k, struct wait *w, int sent)
{
    struct timeval step = {0, 20000};
    int waited = 0;
    if (sent != ZOK)
        return sent;
    /* Replies arrive only while the loop runs (below), so setting the base
     * here is in time; without the break every call took a full step. */
    w->base = k->base;
    while (!w->done && waited < k->timeout_ms * 2) {
        event_base_loopexit(k->base, &step);
        event_base_dispatch(k->base);
        waited += 20;
    }
    return w->done ? w->rc : ZOPERATIONTIMEOUT;
}

struct zkcli *zkcli_open(const char *hosts, const char *ns, const char *auth, int timeout_ms,
                         struct sc_err *err)
{
    struct zkcli *k = calloc(1, sizeof *k);
    struct timeval step = {0, 20000};
    if (!k)
        return NULL;
    evthread_use_pthreads();
    k->timeout_ms = timeout_ms;
    k->base = event_base_new();
    struct zkreg_opts o = {.hosts = hosts,
                           .ns = ns,
                           .session_timeout_ms = timeout_ms < 4000 ? 4000 : timeout_ms,
                           .auth = auth,
                           .on_state = on_state};
    if (!k->base || zkreg_open(k->base, &o, &k->z, err) < 0) {
        zkcli_close(k);
        return NULL;
    }
    for (int waited = 0; zkreg_state(k->z) != ZKREG_CONNECTED && waited < timeout_ms;
         waited += 20) {
        event_base_loopexit(k->base, &step);
        event_base_dispatch(k->base);
    }
    if (zkreg_state(k->z) != ZKREG_CONNECTED) {
        sc_err_set(err, ETIMEDOUT, "zk", -1, "cannot reach ZooKeeper at %s within %d ms", hosts,
                   timeout_ms);
        zkcli_close(k);
        return NULL;
    }
    return k;
}

void zkcli_close(struct zkcli *k)
{
    if (!k)
        return;
    if (k->z)
        zkreg_close(k->z);
    if (k->base)
        event_base_free(k->base);
    free(k);
}

static void wait_free(struct wait *w)
{
    free(w->data);
    free(w->path);
    zkcli_free_children(w->children, w->nchildren);
}

int zkcli_get(struct zkcli *k, const char *path, char **data, int *len, struct Stat *stat)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_get(k->z, path, false, done, &w));
    if (rc == ZOK) {
        if (data) {
            *data = w.data ? w.data : strdup("");
            w.data = NULL;
        }
        if (len)
            *len = w.len;
        if (stat)
            *stat = w.stat;
    }
    wait_free(&w);
    return rc;
}

int zkcli_set(struct zkcli *k, const char *path, const char *data, int len, int version,
              struct Stat *stat)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_set(k->z, path, data, len, version, done, &w));
    if (rc == ZOK && stat)
        *stat = w.stat;
    wait_free(&w);
    return rc;
}

int zkcli_create(struct zkcli *k, const char *path, const char *data, int len, int flags,
                 char *created, size_t created_len)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_create(k->z, path, data, len, flags, done, &w));
    if (rc == ZOK && created && w.path) {
        strncpy(created, w.path, created_len - 1);
        created[created_len - 1] = '\0';
    }
    wait_free(&w);
    return rc;
}

int zkcli_delete(struct zkcli *k, const char *path, int version)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_delete(k->z, path, version, done, &w));
    wait_free(&w);
    return rc;
}

int zkcli_exists(struct zkcli *k, const char *path, struct Stat *stat)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_exists(k->z, path, false, done, &w));
    if (rc == ZOK && stat)
        *stat = w.stat;
    wait_free(&w);
    return rc;
}

/* Reads in flight for zkcli_get_many: the loop is broken out of when half a
 * window has come back, so the next ones are sent while the rest are answered. */
struct many;

struct many_one {
    struct many *m;
    struct zkcli_read *r;
};

struct many {
    struct event_base *base;
    int answered;
    int inflight;
    bool abandoned; /* the caller gave up: answers still to come are dropped */
    struct many_one one[];
};

static void many_done(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct many_one *o = arg;
    struct many *m = o->m;
    (void)z;
    m->answered++;
    m->inflight--;
    if (m->abandoned)
        return;
    o->r->rc = res->rc;
    if (res->rc == ZOK && (o->r->data = malloc((size_t)res->len + 1))) {
        if (res->len > 0)
            memcpy(o->r->data, res->data, (size_t)res->len);
        o->r->data[res->len] = '\0';
        o->r->len = res->len;
    } else if (res->rc == ZOK) {
        o->r->rc = ZSYSTEMERROR; /* no memory for the data */
    }
    if (m->inflight <= ZKCLI_INFLIGHT / 2)
        event_base_loopbreak(m->base);
}

int zkcli_get_many(struct zkcli *k, struct zkcli_read *r, int n)
{
    struct many *m = calloc(1, sizeof *m + (size_t)(n > 0 ? n : 0) * sizeof m->one[0]);
    struct timeval step = {0, 20000};
    int sent = 0, rc = ZOK, idle_ms = 0, seen = 0;
    if (!m)
        return ZSYSTEMERROR;
    m->base = k->base;
    for (int i = 0; i < n; i++) {
        r[i].rc = ZOPERATIONTIMEOUT;
        r[i].data = NULL;
        r[i].len = 0;
    }
    while (m->answered < n) {
        while (rc == ZOK && sent < n && m->inflight < ZKCLI_INFLIGHT) {
            m->one[sent] = (struct many_one){m, &r[sent]};
            rc = zkreg_get(k->z, r[sent].path, false, many_done, &m->one[sent]);
            if (rc != ZOK)
                break;
            sent++;
            m->inflight++;
        }
        if (m->answered == sent && (rc != ZOK || sent == n))
            break; /* nothing more will come back */
        event_base_loopexit(k->base, &step);
        event_base_dispatch(k->base);
        idle_ms = m->answered == seen ? idle_ms + 20 : 0;
        seen = m->answered;
        if (idle_ms >= k->timeout_ms * 2) {
            rc = ZOPERATIONTIMEOUT;
            break;
        }
    }
    for (int i = 0; rc == ZOK && i < n; i++)
        if (r[i].rc != ZOK && r[i].rc != ZNONODE && r[i].rc != ZNOAUTH)
            rc = r[i].rc;
    if (m->answered < sent) {
        m->abandoned = true; /* answers may still come: `m` stays for them */
        return rc == ZOK ? ZOPERATIONTIMEOUT : rc;
    }
    free(m);
    return rc;
}

void zkcli_reads_free(struct zkcli_read *r, int n)
{
    for (int i = 0; r && i < n; i++) {
        free(r[i].data);
        r[i].data = NULL;
    }
}

int zkcli_children(struct zkcli *k, const char *path, char ***names, int *n)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_children(k->z, path, false, done, &w));
    *names = NULL;
    *n = 0;
    if (rc == ZOK) {
        *names = w.children;
        *n = w.nchildren;
        w.children = NULL;
        w.nchildren = 0;
    }
    wait_free(&w);
    return rc;
}

void zkcli_free_children(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int zkcli_delete_tree(struct zkcli *k, const char *path)
{
    char **names;
    int n, rc = zkcli_children(k, path, &names, &n);
    if (rc != ZOK)
        return rc;
    for (int i = 0; i < n; i++) {
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") == 0 ? "" : path, names[i]);
        zkcli_delete_tree(k, child);
    }
    zkcli_free_children(names, n);
    return zkcli_delete(k, path, -1);
}

int zkcli_ensure(struct zkcli *k, const char *path)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_ensure(k->z, path, done, &w));
    wait_free(&w);
    return rc == ZNODEEXISTS ? ZOK : rc;
}

int zkcli_multi_path(struct zkcli *k, const struct zkreg_op *ops, int n, int *op_rc, char *created,
                     size_t created_len)
{
    struct wait w = {0};
    int rc = run(k, &w, zkreg_multi(k->z, ops, n, done, &w));
    for (int i = 0; op_rc && i < n && i < 16; i++)
        op_rc[i] = w.op_rc[i];
    if (created && created_len)
        snprintf(created, created_len, "%s", rc == ZOK && w.path ? w.path : "");
    wait_free(&w);
    return rc;
}

int zkcli_multi(struct zkcli *k, const struct zkreg_op *ops, int n, int *op_rc)
{
    return zkcli_multi_path(k, ops, n, op_rc, NULL, 0);
}
