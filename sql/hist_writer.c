/* sql/hist_writer.c: the history writer, agent -> MySQL.
 *
 * Owns: the in-memory queue fed by hist_writer_submit (any thread, O(1), one short
 * mutex hold), the writer thread with its own MySQL connection and prepared
 * multi-row statements, reconnection with backoff, and the spool (sql/hist_spool.c)
 * used while MySQL is unreachable. Nothing here ever runs on an event loop.
 *
 * Ordering: while the spool holds records, new events are appended behind them and
 * the spool is replayed first, so MySQL sees events in submission order. The
 * ON DUPLICATE KEY UPDATE expressions make the order matter only for speed: a row
 * never moves back from a terminal status, and each field is filled once.
 *
 * Workflow records (runs, task instances, outputs) share the queue, the
 * transactions and the spool with executions: a transaction writes its
 * executions, their trace rows, then its workflow rows by table. Each workflow
 * row takes a report only when the report's seq is >= the row's. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "sql/hist.h"
#include "sql/hist_spool.h"

#define EXEC_COLS 17
#define TRACE_COLS 4
#define RUN_COLS 10
#define TASK_COLS 9
#define XCOM_COLS 6
/* Bytes of params or outputs in one statement: a batch of 64 KiB outputs would
 * otherwise pass the server's max_allowed_packet (16 MiB by default). */
#define WF_STMT_BYTES (4u << 20)
#define MAX_BATCH 2000
#define NSIZES 13 /* batch_size, then 2^11 .. 2^0 below it */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 3000

/* Prepared statements by row count: the batch size, then powers of two below it,
 * so any remainder takes at most log2(batch) statements. */
struct stmt_cache {
    const char *head, *row, *tail; /* the statement: head, `rows` x row, tail */
    unsigned rows[NSIZES];
    MYSQL_STMT *st[NSIZES];
};

struct hist_writer {
    /* settings (immutable after open) */
    struct db_url url;
    char *password;
    unsigned batch, flush_ms, io_timeout_s;
    size_t queue_max;

    /* the queue: guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hist_rec *head, *tail;
    size_t qcount, qbytes;
    int64_t first_ms; /* when the oldest queued event arrived */
    bool closing, flush_req;
    int64_t close_deadline_ms;

    /* statistics: written by any thread, read by hist_writer_stats */
    atomic_uint_fast64_t n_queued, n_written, n_spooled, n_replayed, n_dropped, n_rejected;
    atomic_uint_fast64_t spool_bytes, pending;
    atomic_bool connected, spool_full;

