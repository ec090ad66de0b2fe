/* registry/coord.c: the frame of the agent's coordination state machine.
 *
 * Owns struct coord's life (coord_open, coord_close), the evaluation that
 * runs after every event (register, publish as leader, apply, open the gate,
 * write the record), the one-second tick, the dispatch of ZooKeeper watches
 * and session states (a new session rebuilds everything; a reconnect within
 * the session reads again what a failed request may have missed), and the
 * read-only queries of coord.h. The parts of the protocol live beside it
 * (registry/coord_int.h lists them); the protocol is docs/coordination.md. */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void coord_schedule_eval(struct coord *c)
{
    struct timeval tv = {0, 10000}; /* coalesce bursts of watch events */
    if (!evtimer_pending(c->ev_eval, NULL))
        evtimer_add(c->ev_eval, &tv);
}

void coord_changed(struct coord *c)
{
    if (c->on_change)
        c->on_change(c->ctx);
    if (c->ext.on_change)
        c->ext.on_change(c->ext.ctx);
}

static void change_entry(void *ctx, char kind, const char *name)
{
    struct coord *c = ctx;
    if (c->ext.on_entry)
        c->ext.on_entry(c->ext.ctx, kind, name);
}

void coord_set_ext(struct coord *c, const struct coord_ext *e)
{
    c->ext = e ? *e : (struct coord_ext){0};
}

const char *coord_elect_path(const struct coord *c)
{
    return c->elect;
}

bool coord_session_alive(const struct coord *c, const char *id, int64_t session)
{
    const struct cagent *a = strmap_get(&c->agents, id);
    if (strcmp(id, c->id) == 0)
        return zkreg_session_id(c->z) == session && zkreg_state(c->z) != ZKREG_LOST;
    return a && a->alive && a->loaded && a->node_session == session;
}

int coord_claim_owner(const char *data, int len, char *id, size_t idlen, int64_t *session)
{
    char buf[300];
    size_t n = len > 0 ? (size_t)len : 0;
    if (!data || n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, data, n);
    buf[n] = '\0';
    char *sp = strchr(buf, ' ');
    if (!sp || (size_t)(sp - buf) >= idlen)
        return -EINVAL;
    *sp = '\0';
    snprintf(id, idlen, "%s", buf);
    *session = (int64_t)strtoull(sp + 1, NULL, 16);
    return *session ? 0 : -EINVAL;
}

/* ---------------------------------------------------------------- the job cache's hooks */

/* cjob_release: a job leaves the cache: what coord keeps of its items goes
 * with it (the cache frees the rest). */
static void cjob_release(void *ctx, struct jobcache_job *jc)
{
    struct cjob *j = (struct cjob *)jc;
    (void)ctx;
    free(j->st);
    free(j->last);
    free(j->since);
    free(j->first);
    free(j->rerun);
    free(j->draining);
    for (int i = 0; i < j->ntrig_done; i++)
        free(j->trig_done[i]);
    free(j->trig_done);
}

static void jobs_updated(void *ctx, bool jobs)
{
    struct coord *c = ctx;
    if (jobs)
        coord_changed(c);
    coord_schedule_eval(c);
}

static void cals_updated(void *ctx)
{
    struct coord *c = ctx;
    coord_changed(c);
    coord_schedule_eval(c);
}

static void job_triggered(void *ctx, const char *job)
{
    coord_list_triggers(ctx, job);
}

/* ---------------------------------------------------------------- caches */

static void clear_caches(struct coord *c)
{
    const char *k;
    void *v;
    jobcache_clear(&c->jobs);
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        coord_vanish_keep(&c->past_bound, &((struct cagent *)v)->bound);
        coord_cagent_free(v);
    }
    strmap_free(&c->agents);
    strmap_init(&c->agents);
    c->agents_loading = 0;
    c->agents_listed = false;
    c->digest_gen = 0;
    free(c->inputs);
    c->inputs = NULL;
    c->ninputs = 0;
    c->states_gen++;
    strmap_free(&c->trig_open);
    strmap_init(&c->trig_open);
    plan_snapshot_clear(&c->snap);
    c->snap_loaded = c->snap_exists = false;
}

