/* agent/exec.c: the process runner (shell adapter).
 *
 * Owns the SIGCHLD event of its loop, a table pid -> watcher for every child
 * it reaps, each running execution (struct exec_proc): its pipe, its timers,
 * its log file and its in-memory tails; and, when configured, the spawner
 * threads with their two queues (requests in, spawned pids out through an
 * eventfd); and the held executions of pre-armed starts (their own list, each
 * with the write end of its gate socket); for a workflow run, its XCom files
 * and its captured stdout. Spawner threads only ever read a
 * struct spawn_req; every exec_proc is touched by the loop thread alone. See
 * exec.h for the contract. */
#define LOG_CAT "shardcron.exec"
#include "agent/exec.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/watchdog.h"
#include "core/json.h"
#include "core/log.h"

extern char **environ;

#define CHILD_BUCKETS 1024
#define READ_CHUNK 65536
#define READS_PER_WAKE 8
#define GATE_FD 3 /* where agent/gate/gate.c reads its go byte */
/* What a held shell runs if the gate library was not loaded: nothing of the job. */
#define GATE_PLACEHOLDER "exit 126"

struct child_ent {
    pid_t pid;
    exec_child_cb cb;
    void *arg;
    struct child_ent *next;
};

/* A spawn handed to a spawner thread; the thread reads only these fields. */
struct spawn_req {
    struct exec_proc *p; /* touched by the loop only */
    char *cwd, *command;
    bool held; /* a held start: argv is the gate's placeholder */
    char **envp;
    int out_w;
    int cap_w;  /* stdout apart (a captured workflow run), -1 when not */
    int gate_r; /* read end of the gate socket, -1 when not held */
    pid_t pid;
    int64_t spawned_ms; /* wall clock when posix_spawn returned */
    int err;            /* errno of posix_spawn, 0 on success */
    struct spawn_req *next;
};

struct orphan {
    pid_t pid;
    int status;
};

struct exec_runner {
    struct event_base *base;
    struct event *sigchld;
    struct exec_runner_opts opts;
    char **base_env; /* sanitized, owned */
    size_t n_base_env;
    struct child_ent *children[CHILD_BUCKETS];
    struct exec_proc *procs; /* running executions, doubly linked */
    int n_running;
    struct exec_proc *held_procs; /* pre-armed executions not released yet */
    int n_held;
    char *gate_path; /* owned copy of opts.gate_path */
    /* spawner threads (opts.spawn_threads > 0) */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    struct spawn_req *todo_head, *todo_tail; /* loop -> threads */
    struct spawn_req *done_head, *done_tail; /* threads -> loop */
    int efd;
    struct event *ev_spawned;
    int n_spawning;
    /* children reaped before their spawn was reported back to the loop */
    struct orphan *orphans;
    int n_orphans, cap_orphans;
};

struct exec_proc {
    struct exec_runner *r;
    struct exec_proc *prev, *next;
    pid_t pid;
    int out_fd; /* read end of the output pipe, -1 after EOF */
    struct event *ev_out;
    struct event *ev_timeout;
    struct event *ev_grace;
    int log_fd; /* -1 when output is discarded */
    /* Output capture: the first `head_cap` bytes go to the file as they come;
     * the rest pass through `ring` (the last `ring_cap` bytes), written at the
     * end after a marker line when anything was cut. */
    uint64_t total;
    uint64_t head_written;
    char *ring;
    size_t ring_cap, ring_pos;
    uint64_t ring_fill; /* bytes ever put into the ring */
    char tail[EXEC_TAIL_MAX];
    size_t tail_pos;
    uint64_t tail_fill;
    enum exec_status status; /* EXEC_RUNNING until reaped, or TIMEOUT/KILLED once decided */
    int timeout_ms;
    char reason[400];
    int64_t started_ms, started_mono;
    bool spawning; /* handed to a spawner thread; pid not known yet */
    /* Pre-armed (exec_prepare): in r->held_procs until released or freed. */
    bool held;
    bool gone;      /* held, and its process exited or never started */
    bool cancelled; /* held, cancelled: freed once its process is reaped */
    int gate_fd;    /* write end of the gate socket, -1 when not held */
    char *log_path; /* held only: removed when cancelled */
    /* A workflow run: its XCom files, and its stdout kept apart when captured
     * (cap_fd the read end, -1 after EOF; cap_total counts past the cap). */
    bool wf;
    struct exec_xcom xcom;
    int cap_fd;
    struct event *ev_cap;
    char *cap;
    size_t cap_len;
    uint64_t cap_total;
    exec_done_cb cb;
    void *arg;
};

/* ---------------------------------------------------------------- helpers */

int64_t exec_now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t exec_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *exec_status_name(enum exec_status s)
{
    switch (s) {
    case EXEC_RUNNING:
        return "running";
    case EXEC_SUCCEEDED:
        return "succeeded";
    case EXEC_FAILED:
        return "failed";
    case EXEC_TIMEOUT:
        return "timeout";
    case EXEC_KILLED:
        return "killed";
    }
    return "unknown";
}

const char *exec_trigger_name(enum exec_trigger t)
{
    static const char *const names[] = {"cron", "manual", "failover", "misfire", "retry"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "cron";
}

void exec_new_id(char *buf)
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Never happens after boot; fall back to a weaker source rather than abort. */
            for (; got < sizeof b; got++)
                b[got] = (unsigned char)(rand() ^ (exec_now_mono_ms() >> (got % 8)));
            break;
        }
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    static const char hex[] = "0123456789abcdef";
    char *p = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
}

void exec_format_time(int64_t t, int offset_s, char *buf, size_t len)
{
    time_t local = (time_t)(t + offset_s);
    struct tm tm;
    gmtime_r(&local, &tm);
    int off = offset_s < 0 ? -offset_s : offset_s;
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, offset_s < 0 ? '-' : '+', off / 3600,
             (off % 3600) / 60);
}

static int name_has(const char *name, size_t len, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= len; i++)
        if (strncasecmp(name + i, word, wl) == 0)
            return 1;
    return 0;
}

int exec_env_secret(const char *name, size_t len)
{
    static const char *const words[] = {"PASSWORD",   "PASSWD",  "SECRET", "TOKEN",
                                        "CREDENTIAL", "PRIVATE", "APIKEY", "API_KEY"};
    if (len >= 10 && strncmp(name, "SHARDCRON_", 10) == 0)
        return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (name_has(name, len, words[i]))
            return 1;
    return 0;
}

