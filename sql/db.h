/* sql/db.h: the one MySQL wrapper (MariaDB Connector/C).
 *
 * Parses the mysql://USER@HOST:PORT/DB URLs of design.md and opens connections
 * with the project's settings (utf8mb4, timeouts, reconnect left to callers).
 * A MYSQL handle is used by one thread at a time. */
#ifndef SC_DB_H
#define SC_DB_H

#include <mysql.h>

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

#endif
