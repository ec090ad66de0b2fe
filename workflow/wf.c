/* workflow/wf.c: workflow JSON -> struct wf_def (validated, linked, ordered)
 * -> canonical JSON, and the pure decisions the driver takes from a
 * definition: trigger rules (Airflow's TriggerRuleDep with
 * flag_upstream_failed), a run's state from its leaves, clear --downstream.
 *
 * Validation is linear in the size of the definition: task ids are looked up
 * in a hash map, duplicate upstream names are found with a stamp per task, the
 * order is Kahn's with a heap, and a cycle is found by walking upstream through
 * what Kahn's could not order. A 5,000-task definition validates in a few ms
 * (bench/workflow).
 *
 * Sections: names and enums; field helpers; a task; the graph; wf_parse;
 * serialization; decisions. */
#include "workflow/wf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alertch.h"
#include "core/cron.h"
#include "core/job.h"
#include "core/json.h"
#include "core/strmap.h"

/* ---------------------------------------------------------------- names and enums */

static const char *const kind_names[] = {"job", "command", "sensor", "branch", "external"};
static const char *const rule_names[WF_RULE_COUNT] = {"all_success",  "all_failed",
                                                      "all_done",     "all_done_min_one_success",
                                                      "all_skipped",  "one_success",
                                                      "one_failed",   "one_done",
                                                      "none_failed",  "none_failed_min_one_success",
                                                      "none_skipped", "always"};
static const char *const tstate_names[WF_T_COUNT] = {
    "waiting",   "queued", "running",         "sensing", "retrying",
    "succeeded", "failed", "upstream_failed", "skipped", "cancelled"};
static const char *const rstate_names[WF_R_COUNT] = {"queued", "running", "succeeded", "failed",
                                                     "cancelled"};

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *wf_rule_name(enum wf_rule r)
{
    return (unsigned)r < WF_RULE_COUNT ? rule_names[r] : "?";
}
int wf_rule_parse(const char *s, enum wf_rule *out)
{
    int i = pick(s, rule_names, WF_RULE_COUNT);
    if (i < 0)
        return -EINVAL;
    *out = (enum wf_rule)i;
    return 0;
}
const char *wf_tstate_name(enum wf_tstate s)
{
    return (unsigned)s < WF_T_COUNT ? tstate_names[s] : "?";
}
int wf_tstate_parse(const char *s, enum wf_tstate *out)
{
    int i = pick(s, tstate_names, WF_T_COUNT);
    if (i < 0)
        return -EINVAL;
    *out = (enum wf_tstate)i;
    return 0;
}
const char *wf_rstate_name(enum wf_rstate s)
{
    return (unsigned)s < WF_R_COUNT ? rstate_names[s] : "?";
}
int wf_rstate_parse(const char *s, enum wf_rstate *out)
{
    int i = pick(s, rstate_names, WF_R_COUNT);
    if (i < 0)
        return -EINVAL;
    *out = (enum wf_rstate)i;
    return 0;
}
const char *wf_kind_name(enum wf_kind k)
{
    return (unsigned)k <= WF_EXTERNAL ? kind_names[k] : "?";
}

bool wf_tstate_done(enum wf_tstate s)
{
    return s == WF_T_SUCCEEDED || s == WF_T_FAILED || s == WF_T_UPSTREAM_FAILED ||
           s == WF_T_SKIPPED || s == WF_T_CANCELLED;
}

/* Workflow names and task ids follow job names (job_name_valid), shorter: a
 * command task runs as the job "wf.<workflow>.<task>" (workflow/wfzk.h),
 * which must itself be a job name. */
int wf_name_valid(const char *name)
{
    return job_name_valid(name) && strlen(name) <= WF_NAME_MAX;
}
int wf_task_id_valid(const char *id)
{
    return job_name_valid(id) && strlen(id) <= WF_TASK_ID_MAX;
}

/* ---------------------------------------------------------------- field helpers */

#define WF_CMD_MAX 4096
#define WF_DESC_MAX 4096
#define WF_TASK_TIMEOUT_MAX (7 * 86400)
#define WF_RUN_TIMEOUT_MAX (30 * 86400)
#define WF_PARAMS_MAX 64
#define WF_PARAM_VALUE_MAX 4096
#define WF_LABEL_MAX 64
#define WF_OFFSET_MAX_DAYS 3650

/* present: the member, or NULL when absent or null (null counts as absent,
 * as in core/json.c's getters). */
static const cJSON *present(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return it && !cJSON_IsNull(it) ? it : NULL;
}

int wf_offset_parse(const char *s, int64_t *out_s, struct sc_err *err)
{
    static const char usage[] = "must be [+-]N followed by s, m, h or d (like -1d, +2h, 90s) or 0";
    const char *p = s;
    int64_t n = 0, mult;
    int sign = 1, digits = 0;
    if (!s)
        return sc_err_set(err, EINVAL, "offset", -1, "%s", usage);
    if (strcmp(s, "0") == 0) {
        *out_s = 0;
        return 0;
    }
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > 9)
            return sc_err_set(err, EINVAL, "offset", -1, "must be within %d days (got \"%.32s\")",
                              WF_OFFSET_MAX_DAYS, s);
        n = n * 10 + (*p - '0');
    }
    switch (digits ? *p : '\0') {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    default:
        return sc_err_set(err, EINVAL, "offset", -1, "%s (got \"%.32s\")", usage, s);
    }
    if (p[1] != '\0')
        return sc_err_set(err, EINVAL, "offset", -1, "%s (got \"%.32s\")", usage, s);
    if (n * mult > (int64_t)WF_OFFSET_MAX_DAYS * 86400)
        return sc_err_set(err, EINVAL, "offset", -1, "must be within %d days (got \"%.32s\")",
                          WF_OFFSET_MAX_DAYS, s);
    *out_s = sign * n * mult;
    return 0;
}

