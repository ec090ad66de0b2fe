/* registry/own.c: ownership and handoff decisions (registry/own.h). Pure. */
#include "registry/own.h"

#include <string.h>

#include "registry/plan.h"

/* ---------------------------------------------------------------- members are sessions */

bool own_member_self(const char *id, int64_t session, const char *mid, int64_t msession)
{
    if (strcmp(id, mid) != 0)
        return false;
    return msession == 0 || msession == session;
}

/* ---------------------------------------------------------------- the gate */

bool own_gate_open(const struct own_peer *peers, int n, const char *me, int64_t applied)
{
    for (int i = 0; i < n; i++) {
        const struct own_peer *p = &peers[i];
        if (!p->alive || strcmp(p->id, me) == 0)
            continue;
        if (!p->loaded)
            return false;
        if (p->applied_epoch == 0 || !p->member)
            continue;
        /* An agent still on an older epoch may run what we gained; one on a
         * newer one computed other owners (we catch up). */
        if (p->applied_epoch != applied)
            return false;
    }
    return true;
}

bool own_handed(const struct own_peer *p, int64_t msession, int64_t applied)
{
    return p->alive && p->loaded && own_member_self(p->id, p->session, p->id, msession) &&
           p->applied_epoch >= applied;
}

/* ---------------------------------------------------------------- takeover */

enum own_prev own_prev_kind(const struct own_prev_seen *p, bool *ended)
{
    *ended = !p->none && !p->any &&
             (p->self || !p->known || !p->alive || p->gone_ms > p->prev_created_ms ||
              (p->from_session && p->node_session && p->node_session != p->from_session));
    if (p->none)
        return OWN_PREV_NONE;
    if (p->any)
        return OWN_PREV_ANY;
    if (p->self)
        return OWN_PREV_SELF_OLD;
    if (!p->known)
        return OWN_PREV_UNKNOWN;
    return *ended ? OWN_PREV_DIED : OWN_PREV_ALIVE;
}

static int64_t floor_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* takeover_exact: whether the window's hi bounds every start of the item by
 * an owner before us (see own_takeover). */
static bool takeover_exact(const struct own_takeover_in *in)
{
    if (in->epoch != in->prev_epoch + 1)
        return false; /* an epoch we skipped may have had another owner */
    switch (in->prev) {
    case OWN_PREV_ALIVE:
        /* it applied the epoch that gave it the item, then ours: it held the
         * item (active: it lost nothing while pending) and stopped at its apply */
        return in->owner_epoch == in->epoch && in->owner_applied_ms > 0 &&
               in->owner_carry_ms == 0 && in->owner_prev_applied == in->prev_epoch;
    case OWN_PREV_DIED:
        /* its last record shows it applied the epoch that gave it the item
         * (it held it, and accounted its fires until it died) */
        return in->owner_carry_ms == 0 && in->owner_epoch >= in->prev_epoch;
    case OWN_PREV_SELF_OLD:
        /* our old session applied the epoch that gave it the item (it held
         * it, and reported every fire due until it was given up); one that
         * never applied it held it only on paper */
        return in->owner_epoch >= in->prev_epoch;
    default:
        return false;
    }
}

bool own_settled(const struct own_settle_peer *p, int n, int64_t epoch, int nmembers,
                 bool members_live, int64_t now_ms, int64_t last_break_ms, int session_ms)
{
    if (epoch <= 0 || nmembers <= 0 || !members_live)
        return false;
    if (last_break_ms > 0 && now_ms - last_break_ms <= (int64_t)session_ms + PLAN_HANDOVER_LAG_MS)
        return false;
    for (int i = 0; i < n; i++)
        if (p[i].applied_epoch != epoch || p[i].pending > 0 || p[i].draining > 0 || p[i].backlog)
            return false;
    return true;
}

int64_t own_server_gap_ms(int64_t first_break_ms, int64_t last_break_ms, int64_t view_ms,
                          int session_ms)
{
    if (first_break_ms > 0)
        return first_break_ms;
    if (view_ms > 0 && (last_break_ms <= 0 || view_ms < last_break_ms ||
                        last_break_ms < view_ms - 10LL * session_ms))
        return view_ms;
    return last_break_ms;
}

