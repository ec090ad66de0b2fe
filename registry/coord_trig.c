/* registry/coord_trig.c: manual triggers.
 *
 * A trigger is /jobs/<name>/triggers/t-<seq>, announced by a change-log entry
 * (the job cache calls coord_list_triggers). Each agent acknowledges that it
 * has seen a trigger (its own child under it), and each item runs exactly
 * once, on whichever agent first holds it active and claims it
 * (/jobs/<name>/triggers/t-<seq>/~<item>); the leader removes a trigger once
 * every live agent has seen it and every item is claimed, or after
 * PLAN_TRIGGER_TTL_MS, reporting the items nobody ran. */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* A trigger runs each item of its job exactly once, on whichever agent holds
 * the item ACTIVE first: that agent creates the item's claim
 * (/jobs/J/triggers/t-N/~<item>, data: its id) and starts the run only when
 * the create succeeds. An agent that cannot start work, or does not hold an
 * item active (pending in a handoff, or gone), claims nothing and looks again
 * every tick while the trigger lives, so a trigger seen mid-handoff runs on
 * the new owner once it activates. The leader removes a trigger once every
 * live agent has seen it and every item is claimed, or after the TTL — then
 * reporting each unclaimed item as not run (on_trigger_unrun), so no trigger
 * is acknowledged and silently lost. */

#define TRIG_CLAIM_PREFIX '~' /* not a character of agent ids in practice: acks are ids */
#define TRIG_CLAIM_MARGIN_MS 30000

struct trig_open {
    struct trig_open *next;
    uint64_t id; /* c->trig_seq: found again by a claim's answer, never by pointer */
    char job[JOB_NAME_MAX + 1];
    char name[200];
    char *param;
    bool has_param;
    char *wf;      /* a workflow trigger's context (JSON text), else NULL */
    int64_t ctime; /* the trigger's creation (server clock) */
    uint64_t inc;  /* the job's incarnation it was for */
    int nitems;
    uint8_t *done; /* per item: 0 open, 1 claim in flight, 2 claimed (by anybody) */
};

struct trig_claim {
    struct coord *c;
    uint64_t id; /* the trig_open's */
    int item;
    int64_t ctime;
    char job[JOB_NAME_MAX + 1];
    char name[200];
};

struct trig_ctx {
    struct coord *c;
    char job[JOB_NAME_MAX + 1];
    char name[200];
    char *param;
    bool has_param;
    char *wf;
    cJSON *items; /* a workflow trigger's items (NULL: all) */
    int64_t ctime;
};

static void trig_ctx_free(struct trig_ctx *t)
{
    free(t->param);
    free(t->wf);
    cJSON_Delete(t->items);
    free(t);
}

static void trig_open_free(struct trig_open *t)
{
    free(t->param);
    free(t->wf);
    free(t->done);
    free(t);
}

/* is_wf: a workflow trigger (COORD_WF_TRIGGER_PREFIX): the driver removes it. */
static bool is_wf(const char *name)
{
    return strncmp(name, COORD_WF_TRIGGER_PREFIX, sizeof COORD_WF_TRIGGER_PREFIX - 1) == 0;
}

/* trig_drop: forget trigger t here (finished, expired, removed, job gone). */
static void trig_drop(struct coord *c, struct trig_open *t)
{
    for (struct trig_open **pp = &c->trigs; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    trig_open_free(t);
}

static void trig_claimed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_claim *cl = arg;
    (void)z;
    if (r->stale) {
        free(cl);
        return;
    }
    struct coord *c = cl->c;
    struct trig_open *t = c->trigs;
    while (t && t->id != cl->id)
        t = t->next;
    int i = cl->item;
    if (r->rc == ZOK) {
        /* Ours to run: nobody else will. */
        const struct cjob *j = strmap_get(&c->jobs.map, cl->job);
        int rc = t && j && j->jc.cfg && j->jc.inc == t->inc && c->on_trigger
                     ? c->on_trigger(c->ctx, j->jc.cfg, i, t->has_param ? t->param : NULL, t->wf)
                     : -ENOENT;
        if (rc < 0) {
            LOGW("job %s item %d: trigger %s claimed here but not started (%s)", cl->job, i,
                 cl->name, strerror(-rc));
            if (c->on_trigger_unrun)
                c->on_trigger_unrun(c->ctx, cl->job, i, cl->name, cl->ctime,
                                    "manual trigger not run: the agent that claimed it no longer "
                                    "held the item (or the job changed)",
                                    t ? t->wf : NULL);
        } else {
            LOGI("job %s item %d: trigger %s runs here", cl->job, i, cl->name);
        }
        if (t)
            t->done[i] = 2;
    } else if (!t) {
        /* dropped meanwhile: nothing to update */
    } else if (r->rc == ZNODEEXISTS) {
        t->done[i] = 2; /* another agent (or this one, before a restart) ran it */
    } else if (r->rc == ZNONODE) {
        trig_drop(c, t); /* the trigger was removed (expired, job deleted) */
    } else {
        t->done[i] = 0; /* connection trouble: the next sweep tries again */
    }
    free(cl);
}