const char *wf_offset_format(int64_t v, char *buf, size_t len)
{
    static const struct {
        int64_t mult;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    if (v == 0) {
        snprintf(buf, len, "0");
        return buf;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (v % units[i].mult == 0) {
            snprintf(buf, len, "%+lld%c", (long long)(v / units[i].mult), units[i].unit);
            break;
        }
    return buf;
}

/* ---------------------------------------------------------------- a task */

static const char *const task_fields[] = {
    "job",    "command",   "sensor",  "branch",     "external", "upstream", "trigger_rule",
    "shards", "timeout_s", "retries", "interval_s", "labels",   NULL};
static const char *const external_fields[] = {"workflow", "task", "offset", NULL};

/* The optional fields each kind takes; the others are refused by name, so a
 * "retries" on a job task (whose own retries apply) is not silently ignored. */
enum { F_SHARDS = 1, F_TIMEOUT = 2, F_RETRIES = 4, F_INTERVAL = 8, F_LABELS = 16 };
static const char *const opt_fields[] = {"shards", "timeout_s", "retries", "interval_s", "labels"};
static const unsigned kind_takes[] = {
    [WF_JOB] = 0,
    [WF_COMMAND] = F_SHARDS | F_TIMEOUT | F_RETRIES | F_LABELS,
    [WF_SENSOR] = F_TIMEOUT | F_INTERVAL | F_LABELS,
    [WF_BRANCH] = F_TIMEOUT | F_RETRIES | F_LABELS,
    [WF_EXTERNAL] = F_TIMEOUT | F_INTERVAL,
};

static int parse_labels(const cJSON *o, struct wf_task *t, struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    int rc = json_get_arr(o, "labels", JSON_OPTIONAL, &arr, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    int n = cJSON_GetArraySize(arr);
    if (n > JOB_LABELS_MAX)
        return sc_err_set(err, EINVAL, "labels", -1, "at most %d labels (got %d)", JOB_LABELS_MAX,
                          n);
    if (!(t->labels = calloc((size_t)n + 1, sizeof *t->labels)))
        return sc_err_set(err, ENOMEM, "labels", -1, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !job_name_valid(it->valuestring) ||
            strlen(it->valuestring) > WF_LABEL_MAX)
            return sc_err_set(err, EINVAL, "labels", -1,
                              "label %d must be 1-%d characters of [A-Za-z0-9._-]", t->nlabels,
                              WF_LABEL_MAX);
        for (int k = 0; k < t->nlabels; k++)
            if (strcmp(t->labels[k], it->valuestring) == 0)
                return sc_err_set(err, EINVAL, "labels", -1, "label \"%s\" is given twice",
                                  it->valuestring);
        if (!(t->labels[t->nlabels] = strdup(it->valuestring)))
            return sc_err_set(err, ENOMEM, "labels", -1, "out of memory");
        t->nlabels++;
    }
    return 0;
}

static int parse_external(const cJSON *o, struct wf_task *t, struct sc_err *err)
{
    const cJSON *x = NULL;
    const char *wf = NULL, *task = NULL, *off = "0";
    int rc = json_get_obj(o, "external", JSON_REQUIRED, &x, err);
    if (rc < 0)
        return rc;
    if ((rc = json_check_fields(x, external_fields, err)) < 0 ||
        (rc = json_get_str(x, "workflow", JSON_REQUIRED, &wf, err)) < 0)
        goto err;
    if (!wf_name_valid(wf)) {
        rc =
            sc_err_set(err, EINVAL, "workflow", -1,
                       "must be a workflow name of 1-%d characters of [A-Za-z0-9._-]", WF_NAME_MAX);
        goto err;
    }
    if ((rc = json_get_str(x, "task", JSON_REQUIRED, &task, err)) < 0)
        goto err;
    if (!wf_task_id_valid(task)) {
        rc = sc_err_set(err, EINVAL, "task", -1,
                        "must be a task id of 1-%d characters of [A-Za-z0-9._-]", WF_TASK_ID_MAX);
        goto err;
    }
    if ((rc = json_get_str(x, "offset", JSON_OPTIONAL, &off, err)) < 0 && rc != -ENOENT)
        goto err;
    if ((rc = wf_offset_parse(off, &t->ext.offset_s, err)) < 0)
        goto err;
    if (!(t->ext.workflow = strdup(wf)) || !(t->ext.task = strdup(task)))
        return sc_err_set(err, ENOMEM, "external", -1, "out of memory");
    return 0;
err:
    json_err_prefix(err, "external");
    return rc;
}

/* parse_task: everything of one task but its upstream (linked once every id
 * is known). Errors name the field inside the task; the caller prefixes
 * "tasks.<id>". */
static int parse_task(const cJSON *o, struct wf_task *t, struct sc_err *err)
{
    int rc, kind = -1;
    const char *s;
    if (!cJSON_IsObject(o))
        return sc_err_set(err, EINVAL, "", -1, "a task must be a JSON object");
    if ((rc = json_check_fields(o, task_fields, err)) < 0)
        return rc;
    for (int k = 0; k <= WF_EXTERNAL; k++) {
        if (!present(o, kind_names[k]))
            continue;
        if (kind >= 0)
            return sc_err_set(err, EINVAL, "", -1, "has both %s and %s: a task is of one kind",
                              kind_names[kind], kind_names[k]);
        kind = k;
    }
    if (kind < 0)
        return sc_err_set(err, EINVAL, "", -1,
                          "must have one of job, command, sensor, branch or external");
    t->kind = (enum wf_kind)kind;
    for (int f = 0; f < 5; f++)
        if (!(kind_takes[kind] & (1u << f)) && present(o, opt_fields[f]))
            return sc_err_set(err, EINVAL, opt_fields[f], -1, "is not allowed for a%s %s task%s",
                              kind == WF_EXTERNAL ? "n" : "", kind_names[kind],
                              kind == WF_JOB ? " (the job's own settings apply)" : "");
    switch (t->kind) {
    case WF_JOB:
        if ((rc = json_get_str(o, "job", JSON_REQUIRED, &s, err)) < 0)
            return rc;
        if (!job_name_valid(s))
            return sc_err_set(err, EINVAL, "job", -1,
                              "must be a job name of 1-%d characters of [A-Za-z0-9._-]",
                              JOB_NAME_MAX);
        if (!(t->job = strdup(s)))
            return sc_err_set(err, ENOMEM, "job", -1, "out of memory");
        break;
    case WF_COMMAND:
    case WF_SENSOR:
    case WF_BRANCH:
        if ((rc = json_opt_str(o, kind_names[kind], "", WF_CMD_MAX, &t->command, err)) < 0)
            return rc;
        if (!t->command[0])
            return sc_err_set(err, EINVAL, kind_names[kind], -1, "must be a non-empty command");
        break;
    case WF_EXTERNAL:
        if ((rc = parse_external(o, t, err)) < 0)
            return rc;
        break;
    }
    t->shards = 1;
    if (kind_takes[kind] & F_SHARDS &&
        (rc = json_opt_int(o, "shards", 1, JOB_SHARDS_MAX, 1, &t->shards, err)) < 0)
        return rc;
    if (kind == WF_SENSOR || kind == WF_EXTERNAL) {
        if (!present(o, "timeout_s"))
            return sc_err_set(err, EINVAL, "timeout_s", -1,
                              "is required for a%s %s task (how long it may wait), 1-%d",
                              kind == WF_EXTERNAL ? "n" : "", kind_names[kind],
                              WF_TASK_TIMEOUT_MAX);
        if ((rc = json_opt_int(o, "timeout_s", 1, WF_TASK_TIMEOUT_MAX, 0, &t->timeout_s, err)) < 0)
            return rc;
    } else if (kind_takes[kind] & F_TIMEOUT &&
               (rc = json_opt_int(o, "timeout_s", 0, WF_TASK_TIMEOUT_MAX, 0, &t->timeout_s, err)) <
                   0) {
        return rc;
    }
    if (kind_takes[kind] & F_RETRIES &&
        (rc = json_opt_int(o, "retries", 0, 10, 0, &t->retries, err)) < 0)
        return rc;
    if (kind_takes[kind] & F_INTERVAL &&
        (rc = json_opt_int(o, "interval_s", 1, 86400, 60, &t->interval_s, err)) < 0)
        return rc;
    if (kind_takes[kind] & F_LABELS && (rc = parse_labels(o, t, err)) < 0)
        return rc;
    t->rule = WF_ALL_SUCCESS;
    if ((rc = json_get_str(o, "trigger_rule", JSON_OPTIONAL, &s, err)) == 0 &&
        wf_rule_parse(s, &t->rule) < 0) {
        char list[200] = "";
        for (int k = 0; k < WF_RULE_COUNT; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? "|" : "",
                     rule_names[k]);
        return sc_err_set(err, EINVAL, "trigger_rule", -1, "must be one of %s (got \"%.30s\")",
                          list, s);
    }
    if (rc < 0 && rc != -ENOENT)
        return rc;
    return 0;
}

static int parse_params(const cJSON *root, struct wf_def *d, struct sc_err *err)
{
    const cJSON *p = NULL, *it;
    char field[96];
    int rc = json_get_obj(root, "params", JSON_OPTIONAL, &p, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == -ENOENT) {
        d->params = cJSON_CreateObject();
    } else {
        int n = cJSON_GetArraySize(p);
        if (n > WF_PARAMS_MAX)
            return sc_err_set(err, EINVAL, "params", -1, "at most %d parameters (got %d)",
                              WF_PARAMS_MAX, n);
        cJSON_ArrayForEach(it, p)
        {
            const char *k = it->string;
            bool ok = (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_';
            for (const char *c = k; ok && *c; c++)
                ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= '0' && *c <= '9') || *c == '_';
            snprintf(field, sizeof field, "params.%.80s", k);
            /* each one reaches the task as SHARDCRON_PARAM_<NAME> */
            if (!ok || strlen(k) > 64)
                return sc_err_set(err, EINVAL, field, -1,
                                  "a parameter name must be 1-64 characters of [A-Za-z0-9_], not "
                                  "starting with a digit");
            if (!cJSON_IsString(it))
                return sc_err_set(err, EINVAL, field, -1, "must be a string");
            if (strlen(it->valuestring) > WF_PARAM_VALUE_MAX)
                return sc_err_set(err, EINVAL, field, -1, "must be at most %d bytes",
                                  WF_PARAM_VALUE_MAX);
        }
        d->params = cJSON_Duplicate(p, 1);
    }
    if (!d->params)
        return sc_err_set(err, ENOMEM, "params", -1, "out of memory");
    return 0;
}

/* validate_schedule: as core/job.c's: the cron expression, and the shape of
 * the zone name only, so every host gives the same verdict; writers
 * (shardcronctl, the console) also load the zone with tz_load. */
static int validate_schedule(const struct wf_def *d, struct sc_err *err)
{
    cron_expr *e = NULL;
    struct sc_err cerr;
    if (d->cron[0]) {
        sc_err_clear(&cerr);
        if (cron_parse(d->cron, &e, &cerr) < 0)
            return sc_err_set(err, EINVAL, "cron", cerr.pos, "%s%s%s", cerr.field,
                              cerr.field[0] ? ": " : "", cerr.msg);
        cron_free(e);
    }
    if (!d->timezone[0] || strstr(d->timezone, "..") || d->timezone[0] == '/')
        return sc_err_set(err, EINVAL, "timezone", -1,
                          "must be an IANA zone name like Asia/Shanghai");
    return 0;
}

/* ---------------------------------------------------------------- the graph */

static int task_err_prefix(struct sc_err *err, const char *id, int rc)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "tasks.%s", id);
    json_err_prefix(err, prefix);
    return rc;
}

