/* ctl/cmd_pause.c: `shardcronctl pause add|list|delete` (docs/pauses.md).
 *
 * A window is a znode /pauses/<id> holding its canonical JSON (core/pause.h);
 * every agent follows them with watches, so a write here takes effect on the
 * next fire. `pause add` takes a window's JSON (FILE or - for stdin), or
 * builds a one-off window from flags: `pause add --domain D --for 30m
 * --reason TEXT` (also --scope-job, --scope-workflow, --labels, --all;
 * --from, --tz, --action, --pause-id). */
#define LOG_CAT "shardcron.ctl"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/job.h"
#include "core/json.h"
#include "core/pause.h"
#include "core/tz.h"
#include "ctl/ctl.h"
#include "registry/pausecache.h"
#include "registry/zkcli.h"

#define ADD_USAGE                                                                                  \
    "pause add FILE|- | pause add --domain D|--scope-job J|--scope-workflow W|--labels L,..|--all" \
    " --for 30m|--to T --reason TEXT [--from T] [--tz ZONE] [--action skip|defer] [--pause-id ID]"

/* parse_for: "90s", "30m", "2h", "1d" -> seconds; -1 when malformed. */
static long long parse_for(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v <= 0 || strlen(end) != 1)
        return -1;
    switch (*end) {
    case 's':
        return v;
    case 'm':
        return v * 60;
    case 'h':
        return v * 3600;
    case 'd':
        return v * 86400;
    }
    return -1;
}

/* from_flags: a window's JSON from the quick flags, the caller's; NULL after
 * printing what is wrong. */
