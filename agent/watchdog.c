/* agent/watchdog.c: the execution watchdog process (see watchdog.h). */
#define LOG_CAT "shardcron.agent"
#include "agent/watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct shared {
    _Atomic int64_t deadline_ms;
    _Atomic int stop;
    _Atomic int64_t kills;
    _Atomic int pgid[WATCHDOG_SLOTS];
};

struct watchdog {
    struct shared *sh;
    pid_t pid;
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

int watchdog_start(struct watchdog **out)
{
    struct watchdog *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->sh = mmap(NULL, sizeof *w->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w->sh == MAP_FAILED) {
        free(w);
        return -errno;
    }
    pid_t parent = getpid();
    w->pid = fork();
    if (w->pid < 0) {
        int e = -errno;
        munmap(w->sh, sizeof *w->sh);
        free(w);
        return e;
    }
    if (w->pid == 0) {
        /* Keep nothing of the agent's: sockets, pipes, files. */
        close_range(0, ~0U, 0);
        prctl(PR_SET_NAME, "sc-watchdog");
        signal(SIGTERM, SIG_IGN); /* a group SIGTERM must not remove the guard */
        signal(SIGINT, SIG_IGN);
        run(w->sh, parent);
    }
    *out = w;
    return 0;
}

void watchdog_stop(struct watchdog *w)
{
    if (!w)
        return;
    atomic_store(&w->sh->stop, 1);
    waitpid(w->pid, NULL, 0);
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