/* link_upstream: resolve every task's "upstream" names to indexes. `stamp`
 * (ntasks ints, zeroed) finds a name given twice without a quadratic scan. */
static int link_upstream(struct wf_def *d, const cJSON *const *src, int *stamp, struct sc_err *err)
{
    for (int i = 0; i < d->ntasks; i++) {
        struct wf_task *t = &d->tasks[i];
        const cJSON *arr = NULL, *it;
        int rc = json_get_arr(src[i], "upstream", JSON_OPTIONAL, &arr, err);
        if (rc == -ENOENT)
            continue;
        if (rc < 0)
            return task_err_prefix(err, t->id, rc);
        int n = cJSON_GetArraySize(arr), k = 0;
        if (n == 0)
            continue;
        if (!(t->up = malloc((size_t)n * sizeof *t->up)))
            return sc_err_set(err, ENOMEM, "", -1, "out of memory");
        cJSON_ArrayForEach(it, arr)
        {
            if (!cJSON_IsString(it)) {
                rc = sc_err_set(err, EINVAL, "upstream", -1, "entry %d must be a task id", k);
                return task_err_prefix(err, t->id, rc);
            }
            intptr_t u = (intptr_t)strmap_get(d->ids, it->valuestring) - 1;
            if (u < 0) {
                rc = sc_err_set(err, EINVAL, "upstream", -1, "unknown task \"%.64s\"",
                                it->valuestring);
                return task_err_prefix(err, t->id, rc);
            }
            if (stamp[u] == i + 1) {
                rc = sc_err_set(err, EINVAL, "upstream", -1, "\"%s\" is given twice",
                                it->valuestring);
                return task_err_prefix(err, t->id, rc);
            }
            stamp[u] = i + 1;
            t->up[k++] = (int)u;
        }
        t->nup = k;
    }
    return 0;
}