static char *from_flags(const struct cfg *c)
{
    /* --scope-job and --scope-workflow, not --job: settings are also read from
     * SHARDCRON_<NAME>, and every execution has SHARDCRON_JOB set. */
    static const char *const opt[] = {"domain", "scope_job", "scope_workflow", "labels", "all"};
    static const char *const scopes[] = {"domain", "job", "workflow", "labels", "all"};
    const char *kind = NULL, *kopt = NULL;
    int nscope = 0;
    for (size_t i = 0; i < sizeof scopes / sizeof *scopes; i++)
        if (i == 4 ? cfg_flag(c, "all") : cfg_str(c, opt[i]) != NULL) {
            kind = scopes[i];
            kopt = opt[i];
            nscope++;
        }
    if (nscope != 1) {
        fprintf(stderr,
                "shardcronctl: pause add: give exactly one of --domain, --scope-job,"
                " --scope-workflow, --labels, --all (or a FILE)\nusage: shardcronctl " ADD_USAGE
                "\n");
        return NULL;
    }
    if (!cfg_str(c, "reason")) {
        fprintf(stderr,
                "shardcronctl: pause add: --reason: missing (say why; operators read it)\n");
        return NULL;
    }
    const char *zone = cfg_str(c, "tz") ? cfg_str(c, "tz") : "UTC";
    int64_t now = (int64_t)time(NULL);
    char from[40], to[40], id[PAUSE_ID_MAX + 1];
    snprintf(from, sizeof from, "@%lld", (long long)now);
    if (cfg_str(c, "from"))
        snprintf(from, sizeof from, "%.38s", cfg_str(c, "from"));
    if (cfg_str(c, "for") && cfg_str(c, "to")) {
        fprintf(stderr, "shardcronctl: pause add: give --for or --to, not both\n");
        return NULL;
    }
    if (cfg_str(c, "for")) {
        long long d = parse_for(cfg_str(c, "for"));
        if (d < 0) {
            fprintf(stderr,
                    "shardcronctl: pause add: --for: \"%s\" is not a duration like 90s,"
                    " 30m, 2h or 1d\n",
                    cfg_str(c, "for"));
            return NULL;
        }
        /* The end counts from the start: parse the start as the window will. */
        int64_t start = now;
        if (cfg_str(c, "from")) {
            struct sc_err err;
            int64_t civil;
            tz_zone *z = tz_load(zone, &err);
            const char *f = cfg_str(c, "from");
            if (!z) {
                fprintf(stderr, "shardcronctl: pause add: --tz: %s\n", err.msg);
                return NULL;
            }
            int ok = f[0] == '@' ? (start = strtoll(f + 1, NULL, 10), 0)
                     : tz_parse_civil(f, &civil) == 0
                         ? tz_from_local(z, civil, &start) == -ENOENT ? -1 : 0
                         : -1;
            tz_free(z);
            if (ok < 0) {
                fprintf(stderr,
                        "shardcronctl: pause add: --from: \"%s\" is not \"YYYY-MM-DD"
                        " HH:MM:SS\" in %s or @EPOCH\n",
                        f, zone);
                return NULL;
            }
        }
        snprintf(to, sizeof to, "@%lld", (long long)(start + d));
    } else if (cfg_str(c, "to")) {
        snprintf(to, sizeof to, "%.38s", cfg_str(c, "to"));
    } else {
        fprintf(stderr, "shardcronctl: pause add: --for or --to: missing (when the window ends)\n");
        return NULL;
    }
    if (cfg_str(c, "pause_id")) {
        snprintf(id, sizeof id, "%s", cfg_str(c, "pause_id"));
    } else {
        struct tm tm;
        char stamp[24];
        time_t t = (time_t)now;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        const char *target = strcmp(kind, "all") == 0 ? "all" : cfg_str(c, kopt);
        snprintf(id, sizeof id, "%s-%.60s-%s", kind, target, stamp);
        for (char *p = id; *p; p++)
            if (*p == ',')
                *p = '_';
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON *sc = cJSON_AddObjectToObject(o, "scope");
    if (strcmp(kind, "all") == 0) {
        cJSON_AddTrueToObject(sc, "all");
    } else if (strcmp(kind, "labels") == 0) {
        cJSON *arr = cJSON_AddArrayToObject(sc, "labels");
        char *dup = strdup(cfg_str(c, "labels")), *save = NULL;
        for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(arr, cJSON_CreateString(t));
        free(dup);
    } else {
        cJSON_AddStringToObject(sc, kind, cfg_str(c, kopt));
    }
    cJSON_AddStringToObject(o, "from", from);
    cJSON_AddStringToObject(o, "to", to);
    cJSON_AddStringToObject(o, "timezone", zone);
    cJSON_AddStringToObject(o, "action", cfg_str(c, "action") ? cfg_str(c, "action") : "skip");
    cJSON_AddStringToObject(o, "reason", cfg_str(c, "reason"));
    char *s = json_print(o);
    cJSON_Delete(o);
    return s;
}

int ctl_pause_add(const struct cfg *c, int nargs, char **args)
{
    size_t len = 0;
    struct pause *p = NULL;
    struct sc_err err;
    char msg[512];
    int rc;
    char *text = NULL;
    if (nargs >= 1) {
        if (!(text = ctl_read_doc(args[0], 1u << 20, "a pause window", &len, &rc)))
            return rc;
    } else if (!(text = from_flags(c))) {
        return CTL_INVALID;
    } else {
        len = strlen(text);
    }
    sc_err_clear(&err);
    if (pause_parse(text, len, &p, &err) < 0) {
        fprintf(stderr, "shardcronctl: invalid pause window: %s\n",
                sc_err_format(&err, msg, sizeof msg));
        free(text);
        return CTL_INVALID;
    }
    free(text);
    char *canon = pause_to_json(p);
    struct zkcli *k = canon ? ctl_connect_zk_create(c) : NULL;
    if (!k) {
        rc = CTL_ERR;
        goto out;
    }
    int version;
    rc = ctl_put_node(k, PAUSECACHE_ROOT, p->id, canon, "pause window", &version);
    bool created = version == 0;
    if (rc == CTL_OK) {
        char sc[200], a[40], b[40];
        if (p->cron)
            printf("pause window %s %s: %s %s, every \"%s\" for %d s (%s)\n", p->id,
                   created ? "created" : "updated", pause_action_name(p->action),
                   pause_scope_text(p, sc, sizeof sc), p->cron, p->duration_s, p->timezone);
        else
            printf("pause window %s %s: %s %s from %s to %s (%s)\n", p->id,
                   created ? "created" : "updated", pause_action_name(p->action),
                   pause_scope_text(p, sc, sizeof sc),
                   tz_format_civil(p->from + tz_offset(p->zone, p->from), a, sizeof a),
                   tz_format_civil(p->to + tz_offset(p->zone, p->to), b, sizeof b), p->timezone);
        rc = CTL_OK;
    }
out:
    free(canon);
    pause_free(p);
    zkcli_close(k);
    return rc;
}

/* state_of: "active until T", "next T", "over" for a window at `now`. */
static const char *state_of(const struct pause *p, int64_t now, char *buf, size_t len,
                            int64_t *until)
{
    int64_t b, e;
    char t[32];
    *until = 0;
    if (pause_window_at(p, now, NULL, &e)) {
        *until = e;
        snprintf(buf, len, "active until %s", tz_format_civil(e + tz_offset(p->zone, e), t, 32));
    } else if ((b = pause_next_start(p, now, NULL)) >= 0) {
        snprintf(buf, len, "next %s", tz_format_civil(b + tz_offset(p->zone, b), t, 32));
    } else {
        snprintf(buf, len, "over");
    }
    return buf;
}

int ctl_pause_list(const struct cfg *c, int nargs, char **args)
{
    char **names = NULL;
    int n = 0;
    (void)nargs, (void)args;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    int zrc = zkcli_children(k, PAUSECACHE_ROOT, &names, &n);
    if (zrc == ZNONODE) {
        n = 0;
    } else if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: listing " PAUSECACHE_ROOT ": %s\n", zerror(zrc));
        zkcli_close(k);
        return CTL_ERR;
    }
    bool json = ctl_json_out(c);
    int64_t now = (int64_t)time(NULL);
    cJSON *arr = cJSON_CreateArray();
    if (!json)
        printf("%-36s %-6s %-24s %-40s %s\n", "ID", "ACTION", "SCOPE", "WHEN", "REASON");
    for (int i = 0; i < n; i++) {
        char path[300], *data = NULL, st[80], sc[200], when[120], why[300];
        int len = 0;
        int64_t until;
        struct pause *p = NULL;
        struct sc_err err;
        sc_err_clear(&err);
        snprintf(path, sizeof path, PAUSECACHE_ROOT "/%s", names[i]);
        if (zkcli_get(k, path, &data, &len, NULL) != ZOK)
            continue; /* deleted meanwhile */
        if (pause_parse(data ? data : "", data ? (size_t)len : 0, &p, &err) < 0) {
            sc_err_format(&err, why, sizeof why);
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", names[i]);
                cJSON_AddStringToObject(o, "state", "invalid");
                cJSON_AddStringToObject(o, "error", why);
                cJSON_AddItemToArray(arr, o);
            } else {
                printf("%-36s (invalid, pauses nothing: %s)\n", names[i], why);
            }
            free(data);
            continue;
        }
        free(data);
        state_of(p, now, st, sizeof st, &until);
        if (json) {
            cJSON *o = pause_to_cjson(p);
            cJSON_AddStringToObject(o, "state",
                                    until                     ? "active"
                                    : strcmp(st, "over") == 0 ? "over"
                                                              : "upcoming");
            if (until)
                cJSON_AddNumberToObject(o, "active_until", (double)until);
            cJSON_AddItemToArray(arr, o);
        } else {
            char a[32], b[32];
            if (p->cron)
                snprintf(when, sizeof when, "\"%s\" +%ds; %s", p->cron, p->duration_s, st);
            else
                snprintf(when, sizeof when, "%s..%s; %s",
                         tz_format_civil(p->from + tz_offset(p->zone, p->from), a, sizeof a),
                         tz_format_civil(p->to + tz_offset(p->zone, p->to), b, sizeof b),
                         until ? "active" : st);
            printf("%-36s %-6s %-24s %-40s %s\n", p->id, pause_action_name(p->action),
                   pause_scope_text(p, sc, sizeof sc), when, p->reason);
        }
        pause_free(p);
    }
    if (json) {
        char *s = json_print(arr);
        printf("%s\n", s ? s : "[]");
        free(s);
    }
    cJSON_Delete(arr);
    zkcli_free_children(names, n);
    zkcli_close(k);
    return CTL_OK;
}

int ctl_pause_delete(const struct cfg *c, int nargs, char **args)
{
    char path[300];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "pause delete ID")) != CTL_OK)
        return rc;
    if (!job_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid pause window id\n", args[0]);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    snprintf(path, sizeof path, PAUSECACHE_ROOT "/%s", args[0]);
    int zrc = zkcli_delete(k, path, -1);
    zkcli_close(k);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no pause window %s\n", args[0]);
        return CTL_ERR;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: deleting %s: %s\n", path, zerror(zrc));
        return CTL_ERR;
    }
    printf("pause window %s deleted\n", args[0]);
    return CTL_OK;
}
