/* tests/unit/test_own.c: the ownership and handoff decisions (registry/own.h),
 * case by case. The simulator (tests/sim/) drives the same functions through
 * random worlds; these pin each rule to a named case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "registry/own.h"

static void test_member_self_is_a_session(void **state)
{
    (void)state;
    assert_true(own_member_self("a1", 0x10, "a1", 0x10));
    assert_false(own_member_self("a1", 0x11, "a1", 0x10)); /* our earlier session's entry */
    assert_false(own_member_self("a1", 0x10, "a2", 0x10));
    assert_true(own_member_self("a1", 0x11, "a1", 0)); /* a snapshot without sessions */
}

static void test_gate(void **state)
{
    (void)state;
    struct own_peer p[] = {
        {"me", 1, true, true, 7, true}, {"b", 2, true, true, 7, true},
        {"c", 3, true, true, 0, true},  /* applied nothing in its session: owns nothing */
        {"d", 4, false, true, 5, true}, /* gone */
        {"e", 5, true, true, 3, false}, /* stuck on an epoch it is not a member of */
    };
    assert_true(own_gate_open(p, 5, "me", 7));
    p[4].member = true; /* a member of its older epoch may still run what we gained */
    assert_false(own_gate_open(p, 5, "me", 7));
    p[4].member = false;
    p[1].applied_epoch = 6; /* still on an older epoch: may run what we gained */
    assert_false(own_gate_open(p, 4, "me", 7));
    p[1].applied_epoch = 8; /* newer: computed other owners */
    assert_false(own_gate_open(p, 4, "me", 7));
    p[1].applied_epoch = 7;
    p[1].loaded = false; /* not read since it (re)appeared */
    assert_false(own_gate_open(p, 4, "me", 7));
}

static struct own_takeover_in base(enum own_prev prev)
{
    return (struct own_takeover_in){
        .prev = prev,
        .epoch = 11,
        .prev_epoch = 10,
        .prev_created_ms = 1000000,
        .snap_created_ms = 1010000,
        .session_ms = 2000,
        .max_skew_ms = 2000,
        .now_ms = 1010400,
        .owner_running_fire = -1,
        .failover = true,
    };
}

/* own_handed: a lost item is the new owner's to account once it holds it. */
static void test_handed(void **state)
{
    (void)state;
    struct own_peer p = {"b", 0x20, true, true, 7, true};
    assert_true(own_handed(&p, 0x20, 7));
    assert_true(own_handed(&p, 0x20, 6));  /* it applied a later epoch than ours */
    assert_true(own_handed(&p, 0, 7));     /* a snapshot without sessions */
    assert_false(own_handed(&p, 0x21, 7)); /* the snapshot names another session of b */
    assert_false(own_handed(&p, 0x20, 8)); /* not at our epoch yet: ours to account */
    p.loaded = false;
    assert_false(own_handed(&p, 0x20, 7)); /* record not read since it (re)appeared */
    p.loaded = true;
    p.alive = false;
    assert_false(own_handed(&p, 0x20, 7)); /* gone */
}

/* own_prev_kind: which previous owner a takeover is from, and whether its
 * session ended (the table is the decision coord_takeover.c takes). */
