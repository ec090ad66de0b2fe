/* console/api_wf.c: the workflow routes of /api/v1 — definitions
 * (/workflows[/{name}[/enable|/disable]]) and runs (/workflows/{name}/trigger,
 * /runs, /backfill; /runs/{id}[/clear|/mark|/cancel]).
 *
 * Every route runs its ZooKeeper work on a worker of its own pool (a
 * console/dbpool without MySQL) through workflow/wfzk.c, the same code
 * shardcronctl runs: a request to the driver may wait WFZK_REQ_WAIT_MS for
 * an answer, which the loop must never do. The workers share a few
 * ZooKeeper sessions (registry/zkcli), checked before each use; the reply
 * and the audit row are made on the loop thread when the work is done.
 *
 * Runs the driver removed from ZooKeeper are in history: with --mysql, GET
 * /workflows/{name}/runs and GET /runs/{id} take a second hop through the
 * history pool (c->db) once the ZooKeeper work is done, and merge or fall
 * back as shardcronctl does (workflow/wfhist.h). */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/http.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console/console.h"
#include "core/http.h"
#include "core/json.h"
#include "core/log.h"
#include "core/strmap.h"
#include "registry/zkcli.h"
#include "sql/hist_wf.h"
#include "workflow/wf.h"
#include "workflow/wfhist.h"
#include "workflow/wfzk.h"

#define WF_WORKERS 4  /* requests waiting for the driver at once */
#define WF_QUEUED 64  /* beyond it: 503 with Retry-After */
#define WF_ZK_MS 5000 /* connect and session timeout of a worker's session */

#define WFC_FRESH_MS 1000    /* a cached read answers without a new read this long */
#define WFC_STALE_MS 10000   /* ...and, while one request re-reads it, others this long */
#define WFC_ENTRIES 64       /* runs and run lists kept at most */
#define WFC_BYTES (256 << 20) /* and their bodies' bytes at most */
#define WFC_IDLE_MS 120000   /* dropped when nobody asked this long */
#define WFC_FULL_MS 60000    /* a run is read in full at least this often, changed or not */

struct wfc_wait {
    struct creq *r;
    struct wfc_wait *next;
};

/* One answer, printed: for everyone, for viewers (params redacted; NULL when
 * the same) and each gzipped. Made on a worker (bodies_make). */
struct wfbodies {
    char *full, *viewer, *full_gz, *viewer_gz;
    size_t full_len, viewer_len, full_gz_len, viewer_gz_len;
    char etag[24], vetag[24];
};

/* One cached read: a run ("R" + run id), a workflow's runs ("L" + name) or
 * its definition ("D" + name), served to every request until it is stale. */
struct wfc_ent {
    char key[WFZK_RUN_ID_MAX + 2];
    struct wfbodies b; /* b.full NULL: nothing read yet */
    int64_t read_ms;   /* when the read that made b began (monotonic) */
    int64_t used_ms;
    int64_t dropped_ms; /* a write through this console changed it then */
    int64_t full_ms;    /* when the last full read began (a run's sig check skips it) */
    struct wfzk_sig sig; /* a run's, taken before the read that made b */
    bool has_sig;
    bool reading;       /* a request is reading it now */
    char warning[400];  /* a Warning header to send with it */
    struct wfc_wait *waiting; /* requests with nothing to serve until it ends */
    struct wfc_ent *next;
};

struct console_wf {
    struct dbpool *pool;
    pthread_mutex_t mu;
    struct zkcli *idle[WF_WORKERS];
    int nidle;
    char *hosts, *ns, *auth;
    struct wfc_ent *cache; /* loop thread only */
    int ncache;
    size_t cache_bytes;
    uint64_t cache_hits, cache_reads, cache_stale;
};

enum wf_op {
    OP_LIST,
    OP_GET,
    OP_PUT,
    OP_DELETE,
    OP_ENABLE,
    OP_DISABLE,
    OP_RUNS,
    OP_RUN,
    OP_RUNDEF, /* the definition a run was created with */
    OP_ITEMS,  /* a task's ended items in a run */
    OP_ASK /* a request to the driver: trigger, backfill, clear, mark, cancel */
};

struct wfwork {
    struct creq *r;
    enum wf_op op;
    char object[WFZK_RUN_ID_MAX + 1]; /* the workflow or the run */
    char *body;                       /* OP_PUT: the definition */
    char task[WF_TASK_ID_MAX + 1];    /* OP_ITEMS */
    int version;                      /* -1: any */
    cJSON *req;                       /* OP_ASK */
    const char *action;               /* audit action of a write (NULL: a read) */
    /* filled on the worker */
    int code;
    cJSON *reply;
    struct sc_err err;
    char *before, *after;
    /* the history hop of OP_RUNS and OP_RUN (hist_start) */
    char tz[64];     /* OP_RUN: the zone of the workflow's definition, if any */
    bool hist_asked; /* the hop was made (wf_done runs twice) */
    bool cached;     /* OP_RUN/OP_RUNS/OP_GET read for the cache (wfc_key(x)) */
    bool check;      /* OP_RUN: compare sig_in first; unchanged: no read */
    bool unchanged;  /* ...and it was */
    bool has_sig;    /* sig: taken before this read */
    struct wfzk_sig sig_in, sig;
    struct wfbodies bodies; /* cached reads: the answer printed on the worker */
    char warning[400]; /* OP_RUNS: the Warning header its reply carries */
    int64_t began_ms;
    int hist_rc;     /* 0, or what reading history returned */
    cJSON *hist;     /* history's answer */
    struct sc_err hist_err;
};

/* ---------------------------------------------------------------- sessions */