/* link_downstream: each task's downstream list, ascending (tasks are visited
 * in index order). */
static int link_downstream(struct wf_def *d, struct sc_err *err)
{
    for (int i = 0; i < d->ntasks; i++)
        for (int k = 0; k < d->tasks[i].nup; k++)
            d->tasks[d->tasks[i].up[k]].ndown++;
    for (int i = 0; i < d->ntasks; i++) {
        struct wf_task *t = &d->tasks[i];
        if (t->ndown && !(t->down = malloc((size_t)t->ndown * sizeof *t->down)))
            return sc_err_set(err, ENOMEM, "", -1, "out of memory");
        t->ndown = 0;
    }
    for (int i = 0; i < d->ntasks; i++)
        for (int k = 0; k < d->tasks[i].nup; k++) {
            struct wf_task *u = &d->tasks[d->tasks[i].up[k]];
            u->down[u->ndown++] = i;
        }
    return 0;
}

/* A min-heap of task indexes: Kahn's order with ties broken by written order. */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], v = h[--*n], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (v <= h[c])
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = v;
    return top;
}

/* cycle_error: called when Kahn's left tasks unordered (indeg[i] > 0). Every
 * such task has an unordered upstream, so walking upstream from one must
 * come back to a task already walked: that stretch is a cycle. It is named in
 * the direction work flows, starting from its earliest written task. `pos`
 * has ntasks ints. */