static void test_prev_kind(void **state)
{
    (void)state;
    static const struct {
        struct own_prev_seen in;
        enum own_prev kind;
        bool ended;
    } cases[] = {
        {{.none = true}, OWN_PREV_NONE, false},
        {{.any = true}, OWN_PREV_ANY, false},
        {{.self = true, .known = true, .alive = true}, OWN_PREV_SELF_OLD, true},
        {{.known = false}, OWN_PREV_UNKNOWN, true},
        {{.known = true, .alive = true, .from_session = 7, .node_session = 7},
         OWN_PREV_ALIVE,
         false},
        /* session unknown on one side: the id's liveness decides */
        {{.known = true, .alive = true, .node_session = 9}, OWN_PREV_ALIVE, false},
        {{.known = true, .from_session = 7, .node_session = 7}, OWN_PREV_DIED, true},
        /* its node belongs to another session now */
        {{.known = true, .alive = true, .from_session = 7, .node_session = 8}, OWN_PREV_DIED, true},
        /* it vanished after the previous epoch was published and came back */
        {{.known = true, .alive = true, .gone_ms = 2000, .prev_created_ms = 1000},
         OWN_PREV_DIED,
         true},
        /* a vanishing before that epoch was of an earlier session */
        {{.known = true, .alive = true, .gone_ms = 500, .prev_created_ms = 1000},
         OWN_PREV_ALIVE,
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool ended = !cases[i].ended;
        assert_int_equal(own_prev_kind(&cases[i].in, &ended), cases[i].kind);
        assert_int_equal(ended, cases[i].ended);
    }
}

static void test_takeover_live_handoff_under_skew(void **state)
{
    (void)state;
    /* The previous owner's clock is 1 s ahead of ours: it applied the epoch
     * at 1011.3 s by its clock while ours reads 1010.4. Its fires up to 1011
     * are its own; ours start at 1012, whatever our clock says. */
    struct own_takeover_in in = base(OWN_PREV_ALIVE);
    in.owner_epoch = 11;
    in.owner_prev_applied = 10; /* it applied the epoch that gave it the item */
    in.owner_applied_ms = 1011300;
    struct own_takeover t;
    own_takeover(&in, &t);
    assert_int_equal(t.hi_ms, 1011300);
    assert_int_equal(t.first_s, 1012);
    assert_true(t.lo_ms <= t.hi_ms);
    assert_int_equal(t.rerun_fire, -1);
    assert_int_equal(t.not_before_ms, 0);
    /* A carry from an owner that only held it pending widens the window down,
     * and the handoff is no longer direct: whoever ran it last may have run
     * fires up to now (its clock at most max skew ahead), so ours start after. */
    in.owner_carry_ms = 990000;
    own_takeover(&in, &t);
    assert_true(t.lo_ms <= 990000);
    assert_int_equal(t.hi_ms, in.now_ms + in.max_skew_ms + 500);
    assert_int_equal(t.first_s, 1013);
}

static void test_takeover_died_reruns_only_a_cut_off_run(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_DIED);
    in.gone_ms = 1009000;
    in.owner_session_ms = 2000;
    in.owner_running_fire = 1007;
    struct own_takeover t;
    own_takeover(&in, &t);
    assert_true(t.first_s > 1007);
    assert_int_equal(t.first_s, t.hi_ms / 1000 + 1);
    assert_int_equal(t.rerun_fire, 1007);
    assert_int_equal(t.not_before_ms, 0); /* expired: its lease ran out before */
    in.failover = false;
    own_takeover(&in, &t);
    assert_int_equal(t.rerun_fire, -1);
    /* Evicted while its session may live: wait out its lease. */
    in.failover = true;
    in.evicted = true;
    own_takeover(&in, &t);
    assert_true(t.not_before_ms >= in.gone_ms + in.owner_session_ms);
    /* A live previous owner is never re-run from. */
    in = base(OWN_PREV_ALIVE);
    in.owner_running_fire = 1007;
    in.owner_epoch = 11;
    in.owner_applied_ms = 1010100;
    own_takeover(&in, &t);
    assert_int_equal(t.rerun_fire, -1);
}

/* Whatever is known of the previous owner, ours start after every label a
 * live peer declares (stop_s), after every session seen to vanish, and after
 * this session's first view of the agents. */
static void test_takeover_safe_bound(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_ALIVE);
    in.owner_epoch = 11;
    in.owner_prev_applied = 10;
    in.owner_applied_ms = 1010100; /* a direct handoff: ours would start at 1011 */
    struct own_takeover t;
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1011);
    in.peers_stop_s = 1013; /* an earlier runner started 1013 (its first own fire) */
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1014);
    in.dead_hi_ms = own_dead_hi_ms(1014200, 0, 2000, false, 2000);
    assert_int_equal(in.dead_hi_ms, 1014200 + 2000 + 500);
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1017);
    /* an evicted session may outlive its node by its lease */
    assert_int_equal(own_dead_hi_ms(1014200, 0, 2000, true, 2000), 1014200 + 2000 + 500 + 2000);
    in.view_start_ms = 1020000;
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1023); /* after 1020000 + 2000 + 500 */
    in.recent_evictions = true;
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1025);
    /* the window below first_s is accounted, never run */
    assert_true(t.hi_ms >= 1024000 && t.lo_ms <= t.hi_ms);
}

