/* console/api_hist.c: routes over the history store (executions, an execution's
 * story, the 24 h chart, the alert panels) and export/import of the namespace.
 *
 * MySQL work runs on the dbpool workers; the reply is built and sent on the loop
 * thread in the done callback, where the ZooKeeper cache may be read. */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console/console.h"
#include "core/cron.h"
#include "core/json.h"
#include "core/log.h"
#include "registry/jobops.h"
#include "sql/hist_query.h"

#define ALERT_WINDOW_MS (24LL * 3600 * 1000)
#define ALERT_SKEW_MS 2000
#define ALERT_PER_JOB 10    /* items listed per job and reason; the rest are counted */
#define ALERT_ROWS_MAX 1000 /* history rows read per request (a few MB at most) */

static void iso_ms(cJSON *o, const char *key, int64_t ms)
{
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[40];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(ms % 1000));
    cJSON_AddStringToObject(o, key, buf);
}

static cJSON *row_json(const struct hist_row *h, bool output)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "execution_id", h->execution_id);
    cJSON_AddStringToObject(o, "job", h->job);
    cJSON_AddNumberToObject(o, "item", h->item);
    iso_ms(o, "fire_time", h->fire_ms);
    cJSON_AddStringToObject(o, "trigger", h->trigger);
    cJSON_AddNumberToObject(o, "attempt", h->attempt);
    cJSON_AddStringToObject(o, "agent", h->agent);
    cJSON_AddStringToObject(o, "host", h->host);
    cJSON_AddStringToObject(o, "status", h->status);
    if (h->has_exit_code)
        cJSON_AddNumberToObject(o, "exit_code", h->exit_code);
    else
        cJSON_AddNullToObject(o, "exit_code");
    if (h->signal)
        cJSON_AddNumberToObject(o, "signal", h->signal);
    iso_ms(o, "queued_at", h->queued_ms);
    iso_ms(o, "started_at", h->started_ms);
    iso_ms(o, "finished_at", h->finished_ms);
    if (h->started_ms && h->finished_ms)
        cJSON_AddNumberToObject(o, "duration_ms", (double)(h->finished_ms - h->started_ms));
    cJSON_AddStringToObject(o, "error", h->error);
    /* The run's SHARDCRON_FENCE; null for fires that did not run and older rows. */
    if (h->fence[0])
        cJSON_AddStringToObject(o, "fence", h->fence);
    else
        cJSON_AddNullToObject(o, "fence");
    if (output) {
        /* Output is bytes; invalid UTF-8 would break the JSON, so escape it. */
        char *s = malloc(h->output_len * 4 + 1), *p = s;
        for (size_t i = 0; s && i < h->output_len; i++) {
            unsigned char ch = h->output[i];
            if (ch >= 0x80 || (ch < 0x20 && ch != '\n' && ch != '\t'))
                p += sprintf(p, "\\x%02x", ch);
            else
                *p++ = (char)ch;
        }
        if (s) {
            *p = '\0';
            cJSON_AddStringToObject(o, "output_tail", s);
            free(s);
        }
    }
    return o;
}

/* The last second of year 9999: later times print with five-digit years, which
 * MySQL's DATETIME cannot hold, and a filter past them inverts. */
#define TIME_MAX_S 253402300799LL

/* parse_time: epoch seconds, or "YYYY-MM-DD HH:MM:SS" / "...T..." in UTC -> ms,
 * from 1970 to 9999. */
static int parse_time(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end) {
        if (v < 0 || v > TIME_MAX_S || errno == ERANGE)
            return -ERANGE;
        *ms = v * 1000;
        return 0;
    }
    int64_t civil;
    char buf[40];
    snprintf(buf, sizeof buf, "%s", s);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == 'Z')
        buf[n - 1] = '\0';
    if (tz_parse_civil(buf, &civil) < 0)
        return -EINVAL;
    if (civil < 0 || civil > TIME_MAX_S)
        return -ERANGE;
    *ms = civil * 1000;
    return 0;
}

/* ---------------------------------------------------------------- executions */

struct histq {
    struct creq *r;
    struct hist_filter f;
    struct hist_page page;
    struct hist_story story;
    const char *id;
    struct sc_err err;
    int rc;
    bool down;
    int64_t since_ms;
    bool truncated;
    /* stats */
    int64_t hours_total[24], hours_failed[24];
};

static void histq_free(struct histq *q)
{
    hist_page_free(&q->page);
    free(q);
}

