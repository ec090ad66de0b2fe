/* console/console.c: shardcron-console's start-up, loop and shutdown.
 *
 *   main() ─► console_run: settings, sodium_init, the loop
 *               ├─ http_listen (core/http: the gate: caps, deadlines, strict heads) ─► api_handle
 *               ├─ zkreg_open ─► zkview (the cache, kept by watches)
 *               ├─ dbpool (MySQL workers: logins, audit, history)
 *               ├─ api_wf_start (workflow workers: ZooKeeper requests that wait for the driver)
 *               └─ SIGTERM/SIGINT ─► stop: workers finish, replies go out, loop ends */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console/console.h"
#include "core/http.h"
#include "core/log.h"

static void on_state(struct zkreg *z, enum zkreg_state st, void *ctx)
{
    struct console *c = ctx;
    (void)z;
    LOGI("ZooKeeper session %s", zkreg_state_name(st));
    zkview_on_state(&c->view, st);
}

static void on_watch(struct zkreg *z, int type, const char *path, void *ctx)
{
    struct console *c = ctx;
    (void)z;
    zkview_on_watch(&c->view, type, path);
}

static void term_cb(evutil_socket_t sig, short what, void *arg)
{
    struct console *c = arg;
    (void)what;
    LOGN("signal %d: stopping", (int)sig);
    event_base_loopexit(c->base, NULL);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    auth_sweep(arg);
}

/* default_web: console/web of the tree the binary was built in (build/<v>/bin/..). */
static void default_web(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    for (int up = 0; up < 4; up++) {
        char *s = strrchr(exe, '/');
        if (!s)
            return;
        *s = '\0';
        char cand[PATH_MAX + 32];
        snprintf(cand, sizeof cand, "%s/console/web/index.html", exe);
        if (access(cand, R_OK) == 0) {
            snprintf(out, len, "%.4000s/console/web", exe);
            return;
        }
    }
}

