/* core/job.c: job JSON -> struct job (validated) -> canonical JSON.
 *
 * Sections: names and enums; parsing helpers; job_from_cjson; serialization. */
#include "core/job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alertch.h"
#include "core/cron.h"
#include "core/json.h"

/* ---------------------------------------------------------------- names and enums */

static const char *const misfire_names[] = {"skip", "once", "all"};
static const char *const conc_names[] = {"forbid", "allow", "replace"};
static const char *const type_names[] = {"shell", "java"};
static const char *const strategy_names[] = {"average", "odd_even", "round_robin", "balanced",
                                             NULL};
static const char *const alert_on_names[] = {"failure", "timeout", "missed", "no_failover"};

const char *job_misfire_name(enum job_misfire m)
{
    return misfire_names[m];
}
const char *job_concurrency_name(enum job_concurrency c)
{
    return conc_names[c];
}
const char *job_type_name(enum job_type t)
{
    return type_names[t];
}

static int name_chars_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int job_name_valid(const char *name)
{
    return name_chars_ok(name, JOB_NAME_MAX);
}

int job_secret_name_valid(const char *name)
{
    return name[0] != '.' && name_chars_ok(name, JOB_SECRET_NAME_MAX);
}

/* env_name_ok: a shell variable name, not one of ours (SHARDCRON_*) and not
 * one that changes how the process is loaded or found. */
static bool env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_') || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return strncmp(s, "SHARDCRON_", 10) != 0 && strncmp(s, "LD_", 3) != 0 && strcmp(s, "PATH") != 0;
}

/* pick: index of `s` in `names` (n entries), or -1. */
static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------- parsing helpers */

static const char *const job_fields[] = {"name",
                                         "description",
                                         "domain",
                                         "level",
                                         "cron",
                                         "timezone",
                                         "shards",
                                         "shard_params",
                                         "job_param",
                                         "type",
                                         "command",
                                         "java",
                                         "strategy",
                                         "labels",
                                         "failover",
                                         "misfire",
                                         "misfire_threshold_s",
                                         "concurrency",
                                         "timeout_s",
                                         "retries",
                                         "retry_backoff_s",
                                         "disabled",
                                         "alert",
                                         "env",
                                         "calendar",
                                         "calendar_rule",
                                         "calendar_shift",
                                         NULL};
static const char *const java_fields[] = {"classpath", "class", "jvm_opts", NULL};
static const char *const alert_fields[] = {"webhook",  "on",       "silence_s",
                                           "channels", "escalate", NULL};

static int opt_enum(const cJSON *o, const char *key, const char *const *names, int n, int def,
                    int *out, struct sc_err *err)
{
    const char *v = NULL;
    int rc = json_get_str(o, key, JSON_OPTIONAL, &v, err);
    if (rc == -ENOENT) {
        *out = def;
        return 0;
    }
    if (rc < 0)
        return rc;
    int i = pick(v, names, n);
    if (i < 0) {
        char list[128] = "";
        for (int k = 0; k < n; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? "|" : "",
                     names[k]);
        return sc_err_set(err, EINVAL, key, -1, "must be one of %s (got \"%.40s\")", list, v);
    }
    *out = i;
    return 0;
}

/* set_param: store one shard parameter, checking the item number. */
static int set_param(struct job *j, const char *item, size_t ilen, const char *val, size_t vlen,
                     struct sc_err *err)
{
    char buf[16], *end;
    if (ilen == 0 || ilen >= sizeof buf)
        return sc_err_set(err, EINVAL, "shard_params", -1, "item \"%.*s\" is not a number",
                          (int)(ilen > 20 ? 20 : ilen), item);
    memcpy(buf, item, ilen);
    buf[ilen] = '\0';
    long n = strtol(buf, &end, 10);
    if (*end || end == buf || buf[0] == '-' || buf[0] == '+' || buf[0] == ' ')
        return sc_err_set(err, EINVAL, "shard_params", -1, "item \"%s\" is not a number", buf);
    if (n >= j->shards)
        return sc_err_set(err, EINVAL, "shard_params", -1,
                          "item %ld is out of range 0-%d (shards is %d)", n, j->shards - 1,
                          j->shards);
    if (j->shard_params[n])
        return sc_err_set(err, EINVAL, "shard_params", -1, "item %ld is given twice", n);
    if (vlen > 1024)
        return sc_err_set(err, EINVAL, "shard_params", -1, "item %ld: value over 1024 bytes", n);
    if (!(j->shard_params[n] = strndup(val, vlen)))
        return sc_err_set(err, ENOMEM, "shard_params", -1, "out of memory");
    return 0;
}

