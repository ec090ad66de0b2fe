/* registry/coord_leader.c: what only the leader does.
 *
 * Publishing the snapshot (members are ready agents with their sessions, the
 * job-shape digest, the takeover bounds of vanished sessions) with a write
 * fenced by our election node; evicting a member that has not acknowledged
 * an epoch within own_evict_bound_ms, and keeping it out for a while; and
 * pruning the job change log (jobcache_prune). Every decision comes from
 * registry/own.c and registry/plan.c. */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct publish_ctx {
    struct coord *c;
    struct plan_snapshot snap;
    uint64_t gen;
};

/* ---------------------------------------------------------------- publishing */

static void published(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct publish_ctx *p = arg;
    struct coord *c = p->c;
    (void)z;
    if (!r->stale && p->gen == c->gen) {
        c->publish_inflight = false;
        if (r->rc == ZOK) {
            c->stats.publishes++;
            coord_evicting_clear(c);
            LOGI("published epoch %lld: %d members, digest %s", (long long)p->snap.epoch,
                 p->snap.nmembers, p->snap.digest);
            plan_snapshot_clear(&c->snap);
            c->snap = p->snap;
            memset(&p->snap, 0, sizeof p->snap);
            c->snap_version = c->snap_exists ? c->snap_version + 1 : 0;
            c->snap_exists = true;
            coord_snap_seen(c);
        } else if (r->nops > 0 && r->op_rc[0] == ZNONODE) {
            /* Fencing: our election node is gone, so we are no longer the leader. */
            LOGW("publish of epoch %lld rejected: this agent is no longer the leader",
                 (long long)p->snap.epoch);
            c->leader = false;
            c->stats.deposed++;
            c->elect[0] = '\0';
            coord_elect_start(c);
        } else {
            LOGI("publish of epoch %lld raced (%s); re-reading the snapshot",
                 (long long)p->snap.epoch, zerror(r->rc));
            zkreg_get(c->z, "/state/assignment", true, coord_snap_read, c);
        }
        coord_schedule_eval(c);
    }
    plan_snapshot_clear(&p->snap);
    free(p);
}

#define QUARANTINE_MS (5 * 60 * 1000)

/* ---------------------------------------------------------------- evicting */

/* quarantined (leader): an evicted id stays out of the members for a while. */
static bool quarantined(struct coord *c, const char *id)
{
    int64_t *until = strmap_get(&c->quarantine, id);
    if (!until)
        return false;
    if (now_ms() < *until)
        return true;
    free(strmap_del(&c->quarantine, id));
    LOGN("agent %s may be a member again (its quarantine after an eviction ended)", id);
    return false;
}

void coord_evicting_clear(struct coord *c)
{
    for (int i = 0; i < c->nevicting; i++)
        free(c->evicting[i]);
    free(c->evicting);
    free(c->evicting_session);
    c->evicting = NULL;
    c->evicting_session = NULL;
    c->nevicting = 0;
}

struct evict_ctx {
    struct coord *c;
    char id[130];
    int64_t session;
    uint64_t gen;
};

static void evicted_cb(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct evict_ctx *x = arg;
    struct coord *c = x->c;
    (void)z;
    if (!r->stale && x->gen == c->gen) {
        if (r->rc == ZOK) {
            char **ids = realloc(c->evicting, (size_t)(c->nevicting + 1) * sizeof *ids);
            if (ids)
                c->evicting = ids;
            int64_t *ss = realloc(c->evicting_session, (size_t)(c->nevicting + 1) * sizeof *ss);
            if (ss)
                c->evicting_session = ss;
            if (ids && ss && (ids[c->nevicting] = strdup(x->id)))
                ss[c->nevicting++] = x->session;
            int64_t *until = malloc(sizeof *until);
            int e;
            if (until) {
                *until = now_ms() + QUARANTINE_MS;
                free(strmap_del(&c->quarantine, x->id));
                strmap_put(&c->quarantine, x->id, until, &e);
                if (e < 0)
                    free(until);
            }
            LOGW("evicted agent %s: kept out of the members for %d s", x->id, QUARANTINE_MS / 1000);
            c->stats.evictions++;
            coord_schedule_eval(c);
        } else {
            LOGW("evicting %s: %s", x->id, zerror(r->rc));
        }
    }
    free(x);
}

