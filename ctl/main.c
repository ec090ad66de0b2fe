/* ctl/main.c: shardcronctl, the command line for operators.
 *
 * Loads settings (flags, SHARDCRON_* variables, --config file), then dispatches
 * on the first one or two positional words to a handler in ctl/cmd_*.c. */
#define LOG_CAT "shardcron.ctl"
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "ctl/ctl.h"

static const struct cfg_opt ctl_opts[] = {
    CFG_COMMON_OPTS,
    {"format", 0, CFG_STR, "text", "output format: text|json"},
    {"tz", 0, CFG_STR, NULL, "time zone for cron preview (IANA name, default UTC)"},
    {"from", 0, CFG_STR, NULL,
     "cron preview start: 'YYYY-MM-DD HH:MM:SS' in --tz, or @EPOCH; workflow backfill: first "
     "logical time (ISO 8601 with offset, or epoch seconds)"},
    {"to", 0, CFG_STR, NULL, "workflow backfill: last logical time (as --from)"},
    {"n", 'n', CFG_INT, "10", "number of fire times in a preview"},
    {"calendar", 0, CFG_STR, NULL, "cron preview: fire only on the days of this calendar"},
    {"calendar_rule", 0, CFG_STR, NULL, "cron preview --calendar: workdays (default) | holidays"},
    {"calendar_shift", 0, CFG_STR, NULL,
     "cron preview --calendar: none (default) | next | previous"},
    {"param", 0, CFG_LIST, NULL,
     "job trigger: one-off job parameter; workflow trigger: K=V (repeatable)"},
    {"logical_time", 0, CFG_STR, NULL,
     "workflow trigger: the run's logical time (ISO 8601 with offset, or epoch seconds)"},
    {"downstream", 0, CFG_FLAG, NULL, "workflow clear: also every task downstream"},
    {"reprocess", 0, CFG_STR, "none", "workflow backfill: none|failed|all"},
    {"dry_run", 0, CFG_FLAG, NULL, "workflow backfill: list the runs, create none"},
    {"confirm", 0, CFG_FLAG, NULL, "import: apply the changes (default is a dry run)"},
    {"domain", 0, CFG_STR, NULL, "pause add: pause the jobs of this domain"},
    {"scope_job", 0, CFG_STR, NULL, "pause add: pause this job"},
    {"scope_workflow", 0, CFG_STR, NULL, "pause add: pause this workflow's tasks"},
    {"labels", 0, CFG_STR, NULL, "pause add: pause the jobs carrying any of these labels (a,b)"},
    {"all", 0, CFG_FLAG, NULL, "pause add: pause every job and workflow"},
    {"for", 0, CFG_STR, NULL, "pause add: how long, from --from or now: 90s, 30m, 2h, 1d"},
    {"reason", 0, CFG_STR, NULL, "pause add: why (shown in listings and history)"},
    {"action", 0, CFG_STR, NULL, "pause add: skip (default) or defer (run once at the end)"},
    {"pause_id", 0, CFG_STR, NULL, "pause add: the window's id (default: made from the scope)"},
    {"role", 0, CFG_STR, NULL, "user add: viewer|operator|admin"},
    {"password_file", 0, CFG_STR, NULL, "user add: file holding the new user's password"},
    {NULL, 0, 0, NULL, NULL},
};

