/* sql/hist_alert.c: alert evaluation over job_status_trace, job_execution,
 * workflow_run and alert_event; the grouping of conditions into notices; the
 * webhook payload (see sql/hist_alert.h). The sender is sql/hist_hooks.c.
 *
 * Sections: grouping (pure), the state and its conditions, the rebuild, the
 * incremental steps, writing alert_event, hist_alert_eval. */
#define LOG_CAT "shardcron.alerts"
#include "sql/hist_alert.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/strmap.h"
#include "sql/hist_query.h"

#define TRACE_BATCH 20000  /* trace rows read per statement */
#define TRACE_ROUNDS 10    /* statements per evaluation at most (the rest next cycle) */
#define SEQ_GRACE_MS 15000 /* a gap in seq younger than this may still commit */
#define SEQ_HOLES 64
#define WF_MARGIN_MS 60000 /* runs are re-read this far behind the newest end seen */
#define WF_BATCH 5000
#define GROUP_ITEMS 16 /* items named in a notice */
#define SQL_MAX 65536
#define HIST_ALERT_STATE_MAX 100000 /* open conditions kept (about 1 KB each) */

/* ---------------------------------------------------------------- grouping */

struct group {
    struct hist_alert_notice n; /* template: the first condition that opened it */
    unsigned open, peak;
    int items[GROUP_ITEMS];
    unsigned nitems;
    bool announced;
    int64_t due_ms;      /* !announced: the window's end */
    int64_t notified_ms; /* announced: the last notice */
};

struct hist_alert_groups {
    struct strmap m; /* group key -> struct group */
};

/* group_key: kind, job, agent, task; NUL-free fields joined by \x1f. */
static void group_key(const struct hist_alert_notice *c, char *k, size_t len)
{
    snprintf(k, len, "%s\x1f%s\x1f%s\x1f%s", c->kind, c->job, c->agent, c->task);
}

int hist_alert_groups_new(struct hist_alert_groups **out)
{
    struct hist_alert_groups *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    strmap_init(&g->m);
    *out = g;
    return 0;
}

void hist_alert_groups_free(struct hist_alert_groups *g)
{
    if (!g)
        return;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&g->m, &it, &k, &v);)
        free(v);
    strmap_free(&g->m);
    free(g);
}

size_t hist_alert_groups_len(const struct hist_alert_groups *g)
{
    return g ? strmap_len(&g->m) : 0;
}

int hist_alert_group_open(struct hist_alert_groups *g, const struct hist_alert_notice *c,
                          bool announced, int64_t notified_ms, int64_t now_ms)
{
    char k[600];
    group_key(c, k, sizeof k);
    struct group *gr = strmap_get(&g->m, k);
    if (!gr) {
        int perr = 0;
        if (!(gr = calloc(1, sizeof *gr)))
            return -ENOMEM;
        gr->n = *c;
        gr->announced = announced;
        gr->notified_ms = notified_ms;
        gr->due_ms = now_ms;
        strmap_put(&g->m, k, gr, &perr);
        if (perr < 0) {
            free(gr);
            return -ENOMEM;
        }
    } else if (c->id && (!gr->n.id || c->id < gr->n.id)) {
        gr->n.id = c->id; /* the group is named by its first row */
    }
    if (announced && notified_ms > gr->notified_ms)
        gr->notified_ms = notified_ms;
    if (announced && !gr->announced) {
        gr->announced = true;
        gr->notified_ms = notified_ms;
    }
    gr->open++;
    if (gr->open > gr->peak)
        gr->peak = gr->open;
    if (c->item >= 0 && gr->nitems < GROUP_ITEMS)
        gr->items[gr->nitems++] = c->item;
    return 0;
}

void hist_alert_group_clear(struct hist_alert_groups *g, const struct hist_alert_notice *c)
{
    char k[600];
    group_key(c, k, sizeof k);
    struct group *gr = strmap_get(&g->m, k);
    if (!gr || gr->open == 0)
        return;
    gr->open--;
    for (unsigned i = 0; c->item >= 0 && i < gr->nitems; i++)
        if (gr->items[i] == c->item) {
            memmove(&gr->items[i], &gr->items[i + 1], (gr->nitems - i - 1) * sizeof gr->items[0]);
            gr->nitems--;
            break;
        }
}

static void fill(struct hist_alert_notice *o, const struct group *gr, const char *event,
                 unsigned count)
{
    *o = gr->n;
    snprintf(o->event, sizeof o->event, "%s", event);
    o->count = count ? count : 1;
    o->recovered = strcmp(event, "resolve") == 0;
    o->items[0] = '\0';
    size_t off = 0;
    for (unsigned i = 0; i < gr->nitems && off + 12 < sizeof o->items; i++)
        off += (size_t)snprintf(o->items + off, sizeof o->items - off, "%s%d", i ? "," : "",
                                gr->items[i]);
    if (o->count == 1 && gr->nitems == 1)
        o->item = gr->items[0];
    else if (o->count > 1 || gr->nitems != 1)
        o->item = o->count == 1 && !gr->nitems ? gr->n.item : -1;
    const char *what = gr->n.kind;
    if (o->recovered)
        snprintf(o->message, sizeof o->message, "%s cleared (%u %s)", what, o->count,
                 o->count == 1 ? "condition" : "conditions");
    else if (o->count > 1)
        snprintf(o->message, sizeof o->message, "%u items %s (%s%s)", o->count, what, o->items,
                 o->count > gr->nitems ? ",..." : "");
}