/* conn_take: an idle session that still answers, else a new one; NULL when
 * ZooKeeper cannot be reached (err says so). Worker thread. */
static struct zkcli *conn_take(struct console_wf *w, struct sc_err *err)
{
    for (;;) {
        struct zkcli *k = NULL;
        pthread_mutex_lock(&w->mu);
        if (w->nidle > 0)
            k = w->idle[--w->nidle];
        pthread_mutex_unlock(&w->mu);
        if (!k)
            break;
        int zrc = zkcli_exists(k, "/", NULL);
        if (zrc == ZOK || zrc == ZNONODE)
            return k;
        zkcli_close(k); /* its session is gone: try the next, then a new one */
    }
    return zkcli_open(w->hosts, w->ns, w->auth, WF_ZK_MS, err);
}

/* conn_give: back to the idle list, or closed after a ZooKeeper failure. */
static void conn_give(struct console_wf *w, struct zkcli *k, bool failed)
{
    pthread_mutex_lock(&w->mu);
    if (!failed && w->nidle < WF_WORKERS) {
        w->idle[w->nidle++] = k;
        k = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    zkcli_close(k);
}

/* ---------------------------------------------------------------- the work */

static int status_of(int rc, const struct wfwork *x, int refused)
{
    switch (rc) {
    case -EINVAL:
        return 400;
    case -ENOENT:
        return x->op == OP_PUT ? 400 : 404; /* PUT: an unknown job the definition names */
    case -EAGAIN:
    case -EBUSY:
        return 409;
    case -EREMOTEIO:
        return refused ? refused : 400;
    default:
        return 503; /* ZooKeeper failed, or no driver answered */
    }
}

/* with_version: a definition as the API shows it. */
static cJSON *with_version(const char *name, cJSON *def, int version)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "version", version);
    cJSON_AddItemToObject(o, "workflow", def);
    return o;
}

static int do_put(struct wfwork *x, struct zkcli *k)
{
    cJSON *cur = NULL, *def = NULL;
    int version = -1, rc;
    bool created = wfzk_get(k, x->object, &cur, &version, &x->err) == -ENOENT;
    if (cur)
        x->before = json_print(cur);
    cJSON_Delete(cur);
    sc_err_clear(&x->err);
    if ((rc = wfzk_put(k, x->body, strlen(x->body), x->version, &x->err)) < 0)
        return rc;
    if ((rc = wfzk_get(k, x->object, &def, &version, &x->err)) < 0)
        return rc;
    x->after = json_print(def);
    x->reply = with_version(x->object, def, version);
    cJSON_AddBoolToObject(x->reply, "created", created);
    x->action = created ? "create" : "update";
    x->code = created ? 201 : 200;
    return 0;
}

static int do_work(struct wfwork *x, struct zkcli *k)
{
    cJSON *o = NULL;
    int version = 0, rc, status = 0;
    switch (x->op) {
    case OP_LIST:
        rc = wfzk_list(k, console_now_ms(), &o, &x->err);
        break;
    case OP_GET:
        if ((rc = wfzk_get(k, x->object, &o, &version, &x->err)) == 0)
            o = with_version(x->object, o, version);
        break;
    case OP_PUT:
        if ((rc = do_put(x, k)) < 0)
            x->code = status_of(rc, x, 0);
        return rc;
    case OP_DELETE:
        if (wfzk_get(k, x->object, &o, &version, &x->err) == 0)
            x->before = json_print(o);
        cJSON_Delete(o);
        o = NULL;
        sc_err_clear(&x->err);
        if ((rc = wfzk_delete(k, x->object, x->version, &x->err)) == 0) {
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "deleted", x->object);
        }
        break;
    case OP_ENABLE:
    case OP_DISABLE:
        if ((rc = wfzk_set_enabled(k, x->object, x->op == OP_ENABLE, x->version, &x->err)) == 0 &&
            (rc = wfzk_get(k, x->object, &o, &version, &x->err)) == 0) {
            x->after = json_print(o);
            o = with_version(x->object, o, version);
        }
        if (rc == -EINVAL) /* the stored definition does not parse: not the request's fault */
            rc = -EBUSY;
        break;
    case OP_RUNS:
        rc = wfzk_runs(k, x->object, &o, &x->err);
        break;
    case OP_RUN:
        /* the signature first: a change after it shows in the next one */
        x->has_sig = wfzk_run_sig(k, x->object, &x->sig) == 0;
        if (x->check && x->has_sig && x->sig.trusted && wfzk_sig_equal(&x->sig, &x->sig_in)) {
            x->unchanged = true;
            x->code = 200;
            return 0;
        }
        rc = wfzk_read_run(k, x->object, &o, &x->err);
        if (rc == -ENOENT) {
            /* for history's run: its logical time in the definition's zone */
            char wname[WF_NAME_MAX + 1];
            int64_t lms;
            cJSON *def = NULL;
            struct sc_err e;
            if (wfzk_run_id_parse(x->object, wname, sizeof wname, &lms) == 0 &&
                wfzk_get(k, wname, &def, &version, &e) == 0) {
                const cJSON *z = cJSON_GetObjectItemCaseSensitive(def, "timezone");
                if (cJSON_IsString(z))
                    snprintf(x->tz, sizeof x->tz, "%s", z->valuestring);
            }
            cJSON_Delete(def);
        }
        break;
    case OP_RUNDEF:
        rc = wfzk_run_def(k, x->object, &o, &x->err);
        break;
    case OP_ITEMS:
        rc = wfzk_task_items(k, x->object, x->task, &o, &x->err);
        break;
    case OP_ASK:
        rc = wfzk_request(k, x->req, WFZK_REQ_WAIT_MS, &o, &status, &x->err);
        if (rc == 0)
            x->after = json_print(x->req);
        break;
    default:
        rc = sc_err_set(&x->err, EINVAL, "", -1, "unknown operation");
    }
    if (rc < 0) {
        cJSON_Delete(o);
        x->code = status_of(rc, x, status);
        return rc;
    }
    x->reply = o;
    x->code = 200;
    return 0;
}

