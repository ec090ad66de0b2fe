/* sql/hist_alert.c: alert evaluation over job_execution and alert_event, and the
 * webhook payload (see sql/hist_alert.h). The sender is sql/hist_hooks.c. */
#define LOG_CAT "shardcron.alerts"
#include "sql/hist_alert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "sql/hist_query.h"

static bool same(const struct hist_alert_notice *x, const char *kind, const char *job, int item)
{
    return strcmp(x->kind, kind) == 0 && strcmp(x->job, job) == 0 && x->item == item;
}

static int fail(MYSQL *m, struct sc_err *err)
{
    return sc_err_set(err, EIO, "alerts", -1, "MySQL error %u: %s", mysql_errno(m), mysql_error(m));
}

/* live_conditions: the newest failed/timeout/missed execution of each (kind, job,
 * item) in the last 24 h that no later success cleared; newest first. */
static int live_conditions(MYSQL *m, struct hist_alert_notice *live, size_t *nlive,
                           struct sc_err *err)
{
    char q[1024];
    /* The newest of each (job, item, kind) first, then the NOT EXISTS probe on
     * those only (sql/hist_query.c, hist_alert_open: a cleared newest means
     * cleared older ones); a (job, item) failing every second no longer uses
     * up the row limit either. */
    snprintf(q, sizeof q,
             "SELECT e.job, e.item, e.status, e.execution_id,"
             " DATE_FORMAT(e.fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f') FROM ("
             " SELECT f.job, f.item, f.status, f.execution_id, f.fire_time, f.attempt,"
             "  ROW_NUMBER() OVER (PARTITION BY f.job, f.item, f.status"
             "  ORDER BY f.fire_time DESC, f.attempt DESC, f.id DESC) AS ri"
             " FROM job_execution f WHERE f.status IN ('failed','timeout','missed')"
             " AND f.fire_time >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY) e"
             " WHERE e.ri = 1" HIST_UNRESOLVED_SQL " ORDER BY e.fire_time DESC LIMIT %d",
             HIST_ALERT_MAX);
    if (mysql_query(m, "SET time_zone = '+00:00'") != 0 || mysql_query(m, q) != 0)
        return fail(m, err);
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return fail(m, err);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) && *nlive < HIST_ALERT_MAX) {
        bool dup = false;
        for (size_t i = 0; i < *nlive && !dup; i++)
            dup = same(&live[i], row[2], row[0], atoi(row[1]));
        if (dup)
            continue; /* newest first: keep the newest execution of the (kind, job, item) */
        struct hist_alert_notice *c = &live[(*nlive)++];
        memset(c, 0, sizeof *c);
        snprintf(c->kind, sizeof c->kind, "%s", row[2]);
        snprintf(c->job, sizeof c->job, "%s", row[0]);
        c->item = atoi(row[1]);
        snprintf(c->execution_id, sizeof c->execution_id, "%s", row[3]);
        snprintf(c->fire, sizeof c->fire, "%.23s", row[4] ? row[4] : "");
        snprintf(c->message, sizeof c->message, "item %d %s", c->item, c->kind);
    }
    mysql_free_result(res);
    return 0;
}

static void esc(MYSQL *m, char *out, const char *s)
{
    mysql_real_escape_string(m, out, s, (unsigned long)strlen(s));
}

/* no_agent_conditions: one condition per listed job (at most HIST_ALERT_MAX). */
static void no_agent_conditions(const char *const *names, size_t nnames,
                                struct hist_alert_notice *live, size_t *nlive)
{
    for (size_t i = 0; i < nnames && i < HIST_ALERT_MAX; i++) {
        if (!names[i] || !names[i][0] || strlen(names[i]) > JOB_NAME_MAX)
            continue;
        struct hist_alert_notice *c = &live[(*nlive)++];
        memset(c, 0, sizeof *c);
        snprintf(c->kind, sizeof c->kind, "no_agent");
        snprintf(c->job, sizeof c->job, "%s", names[i]);
        c->item = -1;
        snprintf(c->message, sizeof c->message, "no eligible agent");
    }
}

int hist_alert_eval(MYSQL *m, int reminder_s, const char *const *no_agent, size_t nno_agent,
                    struct hist_alert_notice **outp, size_t *nout, struct sc_err *err)
{
    char q[4096];
    size_t nlive = 0, n = 0;
    /* Open rows read per evaluation: the history kinds' share, plus no_agent's
     * when the list is known. Each row yields at most one notice (resolve or
     * reminder), each unmatched condition at most one (open). */
    int nrows = no_agent ? 2 * HIST_ALERT_MAX : HIST_ALERT_MAX;
    struct hist_alert_notice *live = calloc(2 * HIST_ALERT_MAX + 1, sizeof *live);
    struct hist_alert_notice *out = calloc((size_t)nrows + 2 * HIST_ALERT_MAX + 1, sizeof *out);
    bool *matched = calloc(2 * HIST_ALERT_MAX + 1, sizeof *matched);
    MYSQL_RES *res = NULL;
    int rc = 0;
    *outp = NULL;
    *nout = 0;
    if (!live || !out || !matched) {
        rc = sc_err_set(err, ENOMEM, "alerts", -1, "out of memory");
        goto err;
    }
    if ((rc = live_conditions(m, live, &nlive, err)) < 0)
        goto err;
    if (no_agent)
        no_agent_conditions(no_agent, nno_agent, live, &nlive);

