/* sql/hist_wf.c: the workflow history's reads (sql/hist_wf.h).
 *
 * Owns: the prepared queries over workflow_run, task_instance and task_xcom
 * and the JSON they are returned as. A run is read with three statements (the
 * run, its task instances, its outputs), each one index lookup on a primary key
 * prefix; a list of runs is one range of uk_logical (workflow, logical_ms)
 * read backwards, so it needs no sort. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sql/hist.h"
#include "sql/hist_wf.h"

/* ============================== statements ============================== */

#define MAXC 12

/* One prepared query and its result columns: 's' text into a buffer of the
 * column's largest size, 'i' a 64-bit integer. */
struct q {
    MYSQL_STMT *st;
    MYSQL_BIND r[MAXC];
    unsigned long len[MAXC];
    my_bool null[MAXC];
    my_bool trunc[MAXC];
    long long ll[MAXC];
    char *buf[MAXC];
    int n;
};

static void q_close(struct q *q)
{
    if (q->st)
        mysql_stmt_close(q->st);
    for (int i = 0; i < q->n; i++)
        free(q->buf[i]);
    memset(q, 0, sizeof *q);
}

/* Prepare and run `sql` with params p (np of them); cols is one letter per
 * result column, caps the text columns' sizes in bytes (0 for 'i'). */
static int q_open(struct q *q, MYSQL *m, const char *sql, MYSQL_BIND *p, int np, const char *cols,
                  const unsigned long *caps, struct sc_err *err)
{
    memset(q, 0, sizeof *q);
    q->st = db_stmt_prepare(m, sql, err);
    if (!q->st)
        return -EIO;
    q->n = (int)strlen(cols);
    for (int i = 0; i < q->n; i++) {
        MYSQL_BIND *b = &q->r[i];
        b->length = &q->len[i];
        b->is_null = &q->null[i];
        b->error = &q->trunc[i];
        if (cols[i] == 'i') {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &q->ll[i];
        } else {
            q->buf[i] = malloc(caps[i] + 1);
            if (!q->buf[i]) {
                q_close(q);
                return sc_err_set(err, ENOMEM, "query", -1, "out of memory");
            }
            b->buffer_type = MYSQL_TYPE_BLOB;
            b->buffer = q->buf[i];
            b->buffer_length = caps[i];
        }
    }
    if ((np && mysql_stmt_bind_param(q->st, p)) || mysql_stmt_execute(q->st) ||
        mysql_stmt_bind_result(q->st, q->r)) {
        sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(q->st),
                   mysql_stmt_error(q->st));
        q_close(q);
        return -EIO;
    }
    return 0;
}

/* The next row: 1, 0 when no more, -EIO with err set. Text columns come back
 * NUL-terminated (q->len holds their length). */
static int q_fetch(struct q *q, struct sc_err *err)
{
    int f = mysql_stmt_fetch(q->st);
    if (f == MYSQL_NO_DATA)
        return 0;
    if (f == MYSQL_DATA_TRUNCATED) {
        int i = 0;
        while (i < q->n - 1 && !q->trunc[i])
            i++;
        return sc_err_set(err, EIO, "query", -1,
                          "column %d: a stored value of %lu bytes is larger than it may be", i + 1,
                          q->len[i]);
    }
    if (f != 0)
        return sc_err_set(err, EIO, "query", -1, "error %u: %s", mysql_stmt_errno(q->st),
                          mysql_stmt_error(q->st));
    for (int i = 0; i < q->n; i++)
        if (q->buf[i])
            q->buf[i][q->null[i] ? 0 : q->len[i]] = '\0';
    return 1;
}

static void p_str(MYSQL_BIND *b, const char *s)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)s;
    b->buffer_length = (unsigned long)strlen(s);
}

static void p_ll(MYSQL_BIND *b, long long *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
}

static int check_ident(const char *field, const char *v, size_t max, struct sc_err *err)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > max)
        return sc_err_set(err, EINVAL, field, -1, "must be 1 to %zu bytes, got %zu", max, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7F)
            return sc_err_set(err, EINVAL, field, (int)i, "must be printable ASCII without spaces");
    return 0;
}

