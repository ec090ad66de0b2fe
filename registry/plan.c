/* registry/plan.c: snapshot and agent records <-> JSON, and the shape digest. */
#include "registry/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* ---------------------------------------------------------------- helpers */

static void free_strv(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* get_strv: an array of strings -> owned char** (may be empty). */
static int get_strv(const cJSON *o, const char *key, char ***out, int *n, struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    int rc = json_get_arr(o, key, JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    char **v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *v);
    if (!v)
        return sc_err_set(err, ENOMEM, key, -1, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !(v[*n] = strdup(it->valuestring))) {
            free_strv(v, *n);
            *n = 0;
            return sc_err_set(err, EINVAL, key, -1, "must hold strings");
        }
        (*n)++;
    }
    *out = v;
    return 0;
}

static cJSON *strv_json(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct plan_member *)a)->id, ((const struct plan_member *)b)->id);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------------------------------------------------------- snapshot */

void plan_snapshot_clear(struct plan_snapshot *s)
{
    for (int i = 0; i < s->nmembers; i++) {
        free(s->members[i].id);
        free_strv(s->members[i].labels, s->members[i].nlabels);
    }
    free(s->members);
    free(s->leader);
    free_strv(s->evicted, s->nevicted);
    free(s->evicted_session);
    memset(s, 0, sizeof *s);
}

int plan_snapshot_copy(const struct plan_snapshot *s, struct plan_snapshot *out)
{
    struct plan_snapshot c = {.epoch = s->epoch,
                              .created_ms = s->created_ms,
                              .dead_hi_ms = s->dead_hi_ms,
                              .view_hi_ms = s->view_hi_ms,
                              .view_pzxid = s->view_pzxid,
                              .agents_pzxid = s->agents_pzxid,
                              .outage_from_ms = s->outage_from_ms,
                              .settled_ms = s->settled_ms};
    memcpy(c.digest, s->digest, sizeof c.digest);
    c.leader = strdup(s->leader ? s->leader : "");
    c.members = calloc((size_t)s->nmembers + 1, sizeof *c.members);
    c.evicted = calloc((size_t)s->nevicted + 1, sizeof *c.evicted);
    c.evicted_session = calloc((size_t)s->nevicted + 1, sizeof *c.evicted_session);
    if (!c.leader || !c.members || !c.evicted || !c.evicted_session)
        goto err;
    for (int i = 0; i < s->nmembers; i++) {
        const struct plan_member *m = &s->members[i];
        struct plan_member *d = &c.members[c.nmembers++];
        d->session = m->session;
        d->capacity = m->capacity;
        if (!(d->id = strdup(m->id)) ||
            !(d->labels = calloc((size_t)m->nlabels + 1, sizeof *d->labels)))
            goto err;
        for (int k = 0; k < m->nlabels; k++)
            if (!(d->labels[d->nlabels++] = strdup(m->labels[k])))
                goto err;
    }
    for (int i = 0; i < s->nevicted; i++) {
        if (!(c.evicted[c.nevicted] = strdup(s->evicted[i])))
            goto err;
        c.evicted_session[c.nevicted++] = s->evicted_session[i];
    }
    *out = c;
    return 0;
err:
    plan_snapshot_clear(&c);
    memset(out, 0, sizeof *out);
    return -ENOMEM;
}

