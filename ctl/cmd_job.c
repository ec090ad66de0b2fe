/* ctl/cmd_job.c: shardcronctl's ZooKeeper commands — job put/get/list/delete/
 * enable/disable/trigger, agents, shards.
 *
 * Jobs live under /jobs/<name>; writes are optimistic (the version read is the
 * version written), so a concurrent edit is reported instead of overwritten. */
#define LOG_CAT "shardcron.ctl"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/job.h"
#include "core/json.h"
#include "core/tz.h"
#include "ctl/ctl.h"
#include "registry/jobops.h"
#include "registry/plan.h"
#include "registry/zkcli.h"
#include "sharding/shard.h"

/* ---------------------------------------------------------------- helpers */

/* open_zk: connect to ZooKeeper in the configured namespace; prints the error. */
static struct zkcli *open_zk(const struct cfg *c, const char *ns)
{
    struct sc_err err;
    char msg[512], *auth = NULL;
    sc_err_clear(&err);
    if (cfg_str(c, "zk_auth_file") && !(auth = cfg_read_secret(cfg_str(c, "zk_auth_file"), &err))) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        return NULL;
    }
    struct zkcli *k = zkcli_open(cfg_str(c, "zk"), ns, auth, 5000, &err);
    free(auth);
    if (!k)
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
    return k;
}

/* no_namespace: the error for a namespace that is not there, naming the ones
 * that are (children of the chroot's root, ZooKeeper's own left out). */
static void no_namespace(const struct cfg *c, const char *ns)
{
    char list[1024] = "";
    size_t used = 0;
    struct zkcli *root = open_zk(c, "");
    char **names = NULL;
    int n = 0;
    if (root && zkcli_children(root, "/", &names, &n) == ZOK)
        for (int i = 0; i < n; i++) {
            if (strcmp(names[i], "zookeeper") == 0 || used + strlen(names[i]) + 3 >= sizeof list)
                continue;
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                                     names[i]);
        }
    zkcli_free_children(names, n);
    zkcli_close(root);
    fprintf(stderr,
            "shardcronctl: namespace \"%s\" does not exist in ZooKeeper at %s (%s%s); "
            "choose one with --namespace NS\n",
            ns, cfg_str(c, "zk"), used ? "namespaces there: " : "no namespace there yet", list);
}

/* ctl_connect_zk: for commands that read or change what a namespace holds: a
 * namespace that does not exist is an error, never an empty answer (a typo'd
 * --namespace would list nothing, export nothing). */
struct zkcli *ctl_connect_zk(const struct cfg *c)
{
    const char *ns = cfg_str(c, "namespace");
    struct zkcli *k = open_zk(c, ns);
    if (!k || !ns || !*ns)
        return k;
    int zrc = zkcli_exists(k, "/", NULL);
    if (zrc == ZOK)
        return k;
    zkcli_close(k);
    if (zrc == ZNONODE)
        no_namespace(c, ns);
    else
        fprintf(stderr, "shardcronctl: namespace \"%s\": %s\n", ns, zerror(zrc));
    return NULL;
}

/* connect_zk_create: for job put and import, which make the namespace. */
struct zkcli *ctl_connect_zk_create(const struct cfg *c)
{
    return open_zk(c, cfg_str(c, "namespace"));
}

bool ctl_json_out(const struct cfg *c)
{
    const char *f = cfg_str(c, "format");
    return f && strcmp(f, "json") == 0;
}

