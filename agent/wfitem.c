/* agent/wfitem.c: the item side of workflows, on every agent.
 *
 * A workflow item runs like a manual trigger's (coord claims it once, the
 * scheduler runs it). Its final result goes to ZooKeeper as a done node,
 * /wfruns/<run>/d/<task>~<attempt>~<item>: the driver's completion event. A
 * create that fails for connection trouble is retried until ZooKeeper has it
 * (ZNODEEXISTS: it had it) or the run is gone (ZNONODE). While an item runs,
 * its trigger node is watched: the driver removes a trigger to cancel. */
#define LOG_CAT "shardcron.workflow"
#include "agent/wfdrive_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct wctx {
    char run[WFZK_RUN_ID_MAX + 1];
    char task[WF_TASK_ID_MAX + 1];
    char trigger[600];
    int attempt;
};

static int ctx_parse(const char *wf_json, struct wctx *x)
{
    cJSON *o = wf_json ? cJSON_Parse(wf_json) : NULL;
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(o, "run_id");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(o, "task");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(o, "attempt");
    const cJSON *trig = cJSON_GetObjectItemCaseSensitive(o, "trigger");
    int rc = -EINVAL;
    if (cJSON_IsString(run) && cJSON_IsString(task) && cJSON_IsNumber(att)) {
        snprintf(x->run, sizeof x->run, "%s", run->valuestring);
        snprintf(x->task, sizeof x->task, "%s", task->valuestring);
        snprintf(x->trigger, sizeof x->trigger, "%s",
                 cJSON_IsString(trig) ? trig->valuestring : "");
        x->attempt = att->valueint;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

static void watch_key(char *buf, size_t len, const char *job, int item, const char *run)
{
    snprintf(buf, len, "%s\t%d\t%s", job, item, run);
}

struct pend_ctx {
    struct wfd *w;
    uint64_t id;
};

static void pending_created(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct pend_ctx *x = arg;
    struct wfd *w = x->w;
    uint64_t id = x->id;
    (void)z;
    free(x);
    struct wpending **pp = &w->pending;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    struct wpending *p = *pp;
    if (!p)
        return;
    p->inflight = false;
    if (r->rc == ZOK || r->rc == ZNODEEXISTS || r->rc == ZNONODE) {
        if (r->rc == ZNONODE)
            LOGI("result %s not reported: the run is gone", p->path);
        *pp = p->next;
        free(p->path);
        free(p->data);
        free(p);
        w->stats.results++;
        return;
    }
    if (r->rc != ZCLOSING)
        LOGW("result %s not reported yet (%s): retrying", p->path, zerror(r->rc));
}

static void pending_send(struct wfd *w, struct wpending *p)
{
    if (p->inflight || w->detached || zkreg_state(w->z) != ZKREG_CONNECTED)
        return;
    struct pend_ctx *x = malloc(sizeof *x);
    if (!x)
        return;
    *x = (struct pend_ctx){w, p->id};
    p->inflight = true;
    if (zkreg_create(w->z, p->path, p->data, p->len, 0, pending_created, x) != ZOK) {
        p->inflight = false;
        free(x);
    }
}

void wfd_item_done(struct wfd *w, const char *job, int item, const char *wf_json,
                   const struct wfd_result *res)
{
    struct wctx x;
    char path[600], key[400];
    if (ctx_parse(wf_json, &x) < 0) {
        LOGE("job %s item %d: a workflow item without a readable context: result not reported", job,
             item);
        return;
    }
    watch_key(key, sizeof key, job, item, x.run);
    free(strmap_del(&w->watching, key));
    wfzk_done_path(path, sizeof path, x.run, x.task, x.attempt, item);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", res->status);
    cJSON_AddNumberToObject(o, "exit", res->exit_code);
    cJSON_AddStringToObject(o, "exec_id", res->exec_id ? res->exec_id : "");
    cJSON_AddStringToObject(o, "agent", w->id);
    cJSON_AddNumberToObject(o, "started_ms", (double)res->started_ms);
    cJSON_AddNumberToObject(o, "ended_ms", (double)res->ended_ms);
    cJSON_AddStringToObject(o, "reason", res->reason ? res->reason : "");
    cJSON *xc = res->xcom ? cJSON_Parse(res->xcom) : NULL;
    if (xc)
        cJSON_AddItemToObject(o, "xcom", xc);
    if (res->captured)
        cJSON_AddStringToObject(o, "stdout", res->captured);
    struct wpending *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path)) || !(p->data = cJSON_PrintUnformatted(o))) {
        LOGE("%s: out of memory: result not reported", path);
        if (p)
            free(p->path);
        free(p);
        cJSON_Delete(o);
        return;
    }
    cJSON_Delete(o);
    p->len = (int)strlen(p->data);
    p->id = ++w->pend_seq;
    struct wpending **pp = &w->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    LOGI("workflow %s task %s item %d attempt %d: %s", x.run, x.task, item, x.attempt, res->status);
    pending_send(w, p);
}

