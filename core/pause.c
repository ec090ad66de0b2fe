/* core/pause.c: pause window JSON -> struct pause (validated) -> canonical JSON,
 * and the question every scheduler asks: is this fire inside a window?
 *
 * Sections: names; parsing; serialization; matching. */
#include "core/pause.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h"
#include "core/json.h"
#include "core/tz.h"

/* ---------------------------------------------------------------- names */

static const char *const action_names[] = {"skip", "defer"};
static const char *const scope_names[] = {"all", "domain", "job", "workflow", "labels"};

const char *pause_action_name(enum pause_action a)
{
    return action_names[a];
}

const char *pause_scope_name(enum pause_scope s)
{
    return scope_names[s];
}

const char *pause_scope_text(const struct pause *p, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s", scope_names[p->scope]);
    if (p->target && n < len)
        snprintf(buf + n, len - n, " %s", p->target);
    for (int i = 0; i < p->nlabels && n < len; i++) {
        n = strlen(buf);
        snprintf(buf + n, len - n, "%s%s", i ? "," : " ", p->labels[i]);
    }
    return buf;
}

/* ---------------------------------------------------------------- parsing */

static const char *const pause_fields[] = {"id",   "scope",      "from",   "to",     "timezone",
                                           "cron", "duration_s", "action", "reason", NULL};
static const char *const scope_fields[] = {"all", "domain", "job", "workflow", "labels", NULL};

static int parse_labels(const cJSON *arr, struct pause *p, struct sc_err *err)
{
    const cJSON *it;
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > PAUSE_LABELS_MAX)
        return sc_err_set(err, EINVAL, "scope.labels", -1, "give 1 to %d labels (got %d)",
                          PAUSE_LABELS_MAX, n);
    if (!(p->labels = calloc((size_t)n, sizeof *p->labels)))
        return sc_err_set(err, ENOMEM, "scope.labels", -1, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !job_name_valid(it->valuestring) || strlen(it->valuestring) > 64)
            return sc_err_set(err, EINVAL, "scope.labels", -1,
                              "label %d must be 1-64 characters of [A-Za-z0-9._-]", p->nlabels);
        if (!(p->labels[p->nlabels] = strdup(it->valuestring)))
            return sc_err_set(err, ENOMEM, "scope.labels", -1, "out of memory");
        p->nlabels++;
    }
    return 0;
}

/* parse_scope: exactly one of the scope keys. */
static int parse_scope(const cJSON *root, struct pause *p, struct sc_err *err)
{
    const cJSON *sc = NULL;
    int rc = json_get_obj(root, "scope", JSON_REQUIRED, &sc, err);
    if (rc < 0)
        return rc;
    if ((rc = json_check_fields(sc, scope_fields, err)) < 0) {
        json_err_prefix(err, "scope");
        snprintf(err->msg, sizeof err->msg,
                 "unknown scope (one of all, domain, job, workflow, labels)");
        return rc;
    }
    int n = cJSON_GetArraySize(sc);
    if (n != 1)
        return sc_err_set(err, EINVAL, "scope", -1,
                          "must name exactly one of all, domain, job, workflow, labels (got %d)",
                          n);
    const cJSON *v = sc->child;
    const char *k = v->string;
    if (strcmp(k, "all") == 0) {
        if (!cJSON_IsTrue(v))
            return sc_err_set(err, EINVAL, "scope.all", -1, "must be true");
        p->scope = PAUSE_ALL;
        return 0;
    }
    if (strcmp(k, "labels") == 0) {
        if (!cJSON_IsArray(v))
            return sc_err_set(err, EINVAL, "scope.labels", -1, "must be an array of labels");
        p->scope = PAUSE_LABELS;
        return parse_labels(v, p, err);
    }
    p->scope = strcmp(k, "domain") == 0 ? PAUSE_DOMAIN
               : strcmp(k, "job") == 0  ? PAUSE_JOB
                                        : PAUSE_WORKFLOW;
    if (!cJSON_IsString(v) || !job_name_valid(v->valuestring))
        return sc_err_set(err, EINVAL, "scope", -1,
                          "%s must be a name of 1-%d characters of [A-Za-z0-9._-]", k,
                          JOB_NAME_MAX);
    if (!(p->target = strdup(v->valuestring)))
        return sc_err_set(err, ENOMEM, "scope", -1, "out of memory");
    return 0;
}

/* parse_time: "YYYY-MM-DD HH:MM:SS" in the window's zone, or "@EPOCH". */
static int parse_time(const cJSON *root, const char *key, const tz_zone *z, int64_t *out,
                      struct sc_err *err)
{
    const char *s = NULL;
    int rc = json_get_str(root, key, JSON_REQUIRED, &s, err);
    if (rc < 0)
        return rc;
    if (s[0] == '@') {
        char *end;
        errno = 0;
        long long v = strtoll(s + 1, &end, 10);
        if (errno || end == s + 1 || *end || v < 0 || v > 7258118400LL)
            return sc_err_set(err, EINVAL, key, -1,
                              "\"%s\" is not @EPOCH_SECONDS between 1970 and 2200", s);
        *out = v;
        return 0;
    }
    int64_t civil;
    if (tz_parse_civil(s, &civil) < 0)
        return sc_err_set(err, EINVAL, key, -1,
                          "\"%s\" is not \"YYYY-MM-DD HH:MM:SS\" or @EPOCH_SECONDS", s);
    if (tz_from_local(z, civil, out) == -ENOENT)
        return sc_err_set(err, EINVAL, key, -1, "%s does not exist in %s (the clocks jump over it)",
                          s, tz_name(z));
    return 0;
}

