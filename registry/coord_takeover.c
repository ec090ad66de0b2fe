/* registry/coord_takeover.c: fires between owners, agent side.
 *
 * Owns the handover of every gained item (who owned it at the epoch applied
 * before), its resolution into a window and a first own fire when the item
 * becomes active (own_takeover, with the takeover bound every takeover
 * respects), the failover re-run claims (only the direct successor of a dead
 * session re-runs its cut-off run, once), and the start check of every run
 * (coord_may_start -> own_may_start). */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* When an item moves, the previous owner stops it when it applies the epoch
 * (or when its session ends) and the new owner starts it only when its gate
 * opens; fires in between are run by nobody. The new owner accounts for them
 * (docs/coordination.md, "Fires between owners"): at the gain it notes who
 * owned the item at the epoch it applied before; when the item becomes active
 * it computes from that owner's record a window (lo, hi] (plan_handover_window):
 * fires after lo had no owner unless the previous owner ran them, fires after
 * hi certainly had none. The agent's scheduler takes the window
 * (coord_take_handover) when it adds the item. */

/* ---------------------------------------------------------------- handovers */

/* item_forget: free the value a per-item map holds for (job, item). */
static void item_forget(struct strmap *m, const char *job, int item)
{
    char key[JOB_ITEM_KEY_MAX];
    if (strmap_len(m) == 0)
        return;
    job_item_key(key, sizeof key, job, item);
    free(strmap_del(m, key));
}

void coord_handover_forget(struct coord *c, const char *job, int item)
{
    item_forget(&c->handovers, job, item);
}

/* handover_put: note a gain's handover (the caller's calloc'ed h is taken). */
static void handover_put(struct coord *c, const char *job, int item, struct handover *h)
{
    char key[JOB_NAME_MAX + 16];
    int e;
    job_item_key(key, sizeof key, job, item);
    strmap_put(&c->handovers, key, h, &e);
    if (e < 0)
        free(h);
}

/* handover_any: a takeover from an owner we do not know (OWN_PREV_ANY):
 * whoever owned it last is a live peer that stopped it when it applied our
 * epoch, or is gone. */
static void handover_any(struct coord *c, const char *job, int item, int64_t prev_created_ms,
                         bool unowned_before)
{
    struct handover *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->prev_created_ms = prev_created_ms;
    h->unowned_before = unowned_before;
    handover_put(c, job, item, h);
}

/* handover_at_applied: a new handover whose previous epoch is the one we
 * applied until now (the caller's to put or free); NULL out of memory. */
static struct handover *handover_at_applied(struct coord *c)
{
    struct handover *h = calloc(1, sizeof *h);
    if (h) {
        h->prev_epoch = c->applied;
        h->prev_created_ms = c->applied_created_ms;
    }
    return h;
}

/* handover_none: no previous owner is known (OWN_PREV_NONE). The item still
 * goes through own_takeover: whoever may have run it (an agent at an epoch
 * we skipped, a clock ahead of ours) is within its bound. */
static void handover_none(struct coord *c, const char *job, int item)
{
    struct handover *h = handover_at_applied(c);
    if (!h)
        return;
    h->none = true;
    handover_put(c, job, item, h);
}

/* coord_handover_gain: (job, item) just became ours; `before` is the assignment of
 * the epoch we applied until now (NULL: none in this session, so there is no
 * previous owner we know of). */
void coord_handover_gain(struct coord *c, const struct shard_assignment *before, const char *job,
                         int item)
{
    coord_handover_forget(c, job, item);
    if (!before || !c->applied) {
        /* Our first epoch in this session (a new agent, a rebuilt session). */
        handover_any(c, job, item, c->snap.created_ms, false);
        return;
    }
    int ji = shard_job_find(before, job);
    if (ji < 0 || item >= shard_job_items(before, ji)) {
        handover_none(c, job, item); /* a new job or item: it had no owner */
        return;
    }
    int o = shard_owner(before, ji, item);
    if (o < 0) {
        /* Nobody owned it at our previous epoch. After a total outage (an
         * epoch with no members, and our own session lost moments ago) its
         * last owner was a session that is gone: its fires since are
         * accounted here. Otherwise (a cluster starting, or no eligible
         * agent) nobody ran it and the leader's no_agent alert says so. */
        int64_t t = zkreg_timeout_ms(c->z);
        if (c->applied_snap.nmembers == 0 && c->applied_snap.outage_from_ms > 0)
            handover_any(c, job, item, c->applied_snap.outage_from_ms, true);
        else if (c->applied_snap.nmembers == 0 && c->lost_ms > 0 && now_ms() - c->lost_ms < 10 * t)
            handover_any(c, job, item, c->applied_created_ms, true);
        else
            handover_none(c, job, item);
        return;
    }
    const char *from = shard_agent_id(before, o);
    int64_t from_session = from ? coord_member_session(&c->applied_snap, from) : 0;
    /* Ours already, unless it was our own earlier session's (members are
     * sessions: that one stopped when it was given up). */
    if (!from || (strcmp(from, c->id) == 0 &&
                  own_member_self(c->id, zkreg_session_id(c->z), from, from_session))) {
        handover_none(c, job, item);
        return;
    }
    struct handover *h = handover_at_applied(c);
    if (!h)
        return;
    snprintf(h->from, sizeof h->from, "%s", from);
    h->from_session = from_session;
    handover_put(c, job, item, h);
}

