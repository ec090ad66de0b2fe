/* agent/javaw.c: warm JVM workers (see javaw.h).
 *
 * Owns the workers (one process each, keyed by classpath, class and JVM
 * options), their sockets and buffers, and every Java execution in flight.
 * stdin and stdout of a worker are socketpairs rather than pipes so that a
 * write to a dead worker fails with EPIPE (MSG_NOSIGNAL) instead of raising
 * SIGPIPE in the agent. */
#define LOG_CAT "shardcron.exec"
#include "agent/javaw.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/watchdog.h"
#include "core/json.h"
#include "core/log.h"

#define MAX_BACKOFF_MS 60000
#define MAX_ARGS 64

enum wstate { W_IDLE, W_STARTING, W_READY, W_DOWN };

struct worker {
    struct javaw_pool *p;
    struct worker *next;
    char *classpath, *class_name, *jvm_opts;
    enum wstate state;
    pid_t pid;
    int in_fd, out_fd;
    struct event *ev_in, *ev_out, *ev_ping, *ev_start, *ev_restart;
    struct evbuffer *wbuf, *rbuf;
    int64_t ping_sent; /* monotonic ms of the unanswered ping, 0 = none */
    unsigned ping_seq;
    int backoff_ms;
    bool fatal;    /* the class cannot be used: restart only on demand */
    pid_t guarded; /* the group listed with the watchdog, 0 none */
    char down_reason[300];
    struct javaw_exec *execs;
};

struct javaw_exec {
    struct worker *w;
    struct javaw_exec *prev, *next;
    char id[EXEC_ID_LEN + 8];
    char *request; /* the run line, until sent */
    exec_done_cb cb;
    void *arg;
    struct event *ev_timeout, *ev_grace;
    enum exec_status forced; /* EXEC_TIMEOUT / EXEC_KILLED once decided, else EXEC_RUNNING */
    char reason[300];
    int timeout_ms;
    int64_t started_ms, started_mono;
    bool doomed; /* its worker died: fails once the callbacks run */
    bool wf;     /* a workflow run: its XCom files */
    struct exec_xcom xcom;
};

struct javaw_pool {
    struct event_base *base;
    struct exec_runner *reaper;
    struct javaw_opts o;
    char *java, *jar, *log_dir;
    struct worker *workers;
    int restarts;
};

static void worker_spawn(struct worker *w);
static void worker_kill(struct worker *w, const char *reason);

/* guard_update: the worker's group is listed with the watchdog exactly while
 * it is alive and holds an execution. */
static void guard_update(struct worker *w)
{
    struct watchdog *g = w->p->o.guard;
    if (!g)
        return;
    pid_t want = w->pid > 0 && w->execs ? w->pid : 0;
    if (w->guarded == want)
        return;
    if (w->guarded)
        watchdog_del(g, w->guarded);
    if (want)
        watchdog_add(g, want);
    w->guarded = want;
}

/* -------------------------------------------------------------- helpers */

