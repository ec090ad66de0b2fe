/* ctl/cmd_db.c: `shardcronctl db migrate`, bringing the history database to this
 * binary's schema version (sql/migrate.c). */
#define LOG_CAT "shardcron.ctl"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ctl/ctl.h"
#include "sql/db.h"
#include "sql/hist.h"

int ctl_db_migrate(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    struct db_url url;
    char msg[512];
    char *pw = NULL;
    int from = 0, to = 0, rc = CTL_ERR;
    bool json = cfg_str(c, "format") && strcmp(cfg_str(c, "format"), "json") == 0;
    (void)args;

    sc_err_clear(&err);
    if (nargs != 0) {
        fprintf(stderr, "shardcronctl: db migrate takes no operands\n");
        return CTL_INVALID;
    }
    if (!cfg_str(c, "mysql")) {
        fprintf(stderr, "shardcronctl: mysql: is required (--mysql mysql://USER@HOST:PORT/DB)\n");
        return CTL_INVALID;
    }
    if (db_url_parse(cfg_str(c, "mysql"), &url, &err) < 0) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        return CTL_INVALID;
    }
    if (cfg_str(c, "mysql_password_file") &&
        !(pw = cfg_read_secret(cfg_str(c, "mysql_password_file"), &err))) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        return CTL_INVALID;
    }
    MYSQL *m = db_connect(&url, pw ? pw : "", 30, &err);
    if (!m) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        goto out;
    }
    if (hist_migrate(m, HIST_SCHEMA_VERSION, &from, &to, &err) < 0) {
        fprintf(stderr, "shardcronctl: db migrate: %s\n", sc_err_format(&err, msg, sizeof msg));
        if (json)
            printf("{\"ok\":false,\"from\":%d,\"to\":%d,\"binary\":%d}\n", from, to,
                   HIST_SCHEMA_VERSION);
        goto out;
    }
    if (json)
        printf("{\"ok\":true,\"from\":%d,\"to\":%d,\"binary\":%d}\n", from, to,
               HIST_SCHEMA_VERSION);
    else if (from == to)
        printf("schema is at version %d; nothing to do\n", to);
    else
        printf("schema migrated from version %d to %d\n", from, to);
    rc = CTL_OK;
out:
    if (m)
        mysql_close(m);
    mysql_library_end();
    if (pw) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    return rc;
}