/* ============================== JSON ============================== */

/* "2026-12-07T01:00:00+00:00", with ".mmm" when the time has milliseconds. */
static void iso_utc(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    char base[32];
    gmtime_r(&s, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf, len, "%s.%03d+00:00", base, frac);
    else
        snprintf(buf, len, "%s+00:00", base);
}

static void add_ms(cJSON *o, const char *key, const struct q *q, int col)
{
    if (q->null[col])
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, (double)q->ll[col]);
}

/* Stored JSON as a value; text that is not JSON (written by hand) as a string,
 * so a bad row is shown rather than hiding the run. */
static cJSON *stored_json(const char *s, size_t len)
{
    cJSON *v = cJSON_ParseWithLength(s, len);
    return v ? v : cJSON_CreateString(s);
}

#define RUN_COLS_SQL                                                                               \
    "run_id, workflow, state, logical_ms, run_trigger, params, created_ms, started_ms, ended_ms"
static const char run_cols[] = "sssissiii";
static const unsigned long run_caps[] = {
    HIST_RUN_ID_MAX, HIST_WF_NAME_MAX, 16, 0, 16, HIST_PARAMS_MAX, 0, 0, 0};
_Static_assert(sizeof run_cols - 1 == sizeof run_caps / sizeof *run_caps, "one cap per column");

/* The current row of a RUN_COLS_SQL query as an object. */
static cJSON *run_json(const struct q *q)
{
    char iso[48];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "run_id", q->buf[0]);
    cJSON_AddStringToObject(o, "workflow", q->buf[1]);
    cJSON_AddStringToObject(o, "state", q->buf[2]);
    iso_utc(q->ll[3], iso, sizeof iso);
    cJSON_AddStringToObject(o, "logical_time", iso);
    cJSON_AddNumberToObject(o, "logical_ms", (double)q->ll[3]);
    cJSON_AddStringToObject(o, "trigger", q->buf[4]);
    cJSON_AddItemToObject(o, "params", stored_json(q->buf[5], q->len[5]));
    add_ms(o, "created_ms", q, 6);
    add_ms(o, "started_ms", q, 7);
    add_ms(o, "ended_ms", q, 8);
    return o;
}

/* ============================== API ============================== */

int hist_wf_run_get(MYSQL *db, const char *run_id, cJSON **out, struct sc_err *err)
{
    static const char run_sql[] = "SELECT " RUN_COLS_SQL " FROM workflow_run WHERE run_id = ?";
    static const char task_sql[] =
        "SELECT task, state, attempt, items, started_ms, ended_ms, reason FROM task_instance"
        " WHERE run_id = ? ORDER BY task";
    static const char task_cols[] = "ssiiiis";
    static const unsigned long task_caps[] = {HIST_TASK_MAX, 16, 0, 0, 0, 0, HIST_REASON_MAX * 4};
    static const char xcom_sql[] = "SELECT task, item, output FROM task_xcom WHERE run_id = ?"
                                   " AND output IS NOT NULL ORDER BY task, item";
    static const char xcom_cols[] = "sis";
    static const unsigned long xcom_caps[] = {HIST_TASK_MAX, 0, HIST_XCOM_MAX};
    struct q q;
    MYSQL_BIND p[1];
    cJSON *run = NULL, *tasks = NULL;
    int rc;
    *out = NULL;
    if ((rc = check_ident("run_id", run_id, HIST_RUN_ID_MAX, err)) < 0)
        return rc;
    p_str(&p[0], run_id);
    if ((rc = q_open(&q, db, run_sql, p, 1, run_cols, run_caps, err)) < 0)
        return rc;
    rc = q_fetch(&q, err);
    if (rc == 1)
        run = run_json(&q);
    q_close(&q);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return sc_err_set(err, ENOENT, "run_id", -1, "no run %s", run_id);
    tasks = cJSON_AddObjectToObject(run, "tasks");
    if (!run || !tasks) {
        rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
        goto fail;
    }
    if ((rc = q_open(&q, db, task_sql, p, 1, task_cols, task_caps, err)) < 0)
        goto fail;
    while ((rc = q_fetch(&q, err)) == 1) {
        cJSON *t = cJSON_AddObjectToObject(tasks, q.buf[0]);
        if (!t)
            continue;
        cJSON_AddStringToObject(t, "state", q.buf[1]);
        cJSON_AddNumberToObject(t, "attempt", (double)q.ll[2]);
        cJSON_AddNumberToObject(t, "items", (double)q.ll[3]);
        add_ms(t, "started_ms", &q, 4);
        add_ms(t, "ended_ms", &q, 5);
        if (q.null[6])
            cJSON_AddNullToObject(t, "reason");
        else
            cJSON_AddStringToObject(t, "reason", q.buf[6]);
        cJSON_AddObjectToObject(t, "outputs");
    }
    q_close(&q);
    if (rc < 0)
        goto fail;
    if ((rc = q_open(&q, db, xcom_sql, p, 1, xcom_cols, xcom_caps, err)) < 0)
        goto fail;
    while ((rc = q_fetch(&q, err)) == 1) {
        char item[24];
        cJSON *t = cJSON_GetObjectItemCaseSensitive(tasks, q.buf[0]);
        /* An output whose task row is missing (refused by the server) still shows. */
        if (!t)
            t = cJSON_AddObjectToObject(tasks, q.buf[0]);
        cJSON *outs = t ? cJSON_GetObjectItemCaseSensitive(t, "outputs") : NULL;
        if (t && !outs)
            outs = cJSON_AddObjectToObject(t, "outputs");
        if (!outs)
            continue;
        snprintf(item, sizeof item, "%lld", q.ll[1]);
        cJSON_AddItemToObject(outs, item, stored_json(q.buf[2], q.len[2]));
    }
    q_close(&q);
    if (rc < 0)
        goto fail;
    *out = run;
    return 0;
fail:
    cJSON_Delete(run);
    return rc;
}

