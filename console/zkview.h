/* console/zkview.h: the console's cache of the ZooKeeper namespace.
 *
 * Holds /jobs (raw data, version and the parsed job, or why it does not parse),
 * /agents (records), /state/assignment (the leader's snapshot) and /election
 * (who leads), /domains (business domains and their levels) and /calendars
 * (registry/calcache.h). The jobs are
 * the agents' own job cache (registry/jobcache.c): followed through the job
 * change log, two watches however many jobs there are; the rest is kept
 * current by watches through registry/zk. Requests read the cache and never
 * wait for a ZooKeeper round trip per job. Everything here runs on the
 * console's loop thread. After a new session (expiry) every watch is gone, so
 * the whole view is loaded again; after a reconnect within the session, what
 * a failed request may have missed is read again.
 *
 * The shard map is derived: shard_assign over the snapshot's members and the
 * shapes of every valid job (what every agent computes), rebuilt lazily when
 * either changes. */
#ifndef SC_CONSOLE_ZKVIEW_H
#define SC_CONSOLE_ZKVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/job.h"
#include "core/strmap.h"
#include "registry/calcache.h"
#include "registry/jobcache.h"
#include "registry/pausecache.h"
#include "registry/plan.h"
#include "registry/zk.h"
#include "sharding/shard.h"

/* A job: the cache's entry (name, cfg: the parsed job or NULL when the data
 * does not parse, error: why, version, mtime_ms) and what the pages need. */
struct zkview_job {
    struct jobcache_job jc; /* first: the job cache allocates zkview_jobs */
    char *raw;              /* the node's data, NUL-terminated */
    struct cron_expr *expr; /* the parsed cron of a valid job (for next fire times) */
    char *hay;              /* lower-case "name\ndescription\ndomain\ncron" for searches */
};

struct zkview_agent {
    char *id;
    struct plan_agent_rec rec;
    bool valid;
    int64_t first_session; /* session of the record first seen by this console */
    int64_t mtime_ms;
    bool came_back; /* the agent's session changed while we watched: lost and back */
};

struct zkview {
    struct zkreg *z;
    struct jobcache jobs;     /* name -> struct zkview_job (jobs.map) */
    struct calcache cals;     /* business calendars (registry/calcache.h) */
    struct strmap agents;     /* id -> struct zkview_agent */
    struct strmap domains;    /* name -> level + 1 (as a pointer-sized integer) */
    struct pausecache pauses; /* /pauses (registry/pausecache.h) */
    struct plan_snapshot snap;
    bool has_snap;
    char leader[160];
    int64_t leader_seq;
    uint64_t generation;   /* session generation the view was loaded under */
    int loading;           /* outstanding load requests (the jobs' are the cache's) */
    bool loaded;           /* this session's first full load is done (zkview_ready) */
    uint64_t changes;      /* bumps on any change */
    uint64_t job_changes;  /* bumps when a job is added, changed or removed */
    uint64_t snap_changes; /* bumps with every new snapshot */
    /* derived, rebuilt lazily */
    struct zkview_job **sorted; /* by name */
    size_t nsorted;
    uint64_t sorted_at;
    size_t nenabled, ndisabled, ninvalid; /* counted with `sorted` */
    struct shard_assignment *assign;
    uint64_t assign_at;
    bool assign_valid;
};

/* zkview_init: empty view bound to z (the caller's). */
void zkview_init(struct zkview *v, struct zkreg *z);
void zkview_clear(struct zkview *v);

/* zkview_on_state / zkview_on_watch: forward registry/zk's callbacks here. */
void zkview_on_state(struct zkview *v, enum zkreg_state st);
void zkview_on_watch(struct zkview *v, int type, const char *path);

/* zkview_ready: the first full load is done and the session is connected. */
bool zkview_ready(struct zkview *v);

const struct zkview_job *zkview_job(const struct zkview *v, const char *name);

/* zkview_domain_level: the level of /domains/<name> (data: an integer or
 * {"level":N}), or -1 when there is no such domain. */
int zkview_domain_level(const struct zkview *v, const char *name);

/* zkview_jobs_sorted: every job by name; the array lives until the next change. */
struct zkview_job *const *zkview_jobs_sorted(struct zkview *v, size_t *n);

/* zkview_assignment: the shard map of the current snapshot over the cached job
 * shapes, or NULL when there is no snapshot yet. Lives until the next change. */
const struct shard_assignment *zkview_assignment(struct zkview *v);

/* zkview_digest_matches: the cached job shapes hash to the snapshot's digest
 * (so the assignment shown is the one agents apply). */
bool zkview_digest_matches(struct zkview *v);

/* zkview_put_local: record the data we just wrote (version known), so a reply
 * and the next read agree before the watch arrives. mtime_ms: the node's when
 * the write returned it, else the writer's clock (the watch's read replaces it). */
void zkview_put_local(struct zkview *v, const char *name, const char *raw, int version,
                      int64_t mtime_ms);
void zkview_del_local(struct zkview *v, const char *name);

#endif
