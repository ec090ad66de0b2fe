/* agent/wfdrive.c: the workflow driver (docs/workflows.md, "The driver").
 *
 * Active only on the leader. Everything it decides is written to ZooKeeper
 * before anyone acts on it, in multi-ops conditioned on our election node
 * (a deposed leader's writes fail), and a new leader reads it all back:
 *   - a run is /wfruns/<id>; its id is the workflow and logical time, so a
 *     second create for one logical time fails (never two runs);
 *   - a task start is its t/ node and its trigger, created together; the
 *     trigger's name is derived from (run, task, attempt[, item]), so a start
 *     whose answer was lost is found again, never made twice;
 *   - an item's result is the done node its agent wrote (wfitem.c); the
 *     watch on the run's d/ children is the completion event that starts
 *     the downstream tasks (no polling between tasks).
 * Timers (sensor pokes, external checks, schedules, claims of dead agents,
 * run timeouts) run on coord's one-second tick. */
#define LOG_CAT "shardcron.workflow"
#include "agent/wfdrive_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/job.h"
#include "core/log.h"
#include "core/pause.h"
#include "core/tz.h"
#include "registry/jobops.h"
#include "registry/pausecache.h"
#include "registry/plan.h"

#define WFD_SCAN_MS 3000 /* claims of items whose agent may have died */
/* Finished runs stay in ZooKeeper this long (a run per logical time is
 * refused against them; older ones are in history only). */
#define WFD_RUN_KEEP_MS (30LL * 86400 * 1000)
#define WFD_GC_EVERY_MS (10LL * 60 * 1000)
#define WFD_WB_MAX 16
/* Task starts sent and not answered at most: a fan-out of thousands is sent
 * in waves, so ZooKeeper's answers to the session's heartbeats (the lease
 * every agent's starts depend on) do not queue behind them. */
#define WFD_STARTS_INFLIGHT 64
/* An item refused at its start (not run: e.g. its agent could not prove its
 * session at that instant) is triggered again, as a new attempt, this many
 * times beyond the task's retries. */
#define WFD_MISSED_AGAIN 3
/* w->ensured: jobs whose triggers parent exists, or is being created. */
#define ENSURED_YES ((void *)1)
#define ENSURED_INFLIGHT ((void *)2)

int64_t wfd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void evaluate(struct wfd *w, struct wrun *r);
static void arm_timer(struct wfd *w);
static void list_reqs(struct wfd *w, bool all);
static void item_lost(struct wfd *w, struct wrun *r, int i, int item, const char *why, int extra);
static void load_run(struct wfd *w, const char *id);

/* ---------------------------------------------------------------- fenced writes */

/* A multi-op under construction: ops[0] is the fence. Paths and data are owned. */
struct wb {
    struct zkreg_op op[WFD_WB_MAX];
    char *own[2 * WFD_WB_MAX];
    int n, nown;
};

static const char *wb_dup(struct wb *b, const char *s, int len)
{
    char *p = malloc((size_t)len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, (size_t)len);
    p[len] = '\0';
    b->own[b->nown++] = p;
    return p;
}

static void wb_init(struct wfd *w, struct wb *b)
{
    memset(b, 0, sizeof *b);
    const char *fence = coord_elect_path(w->c);
    if (!fence[0]) /* no election node: a check that fails (never the root's) */
        fence = "/election/-";
    b->op[b->n++] = (struct zkreg_op){
        .type = ZKOP_CHECK, .path = wb_dup(b, fence, (int)strlen(fence)), .version = -1};
}

static void wb_add(struct wb *b, enum zkreg_op_type type, const char *path, const char *data,
                   int version, int flags)
{
    if (b->n >= WFD_WB_MAX)
        return;
    int len = data ? (int)strlen(data) : 0;
    b->op[b->n++] = (struct zkreg_op){.type = type,
                                      .path = wb_dup(b, path, (int)strlen(path)),
                                      .data = data ? wb_dup(b, data, len) : NULL,
                                      .len = len,
                                      .version = version,
                                      .flags = flags};
}

struct wb_ctx {
    struct wfd *w;
    uint64_t gen;
    char run[JOB_NAME_MAX + 1]; /* a run id (or, for ensured(), a job name) */
    bool start;                 /* a task start: counted in w->starts_inflight */
};

static void deactivate(struct wfd *w, const char *why);

static void wb_done(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct wb_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc == ZCLOSING || r->stale || x->gen != w->gen) {
        free(x);
        return;
    }
    if (x->start && w->starts_inflight > 0 && w->starts_inflight-- == WFD_STARTS_INFLIGHT) {
        /* Below the bound again: tasks that waited for it start now. */
        const char *k;
        void *v;
        char ids[64][WFZK_RUN_ID_MAX + 1];
        int n = 0;
        for (size_t it = 0; n < 64 && strmap_next(&w->runs, &it, &k, &v);)
            if (((struct wrun *)v)->st == WF_R_RUNNING && ((struct wrun *)v)->loaded)
                snprintf(ids[n++], sizeof ids[0], "%.80s", k);
        for (int i = 0; i < n; i++)
            if ((v = strmap_get(&w->runs, ids[i])))
                evaluate(w, v);
    }
    if (r->rc != ZOK) {
        w->stats.write_failures++;
        if (r->nops > 0 && r->op_rc && r->op_rc[0] != ZOK && r->op_rc[0] != ZRUNTIMEINCONSISTENCY) {
            deactivate(w, "a fenced write failed on the election node: no longer the leader");
        } else if (x->run[0]) {
            struct wrun *run = strmap_get(&w->runs, x->run);
            /* Its fate is unknown (connection loss) or a node was not as
             * believed: read the run again before going on. */
            LOGW("workflow run %s: a write failed (%s): reading the run again", x->run,
                 zerror(r->rc));
            if (run)
                run->reload = true;
        }
    }
    free(x);
}

static void wb_commit_drop(struct wb *b)
{
    for (int i = 0; i < b->nown; i++)
        free(b->own[i]);
    b->n = b->nown = 0;
}

static void wb_commit_as(struct wfd *w, struct wb *b, const char *run_id, bool start)
{
    struct wb_ctx *x = calloc(1, sizeof *x);
    if (x) {
        x->w = w;
        x->gen = w->gen;
        x->start = start;
        if (start)
            w->starts_inflight++;
        snprintf(x->run, sizeof x->run, "%s", run_id ? run_id : "");
        w->stats.writes++;
        if (zkreg_multi(w->z, b->op, b->n, wb_done, x) != ZOK) {
            if (start)
                w->starts_inflight--;
            free(x);
            struct wrun *r = run_id ? strmap_get(&w->runs, run_id) : NULL;
            if (r)
                r->reload = true;
        }
    }
    for (int i = 0; i < b->nown; i++)
        free(b->own[i]);
    b->n = b->nown = 0;
}

static void wb_commit(struct wfd *w, struct wb *b, const char *run_id)
{
    wb_commit_as(w, b, run_id, false);
}

static void ignore_cb(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)r, (void)arg;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* listed: `name` is among a listing's children (sorted). */
static bool listed(const struct zkreg_result *r, const char *name)
{
    return r->nchildren > 0 &&
           bsearch(&name, r->children, (size_t)r->nchildren, sizeof *r->children, cmp_name);
}

/* ---------------------------------------------------------------- shapes */

static cJSON *run_json(const struct wrun *r)
{
    cJSON *o = cJSON_CreateObject();
    char iso[40];
    time_t t = (time_t)(r->logical_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    cJSON_AddStringToObject(o, "run_id", r->id);
    cJSON_AddStringToObject(o, "workflow", r->wf);
    cJSON_AddNumberToObject(o, "logical_ms", (double)r->logical_ms);
    cJSON_AddStringToObject(o, "logical_time", iso);
    cJSON_AddStringToObject(o, "trigger", r->trigger);
    cJSON_AddStringToObject(o, "state", wf_rstate_name(r->st));
    cJSON_AddItemToObject(o, "params",
                          r->params ? cJSON_Duplicate(r->params, 1) : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "timezone", r->tz ? r->tz : "UTC");
    cJSON_AddNumberToObject(o, "created_ms", (double)r->created_ms);
    cJSON_AddNumberToObject(o, "started_ms", (double)r->started_ms);
    cJSON_AddNumberToObject(o, "ended_ms", (double)r->ended_ms);
    cJSON_AddNumberToObject(o, "seq", (double)r->seq);
    return o;
}

static cJSON *task_json(const struct wtask *t, int64_t seq)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", wf_tstate_name(t->st));
    cJSON_AddNumberToObject(o, "attempt", t->attempt);
    cJSON_AddNumberToObject(o, "started_ms", (double)t->started_ms);
    cJSON_AddNumberToObject(o, "ended_ms", (double)t->ended_ms);
    cJSON_AddNumberToObject(o, "next_ms", (double)t->next_ms);
    cJSON_AddNumberToObject(o, "trig_ms", (double)t->trig_ms);
    cJSON_AddStringToObject(o, "reason", t->reason);
    cJSON_AddNumberToObject(o, "items", t->nitems);
    cJSON *ia = cJSON_AddArrayToObject(o, "ia");
    for (int i = 0; i < t->nitems; i++)
        cJSON_AddItemToArray(ia, cJSON_CreateNumber(t->ia[i]));
    if (t->nfollow) {
        cJSON *f = cJSON_AddArrayToObject(o, "follow");
        for (int i = 0; i < t->nfollow; i++)
            cJSON_AddItemToArray(f, cJSON_CreateString(t->follow[i]));
    }
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    return o;
}

static void task_reset_items(struct wtask *t, int n)
{
    free(t->ia);
    free(t->res);
    t->ia = n > 0 ? calloc((size_t)n, sizeof *t->ia) : NULL;
    t->res = n > 0 ? calloc((size_t)n, 1) : NULL;
    t->nitems = t->ia && t->res ? n : 0;
    cJSON_Delete(t->xcom);
    t->xcom = NULL;
    free(t->out);
    t->out = NULL;
}

static void task_clear_follow(struct wtask *t)
{
    for (int i = 0; i < t->nfollow; i++)
        free(t->follow[i]);
    free(t->follow);
    t->follow = NULL;
    t->nfollow = 0;
}

static void run_free(struct wrun *r)
{
    if (!r)
        return;
    for (int i = 0; r->t && r->d && i < r->d->ntasks; i++) {
        free(r->t[i].ia);
        free(r->t[i].res);
        cJSON_Delete(r->t[i].xcom);
        free(r->t[i].out);
        task_clear_follow(&r->t[i]);
    }
    free(r->t);
    wf_free(r->d);
    cJSON_Delete(r->params);
    free(r->tz);
    strmap_free(&r->seen);
    free(r);
}

static void def_free(struct wdef *d)
{
    if (!d)
        return;
    wf_free(d->d);
    cron_free(d->cron);
    tz_free(d->zone);
    cJSON_Delete(d->backfill);
    free(d);
}

static bool run_done(enum wf_rstate s)
{
    return s == WF_R_SUCCEEDED || s == WF_R_FAILED || s == WF_R_CANCELLED;
}

static int active_runs(struct wfd *w, const char *wf)
{
    const char *k;
    void *v;
    int n = 0;
    for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);) {
        struct wrun *r = v;
        n += strcmp(r->wf, wf) == 0 && r->st == WF_R_RUNNING;
    }
    return n;
}

/* ---------------------------------------------------------------- recording */

static void put_run(struct wfd *w, struct wb *b, struct wrun *r)
{
    char path[300];
    r->seq++;
    cJSON *o = run_json(r);
    char *s = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof path, WFZK_RUNS "/%s", r->id);
    if (s)
        wb_add(b, ZKOP_SET, path, s, -1, 0);
    if (w->h.record_run)
        w->h.record_run(w->h.ctx, o);
    free(s);
    cJSON_Delete(o);
}

