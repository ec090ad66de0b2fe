/* tests/lib/runlog.h: what the jobs themselves saw — the run log a test job
 * appends to, and the checks made from it (not from any agent's own view).
 *
 * The job (rl_command) appends one line when it starts, when it ends and when
 * it is terminated: "S|E|K ITEM FIRE NS PID TRIGGER", FIRE the scheduled
 * second it was given (SHARDCRON_FIRE_TIME), NS the real wall clock in ns
 * (read outside any libfaketime preload, so agents with skewed clocks are
 * compared on one clock), TRIGGER its SHARDCRON_TRIGGER. */
#ifndef SC_TEST_RUNLOG_H
#define SC_TEST_RUNLOG_H

#include <stdbool.h>
#include <stddef.h>

struct rl_run {
    int item;
    long long fire;             /* epoch s */
    long long start_ns, end_ns; /* end 0: never ended (killed -9, still running) */
    bool terminated;            /* ended by SIGTERM (the K line) */
    int pid;
    char trigger[16];
};

/* rl_command: a job command (JSON-escaped, for a job config's "command")
 * that logs to `out` and sleeps `secs` (a sleep(1) argument) between start and
 * end; `status` is its exit status. Into buf; returns buf. */
const char *rl_command(char *buf, size_t len, const char *out, const char *secs, int status);

/* rl_load: the runs logged in `path` (S/E/K lines paired by item, fire, pid). */
int rl_load(const char *path, struct rl_run *runs, int max);

/* rl_check: fails the test (cmocka fail_msg) when a (item, fire) started twice
 * — except one failover re-run (trigger failover) of a run that never ended
 * normally (cut off) — or when two runs of one item overlapped in time.
 * `what` names the scenario. Returns the number of runs. */
int rl_check(const struct rl_run *runs, int n, const char *what);

/* rl_check_excused: rl_check, and a failover re-run of a run that had ended
 * is also allowed when excused(orig, arg) says its agent could not record the
 * end (frozen or killed between its child's exit and the record write: the
 * one window docs/coordination.md names); *n_excused counts them. */
int rl_check_excused(const struct rl_run *runs, int n, const char *what,
                     bool (*excused)(const struct rl_run *orig, void *arg), void *arg,
                     int *n_excused);

/* rl_count: runs of (item, fire); trigger NULL = any. */
int rl_count(const struct rl_run *runs, int n, int item, long long fire, const char *trigger);

#endif
