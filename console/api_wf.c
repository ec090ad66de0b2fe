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

struct console_wf {
    struct dbpool *pool;
    pthread_mutex_t mu;
    struct zkcli *idle[WF_WORKERS];
    int nidle;
    char *hosts, *ns, *auth;
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
    OP_ASK /* a request to the driver: trigger, backfill, clear, mark, cancel */
};

struct wfwork {
    struct creq *r;
    enum wf_op op;
    char object[WFZK_RUN_ID_MAX + 1]; /* the workflow or the run */
    char *body;                       /* OP_PUT: the definition */
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
}

static void wfwork_free(struct wfwork *x)
{
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
            evhttp_add_header(evhttp_request_get_output_headers(x->r->req), "Warning", msg);
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

/* reply_run: a run with an ETag (a hash of its body), so a page that polls
 * it sends If-None-Match and gets a 304 without the body while nothing
 * changed (a run of 5,000 tasks is ~540 KB). Consumes reply, frees r. */
static void reply_run(struct creq *r, cJSON *reply)
{
    char *s = json_print(reply), etag[24];
    cJSON_Delete(reply);
    if (!s) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    snprintf(etag, sizeof etag, "\"%016" PRIx64 "\"", strmap_hash(s));
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
    evhttp_add_header(out, "ETag", etag);
    if (inm && strcmp(inm, etag) == 0) {
        evhttp_add_header(out, "Cache-Control", "no-store");
        evhttp_send_reply(r->req, 304, "Not Modified", NULL);
    } else {
        http_reply_text(r->req, 200, "application/json", s, strlen(s));
    }
    free(s);
    creq_free(r);
}

static void wf_done(void *arg)
{
    struct wfwork *x = arg;
    struct creq *r = x->r;
    struct console *c = r->c;
    if (x->op == OP_RUNS || x->op == OP_RUN) {
        if (hist_start(x))
            return;
        if (x->op == OP_RUNS && x->code == 200)
            hist_apply(x); /* also without history: every row gets its source */
        else if (x->op == OP_RUN && x->code == 404)
            hist_apply(x);
        else if (x->op == OP_RUN && x->code == 200)
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
        wfwork_free(x);
        creq_error(r, code, field[0] ? field : NULL, "%s", msg);
        return;
    }
    if (x->action) {
        c->zk_writes++;
        audit(c, r->sess.user, x->action, strchr(x->object, '@') ? "run" : "workflow", x->object,
              x->before, x->after);
    }
    cJSON *reply = x->reply;
    x->reply = NULL;
    cJSON *def = cJSON_GetObjectItemCaseSensitive(reply, "workflow");
    redact(reply, cJSON_IsObject(def) ? def : reply, r->sess.role);
    if (x->op == OP_GET || x->op == OP_PUT) {
        char etag[32];
        snprintf(etag, sizeof etag, "\"%d\"",
                 (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "version")));
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "ETag", etag);
    }
    int code = x->code;
    bool run = x->op == OP_RUN;
    wfwork_free(x);
    if (run)
        reply_run(r, reply);
    else
        creq_json(r, code, reply);
}

/* submit: hand x to a worker; replies itself when the pool refuses. */
static void submit(struct wfwork *x)
{
    struct creq *r = x->r;
    struct console_wf *w = r->c->wf;
    int rc = w ? dbpool_submit(w->pool, wf_work, wf_done, x) : -EBUSY;
    if (rc == 0)
        return;
    wfwork_free(x);
    if (rc == -EBUSY) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
        creq_error(r, 503, "workflow", "too many workflow requests in progress; retry");
    } else {
        creq_error(r, 500, NULL, "out of memory");
    }
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
    struct wfwork *x = work_new(r, OP_GET, name);
    if (x)
        submit(x);
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
    struct wfwork *x = work_new(r, OP_RUNS, name);
    if (x)
        submit(x);
}

void api_run_get(struct creq *r, const char *id)
{
    struct wfwork *x = work_new(r, OP_RUN, id);
    if (x)
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
    for (int i = 0; i < w->nidle; i++)
        zkcli_close(w->idle[i]);
    pthread_mutex_destroy(&w->mu);
    free(w->hosts);
    free(w->ns);
    free(w->auth);
    free(w);
    c->wf = NULL;
}