void coord_load_all(struct coord *c)
{
    zkreg_children(c->z, "/agents", true, coord_agents_listed, c);
    zkreg_get(c->z, "/state/assignment", true, coord_snap_read, c);
    jobcache_load(&c->jobs); /* the change log, then /jobs */
    calcache_load(&c->cals);
    pausecache_load(&c->pauses);
}

/* ---------------------------------------------------------------- evaluation, tick, watches,
 * session */

static void eval_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    (void)fd, (void)what;
    if (c->fatal)
        return;
    coord_clock_watch(c);
    if (c->reg == REG_NONE)
        coord_register(c);
    coord_settle_check(c);
    if (!c->loaded && coord_views_settled(c) && c->agents_listed && c->agents_loading == 0) {
        c->loaded = true;
        c->node_dirty = true;
        LOGI("all job configs loaded (%zu jobs): ready", strmap_len(&c->jobs.map));
    }
    coord_maybe_publish(c);
    coord_maybe_apply(c);
    coord_gate_check(c);
    if (c->node_dirty)
        coord_write_record(c);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    (void)fd, (void)what;
    coord_clock_watch(c);
    coord_apply_watchdog(c);
    /* Re-measure the clock every 30 s (any record write does it). */
    if (c->reg == REG_DONE && (!c->skew_ok || now_ms() - c->last_clock_check_ms > 30000))
        c->node_dirty = true;
    jobcache_tick(&c->jobs);
    coord_trig_sweep(c);
    if (coord_views_settled(c)) {
        coord_scan_triggers(c);
        coord_prune_changes(c);
        coord_maybe_evict(c);
    }
    if (c->ext.on_tick)
        c->ext.on_tick(c->ext.ctx);
    coord_schedule_eval(c);
}

static void on_watch(struct zkreg *z, int type, const char *path, void *ctx)
{
    struct coord *c = ctx;
    char mine[300];
    (void)z;
    snprintf(mine, sizeof mine, "/agents/%s", c->id);
    if (strcmp(path, "/agents") == 0) {
        zkreg_children(c->z, "/agents", true, coord_agents_listed, c);
    } else if (strncmp(path, "/agents/", 8) == 0) {
        if (strcmp(path, mine) == 0 && type == ZOO_DELETED_EVENT) {
            if (c->reg == REG_WAIT_STALE) {
                LOGI("the stale node is gone; registering");
                c->reg = REG_NONE;
                coord_register(c);
                return;
            }
            if (c->reg == REG_DONE)
                coord_registration_lost(c, "our agent record was deleted (evicted by the leader?)");
        }
        struct cagent *a = strmap_get(&c->agents, path + 8);
        if (a && type == ZOO_CHANGED_EVENT)
            coord_read_agent(c, a);
        else if (a && type == ZOO_DELETED_EVENT)
            coord_mark_gone(c, a);
        coord_schedule_eval(c);
    } else if (jobcache_on_watch(&c->jobs, path)) {
        /* /jobs or the change log */
    } else if (calcache_on_watch(&c->cals, type, path)) {
        /* /calendars */
    } else if (pausecache_on_watch(&c->pauses, type, path)) {
        /* /pauses */
    } else if (strcmp(path, "/state/assignment") == 0) {
        zkreg_get(c->z, "/state/assignment", true, coord_snap_read, c);
    } else if (strncmp(path, "/election/", 10) == 0) {
        coord_elect_check(c);
    } else if (c->ext.on_watch) {
        c->ext.on_watch(c->ext.ctx, type, path);
    }
}

/* reconnected: the connection is back within the same session. Requests in
 * flight when it broke failed, and a failed read set no watch; a peer's
 * record may have changed meanwhile without our seeing it (the reconnect
 * reports only a deletion). So: list the agents again and read every live
 * peer's record (each one suspect until read), read the snapshot, list the
 * jobs and the change log again, read jobs whose reads failed, and rewrite our
 * record (a write that failed may carry re-run claims). */