static void bodies_free(struct wfbodies *b);
static int bodies_make(struct wfbodies *b, cJSON *reply);

static void wf_work(MYSQL *m, void *arg)
{
    struct wfwork *x = arg;
    struct console_wf *w = x->r->c->wf;
    (void)m;
    sc_err_clear(&x->err);
    struct zkcli *k = conn_take(w, &x->err);
    if (!k) {
        x->code = 503;
        return;
    }
    int rc = do_work(x, k);
    conn_give(w, k, rc == -EIO);
    if (x->cached && x->op != OP_RUNS && x->code == 200) {
        /* printing and gzipping ~540 KB takes ~10 ms: here, not on the loop */
        if (x->op == OP_RUN)
            cJSON_AddStringToObject(x->reply, "source", WFHIST_ZK);
        bodies_make(&x->bodies, x->reply);
    }
}

static void wfwork_free(struct wfwork *x)
{
    bodies_free(&x->bodies);
    cJSON_Delete(x->hist);
    free(x->body);
    cJSON_Delete(x->req);
    cJSON_Delete(x->reply);
    free(x->before);
    free(x->after);
    free(x);
}

/* redact: viewers see no parameter values (as no job_param): they may hold
 * what a task needs and a viewer should not read. */
static void redact(cJSON *reply, cJSON *o, enum console_role role)
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "params");
    if (role >= ROLE_OPERATOR || !cJSON_IsObject(p) || cJSON_GetArraySize(p) == 0)
        return;
    for (cJSON *v = p->child; v; v = v->next)
        if (cJSON_IsString(v))
            cJSON_SetValuestring(v, "(redacted)");
    cJSON *red = cJSON_AddArrayToObject(reply, "redacted");
    cJSON_AddItemToArray(red, cJSON_CreateString("params"));
}

/* ---------------------------------------------------------------- history */

/* hist_work: history's side of OP_RUNS / OP_RUN, on a worker of c->db. */
static void hist_work(MYSQL *m, void *arg)
{
    struct wfwork *x = arg;
    sc_err_clear(&x->hist_err);
    if (!m) {
        x->hist_rc = sc_err_set(&x->hist_err, EIO, "mysql", -1, "the history store is unreachable");
        return;
    }
    if (x->op == OP_RUNS)
        x->hist_rc = hist_wf_runs_list(m, x->object, 0, &x->hist, &x->hist_err);
    else
        x->hist_rc = hist_wf_run_get(m, x->object, &x->hist, &x->hist_err);
}

static void wf_done(void *arg);

/* hist_start: whether x goes to history before its reply (then wf_done runs
 * again from the history pool). A list always does; a run only when
 * ZooKeeper no longer holds it. Loop thread. */
static bool hist_start(struct wfwork *x)
{
    struct console *c = x->r->c;
    if (x->hist_asked || !c->db)
        return false;
    bool list = x->op == OP_RUNS && x->code == 200;
    bool run = x->op == OP_RUN && x->code == 404;
    if (!list && !run)
        return false;
    x->hist_asked = true;
    if (dbpool_submit(c->db, hist_work, wf_done, x) == 0)
        return true;
    x->hist_rc = sc_err_set(&x->hist_err, EBUSY, "mysql", -1, "the history pool refused the read");
    return false;
}

/* hist_apply: history's answer into x's reply. Loop thread. */
static void hist_apply(struct wfwork *x)
{
    char msg[sizeof x->hist_err.msg + 64];
    if (x->op == OP_RUNS) {
        cJSON *hist = x->hist;
        x->hist = NULL;
        wfhist_merge_runs(x->reply, x->hist_rc == 0 ? hist : NULL);
        if (x->hist_rc != 0) {
            cJSON_Delete(hist);
            /* the runs ZooKeeper holds still answer; the header says what is missing */
            snprintf(msg, sizeof msg, "199 - \"only the runs ZooKeeper holds: history: %s\"",
                     x->hist_err.msg);
            for (char *p = msg + 7; p[1]; p++) /* the server's words inside a quoted string */
                if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                    *p = '\'';
            snprintf(x->warning, sizeof x->warning, "%s", msg); /* sent by wfc_serve */
            LOGW("runs of %s: history not read: %s", x->object, x->hist_err.msg);
        }
        return;
    }
    if (!x->hist_asked) /* without --mysql: a 404 stays a 404 */
        return;
    if (x->hist_rc == 0) {
        wfhist_from_history(x->hist, x->tz[0] ? x->tz : NULL);
        x->reply = x->hist;
        x->hist = NULL;
        x->code = 200;
    } else if (x->hist_rc == -ENOENT) {
        sc_err_set(&x->err, ENOENT, "run_id", -1, "no run %s in ZooKeeper nor in history",
                   x->object);
    } else {
        x->code = 503;
        snprintf(msg, sizeof msg, "%s", x->hist_err.msg);
        sc_err_set(&x->err, EIO, "mysql", -1,
                   "no run %s in ZooKeeper, and history could not be read: %s", x->object, msg);
    }
}

/* ---------------------------------------------------------------- the read cache */

