/* workflow/wfzk.c: the client side of workflows in ZooKeeper (workflow/wfzk.h)
 * — names of runs and results, writing and reading definitions with their
 * change-log entries, the request protocol to the leader's driver, and the
 * reading of a run into the contract's JSON. shardcronctl calls these
 * directly, the console from its workflow workers (console/api_wf.c).
 *
 * Blocking throughout (registry/zkcli): never called on a daemon's loop. */
#include "workflow/wfzk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/json.h"
#include "core/tz.h"
#include "registry/plan.h"
#include "workflow/wf.h"

/* ---------------------------------------------------------------- names */

void wfzk_run_id(char *buf, size_t len, const char *workflow, int64_t logical_ms)
{
    int64_t s = logical_ms / 1000, days = s / 86400, sod = s % 86400, y;
    int m, d;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    tz_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%s@%04lld%02d%02dT%02d%02d%02dZ", workflow, (long long)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
}

/* digits: n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int wfzk_run_id_parse(const char *run_id, char *workflow, size_t wlen, int64_t *logical_ms)
{
    const char *at = run_id ? strrchr(run_id, '@') : NULL;
    /* @YYYYMMDDTHHMMSSZ */
    if (!at || strlen(at) != 17 || at[9] != 'T' || at[16] != 'Z')
        return -EINVAL;
    size_t wl = (size_t)(at - run_id);
    char name[WF_NAME_MAX + 2];
    if (wl == 0 || wl > WF_NAME_MAX || wl >= wlen)
        return -EINVAL;
    memcpy(name, run_id, wl);
    name[wl] = '\0';
    if (!wf_name_valid(name))
        return -EINVAL;
    int y = digits(at + 1, 4), mo = digits(at + 5, 2), d = digits(at + 7, 2),
        h = digits(at + 10, 2), mi = digits(at + 12, 2), s = digits(at + 14, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > tz_month_days(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || s < 0 || s > 59)
        return -EINVAL;
    memcpy(workflow, name, wl + 1);
    *logical_ms = (tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
    return 0;
}

void wfzk_task_job(char *buf, size_t len, const char *workflow, const char *task)
{
    snprintf(buf, len, WFZK_TASK_JOB_PREFIX "%s.%s", workflow, task);
}

void wfzk_done_path(char *buf, size_t len, const char *run_id, const char *task, int attempt,
                    int item)
{
    snprintf(buf, len, WFZK_RUNS "/%s/d/%s~%d~%d", run_id, task, attempt, item);
}

/* small_int: a decimal in [0, 1e9) spelled without sign or leading zero. */
static int small_int(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return -EINVAL;
    int v = digits(s, (int)n);
    if (v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

int wfzk_done_parse(const char *name, char *task, size_t tlen, int *attempt, int *item)
{
    const char *b = strrchr(name, '~');
    const char *a = NULL;
    for (const char *p = name; b && p < b; p++)
        if (*p == '~')
            a = p;
    if (!a || !b)
        return -EINVAL;
    size_t tl = (size_t)(a - name);
    if (tl == 0 || tl >= tlen || tl > WF_TASK_ID_MAX ||
        small_int(a + 1, (size_t)(b - a - 1), attempt) < 0 ||
        small_int(b + 1, strlen(b + 1), item) < 0)
        return -EINVAL;
    memcpy(task, name, tl);
    task[tl] = '\0';
    return wf_task_id_valid(task) ? 0 : -EINVAL;
}

/* ---------------------------------------------------------------- times */

int wfzk_time_parse(const char *s, const char *field, int64_t *ms, struct sc_err *err)
{
    const char *p = s && s[0] == '@' ? s + 1 : s;
    size_t n = p ? strlen(p) : 0;
    if (n > 0 && n <= 12 && strspn(p, "0123456789") == n) {
        *ms = strtoll(p, NULL, 10) * 1000;
        return 0;
    }
    /* YYYY-MM-DD[T ]HH:MM[:SS] then Z | +HH:MM | +HHMM | +HH */
    char civ[20];
    size_t cl = n >= 19 && p[16] == ':' ? 19 : 16;
    if (n > cl && n < 40 && p[4] == '-' && p[7] == '-' && (p[10] == 'T' || p[10] == ' ')) {
        memcpy(civ, p, cl);
        civ[cl] = '\0';
        if (cl == 16)
            strcat(civ, ":00");
        civ[10] = ' ';
        const char *z = p + cl;
        int64_t c;
        int off = -1, sign = z[0] == '-' ? -1 : 1;
        if (strcmp(z, "Z") == 0 || strcmp(z, "z") == 0) {
            off = 0;
        } else if (z[0] == '+' || z[0] == '-') {
            size_t zl = strlen(z + 1);
            int hh = digits(z + 1, 2), mm = 0;
            if (zl == 5 && z[3] == ':')
                mm = digits(z + 4, 2);
            else if (zl == 4)
                mm = digits(z + 3, 2);
            else if (zl != 2)
                hh = -1;
            if (hh >= 0 && hh <= 18 && mm >= 0 && mm <= 59)
                off = sign * (hh * 3600 + mm * 60);
        }
        if (off != -1 && tz_parse_civil(civ, &c) == 0) {
            *ms = (c - off) * 1000;
            return 0;
        }
    }
    return sc_err_set(err, EINVAL, field, -1,
                      "\"%.60s\" is not a time: ISO 8601 with an offset or Z "
                      "(2026-12-07T01:00:00+08:00) or epoch seconds",
                      s ? s : "");
}

void wfzk_time_format(char *buf, size_t len, int64_t ms, const char *tz)
{
    struct sc_err e;
    tz_zone *z = tz && *tz && strcmp(tz, "UTC") != 0 ? tz_load(tz, &e) : NULL;
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int off = z ? tz_offset(z, s) : 0;
    char civ[32], o[16];
    tz_format_civil(s + off, civ, sizeof civ);
    civ[10] = 'T';
    if (z)
        tz_format_offset(off, o, sizeof o);
    snprintf(buf, len, "%s%s", civ, z ? o : "Z");
    tz_free(z);
}

/* ---------------------------------------------------------------- writes */

/* zk_fail: a ZooKeeper failure as an errno with the reason in err. */
static int zk_fail(struct sc_err *err, int zrc, const char *what)
{
    return sc_err_set(err, EIO, "zookeeper", -1, "%s: %s", what, zerror(zrc));
}

/* logged: ops[0] (a write of /workflows/<name>) and its change-log entry
 * 'w' in one multi, as registry/jobops.c pairs job writes, creating the
 * log's parent once when it is missing. The result is ops[0]'s own failure
 * when it failed, else the multi's. */
static int logged(struct zkcli *k, struct zkreg_op *op0, const char *name)
{
    char change[400];
    struct zkreg_op ops[2];
    int op_rc[2] = {0, 0}, rc = ZOK;
    plan_change_prefix(change, sizeof change, PLAN_CHANGE_WORKFLOW, name);
    ops[0] = *op0;
    ops[1] = (struct zkreg_op){.type = ZKOP_CREATE, .path = change, .flags = ZOO_SEQUENCE};
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = zkcli_multi(k, ops, 2, op_rc);
        if (rc == ZOK || (op_rc[0] != ZOK && op_rc[0] != ZRUNTIMEINCONSISTENCY))
            break;
        if (op_rc[1] != ZNONODE || zkcli_ensure(k, PLAN_CHANGES) != ZOK)
            break;
    }
    if (rc != ZOK && op_rc[0] != ZOK && op_rc[0] != ZRUNTIMEINCONSISTENCY)
        return op_rc[0];
    return rc;
}

struct jobset {
    char **names; /* sorted (zkcli_children) */
    int n;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool job_exists(void *arg, const char *job)
{
    const struct jobset *s = arg;
    return s->n > 0 && bsearch(&job, s->names, (size_t)s->n, sizeof *s->names, cmp_name);
}

/* write_def: canon to /workflows/<name> at `version` (-1: create, or
 * overwrite whatever is there). */
static int write_def(struct zkcli *k, const char *name, const char *canon, int version,
                     struct sc_err *err)
{
    char path[300];
    snprintf(path, sizeof path, WFZK_DEFS "/%s", name);
    int len = (int)strlen(canon), zrc;
    if (zkcli_ensure(k, WFZK_DEFS) != ZOK)
        return zk_fail(err, ZCONNECTIONLOSS, "creating " WFZK_DEFS);
    struct zkreg_op op = {
        .type = ZKOP_SET, .path = path, .data = canon, .len = len, .version = version};
    if (version < 0) {
        op = (struct zkreg_op){.type = ZKOP_CREATE, .path = path, .data = canon, .len = len};
        zrc = logged(k, &op, name);
        if (zrc != ZNODEEXISTS)
            goto out;
        op = (struct zkreg_op){
            .type = ZKOP_SET, .path = path, .data = canon, .len = len, .version = -1};
    }
    zrc = logged(k, &op, name);
out:
    if (zrc == ZBADVERSION)
        return sc_err_set(err, EAGAIN, "version", -1,
                          "workflow %s was changed by someone else (not version %d any more); "
                          "read it again and retry",
                          name, version);
    if (zrc == ZNONODE)
        return sc_err_set(err, version < 0 ? ENOENT : EAGAIN, "version", -1,
                          "workflow %s was deleted meanwhile", name);
    return zrc == ZOK ? 0 : zk_fail(err, zrc, "writing the workflow");
}

int wfzk_put(struct zkcli *k, const char *json, size_t len, int version, struct sc_err *err)
{
    struct wf_def *d = NULL;
    struct jobset jobs = {0};
    char *canon = NULL;
    int rc = wf_parse(json, len, &d, err);
    if (rc < 0)
        return rc;
    /* The model checks the zone's shape; the writer checks it loads (as for jobs). */
    tz_zone *z = tz_load(d->timezone, err);
    if (!z) {
        rc = sc_err_set(err, EINVAL, "timezone", -1, "unknown time zone \"%.64s\"", d->timezone);
        goto out;
    }
    tz_free(z);
    int zrc = zkcli_children(k, "/jobs", &jobs.names, &jobs.n);
    if (zrc != ZOK && zrc != ZNONODE) {
        rc = zk_fail(err, zrc, "listing /jobs");
        goto out;
    }
    if ((rc = wf_check_jobs(d, job_exists, &jobs, err)) < 0)
        goto out;
    if (d->calendar[0]) {
        char path[300];
        snprintf(path, sizeof path, "/calendars/%s", d->calendar);
        zrc = zkcli_exists(k, path, NULL);
        if (zrc == ZNONODE)
            rc = sc_err_set(err, ENOENT, "calendar", -1, "no calendar named \"%s\"", d->calendar);
        else if (zrc != ZOK)
            rc = zk_fail(err, zrc, "reading the calendar");
        if (rc < 0)
            goto out;
    }
    if ((rc = wf_check_size(d, err)) < 0)
        goto out;
    if (!(canon = wf_to_json(d))) {
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
        goto out;
    }
    rc = write_def(k, d->name, canon, version, err);
out:
    free(canon);
    zkcli_free_children(jobs.names, jobs.n);
    wf_free(d);
    return rc;
}

/* ---------------------------------------------------------------- reads */

int wfzk_get(struct zkcli *k, const char *name, cJSON **def, int *version, struct sc_err *err)
{
    char path[300], *data = NULL;
    int len = 0;
    struct Stat st;
    if (!wf_name_valid(name))
        return sc_err_set(err, EINVAL, "name", -1,
                          "\"%.80s\" is not a workflow name (1-%d of A-Z a-z 0-9 . _ -)", name,
                          WF_NAME_MAX);
    snprintf(path, sizeof path, WFZK_DEFS "/%s", name);
    int zrc = zkcli_get(k, path, &data, &len, &st);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "name", -1, "no workflow named %s", name);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "reading the workflow");
    cJSON *o = cJSON_ParseWithLength(data, (size_t)len);
    free(data);
    if (!o)
        return sc_err_set(err, EIO, "", -1, "%s holds no JSON", path);
    *def = o;
    if (version)
        *version = st.version;
    return 0;
}

/* summary: one row of wfzk_list. */
/* summary_calendar: the calendar a workflow names, read from ZooKeeper (the
 * caller's; NULL when none, missing or invalid: then it has no next time,
 * as the driver does not schedule it). */
static struct calendar *summary_calendar(struct zkcli *k, const char *name)
{
    char path[300], *data = NULL;
    int len = 0;
    struct calendar *c = NULL;
    struct sc_err e;
    snprintf(path, sizeof path, "/calendars/%s", name);
    if (zkcli_get(k, path, &data, &len, NULL) == ZOK)
        calendar_parse(data, (size_t)len, &c, &e);
    free(data);
    return c;
}

static cJSON *summary(struct zkcli *k, const char *name, const char *data, int len, int version,
                      int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    struct wf_def *d = NULL;
    struct sc_err e;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "version", version);
    if (wf_parse(data, (size_t)len, &d, &e) < 0) {
        char msg[400];
        cJSON_AddStringToObject(o, "error", sc_err_format(&e, msg, sizeof msg));
        return o;
    }
    cJSON_AddStringToObject(o, "cron", d->cron);
    cJSON_AddStringToObject(o, "timezone", d->timezone);
    cJSON_AddBoolToObject(o, "enabled", d->enabled);
    cJSON_AddNumberToObject(o, "tasks", d->ntasks);
    int64_t next = -1;
    cron_expr *ex = NULL;
    tz_zone *z = NULL;
    struct cal_sched cs = {d->calendar[0] ? summary_calendar(k, d->calendar) : NULL,
                           d->calendar_rule, d->calendar_shift};
    if (d->calendar[0])
        cJSON_AddStringToObject(o, "calendar", d->calendar);
    if (d->enabled && d->cron[0] && (!d->calendar[0] || cs.cal) &&
        cron_parse(d->cron, &ex, &e) == 0 && (z = tz_load(d->timezone, &e)))
        next = calendar_next(ex, z, &cs, now_ms / 1000);
    calendar_unref((struct calendar *)cs.cal);
    if (next >= 0) {
        char buf[48];
        wfzk_time_format(buf, sizeof buf, next * 1000, d->timezone);
        cJSON_AddStringToObject(o, "next_logical_time", buf);
        cJSON_AddNumberToObject(o, "next_logical_ms", (double)next * 1000);
    } else {
        cJSON_AddNullToObject(o, "next_logical_time");
        cJSON_AddNullToObject(o, "next_logical_ms");
    }
    cron_free(ex);
    tz_free(z);
    wf_free(d);
    return o;
}