static void reconnected(struct coord *c)
{
    const char *k;
    void *v;
    if (c->reg == REG_NONE) {
        coord_register(c); /* registration loads everything */
        return;
    }
    if (c->reg == REG_DONE && !c->elect[0])
        coord_elect_start(c);
    if (c->reg != REG_DONE)
        return;
    /* A listing of /election in flight failed: our predecessor (and the
     * watch on it) is found again (test_reconnect election_read_in_flight). */
    if (c->elect[0])
        coord_elect_check(c);
    zkreg_children(c->z, "/agents", true, coord_agents_listed, c);
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (a->alive)
            coord_read_agent(c, a);
    }
    zkreg_get(c->z, "/state/assignment", true, coord_snap_read, c);
    jobcache_reconnected(&c->jobs);
    calcache_load(&c->cals);
    pausecache_load(&c->pauses);
    c->node_dirty = true;
}

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    struct coord *c = ctx;
    const char *k;
    void *v;
    if (st == ZKREG_CONNECTED) {
        c->suspended = false;
        if (zkreg_generation(z) != c->gen) {
            /* A new session: every watch and ephemeral of the old one is gone. */
            c->gen = zkreg_generation(z);
            c->reg = REG_NONE;
            c->elect[0] = '\0';
            c->elect_creating = false;
            c->leader = false;
            c->publish_inflight = false;
            c->node_inflight = false;
            clear_caches(c);
            c->applied = 0;
            c->loaded = false;
            c->view_start_mono = 0;
            c->newer_seen_mono = 0;
            c->fault_applied = false;
            coord_register(c);
        } else {
            reconnected(c);
        }
        coord_changed(c);
        coord_schedule_eval(c);
    } else if (st == ZKREG_SUSPENDED) {
        c->suspended = true;     /* stop starting new work; running work continues */
        c->gap_mono = mono_ms(); /* own_takeover_in.server_gap_ms */
        if (!c->gap_first_mono)
            c->gap_first_mono = c->gap_mono;
        /* What we hold of every peer is not known to be its last record
         * until it is read again (reconnected): a peer that vanishes
         * meanwhile is not trusted as to what it was running. */
        for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
            struct cagent *a = v;
            if (a->alive) {
                a->suspect = true;
                if (!a->suspect_lo_mono)
                    a->suspect_lo_mono = coord_proof_mono(c); /* coord_mark_gone */
            }
        }
        coord_changed(c);
    } else if (st == ZKREG_LOST) {
        c->stats.sessions_lost++;
        c->own_session_prev = zkreg_session_id(z);
        c->lost_ms = now_ms();
        c->suspended = true;
        if (c->leader)
            LOGW("leadership lost with the session");
        c->leader = false;
        coord_drop_all(c, "dropped: the session was lost before this agent could handle the fire");
        if (c->on_lost)
            c->on_lost(c->ctx);
        coord_changed(c);
    }
}

/* ---------------------------------------------------------------- public API */