char *ctl_read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!f || !buf) {
        free(buf);
        return NULL;
    }
    for (size_t r; (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            if (cap >= (1u << 20)) {
                n = cap + 1; /* over the cap: rejected below */
                break;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

char *ctl_read_doc(const char *path, size_t max, const char *what, size_t *len, int *rc)
{
    char *text = ctl_read_all(path, len);
    if (!text) {
        fprintf(stderr, "shardcronctl: cannot read %s: %s\n", path, strerror(errno));
        *rc = CTL_ERR;
        return NULL;
    }
    if (*len > max) {
        fprintf(stderr, "shardcronctl: %s: over %zu bytes; not %s\n", path, max, what);
        free(text);
        *rc = CTL_INVALID;
        return NULL;
    }
    return text;
}

int ctl_put_node(struct zkcli *k, const char *root, const char *name, const char *doc,
                 const char *what, int *version)
{
    char path[300];
    struct Stat st;
    zkcli_ensure(k, root);
    snprintf(path, sizeof path, "%s/%s", root, name);
    int zrc = zkcli_exists(k, path, &st);
    *version = zrc == ZOK ? st.version + 1 : 0;
    if (zrc == ZNONODE)
        zrc = zkcli_create(k, path, doc, (int)strlen(doc), 0, NULL, 0);
    else if (zrc == ZOK)
        zrc = zkcli_set(k, path, doc, (int)strlen(doc), st.version, NULL);
    if (zrc == ZBADVERSION || zrc == ZNODEEXISTS) {
        fprintf(stderr, "shardcronctl: %s %s changed concurrently; retry\n", what, name);
        return CTL_ERR;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: writing %s: %s\n", path, zerror(zrc));
        return CTL_ERR;
    }
    return CTL_OK;
}

int ctl_need_args(int nargs, int want, const char *usage)
{
    if (nargs < want) {
        fprintf(stderr, "usage: shardcronctl %s\n", usage);
        return CTL_INVALID;
    }
    return CTL_OK;
}

/* ---------------------------------------------------------------- job put / get / delete */

int ctl_job_put(const struct cfg *c, int nargs, char **args)
{
    size_t len = 0;
    struct job *j = NULL;
    struct sc_err err;
    char path[300], msg[512], *cur = NULL;
    struct Stat st;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "job put FILE|-")) != CTL_OK)
        return rc;
    char *text = ctl_read_doc(args[0], 1u << 20, "a job config", &len, &rc);
    if (!text)
        return rc;
    sc_err_clear(&err);
    if (job_parse(text, len, &j, &err) < 0 || job_check_size(j, &err) < 0) {
        fprintf(stderr, "shardcronctl: invalid job: %s\n", sc_err_format(&err, msg, sizeof msg));
        job_free(j);
        free(text);
        return CTL_INVALID;
    }
    free(text);
    /* The zone must exist here; agents check again where they run. */
    tz_zone *zone = tz_load(j->timezone, &err);
    if (!zone) {
        fprintf(stderr, "shardcronctl: invalid job: timezone: %s\n", err.msg);
        job_free(j);
        return CTL_INVALID;
    }
    tz_free(zone);
    struct zkcli *k = ctl_connect_zk_create(c);
    char *canon = job_to_json(j);
    if (!k || !canon) {
        rc = CTL_ERR;
        goto out;
    }
    if ((rc = ctl_calendar_check(k, "job", j->name, j->calendar)) != CTL_OK)
        goto out;
    zkcli_ensure(k, "/jobs");
    snprintf(path, sizeof path, "/jobs/%s", j->name);
    int zrc = zkcli_get(k, path, &cur, NULL, &st);
    if (zrc == ZNONODE) {
        zrc = zkcli_job_create(k, j->name, canon, (int)strlen(canon));
        if (zrc == ZOK)
            printf("job %s created\n", j->name);
    } else if (zrc == ZOK) {
        zrc = zkcli_job_set(k, j->name, canon, (int)strlen(canon), st.version);
        if (zrc == ZOK)
            printf("job %s updated (version %d)\n", j->name, st.version + 1);
    }
    if (zrc == ZBADVERSION || zrc == ZNODEEXISTS) {
        fprintf(stderr, "shardcronctl: job %s changed concurrently; read it again and retry\n",
                j->name);
        rc = CTL_ERR;
    } else if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: writing %s: %s\n", path, zerror(zrc));
        rc = CTL_ERR;
    } else {
        rc = CTL_OK;
    }
