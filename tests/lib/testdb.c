/* tests/lib/testdb.c: MySQL helpers for integration tests (see testdb.h). */
#include "tests/lib/testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sql/hist.h"

#include "tests/lib/testenv.h"

MYSQL *tdb_connect(const struct db_url *u)
{
    struct sc_err err;
    sc_err_clear(&err);
    MYSQL *m = db_connect(u, tenv_password(), 30, &err);
    if (!m)
        fail_msg("connect: %s", err.msg);
    return m;
}

void tdb_exec(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(m));
}

long long tdb_int(MYSQL *m, const char *sql)
{
    long long v = 0;
    struct sc_err err;
    if (db_query_int(m, sql, &v, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return v;
}

MYSQL *tdb_scratch(struct db_url *u, char *url, size_t url_len, const char *tag)
{
    struct sc_err err;
    char sql[256];
    const char *base = tenv("SC_TEST_MYSQL");
    if (db_url_parse(base, u, &err) != 0)
        fail_msg("%s: %s", base, err.msg);
    MYSQL *root = tdb_connect(u);
    snprintf(u->db, sizeof u->db, "shardcron_%s_%d", tag, (int)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", u->db);
    tdb_exec(root, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", u->db);
    tdb_exec(root, sql);
    mysql_close(root);
    MYSQL *m = tdb_connect(u);
    if (hist_migrate(m, HIST_SCHEMA_VERSION, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    const char *slash = strrchr(base, '/');
    snprintf(url, url_len, "%.*s/%s", (int)(slash - base), base, u->db);
    return m;
}
