/* console/api.c: the router of /api/v1 and the routes served from the ZooKeeper
 * cache: health, jobs (list, CRUD, trigger, enable/disable, shard map), agents,
 * cron preview and /metrics. MySQL-backed routes are in api_hist.c, the
 * workflow routes in api_wf.c.
 *
 * Every handler ends with exactly one creq_json/creq_error, which sends the reply
 * and frees the request context; ZooKeeper writes reply from their completion
 * (loop thread). */
#define LOG_CAT "shardcron.console"
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "console/console.h"
#include "core/calendar.h"
#include "core/cron.h"
#include "core/cron_preview.h"
#include "core/http.h"
#include "core/http_head.h"
#include "core/json.h"
#include "core/log.h"
#include "registry/jobops.h"
#include "workflow/wf.h"
#include "workflow/wfzk.h"

/* ---------------------------------------------------------------- helpers */

static void redact_job(cJSON *o, enum console_role role);

int64_t console_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void creq_free(struct creq *r)
{
    if (!r)
        return;
    if (r->query) {
        evhttp_clear_headers(r->query);
        free(r->query);
    }
    free(r->path);
    free(r->body);
    free(r);
}

static void count_reply(struct console *c, int code)
{
    if (code >= 500)
        c->replies_5xx++;
    else if (code >= 400)
        c->replies_4xx++;
}

void creq_json(struct creq *r, int code, cJSON *o)
{
    count_reply(r->c, code);
    if (o)
        http_reply_json(r->req, code, o);
    else
        evhttp_send_error(r->req, 500, "out of memory");
    cJSON_Delete(o);
    creq_free(r);
}

void creq_send(struct creq *r, int code, const char *ctype, const char *body, size_t len)
{
    count_reply(r->c, code);
    if (code == 304)
        evhttp_send_reply(r->req, 304, "Not Modified", NULL);
    else
        http_reply_text(r->req, code, ctype, body, len);
    creq_free(r);
}

void creq_error(struct creq *r, int code, const char *field, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    count_reply(r->c, code);
    http_reply_error(r->req, code, field, msg);
    creq_free(r);
}

const char *creq_arg(const struct creq *r, const char *key)
{
    return r->query ? evhttp_find_header(r->query, key) : NULL;
}

/* arg_int: optional integer query argument in [min, max]; false after replying 400. */
static bool arg_int(struct creq *r, const char *key, long long min, long long max, long long *out)
{
    const char *s = creq_arg(r, key);
    char *end;
    if (!s || !*s)
        return true;
    long long v = strtoll(s, &end, 10);
    if (*end || v < min || v > max) {
        creq_error(r, 400, key, "must be an integer between %lld and %lld (got \"%.40s\")", min,
                   max, s);
        return false;
    }
    *out = v;
    return true;
}

const tz_zone *console_zone(struct console *c, const char *name, struct sc_err *err)
{
    tz_zone *z = strmap_get(&c->zones, name);
    if (z)
        return z;
    if (!(z = tz_load(name, err)))
        return NULL;
    int perr = 0;
    strmap_put(&c->zones, name, z, &perr);
    if (perr < 0) {
        tz_free(z);
        sc_err_set(err, ENOMEM, "timezone", -1, "out of memory");
        return NULL;
    }
    return z;
}

static void add_epoch_time(cJSON *o, const char *key, int64_t ms)
{
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[40];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, key, buf);
}

/* ---------------------------------------------------------------- health, metrics */

static void api_health(struct creq *r)
{
    struct console *c = r->c;
    cJSON *o = cJSON_CreateObject();
    bool ready = zkview_ready(&c->view);
    cJSON_AddStringToObject(o, "status", ready ? "ok" : "starting");
    cJSON_AddStringToObject(o, "zookeeper", zkreg_state_name(zkreg_state(c->z)));
    cJSON_AddBoolToObject(o, "view_loaded", ready);
    /* The history store as it answers, not merely configured: a wrong
     * password is "mysql": false with the server's reason. */
    char why[256] = "not configured (no --mysql)";
    cJSON_AddBoolToObject(o, "mysql", c->db && dbpool_health(c->db, why, sizeof why));
    if (why[0])
        cJSON_AddStringToObject(o, "mysql_error", why);
    cJSON_AddNumberToObject(o, "jobs", (double)strmap_len(&c->view.jobs.map));
    cJSON_AddNumberToObject(o, "agents", (double)strmap_len(&c->view.agents));
    cJSON_AddNumberToObject(o, "epoch", c->view.has_snap ? (double)c->view.snap.epoch : 0);
    cJSON_AddStringToObject(o, "leader", c->view.leader);
    cJSON_AddNumberToObject(o, "uptime_s", (double)(console_now_ms() - c->started_ms) / 1000);
    creq_json(r, ready ? 200 : 503, o);
}

static void api_metrics(struct creq *r)
{
    struct console *c = r->c;
    char buf[8192];
    size_t invalid = 0;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c->view.jobs.map, &it, &k, &v);)
        invalid += ((struct zkview_job *)v)->jc.cfg == NULL;
    struct http_stats hs = {0};
    if (c->http)
        http_server_stats(c->http, &hs);
    snprintf(buf, sizeof buf,
             "# HELP shardcron_console_requests_total HTTP requests received.\n"
             "# TYPE shardcron_console_requests_total counter\n"
             "shardcron_console_requests_total %llu\n"
             "# TYPE shardcron_console_replies_4xx_total counter\n"
             "shardcron_console_replies_4xx_total %llu\n"
             "# TYPE shardcron_console_replies_5xx_total counter\n"
             "shardcron_console_replies_5xx_total %llu\n"
             "# TYPE shardcron_console_static_files_total counter\n"
             "shardcron_console_static_files_total %llu\n"
             "# TYPE shardcron_console_logins_total counter\n"
             "shardcron_console_logins_total{result=\"ok\"} %llu\n"
             "shardcron_console_logins_total{result=\"refused\"} %llu\n"
             "shardcron_console_logins_total{result=\"busy\"} %llu\n"
             "# TYPE shardcron_console_sessions gauge\n"
             "shardcron_console_sessions %zu\n"
             "# TYPE shardcron_console_zk_writes_total counter\n"
             "shardcron_console_zk_writes_total{result=\"ok\"} %llu\n"
             "shardcron_console_zk_writes_total{result=\"error\"} %llu\n"
             "# TYPE shardcron_console_jobs gauge\n"
             "shardcron_console_jobs %zu\n"
             "# TYPE shardcron_console_invalid_jobs gauge\n"
             "shardcron_console_invalid_jobs %zu\n"
             "# TYPE shardcron_console_agents gauge\n"
             "shardcron_console_agents %zu\n"
             "# TYPE shardcron_console_epoch gauge\n"
             "shardcron_console_epoch %lld\n"
             "# TYPE shardcron_console_zk_connected gauge\n"
             "shardcron_console_zk_connected %d\n"
             "# TYPE shardcron_console_mysql_pending gauge\n"
             "shardcron_console_mysql_pending %d\n"
             "# TYPE shardcron_console_connections gauge\n"
             "shardcron_console_connections %zu\n"
             "# TYPE shardcron_console_connections_refused_total counter\n"
             "shardcron_console_connections_refused_total %llu\n"
             "# HELP shardcron_console_http_refused_total Requests refused before routing.\n"
             "# TYPE shardcron_console_http_refused_total counter\n"
             "shardcron_console_http_refused_total{reason=\"bytes\"} %llu\n"
             "shardcron_console_http_refused_total{reason=\"head\"} %llu\n"
             "shardcron_console_http_refused_total{reason=\"timeout\"} %llu\n"
             "# TYPE shardcron_console_http_buffered_bytes gauge\n"
             "shardcron_console_http_buffered_bytes %zu\n"
             "# TYPE shardcron_console_http_accept_errors_total counter\n"
             "shardcron_console_http_accept_errors_total %llu\n"
             "# TYPE shardcron_console_job_pages_total counter\n"
             "shardcron_console_job_pages_total{result=\"cached\"} %llu\n"
             "shardcron_console_job_pages_total{result=\"built\"} %llu\n",
             (unsigned long long)c->requests, (unsigned long long)c->replies_4xx,
             (unsigned long long)c->replies_5xx, (unsigned long long)c->static_files,
             (unsigned long long)c->logins_ok, (unsigned long long)c->logins_failed,
             (unsigned long long)c->logins_busy, strmap_len(&c->sessions),
             (unsigned long long)c->zk_writes, (unsigned long long)c->zk_write_errors,
             strmap_len(&c->view.jobs.map), invalid, strmap_len(&c->view.agents),
             c->view.has_snap ? (long long)c->view.snap.epoch : 0LL,
             zkreg_state(c->z) == ZKREG_CONNECTED, dbpool_pending(c->db), hs.open, hs.refused_conns,
             hs.refused_bytes, hs.refused_heads, hs.timeouts, hs.buffered, hs.accept_errors,
             (unsigned long long)c->page_hits, (unsigned long long)c->page_misses);
    size_t n = strlen(buf);
    int hn =
        histo_write(&hs.latency, "shardcron_console_request_duration_seconds",
                    "From a request read whole to its reply written.", buf + n, sizeof buf - n);
    if (n + 1 >= sizeof buf || hn < 0 || (size_t)hn >= sizeof buf - n) {
        creq_error(r, 500, NULL, "metrics do not fit");
        return;
    }
    http_reply_text(r->req, 200, "text/plain; version=0.0.4", buf, n + (size_t)hn);
    creq_free(r);
}

