/* core/log.h: the one logging wrapper. Every module logs through these macros.
 *
 * Backed by log4c when a log4crc is found (conf/log4crc in the tree, the
 * directory named by --log-config or $LOG4C_RCPATH, or /etc/shardcron), else
 * lines go to stderr in the same format. Categories are "shardcron.<module>";
 * a .c file sets its category by defining LOG_CAT before including this header.
 *
 * log_init() must run before any thread starts (log4c's own init is not
 * thread-safe); after it, the macros may be called from any thread. */
#ifndef SC_LOG_H
#define SC_LOG_H

#ifndef LOG_CAT
#define LOG_CAT "shardcron"
#endif

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* log_init: program name for the stderr fallback; rc_dir may be NULL (search the
 * usual places); level may be NULL (keep the rc file's). Returns 0 or -EINVAL
 * for an unknown level name. Calling it twice reconfigures the level only. */
int log_init(const char *progname, const char *rc_dir, const char *level);

/* log_fini: flush and release log4c; no logging after it. */
void log_fini(void);

/* log_parse_level: "error|warn|notice|info|debug" -> level, or -1. */
int log_parse_level(const char *name);

/* log_using_log4c: 1 when an rc file was found and log4c is in use. */
int log_using_log4c(void);

void log_write(const char *cat, enum log_level lvl, const char *file, int line, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

#define LOGE(...) log_write(LOG_CAT, LOG_LVL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define LOGW(...) log_write(LOG_CAT, LOG_LVL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define LOGN(...) log_write(LOG_CAT, LOG_LVL_NOTICE, __FILE__, __LINE__, __VA_ARGS__)
#define LOGI(...) log_write(LOG_CAT, LOG_LVL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define LOGD(...) log_write(LOG_CAT, LOG_LVL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
