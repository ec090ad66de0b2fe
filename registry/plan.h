/* registry/plan.h: the coordination records as they are stored in ZooKeeper —
 * pure encode/decode and the job-shape digest. No I/O.
 *
 * /state/assignment holds the leader's snapshot: the epoch, the members (live,
 * ready agents with labels and capacity) and the digest of the job shapes the
 * leader saw. Every agent computes the full assignment from the snapshot with
 * sharding/'s pure function; it applies an epoch only when its own job shapes
 * have the same digest, so all agents compute from identical inputs.
 * /agents/<id> holds each agent's record, including the epoch it has applied
 * (its acknowledgement) and the items it still drains. */
#ifndef SC_REGISTRY_PLAN_H
#define SC_REGISTRY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "sharding/shard.h"

struct plan_member {
    char *id;
    char **labels;
    int nlabels;
    int capacity;
};

struct plan_snapshot {
    int64_t epoch;
    char *leader;
    char digest[17]; /* 16 hex digits */
    int64_t created_ms;
    struct plan_member *members; /* sorted by id */
    int nmembers;
};

/* plan_snapshot_parse: 0 or -EINVAL naming the field; *out is the caller's
 * (plan_snapshot_clear) on success and untouched on failure. */
int plan_snapshot_parse(const char *data, int len, struct plan_snapshot *out, struct sc_err *err);
/* plan_snapshot_json: the caller's to free(). */
char *plan_snapshot_json(const struct plan_snapshot *s);
void plan_snapshot_clear(struct plan_snapshot *s);
/* plan_snapshot_same: same members (ids, labels, capacity) and digest; the epoch
 * and leader are not compared. */
bool plan_snapshot_same(const struct plan_snapshot *a, const struct plan_snapshot *b);
/* plan_members_to_shard: fill `out` (nmembers entries, pointing into s). */
void plan_members_to_shard(const struct plan_snapshot *s, struct shard_agent *out);

/* plan_digest: 16 hex digits over the shapes (name, items, strategy, labels)
 * of `jobs`, independent of their order. */
void plan_digest(const struct shard_job *jobs, int njobs, char out[17]);

/* One agent's record (/agents/<id>). */
struct plan_item {
    char *job;
    int item;
    int64_t fire; /* running: scheduled fire time (epoch s); draining: 0 */
};

struct plan_agent_rec {
    char *host;
    int pid;
    char **labels;
    int nlabels;
    int capacity;
    char *version;
    int64_t started_at_ms;
    int64_t session;
    int64_t applied_epoch;
    /* realtime ms at which applied_epoch was applied: items this agent lost in
     * that epoch were stopped then (a fire after it was not started here) */
    int64_t applied_ms;
    int session_ms; /* negotiated session timeout (its lease is half of it) */
    bool ready;     /* false: refuses work (reason says why) */
    char *reason;
    int64_t skew_ms;
    struct plan_item *draining; /* lost at the applied epoch, still running here */
    int ndraining;
    struct plan_item *running; /* running for a while (for failover re-runs) */
    int nrunning;
};

int plan_agent_parse(const char *data, int len, struct plan_agent_rec *out, struct sc_err *err);
char *plan_agent_json(const struct plan_agent_rec *r);
void plan_agent_clear(struct plan_agent_rec *r);

#endif
