/* core/alertch.c: alert channel validation and rendering (see core/alertch.h).
 * The chat formats follow the robots' published webhook APIs: DingTalk signs
 * "timestamp\nsecret" with the secret as HMAC key and puts timestamp and sign
 * in the query; Feishu uses "timestamp\nsecret" as the HMAC key over an empty
 * message and puts both in the body; WeCom and Slack take the text only. */
#include "core/alertch.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"

static const char *const types[] = {"webhook", "dingtalk", "wecom", "feishu",
                                    "slack",   "email",    NULL};
static const char *const ch_fields[] = {"type", "url",  "secret",   "format",   "smtp", "from",
                                        "to",   "user", "password", "starttls", "name", NULL};

/* ---------------------------------------------------------------- validation */

static int is_http(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* secret_ok: absent, a non-empty string, or {"secret": NAME}. */
static int secret_ok(const cJSON *ch, const char *key, struct sc_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= 1024)
        return 0;
    if (cJSON_IsObject(v)) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, "secret");
        if (cJSON_GetArraySize(v) == 1 && cJSON_IsString(n) && n->valuestring[0] &&
            strlen(n->valuestring) <= 128 && n->valuestring[0] != '.' &&
            strspn(n->valuestring, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789._-") == strlen(n->valuestring))
            return 0;
    }
    return sc_err_set(
        err, EINVAL, key, -1,
        "must be a string or {\"secret\": NAME} (a name in the agent's secrets store)");
}

static int check_one(const cJSON *ch, struct sc_err *err)
{
    const char *type = NULL, *url = NULL, *s = NULL;
    const cJSON *to = NULL, *it;
    int rc, k;
    if (!cJSON_IsObject(ch))
        return sc_err_set(err, EINVAL, "", -1, "must be an object");
    if ((rc = json_check_fields(ch, ch_fields, err)) < 0 ||
        (rc = json_get_str(ch, "type", JSON_REQUIRED, &type, err)) < 0)
        return rc;
    for (k = 0; types[k] && strcmp(types[k], type) != 0; k++)
        ;
    if (!types[k])
        return sc_err_set(err, EINVAL, "type", -1,
                          "must be webhook, dingtalk, wecom, feishu, slack or email");
    if ((rc = secret_ok(ch, "secret", err)) < 0 || (rc = secret_ok(ch, "password", err)) < 0)
        return rc;
    if (strcmp(type, "email") != 0) {
        if ((rc = json_get_str(ch, "url", JSON_REQUIRED, &url, err)) < 0)
            return rc;
        if (!is_http(url) || strlen(url) > 1024)
            return sc_err_set(err, EINVAL, "url", -1,
                              "must be an http:// or https:// URL of at most 1024 bytes");
        if ((rc = json_get_str(ch, "format", JSON_OPTIONAL, &s, err)) == 0 &&
            strcmp(s, "text") != 0 && strcmp(s, "markdown") != 0)
            return sc_err_set(err, EINVAL, "format", -1, "must be text or markdown");
        return rc == -ENOENT ? 0 : rc;
    }
    if ((rc = json_get_str(ch, "smtp", JSON_REQUIRED, &url, err)) < 0)
        return rc;
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0)
        return sc_err_set(err, EINVAL, "smtp", -1, "must be an smtp:// or smtps:// URL");
    if ((rc = json_get_str(ch, "from", JSON_REQUIRED, &s, err)) < 0)
        return rc;
    if (!strchr(s, '@') || strpbrk(s, "\r\n<>"))
        return sc_err_set(err, EINVAL, "from", -1, "must be one mail address");
    if ((rc = json_get_arr(ch, "to", JSON_REQUIRED, &to, err)) < 0)
        return rc;
    if (cJSON_GetArraySize(to) < 1 || cJSON_GetArraySize(to) > 50)
        return sc_err_set(err, EINVAL, "to", -1, "must list 1 to 50 addresses");
    cJSON_ArrayForEach(it, to)
    {
        if (!cJSON_IsString(it) || !strchr(it->valuestring, '@') ||
            strpbrk(it->valuestring, "\r\n<>,"))
            return sc_err_set(err, EINVAL, "to", -1, "entries must be mail addresses");
    }
    bool b;
    rc = json_get_bool(ch, "starttls", JSON_OPTIONAL, &b, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    rc = json_get_str(ch, "user", JSON_OPTIONAL, &s, err);
    return rc == -ENOENT ? 0 : rc;
}

