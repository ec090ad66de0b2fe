/* sql/db.h: the one MySQL wrapper (MariaDB Connector/C).
 *
 * Parses the mysql://USER@HOST:PORT/DB URLs of design.md and opens connections
 * with the project's settings (utf8mb4, timeouts, reconnect left to callers).
 * A MYSQL handle is used by one thread at a time. */
#ifndef SC_DB_H
#define SC_DB_H

#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct db_url {
    char user[64];
    char host[256];
    unsigned port;
    char db[64];
};

/* db_url_parse: 0 or -EINVAL naming what is wrong with the URL. */
int db_url_parse(const char *url, struct db_url *out, struct sc_err *err);

/* db_connect: a connected handle (the caller's, mysql_close) or NULL with err set.
 * timeout_s bounds connect, read and write. */
MYSQL *db_connect(const struct db_url *u, const char *password, unsigned timeout_s,
                  struct sc_err *err);

/* db_exec_script: run a multi-statement SQL text (a schema file), draining all
 * results. 0 or -EIO with the server's message. */
int db_exec_script(MYSQL *m, const char *sql, struct sc_err *err);

/* db_query_int: run a query (constant text, no user input) whose first column of
 * the first row is an integer; NULL or no row gives 0. 0 or -EIO with err set. */
int db_query_int(MYSQL *m, const char *sql, long long *out, struct sc_err *err);

/* db_stmt_prepare: a prepared statement (the caller's, mysql_stmt_close) or NULL
 * with err set. User input only ever reaches SQL through statement parameters. */
MYSQL_STMT *db_stmt_prepare(MYSQL *m, const char *sql, struct sc_err *err);

/* db_conn_lost: true when a MySQL error number means the connection is unusable
 * (client-side CR_* errors, server shutdown, killed connection), so the caller
 * should reconnect rather than blame the data. */
bool db_conn_lost(unsigned errnum);

/* Times: DATETIME(3) columns hold UTC; these convert to and from milliseconds
 * since the epoch. db_ms_to_time fills a MYSQL_TIME for a parameter. */
void db_ms_to_time(int64_t ms, MYSQL_TIME *t);
int64_t db_time_to_ms(const MYSQL_TIME *t);

#endif
