/* registry/jobcache.h: the cache of job configs under /jobs, kept current
 * through the job change log (docs/coordination.md, "Job changes").
 *
 * One copy of that code for every process that follows the jobs: the agent
 * (registry/coord.c) and the console (console/zkview.c). Neither watches a
 * job node: creates and deletes are seen through the one children watch on
 * /jobs, rewrites and manual triggers through the one children watch on the
 * change log (PLAN_CHANGES), so a process holds two watches for its jobs
 * however many there are.
 *
 * The cache owns its entries and allocates them at opts.entry_size: a user
 * that keeps per-job state of its own puts struct jobcache_job first in a
 * larger struct (the hooks get the entry back and may cast it). Everything
 * runs on the owner's loop. */
#ifndef SC_REGISTRY_JOBCACHE_H
#define SC_REGISTRY_JOBCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/job.h"
#include "core/strmap.h"
#include "registry/zk.h"

struct jobcache_job {
    char *name;
    struct job *cfg;            /* NULL until read, and while the node holds an invalid config */
    char error[400];            /* why the config is invalid ("" when it is valid) */
    int version;                /* the node's data version (for versioned writes) */
    int64_t mzxid;              /* changes whenever the config is rewritten */
    int64_t czxid;              /* the node's creation, in ZooKeeper's order */
    int64_t ctime_ms, mtime_ms; /* creation and last write (the server's clock; 0 unknown) */
    int loading;                /* reads in flight */
    bool read_failed; /* the last read failed (connection loss): read again on reconnect */
    uint64_t inc;     /* incarnation: a job deleted and created again is a new one */
};

/* An entry of the change log as last listed. */
struct jobcache_change {
    char *name;
    int64_t seq;
    int64_t seen_ms; /* when this process first listed it (our clock) */
};

struct jobcache_opts {
    /* the size of an entry: sizeof(struct jobcache_job) or a larger struct
     * that begins with one (0: sizeof(struct jobcache_job)) */
    size_t entry_size;
    /* on_read: j's node was read (or written here, jobcache_put_local): its
     * config, error and stat fields are new; data/len are the node's bytes. */
    void (*on_read)(void *ctx, struct jobcache_job *j, const char *data, int len);
    /* on_free: j leaves the cache (deleted, or the cache is cleared): free
     * what the user keeps in the entry beyond struct jobcache_job. */
    void (*on_free)(void *ctx, struct jobcache_job *j);
    /* on_trigger: a change-log entry announced a manual trigger of a cached
     * job (NULL: triggers are not followed). */
    void (*on_trigger)(void *ctx, const char *job);
    /* on_entry: a change-log entry of another kind than a job's ('c', 't'):
     * a workflow's ('w'), named `name`. Optional. */
    void (*on_entry)(void *ctx, char kind, const char *name);
    /* on_update: the cache moved on. jobs: a job appeared, went, or a read
     * of one answered (ok or not); false: only the log was listed. */
    void (*on_update)(void *ctx, bool jobs);
    void *ctx;
};

struct jobcache {
    struct zkreg *z;
    struct jobcache_opts o;
    struct strmap map; /* name -> entry */
    int loading;       /* entries with reads in flight */
    bool listed;       /* /jobs listed (after the log) */
    uint64_t gen;      /* bumped when a job appears, goes or is read */
    uint64_t incs;     /* incarnations handed out */
    /* the change log */
    bool chg_listed;  /* first listing done (and /jobs listed after it) */
    bool chg_retry;   /* creating the log's parent failed: list again on a tick */
    bool reread;      /* jobcache_reload: read every cached job after the first listing */
    int64_t chg_seen; /* highest entry sequence handled (-1 none) */
    struct jobcache_change *chg; /* the latest listing, sorted by sequence */
    int nchg;
    struct strmap trig_wait; /* jobs named by trigger entries before /jobs was listed */
    int64_t last_prune_ms;
};

/* jobcache_init: an empty cache reading through z (which may be set later,
 * before the first load, as jc->z). */
void jobcache_init(struct jobcache *jc, struct zkreg *z, const struct jobcache_opts *o);
/* jobcache_clear: forget every job and what was seen of the log (a new
 * session: the next jobcache_load reads everything). gen is kept. */
void jobcache_clear(struct jobcache *jc);
void jobcache_free(struct jobcache *jc);

/* jobcache_load: list the change log, then /jobs, and read every job not
 * cached yet. The log first: a rewrite after that listing has an entry above
 * what the cache has seen, one before it is in the job read. */
void jobcache_load(struct jobcache *jc);
/* jobcache_reload: like jobcache_load after a new session, keeping the
 * entries meanwhile (they are read again, after the log listing). */
void jobcache_reload(struct jobcache *jc);
/* jobcache_reconnected: the connection is back within the session. A request
 * that failed with the connection set no watch: list the log and /jobs again
 * and read the jobs whose reads failed. */
void jobcache_reconnected(struct jobcache *jc);
/* jobcache_on_watch: handles a watch event of /jobs or the change log;
 * false when the path is not the cache's. */
bool jobcache_on_watch(struct jobcache *jc, const char *path);
/* jobcache_tick: retries what failed (call about once a second). */
void jobcache_tick(struct jobcache *jc);

/* jobcache_settled: the log and /jobs are listed and no read is in flight. */
bool jobcache_settled(const struct jobcache *jc);
struct jobcache_job *jobcache_get(const struct jobcache *jc, const char *name);
/* jobcache_read: read j again (no watch: the log announces rewrites). */
void jobcache_read(struct jobcache *jc, struct jobcache_job *j);

/* jobcache_put_local: the data this process just wrote to /jobs/<name> at
 * `version` (mtime_ms: the node's when the write returned it, else the
 * writer's clock), so that its next reply and the cache agree before the
 * log's event arrives (its own reads, on the same session, come back in
 * order and never older than a write that has completed; the read the log's
 * entry causes replaces what is guessed here). */
void jobcache_put_local(struct jobcache *jc, const char *name, const char *data, int len,
                        int version, int64_t mtime_ms);
/* jobcache_del_local: this process just deleted /jobs/<name>. */
void jobcache_del_local(struct jobcache *jc, const char *name);

/* jobcache_prune (the leader, every tick): delete log entries listed more than
 * a trigger's life ago, oldest first and at most 100 per multi-op, fenced by
 * `fence` (the leader's election node), and record the highest deleted
 * sequence as the log's pruned_through. At most every 30 s. */
void jobcache_prune(struct jobcache *jc, const char *fence, int64_t now_ms);

#endif
