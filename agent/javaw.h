/* agent/javaw.h: warm JVM workers (Java adapter).
 *
 * One worker process per (classpath, class, jvm_opts), started as
 * `java [jvm_opts] -cp <shardcron-java.jar>:<classpath> io.shardcron.Worker <class>`
 * and kept running. Executions go to it as JSON lines on its stdin and come
 * back as JSON lines on its stdout (agent/java/io/shardcron/Worker.java has
 * the protocol); its stderr (what jobs print) goes to a worker log file. All
 * pipes are handled on the event loop; the exec_runner reaps the workers.
 *
 * Failure handling: a worker that exits fails its executions ("java worker
 * exited ...") and is restarted with exponential backoff; a worker that stops
 * answering pings within hang_ms is killed and handled the same way. A timeout
 * cancels the execution (the job thread is interrupted); if the thread has not
 * stopped after cancel_grace_ms the worker is killed and restarted. */
#ifndef SC_JAVAW_H
#define SC_JAVAW_H

#include "agent/exec.h"
#include "core/err.h"

struct event_base;
struct javaw_pool;
struct javaw_exec;

struct javaw_opts {
    const char *java;       /* NULL = "java" from PATH */
    const char *jar;        /* path of shardcron-java.jar (required) */
    const char *log_dir;    /* worker stderr files; NULL = discarded */
    int ping_interval_ms;   /* 0 = 5000 */
    int hang_ms;            /* no answer to a ping within this = hung; 0 = 15000 */
    int cancel_grace_ms;    /* 0 = 5000 */
    int restart_backoff_ms; /* first restart delay, doubles up to 60 s; 0 = 1000 */
    int start_timeout_ms;   /* a worker must say ready within this; 0 = 30000 */
    /* When set, a worker's process group is listed with this watchdog while
     * the worker holds an execution: a Java run dies with its agent's lease
     * like a shell run (the whole worker goes: its threads cannot be killed
     * one by one). An idle worker is not listed, so one (re)started while the
     * lease is out is not killed for nothing. */
    struct watchdog *guard;
};

struct javaw_run {
    const char *classpath; /* NULL = "" */
    const char *class_name;
    const char *jvm_opts; /* NULL = none; split on spaces */
    int timeout_ms;       /* 0 = none */
    struct exec_job_env env;
    /* A workflow task's run, NULL none: its context goes to the worker with
     * the run (ShardContext.getWorkflow() etc.; the XCom files as with a
     * shell run, read and checked when the run ends). A JVM serves many runs,
     * so nothing goes through the environment; capture is refused (System.out
     * of a worker is not one run's). */
    const struct exec_wf *wf;
};

int javaw_pool_new(struct event_base *base, struct exec_runner *reaper,
                   const struct javaw_opts *opts, struct javaw_pool **out);

/* javaw_pool_free: kills the workers and frees everything without calling
 * pending completion callbacks. Free the pool before its exec_runner. */
void javaw_pool_free(struct javaw_pool *p);

/* javaw_submit: run one execution on the worker for (classpath, class),
 * starting the worker when there is none. `cb` is called exactly once, later,
 * on the loop; the handle (may be NULL) is valid until then. */
int javaw_submit(struct javaw_pool *p, const struct javaw_run *run, exec_done_cb cb, void *arg,
                 struct javaw_exec **out, struct sc_err *err);

/* javaw_pid: the worker process (and process group) that runs the execution;
 * 0 while its worker is not started yet. */
pid_t javaw_pid(const struct javaw_exec *e);
/* javaw_pid_of: the same, found by execution id; 0 when unknown. */
pid_t javaw_pid_of(const struct javaw_pool *p, const char *exec_id);

/* javaw_cancel: interrupt the execution's thread; status killed with reason. */
int javaw_cancel(struct javaw_exec *e, const char *reason);

/* javaw_workers: worker processes alive; javaw_restarts: restarts so far. */
int javaw_workers(const struct javaw_pool *p);
int javaw_restarts(const struct javaw_pool *p);

#endif
