/* registry/pausecache.c: the cache of pause windows (see pausecache.h).
 *
 * Sections: entries and the window list; reads; listing; public API. */
#define LOG_CAT "shardcron.registry"
#include "registry/pausecache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---------------------------------------------------------------- entries */

static void entry_free(struct pausecache_entry *e)
{
    if (!e)
        return;
    pause_free(e->p);
    free(e->id);
    free(e);
}

/* rebuild: the valid windows as one array, so a fire's question is a walk
 * over a few pointers and never a map iteration. */
static void rebuild(struct pausecache *pc)
{
    size_t n = 0, it = 0;
    const char *k;
    void *v;
    struct pause **w = calloc(strmap_len(&pc->map) + 1, sizeof *w);
    if (!w) {
        LOGE("out of memory rebuilding the pause windows: keeping the previous list");
        return;
    }
    while (strmap_next(&pc->map, &it, &k, &v))
        if (((struct pausecache_entry *)v)->p)
            w[n++] = ((struct pausecache_entry *)v)->p;
    free(pc->win);
    pc->win = w;
    pc->nwin = n;
    pc->gen++;
    if (pc->on_change)
        pc->on_change(pc->ctx);
}

/* ---------------------------------------------------------------- reads */

struct read_req {
    struct pausecache *pc;
    char id[PAUSE_ID_MAX + 1];
};

static void window_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_req *q = arg;
    struct pausecache *pc = q->pc;
    (void)z;
    if (r->stale || (r->rc != ZOK && r->rc != ZNONODE)) {
        free(q); /* the next load (reconnect, new session) reads it again */
        return;
    }
    struct pausecache_entry *e = strmap_get(&pc->map, q->id);
    if (r->rc == ZNONODE) {
        if (e) {
            strmap_del(&pc->map, q->id);
            entry_free(e);
            LOGI("pause window %s deleted", q->id);
            rebuild(pc);
        }
        free(q);
        return;
    }
    if (!e) {
        int perr = 0;
        if (!(e = calloc(1, sizeof *e)) || !(e->id = strdup(q->id)) ||
            (strmap_put(&pc->map, q->id, e, &perr), perr)) {
            LOGE("out of memory caching pause window %s", q->id);
            entry_free(e);
            free(q);
            return;
        }
    }
    if (r->has_stat && e->p && r->stat.version == e->version) {
        free(q); /* read again after a reconnect, unchanged */
        return;
    }
    struct sc_err err;
    struct pause *p = NULL;
    sc_err_clear(&err);
    int rc = pause_parse(r->data ? r->data : "", r->data ? (size_t)r->len : 0, &p, &err);
    if (rc == 0 && strcmp(p->id, q->id) != 0) {
        snprintf(err.field, sizeof err.field, "id");
        snprintf(err.msg, sizeof err.msg, "is \"%.100s\", the node is %s", p->id, q->id);
        pause_free(p);
        p = NULL;
        rc = -EINVAL;
    }
    pause_free(e->p);
    e->p = p;
    e->version = r->has_stat ? r->stat.version : 0;
    e->mtime_ms = r->has_stat ? r->stat.mtime : 0;
    if (rc < 0) {
        char why[300];
        snprintf(e->error, sizeof e->error, "%s", sc_err_format(&err, why, sizeof why));
        LOGW("pause window %s is invalid and pauses nothing: %s", q->id, e->error);
    } else {
        e->error[0] = '\0';
        char sc[200];
        LOGI("pause window %s: %s %s: %s", q->id, pause_action_name(p->action),
             pause_scope_text(p, sc, sizeof sc), p->reason);
    }
    free(q);
    rebuild(pc);
}