/* ---------------------------------------------------------------- cron preview */

static void api_cron_preview(struct creq *r)
{
    struct sc_err err;
    long long n = 10;
    const char *expr = creq_arg(r, "expr"), *zname = creq_arg(r, "tz");
    const tz_zone *z;
    int64_t from;
    int valid = 0;
    sc_err_clear(&err);
    if (!zname || !*zname)
        zname = "UTC";
    if (!expr) {
        sc_err_set(&err, EINVAL, "expr", -1, "is required");
        creq_json(r, 400, cron_error_json(&err));
        return;
    }
    const char *ns = creq_arg(r, "n");
    if (ns && *ns) {
        char *end;
        n = strtoll(ns, &end, 10);
        if (*end || n < 1 || n > CRON_PREVIEW_MAX) {
            sc_err_set(&err, EINVAL, "n", -1, "must be between 1 and %d", CRON_PREVIEW_MAX);
            creq_json(r, 400, cron_error_json(&err));
            return;
        }
    }
    if (!(z = console_zone(r->c, zname, &err)) ||
        cron_preview_from(creq_arg(r, "from"), z, console_now_ms() / 1000, &from, &err) < 0) {
        creq_json(r, 400, cron_error_json(&err));
        return;
    }
    struct cal_sched cs;
    if (api_cal_sched(r, creq_arg(r, "calendar"), creq_arg(r, "calendar_rule"),
                      creq_arg(r, "calendar_shift"), &cs) < 0)
        return;
    cJSON *o = cron_preview_cal_json(expr, z, &cs, from, (int)n, &valid);
    creq_json(r, valid ? 200 : 400, o);
}

/* next_fire: the job's next fire time after now (epoch s), -1 when none or invalid. */
static int64_t next_fire(struct console *c, const struct zkview_job *zj, int64_t now)
{
    struct sc_err err;
    const struct job *j = zj->jc.cfg;
    const tz_zone *z = j && zj->expr ? console_zone(c, j->timezone, &err) : NULL;
    struct cal_sched cs = {j && j->calendar[0] ? calcache_get(&c->view.cals, j->calendar) : NULL,
                           j ? j->calendar_rule : CAL_RULE_WORKDAYS,
                           j ? j->calendar_shift : CAL_SHIFT_NONE};
    if (!z || (j->calendar[0] && !cs.cal))
        return -1; /* a calendar that is not there: the agents do not fire it either */
    return calendar_next(zj->expr, z, &cs, now);
}

static void add_fire(cJSON *o, struct console *c, const struct job *j, int64_t epoch)
{
    if (epoch < 0) {
        cJSON_AddNullToObject(o, "next_fire");
        cJSON_AddNullToObject(o, "next_fire_epoch");
        return;
    }
    char buf[40];
    struct sc_err err;
    const tz_zone *z = console_zone(c, j->timezone, &err);
    int64_t civil = epoch + (z ? tz_offset(z, epoch) : 0);
    cJSON_AddStringToObject(o, "next_fire", tz_format_civil(civil, buf, sizeof buf));
    cJSON_AddNumberToObject(o, "next_fire_epoch", (double)epoch);
}

/* ---------------------------------------------------------------- jobs: reads */

/* owners: distinct agents owning items of the job in the current map, or -1. */
static int owners(struct console *c, const char *name, int *eligible)
{
    const struct shard_assignment *a = zkview_assignment(&c->view);
    *eligible = -1;
    if (!a)
        return -1;
    int ji = shard_job_find(a, name);
    if (ji < 0)
        return -1;
    *eligible = shard_job_eligible(a, ji);
    int n = 0;
    for (int ai = 0; ai < shard_nagents(a); ai++)
        n += shard_agent_items(a, ai, ji, NULL, 0) > 0;
    return n;
}

static const char *job_state(const struct zkview_job *j)
{
    return !j->jc.cfg ? "invalid" : j->jc.cfg->disabled ? "disabled" : "enabled";
}

static cJSON *job_summary(struct console *c, const struct zkview_job *j, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    int eligible;
    cJSON_AddStringToObject(o, "name", j->jc.name);
    cJSON_AddNumberToObject(o, "version", j->jc.version);
    cJSON_AddStringToObject(o, "state", job_state(j));
    if (!j->jc.cfg) {
        cJSON_AddStringToObject(o, "error", j->jc.error);
        return o;
    }
    const struct job *jb = j->jc.cfg;
    cJSON_AddStringToObject(o, "description", jb->description);
    cJSON_AddStringToObject(o, "domain", jb->domain);
    cJSON_AddNumberToObject(o, "level", jb->level);
    cJSON_AddStringToObject(o, "cron", jb->cron);
    cJSON_AddStringToObject(o, "timezone", jb->timezone);
    cJSON_AddStringToObject(o, "type", job_type_name(jb->type));
    cJSON_AddNumberToObject(o, "shards", jb->shards);
    cJSON_AddStringToObject(o, "strategy", jb->strategy);
    cJSON_AddBoolToObject(o, "failover", jb->failover);
    add_fire(o, c, jb, jb->disabled ? -1 : next_fire(c, j, now));
    int own = owners(c, j->jc.name, &eligible);
    cJSON_AddNumberToObject(o, "owners", own);
    cJSON_AddNumberToObject(o, "eligible_agents", eligible);
    return o;
}

static const char *const sort_keys[] = {"name", "domain", "level", "shards", "state", NULL};
static int sort_key; /* qsort has no context argument; the loop is single-threaded */

static int cmp_jobs(const void *pa, const void *pb)
{
    const struct zkview_job *a = *(struct zkview_job *const *)pa,
                            *b = *(struct zkview_job *const *)pb;
    int c = 0;
    switch (sort_key) {
    case 1:
        c = strcmp(a->jc.cfg ? a->jc.cfg->domain : "", b->jc.cfg ? b->jc.cfg->domain : "");
        break;
    case 2:
        c = (a->jc.cfg ? a->jc.cfg->level : 0) - (b->jc.cfg ? b->jc.cfg->level : 0);
        break;
    case 3:
        c = (a->jc.cfg ? a->jc.cfg->shards : 0) - (b->jc.cfg ? b->jc.cfg->shards : 0);
        break;
    case 4:
        c = strcmp(job_state(a), job_state(b));
        break;
    default:
        break;
    }
    return c ? c : strcmp(a->jc.name, b->jc.name);
}

/* list_hits: the jobs matching q (lower-cased substring of name, description,
 * domain or cron), ordered by key; cached in c->list until the view changes. */
