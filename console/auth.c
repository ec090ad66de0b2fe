/* console/auth.c: logins, sessions, roles, CSRF, the Host allow-list and the
 * audit log.
 *
 * Users live in app_user through sql/users.h (the module `shardcronctl user`
 * uses too). A login is a lookup on the user-store pool (c->auth_db: one
 * worker, its own connection, a bounded queue), then a password check on the
 * hash pool (c->hash_db: one worker, no connection, a bounded queue); neither
 * is a history worker. argon2 takes 64 MiB and ~0.1-0.2 s of a core per check:
 * a burst of logins must not stall the history routes, nor hold a MySQL
 * connection while hashing. A burst beyond a bound gets 503 at once.
 *
 * A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie
 * (Secure when served over HTTPS), kept in a table on the loop thread with an
 * absolute expiry; its CSRF token (another 256 random bits) must come back in
 * X-CSRF-Token on every write. A session holds the name as the database spells
 * it and the row's stamp (updated_at): a role change, a password change or a
 * delete ends every session of the user at once when made through the console,
 * and within user_check_ms (a minute) when made elsewhere (`shardcronctl user
 * add`, SQL): the check compares every session with app_user. */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "console/console.h"
#include "core/http.h"
#include "core/json.h"
#include "core/log.h"
#include "sql/users.h"

#define COOKIE "sc_session"

/* Login attempts: a user name gets AUTH_USER_TRIES, an address AUTH_ADDR_TRIES
 * within AUTH_WINDOW_MS; beyond that, logins are refused with 429 until the
 * window ends. An attempt counts when it arrives, before its password is
 * checked, so parallel guesses cannot all reach argon2. A successful login
 * clears its user name's count and gives its address's attempt back. */
#define AUTH_USER_TRIES 5
#define AUTH_ADDR_TRIES 20
#define AUTH_WINDOW_MS (5 * 60 * 1000)
/* Jobs queued or running at once on each of the user-store and hash pools. */
#define AUTH_QUEUE 32

