/* ctl/cmd_workflow.c: shardcronctl workflow — definitions (put, get, list,
 * delete, enable, disable) written straight to ZooKeeper with their change-
 * log entries, and run operations (trigger, clear, mark, cancel, backfill)
 * asked of the leader's driver through /wfreq (workflow/wfzk.h).
 *
 * Runs are read from ZooKeeper and, with --mysql, from history as well: the
 * driver removes ended runs from ZooKeeper after a while, so `runs` merges
 * both (workflow/wfhist.h) and `run` falls back to history for a run
 * ZooKeeper no longer holds.
 *
 * Exit statuses: 2 for input refused before anything was asked (the field is
 * named), 1 for everything else: the driver refusing (its message), nobody
 * answering within WFZK_REQ_WAIT_MS, ZooKeeper failing. */
#define LOG_CAT "shardcron.ctl"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/json.h"
#include "ctl/ctl.h"
#include "registry/zkcli.h"
#include "sql/db.h"
#include "sql/hist_wf.h"
#include "workflow/wf.h"
#include "workflow/wfhist.h"
#include "workflow/wfzk.h"

#define HISTORY_TIMEOUT_S 10 /* connect, read and write of a history read */

/* ---------------------------------------------------------------- helpers */

/* fail: print err; the exit status for rc (-EINVAL: invalid input). */
static int fail_as(const char *what, const struct sc_err *err, int rc)
{
    char msg[512];
    fprintf(stderr, "shardcronctl: %s%s\n", what, sc_err_format(err, msg, sizeof msg));
    return rc == -EINVAL ? CTL_INVALID : CTL_ERR;
}

static int fail(const struct sc_err *err, int rc)
{
    return fail_as("", err, rc);
}

static int invalid(const char *field, const char *fmt, const char *what)
{
    fprintf(stderr, "shardcronctl: %s: ", field);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    return CTL_INVALID;
}

static bool name_ok(const char *name, int *rc)
{
    if (wf_name_valid(name))
        return true;
    *rc = invalid("name", "\"%s\" is not a workflow name (1-48 of A-Z a-z 0-9 . _ -)", name);
    return false;
}

static bool run_ok(const char *run_id, int *rc)
{
    char w[WF_NAME_MAX + 1];
    int64_t ms;
    if (wfzk_run_id_parse(run_id, w, sizeof w, &ms) == 0)
        return true;
    *rc = invalid("run_id", "\"%s\" is not a run id (WORKFLOW@YYYYMMDDTHHMMSSZ)", run_id);
    return false;
}

static void print_json(const cJSON *o, bool pretty)
{
    char *s = pretty ? cJSON_Print(o) : json_print(o);
    printf("%s\n", s ? s : "null");
    free(s);
}

static const char *ms_text(char *buf, size_t len, double ms)
{
    if (ms <= 0)
        return "-";
    wfzk_time_format(buf, len, (int64_t)ms, NULL);
    return buf;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* ask: send `req` (consumed) to the driver and wait; *result the caller's. */
static int ask(const struct cfg *c, cJSON *req, cJSON **result)
{
    struct sc_err err;
    int status = 0;
    const char *user = getenv("USER");
    sc_err_clear(&err);
    cJSON_AddStringToObject(req, "user", user && *user ? user : "shardcronctl");
    struct zkcli *k = ctl_connect_zk(c);
    if (!k) {
        cJSON_Delete(req);
        return CTL_ERR;
    }
    int rc = wfzk_request(k, req, WFZK_REQ_WAIT_MS, result, &status, &err);
    zkcli_close(k);
    cJSON_Delete(req);
    if (rc == 0)
        return CTL_OK;
    /* a refusal, a timeout or ZooKeeper: never an input error of ours */
    fail(&err, rc);
    return CTL_ERR;
}

/* ---------------------------------------------------------------- definitions */

int ctl_wf_put(const struct cfg *c, int nargs, char **args)
{
    size_t len = 0;
    struct sc_err err;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "workflow put FILE|-")) != CTL_OK)
        return rc;
    char *text = ctl_read_doc(args[0], WF_STORED_MAX, "a workflow definition", &len, &rc);
    if (!text)
        return rc;
    struct wf_def *d = NULL;
    sc_err_clear(&err);
    /* Parsed here first, so an invalid file never needs ZooKeeper. */
    if ((rc = wf_parse(text, len, &d, &err)) < 0) {
        free(text);
        return fail_as("invalid workflow: ", &err, -EINVAL);
    }
    char name[WF_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", d->name);
    wf_free(d);
    struct zkcli *k = ctl_connect_zk_create(c);
    if (!k) {
        free(text);
        return CTL_ERR;
    }
    cJSON *before = NULL, *after = NULL;
    int version = -1;
    bool existed = wfzk_get(k, name, &before, &version, &err) == 0;
    cJSON_Delete(before);
    sc_err_clear(&err);
    rc = wfzk_put(k, text, len, -1, &err);
    if (rc == 0 && wfzk_get(k, name, &after, &version, &err) < 0)
        version = -1;
    cJSON_Delete(after);
    zkcli_close(k);
    free(text);
    if (rc == -EINVAL || rc == -ENOENT) {
        /* an unknown job is a fault of the definition (wf_check_jobs) */
        return fail_as("invalid workflow: ", &err, -EINVAL);
    }
    if (rc < 0)
        return fail(&err, rc);
    if (existed)
        printf("workflow %s updated (version %d)\n", name, version);
    else
        printf("workflow %s created\n", name);
    return CTL_OK;
}