static bool submit(struct creq *r, struct histq *q, dbpool_work_fn work, dbpool_done_fn done)
{
    if (!r->c->db) {
        free(q);
        creq_error(r, 503, "mysql", "the console runs without --mysql: no history");
        return false;
    }
    q->r = r;
    if (dbpool_submit(r->c->db, work, done, q) < 0) {
        free(q);
        creq_error(r, 500, NULL, "out of memory");
        return false;
    }
    return true;
}

/* reply_db_error: true (after replying) when the query failed. */
static bool reply_db_error(struct histq *q)
{
    if (q->down) {
        creq_error(q->r, 503, "mysql", "the history store is unreachable");
        return true;
    }
    if (q->rc == -ENOENT) {
        creq_error(q->r, 404, "id", "no execution with that id");
        return true;
    }
    if (q->rc == -EINVAL) {
        creq_error(q->r, 400, q->err.field, "%s", q->err.msg);
        return true;
    }
    if (q->rc < 0) {
        creq_error(q->r, 503, "mysql", "query failed: %s", q->err.msg);
        return true;
    }
    return false;
}

static void exec_work(MYSQL *m, void *arg)
{
    struct histq *q = arg;
    if (!m) {
        q->down = true;
        return;
    }
    q->rc = hist_query_executions(m, &q->f, &q->page, &q->err);
}

static void exec_done(void *arg)
{
    struct histq *q = arg;
    struct creq *r = q->r;
    if (reply_db_error(q)) {
        histq_free(q);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "executions");
    for (size_t i = 0; i < q->page.n; i++)
        cJSON_AddItemToArray(arr, row_json(&q->page.rows[i], false));
    if (q->page.next_cursor[0])
        cJSON_AddStringToObject(o, "next_cursor", q->page.next_cursor);
    else
        cJSON_AddNullToObject(o, "next_cursor");
    histq_free(q);
    creq_json(r, 200, o);
}

void api_executions(struct creq *r)
{
    struct histq *q = calloc(1, sizeof *q);
    const char *s;
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    q->f.item = -1;
    q->f.job = creq_arg(r, "job");
    q->f.agent = creq_arg(r, "agent");
    q->f.cursor = creq_arg(r, "cursor");
    if (q->f.job && !*q->f.job)
        q->f.job = NULL;
    if (q->f.agent && !*q->f.agent)
        q->f.agent = NULL;
    if (q->f.cursor && !*q->f.cursor)
        q->f.cursor = NULL;
    if ((s = creq_arg(r, "item")) && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end || v < 0 || v > 1000000) {
            free(q);
            creq_error(r, 400, "item", "must be a shard item number");
            return;
        }
        q->f.item = (int)v;
    }
    if ((s = creq_arg(r, "status")) && *s) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s", s);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int st = hist_status_parse(t);
            if (st < 0) {
                free(q);
                creq_error(r, 400, "status", "unknown status \"%.40s\"", t);
                return;
            }
            q->f.status_mask |= 1u << st;
        }
    }
    if ((s = creq_arg(r, "from")) && *s && parse_time(s, &q->f.from_ms) < 0) {
        free(q);
        creq_error(
            r, 400, "from",
            "must be epoch seconds or YYYY-MM-DD HH:MM:SS (UTC), 1970 to 9999 (got \"%.40s\")", s);
        return;
    }
    if ((s = creq_arg(r, "to")) && *s && parse_time(s, &q->f.to_ms) < 0) {
        free(q);
        creq_error(
            r, 400, "to",
            "must be epoch seconds or YYYY-MM-DD HH:MM:SS (UTC), 1970 to 9999 (got \"%.40s\")", s);
        return;
    }
    if ((s = creq_arg(r, "limit")) && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end || v < 1 || v > HIST_PAGE_MAX) {
            free(q);
            creq_error(r, 400, "limit", "must be between 1 and %d", HIST_PAGE_MAX);
            return;
        }
        q->f.limit = (unsigned)v;
    }
    submit(r, q, exec_work, exec_done);
}

static void story_work(MYSQL *m, void *arg)
{
    struct histq *q = arg;
    if (!m) {
        q->down = true;
        return;
    }
    q->rc = hist_story_get(m, q->id, &q->story, &q->err);
}

