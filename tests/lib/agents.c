/* tests/lib/agents.c: agent processes and the double-claim checker for tests. */
#include "tests/lib/agents.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testenv.h"

long long ta_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int read_port(const char *dir)
{
    char path[600];
    int port = 0;
    snprintf(path, sizeof path, "%s/http.port", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

/* Every agent this process started: killed at exit if still running, so a test
 * that fails half-way (cmocka leaves it by longjmp, before ta_stop_all) leaves
 * no agent behind to load the machine or hold ports during later tests. */
static pid_t spawned[256];
static int nspawned;

static void kill_leftovers(void)
{
    for (int i = 0; i < nspawned; i++)
        if (waitpid(spawned[i], NULL, WNOHANG) == 0) { /* ours, still running */
            kill(spawned[i], SIGCONT);
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], NULL, 0);
        }
}

static void remember(pid_t pid)
{
    static bool registered;
    if (!registered && atexit(kill_leftovers) == 0)
        registered = true;
    if (nspawned < (int)(sizeof spawned / sizeof *spawned))
        spawned[nspawned++] = pid;
}

/* launch: start agent `id` in slot `slot` (a new slot, or a dead agent's
 * for a restart with the same id and directory). */
static int launch(struct ta_cluster *c, int slot, const char *id, const char *const *extra)
{
    struct ta_agent *a = &c->a[slot];
    bool fresh = slot == c->n;
    char timeout[32], port_file[600], idbuf[64], ns[64];
    snprintf(idbuf, sizeof idbuf, "%s", id); /* id may point into the cluster */
    snprintf(ns, sizeof ns, "%s", c->ns);
    id = idbuf;
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    snprintf(a->dir, sizeof a->dir, "%s/%s-%s-%d", tenv("SC_TEST_TMP"), ns, id, slot);
    mkdir(a->dir, 0755);
    snprintf(port_file, sizeof port_file, "%s/http.port", a->dir);
    unlink(port_file);
    snprintf(timeout, sizeof timeout, "%d", c->session_ms);
    bool own_group = c->own_group;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char bin[600], log[600];
        if (own_group)
            setpgid(0, 0);
        const char *argv[48];
        int k = 0;
        snprintf(bin, sizeof bin, "%s/shardcron-agent", tenv("SC_BIN"));
        snprintf(log, sizeof log, "%s/agent.log", a->dir);
        for (int w = 0; c->wrapper && c->wrapper[w] && k < 8; w++)
            argv[k++] = c->wrapper[w];
        if (c->wrapper) {
            /* libfaketime and the like: only the wall clock moves, and ASan
             * accepts a preloaded library ahead of it. */
            setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
            const char *ao = getenv("ASAN_OPTIONS");
            char buf[512];
            snprintf(buf, sizeof buf, "%s%sverify_asan_link_order=0", ao ? ao : "", ao ? ":" : "");
            setenv("ASAN_OPTIONS", buf, 1);
        }
        argv[k++] = bin;
        argv[k++] = "--zk";
        argv[k++] = tenv("SC_TEST_ZK");
        argv[k++] = "--namespace";
        argv[k++] = ns;
        argv[k++] = "--id";
        argv[k++] = id;
        argv[k++] = "--work-dir";
        argv[k++] = a->dir;
        argv[k++] = "--http";
        argv[k++] = "127.0.0.1:0";
        argv[k++] = "--session-timeout-ms";
        argv[k++] = timeout;
        for (int i = 0; extra && extra[i] && k < 38; i++)
            argv[k++] = extra[i];
        argv[k] = NULL;
        FILE *lf = freopen(log, "a", stderr);
        (void)lf;
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    a->pid = pid;
    remember(pid);
    long long end = tenv_now_ms() + 10000;
    while (tenv_now_ms() < end) {
        if ((a->port = read_port(a->dir)) > 0)
            return fresh ? c->n++ : slot;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            a->pid = 0;
            a->port = -1;
            /* keep the slot so ta_wait_exit can report */
            return fresh ? c->n++ : slot;
        }
        pause_ms(20);
    }
    return -1;
}

int ta_start(struct ta_cluster *c, const char *id, const char *const *extra)
{
    if (c->n >= TA_MAX)
        return -1;
    return launch(c, c->n, id, extra);
}

int ta_restart(struct ta_cluster *c, int i, const char *const *extra)
{
    if (i < 0 || i >= c->n || c->a[i].pid > 0)
        return -1;
    char id[64];
    snprintf(id, sizeof id, "%s", c->a[i].id);
    return launch(c, i, id, extra);
}

void ta_kill_group(struct ta_cluster *c, int i, int sig)
{
    struct ta_agent *a = &c->a[i];
    if (a->pid <= 0 || getpgid(a->pid) != a->pid)
        return; /* not a group leader: never signal the test's own group */
    kill(-a->pid, sig);
    if (sig == SIGSTOP)
        a->stopped = true;
    else if (sig == SIGCONT)
        a->stopped = false;
}

void ta_kill(struct ta_cluster *c, int i, int sig)
{
    struct ta_agent *a = &c->a[i];
    if (a->pid <= 0)
        return;
    kill(a->pid, sig);
    if (sig == SIGSTOP)
        a->stopped = true;
    else if (sig == SIGCONT)
        a->stopped = false;
    if (sig == SIGKILL) {
        waitpid(a->pid, NULL, 0);
        a->pid = 0;
    }
}

