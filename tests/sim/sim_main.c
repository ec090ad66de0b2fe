/* tests/sim/sim_main.c: the simulator's command line.
 *
 *   sim --seeds A-B --steps N [--agents K] [--jobs J] [--verbose] [--mutant M]
 *       [--brief] [--until-caught]
 *
 * Runs every seed from A to B (each one world, deterministic), prints each
 * violation with its seed, step, time and trace, then a summary table. Exit
 * status: 0 when no seed violated an invariant, 1 otherwise, 2 on usage.
 * --until-caught stops at the first violating seed (the mutant check);
 * --brief prints a violation on one line, without its trace. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/own.h"
#include "tests/sim/sim.h"

static int usage(void)
{
    fprintf(stderr, "usage: sim --seeds A-B --steps N [--agents K] [--jobs J] [--verbose] "
                    "[--mutant 0-8] [--brief] [--until-caught]\n");
    for (int m = 1; m < MUT_COUNT; m++)
        fprintf(stderr, "  mutant %s\n", sim_mutant_names[m]);
    return 2;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct sim_params p = {
        .agents = 5,
        .jobs = 4,
        .session_ms = 4000,
        .max_skew_ms = 2000,
        .misfire_ms = 5000,
        .capacity = 4,
        .steps = 100000,
    };
    unsigned long long a = 1, b = 1;
    bool brief = false, until = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--verbose") == 0) {
            p.verbose = true;
        } else if (strcmp(o, "--brief") == 0) {
            brief = true;
        } else if (strcmp(o, "--until-caught") == 0) {
            until = true;
        } else if (!v) {
            return usage();
        } else if (strcmp(o, "--seeds") == 0) {
            char *e;
            a = strtoull(v, &e, 10);
            b = *e == '-' ? strtoull(e + 1, &e, 10) : a;
            if (*e || b < a)
                return usage();
            i++;
        } else if (strcmp(o, "--steps") == 0) {
            p.steps = atoll(v);
            i++;
        } else if (strcmp(o, "--agents") == 0) {
            p.agents = atoi(v);
            i++;
        } else if (strcmp(o, "--jobs") == 0) {
            p.jobs = atoi(v);
            i++;
        } else if (strcmp(o, "--mutant") == 0) {
            p.mutant = atoi(v);
            i++;
        } else {
            return usage();
        }
    }
    if (p.steps < 1 || p.agents < 1 || p.agents > SIM_MAX_AGENTS || p.jobs < 1 ||
        p.jobs > SIM_MAX_JOBS || p.mutant < 0 || p.mutant >= MUT_COUNT)
        return usage();
    /* A fire is accounted (run, or reported missed) at the latest when its
     * item's next owner activates it: the owner's death is seen after a
     * session timeout (a server restart starts it again), an agent stuck in
     * apply holds every gate for up to own_evict_bound_ms before it is
     * evicted, and the next epoch's applies take a few seconds more. */
    p.horizon_ms = getenv("SIM_HORIZON_MS")
                       ? atoll(getenv("SIM_HORIZON_MS"))
                       : own_evict_bound_ms(p.session_ms) + 3 * p.session_ms + 10000;
    /* From the quiet phase on, an agent stuck in apply may first have to
     * build a session (T), then be evicted (own_evict_bound_ms), then the
     * items it held wait for runs already going elsewhere to drain (the
     * longest run: 6 s) and a round of applies. */
    p.live_bound_ms = p.session_ms + own_evict_bound_ms(p.session_ms) + 6000 + 5000;
    p.quiet_ms = p.live_bound_ms + 30000;

    double t0 = wall();
    int64_t steps = 0, faults = 0, runs = 0, by[5] = {0};
    double sim_ms = 0;
    unsigned long long bad = 0, caught_at = 0, done = 0;
    for (unsigned long long s = a; s <= b; s++) {
        struct world *w = NULL;
        if (brief)
            p.verbose = false;
        FILE *keep = NULL;
        if (brief) { /* the violation's trace goes nowhere */
            fflush(stdout);
            keep = stdout;
            stdout = fopen("/dev/null", "w");
        }
        int v = sim_run_seed(&p, s, &w);
        if (keep) {
            fclose(stdout);
            stdout = keep;
        }
        done++;
        steps += w->steps;
        faults += w->faults;
        runs += w->runs_started;
        sim_ms += (double)(w->now - 1767225600000LL);
        for (int k = 1; k <= 4; k++)
            by[k] += w->viol_by[k] ? 1 : 0;
        if (v) {
            bad++;
            if (brief) {
                int inv = 0;
                for (int k = 1; k <= 4; k++)
                    if (w->viol_by[k])
                        inv = k;
                printf("seed %llu: invariant %d violated at step %lld\n", s, inv,
                       (long long)w->steps);
            }
        }
        sim_world_free(w);
        if (v && until) {
            caught_at = s;
            break;
        }
    }
    double secs = wall() - t0;
    printf("\n%-14s %-10s %12s %8s %9s %6s %6s %6s %6s %8s\n", "mutant", "seeds", "steps", "faults",
           "sim_hours", "inv1", "inv2", "inv3", "inv4", "wall_s");
    char seeds[40];
    snprintf(seeds, sizeof seeds, "%llu-%llu", a, caught_at ? caught_at : b);
    printf("%-14.14s %-10s %12lld %8lld %9.2f %6lld %6lld %6lld %6lld %8.1f\n",
           sim_mutant_names[p.mutant], seeds, (long long)steps, (long long)faults, sim_ms / 3.6e6,
           (long long)by[1], (long long)by[2], (long long)by[3], (long long)by[4], secs);
    printf("%llu of %llu seeds violated an invariant; %lld runs started\n", bad, done,
           (long long)runs);
    if (until)
        printf(caught_at ? "caught: mutant %d at seed %llu\n" : "NOT caught: mutant %d%.0llu\n",
               p.mutant, caught_at);
    return bad ? 1 : 0;
}
