/* agent/runner.h: the scheduler's runner for real executions.
 *
 * Glues struct sched_runner (agent/sched.h) to the shell runner (agent/exec.h)
 * and, for java items, to the warm JVM workers (agent/javaw.h). Owns nothing
 * but its settings: the exec_runner and javaw pool are the caller's and must
 * outlive every run started through it. */
#ifndef SC_RUNNER_H
#define SC_RUNNER_H

#include "agent/exec.h"
#include "agent/sched.h"

struct javaw_pool;

struct agent_runner {
    struct exec_runner *exec; /* required for shell items */
    struct javaw_pool *javaw; /* NULL: java items fail to start */
    char log_dir[512];        /* "" = execution output is not kept on disk */
    char secrets[1024];       /* the secrets store (agent/secrets.h), "" = none */
    /* Where the XCom files of workflow runs go ("" = log_dir, or $TMPDIR,
     * /tmp when that is "" too); they are removed when the run ends. */
    char work_dir[512];
};

/* agent_runner_ops: the sched_runner that dispatches on the item's type. */
struct sched_runner agent_runner_ops(struct agent_runner *ar);

/* agent_runner_log_path: "<log_dir>/<job>.<item>.<exec_id>.log" with the job
 * name's unsafe characters replaced; "" when log_dir is "". */
void agent_runner_log_path(const struct agent_runner *ar, const char *job, int item,
                           const char *exec_id, char *buf, size_t len);

#endif