    /* writer thread only */
    pthread_t thread;
    MYSQL *m;
    struct stmt_cache exec_st, trace_st, run_st, task_st, xcom_st;
    unsigned txn_max;             /* reports per transaction: 4 x batch */
    struct hist_event *merged;    /* txn_max: one row per execution in a transaction */
    int32_t *slots;               /* hash of execution ids -> merged index, 2 x txn_max */
    struct hist_rec **replay_arr; /* txn_max */
    struct hist_rec **by_kind[4]; /* txn_max each: a transaction's records by kind */
    unsigned nslots;
    struct hist_spool *spool;
    int64_t next_connect_ms;
    unsigned backoff_ms;
    MYSQL_BIND *ebind, *tbind, *rbind, *kbind, *xbind;
    MYSQL_TIME *times; /* 5 per row: fire, queued, started, finished, trace at */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ============================== SQL ============================== */

static const char exec_head[] =
    "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, attempt, agent,"
    " host, status, exit_code, exit_signal, queued_at, started_at, finished_at, output_tail, error,"
    " fence) VALUES ";
static const char exec_row[] = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
/* The rank of a status: queued 1, missed, skipped and paused 2, running 3, succeeded,
 * failed, timeout and killed 4. A row moves only to a higher rank: it never
 * moves back from a terminal status, except that a report that the fire was
 * NOT run here (missed, skipped) gives way to a report that it was started.
 * A not-run report speaks only for its reporter (an agent accounting for a
 * failover window, or one resuming from a stall with a stale schedule); a
 * start reported by another agent for the same fire (uk_fire) is the truth.
 * The superseded row takes the run's execution id and error
 * (docs/history.md); a not-run report that loses changes nothing.
 * `status` must be assigned last: later assignments would see the new value. */
#define RANK_OF(s)                                                                                 \
    "(CASE " s                                                                                     \
    "+0 WHEN 1 THEN 1 WHEN 7 THEN 2 WHEN 8 THEN 2 WHEN 9 THEN 2 WHEN 2 THEN 3 ELSE 4 END)"
#define NEW_RANK RANK_OF("VALUES(status)")
#define OLD_RANK RANK_OF("status")
#define UP "(" NEW_RANK " > " OLD_RANK ")"
#define NOT_RUN(s) "(" s " IN ('missed', 'skipped', 'paused'))"
#define WAS_NOT_RUN "(" NOT_RUN("status") " AND " UP ")"
/* A field is filled once, by the first report that knows it, except that a
 * not-run report that does not win fills nothing (it is another agent's). */
#define FILL_EXPR(c)                                                                               \
    "IF(" UP ", COALESCE(VALUES(" c "), " c                                                        \
    "), IF(" NOT_RUN("VALUES(status)") ", " c ", COALESCE(" c ", VALUES(" c "))))"
#define FILL(c) c " = " FILL_EXPR(c)
static const char exec_tail[] =
    " ON DUPLICATE KEY UPDATE"
    " execution_id = IF(" WAS_NOT_RUN ", VALUES(execution_id), execution_id),"
    " queued_at = COALESCE(queued_at, VALUES(queued_at)),"
    " started_at = COALESCE(started_at, VALUES(started_at)),"
    " finished_at = COALESCE(finished_at, VALUES(finished_at)),"
    " agent = IF(VALUES(agent) <> '' AND (agent = '' OR " UP "), VALUES(agent), agent),"
    " host = IF(VALUES(host) <> '' AND (host = '' OR " UP "), VALUES(host), host),"
    " " FILL("exit_code") ", " FILL("exit_signal") ", " FILL("fence") ", " FILL(
        "output_tail") ","
                       " error = IF(" WAS_NOT_RUN
                       ", VALUES(error), " FILL_EXPR("error") "),"
                                                              " status = IF(" UP
                                                              ", VALUES(status), status)";
static const char trace_head[] =
    "INSERT INTO job_status_trace (execution_id, state, at, message) VALUES ";
static const char trace_row[] = "(?,?,?,?)";
static const char trace_tail[] =
    " ON DUPLICATE KEY UPDATE message = COALESCE(message, VALUES(message))";

/* Workflow rows: each report is the row's whole state at its seq, taken when
 * seq >= the row's (equal: a replay of the same report, same values). `seq`
 * is assigned last: later assignments would see the new value. A report of
 * another run id for a (workflow, logical time) that has a run changes
 * nothing: two runs are never merged into one row. */
#define TAKE(c, newer) " " c " = IF(" newer ", VALUES(" c "), " c "),"
#define RUN_NEWER "(VALUES(run_id) = run_id AND VALUES(seq) >= seq)"
#define ROW_NEWER "(VALUES(seq) >= seq)"
static const char run_head[] =
    "INSERT INTO workflow_run (run_id, workflow, logical_ms, run_trigger, state, params,"
    " created_ms, started_ms, ended_ms, seq) VALUES ";
static const char run_row[] = "(?,?,?,?,?,?,?,?,?,?)";
static const char run_tail[] =
    " ON DUPLICATE KEY UPDATE" TAKE("run_trigger", RUN_NEWER) TAKE("state", RUN_NEWER)
        TAKE("params", RUN_NEWER) TAKE("created_ms", RUN_NEWER) TAKE("started_ms", RUN_NEWER)
            TAKE("ended_ms", RUN_NEWER) " seq = IF(" RUN_NEWER ", VALUES(seq), seq)";
static const char task_head[] = "INSERT INTO task_instance (run_id, task, state, attempt, items,"
                                " started_ms, ended_ms, reason, seq) VALUES ";
static const char task_row[] = "(?,?,?,?,?,?,?,?,?)";
static const char task_tail[] =
    " ON DUPLICATE KEY UPDATE" TAKE("state", ROW_NEWER) TAKE("attempt", ROW_NEWER)
        TAKE("items", ROW_NEWER) TAKE("started_ms", ROW_NEWER) TAKE("ended_ms", ROW_NEWER)
            TAKE("reason", ROW_NEWER) " seq = IF(" ROW_NEWER ", VALUES(seq), seq)";
static const char xcom_head[] =
    "INSERT INTO task_xcom (run_id, task, item, attempt, output, seq) VALUES ";
static const char xcom_row[] = "(?,?,?,?,?,?)";
static const char xcom_tail[] = " ON DUPLICATE KEY UPDATE" TAKE("attempt", ROW_NEWER)
    TAKE("output", ROW_NEWER) " seq = IF(" ROW_NEWER ", VALUES(seq), seq)";
#undef TAKE

static char *build_sql(const char *head, const char *row, const char *tail, unsigned rows)
{
    size_t hl = strlen(head), rl = strlen(row), tl = strlen(tail);
    char *s = malloc(hl + rows * (rl + 1) + tl + 1), *p = s;
    if (!s)
        return NULL;
    memcpy(p, head, hl), p += hl;
    for (unsigned i = 0; i < rows; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, row, rl), p += rl;
    }
    memcpy(p, tail, tl + 1);
    return s;
}

static void close_db(struct hist_writer *w)
{
    struct stmt_cache *caches[] = {&w->exec_st, &w->trace_st, &w->run_st, &w->task_st, &w->xcom_st};
    for (size_t c = 0; c < sizeof caches / sizeof *caches; c++)
        for (int i = 0; i < NSIZES; i++) {
            if (caches[c]->st[i])
                mysql_stmt_close(caches[c]->st[i]);
            caches[c]->st[i] = NULL;
        }
    if (w->m)
        mysql_close(w->m);
    w->m = NULL;
    atomic_store(&w->connected, false);
}

/* The largest cached row count <= left (0 when none). */
static unsigned rows_for(const struct stmt_cache *c, size_t left)
{
    for (int i = 0; i < NSIZES; i++)
        if (c->rows[i] && c->rows[i] <= left)
            return c->rows[i];
    return 0;
}

