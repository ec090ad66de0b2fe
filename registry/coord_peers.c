/* registry/coord_peers.c: what this agent knows of the other agents and of
 * the snapshot.
 *
 * Owns the /agents cache (one watch per record: records are few and change
 * with every acknowledgement), the tombstones of sessions seen to vanish
 * (when, whether evicted, their last record: what bounds the fires they may
 * have started and the re-runs they claimed), and reading the leader's
 * snapshot /state/assignment. */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---------------------------------------------------------------- agents */

/* coord_vanish_keep: keep in *held whichever of it and v bounds its session's
 * starts the later (own_dead_hi_ms; the skew terms are the same on both
 * sides, so they are left out of the comparison). */
void coord_vanish_keep(struct vanish *held, const struct vanish *v)
{
    if (v->gone_mono > 0 &&
        (!held->gone_mono ||
         own_dead_hi_ms(v->gone_mono, 0, 0, v->evicted, v->session_ms) >
             own_dead_hi_ms(held->gone_mono, 0, 0, held->evicted, held->session_ms)))
        *held = *v;
}

void coord_cagent_free(struct cagent *a)
{
    if (!a)
        return;
    free(a->id);
    plan_agent_clear(&a->rec);
    free(a);
}

static void agent_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct read_ctx *rc = arg;
    struct coord *c = rc->c;
    struct cagent *a = r->stale ? NULL : strmap_get(&c->agents, rc->name);
    (void)z;
    if (a && a->loading > 0) {
        if (--a->loading == 0)
            c->agents_loading--;
        if (r->rc == ZOK) {
            struct plan_agent_rec rec;
            struct sc_err err;
            if (plan_agent_parse(r->data, r->len, &rec, &err) == 0) {
                /* An earlier session of it went without our seeing it go
                 * (its node was deleted and created again between our
                 * reads): it vanished by now. */
                if (a->alive && a->loaded && a->node_session &&
                    a->node_session != r->stat.ephemeralOwner) {
                    coord_mark_gone(c, a);
                    a->alive = true;
                }
                plan_agent_clear(&a->rec);
                a->rec = rec;
                a->loaded = true;
                a->suspect = false;
                a->suspect_lo_mono = 0;
                a->node_session = r->stat.ephemeralOwner;
            } else {
                LOGW("agent record /agents/%s unreadable: %s: %s", a->id, err.field, err.msg);
            }
        } else if (r->rc == ZNONODE) {
            coord_mark_gone(c, a);
            if (strcmp(a->id, c->id) == 0 && c->reg == REG_DONE)
                /* its deletion's event came while no watch was set */
                coord_registration_lost(c, "our agent record is gone (evicted by the leader?)");
        }
        coord_schedule_eval(c);
    }
    free(rc->name);
    free(rc);
}

/* coord_read_agent: get a's record with a watch. a->loading counts its reads
 * in flight and agents_loading the agents with reads in flight, so the view
 * counts as settled only when every read has answered. Replies come in
 * order, so each is applied and the last one read wins. */
