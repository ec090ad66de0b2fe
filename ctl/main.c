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
    {"from", 0, CFG_STR, NULL, "cron preview start: 'YYYY-MM-DD HH:MM:SS' in --tz, or @EPOCH"},
    {"n", 'n', CFG_INT, "10", "number of fire times in a preview"},
    {"param", 0, CFG_STR, NULL, "one-off job parameter for job trigger"},
    {"confirm", 0, CFG_FLAG, NULL, "import: apply the changes (default is a dry run)"},
    {"role", 0, CFG_STR, NULL, "user add: viewer|operator|admin"},
    {"password_file", 0, CFG_STR, NULL, "user add: file holding the new user's password"},
    {NULL, 0, 0, NULL, NULL},
};

static int not_built(const struct cfg *c, int nargs, char **args)
{
    (void)c, (void)nargs, (void)args;
    fprintf(stderr, "shardcronctl: this command is not implemented yet\n");
    return CTL_ERR;
}

/* Commands land here as their modules are built; until then they say so. */
const struct ctl_cmd ctl_commands[] = {
    {"cron", "preview", ctl_cron_preview,
     "cron preview EXPR [--tz ZONE] [--from TIME] [-n N] [--format text|json]"},
    {"cron", "check", ctl_cron_check, "cron check EXPR [--format text|json]"},
    {"job", "put", ctl_job_put, "job put FILE|-"},
    {"job", "get", ctl_job_get, "job get NAME"},
    {"job", "list", ctl_job_list, "job list"},
    {"job", "delete", ctl_job_delete, "job delete NAME"},
    {"job", "trigger", ctl_job_trigger, "job trigger NAME [--param P]"},
    {"job", "enable", ctl_job_enable, "job enable NAME"},
    {"job", "disable", ctl_job_disable, "job disable NAME"},
    {"agents", NULL, ctl_agents, "agents"},
    {"shards", NULL, ctl_shards, "shards NAME"},
    {"export", NULL, not_built, "export"},
    {"import", NULL, not_built, "import FILE [--confirm]"},
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