static void story_done(void *arg)
{
    struct histq *q = arg;
    struct creq *r = q->r;
    if (reply_db_error(q)) {
        histq_free(q);
        return;
    }
    cJSON *o = row_json(&q->story.row, true);
    cJSON *tr = cJSON_AddArrayToObject(o, "trace");
    for (size_t i = 0; i < q->story.ntrace; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "state", q->story.trace[i].state);
        iso_ms(t, "at", q->story.trace[i].at_ms);
        cJSON_AddStringToObject(t, "message", q->story.trace[i].message);
        cJSON_AddItemToArray(tr, t);
    }
    cJSON *at = cJSON_AddArrayToObject(o, "attempts");
    for (size_t i = 0; i < q->story.attempts.n; i++)
        cJSON_AddItemToArray(at, row_json(&q->story.attempts.rows[i], false));
    hist_story_free(&q->story);
    histq_free(q);
    creq_json(r, 200, o);
}

void api_execution(struct creq *r, const char *id)
{
    if (strlen(id) > HIST_ID_MAX) {
        creq_error(r, 404, "id", "no execution with that id");
        return;
    }
    struct histq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    q->id = id;
    submit(r, q, story_work, story_done);
}

/* ---------------------------------------------------------------- stats (24 h chart) */

static void stats_work(MYSQL *m, void *arg)
{
    struct histq *q = arg;
    char since[40], sql[400];
    if (!m) {
        q->down = true;
        return;
    }
    time_t t = (time_t)(q->since_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(sql, sizeof sql,
             "SELECT TIMESTAMPDIFF(HOUR, '%s', fire_time) AS h, COUNT(*),"
             " SUM(status IN ('failed','timeout','killed','missed'))"
             " FROM job_execution WHERE fire_time >= '%s' GROUP BY h",
             since, since);
    if (mysql_query(m, sql) != 0) {
        q->rc = -EIO;
        snprintf(q->err.msg, sizeof q->err.msg, "%s", mysql_error(m));
        return;
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        long h = row[0] ? atol(row[0]) : -1;
        if (h >= 0 && h < 24) {
            q->hours_total[h] = row[1] ? atoll(row[1]) : 0;
            q->hours_failed[h] = row[2] ? atoll(row[2]) : 0;
        }
    }
    if (res)
        mysql_free_result(res);
}

static void stats_done(void *arg)
{
    struct histq *q = arg;
    struct creq *r = q->r;
    if (reply_db_error(q)) {
        histq_free(q);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *hours = cJSON_AddArrayToObject(o, "hour_epoch"),
          *tot = cJSON_AddArrayToObject(o, "executions"),
          *fail = cJSON_AddArrayToObject(o, "failures");
    int64_t sum = 0, fsum = 0;
    for (int h = 0; h < 24; h++) {
        cJSON_AddItemToArray(hours, cJSON_CreateNumber((double)(q->since_ms / 1000 + h * 3600)));
        cJSON_AddItemToArray(tot, cJSON_CreateNumber((double)q->hours_total[h]));
        cJSON_AddItemToArray(fail, cJSON_CreateNumber((double)q->hours_failed[h]));
        sum += q->hours_total[h];
        fsum += q->hours_failed[h];
    }
    cJSON_AddNumberToObject(o, "total", (double)sum);
    cJSON_AddNumberToObject(o, "failed", (double)fsum);
    histq_free(q);
    creq_json(r, 200, o);
}

void api_stats(struct creq *r)
{
    struct histq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    /* 24 whole hours ending with the current one. */
    q->since_ms = (console_now_ms() / 3600000 - 23) * 3600000;
    submit(r, q, stats_work, stats_done);
}

/* ---------------------------------------------------------------- alerts */

static void alert_work(MYSQL *m, void *arg)
{
    struct histq *q = arg;
    if (!m) {
        q->down = true;
        return;
    }
    q->rc = hist_alert_open(m, q->since_ms, ALERT_PER_JOB, ALERT_ROWS_MAX, &q->page, &q->truncated,
                            &q->err);
}

static void add_job_ids(struct console *c, cJSON *o, const struct job *j)
{
    int dl = j ? zkview_domain_level(&c->view, j->domain) : -1;
    cJSON_AddStringToObject(o, "domain", j ? j->domain : "");
    if (dl >= 0)
        cJSON_AddNumberToObject(o, "domain_level", dl);
    else
        cJSON_AddNullToObject(o, "domain_level");
    if (j)
        cJSON_AddNumberToObject(o, "job_level", j->level);
    else
        cJSON_AddNullToObject(o, "job_level");
}

/* alert_entry: the panel row of (panel, job, reason), made on first use; rows
 * of one job and reason are one entry, so a noisy job is one line. */
static cJSON *alert_entry(struct console *c, struct strmap *seen, cJSON *panel, const char *job,
                          const char *reason)
{
    char key[JOB_NAME_MAX * 4 + 64];
    snprintf(key, sizeof key, "%p\n%s\n%s", (void *)panel, reason, job);
    cJSON *e = strmap_get(seen, key);
    if (e)
        return e;
    const struct zkview_job *zj = zkview_job(&c->view, job);
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "job", job);
    add_job_ids(c, e, zj ? zj->jc.cfg : NULL);
    cJSON_AddStringToObject(e, "reason", reason);
    cJSON_AddArrayToObject(e, "items");
    cJSON_AddNumberToObject(e, "items_open", 0);
    cJSON_AddItemToArray(panel, e);
    int perr = 0;
    strmap_put(seen, key, e, &perr);
    return e;
}

static void alert_add_item(cJSON *e, int item, unsigned open)
{
    cJSON *items = cJSON_GetObjectItemCaseSensitive(e, "items");
    cJSON *it;
    cJSON_ArrayForEach(it, items) if (it->valueint == item) return;
    if (cJSON_GetArraySize(items) < ALERT_PER_JOB)
        cJSON_AddItemToArray(items, cJSON_CreateNumber(item));
    cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "items_open");
    double v = open ? (double)open : n->valuedouble + 1;
    if (v < cJSON_GetArraySize(items))
        v = cJSON_GetArraySize(items);
    cJSON_SetNumberValue(n, v);
}

