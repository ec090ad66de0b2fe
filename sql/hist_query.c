/* sql/hist_query.c: the console's read queries (sql/hist_query.h).
 *
 * Owns: statement text assembled from constant fragments only (filters add
 * fixed clauses; values travel as parameters), result binding into struct
 * hist_row, and the keyset cursor. See docs/history.md for the index each query
 * uses and its EXPLAIN at 10 M rows. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sql/hist_query.h"
#include "sql/hist_spool.h"

#define ROW_COLS                                                                                   \
    "e.id, e.execution_id, e.job, e.item, e.fire_time, e.trigger_type, e.attempt, e.agent,"        \
    " e.host, e.status, e.exit_code, e.exit_signal, e.queued_at, e.started_at, e.finished_at,"     \
    " e.error, e.fence"
#define NROW_COLS 17

/* ============================== parameters ============================== */

#define MAX_PARAMS 24

struct params {
    MYSQL_BIND b[MAX_PARAMS];
    MYSQL_TIME t[MAX_PARAMS];
    long long ll[MAX_PARAMS];
    int n;
};

static void p_str(struct params *p, const char *s)
{
    MYSQL_BIND *b = &p->b[p->n++];
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)s;
    b->buffer_length = (unsigned long)strlen(s);
}

static void p_int(struct params *p, long long v)
{
    MYSQL_BIND *b = &p->b[p->n];
    memset(b, 0, sizeof *b);
    p->ll[p->n] = v;
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = &p->ll[p->n];
    p->n++;
}

static void p_time(struct params *p, int64_t ms)
{
    MYSQL_BIND *b = &p->b[p->n];
    memset(b, 0, sizeof *b);
    db_ms_to_time(ms, &p->t[p->n]);
    b->buffer_type = MYSQL_TYPE_DATETIME;
    b->buffer = &p->t[p->n];
    p->n++;
}

/* ============================== results ============================== */

struct rowbind {
    MYSQL_BIND b[NROW_COLS + 1];
    unsigned long len[NROW_COLS + 1];
    my_bool null[NROW_COLS + 1];
    MYSQL_TIME t[4];
    long long id;
    long long extra; /* the ROWX_COUNT column */
};

/* What a row query selects after ROW_COLS. */
enum rowx { ROWX_NONE, ROWX_OUTPUT, ROWX_COUNT };

static void r_bind(MYSQL_BIND *b, enum enum_field_types type, void *buf, unsigned long cap,
                   unsigned long *len, my_bool *null)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = type;
    b->buffer = buf;
    b->buffer_length = cap;
    b->length = len;
    b->is_null = null;
}

static void rowbind_setup(struct rowbind *rb, struct hist_row *r, enum rowx x)
{
    int i = 0;
#define STR(field)                                                                                 \
    r_bind(&rb->b[i], MYSQL_TYPE_STRING, r->field, sizeof r->field - 1, &rb->len[i],               \
           &rb->null[i]),                                                                          \
        i++
#define INT(field) r_bind(&rb->b[i], MYSQL_TYPE_LONG, &r->field, 0, &rb->len[i], &rb->null[i]), i++
#define TIME(k) r_bind(&rb->b[i], MYSQL_TYPE_DATETIME, &rb->t[k], 0, &rb->len[i], &rb->null[i]), i++
    r_bind(&rb->b[i], MYSQL_TYPE_LONGLONG, &rb->id, 0, &rb->len[i], &rb->null[i]), i++;
    STR(execution_id);
    STR(job);
    INT(item);
    TIME(0);
    STR(trigger);
    INT(attempt);
    STR(agent);
    STR(host);
    STR(status);
    INT(exit_code);
    INT(signal);
    TIME(1);
    TIME(2);
    TIME(3);
    STR(error);
    STR(fence);
    if (x == ROWX_OUTPUT)
        r_bind(&rb->b[i], MYSQL_TYPE_BLOB, r->output, sizeof r->output, &rb->len[i], &rb->null[i]);
    else if (x == ROWX_COUNT)
        r_bind(&rb->b[i], MYSQL_TYPE_LONGLONG, &rb->extra, 0, &rb->len[i], &rb->null[i]);
#undef STR
#undef INT
#undef TIME
}