int wfzk_list(struct zkcli *k, int64_t now_ms, cJSON **out, struct sc_err *err)
{
    char **names = NULL;
    int n = 0, zrc = zkcli_children(k, WFZK_DEFS, &names, &n);
    if (zrc != ZOK && zrc != ZNONODE)
        return zk_fail(err, zrc, "listing " WFZK_DEFS);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char path[300], *data = NULL;
        int len = 0;
        struct Stat st;
        snprintf(path, sizeof path, WFZK_DEFS "/%s", names[i]);
        zrc = zkcli_get(k, path, &data, &len, &st);
        if (zrc == ZOK)
            cJSON_AddItemToArray(arr, summary(k, names[i], data, len, st.version, now_ms));
        free(data);
        if (zrc != ZOK && zrc != ZNONODE) {
            cJSON_Delete(arr);
            zkcli_free_children(names, n);
            return zk_fail(err, zrc, "reading a workflow");
        }
    }
    zkcli_free_children(names, n);
    *out = arr;
    return 0;
}

/* read_obj: the JSON object a node holds; NULL when gone or not an object
 * (*zrc says which ZooKeeper answer it was). */
static cJSON *read_obj(struct zkcli *k, const char *path, int *zrc)
{
    char *data = NULL;
    int len = 0;
    *zrc = zkcli_get(k, path, &data, &len, NULL);
    cJSON *o = *zrc == ZOK ? cJSON_ParseWithLength(data, (size_t)len) : NULL;
    free(data);
    if (o && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

static const char *str_of(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* run_prefix: the run ids of `workflow` start "<workflow>@" (names hold no '@'). */
static bool run_of(const char *run_id, const char *workflow)
{
    size_t n = strlen(workflow);
    return strncmp(run_id, workflow, n) == 0 && run_id[n] == '@';
}

/* active_run: the first queued or running run of `workflow` into buf ("" none). */
static int active_run(struct zkcli *k, const char *workflow, char *buf, size_t len)
{
    char **names = NULL;
    int n = 0, zrc = zkcli_children(k, WFZK_RUNS, &names, &n);
    buf[0] = '\0';
    if (zrc == ZNONODE)
        return ZOK;
    for (int i = 0; zrc == ZOK && i < n && !buf[0]; i++) {
        char path[300];
        int grc;
        if (!run_of(names[i], workflow))
            continue;
        snprintf(path, sizeof path, WFZK_RUNS "/%s", names[i]);
        cJSON *o = read_obj(k, path, &grc);
        const char *st = str_of(o, "state", "");
        if (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0)
            snprintf(buf, len, "%s", names[i]);
        cJSON_Delete(o);
        if (grc != ZOK && grc != ZNONODE)
            zrc = grc;
    }
    zkcli_free_children(names, n);
    return zrc;
}

int wfzk_delete(struct zkcli *k, const char *name, int version, struct sc_err *err)
{
    char path[300], run[WFZK_RUN_ID_MAX + 1];
    if (!wf_name_valid(name))
        return sc_err_set(err, EINVAL, "name", -1, "\"%.80s\" is not a workflow name", name);
    snprintf(path, sizeof path, WFZK_DEFS "/%s", name);
    int zrc = zkcli_exists(k, path, NULL);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "name", -1, "no workflow named %s", name);
    if (zrc == ZOK)
        zrc = active_run(k, name, run, sizeof run);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "reading the workflow's runs");
    if (run[0])
        return sc_err_set(err, EBUSY, "name", -1,
                          "workflow %s has an active run (%s); cancel its runs first", name, run);
    struct zkreg_op op = {.type = ZKOP_DELETE, .path = path, .version = version};
    zrc = logged(k, &op, name);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "name", -1, "no workflow named %s", name);
    if (zrc == ZBADVERSION)
        return sc_err_set(err, EAGAIN, "version", -1,
                          "workflow %s was changed by someone else (not version %d any more)", name,
                          version);
    return zrc == ZOK ? 0 : zk_fail(err, zrc, "deleting the workflow");
}