static struct timeval ms_tv(int ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void exec_complete(struct javaw_exec *e, enum exec_status st, int exit_code,
                          const char *reason, const char *output)
{
    struct worker *w = e->w;
    if (e->prev)
        e->prev->next = e->next;
    else
        w->execs = e->next;
    if (e->next)
        e->next->prev = e->prev;
    guard_update(w);
    if (e->forced != EXEC_RUNNING) {
        st = e->forced;
        reason = e->reason;
    }
    struct exec_result res = {
        .status = st,
        .exit_code = exit_code,
        .pid = w->pid,
        .started_ms = e->started_ms,
        .finished_ms = exec_now_real_ms(),
        .duration_ms = exec_now_mono_ms() - e->started_mono,
        .output_bytes = output ? strlen(output) : 0,
        .output_tail = output ? output : "",
        .reason = reason ? reason : "",
    };
    if (st == EXEC_SUCCEEDED)
        w->backoff_ms = 0;
    char *xcom = NULL, why[300];
    if (e->wf && res.status == EXEC_SUCCEEDED) {
        if (exec_xcom_collect(&e->xcom, &xcom, why, sizeof why) < 0) {
            res.status = EXEC_FAILED;
            res.reason = why;
        } else {
            res.xcom = xcom;
        }
    }
    exec_xcom_close(&e->xcom);
    event_free(e->ev_timeout);
    event_free(e->ev_grace);
    e->ev_timeout = e->ev_grace = NULL;
    /* e is unlinked; freed after the callback because res may point into it. */
    e->cb(&res, e->arg);
    free(xcom);
    free(e->request);
    free(e);
}

/* ------------------------------------------------------------- protocol */

static void send_line(struct worker *w, const char *line)
{
    evbuffer_add(w->wbuf, line, strlen(line));
    evbuffer_add(w->wbuf, "\n", 1);
    event_add(w->ev_in, NULL);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    while (evbuffer_get_length(w->wbuf) > 0) {
        size_t n = evbuffer_get_contiguous_space(w->wbuf);
        ssize_t k = send(fd, evbuffer_pullup(w->wbuf, (ssize_t)n), n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        if (k <= 0) {
            /* The worker is going away; its exit is handled when it is reaped. */
            evbuffer_drain(w->wbuf, evbuffer_get_length(w->wbuf));
            break;
        }
        evbuffer_drain(w->wbuf, (size_t)k);
    }
    event_del(w->ev_in);
}

static void send_pending(struct worker *w)
{
    for (struct javaw_exec *e = w->execs; e; e = e->next)
        if (e->request) {
            send_line(w, e->request);
            free(e->request);
            e->request = NULL;
        }
}

static void handle_line(struct worker *w, const char *line, size_t len)
{
    struct sc_err err;
    cJSON *m = json_parse(line, len, &err);
    const char *ev = NULL;
    if (!m || json_get_str(m, "event", JSON_REQUIRED, &ev, &err) < 0) {
        LOGW("java worker %d (%s): unreadable line: %.*s", (int)w->pid, w->class_name,
             (int)(len > 200 ? 200 : len), line);
        cJSON_Delete(m);
        return;
    }
    if (!strcmp(ev, "ready")) {
        w->state = W_READY;
        event_del(w->ev_start);
        LOGI("java worker %d ready for %s", (int)w->pid, w->class_name);
        send_pending(w);
    } else if (!strcmp(ev, "pong")) {
        w->ping_sent = 0;
    } else if (!strcmp(ev, "fatal")) {
        const char *e = "unknown error";
        json_get_str(m, "error", JSON_OPTIONAL, &e, NULL);
        char why[240];
        snprintf(why, sizeof why, "java worker cannot run %s: %s", w->class_name, e);
        w->fatal = true;
        worker_kill(w, why);
    } else if (!strcmp(ev, "result")) {
        const char *id = NULL, *status = "failed", *error = NULL, *output = "";
        json_get_str(m, "id", JSON_OPTIONAL, &id, NULL);
        json_get_str(m, "status", JSON_OPTIONAL, &status, NULL);
        json_get_str(m, "error", JSON_OPTIONAL, &error, NULL);
        json_get_str(m, "output", JSON_OPTIONAL, &output, NULL);
        struct javaw_exec *e = w->execs;
        while (e && (!id || strcmp(e->id, id) != 0))
            e = e->next;
        if (e) {
            bool ok = !strcmp(status, "succeeded");
            exec_complete(e, ok ? EXEC_SUCCEEDED : EXEC_FAILED, ok ? 0 : 1, error ? error : "",
                          output);
        }
    }
    cJSON_Delete(m);
}

static void read_lines(struct worker *w)
{
    char *line;
    size_t n;
    while ((line = evbuffer_readln(w->rbuf, &n, EVBUFFER_EOL_LF))) {
        handle_line(w, line, n);
        free(line);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    int k = evbuffer_read(w->rbuf, fd, 65536);
    if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EINTR)))
        event_del(w->ev_out); /* EOF: the exit follows */
    read_lines(w);
}

/* -------------------------------------------------------------- workers */

static void worker_close(struct worker *w)
{
    if (w->ev_in)
        event_free(w->ev_in);
    if (w->ev_out)
        event_free(w->ev_out);
    w->ev_in = w->ev_out = NULL;
    if (w->in_fd >= 0)
        close(w->in_fd);
    if (w->out_fd >= 0)
        close(w->out_fd);
    w->in_fd = w->out_fd = -1;
    if (w->wbuf)
        evbuffer_drain(w->wbuf, evbuffer_get_length(w->wbuf));
    event_del(w->ev_ping);
    event_del(w->ev_start);
}

static void worker_kill(struct worker *w, const char *reason)
{
    if (!w->down_reason[0])
        snprintf(w->down_reason, sizeof w->down_reason, "%s", reason);
    if (w->pid > 0) {
        LOGW("killing java worker %d (%s): %s", (int)w->pid, w->class_name, reason);
        killpg(w->pid, SIGKILL);
    }
}

