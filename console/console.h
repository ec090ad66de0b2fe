/* console/console.h: shardcron-console's server — one libevent loop serving the
 * JSON API (/api/v1, console/api*.c), the web pages (console/static.c) and
 * /metrics, over the ZooKeeper cache (console/zkview.c) and MySQL through a
 * worker pool (console/dbpool.c). Sessions and roles: console/auth.c.
 *
 * Everything in struct console belongs to the loop thread. */
#ifndef SC_CONSOLE_H
#define SC_CONSOLE_H

#include <event2/http.h>
#include <stdbool.h>
#include <stdint.h>

#include "console/dbpool.h"
#include "console/zkview.h"
#include "core/config.h"
#include "core/http.h"
#include "core/strmap.h"
#include "core/tz.h"

#define CONSOLE_MAX_BODY (4u << 20) /* request body cap (import documents) */
#define CONSOLE_SESSION_S 43200     /* session lifetime */
#define CONSOLE_PAGES 64            /* job list pages kept serialized (api.c) */

enum console_role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN };

struct console_session {
    char id[65];    /* 256 random bits, hex */
    char csrf[65];  /* 256 random bits, hex */
    char user[65];  /* as the database spells it */
    char stamp[32]; /* the user row's updated_at at login (sql/users.h) */
    enum console_role role;
    int64_t expires_ms;
};

struct console {
    struct event_base *base;
    struct http_server *http;
    struct zkreg *z;
    struct zkview view;
    struct dbpool *db;      /* NULL without --mysql: history routes, audit */
    struct dbpool *auth_db; /* NULL without --mysql: the user store (auth.c) */
    struct dbpool *hash_db; /* NULL without --mysql: argon2, no connection (auth.c) */
    struct console_wf *wf;  /* the workflow routes' workers and sessions (api_wf.c) */
    char **hosts;           /* allowed Host names (allowed_hosts) */
    size_t nhosts;
    bool secure_cookie;     /* secure_cookies: served over HTTPS through a proxy */
    struct event *ev_users; /* user_check_ms: sessions against app_user (auth.c) */
    struct strmap sessions; /* id -> struct console_session */
    struct strmap zones;    /* name -> tz_zone (loaded once) */
    struct strmap throttle; /* "u:NAME" / "ip:ADDR" -> struct auth_throttle (failed logins) */
    char web[4096];         /* realpath of the web directory, "" when none */
    int port;
    int64_t started_ms;
    struct event *ev_term, *ev_int, *ev_sweep;
    /* the last job list query (search + sort), reused while nothing changed, so
     * paging through one result costs one filter and one sort */
    struct {
        char q[256];
        char sort[16];
        uint64_t at; /* view.job_changes it was built at */
        struct zkview_job **hits;
        size_t n;
        bool valid;
    } list;
    /* Serialized job list replies by (q, sort, page, limit): a hit costs one copy
     * of the body, not 50 summaries and a JSON print. Valid while the jobs and the
     * snapshot are unchanged (gen) and until the earliest next fire on the page. */
    struct console_page {
        char key[300];
        char *body; /* owned */
        size_t len;
        uint64_t gen;  /* view.job_changes + view.snap_changes when built */
        int64_t until; /* epoch s: rebuilt from then on */
        uint64_t used; /* LRU clock */
    } pages[CONSOLE_PAGES];
    uint64_t page_clock, page_hits, page_misses;
    /* metrics */
    uint64_t requests, replies_4xx, replies_5xx, logins_ok, logins_failed, zk_writes,
        zk_write_errors, static_files, logins_busy;
};

/* Per-request context of an API call (the caller's; freed by api_done). */
struct creq {
    struct console *c;
    struct evhttp_request *req;
    struct console_session sess; /* copy: the user making the request */
    char *seg[6];                /* path segments after /api/v1, decoded */
    int nseg;
    char *path;              /* owns the segment storage */
    struct evkeyvalq *query; /* parsed query string */
    char *body;              /* NUL-terminated, may be "" */
    size_t blen;
};

/* console_run: the daemon (console/main.c). Returns the exit status. */
int console_run(const struct cfg *cfg);

/* console/api.c: the router (evhttp generic callback). */
void api_handle(struct evhttp_request *req, void *arg);
/* console/static.c: GET/HEAD of the web pages. */
void static_serve(struct console *c, struct evhttp_request *req, const char *path);

/* console/api_cal.c: the calendar routes and the job preview. */
void api_cal_list(struct creq *r);
void api_cal_get(struct creq *r, const char *name);
void api_cal_put(struct creq *r, const char *name);
void api_cal_delete(struct creq *r, const char *name);
void api_job_preview(struct creq *r, const char *name);
/* api_cal_sched: the calendar `name` (cached) with rule and shift names
 * (NULL or "": the defaults) into cs; "" name: no calendar. A negative errno
 * after replying 400 naming the field. */
struct cal_sched;
int api_cal_sched(struct creq *r, const char *name, const char *rule, const char *shift,
                  struct cal_sched *cs);

/* console/auth.c */
/* auth_start: the Host allow-list (allowed_hosts, else the listen address and
 * this host's names), secure_cookies, and with url the user-store and hash pools. 0 or an error
 * naming the setting. auth_stop frees them (first, with the other pool: its
 * done callbacks reply to requests). */