static int parse_when(const cJSON *root, struct pause *p, struct sc_err *err)
{
    bool once = cJSON_HasObjectItem(root, "from") || cJSON_HasObjectItem(root, "to");
    bool again = cJSON_HasObjectItem(root, "cron") || cJSON_HasObjectItem(root, "duration_s");
    if (once && again)
        return sc_err_set(err, EINVAL, cJSON_HasObjectItem(root, "cron") ? "cron" : "duration_s",
                          -1,
                          "a window is either one-off (from, to) or recurring"
                          " (cron, duration_s), not both");
    if (!once && !again)
        return sc_err_set(err, EINVAL, "from", -1,
                          "missing: give from and to (one-off) or cron and duration_s"
                          " (recurring)");
    int rc;
    if (once) {
        if ((rc = parse_time(root, "from", p->zone, &p->from, err)) < 0 ||
            (rc = parse_time(root, "to", p->zone, &p->to, err)) < 0)
            return rc;
        if (p->to <= p->from) {
            char a[32], b[32];
            return sc_err_set(err, EINVAL, "to", -1, "the window ends (%s) before it starts (%s)",
                              tz_format_civil(p->to + tz_offset(p->zone, p->to), a, sizeof a),
                              tz_format_civil(p->from + tz_offset(p->zone, p->from), b, sizeof b));
        }
        return 0;
    }
    const char *cron = NULL;
    long long d = 0;
    if ((rc = json_get_str(root, "cron", JSON_REQUIRED, &cron, err)) < 0 ||
        (rc = json_get_int(root, "duration_s", JSON_REQUIRED, 1, PAUSE_DURATION_MAX, &d, err)) < 0)
        return rc;
    struct sc_err ce;
    sc_err_clear(&ce);
    if (cron_parse(cron, &p->expr, &ce) < 0) {
        char why[300];
        return sc_err_set(err, EINVAL, "cron", ce.pos, "%s", sc_err_format(&ce, why, sizeof why));
    }
    if (!(p->cron = strdup(cron)))
        return sc_err_set(err, ENOMEM, "cron", -1, "out of memory");
    p->duration_s = (int)d;
    return 0;
}

int pause_from_cjson(const cJSON *root, struct pause **out, struct sc_err *err)
{
    const char *s = NULL;
    int rc;
    *out = NULL;
    if (!cJSON_IsObject(root))
        return sc_err_set(err, EINVAL, "", -1, "a pause window must be a JSON object");
    struct pause *p = calloc(1, sizeof *p);
    if (!p)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    if ((rc = json_check_fields(root, pause_fields, err)) < 0)
        goto err;
    if ((rc = json_get_str(root, "id", JSON_REQUIRED, &s, err)) < 0)
        goto err;
    if (!job_name_valid(s) || strlen(s) > PAUSE_ID_MAX) {
        rc = sc_err_set(err, EINVAL, "id", -1, "must be 1-%d characters of [A-Za-z0-9._-]",
                        PAUSE_ID_MAX);
        goto err;
    }
    if (!(p->id = strdup(s)))
        goto oom;
    if ((rc = parse_scope(root, p, err)) < 0)
        goto err;
    if ((rc = json_opt_str(root, "timezone", "UTC", 64, &p->timezone, err)) < 0)
        goto err;
    if (!(p->zone = tz_load(p->timezone, err))) {
        rc = -EINVAL;
        goto err;
    }
    if ((rc = parse_when(root, p, err)) < 0)
        goto err;
    if ((rc = json_get_str(root, "action", JSON_OPTIONAL, &s, err)) == -EINVAL)
        goto err;
    p->action = PAUSE_SKIP;
    if (rc == 0) {
        if (strcmp(s, "skip") == 0) {
            p->action = PAUSE_SKIP;
        } else if (strcmp(s, "defer") == 0) {
            p->action = PAUSE_DEFER;
        } else {
            rc = sc_err_set(err, EINVAL, "action", -1, "must be skip or defer (got \"%.40s\")", s);
            goto err;
        }
    }
    if ((rc = json_get_str(root, "reason", JSON_REQUIRED, &s, err)) < 0)
        goto err;
    if (!s[0] || strlen(s) > PAUSE_REASON_MAX) {
        rc = sc_err_set(err, EINVAL, "reason", -1,
                        "must say why, in 1 to %d bytes (operators read it in listings)",
                        PAUSE_REASON_MAX);
        goto err;
    }
    if (!(p->reason = strdup(s)))
        goto oom;
    *out = p;
    return 0;
oom:
    rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
err:
    pause_free(p);
    return rc;
}