static void test_settled_and_overdue(void **state)
{
    (void)state;
    struct own_settle_peer p[3] = {
        {7, true, 0, 0, false}, {7, true, 0, 0, false}, {7, true, 0, 0, false}};
    assert_true(own_settled(p, 3, 7, 3, true, 100000, 0, 2000));
    assert_false(own_settled(p, 3, 7, 3, false, 100000, 0, 2000));    /* a member not live at 7 */
    assert_false(own_settled(p, 3, 7, 0, true, 100000, 0, 2000));     /* no members */
    assert_false(own_settled(p, 3, 7, 3, true, 100000, 99000, 2000)); /* a break just now */
    assert_true(own_settled(p, 3, 7, 3, true, 100000, 96000, 2000));
    p[1].pending = 1;
    assert_false(own_settled(p, 3, 7, 3, true, 100000, 0, 2000));
    p[1].pending = 0;
    p[2].backlog = true;
    assert_false(own_settled(p, 3, 7, 3, true, 100000, 0, 2000));
    p[2].backlog = false;
    p[0].applied_epoch = 6;
    assert_false(own_settled(p, 3, 7, 3, true, 100000, 0, 2000));

    int bound = own_evict_bound_ms(2000);
    assert_false(own_apply_overdue(5, 5, 0, 50000, bound));     /* nothing newer */
    assert_false(own_apply_overdue(5, 6, 41000, 49000, bound)); /* 8 s: within 2T + 5 s */
    assert_true(own_apply_overdue(5, 6, 41000, 50000 + bound, bound));
    assert_true(own_apply_overdue(0, 6, 41000, 41000 + bound, bound)); /* never applied */

    /* the earliest possible server restart since the cluster was settled */
    assert_int_equal(own_server_gap_ms(5000, 9000, 1000, 2000), 5000);
    assert_int_equal(own_server_gap_ms(0, 9000, 12000, 2000), 9000); /* a break just before */
    assert_int_equal(own_server_gap_ms(0, 0, 12000, 2000), 12000);
    assert_int_equal(own_server_gap_ms(0, 90000, 1000, 2000), 1000); /* the earlier of the two */
}

static void test_takeover_self_and_none(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_SELF_OLD);
    in.self_lost_ms = 1005600;
    in.owner_epoch = 10; /* our old session applied the epoch that gave it the item */
    struct own_takeover t;
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1006);
    assert_int_equal(t.lo_ms, t.hi_ms);
    /* It was given up before applying that epoch: it held the item only on
     * paper, so the bound is not its loss but everything since the last
     * owner that ran it (here: the previous publication) and up to now. */
    in.owner_epoch = 9;
    own_takeover(&in, &t);
    assert_true(t.lo_ms < in.prev_created_ms);
    assert_true(t.first_s > in.now_ms / 1000);
    in = base(OWN_PREV_NONE);
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, 1011);
    /* Nobody known (first epoch, or no owner at the previous epoch): the last
     * live peer's apply ends the window; it reaches back a session timeout
     * before the previous publication, never before the job existed. */
    in = base(OWN_PREV_ANY);
    in.owner_epoch = 11;
    in.owner_applied_ms = 1010250;
    own_takeover(&in, &t);
    assert_int_equal(t.hi_ms, 1010250);
    assert_int_equal(t.first_s, 1011);
    assert_true(t.lo_ms <= in.prev_created_ms - in.session_ms);
    in.job_created_ms = 1009000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 1009000 - in.max_skew_ms);
    in.owner_epoch = 0; /* no live peer has applied anything: nobody alive owned it */
    own_takeover(&in, &t);
    assert_int_equal(t.first_s, in.now_ms / 1000 + 1);
    /* whoever owned it before (a session gone by now) is accounted for from
     * four session timeouts before the previous publication, never before
     * the job existed */
    assert_int_equal(t.lo_ms, 1009000 - in.max_skew_ms);
    /* ... unless nobody owned it at our previous epoch (a total outage): its
     * gone owner may have run fires until the publication we apply. */
    in.unowned_before = true;
    own_takeover(&in, &t);
    assert_int_equal(t.hi_ms, in.snap_created_ms + in.max_skew_ms + 500);
    assert_true(t.lo_ms < t.hi_ms);
}

