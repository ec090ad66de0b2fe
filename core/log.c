/* core/log.c: the logging wrapper over log4c, with a stderr fallback.
 *
 * Owns the process's log configuration. Categories used by the project are
 * created in log_init() (before threads exist) and cached, because log4c's
 * category table is not safe to grow from several threads at once; writes are
 * serialised with one mutex so appenders never interleave. */
#include "core/log.h"

#include <errno.h>
#include <log4c.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const known_cats[] = {
    "shardcron",         "shardcron.core", "shardcron.registry", "shardcron.sharding",
    "shardcron.agent",   "shardcron.exec", "shardcron.console",  "shardcron.ctl",
    "shardcron.history", "shardcron.http",
};
#define N_CATS (sizeof known_cats / sizeof known_cats[0])

static struct {
    int use_log4c;
    int threshold; /* messages above this level are dropped before formatting */
    char prog[32];
    log4c_category_t *cats[N_CATS];
    pthread_mutex_t lock;
} g = {.threshold = LOG_LVL_INFO, .prog = "shardcron", .lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};
static const int log4c_prio[] = {LOG4C_PRIORITY_ERROR, LOG4C_PRIORITY_WARN, LOG4C_PRIORITY_NOTICE,
                                 LOG4C_PRIORITY_INFO, LOG4C_PRIORITY_DEBUG};

int log_parse_level(const char *name)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return LOG_LVL_WARN;
    return -1;
}

int log_using_log4c(void)
{
    return g.use_log4c;
}

static int has_rc(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/log4crc", dir);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* find_rc_dir: the first directory holding a log4crc, or NULL. The tree's
 * conf/ is found relative to the binary (build/bin/X -> ../../conf). */
static const char *find_rc_dir(const char *rc_dir, char *buf, size_t len)
{
    const char *env = getenv("LOG4C_RCPATH");
    if (rc_dir && has_rc(rc_dir))
        return rc_dir;
    if (env && has_rc(env))
        return env;
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n > 0) {
        buf[n] = '\0';
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(buf, '/');
            if (!slash)
                break;
            *slash = '\0';
            size_t used = strlen(buf);
            if (used + 6 < len) {
                strcat(buf, "/conf");
                if (has_rc(buf))
                    return buf;
                buf[used] = '\0';
            }
        }
    }
    if (has_rc("/etc/shardcron"))
        return "/etc/shardcron";
    return NULL;
}

int log_init(const char *progname, const char *rc_dir, const char *level)
{
    int lvl = -1;
    if (level && (lvl = log_parse_level(level)) < 0)
        return -EINVAL;
    if (progname) {
        const char *base = strrchr(progname, '/');
        snprintf(g.prog, sizeof g.prog, "%s", base ? base + 1 : progname);
    }
    if (!g.use_log4c) {
        char buf[4096];
        const char *dir = find_rc_dir(rc_dir, buf, sizeof buf);
        if (dir) {
            /* Before any thread exists, so changing the environment is safe. */
            setenv("LOG4C_RCPATH", dir, 1);
            if (log4c_init() == 0) {
                g.use_log4c = 1;
                for (size_t i = 0; i < N_CATS; i++)
                    g.cats[i] = log4c_category_get(known_cats[i]);
            }
        }
    }
    if (lvl >= 0) {
        g.threshold = lvl;
        if (g.use_log4c)
            log4c_category_set_priority(g.cats[0], log4c_prio[lvl]);
    } else if (g.use_log4c) {
        g.threshold = LOG_LVL_DEBUG; /* the rc file decides */
    }
    return 0;
}

void log_fini(void)
{
    if (g.use_log4c) {
        log4c_fini();
        g.use_log4c = 0;
        memset(g.cats, 0, sizeof g.cats);
    }
}

static log4c_category_t *cat_for(const char *name)
{
    for (size_t i = 0; i < N_CATS; i++)
        if (strcmp(known_cats[i], name) == 0)
            return g.cats[i];
    return g.cats[0];
}

void log_write(const char *cat, enum log_level lvl, const char *file, int line, const char *fmt,
               ...)
{
    char msg[2048];
    va_list ap;

    if ((int)lvl > g.threshold)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4);
    if (lvl == LOG_LVL_DEBUG) {
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof msg - used, " [%s:%d]", file, line);
    }

    pthread_mutex_lock(&g.lock);
    if (g.use_log4c) {
        log4c_category_log(cat_for(cat), log4c_prio[lvl], "%s", msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %-6s %s[%d] %s: %s\n", when, ts.tv_nsec / 1000000L,
                level_names[lvl], g.prog, (int)getpid(), cat, msg);
    }
    pthread_mutex_unlock(&g.lock);
}