/* Reading a run of 5,000 tasks from ZooKeeper takes a worker ~0.1-1 s and
 * prints ~540 KB; pages poll it every few seconds and many may watch one run.
 * So each run (and each workflow's runs list) is read by one request at a
 * time, printed once, and served from here while fresh (WFC_FRESH_MS); while
 * one request re-reads a stale entry, the others get the previous answer
 * (at most WFC_STALE_MS old), and with nothing to serve they wait for the
 * read in progress instead of starting their own. Writes through this
 * console drop what they change. Loop thread only. */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wfc_key(char *key, size_t len, enum wf_op op, const char *object)
{
    snprintf(key, len, "%c%s",
             op == OP_RUN      ? 'R'
             : op == OP_RUNS   ? 'L'
             : op == OP_RUNDEF ? 'F'
                               : 'D',
             object);
}

static struct wfc_ent *wfc_find(struct console_wf *w, const char *key)
{
    for (struct wfc_ent *e = w->cache; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void bodies_free(struct wfbodies *b)
{
    free(b->full);
    free(b->viewer);
    free(b->full_gz);
    free(b->viewer_gz);
    memset(b, 0, sizeof *b);
}

static size_t bodies_size(const struct wfbodies *b)
{
    return b->full_len + b->viewer_len + b->full_gz_len + b->viewer_gz_len;
}

static void redact(cJSON *reply, cJSON *o, enum console_role role);

/* bodies_make: reply printed for everyone and, when it has parameters, for
 * viewers; each gzipped. ETags: a hash of each body, or for a definition
 * (reply's "workflow" object) its version, which writes name in If-Match.
 * Any thread; reply is left redacted. 0 or -ENOMEM. */
static int bodies_make(struct wfbodies *b, cJSON *reply)
{
    cJSON *def = cJSON_GetObjectItemCaseSensitive(reply, "workflow");
    bool is_def = cJSON_IsObject(def);
    bool versioned = is_def && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(reply, "version"));
    memset(b, 0, sizeof *b);
    if (!(b->full = json_print(reply)))
        return -ENOMEM;
    b->full_len = strlen(b->full);
    if (versioned)
        snprintf(b->etag, sizeof b->etag, "\"%d\"",
                 (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "version")));
    else
        snprintf(b->etag, sizeof b->etag, "\"%016" PRIx64 "\"", strmap_hash(b->full));
    redact(reply, is_def ? def : reply, ROLE_VIEWER);
    if (cJSON_GetObjectItemCaseSensitive(reply, "redacted")) {
        if (!(b->viewer = json_print(reply))) {
            bodies_free(b);
            return -ENOMEM;
        }
        b->viewer_len = strlen(b->viewer);
        if (versioned)
            memcpy(b->vetag, b->etag, sizeof b->vetag);
        else
            snprintf(b->vetag, sizeof b->vetag, "\"%016" PRIx64 "\"", strmap_hash(b->viewer));
    }
    if (http_gzip(b->full, b->full_len, &b->full_gz, &b->full_gz_len) < 0 ||
        (b->viewer && http_gzip(b->viewer, b->viewer_len, &b->viewer_gz, &b->viewer_gz_len) < 0)) {
        bodies_free(b);
        return -ENOMEM;
    }
    return 0;
}

/* wfc_set_body: b (moved, may be empty) becomes e's answer, read at read_ms. */
static void wfc_set_body(struct console_wf *w, struct wfc_ent *e, struct wfbodies *b,
                         int64_t read_ms)
{
    w->cache_bytes -= bodies_size(&e->b);
    bodies_free(&e->b);
    if (b) {
        e->b = *b;
        memset(b, 0, sizeof *b);
    }
    e->read_ms = read_ms;
    w->cache_bytes += bodies_size(&e->b);
}