static void test_may_start(void **state)
{
    (void)state;
    assert_true(own_may_start(true, 1012, -1, 1012, OWN_CRON));
    assert_false(own_may_start(true, 1012, -1, 1011, OWN_CRON)); /* the previous owner's */
    assert_false(own_may_start(false, 1012, -1, 1013, OWN_CRON));
    assert_false(own_may_start(true, 1012, -1, 1011, OWN_MISFIRE));
    assert_true(own_may_start(true, 1012, -1, 1000, OWN_MANUAL));
    assert_true(own_may_start(true, 1012, 1007, 1007, OWN_FAILOVER));
    assert_false(own_may_start(true, 1012, 1007, 1008, OWN_FAILOVER));
    assert_false(own_may_start(true, 1012, -1, 1007, OWN_FAILOVER));
    assert_true(own_may_start(true, 1012, 1007, 1007, OWN_RETRY)); /* retry of the re-run */
    assert_false(own_may_start(true, 1012, -1, 1007, OWN_RETRY));
}

static void test_evict(void **state)
{
    (void)state;
    struct own_ack m[] = {
        {"a", 1, 1, 5},
        {"b", 2, 2, 4}, /* stuck on 4 */
        {"c", 3, 9, 0}, /* its node belongs to a new session: the next epoch handles it */
    };
    int bound = own_evict_bound_ms(2000);
    assert_true(bound > 2000);
    assert_int_equal(own_evict(m, 3, 5, 100000, 100000 + bound - 1, bound), -1);
    assert_int_equal(own_evict(m, 3, 5, 100000, 100000 + bound, bound), 1);
    m[1].applied_epoch = 5;
    assert_int_equal(own_evict(m, 3, 5, 100000, 100000 + bound, bound), -1);
    m[1].node_session = 0; /* gone */
    m[1].applied_epoch = 4;
    assert_int_equal(own_evict(m, 3, 5, 100000, 100000 + bound, bound), -1);
}

static void test_carry(void **state)
{
    (void)state;
    assert_int_equal(own_carry(0, 500), 500);
    assert_int_equal(own_carry(400, 500), 400);
    assert_int_equal(own_carry(600, 500), 500);
    assert_int_equal(own_carry(600, 0), 600);
    assert_true(own_pending_lo(100000, 2000, 2000) < 100000 - 4000);
}

/* A server restart this agent did not see (it started after it) is one a
 * peer saw: its record's break counts, on our clock, when recent. */
static void test_gap_merge(void **state)
{
    (void)state;
    int64_t now = 1000000;
    /* the peer broke at 990.0 s by ZooKeeper's clock; our clock is 500 ms ahead */
    int64_t g = own_gap_merge(998000, 990000, 500, now, 2000);
    assert_true(g <= 990500 && g > 990500 - 1000);
    assert_int_equal(own_gap_merge(980000, 990000, 500, now, 2000), 980000); /* ours is earlier */
    assert_int_equal(own_gap_merge(0, 990000, 0, now, 2000) <= 990000, 1);
    assert_int_equal(own_gap_merge(998000, 0, 0, now, 2000), 998000);      /* none */
    assert_int_equal(own_gap_merge(998000, 970000, 0, now, 2000), 998000); /* 15 T ago */
}

/* After a total outage, an owner that held an item only on paper (stuck in
 * apply, or dead before applying) leaves its fires since the outage to the
 * next owner: a non-exact takeover reaches back to the last epoch that had
 * members, OWN_ANY_LOOKBACK session timeouts more; so does the carry of an
 * item gained after the outage and lost while pending. */