/* After a fetch: terminate strings, convert times and NULLs. */
static void rowbind_finish(struct rowbind *rb, struct hist_row *r, enum rowx x)
{
    char *strs[] = {NULL,     r->execution_id, r->job,    NULL, NULL, r->trigger, NULL,
                    r->agent, r->host,         r->status, NULL, NULL, NULL,       NULL,
                    NULL,     r->error,        r->fence};
    _Static_assert(sizeof strs / sizeof *strs == NROW_COLS, "one entry per ROW_COLS column");
    for (int i = 0; i < NROW_COLS; i++)
        if (strs[i]) {
            unsigned long l = rb->null[i] ? 0 : rb->len[i];
            if (l > rb->b[i].buffer_length)
                l = rb->b[i].buffer_length;
            strs[i][l] = '\0';
        }
    r->id = (uint64_t)rb->id;
    r->fire_ms = db_time_to_ms(&rb->t[0]);
    r->has_exit_code = !rb->null[10];
    if (rb->null[10])
        r->exit_code = 0;
    if (rb->null[11])
        r->signal = 0;
    r->queued_ms = rb->null[12] ? 0 : db_time_to_ms(&rb->t[1]);
    r->started_ms = rb->null[13] ? 0 : db_time_to_ms(&rb->t[2]);
    r->finished_ms = rb->null[14] ? 0 : db_time_to_ms(&rb->t[3]);
    r->output_len = 0;
    r->open_n = x == ROWX_COUNT && !rb->null[NROW_COLS] ? (unsigned)rb->extra : 0;
    if (x == ROWX_OUTPUT && !rb->null[NROW_COLS])
        r->output_len =
            rb->len[NROW_COLS] < sizeof r->output ? rb->len[NROW_COLS] : sizeof r->output;
}

/* Run a prepared row query and append every row to the page (growing it). */
static int run_rows(MYSQL *m, const char *sql, struct params *p, enum rowx x, struct hist_page *out,
                    size_t max_rows, struct sc_err *err)
{
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return -EIO;
    int rc = 0;
    struct rowbind *rb = calloc(1, sizeof *rb);
    struct hist_row *tmp = calloc(1, sizeof *tmp);
    if (!rb || !tmp) {
        rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
        goto out;
    }
    if ((p->n && mysql_stmt_bind_param(st, p->b)) || mysql_stmt_execute(st)) {
        rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                        mysql_stmt_error(st));
        goto out;
    }
    rowbind_setup(rb, tmp, x);
    if (mysql_stmt_bind_result(st, rb->b)) {
        rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                        mysql_stmt_error(st));
        goto out;
    }
    size_t cap = out->n;
    for (;;) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                            mysql_stmt_error(st));
            goto out;
        }
        rowbind_finish(rb, tmp, x);
        if (out->n >= max_rows)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            struct hist_row *nr = realloc(out->rows, cap * sizeof *nr);
            if (!nr) {
                rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
                goto out;
            }
            out->rows = nr;
        }
        out->rows[out->n++] = *tmp;
    }
out:
    free(rb);
    free(tmp);
    mysql_stmt_close(st);
    return rc;
}

void hist_page_free(struct hist_page *p)
{
    if (p) {
        free(p->rows);
        p->rows = NULL;
        p->n = 0;
    }
}

/* ============================== cursor ============================== */

void hist_cursor_encode(int64_t fire_ms, uint64_t id, char out[HIST_CURSOR_LEN])
{
    unsigned char raw[16];
    for (int i = 0; i < 8; i++) {
        raw[i] = (unsigned char)((uint64_t)fire_ms >> (56 - 8 * i));
        raw[8 + i] = (unsigned char)(id >> (56 - 8 * i));
    }
    snprintf(out, HIST_CURSOR_LEN, "%016" PRIx64 "%016" PRIx64 "%08" PRIx32, (uint64_t)fire_ms, id,
             hist_crc32(raw, sizeof raw));
}

int hist_cursor_decode(const char *s, int64_t *fire_ms, uint64_t *id)
{
    char check[HIST_CURSOR_LEN];
    uint64_t f, i;
    if (!s || strlen(s) != HIST_CURSOR_LEN - 1 || strspn(s, "0123456789abcdef") != strlen(s))
        return -EINVAL;
    if (sscanf(s, "%16" SCNx64 "%16" SCNx64, &f, &i) != 2)
        return -EINVAL;
    hist_cursor_encode((int64_t)f, i, check);
    if (strcmp(check, s) != 0)
        return -EINVAL;
    *fire_ms = (int64_t)f;
    *id = i;
    return 0;
}