void coord_handover_removed(struct coord *c, const struct shard_assignment *before, const char *job,
                            int item)
{
    char key[JOB_NAME_MAX + 16];
    coord_handover_gain(c, before, job, item);
    job_item_key(key, sizeof key, job, item);
    struct handover *h = strmap_get(&c->handovers, key);
    if (h)
        h->removed = true;
}

/* ---------------------------------------------------------------- the takeover bound */

/* coord_takeover_bound: from live peers at our epoch (their records' stop_s: they
 * stopped what they do not own at it and name every label started before),
 * every session this process saw vanish (own_dead_hi_ms), and when this
 * session first listed the agents (sessions that vanished before it). */
void coord_takeover_bound(struct coord *c, struct bound *b)
{
    const char *k;
    void *v;
    struct vanish latest = c->past_bound; /* sessions seen to vanish in this process */
    *b = (struct bound){.valid = true,
                        .peers_stop_s = c->max_started,
                        .view_start_ms = moment_ms(c->view_start_mono),
                        .recent_evictions = c->snap.nevicted > 0};
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        /* every live peer: one at our epoch stopped what it lost at its
         * apply; one that applied nothing in its session (it evicted itself,
         * or built a new one) dropped everything before writing this record;
         * one at another epoch keeps the gate shut */
        if (a->alive && a->loaded && strcmp(a->id, c->id) != 0 && a->rec.stop_s > b->peers_stop_s)
            b->peers_stop_s = a->rec.stop_s;
        coord_vanish_keep(&latest, &a->bound);
    }
    if (latest.gone_mono > 0)
        b->dead_hi_ms = own_dead_hi_ms(moment_ms(latest.gone_mono), c->skew_ms, c->max_skew_ms,
                                       latest.evicted, latest.session_ms);
}

/* ---------------------------------------------------------------- failover re-run claims */

/* rerun_claimed: another agent published that it re-runs the cut-off runs of
 * dead session d: a live peer's record, or the last record we held of an
 * agent we saw vanish. */
static bool rerun_claimed(struct coord *c, int64_t d)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        if (a->loaded && strcmp(a->id, c->id) != 0 &&
            plan_reran_has(a->rec.reran, a->rec.nreran, d))
            return true;
    }
    return coord_gone_claimed(c, d);
}

static bool rerun_decided(const struct coord *c, int64_t d, const char *job, int item)
{
    int n = c->nrerun_done < RERUN_DONE_MAX ? c->nrerun_done : RERUN_DONE_MAX;
    for (int i = 0; i < n; i++)
        if (c->rerun_done[i].session == d && c->rerun_done[i].item == item &&
            strcmp(c->rerun_done[i].job, job) == 0)
            return true;
    return false;
}

void coord_rerun_forget(struct coord *c, const char *job, int item)
{
    item_forget(&c->reruns, job, item);
}

/* coord_rerun_claim: (job, item) became active here with a failover re-run from
 * its takeover (own_takeover: only the direct successor of the dead session).
 * Unless another agent claimed that session's re-runs, or this process
 * already decided this one, our record claims the session (reran) and the
 * re-run waits until ZooKeeper has acknowledged a record carrying the claim
 * (coord_take_rerun): an agent that takes the item from the same session
 * later sees the claim and does not run the fire again. */