int wfzk_set_enabled(struct zkcli *k, const char *name, bool enabled, int version,
                     struct sc_err *err)
{
    char path[300], *data = NULL;
    int len = 0;
    struct Stat st;
    struct wf_def *d = NULL;
    if (!wf_name_valid(name))
        return sc_err_set(err, EINVAL, "name", -1, "\"%.80s\" is not a workflow name", name);
    snprintf(path, sizeof path, WFZK_DEFS "/%s", name);
    int zrc = zkcli_get(k, path, &data, &len, &st);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "name", -1, "no workflow named %s", name);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "reading the workflow");
    if (version >= 0 && version != st.version) {
        free(data);
        return sc_err_set(err, EAGAIN, "version", -1,
                          "workflow %s is at version %d, not %d; read it again", name, st.version,
                          version);
    }
    int rc = wf_parse(data, (size_t)len, &d, err);
    free(data);
    if (rc < 0) {
        char msg[300], field[sizeof err->field];
        snprintf(msg, sizeof msg, "%s", err->msg);
        snprintf(field, sizeof field, "%s", err->field);
        return sc_err_set(err, EINVAL, field, -1,
                          "the stored definition is invalid (%s); put a valid one first", msg);
    }
    d->enabled = enabled;
    char *canon = wf_to_json(d);
    wf_free(d);
    if (!canon)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    rc = write_def(k, name, canon, st.version, err);
    free(canon);
    return rc;
}