out:
    free(cur);
    free(canon);
    job_free(j);
    zkcli_close(k);
    return rc;
}

int ctl_job_get(const struct cfg *c, int nargs, char **args)
{
    char path[300], *data = NULL;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "job get NAME")) != CTL_OK)
        return rc;
    if (!job_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid job name\n", args[0]);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    snprintf(path, sizeof path, "/jobs/%s", args[0]);
    int zrc = zkcli_get(k, path, &data, NULL, NULL);
    zkcli_close(k);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no job named %s\n", args[0]);
        return CTL_ERR;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: reading %s: %s\n", path, zerror(zrc));
        return CTL_ERR;
    }
    cJSON *o = cJSON_Parse(data);
    char *pretty = o ? cJSON_Print(o) : NULL;
    printf("%s\n", pretty ? pretty : data);
    free(pretty);
    cJSON_Delete(o);
    free(data);
    return CTL_OK;
}

int ctl_job_delete(const struct cfg *c, int nargs, char **args)
{
    char path[300];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "job delete NAME")) != CTL_OK)
        return rc;
    if (!job_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid job name\n", args[0]);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    snprintf(path, sizeof path, "/jobs/%s", args[0]);
    int zrc = zkcli_delete_tree(k, path);
    zkcli_close(k);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no job named %s\n", args[0]);
        return CTL_ERR;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: deleting %s: %s\n", path, zerror(zrc));
        return CTL_ERR;
    }
    printf("job %s deleted\n", args[0]);
    return CTL_OK;
}

static int set_disabled(const struct cfg *c, const char *name, bool disabled)
{
    char path[300], *data = NULL;
    struct Stat st;
    struct job *j = NULL;
    struct sc_err err;
    if (!job_name_valid(name)) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid job name\n", name);
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    snprintf(path, sizeof path, "/jobs/%s", name);
    int zrc = zkcli_get(k, path, &data, NULL, &st);
    if (zrc == ZOK && job_parse(data, strlen(data), &j, &err) == 0) {
        j->disabled = disabled;
        char *canon = job_to_json(j);
        zrc = canon ? zkcli_job_set(k, name, canon, (int)strlen(canon), st.version) : ZSYSTEMERROR;
        free(canon);
    } else if (zrc == ZOK) {
        fprintf(stderr, "shardcronctl: job %s holds an invalid config: %s: %s\n", name, err.field,
                err.msg);
        zrc = ZBADARGUMENTS;
    }
    free(data);
    job_free(j);
    zkcli_close(k);
    if (zrc == ZNONODE)
        fprintf(stderr, "shardcronctl: no job named %s\n", name);
    else if (zrc == ZBADVERSION)
        fprintf(stderr, "shardcronctl: job %s changed concurrently; retry\n", name);
    else if (zrc == ZOK)
        printf("job %s %s\n", name, disabled ? "disabled" : "enabled");
    return zrc == ZOK ? CTL_OK : CTL_ERR;
}

int ctl_job_enable(const struct cfg *c, int nargs, char **args)
{
    int rc = ctl_need_args(nargs, 1, "job enable NAME");
    return rc != CTL_OK ? rc : set_disabled(c, args[0], false);
}

int ctl_job_disable(const struct cfg *c, int nargs, char **args)
{
    int rc = ctl_need_args(nargs, 1, "job disable NAME");
    return rc != CTL_OK ? rc : set_disabled(c, args[0], true);
}

