/* registry/jobcache.c: the job cache and the job change log (see jobcache.h).
 *
 * Owns the entries under /jobs and what this process has seen of
 * PLAN_CHANGES: the listings, the highest sequence handled, the pruning
 * watermark and, for the leader, the pruning itself. Sections: entries;
 * reading jobs; listing /jobs; the change log; pruning; public API. */
#define LOG_CAT "shardcron.registry"
#include "registry/jobcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "registry/plan.h"

static void changes_list(struct jobcache *jc);

/* ---------------------------------------------------------------- entries */

static void entry_free(struct jobcache *jc, struct jobcache_job *j)
{
    if (!j)
        return;
    if (jc->o.on_free)
        jc->o.on_free(jc->o.ctx, j);
    free(j->name);
    job_free(j->cfg);
    free(j);
}

/* entry_new: a new incarnation of `name`, in the map; NULL when out of memory. */
static struct jobcache_job *entry_new(struct jobcache *jc, const char *name)
{
    int e;
    struct jobcache_job *j = calloc(1, jc->o.entry_size);
    if (!j || !(j->name = strdup(name))) {
        free(j);
        return NULL;
    }
    j->inc = ++jc->incs;
    strmap_put(&jc->map, j->name, j, &e);
    if (e < 0) {
        free(j->name);
        free(j);
        return NULL;
    }
    return j;
}

/* entry_remove: j leaves the map (deleted). */
static void entry_remove(struct jobcache *jc, struct jobcache_job *j)
{
    strmap_del(&jc->map, j->name);
    if (j->loading)
        jc->loading--;
    entry_free(jc, j);
    jc->gen++;
}

/* set_data: j's node holds `data` (stat from a read, or our own write). */
static void set_data(struct jobcache *jc, struct jobcache_job *j, const char *data, int len,
                     const struct Stat *st)
{
    struct job *cfg = NULL;
    struct sc_err err;
    sc_err_clear(&err);
    int prc = job_parse(data ? data : "", data ? (size_t)len : 0, &cfg, &err);
    if (prc == 0 && strcmp(cfg->name, j->name) != 0) {
        prc = sc_err_set(&err, EINVAL, "name", -1, "\"%s\" differs from the node name", cfg->name);
        job_free(cfg);
        cfg = NULL;
    }
    if (prc < 0) {
        sc_err_format(&err, j->error, sizeof j->error);
        if (j->cfg || j->mzxid != st->mzxid)
            LOGW("job %s: invalid config, skipped: %s", j->name, j->error);
    } else {
        j->error[0] = '\0';
    }
    job_free(j->cfg);
    j->cfg = cfg;
    j->version = st->version;
    j->mzxid = st->mzxid;
    j->czxid = st->czxid;
    j->ctime_ms = st->ctime;
    j->mtime_ms = st->mtime;
    jc->gen++;
    if (jc->o.on_read)
        jc->o.on_read(jc->o.ctx, j, data ? data : "", data ? len : 0);
}

static void update(struct jobcache *jc, bool jobs)
{
    if (jc->o.on_update)
        jc->o.on_update(jc->o.ctx, jobs);
}

/* ---------------------------------------------------------------- reading jobs */

struct read_ctx {
    struct jobcache *jc;
    uint64_t inc; /* the incarnation the read is for */
    char name[];
};

/* job_read: `loading` counts this job's reads in flight and jc->loading the
 * jobs with reads in flight, so the cache counts as settled only when every
 * read has answered. Replies come in order: each is applied, the last wins. */
static void job_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct jobcache *jc = rc->jc;
    struct jobcache_job *j = r->stale ? NULL : strmap_get(&jc->map, rc->name);
    (void)z;
    if (j && j->inc == rc->inc && j->loading > 0) {
        if (--j->loading == 0)
            jc->loading--;
        j->read_failed = r->rc != ZOK && r->rc != ZNONODE;
        if (r->rc == ZOK)
            set_data(jc, j, r->data, r->len, &r->stat);
        /* ZNONODE: deleted; the children watch removes it */
        update(jc, true);
    }
    free(rc);
}

void jobcache_read(struct jobcache *jc, struct jobcache_job *j)
{
    char path[300];
    size_t n = strlen(j->name) + 1;
    struct read_ctx *rc = malloc(sizeof *rc + n);
    if (!rc)
        return;
    rc->jc = jc;
    rc->inc = j->inc;
    memcpy(rc->name, j->name, n);
    snprintf(path, sizeof path, "/jobs/%s", j->name);
    if (j->loading++ == 0)
        jc->loading++;
    /* No watch: the change log announces rewrites (one watch per process
     * instead of one per job). */
    if (zkreg_get(jc->z, path, false, job_read, rc) != ZOK) {
        if (--j->loading == 0)
            jc->loading--;
        free(rc);
    }
}

