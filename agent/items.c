/* agent/items.c: coordination's owned items -> scheduler items. */
#define LOG_CAT "shardcron.agent"
#include "agent/items.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/log.h"
#include "core/strmap.h"
#include "core/tz.h"

struct item_rec {
    char job[JOB_NAME_MAX + 1];
    int item;
    int64_t version;  /* job config version the scheduler has */
    uint64_t cal_gen; /* coord_calendars_gen when put (jobs with a calendar) */
    bool seen;        /* still wanted in this sync */
};

struct items {
    struct sched *s;
    struct coord *c;
    char *cwd;
    struct strmap recs;  /* "job\x1fitem" -> item_rec */
    struct strmap zones; /* name -> tz_zone* (NULL value never stored) */
    int invalid;
};

/* The next-fire rule of one item: its parsed cron in its zone, under its
 * calendar when it names one (cs.cal: a reference of the rule's own). Fires
 * the calendar drops never come due: they are not run, not missed. */
struct rule {
    cron_expr *e;
    const tz_zone *z;
    struct cal_sched cs;
};

static int64_t rule_next(void *ctx, int64_t after)
{
    struct rule *r = ctx;
    return calendar_next(r->e, r->z, &r->cs, after);
}

static int rule_offset(void *ctx, int64_t t)
{
    struct rule *r = ctx;
    return tz_offset(r->z, t);
}

static void rule_free(void *ctx)
{
    struct rule *r = ctx;
    cron_free(r->e);
    calendar_unref((struct calendar *)r->cs.cal);
    free(r);
}

static const tz_zone *zone(struct items *it, const char *name, struct sc_err *err)
{
    tz_zone *z = strmap_get(&it->zones, name);
    int e;
    if (z)
        return z;
    if (!(z = tz_load(name, err)))
        return NULL;
    strmap_put(&it->zones, name, z, &e);
    if (e < 0) {
        tz_free(z);
        return NULL;
    }
    return z;
}

int items_new(struct sched *s, struct coord *c, const char *cwd, struct items **out)
{
    struct items *it = calloc(1, sizeof *it);
    if (!it || !(it->cwd = strdup(cwd))) {
        free(it);
        return -ENOMEM;
    }
    it->s = s;
    it->c = c;
    strmap_init(&it->recs);
    strmap_init(&it->zones);
    *out = it;
    return 0;
}

void items_free(struct items *it)
{
    const char *k;
    void *v;
    if (!it)
        return;
    for (size_t i = 0; strmap_next(&it->recs, &i, &k, &v);)
        free(v);
    for (size_t i = 0; strmap_next(&it->zones, &i, &k, &v);)
        tz_free(v);
    strmap_free(&it->recs);
    strmap_free(&it->zones);
    free(it->cwd);
    free(it);
}

/* conf_of: the scheduler's configuration of one item of job j; its own
 * schedule starts at fire label first_s (0: after the current second). The
 * rule (conf->ctx) is the caller's until the scheduler takes it. */
static int conf_of(struct items *it, const struct job *j, int item, int64_t first_s,
                   struct sched_item_conf *out)
{
    struct sc_err err;
    char msg[400];
    sc_err_clear(&err);
    const tz_zone *z = zone(it, j->timezone, &err);
    struct rule *r = z ? calloc(1, sizeof *r) : NULL;
    /* A job without cron keeps its rule (its zone, for SHARDCRON_FIRE_TIME of
     * triggered runs) but no next-fire rule: nothing fires on a schedule. */
    struct calendar *cal = j->calendar[0] ? coord_calendar(it->c, j->calendar) : NULL;
    if (j->calendar[0] && !cal)
        sc_err_set(&err, ENOENT, "calendar", -1, "no calendar \"%s\" (or it is invalid)",
                   j->calendar);
    if (!z || !r || (j->calendar[0] && !cal) ||
        (j->cron[0] && cron_parse(j->cron, &r->e, &err) < 0)) {
        if (r)
            cron_free(r->e);
        free(r);
        LOGE("job %s item %d cannot be scheduled here: %s", j->name, item,
             sc_err_format(&err, msg, sizeof msg));
        return -EINVAL;
    }
    r->z = z;
    r->cs = (struct cal_sched){
        .cal = calendar_ref(cal), .rule = j->calendar_rule, .shift = j->calendar_shift};
    *out = (struct sched_item_conf){
        .job = j->name,
        .item = item,
        .total = j->shards,
        .shard_param = item < j->shards && j->shard_params && j->shard_params[item]
                           ? j->shard_params[item]
                           : "",
        .job_param = j->job_param,
        .type = j->type == JOB_JAVA ? SCHED_JOB_JAVA : SCHED_JOB_SHELL,
        .command = j->command,
        .cwd = it->cwd,
        .java_classpath = j->java.classpath,
        .java_class = j->java.cls,
        .jvm_opts = j->java.jvm_opts,
        .env = j->env,
        .nenv = j->nenv,
        .timeout_s = j->timeout_s,
        .retries = j->retries,
        .retry_backoff_s = j->retry_backoff_s,
        .misfire = (enum sched_misfire)j->misfire,
        .concurrency = (enum sched_concurrency)j->concurrency,
        .misfire_threshold_ms = j->misfire_threshold_s * 1000,
        .next = j->cron[0] ? rule_next : NULL,
        .offset = rule_offset,
        .ctx = r,
        .ctx_free = rule_free,
        .fire_after = first_s > 0 ? first_s - 1 : 0,
    };
    return 0;
}