/* trig_sweep (every tick, and when a trigger is seen): claim and run the
 * items of open triggers that this agent holds active. */
void coord_trig_sweep(struct coord *c)
{
    char path[400];
    struct trig_open *next;
    for (struct trig_open *t = c->trigs; t; t = next) {
        next = t->next;
        const struct cjob *j = strmap_get(&c->jobs.map, t->job);
        if (j && j->jc.cfg && j->jc.cfg->shards > t->nitems) { /* the job grew meanwhile */
            uint8_t *d = realloc(t->done, (size_t)j->jc.cfg->shards);
            if (d) {
                memset(d + t->nitems, 0, (size_t)(j->jc.cfg->shards - t->nitems));
                t->done = d;
                t->nitems = j->jc.cfg->shards;
            }
        }
        bool all = true;
        for (int i = 0; i < t->nitems; i++)
            all &= t->done[i] == 2;
        /* Claims stop well before the leader reports what is unclaimed at the
         * TTL (its clock and ours may differ by the skew limit). */
        if (all || !j || j->jc.inc != t->inc ||
            now_ms() - t->ctime > PLAN_TRIGGER_TTL_MS - TRIG_CLAIM_MARGIN_MS) {
            trig_drop(c, t);
            continue;
        }
        if (!coord_can_start(c))
            continue;
        for (int i = 0; i < t->nitems; i++) {
            if (t->done[i] || coord_item_state(c, t->job, i) != COORD_ACTIVE)
                continue;
            struct trig_claim *cl = malloc(sizeof *cl);
            if (!cl)
                break;
            *cl = (struct trig_claim){.c = c, .id = t->id, .item = i, .ctime = t->ctime};
            snprintf(cl->job, sizeof cl->job, "%s", t->job);
            snprintf(cl->name, sizeof cl->name, "%s", t->name);
            snprintf(path, sizeof path, "/jobs/%s/triggers/%s/%c%d", t->job, t->name,
                     TRIG_CLAIM_PREFIX, i);
            t->done[i] = 1;
            /* "<id> <session>": the workflow driver tells a claim whose
             * session died (its item never reports) from a live one. */
            char owner[300];
            int n = snprintf(owner, sizeof owner, "%s %llx", c->id,
                             (unsigned long long)zkreg_session_id(c->z));
            if (zkreg_create(c->z, path, owner, n, 0, trig_claimed, cl) != ZOK) {
                t->done[i] = 0;
                free(cl);
            }
        }
    }
}

/* trig_open_add: a trigger this agent has seen (its acknowledgement is
 * written); its items are claimed by trig_sweep. */
static void trig_open_add(struct coord *c, const struct trig_ctx *x)
{
    const struct cjob *j = strmap_get(&c->jobs.map, x->job);
    if (!j || !j->jc.cfg || j->jc.cfg->shards <= 0)
        return;
    for (struct trig_open *t = c->trigs; t; t = t->next)
        if (!strcmp(t->job, x->job) && !strcmp(t->name, x->name))
            return;
    struct trig_open *t = calloc(1, sizeof *t);
    if (!t || !(t->done = calloc((size_t)j->jc.cfg->shards, 1)) ||
        (x->has_param && !(t->param = strdup(x->param))) || (x->wf && !(t->wf = strdup(x->wf)))) {
        if (t)
            trig_open_free(t);
        LOGE("job %s: trigger %s not handled here: out of memory", x->job, x->name);
        return;
    }
    t->id = ++c->trig_seq;
    snprintf(t->job, sizeof t->job, "%s", x->job);
    snprintf(t->name, sizeof t->name, "%s", x->name);
    t->has_param = x->has_param;
    t->ctime = x->ctime;
    t->inc = j->jc.inc;
    t->nitems = j->jc.cfg->shards;
    if (x->items) {
        /* Only these items: the others count as claimed. */
        memset(t->done, 2, (size_t)t->nitems);
        const cJSON *e;
        cJSON_ArrayForEach(e, x->items) if (cJSON_IsNumber(e) && e->valueint >= 0 &&
                                            e->valueint < t->nitems) t->done[e->valueint] = 0;
    }
    t->next = c->trigs;
    c->trigs = t;
    coord_trig_sweep(c);
}

