/* sql/hist_wf.h: reads of the workflow history (design.md "Workflows").
 *
 * The tables (workflow_run, task_instance, task_xcom; migration 0005) are
 * written by the history writer only (sql/hist.h, hist_writer_submit_wf_*);
 * these are the reads the CLI, the API and the driver make. Each function takes
 * a connected MYSQL handle (the caller's; one thread at a time), runs prepared
 * statements only, and returns JSON the caller owns (cJSON_Delete).
 *
 * A run as JSON (hist_wf_run_get):
 *   {"run_id","workflow","state","logical_time" (ISO 8601 UTC, "+00:00"),
 *    "logical_ms","trigger","params":{...},"created_ms","started_ms","ended_ms",
 *    "tasks":{"<task>":{"state","attempt","items","started_ms","ended_ms","reason",
 *                       "outputs":{"<item>":<the item's JSON output>}}}}
 * Times are ms since the epoch; started_ms, ended_ms and reason are null when
 * not known. Only outputs that are set appear (a cleared one is gone). */
#ifndef SC_HIST_WF_H
#define SC_HIST_WF_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "sql/db.h"

#define HIST_WF_LIST_DEFAULT 50 /* runs listed when limit is 0 */
#define HIST_WF_LIST_MAX 1000   /* the most runs one list returns */

/* hist_wf_run_get: the run with its tasks and outputs into *out. 0, -ENOENT
 * when there is no such run (err says so), -EINVAL for a malformed run id,
 * -EIO with err set when the query failed. */
int hist_wf_run_get(MYSQL *db, const char *run_id, cJSON **out, struct sc_err *err);

/* hist_wf_runs_list: a workflow's runs, newest logical time first, at most
 * `limit` (0 = HIST_WF_LIST_DEFAULT; above HIST_WF_LIST_MAX is -EINVAL), each
 * as hist_wf_run_get's object without "tasks", into *out_array (an empty array
 * for an unknown workflow). 0 or a negative errno with err set. */
int hist_wf_runs_list(MYSQL *db, const char *workflow, int limit, cJSON **out_array,
                      struct sc_err *err);

/* hist_wf_run_exists: whether the workflow has a run for this logical time
 * (the driver's guard against a second run of one logical time). 1 and the
 * run's state copied into state_out (may be NULL; cut to state_len), 0 when
 * none, or a negative errno (-EINVAL bad arguments, -EIO query failed). */
int hist_wf_run_exists(MYSQL *db, const char *workflow, int64_t logical_ms, char *state_out,
                       size_t state_len);

#endif
