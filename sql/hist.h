/* sql/hist.h: the history store's public contract (design.md invariant 4).
 *
 * Owns: the execution event record (struct hist_event), the history writer that
 * moves events from the agent into MySQL (batched, off the event loop, spooling
 * to local disk while MySQL is unreachable), the schema migrations, retention and
 * the daily-stats rollup. The console's read queries live in sql/hist_query.h.
 *
 * Agent usage:
 *
 *     struct hist_writer_opts o = {.url = &url, .password = pw, .spool_path = dir};
 *     struct hist_writer *w;
 *     if (hist_writer_open(&o, &w, &err) < 0) ...
 *     hist_writer_submit(w, &ev);   // any thread, copies, never blocks, O(1)
 *     ...
 *     hist_writer_close(w, 5000);   // drain within 5 s, spool the rest
 *
 * Report one event per state change of an execution: queued, then running
 * (started), then one terminal status. Every event carries all the fields known so
 * far (identity fields always). Events may arrive late, twice or out of order: the
 * store keeps the furthest state (queued < running < any terminal status; the
 * first terminal status wins) and never creates a second row for the same
 * execution_id or the same (job, item, fire time, attempt, trigger). One
 * exception: a row that says the fire was not run (missed, skipped) gives way
 * to another report for the same fire saying it was started (running or a
 * finished status), whose execution id and error it then takes: a not-run
 * report speaks only for the agent that made it (docs/history.md).
 *
 * Workflow history (design.md "Workflows") goes through the same writer, queue,
 * transactions and spool: the driver submits the state of a run, of a task
 * instance, or of one item's output (hist_writer_submit_wf_run / _wf_task /
 * _wf_xcom). Each report is the whole state of its row at the driver's version
 * `seq`; a row takes a report only when its seq is >= the row's, so a late,
 * duplicated or replayed report never moves a row back. Reads: sql/hist_wf.h. */
#ifndef SC_HIST_H
#define SC_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "sql/db.h"

/* Schema version this binary is built for (sql/migrations/NNNN_*.sql, highest N). */
#define HIST_SCHEMA_VERSION 7

/* Column sizes (sql/schema.sql). Longer text is cut by the writer, except the
 * identity fields (execution id, job), which are rejected: cutting them would merge
 * different executions. */
#define HIST_ID_MAX 64       /* execution_id: ASCII, VARCHAR(64) */
#define HIST_JOB_MAX 128     /* job: UTF-8 characters, VARCHAR(128) */
#define HIST_AGENT_MAX 128   /* agent id */
#define HIST_HOST_MAX 255    /* host name */
#define HIST_OUTPUT_MAX 4096 /* output_tail: bytes, VARBINARY; the LAST bytes are kept */
#define HIST_ERROR_MAX 1024  /* error: characters; the first ones are kept */
#define HIST_MESSAGE_MAX 512 /* job_status_trace.message: characters */
#define HIST_FENCE_MAX 40    /* fence: printable ASCII, VARCHAR(40); never cut */

/* The order matters: it is the ENUM order in the schema; the status rank used to
 * keep rows from moving backwards is min(status, HIST_SUCCEEDED). */
enum hist_status {
    HIST_QUEUED = 1,
    HIST_RUNNING,
    HIST_SUCCEEDED,
    HIST_FAILED,
    HIST_TIMEOUT,
    HIST_KILLED,
    HIST_SKIPPED,
    HIST_MISSED,
    HIST_PAUSED, /* a fire inside a pause window (core/pause.h): not run, never alerted */
};
#define HIST_STATUS_COUNT 9

enum hist_trigger {
    HIST_TRIG_CRON = 1,
    HIST_TRIG_MANUAL,
    HIST_TRIG_FAILOVER,
    HIST_TRIG_MISFIRE,
    HIST_TRIG_RETRY,
};

/* hist_status_name / hist_trigger_name: "queued", "cron"...; NULL when out of range.
 * hist_status_parse / hist_trigger_parse: the enum value, or -EINVAL. */
const char *hist_status_name(int status);
const char *hist_trigger_name(int trigger);
int hist_status_parse(const char *name);
int hist_trigger_parse(const char *name);

/* One execution event. All pointers are borrowed: hist_writer_submit copies what
 * it needs before returning. Strings are NUL-terminated; NULL means "not known"
 * (same as ""). Times are milliseconds since the epoch, UTC; 0 means "not known". */