int hist_alert_group_take(struct hist_alert_groups *g, const struct hist_alert_opts *o,
                          int64_t now_ms, struct hist_alert_notice **out, size_t *n)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&g->m, &it, &k, &v);) {
        struct group *gr = v;
        const char *event = NULL;
        unsigned count = gr->open;
        bool drop = false;
        if (!gr->announced) {
            if (gr->open == 0) {
                drop = true; /* opened and cleared inside its window: no notice */
            } else if (now_ms >= gr->due_ms + o->group_ms) {
                event = "open";
                gr->announced = true;
                gr->notified_ms = now_ms;
            }
        } else if (gr->open == 0) {
            event = "resolve";
            count = gr->peak;
            drop = true;
        } else if (now_ms - gr->notified_ms >= (int64_t)o->reminder_s * 1000) {
            event = "reminder";
            gr->notified_ms = now_ms;
        }
        if (event) {
            struct hist_alert_notice *p = realloc(*out, (*n + 1) * sizeof *p);
            if (!p)
                return -ENOMEM;
            *out = p;
            fill(&p[(*n)++], gr, event, count);
        }
        if (drop) {
            strmap_del(&g->m, k);
            free(gr);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- state */

/* One open condition: an alert_event row. */
struct cond {
    struct hist_alert_notice n; /* id, kind, job, item, agent, task, execution, fire, message */
    int attempt;
    int64_t ended_ms; /* workflow kinds: the end of the failed run */
    bool mark;        /* caller kinds: listed this evaluation */
    bool resolve;     /* cleared this evaluation, row not yet updated */
};

struct hist_alert_state {
    bool built;
    struct strmap conds; /* cond key -> struct cond */
    struct hist_alert_groups *groups;
    unsigned long long seq; /* every trace row <= seq was read, but holes' */
    /* seq values below seq not seen yet: a transaction may still commit them
     * (a gap also stays when a value is never used: a rollback, an upsert
     * that updated, a bulk insert's spare values), so they are re-read until
     * SEQ_GRACE_MS after they were first missed */
    struct hole {
        unsigned long long lo, hi;
        int64_t since;
    } holes[SEQ_HOLES];
    unsigned nholes;
    int64_t wf_ms; /* workflow runs ended from here on are read */
    int autoinc_mode;
    bool full;           /* HIST_ALERT_STATE_MAX reached (said once) */
    struct cond **fresh; /* opened this evaluation, rows not yet inserted */
    size_t nfresh, capfresh;
};

static void cond_key(const struct hist_alert_notice *c, char *k, size_t len)
{
    snprintf(k, len, "%s\x1f%s\x1f%d\x1f%s\x1f%s", c->kind, c->job, c->item, c->agent, c->task);
}

int hist_alert_state_new(struct hist_alert_state **out)
{
    struct hist_alert_state *s = calloc(1, sizeof *s);
    if (!s || hist_alert_groups_new(&s->groups) < 0) {
        free(s);
        return -ENOMEM;
    }
    strmap_init(&s->conds);
    *out = s;
    return 0;
}

void hist_alert_state_free(struct hist_alert_state *s)
{
    if (!s)
        return;
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);)
        free(v);
    strmap_free(&s->conds);
    hist_alert_groups_free(s->groups);
    free(s->fresh);
    free(s);
}

void hist_alert_state_counts(const struct hist_alert_state *s, size_t *conds, size_t *groups,
                             unsigned long long *seq)
{
    *conds = s ? strmap_len(&s->conds) : 0;
    *groups = s ? hist_alert_groups_len(s->groups) : 0;
    *seq = s ? s->seq : 0;
}

static bool history_kind(const char *kind)
{
    return !strcmp(kind, "failed") || !strcmp(kind, "timeout") || !strcmp(kind, "missed");
}

static bool caller_kind(const char *kind)
{
    return !strcmp(kind, "no_agent") || !strcmp(kind, "no_failover") || !strcmp(kind, "agent");
}

static int fail(MYSQL *m, struct sc_err *err)
{
    return sc_err_set(err, EIO, "alerts", -1, "MySQL error %u: %s", mysql_errno(m), mysql_error(m));
}

static int oom(struct sc_err *err)
{
    return sc_err_set(err, ENOMEM, "alerts", -1, "out of memory");
}

/* cond_open: a new condition (its row is inserted by write_fresh, then it
 * joins its group). */
static int cond_open(struct hist_alert_state *s, const struct hist_alert_notice *c, int attempt,
                     int64_t ended_ms)
{
    char k[700];
    int perr = 0;
    if (strmap_len(&s->conds) >= HIST_ALERT_STATE_MAX) {
        if (!s->full)
            LOGW("%d alert conditions open: no more are opened until some clear",
                 HIST_ALERT_STATE_MAX);
        s->full = true;
        return 0;
    }
    struct cond *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->n = *c;
    x->n.id = 0;
    x->attempt = attempt;
    x->ended_ms = ended_ms;
    x->mark = true;
    if (s->nfresh == s->capfresh) {
        size_t cap = s->capfresh ? 2 * s->capfresh : 64;
        struct cond **f = realloc(s->fresh, cap * sizeof *f);
        if (!f) {
            free(x);
            return -ENOMEM;
        }
        s->fresh = f;
        s->capfresh = cap;
    }
    cond_key(c, k, sizeof k);
    strmap_put(&s->conds, k, x, &perr);
    if (perr < 0) {
        free(x);
        return -ENOMEM;
    }
    s->fresh[s->nfresh++] = x;
    return 0;
}

