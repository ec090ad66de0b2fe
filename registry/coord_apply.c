/* registry/coord_apply.c: the assignment protocol, agent side: from a
 * snapshot to the items this agent owns.
 *
 * Owns the per-item states (none, pending, active) of every job: applying an
 * epoch (the same pure shard_assign every agent runs, only when our job
 * shapes hash to the snapshot's digest), the gate that makes a pending item
 * active (own_gate_open: every live agent has applied the epoch and nobody
 * drains the item), what is lost (for the scheduler to account), whether a
 * lost item is still ours to account (coord_owes), and when the cluster was
 * last seen settled (own_settled). */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---------------------------------------------------------------- losses */

/* stop_fold: (job, item) leaves this agent: the highest label it started
 * here now bounds whoever takes it over (our record's stop_s). */
static void stop_fold(struct coord *c, struct cjob *j, int i)
{
    if (j->last && j->last[i] > c->max_started)
        c->max_started = j->last[i];
}

/* loss_add: note a lost item (job NULL: the drop marker) for the scheduler. */
static void loss_add(struct coord *c, const char *job, int item, bool pending, int64_t lo_ms,
                     const char *why)
{
    if (c->nlosses == c->caplosses) {
        int cap = c->caplosses ? c->caplosses * 2 : 64;
        struct loss *n = cap <= LOSSES_MAX ? realloc(c->losses, (size_t)cap * sizeof *n) : NULL;
        if (!n) {
            LOGW("%s/%d lost here: not accounted (%d losses not taken yet)", job ? job : "-", item,
                 c->nlosses);
            return;
        }
        c->losses = n;
        c->caplosses = cap;
    }
    struct loss *l = &c->losses[c->nlosses++];
    snprintf(l->job, sizeof l->job, "%s", job ? job : "");
    l->item = item;
    l->pending = pending;
    l->lo_ms = lo_ms;
    snprintf(l->why, sizeof l->why, "%s", why ? why : "");
}

/* coord_pending_lo: the window start of an item held pending (own_pending_lo from
 * the publication of the epoch applied before the gain); 0 unknown. */
int64_t coord_pending_lo(struct coord *c, const char *job, int item)
{
    char key[JOB_NAME_MAX + 16];
    job_item_key(key, sizeof key, job, item);
    const struct handover *h = strmap_get(&c->handovers, key);
    if (!h)
        return 0;
    /* gained after a total outage: the window reaches back as an OWN_PREV_ANY one does */
    int64_t lo =
        h->unowned_before
            ? own_pending_lo_any(h->prev_created_ms, zkreg_timeout_ms(c->z), c->max_skew_ms)
            : own_pending_lo(h->prev_created_ms, zkreg_timeout_ms(c->z), c->max_skew_ms);
    /* and, after an outage we learnt of since we last saw the cluster
     * settled, to it, and to the last settled moment the snapshot carries:
     * the owners since may have held it only on paper or pending */
    lo = own_pending_lo_outage(lo, c->outage_from_ms, zkreg_timeout_ms(c->z), c->max_skew_ms);
    return own_pending_lo_settled(lo, c->snap.settled_ms > 0 ? c->snap.settled_ms + c->skew_ms : 0,
                                  c->skew_ms, zkreg_timeout_ms(c->z), c->max_skew_ms);
}

static void removed_settle(struct coord *c, const struct bound *b);

/* coord_drop_all: every item goes (session lost, evicted): each is noted for the
 * scheduler to account what came due while this agent could not handle it
 * (`why`), after a marker that ends whatever was handed over before. */
void coord_drop_all(struct coord *c, const char *why)
{
    const char *k;
    void *v;
    loss_add(c, NULL, 0, false, 0, why);
    /* A removed item noted here and not settled yet: every agent that saw
     * the removal may be losing its session now (a total outage), and a
     * later session knows less of its owner, so it is settled now, from
     * what we know (as the simulator's drop_items). */
    if (c->applied && strmap_len(&c->handovers) > 0) {
        struct bound b;
        coord_takeover_bound(c, &b);
        removed_settle(c, &b);
    }
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        struct cjob *j = v;
        for (int i = 0; j->st && i < j->nst; i++) {
            stop_fold(c, j, i);
            if (j->st[i] != COORD_NONE)
                loss_add(c, j->jc.name, i, j->st[i] == COORD_PENDING,
                         j->st[i] == COORD_PENDING ? coord_pending_lo(c, j->jc.name, i) : 0, why);
        }
        if (j->st)
            memset(j->st, 0, (size_t)j->nst);
        if (j->draining)
            memset(j->draining, 0, (size_t)j->nst * sizeof *j->draining);
    }
    for (size_t it = 0; strmap_next(&c->reruns, &it, &k, &v);)
        free(v);
    strmap_free(&c->reruns);
    strmap_init(&c->reruns);
    c->lost_applied = c->applied;
    c->applied = 0;
    c->prev_applied = 0;
    c->states_gen++;
}

