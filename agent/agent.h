/* agent/agent.h: the shardcron-agent process — one event loop holding the
 * coordination (registry/coord), the local HTTP status and metrics, and the
 * scheduler of owned items. */
#ifndef SC_AGENT_H
#define SC_AGENT_H

#include "core/config.h"

/* agent_run: runs until SIGTERM/SIGINT (returns 0 after a clean shutdown) or a
 * fatal error (returns non-zero after logging why). */
int agent_run(const struct cfg *c);

#endif