static struct zkview_job **list_hits(struct console *c, const char *q, int key, size_t *n)
{
    char lq[256];
    size_t i = 0;
    for (; q && q[i] && i < sizeof lq - 1; i++)
        lq[i] = (char)tolower((unsigned char)q[i]);
    lq[i] = '\0';
    if (c->list.valid && c->list.at == c->view.job_changes && strcmp(c->list.q, lq) == 0 &&
        strcmp(c->list.sort, sort_keys[key]) == 0) {
        *n = c->list.n;
        return c->list.hits;
    }
    size_t total;
    struct zkview_job *const *all = zkview_jobs_sorted(&c->view, &total);
    struct zkview_job **hits = malloc((total + 1) * sizeof *hits);
    if (!hits)
        return NULL;
    size_t nh = 0;
    for (size_t k = 0; k < total; k++)
        if (!lq[0] || (all[k]->hay && strstr(all[k]->hay, lq)))
            hits[nh++] = all[k];
    if (key != 0) {
        sort_key = key;
        qsort(hits, nh, sizeof *hits, cmp_jobs);
    }
    free(c->list.hits);
    c->list.hits = hits;
    c->list.n = nh;
    c->list.at = c->view.job_changes;
    c->list.valid = true;
    snprintf(c->list.q, sizeof c->list.q, "%s", lq);
    snprintf(c->list.sort, sizeof c->list.sort, "%s", sort_keys[key]);
    *n = nh;
    return hits;
}

/* page_slot: the cached page for `key`, or the least recently used slot (its
 * key set to `key`, its body dropped) to build it into. */
static struct console_page *page_slot(struct console *c, const char *key, bool *found)
{
    struct console_page *lru = &c->pages[0];
    for (int i = 0; i < CONSOLE_PAGES; i++) {
        struct console_page *p = &c->pages[i];
        if (p->body && strcmp(p->key, key) == 0) {
            *found = true;
            p->used = ++c->page_clock;
            return p;
        }
        if (!p->body || p->used < lru->used)
            lru = p;
    }
    *found = false;
    free(lru->body);
    lru->body = NULL;
    snprintf(lru->key, sizeof lru->key, "%s", key);
    lru->used = ++c->page_clock;
    return lru;
}

static void api_jobs_list(struct creq *r)
{
    struct console *c = r->c;
    long long page = 1, limit = 50;
    const char *q = creq_arg(r, "q"), *sort = creq_arg(r, "sort");
    bool desc = false;
    if (!arg_int(r, "page", 1, 1000000, &page) || !arg_int(r, "limit", 1, 500, &limit))
        return;
    if (q && strlen(q) > 200) {
        creq_error(r, 400, "q", "must be at most 200 characters");
        return;
    }
    if (!sort || !*sort)
        sort = "name";
    if (*sort == '-') {
        desc = true;
        sort++;
    }
    int key = -1;
    for (int i = 0; sort_keys[i]; i++)
        if (strcmp(sort, sort_keys[i]) == 0)
            key = i;
    if (key < 0) {
        creq_error(r, 400, "sort",
                   "must be one of name, domain, level, shards, state (- for "
                   "descending)");
        return;
    }
    char ck[300];
    bool found;
    int64_t now = console_now_ms() / 1000;
    uint64_t gen = c->view.job_changes + c->view.snap_changes;
    snprintf(ck, sizeof ck, "%s\x1f%s%s\x1f%lld\x1f%lld", q ? q : "", desc ? "-" : "",
             sort_keys[key], page, limit);
    struct console_page *pg = page_slot(c, ck, &found);
    if (found && pg->gen == gen && now < pg->until) {
        c->page_hits++;
        http_reply_text(r->req, 200, "application/json", pg->body, pg->len);
        creq_free(r);
        return;
    }
    c->page_misses++;
    free(pg->body);
    pg->body = NULL;
    size_t n, nh;
    zkview_jobs_sorted(&c->view, &n);
    struct zkview_job **hit = list_hits(c, q, key, &nh);
    if (!hit) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    int64_t until = INT64_MAX;
    size_t first = (size_t)(page - 1) * (size_t)limit;
    for (size_t i = first; i < nh && i < first + (size_t)limit; i++) {
        cJSON *js = job_summary(c, hit[desc ? nh - 1 - i : i], now);
        const cJSON *nf = cJSON_GetObjectItemCaseSensitive(js, "next_fire_epoch");
        if (cJSON_IsNumber(nf) && (int64_t)nf->valuedouble < until)
            until = (int64_t)nf->valuedouble;
        cJSON_AddItemToArray(arr, js);
    }
    cJSON_AddNumberToObject(o, "total", (double)nh);
    cJSON_AddNumberToObject(o, "page", (double)page);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    cJSON *st = cJSON_AddObjectToObject(o, "states");
    cJSON_AddNumberToObject(st, "enabled", (double)c->view.nenabled);
    cJSON_AddNumberToObject(st, "disabled", (double)c->view.ndisabled);
    cJSON_AddNumberToObject(st, "invalid", (double)c->view.ninvalid);
    cJSON_AddItemToObject(o, "jobs", arr);
    char *body = json_print(o);
    cJSON_Delete(o);
    if (!body) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    pg->body = body;
    pg->len = strlen(body);
    pg->gen = gen;
    pg->until = until;
    http_reply_text(r->req, 200, "application/json", pg->body, pg->len);
    creq_free(r);
}

static void api_job_get(struct creq *r, const char *name)
{
    const struct zkview_job *j = zkview_job(&r->c->view, name);
    if (!j) {
        creq_error(r, 404, "name", "no job named %s", name);
        return;
    }
    cJSON *o = job_summary(r->c, j, console_now_ms() / 1000);
    add_epoch_time(o, "modified", j->jc.mtime_ms);
    if (j->jc.cfg)
        cJSON_AddItemToObject(o, "job", job_to_cjson(j->jc.cfg));
    else
        cJSON_AddStringToObject(o, "raw", j->raw);
    redact_job(o, r->sess.role);
    char etag[32];
    snprintf(etag, sizeof etag, "\"%d\"", j->jc.version);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "ETag", etag);
    creq_json(r, 200, o);
}

static void api_job_shards(struct creq *r, const char *name)
{
    struct console *c = r->c;
    const struct zkview_job *j = zkview_job(&c->view, name);
    if (!j) {
        creq_error(r, 404, "name", "no job named %s", name);
        return;
    }
    if (!j->jc.cfg) {
        creq_error(r, 409, "job", "the job's config is invalid (%s): it has no shards",
                   j->jc.error);
        return;
    }
    const struct shard_assignment *a = zkview_assignment(&c->view);
    cJSON *o = cJSON_CreateObject(), *items = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "job", name);
    cJSON_AddNumberToObject(o, "epoch", c->view.has_snap ? (double)c->view.snap.epoch : 0);
    cJSON_AddStringToObject(o, "leader", c->view.leader);
    cJSON_AddBoolToObject(o, "current", zkview_digest_matches(&c->view));
    int ji = a ? shard_job_find(a, name) : -1;
    cJSON_AddNumberToObject(o, "eligible_agents", ji >= 0 ? shard_job_eligible(a, ji) : 0);
    for (int i = 0; i < j->jc.cfg->shards; i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddNumberToObject(it, "item", i);
        cJSON_AddStringToObject(it, "param",
                                j->jc.cfg->shard_params && j->jc.cfg->shard_params[i]
                                    ? j->jc.cfg->shard_params[i]
                                    : "");
        int ai = ji >= 0 ? shard_owner(a, ji, i) : -1;
        const char *id = ai >= 0 ? shard_agent_id(a, ai) : NULL;
        const struct zkview_agent *ag = id ? strmap_get(&c->view.agents, id) : NULL;
        const char *state = "unassigned";
        if (id) {
            cJSON_AddStringToObject(it, "agent", id);
            state = "idle";
            if (!ag || !ag->valid) {
                state = "agent gone";
            } else {
                cJSON_AddNumberToObject(it, "agent_applied_epoch", (double)ag->rec.applied_epoch);
                if (ag->rec.applied_epoch < c->view.snap.epoch)
                    state = "pending";
                for (int k = 0; k < ag->rec.nrunning; k++)
                    if (ag->rec.running[k].item == i && strcmp(ag->rec.running[k].job, name) == 0) {
                        state = "running";
                        cJSON_AddNumberToObject(it, "running_fire",
                                                (double)ag->rec.running[k].fire);
                    }
            }
        } else {
            cJSON_AddNullToObject(it, "agent");
        }
        /* Draining: a previous owner still finishing the item. */
        const char *k;
        void *v;
        for (size_t iter = 0; strmap_next(&c->view.agents, &iter, &k, &v);) {
            const struct zkview_agent *d = v;
            for (int x = 0; d->valid && x < d->rec.ndraining; x++)
                if (d->rec.draining[x].item == i && strcmp(d->rec.draining[x].job, name) == 0)
                    cJSON_AddStringToObject(it, "draining_on", d->id);
        }
        cJSON_AddStringToObject(it, "state", state);
        cJSON_AddItemToArray(items, it);
    }
    cJSON_AddItemToObject(o, "items", items);
    creq_json(r, 200, o);
}