/* ---------------------------------------------------------------- apply */

/* shard_inputs: valid jobs as shard_job entries (pointing into the cache). The
 * array is the caller's to free; *labels_out too. */
static struct shard_job *shard_inputs(struct coord *c, int *n)
{
    struct shard_job *v = calloc(strmap_len(&c->jobs.map) + 1, sizeof *v);
    const char *k;
    void *val;
    *n = 0;
    if (!v)
        return NULL;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &val);) {
        struct cjob *j = val;
        enum shard_strategy st;
        if (!j->jc.cfg || shard_strategy_parse(j->jc.cfg->strategy, &st) < 0)
            continue;
        v[(*n)++] = (struct shard_job){j->jc.name, j->jc.cfg->shards, st,
                                       (const char *const *)j->jc.cfg->labels, j->jc.cfg->nlabels};
    }
    return v;
}

static int cmp_input_name(const void *a, const void *b)
{
    return strcmp(((const struct shard_job *)a)->name, ((const struct shard_job *)b)->name);
}

/* refresh_inputs: the sharding inputs (in name order, so shard_assign need not
 * sort them) and their digest, rebuilt only when a job appeared, went or was
 * re-read: every agent-record event evaluates, and an epoch applies, without
 * walking 100,000 job configs again. 0 or -ENOMEM. */
static int refresh_inputs(struct coord *c)
{
    if (c->digest_gen == c->jobs.gen && c->inputs)
        return 0;
    int n = 0;
    struct shard_job *jobs = shard_inputs(c, &n);
    if (!jobs)
        return -ENOMEM;
    qsort(jobs, (size_t)n, sizeof *jobs, cmp_input_name);
    free(c->inputs);
    c->inputs = jobs;
    c->ninputs = n;
    plan_digest(jobs, n, c->digest);
    c->digest_gen = c->jobs.gen;
    return 0;
}

const char *coord_jobs_digest(struct coord *c)
{
    return refresh_inputs(c) == 0 ? c->digest : NULL;
}

bool coord_views_settled(const struct coord *c)
{
    return c->reg == REG_DONE && jobcache_settled(&c->jobs) && calcache_settled(&c->cals) &&
           c->snap_loaded && zkreg_state(c->z) == ZKREG_CONNECTED;
}

static int ensure_items(struct cjob *j, int n)
{
    if (n <= j->nst)
        return 0;
    uint8_t *st = realloc(j->st, (size_t)n);
    bool *dr = realloc(j->draining, (size_t)n * sizeof *dr);
    int64_t *since = realloc(j->since, (size_t)n * sizeof *since);
    if (st)
        j->st = st;
    if (dr)
        j->draining = dr;
    if (since)
        j->since = since;
    int64_t *first = realloc(j->first, (size_t)n * sizeof *first);
    if (first)
        j->first = first;
    int64_t *rerun = realloc(j->rerun, (size_t)n * sizeof *rerun);
    if (rerun)
        j->rerun = rerun;
    int64_t *last = realloc(j->last, (size_t)n * sizeof *last);
    if (last)
        j->last = last;
    if (!st || !dr || !since || !first || !rerun || !last)
        return -ENOMEM;
    memset(j->last + j->nst, 0, (size_t)(n - j->nst) * sizeof *last);
    memset(j->st + j->nst, 0, (size_t)(n - j->nst));
    memset(j->since + j->nst, 0, (size_t)(n - j->nst) * sizeof *since);
    memset(j->first + j->nst, 0, (size_t)(n - j->nst) * sizeof *first);
    for (int i = j->nst; i < n; i++)
        j->rerun[i] = -1;
    memset(j->draining + j->nst, 0, (size_t)(n - j->nst) * sizeof *dr);
    j->nst = n;
    return 0;
}