static int panel_open(const cJSON *panel)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, panel)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "items_open");
        n += cJSON_IsNumber(k) && k->valueint > 0 ? k->valueint : 1;
    }
    return n;
}

static void alerts_done(void *arg)
{
    struct histq *q = arg;
    struct creq *r = q->r;
    struct console *c = r->c;
    if (reply_db_error(q)) {
        histq_free(q);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *p1 = cJSON_AddArrayToObject(o, "abnormal_jobs");
    cJSON *p2 = cJSON_AddArrayToObject(o, "over_timeout");
    cJSON *p3 = cJSON_AddArrayToObject(o, "no_failover");
    cJSON *p4 = cJSON_AddArrayToObject(o, "abnormal_agents");
    struct strmap seen;
    strmap_init(&seen);
    int64_t now = console_now_ms();
    /* 1 and 2 from history: the open (uncleared) failures, misses and timeouts
     * of the window, newest first, one entry per job and reason. */
    for (size_t i = 0; i < q->page.n; i++) {
        const struct hist_row *h = &q->page.rows[i];
        bool timeout = strcmp(h->status, "timeout") == 0;
        bool missed = strcmp(h->status, "missed") == 0;
        cJSON *e = alert_entry(c, &seen, timeout ? p2 : p1, h->job,
                               timeout  ? "timed out"
                               : missed ? "missed"
                                        : "failed");
        if (!cJSON_GetObjectItemCaseSensitive(e, "fire_time")) {
            /* The newest open fire of this job and reason. fire_time is when it
             * was scheduled; fired says whether it ran at all. */
            iso_ms(e, "fire_time", h->fire_ms);
            cJSON_AddBoolToObject(e, "fired", !missed);
            cJSON_AddStringToObject(e, "execution_id", h->execution_id);
            cJSON_AddStringToObject(e, "agent", h->agent);
            if (timeout) {
                const struct zkview_job *zj = zkview_job(&c->view, h->job);
                if (zj && zj->jc.cfg)
                    cJSON_AddNumberToObject(e, "timeout_s", zj->jc.cfg->timeout_s);
                else
                    cJSON_AddNullToObject(e, "timeout_s");
                /* Killed at its timeout: how long it ran, not "seconds over" (0). */
                if (h->started_ms && h->finished_ms)
                    cJSON_AddNumberToObject(e, "ran_s",
                                            (double)((h->finished_ms - h->started_ms) / 1000));
                else
                    cJSON_AddNullToObject(e, "ran_s");
                cJSON_AddNullToObject(e, "seconds_over");
                cJSON_AddBoolToObject(e, "running", false);
            } else if (h->has_exit_code) {
                cJSON_AddNumberToObject(e, "exit_code", h->exit_code);
            }
        }
        alert_add_item(e, h->item, h->open_n);
    }
    /* From the cache: items running past their timeout now, jobs without an
     * eligible agent or a second one, abnormal agents. */
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->view.agents, &it, &k, &v);) {
        const struct zkview_agent *ag = v;
        for (int x = 0; ag->valid && x < ag->rec.nrunning; x++) {
            const struct zkview_job *zj = zkview_job(&c->view, ag->rec.running[x].job);
            if (!zj || !zj->jc.cfg || zj->jc.cfg->timeout_s <= 0 || ag->rec.running[x].fire <= 0)
                continue;
            int64_t over = now / 1000 - ag->rec.running[x].fire - zj->jc.cfg->timeout_s;
            if (over <= 0)
                continue;
            cJSON *e = alert_entry(c, &seen, p2, zj->jc.name, "running over");
            cJSON *so = cJSON_GetObjectItemCaseSensitive(e, "seconds_over");
            if (!so) {
                cJSON_AddNumberToObject(e, "timeout_s", zj->jc.cfg->timeout_s);
                cJSON_AddNumberToObject(e, "seconds_over", (double)over);
                iso_ms(e, "fire_time", ag->rec.running[x].fire * 1000);
                cJSON_AddBoolToObject(e, "running", true);
                cJSON_AddArrayToObject(e, "agents");
            } else if (so->valuedouble < (double)over) {
                cJSON_SetNumberValue(so, (double)over); /* the longest overrun */
                cJSON_DeleteItemFromObjectCaseSensitive(e, "fire_time");
                iso_ms(e, "fire_time", ag->rec.running[x].fire * 1000);
            }
            cJSON *agl = cJSON_GetObjectItemCaseSensitive(e, "agents");
            bool have = false;
            const cJSON *a;
            cJSON_ArrayForEach(a, agl) have = have || strcmp(a->valuestring, ag->id) == 0;
            if (!have)
                cJSON_AddItemToArray(agl, cJSON_CreateString(ag->id));
            alert_add_item(e, ag->rec.running[x].item, 0);
        }
        cJSON *reasons = cJSON_CreateArray();
        if (!ag->valid) {
            cJSON_AddItemToArray(reasons, cJSON_CreateString("unreadable record"));
        } else {
            if (!ag->rec.ready)
                cJSON_AddItemToArray(reasons, cJSON_CreateString(ag->rec.reason && *ag->rec.reason
                                                                     ? ag->rec.reason
                                                                     : "not ready"));
            if (ag->rec.skew_ms > ALERT_SKEW_MS || ag->rec.skew_ms < -ALERT_SKEW_MS)
                cJSON_AddItemToArray(reasons, cJSON_CreateString("clock skew"));
            if (ag->rec.capacity > 0 && ag->rec.nrunning >= ag->rec.capacity)
                cJSON_AddItemToArray(reasons, cJSON_CreateString("at capacity"));
            if (ag->came_back)
                cJSON_AddItemToArray(reasons, cJSON_CreateString("session lost and back"));
        }
        if (cJSON_GetArraySize(reasons) == 0) {
            cJSON_Delete(reasons);
            continue;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "agent", ag->id);
        cJSON_AddStringToObject(e, "host", ag->valid && ag->rec.host ? ag->rec.host : "");
        if (ag->valid)
            cJSON_AddNumberToObject(e, "skew_ms", (double)ag->rec.skew_ms);
        cJSON_AddItemToObject(e, "reasons", reasons);
        cJSON_AddItemToArray(p4, e);
    }
    const struct shard_assignment *a = zkview_assignment(&c->view);
    size_t n;
    struct zkview_job *const *all = zkview_jobs_sorted(&c->view, &n);
    for (size_t i = 0; i < n; i++) {
        const struct job *j = all[i]->jc.cfg;
        if (!j || j->disabled)
            continue;
        int ji = a ? shard_job_find(a, j->name) : -1;
        int eligible = ji >= 0 ? shard_job_eligible(a, ji) : 0;
        if (eligible == 0 && c->view.has_snap) {
            cJSON *e = alert_entry(c, &seen, p1, j->name, "no eligible agent");
            cJSON_DeleteItemFromObjectCaseSensitive(e, "items");
            cJSON_DeleteItemFromObjectCaseSensitive(e, "items_open");
            cJSON_AddNullToObject(e, "fire_time");
            cJSON_AddBoolToObject(e, "fired", false);
        }
        if (!j->failover || eligible < 2) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "job", j->name);
            add_job_ids(c, e, j);
            cJSON_AddNumberToObject(e, "eligible_agents", eligible);
            cJSON_AddStringToObject(
                e, "reason", !j->failover ? "failover off" : "fewer than two live eligible agents");
            cJSON_AddItemToArray(p3, e);
        }
    }
    strmap_free(&seen);
    iso_ms(o, "since", q->since_ms);
    cJSON_AddNumberToObject(o, "per_job", ALERT_PER_JOB);
    cJSON_AddBoolToObject(o, "truncated", q->truncated);
    /* What the dashboard counts: open conditions (an item of a job, a job, an
     * agent), not panel lines and not cleared failures. */
    cJSON *open = cJSON_AddObjectToObject(o, "open");
    int n1 = panel_open(p1), n2 = panel_open(p2), n3 = panel_open(p3), n4 = panel_open(p4);
    cJSON_AddNumberToObject(open, "abnormal_jobs", n1);
    cJSON_AddNumberToObject(open, "over_timeout", n2);
    cJSON_AddNumberToObject(open, "no_failover", n3);
    cJSON_AddNumberToObject(open, "abnormal_agents", n4);
    cJSON_AddNumberToObject(open, "total", n1 + n2 + n3 + n4);
    histq_free(q);
    creq_json(r, 200, o);
}

