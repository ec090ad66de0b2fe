/* agent/agent.c: shardcron-agent's runtime: settings -> event loop with the
 * coordination state machine, the status/metrics HTTP endpoint and the
 * scheduler; clean shutdown on SIGTERM.
 *
 * Sections: state; coordination callbacks; HTTP; start-up and shutdown. */
#define LOG_CAT "shardcron.agent"
#include "agent/agent.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/http.h"
#include "core/log.h"
#include "registry/coord.h"

/* ---------------------------------------------------------------- state */

struct agent {
    struct event_base *base;
    struct coord *coord;
    struct evhttp *http;
    struct event *ev_term, *ev_int;
    char id[129];
    int exit_code;
    bool stopping;
};

/* ---------------------------------------------------------------- coordination callbacks */

static void on_change(void *ctx)
{
    struct agent *a = ctx;
    (void)a; /* the scheduler re-reads the owned items here */
}

static void on_lost(void *ctx)
{
    struct agent *a = ctx;
    (void)a;
    LOGW("session lost: every running execution is killed and every item dropped");
}

static void on_fatal(void *ctx, const char *why)
{
    struct agent *a = ctx;
    fprintf(stderr, "shardcron-agent: %s\n", why);
    a->exit_code = 3;
    event_base_loopexit(a->base, NULL);
}

static bool is_running(void *ctx, const char *job, int item)
{
    (void)ctx, (void)job, (void)item;
    return false;
}

/* ---------------------------------------------------------------- HTTP */

static void status_cb(struct evhttp_request *req, void *arg)
{
    struct agent *a = arg;
    cJSON *o = cJSON_CreateObject();
    coord_status(a->coord, o);
    cJSON_AddObjectToObject(o, "running");
    http_reply_json(req, 200, o);
    cJSON_Delete(o);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
    struct agent *a = arg;
    struct coord_stats s;
    char buf[4096];
    coord_stats(a->coord, &s);
    enum zkreg_state st = zkreg_state(coord_zk(a->coord));
    int n = snprintf(
        buf, sizeof buf,
        "# TYPE shardcron_agent_leader gauge\nshardcron_agent_leader %d\n"
        "# TYPE shardcron_agent_epoch gauge\nshardcron_agent_epoch %lld\n"
        "# TYPE shardcron_agent_applied_epoch gauge\nshardcron_agent_applied_epoch %lld\n"
        "# TYPE shardcron_agent_owned_items gauge\nshardcron_agent_owned_items %lld\n"
        "# TYPE shardcron_agent_pending_items gauge\nshardcron_agent_pending_items %lld\n"
        "# TYPE shardcron_agent_draining_items gauge\nshardcron_agent_draining_items %lld\n"
        "# TYPE shardcron_agent_jobs gauge\nshardcron_agent_jobs %lld\n"
        "# TYPE shardcron_agent_invalid_jobs gauge\nshardcron_agent_invalid_jobs %lld\n"
        "# TYPE shardcron_agent_agents_alive gauge\nshardcron_agent_agents_alive %lld\n"
        "# TYPE shardcron_agent_clock_skew_ms gauge\nshardcron_agent_clock_skew_ms %lld\n"
        "# TYPE shardcron_agent_epochs_applied_total counter\n"
        "shardcron_agent_epochs_applied_total %lld\n"
        "# TYPE shardcron_agent_publishes_total counter\nshardcron_agent_publishes_total %lld\n"
        "# TYPE shardcron_agent_deposed_total counter\nshardcron_agent_deposed_total %lld\n"
        "# TYPE shardcron_agent_sessions_lost_total counter\n"
        "shardcron_agent_sessions_lost_total %lld\n"
        "# TYPE shardcron_agent_session_state gauge\n"
        "shardcron_agent_session_state{state=\"connected\"} %d\n"
        "shardcron_agent_session_state{state=\"suspended\"} %d\n",
        coord_is_leader(a->coord), (long long)coord_epoch(a->coord),
        (long long)coord_applied_epoch(a->coord), (long long)s.owned_items,
        (long long)s.pending_items, (long long)s.draining_items, (long long)s.jobs,
        (long long)s.invalid_jobs, (long long)s.agents_alive, (long long)s.skew_ms,
        (long long)s.epochs_applied, (long long)s.publishes, (long long)s.deposed,
        (long long)s.sessions_lost, st == ZKREG_CONNECTED, st == ZKREG_SUSPENDED);
    http_reply_text(req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
}

static void notfound_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    http_reply_error(req, 404, "", "no such endpoint (try /status or /metrics)");
}

