/* tests/sim/sim_world.c: one seeded world — the PRNG, the event queue, the
 * trace ring, the faults and the run loop of one seed.
 *
 * The PRNG (splitmix64) is the only source of nondeterminism; events are
 * ordered by (time, sequence), so one seed gives one exact run. A run has a
 * faulty phase of --steps steps, then a quiet phase (faults stopped, the
 * faulted processes healed) of live_bound + 30 s in which liveness is checked.
 * Every step (one event) is followed by the invariant checks (sim_check.c). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

const char *const sim_mutant_names[MUT_COUNT] = {
    "none",
    "1 failed read not re-read on reconnect",
    "2 draining for queued/retrying runs",
    "3 failover from any dead agent's record",
    "4 first fire after own now",
    "5 jump catch-up labelled in the future",
    "6 running list written lazily, trusted",
    "7 members by id only",
    "8 no eviction",
    "9 observed moments kept on the wall clock",
    "10 no clock check after a jump",
};

/* ---------------------------------------------------------------- PRNG */

uint64_t sim_rand(struct world *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t sim_range(struct world *w, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(sim_rand(w) % (uint64_t)(hi - lo + 1));
}

bool sim_chance(struct world *w, double p)
{
    return (double)(sim_rand(w) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* ---------------------------------------------------------------- event queue */

static bool ev_before(const struct ev *a, const struct ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

void sim_push(struct world *w, ms_t t, int type, int a, int b, int64_t x, struct msg *m)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 1024;
        w->heap = realloc(w->heap, (size_t)w->capheap * sizeof *w->heap);
        if (!w->heap)
            abort();
    }
    if (t < w->now)
        t = w->now;
    struct ev e = {t, w->seq++, type, a, b, x, m};
    int i = w->nheap++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!ev_before(&e, &w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = e;
}

static bool pop(struct world *w, struct ev *out)
{
    if (w->nheap == 0)
        return false;
    *out = w->heap[0];
    struct ev last = w->heap[--w->nheap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const struct ev *best = &last;
        if (l < w->nheap && ev_before(&w->heap[l], best)) {
            m = l;
            best = &w->heap[l];
        }
        if (r < w->nheap && ev_before(&w->heap[r], best))
            m = r;
        if (m == i)
            break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (w->nheap > 0)
        w->heap[i] = last;
    return true;
}

/* ---------------------------------------------------------------- trace and violations */

void sim_trace(struct world *w, const char *fmt, ...)
{
    char *slot = w->trace[w->ntrace++ % SIM_TRACE];
    int n = snprintf(slot, sizeof w->trace[0], "%9lld.%03lld ", (long long)(w->now / 1000),
                     (long long)(w->now % 1000));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot + n, sizeof w->trace[0] - (size_t)n, fmt, ap);
    va_end(ap);
    if (w->p.verbose)
        printf("  %s\n", slot);
}

void sim_violation(struct world *w, int inv, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* SIM_IGNORE: a bit mask of invariants (bit 1 << inv) that are counted
     * but do not stop the seed, to study one class of violation at a time. */
    const char *ign = getenv("SIM_IGNORE");
    if (ign && inv >= 1 && inv <= 4 && (atoi(ign) & (1 << inv)))
        return;
    w->violations++;
    if (inv >= 1 && inv <= 4)
        w->viol_by[inv]++;
    if (w->stop)
        return; /* the first violation of a seed is the one reported */
    w->stop = true;
    printf("VIOLATION of invariant %d: seed %llu, step %lld, time %lld.%03lld s%s%s\n  %s\n", inv,
           (unsigned long long)w->seed, (long long)w->steps, (long long)(w->now / 1000),
           (long long)(w->now % 1000), w->p.mutant ? ", mutant " : "",
           w->p.mutant ? sim_mutant_names[w->p.mutant] : "", msg);
    if (!w->p.verbose) {
        int n = w->ntrace < SIM_TRACE ? w->ntrace : SIM_TRACE;
        printf("  last %d events:\n", n);
        for (int i = w->ntrace - n; i < w->ntrace; i++)
            printf("    %s\n", w->trace[i % SIM_TRACE]);
    }
    for (int i = 0; i < w->p.agents; i++) {
        char d[300];
        agent_describe(w, i, d, sizeof d);
        printf("  agent %s\n", d);
    }
    printf("  replay: sim --seeds %llu-%llu --steps %lld --agents %d --jobs %d%s%.0d --verbose\n",
           (unsigned long long)w->seed, (unsigned long long)w->seed, (long long)w->p.steps,
           w->p.agents, w->p.jobs, w->p.mutant ? " --mutant " : "", w->p.mutant);
}

/* ---------------------------------------------------------------- faults */

enum fault {
    F_KILL,
    F_LEADER_KILL,
    F_STOP_SHORT,
    F_STOP_LONG,
    F_CONN,
    F_SERVER,
    F_SKEW,
    F_JUMP,
    F_EDIT,
    F_RESTART,
    F_STUCK,
    F_N
};
static const int fault_weight[F_N] = {10, 5, 8, 6, 14, 3, 6, 6, 6, 5, 4};

enum heal { H_START, H_RESUME, H_UNSTICK };

static int pick_agent(struct world *w, bool need_running)
{
    int cand[SIM_MAX_AGENTS], n = 0;
    for (int i = 0; i < w->p.agents; i++)
        if (agent_proc_alive(w, i) && (!need_running || !agent_frozen(w, i)))
            cand[n++] = i;
    return n ? cand[sim_range(w, 0, n - 1)] : -1;
}

static int stuck_count(struct world *w)
{
    int n = 0;
    for (int i = 0; i < w->p.agents; i++)
        n += agent_proc_alive(w, i) && agent_stuck(w, i);
    return n;
}

static void new_skew(struct world *w, int a, bool jump)
{
    int lim = w->p.max_skew_ms * 9 / 10;
    ms_t cur = agent_clock(w, a) - w->now, next;
    if (jump) {
        do
            next = sim_range(w, -lim, lim);
        while (llabs(next - cur) < 1100);
    } else {
        next = cur + sim_range(w, -300, 300);
        if (next > lim)
            next = lim;
        if (next < -lim)
            next = -lim;
    }
    agent_jump(w, a, next - cur, jump);
}

static void edit_job(struct world *w)
{
    int j = (int)sim_range(w, 0, w->p.jobs - 1);
    struct zstat st;
    char path[SIM_PATH];
    snprintf(path, sizeof path, "/jobs/j%d", j);
    const struct zdata *d = zk_peek(w, path, &st);
    if (!d)
        return;
    struct sim_job cfg = d->u.job;
    int before = cfg.shards;
    do
        cfg.shards = (int)sim_range(w, 1, SIM_MAX_ITEMS);
    while (cfg.shards == before);
    sim_trace(w, "FAULT job j%d shards %d -> %d", j, before, cfg.shards);
    check_job_shards(w, j, before, cfg.shards);
    zk_put_job(w, j, &cfg);
}

static void fault(struct world *w)
{
    int total = 0;
    for (int i = 0; i < F_N; i++)
        total += fault_weight[i];
    int r = (int)sim_range(w, 0, total - 1), f = 0;
    while (r >= fault_weight[f])
        r -= fault_weight[f++];
    /* SIM_FAULTS: a bit mask of the kinds to inject (default all), to find
     * which faults a violation needs */
    const char *mask = getenv("SIM_FAULTS");
    if (mask && !(strtol(mask, NULL, 0) & (1L << f)))
        return;
    int T = w->p.session_ms, a;
    w->faults++;
    switch (f) {
    case F_KILL:
    case F_LEADER_KILL:
        a = -1;
        if (f == F_LEADER_KILL)
            for (int i = 0; i < w->p.agents; i++)
                if (agent_proc_alive(w, i) && agent_is_leader(w, i))
                    a = i;
        if (a < 0)
            a = pick_agent(w, false);
        if (a < 0)
            break;
        sim_trace(w, "FAULT kill -9 a%d%s", a, f == F_LEADER_KILL ? " (leader)" : "");
        agent_kill(w, a);
        sim_push(w, w->now + sim_range(w, 500, 20000), EV_HEAL, a, H_START, 0, NULL);
        break;
    case F_STOP_SHORT:
    case F_STOP_LONG:
        if ((a = pick_agent(w, true)) < 0)
            break;
        {
            ms_t d = f == F_STOP_SHORT ? sim_range(w, T / 5, T * 4 / 5)
                                       : sim_range(w, T * 11 / 10, 3 * T);
            sim_trace(w, "FAULT SIGSTOP a%d for %lld ms", a, (long long)d);
            agent_freeze(w, a, true);
            sim_push(w, w->now + d, EV_HEAL, a, H_RESUME, 0, NULL);
        }
        break;
    case F_CONN:
        if ((a = pick_agent(w, false)) < 0)
            break;
        sim_trace(w, "FAULT connection loss a%d", a);
        agent_conn_loss(w, a);
        break;
    case F_SERVER:
        if (!zk_is_up(w))
            break;
        {
            ms_t d = sim_range(w, T / 5, T * 3 / 2);
            sim_trace(w, "FAULT ZooKeeper restart, down %lld ms", (long long)d);
            zk_restart(w, d);
        }
        break;
    case F_SKEW:
    case F_JUMP:
        if ((a = pick_agent(w, false)) < 0)
            break;
        new_skew(w, a, f == F_JUMP);
        break;
    case F_EDIT:
        edit_job(w);
        break;
    case F_RESTART:
        if ((a = pick_agent(w, true)) < 0)
            break;
        sim_trace(w, "FAULT clean restart a%d", a);
        agent_stop(w, a);
        sim_push(w, w->now + sim_range(w, 100, 3000), EV_HEAL, a, H_START, 0, NULL);
        break;
    case F_STUCK:
        if (stuck_count(w) > 0 || (a = pick_agent(w, true)) < 0)
            break;
        sim_trace(w, "FAULT a%d stuck in apply", a);
        agent_set_stuck(w, a, true);
        sim_push(w, w->now + sim_range(w, 5000, 40000), EV_HEAL, a, H_UNSTICK, 0, NULL);
        break;
    }
}

static void heal(struct world *w, int a, int kind, int64_t tag)
{
    switch (kind) {
    case H_START:
        if (!agent_proc_alive(w, a)) {
            sim_trace(w, "HEAL start a%d", a);
            agent_start(w, a);
        }
        break;
    case H_RESUME:
        if (agent_proc_alive(w, a) && agent_frozen(w, a)) {
            sim_trace(w, "HEAL SIGCONT a%d", a);
            agent_freeze(w, a, false);
        }
        break;
    case H_UNSTICK:
        /* tag 1: the quiet phase's stuck agent stays stuck */
        if (tag == 0 && agent_proc_alive(w, a) && agent_stuck(w, a) && !w->quiet) {
            sim_trace(w, "HEAL a%d unstuck", a);
            agent_set_stuck(w, a, false);
        }
        break;
    }
}

/* quiet: faults stop and everything faulted is healed, except that with
 * probability 1/2 one agent becomes (or stays) stuck, so that the leader's
 * eviction is part of what liveness depends on. */
static void quiet(struct world *w)
{
    w->quiet = true;
    w->quiet_at = w->now;
    w->end_at = w->now + w->p.quiet_ms;
    sim_trace(w, "QUIET: faults stop; liveness is checked from %lld ms on",
              (long long)(w->now + w->p.live_bound_ms));
    if (!zk_is_up(w))
        zk_up(w);
    int stuck = -1;
    for (int i = 0; i < w->p.agents; i++) {
        if (!agent_proc_alive(w, i))
            agent_start(w, i);
        else if (agent_frozen(w, i))
            agent_freeze(w, i, false);
        if (agent_stuck(w, i))
            stuck = i;
        /* clocks are set right too: one left at the edge of the skew limit
         * flaps in and out of the members on measurement noise alone, and
         * each flap is a new epoch (liveness is about faults that stopped) */
        ms_t skew = agent_clock(w, i) - w->now, half = w->p.max_skew_ms / 2;
        if (skew > half || skew < -half)
            agent_jump(w, i, (skew > 0 ? half : -half) - skew, true);
    }
    if (stuck < 0 && w->p.agents >= 3 && sim_chance(w, 0.5)) {
        stuck = (int)sim_range(w, 0, w->p.agents - 1);
        sim_trace(w, "QUIET: a%d stuck in apply for the rest of the run", stuck);
        agent_set_stuck(w, stuck, true);
    }
    sim_push(w, w->end_at, EV_END, 0, 0, 0, NULL);
}

/* ---------------------------------------------------------------- the run */

static void initial_jobs(struct world *w)
{
    for (int j = 0; j < w->p.jobs; j++) {
        struct sim_job c = {
            .shards = (int)sim_range(w, 1, 6),
            .strategy = (int)sim_range(w, 0, 3),
            .period_s = (int)sim_range(w, 1, 2),
            .misfire = (int)sim_range(w, 0, 2),
            .conc = sim_chance(w, 0.7) ? CONC_FORBID : CONC_ALLOW,
            .retries = (int)sim_range(w, 0, 2),
            .backoff_ms = (int)sim_range(w, 500, 2500),
            .failover = sim_chance(w, 0.7),
        };
        zk_put_job(w, j, &c);
    }
}

void sim_world_free(struct world *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nheap; i++)
        free(w->heap[i].m);
    free(w->heap);
    for (int i = 0; i < SIM_MAX_AGENTS; i++)
        agent_free(w->ag[i]);
    zk_free(w->zk);
    check_free(w->ck);
    free(w);
}

int sim_run_seed(const struct sim_params *p, uint64_t seed, struct world **out)
{
    struct world *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->p = *p;
    w->seed = seed;
    w->rng = seed * 0x2545f4914f6cdd1dULL + 1;
    w->now = 1767225600000LL; /* 2026-01-01: realistic epoch seconds for labels */
    w->zk = zk_new(w);
    w->ck = check_new(w);
    initial_jobs(w);
    for (int i = 0; i < p->agents; i++) {
        w->ag[i] = agent_new(w, i);
        agent_jump(w, i, sim_range(w, -p->max_skew_ms * 9 / 10, p->max_skew_ms * 9 / 10), false);
    }
    for (int i = 0; i < p->agents; i++)
        agent_start(w, i);
    sim_push(w, w->now + 200, EV_SERVER_TICK, 0, 0, 0, NULL);
    sim_push(w, w->now + sim_range(w, 3000, 8000), EV_FAULT, 0, 0, 0, NULL);
    struct ev e;
    while (!w->stop && pop(w, &e)) {
        w->now = e.t;
        switch (e.type) {
        case EV_C2S:
            zk_on_c2s(w, e.m);
            break;
        case EV_S2C:
            agent_on_s2c(w, e.m);
            break;
        case EV_TIMER:
            agent_on_timer(w, e.a, e.b, e.x);
            break;
        case EV_RUN_END:
            agent_on_run_end(w, e.a, e.x);
            break;
        case EV_WATCHDOG:
            agent_on_watchdog(w, e.a, e.b, e.x);
            break;
        case EV_SERVER_TICK:
            zk_tick(w);
            sim_push(w, w->now + 200, EV_SERVER_TICK, 0, 0, 0, NULL);
            break;
        case EV_SERVER_UP:
            if (!w->quiet || !zk_is_up(w))
                zk_up(w);
            break;
        case EV_FAULT:
            if (!w->quiet) {
                fault(w);
                sim_push(w, w->now + sim_range(w, 500, 8000), EV_FAULT, 0, 0, 0, NULL);
            }
            break;
        case EV_HEAL:
            heal(w, e.a, e.b, e.x);
            break;
        case EV_QUIET:
            quiet(w);
            break;
        case EV_END:
            w->stop = true;
            break;
        }
        w->steps++;
        check_step(w);
        if (!w->quiet && w->steps == p->steps)
            sim_push(w, w->now, EV_QUIET, 0, 0, 0, NULL);
    }
    if (w->violations == 0)
        check_final(w);
    *out = w;
    return w->violations;
}