int plan_snapshot_parse(const char *data, int len, struct plan_snapshot *out, struct sc_err *err)
{
    struct plan_snapshot s = {0};
    const cJSON *members = NULL, *m;
    const char *leader = "", *digest = NULL;
    long long v;
    int rc;
    cJSON *root = json_parse(data ? data : "", data ? (size_t)len : 0, err);
    if (!root)
        return -EINVAL;
    if ((rc = json_get_int(root, "epoch", JSON_REQUIRED, 0, INT64_MAX / 2, &v, err)) < 0)
        goto out;
    s.epoch = v;
    if ((rc = json_get_str(root, "leader", JSON_OPTIONAL, &leader, err)) < 0 && rc != -ENOENT)
        goto out;
    if ((rc = json_get_str(root, "digest", JSON_REQUIRED, &digest, err)) < 0)
        goto out;
    if (strlen(digest) != 16) {
        rc = sc_err_set(err, EINVAL, "digest", -1, "must be 16 hex digits");
        goto out;
    }
    memcpy(s.digest, digest, 17);
    v = 0;
    if ((rc = json_get_int(root, "created_ms", JSON_OPTIONAL, 0, INT64_MAX / 2, &v, err)) < 0 &&
        rc != -ENOENT)
        goto out;
    s.created_ms = v;
    struct {
        const char *name;
        int64_t *to;
    } bounds[] = {{"dead_hi_ms", &s.dead_hi_ms},         {"view_hi_ms", &s.view_hi_ms},
                  {"view_pzxid", &s.view_pzxid},         {"agents_pzxid", &s.agents_pzxid},
                  {"outage_from_ms", &s.outage_from_ms}, {"settled_ms", &s.settled_ms}};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        v = 0;
        if ((rc = json_get_int(root, bounds[i].name, JSON_OPTIONAL, 0, INT64_MAX / 2, &v, err)) <
                0 &&
            rc != -ENOENT)
            goto out;
        *bounds[i].to = v;
    }
    if ((rc = json_get_arr(root, "members", JSON_REQUIRED, &members, err)) < 0)
        goto out;
    s.leader = strdup(leader);
    s.members = calloc((size_t)cJSON_GetArraySize(members) + 1, sizeof *s.members);
    if (!s.leader || !s.members) {
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(m, members)
    {
        struct plan_member *pm = &s.members[s.nmembers];
        const char *id;
        if ((rc = json_get_str(m, "id", JSON_REQUIRED, &id, err)) < 0 ||
            (rc = json_get_int(m, "capacity", JSON_REQUIRED, 1, SHARD_MAX_CAPACITY, &v, err)) < 0) {
            json_err_prefix(err, "members");
            goto out;
        }
        pm->capacity = (int)v;
        const char *ss = "0";
        if ((rc = json_get_str(m, "session", JSON_OPTIONAL, &ss, err)) < 0 && rc != -ENOENT) {
            json_err_prefix(err, "members");
            goto out;
        }
        pm->session = (int64_t)strtoull(ss, NULL, 16);
        if (!(pm->id = strdup(id))) {
            rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
            goto out;
        }
        s.nmembers++;
        if ((rc = get_strv(m, "labels", &pm->labels, &pm->nlabels, err)) < 0) {
            json_err_prefix(err, "members");
            goto out;
        }
    }
    qsort(s.members, (size_t)s.nmembers, sizeof *s.members, cmp_member);
    const cJSON *ev = NULL;
    if ((rc = json_get_arr(root, "evicted", JSON_OPTIONAL, &ev, err)) < 0 && rc != -ENOENT)
        goto out;
    if (ev) {
        int ne = cJSON_GetArraySize(ev);
        s.evicted = calloc((size_t)ne + 1, sizeof *s.evicted);
        s.evicted_session = calloc((size_t)ne + 1, sizeof *s.evicted_session);
        if (!s.evicted || !s.evicted_session) {
            rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(m, ev)
        {
            const cJSON *eid = cJSON_GetArrayItem(m, 0), *es = cJSON_GetArrayItem(m, 1);
            if (!cJSON_IsString(eid) || !cJSON_IsString(es)) {
                rc = sc_err_set(err, EINVAL, "evicted", -1, "entries must be [id, session]");
                goto out;
            }
            if (!(s.evicted[s.nevicted] = strdup(eid->valuestring))) {
                rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
                goto out;
            }
            s.evicted_session[s.nevicted++] = (int64_t)strtoull(es->valuestring, NULL, 16);
        }
    }
    *out = s;
    memset(&s, 0, sizeof s);
    rc = 0;
out:
    plan_snapshot_clear(&s);
    cJSON_Delete(root);
    return rc;
}

char *plan_snapshot_json(const struct plan_snapshot *s)
{
    cJSON *o = cJSON_CreateObject(), *arr;
    char *text;
    cJSON_AddNumberToObject(o, "epoch", (double)s->epoch);
    cJSON_AddStringToObject(o, "leader", s->leader ? s->leader : "");
    cJSON_AddStringToObject(o, "digest", s->digest);
    cJSON_AddNumberToObject(o, "created_ms", (double)s->created_ms);
    if (s->agents_pzxid > 0) {
        cJSON_AddNumberToObject(o, "dead_hi_ms", (double)s->dead_hi_ms);
        cJSON_AddNumberToObject(o, "view_hi_ms", (double)s->view_hi_ms);
        cJSON_AddNumberToObject(o, "view_pzxid", (double)s->view_pzxid);
        cJSON_AddNumberToObject(o, "agents_pzxid", (double)s->agents_pzxid);
    }
    if (s->outage_from_ms > 0)
        cJSON_AddNumberToObject(o, "outage_from_ms", (double)s->outage_from_ms);
    if (s->settled_ms > 0)
        cJSON_AddNumberToObject(o, "settled_ms", (double)s->settled_ms);
    arr = cJSON_AddArrayToObject(o, "members");
    for (int i = 0; i < s->nmembers; i++) {
        cJSON *m = cJSON_CreateObject();
        char sess[32];
        snprintf(sess, sizeof sess, "%llx", (unsigned long long)s->members[i].session);
        cJSON_AddStringToObject(m, "id", s->members[i].id);
        cJSON_AddStringToObject(m, "session", sess);
        cJSON_AddItemToObject(m, "labels", strv_json(s->members[i].labels, s->members[i].nlabels));
        cJSON_AddNumberToObject(m, "capacity", s->members[i].capacity);
        cJSON_AddItemToArray(arr, m);
    }
    if (s->nevicted > 0) {
        cJSON *ev = cJSON_AddArrayToObject(o, "evicted");
        for (int i = 0; i < s->nevicted; i++) {
            char sess[32];
            cJSON *e = cJSON_CreateArray();
            snprintf(sess, sizeof sess, "%llx", (unsigned long long)s->evicted_session[i]);
            cJSON_AddItemToArray(e, cJSON_CreateString(s->evicted[i]));
            cJSON_AddItemToArray(e, cJSON_CreateString(sess));
            cJSON_AddItemToArray(ev, e);
        }
    }
    text = json_print(o);
    cJSON_Delete(o);
    return text;
}

bool plan_snapshot_same(const struct plan_snapshot *a, const struct plan_snapshot *b)
{
    if (strcmp(a->digest, b->digest) != 0 || a->nmembers != b->nmembers)
        return false;
    for (int i = 0; i < a->nmembers; i++) {
        const struct plan_member *x = &a->members[i], *y = &b->members[i];
        if (strcmp(x->id, y->id) != 0 || x->session != y->session || x->capacity != y->capacity ||
            x->nlabels != y->nlabels)
            return false;
        for (int k = 0; k < x->nlabels; k++)
            if (strcmp(x->labels[k], y->labels[k]) != 0)
                return false;
    }
    return true;
}

void plan_members_to_shard(const struct plan_snapshot *s, struct shard_agent *out)
{
    for (int i = 0; i < s->nmembers; i++)
        out[i] = (struct shard_agent){s->members[i].id, (const char *const *)s->members[i].labels,
                                      s->members[i].nlabels, s->members[i].capacity};
}

/* ---------------------------------------------------------------- digest */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* mix: order-independent combination of per-job hashes (sum and xor of a
 * strong per-job hash), so the caller need not sort 100,000 jobs. */
void plan_digest(const struct shard_job *jobs, int njobs, char out[17])
{
    uint64_t sum = 0, x = 0;
    for (int i = 0; i < njobs; i++) {
        const struct shard_job *j = &jobs[i];
        uint64_t h = fnv(1469598103934665603ULL, j->name, strlen(j->name) + 1);
        int st = (int)j->strategy;
        h = fnv(h, &j->items, sizeof j->items);
        h = fnv(h, &st, sizeof st);
        /* labels as a sorted set */
        const char *sorted[64];
        int n = j->nlabels < 64 ? j->nlabels : 64;
        if (n > 0) {
            memcpy(sorted, j->labels, (size_t)n * sizeof *sorted);
            qsort(sorted, (size_t)n, sizeof *sorted, cmp_cstr);
        }
        for (int k = 0; k < n; k++)
            h = fnv(h, sorted[k], strlen(sorted[k]) + 1);
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 32;
        sum += h;
        x ^= h * 0x94d049bb133111ebULL;
    }
    /* The algorithm version is part of the input: agents whose sharding code
     * differs never apply an epoch computed by the other version. */
    uint64_t v = (uint64_t)SHARD_ALGO_VERSION * 0x9e3779b97f4a7c15ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)(sum ^ (x << 1) ^ (uint64_t)njobs ^ v));
}