/* ---------------------------------------------------------------- agents */

static void api_agents(struct creq *r)
{
    struct console *c = r->c;
    const struct shard_assignment *a = zkview_assignment(&c->view);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    const char *k;
    void *v;
    /* Sorted by id: collect then sort. */
    size_t n = strmap_len(&c->view.agents), i = 0;
    const struct zkview_agent **list = calloc(n + 1, sizeof *list);
    for (size_t it = 0; list && strmap_next(&c->view.agents, &it, &k, &v);)
        list[i++] = v;
    for (size_t x = 1; list && x < i; x++)
        for (size_t y = x; y > 0 && strcmp(list[y - 1]->id, list[y]->id) > 0; y--) {
            const struct zkview_agent *t = list[y];
            list[y] = list[y - 1];
            list[y - 1] = t;
        }
    for (size_t x = 0; list && x < i; x++) {
        const struct zkview_agent *ag = list[x];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", ag->id);
        cJSON_AddBoolToObject(e, "leader", strcmp(ag->id, c->view.leader) == 0);
        cJSON_AddBoolToObject(e, "record_valid", ag->valid);
        bool member = false;
        for (int m = 0; c->view.has_snap && m < c->view.snap.nmembers; m++)
            member = member || strcmp(c->view.snap.members[m].id, ag->id) == 0;
        cJSON_AddBoolToObject(e, "member", member);
        int ai = a ? shard_agent_find(a, ag->id) : -1;
        cJSON_AddNumberToObject(e, "assigned_items", ai >= 0 ? shard_agent_load(a, ai) : 0);
        if (ag->valid) {
            const struct plan_agent_rec *rec = &ag->rec;
            cJSON_AddStringToObject(e, "host", rec->host ? rec->host : "");
            cJSON_AddNumberToObject(e, "pid", rec->pid);
            cJSON_AddItemToObject(
                e, "labels",
                cJSON_CreateStringArray((const char *const *)rec->labels, rec->nlabels));
            cJSON_AddNumberToObject(e, "capacity", rec->capacity);
            cJSON_AddNumberToObject(e, "running", rec->nrunning);
            cJSON_AddStringToObject(e, "version", rec->version ? rec->version : "");
            add_epoch_time(e, "started_at", rec->started_at_ms);
            char sid[24];
            snprintf(sid, sizeof sid, "0x%llx", (unsigned long long)rec->session);
            cJSON_AddStringToObject(e, "session", sid);
            cJSON_AddStringToObject(e, "session_state", "connected");
            cJSON_AddBoolToObject(e, "session_came_back", ag->came_back);
            cJSON_AddNumberToObject(e, "applied_epoch", (double)rec->applied_epoch);
            cJSON_AddBoolToObject(e, "ready", rec->ready);
            cJSON_AddStringToObject(e, "reason", rec->reason ? rec->reason : "");
            cJSON_AddNumberToObject(e, "skew_ms", (double)rec->skew_ms);
            cJSON *items = cJSON_CreateObject();
            if (ai >= 0) {
                struct shard_slot *slots = NULL;
                int ns = shard_agent_slots(a, ai, &slots);
                for (int s = 0; s < ns && s < 10000; s++) {
                    const char *jn = shard_job_name(a, slots[s].job);
                    cJSON *ja = cJSON_GetObjectItemCaseSensitive(items, jn);
                    if (!ja)
                        ja = cJSON_AddArrayToObject(items, jn);
                    cJSON_AddItemToArray(ja, cJSON_CreateNumber(slots[s].item));
                }
                free(slots);
            }
            cJSON_AddItemToObject(e, "items", items);
        }
        cJSON_AddItemToArray(arr, e);
    }
    free(list);
    cJSON_AddStringToObject(o, "leader", c->view.leader);
    cJSON_AddNumberToObject(o, "epoch", c->view.has_snap ? (double)c->view.snap.epoch : 0);
    cJSON_AddItemToObject(o, "agents", arr);
    creq_json(r, 200, o);
}

/* ---------------------------------------------------------------- jobs: writes */

struct jobwrite {
    struct creq *r;
    char name[JOB_NAME_MAX + 1];
    char *canon;  /* new data */
    char *before; /* previous data, or NULL */
    const char *action;
    bool created;
};

static void jobwrite_free(struct jobwrite *w)
{
    free(w->canon);
    free(w->before);
    free(w);
}

static void job_written(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct jobwrite *w = arg;
    struct creq *r = w->r;
    struct console *c = r->c;
    (void)z;
    if (res->rc != ZOK) {
        c->zk_write_errors++;
        if (res->rc == ZBADVERSION || res->rc == ZNODEEXISTS)
            creq_error(r, 409, "version",
                       "the job was changed by someone else meanwhile; reload and edit again");
        else if (res->rc == ZNONODE)
            creq_error(r, 409, "version", "the job was deleted meanwhile");
        else
            creq_error(r, 503, "zookeeper", "write failed: %s", zerror(res->rc));
        jobwrite_free(w);
        return;
    }
    c->zk_writes++;
    int version = res->has_stat ? res->stat.version : 0;
    /* A create in a multi returns no stat: the console's clock stands in for
     * mtime until the watch brings the node's own. */
    zkview_put_local(&c->view, w->name, w->canon, version,
                     res->has_stat && res->stat.mtime ? res->stat.mtime : console_now_ms());
    audit(c, r->sess.user, w->action, "job", w->name, w->before, w->canon);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", w->name);
    cJSON_AddNumberToObject(o, "version", version);
    cJSON_AddBoolToObject(o, "created", w->created);
    cJSON_AddBoolToObject(o, "changed", true);
    cJSON_AddItemToObject(o, "job", cJSON_Parse(w->canon));
    int code = w->created ? 201 : 200;
    jobwrite_free(w);
    creq_json(r, code, o);
}

int creq_version(struct creq *r, const cJSON *body)
{
    const char *s = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-Match");
    char buf[32];
    if (!s)
        s = creq_arg(r, "version");
    if (!s && body) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "version");
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 2147483647.0 &&
            v->valuedouble == (double)(int)v->valuedouble)
            return (int)v->valuedouble;
        if (v) {
            creq_error(r, 400, "version", "must be a non-negative integer");
            return -3;
        }
    }
    if (!s)
        return -2;
    snprintf(buf, sizeof buf, "%s", s[0] == '"' ? s + 1 : s);
    if (buf[0] && buf[strlen(buf) - 1] == '"')
        buf[strlen(buf) - 1] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (!buf[0] || *end || v < 0 || v > 2147483647L) {
        creq_error(r, 400, "version", "If-Match/version must be a version number (got \"%.30s\")",
                   s);
        return -3;
    }
    return (int)v;
}

/* job_check_input: parse a job object for `name` (adding the name when absent);
 * *out the caller's. false after replying 400. Used by PUT and import (prefix
 * "jobs[i]." in the field). */
int console_job_from(struct console *c, cJSON *o, const char *name, struct job **out,
                     struct sc_err *err)
{
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!nm && name)
        cJSON_AddStringToObject(o, "name", name);
    else if (name && (!cJSON_IsString(nm) || strcmp(nm->valuestring, name) != 0))
        return sc_err_set(err, EINVAL, "name", -1, "must match the job name in the URL (%s)", name);
    if (job_from_cjson(o, out, err) < 0)
        return -EINVAL;
    if ((*out)->calendar[0] && !calcache_get(&c->view.cals, (*out)->calendar)) {
        sc_err_set(err, EINVAL, "calendar", -1, "no calendar named \"%s\"", (*out)->calendar);
        job_free(*out);
        *out = NULL;
        return -EINVAL;
    }
    if (!console_zone(c, (*out)->timezone, err)) {
        snprintf(err->field, sizeof err->field, "timezone");
        job_free(*out);
        *out = NULL;
        return -EINVAL;
    }
    /* Before any write: a request over ZooKeeper's limit would drop the session. */
    if (job_check_size(*out, err) < 0) {
        job_free(*out);
        *out = NULL;
        return -EINVAL;
    }
    return 0;
}