void coord_read_agent(struct coord *c, struct cagent *a)
{
    char path[300];
    struct read_ctx *rc = malloc(sizeof *rc);
    if (!rc)
        return;
    *rc = (struct read_ctx){c, strdup(a->id)};
    snprintf(path, sizeof path, "/agents/%s", a->id);
    if (a->loading++ == 0)
        c->agents_loading++;
    if (!rc->name || zkreg_get(c->z, path, true, agent_read, rc) != ZOK) {
        if (--a->loading == 0)
            c->agents_loading--;
        free(rc->name);
        free(rc);
    }
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool coord_listed(const struct zkreg_result *r, const char *name)
{
    return bsearch(&name, r->children, (size_t)r->nchildren, sizeof(char *), strcmp_ptr) != NULL;
}

void coord_agents_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    const char *k;
    void *v;
    int e;
    (void)z;
    if (r->stale || r->rc != ZOK)
        return;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (a->alive && !coord_listed(r, k)) {
            LOGI("agent %s left", a->id);
            coord_mark_gone(c, a); /* kept as a tombstone: its last record names what it ran */
        }
    }
    for (int i = 0; i < r->nchildren; i++) {
        struct cagent *a = strmap_get(&c->agents, r->children[i]);
        if (a && a->alive)
            continue;
        if (!a) {
            a = calloc(1, sizeof *a);
            if (!a || !(a->id = strdup(r->children[i]))) {
                coord_cagent_free(a);
                continue;
            }
            strmap_put(&c->agents, a->id, a, &e);
            if (e < 0) {
                coord_cagent_free(a);
                continue;
            }
        }
        a->alive = true;
        a->loaded = false;
        a->suspect = false;
        a->suspect_lo_mono = 0;
        if (strcmp(a->id, c->id) != 0)
            LOGI("agent %s joined", a->id);
        coord_read_agent(c, a);
    }
    /* Every session that vanished before now and that we did not see go
     * started nothing after now, by a clock within the skew of ours
     * (own_takeover_in.view_start_ms). */
    if (r->has_stat && r->stat.pzxid > c->agents_pzxid)
        c->agents_pzxid = r->stat.pzxid;
    if (!c->view_start_mono) {
        c->view_start_mono = mono_ms();
        /* every session that vanished before this listing had its node
         * deleted at or before the listing's pzxid: a job created after it
         * was never seen by any of them */
        c->view_pzxid = r->has_stat ? r->stat.pzxid : INT64_MAX;
    }
    c->agents_listed = true;
    coord_schedule_eval(c);
}

/* coord_mark_gone: we saw agent a's node vanish (or its session replaced). What we
 * hold of it becomes a tombstone: its last record (re-run claims, running
 * list if it was current), when it went, whether it was evicted. */
/* coord_proof_mono: our last proof of the session (the send time of the last
 * request the server answered), a moment. */
int64_t coord_proof_mono(const struct coord *c)
{
    return mono_ms() - zkreg_lease_age_ms(c->z);
}

void coord_mark_gone(struct coord *c, struct cagent *a)
{
    if (a->alive) {
        a->gone_mono = mono_ms();
        /* It vanished after the server answered our last request before
         * this news (a watch event comes before the answers that follow
         * it), or, when our view of it was suspect (our connection broke),
         * after our last proof before the break: news of a vanishing can
         * come late, and its window must not start late with it. */
        int64_t proof = coord_proof_mono(c);
        a->gone_lo_mono = proof < a->gone_mono ? proof : a->gone_mono;
        if (a->suspect_lo_mono > 0 && a->suspect_lo_mono < a->gone_lo_mono)
            a->gone_lo_mono = a->suspect_lo_mono;
        a->suspect_lo_mono = 0;
        a->gone_skew_ms = a->rec.skew_ms;
        a->gone_session_ms = a->rec.session_ms;
        a->gone_session = a->node_session ? a->node_session : a->rec.session;
        a->gone_trusted = a->loaded && !a->suspect;
        a->gone_evicted = coord_evicted_in_snapshot(&c->snap, a->id, a->gone_session);
        struct vanish v = {a->gone_mono, a->gone_evicted,
                           a->gone_session_ms > 0 ? a->gone_session_ms : zkreg_timeout_ms(c->z)};
        coord_vanish_keep(&a->bound, &v);
        /* Its claims outlive the record (a returning agent's replaces it). */
        for (int i = 0; a->loaded && strcmp(a->id, c->id) != 0 && i < a->rec.nreran; i++)
            if (!coord_gone_claimed(c, a->rec.reran[i]))
                c->gone_claims[c->ngone_claims++ % GONE_CLAIMS_MAX] = a->rec.reran[i];
    }
    a->alive = false;
}

/* coord_note_evicted: snapshot s names members evicted; one we saw vanish may have
 * outlived its node by its lease (the leader deletes the node first and names
 * it in the next epoch). */