/* reopen: condition x (key k) was cleared this evaluation and is open again:
 * its row is resolved, a new one opens (its group, still open until the
 * notices are taken, sends nothing new). */
static int reopen(struct hist_alert_state *s, struct cond *x, const char *k,
                  const struct hist_alert_notice *c, int attempt, int64_t ended_ms)
{
    char old[720];
    int perr = 0;
    snprintf(old, sizeof old, "%s\x1f#%llu", k, x->n.id);
    strmap_del(&s->conds, k);
    strmap_put(&s->conds, old, x, &perr);
    if (perr < 0) {
        free(x);
        return -ENOMEM;
    }
    return cond_open(s, c, attempt, ended_ms);
}

/* ---------------------------------------------------------------- rebuild */

static void esc(MYSQL *m, char *out, const char *s)
{
    mysql_real_escape_string(m, out, s, (unsigned long)strlen(s));
}

/* load_open: the open alert_event rows; a second open row of one condition
 * (two leaders overlapping) is resolved. */
static int load_open(MYSQL *m, struct hist_alert_state *s, int64_t now_ms, struct sc_err *err)
{
    if (mysql_query(m, "SELECT id, kind, IFNULL(job,''), IFNULL(item,-1), IFNULL(agent,''),"
                       " IFNULL(task,''), IFNULL(execution_id,''),"
                       " IFNULL(DATE_FORMAT(fire_time, '%Y-%m-%d %H:%i:%s.%f'),''), message,"
                       " IFNULL(ROUND(UNIX_TIMESTAMP(notified_at) * 1000), 0)"
                       " FROM alert_event WHERE resolved_at IS NULL ORDER BY id") != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        struct cond *x = calloc(1, sizeof *x);
        char k[700];
        int perr = 0;
        if (!x) {
            mysql_free_result(res);
            return oom(err);
        }
        x->n.id = strtoull(row[0], NULL, 10);
        snprintf(x->n.kind, sizeof x->n.kind, "%s", row[1]);
        snprintf(x->n.job, sizeof x->n.job, "%s", row[2]);
        x->n.item = atoi(row[3]);
        snprintf(x->n.agent, sizeof x->n.agent, "%s", row[4]);
        snprintf(x->n.task, sizeof x->n.task, "%s", row[5]);
        snprintf(x->n.execution_id, sizeof x->n.execution_id, "%s", row[6]);
        snprintf(x->n.fire, sizeof x->n.fire, "%.23s", row[7]);
        snprintf(x->n.message, sizeof x->n.message, "%s", row[8]);
        int64_t notified = strtoll(row[9], NULL, 10);
        /* a workflow row's run end is not kept: any later success clears it */
        if (!history_kind(x->n.kind) && !caller_kind(x->n.kind))
            x->ended_ms = 1;
        cond_key(&x->n, k, sizeof k);
        if (strmap_get(&s->conds, k)) {
            x->resolve = true; /* a duplicate: resolved by write_resolves, no notice */
            x->n.kind[0] = '\0';
            snprintf(k + strlen(k), sizeof k - strlen(k), "\x1f#%llu", x->n.id);
        }
        strmap_put(&s->conds, k, x, &perr);
        if (perr < 0) {
            free(x);
            mysql_free_result(res);
            return oom(err);
        }
        if (!x->resolve &&
            hist_alert_group_open(s->groups, &x->n, notified > 0, notified, now_ms) < 0) {
            mysql_free_result(res);
            return oom(err);
        }
    }
    mysql_free_result(res);
    return 0;
}

/* rebuild_history: the live failed/timeout/missed conditions, by one bounded
 * query (the one every cycle ran before evaluation was incremental): loaded
 * rows it does not list are cleared, what it lists and no row holds opens. */