static void put_task(struct wfd *w, struct wb *b, struct wrun *r, int i)
{
    char path[400];
    struct wtask *t = &r->t[i];
    r->seq++;
    cJSON *o = task_json(t, r->seq);
    char *s = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/t/%s", r->id, r->d->tasks[i].id);
    if (s)
        wb_add(b, t->has_node ? ZKOP_SET : ZKOP_CREATE, path, s, -1, 0);
    t->has_node = true;
    /* t/ itself is set too (no data): its version tells readers that a task
     * changed without reading every task (wfzk_run_sig) */
    snprintf(path, sizeof path, WFZK_RUNS "/%s/t", r->id);
    wb_add(b, ZKOP_SET, path, "", -1, 0);
    if (w->h.record_task)
        w->h.record_task(w->h.ctx, r->id, r->d->tasks[i].id, o);
    free(s);
    cJSON_Delete(o);
}

/* ---------------------------------------------------------------- triggers */

static void trigger_name(char *buf, size_t len, const struct wrun *r, const char *task, int attempt,
                         int item)
{
    if (item < 0)
        snprintf(buf, len, COORD_WF_TRIGGER_PREFIX "%s~%s~a%d", r->id, task, attempt);
    else
        snprintf(buf, len, COORD_WF_TRIGGER_PREFIX "%s~%s~a%d~i%d", r->id, task, attempt, item);
}

/* task_job: the job a task's items run as. */
static void task_job(char *buf, size_t len, const struct wrun *r, int i)
{
    const struct wf_task *k = &r->d->tasks[i];
    if (k->kind == WF_JOB)
        snprintf(buf, len, "%s", k->job);
    else
        wfzk_task_job(buf, len, r->wf, k->id);
}

/* The trigger path of item `item`'s current attempt. */
static void item_trigger(char *buf, size_t len, const struct wrun *r, int i, int item)
{
    char job[JOB_NAME_MAX + 1], name[300];
    const struct wtask *t = &r->t[i];
    task_job(job, sizeof job, r, i);
    trigger_name(name, sizeof name, r, r->d->tasks[i].id, t->ia[item],
                 t->ia[item] == t->attempt ? -1 : item);
    snprintf(buf, len, "/jobs/%s/triggers/%s", job, name);
}

/* delete_trigger: remove a trigger and what agents wrote under it (acks,
 * claims). An agent running its item takes the removal as a cancel. */
struct deltree {
    struct wfd *w;
    char path[600];
};

static void delete_tree1(struct wfd *w, const char *path);

static void deltree_done(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct deltree *d = arg;
    (void)z;
    /* ZNOTEMPTY: a claim arrived between the listing and the delete. */
    if (r->rc == ZNOTEMPTY && !r->stale)
        delete_tree1(d->w, d->path);
    free(d);
}

/* deltree_listed: the children and the node in one transaction. */
static void deltree_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct deltree *d = arg;
    if (r->rc != ZOK || r->stale) {
        free(d);
        return;
    }
    int n = r->nchildren + 1;
    struct zkreg_op *ops = calloc((size_t)n, sizeof *ops);
    char **paths = calloc((size_t)n, sizeof *paths);
    for (int i = 0; ops && paths && i < r->nchildren; i++) {
        if (asprintf(&paths[i], "%s/%s", d->path, r->children[i]) < 0)
            paths[i] = NULL;
        ops[i] = (struct zkreg_op){.type = ZKOP_DELETE, .path = paths[i], .version = -1};
    }
    bool ok = ops && paths;
    for (int i = 0; ok && i < r->nchildren; i++)
        ok = paths[i] != NULL;
    if (ok) {
        ops[n - 1] = (struct zkreg_op){.type = ZKOP_DELETE, .path = d->path, .version = -1};
        if (zkreg_multi(z, ops, n, deltree_done, d) == ZOK)
            d = NULL;
    }
    for (int i = 0; paths && i < r->nchildren; i++)
        free(paths[i]);
    free(paths);
    free(ops);
    free(d);
}

static void delete_tree1(struct wfd *w, const char *path)
{
    struct deltree *d = malloc(sizeof *d);
    if (!d)
        return;
    d->w = w;
    snprintf(d->path, sizeof d->path, "%s", path);
    if (zkreg_children(w->z, path, false, deltree_listed, d) != ZOK)
        free(d);
}

static void delete_task_triggers(struct wfd *w, struct wrun *r, int i)
{
    char path[600];
    struct wtask *t = &r->t[i];
    bool full = false;
    for (int k = 0; k < t->nitems; k++) {
        if (t->ia[k] == t->attempt) {
            if (full)
                continue;
            full = true;
        }
        item_trigger(path, sizeof path, r, i, k);
        delete_tree1(w, path);
    }
}

/* wf_ctx: the context an item of task i runs with (registry/coord.h). */
static cJSON *wf_ctx(struct wrun *r, int i, int attempt)
{
    const struct wf_task *k = &r->d->tasks[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workflow", r->wf);
    cJSON_AddStringToObject(o, "run_id", r->id);
    cJSON_AddStringToObject(o, "task", k->id);
    cJSON_AddNumberToObject(o, "attempt", attempt);
    cJSON_AddNumberToObject(o, "logical_ms", (double)r->logical_ms);
    cJSON_AddStringToObject(o, "timezone", r->tz ? r->tz : "UTC");
    cJSON_AddItemToObject(o, "params",
                          r->params ? cJSON_Duplicate(r->params, 1) : cJSON_CreateObject());
    cJSON *in = cJSON_AddObjectToObject(o, "xcom_in");
    for (int u = 0; u < k->nup; u++) {
        const struct wtask *ut = &r->t[k->up[u]];
        if (ut->xcom)
            cJSON_AddItemToObject(in, r->d->tasks[k->up[u]].id, cJSON_Duplicate(ut->xcom, 1));
    }
    cJSON_AddBoolToObject(o, "capture", k->kind == WF_BRANCH);
    return o;
}

/* add_trigger: ops creating the trigger of task i (all items, or `item`)
 * with its change-log entry. */
static void add_trigger(struct wb *b, struct wrun *r, int i, int attempt, int item)
{
    char job[JOB_NAME_MAX + 1], name[300], path[600], change[400];
    task_job(job, sizeof job, r, i);
    trigger_name(name, sizeof name, r, r->d->tasks[i].id, attempt, item);
    snprintf(path, sizeof path, "/jobs/%s/triggers/%s", job, name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "wf", wf_ctx(r, i, attempt));
    if (item >= 0) {
        cJSON *items = cJSON_AddArrayToObject(o, "items");
        cJSON_AddItemToArray(items, cJSON_CreateNumber(item));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    plan_change_prefix(change, sizeof change, PLAN_CHANGE_TRIGGER, job);
    if (s) {
        wb_add(b, ZKOP_CREATE, path, s, -1, 0);
        wb_add(b, ZKOP_CREATE, change, NULL, -1, ZOO_SEQUENCE);
    }
    free(s);
}

/* ---------------------------------------------------------------- tasks */

static void set_state(struct wfd *w, struct wrun *r, int i, enum wf_tstate st, const char *why)
{
    struct wb b;
    struct wtask *t = &r->t[i];
    int64_t now = wfd_now_ms();
    if (wf_tstate_done(st) && (t->st == WF_T_RUNNING || t->st == WF_T_SENSING))
        delete_task_triggers(w, r, i);
    t->st = st;
    if (wf_tstate_done(st))
        t->ended_ms = now;
    snprintf(t->reason, sizeof t->reason, "%s", why ? why : "");
    wb_init(w, &b);
    put_task(w, &b, r, i);
    wb_commit(w, &b, r->id);
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct wb_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc != ZCLOSING && x->gen == w->gen) {
        int e = 0;
        if (r->rc == ZOK || r->rc == ZNODEEXISTS)
            strmap_put(&w->ensured, x->run /* the job */, ENSURED_YES, &e);
        else
            strmap_del(&w->ensured, x->run); /* tried again at the next start */
        const char *k;
        void *v;
        for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);)
            if (((struct wrun *)v)->loaded)
                evaluate(w, v);
    }
    free(x);
}

/* pause_held: a pause window (docs/pauses.md) scopes task i now, through its
 * workflow or its job (name, domain, labels): the start waits, skip or defer
 * alike (a skipped task would decide its downstream), and is evaluated again
 * on the tick. The task stays waiting, its reason saying until when; the
 * node is written only when that reason changes, not once a tick. */
static bool pause_held(struct wfd *w, struct wrun *r, int i)
{
    const struct pausecache *pc = coord_pauses(w->c);
    char job[JOB_NAME_MAX + 1], why[sizeof r->t[i].reason], until[32];
    if (!pc->nwin)
        return false;
    task_job(job, sizeof job, r, i);
    const struct job *cfg = coord_job(w->c, job);
    struct pause_subject sub = {.job = job,
                                .domain = cfg ? cfg->domain : NULL,
                                .labels = cfg ? cfg->labels : NULL,
                                .nlabels = cfg ? cfg->nlabels : 0,
                                .workflow = r->wf};
    int64_t end = 0;
    const struct pause *p = pausecache_find(pc, &sub, wfd_now_ms() / 1000, &end);
    if (!p)
        return false;
    tz_format_civil(end, until, sizeof until);
    snprintf(why, sizeof why, "paused until %sZ by window %s: %s", until, p->id, p->reason);
    r->deferred = true;
    if (strcmp(r->t[i].reason, why) != 0) {
        LOGI("workflow run %s: task %s waits: %s", r->id, r->d->tasks[i].id, why);
        set_state(w, r, i, WF_T_WAITING, why);
    }
    return true;
}

/* start_task: task i of r runs now (its state was waiting). */
static void start_task(struct wfd *w, struct wrun *r, int i)
{
    const struct wf_task *k = &r->d->tasks[i];
    struct wtask *t = &r->t[i];
    char job[JOB_NAME_MAX + 1];
    int64_t now = wfd_now_ms();
    struct wb b;
    if (pause_held(w, r, i))
        return;
    if (k->kind == WF_EXTERNAL) {
        t->st = WF_T_SENSING;
        t->attempt = 1;
        t->started_ms = now;
        t->next_ms = now; /* checked on the next tick, then every interval */
        task_reset_items(t, 0);
        wb_init(w, &b);
        put_task(w, &b, r, i);
        wb_commit(w, &b, r->id);
        arm_timer(w);
        return;
    }
    if (w->starts_inflight >= WFD_STARTS_INFLIGHT) {
        r->deferred = true; /* evaluated again when answers come back (wb_done), or the tick */
        return;
    }
    task_job(job, sizeof job, r, i);
    const struct job *cfg = coord_job(w->c, job);
    if (!cfg) {
        /* A task job is created with the definition; a job task's job exists
         * (checked at put) unless deleted since. */
        if (k->kind == WF_JOB) {
            set_state(w, r, i, WF_T_FAILED, "its job does not exist (deleted after the put?)");
            return;
        }
        r->deferred = true; /* its job is being created: the tick evaluates again */
        return;
    }
    void *ens = strmap_get(&w->ensured, job);
    if (ens == ENSURED_INFLIGHT) {
        r->deferred = true; /* started once the parent is there (ensured(), or the tick) */
        return;
    }
    if (!ens) {
        char parent[400];
        int e = 0;
        strmap_put(&w->ensured, job, ENSURED_INFLIGHT, &e);
        struct wb_ctx *x = calloc(1, sizeof *x);
        snprintf(parent, sizeof parent, "/jobs/%s/triggers", job);
        if (x) {
            x->w = w;
            x->gen = w->gen;
            snprintf(x->run, sizeof x->run, "%s", job);
            if (zkreg_ensure(w->z, parent, ensured, x) != ZOK) {
                strmap_del(&w->ensured, job);
                free(x);
            }
        }
        return;
    }
    t->attempt++;
    task_reset_items(t, k->kind == WF_SENSOR || k->kind == WF_BRANCH ? 1 : cfg->shards);
    for (int n = 0; n < t->nitems; n++)
        t->ia[n] = t->attempt;
    t->st = k->kind == WF_SENSOR ? WF_T_SENSING : WF_T_RUNNING;
    if (t->attempt == 1 || !t->started_ms)
        t->started_ms = now;
    t->ended_ms = 0;
    t->trig_ms = now;
    t->reason[0] = '\0';
    task_clear_follow(t);
    wb_init(w, &b);
    put_task(w, &b, r, i);
    add_trigger(&b, r, i, t->attempt, -1);
    wb_commit_as(w, &b, r->id, true);
    w->stats.tasks_started++;
    LOGI("workflow run %s: task %s started (attempt %d, %d items)", r->id, k->id, t->attempt,
         t->nitems);
}

