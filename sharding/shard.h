/* sharding/shard.h: who owns every shard item — the pure part of coordination.
 *
 * The leader publishes one epoch-numbered membership snapshot (live agents with
 * their labels and capacity); every agent then calls shard_assign() on that
 * snapshot and the job list and gets the owner of every (job, item). No I/O,
 * no clock, no randomness: the result depends only on the *content* of the
 * inputs, never on their order (agents are ranked by id, jobs by name), so all
 * agents agree without talking. docs/sharding.md explains the strategies and
 * the guarantees; tests/unit/test_shard.c checks them.
 *
 * Strategies (per job):
 *   average      ElasticJob's AverageAllocationJobShardingStrategy: eligible
 *                agents by id; each gets items/agents contiguous items, the
 *                remainder items go one each to the first agents
 *                (3 agents, 8 items: [0,1,6] [2,3,7] [4,5]).
 *   odd_even     ElasticJob's OdevitySortByName: average over the agents in
 *                ascending id order when FNV-1a-32(name) is even, descending
 *                when odd (for ASCII names the same orientation ElasticJob
 *                picks from Java's String.hashCode).
 *   round_robin  ElasticJob's RotateServerByName: the agent list rotated left
 *                by FNV-1a-32(name) % agents, then average.
 *   balanced     weighted rendezvous hashing per (job, item) over ALL balanced
 *                jobs, weighted by capacity, with a hard per-agent ceiling
 *                ceil(5/4 * T * capacity / total capacity), T = balanced items.
 *
 * Labels: a job with labels may run only on agents carrying ALL of them (exact,
 * case-sensitive match). A job with no eligible agent gets owner -1 for every
 * item; the caller raises "no eligible agent". */
#ifndef SC_SHARD_H
#define SC_SHARD_H

#include "core/err.h"

enum shard_strategy { SHARD_AVERAGE, SHARD_ODD_EVEN, SHARD_ROUND_ROBIN, SHARD_BALANCED };

/* SHARD_ALGO_VERSION: bumped whenever shard_assign's output changes for some
 * input. Two agents with different versions would compute different owners
 * from the same snapshot, so the coordination layer mixes it into the digest
 * agents compare before applying an epoch (a mixed fleet then waits instead
 * of running items twice). 1: first merge; 2: balanced walks strongest first
 * choices first. */
#define SHARD_ALGO_VERSION 2

#define SHARD_MAX_ITEMS 100000     /* items of one job */
#define SHARD_MAX_TOTAL (1 << 26)  /* items over all jobs */
#define SHARD_MAX_CAPACITY 1000000 /* agent capacity (weight) */
#define SHARD_BALANCE_SLACK_NUM 1  /* balanced ceiling: (1 + NUM/DEN) * fair share */
#define SHARD_BALANCE_SLACK_DEN 4

/* shard_strategy_parse: "average|odd_even|round_robin|balanced" -> *out.
 * Returns 0, or -EINVAL for any other name (NULL included). */
int shard_strategy_parse(const char *name, enum shard_strategy *out);

/* shard_strategy_name: the name shard_strategy_parse accepts; "unknown" for a
 * value outside the enum. Static storage. */
const char *shard_strategy_name(enum shard_strategy s);

/* One live agent of the membership snapshot. Ids are unique, 1+ bytes;
 * capacity 1..SHARD_MAX_CAPACITY is its weight for `balanced` (the other
 * strategies ignore it). Labels may repeat; order does not matter. */
struct shard_agent {
    const char *id;
    const char *const *labels;
    int nlabels;
    int capacity;
};

/* One job. Names are unique, 1+ bytes; items 0..SHARD_MAX_ITEMS (0 = nothing
 * to assign). Labels: see above; none means every agent is eligible. */
struct shard_job {
    const char *name;
    int items;
    enum shard_strategy strategy;
    const char *const *labels;
    int nlabels;
};

/* Opaque result: the owner of every (job, item) as an index into the agent
 * array given to shard_assign (or -1), plus copies of the job names and agent
 * ids, so it stays valid after the caller's arrays are gone. */
struct shard_assignment;

/* shard_check: validate the inputs shard_assign would reject; fills `err`
 * (may be NULL) naming the field, e.g. field "agents[3].id", message
 * "\"a7\" is also the id of agents[1]". Returns 0, -EINVAL, or -ENOMEM. */
int shard_check(const struct shard_job *jobs, int njobs, const struct shard_agent *agents,
                int nagents, struct sc_err *err);