void api_alerts(struct creq *r)
{
    struct histq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    q->since_ms = console_now_ms() - ALERT_WINDOW_MS;
    submit(r, q, alert_work, alerts_done);
}

/* ---------------------------------------------------------------- export / import */

void api_export(struct creq *r)
{
    struct console *c = r->c;
    size_t n;
    struct zkview_job *const *all = zkview_jobs_sorted(&c->view, &n);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "format", 1);
    iso_ms(o, "exported_at", console_now_ms());
    cJSON *jobs = cJSON_AddArrayToObject(o, "jobs"), *bad = cJSON_AddArrayToObject(o, "invalid");
    for (size_t i = 0; i < n; i++) {
        if (all[i]->jc.cfg)
            cJSON_AddItemToArray(jobs, job_to_cjson(all[i]->jc.cfg));
        else
            cJSON_AddItemToArray(bad, cJSON_CreateString(all[i]->jc.name));
    }
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Disposition",
                      "attachment; filename=\"shardcron-export.json\"");
    creq_json(r, 200, o);
}

struct import {
    struct creq *r;
    int pending;
    cJSON *out; /* the report */
    cJSON *failed;
    bool started;
};

struct import_op {
    struct import *im;
    char name[JOB_NAME_MAX + 1];
    char *data;
    char *before;
    const char *action;
};

