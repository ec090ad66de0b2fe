/* agent/logsweep.c: pruning of old execution logs (see agent/logsweep.h). */
#define LOG_CAT "shardcron.agent"
#include "agent/logsweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define SLICE_ENTRIES 256 /* directory entries looked at per tick */
#define SLICE_GAP_MS 20   /* between ticks of a running sweep */

struct logsweep {
    struct event_base *base;
    char *dir;
    int keep_days, period_s;
    struct event *ev_period, *ev_slice;
    DIR *d; /* non-NULL while a sweep runs */
    time_t cutoff;
    uint64_t deleted, sweeps, sweep_deleted;
};

/* is_exec_log: "<something>.log" that is not a JVM worker's log. */
static bool is_exec_log(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".log") == 0 && strncmp(name, "javaw-", 6) != 0 &&
           name[0] != '.';
}

static void finish(struct logsweep *ls)
{
    closedir(ls->d);
    ls->d = NULL;
    ls->sweeps++;
    if (ls->sweep_deleted)
        LOGI("execution logs older than %d days: %llu deleted from %s", ls->keep_days,
             (unsigned long long)ls->sweep_deleted, ls->dir);
}

static void slice_cb(evutil_socket_t fd, short what, void *arg)
{
    struct logsweep *ls = arg;
    (void)fd, (void)what;
    if (!ls->d)
        return;
    int dfd = dirfd(ls->d);
    for (int k = 0; k < SLICE_ENTRIES; k++) {
        errno = 0;
        struct dirent *e = readdir(ls->d);
        if (!e) {
            if (errno)
                LOGW("reading %s: %s", ls->dir, strerror(errno));
            finish(ls);
            return;
        }
        struct stat st;
        if (!is_exec_log(e->d_name) || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode) || st.st_mtime >= ls->cutoff)
            continue;
        if (unlinkat(dfd, e->d_name, 0) == 0) {
            ls->deleted++;
            ls->sweep_deleted++;
        } else if (errno != ENOENT) {
            LOGW("deleting %s/%s: %s", ls->dir, e->d_name, strerror(errno));
        }
    }
    struct timeval gap = {0, SLICE_GAP_MS * 1000};
    evtimer_add(ls->ev_slice, &gap);
}

void logsweep_now(struct logsweep *ls)
{
    if (!ls || ls->keep_days <= 0 || ls->d)
        return;
    if (!(ls->d = opendir(ls->dir))) {
        if (errno != ENOENT)
            LOGW("cannot open %s to prune execution logs: %s", ls->dir, strerror(errno));
        return;
    }
    ls->cutoff = time(NULL) - (time_t)ls->keep_days * 86400;
    ls->sweep_deleted = 0;
    struct timeval now = {0, 0};
    evtimer_add(ls->ev_slice, &now);
}

static void period_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    logsweep_now(arg);
}

int logsweep_new(struct event_base *base, const char *dir, int keep_days, int period_s,
                 struct logsweep **out)
{
    struct logsweep *ls = calloc(1, sizeof *ls);
    *out = NULL;
    if (!ls || !(ls->dir = strdup(dir))) {
        free(ls);
        return -ENOMEM;
    }
    ls->base = base;
    ls->keep_days = keep_days;
    ls->period_s = period_s > 0 ? period_s : 3600;
    ls->ev_slice = evtimer_new(base, slice_cb, ls);
    ls->ev_period = event_new(base, -1, EV_PERSIST, period_cb, ls);
    struct timeval tv = {ls->period_s, 0};
    if (!ls->ev_slice || !ls->ev_period || (keep_days > 0 && event_add(ls->ev_period, &tv) < 0)) {
        logsweep_free(ls);
        return -ENOMEM;
    }
    *out = ls;
    return 0;
}

uint64_t logsweep_deleted(const struct logsweep *ls)
{
    return ls ? ls->deleted : 0;
}

uint64_t logsweep_sweeps(const struct logsweep *ls)
{
    return ls ? ls->sweeps : 0;
}

void logsweep_free(struct logsweep *ls)
{
    if (!ls)
        return;
    if (ls->d)
        closedir(ls->d);
    if (ls->ev_slice)
        event_free(ls->ev_slice);
    if (ls->ev_period)
        event_free(ls->ev_period);
    free(ls->dir);
    free(ls);
}
