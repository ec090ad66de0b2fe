/* sql/hist_outbox.c: the alert outbox and acknowledgements over MySQL (see
 * sql/hist_outbox.h). Every state change is one conditional statement (or one
 * transaction of two), so two agents that both believe they lead never both
 * send a row: the one whose UPDATE matched owns it. */
#define LOG_CAT "shardcron.alerts"
#include "sql/hist_outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"

static int fail(MYSQL *m, struct sc_err *err)
{
    return sc_err_set(err, EIO, "alert outbox", -1, "MySQL error %u: %s", mysql_errno(m),
                      mysql_error(m));
}

/* esc: s escaped for a quoted SQL literal, the caller's to free. */
static char *esc(MYSQL *m, const char *s)
{
    size_t l = strlen(s);
    char *o = malloc(2 * l + 1);
    if (o)
        mysql_real_escape_string(m, o, s, (unsigned long)l);
    return o;
}

/* run: one statement built with printf; -EIO / -ENOMEM. */
static int run(MYSQL *m, struct sc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(MYSQL *m, struct sc_err *err, const char *fmt, ...)
{
    va_list ap;
    char *q = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&q, fmt, ap);
    va_end(ap);
    if (n < 0)
        return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    int rc = mysql_real_query(m, q, (unsigned long)n) != 0 ? fail(m, err) : 0;
    free(q);
    return rc;
}

static void rollback(MYSQL *m)
{
    mysql_query(m, "ROLLBACK");
}

/* ---------------------------------------------------------------- notices */

/* A decided notice is stored as its payload (hist_alert_payload without the
 * job: every field the notice carries, whatever struct hist_alert_notice
 * grows); routing adds what comes from the job's config, and the struct is
 * read back from the payload for the loop's filters. */

static void copy_str(char *dst, size_t len, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(dst, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static void notice_parse(const char *s, struct hist_alert_notice *n)
{
    cJSON *o = cJSON_Parse(s);
    memset(n, 0, sizeof *n);
    n->item = -1;
    if (!o)
        return;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "alert_id");
    n->id = cJSON_IsNumber(v) ? (unsigned long long)v->valuedouble : 0;
    v = cJSON_GetObjectItemCaseSensitive(o, "item");
    n->item = cJSON_IsNumber(v) ? v->valueint : -1;
    copy_str(n->event, sizeof n->event, o, "event");
    copy_str(n->kind, sizeof n->kind, o, "kind");
    copy_str(n->job, sizeof n->job, o, "job");
    copy_str(n->execution_id, sizeof n->execution_id, o, "execution_id");
    copy_str(n->fire, sizeof n->fire, o, "fire_time");
    copy_str(n->message, sizeof n->message, o, "message");
    /* the grouping fields (sql/hist_alert.h), as hist_alert_payload prints them */
    v = cJSON_GetObjectItemCaseSensitive(o, "count");
    n->count = cJSON_IsNumber(v) && v->valuedouble >= 1 ? (unsigned)v->valuedouble : 1;
    n->recovered = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "recovered"));
    copy_str(n->agent, sizeof n->agent, o, "agent");
    copy_str(n->task, sizeof n->task, o, "task");
    copy_str(n->items, sizeof n->items, o, "items");
    cJSON_Delete(o);
}

