/* console/zkview.c: the ZooKeeper cache behind every console read (see zkview.h). */
#define LOG_CAT "shardcron.console"
#include "console/zkview.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/log.h"

static void load_all(struct zkview *v);

/* ---------------------------------------------------------------- entries */

static void job_entry_free(struct zkview_job *j)
{
    if (!j)
        return;
    job_free(j->job);
    cron_free(j->expr);
    free(j->hay);
    free(j->raw);
    free(j->name);
    free(j);
}

static void agent_entry_free(struct zkview_agent *a)
{
    if (!a)
        return;
    if (a->valid)
        plan_agent_clear(&a->rec);
    free(a->id);
    free(a);
}

static void changed(struct zkview *v)
{
    v->changes++;
}

/* Job and snapshot changes also invalidate the derived views (sorted list, shard
 * map); agent records change every second and must not rebuild them. */
static void jobs_changed(struct zkview *v)
{
    v->changes++;
    v->job_changes++;
}

static void snap_changed(struct zkview *v)
{
    v->changes++;
    v->snap_changes++;
}

/* set_job: replace the cached job `name` with `raw` at `version` unless the cache
 * already holds a newer version. */
static void set_job(struct zkview *v, const char *name, const char *raw, int len, int version,
                    int64_t mtime_ms)
{
    struct zkview_job *old = strmap_get(&v->jobs, name);
    if (old && old->version > version)
        return;
    if (old && old->version == version && old->raw && (int)strlen(old->raw) == len &&
        memcmp(old->raw, raw, (size_t)len) == 0) {
        if (mtime_ms)
            old->mtime_ms = mtime_ms; /* the node's own, after a local stand-in */
        return;
    }
    struct zkview_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->name = strdup(name);
    j->raw = malloc((size_t)len + 1);
    if (!j->name || !j->raw) {
        job_entry_free(j);
        return;
    }
    memcpy(j->raw, raw, (size_t)len);
    j->raw[len] = '\0';
    j->version = version;
    j->mtime_ms = mtime_ms;
    struct sc_err err;
    sc_err_clear(&err);
    if (job_parse(j->raw, (size_t)len, &j->job, &err) < 0) {
        j->job = NULL;
        sc_err_format(&err, j->error, sizeof j->error);
    } else if (strcmp(j->job->name, name) != 0) {
        snprintf(j->error, sizeof j->error, "name: \"%s\" differs from the node name",
                 j->job->name);
        job_free(j->job);
        j->job = NULL;
    }
    const struct job *jb = j->job;
    if (jb && cron_parse(jb->cron, &j->expr, &err) < 0)
        j->expr = NULL;
    size_t hl = strlen(name) + 4 +
                (jb ? strlen(jb->description) + strlen(jb->domain) + strlen(jb->cron) : 0);
    if ((j->hay = malloc(hl))) {
        snprintf(j->hay, hl, "%s\n%s\n%s\n%s", name, jb ? jb->description : "",
                 jb ? jb->domain : "", jb ? jb->cron : "");
        for (char *p = j->hay; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    int perr = 0;
    old = strmap_put(&v->jobs, name, j, &perr);
    if (perr < 0) {
        job_entry_free(j);
        return;
    }
    job_entry_free(old);
    jobs_changed(v);
}

void zkview_put_local(struct zkview *v, const char *name, const char *raw, int version,
                      int64_t mtime_ms)
{
    set_job(v, name, raw, (int)strlen(raw), version, mtime_ms);
}

void zkview_del_local(struct zkview *v, const char *name)
{
    struct zkview_job *j = strmap_del(&v->jobs, name);
    if (j) {
        job_entry_free(j);
        jobs_changed(v);
    }
}

/* ---------------------------------------------------------------- loading */

static void done_one(struct zkview *v)
{
    if (v->loading > 0)
        v->loading--;
}

struct getarg {
    struct zkview *v;
    uint64_t generation;
    char name[];
};

static struct getarg *getarg_new(struct zkview *v, const char *name)
{
    size_t n = strlen(name) + 1;
    struct getarg *g = malloc(sizeof *g + n);
    if (g) {
        g->v = v;
        g->generation = zkreg_generation(v->z);
        memcpy(g->name, name, n);
    }
    return g;
}

static void job_got(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct getarg *g = arg;
    struct zkview *v = g->v;
    (void)z;
    done_one(v);
    if (r->rc == ZOK && !r->stale)
        set_job(v, g->name, r->data ? r->data : "", r->data ? r->len : 0, r->stat.version,
                r->stat.mtime);
    else if (r->rc == ZNONODE)
        zkview_del_local(v, g->name);
    free(g);
}

static void get_job(struct zkview *v, const char *name)
{
    char path[300];
    struct getarg *g = getarg_new(v, name);
    if (!g)
        return;
    snprintf(path, sizeof path, "/jobs/%s", name);
    v->loading++;
    if (zkreg_get(v->z, path, true, job_got, g) != ZOK) {
        v->loading--;
        free(g);
    }
}

static void agent_got(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct getarg *g = arg;
    struct zkview *v = g->v;
    (void)z;
    done_one(v);
    if (r->rc == ZNONODE) {
        struct zkview_agent *old = strmap_del(&v->agents, g->name);
        if (old) {
            agent_entry_free(old);
            changed(v);
        }
    } else if (r->rc == ZOK && !r->stale) {
        struct zkview_agent *a = calloc(1, sizeof *a), *old = strmap_get(&v->agents, g->name);
        struct sc_err err;
        if (!a || !(a->id = strdup(g->name))) {
            free(a);
            free(g);
            return;
        }
        a->valid =
            plan_agent_parse(r->data ? r->data : "", r->data ? r->len : 0, &a->rec, &err) == 0;
        a->mtime_ms = r->stat.mtime;
        a->first_session = old ? old->first_session : (a->valid ? a->rec.session : 0);
        a->came_back = (old && old->came_back) ||
                       (a->valid && a->first_session && a->rec.session != a->first_session);
        int perr = 0;
        old = strmap_put(&v->agents, g->name, a, &perr);
        if (perr < 0)
            agent_entry_free(a);
        else
            agent_entry_free(old);
        changed(v);
    }
    free(g);
}

static void get_agent(struct zkview *v, const char *id)
{
    char path[300];
    struct getarg *g = getarg_new(v, id);
    if (!g)
        return;
    snprintf(path, sizeof path, "/agents/%s", id);
    v->loading++;
    if (zkreg_get(v->z, path, true, agent_got, g) != ZOK) {
        v->loading--;
        free(g);
    }
}

/* in_list: binary search in the sorted children. */
static bool in_list(char **names, int n, const char *name)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(names[mid], name);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return false;
}

/* sync_children: drop cached entries no longer listed; fetch the new ones (and all
 * of them on a full reload, when `all`). */
static void jobs_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    done_one(v);
    if (r->rc != ZOK)
        return;
    const char *k;
    void *val;
    for (size_t it = 0; strmap_next(&v->jobs, &it, &k, &val);) {
        if (!in_list(r->children, r->nchildren, k)) {
            job_entry_free(strmap_del(&v->jobs, k));
            jobs_changed(v);
        }
    }
    for (int i = 0; i < r->nchildren; i++)
        if (!strmap_get(&v->jobs, r->children[i]))
            get_job(v, r->children[i]);
    v->listed = true;
}

