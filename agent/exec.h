/* agent/exec.h: the process runner (shell adapter) of the agent.
 *
 * One `struct exec_runner` per event loop. It starts `/bin/sh -c COMMAND` in a
 * process group of its own, in a working directory, with the job environment
 * (design.md "Agent -> job process") on top of a sanitized copy of the agent's
 * environment, stdin from /dev/null. stdout and stderr share one pipe read on
 * the loop into a per-execution log file with a size cap (head and tail kept,
 * a marker line says how many bytes were cut); the last EXEC_TAIL_MAX bytes
 * stay in memory for the history record (a workflow run with capture gets a
 * second pipe for stdout alone, kept apart as well: struct exec_wf). Children
 * are reaped on the loop
 * through SIGCHLD (evsignal + waitpid(-1, WNOHANG)), so the runner reaps every
 * child of the process: other code that forks (agent/javaw.c) registers its
 * pids with exec_watch_child() instead of calling waitpid itself.
 *
 * Timeouts and kills: SIGTERM to the process group, SIGKILL to the group after
 * the grace period (and at once when the group leader has exited while other
 * members remain). Nothing here blocks the loop for long: pipes are
 * non-blocking, the only synchronous I/O is appending to a local log file, and
 * posix_spawn (~0.4 ms, waits for the child's exec) runs on spawner threads
 * when opts.spawn_threads > 0, else on the loop.
 *
 * Pre-arming (exec_prepare / exec_release / exec_cancel): an execution whose
 * start time is known can be created ahead of it, held at a gate: /bin/sh is
 * spawned with everything of exec_start() in place (environment, working
 * directory, process group, stdin, output pipe, log file) and the gate library
 * (agent/gate/gate.c) preloaded, whose constructor waits on a socket before the
 * shell's main(); nothing of the job runs. exec_release() writes one byte and
 * the shell's main() runs `sh -c COMMAND` at once: the instant of a start costs
 * the loop one write instead of a spawn, and the child no exec and no dynamic
 * loading of the shell. A held execution that is not
 * released is cancelled: the gate sees end of file (or SIGKILL) and exits
 * without running anything, it is reaped on the loop and its callback is never
 * called. If the agent dies, its gates see end of file and exit the same way.
 *
 * Only one event_base of a process may receive signals through libevent, so a
 * process has one exec_runner at a time. */
#ifndef SC_EXEC_H
#define SC_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

struct event_base;
struct exec_runner;
struct exec_proc;
struct watchdog;

#define EXEC_TAIL_MAX 4096
#define EXEC_ID_LEN 36 /* UUIDv4 text, without the NUL */

enum exec_status {
    EXEC_RUNNING = 0,
    EXEC_SUCCEEDED,
    EXEC_FAILED,  /* non-zero exit, killed by a signal of its own, or could not start */
    EXEC_TIMEOUT, /* ran past its timeout and was terminated */
    EXEC_KILLED,  /* terminated through exec_kill() (replace, session lost, job deleted) */
};

enum exec_spawn_method { EXEC_SPAWN_POSIX = 0, EXEC_SPAWN_FORK, EXEC_SPAWN_VFORK };

enum exec_trigger {
    EXEC_TRIGGER_CRON = 0,
    EXEC_TRIGGER_MANUAL,
    EXEC_TRIGGER_FAILOVER,
    EXEC_TRIGGER_MISFIRE,
    EXEC_TRIGGER_RETRY,
};

struct exec_runner_opts {
    enum exec_spawn_method spawn; /* default EXEC_SPAWN_POSIX (vfork-based, fastest) */
    size_t log_cap;               /* bytes kept per log file; 0 = 1 MiB */
    int kill_grace_ms;            /* SIGTERM -> SIGKILL; 0 = 5000 */
    /* > 0: posix_spawn runs on this many spawner threads, so a burst of starts
     * uses every core and the loop never waits for an exec. The pid is then
     * known after exec_start returns (exec_pid() is 0 until then), and a spawn
     * failure ends the execution as failed through its callback. 0: spawn on
     * the loop thread with `spawn`. */
    int spawn_threads;
    /* Path of the gate library (shardcron-gate.so, see exec_gate_find); NULL:
     * exec_prepare() returns -ENOTSUP. Resolved to an absolute path by
     * exec_runner_new (which fails when it does not exist). */
    const char *gate_path;
    /* When set, every execution's process group (held ones too) is listed
     * with this watchdog the moment its pid is known, and removed when it is
     * reaped: a run is guarded from its first instant, not from when the
     * scheduler gets round to reporting it started. */
    struct watchdog *guard;
};