/* carry_pending: (job, item) is lost while only pending here: we never
 * accounted its fires since its previous owner stopped, so the next owner
 * starts its window where ours would have (own_carry, published with the
 * epoch as carry_ms). */
static void carry_pending(struct coord *c, const char *job, int item)
{
    int64_t lo = coord_pending_lo(c, job, item);
    if (lo)
        c->carry_ms = own_carry(c->carry_ms, lo);
}

/* removed_note: (job, item) leaves the job at this epoch (a shard-count cut)
 * and was not ours: nobody will own it again, so its owner at `before`
 * accounted its fires up to its stop only if it was alive to apply this
 * epoch; the rest is accounted here (every agent that sees the removal does;
 * the history keeps one row per fire). Nothing to do for an item that was
 * ours (lost above) or that `before` did not have. */
static void removed_note(struct coord *c, const struct shard_assignment *before, const char *job,
                         int item)
{
    int bji = shard_job_find(before, job);
    if (bji < 0 || item >= shard_job_items(before, bji))
        return;
    int o = shard_owner(before, bji, item);
    const char *from = o >= 0 ? shard_agent_id(before, o) : NULL;
    if (from && strcmp(from, c->id) == 0 &&
        own_member_self(c->id, zkreg_session_id(c->z), from,
                        coord_member_session(&c->applied_snap, from)))
        return;
    coord_handover_removed(c, before, job, item);
    c->maybe_pending = true;
}

/* removed_settle: the gate is open (every live agent applied our epoch,
 * so a live previous owner has stopped and accounted what it ran): each
 * removed item's window is resolved as a takeover's and, unless its owner
 * handed it over directly (own_removed_owes), reported missed from its start
 * to now. */
static void removed_settle(struct coord *c, const struct bound *b)
{
    const char *k;
    void *v;
    char job[JOB_NAME_MAX + 1];
    for (size_t it = 0; strmap_next(&c->handovers, &it, &k, &v);) {
        struct handover *h = v;
        if (!h->removed)
            continue;
        const char *sep = strchr(k, '\x1f');
        int item = sep ? atoi(sep + 1) : -1;
        snprintf(job, sizeof job, "%.*s", sep ? (int)(sep - k) : 0, k);
        struct cjob *j = strmap_get(&c->jobs.map, job);
        if (j && item >= 0 && item < j->nst) {
            coord_handover_resolve(c, j, item, b);
            if (h->removed_owes && h->t.lo_ms > 0) {
                LOGN("job %s item %d: removed from the job while its owner was gone; its fires "
                     "since %lld ms are accounted here",
                     job, item, (long long)h->t.lo_ms);
                loss_add(c, job, item, true, h->t.lo_ms,
                         "removed from its job while its owner was gone: missed unless it ran");
            }
        }
        free(strmap_del(&c->handovers, k));
    }
}

/* apply_job: the states of one job's items under assignment `a` (ji: the job's
 * index there, -1 when it was left out). */