static void read_window(struct pausecache *pc, const char *id)
{
    char path[sizeof PAUSECACHE_ROOT + PAUSE_ID_MAX + 2];
    struct read_req *q = calloc(1, sizeof *q);
    if (!q || strlen(id) > PAUSE_ID_MAX) {
        free(q);
        return;
    }
    q->pc = pc;
    snprintf(q->id, sizeof q->id, "%s", id);
    snprintf(path, sizeof path, PAUSECACHE_ROOT "/%s", id);
    if (zkreg_get(pc->z, path, true, window_read, q) != ZOK)
        free(q);
}

/* ---------------------------------------------------------------- listing */

static void listed(struct zkreg *z, const struct zkreg_result *r, void *arg);

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct pausecache *pc = arg;
    if (r->stale || (r->rc != ZOK && r->rc != ZNODEEXISTS))
        return;
    zkreg_children(z, PAUSECACHE_ROOT, true, listed, pc);
}

/* listed: windows that appeared are read (with a watch); windows that went
 * are dropped; the others are followed by their own data watches. With
 * `reread` (a load) every window is read again. */
static void list_apply(struct pausecache *pc, const struct zkreg_result *r, bool reread)
{
    bool changed = false;
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&pc->map, &it, &k, &v)) {
        bool present = false;
        for (int i = 0; i < r->nchildren && !present; i++)
            present = strcmp(r->children[i], k) == 0;
        if (!present) {
            struct pausecache_entry *e = v;
            LOGI("pause window %s deleted", e->id);
            strmap_del(&pc->map, k);
            entry_free(e);
            changed = true;
        }
    }
    for (int i = 0; i < r->nchildren; i++)
        if (reread || !strmap_get(&pc->map, r->children[i]))
            read_window(pc, r->children[i]);
    pc->listed = true;
    if (changed)
        rebuild(pc);
}

static void listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct pausecache *pc = arg;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) { /* first use of this namespace */
        zkreg_ensure(z, PAUSECACHE_ROOT, ensured, pc);
        return;
    }
    if (r->rc == ZOK)
        list_apply(pc, r, false);
}

static void listed_reread(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct pausecache *pc = arg;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) {
        zkreg_ensure(z, PAUSECACHE_ROOT, ensured, pc);
        return;
    }
    if (r->rc == ZOK)
        list_apply(pc, r, true);
}

/* ---------------------------------------------------------------- public API */

void pausecache_init(struct pausecache *pc, struct zkreg *z, void (*on_change)(void *ctx),
                     void *ctx)
{
    memset(pc, 0, sizeof *pc);
    pc->z = z;
    strmap_init(&pc->map);
    pc->on_change = on_change;
    pc->ctx = ctx;
}

void pausecache_load(struct pausecache *pc)
{
    if (pc->z)
        zkreg_children(pc->z, PAUSECACHE_ROOT, true, listed_reread, pc);
}

bool pausecache_on_watch(struct pausecache *pc, int type, const char *path)
{
    size_t n = strlen(PAUSECACHE_ROOT);
    if (strncmp(path, PAUSECACHE_ROOT, n) != 0 || (path[n] && path[n] != '/'))
        return false;
    if (!path[n]) {
        zkreg_children(pc->z, PAUSECACHE_ROOT, true, listed, pc);
    } else if (type == ZOO_CHANGED_EVENT || type == ZOO_CREATED_EVENT) {
        read_window(pc, path + n + 1);
    } else if (type == ZOO_DELETED_EVENT) {
        struct pausecache_entry *e = strmap_del(&pc->map, path + n + 1);
        if (e) {
            LOGI("pause window %s deleted", e->id);
            entry_free(e);
            rebuild(pc);
        }
    }
    return true;
}

void pausecache_free(struct pausecache *pc)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&pc->map, &it, &k, &v))
        entry_free(v);
    strmap_free(&pc->map);
    free(pc->win);
    pc->win = NULL;
    pc->nwin = 0;
}

const struct pause *pausecache_find(const struct pausecache *pc, const struct pause_subject *s,
                                    int64_t t, int64_t *end)
{
    return pc->nwin ? pause_find(pc->win, pc->nwin, s, t, end) : NULL;
}