/* ============================== lists ============================== */

int hist_query_executions(MYSQL *m, const struct hist_filter *f, struct hist_page *out,
                          struct sc_err *err)
{
    char sql[2048];
    struct params p = {.n = 0};
    unsigned limit = f->limit ? f->limit : 50;
    int64_t cfire = 0;
    uint64_t cid = 0;
    memset(out, 0, sizeof *out);
    if (limit > HIST_PAGE_MAX)
        return sc_err_set(err, EINVAL, "limit", -1, "must be 1..%d", HIST_PAGE_MAX);
    if (f->item >= 0 && !f->job)
        return sc_err_set(err, EINVAL, "item", -1, "needs job");
    if (f->cursor && *f->cursor && hist_cursor_decode(f->cursor, &cfire, &cid) < 0)
        return sc_err_set(err, EINVAL, "cursor", -1, "is not a cursor this server made");
    if (f->status_mask & ~(((1u << (HIST_PAUSED + 1)) - 1) & ~1u))
        return sc_err_set(err, EINVAL, "status", -1, "unknown status in the mask");

    /* Constant fragments only; every value is a parameter. */
    snprintf(sql, sizeof sql, "SELECT " ROW_COLS " FROM job_execution e WHERE 1=1");
    if (f->job) {
        strcat(sql, " AND e.job = ?");
        p_str(&p, f->job);
    }
    if (f->item >= 0) {
        strcat(sql, " AND e.item = ?");
        p_int(&p, f->item);
    }
    if (f->status_mask) {
        strcat(sql, " AND e.status IN (");
        bool first = true;
        for (int s = HIST_QUEUED; s <= HIST_PAUSED; s++)
            if (f->status_mask & (1u << s)) {
                strcat(sql, first ? "?" : ",?");
                first = false;
                p_str(&p, hist_status_name(s));
            }
        strcat(sql, ")");
    }
    if (f->agent) {
        strcat(sql, " AND e.agent = ?");
        p_str(&p, f->agent);
    }
    if (f->from_ms) {
        strcat(sql, " AND e.fire_time >= ?");
        p_time(&p, f->from_ms);
    }
    if (f->to_ms) {
        strcat(sql, " AND e.fire_time < ?");
        p_time(&p, f->to_ms);
    }
    if (cid) {
        /* Sargable form of (fire_time, id) < (c_fire, c_id). */
        strcat(sql, " AND e.fire_time <= ? AND (e.fire_time < ? OR e.id < ?)");
        p_time(&p, cfire);
        p_time(&p, cfire);
        p_int(&p, (long long)cid);
    }
    strcat(sql, " ORDER BY e.fire_time DESC, e.id DESC LIMIT ?");
    p_int(&p, limit + 1);
    int rc = run_rows(m, sql, &p, ROWX_NONE, out, limit + 1, err);
    if (rc < 0) {
        hist_page_free(out);
        return rc;
    }
    if (out->n > limit) {
        out->n = limit;
        hist_cursor_encode(out->rows[limit - 1].fire_ms, out->rows[limit - 1].id, out->next_cursor);
    }
    return 0;
}

int hist_alert_open(MYSQL *m, int64_t since_ms, unsigned per_job, unsigned limit,
                    struct hist_page *out, bool *truncated, struct sc_err *err)
{
    struct params p = {.n = 0};
    memset(out, 0, sizeof *out);
    *truncated = false;
    if (per_job < 1 || limit < 1)
        return sc_err_set(err, EINVAL, "limit", -1, "per_job and limit must be >= 1");
    /* Innermost: the newest execution of each (job, item, status) in the
     * window (ix_status_time); then only those that no later success cleared —
     * when the newest is cleared every older one is too, so the NOT EXISTS
     * probe (uk_fire) runs once per (job, item, status), not once per failed
     * run; then rank within (job, status) and count, so one job with thousands
     * of failing items adds at most per_job rows and crowds out no other job. */
    const char *sql =
        "SELECT " ROW_COLS ", e.n FROM ("
        " SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.job, e.status"
        "  ORDER BY e.fire_time DESC, e.id DESC) AS rk,"
        "  COUNT(*) OVER (PARTITION BY e.job, e.status) AS n FROM ("
        "  SELECT f.id, f.execution_id, f.job, f.item, f.fire_time, f.trigger_type, f.attempt,"
        "   f.agent, f.host, f.status, f.exit_code, f.exit_signal, f.queued_at, f.started_at,"
        "   f.finished_at, f.error, f.fence, ROW_NUMBER() OVER (PARTITION BY f.job, f.item,"
        "   f.status ORDER BY f.fire_time DESC, f.attempt DESC, f.id DESC) AS ri"
        "  FROM job_execution f WHERE f.status IN ('failed','timeout','missed')"
        "  AND f.fire_time >= ?) e WHERE e.ri = 1" HIST_UNRESOLVED_SQL ") e"
        " WHERE e.rk <= ? ORDER BY e.fire_time DESC, e.id DESC LIMIT ?";
    p_time(&p, since_ms);
    p_int(&p, per_job);
    p_int(&p, (long long)limit + 1);
    int rc = run_rows(m, sql, &p, ROWX_COUNT, out, limit + 1, err);
    if (rc < 0) {
        hist_page_free(out);
        return rc;
    }
    if (out->n > limit) {
        out->n = limit;
        *truncated = true;
    }
    return 0;
}