int ctl_job_trigger(const struct cfg *c, int nargs, char **args)
{
    char path[300], created[300];
    struct timeval tv;
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "job trigger NAME [--param P]")) != CTL_OK)
        return rc;
    if (!job_name_valid(args[0])) {
        fprintf(stderr, "shardcronctl: \"%s\" is not a valid job name\n", args[0]);
        return CTL_INVALID;
    }
    if (cfg_str(c, "param") && strchr(cfg_str(c, "param"), '\n')) {
        fprintf(stderr, "shardcronctl: --param: a job trigger takes one parameter\n");
        return CTL_INVALID;
    }
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    snprintf(path, sizeof path, "/jobs/%s", args[0]);
    int zrc = zkcli_exists(k, path, NULL);
    if (zrc == ZOK) {
        cJSON *o = cJSON_CreateObject();
        gettimeofday(&tv, NULL);
        if (cfg_str(c, "param"))
            cJSON_AddStringToObject(o, "param", cfg_str(c, "param"));
        cJSON_AddNumberToObject(o, "created_ms", (double)tv.tv_sec * 1000 + tv.tv_usec / 1000);
        char *data = json_print(o);
        cJSON_Delete(o);
        zrc = zkcli_job_trigger(k, args[0], data, (int)strlen(data), created, sizeof created);
        free(data);
    }
    zkcli_close(k);
    if (zrc == ZNONODE) {
        fprintf(stderr, "shardcronctl: no job named %s\n", args[0]);
        return CTL_ERR;
    }
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: trigger: %s\n", zerror(zrc));
        return CTL_ERR;
    }
    printf("triggered %s (%s)\n", args[0], strrchr(created, '/') + 1);
    return CTL_OK;
}

/* ---------------------------------------------------------------- listing: jobs, agents, shards */

/* load_jobs: every /jobs child parsed (NULL entries for invalid ones). */
static int load_jobs(struct zkcli *k, char ***names, struct job ***jobs, int *n)
{
    int zrc = zkcli_children(k, "/jobs", names, n);
    if (zrc == ZNONODE) {
        *names = NULL;
        *jobs = NULL;
        *n = 0;
        return ZOK;
    }
    if (zrc != ZOK)
        return zrc;
    *jobs = calloc((size_t)*n + 1, sizeof **jobs);
    for (int i = 0; *jobs && i < *n; i++) {
        char path[300], *data = NULL;
        struct sc_err err;
        snprintf(path, sizeof path, "/jobs/%s", (*names)[i]);
        if (zkcli_get(k, path, &data, NULL, NULL) == ZOK)
            job_parse(data, strlen(data), &(*jobs)[i], &err);
        free(data);
    }
    return ZOK;
}

static void free_jobs(char **names, struct job **jobs, int n)
{
    for (int i = 0; jobs && i < n; i++)
        job_free(jobs[i]);
    free(jobs);
    zkcli_free_children(names, n);
}

/* fetch_jobs: connect, load every job, disconnect; prints "what: error" on failure. */
static int fetch_jobs(const struct cfg *c, const char *what, char ***names, struct job ***jobs,
                      int *n)
{
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    int zrc = load_jobs(k, names, jobs, n);
    zkcli_close(k);
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: %s: %s\n", what, zerror(zrc));
        return CTL_ERR;
    }
    return CTL_OK;
}

int ctl_job_list(const struct cfg *c, int nargs, char **args)
{
    char **names;
    struct job **jobs;
    int n;
    (void)nargs, (void)args;
    if (fetch_jobs(c, "listing jobs", &names, &jobs, &n) != CTL_OK)
        return CTL_ERR;
    if (ctl_json_out(c)) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            if (jobs[i])
                cJSON_AddItemToArray(arr, job_to_cjson(jobs[i]));
        char *s = json_print(arr);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(arr);
    } else {
        printf("%-32s %-22s %-16s %6s %-6s %s\n", "NAME", "CRON", "TIMEZONE", "SHARDS", "TYPE",
               "STATE");
        for (int i = 0; i < n; i++) {
            if (!jobs[i]) {
                printf("%-32s (invalid config)\n", names[i]);
                continue;
            }
            printf("%-32s %-22s %-16s %6d %-6s %s\n", names[i], jobs[i]->cron, jobs[i]->timezone,
                   jobs[i]->shards, job_type_name(jobs[i]->type),
                   jobs[i]->disabled ? "disabled" : "enabled");
        }
    }
    free_jobs(names, jobs, n);
    return CTL_OK;
}