/* run_json: a run node's object as the contract shows it. */
static void add_times(cJSON *o, const cJSON *run, const char *tz)
{
    char buf[48];
    double lm = num_of(run, "logical_ms");
    wfzk_time_format(buf, sizeof buf, (int64_t)lm, tz);
    cJSON_AddStringToObject(o, "logical_time", buf);
    cJSON_AddNumberToObject(o, "logical_ms", lm);
}

static int cmp_desc(const void *a, const void *b)
{
    return -strcmp(*(const char *const *)a, *(const char *const *)b);
}

int wfzk_runs(struct zkcli *k, const char *workflow, cJSON **out, struct sc_err *err)
{
    char **names = NULL;
    int n = 0, zrc = zkcli_children(k, WFZK_RUNS, &names, &n);
    if (zrc != ZOK && zrc != ZNONODE)
        return zk_fail(err, zrc, "listing " WFZK_RUNS);
    /* run ids of one workflow sort by logical time (fixed-width UTC stamp) */
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_desc);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char path[300];
        if (!run_of(names[i], workflow))
            continue;
        snprintf(path, sizeof path, WFZK_RUNS "/%s", names[i]);
        cJSON *o = read_obj(k, path, &zrc);
        if (!o && zrc != ZOK && zrc != ZNONODE) {
            cJSON_Delete(arr);
            zkcli_free_children(names, n);
            return zk_fail(err, zrc, "reading a run");
        }
        if (!o)
            continue; /* ended and removed meanwhile, or not the driver's shape */
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "run_id", names[i]);
        cJSON_AddStringToObject(row, "workflow", workflow);
        cJSON_AddStringToObject(row, "state", str_of(o, "state", "queued"));
        cJSON_AddStringToObject(row, "trigger", str_of(o, "trigger", ""));
        add_times(row, o, NULL);
        cJSON_AddNumberToObject(row, "created_ms", num_of(o, "created_ms"));
        cJSON_AddNumberToObject(row, "started_ms", num_of(o, "started_ms"));
        cJSON_AddNumberToObject(row, "ended_ms", num_of(o, "ended_ms"));
        cJSON_AddItemToArray(arr, row);
        cJSON_Delete(o);
    }
    zkcli_free_children(names, n);
    *out = arr;
    return 0;
}

