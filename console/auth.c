/* console/auth.c: logins, sessions, roles, CSRF and the audit log.
 *
 * Passwords are checked against app_user's argon2id hashes (libsodium's
 * crypto_pwhash_str_verify) on a MySQL worker, never on the loop. A session is a
 * random 256-bit id in an HttpOnly, SameSite=Strict cookie, kept in a table on
 * the loop thread with an absolute expiry; its CSRF token (another 256 random
 * bits) must come back in X-CSRF-Token on every write. */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "core/json.h"
#include "core/log.h"

#define COOKIE "sc_session"

/* Failed logins: a user name gets AUTH_USER_FAILS, an address AUTH_ADDR_FAILS
 * within AUTH_WINDOW_MS; beyond that, logins are refused with 429 until the
 * window ends. A successful login clears its user name's count. */
#define AUTH_USER_FAILS 5
#define AUTH_ADDR_FAILS 20
#define AUTH_WINDOW_MS (5 * 60 * 1000)

struct auth_throttle {
    int fails;
    int64_t since_ms;
};

const char *auth_role_name(enum console_role r)
{
    switch (r) {
    case ROLE_VIEWER:
        return "viewer";
    case ROLE_OPERATOR:
        return "operator";
    case ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

static enum console_role role_parse(const char *s)
{
    if (strcmp(s, "viewer") == 0)
        return ROLE_VIEWER;
    if (strcmp(s, "operator") == 0)
        return ROLE_OPERATOR;
    if (strcmp(s, "admin") == 0)
        return ROLE_ADMIN;
    return ROLE_NONE;
}

static void random_hex(char out[65])
{
    unsigned char b[32];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, 65, b, sizeof b);
}

/* cookie_session: the session id from the Cookie header, into id (65 bytes). */
static bool cookie_session(struct evhttp_request *req, char id[65])
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        if (strncmp(h, COOKIE "=", sizeof COOKIE) == 0) {
            const char *v = h + sizeof COOKIE;
            size_t n = strcspn(v, "; ");
            if (n != 64)
                return false;
            memcpy(id, v, 64);
            id[64] = '\0';
            return true;
        }
        h = strchr(h, ';');
    }
    return false;
}

static struct console_session *find_session(struct console *c, struct evhttp_request *req)
{
    char id[65];
    if (!cookie_session(req, id))
        return NULL;
    struct console_session *s = strmap_get(&c->sessions, id);
    if (s && s->expires_ms <= console_now_ms()) {
        free(strmap_del(&c->sessions, id));
        return NULL;
    }
    return s;
}

bool auth_need(struct creq *r, enum console_role role, bool write)
{
    struct console_session *s = find_session(r->c, r->req);
    if (!s) {
        creq_error(r, 401, "session", "log in first (POST /api/v1/login)");
        return false;
    }
    if (write) {
        const char *t =
            evhttp_find_header(evhttp_request_get_input_headers(r->req), "X-CSRF-Token");
        if (!t || strlen(t) != 64 || sodium_memcmp(t, s->csrf, 64) != 0) {
            creq_error(r, 403, "X-CSRF-Token", "missing or wrong CSRF token");
            return false;
        }
    }
    if (s->role < role) {
        creq_error(r, 403, "role", "needs the %s role (you are %s)", auth_role_name(role),
                   auth_role_name(s->role));
        return false;
    }
    r->sess = *s;
    return true;
}

static void throttle_key(char *out, size_t len, const char *kind, const char *what)
{
    snprintf(out, len, "%s:%s", kind, what);
}

/* throttled: seconds until `key` may try again, or 0. */
static int throttled(struct console *c, const char *key, int limit)
{
    struct auth_throttle *t = strmap_get(&c->throttle, key);
    int64_t now = console_now_ms();
    if (!t || now - t->since_ms >= AUTH_WINDOW_MS || t->fails < limit)
        return 0;
    return (int)((t->since_ms + AUTH_WINDOW_MS - now) / 1000) + 1;
}

