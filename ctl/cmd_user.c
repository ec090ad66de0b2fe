/* ctl/cmd_user.c: `shardcronctl user add NAME --role ROLE --password-file FILE`,
 * the console's users (app_user). The password is hashed here with libsodium's
 * argon2id (crypto_pwhash_str, the moderate limits) and never leaves this process
 * in clear; adding an existing name replaces its role and password. */
#define LOG_CAT "shardcron.ctl"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ctl/ctl.h"
#include "sql/db.h"

static bool user_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

int ctl_user_add(const struct cfg *c, int nargs, char **args)
{
    struct sc_err err;
    struct db_url url;
    char msg[512], hash[crypto_pwhash_STRBYTES];
    char *pw = NULL, *dbpw = NULL;
    int rc = CTL_ERR;
    const char *role = cfg_str(c, "role");
    sc_err_clear(&err);
    if (nargs != 1) {
        fprintf(stderr, "shardcronctl: usage: user add NAME --role ROLE --password-file FILE\n");
        return CTL_INVALID;
    }
    if (!user_name_ok(args[0])) {
        fprintf(stderr, "shardcronctl: name: 1-64 of A-Z a-z 0-9 . _ - @ (got \"%s\")\n", args[0]);
        return CTL_INVALID;
    }
    if (!role || (strcmp(role, "viewer") && strcmp(role, "operator") && strcmp(role, "admin"))) {
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
    if (strlen(pw) < 8) {
        fprintf(stderr,
                "shardcronctl: password_file: the password must be at least 8 characters\n");
        rc = CTL_INVALID;
        goto out;
    }
    if (sodium_init() < 0 ||
        crypto_pwhash_str_alg(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        fprintf(stderr, "shardcronctl: cannot hash the password (out of memory?)\n");
        goto out;
    }
    MYSQL *m = db_connect(&url, dbpw ? dbpw : "", 30, &err);
    if (!m) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        goto out;
    }
    char en[140], eh[sizeof hash * 2 + 1], q[1024];
    mysql_real_escape_string(m, en, args[0], strlen(args[0]));
    mysql_real_escape_string(m, eh, hash, strlen(hash));
    snprintf(q, sizeof q,
             "INSERT INTO app_user (username, pw_hash, role) VALUES ('%s', '%s', '%s') "
             "ON DUPLICATE KEY UPDATE pw_hash = VALUES(pw_hash), role = VALUES(role), disabled = 0",
             en, eh, role);
    if (mysql_query(m, q) != 0) {
        fprintf(stderr, "shardcronctl: user add: %s\n", mysql_error(m));
    } else {
        printf("user %s (%s) %s\n", args[0], role,
               mysql_affected_rows(m) == 1 ? "added" : "updated");
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
