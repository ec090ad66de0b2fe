/* tests/lib/testdb.h: MySQL helpers for integration tests. Each fails the
 * current cmocka test (fail_msg) with the statement and the server's message
 * instead of returning an error. */
#ifndef SC_TESTS_TESTDB_H
#define SC_TESTS_TESTDB_H

#include <stddef.h>

#include "sql/db.h"

/* tdb_connect: a connection to `u` with the test password (tenv_password). */
MYSQL *tdb_connect(const struct db_url *u);
/* tdb_exec: run a statement that returns no rows. */
void tdb_exec(MYSQL *m, const char *sql);
/* tdb_int: the single integer a query returns. */
long long tdb_int(MYSQL *m, const char *sql);
/* tdb_scratch: a fresh, migrated database shardcron_<tag>_<pid>: *u names it,
 * `url` gets its mysql:// URL for agents; the connection is the caller's. */
MYSQL *tdb_scratch(struct db_url *u, char *url, size_t url_len, const char *tag);

#endif