int coord_open(struct event_base *base, const struct zkreg_opts *zo, const struct coord_opts *o,
               struct coord **out, struct sc_err *err)
{
    struct coord *c = calloc(1, sizeof *c);
    struct zkreg_opts zopts = *zo;
    int rc;
    *out = NULL;
    if (!c)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    if (!job_name_valid(o->id)) {
        free(c);
        return sc_err_set(err, EINVAL, "id", -1, "must be 1-128 characters of [A-Za-z0-9._-]");
    }
    c->base = base;
    c->id = strdup(o->id);
    c->host = strdup(o->host);
    c->labels = calloc((size_t)o->nlabels + 1, sizeof *c->labels);
    for (int i = 0; c->labels && i < o->nlabels; i++)
        c->labels[c->nlabels++] = strdup(o->labels[i]);
    c->capacity = o->capacity;
    c->max_skew_ms = o->max_clock_skew_ms;
    c->started_at_ms = now_ms();
    c->on_change = o->on_change;
    c->on_lost = o->on_lost;
    c->on_fatal = o->on_fatal;
    c->is_running = o->is_running;
    c->on_trigger = o->on_trigger;
    c->on_trigger_unrun = o->on_trigger_unrun;
    c->ctx = o->ctx;
    c->skew_ok = true;
    struct jobcache_opts jo = {.entry_size = sizeof(struct cjob),
                               .on_free = cjob_release,
                               .on_trigger = job_triggered,
                               .on_update = jobs_updated,
                               .on_entry = change_entry,
                               .ctx = c};
    jobcache_init(&c->jobs, NULL, &jo); /* reads through c->z, set below */
    calcache_init(&c->cals, NULL, cals_updated, c);
    pausecache_init(&c->pauses, NULL, NULL, NULL);
    strmap_init(&c->agents);
    strmap_init(&c->trig_open);
    strmap_init(&c->handovers);
    strmap_init(&c->reruns);
    strmap_init(&c->quarantine);
    const char *fault = getenv("SHARDCRON_TEST_FAULT");
    if (fault && strcmp(fault, "stall_apply") == 0) {
        c->fault_stall_apply = true;
        LOGW("SHARDCRON_TEST_FAULT=stall_apply: this agent will not apply epochs after its "
             "first (a fault test)");
    }
    c->ev_eval = evtimer_new(base, eval_cb, c);
    c->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, c);
    c->ev_running = evtimer_new(base, coord_running_cb, c);
    struct timeval tick = {1, 0};
    if (!c->id || !c->host || !c->labels || !c->ev_eval || !c->ev_tick || !c->ev_running ||
        event_add(c->ev_tick, &tick) < 0) {
        coord_close(c);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    zopts.on_state = on_state;
    zopts.on_watch = on_watch;
    zopts.ctx = c;
    if ((rc = zkreg_open(base, &zopts, &c->z, err)) < 0) {
        coord_close(c);
        return rc;
    }
    c->jobs.z = c->z;
    c->cals.z = c->z;
    c->pauses.z = c->z;
    *out = c;
    return 0;
}

void coord_close(struct coord *c)
{
    if (!c)
        return;
    if (c->z)
        zkreg_close(c->z);
    clear_caches(c);
    jobcache_free(&c->jobs);
    calcache_free(&c->cals);
    pausecache_free(&c->pauses);
    strmap_free(&c->agents);
    strmap_free(&c->trig_open);
    coord_trig_free_all(c);
    const char *hk;
    void *hv;
    for (size_t it = 0; strmap_next(&c->handovers, &it, &hk, &hv);)
        free(hv);
    strmap_free(&c->handovers);
    free(c->losses);
    for (size_t it = 0; strmap_next(&c->reruns, &it, &hk, &hv);)
        free(hv);
    strmap_free(&c->reruns);
    shard_assignment_free(c->assign);
    plan_snapshot_clear(&c->applied_snap);
    coord_evicting_clear(c);
    for (size_t it = 0; strmap_next(&c->quarantine, &it, &hk, &hv);)
        free(hv);
    strmap_free(&c->quarantine);
    if (c->ev_eval)
        event_free(c->ev_eval);
    if (c->ev_tick)
        event_free(c->ev_tick);
    if (c->ev_running)
        event_free(c->ev_running);
    coord_free_running(c);
    for (int i = 0; i < c->nlabels; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c->id);
    free(c->host);
    free(c);
}

uint64_t coord_generation(const struct coord *c)
{
    return c->jobs.gen + c->states_gen + c->cals.gen;
}

struct calendar *coord_calendar(const struct coord *c, const char *name)
{
    return calcache_get(&c->cals, name);
}

uint64_t coord_calendars_gen(const struct coord *c)
{
    return c->cals.gen;
}

bool coord_can_start(const struct coord *c)
{
    return !c->fatal && !c->suspended && c->reg == REG_DONE && c->skew_ok && !c->stalled &&
           zkreg_lease_ok(c->z);
}

bool coord_is_leader(const struct coord *c)
{
    return c->leader;
}

int64_t coord_epoch(const struct coord *c)
{
    return c->snap_exists ? c->snap.epoch : 0;
}

int64_t coord_applied_epoch(const struct coord *c)
{
    return c->applied;
}

struct zkreg *coord_zk(struct coord *c)
{
    return c->z;
}

void coord_foreach_item(struct coord *c,
                        void (*fn)(void *arg, const struct job *cfg, int item,
                                   enum coord_item_state st),
                        void *arg)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        struct cjob *j = v;
        if (!j->jc.cfg)
            continue;
        /* A shard count just lowered keeps its old items owned until the next
         * epoch; items the new config no longer has are not reported. */
        for (int i = 0; i < j->nst && i < j->jc.cfg->shards; i++)
            if (j->st[i] != COORD_NONE)
                fn(arg, j->jc.cfg, i, (enum coord_item_state)j->st[i]);
    }
}

