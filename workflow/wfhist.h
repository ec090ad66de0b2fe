/* workflow/wfhist.h: runs seen from ZooKeeper and from history together.
 *
 * The driver keeps a run in ZooKeeper while it is active and for a while after
 * it ended; older runs are only in MySQL (sql/hist_wf.h). shardcronctl and
 * the console both show one view of the two: these functions are the merge,
 * pure work on JSON, no I/O, so both callers produce the same answer.
 *
 * A run from history is put in ZooKeeper's shape (wfzk_read_run, wfzk_runs):
 * times as numbers (0 for "not known", never null), "reason" a string,
 * "logical_time" formatted as ZooKeeper's view formats it. Every run gets
 * "source": "zookeeper" or "history", so a reader can tell a live view from
 * a recorded one. */
#ifndef SC_WORKFLOW_WFHIST_H
#define SC_WORKFLOW_WFHIST_H

#include <cjson/cJSON.h>

#define WFHIST_ZK "zookeeper"
#define WFHIST_HISTORY "history"

/* wfhist_from_history: turn a run of hist_wf_run_get / hist_wf_runs_list
 * into ZooKeeper's shape in place (tasks too, when it has them), with its
 * logical time in zone `tz` (NULL or unknown: UTC, as wfzk_runs lists). */
void wfhist_from_history(cJSON *run, const char *tz);

/* wfhist_merge_runs: add to `zk` (wfzk_runs' array) the runs of `hist`
 * (hist_wf_runs_list's array, consumed; NULL is fine) that `zk` does not
 * hold, by run id: ZooKeeper's view wins for a run in both, since it is the
 * driver's current state while history may lag behind it. The result is
 * ordered newest logical time first (ties: run id, descending), every row
 * with its "source"; history's rows lose "params", as ZooKeeper's rows have
 * none (parameters are shown with a run, where viewers' are redacted). */
void wfhist_merge_runs(cJSON *zk, cJSON *hist);

#endif
