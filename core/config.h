/* core/config.h: daemon and CLI settings from a file, the environment and flags.
 *
 * Precedence: flags > SHARDCRON_<NAME> environment variables > config file
 * (--config FILE or $SHARDCRON_CONFIG) > built-in defaults. The file format is
 * one `key = value` per line, `#` starts a comment, keys are the long flag
 * names with either dashes or underscores (`session_timeout_ms = 2000`).
 * Unknown keys and flags are errors that name the key (and file:line).
 * Secrets are never read from argv: only from files named by *_file settings. */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "core/err.h"

enum cfg_type {
    CFG_STR,  /* --name VALUE */
    CFG_INT,  /* --name N (checked by cfg_int) */
    CFG_FLAG, /* --name (no value; "1" when present) */
    CFG_LIST, /* --name VALUE, repeatable: cfg_str gives the values the command line
               * gave, in order, joined by '\n' (replacing a file's or the
               * environment's); a value holding a newline is refused */
};

struct cfg_opt {
    const char *name; /* with underscores: "session_timeout_ms" */
    char alias;       /* short flag letter, or 0 */
    enum cfg_type type;
    const char *def; /* default value or NULL */
    const char *help;
};

struct cfg {
    const struct cfg_opt *opts;
    int nopts;
    char **vals; /* parallel to opts; owned */
    char **pos;  /* positional arguments, pointers into argv */
    int npos;
};

/* cfg_load: fill `c` from defaults, file, environment and argv (argv[0] skipped).
 * `opts` ends with a {NULL} entry and must outlive `c`. Returns 0 or -EINVAL
 * with err naming the offending key. cfg_free() is needed in both cases. */
int cfg_load(struct cfg *c, const struct cfg_opt *opts, int argc, char **argv, struct sc_err *err);
void cfg_free(struct cfg *c);

/* cfg_str: the value, or NULL when unset. */
const char *cfg_str(const struct cfg *c, const char *name);
bool cfg_flag(const struct cfg *c, const char *name);
/* cfg_int: 0 and *out set, -ENOENT when unset, -EINVAL (err names the key) when
 * not an integer in [min, max]. */
int cfg_int(const struct cfg *c, const char *name, long long min, long long max, long long *out,
            struct sc_err *err);

/* cfg_read_secret: first line of a secret file (no trailing newline), the
 * caller's to free. Refuses group/world-readable files with a clear error. */
char *cfg_read_secret(const char *path, struct sc_err *err);

/* cfg_usage: prints the option table (for --help). */
void cfg_usage(FILE *out, const struct cfg_opt *opts);

/* The settings every binary takes (design.md, "Command lines"). */
#define CFG_COMMON_OPTS                                                                            \
    {"config", 0, CFG_STR, NULL, "config file (key = value lines)"},                               \
        {"zk", 0, CFG_STR, "127.0.0.1:2181", "ZooKeeper HOST:PORT[,HOST:PORT...][/chroot]"},       \
        {"namespace", 0, CFG_STR, "shardcron", "namespace root in ZooKeeper"},                     \
        {"zk_auth_file", 0, CFG_STR, NULL, "file holding user:password for the namespace ACL"},    \
        {"mysql", 0, CFG_STR, NULL, "history store, mysql://USER@HOST:PORT/DB"},                   \
        {"mysql_password_file", 0, CFG_STR, NULL, "file holding the MySQL password"},              \
        {"log_level", 0, CFG_STR, NULL, "error|warn|notice|info|debug"},                           \
        {"log_config", 0, CFG_STR, NULL, "directory holding log4crc"},                             \
        {"help", 'h', CFG_FLAG, NULL, "print this help and exit"},                                 \
    {                                                                                              \
        "version", 'V', CFG_FLAG, NULL, "print the version and exit"                               \
    }
#endif