/* job_unchanged: canon (job_to_json) says what `cur` says. */
static bool job_unchanged(const struct job *cur, const char *canon)
{
    char *c = job_to_json(cur);
    bool same = c && strcmp(c, canon) == 0;
    free(c);
    return same;
}

static void api_job_put(struct creq *r, const char *name)
{
    struct console *c = r->c;
    struct sc_err err;
    sc_err_clear(&err);
    cJSON *o = json_parse(r->body, r->blen, &err);
    if (!o) {
        creq_error(r, 400, err.field[0] ? err.field : "body", "invalid JSON at offset %d: %s",
                   err.pos, err.msg);
        return;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        creq_error(r, 400, "body", "must be a JSON object (the job)");
        return;
    }
    int version = creq_version(r, o);
    if (version == -3) {
        cJSON_Delete(o);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "version");
    struct job *j = NULL;
    if (console_job_from(c, o, name, &j, &err) < 0) {
        cJSON_Delete(o);
        creq_error(r, 400, err.field[0] ? err.field : "body", "%s", err.msg);
        return;
    }
    cJSON_Delete(o);
    struct jobwrite *w = calloc(1, sizeof *w);
    if (!w || !(w->canon = job_to_json(j))) {
        job_free(j);
        free(w);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    job_free(j);
    w->r = r;
    snprintf(w->name, sizeof w->name, "%s", name);
    const struct zkview_job *cur = zkview_job(&c->view, name);
    char path[300];
    snprintf(path, sizeof path, "/jobs/%s", name);
    int zrc;
    if (cur && version == -2)
        version = cur->jc.version; /* the version this console shows */
    if (cur && cur->jc.cfg && version == cur->jc.version && job_unchanged(cur->jc.cfg, w->canon)) {
        /* Saving what is stored writes nothing: no new version, no audit row. */
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "name", name);
        cJSON_AddNumberToObject(res, "version", cur->jc.version);
        cJSON_AddBoolToObject(res, "created", false);
        cJSON_AddBoolToObject(res, "changed", false);
        cJSON_AddItemToObject(res, "job", cJSON_Parse(w->canon));
        jobwrite_free(w);
        creq_json(r, 200, res);
        return;
    }
    if (version == -2) {
        w->created = true;
        w->action = "create";
        struct jobops o = {0};
        jobops_create(&o, name, w->canon, (int)strlen(w->canon));
        zrc = zkreg_multi(c->z, o.ops, 2, job_written, w);
    } else {
        w->action = "update";
        w->before = cur ? strdup(cur->raw) : NULL;
        struct jobops o = {0};
        jobops_set(&o, name, w->canon, (int)strlen(w->canon), version);
        zrc = zkreg_multi(c->z, o.ops, 2, job_written, w);
    }
    if (zrc != ZOK) {
        jobwrite_free(w);
        creq_error(r, 503, "zookeeper", "cannot write: %s", zerror(zrc));
    }
}