void coord_rerun_claim(struct coord *c, struct cjob *j, int item)
{
    char key[JOB_NAME_MAX + 16];
    int e;
    job_item_key(key, sizeof key, j->jc.name, item);
    const struct handover *h = strmap_get(&c->handovers, key);
    if (!h || !h->resolved || h->t.rerun_fire < 0)
        return;
    int64_t d = h->rerun_session;
    if (rerun_claimed(c, d)) {
        LOGN("job %s item %d: the cut-off runs of session 0x%llx (%s) are re-run by another "
             "agent: fire %lld is not re-run here",
             j->jc.name, item, (unsigned long long)d, h->from, (long long)h->t.rerun_fire);
        return;
    }
    if (rerun_decided(c, d, j->jc.name, item))
        return; /* taken from that session again (a stale epoch): re-run once */
    struct rerun_done *done = &c->rerun_done[c->nrerun_done++ % RERUN_DONE_MAX];
    done->session = d;
    done->item = item;
    snprintf(done->job, sizeof done->job, "%s", j->jc.name);
    if (plan_reran_add(c->reran, &c->nreran, d)) {
        c->reran_total++;
        c->node_dirty = true;
    }
    struct rerun_wait *w = malloc(sizeof *w);
    if (!w)
        return;
    *w = (struct rerun_wait){h->t.rerun_fire, d, c->reran_total};
    free(strmap_del(&c->reruns, key));
    strmap_put(&c->reruns, key, w, &e);
    if (e < 0)
        free(w);
}

/* ---------------------------------------------------------------- resolving a takeover */

/* snap_gone_hi: the leader's bound on the sessions that vanished before our
 * first view, for job j, when its listing reflects everything up to that
 * view (own_takeover_in.snap_gone_hi_ms; 0: none). A session that vanished
 * before the leader's own first listing never saw a job created after it. */
static int64_t snap_gone_hi(const struct coord *c, const struct cjob *j)
{
    const struct plan_snapshot *s = &c->snap;
    if (s->agents_pzxid <= 0 || s->agents_pzxid < c->view_pzxid)
        return 0;
    int64_t v = j->jc.czxid > s->view_pzxid ? 0 : s->view_hi_ms;
    int64_t hi = s->dead_hi_ms > v ? s->dead_hi_ms : v;
    return hi > 0 ? hi : 1; /* 1: stated, and nobody to fear */
}

/* coord_handover_resolve: (job, item) is about to become active: fix its window
 * and first own fire from what we know of the previous owner now
 * (own_takeover, with the bound b), once. Returns the time before which it
 * must not start (our clock; 0 = now). */
