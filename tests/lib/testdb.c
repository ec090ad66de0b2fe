/* tests/lib/testdb.c: MySQL helpers for integration tests (see testdb.h). */
#include "tests/lib/testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
