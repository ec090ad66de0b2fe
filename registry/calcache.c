/* registry/calcache.c: /calendars through watches (see registry/calcache.h). */
#define LOG_CAT "shardcron.registry"
#include "registry/calcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void calcache_init(struct calcache *cc, struct zkreg *z, void (*on_update)(void *ctx), void *ctx)
{
    memset(cc, 0, sizeof *cc);
    cc->z = z;
    cc->on_update = on_update;
    cc->ctx = ctx;
    strmap_init(&cc->map);
}

static void changed(struct calcache *cc)
{
    cc->gen++;
    if (cc->on_update)
        cc->on_update(cc->ctx);
}

static void drop(struct calcache *cc, const char *name)
{
    struct calendar *c = strmap_del(&cc->map, name);
    if (c) {
        calendar_unref(c);
        changed(cc);
    }
}

struct read_ctx {
    struct calcache *cc;
    char name[];
};

static void cal_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct calcache *cc = rc->cc;
    struct sc_err err;
    char msg[400];
    int e;
    (void)z;
    if (r->stale) {
        free(rc);
        return;
    }
    cc->loading--;
    if (r->rc == ZNONODE) {
        drop(cc, rc->name);
    } else if (r->rc == ZOK) {
        struct calendar *c = NULL;
        sc_err_clear(&err);
        if (calendar_parse(r->data ? r->data : "", (size_t)r->len, &c, &err) < 0 ||
            strcmp(c->name, rc->name) != 0) {
            if (c)
                sc_err_set(&err, EINVAL, "name", -1, "\"%s\" is not the node's name", c->name);
            LOGE("calendar %s is invalid and is not used: %s", rc->name,
                 sc_err_format(&err, msg, sizeof msg));
            calendar_unref(c);
            drop(cc, rc->name);
        } else {
            calendar_unref(strmap_put(&cc->map, rc->name, c, &e));
            if (e < 0)
                calendar_unref(c);
            else
                LOGI("calendar %s loaded (%d holidays, %d make-up workdays)", c->name, c->nholidays,
                     c->nworkdays);
            changed(cc);
        }
    } else if (cc->on_update) {
        cc->on_update(cc->ctx); /* a failed read: settled again; the reconnect reads it */
    }
    free(rc);
}

static void read_one(struct calcache *cc, const char *name)
{
    char path[300];
    size_t n = strlen(name) + 1;
    struct read_ctx *rc = malloc(sizeof *rc + n);
    if (!rc)
        return;
    rc->cc = cc;
    memcpy(rc->name, name, n);
    snprintf(path, sizeof path, CALCACHE_ROOT "/%s", name);
    cc->loading++;
    if (zkreg_get(cc->z, path, true, cal_read, rc) != ZOK) {
        cc->loading--;
        free(rc);
    }
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void root_exists(struct zkreg *z, const struct zkreg_result *r, void *arg);

static void listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct calcache *cc = arg;
    const char *k;
    void *v;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) {
        /* No calendar yet: an exists watch tells when the parent appears. */
        zkreg_exists(cc->z, CALCACHE_ROOT, true, root_exists, cc);
        return;
    }
    if (r->rc != ZOK)
        return;
    for (size_t it = 0; strmap_next(&cc->map, &it, &k, &v);)
        if (!bsearch(&k, r->children, (size_t)r->nchildren, sizeof(char *), strcmp_ptr))
            drop(cc, k);
    for (int i = 0; i < r->nchildren; i++)
        if (!strmap_get(&cc->map, r->children[i]))
            read_one(cc, r->children[i]);
    cc->listed = true;
    if (cc->on_update)
        cc->on_update(cc->ctx);
}

static void root_exists(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct calcache *cc = arg;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZOK) {
        zkreg_children(cc->z, CALCACHE_ROOT, true, listed, cc);
        return;
    }
    if (r->rc != ZNONODE)
        return;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&cc->map, &it, &k, &v);)
        drop(cc, k); /* /calendars itself was deleted */
    cc->listed = true;
    if (cc->on_update)
        cc->on_update(cc->ctx);
}

void calcache_load(struct calcache *cc)
{
    const char *k;
    void *v;
    zkreg_children(cc->z, CALCACHE_ROOT, true, listed, cc);
    /* Re-read what is cached: a data watch of a past session is gone. */
    for (size_t it = 0; strmap_next(&cc->map, &it, &k, &v);)
        read_one(cc, k);
}

bool calcache_on_watch(struct calcache *cc, int type, const char *path)
{
    size_t n = strlen(CALCACHE_ROOT);
    if (strncmp(path, CALCACHE_ROOT, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return false;
    if (path[n] == '\0')
        zkreg_children(cc->z, CALCACHE_ROOT, true, listed, cc);
    else if (type == ZOO_DELETED_EVENT)
        drop(cc, path + n + 1);
    else if (strchr(path + n + 1, '/') == NULL)
        read_one(cc, path + n + 1);
    return true;
}

bool calcache_settled(const struct calcache *cc)
{
    return cc->listed && cc->loading == 0;
}

struct calendar *calcache_get(const struct calcache *cc, const char *name)
{
    return strmap_get(&cc->map, name);
}

void calcache_free(struct calcache *cc)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&cc->map, &it, &k, &v);)
        calendar_unref(v);
    strmap_free(&cc->map);
}