static void throttle_fail(struct console *c, const char *key)
{
    struct auth_throttle *t = strmap_get(&c->throttle, key);
    int64_t now = console_now_ms();
    int perr = 0;
    if (!t) {
        if (!(t = calloc(1, sizeof *t)))
            return;
        strmap_put(&c->throttle, key, t, &perr);
        if (perr < 0) {
            free(t);
            return;
        }
    }
    if (now - t->since_ms >= AUTH_WINDOW_MS) {
        t->fails = 0;
        t->since_ms = now;
    }
    t->fails++;
}

/* loopback: a reverse proxy on the host makes every user 127.0.0.1, so the
 * per-address limit would lock everyone out; only the per-user one applies. */
static bool loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

static const char *peer(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const char *addr = NULL;
    ev_uint16_t port;
    if (evcon)
        evhttp_connection_get_peer(evcon, (char **)&addr, &port);
    return addr ? addr : "?";
}

void auth_sweep(struct console *c)
{
    const char *k;
    void *v;
    int64_t now = console_now_ms();
    for (size_t it = 0; strmap_next(&c->throttle, &it, &k, &v);)
        if (now - ((struct auth_throttle *)v)->since_ms >= AUTH_WINDOW_MS)
            free(strmap_del(&c->throttle, k));
    for (size_t it = 0; strmap_next(&c->sessions, &it, &k, &v);)
        if (((struct console_session *)v)->expires_ms <= now)
            free(strmap_del(&c->sessions, k));
}

/* ---------------------------------------------------------------- login */

struct login {
    struct creq *r;
    char user[65];
    char addr[64];
    char *password;
    bool ok;
    bool db_down;
    enum console_role role;
};