    /* Open rows of the kinds evaluated here; the reminder is due when the last
     * notice (or the raise) is older than the interval. */
    snprintf(q, sizeof q,
             "SELECT id, kind, IFNULL(job,''), IFNULL(item,-1), IFNULL(execution_id,''),"
             " IFNULL(DATE_FORMAT(fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'),''),"
             " IFNULL(notified_at, raised_at) < UTC_TIMESTAMP(3) - INTERVAL %d SECOND"
             " FROM alert_event WHERE resolved_at IS NULL"
             " AND kind IN ('failed','timeout','missed'%s) LIMIT %d",
             reminder_s, no_agent ? ",'no_agent'" : "", nrows);
    if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m))) {
        rc = fail(m, err);
        goto err;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        int item = atoi(row[3]);
        size_t k = nlive;
        for (size_t i = 0; i < nlive && k == nlive; i++)
            if (same(&live[i], row[1], row[2], item))
                k = i;
        struct hist_alert_notice *o = &out[n];
        memset(o, 0, sizeof *o);
        o->id = strtoull(row[0], NULL, 10);
        snprintf(o->kind, sizeof o->kind, "%s", row[1]);
        snprintf(o->job, sizeof o->job, "%s", row[2]);
        o->item = item;
        snprintf(o->execution_id, sizeof o->execution_id, "%s", row[4]);
        snprintf(o->fire, sizeof o->fire, "%.23s", row[5]);
        if (k == nlive) {
            snprintf(q, sizeof q,
                     "UPDATE alert_event SET resolved_at = UTC_TIMESTAMP(3),"
                     " notified_at = UTC_TIMESTAMP(3) WHERE id = %llu AND resolved_at IS NULL",
                     o->id);
            if (mysql_query(m, q) != 0) {
                rc = fail(m, err);
                goto err;
            }
            if (mysql_affected_rows(m) == 1) {
                snprintf(o->event, sizeof o->event, "resolve");
                snprintf(o->message, sizeof o->message, "%s cleared", o->kind);
                n++;
            }
            continue;
        }
        matched[k] = true;
        if (row[6] && strcmp(row[6], "1") == 0) {
            snprintf(q, sizeof q,
                     "UPDATE alert_event SET notified_at = UTC_TIMESTAMP(3) WHERE id = %llu",
                     o->id);
            if (mysql_query(m, q) != 0) {
                rc = fail(m, err);
                goto err;
            }
            snprintf(o->event, sizeof o->event, "reminder");
            snprintf(o->message, sizeof o->message, "%s", live[k].message);
            n++;
        }
    }
    mysql_free_result(res);
    res = NULL;
    for (size_t i = 0; i < nlive; i++) {
        if (matched[i])
            continue;
        struct hist_alert_notice *c = &live[i];
        char ej[JOB_NAME_MAX * 2 + 1], ee[170], em[420], item[16], fire[64];
        esc(m, ej, c->job);
        esc(m, ee, c->execution_id);
        esc(m, em, c->message);
        snprintf(item, sizeof item, c->item >= 0 ? "%d" : "NULL", c->item);
        snprintf(fire, sizeof fire, c->fire[0] ? "'%s'" : "NULL", c->fire);
        /* Conditional insert: an agent that was leader a moment ago may be
         * evaluating too; whoever inserts second opens nothing. */
        snprintf(q, sizeof q,
                 "INSERT INTO alert_event (kind, job, item, execution_id, fire_time, message,"
                 " raised_at, notified_at) SELECT '%s', '%s', %s, %s%s%s, %s, '%s',"
                 " UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) FROM DUAL WHERE NOT EXISTS"
                 " (SELECT 1 FROM alert_event WHERE resolved_at IS NULL AND kind = '%s'"
                 " AND job = '%s' AND item <=> %s)",
                 c->kind, ej, item, c->execution_id[0] ? "'" : "NULL", c->execution_id[0] ? ee : "",
                 c->execution_id[0] ? "'" : "", fire, em, c->kind, ej, item);
        if (mysql_query(m, q) != 0) {
            rc = fail(m, err);
            goto err;
        }
        if (mysql_affected_rows(m) != 1)
            continue;
        out[n] = *c;
        out[n].id = (unsigned long long)mysql_insert_id(m);
        snprintf(out[n].event, sizeof out[n].event, "open");
        n++;
    }
    free(live);
    free(matched);
    if (n == 0) {
        free(out);
        out = NULL;
    }
    *outp = out;
    *nout = n;
    return 0;
err:
    if (res)
        mysql_free_result(res);
    free(live);
    free(out);
    free(matched);
    return rc;
}

bool hist_alert_wanted(const struct job *j, const struct hist_alert_notice *n)
{
    if (!j || !j->alert.webhook || !j->alert.webhook[0])
        return false;
    /* no_agent: nothing can run the job's fires, so they are missed. */
    unsigned bit = strcmp(n->kind, "failed") == 0    ? JOB_ALERT_FAILURE
                   : strcmp(n->kind, "timeout") == 0 ? JOB_ALERT_TIMEOUT
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
    if (sender)
        cJSON_AddStringToObject(o, "sender", sender);
    char *s = json_print(o);
    cJSON_Delete(o);
    return s;
}