static void import_finish(struct import *im)
{
    if (im->pending > 0 || !im->started)
        return;
    struct creq *r = im->r;
    cJSON *out = im->out;
    free(im);
    creq_json(r, cJSON_GetArraySize(cJSON_GetObjectItem(out, "failed")) ? 207 : 200, out);
}

static void import_op_done(struct import_op *op, int rc, int version)
{
    struct import *im = op->im;
    struct console *c = im->r->c;
    if (rc != ZOK) {
        c->zk_write_errors++;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", op->name);
        cJSON_AddStringToObject(f, "action", op->action);
        cJSON_AddStringToObject(f, "error", zerror(rc));
        cJSON_AddItemToArray(im->failed, f);
    } else {
        c->zk_writes++;
        if (op->data)
            zkview_put_local(&c->view, op->name, op->data, version, console_now_ms());
        else
            zkview_del_local(&c->view, op->name);
        audit(c, im->r->sess.user, op->action, "job", op->name, op->before, op->data);
    }
    free(op->data);
    free(op->before);
    free(op);
    im->pending--;
    import_finish(im);
}

static void import_written(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    (void)z;
    import_op_done(arg, res->rc, res->has_stat ? res->stat.version : 0);
}

static void import_deleted(struct console *c, int rc, void *arg)
{
    (void)c;
    import_op_done(arg, rc, 0);
}

static void add_name(cJSON *o, const char *key, const char *name)
{
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(o, key), cJSON_CreateString(name));
}

