/* workflow/wf.h: the workflow model of design.md ("Workflows") — parse,
 * validate, serialize, and the pure decisions the driver takes from it
 * (trigger rules with Airflow's skip propagation, run state from the leaves).
 *
 * Nothing here touches ZooKeeper, MySQL or a clock: the driver
 * (agent/wfdrive.c), shardcronctl and the console share it, and unit tests
 * cover it with truth tables (tests/unit/test_wf.c). */
#ifndef SC_WORKFLOW_WF_H
#define SC_WORKFLOW_WF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/calendar.h"
#include "core/err.h"

struct strmap;

#define WF_NAME_MAX 48    /* workflow names: [A-Za-z0-9._-] (job-name rules, shorter) */
#define WF_TASK_ID_MAX 64 /* task ids: [A-Za-z0-9._-], not "." or ".." */
#define WF_TASKS_MAX 5000
#define WF_XCOM_MAX 65536     /* one item's output, bytes of JSON */
#define WF_STORED_MAX 1000000 /* the definition is one ZooKeeper node */

enum wf_kind { WF_JOB, WF_COMMAND, WF_SENSOR, WF_BRANCH, WF_EXTERNAL };

/* Airflow's names (design.md); WF_ALL_SUCCESS is the default. */
enum wf_rule {
    WF_ALL_SUCCESS,
    WF_ALL_FAILED,
    WF_ALL_DONE,
    WF_ALL_DONE_MIN_ONE_SUCCESS,
    WF_ALL_SKIPPED,
    WF_ONE_SUCCESS,
    WF_ONE_FAILED,
    WF_ONE_DONE,
    WF_NONE_FAILED,
    WF_NONE_FAILED_MIN_ONE_SUCCESS,
    WF_NONE_SKIPPED,
    WF_ALWAYS,
    WF_RULE_COUNT
};

enum wf_tstate {
    WF_T_WAITING,
    WF_T_QUEUED,
    WF_T_RUNNING,
    WF_T_SENSING,
    WF_T_RETRYING,
    WF_T_SUCCEEDED,
    WF_T_FAILED,
    WF_T_UPSTREAM_FAILED,
    WF_T_SKIPPED,
    WF_T_CANCELLED,
    WF_T_COUNT
};

enum wf_rstate {
    WF_R_QUEUED,
    WF_R_RUNNING,
    WF_R_SUCCEEDED,
    WF_R_FAILED,
    WF_R_CANCELLED,
    WF_R_COUNT
};

struct wf_task {
    char *id;
    enum wf_kind kind;
    char *job;      /* WF_JOB: the job's name; else NULL */
    char *command;  /* WF_COMMAND, WF_SENSOR, WF_BRANCH: the shell command; else NULL */
    int shards;     /* WF_COMMAND: 1..JOB_SHARDS_MAX (default 1); else 1 */
    int timeout_s;  /* command/branch: 0 = none; sensor: required (>0); external: required */
    int retries;    /* command/branch: 0..10 (default 0) */
    int interval_s; /* sensor/external: seconds between pokes, 1..86400 (default 60) */
    char **labels;  /* command/sensor/branch: the agents that may run it */
    int nlabels;
    struct {
        char *workflow, *task; /* WF_EXTERNAL */
        int64_t offset_s;      /* logical time of the other run = ours + offset */
    } ext;
    enum wf_rule rule;
    int *up; /* indexes into wf_def.tasks, in the order written */
    int nup;
    int *down; /* derived: the tasks that name this one upstream, ascending */
    int ndown;
};

struct wf_def {
    char *name;
    char *description; /* "" when absent */
    char *cron;        /* "" = runs only when triggered */
    char *timezone;    /* IANA name, default "UTC" */
    char *calendar;    /* a calendar's name, "" = none (core/calendar.h) */
    enum cal_rule calendar_rule;
    enum cal_shift calendar_shift;
    bool enabled;        /* default true */
    int max_active_runs; /* 1..1000, default 1 */
    int max_running_tasks; /* a run's tasks running at once: 1..WF_TASKS_MAX, 0 = no bound */
    char *alert_channels;  /* "alert": {"channels": [...]} as JSON text (core/alertch), or NULL:
                            * where the workflow's notices go */
    bool catchup;        /* default false */
    int timeout_s;       /* a run's limit, 0 = none */
    cJSON *params;       /* object of string values (never NULL: {} when absent) */
    struct wf_task *tasks;
    int ntasks;
    int *topo; /* ntasks indexes, a topological order (upstream first; ties in written order) */
    struct strmap *ids; /* task id -> index + 1, for wf_task_index (NULL: a linear scan) */
};