/* task_obj: the contract's shape of one task from its t/ node (NULL: waiting). */
static cJSON *task_obj(const cJSON *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", t ? str_of(t, "state", "waiting") : "waiting");
    cJSON_AddNumberToObject(o, "attempt", t ? num_of(t, "attempt") : 0);
    cJSON_AddNumberToObject(o, "started_ms", t ? num_of(t, "started_ms") : 0);
    cJSON_AddNumberToObject(o, "ended_ms", t ? num_of(t, "ended_ms") : 0);
    cJSON_AddStringToObject(o, "reason", t ? str_of(t, "reason", "") : "");
    cJSON_AddObjectToObject(o, "outputs");
    return o;
}

/* read_children: the data of every child of `dir` (a run's t/ or d/), read
 * together (zkcli_get_many); *names and *reads are the caller's (free_children). */
static int read_children(struct zkcli *k, const char *dir, char ***names, int *n,
                         struct zkcli_read **reads)
{
    *reads = NULL;
    int zrc = zkcli_children(k, dir, names, n);
    if (zrc != ZOK || *n == 0)
        return zrc;
    size_t dlen = strlen(dir), total = 0;
    for (int i = 0; i < *n; i++)
        total += dlen + strlen((*names)[i]) + 2;
    /* one block: the reads, then their paths */
    struct zkcli_read *r = malloc((size_t)*n * sizeof *r + total);
    if (!r)
        return ZSYSTEMERROR;
    char *p = (char *)(r + *n);
    for (int i = 0; i < *n; i++) {
        r[i].path = p;
        p += sprintf(p, "%s/%s", dir, (*names)[i]) + 1;
    }
    *reads = r;
    return zkcli_get_many(k, r, *n);
}

static void free_children(char **names, struct zkcli_read *reads, int n)
{
    zkcli_reads_free(reads, reads ? n : 0);
    free(reads);
    zkcli_free_children(names, n);
}