struct auth_throttle {
    int tries;
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

static const char *in_header(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* ---------------------------------------------------------------- start, stop */

static void users_check_cb(evutil_socket_t fd, short what, void *arg);
static void dummy_warm(MYSQL *m, void *arg);
static void dummy_warmed(void *arg);

static int add_host(struct console *c, const char *h, size_t n)
{
    while (n && (*h == ' ' || *h == '\t'))
        h++, n--;
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
        h++, n -= 2;
    if (!n)
        return 0;
    char **g = realloc(c->hosts, (c->nhosts + 1) * sizeof *g);
    if (!g)
        return -ENOMEM;
    c->hosts = g;
    if (!(c->hosts[c->nhosts] = strndup(h, n)))
        return -ENOMEM;
    c->nhosts++;
    return 0;
}

int auth_start(struct console *c, const struct cfg *cfg, const struct db_url *url,
               const char *db_password, struct sc_err *err)
{
    const char *list = cfg_str(cfg, "allowed_hosts");
    int rc = 0;
    if (list && *list) {
        for (const char *p = list; *p;) {
            size_t n = strcspn(p, ",");
            rc |= add_host(c, p, n);
            p += n + (p[n] == ',');
        }
    } else {
        /* The names a browser on this host or on the listen address uses. */
        const char *l = cfg_str(cfg, "listen");
        const char *colon = l ? strrchr(l, ':') : NULL;
        char host[256];
        rc |= add_host(c, "localhost", 9);
        rc |= add_host(c, "127.0.0.1", 9);
        rc |= add_host(c, "::1", 3);
        if (colon && colon > l)
            rc |= add_host(c, l, (size_t)(colon - l));
        if (gethostname(host, sizeof host) == 0) {
            host[sizeof host - 1] = '\0';
            rc |= add_host(c, host, strlen(host));
        }
    }
    if (rc < 0)
        return sc_err_set(err, ENOMEM, "allowed_hosts", -1, "out of memory");
    if (!c->nhosts)
        return sc_err_set(err, EINVAL, "allowed_hosts", -1, "names no host");
    char names[512] = "";
    for (size_t i = 0, o = 0; i < c->nhosts && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", c->hosts[i]);
    LOGI("answering to Host %s (allowed_hosts)", names);
    c->secure_cookie = cfg_flag(cfg, "secure_cookies");
    long long check_ms = 60000;
    if (cfg_int(cfg, "user_check_ms", 100, 3600000, &check_ms, err) == -EINVAL)
        return -EINVAL;
    if (url) {
        rc = dbpool_new(c->base, url, db_password, 1, &c->auth_db, err);
        if (rc < 0)
            return rc;
        dbpool_set_bound(c->auth_db, AUTH_QUEUE);
        if ((rc = dbpool_new(c->base, NULL, NULL, 1, &c->hash_db, err)) < 0)
            return rc;
        dbpool_set_bound(c->hash_db, AUTH_QUEUE);
        /* The dummy hash is made on first use: make it now, so the first
         * unknown name costs what the others do. */
        if (dbpool_submit(c->hash_db, dummy_warm, dummy_warmed, NULL) < 0)
            return sc_err_set(err, ENOMEM, "mysql", -1, "out of memory");
        struct timeval tv = {check_ms / 1000, (check_ms % 1000) * 1000};
        if (!(c->ev_users = event_new(c->base, -1, EV_PERSIST, users_check_cb, c)) ||
            event_add(c->ev_users, &tv) < 0)
            return sc_err_set(err, ENOMEM, "user_check_ms", -1, "cannot start the timer");
    }
    return 0;
}

static void dummy_warm(MYSQL *m, void *arg)
{
    (void)m;
    (void)arg;
    (void)users_verify(NULL, "");
}

static void dummy_warmed(void *arg)
{
    (void)arg;
}

void auth_stop(struct console *c)
{
    if (c->ev_users)
        event_free(c->ev_users);
    c->ev_users = NULL;
    /* The user store first: its logins go on to the hash pool, still there;
     * a password hashed after it is gone gets 503. */
    dbpool_free(c->auth_db);
    c->auth_db = NULL;
    dbpool_free(c->hash_db);
    c->hash_db = NULL;
    for (size_t i = 0; i < c->nhosts; i++)
        free(c->hosts[i]);
    free(c->hosts);
    c->hosts = NULL;
    c->nhosts = 0;
}

/* ---------------------------------------------------------------- Host, Origin */

/* host_allowed: the host part of a Host header value ("name", "name:port",
 * "[v6]:port") is on the allow-list. "*" on the list allows any. */
static bool host_allowed(const struct console *c, const char *v)
{
    const char *h = v, *end;
    if (*h == '[') {
        h++;
        end = strchr(h, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
    } else {
        end = strchr(h, ':');
        if (!end)
            end = h + strlen(h);
    }
    size_t n = (size_t)(end - h);
    for (size_t i = 0; i < c->nhosts; i++)
        if (strcmp(c->hosts[i], "*") == 0 ||
            (strlen(c->hosts[i]) == n && strncasecmp(c->hosts[i], h, n) == 0))
            return true;
    return false;
}

bool auth_host_ok(struct console *c, struct evhttp_request *req)
{
    const char *h = in_header(req, "Host");
    /* HTTP/1.0 clients may send none; a browser always does, and only a
     * browser can be steered by DNS rebinding. */
    if (!h || host_allowed(c, h))
        return true;
    char msg[400];
    snprintf(msg, sizeof msg,
             "unknown Host \"%.200s\"; the console answers only to the names in allowed_hosts", h);
    c->replies_4xx++;
    http_reply_error(req, 421, "Host", msg);
    return false;
}

/* origin_ok: a browser's Origin must name this console: its scheme-less
 * authority equals the Host header. No Origin (curl, scripts) is fine: login
 * CSRF needs a browser, and browsers send Origin on every POST. */
static bool origin_ok(struct evhttp_request *req)
{
    const char *o = in_header(req, "Origin"), *h = in_header(req, "Host");
    if (!o)
        return true;
    const char *a = strstr(o, "://");
    if (!a || !h)
        return false;
    a += 3;
    return strcasecmp(a, h) == 0;
}

static bool json_body(struct evhttp_request *req)
{
    const char *t = in_header(req, "Content-Type");
    if (!t || strncasecmp(t, "application/json", 16) != 0)
        return false;
    return t[16] == '\0' || t[16] == ';' || t[16] == ' ';
}

/* over_https: the reply reaches the browser over HTTPS: the secure_cookies
 * setting (a TLS proxy in front), or the proxy says so. A forged header can
 * only make a client's own cookie stricter. */
static bool over_https(struct console *c, struct evhttp_request *req)
{
    const char *p = in_header(req, "X-Forwarded-Proto");
    return c->secure_cookie || (p && strcasecmp(p, "https") == 0);
}

/* ---------------------------------------------------------------- sessions */

/* cookie_session: the session id from the Cookie header, into id (65 bytes). */
static bool cookie_session(struct evhttp_request *req, char id[65])
{
    const char *h = in_header(req, "Cookie");
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

int auth_end_sessions(struct console *c, const char *user)
{
    const char *k;
    void *v;
    int n = 0;
    for (size_t it = 0; strmap_next(&c->sessions, &it, &k, &v);)
        if (strcmp(((struct console_session *)v)->user, user) == 0) {
            free(strmap_del(&c->sessions, k));
            n++;
        }
    if (n)
        LOGN("ended %d session(s) of user %s", n, user);
    return n;
}

static bool csrf_ok(struct evhttp_request *req, const struct console_session *s)
{
    const char *t = in_header(req, "X-CSRF-Token");
    return t && strlen(t) == 64 && sodium_memcmp(t, s->csrf, 64) == 0;
}

bool auth_need(struct creq *r, enum console_role role, bool write)
{
    struct console_session *s = find_session(r->c, r->req);
    if (!s) {
        creq_error(r, 401, "session", "log in first (POST /api/v1/login)");
        return false;
    }
    if (write && !csrf_ok(r->req, s)) {
        creq_error(r, 403, "X-CSRF-Token", "missing or wrong CSRF token");
        return false;
    }
    if (s->role < role) {
        creq_error(r, 403, "role", "needs the %s role (you are %s)", auth_role_name(role),
                   auth_role_name(s->role));
        return false;
    }
    r->sess = *s;
    return true;
}

/* ---------------------------------------------------------------- throttle */

static void throttle_key(char *out, size_t len, const char *kind, const char *what)
{
    snprintf(out, len, "%s:%s", kind, what);
}

static struct auth_throttle *throttle_get(struct console *c, const char *key, bool create)
{
    struct auth_throttle *t = strmap_get(&c->throttle, key);
    int64_t now = console_now_ms();
    int perr = 0;
    if (!t && create) {
        if (!(t = calloc(1, sizeof *t)))
            return NULL;
        strmap_put(&c->throttle, key, t, &perr);
        if (perr < 0) {
            free(t);
            return NULL;
        }
    }
    if (t && now - t->since_ms >= AUTH_WINDOW_MS) {
        t->tries = 0;
        t->since_ms = now;
    }
    return t;
}

/* throttled: seconds until `key` may try again, or 0. */
static int throttled(struct console *c, const char *key, int limit)
{
    struct auth_throttle *t = throttle_get(c, key, false);
    if (!t || t->tries < limit)
        return 0;
    return (int)((t->since_ms + AUTH_WINDOW_MS - console_now_ms()) / 1000) + 1;
}

static void throttle_add(struct console *c, const char *key, int delta)
{
    struct auth_throttle *t = throttle_get(c, key, delta > 0);
    if (t && (t->tries += delta) < 0)
        t->tries = 0;
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

/* ---------------------------------------------------------------- sweep */

struct sweep {
    struct console *c;
    struct users_row *rows;
    size_t n;
    bool failed;
};

static void sweep_work(MYSQL *m, void *arg)
{
    struct sweep *w = arg;
    struct sc_err err;
    w->failed = !m || users_list(m, &w->rows, &w->n, &err) < 0;
}

/* sweep_done: end the sessions whose user is gone, disabled, or changed since
 * the login (a stamp or role that differs). */
static void sweep_done(void *arg)
{
    struct sweep *w = arg;
    struct console *c = w->c;
    struct strmap byname;
    const char *k;
    void *v;
    int perr = 0;
    strmap_init(&byname);
    if (!w->failed) {
        for (size_t i = 0; i < w->n; i++)
            strmap_put(&byname, w->rows[i].name, &w->rows[i], &perr);
        for (size_t it = 0; perr == 0 && strmap_next(&c->sessions, &it, &k, &v);) {
            struct console_session *s = v;
            const struct users_row *u = strmap_get(&byname, s->user);
            if (!u || u->disabled || strcmp(u->stamp, s->stamp) != 0 ||
                role_parse(u->role) != s->role) {
                LOGN("session of user %s ended: the user was %s", s->user,
                     !u            ? "deleted"
                     : u->disabled ? "disabled"
                                   : "changed");
                free(strmap_del(&c->sessions, k));
            }
        }
    }
    strmap_free(&byname);
    free(w->rows);
    free(w);
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

/* users_check_cb: every user_check_ms, compare the sessions with app_user. */
static void users_check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct console *c = arg;
    (void)fd;
    (void)what;
    if (!c->auth_db || strmap_len(&c->sessions) == 0)
        return;
    struct sweep *w = calloc(1, sizeof *w);
    if (w) {
        w->c = c;
        if (dbpool_submit(c->auth_db, sweep_work, sweep_done, w) < 0)
            free(w); /* busy: the next round checks */
    }
}

/* ---------------------------------------------------------------- login */

struct login {
    struct creq *r;
    char user[USERS_NAME_MAX + 1];
    char addr[64];
    char *password;
    int found; /* users_get */
    bool ok;
    bool db_down;
    struct users_row row;
};

/* login_lookup: the user's row, on the user-store pool. */
static void login_lookup(MYSQL *m, void *arg)
{
    struct login *l = arg;
    struct sc_err err;
    l->found = m ? users_get(m, l->user, &l->row, &err) : -EIO;
    if (l->found < 0) {
        if (m)
            LOGW("login: %s", err.msg);
        l->db_down = true;
    }
}

/* login_check: the password, on the hash pool. Unknown and disabled users
 * cost one argon2 check too: the time of the reply does not tell whether a
 * name exists. */
static void login_check(MYSQL *m, void *arg)
{
    struct login *l = arg;
    (void)m;
    bool usable = l->found == 1 && !l->row.disabled && strcmp(l->row.name, l->user) == 0;
    l->ok = users_verify(usable ? l->row.hash : NULL, l->password) && usable;
    sodium_memzero(l->row.hash, sizeof l->row.hash);
}

static void login_free(struct login *l)
{
    if (l->password) {
        sodium_memzero(l->password, strlen(l->password));
        free(l->password);
    }
    free(l);
}

static void login_done(void *arg);

static void reply_busy(struct creq *r)
{
    r->c->logins_busy++;
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
    creq_error(r, 503, "login", "too many logins in progress; retry in a second");
}

/* reply_refused: a pool would not take the work (rc from dbpool_submit). */
static void reply_refused(struct creq *r, int rc)
{
    if (rc == -EBUSY)
        reply_busy(r);
    else
        creq_error(r, 500, NULL, "out of memory");
}

/* login_looked: the row is in (or the store is down): on to the check. */
static void login_looked(void *arg)
{
    struct login *l = arg;
    struct creq *r = l->r;
    if (l->db_down) {
        login_free(l);
        creq_error(r, 503, "mysql", "the user store is unreachable");
        return;
    }
    /* hash_db is NULL only while stopping (auth_stop). */
    int rc = r->c->hash_db ? dbpool_submit(r->c->hash_db, login_check, login_done, l) : -EBUSY;
    if (rc < 0) {
        login_free(l);
        reply_refused(r, rc);
    }
}

static void login_done(void *arg)
{
    struct login *l = arg;
    struct creq *r = l->r;
    struct console *c = r->c;
    char key[140];
    enum console_role role = l->ok ? role_parse(l->row.role) : ROLE_NONE;
    if (role == ROLE_NONE) {
        c->logins_failed++;
        LOGN("login refused for \"%s\" from %s", l->user, l->addr);
        login_free(l);
        creq_error(r, 401, "password", "wrong username or password");
        return;
    }
    struct console_session *s = calloc(1, sizeof *s);
    int perr = 0;
    if (!s) {
        login_free(l);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    random_hex(s->id);
    random_hex(s->csrf);
    /* The name as stored, not as typed. */
    snprintf(s->user, sizeof s->user, "%s", l->row.name);
    snprintf(s->stamp, sizeof s->stamp, "%s", l->row.stamp);
    s->role = role;
    s->expires_ms = console_now_ms() + (int64_t)CONSOLE_SESSION_S * 1000;
    strmap_put(&c->sessions, s->id, s, &perr);
    if (perr < 0) {
        free(s);
        login_free(l);
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    throttle_key(key, sizeof key, "u", s->user);
    free(strmap_del(&c->throttle, key));
    throttle_key(key, sizeof key, "ip", l->addr);
    throttle_add(c, key, -1);
    c->logins_ok++;
    LOGN("user %s logged in (%s)", s->user, auth_role_name(s->role));
    char cookie[220];
    snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
             s->id, CONSOLE_SESSION_S, over_https(c, r->req) ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Set-Cookie", cookie);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "csrf", s->csrf);
    cJSON_AddStringToObject(o, "user", s->user);
    cJSON_AddStringToObject(o, "role", auth_role_name(s->role));
    login_free(l);
    creq_json(r, 200, o);
}

void auth_login(struct creq *r)
{
    struct sc_err err;
    const char *user = NULL, *pw = NULL;
    static const char *const fields[] = {"username", "password", NULL};
    struct console *c = r->c;
    /* Login CSRF: a cross-site form can post text/plain but not JSON without a
     * preflight, and its Origin names another site. */
    if (!json_body(r->req)) {
        creq_error(r, 415, "Content-Type", "must be application/json");
        return;
    }
    if (!origin_ok(r->req)) {
        creq_error(r, 403, "Origin", "the login comes from another site (Origin \"%.200s\")",
                   in_header(r->req, "Origin"));
        return;
    }
    if (!c->auth_db) {
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
    if (!users_name_ok(user)) {
        cJSON_Delete(o);
        creq_error(r, 400, "username", "must be " USERS_NAME_RULE);
        return;
    }
    char ukey[140], akey[140];
    const char *addr = peer(r->req);
    throttle_key(ukey, sizeof ukey, "u", user);
    throttle_key(akey, sizeof akey, "ip", addr);
    int wait_u = throttled(c, ukey, AUTH_USER_TRIES);
    int wait_a = loopback(addr) ? 0 : throttled(c, akey, AUTH_ADDR_TRIES);
    if (wait_u || wait_a) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait_u > wait_a ? wait_u : wait_a);
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", ra);
        cJSON_Delete(o);
        creq_error(r, 429, wait_u ? "username" : "address",
                   "too many login attempts; try again in %s s", ra);
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
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    cJSON_Delete(o);
    int rc = dbpool_submit(c->auth_db, login_lookup, login_looked, l);
    if (rc < 0) {
        login_free(l);
        reply_refused(r, rc);
        return;
    }
    /* Counted now, before the check: parallel guesses are held to the limit. */
    throttle_add(c, ukey, 1);
    throttle_add(c, akey, 1);
}

void auth_logout(struct creq *r)
{
    struct console_session *s = find_session(r->c, r->req);
    if (s) {
        if (!csrf_ok(r->req, s)) {
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
    char hash[USERS_HASH_MAX];
    long long admins = 0;
    if (strlen(admin_pw) < USERS_PASSWORD_MIN)
        return sc_err_set(err, EINVAL, "admin_password_file", -1,
                          "the password must be at least %d characters", USERS_PASSWORD_MIN);
    MYSQL *m = db_connect(url, db_password ? db_password : "", 10, err);
    if (!m)
        return -EIO;
    int rc = users_count_admins(m, &admins, err);
    if (rc < 0) {
        rc = -EIO;
    } else if (admins > 0) {
        LOGI("an admin exists; --admin-password-file is not needed any more");
    } else if (users_hash(admin_pw, hash) < 0) {
        rc = sc_err_set(err, ENOMEM, "admin_password_file", -1, "cannot hash the password");
    } else if ((rc = users_upsert(m, "admin", hash, "admin", NULL, err)) == 0) {
        LOGN("first start: user admin created from the admin password file");
    }
    mysql_close(m);
    return rc;
}

/* ---------------------------------------------------------------- users (admin) */

enum userop_kind { USER_LIST, USER_PUT, USER_DELETE };

struct userop {
    struct creq *r;
    enum userop_kind kind;
    char name[USERS_NAME_MAX + 1];
    char role[16];
    char *password;            /* PUT only, may be NULL (a role change) */
    char hash[USERS_HASH_MAX]; /* of password, made on the hash pool */
    bool down;
    int found;     /* put/delete: the user existed */
    bool created;  /* put: a new user */
    char err[256]; /* MySQL error */
    cJSON *list;   /* list: built on the worker (cJSON is thread-agnostic) */
};

static void user_work(MYSQL *m, void *arg)
{
    struct userop *u = arg;
    struct sc_err err;
    int rc = 0;
    if (!m) {
        u->down = true;
        return;
    }
    sc_err_clear(&err);
    switch (u->kind) {
    case USER_LIST: {
        struct users_row *rows;
        size_t n;
        if ((rc = users_list(m, &rows, &n, &err)) < 0)
            break;
        u->list = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "username", rows[i].name);
            cJSON_AddStringToObject(e, "role", rows[i].role);
            cJSON_AddBoolToObject(e, "disabled", rows[i].disabled);
            cJSON_AddStringToObject(e, "created_at", rows[i].created);
            cJSON_AddItemToArray(u->list, e);
        }
        free(rows);
        break;
    }
    case USER_DELETE:
        rc = u->found = users_delete(m, u->name, &err);
        break;
    case USER_PUT:
        if (!u->password) {
            rc = u->found = users_set_role(m, u->name, u->role, &err);
        } else if (!u->hash[0]) {
            rc = sc_err_set(&err, ENOMEM, "password", -1, "cannot hash the password");
        } else if ((rc = users_upsert(m, u->name, u->hash, u->role, &u->created, &err)) == 0) {
            u->found = 1;
        }
        break;
    }
    if (rc < 0)
        snprintf(u->err, sizeof u->err, "%s", err.msg);
}

static void user_hash(MYSQL *m, void *arg)
{
    struct userop *u = arg;
    (void)m;
    if (users_hash(u->password, u->hash) < 0)
        u->hash[0] = '\0';
}

static void userop_free(struct userop *u);
static void user_done(void *arg);

static void user_hashed(void *arg)
{
    struct userop *u = arg;
    struct creq *r = u->r;
    /* auth_db is NULL only while stopping (auth_stop frees it first). */
    int rc = r->c->auth_db ? dbpool_submit(r->c->auth_db, user_work, user_done, u) : -EBUSY;
    if (rc < 0) {
        userop_free(u);
        reply_refused(r, rc);
    }
}

static void userop_free(struct userop *u)
{
    if (u->password) {
        sodium_memzero(u->password, strlen(u->password));
        free(u->password);
    }
    sodium_memzero(u->hash, sizeof u->hash);
    cJSON_Delete(u->list);
    free(u);
}

static void user_done(void *arg)
{
    struct userop *u = arg;
    struct creq *r = u->r;
    if (u->down || u->err[0]) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", u->down ? "the user store is unreachable" : u->err);
        userop_free(u);
        creq_error(r, 503, "mysql", "%s", msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (u->kind == USER_LIST) {
        cJSON_AddItemToObject(o, "users", u->list);
        u->list = NULL;
    } else if (!u->found) {
        cJSON_Delete(o);
        userop_free(u);
        creq_error(r, 404, "name", "no such user");
        return;
    } else {
        char after[64];
        snprintf(after, sizeof after, "{\"role\":\"%s\"}", u->role);
        audit(r->c, r->sess.user, u->kind == USER_PUT ? "user-put" : "user-delete", "user", u->name,
              NULL, u->kind == USER_PUT ? after : NULL);
        /* A changed role or password, or a delete: what the user's sessions
         * were granted no longer holds. */
        int ended = u->created ? 0 : auth_end_sessions(r->c, u->name);
        cJSON_AddStringToObject(o, "username", u->name);
        if (u->kind == USER_PUT)
            cJSON_AddStringToObject(o, "role", u->role);
        else
            cJSON_AddBoolToObject(o, "deleted", 1);
        cJSON_AddNumberToObject(o, "sessions_ended", ended);
    }
    userop_free(u);
    creq_json(r, 200, o);
}

/* auth_users: the route table has checked the role (admin) and, for writes,
 * the CSRF token. */
void auth_users(struct creq *r, const char *name)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
    struct sc_err err;
    if (!r->c->auth_db) {
        creq_error(r, 503, "mysql", "the console runs without --mysql: no users");
        return;
    }
    struct userop *u = calloc(1, sizeof *u);
    if (!u) {
        creq_error(r, 500, NULL, "out of memory");
        return;
    }
    u->r = r;
    u->kind = USER_LIST;
    if (name) {
        if (!users_name_ok(name)) {
            free(u);
            creq_error(r, 400, "name", USERS_NAME_RULE);
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
            (!users_role_ok(role) &&
             sc_err_set(&err, EINVAL, "role", -1, "must be viewer, operator or admin") < 0) ||
            (pw && strlen(pw) < USERS_PASSWORD_MIN &&
             sc_err_set(&err, EINVAL, "password", -1, "must be at least %d characters",
                        USERS_PASSWORD_MIN) < 0)) {
            cJSON_Delete(o);
            free(u);
            creq_error(r, 400, err.field, "%s", err.msg);
            return;
        }
        snprintf(u->role, sizeof u->role, "%s", role);
        u->password = pw ? strdup(pw) : NULL;
        u->kind = USER_PUT;
        cJSON_Delete(o);
    } else if (m == EVHTTP_REQ_DELETE) {
        if (strcmp(u->name, r->sess.user) == 0) {
            free(u);
            creq_error(r, 400, "name", "you cannot delete yourself");
            return;
        }
        u->kind = USER_DELETE;
    }
    /* A new password is hashed first, on the hash pool; then the user store. */
    int rc = u->password ? dbpool_submit(r->c->hash_db, user_hash, user_hashed, u)
                         : dbpool_submit(r->c->auth_db, user_work, user_done, u);
    if (rc < 0) {
        userop_free(u);
        reply_refused(r, rc);
    }
}
