/* agent/wfdrive.h: workflows on an agent (docs/workflows.md).
 *
 * Two parts on the agent's loop and coordination session:
 *   - the driver (wfdrive.c), active only while this agent leads: it creates
 *     runs (schedules, triggers, backfills), starts tasks by creating
 *     workflow triggers (coord's ownership path), follows the items' results,
 *     applies trigger rules and answers clients' requests. It keeps nothing
 *     that is not in ZooKeeper: a new leader loads the runs and goes on.
 *   - the item side (wfitem.c), on every agent: reports the result of each
 *     workflow item it ran (/wfruns/<run>/d/...), and stops a running item
 *     whose trigger the driver removed (a cancel). */
#ifndef SC_AGENT_WFDRIVE_H
#define SC_AGENT_WFDRIVE_H

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/coord.h"

struct wfd;

/* What the driver records in history (sql/hist_wf.h through the batched
 * writer); optional. `run` and `task` are the ZooKeeper shapes of
 * workflow/wfzk.h plus "seq" (a version that only grows). */
struct wfd_hooks {
    void (*record_run)(void *ctx, const cJSON *run);
    void (*record_task)(void *ctx, const char *run_id, const char *task, const cJSON *task_state);
    void (*record_xcom)(void *ctx, const char *run_id, const char *task, int item, int attempt,
                        const char *json);
    /* kill: stop the running item of a workflow run here (sched_kill_wf). */
    int (*kill)(void *ctx, const char *job, int item, const char *run_id);
    void *ctx;
};

int wfd_open(struct event_base *base, struct coord *c, const char *agent_id,
             const struct wfd_hooks *h, struct wfd **out);
/* wfd_detach: the agent is stopping: nothing more is written (results of
 * items that end from now on are not reported: their driver runs them again
 * when this session is gone). Call before coord_close. */
void wfd_detach(struct wfd *w);
/* wfd_close: after coord_close (its session's callbacks may still name w). */
void wfd_close(struct wfd *w);

/* The item side. */
struct wfd_result {
    const char *status; /* succeeded|failed|missed|cancelled */
    int exit_code;
    const char *exec_id;
    int64_t started_ms, ended_ms;
    const char *reason;   /* "" or why */
    const char *xcom;     /* the item's output (JSON text) or NULL */
    const char *captured; /* a branch's stdout or NULL */
};
/* wfd_item_started: a workflow item runs here: a removal of its trigger stops it. */
void wfd_item_started(struct wfd *w, const char *job, int item, const char *wf_json);
/* wfd_item_done: the item's final result (no retry of it follows here). */
void wfd_item_done(struct wfd *w, const char *job, int item, const char *wf_json,
                   const struct wfd_result *res);

struct wfd_stats {
    uint64_t runs_created, tasks_started, requests, writes, write_failures, results;
    int runs_active;
};
void wfd_stats(const struct wfd *w, struct wfd_stats *out);
/* wfd_alert_channels: a workflow's "alert" channels as JSON text (the
 * caller's), or NULL when it names none or the driver does not hold it. */
char *wfd_alert_channels(struct wfd *w, const char *workflow);

/* Internal: shared by wfdrive.c and wfitem.c. */
bool wfd_item_on_watch(struct wfd *w, int type, const char *path);
void wfd_item_tick(struct wfd *w);
void wfd_item_reconnected(struct wfd *w);
void wfd_item_free(struct wfd *w);

#endif
