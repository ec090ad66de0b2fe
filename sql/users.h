/* sql/users.h: the console's users (table app_user), one module for the console
 * (console/auth.c) and `shardcronctl user` (ctl/cmd_user.c).
 *
 * Owns the name rule, the password rule, the argon2id parameters, the dummy hash
 * that unknown names are checked against, and every statement on app_user. Names
 * are compared byte for byte: the column is VARBINARY (migration 0004), so
 * MariaDB's PAD SPACE comparison cannot make "admin  " find "admin". User input
 * only reaches SQL as statement parameters. */
#ifndef SC_USERS_H
#define SC_USERS_H

#include <mysql.h>
#include <sodium.h>
#include <stdbool.h>

#include "core/err.h"

#define USERS_NAME_MAX 64
#define USERS_PASSWORD_MIN 8
#define USERS_HASH_MAX crypto_pwhash_STRBYTES
#define USERS_NAME_RULE "1-64 of A-Z a-z 0-9 . _ - @"

/* users_name_ok: the one rule for user names, at creation and at login. */
bool users_name_ok(const char *s);

/* users_role_ok: viewer, operator or admin. */
bool users_role_ok(const char *s);

/* users_hash: argon2id at libsodium's INTERACTIVE limits (64 MiB, 2 passes:
 * about 0.1-0.2 s of one core) into out. 0 or -ENOMEM. Call sodium_init first. */
int users_hash(const char *password, char out[USERS_HASH_MAX]);

/* users_verify: true when password matches hash. hash NULL: the password is
 * checked against a dummy hash of the same parameters, so an unknown name costs
 * what a known one does, and the result is false. */
bool users_verify(const char *hash, const char *password);

/* One user as stored. stamp changes whenever the row does (updated_at): a
 * session remembers it and ends when it differs. */
struct users_row {
    char name[USERS_NAME_MAX + 1];
    char hash[USERS_HASH_MAX];
    char role[16];
    bool disabled;
    char stamp[32];
    char created[32]; /* ISO 8601 UTC */
};

/* users_get: the row of exactly `name`. 1 found, 0 not found, -EIO with err. */
int users_get(MYSQL *m, const char *name, struct users_row *out, struct sc_err *err);

/* users_upsert: create `name` or replace its role and hash (and enable it).
 * *created tells which. 0 or -EIO. */
int users_upsert(MYSQL *m, const char *name, const char *hash, const char *role, bool *created,
                 struct sc_err *err);

/* users_set_role: 1 when the user exists (changed or not), 0 when not, -EIO. */
int users_set_role(MYSQL *m, const char *name, const char *role, struct sc_err *err);

/* users_delete: 1 deleted, 0 no such user, -EIO. */
int users_delete(MYSQL *m, const char *name, struct sc_err *err);

/* users_list: every user, ordered by name, hash left empty; *out is the caller's
 * (free), *n its length. 0 or -EIO/-ENOMEM. */
int users_list(MYSQL *m, struct users_row **out, size_t *n, struct sc_err *err);

/* users_count_admins: enabled admins. 0 or -EIO. */
int users_count_admins(MYSQL *m, long long *n, struct sc_err *err);

#endif
