/* agent/watchdog.c: the execution watchdog process (see watchdog.h). */
#define LOG_CAT "shardcron.agent"
#include "agent/watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct shared {
    _Atomic int64_t deadline_ms;
    _Atomic int64_t beat_ms; /* CLOCK_MONOTONIC ms the watchdog last looked */
    _Atomic int stop;
    _Atomic int64_t kills;
    _Atomic int pgid[WATCHDOG_SLOTS];
};

struct watchdog {
    struct shared *sh;
    pid_t pid;
    int pidfd;   /* signals the process we forked, never a reuse of its pid */
    pid_t agent; /* the process it guards */
    int64_t restarts;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_all(struct shared *sh)
{
    for (int i = 0; i < WATCHDOG_SLOTS; i++) {
        int g = atomic_exchange(&sh->pgid[i], 0);
        if (g > 0 && kill(-g, SIGKILL) == 0)
            atomic_fetch_add(&sh->kills, 1);
    }
}

/* run: the watchdog's whole life; async-signal-safe calls only (it was forked
 * from a threaded process). */
static void run(struct shared *sh, pid_t parent)
{
    struct timespec step = {0, 20 * 1000000L};
    for (;;) {
        atomic_store(&sh->beat_ms, mono_ms());
        if (atomic_load(&sh->stop))
            _exit(0);
        if (getppid() != parent) { /* the agent died: nobody vouches for its runs */
            kill_all(sh);
            _exit(0);
        }
        int64_t d = atomic_load(&sh->deadline_ms);
        if (d > 0 && mono_ms() > d)
            kill_all(sh);
        nanosleep(&step, NULL);
    }
}

/* spawn: fork a watchdog process on w's page. 0 or -errno. */
static int spawn(struct watchdog *w)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        /* Keep nothing of the agent's: sockets, pipes, files. */
        close_range(0, ~0U, 0);
        /* Out of the agent's process group and session: kill -STOP -PGID of
         * the agent, or its terminal's ^Z, must not freeze the guard too. */
        setsid();
        prctl(PR_SET_NAME, "sc-watchdog");
        signal(SIGTERM, SIG_IGN); /* a group SIGTERM must not remove the guard */
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        run(w->sh, w->agent);
    }
    atomic_store(&w->sh->beat_ms, mono_ms()); /* a fresh one gets time to start */
    w->pid = pid;
    w->pidfd = pidfd_open(pid, 0); /* -1 (old kernel): plain kill(2) below */
    return 0;
}

static void kill_process(struct watchdog *w)
{
    if (w->pidfd >= 0) {
        pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
        close(w->pidfd);
        w->pidfd = -1;
    } else if (w->pid > 0) {
        kill(w->pid, SIGKILL);
    }
}

int watchdog_start(struct watchdog **out)
{
    struct watchdog *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->pidfd = -1;
    w->sh = mmap(NULL, sizeof *w->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w->sh == MAP_FAILED) {
        free(w);
        return -errno;
    }
    w->agent = getpid();
    int rc = spawn(w);
    if (rc < 0) {
        munmap(w->sh, sizeof *w->sh);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int watchdog_check(struct watchdog *w, int64_t stale_ms)
{
    int64_t age = mono_ms() - atomic_load(&w->sh->beat_ms);
    if (w->pid > 0 && age <= stale_ms)
        return 0;
    /* Dead (killed, OOM) or stopped: either way nothing guards the runs now.
     * Its exit status goes to whoever reaps children (the process runner). */
    LOGE("execution watchdog %d silent for %lld ms: replacing it", (int)w->pid, (long long)age);
    kill_process(w);
    int rc = spawn(w);
    if (rc < 0) {
        w->pid = 0;
        LOGE("cannot replace the execution watchdog: fork: %s", strerror(-rc));
        return rc;
    }
    w->restarts++;
    LOGW("execution watchdog replaced by %d", (int)w->pid);
    return 1;
}

pid_t watchdog_pid(const struct watchdog *w)
{
    return w ? w->pid : 0;
}

int64_t watchdog_restarts(const struct watchdog *w)
{
    return w ? w->restarts : 0;
}

void watchdog_stop(struct watchdog *w)
{
    if (!w)
        return;
    atomic_store(&w->sh->stop, 1);
    /* Killed rather than waited for: a stopped watchdog would never exit. */
    pid_t pid = w->pid;
    kill_process(w);
    if (pid > 0)
        waitpid(pid, NULL, 0); /* ECHILD if reaped elsewhere: fine */
    munmap(w->sh, sizeof *w->sh);
    free(w);
}

void watchdog_deadline(struct watchdog *w, int64_t mono_deadline_ms)
{
    atomic_store(&w->sh->deadline_ms, mono_deadline_ms);
}

void watchdog_add(struct watchdog *w, pid_t pgid)
{
    for (int i = 0; i < WATCHDOG_SLOTS; i++) {
        int zero = 0;
        if (atomic_compare_exchange_strong(&w->sh->pgid[i], &zero, (int)pgid))
            return;
    }
    LOGW("watchdog full: process group %d is not guarded", (int)pgid);
}

void watchdog_del(struct watchdog *w, pid_t pgid)
{
    for (int i = 0; i < WATCHDOG_SLOTS; i++) {
        int g = (int)pgid;
        if (atomic_compare_exchange_strong(&w->sh->pgid[i], &g, 0))
            return;
    }
}

int64_t watchdog_kills(const struct watchdog *w)
{
    return atomic_load(&w->sh->kills);
}