/* load_agents: live agent records, sorted by id; leader id from /election. */
static int load_agents(struct zkcli *k, char ***ids, struct plan_agent_rec **recs, int *n,
                       char *leader, size_t leader_len)
{
    char **el;
    int nel;
    leader[0] = '\0';
    if (zkcli_children(k, "/election", &el, &nel) == ZOK && nel > 0) {
        long long best = -1;
        const char *who = el[0];
        for (int i = 0; i < nel; i++) {
            const char *u = strrchr(el[i], '_');
            long long s = u ? atoll(u + 1) : -1;
            if (best < 0 || s < best) {
                best = s;
                who = el[i];
            }
        }
        char path[300], *data = NULL;
        snprintf(path, sizeof path, "/election/%s", who);
        if (zkcli_get(k, path, &data, NULL, NULL) == ZOK)
            snprintf(leader, leader_len, "%s", data);
        free(data);
        zkcli_free_children(el, nel);
    }
    int zrc = zkcli_children(k, "/agents", ids, n);
    if (zrc == ZNONODE) {
        *n = 0;
        *ids = NULL;
        *recs = NULL;
        return ZOK;
    }
    if (zrc != ZOK)
        return zrc;
    *recs = calloc((size_t)*n + 1, sizeof **recs);
    for (int i = 0; *recs && i < *n; i++) {
        char path[300], *data = NULL;
        int len = 0;
        struct sc_err err;
        snprintf(path, sizeof path, "/agents/%s", (*ids)[i]);
        if (zkcli_get(k, path, &data, &len, NULL) == ZOK)
            plan_agent_parse(data, len, &(*recs)[i], &err);
        free(data);
    }
    return ZOK;
}

int ctl_agents(const struct cfg *c, int nargs, char **args)
{
    char **ids, leader[256];
    struct plan_agent_rec *recs;
    int n;
    (void)nargs, (void)args;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    int zrc = load_agents(k, &ids, &recs, &n, leader, sizeof leader);
    zkcli_close(k);
    if (zrc != ZOK) {
        fprintf(stderr, "shardcronctl: listing agents: %s\n", zerror(zrc));
        return CTL_ERR;
    }
    cJSON *arr = cJSON_CreateArray();
    if (!ctl_json_out(c))
        printf("%-20s %-20s %8s %8s %6s %8s %-6s %s\n", "ID", "HOST", "PID", "CAPACITY", "LEADER",
               "EPOCH", "READY", "LABELS");
    for (int i = 0; i < n; i++) {
        struct plan_agent_rec *r = &recs[i];
        char labels[256] = "";
        for (int l = 0; l < r->nlabels; l++)
            snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", l ? "," : "",
                     r->labels[l]);
        bool is_leader = strcmp(ids[i], leader) == 0;
        if (ctl_json_out(c)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", ids[i]);
            cJSON_AddStringToObject(o, "host", r->host ? r->host : "");
            cJSON_AddNumberToObject(o, "pid", r->pid);
            cJSON_AddNumberToObject(o, "capacity", r->capacity);
            cJSON_AddStringToObject(o, "labels", labels);
            cJSON_AddBoolToObject(o, "leader", is_leader);
            cJSON_AddNumberToObject(o, "applied_epoch", (double)r->applied_epoch);
            cJSON_AddBoolToObject(o, "ready", r->ready);
            cJSON_AddStringToObject(o, "reason", r->reason ? r->reason : "");
            cJSON_AddNumberToObject(o, "skew_ms", (double)r->skew_ms);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%-20s %-20s %8d %8d %6s %8lld %-6s %s\n", ids[i], r->host ? r->host : "?",
                   r->pid, r->capacity, is_leader ? "*" : "", (long long)r->applied_epoch,
                   r->ready ? "yes" : "no", labels);
        }
        plan_agent_clear(r);
    }
    if (ctl_json_out(c)) {
        char *s = json_print(arr);
        printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(arr);
    free(recs);
    zkcli_free_children(ids, n);
    return CTL_OK;
}

