/* sharding/shard.c: shard assignment — strategies, label eligibility, the
 * per-agent view and the diff between two epochs. Pure: no I/O, no globals
 * beyond shard_hash.c's constant tables.
 *
 * Order independence: agents are ranked by id and every strategy works on
 * ranks; jobs are independent of each other except under `balanced`, which
 * walks its items in an order derived from names and hashes only. Owners are
 * mapped back to the caller's agent indices when stored.
 *
 * Why `balanced` is weighted rendezvous hashing (HRW) with a load ceiling:
 *  - HRW ranks the agents independently for every (job, item): agent k scores
 *    E_k / capacity_k with E_k = -ln(u_k) exponential from a hash of
 *    (job, item, agent); the lowest score wins, so agent k wins with
 *    probability capacity_k / sum. When an agent leaves, only its own items
 *    change hands (everyone else still wins); when one joins it only takes
 *    items. No ring, no virtual nodes, no state between epochs, and unlike
 *    consistent hashing the spread does not depend on where a few ring points
 *    happen to land.
 *  - Pure HRW is only balanced on average (a few hundred items over fifty
 *    agents can put 30% more on one of them), so each agent also has a hard
 *    ceiling ceil(5/4 * T * capacity / total capacity); an item whose winner is
 *    full goes to its best-ranked agent with room (Mirrokni et al.,
 *    "consistent hashing with bounded loads", over HRW instead of a ring).
 *  - The price: when a ceiling binds, a leave or join can move a few items
 *    besides the ones that must move (a released item fills an agent another
 *    item then spills from). No stateless function can avoid that and keep a
 *    hard ceiling; docs/sharding.md explains and the tests bound it. At
 *    production sizes the ceiling is far above HRW's natural spread and does
 *    not bind, so exactly the leaving agent's items move. */
#include "sharding/shard.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sharding/shard_hash.h"

typedef unsigned __int128 u128;

struct shard_assignment {
    int njobs, nagents;
    int *off;          /* njobs + 1: job j owns owner[off[j] .. off[j+1]) */
    int *owner;        /* caller's agent index, or -1 */
    int *eligible;     /* per job: number of eligible agents */
    int *load;         /* per agent: items owned over all jobs */
    const char **name; /* per job, into arena */
    const char **id;   /* per agent, into arena */
    int *job_by_name;  /* job indices sorted by name */
    int *agent_by_id;  /* agent indices sorted by id */
    int spilled;       /* balanced items placed below their first choice */
    int overflow;      /* balanced items placed above a ceiling */
    char *arena;
};

/* ======================== strategy names ======================== */

static const char *const strategy_names[] = {"average", "odd_even", "round_robin", "balanced"};
#define NSTRATEGIES ((int)(sizeof strategy_names / sizeof strategy_names[0]))

int shard_strategy_parse(const char *name, enum shard_strategy *out)
{
    for (int i = 0; name && i < NSTRATEGIES; i++)
        if (strcmp(name, strategy_names[i]) == 0) {
            *out = (enum shard_strategy)i;
            return 0;
        }
    return -EINVAL;
}

const char *shard_strategy_name(enum shard_strategy s)
{
    return (int)s >= 0 && (int)s < NSTRATEGIES ? strategy_names[s] : "unknown";
}

/* ======================== sorting helpers ======================== */

struct keyed {
    const char *s;
    int idx;
};