static int rebuild_history(MYSQL *m, struct hist_alert_state *s, struct sc_err *err)
{
    char q[1400];
    snprintf(q, sizeof q,
             "SELECT e.job, e.item, e.status, e.execution_id,"
             " DATE_FORMAT(e.fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), e.attempt FROM ("
             " SELECT f.job, f.item, f.status, f.execution_id, f.fire_time, f.attempt,"
             "  ROW_NUMBER() OVER (PARTITION BY f.job, f.item, f.status"
             "  ORDER BY f.fire_time DESC, f.attempt DESC, f.id DESC) AS ri"
             " FROM job_execution f WHERE f.status IN ('failed','timeout','missed')"
             " AND f.fire_time >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY) e"
             " WHERE e.ri = 1" HIST_UNRESOLVED_SQL " ORDER BY e.fire_time DESC LIMIT %d",
             HIST_ALERT_MAX);
    if (mysql_query(m, q) != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);)
        ((struct cond *)v)->mark = false;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        struct hist_alert_notice c;
        char key[700];
        memset(&c, 0, sizeof c);
        snprintf(c.kind, sizeof c.kind, "%s", row[2]);
        snprintf(c.job, sizeof c.job, "%s", row[0]);
        c.item = atoi(row[1]);
        snprintf(c.execution_id, sizeof c.execution_id, "%s", row[3]);
        snprintf(c.fire, sizeof c.fire, "%.23s", row[4] ? row[4] : "");
        snprintf(c.message, sizeof c.message, "item %d %s", c.item, c.kind);
        cond_key(&c, key, sizeof key);
        struct cond *x = strmap_get(&s->conds, key);
        if (x) {
            x->mark = true;
            x->attempt = atoi(row[5]);
            snprintf(x->n.fire, sizeof x->n.fire, "%s", c.fire);
        } else if (cond_open(s, &c, atoi(row[5]), 0) < 0) {
            mysql_free_result(res);
            return oom(err);
        }
    }
    mysql_free_result(res);
    for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);) {
        struct cond *x = v;
        if (history_kind(x->n.kind) && !x->mark && !x->resolve && x->n.id) {
            x->resolve = true;
            hist_alert_group_clear(s->groups, &x->n);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- incremental steps */

static void clear_cond(struct hist_alert_state *s, struct cond *x)
{
    if (x->resolve)
        return;
    x->resolve = true;
    if (x->n.id)
        hist_alert_group_clear(s->groups, &x->n);
}

/* later: fire/attempt (f2, a2) comes after (f1, a1): HIST_UNRESOLVED_SQL's order.
 * The fire strings are fixed-width UTC, so they compare as text. */
static bool later(const char *f2, int a2, const char *f1, int a1)
{
    int c = strcmp(f2, f1);
    return c > 0 || (c == 0 && a2 > a1);
}

/* confirm: of the candidate executions (ids quoted, comma-separated), the ones
 * still unresolved in MySQL open or move their condition. */
static int confirm(MYSQL *m, struct hist_alert_state *s, const char *ids, struct sc_err *err)
{
    char *q = malloc(SQL_MAX + 2048);
    if (!q)
        return oom(err);
    snprintf(q, SQL_MAX + 2048,
             "SELECT e.job, e.item, e.status, e.execution_id,"
             " DATE_FORMAT(e.fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), e.attempt"
             " FROM job_execution e WHERE e.execution_id IN (%s)"
             " AND e.fire_time >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY" HIST_UNRESOLVED_SQL,
             ids);
    int rc = mysql_query(m, q);
    free(q);
    if (rc != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        struct hist_alert_notice c;
        char key[700];
        memset(&c, 0, sizeof c);
        snprintf(c.kind, sizeof c.kind, "%s", row[2]);
        snprintf(c.job, sizeof c.job, "%s", row[0]);
        c.item = atoi(row[1]);
        snprintf(c.execution_id, sizeof c.execution_id, "%s", row[3]);
        snprintf(c.fire, sizeof c.fire, "%.23s", row[4] ? row[4] : "");
        snprintf(c.message, sizeof c.message, "item %d %s", c.item, c.kind);
        int attempt = atoi(row[5]);
        cond_key(&c, key, sizeof key);
        struct cond *x = strmap_get(&s->conds, key);
        if (x && !x->resolve) {
            if (later(c.fire, attempt, x->n.fire, x->attempt)) {
                snprintf(x->n.execution_id, sizeof x->n.execution_id, "%s", c.execution_id);
                snprintf(x->n.fire, sizeof x->n.fire, "%s", c.fire);
                x->attempt = attempt;
            }
        } else if (x) {
            if (reopen(s, x, key, &c, attempt, 0) < 0) {
                mysql_free_result(res);
                return oom(err);
            }
        } else if (cond_open(s, &c, attempt, 0) < 0) {
            mysql_free_result(res);
            return oom(err);
        }
    }
    mysql_free_result(res);
    return 0;
}

/* add_hole: seq values lo..hi were skipped (the oldest hole is given up when
 * the list is full). */
static void add_hole(struct hist_alert_state *s, unsigned long long lo, unsigned long long hi,
                     int64_t now_ms)
{
    if (s->nholes == SEQ_HOLES) {
        memmove(&s->holes[0], &s->holes[1], (SEQ_HOLES - 1) * sizeof s->holes[0]);
        s->nholes--;
    }
    s->holes[s->nholes++] = (struct hole){lo, hi, now_ms};
}

static void expire_holes(struct hist_alert_state *s, int64_t now_ms)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->nholes; i++)
        if (now_ms - s->holes[i].since < SEQ_GRACE_MS)
            s->holes[k++] = s->holes[i];
    s->nholes = k;
}

/* step_history: the status changes recorded since the last evaluation. A
 * success clears the (job, item)'s older conditions in memory; a failure
 * that is newer than its open condition is confirmed against MySQL
 * (HIST_UNRESOLVED_SQL, a handful of index probes per execution). */