/* ---------------------------------------------------------------- start-up and shutdown */

static void term_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    (void)what;
    if (a->stopping)
        return;
    a->stopping = true;
    LOGN("signal %d: shutting down", (int)sig);
    event_base_loopexit(a->base, NULL);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0750) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(buf, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* split_labels: "a,b" -> array (the caller frees the array and *store). */
static const char **split_labels(const char *s, int *n, char **store)
{
    const char **v = calloc(strlen(s) / 2 + 2, sizeof *v);
    *n = 0;
    *store = strdup(s);
    if (!v || !*store)
        return v;
    for (char *save = NULL, *t = strtok_r(*store, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t)
            v[(*n)++] = t;
    return v;
}

int agent_run(const struct cfg *c)
{
    struct agent a = {0};
    struct sc_err err;
    char host[256], msg[512], *label_store = NULL;
    long long capacity, timeout_ms, skew_ms;
    int nlabels = 0, port = 0, rc = 1;
    char *auth = NULL;
    const char **labels = NULL;

    sc_err_clear(&err);
    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(a.id, sizeof a.id, "%.128s", cfg_str(c, "id") ? cfg_str(c, "id") : host);
    if (cfg_int(c, "capacity", 1, 100000, &capacity, &err) < 0 ||
        cfg_int(c, "session_timeout_ms", 400, 600000, &timeout_ms, &err) < 0 ||
        cfg_int(c, "max_clock_skew_ms", 1, 3600000, &skew_ms, &err) < 0) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        return 2;
    }
    const char *work = cfg_str(c, "work_dir");
    if (mkdir_p(work) < 0) {
        fprintf(stderr, "shardcron-agent: work_dir: cannot create %s: %s\n", work, strerror(errno));
        return 2;
    }
    if (cfg_str(c, "zk_auth_file") && !(auth = cfg_read_secret(cfg_str(c, "zk_auth_file"), &err))) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        return 2;
    }
    labels = split_labels(cfg_str(c, "labels") ? cfg_str(c, "labels") : "", &nlabels, &label_store);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    a.base = event_base_new();
    if (!a.base || !labels)
        goto out;
    a.http = http_listen(a.base, cfg_str(c, "http"), 64 * 1024, &port, &err);
    if (!a.http) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    evhttp_set_cb(a.http, "/status", status_cb, &a);
    evhttp_set_cb(a.http, "/metrics", metrics_cb, &a);
    evhttp_set_gencb(a.http, notfound_cb, &a);
    {
        char path[4200];
        snprintf(path, sizeof path, "%s/http.port", work);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
        }
    }
    struct zkreg_opts zo = {
        .hosts = cfg_str(c, "zk"),
        .ns = cfg_str(c, "namespace"),
        .session_timeout_ms = (int)timeout_ms,
        .auth = auth,
    };
    struct coord_opts co = {
        .id = a.id,
        .host = host,
        .labels = labels,
        .nlabels = nlabels,
        .capacity = (int)capacity,
        .max_clock_skew_ms = (int)skew_ms,
        .on_change = on_change,
        .on_lost = on_lost,
        .on_fatal = on_fatal,
        .is_running = is_running,
        .ctx = &a,
    };
    if (coord_open(a.base, &zo, &co, &a.coord, &err) < 0) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    a.ev_term = evsignal_new(a.base, SIGTERM, term_cb, &a);
    a.ev_int = evsignal_new(a.base, SIGINT, term_cb, &a);
    event_add(a.ev_term, NULL);
    event_add(a.ev_int, NULL);
    LOGN("agent %s started: zk %s namespace %s, http 127.0.0.1:%d, capacity %lld, labels %s", a.id,
         cfg_str(c, "zk"), cfg_str(c, "namespace"), port, capacity,
         cfg_str(c, "labels") ? cfg_str(c, "labels") : "");
    event_base_dispatch(a.base);
    rc = a.exit_code;
    LOGN("agent %s stopped", a.id);
out:
    /* Closing the session removes our record and election node at once, so the
     * leader moves our items without waiting for a session timeout. */
    coord_close(a.coord);
    if (a.http)
        evhttp_free(a.http);
    if (a.ev_term)
        event_free(a.ev_term);
    if (a.ev_int)
        event_free(a.ev_int);
    if (a.base)
        event_base_free(a.base);
    free(labels);
    free(label_store);
    free(auth);
    return rc;
}