/* The statement for `rows` rows, prepared on first use. */
static MYSQL_STMT *stmt_for(struct hist_writer *w, struct stmt_cache *c, unsigned rows,
                            struct sc_err *err)
{
    int slot = -1;
    for (int i = 0; i < NSIZES; i++)
        if (c->rows[i] == rows)
            slot = i;
    if (slot < 0)
        return sc_err_set(err, EINVAL, "batch", -1, "no statement for %u rows", rows), NULL;
    if (c->st[slot])
        return c->st[slot];
    char *sql = build_sql(c->head, c->row, c->tail, rows);
    if (!sql)
        return sc_err_set(err, ENOMEM, "batch", -1, "out of memory"), NULL;
    c->st[slot] = db_stmt_prepare(w->m, sql, err);
    free(sql);
    return c->st[slot];
}

static bool try_connect(struct hist_writer *w)
{
    struct sc_err err;
    int64_t now = now_ms();
    if (w->m)
        return true;
    if (now < w->next_connect_ms)
        return false;
    sc_err_clear(&err);
    w->m = db_connect(&w->url, w->password, w->io_timeout_s, &err);
    if (!w->m || mysql_autocommit(w->m, 0) != 0) {
        if (w->backoff_ms == 0)
            LOGW("history: MySQL unreachable (%s); spooling, retrying with backoff",
                 w->m ? mysql_error(w->m) : err.msg);
        close_db(w);
        w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (w->backoff_ms > BACKOFF_MAX_MS)
            w->backoff_ms = BACKOFF_MAX_MS;
        w->next_connect_ms = now + w->backoff_ms;
        return false;
    }
    if (w->backoff_ms)
        LOGN("history: MySQL %s:%u reachable again", w->url.host, w->url.port);
    w->backoff_ms = 0;
    atomic_store(&w->connected, true);
    return true;
}

/* ============================== binding ============================== */

static void bind_str(MYSQL_BIND *b, const char *s, bool null_if_empty)
{
    memset(b, 0, sizeof *b);
    if (null_if_empty && (!s || !*s)) {
        b->buffer_type = MYSQL_TYPE_NULL;
        return;
    }
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)s;
    b->buffer_length = (unsigned long)strlen(s);
}

static void bind_int(MYSQL_BIND *b, const int *v, bool is_null)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = is_null ? MYSQL_TYPE_NULL : MYSQL_TYPE_LONG;
    b->buffer = (void *)v;
}

static void bind_time(MYSQL_BIND *b, MYSQL_TIME *t, int64_t ms)
{
    memset(b, 0, sizeof *b);
    if (ms <= 0) {
        b->buffer_type = MYSQL_TYPE_NULL;
        return;
    }
    db_ms_to_time(ms, t);
    b->buffer_type = MYSQL_TYPE_DATETIME;
    b->buffer = t;
}

static int64_t trace_at(const struct hist_event *e)
{
    int64_t at = e->status == HIST_QUEUED    ? e->queued_ms
                 : e->status == HIST_RUNNING ? e->started_ms
                                             : e->finished_ms;
    if (at <= 0)
        at = e->finished_ms > 0 ? e->finished_ms : e->started_ms > 0 ? e->started_ms : e->queued_ms;
    return at > 0 ? at : e->fire_ms;
}

static void bind_exec(struct hist_writer *w, const struct hist_event *evs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const struct hist_event *e = &evs[i];
        MYSQL_BIND *b = w->ebind + i * EXEC_COLS;
        MYSQL_TIME *tm = w->times + i * 5;
        bind_str(&b[0], e->execution_id, false);
        bind_str(&b[1], e->job, false);
        bind_int(&b[2], &e->item, false);
        bind_time(&b[3], &tm[0], e->fire_ms);
        bind_str(&b[4], hist_trigger_name(e->trigger), false);
        bind_int(&b[5], &e->attempt, false);
        bind_str(&b[6], e->agent, false);
        bind_str(&b[7], e->host, false);
        bind_str(&b[8], hist_status_name(e->status), false);
        bind_int(&b[9], &e->exit_code, !e->has_exit_code);
        bind_int(&b[10], &e->signal, e->signal == 0);
        bind_time(&b[11], &tm[1], e->queued_ms);
        bind_time(&b[12], &tm[2], e->started_ms);
        bind_time(&b[13], &tm[3], e->finished_ms);
        memset(&b[14], 0, sizeof b[14]);
        if (e->output_len) {
            b[14].buffer_type = MYSQL_TYPE_BLOB;
            b[14].buffer = (void *)e->output;
            b[14].buffer_length = (unsigned long)e->output_len;
        } else {
            b[14].buffer_type = MYSQL_TYPE_NULL;
        }
        bind_str(&b[15], e->error, true);
        bind_str(&b[16], e->fence, true);
    }
}

static void bind_trace(struct hist_writer *w, struct hist_rec *const *recs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const struct hist_event *e = &recs[i]->ev;
        MYSQL_BIND *t = w->tbind + i * TRACE_COLS;
        bind_str(&t[0], e->execution_id, false);
        bind_str(&t[1], hist_status_name(e->status), false);
        bind_time(&t[2], &w->times[i * 5 + 4], trace_at(e));
        bind_str(&t[3], e->message, true);
    }
}