/* as_obj: a read's JSON object, NULL when gone or not an object. */
static cJSON *as_obj(const struct zkcli_read *r)
{
    cJSON *o = r->rc == ZOK ? cJSON_ParseWithLength(r->data, (size_t)r->len) : NULL;
    if (o && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

/* read_tasks: every t/ node into tasks (keyed by task id). */
static int read_tasks(struct zkcli *k, const char *run_id, cJSON *tasks, const struct wf_def *d)
{
    char path[400], **names = NULL;
    struct zkcli_read *reads = NULL;
    int n = 0;
    if (d)
        for (int i = 0; i < d->ntasks; i++)
            cJSON_AddItemToObject(tasks, d->tasks[i].id, task_obj(NULL));
    snprintf(path, sizeof path, WFZK_RUNS "/%s/t", run_id);
    int zrc = read_children(k, path, &names, &n, &reads);
    for (int i = 0; zrc == ZOK && i < n; i++) {
        cJSON *t = as_obj(&reads[i]);
        if (!t)
            continue;
        cJSON *o = task_obj(t);
        if (cJSON_GetObjectItemCaseSensitive(tasks, names[i]))
            cJSON_ReplaceItemInObjectCaseSensitive(tasks, names[i], o);
        else
            cJSON_AddItemToObject(tasks, names[i], o);
        cJSON_Delete(t);
    }
    free_children(names, reads, n);
    return zrc == ZNONODE ? ZOK : zrc;
}

/* read_outputs: the "xcom" of each done node of a task's current attempt
 * into its "outputs" by item. */
static int read_outputs(struct zkcli *k, const char *run_id, cJSON *tasks)
{
    char path[400], **names = NULL, task[WF_TASK_ID_MAX + 1];
    struct zkcli_read *reads = NULL;
    int n = 0, attempt, item;
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", run_id);
    int zrc = read_children(k, path, &names, &n, &reads);
    for (int i = 0; zrc == ZOK && i < n; i++) {
        if (wfzk_done_parse(names[i], task, sizeof task, &attempt, &item) < 0)
            continue;
        cJSON *t = cJSON_GetObjectItemCaseSensitive(tasks, task);
        if (!t || num_of(t, "attempt") != attempt)
            continue;
        cJSON *dn = as_obj(&reads[i]);
        cJSON *x = dn ? cJSON_DetachItemFromObjectCaseSensitive(dn, "xcom") : NULL;
        if (x) {
            char key[16];
            snprintf(key, sizeof key, "%d", item);
            cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(t, "outputs"), key, x);
        }
        cJSON_Delete(dn);
    }
    free_children(names, reads, n);
    return zrc == ZNONODE ? ZOK : zrc;
}

int wfzk_read_run(struct zkcli *k, const char *run_id, cJSON **out, struct sc_err *err)
{
    char path[400], wname[WF_NAME_MAX + 1], *data = NULL;
    int64_t lms;
    int zrc, len = 0;
    struct wf_def *d = NULL;
    struct sc_err e;
    if (wfzk_run_id_parse(run_id, wname, sizeof wname, &lms) < 0)
        return sc_err_set(err, EINVAL, "run_id", -1,
                          "\"%.100s\" is not a run id (WORKFLOW@YYYYMMDDTHHMMSSZ)", run_id);
    snprintf(path, sizeof path, WFZK_RUNS "/%s", run_id);
    cJSON *run = read_obj(k, path, &zrc);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "run_id", -1, "no run %s in ZooKeeper", run_id);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "reading the run");
    if (!run)
        return sc_err_set(err, EIO, "run_id", -1, "%s holds no JSON object", path);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/def", run_id);
    zrc = zkcli_get(k, path, &data, &len, NULL);
    if (zrc == ZOK)
        wf_parse(data, (size_t)len, &d, &e); /* a run without a readable def lists t/ only */
    free(data);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddStringToObject(o, "workflow", str_of(run, "workflow", wname));
    cJSON_AddStringToObject(o, "state", str_of(run, "state", "queued"));
    add_times(o, run, d ? d->timezone : NULL);
    cJSON_AddStringToObject(o, "trigger", str_of(run, "trigger", ""));
    cJSON *params = cJSON_DetachItemFromObjectCaseSensitive(run, "params");
    cJSON_AddItemToObject(o, "params", cJSON_IsObject(params) ? params : cJSON_CreateObject());
    if (!cJSON_IsObject(params))
        cJSON_Delete(params);
    cJSON_AddNumberToObject(o, "created_ms", num_of(run, "created_ms"));
    cJSON_AddNumberToObject(o, "started_ms", num_of(run, "started_ms"));
    cJSON_AddNumberToObject(o, "ended_ms", num_of(run, "ended_ms"));
    cJSON *tasks = cJSON_AddObjectToObject(o, "tasks");
    cJSON_Delete(run);
    zrc = read_tasks(k, run_id, tasks, d);
    wf_free(d);
    if (zrc == ZOK)
        zrc = read_outputs(k, run_id, tasks);
    if (zrc != ZOK && zrc != ZNONODE) {
        cJSON_Delete(o);
        return zk_fail(err, zrc, "reading the run's tasks");
    }
    *out = o;
    return 0;
}