/* wf_parse: the only way in. Refuses unknown fields, names the field of every
 * error ("tasks.load.upstream: unknown task \"lod\""), refuses cycles naming
 * the tasks on one ("tasks: cycle a -> b -> c -> a"), a sensor or external
 * without timeout_s, a bad trigger rule (naming the twelve), over
 * WF_TASKS_MAX tasks, a bad cron or time zone. Does not check that jobs
 * exist (wf_check_jobs). 0, or a negative errno with err filled. */
int wf_parse(const char *json, size_t len, struct wf_def **out, struct sc_err *err);
/* wf_check_jobs: every WF_JOB task names a job for which exists(arg, name)
 * is true; else -ENOENT naming the task and the job. */
int wf_check_jobs(const struct wf_def *d, bool (*exists)(void *arg, const char *job), void *arg,
                  struct sc_err *err);
void wf_free(struct wf_def *d);
/* wf_to_json: the canonical form (defaults filled); parse(to_json(d)) is d. */
char *wf_to_json(const struct wf_def *d);
/* wf_to_cjson: the same as a tree, the caller's (cJSON_Delete); NULL on OOM. */
cJSON *wf_to_cjson(const struct wf_def *d);
int wf_task_index(const struct wf_def *d, const char *id); /* -1 when none */
/* wf_check_size: 0 when the canonical form fits WF_STORED_MAX (one ZooKeeper
 * node), else -EINVAL naming the size; -ENOMEM when it could not be printed. */
int wf_check_size(const struct wf_def *d, struct sc_err *err);
/* wf_name_valid / wf_task_id_valid: the name rules above (1 when valid). */
int wf_name_valid(const char *name);
int wf_task_id_valid(const char *id);

/* wf_offset_parse: "[+-]N[smhd]" or "0" (e.g. "-1d", "+2h", "90s"). */
int wf_offset_parse(const char *s, int64_t *out_s, struct sc_err *err);
/* wf_offset_format: the canonical text, in the largest unit that divides it
 * ("-1d", "+90s", "0"), into buf (>= 24 bytes); returns buf. */
const char *wf_offset_format(int64_t s, char *buf, size_t len);

const char *wf_rule_name(enum wf_rule r);
int wf_rule_parse(const char *s, enum wf_rule *out); /* 0 or -EINVAL */
const char *wf_tstate_name(enum wf_tstate s);
int wf_tstate_parse(const char *s, enum wf_tstate *out);
const char *wf_rstate_name(enum wf_rstate s);
int wf_rstate_parse(const char *s, enum wf_rstate *out);
const char *wf_kind_name(enum wf_kind k);
/* wf_tstate_done: succeeded, failed, upstream_failed, skipped or cancelled. */
bool wf_tstate_done(enum wf_tstate s);

/* What a task whose upstream tasks are in states `up` should do now
 * (Airflow's TriggerRuleDep with flag_upstream_failed): keep waiting, run,
 * or end without running as skipped or upstream_failed. A cancelled upstream
 * counts as failed. */
enum wf_decision { WF_WAIT, WF_RUN, WF_SKIP, WF_UPSTREAM_FAILED };
enum wf_decision wf_rule_decide(enum wf_rule r, const enum wf_tstate *up, int nup);
/* wf_run_state: a run's state from its tasks' (st has d->ntasks entries):
 * running while any task is not done; then failed if a leaf (a task nothing
 * names upstream) is failed or upstream_failed (or cancelled), else succeeded. */
enum wf_rstate wf_run_state(const struct wf_def *d, const enum wf_tstate *st);

/* wf_branch_follow: which direct downstream tasks of branch task i its
 * stdout (`out`, `len` bytes) names, one task id a line (surrounding blanks
 * and empty lines ignored, a name repeated counts once): follow[k] = 1 for
 * the k-th entry of d->tasks[i].down (ndown bytes, zeroed by the caller);
 * the others are to be skipped. -EINVAL naming the first line that is not a
 * direct downstream task (the branch task then fails, as in Airflow). */
int wf_branch_follow(const struct wf_def *d, int i, const char *out, size_t len,
                     unsigned char *follow, struct sc_err *err);

/* wf_downstream_closure: marks in `mark` (ntasks bytes, zeroed by the caller)
 * task i and every task downstream of it (for "clear --downstream"). */
void wf_downstream_closure(const struct wf_def *d, int i, unsigned char *mark);

#endif