enum coord_item_state coord_item_state(const struct coord *c, const char *job, int item)
{
    const struct cjob *j = strmap_get(&c->jobs.map, job);
    if (!j || item < 0 || item >= j->nst)
        return COORD_NONE;
    return (enum coord_item_state)j->st[item];
}

const struct pausecache *coord_pauses(const struct coord *c)
{
    return &c->pauses;
}

const struct job *coord_job(const struct coord *c, const char *name)
{
    const struct cjob *j = strmap_get(&c->jobs.map, name);
    return j ? j->jc.cfg : NULL;
}

int64_t coord_job_version(const struct coord *c, const char *name)
{
    const struct cjob *j = strmap_get(&c->jobs.map, name);
    return j ? j->jc.mzxid : 0;
}

/* add_items: {job: [items]} of the items in state `want`; with `since`, also
 * {job: [ms]} of when each became active. */
static void add_items(cJSON *obj, cJSON *since, struct coord *c, enum coord_item_state want)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        struct cjob *j = v;
        cJSON *arr = NULL, *sarr = NULL;
        for (int i = 0; i < j->nst; i++)
            if (j->st[i] == want) {
                if (!arr) {
                    arr = cJSON_AddArrayToObject(obj, j->jc.name);
                    sarr = since ? cJSON_AddArrayToObject(since, j->jc.name) : NULL;
                }
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
                if (sarr)
                    cJSON_AddItemToArray(sarr, cJSON_CreateNumber((double)j->since[i]));
            }
    }
}

void coord_status(const struct coord *cc, cJSON *o)
{
    struct coord *c = (struct coord *)cc;
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddBoolToObject(o, "leader", c->leader);
    cJSON_AddStringToObject(o, "session", zkreg_state_name(zkreg_state(c->z)));
    cJSON_AddNumberToObject(o, "epoch", (double)coord_epoch(c));
    cJSON_AddNumberToObject(o, "applied_epoch", (double)c->applied);
    /* Items count as owned only while this agent may start work: an agent that
     * cannot prove its session is alive claims nothing. */
    cJSON *owned = cJSON_AddObjectToObject(o, "owned");
    cJSON *since = cJSON_AddObjectToObject(o, "owned_since");
    if (coord_can_start(c))
        add_items(owned, since, c, COORD_ACTIVE);
    add_items(cJSON_AddObjectToObject(o, "pending"), NULL, c, COORD_PENDING);
    cJSON_AddBoolToObject(o, "ready", coord_can_start(c));
    cJSON_AddStringToObject(o, "reason", c->fatal ? "fatal" : coord_not_ready_reason(c));
    cJSON_AddNumberToObject(o, "skew_ms", (double)c->skew_ms);
}

void coord_stats(const struct coord *c, struct coord_stats *s)
{
    const char *k;
    void *v;
    *s = c->stats;
    s->sessions_lost = zkreg_sessions_lost(c->z);
    s->skew_ms = c->skew_ms;
    s->jobs = (int64_t)strmap_len(&c->jobs.map);
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        struct cjob *j = v;
        if (!j->jc.cfg)
            s->invalid_jobs++;
        for (int i = 0; i < j->nst; i++) {
            s->owned_items += j->st[i] == COORD_ACTIVE;
            s->pending_items += j->st[i] == COORD_PENDING;
            s->draining_items += j->draining[i];
        }
    }
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);)
        s->agents_alive += ((struct cagent *)v)->alive;
}

int coord_job_eligible(const struct coord *c, const char *job)
{
    if (!c->assign || c->applied <= 0)
        return -1;
    int ji = shard_job_find(c->assign, job);
    if (ji < 0)
        return -1;
    int n = shard_job_eligible(c->assign, ji);
    return n < 0 ? -1 : n;
}

void coord_foreach_job(struct coord *c, void (*fn)(void *arg, const struct job *cfg), void *arg)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        const struct cjob *j = v;
        if (j->jc.cfg)
            fn(arg, j->jc.cfg);
    }
}