int64_t coord_handover_resolve(struct coord *c, struct cjob *j, int item, const struct bound *b)
{
    char key[JOB_NAME_MAX + 16];
    /* A failover re-run is allowed only once its claim is acknowledged
     * (coord_take_rerun). */
    j->first[item] = 0;
    j->rerun[item] = -1;
    if (strmap_len(&c->handovers) == 0)
        return 0;
    job_item_key(key, sizeof key, j->jc.name, item);
    struct handover *h = strmap_get(&c->handovers, key);
    if (!h)
        return 0;
    if (h->resolved) {
        j->first[item] = h->t.first_s;
        return moment_ms(h->not_before_mono);
    }
    struct cagent *x = h->none ? NULL : strmap_get(&c->agents, h->from);
    bool self_old = !h->none && strcmp(h->from, c->id) == 0, any = !h->none && !h->from[0];
    struct own_prev_seen seen = {.none = h->none,
                                 .any = any,
                                 .self = self_old,
                                 .known = x != NULL,
                                 .alive = x && x->alive,
                                 .gone_ms = x ? moment_ms(x->gone_mono) : 0,
                                 .prev_created_ms = h->prev_created_ms,
                                 .from_session = h->from_session,
                                 .node_session = x ? x->node_session : 0};
    struct own_takeover_in in = {
        .prev = own_prev_kind(&seen, &h->died),
        .epoch = c->applied,
        .prev_epoch = h->prev_epoch,
        .prev_created_ms = h->prev_created_ms,
        .snap_created_ms = c->snap.created_ms,
        .session_ms = zkreg_timeout_ms(c->z),
        .max_skew_ms = c->max_skew_ms,
        .skew_ms = c->skew_ms,
        .now_ms = now_ms(),
        .owner_running_fire = -1,
        .failover = j->jc.cfg && j->jc.cfg->failover,
        .self_lost_ms = c->lost_ms,
        .outage_from_ms = c->outage_from_ms,
        .job_created_ms = j->jc.ctime_ms,
        .unowned_before = h->unowned_before,
        .peers_stop_s = b->peers_stop_s,
        .dead_hi_ms = b->dead_hi_ms,
        /* sessions that vanished before our first view never saw a job
         * created after it (ZooKeeper's order, no clocks) */
        .view_start_ms = j->jc.czxid > c->view_pzxid ? 0 : b->view_start_ms,
        .snap_gone_hi_ms = snap_gone_hi(c, j),
        .recent_evictions = b->recent_evictions,
        .settled_ms = moment_ms(c->settled_mono),
        .snap_settled_ms = c->snap.settled_ms > 0 ? c->snap.settled_ms + c->skew_ms : 0,
        .server_gap_ms = own_server_gap_ms(moment_ms(c->gap_first_mono), moment_ms(c->gap_mono),
                                           moment_ms(c->view_start_mono), zkreg_timeout_ms(c->z)),
    };
    {
        /* a server restart we did not see (we started later) may be one a
         * live peer saw */
        const char *k;
        void *v;
        for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
            const struct cagent *a = v;
            if (a->alive && a->loaded && strcmp(a->id, c->id) != 0)
                in.server_gap_ms = own_gap_merge(in.server_gap_ms, a->rec.brk_ms, c->skew_ms,
                                                 in.now_ms, zkreg_timeout_ms(c->z));
        }
    }
    if (self_old) {
        /* our old session held the item only if it applied the epoch that
         * gave it; we know that of the session we gave up last */
        in.owner_epoch =
            !h->from_session || h->from_session == c->own_session_prev ? c->lost_applied : 0;
    }
    if (any) {
        const char *k;
        void *v;
        h->died = false;
        for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
            const struct cagent *a = v;
            if (a->alive && a->loaded && strcmp(a->id, c->id) != 0 &&
                a->rec.applied_epoch == c->applied && a->rec.applied_ms > in.owner_applied_ms) {
                in.owner_epoch = c->applied;
                in.owner_applied_ms = a->rec.applied_ms;
            }
        }
    } else if (x && h->died && !self_old) {
        in.gone_ms = moment_ms(x->gone_mono);
        in.gone_lo_ms = moment_ms(x->gone_lo_mono);
        in.owner_session_ms = x->gone_session_ms;
        in.owner_skew_ms = x->gone_skew_ms;
        in.evicted = coord_evicted_in_snapshot(&c->snap, h->from, h->from_session) ||
                     (x->gone_evicted && (!h->from_session || x->gone_session == h->from_session));
        /* Only the record of the session that owned it, only if it was
         * current when the node went (not held across a broken connection),
         * and only here: the direct successor re-runs a cut-off run once,
         * nobody else ever. */
        /* it held the item only if its last record shows it applied the
         * epoch that gave it (own.c takeover_exact) */
        /* its queued fires (due, not started) died with it unrecorded: from
         * its last record, when that was current as it vanished */
        if (x->loaded && !x->alive && x->gone_trusted &&
            (!h->from_session || x->rec.session == h->from_session)) {
            in.owner_epoch = x->rec.applied_epoch;
            in.owner_backlog_s = x->rec.backlog_s;
        }
        if (x->loaded && !x->alive && x->gone_trusted &&
            (!h->from_session || x->rec.session == h->from_session)) {
            h->rerun_session = h->from_session ? h->from_session : x->rec.session;
            for (int i = 0; i < x->rec.nrunning; i++)
                if (x->rec.running[i].item == item &&
                    strcmp(x->rec.running[i].job, j->jc.name) == 0)
                    in.owner_running_fire = x->rec.running[i].fire;
        }
    } else if (x && x->loaded) {
        in.owner_epoch = x->rec.applied_epoch;
        in.owner_applied_ms = x->rec.applied_ms;
        in.owner_carry_ms = x->rec.carry_ms;
        in.owner_prev_applied = x->rec.prev_applied;
        /* A clock out of bounds: it started nothing by it, and what it
         * declared is in its clock; judge it by ZooKeeper's. */
        if (llabs(x->rec.skew_ms) > c->max_skew_ms)
            in.owner_applied_ms -= x->rec.skew_ms;
    }
    own_takeover(&in, &h->t);
    h->not_before_mono = h->t.not_before_ms > 0 ? mono_ms() + (h->t.not_before_ms - in.now_ms) : 0;
    h->removed_owes = own_removed_owes(&in);
    j->first[item] = h->t.first_s;
    h->resolved = true;
    LOGD("job %s item %d: taken over from %s (%s); fires after %lld had no owner unless it ran "
         "them, after %lld none; ours from %lld%s",
         j->jc.name, item,
         h->none ? "nobody"
         : any   ? "any live agent"
                 : h->from,
         h->none    ? "no previous owner known"
         : any      ? "our first epoch"
         : self_old ? "our own earlier session"
         : h->died  ? "its session ended"
                    : "moved",
         (long long)h->t.lo_ms, (long long)h->t.hi_ms, (long long)h->t.first_s,
         h->t.rerun_fire >= 0 ? "; its cut-off run is to be re-run" : "");
    if (h->t.not_before_ms > 0)
        LOGW("job %s item %d: %s was evicted; starting after its lease has run out (in %lld ms)",
             j->jc.name, item, h->from, (long long)(h->t.not_before_ms - in.now_ms));
    return moment_ms(h->not_before_mono);
}