void api_import(struct creq *r)
{
    struct console *c = r->c;
    struct sc_err err;
    sc_err_clear(&err);
    const char *conf = creq_arg(r, "confirm");
    bool confirm = conf && (strcmp(conf, "1") == 0 || strcmp(conf, "true") == 0);
    cJSON *doc = json_parse(r->body, r->blen, &err);
    if (!doc) {
        creq_error(r, 400, err.field[0] ? err.field : "body", "invalid JSON at offset %d: %s",
                   err.pos, err.msg);
        return;
    }
    const cJSON *jobs = cJSON_IsArray(doc) ? doc : cJSON_GetObjectItemCaseSensitive(doc, "jobs");
    if (!cJSON_IsArray(jobs)) {
        cJSON_Delete(doc);
        creq_error(r, 400, "jobs", "must be an array of jobs (the export document)");
        return;
    }
    int n = cJSON_GetArraySize(jobs);
    struct job **parsed = calloc((size_t)n + 1, sizeof *parsed);
    struct strmap seen;
    strmap_init(&seen);
    if (!parsed) {
        cJSON_Delete(doc);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    int i = 0, bad = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, jobs)
    {
        char pre[32];
        snprintf(pre, sizeof pre, "jobs[%d]", i);
        if (!cJSON_IsObject(it)) {
            sc_err_set(&err, EINVAL, pre, -1, "must be a job object");
            bad = 1;
            break;
        }
        if (console_job_from(c, it, NULL, &parsed[i], &err) < 0) {
            json_err_prefix(&err, pre);
            bad = 1;
            break;
        }
        int perr = 0;
        if (strmap_get(&seen, parsed[i]->name)) {
            snprintf(pre, sizeof pre, "jobs[%d].name", i);
            sc_err_set(&err, EINVAL, pre, -1, "\"%s\" appears twice", parsed[i]->name);
            i++;
            bad = 1;
            break;
        }
        strmap_put(&seen, parsed[i]->name, parsed[i], &perr);
        i++;
    }
    /* The export names the jobs whose config it could not read ("invalid"):
     * the document says they exist, so they are kept, not deleted. */
    struct strmap keep;
    strmap_init(&keep);
    const cJSON *inv =
        cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "invalid") : NULL;
    if (!bad && inv && !cJSON_IsArray(inv)) {
        sc_err_set(&err, EINVAL, "invalid", -1, "must be an array of job names");
        bad = 1;
    }
    int ix = 0;
    cJSON_ArrayForEach(it, inv)
    {
        if (bad)
            break;
        if (!cJSON_IsString(it)) {
            char pre[32];
            snprintf(pre, sizeof pre, "invalid[%d]", ix);
            sc_err_set(&err, EINVAL, pre, -1, "must be a job name");
            bad = 1;
            break;
        }
        int perr = 0;
        strmap_put(&keep, it->valuestring, (void *)1, &perr);
        ix++;
    }
    cJSON_Delete(doc);
    if (bad) {
        strmap_free(&keep);
        for (int x = 0; x < n; x++)
            job_free(parsed[x]);
        free(parsed);
        strmap_free(&seen);
        creq_error(r, 400, err.field, "%s (nothing was imported)", err.msg);
        return;
    }
    struct import *im = calloc(1, sizeof *im);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "dry_run", !confirm);
    cJSON_AddArrayToObject(out, "created");
    cJSON_AddArrayToObject(out, "updated");
    cJSON_AddArrayToObject(out, "deleted");
    cJSON_AddArrayToObject(out, "unchanged");
    cJSON_AddArrayToObject(out, "kept_invalid");
    im->failed = cJSON_AddArrayToObject(out, "failed");
    im->out = out;
    im->r = r;
    for (int x = 0; x < n; x++) {
        char *canon = job_to_json(parsed[x]);
        const struct zkview_job *cur = zkview_job(&c->view, parsed[x]->name);
        const char *action = !cur                           ? "created"
                             : strcmp(cur->raw, canon) == 0 ? "unchanged"
                                                            : "updated";
        add_name(out, action, parsed[x]->name);
        if (!confirm || strcmp(action, "unchanged") == 0) {
            free(canon);
            continue;
        }
        struct import_op *op = calloc(1, sizeof *op);
        op->im = im;
        snprintf(op->name, sizeof op->name, "%s", parsed[x]->name);
        op->data = canon;
        op->action = action[0] == 'c' ? "import-create" : "import-update";
        op->before = cur ? strdup(cur->raw) : NULL;
        char path[300];
        snprintf(path, sizeof path, "/jobs/%s", op->name);
        im->pending++;
        struct jobops o = {0};
        jobops_set(&o, op->name, canon, (int)strlen(canon), cur ? cur->jc.version : -1);
        int zrc = cur ? zkreg_multi(c->z, o.ops, 2, import_written, op)
                      : zkreg_create(c->z, path, canon, (int)strlen(canon), 0, import_written, op);
        if (zrc != ZOK)
            import_op_done(op, zrc, 0);
    }
    size_t nall;
    struct zkview_job *const *all = zkview_jobs_sorted(&c->view, &nall);
    char **gone = calloc(nall + 1, sizeof *gone);
    size_t ngone = 0;
    for (size_t x = 0; gone && x < nall; x++)
        if (!strmap_get(&seen, all[x]->jc.name)) {
            if (strmap_get(&keep, all[x]->jc.name)) {
                add_name(out, "kept_invalid", all[x]->jc.name);
                continue;
            }
            add_name(out, "deleted", all[x]->jc.name);
            gone[ngone++] = strdup(all[x]->jc.name);
        }
    for (size_t x = 0; confirm && x < ngone; x++) {
        const struct zkview_job *cur = zkview_job(&c->view, gone[x]);
        struct import_op *op = calloc(1, sizeof *op);
        op->im = im;
        snprintf(op->name, sizeof op->name, "%s", gone[x]);
        op->action = "import-delete";
        op->before = cur ? strdup(cur->raw) : NULL;
        im->pending++;
        if (console_delete_job(c, op->name, cur ? cur->jc.version : -1, import_deleted, op) < 0)
            import_op_done(op, ZSYSTEMERROR, 0);
    }
    for (size_t x = 0; x < ngone; x++)
        free(gone[x]);
    free(gone);
    for (int x = 0; x < n; x++)
        job_free(parsed[x]);
    free(parsed);
    strmap_free(&seen);
    strmap_free(&keep);
    if (confirm)
        LOGN("import by %s: %d jobs in the document", r->sess.user, n);
    im->started = true;
    import_finish(im);
}

