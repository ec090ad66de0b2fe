/* ctl/cmd_cron.c: `shardcronctl cron preview` and `shardcronctl cron check`.
 *
 * Thin layer over core/cron and core/tz: parse the expression, load the zone, print
 * the next fire times as text for people or as the JSON object design.md fixes
 * ({"valid":true,"expression","timezone","next","next_epoch"}; invalid input:
 * exit 2 and {"valid":false,"error","position"}). */
#define LOG_CAT "shardcron.ctl"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"
#include "core/err.h"
#include "core/json.h"
#include "core/tz.h"
#include "ctl/ctl.h"

#define PREVIEW_MAX 1000

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

static int json_out(cJSON *o)
{
    char *s = json_print(o);
    cJSON_Delete(o);
    if (!s)
        return -ENOMEM;
    printf("%s\n", s);
    free(s);
    return 0;
}

/* report_invalid: print the fault in the requested format; returns CTL_INVALID. */
static int report_invalid(int json, const char *expr, const struct sc_err *err)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "valid", 0);
        cJSON_AddStringToObject(o, "error", err->msg);
        if (err->field[0])
            cJSON_AddStringToObject(o, "field", err->field);
        if (err->pos >= 0)
            cJSON_AddNumberToObject(o, "position", err->pos);
        json_out(o);
        return CTL_INVALID;
    }
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

/* parse_from: --from TIME -> the UTC instant after which fire times are listed. */
static int parse_from(const char *s, const tz_zone *z, int64_t *out, struct sc_err *err)
{
    int64_t civil, utc;
    if (!s) {
        *out = (int64_t)time(NULL);
        return 0;
    }
    if (s[0] == '@') {
        char *end;
        errno = 0;
        long long v = strtoll(s + 1, &end, 10);
        if (errno || end == s + 1 || *end)
            return sc_err_set(err, EINVAL, "from", -1, "from: \"%s\" is not @EPOCH_SECONDS", s);
        *out = v;
        return 0;
    }
    if (tz_parse_civil(s, &civil) < 0)
        return sc_err_set(err, EINVAL, "from", -1,
                          "from: \"%s\" is not 'YYYY-MM-DD HH:MM:SS' or @EPOCH_SECONDS", s);
    /* A wall time skipped by DST: list what fires from the jump on. Repeated: the
     * first occurrence. */
    if (tz_from_local(z, civil, &utc) == -ENOENT)
        utc -= 1;
    *out = utc;
    return 0;
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

    sc_err_clear(&err);
    if (want_json(c, &json) < 0)
        return CTL_INVALID;
    if (nargs < 1) {
        fprintf(stderr, "usage: shardcronctl cron preview EXPR [--tz ZONE] [--from TIME] [-n N] "
                        "[--format text|json]\n");
        return CTL_INVALID;
    }
    if (cfg_int(c, "n", 1, PREVIEW_MAX, &n, &err) == -EINVAL) {
        snprintf(err.msg, sizeof err.msg, "n: must be between 1 and %d", PREVIEW_MAX);
        err.pos = -1;
        return report_invalid(json, NULL, &err);
    }
    expr = join_args(nargs, args);
    if (!expr)
        return CTL_ERR;
    if (cron_parse(expr, &e, &err) < 0) {
        rc = report_invalid(json, expr, &err);
        goto out;
    }
    if (!(z = tz_load(zname, &err)) || parse_from(cfg_str(c, "from"), z, &from, &err) < 0) {
        err.pos = -1;
        rc = report_invalid(json, NULL, &err);
        goto out;
    }

    cJSON *o = json ? cJSON_CreateObject() : NULL, *next = NULL, *epochs = NULL;
    if (json) {
        cJSON_AddBoolToObject(o, "valid", 1);
        cJSON_AddStringToObject(o, "expression", expr);
        cJSON_AddStringToObject(o, "timezone", tz_name(z));
        next = cJSON_AddArrayToObject(o, "next");
        epochs = cJSON_AddArrayToObject(o, "next_epoch");
    } else {
        printf("OK: %s\ntime zone: %s\n", expr, tz_name(z));
    }
    int64_t t = from;
    for (long long i = 0; i < n; i++) {
        t = cron_next(e, t, z);
        if (t < 0)
            break;
        char buf[40];
        int off = tz_offset(z, t);
        tz_format_civil(t + off, buf, sizeof buf);
        if (json) {
            cJSON_AddItemToArray(next, cJSON_CreateString(buf));
            cJSON_AddItemToArray(epochs, cJSON_CreateNumber((double)t));
        } else {
            int a = off < 0 ? -off : off;
            printf("%s %c%02d:%02d\n", buf, off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
        }
    }
    if (json && json_out(o) < 0) {
        rc = CTL_ERR;
        goto out;
    }
    rc = CTL_OK;
out:
    cron_free(e);
    tz_free(z);
    free(expr);
    return rc;
}

int ctl_cron_check(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    cron_expr *e = NULL;
    int json;

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
    int rc = cron_parse(expr, &e, &err);
    if (rc < 0) {
        rc = report_invalid(json, expr, &err);
    } else if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "valid", 1);
        cJSON_AddStringToObject(o, "expression", expr);
        rc = json_out(o) < 0 ? CTL_ERR : CTL_OK;
    } else {
        printf("OK: %s\n", expr);
        rc = CTL_OK;
    }
    cron_free(e);
    free(expr);
    return rc;
}