struct hist_event {
    const char *execution_id; /* required: ASCII, 1..HIST_ID_MAX bytes; unique per attempt.
                                 Time-ordered ids (e.g. fire-ms prefix) keep the unique
                                 index hot at the midnight peak. */
    const char *job;          /* required: 1..HIST_JOB_MAX characters */
    int item;                 /* shard item, >= 0 */
    int64_t fire_ms;          /* scheduled fire time (not the start time); required */
    int trigger;              /* enum hist_trigger */
    int attempt;              /* 1 for the first run, 2.. for retries */
    const char *agent;
    const char *host;
    int status;    /* enum hist_status: the state this event reports */
    int exit_code; /* valid when has_exit_code */
    bool has_exit_code;
    int signal; /* terminating signal, 0 = none */
    int64_t queued_ms;
    int64_t started_ms;
    int64_t finished_ms;
    const void *output; /* output tail bytes (any bytes; stored as binary) */
    size_t output_len;
    const char *error;   /* why it failed, for people */
    const char *message; /* this state change's line in job_status_trace */
    const char *fence;   /* SHARDCRON_FENCE of a started run (agent/fence.h); NULL or "" for
                            reports of fires that did not run. Printable ASCII, at most
                            HIST_FENCE_MAX bytes, else the event is refused: a cut token
                            would no longer order */
};

/* ---- workflow events ------------------------------------------------------ */

/* Column sizes of the workflow tables (migration 0005). Identity fields are
 * refused when they do not fit, never cut. */
#define HIST_RUN_ID_MAX 80    /* workflow_run.run_id: printable ASCII, no space */
#define HIST_WF_NAME_MAX 48   /* workflow name: printable ASCII, no space */
#define HIST_TASK_MAX 64      /* task id: printable ASCII, no space */
#define HIST_REASON_MAX 400   /* task_instance.reason: characters; the first ones are kept */
#define HIST_PARAMS_MAX 65535 /* workflow_run.params: bytes of a JSON object (TEXT) */
#define HIST_XCOM_MAX 65536   /* task_xcom.output: bytes of JSON (workflow/wf.h WF_XCOM_MAX) */

/* A run's state at version seq. Strings are borrowed (copied by submit). */
struct hist_wf_run_event {
    const char *run_id;   /* required */
    const char *workflow; /* required */
    int64_t logical_ms;   /* the run's logical (scheduled) time, ms since the epoch; required > 0 */
    const char *trigger;  /* "schedule", "manual" or "backfill" */
    const char *state;    /* "queued", "running", "succeeded", "failed" or "cancelled" */
    const char *params;   /* JSON object text; NULL or "" = {} */
    int64_t created_ms;   /* required > 0 */
    int64_t started_ms;   /* 0 = not started (stored NULL) */
    int64_t ended_ms;     /* 0 = not ended (stored NULL) */
    int64_t seq;          /* the driver's monotonic version of this run's state, >= 0 */
};

/* A task instance's state at version seq. */
struct hist_wf_task_event {
    const char *run_id; /* required */
    const char *task;   /* required */
    const char *state;  /* waiting queued running sensing retrying succeeded failed
                           upstream_failed skipped cancelled (wf_tstate_name) */
    int attempt;        /* 0..65535 (0 = not run yet) */
    int items;          /* shard items of the task, >= 0 */
    int64_t started_ms; /* 0 = NULL */
    int64_t ended_ms;   /* 0 = NULL */
    const char *reason; /* why it ended as it did, for people; NULL or "" = none */
    int64_t seq;        /* >= 0 */
};

/* One item's output (SHARDCRON_XCOM_OUT) at version seq. output NULL or
 * output_len 0 clears a stored output (a cleared task's old item). */
struct hist_wf_xcom_event {
    const char *run_id; /* required */
    const char *task;   /* required */
    int item;           /* >= 0 */
    int attempt;        /* 0..65535: the attempt that wrote it */
    const char *output; /* JSON text, at most HIST_XCOM_MAX bytes, not NUL-terminated */
    size_t output_len;
    int64_t seq; /* >= 0 */
};

/* ---- writer -------------------------------------------------------------- */

struct hist_writer_opts {
    const struct db_url *url; /* borrowed for the call only (copied) */
    const char *password;     /* copied; may be NULL */
    const char *spool_path;   /* directory for spool segments (created if missing); required */
    uint64_t spool_max_bytes; /* 0 = 256 MiB */
    unsigned batch_size;      /* rows per INSERT; 0 = 500; at most 2000 */
    unsigned flush_ms;        /* flush a partial batch after this long; 0 = 50 */
    size_t queue_max_bytes;   /* in-memory queue cap; 0 = 64 MiB. During a long spool
                                 replay the queue moves to the spool at half of it; if it
                                 still fills, submit drops the oldest queued events */
    unsigned io_timeout_s;    /* MySQL connect/read/write timeout; 0 = 5 */
};

struct hist_writer;