/* coord_maybe_evict (leader): a member that has not acknowledged the published
 * epoch within own_evict_bound_ms is evicted: its node is deleted (fenced by
 * our election node), so the next epoch leaves it out and no handoff waits
 * on it forever. The agent itself, when it sees its node go, stops at once;
 * if it cannot see it, its lease runs out. Its items' new owners wait for
 * that (own_takeover's not_before_ms). */
void coord_maybe_evict(struct coord *c)
{
    if (!c->leader || !c->elect[0] || !c->snap_exists || c->publish_inflight || !c->agents_listed ||
        c->agents_loading > 0 || strcmp(c->snap.leader, c->id) != 0)
        return;
    struct own_ack *m = calloc((size_t)c->snap.nmembers + 1, sizeof *m);
    if (!m)
        return;
    int t = zkreg_timeout_ms(c->z); /* the longest session among them bounds the wait */
    for (int i = 0; i < c->snap.nmembers; i++) {
        const struct cagent *a = strmap_get(&c->agents, c->snap.members[i].id);
        m[i] = (struct own_ack){c->snap.members[i].id, c->snap.members[i].session,
                                a && a->alive && a->loaded ? a->node_session : 0,
                                a ? a->rec.applied_epoch : 0};
        if (a && a->rec.session_ms > t)
            t = a->rec.session_ms;
    }
    int bound = own_evict_bound_ms(t);
    int i = own_evict(m, c->snap.nmembers, c->snap.epoch, c->snap.created_ms, now_ms(), bound);
    if (i >= 0 && strcmp(m[i].id, c->id) != 0) {
        char path[300];
        struct evict_ctx *x = calloc(1, sizeof *x);
        if (x) {
            x->c = c;
            x->gen = c->gen;
            x->session = m[i].session;
            snprintf(x->id, sizeof x->id, "%s", m[i].id);
            snprintf(path, sizeof path, "/agents/%s", m[i].id);
            LOGW("evicting agent %s: it has not acknowledged epoch %lld within %d ms of its "
                 "publication",
                 m[i].id, (long long)c->snap.epoch, bound);
            struct zkreg_op ops[2] = {
                {.type = ZKOP_CHECK, .path = c->elect, .version = -1},
                {.type = ZKOP_DELETE, .path = path, .version = -1},
            };
            if (zkreg_multi(c->z, ops, 2, evicted_cb, x) != ZOK)
                free(x);
        }
    }
    free(m);
}

static int cmp_member_id(const void *a, const void *b)
{
    return strcmp(((const struct plan_member *)a)->id, ((const struct plan_member *)b)->id);
}