static int cycle_error(const struct wf_def *d, const int *indeg, int *pos, struct sc_err *err)
{
    int n = d->ntasks, start = 0, len = 0;
    for (int i = 0; i < n; i++)
        pos[i] = -1;
    while (start < n && indeg[start] == 0)
        start++;
    int *walk = malloc((size_t)n * sizeof *walk);
    if (!walk)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    int v = start;
    while (pos[v] < 0) {
        pos[v] = len;
        walk[len++] = v;
        const struct wf_task *t = &d->tasks[v];
        int next = -1;
        for (int k = 0; k < t->nup && next < 0; k++)
            if (indeg[t->up[k]] > 0)
                next = t->up[k];
        v = next; /* never -1: v is unordered, so one of its upstream is */
    }
    /* walk[pos[v]] .. walk[len-1] is the cycle, each the downstream of the next */
    int first = pos[v], m = len - first, low = first;
    for (int k = first; k < len; k++)
        if (walk[k] < walk[low])
            low = k;
    char msg[sizeof err->msg];
    size_t at = (size_t)snprintf(msg, sizeof msg, "cycle ");
    const size_t room = sizeof msg - 100; /* kept for the tail below */
    int shown = 0;
    for (int j = 0; j < m; j++) {
        /* flow order: from walk[low] go towards lower positions (upstream first) */
        int k = first + ((low - first) - j + m) % m;
        const char *id = d->tasks[walk[k]].id;
        if (at + strlen(id) + 4 > room)
            break;
        at += (size_t)snprintf(msg + at, sizeof msg - at, "%s -> ", id);
        shown++;
    }
    if (shown < m)
        snprintf(msg + at, sizeof msg - at, "... -> %.64s (%d tasks)", d->tasks[walk[low]].id, m);
    else
        snprintf(msg + at, sizeof msg - at, "%s", d->tasks[walk[low]].id);
    free(walk);
    return sc_err_set(err, EINVAL, "tasks", -1, "%s", msg);
}

/* order: d->topo by Kahn's algorithm, or the error naming one cycle. */
static int order(struct wf_def *d, int *scratch, struct sc_err *err)
{
    int n = d->ntasks, hn = 0, done = 0, rc = 0;
    int *heap = malloc((size_t)n * sizeof *heap);
    if (!heap || !(d->topo = malloc((size_t)n * sizeof *d->topo))) {
        free(heap);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    int *indeg = scratch;
    for (int i = 0; i < n; i++)
        if ((indeg[i] = d->tasks[i].nup) == 0)
            heap_push(heap, &hn, i);
    while (hn > 0) {
        int v = heap_pop(heap, &hn);
        d->topo[done++] = v;
        for (int k = 0; k < d->tasks[v].ndown; k++) {
            int w = d->tasks[v].down[k];
            if (--indeg[w] == 0)
                heap_push(heap, &hn, w);
        }
    }
    if (done < n)
        rc = cycle_error(d, indeg, heap, err); /* the heap is empty: its room serves */
    free(heap);
    return rc;
}

/* ---------------------------------------------------------------- wf_parse */

static const char *const wf_fields[] = {"name",           "description", "cron",
                                        "timezone",       "calendar",    "calendar_rule",
                                        "calendar_shift", "enabled",     "max_active_runs",
                                        "max_running_tasks", "catchup",  "timeout_s",
                                        "params",         "tasks",       "alert",
                                        NULL};

/* parse_alert: "alert": {"channels": [...]} (core/alertch: the same channels
 * as a job's alert.channels), where the workflow's notices go (run_failed,
 * run_overdue, task_failed, sensor_late: docs/alerts.md). */
static int parse_alert(const cJSON *root, struct wf_def *d, struct sc_err *err)
{
    static const char *const fields[] = {"channels", NULL};
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "alert"), *lst = NULL;
    int rc;
    if (!al || cJSON_IsNull(al))
        return 0;
    if (!cJSON_IsObject(al))
        return sc_err_set(err, EINVAL, "alert", -1, "must be an object {\"channels\": [...]}");
    if ((rc = json_check_fields(al, fields, err)) < 0) {
        char f[sizeof err->field];
        snprintf(f, sizeof f, "%s", err->field);
        snprintf(err->field, sizeof err->field, "alert.%.*s", (int)sizeof err->field - 7, f);
        return rc;
    }
    if ((rc = json_get_arr(al, "channels", JSON_REQUIRED, &lst, err)) < 0) {
        snprintf(err->field, sizeof err->field, "alert.channels");
        return rc;
    }
    if ((rc = alertch_validate(lst, "alert.channels", err)) < 0)
        return rc;
    if (!(d->alert_channels = json_print(lst)))
        return sc_err_set(err, ENOMEM, "alert.channels", -1, "out of memory");
    return 0;
}

static int parse_tasks(const cJSON *root, struct wf_def *d, struct sc_err *err)
{
    const cJSON *tasks = NULL, *it;
    const cJSON **src = NULL;
    int *scratch = NULL, rc;
    if ((rc = json_get_obj(root, "tasks", JSON_REQUIRED, &tasks, err)) < 0)
        return rc;
    int n = cJSON_GetArraySize(tasks);
    if (n == 0)
        return sc_err_set(err, EINVAL, "tasks", -1, "must hold at least one task");
    if (n > WF_TASKS_MAX)
        return sc_err_set(err, EINVAL, "tasks", -1, "at most %d tasks (got %d)", WF_TASKS_MAX, n);
    d->tasks = calloc((size_t)n, sizeof *d->tasks);
    d->ids = calloc(1, sizeof *d->ids); /* zeroed is strmap_init's empty map */
    src = malloc((size_t)n * sizeof *src);
    scratch = calloc((size_t)n, sizeof *scratch);
    if (!d->tasks || !d->ids || !src || !scratch) {
        rc = sc_err_set(err, ENOMEM, "tasks", -1, "out of memory");
        goto out;
    }
    strmap_init(d->ids);
    cJSON_ArrayForEach(it, tasks)
    {
        struct wf_task *t = &d->tasks[d->ntasks];
        if (!wf_task_id_valid(it->string)) {
            rc = sc_err_set(err, EINVAL, "tasks", -1,
                            "task id \"%.70s\" must be 1-%d characters of [A-Za-z0-9._-], not "
                            "\".\" or \"..\"",
                            it->string, WF_TASK_ID_MAX);
            goto out;
        }
        if (!(t->id = strdup(it->string))) {
            rc = sc_err_set(err, ENOMEM, "tasks", -1, "out of memory");
            goto out;
        }
        src[d->ntasks++] = it;
        int perr = 0;
        /* json_parse refuses a repeated key, so a second id is a caller's tree */
        if (strmap_put(d->ids, t->id, (void *)(intptr_t)d->ntasks, &perr) || perr) {
            rc = perr ? sc_err_set(err, ENOMEM, "tasks", -1, "out of memory")
                      : sc_err_set(err, EINVAL, "tasks", -1, "task \"%s\" is given twice", t->id);
            goto out;
        }
        if ((rc = parse_task(it, t, err)) < 0) {
            task_err_prefix(err, t->id, rc);
            goto out;
        }
    }
    if ((rc = link_upstream(d, src, scratch, err)) < 0 || (rc = link_downstream(d, err)) < 0 ||
        (rc = order(d, scratch, err)) < 0)
        goto out;
out:
    free(src);
    free(scratch);
    return rc;
}