/* follows: task i is on a path its upstream branches chose (or has none). */
static bool follows(const struct wrun *r, int i)
{
    const struct wf_task *k = &r->d->tasks[i];
    for (int u = 0; u < k->nup; u++) {
        const struct wf_task *uk = &r->d->tasks[k->up[u]];
        const struct wtask *ut = &r->t[k->up[u]];
        if (uk->kind != WF_BRANCH || ut->st != WF_T_SUCCEEDED)
            continue;
        bool chosen = false;
        for (int f = 0; f < ut->nfollow; f++)
            chosen |= strcmp(ut->follow[f], k->id) == 0;
        if (!chosen)
            return false;
    }
    return true;
}

static void finish_run(struct wfd *w, struct wrun *r, enum wf_rstate st, const char *why)
{
    struct wb b;
    r->st = st;
    r->ended_ms = wfd_now_ms();
    wb_init(w, &b);
    put_run(w, &b, r);
    wb_commit(w, &b, r->id);
    LOGN("workflow run %s: %s%s%s", r->id, wf_rstate_name(st), why ? ": " : "", why ? why : "");
}

/* evaluate: apply the trigger rules to every waiting task of r (in
 * topological order, so what one decision ends is seen by the next), then
 * the run's state from its leaves. */
/* holds_slot: the task has items running or being started (a sensor
 * between pokes and a retry waiting for its backoff hold nothing). */
static bool holds_slot(const struct wtask *t)
{
    return t->st == WF_T_RUNNING || (t->st == WF_T_SENSING && t->next_ms == 0);
}

static void evaluate(struct wfd *w, struct wrun *r)
{
    if (!w->active || !r->loaded || r->st != WF_R_RUNNING || r->reload)
        return;
    int n = r->d->ntasks, limit = r->d->max_running_tasks, running = 0;
    enum wf_tstate *st = malloc((size_t)n * sizeof *st);
    if (!st)
        return;
    for (int i = 0; limit > 0 && i < n; i++)
        running += holds_slot(&r->t[i]);
    for (int o = 0; o < n; o++) {
        int i = r->d->topo[o];
        const struct wf_task *k = &r->d->tasks[i];
        if (r->t[i].st != WF_T_WAITING)
            continue;
        enum wf_tstate *us = malloc((size_t)(k->nup ? k->nup : 1) * sizeof *us);
        if (!us)
            break;
        for (int u = 0; u < k->nup; u++)
            us[u] = r->t[k->up[u]].st;
        enum wf_decision dcs = wf_rule_decide(k->rule, us, k->nup);
        free(us);
        if (dcs == WF_RUN && !follows(r, i))
            dcs = WF_SKIP; /* a branch upstream did not choose it */
        if (dcs == WF_RUN && limit > 0 && running >= limit) {
            /* at max_running_tasks: it starts when a running task of this run
             * ends (task_ended evaluates the run again) */
            continue;
        }
        if (dcs == WF_RUN) {
            start_task(w, r, i);
            running += holds_slot(&r->t[i]);
        } else if (dcs == WF_SKIP)
            set_state(w, r, i, WF_T_SKIPPED,
                      follows(r, i) ? "skipped by its trigger rule" : "not chosen by its branch");
        else if (dcs == WF_UPSTREAM_FAILED)
            set_state(w, r, i, WF_T_UPSTREAM_FAILED, "an upstream task failed");
    }
    for (int i = 0; i < n; i++)
        st[i] = r->t[i].st;
    enum wf_rstate rs = wf_run_state(r->d, st);
    free(st);
    if (rs != WF_R_RUNNING)
        finish_run(w, r, rs, NULL);
}

/* task_ended: every item of task i's attempt has a result. */
static void task_ended(struct wfd *w, struct wrun *r, int i, const char *stdout_text)
{
    const struct wf_task *k = &r->d->tasks[i];
    struct wtask *t = &r->t[i];
    int64_t now = wfd_now_ms();
    bool ok = true;
    for (int n = 0; n < t->nitems; n++)
        ok &= t->res[n] == 1;
    delete_task_triggers(w, r, i);
    if (k->kind == WF_SENSOR && !ok) {
        if (now - t->started_ms + (int64_t)k->interval_s * 1000 > (int64_t)k->timeout_s * 1000) {
            char why[200];
            snprintf(why, sizeof why, "sensor timed out after %d s (%d pokes)", k->timeout_s,
                     t->attempt);
            set_state(w, r, i, WF_T_FAILED, why);
        } else {
            struct wb b;
            t->next_ms = now + (int64_t)k->interval_s * 1000;
            snprintf(t->reason, sizeof t->reason, "poke %d: not yet", t->attempt);
            wb_init(w, &b);
            put_task(w, &b, r, i);
            wb_commit(w, &b, r->id);
            arm_timer(w);
            return; /* sensing: no capacity held until the next poke */
        }
    } else if (k->kind == WF_BRANCH && ok) {
        const char *out = stdout_text ? stdout_text : "";
        unsigned char *follow = calloc((size_t)(k->ndown ? k->ndown : 1), 1);
        struct sc_err err = {0};
        task_clear_follow(t);
        if (!follow || wf_branch_follow(r->d, i, out, strlen(out), follow, &err) < 0) {
            char why[300];
            snprintf(why, sizeof why, "%s", follow ? err.msg : "out of memory");
            free(follow);
            set_state(w, r, i, WF_T_FAILED, why);
            evaluate(w, r);
            return;
        }
        t->follow = calloc((size_t)(k->ndown ? k->ndown : 1), sizeof *t->follow);
        for (int d = 0; t->follow && d < k->ndown; d++)
            if (follow[d] && (t->follow[t->nfollow] = strdup(r->d->tasks[k->down[d]].id)))
                t->nfollow++;
        free(follow);
        set_state(w, r, i, WF_T_SUCCEEDED, "");
    } else {
        char why[300] = "";
        /* The failed item's own reason (its exit, its gone agent), set when
         * its result came or it was found lost, is what gets recorded. */
        if (!ok && t->reason[0])
            snprintf(why, sizeof why, "%s", t->reason);
        for (int n = 0; !ok && n < t->nitems && !why[0]; n++)
            if (t->res[n] != 1)
                snprintf(why, sizeof why, "item %d failed", n);
        set_state(w, r, i, ok ? WF_T_SUCCEEDED : WF_T_FAILED, why);
    }
    evaluate(w, r);
}

/* ---------------------------------------------------------------- results */

struct res_ctx {
    struct wfd *w;
    uint64_t gen;
    char run[WFZK_RUN_ID_MAX + 1];
    char name[200];
};

static void handle_result(struct wfd *w, struct wrun *r, const char *name, const char *data,
                          int len)
{
    char task[WF_TASK_ID_MAX + 1];
    int attempt, item, e = 0;
    if (wfzk_done_parse(name, task, sizeof task, &attempt, &item) < 0)
        return;
    int i = wf_task_index(r->d, task);
    if (i < 0)
        return;
    struct wtask *t = &r->t[i];
    if ((t->st != WF_T_RUNNING && t->st != WF_T_SENSING) || item < 0 || item >= t->nitems ||
        t->ia[item] != attempt || t->res[item])
        return; /* a result of an attempt that is over (cleared, marked, cancelled) */
    cJSON *o = cJSON_ParseWithLength(data, (size_t)len);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    const cJSON *xcom = cJSON_GetObjectItemCaseSensitive(o, "xcom");
    if (r->loaded && cJSON_IsString(status) && strcmp(status->valuestring, "missed") == 0) {
        /* Not run (refused at its start): a new attempt, not a failure. */
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "reason");
        char msg[300];
        snprintf(msg, sizeof msg, "not run (%s)",
                 cJSON_IsString(why) ? why->valuestring : "refused at its start");
        strmap_put(&r->seen, name, (void *)1, &e);
        cJSON_Delete(o);
        item_lost(w, r, i, item, msg, WFD_MISSED_AGAIN);
        return;
    }
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(o, "stdout");
    bool ok = cJSON_IsString(status) && strcmp(status->valuestring, "succeeded") == 0;
    t->res[item] = ok ? 1 : 2;
    strmap_put(&r->seen, name, (void *)1, &e);
    w->stats.results++;
    if (ok && xcom) {
        char key[16];
        snprintf(key, sizeof key, "%d", item);
        if (!t->xcom)
            t->xcom = cJSON_CreateObject();
        cJSON_AddItemToObject(t->xcom, key, cJSON_Duplicate(xcom, 1));
        if (w->h.record_xcom) {
            char *s = cJSON_PrintUnformatted(xcom);
            if (s)
                w->h.record_xcom(w->h.ctx, r->id, task, item, attempt, s);
            free(s);
        }
    }
    if (!ok) {
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "reason");
        if (cJSON_IsString(why) && why->valuestring[0] && r->d->tasks[i].kind != WF_SENSOR)
            snprintf(t->reason, sizeof t->reason, "item %d: %s", item, why->valuestring);
    }
    bool all = true;
    for (int n = 0; n < t->nitems; n++)
        all &= t->res[n] != 0;
    if (cJSON_IsString(out)) {
        free(t->out);
        t->out = strdup(out->valuestring);
    }
    char *text = all && t->out ? strdup(t->out) : NULL;
    cJSON_Delete(o);
    if (!r->loaded)
        return; /* loading: evaluated once everything is read */
    if (all) {
        char keep[300];
        snprintf(keep, sizeof keep, "%s", t->reason);
        task_ended(w, r, i, text);
        if (r->t[i].st == WF_T_FAILED && keep[0] && !strstr(r->t[i].reason, keep))
            snprintf(r->t[i].reason, sizeof r->t[i].reason, "%s", keep);
    }
    free(text);
}

static void result_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct res_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc != ZCLOSING && !r->stale && x->gen == w->gen) {
        struct wrun *run = strmap_get(&w->runs, x->run);
        if (run) {
            run->loading--;
            if (r->rc == ZOK)
                handle_result(w, run, x->name, r->data ? r->data : "", r->len);
            else if (r->rc != ZNONODE)
                run->reload = true;
            if (!run->loaded && run->loading == 0 && !run->reload) {
                run->loaded = true;
                LOGI("workflow run %s loaded", run->id);
                /* Tasks whose every result was read while loading. */
                for (int i = 0; i < run->d->ntasks; i++) {
                    struct wtask *t = &run->t[i];
                    bool all = t->nitems > 0 && (t->st == WF_T_RUNNING || t->st == WF_T_SENSING);
                    for (int n = 0; all && n < t->nitems; n++)
                        all &= t->res[n] != 0;
                    if (all)
                        task_ended(w, run, i, t->out);
                }
                evaluate(w, run);
            }
        }
    }
    free(x);
}

static void results_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct res_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc != ZCLOSING && !r->stale && x->gen == w->gen) {
        struct wrun *run = strmap_get(&w->runs, x->run);
        if (run && r->rc == ZOK) {
            for (int i = 0; i < r->nchildren; i++) {
                if (strmap_get(&run->seen, r->children[i]))
                    continue;
                struct res_ctx *y = calloc(1, sizeof *y);
                char path[600];
                if (!y)
                    continue;
                *y = *x;
                snprintf(y->name, sizeof y->name, "%s", r->children[i]);
                snprintf(path, sizeof path, WFZK_RUNS "/%s/d/%s", run->id, r->children[i]);
                run->loading++;
                if (zkreg_get(w->z, path, false, result_read, y) != ZOK) {
                    run->loading--;
                    run->reload = true;
                    free(y);
                }
            }
        } else if (run) {
            run->reload = true;
        }
        if (run)
            run->loading--;
        if (run && !run->loaded && run->loading == 0 && !run->reload) {
            run->loaded = true; /* no result to read */
            evaluate(w, run);
        }
    }
    free(x);
}