static void test_takeover_after_total_outage(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_ALIVE);
    in.owner_epoch = 11;
    in.owner_prev_applied = 0; /* it applied nothing before: it never held the item */
    in.owner_applied_ms = 1010100;
    in.prev_created_ms = 1005000;
    in.settled_ms = 0;
    struct own_takeover t;
    own_takeover(&in, &t);
    int64_t without = t.lo_ms;
    in.outage_from_ms = 960000;
    own_takeover(&in, &t);
    assert_true(t.lo_ms < without);
    assert_true(t.lo_ms <= 960000 - OWN_ANY_LOOKBACK * 2000);
    assert_int_equal(t.lo_ms, own_pending_lo_any(960000, 2000, 2000));
    /* an exact live handoff is unaffected: the owner ran it and stopped at its apply */
    in.owner_prev_applied = 10;
    own_takeover(&in, &t);
    assert_true(t.lo_ms > 1000000);
    assert_true(own_pending_lo_any(100000, 2000, 2000) < own_pending_lo(100000, 2000, 2000));
}

/* A non-exact takeover reaches back to the last moment the cluster was
 * settled: also the one the snapshot carries (a leader saw it), which is the
 * only bound left to a process that started since, when every process that
 * saw it is gone (simulator seeds 127, 538, 656, 672, 763, 786, 838). It
 * only ever widens the window. */
static void test_takeover_snapshot_settled(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_ALIVE);
    in.owner_epoch = 11;
    in.owner_applied_ms = 1010100;
    in.owner_prev_applied = 9; /* it skipped the epoch that gave it the item: not exact */
    in.settled_ms = 0;         /* a new process: never saw the cluster settled */
    struct own_takeover t;
    own_takeover(&in, &t);
    int64_t without = t.lo_ms, first = t.first_s;
    assert_int_equal(without, 1000000 - OWN_ANY_LOOKBACK * 2000 - 2000 - 1000);
    in.snap_settled_ms = 980000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 980000 - 2000 - 2000 - 1000 - 500); /* a session timeout before */
    assert_int_equal(t.first_s, first);                           /* the window only widens */
    in.skew_ms = 300; /* our clock ahead of ZooKeeper's: the snapshot's moment is on ours */
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 980000 - 300 - 2000 - 2000 - 1000 - 500);
    in.skew_ms = 0;
    /* later than what we reach back to anyway: nothing changes */
    in.snap_settled_ms = 1009000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, without);
    /* our own settled moment, later than the snapshot's: the earlier one counts too */
    in.settled_ms = 1008000;
    in.snap_settled_ms = 990000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 990000 - 2000 - 2000 - 1000 - 500);
    /* an exact live handoff: the owner ran it and stopped at its apply */
    in.owner_prev_applied = 10;
    own_takeover(&in, &t);
    assert_true(t.lo_ms > 1000000);
}

/* A dead owner's window trusts that the server heard from it a session
 * timeout before its expiry; a server restart gave it a fresh timeout. A
 * process that never saw the cluster settled cannot tell that no restart
 * went unseen since: even an exact takeover from a dead owner reaches back
 * to the snapshot's settled moment (simulator seed 896: two restarts kept a
 * killed owner's session alive 9 s past its death, and the new owner started
 * after them). */
static void test_takeover_died_unseen_restart(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_DIED);
    in.gone_ms = 1009000;
    in.owner_session_ms = 2000;
    in.owner_epoch = 10; /* it applied the epoch that gave it the item: exact */
    struct own_takeover t;
    own_takeover(&in, &t);
    int64_t without = t.lo_ms, first = t.first_s;
    assert_int_equal(without, 1009000 - 2000 - 1000 - 500);
    in.snap_settled_ms = 990000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 990000 - 2000 - 2000 - 1000 - 500);
    assert_int_equal(t.first_s, first);
    /* this process saw the cluster settled: the restarts since are its breaks
     * (server_gap_ms), and its own bounds stand */
    in.settled_ms = 1005000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, without);
    /* a live owner's exact handoff is its own report: unaffected */
    in = base(OWN_PREV_ALIVE);
    in.owner_epoch = 11;
    in.owner_applied_ms = 1010100;
    in.owner_prev_applied = 10;
    in.snap_settled_ms = 990000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 1010100 - 1000);
}

/* News of a vanishing can come late (our loop frozen, our connection down):
 * the node was there when the server answered our last request before the
 * news, and the window starts from that, not from when we heard (simulator
 * seed 171: the new owner was frozen 5 s while its predecessor's session
 * expired). Only lo moves: nothing of ours starts earlier. */