static void bind_ll(MYSQL_BIND *b, const int64_t *v, bool is_null)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = is_null ? MYSQL_TYPE_NULL : MYSQL_TYPE_LONGLONG;
    b->buffer = (void *)v;
}

static void bind_blob(MYSQL_BIND *b, const void *p, size_t len)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = len ? MYSQL_TYPE_BLOB : MYSQL_TYPE_NULL;
    b->buffer = (void *)p;
    b->buffer_length = (unsigned long)len;
}

/* Bind n workflow rows of one kind; returns the bind array. */
static MYSQL_BIND *bind_wf(struct hist_writer *w, enum hist_rec_kind kind,
                           struct hist_rec *const *recs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (kind == HIST_REC_WF_RUN) {
            const struct hist_wf_run_event *e = &recs[i]->run;
            MYSQL_BIND *b = w->rbind + i * RUN_COLS;
            bind_str(&b[0], e->run_id, false);
            bind_str(&b[1], e->workflow, false);
            bind_ll(&b[2], &e->logical_ms, false);
            bind_str(&b[3], e->trigger, false);
            bind_str(&b[4], e->state, false);
            bind_str(&b[5], e->params, false);
            bind_ll(&b[6], &e->created_ms, false);
            bind_ll(&b[7], &e->started_ms, e->started_ms == 0);
            bind_ll(&b[8], &e->ended_ms, e->ended_ms == 0);
            bind_ll(&b[9], &e->seq, false);
        } else if (kind == HIST_REC_WF_TASK) {
            const struct hist_wf_task_event *e = &recs[i]->task;
            MYSQL_BIND *b = w->kbind + i * TASK_COLS;
            bind_str(&b[0], e->run_id, false);
            bind_str(&b[1], e->task, false);
            bind_str(&b[2], e->state, false);
            bind_int(&b[3], &e->attempt, false);
            bind_int(&b[4], &e->items, false);
            bind_ll(&b[5], &e->started_ms, e->started_ms == 0);
            bind_ll(&b[6], &e->ended_ms, e->ended_ms == 0);
            bind_str(&b[7], e->reason, true);
            bind_ll(&b[8], &e->seq, false);
        } else {
            const struct hist_wf_xcom_event *e = &recs[i]->xcom;
            MYSQL_BIND *b = w->xbind + i * XCOM_COLS;
            bind_str(&b[0], e->run_id, false);
            bind_str(&b[1], e->task, false);
            bind_int(&b[2], &e->item, false);
            bind_int(&b[3], &e->attempt, false);
            bind_blob(&b[4], e->output, e->output_len);
            bind_ll(&b[5], &e->seq, false);
        }
    }
    return kind == HIST_REC_WF_RUN ? w->rbind : kind == HIST_REC_WF_TASK ? w->kbind : w->xbind;
}

/* How many of recs[0..left) fit one statement's byte budget (at least one). */
static size_t wf_fit(struct hist_rec *const *recs, size_t left)
{
    size_t k = 0, bytes = 0;
    while (k < left) {
        const struct hist_rec *r = recs[k];
        size_t b = r->kind == HIST_REC_WF_RUN    ? strlen(r->run.params)
                   : r->kind == HIST_REC_WF_XCOM ? r->xcom.output_len
                                                 : 0;
        if (k > 0 && bytes + b > WF_STMT_BYTES)
            break;
        bytes += b;
        k++;
    }
    return k;
}

/* ============================== coalescing ============================== */

/* rank: as RANK_OF in the SQL above. */
static int rank(int status)
{
    return status == HIST_QUEUED                            ? 1
           : status == HIST_MISSED || status == HIST_PAUSED ? 2
           : status == HIST_RUNNING                         ? 3
                                                            : 4;
}

/* Fold report b (later) into a (earlier, same execution id) exactly as the
 * ON DUPLICATE KEY UPDATE expressions would apply b on top of a. The result's
 * pointers point into a's or b's record, both alive for the transaction. */
static void merge_into(struct hist_event *a, const struct hist_event *b)
{
    bool up = rank(b->status) > rank(a->status);
    if (!a->queued_ms)
        a->queued_ms = b->queued_ms;
    if (!a->started_ms)
        a->started_ms = b->started_ms;
    if (!a->finished_ms)
        a->finished_ms = b->finished_ms;
    if (*b->agent && (!*a->agent || up))
        a->agent = b->agent;
    if (*b->host && (!*a->host || up))
        a->host = b->host;
    if (up ? b->has_exit_code : !a->has_exit_code) {
        a->has_exit_code = b->has_exit_code;
        a->exit_code = b->exit_code;
    }
    if (up ? b->signal != 0 : a->signal == 0)
        a->signal = b->signal;
    if (up ? *b->fence != 0 : *a->fence == 0)
        a->fence = b->fence;
    if (up ? b->output_len != 0 : a->output_len == 0) {
        a->output = b->output;
        a->output_len = b->output_len;
    }
    if (up && (a->status == HIST_MISSED || a->status == HIST_SKIPPED || a->status == HIST_PAUSED))
        a->error = b->error;
    else if (up ? *b->error != 0 : *a->error == 0)
        a->error = b->error;
    if (up)
        a->status = b->status;
}

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* One row per execution id among recs[0..n), in first-seen order. At the midnight
 * peak the start and finish reports of short runs share a transaction, so the
 * busier the writer, the fewer rows it sends. */