int64_t own_gap_merge(int64_t gap_ms, int64_t brk_zk_ms, int64_t skew_ms, int64_t now_ms,
                      int session_ms)
{
    if (brk_zk_ms <= 0)
        return gap_ms;
    int64_t b = brk_zk_ms + skew_ms - PLAN_CLOCK_ERR_MS;
    if (now_ms - b >= 10LL * session_ms)
        return gap_ms;
    return gap_ms <= 0 || b < gap_ms ? b : gap_ms;
}

int64_t own_dead_hi_ms(int64_t gone_ms, int64_t skew_ms, int max_skew_ms, bool evicted,
                       int session_ms)
{
    return gone_ms - skew_ms + max_skew_ms + PLAN_CLOCK_ERR_MS + (evicted ? session_ms : 0);
}

/* safe_hi: a bound on every fire label (in ms) that anyone but us may have
 * started of any item, known without knowing who owned the item before.
 * When a gained item becomes active the gate is open: every live agent that
 * applied anything in its session is at our epoch, so it has stopped every
 * item it does not own there, and its record (written at that apply) names
 * the highest label it ever started. Every other session that ever ran the
 * item has ended: either we saw it vanish (dead_hi), or it had vanished
 * before this session first listed the agents (view_start, by a clock at most
 * max_skew ahead of ZooKeeper's; a session timeout more when the snapshot
 * names evicted members, whose sessions may outlive their nodes). */
static int64_t safe_hi(const struct own_takeover_in *in)
{
    int64_t hi = in->peers_stop_s > 0 ? in->peers_stop_s * 1000 + 999 : 0;
    if (in->dead_hi_ms > hi)
        hi = in->dead_hi_ms;
    if (in->view_start_ms > 0) {
        int64_t v = in->view_start_ms - in->skew_ms + in->max_skew_ms + PLAN_CLOCK_ERR_MS +
                    (in->recent_evictions ? in->session_ms : 0);
        /* the leader saw every one of those sessions go and bounds them all */
        if (in->snap_gone_hi_ms > 0 && in->snap_gone_hi_ms < v)
            v = in->snap_gone_hi_ms;
        if (v > hi)
            hi = v;
    }
    return hi;
}

static void takeover_window(const struct own_takeover_in *in, struct own_takeover *out);

/* settled_lo: the earliest an owner that was active when the cluster was
 * settled at `settled_ms` (our clock) can have stopped: a session timeout
 * before (it may have died unseen that long), by a clock up to max skew off. */
static int64_t settled_lo(const struct own_takeover_in *in, int64_t settled_ms)
{
    return settled_ms - in->skew_ms - in->max_skew_ms - in->session_ms - PLAN_HANDOVER_LAG_MS -
           PLAN_CLOCK_ERR_MS;
}

void own_takeover(const struct own_takeover_in *in, struct own_takeover *out)
{
    takeover_window(in, out);
    /* Unless the item came straight from an owner that ran it (its stop is
     * known), the fires since its last active owner stopped are ours to
     * account, and that owner may be several owners back (pending only, never
     * applied, dead before starting it). It stopped no earlier than the last
     * moment the cluster was settled, less a session timeout (settled_lo):
     * as this process saw it, or as the snapshot carries it (a leader saw
     * it: the only bound left to a process that started since, when every
     * process that saw it is gone). A process that never saw the cluster
     * settled also reaches back as far as for an unknown owner, from the
     * first epoch it knows. */
    bool fresh = in->prev == OWN_PREV_NONE && in->epoch == in->prev_epoch + 1;
    int64_t lo = INT64_MAX;
    if (!fresh && !takeover_exact(in)) {
        if (in->settled_ms > 0)
            lo = settled_lo(in, in->settled_ms);
        else if (in->prev_created_ms > 0)
            lo = in->prev_created_ms - OWN_ANY_LOOKBACK * (int64_t)in->session_ms -
                 in->max_skew_ms - PLAN_HANDOVER_LAG_MS;
        if (in->snap_settled_ms > 0 && settled_lo(in, in->snap_settled_ms) < lo)
            lo = settled_lo(in, in->snap_settled_ms);
        if (lo != INT64_MAX && in->outage_from_ms > 0) {
            int64_t o = own_pending_lo_any(in->outage_from_ms, in->session_ms, in->max_skew_ms);
            if (o < lo)
                lo = o;
        }
    } else if (in->prev == OWN_PREV_DIED && in->settled_ms <= 0 && in->snap_settled_ms > 0) {
        /* A dead owner's window trusts that the server heard from it a
         * session timeout before its expiry. A server restart gives every
         * session a fresh timeout; server_gap_ms covers the restarts this
         * process saw, but one that never saw the cluster settled cannot
         * tell that none went unseen since it last was (the snapshot's). */
        lo = settled_lo(in, in->snap_settled_ms);
    }
    if (lo != INT64_MAX) {
        if (in->job_created_ms > 0 && lo < in->job_created_ms - in->max_skew_ms)
            lo = in->job_created_ms - in->max_skew_ms; /* nothing fired before the job */
        if (lo < out->lo_ms)
            out->lo_ms = lo;
    }
    /* Whatever the window says, ours start after every label anyone else
     * may have started: fires up to there are accounted as missed unless
     * they ran. */
    int64_t hi = safe_hi(in);
    if (hi > out->hi_ms) {
        out->hi_ms = hi;
        out->first_s = floor_s(hi) + 1;
    }
}

