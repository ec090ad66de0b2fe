/* core/cron_preview.c: builds the preview JSON shared by the CLI and the console. */
#include "core/cron_preview.h"

#include <errno.h>
#include <stdlib.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/err.h"

int cron_preview_from(const char *text, const tz_zone *z, int64_t now, int64_t *out,
                      struct sc_err *err)
{
    int64_t civil, utc;
    if (!text) {
        *out = now;
        return 0;
    }
    if (text[0] == '@') {
        char *end;
        errno = 0;
        long long v = strtoll(text + 1, &end, 10);
        if (errno || end == text + 1 || *end)
            return sc_err_set(err, EINVAL, "from", -1, "from: \"%s\" is not @EPOCH_SECONDS", text);
        *out = v;
        return 0;
    }
    if (tz_parse_civil(text, &civil) < 0)
        return sc_err_set(err, EINVAL, "from", -1,
                          "from: \"%s\" is not 'YYYY-MM-DD HH:MM:SS' or @EPOCH_SECONDS", text);
    if (tz_from_local(z, civil, &utc) == -ENOENT)
        utc -= 1; /* fire times from the jump on, the jump's instant included */
    *out = utc;
    return 0;
}

cJSON *cron_error_json(const struct sc_err *err)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddBoolToObject(o, "valid", 0) || !cJSON_AddStringToObject(o, "error", err->msg) ||
        (err->field[0] && !cJSON_AddStringToObject(o, "field", err->field)) ||
        (err->pos >= 0 && !cJSON_AddNumberToObject(o, "position", err->pos))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *cron_preview_json(const char *expr, const tz_zone *z, int64_t from, int n, int *valid)
{
    return cron_preview_cal_json(expr, z, NULL, from, n, valid);
}

cJSON *cron_preview_cal_json(const char *expr, const tz_zone *z, const struct cal_sched *cs,
                             int64_t from, int n, int *valid)
{
    struct sc_err err;
    cron_expr *e = NULL;
    cJSON *o = NULL, *next, *epochs, *offsets;

    sc_err_clear(&err);
    *valid = 0;
    if (n < 1 || n > CRON_PREVIEW_MAX) {
        sc_err_set(&err, EINVAL, "n", -1, "n: must be between 1 and %d", CRON_PREVIEW_MAX);
        return cron_error_json(&err);
    }
    if (cron_parse(expr, &e, &err) < 0)
        return cron_error_json(&err);
    if (!(o = cJSON_CreateObject()) || !cJSON_AddBoolToObject(o, "valid", 1) ||
        !cJSON_AddStringToObject(o, "expression", expr) ||
        !cJSON_AddStringToObject(o, "timezone", tz_name(z)) ||
        !(next = cJSON_AddArrayToObject(o, "next")) ||
        !(epochs = cJSON_AddArrayToObject(o, "next_epoch")) ||
        !(offsets = cJSON_AddArrayToObject(o, "next_offset")))
        goto err;
    int64_t t = from, last = -1;
    for (int i = 0; i < n; i++) {
        char buf[40], ob[16];
        t = calendar_next(e, z, cs, t);
        if (t < 0)
            break;
        last = t;
        int off = tz_offset(z, t);
        tz_format_civil(t + off, buf, sizeof buf);
        tz_format_offset(off, ob, sizeof ob);
        cJSON *s = cJSON_CreateString(buf), *num = cJSON_CreateNumber((double)t),
              *os = cJSON_CreateString(ob);
        if (!s || !num || !os) {
            cJSON_Delete(s);
            cJSON_Delete(num);
            cJSON_Delete(os);
            goto err;
        }
        cJSON_AddItemToArray(next, s);
        cJSON_AddItemToArray(epochs, num);
        cJSON_AddItemToArray(offsets, os);
    }
    if (cs && cs->cal) {
        bool more;
        int64_t to = last < 0 ? from + 366 * 86400LL : last;
        cJSON *sk = calendar_preview_skipped(e, z, cs, from, to, n, &more);
        if (!sk || !cJSON_AddStringToObject(o, "calendar", cs->cal->name) ||
            !cJSON_AddStringToObject(o, "calendar_rule", calendar_rule_name(cs->rule)) ||
            !cJSON_AddStringToObject(o, "calendar_shift", calendar_shift_name(cs->shift))) {
            cJSON_Delete(sk);
            goto err;
        }
        cJSON_AddItemToObject(o, "skipped", sk);
        if (more)
            cJSON_AddBoolToObject(o, "skipped_more", 1);
    }
    cron_free(e);
    *valid = 1;
    return o;
err:
    cron_free(e);
    cJSON_Delete(o);
    return NULL;
}