/* wfc_unlink: e out of the cache and freed (nobody may be waiting on it). */
static void wfc_unlink(struct console_wf *w, struct wfc_ent *e)
{
    for (struct wfc_ent **p = &w->cache; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    wfc_set_body(w, e, NULL, 0);
    w->ncache--;
    free(e);
}

/* wfc_trim: entries idle too long go; then, over the bounds, the least
 * recently used ones nobody is reading or waiting on. */
static void wfc_trim(struct console_wf *w, int64_t now)
{
    for (;;) {
        struct wfc_ent *lru = NULL;
        for (struct wfc_ent *e = w->cache; e; e = e->next)
            if (!e->reading && !e->waiting && (!lru || e->used_ms < lru->used_ms))
                lru = e;
        if (!lru)
            return;
        bool over = w->ncache > WFC_ENTRIES || w->cache_bytes > WFC_BYTES;
        if (!over && now - lru->used_ms < WFC_IDLE_MS)
            return;
        wfc_unlink(w, lru);
    }
}

/* wfc_drop: forget what a write changed (the run, or a workflow's list). */
static void wfc_drop(struct console_wf *w, enum wf_op op, const char *object)
{
    char key[WFZK_RUN_ID_MAX + 2];
    wfc_key(key, sizeof key, op, object);
    struct wfc_ent *e = w ? wfc_find(w, key) : NULL;
    if (!e)
        return;
    if (e->reading || e->waiting) {
        e->read_ms = INT64_MIN / 2;
        e->dropped_ms = mono_ms(); /* the read in progress may predate the write */
    } else
        wfc_unlink(w, e);
}

/* etag_match: If-None-Match names etag (or its weak form, which gzipped
 * answers carry: the same content, another encoding). */
static bool etag_match(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    if (strncmp(inm, "W/", 2) == 0)
        inm += 2;
    return strcmp(inm, etag) == 0;
}

/* wfc_serve: r answered from e: its role's body, gzipped when r takes it,
 * 304 when its If-None-Match names the body's ETag. */
static void wfc_serve(struct wfc_ent *e, struct creq *r)
{
    const struct wfbodies *b = &e->b;
    bool viewer = r->sess.role < ROLE_OPERATOR && b->viewer;
    bool gz = http_wants_gzip(r->req);
    const char *etag = viewer ? b->vetag : b->etag;
    const char *body = viewer ? (gz ? b->viewer_gz : b->viewer) : (gz ? b->full_gz : b->full);
    size_t len = viewer ? (gz ? b->viewer_gz_len : b->viewer_len) : (gz ? b->full_gz_len : b->full_len);
    char weak[32];
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
    /* gzipped: the weak form (another encoding of the same content), except
     * a definition's, which is its version for If-Match */
    snprintf(weak, sizeof weak, "W/%s", etag);
    evhttp_add_header(out, "ETag", gz && e->key[0] != 'D' ? weak : etag);
    evhttp_add_header(out, "Vary", "Accept-Encoding");
    if (e->warning[0])
        evhttp_add_header(out, "Warning", e->warning);
    if (etag_match(inm, etag)) {
        evhttp_add_header(out, "Cache-Control", "no-store");
        creq_send(r, 304, NULL, NULL, 0);
        return;
    }
    if (gz)
        evhttp_add_header(out, "Content-Encoding", "gzip");
    creq_send(r, 200, "application/json", body, len);
}

static int submit(struct wfwork *x);
static struct wfwork *work_new(struct creq *r, enum wf_op op, const char *object);

/* wfc_release: the requests waiting on e, served from it, or given the
 * error its read ended with (code, field, msg). */
static void wfc_release(struct wfc_ent *e, int code, const char *field, const char *msg)
{
    struct wfc_wait *q = e->waiting;
    e->waiting = NULL;
    while (q) {
        struct wfc_wait *next = q->next;
        if (e->b.full)
            wfc_serve(e, q->r);
        else
            creq_error(q->r, code, field, "%s", msg);
        free(q);
        q = next;
    }
}

/* wfc_done: x's read ended; its answer (b, moved; NULL: it failed) kept
 * unless a write made it stale meanwhile. The entry, or NULL when it is gone. */
static struct wfc_ent *wfc_done(struct console_wf *w, const struct wfwork *x, struct wfbodies *b)
{
    char key[WFZK_RUN_ID_MAX + 2];
    wfc_key(key, sizeof key, x->op, x->object);
    struct wfc_ent *e = wfc_find(w, key);
    if (!e)
        return NULL;
    e->reading = false;
    if (b && x->began_ms > e->dropped_ms) {
        wfc_set_body(w, e, b, x->began_ms);
        snprintf(e->warning, sizeof e->warning, "%s", x->warning);
        e->full_ms = x->began_ms;
        e->sig = x->sig;
        e->has_sig = x->has_sig;
    } else if (b && !e->b.full) {
        wfc_set_body(w, e, b, INT64_MIN / 2); /* for those waiting; never fresh */
    }
    return e;
}

/* wfc_failed: x's read failed: those waiting get its error. */
static void wfc_failed(struct console_wf *w, const struct wfwork *x, int code, const char *field,
                       const char *msg)
{
    struct wfc_ent *e = wfc_done(w, x, NULL);
    if (!e)
        return;
    if (e->b.full) {
        wfc_release(e, code, field, msg); /* an older answer is still there: it serves them */
        return;
    }
    wfc_release(e, code, field, msg);
    wfc_unlink(w, e);
}

/* read_start: a run or a workflow's runs for r — from the cache, after a
 * read in progress, or read by r itself. */
static void read_start(struct creq *r, enum wf_op op, const char *object)
{
    struct console_wf *w = r->c->wf;
    char key[WFZK_RUN_ID_MAX + 2];
    int64_t now = mono_ms();
    if (!w) {
        creq_error(r, 503, "workflow", "the workflow routes are not running");
        return;
    }
    wfc_key(key, sizeof key, op, object);
    struct wfc_ent *e = wfc_find(w, key);
    if (e) {
        e->used_ms = now;
        int64_t age = now - e->read_ms;
        if (e->b.full && (age <= WFC_FRESH_MS || (e->reading && age <= WFC_STALE_MS))) {
            w->cache_hits++;
            w->cache_stale += age > WFC_FRESH_MS;
            wfc_serve(e, r);
            return;
        }
        if (e->reading) {
            struct wfc_wait *q = calloc(1, sizeof *q);
            if (!q) {
                creq_error(r, 500, NULL, "out of memory");
                return;
            }
            q->r = r;
            q->next = e->waiting;
            e->waiting = q;
            return;
        }
    } else {
        wfc_trim(w, now);
        if (!(e = calloc(1, sizeof *e))) {
            creq_error(r, 500, NULL, "out of memory");
            return;
        }
        snprintf(e->key, sizeof e->key, "%s", key);
        e->read_ms = e->dropped_ms = INT64_MIN / 2;
        e->used_ms = now;
        e->next = w->cache;
        w->cache = e;
        w->ncache++;
    }
    struct wfwork *x = work_new(r, op, object);
    if (!x) {
        if (!e->b.full && !e->waiting)
            wfc_unlink(w, e);
        return;
    }
    x->cached = true;
    if (op == OP_RUN && e->b.full && e->has_sig && e->sig.trusted && now - e->full_ms < WFC_FULL_MS) {
        x->check = true;
        x->sig_in = e->sig;
    }
    e->reading = true;
    w->cache_reads++;
    if (submit(x) == 0)
        return;
    e->reading = false; /* r has its 503; nobody else waits (nobody was reading) */
    if (!e->b.full)
        wfc_unlink(w, e);
}

/* cached_done: a read for the cache ended with an answer (reply, consumed;
 * NULL: unchanged since the entry's read). r and those waiting are served;
 * when a write through this console came after the read began, the waiting
 * requests (some asked after the write) get a read of their own. Frees x. */
static void cached_done(struct wfwork *x, cJSON *reply)
{
    struct creq *r = x->r;
    struct console_wf *w = r->c->wf;
    char key[WFZK_RUN_ID_MAX + 2];
    enum wf_op op = x->op;
    char object[sizeof x->object];
    snprintf(object, sizeof object, "%s", x->object);
    wfc_key(key, sizeof key, op, object);
    struct wfc_ent *e;
    bool current;
    if (reply || !x->unchanged) {
        if (!x->bodies.full && reply) /* not made on the worker: history answered */
            bodies_make(&x->bodies, reply);
        e = wfc_done(w, x, x->bodies.full ? &x->bodies : NULL);
    } else if ((e = wfc_find(w, key))) {
        e->reading = false;
        if (x->began_ms > e->dropped_ms)
            e->read_ms = x->began_ms; /* nothing changed: fresh again */
    }
    cJSON_Delete(reply);
    current = e && x->began_ms > e->dropped_ms;
    wfwork_free(x);
    if (!e || !e->b.full) {
        creq_error(r, 500, NULL, "out of memory");
        if (e) {
            wfc_release(e, 500, NULL, "out of memory");
            wfc_unlink(w, e);
        }
        return;
    }
    wfc_serve(e, r);
    if (current || !e->waiting) {
        wfc_release(e, 500, NULL, "");
        return;
    }
    struct wfc_wait *q = e->waiting; /* the first one reads; the rest wait on it */
    e->waiting = q->next;
    struct creq *r0 = q->r;
    free(q);
    read_start(r0, op, object);
}

static void wf_done(void *arg)
{
    struct wfwork *x = arg;
    struct creq *r = x->r;
    struct console *c = r->c;
    if (x->cached && x->unchanged) {
        cached_done(x, NULL);
        return;
    }
    if (x->op == OP_RUNS || x->op == OP_RUN) {
        if (hist_start(x))
            return;
        if (x->op == OP_RUNS && x->code == 200)
            hist_apply(x); /* also without history: every row gets its source */
        else if (x->op == OP_RUN && x->code == 404)
            hist_apply(x);
        else if (x->op == OP_RUN && x->code == 200 && !x->bodies.full)
            cJSON_AddStringToObject(x->reply, "source", WFHIST_ZK);
    }
    if (x->code >= 400 || !x->reply) {
        if (x->err.field[0] == '\0' && x->code == 503 && x->err.msg[0] == '\0')
            snprintf(x->err.msg, sizeof x->err.msg, "ZooKeeper failed");
        if (x->code == 503 && x->action)
            c->zk_write_errors++;
        int code = x->code >= 400 ? x->code : 500;
        char field[sizeof x->err.field], msg[sizeof x->err.msg];
        snprintf(field, sizeof field, "%s",
                 x->err.field[0] ? x->err.field : (code == 503 ? "zookeeper" : ""));
        snprintf(msg, sizeof msg, "%s", x->err.msg[0] ? x->err.msg : "failed");
        if (x->cached)
            wfc_failed(c->wf, x, code, field[0] ? field : NULL, msg);
        wfwork_free(x);
        creq_error(r, code, field[0] ? field : NULL, "%s", msg);
        return;
    }
    if (x->action) {
        c->zk_writes++;
        if (strchr(x->object, '@')) { /* a run: it and its workflow's list */
            char wname[WF_NAME_MAX + 1];
            int64_t lms;
            wfc_drop(c->wf, OP_RUN, x->object);
            if (wfzk_run_id_parse(x->object, wname, sizeof wname, &lms) == 0)
                wfc_drop(c->wf, OP_RUNS, wname);
        } else {
            wfc_drop(c->wf, OP_RUNS, x->object);
            wfc_drop(c->wf, OP_GET, x->object);
        }
        audit(c, r->sess.user, x->action, strchr(x->object, '@') ? "run" : "workflow", x->object,
              x->before, x->after);
    }
    cJSON *reply = x->reply;
    x->reply = NULL;
    if (x->cached) {
        cached_done(x, reply);
        return;
    }
    cJSON *def = cJSON_GetObjectItemCaseSensitive(reply, "workflow");
    redact(reply, cJSON_IsObject(def) ? def : reply, r->sess.role);
    if (x->op == OP_GET || x->op == OP_PUT) {
        char etag[32];
        snprintf(etag, sizeof etag, "\"%d\"",
                 (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "version")));
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "ETag", etag);
    }
    int code = x->code;
    wfwork_free(x);
    creq_json(r, code, reply);
}