int ctl_wf_get(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    cJSON *def = NULL;
    int rc, version = 0;
    if ((rc = ctl_need_args(nargs, 1, "workflow get NAME")) != CTL_OK || !name_ok(args[0], &rc))
        return rc;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    sc_err_clear(&err);
    rc = wfzk_get(k, args[0], &def, &version, &err);
    zkcli_close(k);
    if (rc < 0)
        return fail(&err, rc);
    print_json(def, true);
    cJSON_Delete(def);
    return CTL_OK;
}

int ctl_wf_list(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    struct timeval tv;
    cJSON *arr = NULL;
    (void)nargs, (void)args;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    gettimeofday(&tv, NULL);
    sc_err_clear(&err);
    int rc = wfzk_list(k, (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, &arr, &err);
    zkcli_close(k);
    if (rc < 0)
        return fail(&err, rc);
    if (ctl_json_out(c)) {
        print_json(arr, false);
    } else {
        printf("%-32s %-20s %-16s %-8s %5s %s\n", "NAME", "CRON", "TIMEZONE", "STATE", "TASKS",
               "NEXT LOGICAL TIME");
        const cJSON *w;
        cJSON_ArrayForEach(w, arr)
        {
            if (cJSON_GetObjectItemCaseSensitive(w, "error")) {
                printf("%-32s (invalid definition: %s)\n", jstr(w, "name"), jstr(w, "error"));
                continue;
            }
            const char *next = jstr(w, "next_logical_time");
            printf("%-32s %-20s %-16s %-8s %5d %s\n", jstr(w, "name"),
                   *jstr(w, "cron") ? jstr(w, "cron") : "(trigger only)", jstr(w, "timezone"),
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "enabled")) ? "enabled"
                                                                                : "disabled",
                   (int)jnum(w, "tasks"), *next ? next : "-");
        }
    }
    cJSON_Delete(arr);
    return CTL_OK;
}

int ctl_wf_delete(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "workflow delete NAME")) != CTL_OK || !name_ok(args[0], &rc))
        return rc;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    sc_err_clear(&err);
    rc = wfzk_delete(k, args[0], -1, &err);
    zkcli_close(k);
    if (rc < 0)
        return fail(&err, rc);
    printf("workflow %s deleted\n", args[0]);
    return CTL_OK;
}

static int set_enabled(const struct cfg *c, int nargs, char **args, bool on)
{
    struct sc_err err;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, on ? "workflow enable NAME" : "workflow disable NAME")) !=
            CTL_OK ||
        !name_ok(args[0], &rc))
        return rc;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    sc_err_clear(&err);
    rc = wfzk_set_enabled(k, args[0], on, -1, &err);
    zkcli_close(k);
    if (rc < 0)
        return fail(&err, rc == -EINVAL ? -EIO : rc); /* a bad stored definition is not input */
    printf("workflow %s %s\n", args[0], on ? "enabled" : "disabled");
    return CTL_OK;
}