/* ---------------------------------------------------------------- job change log */

void plan_change_prefix(char *buf, size_t len, enum plan_change_kind kind, const char *job)
{
    snprintf(buf, len, PLAN_CHANGES "/%c-%s-", (char)kind, job);
}

int plan_change_parse(const char *name, enum plan_change_kind *kind, char *job, size_t joblen,
                      int64_t *seq)
{
    size_t n = strlen(name);
    /* <kind>-<job>-<10 digits>; the job name itself may contain '-' */
    if (n < 14 ||
        (name[0] != PLAN_CHANGE_CONFIG && name[0] != PLAN_CHANGE_TRIGGER &&
         name[0] != PLAN_CHANGE_WORKFLOW) ||
        name[1] != '-' || name[n - 11] != '-')
        return -EINVAL;
    int64_t v = 0;
    for (size_t i = n - 10; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -EINVAL;
        v = v * 10 + (name[i] - '0');
    }
    size_t jl = n - 13;
    if (jl >= joblen)
        return -EINVAL;
    memcpy(job, name + 2, jl);
    job[jl] = '\0';
    *kind = (enum plan_change_kind)name[0];
    *seq = v;
    return 0;
}

int64_t plan_changes_pruned(const char *data, int len)
{
    int64_t v = -1;
    cJSON *o = data && len > 0 ? cJSON_ParseWithLength(data, (size_t)len) : NULL;
    const cJSON *p = o ? cJSON_GetObjectItemCaseSensitive(o, "pruned_through") : NULL;
    if (cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble <= (double)(INT64_MAX / 2))
        v = (int64_t)p->valuedouble; /* in range first: the cast is undefined past it */
    cJSON_Delete(o);
    return v;
}