bool exec_env_name_valid(const char *name)
{
    if (!name ||
        !((*name >= 'A' && *name <= 'Z') || (*name >= 'a' && *name <= 'z') || *name == '_'))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return false;
    return true;
}

/* ------------------------------------------------------- workflow XCom */

int exec_xcom_open(const struct exec_wf *wf, const char *exec_id, struct exec_xcom *x,
                   struct sc_err *err)
{
    const char *dir = wf->work_dir && *wf->work_dir ? wf->work_dir : "/tmp";
    const char *in = wf->xcom_in ? wf->xcom_in : "{}";
    size_t len = strlen(in);
    x->in_path = x->out_path = NULL;
    if (!exec_id || !*exec_id || strchr(exec_id, '/'))
        return sc_err_set(err, EINVAL, "execution_id", -1, "is required for a workflow run");
    size_t plen = strlen(dir) + strlen(exec_id) + 32;
    x->in_path = malloc(plen);
    x->out_path = malloc(plen);
    if (!x->in_path || !x->out_path) {
        exec_xcom_close(x);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    snprintf(x->in_path, plen, "%s/%s.xcom-in.json", dir, exec_id);
    snprintf(x->out_path, plen, "%s/%s.xcom-out.json", dir, exec_id);
    /* A stale output of the same execution id (never in practice) must not be taken. */
    unlink(x->out_path);
    int fd = open(x->in_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int e = 0;
    if (fd < 0) {
        e = errno;
    } else {
        for (size_t off = 0; off < len;) {
            ssize_t n = write(fd, in + off, len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                e = n < 0 ? errno : EIO;
                break;
            }
            off += (size_t)n;
        }
        if (close(fd) < 0 && !e)
            e = errno;
    }
    if (e) {
        sc_err_set(err, e, "work_dir", -1, "cannot write %s: %s", x->in_path, strerror(e));
        exec_xcom_close(x);
        return -e;
    }
    return 0;
}

int exec_xcom_collect(const struct exec_xcom *x, char **json, char *why, size_t why_len)
{
    *json = NULL;
    if (!x->out_path)
        return 0;
    int fd = open(x->out_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, why_len, "XCom output cannot be read: %s", strerror(errno));
        return -EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(why, why_len, "XCom output is not a regular file");
        return -EINVAL;
    }
    if (st.st_size > EXEC_XCOM_MAX) {
        close(fd);
        snprintf(why, why_len, "XCom output is %lld bytes; the limit is %d", (long long)st.st_size,
                 EXEC_XCOM_MAX);
        return -EFBIG;
    }
    /* One byte more than the limit: a file still growing is caught too. */
    char *buf = malloc(EXEC_XCOM_MAX + 2);
    size_t got = 0;
    if (!buf) {
        close(fd);
        snprintf(why, why_len, "out of memory reading the XCom output");
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, EXEC_XCOM_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got > EXEC_XCOM_MAX)
            break;
    }
    close(fd);
    if (got > EXEC_XCOM_MAX) {
        free(buf);
        snprintf(why, why_len, "XCom output is over %d bytes; the limit is %d", EXEC_XCOM_MAX,
                 EXEC_XCOM_MAX);
        return -EFBIG;
    }
    buf[got] = '\0';
    struct sc_err err;
    sc_err_clear(&err);
    cJSON *v = json_parse(buf, got, &err);
    if (!v) {
        char m[300];
        free(buf);
        snprintf(why, why_len, "XCom output is not valid JSON: %s",
                 sc_err_format(&err, m, sizeof m));
        return -EINVAL;
    }
    cJSON_Delete(v);
    *json = buf;
    return 0;
}

void exec_xcom_close(struct exec_xcom *x)
{
    if (x->in_path)
        unlink(x->in_path);
    if (x->out_path)
        unlink(x->out_path);
    free(x->in_path);
    free(x->out_path);
    x->in_path = x->out_path = NULL;
}

static int env_kept(const char *name, size_t len)
{
    static const char *const keep[] = {"PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME", "TMPDIR"};
    if (exec_env_secret(name, len))
        return 0;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strlen(keep[i]) == len && strncmp(name, keep[i], len) == 0)
            return 1;
    return len > 3 && strncmp(name, "LC_", 3) == 0;
}

static int build_base_env(struct exec_runner *r)
{
    size_t n = 0, have_path = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    r->base_env = calloc(n + 2, sizeof(char *));
    if (!r->base_env)
        return -ENOMEM;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || !env_kept(*e, (size_t)(eq - *e)))
            continue;
        if (strncmp(*e, "PATH=", 5) == 0)
            have_path = 1;
        if (!(r->base_env[r->n_base_env] = strdup(*e)))
            return -ENOMEM;
        r->n_base_env++;
    }
    if (!have_path && !(r->base_env[r->n_base_env++] = strdup("PATH=/usr/local/bin:/usr/bin:/bin")))
        return -ENOMEM;
    return 0;
}

const char *const *exec_base_env(const struct exec_runner *r)
{
    return (const char *const *)r->base_env;
}

/* ------------------------------------------------------ child watch table */

static struct child_ent **child_slot(struct exec_runner *r, pid_t pid)
{
    struct child_ent **pp = &r->children[(unsigned)pid % CHILD_BUCKETS];
    while (*pp && (*pp)->pid != pid)
        pp = &(*pp)->next;
    return pp;
}

int exec_watch_child(struct exec_runner *r, pid_t pid, exec_child_cb cb, void *arg)
{
    struct child_ent **pp = child_slot(r, pid);
    if (*pp)
        return -EEXIST;
    struct child_ent *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->pid = pid;
    c->cb = cb;
    c->arg = arg;
    *pp = c;
    return 0;
}