int wfzk_run_def(struct zkcli *k, const char *run_id, cJSON **out, struct sc_err *err)
{
    char path[400], wname[WF_NAME_MAX + 1];
    int64_t lms;
    if (wfzk_run_id_parse(run_id, wname, sizeof wname, &lms) < 0)
        return sc_err_set(err, EINVAL, "run_id", -1,
                          "\"%.100s\" is not a run id (WORKFLOW@YYYYMMDDTHHMMSSZ)", run_id);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/def", run_id);
    int zrc;
    cJSON *def = read_obj(k, path, &zrc);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "run_id", -1, "no run %s in ZooKeeper", run_id);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "reading the run's definition");
    if (!def)
        return sc_err_set(err, EIO, "run_id", -1, "%s holds no JSON object", path);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddItemToObject(o, "workflow", def);
    *out = o;
    return 0;
}

struct item_row {
    int attempt, item;
    cJSON *o;
};

static int cmp_item_row(const void *a, const void *b)
{
    const struct item_row *x = a, *y = b;
    return x->attempt != y->attempt ? (x->attempt > y->attempt) - (x->attempt < y->attempt)
                                    : (x->item > y->item) - (x->item < y->item);
}

int wfzk_task_items(struct zkcli *k, const char *run_id, const char *task, cJSON **out,
                    struct sc_err *err)
{
    char path[400], **names = NULL, t[WF_TASK_ID_MAX + 1], wname[WF_NAME_MAX + 1];
    int n = 0, m = 0, attempt, item;
    int64_t lms;
    if (wfzk_run_id_parse(run_id, wname, sizeof wname, &lms) < 0)
        return sc_err_set(err, EINVAL, "run_id", -1,
                          "\"%.100s\" is not a run id (WORKFLOW@YYYYMMDDTHHMMSSZ)", run_id);
    if (!wf_task_id_valid(task))
        return sc_err_set(err, EINVAL, "task", -1, "not a task id (1-%d of A-Z a-z 0-9 . _ -)",
                          WF_TASK_ID_MAX);
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", run_id);
    int zrc = zkcli_children(k, path, &names, &n);
    if (zrc == ZNONODE)
        return sc_err_set(err, ENOENT, "run_id", -1, "no run %s in ZooKeeper", run_id);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "listing the run's results");
    struct zkcli_read *r = calloc((size_t)(n > 0 ? n : 1), sizeof *r);
    struct item_row *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    char **paths = calloc((size_t)(n > 0 ? n : 1), sizeof *paths);
    if (!r || !rows || !paths) {
        free(r), free(rows), free(paths);
        zkcli_free_children(names, n);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        if (wfzk_done_parse(names[i], t, sizeof t, &attempt, &item) < 0 || strcmp(t, task) != 0)
            continue;
        if (asprintf(&paths[m], "%s/%s", path, names[i]) < 0) {
            paths[m] = NULL;
            continue;
        }
        r[m].path = paths[m];
        rows[m] = (struct item_row){attempt, item, NULL};
        m++;
    }
    zkcli_free_children(names, n);
    zrc = zkcli_get_many(k, r, m);
    for (int i = 0; zrc == ZOK && i < m; i++)
        rows[i].o = as_obj(&r[i]);
    zkcli_reads_free(r, m);
    for (int i = 0; i < m; i++)
        free(paths[i]);
    free(paths);
    free(r);
    if (zrc != ZOK) {
        free(rows);
        return zk_fail(err, zrc, "reading the task's results");
    }
    qsort(rows, (size_t)m, sizeof *rows, cmp_item_row);
    cJSON *o = cJSON_CreateObject(), *arr;
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddStringToObject(o, "task", task);
    arr = cJSON_AddArrayToObject(o, "items");
    for (int i = 0; i < m; i++) {
        if (!rows[i].o)
            continue; /* gone since listed (retention) */
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "item", rows[i].item);
        cJSON_AddNumberToObject(it, "attempt", rows[i].attempt);
        cJSON_AddStringToObject(it, "status", str_of(rows[i].o, "status", ""));
        cJSON_AddNumberToObject(it, "exit", num_of(rows[i].o, "exit"));
        cJSON_AddStringToObject(it, "exec_id", str_of(rows[i].o, "exec_id", ""));
        cJSON_AddStringToObject(it, "agent", str_of(rows[i].o, "agent", ""));
        cJSON_AddNumberToObject(it, "started_ms", num_of(rows[i].o, "started_ms"));
        cJSON_AddNumberToObject(it, "ended_ms", num_of(rows[i].o, "ended_ms"));
        cJSON_AddStringToObject(it, "reason", str_of(rows[i].o, "reason", ""));
        cJSON_AddItemToArray(arr, it);
        cJSON_Delete(rows[i].o);
    }
    free(rows);
    *out = o;
    return 0;
}