static void on_worker_exit(pid_t pid, int st, void *arg)
{
    struct worker *w = arg;
    /* Results written before the exit are still in the socket. */
    if (w->out_fd >= 0) {
        while (evbuffer_read(w->rbuf, w->out_fd, 65536) > 0)
            ;
        read_lines(w);
    }
    char why[300];
    if (w->down_reason[0])
        snprintf(why, sizeof why, "%s", w->down_reason);
    else if (WIFSIGNALED(st))
        snprintf(why, sizeof why, "java worker for %s died (signal %d)", w->class_name,
                 WTERMSIG(st));
    else
        snprintf(why, sizeof why, "java worker for %s exited with status %d", w->class_name,
                 WEXITSTATUS(st));
    LOGW("java worker %d: %s", (int)pid, why);
    worker_close(w);
    evbuffer_drain(w->rbuf, evbuffer_get_length(w->rbuf));
    w->pid = 0;
    guard_update(w);
    w->down_reason[0] = '\0';
    w->p->restarts++;
    w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : w->p->o.restart_backoff_ms;
    if (w->backoff_ms > MAX_BACKOFF_MS)
        w->backoff_ms = MAX_BACKOFF_MS;
    /* Down before the callbacks run: what they submit waits for the restart. */
    w->state = W_DOWN;
    struct timeval tv = ms_tv(w->backoff_ms);
    evtimer_add(w->ev_restart, &tv);
    for (struct javaw_exec *e = w->execs; e; e = e->next)
        e->doomed = true;
    for (;;) {
        struct javaw_exec *e = w->execs;
        while (e && !e->doomed)
            e = e->next;
        if (!e)
            break;
        exec_complete(e, EXEC_FAILED, -1, why, "");
    }
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    if (w->state != W_DOWN)
        return;
    w->state = W_IDLE;
    /* A class that cannot load is only retried when someone needs it. */
    if (!w->fatal || w->execs)
        worker_spawn(w);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    if (w->state != W_READY)
        return;
    int64_t now = exec_now_mono_ms();
    if (w->ping_sent && now - w->ping_sent > w->p->o.hang_ms) {
        char why[200];
        snprintf(why, sizeof why, "java worker for %s hung: no answer to a ping in %d ms",
                 w->class_name, w->p->o.hang_ms);
        worker_kill(w, why);
        return;
    }
    if (!w->ping_sent) {
        char line[64];
        snprintf(line, sizeof line, "{\"op\":\"ping\",\"seq\":%u}", ++w->ping_seq);
        w->ping_sent = now;
        send_line(w, line);
    }
}

static void on_start_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    char why[200];
    snprintf(why, sizeof why, "java worker for %s did not start within %d ms", w->class_name,
             w->p->o.start_timeout_ms);
    worker_kill(w, why);
}

static int split_opts(char *buf, char **argv, int max)
{
    int n = 0;
    for (char *tok = strtok(buf, " \t"); tok && n < max; tok = strtok(NULL, " \t"))
        argv[n++] = tok;
    return n;
}

/* worker_spawn: start the JVM; on failure the worker goes down (and its
 * executions fail) as if it had exited. */