static void list_results(struct wfd *w, struct wrun *r)
{
    char path[300];
    struct res_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return;
    x->w = w;
    x->gen = w->gen;
    snprintf(x->run, sizeof x->run, "%s", r->id);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", r->id);
    r->loading++;
    if (zkreg_children(w->z, path, true, results_listed, x) != ZOK) {
        r->loading--;
        r->reload = true;
        free(x);
    }
}

/* ---------------------------------------------------------------- loading a run */

static int task_from_json(struct wtask *t, const char *data, int len, int64_t *seq)
{
    cJSON *o = cJSON_ParseWithLength(data, (size_t)len);
    if (!o)
        return -EINVAL;
    const cJSON *v;
    enum wf_tstate st;
    v = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (!cJSON_IsString(v) || wf_tstate_parse(v->valuestring, &st) < 0) {
        cJSON_Delete(o);
        return -EINVAL;
    }
    t->st = st;
    t->has_node = true;
#define NUM(name, dst)                                                                             \
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, name)))                             \
        dst = (int64_t)v->valuedouble;
    int64_t a = 0, n = 0;
    NUM("attempt", a);
    NUM("started_ms", t->started_ms);
    NUM("ended_ms", t->ended_ms);
    NUM("next_ms", t->next_ms);
    NUM("trig_ms", t->trig_ms);
    NUM("items", n);
    NUM("seq", *seq);
#undef NUM
    t->attempt = (int)a;
    v = cJSON_GetObjectItemCaseSensitive(o, "reason");
    snprintf(t->reason, sizeof t->reason, "%s", cJSON_IsString(v) ? v->valuestring : "");
    task_reset_items(t, (int)n);
    const cJSON *ia = cJSON_GetObjectItemCaseSensitive(o, "ia");
    for (int i = 0; i < t->nitems; i++) {
        const cJSON *e = cJSON_GetArrayItem(ia, i);
        t->ia[i] = cJSON_IsNumber(e) ? e->valueint : t->attempt;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "follow"), *e;
    task_clear_follow(t);
    cJSON_ArrayForEach(e, f)
    {
        char **nf = realloc(t->follow, (size_t)(t->nfollow + 1) * sizeof *nf);
        if (!nf)
            break;
        t->follow = nf;
        if (cJSON_IsString(e) && (nf[t->nfollow] = strdup(e->valuestring)))
            t->nfollow++;
    }
    cJSON_Delete(o);
    return 0;
}

struct load_ctx {
    struct wfd *w;
    uint64_t gen;
    char run[WFZK_RUN_ID_MAX + 1];
    char task[WF_TASK_ID_MAX + 1];
};

static struct load_ctx *lctx(struct wfd *w, const char *run, const char *task)
{
    struct load_ctx *x = calloc(1, sizeof *x);
    if (x) {
        x->w = w;
        x->gen = w->gen;
        snprintf(x->run, sizeof x->run, "%s", run);
        snprintf(x->task, sizeof x->task, "%s", task ? task : "");
    }
    return x;
}

/* take: the run a load callback is for, or NULL when it is stale. */
static struct wrun *take(struct load_ctx *x, const struct zkreg_result *r)
{
    if (r->rc == ZCLOSING || r->stale || x->gen != x->w->gen)
        return NULL;
    return strmap_get(&x->w->runs, x->run);
}

static void loaded_one(struct wfd *w, struct wrun *r)
{
    r->loading--;
    if (r->loading == 0 && !r->loaded && !r->reload)
        list_results(w, r);
}

static void task_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct load_ctx *x = arg;
    struct wrun *run = take(x, r);
    (void)z;
    if (run) {
        int i = wf_task_index(run->d, x->task);
        int64_t seq = 0;
        if (r->rc == ZOK && i >= 0 &&
            task_from_json(&run->t[i], r->data ? r->data : "", r->len, &seq) < 0)
            LOGW("workflow run %s: task node %s unreadable: taken as waiting", run->id, x->task);
        if (seq > run->seq) /* history takes a report only at a higher seq */
            run->seq = seq;
        else if (r->rc != ZOK && r->rc != ZNONODE)
            run->reload = true;
        loaded_one(x->w, run);
    }
    free(x);
}

static void tasks_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct load_ctx *x = arg;
    struct wrun *run = take(x, r);
    struct wfd *w = x->w;
    (void)z;
    if (run) {
        for (int i = 0; r->rc == ZOK && i < r->nchildren; i++) {
            char path[400];
            struct load_ctx *y = lctx(w, run->id, r->children[i]);
            snprintf(path, sizeof path, WFZK_RUNS "/%s/t/%s", run->id, r->children[i]);
            run->loading++;
            if (!y || zkreg_get(w->z, path, false, task_read, y) != ZOK) {
                run->loading--;
                run->reload = true;
                free(y);
            }
        }
        if (r->rc != ZOK && r->rc != ZNONODE)
            run->reload = true;
        loaded_one(w, run);
    }
    free(x);
}

static void def_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct load_ctx *x = arg;
    struct wrun *run = take(x, r);
    struct wfd *w = x->w;
    struct sc_err err = {0};
    (void)z;
    if (run) {
        if (r->rc == ZOK && wf_parse(r->data ? r->data : "", (size_t)r->len, &run->d, &err) == 0) {
            run->t = calloc((size_t)run->d->ntasks, sizeof *run->t);
            char path[300];
            struct load_ctx *y = lctx(w, run->id, NULL);
            snprintf(path, sizeof path, WFZK_RUNS "/%s/t", run->id);
            run->loading++;
            if (!run->t || !y || zkreg_children(w->z, path, false, tasks_listed, y) != ZOK) {
                run->loading--;
                run->reload = true;
                free(y);
            }
        } else if (r->rc == ZOK) {
            LOGE("workflow run %s: its definition is unreadable (%s: %s): the run cannot go on",
                 run->id, err.field, err.msg);
        } else {
            run->reload = true;
        }
        loaded_one(w, run);
    }
    free(x);
}

static int run_from_json(struct wrun *run, const char *data, int len)
{
    cJSON *o = cJSON_ParseWithLength(data, (size_t)len);
    const cJSON *v;
    enum wf_rstate st;
    if (!o)
        return -EINVAL;
    v = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (!cJSON_IsString(v) || wf_rstate_parse(v->valuestring, &st) < 0) {
        cJSON_Delete(o);
        return -EINVAL;
    }
    run->st = st;
#define NUM(name, dst)                                                                             \
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, name)))                             \
        dst = (int64_t)v->valuedouble;
    NUM("logical_ms", run->logical_ms);
    NUM("created_ms", run->created_ms);
    NUM("started_ms", run->started_ms);
    NUM("ended_ms", run->ended_ms);
    NUM("seq", run->seq);
#undef NUM
    v = cJSON_GetObjectItemCaseSensitive(o, "workflow");
    snprintf(run->wf, sizeof run->wf, "%s", cJSON_IsString(v) ? v->valuestring : "");
    v = cJSON_GetObjectItemCaseSensitive(o, "trigger");
    snprintf(run->trigger, sizeof run->trigger, "%s", cJSON_IsString(v) ? v->valuestring : "");
    v = cJSON_GetObjectItemCaseSensitive(o, "timezone");
    free(run->tz);
    run->tz = strdup(cJSON_IsString(v) ? v->valuestring : "UTC");
    cJSON_Delete(run->params);
    run->params = cJSON_DetachItemFromObjectCaseSensitive(o, "params");
    cJSON_Delete(o);
    return 0;
}

static void run_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct load_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc == ZCLOSING || r->stale || x->gen != w->gen) {
        free(x);
        return;
    }
    struct wrun *run = strmap_get(&w->runs, x->run);
    if (run && r->rc == ZOK && run_from_json(run, r->data ? r->data : "", r->len) == 0) {
        if (!run_done(run->st) && run->st != WF_R_QUEUED) {
            char path[300];
            struct load_ctx *y = lctx(w, run->id, NULL);
            snprintf(path, sizeof path, WFZK_RUNS "/%s/def", run->id);
            run->loading++;
            if (!y || zkreg_get(w->z, path, false, def_read, y) != ZOK) {
                run->loading--;
                run->reload = true;
                free(y);
            }
        }
    } else if (run && r->rc == ZNONODE) {
        run_free(strmap_del(&w->runs, x->run));
    } else if (run) {
        run->reload = true;
    }
    free(x);
}

/* load_run: (re)read run `id` whole: its node, definition, tasks, results. */
static void load_run(struct wfd *w, const char *id)
{
    char path[300];
    int e = 0;
    struct wrun *old = strmap_del(&w->runs, id);
    run_free(old);
    struct wrun *r = calloc(1, sizeof *r);
    if (!r)
        return;
    snprintf(r->id, sizeof r->id, "%s", id);
    strmap_init(&r->seen);
    strmap_put(&w->runs, id, r, &e);
    struct load_ctx *x = lctx(w, id, NULL);
    snprintf(path, sizeof path, WFZK_RUNS "/%s", id);
    if (!x || zkreg_get(w->z, path, false, run_read, x) != ZOK) {
        r->reload = true;
        free(x);
    }
}

/* ---------------------------------------------------------------- creating runs */

/* create_run: ops for a new run of `def` at logical_ms (queued when the
 * workflow is at max_active_runs). The caller adds its own ops (schedule
 * state, the request's answer) and commits. NULL when one exists already. */
static struct wrun *create_run(struct wfd *w, struct wb *b, struct wdef *def, int64_t logical_ms,
                               const char *trigger, const cJSON *params)
{
    char id[WFZK_RUN_ID_MAX + 1], path[400];
    int e = 0;
    wfzk_run_id(id, sizeof id, def->name, logical_ms);
    if (strmap_get(&w->runs, id))
        return NULL;
    char *defjson = wf_to_json(def->d);
    struct sc_err err = {0};
    struct wrun *r = calloc(1, sizeof *r);
    if (!r || !defjson || wf_parse(defjson, strlen(defjson), &r->d, &err) < 0 ||
        !(r->t = calloc((size_t)r->d->ntasks, sizeof *r->t))) {
        free(defjson);
        run_free(r);
        return NULL;
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->wf, sizeof r->wf, "%s", def->name);
    snprintf(r->trigger, sizeof r->trigger, "%s", trigger);
    strmap_init(&r->seen);
    r->logical_ms = logical_ms;
    r->tz = strdup(def->d->timezone);
    /* The definition's params, overridden by the trigger's. */
    r->params = cJSON_Duplicate(def->d->params, 1);
    const cJSON *p;
    cJSON_ArrayForEach(p, params)
    {
        if (cJSON_IsString(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(r->params, p->string);
            cJSON_AddStringToObject(r->params, p->string, p->valuestring);
        }
    }
    r->created_ms = wfd_now_ms();
    r->st = active_runs(w, def->name) < def->d->max_active_runs ? WF_R_RUNNING : WF_R_QUEUED;
    if (r->st == WF_R_RUNNING)
        r->started_ms = r->created_ms;
    r->loaded = true;
    /* History takes a report only at a higher seq than the row's: a run
     * created again for its logical time (after ZooKeeper forgot the first)
     * starts above every report of the earlier one. */
    r->seq = r->created_ms * 1000;
    cJSON *o = run_json(r);
    char *s = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof path, WFZK_RUNS "/%s", id);
    wb_add(b, ZKOP_CREATE, path, s, -1, 0);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/def", id);
    wb_add(b, ZKOP_CREATE, path, defjson, -1, 0);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/t", id);
    wb_add(b, ZKOP_CREATE, path, NULL, -1, 0);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", id);
    wb_add(b, ZKOP_CREATE, path, NULL, -1, 0);
    if (w->h.record_run)
        w->h.record_run(w->h.ctx, o);
    free(s);
    free(defjson);
    cJSON_Delete(o);
    strmap_put(&w->runs, id, r, &e);
    w->stats.runs_created++;
    LOGN("workflow run %s created (%s, %s)", id, trigger, wf_rstate_name(r->st));
    return r;
}