/* submit: hand x to a worker; replies itself when the pool refuses (-1). */
static int submit(struct wfwork *x)
{
    struct creq *r = x->r;
    struct console_wf *w = r->c->wf;
    int rc = w ? dbpool_submit(w->pool, wf_work, wf_done, x) : -EBUSY;
    if (rc == 0)
        return 0;
    wfwork_free(x);
    if (rc == -EBUSY) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
        creq_error(r, 503, "workflow", "too many workflow requests in progress; retry");
    } else {
        creq_error(r, 500, NULL, "out of memory");
    }
    return -1;
}

static struct wfwork *work_new(struct creq *r, enum wf_op op, const char *object)
{
    struct wfwork *x = calloc(1, sizeof *x);
    if (!x) {
        creq_error(r, 500, NULL, "out of memory");
        return NULL;
    }
    x->r = r;
    x->op = op;
    x->began_ms = mono_ms();
    x->version = -1;
    snprintf(x->object, sizeof x->object, "%s", object ? object : "");
    return x;
}

/* body_obj: the request's body as an object ({} when empty); NULL after a 400. */
static cJSON *body_obj(struct creq *r, bool empty_ok)
{
    struct sc_err err;
    sc_err_clear(&err);
    if (r->blen == 0 && empty_ok)
        return cJSON_CreateObject();
    cJSON *o = json_parse(r->body, r->blen, &err);
    if (!o) {
        creq_error(r, 400, err.field[0] ? err.field : "body", "invalid JSON at offset %d: %s",
                   err.pos, err.msg);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        creq_error(r, 400, "body", "must be a JSON object");
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------- definitions */

void api_wf_list(struct creq *r)
{
    struct wfwork *x = work_new(r, OP_LIST, NULL);
    if (x)
        submit(x);
}

void api_wf_get(struct creq *r, const char *name)
{
    read_start(r, OP_GET, name);
}

void api_wf_put(struct creq *r, const char *name)
{
    cJSON *o = body_obj(r, false);
    if (!o)
        return;
    int version = creq_version(r, o);
    if (version == -3) {
        cJSON_Delete(o);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "version");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!nm) {
        cJSON_AddStringToObject(o, "name", name);
    } else if (!cJSON_IsString(nm) || strcmp(nm->valuestring, name) != 0) {
        cJSON_Delete(o);
        creq_error(r, 400, "name", "must match the workflow name in the URL (%s)", name);
        return;
    }
    struct wfwork *x = work_new(r, OP_PUT, name);
    if (!x) {
        cJSON_Delete(o);
        return;
    }
    x->body = json_print(o);
    cJSON_Delete(o);
    x->version = version >= 0 ? version : -1;
    x->action = "update"; /* "create" when it was new (do_put) */
    submit(x);
}

void api_wf_delete(struct creq *r, const char *name)
{
    int version = creq_version(r, NULL);
    if (version == -3)
        return;
    struct wfwork *x = work_new(r, OP_DELETE, name);
    if (!x)
        return;
    x->version = version >= 0 ? version : -1;
    x->action = "delete";
    submit(x);
}

void api_wf_enable(struct creq *r, const char *name, bool on)
{
    int version = creq_version(r, NULL);
    if (version == -3)
        return;
    struct wfwork *x = work_new(r, on ? OP_ENABLE : OP_DISABLE, name);
    if (!x)
        return;
    x->version = version >= 0 ? version : -1;
    x->action = on ? "enable" : "disable";
    submit(x);
}

/* ---------------------------------------------------------------- runs */

void api_wf_runs(struct creq *r, const char *name)
{
    read_start(r, OP_RUNS, name);
}

void api_run_get(struct creq *r, const char *id)
{
    read_start(r, OP_RUN, id);
}

void api_run_def(struct creq *r, const char *id)
{
    read_start(r, OP_RUNDEF, id);
}

void api_run_items(struct creq *r, const char *id)
{
    const char *task = creq_arg(r, "task");
    if (!task || !wf_task_id_valid(task)) {
        creq_error(r, 400, "task", "?task= must name a task (1-%d of A-Z a-z 0-9 . _ -)",
                   WF_TASK_ID_MAX);
        return;
    }
    struct wfwork *x = work_new(r, OP_ITEMS, id);
    if (!x)
        return;
    snprintf(x->task, sizeof x->task, "%s", task);
    submit(x);
}

/* time_field: a time member (epoch ms as a number, or text wfzk_time_parse
 * reads) into out_key of req as ms; false after a 400. Absent: true, nothing
 * added unless required. */
static bool time_field(struct creq *r, const cJSON *in, const char *key, bool required, cJSON *req,
                       const char *out_key)
{
    struct sc_err err;
    int64_t ms;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            creq_error(r, 400, key, "is required");
        return !required;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15) {
        ms = (int64_t)v->valuedouble;
    } else if (!cJSON_IsString(v) || wfzk_time_parse(v->valuestring, key, &ms, &err) < 0) {
        creq_error(r, 400, key,
                   "must be epoch ms, or ISO 8601 with an offset or Z, or epoch seconds");
        return false;
    }
    cJSON_AddNumberToObject(req, out_key, (double)ms);
    return true;
}