static int keyed_cmp(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* sort_by_name: indices 0..n-1 ordered by get(arr, i), equal names by index.
 * Returns a malloc'd array (caller frees; n == 0 gives a 1-element buffer) or
 * NULL on ENOMEM. */
static int *sort_by_name(const char *(*get)(const void *, int), const void *arr, int n)
{
    struct keyed *k = malloc(sizeof *k * (size_t)(n ? n : 1));
    int *out = malloc(sizeof *out * (size_t)(n ? n : 1));
    if (!k || !out) {
        free(k);
        free(out);
        return NULL;
    }
    bool sorted = true;
    for (int i = 0; i < n; i++) {
        k[i] = (struct keyed){get(arr, i), i};
        if (sorted && i > 0 && strcmp(k[i - 1].s, k[i].s) > 0)
            sorted = false;
    }
    /* Input already in name order (equal names stay in index order): that is
     * the sorted order; callers that keep their input sorted skip the sort. */
    if (!sorted)
        qsort(k, (size_t)n, sizeof *k, keyed_cmp);
    for (int i = 0; i < n; i++)
        out[i] = k[i].idx;
    free(k);
    return out;
}

/* first_dup: in `by` (n indices sorted by name, equal names by index), the
 * first pair of equal names: *lo < *hi, or both -1. */
static void first_dup(const char *(*get)(const void *, int), const void *arr, const int *by, int n,
                      int *lo, int *hi)
{
    *lo = *hi = -1;
    for (int i = 1; i < n; i++)
        if (strcmp(get(arr, by[i - 1]), get(arr, by[i])) == 0) {
            *lo = by[i - 1];
            *hi = by[i];
            return;
        }
}

static const char *agent_id_at(const void *arr, int i)
{
    return ((const struct shard_agent *)arr)[i].id;
}

static const char *job_name_at(const void *arr, int i)
{
    return ((const struct shard_job *)arr)[i].name;
}

/* ======================== validation ======================== */

static int check_labels(const char *const *labels, int nlabels, const char *what, int i,
                        struct sc_err *err)
{
    char field[96];
    snprintf(field, sizeof field, "%s[%d].labels", what, i);
    if (nlabels < 0)
        return sc_err_set(err, EINVAL, field, -1, "count must not be negative (got %d)", nlabels);
    if (nlabels > 0 && !labels)
        return sc_err_set(err, EINVAL, field, -1, "is NULL with %d labels", nlabels);
    for (int l = 0; l < nlabels; l++)
        if (!labels[l] || !labels[l][0]) {
            snprintf(field, sizeof field, "%s[%d].labels[%d]", what, i, l);
            return sc_err_set(err, EINVAL, field, -1, "must be a non-empty string");
        }
    return 0;
}

/* check_fields: everything shard_check checks except uniqueness. */
static int check_fields(const struct shard_job *jobs, int njobs, const struct shard_agent *agents,
                        int nagents, struct sc_err *err)
{
    char field[96];
    int rc;
    long long total = 0;

    sc_err_clear(err);
    if (njobs < 0 || (njobs > 0 && !jobs))
        return sc_err_set(err, EINVAL, "jobs", -1, "need an array of %d jobs", njobs);
    if (nagents < 0 || (nagents > 0 && !agents))
        return sc_err_set(err, EINVAL, "agents", -1, "need an array of %d agents", nagents);
    for (int i = 0; i < nagents; i++) {
        const struct shard_agent *ag = &agents[i];
        if (!ag->id || !ag->id[0]) {
            snprintf(field, sizeof field, "agents[%d].id", i);
            return sc_err_set(err, EINVAL, field, -1, "must be a non-empty string");
        }
        if (ag->capacity < 1 || ag->capacity > SHARD_MAX_CAPACITY) {
            snprintf(field, sizeof field, "agents[%d].capacity", i);
            return sc_err_set(err, EINVAL, field, -1, "must be between 1 and %d (got %d)",
                              SHARD_MAX_CAPACITY, ag->capacity);
        }
        if ((rc = check_labels(ag->labels, ag->nlabels, "agents", i, err)) < 0)
            return rc;
    }
    for (int i = 0; i < njobs; i++) {
        const struct shard_job *j = &jobs[i];
        if (!j->name || !j->name[0]) {
            snprintf(field, sizeof field, "jobs[%d].name", i);
            return sc_err_set(err, EINVAL, field, -1, "must be a non-empty string");
        }
        if (j->items < 0 || j->items > SHARD_MAX_ITEMS) {
            snprintf(field, sizeof field, "jobs[%d].items", i);
            return sc_err_set(err, EINVAL, field, -1, "must be between 0 and %d (got %d)",
                              SHARD_MAX_ITEMS, j->items);
        }
        if ((int)j->strategy < 0 || (int)j->strategy >= NSTRATEGIES) {
            snprintf(field, sizeof field, "jobs[%d].strategy", i);
            return sc_err_set(err, EINVAL, field, -1, "unknown strategy %d", (int)j->strategy);
        }
        if ((rc = check_labels(j->labels, j->nlabels, "jobs", i, err)) < 0)
            return rc;
        total += j->items;
    }
    if (total > SHARD_MAX_TOTAL)
        return sc_err_set(err, EINVAL, "jobs", -1, "%lld items in all, at most %d", total,
                          SHARD_MAX_TOTAL);

    return 0;
}

/* check_unique: ids and names unique, given both sorted index arrays. */
static int check_unique(const struct shard_job *jobs, int njobs, const int *job_by_name,
                        const struct shard_agent *agents, int nagents, const int *agent_by_id,
                        struct sc_err *err)
{
    char field[96];
    int lo, hi;
    first_dup(agent_id_at, agents, agent_by_id, nagents, &lo, &hi);
    if (lo >= 0) {
        snprintf(field, sizeof field, "agents[%d].id", hi);
        return sc_err_set(err, EINVAL, field, -1, "\"%s\" is also the id of agents[%d]",
                          agents[hi].id, lo);
    }
    first_dup(job_name_at, jobs, job_by_name, njobs, &lo, &hi);
    if (lo >= 0) {
        snprintf(field, sizeof field, "jobs[%d].name", hi);
        return sc_err_set(err, EINVAL, field, -1, "\"%s\" is also the name of jobs[%d]",
                          jobs[hi].name, lo);
    }
    return 0;
}

int shard_check(const struct shard_job *jobs, int njobs, const struct shard_agent *agents,
                int nagents, struct sc_err *err)
{
    int rc = check_fields(jobs, njobs, agents, nagents, err);
    if (rc < 0)
        return rc;
    int *by_id = sort_by_name(agent_id_at, agents, nagents);
    int *by_name = sort_by_name(job_name_at, jobs, njobs);
    if (!by_id || !by_name)
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
    else
        rc = check_unique(jobs, njobs, by_name, agents, nagents, by_id, err);
    free(by_id);
    free(by_name);
    return rc;
}

/* ======================== eligibility ======================== */

/* Labels become bit positions: every distinct agent label gets one, agents a
 * bitset, labelled jobs a bitset; eligible = job bits are a subset. A job
 * label that no agent carries makes the job ineligible everywhere. */
struct labelset {
    const char **names; /* distinct agent labels, sorted */
    int n, words;
    uint64_t *agent_bits; /* by rank: words each */
};

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int label_bit(const struct labelset *ls, const char *label)
{
    const char **p = bsearch(&label, ls->names, (size_t)ls->n, sizeof *ls->names, str_cmp);
    return p ? (int)(p - ls->names) : -1;
}

static int labelset_build(struct labelset *ls, const struct shard_agent *agents, int n,
                          const int *rank_to_idx)
{
    size_t total = 0;
    memset(ls, 0, sizeof *ls);
    for (int i = 0; i < n; i++)
        total += (size_t)agents[i].nlabels;
    ls->names = malloc(sizeof *ls->names * (total ? total : 1));
    if (!ls->names)
        return -ENOMEM;
    for (int i = 0; i < n; i++)
        for (int l = 0; l < agents[i].nlabels; l++)
            ls->names[ls->n++] = agents[i].labels[l];
    qsort(ls->names, (size_t)ls->n, sizeof *ls->names, str_cmp);
    int u = 0;
    for (int i = 0; i < ls->n; i++)
        if (u == 0 || strcmp(ls->names[u - 1], ls->names[i]) != 0)
            ls->names[u++] = ls->names[i];
    ls->n = u;
    ls->words = (u + 63) / 64;
    ls->agent_bits = calloc((size_t)n * (size_t)ls->words + 1, sizeof *ls->agent_bits);
    if (!ls->agent_bits)
        return -ENOMEM;
    for (int r = 0; r < n; r++) {
        const struct shard_agent *ag = &agents[rank_to_idx[r]];
        for (int l = 0; l < ag->nlabels; l++) {
            int b = label_bit(ls, ag->labels[l]);
            ls->agent_bits[(size_t)r * (size_t)ls->words + (size_t)(b / 64)] |= 1ULL << (b % 64);
        }
    }
    return 0;
}

static void labelset_free(struct labelset *ls)
{
    free(ls->names);
    free(ls->agent_bits);
}

/* job_bits: fill `bits` (ls->words words) for a job's labels; 0, or -1 when a
 * label is carried by no agent. */
static int job_bits(const struct labelset *ls, const struct shard_job *j, uint64_t *bits)
{
    memset(bits, 0, sizeof *bits * (size_t)ls->words);
    for (int l = 0; l < j->nlabels; l++) {
        int b = label_bit(ls, j->labels[l]);
        if (b < 0)
            return -1;
        bits[b / 64] |= 1ULL << (b % 64);
    }
    return 0;
}

static int agent_has(const struct labelset *ls, int rank, const uint64_t *jb)
{
    const uint64_t *ab = ls->agent_bits + (size_t)rank * (size_t)ls->words;
    for (int w = 0; w < ls->words; w++)
        if ((ab[w] & jb[w]) != jb[w])
            return 0;
    return 1;
}

/* ======================== average, odd_even, round_robin ======================== */

/* assign_average: ElasticJob's rule over `order` (n agent ranks): position p
 * gets items [p*q, (p+1)*q) plus item q*n + p when p < m % n. */
static void assign_average(const int *order, int n, int m, const int *rank_to_idx, int *owner)
{
    int q = m / n;
    for (int i = 0; i < m; i++) {
        int p = i < q * n ? i / q : i - q * n;
        owner[i] = rank_to_idx[order[p]];
    }
}

/* assign_simple: eligible ranks `el` (ascending id) arranged per strategy. */
static void assign_simple(const struct shard_job *j, int *el, int n, int *tmp,
                          const int *rank_to_idx, int *owner)
{
    uint32_t h = shard_fnv1a32(j->name);
    const int *order = el;
    if (j->strategy == SHARD_ODD_EVEN && (h & 1)) {
        for (int p = 0; p < n; p++)
            tmp[p] = el[n - 1 - p];
        order = tmp;
    } else if (j->strategy == SHARD_ROUND_ROBIN) {
        int off = (int)(h % (uint32_t)n);
        for (int p = 0; p < n; p++)
            tmp[p] = el[(p + off) % n];
        order = tmp;
    }
    assign_average(order, n, j->items, rank_to_idx, owner);
}

/* ======================== balanced ======================== */

#define GOLDEN 0x9E3779B97F4A7C15ULL

struct bitem {
    uint64_t key;   /* per (job, item): the HRW seed */
    uint64_t top_e; /* E of the first choice */
    int top;        /* first choice (agent rank) */
    int top_w;      /* its capacity: the score is top_e / top_w */
    int nelig;
    int jrank; /* job's rank by name: tie-break for equal keys */
    int job;
    int item;
};

/* better: is score e1/w1 lower than e2/w2 (exact, in 128 bits)? */
static int better(uint64_t e1, int w1, uint64_t e2, int w2)
{
    return (u128)e1 * (u128)w2 < (u128)e2 * (u128)w1;
}

/* The walk: most constrained items first (fewest eligible agents), then the
 * strongest first choices (lowest score) first, then the hash. */
static int bitem_cmp(const void *a, const void *b)
{
    const struct bitem *x = a, *y = b;
    if (x->nelig != y->nelig)
        return x->nelig < y->nelig ? -1 : 1;
    if (better(x->top_e, x->top_w, y->top_e, y->top_w))
        return -1;
    if (better(y->top_e, y->top_w, x->top_e, x->top_w))
        return 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->jrank != y->jrank)
        return x->jrank < y->jrank ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* hrw_pick: the item's best-ranked eligible agent (*top) and best-ranked
 * eligible agent below its ceiling (returned; -1 when all are full). Equal
 * scores go to the lower rank (smaller id), so the ranking is a total order. */
static int hrw_pick(const struct bitem *it, int n, const uint64_t *akey, const int *weight,
                    const struct labelset *ls, const uint64_t *jb, const uint64_t *load,
                    const uint64_t *cap, int *top, uint64_t *top_e_out)
{
    int best = -1;
    uint64_t best_e = 0, top_e = 0;
    *top = -1;
    for (int k = 0; k < n; k++) {
        if (jb && !agent_has(ls, k, jb))
            continue;
        uint64_t e = shard_neglog(shard_mix64(it->key ^ akey[k]));
        if (*top < 0 || better(e, weight[k], top_e, weight[*top])) {
            *top = k;
            top_e = e;
        }
        if (load && load[k] < cap[k] && (best < 0 || better(e, weight[k], best_e, weight[best]))) {
            best = k;
            best_e = e;
        }
    }
    *top_e_out = top_e;
    return best;
}

static int assign_balanced(const struct shard_job *jobs, int njobs,
                           const struct shard_agent *agents, int n, const int *rank_to_idx,
                           const int *job_rank, const int *eligible, const struct labelset *ls,
                           struct shard_assignment *a)
{
    uint64_t T = 0, W = 0;
    size_t nitems = 0;
    int rc = -ENOMEM;

    for (int j = 0; j < njobs; j++)
        if (jobs[j].strategy == SHARD_BALANCED && eligible[j] > 0)
            nitems += (size_t)jobs[j].items;
    if (nitems == 0)
        return 0;
    T = nitems;

    struct bitem *its = malloc(sizeof *its * nitems);
    uint64_t *akey = malloc(sizeof *akey * (size_t)n);
    uint64_t *load = calloc((size_t)n, sizeof *load);
    uint64_t *cap = malloc(sizeof *cap * (size_t)n);
    int *weight = malloc(sizeof *weight * (size_t)n);
    uint64_t *jb = malloc(sizeof *jb * (size_t)(ls->words + 1));
    if (!its || !akey || !load || !cap || !weight || !jb)
        goto err;

    for (int k = 0; k < n; k++) {
        const struct shard_agent *ag = &agents[rank_to_idx[k]];
        akey[k] = shard_mix64(shard_fnv1a64(ag->id) ^ 0xA5A5A5A5A5A5A5A5ULL);
        weight[k] = ag->capacity;
        W += (uint64_t)ag->capacity;
    }
    /* T <= 2^26, capacity <= 2^20, times 5: well inside 64 bits */
    for (int k = 0; k < n; k++) {
        uint64_t num =
            T * (uint64_t)weight[k] * (SHARD_BALANCE_SLACK_DEN + SHARD_BALANCE_SLACK_NUM);
        uint64_t den = W * SHARD_BALANCE_SLACK_DEN;
        cap[k] = (num + den - 1) / den;
    }

    size_t x = 0;
    for (int j = 0; j < njobs; j++) {
        if (jobs[j].strategy != SHARD_BALANCED || eligible[j] == 0)
            continue;
        const uint64_t *jbp = jobs[j].nlabels > 0 ? jb : NULL;
        if (jbp)
            job_bits(ls, &jobs[j], jb); /* cannot fail: the job has eligible agents */
        uint64_t jkey = shard_mix64(shard_fnv1a64(jobs[j].name));
        for (int i = 0; i < jobs[j].items; i++, x++) {
            struct bitem *it = &its[x];
            *it = (struct bitem){.key = shard_mix64(jkey + (uint64_t)(i + 1) * GOLDEN),
                                 .nelig = eligible[j],
                                 .jrank = job_rank[j],
                                 .job = j,
                                 .item = i};
            hrw_pick(it, n, akey, weight, ls, jbp, NULL, NULL, &it->top, &it->top_e);
            it->top_w = weight[it->top];
        }
    }
    /* Label-restricted items go first, so that they find room on their few
     * agents before unrestricted ones fill them. Then strongest preference
     * first: when an agent leaves, its items' first choices get worse, so
     * they come late in the walk and, where an agent is near its ceiling,
     * tend to spill themselves instead of displacing an item that stays. */
    qsort(its, nitems, sizeof *its, bitem_cmp);

    for (x = 0; x < nitems; x++) {
        struct bitem *it = &its[x];
        int k = it->top;
        if (load[k] >= cap[k]) {
            const struct shard_job *j = &jobs[it->job];
            const uint64_t *jbp = j->nlabels > 0 ? jb : NULL;
            uint64_t e;
            if (jbp)
                job_bits(ls, j, jb);
            k = hrw_pick(it, n, akey, weight, ls, jbp, load, cap, &it->top, &e);
            if (k < 0) { /* every eligible agent is full: overflow onto the first choice */
                k = it->top;
                a->overflow++;
            } else {
                a->spilled++;
            }
        }
        load[k]++;
        a->owner[a->off[it->job] + it->item] = rank_to_idx[k];
    }
    rc = 0;
err:
    free(its);
    free(akey);
    free(load);
    free(cap);
    free(weight);
    free(jb);
    return rc;
}

/* ======================== shard_assign ======================== */

void shard_assignment_free(struct shard_assignment *a)
{
    if (!a)
        return;
    free(a->off);
    free(a->owner);
    free(a->eligible);
    free(a->load);
    free(a->name);
    free(a->id);
    free(a->job_by_name);
    free(a->agent_by_id);
    free(a->arena);
    free(a);
}

/* copy_strings: names and ids into one arena. */
static int copy_strings(struct shard_assignment *a, const struct shard_job *jobs,
                        const struct shard_agent *agents)
{
    size_t len = 1;
    for (int j = 0; j < a->njobs; j++)
        len += strlen(jobs[j].name) + 1;
    for (int k = 0; k < a->nagents; k++)
        len += strlen(agents[k].id) + 1;
    if (!(a->arena = malloc(len)))
        return -ENOMEM;
    char *p = a->arena;
    for (int j = 0; j < a->njobs; j++) {
        size_t l = strlen(jobs[j].name) + 1;
        a->name[j] = memcpy(p, jobs[j].name, l);
        p += l;
    }
    for (int k = 0; k < a->nagents; k++) {
        size_t l = strlen(agents[k].id) + 1;
        a->id[k] = memcpy(p, agents[k].id, l);
        p += l;
    }
    return 0;
}

int shard_assign(const struct shard_job *jobs, int njobs, const struct shard_agent *agents,
                 int nagents, struct shard_assignment **out)
{
    int rc;
    struct labelset ls = {0};
    int *job_rank = NULL, *el = NULL, *tmp = NULL;
    uint64_t *jb = NULL;

    *out = NULL;
    if ((rc = check_fields(jobs, njobs, agents, nagents, NULL)) < 0)
        return rc;
    struct shard_assignment *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->njobs = njobs;
    a->nagents = nagents;
    size_t n1 = (size_t)(nagents ? nagents : 1), j1 = (size_t)(njobs ? njobs : 1);
    long long total = 0;
    for (int j = 0; j < njobs; j++)
        total += jobs[j].items;

    rc = -ENOMEM;
    a->off = malloc(sizeof *a->off * (j1 + 1));
    a->owner = malloc(sizeof *a->owner * (size_t)(total ? total : 1));
    a->eligible = malloc(sizeof *a->eligible * j1);
    a->load = calloc(n1, sizeof *a->load);
    a->name = malloc(sizeof *a->name * j1);
    a->id = malloc(sizeof *a->id * n1);
    job_rank = malloc(sizeof *job_rank * j1);
    el = malloc(sizeof *el * n1);
    tmp = malloc(sizeof *tmp * n1);
    if (!a->off || !a->owner || !a->eligible || !a->load || !a->name || !a->id || !job_rank ||
        !el || !tmp)
        goto err;
    if (!(a->agent_by_id = sort_by_name(agent_id_at, agents, nagents)) ||
        !(a->job_by_name = sort_by_name(job_name_at, jobs, njobs)))
        goto err;
    if ((rc = check_unique(jobs, njobs, a->job_by_name, agents, nagents, a->agent_by_id, NULL)) < 0)
        goto err;
    if ((rc = copy_strings(a, jobs, agents)) < 0 ||
        (rc = labelset_build(&ls, agents, nagents, a->agent_by_id)) < 0)
        goto err;
    rc = -ENOMEM;
    if (!(jb = malloc(sizeof *jb * (size_t)(ls.words + 1))))
        goto err;
    for (int r = 0; r < njobs; r++)
        job_rank[a->job_by_name[r]] = r;

    a->off[0] = 0;
    for (int j = 0; j < njobs; j++) {
        const struct shard_job *job = &jobs[j];
        int *owner = a->owner + a->off[j], n = 0;
        a->off[j + 1] = a->off[j] + job->items;
        if (job->nlabels == 0) {
            for (int r = 0; r < nagents; r++)
                el[n++] = r;
        } else if (job_bits(&ls, job, jb) == 0) {
            for (int r = 0; r < nagents; r++)
                if (agent_has(&ls, r, jb))
                    el[n++] = r;
        }
        a->eligible[j] = n;
        if (n == 0 || job->strategy == SHARD_BALANCED)
            for (int i = 0; i < job->items; i++)
                owner[i] = -1; /* balanced fills its items below */
        else
            assign_simple(job, el, n, tmp, a->agent_by_id, owner);
    }
    if ((rc = assign_balanced(jobs, njobs, agents, nagents, a->agent_by_id, job_rank, a->eligible,
                              &ls, a)) < 0)
        goto err;
    for (long long i = 0; i < total; i++)
        if (a->owner[i] >= 0)
            a->load[a->owner[i]]++;
    *out = a;
    a = NULL;
    rc = 0;
err:
    shard_assignment_free(a);
    labelset_free(&ls);
    free(job_rank);
    free(el);
    free(tmp);
    free(jb);
    return rc;
}

/* ======================== accessors ======================== */

static int job_ok(const struct shard_assignment *a, int j)
{
    return a && j >= 0 && j < a->njobs;
}

static int agent_ok(const struct shard_assignment *a, int k)
{
    return a && k >= 0 && k < a->nagents;
}

int shard_owner(const struct shard_assignment *a, int job_index, int item)
{
    if (!job_ok(a, job_index) || item < 0 || item >= a->off[job_index + 1] - a->off[job_index])
        return -EINVAL;
    return a->owner[a->off[job_index] + item];
}

int shard_spilled(const struct shard_assignment *a)
{
    return a->spilled;
}

int shard_overflow(const struct shard_assignment *a)
{
    return a->overflow;
}

int shard_njobs(const struct shard_assignment *a)
{
    return a->njobs;
}

int shard_nagents(const struct shard_assignment *a)
{
    return a->nagents;
}

const char *shard_job_name(const struct shard_assignment *a, int job_index)
{
    return job_ok(a, job_index) ? a->name[job_index] : NULL;
}

const char *shard_agent_id(const struct shard_assignment *a, int agent_index)
{
    return agent_ok(a, agent_index) ? a->id[agent_index] : NULL;
}

int shard_job_items(const struct shard_assignment *a, int job_index)
{
    return job_ok(a, job_index) ? a->off[job_index + 1] - a->off[job_index] : -EINVAL;
}

int shard_job_eligible(const struct shard_assignment *a, int job_index)
{
    return job_ok(a, job_index) ? a->eligible[job_index] : -EINVAL;
}

/* find_sorted: index whose string equals `s` in `by` (n indices sorted by
 * strs[index]), or -1. */
static int find_sorted(const char *const *strs, const int *by, int n, const char *s)
{
    int lo = 0, hi = n - 1;
    while (s && lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(strs[by[mid]], s);
        if (c == 0)
            return by[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int shard_job_find(const struct shard_assignment *a, const char *name)
{
    return find_sorted(a->name, a->job_by_name, a->njobs, name);
}

int shard_agent_find(const struct shard_assignment *a, const char *id)
{
    return find_sorted(a->id, a->agent_by_id, a->nagents, id);
}

/* ======================== per-agent view ======================== */

int shard_agent_load(const struct shard_assignment *a, int agent_index)
{
    return agent_ok(a, agent_index) ? a->load[agent_index] : -EINVAL;
}

int shard_agent_items(const struct shard_assignment *a, int agent_index, int job_index, int *items,
                      int max)
{
    if (!agent_ok(a, agent_index) || !job_ok(a, job_index))
        return -EINVAL;
    int n = 0, m = a->off[job_index + 1] - a->off[job_index];
    const int *owner = a->owner + a->off[job_index];
    for (int i = 0; i < m; i++)
        if (owner[i] == agent_index) {
            if (n < max)
                items[n] = i;
            n++;
        }
    return n;
}

int shard_agent_slots(const struct shard_assignment *a, int agent_index, struct shard_slot **out)
{
    *out = NULL;
    if (!agent_ok(a, agent_index))
        return -EINVAL;
    int n = a->load[agent_index], x = 0;
    if (n == 0)
        return 0;
    struct shard_slot *s = malloc(sizeof *s * (size_t)n);
    if (!s)
        return -ENOMEM;
    for (int j = 0; j < a->njobs; j++)
        for (int i = 0; i < a->off[j + 1] - a->off[j]; i++)
            if (a->owner[a->off[j] + i] == agent_index)
                s[x++] = (struct shard_slot){j, i};
    *out = s;
    return n;
}

/* ======================== diff ======================== */

struct changes {
    struct shard_change *v;
    int n, cap;
};

static int changes_add(struct changes *c, const char *job, int item, const char *from,
                       const char *to)
{
    if (c->n == c->cap) {
        int ncap = c->cap ? c->cap * 2 : 64;
        struct shard_change *v = realloc(c->v, sizeof *v * (size_t)ncap);
        if (!v)
            return -ENOMEM;
        c->v = v;
        c->cap = ncap;
    }
    c->v[c->n++] = (struct shard_change){job, item, from, to};
    return 0;
}

/* diff_job: changes of one job present in old (jo, or -1) and/or new (jn, or -1).
 * amap maps old agent indices to new ones (-1: gone). */
static int diff_job(const struct shard_assignment *old, int jo, const struct shard_assignment *new,
                    int jn, const int *amap, struct changes *c)
{
    int mo = jo >= 0 ? shard_job_items(old, jo) : 0;
    int mn = jn >= 0 ? shard_job_items(new, jn) : 0;
    const char *job = jn >= 0 ? new->name[jn] : old->name[jo];
    for (int i = 0; i < (mo > mn ? mo : mn); i++) {
        int oo = i < mo ? old->owner[old->off[jo] + i] : -1;
        int no = i < mn ? new->owner[new->off[jn] + i] : -1;
        if (oo < 0 && no < 0)
            continue;
        if (oo >= 0 && no >= 0 && amap[oo] == no)
            continue;
        if (changes_add(c, job, i, oo >= 0 ? old->id[oo] : NULL, no >= 0 ? new->id[no] : NULL) < 0)
            return -ENOMEM;
    }
    return 0;
}

int shard_diff(const struct shard_assignment *old, const struct shard_assignment *new,
               struct shard_change **out)
{
    struct changes c = {0};
    int *amap = malloc(sizeof *amap * (size_t)(old->nagents ? old->nagents : 1));
    *out = NULL;
    if (!amap)
        return -ENOMEM;
    for (int k = 0; k < old->nagents; k++)
        amap[k] = shard_agent_find(new, old->id[k]);
    /* merge the two name-sorted job lists */
    int io = 0, in = 0, rc = 0;
    while (rc == 0 && (io < old->njobs || in < new->njobs)) {
        int jo = io < old->njobs ? old->job_by_name[io] : -1;
        int jn = in < new->njobs ? new->job_by_name[in] : -1;
        int cmp = jo < 0 ? 1 : jn < 0 ? -1 : strcmp(old->name[jo], new->name[jn]);
        if (cmp < 0) {
            rc = diff_job(old, jo, new, -1, amap, &c);
            io++;
        } else if (cmp > 0) {
            rc = diff_job(old, -1, new, jn, amap, &c);
            in++;
        } else {
            rc = diff_job(old, jo, new, jn, amap, &c);
            io++;
            in++;
        }
    }
    free(amap);
    if (rc < 0) {
        free(c.v);
        return rc;
    }
    *out = c.v;
    return c.n;
}

int shard_diff_agent(const struct shard_assignment *old, const struct shard_assignment *new,
                     const char *agent_id, struct shard_change **gained, int *ngained,
                     struct shard_change **lost, int *nlost)
{
    struct shard_change *all;
    struct changes g = {0}, l = {0};
    int n = shard_diff(old, new, &all), rc = 0;

    *gained = *lost = NULL;
    *ngained = *nlost = 0;
    if (n < 0)
        return n;
    for (int i = 0; rc == 0 && i < n; i++) {
        const struct shard_change *ch = &all[i];
        if (ch->to && strcmp(ch->to, agent_id) == 0)
            rc = changes_add(&g, ch->job, ch->item, ch->from, ch->to);
        if (rc == 0 && ch->from && strcmp(ch->from, agent_id) == 0)
            rc = changes_add(&l, ch->job, ch->item, ch->from, ch->to);
    }
    free(all);
    if (rc < 0) {
        free(g.v);
        free(l.v);
        return rc;
    }
    *gained = g.v;
    *ngained = g.n;
    *lost = l.v;
    *nlost = l.n;
    return 0;
}
