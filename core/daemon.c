/* core/daemon.c: the common start-up of shardcron-agent and shardcron-console. */
#include "core/daemon.h"

#include <errno.h>
#include <stdio.h>

#include "core/log.h"

int daemon_start(struct cfg *c, const struct cfg_opt *opts, const char *prog, const char *synopsis,
                 int argc, char **argv)
{
    struct sc_err err;
    char msg[512];

    sc_err_clear(&err);
    if (cfg_load(c, opts, argc, argv, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, sc_err_format(&err, msg, sizeof msg));
        return -EINVAL;
    }
    if (cfg_flag(c, "version")) {
        printf("%s %s\n", prog, SC_VERSION);
        return 1;
    }
    if (cfg_flag(c, "help")) {
        printf("usage: %s [options]\n%s\n\noptions (also SHARDCRON_<NAME> variables or a "
               "--config file of key = value lines):\n",
               prog, synopsis);
        cfg_usage(stdout, opts);
        return 1;
    }
    if (c->npos > 0) {
        fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", prog, c->pos[0]);
        return -EINVAL;
    }
    if (log_init(prog, cfg_str(c, "log_config"), cfg_str(c, "log_level")) < 0) {
        fprintf(stderr, "%s: log_level: unknown level \"%s\"\n", prog, cfg_str(c, "log_level"));
        return -EINVAL;
    }
    return 0;
}