const struct ctl_cmd ctl_commands[] = {
    {"cron", "preview", ctl_cron_preview,
     "cron preview EXPR [--tz ZONE] [--from TIME] [-n N] [--calendar NAME [--calendar-rule R] "
     "[--calendar-shift S]] [--format text|json]"},
    {"cron", "check", ctl_cron_check, "cron check EXPR [--format text|json]"},
    {"job", "put", ctl_job_put, "job put FILE|-"},
    {"job", "get", ctl_job_get, "job get NAME"},
    {"job", "list", ctl_job_list, "job list"},
    {"job", "delete", ctl_job_delete, "job delete NAME"},
    {"job", "trigger", ctl_job_trigger, "job trigger NAME [--param P]"},
    {"job", "enable", ctl_job_enable, "job enable NAME"},
    {"job", "disable", ctl_job_disable, "job disable NAME"},
    {"job", "preview", ctl_job_preview,
     "job preview NAME [-n N] [--from TIME] [--format text|json]"},
    {"calendar", "put", ctl_calendar_put, "calendar put FILE|-"},
    {"calendar", "get", ctl_calendar_get, "calendar get NAME"},
    {"calendar", "list", ctl_calendar_list, "calendar list"},
    {"calendar", "delete", ctl_calendar_delete, "calendar delete NAME"},
    {"workflow", "put", ctl_wf_put, "workflow put FILE|-"},
    {"workflow", "get", ctl_wf_get, "workflow get NAME"},
    {"workflow", "list", ctl_wf_list, "workflow list"},
    {"workflow", "delete", ctl_wf_delete, "workflow delete NAME"},
    {"workflow", "enable", ctl_wf_enable, "workflow enable NAME"},
    {"workflow", "disable", ctl_wf_disable, "workflow disable NAME"},
    {"workflow", "trigger", ctl_wf_trigger,
     "workflow trigger NAME [--param K=V]... [--logical-time T]"},
    {"workflow", "runs", ctl_wf_runs, "workflow runs NAME"},
    {"workflow", "run", ctl_wf_run, "workflow run RUN_ID"},
    {"workflow", "clear", ctl_wf_clear, "workflow clear RUN_ID TASK [--downstream]"},
    {"workflow", "mark", ctl_wf_mark, "workflow mark RUN_ID TASK succeeded|failed|skipped"},
    {"workflow", "cancel", ctl_wf_cancel, "workflow cancel RUN_ID"},
    {"workflow", "backfill", ctl_wf_backfill,
     "workflow backfill NAME --from T --to T [--reprocess none|failed|all] [--dry-run]"},
    {"agents", NULL, ctl_agents, "agents"},
    {"shards", NULL, ctl_shards, "shards NAME"},
    {"export", NULL, ctl_export, "export"},
    {"import", NULL, ctl_import, "import FILE [--confirm]"},
    {"pause", "add", ctl_pause_add,
     "pause add FILE|- | pause add --domain D|--scope-job J|--scope-workflow W|--labels L,..|--all"
     " --for 30m|--to T --reason TEXT [--from T] [--tz ZONE] [--action skip|defer]"
     " [--pause-id ID]"},
    {"pause", "list", ctl_pause_list, "pause list [--format json]"},
    {"pause", "delete", ctl_pause_delete, "pause delete ID"},
    {"db", "migrate", ctl_db_migrate, "db migrate"},
    {"user", "add", ctl_user_add, "user add NAME --role ROLE --password-file FILE"},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: shardcronctl [options] COMMAND [ARGS]\n\ncommands:\n");
    for (const struct ctl_cmd *k = ctl_commands; k->group; k++)
        fprintf(out, "  %s\n", k->usage);
    fprintf(out, "\noptions (also SHARDCRON_<NAME> variables or a --config file):\n");
    cfg_usage(out, ctl_opts);
    fprintf(out, "\n--format json gives machine-readable output. Exit status: 0 ok, 1 error,"
                 " 2 invalid input.\n");
}

int main(int argc, char **argv)
{
    struct cfg c;
    struct sc_err err;
    char msg[512];
    int rc = CTL_ERR;

    sc_err_clear(&err);
    if (cfg_load(&c, ctl_opts, argc, argv, &err) < 0) {
        fprintf(stderr, "shardcronctl: %s\n", sc_err_format(&err, msg, sizeof msg));
        usage(stderr);
        goto out;
    }
    if (cfg_flag(&c, "version")) {
        printf("shardcronctl %s\n", SC_VERSION);
        rc = CTL_OK;
        goto out;
    }
    if (cfg_flag(&c, "help") || c.npos == 0) {
        usage(c.npos == 0 && !cfg_flag(&c, "help") ? stderr : stdout);
        rc = cfg_flag(&c, "help") ? CTL_OK : CTL_INVALID;
        goto out;
    }
    if (log_init(argv[0], cfg_str(&c, "log_config"),
                 cfg_str(&c, "log_level") ? cfg_str(&c, "log_level") : "warn") < 0) {
        fprintf(stderr, "shardcronctl: log_level: unknown level \"%s\"\n",
                cfg_str(&c, "log_level"));
        rc = CTL_INVALID;
        goto out;
    }
    for (const struct ctl_cmd *k = ctl_commands; k->group; k++) {
        if (strcmp(k->group, c.pos[0]) != 0)
            continue;
        if (k->verb && (c.npos < 2 || strcmp(k->verb, c.pos[1]) != 0))
            continue;
        int used = k->verb ? 2 : 1;
        rc = k->run(&c, c.npos - used, c.pos + used);
        goto out_log;
    }
    fprintf(stderr, "shardcronctl: unknown command \"%s%s%s\"\n", c.pos[0], c.npos > 1 ? " " : "",
            c.npos > 1 ? c.pos[1] : "");
    usage(stderr);
    rc = CTL_INVALID;
out_log:
    log_fini();
out:
    cfg_free(&c);
    return rc;
}