static void takeover_window(const struct own_takeover_in *in, struct own_takeover *out)
{
    struct plan_handover h = {
        .epoch = in->epoch,
        .prev_epoch = in->prev_epoch,
        .prev_created_ms = in->prev_created_ms,
        .snap_created_ms = in->snap_created_ms,
        .session_ms = in->session_ms,
        .max_skew_ms = in->max_skew_ms,
        .skew_ms = in->skew_ms,
        .prev = in->prev == OWN_PREV_ALIVE  ? PLAN_PREV_ALIVE
                : in->prev == OWN_PREV_DIED ? PLAN_PREV_DIED
                                            : PLAN_PREV_UNKNOWN,
        .gone_ms = in->gone_ms,
        .owner_session_ms = in->owner_session_ms,
        .owner_skew_ms = in->owner_skew_ms,
        .owner_epoch = in->owner_epoch,
        .owner_applied_ms = in->owner_applied_ms,
    };
    out->rerun_fire = -1;
    out->not_before_ms = 0;
    if (in->prev == OWN_PREV_NONE) {
        /* Nobody owned it: our schedule starts now. */
        out->lo_ms = out->hi_ms = in->now_ms;
        out->first_s = floor_s(in->now_ms) + 1;
        return;
    }
    if (in->prev == OWN_PREV_ANY) {
        /* Whoever owned it stopped when it applied our epoch (or an earlier
         * one published after ours was computed from), at the latest at the
         * last peer's applied_ms, by its own clock. With no peer at our epoch
         * (the others own nothing yet, e.g. every session was just rebuilt),
         * its owner was a session that is gone, and it started nothing after
         * its node vanished, before the publication we apply. */
        if (in->owner_epoch == in->epoch && in->owner_applied_ms > 0) {
            out->hi_ms = in->owner_applied_ms;
        } else if (in->unowned_before) {
            out->hi_ms = in->snap_created_ms + in->max_skew_ms + PLAN_CLOCK_ERR_MS;
        } else {
            /* Our first epoch and no live peer has applied anything:
             * nobody alive owned it (a cluster starting). */
            out->lo_ms = out->hi_ms = in->now_ms;
            out->first_s = floor_s(in->now_ms) + 1;
            return;
        }
        /* Its last owner stopped no earlier than a session timeout before
         * the publication of the epoch we applied before (it died: its
         * lease ran out before its expiry was published), by a clock up to
         * max skew behind — unless that epoch itself followed a total outage
         * (every session lost, an epoch with no members), where the owner
         * before it may have stopped one more outage earlier: the window
         * reaches back OWN_ANY_LOOKBACK session timeouts. Fires further back
         * than that after a chain of total outages are not accounted here
         * (the leader's no_agent alert covers an item without owner). */
        out->lo_ms = in->prev_created_ms - OWN_ANY_LOOKBACK * (int64_t)in->session_ms -
                     in->max_skew_ms - PLAN_HANDOVER_LAG_MS;
        if (in->job_created_ms - in->max_skew_ms > out->lo_ms)
            out->lo_ms = in->job_created_ms - in->max_skew_ms;
        if (out->hi_ms < out->lo_ms)
            out->hi_ms = out->lo_ms;
        out->first_s = floor_s(out->hi_ms) + 1;
        return;
    }
    if (in->prev == OWN_PREV_SELF_OLD) {
        /* Our own earlier session: it started nothing after it was given up
         * (its lease had run out) and its scheduler reported every fire due
         * before that (run, or missed while paused). Unless epochs we did not
         * apply gave the item to someone else meanwhile (see below). */
        out->lo_ms = out->hi_ms = in->self_lost_ms;
        if (!takeover_exact(in))
            out->hi_ms =
                max64(out->hi_ms, in->now_ms - in->skew_ms + in->max_skew_ms + PLAN_CLOCK_ERR_MS);
        out->first_s = floor_s(out->hi_ms) + 1;
        return;
    }
    plan_handover_window(&h, &out->lo_ms, &out->hi_ms);
    if (in->prev == OWN_PREV_DIED && in->gone_lo_ms > 0 && in->gone_lo_ms < in->gone_ms) {
        /* The server heard from it a session timeout before its expiry, and
         * the expiry may be as early as gone_lo (the news of it came late). */
        int t = in->owner_session_ms > 0 ? in->owner_session_ms : in->session_ms;
        int64_t lo = in->gone_lo_ms + in->owner_skew_ms - in->skew_ms - t - PLAN_HANDOVER_LAG_MS -
                     PLAN_CLOCK_ERR_MS;
        if (lo < out->lo_ms)
            out->lo_ms = lo;
    }
    if ((in->prev == OWN_PREV_DIED || in->prev == OWN_PREV_UNKNOWN) && in->server_gap_ms > 0) {
        /* The owner stopped no earlier than a session timeout before our
         * connection broke (its session outlived the break, or expired
         * earlier and we would have seen it go sooner). Only a recent break
         * matters: within ten session timeouts of now. */
        int t = in->owner_session_ms > 0 ? in->owner_session_ms : in->session_ms;
        int64_t d = in->prev == OWN_PREV_DIED ? in->owner_skew_ms - in->skew_ms : in->max_skew_ms;
        int64_t lo = in->server_gap_ms + (in->prev == OWN_PREV_DIED ? d : -d) - t -
                     PLAN_HANDOVER_LAG_MS - PLAN_CLOCK_ERR_MS;
        if (in->now_ms - in->server_gap_ms < 10LL * t && lo < out->lo_ms)
            out->lo_ms = lo;
    }
    /* The previous owner may have held the item only pending (never started
     * it): the fires since the owner before it stopped are then in nobody's
     * window but the carry it published (a dead owner's last record too). */
    if ((in->prev == OWN_PREV_ALIVE || in->prev == OWN_PREV_DIED) && in->owner_carry_ms > 0 &&
        in->owner_carry_ms < out->lo_ms)
        out->lo_ms = in->owner_carry_ms;
    /* hi bounds the previous owner's starts only when it handed the item to
     * us directly, from an epoch we applied, having run it itself: a live
     * handoff at the next epoch without carry, or a death right after that
     * epoch. Otherwise another agent may have run it meanwhile (epochs we
     * skipped, an owner that held it only pending or applied nothing in its
     * session, no record at all), and the only bound left is the present:
     * every agent that ran it has stopped (the gate is open), and its clock is
     * at most max_skew ahead of ZooKeeper's. */
    if (!takeover_exact(in))
        out->hi_ms =
            max64(out->hi_ms, in->now_ms - in->skew_ms + in->max_skew_ms + PLAN_CLOCK_ERR_MS);
    /* Fires up to hi may have been started by the previous owner (its clock):
     * ours start strictly after. */
    out->first_s = floor_s(out->hi_ms) + 1;
    /* Nothing fired before the job existed (by any clock within the skew). */
    if (in->job_created_ms > 0 && in->job_created_ms - in->max_skew_ms > out->lo_ms) {
        out->lo_ms = in->job_created_ms - in->max_skew_ms;
        if (out->hi_ms < out->lo_ms)
            out->hi_ms = out->lo_ms;
    }
    if (in->prev == OWN_PREV_DIED && in->owner_backlog_s > 0 &&
        in->owner_backlog_s * 1000 - 1 < out->lo_ms)
        out->lo_ms = in->owner_backlog_s * 1000 - 1; /* its queue died with it */
    if (in->prev == OWN_PREV_DIED) {
        /* Only the direct successor re-runs: the dead session owned the item
         * at the epoch just before ours, so nobody took it from that session
         * before us (from an older epoch, someone else may have re-run it). */
        if (in->failover && in->epoch == in->prev_epoch + 1 && in->owner_running_fire >= 0 &&
            in->owner_running_fire < out->first_s)
            out->rerun_fire = in->owner_running_fire;
        if (in->evicted && in->gone_ms > 0) {
            int t = in->owner_session_ms > 0 ? in->owner_session_ms : in->session_ms;
            out->not_before_ms = in->gone_ms + t + PLAN_CLOCK_ERR_MS;
        }
    }
}