/* kill_for: the trigger at `path` was removed: stop what runs for it here. */
static void kill_for(struct wfd *w, const char *path)
{
    const char *k;
    void *v;
    char keys[64][400];
    int n = 0;
    for (size_t it = 0; n < 64 && strmap_next(&w->watching, &it, &k, &v);)
        if (strcmp((const char *)v, path) == 0)
            snprintf(keys[n++], sizeof keys[0], "%s", k);
    for (int i = 0; i < n; i++) {
        char job[JOB_NAME_MAX + 1] = "", run[WFZK_RUN_ID_MAX + 1] = "";
        int item = -1;
        const char *t1 = strchr(keys[i], '\t');
        const char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2)
            continue;
        snprintf(job, sizeof job, "%.*s", (int)(t1 - keys[i]), keys[i]);
        item = atoi(t1 + 1);
        snprintf(run, sizeof run, "%s", t2 + 1);
        LOGN("workflow %s: job %s item %d cancelled by the driver: stopping it", run, job, item);
        if (w->h.kill)
            w->h.kill(w->h.ctx, job, item, run);
    }
}

/* Existence of a watched trigger, read when the watch is set: gone already
 * means the cancel came before the watch. */
struct exists_ctx {
    struct wfd *w;
    char path[600];
};

static void watched_exists(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct exists_ctx *e = arg;
    (void)z;
    if (!r->stale && r->rc == ZNONODE)
        kill_for(e->w, e->path);
    free(e);
}

static void watch_trigger(struct wfd *w, const char *path)
{
    struct exists_ctx *e = malloc(sizeof *e);
    if (!e)
        return;
    e->w = w;
    snprintf(e->path, sizeof e->path, "%s", path);
    if (zkreg_exists(w->z, path, true, watched_exists, e) != ZOK)
        free(e);
}

void wfd_item_started(struct wfd *w, const char *job, int item, const char *wf_json)
{
    struct wctx x;
    char key[400];
    int e;
    if (w->detached || ctx_parse(wf_json, &x) < 0 || !x.trigger[0])
        return;
    watch_key(key, sizeof key, job, item, x.run);
    char *path = strdup(x.trigger);
    if (!path)
        return;
    free(strmap_del(&w->watching, key));
    e = 0;
    strmap_put(&w->watching, key, path, &e);
    if (e) {
        free(path);
        return;
    }
    watch_trigger(w, x.trigger);
}

bool wfd_item_on_watch(struct wfd *w, int type, const char *path)
{
    if (strncmp(path, "/jobs/", 6) != 0 || !strstr(path, "/triggers/" COORD_WF_TRIGGER_PREFIX))
        return false;
    if (type == ZOO_DELETED_EVENT)
        kill_for(w, path);
    else
        watch_trigger(w, path); /* watches fire once: set it again */
    return true;
}

void wfd_item_tick(struct wfd *w)
{
    for (struct wpending *p = w->pending; p; p = p->next)
        pending_send(w, p);
}

void wfd_item_reconnected(struct wfd *w)
{
    const char *k;
    void *v;
    /* A watch whose read failed with the connection is not set. */
    for (size_t it = 0; strmap_next(&w->watching, &it, &k, &v);)
        watch_trigger(w, v);
    for (struct wpending *p = w->pending; p; p = p->next)
        p->inflight = false; /* their answers came as connection loss, or will not come */
    wfd_item_tick(w);
}

void wfd_item_free(struct wfd *w)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&w->watching, &it, &k, &v);)
        free(v);
    strmap_free(&w->watching);
    while (w->pending) {
        struct wpending *p = w->pending;
        w->pending = p->next;
        free(p->path);
        free(p->data);
        free(p);
    }
}