static int step_history(MYSQL *m, struct hist_alert_state *s, int64_t now_ms, struct sc_err *err)
{
    char q[4096];
    char *ids = malloc(SQL_MAX);
    size_t idlen = 0;
    int rc = 0;
    if (!ids)
        return oom(err);
    expire_holes(s, now_ms);
    for (int round = 0; round < TRACE_ROUNDS; round++) {
        /* past the mark, and the holes below it (a row there is one that
         * committed late, or one read before: applying it again changes
         * nothing) */
        size_t len = (size_t)snprintf(
            q, sizeof q,
            "SELECT t.seq, t.state, e.job, e.item, e.attempt,"
            " DATE_FORMAT(e.fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), e.execution_id"
            " FROM job_status_trace t LEFT JOIN job_execution e"
            " ON t.state IN ('succeeded','failed','timeout','missed')"
            " AND e.execution_id = t.execution_id"
            " AND e.fire_time >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY WHERE (t.seq > %llu",
            s->seq);
        for (unsigned i = 0; round == 0 && i < s->nholes && len < sizeof q - 200; i++)
            len += (size_t)snprintf(q + len, sizeof q - len, " OR t.seq BETWEEN %llu AND %llu",
                                    s->holes[i].lo, s->holes[i].hi);
        snprintf(q + len, sizeof q - len, ") ORDER BY t.seq LIMIT %d", TRACE_BATCH);
        if (mysql_query(m, q) != 0) {
            rc = fail(m, err);
            goto out;
        }
        MYSQL_RES *res = mysql_store_result(m);
        if (!res) {
            rc = fail(m, err);
            goto out;
        }
        unsigned long long nrows = mysql_num_rows(res), top = s->seq;
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res))) {
            unsigned long long seq = strtoull(row[0], NULL, 10);
            if (seq > top) {
                if (seq > top + 1)
                    add_hole(s, top + 1, seq - 1, now_ms);
                top = seq;
            }
            if (!row[2])
                continue; /* not a terminal state, or older than the window */
            const char *st = row[1];
            char fire[32]; /* milliseconds, as conditions keep it */
            snprintf(fire, sizeof fire, "%.23s", row[5] ? row[5] : "");
            int item = atoi(row[3]), attempt = atoi(row[4]);
            if (!strcmp(st, "succeeded")) {
                static const char *const kinds[] = {"failed", "timeout", "missed"};
                for (int i = 0; i < 3; i++) {
                    struct hist_alert_notice c;
                    char key[700];
                    memset(&c, 0, sizeof c);
                    snprintf(c.kind, sizeof c.kind, "%s", kinds[i]);
                    snprintf(c.job, sizeof c.job, "%s", row[2]);
                    c.item = item;
                    cond_key(&c, key, sizeof key);
                    struct cond *x = strmap_get(&s->conds, key);
                    if (x && later(fire, attempt, x->n.fire, x->attempt))
                        clear_cond(s, x);
                }
                continue;
            }
            struct hist_alert_notice c;
            char key[700];
            memset(&c, 0, sizeof c);
            snprintf(c.kind, sizeof c.kind, "%s", st);
            snprintf(c.job, sizeof c.job, "%s", row[2]);
            c.item = item;
            cond_key(&c, key, sizeof key);
            struct cond *x = strmap_get(&s->conds, key);
            if (x && !x->resolve && !later(fire, attempt, x->n.fire, x->attempt))
                continue; /* its condition is open at this execution or a newer one */
            size_t l = strlen(row[6]);
            if (idlen + 2 * l + 4 >= SQL_MAX) {
                ids[idlen] = '\0';
                if ((rc = confirm(m, s, ids, err)) < 0) {
                    mysql_free_result(res);
                    goto out;
                }
                idlen = 0;
            }
            if (idlen)
                ids[idlen++] = ',';
            ids[idlen++] = '\'';
            idlen += mysql_real_escape_string(m, ids + idlen, row[6], (unsigned long)l);
            ids[idlen++] = '\'';
            ids[idlen] = '\0';
        }
        mysql_free_result(res);
        s->seq = top;
        if (nrows < TRACE_BATCH)
            break;
    }
    if (idlen) {
        ids[idlen] = '\0';
        if ((rc = confirm(m, s, ids, err)) < 0)
            goto out;
    }
out:
    free(ids);
    return rc;
}

/* expire_history: conditions of fires more than 24 h old leave the window. */
static void expire_history(struct hist_alert_state *s, int64_t now_ms)
{
    char lim[32];
    time_t t = (time_t)((now_ms - 86400000LL) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(lim, sizeof lim, "%Y-%m-%d %H:%M:%S", &tm);
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);) {
        struct cond *x = v;
        if (history_kind(x->n.kind) && x->n.id && x->n.fire[0] && strcmp(x->n.fire, lim) < 0)
            clear_cond(s, x);
    }
}

/* step_caller: the caller's conditions open while listed. */
static int step_caller(struct hist_alert_state *s, const struct hist_alert_cond *ext, size_t next)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);)
        ((struct cond *)v)->mark = false;
    for (size_t i = 0; i < next && i < HIST_ALERT_MAX; i++) {
        if (!caller_kind(ext[i].kind))
            continue;
        struct hist_alert_notice c;
        char key[700];
        memset(&c, 0, sizeof c);
        snprintf(c.kind, sizeof c.kind, "%s", ext[i].kind);
        snprintf(c.job, sizeof c.job, "%s", ext[i].job);
        snprintf(c.agent, sizeof c.agent, "%s", ext[i].agent);
        snprintf(c.message, sizeof c.message, "%s", ext[i].message);
        c.item = -1;
        cond_key(&c, key, sizeof key);
        struct cond *x = strmap_get(&s->conds, key);
        if (x && !x->resolve)
            x->mark = true;
        else if (!x && cond_open(s, &c, 0, 0) < 0)
            return -ENOMEM;
    }
    for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);) {
        struct cond *x = v;
        if (caller_kind(x->n.kind) && !x->mark)
            clear_cond(s, x);
    }
    return 0;
}

