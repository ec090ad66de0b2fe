/* core/json.c: typed, field-naming access to cJSON trees. */
#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

cJSON *json_parse(const char *buf, size_t len, struct sc_err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        int pos = end ? (int)(end - buf) : 0;
        if (pos < 0 || (size_t)pos > len)
            pos = 0;
        sc_err_set(err, EINVAL, "", pos, "malformed JSON");
        return NULL;
    }
    /* Anything but whitespace after the value is an error too. */
    while (end && (size_t)(end - buf) < len && strchr(" \t\r\n", *end) && *end)
        end++;
    if (end && (size_t)(end - buf) < len) {
        cJSON_Delete(root);
        sc_err_set(err, EINVAL, "", (int)(end - buf), "unexpected data after the JSON value");
        return NULL;
    }
    return root;
}

/* lookup: the member, or NULL when absent or null (case-sensitive keys). */
static const cJSON *lookup(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (it && !cJSON_IsNull(it)) ? it : NULL;
}

static int absent(const char *key, int required, struct sc_err *err)
{
    if (required)
        return sc_err_set(err, EINVAL, key, -1, "is required");
    return -ENOENT;
}

int json_get_str(const cJSON *obj, const char *key, int required, const char **out,
                 struct sc_err *err)
{
    const cJSON *it = lookup(obj, key);
    if (!it)
        return absent(key, required, err);
    if (!cJSON_IsString(it))
        return sc_err_set(err, EINVAL, key, -1, "must be a string");
    *out = it->valuestring;
    return 0;
}

int json_get_int(const cJSON *obj, const char *key, int required, long long min, long long max,
                 long long *out, struct sc_err *err)
{
    const cJSON *it = lookup(obj, key);
    if (!it)
        return absent(key, required, err);
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
        fabs(it->valuedouble) > 9.0e15)
        return sc_err_set(err, EINVAL, key, -1, "must be an integer");
    long long v = (long long)it->valuedouble;
    if (v < min || v > max)
        return sc_err_set(err, EINVAL, key, -1, "must be between %lld and %lld (got %lld)", min,
                          max, v);
    *out = v;
    return 0;
}

int json_get_bool(const cJSON *obj, const char *key, int required, bool *out, struct sc_err *err)
{
    const cJSON *it = lookup(obj, key);
    if (!it)
        return absent(key, required, err);
    if (!cJSON_IsBool(it))
        return sc_err_set(err, EINVAL, key, -1, "must be true or false");
    *out = cJSON_IsTrue(it);
    return 0;
}

int json_get_obj(const cJSON *obj, const char *key, int required, const cJSON **out,
                 struct sc_err *err)
{
    const cJSON *it = lookup(obj, key);
    if (!it)
        return absent(key, required, err);
    if (!cJSON_IsObject(it))
        return sc_err_set(err, EINVAL, key, -1, "must be an object");
    *out = it;
    return 0;
}

int json_get_arr(const cJSON *obj, const char *key, int required, const cJSON **out,
                 struct sc_err *err)
{
    const cJSON *it = lookup(obj, key);
    if (!it)
        return absent(key, required, err);
    if (!cJSON_IsArray(it))
        return sc_err_set(err, EINVAL, key, -1, "must be an array");
    *out = it;
    return 0;
}

int json_check_fields(const cJSON *obj, const char *const *allowed, struct sc_err *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            if (it->string && strcmp(it->string, *a) == 0) {
                known = 1;
                break;
            }
        if (!known)
            return sc_err_set(err, EINVAL, it->string ? it->string : "?", -1, "unknown field");
    }
    return 0;
}

void json_err_prefix(struct sc_err *err, const char *prefix)
{
    char tmp[2 * sizeof err->field];
    if (!err)
        return;
    snprintf(tmp, sizeof tmp, "%s%s%s", prefix, err->field[0] ? "." : "", err->field);
    snprintf(err->field, sizeof err->field, "%.*s", (int)sizeof err->field - 1, tmp);
}

char *json_print(const cJSON *item)
{
    return cJSON_PrintUnformatted(item);
}