static void apply_job(struct coord *c, const struct shard_assignment *a,
                      const struct shard_assignment *before, struct cjob *j, int ji, int me,
                      int64_t *gained, int64_t *lost)
{
    int n = ji >= 0 ? shard_job_items(a, ji) : 0;
    if (ensure_items(j, n) < 0)
        return;
    for (int i = 0; i < j->nst; i++) {
        bool mine = me >= 0 && i < n && shard_owner(a, ji, i) == me;
        if (mine && j->st[i] == COORD_NONE) {
            j->st[i] = COORD_PENDING;
            c->maybe_pending = true;
            coord_handover_gain(c, before, j->jc.name, i);
            (*gained)++;
        } else if (!mine && j->st[i] != COORD_NONE) {
            /* ours to account until its next owner is there (coord_owes) */
            loss_add(c, j->jc.name, i, j->st[i] == COORD_PENDING,
                     j->st[i] == COORD_PENDING ? coord_pending_lo(c, j->jc.name, i) : 0, NULL);
            if (j->st[i] == COORD_PENDING)
                carry_pending(c, j->jc.name, i);
            coord_handover_forget(c, j->jc.name, i);
            coord_rerun_forget(c, j->jc.name, i);
            /* Draining means a run of it is running here now (queued and
             * retry-waiting runs are dropped with the item), whatever its
             * state: one that came back pending while its old run still
             * drains is still draining. A run's end clears it. */
            j->draining[i] = c->is_running && c->is_running(c->ctx, j->jc.name, i);
            j->st[i] = COORD_NONE;
            stop_fold(c, j, i);
            (*lost)++;
        } else if (!mine && i >= n && n > 0 && j->st[i] == COORD_NONE && before) {
            removed_note(c, before, j->jc.name, i);
        }
    }
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void coord_maybe_apply(struct coord *c)
{
    int njobs = 0;
    if (!coord_views_settled(c) || !c->snap_exists || c->snap.epoch <= c->applied)
        return;
    if (c->fault_stall_apply && c->fault_applied)
        return;
    int64_t t_start = now_ms();
    double cpu_start = cpu_ms();
    const char *digest = coord_jobs_digest(c);
    if (!digest)
        return;
    if (strcmp(digest, c->snap.digest) != 0) {
        LOGD("epoch %lld waits: local job shapes %s differ from the leader's %s",
             (long long)c->snap.epoch, digest, c->snap.digest);
        return;
    }
    if (refresh_inputs(c) < 0)
        return;
    const struct shard_job *jobs = c->inputs;
    njobs = c->ninputs;
    struct shard_agent *members = calloc((size_t)c->snap.nmembers + 1, sizeof *members);
    struct shard_assignment *a = NULL;
    if (!members)
        return;
    plan_members_to_shard(&c->snap, members);
    int rc = shard_assign(jobs, njobs, members, c->snap.nmembers, &a);
    free(members);
    if (rc < 0) {
        LOGE("epoch %lld: cannot compute the assignment (%d)", (long long)c->snap.epoch, rc);
        return;
    }
    /* Members are sessions: an entry for an earlier session of our id is not
     * us (we own nothing until the leader publishes this session). */
    int me =
        own_member_self(c->id, zkreg_session_id(c->z), c->id, coord_member_session(&c->snap, c->id))
            ? shard_agent_find(a, c->id)
            : -1;
    int64_t gained = 0, lost = 0;
    c->carry_ms = 0;
    c->member = me >= 0;
    const struct shard_assignment *before = c->assign; /* of the epoch applied until now */
    const char *k;
    void *val;
    /* The assignment's jobs are looked up by name (hash) rather than each
     * cached job searched in the assignment; jobs it left out (invalid config
     * or strategy) have nothing here. */
    int na = shard_njobs(a);
    for (int ji = 0; ji < na; ji++) {
        struct cjob *j = strmap_get(&c->jobs.map, shard_job_name(a, ji));
        if (j) {
            j->stamp = c->snap.epoch;
            apply_job(c, a, before, j, ji, me, &gained, &lost);
        }
    }
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &val);) {
        struct cjob *j = val;
        if (j->stamp != c->snap.epoch && j->nst > 0)
            apply_job(c, a, before, j, -1, me, &gained, &lost);
    }
    /* Every item lost here is stopped from now on (the scheduler and the start
     * guard see the new states): published as applied_ms with the epoch. */
    c->applied_ms = now_ms();
    c->applied_created_ms = c->snap.created_ms;
    shard_assignment_free(c->assign);
    c->assign = a;
    plan_snapshot_clear(&c->applied_snap);
    if (plan_snapshot_copy(&c->snap, &c->applied_snap) < 0)
        LOGW("out of memory keeping the applied snapshot: takeovers of epoch %lld count as "
             "unknown owners",
             (long long)c->snap.epoch);
    coord_handover_sweep(c);
    if (gained || lost)
        c->states_gen++;
    LOGI("applied epoch %lld (%d members): gained %lld items, lost %lld (%lld ms, %.1f ms CPU; "
         "%lld ms after publication)",
         (long long)c->snap.epoch, c->snap.nmembers, (long long)gained, (long long)lost,
         (long long)(now_ms() - t_start), cpu_ms() - cpu_start,
         (long long)(now_ms() - c->snap.created_ms));
    c->prev_applied = c->applied;
    c->applied = c->snap.epoch;
    c->stats.epochs_applied++;
    c->newer_seen_mono = 0;
    c->fault_applied = true;
    if (c->stalled) {
        c->stalled = false;
        LOGN("applied an epoch again: ready");
    }
    c->node_dirty = true;
    coord_write_record(c);
    coord_changed(c);
}