int ctl_wf_enable(const struct cfg *c, int nargs, char **args)
{
    return set_enabled(c, nargs, args, true);
}

int ctl_wf_disable(const struct cfg *c, int nargs, char **args)
{
    return set_enabled(c, nargs, args, false);
}

/* ---------------------------------------------------------------- runs */

/* history_open: a connection to the history store (the caller's, closed
 * with history_close) when --mysql is set, else NULL with *rc CTL_OK: then
 * ZooKeeper's view is all there is. NULL with *rc set after printing what
 * is wrong when it is set but unusable. */
static MYSQL *history_open(const struct cfg *c, int *rc)
{
    struct sc_err err;
    struct db_url url;
    char msg[512], *pw = NULL;
    *rc = CTL_OK;
    if (!cfg_str(c, "mysql") || !*cfg_str(c, "mysql"))
        return NULL;
    sc_err_clear(&err);
    if (db_url_parse(cfg_str(c, "mysql"), &url, &err) < 0 ||
        (cfg_str(c, "mysql_password_file") &&
         !(pw = cfg_read_secret(cfg_str(c, "mysql_password_file"), &err)))) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        *rc = CTL_INVALID;
        return NULL;
    }
    MYSQL *m = db_connect(&url, pw ? pw : "", HISTORY_TIMEOUT_S, &err);
    if (pw) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    if (!m) {
        fprintf(stderr, "shardcronctl: history: %s\n", sc_err_format(&err, msg, sizeof msg));
        *rc = CTL_ERR;
    }
    return m;
}

static void history_close(MYSQL *m)
{
    if (m)
        mysql_close(m);
    mysql_library_end();
}

/* collect_runs: the one place the runs a listing shows are gathered:
 * ZooKeeper's (active and recently ended runs) and, with --mysql, the newest
 * HIST_WF_LIST_DEFAULT of history, merged by run id with ZooKeeper's view
 * winning. History that cannot be read is said on stderr and the listing
 * goes on with what ZooKeeper holds: a status check must not fail because
 * the history store is down. */
static int collect_runs(const struct cfg *c, struct zkcli *k, const char *name, cJSON **arr,
                        struct sc_err *err)
{
    char msg[512];
    cJSON *hist = NULL;
    int rc = wfzk_runs(k, name, arr, err), hrc;
    if (rc < 0)
        return rc;
    MYSQL *m = history_open(c, &hrc);
    if (m) {
        struct sc_err herr;
        sc_err_clear(&herr);
        if (hist_wf_runs_list(m, name, 0, &hist, &herr) < 0) {
            fprintf(stderr, "shardcronctl: history: %s\n", sc_err_format(&herr, msg, sizeof msg));
            hist = NULL;
        }
    }
    if (hrc != CTL_OK || (m && !hist))
        fprintf(stderr, "shardcronctl: listing only the runs ZooKeeper holds\n");
    history_close(m);
    wfhist_merge_runs(*arr, hist);
    return 0;
}

int ctl_wf_runs(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    cJSON *arr = NULL;
    char b1[48], b2[48];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "workflow runs NAME")) != CTL_OK || !name_ok(args[0], &rc))
        return rc;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    sc_err_clear(&err);
    rc = collect_runs(c, k, args[0], &arr, &err);
    zkcli_close(k);
    if (rc < 0)
        return fail(&err, rc);
    if (ctl_json_out(c)) {
        print_json(arr, false);
    } else {
        printf("%-48s %-10s %-9s %-25s %-21s %-21s %s\n", "RUN", "STATE", "TRIGGER", "LOGICAL TIME",
               "STARTED", "ENDED", "SOURCE");
        const cJSON *r;
        cJSON_ArrayForEach(r, arr)
        {
            printf("%-48s %-10s %-9s %-25s %-21s %-21s %s\n", jstr(r, "run_id"), jstr(r, "state"),
                   jstr(r, "trigger"), jstr(r, "logical_time"),
                   ms_text(b1, sizeof b1, jnum(r, "started_ms")),
                   ms_text(b2, sizeof b2, jnum(r, "ended_ms")), jstr(r, "source"));
        }
    }
    cJSON_Delete(arr);
    return CTL_OK;
}