int hist_outbox_add(MYSQL *m, const struct hist_alert_notice *n, size_t nn, const char *sender,
                    struct sc_err *err)
{
    for (size_t i = 0; i < nn; i++) {
        char *j = hist_alert_payload(NULL, &n[i], sender), *ej = j ? esc(m, j) : NULL,
             *ejob = esc(m, n[i].job);
        char *eev = esc(m, n[i].event);
        int rc = ej && ejob && eev
                     ? run(m, err,
                           "INSERT INTO alert_outbox (alert_id, event, job, notice, state,"
                           " next_try, created_at) VALUES (%llu, '%s', '%s', '%s', 'new',"
                           " UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
                           n[i].id, eev, ejob, ej)
                     : sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
        free(j);
        free(ej);
        free(ejob);
        free(eev);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int hist_outbox_new_rows(MYSQL *m, unsigned long long after, int min_age_s, size_t max,
                         struct hist_outbox_new **out, size_t *n, struct sc_err *err)
{
    *out = NULL;
    *n = 0;
    int rc = run(m, err,
                 "SELECT id, notice FROM alert_outbox WHERE state = 'new' AND id > %llu"
                 " AND created_at <= UTC_TIMESTAMP(3) - INTERVAL %d SECOND ORDER BY id LIMIT %zu",
                 after, min_age_s, max);
    MYSQL_RES *res = rc == 0 ? mysql_store_result(m) : NULL;
    if (rc < 0 || !res)
        return rc < 0 ? rc : fail(m, err);
    size_t rows = (size_t)mysql_num_rows(res);
    struct hist_outbox_new *o = rows ? calloc(rows, sizeof *o) : NULL;
    MYSQL_ROW row;
    bool oom = rows && !o;
    while (o && (row = mysql_fetch_row(res))) {
        o[*n].id = strtoull(row[0], NULL, 10);
        notice_parse(row[1] ? row[1] : "{}", &o[*n].n);
        if (!(o[*n].payload = strdup(row[1] ? row[1] : "{}")))
            oom = true;
        (*n)++;
    }
    mysql_free_result(res);
    if (oom) {
        hist_outbox_new_free(o, *n);
        *n = 0;
        return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    }
    *out = o;
    return 0;
}

void hist_outbox_new_free(struct hist_outbox_new *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        free(r[i].payload);
    free(r);
}

/* first_after: after_s of escalation level `level` (0-based), -1 when none. */
static long long level_after(const char *escalate, int level)
{
    cJSON *a = escalate ? cJSON_Parse(escalate) : NULL;
    const cJSON *lv = a ? cJSON_GetArrayItem(a, level) : NULL;
    const cJSON *v = lv ? cJSON_GetObjectItemCaseSensitive(lv, "after_s") : NULL;
    long long r = cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
    cJSON_Delete(a);
    return r;
}

/* resolve_escalated: the resolve notice (row id) also goes to the channels of
 * every escalation level the alert reached, so whoever was called in hears
 * that it is over; escalation stops. */
static int resolve_escalated(MYSQL *m, unsigned long long id, unsigned long long alert_id,
                             struct sc_err *err)
{
    int rc = run(m, err,
                 "SELECT level, escalate FROM alert_ack WHERE alert_id = %llu AND level > 0"
                 " AND escalate IS NOT NULL",
                 alert_id);
    MYSQL_RES *res = rc == 0 ? mysql_store_result(m) : NULL;
    if (rc < 0 || !res)
        return rc < 0 ? rc : fail(m, err);
    MYSQL_ROW row = mysql_fetch_row(res);
    int level = row ? atoi(row[0]) : 0;
    cJSON *lv = row && row[1] ? cJSON_Parse(row[1]) : NULL;
    mysql_free_result(res);
    for (int l = 0; l < level && rc == 0; l++) {
        const cJSON *chs = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lv, l), "channels");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(chs, 0), "type");
        if (!chs)
            continue;
        char *cj = json_print(chs), *ec = cj ? esc(m, cj) : NULL;
        /* notice_id removed: each copy is its own notice (send_row sets it). */
        rc =
            ec ? run(m, err,
                     "INSERT INTO alert_outbox (alert_id, event, job, notice, route, channel, "
                     "state,"
                     " next_try, created_at) SELECT alert_id, event, job,"
                     " JSON_REMOVE(notice, '$.notice_id'), '%s', '%s', 'pending', UTC_TIMESTAMP(3),"
                     " created_at FROM alert_outbox WHERE id = %llu",
                     ec, cJSON_IsString(t) ? t->valuestring : "", id)
               : sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
        free(cj);
        free(ec);
    }
    cJSON_Delete(lv);
    if (rc == 0 && level > 0)
        rc = run(m, err, "UPDATE alert_ack SET escalate_at = NULL WHERE alert_id = %llu", alert_id);
    return rc;
}