/* The job environment of one execution (design.md). Strings are read during
 * exec_start() only. */
struct exec_job_env {
    const char *job;
    int shard_item;
    int shard_total;
    const char *shard_param; /* NULL = "" */
    const char *job_param;   /* NULL = "" */
    const char *fire_time;   /* ISO 8601 with offset, the SCHEDULED time */
    const char *execution_id;
    enum exec_trigger trigger;
    int attempt; /* 1 for the first attempt */
    /* SHARDCRON_FENCE and SHARDCRON_EPOCH (agent/fence.h): exported only when
     * fence is non-empty (a runner without coordination has none). */
    const char *fence;
    int64_t epoch;
};

/* A workflow task's run (design.md "Workflows"). Its environment adds
 * SHARDCRON_WORKFLOW, SHARDCRON_RUN_ID, SHARDCRON_TASK, SHARDCRON_LOGICAL_TIME,
 * SHARDCRON_PARAM_<NAME> per param, SHARDCRON_XCOM_IN (a file written before
 * the start holding xcom_in, "{}" when NULL) and SHARDCRON_XCOM_OUT (a path,
 * not created). After the run the output file is read (exec_xcom_collect):
 * over EXEC_XCOM_MAX bytes or not valid JSON fails the run; then both files
 * are removed. Strings are read during the start only. */
#define EXEC_XCOM_MAX 65536 /* WF_XCOM_MAX of workflow/wf.h */
struct exec_wf {
    const char *workflow, *run_id, *task;
    const char *logical_time;       /* ISO 8601 with the workflow zone's offset */
    const char *const *param_names; /* nparams names and values */
    const char *const *param_values;
    int nparams;
    const char *xcom_in;  /* JSON text, NULL = "{}" */
    const char *work_dir; /* where the two files go: <work_dir>/<execution id>.xcom-{in,out}.json */
    bool capture; /* keep stdout apart (at most EXEC_XCOM_MAX bytes): exec_result.captured */
};

/* The XCom files of one workflow run (exec_xcom_open .. exec_xcom_close);
 * shared with the Java adapter. */
struct exec_xcom {
    char *in_path, *out_path; /* NULL when not opened */
};
/* exec_xcom_open: write the input file of `wf` for execution `exec_id`.
 * 0, or a negative errno with err filled (nothing left behind). */
int exec_xcom_open(const struct exec_wf *wf, const char *exec_id, struct exec_xcom *x,
                   struct sc_err *err);
/* exec_xcom_collect: the item's output. 0 with *json NULL (no file) or the
 * JSON text (the caller's to free); -EFBIG or -EINVAL with why filled ("XCom
 * output is N bytes; the limit is 65536", "XCom output is not valid JSON: ..."). */
int exec_xcom_collect(const struct exec_xcom *x, char **json, char *why, size_t why_len);
/* exec_xcom_close: remove both files and free the paths. */
void exec_xcom_close(struct exec_xcom *x);
/* exec_env_name_valid: [A-Za-z_][A-Za-z0-9_]* (what a shell can export). */
bool exec_env_name_valid(const char *name);

struct exec_spec {
    const char *command;  /* run as /bin/sh -c command */
    const char *cwd;      /* NULL = "/" */
    const char *log_path; /* NULL = output discarded (tail still kept) */
    int timeout_ms;       /* 0 = none */
    struct exec_job_env env;
    const char *const *extra_env; /* NULL or NULL-terminated "K=V" list, added last (copied) */
    const struct exec_wf *wf;     /* NULL: not a workflow task's run */
};

struct exec_result {
    enum exec_status status;
    int exit_code; /* -1 when killed by a signal or not started */
    int signal;    /* terminating signal, 0 if none */
    pid_t pid;
    int64_t started_ms;      /* wall clock, epoch milliseconds */
    int64_t finished_ms;     /* wall clock */
    int64_t duration_ms;     /* monotonic */
    uint64_t output_bytes;   /* everything the process wrote */
    uint64_t cut_bytes;      /* dropped from the log file by the cap */
    const char *output_tail; /* last <= EXEC_TAIL_MAX bytes, NUL-terminated */
    const char *reason;      /* "" or why: kill reason, "timeout after N ms", spawn error */
    /* Workflow runs only (exec_spec.wf), else NULL: the XCom output JSON of a
     * succeeded run, and the captured stdout when wf->capture. */
    const char *xcom;
    const char *captured;
};

/* Called once per execution, on the loop, after the process was reaped and its
 * output drained. `res` and its strings are valid during the call only; the
 * exec_proc is freed after the callback returns. */
typedef void (*exec_done_cb)(const struct exec_result *res, void *arg);