/* run_from_history: the run ZooKeeper no longer holds, from history, its
 * logical time in the zone of the workflow's definition when that still
 * exists. CTL_OK with *o, or the status after printing. */
static int run_from_history(const struct cfg *c, struct zkcli *k, const char *run_id, cJSON **o)
{
    struct sc_err err;
    char wname[WF_NAME_MAX + 1], tz[64] = "", msg[512];
    int64_t lms;
    int rc;
    cJSON *def = NULL;
    int version;
    if (wfzk_run_id_parse(run_id, wname, sizeof wname, &lms) == 0 &&
        wfzk_get(k, wname, &def, &version, &err) == 0) {
        const cJSON *z = cJSON_GetObjectItemCaseSensitive(def, "timezone");
        if (cJSON_IsString(z))
            snprintf(tz, sizeof tz, "%s", z->valuestring);
    }
    cJSON_Delete(def);
    MYSQL *m = history_open(c, &rc);
    if (!m) {
        if (rc == CTL_OK)
            fprintf(stderr,
                    "shardcronctl: no run %s in ZooKeeper; an ended run may be in history: "
                    "give --mysql to look there\n",
                    run_id);
        history_close(m);
        return rc == CTL_INVALID ? CTL_INVALID : CTL_ERR;
    }
    sc_err_clear(&err);
    rc = hist_wf_run_get(m, run_id, o, &err);
    history_close(m);
    if (rc == -ENOENT) {
        fprintf(stderr, "shardcronctl: no run %s in ZooKeeper nor in history\n", run_id);
        return CTL_ERR;
    }
    if (rc < 0) {
        fprintf(stderr, "shardcronctl: no run %s in ZooKeeper, and history: %s\n", run_id,
                sc_err_format(&err, msg, sizeof msg));
        return CTL_ERR;
    }
    wfhist_from_history(*o, tz[0] ? tz : NULL);
    return CTL_OK;
}

int ctl_wf_run(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    cJSON *o = NULL;
    char b1[48], b2[48];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "workflow run RUN_ID")) != CTL_OK || !run_ok(args[0], &rc))
        return rc;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    sc_err_clear(&err);
    rc = wfzk_read_run(k, args[0], &o, &err);
    if (rc == -ENOENT) {
        rc = run_from_history(c, k, args[0], &o);
        zkcli_close(k);
        if (rc != CTL_OK)
            return rc;
    } else {
        zkcli_close(k);
        if (rc < 0)
            return fail(&err, rc);
        cJSON_AddStringToObject(o, "source", WFHIST_ZK);
    }
    if (ctl_json_out(c)) {
        print_json(o, false);
        cJSON_Delete(o);
        return CTL_OK;
    }
    printf("run %s: %s\nlogical time %s, trigger %s, from %s\n\n", jstr(o, "run_id"),
           jstr(o, "state"), jstr(o, "logical_time"), jstr(o, "trigger"), jstr(o, "source"));
    printf("%-24s %-16s %7s %-21s %-21s %s\n", "TASK", "STATE", "ATTEMPT", "STARTED", "ENDED",
           "REASON / OUTPUTS");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "tasks"))
    {
        const cJSON *outs = cJSON_GetObjectItemCaseSensitive(t, "outputs");
        char *os = cJSON_GetArraySize(outs) > 0 ? json_print(outs) : NULL;
        printf("%-24s %-16s %7d %-21s %-21s %s%s%.200s\n", t->string, jstr(t, "state"),
               (int)jnum(t, "attempt"), ms_text(b1, sizeof b1, jnum(t, "started_ms")),
               ms_text(b2, sizeof b2, jnum(t, "ended_ms")), jstr(t, "reason"),
               os && *jstr(t, "reason") ? " " : "", os ? os : "");
        free(os);
    }
    cJSON_Delete(o);
    return CTL_OK;
}

/* ---------------------------------------------------------------- requests to the driver */