/* after_create: a created run's watch and first tasks (after its commit). */
static void after_create(struct wfd *w, struct wrun *r)
{
    r->loaded = true;
    if (r->st == WF_R_RUNNING) {
        list_results(w, r); /* sets the watch on d/ (empty) */
        evaluate(w, r);
    }
}

/* promote: queued runs of `wf` start, oldest logical time first, while the
 * workflow is below max_active_runs. */
static void promote(struct wfd *w, struct wdef *def)
{
    for (;;) {
        if (active_runs(w, def->name) >= def->d->max_active_runs)
            return;
        struct wrun *best = NULL;
        const char *k;
        void *v;
        for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);) {
            struct wrun *r = v;
            if (strcmp(r->wf, def->name) == 0 && r->st == WF_R_QUEUED &&
                (!best || r->logical_ms < best->logical_ms))
                best = r;
        }
        if (!best)
            return;
        struct wb b;
        best->st = WF_R_RUNNING;
        best->started_ms = wfd_now_ms();
        wb_init(w, &b);
        put_run(w, &b, best);
        wb_commit(w, &b, best->id);
        /* Its definition and (empty) tasks are read like any run's. */
        load_run(w, best->id);
    }
}

/* ---------------------------------------------------------------- operations */

static void cancel_run(struct wfd *w, struct wrun *r, enum wf_rstate st, const char *why)
{
    for (int i = 0; r->d && i < r->d->ntasks; i++)
        if (!wf_tstate_done(r->t[i].st))
            set_state(w, r, i, WF_T_CANCELLED, why);
    finish_run(w, r, st, why);
}

/* reopen_run: a run that had ended runs again (a clear or mark changed a
 * task). False when the run has to be read again first (then evaluated
 * when loaded). */
static bool reopen_run(struct wfd *w, struct wrun *r)
{
    struct wb b;
    if (!run_done(r->st))
        return true;
    r->st = WF_R_RUNNING;
    r->ended_ms = 0;
    wb_init(w, &b);
    put_run(w, &b, r);
    wb_commit(w, &b, r->id);
    if (!r->loaded || !r->d) {
        load_run(w, r->id);
        return false;
    }
    list_results(w, r); /* the watch on d/ again */
    return true;
}

/* clear_tasks: the marked tasks wait again (their next start is a new
 * attempt); a run that had ended runs again. */
static void clear_tasks(struct wfd *w, struct wrun *r, const unsigned char *mark)
{
    struct wb b;
    for (int i = 0; i < r->d->ntasks; i++) {
        struct wtask *t = &r->t[i];
        if (!mark[i])
            continue;
        if (t->st == WF_T_RUNNING || t->st == WF_T_SENSING)
            delete_task_triggers(w, r, i);
        t->st = WF_T_WAITING;
        t->ended_ms = 0;
        t->next_ms = 0;
        snprintf(t->reason, sizeof t->reason, "cleared");
        task_reset_items(t, 0);
        task_clear_follow(t);
        if (t->has_node) {
            wb_init(w, &b);
            put_task(w, &b, r, i);
            wb_commit(w, &b, r->id);
        }
    }
    if (reopen_run(w, r))
        evaluate(w, r);
}

/* ---------------------------------------------------------------- definitions */

/* task_job_json: the job a command, sensor or branch task runs as. */
static char *task_job_json(const struct wdef *def, const struct wf_task *k)
{
    char name[JOB_NAME_MAX + 1], desc[200];
    wfzk_task_job(name, sizeof name, def->name, k->id);
    snprintf(desc, sizeof desc, "task %s of workflow %s (created by the workflow driver)", k->id,
             def->name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "description", desc);
    cJSON_AddStringToObject(o, "cron", "");
    cJSON_AddStringToObject(o, "command", k->command);
    cJSON_AddNumberToObject(o, "shards", k->kind == WF_COMMAND ? k->shards : 1);
    cJSON_AddNumberToObject(o, "timeout_s", k->timeout_s);
    cJSON_AddNumberToObject(o, "retries", k->kind == WF_COMMAND ? k->retries : 0);
    cJSON_AddStringToObject(o, "concurrency", "allow");
    /* One-item jobs spread over agents by name (average would put every
     * task's item 0 on the first agent). */
    cJSON_AddStringToObject(o, "strategy", "round_robin");
    cJSON *l = cJSON_AddArrayToObject(o, "labels");
    for (int i = 0; i < k->nlabels; i++)
        cJSON_AddItemToArray(l, cJSON_CreateString(k->labels[i]));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* The canonical form, so that it compares equal with what agents read. */
    struct job *j = NULL;
    struct sc_err err = {0};
    char *canon = NULL;
    if (s && job_parse(s, strlen(s), &j, &err) == 0)
        canon = job_to_json(j);
    else if (s)
        LOGE("workflow %s task %s: its job is not valid (%s: %s)", def->name, k->id, err.field,
             err.msg);
    job_free(j);
    free(s);
    return canon;
}

/* ensure_task_jobs: every command, sensor and branch task has its job, as
 * the definition says (created or rewritten with the change log). */
static void ensure_task_jobs(struct wfd *w, struct wdef *def)
{
    for (int i = 0; i < def->d->ntasks; i++) {
        const struct wf_task *k = &def->d->tasks[i];
        if (k->kind == WF_JOB || k->kind == WF_EXTERNAL)
            continue;
        char name[JOB_NAME_MAX + 1], path[400];
        wfzk_task_job(name, sizeof name, def->name, k->id);
        char *want = task_job_json(def, k);
        if (!want)
            continue;
        const struct job *have = coord_job(w->c, name);
        char *cur = have ? job_to_json(have) : NULL;
        if (!cur || strcmp(cur, want) != 0) {
            struct wb b;
            struct jobops o = {0};
            wb_init(w, &b);
            if (have)
                jobops_set(&o, name, want, (int)strlen(want), -1);
            else
                jobops_create(&o, name, want, (int)strlen(want));
            wb_add(&b, o.ops[0].type, o.ops[0].path, want, o.ops[0].version, o.ops[0].flags);
            wb_add(&b, ZKOP_CREATE, o.ops[1].path, NULL, -1, ZOO_SEQUENCE);
            if (!have) {
                snprintf(path, sizeof path, "/jobs/%s/triggers", name);
                wb_add(&b, ZKOP_CREATE, path, NULL, -1, 0);
            }
            const char *sent = strmap_get(&w->creating, name);
            if (sent && strcmp(sent, want) == 0) {
                /* sent already (a second read of the definition before the
                 * job cache saw the write) */
                free(cur);
                free(want);
                wb_commit_drop(&b);
                continue;
            }
            int e = 0;
            free(strmap_put(&w->creating, name, strdup(want), &e));
            if (!have) /* its triggers parent comes with it (ZooKeeper keeps our order) */
                strmap_put(&w->ensured, name, ENSURED_YES, &e);
            wb_commit(w, &b, NULL);
            LOGI("workflow %s: job %s %s for task %s", def->name, name,
                 have ? "rewritten" : "created", k->id);
        }
        free(cur);
        free(want);
    }
}

struct def_ctx {
    struct wfd *w;
    uint64_t gen;
    char name[WF_NAME_MAX + 1];
};

static struct def_ctx *dctx(struct wfd *w, const char *name)
{
    struct def_ctx *x = calloc(1, sizeof *x);
    if (x) {
        x->w = w;
        x->gen = w->gen;
        snprintf(x->name, sizeof x->name, "%s", name);
    }
    return x;
}

static void state_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct def_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    struct wdef *def =
        r->rc != ZCLOSING && !r->stale && x->gen == w->gen ? strmap_get(&w->defs, x->name) : NULL;
    if (def && (r->rc == ZOK || r->rc == ZNONODE)) {
        def->state_version = r->rc == ZOK ? r->stat.version : -1;
        def->state_loaded = true;
        cJSON *o = r->rc == ZOK && r->data ? cJSON_ParseWithLength(r->data, (size_t)r->len) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "last_ms");
        def->last_ms = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        cJSON_Delete(def->backfill);
        def->backfill = cJSON_DetachItemFromObjectCaseSensitive(o, "backfill");
        cJSON_Delete(o);
    }
    free(x);
}

static void def_node_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct def_ctx *x = arg;
    struct wfd *w = x->w;
    struct sc_err err = {0};
    int e = 0;
    (void)z;
    if (r->rc == ZCLOSING || r->stale || x->gen != w->gen) {
        free(x);
        return;
    }
    if (r->rc == ZNONODE) {
        struct wdef *gone = strmap_del(&w->defs, x->name);
        if (gone)
            LOGI("workflow %s deleted", x->name);
        def_free(gone);
        list_reqs(w, false); /* requests that waited for this read */
        free(x);
        return;
    }
    struct wf_def *d = NULL;
    if (r->rc != ZOK || wf_parse(r->data ? r->data : "", (size_t)r->len, &d, &err) < 0) {
        if (r->rc == ZOK)
            LOGE("workflow %s: its stored definition is not valid (%s: %s): not scheduled", x->name,
                 err.field, err.msg);
        free(x);
        return;
    }
    struct wdef *def = strmap_get(&w->defs, x->name);
    bool fresh = !def;
    if (!def && !(def = calloc(1, sizeof *def))) {
        wf_free(d);
        free(x);
        return;
    }
    wf_free(def->d);
    cron_free(def->cron);
    tz_free(def->zone);
    def->cron = NULL;
    def->zone = NULL;
    def->d = d;
    def->mzxid = r->stat.mzxid;
    snprintf(def->name, sizeof def->name, "%s", x->name);
    if (d->cron[0]) {
        cron_expr *ce = NULL;
        if (cron_parse(d->cron, &ce, &err) == 0)
            def->cron = ce;
        def->zone = tz_load(d->timezone, &err);
        if (!def->cron || !def->zone)
            LOGE("workflow %s: not scheduled: %s: %s", x->name, err.field, err.msg);
    }
    if (fresh) {
        def->state_version = -1;
        strmap_put(&w->defs, def->name, def, &e);
        char path[300];
        struct def_ctx *y = dctx(w, def->name);
        snprintf(path, sizeof path, WFZK_STATE "/%s", def->name);
        if (!y || zkreg_get(w->z, path, false, state_read, y) != ZOK)
            free(y);
    }
    ensure_task_jobs(w, def);
    promote(w, def);
    list_reqs(w, false); /* requests that waited for this read */
    free(x);
}

static void read_def(struct wfd *w, const char *name)
{
    char path[300];
    struct def_ctx *x = dctx(w, name);
    snprintf(path, sizeof path, WFZK_DEFS "/%s", name);
    if (!x || zkreg_get(w->z, path, false, def_node_read, x) != ZOK)
        free(x);
}

static void defs_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct def_ctx *x = arg;
    struct wfd *w = x->w;
    const char *k;
    void *v;
    (void)z;
    if (r->rc == ZOK && !r->stale && x->gen == w->gen) {
        for (int i = 0; i < r->nchildren; i++)
            if (!strmap_get(&w->defs, r->children[i]))
                read_def(w, r->children[i]);
        char gone[64][WF_NAME_MAX + 1];
        int n = 0;
        for (size_t it = 0; n < 64 && strmap_next(&w->defs, &it, &k, &v);)
            if (!listed(r, k))
                snprintf(gone[n++], sizeof gone[0], "%s", k);
        for (int i = 0; i < n; i++)
            def_free(strmap_del(&w->defs, gone[i]));
    }
    free(x);
}

static void list_defs(struct wfd *w)
{
    struct def_ctx *x = dctx(w, "");
    if (!x || zkreg_children(w->z, WFZK_DEFS, true, defs_listed, x) != ZOK)
        free(x);
}

/* ---------------------------------------------------------------- requests */

struct req_ctx {
    struct wfd *w;
    uint64_t gen;
    char name[64];
};

static void answer(struct wb *b, const char *req, cJSON *result, int status, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* answer: the op that sets the request's answer (result taken; NULL with an
 * error message when refused). */