int ta_wait_exit(struct ta_cluster *c, int i, int deadline_ms)
{
    struct ta_agent *a = &c->a[i];
    long long end = tenv_now_ms() + deadline_ms;
    int st;
    if (a->pid <= 0)
        return a->port == -1 ? 0 : -1;
    while (tenv_now_ms() < end) {
        if (waitpid(a->pid, &st, WNOHANG) == a->pid) {
            a->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        pause_ms(20);
    }
    return -1;
}

char *ta_get(struct ta_cluster *c, int i, const char *path)
{
    struct ta_agent *a = &c->a[i];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->port)};
    struct timeval tv = {0, 300000};
    char req[256];
    size_t cap = 65536, n = 0;
    if (a->pid <= 0 || a->stopped || a->port <= 0)
        return NULL;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return NULL;
    }
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    char *buf = malloc(cap + 1);
    if (!buf || write(fd, req, (size_t)len) != len) {
        free(buf);
        close(fd);
        return NULL;
    }
    for (ssize_t r; (r = read(fd, buf + n, cap - n)) > 0;) {
        n += (size_t)r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    buf[n] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (!body || strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") != strchr(buf, ' ')) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

cJSON *ta_status(struct ta_cluster *c, int i)
{
    char *s = ta_get(c, i, "/status");
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    free(s);
    return o;
}

static void record(struct ta_cluster *c, const char *job, int item, int agent, long long since,
                   long long seen)
{
    struct ta_claim *mine = NULL;
    for (int k = 0; k < c->nclaims; k++) {
        struct ta_claim *x = &c->claims[k];
        if (x->item != item || strcmp(x->job, job) != 0)
            continue;
        if (x->agent == agent) {
            mine = x;
            continue;
        }
        long long lo = since > x->since ? since : x->since;
        long long hi = seen < x->seen ? seen : x->seen;
        if (lo <= hi) {
            if (!c->violations++)
                snprintf(c->first_violation, sizeof c->first_violation,
                         "%s item %d held by %s over [%lld,%lld] and by %s over [%lld,%lld]", job,
                         item, c->a[agent].id, since, seen, c->a[x->agent].id, x->since, x->seen);
        }
    }
    if (!mine) {
        if (c->nclaims == c->capclaims) {
            c->capclaims = c->capclaims ? c->capclaims * 2 : 64;
            c->claims = realloc(c->claims, (size_t)c->capclaims * sizeof *c->claims);
        }
        mine = &c->claims[c->nclaims++];
        snprintf(mine->job, sizeof mine->job, "%s", job);
        mine->item = item;
        mine->agent = agent;
    }
    mine->since = since;
    mine->seen = seen;
}

void ta_sample(struct ta_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        /* The agent observed its state at some moment between the request
         * and the reply: the request's time is the latest moment the claim
         * is proven for (the reply's would let a loaded test process stretch
         * a claim past the moment the agent gave the item up). */
        long long seen = ta_now_ms();
        cJSON *st = ta_status(c, i);
        if (!st)
            continue;
        cJSON *owned = cJSON_GetObjectItem(st, "owned");
        cJSON *since = cJSON_GetObjectItem(st, "owned_since");
        cJSON *job;
        cJSON_ArrayForEach(job, owned)
        {
            cJSON *sj = cJSON_GetObjectItem(since, job->string);
            for (int k = 0; k < cJSON_GetArraySize(job); k++) {
                cJSON *s = cJSON_GetArrayItem(sj, k);
                record(c, job->string, cJSON_GetArrayItem(job, k)->valueint, i,
                       s ? (long long)s->valuedouble : seen, seen);
            }
        }
        cJSON_Delete(st);
    }
}

int ta_owners(struct ta_cluster *c, const char *job, int item, int *owner)
{
    int count = 0;
    for (int i = 0; i < c->n; i++) {
        cJSON *st = ta_status(c, i);
        if (!st)
            continue;
        cJSON *arr = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "owned"), job);
        for (int k = 0; k < cJSON_GetArraySize(arr); k++)
            if (cJSON_GetArrayItem(arr, k)->valueint == item) {
                count++;
                if (owner)
                    *owner = i;
            }
        cJSON_Delete(st);
    }
    return count;
}

void ta_stop_all(struct ta_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        struct ta_agent *a = &c->a[i];
        if (a->pid <= 0)
            continue;
        if (a->stopped) {
            kill(a->pid, SIGCONT);
            if (getpgid(a->pid) == a->pid)
                kill(-a->pid, SIGCONT); /* whatever a group stop froze with it */
        }
        kill(a->pid, SIGTERM);
        if (ta_wait_exit(c, i, 10000) < 0) {
            kill(a->pid, SIGKILL);
            waitpid(a->pid, NULL, 0);
            a->pid = 0;
        }
    }
    free(c->claims);
    c->claims = NULL;
    c->nclaims = c->capclaims = 0;
}

int ta_sanitizer_reports(const struct ta_cluster *c, char *first, size_t len)
{
    int bad = 0;
    for (int i = 0; i < c->n; i++) {
        char path[700], line[1024];
        snprintf(path, sizeof path, "%s/agent.log", c->a[i].dir);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f))
            if (strstr(line, "runtime error:") || strstr(line, "ERROR: AddressSanitizer") ||
                strstr(line, "ERROR: LeakSanitizer")) {
                if (!bad++)
                    snprintf(first, len, "%s: %s", path, line);
                break;
            }
        fclose(f);
    }
    return bad;
}