int pause_parse(const char *json, size_t len, struct pause **out, struct sc_err *err)
{
    *out = NULL;
    if (len > PAUSE_STORED_MAX)
        return sc_err_set(err, EINVAL, "", -1, "a pause window is at most %d bytes (got %zu)",
                          PAUSE_STORED_MAX, len);
    cJSON *root = json_parse(json, len, err);
    if (!root)
        return -EINVAL;
    int rc = pause_from_cjson(root, out, err);
    cJSON_Delete(root);
    return rc;
}

void pause_free(struct pause *p)
{
    if (!p)
        return;
    free(p->id);
    free(p->target);
    for (int i = 0; i < p->nlabels; i++)
        free(p->labels[i]);
    free(p->labels);
    free(p->timezone);
    free(p->cron);
    cron_free(p->expr);
    tz_free(p->zone);
    free(p->reason);
    free(p);
}

/* ---------------------------------------------------------------- serialization */

/* add_time: the wall time in the window's zone, except for an instant in the
 * second pass of a repeated hour: its wall time reads back as the first
 * pass, so it is written as @EPOCH and parse(serialize(p)) stays p. */
static void add_time(cJSON *o, const char *key, const struct pause *p, int64_t t)
{
    char buf[32];
    int64_t civil = t + tz_offset(p->zone, t), back = 0;
    if (tz_from_local(p->zone, civil, &back) < 0 || back != t)
        snprintf(buf, sizeof buf, "@%lld", (long long)t);
    else
        tz_format_civil(civil, buf, sizeof buf);
    cJSON_AddStringToObject(o, key, buf);
}

cJSON *pause_to_cjson(const struct pause *p)
{
    cJSON *o = cJSON_CreateObject(), *sc;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", p->id);
    sc = cJSON_AddObjectToObject(o, "scope");
    if (sc) {
        if (p->scope == PAUSE_ALL) {
            cJSON_AddTrueToObject(sc, "all");
        } else if (p->scope == PAUSE_LABELS) {
            cJSON *arr = cJSON_AddArrayToObject(sc, "labels");
            for (int i = 0; arr && i < p->nlabels; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateString(p->labels[i]));
        } else {
            cJSON_AddStringToObject(sc, scope_names[p->scope], p->target);
        }
    }
    if (p->cron) {
        cJSON_AddStringToObject(o, "cron", p->cron);
        cJSON_AddNumberToObject(o, "duration_s", p->duration_s);
    } else {
        add_time(o, "from", p, p->from);
        add_time(o, "to", p, p->to);
    }
    cJSON_AddStringToObject(o, "timezone", p->timezone);
    cJSON_AddStringToObject(o, "action", action_names[p->action]);
    cJSON_AddStringToObject(o, "reason", p->reason);
    return o;
}

char *pause_to_json(const struct pause *p)
{
    cJSON *o = pause_to_cjson(p);
    char *s = o ? json_print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* ---------------------------------------------------------------- matching */

bool pause_scopes(const struct pause *p, const struct pause_subject *s)
{
    switch (p->scope) {
    case PAUSE_ALL:
        return true;
    case PAUSE_DOMAIN:
        return s->domain && strcmp(s->domain, p->target) == 0;
    case PAUSE_JOB:
        return s->job && strcmp(s->job, p->target) == 0;
    case PAUSE_WORKFLOW:
        return s->workflow && strcmp(s->workflow, p->target) == 0;
    case PAUSE_LABELS:
        for (int i = 0; i < p->nlabels; i++)
            for (int k = 0; k < s->nlabels; k++)
                if (strcmp(p->labels[i], s->labels[k]) == 0)
                    return true;
        return false;
    }
    return false;
}

int pause_window_at(const struct pause *p, int64_t t, int64_t *start, int64_t *end)
{
    int64_t b, e;
    if (p->expr) {
        b = cron_prev(p->expr, t + 1, p->zone);
        if (b < 0)
            return 0;
        e = b + p->duration_s;
    } else {
        b = p->from;
        e = p->to;
    }
    if (t < b || t >= e)
        return 0;
    if (start)
        *start = b;
    if (end)
        *end = e;
    return 1;
}

const struct pause *pause_find(struct pause *const *ps, size_t n, const struct pause_subject *s,
                               int64_t t, int64_t *end)
{
    const struct pause *best = NULL;
    int64_t best_end = 0, e;
    for (size_t i = 0; i < n; i++) {
        const struct pause *p = ps[i];
        if (!pause_scopes(p, s) || !pause_window_at(p, t, NULL, &e))
            continue;
        bool better = !best || (p->action == PAUSE_SKIP && best->action == PAUSE_DEFER) ||
                      (p->action == best->action && e > best_end);
        if (better) {
            best = p;
            best_end = e;
        }
    }
    if (best && end)
        *end = best_end;
    return best;
}

int64_t pause_next_start(const struct pause *p, int64_t t, int64_t *end)
{
    int64_t b;
    if (p->expr) {
        if ((b = cron_next(p->expr, t, p->zone)) < 0)
            return -1;
        if (end)
            *end = b + p->duration_s;
        return b;
    }
    if (p->from <= t)
        return -1;
    if (end)
        *end = p->to;
    return p->from;
}