int console_run(const struct cfg *cfg)
{
    struct console c;
    struct sc_err err;
    char msg[512];
    char *auth = NULL, *pw = NULL;
    int rc = 1;
    memset(&c, 0, sizeof c);
    sc_err_clear(&err);
    strmap_init(&c.sessions);
    strmap_init(&c.zones);
    strmap_init(&c.throttle);
    c.started_ms = console_now_ms();
    struct http_limits lim = {.max_body = CONSOLE_MAX_BODY};
    {
        long long conns, cconns, mb, cmb, hs, bs;
        if (cfg_int(cfg, "max_connections", 1, 1000000, &conns, &err) < 0 ||
            cfg_int(cfg, "max_client_connections", 1, 1000000, &cconns, &err) < 0 ||
            cfg_int(cfg, "max_buffered_mb", 5, 65536, &mb, &err) < 0 ||
            cfg_int(cfg, "max_client_buffered_mb", 5, 65536, &cmb, &err) < 0 ||
            cfg_int(cfg, "header_timeout_s", 1, 3600, &hs, &err) < 0 ||
            cfg_int(cfg, "body_timeout_s", 1, 3600, &bs, &err) < 0) {
            LOGE("%s", sc_err_format(&err, msg, sizeof msg));
            return 2;
        }
        lim.max_conns = (int)conns;
        lim.max_client_conns = (int)cconns;
        lim.max_buffered = (size_t)mb << 20;
        lim.max_client_buffered = (size_t)cmb << 20;
        lim.header_s = (int)hs;
        lim.body_s = (int)bs;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "shardcron-console: libsodium failed to initialise\n");
        return 1;
    }
    char web[PATH_MAX];
    const char *w = cfg_str(cfg, "web");
    if (w && *w)
        snprintf(web, sizeof web, "%s", w);
    else
        default_web(web, sizeof web);
    if (web[0] && !realpath(web, c.web)) {
        LOGE("web: cannot open %s: %s", web, strerror(errno));
        return 2;
    }
    if (cfg_str(cfg, "zk_auth_file") &&
        !(auth = cfg_read_secret(cfg_str(cfg, "zk_auth_file"), &err))) {
        LOGE("%s", sc_err_format(&err, msg, sizeof msg));
        return 2;
    }
    struct db_url url;
    const char *mysql = cfg_str(cfg, "mysql");
    if (mysql && *mysql) {
        if (db_url_parse(mysql, &url, &err) < 0 ||
            (cfg_str(cfg, "mysql_password_file") &&
             !(pw = cfg_read_secret(cfg_str(cfg, "mysql_password_file"), &err)))) {
            LOGE("%s", sc_err_format(&err, msg, sizeof msg));
            free(auth);
            return 2;
        }
    }
    if (cfg_str(cfg, "admin_password_file")) {
        char *apw = NULL;
        if (!mysql || !*mysql) {
            LOGE("admin_password_file: needs --mysql (the users live in app_user)");
            free(pw);
            free(auth);
            return 2;
        }
        int arc = (apw = cfg_read_secret(cfg_str(cfg, "admin_password_file"), &err))
                      ? auth_first_admin(&url, pw, apw, &err)
                      : -EINVAL;
        if (apw) {
            sodium_memzero(apw, strlen(apw));
            free(apw);
        }
        if (arc < 0) {
            LOGE("%s", sc_err_format(&err, msg, sizeof msg));
            free(pw);
            free(auth);
            return arc == -EINVAL ? 2 : 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    c.base = event_base_new();
    if (!c.base)
        goto out;
    c.http = http_listen(c.base, cfg_str(cfg, "listen"), &lim, &c.port, &err);
    if (!c.http) {
        LOGE("%s", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    http_set_handler(c.http, api_handle, &c);
    if (mysql && *mysql && dbpool_new(c.base, &url, pw, 3, &c.db, &err) < 0) {
        LOGE("%s", sc_err_format(&err, msg, sizeof msg));
        goto out;
    }
    if (auth_start(&c, cfg, mysql && *mysql ? &url : NULL, pw, &err) < 0) {
        LOGE("%s", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    if (api_wf_start(&c, cfg, auth, &err) < 0) {
        LOGE("%s", sc_err_format(&err, msg, sizeof msg));
        goto out;
    }
    struct zkreg_opts zo = {
        .hosts = cfg_str(cfg, "zk"),
        .ns = cfg_str(cfg, "namespace"),
        .session_timeout_ms = 10000,
        .auth = auth,
        .on_state = on_state,
        .on_watch = on_watch,
        .ctx = &c,
    };
    zkview_init(&c.view, NULL);
    if (zkreg_open(c.base, &zo, &c.z, &err) < 0) {
        LOGE("%s", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    c.view.z = c.z;
    c.ev_term = evsignal_new(c.base, SIGTERM, term_cb, &c);
    c.ev_int = evsignal_new(c.base, SIGINT, term_cb, &c);
    c.ev_sweep = event_new(c.base, -1, EV_PERSIST, sweep_cb, &c);
    struct timeval minute = {60, 0};
    if (!c.ev_term || !c.ev_int || !c.ev_sweep)
        goto out;
    event_add(c.ev_term, NULL);
    event_add(c.ev_int, NULL);
    event_add(c.ev_sweep, &minute);
    LOGN("console listening on port %d: zk %s namespace %s, web %s, mysql %s", c.port,
         cfg_str(cfg, "zk"), cfg_str(cfg, "namespace"), c.web[0] ? c.web : "(none)",
         c.db ? "yes" : "no (no logins)");
    {
        /* Tests and scripts read the bound port here when --listen used port 0. */
        const char *pf = getenv("SHARDCRON_CONSOLE_PORT_FILE");
        FILE *f = pf ? fopen(pf, "w") : NULL;
        if (f) {
            fprintf(f, "%d\n", c.port);
            fclose(f);
        }
    }
    event_base_dispatch(c.base);
    rc = 0;
    LOGN("console stopped");
out:
    /* Workers first: their done callbacks reply to requests evhttp still owns.
     * The workflow workers before the history pool: their done callbacks
     * audit through it. */
    api_wf_stop(&c);
    dbpool_free(c.db);
    c.db = NULL; /* an audit from auth_stop's callbacks is skipped, not sent to a freed pool */
    auth_stop(&c);
    http_server_free(c.http);
    if (c.z)
        zkreg_close(c.z);
    zkview_clear(&c.view);
    free(c.list.hits);
    for (int i = 0; i < CONSOLE_PAGES; i++)
        free(c.pages[i].body);
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&c.sessions, &it, &k, &v);)
        free(v);
    strmap_free(&c.sessions);
    for (size_t it = 0; strmap_next(&c.zones, &it, &k, &v);)
        tz_free(v);
    strmap_free(&c.zones);
    for (size_t it = 0; strmap_next(&c.throttle, &it, &k, &v);)
        free(v);
    strmap_free(&c.throttle);
    if (c.ev_term)
        event_free(c.ev_term);
    if (c.ev_int)
        event_free(c.ev_int);
    if (c.ev_sweep)
        event_free(c.ev_sweep);
    if (c.base)
        event_base_free(c.base);
    if (pw) {
        sodium_memzero(pw, strlen(pw));
        free(pw);
    }
    free(auth);
    return rc;
}
