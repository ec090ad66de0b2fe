/* tests/sim/sim_zk.c: the ZooKeeper model — one server with sessions,
 * connections, nodes (persistent, ephemeral, sequential), one-shot watches
 * and multi-ops.
 *
 * What it keeps of ZooKeeper's guarantees: requests of one connection are
 * processed in order and answered in order; a watch event is queued on the
 * connection when the write is processed, so it reaches the client before the
 * answer to any later read (per-connection FIFO, random delays). A session
 * expires when the server has not heard from it for its timeout (checked on
 * a 200 ms tick); its ephemerals go with it. Watches are held per connection:
 * when a connection breaks the server forgets them, and the client re-sends
 * the ones it holds (those whose read was answered) with its last zxid on a
 * reconnect within the session, as the real client's setWatches does: a
 * watched node that changed meanwhile fires at once. A server restart drops
 * every connection; sessions survive and get a full timeout from the moment
 * the server is back (as ZooKeeper's session tracker does on start-up).
 * Simplifications: one server (no ensemble), no ACLs, no change log (jobs
 * are watched one by one), a delete in a multi may name the ephemeral owner
 * it expects (the eviction's guard; real ZooKeeper would check a version). */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

struct znode {
    bool used;
    char path[SIM_PATH];
    struct zdata d;
    int version, seq_next;
    int64_t czxid, mzxid, pzxid, owner;
    ms_t mtime;
};

struct zwatch {
    bool used;
    int conn;
    char path[SIM_PATH];
    int type;
};

struct zsess {
    int64_t id;
    bool alive;
    ms_t last_heard;
    int timeout, conn, agent;
};

struct zconn {
    bool open;
    int agent;
    int64_t session;
    ms_t c2s_last, s2c_last;
};

struct zk {
    struct znode n[SIM_MAX_NODES];
    struct zwatch wt[SIM_MAX_WATCHES];
    struct zsess *s;
    int ns, caps;
    struct zconn *c;
    int nc, capc;
    int64_t zxid, next_session;
    bool up;
};

/* ---------------------------------------------------------------- helpers */

static ms_t net_delay(struct world *w)
{
    uint64_t r = sim_rand(w) % 1000;
    if (r < 940)
        return sim_range(w, 1, 15);
    if (r < 995)
        return sim_range(w, 20, 250);
    return sim_range(w, 250, 900);
}

static struct znode *find(struct zk *z, const char *path)
{
    for (int i = 0; i < SIM_MAX_NODES; i++)
        if (z->n[i].used && strcmp(z->n[i].path, path) == 0)
            return &z->n[i];
    return NULL;
}

