/* agent/logsweep.h: pruning of old execution logs in <work_dir>/logs.
 *
 * Every sweep period the agent walks its log directory and deletes execution
 * logs (<job>.<item>.<execution id>.log) whose last write is older than
 * keep_days. The walk runs on the agent's loop in small slices (a bounded
 * number of directory entries per timer tick), so a directory of 100,000 files
 * never holds up a fire. The JVM workers' own logs (javaw-*.log) are left
 * alone: they are open for the worker's lifetime. */
#ifndef SC_AGENT_LOGSWEEP_H
#define SC_AGENT_LOGSWEEP_H

#include <event2/event.h>
#include <stdint.h>

struct logsweep;

/* logsweep_new: sweeps `dir` every period_s (the first one period_s after
 * start); keep_days 0 turns pruning off (a handle that does nothing). 0 or
 * -errno; the handle is the caller's (logsweep_free, on the loop thread). */
int logsweep_new(struct event_base *base, const char *dir, int keep_days, int period_s,
                 struct logsweep **out);
/* logsweep_now: start a sweep at once (unless one is running). */
void logsweep_now(struct logsweep *ls);
/* logsweep_deleted: execution logs deleted so far; logsweep_sweeps: sweeps finished. */
uint64_t logsweep_deleted(const struct logsweep *ls);
uint64_t logsweep_sweeps(const struct logsweep *ls);
void logsweep_free(struct logsweep *ls);

#endif
