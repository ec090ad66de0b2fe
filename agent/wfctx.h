/* agent/wfctx.h: the workflow context of one run of a shard item.
 *
 * A workflow task's item is started through the manual-trigger path with a
 * context object (design.md "Workflows"), given to sched_trigger_wf as text:
 *   {"workflow":W,"run_id":R,"task":T,"attempt":N,"logical_ms":L,
 *    "timezone":"Asia/Shanghai","params":{"k":"v"},
 *    "xcom_in":{"<upstream task>":{"<item>":<json>}},"capture":true|false}
 * The scheduler keeps the text with the run (through the queue and retries)
 * and the runner turns it into the task environment. This file parses it; it
 * touches nothing else. */
#ifndef SC_AGENT_WFCTX_H
#define SC_AGENT_WFCTX_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct wfctx {
    char *text; /* the context as given */
    cJSON *root;
    const char *workflow, *run_id, *task, *timezone; /* point into root */
    int attempt;                                     /* the task's attempt (the workflow's count) */
    int64_t logical_ms;                              /* the run's logical (scheduled) time */
    const cJSON *params;  /* object of strings, never NULL ({} when absent) */
    const cJSON *xcom_in; /* object, NULL when absent */
    bool capture;         /* keep the run's stdout (a branch task) */
};

/* wfctx_parse: -EINVAL with err naming the field for a context that is not
 * an object of the shape above (workflow, run_id and task required; params
 * of strings; timezone default "UTC"); other members are ignored (the
 * coordination layer adds "trigger"). *out is the caller's (wfctx_free). */
int wfctx_parse(const char *text, struct wfctx **out, struct sc_err *err);
void wfctx_free(struct wfctx *c);

#endif
