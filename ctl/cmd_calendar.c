/* ctl/cmd_calendar.c: `shardcronctl calendar put|get|list|delete` and
 * `shardcronctl job preview`, the business calendars at /calendars/<name>
 * (core/calendar.h) and what they do to a job's fires.
 *
 * A calendar's writes are versioned like a job's; agents and consoles follow
 * /calendars through watches (registry/calcache.h). A calendar that a job or
 * a workflow names is not deleted (the refusal names them). */
#define LOG_CAT "shardcron.ctl"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/cron_preview.h"
#include "core/job.h"
#include "core/json.h"
#include "ctl/ctl.h"
#include "registry/calcache.h"
#include "registry/zkcli.h"
#include "workflow/wf.h"

/* ---------------------------------------------------------------- shared */

struct calendar *ctl_calendar_load(struct zkcli *k, const char *name)
{
    char path[300], *data = NULL, msg[512];
    struct calendar *cal = NULL;
    struct sc_err err;
    if (!calendar_name_valid(name)) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid calendar name\n", name);
        return NULL;
    }
    snprintf(path, sizeof path, CALCACHE_ROOT "/%s", name);
    int zrc = zkcli_get(k, path, &data, NULL, NULL);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no calendar named %s\n", name);
        return NULL;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: reading %s: %s\n", path, zerror(zrc));
        return NULL;
    }
    sc_err_clear(&err);
    if (calendar_parse(data, strlen(data), &cal, &err) < 0)
        fprintf(stderr, "shardcronctl: calendar %s holds an invalid config: %s\n", name,
                sc_err_format(&err, msg, sizeof msg));
    free(data);
    return cal;
}

int ctl_calendar_check(struct zkcli *k, const char *what, const char *name, const char *calendar)
{
    char path[300];
    if (!calendar || !calendar[0])
        return CTL_OK;
    snprintf(path, sizeof path, CALCACHE_ROOT "/%s", calendar);
    int zrc = zkcli_exists(k, path, NULL);
    if (zrc == ZOK)
        return CTL_OK;
    if (zrc == ZNONODE) {
        fprintf(stderr,
                "shardcronctl: invalid %s %s: calendar: no calendar named \"%s\" (shardcronctl "
                "calendar list)\n",
                what, name, calendar);
        return CTL_INVALID;
    }
    fprintf(stderr, "shardcronctl: reading %s: %s\n", path, zerror(zrc));
    return CTL_ERR;
}

/* ---------------------------------------------------------------- put / get / list */

int ctl_calendar_put(const struct cfg *c, int nargs, char **args)
{
    size_t len = 0;
    struct calendar *cal = NULL;
    struct sc_err err;
    char msg[512];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "calendar put FILE|-")) != CTL_OK)
        return rc;
    char *text = ctl_read_doc(args[0], 1u << 20, "a calendar", &len, &rc);
    if (!text)
        return rc;
    sc_err_clear(&err);
    rc = calendar_parse(text, len, &cal, &err);
    free(text);
    if (rc < 0) {
        fprintf(stderr, "shardcronctl: invalid calendar: %s\n",
                sc_err_format(&err, msg, sizeof msg));
        return CTL_INVALID;
    }
    char *canon = calendar_to_json(cal);
    struct zkcli *k = canon ? ctl_connect_zk_create(c) : NULL;
    if (!k) {
        rc = CTL_ERR;
        goto out;
    }
    if (strlen(canon) > CAL_STORED_MAX) {
        fprintf(stderr, "shardcronctl: invalid calendar: %zu bytes as stored, over %d\n",
                strlen(canon), CAL_STORED_MAX);
        rc = CTL_INVALID;
        goto out;
    }
    int version;
    if ((rc = ctl_put_node(k, CALCACHE_ROOT, cal->name, canon, "calendar", &version)) == CTL_OK) {
        if (version == 0)
            printf("calendar %s created\n", cal->name);
        else
            printf("calendar %s updated (version %d)\n", cal->name, version);
    }
out:
    free(canon);
    calendar_unref(cal);
    zkcli_close(k);
    return rc;
}

int ctl_calendar_get(const struct cfg *c, int nargs, char **args)
{
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "calendar get NAME")) != CTL_OK)
        return rc;
    if (!calendar_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid calendar name\n", args[0]);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    struct calendar *cal = k ? ctl_calendar_load(k, args[0]) : NULL;
    zkcli_close(k);
    if (!cal)
        return CTL_ERR;
    cJSON *o = calendar_to_cjson(cal);
    char *pretty = o ? cJSON_Print(o) : NULL;
    if (pretty)
        printf("%s\n", pretty);
    free(pretty);
    cJSON_Delete(o);
    calendar_unref(cal);
    return pretty ? CTL_OK : CTL_ERR;
}

int ctl_calendar_list(const struct cfg *c, int nargs, char **args)
{
    char **names = NULL;
    int n = 0;
    (void)nargs, (void)args;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    int zrc = zkcli_children(k, CALCACHE_ROOT, &names, &n);
    if (zrc != ZOK && zrc != ZNONODE) {
        fprintf(stderr, "shardcronctl: listing " CALCACHE_ROOT ": %s\n", zerror(zrc));
        zkcli_close(k);
        return CTL_ERR;
    }
    bool json = ctl_json_out(c);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-32s %-24s %8s %8s  %s\n", "NAME", "TIMEZONE", "HOLIDAYS", "WORKDAYS", "WEEKEND");
    for (int i = 0; i < n; i++) {
        struct calendar *cal = ctl_calendar_load(k, names[i]);
        if (!cal)
            continue;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", cal->name);
            cJSON_AddStringToObject(o, "timezone", cal->timezone);
            cJSON_AddNumberToObject(o, "holidays", cal->nholidays);
            cJSON_AddNumberToObject(o, "workdays", cal->nworkdays);
            cJSON_AddItemToArray(arr, o);
        } else {
            cJSON *full = calendar_to_cjson(cal);
            char *we = full ? json_print(cJSON_GetObjectItem(full, "weekend")) : NULL;
            printf("%-32s %-24s %8d %8d  %s\n", cal->name, cal->timezone, cal->nholidays,
                   cal->nworkdays, we ? we : "");
            free(we);
            cJSON_Delete(full);
        }
        calendar_unref(cal);
    }
    if (json) {
        char *s = json_print(arr);
        printf("%s\n", s ? s : "[]");
        free(s);
        cJSON_Delete(arr);
    }
    zkcli_free_children(names, n);
    zkcli_close(k);
    return CTL_OK;
}

