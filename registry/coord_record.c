/* registry/coord_record.c: this agent's presence in ZooKeeper.
 *
 * Owns the ephemeral record /agents/<id>: registration (recognising our own
 * lost create, waiting out a stale node of an earlier session, refusing a
 * second live agent with the same id), every write of the record (its
 * acknowledgement of the applied epoch, draining, running, stop_s, reran,
 * backlog) and the clock check each write yields; losing the registration
 * (evicted); and evicting itself when it cannot apply an epoch in time
 * (own_apply_overdue). */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* ---------------------------------------------------------------- the record and the clock check
 */

/* coord_not_ready_reason: why the record says not ready ("" when it is ready). */
const char *coord_not_ready_reason(const struct coord *c)
{
    if (!c->skew_ok)
        return c->reason;
    if (c->stalled)
        return "apply stalled";
    return c->loaded ? "" : "loading job configs";
}

/* count_pending: items held pending here (gained, the gate not yet open). */
static int count_pending(struct coord *c)
{
    const char *k;
    void *v;
    int n = 0;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        const struct cjob *j = v;
        for (int i = 0; i < j->nst; i++)
            n += j->st[i] == COORD_PENDING;
    }
    return n;
}

static char *record_json(struct coord *c)
{
    struct plan_agent_rec r = {0};
    struct plan_item *dr = NULL;
    int ndr = 0, cap = 0;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        struct cjob *j = v;
        for (int i = 0; j->draining && i < j->nst; i++) {
            if (!j->draining[i])
                continue;
            if (ndr == cap) {
                cap = cap ? cap * 2 : 16;
                struct plan_item *n = realloc(dr, (size_t)cap * sizeof *dr);
                if (!n)
                    break;
                dr = n;
            }
            dr[ndr++] = (struct plan_item){j->jc.name, i, 0};
        }
    }
    r.host = c->host;
    r.pid = (int)getpid();
    r.labels = c->labels;
    r.nlabels = c->nlabels;
    r.capacity = c->capacity;
    r.version = SC_VERSION;
    r.started_at_ms = c->started_at_ms;
    r.session = zkreg_session_id(c->z);
    r.applied_epoch = c->applied;
    r.prev_applied = c->applied ? c->prev_applied : 0;
    r.applied_ms = c->applied ? c->applied_ms : 0;
    r.carry_ms = c->applied ? c->carry_ms : 0;
    r.member = c->applied && c->member;
    r.session_ms = zkreg_timeout_ms(c->z);
    /* Not ready until every job config is read: the leader adds an agent to
     * the members only once it can compute and apply an epoch at once. */
    r.ready = c->skew_ok && c->loaded && !c->stalled;
    r.reason = (char *)coord_not_ready_reason(c);
    r.skew_ms = c->skew_ms;
    r.draining = dr;
    r.ndraining = ndr;
    r.running = c->running;
    r.nrunning = c->nrunning;
    /* Rides along with every write (none is made for it): a record written
     * at an apply names every label started before it. */
    r.stop_s = c->max_started;
    /* Both change at an apply, an activation or a backlog's start or end,
     * each of which writes the record anyway or marks it dirty once. */
    r.npending = count_pending(c);
    r.backlog_s = c->backlog_s;
    r.log_free_pct = c->log_free_pct;
    /* a server restart an agent that started later did not see: own_gap_merge */
    int64_t brk = moment_ms(c->gap_first_mono ? c->gap_first_mono : c->gap_mono);
    r.brk_ms = brk > 0 ? brk - c->skew_ms : 0;
    memcpy(r.reran, c->reran, sizeof r.reran);
    r.nreran = c->nreran;
    char *s = plan_agent_json(&r);
    free(dr); /* entries point into the cache */
    return s;
}

/* clock_check: the server stamped `mtime_ms` on a write we sent at t0 and saw
 * answered at t1; our clock's offset is the midpoint minus the stamp. */
