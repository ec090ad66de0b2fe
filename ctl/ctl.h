/* ctl/ctl.h: shardcronctl's command table. Each command group lives in its own
 * ctl/cmd_<group>.c and exports its handlers here; ctl/main.c dispatches. */
#ifndef SC_CTL_H
#define SC_CTL_H

#include "core/config.h"

/* Exit statuses of shardcronctl. */
enum { CTL_OK = 0, CTL_ERR = 1, CTL_INVALID = 2 };

/* A handler gets the loaded settings and the positional words after the command
 * words (args[0] is the first operand). Returns a CTL_* exit status. */
typedef int (*ctl_fn)(const struct cfg *c, int nargs, char **args);

struct ctl_cmd {
    const char *group; /* "cron", "job", "agents", ... */
    const char *verb;  /* "preview", or NULL for one-word commands */
    ctl_fn run;
    const char *usage;
};

extern const struct ctl_cmd ctl_commands[];

/* ctl/cmd_job.c */
int ctl_job_put(const struct cfg *c, int nargs, char **args);
int ctl_job_get(const struct cfg *c, int nargs, char **args);
int ctl_job_list(const struct cfg *c, int nargs, char **args);
int ctl_job_delete(const struct cfg *c, int nargs, char **args);
int ctl_job_trigger(const struct cfg *c, int nargs, char **args);
int ctl_job_enable(const struct cfg *c, int nargs, char **args);
int ctl_job_disable(const struct cfg *c, int nargs, char **args);
int ctl_agents(const struct cfg *c, int nargs, char **args);
int ctl_shards(const struct cfg *c, int nargs, char **args);
int ctl_export(const struct cfg *c, int nargs, char **args);
int ctl_import(const struct cfg *c, int nargs, char **args);

/* ctl/cmd_cron.c */
int ctl_cron_preview(const struct cfg *c, int nargs, char **args);
int ctl_cron_check(const struct cfg *c, int nargs, char **args);

/* ctl/cmd_db.c */
int ctl_db_migrate(const struct cfg *c, int nargs, char **args);

/* ctl/cmd_user.c */
int ctl_user_add(const struct cfg *c, int nargs, char **args);

#endif
