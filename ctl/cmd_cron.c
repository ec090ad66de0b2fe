/* ctl/cmd_cron.c: `shardcronctl cron preview` and `shardcronctl cron check`.
 *
 * Thin layer over core/cron, core/tz and core/cron_preview (which builds the JSON the
 * console serves too): text for people, or with --format json the object design.md
 * fixes ({"valid":true,"expression","timezone","next","next_epoch"}, plus "next_offset";
 * invalid input: exit 2 and {"valid":false,"error","position"}). */
#define LOG_CAT "shardcron.ctl"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/cron_preview.h"
#include "core/err.h"
#include "core/json.h"
#include "core/tz.h"
#include "ctl/ctl.h"
#include "registry/zkcli.h"

/* join_args: the operands joined by single spaces (an unquoted expression arrives
 * as several words). The caller frees the result. */
static char *join_args(int nargs, char **args)
{
    size_t len = 1;
    for (int i = 0; i < nargs; i++)
        len += strlen(args[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < nargs; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, args[i]);
    }
    return s;
}

/* print_json: print and free `o`; CTL_ERR when it could not be built. */
static int print_json(cJSON *o, int rc)
{
    char *s = o ? json_print(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "shardcronctl: out of memory\n");
        return CTL_ERR;
    }
    printf("%s\n", s);
    free(s);
    return rc;
}

/* report_invalid: print the fault in the requested format; returns CTL_INVALID. */
static int report_invalid(int json, const char *expr, const struct sc_err *err)
{
    if (json)
        return print_json(cron_error_json(err), CTL_INVALID);
    fprintf(stderr, "INVALID: %s", err->msg);
    if (err->pos >= 0)
        fprintf(stderr, " (at position %d)", err->pos);
    fprintf(stderr, "\n");
    if (expr && err->pos >= 0 && (size_t)err->pos <= strlen(expr))
        fprintf(stderr, "  %s\n  %*s^\n", expr, err->pos, "");
    return CTL_INVALID;
}

static int want_json(const struct cfg *c, int *json)
{
    const char *f = cfg_str(c, "format");
    if (!f || strcmp(f, "text") == 0)
        *json = 0;
    else if (strcmp(f, "json") == 0)
        *json = 1;
    else {
        fprintf(stderr, "shardcronctl: format: must be text or json, not \"%s\"\n", f);
        return -EINVAL;
    }
    return 0;
}

int ctl_print_preview(const struct cfg *c, cJSON *o)
{
    const cJSON *valid = cJSON_GetObjectItem(o, "valid"), *it;
    if (ctl_json_out(c) || !cJSON_IsTrue(valid))
        return print_json(o, cJSON_IsTrue(valid) ? CTL_OK : CTL_INVALID);
    const cJSON *next = cJSON_GetObjectItem(o, "next"),
                *offs = cJSON_GetObjectItem(o, "next_offset");
    const cJSON *job = cJSON_GetObjectItem(o, "job"), *cal = cJSON_GetObjectItem(o, "calendar");
    if (cJSON_IsString(job))
        printf("job: %s\n", job->valuestring);
    printf("OK: %s\ntime zone: %s\n", cJSON_GetObjectItem(o, "expression")->valuestring,
           cJSON_GetObjectItem(o, "timezone")->valuestring);
    if (cJSON_IsString(cal))
        printf("calendar: %s (%s, shift %s)\n", cal->valuestring,
               cJSON_GetObjectItem(o, "calendar_rule")->valuestring,
               cJSON_GetObjectItem(o, "calendar_shift")->valuestring);
    for (int i = 0; i < cJSON_GetArraySize(next); i++)
        printf("%s %s\n", cJSON_GetArrayItem(next, i)->valuestring,
               cJSON_GetArrayItem(offs, i)->valuestring);
    const cJSON *sk = cJSON_GetObjectItem(o, "skipped");
    if (cJSON_GetArraySize(sk) > 0) {
        printf("skipped:\n");
        cJSON_ArrayForEach(it, sk)
        {
            printf("%s  %s\n", cJSON_GetObjectItem(it, "time")->valuestring,
                   cJSON_GetObjectItem(it, "reason")->valuestring);
        }
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "skipped_more")))
            printf("(more skipped)\n");
    }
    cJSON_Delete(o);
    return CTL_OK;
}