/* step_workflows: runs ended since the last look. A failed run opens its
 * workflow's condition (and one per failed task); a succeeded run clears the
 * workflow's conditions from runs that ended before it. */
static int step_workflows(MYSQL *m, struct hist_alert_state *s, struct sc_err *err)
{
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT r.workflow, r.run_id, r.state, r.ended_ms, IFNULL(t.task,''),"
             " IFNULL(t.reason,'') FROM workflow_run r LEFT JOIN task_instance t"
             " ON t.run_id = r.run_id AND (t.state = 'failed' OR (t.state = 'cancelled'"
             " AND t.reason LIKE 'the run timed out%%'))"
             " WHERE r.ended_ms >= %lld AND r.state IN ('succeeded','failed')"
             " ORDER BY r.ended_ms, r.run_id LIMIT %d",
             (long long)s->wf_ms, WF_BATCH);
    if (mysql_query(m, q) != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    MYSQL_ROW row;
    int64_t newest = 0;
    int rc = 0;
    while ((row = mysql_fetch_row(res))) {
        int64_t ended = strtoll(row[3], NULL, 10);
        if (ended > newest)
            newest = ended;
        const char *wf = row[0], *run = row[1], *task = row[4], *reason = row[5];
        if (!strcmp(row[2], "succeeded")) {
            const char *k;
            void *v;
            for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v);) {
                struct cond *x = v;
                if (x->ended_ms && x->ended_ms < ended && !strcmp(x->n.job, wf))
                    clear_cond(s, x);
            }
            continue;
        }
        bool overdue = !strncmp(reason, "the run timed out", 17);
        struct hist_alert_notice c[2];
        int nc = 0;
        memset(c, 0, sizeof c);
        if (!task[0] || overdue) {
            snprintf(c[nc].kind, sizeof c[nc].kind, "%s", overdue ? "run_overdue" : "run_failed");
            snprintf(c[nc].message, sizeof c[nc].message, "run %s %s", run,
                     overdue ? "went over its timeout_s" : "failed");
            nc++;
        } else {
            snprintf(c[nc].kind, sizeof c[nc].kind, "run_failed");
            snprintf(c[nc].message, sizeof c[nc].message, "run %s failed", run);
            nc++;
            bool sensor = !strncmp(reason, "sensor timed out", 16);
            snprintf(c[nc].kind, sizeof c[nc].kind, "%s", sensor ? "sensor_late" : "task_failed");
            snprintf(c[nc].task, sizeof c[nc].task, "%s", task);
            snprintf(c[nc].message, sizeof c[nc].message, "task %s: %.150s", task, reason);
            nc++;
        }
        for (int i = 0; i < nc; i++) {
            char key[700];
            snprintf(c[i].job, sizeof c[i].job, "%s", wf);
            snprintf(c[i].execution_id, sizeof c[i].execution_id, "%s", run);
            c[i].item = -1;
            cond_key(&c[i], key, sizeof key);
            struct cond *x = strmap_get(&s->conds, key);
            if (x && !x->resolve) {
                if (ended > x->ended_ms) { /* a newer failed run: the same condition */
                    x->ended_ms = ended;
                    snprintf(x->n.execution_id, sizeof x->n.execution_id, "%s", run);
                }
            } else if ((x ? reopen(s, x, key, &c[i], 0, ended) : cond_open(s, &c[i], 0, ended)) <
                       0) {
                rc = oom(err);
                break;
            }
        }
        if (rc < 0)
            break;
    }
    unsigned long long nrows = mysql_num_rows(res);
    mysql_free_result(res);
    /* a full batch moves on past what it read, or it would read it again */
    int64_t from = nrows >= WF_BATCH ? newest : newest - WF_MARGIN_MS;
    if (from > s->wf_ms)
        s->wf_ms = from;
    return rc;
}

/* step_running_tasks: tasks that failed (after their retries) in runs still
 * going on — other branches may run for hours — are announced now, not when
 * the run ends. Their condition carries the run's creation as its time: the
 * run's own success (a trigger rule that tolerates it) or a later run's
 * clears it. Running runs are few (ix_retention, ended_ms NULL). */