/* shard_assign: compute the owner of every item. jobs/agents may be NULL when
 * their count is 0. Returns 0 with *out the caller's (shard_assignment_free),
 * -EINVAL when shard_check fails, -ENOMEM. Same content in any order gives
 * the same owners (by agent id). */
int shard_assign(const struct shard_job *jobs, int njobs, const struct shard_agent *agents,
                 int nagents, struct shard_assignment **out);

/* shard_owner: agent index owning `item` of job `job_index`, -1 when the job
 * has no eligible agent, -EINVAL when job_index or item is out of range. */
int shard_owner(const struct shard_assignment *a, int job_index, int item);

/* shard_assignment_free: NULL is fine. */
void shard_assignment_free(struct shard_assignment *a);

/* ---- what the assignment was computed from ---- */

int shard_njobs(const struct shard_assignment *a);
int shard_nagents(const struct shard_assignment *a);
/* Names and ids live as long as `a`. NULL when the index is out of range. */
const char *shard_job_name(const struct shard_assignment *a, int job_index);
const char *shard_agent_id(const struct shard_assignment *a, int agent_index);
/* shard_job_items: items of the job, -EINVAL when out of range. */
int shard_job_items(const struct shard_assignment *a, int job_index);
/* shard_job_eligible: number of agents eligible for the job (labels); 0 means
 * "no eligible agent", 1 means the job cannot fail over. -EINVAL out of range. */
int shard_job_eligible(const struct shard_assignment *a, int job_index);
/* shard_job_find / shard_agent_find: index by name / id (O(log n)), -1 if absent. */
int shard_job_find(const struct shard_assignment *a, const char *name);
int shard_agent_find(const struct shard_assignment *a, const char *id);

/* ---- how `balanced` went (0 for the other strategies) ---- */

/* shard_spilled: balanced items not on their first-choice agent because that
 * agent had reached its ceiling. Movement guarantee (docs/sharding.md): going
 * from assignment A to B after one agent left or joined, the items that move
 * besides the leaver's (or besides those the joiner takes) number at most
 * shard_spilled(A) + shard_spilled(B); with both 0, nothing else moves. */
int shard_spilled(const struct shard_assignment *a);

/* shard_overflow: balanced items placed on an agent already at its ceiling
 * because every agent eligible for the job (labels) was full. 0 whenever no
 * job has labels; otherwise the ceiling may be exceeded by this many. */
int shard_overflow(const struct shard_assignment *a);

/* ---- per-agent view ---- */

/* shard_agent_load: items owned by the agent over all jobs; -EINVAL out of range. */
int shard_agent_load(const struct shard_assignment *a, int agent_index);

/* shard_agent_items: the items of job `job_index` owned by `agent_index`,
 * ascending. Writes at most `max` into `items` (may be NULL when max is 0)
 * and returns how many there are (so a short buffer can be detected), or
 * -EINVAL when an index is out of range. */
int shard_agent_items(const struct shard_assignment *a, int agent_index, int job_index, int *items,
                      int max);

struct shard_slot {
    int job; /* job index */
    int item;
};

/* shard_agent_slots: every (job, item) the agent owns, by job index then
 * item. Returns the count (>= 0) with *out the caller's to free (NULL when
 * the count is 0), -EINVAL, or -ENOMEM. */
int shard_agent_slots(const struct shard_assignment *a, int agent_index, struct shard_slot **out);

/* ---- change between two epochs ---- */

/* One item whose owner differs between `old` and `new`, jobs matched by name
 * and agents by id. `from` is the old owner's id, NULL when the item had no
 * owner (new job, job grew, or no eligible agent); `to` likewise for the new
 * owner (job removed or shrunk, no eligible agent). The strings point into
 * `old` and `new`: valid while both live. */
struct shard_change {
    const char *job;
    int item;
    const char *from;
    const char *to;
};

/* shard_diff: every change from `old` to `new`, by job name then item.
 * Returns the count (>= 0) with *out the caller's to free (NULL when 0), or
 * -ENOMEM. The protocol starts a gained item only after `from` has
 * acknowledged the new epoch (or is gone). */
int shard_diff(const struct shard_assignment *old, const struct shard_assignment *new,
               struct shard_change **out);

/* shard_diff_agent: the changes that concern one agent: *gained (to == id)
 * and *lost (from == id), same order and lifetime rules as shard_diff; both
 * arrays are the caller's to free (NULL when empty). Returns 0 or -ENOMEM
 * (then nothing is allocated). An id absent from both sides gives 0 and 0. */
int shard_diff_agent(const struct shard_assignment *old, const struct shard_assignment *new,
                     const char *agent_id, struct shard_change **gained, int *ngained,
                     struct shard_change **lost, int *nlost);

#endif
