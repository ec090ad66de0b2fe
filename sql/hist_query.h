/* sql/hist_query.h: the console's read queries over the history store.
 *
 * Every query is a prepared statement; user input only ever travels as a
 * parameter. Lists are ordered newest first by (fire time, row id) and paginated
 * by keyset: a page's next_cursor (opaque, validated) continues exactly after its
 * last row, with no OFFSET scan however deep the page. Functions take a connected
 * MYSQL handle (the caller's; one thread at a time) and return 0 or a negative
 * errno with err set; results are the caller's to free with the matching _free. */
#ifndef SC_HIST_QUERY_H
#define SC_HIST_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sql/db.h"
#include "sql/hist.h"

#define HIST_PAGE_MAX 500  /* largest page a list query returns */
#define HIST_CURSOR_LEN 41 /* cursor text length + NUL */

/* One job_execution row. Text is UTF-8; times are ms since the epoch (0 = NULL). */
struct hist_row {
    uint64_t id;
    char execution_id[HIST_ID_MAX + 1];
    char job[HIST_JOB_MAX * 4 + 1];
    int item;
    int64_t fire_ms;
    char trigger[12];
    int attempt;
    char agent[HIST_AGENT_MAX * 4 + 1];
    char host[HIST_HOST_MAX * 4 + 1];
    char status[12];
    bool has_exit_code;
    int exit_code;
    int signal; /* 0 = none */
    int64_t queued_ms, started_ms, finished_ms;
    char error[HIST_ERROR_MAX * 4 + 1];
    char fence[HIST_FENCE_MAX + 1];        /* "" when NULL (a fire not run, an older row) */
    unsigned char output[HIST_OUTPUT_MAX]; /* filled by hist_story_get only */
    size_t output_len;
    unsigned open_n; /* filled by hist_alert_open only */
};

struct hist_page {
    struct hist_row *rows;
    size_t n;
    char next_cursor[HIST_CURSOR_LEN]; /* "" on the last page */
};
void hist_page_free(struct hist_page *p);

/* Filters of GET /executions. Unset members: NULL, -1 (item), 0 (mask, times). */
struct hist_filter {
    const char *job;
    int item;             /* -1 = any; needs job */
    unsigned status_mask; /* bit (1u << enum hist_status) per wanted status; 0 = any */
    const char *agent;
    int64_t from_ms;    /* fire time >= from (0 = open) */
    int64_t to_ms;      /* fire time < to (0 = open) */
    unsigned limit;     /* 1..HIST_PAGE_MAX; 0 = 50 */
    const char *cursor; /* next_cursor of the previous page, or NULL */
};

/* hist_query_executions: one page of executions matching f, newest fire first.
 * -EINVAL (err names the filter) for a bad cursor, limit or item without job. */
int hist_query_executions(MYSQL *m, const struct hist_filter *f, struct hist_page *out,
                          struct sc_err *err);

/* HIST_UNRESOLVED_SQL: the condition, on a job_execution row aliased `e`, that
 * no later success of the same (job, item) cleared it: a success of a later
 * fire, or a later attempt (a retry) of the same fire. The alert panels and the
 * leader's alert rows (sql/hist_alert.c) share it, so both call the same thing
 * open. */
#define HIST_UNRESOLVED_SQL                                                                        \
    " AND NOT EXISTS (SELECT 1 FROM job_execution s WHERE s.job = e.job AND s.item = e.item"       \
    " AND s.status = 'succeeded' AND (s.fire_time > e.fire_time"                                   \
    " OR (s.fire_time = e.fire_time AND s.attempt > e.attempt)))"

/* hist_alert_open: the open conditions of alert panels 1 and 2 fired since
 * since_ms: for each (job, item, status) with status failed, timeout or missed,
 * its newest execution that no later success cleared (HIST_UNRESOLVED_SQL).
 * At most per_job rows per (job, status), the newest; each row's open_n is how
 * many items that (job, status) has open in all. Newest fire first; at most
 * limit rows in all, *truncated set when more existed. */
int hist_alert_open(MYSQL *m, int64_t since_ms, unsigned per_job, unsigned limit,
                    struct hist_page *out, bool *truncated, struct sc_err *err);

/* hist_latest_per_job: for each job (or only `job` when not NULL), the executions of
 * its most recent fire time (one row per item that ran then), ordered by job, item. */
int hist_latest_per_job(MYSQL *m, const char *job, struct hist_page *out, struct sc_err *err);

struct hist_daily {
    char job[HIST_JOB_MAX * 4 + 1];
    int64_t day_ms; /* 00:00 UTC of the day */
    unsigned total;
    unsigned by_status[HIST_STATUS_COUNT + 1]; /* indexed by enum hist_status */
    int p50_ms, p95_ms, max_ms;                /* -1 when nothing finished that day */
};

/* hist_daily_stats: job_daily_stats rows for `job` (NULL = every job) and the UTC
 * days touching [from_ms, to_ms], ordered by day then job. *out is the caller's
 * to free(). */
int hist_daily_stats(MYSQL *m, const char *job, int64_t from_ms, int64_t to_ms,
                     struct hist_daily **out, size_t *n, struct sc_err *err);

struct hist_trace {
    char state[12];
    int64_t at_ms;
    char message[HIST_MESSAGE_MAX * 4 + 1];
};

/* An execution's full story: its row (with output tail), its status trace in time
 * order, and every attempt of the same fire (job, item, fire time), retries
 * included, in attempt order. */
struct hist_story {
    struct hist_row row;
    struct hist_trace *trace;
    size_t ntrace;
    struct hist_page attempts;
};

/* hist_story_get: -ENOENT when no execution has that id. */
int hist_story_get(MYSQL *m, const char *execution_id, struct hist_story *out, struct sc_err *err);
void hist_story_free(struct hist_story *s);

/* Cursor text for a (fire time, row id) position, and back (-EINVAL when the
 * text was not made by hist_cursor_encode). Exposed for tests. */
void hist_cursor_encode(int64_t fire_ms, uint64_t id, char out[HIST_CURSOR_LEN]);
int hist_cursor_decode(const char *s, int64_t *fire_ms, uint64_t *id);

#endif
