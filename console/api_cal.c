/* console/api_cal.c: the business calendar routes (design.md, "Calendars and
 * pause windows"): GET /calendars, GET|PUT|DELETE /calendars/{name}, and
 * GET /jobs/{job}/preview, a job's next fires under its calendar with the
 * fires it skips and why.
 *
 * Reads come from the view's calendar cache (registry/calcache.h); writes go
 * to /calendars/<name> versioned like a job's (409 on a stale version). A
 * calendar that a job names is not deleted (409, naming the jobs). */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "core/calendar.h"
#include "core/cron.h"
#include "core/cron_preview.h"
#include "core/json.h"
#include "core/log.h"

/* ---------------------------------------------------------------- reads */

void api_cal_list(struct creq *r)
{
    const struct calcache *cc = &r->c->view.cals;
    const char *k;
    void *v;
    size_t n = strmap_len(&cc->map), i = 0;
    const struct calendar **all = calloc(n + 1, sizeof *all);
    cJSON *arr = cJSON_CreateArray();
    if (!all || !arr) {
        free(all);
        cJSON_Delete(arr);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    for (size_t it = 0; strmap_next(&cc->map, &it, &k, &v);)
        all[i++] = v;
    /* by name: a stable page */
    for (size_t x = 1; x < i; x++)
        for (size_t y = x; y > 0 && strcmp(all[y - 1]->name, all[y]->name) > 0; y--) {
            const struct calendar *t = all[y];
            all[y] = all[y - 1];
            all[y - 1] = t;
        }
    for (size_t x = 0; x < i; x++)
        cJSON_AddItemToArray(arr, calendar_to_cjson(all[x]));
    free(all);
    creq_json(r, 200, arr);
}

void api_cal_get(struct creq *r, const char *name)
{
    const struct calendar *cal = calcache_get(&r->c->view.cals, name);
    if (!cal) {
        creq_error(r, 404, "name", "no calendar named %s", name);
        return;
    }
    creq_json(r, 200, calendar_to_cjson(cal));
}

/* ---------------------------------------------------------------- writes */

struct calwrite {
    struct creq *r;
    char name[CAL_NAME_MAX + 1];
    char *canon;
    char *before;
    const char *action;
    bool created;
};

static void calwrite_free(struct calwrite *w)
{
    free(w->canon);
    free(w->before);
    free(w);
}

static void cal_written(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct calwrite *w = arg;
    struct creq *r = w->r;
    struct console *c = r->c;
    (void)z;
    if (res->rc != ZOK) {
        c->zk_write_errors++;
        if (res->rc == ZBADVERSION || res->rc == ZNODEEXISTS)
            creq_error(r, 409, "version",
                       "the calendar was changed by someone else meanwhile; reload and retry");
        else if (res->rc == ZNONODE && !w->created)
            creq_error(r, 409, "version", "the calendar was deleted meanwhile");
        else
            creq_error(r, 503, "zookeeper", "write failed: %s", zerror(res->rc));
        calwrite_free(w);
        return;
    }
    c->zk_writes++;
    audit(c, r->sess.user, w->action, "calendar", w->name, w->before, w->canon);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", w->name);
    if (w->canon) {
        cJSON_AddBoolToObject(o, "created", w->created);
        cJSON_AddNumberToObject(o, "version", res->has_stat ? res->stat.version : 0);
        cJSON_AddItemToObject(o, "calendar", cJSON_Parse(w->canon));
    } else {
        cJSON_AddBoolToObject(o, "deleted", true);
    }
    int code = w->created ? 201 : 200;
    calwrite_free(w);
    creq_json(r, code, o);
}

/* PUT: the cache keeps no node version, so a write without If-Match (or
 * "version") replaces the calendar whole, and one with it is checked by
 * ZooKeeper (409 when stale); a create of a name that appeared meanwhile is
 * a 409 too. */
void api_cal_put(struct creq *r, const char *name)
{
    struct console *c = r->c;
    struct sc_err err;
    struct calendar *cal = NULL;
    sc_err_clear(&err);
    cJSON *o = json_parse(r->body, r->blen, &err);
    if (!o) {
        creq_error(r, 400, err.field[0] ? err.field : "body", "invalid JSON at offset %d: %s",
                   err.pos, err.msg);
        return;
    }
    int version = creq_version(r, o);
    if (version == -3) {
        cJSON_Delete(o);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "version");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (cJSON_IsObject(o) && !nm)
        cJSON_AddStringToObject(o, "name", name);
    else if (cJSON_IsObject(o) && (!cJSON_IsString(nm) || strcmp(nm->valuestring, name) != 0)) {
        cJSON_Delete(o);
        creq_error(r, 400, "name", "must match the calendar name in the URL (%s)", name);
        return;
    }
    int rc = calendar_from_cjson(o, &cal, &err);
    cJSON_Delete(o);
    if (rc < 0) {
        creq_error(r, 400, err.field[0] ? err.field : "body", "%s", err.msg);
        return;
    }
    struct calwrite *w = calloc(1, sizeof *w);
    if (!w || !(w->canon = calendar_to_json(cal))) {
        calendar_unref(cal);
        free(w);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    w->r = r;
    snprintf(w->name, sizeof w->name, "%s", name);
    const struct calendar *cur = calcache_get(&c->view.cals, name);
    char path[300];
    snprintf(path, sizeof path, CALCACHE_ROOT "/%s", name);
    int zrc;
    if (!cur && version == -2) {
        w->created = true;
        w->action = "create";
        /* /calendars itself: ensured with the view's roots (console/zkview.c) */
        zrc = zkreg_create(c->z, path, w->canon, (int)strlen(w->canon), 0, cal_written, w);
    } else {
        w->action = "update";
        w->before = cur ? calendar_to_json(cur) : NULL;
        zrc = zkreg_set(c->z, path, w->canon, (int)strlen(w->canon), version < 0 ? -1 : version,
                        cal_written, w);
    }
    calendar_unref(cal);
    if (zrc != ZOK) {
        calwrite_free(w);
        creq_error(r, 503, "zookeeper", "cannot write: %s", zerror(zrc));
    }
}

void api_cal_delete(struct creq *r, const char *name)
{
    struct console *c = r->c;
    const struct calendar *cur = calcache_get(&c->view.cals, name);
    char users[1024] = "", path[300];
    const char *k;
    void *v;
    if (!cur) {
        creq_error(r, 404, "name", "no calendar named %s", name);
        return;
    }
    for (size_t it = 0; strmap_next(&c->view.jobs.map, &it, &k, &v);) {
        const struct zkview_job *j = v;
        size_t used = strlen(users);
        if (j->jc.cfg && strcmp(j->jc.cfg->calendar, name) == 0 &&
            used + strlen(k) + 8 < sizeof users)
            snprintf(users + used, sizeof users - used, "%sjob %s", used ? ", " : "", k);
    }
    if (users[0]) {
        creq_error(r, 409, "name", "calendar %s is in use by %s; change them first", name, users);
        return;
    }
    int version = creq_version(r, NULL);
    if (version == -3)
        return;
    struct calwrite *w = calloc(1, sizeof *w);
    if (!w) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    w->r = r;
    w->action = "delete";
    w->before = calendar_to_json(cur);
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(path, sizeof path, CALCACHE_ROOT "/%s", name);
    int zrc = zkreg_delete(c->z, path, version < 0 ? -1 : version, cal_written, w);
    if (zrc != ZOK) {
        calwrite_free(w);
        creq_error(r, 503, "zookeeper", "cannot delete: %s", zerror(zrc));
    }
}

/* ---------------------------------------------------------------- previews */

int api_cal_sched(struct creq *r, const char *name, const char *rule, const char *shift,
                  struct cal_sched *cs)
{
    int ri = rule && *rule ? calendar_rule_parse(rule) : 0;
    int si = shift && *shift ? calendar_shift_parse(shift) : 0;
    *cs = (struct cal_sched){0};
    if (ri < 0) {
        creq_error(r, 400, "calendar_rule", "must be workdays or holidays (got \"%.40s\")", rule);
        return -EINVAL;
    }
    if (si < 0) {
        creq_error(r, 400, "calendar_shift", "must be none, next or previous (got \"%.40s\")",
                   shift);
        return -EINVAL;
    }
    if (!name || !*name)
        return 0;
    const struct calendar *cal = calcache_get(&r->c->view.cals, name);
    if (!cal) {
        creq_error(r, 400, "calendar", "no calendar named \"%.128s\"", name);
        return -ENOENT;
    }
    *cs = (struct cal_sched){cal, (enum cal_rule)ri, (enum cal_shift)si};
    return 0;
}

void api_job_preview(struct creq *r, const char *name)
{
    struct sc_err err;
    struct cal_sched cs = {0};
    const struct zkview_job *zj = zkview_job(&r->c->view, name);
    const struct job *j = zj ? zj->jc.cfg : NULL;
    const char *ns = creq_arg(r, "n");
    long long n = 10;
    int64_t from;
    int valid;
    sc_err_clear(&err);
    if (!zj) {
        creq_error(r, 404, "name", "no job named %s", name);
        return;
    }
    if (!j) {
        creq_error(r, 409, "job", "the job's stored config is invalid: %s", zj->jc.error);
        return;
    }
    if (!j->cron[0]) {
        creq_error(r, 400, "cron", "the job has no cron: it runs only when triggered");
        return;
    }
    if (ns && *ns) {
        char *end;
        n = strtoll(ns, &end, 10);
        if (*end || n < 1 || n > CRON_PREVIEW_MAX) {
            creq_error(r, 400, "n", "must be between 1 and %d", CRON_PREVIEW_MAX);
            return;
        }
    }
    if (j->calendar[0] && api_cal_sched(r, j->calendar, calendar_rule_name(j->calendar_rule),
                                        calendar_shift_name(j->calendar_shift), &cs) < 0)
        return;
    const tz_zone *z = console_zone(r->c, j->timezone, &err);
    if (!z || cron_preview_from(creq_arg(r, "from"), z, console_now_ms() / 1000, &from, &err) < 0) {
        creq_error(r, 400, err.field[0] ? err.field : "from", "%s", err.msg);
        return;
    }
    cJSON *o = cron_preview_cal_json(j->cron, z, &cs, from, (int)n, &valid);
    if (o)
        cJSON_AddStringToObject(o, "job", j->name);
    creq_json(r, valid ? 200 : 400, o);
}