static void api_job_enable(struct creq *r, const char *name, bool disable)
{
    struct console *c = r->c;
    const struct zkview_job *cur = zkview_job(&c->view, name);
    if (!cur) {
        creq_error(r, 404, "name", "no job named %s", name);
        return;
    }
    if (!cur->jc.cfg) {
        creq_error(r, 409, "job", "the job's config is invalid (%s); fix it first", cur->jc.error);
        return;
    }
    struct sc_err e;
    struct job *copy = NULL;
    char *canon = NULL;
    struct jobwrite *w = calloc(1, sizeof *w);
    if (job_parse(cur->raw, strlen(cur->raw), &copy, &e) == 0) {
        copy->disabled = disable;
        canon = job_to_json(copy);
        job_free(copy);
    }
    if (!w || !canon) {
        free(w);
        free(canon);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    w->r = r;
    w->canon = canon;
    w->before = strdup(cur->raw);
    w->action = disable ? "disable" : "enable";
    snprintf(w->name, sizeof w->name, "%s", name);
    struct jobops o = {0};
    jobops_set(&o, name, canon, (int)strlen(canon), cur->jc.version);
    int zrc = zkreg_multi(c->z, o.ops, 2, job_written, w);
    if (zrc != ZOK) {
        jobwrite_free(w);
        creq_error(r, 503, "zookeeper", "cannot write: %s", zerror(zrc));
    }
}

/* ---- trigger */

struct trig {
    struct creq *r;
    char name[JOB_NAME_MAX + 1];
    char *data;
};

static void trig_free(struct trig *t)
{
    free(t->data);
    free(t);
}

static void trig_created(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct trig *t = arg;
    struct creq *r = t->r;
    (void)z;
    if (res->rc != ZOK) {
        r->c->zk_write_errors++;
        if (res->rc == ZNONODE)
            creq_error(r, 404, "name", "no job named %s", t->name);
        else
            creq_error(r, 503, "zookeeper", "trigger failed: %s", zerror(res->rc));
        trig_free(t);
        return;
    }
    r->c->zk_writes++;
    const char *leaf = res->path ? strrchr(res->path, '/') : NULL;
    audit(r->c, r->sess.user, "trigger", "job", t->name, NULL, t->data);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", t->name);
    cJSON_AddStringToObject(o, "trigger", leaf ? leaf + 1 : "");
    trig_free(t);
    creq_json(r, 202, o);
}

static void trig_ensured(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct trig *t = arg;
    struct jobops o = {0};
    (void)res;
    jobops_trigger(&o, t->name, t->data, (int)strlen(t->data));
    int zrc = zkreg_multi(z, o.ops, 2, trig_created, t);
    if (zrc != ZOK) {
        struct creq *r = t->r;
        trig_free(t);
        creq_error(r, 503, "zookeeper", "trigger failed: %s", zerror(zrc));
    }
}

static void api_job_trigger(struct creq *r, const char *name)
{
    struct console *c = r->c;
    struct sc_err err;
    const char *param = NULL;
    if (!zkview_job(&c->view, name)) {
        creq_error(r, 404, "name", "no job named %s", name);
        return;
    }
    cJSON *in = NULL;
    if (r->blen > 0) {
        static const char *const fields[] = {"param", NULL};
        if (!(in = json_parse(r->body, r->blen, &err))) {
            creq_error(r, 400, err.field[0] ? err.field : "body", "invalid JSON at offset %d: %s",
                       err.pos, err.msg);
            return;
        }
        if (!cJSON_IsObject(in) || json_check_fields(in, fields, &err) < 0 ||
            json_get_str(in, "param", JSON_OPTIONAL, &param, &err) == -EINVAL) {
            if (!cJSON_IsObject(in))
                sc_err_set(&err, EINVAL, "body", -1, "must be a JSON object");
            cJSON_Delete(in);
            creq_error(r, 400, err.field, "%s", err.msg);
            return;
        }
        if (param && strlen(param) > 4096) {
            cJSON_Delete(in);
            creq_error(r, 400, "param", "must be at most 4096 bytes");
            return;
        }
    }
    cJSON *o = cJSON_CreateObject();
    if (param)
        cJSON_AddStringToObject(o, "param", param);
    cJSON_AddNumberToObject(o, "created_ms", (double)console_now_ms());
    cJSON_AddStringToObject(o, "by", r->sess.user);
    cJSON_Delete(in);
    struct trig *t = calloc(1, sizeof *t);
    if (!t || !(t->data = json_print(o))) {
        free(t);
        cJSON_Delete(o);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    cJSON_Delete(o);
    t->r = r;
    snprintf(t->name, sizeof t->name, "%s", name);
    char path[300];
    snprintf(path, sizeof path, "/jobs/%s/triggers", name);
    if (zkreg_ensure(c->z, path, trig_ensured, t) != ZOK) {
        trig_free(t);
        creq_error(r, 503, "zookeeper", "not connected");
    }
}

/* ---- delete (the job node and everything under it: triggers and their acks) */

struct deltree {
    struct deltree *parent;
    struct console *c;
    int pending;
    int rc;
    int version;
    void (*done)(struct console *c, int rc, void *arg); /* root only */
    void *arg;
    char path[];
};

static void deltree_start(struct deltree *d);

static void deltree_finish(struct deltree *d, int rc)
{
    struct deltree *p = d->parent;
    if (!p) {
        d->done(d->c, rc, d->arg);
        free(d);
        return;
    }
    if (rc != ZOK && rc != ZNONODE && p->rc == ZOK)
        p->rc = rc;
    free(d);
    if (--p->pending == 0) {
        if (p->rc != ZOK)
            deltree_finish(p, p->rc);
        else
            deltree_start(p); /* list again: a child may have appeared meanwhile */
    }
}

static void deltree_deleted(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct deltree *d = arg;
    (void)z;
    if (res->rc == ZNOTEMPTY && d->pending == 0) {
        deltree_start(d);
        return;
    }
    deltree_finish(d, res->rc == ZNONODE && d->parent ? ZOK : res->rc);
}

static struct deltree *deltree_new(struct console *c, struct deltree *parent, const char *path,
                                   int version)
{
    size_t n = strlen(path) + 1;
    struct deltree *d = calloc(1, sizeof *d + n);
    if (!d)
        return NULL;
    d->parent = parent;
    d->c = c;
    d->version = version;
    memcpy(d->path, path, n);
    return d;
}

static void deltree_listed(struct zkreg *z, const struct zkreg_result *res, void *arg)
{
    struct deltree *d = arg;
    if (res->rc == ZNONODE) {
        deltree_finish(d, d->parent ? ZOK : ZNONODE);
        return;
    }
    if (res->rc != ZOK) {
        deltree_finish(d, res->rc);
        return;
    }
    if (res->nchildren == 0) {
        if (zkreg_delete(z, d->path, d->version, deltree_deleted, d) != ZOK)
            deltree_finish(d, ZCONNECTIONLOSS);
        return;
    }
    d->pending = res->nchildren;
    d->rc = ZOK;
    for (int i = 0; i < res->nchildren; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", d->path, res->children[i]);
        struct deltree *ch = deltree_new(d->c, d, path, -1);
        if (!ch) {
            d->rc = ZSYSTEMERROR;
            if (--d->pending == 0)
                deltree_finish(d, d->rc);
            continue;
        }
        deltree_start(ch);
    }
}

static void deltree_start(struct deltree *d)
{
    if (zkreg_children(d->c->z, d->path, false, deltree_listed, d) != ZOK)
        deltree_finish(d, ZCONNECTIONLOSS);
}

/* console_delete_job: delete /jobs/<name> (at `version`, -1 any) and its subtree;
 * done(rc) on the loop thread. */
int console_delete_job(struct console *c, const char *name, int version,
                       void (*done)(struct console *c, int rc, void *arg), void *arg)
{
    char path[300];
    snprintf(path, sizeof path, "/jobs/%s", name);
    struct deltree *d = deltree_new(c, NULL, path, version);
    if (!d)
        return -ENOMEM;
    d->done = done;
    d->arg = arg;
    deltree_start(d);
    return 0;
}

static void job_deleted(struct console *c, int rc, void *arg)
{
    struct jobwrite *w = arg;
    struct creq *r = w->r;
    if (rc != ZOK) {
        c->zk_write_errors++;
        if (rc == ZBADVERSION)
            creq_error(r, 409, "version", "the job was changed meanwhile; reload and retry");
        else if (rc == ZNONODE)
            creq_error(r, 404, "name", "no job named %s", w->name);
        else
            creq_error(r, 503, "zookeeper", "delete failed: %s", zerror(rc));
        jobwrite_free(w);
        return;
    }
    c->zk_writes++;
    zkview_del_local(&c->view, w->name);
    audit(c, r->sess.user, "delete", "job", w->name, w->before, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "deleted", w->name);
    jobwrite_free(w);
    creq_json(r, 200, o);
}

static void api_job_delete(struct creq *r, const char *name)
{
    struct console *c = r->c;
    int version = creq_version(r, NULL);
    if (version == -3)
        return;
    const struct zkview_job *cur = zkview_job(&c->view, name);
    if (!cur) {
        creq_error(r, 404, "name", "no job named %s", name);
        return;
    }
    if (version >= 0 && version != cur->jc.version) {
        creq_error(r, 409, "version", "the job is at version %d, not %d; reload and retry",
                   cur->jc.version, version);
        return;
    }
    struct jobwrite *w = calloc(1, sizeof *w);
    if (!w) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    w->r = r;
    w->before = strdup(cur->raw);
    snprintf(w->name, sizeof w->name, "%s", name);
    if (console_delete_job(c, name, version >= 0 ? version : -1, job_deleted, w) < 0) {
        jobwrite_free(w);
        creq_error(r, 500, NULL, "out of memory");
    }
}

/* ---------------------------------------------------------------- router */

/* redact_channels: in each alert channel of `arr`, the fields that may hold a
 * token (url, smtp, user, a plain-string secret or password). */
static void redact_channels(cJSON *arr, const char *field, cJSON *red)
{
    static const char *const keys[] = {"url", "smtp", "user", "secret", "password"};
    cJSON *ch;
    bool any = false;
    cJSON_ArrayForEach(ch, arr)
    {
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, keys[k]);
            if (cJSON_IsString(v) && *v->valuestring) {
                cJSON_ReplaceItemInObjectCaseSensitive(ch, keys[k],
                                                       cJSON_CreateString("(redacted)"));
                any = true;
            }
        }
    }
    if (any)
        cJSON_AddItemToArray(red, cJSON_CreateString(field));
}

/* Viewers see a job without what may hold a secret: the parameter passed to
 * every run, the alert webhook and channels (URLs with tokens, signing
 * secrets). Secrets a command needs belong in "env" as {"secret": NAME}, a
 * channel's in {"secret": NAME}, resolved on the agent. */
static void redact_job(cJSON *o, enum console_role role)
{
    if (role >= ROLE_OPERATOR)
        return;
    cJSON *job = cJSON_GetObjectItemCaseSensitive(o, "job");
    cJSON *red = cJSON_CreateArray();
    const cJSON *v;
    if (job && (v = cJSON_GetObjectItemCaseSensitive(job, "job_param")) && cJSON_IsString(v) &&
        *v->valuestring) {
        cJSON_ReplaceItemInObjectCaseSensitive(job, "job_param", cJSON_CreateString("(redacted)"));
        cJSON_AddItemToArray(red, cJSON_CreateString("job_param"));
    }
    cJSON *alert = job ? cJSON_GetObjectItemCaseSensitive(job, "alert") : NULL;
    if (alert && (v = cJSON_GetObjectItemCaseSensitive(alert, "webhook")) && cJSON_IsString(v) &&
        *v->valuestring) {
        cJSON_ReplaceItemInObjectCaseSensitive(alert, "webhook", cJSON_CreateString("(redacted)"));
        cJSON_AddItemToArray(red, cJSON_CreateString("alert.webhook"));
    }
    if (alert) {
        cJSON *lv, *esc = cJSON_GetObjectItemCaseSensitive(alert, "escalate");
        redact_channels(cJSON_GetObjectItemCaseSensitive(alert, "channels"), "alert.channels", red);
        cJSON_ArrayForEach(lv, esc)
        {
            redact_channels(cJSON_GetObjectItemCaseSensitive(lv, "channels"), "alert.escalate",
                            red);
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "raw")) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "raw");
        cJSON_AddItemToArray(red, cJSON_CreateString("raw"));
    }
    if (cJSON_GetArraySize(red) > 0)
        cJSON_AddItemToObject(o, "redacted", red);
    else
        cJSON_Delete(red);
}

