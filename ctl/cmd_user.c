/* ctl/cmd_user.c: `shardcronctl user add NAME --role ROLE --password-file FILE`,
 * the console's users (app_user, through sql/users.h as the console does). The
 * password is hashed here (argon2id, sql/users.h's limits) and never leaves this
 * process in clear; adding an existing name replaces its role and password, which
 * ends that user's console sessions within a minute (console/auth.c). */
#define LOG_CAT "shardcron.ctl"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ctl/ctl.h"
#include "sql/db.h"
#include "sql/users.h"

int ctl_user_add(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    struct db_url url;
    char msg[512], hash[USERS_HASH_MAX];
    char *pw = NULL, *dbpw = NULL;
    int rc = CTL_ERR;
    const char *role = cfg_str(c, "role");
    sc_err_clear(&err);
    if (nargs != 1) {
        fprintf(stderr, "shardcronctl: usage: user add NAME --role ROLE --password-file FILE\n");
        return CTL_INVALID;
    }
    if (!users_name_ok(args[0])) {
        fprintf(stderr, "shardcronctl: name: " USERS_NAME_RULE " (got \"%s\")\n", args[0]);
        return CTL_INVALID;
    }
    if (!users_role_ok(role)) {
        fprintf(stderr, "shardcronctl: role: must be viewer, operator or admin\n");
        return CTL_INVALID;
    }
    if (!cfg_str(c, "password_file")) {
        fprintf(stderr, "shardcronctl: password_file: is required (--password-file FILE)\n");
        return CTL_INVALID;
    }
    if (!cfg_str(c, "mysql")) {
        fprintf(stderr, "shardcronctl: mysql: is required (--mysql mysql://USER@HOST:PORT/DB)\n");
        return CTL_INVALID;
    }
    if (db_url_parse(cfg_str(c, "mysql"), &url, &err) < 0 ||
        !(pw = cfg_read_secret(cfg_str(c, "password_file"), &err)) ||
        (cfg_str(c, "mysql_password_file") &&
         !(dbpw = cfg_read_secret(cfg_str(c, "mysql_password_file"), &err)))) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = CTL_INVALID;
        goto out;
    }
    if (strlen(pw) < USERS_PASSWORD_MIN) {
        fprintf(stderr,
                "shardcronctl: password_file: the password must be at least %d characters\n",
                USERS_PASSWORD_MIN);
        rc = CTL_INVALID;
        goto out;
    }
    if (sodium_init() < 0 || users_hash(pw, hash) < 0) {
        fprintf(stderr, "shardcronctl: cannot hash the password (out of memory?)\n");
        goto out;
    }
    MYSQL *m = db_connect(&url, dbpw ? dbpw : "", 30, &err);
    if (!m) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        goto out;
    }
    bool created = false;
    if (users_upsert(m, args[0], hash, role, &created, &err) < 0) {
        fprintf(stderr, "shardcronctl: user add: %s\n", sc_err_format(&err, msg, sizeof msg));
    } else {
        printf("user %s (%s) %s\n", args[0], role, created ? "added" : "updated");
        rc = CTL_OK;
    }
    mysql_close(m);
out:
    if (pw) {
        sodium_memzero(pw, strlen(pw));
        free(pw);
    }
    free(dbpw);
    return rc;
}