static void trigger_acked(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_ctx *t = arg;
    struct coord *c = t->c;
    (void)z;
    /* ZNODEEXISTS: this agent saw it before (e.g. before a restart); the
     * items' claims say what ran. */
    if (!r->stale && (r->rc == ZOK || r->rc == ZNODEEXISTS))
        trig_open_add(c, t);
    trig_ctx_free(t);
}

static void trigger_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_ctx *t = arg;
    struct coord *c = t->c;
    char path[400];
    (void)z;
    if (r->stale || r->rc != ZOK) {
        trig_ctx_free(t);
        return;
    }
    cJSON *o = r->data ? cJSON_ParseWithLength(r->data, (size_t)r->len) : NULL;
    const cJSON *p = o ? cJSON_GetObjectItemCaseSensitive(o, "param") : NULL;
    if (cJSON_IsString(p)) {
        t->param = strdup(p->valuestring);
        t->has_param = t->param != NULL;
    }
    cJSON *wf = is_wf(t->name) ? cJSON_GetObjectItemCaseSensitive(o, "wf") : NULL;
    snprintf(path, sizeof path, "/jobs/%s/triggers/%s", t->job, t->name);
    if (cJSON_IsObject(wf)) { /* where the item side watches for a cancel */
        cJSON_DeleteItemFromObjectCaseSensitive(wf, "trigger");
        cJSON_AddStringToObject(wf, "trigger", path);
    }
    if (is_wf(t->name) && (!cJSON_IsObject(wf) || !(t->wf = cJSON_PrintUnformatted(wf)))) {
        LOGW("job %s: workflow trigger %s has no readable context: ignored", t->job, t->name);
        cJSON_Delete(o);
        trig_ctx_free(t);
        return;
    }
    cJSON *items = o ? cJSON_DetachItemFromObjectCaseSensitive(o, "items") : NULL;
    if (cJSON_IsArray(items))
        t->items = items;
    else
        cJSON_Delete(items);
    cJSON_Delete(o);
    t->ctime = r->stat.ctime;
    if (now_ms() - r->stat.ctime > PLAN_TRIGGER_TTL_MS) {
        trig_ctx_free(t); /* too old to act on; the leader removes it */
        return;
    }
    /* The acknowledgement says "seen"; what runs is decided per item. */
    snprintf(path, sizeof path, "/jobs/%s/triggers/%s/%s", t->job, t->name, c->id);
    if (zkreg_create(c->z, path, NULL, 0, 0, trigger_acked, t) != ZOK)
        trig_ctx_free(t);
}

static void trig_deleted(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)r, (void)arg;
}

/* trigger_acks_listed (leader): remove a trigger every live agent acknowledged,
 * or one older than the TTL. */
static void trigger_acks_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct trig_ctx *t = arg;
    struct coord *c = t->c;
    char path[400];
    const char *k;
    void *v;
    (void)z;
    if (!r->stale && r->rc == ZOK && c->leader) {
        bool all = true;
        for (size_t it = 0; all && strmap_next(&c->agents, &it, &k, &v);) {
            struct cagent *a = v;
            if (a->alive && !coord_listed(r, a->id))
                all = false;
        }
        /* ... and every item claimed (run, or reported, by its owner). */
        const struct cjob *j = strmap_get(&c->jobs.map, t->job);
        int shards = j && j->jc.cfg ? j->jc.cfg->shards : 0;
        bool expired = now_ms() - r->stat.ctime > PLAN_TRIGGER_TTL_MS;
        for (int i = 0; i < shards && (all || expired); i++) {
            char claim[32];
            snprintf(claim, sizeof claim, "%c%d", TRIG_CLAIM_PREFIX, i);
            if (coord_listed(r, claim))
                continue;
            all = false;
            if (expired && c->on_trigger_unrun) {
                LOGW("job %s item %d: trigger %s expired unrun (no agent held the item active "
                     "and could start it within %d s)",
                     t->job, i, t->name, PLAN_TRIGGER_TTL_MS / 1000);
                c->on_trigger_unrun(c->ctx, t->job, i, t->name, r->stat.ctime,
                                    "manual trigger not run: no agent held the item active and "
                                    "could start it before the trigger expired",
                                    NULL);
            }
        }
        if (all || expired) {
            for (int i = 0; i < r->nchildren; i++) {
                snprintf(path, sizeof path, "/jobs/%s/triggers/%s/%s", t->job, t->name,
                         r->children[i]);
                zkreg_delete(c->z, path, -1, trig_deleted, NULL);
            }
            snprintf(path, sizeof path, "/jobs/%s/triggers/%s", t->job, t->name);
            zkreg_delete(c->z, path, -1, trig_deleted, NULL);
        }
    }
    trig_ctx_free(t);
}