static int step_running_tasks(MYSQL *m, struct hist_alert_state *s, struct sc_err *err)
{
    char q[512];
    snprintf(q, sizeof q,
             "SELECT r.workflow, r.run_id, r.created_ms, t.task, IFNULL(t.reason,'')"
             " FROM workflow_run r JOIN task_instance t ON t.run_id = r.run_id"
             " AND t.state = 'failed' WHERE r.ended_ms IS NULL AND r.state = 'running'"
             " LIMIT %d",
             WF_BATCH);
    if (mysql_query(m, q) != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    MYSQL_ROW row;
    int rc = 0;
    while ((row = mysql_fetch_row(res)) && rc == 0) {
        struct hist_alert_notice c;
        char key[700];
        const char *reason = row[4];
        bool sensor = !strncmp(reason, "sensor timed out", 16);
        memset(&c, 0, sizeof c);
        snprintf(c.kind, sizeof c.kind, "%s", sensor ? "sensor_late" : "task_failed");
        snprintf(c.job, sizeof c.job, "%s", row[0]);
        snprintf(c.task, sizeof c.task, "%s", row[3]);
        snprintf(c.execution_id, sizeof c.execution_id, "%s", row[1]);
        snprintf(c.message, sizeof c.message, "task %s: %.150s", row[3], reason);
        c.item = -1;
        int64_t created = strtoll(row[2], NULL, 10);
        cond_key(&c, key, sizeof key);
        struct cond *x = strmap_get(&s->conds, key);
        if (x && !x->resolve) {
            if (created > x->ended_ms) {
                x->ended_ms = created;
                snprintf(x->n.execution_id, sizeof x->n.execution_id, "%s", row[1]);
            }
        } else if ((x ? reopen(s, x, key, &c, 0, created) : cond_open(s, &c, 0, created)) < 0) {
            rc = oom(err);
        }
    }
    mysql_free_result(res);
    return rc;
}

/* ---------------------------------------------------------------- writing alert_event */

/* write_fresh: rows for the conditions opened this evaluation; then they join
 * their groups. A multi-row insert takes consecutive ids unless the server
 * interleaves auto-increment values (innodb_autoinc_lock_mode 2): then one
 * row per statement. */
static int write_fresh(MYSQL *m, struct hist_alert_state *s, int64_t now_ms, struct sc_err *err)
{
    size_t per = s->autoinc_mode == 2 ? 1 : 500;
    char *q = malloc(SQL_MAX * 2);
    if (!q)
        return oom(err);
    for (size_t i = 0; i < s->nfresh;) {
        size_t n = 0, len = 0;
        len =
            (size_t)snprintf(q, SQL_MAX * 2,
                             "INSERT INTO alert_event (kind, job, item, agent, task, execution_id,"
                             " fire_time, message, raised_at) VALUES ");
        for (; i + n < s->nfresh && n < per && len < SQL_MAX; n++) {
            const struct hist_alert_notice *c = &s->fresh[i + n]->n;
            char ej[JOB_NAME_MAX * 2 + 1], ea[HIST_ALERT_AGENT_MAX * 2 + 1],
                et[HIST_ALERT_TASK_MAX * 2 + 1], ee[170], em[420], item[16];
            esc(m, ej, c->job);
            esc(m, ea, c->agent);
            esc(m, et, c->task);
            esc(m, ee, c->execution_id);
            esc(m, em, c->message);
            snprintf(item, sizeof item, c->item >= 0 ? "%d" : "NULL", c->item);
            len += (size_t)snprintf(
                q + len, SQL_MAX * 2 - len,
                "%s('%s', %s%s%s, %s, %s%s%s, %s%s%s, %s%s%s, %s%s%s, '%s', UTC_TIMESTAMP(3))",
                n ? "," : "", c->kind, c->job[0] ? "'" : "", c->job[0] ? ej : "NULL",
                c->job[0] ? "'" : "", item, c->agent[0] ? "'" : "", c->agent[0] ? ea : "NULL",
                c->agent[0] ? "'" : "", c->task[0] ? "'" : "", c->task[0] ? et : "NULL",
                c->task[0] ? "'" : "", c->execution_id[0] ? "'" : "",
                c->execution_id[0] ? ee : "NULL", c->execution_id[0] ? "'" : "",
                c->fire[0] ? "'" : "", c->fire[0] ? c->fire : "NULL", c->fire[0] ? "'" : "", em);
        }
        if (mysql_query(m, q) != 0) {
            free(q);
            return fail(m, err);
        }
        unsigned long long first = mysql_insert_id(m);
        for (size_t j = 0; j < n; j++) {
            struct cond *x = s->fresh[i + j];
            x->n.id = first + j;
            if (x->resolve)
                continue; /* cleared again in the same evaluation: write_resolves closes it */
            if (hist_alert_group_open(s->groups, &x->n, false, 0, now_ms) < 0) {
                free(q);
                return oom(err);
            }
        }
        i += n;
    }
    free(q);
    s->nfresh = 0;
    return 0;
}

/* write_resolves: rows of cleared conditions get resolved_at; they leave the
 * state. */
static int write_resolves(MYSQL *m, struct hist_alert_state *s, struct sc_err *err)
{
    char *q = malloc(SQL_MAX);
    if (!q)
        return oom(err);
    for (;;) {
        size_t len = (size_t)snprintf(q, SQL_MAX,
                                      "UPDATE alert_event SET resolved_at = UTC_TIMESTAMP(3)"
                                      " WHERE resolved_at IS NULL AND id IN (");
        size_t n = 0;
        const char *k;
        void *v;
        for (size_t it = 0; strmap_next(&s->conds, &it, &k, &v) && n < 1000;) {
            struct cond *x = v;
            if (!x->resolve)
                continue;
            if (x->n.id) {
                len += (size_t)snprintf(q + len, SQL_MAX - len, "%s%llu", n ? "," : "", x->n.id);
                n++;
            }
            strmap_del(&s->conds, k);
            free(x);
        }
        if (n == 0)
            break;
        snprintf(q + len, SQL_MAX - len, ")");
        if (mysql_query(m, q) != 0) {
            free(q);
            return fail(m, err);
        }
    }
    free(q);
    return 0;
}

/* write_notified: the open rows of a group whose notice went out. */
static int write_notified(MYSQL *m, const struct hist_alert_notice *n, struct sc_err *err)
{
    char q[1600], ej[JOB_NAME_MAX * 2 + 1], ea[HIST_ALERT_AGENT_MAX * 2 + 1],
        et[HIST_ALERT_TASK_MAX * 2 + 1];
    esc(m, ej, n->job);
    esc(m, ea, n->agent);
    esc(m, et, n->task);
    snprintf(q, sizeof q,
             "UPDATE alert_event SET notified_at = UTC_TIMESTAMP(3) WHERE resolved_at IS NULL"
             " AND kind = '%s' AND IFNULL(job,'') = '%s' AND IFNULL(agent,'') = '%s'"
             " AND IFNULL(task,'') = '%s'",
             n->kind, ej, ea, et);
    return mysql_query(m, q) == 0 ? 0 : fail(m, err);
}

/* ---------------------------------------------------------------- evaluation */

int hist_alert_eval(MYSQL *m, struct hist_alert_state *s, const struct hist_alert_opts *o,
                    int64_t now_ms, const struct hist_alert_cond *ext, size_t next,
                    struct hist_alert_notice **outp, size_t *nout, struct sc_err *err)
{
    struct hist_alert_notice *out = NULL;
    size_t n = 0;
    int rc;
    *outp = NULL;
    *nout = 0;
    s->nfresh = 0;
    if (mysql_query(m, "SET time_zone = '+00:00'") != 0)
        return fail(m, err);
    if (!s->built) {
        long long seq = 0, mode = 1;
        /* The mark is read first: what is recorded during the rebuild is read
         * again by the next step, and applying it twice changes nothing. */
        if (db_query_int(m, "SELECT IFNULL(MAX(seq), 0) FROM job_status_trace", &seq, err) < 0 ||
            db_query_int(m, "SELECT @@innodb_autoinc_lock_mode", &mode, err) < 0)
            return -EIO;
        s->autoinc_mode = (int)mode;
        if ((rc = load_open(m, s, now_ms, err)) < 0 || (rc = rebuild_history(m, s, err)) < 0)
            return rc;
        s->seq = (unsigned long long)seq;
        s->wf_ms = now_ms - 86400000LL;
    } else if ((rc = step_history(m, s, now_ms, err)) < 0) {
        return rc;
    }
    expire_history(s, now_ms);
    if (ext && (rc = step_caller(s, ext, next)) < 0)
        return oom(err);
    if ((rc = step_workflows(m, s, err)) < 0 || (rc = step_running_tasks(m, s, err)) < 0 ||
        (rc = write_fresh(m, s, now_ms, err)) < 0 || (rc = write_resolves(m, s, err)) < 0)
        return rc;
    s->built = true;
    if (hist_alert_group_take(s->groups, o, now_ms, &out, &n) < 0) {
        free(out);
        return oom(err);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].event, "resolve") != 0 && (rc = write_notified(m, &out[i], err)) < 0) {
            free(out);
            return rc;
        }
    *outp = out;
    *nout = n;
    return 0;
}