/* preview_calendar: --calendar NAME [--calendar-rule R] [--calendar-shift S]
 * into cs (a calendar read from ZooKeeper); 0, or a CTL_* status after
 * printing why not. */
static int preview_calendar(const struct cfg *c, struct cal_sched *cs)
{
    const char *name = cfg_str(c, "calendar"), *rule = cfg_str(c, "calendar_rule"),
               *shift = cfg_str(c, "calendar_shift");
    int r = rule ? calendar_rule_parse(rule) : 0, s = shift ? calendar_shift_parse(shift) : 0;
    *cs = (struct cal_sched){0};
    if (r < 0 || s < 0 || (!name && (rule || shift))) {
        fprintf(stderr, "shardcronctl: %s\n",
                r < 0   ? "calendar-rule: must be workdays or holidays"
                : s < 0 ? "calendar-shift: must be none, next or previous"
                        : "calendar-rule and calendar-shift need --calendar NAME");
        return CTL_INVALID;
    }
    if (!name)
        return CTL_OK;
    struct zkcli *k = ctl_connect_zk(c);
    struct calendar *cal = k ? ctl_calendar_load(k, name) : NULL;
    zkcli_close(k);
    if (!cal)
        return CTL_ERR;
    *cs = (struct cal_sched){cal, (enum cal_rule)r, (enum cal_shift)s};
    return CTL_OK;
}

int ctl_cron_preview(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    cron_expr *e = NULL;
    tz_zone *z = NULL;
    const char *zname = cfg_str(c, "tz") ? cfg_str(c, "tz") : "UTC";
    long long n = 10;
    int64_t from = 0;
    int json, rc = CTL_INVALID;
    char *expr = NULL;
    struct cal_sched cs = {0};

    sc_err_clear(&err);
    if (want_json(c, &json) < 0)
        return CTL_INVALID;
    if (nargs < 1) {
        fprintf(stderr, "usage: shardcronctl cron preview EXPR [--tz ZONE] [--from TIME] [-n N] "
                        "[--format text|json]\n");
        return CTL_INVALID;
    }
    if (cfg_int(c, "n", 1, CRON_PREVIEW_MAX, &n, &err) == -EINVAL) {
        sc_err_set(&err, EINVAL, "n", -1, "n: must be between 1 and %d", CRON_PREVIEW_MAX);
        return report_invalid(json, NULL, &err);
    }
    if (!(expr = join_args(nargs, args)))
        return CTL_ERR;
    if (cron_parse(expr, &e, &err) < 0) {
        rc = report_invalid(json, expr, &err);
        goto out;
    }
    if (!(z = tz_load(zname, &err)) ||
        cron_preview_from(cfg_str(c, "from"), z, (int64_t)time(NULL), &from, &err) < 0) {
        rc = report_invalid(json, NULL, &err);
        goto out;
    }
    if ((rc = preview_calendar(c, &cs)) != CTL_OK)
        goto out;
    int valid;
    cJSON *o = cron_preview_cal_json(expr, z, &cs, from, (int)n, &valid);
    rc = o ? ctl_print_preview(c, o) : CTL_ERR;
out:
    calendar_unref((struct calendar *)cs.cal);
    cron_free(e);
    tz_free(z);
    free(expr);
    return rc;
}

int ctl_cron_check(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    cron_expr *e = NULL;
    int json, rc;

    sc_err_clear(&err);
    if (want_json(c, &json) < 0)
        return CTL_INVALID;
    if (nargs < 1) {
        fprintf(stderr, "usage: shardcronctl cron check EXPR\n");
        return CTL_INVALID;
    }
    char *expr = join_args(nargs, args);
    if (!expr)
        return CTL_ERR;
    if (cron_parse(expr, &e, &err) < 0) {
        rc = report_invalid(json, expr, &err);
    } else if (json) {
        cJSON *o = cJSON_CreateObject();
        if (o && (!cJSON_AddBoolToObject(o, "valid", 1) ||
                  !cJSON_AddStringToObject(o, "expression", expr))) {
            cJSON_Delete(o);
            o = NULL;
        }
        rc = print_json(o, CTL_OK);
    } else {
        printf("OK: %s\n", expr);
        rc = CTL_OK;
    }
    cron_free(e);
    free(expr);
    return rc;
}