/* ---------------------------------------------------------------- agent record */

static void free_items(struct plan_item *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].job);
    free(v);
}

void plan_agent_clear(struct plan_agent_rec *r)
{
    free(r->host);
    free_strv(r->labels, r->nlabels);
    free(r->version);
    free(r->reason);
    free_items(r->draining, r->ndraining);
    free_items(r->running, r->nrunning);
    memset(r, 0, sizeof *r);
}

/* get_items: [["job", item, fire?], ...] */
static int get_items(const cJSON *o, const char *key, struct plan_item **out, int *n,
                     struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    int rc = json_get_arr(o, key, JSON_OPTIONAL, &arr, err);
    *out = NULL;
    *n = 0;
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    struct plan_item *v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *v);
    if (!v)
        return sc_err_set(err, ENOMEM, key, -1, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *j = cJSON_GetArrayItem(it, 0), *k = cJSON_GetArrayItem(it, 1),
                    *f = cJSON_GetArrayItem(it, 2);
        /* Ranges before the casts: a double past int64_t's range is undefined
         * behaviour to convert, and these records are anyone's to write. */
        bool fire_ok = !cJSON_IsNumber(f) ||
                       (f->valuedouble >= 0 && f->valuedouble <= (double)(INT64_MAX / 2));
        if (!cJSON_IsString(j) || !cJSON_IsNumber(k) || !(k->valuedouble >= 0) ||
            k->valuedouble > INT32_MAX || !fire_ok || !(v[*n].job = strdup(j->valuestring))) {
            free_items(v, *n);
            *n = 0;
            return sc_err_set(err, EINVAL, key, -1,
                              "entries must be [job, item, fire] with item 0..%d and fire >= 0",
                              INT32_MAX);
        }
        v[*n].item = (int)k->valuedouble;
        v[*n].fire = cJSON_IsNumber(f) ? (int64_t)f->valuedouble : 0;
        (*n)++;
    }
    *out = v;
    return 0;
}