int alertch_validate(const cJSON *arr, const char *prefix, struct sc_err *err)
{
    char p[96];
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > ALERTCH_MAX)
        return sc_err_set(err, EINVAL, prefix, -1, "must be a list of 1 to %d channels",
                          ALERTCH_MAX);
    int i = 0;
    const cJSON *ch;
    cJSON_ArrayForEach(ch, arr)
    {
        int rc = check_one(ch, err);
        if (rc < 0) {
            snprintf(p, sizeof p, "%.60s[%d]", prefix, i);
            json_err_prefix(err, p);
            return rc;
        }
        i++;
    }
    return 0;
}

int alertch_validate_escalate(const cJSON *arr, const char *prefix, struct sc_err *err)
{
    static const char *const lf[] = {"after_s", "channels", NULL};
    char p[96];
    long long prev = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > ALERTCH_MAX)
        return sc_err_set(err, EINVAL, prefix, -1, "must be a list of 1 to %d levels", ALERTCH_MAX);
    int i = 0;
    const cJSON *lv, *chs;
    cJSON_ArrayForEach(lv, arr)
    {
        long long after = 0;
        int rc = 0;
        snprintf(p, sizeof p, "%.60s[%d]", prefix, i);
        if (!cJSON_IsObject(lv))
            return sc_err_set(err, EINVAL, p, -1, "must be an object");
        if ((rc = json_check_fields(lv, lf, err)) < 0 ||
            (rc = json_get_int(lv, "after_s", JSON_REQUIRED, 1, 7 * 86400, &after, err)) < 0 ||
            (rc = json_get_arr(lv, "channels", JSON_REQUIRED, &chs, err)) < 0) {
            json_err_prefix(err, p);
            return rc;
        }
        if (after <= prev)
            return sc_err_set(err, EINVAL, p, -1, "after_s must grow from level to level");
        prev = after;
        char cp[96];
        snprintf(cp, sizeof cp, "%.70s.channels", p);
        if ((rc = alertch_validate(chs, cp, err)) < 0)
            return rc;
        i++;
    }
    return 0;
}

int alertch_validate_defaults(const cJSON *j, const char *prefix, struct sc_err *err)
{
    static const char *const top[] = {"default", "domains", NULL};
    char p[96];
    int rc;
    if (cJSON_IsArray(j))
        return alertch_validate(j, prefix, err);
    if (!cJSON_IsObject(j))
        return sc_err_set(err, EINVAL, prefix, -1,
                          "must be a channel list or {\"default\": [...], \"domains\": {...}}");
    if ((rc = json_check_fields(j, top, err)) < 0) {
        json_err_prefix(err, prefix);
        return rc;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "default"), *doms, *l;
    snprintf(p, sizeof p, "%.60s.default", prefix);
    if (d && (rc = alertch_validate(d, p, err)) < 0)
        return rc;
    doms = cJSON_GetObjectItemCaseSensitive(j, "domains");
    if (!doms)
        return 0;
    if (!cJSON_IsObject(doms) || cJSON_GetArraySize(doms) > 1000)
        return sc_err_set(err, EINVAL, prefix, -1,
                          "domains must be an object of at most 1000 domain: channel list");
    cJSON_ArrayForEach(l, doms)
    {
        snprintf(p, sizeof p, "%.40s.domains.%.40s", prefix, l->string);
        if ((rc = alertch_validate(l, p, err)) < 0)
            return rc;
    }
    return 0;
}