static size_t coalesce(struct hist_writer *w, struct hist_rec *const *recs, size_t n)
{
    size_t m = 0;
    memset(w->slots, 0xff, w->nslots * sizeof *w->slots);
    for (size_t i = 0; i < n; i++) {
        const struct hist_event *e = &recs[i]->ev;
        uint32_t h = id_hash(e->execution_id) & (w->nslots - 1);
        while (w->slots[h] >= 0 && strcmp(w->merged[w->slots[h]].execution_id, e->execution_id))
            h = (h + 1) & (w->nslots - 1);
        if (w->slots[h] >= 0) {
            merge_into(&w->merged[w->slots[h]], e);
        } else {
            w->slots[h] = (int32_t)m;
            w->merged[m++] = *e;
        }
    }
    return m;
}

/* ============================== writing ============================== */

enum { W_OK = 0, W_DATA = -1, W_CONN = -2 };

/* Run `st` on the rows bound by `bind`; false with *errnum on failure. */
static bool run_stmt(MYSQL_STMT *st, MYSQL_BIND *bind, unsigned *errnum)
{
    if (mysql_stmt_bind_param(st, bind) || mysql_stmt_execute(st)) {
        *errnum = mysql_stmt_errno(st);
        LOGD("history: %s", mysql_stmt_error(st));
        return false;
    }
    return true;
}

/* One transaction: the coalesced execution rows of recs[0..n), then one trace row
 * per report, each in chunks of prepared sizes. n <= txn_max. */
static int write_txn(struct hist_writer *w, struct hist_rec *const *in, size_t n)
{
    struct sc_err err;
    unsigned errnum = 0;
    size_t nk[4] = {0};
    for (size_t i = 0; i < n; i++)
        w->by_kind[in[i]->kind][nk[in[i]->kind]++] = in[i];
    struct hist_rec *const *recs = w->by_kind[HIST_REC_EXEC];
    size_t nm = coalesce(w, recs, nk[HIST_REC_EXEC]);
    n = nk[HIST_REC_EXEC];
    sc_err_clear(&err);
    for (size_t done = 0; done < nm;) {
        unsigned rows = rows_for(&w->exec_st, nm - done);
        MYSQL_STMT *st = stmt_for(w, &w->exec_st, rows, &err);
        if (!st) {
            errnum = mysql_errno(w->m);
            LOGW("history: %s", err.msg);
            goto fail;
        }
        bind_exec(w, w->merged + done, rows);
        if (!run_stmt(st, w->ebind, &errnum))
            goto fail;
        done += rows;
    }
    for (size_t done = 0; done < n;) {
        unsigned rows = rows_for(&w->trace_st, n - done);
        MYSQL_STMT *st = stmt_for(w, &w->trace_st, rows, &err);
        if (!st) {
            errnum = mysql_errno(w->m);
            LOGW("history: %s", err.msg);
            goto fail;
        }
        bind_trace(w, recs + done, rows);
        if (!run_stmt(st, w->tbind, &errnum))
            goto fail;
        done += rows;
    }
    static const enum hist_rec_kind wf_kinds[] = {HIST_REC_WF_RUN, HIST_REC_WF_TASK,
                                                  HIST_REC_WF_XCOM};
    for (size_t k = 0; k < 3; k++) {
        enum hist_rec_kind kind = wf_kinds[k];
        struct stmt_cache *c = kind == HIST_REC_WF_RUN    ? &w->run_st
                               : kind == HIST_REC_WF_TASK ? &w->task_st
                                                          : &w->xcom_st;
        struct hist_rec *const *wr = w->by_kind[kind];
        for (size_t done = 0; done < nk[kind];) {
            unsigned rows = rows_for(c, wf_fit(wr + done, nk[kind] - done));
            MYSQL_STMT *st = stmt_for(w, c, rows, &err);
            if (!st) {
                errnum = mysql_errno(w->m);
                LOGW("history: %s", err.msg);
                goto fail;
            }
            if (!run_stmt(st, bind_wf(w, kind, wr + done, rows), &errnum))
                goto fail;
            done += rows;
        }
    }
    if (mysql_commit(w->m) != 0) {
        errnum = mysql_errno(w->m);
        goto fail;
    }
    return W_OK;
fail:
    if (errnum == 0 || db_conn_lost(errnum)) {
        LOGW("history: lost MySQL (error %u); spooling", errnum);
        close_db(w);
        return W_CONN;
    }
    mysql_rollback(w->m);
    return W_DATA;
}

/* Write n records: retry a transaction the server refused (deadlock, lock wait),
 * then one row at a time so one bad row cannot hold back the others. Returns W_OK
 * or W_CONN (nothing can be assumed written). */