/* Handlers of the table take the path's one parameter (or NULL). */
static void rt_health(struct creq *r, const char *a)
{
    (void)a;
    api_health(r);
}
static void rt_metrics(struct creq *r, const char *a)
{
    (void)a;
    api_metrics(r);
}
static void rt_login(struct creq *r, const char *a)
{
    (void)a;
    auth_login(r);
}
static void rt_logout(struct creq *r, const char *a)
{
    (void)a;
    auth_logout(r);
}
static void rt_session(struct creq *r, const char *a)
{
    (void)a;
    auth_whoami(r);
}
static void rt_jobs(struct creq *r, const char *a)
{
    (void)a;
    api_jobs_list(r);
}
static void rt_job_get(struct creq *r, const char *name)
{
    api_job_get(r, name);
}
static void rt_job_put(struct creq *r, const char *name)
{
    api_job_put(r, name);
}
static void rt_job_delete(struct creq *r, const char *name)
{
    api_job_delete(r, name);
}
static void rt_job_trigger(struct creq *r, const char *name)
{
    api_job_trigger(r, name);
}
static void rt_job_enable(struct creq *r, const char *name)
{
    api_job_enable(r, name, false);
}
static void rt_job_disable(struct creq *r, const char *name)
{
    api_job_enable(r, name, true);
}
static void rt_job_shards(struct creq *r, const char *name)
{
    api_job_shards(r, name);
}
static void rt_job_preview(struct creq *r, const char *name)
{
    api_job_preview(r, name);
}

static void rt_cals(struct creq *r, const char *a)
{
    (void)a;
    api_cal_list(r);
}

static void rt_cal_get(struct creq *r, const char *name)
{
    api_cal_get(r, name);
}

static void rt_cal_put(struct creq *r, const char *name)
{
    api_cal_put(r, name);
}

static void rt_cal_delete(struct creq *r, const char *name)
{
    api_cal_delete(r, name);
}

static void rt_wfs(struct creq *r, const char *a)
{
    (void)a;
    api_wf_list(r);
}
static void rt_wf_get(struct creq *r, const char *name)
{
    api_wf_get(r, name);
}
static void rt_wf_put(struct creq *r, const char *name)
{
    api_wf_put(r, name);
}
static void rt_wf_delete(struct creq *r, const char *name)
{
    api_wf_delete(r, name);
}
static void rt_wf_enable(struct creq *r, const char *name)
{
    api_wf_enable(r, name, true);
}
static void rt_wf_disable(struct creq *r, const char *name)
{
    api_wf_enable(r, name, false);
}
static void rt_wf_trigger(struct creq *r, const char *name)
{
    api_wf_trigger(r, name);
}
static void rt_wf_runs(struct creq *r, const char *name)
{
    api_wf_runs(r, name);
}
static void rt_wf_backfill(struct creq *r, const char *name)
{
    api_wf_backfill(r, name);
}
static void rt_run_get(struct creq *r, const char *id)
{
    api_run_get(r, id);
}
static void rt_run_items(struct creq *r, const char *id)
{
    api_run_items(r, id);
}
static void rt_run_def(struct creq *r, const char *id)
{
    api_run_def(r, id);
}
static void rt_run_clear(struct creq *r, const char *id)
{
    api_run_op(r, id, "clear");
}
static void rt_run_mark(struct creq *r, const char *id)
{
    api_run_op(r, id, "mark");
}
static void rt_run_cancel(struct creq *r, const char *id)
{
    api_run_op(r, id, "cancel");
}
static void rt_pauses(struct creq *r, const char *a)
{
    (void)a;
    api_pauses_list(r);
}

static void rt_pause_post(struct creq *r, const char *a)
{
    (void)a;
    api_pause_post(r);
}

static void rt_pause_delete(struct creq *r, const char *id)
{
    api_pause_delete(r, id);
}

static void rt_users(struct creq *r, const char *name)
{
    auth_users(r, name);
}
static void rt_agents(struct creq *r, const char *a)
{
    (void)a;
    api_agents(r);
}
static void rt_preview(struct creq *r, const char *a)
{
    (void)a;
    api_cron_preview(r);
}
static void rt_executions(struct creq *r, const char *a)
{
    (void)a;
    api_executions(r);
}
static void rt_execution(struct creq *r, const char *id)
{
    api_execution(r, id);
}
static void rt_alerts(struct creq *r, const char *a)
{
    (void)a;
    api_alerts(r);
}
static void rt_alert_ack(struct creq *r, const char *id)
{
    api_alert_ack(r, id);
}

static void rt_alert_silence(struct creq *r, const char *id)
{
    api_alert_silence(r, id);
}

static void rt_alert_events(struct creq *r, const char *a)
{
    (void)a;
    api_alert_events(r);
}

static void rt_alert_link(struct creq *r, const char *a)
{
    (void)a;
    api_alert_link(r, evhttp_request_get_command(r->req) != EVHTTP_REQ_POST);
}

static void rt_latest(struct creq *r, const char *a)
{
    (void)a;
    api_latest(r);
}
static void rt_stats(struct creq *r, const char *a)
{
    (void)a;
    api_stats(r);
}
/* An export holds every job whole (parameters, webhooks): admins only, and it
 * is written to the audit log. */
static void rt_export(struct creq *r, const char *a)
{
    (void)a;
    audit(r->c, r->sess.user, "export", "jobs", "*", NULL, NULL);
    api_export(r);
}
static void rt_import(struct creq *r, const char *a)
{
    (void)a;
    api_import(r);
}

/* The API: who may do what, in one place. A pattern's "{job}" segment must be a
 * valid job name, "{workflow}" a workflow name, "{run}" a run id; "{name}" and
 * "{id}" are any segment, checked by the handler. Workflow definitions are
 * written by admins, as jobs are; runs are operated by operators.
 * A route with a role needs a session holding at least that role (401/403);
 * a write also needs the session's X-CSRF-Token (403). The role NONE routes
 * check what they need themselves (login, logout) or need nothing. */
enum {
    R_GET = EVHTTP_REQ_GET,
    R_POST = EVHTTP_REQ_POST,
    R_PUT = EVHTTP_REQ_PUT,
    R_DELETE = EVHTTP_REQ_DELETE
};

struct api_route {
    int method;
    const char *pattern;
    enum console_role role;
    bool write;
    void (*fn)(struct creq *r, const char *arg);
};