static int wf_from_cjson(const cJSON *root, struct wf_def **out, struct sc_err *err)
{
    struct wf_def *d;
    const char *name = NULL;
    int rc;
    *out = NULL;
    if (!cJSON_IsObject(root))
        return sc_err_set(err, EINVAL, "", -1, "a workflow must be a JSON object");
    if ((rc = json_check_fields(root, wf_fields, err)) < 0)
        return rc;
    if ((rc = json_get_str(root, "name", JSON_REQUIRED, &name, err)) < 0)
        return rc;
    if (!wf_name_valid(name))
        return sc_err_set(err, EINVAL, "name", -1,
                          "must be 1-%d characters of [A-Za-z0-9._-], not \".\" or \"..\" (got "
                          "\"%.60s\")",
                          WF_NAME_MAX, name);
    if (!(d = calloc(1, sizeof *d)))
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    if (!(d->name = strdup(name))) {
        rc = sc_err_set(err, ENOMEM, "name", -1, "out of memory");
        goto err;
    }
    if ((rc = json_opt_str(root, "description", "", WF_DESC_MAX, &d->description, err)) < 0 ||
        (rc = json_opt_str(root, "cron", "", 256, &d->cron, err)) < 0 ||
        (rc = json_opt_str(root, "timezone", "UTC", 64, &d->timezone, err)) < 0 ||
        (rc = validate_schedule(d, err)) < 0 ||
        (rc = calendar_opt_fields(root, &d->calendar, &d->calendar_rule, &d->calendar_shift, err)) <
            0 ||
        (rc = json_opt_bool(root, "enabled", true, &d->enabled, err)) < 0 ||
        (rc = json_opt_int(root, "max_active_runs", 1, 1000, 1, &d->max_active_runs, err)) < 0 ||
        (rc = json_opt_int(root, "max_running_tasks", 1, WF_TASKS_MAX, 0, &d->max_running_tasks,
                           err)) < 0 ||
        (rc = parse_alert(root, d, err)) < 0 ||
        (rc = json_opt_bool(root, "catchup", false, &d->catchup, err)) < 0 ||
        (rc = json_opt_int(root, "timeout_s", 0, WF_RUN_TIMEOUT_MAX, 0, &d->timeout_s, err)) < 0 ||
        (rc = parse_params(root, d, err)) < 0 || (rc = parse_tasks(root, d, err)) < 0)
        goto err;
    for (int i = 0; i < d->ntasks; i++) {
        const struct wf_task *t = &d->tasks[i];
        /* the same run: that is what "upstream" is for, and waiting on a task
         * downstream of this one (or on itself) would never end */
        if (t->kind == WF_EXTERNAL && t->ext.offset_s == 0 &&
            strcmp(t->ext.workflow, d->name) == 0) {
            rc = sc_err_set(err, EINVAL, "external", -1,
                            "names this workflow's own run (offset 0): use \"upstream\"");
            task_err_prefix(err, t->id, rc);
            goto err;
        }
    }
    *out = d;
    return 0;
err:
    wf_free(d);
    return rc;
}

int wf_parse(const char *json, size_t len, struct wf_def **out, struct sc_err *err)
{
    cJSON *root = json_parse(json, len, err);
    *out = NULL;
    if (!root)
        return -EINVAL;
    int rc = wf_from_cjson(root, out, err);
    cJSON_Delete(root);
    return rc;
}

int wf_check_jobs(const struct wf_def *d, bool (*exists)(void *arg, const char *job), void *arg,
                  struct sc_err *err)
{
    for (int i = 0; i < d->ntasks; i++) {
        const struct wf_task *t = &d->tasks[i];
        if (t->kind == WF_JOB && !exists(arg, t->job)) {
            int rc = sc_err_set(err, ENOENT, "job", -1, "job \"%s\" does not exist", t->job);
            return task_err_prefix(err, t->id, rc);
        }
    }
    return 0;
}

int wf_task_index(const struct wf_def *d, const char *id)
{
    if (!id)
        return -1;
    if (d->ids)
        return (int)((intptr_t)strmap_get(d->ids, id) - 1);
    for (int i = 0; i < d->ntasks; i++)
        if (strcmp(d->tasks[i].id, id) == 0)
            return i;
    return -1;
}