/* ---------------------------------------------------------------- listing /jobs */

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool listed(const struct zkreg_result *r, const char *name)
{
    return bsearch(&name, r->children, (size_t)r->nchildren, sizeof(char *), strcmp_ptr) != NULL;
}

static void jobs_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct jobcache *jc = arg;
    const char *k;
    void *v;
    (void)z;
    if (r->stale || r->rc != ZOK)
        return;
    /* Remove jobs that are gone (the children are sorted: bsearch). */
    for (size_t it = 0; strmap_next(&jc->map, &it, &k, &v);) {
        if (!listed(r, k)) {
            LOGI("job %s deleted", k);
            entry_remove(jc, v);
        }
    }
    for (int i = 0; i < r->nchildren; i++) {
        if (strmap_get(&jc->map, r->children[i]))
            continue;
        struct jobcache_job *j = entry_new(jc, r->children[i]);
        if (!j)
            continue;
        jobcache_read(jc, j);
        jc->gen++;
    }
    jc->listed = true;
    /* Triggers announced before the jobs were known. */
    for (size_t it = 0; strmap_next(&jc->trig_wait, &it, &k, &v);)
        if (strmap_get(&jc->map, k) && jc->o.on_trigger)
            jc->o.on_trigger(jc->o.ctx, k);
    strmap_free(&jc->trig_wait);
    strmap_init(&jc->trig_wait);
    update(jc, true);
}

static void list_jobs(struct jobcache *jc)
{
    zkreg_children(jc->z, "/jobs", true, jobs_listed, jc);
}

/* ---------------------------------------------------------------- the change log */

static void chg_free(struct jobcache *jc)
{
    for (int i = 0; i < jc->nchg; i++)
        free(jc->chg[i].name);
    free(jc->chg);
    jc->chg = NULL;
    jc->nchg = 0;
}

static int cmp_chg(const void *a, const void *b)
{
    const struct jobcache_change *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* note_trigger: a trigger entry names `job`: its user looks at its triggers
 * (before /jobs is listed, once it is). */
static void note_trigger(struct jobcache *jc, const char *job)
{
    int e;
    if (!jc->o.on_trigger)
        return;
    if (!jc->listed) {
        strmap_put(&jc->trig_wait, job, (void *)1, &e);
        return;
    }
    if (strmap_get(&jc->map, job))
        jc->o.on_trigger(jc->o.ctx, job);
}

struct chg_ctx {
    struct jobcache *jc;
    uint64_t gen;
    char **names;
    int n;
};

static void chg_ctx_free(struct chg_ctx *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->names[i]);
    free(x->names);
    free(x);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* changes_data: the parent's data (pruned_through) read after the listing in
 * x; handle the entries this process has not seen. */
static void changes_data(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct chg_ctx *x = arg;
    struct jobcache *jc = x->jc;
    (void)z;
    if (r->stale || x->gen != zkreg_generation(jc->z) || (r->rc != ZOK && r->rc != ZNONODE)) {
        chg_ctx_free(x);
        return;
    }
    int64_t pruned = r->rc == ZOK ? plan_changes_pruned(r->data, r->len) : -1;
    int64_t t = now_ms();
    struct jobcache_change *v = calloc((size_t)x->n + 1, sizeof *v);
    int n = 0;
    char job[JOB_NAME_MAX + 1];
    enum plan_change_kind kind;
    int64_t seq;
    if (!v) {
        chg_ctx_free(x);
        return;
    }
    for (int i = 0; i < x->n; i++) {
        if (plan_change_parse(x->names[i], &kind, job, sizeof job, &seq) < 0)
            continue;
        v[n].name = x->names[i];
        x->names[i] = NULL;
        v[n].seq = seq;
        v[n].seen_ms = t;
        /* jc->chg is sorted by seq: a search, not a scan (the log holds
         * thousands of entries while a big workflow run starts its tasks,
         * and this runs on every listing) */
        const struct jobcache_change *old =
            jc->nchg > 0 ? bsearch(&v[n], jc->chg, (size_t)jc->nchg, sizeof *jc->chg, cmp_chg)
                         : NULL;
        if (old)
            v[n].seen_ms = old->seen_ms;
        n++;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_chg);
    bool first = !jc->chg_listed;
    const char *k;
    void *val;
    if (!first && jc->chg_seen < pruned) {
        /* Entries this process never saw were pruned: read every job again. */
        LOGW("job change log pruned past what this process saw (%lld < %lld): re-reading all jobs",
             (long long)jc->chg_seen, (long long)pruned);
        for (size_t it = 0; strmap_next(&jc->map, &it, &k, &val);)
            jobcache_read(jc, val);
    }
    int64_t seen = jc->chg_seen > pruned ? jc->chg_seen : pruned;
    for (int i = 0; i < n; i++) {
        if (v[i].seq <= jc->chg_seen && !first)
            continue;
        if (plan_change_parse(v[i].name, &kind, job, sizeof job, &seq) < 0)
            continue;
        if (kind != PLAN_CHANGE_TRIGGER && kind != PLAN_CHANGE_CONFIG) {
            /* Not a job's (a workflow's): its follower reads it. */
            if (jc->o.on_entry)
                jc->o.on_entry(jc->o.ctx, (char)kind, job);
        } else if (kind == PLAN_CHANGE_TRIGGER) {
            note_trigger(jc, job);
        } else if (kind == PLAN_CHANGE_CONFIG && !first) {
            /* On the first listing the jobs are read after it anyway. A
             * workflow's entry ('w') names no job. */
            struct jobcache_job *j = strmap_get(&jc->map, job);
            if (j)
                jobcache_read(jc, j);
        }
        if (seq > seen)
            seen = seq;
    }
    jc->chg_seen = seen;
    chg_free(jc);
    jc->chg = v;
    jc->nchg = n;
    if (first) {
        jc->chg_listed = true;
        /* Read after the log: a rewrite from now on has an entry we will see. */
        if (jc->reread)
            for (size_t it = 0; strmap_next(&jc->map, &it, &k, &val);)
                jobcache_read(jc, val);
        jc->reread = false;
        list_jobs(jc);
    }
    chg_ctx_free(x);
    update(jc, false);
}

static void changes_ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct jobcache *jc = arg;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZOK || r->rc == ZNODEEXISTS) {
        changes_list(jc);
    } else {
        LOGE("cannot create " PLAN_CHANGES ": %s; retrying", zerror(r->rc));
        jc->chg_retry = true; /* the next tick lists again */
    }
}