/* ---------------------------------------------------------------- last results (job list) */

#define LATEST_MAX 100

struct latestq {
    struct creq *r;
    char *names[LATEST_MAX];
    int n;
    struct hist_page pages[LATEST_MAX];
    bool down;
    int rc;
    struct sc_err err;
};

static void latest_work(MYSQL *m, void *arg)
{
    struct latestq *q = arg;
    if (!m) {
        q->down = true;
        return;
    }
    for (int i = 0; i < q->n && q->rc == 0; i++)
        q->rc = hist_latest_per_job(m, q->names[i], &q->pages[i], &q->err);
}

/* rank: how bad a status is, for summarising the items of one fire. */
static int rank(const char *status)
{
    static const char *const order[] = {"succeeded", "skipped", "paused",  "queued", "running",
                                        "killed",    "missed",  "timeout", "failed"};
    for (int i = 0; i < 9; i++)
        if (strcmp(status, order[i]) == 0)
            return i;
    return 0;
}

static void latest_done(void *arg)
{
    struct latestq *q = arg;
    struct creq *r = q->r;
    cJSON *o = NULL;
    if (!q->down && q->rc == 0) {
        o = cJSON_CreateObject();
        cJSON *all = cJSON_AddObjectToObject(o, "latest");
        for (int i = 0; i < q->n; i++) {
            const struct hist_page *p = &q->pages[i];
            if (p->n == 0)
                continue;
            const struct hist_row *worst = &p->rows[0];
            for (size_t k = 1; k < p->n; k++)
                if (rank(p->rows[k].status) > rank(worst->status))
                    worst = &p->rows[k];
            cJSON *e = cJSON_AddObjectToObject(all, q->names[i]);
            cJSON_AddStringToObject(e, "status", worst->status);
            iso_ms(e, "fire_time", worst->fire_ms);
            cJSON_AddNumberToObject(e, "items", (double)p->n);
        }
    }
    for (int i = 0; i < q->n; i++) {
        hist_page_free(&q->pages[i]);
        free(q->names[i]);
    }
    bool down = q->down;
    int rc = q->rc;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", q->err.msg);
    free(q);
    if (o)
        creq_json(r, 200, o);
    else if (down)
        creq_error(r, 503, "mysql", "the history store is unreachable");
    else
        creq_error(r, rc == -EINVAL ? 400 : 503, "jobs", "%s", msg);
}

void api_latest(struct creq *r)
{
    const char *s = creq_arg(r, "jobs");
    struct latestq *q = calloc(1, sizeof *q);
    if (!q) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    char *copy = strdup(s ? s : ""), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        if (q->n == LATEST_MAX || !job_name_valid(t)) {
            char msg[200];
            if (q->n == LATEST_MAX)
                snprintf(msg, sizeof msg, "at most %d names", LATEST_MAX);
            else
                snprintf(msg, sizeof msg, "\"%.140s\" is not a job name", t);
            for (int i = 0; i < q->n; i++)
                free(q->names[i]);
            free(q);
            free(copy);
            creq_error(r, 400, "jobs", "%s", msg);
            return;
        }
        q->names[q->n++] = strdup(t);
    }
    free(copy);
    if (!r->c->db) {
        for (int i = 0; i < q->n; i++)
            free(q->names[i]);
        free(q);
        creq_error(r, 503, "mysql", "the console runs without --mysql: no history");
        return;
    }
    q->r = r;
    if (dbpool_submit(r->c->db, latest_work, latest_done, q) < 0) {
        for (int i = 0; i < q->n; i++)
            free(q->names[i]);
        free(q);
        creq_error(r, 500, NULL, "out of memory");
    }
}