int ctl_shards(const struct cfg *c, int nargs, char **args)
{
    char **names, *data = NULL;
    struct job **jobs;
    struct plan_snapshot snap = {0};
    struct sc_err err;
    int n, len = 0, rc;
    if ((rc = ctl_need_args(nargs, 1, "shards NAME")) != CTL_OK)
        return rc;
    struct zkcli *k = ctl_connect_zk(c);
    if (!k)
        return CTL_ERR;
    int zrc = load_jobs(k, &names, &jobs, &n);
    if (zrc == ZOK)
        zrc = zkcli_get(k, "/state/assignment", &data, &len, NULL);
    zkcli_close(k);
    if (zrc != ZOK || plan_snapshot_parse(data, len, &snap, &err) < 0) {
        fprintf(stderr, "shardcronctl: no assignment published yet (%s)\n",
                zrc != ZOK ? zerror(zrc) : err.msg);
        free(data);
        free_jobs(names, jobs, n);
        return CTL_ERR;
    }
    free(data);
    struct shard_job *sj = calloc((size_t)n + 1, sizeof *sj);
    struct shard_agent *sa = calloc((size_t)snap.nmembers + 1, sizeof *sa);
    int nsj = 0, target = -1;
    for (int i = 0; sj && i < n; i++) {
        enum shard_strategy st;
        if (!jobs[i] || shard_strategy_parse(jobs[i]->strategy, &st) < 0)
            continue;
        if (strcmp(jobs[i]->name, args[0]) == 0)
            target = i;
        sj[nsj++] = (struct shard_job){jobs[i]->name, jobs[i]->shards, st,
                                       (const char *const *)jobs[i]->labels, jobs[i]->nlabels};
    }
    struct shard_assignment *a = NULL;
    rc = CTL_ERR;
    if (target < 0) {
        fprintf(stderr, "shardcronctl: no valid job named %s\n", args[0]);
    } else if (sa && (plan_members_to_shard(&snap, sa),
                      shard_assign(sj, nsj, sa, snap.nmembers, &a) == 0)) {
        int ji = shard_job_find(a, args[0]);
        cJSON *arr = cJSON_CreateArray();
        if (!ctl_json_out(c))
            printf("epoch %lld\n%-6s %-20s %s\n", (long long)snap.epoch, "ITEM", "AGENT", "PARAM");
        for (int i = 0; i < jobs[target]->shards; i++) {
            int o = shard_owner(a, ji, i);
            const char *who = o >= 0 ? shard_agent_id(a, o) : "(no eligible agent)";
            const char *param = jobs[target]->shard_params[i] ? jobs[target]->shard_params[i] : "";
            if (ctl_json_out(c)) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "item", i);
                cJSON_AddStringToObject(e, "agent", o >= 0 ? who : "");
                cJSON_AddStringToObject(e, "param", param);
                cJSON_AddItemToArray(arr, e);
            } else {
                printf("%-6d %-20s %s\n", i, who, param);
            }
        }
        if (ctl_json_out(c)) {
            char *s = json_print(arr);
            printf("%s\n", s);
            free(s);
        }
        cJSON_Delete(arr);
        rc = CTL_OK;
    }
    shard_assignment_free(a);
    free(sj);
    free(sa);
    plan_snapshot_clear(&snap);
    free_jobs(names, jobs, n);
    return rc;
}

/* ---------------------------------------------------------------- export / import */

/* The document is the console's (GET /api/v1/export): {"format":1,
 * "exported_at":..., "jobs":[...], "invalid":[names]}. */
