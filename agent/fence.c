/* agent/fence.c: formatting of the fencing token (see fence.h). Owns nothing. */
#include "agent/fence.h"

#include <errno.h>
#include <stdio.h>

int agent_fence_format(int64_t fire, int64_t epoch, int attempt, char *buf, size_t len)
{
    if (!buf || len < AGENT_FENCE_LEN + 1)
        return -EINVAL;
    buf[0] = '\0';
    if (fire < 0 || fire > AGENT_FENCE_PART_MAX || epoch < 0 || epoch > AGENT_FENCE_PART_MAX ||
        attempt < 1 || attempt > AGENT_FENCE_ATTEMPT_MAX)
        return -ERANGE;
    snprintf(buf, len, "%012lld.%012lld.%04d", (long long)fire, (long long)epoch, attempt);
    return 0;
}