static void login_work(MYSQL *m, void *arg)
{
    struct login *l = arg;
    char esc[140], q[300];
    if (!m) {
        l->db_down = true;
        return;
    }
    mysql_real_escape_string(m, esc, l->user, strlen(l->user));
    snprintf(q, sizeof q, "SELECT pw_hash, role, disabled FROM app_user WHERE username = '%s'",
             esc);
    if (mysql_query(m, q) != 0) {
        LOGW("login: %s", mysql_error(m));
        l->db_down = true;
        return;
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (row && row[0] && row[1] && row[2] && strcmp(row[2], "0") == 0 &&
        crypto_pwhash_str_verify(row[0], l->password, strlen(l->password)) == 0) {
        l->ok = true;
        l->role = role_parse(row[1]);
    }
    if (res)
        mysql_free_result(res);
}

static void login_done(void *arg)
{
    struct login *l = arg;
    struct creq *r = l->r;
    struct console *c = r->c;
    sodium_memzero(l->password, strlen(l->password));
    free(l->password);
    if (l->db_down) {
        free(l);
        creq_error(r, 503, "mysql", "the user store is unreachable");
        return;
    }
    char key[140];
    if (!l->ok || l->role == ROLE_NONE) {
        c->logins_failed++;
        LOGN("login refused for \"%s\" from %s", l->user, l->addr);
        throttle_key(key, sizeof key, "u", l->user);
        throttle_fail(c, key);
        throttle_key(key, sizeof key, "ip", l->addr);
        throttle_fail(c, key);
        free(l);
        creq_error(r, 401, "password", "wrong username or password");
        return;
    }
    struct console_session *s = calloc(1, sizeof *s);
    int perr = 0;
    if (!s) {
        free(l);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    random_hex(s->id);
    random_hex(s->csrf);
    snprintf(s->user, sizeof s->user, "%s", l->user);
    s->role = l->role;
    s->expires_ms = console_now_ms() + (int64_t)CONSOLE_SESSION_S * 1000;
    strmap_put(&c->sessions, s->id, s, &perr);
    if (perr < 0) {
        free(s);
        free(l);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    throttle_key(key, sizeof key, "u", l->user);
    free(strmap_del(&c->throttle, key));
    c->logins_ok++;
    LOGN("user %s logged in (%s)", s->user, auth_role_name(s->role));
    char cookie[200];
    snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d",
             s->id, CONSOLE_SESSION_S);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Set-Cookie", cookie);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "csrf", s->csrf);
    cJSON_AddStringToObject(o, "user", s->user);
    cJSON_AddStringToObject(o, "role", auth_role_name(s->role));
    free(l);
    creq_json(r, 200, o);
}

void auth_login(struct creq *r)
{
    struct sc_err err;
    const char *user = NULL, *pw = NULL;
    static const char *const fields[] = {"username", "password", NULL};
    if (!r->c->db) {
        creq_error(r, 503, "mysql", "the console runs without --mysql: no users to log in");
        return;
    }
    cJSON *o = json_parse(r->body, r->blen, &err);
    if (!o) {
        creq_error(r, 400, "body", "invalid JSON at offset %d: %s", err.pos, err.msg);
        return;
    }
    if (json_check_fields(o, fields, &err) < 0 ||
        json_get_str(o, "username", JSON_REQUIRED, &user, &err) < 0 ||
        json_get_str(o, "password", JSON_REQUIRED, &pw, &err) < 0) {
        cJSON_Delete(o);
        creq_error(r, 400, err.field, "%s", err.msg);
        return;
    }
    if (!*user || strlen(user) > 64) {
        cJSON_Delete(o);
        creq_error(r, 400, "username", "must be 1 to 64 characters");
        return;
    }
    char key[140];
    int wait_u, wait_a;
    throttle_key(key, sizeof key, "u", user);
    wait_u = throttled(r->c, key, AUTH_USER_FAILS);
    throttle_key(key, sizeof key, "ip", peer(r->req));
    wait_a = loopback(peer(r->req)) ? 0 : throttled(r->c, key, AUTH_ADDR_FAILS);
    if (wait_u || wait_a) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait_u > wait_a ? wait_u : wait_a);
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", ra);
        cJSON_Delete(o);
        creq_error(r, 429, wait_u ? "username" : "address",
                   "too many failed logins; try again in %s s", ra);
        return;
    }
    struct login *l = calloc(1, sizeof *l);
    if (!l || !(l->password = strdup(pw))) {
        free(l);
        cJSON_Delete(o);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    l->r = r;
    snprintf(l->user, sizeof l->user, "%s", user);
    snprintf(l->addr, sizeof l->addr, "%s", peer(r->req));
    cJSON_Delete(o);
    if (dbpool_submit(r->c->db, login_work, login_done, l) < 0) {
        free(l->password);
        free(l);
        creq_error(r, 500, NULL, "out of memory");
    }
}

void auth_logout(struct creq *r)
{
    struct console_session *s = find_session(r->c, r->req);
    if (s) {
        const char *t =
            evhttp_find_header(evhttp_request_get_input_headers(r->req), "X-CSRF-Token");
        if (!t || strlen(t) != 64 || sodium_memcmp(t, s->csrf, 64) != 0) {
            creq_error(r, 403, "X-CSRF-Token", "missing or wrong CSRF token");
            return;
        }
        LOGN("user %s logged out", s->user);
        free(strmap_del(&r->c->sessions, s->id));
    }
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Set-Cookie",
                      COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    creq_json(r, 200, o);
}

void auth_whoami(struct creq *r)
{
    if (!auth_need(r, ROLE_VIEWER, false))
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", r->sess.user);
    cJSON_AddStringToObject(o, "role", auth_role_name(r->sess.role));
    cJSON_AddStringToObject(o, "csrf", r->sess.csrf);
    creq_json(r, 200, o);
}

/* ---------------------------------------------------------------- audit */

struct auditrec {
    char *user, *action, *type, *object, *before, *after;
};

static char *dupnull(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* sql_quote: 'escaped' or NULL, the caller's to free. */
static char *sql_quote(MYSQL *m, const char *s)
{
    if (!s)
        return strdup("NULL");
    size_t n = strlen(s);
    char *out = malloc(n * 2 + 3);
    if (!out)
        return NULL;
    out[0] = '\'';
    unsigned long k = mysql_real_escape_string(m, out + 1, s, (unsigned long)n);
    out[k + 1] = '\'';
    out[k + 2] = '\0';
    return out;
}

static void audit_work(MYSQL *m, void *arg)
{
    struct auditrec *a = arg;
    if (!m) {
        LOGW("audit: history store unreachable; lost: %s %s %s by %s", a->action, a->type,
             a->object, a->user);
        return;
    }
    char *v[6] = {sql_quote(m, a->user),   sql_quote(m, a->action), sql_quote(m, a->type),
                  sql_quote(m, a->object), sql_quote(m, a->before), sql_quote(m, a->after)};
    size_t len = 200;
    for (int i = 0; i < 6; i++)
        len += v[i] ? strlen(v[i]) : 0;
    char *q = malloc(len);
    if (q && v[0] && v[1] && v[2] && v[3] && v[4] && v[5]) {
        snprintf(q, len,
                 "INSERT INTO audit_log (at, username, action, object_type, object_name, "
                 "before_json, after_json, source) VALUES (NOW(3), %s, %s, %s, %s, %s, %s, "
                 "'console')",
                 v[0], v[1], v[2], v[3], v[4], v[5]);
        if (mysql_query(m, q) != 0)
            LOGW("audit: %s", mysql_error(m));
    }
    free(q);
    for (int i = 0; i < 6; i++)
        free(v[i]);
}

static void audit_done(void *arg)
{
    struct auditrec *a = arg;
    free(a->user);
    free(a->action);
    free(a->type);
    free(a->object);
    free(a->before);
    free(a->after);
    free(a);
}

void audit(struct console *c, const char *user, const char *action, const char *object_type,
           const char *object, const char *before, const char *after)
{
    LOGN("audit: %s %s %s by %s", action, object_type, object, user);
    if (!c->db)
        return;
    struct auditrec *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->user = strdup(user);
    a->action = strdup(action);
    a->type = strdup(object_type);
    a->object = strdup(object);
    a->before = dupnull(before);
    a->after = dupnull(after);
    if (!a->user || !a->action || !a->type || !a->object ||
        dbpool_submit(c->db, audit_work, audit_done, a) < 0)
        audit_done(a);
}

/* ---------------------------------------------------------------- first admin */

int auth_first_admin(const struct db_url *url, const char *db_password, const char *admin_pw,
                     struct sc_err *err)
{
    char hash[crypto_pwhash_STRBYTES], eh[sizeof hash * 2 + 1], q[1024];
    if (strlen(admin_pw) < 8)
        return sc_err_set(err, EINVAL, "admin_password_file", -1,
                          "the password must be at least 8 characters");
    MYSQL *m = db_connect(url, db_password ? db_password : "", 10, err);
    if (!m)
        return -EIO;
    int rc = 0;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    if (mysql_query(m, "SELECT COUNT(*) FROM app_user WHERE role = 'admin' AND disabled = 0") !=
            0 ||
        !(res = mysql_store_result(m)) || !(row = mysql_fetch_row(res))) {
        rc = sc_err_set(err, EIO, "mysql", -1, "app_user: %s", mysql_error(m));
    } else if (strcmp(row[0], "0") != 0) {
        LOGI("an admin exists; --admin-password-file is not needed any more");
    } else if (crypto_pwhash_str_alg(
                   hash, admin_pw, strlen(admin_pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                   crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        rc = sc_err_set(err, ENOMEM, "admin_password_file", -1, "cannot hash the password");
    } else {
        mysql_real_escape_string(m, eh, hash, strlen(hash));
        snprintf(q, sizeof q,
                 "INSERT INTO app_user (username, pw_hash, role) VALUES ('admin', '%s', 'admin') "
                 "ON DUPLICATE KEY UPDATE pw_hash = VALUES(pw_hash), role = 'admin', disabled = 0",
                 eh);
        if (mysql_query(m, q) != 0)
            rc = sc_err_set(err, EIO, "mysql", -1, "app_user: %s", mysql_error(m));
        else
            LOGN("first start: user admin created from the admin password file");
    }
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    return rc;
}

/* ---------------------------------------------------------------- users (admin) */

struct userop {
    struct creq *r;
    char name[65];
    char role[16];
    char *password; /* PUT only */
    int kind;       /* 0 list, 1 put, 2 delete */
    bool down;
    bool found;    /* delete: a row went; put: the user existed */
    char err[256]; /* MySQL error */
    cJSON *list;   /* list: built on the worker (cJSON is thread-agnostic) */
};

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

static void user_work(MYSQL *m, void *arg)
{
    struct userop *u = arg;
    char q[1024], en[140];
    if (!m) {
        u->down = true;
        return;
    }
    mysql_real_escape_string(m, en, u->name, strlen(u->name));
    if (u->kind == 0) {
        MYSQL_RES *res;
        MYSQL_ROW row;
        if (mysql_query(m, "SELECT username, role, disabled, DATE_FORMAT(created_at, "
                           "'%Y-%m-%dT%H:%i:%sZ') FROM app_user ORDER BY username") != 0 ||
            !(res = mysql_store_result(m))) {
            snprintf(u->err, sizeof u->err, "%s", mysql_error(m));
            return;
        }
        u->list = cJSON_CreateArray();
        while ((row = mysql_fetch_row(res))) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "username", row[0]);
            cJSON_AddStringToObject(e, "role", row[1]);
            cJSON_AddBoolToObject(e, "disabled", row[2] && strcmp(row[2], "0") != 0);
            cJSON_AddStringToObject(e, "created_at", row[3] ? row[3] : "");
            cJSON_AddItemToArray(u->list, e);
        }
        mysql_free_result(res);
        return;
    }
    if (u->kind == 2) {
        snprintf(q, sizeof q, "DELETE FROM app_user WHERE username = '%s'", en);
        if (mysql_query(m, q) != 0)
            snprintf(u->err, sizeof u->err, "%s", mysql_error(m));
        else
            u->found = mysql_affected_rows(m) > 0;
        return;
    }
    char hash[crypto_pwhash_STRBYTES], eh[sizeof hash * 2 + 1];
    if (u->password) {
        if (crypto_pwhash_str_alg(
                hash, u->password, strlen(u->password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
            snprintf(u->err, sizeof u->err, "cannot hash the password");
            return;
        }
        mysql_real_escape_string(m, eh, hash, strlen(hash));
        snprintf(q, sizeof q,
                 "INSERT INTO app_user (username, pw_hash, role) VALUES ('%s', '%s', '%s') "
                 "ON DUPLICATE KEY UPDATE pw_hash = VALUES(pw_hash), role = VALUES(role), "
                 "disabled = 0",
                 en, eh, u->role);
    } else {
        snprintf(q, sizeof q, "UPDATE app_user SET role = '%s' WHERE username = '%s'", u->role, en);
    }
    if (mysql_query(m, q) != 0) {
        snprintf(u->err, sizeof u->err, "%s", mysql_error(m));
    } else if (u->password) {
        u->found = true;
    } else {
        /* A role change: "Rows matched: N" says whether the user exists (affected
         * rows are 0 when the role was already that). */
        const char *info = mysql_info(m);
        u->found = info && strncmp(info, "Rows matched: ", 14) == 0 && atoi(info + 14) > 0;
    }
}

static void user_done(void *arg)
{
    struct userop *u = arg;
    struct creq *r = u->r;
    if (u->password) {
        sodium_memzero(u->password, strlen(u->password));
        free(u->password);
    }
    if (u->down) {
        cJSON_Delete(u->list);
        free(u);
        creq_error(r, 503, "mysql", "the user store is unreachable");
        return;
    }
    if (u->err[0]) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", u->err);
        cJSON_Delete(u->list);
        free(u);
        creq_error(r, 503, "mysql", "%s", msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (u->kind == 0) {
        cJSON_AddItemToObject(o, "users", u->list);
    } else if (!u->found) {
        cJSON_Delete(o);
        free(u);
        creq_error(r, 404, "name", "no such user");
        return;
    } else {
        char after[64];
        snprintf(after, sizeof after, "{\"role\":\"%s\"}", u->role);
        audit(r->c, r->sess.user, u->kind == 1 ? "user-put" : "user-delete", "user", u->name, NULL,
              u->kind == 1 ? after : NULL);
        if (u->kind == 2) {
            /* Their sessions end now. */
            const char *k;
            void *v;
            for (size_t it = 0; strmap_next(&r->c->sessions, &it, &k, &v);)
                if (strcmp(((struct console_session *)v)->user, u->name) == 0)
                    free(strmap_del(&r->c->sessions, k));
        }
        cJSON_AddStringToObject(o, "username", u->name);
        if (u->kind == 1)
            cJSON_AddStringToObject(o, "role", u->role);
        else
            cJSON_AddBoolToObject(o, "deleted", 1);
    }
    free(u);
    creq_json(r, 200, o);
}

void auth_users(struct creq *r, const char *name)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
    bool write = m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD;
    struct sc_err err;
    if (!auth_need(r, ROLE_ADMIN, write))
        return;
    if (!r->c->db) {
        creq_error(r, 503, "mysql", "the console runs without --mysql: no users");
        return;
    }
    struct userop *u = calloc(1, sizeof *u);
    if (!u) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    u->r = r;
    if (name) {
        if (!user_name_ok(name)) {
            free(u);
            creq_error(r, 400, "name", "1-64 of A-Z a-z 0-9 . _ - @");
            return;
        }
        snprintf(u->name, sizeof u->name, "%s", name);
    }
    if (m == EVHTTP_REQ_PUT) {
        static const char *const fields[] = {"role", "password", NULL};
        const char *role = NULL, *pw = NULL;
        cJSON *o = json_parse(r->body, r->blen, &err);
        if (!o) {
            free(u);
            creq_error(r, 400, "body", "invalid JSON at offset %d: %s", err.pos, err.msg);
            return;
        }
        if (json_check_fields(o, fields, &err) < 0 ||
            json_get_str(o, "role", JSON_REQUIRED, &role, &err) < 0 ||
            json_get_str(o, "password", JSON_OPTIONAL, &pw, &err) == -EINVAL ||
            (role_parse(role) == ROLE_NONE &&
             sc_err_set(&err, EINVAL, "role", -1, "must be viewer, operator or admin") < 0) ||
            (pw && strlen(pw) < 8 &&
             sc_err_set(&err, EINVAL, "password", -1, "must be at least 8 characters") < 0)) {
            cJSON_Delete(o);
            free(u);
            creq_error(r, 400, err.field, "%s", err.msg);
            return;
        }
        snprintf(u->role, sizeof u->role, "%s", role);
        u->password = pw ? strdup(pw) : NULL;
        u->kind = 1;
        cJSON_Delete(o);
    } else if (m == EVHTTP_REQ_DELETE) {
        if (strcmp(u->name, r->sess.user) == 0) {
            free(u);
            creq_error(r, 400, "name", "you cannot delete yourself");
            return;
        }
        u->kind = 2;
    }
    if (dbpool_submit(r->c->db, user_work, user_done, u) < 0) {
        free(u->password);
        free(u);
        creq_error(r, 500, NULL, "out of memory");
    }
}
