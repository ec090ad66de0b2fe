/* console/main.c: shardcron-console, web pages and the JSON API (console/console.c). */
#define LOG_CAT "shardcron.console"
#include <stdio.h>

#include "console/console.h"
#include "core/daemon.h"
#include "core/log.h"

static const struct cfg_opt console_opts[] = {
    CFG_COMMON_OPTS,
    {"listen", 0, CFG_STR, "127.0.0.1:8080", "HTTP listen address"},
    {"admin_password_file", 0, CFG_STR, NULL,
     "first start: create user admin with this password when no admin exists"},
    {"max_connections", 0, CFG_INT, "1024", "connections open at once (more get 503)"},
    {"max_client_connections", 0, CFG_INT, "128",
     "connections open at once from one address (more get 503)"},
    {"max_buffered_mb", 0, CFG_INT, "64", "MiB of request bytes held for all clients (503 beyond)"},
    {"max_client_buffered_mb", 0, CFG_INT, "16",
     "MiB of request bytes held for one address (503 beyond)"},
    {"header_timeout_s", 0, CFG_INT, "10",
     "seconds from a request's first byte to its last header"},
    {"body_timeout_s", 0, CFG_INT, "60", "seconds from the headers to the last byte of the body"},
    {"web", 0, CFG_STR, NULL, "directory of the web pages (default: console/web of the tree)"},
    {"allowed_hosts", 0, CFG_STR, NULL,
     "Host names the console answers to, comma-separated, \"*\" for any (default: localhost, "
     "127.0.0.1, ::1, the listen address and this host's name)"},
    {"user_check_ms", 0, CFG_INT, "60000",
     "how often sessions are compared with app_user: a user changed or deleted outside the "
     "console (shardcronctl user add) loses its sessions within this"},
    {"secure_cookies", 0, CFG_FLAG, NULL,
     "browsers reach the console over HTTPS (a TLS proxy): session cookies get Secure"},
    {NULL, 0, 0, NULL, NULL},
};

int main(int argc, char **argv)
{
    struct cfg c;
    int rc = daemon_start(&c, console_opts, "shardcron-console",
                          "Serves the web console and the JSON API.", argc, argv);
    if (rc != 0) {
        cfg_free(&c);
        return rc > 0 ? 0 : 2;
    }
    rc = console_run(&c);
    log_fini();
    cfg_free(&c);
    return rc;
}