static void test_takeover_died_news_late(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_DIED);
    in.gone_ms = 1009000;
    in.owner_session_ms = 2000;
    in.owner_epoch = 10;
    struct own_takeover t;
    own_takeover(&in, &t);
    int64_t hi = t.hi_ms, first = t.first_s;
    in.gone_lo_ms = 1003000;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 1003000 - 2000 - 1000 - 500);
    assert_int_equal(t.hi_ms, hi);
    assert_int_equal(t.first_s, first);
    in.owner_skew_ms = 700; /* its clock ahead of ours: its fires are labelled by it */
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 1003000 + 700 - 2000 - 1000 - 500);
    in.owner_skew_ms = 0;
    /* heard at once: the same as without */
    in.gone_lo_ms = in.gone_ms;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 1009000 - 2000 - 1000 - 500);
}

/* Moments are kept on the monotonic clock and read as the realtime clock
 * says they were now (own_moment_ms), so a takeover combines its previous
 * owner's vanishing with a skew on one clock (simulator seed 1289: a1 saw
 * a0 vanish, its clock jumped back 2.2 s, the skew was measured again, and
 * the takeover compared the wall time taken before the jump with the skew
 * after it: its window started 2.2 s late and lost a fire). */
static void test_takeover_moment_across_a_jump(void **state)
{
    (void)state;
    /* our clock 1 s ahead of ZooKeeper's; the owner's on it (skew 0). We see
     * it vanish at monotonic 50000, realtime 1009000: ZooKeeper's 1008000. */
    int64_t seen_mono = 50000, seen_real = 1009000;
    /* then our clock steps back 2.2 s and the next write measures -1200 */
    int64_t offset = seen_real - seen_mono - 2200, now_mono = 51400;
    struct own_takeover_in in = base(OWN_PREV_DIED);
    in.owner_session_ms = 2000;
    in.owner_epoch = 10;
    in.skew_ms = -1200;
    in.now_ms = now_mono + offset;
    in.gone_ms = in.gone_lo_ms = own_moment_ms(seen_mono, in.now_ms, now_mono);
    assert_int_equal(in.gone_ms, 1006800);
    struct own_takeover t;
    own_takeover(&in, &t);
    /* the owner's clock at its vanishing was ZooKeeper's 1008000: its window
     * reaches a session timeout and the margins before it, its fires end
     * half a second after it */
    assert_int_equal(t.lo_ms, 1008000 - 2000 - 1000 - 500);
    assert_int_equal(t.hi_ms, 1008000 + 500);
    assert_int_equal(t.first_s, 1009);
    /* the wall time taken before the jump, with the skew after it: the
     * window starts 2.2 s late (the fire of 1005 would be in nobody's) */
    in.gone_ms = in.gone_lo_ms = seen_real;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 1008000 + 2200 - 2000 - 1000 - 500);
    /* no moment stays none; an unmoved clock reads a moment as it was */
    assert_int_equal(own_moment_ms(0, in.now_ms, now_mono), 0);
    assert_int_equal(own_moment_ms(seen_mono, seen_real + 700, seen_mono + 700), seen_real);
}

/* A step of the wall clock against the monotonic one, either way, beyond the
 * threshold: every skew measured before is stale (coord_clock_watch). */
