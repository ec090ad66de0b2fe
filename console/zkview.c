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

/* ---------------------------------------------------------------- entries */

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

/* ---- the job cache's hooks (registry/jobcache.h) */

/* job_read: the cache has the node's new data: keep it raw, and what the
 * pages derive from it (the parsed cron, the search text). */
static void job_read(void *ctx, struct jobcache_job *jc, const char *data, int len)
{
    struct zkview *v = ctx;
    struct zkview_job *j = (struct zkview_job *)jc;
    const struct job *jb = jc->cfg;
    struct sc_err err;
    char *raw = malloc((size_t)len + 1);
    if (raw) {
        memcpy(raw, data, (size_t)len);
        raw[len] = '\0';
    }
    free(j->raw);
    j->raw = raw;
    cron_free(j->expr);
    j->expr = NULL;
    if (jb && cron_parse(jb->cron, &j->expr, &err) < 0)
        j->expr = NULL;
    free(j->hay);
    size_t hl = strlen(jc->name) + 4 +
                (jb ? strlen(jb->description) + strlen(jb->domain) + strlen(jb->cron) : 0);
    if ((j->hay = malloc(hl))) {
        snprintf(j->hay, hl, "%s\n%s\n%s\n%s", jc->name, jb ? jb->description : "",
                 jb ? jb->domain : "", jb ? jb->cron : "");
        for (char *p = j->hay; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    jobs_changed(v);
}

/* job_gone: the job leaves the cache (deleted, or the view is cleared). */
static void job_gone(void *ctx, struct jobcache_job *jc)
{
    struct zkview_job *j = (struct zkview_job *)jc;
    cron_free(j->expr);
    free(j->hay);
    free(j->raw);
    jobs_changed(ctx);
}

static void jobs_updated(void *ctx, bool jobs)
{
    (void)jobs;
    changed(ctx);
}

void zkview_put_local(struct zkview *v, const char *name, const char *raw, int version,
                      int64_t mtime_ms)
{
    jobcache_put_local(&v->jobs, name, raw, (int)strlen(raw), version, mtime_ms);
}

void zkview_del_local(struct zkview *v, const char *name)
{
    jobcache_del_local(&v->jobs, name);
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

/* load_rest: everything but the jobs, each entry read again (with its watch):
 * a new session has no watches, and a request that failed with the
 * connection set none. */
static void load_rest(struct zkview *v)
{
    const char *k;
    void *val;
    for (size_t it = 0; strmap_next(&v->agents, &it, &k, &val);)
        get_agent(v, k);
    list(v, "/agents", agents_listed);
    list(v, "/election", election_listed);
    for (size_t it = 0; strmap_next(&v->domains, &it, &k, &val);)
        get_domain(v, k);
    list(v, "/domains", domains_listed);
    get_snap(v);
    v->cals.z = v->z;
    calcache_load(&v->cals);
}

/* ---------------------------------------------------------------- events */

/* A calendar moves the next fires the job list shows (its cached pages). */
static void cals_updated(void *ctx)
{
    jobs_changed(ctx);
}

void zkview_init(struct zkview *v, struct zkreg *z)
{
    struct jobcache_opts jo = {.entry_size = sizeof(struct zkview_job),
                               .on_read = job_read,
                               .on_free = job_gone,
                               .on_update = jobs_updated,
                               .ctx = v};
    memset(v, 0, sizeof *v);
    v->z = z;
    jobcache_init(&v->jobs, z, &jo);
    calcache_init(&v->cals, z, cals_updated, v);
    strmap_init(&v->agents);
    strmap_init(&v->domains);
    pausecache_init(&v->pauses, z, NULL, NULL);
}

void zkview_clear(struct zkview *v)
{
    const char *k;
    void *val;
    jobcache_free(&v->jobs);
    calcache_free(&v->cals);
    pausecache_free(&v->pauses);
    for (size_t it = 0; strmap_next(&v->agents, &it, &k, &val);)
        agent_entry_free(val);
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
    static const char *const roots[] = {"/jobs",          "/agents",  "/election",  "/state",
                                        "/state/changes", "/domains", "/calendars", "/pauses"};
    if (st != ZKREG_CONNECTED)
        return;
    v->jobs.z = v->z; /* console.c sets v->z after zkreg_open */
    v->pauses.z = v->z;
    pausecache_load(&v->pauses); /* kept meanwhile; every window read again */
    if (v->generation == zkreg_generation(v->z)) {
        /* Reconnected within the session: requests that failed with the
         * connection set no watch; read again what they may have missed. */
        jobcache_reconnected(&v->jobs);
        load_rest(v);
        return;
    }
    v->generation = zkreg_generation(v->z);
    v->loaded = false;
    LOGI("loading the namespace view (session generation %llu)", (unsigned long long)v->generation);
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
        v->loading++;
        if (zkreg_ensure(v->z, roots[i], ensured, v) != ZOK)
            v->loading--;
    }
    /* The jobs as the agents follow them: the change log, then /jobs; the
     * cached entries are served meanwhile and read again. */
    jobcache_reload(&v->jobs);
    load_rest(v);
}

void zkview_on_watch(struct zkview *v, int type, const char *path)
{
    if (!path)
        return;
    v->jobs.z = v->z;
    v->cals.z = v->z;
    if (jobcache_on_watch(&v->jobs, path)) {
        /* /jobs or the change log */
    } else if (calcache_on_watch(&v->cals, type, path)) {
        /* /calendars */
    } else if (pausecache_on_watch(&v->pauses, type, path)) {
        /* /pauses */
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

bool zkview_ready(struct zkview *v)
{
    /* Once loaded, the re-read a change-log entry causes is not "starting":
     * the view stays ready for the session (every write announces one). */
    if (!v->loaded && jobcache_settled(&v->jobs) && calcache_settled(&v->cals) && v->loading == 0)
        v->loaded = true;
    return v->loaded && zkreg_state(v->z) == ZKREG_CONNECTED;
}

/* ---------------------------------------------------------------- derived */

const struct zkview_job *zkview_job(const struct zkview *v, const char *name)
{
    return (const struct zkview_job *)jobcache_get(&v->jobs, name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct zkview_job *const *)a)->jc.name,
                  (*(struct zkview_job *const *)b)->jc.name);
}

struct zkview_job *const *zkview_jobs_sorted(struct zkview *v, size_t *n)
{
    if (!v->sorted || v->sorted_at != v->job_changes) {
        size_t len = strmap_len(&v->jobs.map);
        struct zkview_job **arr = malloc((len + 1) * sizeof *arr);
        if (!arr) {
            *n = 0;
            return NULL;
        }
        size_t i = 0;
        const char *k;
        void *val;
        for (size_t it = 0; strmap_next(&v->jobs.map, &it, &k, &val);)
            arr[i++] = val;
        qsort(arr, i, sizeof *arr, by_name);
        v->nenabled = v->ndisabled = v->ninvalid = 0;
        for (size_t k = 0; k < i; k++) {
            if (!arr[k]->jc.cfg)
                v->ninvalid++;
            else if (arr[k]->jc.cfg->disabled)
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
        const struct job *j = all[i]->jc.cfg;
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