struct hist_writer_stats {
    uint64_t queued;      /* events accepted by submit, ever */
    uint64_t written;     /* events written to MySQL (including replayed ones) */
    uint64_t spooled;     /* events appended to the spool, ever */
    uint64_t replayed;    /* events replayed from the spool into MySQL, ever */
    uint64_t dropped;     /* events lost: queue full, spool full, or rejected by MySQL */
    uint64_t rejected;    /* submit calls refused as invalid (-EINVAL), ever */
    uint64_t spool_bytes; /* bytes in the spool now */
    uint64_t pending;     /* events in memory now, not yet written or spooled */
    bool connected;       /* the writer's MySQL connection is up */
    bool spool_full;      /* alert flag: the spool hit its limit and dropped its oldest data */
};

/* hist_writer_open: start the writer thread. It connects to MySQL lazily and keeps
 * reconnecting with backoff, so an unreachable server is not an error here. Spool
 * segments left by an earlier run are replayed first. Returns 0 and *out (the
 * caller's, release with hist_writer_close), or a negative errno with err set
 * (bad options, spool directory unusable). */
int hist_writer_open(const struct hist_writer_opts *opts, struct hist_writer **out,
                     struct sc_err *err);

/* hist_writer_submit: copy the event into the writer's queue and return. Never
 * blocks on I/O and never waits for the writer (one malloc, a bounded copy, one
 * short mutex hold; cost independent of how much is queued). Returns 0,
 * or -EINVAL when the event is malformed (missing or oversized identity field,
 * bad status or trigger): counted in stats.rejected and logged. */
int hist_writer_submit(struct hist_writer *w, const struct hist_event *ev);

/* hist_writer_submit_wf_run / _wf_task / _wf_xcom: the same as hist_writer_submit
 * for the workflow tables: validate, copy, queue behind the events already
 * submitted; written in the same transactions, spooled in the same spool.
 * -EINVAL (stats.rejected, logged naming the field) when an identity field is
 * missing or too long, a state or trigger is unknown, params is not a JSON
 * object, or an output is over HIST_XCOM_MAX bytes or not JSON. */
int hist_writer_submit_wf_run(struct hist_writer *w, const struct hist_wf_run_event *ev);
int hist_writer_submit_wf_task(struct hist_writer *w, const struct hist_wf_task_event *ev);
int hist_writer_submit_wf_xcom(struct hist_writer *w, const struct hist_wf_xcom_event *ev);

/* hist_writer_stats: a consistent-enough snapshot (counters are read atomically). */
void hist_writer_stats(struct hist_writer *w, struct hist_writer_stats *out);

/* hist_writer_flush: ask the writer to write what it holds now (no waiting). */
void hist_writer_flush(struct hist_writer *w);

/* hist_writer_close: stop accepting events, write what can be written within
 * deadline_ms (queue and spool), append the rest to the spool, stop the thread and
 * free the writer. w may be NULL. */
void hist_writer_close(struct hist_writer *w, unsigned deadline_ms);

/* ---- schema -------------------------------------------------------------- */

/* hist_schema_version: the version recorded in schema_version (0 for a database
 * without that table or without rows), or a negative errno with err set. */
int hist_schema_version(MYSQL *m, struct sc_err *err);

/* hist_migrate: bring the connected database to version `target` (use
 * HIST_SCHEMA_VERSION) by applying the embedded migrations in order, each
 * recorded in schema_version. Idempotent. Serialised across processes with a
 * named lock. A database newer than `target` is refused with -EPROTO (never
 * downgraded). *from / *to (may be NULL) receive the versions before and after. */
int hist_migrate(MYSQL *m, int target, int *from, int *to, struct sc_err *err);

/* hist_schema_sql: the full current schema text (sql/schema.sql as built in). */
const char *hist_schema_sql(void);

/* ---- maintenance (the leader calls these periodically) ------------------- */

/* hist_retention_run: delete executions (and their trace rows) whose fire time is
 * older than now_ms - retention_days, at most `chunk` rows per statement and at
 * most `max_chunks` statements per call (so one call is bounded; call again while
 * *deleted > 0). Alert events go with the same cutoff; stats, audit and users stay.
 * Workflow runs that ended (succeeded, failed, cancelled) before the cutoff go
 * with their task instances and outputs (by ended_ms, created_ms when a run
 * ended without a time); runs not ended are kept whatever their age.
 * retention_days 0 means 30. Returns 0 or a negative errno with err set. */
int hist_retention_run(MYSQL *m, unsigned retention_days, int64_t now_ms, unsigned chunk,
                       unsigned max_chunks, uint64_t *deleted, struct sc_err *err);

/* hist_stats_rollup: recompute job_daily_stats for the UTC day containing day_ms
 * from job_execution (counts by status, duration p50/p95 of finished runs).
 * Idempotent; call for today every few minutes and for yesterday once after
 * midnight. Returns 0 or a negative errno with err set. */
int hist_stats_rollup(MYSQL *m, int64_t day_ms, struct sc_err *err);

#endif