static int write_recs(struct hist_writer *w, struct hist_rec *const *recs, size_t n)
{
    int rc = W_DATA;
    for (int tries = 0; tries < 3 && rc == W_DATA; tries++)
        rc = write_txn(w, recs, n);
    if (rc != W_DATA)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = write_txn(w, recs + i, 1);
        if (rc == W_DATA)
            rc = write_txn(w, recs + i, 1);
        if (rc == W_CONN)
            return rc;
        if (rc == W_DATA) {
            char what[256];
            hist_rec_describe(recs[i], what, sizeof what);
            LOGE("history: MySQL refused %s: %s; dropped", what, w->m ? mysql_error(w->m) : "?");
            atomic_fetch_add(&w->n_dropped, 1);
        }
    }
    return W_OK;
}

static void spool_recs(struct hist_writer *w, struct hist_rec *const *recs, size_t n)
{
    uint64_t dropped = 0;
    if (n == 0)
        return;
    int kept = hist_spool_append(w->spool, recs, n, &dropped);
    if (kept > 0)
        atomic_fetch_add(&w->n_spooled, (uint64_t)kept);
    atomic_fetch_add(&w->n_dropped, dropped);
    atomic_store(&w->spool_bytes, hist_spool_bytes(w->spool));
    if (hist_spool_full(w->spool))
        atomic_store(&w->spool_full, true);
}

/* During a long replay the queue keeps filling: past half its cap, move it behind
 * the spooled records (order kept) instead of letting submit drop the oldest. */
static void spill_queue(struct hist_writer *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->qbytes <= w->queue_max / 2) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    struct hist_rec *list = w->head;
    size_t n = w->qcount;
    w->head = w->tail = NULL;
    w->qcount = w->qbytes = 0;
    pthread_mutex_unlock(&w->mu);
    struct hist_rec **arr = malloc(n * sizeof *arr);
    size_t k = 0;
    for (struct hist_rec *r = list, *nx; r; r = nx) {
        nx = r->next;
        if (arr)
            arr[k++] = r;
        else
            free(r);
    }
    if (!arr) {
        atomic_fetch_add(&w->n_dropped, n);
        atomic_fetch_sub(&w->pending, n);
        return;
    }
    spool_recs(w, arr, k);
    atomic_fetch_sub(&w->pending, k);
    for (size_t i = 0; i < k; i++)
        free(arr[i]);
    free(arr);
}

/* Replay the spool into MySQL, oldest first, until it is empty, MySQL fails or the
 * deadline passes. Returns true when the spool is empty. */
static bool replay(struct hist_writer *w, int64_t deadline)
{
    struct hist_rec **arr = w->replay_arr;
    while (hist_spool_records(w->spool) > 0) {
        spill_queue(w);
        if (deadline && now_ms() >= deadline)
            return false;
        if (!w->m)
            return false;
        struct hist_rec *list;
        size_t n;
        hist_spool_read(w->spool, w->txn_max, &list, &n);
        if (n == 0) {
            hist_spool_commit(w->spool);
            break;
        }
        size_t k = 0;
        for (struct hist_rec *r = list; r; r = r->next)
            arr[k++] = r;
        int rc = write_recs(w, arr, n);
        if (rc == W_OK) {
            hist_spool_commit(w->spool);
            atomic_fetch_add(&w->n_written, n);
            atomic_fetch_add(&w->n_replayed, n);
        } else {
            hist_spool_rewind(w->spool);
        }
        for (size_t i = 0; i < k; i++)
            free(arr[i]);
        atomic_store(&w->spool_bytes, hist_spool_bytes(w->spool));
        if (rc != W_OK)
            return false;
    }
    if (hist_spool_records(w->spool) == 0)
        LOGD("history: spool drained");
    atomic_store(&w->spool_bytes, hist_spool_bytes(w->spool));
    return hist_spool_records(w->spool) == 0;
}

/* Everything taken from the queue: to MySQL when it is up and the spool is empty,
 * else behind the spooled records. deadline 0 = none. */
static void process(struct hist_writer *w, struct hist_rec **arr, size_t n, int64_t deadline)
{
    size_t done = 0;
    try_connect(w);
    if (w->m && hist_spool_records(w->spool) > 0)
        replay(w, deadline);
    while (done < n && w->m && hist_spool_records(w->spool) == 0 &&
           (!deadline || now_ms() < deadline)) {
        size_t k = n - done < w->txn_max ? n - done : w->txn_max;
        if (write_recs(w, arr + done, k) != W_OK)
            break;
        atomic_fetch_add(&w->n_written, k);
        done += k;
    }
    spool_recs(w, arr + done, n - done);
    atomic_fetch_sub(&w->pending, n);
    for (size_t i = 0; i < n; i++)
        free(arr[i]);
}

/* ============================== thread ============================== */