/* put: (re)configure one item in the scheduler from its job; its own
 * schedule starts at fire label first_s (0: after the current second). */
static int put(struct items *it, const struct job *j, int item, int64_t first_s)
{
    struct sc_err err;
    char msg[400];
    struct sched_item_conf conf;
    if (conf_of(it, j, item, first_s, &conf) < 0)
        return -EINVAL;
    sc_err_clear(&err);
    if (sched_item_put(it->s, &conf, &err) < 0) {
        rule_free(conf.ctx);
        LOGE("job %s item %d: %s", j->name, item, sc_err_format(&err, msg, sizeof msg));
        return -EINVAL;
    }
    return 0;
}

struct sync_ctx {
    struct items *it;
    int added, removed;
};

/* rerun: a failover re-run coordination decided on for this item, once the
 * record claiming it is in ZooKeeper (coord_take_rerun): queued through the
 * scheduler like any run (concurrency, capacity, retries). */
static void rerun(struct items *it, const struct job *j, int item)
{
    int64_t fire, session;
    if (!coord_take_rerun(it->c, j->name, item, &fire, &session))
        return;
    if (j->disabled || !j->failover || item >= j->shards)
        return;
    LOGN("job %s item %d: the run of fire %lld was cut off when session 0x%llx ended; our claim "
         "to re-run it is recorded: re-running it once",
         j->name, item, (long long)fire, (unsigned long long)session);
    if (sched_trigger(it->s, j->name, item, EXEC_TRIGGER_FAILOVER, fire, NULL, NULL) < 0)
        LOGW("job %s item %d: failover re-run could not be queued", j->name, item);
}

static void want(void *arg, const struct job *j, int item, enum coord_item_state st)
{
    struct sync_ctx *sc = arg;
    struct items *it = sc->it;
    char key[JOB_NAME_MAX + 16];
    int e;
    struct coord_takeover t;
    if (st != COORD_ACTIVE)
        return;
    /* A takeover's window of fires without an owner is taken once, here, and
     * accounted only by an item the scheduler did not have (a disabled job's
     * fires are not due, so its window is dropped). */
    bool taken = coord_take_handover(it->c, j->name, item, &t);
    if (j->disabled || item >= j->shards) {
        rerun(it, j, item); /* dropped: a disabled job's cut-off run is not re-run later */
        return;
    }
    job_item_key(key, sizeof key, j->name, item);
    struct item_rec *rec = strmap_get(&it->recs, key);
    int64_t version = coord_job_version(it->c, j->name);
    uint64_t cal_gen = j->calendar[0] ? coord_calendars_gen(it->c) : 0;
    if (rec && rec->version == version && rec->cal_gen == cal_gen) {
        rec->seen = true;
        rerun(it, j, item);
        return;
    }
    /* Our schedule starts at the first fire the takeover made ours (decided
     * by the previous owner's declaration or its session's end, never by our
     * clock: a clock behind the previous owner's must not run its fires). */
    if (put(it, j, item, !rec && taken ? t.first_s : 0) < 0) {
        it->invalid++;
        if (rec)
            rec->seen = false; /* dropped below: the old rule no longer applies */
        return;
    }
    if (!rec) {
        rec = calloc(1, sizeof *rec);
        if (!rec)
            return;
        snprintf(rec->job, sizeof rec->job, "%s", j->name);
        rec->item = item;
        strmap_put(&it->recs, key, rec, &e);
        if (e < 0) {
            free(rec);
            sched_item_remove(it->s, j->name, item, false);
            return;
        }
        LOGD("job %s item %d: scheduled here", j->name, item);
        sc->added++;
        if (taken) {
            int n = sched_item_account(it->s, j->name, item, t.lo_ms, t.hi_ms, t.why);
            if (n > 0)
                LOGN("job %s item %d: %d fires between owners accounted (%s)", j->name, item, n,
                     t.why);
        }
    }
    rec->version = version;
    rec->cal_gen = cal_gen;
    rec->seen = true;
    rerun(it, j, item);
}