static void answer(struct wb *b, const char *req, cJSON *result, int status, const char *field,
                   const char *fmt, ...)
{
    char path[200], msg[400] = "";
    cJSON *o = cJSON_CreateObject();
    snprintf(path, sizeof path, WFZK_REQS "/%s", req);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cJSON_AddBoolToObject(o, "ok", false);
        cJSON_AddStringToObject(o, "error", msg);
        cJSON_AddStringToObject(o, "field", field ? field : "");
        cJSON_AddNumberToObject(o, "status", status);
        cJSON_Delete(result);
    } else {
        cJSON_AddBoolToObject(o, "ok", true);
        cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateObject());
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        wb_add(b, ZKOP_SET, path, s, -1, 0);
    free(s);
}

static int64_t num(const cJSON *o, const char *k, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* def_next: the workflow's next logical time after `after` (epoch s) by its
 * cron under its calendar (core/calendar.h); -1 when none, and while the
 * calendar it names is not there (no run rather than a run on a holiday). */
static int64_t def_next(const struct wfd *w, const struct wdef *def, int64_t after)
{
    struct cal_sched cs = {0};
    if (def->d->calendar[0]) {
        cs = (struct cal_sched){coord_calendar(w->c, def->d->calendar), def->d->calendar_rule,
                                def->d->calendar_shift};
        if (!cs.cal)
            return -1;
    }
    return calendar_next(def->cron, def->zone, &cs, after);
}

/* backfill_plan: the logical times of [from, to] by the workflow's cron, and
 * what becomes of each: "create", "rerun" (an existing run is cleared) or
 * "skip". At most 10,000. */
static cJSON *backfill_plan(struct wfd *w, struct wdef *def, int64_t from_ms, int64_t to_ms,
                            const char *reprocess)
{
    cJSON *list = cJSON_CreateArray();
    int64_t t = def_next(w, def, from_ms / 1000 - 1);
    for (int n = 0; t >= 0 && t * 1000 <= to_ms && n < 10000; n++) {
        char id[WFZK_RUN_ID_MAX + 1], iso[40];
        wfzk_run_id(id, sizeof id, def->name, t * 1000);
        const struct wrun *r = strmap_get(&w->runs, id);
        const char *action = "create";
        if (r)
            action = strcmp(reprocess, "all") == 0 && run_done(r->st)           ? "rerun"
                     : strcmp(reprocess, "failed") == 0 && r->st == WF_R_FAILED ? "rerun"
                                                                                : "skip";
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "logical_time", iso);
        cJSON_AddNumberToObject(e, "logical_ms", (double)(t * 1000));
        cJSON_AddStringToObject(e, "run_id", id);
        cJSON_AddStringToObject(e, "action", action);
        if (r)
            cJSON_AddStringToObject(e, "state", wf_rstate_name(r->st));
        cJSON_AddItemToArray(list, e);
        t = def_next(w, def, t);
    }
    return list;
}

static void put_state(struct wfd *w, struct wb *b, struct wdef *def)
{
    char path[300];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "last_ms", (double)def->last_ms);
    if (def->backfill)
        cJSON_AddItemToObject(o, "backfill", cJSON_Duplicate(def->backfill, 1));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(path, sizeof path, WFZK_STATE "/%s", def->name);
    if (s)
        wb_add(b, def->state_version < 0 ? ZKOP_CREATE : ZKOP_SET, path, s, -1, 0);
    def->state_version = 0; /* exists from here on; writes are unconditional (fenced) */
    free(s);
    (void)w;
}

static void handle_request(struct wfd *w, const char *name, const cJSON *q)
{
    struct wb b;
    const char *op = str(q, "op");
    const char *wfname = str(q, "workflow"), *run_id = str(q, "run_id"), *task = str(q, "task");
    struct wdef *def = wfname ? strmap_get(&w->defs, wfname) : NULL;
    struct wrun *r = run_id ? strmap_get(&w->runs, run_id) : NULL;
    w->stats.requests++;
    wb_init(w, &b);
    if (!op) {
        answer(&b, name, NULL, 400, "op", "missing");
    } else if ((!strcmp(op, "trigger") || !strcmp(op, "backfill")) && !def && wfname &&
               !strmap_get(&w->reqs_retry, name)) {
        /* Put a moment ago, not read here yet: read it, then this request
         * again (def_node_read lists the requests). */
        int e = 0;
        strmap_put(&w->reqs_retry, name, (void *)1, &e);
        strmap_del(&w->reqs, name);
        wb_commit_drop(&b);
        read_def(w, wfname);
        return;
    } else if ((!strcmp(op, "trigger") || !strcmp(op, "backfill")) && !def) {
        answer(&b, name, NULL, 404, "workflow", "no workflow \"%s\"", wfname ? wfname : "");
    } else if ((!strcmp(op, "clear") || !strcmp(op, "mark") || !strcmp(op, "cancel")) && !r) {
        answer(&b, name, NULL, 404, "run_id", "no run \"%s\" in ZooKeeper", run_id ? run_id : "");
    } else if (!strcmp(op, "trigger")) {
        int64_t now = wfd_now_ms();
        int64_t lt = num(q, "logical_ms", now) / 1000 * 1000;
        char id[WFZK_RUN_ID_MAX + 1];
        wfzk_run_id(id, sizeof id, def->name, lt);
        if (strmap_get(&w->runs, id)) {
            answer(&b, name, NULL, 409, "logical_time", "a run for this logical time exists: %s",
                   id);
        } else {
            struct wrun *nr =
                create_run(w, &b, def, lt, "manual", cJSON_GetObjectItemCaseSensitive(q, "params"));
            cJSON *res = cJSON_CreateObject();
            cJSON_AddStringToObject(res, "run_id", id);
            if (nr)
                cJSON_AddStringToObject(res, "state", wf_rstate_name(nr->st));
            answer(&b, name, res, 0, NULL, NULL);
            wb_commit(w, &b, NULL);
            if (nr)
                after_create(w, nr);
            return;
        }
    } else if (!strcmp(op, "backfill")) {
        const char *rp = str(q, "reprocess");
        const cJSON *dry = cJSON_GetObjectItemCaseSensitive(q, "dry_run");
        int64_t from = num(q, "from_ms", -1), to = num(q, "to_ms", -1);
        if (!rp)
            rp = "none";
        if (!def->cron)
            answer(&b, name, NULL, 400, "workflow", "has no cron: nothing to backfill");
        else if (strcmp(rp, "none") && strcmp(rp, "failed") && strcmp(rp, "all"))
            answer(&b, name, NULL, 400, "reprocess", "must be none, failed or all");
        else if (from < 0 || to < from)
            answer(&b, name, NULL, 400, "to", "the range must have from <= to");
        else {
            cJSON *plan = backfill_plan(w, def, from, to, rp);
            if (!cJSON_IsTrue(dry)) {
                /* Queued in the workflow's state; created as slots free up. */
                if (!def->backfill)
                    def->backfill = cJSON_CreateArray();
                const cJSON *e;
                cJSON_ArrayForEach(e, plan)
                {
                    const char *a = str(e, "action");
                    if (a && strcmp(a, "skip")) {
                        cJSON *q2 = cJSON_CreateObject();
                        cJSON_AddNumberToObject(q2, "ms", num(e, "logical_ms", 0));
                        cJSON_AddStringToObject(q2, "action", a);
                        cJSON_AddItemToArray(def->backfill, q2);
                    }
                }
                put_state(w, &b, def);
            }
            cJSON *res = cJSON_CreateObject();
            cJSON_AddItemToObject(res, "runs", plan);
            cJSON_AddBoolToObject(res, "dry_run", cJSON_IsTrue(dry));
            answer(&b, name, res, 0, NULL, NULL);
        }
    } else if (!r->loaded || !r->d) {
        answer(&b, name, NULL, 409, "run_id", "run %s is %s; %s", r->id, wf_rstate_name(r->st),
               r->st == WF_R_QUEUED ? "it has not started" : "it is still loading: try again");
    } else if (!strcmp(op, "cancel")) {
        if (run_done(r->st)) {
            answer(&b, name, NULL, 409, "run_id", "run %s has ended (%s)", r->id,
                   wf_rstate_name(r->st));
        } else {
            answer(&b, name, NULL, 0, NULL, NULL);
            wb_commit(w, &b, NULL);
            cancel_run(w, r, WF_R_CANCELLED, "cancelled by an operator");
            return;
        }
    } else if (!task || wf_task_index(r->d, task) < 0) {
        answer(&b, name, NULL, 404, "task", "run %s has no task \"%s\"", r->id, task ? task : "");
    } else if (!strcmp(op, "clear")) {
        int i = wf_task_index(r->d, task);
        unsigned char *mark = calloc((size_t)r->d->ntasks, 1);
        if (!mark) {
            answer(&b, name, NULL, 500, "", "out of memory");
        } else {
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "downstream")))
                wf_downstream_closure(r->d, i, mark);
            else
                mark[i] = 1;
            cJSON *res = cJSON_CreateObject(), *l = cJSON_AddArrayToObject(res, "cleared");
            for (int k = 0; k < r->d->ntasks; k++)
                if (mark[k])
                    cJSON_AddItemToArray(l, cJSON_CreateString(r->d->tasks[k].id));
            answer(&b, name, res, 0, NULL, NULL);
            wb_commit(w, &b, NULL);
            clear_tasks(w, r, mark);
            free(mark);
            return;
        }
    } else if (!strcmp(op, "mark")) {
        int i = wf_task_index(r->d, task);
        const char *sname = str(q, "state");
        enum wf_tstate st;
        if (!sname || wf_tstate_parse(sname, &st) < 0 ||
            (st != WF_T_SUCCEEDED && st != WF_T_FAILED && st != WF_T_SKIPPED)) {
            answer(&b, name, NULL, 400, "state", "must be succeeded, failed or skipped");
        } else {
            answer(&b, name, NULL, 0, NULL, NULL);
            wb_commit(w, &b, NULL);
            bool go = reopen_run(w, r); /* the run goes on from the new state */
            set_state(w, r, i, st, "marked by an operator");
            if (go)
                evaluate(w, r);
            return;
        }
    } else {
        answer(&b, name, NULL, 400, "op", "unknown operation \"%s\"", op);
    }
    wb_commit(w, &b, NULL);
}

static void req_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct req_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc == ZCLOSING || r->stale || x->gen != w->gen || !w->active) {
        free(x);
        return;
    }
    if (r->rc == ZOK) {
        cJSON *q = r->data ? cJSON_ParseWithLength(r->data, (size_t)r->len) : NULL;
        int64_t age = wfd_now_ms() - r->stat.ctime;
        if (q && cJSON_HasObjectItem(q, "ok")) {
            /* answered: removed once the client had time to read it */
            if (age > WFZK_REQ_KEEP_MS) {
                char path[200];
                snprintf(path, sizeof path, WFZK_REQS "/%s", x->name);
                zkreg_delete(w->z, path, -1, ignore_cb, NULL);
            }
        } else if (q) {
            handle_request(w, x->name, q);
        } else {
            struct wb b;
            wb_init(w, &b);
            answer(&b, x->name, NULL, 400, "", "the request is not JSON");
            wb_commit(w, &b, NULL);
        }
        cJSON_Delete(q);
    }
    free(x);
}

static void reqs_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct req_ctx *x = arg;
    struct wfd *w = x->w;
    int e = 0;
    (void)z;
    if (r->rc == ZOK && !r->stale && x->gen == w->gen && w->active) {
        /* Forget handled names that are gone; read the new ones. */
        const char *k;
        void *v;
        char gone[128][64];
        int n = 0;
        for (size_t it = 0; n < 128 && strmap_next(&w->reqs, &it, &k, &v);)
            if (!listed(r, k))
                snprintf(gone[n++], sizeof gone[0], "%s", k);
        for (int i = 0; i < n; i++)
            strmap_del(&w->reqs, gone[i]);
        for (int i = 0; i < r->nchildren; i++) {
            if (strmap_get(&w->reqs, r->children[i]))
                continue;
            strmap_put(&w->reqs, r->children[i], (void *)1, &e);
            struct req_ctx *y = calloc(1, sizeof *y);
            char path[200];
            if (!y)
                continue;
            *y = *x;
            snprintf(y->name, sizeof y->name, "%s", r->children[i]);
            snprintf(path, sizeof path, WFZK_REQS "/%s", r->children[i]);
            if (zkreg_get(w->z, path, false, req_read, y) != ZOK) {
                strmap_del(&w->reqs, r->children[i]);
                free(y);
            }
        }
    }
    free(x);
}