static void *writer_main(void *arg)
{
    struct hist_writer *w = arg;
    size_t cap = 1024;
    mysql_thread_init();
    struct hist_rec **arr = malloc(cap * sizeof *arr);
    if (!arr) {
        LOGE("history: out of memory starting the writer");
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&w->mu);
        for (;;) {
            int64_t now = now_ms(), wake;
            if (w->closing)
                break;
            if (w->qcount >= w->batch || w->flush_req)
                break;
            if (w->qcount > 0) {
                if (now - w->first_ms >= (int64_t)w->flush_ms)
                    break;
                wake = w->first_ms + w->flush_ms;
            } else if (hist_spool_records(w->spool) > 0) {
                /* Spool waiting: wake for the next connect attempt or replay. */
                if (w->m || now >= w->next_connect_ms)
                    break;
                wake = w->next_connect_ms;
            } else {
                wake = now + 1000;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t d = wake - now;
            ts.tv_sec += d / 1000;
            ts.tv_nsec += (d % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000)
                ts.tv_sec++, ts.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        struct hist_rec *list = w->head;
        size_t n = w->qcount;
        bool closing = w->closing;
        int64_t deadline = closing ? w->close_deadline_ms : 0;
        w->head = w->tail = NULL;
        w->qcount = w->qbytes = 0;
        w->flush_req = false;
        pthread_mutex_unlock(&w->mu);

        if (n > cap) {
            struct hist_rec **na = realloc(arr, n * sizeof *arr);
            if (na)
                arr = na, cap = n;
        }
        /* In chunks of what the array holds (all at once unless memory is short). */
        size_t k = 0;
        for (struct hist_rec *r = list, *nx; r; r = nx) {
            nx = r->next;
            arr[k++] = r;
            if (k == cap || !nx) {
                process(w, arr, k, deadline);
                k = 0;
            }
        }
        if (n == 0 && hist_spool_records(w->spool) > 0 && try_connect(w))
            replay(w, deadline);
        if (closing) {
            if (hist_spool_records(w->spool) > 0 && try_connect(w))
                replay(w, deadline);
            break;
        }
    }
    free(arr);
    close_db(w);
    mysql_thread_end();
    return NULL;
}

/* ============================== API ============================== */

/* free_writer: the writer's own memory (threads, spool and locks already gone). */
static void free_writer(struct hist_writer *w)
{
    free(w->password);
    free(w->ebind);
    free(w->tbind);
    free(w->times);
    free(w->merged);
    free(w->slots);
    free(w->replay_arr);
    for (int k = 0; k < 4; k++)
        free(w->by_kind[k]);
    free(w->rbind);
    free(w->kbind);
    free(w->xbind);
    free(w);
}

int hist_writer_open(const struct hist_writer_opts *o, struct hist_writer **out, struct sc_err *err)
{
    if (!o || !o->url || !o->spool_path || !*o->spool_path)
        return sc_err_set(err, EINVAL, !o || !o->url ? "mysql" : "spool_path", -1, "is required");
    if (o->batch_size > MAX_BATCH)
        return sc_err_set(err, EINVAL, "batch_size", -1, "must be 1..%d", MAX_BATCH);
    struct hist_writer *w = calloc(1, sizeof *w);
    if (!w)
        return sc_err_set(err, ENOMEM, "history", -1, "out of memory");
    w->url = *o->url;
    w->batch = o->batch_size ? o->batch_size : 500;
    w->flush_ms = o->flush_ms ? o->flush_ms : 50;
    w->io_timeout_s = o->io_timeout_s ? o->io_timeout_s : 5;
    w->queue_max = o->queue_max_bytes ? o->queue_max_bytes : 64u << 20;
    w->password = strdup(o->password ? o->password : "");
    w->txn_max = 4 * w->batch;
    for (w->nslots = 1; w->nslots < 2 * w->txn_max; w->nslots *= 2)
        ;
    w->merged = calloc(w->txn_max, sizeof *w->merged);
    w->slots = calloc(w->nslots, sizeof *w->slots);
    w->replay_arr = calloc(w->txn_max, sizeof *w->replay_arr);
    w->ebind = calloc((size_t)w->batch * EXEC_COLS, sizeof *w->ebind);
    w->tbind = calloc((size_t)w->batch * TRACE_COLS, sizeof *w->tbind);
    w->times = calloc((size_t)w->batch * 5, sizeof *w->times);
    w->rbind = calloc((size_t)w->batch * RUN_COLS, sizeof *w->rbind);
    w->kbind = calloc((size_t)w->batch * TASK_COLS, sizeof *w->kbind);
    w->xbind = calloc((size_t)w->batch * XCOM_COLS, sizeof *w->xbind);
    bool kinds_ok = true;
    for (int k = 0; k < 4; k++)
        kinds_ok = (w->by_kind[k] = calloc(w->txn_max, sizeof *w->by_kind[k])) && kinds_ok;
    if (!w->password || !w->ebind || !w->tbind || !w->times || !w->merged || !w->slots ||
        !w->replay_arr || !w->rbind || !w->kbind || !w->xbind || !kinds_ok) {
        sc_err_set(err, ENOMEM, "history", -1, "out of memory");
        goto err;
    }
    struct stmt_cache *caches[] = {&w->exec_st, &w->trace_st, &w->run_st, &w->task_st, &w->xcom_st};
    const char *const sqls[][3] = {{exec_head, exec_row, exec_tail},
                                   {trace_head, trace_row, trace_tail},
                                   {run_head, run_row, run_tail},
                                   {task_head, task_row, task_tail},
                                   {xcom_head, xcom_row, xcom_tail}};
    for (size_t c = 0; c < sizeof caches / sizeof *caches; c++) {
        int k = 0;
        caches[c]->head = sqls[c][0];
        caches[c]->row = sqls[c][1];
        caches[c]->tail = sqls[c][2];
        caches[c]->rows[k++] = w->batch;
        for (unsigned p = 2048; p >= 1; p /= 2)
            if (p < w->batch)
                caches[c]->rows[k++] = p;
    }
    /* The client library's global init is not thread-safe: do it here, in the
     * caller's thread, before the writer thread's first mysql_init. */
    mysql_library_init(0, NULL, NULL);
    int rc = hist_spool_open(o->spool_path, o->spool_max_bytes, &w->spool, err);
    if (rc < 0)
        goto err;
    atomic_store(&w->spool_bytes, hist_spool_bytes(w->spool));
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
        sc_err_set(err, rc, "history", -1, "cannot start the writer thread: %s", strerror(rc));
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        goto err;
    }
    *out = w;
    return 0;
err:
    hist_spool_close(w->spool);
    free_writer(w);
    return -EINVAL;
}

