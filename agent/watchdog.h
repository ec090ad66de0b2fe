/* agent/watchdog.h: a small process beside the agent that kills the agent's
 * executions when the agent can no longer vouch for them.
 *
 * An agent that is frozen (SIGSTOP, a stalled VM slice) cannot kill its own
 * executions before ZooKeeper expires its session and another agent takes the
 * items over; an agent killed with -9 cannot either. The watchdog is a forked
 * process sharing one memory page with the agent: the agent keeps moving a
 * deadline forward while its ZooKeeper lease is valid and lists the process
 * groups of its executions. When the deadline passes, or the agent is gone,
 * the watchdog SIGKILLs every listed group. It only sleeps, reads the page and
 * calls kill(2). */
#ifndef SC_WATCHDOG_H
#define SC_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

#define WATCHDOG_SLOTS 4096

struct watchdog;

/* watchdog_start: fork the watchdog. 0 or -errno. */
int watchdog_start(struct watchdog **out);
/* watchdog_stop: tell it to exit (listed groups are left alone) and reap it. */
void watchdog_stop(struct watchdog *w);
/* watchdog_deadline: executions must die at this CLOCK_MONOTONIC ms unless it is
 * moved forward again; 0 = no deadline (nothing is killed for lack of one). */
void watchdog_deadline(struct watchdog *w, int64_t mono_ms);
/* watchdog_add / watchdog_del: a process group to kill when the deadline passes. */
void watchdog_add(struct watchdog *w, pid_t pgid);
void watchdog_del(struct watchdog *w, pid_t pgid);
/* watchdog_kills: groups the watchdog has killed so far. */
int64_t watchdog_kills(const struct watchdog *w);

#endif