static void list_reqs(struct wfd *w, bool all)
{
    struct req_ctx *x = calloc(1, sizeof *x);
    if (all) /* read every request again (answered ones are collected) */
        strmap_free(&w->reqs), strmap_init(&w->reqs);
    if (!x)
        return;
    x->w = w;
    x->gen = w->gen;
    if (zkreg_children(w->z, WFZK_REQS, true, reqs_listed, x) != ZOK)
        free(x);
}

/* ---------------------------------------------------------------- the tick */

/* schedule: create the due runs of a workflow's cron, and what its backfill
 * queue holds, while it is below max_active_runs. */
static void schedule(struct wfd *w, struct wdef *def, int64_t now)
{
    if (!def->state_loaded)
        return;
    if (def->backfill && cJSON_GetArraySize(def->backfill) > 0 &&
        active_runs(w, def->name) < def->d->max_active_runs) {
        cJSON *e = cJSON_DetachItemFromArray(def->backfill, 0);
        int64_t ms = num(e, "ms", 0);
        const char *action = str(e, "action");
        char id[WFZK_RUN_ID_MAX + 1];
        wfzk_run_id(id, sizeof id, def->name, ms);
        struct wrun *r = strmap_get(&w->runs, id);
        struct wb b;
        wb_init(w, &b);
        put_state(w, &b, def);
        if (!r) {
            struct wrun *nr = create_run(w, &b, def, ms, "backfill", NULL);
            wb_commit(w, &b, NULL);
            if (nr)
                after_create(w, nr);
        } else {
            wb_commit(w, &b, NULL);
            if (action && strcmp(action, "rerun") == 0 && run_done(r->st) && r->d) {
                unsigned char *all = malloc((size_t)r->d->ntasks);
                if (all) {
                    memset(all, 1, (size_t)r->d->ntasks);
                    clear_tasks(w, r, all);
                }
                free(all);
            }
        }
        cJSON_Delete(e);
        return;
    }
    if (!def->cron || !def->zone || !def->d->enabled)
        return;
    if (!def->last_ms) {
        /* First seen: scheduled from now on (no start date to catch up from). */
        struct wb b;
        def->last_ms = now / 1000 * 1000;
        wb_init(w, &b);
        put_state(w, &b, def);
        wb_commit(w, &b, NULL);
        return;
    }
    int64_t next = def_next(w, def, def->last_ms / 1000);
    if (next < 0 || next * 1000 > now || active_runs(w, def->name) >= def->d->max_active_runs)
        return;
    int64_t t = def->d->catchup ? next : cron_prev(def->cron, now / 1000 + 1, def->zone);
    if (!def->d->catchup && def->d->calendar[0]) {
        /* the latest logical time due under the calendar (a dropped day is
         * not one; bounded: a calendar cron is rarely more than daily) */
        t = next;
        for (int64_t u, i = 0; i < 100000 && (u = def_next(w, def, t)) >= 0 && u * 1000 <= now; i++)
            t = u;
    }
    if (t < next)
        t = next;
    struct wb b;
    wb_init(w, &b);
    def->last_ms = t * 1000;
    put_state(w, &b, def);
    char id[WFZK_RUN_ID_MAX + 1];
    wfzk_run_id(id, sizeof id, def->name, t * 1000);
    struct wrun *nr =
        strmap_get(&w->runs, id) ? NULL : create_run(w, &b, def, t * 1000, "schedule", NULL);
    wb_commit(w, &b, NULL);
    if (nr)
        after_create(w, nr);
}

/* external_check: an external task's other run, read from ZooKeeper. */
struct ext_ctx {
    struct wfd *w;
    uint64_t gen;
    char run[WFZK_RUN_ID_MAX + 1];
    int task;
};

static void ext_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct ext_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    struct wrun *run =
        r->rc != ZCLOSING && !r->stale && x->gen == w->gen ? strmap_get(&w->runs, x->run) : NULL;
    if (run && run->loaded && run->d && x->task < run->d->ntasks &&
        run->t[x->task].st == WF_T_SENSING) {
        const struct wf_task *k = &run->d->tasks[x->task];
        struct wtask *t = &run->t[x->task];
        cJSON *o = r->rc == ZOK && r->data ? cJSON_ParseWithLength(r->data, (size_t)r->len) : NULL;
        const char *st = str(o, "state");
        int64_t now = wfd_now_ms();
        if (st && strcmp(st, "succeeded") == 0) {
            set_state(w, run, x->task, WF_T_SUCCEEDED, "");
            evaluate(w, run);
        } else if (now - t->started_ms >= (int64_t)k->timeout_s * 1000) {
            char why[300];
            snprintf(why, sizeof why, "external task %s of workflow %s not succeeded within %d s",
                     k->ext.task, k->ext.workflow, k->timeout_s);
            set_state(w, run, x->task, WF_T_FAILED, why);
            evaluate(w, run);
        } else {
            t->next_ms = now + (int64_t)k->interval_s * 1000;
            arm_timer(w);
        }
        cJSON_Delete(o);
    }
    free(x);
}

static void external_check(struct wfd *w, struct wrun *r, int i)
{
    const struct wf_task *k = &r->d->tasks[i];
    char other[WFZK_RUN_ID_MAX + 1], path[400];
    r->t[i].next_ms = wfd_now_ms() + (int64_t)k->interval_s * 1000; /* until answered */
    wfzk_run_id(other, sizeof other, k->ext.workflow, r->logical_ms + k->ext.offset_s * 1000);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/t/%s", other, k->ext.task);
    struct ext_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return;
    *x = (struct ext_ctx){.w = w, .gen = w->gen, .task = i};
    snprintf(x->run, sizeof x->run, "%s", r->id);
    if (zkreg_get(w->z, path, false, ext_read, x) != ZOK)
        free(x);
}

/* Claims of running items: an item whose claimant's session is gone without
 * a result is lost: run again (a retry) while retries remain, else failed.
 * An item nobody claimed within the trigger TTL failed too. */
struct claim_ctx {
    struct wfd *w;
    uint64_t gen;
    char run[WFZK_RUN_ID_MAX + 1];
    int task, item, attempt;
};

static int task_retries(struct wfd *w, const struct wrun *r, int i)
{
    const struct wf_task *k = &r->d->tasks[i];
    if (k->kind == WF_JOB) {
        const struct job *cfg = coord_job(w->c, k->job);
        return cfg ? cfg->retries : 0;
    }
    return k->kind == WF_COMMAND ? k->retries : 0;
}

/* item_lost: item `item` of task i did not run to a result in its attempt
 * (its agent died, or its start was refused): it runs again as a new attempt
 * while its attempts are at most `extra` beyond the task's retries. */
static void item_lost(struct wfd *w, struct wrun *r, int i, int item, const char *why, int extra)
{
    struct wtask *t = &r->t[i];
    const struct wf_task *k = &r->d->tasks[i];
    /* Counted from the task's attempt: a cleared task (attempt 2, 3, ...)
     * has its retries again. */
    if ((k->kind != WF_SENSOR || extra > 0) &&
        t->ia[item] - t->attempt < task_retries(w, r, i) + extra) {
        struct wb b;
        t->ia[item]++;
        wb_init(w, &b);
        put_task(w, &b, r, i);
        add_trigger(&b, r, i, t->ia[item], item);
        wb_commit(w, &b, r->id);
        LOGN("workflow run %s task %s item %d: %s: run again (attempt %d)", r->id, k->id, item, why,
             t->ia[item]);
        return;
    }
    LOGW("workflow run %s task %s item %d: %s", r->id, k->id, item, why);
    t->res[item] = 2;
    snprintf(t->reason, sizeof t->reason, "item %d: %s", item, why);
    bool all = true;
    for (int n = 0; n < t->nitems; n++)
        all &= t->res[n] != 0;
    if (all) {
        char keep[300];
        snprintf(keep, sizeof keep, "%s", t->reason);
        task_ended(w, r, i, NULL);
        if (r->t[i].st == WF_T_FAILED && k->kind != WF_SENSOR)
            snprintf(r->t[i].reason, sizeof r->t[i].reason, "%s", keep);
    }
}

static void claim_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct claim_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    struct wrun *run =
        r->rc != ZCLOSING && !r->stale && x->gen == w->gen ? strmap_get(&w->runs, x->run) : NULL;
    if (run && run->loaded && run->d && x->task < run->d->ntasks) {
        struct wtask *t = &run->t[x->task];
        bool open = (t->st == WF_T_RUNNING || t->st == WF_T_SENSING) && x->item < t->nitems &&
                    t->ia[x->item] == x->attempt && !t->res[x->item];
        char id[200];
        int64_t session = 0;
        if (open && r->rc == ZOK &&
            coord_claim_owner(r->data, r->len, id, sizeof id, &session) == 0 &&
            !coord_session_alive(w->c, id, session)) {
            char why[300];
            snprintf(why, sizeof why, "agent %s (session %llx) is gone without its result", id,
                     (unsigned long long)session);
            item_lost(w, run, x->task, x->item, why, 0);
        } else if (open && r->rc == ZNONODE && wfd_now_ms() - t->trig_ms > PLAN_TRIGGER_TTL_MS) {
            item_lost(w, run, x->task, x->item,
                      "no agent held the item and could start it before its trigger expired", 0);
        }
    }
    free(x);
}

static void scan_claims(struct wfd *w, struct wrun *r)
{
    char path[700], trig[600];
    for (int i = 0; i < r->d->ntasks; i++) {
        struct wtask *t = &r->t[i];
        if (t->st != WF_T_RUNNING && t->st != WF_T_SENSING)
            continue;
        for (int n = 0; n < t->nitems; n++) {
            if (t->res[n])
                continue;
            struct claim_ctx *x = calloc(1, sizeof *x);
            if (!x)
                return;
            *x = (struct claim_ctx){
                .w = w, .gen = w->gen, .task = i, .item = n, .attempt = t->ia[n]};
            snprintf(x->run, sizeof x->run, "%s", r->id);
            item_trigger(trig, sizeof trig, r, i, n);
            snprintf(path, sizeof path, "%s/~%d", trig, n);
            if (zkreg_get(w->z, path, false, claim_read, x) != ZOK)
                free(x);
        }
    }
}

static void tick_run(struct wfd *w, struct wrun *r, int64_t now, bool scan)
{
    if (r->reload && r->loading == 0) {
        load_run(w, r->id);
        return;
    }
    if (!r->loaded || !r->d || r->st != WF_R_RUNNING)
        return;
    if (r->deferred) { /* a start waited for a job, a triggers parent or the bound */
        r->deferred = false;
        evaluate(w, r);
        if (r->st != WF_R_RUNNING)
            return;
    }
    struct wdef *def = strmap_get(&w->defs, r->wf);
    int limit = r->d->timeout_s;
    if (limit > 0 && r->started_ms && now - r->started_ms > (int64_t)limit * 1000) {
        char why[100];
        snprintf(why, sizeof why, "the run timed out after %d s", limit);
        cancel_run(w, r, WF_R_FAILED, why);
        if (def)
            promote(w, def);
        return;
    }
    for (int i = 0; i < r->d->ntasks; i++) {
        struct wtask *t = &r->t[i];
        const struct wf_task *k = &r->d->tasks[i];
        if (t->st != WF_T_SENSING || !t->next_ms || t->next_ms > now)
            continue;
        if (k->kind == WF_EXTERNAL) {
            external_check(w, r, i);
        } else if (k->kind == WF_SENSOR && t->nitems > 0 && t->res[0]) {
            /* the next poke: a new trigger of its job */
            struct wb b;
            t->attempt++;
            task_reset_items(t, 1);
            t->ia[0] = t->attempt;
            t->next_ms = 0;
            t->trig_ms = now;
            wb_init(w, &b);
            put_task(w, &b, r, i);
            add_trigger(&b, r, i, t->attempt, -1);
            wb_commit(w, &b, r->id);
        }
    }
    if (scan)
        scan_claims(w, r);
}