int hist_latest_per_job(MYSQL *m, const char *job, struct hist_page *out, struct sc_err *err)
{
    struct params p = {.n = 0};
    const char *sql;
    memset(out, 0, sizeof *out);
    if (job) {
        sql = "SELECT " ROW_COLS " FROM job_execution e"
              " WHERE e.job = ? AND e.fire_time = (SELECT MAX(fire_time) FROM job_execution"
              " WHERE job = ?) ORDER BY e.item, e.id";
        p_str(&p, job);
        p_str(&p, job);
    } else {
        /* The derived table is a loose index scan of ix_job_time: one probe per job. */
        sql = "SELECT " ROW_COLS " FROM (SELECT job, MAX(fire_time) AS ft FROM job_execution"
              " GROUP BY job) l JOIN job_execution e ON e.job = l.job AND e.fire_time = l.ft"
              " ORDER BY e.job, e.item, e.id";
    }
    int rc = run_rows(m, sql, &p, ROWX_NONE, out, SIZE_MAX, err);
    if (rc < 0)
        hist_page_free(out);
    return rc;
}

/* ============================== stats ============================== */

int hist_daily_stats(MYSQL *m, const char *job, int64_t from_ms, int64_t to_ms,
                     struct hist_daily **out, size_t *n, struct sc_err *err)
{
    struct params p = {.n = 0};
    char sql[640];
    *out = NULL;
    *n = 0;
    snprintf(sql, sizeof sql,
             "SELECT job, day, total, queued, running, succeeded, failed, timeout, killed,"
             " skipped, missed, duration_p50_ms, duration_p95_ms, duration_max_ms"
             " FROM job_daily_stats WHERE %s day >= DATE(?) AND day <= DATE(?)"
             " ORDER BY day, job",
             job ? "job = ? AND" : "");
    if (job)
        p_str(&p, job);
    p_time(&p, from_ms);
    p_time(&p, to_ms);
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return -EIO;
    struct hist_daily d;
    MYSQL_BIND b[14];
    unsigned long len[14];
    my_bool null[14];
    MYSQL_TIME day;
    int dur[3];
    int rc = 0;
    size_t cap = 0;
    r_bind(&b[0], MYSQL_TYPE_STRING, d.job, sizeof d.job - 1, &len[0], &null[0]);
    r_bind(&b[1], MYSQL_TYPE_DATE, &day, 0, &len[1], &null[1]);
    r_bind(&b[2], MYSQL_TYPE_LONG, &d.total, 0, &len[2], &null[2]);
    for (int s = HIST_QUEUED; s <= HIST_MISSED; s++)
        r_bind(&b[2 + s], MYSQL_TYPE_LONG, &d.by_status[s], 0, &len[2 + s], &null[2 + s]);
    for (int k = 0; k < 3; k++)
        r_bind(&b[11 + k], MYSQL_TYPE_LONG, &dur[k], 0, &len[11 + k], &null[11 + k]);
    if (mysql_stmt_bind_param(st, p.b) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, b)) {
        rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                        mysql_stmt_error(st));
        goto out;
    }
    for (;;) {
        memset(&d, 0, sizeof d);
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                            mysql_stmt_error(st));
            goto out;
        }
        d.job[len[0] < sizeof d.job ? len[0] : sizeof d.job - 1] = '\0';
        day.hour = day.minute = day.second = 0;
        day.second_part = 0;
        d.day_ms = db_time_to_ms(&day);
        d.p50_ms = null[11] ? -1 : dur[0];
        d.p95_ms = null[12] ? -1 : dur[1];
        d.max_ms = null[13] ? -1 : dur[2];
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct hist_daily *nd = realloc(*out, cap * sizeof *nd);
            if (!nd) {
                rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
                goto out;
            }
            *out = nd;
        }
        (*out)[(*n)++] = d;
    }