/* ---------------------------------------------------------------- gate */

/* gate_open: own_gate_open over the agents we know. */
static bool gate_open(struct coord *c)
{
    const char *k;
    void *v;
    if (!c->agents_listed || c->agents_loading > 0)
        return false;
    size_t n = 0;
    struct own_peer *p = calloc(strmap_len(&c->agents) + 1, sizeof *p);
    if (!p)
        return false;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        p[n++] = (struct own_peer){a->id,     a->node_session,      a->alive,
                                   a->loaded, a->rec.applied_epoch, a->rec.member};
    }
    bool open = own_gate_open(p, (int)n, c->id, c->applied);
    free(p);
    return open;
}

static bool drained_elsewhere(struct coord *c, const char *job, int item)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->agents, &it, &k, &v);) {
        struct cagent *a = v;
        if (!a->alive || strcmp(a->id, c->id) == 0)
            continue;
        for (int i = 0; i < a->rec.ndraining; i++)
            if (a->rec.draining[i].item == item && strcmp(a->rec.draining[i].job, job) == 0)
                return true;
    }
    return false;
}

void coord_gate_check(struct coord *c)
{
    const char *k;
    void *v;
    bool any = false, left = false;
    struct bound b = {0};
    /* Every agent-record change lands here; scanning all items is paid only
     * while something is pending. */
    if (!c->maybe_pending || !coord_can_start(c) || !c->applied || !gate_open(c))
        return;
    if (strmap_len(&c->handovers) > 0) {
        coord_takeover_bound(c, &b);
        removed_settle(c, &b);
    }
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        struct cjob *j = v;
        for (int i = 0; i < j->nst; i++)
            if (j->st[i] == COORD_PENDING) {
                /* Still running elsewhere, or here from before we lost it
                 * and got it back: one run of an item at a time. */
                if (j->draining[i] || drained_elsewhere(c, j->jc.name, i)) {
                    left = true;
                    continue;
                }
                if (!b.valid)
                    coord_takeover_bound(c, &b); /* the gate is open: the same for every item now */
                if (coord_handover_resolve(c, j, i, &b) > now_ms()) {
                    left = true;
                    continue;
                }
                j->st[i] = COORD_ACTIVE;
                j->since[i] = now_ms();
                coord_rerun_claim(c, j, i);
                any = true;
            }
    }
    c->maybe_pending = left;
    if (any) {
        c->states_gen++;
        /* npending changed (own_settled): at most one write per agent per
         * epoch, coalesced with any other change */
        c->node_dirty = true;
    }
    if (any)
        coord_changed(c);
}

/* ---------------------------------------------------------------- settled */

/* coord_settle_check: own_settled over the records we hold — every live agent
 * that applied something is at our applied epoch (the snapshot's), none
 * holds pending or draining items or a backlog, and every member of the
 * snapshot is alive in the session it names and has applied it. Fires since
 * such a moment are accounted by the item's active owner until it stops, so
 * an accounting window need not reach back past it (own_takeover_in.
 * settled_ms); the first connection break since is where a server restart
 * may have begun (own_server_gap_ms). Our own items are counted only once
 * every other record allows it (a scan of every item; while some may be
 * pending, maybe_pending, we are not settled anyway). */