static void worker_spawn(struct worker *w)
{
    struct javaw_pool *p = w->p;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, logfd = -1, rc = 0;
    char cp[8192], opts[1024], logpath[1024];
    char *argv[MAX_ARGS + 8];
    int argc = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) < 0) {
        rc = errno;
        goto fail;
    }
    if (p->log_dir) {
        char safe[200];
        size_t i = 0;
        for (; i < sizeof safe - 1 && w->class_name[i]; i++) {
            char c = w->class_name[i];
            safe[i] = (c == '/' || c == ' ') ? '_' : c;
        }
        safe[i] = '\0';
        snprintf(logpath, sizeof logpath, "%s/javaw-%s.log", p->log_dir, safe);
        logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    }
    if (logfd < 0)
        logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    snprintf(cp, sizeof cp, "%s%s%s", p->jar, w->classpath[0] ? ":" : "", w->classpath);
    snprintf(opts, sizeof opts, "%s", w->jvm_opts);
    argv[argc++] = p->java;
    argc += split_opts(opts, argv + argc, MAX_ARGS);
    argv[argc++] = "-cp";
    argv[argc++] = cp;
    argv[argc++] = "io.shardcron.Worker";
    argv[argc++] = w->class_name;
    argv[argc] = NULL;

    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[1], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    pid_t pid;
    rc = posix_spawnp(&pid, p->java, &fa, &at, argv, (char *const *)exec_base_env(p->reaper));
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        goto fail;
    close(in[1]);
    close(out[1]);
    close(logfd);
    evutil_make_socket_nonblocking(in[0]);
    evutil_make_socket_nonblocking(out[0]);
    w->pid = pid;
    w->in_fd = in[0];
    w->out_fd = out[0];
    w->ev_in = event_new(p->base, w->in_fd, EV_WRITE | EV_PERSIST, on_writable, w);
    w->ev_out = event_new(p->base, w->out_fd, EV_READ | EV_PERSIST, on_readable, w);
    w->state = W_STARTING;
    w->ping_sent = 0;
    guard_update(w);
    exec_watch_child(p->reaper, pid, on_worker_exit, w);
    event_add(w->ev_out, NULL);
    struct timeval st = ms_tv(p->o.start_timeout_ms), pi = ms_tv(p->o.ping_interval_ms);
    evtimer_add(w->ev_start, &st);
    event_add(w->ev_ping, &pi);
    LOGI("started java worker %d for %s", (int)pid, w->class_name);
    return;
fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    if (logfd >= 0)
        close(logfd);
    char why[300];
    snprintf(why, sizeof why, "cannot start java worker (%s): %s", p->java, strerror(rc));
    LOGE("%s", why);
    snprintf(w->down_reason, sizeof w->down_reason, "%s", why);
    w->fatal = true; /* retried when needed, not in a loop */
    /* Same path as an exit, so executions fail and a restart is scheduled. */
    on_worker_exit(0, 127 << 8, w);
}

static struct worker *worker_get(struct javaw_pool *p, const struct javaw_run *run)
{
    for (struct worker *w = p->workers; w; w = w->next)
        if (same(w->classpath, run->classpath) && same(w->class_name, run->class_name) &&
            same(w->jvm_opts, run->jvm_opts))
            return w;
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->p = p;
    w->in_fd = w->out_fd = -1;
    w->classpath = strdup(run->classpath ? run->classpath : "");
    w->class_name = strdup(run->class_name);
    w->jvm_opts = strdup(run->jvm_opts ? run->jvm_opts : "");
    w->wbuf = evbuffer_new();
    w->rbuf = evbuffer_new();
    w->ev_ping = event_new(p->base, -1, EV_PERSIST, on_ping, w);
    w->ev_start = evtimer_new(p->base, on_start_timeout, w);
    w->ev_restart = evtimer_new(p->base, on_restart, w);
    if (!w->classpath || !w->class_name || !w->jvm_opts || !w->wbuf || !w->rbuf || !w->ev_ping ||
        !w->ev_start || !w->ev_restart) {
        free(w->classpath);
        free(w->class_name);
        free(w->jvm_opts);
        if (w->wbuf)
            evbuffer_free(w->wbuf);
        if (w->rbuf)
            evbuffer_free(w->rbuf);
        if (w->ev_ping)
            event_free(w->ev_ping);
        if (w->ev_start)
            event_free(w->ev_start);
        if (w->ev_restart)
            event_free(w->ev_restart);
        free(w);
        return NULL;
    }
    w->next = p->workers;
    p->workers = w;
    return w;
}

/* ----------------------------------------------------------- executions */

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct javaw_exec *e = arg;
    if (e->request) {
        /* Stopped before it was sent: completes here, never inside the caller. */
        exec_complete(e, e->forced, -1, e->reason, "");
        return;
    }
    char why[240];
    snprintf(why, sizeof why,
             "java worker for %s restarted: execution %s did not stop within %d ms of its cancel",
             e->w->class_name, e->id, e->w->p->o.cancel_grace_ms);
    worker_kill(e->w, why);
}

static void stop_exec(struct javaw_exec *e, enum exec_status st, const char *reason)
{
    e->forced = st;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    event_del(e->ev_timeout);
    if (e->request) {
        /* Never sent (the worker is starting): nothing to interrupt. */
        struct timeval now = {0, 0};
        evtimer_add(e->ev_grace, &now);
        return;
    }
    char line[128];
    snprintf(line, sizeof line, "{\"op\":\"cancel\",\"id\":\"%s\"}", e->id);
    send_line(e->w, line);
    struct timeval tv = ms_tv(e->w->p->o.cancel_grace_ms);
    evtimer_add(e->ev_grace, &tv);
}