/* Link a validated record to the queue (any thread). */
static void enqueue(struct hist_writer *w, struct hist_rec *r)
{
    uint64_t lost = 0;
    pthread_mutex_lock(&w->mu);
    /* Full: the oldest queued events go, never the caller's time. */
    while (w->head && w->qbytes + r->size > w->queue_max) {
        struct hist_rec *old = w->head;
        w->head = old->next;
        if (!w->head)
            w->tail = NULL;
        w->qcount--;
        w->qbytes -= old->size;
        free(old);
        lost++;
    }
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r, w->first_ms = now_ms();
    w->tail = r;
    w->qcount++;
    w->qbytes += r->size;
    bool wake = w->qcount == 1 || w->qcount == w->batch;
    if (wake)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    atomic_fetch_add(&w->n_queued, 1);
    atomic_fetch_add(&w->pending, 1);
    if (lost) {
        atomic_fetch_sub(&w->pending, lost);
        if (atomic_fetch_add(&w->n_dropped, lost) % 10000 == 0)
            LOGE("history: queue full (%zu bytes): dropped the oldest events", w->queue_max);
    }
}

/* Count and log (rate-limited) a refused event. */
static int rejected(struct hist_writer *w, const char *what, const char *id,
                    const struct sc_err *err)
{
    uint64_t n = atomic_fetch_add(&w->n_rejected, 1);
    if (n < 10 || n % 1000 == 0)
        LOGW("history: %s %s rejected: %s: %s", what, id ? id : "?", err->field, err->msg);
    return -EINVAL;
}

int hist_writer_submit(struct hist_writer *w, const struct hist_event *ev)
{
    struct sc_err err;
    sc_err_clear(&err);
    struct hist_rec *r = hist_rec_new(ev, &err);
    if (!r) {
        uint64_t n = atomic_fetch_add(&w->n_rejected, 1);
        if (n < 10 || n % 1000 == 0)
            LOGW("history: event for %s/%s rejected: %s: %s", ev->job ? ev->job : "?",
                 ev->execution_id ? ev->execution_id : "?", err.field, err.msg);
        return -EINVAL;
    }
    enqueue(w, r);
    return 0;
}

int hist_writer_submit_wf_run(struct hist_writer *w, const struct hist_wf_run_event *ev)
{
    struct sc_err err;
    sc_err_clear(&err);
    struct hist_rec *r = hist_rec_new_wf_run(ev, &err);
    if (!r)
        return rejected(w, "workflow run", ev->run_id, &err);
    enqueue(w, r);
    return 0;
}

int hist_writer_submit_wf_task(struct hist_writer *w, const struct hist_wf_task_event *ev)
{
    struct sc_err err;
    sc_err_clear(&err);
    struct hist_rec *r = hist_rec_new_wf_task(ev, &err);
    if (!r)
        return rejected(w, "task instance of run", ev->run_id, &err);
    enqueue(w, r);
    return 0;
}

int hist_writer_submit_wf_xcom(struct hist_writer *w, const struct hist_wf_xcom_event *ev)
{
    struct sc_err err;
    sc_err_clear(&err);
    struct hist_rec *r = hist_rec_new_wf_xcom(ev, &err);
    if (!r)
        return rejected(w, "task output of run", ev->run_id, &err);
    enqueue(w, r);
    return 0;
}

void hist_writer_flush(struct hist_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->flush_req = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void hist_writer_stats(struct hist_writer *w, struct hist_writer_stats *out)
{
    out->queued = atomic_load(&w->n_queued);
    out->written = atomic_load(&w->n_written);
    out->spooled = atomic_load(&w->n_spooled);
    out->replayed = atomic_load(&w->n_replayed);
    out->dropped = atomic_load(&w->n_dropped);
    out->rejected = atomic_load(&w->n_rejected);
    out->spool_bytes = atomic_load(&w->spool_bytes);
    out->pending = atomic_load(&w->pending);
    out->connected = atomic_load(&w->connected);
    out->spool_full = atomic_load(&w->spool_full);
}

void hist_writer_close(struct hist_writer *w, unsigned deadline_ms)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    w->close_deadline_ms = now_ms() + (deadline_ms ? deadline_ms : 1);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    hist_spool_close(w->spool);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free_writer(w);
}