static void changes_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct jobcache *jc = arg;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) { /* first use of this namespace: create, then list */
        if (zkreg_ensure(z, PLAN_CHANGES, changes_ensured, jc) != ZOK)
            jc->chg_retry = true;
        return;
    }
    if (r->rc != ZOK)
        return;
    struct chg_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return;
    x->jc = jc;
    x->gen = zkreg_generation(jc->z);
    x->names = calloc((size_t)r->nchildren + 1, sizeof *x->names);
    for (int i = 0; x->names && i < r->nchildren; i++)
        if ((x->names[x->n] = strdup(r->children[i])))
            x->n++;
    /* The watermark is read after the listing: if a prune ran in between, the
     * newer watermark can only make this process re-read more, never less. */
    if (!x->names || zkreg_get(z, PLAN_CHANGES, false, changes_data, x) != ZOK)
        chg_ctx_free(x);
}

static void changes_list(struct jobcache *jc)
{
    zkreg_children(jc->z, PLAN_CHANGES, true, changes_listed, jc);
}

/* ---------------------------------------------------------------- pruning */

#define CHANGE_KEEP_MS (PLAN_TRIGGER_TTL_MS + 60 * 1000) /* entries outlive their triggers */
#define PRUNE_EVERY_MS (30 * 1000)
#define PRUNE_BATCH 100

static void pruned(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)arg;
    if (!r->stale && r->rc != ZOK)
        LOGD("pruning the job change log: %s", zerror(r->rc));
}

void jobcache_prune(struct jobcache *jc, const char *fence, int64_t t)
{
    if (!fence[0] || t - jc->last_prune_ms < PRUNE_EVERY_MS)
        return;
    jc->last_prune_ms = t;
    struct zkreg_op ops[PRUNE_BATCH + 2];
    char paths[PRUNE_BATCH][300], data[64];
    int n = 0;
    int64_t through = 0;
    for (int i = 0; i < jc->nchg && n < PRUNE_BATCH; i++) {
        if (t - jc->chg[i].seen_ms < CHANGE_KEEP_MS)
            break;
        snprintf(paths[n], sizeof paths[n], PLAN_CHANGES "/%s", jc->chg[i].name);
        ops[n + 1] = (struct zkreg_op){.type = ZKOP_DELETE, .path = paths[n], .version = -1};
        through = jc->chg[i].seq;
        n++;
    }
    if (n == 0)
        return;
    ops[0] = (struct zkreg_op){.type = ZKOP_CHECK, .path = fence, .version = -1};
    snprintf(data, sizeof data, "{\"pruned_through\":%lld}", (long long)through);
    ops[n + 1] = (struct zkreg_op){.type = ZKOP_SET,
                                   .path = PLAN_CHANGES,
                                   .data = data,
                                   .len = (int)strlen(data),
                                   .version = -1};
    zkreg_multi(jc->z, ops, n + 2, pruned, NULL);
}