static void parent_of(const char *path, char *out)
{
    const char *s = strrchr(path, '/');
    size_t n = s && s != path ? (size_t)(s - path) : 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

static bool is_child(const char *parent, const char *path, const char **name)
{
    size_t n = strlen(parent);
    if (strncmp(path, parent, n) != 0 || path[n] != '/' || strchr(path + n + 1, '/'))
        return false;
    *name = path + n + 1;
    return true;
}

static struct zsess *sess(struct zk *z, int64_t id)
{
    for (int i = 0; i < z->ns; i++)
        if (z->s[i].id == id)
            return &z->s[i];
    return NULL;
}

static struct msg *msg_new(int kind)
{
    struct msg *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->kind = kind;
    return m;
}

/* s2c: the server sends `m` on connection `conn` (FIFO, random delay). */
static void s2c(struct world *w, int conn, struct msg *m)
{
    struct zk *z = w->zk;
    struct zconn *c = &z->c[conn];
    if (!c->open) {
        free(m);
        return;
    }
    m->conn = conn;
    m->agent = c->agent;
    m->zxid = z->zxid;
    ms_t t = w->now + net_delay(w);
    if (t < c->s2c_last)
        t = c->s2c_last;
    c->s2c_last = t;
    sim_push(w, t, EV_S2C, c->agent, 0, 0, m);
}

/* ---------------------------------------------------------------- watches */

static void watch_add(struct zk *z, int conn, const char *path, int type)
{
    int free_slot = -1;
    for (int i = 0; i < SIM_MAX_WATCHES; i++) {
        struct zwatch *x = &z->wt[i];
        if (!x->used) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (x->conn == conn && x->type == type && strcmp(x->path, path) == 0)
            return;
    }
    if (free_slot < 0)
        abort(); /* SIM_MAX_WATCHES too small */
    z->wt[free_slot] = (struct zwatch){true, conn, "", type};
    snprintf(z->wt[free_slot].path, SIM_PATH, "%s", path);
}

static void notify(struct world *w, int conn, const char *path, int event)
{
    struct msg *m = msg_new(MK_WATCH);
    snprintf(m->path, sizeof m->path, "%s", path);
    m->event = event;
    s2c(w, conn, m);
}

/* fire: the one-shot watches a write of `path` triggers. */
static void fire(struct world *w, const char *path, int event)
{
    struct zk *z = w->zk;
    char parent[SIM_PATH];
    parent_of(path, parent);
    for (int i = 0; i < SIM_MAX_WATCHES; i++) {
        struct zwatch *x = &z->wt[i];
        if (!x->used)
            continue;
        bool hit = false;
        int ev = event;
        if (strcmp(x->path, path) == 0) {
            if (x->type == ZW_DATA)
                hit = event == ZE_CHANGED || event == ZE_DELETED;
            else if (x->type == ZW_EXIST)
                hit = event == ZE_CREATED;
            else
                hit = event == ZE_DELETED;
        } else if (x->type == ZW_CHILD && strcmp(x->path, parent) == 0 &&
                   (event == ZE_CREATED || event == ZE_DELETED)) {
            hit = true;
            ev = ZE_CHILD;
        }
        if (hit) {
            x->used = false;
            notify(w, x->conn, x->path, ev);
        }
    }
}

static void drop_watches(struct zk *z, int conn)
{
    for (int i = 0; i < SIM_MAX_WATCHES; i++)
        if (z->wt[i].used && z->wt[i].conn == conn)
            z->wt[i].used = false;
}

/* ---------------------------------------------------------------- nodes */

static int create(struct world *w, const char *path, int flags, int64_t owner,
                  const struct zdata *d, char *made)
{
    struct zk *z = w->zk;
    char parent[SIM_PATH], p[SIM_PATH];
    parent_of(path, parent);
    struct znode *par = find(z, parent);
    if (!par)
        return ZR_NONODE;
    snprintf(p, sizeof p, "%s", path);
    if (flags & ZF_SEQUENCE)
        snprintf(p, sizeof p, "%s%010d", path, par->seq_next++);
    if (find(z, p))
        return ZR_NODEEXISTS;
    struct znode *n = NULL;
    for (int i = 0; i < SIM_MAX_NODES && !n; i++)
        if (!z->n[i].used)
            n = &z->n[i];
    if (!n)
        abort(); /* SIM_MAX_NODES too small */
    *n = (struct znode){.used = true, .version = 0, .czxid = ++z->zxid, .mtime = w->now};
    n->mzxid = n->pzxid = n->czxid;
    snprintf(n->path, sizeof n->path, "%s", p);
    n->owner = (flags & ZF_EPHEMERAL) ? owner : 0;
    if (d)
        n->d = *d;
    par->pzxid = n->czxid;
    if (made)
        snprintf(made, SIM_PATH, "%s", p);
    fire(w, p, ZE_CREATED);
    return ZR_OK;
}

static void delete_node(struct world *w, struct znode *n)
{
    struct zk *z = w->zk;
    char path[SIM_PATH], parent[SIM_PATH];
    if (strncmp(n->path, "/agents/a", 9) == 0)
        check_agent_gone(w, atoi(n->path + 9), n->owner);
    snprintf(path, sizeof path, "%s", n->path);
    n->used = false;
    parent_of(path, parent);
    struct znode *par = find(z, parent);
    int64_t zx = ++z->zxid;
    if (par)
        par->pzxid = zx;
    fire(w, path, ZE_DELETED);
}

static void set_node(struct world *w, struct znode *n, const struct zdata *d)
{
    n->d = *d;
    n->version++;
    n->mzxid = ++w->zk->zxid;
    n->mtime = w->now;
    if (d->tag == ZD_REC && strncmp(n->path, "/agents/a", 9) == 0)
        check_rec_applied(w, atoi(n->path + 9), &d->u.rec);
    else if (d->tag == ZD_SNAP)
        check_snap_applied(w, &d->u.snap);
    fire(w, n->path, ZE_CHANGED);
}

static void stat_of(const struct znode *n, struct zstat *st)
{
    *st = (struct zstat){n->version, n->czxid, n->mzxid, n->owner, n->mtime};
}

static int check_op(struct zk *z, const struct zsubop *o)
{
    struct znode *n = find(z, o->path);
    switch (o->op) {
    case ZO_CHECK:
        if (!n)
            return ZR_NONODE;
        return o->version >= 0 && n->version != o->version ? ZR_BADVERSION : ZR_OK;
    case ZO_SET:
        if (!n)
            return ZR_NONODE;
        return o->version >= 0 && n->version != o->version ? ZR_BADVERSION : ZR_OK;
    case ZO_DELETE:
        if (!n)
            return ZR_NONODE;
        if (o->owner && n->owner != o->owner)
            return ZR_BADVERSION;
        return o->version >= 0 && n->version != o->version ? ZR_BADVERSION : ZR_OK;
    case ZO_CREATE:
        return n ? ZR_NODEEXISTS : ZR_OK;
    }
    return ZR_OK;
}

/* ---------------------------------------------------------------- sessions and connections */

static void expire(struct world *w, struct zsess *s, const char *why)
{
    struct zk *z = w->zk;
    s->alive = false;
    sim_trace(w, "zk: session %llx of a%d %s", (unsigned long long)s->id, s->agent, why);
    for (int i = 0; i < SIM_MAX_NODES; i++)
        if (z->n[i].used && z->n[i].owner == s->id)
            delete_node(w, &z->n[i]);
    if (s->conn && z->c[s->conn].open)
        zk_drop_conn(w, s->conn);
}

int zk_new_conn(struct world *w, int agent)
{
    struct zk *z = w->zk;
    if (z->nc == z->capc) {
        z->capc = z->capc ? z->capc * 2 : 256;
        z->c = realloc(z->c, (size_t)z->capc * sizeof *z->c);
        if (!z->c)
            abort();
    }
    int id = z->nc++;
    z->c[id] = (struct zconn){.open = true, .agent = agent};
    return id;
}

bool zk_conn_open(const struct world *w, int conn)
{
    return conn > 0 && conn < w->zk->nc && w->zk->c[conn].open;
}

void zk_drop_conn(struct world *w, int conn)
{
    struct zk *z = w->zk;
    if (!zk_conn_open(w, conn))
        return;
    z->c[conn].open = false;
    drop_watches(z, conn);
    struct zsess *s = z->c[conn].session ? sess(z, z->c[conn].session) : NULL;
    if (s && s->conn == conn)
        s->conn = 0;
    agent_on_conn_drop(w, z->c[conn].agent, conn);
}

void zk_send(struct world *w, int conn, struct msg *m)
{
    struct zk *z = w->zk;
    if (!zk_conn_open(w, conn)) {
        free(m);
        return;
    }
    struct zconn *c = &z->c[conn];
    m->conn = conn;
    ms_t t = w->now + net_delay(w);
    if (t < c->c2s_last)
        t = c->c2s_last;
    c->c2s_last = t;
    sim_push(w, t, EV_C2S, c->agent, 0, 0, m);
}

static void resend_watches(struct world *w, int conn, const struct msg *m)
{
    struct zk *z = w->zk;
    for (int i = 0; i < m->nwatch; i++) {
        const char *path = m->watches[i].path;
        int type = m->watches[i].type;
        struct znode *n = find(z, path);
        if (type == ZW_DATA) {
            if (!n)
                notify(w, conn, path, ZE_DELETED);
            else if (n->mzxid > m->last_zxid)
                notify(w, conn, path, ZE_CHANGED);
            else
                watch_add(z, conn, path, type);
        } else if (type == ZW_EXIST) {
            if (n)
                notify(w, conn, path, ZE_CREATED);
            else
                watch_add(z, conn, path, type);
        } else {
            if (!n)
                notify(w, conn, path, ZE_DELETED);
            else if (n->pzxid > m->last_zxid)
                notify(w, conn, path, ZE_CHILD);
            else
                watch_add(z, conn, path, type);
        }
    }
}

static void on_connect(struct world *w, struct msg *m)
{
    struct zk *z = w->zk;
    int conn = m->conn;
    struct zconn *c = &z->c[conn];
    struct zsess *s = m->session ? sess(z, m->session) : NULL;
    if (m->session && (!s || !s->alive)) {
        struct msg *r = msg_new(MK_EXPIRED);
        r->session = m->session;
        s2c(w, conn, r);
        return; /* the client closes the connection */
    }
    if (!s) {
        if (z->ns == z->caps) {
            z->caps = z->caps ? z->caps * 2 : 64;
            z->s = realloc(z->s, (size_t)z->caps * sizeof *z->s);
            if (!z->s)
                abort();
        }
        s = &z->s[z->ns++];
        *s = (struct zsess){.id = ++z->next_session, .alive = true, .agent = c->agent};
        s->timeout = w->p.session_ms;
    } else if (s->conn && s->conn != conn && z->c[s->conn].open) {
        zk_drop_conn(w, s->conn);
    }
    s->conn = conn;
    s->last_heard = w->now;
    c->session = s->id;
    struct msg *r = msg_new(MK_CONNECTED);
    r->session = s->id;
    s2c(w, conn, r);
    if (m->session)
        resend_watches(w, conn, m);
}

/* ---------------------------------------------------------------- requests */

static void children(struct zk *z, const char *parent, struct msg *r)
{
    const char *name;
    r->nchildren = 0;
    for (int i = 0; i < SIM_MAX_NODES; i++)
        if (z->n[i].used && is_child(parent, z->n[i].path, &name) &&
            r->nchildren < SIM_MAX_CHILDREN)
            snprintf(r->children[r->nchildren++], SIM_PATH, "%s", name);
    /* sorted, as the real server's order is not to be relied on anyway */
    for (int i = 1; i < r->nchildren; i++)
        for (int k = i; k > 0 && strcmp(r->children[k - 1], r->children[k]) > 0; k--) {
            char t[SIM_PATH];
            memcpy(t, r->children[k], SIM_PATH);
            memcpy(r->children[k], r->children[k - 1], SIM_PATH);
            memcpy(r->children[k - 1], t, SIM_PATH);
        }
}

void zk_on_c2s(struct world *w, struct msg *m)
{
    struct zk *z = w->zk;
    if (!z->up || !zk_conn_open(w, m->conn)) {
        free(m);
        return;
    }
    if (m->kind == MK_CONNECT) {
        on_connect(w, m);
        free(m);
        return;
    }
    struct zconn *c = &z->c[m->conn];
    struct zsess *s = sess(z, c->session);
    if (!s || !s->alive) {
        free(m);
        return;
    }
    s->last_heard = w->now;
    struct msg *r = msg_new(MK_RESP);
    r->xid = m->xid;
    r->op = m->op;
    snprintf(r->path, sizeof r->path, "%s", m->path);
    struct znode *n = find(z, m->path);
    int conn = m->conn;
    switch (m->op) {
    case ZO_PING:
        break;
    case ZO_CREATE:
        r->rc = create(w, m->path, m->flags, s->id, &m->data, r->path);
        if ((n = find(z, r->path)) && r->rc == ZR_OK)
            stat_of(n, &r->stat);
        break;
    case ZO_DELETE:
        if (!n)
            r->rc = ZR_NONODE;
        else if (m->version >= 0 && n->version != m->version)
            r->rc = ZR_BADVERSION;
        else
            delete_node(w, n);
        break;
    case ZO_SET:
        if (!n)
            r->rc = ZR_NONODE;
        else if (m->version >= 0 && n->version != m->version)
            r->rc = ZR_BADVERSION;
        else {
            set_node(w, n, &m->data);
            stat_of(n, &r->stat);
        }
        break;
    case ZO_GET:
    case ZO_EXISTS:
        if (!n) {
            r->rc = ZR_NONODE;
            if (m->op == ZO_EXISTS && m->watch)
                watch_add(z, conn, m->path, ZW_EXIST);
        } else {
            r->data = n->d;
            stat_of(n, &r->stat);
            if (m->watch)
                watch_add(z, conn, m->path, ZW_DATA);
        }
        break;
    case ZO_CHILDREN:
        if (!n)
            r->rc = ZR_NONODE;
        else {
            children(z, m->path, r);
            if (m->watch)
                watch_add(z, conn, m->path, ZW_CHILD);
        }
        break;
    case ZO_MULTI:
        r->nops = m->nops;
        r->rc = ZR_OK;
        for (int i = 0; i < m->nops; i++) {
            r->op_rc[i] = check_op(z, &m->ops[i]);
            if (r->op_rc[i] != ZR_OK && r->rc == ZR_OK)
                r->rc = r->op_rc[i];
        }
        for (int i = 0; r->rc == ZR_OK && i < m->nops; i++) {
            const struct zsubop *o = &m->ops[i];
            struct znode *x = find(z, o->path);
            if (o->op == ZO_SET)
                set_node(w, x, &o->data);
            else if (o->op == ZO_DELETE)
                delete_node(w, x);
            else if (o->op == ZO_CREATE)
                create(w, o->path, 0, 0, &o->data, NULL);
        }
        break;
    case ZO_CLOSE:
        s2c(w, conn, r);
        expire(w, s, "closed by its client");
        free(m);
        return;
    }
    s2c(w, conn, r);
    free(m);
}

void zk_tick(struct world *w)
{
    struct zk *z = w->zk;
    if (!z->up)
        return;
    for (int i = 0; i < z->ns; i++)
        if (z->s[i].alive && w->now - z->s[i].last_heard > z->s[i].timeout)
            expire(w, &z->s[i], "expired");
}

void zk_restart(struct world *w, ms_t down_ms)
{
    struct zk *z = w->zk;
    z->up = false;
    for (int i = 1; i < z->nc; i++)
        if (z->c[i].open)
            zk_drop_conn(w, i);
    sim_push(w, w->now + down_ms, EV_SERVER_UP, 0, 0, 0, NULL);
}

void zk_up(struct world *w)
{
    struct zk *z = w->zk;
    if (z->up)
        return;
    z->up = true;
    sim_trace(w, "zk: server up again");
    for (int i = 0; i < z->ns; i++)
        if (z->s[i].alive)
            z->s[i].last_heard = w->now;
}

bool zk_is_up(const struct world *w)
{
    return w->zk->up;
}

/* ---------------------------------------------------------------- the operator and the checker */

void zk_put_job(struct world *w, int j, const struct sim_job *cfg)
{
    char path[SIM_PATH];
    struct zdata d = {.tag = ZD_JOB};
    d.u.job = *cfg;
    snprintf(path, sizeof path, "/jobs/j%d", j);
    struct znode *n = find(w->zk, path);
    if (n)
        set_node(w, n, &d);
    else
        create(w, path, 0, 0, &d, NULL);
}

const struct zdata *zk_peek(const struct world *w, const char *path, struct zstat *st)
{
    struct znode *n = find(w->zk, path);
    if (!n)
        return NULL;
    if (st)
        stat_of(n, st);
    return &n->d;
}

int64_t zk_session_of_node(const struct world *w, const char *path)
{
    struct znode *n = find(w->zk, path);
    return n ? n->owner : 0;
}

bool zk_session_alive(const struct world *w, int64_t session)
{
    struct zsess *s = sess(w->zk, session);
    return s && s->alive;
}

struct zk *zk_new(struct world *w)
{
    struct zk *z = calloc(1, sizeof *z);
    if (!z)
        abort();
    w->zk = z;
    z->up = true;
    zk_new_conn(w, 0); /* connection 0 means none */
    z->c[0].open = false;
    z->next_session = 0x1000;
    static const char *const base[] = {"/", "/agents", "/election", "/jobs", "/state"};
    for (int i = 0; i < 5; i++) {
        struct znode *n = &z->n[i];
        *n = (struct znode){.used = true, .czxid = ++z->zxid};
        n->mzxid = n->pzxid = n->czxid;
        snprintf(n->path, sizeof n->path, "%s", base[i]);
    }
    return z;
}

void zk_free(struct zk *z)
{
    if (!z)
        return;
    free(z->s);
    free(z->c);
    free(z);
}