int wfzk_run_sig(struct zkcli *k, const char *run_id, struct wfzk_sig *sig)
{
    char path[400];
    struct Stat st;
    memset(sig, 0, sizeof *sig);
    snprintf(path, sizeof path, WFZK_RUNS "/%s", run_id);
    int zrc = zkcli_exists(k, path, &st);
    if (zrc != ZOK)
        return zrc == ZNONODE ? -ENOENT : -EIO;
    sig->run_mzxid = st.mzxid;
    snprintf(path, sizeof path, WFZK_RUNS "/%s/t", run_id);
    if ((zrc = zkcli_exists(k, path, &st)) == ZOK) {
        sig->t_mzxid = st.mzxid;
        sig->t_pzxid = st.pzxid;
        sig->trusted = st.version > 0;
    } else if (zrc != ZNONODE) {
        return -EIO;
    }
    snprintf(path, sizeof path, WFZK_RUNS "/%s/d", run_id);
    if ((zrc = zkcli_exists(k, path, &st)) == ZOK)
        sig->d_pzxid = st.pzxid;
    else if (zrc != ZNONODE)
        return -EIO;
    return 0;
}

bool wfzk_sig_equal(const struct wfzk_sig *a, const struct wfzk_sig *b)
{
    return a->run_mzxid == b->run_mzxid && a->t_mzxid == b->t_mzxid &&
           a->t_pzxid == b->t_pzxid && a->d_pzxid == b->d_pzxid && a->trusted == b->trusted;
}

/* ---------------------------------------------------------------- requests */

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* answer: 1 and the answer's fields used when the node's data is an answer;
 * 0 when the request is still unanswered. */
static int answer(const char *data, int len, cJSON **result, int *status, int *rc,
                  struct sc_err *err)
{
    cJSON *a = len > 0 ? cJSON_ParseWithLength(data, (size_t)len) : NULL;
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(a, "ok");
    if (!cJSON_IsBool(ok)) {
        cJSON_Delete(a);
        return 0;
    }
    if (cJSON_IsTrue(ok)) {
        cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(a, "result");
        *result = r ? r : cJSON_CreateObject();
        *rc = 0;
    } else {
        double st = num_of(a, "status");
        *status = st >= 400 && st < 600 ? (int)st : 400;
        *rc = sc_err_set(err, EREMOTEIO, str_of(a, "field", ""), -1, "%s",
                         str_of(a, "error", "refused by the driver"));
    }
    cJSON_Delete(a);
    return 1;
}

int wfzk_request(struct zkcli *k, const cJSON *req, int wait_ms, cJSON **result, int *status,
                 struct sc_err *err)
{
    char created[200], path[220], *data = NULL;
    int len = 0, rc = -ETIMEDOUT, step = 5;
    struct Stat st = {0};
    *result = NULL;
    if (status)
        *status = 0;
    int dummy;
    if (!status)
        status = &dummy;
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "op")))
        return sc_err_set(err, EINVAL, "op", -1, "a request needs an \"op\"");
    char *body = json_print(req);
    if (!body)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    int zrc = zkcli_ensure(k, WFZK_REQS);
    if (zrc == ZOK)
        zrc = zkcli_create(k, WFZK_REQS "/r-", body, (int)strlen(body), ZOO_SEQUENCE, created,
                           sizeof created);
    free(body);
    if (zrc != ZOK)
        return zk_fail(err, zrc, "submitting the request");
    snprintf(path, sizeof path, "%s", created);
    int64_t deadline = mono_ms() + wait_ms;
    for (;;) {
        zrc = zkcli_get(k, path, &data, &len, &st);
        if (zrc == ZOK && answer(data, len, result, status, &rc, err)) {
            free(data);
            return rc;
        }
        free(data);
        data = NULL;
        if (zrc == ZNONODE)
            return sc_err_set(err, EIO, "", -1,
                              "the request %s vanished before its answer was read", path);
        if (mono_ms() >= deadline)
            break;
        /* quick answers are the common case; back off to 100 ms after */
        nap(step);
        step = step * 2 > 100 ? 100 : step * 2;
    }
    /* Withdraw it at the version last read: an answer written since wins. */
    zrc = zkcli_delete(k, path, zrc == ZOK ? st.version : -1);
    if (zrc == ZBADVERSION && zkcli_get(k, path, &data, &len, NULL) == ZOK &&
        answer(data, len, result, status, &rc, err)) {
        free(data);
        return rc;
    }
    free(data);
    return sc_err_set(err, ETIMEDOUT, "", -1, "no leader answered within %d s",
                      (wait_ms + 999) / 1000);
}