int ctl_export(const struct cfg *c, int nargs, char **args)
{
    char **names;
    struct job **jobs;
    int n;
    (void)nargs, (void)args;
    if (fetch_jobs(c, "export", &names, &jobs, &n) != CTL_OK)
        return CTL_ERR;
    cJSON *o = cJSON_CreateObject();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    cJSON_AddNumberToObject(o, "format", 1);
    cJSON_AddNumberToObject(o, "exported_at_ms", (double)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    cJSON *arr = cJSON_AddArrayToObject(o, "jobs"), *bad = cJSON_AddArrayToObject(o, "invalid");
    for (int i = 0; i < n; i++) {
        if (jobs[i])
            cJSON_AddItemToArray(arr, job_to_cjson(jobs[i]));
        else
            cJSON_AddItemToArray(bad, cJSON_CreateString(names[i]));
    }
    char *s = cJSON_Print(o);
    printf("%s\n", s);
    free(s);
    int nbad = cJSON_GetArraySize(bad); /* bad is part of o */
    cJSON_Delete(o);
    if (nbad > 0)
        fprintf(stderr,
                "shardcronctl: %d job node(s) hold invalid configs and are listed under "
                "\"invalid\" only\n",
                nbad);
    free_jobs(names, jobs, n);
    return CTL_OK;
}

/* import: make the namespace's jobs equal to the document's. A dry run (the
 * default) reports what would be created, updated, deleted or left unchanged;
 * --confirm applies it. Every job is validated before anything is written. */
int ctl_import(const struct cfg *c, int nargs, char **args)
{
    size_t len = 0;
    struct sc_err err;
    char msg[512];
    int rc;
    if ((rc = ctl_need_args(nargs, 1, "import FILE [--confirm]")) != CTL_OK)
        return rc;
    char *text = ctl_read_all(args[0], &len);
    if (!text) {
        fprintf(stderr, "shardcronctl: cannot read %s: %s\n", args[0], strerror(errno));
        return CTL_ERR;
    }
    sc_err_clear(&err);
    cJSON *doc = json_parse(text, len, &err);
    free(text);
    if (!doc) {
        fprintf(stderr, "shardcronctl: %s: %s\n", args[0], sc_err_format(&err, msg, sizeof msg));
        return CTL_INVALID;
    }
    const cJSON *arr = cJSON_IsArray(doc) ? doc : cJSON_GetObjectItemCaseSensitive(doc, "jobs");
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "shardcronctl: %s: \"jobs\" must be an array (the export document)\n",
                args[0]);
        cJSON_Delete(doc);
        return CTL_INVALID;
    }
    int n = cJSON_GetArraySize(arr), i = 0;
    struct job **in = calloc((size_t)n + 1, sizeof *in);
    const cJSON *it;
    rc = CTL_OK;
    cJSON_ArrayForEach(it, arr)
    {
        char pre[32];
        snprintf(pre, sizeof pre, "jobs[%d]", i);
        if (job_from_cjson(it, &in[i], &err) < 0 || job_check_size(in[i], &err) < 0) {
            json_err_prefix(&err, pre);
            fprintf(stderr, "shardcronctl: %s: %s (nothing was imported)\n", args[0],
                    sc_err_format(&err, msg, sizeof msg));
            rc = CTL_INVALID;
            break;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(in[k]->name, in[i]->name) == 0) {
                fprintf(stderr,
                        "shardcronctl: %s: %s.name: \"%s\" appears twice (nothing was "
                        "imported)\n",
                        args[0], pre, in[i]->name);
                rc = CTL_INVALID;
            }
        i++;
        if (rc != CTL_OK)
            break;
    }
    /* The export lists the jobs whose config it could not read under
     * "invalid": they exist, so the import keeps them rather than deleting. */
    const cJSON *inv =
        cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "invalid") : NULL;
    int ninv = 0;
    const cJSON *iv;
    cJSON_ArrayForEach(iv, inv)
    {
        if (rc == CTL_OK && !cJSON_IsString(iv)) {
            fprintf(stderr,
                    "shardcronctl: %s: invalid[%d]: must be a job name (nothing was "
                    "imported)\n",
                    args[0], ninv);
            rc = CTL_INVALID;
        }
        ninv++;
    }
    if (rc == CTL_OK && inv && !cJSON_IsArray(inv)) {
        fprintf(stderr,
                "shardcronctl: %s: invalid: must be an array of job names (nothing was "
                "imported)\n",
                args[0]);
        rc = CTL_INVALID;
    }
    struct zkcli *k = rc == CTL_OK ? ctl_connect_zk_create(c) : NULL;
    if (rc == CTL_OK && !k)
        rc = CTL_ERR;
    char **names = NULL;
    struct job **cur = NULL;
    int ncur = 0;
    if (rc == CTL_OK && load_jobs(k, &names, &cur, &ncur) != ZOK)
        rc = CTL_ERR;
    for (int x = 0; rc == CTL_OK && x < n; x++)
        rc = ctl_calendar_check(k, "job", in[x]->name, in[x]->calendar);
    if (rc != CTL_OK)
        goto out;
    bool confirm = cfg_flag(c, "confirm");
    cJSON *rep = cJSON_CreateObject();
    cJSON_AddBoolToObject(rep, "dry_run", !confirm);
    cJSON *created = cJSON_AddArrayToObject(rep, "created"),
          *updated = cJSON_AddArrayToObject(rep, "updated"),
          *deleted = cJSON_AddArrayToObject(rep, "deleted"),
          *unchanged = cJSON_AddArrayToObject(rep, "unchanged"),
          *kept = cJSON_AddArrayToObject(rep, "kept_invalid"),
          *failed = cJSON_AddArrayToObject(rep, "failed");
    zkcli_ensure(k, "/jobs");
    for (int x = 0; x < n; x++) {
        char path[300], *canon = job_to_json(in[x]), *now = NULL;
        struct Stat st;
        snprintf(path, sizeof path, "/jobs/%s", in[x]->name);
        int g = zkcli_get(k, path, &now, NULL, &st);
        cJSON *bucket = g == ZNONODE                       ? created
                        : (now && strcmp(now, canon) == 0) ? unchanged
                                                           : updated;
        cJSON_AddItemToArray(bucket, cJSON_CreateString(in[x]->name));
        if (confirm && bucket != unchanged) {
            int w = g == ZNONODE
                        ? zkcli_job_create(k, in[x]->name, canon, (int)strlen(canon))
                        : zkcli_job_set(k, in[x]->name, canon, (int)strlen(canon), st.version);
            if (w != ZOK)
                cJSON_AddItemToArray(failed, cJSON_CreateString(in[x]->name));
        }
        free(now);
        free(canon);
    }
    for (int x = 0; x < ncur; x++) {
        bool keep = false;
        for (int y = 0; y < n && !keep; y++)
            keep = strcmp(names[x], in[y]->name) == 0;
        if (keep)
            continue;
        cJSON_ArrayForEach(iv, inv) keep = keep || strcmp(iv->valuestring, names[x]) == 0;
        if (keep) {
            cJSON_AddItemToArray(kept, cJSON_CreateString(names[x]));
            continue;
        }
        char path[300];
        snprintf(path, sizeof path, "/jobs/%s", names[x]);
        cJSON_AddItemToArray(deleted, cJSON_CreateString(names[x]));
        if (confirm && zkcli_delete_tree(k, path) != ZOK)
            cJSON_AddItemToArray(failed, cJSON_CreateString(names[x]));
    }
    char *s = cJSON_Print(rep);
    printf("%s\n", s);
    free(s);
    if (cJSON_GetArraySize(failed) > 0)
        rc = CTL_ERR;
    else if (!confirm)
        fprintf(stderr, "shardcronctl: dry run; add --confirm to apply\n");
    cJSON_Delete(rep);
out:
    cJSON_Delete(doc);
    for (int x = 0; x < n; x++)
        job_free(in[x]);
    free(in);
    free_jobs(names, cur, ncur);
    zkcli_close(k);
    return rc;
}
