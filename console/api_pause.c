/* console/api_pause.c: the pause window routes (docs/pauses.md, docs/console.md).
 *
 *   GET    /api/v1/pauses        every window, with its state now (viewer)
 *   POST   /api/v1/pauses        create one (operator); 409 when the id exists
 *   DELETE /api/v1/pauses/{id}   delete one (operator)
 *
 * Reads come from the view's cache (console/zkview.h, registry/pausecache.h),
 * kept current by watches. A POST body is a window as core/pause.h takes it,
 * with two conveniences for the console's "pause this domain for 30 minutes"
 * form: "for_s" instead of from/to makes a one-off window from the console's
 * own clock (not the browser's), and a missing "id" is made from the scope.
 * Writes are audited (object type "pause"). */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console/console.h"
#include "core/job.h"
#include "core/json.h"
#include "core/pause.h"
#include "registry/pausecache.h"

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(struct pausecache_entry *const *)a)->id,
                  (*(struct pausecache_entry *const *)b)->id);
}

/* state: "active" (with active_until), "upcoming" (with next_start), "over". */
static void add_state(cJSON *o, const struct pause *p, int64_t now)
{
    int64_t e, b;
    if (pause_window_at(p, now, NULL, &e)) {
        cJSON_AddStringToObject(o, "state", "active");
        cJSON_AddNumberToObject(o, "active_until", (double)e);
    } else if ((b = pause_next_start(p, now, &e)) >= 0) {
        cJSON_AddStringToObject(o, "state", "upcoming");
        cJSON_AddNumberToObject(o, "next_start", (double)b);
        cJSON_AddNumberToObject(o, "next_end", (double)e);
    } else {
        cJSON_AddStringToObject(o, "state", "over");
    }
}

void api_pauses_list(struct creq *r)
{
    const struct pausecache *pc = &r->c->view.pauses;
    size_t n = strmap_len(&pc->map), k = 0, it = 0;
    const char *key;
    void *v;
    struct pausecache_entry **es = calloc(n + 1, sizeof *es);
    cJSON *arr = cJSON_CreateArray();
    if (!es || !arr) {
        free(es);
        cJSON_Delete(arr);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    while (strmap_next(&pc->map, &it, &key, &v))
        es[k++] = v;
    qsort(es, k, sizeof *es, cmp_entry);
    int64_t now = console_now_ms() / 1000;
    for (size_t i = 0; i < k; i++) {
        cJSON *o;
        if (es[i]->p) {
            o = pause_to_cjson(es[i]->p);
            add_state(o, es[i]->p, now);
        } else {
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", es[i]->id);
            cJSON_AddStringToObject(o, "state", es[i]->error[0] ? "invalid" : "loading");
            cJSON_AddStringToObject(o, "error", es[i]->error);
        }
        cJSON_AddNumberToObject(o, "version", es[i]->version);
        cJSON_AddNumberToObject(o, "mtime_ms", (double)es[i]->mtime_ms);
        cJSON_AddItemToArray(arr, o);
    }
    free(es);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "pauses", arr);
    cJSON_AddNumberToObject(out, "now", (double)now);
    creq_json(r, 200, out);
}

/* ---------------------------------------------------------------- writes */

struct pausewrite {
    struct creq *r;
    char id[PAUSE_ID_MAX + 1];
    char *canon;  /* create: the new window */
    char *before; /* delete: the window as cached, or NULL */
};

static void pausewrite_free(struct pausewrite *w)
{
    free(w->canon);
    free(w->before);
    free(w);
}

static void pause_created(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct pausewrite *w = arg;
    struct creq *r = w->r;
    (void)z;
    if (res->rc != ZOK) {
        r->c->zk_write_errors++;
        if (res->rc == ZNODEEXISTS)
            creq_error(r, 409, "id", "a pause window %s exists; delete it first", w->id);
        else
            creq_error(r, 503, "zookeeper", "write failed: %s", zerror(res->rc));
        pausewrite_free(w);
        return;
    }
    r->c->zk_writes++;
    audit(r->c, r->sess.user, "create", "pause", w->id, NULL, w->canon);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", w->id);
    cJSON_AddItemToObject(o, "pause", cJSON_Parse(w->canon));
    pausewrite_free(w);
    creq_json(r, 201, o);
}