/* parse_shard_params: the object form {"0":"A"} or ElasticJob's "0=A,1=B". */
static int parse_shard_params(const cJSON *root, struct job *j, struct sc_err *err)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "shard_params");
    int rc;
    j->shard_params = calloc((size_t)j->shards, sizeof *j->shard_params);
    if (!j->shard_params)
        return sc_err_set(err, ENOMEM, "shard_params", -1, "out of memory");
    if (!sp || cJSON_IsNull(sp))
        return 0;
    if (cJSON_IsObject(sp)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, sp)
        {
            if (!cJSON_IsString(it))
                return sc_err_set(err, EINVAL, "shard_params", -1,
                                  "item \"%.20s\" must map to a string", it->string);
            if ((rc = set_param(j, it->string, strlen(it->string), it->valuestring,
                                strlen(it->valuestring), err)) < 0)
                return rc;
        }
        return 0;
    }
    if (!cJSON_IsString(sp))
        return sc_err_set(err, EINVAL, "shard_params", -1,
                          "must be an object {\"0\":\"A\"} or a string \"0=A,1=B\"");
    const char *s = sp->valuestring;
    while (*s) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        if (!eq)
            return sc_err_set(err, EINVAL, "shard_params", (int)(s - sp->valuestring),
                              "expected ITEM=VALUE");
        while (s < eq && *s == ' ')
            s++;
        if ((rc = set_param(j, s, (size_t)(eq - s), eq + 1, (size_t)(end - eq - 1), err)) < 0)
            return rc;
        s = comma ? comma + 1 : end;
    }
    return 0;
}

static int parse_labels(const cJSON *root, struct job *j, struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    int rc = json_get_arr(root, "labels", JSON_OPTIONAL, &arr, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    int n = cJSON_GetArraySize(arr);
    if (n > JOB_LABELS_MAX)
        return sc_err_set(err, EINVAL, "labels", -1, "at most %d labels", JOB_LABELS_MAX);
    j->labels = calloc((size_t)n + 1, sizeof *j->labels);
    if (!j->labels)
        return sc_err_set(err, ENOMEM, "labels", -1, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !name_chars_ok(it->valuestring, 64))
            return sc_err_set(err, EINVAL, "labels", -1,
                              "label %d must be 1-64 characters of [A-Za-z0-9._-]", j->nlabels);
        for (int k = 0; k < j->nlabels; k++)
            if (strcmp(j->labels[k], it->valuestring) == 0)
                return sc_err_set(err, EINVAL, "labels", -1, "label \"%s\" is given twice",
                                  it->valuestring);
        if (!(j->labels[j->nlabels] = strdup(it->valuestring)))
            return sc_err_set(err, ENOMEM, "labels", -1, "out of memory");
        j->nlabels++;
    }
    return 0;
}

static int parse_java(const cJSON *root, struct job *j, struct sc_err *err)
{
    const cJSON *jv = NULL;
    static const cJSON empty = {.type = cJSON_Object};
    int rc = json_get_obj(root, "java", JSON_OPTIONAL, &jv, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0 && j->type != JOB_JAVA)
        return sc_err_set(err, EINVAL, "java", -1, "is only allowed when type is java");
    if (!jv)
        jv = &empty;
    if ((rc = json_check_fields(jv, java_fields, err)) < 0 ||
        (rc = json_opt_str(jv, "classpath", "", 4096, &j->java.classpath, err)) < 0 ||
        (rc = json_opt_str(jv, "class", "", 256, &j->java.cls, err)) < 0 ||
        (rc = json_opt_str(jv, "jvm_opts", "", 1024, &j->java.jvm_opts, err)) < 0) {
        json_err_prefix(err, "java");
        return rc;
    }
    if (j->type == JOB_JAVA && !j->java.cls[0])
        return sc_err_set(err, EINVAL, "java.class", -1, "is required when type is java");
    return 0;
}