#define HANDED_WHY "handed over, its new owner not there yet"

/* lost: coordination took (job, item) from this agent. What nobody else holds
 * stays ours to account (docs/coordination.md, "Fires between owners"): an
 * active item's fires due and not handled yet are reported at once, its
 * later ones as they come due until its next owner is there (coord_owes); a
 * pending item's window so far (from where its accounting would have
 * started) is reported missed, then the same. Dropped items (session lost,
 * evicted) report what came due while they could not be handled, and owe
 * nothing after. */
static void lost(void *arg, const struct coord_loss *l)
{
    struct sync_ctx *sc = arg;
    struct items *it = sc->it;
    char key[JOB_NAME_MAX + 16];
    if (!l->job) {
        sched_owed_clear(it->s); /* nothing handed over before is ours any more */
        return;
    }
    job_item_key(key, sizeof key, l->job, l->item);
    struct item_rec *rec = strmap_get(&it->recs, key);
    if (rec) {
        /* scheduled here (active; a pending item never is) */
        if (l->dropped)
            sched_item_drop(it->s, l->job, l->item, l->dropped);
        else
            sched_item_hand(it->s, l->job, l->item, HANDED_WHY);
        LOGD("job %s item %d: no longer scheduled here (%s)", l->job, l->item,
             l->dropped ? "dropped" : "handed over");
        sc->removed++;
        free(strmap_del(&it->recs, key));
        return;
    }
    const struct job *j = coord_job(it->c, l->job);
    struct sched_item_conf conf;
    struct sc_err err;
    /* an item past the job's shards: removed from it while its owner was
     * gone (coord.c removed_settle), its window accounted all the same */
    if (!l->pending || !l->lo_ms || !j || j->disabled || conf_of(it, j, l->item, 0, &conf) < 0)
        return;
    if (conf.total <= l->item)
        conf.total = l->item + 1;
    sc_err_clear(&err);
    int n = sched_owe(it->s, &conf, l->lo_ms, l->dropped ? l->dropped : "lost while pending",
                      l->dropped ? NULL : HANDED_WHY, &err);
    if (n < 0)
        rule_free(conf.ctx);
    else if (n > 0)
        LOGN("job %s item %d: lost while pending: %d fires accounted", l->job, l->item, n);
}

void items_sync(struct items *it)
{
    const char *k;
    void *v;
    struct sync_ctx sc = {.it = it};
    sched_batch_begin(it->s);
    coord_take_losses(it->c, lost, &sc);
    for (size_t i = 0; strmap_next(&it->recs, &i, &k, &v);)
        ((struct item_rec *)v)->seen = false;
    it->invalid = 0;
    coord_foreach_item(it->c, want, &sc);
    for (size_t i = 0; strmap_next(&it->recs, &i, &k, &v);) {
        struct item_rec *rec = v;
        if (rec->seen)
            continue;
        /* No longer ours (or disabled, deleted): stop firing; a running
         * execution finishes and is reported as draining meanwhile. */
        sched_item_remove(it->s, rec->job, rec->item, false);
        LOGD("job %s item %d: no longer scheduled here", rec->job, rec->item);
        sc.removed++;
        strmap_del(&it->recs, k);
        free(rec);
    }
    sched_batch_end(it->s);
    if (sc.added || sc.removed)
        LOGI("scheduler: %d items added, %d removed (%zu scheduled here)", sc.added, sc.removed,
             strmap_len(&it->recs));
}

int items_count(const struct items *it)
{
    return (int)strmap_len(&it->recs);
}
int items_invalid(const struct items *it)
{
    return it->invalid;
}