out:
    mysql_stmt_close(st);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ============================== story ============================== */

int hist_story_get(MYSQL *m, const char *execution_id, struct hist_story *out, struct sc_err *err)
{
    struct params p = {.n = 0};
    struct hist_page one = {0};
    memset(out, 0, sizeof *out);
    if (!execution_id || !*execution_id || strlen(execution_id) > HIST_ID_MAX)
        return sc_err_set(err, EINVAL, "execution_id", -1, "must be 1 to %d bytes", HIST_ID_MAX);
    p_str(&p, execution_id);
    int rc = run_rows(m,
                      "SELECT " ROW_COLS ", e.output_tail FROM job_execution e"
                      " WHERE e.execution_id = ?",
                      &p, ROWX_OUTPUT, &one, 1, err);
    if (rc < 0)
        return rc;
    if (one.n == 0) {
        hist_page_free(&one);
        return sc_err_set(err, ENOENT, "execution_id", -1, "no execution %s", execution_id);
    }
    out->row = one.rows[0];
    hist_page_free(&one);

    /* Every attempt of the same fire, retries included. */
    p.n = 0;
    p_str(&p, out->row.job);
    p_int(&p, out->row.item);
    p_time(&p, out->row.fire_ms);
    rc = run_rows(m,
                  "SELECT " ROW_COLS " FROM job_execution e WHERE e.job = ? AND e.item = ?"
                  " AND e.fire_time = ? ORDER BY e.attempt, e.id",
                  &p, ROWX_NONE, &out->attempts, HIST_PAGE_MAX, err);
    if (rc < 0)
        goto fail;

    MYSQL_STMT *st = db_stmt_prepare(m,
                                     "SELECT state, at, message FROM job_status_trace WHERE"
                                     " execution_id = ? ORDER BY at, state",
                                     err);
    if (!st) {
        rc = -EIO;
        goto fail;
    }
    struct hist_trace t;
    MYSQL_BIND b[3];
    unsigned long len[3];
    my_bool null[3];
    MYSQL_TIME at;
    size_t cap = 0;
    p.n = 0;
    p_str(&p, execution_id);
    r_bind(&b[0], MYSQL_TYPE_STRING, t.state, sizeof t.state - 1, &len[0], &null[0]);
    r_bind(&b[1], MYSQL_TYPE_DATETIME, &at, 0, &len[1], &null[1]);
    r_bind(&b[2], MYSQL_TYPE_STRING, t.message, sizeof t.message - 1, &len[2], &null[2]);
    if (mysql_stmt_bind_param(st, p.b) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, b)) {
        rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                        mysql_stmt_error(st));
        mysql_stmt_close(st);
        goto fail;
    }
    for (;;) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            rc = sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(st),
                            mysql_stmt_error(st));
            mysql_stmt_close(st);
            goto fail;
        }
        t.state[len[0] < sizeof t.state ? len[0] : sizeof t.state - 1] = '\0';
        t.message[null[2] ? 0 : len[2] < sizeof t.message ? len[2] : sizeof t.message - 1] = '\0';
        t.at_ms = db_time_to_ms(&at);
        if (out->ntrace == cap) {
            cap = cap ? cap * 2 : 4;
            struct hist_trace *nt = realloc(out->trace, cap * sizeof *nt);
            if (!nt) {
                rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
                mysql_stmt_close(st);
                goto fail;
            }
            out->trace = nt;
        }
        out->trace[out->ntrace++] = t;
    }
    mysql_stmt_close(st);
    return 0;
fail:
    hist_story_free(out);
    return rc;
}

void hist_story_free(struct hist_story *s)
{
    if (!s)
        return;
    free(s->trace);
    s->trace = NULL;
    s->ntrace = 0;
    hist_page_free(&s->attempts);
}