void wf_free(struct wf_def *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->description);
    free(d->cron);
    free(d->timezone);
    free(d->calendar);
    free(d->alert_channels);
    cJSON_Delete(d->params);
    for (int i = 0; d->tasks && i < d->ntasks; i++) {
        struct wf_task *t = &d->tasks[i];
        free(t->id);
        free(t->job);
        free(t->command);
        for (int k = 0; k < t->nlabels; k++)
            free(t->labels[k]);
        free(t->labels);
        free(t->ext.workflow);
        free(t->ext.task);
        free(t->up);
        free(t->down);
    }
    free(d->tasks);
    free(d->topo);
    if (d->ids) {
        strmap_free(d->ids);
        free(d->ids);
    }
    free(d);
}

/* ---------------------------------------------------------------- serialization */

static cJSON *task_to_cjson(const struct wf_def *d, const struct wf_task *t)
{
    cJSON *o = cJSON_CreateObject();
    unsigned takes = kind_takes[t->kind];
    char off[32];
    if (!o)
        return NULL;
    if (t->kind == WF_JOB) {
        cJSON_AddStringToObject(o, "job", t->job);
    } else if (t->kind == WF_EXTERNAL) {
        cJSON *x = cJSON_AddObjectToObject(o, "external");
        cJSON_AddStringToObject(x, "workflow", t->ext.workflow);
        cJSON_AddStringToObject(x, "task", t->ext.task);
        cJSON_AddStringToObject(x, "offset", wf_offset_format(t->ext.offset_s, off, sizeof off));
    } else {
        cJSON_AddStringToObject(o, kind_names[t->kind], t->command);
    }
    if (takes & F_SHARDS)
        cJSON_AddNumberToObject(o, "shards", t->shards);
    if (takes & F_INTERVAL)
        cJSON_AddNumberToObject(o, "interval_s", t->interval_s);
    if (takes & F_TIMEOUT)
        cJSON_AddNumberToObject(o, "timeout_s", t->timeout_s);
    if (takes & F_RETRIES)
        cJSON_AddNumberToObject(o, "retries", t->retries);
    if (takes & F_LABELS) {
        cJSON *l = cJSON_AddArrayToObject(o, "labels");
        for (int k = 0; l && k < t->nlabels; k++)
            cJSON_AddItemToArray(l, cJSON_CreateString(t->labels[k]));
    }
    cJSON *up = cJSON_AddArrayToObject(o, "upstream");
    for (int k = 0; up && k < t->nup; k++)
        cJSON_AddItemToArray(up, cJSON_CreateString(d->tasks[t->up[k]].id));
    cJSON_AddStringToObject(o, "trigger_rule", rule_names[t->rule]);
    return o;
}