int hist_outbox_route(MYSQL *m, unsigned long long id, unsigned long long alert_id,
                      const char *event, const char *notice, const char *channels,
                      const char *escalate, struct sc_err *err)
{
    if (!channels)
        return run(m, err, "DELETE FROM alert_outbox WHERE id = %llu AND state = 'new'", id);
    char *en = esc(m, notice), *ec = esc(m, channels), *ee = escalate ? esc(m, escalate) : NULL;
    char type[16] = "";
    cJSON *a = cJSON_Parse(channels);
    const cJSON *t = a ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(a, 0), "type") : NULL;
    snprintf(type, sizeof type, "%s", cJSON_IsString(t) ? t->valuestring : "");
    cJSON_Delete(a);
    int rc;
    if (!en || !ec || (escalate && !ee)) {
        rc = sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
        goto out;
    }
    if ((rc = run(m, err,
                  "UPDATE alert_outbox SET state = 'pending', notice = '%s', route = '%s',"
                  " channel = '%s', next_try = UTC_TIMESTAMP(3) WHERE id = %llu AND state = 'new'",
                  en, ec, type, id)) < 0)
        goto out;
    bool routed = mysql_affected_rows(m) == 1;
    long long after = level_after(escalate, 0);
    if (routed && strcmp(event, "resolve") == 0)
        rc = resolve_escalated(m, id, alert_id, err);
    else if (routed && ee && after > 0 && strcmp(event, "open") == 0)
        rc = run(m, err,
                 "INSERT INTO alert_ack (alert_id, escalate, level, escalate_at, notice)"
                 " VALUES (%llu, '%s', 0, UTC_TIMESTAMP(3) + INTERVAL %lld SECOND, '%s')"
                 " ON DUPLICATE KEY UPDATE escalate = VALUES(escalate), level = 0,"
                 " escalate_at = VALUES(escalate_at), notice = VALUES(notice)",
                 alert_id, ee, after, en);
out:
    free(en);
    free(ec);
    free(ee);
    return rc;
}

/* ---------------------------------------------------------------- sending */

int hist_outbox_claim(MYSQL *m, const char *claim, int lease_ms, size_t max,
                      struct hist_outbox_row **out, size_t *n, struct sc_err *err)
{
    *out = NULL;
    *n = 0;
    char *ec = esc(m, claim);
    if (!ec)
        return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    /* The lease outlives the send's timeout: a sender that died mid-send is
     * taken over only after its request could no longer be in flight. */
    int rc = run(m, err,
                 "UPDATE alert_outbox SET claim = '%s', claim_until = UTC_TIMESTAMP(3) +"
                 " INTERVAL %lld MICROSECOND, attempts = attempts + 1"
                 " WHERE state = 'pending' AND next_try <= UTC_TIMESTAMP(3)"
                 " AND (claim IS NULL OR claim_until < UTC_TIMESTAMP(3)) ORDER BY id LIMIT %zu",
                 ec, (long long)lease_ms * 1000, max);
    if (rc == 0)
        rc = run(m, err,
                 "SELECT o.id, o.alert_id, o.event, o.notice, o.route, o.channel_idx, o.attempts,"
                 " DATE_FORMAT(o.created_at, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'),"
                 " (o.attempts > 1 OR o.channel_idx > 0 OR"
                 "  o.created_at < UTC_TIMESTAMP(3) - INTERVAL 60 SECOND),"
                 " IFNULL(a.level, 0)"
                 " FROM alert_outbox o LEFT JOIN alert_ack a ON a.alert_id = o.alert_id"
                 " WHERE o.claim = '%s' AND o.state = 'pending' ORDER BY o.id",
                 ec);
    free(ec);
    MYSQL_RES *res = rc == 0 ? mysql_store_result(m) : NULL;
    if (rc < 0 || !res)
        return rc < 0 ? rc : fail(m, err);
    size_t rows = (size_t)mysql_num_rows(res);
    struct hist_outbox_row *o = rows ? calloc(rows, sizeof *o) : NULL;
    MYSQL_ROW row;
    while (o && (row = mysql_fetch_row(res))) {
        struct hist_outbox_row *r = &o[*n];
        r->id = strtoull(row[0], NULL, 10);
        r->alert_id = strtoull(row[1], NULL, 10);
        snprintf(r->event, sizeof r->event, "%s", row[2]);
        r->notice = strdup(row[3] ? row[3] : "{}");
        r->route = strdup(row[4] ? row[4] : "[]");
        r->channel_idx = atoi(row[5]);
        r->attempts = atoi(row[6]);
        snprintf(r->created, sizeof r->created, "%.23s", row[7] ? row[7] : "");
        r->late = row[8] && strcmp(row[8], "1") == 0;
        r->level = atoi(row[9]);
        (*n)++;
        if (!r->notice || !r->route) {
            mysql_free_result(res);
            hist_outbox_rows_free(o, *n);
            *n = 0;
            return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
        }
    }
    mysql_free_result(res);
    if (rows && !o)
        return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    *out = o;
    return 0;
}