static cJSON *items_json(const struct plan_item *v, int n, bool with_fire)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(v[i].job));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(v[i].item));
        if (with_fire)
            cJSON_AddItemToArray(e, cJSON_CreateNumber((double)v[i].fire));
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

bool plan_reran_has(const int64_t *list, int n, int64_t session)
{
    for (int i = 0; i < n; i++)
        if (list[i] == session)
            return true;
    return false;
}

bool plan_reran_add(int64_t *list, int *n, int64_t session)
{
    if (plan_reran_has(list, *n, session))
        return false;
    if (*n == PLAN_RERAN_MAX) {
        memmove(list, list + 1, (PLAN_RERAN_MAX - 1) * sizeof *list);
        (*n)--;
    }
    list[(*n)++] = session;
    return true;
}

/* get_reran: ["<session hex>", ...]; a longer list than PLAN_RERAN_MAX keeps
 * its newest (last) entries. */
static int get_reran(const cJSON *o, struct plan_agent_rec *r, struct sc_err *err)
{
    const cJSON *arr = NULL, *it;
    int rc = json_get_arr(o, "reran", JSON_OPTIONAL, &arr, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(it, arr)
    {
        char *end = NULL;
        if (!cJSON_IsString(it) || !*it->valuestring)
            return sc_err_set(err, EINVAL, "reran", -1, "must hold session ids (hex strings)");
        int64_t s = (int64_t)strtoull(it->valuestring, &end, 16);
        if (*end)
            return sc_err_set(err, EINVAL, "reran", -1, "must hold session ids (hex strings)");
        plan_reran_add(r->reran, &r->nreran, s); /* a repeated entry counts once */
    }
    return 0;
}

int plan_agent_parse(const char *data, int len, struct plan_agent_rec *out, struct sc_err *err)
{
    struct plan_agent_rec r = {0};
    const char *s;
    long long v;
    bool b = false;
    int rc;
    cJSON *root = json_parse(data ? data : "", data ? (size_t)len : 0, err);
    if (!root)
        return -EINVAL;
#define STR(key, dst)                                                                              \
    s = "";                                                                                        \
    if ((rc = json_get_str(root, key, JSON_OPTIONAL, &s, err)) < 0 && rc != -ENOENT)               \
        goto out;                                                                                  \
    if (!(dst = strdup(s))) {                                                                      \
        rc = -ENOMEM;                                                                              \
        goto out;                                                                                  \
    }
#define INT(key, dst, min, max)                                                                    \
    v = 0;                                                                                         \
    if ((rc = json_get_int(root, key, JSON_OPTIONAL, min, max, &v, err)) < 0 && rc != -ENOENT)     \
        goto out;                                                                                  \
    dst = v;
    STR("host", r.host);
    STR("version", r.version);
    STR("reason", r.reason);
    INT("pid", r.pid, 0, INT32_MAX);
    INT("capacity", r.capacity, 0, SHARD_MAX_CAPACITY);
    INT("started_at", r.started_at_ms, 0, INT64_MAX / 2);
    INT("applied_epoch", r.applied_epoch, 0, INT64_MAX / 2);
    INT("applied_ms", r.applied_ms, 0, INT64_MAX / 2);
    INT("session_ms", r.session_ms, 0, INT32_MAX);
    INT("carry_ms", r.carry_ms, 0, INT64_MAX / 2);
    INT("skew_ms", r.skew_ms, -(INT64_MAX / 2), INT64_MAX / 2);
    INT("stop_s", r.stop_s, 0, INT64_MAX / 2);
    INT("prev_applied", r.prev_applied, 0, INT64_MAX / 2);
    INT("npending", r.npending, 0, INT32_MAX);
    INT("backlog_s", r.backlog_s, 0, INT64_MAX / 2);
    INT("brk_ms", r.brk_ms, 0, INT64_MAX / 2);
    v = -1;
    if ((rc = json_get_int(root, "log_free_pct", JSON_OPTIONAL, 0, 100, &v, err)) < 0 &&
        rc != -ENOENT)
        goto out;
    r.log_free_pct = (int)v;
#undef STR
#undef INT
    s = "0";
    if ((rc = json_get_str(root, "session", JSON_OPTIONAL, &s, err)) < 0 && rc != -ENOENT)
        goto out;
    r.session = (int64_t)strtoull(s, NULL, 16);
    if ((rc = json_get_bool(root, "ready", JSON_OPTIONAL, &b, err)) < 0 && rc != -ENOENT)
        goto out;
    r.ready = b;
    b = true;
    if ((rc = json_get_bool(root, "member", JSON_OPTIONAL, &b, err)) < 0 && rc != -ENOENT)
        goto out;
    r.member = b;
    if ((rc = get_strv(root, "labels", &r.labels, &r.nlabels, err)) < 0 ||
        (rc = get_items(root, "draining", &r.draining, &r.ndraining, err)) < 0 ||
        (rc = get_items(root, "running", &r.running, &r.nrunning, err)) < 0 ||
        (rc = get_reran(root, &r, err)) < 0)
        goto out;
    *out = r;
    memset(&r, 0, sizeof r);
    rc = 0;
out:
    plan_agent_clear(&r);
    cJSON_Delete(root);
    return rc;
}

char *plan_agent_json(const struct plan_agent_rec *r)
{
    cJSON *o = cJSON_CreateObject();
    char sess[32];
    char *text;
    snprintf(sess, sizeof sess, "%llx", (unsigned long long)r->session);
    cJSON_AddStringToObject(o, "host", r->host ? r->host : "");
    cJSON_AddNumberToObject(o, "pid", r->pid);
    cJSON_AddItemToObject(o, "labels", strv_json(r->labels, r->nlabels));
    cJSON_AddNumberToObject(o, "capacity", r->capacity);
    cJSON_AddStringToObject(o, "version", r->version ? r->version : "");
    cJSON_AddNumberToObject(o, "started_at", (double)r->started_at_ms);
    cJSON_AddStringToObject(o, "session", sess);
    cJSON_AddNumberToObject(o, "applied_epoch", (double)r->applied_epoch);
    cJSON_AddNumberToObject(o, "applied_ms", (double)r->applied_ms);
    cJSON_AddNumberToObject(o, "session_ms", r->session_ms);
    if (r->carry_ms > 0)
        cJSON_AddNumberToObject(o, "carry_ms", (double)r->carry_ms);
    cJSON_AddBoolToObject(o, "ready", r->ready);
    cJSON_AddBoolToObject(o, "member", r->member);
    cJSON_AddStringToObject(o, "reason", r->reason ? r->reason : "");
    cJSON_AddNumberToObject(o, "skew_ms", (double)r->skew_ms);
    cJSON_AddItemToObject(o, "draining", items_json(r->draining, r->ndraining, false));
    cJSON_AddItemToObject(o, "running", items_json(r->running, r->nrunning, true));
    cJSON_AddNumberToObject(o, "stop_s", (double)r->stop_s);
    cJSON_AddNumberToObject(o, "prev_applied", (double)r->prev_applied);
    cJSON_AddNumberToObject(o, "npending", r->npending);
    if (r->backlog_s > 0)
        cJSON_AddNumberToObject(o, "backlog_s", (double)r->backlog_s);
    if (r->brk_ms > 0)
        cJSON_AddNumberToObject(o, "brk_ms", (double)r->brk_ms);
    if (r->log_free_pct >= 0)
        cJSON_AddNumberToObject(o, "log_free_pct", r->log_free_pct);
    if (r->nreran > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "reran");
        for (int i = 0; a && i < r->nreran; i++) {
            snprintf(sess, sizeof sess, "%llx", (unsigned long long)r->reran[i]);
            cJSON_AddItemToArray(a, cJSON_CreateString(sess));
        }
    }
    text = json_print(o);
    cJSON_Delete(o);
    return text;
}

