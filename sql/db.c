/* sql/db.c: MySQL URL parsing and connections. */
#define LOG_CAT "shardcron.history"
#include "sql/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

int db_url_parse(const char *url, struct db_url *out, struct sc_err *err)
{
    const char *p, *at, *slash, *colon;
    memset(out, 0, sizeof *out);
    out->port = 3306;
    if (!url || strncmp(url, "mysql://", 8) != 0)
        return sc_err_set(err, EINVAL, "mysql", 0, "URL must start with mysql://");
    p = url + 8;
    at = strchr(p, '@');
    slash = strchr(p, '/');
    if (!at || (slash && at > slash))
        return sc_err_set(err, EINVAL, "mysql", (int)(p - url), "URL needs USER@ before the host");
    if (at == p || (size_t)(at - p) >= sizeof out->user)
        return sc_err_set(err, EINVAL, "mysql", (int)(p - url), "user is empty or too long");
    if (memchr(p, ':', (size_t)(at - p)))
        return sc_err_set(err, EINVAL, "mysql", (int)(p - url),
                          "passwords do not belong in the URL; use mysql_password_file");
    memcpy(out->user, p, (size_t)(at - p));
    p = at + 1;
    if (!slash || slash[1] == '\0')
        return sc_err_set(err, EINVAL, "mysql", (int)(p - url), "URL needs /DATABASE at the end");
    colon = memchr(p, ':', (size_t)(slash - p));
    const char *hend = colon ? colon : slash;
    if (hend == p || (size_t)(hend - p) >= sizeof out->host)
        return sc_err_set(err, EINVAL, "mysql", (int)(p - url), "host is empty or too long");
    memcpy(out->host, p, (size_t)(hend - p));
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != slash || port < 1 || port > 65535)
            return sc_err_set(err, EINVAL, "mysql", (int)(colon + 1 - url), "port must be 1-65535");
        out->port = (unsigned)port;
    }
    if (strlen(slash + 1) >= sizeof out->db || strpbrk(slash + 1, "/?#` "))
        return sc_err_set(err, EINVAL, "mysql", (int)(slash + 1 - url), "bad database name");
    snprintf(out->db, sizeof out->db, "%s", slash + 1);
    return 0;
}

MYSQL *db_connect(const struct db_url *u, const char *password, unsigned timeout_s,
                  struct sc_err *err)
{
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        sc_err_set(err, ENOMEM, "mysql", -1, "out of memory");
        return NULL;
    }
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, u->host, u->user, password, u->db, u->port, NULL,
                            CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS)) {
        sc_err_set(err, EIO, "mysql", -1, "connect to %s:%u/%s as %s: %s", u->host, u->port, u->db,
                   u->user, mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

int db_exec_script(MYSQL *m, const char *sql, struct sc_err *err)
{
    if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0)
        return sc_err_set(err, EIO, "sql", -1, "%s", mysql_error(m));
    int st;
    do {
        MYSQL_RES *r = mysql_store_result(m);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(m) != 0)
            return sc_err_set(err, EIO, "sql", -1, "%s", mysql_error(m));
        st = mysql_next_result(m);
        if (st > 0)
            return sc_err_set(err, EIO, "sql", -1, "%s", mysql_error(m));
    } while (st == 0);
    return 0;
}

int db_query_int(MYSQL *m, const char *sql, long long *out, struct sc_err *err)
{
    *out = 0;
    if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0)
        return sc_err_set(err, EIO, "sql", -1, "%s", mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    if (!r)
        return sc_err_set(err, EIO, "sql", -1, "%s", mysql_error(m));
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && row[0])
        *out = strtoll(row[0], NULL, 10);
    mysql_free_result(r);
    return 0;
}

MYSQL_STMT *db_stmt_prepare(MYSQL *m, const char *sql, struct sc_err *err)
{
    MYSQL_STMT *st = mysql_stmt_init(m);
    if (!st) {
        sc_err_set(err, ENOMEM, "sql", -1, "out of memory");
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0) {
        sc_err_set(err, EIO, "sql", -1, "prepare: %s", mysql_stmt_error(st));
        mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

bool db_conn_lost(unsigned errnum)
{
    /* 2000-2999: client library errors (server gone, lost, timeouts, out of sync).
     * 1053 server shutdown, 1077/1078 normal shutdown, 1152/1153/1154/1159/1160/1161
     * aborted or broken packets, 1927 connection killed, 4031 idle timeout. */
    if (errnum >= 2000 && errnum < 3000)
        return true;
    switch (errnum) {
    case 1053:
    case 1077:
    case 1078:
    case 1152:
    case 1153:
    case 1154:
    case 1159:
    case 1160:
    case 1161:
    case 1927:
    case 4031:
        return true;
    default:
        return false;
    }
}

void db_ms_to_time(int64_t ms, MYSQL_TIME *t)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int64_t frac = ms - (int64_t)s * 1000;
    struct tm tm;
    gmtime_r(&s, &tm);
    memset(t, 0, sizeof *t);
    t->year = (unsigned)tm.tm_year + 1900;
    t->month = (unsigned)tm.tm_mon + 1;
    t->day = (unsigned)tm.tm_mday;
    t->hour = (unsigned)tm.tm_hour;
    t->minute = (unsigned)tm.tm_min;
    t->second = (unsigned)tm.tm_sec;
    t->second_part = (unsigned long)frac * 1000;
    t->time_type = MYSQL_TIMESTAMP_DATETIME;
}

int64_t db_time_to_ms(const MYSQL_TIME *t)
{
    struct tm tm = {0};
    tm.tm_year = (int)t->year - 1900;
    tm.tm_mon = (int)t->month - 1;
    tm.tm_mday = (int)t->day;
    tm.tm_hour = (int)t->hour;
    tm.tm_min = (int)t->minute;
    tm.tm_sec = (int)t->second;
    return (int64_t)timegm(&tm) * 1000 + (int64_t)(t->second_part / 1000);
}