void hist_outbox_rows_free(struct hist_outbox_row *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].notice);
        free(r[i].route);
    }
    free(r);
}

int hist_outbox_done(MYSQL *m, unsigned long long id, const char *claim, bool ok, const char *error,
                     int retry_max_s, bool *applied, struct sc_err *err)
{
    char *ec = esc(m, claim), *ee = esc(m, error ? error : "");
    int rc;
    if (!ec || !ee)
        rc = sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    else if (ok)
        rc = run(m, err,
                 "UPDATE alert_outbox SET state = 'sent', sent_at = UTC_TIMESTAMP(3), claim = NULL,"
                 " claim_until = NULL, last_error = '' WHERE id = %llu AND claim = '%s'",
                 id, ec);
    else
        rc =
            run(m, err,
                "UPDATE alert_outbox SET claim = NULL, claim_until = NULL,"
                " first_fail = IFNULL(first_fail, UTC_TIMESTAMP(3)), last_error = LEFT('%s', 255),"
                " next_try = UTC_TIMESTAMP(3) + INTERVAL LEAST(%d, POW(2, LEAST(attempts, 20) - 1))"
                " SECOND WHERE id = %llu AND claim = '%s'",
                ee, retry_max_s, id, ec);
    if (applied)
        *applied = rc == 0 && mysql_affected_rows(m) == 1;
    free(ec);
    free(ee);
    return rc;
}

int hist_outbox_release(MYSQL *m, unsigned long long id, const char *claim, struct sc_err *err)
{
    char *ec = esc(m, claim);
    if (!ec)
        return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    int rc = run(m, err,
                 "UPDATE alert_outbox SET claim = NULL, claim_until = NULL,"
                 " attempts = GREATEST(attempts - 1, 0) WHERE id = %llu AND claim = '%s'"
                 " AND state = 'pending'",
                 id, ec);
    free(ec);
    return rc;
}