static void on_exec_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct javaw_exec *e = arg;
    char why[64];
    snprintf(why, sizeof why, "timeout after %d ms", e->timeout_ms);
    stop_exec(e, EXEC_TIMEOUT, why);
}

pid_t javaw_pid(const struct javaw_exec *e)
{
    return e->w->pid;
}

pid_t javaw_pid_of(const struct javaw_pool *p, const char *exec_id)
{
    for (const struct worker *w = p ? p->workers : NULL; w; w = w->next)
        for (const struct javaw_exec *e = w->execs; e; e = e->next)
            if (!strcmp(e->id, exec_id))
                return w->pid;
    return 0;
}

int javaw_cancel(struct javaw_exec *e, const char *reason)
{
    if (e->forced != EXEC_RUNNING)
        return -ESRCH;
    stop_exec(e, EXEC_KILLED, reason ? reason : "killed");
    return 0;
}

static char *build_request(const struct javaw_run *run, const struct exec_xcom *xcom)
{
    const struct exec_job_env *v = &run->env;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char num[4][24];
    snprintf(num[0], sizeof num[0], "%d", v->shard_item);
    snprintf(num[1], sizeof num[1], "%d", v->shard_total);
    snprintf(num[2], sizeof num[2], "%d", v->attempt > 0 ? v->attempt : 1);
    snprintf(num[3], sizeof num[3], "%lld", (long long)v->epoch);
    cJSON_AddStringToObject(o, "op", "run");
    cJSON_AddStringToObject(o, "id", v->execution_id ? v->execution_id : "");
    cJSON_AddStringToObject(o, "job", v->job ? v->job : "");
    cJSON_AddStringToObject(o, "shard_item", num[0]);
    cJSON_AddStringToObject(o, "shard_total", num[1]);
    cJSON_AddStringToObject(o, "shard_param", v->shard_param ? v->shard_param : "");
    cJSON_AddStringToObject(o, "job_param", v->job_param ? v->job_param : "");
    cJSON_AddStringToObject(o, "fire_time", v->fire_time ? v->fire_time : "");
    cJSON_AddStringToObject(o, "trigger", exec_trigger_name(v->trigger));
    cJSON_AddStringToObject(o, "attempt", num[2]);
    /* As in the shell environment: only when there is a fence. */
    if (v->fence && *v->fence) {
        cJSON_AddStringToObject(o, "fence", v->fence);
        cJSON_AddStringToObject(o, "epoch", num[3]);
    }
    const struct exec_wf *wf = run->wf;
    if (wf) {
        /* Flat, as the protocol is: params as "param.NAME". */
        cJSON_AddStringToObject(o, "workflow", wf->workflow ? wf->workflow : "");
        cJSON_AddStringToObject(o, "run_id", wf->run_id ? wf->run_id : "");
        cJSON_AddStringToObject(o, "task", wf->task ? wf->task : "");
        cJSON_AddStringToObject(o, "logical_time", wf->logical_time ? wf->logical_time : "");
        cJSON_AddStringToObject(o, "xcom_in", xcom->in_path);
        cJSON_AddStringToObject(o, "xcom_out", xcom->out_path);
        for (int k = 0; k < wf->nparams; k++) {
            char key[300];
            snprintf(key, sizeof key, "param.%s", wf->param_names[k]);
            cJSON_AddStringToObject(o, key, wf->param_values[k]);
        }
    }
    char *s = json_print(o);
    cJSON_Delete(o);
    return s;
}