void exec_unwatch_child(struct exec_runner *r, pid_t pid)
{
    struct child_ent **pp = child_slot(r, pid);
    if (*pp) {
        struct child_ent *c = *pp;
        *pp = c->next;
        free(c);
    }
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct exec_runner *r = arg;
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        struct child_ent **pp = child_slot(r, pid);
        if (!*pp) {
            if (r->n_spawning > 0) {
                /* Perhaps a spawn whose pid the loop has not seen yet. */
                if (r->n_orphans == r->cap_orphans) {
                    int cap = r->cap_orphans ? r->cap_orphans * 2 : 16;
                    struct orphan *o = realloc(r->orphans, (size_t)cap * sizeof *o);
                    if (!o)
                        continue;
                    r->orphans = o;
                    r->cap_orphans = cap;
                }
                r->orphans[r->n_orphans++] = (struct orphan){pid, st};
            } else {
                LOGD("reaped pid %d that nobody watched", (int)pid);
            }
            continue;
        }
        struct child_ent *c = *pp;
        *pp = c->next;
        exec_child_cb cb = c->cb;
        void *cb_arg = c->arg;
        free(c);
        cb(pid, st, cb_arg);
    }
}

/* ---------------------------------------------------------------- runner */

static int spawn_posix(const char *path, const char *cwd, int out_w, int cap_w, int gate_r,
                       char *const argv[], char *const envp[], pid_t *pid);
static void on_spawned(evutil_socket_t fd, short what, void *arg);

static void req_free(struct spawn_req *q)
{
    if (q->out_w >= 0)
        close(q->out_w);
    if (q->cap_w >= 0)
        close(q->cap_w);
    if (q->gate_r >= 0)
        close(q->gate_r);
    free(q->cwd);
    free(q->command);
    free(q->envp);
    free(q);
}

static void *spawner(void *arg)
{
    struct exec_runner *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stopping && !r->todo_head)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stopping) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        struct spawn_req *q = r->todo_head;
        r->todo_head = q->next;
        if (!r->todo_head)
            r->todo_tail = NULL;
        pthread_mutex_unlock(&r->mu);

        char *argv[] = {"sh", "-c", q->held ? GATE_PLACEHOLDER : q->command, NULL};
        q->err =
            -spawn_posix("/bin/sh", q->cwd, q->out_w, q->cap_w, q->gate_r, argv, q->envp, &q->pid);
        q->spawned_ms = exec_now_real_ms();
        q->next = NULL;

        pthread_mutex_lock(&r->mu);
        if (r->done_tail)
            r->done_tail->next = q;
        else
            r->done_head = q;
        r->done_tail = q;
        pthread_mutex_unlock(&r->mu);
        uint64_t one = 1;
        ssize_t w = write(r->efd, &one, sizeof one);
        (void)w; /* the counter cannot overflow in practice; a lost wake-up is not possible */
    }
}

static int start_threads(struct exec_runner *r)
{
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0)
        return -errno;
    r->ev_spawned = event_new(r->base, r->efd, EV_READ | EV_PERSIST, on_spawned, r);
    r->threads = calloc((size_t)r->opts.spawn_threads, sizeof *r->threads);
    if (!r->ev_spawned || !r->threads || event_add(r->ev_spawned, NULL) < 0)
        return -ENOMEM;
    for (int i = 0; i < r->opts.spawn_threads; i++) {
        int rc = pthread_create(&r->threads[i], NULL, spawner, r);
        if (rc)
            return -rc;
        r->n_threads++;
    }
    return 0;
}

