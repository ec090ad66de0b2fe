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
 * calls kill(2).
 *
 * It runs in a session and process group of its own, so a signal to the
 * agent's group (kill -STOP -PGID, a terminal's ^Z) does not freeze it with the
 * agent. It stamps the page every few ms; the agent checks the stamp
 * (watchdog_check) and replaces a watchdog that died or stopped. */
#ifndef SC_WATCHDOG_H
#define SC_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

#define WATCHDOG_SLOTS 4096
/* A watchdog silent this long (it stamps every 20 ms) is dead or stopped. */
#define WATCHDOG_STALE_MS 1000

struct watchdog;

/* watchdog_start: fork the watchdog. 0 or -errno. */
int watchdog_start(struct watchdog **out);
/* watchdog_check: 0 when the watchdog stamped the page within stale_ms;
 * otherwise the old process is SIGKILLed and a new one forked on the same page
 * (deadline and groups kept): 1 when replaced, -errno when no watchdog could be
 * had. Call it from the agent's loop. */
int watchdog_check(struct watchdog *w, int64_t stale_ms);
/* watchdog_pid / watchdog_restarts: the current process, replacements so far. */
pid_t watchdog_pid(const struct watchdog *w);
int64_t watchdog_restarts(const struct watchdog *w);
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