/* ask: a request for the driver, checked here first so a bad one never
 * waits on a worker. `in` is consumed. */
static void ask(struct creq *r, const char *object, const char *action, cJSON *req)
{
    struct wfwork *x = work_new(r, OP_ASK, object);
    if (!x) {
        cJSON_Delete(req);
        return;
    }
    cJSON_AddStringToObject(req, "user", r->sess.user);
    x->req = req;
    x->action = action;
    submit(x);
}

void api_wf_trigger(struct creq *r, const char *name)
{
    static const char *const fields[] = {"params", "logical_ms", "logical_time", NULL};
    struct sc_err err;
    cJSON *in = body_obj(r, true);
    if (!in)
        return;
    sc_err_clear(&err);
    if (json_check_fields(in, fields, &err) < 0) {
        cJSON_Delete(in);
        creq_error(r, 400, err.field, "%s", err.msg);
        return;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", name);
    cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(in, "params");
    bool ok = true;
    for (cJSON *v = p ? p->child : NULL; ok && v; v = v->next)
        ok = cJSON_IsString(v);
    if (p && (!cJSON_IsObject(p) || !ok)) {
        cJSON_Delete(p);
        cJSON_Delete(in);
        cJSON_Delete(req);
        creq_error(r, 400, "params", "must be an object of string values");
        return;
    }
    cJSON_AddItemToObject(req, "params", p ? p : cJSON_CreateObject());
    if (!time_field(r, in, "logical_time", false, req, "logical_ms") ||
        (!cJSON_GetObjectItemCaseSensitive(req, "logical_ms") &&
         !time_field(r, in, "logical_ms", false, req, "logical_ms"))) {
        cJSON_Delete(in);
        cJSON_Delete(req);
        return;
    }
    cJSON_Delete(in);
    ask(r, name, "trigger", req);
}

void api_wf_backfill(struct creq *r, const char *name)
{
    static const char *const fields[] = {"from", "to", "reprocess", "dry_run", NULL};
    struct sc_err err;
    const char *rp = "none";
    bool dry = false;
    cJSON *in = body_obj(r, false);
    if (!in)
        return;
    sc_err_clear(&err);
    if (json_check_fields(in, fields, &err) < 0 ||
        json_get_str(in, "reprocess", JSON_OPTIONAL, &rp, &err) == -EINVAL ||
        json_get_bool(in, "dry_run", JSON_OPTIONAL, &dry, &err) == -EINVAL) {
        cJSON_Delete(in);
        creq_error(r, 400, err.field, "%s", err.msg);
        return;
    }
    if (strcmp(rp, "none") != 0 && strcmp(rp, "failed") != 0 && strcmp(rp, "all") != 0) {
        cJSON_Delete(in);
        creq_error(r, 400, "reprocess", "must be none, failed or all");
        return;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "backfill");
    cJSON_AddStringToObject(req, "workflow", name);
    if (!time_field(r, in, "from", true, req, "from_ms") ||
        !time_field(r, in, "to", true, req, "to_ms")) {
        cJSON_Delete(in);
        cJSON_Delete(req);
        return;
    }
    cJSON_AddStringToObject(req, "reprocess", rp);
    cJSON_AddBoolToObject(req, "dry_run", dry);
    cJSON_Delete(in);
    if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(req, "from_ms")) >
        cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(req, "to_ms"))) {
        cJSON_Delete(req);
        creq_error(r, 400, "to", "must not be before from");
        return;
    }
    ask(r, name, dry ? NULL : "backfill", req);
}

