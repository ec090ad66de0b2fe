/* ctl/ctl.h: shardcronctl's command table. Each command group lives in its own
 * ctl/cmd_<group>.c and exports its handlers here; ctl/main.c dispatches. */
#ifndef SC_CTL_H
#define SC_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/config.h"

struct zkcli;
struct calendar;

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

/* Shared by the command groups (ctl/cmd_job.c). ctl_connect_zk: the
 * configured namespace, which must exist (an error naming the ones that do
 * is printed otherwise); ctl_connect_zk_create makes it. Both print their
 * errors; NULL on failure. */
struct zkcli *ctl_connect_zk(const struct cfg *c);
struct zkcli *ctl_connect_zk_create(const struct cfg *c);
bool ctl_json_out(const struct cfg *c); /* --format json */
/* ctl_read_all: a file or stdin ("-"), the caller's; *len past 1 MiB means
 * over the cap. NULL with errno set when unreadable. */
char *ctl_read_all(const char *path, size_t *len);
/* ctl_read_doc: ctl_read_all for a document of at most `max` bytes (`what`
 * names it in the error: "a job config"); NULL after printing why, with *rc
 * CTL_ERR (unreadable) or CTL_INVALID (too large). */
char *ctl_read_doc(const char *path, size_t max, const char *what, size_t *len, int *rc);
/* ctl_put_node: `doc` written at ROOT/NAME, created (root ensured) or set at
 * the version just read, so a concurrent writer is refused, not overwritten.
 * *version: the new version (0 when created). CTL_OK, or CTL_ERR said on
 * stderr ("WHAT NAME changed concurrently; retry", or ZooKeeper's error). */
int ctl_put_node(struct zkcli *k, const char *root, const char *name, const char *doc,
                 const char *what, int *version);
/* ctl_need_args: CTL_OK, or CTL_INVALID after printing the usage. */
int ctl_need_args(int nargs, int want, const char *usage);

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
/* ctl_print_preview: print a preview object (core/cron_preview.h) as text
 * or, with --format json, as it is; frees it. CTL_INVALID when not valid. */
int ctl_print_preview(const struct cfg *c, cJSON *o);

/* ctl/cmd_calendar.c */
int ctl_calendar_put(const struct cfg *c, int nargs, char **args);
int ctl_calendar_get(const struct cfg *c, int nargs, char **args);
int ctl_calendar_list(const struct cfg *c, int nargs, char **args);
int ctl_calendar_delete(const struct cfg *c, int nargs, char **args);
int ctl_job_preview(const struct cfg *c, int nargs, char **args);
/* ctl_calendar_load: calendar `name` read from ZooKeeper, the caller's
 * (calendar_unref); NULL after printing why (none, invalid, unreadable). */
struct calendar *ctl_calendar_load(struct zkcli *k, const char *name);
/* ctl_calendar_check: CTL_OK when `calendar` is "" or exists; otherwise
 * prints that `what` `name` (a job, a workflow) names no calendar. */
int ctl_calendar_check(struct zkcli *k, const char *what, const char *name, const char *calendar);

/* ctl/cmd_workflow.c */
int ctl_wf_put(const struct cfg *c, int nargs, char **args);
int ctl_wf_get(const struct cfg *c, int nargs, char **args);
int ctl_wf_list(const struct cfg *c, int nargs, char **args);
int ctl_wf_delete(const struct cfg *c, int nargs, char **args);
int ctl_wf_enable(const struct cfg *c, int nargs, char **args);
int ctl_wf_disable(const struct cfg *c, int nargs, char **args);
int ctl_wf_trigger(const struct cfg *c, int nargs, char **args);
int ctl_wf_runs(const struct cfg *c, int nargs, char **args);
int ctl_wf_run(const struct cfg *c, int nargs, char **args);
int ctl_wf_clear(const struct cfg *c, int nargs, char **args);
int ctl_wf_mark(const struct cfg *c, int nargs, char **args);
int ctl_wf_cancel(const struct cfg *c, int nargs, char **args);
int ctl_wf_backfill(const struct cfg *c, int nargs, char **args);

/* ctl/cmd_pause.c */
int ctl_pause_add(const struct cfg *c, int nargs, char **args);
int ctl_pause_list(const struct cfg *c, int nargs, char **args);
int ctl_pause_delete(const struct cfg *c, int nargs, char **args);

/* ctl/cmd_db.c */
int ctl_db_migrate(const struct cfg *c, int nargs, char **args);

/* ctl/cmd_user.c */
int ctl_user_add(const struct cfg *c, int nargs, char **args);

#endif