int hist_wf_runs_list(MYSQL *db, const char *workflow, int limit, cJSON **out_array,
                      struct sc_err *err)
{
    static const char sql[] = "SELECT " RUN_COLS_SQL " FROM workflow_run WHERE workflow = ?"
                              " ORDER BY logical_ms DESC LIMIT ?";
    struct q q;
    MYSQL_BIND p[2];
    long long lim = limit ? limit : HIST_WF_LIST_DEFAULT;
    int rc;
    *out_array = NULL;
    if ((rc = check_ident("workflow", workflow, HIST_WF_NAME_MAX, err)) < 0)
        return rc;
    if (limit < 0 || limit > HIST_WF_LIST_MAX)
        return sc_err_set(err, EINVAL, "limit", -1, "must be 1 to %d, got %d", HIST_WF_LIST_MAX,
                          limit);
    p_str(&p[0], workflow);
    p_ll(&p[1], &lim);
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return sc_err_set(err, ENOMEM, "query", -1, "out of memory");
    if ((rc = q_open(&q, db, sql, p, 2, run_cols, run_caps, err)) < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    while ((rc = q_fetch(&q, err)) == 1) {
        cJSON *o = run_json(&q);
        if (!o) {
            rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
            break;
        }
        cJSON_AddItemToArray(arr, o);
    }
    q_close(&q);
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    *out_array = arr;
    return 0;
}

int hist_wf_run_exists(MYSQL *db, const char *workflow, int64_t logical_ms, char *state_out,
                       size_t state_len)
{
    static const char sql[] =
        "SELECT state FROM workflow_run WHERE workflow = ? AND logical_ms = ?";
    static const unsigned long caps[] = {16};
    struct sc_err err;
    struct q q;
    MYSQL_BIND p[2];
    long long t = logical_ms;
    if (check_ident("workflow", workflow, HIST_WF_NAME_MAX, &err) < 0)
        return -EINVAL;
    p_str(&p[0], workflow);
    p_ll(&p[1], &t);
    int rc = q_open(&q, db, sql, p, 2, "s", caps, &err);
    if (rc < 0)
        return rc;
    rc = q_fetch(&q, &err);
    if (rc == 1 && state_out && state_len)
        snprintf(state_out, state_len, "%s", q.buf[0]);
    q_close(&q);
    return rc;
}