static void clock_check(struct coord *c, int64_t t0, int64_t t1, int64_t mtime_ms)
{
    /* The midpoint is only as good as half the round trip: a write that waited
     * behind other requests tells nothing about the clock. */
    if (t1 - t0 > 500)
        return;
    int64_t skew = (t0 + t1) / 2 - mtime_ms;
    bool ok = llabs(skew) <= c->max_skew_ms;
    c->skew_ms = skew;
    c->last_clock_check_ms = t1;
    if (!ok)
        snprintf(c->reason, sizeof c->reason,
                 "clock skew %lld ms against ZooKeeper over max_clock_skew_ms (%d ms)",
                 (long long)skew, c->max_skew_ms);
    if (ok != c->skew_ok) {
        if (ok)
            LOGN("clock within %d ms of ZooKeeper again (skew %lld ms): accepting work",
                 c->max_skew_ms, (long long)skew);
        else
            LOGE("clock is %lld ms off ZooKeeper's (limit %d ms): refusing to run work",
                 (long long)skew, c->max_skew_ms);
        c->skew_ok = ok;
        if (ok)
            c->reason[0] = '\0';
        c->node_dirty = true;
        coord_changed(c);
        coord_schedule_eval(c);
    }
}

struct write_ctx {
    struct coord *c;
    int64_t t0; /* a moment: a jump while the write is out must not fake a skew */
    uint64_t gen;
    uint64_t reran; /* reran_total the written record carries */
};

static void record_written(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct write_ctx *w = arg;
    struct coord *c = w->c;
    (void)z;
    if (!r->stale && w->gen == c->gen) {
        c->node_inflight = false;
        if (r->rc == ZOK && r->has_stat)
            clock_check(c, moment_ms(w->t0), now_ms(), r->stat.mtime);
        else if (r->rc != ZOK)
            LOGW("writing agent record: %s", zerror(r->rc));
        if (r->rc == ZOK && w->reran > c->reran_acked) {
            /* Our re-run claims are in ZooKeeper: re-runs waiting for them
             * may be queued (items_sync runs on the generation's change). */
            c->reran_acked = w->reran;
            if (strmap_len(&c->reruns) > 0) {
                c->states_gen++;
                coord_changed(c);
            }
        }
        if (r->rc == ZNONODE && c->reg == REG_DONE)
            /* someone removed it (an eviction): as when the watch says so */
            coord_registration_lost(c, "our agent record is gone (evicted by the leader?)");
        else if (r->rc == ZNONODE)
            c->reg = REG_NONE; /* register again on the next eval */
        if (c->node_dirty)
            coord_write_record(c);
    }
    free(w);
}

void coord_write_record(struct coord *c)
{
    char path[300];
    if (c->reg != REG_DONE || c->node_inflight || zkreg_state(c->z) != ZKREG_CONNECTED)
        return;
    struct write_ctx *w = malloc(sizeof *w);
    char *data = record_json(c);
    if (!w || !data) {
        free(w);
        free(data);
        return;
    }
    *w = (struct write_ctx){c, mono_ms(), c->gen, c->reran_total};
    snprintf(path, sizeof path, "/agents/%s", c->id);
    c->node_dirty = false;
    c->node_inflight = true;
    if (zkreg_set(c->z, path, data, (int)strlen(data), -1, record_written, w) != ZOK) {
        c->node_inflight = false;
        c->node_dirty = true;
        free(w);
    }
    free(data);
}

/* ---------------------------------------------------------------- registration */

static bool pid_alive(int pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void stale_checked(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale || c->reg != REG_WAIT_STALE)
        return;
    if (r->rc == ZNONODE) { /* gone already */
        c->reg = REG_NONE;
        coord_register(c);
    }
    /* ZOK: the exists watch fires when the stale node goes */
}

static void existing_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    struct plan_agent_rec rec = {0};
    struct sc_err err;
    char path[300];
    (void)z;
    if (r->stale || c->reg != REG_CREATING)
        return;
    if (r->rc == ZNONODE) {
        c->reg = REG_NONE;
        coord_register(c);
        return;
    }
    if (r->rc != ZOK) {
        c->reg = REG_NONE; /* retried on reconnect */
        return;
    }
    if (r->stat.ephemeralOwner == zkreg_session_id(c->z)) {
        /* Our own create succeeded but its reply was lost. */
        c->reg = REG_DONE;
        LOGI("registered as /agents/%s (found our own node)", c->id);
        c->node_dirty = true;
        coord_write_record(c);
        coord_elect_start(c);
        coord_load_all(c);
        return;
    }
    int prc = plan_agent_parse(r->data, r->len, &rec, &err);
    bool same_host = prc == 0 && rec.host && strcmp(rec.host, c->host) == 0;
    bool ours = r->stat.ephemeralOwner == c->own_session_prev ||
                (same_host && (rec.pid == (int)getpid() || !pid_alive(rec.pid)));
    snprintf(path, sizeof path, "/agents/%s", c->id);
    if (ours) {
        LOGW("agent id %s: a stale node of an earlier session (0x%llx) of this agent exists; "
             "waiting for ZooKeeper to expire it",
             c->id, (unsigned long long)r->stat.ephemeralOwner);
        c->reg = REG_WAIT_STALE;
        zkreg_exists(c->z, path, true, stale_checked, c);
    } else {
        char why[512];
        snprintf(why, sizeof why,
                 "agent id \"%s\" is already registered by a live agent (host %s, pid %d, "
                 "session 0x%llx); choose another --id",
                 c->id, prc == 0 && rec.host ? rec.host : "?", prc == 0 ? rec.pid : 0,
                 (unsigned long long)r->stat.ephemeralOwner);
        LOGE("%s", why);
        c->fatal = true;
        if (c->on_fatal)
            c->on_fatal(c->ctx, why);
    }
    plan_agent_clear(&rec);
}