/* fill_conveniences: for_s -> from/to (the console's clock), a missing id. */
static int fill_conveniences(cJSON *in, struct sc_err *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(in, "for_s");
    int64_t now = console_now_ms() / 1000;
    if (f) {
        if (!cJSON_IsNumber(f) || f->valuedouble < 1 || f->valuedouble > 366.0 * 86400 ||
            f->valuedouble != (double)(int64_t)f->valuedouble)
            return sc_err_set(err, EINVAL, "for_s", -1, "must be whole seconds, 1 to a year");
        if (cJSON_HasObjectItem(in, "to") || cJSON_HasObjectItem(in, "cron"))
            return sc_err_set(err, EINVAL, "for_s", -1, "give for_s or to (or cron), not both");
        char from[32], to[32];
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(in, "from");
        int64_t start = now;
        if (fr && cJSON_IsString(fr) && fr->valuestring[0] == '@')
            start = strtoll(fr->valuestring + 1, NULL, 10);
        else if (fr)
            return sc_err_set(err, EINVAL, "from", -1, "with for_s, from must be @EPOCH_SECONDS");
        snprintf(from, sizeof from, "@%lld", (long long)start);
        snprintf(to, sizeof to, "@%lld", (long long)(start + (int64_t)f->valuedouble));
        cJSON_DeleteItemFromObjectCaseSensitive(in, "for_s");
        cJSON_DeleteItemFromObjectCaseSensitive(in, "from");
        cJSON_AddStringToObject(in, "from", from);
        cJSON_AddStringToObject(in, "to", to);
    }
    if (!cJSON_HasObjectItem(in, "id")) {
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(in, "scope");
        const cJSON *v = cJSON_IsObject(sc) ? sc->child : NULL;
        char id[PAUSE_ID_MAX + 1], stamp[24];
        struct tm tm;
        time_t t = (time_t)now;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(id, sizeof id, "%s-%.60s-%s", v && v->string ? v->string : "pause",
                 v && cJSON_IsString(v) ? v->valuestring : "all", stamp);
        for (char *p = id; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                *p = '_';
        cJSON_AddStringToObject(in, "id", id);
    }
    return 0;
}

void api_pause_post(struct creq *r)
{
    struct sc_err err;
    struct pause *p = NULL;
    sc_err_clear(&err);
    cJSON *in = json_parse(r->body, r->blen, &err);
    if (!in) {
        creq_error(r, 400, err.field[0] ? err.field : "body", "invalid JSON at offset %d: %s",
                   err.pos, err.msg);
        return;
    }
    if (!cJSON_IsObject(in) || fill_conveniences(in, &err) < 0 ||
        pause_from_cjson(in, &p, &err) < 0) {
        if (!cJSON_IsObject(in))
            sc_err_set(&err, EINVAL, "body", -1, "must be a JSON object (a pause window)");
        cJSON_Delete(in);
        creq_error(r, 400, err.field, "%s", err.msg);
        return;
    }
    cJSON_Delete(in);
    struct pausewrite *w = calloc(1, sizeof *w);
    if (!w || !(w->canon = pause_to_json(p))) {
        free(w);
        pause_free(p);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    w->r = r;
    snprintf(w->id, sizeof w->id, "%s", p->id);
    pause_free(p);
    char path[sizeof PAUSECACHE_ROOT + PAUSE_ID_MAX + 2];
    snprintf(path, sizeof path, PAUSECACHE_ROOT "/%s", w->id);
    int zrc = zkreg_create(r->c->z, path, w->canon, (int)strlen(w->canon), 0, pause_created, w);
    if (zrc != ZOK) {
        pausewrite_free(w);
        creq_error(r, 503, "zookeeper", "cannot write: %s", zerror(zrc));
    }
}

static void pause_deleted(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct pausewrite *w = arg;
    struct creq *r = w->r;
    (void)z;
    if (res->rc != ZOK) {
        if (res->rc == ZNONODE) {
            creq_error(r, 404, "id", "no pause window %s", w->id);
        } else {
            r->c->zk_write_errors++;
            creq_error(r, 503, "zookeeper", "delete failed: %s", zerror(res->rc));
        }
        pausewrite_free(w);
        return;
    }
    r->c->zk_writes++;
    audit(r->c, r->sess.user, "delete", "pause", w->id, w->before, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", w->id);
    cJSON_AddBoolToObject(o, "deleted", true);
    pausewrite_free(w);
    creq_json(r, 200, o);
}

void api_pause_delete(struct creq *r, const char *id)
{
    if (!job_name_valid(id) || strlen(id) > PAUSE_ID_MAX) {
        creq_error(r, 404, "id", "\"%.140s\" is not a pause window id", id);
        return;
    }
    struct pausewrite *w = calloc(1, sizeof *w);
    if (!w) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    w->r = r;
    snprintf(w->id, sizeof w->id, "%s", id);
    const struct pausecache_entry *e = strmap_get(&r->c->view.pauses.map, id);
    if (e && e->p)
        w->before = pause_to_json(e->p);
    char path[sizeof PAUSECACHE_ROOT + PAUSE_ID_MAX + 2];
    snprintf(path, sizeof path, PAUSECACHE_ROOT "/%s", id);
    int zrc = zkreg_delete(r->c->z, path, -1, pause_deleted, w);
    if (zrc != ZOK) {
        pausewrite_free(w);
        creq_error(r, 503, "zookeeper", "cannot delete: %s", zerror(zrc));
    }
}