static void agents_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    done_one(v);
    if (r->rc != ZOK)
        return;
    const char *k;
    void *val;
    for (size_t it = 0; strmap_next(&v->agents, &it, &k, &val);) {
        if (!in_list(r->children, r->nchildren, k)) {
            agent_entry_free(strmap_del(&v->agents, k));
            changed(v);
        }
    }
    for (int i = 0; i < r->nchildren; i++)
        if (!strmap_get(&v->agents, r->children[i]))
            get_agent(v, r->children[i]);
}

static void get_snap(struct zkview *v);

/* snap_exists: the exists watch on a missing snapshot was set; when the node
 * appeared in between, read it now. */
static void snap_exists(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    done_one(v);
    if (r->rc == ZOK)
        get_snap(v);
}

/* ---- domains: /domains/<name> holds the domain's level */

static void domain_got(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct getarg *g = arg;
    struct zkview *v = g->v;
    (void)z;
    done_one(v);
    if (r->rc == ZNONODE) {
        if (strmap_del(&v->domains, g->name))
            changed(v);
    } else if (r->rc == ZOK && !r->stale) {
        char buf[64];
        long level = 0;
        snprintf(buf, sizeof buf, "%.*s", r->data ? (r->len < 63 ? r->len : 63) : 0,
                 r->data ? r->data : "");
        const char *p = strstr(buf, "\"level\"");
        p = p ? strchr(p, ':') : NULL;
        level = strtol(p ? p + 1 : buf, NULL, 10);
        int perr = 0;
        strmap_put(&v->domains, g->name, (void *)(intptr_t)(level + 1), &perr);
        changed(v);
    }
    free(g);
}

static void get_domain(struct zkview *v, const char *name)
{
    char path[300];
    struct getarg *g = getarg_new(v, name);
    if (!g)
        return;
    snprintf(path, sizeof path, "/domains/%s", name);
    v->loading++;
    if (zkreg_get(v->z, path, true, domain_got, g) != ZOK) {
        v->loading--;
        free(g);
    }
}

