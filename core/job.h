/* core/job.h: the job model of design.md — parse, validate, serialize.
 *
 * A job is stored as JSON in ZooKeeper (/jobs/<name>) and travels through the
 * console and shardcronctl in the same form. job_parse() is the only way in:
 * it rejects unknown fields, fills defaults, and names the field of every error
 * ("shards: must be between 1 and 10000 (got 0)"). job_to_json() writes the
 * canonical form back (every field, defaults included), so parse(serialize(j))
 * is j. */
#ifndef SC_JOB_H
#define SC_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/calendar.h"
#include "core/err.h"

#define JOB_NAME_MAX 128
#define JOB_SHARDS_MAX 10000
#define JOB_LABELS_MAX 32
/* The stored form of a job is one ZooKeeper node. ZooKeeper refuses (and drops
 * the session of) a request over jute.maxbuffer, 1 MiB - 1 by default; the
 * request also carries the path and the change-log entry. */
#define JOB_STORED_MAX 1000000
#define JOB_ENV_MAX 64
#define JOB_SECRET_NAME_MAX 128

/* One variable of a job's "env": a value written in the job, or the name of a
 * secret the agent reads from its own secrets store (agent/secrets.h), so the
 * value never sits in ZooKeeper, the console or an export. */
struct job_env {
    char *name;
    char *value;  /* NULL for a secret */
    char *secret; /* NULL for a value */
};

enum job_type { JOB_SHELL, JOB_JAVA };
enum job_misfire { JOB_MISFIRE_SKIP, JOB_MISFIRE_ONCE, JOB_MISFIRE_ALL };
enum job_concurrency { JOB_CONC_FORBID, JOB_CONC_ALLOW, JOB_CONC_REPLACE };
/* NO_FAILOVER is not in the default set: a job on one agent by design would
 * otherwise be announced for as long as it exists. */
enum job_alert_on {
    JOB_ALERT_FAILURE = 1,
    JOB_ALERT_TIMEOUT = 2,
    JOB_ALERT_MISSED = 4,
    JOB_ALERT_NO_FAILOVER = 8
};

struct job {
    char *name;
    char *description; /* "" when absent */
    char *domain;      /* "" when absent */
    int level;
    char *cron;     /* "" = no schedule: runs only when triggered (by hand, by a workflow) */
    char *timezone; /* IANA name, default "UTC" */
    char *calendar; /* a calendar's name (/calendars/<name>), "" = none */
    enum cal_rule calendar_rule;
    enum cal_shift calendar_shift;
    int shards;
    char **shard_params; /* `shards` entries, NULL where none was given */
    char *job_param;     /* "" when absent */
    enum job_type type;
    char *command; /* shell: required; java: "" */
    struct {
        char *classpath, *cls, *jvm_opts;
    } java;         /* all "" for shell jobs */
    char *strategy; /* average|odd_even|round_robin|balanced */
    char **labels;
    int nlabels;
    bool failover;
    enum job_misfire misfire;
    int misfire_threshold_s;
    enum job_concurrency concurrency;
    int timeout_s; /* 0 = no timeout */
    int retries;
    int retry_backoff_s;
    bool disabled;
    struct job_env *env; /* shell jobs only; nenv entries */
    int nenv;
    struct {
        char *webhook;  /* "" when absent */
        unsigned on;    /* JOB_ALERT_* bits */
        int silence_s;  /* minimum seconds between notices for this job */
        char *channels; /* JSON list (core/alertch.h), NULL when absent */
        char *escalate; /* JSON list of {after_s, channels}, NULL when absent */
    } alert;
};

/* job_parse: parse and validate JSON text. On success *out is the caller's
 * (job_free). On failure returns -EINVAL and err names the field. */
int job_parse(const char *json, size_t len, struct job **out, struct sc_err *err);

/* job_from_cjson: same, from an already parsed tree (not consumed). */
int job_from_cjson(const cJSON *root, struct job **out, struct sc_err *err);

/* job_to_cjson / job_to_json: canonical form; the result is the caller's
 * (cJSON_Delete / free). NULL only on OOM. */
cJSON *job_to_cjson(const struct job *j);
char *job_to_json(const struct job *j);
/* job_check_size: 0 when the stored form of j fits JOB_STORED_MAX, else -EINVAL
 * with err naming the size (err->field ""; callers say where the job came
 * from). -ENOMEM when it could not be printed. */
int job_check_size(const struct job *j, struct sc_err *err);

void job_free(struct job *j);

/* job_item_key: "job\x1fitem", the key of one shard item in a map (the
 * caller's buffer of at least JOB_ITEM_KEY_MAX bytes). */
#define JOB_ITEM_KEY_MAX (JOB_NAME_MAX + 16)
void job_item_key(char *buf, size_t len, const char *job, int item);

/* job_name_valid: 1 when `name` is 1..JOB_NAME_MAX of [A-Za-z0-9._-], not "." or "..". */
int job_name_valid(const char *name);
/* job_secret_name_valid: 1-128 of [A-Za-z0-9._-], not starting with '.': a
 * file name in a secrets directory, a key in a secrets file. */
int job_secret_name_valid(const char *name);

const char *job_misfire_name(enum job_misfire m);
const char *job_concurrency_name(enum job_concurrency c);
const char *job_type_name(enum job_type t);

#endif