bool hist_alert_about_job(const struct hist_alert_notice *n)
{
    return history_kind(n->kind) || !strcmp(n->kind, "no_agent") || !strcmp(n->kind, "no_failover");
}

bool hist_alert_wanted(const struct job *j, const struct hist_alert_notice *n)
{
    if (!j || !j->alert.webhook || !j->alert.webhook[0])
        return false;
    /* no_agent: nothing can run the job's fires, so they are missed. */
    unsigned bit = strcmp(n->kind, "failed") == 0        ? JOB_ALERT_FAILURE
                   : strcmp(n->kind, "timeout") == 0     ? JOB_ALERT_TIMEOUT
                   : strcmp(n->kind, "no_failover") == 0 ? JOB_ALERT_NO_FAILOVER
                                                         : JOB_ALERT_MISSED;
    return (j->alert.on & bit) != 0;
}

char *hist_alert_payload(const struct job *j, const struct hist_alert_notice *n, const char *sender)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "event", n->event);
    cJSON_AddNumberToObject(o, "alert_id", (double)n->id);
    cJSON_AddStringToObject(o, "kind", n->kind);
    cJSON_AddStringToObject(o, "job", n->job);
    if (n->item >= 0)
        cJSON_AddNumberToObject(o, "item", n->item);
    cJSON_AddStringToObject(o, "domain", j && j->domain ? j->domain : "");
    cJSON_AddNumberToObject(o, "job_level", j ? j->level : 0);
    if (n->execution_id[0])
        cJSON_AddStringToObject(o, "execution_id", n->execution_id);
    if (n->fire[0])
        cJSON_AddStringToObject(o, "fire_time", n->fire);
    cJSON_AddStringToObject(o, "message", n->message);
    cJSON_AddNumberToObject(o, "count", n->count ? n->count : 1);
    cJSON_AddBoolToObject(o, "recovered", n->recovered);
    if (n->items[0])
        cJSON_AddStringToObject(o, "items", n->items);
    if (n->agent[0])
        cJSON_AddStringToObject(o, "agent", n->agent);
    if (n->task[0])
        cJSON_AddStringToObject(o, "task", n->task);
    if (sender)
        cJSON_AddStringToObject(o, "sender", sender);
    char *s = json_print(o);
    cJSON_Delete(o);
    return s;
}