static void domains_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    done_one(v);
    if (r->rc != ZOK)
        return;
    const char *k;
    void *val;
    for (size_t it = 0; strmap_next(&v->domains, &it, &k, &val);)
        if (!in_list(r->children, r->nchildren, k)) {
            strmap_del(&v->domains, k);
            changed(v);
        }
    for (int i = 0; i < r->nchildren; i++)
        if (!strmap_get(&v->domains, r->children[i]))
            get_domain(v, r->children[i]);
}

int zkview_domain_level(const struct zkview *v, const char *name)
{
    void *p = name && *name ? strmap_get(&v->domains, name) : NULL;
    return p ? (int)((intptr_t)p - 1) : -1;
}

static void snap_got(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    struct sc_err err;
    struct plan_snapshot s;
    (void)z;
    done_one(v);
    if (r->rc == ZNONODE) {
        /* Not published yet: an exists watch tells us when it is. */
        v->loading++;
        if (zkreg_exists(v->z, "/state/assignment", true, snap_exists, v) != ZOK)
            v->loading--;
        return;
    }
    if (r->rc != ZOK || !r->data)
        return;
    if (plan_snapshot_parse(r->data, r->len, &s, &err) < 0) {
        LOGW("/state/assignment does not parse: %s", err.msg);
        return;
    }
    if (v->has_snap)
        plan_snapshot_clear(&v->snap);
    v->snap = s;
    v->has_snap = true;
    snap_changed(v);
}

static void get_snap(struct zkview *v)
{
    v->loading++;
    if (zkreg_get(v->z, "/state/assignment", true, snap_got, v) != ZOK)
        v->loading--;
}

static void leader_got(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    done_one(v);
    if (r->rc == ZOK && r->data) {
        snprintf(v->leader, sizeof v->leader, "%.*s", r->len, r->data);
        changed(v);
    }
}

static void election_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    done_one(v);
    if (r->rc != ZOK)
        return;
    long long best = -1;
    const char *who = NULL;
    for (int i = 0; i < r->nchildren; i++) {
        const char *u = strrchr(r->children[i], '_');
        long long s = u ? atoll(u + 1) : -1;
        if (best < 0 || s < best) {
            best = s;
            who = r->children[i];
        }
    }
    if (!who) {
        if (v->leader[0]) {
            v->leader[0] = '\0';
            changed(v);
        }
        return;
    }
    char path[300];
    snprintf(path, sizeof path, "/election/%s", who);
    v->loading++;
    if (zkreg_get(v->z, path, false, leader_got, v) != ZOK)
        v->loading--;
}

static void list(struct zkview *v, const char *path, zkreg_cb cb)
{
    v->loading++;
    if (zkreg_children(v->z, path, true, cb, v) != ZOK)
        v->loading--;
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct zkview *v = arg;
    (void)z;
    (void)r;
    done_one(v);
}

static void load_all(struct zkview *v)
{
    static const char *const roots[] = {"/jobs",  "/agents",        "/election",
                                        "/state", "/state/changes", "/domains"};
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
        v->loading++;
        if (zkreg_ensure(v->z, roots[i], ensured, v) != ZOK)
            v->loading--;
    }
    /* A new session has no watches: fetch every entry again, not only new ones. */
    const char *k;
    void *val;
    for (size_t it = 0; strmap_next(&v->jobs, &it, &k, &val);)
        get_job(v, k);
    for (size_t it = 0; strmap_next(&v->agents, &it, &k, &val);)
        get_agent(v, k);
    list(v, "/jobs", jobs_listed);
    list(v, "/agents", agents_listed);
    list(v, "/election", election_listed);
    for (size_t it = 0; strmap_next(&v->domains, &it, &k, &val);)
        get_domain(v, k);
    list(v, "/domains", domains_listed);
    get_snap(v);
}

/* ---------------------------------------------------------------- events */

void zkview_init(struct zkview *v, struct zkreg *z)
{
    memset(v, 0, sizeof *v);
    v->z = z;
    strmap_init(&v->jobs);
    strmap_init(&v->agents);
    strmap_init(&v->domains);
}

void zkview_clear(struct zkview *v)
{
    const char *k;
    void *val;
    for (size_t it = 0; strmap_next(&v->jobs, &it, &k, &val);)
        job_entry_free(val);
    for (size_t it = 0; strmap_next(&v->agents, &it, &k, &val);)
        agent_entry_free(val);
    strmap_free(&v->jobs);
    strmap_free(&v->agents);
    strmap_free(&v->domains);
    if (v->has_snap)
        plan_snapshot_clear(&v->snap);
    free(v->sorted);
    shard_assignment_free(v->assign);
    memset(v, 0, sizeof *v);
}

void zkview_on_state(struct zkview *v, enum zkreg_state st)
{
    if (st != ZKREG_CONNECTED)
        return;
    if (v->generation == zkreg_generation(v->z) && v->listed)
        return; /* reconnected within the session: the watches are still set */
    v->generation = zkreg_generation(v->z);
    LOGI("loading the namespace view (session generation %llu)", (unsigned long long)v->generation);
    load_all(v);
}