void coord_settle_check(struct coord *c)
{
    const char *k;
    void *v;
    if (!c->applied || !c->agents_listed || c->agents_loading > 0 || !c->snap_exists ||
        c->snap.epoch != c->applied || c->backlog_s || c->maybe_pending)
        return;
    struct own_settle_peer *p = calloc(strmap_len(&c->agents) + 1, sizeof *p);
    if (!p)
        return;
    int n = 1;          /* p[0]: ours, filled in last */
    bool others = true; /* every other record and member allows it */
    for (size_t it = 0; others && strmap_next(&c->agents, &it, &k, &v);) {
        const struct cagent *a = v;
        if (!a->alive || strcmp(a->id, c->id) == 0)
            continue;
        /* a record not (re)read since our connection broke tells nothing */
        others = a->loaded && !a->suspect;
        if (!others || a->rec.applied_epoch == 0)
            continue; /* nothing applied in its session: owns nothing */
        p[n++] = (struct own_settle_peer){a->rec.applied_epoch, true, a->rec.npending,
                                          a->rec.ndraining, a->rec.backlog_s != 0};
        others = a->rec.applied_epoch == c->applied && !a->rec.npending && !a->rec.ndraining &&
                 !a->rec.backlog_s;
    }
    int64_t mine = zkreg_session_id(c->z);
    for (int i = 0; others && i < c->snap.nmembers; i++) {
        const struct plan_member *m = &c->snap.members[i];
        if (strcmp(m->id, c->id) == 0) {
            others = own_member_self(c->id, mine, m->id, m->session);
            continue;
        }
        /* a member that has not applied the epoch holds its items pending */
        const struct cagent *a = strmap_get(&c->agents, m->id);
        others = a && a->alive && a->loaded &&
                 own_member_self(m->id, a->node_session, m->id, m->session) &&
                 a->rec.applied_epoch == c->applied;
    }
    /* Our items are scanned at most every 250 ms: every record change of
     * every peer lands here, and at 80,000 items a scan per event costs the
     * whole cluster its CPU while an epoch settles (bench/coord). A watermark
     * a moment old is only more conservative. */
    int64_t m = mono_ms(); /* a wall clock stepped back must not stop the scans */
    if (!others || m - c->settle_scan_mono < 250) {
        free(p); /* not settled, whatever we hold: our items need no scan */
        return;
    }
    c->settle_scan_mono = m;
    int pending = 0, draining = 0;
    for (size_t it = 0; strmap_next(&c->jobs.map, &it, &k, &v);) {
        const struct cjob *j = v;
        for (int i = 0; i < j->nst; i++) {
            pending += j->st[i] == COORD_PENDING;
            draining += j->draining[i];
        }
    }
    p[0] = (struct own_settle_peer){c->applied, true, pending, draining, false};
    /* our session's first view counts as a break: a restart before it went unseen */
    int64_t brk = c->gap_mono > c->view_start_mono ? c->gap_mono : c->view_start_mono;
    if (own_settled(p, n, c->applied, c->snap.nmembers, true, m, brk, zkreg_timeout_ms(c->z))) {
        c->settled_mono = m;
        c->gap_first_mono = 0;
        c->outage_from_ms = 0;
    }
    free(p);
}

/* ---------------------------------------------------------------- public API */

void coord_take_losses(struct coord *c, void (*fn)(void *arg, const struct coord_loss *l),
                       void *arg)
{
    /* fn may not call back into coord's loss list: take it first */
    struct loss *v = c->losses;
    int n = c->nlosses;
    c->losses = NULL;
    c->nlosses = c->caplosses = 0;
    for (int i = 0; i < n; i++) {
        struct coord_loss l = {v[i].job[0] ? v[i].job : NULL, v[i].item, v[i].pending, v[i].lo_ms,
                               v[i].why[0] ? v[i].why : NULL};
        fn(arg, &l);
    }
    free(v);
}

bool coord_owes(const struct coord *c, const char *job, int item)
{
    if (!c->applied || !c->assign)
        return false;
    const struct cjob *j = strmap_get(&c->jobs.map, job);
    if (j && item < j->nst && j->st[item] != COORD_NONE)
        return false; /* ours again */
    int ji = shard_job_find(c->assign, job);
    if (ji < 0 || item >= shard_job_items(c->assign, ji))
        return false; /* no longer in the assignment: nobody's */
    int o = shard_owner(c->assign, ji, item);
    const char *id = o >= 0 ? shard_agent_id(c->assign, o) : NULL;
    if (!id || strcmp(id, c->id) == 0)
        return true; /* no owner (or our id under another session): still ours */
    const struct cagent *a = strmap_get(&c->agents, id);
    if (!a)
        return true;
    struct own_peer p = {.id = id,
                         .session = a->node_session,
                         .alive = a->alive,
                         .loaded = a->loaded,
                         .applied_epoch = a->rec.applied_epoch,
                         .member = a->rec.member};
    return !own_handed(&p, coord_member_session(&c->applied_snap, id), c->applied);
}

void coord_set_draining(struct coord *c, const char *job, int item, bool draining)
{
    struct cjob *j = strmap_get(&c->jobs.map, job);
    if (!j || item < 0 || item >= j->nst || j->draining[item] == draining)
        return;
    j->draining[item] = draining;
    c->node_dirty = true;
    coord_schedule_eval(c);
}