const cJSON *alertch_default_for(const cJSON *defaults, const char *domain)
{
    if (cJSON_IsArray(defaults))
        return defaults;
    const cJSON *doms = cJSON_GetObjectItemCaseSensitive(defaults, "domains");
    const cJSON *l =
        domain && domain[0] && doms ? cJSON_GetObjectItemCaseSensitive(doms, domain) : NULL;
    if (cJSON_IsArray(l))
        return l;
    l = cJSON_GetObjectItemCaseSensitive(defaults, "default");
    return cJSON_IsArray(l) ? l : NULL;
}

const char *alertch_secret_ref(const cJSON *ch, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, key);
    const cJSON *n = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "secret") : NULL;
    return cJSON_IsString(n) ? n->valuestring : NULL;
}

/* ---------------------------------------------------------------- rendering */

void alertch_sign(const char *key, size_t keylen, const char *msg, size_t msglen, char *out,
                  size_t outlen)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, msglen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(out, outlen, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(&st, sizeof st);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* appendf: grow *s by a printf; *s NULL on OOM (then further calls do nothing). */
static void appendf(char **s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char **s, size_t *len, const char *fmt, ...)
{
    if (!*s)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? realloc(*s, *len + (size_t)n + 1) : NULL;
    if (!p) {
        free(*s);
        *s = NULL;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(p + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = p;
    *len += (size_t)n;
}

char *alertch_text(const cJSON *n, bool md)
{
    size_t len = 0;
    char *s = calloc(1, 1);
    const char *ev = str(n, "event"), *kind = str(n, "kind"), *job = str(n, "job");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(n, "item");
    const cJSON *lvl = cJSON_GetObjectItemCaseSensitive(n, "job_level");
    const cJSON *esc = cJSON_GetObjectItemCaseSensitive(n, "escalation_level");
    const cJSON *nid = cJSON_GetObjectItemCaseSensitive(n, "notice_id");
    char evu[16] = "";
    for (size_t i = 0; ev && ev[i] && i + 1 < sizeof evu; i++)
        evu[i] = (char)(ev[i] >= 'a' && ev[i] <= 'z' ? ev[i] - 32 : ev[i]);
    appendf(&s, &len, "%s[shardcron] %s %s: job %s", md ? "### " : "", evu, kind ? kind : "",
            job ? job : "");
    if (cJSON_IsNumber(item))
        appendf(&s, &len, " item %d", item->valueint);
    appendf(&s, &len, "\n%s", md ? "\n" : "");
    if (str(n, "domain") && str(n, "domain")[0])
        appendf(&s, &len, "%sDomain: %s, job level %d\n%s", md ? "- " : "", str(n, "domain"),
                cJSON_IsNumber(lvl) ? lvl->valueint : 0, "");
    if (str(n, "fire_time"))
        appendf(&s, &len, "%sFire time (UTC): %s\n", md ? "- " : "", str(n, "fire_time"));
    if (str(n, "execution_id"))
        appendf(&s, &len, "%sExecution: %s\n", md ? "- " : "", str(n, "execution_id"));
    if (str(n, "message"))
        appendf(&s, &len, "%sMessage: %s\n", md ? "- " : "", str(n, "message"));
    if (cJSON_IsNumber(esc))
        appendf(&s, &len, "%sEscalated: level %d, not acknowledged\n", md ? "- " : "",
                esc->valueint);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "late")))
        appendf(&s, &len, "%sLate: decided at %s UTC, delivered now\n", md ? "- " : "",
                str(n, "late_since") ? str(n, "late_since") : "?");
    if (cJSON_IsNumber(nid))
        appendf(&s, &len, "%sNotice %.0f, alert %.0f\n", md ? "- " : "", nid->valuedouble,
                cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(n, "alert_id"))
                    ? cJSON_GetObjectItemCaseSensitive(n, "alert_id")->valuedouble
                    : 0.0);
    if (str(n, "ack_url")) {
        if (md)
            appendf(&s, &len, "\n[Acknowledge](%s)\n", str(n, "ack_url"));
        else
            appendf(&s, &len, "Acknowledge: %s\n", str(n, "ack_url"));
    }
    return s;
}

