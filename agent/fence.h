/* agent/fence.h: the fencing token of an execution (SHARDCRON_FENCE).
 *
 * A job that writes somewhere else (a database, a file store) can refuse a
 * stale writer by keeping the largest fence it has seen and rejecting writes
 * that carry a smaller one (docs/jobs.md, "Fencing: rejecting a stale
 * writer"). The token is
 *
 *     FFFFFFFFFFFF.EEEEEEEEEEEE.AAAA
 *
 * fire label (the scheduled epoch second; a manual trigger's is the second it
 * was triggered), the coordination epoch the agent had applied when it
 * started the run, and the attempt, each zero-padded to its width. Fixed
 * width and the separators at fixed places make byte-wise (and any
 * collation's) string order the same as the numeric order of (fire, epoch,
 * attempt): within one (job, item) a later fire is larger; for one fire a run
 * started under a newer epoch (the new owner's failover re-run) is larger
 * than one started under an older epoch (the stale original); for one fire
 * and epoch a retry is larger than the attempt before it.
 *
 * Pure: no I/O, no state. */
#ifndef SC_AGENT_FENCE_H
#define SC_AGENT_FENCE_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_FENCE_LEN 30                  /* 12 + 1 + 12 + 1 + 4, without the NUL */
#define AGENT_FENCE_PART_MAX 999999999999LL /* largest fire label or epoch (12 digits) */
#define AGENT_FENCE_ATTEMPT_MAX 9999        /* largest attempt (4 digits) */

/* agent_fence_format: the fence of (fire, epoch, attempt) into buf, which
 * must hold AGENT_FENCE_LEN + 1 bytes (-EINVAL otherwise, buf untouched).
 * Returns 0, or -ERANGE with buf set to "" when a part does not fit its
 * width (fire or epoch outside 0..AGENT_FENCE_PART_MAX, attempt outside
 * 1..AGENT_FENCE_ATTEMPT_MAX): a token that was cut or overflowed would no
 * longer order, so none is better than a wrong one. */
int agent_fence_format(int64_t fire, int64_t epoch, int attempt, char *buf, size_t len);

#endif