/* params_obj: --param K=V... as an object; NULL after printing what is wrong. */
static cJSON *params_obj(const struct cfg *c)
{
    cJSON *o = cJSON_CreateObject();
    const char *all = cfg_str(c, "param");
    char kv[1024];
    for (const char *p = all; p && *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(kv, sizeof kv, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
        char *eq = strchr(kv, '=');
        bool ok = eq && eq > kv;
        for (char *q = kv; ok && q < eq; q++)
            ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' ||
                 (q > kv && *q >= '0' && *q <= '9');
        if (!ok) {
            invalid("param", "\"%s\" is not K=V (K: a letter or _, then letters, digits, _)", kv);
            cJSON_Delete(o);
            return NULL;
        }
        *eq = '\0';
        if (cJSON_GetObjectItemCaseSensitive(o, kv)) {
            invalid("param", "%s is given twice", kv);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddStringToObject(o, kv, eq + 1);
    }
    return o;
}

/* time_opt: --NAME as epoch ms; 0 when absent; -1 after printing the error. */
static int time_opt(const struct cfg *c, const char *opt, const char *field, bool required,
                    int64_t *ms)
{
    struct sc_err err;
    const char *s = cfg_str(c, opt);
    if (!s || !*s) {
        if (required) {
            fprintf(stderr, "shardcronctl: %s: --%s is required\n", field, field);
            return -1;
        }
        return 0;
    }
    sc_err_clear(&err);
    if (wfzk_time_parse(s, field, ms, &err) < 0) {
        fail(&err, -EINVAL);
        return -1;
    }
    return 1;
}

int ctl_wf_trigger(const struct cfg *c, int nargs, char **args)
{
    int rc;
    int64_t lms = 0;
    cJSON *result = NULL;
    if ((rc = ctl_need_args(
             nargs, 1, "workflow trigger NAME [--param K=V]... [--logical-time T]")) != CTL_OK ||
        !name_ok(args[0], &rc))
        return rc;
    int has = time_opt(c, "logical_time", "logical-time", false, &lms);
    if (has < 0)
        return CTL_INVALID;
    cJSON *params = params_obj(c);
    if (!params)
        return CTL_INVALID;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "trigger");
    cJSON_AddStringToObject(req, "workflow", args[0]);
    cJSON_AddItemToObject(req, "params", params);
    if (has)
        cJSON_AddNumberToObject(req, "logical_ms", (double)lms);
    if ((rc = ask(c, req, &result)) != CTL_OK)
        return rc;
    const char *id = jstr(result, "run_id");
    if (ctl_json_out(c)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "run_id", id);
        print_json(o, false);
        cJSON_Delete(o);
    } else {
        printf("triggered %s: run %s\n", args[0], id);
    }
    cJSON_Delete(result);
    return CTL_OK;
}

/* run_task_args: RUN_ID TASK checked; CTL_OK or the status after printing. */
static int run_task_args(int nargs, char **args, int want, const char *usage)
{
    int rc;
    if ((rc = ctl_need_args(nargs, want, usage)) != CTL_OK || !run_ok(args[0], &rc))
        return rc;
    if (!wf_task_id_valid(args[1]))
        return invalid("task", "\"%s\" is not a task id (1-64 of A-Z a-z 0-9 . _ -)", args[1]);
    return CTL_OK;
}

/* done: the driver's answer to an operation, as JSON or a line for people. */
static int done(const struct cfg *c, cJSON *result, const char *line)
{
    if (ctl_json_out(c))
        print_json(result, false);
    else
        printf("%s\n", line);
    cJSON_Delete(result);
    return CTL_OK;
}

int ctl_wf_clear(const struct cfg *c, int nargs, char **args)
{
    const char *usage = "workflow clear RUN_ID TASK [--downstream]";
    cJSON *result = NULL;
    char line[300];
    int rc = run_task_args(nargs, args, 2, usage);
    if (rc != CTL_OK)
        return rc;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "clear");
    cJSON_AddStringToObject(req, "run_id", args[0]);
    cJSON_AddStringToObject(req, "task", args[1]);
    cJSON_AddBoolToObject(req, "downstream", cfg_flag(c, "downstream"));
    if ((rc = ask(c, req, &result)) != CTL_OK)
        return rc;
    snprintf(line, sizeof line, "cleared %s in %s%s", args[1], args[0],
             cfg_flag(c, "downstream") ? " and everything downstream" : "");
    return done(c, result, line);
}