void coord_note_evicted(struct coord *c, const struct plan_snapshot *s)
{
    for (int i = 0; i < s->nevicted; i++) {
        struct cagent *a = strmap_get(&c->agents, s->evicted[i]);
        if (!a || !a->gone_mono || a->gone_evicted ||
            !coord_evicted_in_snapshot(s, a->id, a->gone_session))
            continue;
        a->gone_evicted = true;
        struct vanish v = {a->gone_mono, true,
                           a->gone_session_ms > 0 ? a->gone_session_ms : zkreg_timeout_ms(c->z)};
        coord_vanish_keep(&a->bound, &v);
    }
}

/* ---------------------------------------------------------------- sessions and members */

/* coord_evicted_in_snapshot: the leader evicted (id, session) for the epoch we apply. */
bool coord_evicted_in_snapshot(const struct plan_snapshot *s, const char *id, int64_t session)
{
    for (int i = 0; i < s->nevicted; i++)
        if (strcmp(s->evicted[i], id) == 0 &&
            (session == 0 || s->evicted_session[i] == 0 || s->evicted_session[i] == session))
            return true;
    return false;
}

static int cmp_member_key(const void *key, const void *m)
{
    return strcmp(key, ((const struct plan_member *)m)->id);
}

/* coord_member_session: the session of member `id` in snapshot s (0 unknown). */
int64_t coord_member_session(const struct plan_snapshot *s, const char *id)
{
    const struct plan_member *m =
        bsearch(id, s->members, (size_t)s->nmembers, sizeof *s->members, cmp_member_key);
    return m ? m->session : 0;
}

/* coord_named_member: whether snapshot s names (id, session) as a member. */
bool coord_named_member(const struct plan_snapshot *s, const char *id, int64_t session)
{
    const struct plan_member *m =
        bsearch(id, s->members, (size_t)s->nmembers, sizeof *s->members, cmp_member_key);
    return m && own_member_self(id, session, m->id, m->session);
}

/* ---- failover re-run claims */

bool coord_gone_claimed(const struct coord *c, int64_t session)
{
    int n = c->ngone_claims < GONE_CLAIMS_MAX ? c->ngone_claims : GONE_CLAIMS_MAX;
    return plan_reran_has(c->gone_claims, n, session);
}

/* ---------------------------------------------------------------- the snapshot */

/* coord_snap_seen: c->snap was just replaced (read, or published by us). */
void coord_snap_seen(struct coord *c)
{
    if (c->snap.epoch > c->applied && !c->newer_seen_mono)
        c->newer_seen_mono = mono_ms(); /* own_apply_overdue counts from here */
    if (c->snap.outage_from_ms > 0)
        c->outage_from_ms = c->snap.outage_from_ms;
    coord_note_evicted(c, &c->snap);
}

static void snap_exists_cb(struct zkreg *z, const struct zkreg_result *r, void *arg);

void coord_snap_read(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    struct plan_snapshot s;
    struct sc_err err;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZNONODE) {
        c->snap_loaded = true;
        c->snap_exists = false;
        zkreg_exists(c->z, "/state/assignment", true, snap_exists_cb, c);
    } else if (r->rc == ZOK) {
        if (plan_snapshot_parse(r->data, r->len, &s, &err) == 0) {
            if (!c->snap_exists || s.epoch >= c->snap.epoch) {
                plan_snapshot_clear(&c->snap);
                c->snap = s;
                c->snap_version = r->stat.version;
                coord_snap_seen(c);
            } else {
                plan_snapshot_clear(&s);
            }
            c->snap_exists = true;
            c->snap_loaded = true;
        } else {
            LOGE("assignment snapshot unreadable (%s: %s); waiting for the leader to rewrite it",
                 err.field, err.msg);
            c->snap_version = r->stat.version;
            c->snap_loaded = true;
            c->snap_exists = true; /* the leader overwrites it at version snap_version */
        }
    }
    coord_schedule_eval(c);
}

static void snap_exists_cb(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (!r->stale && r->rc == ZOK) /* created in between */
        zkreg_get(c->z, "/state/assignment", true, coord_snap_read, c);
}