bool own_removed_owes(const struct own_takeover_in *in)
{
    if (in->prev == OWN_PREV_NONE)
        return false;
    return !(in->prev == OWN_PREV_ALIVE && takeover_exact(in));
}

int64_t own_carry(int64_t cur, int64_t pending_lo_ms)
{
    if (pending_lo_ms <= 0)
        return cur;
    return cur == 0 || pending_lo_ms < cur ? pending_lo_ms : cur;
}

int64_t own_pending_lo(int64_t prev_created_ms, int session_ms, int max_skew_ms)
{
    /* The previous owner stopped no earlier than the publication of an epoch
     * after the one we applied before the gain (the leader's clock; its clock
     * may be max_skew behind), or it died (its lease ran out no earlier than
     * a session timeout before that publication). */
    return prev_created_ms - session_ms - max_skew_ms - PLAN_HANDOVER_LAG_MS;
}

int64_t own_pending_lo_any(int64_t prev_created_ms, int session_ms, int max_skew_ms)
{
    return prev_created_ms - OWN_ANY_LOOKBACK * (int64_t)session_ms - max_skew_ms -
           PLAN_HANDOVER_LAG_MS; /* takeover_window's OWN_PREV_ANY start */
}

int64_t own_pending_lo_outage(int64_t lo, int64_t outage_from_ms, int session_ms, int max_skew_ms)
{
    if (outage_from_ms <= 0)
        return lo;
    int64_t o = own_pending_lo_any(outage_from_ms, session_ms, max_skew_ms);
    return o < lo ? o : lo;
}