int javaw_submit(struct javaw_pool *p, const struct javaw_run *run, exec_done_cb cb, void *arg,
                 struct javaw_exec **out, struct sc_err *err)
{
    if (!run->class_name || !*run->class_name)
        return sc_err_set(err, EINVAL, "java.class", -1, "is required");
    if (!run->env.execution_id || !*run->env.execution_id ||
        strlen(run->env.execution_id) >= sizeof((struct javaw_exec *)0)->id)
        return sc_err_set(err, EINVAL, "execution_id", -1, "is required (at most %d characters)",
                          EXEC_ID_LEN + 7);
    if (run->wf && run->wf->capture)
        return sc_err_set(err, ENOTSUP, "capture", -1,
                          "stdout capture (a branch task) is not supported for Java jobs: the "
                          "worker's output is shared by its runs");
    struct worker *w = worker_get(p, run);
    struct javaw_exec *e = w ? calloc(1, sizeof *e) : NULL;
    if (!e)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    e->w = w;
    e->cb = cb;
    e->arg = arg;
    e->timeout_ms = run->timeout_ms;
    snprintf(e->id, sizeof e->id, "%s", run->env.execution_id);
    if (run->wf) {
        int rc = exec_xcom_open(run->wf, run->env.execution_id, &e->xcom, err);
        if (rc < 0) {
            free(e);
            return rc;
        }
        e->wf = true;
    }
    e->request = build_request(run, &e->xcom);
    e->ev_timeout = evtimer_new(p->base, on_exec_timeout, e);
    e->ev_grace = evtimer_new(p->base, on_grace, e);
    if (!e->request || !e->ev_timeout || !e->ev_grace) {
        free(e->request);
        if (e->ev_timeout)
            event_free(e->ev_timeout);
        if (e->ev_grace)
            event_free(e->ev_grace);
        exec_xcom_close(&e->xcom);
        free(e);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    e->started_ms = exec_now_real_ms();
    e->started_mono = exec_now_mono_ms();
    e->next = w->execs;
    if (w->execs)
        w->execs->prev = e;
    w->execs = e;
    guard_update(w);
    if (run->timeout_ms > 0) {
        struct timeval tv = ms_tv(run->timeout_ms);
        evtimer_add(e->ev_timeout, &tv);
    }
    if (out)
        *out = e;
    if (w->state == W_READY) {
        send_pending(w);
    } else if (w->state == W_IDLE) {
        /* Spawned from the loop, so a failure never calls back inside submit. */
        w->state = W_DOWN;
        struct timeval now = {0, 0};
        evtimer_add(w->ev_restart, &now);
    }
    return 0;
}

/* ---------------------------------------------------------------- pool */

int javaw_pool_new(struct event_base *base, struct exec_runner *reaper,
                   const struct javaw_opts *opts, struct javaw_pool **out)
{
    if (!opts || !opts->jar)
        return -EINVAL;
    struct javaw_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->base = base;
    p->reaper = reaper;
    p->o = *opts;
    p->java = strdup(opts->java ? opts->java : "java");
    p->jar = strdup(opts->jar);
    p->log_dir = opts->log_dir ? strdup(opts->log_dir) : NULL;
    if (!p->java || !p->jar || (opts->log_dir && !p->log_dir)) {
        javaw_pool_free(p);
        return -ENOMEM;
    }
    if (p->o.ping_interval_ms <= 0)
        p->o.ping_interval_ms = 5000;
    if (p->o.hang_ms <= 0)
        p->o.hang_ms = 15000;
    if (p->o.cancel_grace_ms <= 0)
        p->o.cancel_grace_ms = 5000;
    if (p->o.restart_backoff_ms <= 0)
        p->o.restart_backoff_ms = 1000;
    if (p->o.start_timeout_ms <= 0)
        p->o.start_timeout_ms = 30000;
    *out = p;
    return 0;
}

void javaw_pool_free(struct javaw_pool *p)
{
    if (!p)
        return;
    while (p->workers) {
        struct worker *w = p->workers;
        p->workers = w->next;
        if (w->pid > 0) {
            killpg(w->pid, SIGKILL);
            exec_unwatch_child(p->reaper, w->pid);
            if (w->guarded && p->o.guard)
                watchdog_del(p->o.guard, w->guarded);
            while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        worker_close(w);
        while (w->execs) {
            struct javaw_exec *e = w->execs;
            w->execs = e->next;
            event_free(e->ev_timeout);
            event_free(e->ev_grace);
            exec_xcom_close(&e->xcom);
            free(e->request);
            free(e);
        }
        event_free(w->ev_ping);
        event_free(w->ev_start);
        event_free(w->ev_restart);
        evbuffer_free(w->wbuf);
        evbuffer_free(w->rbuf);
        free(w->classpath);
        free(w->class_name);
        free(w->jvm_opts);
        free(w);
    }
    free(p->java);
    free(p->jar);
    free(p->log_dir);
    free(p);
}

int javaw_workers(const struct javaw_pool *p)
{
    int n = 0;
    for (const struct worker *w = p->workers; w; w = w->next)
        n += w->pid > 0;
    return n;
}

int javaw_restarts(const struct javaw_pool *p)
{
    return p->restarts;
}