static const struct api_route routes[] = {
    {R_GET, "health", ROLE_NONE, false, rt_health},
    {R_GET, "metrics", ROLE_NONE, false, rt_metrics},
    {R_POST, "login", ROLE_NONE, false, rt_login},
    {R_POST, "logout", ROLE_NONE, false, rt_logout},
    {R_GET, "session", ROLE_VIEWER, false, rt_session},
    {R_GET, "jobs", ROLE_VIEWER, false, rt_jobs},
    {R_GET, "jobs/{job}", ROLE_VIEWER, false, rt_job_get},
    {R_PUT, "jobs/{job}", ROLE_ADMIN, true, rt_job_put},
    {R_DELETE, "jobs/{job}", ROLE_ADMIN, true, rt_job_delete},
    {R_POST, "jobs/{job}/trigger", ROLE_OPERATOR, true, rt_job_trigger},
    {R_POST, "jobs/{job}/enable", ROLE_OPERATOR, true, rt_job_enable},
    {R_POST, "jobs/{job}/disable", ROLE_OPERATOR, true, rt_job_disable},
    {R_GET, "jobs/{job}/shards", ROLE_VIEWER, false, rt_job_shards},
    {R_GET, "jobs/{job}/preview", ROLE_VIEWER, false, rt_job_preview},
    {R_GET, "calendars", ROLE_VIEWER, false, rt_cals},
    {R_GET, "calendars/{calendar}", ROLE_VIEWER, false, rt_cal_get},
    {R_PUT, "calendars/{calendar}", ROLE_ADMIN, true, rt_cal_put},
    {R_DELETE, "calendars/{calendar}", ROLE_ADMIN, true, rt_cal_delete},
    {R_GET, "workflows", ROLE_VIEWER, false, rt_wfs},
    {R_GET, "workflows/{workflow}", ROLE_VIEWER, false, rt_wf_get},
    {R_PUT, "workflows/{workflow}", ROLE_ADMIN, true, rt_wf_put},
    {R_DELETE, "workflows/{workflow}", ROLE_ADMIN, true, rt_wf_delete},
    {R_POST, "workflows/{workflow}/enable", ROLE_OPERATOR, true, rt_wf_enable},
    {R_POST, "workflows/{workflow}/disable", ROLE_OPERATOR, true, rt_wf_disable},
    {R_POST, "workflows/{workflow}/trigger", ROLE_OPERATOR, true, rt_wf_trigger},
    {R_GET, "workflows/{workflow}/runs", ROLE_VIEWER, false, rt_wf_runs},
    {R_POST, "workflows/{workflow}/backfill", ROLE_OPERATOR, true, rt_wf_backfill},
    {R_GET, "runs/{run}", ROLE_VIEWER, false, rt_run_get},
    {R_GET, "runs/{run}/definition", ROLE_VIEWER, false, rt_run_def},
    {R_GET, "runs/{run}/items", ROLE_VIEWER, false, rt_run_items},
    {R_POST, "runs/{run}/clear", ROLE_OPERATOR, true, rt_run_clear},
    {R_POST, "runs/{run}/mark", ROLE_OPERATOR, true, rt_run_mark},
    {R_POST, "runs/{run}/cancel", ROLE_OPERATOR, true, rt_run_cancel},
    {R_GET, "pauses", ROLE_VIEWER, false, rt_pauses},
    {R_POST, "pauses", ROLE_OPERATOR, true, rt_pause_post},
    {R_DELETE, "pauses/{pause}", ROLE_OPERATOR, true, rt_pause_delete},
    {R_GET, "users", ROLE_ADMIN, false, rt_users},
    {R_PUT, "users/{name}", ROLE_ADMIN, true, rt_users},
    {R_DELETE, "users/{name}", ROLE_ADMIN, true, rt_users},
    {R_GET, "agents", ROLE_VIEWER, false, rt_agents},
    {R_GET, "cron/preview", ROLE_VIEWER, false, rt_preview},
    {R_GET, "executions", ROLE_VIEWER, false, rt_executions},
    {R_GET, "executions/{id}", ROLE_VIEWER, false, rt_execution},
    {R_GET, "alerts", ROLE_VIEWER, false, rt_alerts},
    /* The token is the credential: a link from a notice, opened anywhere. */
    {R_GET, "alerts/ack", ROLE_NONE, false, rt_alert_link},
    {R_POST, "alerts/ack", ROLE_NONE, false, rt_alert_link},
    {R_GET, "alerts/events", ROLE_VIEWER, false, rt_alert_events},
    {R_POST, "alerts/{alert}/ack", ROLE_OPERATOR, true, rt_alert_ack},
    {R_POST, "alerts/{alert}/silence", ROLE_OPERATOR, true, rt_alert_silence},
    {R_GET, "latest", ROLE_VIEWER, false, rt_latest},
    {R_GET, "stats", ROLE_VIEWER, false, rt_stats},
    {R_GET, "export", ROLE_ADMIN, false, rt_export},
    {R_POST, "import", ROLE_ADMIN, true, rt_import},
};

/* route_match: the path's segments fit the pattern; *arg is its parameter. */
static bool route_match(const struct creq *r, const char *pattern, const char **arg)
{
    int i = 0;
    *arg = NULL;
    for (const char *p = pattern; *p; i++) {
        size_t n = strcspn(p, "/");
        if (i >= r->nseg)
            return false;
        if (p[0] == '{')
            *arg = r->seg[i];
        else if (strlen(r->seg[i]) != n || strncmp(r->seg[i], p, n) != 0)
            return false;
        p += n + (p[n] == '/');
    }
    return i == r->nseg;
}

static void route(struct creq *r)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
    if (m == EVHTTP_REQ_HEAD)
        m = EVHTTP_REQ_GET;
    const struct api_route *hit = NULL;
    const char *arg = NULL;
    int allowed = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        const char *a;
        if (!route_match(r, routes[i].pattern, &a))
            continue;
        allowed |= routes[i].method;
        if (routes[i].method == (int)m && !hit) {
            hit = &routes[i];
            arg = a;
        }
    }
    if (!allowed) {
        creq_error(r, 404, "path", "no such route");
        return;
    }
    if (!hit) {
        char allow[64] = "";
        if (allowed & R_GET)
            strcat(allow, "GET, HEAD, ");
        if (allowed & R_POST)
            strcat(allow, "POST, ");
        if (allowed & R_PUT)
            strcat(allow, "PUT, ");
        if (allowed & R_DELETE)
            strcat(allow, "DELETE, ");
        allow[strlen(allow) - 2] = '\0';
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
        creq_error(r, 405, "method", "method not allowed here (allowed: %s)", allow);
        return;
    }
    if (hit->role != ROLE_NONE && !auth_need(r, hit->role, hit->write))
        return;
    if (strstr(hit->pattern, "{job}") && !job_name_valid(arg)) {
        creq_error(r, m == EVHTTP_REQ_PUT ? 400 : 404, "name",
                   "\"%.140s\" is not a valid job name (1-%d of A-Z a-z 0-9 . _ -)", arg,
                   JOB_NAME_MAX);
        return;
    }
    if (strstr(hit->pattern, "{calendar}") && !calendar_name_valid(arg)) {
        creq_error(r, m == EVHTTP_REQ_PUT ? 400 : 404, "name",
                   "\"%.140s\" is not a valid calendar name (1-%d of A-Z a-z 0-9 . _ -)", arg,
                   CAL_NAME_MAX);
        return;
    }
    char wname[WF_NAME_MAX + 1];
    int64_t lms;
    if (strstr(hit->pattern, "{workflow}") && !wf_name_valid(arg)) {
        creq_error(r, m == EVHTTP_REQ_PUT ? 400 : 404, "name",
                   "\"%.140s\" is not a valid workflow name (1-%d of A-Z a-z 0-9 . _ -)", arg,
                   WF_NAME_MAX);
        return;
    }
    if (strstr(hit->pattern, "{run}") && wfzk_run_id_parse(arg, wname, sizeof wname, &lms) < 0) {
        creq_error(r, 404, "run_id", "\"%.140s\" is not a run id (WORKFLOW@YYYYMMDDTHHMMSSZ)", arg);
        return;
    }
    hit->fn(r, arg);
}

/* split: decode the path after /api/v1/ into segments; false when malformed. */
static bool split(struct creq *r, const char *rest)
{
    r->path = strdup(rest);
    if (!r->path)
        return false;
    char *save = NULL;
    for (char *t = strtok_r(r->path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (r->nseg == (int)(sizeof r->seg / sizeof *r->seg))
            return false;
        size_t n;
        char *d = evhttp_uridecode(t, 0, &n);
        if (!d || strlen(d) != n || strlen(d) > strlen(t)) {
            free(d);
            return false;
        }
        strcpy(t, d); /* decoding never lengthens */
        free(d);
        r->seg[r->nseg++] = t;
    }
    return true;
}

void api_handle(struct evhttp_request *req, void *arg)
{
    struct console *c = arg;
    c->requests++;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Frame-Options", "DENY");
    if (!auth_host_ok(c, req))
        return;
    if (strcmp(path, "/metrics") == 0)
        path = "/api/v1/metrics";
    if (strncmp(path, "/api/", 5) != 0) {
        static_serve(c, req, path);
        return;
    }
    struct creq *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    r->c = c;
    r->req = req;
    if (strncmp(path, "/api/v1/", 8) != 0 && strcmp(path, "/api/v1") != 0) {
        creq_error(r, 404, "path", "the API lives under /api/v1");
        return;
    }
    if (!split(r, path + 7)) {
        creq_error(r, 400, "path", "malformed path");
        return;
    }
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    r->query = calloc(1, sizeof *r->query);
    if (!r->query) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    if (qs && evhttp_parse_query_str(qs, r->query) < 0) {
        creq_error(r, 400, "query", "malformed query string");
        return;
    }
    struct sc_err qerr;
    if (qs && http_query_check(qs, &qerr) < 0) {
        creq_error(r, 400, qerr.field, "%s", qerr.msg);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r->blen = evbuffer_get_length(in);
    r->body = malloc(r->blen + 1);
    if (!r->body) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    evbuffer_copyout(in, r->body, r->blen);
    r->body[r->blen] = '\0';
    route(r);
}