void zkview_on_watch(struct zkview *v, int type, const char *path)
{
    if (!path)
        return;
    if (strcmp(path, "/jobs") == 0) {
        list(v, "/jobs", jobs_listed);
    } else if (strncmp(path, "/jobs/", 6) == 0 && !strchr(path + 6, '/')) {
        if (type == ZOO_DELETED_EVENT)
            zkview_del_local(v, path + 6);
        else
            get_job(v, path + 6);
    } else if (strcmp(path, "/agents") == 0) {
        list(v, "/agents", agents_listed);
    } else if (strncmp(path, "/agents/", 8) == 0 && !strchr(path + 8, '/')) {
        if (type == ZOO_DELETED_EVENT) {
            agent_entry_free(strmap_del(&v->agents, path + 8));
            changed(v);
        } else {
            get_agent(v, path + 8);
        }
    } else if (strcmp(path, "/domains") == 0) {
        list(v, "/domains", domains_listed);
    } else if (strncmp(path, "/domains/", 9) == 0 && !strchr(path + 9, '/')) {
        get_domain(v, path + 9);
    } else if (strcmp(path, "/election") == 0) {
        list(v, "/election", election_listed);
    } else if (strcmp(path, "/state/assignment") == 0) {
        get_snap(v);
    }
}

bool zkview_ready(const struct zkview *v)
{
    return v->listed && v->loading == 0 && zkreg_state(v->z) == ZKREG_CONNECTED;
}

/* ---------------------------------------------------------------- derived */

const struct zkview_job *zkview_job(const struct zkview *v, const char *name)
{
    return strmap_get(&v->jobs, name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct zkview_job *const *)a)->name, (*(struct zkview_job *const *)b)->name);
}

struct zkview_job *const *zkview_jobs_sorted(struct zkview *v, size_t *n)
{
    if (!v->sorted || v->sorted_at != v->job_changes) {
        size_t len = strmap_len(&v->jobs);
        struct zkview_job **arr = malloc((len + 1) * sizeof *arr);
        if (!arr) {
            *n = 0;
            return NULL;
        }
        size_t i = 0;
        const char *k;
        void *val;
        for (size_t it = 0; strmap_next(&v->jobs, &it, &k, &val);)
            arr[i++] = val;
        qsort(arr, i, sizeof *arr, by_name);
        v->nenabled = v->ndisabled = v->ninvalid = 0;
        for (size_t k = 0; k < i; k++) {
            if (!arr[k]->job)
                v->ninvalid++;
            else if (arr[k]->job->disabled)
                v->ndisabled++;
            else
                v->nenabled++;
        }
        free(v->sorted);
        v->sorted = arr;
        v->nsorted = i;
        v->sorted_at = v->job_changes;
    }
    *n = v->nsorted;
    return v->sorted;
}

/* shapes: the valid jobs as shard inputs (pointing into the cache); the caller's
 * to free. */
static struct shard_job *shapes(struct zkview *v, int *n)
{
    size_t len;
    struct zkview_job *const *all = zkview_jobs_sorted(v, &len);
    struct shard_job *out = calloc(len + 1, sizeof *out);
    *n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const struct job *j = all[i]->job;
        enum shard_strategy st;
        if (!j || shard_strategy_parse(j->strategy, &st) < 0)
            continue;
        out[(*n)++] =
            (struct shard_job){j->name, j->shards, st, (const char *const *)j->labels, j->nlabels};
    }
    return out;
}

const struct shard_assignment *zkview_assignment(struct zkview *v)
{
    if (!v->has_snap)
        return NULL;
    if (v->assign_valid && v->assign_at == v->job_changes + v->snap_changes)
        return v->assign;
    shard_assignment_free(v->assign);
    v->assign = NULL;
    v->assign_valid = false;
    int njobs = 0;
    struct shard_job *jobs = shapes(v, &njobs);
    struct shard_agent *members = calloc((size_t)v->snap.nmembers + 1, sizeof *members);
    if (jobs && members) {
        plan_members_to_shard(&v->snap, members);
        if (shard_assign(jobs, njobs, members, v->snap.nmembers, &v->assign) < 0)
            v->assign = NULL;
    }
    free(jobs);
    free(members);
    v->assign_valid = v->assign != NULL;
    v->assign_at = v->job_changes + v->snap_changes;
    return v->assign;
}

bool zkview_digest_matches(struct zkview *v)
{
    if (!v->has_snap)
        return false;
    int njobs = 0;
    char d[17];
    struct shard_job *jobs = shapes(v, &njobs);
    if (!jobs)
        return false;
    plan_digest(jobs, njobs, d);
    free(jobs);
    return strcmp(d, v->snap.digest) == 0;
}
