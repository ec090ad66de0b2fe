/* core/daemon.h: start-up shared by the daemons: settings, --help/--version, logging.
 *
 * daemon_start() loads settings with cfg_load(), answers --help/--version, and
 * initialises logging before any thread exists. Returns 1 when the process
 * should exit 0 (help/version printed), 0 to carry on, or a negative code after
 * printing the error to stderr. */
#ifndef SC_DAEMON_H
#define SC_DAEMON_H

#include "core/config.h"

int daemon_start(struct cfg *c, const struct cfg_opt *opts, const char *prog, const char *synopsis,
                 int argc, char **argv);

#endif