/* ---------------------------------------------------------------- public API */

void jobcache_init(struct jobcache *jc, struct zkreg *z, const struct jobcache_opts *o)
{
    memset(jc, 0, sizeof *jc);
    jc->z = z;
    if (o)
        jc->o = *o;
    if (jc->o.entry_size < sizeof(struct jobcache_job))
        jc->o.entry_size = sizeof(struct jobcache_job);
    strmap_init(&jc->map);
    strmap_init(&jc->trig_wait);
    jc->gen = 1;
    jc->chg_seen = -1;
}

void jobcache_clear(struct jobcache *jc)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&jc->map, &it, &k, &v);)
        entry_free(jc, v);
    strmap_free(&jc->map);
    strmap_init(&jc->map);
    jc->loading = 0;
    jc->listed = false;
    jc->chg_listed = false;
    jc->reread = false;
    jc->chg_seen = -1;
    chg_free(jc);
    strmap_free(&jc->trig_wait);
    strmap_init(&jc->trig_wait);
}

void jobcache_free(struct jobcache *jc)
{
    jobcache_clear(jc);
    strmap_free(&jc->map);
    strmap_free(&jc->trig_wait);
}

void jobcache_load(struct jobcache *jc)
{
    changes_list(jc); /* then /jobs */
}

void jobcache_reload(struct jobcache *jc)
{
    const char *k;
    void *v;
    /* Reads of the old session answer stale (ignored): nothing is in flight. */
    for (size_t it = 0; strmap_next(&jc->map, &it, &k, &v);)
        ((struct jobcache_job *)v)->loading = 0;
    jc->loading = 0;
    jc->listed = false;
    jc->chg_listed = false;
    jc->reread = true;
    jc->chg_seen = -1;
    chg_free(jc);
    strmap_free(&jc->trig_wait);
    strmap_init(&jc->trig_wait);
    changes_list(jc);
}

void jobcache_reconnected(struct jobcache *jc)
{
    const char *k;
    void *v;
    changes_list(jc); /* the first listing also lists /jobs */
    if (jc->chg_listed)
        list_jobs(jc);
    for (size_t it = 0; strmap_next(&jc->map, &it, &k, &v);) {
        struct jobcache_job *j = v;
        if (j->read_failed && !j->loading)
            jobcache_read(jc, j);
    }
}

bool jobcache_on_watch(struct jobcache *jc, const char *path)
{
    if (strcmp(path, "/jobs") == 0)
        list_jobs(jc);
    else if (strcmp(path, PLAN_CHANGES) == 0)
        changes_list(jc);
    else
        return false;
    return true;
}

void jobcache_tick(struct jobcache *jc)
{
    if (jc->chg_retry && zkreg_state(jc->z) == ZKREG_CONNECTED) {
        jc->chg_retry = false;
        changes_list(jc);
    }
}

bool jobcache_settled(const struct jobcache *jc)
{
    return jc->chg_listed && jc->listed && jc->loading == 0;
}

struct jobcache_job *jobcache_get(const struct jobcache *jc, const char *name)
{
    return strmap_get(&jc->map, name);
}

void jobcache_put_local(struct jobcache *jc, const char *name, const char *data, int len,
                        int version, int64_t mtime_ms)
{
    struct jobcache_job *j = strmap_get(&jc->map, name);
    if (!j && !(j = entry_new(jc, name)))
        return;
    /* mzxid and the creation are unknown here: the log's entry reads it again */
    struct Stat st = {.version = version,
                      .mzxid = j->mzxid,
                      .czxid = j->czxid,
                      .ctime = j->ctime_ms,
                      .mtime = mtime_ms};
    set_data(jc, j, data, len, &st);
}

void jobcache_del_local(struct jobcache *jc, const char *name)
{
    struct jobcache_job *j = strmap_get(&jc->map, name);
    if (j)
        entry_remove(jc, j);
}