static void stop_threads(struct exec_runner *r)
{
    if (!r->threads)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    /* Never started: nothing to stop. Started but not reported: kill and reap. */
    while (r->todo_head) {
        struct spawn_req *q = r->todo_head;
        r->todo_head = q->next;
        q->p->spawning = false;
        req_free(q);
    }
    while (r->done_head) {
        struct spawn_req *q = r->done_head;
        r->done_head = q->next;
        if (q->err == 0) {
            killpg(q->pid, SIGKILL);
            while (waitpid(q->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        q->p->spawning = false;
        req_free(q);
    }
    if (r->ev_spawned)
        event_free(r->ev_spawned);
    if (r->efd >= 0)
        close(r->efd);
    free(r->threads);
    r->threads = NULL;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

int exec_runner_new(struct event_base *base, const struct exec_runner_opts *opts,
                    struct exec_runner **out)
{
    struct exec_runner *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->base = base;
    r->efd = -1;
    if (opts)
        r->opts = *opts;
    if (r->opts.log_cap == 0)
        r->opts.log_cap = 1 << 20;
    if (r->opts.log_cap < 256)
        r->opts.log_cap = 256;
    if (r->opts.kill_grace_ms <= 0)
        r->opts.kill_grace_ms = 5000;
    int rc = -ENOMEM;
    /* Absolute: the gate is exec'd after the chdir into the job's directory. */
    if (r->opts.gate_path && !(r->gate_path = realpath(r->opts.gate_path, NULL))) {
        rc = -errno;
        LOGE("gate library %s: %s", r->opts.gate_path, strerror(errno));
        goto err;
    }
    r->opts.gate_path = r->gate_path;
    rc = build_base_env(r);
    if (rc < 0)
        goto err;
    r->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, r);
    if (!r->sigchld || evsignal_add(r->sigchld, NULL) < 0) {
        rc = -EIO;
        goto err;
    }
    if (r->opts.spawn_threads > 0 && (rc = start_threads(r)) < 0)
        goto err;
    *out = r;
    return 0;
err:
    exec_runner_free(r);
    return rc;
}

static void proc_free(struct exec_proc *p);

void exec_runner_free(struct exec_runner *r)
{
    if (!r)
        return;
    stop_threads(r);
    while (r->procs) {
        struct exec_proc *p = r->procs;
        if (p->pid > 0) {
            killpg(p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            exec_unwatch_child(r, p->pid);
            if (r->opts.guard)
                watchdog_del(r->opts.guard, p->pid);
        }
        r->procs = p->next;
        proc_free(p);
    }
    while (r->held_procs) {
        struct exec_proc *p = r->held_procs;
        if (p->pid > 0 && !p->gone) {
            killpg(p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            exec_unwatch_child(r, p->pid);
            if (r->opts.guard)
                watchdog_del(r->opts.guard, p->pid);
        }
        if (p->log_path)
            unlink(p->log_path);
        r->held_procs = p->next;
        proc_free(p);
    }
    for (int i = 0; i < CHILD_BUCKETS; i++)
        while (r->children[i]) {
            struct child_ent *c = r->children[i];
            r->children[i] = c->next;
            free(c);
        }
    if (r->sigchld)
        event_free(r->sigchld);
    if (r->base_env)
        for (size_t i = 0; i < r->n_base_env; i++)
            free(r->base_env[i]);
    free(r->base_env);
    free(r->orphans);
    free(r->gate_path);
    free(r);
}

int exec_running(const struct exec_runner *r)
{
    return r->n_running;
}

pid_t exec_pid(const struct exec_proc *p)
{
    return p->pid;
}

int exec_held(const struct exec_runner *r)
{
    return r->n_held;
}

int exec_gate_find(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -ENOENT;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    static const char *const rel[] = {"/shardcron-gate.so", "/../bin/shardcron-gate.so"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        int w = snprintf(buf, len, "%s%s", self, rel[i]);
        if (w > 0 && (size_t)w < len && access(buf, R_OK) == 0)
            return 0;
    }
    buf[0] = '\0';
    return -ENOENT;
}

/* -------------------------------------------------------- output capture */

static void write_all(struct exec_proc *p, const char *buf, size_t len)
{
    while (p->log_fd >= 0 && len > 0) {
        ssize_t n = write(p->log_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            LOGW("execution log write failed (pid %d): %s", (int)p->pid, strerror(errno));
            close(p->log_fd);
            p->log_fd = -1;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void ring_put(char *ring, size_t cap, size_t *pos, uint64_t *fill, const char *buf,
                     size_t len)
{
    if (len >= cap) {
        memcpy(ring, buf + len - cap, cap);
        *pos = 0;
    } else {
        size_t first = cap - *pos < len ? cap - *pos : len;
        memcpy(ring + *pos, buf, first);
        memcpy(ring, buf + first, len - first);
        *pos = (*pos + len) % cap;
    }
    *fill += len;
}

/* ring_copy: the ring's contents in order into out (>= min(fill, cap) bytes). */
static size_t ring_copy(const char *ring, size_t cap, size_t pos, uint64_t fill, char *out)
{
    if (fill < cap) {
        memcpy(out, ring, (size_t)fill);
        return (size_t)fill;
    }
    memcpy(out, ring + pos, cap - pos);
    memcpy(out + cap - pos, ring, pos);
    return cap;
}

static void capture(struct exec_proc *p, const char *buf, size_t len)
{
    size_t head_cap = p->r->opts.log_cap / 2;
    p->total += len;
    ring_put(p->tail, sizeof p->tail, &p->tail_pos, &p->tail_fill, buf, len);
    if (p->head_written < head_cap) {
        size_t n = head_cap - p->head_written < len ? (size_t)(head_cap - p->head_written) : len;
        write_all(p, buf, n);
        p->head_written += n;
        buf += n;
        len -= n;
    }
    if (len == 0 || p->log_fd < 0)
        return;
    if (!p->ring) {
        p->ring_cap = p->r->opts.log_cap - head_cap;
        if (!(p->ring = malloc(p->ring_cap))) {
            LOGW("no memory for the output tail of pid %d", (int)p->pid);
            return;
        }
    }
    ring_put(p->ring, p->ring_cap, &p->ring_pos, &p->ring_fill, buf, len);
}

static void flush_tail(struct exec_proc *p)
{
    if (!p->ring || p->ring_fill == 0 || p->log_fd < 0)
        return;
    if (p->ring_fill > p->ring_cap) {
        char mark[96];
        int n = snprintf(mark, sizeof mark, "\n[shardcron: %llu bytes cut]\n",
                         (unsigned long long)(p->ring_fill - p->ring_cap));
        write_all(p, mark, (size_t)n);
    }
    char *lin = malloc(p->ring_cap);
    if (!lin)
        return;
    size_t n = ring_copy(p->ring, p->ring_cap, p->ring_pos, p->ring_fill, lin);
    write_all(p, lin, n);
    free(lin);
}

/* drain: read what is available (at most max_reads chunks); on EOF close the pipe. */
static void drain(struct exec_proc *p, int max_reads)
{
    static char buf[READ_CHUNK]; /* the loop is single-threaded */
    for (int i = 0; p->out_fd >= 0 && i < max_reads; i++) {
        ssize_t n = read(p->out_fd, buf, sizeof buf);
        if (n > 0) {
            capture(p, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        /* EOF or a read error: nothing more will come. */
        event_del(p->ev_out);
        close(p->out_fd);
        p->out_fd = -1;
    }
}

static void on_output(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    drain(arg, READS_PER_WAKE);
}

/* drain_captured: the captured stdout of a workflow run: kept apart (up to
 * EXEC_XCOM_MAX bytes, the rest only counted) and also put in the log and
 * the tail like any output. */
static void drain_captured(struct exec_proc *p, int max_reads)
{
    static char buf[READ_CHUNK];
    for (int i = 0; p->cap_fd >= 0 && i < max_reads; i++) {
        ssize_t n = read(p->cap_fd, buf, sizeof buf);
        if (n > 0) {
            size_t room = EXEC_XCOM_MAX - p->cap_len;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(p->cap + p->cap_len, buf, k);
            p->cap_len += k;
            p->cap_total += (uint64_t)n;
            capture(p, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        event_del(p->ev_cap);
        close(p->cap_fd);
        p->cap_fd = -1;
    }
}

static void on_captured(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    drain_captured(arg, READS_PER_WAKE);
}

/* ------------------------------------------------------------ lifecycle */

static void proc_free(struct exec_proc *p)
{
    if (p->ev_out)
        event_free(p->ev_out);
    if (p->ev_timeout)
        event_free(p->ev_timeout);
    if (p->ev_grace)
        event_free(p->ev_grace);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->log_fd >= 0)
        close(p->log_fd);
    if (p->gate_fd >= 0)
        close(p->gate_fd);
    if (p->ev_cap)
        event_free(p->ev_cap);
    if (p->cap_fd >= 0)
        close(p->cap_fd);
    free(p->cap);
    exec_xcom_close(&p->xcom);
    free(p->log_path);
    free(p->ring);
    free(p);
}

/* proc_link / proc_unlink: the running list, or the held list while held. */
static void proc_link(struct exec_runner *r, struct exec_proc *p)
{
    struct exec_proc **head = p->held ? &r->held_procs : &r->procs;
    p->prev = NULL;
    p->next = *head;
    if (*head)
        (*head)->prev = p;
    *head = p;
    if (p->held)
        r->n_held++;
    else
        r->n_running++;
}

static void proc_unlink(struct exec_runner *r, struct exec_proc *p)
{
    struct exec_proc **head = p->held ? &r->held_procs : &r->procs;
    if (p->prev)
        p->prev->next = p->next;
    else
        *head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    if (p->held)
        r->n_held--;
    else
        r->n_running--;
}

/* held_reaped: the process of a held execution exited before its release. */
static void held_reaped(struct exec_proc *p, int st)
{
    p->gone = true;
    if (p->cancelled) {
        proc_unlink(p->r, p);
        proc_free(p);
        return;
    }
    LOGW("the held process %d of a pre-armed start exited before its release (status 0x%x)",
         (int)p->pid, (unsigned)st);
}

/* wf_finish: a workflow run's outputs into res: its captured stdout, and
 * the XCom output of a run that succeeded (refused: the run fails with the
 * reason). Its files are removed. *xcom is the caller's to free. */
static void wf_finish(struct exec_proc *p, struct exec_result *res, char **xcom)
{
    if (p->cap) {
        p->cap[p->cap_len] = '\0';
        if (p->cap_total <= EXEC_XCOM_MAX) {
            res->captured = p->cap;
        } else if (res->status == EXEC_SUCCEEDED) {
            res->status = EXEC_FAILED;
            snprintf(p->reason, sizeof p->reason, "branch output over %d bytes", EXEC_XCOM_MAX);
        }
    }
    if (res->status == EXEC_SUCCEEDED) {
        char why[sizeof p->reason];
        if (exec_xcom_collect(&p->xcom, xcom, why, sizeof why) < 0) {
            res->status = EXEC_FAILED;
            snprintf(p->reason, sizeof p->reason, "%s", why);
        } else {
            res->xcom = *xcom;
        }
    }
    exec_xcom_close(&p->xcom);
}

static void on_reaped(pid_t pid, int st, void *arg)
{
    struct exec_proc *p = arg;
    struct exec_runner *r = p->r;
    if (r->opts.guard)
        watchdog_del(r->opts.guard, pid);
    struct exec_result res = {.exit_code = -1, .pid = pid};
    if (p->held) {
        held_reaped(p, st);
        return;
    }

    if (p->status == EXEC_TIMEOUT || p->status == EXEC_KILLED) {
        /* The leader is gone; members of its group that outlived SIGTERM go now. */
        killpg(pid, SIGKILL);
        res.status = p->status;
    }
    if (WIFEXITED(st)) {
        res.exit_code = WEXITSTATUS(st);
        if (!res.status)
            res.status = res.exit_code == 0 ? EXEC_SUCCEEDED : EXEC_FAILED;
    } else if (WIFSIGNALED(st)) {
        res.signal = WTERMSIG(st);
        if (!res.status) {
            res.status = EXEC_FAILED;
            snprintf(p->reason, sizeof p->reason, "killed by signal %d", res.signal);
        }
    }
    /* Bounded: a grandchild that keeps the pipe open and writes must not hold the loop. */
    drain(p, 64);
    drain_captured(p, 64);
    flush_tail(p);
    char *xcom = NULL;
    if (p->wf)
        wf_finish(p, &res, &xcom);

    char tail[EXEC_TAIL_MAX + 1];
    size_t n = ring_copy(p->tail, sizeof p->tail, p->tail_pos, p->tail_fill, tail);
    tail[n] = '\0';
    res.output_tail = tail;
    res.output_bytes = p->total;
    res.cut_bytes = p->ring_fill > p->ring_cap ? p->ring_fill - p->ring_cap : 0;
    res.started_ms = p->started_ms;
    res.finished_ms = exec_now_real_ms();
    res.duration_ms = exec_now_mono_ms() - p->started_mono;
    res.reason = p->reason;

    proc_unlink(r, p);
    LOGD("pid %d finished: %s", (int)pid, exec_status_name(res.status));
    p->cb(&res, p->arg);
    free(xcom);
    proc_free(p);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct exec_proc *p = arg;
    LOGW("pid %d outlived SIGTERM by %d ms: SIGKILL to its group", (int)p->pid,
         p->r->opts.kill_grace_ms);
    killpg(p->pid, SIGKILL);
}

static void terminate(struct exec_proc *p)
{
    if (p->spawning)
        return; /* done when the spawn is reported (on_spawned) */
    killpg(p->pid, SIGTERM);
    struct timeval tv = {p->r->opts.kill_grace_ms / 1000, (p->r->opts.kill_grace_ms % 1000) * 1000};
    evtimer_add(p->ev_grace, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct exec_proc *p = arg;
    if (p->status != EXEC_RUNNING)
        return;
    p->status = EXEC_TIMEOUT;
    snprintf(p->reason, sizeof p->reason, "timeout after %d ms", p->timeout_ms);
    LOGN("pid %d timed out after %d ms: SIGTERM to its group", (int)p->pid, p->timeout_ms);
    terminate(p);
}

int exec_kill(struct exec_proc *p, const char *reason)
{
    if (p->held || p->status != EXEC_RUNNING)
        return -ESRCH;
    p->status = EXEC_KILLED;
    snprintf(p->reason, sizeof p->reason, "%s", reason ? reason : "killed");
    evtimer_del(p->ev_timeout);
    terminate(p);
    return 0;
}

int exec_kill_all(struct exec_runner *r, const char *reason)
{
    int n = 0;
    for (struct exec_proc *p = r->procs; p; p = p->next)
        if (exec_kill(p, reason) == 0)
            n++;
    return n;
}

/* ----------------------------------------------------------------- spawn */

/* overridden: the base variable "K=V" is set again by one of extra ("K=..."):
 * one definition each, the job's. */
static bool overridden(const char *var, const char *const *extra)
{
    size_t n = strcspn(var, "=");
    for (const char *const *x = extra; x && *x; x++)
        if (strncmp(*x, var, n) == 0 && (*x)[n] == '=')
            return true;
    return false;
}

/* build_env: base + job environment + extra (+ for a held start, the gate's
 * LD_PRELOAD and command, which the gate removes before the shell's main);
 * one allocation holds the pointer array and the job variables' text. Caller
 * frees the result. */
static char **build_env(const struct exec_runner *r, const struct exec_spec *s, bool held,
                        const struct exec_xcom *xcom_of)
{
    const struct exec_job_env *e = &s->env;
    size_t n_extra = 0, extra_text = 0;
    for (const char *const *x = s->extra_env; x && *x; x++, n_extra++)
        extra_text += strlen(*x) + 1;
    const char *sp = e->shard_param ? e->shard_param : "";
    const char *jp = e->job_param ? e->job_param : "";
    const char *job = e->job ? e->job : "";
    const char *ft = e->fire_time ? e->fire_time : "";
    const char *id = e->execution_id ? e->execution_id : "";
    const char *fence = e->fence ? e->fence : "";
    size_t text = strlen(sp) + strlen(jp) + strlen(job) + strlen(ft) + strlen(id) + strlen(fence) +
                  480 + extra_text;
    if (held)
        text += strlen(r->gate_path) + strlen(s->command) + 64;
    const struct exec_wf *wf = s->wf;
    const struct exec_xcom *xc = wf ? xcom_of : NULL;
    size_t n_wf = 0;
    if (wf) {
        n_wf = 6 + (size_t)wf->nparams;
        text += strlen(wf->workflow ? wf->workflow : "") + strlen(wf->run_id ? wf->run_id : "") +
                strlen(wf->task ? wf->task : "") +
                strlen(wf->logical_time ? wf->logical_time : "") + strlen(xc->in_path) +
                strlen(xc->out_path) + 160;
        for (int k = 0; k < wf->nparams; k++)
            text += strlen(wf->param_names[k]) + strlen(wf->param_values[k]) + 20;
    }
    size_t slots = r->n_base_env + 11 + n_wf + n_extra + 2 + 1;
    char **env = malloc(slots * sizeof(char *) + text);
    if (!env)
        return NULL;
    char *t = (char *)(env + slots), *end = t + text;
    size_t i = 0;
    for (size_t b = 0; b < r->n_base_env; b++)
        if (!overridden(r->base_env[b], s->extra_env))
            env[i++] = r->base_env[b];
#define PUTF(...)                                                                                  \
    do {                                                                                           \
        env[i++] = t;                                                                              \
        t += snprintf(t, (size_t)(end - t), __VA_ARGS__) + 1;                                      \
    } while (0)
    PUTF("SHARDCRON_JOB=%s", job);
    PUTF("SHARDCRON_SHARD_ITEM=%d", e->shard_item);
    PUTF("SHARDCRON_SHARD_TOTAL=%d", e->shard_total);
    PUTF("SHARDCRON_SHARD_PARAM=%s", sp);
    PUTF("SHARDCRON_JOB_PARAM=%s", jp);
    PUTF("SHARDCRON_FIRE_TIME=%s", ft);
    PUTF("SHARDCRON_EXECUTION_ID=%s", id);
    PUTF("SHARDCRON_TRIGGER=%s", exec_trigger_name(e->trigger));
    PUTF("SHARDCRON_ATTEMPT=%d", e->attempt > 0 ? e->attempt : 1);
    if (*fence) {
        PUTF("SHARDCRON_FENCE=%s", fence);
        PUTF("SHARDCRON_EPOCH=%lld", (long long)e->epoch);
    }
    if (wf) {
        PUTF("SHARDCRON_WORKFLOW=%s", wf->workflow ? wf->workflow : "");
        PUTF("SHARDCRON_RUN_ID=%s", wf->run_id ? wf->run_id : "");
        PUTF("SHARDCRON_TASK=%s", wf->task ? wf->task : "");
        PUTF("SHARDCRON_LOGICAL_TIME=%s", wf->logical_time ? wf->logical_time : "");
        PUTF("SHARDCRON_XCOM_IN=%s", xc->in_path);
        PUTF("SHARDCRON_XCOM_OUT=%s", xc->out_path);
        for (int k = 0; k < wf->nparams; k++)
            PUTF("SHARDCRON_PARAM_%s=%s", wf->param_names[k], wf->param_values[k]);
    }
    /* Copied: the spawn happens later, on the spawner thread. */
    for (const char *const *x = s->extra_env; x && *x; x++)
        PUTF("%s", *x);
    if (held) {
        PUTF("LD_PRELOAD=%s", r->gate_path);
        PUTF("SHARDCRON_GATE_COMMAND=%s", s->command);
    }
#undef PUTF
    env[i] = NULL;
    return env;
}

/* child_setup: runs in the child of fork()/vfork() before execve; only
 * async-signal-safe calls. Never returns. */
static void child_exec(int out_w, int cap_w, const char *cwd, char *const argv[],
                       char *const envp[])
{
    sigset_t none;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(cap_w >= 0 ? cap_w : out_w, 1) < 0 || dup2(out_w, 2) < 0)
        _exit(126);
    if (chdir(cwd) < 0) {
        static const char msg[] = "shardcron: cannot enter the working directory\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(126);
    }
    close_range(3, ~0U, 0);
    execve("/bin/sh", argv, envp);
    _exit(127);
}

static int spawn_posix(const char *path, const char *cwd, int out_w, int cap_w, int gate_r,
                       char *const argv[], char *const envp[], pid_t *pid)
{
    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, cap_w >= 0 ? cap_w : out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, out_w, 2);
    /* The gate's socket on GATE_FD (dup2 onto itself clears FD_CLOEXEC in glibc >= 2.29). */
    if (gate_r >= 0)
        posix_spawn_file_actions_adddup2(&fa, gate_r, GATE_FD);
    posix_spawn_file_actions_addchdir_np(&fa, cwd);
    posix_spawn_file_actions_addclosefrom_np(&fa, gate_r >= 0 ? GATE_FD + 1 : 3);
    int rc = posix_spawn(pid, path, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return -rc;
}

/* proc_fail: an execution that could not start ends as failed, through its callback. */
static void proc_fail(struct exec_proc *p, const char *why)
{
    struct exec_runner *r = p->r;
    proc_unlink(r, p);
    int64_t now = exec_now_real_ms();
    struct exec_result res = {.status = EXEC_FAILED,
                              .exit_code = -1,
                              .started_ms = now,
                              .finished_ms = now,
                              .duration_ms = exec_now_mono_ms() - p->started_mono,
                              .output_tail = "",
                              .reason = why};
    p->cb(&res, p->arg);
    proc_free(p);
}

/* cancel_held: a held execution will not run: end of file on its gate, and its
 * (empty) log file removed now — a fresh start of the same execution may reuse
 * the path. */
static void cancel_held(struct exec_proc *p)
{
    p->cancelled = true;
    if (p->gate_fd >= 0) {
        close(p->gate_fd);
        p->gate_fd = -1;
    }
    if (p->log_path) {
        unlink(p->log_path);
        free(p->log_path);
        p->log_path = NULL;
    }
}

/* cancel_now: a held execution whose pid is settled (known, or none) ends:
 * end of file on the gate, SIGKILL, and freed when reaped (at once if gone). */
static void cancel_now(struct exec_proc *p)
{
    cancel_held(p);
    if (p->gone || p->pid <= 0) {
        proc_unlink(p->r, p);
        proc_free(p);
        return;
    }
    killpg(p->pid, SIGKILL);
}

static void on_spawned(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct exec_runner *r = arg;
    uint64_t n;
    ssize_t got = read(r->efd, &n, sizeof n);
    (void)got;
    pthread_mutex_lock(&r->mu);
    struct spawn_req *q = r->done_head;
    r->done_head = r->done_tail = NULL;
    pthread_mutex_unlock(&r->mu);
    while (q) {
        struct spawn_req *next = q->next;
        struct exec_proc *p = q->p;
        r->n_spawning--;
        p->spawning = false;
        if (q->err) {
            char why[400];
            snprintf(why, sizeof why, "cannot start /bin/sh in %s: %s", q->cwd, strerror(q->err));
            req_free(q);
            if (p->held) {
                if (!p->cancelled)
                    LOGW("pre-armed start not prepared: %s", why);
                p->gone = true;
                if (p->cancelled)
                    cancel_now(p);
            } else {
                proc_fail(p, why);
            }
            q = next;
            continue;
        }
        pid_t pid = q->pid;
        p->pid = pid;
        if (!p->held)
            p->started_ms = q->spawned_ms;
        req_free(q);
        int i = 0;
        while (i < r->n_orphans && r->orphans[i].pid != pid)
            i++;
        if (i < r->n_orphans) {
            int st = r->orphans[i].status;
            r->orphans[i] = r->orphans[--r->n_orphans];
            on_reaped(pid, st, p); /* a held one is only marked gone (or freed if cancelled) */
        } else if (exec_watch_child(r, pid, on_reaped, p) < 0) {
            killpg(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            if (p->held) {
                p->gone = true;
                if (p->cancelled)
                    cancel_now(p);
            } else {
                proc_fail(p, "out of memory");
            }
        } else {
            if (r->opts.guard)
                watchdog_add(r->opts.guard, pid);
            if (p->held) {
                if (p->cancelled)
                    cancel_now(p);
            } else if (p->status == EXEC_TIMEOUT || p->status == EXEC_KILLED) {
                terminate(p); /* killed or timed out while it was being spawned */
            }
        }
        q = next;
    }
    if (r->n_spawning == 0)
        r->n_orphans = 0;
}

/* proc_create: exec_start (held false) and exec_prepare (held true). */
static int proc_create(struct exec_runner *r, const struct exec_spec *spec, exec_done_cb cb,
                       void *arg, bool held, struct exec_proc **out, struct sc_err *err)
{
    if (!spec->command || !*spec->command)
        return sc_err_set(err, EINVAL, "command", -1, "is empty");
    if (held && !r->gate_path)
        return sc_err_set(err, ENOTSUP, "", -1, "no gate program: starts are not pre-armed");
    const char *cwd = spec->cwd && *spec->cwd ? spec->cwd : "/";
    struct exec_proc *p = calloc(1, sizeof *p);
    if (!p)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    p->r = r;
    p->out_fd = -1;
    p->log_fd = -1;
    p->gate_fd = -1;
    p->cb = cb;
    p->arg = arg;
    p->timeout_ms = spec->timeout_ms;
    p->held = held;
    p->cap_fd = -1;
    int pfd[2] = {-1, -1}, gfd[2] = {-1, -1}, cfd[2] = {-1, -1}, rc;
    char **envp = NULL;

    if (spec->wf) {
        const struct exec_wf *wf = spec->wf;
        for (int k = 0; k < wf->nparams; k++) {
            char name[300];
            snprintf(name, sizeof name, "SHARDCRON_PARAM_%s", wf->param_names[k]);
            if (!*wf->param_names[k] || !exec_env_name_valid(name) ||
                strlen(wf->param_names[k]) > 200) {
                rc = sc_err_set(err, EINVAL, "params", -1,
                                "\"%.64s\" is not a valid environment variable name "
                                "(SHARDCRON_PARAM_<NAME>: NAME of letters, digits and _)",
                                wf->param_names[k]);
                goto err;
            }
        }
        p->wf = true;
        if ((rc = exec_xcom_open(wf, spec->env.execution_id, &p->xcom, err)) < 0)
            goto err;
        if (wf->capture) {
            if (pipe2(cfd, O_CLOEXEC) < 0 || fcntl(cfd[0], F_SETFL, O_NONBLOCK) < 0) {
                rc = sc_err_set(err, errno, "", -1, "pipe: %s", strerror(errno));
                goto err;
            }
            if (!(p->cap = malloc(EXEC_XCOM_MAX + 1))) {
                rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
                goto err;
            }
            p->cap_fd = cfd[0];
            cfd[0] = -1;
        }
    }

    if (spec->log_path &&
        (p->log_fd = open(spec->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0) {
        rc = sc_err_set(err, errno, "log_path", -1, "cannot open %s: %s", spec->log_path,
                        strerror(errno));
        goto err;
    }
    if (held && spec->log_path && !(p->log_path = strdup(spec->log_path))) {
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
        goto err;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        rc = sc_err_set(err, errno, "", -1, "pipe: %s", strerror(errno));
        goto err;
    }
    if (fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0) {
        rc = sc_err_set(err, errno, "", -1, "fcntl: %s", strerror(errno));
        goto err;
    }
    p->out_fd = pfd[0];
    pfd[0] = -1;
    if (held) {
        /* A socket, not a pipe: the go byte is sent with MSG_NOSIGNAL. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gfd) < 0) {
            rc = sc_err_set(err, errno, "", -1, "socketpair: %s", strerror(errno));
            goto err;
        }
        p->gate_fd = gfd[1];
        gfd[1] = -1;
    }
    if (!(envp = build_env(r, spec, held, &p->xcom))) {
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
        goto err;
    }
    p->ev_out = event_new(r->base, p->out_fd, EV_READ | EV_PERSIST, on_output, p);
    p->ev_timeout = evtimer_new(r->base, on_timeout, p);
    p->ev_grace = evtimer_new(r->base, on_grace, p);
    if (p->cap_fd >= 0 &&
        !(p->ev_cap = event_new(r->base, p->cap_fd, EV_READ | EV_PERSIST, on_captured, p))) {
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
        goto err;
    }
    if (!p->ev_out || !p->ev_timeout || !p->ev_grace) {
        rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
        goto err;
    }
    p->started_mono = exec_now_mono_ms();
    if (r->n_threads > 0) {
        struct spawn_req *q = calloc(1, sizeof *q);
        if (q)
            q->out_w = q->cap_w = q->gate_r = -1;
        if (!q || !(q->cwd = strdup(cwd)) || !(q->command = strdup(spec->command))) {
            if (q)
                req_free(q);
            rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
            goto err;
        }
        q->p = p;
        q->held = held;
        q->envp = envp;
        q->out_w = pfd[1];
        q->cap_w = cfd[1];
        q->gate_r = gfd[0];
        envp = NULL;
        pfd[1] = gfd[0] = cfd[1] = -1;
        p->spawning = true;
        r->n_spawning++;
        pthread_mutex_lock(&r->mu);
        if (r->todo_tail)
            r->todo_tail->next = q;
        else
            r->todo_head = q;
        r->todo_tail = q;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        goto started;
    }
    char *argv[] = {"sh", "-c", (char *)spec->command, NULL};
    pid_t pid = -1;
    if (held) {
        char *gargv[] = {"sh", "-c", GATE_PLACEHOLDER, NULL};
        if ((rc = spawn_posix("/bin/sh", cwd, pfd[1], cfd[1], gfd[0], gargv, envp, &pid)) < 0) {
            sc_err_set(err, -rc, "cwd", -1, "cannot start /bin/sh in %s: %s", cwd, strerror(-rc));
            goto err;
        }
    } else if (r->opts.spawn == EXEC_SPAWN_POSIX) {
        if ((rc = spawn_posix("/bin/sh", cwd, pfd[1], cfd[1], -1, argv, envp, &pid)) < 0) {
            sc_err_set(err, -rc, "cwd", -1, "cannot start /bin/sh in %s: %s", cwd, strerror(-rc));
            goto err;
        }
    } else {
        pid = r->opts.spawn == EXEC_SPAWN_VFORK ? vfork() : fork();
        if (pid == 0)
            child_exec(pfd[1], cfd[1], cwd, argv, envp);
        if (pid < 0) {
            rc = sc_err_set(err, errno, "", -1, "fork: %s", strerror(errno));
            goto err;
        }
        /* Also from the parent, so killpg works even before the child ran. */
        setpgid(pid, pid);
    }
    p->started_ms = exec_now_real_ms(); /* the process exists */
    free(envp);
    close(pfd[1]);
    if (gfd[0] >= 0)
        close(gfd[0]);
    if (cfd[1] >= 0)
        close(cfd[1]);
    p->pid = pid;
    if (exec_watch_child(r, pid, on_reaped, p) < 0) {
        /* Only on OOM: the child runs but cannot be tracked; stop it. */
        killpg(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (p->log_path)
            unlink(p->log_path);
        proc_free(p);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    if (r->opts.guard)
        watchdog_add(r->opts.guard, pid); /* its own group (spawn_posix, child_exec) */
started:
    if (!held) {
        event_add(p->ev_out, NULL);
        if (p->ev_cap)
            event_add(p->ev_cap, NULL);
        if (spec->timeout_ms > 0) {
            struct timeval tv = {spec->timeout_ms / 1000, (spec->timeout_ms % 1000) * 1000};
            evtimer_add(p->ev_timeout, &tv);
        }
    }
    proc_link(r, p);
    if (out)
        *out = p;
    return 0;
err:
    free(envp);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (gfd[0] >= 0)
        close(gfd[0]);
    if (cfd[0] >= 0)
        close(cfd[0]);
    if (cfd[1] >= 0)
        close(cfd[1]);
    if (p->log_path)
        unlink(p->log_path);
    proc_free(p);
    return rc;
}

int exec_start(struct exec_runner *r, const struct exec_spec *spec, exec_done_cb cb, void *arg,
               struct exec_proc **out, struct sc_err *err)
{
    return proc_create(r, spec, cb, arg, false, out, err);
}

int exec_prepare(struct exec_runner *r, const struct exec_spec *spec, exec_done_cb cb, void *arg,
                 struct exec_proc **out, struct sc_err *err)
{
    struct exec_proc *p = NULL;
    int rc = proc_create(r, spec, cb, arg, true, &p, err);
    if (rc == 0 && out)
        *out = p;
    return rc;
}

int exec_release(struct exec_proc *p)
{
    struct exec_runner *r = p->r;
    if (!p->held || p->cancelled)
        return -EINVAL;
    /* Not ready (a spawner thread still creates it) or gone: the caller starts afresh. */
    if (p->spawning || p->gone || send(p->gate_fd, "g", 1, MSG_NOSIGNAL) != 1) {
        exec_cancel(p);
        return -ESRCH;
    }
    int64_t now = exec_now_real_ms(), mono = exec_now_mono_ms();
    close(p->gate_fd);
    p->gate_fd = -1;
    proc_unlink(r, p);
    p->held = false;
    free(p->log_path);
    p->log_path = NULL;
    proc_link(r, p);
    p->started_ms = now;
    p->started_mono = mono;
    event_add(p->ev_out, NULL);
    if (p->ev_cap)
        event_add(p->ev_cap, NULL);
    if (p->timeout_ms > 0) {
        struct timeval tv = {p->timeout_ms / 1000, (p->timeout_ms % 1000) * 1000};
        evtimer_add(p->ev_timeout, &tv);
    }
    return 0;
}

void exec_cancel(struct exec_proc *p)
{
    if (!p->held || p->cancelled)
        return;
    if (p->spawning) {
        cancel_held(p); /* the process itself is finished by on_spawned */
        return;
    }
    cancel_now(p);
}