/* coord_handover_sweep: drop windows of items no longer ours or gone. */
void coord_handover_sweep(struct coord *c)
{
    const char *k;
    void *v;
    char job[JOB_NAME_MAX + 1];
    for (size_t it = 0; strmap_next(&c->handovers, &it, &k, &v);) {
        const char *sep = strchr(k, '\x1f');
        int item = sep ? atoi(sep + 1) : -1;
        snprintf(job, sizeof job, "%.*s", sep ? (int)(sep - k) : 0, k);
        const struct cjob *j = strmap_get(&c->jobs.map, job);
        bool removed = ((const struct handover *)v)->removed;
        if (!j || item < 0 || item >= j->nst || (j->st[item] == COORD_NONE && !removed))
            free(strmap_del(&c->handovers, k));
    }
    for (size_t it = 0; strmap_next(&c->reruns, &it, &k, &v);) {
        const char *sep = strchr(k, '\x1f');
        int item = sep ? atoi(sep + 1) : -1;
        snprintf(job, sizeof job, "%.*s", sep ? (int)(sep - k) : 0, k);
        const struct cjob *j = strmap_get(&c->jobs.map, job);
        if (!j || item < 0 || item >= j->nst || j->st[item] != COORD_ACTIVE)
            free(strmap_del(&c->reruns, k));
    }
}

/* ---------------------------------------------------------------- public API */

bool coord_take_handover(struct coord *c, const char *job, int item, struct coord_takeover *out)
{
    char key[JOB_NAME_MAX + 16];
    if (strmap_len(&c->handovers) == 0)
        return false;
    job_item_key(key, sizeof key, job, item);
    struct handover *h = strmap_get(&c->handovers, key);
    if (!h || !h->resolved)
        return false;
    strmap_del(&c->handovers, key);
    out->lo_ms = h->t.lo_ms;
    out->hi_ms = h->t.hi_ms;
    out->first_s = h->t.first_s;
    if (h->none)
        snprintf(out->why, sizeof out->why, "%s",
                 "no previous owner known: up to the last fire another agent may have started");
    else
        snprintf(out->why, sizeof out->why, "taken over from %s, %s",
                 h->from[0] ? h->from : "another agent",
                 !h->from[0]                   ? "at this agent's first epoch"
                 : strcmp(h->from, c->id) == 0 ? "our own earlier session"
                 : h->died                     ? "whose session ended"
                                               : "which handed it over");
    free(h);
    return true;
}

bool coord_take_rerun(struct coord *c, const char *job, int item, int64_t *fire, int64_t *session)
{
    char key[JOB_NAME_MAX + 16];
    if (strmap_len(&c->reruns) == 0)
        return false;
    job_item_key(key, sizeof key, job, item);
    struct rerun_wait *w = strmap_get(&c->reruns, key);
    if (!w || c->reran_acked < w->claim)
        return false;
    struct cjob *j = strmap_get(&c->jobs.map, job);
    strmap_del(&c->reruns, key);
    bool ok = j && item >= 0 && item < j->nst && j->st[item] == COORD_ACTIVE;
    if (ok) {
        j->rerun[item] = w->fire; /* coord_may_start allows it (and its retries) from now */
        *fire = w->fire;
        *session = w->session;
    }
    free(w);
    return ok;
}

bool coord_may_start(struct coord *c, const char *job, int item, int64_t fire,
                     enum own_trigger trig)
{
    struct cjob *j = strmap_get(&c->jobs.map, job);
    if (!coord_can_start(c) || !j || item < 0 || item >= j->nst ||
        !own_may_start(j->st[item] == COORD_ACTIVE, j->first[item], j->rerun[item], fire, trig))
        return false;
    /* The caller starts it now. Once the item leaves us, its highest label
     * goes out with our next record write (stop_s), never in a write of its
     * own: labels of items we still hold bound nobody's takeover. */
    if (j->last && fire > j->last[item])
        j->last[item] = fire;
    return true;
}