/* exec_runner_new: NULL opts = defaults. Installs the SIGCHLD event on `base`.
 * Takes the sanitized base environment from the current environ. */
int exec_runner_new(struct event_base *base, const struct exec_runner_opts *opts,
                    struct exec_runner **out);

/* exec_runner_free: SIGKILLs the groups of executions still running, reaps them
 * (blocking, bounded), and frees everything without calling their callbacks. */
void exec_runner_free(struct exec_runner *r);

/* exec_start: spawn one execution. On 0, `cb` will be called exactly once and
 * *out (may be NULL) is a handle valid until then. On a negative errno nothing
 * was started and `cb` is not called; err says why. */
int exec_start(struct exec_runner *r, const struct exec_spec *spec, exec_done_cb cb, void *arg,
               struct exec_proc **out, struct sc_err *err);

/* exec_prepare: create the execution's process ahead of its start, held at
 * the gate (see the top of this file). On 0, *out is a held execution that
 * must end in exactly one exec_release() or exec_cancel(); `cb` is called only
 * for a released one. On a negative errno nothing was created (-ENOTSUP: no
 * gate configured). The log file is created here. */
int exec_prepare(struct exec_runner *r, const struct exec_spec *spec, exec_done_cb cb, void *arg,
                 struct exec_proc **out, struct sc_err *err);

/* exec_release: let a held execution run now: its started time is taken here
 * and its timeout starts here. 0: it runs and `cb` will be called exactly once
 * (with spawner threads still creating the gate, the release happens when the
 * spawn is reported, and a spawn that failed ends through `cb` as failed).
 * -ESRCH: the held process was already gone (killed from outside, could not
 * exec the gate); the execution was freed, nothing ran, `cb` is not called:
 * start it afresh with exec_start(). */
int exec_release(struct exec_proc *p);

/* exec_cancel: end a held execution that will not run: the gate is closed,
 * the process is SIGKILLed and reaped on the loop, its log file is removed.
 * `cb` is not called; `p` must not be used after the call. */
void exec_cancel(struct exec_proc *p);

/* exec_held: held executions not yet released, including cancelled ones not
 * yet reaped. */
int exec_held(const struct exec_runner *r);

/* exec_gate_find: the path of shardcron-gate.so beside the running executable
 * (or in ../bin from it, for test binaries) into buf. 0 or -ENOENT. */
int exec_gate_find(char *buf, size_t len);

/* exec_kill: terminate an execution (SIGTERM to the group, SIGKILL after the
 * grace period); its status becomes EXEC_KILLED with `reason` unless it had
 * already timed out. Returns 0, or -ESRCH when it is already finishing. */
int exec_kill(struct exec_proc *p, const char *reason);

/* exec_kill_all: exec_kill() every running execution. Returns how many. */
int exec_kill_all(struct exec_runner *r, const char *reason);

/* exec_running: executions started and not yet reported. */
int exec_running(const struct exec_runner *r);

/* exec_pid: the process (group) id, 0 while a spawner thread is starting it.
 * A pre-armed execution keeps the pid of its held shell. */
pid_t exec_pid(const struct exec_proc *p);

/* exec_watch_child: have `cb(pid, wstatus, arg)` called on the loop when `pid`
 * (a child of this process started by someone else) exits. */
typedef void (*exec_child_cb)(pid_t pid, int wstatus, void *arg);
int exec_watch_child(struct exec_runner *r, pid_t pid, exec_child_cb cb, void *arg);
void exec_unwatch_child(struct exec_runner *r, pid_t pid);

/* exec_base_env: the sanitized base environment ("K=V", NULL-terminated),
 * owned by the runner. Kept: PATH (a default when unset), HOME, LANG, LC_*, TZ,
 * USER, LOGNAME, TMPDIR; never SHARDCRON_* or names that look secret. */
const char *const *exec_base_env(const struct exec_runner *r);

/* Helpers shared with the scheduler and the Java adapter. */
const char *exec_status_name(enum exec_status s);
const char *exec_trigger_name(enum exec_trigger t);
/* exec_new_id: UUIDv4 from getrandom() into buf (>= EXEC_ID_LEN + 1). */
void exec_new_id(char *buf);
/* exec_format_time: "2026-11-21T05:08:00+08:00" for epoch `t` at UTC offset
 * `offset_s`; buf >= 32 bytes. */
void exec_format_time(int64_t t, int offset_s, char *buf, size_t len);
/* exec_env_secret: 1 when an environment variable name must not be passed on. */
int exec_env_secret(const char *name, size_t len);

int64_t exec_now_real_ms(void);
int64_t exec_now_mono_ms(void);

#endif
