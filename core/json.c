/* core/json.c: typed, field-naming access to cJSON trees, and the parser every
 * module reads JSON with (cJSON plus the text check below). */
#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the text check
 *
 * cJSON takes "\u0000" and ends the C string there ("echo a\u0000; rm -rf /" is
 * read as "echo a"), passes bytes that are not UTF-8 through, and of two equal
 * keys keeps both, every lookup finding the first. json_parse refuses all three
 * after cJSON has accepted the syntax, naming the member ("alert.webhook",
 * "labels[2]") so the error says which field is wrong. */

struct lint {
    const unsigned char *base, *p, *end;
    char path[96];
    struct sc_err *err;
};

struct lint_key {
    char *s;
    size_t n;
    int pos;
};

static int lint_fail(struct lint *L, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lint_fail(struct lint *L, const unsigned char *at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sc_err_set(L->err, EINVAL, L->path, (int)(at - L->base), "%s", msg);
}

static void lint_ws(struct lint *L)
{
    while (L->p < L->end && (*L->p == ' ' || *L->p == '\t' || *L->p == '\n' || *L->p == '\r'))
        L->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* utf8_len: the length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = *p;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* lint_string: L->p at the opening quote; on return after the closing one. With
 * `key`, the decoded bytes (escapes resolved) are returned for the duplicate
 * check, the caller's to free. */
static int lint_string(struct lint *L, struct lint_key *key)
{
    const unsigned char *start = L->p++, *q = L->p;
    char *d = NULL;
    size_t dn = 0;
    while (q < L->end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    /* decoding never lengthens: the raw text bounds the key's bytes */
    if (key && !(d = malloc((size_t)(q - start) + 1)))
        return sc_err_set(L->err, ENOMEM, L->path, -1, "out of memory");
    while (L->p < L->end && *L->p != '"') {
        const unsigned char *at = L->p;
        if (*L->p == '\\') {
            unsigned char e = L->p[1];
            if (e != 'u') {
                if (d) {
                    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
                    const char *f = strchr(from, e);
                    d[dn++] = f ? to[f - from] : (char)e;
                }
                L->p += 2;
                continue;
            }
            unsigned u, u2;
            if (hex4(L->p + 2, L->end, &u) < 0)
                goto bad_escape;
            L->p += 6;
            if (u == 0) {
                free(d);
                return lint_fail(L, at, "holds a NUL character (\\u0000), which no field may hold");
            }
            if (u >= 0xdc00 && u <= 0xdfff)
                goto lone;
            if (u >= 0xd800 && u <= 0xdbff) {
                if (L->end - L->p < 6 || L->p[0] != '\\' || L->p[1] != 'u' ||
                    hex4(L->p + 2, L->end, &u2) < 0 || u2 < 0xdc00 || u2 > 0xdfff)
                    goto lone;
                L->p += 6;
                u = 0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00);
            }
            if (d) { /* UTF-8 of u */
                if (u < 0x80)
                    d[dn++] = (char)u;
                else if (u < 0x800) {
                    d[dn++] = (char)(0xc0 | (u >> 6));
                    d[dn++] = (char)(0x80 | (u & 0x3f));
                } else if (u < 0x10000) {
                    d[dn++] = (char)(0xe0 | (u >> 12));
                    d[dn++] = (char)(0x80 | ((u >> 6) & 0x3f));
                    d[dn++] = (char)(0x80 | (u & 0x3f));
                } else {
                    d[dn++] = (char)(0xf0 | (u >> 18));
                    d[dn++] = (char)(0x80 | ((u >> 12) & 0x3f));
                    d[dn++] = (char)(0x80 | ((u >> 6) & 0x3f));
                    d[dn++] = (char)(0x80 | (u & 0x3f));
                }
            }
            continue;
        lone:
            free(d);
            return lint_fail(L, at, "holds an unpaired UTF-16 surrogate (\\u%04x)", u);
        bad_escape:
            free(d);
            return lint_fail(L, at, "holds a malformed \\u escape");
        }
        if (*L->p < 0x20) {
            /* cJSON copies a raw NUL (and ends the C string there) or control byte */
            free(d);
            return lint_fail(L, at, "holds a raw control byte (0x%02x); escape it", *L->p);
        }
        size_t n = utf8_len(L->p, L->end);
        if (n == 0) {
            free(d);
            return lint_fail(L, at, "is not valid UTF-8 (byte 0x%02x)", *L->p);
        }
        if (d) {
            memcpy(d + dn, L->p, n);
            dn += n;
        }
        L->p += n;
    }
    L->p++; /* the closing quote */
    if (key) {
        d[dn] = '\0';
        key->s = d;
        key->n = dn;
        key->pos = (int)(start - L->base);
    }
    return 0;
}

static int lint_value(struct lint *L, int depth);

static int key_cmp(const void *a, const void *b)
{
    const struct lint_key *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->pos - y->pos;
}

/* lint_enter: the path of a member; returns the length to restore. */
static size_t lint_enter(struct lint *L, const char *name, size_t n, int index)
{
    size_t at = strlen(L->path), room = sizeof L->path - 1 - at;
    char *w = L->path + at;
    if (name)
        snprintf(w, room + 1, "%s%.*s", at ? "." : "", (int)n, name);
    else
        snprintf(w, room + 1, "[%d]", index);
    return at;
}

static int lint_object(struct lint *L, int depth)
{
    struct lint_key *keys = NULL;
    size_t nk = 0, cap = 0;
    int rc = 0;
    L->p++;
    lint_ws(L);
    while (L->p < L->end && *L->p != '}') {
        if (nk == cap) {
            cap = cap ? cap * 2 : 8;
            struct lint_key *k2 = realloc(keys, cap * sizeof *keys);
            if (!k2) {
                rc = sc_err_set(L->err, ENOMEM, L->path, -1, "out of memory");
                goto out;
            }
            keys = k2;
        }
        if (*L->p != '"') {
            rc = lint_fail(L, L->p, "holds a byte (0x%02x) JSON does not allow here", *L->p);
            goto out;
        }
        if ((rc = lint_string(L, &keys[nk])) < 0) /* a faulty key names its object */
            goto out;
        struct lint_key *k = &keys[nk++];
        lint_ws(L);
        if (L->p >= L->end || *L->p != ':') {
            rc = lint_fail(L, L->p, "holds a byte JSON does not allow here");
            goto out;
        }
        L->p++;
        lint_ws(L);
        size_t at = lint_enter(L, k->s, k->n, 0);
        rc = lint_value(L, depth + 1);
        if (rc < 0)
            goto out;
        L->path[at] = '\0';
        lint_ws(L);
        if (L->p < L->end && *L->p == ',') {
            L->p++;
            lint_ws(L);
        } else if (L->p < L->end && *L->p != '}') {
            rc = lint_fail(L, L->p, "holds a byte (0x%02x) JSON does not allow here", *L->p);
            goto out;
        }
    }
    L->p++; /* '}' */
    if (nk > 1) {
        qsort(keys, nk, sizeof *keys, key_cmp);
        for (size_t i = 1; i < nk; i++)
            if (keys[i].n == keys[i - 1].n && memcmp(keys[i].s, keys[i - 1].s, keys[i].n) == 0) {
                lint_enter(L, keys[i].s, keys[i].n, 0);
                rc = lint_fail(L, L->base + keys[i].pos,
                               "appears more than once in the same object (keys must be unique)");
                goto out;
            }
    }
out:
    for (size_t i = 0; i < nk; i++)
        free(keys[i].s);
    free(keys);
    return rc;
}

static int lint_value(struct lint *L, int depth)
{
    if (depth > 1000)
        return lint_fail(L, L->p, "nests too deep");
    lint_ws(L);
    if (L->p >= L->end)
        return 0;
    if (*L->p == '{')
        return lint_object(L, depth);
    if (*L->p == '"')
        return lint_string(L, NULL);
    if (*L->p == '[') {
        int i = 0;
        L->p++;
        lint_ws(L);
        while (L->p < L->end && *L->p != ']') {
            size_t at = lint_enter(L, NULL, 0, i++);
            int rc = lint_value(L, depth + 1);
            if (rc < 0)
                return rc;
            L->path[at] = '\0';
            lint_ws(L);
            if (L->p < L->end && *L->p == ',') {
                L->p++;
                lint_ws(L);
            } else if (L->p < L->end && *L->p != ']') {
                return lint_fail(L, L->p, "holds a byte (0x%02x) JSON does not allow here", *L->p);
            }
        }
        L->p++;
        return 0;
    }
    /* cJSON takes any byte up to 0x20 (NUL too) as white space; JSON does not */
    if (*L->p < 0x20)
        return lint_fail(L, L->p, "holds a control byte (0x%02x) outside a string", *L->p);
    while (L->p<L->end && * L->p> 0x20 && !strchr(",]}", *L->p))
        L->p++;
    return 0;
}

int json_lint(const char *buf, size_t len, struct sc_err *err)
{
    struct lint L = {(const unsigned char *)buf, (const unsigned char *)buf,
                     (const unsigned char *)buf + len, "", err};
    return lint_value(&L, 0);
}

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
    if (json_lint(buf, len, err) < 0) {
        cJSON_Delete(root);
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

int json_opt_str(const cJSON *o, const char *key, const char *def, size_t max, char **out,
                 struct sc_err *err)
{
    const char *v = def;
    int rc = json_get_str(o, key, JSON_OPTIONAL, &v, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (strlen(v) > max)
        return sc_err_set(err, EINVAL, key, -1, "must be at most %zu bytes", max);
    if (!(*out = strdup(v)))
        return sc_err_set(err, ENOMEM, key, -1, "out of memory");
    return 0;
}

int json_opt_int(const cJSON *o, const char *key, long long min, long long max, int def, int *out,
                 struct sc_err *err)
{
    long long v = def;
    int rc = json_get_int(o, key, JSON_OPTIONAL, min, max, &v, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    *out = (int)v;
    return 0;
}

int json_opt_bool(const cJSON *o, const char *key, bool def, bool *out, struct sc_err *err)
{
    bool v = def;
    int rc = json_get_bool(o, key, JSON_OPTIONAL, &v, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    *out = v;
    return 0;
}