/* gc_runs: finished runs older than WFD_RUN_KEEP_MS leave ZooKeeper (their
 * history stays in MySQL): the run's children, then the run. */
struct gc_ctx {
    struct wfd *w;
    char path[300];
    int depth;
};

static void gc_listed(struct zkreg *z, const struct zkreg_result *r, void *arg);

static void gc_path(struct wfd *w, const char *path, int depth)
{
    struct gc_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return;
    x->w = w;
    x->depth = depth;
    snprintf(x->path, sizeof x->path, "%s", path);
    if (zkreg_children(w->z, path, false, gc_listed, x) != ZOK)
        free(x);
}

static void gc_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct gc_ctx *x = arg;
    if (r->rc == ZOK && !r->stale) {
        if (r->nchildren == 0) {
            zkreg_delete(z, x->path, -1, ignore_cb, NULL);
        } else if (x->depth < 2) {
            char p[600];
            for (int i = 0; i < r->nchildren; i++) {
                snprintf(p, sizeof p, "%s/%s", x->path, r->children[i]);
                gc_path(x->w, p, x->depth + 1);
            }
            /* the node itself once its children are gone: the next pass */
        }
    }
    free(x);
}

static void gc_runs(struct wfd *w, int64_t now)
{
    const char *k;
    void *v;
    char gone[64][WFZK_RUN_ID_MAX + 1];
    int n = 0;
    for (size_t it = 0; n < 64 && strmap_next(&w->runs, &it, &k, &v);) {
        struct wrun *r = v;
        if (run_done(r->st) && r->ended_ms && now - r->ended_ms > WFD_RUN_KEEP_MS)
            snprintf(gone[n++], sizeof gone[0], "%s", k);
    }
    for (int i = 0; i < n; i++) {
        char path[300];
        snprintf(path, sizeof path, WFZK_RUNS "/%.80s", gone[i]);
        LOGI("workflow run %s: finished over %lld days ago: removed from ZooKeeper (kept in "
             "history)",
             gone[i], WFD_RUN_KEEP_MS / 86400000);
        gc_path(w, path, 0);
        run_free(strmap_del(&w->runs, gone[i]));
    }
}

/* arm_timer: wake at the earliest sensor poke or external check (the tick
 * is a second; a poke every interval_s should not drift by it). */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wfd *w = arg;
    (void)fd, (void)what;
    const char *k;
    void *v;
    if (!w->active)
        return;
    int64_t now = wfd_now_ms();
    char ids[256][WFZK_RUN_ID_MAX + 1];
    int n = 0;
    for (size_t it = 0; n < 256 && strmap_next(&w->runs, &it, &k, &v);)
        if (((struct wrun *)v)->st == WF_R_RUNNING)
            snprintf(ids[n++], sizeof ids[0], "%s", k);
    for (int i = 0; i < n; i++)
        if ((v = strmap_get(&w->runs, ids[i])))
            tick_run(w, v, now, false);
    arm_timer(w);
}

static void arm_timer(struct wfd *w)
{
    const char *k;
    void *v;
    int64_t next = 0;
    if (!w->active || !w->ev_timer)
        return;
    for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);) {
        struct wrun *r = v;
        if (r->st != WF_R_RUNNING || !r->loaded || !r->d)
            continue;
        for (int i = 0; i < r->d->ntasks; i++)
            if (r->t[i].st == WF_T_SENSING && r->t[i].next_ms && (!next || r->t[i].next_ms < next))
                next = r->t[i].next_ms;
    }
    if (!next)
        return;
    int64_t d = next - wfd_now_ms();
    if (d < 1)
        d = 1;
    struct timeval tv = {d / 1000, (d % 1000) * 1000};
    evtimer_add(w->ev_timer, &tv);
}

static void ext_tick(void *ctx)
{
    struct wfd *w = ctx;
    const char *k;
    void *v;
    wfd_item_tick(w);
    if (!w->active)
        return;
    int64_t now = wfd_now_ms();
    bool scan = now - w->last_scan_ms >= WFD_SCAN_MS;
    if (scan)
        w->last_scan_ms = now;
    char ids[256][WFZK_RUN_ID_MAX + 1];
    int n = 0;
    /* Ids first: a tick may reload (replace) runs. */
    for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);) {
        struct wrun *r = v;
        if (run_done(r->st) && !r->reload)
            continue;
        snprintf(ids[n++], sizeof ids[0], "%s", k);
        if (n == 256) {
            for (int i = 0; i < n; i++)
                if ((v = strmap_get(&w->runs, ids[i])))
                    tick_run(w, v, now, scan);
            n = 0;
        }
    }
    for (int i = 0; i < n; i++)
        if ((v = strmap_get(&w->runs, ids[i])))
            tick_run(w, v, now, scan);
    for (size_t it = 0; strmap_next(&w->defs, &it, &k, &v);)
        schedule(w, v, now);
    if (now - w->last_gc_ms > 30000) {
        w->last_gc_ms = now;
        list_reqs(w, true);
    }
    if (now - w->last_run_gc_ms > WFD_GC_EVERY_MS) {
        w->last_run_gc_ms = now;
        gc_runs(w, now);
    }
    arm_timer(w);
}

/* ---------------------------------------------------------------- (de)activation */

static void runs_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct req_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc == ZOK && !r->stale && x->gen == w->gen)
        for (int i = 0; i < r->nchildren; i++)
            if (!strmap_get(&w->runs, r->children[i]))
                load_run(w, r->children[i]);
    free(x);
}

static void parents_ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct req_ctx *x = arg;
    struct wfd *w = x->w;
    (void)z;
    if (r->rc != ZCLOSING && !r->stale && x->gen == w->gen && strcmp(x->name, "last") == 0) {
        struct req_ctx *y = calloc(1, sizeof *y);
        list_defs(w);
        if (y) {
            *y = *x;
            if (zkreg_children(w->z, WFZK_RUNS, false, runs_listed, y) != ZOK)
                free(y);
        }
        list_reqs(w, true);
    }
    free(x);
}

static void activate(struct wfd *w)
{
    static const char *const parents[] = {WFZK_DEFS, WFZK_STATE, WFZK_RUNS, WFZK_REQS};
    w->active = true;
    w->gen++;
    LOGN("workflow driver active (leader): loading workflows and runs");
    for (int i = 0; i < 4; i++) {
        struct req_ctx *x = calloc(1, sizeof *x);
        if (!x)
            continue;
        x->w = w;
        x->gen = w->gen;
        snprintf(x->name, sizeof x->name, "%s", i == 3 ? "last" : "");
        if (zkreg_ensure(w->z, parents[i], parents_ensured, x) != ZOK)
            free(x);
    }
}

static void clear_state(struct wfd *w)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);)
        run_free(v);
    strmap_free(&w->runs);
    strmap_init(&w->runs);
    for (size_t it = 0; strmap_next(&w->defs, &it, &k, &v);)
        def_free(v);
    strmap_free(&w->defs);
    strmap_init(&w->defs);
    strmap_free(&w->reqs);
    strmap_init(&w->reqs);
    strmap_free(&w->reqs_retry);
    strmap_init(&w->reqs_retry);
    strmap_free(&w->ensured);
    strmap_init(&w->ensured);
    w->starts_inflight = 0; /* answers of the old generation are dropped */
    for (size_t it = 0; strmap_next(&w->creating, &it, &k, &v);)
        free(v);
    strmap_free(&w->creating);
    strmap_init(&w->creating);
}

static void deactivate(struct wfd *w, const char *why)
{
    if (!w->active)
        return;
    LOGN("workflow driver inactive: %s", why);
    w->active = false;
    w->gen++;
    clear_state(w);
}

static void ext_change(void *ctx)
{
    struct wfd *w = ctx;
    enum zkreg_state st = zkreg_state(w->z);
    bool lead = coord_is_leader(w->c) && st == ZKREG_CONNECTED && coord_elect_path(w->c)[0];
    if (st == ZKREG_CONNECTED && w->zst != ZKREG_CONNECTED) {
        wfd_item_reconnected(w);
        if (w->active) {
            /* Reads and watches in flight when the connection broke are
             * lost: load everything again (nothing is kept that ZooKeeper
             * does not hold). */
            deactivate(w, "the connection broke: loading again");
        }
    }
    w->zst = st;
    if (lead && !w->active && !w->detached)
        activate(w);
    else if (!coord_is_leader(w->c) && w->active)
        deactivate(w, "no longer the leader");
}

static bool ext_watch(void *ctx, int type, const char *path)
{
    struct wfd *w = ctx;
    if (wfd_item_on_watch(w, type, path))
        return true;
    if (!w->active)
        return strncmp(path, "/wf", 3) == 0 || strncmp(path, WFZK_DEFS, strlen(WFZK_DEFS)) == 0;
    if (strcmp(path, WFZK_DEFS) == 0) {
        list_defs(w);
    } else if (strcmp(path, WFZK_REQS) == 0) {
        list_reqs(w, false);
    } else if (strncmp(path, WFZK_RUNS "/", strlen(WFZK_RUNS) + 1) == 0) {
        char id[WFZK_RUN_ID_MAX + 1];
        const char *p = path + strlen(WFZK_RUNS) + 1, *slash = strchr(p, '/');
        if (!slash || strcmp(slash, "/d") != 0)
            return true;
        snprintf(id, sizeof id, "%.*s", (int)(slash - p), p);
        struct wrun *r = strmap_get(&w->runs, id);
        if (r && r->loaded && !run_done(r->st))
            list_results(w, r);
    } else {
        return false;
    }
    return true;
}

static void ext_entry(void *ctx, char kind, const char *name)
{
    struct wfd *w = ctx;
    if (w->active && kind == 'w')
        read_def(w, name);
}

int wfd_open(struct event_base *base, struct coord *c, const char *agent_id,
             const struct wfd_hooks *h, struct wfd **out)
{
    struct wfd *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->base = base;
    w->c = c;
    w->z = coord_zk(c);
    snprintf(w->id, sizeof w->id, "%s", agent_id);
    if (h)
        w->h = *h;
    w->zst = ZKREG_CONNECTING;
    strmap_init(&w->defs);
    strmap_init(&w->runs);
    strmap_init(&w->reqs);
    strmap_init(&w->reqs_retry);
    strmap_init(&w->ensured);
    strmap_init(&w->creating);
    strmap_init(&w->watching);
    w->ev_timer = evtimer_new(base, timer_cb, w);
    struct coord_ext e = {.on_watch = ext_watch,
                          .on_change = ext_change,
                          .on_tick = ext_tick,
                          .on_entry = ext_entry,
                          .ctx = w};
    coord_set_ext(c, &e);
    *out = w;
    ext_change(w);
    return 0;
}

void wfd_detach(struct wfd *w)
{
    if (!w)
        return;
    deactivate(w, "the agent is stopping");
    w->detached = true;
    coord_set_ext(w->c, NULL);
}

void wfd_close(struct wfd *w)
{
    if (!w)
        return;
    if (w->ev_timer)
        event_free(w->ev_timer);
    clear_state(w);
    strmap_free(&w->defs);
    strmap_free(&w->runs);
    strmap_free(&w->reqs);
    strmap_free(&w->reqs_retry);
    strmap_free(&w->ensured);
    strmap_free(&w->creating);
    wfd_item_free(w);
    free(w);
}

void wfd_stats(const struct wfd *w, struct wfd_stats *out)
{
    *out = w->stats;
    out->runs_active = 0;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&w->runs, &it, &k, &v);)
        out->runs_active += ((struct wrun *)v)->st == WF_R_RUNNING;
}

char *wfd_alert_channels(struct wfd *w, const char *workflow)
{
    struct wdef *def = w && workflow ? strmap_get(&w->defs, workflow) : NULL;
    return def && def->d && def->d->alert_channels ? strdup(def->d->alert_channels) : NULL;
}
