/* workflow/wfzk.h: where workflows live in ZooKeeper and how clients ask the
 * driver to act (docs/workflows.md, "Storage and the driver").
 *
 *   /workflows/<name>              the definition (wf_to_json), written with a
 *                                  change-log entry kind 'w' (registry/plan.h)
 *   /wfstate/<name>                the driver's schedule state of a workflow:
 *                                  {"last_ms":N,"backfill":[...]} (driver only)
 *   /wfruns/<run_id>               a run: {"workflow","logical_ms","trigger",
 *                                  "state","params",...}; run_id is
 *                                  wfzk_run_id(workflow, logical_ms), so one
 *                                  logical time has one run (a create fails)
 *   /wfruns/<run_id>/def           the definition the run was created with
 *   /wfruns/<run_id>/t/<task>      a task's state once it left "waiting":
 *                                  {"state","attempt","started_ms","ended_ms",
 *                                   "reason","trig":"/jobs/J/triggers/t-N",...}
 *   /wfruns/<run_id>/d/<task>~<attempt>~<item>
 *                                  an item's result, created by the agent
 *                                  that ran it (wfzk_done_path)
 *   /wfreq/r-<seq>                 a client's request to the driver
 *
 * Only the leader's driver writes /wfstate, /wfruns/<id> and its t/ children,
 * every write fenced by its election node. Clients (shardcronctl, console)
 * write /workflows and /wfreq only.
 *
 * Requests: a client creates /wfreq/r- (ZOO_SEQUENCE) with JSON
 *   {"op":"trigger","workflow":W,"params":{..},"logical_ms":N (optional)}
 *   {"op":"clear","run_id":R,"task":T,"downstream":bool}
 *   {"op":"mark","run_id":R,"task":T,"state":"succeeded|failed|skipped"}
 *   {"op":"cancel","run_id":R}
 *   {"op":"backfill","workflow":W,"from_ms":N,"to_ms":N,
 *    "reprocess":"none|failed|all","dry_run":bool}
 * plus "user" (who asked, for the audit). The driver answers by setting the
 * node's data to {"ok":true,"result":{...}} or {"ok":false,"error":"...",
 * "field":"...","status":400|404|409} and deletes answered requests after
 * WFZK_REQ_KEEP_MS. The client waits for the answer (wfzk_request). */
#ifndef SC_WORKFLOW_WFZK_H
#define SC_WORKFLOW_WFZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "registry/zkcli.h"

#define WFZK_DEFS "/workflows"
#define WFZK_STATE "/wfstate"
#define WFZK_RUNS "/wfruns"
#define WFZK_REQS "/wfreq"
#define WFZK_REQ_KEEP_MS 60000
#define WFZK_REQ_WAIT_MS 15000 /* how long a client waits for the driver */
#define WFZK_RUN_ID_MAX 80
/* The job a command, sensor or branch task runs as (created by the driver,
 * no cron): "wf.<workflow>.<task>". */
#define WFZK_TASK_JOB_PREFIX "wf."

/* wfzk_run_id: "<workflow>@<YYYYMMDDTHHMMSS>Z" (UTC, to the second; a
 * logical time is whole seconds). */
void wfzk_run_id(char *buf, size_t len, const char *workflow, int64_t logical_ms);
/* wfzk_run_id_parse: the workflow and logical time of a run id; -EINVAL when
 * it is not one. */
int wfzk_run_id_parse(const char *run_id, char *workflow, size_t wlen, int64_t *logical_ms);
/* wfzk_task_job: the job name of a command/sensor/branch task. */
void wfzk_task_job(char *buf, size_t len, const char *workflow, const char *task);
/* wfzk_done_path: /wfruns/<run>/d/<task>~<attempt>~<item> */
void wfzk_done_path(char *buf, size_t len, const char *run_id, const char *task, int attempt,
                    int item);
int wfzk_done_parse(const char *name, char *task, size_t tlen, int *attempt, int *item);

/* wfzk_put: validate (wf_parse + every job exists) and write /workflows/<name>
 * with its change-log entry; version -1 = create or overwrite, else the
 * version the caller read (-EAGAIN on a conflict: 409). 0 or negative errno
 * with err naming what is wrong. */
int wfzk_put(struct zkcli *k, const char *json, size_t len, int version, struct sc_err *err);

/* wfzk_request: submit `req` (an object as above; "op" required) and wait up
 * to wait_ms for the driver's answer. 0 with *result (the answer's "result",
 * the caller's to free) when ok; -EREMOTEIO with err filled from the answer
 * (status in *status) when refused; -ETIMEDOUT when no driver answered (no
 * leader, or the request stays queued; the request is withdrawn). */