/* api_run_op: POST /runs/{id}/clear ({"task","downstream"}), /mark
 * ({"task","state"}), /cancel. */
void api_run_op(struct creq *r, const char *id, const char *op)
{
    static const char *const clear_f[] = {"task", "downstream", NULL};
    static const char *const mark_f[] = {"task", "state", NULL};
    static const char *const none_f[] = {NULL};
    bool cancel = strcmp(op, "cancel") == 0, mark = strcmp(op, "mark") == 0;
    struct sc_err err;
    const char *task = NULL, *state = NULL;
    bool down = false;
    cJSON *in = body_obj(r, cancel);
    if (!in)
        return;
    sc_err_clear(&err);
    if (json_check_fields(in,
                          cancel ? none_f
                          : mark ? mark_f
                                 : clear_f,
                          &err) < 0 ||
        (!cancel && json_get_str(in, "task", JSON_REQUIRED, &task, &err) < 0) ||
        (mark && json_get_str(in, "state", JSON_REQUIRED, &state, &err) < 0) ||
        json_get_bool(in, "downstream", JSON_OPTIONAL, &down, &err) == -EINVAL) {
        cJSON_Delete(in);
        creq_error(r, 400, err.field, "%s", err.msg);
        return;
    }
    if (task && !wf_task_id_valid(task)) {
        cJSON_Delete(in);
        creq_error(r, 400, "task", "not a task id (1-%d of A-Z a-z 0-9 . _ -)", WF_TASK_ID_MAX);
        return;
    }
    if (state && strcmp(state, "succeeded") != 0 && strcmp(state, "failed") != 0 &&
        strcmp(state, "skipped") != 0) {
        cJSON_Delete(in);
        creq_error(r, 400, "state", "must be succeeded, failed or skipped");
        return;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", op);
    cJSON_AddStringToObject(req, "run_id", id);
    if (task)
        cJSON_AddStringToObject(req, "task", task);
    if (state)
        cJSON_AddStringToObject(req, "state", state);
    if (strcmp(op, "clear") == 0)
        cJSON_AddBoolToObject(req, "downstream", down);
    cJSON_Delete(in);
    ask(r, id, op, req);
}

/* ---------------------------------------------------------------- start, stop */

int api_wf_start(struct console *c, const struct cfg *cfg, const char *auth, struct sc_err *err)
{
    struct console_wf *w = calloc(1, sizeof *w);
    if (!w)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    w->hosts = strdup(cfg_str(cfg, "zk") ? cfg_str(cfg, "zk") : "");
    w->ns = strdup(cfg_str(cfg, "namespace") ? cfg_str(cfg, "namespace") : "");
    w->auth = auth ? strdup(auth) : NULL;
    c->wf = w;
    if (!w->hosts || !w->ns || (auth && !w->auth))
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    int rc = dbpool_new(c->base, NULL, NULL, WF_WORKERS, &w->pool, err);
    if (rc < 0)
        return rc;
    dbpool_set_bound(w->pool, WF_QUEUED);
    return 0;
}

void api_wf_stop(struct console *c)
{
    struct console_wf *w = c->wf;
    if (!w)
        return;
    /* finishes what is queued: a request waiting for the driver ends within
     * WFZK_REQ_WAIT_MS, and its reply goes out */
    dbpool_free(w->pool);
    while (w->cache) {
        wfc_release(w->cache, 503, "workflow", "the console is stopping");
        wfc_unlink(w, w->cache);
    }
    for (int i = 0; i < w->nidle; i++)
        zkcli_close(w->idle[i]);
    pthread_mutex_destroy(&w->mu);
    free(w->hosts);
    free(w->ns);
    free(w->auth);
    free(w);
    c->wf = NULL;
}