cJSON *wf_to_cjson(const struct wf_def *d)
{
    cJSON *o = cJSON_CreateObject(), *tasks;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "description", d->description);
    cJSON_AddStringToObject(o, "cron", d->cron);
    cJSON_AddStringToObject(o, "timezone", d->timezone);
    calendar_add_fields(o, d->calendar, d->calendar_rule, d->calendar_shift);
    cJSON_AddBoolToObject(o, "enabled", d->enabled);
    cJSON_AddNumberToObject(o, "max_active_runs", d->max_active_runs);
    if (d->max_running_tasks > 0) /* stored only when set: definitions without it stay as they were */
        cJSON_AddNumberToObject(o, "max_running_tasks", d->max_running_tasks);
    cJSON_AddBoolToObject(o, "catchup", d->catchup);
    cJSON_AddNumberToObject(o, "timeout_s", d->timeout_s);
    cJSON_AddItemToObject(o, "params", cJSON_Duplicate(d->params, 1));
    if (d->alert_channels) /* stored only when set */
        cJSON_AddItemToObject(cJSON_AddObjectToObject(o, "alert"), "channels",
                              cJSON_Parse(d->alert_channels));
    tasks = cJSON_AddObjectToObject(o, "tasks");
    for (int i = 0; tasks && i < d->ntasks; i++) {
        cJSON *t = task_to_cjson(d, &d->tasks[i]);
        if (!t || !cJSON_AddItemToObject(tasks, d->tasks[i].id, t)) {
            cJSON_Delete(t);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

char *wf_to_json(const struct wf_def *d)
{
    cJSON *o = wf_to_cjson(d);
    char *s = o ? json_print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int wf_check_size(const struct wf_def *d, struct sc_err *err)
{
    char *s = wf_to_json(d);
    if (!s)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    size_t n = strlen(s);
    free(s);
    if (n > WF_STORED_MAX)
        return sc_err_set(err, EINVAL, "", -1,
                          "the workflow is %zu bytes as stored, over the %d bytes a ZooKeeper "
                          "node takes (jute.maxbuffer); shorten commands or split the workflow",
                          n, WF_STORED_MAX);
    return 0;
}

/* ---------------------------------------------------------------- decisions */

/* wf_rule_decide follows Airflow's TriggerRuleDep._evaluate_direct_relatives
 * with flag_upstream_failed set (the scheduler's pass): first the early end
 * (skipped / upstream_failed) a rule takes from the states counted so far,
 * then whether the rule passes (run) or not yet (wait). all_done_min_one_success
 * is Airflow 3.1's. Counts are of finished upstream only, as Airflow's. */
enum wf_decision wf_rule_decide(enum wf_rule r, const enum wf_tstate *up, int nup)
{
    int success = 0, skipped = 0, failed = 0, ufailed = 0;
    if (nup == 0 || r == WF_ALWAYS)
        return WF_RUN;
    for (int i = 0; i < nup; i++)
        switch (up[i]) {
        case WF_T_SUCCEEDED:
            success++;
            break;
        case WF_T_SKIPPED:
            skipped++;
            break;
        case WF_T_FAILED:
        case WF_T_CANCELLED: /* counts as failed (design.md) */
            failed++;
            break;
        case WF_T_UPSTREAM_FAILED:
            ufailed++;
            break;
        default:
            break;
        }
    int done = success + skipped + failed + ufailed;
    bool all_done = done >= nup;
    switch (r) {
    case WF_ALL_SUCCESS:
        if (ufailed || failed)
            return WF_UPSTREAM_FAILED;
        if (skipped)
            return WF_SKIP;
        return success == nup ? WF_RUN : WF_WAIT;
    case WF_ALL_FAILED:
        if (success || skipped)
            return WF_SKIP;
        return failed + ufailed == nup ? WF_RUN : WF_WAIT;
    case WF_ALL_DONE:
        return all_done ? WF_RUN : WF_WAIT;
    case WF_ALL_DONE_MIN_ONE_SUCCESS:
        /* skipped upstream do not count as done for this rule */
        if (skipped)
            return WF_SKIP;
        if (success + failed + ufailed >= nup)
            return success ? WF_RUN : WF_UPSTREAM_FAILED;
        return WF_WAIT;
    case WF_ALL_SKIPPED:
        if (success || failed || ufailed)
            return WF_SKIP;
        return skipped == nup ? WF_RUN : WF_WAIT;
    case WF_ONE_SUCCESS:
        if (all_done && done == skipped)
            return WF_SKIP;
        if (all_done && success == 0)
            return WF_UPSTREAM_FAILED;
        return success ? WF_RUN : WF_WAIT;
    case WF_ONE_FAILED:
        if (all_done && !(failed || ufailed))
            return WF_SKIP;
        return failed || ufailed ? WF_RUN : WF_WAIT;
    case WF_ONE_DONE:
        if (all_done && !(failed || success))
            return WF_SKIP;
        return success + failed > 0 ? WF_RUN : WF_WAIT;
    case WF_NONE_FAILED:
        if (ufailed || failed)
            return WF_UPSTREAM_FAILED;
        return success + skipped == nup ? WF_RUN : WF_WAIT;
    case WF_NONE_FAILED_MIN_ONE_SUCCESS:
        if (ufailed || failed)
            return WF_UPSTREAM_FAILED;
        if (skipped == nup)
            return WF_SKIP;
        return success + skipped == nup ? WF_RUN : WF_WAIT;
    case WF_NONE_SKIPPED:
        if (skipped)
            return WF_SKIP;
        return all_done ? WF_RUN : WF_WAIT;
    case WF_ALWAYS:
    case WF_RULE_COUNT:
        break;
    }
    return WF_RUN;
}

enum wf_rstate wf_run_state(const struct wf_def *d, const enum wf_tstate *st)
{
    bool failed = false;
    for (int i = 0; i < d->ntasks; i++) {
        if (!wf_tstate_done(st[i]))
            return WF_R_RUNNING;
        if (d->tasks[i].ndown == 0 &&
            (st[i] == WF_T_FAILED || st[i] == WF_T_UPSTREAM_FAILED || st[i] == WF_T_CANCELLED))
            failed = true;
    }
    return failed ? WF_R_FAILED : WF_R_SUCCEEDED;
}

/* In topological order every task comes after its upstream, so one pass marks
 * the closure: a task is downstream of i when one of its upstream is marked. */
void wf_downstream_closure(const struct wf_def *d, int i, unsigned char *mark)
{
    if (i < 0 || i >= d->ntasks)
        return;
    mark[i] = 1;
    for (int k = 0; k < d->ntasks; k++) {
        const struct wf_task *t = &d->tasks[d->topo[k]];
        if (mark[d->topo[k]])
            continue;
        for (int u = 0; u < t->nup; u++)
            if (mark[t->up[u]]) {
                mark[d->topo[k]] = 1;
                break;
            }
    }
}

/* Airflow's branch operators refuse a task id that is not directly downstream
 * (the choice would otherwise be silently lost); so does this. The lookup of
 * a line is a binary search of the ascending downstream list. */
int wf_branch_follow(const struct wf_def *d, int i, const char *out, size_t len,
                     unsigned char *follow, struct sc_err *err)
{
    const struct wf_task *t = &d->tasks[i];
    const char *p = out, *end = out + len;
    char id[WF_TASK_ID_MAX + 1];
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        const char *a = p;
        p = nl ? nl + 1 : end;
        while (a < e && (*a == ' ' || *a == '\t'))
            a++;
        while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (a == e)
            continue;
        size_t n = (size_t)(e - a);
        int k = -1;
        if (n <= WF_TASK_ID_MAX && !memchr(a, '\0', n)) {
            memcpy(id, a, n);
            id[n] = '\0';
            int j = wf_task_index(d, id), lo = 0, hi = t->ndown - 1;
            while (j >= 0 && lo <= hi) {
                int mid = (lo + hi) / 2;
                if (t->down[mid] == j) {
                    k = mid;
                    break;
                }
                if (t->down[mid] < j)
                    lo = mid + 1;
                else
                    hi = mid - 1;
            }
        }
        if (k < 0)
            return sc_err_set(err, EINVAL, "", -1,
                              "branch output line %d: \"%.*s\" is not a task directly downstream "
                              "of %s",
                              line, (int)(n > 64 ? 64 : n), a, t->id);
        follow[k] = 1;
    }
    return 0;
}