/* ---------------------------------------------------------------- fires between owners */

void plan_handover_window(const struct plan_handover *h, int64_t *lo_ms, int64_t *hi_ms)
{
    if (h->prev == PLAN_PREV_DIED && h->gone_ms > 0) {
        /* Its node vanished before we saw it go: at the server's expiry, or
         * when it closed its session on a clean stop. After an expiry it had
         * started nothing since its lease (half its session timeout) ran out,
         * but a clean stop looks the same from here and may come right after
         * a start, so only the vanishing bounds its last start. The server
         * had heard from it at least T before the expiry (up to a tick less):
         * it was alive then. Its clock runs d ahead of ours. */
        int t = h->owner_session_ms > 0 ? h->owner_session_ms : h->session_ms;
        int64_t d = h->owner_skew_ms - h->skew_ms;
        int64_t seen = h->snap_created_ms > 0 && h->snap_created_ms < h->gone_ms
                           ? h->snap_created_ms
                           : h->gone_ms;
        *lo_ms = seen + d - t - PLAN_HANDOVER_LAG_MS - PLAN_CLOCK_ERR_MS;
        *hi_ms = h->gone_ms + d + PLAN_CLOCK_ERR_MS;
    } else if (h->prev != PLAN_PREV_ALIVE) {
        /* Gone without our seeing it (we started later, or our own session
         * was rebuilt meanwhile), or no record at all. Its node vanished no
         * later than the publication of the epoch we apply (the leader saw it
         * go, or saw the same id on a new session, which registers only after
         * the old node is gone), and it started nothing after that, by a
         * clock up to max skew off: a catch-up starts only after. */
        *lo_ms = h->snap_created_ms - h->session_ms - PLAN_HANDOVER_LAG_MS - h->max_skew_ms;
        *hi_ms = h->snap_created_ms + h->max_skew_ms + PLAN_CLOCK_ERR_MS;
    } else if (h->owner_epoch == h->epoch && h->owner_applied_ms > 0) {
        /* A live handoff: it stopped the item when it applied an epoch after
         * our previous one, at the latest at its applied_ms (its own clock,
         * the clock its fires are judged by); exactly then if that epoch is
         * the next one. A fire due just before may not have been handled by
         * its scheduler yet: the lag margin. */
        *hi_ms = h->owner_applied_ms;
        *lo_ms = (h->epoch == h->prev_epoch + 1 ? h->owner_applied_ms
                                                : h->prev_created_ms - h->max_skew_ms) -
                 PLAN_HANDOVER_LAG_MS;
    } else {
        /* Alive without our epoch in its session (a rebuilt session): its old
         * session stopped before its node was registered again, no later than
         * the publication of the epoch we apply. */
        *lo_ms = h->prev_created_ms - PLAN_HANDOVER_LAG_MS - h->max_skew_ms;
        *hi_ms = h->snap_created_ms + h->max_skew_ms + PLAN_CLOCK_ERR_MS;
    }
    if (*hi_ms < *lo_ms)
        *hi_ms = *lo_ms;
}