static bool trig_seen(struct cjob *j, const char *name)
{
    for (int i = 0; i < j->ntrig_done; i++)
        if (strcmp(j->trig_done[i], name) == 0)
            return true;
    return false;
}

static void triggers_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct coord *c = rc->c;
    char path[400];
    (void)z;
    struct cjob *j = r->stale ? NULL : strmap_get(&c->jobs.map, rc->name);
    int e;
    if (!r->stale && (r->rc == ZNONODE || (r->rc == ZOK && r->nchildren == 0)))
        strmap_del(&c->trig_open, rc->name); /* all removed */
    else if (j && r->rc == ZOK)
        strmap_put(&c->trig_open, j->jc.name, (void *)1, &e);
    if (j && r->rc == ZOK) {
        /* Forget handled triggers that are gone: the list stays as long as
         * the triggers that exist (a sensor poked every second for hours). */
        int keep = 0;
        for (int i = 0; i < j->ntrig_done; i++) {
            if (coord_listed(r, j->trig_done[i]))
                j->trig_done[keep++] = j->trig_done[i];
            else
                free(j->trig_done[i]);
        }
        j->ntrig_done = keep;
    }
    for (int i = 0; j && r->rc == ZOK && i < r->nchildren; i++) {
        const char *name = r->children[i];
        if (c->leader && !is_wf(name)) {
            struct trig_ctx *t = calloc(1, sizeof *t);
            if (t) {
                *t = (struct trig_ctx){.c = c};
                snprintf(t->job, sizeof t->job, "%s", j->jc.name);
                snprintf(t->name, sizeof t->name, "%s", name);
                snprintf(path, sizeof path, "/jobs/%s/triggers/%s", j->jc.name, name);
                if (zkreg_children(c->z, path, false, trigger_acks_listed, t) != ZOK)
                    trig_ctx_free(t);
            }
        }
        if (trig_seen(j, name))
            continue;
        char **nv = realloc(j->trig_done, (size_t)(j->ntrig_done + 1) * sizeof *nv);
        if (!nv)
            continue;
        j->trig_done = nv;
        if (!(j->trig_done[j->ntrig_done] = strdup(name)))
            continue;
        j->ntrig_done++;
        struct trig_ctx *t = calloc(1, sizeof *t);
        if (!t)
            continue;
        *t = (struct trig_ctx){.c = c};
        snprintf(t->job, sizeof t->job, "%s", j->jc.name);
        snprintf(t->name, sizeof t->name, "%s", name);
        snprintf(path, sizeof path, "/jobs/%s/triggers/%s", j->jc.name, name);
        if (zkreg_get(c->z, path, false, trigger_read, t) != ZOK)
            trig_ctx_free(t);
    }
    free(rc->name);
    free(rc);
}

void coord_list_triggers(struct coord *c, const char *job)
{
    char path[400];
    struct read_ctx *rc = malloc(sizeof *rc);
    if (!rc)
        return;
    *rc = (struct read_ctx){c, strdup(job)};
    snprintf(path, sizeof path, "/jobs/%s/triggers", job);
    if (!rc->name || zkreg_children(c->z, path, false, triggers_listed, rc) != ZOK) {
        free(rc->name);
        free(rc);
    }
}

/* coord_scan_triggers (leader): look again at jobs whose triggers are not
 * removed yet; triggers_listed removes the finished ones. */
void coord_scan_triggers(struct coord *c)
{
    const char *k;
    void *v;
    int64_t t = now_ms();
    if (!c->leader || t - c->last_trig_scan_ms < 2000 || strmap_len(&c->trig_open) == 0)
        return;
    c->last_trig_scan_ms = t;
    for (size_t it = 0; strmap_next(&c->trig_open, &it, &k, &v);)
        coord_list_triggers(c, k);
}

/* coord_trig_free_all: forget every open trigger (coord_close). */
void coord_trig_free_all(struct coord *c)
{
    while (c->trigs) {
        struct trig_open *t = c->trigs;
        c->trigs = t->next;
        trig_open_free(t);
    }
}