static void registered(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    char path[300];
    (void)z;
    if (r->stale || c->reg != REG_CREATING)
        return;
    if (r->rc == ZOK) {
        c->reg = REG_DONE;
        LOGI("registered as /agents/%s (session 0x%llx)", c->id,
             (unsigned long long)zkreg_session_id(c->z));
        c->node_dirty = true; /* rewrite at once: the write also measures clock skew */
        coord_write_record(c);
        coord_elect_start(c);
        coord_load_all(c);
    } else if (r->rc == ZNODEEXISTS) {
        snprintf(path, sizeof path, "/agents/%s", c->id);
        zkreg_get(c->z, path, false, existing_read, c);
    } else {
        LOGW("registering /agents/%s: %s; retrying when connected", c->id, zerror(r->rc));
        c->reg = REG_NONE;
    }
}

static void ensured(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)r, (void)arg;
}

void coord_register(struct coord *c)
{
    char path[300];
    if (c->reg != REG_NONE || c->fatal || zkreg_state(c->z) != ZKREG_CONNECTED)
        return;
    c->reg = REG_CREATING;
    zkreg_ensure(c->z, "/agents", ensured, NULL);
    zkreg_ensure(c->z, "/election", ensured, NULL);
    zkreg_ensure(c->z, "/jobs", ensured, NULL);
    zkreg_ensure(c->z, "/state", ensured, NULL);
    char *data = record_json(c);
    snprintf(path, sizeof path, "/agents/%s", c->id);
    if (!data ||
        zkreg_create(c->z, path, data, (int)strlen(data), ZOO_EPHEMERAL, registered, c) != ZOK)
        c->reg = REG_NONE;
    free(data);
}

/* coord_registration_lost: our node is gone while our session lives (the leader
 * evicted us, an operator removed it, or we deleted it ourselves): our items
 * may be given to others now. Stop at once, as after a lost session — kill
 * running executions, drop every item — and register again (the next eval). */
void coord_registration_lost(struct coord *c, const char *why)
{
    LOGW("%s: killing running executions, dropping every item, registering again", why);
    c->reg = REG_NONE;
    c->lost_ms = now_ms();
    coord_drop_all(c,
                   "dropped: this agent's registration was lost (evicted) before it could handle "
                   "the fire");
    if (c->on_lost)
        c->on_lost(c->ctx);
    coord_changed(c);
    coord_schedule_eval(c);
}

/* ---------------------------------------------------------------- evicting ourselves */

static void self_deleted(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    (void)z, (void)arg;
    if (!r->stale && r->rc != ZOK && r->rc != ZNONODE)
        LOGW("deleting our own agent record: %s", zerror(r->rc));
}

/* coord_apply_watchdog (every tick): an agent that has not applied a newer epoch
 * within own_evict_bound_ms of seeing it stalls every handoff that waits on
 * it (and, as leader, nobody evicts it): it evicts itself. It kills its runs
 * and drops every item (coord_registration_lost), then deletes its own node — so a
 * successor that sees it go treats it as dead: it starts nothing after — and
 * registers again on the next eval (the create follows the delete in order),
 * not ready ("apply stalled") until an apply succeeds. Only while somebody waits on
 * it: it applied an epoch in this session, or the newest snapshot names it;
 * otherwise nobody does, and deleting the node again would only disturb. */
