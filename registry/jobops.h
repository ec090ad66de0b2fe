/* registry/jobops.h: the ZooKeeper writes that change an existing job, each
 * paired with its change-log entry (registry/plan.h, PLAN_CHANGES) in one
 * multi-op, so agents that watch only the change log see every rewrite and
 * every manual trigger. A create logs an entry too: the /jobs children watch
 * sees a name appear, but not a job deleted and created again between two
 * listings (the name is in both), whose new config must still be read.
 * Deletes need no entry (the children watch sees the name go).
 *
 * Every writer of job configs and triggers (shardcronctl, the console, tests,
 * tools) goes through these; a raw write to /jobs/<name> without an entry is
 * not seen by running agents until they reload (docs/coordination.md). */
#ifndef SC_REGISTRY_JOBOPS_H
#define SC_REGISTRY_JOBOPS_H

#include "registry/zk.h"
#include "registry/zkcli.h"

struct jobops {
    struct zkreg_op ops[2];
    char target[400];
    char change[400];
};

/* jobops_set: ops[0] sets /jobs/<name> (at `version`, -1 any), ops[1] logs it. */
void jobops_set(struct jobops *o, const char *name, const char *data, int len, int version);
/* jobops_create: ops[0] creates /jobs/<name>, ops[1] logs it. */
void jobops_create(struct jobops *o, const char *name, const char *data, int len);
/* jobops_trigger: ops[0] creates /jobs/<name>/triggers/t- (sequential), ops[1]
 * logs it. /jobs/<name>/triggers must exist. */
void jobops_trigger(struct jobops *o, const char *name, const char *data, int len);

/* Blocking forms for shardcronctl and tests. They create PLAN_CHANGES (and the
 * triggers parent) when missing. The result is that of the job's own op when it
 * failed (ZNONODE: no such job, ZBADVERSION: changed meanwhile), else the
 * multi's. zkcli_job_trigger copies the trigger's node name into `created`. */
int zkcli_job_set(struct zkcli *k, const char *name, const char *data, int len, int version);
int zkcli_job_create(struct zkcli *k, const char *name, const char *data, int len);
int zkcli_job_trigger(struct zkcli *k, const char *name, const char *data, int len, char *created,
                      size_t created_len);

#endif