int ctl_wf_mark(const struct cfg *c, int nargs, char **args)
{
    const char *usage = "workflow mark RUN_ID TASK succeeded|failed|skipped";
    cJSON *result = NULL;
    char line[300];
    int rc = run_task_args(nargs, args, 3, usage);
    if (rc != CTL_OK)
        return rc;
    if (strcmp(args[2], "succeeded") != 0 && strcmp(args[2], "failed") != 0 &&
        strcmp(args[2], "skipped") != 0)
        return invalid("state", "\"%s\" is not succeeded, failed or skipped", args[2]);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "mark");
    cJSON_AddStringToObject(req, "run_id", args[0]);
    cJSON_AddStringToObject(req, "task", args[1]);
    cJSON_AddStringToObject(req, "state", args[2]);
    if ((rc = ask(c, req, &result)) != CTL_OK)
        return rc;
    snprintf(line, sizeof line, "marked %s in %s %s", args[1], args[0], args[2]);
    return done(c, result, line);
}

int ctl_wf_cancel(const struct cfg *c, int nargs, char **args)
{
    cJSON *result = NULL;
    char line[300];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "workflow cancel RUN_ID")) != CTL_OK || !run_ok(args[0], &rc))
        return rc;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "cancel");
    cJSON_AddStringToObject(req, "run_id", args[0]);
    if ((rc = ask(c, req, &result)) != CTL_OK)
        return rc;
    snprintf(line, sizeof line, "cancelled %s", args[0]);
    return done(c, result, line);
}

int ctl_wf_backfill(const struct cfg *c, int nargs, char **args)
{
    int64_t from = 0, to = 0;
    cJSON *result = NULL;
    int rc;
    if ((rc = ctl_need_args(
             nargs, 1,
             "workflow backfill NAME --from T --to T [--reprocess none|failed|all] [--dry-run]")) !=
            CTL_OK ||
        !name_ok(args[0], &rc))
        return rc;
    if (time_opt(c, "from", "from", true, &from) < 0 || time_opt(c, "to", "to", true, &to) < 0)
        return CTL_INVALID;
    if (from > to) {
        fprintf(stderr, "shardcronctl: to: must not be before --from\n");
        return CTL_INVALID;
    }
    const char *rp = cfg_str(c, "reprocess");
    if (strcmp(rp, "none") != 0 && strcmp(rp, "failed") != 0 && strcmp(rp, "all") != 0)
        return invalid("reprocess", "\"%s\" is not none, failed or all", rp);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "op", "backfill");
    cJSON_AddStringToObject(req, "workflow", args[0]);
    cJSON_AddNumberToObject(req, "from_ms", (double)from);
    cJSON_AddNumberToObject(req, "to_ms", (double)to);
    cJSON_AddStringToObject(req, "reprocess", rp);
    cJSON_AddBoolToObject(req, "dry_run", cfg_flag(c, "dry_run"));
    if ((rc = ask(c, req, &result)) != CTL_OK)
        return rc;
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(result, "runs");
    if (ctl_json_out(c) || !cJSON_IsArray(runs)) {
        print_json(result, !ctl_json_out(c));
        cJSON_Delete(result);
        return CTL_OK;
    }
    /* the driver's plan: one line a logical time, oldest first */
    int todo = 0;
    const cJSON *r;
    printf("%-48s %-25s %-7s %s\n", "RUN", "LOGICAL TIME", "ACTION", "STATE NOW");
    cJSON_ArrayForEach(r, runs)
    {
        printf("%-48s %-25s %-7s %s\n", jstr(r, "run_id"), jstr(r, "logical_time"),
               jstr(r, "action"), *jstr(r, "state") ? jstr(r, "state") : "-");
        todo += strcmp(jstr(r, "action"), "skip") != 0;
    }
    if (cfg_flag(c, "dry_run"))
        printf("dry run: %d of %d logical times would get a run; nothing was created\n", todo,
               cJSON_GetArraySize(runs));
    else
        printf("%d of %d logical times queued; runs start as max_active_runs allows\n", todo,
               cJSON_GetArraySize(runs));
    cJSON_Delete(result);
    return CTL_OK;
}
