/* bench/sharding/bench_shard.c: how long shard_assign takes at the sizes the
 * design names (10,000 jobs x 8 items and 100,000 jobs x 1 item over 20 and
 * 50 agents), per strategy, and how many items `balanced` moves when one
 * agent leaves or joins. Prints two tables; bench/sharding/run runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sharding/shard.h"

#define RUNS 5

/* CPU time of this (single) thread: steadier than wall time on a shared machine. */
static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct setup {
    int njobs, items, nagents;
};

static char (*names)[16];
static char (*ids)[16];

static struct shard_job *make_jobs(int nj, int items, enum shard_strategy s)
{
    struct shard_job *j = calloc((size_t)nj, sizeof *j);
    for (int i = 0; i < nj; i++)
        j[i] = (struct shard_job){names[i], items, s, NULL, 0};
    return j;
}

static struct shard_agent *make_agents(int n)
{
    struct shard_agent *a = calloc((size_t)n, sizeof *a);
    for (int i = 0; i < n; i++)
        a[i] = (struct shard_agent){ids[i], NULL, 0, 1};
    return a;
}

/* best_of: minimum CPU time of RUNS shard_assign calls; *out keeps the last. */
static double best_of(const struct shard_job *j, int nj, const struct shard_agent *a, int na,
                      struct shard_assignment **out)
{
    double best = 1e18;
    *out = NULL;
    for (int r = 0; r < RUNS; r++) {
        shard_assignment_free(*out);
        double t0 = now_ms();
        if (shard_assign(j, nj, a, na, out) != 0) {
            fprintf(stderr, "shard_assign failed\n");
            exit(1);
        }
        double t = now_ms() - t0;
        best = t < best ? t : best;
    }
    return best;
}

int main(void)
{
    static const struct setup setups[] = {
        {10000, 8, 20}, {10000, 8, 50}, {100000, 1, 20}, {100000, 1, 50}, {10000, 8, 200}};
    const int nsetups = (int)(sizeof setups / sizeof *setups);
    names = malloc(sizeof *names * 100000);
    ids = malloc(sizeof *ids * 256);
    for (int i = 0; i < 100000; i++)
        snprintf(names[i], sizeof names[i], "job-%06d", i);
    for (int i = 0; i < 256; i++)
        snprintf(ids[i], sizeof ids[i], "agent-%03d", i);

    printf("shard_assign, best of %d (CPU ms); load = max items on one agent / fair share\n", RUNS);
    printf("%-16s %6s %-12s %10s %14s\n", "jobs x items", "agents", "strategy", "cpu_ms",
           "max/fair load");
    for (int s = 0; s < nsetups; s++) {
        const struct setup *u = &setups[s];
        struct shard_agent *ag = make_agents(u->nagents);
        for (int st = 0; st < 4; st++) {
            struct shard_job *jobs = make_jobs(u->njobs, u->items, (enum shard_strategy)st);
            struct shard_assignment *a;
            double ms = best_of(jobs, u->njobs, ag, u->nagents, &a);
            int mx = 0;
            for (int k = 0; k < u->nagents; k++)
                mx = shard_agent_load(a, k) > mx ? shard_agent_load(a, k) : mx;
            char dims[32];
            snprintf(dims, sizeof dims, "%d x %d", u->njobs, u->items);
            printf("%-16s %6d %-12s %10.1f %7d/%-6d\n", dims, u->nagents,
                   shard_strategy_name((enum shard_strategy)st), ms, mx,
                   (u->njobs * u->items + u->nagents - 1) / u->nagents);
            shard_assignment_free(a);
            free(jobs);
        }
        free(ag);
    }

    printf("\nbalanced: items moved when one agent leaves / joins (necessary = the leaver's\n"
           "items / the joiner's items; extra = the rest; spilled = items below first choice)\n");
    printf("%-16s %6s %9s %9s %6s %9s %9s %6s %8s %8s\n", "jobs x items", "agents", "leave_mv",
           "necessary", "extra", "join_mv", "necessary", "extra", "spilled", "diff_ms");
    /* the sizes above, then two mid sizes (20 items per agent) where the
     * ceiling binds and the guarantee's slack shows */
    static const struct setup moves[] = {{10000, 8, 20},  {10000, 8, 50},  {100000, 1, 20},
                                         {100000, 1, 50}, {10000, 8, 200}, {125, 8, 50},
                                         {500, 8, 200}};
    for (int s = 0; s < (int)(sizeof moves / sizeof *moves); s++) {
        const struct setup *u = &moves[s];
        int n = u->nagents;
        struct shard_agent *ag = make_agents(n + 1);
        struct shard_job *jobs = make_jobs(u->njobs, u->items, SHARD_BALANCED);
        struct shard_assignment *A, *L, *J;
        struct shard_change *ch;
        best_of(jobs, u->njobs, ag, n, &A);
        /* leave: agent n/2 goes; join: agent n arrives */
        struct shard_agent *g = make_agents(n - 1);
        for (int k = 0, x = 0; k < n; k++)
            if (k != n / 2)
                g[x++] = ag[k];
        best_of(jobs, u->njobs, g, n - 1, &L);
        best_of(jobs, u->njobs, ag, n + 1, &J);
        double t0 = now_ms();
        int lm = shard_diff(A, L, &ch);
        double diff_ms = now_ms() - t0;
        free(ch);
        int jm = shard_diff(A, J, &ch);
        free(ch);
        int lnec = shard_agent_load(A, n / 2), jnec = shard_agent_load(J, n);
        char dims[32];
        snprintf(dims, sizeof dims, "%d x %d", u->njobs, u->items);
        printf("%-16s %6d %9d %9d %6d %9d %9d %6d %8d %8.1f\n", dims, n, lm, lnec, lm - lnec, jm,
               jnec, jm - jnec, shard_spilled(A) + shard_spilled(L) + shard_spilled(J), diff_ms);
        shard_assignment_free(A);
        shard_assignment_free(L);
        shard_assignment_free(J);
        free(g);
        free(ag);
        free(jobs);
    }
    free(names);
    free(ids);
    return 0;
}
