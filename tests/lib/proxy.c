/* tests/lib/proxy.c: the test's side of tests/lib/tcp_proxy.py (tests/lib/proxy.h). */
#include "tests/lib/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testenv.h"

/* read_line: the next answer line into `line` within `deadline_ms`; 0 or -1. */
static int read_line(struct tp_proxy *p, char *line, size_t len, int deadline_ms)
{
    long long end = tenv_now_ms() + deadline_ms;
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->nbuf);
        if (nl) {
            size_t n = (size_t)(nl - p->buf);
            snprintf(line, len, "%.*s", (int)n, p->buf);
            memmove(p->buf, nl + 1, p->nbuf - n - 1);
            p->nbuf -= n + 1;
            return 0;
        }
        long long left = end - tenv_now_ms();
        if (left <= 0 || p->nbuf == sizeof p->buf)
            return -1;
        struct pollfd pfd = {p->from, POLLIN, 0};
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        ssize_t r = read(p->from, p->buf + p->nbuf, sizeof p->buf - p->nbuf);
        if (r <= 0)
            return -1;
        p->nbuf += (size_t)r;
    }
}

int tp_start(struct tp_proxy *p, const char *target, const char *log)
{
    int in[2], out[2];
    char script[600], line[128];
    memset(p, 0, sizeof *p);
    p->to = p->from = -1;
    snprintf(script, sizeof script, "%s/tests/lib/tcp_proxy.py", tenv("SC_ROOT"));
    if (pipe2(in, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        goto err;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execlp("python3", "python3", script, target, log, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->pid = pid;
    p->to = in[1];
    p->from = out[0];
    /* A test that writes to a proxy that died gets an error, not SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (read_line(p, line, sizeof line, 10000) < 0 || sscanf(line, "port %d", &p->port) != 1) {
        tp_stop(p);
        return -1;
    }
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", p->port);
    return 0;
err:
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    return -1;
}

int tp_cmd(struct tp_proxy *p, const char *cmd, char *answer, size_t len)
{
    char line[4096];
    size_t n = strlen(cmd);
    if (p->to < 0 || write(p->to, cmd, n) != (ssize_t)n || write(p->to, "\n", 1) != 1)
        return -1;
    if (read_line(p, line, sizeof line, 5000) < 0)
        return -1;
    if (answer)
        snprintf(answer, len, "%s", line);
    return strncmp(line, "ok", 2) == 0 ? 0 : -1;
}

int tp_holds(struct tp_proxy *p, const char *what)
{
    char line[4096];
    if (tp_cmd(p, "stats", line, sizeof line) < 0)
        return 0;
    const char *held = strstr(line, " held=");
    return held && strstr(held, what) != NULL;
}

void tp_stop(struct tp_proxy *p)
{
    if (p->to >= 0)
        close(p->to);
    if (p->from >= 0)
        close(p->from);
    p->to = p->from = -1;
    if (p->pid > 0) {
        long long end = tenv_now_ms() + 5000;
        while (waitpid(p->pid, NULL, WNOHANG) == 0) {
            if (tenv_now_ms() > end) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, NULL, 0);
                break;
            }
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        p->pid = 0;
    }
}