int hist_outbox_failover(MYSQL *m, int failover_s, int give_up_s, size_t *moved, struct sc_err *err)
{
    *moved = 0;
    int rc = run(m, err,
                 "SELECT id, route, channel_idx, created_at < UTC_TIMESTAMP(3) - INTERVAL %d SECOND"
                 " FROM alert_outbox WHERE state = 'pending' AND claim IS NULL AND first_fail <"
                 " UTC_TIMESTAMP(3) - INTERVAL %d SECOND ORDER BY id LIMIT 200",
                 give_up_s, failover_s);
    MYSQL_RES *res = rc == 0 ? mysql_store_result(m) : NULL;
    if (rc < 0 || !res)
        return rc < 0 ? rc : fail(m, err);
    size_t rows = (size_t)mysql_num_rows(res), k = 0;
    struct {
        unsigned long long id;
        int next;
        char type[16];
        bool old;
    } *v = rows ? calloc(rows, sizeof *v) : NULL;
    MYSQL_ROW row;
    while (v && (row = mysql_fetch_row(res))) {
        cJSON *a = cJSON_Parse(row[1] ? row[1] : "[]");
        int idx = atoi(row[2]);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(a, idx + 1), "type");
        v[k].id = strtoull(row[0], NULL, 10);
        v[k].next = idx + 1 < cJSON_GetArraySize(a) ? idx + 1 : -1;
        snprintf(v[k].type, sizeof v[k].type, "%s", cJSON_IsString(t) ? t->valuestring : "");
        v[k].old = row[3] && strcmp(row[3], "1") == 0;
        cJSON_Delete(a);
        k++;
    }
    mysql_free_result(res);
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (v[i].next < 0) {
            if (v[i].old)
                rc = run(m, err,
                         "UPDATE alert_outbox SET state = 'dead' WHERE id = %llu AND"
                         " state = 'pending' AND claim IS NULL",
                         v[i].id);
            continue;
        }
        if ((rc = run(m, err, "START TRANSACTION")) < 0)
            break;
        rc = run(m, err,
                 "UPDATE alert_outbox SET state = 'failed_over' WHERE id = %llu AND"
                 " state = 'pending' AND claim IS NULL",
                 v[i].id);
        if (rc == 0 && mysql_affected_rows(m) == 1) {
            /* created_at is kept: the copy is as late as the original. */
            rc = run(m, err,
                     "INSERT INTO alert_outbox (alert_id, event, job, notice, route, channel_idx,"
                     " channel, state, next_try, created_at) SELECT alert_id, event, job, notice,"
                     " route, %d, '%s', 'pending', UTC_TIMESTAMP(3), created_at FROM alert_outbox"
                     " WHERE id = %llu",
                     v[i].next, v[i].type, v[i].id);
            if (rc == 0)
                (*moved)++;
        }
        if (rc < 0)
            rollback(m);
        else
            rc = run(m, err, "COMMIT");
    }
    free(v);
    if (rows && !v)
        return sc_err_set(err, ENOMEM, "alert outbox", -1, "out of memory");
    return rc;
}