void coord_apply_watchdog(struct coord *c)
{
    char path[300];
    if (c->reg != REG_DONE || zkreg_state(c->z) != ZKREG_CONNECTED || !c->snap_exists)
        return;
    int bound = own_evict_bound_ms(zkreg_timeout_ms(c->z));
    if (!own_apply_overdue(c->applied, c->snap.epoch, c->newer_seen_mono, mono_ms(), bound))
        return;
    if (c->applied == 0 && !coord_named_member(&c->snap, c->id, zkreg_session_id(c->z)))
        return;
    LOGE("epoch %lld not applied within %d ms of seeing it (applied: %lld): every handoff waits "
         "on this agent; evicting itself",
         (long long)c->snap.epoch, bound, (long long)c->applied);
    c->stalled = true;
    c->newer_seen_mono = 0;
    coord_registration_lost(c, "evicting ourselves (apply stalled)");
    snprintf(path, sizeof path, "/agents/%s", c->id);
    zkreg_delete(c->z, path, -1, self_deleted, NULL);
}

/* ---------------------------------------------------------------- public API */

void coord_free_running(struct coord *c)
{
    for (int i = 0; i < c->nrunning; i++)
        free(c->running[i].job);
    free(c->running);
    c->running = NULL;
    c->nrunning = 0;
}

void coord_running_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    (void)fd, (void)what;
    c->running_written_mono = mono_ms();
    c->node_dirty = true;
    coord_write_record(c);
}

void coord_set_running(struct coord *c, const char *const *jobs, const int *items,
                       const int64_t *fires, int n)
{
    bool same = n == c->nrunning;
    for (int i = 0; same && i < n; i++)
        same = items[i] == c->running[i].item && fires[i] == c->running[i].fire &&
               strcmp(jobs[i], c->running[i].job) == 0;
    if (same)
        return;
    coord_free_running(c);
    if (n > 0 && (c->running = calloc((size_t)n, sizeof *c->running))) {
        for (int i = 0; i < n; i++)
            if ((c->running[c->nrunning].job = strdup(jobs[i]))) {
                c->running[c->nrunning].item = items[i];
                c->running[c->nrunning].fire = fires[i];
                c->nrunning++;
            }
    }
    /* At most one record write a second for this: never a write per fire. */
    if (!evtimer_pending(c->ev_running, NULL)) {
        int64_t wait = 1000 - (mono_ms() - c->running_written_mono);
        struct timeval tv = {0, 0};
        if (wait > 0) {
            tv.tv_sec = wait / 1000;
            tv.tv_usec = (wait % 1000) * 1000;
        }
        evtimer_add(c->ev_running, &tv);
    }
}

void coord_run_ended(struct coord *c, const char *job, int item, int64_t fire)
{
    for (int i = 0; i < c->nrunning; i++)
        if (c->running[i].item == item && c->running[i].fire == fire &&
            strcmp(c->running[i].job, job) == 0) {
            free(c->running[i].job);
            c->running[i] = c->running[--c->nrunning];
            c->running_written_mono = mono_ms();
            c->node_dirty = true;
            coord_write_record(c);
            return;
        }
}

void coord_set_log_disk(struct coord *c, int free_pct)
{
    int p = free_pct < 0 ? -1 : free_pct > 100 ? 100 : free_pct - free_pct % 5;
    if (p == c->log_free_pct)
        return;
    c->log_free_pct = p;
    c->node_dirty = true;
    coord_schedule_eval(c);
}

void coord_set_backlog(struct coord *c, int64_t oldest_s)
{
    if (oldest_s == c->backlog_s)
        return;
    c->backlog_s = oldest_s;
    c->node_dirty = true;
    coord_schedule_eval(c);
}

/* coord_clock_watch: coordination's own look at the two clocks, before it
 * decides anything (eval, tick). The scheduler sees a jump only when it
 * wakes up; an activation in between would convert with a skew measured
 * before the jump. The scheduler's default threshold (1 s). */
void coord_clock_watch(struct coord *c)
{
    int64_t real = now_ms(), mono = mono_ms();
    bool jumped = own_clock_jumped(real, mono, c->watch_real_ms, c->watch_mono_ms, 1000);
    if (jumped)
        LOGW("wall clock jumped %lld ms (seen by coordination)",
             (long long)((real - c->watch_real_ms) - (mono - c->watch_mono_ms)));
    c->watch_real_ms = real;
    c->watch_mono_ms = mono;
    if (jumped)
        coord_clock_suspect(c);
}

void coord_clock_suspect(struct coord *c)
{
    if (c->skew_ok) {
        LOGW("wall clock jumped: refusing work until the clock is checked against ZooKeeper");
        c->skew_ok = false;
        snprintf(c->reason, sizeof c->reason, "%s",
                 "wall clock jumped: re-checking against ZooKeeper");
        coord_changed(c);
    }
    c->node_dirty = true;
    coord_write_record(c);
}