int wfzk_request(struct zkcli *k, const cJSON *req, int wait_ms, cJSON **result, int *status,
                 struct sc_err *err);

/* wfzk_read_run: the run as the contract's JSON ({"run_id","workflow","state",
 * "logical_time","tasks":{...}}) from ZooKeeper; -ENOENT when ZooKeeper no
 * longer holds it (then look in history). */
int wfzk_read_run(struct zkcli *k, const char *run_id, cJSON **out, struct sc_err *err);

/* wfzk_run_def: {"run_id","workflow":{...the definition the run was created
 * with...}}; -ENOENT when ZooKeeper holds no such run, -EIO. */
int wfzk_run_def(struct zkcli *k, const char *run_id, cJSON **out, struct sc_err *err);

/* wfzk_task_items: {"run_id","task","items":[{"item","attempt","status",
 * "exit","exec_id","agent","started_ms","ended_ms","reason"}...]}: the
 * task's done nodes (items that ended), every attempt, by attempt then item.
 * -ENOENT when ZooKeeper holds no such run, -EINVAL, -EIO. */
int wfzk_task_items(struct zkcli *k, const char *run_id, const char *task, cJSON **out,
                    struct sc_err *err);

/* A run's change signature: what the run node, its t/ (set by the driver
 * with every task write) and its d/ (done nodes created) last changed at.
 * Equal signatures: nothing wfzk_read_run shows changed in between. */
struct wfzk_sig {
    int64_t run_mzxid, t_mzxid, t_pzxid, d_pzxid;
    bool trusted; /* t/ was set at least once: a driver that sets it wrote it */
};
/* wfzk_run_sig: 0, -ENOENT (no such run) or -EIO (ZooKeeper failed). */
int wfzk_run_sig(struct zkcli *k, const char *run_id, struct wfzk_sig *sig);
bool wfzk_sig_equal(const struct wfzk_sig *a, const struct wfzk_sig *b);

/* ---- what shardcronctl and the console both do (blocking: the console
 * calls these on a worker thread, never on its loop). Results: 0, or
 * -EINVAL (bad input, err names the field), -ENOENT (no such workflow),
 * -EAGAIN (the version given is not the stored one), -EBUSY (runs active),
 * -EIO (ZooKeeper failed; err says how). */

/* wfzk_get: the stored definition (*def the caller's) and its node version. */
int wfzk_get(struct zkcli *k, const char *name, cJSON **def, int *version, struct sc_err *err);
/* wfzk_list: [{"name","cron","timezone","enabled","tasks":N,"version",
 * "next_logical_time","next_logical_ms"}] by name (next_* null without a
 * cron, disabled, or no fire ahead; the next fire after now_ms); a node
 * that does not parse is listed with "error". *out the caller's. */
int wfzk_list(struct zkcli *k, int64_t now_ms, cJSON **out, struct sc_err *err);
/* wfzk_set_enabled: rewrite "enabled" at the version read (-1: the current
 * one), with its change-log entry. */
int wfzk_set_enabled(struct zkcli *k, const char *name, bool enabled, int version,
                     struct sc_err *err);
/* wfzk_delete: delete /workflows/<name> with a change-log entry; refused
 * (-EBUSY, naming one) while a run of it is queued or running in ZooKeeper:
 * cancel those first. The runs' nodes stay for the driver and history. */
int wfzk_delete(struct zkcli *k, const char *name, int version, struct sc_err *err);
/* wfzk_runs: the runs of `workflow` that ZooKeeper holds, newest logical time
 * first, each as /wfruns/<id> holds it plus "run_id" and "logical_time".
 * *out (an array) the caller's. */
int wfzk_runs(struct zkcli *k, const char *workflow, cJSON **out, struct sc_err *err);
/* wfzk_time_parse: ISO 8601 with an offset or Z ("2026-12-07T01:00:00+08:00",
 * a space for the T, seconds optional), or epoch seconds ("1765069200" or
 * "@1765069200") -> epoch ms. -EINVAL naming `field` otherwise. */
int wfzk_time_parse(const char *s, const char *field, int64_t *ms, struct sc_err *err);
/* wfzk_time_format: ISO 8601 of epoch ms in zone `tz` ("UTC" when NULL or
 * unknown): "2026-12-07T01:00:00+08:00", "...Z" in UTC. */
void wfzk_time_format(char *buf, size_t len, int64_t ms, const char *tz);

#endif