int hist_outbox_escalate(MYSQL *m, size_t *made, struct sc_err *err)
{
    *made = 0;
    int rc = run(m, err,
                 "SELECT a.alert_id, a.level, a.escalate, a.notice FROM alert_ack a"
                 " JOIN alert_event e ON e.id = a.alert_id WHERE a.escalate_at <= UTC_TIMESTAMP(3)"
                 " AND a.acked_at IS NULL AND (a.silenced_until IS NULL OR a.silenced_until <"
                 " UTC_TIMESTAMP(3)) AND e.resolved_at IS NULL ORDER BY a.escalate_at LIMIT 100");
    MYSQL_RES *res = rc == 0 ? mysql_store_result(m) : NULL;
    if (rc < 0 || !res)
        return rc < 0 ? rc : fail(m, err);
    MYSQL_ROW row;
    /* One at a time, each in its own transaction, fenced on the level read. */
    while (rc == 0 && (row = mysql_fetch_row(res))) {
        unsigned long long aid = strtoull(row[0], NULL, 10);
        int level = atoi(row[1]);
        cJSON *lv = cJSON_Parse(row[2] ? row[2] : "[]"),
              *notice = cJSON_Parse(row[3] ? row[3] : "{}");
        cJSON *chs = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lv, level), "channels");
        long long now_after = level_after(row[2], level),
                  next_after = level_after(row[2], level + 1);
        char *cj = chs ? json_print(chs) : NULL, *nj = NULL, *ec = NULL, *en = NULL;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(chs, 0), "type");
        if (notice) {
            cJSON_ReplaceItemInObjectCaseSensitive(notice, "event", cJSON_CreateString("escalate"));
            cJSON_DeleteItemFromObjectCaseSensitive(notice, "escalation_level");
            cJSON_AddNumberToObject(notice, "escalation_level", level + 1);
            nj = json_print(notice);
        }
        if (cj && nj && (ec = esc(m, cj)) && (en = esc(m, nj))) {
            if ((rc = run(m, err, "START TRANSACTION")) == 0) {
                char next[80] = "NULL";
                if (next_after > now_after)
                    snprintf(next, sizeof next, "UTC_TIMESTAMP(3) + INTERVAL %lld SECOND",
                             next_after - now_after);
                rc = run(m, err,
                         "UPDATE alert_ack SET level = %d, escalate_at = %s WHERE alert_id = %llu"
                         " AND level = %d",
                         level + 1, next, aid, level);
                if (rc == 0 && mysql_affected_rows(m) == 1) {
                    rc = run(m, err,
                             "INSERT INTO alert_outbox (alert_id, event, job, notice, route,"
                             " channel, state, next_try, created_at) SELECT %llu, 'escalate',"
                             " IFNULL(job, ''), '%s', '%s', '%s', 'pending', UTC_TIMESTAMP(3),"
                             " UTC_TIMESTAMP(3) FROM alert_event WHERE id = %llu",
                             aid, en, ec, cJSON_IsString(t) ? t->valuestring : "", aid);
                    if (rc == 0)
                        (*made)++;
                }
                if (rc < 0)
                    rollback(m);
                else
                    rc = run(m, err, "COMMIT");
            }
        } else if (!chs) {
            /* A level without channels (the job changed): stop escalating. */
            rc = run(m, err, "UPDATE alert_ack SET escalate_at = NULL WHERE alert_id = %llu", aid);
        }
        free(cj);
        free(nj);
        free(ec);
        free(en);
        cJSON_Delete(lv);
        cJSON_Delete(notice);
    }
    mysql_free_result(res);
    return rc;
}

int hist_outbox_suppress(MYSQL *m, struct sc_err *err)
{
    return run(m, err,
               "UPDATE alert_outbox o JOIN alert_ack a ON a.alert_id = o.alert_id"
               " SET o.state = 'suppressed', o.last_error = IF(a.acked_at IS NOT NULL,"
               " 'acknowledged', 'silenced') WHERE o.state = 'pending' AND o.claim IS NULL"
               " AND o.event IN ('reminder', 'escalate') AND (a.acked_at IS NOT NULL OR"
               " a.silenced_until > UTC_TIMESTAMP(3))");
}

int hist_outbox_trim(MYSQL *m, int days, struct sc_err *err)
{
    return run(m, err,
               "DELETE FROM alert_outbox WHERE state IN ('sent','failed_over','dead','suppressed')"
               " AND created_at < UTC_TIMESTAMP(3) - INTERVAL %d DAY LIMIT 5000",
               days);
}

/* ---------------------------------------------------------------- acks */

int hist_ack_key(MYSQL *m, bool create, unsigned char key[HIST_ACK_KEYBYTES], struct sc_err *err)
{
    if (create) {
        unsigned char k[HIST_ACK_KEYBYTES];
        char hex[2 * HIST_ACK_KEYBYTES + 1];
        randombytes_buf(k, sizeof k);
        sodium_bin2hex(hex, sizeof hex, k, sizeof k);
        int rc = run(m, err, "INSERT IGNORE INTO alert_key (id, k) VALUES (1, UNHEX('%s'))", hex);
        sodium_memzero(k, sizeof k);
        sodium_memzero(hex, sizeof hex);
        if (rc < 0)
            return rc;
    }
    int rc = run(m, err, "SELECT k FROM alert_key WHERE id = 1");
    MYSQL_RES *res = rc == 0 ? mysql_store_result(m) : NULL;
    if (rc < 0 || !res)
        return rc < 0 ? rc : fail(m, err);
    MYSQL_ROW row = mysql_fetch_row(res);
    unsigned long *len = row ? mysql_fetch_lengths(res) : NULL;
    if (!row || !len || len[0] != HIST_ACK_KEYBYTES) {
        mysql_free_result(res);
        return sc_err_set(err, ENOENT, "alert_key", -1,
                          "no link-signing key yet (the leader agent makes it)");
    }
    memcpy(key, row[0], HIST_ACK_KEYBYTES);
    mysql_free_result(res);
    return 0;
}