int auth_start(struct console *c, const struct cfg *cfg, const struct db_url *url,
               const char *db_password, struct sc_err *err);
void auth_stop(struct console *c);
/* auth_host_ok: the request's Host is allowed; else replies 421 and returns
 * false (DNS rebinding: a page of another site reaching us by a name of its own). */
bool auth_host_ok(struct console *c, struct evhttp_request *req);
/* auth_need: the request's session must exist (else 401) and have `role` (else
 * 403); for writes, X-CSRF-Token must match (else 403). Replies itself and
 * returns false when refused; fills r->sess when allowed. Called by the
 * router's table (api.c), not by handlers. */
bool auth_need(struct creq *r, enum console_role role, bool write);
void auth_login(struct creq *r);
void auth_logout(struct creq *r);
void auth_whoami(struct creq *r);
/* auth_users: GET /users (list), PUT|DELETE /users/{name}. */
void auth_users(struct creq *r, const char *name);
/* auth_end_sessions: end every session of `user` (exact name); how many. */
int auth_end_sessions(struct console *c, const char *user);
/* auth_sweep: every minute: expired sessions and throttles go. (Sessions whose
 * user was deleted, disabled or changed outside the console end on auth.c's own
 * timer, every user_check_ms.) */
void auth_sweep(struct console *c);
/* auth_first_admin: at start-up (blocking, before the loop runs): when app_user
 * has no enabled admin, create user "admin" with this password (argon2id). */
int auth_first_admin(const struct db_url *url, const char *db_password, const char *admin_pw,
                     struct sc_err *err);
const char *auth_role_name(enum console_role r);
/* audit: record a write in audit_log (off the loop; best effort, logged on
 * failure). before/after may be NULL; copied. */
void audit(struct console *c, const char *user, const char *action, const char *object_type,
           const char *object, const char *before, const char *after);

/* console/api_hist.c: routes over MySQL, export and import. */
void api_executions(struct creq *r);
void api_execution(struct creq *r, const char *id);
void api_alerts(struct creq *r);
/* console/api_alert.c: acknowledgement and silence */
void api_alert_ack(struct creq *r, const char *id);
void api_alert_silence(struct creq *r, const char *id);
void api_alert_link(struct creq *r, bool confirm);
void api_alert_events(struct creq *r);
void api_stats(struct creq *r);
void api_latest(struct creq *r);
void api_export(struct creq *r);
void api_import(struct creq *r);

/* console/api_wf.c: the workflow routes; their ZooKeeper work runs on a
 * pool of its own (requests to the driver wait for its answer). start: 0 or
 * an error; stop: before the HTTP server is freed (done callbacks reply). */
int api_wf_start(struct console *c, const struct cfg *cfg, const char *auth, struct sc_err *err);
void api_wf_stop(struct console *c);
/* console/api_pause.c: GET|POST /pauses, DELETE /pauses/{id} */
void api_pauses_list(struct creq *r);
void api_pause_post(struct creq *r);
void api_pause_delete(struct creq *r, const char *id);
void api_wf_list(struct creq *r);
void api_wf_get(struct creq *r, const char *name);
void api_wf_put(struct creq *r, const char *name);
void api_wf_delete(struct creq *r, const char *name);
void api_wf_enable(struct creq *r, const char *name, bool on);
void api_wf_trigger(struct creq *r, const char *name);
void api_wf_runs(struct creq *r, const char *name);
void api_wf_backfill(struct creq *r, const char *name);
void api_run_get(struct creq *r, const char *id);
/* api_run_def: the definition the run was created with (ZooKeeper's runs). */
void api_run_def(struct creq *r, const char *id);
/* api_run_items: ?task=T: the task's items that ended, every attempt. */
void api_run_items(struct creq *r, const char *id);
/* api_run_op: op "clear", "mark" or "cancel". */
void api_run_op(struct creq *r, const char *id, const char *op);

/* console_job_from: validate a job object for `name` (its name is added when
 * absent and must match when present; the zone must load). 0 with *out the
 * caller's, or -EINVAL with err naming the field. `o` may be modified. */
int console_job_from(struct console *c, cJSON *o, const char *name, struct job **out,
                     struct sc_err *err);
/* console_delete_job: delete /jobs/<name> (at `version`, -1 = any) with its
 * triggers; done(rc) runs on the loop thread with a ZooKeeper code. */
int console_delete_job(struct console *c, const char *name, int version,
                       void (*done)(struct console *c, int rc, void *arg), void *arg);

/* creq helpers (api.c) */
void creq_free(struct creq *r);
void creq_error(struct creq *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void creq_json(struct creq *r, int code, cJSON *o); /* consumes o, frees r */
/* creq_send: a body already printed (304: none); frees r. */
void creq_send(struct creq *r, int code, const char *ctype, const char *body, size_t len);
const char *creq_arg(const struct creq *r, const char *key);
/* creq_version: the version a write expects, from If-Match ("3" or "\"3\""),
 * ?version= or the body's "version"; -2 when absent, -3 after replying 400. */
int creq_version(struct creq *r, const cJSON *body);
const tz_zone *console_zone(struct console *c, const char *name, struct sc_err *err);
int64_t console_now_ms(void);

#endif