void coord_maybe_publish(struct coord *c)
{
    const char *k;
    void *v;
    if (!c->leader || !c->elect[0] || c->publish_inflight || !coord_views_settled(c) ||
        !c->agents_listed || c->agents_loading > 0)
        return;
    struct publish_ctx *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->c = c;
    p->gen = c->gen;
    p->snap.members = calloc(strmap_len(&c->agents) + 1, sizeof *p->snap.members);
    const char *digest = coord_jobs_digest(c);
    if (!p->snap.members || !digest)
        goto out;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (!a->alive || !a->loaded || !a->rec.ready || a->rec.capacity < 1 ||
            quarantined(c, a->id))
            continue;
        struct plan_member *m = &p->snap.members[p->snap.nmembers++];
        m->id = strdup(a->id);
        m->session = a->node_session;
        m->capacity = a->rec.capacity;
        m->labels = calloc((size_t)a->rec.nlabels + 1, sizeof *m->labels);
        for (int i = 0; m->labels && i < a->rec.nlabels; i++)
            m->labels[m->nlabels++] = strdup(a->rec.labels[i]);
    }
    qsort(p->snap.members, (size_t)p->snap.nmembers, sizeof *p->snap.members, cmp_member_id);
    memcpy(p->snap.digest, digest, sizeof p->snap.digest);
    if (c->snap_exists && plan_snapshot_same(&p->snap, &c->snap))
        goto out;
    p->snap.epoch = (c->snap_exists ? c->snap.epoch : 0) + 1;
    p->snap.leader = strdup(c->id);
    /* Evicted members ride along once, so that their items' new owners wait
     * for their lease to run out. */
    if (c->nevicting > 0) {
        p->snap.evicted = calloc((size_t)c->nevicting, sizeof *p->snap.evicted);
        p->snap.evicted_session = calloc((size_t)c->nevicting, sizeof *p->snap.evicted_session);
        for (int i = 0; p->snap.evicted && p->snap.evicted_session && i < c->nevicting; i++)
            if ((p->snap.evicted[p->snap.nevicted] = strdup(c->evicting[i])))
                p->snap.evicted_session[p->snap.nevicted++] = c->evicting_session[i];
    }
    p->snap.created_ms = now_ms();
    /* Every session lost (no members after an epoch that had some): say
     * since when, so that a takeover from this epoch reaches back there. */
    if (p->snap.nmembers == 0 && c->snap_exists)
        p->snap.outage_from_ms = c->snap.nmembers > 0 ? c->snap.created_ms : c->snap.outage_from_ms;
    /* The last moment the cluster was seen settled, ours or the one the
     * snapshot carries, whichever is later (both are such moments): it
     * outlives every process that saw it (own_takeover_in.snap_settled_ms). */
    p->snap.settled_ms = c->settled_mono > 0 ? moment_ms(c->settled_mono) - c->skew_ms : 0;
    if (c->snap_exists && c->snap.settled_ms > p->snap.settled_ms)
        p->snap.settled_ms = c->snap.settled_ms;
    /* Our bound on every session that had vanished by our latest listing of
     * /agents (own_takeover_in.snap_gone_hi_ms): an agent that joins after
     * it need not fear a session it never saw beyond this. */
    if (c->agents_pzxid > 0 && c->view_start_mono > 0 && c->view_pzxid < INT64_MAX) {
        struct bound b;
        coord_takeover_bound(c, &b);
        p->snap.dead_hi_ms = b.dead_hi_ms;
        p->snap.view_hi_ms =
            moment_ms(c->view_start_mono) - c->skew_ms + c->max_skew_ms + PLAN_CLOCK_ERR_MS +
            (p->snap.nevicted > 0 || c->snap.nevicted > 0 ? zkreg_timeout_ms(c->z) : 0);
        p->snap.view_pzxid = c->view_pzxid;
        p->snap.agents_pzxid = c->agents_pzxid;
    }
    char *data = plan_snapshot_json(&p->snap);
    if (!data)
        goto out;
    struct zkreg_op ops[2] = {
        {.type = ZKOP_CHECK, .path = c->elect, .version = -1},
        {.type = c->snap_exists ? ZKOP_SET : ZKOP_CREATE,
         .path = "/state/assignment",
         .data = data,
         .len = (int)strlen(data),
         .version = c->snap_version},
    };
    int rc = zkreg_multi(c->z, ops, 2, published, p);
    free(data);
    if (rc == ZOK) {
        c->publish_inflight = true;
        return;
    }
    plan_snapshot_clear(&p->snap);
    free(p);
    return;
out:
    plan_snapshot_clear(&p->snap);
    free(p);
}

/* ---------------------------------------------------------------- the change log */

/* coord_prune_changes (leader, every tick): the change log's old entries go,
 * fenced by our election node like every leader write (jobcache_prune). */
void coord_prune_changes(struct coord *c)
{
    if (c->leader && c->elect[0])
        jobcache_prune(&c->jobs, c->elect, now_ms());
}