/* ---------------------------------------------------------------- delete */

/* users: append to `out` the jobs (and workflows) under `root` that name
 * calendar `name` ("job a, workflow w"). */
static void users(struct zkcli *k, const char *root, const char *name, char *out, size_t len)
{
    char **names = NULL, path[300], *data = NULL;
    int n = 0;
    bool jobs = strcmp(root, "/jobs") == 0;
    if (zkcli_children(k, root, &names, &n) != ZOK)
        return;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", root, names[i]);
        if (zkcli_get(k, path, &data, NULL, NULL) != ZOK)
            continue;
        struct sc_err err;
        const char *cal = NULL;
        struct job *j = NULL;
        struct wf_def *w = NULL;
        if (jobs && job_parse(data, strlen(data), &j, &err) == 0)
            cal = j->calendar;
        else if (!jobs && wf_parse(data, strlen(data), &w, &err) == 0)
            cal = w->calendar;
        if (cal && strcmp(cal, name) == 0) {
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s%s %s", used ? ", " : "", jobs ? "job" : "workflow",
                     names[i]);
        }
        job_free(j);
        wf_free(w);
        free(data);
        data = NULL;
    }
    zkcli_free_children(names, n);
}

int ctl_calendar_delete(const struct cfg *c, int nargs, char **args)
{
    char path[300], named[2048] = "";
    struct Stat st;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "calendar delete NAME")) != CTL_OK)
        return rc;
    if (!calendar_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid calendar name\n", args[0]);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    snprintf(path, sizeof path, CALCACHE_ROOT "/%s", args[0]);
    int zrc = zkcli_exists(k, path, &st);
    if (zrc == ZOK) {
        users(k, "/jobs", args[0], named, sizeof named);
        users(k, "/workflows", args[0], named, sizeof named);
        if (named[0]) {
            fprintf(stderr, "shardcronctl: calendar %s is in use by %s; change them first\n",
                    args[0], named);
            zkcli_close(k);
            return CTL_ERR;
        }
        zrc = zkcli_delete(k, path, st.version);
    }
    zkcli_close(k);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no calendar named %s\n", args[0]);
        return CTL_ERR;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: deleting %s: %s\n", path,
                zrc == ZBADVERSION ? "changed concurrently; retry" : zerror(zrc));
        return CTL_ERR;
    }
    printf("calendar %s deleted\n", args[0]);
    return CTL_OK;
}

/* ---------------------------------------------------------------- job preview */

int ctl_job_preview(const struct cfg *c, int nargs, char **args)
{
    char path[300], *data = NULL, msg[512];
    struct job *j = NULL;
    struct calendar *cal = NULL;
    tz_zone *z = NULL;
    struct sc_err err;
    long long n = 10;
    int64_t from;
    int rc = CTL_ERR;
    if ((rc = ctl_need_args(nargs, 1, "job preview NAME [-n N]")) != CTL_OK)
        return rc;
    sc_err_clear(&err);
    if (!job_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid job name\n", args[0]);
        return CTL_INVALID;
    }
    if (cfg_int(c, "n", 1, CRON_PREVIEW_MAX, &n, &err) == -EINVAL) {
        fprintf(stderr, "shardcronctl: n: must be between 1 and %d\n", CRON_PREVIEW_MAX);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    rc = CTL_ERR;
    snprintf(path, sizeof path, "/jobs/%s", args[0]);
    int zrc = zkcli_get(k, path, &data, NULL, NULL);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no job named %s\n", args[0]);
        goto out;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: reading %s: %s\n", path, zerror(zrc));
        goto out;
    }
    if (job_parse(data, strlen(data), &j, &err) < 0) {
        fprintf(stderr, "shardcronctl: job %s holds an invalid config: %s\n", args[0],
                sc_err_format(&err, msg, sizeof msg));
        goto out;
    }
    if (!j->cron[0]) {
        fprintf(stderr, "shardcronctl: job %s has no cron: it runs only when triggered\n", args[0]);
        goto out;
    }
    if (j->calendar[0] && !(cal = ctl_calendar_load(k, j->calendar)))
        goto out;
    if (!(z = tz_load(j->timezone, &err)) ||
        cron_preview_from(cfg_str(c, "from"), z, (int64_t)time(NULL), &from, &err) < 0) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = CTL_INVALID;
        goto out;
    }
    struct cal_sched cs = {cal, j->calendar_rule, j->calendar_shift};
    int valid;
    cJSON *o = cron_preview_cal_json(j->cron, z, &cs, from, (int)n, &valid);
    if (!o)
        goto out;
    cJSON_AddStringToObject(o, "job", j->name);
    rc = ctl_print_preview(c, o);
out:
    tz_free(z);
    calendar_unref(cal);
    job_free(j);
    free(data);
    zkcli_close(k);
    return rc;
}