static int parse_alert(const cJSON *root, struct job *j, struct sc_err *err)
{
    const cJSON *al = NULL, *on = NULL, *it;
    static const cJSON empty = {.type = cJSON_Object};
    int rc = json_get_obj(root, "alert", JSON_OPTIONAL, &al, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (!al)
        al = &empty;
    if ((rc = json_check_fields(al, alert_fields, err)) < 0 ||
        (rc = json_opt_str(al, "webhook", "", 1024, &j->alert.webhook, err)) < 0 ||
        (rc = json_opt_int(al, "silence_s", 0, 7 * 86400, 0, &j->alert.silence_s, err)) < 0) {
        json_err_prefix(err, "alert");
        return rc;
    }
    if (j->alert.webhook[0] && strncmp(j->alert.webhook, "http://", 7) != 0 &&
        strncmp(j->alert.webhook, "https://", 8) != 0)
        return sc_err_set(err, EINVAL, "alert.webhook", -1, "must be an http:// or https:// URL");
    /* channels and escalate are kept as their JSON text: only the leader's
     * sender reads them (core/alertch.h). */
    const cJSON *lst = NULL;
    if ((rc = json_get_arr(al, "channels", JSON_OPTIONAL, &lst, err)) == 0) {
        if ((rc = alertch_validate(lst, "alert.channels", err)) < 0)
            return rc;
        if (!(j->alert.channels = json_print(lst)))
            return sc_err_set(err, ENOMEM, "alert.channels", -1, "out of memory");
    } else if (rc != -ENOENT) {
        json_err_prefix(err, "alert");
        return rc;
    }
    if ((rc = json_get_arr(al, "escalate", JSON_OPTIONAL, &lst, err)) == 0) {
        if ((rc = alertch_validate_escalate(lst, "alert.escalate", err)) < 0)
            return rc;
        if (!(j->alert.escalate = json_print(lst)))
            return sc_err_set(err, ENOMEM, "alert.escalate", -1, "out of memory");
    } else if (rc != -ENOENT) {
        json_err_prefix(err, "alert");
        return rc;
    }
    j->alert.on = JOB_ALERT_FAILURE | JOB_ALERT_TIMEOUT | JOB_ALERT_MISSED;
    rc = json_get_arr(al, "on", JSON_OPTIONAL, &on, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0) {
        json_err_prefix(err, "alert");
        return rc;
    }
    j->alert.on = 0;
    cJSON_ArrayForEach(it, on)
    {
        int k = cJSON_IsString(it) ? pick(it->valuestring, alert_on_names, 4) : -1;
        if (k < 0)
            return sc_err_set(err, EINVAL, "alert.on", -1,
                              "entries must be failure, timeout, missed or no_failover");
        j->alert.on |= 1u << k;
    }
    return 0;
}

/* parse_env: {"NAME": "value" | {"secret": "name"}, ...}, shell jobs only (a
 * Java worker is shared by many executions and cannot take per-job variables). */
static int parse_env(const cJSON *root, struct job *j, struct sc_err *err)
{
    const cJSON *env, *it;
    char field[160];
    int rc = json_get_obj(root, "env", JSON_OPTIONAL, &env, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    int n = cJSON_GetArraySize(env);
    if (n == 0)
        return 0;
    if (j->type != JOB_SHELL)
        return sc_err_set(err, EINVAL, "env", -1, "is only allowed when type is shell");
    if (n > JOB_ENV_MAX)
        return sc_err_set(err, EINVAL, "env", -1, "at most %d variables (got %d)", JOB_ENV_MAX, n);
    if (!(j->env = calloc((size_t)n, sizeof *j->env)))
        return sc_err_set(err, ENOMEM, "env", -1, "out of memory");
    cJSON_ArrayForEach(it, env)
    {
        struct job_env *e = &j->env[j->nenv];
        snprintf(field, sizeof field, "env.%.140s", it->string);
        if (!env_name_ok(it->string))
            return sc_err_set(err, EINVAL, field, -1,
                              "must be a variable name of [A-Za-z0-9_] (not SHARDCRON_*, LD_* "
                              "or PATH)");
        for (int k = 0; k < j->nenv; k++)
            if (strcmp(j->env[k].name, it->string) == 0)
                return sc_err_set(err, EINVAL, field, -1, "is given twice");
        if (!(e->name = strdup(it->string)))
            return sc_err_set(err, ENOMEM, field, -1, "out of memory");
        j->nenv++;
        if (cJSON_IsString(it)) {
            if (strlen(it->valuestring) > 4096)
                return sc_err_set(err, EINVAL, field, -1, "must be at most 4096 bytes");
            if (!(e->value = strdup(it->valuestring)))
                return sc_err_set(err, ENOMEM, field, -1, "out of memory");
            continue;
        }
        const cJSON *sec =
            cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "secret") : NULL;
        if (!cJSON_IsString(sec) || cJSON_GetArraySize(it) != 1)
            return sc_err_set(err, EINVAL, field, -1, "must be a string or {\"secret\": \"NAME\"}");
        if (!job_secret_name_valid(sec->valuestring))
            return sc_err_set(err, EINVAL, field, -1,
                              "secret: must be 1-%d characters of [A-Za-z0-9._-], not starting "
                              "with '.'",
                              JOB_SECRET_NAME_MAX);
        if (!(e->secret = strdup(sec->valuestring)))
            return sc_err_set(err, ENOMEM, field, -1, "out of memory");
    }
    return 0;
}

/* validate_schedule: the cron expression (core/cron's dialect) and the shape of
 * the time zone name. Whether the zone exists in this host's zoneinfo is
 * checked where jobs are written (console, shardcronctl) and where they run,
 * not here: job_parse must give the same verdict on every host, because every
 * agent derives the assignment from the same set of valid jobs. */
static int validate_schedule(struct job *j, struct sc_err *err)
{
    cron_expr *e = NULL;
    struct sc_err cerr;
    sc_err_clear(&cerr);
    /* No cron: the job runs only when triggered (by hand, by a workflow). */
    if (j->cron[0] && cron_parse(j->cron, &e, &cerr) < 0)
        return sc_err_set(err, EINVAL, "cron", cerr.pos, "%s%s%s", cerr.field,
                          cerr.field[0] ? ": " : "", cerr.msg);
    cron_free(e);
    if (!j->timezone[0] || strstr(j->timezone, "..") || j->timezone[0] == '/')
        return sc_err_set(err, EINVAL, "timezone", -1,
                          "must be an IANA zone name like Asia/Shanghai");
    return 0;
}

/* ---------------------------------------------------------------- job_from_cjson */

int job_from_cjson(const cJSON *root, struct job **out, struct sc_err *err)
{
    struct job *j;
    const char *name = NULL;
    int rc, v;

    *out = NULL;
    if (!cJSON_IsObject(root))
        return sc_err_set(err, EINVAL, "", -1, "a job must be a JSON object");
    if ((rc = json_check_fields(root, job_fields, err)) < 0)
        return rc;
    if ((rc = json_get_str(root, "name", JSON_REQUIRED, &name, err)) < 0)
        return rc;
    if (!job_name_valid(name))
        return sc_err_set(err, EINVAL, "name", -1,
                          "must be 1-%d characters of [A-Za-z0-9._-] (got \"%.40s\")", JOB_NAME_MAX,
                          name);
    if (!(j = calloc(1, sizeof *j)))
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    if (!(j->name = strdup(name))) {
        rc = sc_err_set(err, ENOMEM, "name", -1, "out of memory");
        goto err;
    }
    if ((rc = json_opt_str(root, "description", "", 4096, &j->description, err)) < 0 ||
        (rc = json_opt_str(root, "domain", "", JOB_NAME_MAX, &j->domain, err)) < 0 ||
        (rc = json_opt_int(root, "level", 0, 1000, 0, &j->level, err)) < 0)
        goto err;
    if (j->domain[0] && !job_name_valid(j->domain)) {
        rc = sc_err_set(err, EINVAL, "domain", -1, "must be characters of [A-Za-z0-9._-]");
        goto err;
    }
    if ((rc = json_opt_str(root, "cron", "", 256, &j->cron, err)) < 0 ||
        (rc = json_opt_str(root, "timezone", "UTC", 64, &j->timezone, err)) < 0 ||
        (rc = validate_schedule(j, err)) < 0 ||
        (rc = calendar_opt_fields(root, &j->calendar, &j->calendar_rule, &j->calendar_shift, err)) <
            0)
        goto err;
    if (j->calendar[0] && !j->cron[0]) {
        rc = sc_err_set(err, EINVAL, "calendar", -1,
                        "needs a cron: a job without one runs only when triggered");
        goto err;
    }
    if ((rc = json_opt_int(root, "shards", 1, JOB_SHARDS_MAX, 1, &j->shards, err)) < 0 ||
        (rc = parse_shard_params(root, j, err)) < 0 ||
        (rc = json_opt_str(root, "job_param", "", 4096, &j->job_param, err)) < 0)
        goto err;
    if ((rc = opt_enum(root, "type", type_names, 2, JOB_SHELL, &v, err)) < 0)
        goto err;
    j->type = (enum job_type)v;
    if ((rc = json_opt_str(root, "command", "", 4096, &j->command, err)) < 0)
        goto err;
    if (j->type == JOB_SHELL && !j->command[0]) {
        rc = sc_err_set(err, EINVAL, "command", -1, "is required when type is shell");
        goto err;
    }
    if (j->type == JOB_JAVA && j->command[0]) {
        rc = sc_err_set(err, EINVAL, "command", -1, "is only allowed when type is shell");
        goto err;
    }
    if ((rc = parse_java(root, j, err)) < 0)
        goto err;
    if ((rc = opt_enum(root, "strategy", strategy_names, 4, 0, &v, err)) < 0)
        goto err;
    if (!(j->strategy = strdup(strategy_names[v]))) {
        rc = sc_err_set(err, ENOMEM, "strategy", -1, "out of memory");
        goto err;
    }
    if ((rc = parse_labels(root, j, err)) < 0 ||
        (rc = json_opt_bool(root, "failover", true, &j->failover, err)) < 0)
        goto err;
    if ((rc = opt_enum(root, "misfire", misfire_names, 3, JOB_MISFIRE_ONCE, &v, err)) < 0)
        goto err;
    j->misfire = (enum job_misfire)v;
    if ((rc = json_opt_int(root, "misfire_threshold_s", 0, 86400, 5, &j->misfire_threshold_s,
                           err)) < 0)
        goto err;
    if ((rc = opt_enum(root, "concurrency", conc_names, 3, JOB_CONC_FORBID, &v, err)) < 0)
        goto err;
    j->concurrency = (enum job_concurrency)v;
    if ((rc = json_opt_int(root, "timeout_s", 0, 7 * 86400, 0, &j->timeout_s, err)) < 0 ||
        (rc = json_opt_int(root, "retries", 0, 10, 0, &j->retries, err)) < 0 ||
        (rc = json_opt_int(root, "retry_backoff_s", 0, 3600, 10, &j->retry_backoff_s, err)) < 0 ||
        (rc = json_opt_bool(root, "disabled", false, &j->disabled, err)) < 0 ||
        (rc = parse_alert(root, j, err)) < 0 || (rc = parse_env(root, j, err)) < 0)
        goto err;
    *out = j;
    return 0;
err:
    job_free(j);
    return rc;
}

int job_parse(const char *json, size_t len, struct job **out, struct sc_err *err)
{
    cJSON *root = json_parse(json, len, err);
    *out = NULL;
    if (!root)
        return -EINVAL;
    int rc = job_from_cjson(root, out, err);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- serialization */

cJSON *job_to_cjson(const struct job *j)
{
    cJSON *o = cJSON_CreateObject(), *sp, *labels, *alert, *on;
    char key[16];
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "description", j->description);
    cJSON_AddStringToObject(o, "domain", j->domain);
    cJSON_AddNumberToObject(o, "level", j->level);
    cJSON_AddStringToObject(o, "cron", j->cron);
    cJSON_AddStringToObject(o, "timezone", j->timezone);
    /* Only when set: agents of a release without calendars refuse the fields. */
    calendar_add_fields(o, j->calendar, j->calendar_rule, j->calendar_shift);
    cJSON_AddNumberToObject(o, "shards", j->shards);
    sp = cJSON_AddObjectToObject(o, "shard_params");
    for (int i = 0; sp && i < j->shards; i++)
        if (j->shard_params[i]) {
            snprintf(key, sizeof key, "%d", i);
            cJSON_AddStringToObject(sp, key, j->shard_params[i]);
        }
    cJSON_AddStringToObject(o, "job_param", j->job_param);
    cJSON_AddStringToObject(o, "type", type_names[j->type]);
    if (j->type == JOB_SHELL) {
        cJSON_AddStringToObject(o, "command", j->command);
    } else {
        cJSON *jv = cJSON_AddObjectToObject(o, "java");
        cJSON_AddStringToObject(jv, "classpath", j->java.classpath);
        cJSON_AddStringToObject(jv, "class", j->java.cls);
        cJSON_AddStringToObject(jv, "jvm_opts", j->java.jvm_opts);
    }
    cJSON_AddStringToObject(o, "strategy", j->strategy);
    labels = cJSON_AddArrayToObject(o, "labels");
    for (int i = 0; labels && i < j->nlabels; i++)
        cJSON_AddItemToArray(labels, cJSON_CreateString(j->labels[i]));
    cJSON_AddBoolToObject(o, "failover", j->failover);
    cJSON_AddStringToObject(o, "misfire", misfire_names[j->misfire]);
    cJSON_AddNumberToObject(o, "misfire_threshold_s", j->misfire_threshold_s);
    cJSON_AddStringToObject(o, "concurrency", conc_names[j->concurrency]);
    cJSON_AddNumberToObject(o, "timeout_s", j->timeout_s);
    cJSON_AddNumberToObject(o, "retries", j->retries);
    cJSON_AddNumberToObject(o, "retry_backoff_s", j->retry_backoff_s);
    cJSON_AddBoolToObject(o, "disabled", j->disabled);
    alert = cJSON_AddObjectToObject(o, "alert");
    cJSON_AddStringToObject(alert, "webhook", j->alert.webhook);
    on = cJSON_AddArrayToObject(alert, "on");
    for (int k = 0; on && k < 4; k++)
        if (j->alert.on & (1u << k))
            cJSON_AddItemToArray(on, cJSON_CreateString(alert_on_names[k]));
    cJSON_AddNumberToObject(alert, "silence_s", j->alert.silence_s);
    /* Only when set, as env below. */
    if (j->alert.channels)
        cJSON_AddItemToObject(alert, "channels", cJSON_Parse(j->alert.channels));
    if (j->alert.escalate)
        cJSON_AddItemToObject(alert, "escalate", cJSON_Parse(j->alert.escalate));
    /* Only when set: agents of a release without "env" refuse the field. */
    cJSON *env = j->nenv ? cJSON_AddObjectToObject(o, "env") : NULL;
    for (int i = 0; env && i < j->nenv; i++) {
        if (j->env[i].secret) {
            cJSON *ref = cJSON_AddObjectToObject(env, j->env[i].name);
            cJSON_AddStringToObject(ref, "secret", j->env[i].secret);
        } else {
            cJSON_AddStringToObject(env, j->env[i].name, j->env[i].value);
        }
    }
    return o;
}

char *job_to_json(const struct job *j)
{
    cJSON *o = job_to_cjson(j);
    char *s = o ? json_print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int job_check_size(const struct job *j, struct sc_err *err)
{
    char *s = job_to_json(j);
    if (!s)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    size_t n = strlen(s);
    free(s);
    if (n > JOB_STORED_MAX)
        return sc_err_set(err, EINVAL, "", -1,
                          "the job is %zu bytes as stored, over the %d bytes a ZooKeeper node "
                          "takes (jute.maxbuffer); shorten shard_params or other long fields",
                          n, JOB_STORED_MAX);
    return 0;
}

void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->description);
    free(j->domain);
    free(j->cron);
    free(j->timezone);
    free(j->calendar);
    if (j->shard_params)
        for (int i = 0; i < j->shards; i++)
            free(j->shard_params[i]);
    free(j->shard_params);
    free(j->job_param);
    free(j->command);
    free(j->java.classpath);
    free(j->java.cls);
    free(j->java.jvm_opts);
    free(j->strategy);
    if (j->labels)
        for (int i = 0; i < j->nlabels; i++)
            free(j->labels[i]);
    free(j->labels);
    free(j->alert.webhook);
    free(j->alert.channels);
    free(j->alert.escalate);
    for (int i = 0; i < j->nenv; i++) {
        free(j->env[i].name);
        free(j->env[i].value);
        free(j->env[i].secret);
    }
    free(j->env);
    free(j);
}

void job_item_key(char *buf, size_t len, const char *job, int item)
{
    snprintf(buf, len, "%s\x1f%d", job, item);
}