static void test_clock_jumped(void **state)
{
    (void)state;
    struct {
        int64_t real, mono, last_real, last_mono;
        bool jumped;
    } cases[] = {
        {1001000, 6000, 1000000, 5000, false}, /* both moved 1 s */
        {1002001, 6000, 1000000, 5000, true},  /* the wall clock 1.001 s more */
        {1002000, 6000, 1000000, 5000, false}, /* exactly the threshold */
        {999999, 6000, 1000000, 5000, true},   /* stepped back */
        {1001900, 6000, 1000000, 0, false},    /* no look before */
        {1000000, 60000, 1000000, 5000, true}, /* the wall clock stood still 55 s */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(own_clock_jumped(cases[i].real, cases[i].mono, cases[i].last_real,
                                          cases[i].last_mono, 1000),
                         cases[i].jumped);
}

/* A removed item settled when its noting agent drops its items (session
 * lost, evicted, stopping) rather than at the gate: its owner held it only on
 * paper (stuck, it never applied the epoch that gave it), so it is owed, from
 * as far back as a non-exact takeover reaches (simulator seed 181: every
 * agent that noted the removal lost its session in a total outage before
 * its gate opened). */
static void test_removed_settled_at_drop(void **state)
{
    (void)state;
    struct own_takeover_in in = base(OWN_PREV_ALIVE);
    in.owner_epoch = 9; /* stuck: never applied the epoch that gave it the item */
    in.owner_applied_ms = 990000;
    in.settled_ms = 995000;
    assert_true(own_removed_owes(&in));
    struct own_takeover t;
    own_takeover(&in, &t);
    assert_int_equal(t.lo_ms, 995000 - 2000 - 2000 - 1000 - 500);
    /* an owner that applied the removal after holding it accounted it itself */
    in.owner_epoch = 11;
    in.owner_applied_ms = 1010100;
    in.owner_prev_applied = 10;
    assert_false(own_removed_owes(&in));
}

/* An item held pending when this process has learnt of a total outage
 * since it last saw the cluster settled: its owner since the outage may
 * have held it only on paper (stuck), so the window of its loss and the
 * carry reach back to the outage, as a non-exact takeover's does
 * (simulator seed 1053: a2 killed, its successor stuck in apply, every
 * session lost, the next owner stuck too, and the one after lost the item
 * while pending from a window that started after the fire). */
static void test_pending_lo_after_outage(void **state)
{
    (void)state;
    int64_t lo = own_pending_lo(1030000, 4000, 2000);
    assert_int_equal(own_pending_lo_outage(lo, 0, 4000, 2000), lo); /* no outage known */
    assert_int_equal(own_pending_lo_outage(lo, 1018000, 4000, 2000),
                     own_pending_lo_any(1018000, 4000, 2000));
    assert_true(own_pending_lo_outage(lo, 1018000, 4000, 2000) <= 1018000 - 4 * 4000);
    /* an outage older than the window already reached: nothing changes */
    int64_t far = own_pending_lo_any(1018000, 4000, 2000) - 1;
    assert_int_equal(own_pending_lo_outage(far, 1018000, 4000, 2000), far);
    /* and to the snapshot's settled moment (simulator seed 1930: the owner
     * killed, the next one frozen while pending, the next stuck in apply,
     * and a new process lost the item while pending): a session timeout
     * before it, by a clock up to max skew off */
    assert_int_equal(own_pending_lo_settled(lo, 0, 0, 4000, 2000), lo);
    assert_int_equal(own_pending_lo_settled(lo, 1010000, 0, 4000, 2000),
                     1010000 - 2000 - 4000 - 1000 - 500);
    assert_int_equal(own_pending_lo_settled(lo, 1010000, 300, 4000, 2000),
                     1010000 - 300 - 2000 - 4000 - 1000 - 500);
    assert_int_equal(own_pending_lo_settled(lo, 1031000, 0, 4000, 2000), lo); /* later: no change */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_self_is_a_session),
        cmocka_unit_test(test_gate),
        cmocka_unit_test(test_prev_kind),
        cmocka_unit_test(test_handed),
        cmocka_unit_test(test_takeover_live_handoff_under_skew),
        cmocka_unit_test(test_takeover_died_reruns_only_a_cut_off_run),
        cmocka_unit_test(test_takeover_self_and_none),
        cmocka_unit_test(test_takeover_safe_bound),
        cmocka_unit_test(test_settled_and_overdue),
        cmocka_unit_test(test_may_start),
        cmocka_unit_test(test_evict),
        cmocka_unit_test(test_carry),
        cmocka_unit_test(test_gap_merge),
        cmocka_unit_test(test_takeover_after_total_outage),
        cmocka_unit_test(test_takeover_snapshot_settled),
        cmocka_unit_test(test_takeover_died_unseen_restart),
        cmocka_unit_test(test_takeover_died_news_late),
        cmocka_unit_test(test_removed_settled_at_drop),
        cmocka_unit_test(test_pending_lo_after_outage),
        cmocka_unit_test(test_takeover_moment_across_a_jump),
        cmocka_unit_test(test_clock_jumped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