static void ack_mac(const unsigned char key[HIST_ACK_KEYBYTES], unsigned long long id,
                    long long exp, char *out, size_t len)
{
    char msg[80];
    unsigned char mac[crypto_auth_BYTES];
    int n = snprintf(msg, sizeof msg, "shardcron-ack:%llu:%lld", id, exp);
    crypto_auth(mac, (const unsigned char *)msg, (unsigned long long)n, key);
    sodium_bin2base64(out, len, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void hist_ack_token(const unsigned char key[HIST_ACK_KEYBYTES], unsigned long long alert_id,
                    int64_t exp_s, char *out, size_t len)
{
    char mac[64];
    ack_mac(key, alert_id, (long long)exp_s, mac, sizeof mac);
    snprintf(out, len, "%llu.%lld.%s", alert_id, (long long)exp_s, mac);
}

int hist_ack_verify(const unsigned char key[HIST_ACK_KEYBYTES], const char *token, int64_t now_s,
                    unsigned long long *alert_id)
{
    unsigned long long id;
    long long exp;
    char mac[64], want[64];
    int used = 0;
    if (!token || strlen(token) > HIST_ACK_TOKEN_MAX ||
        sscanf(token, "%llu.%lld.%63[A-Za-z0-9_-]%n", &id, &exp, mac, &used) != 3 ||
        token[used] != 0)
        return -EINVAL;
    ack_mac(key, id, exp, want, sizeof want);
    if (strlen(want) != strlen(mac) || sodium_memcmp(want, mac, strlen(want)) != 0)
        return -EINVAL;
    if (exp < now_s)
        return -ETIMEDOUT;
    *alert_id = id;
    return 0;
}

int hist_ack_set(MYSQL *m, unsigned long long alert_id, const char *by, int silence_s,
                 struct sc_err *err)
{
    long long n = 0;
    char q[128], *eb = esc(m, by ? by : "");
    if (!eb)
        return sc_err_set(err, ENOMEM, "alert", -1, "out of memory");
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM alert_event WHERE id = %llu", alert_id);
    int rc = db_query_int(m, q, &n, err);
    if (rc == 0 && n == 0)
        rc = sc_err_set(err, ENOENT, "alert", -1, "no alert %llu", alert_id);
    else if (rc == 0 && silence_s > 0)
        rc = run(m, err,
                 "INSERT INTO alert_ack (alert_id, silenced_until, acked_by) VALUES (%llu,"
                 " UTC_TIMESTAMP(3) + INTERVAL %d SECOND, '%s') ON DUPLICATE KEY UPDATE"
                 " silenced_until = VALUES(silenced_until), acked_by = VALUES(acked_by)",
                 alert_id, silence_s, eb);
    else if (rc == 0)
        rc = run(
            m, err,
            "INSERT INTO alert_ack (alert_id, acked_at, acked_by) VALUES (%llu,"
            " UTC_TIMESTAMP(3), '%s') ON DUPLICATE KEY UPDATE acked_at ="
            " IFNULL(acked_at, VALUES(acked_at)), acked_by = IFNULL(acked_by, VALUES(acked_by))",
            alert_id, eb);
    free(eb);
    return rc;
}
