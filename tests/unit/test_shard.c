/* tests/unit/test_shard.c: sharding/ against its contracts.
 *
 * The average family is checked item by item against a literal transcription
 * of ElasticJob's two loops (shardingAliquot + addAliquant) over a grid of
 * 1-200 agents and 1-1000 items; `balanced` against its stated ceiling and
 * movement guarantee; every strategy for order independence, labels, the
 * per-agent view, the diff, and input validation. The grid is sampled (all
 * small sizes, then edges: items < agents, = agents, multiples, +-1, 200 x
 * 1000) to stay within seconds under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>

#include "sharding/shard.h"
#include "sharding/shard_hash.h"

/* ======================== helpers ======================== */

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void shuffle_agents(struct shard_agent *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        struct shard_agent t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void shuffle_jobs(struct shard_job *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        struct shard_job t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Names live in static pools so fixtures are cheap. */
#define POOL 4096
#define JOB_POOL 20000
static char agent_ids[POOL][24];
static char job_names[JOB_POOL][24];

static int setup_pools(void **state)
{
    (void)state;
    for (int i = 0; i < POOL; i++)
        snprintf(agent_ids[i], sizeof agent_ids[i], "agent-%04d", i);
    for (int i = 0; i < JOB_POOL; i++)
        snprintf(job_names[i], sizeof job_names[i], "job-%05d", i);
    return 0;
}

/* agents_make: n agents "agent-0000".. with capacity 1, handed over in a
 * shuffled order so every test also exercises order independence. */
static struct shard_agent *agents_make(int n, int shuffled)
{
    struct shard_agent *a = calloc((size_t)(n ? n : 1), sizeof *a);
    assert_non_null(a);
    for (int i = 0; i < n; i++)
        a[i] = (struct shard_agent){agent_ids[i], NULL, 0, 1};
    if (shuffled)
        shuffle_agents(a, n);
    return a;
}

static struct shard_assignment *assign_ok(const struct shard_job *jobs, int njobs,
                                          const struct shard_agent *agents, int nagents)
{
    struct shard_assignment *a = NULL;
    struct sc_err err;
    int rc = shard_check(jobs, njobs, agents, nagents, &err);
    if (rc != 0)
        fail_msg("shard_check: %s: %s", err.field, err.msg);
    assert_int_equal(shard_assign(jobs, njobs, agents, nagents, &a), 0);
    assert_non_null(a);
    return a;
}

/* owner_id: id of the owner of (job, item) or NULL. */
static const char *owner_id(const struct shard_assignment *a, int job, int item)
{
    int o = shard_owner(a, job, item);
    assert_true(o >= -1 && o < shard_nagents(a));
    return o < 0 ? NULL : shard_agent_id(a, o);
}

/* Independent reference FNV-1a 32 (the published algorithm, written again). */
static uint32_t ref_fnv32(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* java_hash: Java's String.hashCode for an ASCII string. */
static int32_t java_hash(const char *s)
{
    uint32_t h = 0;
    while (*s)
        h = 31 * h + (uint8_t)*s++;
    return (int32_t)h;
}

/* elasticjob_average: ElasticJob's AverageAllocationJobShardingStrategy as
 * written there: position p first gets [p*q, (p+1)*q), then the first m % n
 * positions one remainder item each, in order. Fills pos[item]. */
static void elasticjob_average(int n, int m, int *pos)
{
    int q = m / n;
    for (int p = 0; p < n; p++)
        for (int i = p * q; i < (p + 1) * q; i++)
            pos[i] = p;
    int aliquant = m % n;
    for (int p = 0; p < n; p++)
        if (p < aliquant)
            pos[m / n * n + p] = p;
}

/* ceiling: the balanced strategy's stated bound, computed here independently. */
static long long ceiling(long long T, long long w, long long W)
{
    return (T * w * 5 + W * 4 - 1) / (W * 4);
}

/* ======================== names and hashes ======================== */

static void test_strategy_names(void **state)
{
    (void)state;
    const char *names[] = {"average", "odd_even", "round_robin", "balanced"};
    enum shard_strategy s;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(shard_strategy_parse(names[i], &s), 0);
        assert_int_equal(s, i);
        assert_string_equal(shard_strategy_name(s), names[i]);
    }
    assert_int_equal(shard_strategy_parse("Average", &s), -EINVAL);
    assert_int_equal(shard_strategy_parse("", &s), -EINVAL);
    assert_int_equal(shard_strategy_parse("rotate", &s), -EINVAL);
    assert_int_equal(shard_strategy_parse(NULL, &s), -EINVAL);
    assert_string_equal(shard_strategy_name((enum shard_strategy)9), "unknown");
}

static void test_fnv_vectors(void **state)
{
    (void)state;
    /* published FNV-1a test vectors */
    assert_int_equal(shard_fnv1a32(""), 0x811c9dc5u);
    assert_int_equal(shard_fnv1a32("a"), 0xe40c292cu);
    assert_int_equal(shard_fnv1a32("foobar"), 0xbf9cf968u);
    assert_true(shard_fnv1a64("") == 0xcbf29ce484222325ULL);
    assert_true(shard_fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(shard_fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

static void test_neglog_accuracy(void **state)
{
    (void)state;
    double worst = 0, sum = 0;
    int n = 0;
    uint64_t s = 7;
    for (int i = 0; i < 200000; i++) {
        s = shard_mix64(s + (uint64_t)i);
        uint64_t h = s >> (i % 34); /* all magnitudes down to 2^30 */
        if (h < (1ULL << 30))       /* below, Q58 keeps the absolute error < 2^-57 */
            continue;
        double v = ldexp((double)h, -64), ref = -log1p(-v);
        double got = ldexp((double)shard_neglog(h), -SHARD_Q);
        double rel = fabs(got - ref) / ref;
        if (rel > worst)
            worst = rel;
        if (i % 34 == 0) { /* uniform h: an exponential variate, mean 1 */
            sum += got;
            n++;
        }
    }
    if (worst > 1e-6)
        fail_msg("shard_neglog relative error %g", worst);
    assert_true(fabs(sum / n - 1.0) < 0.02);
    assert_true(fabs(ldexp((double)shard_neglog(1ULL << 63), -SHARD_Q) - log(2.0)) < 1e-12);
    assert_true(fabs(ldexp((double)shard_neglog(3ULL << 62), -SHARD_Q) - log(4.0)) < 1e-12);
    assert_true(shard_neglog(0) == 0);
}

/* ======================== ElasticJob strategies ======================== */

/* expect_items: agent `id` owns exactly items[0..n) of job 0. */
static void expect_items(const struct shard_assignment *a, const char *id, const int *items, int n)
{
    int got[16], k = shard_agent_find(a, id);
    assert_true(k >= 0);
    assert_int_equal(shard_agent_items(a, k, 0, got, 16), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(got[i], items[i]);
}

static void test_elasticjob_examples(void **state)
{
    (void)state;
    /* ids given out of order: the strategy ranks them */
    struct shard_agent ag[] = {{"c", NULL, 0, 1}, {"a", NULL, 0, 1}, {"b", NULL, 0, 1}};
    struct shard_job job = {"settle", 8, SHARD_AVERAGE, NULL, 0};
    struct shard_assignment *a = assign_ok(&job, 1, ag, 3);
    expect_items(a, "a", (int[]){0, 1, 6}, 3);
    expect_items(a, "b", (int[]){2, 3, 7}, 3);
    expect_items(a, "c", (int[]){4, 5}, 2);
    assert_int_equal(shard_owner(a, 0, 6), 1); /* index into the caller's array: "a" */
    shard_assignment_free(a);

    job.items = 9;
    a = assign_ok(&job, 1, ag, 3);
    expect_items(a, "a", (int[]){0, 1, 2}, 3);
    expect_items(a, "b", (int[]){3, 4, 5}, 3);
    expect_items(a, "c", (int[]){6, 7, 8}, 3);
    shard_assignment_free(a);

    job.items = 10;
    a = assign_ok(&job, 1, ag, 3);
    expect_items(a, "a", (int[]){0, 1, 2, 9}, 4);
    expect_items(a, "b", (int[]){3, 4, 5}, 3);
    expect_items(a, "c", (int[]){6, 7, 8}, 3);
    shard_assignment_free(a);

    job.items = 2; /* fewer items than agents: the first agents get one each */
    a = assign_ok(&job, 1, ag, 3);
    expect_items(a, "a", (int[]){0}, 1);
    expect_items(a, "b", (int[]){1}, 1);
    expect_items(a, "c", NULL, 0);
    shard_assignment_free(a);
}

/* name_with_parity: a job name whose FNV-1a-32 has the given low bit. */
static const char *name_with_parity(int odd)
{
    for (int i = 0; i < POOL; i++)
        if ((int)(ref_fnv32(job_names[i]) & 1) == odd)
            return job_names[i];
    fail_msg("no name with parity %d", odd);
    return NULL;
}

static void test_odd_even_orientation(void **state)
{
    (void)state;
    struct shard_agent ag[] = {{"b", NULL, 0, 1}, {"c", NULL, 0, 1}, {"a", NULL, 0, 1}};
    struct shard_job job = {name_with_parity(0), 2, SHARD_ODD_EVEN, NULL, 0};
    /* ElasticJob's own example: 3 servers, 2 items; ascending 1=[0] 2=[1] 3=[] */
    struct shard_assignment *a = assign_ok(&job, 1, ag, 3);
    expect_items(a, "a", (int[]){0}, 1);
    expect_items(a, "b", (int[]){1}, 1);
    expect_items(a, "c", NULL, 0);
    shard_assignment_free(a);
    /* descending: 3=[0] 2=[1] 1=[] */
    job.name = name_with_parity(1);
    a = assign_ok(&job, 1, ag, 3);
    expect_items(a, "c", (int[]){0}, 1);
    expect_items(a, "b", (int[]){1}, 1);
    expect_items(a, "a", NULL, 0);
    shard_assignment_free(a);
    /* For ASCII names we go descending exactly when ElasticJob does (Java
     * hashCode even): both low bits are the XOR of the bytes' low bits. */
    for (int i = 0; i < JOB_POOL; i++) {
        int ej_desc = java_hash(job_names[i]) % 2 == 0;
        int our_desc = (int)(shard_fnv1a32(job_names[i]) & 1);
        assert_int_equal(ej_desc, our_desc);
    }
}

static void test_round_robin_rotation(void **state)
{
    (void)state;
    struct shard_agent *ag = agents_make(7, 1);
    for (int t = 0; t < 40; t++) {
        struct shard_job job = {job_names[t], 7, SHARD_ROUND_ROBIN, NULL, 0};
        struct shard_assignment *a = assign_ok(&job, 1, ag, 7);
        int off = (int)(ref_fnv32(job_names[t]) % 7);
        for (int i = 0; i < 7; i++) /* one item each: item i on sorted[(i + off) % 7] */
            assert_string_equal(owner_id(a, 0, i), agent_ids[(i + off) % 7]);
        shard_assignment_free(a);
    }
    free(ag);
}

/* The average family over the grid, against the ElasticJob transcription. */
/* grid_items: for n agents, 1..40 items, fixed edges up to 1000, and the
 * edges of n itself: n-1, n, n+1 (items vs agents), 2n-1..2n+1, 7n and the
 * largest multiple of n up to 1000, +-1. Values over 1000 are dropped. */
static int grid_items(int n, int *m)
{
    int c = 0;
    for (int i = 1; i <= 40; i++)
        m[c++] = i;
    const int edges[] = {50,  63,  64,  99,  100, 101, 199, 200, 201,
                         255, 256, 399, 400, 401, 600, 999, 1000};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        m[c++] = edges[i];
    int top = 1000 / n * n;
    const int rel[] = {n - 1, n, n + 1, 2 * n - 1, 2 * n, 2 * n + 1, 7 * n, top - 1, top, top + 1};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++)
        if (rel[i] >= 1 && rel[i] <= 1000)
            m[c++] = rel[i];
    return c;
}

static void test_average_family_grid(void **state)
{
    (void)state;
    int m[80], pos[1000], order[200], cnt[200];
    struct shard_job *jobs = calloc(80 * 3, sizeof *jobs);
    assert_non_null(jobs);
    for (int n = 1; n <= 200; n++) { /* every agent count */
        int nm = grid_items(n, m), nj = 0;
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < nm; i++, nj++)
                jobs[nj] = (struct shard_job){job_names[nj], m[i], (enum shard_strategy)s, NULL, 0};
        struct shard_agent *ag = agents_make(n, 1);
        struct shard_assignment *a = assign_ok(jobs, nj, ag, n);
        for (int j = 0; j < nj; j++) {
            uint32_t h = ref_fnv32(jobs[j].name);
            for (int p = 0; p < n; p++) { /* the strategy's agent order, by rank */
                if (jobs[j].strategy == SHARD_ODD_EVEN && (h & 1))
                    order[p] = n - 1 - p;
                else if (jobs[j].strategy == SHARD_ROUND_ROBIN)
                    order[p] = (int)((p + h % (uint32_t)n) % (uint32_t)n);
                else
                    order[p] = p;
            }
            elasticjob_average(n, jobs[j].items, pos);
            memset(cnt, 0, sizeof cnt);
            for (int i = 0; i < jobs[j].items; i++) {
                const char *id = owner_id(a, j, i);
                assert_non_null(id); /* exactly one owner */
                assert_string_equal(id, agent_ids[order[pos[i]]]);
                cnt[shard_owner(a, j, i)]++;
            }
            int lo = jobs[j].items, hi = 0;
            for (int k = 0; k < n; k++) {
                lo = cnt[k] < lo ? cnt[k] : lo;
                hi = cnt[k] > hi ? cnt[k] : hi;
            }
            assert_true(hi - lo <= 1); /* balance within one item */
            assert_int_equal(shard_job_eligible(a, j), n);
        }
        shard_assignment_free(a);
        free(ag);
    }
    free(jobs);
}

/* ======================== order independence ======================== */

static const char *const L_X[] = {"x"}, *const L_Y[] = {"y"}, *const L_XY[] = {"x", "y"},
                         *const L_Z[] = {"z"};

static void test_order_independence(void **state)
{
    (void)state;
    enum { NA = 60, NJ = 600 };
    struct shard_agent ag[NA];
    struct shard_job jobs[NJ];
    for (int k = 0; k < NA; k++) {
        const char *const *l = k % 3 == 0 ? L_X : k % 3 == 1 ? L_XY : NULL;
        ag[k] = (struct shard_agent){agent_ids[k], l, l == L_XY ? 2 : l ? 1 : 0, 1 + k % 5};
    }
    for (int j = 0; j < NJ; j++) {
        const char *const *l = j % 7 == 0 ? L_X : j % 7 == 1 ? L_Y : j % 7 == 2 ? L_Z : NULL;
        jobs[j] =
            (struct shard_job){job_names[j], 1 + j % 9, (enum shard_strategy)(j % 4), l, l ? 1 : 0};
    }
    struct shard_assignment *ref = assign_ok(jobs, NJ, ag, NA);
    for (int round = 0; round < 4; round++) {
        shuffle_agents(ag, NA);
        shuffle_jobs(jobs, NJ);
        struct shard_assignment *a = assign_ok(jobs, NJ, ag, NA);
        for (int j = 0; j < NJ; j++) {
            int rj = shard_job_find(ref, jobs[j].name);
            assert_true(rj >= 0);
            assert_int_equal(shard_job_eligible(a, j), shard_job_eligible(ref, rj));
            for (int i = 0; i < jobs[j].items; i++) {
                const char *x = owner_id(a, j, i), *y = owner_id(ref, rj, i);
                assert_true((x == NULL) == (y == NULL));
                if (x)
                    assert_string_equal(x, y);
                /* indices are into this call's array */
                if (x)
                    assert_string_equal(ag[shard_owner(a, j, i)].id, x);
            }
        }
        struct shard_change *ch;
        assert_int_equal(shard_diff(ref, a, &ch), 0);
        assert_null(ch);
        assert_int_equal(shard_spilled(a), shard_spilled(ref));
        shard_assignment_free(a);
    }
    shard_assignment_free(ref);
}

/* ======================== labels ======================== */

static void test_labels_all_of(void **state)
{
    (void)state;
    static const char *const XX[] = {"x", "x"};
    struct shard_agent ag[] = {{"d", NULL, 0, 1},
                               {"a", L_X, 1, 1},
                               {"b", (const char *const[]){"y", "x"}, 2, 1},
                               {"c", L_Y, 1, 1}};
    for (int s = 0; s < 4; s++) {
        struct shard_job jobs[] = {
            {"both", 6, (enum shard_strategy)s, L_XY, 2}, /* only b */
            {"x", 6, (enum shard_strategy)s, L_X, 1},     /* a, b */
            {"xx", 6, (enum shard_strategy)s, XX, 2},     /* repeats change nothing */
            {"z", 3, (enum shard_strategy)s, L_Z, 1},     /* nobody carries z */
            {"none", 8, (enum shard_strategy)s, NULL, 0}, /* everyone */
        };
        struct shard_assignment *a = assign_ok(jobs, 5, ag, 4);
        assert_int_equal(shard_job_eligible(a, 0), 1);
        assert_int_equal(shard_job_eligible(a, 1), 2);
        assert_int_equal(shard_job_eligible(a, 2), 2);
        assert_int_equal(shard_job_eligible(a, 3), 0);
        assert_int_equal(shard_job_eligible(a, 4), 4);
        for (int i = 0; i < 6; i++) {
            assert_string_equal(owner_id(a, 0, i), "b");
            const char *o = owner_id(a, 1, i);
            assert_true(strcmp(o, "a") == 0 || strcmp(o, "b") == 0);
            o = owner_id(a, 2, i);
            assert_true(strcmp(o, "a") == 0 || strcmp(o, "b") == 0);
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(shard_owner(a, 3, i), -1); /* "no eligible agent" */
        int seen[4] = {0};
        for (int i = 0; i < 8; i++)
            seen[shard_owner(a, 4, i)] = 1;
        if (s != SHARD_BALANCED) /* average family: 8 items over 4 agents, 2 each */
            assert_int_equal(seen[0] + seen[1] + seen[2] + seen[3], 4);
        if (s == SHARD_AVERAGE) { /* x-job over (a, b): a=[0,1,2], b=[3,4,5] */
            assert_string_equal(owner_id(a, 1, 0), "a");
            assert_string_equal(owner_id(a, 1, 5), "b");
        }
        shard_assignment_free(a);
    }
}

static void test_no_agents(void **state)
{
    (void)state;
    struct shard_job jobs[] = {{"a", 3, SHARD_AVERAGE, NULL, 0}, {"b", 2, SHARD_BALANCED, NULL, 0}};
    struct shard_assignment *a = assign_ok(jobs, 2, NULL, 0);
    for (int j = 0; j < 2; j++) {
        assert_int_equal(shard_job_eligible(a, j), 0);
        for (int i = 0; i < jobs[j].items; i++)
            assert_int_equal(shard_owner(a, j, i), -1);
    }
    shard_assignment_free(a);
    a = assign_ok(NULL, 0, NULL, 0); /* nothing at all is fine too */
    assert_int_equal(shard_njobs(a), 0);
    shard_assignment_free(a);
}

/* ======================== balanced ======================== */

/* check_ceiling: every agent's total (all jobs balanced) within the bound;
 * sums add up; nothing overflowed. Returns the total. */
static long long check_ceiling(const struct shard_assignment *a, const struct shard_agent *ag,
                               int n)
{
    long long T = 0, W = 0, sum = 0;
    for (int j = 0; j < shard_njobs(a); j++)
        T += shard_job_items(a, j);
    for (int k = 0; k < n; k++)
        W += ag[k].capacity;
    for (int k = 0; k < n; k++) {
        long long c = ceiling(T, ag[k].capacity, W), l = shard_agent_load(a, k);
        if (l > c)
            fail_msg("agent %s load %lld over its ceiling %lld (T=%lld, n=%d)", ag[k].id, l, c, T,
                     n);
        sum += l;
    }
    assert_int_equal(sum, T);
    assert_int_equal(shard_overflow(a), 0);
    return T;
}

static struct shard_job *balanced_jobs(int nj, int per)
{
    struct shard_job *jobs = calloc((size_t)nj, sizeof *jobs);
    assert_non_null(jobs);
    for (int j = 0; j < nj; j++)
        jobs[j] = (struct shard_job){job_names[j], per, SHARD_BALANCED, NULL, 0};
    return jobs;
}

static void test_balanced_ceiling(void **state)
{
    (void)state;
    static const int ns[] = {1,  2,  3,  4,  5,  6,  7,   8,   9,   10, 13,
                             16, 20, 33, 50, 64, 99, 100, 150, 199, 200};
    static const int fixed[] = {1, 2, 3, 5, 8, 13, 50, 99, 100, 101, 199, 200, 201, 400, 1000};
    for (size_t g = 0; g < sizeof ns / sizeof *ns; g++) {
        int n = ns[g], Ts[32], nT = 0;
        for (size_t t = 0; t < sizeof fixed / sizeof *fixed; t++)
            Ts[nT++] = fixed[t];
        /* around the agent count, and 5 and 20 per agent where ceilings bind */
        const int rel[] = {n - 1, n, n + 1, 5 * n, 20 * n, 4000};
        for (size_t t = 0; t < sizeof rel / sizeof *rel; t++)
            if (rel[t] >= 1 && rel[t] <= 4000)
                Ts[nT++] = rel[t];
        for (int t = 0; t < nT; t++)
            for (int het = 0; het < 2; het++)
                for (int per = 1; per <= 8; per *= 8) {
                    int nj = (Ts[t] + per - 1) / per;
                    struct shard_job *jobs = balanced_jobs(nj, per);
                    struct shard_agent *ag = agents_make(n, 1);
                    for (int k = 0; het && k < n; k++)
                        ag[k].capacity = 1 + (int)(rnd() % 8);
                    struct shard_assignment *a = assign_ok(jobs, nj, ag, n);
                    check_ceiling(a, ag, n);
                    shard_assignment_free(a);
                    free(ag);
                    free(jobs);
                }
    }
}

static void test_balanced_spreads_single_item_jobs(void **state)
{
    (void)state;
    /* 50 single-item jobs over 50 agents: the ceiling is ceil(5/4) = 2, so
     * nothing piles up on the first agent (average puts all 50 there). */
    struct shard_job *jobs = balanced_jobs(50, 1);
    struct shard_agent *ag = agents_make(50, 1);
    struct shard_assignment *a = assign_ok(jobs, 50, ag, 50);
    int busy = 0;
    for (int k = 0; k < 50; k++) {
        assert_true(shard_agent_load(a, k) <= 2);
        busy += shard_agent_load(a, k) > 0;
    }
    assert_true(busy >= 25);
    shard_assignment_free(a);
    for (int j = 0; j < 50; j++)
        jobs[j].strategy = SHARD_AVERAGE;
    a = assign_ok(jobs, 50, ag, 50);
    assert_int_equal(shard_agent_load(a, shard_agent_find(a, "agent-0000")), 50);
    shard_assignment_free(a);
    free(ag);
    free(jobs);
}

static void test_balanced_capacity_weights(void **state)
{
    (void)state;
    /* 20000 single-item jobs over capacities 1..4: HRW itself follows the
     * weights (the ceiling only caps): each share within 5% of w/W. */
    enum { NJ = 20000 };
    struct shard_job *jobs = balanced_jobs(NJ, 1);
    struct shard_agent ag[4];
    for (int k = 0; k < 4; k++)
        ag[k] = (struct shard_agent){agent_ids[k], NULL, 0, k + 1};
    struct shard_assignment *a = assign_ok(jobs, NJ, ag, 4);
    check_ceiling(a, ag, 4);
    for (int k = 0; k < 4; k++) {
        double share = shard_agent_load(a, k) / (double)NJ, want = (k + 1) / 10.0;
        if (fabs(share / want - 1) > 0.05)
            fail_msg("capacity %d got share %.4f, want %.4f", k + 1, share, want);
    }
    assert_int_equal(shard_spilled(a), 0);
    shard_assignment_free(a);
    free(jobs);
}

/* movement: from A (agents ag[0..n)) to B; `who` is the leaver (in A) or the
 * joiner (in B). Checks the guarantee and returns the number of moves. */
static int check_movement(const struct shard_assignment *A, const struct shard_assignment *B,
                          const char *who, int leave)
{
    struct shard_change *ch;
    int n = shard_diff(A, B, &ch), own = 0, other = 0;
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        assert_non_null(ch[i].from); /* every item keeps an owner */
        assert_non_null(ch[i].to);
        if (strcmp(leave ? ch[i].from : ch[i].to, who) == 0)
            own++;
        else
            other++;
    }
    int k = leave ? shard_agent_find(A, who) : shard_agent_find(B, who);
    /* the leaver's items all move; the joiner's items all came from elsewhere */
    assert_int_equal(own, shard_agent_load(leave ? A : B, k));
    int slack = shard_spilled(A) + shard_spilled(B);
    if (other > slack)
        fail_msg("%s %s: %d extra moves, spilled %d + %d", leave ? "leave" : "join", who, other,
                 shard_spilled(A), shard_spilled(B));
    free(ch);
    return n;
}

static void test_balanced_movement(void **state)
{
    (void)state;
    static const int ns[] = {1, 2, 3, 4, 5, 7, 8, 13, 20, 33, 50, 100, 199, 200};
    static const int fixed[] = {1, 3, 10, 30, 100, 300, 1000, 3000};
    int strict_cases = 0, slack_cases = 0;
    for (size_t g = 0; g < sizeof ns / sizeof *ns; g++) {
        int n = ns[g], Ts[16], nT = 0;
        for (size_t t = 0; t < sizeof fixed / sizeof *fixed; t++)
            Ts[nT++] = fixed[t];
        Ts[nT++] = n; /* one per agent, and 20 per agent: the ceiling binds */
        if (20 * n <= 4000)
            Ts[nT++] = 20 * n;
        for (int t = 0; t < nT; t++)
            for (int het = 0; het < 2; het++) {
                int per = t % 2 ? 8 : 1, nj = (Ts[t] + per - 1) / per;
                struct shard_job *jobs = balanced_jobs(nj, per);
                struct shard_agent *ag = agents_make(n + 1, 0);
                long long W = 0;
                for (int k = 0; k <= n; k++) {
                    ag[k].capacity = het ? 1 + (int)(rnd() % 4) : 1;
                    W += k < n ? ag[k].capacity : 0;
                }
                struct shard_assignment *A = assign_ok(jobs, nj, ag, n);
                /* join: agent n arrives */
                struct shard_assignment *B = assign_ok(jobs, nj, ag, n + 1);
                int moved = check_movement(A, B, ag[n].id, 0);
                long long T = (long long)nj * per;
                long long bound = ceiling(T, ag[n].capacity, W + ag[n].capacity) +
                                  shard_spilled(A) + shard_spilled(B);
                assert_true(moved <= bound);
                if (!het) /* the brief's form: ceil(total/agents) + slack, slack = T/(4n) + 1 +
                             spills */
                    assert_true(moved <= (T + n) / (n + 1) + T / (4 * (n + 1)) + 1 +
                                             shard_spilled(A) + shard_spilled(B));
                strict_cases += shard_spilled(A) + shard_spilled(B) == 0;
                slack_cases += shard_spilled(A) + shard_spilled(B) > 0;
                shard_assignment_free(B);
                /* leave: every agent in turn up to 13, then a sample */
                for (int L = 0; L < n && n > 1; L += n > 13 ? n / 5 : 1) {
                    struct shard_agent *g2 = agents_make(n - 1, 0);
                    for (int k = 0, x = 0; k < n; k++)
                        if (k != L)
                            g2[x++] = ag[k];
                    B = assign_ok(jobs, nj, g2, n - 1);
                    check_movement(A, B, ag[L].id, 1);
                    shard_assignment_free(B);
                    free(g2);
                }
                shard_assignment_free(A);
                free(ag);
                free(jobs);
            }
    }
    assert_true(strict_cases > 0); /* both sides of the guarantee were exercised */
    assert_true(slack_cases > 0);
}

static void test_balanced_strict_at_scale(void **state)
{
    (void)state;
    /* 4000 items over 20 agents: the ceiling (250) is far above HRW's spread,
     * nothing spills, and exactly the leaver's items move. */
    struct shard_job *jobs = balanced_jobs(500, 8);
    struct shard_agent *ag = agents_make(20, 0);
    struct shard_assignment *A = assign_ok(jobs, 500, ag, 20);
    struct shard_assignment *B = assign_ok(jobs, 500, ag + 1, 19);
    assert_int_equal(shard_spilled(A), 0);
    assert_int_equal(shard_spilled(B), 0);
    assert_int_equal(check_movement(A, B, ag[0].id, 1), shard_agent_load(A, 0));
    assert_int_equal(check_movement(B, A, ag[0].id, 0), shard_agent_load(A, 0));
    shard_assignment_free(A);
    shard_assignment_free(B);
    free(ag);
    free(jobs);
}

static void test_balanced_labels(void **state)
{
    (void)state;
    /* 30 agents, every third carries "gpu"; 300 gpu jobs and 900 plain ones:
     * gpu items only on gpu agents, and since they are walked first they all
     * fit under the ceilings. */
    enum { NA = 30, NJ = 1200 };
    static const char *const GPU[] = {"gpu"};
    struct shard_agent *ag = agents_make(NA, 0);
    for (int k = 0; k < NA; k += 3) {
        ag[k].labels = GPU;
        ag[k].nlabels = 1;
    }
    struct shard_job *jobs = balanced_jobs(NJ, 1);
    for (int j = 0; j < 300; j++) {
        jobs[j].labels = GPU;
        jobs[j].nlabels = 1;
    }
    struct shard_assignment *a = assign_ok(jobs, NJ, ag, NA);
    for (int j = 0; j < 300; j++)
        assert_int_equal(shard_owner(a, j, 0) % 3, 0);
    check_ceiling(a, ag, NA);
    shard_assignment_free(a);
    /* 1 gpu agent, 100 gpu items: its ceiling is 5, so 95 overflow onto it */
    for (int k = 3; k < NA; k += 3)
        ag[k].nlabels = 0;
    a = assign_ok(jobs, 100, ag, NA);
    assert_int_equal(shard_agent_load(a, 0), 100);
    assert_int_equal(shard_overflow(a), 100 - ceiling(100, 1, NA));
    shard_assignment_free(a);
    free(jobs);
    free(ag);
}

/* ======================== per-agent view and diff ======================== */

static void test_agent_view(void **state)
{
    (void)state;
    struct shard_job jobs[] = {{"j0", 10, SHARD_AVERAGE, NULL, 0},
                               {"j1", 5, SHARD_BALANCED, NULL, 0},
                               {"j2", 4, SHARD_ROUND_ROBIN, L_Z, 1}};
    struct shard_agent *ag = agents_make(4, 1);
    struct shard_assignment *a = assign_ok(jobs, 3, ag, 4);
    int total = 0;
    for (int k = 0; k < 4; k++) {
        struct shard_slot *s;
        int n = shard_agent_slots(a, k, &s), x = 0;
        assert_int_equal(n, shard_agent_load(a, k));
        total += n;
        for (int j = 0; j < 3; j++) {
            int items[16], c = shard_agent_items(a, k, j, items, 16);
            assert_true(c >= 0);
            for (int i = 0; i < c; i++, x++) {
                assert_int_equal(shard_owner(a, j, items[i]), k);
                assert_int_equal(s[x].job, j);
                assert_int_equal(s[x].item, items[i]);
                if (i > 0)
                    assert_true(items[i] > items[i - 1]);
            }
            if (c > 1) /* a short buffer still reports the count */
                assert_int_equal(shard_agent_items(a, k, j, items, 1), c);
        }
        assert_int_equal(x, n);
        free(s);
    }
    assert_int_equal(total, 15); /* j2 has no eligible agent */
    assert_int_equal(shard_job_eligible(a, 2), 0);
    assert_int_equal(shard_job_find(a, "j1"), 1);
    assert_int_equal(shard_job_find(a, "nope"), -1);
    assert_string_equal(shard_agent_id(a, shard_agent_find(a, "agent-0002")), "agent-0002");
    assert_int_equal(shard_agent_find(a, "agent-9"), -1);
    /* out of range */
    assert_int_equal(shard_owner(a, 3, 0), -EINVAL);
    assert_int_equal(shard_owner(a, 0, 10), -EINVAL);
    assert_int_equal(shard_owner(a, -1, 0), -EINVAL);
    assert_int_equal(shard_agent_items(a, 4, 0, NULL, 0), -EINVAL);
    assert_int_equal(shard_agent_load(a, -1), -EINVAL);
    assert_int_equal(shard_job_items(a, 3), -EINVAL);
    assert_null(shard_job_name(a, 3));
    assert_null(shard_agent_id(a, 4));
    struct shard_slot *s;
    assert_int_equal(shard_agent_slots(a, 4, &s), -EINVAL);
    shard_assignment_free(a);
    shard_assignment_free(NULL);
    free(ag);
}

/* expected_diff: the changes computed the slow way, by name and id lookups. */
static int expected_diff(const struct shard_assignment *o, const struct shard_assignment *n,
                         struct shard_change *out)
{
    const char *names[64];
    int nn = 0, c = 0;
    for (int j = 0; j < shard_njobs(o); j++)
        names[nn++] = shard_job_name(o, j);
    for (int j = 0; j < shard_njobs(n); j++)
        if (shard_job_find(o, shard_job_name(n, j)) < 0)
            names[nn++] = shard_job_name(n, j);
    for (int x = 0; x < nn; x++) /* selection sort by name */
        for (int y = x + 1; y < nn; y++)
            if (strcmp(names[y], names[x]) < 0) {
                const char *t = names[x];
                names[x] = names[y];
                names[y] = t;
            }
    for (int x = 0; x < nn; x++) {
        int jo = shard_job_find(o, names[x]), jn = shard_job_find(n, names[x]);
        int mo = jo < 0 ? 0 : shard_job_items(o, jo), mn = jn < 0 ? 0 : shard_job_items(n, jn);
        for (int i = 0; i < (mo > mn ? mo : mn); i++) {
            const char *f = i < mo ? owner_id(o, jo, i) : NULL;
            const char *t = i < mn ? owner_id(n, jn, i) : NULL;
            if ((f == NULL) != (t == NULL) || (f && strcmp(f, t) != 0))
                out[c++] = (struct shard_change){names[x], i, f, t};
        }
    }
    return c;
}

static void same_changes(const struct shard_change *a, int na, const struct shard_change *b, int nb)
{
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_string_equal(a[i].job, b[i].job);
        assert_int_equal(a[i].item, b[i].item);
        assert_true((a[i].from == NULL) == (b[i].from == NULL));
        assert_true((a[i].to == NULL) == (b[i].to == NULL));
        if (a[i].from)
            assert_string_equal(a[i].from, b[i].from);
        if (a[i].to)
            assert_string_equal(a[i].to, b[i].to);
    }
}

static void test_diff(void **state)
{
    (void)state;
    struct shard_agent old_ag[] = {{"a", NULL, 0, 1}, {"b", NULL, 0, 1}, {"c", L_X, 1, 1}};
    struct shard_agent new_ag[] = {{"d", L_X, 1, 1}, {"b", NULL, 0, 1}, {"a", NULL, 0, 1}};
    struct shard_job old_jobs[] = {{"settle", 8, SHARD_AVERAGE, NULL, 0},
                                   {"gone", 3, SHARD_ROUND_ROBIN, NULL, 0},
                                   {"grow", 2, SHARD_AVERAGE, NULL, 0},
                                   {"xonly", 4, SHARD_BALANCED, L_X, 1},
                                   {"nowhere", 2, SHARD_AVERAGE, L_Z, 1}};
    struct shard_job new_jobs[] = {{"grow", 6, SHARD_AVERAGE, NULL, 0},
                                   {"settle", 8, SHARD_AVERAGE, NULL, 0},
                                   {"xonly", 4, SHARD_BALANCED, L_X, 1},
                                   {"added", 2, SHARD_ODD_EVEN, NULL, 0},
                                   {"nowhere", 2, SHARD_AVERAGE, L_Z, 1}};
    struct shard_assignment *o = assign_ok(old_jobs, 5, old_ag, 3);
    struct shard_assignment *n = assign_ok(new_jobs, 5, new_ag, 3);
    struct shard_change *ch, want[64];
    int nc = shard_diff(o, n, &ch), nw = expected_diff(o, n, want);
    same_changes(ch, nc, want, nw);
    /* spot checks: the removed job loses its owners, "xonly" moves c -> d,
     * the new job has no previous owner */
    int saw_gone = 0, saw_x = 0, saw_added = 0;
    for (int i = 0; i < nc; i++) {
        saw_gone += strcmp(ch[i].job, "gone") == 0 && ch[i].to == NULL;
        saw_x += strcmp(ch[i].job, "xonly") == 0 && strcmp(ch[i].from, "c") == 0 &&
                 strcmp(ch[i].to, "d") == 0;
        saw_added += strcmp(ch[i].job, "added") == 0 && ch[i].from == NULL;
        assert_true(strcmp(ch[i].job, "nowhere") != 0);
    }
    assert_int_equal(saw_gone, 3);
    assert_int_equal(saw_x, 4);
    assert_int_equal(saw_added, 2);

    /* per agent: the filter of the whole diff */
    const char *who[] = {"a", "b", "c", "d", "e"};
    for (int w = 0; w < 5; w++) {
        struct shard_change *g, *l, gw[64], lw[64];
        int ng, nl, ngw = 0, nlw = 0;
        assert_int_equal(shard_diff_agent(o, n, who[w], &g, &ng, &l, &nl), 0);
        for (int i = 0; i < nc; i++) {
            if (ch[i].to && strcmp(ch[i].to, who[w]) == 0)
                gw[ngw++] = ch[i];
            if (ch[i].from && strcmp(ch[i].from, who[w]) == 0)
                lw[nlw++] = ch[i];
        }
        same_changes(g, ng, gw, ngw);
        same_changes(l, nl, lw, nlw);
        if (w == 3) /* d only gains, and gains xonly's 4 items */
            assert_true(ng >= 4 && nl == 0);
        if (w == 4)
            assert_true(ng == 0 && nl == 0 && g == NULL && l == NULL);
        free(g);
        free(l);
    }
    free(ch);
    /* the reverse direction is the mirror image */
    nc = shard_diff(n, o, &ch);
    assert_int_equal(nc, nw);
    free(ch);
    assert_int_equal(shard_diff(o, o, &ch), 0);
    assert_null(ch);
    shard_assignment_free(o);
    shard_assignment_free(n);
}

/* ======================== validation ======================== */

static void expect_invalid(const struct shard_job *jobs, int nj, const struct shard_agent *ag,
                           int na, const char *field, const char *msg_part)
{
    struct sc_err err;
    struct shard_assignment *a = (struct shard_assignment *)&err; /* must be reset */
    assert_int_equal(shard_check(jobs, nj, ag, na, &err), -EINVAL);
    assert_string_equal(err.field, field);
    if (!strstr(err.msg, msg_part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", field, err.msg, msg_part);
    assert_int_equal(shard_assign(jobs, nj, ag, na, &a), -EINVAL);
    assert_null(a);
}

static void test_validation(void **state)
{
    (void)state;
    struct shard_job ok = {"j", 2, SHARD_AVERAGE, NULL, 0};
    struct shard_agent good = {"a", NULL, 0, 1};
    struct shard_agent bad_ag[][2] = {{good, {NULL, NULL, 0, 1}},
                                      {good, {"", NULL, 0, 1}},
                                      {good, {"b", NULL, 0, 0}},
                                      {good, {"b", NULL, 0, -3}},
                                      {good, {"b", NULL, 0, 2000000}},
                                      {good, {"b", NULL, 2, 1}},
                                      {good, {"b", NULL, -1, 1}},
                                      {good, {"a", NULL, 0, 1}},
                                      {good, {"b", (const char *const[]){"x", ""}, 2, 1}}};
    const char *ag_field[] = {"agents[1].id",       "agents[1].id",       "agents[1].capacity",
                              "agents[1].capacity", "agents[1].capacity", "agents[1].labels",
                              "agents[1].labels",   "agents[1].id",       "agents[1].labels[1]"};
    const char *ag_msg[] = {"non-empty",   "non-empty", "between 1 and", "got -3",
                            "got 2000000", "NULL",      "negative",      "also the id of agents[0]",
                            "non-empty"};
    for (size_t i = 0; i < sizeof bad_ag / sizeof *bad_ag; i++)
        expect_invalid(&ok, 1, bad_ag[i], 2, ag_field[i], ag_msg[i]);

    struct shard_job bad_jobs[][2] = {
        {ok, {NULL, 1, SHARD_AVERAGE, NULL, 0}},
        {ok, {"", 1, SHARD_AVERAGE, NULL, 0}},
        {ok, {"k", -1, SHARD_AVERAGE, NULL, 0}},
        {ok, {"k", SHARD_MAX_ITEMS + 1, SHARD_AVERAGE, NULL, 0}},
        {ok, {"k", 1, (enum shard_strategy)7, NULL, 0}},
        {ok, {"k", 1, SHARD_BALANCED, NULL, 1}},
        {ok, {"k", 1, SHARD_BALANCED, (const char *const[]){NULL}, 1}},
        {ok, {"j", 1, SHARD_BALANCED, NULL, 0}}};
    const char *job_field[] = {"jobs[1].name",      "jobs[1].name",     "jobs[1].items",
                               "jobs[1].items",     "jobs[1].strategy", "jobs[1].labels",
                               "jobs[1].labels[0]", "jobs[1].name"};
    const char *job_msg[] = {
        "non-empty",          "non-empty", "got -1",    "got 100001",
        "unknown strategy 7", "NULL",      "non-empty", "also the name of jobs[0]"};
    for (size_t i = 0; i < sizeof bad_jobs / sizeof *bad_jobs; i++)
        expect_invalid(bad_jobs[i], 2, &good, 1, job_field[i], job_msg[i]);

    expect_invalid(NULL, 2, &good, 1, "jobs", "2 jobs");
    expect_invalid(&ok, 1, NULL, 1, "agents", "1 agents");
    expect_invalid(&ok, -1, &good, 1, "jobs", "-1");
    /* too many items in all */
    struct shard_job *many = balanced_jobs(700, SHARD_MAX_ITEMS);
    expect_invalid(many, 700, &good, 1, "jobs", "at most");
    free(many);
    /* the error record is cleared on success */
    struct sc_err err;
    strcpy(err.field, "stale");
    assert_int_equal(shard_check(&ok, 1, &good, 1, &err), 0);
    assert_string_equal(err.field, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strategy_names),
        cmocka_unit_test(test_fnv_vectors),
        cmocka_unit_test(test_neglog_accuracy),
        cmocka_unit_test(test_elasticjob_examples),
        cmocka_unit_test(test_odd_even_orientation),
        cmocka_unit_test(test_round_robin_rotation),
        cmocka_unit_test(test_average_family_grid),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test(test_labels_all_of),
        cmocka_unit_test(test_no_agents),
        cmocka_unit_test(test_balanced_ceiling),
        cmocka_unit_test(test_balanced_spreads_single_item_jobs),
        cmocka_unit_test(test_balanced_capacity_weights),
        cmocka_unit_test(test_balanced_movement),
        cmocka_unit_test(test_balanced_strict_at_scale),
        cmocka_unit_test(test_balanced_labels),
        cmocka_unit_test(test_agent_view),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, setup_pools, NULL);
}