/* pct: RFC 3986 percent-encoding of s (base64 has + / =), the caller's. */
static char *pct(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = malloc(strlen(s) * 3 + 1), *p = o;
    if (!o)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = 0;
    return o;
}

static char *print_free(cJSON *o)
{
    char *s = o ? json_print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static char *chat_body(const char *type, const cJSON *ch, const cJSON *n, const char *secret,
                       int64_t now_ms)
{
    const char *fmt = str(ch, "format");
    bool md = !fmt || strcmp(fmt, "markdown") == 0;
    cJSON *o = cJSON_CreateObject(), *x;
    char *text = NULL, title[200];
    if (!o)
        return NULL;
    if (strcmp(type, "dingtalk") == 0) {
        text = alertch_text(n, md);
        snprintf(title, sizeof title, "shardcron %s %s", str(n, "event") ? str(n, "event") : "",
                 str(n, "job") ? str(n, "job") : "");
        if (md) {
            cJSON_AddStringToObject(o, "msgtype", "markdown");
            x = cJSON_AddObjectToObject(o, "markdown");
            cJSON_AddStringToObject(x, "title", title);
            cJSON_AddStringToObject(x, "text", text ? text : "");
        } else {
            cJSON_AddStringToObject(o, "msgtype", "text");
            x = cJSON_AddObjectToObject(o, "text");
            cJSON_AddStringToObject(x, "content", text ? text : "");
        }
    } else if (strcmp(type, "wecom") == 0) {
        text = alertch_text(n, true);
        cJSON_AddStringToObject(o, "msgtype", "markdown");
        x = cJSON_AddObjectToObject(o, "markdown");
        cJSON_AddStringToObject(x, "content", text ? text : "");
    } else if (strcmp(type, "feishu") == 0) {
        text = alertch_text(n, false);
        if (secret) {
            char ts[24], key[1200], sign[64];
            snprintf(ts, sizeof ts, "%lld", (long long)(now_ms / 1000));
            int kl = snprintf(key, sizeof key, "%s\n%s", ts, secret);
            alertch_sign(key, (size_t)kl < sizeof key ? (size_t)kl : sizeof key - 1, "", 0, sign,
                         sizeof sign);
            sodium_memzero(key, sizeof key);
            cJSON_AddStringToObject(o, "timestamp", ts);
            cJSON_AddStringToObject(o, "sign", sign);
        }
        cJSON_AddStringToObject(o, "msg_type", "text");
        x = cJSON_AddObjectToObject(o, "content");
        cJSON_AddStringToObject(x, "text", text ? text : "");
    } else { /* slack */
        text = alertch_text(n, false);
        cJSON_AddStringToObject(o, "text", text ? text : "");
    }
    if (!text) {
        cJSON_Delete(o);
        return NULL;
    }
    free(text);
    return print_free(o);
}

/* dingtalk_url: url + timestamp & sign (ms timestamp, secret as key). */
static char *dingtalk_url(const char *url, const char *secret, int64_t now_ms)
{
    char ts[24], sign[64], *msg = NULL;
    snprintf(ts, sizeof ts, "%lld", (long long)now_ms);
    if (asprintf(&msg, "%s\n%s", ts, secret) < 0)
        return NULL;
    alertch_sign(secret, strlen(secret), msg, strlen(msg), sign, sizeof sign);
    sodium_memzero(msg, strlen(msg));
    free(msg);
    char *es = pct(sign), *out = NULL;
    if (es &&
        asprintf(&out, "%s%stimestamp=%s&sign=%s", url, strchr(url, '?') ? "&" : "?", ts, es) < 0)
        out = NULL;
    free(es);
    return out;
}

static char *mail_body(const cJSON *ch, const cJSON *n, int64_t now_ms)
{
    char *text = alertch_text(n, false), *subj = NULL, *out = NULL, date[64];
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(ch, "to"), *it;
    if (!text)
        return NULL;
    size_t nl = strcspn(text, "\n");
    if (asprintf(&subj, "%.*s", (int)nl, text) < 0)
        subj = NULL;
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    size_t len = 0;
    out = calloc(1, 1);
    appendf(&out, &len, "Date: %s\r\nFrom: <%s>\r\nTo: ", date, str(ch, "from"));
    int i = 0;
    cJSON_ArrayForEach(it, to)
    {
        appendf(&out, &len, "%s<%s>", i++ ? ", " : "", it->valuestring);
    }
    appendf(&out, &len,
            "\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "\r\n",
            subj ? subj : "shardcron alert");
    /* Bare LF to CRLF, as SMTP wants lines. */
    for (char *p = text; *p && out; p++) {
        if (*p == '\n')
            appendf(&out, &len, "\r\n");
        else
            appendf(&out, &len, "%c", *p);
    }
    free(subj);
    free(text);
    return out;
}

int alertch_render(const cJSON *ch, const cJSON *n, const char *secret, int64_t now_ms,
                   struct alertch_msg *out, struct sc_err *err)
{
    memset(out, 0, sizeof *out);
    const char *type = str(ch, "type");
    if (!type)
        return sc_err_set(err, EINVAL, "type", -1, "is required");
    if (!secret && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ch, "secret")))
        secret = str(ch, "secret");
    if (strcmp(type, "email") == 0) {
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(ch, "to"), *it;
        if (!str(ch, "smtp") || !str(ch, "from") || !cJSON_IsArray(to))
            return sc_err_set(err, EINVAL, "smtp", -1, "email needs smtp, from and to");
        out->smtp = true;
        out->starttls = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "starttls"));
        out->url = strdup(str(ch, "smtp"));
        out->mail_from = strdup(str(ch, "from"));
        out->rcpt = calloc((size_t)cJSON_GetArraySize(to) + 1, sizeof *out->rcpt);
        cJSON_ArrayForEach(it, to)
        {
            if (out->rcpt && cJSON_IsString(it) &&
                (out->rcpt[out->nrcpt] = strdup(it->valuestring)))
                out->nrcpt++;
        }
        if (str(ch, "user")) {
            const char *pw = secret ? secret : str(ch, "password");
            out->user = strdup(str(ch, "user"));
            out->password = strdup(pw ? pw : "");
        }
        out->body = mail_body(ch, n, now_ms);
    } else if (strcmp(type, "webhook") == 0) {
        out->url = str(ch, "url") ? strdup(str(ch, "url")) : NULL;
        out->body = json_print(n);
    } else if (strcmp(type, "dingtalk") == 0 || strcmp(type, "wecom") == 0 ||
               strcmp(type, "feishu") == 0 || strcmp(type, "slack") == 0) {
        const char *url = str(ch, "url");
        if (!url)
            return sc_err_set(err, EINVAL, "url", -1, "is required");
        out->url = strcmp(type, "dingtalk") == 0 && secret ? dingtalk_url(url, secret, now_ms)
                                                           : strdup(url);
        out->body = chat_body(type, ch, n, secret, now_ms);
    } else {
        return sc_err_set(err, EINVAL, "type", -1, "unknown channel type %.20s", type);
    }
    if (!out->url || !out->body) {
        alertch_msg_free(out);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    return 0;
}

void alertch_msg_free(struct alertch_msg *m)
{
    if (!m)
        return;
    free(m->url);
    free(m->body);
    free(m->mail_from);
    for (int i = 0; i < m->nrcpt; i++)
        free(m->rcpt[i]);
    free(m->rcpt);
    free(m->user);
    if (m->password) {
        sodium_memzero(m->password, strlen(m->password));
        free(m->password);
    }
    memset(m, 0, sizeof *m);
}
