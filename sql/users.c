/* sql/users.c: the console's users in app_user (sql/users.h). */
#define LOG_CAT "shardcron.history"
#include "sql/users.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sql/db.h"

bool users_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > USERS_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

bool users_role_ok(const char *s)
{
    return s && (strcmp(s, "viewer") == 0 || strcmp(s, "operator") == 0 || strcmp(s, "admin") == 0);
}

int users_hash(const char *password, char out[USERS_HASH_MAX])
{
    if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -ENOMEM;
    return 0;
}

/* The dummy: a hash of a random password, made once, at the same limits as
 * real ones, so checking against it takes as long as checking a real user. */
static char dummy_hash[USERS_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_make(void)
{
    char pw[33];
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(pw, sizeof pw, b, sizeof b);
    if (users_hash(pw, dummy_hash) < 0)
        dummy_hash[0] = '\0';
}

bool users_verify(const char *hash, const char *password)
{
    if (!hash) {
        pthread_once(&dummy_once, dummy_make);
        if (dummy_hash[0] && crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
            LOGD("a password matched the dummy hash");
        return false;
    }
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* ---------------------------------------------------------------- statements */

/* run: prepare sql, bind n string parameters, execute. The statement is the
 * caller's (mysql_stmt_close) or NULL with err set. */
static MYSQL_STMT *run(MYSQL *m, const char *sql, const char *const *params, int n,
                       struct sc_err *err)
{
    MYSQL_BIND b[4];
    unsigned long len[4];
    MYSQL_STMT *st = db_stmt_prepare(m, sql, err);
    if (!st)
        return NULL;
    memset(b, 0, sizeof b);
    for (int i = 0; i < n; i++) {
        len[i] = (unsigned long)strlen(params[i]);
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = (void *)params[i];
        b[i].buffer_length = len[i];
        b[i].length = &len[i];
    }
    if ((n && mysql_stmt_bind_param(st, b)) || mysql_stmt_execute(st)) {
        sc_err_set(err, EIO, "app_user", -1, "%s", mysql_stmt_error(st));
        mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

static void bind_out(MYSQL_BIND *b, char *buf, size_t size, unsigned long *len, my_bool *null)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = buf;
    b->buffer_length = (unsigned long)size - 1;
    b->length = len;
    b->is_null = null;
}

#define ROW_COLS                                                                                   \
    "username, pw_hash, role, disabled, DATE_FORMAT(updated_at, '%Y%m%d%H%i%s%f'), "               \
    "DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ')"

/* fetch_rows: read the ROW_COLS rows of an executed statement. */
static int fetch_rows(MYSQL_STMT *st, struct users_row **out, size_t *n, size_t max,
                      struct sc_err *err)
{
    struct users_row r;
    char dis[8];
    MYSQL_BIND b[6];
    unsigned long len[6];
    my_bool null[6];
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    bind_out(&b[0], r.name, sizeof r.name, &len[0], &null[0]);
    bind_out(&b[1], r.hash, sizeof r.hash, &len[1], &null[1]);
    bind_out(&b[2], r.role, sizeof r.role, &len[2], &null[2]);
    bind_out(&b[3], dis, sizeof dis, &len[3], &null[3]);
    bind_out(&b[4], r.stamp, sizeof r.stamp, &len[4], &null[4]);
    bind_out(&b[5], r.created, sizeof r.created, &len[5], &null[5]);
    if (mysql_stmt_bind_result(st, b) || mysql_stmt_store_result(st))
        return sc_err_set(err, EIO, "app_user", -1, "%s", mysql_stmt_error(st));
    for (;;) {
        memset(&r, 0, sizeof r);
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            free(*out);
            *out = NULL;
            *n = 0;
            return sc_err_set(err, EIO, "app_user", -1, "%s", mysql_stmt_error(st));
        }
        /* MYSQL_DATA_TRUNCATED: a value longer than the rules allow; cut, and
         * a cut name matches no one exactly. */
        size_t lim[6] = {sizeof r.name, sizeof r.hash,  sizeof r.role,
                         sizeof dis,    sizeof r.stamp, sizeof r.created};
        char *dst[6] = {r.name, r.hash, r.role, dis, r.stamp, r.created};
        for (int i = 0; i < 6; i++)
            dst[i][null[i] ? 0 : (len[i] < lim[i] ? len[i] : lim[i] - 1)] = '\0';
        r.disabled = strcmp(dis, "0") != 0;
        if (*n == max)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct users_row *g = realloc(*out, nc * sizeof *g);
            if (!g) {
                free(*out);
                *out = NULL;
                *n = 0;
                return sc_err_set(err, ENOMEM, "app_user", -1, "out of memory");
            }
            *out = g;
            cap = nc;
        }
        (*out)[(*n)++] = r;
    }
    return 0;
}

int users_get(MYSQL *m, const char *name, struct users_row *out, struct sc_err *err)
{
    const char *p[1] = {name};
    struct users_row *rows;
    size_t n;
    MYSQL_STMT *st = run(m, "SELECT " ROW_COLS " FROM app_user WHERE username = ?", p, 1, err);
    if (!st)
        return -EIO;
    int rc = fetch_rows(st, &rows, &n, 1, err);
    mysql_stmt_close(st);
    if (rc < 0)
        return rc;
    /* The column is binary, but a database not yet migrated pads: compare here too. */
    rc = n == 1 && strcmp(rows[0].name, name) == 0;
    if (rc)
        *out = rows[0];
    free(rows);
    return rc;
}

int users_list(MYSQL *m, struct users_row **out, size_t *n, struct sc_err *err)
{
    MYSQL_STMT *st = run(m, "SELECT " ROW_COLS " FROM app_user ORDER BY username", NULL, 0, err);
    if (!st)
        return -EIO;
    int rc = fetch_rows(st, out, n, (size_t)-1, err);
    mysql_stmt_close(st);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        (*out)[i].hash[0] = '\0';
    return rc;
}

int users_upsert(MYSQL *m, const char *name, const char *hash, const char *role, bool *created,
                 struct sc_err *err)
{
    const char *p[3] = {name, hash, role};
    MYSQL_STMT *st = run(m,
                         "INSERT INTO app_user (username, pw_hash, role) VALUES (?, ?, ?) "
                         "ON DUPLICATE KEY UPDATE pw_hash = VALUES(pw_hash), role = VALUES(role), "
                         "disabled = 0",
                         p, 3, err);
    if (!st)
        return -EIO;
    /* 1 row affected: inserted; 2: an existing row was updated. */
    if (created)
        *created = mysql_stmt_affected_rows(st) == 1;
    mysql_stmt_close(st);
    return 0;
}

int users_set_role(MYSQL *m, const char *name, const char *role, struct sc_err *err)
{
    struct users_row row;
    int rc = users_get(m, name, &row, err);
    if (rc <= 0)
        return rc;
    const char *p[2] = {role, name};
    MYSQL_STMT *st = run(m, "UPDATE app_user SET role = ? WHERE username = ?", p, 2, err);
    if (!st)
        return -EIO;
    mysql_stmt_close(st);
    return 1;
}

int users_delete(MYSQL *m, const char *name, struct sc_err *err)
{
    const char *p[1] = {name};
    MYSQL_STMT *st = run(m, "DELETE FROM app_user WHERE username = ?", p, 1, err);
    if (!st)
        return -EIO;
    int rc = mysql_stmt_affected_rows(st) > 0;
    mysql_stmt_close(st);
    return rc;
}

int users_count_admins(MYSQL *m, long long *n, struct sc_err *err)
{
    return db_query_int(m, "SELECT COUNT(*) FROM app_user WHERE role = 'admin' AND disabled = 0", n,
                        err);
}