int64_t own_pending_lo_settled(int64_t lo, int64_t snap_settled_ms, int64_t skew_ms, int session_ms,
                               int max_skew_ms)
{
    if (snap_settled_ms <= 0)
        return lo;
    int64_t g = snap_settled_ms - skew_ms - max_skew_ms - session_ms - PLAN_HANDOVER_LAG_MS -
                PLAN_CLOCK_ERR_MS; /* settled_lo */
    return g < lo ? g : lo;
}

/* ---------------------------------------------------------------- starting a fire */

bool own_may_start(bool active, int64_t first_s, int64_t rerun_fire, int64_t fire,
                   enum own_trigger trig)
{
    if (!active)
        return false;
    switch (trig) {
    case OWN_MANUAL:
        return true;
    case OWN_FAILOVER:
        return rerun_fire >= 0 && fire == rerun_fire;
    case OWN_RETRY:
        /* a retry of the failover re-run is the same fire */
        return fire >= first_s || (rerun_fire >= 0 && fire == rerun_fire);
    case OWN_CRON:
    case OWN_MISFIRE:
        return fire >= first_s;
    }
    return false;
}

/* ---------------------------------------------------------------- bounded barriers */

int own_evict(const struct own_ack *m, int n, int64_t epoch, int64_t created_ms, int64_t now_ms,
              int bound_ms)
{
    if (now_ms - created_ms < bound_ms)
        return -1;
    for (int i = 0; i < n; i++) {
        if (m[i].node_session == 0 || (m[i].session != 0 && m[i].node_session != m[i].session))
            continue;
        if (m[i].applied_epoch < epoch)
            return i;
    }
    return -1;
}

bool own_apply_overdue(int64_t applied, int64_t newest_epoch, int64_t seen_ms, int64_t now_ms,
                       int bound_ms)
{
    return newest_epoch > applied && seen_ms > 0 && now_ms - seen_ms >= bound_ms;
}

int own_evict_bound_ms(int session_ms)
{
    return 2 * session_ms + 5000;
}

int64_t own_moment_ms(int64_t mono_ms, int64_t real_now_ms, int64_t mono_now_ms)
{
    return mono_ms > 0 ? mono_ms + (real_now_ms - mono_now_ms) : 0;
}

bool own_clock_jumped(int64_t real_ms, int64_t mono_ms, int64_t last_real_ms, int64_t last_mono_ms,
                      int threshold_ms)
{
    int64_t jump = (real_ms - last_real_ms) - (mono_ms - last_mono_ms);
    return last_mono_ms > 0 && (jump > threshold_ms || -jump > threshold_ms);
}
