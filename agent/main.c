/* agent/main.c: shardcron-agent, the process on every batch host.
 *
 * Registers in ZooKeeper, may become leader, schedules and runs its shard items
 * and reports executions. Start-up is shared with the console (core/daemon). */
#define LOG_CAT "shardcron.agent"
#include <stdio.h>

#include "agent/agent.h"
#include "core/daemon.h"
#include "core/log.h"

static const struct cfg_opt agent_opts[] = {
    CFG_COMMON_OPTS,
    {"id", 0, CFG_STR, NULL, "agent id (default: the host name)"},
    {"labels", 0, CFG_STR, NULL, "comma-separated labels jobs can select (none by default)"},
    {"capacity", 0, CFG_INT, "16", "executions run at once"},
    {"prearm_ms", 0, CFG_INT, "900",
     "create a cron fire's shell this long ahead, held until its second (0: off)"},
    {"http", 0, CFG_STR, "127.0.0.1:0",
     "status/metrics HTTP address; port 0 picks one, written to WORK_DIR/http.port"},
    {"session_timeout_ms", 0, CFG_INT, "10000", "ZooKeeper session timeout"},
    {"work_dir", 0, CFG_STR, "/var/lib/shardcron",
     "execution logs, history spool, and the jobs' working directory"},
    {"log_retention_days", 0, CFG_INT, "14",
     "execution logs in WORK_DIR/logs older than this are deleted (0: never)"},
    {"max_clock_skew_ms", 0, CFG_INT, "2000", "refuse work beyond this skew against ZooKeeper"},
    {"java_jar", 0, CFG_STR, NULL, "shardcron-java.jar (default: next to the build)"},
    {"secrets", 0, CFG_STR, NULL,
     "secrets store for jobs' env {\"secret\": NAME}: a mode-700 directory of files or a "
     "mode-600 file of name=value lines"},
    {"retention_days", 0, CFG_INT, "30", "history kept this long (the leader deletes older)"},
    {"alert_interval_ms", 0, CFG_INT, "5000",
     "the leader evaluates alert conditions this often (0: never; needs --mysql)"},
    {"alert_reminder_s", 0, CFG_INT, "3600", "seconds between notices of an alert still open"},
    {"alert_group_ms", 0, CFG_INT, "10000",
     "an alert's first notice waits this long to count what else of its job opens"},
    {"log_disk_min_free_pct", 0, CFG_INT, "10",
     "the leader alerts on an agent whose execution-log disk has less free (percent)"},
    {"alert_webhook", 0, CFG_STR, NULL,
     "where alerts of agents and workflows go (jobs' alerts follow the job's settings)"},
    {"webhook_timeout_ms", 0, CFG_INT, "5000", "an alert webhook's whole request, at most"},
    {"webhook_queue", 0, CFG_INT, "64",
     "alert webhooks waiting or in flight, at most (more are dropped)"},
    {"alert_failover_s", 0, CFG_INT, "300",
     "a channel failing this long: the notice goes to the job's next channel"},
    {"alert_retry_max_s", 0, CFG_INT, "60", "backoff between delivery attempts grows to this"},
    {"alert_give_up_s", 0, CFG_INT, "86400", "a notice undelivered this long is given up (dead)"},
    {"alert_channels_file", 0, CFG_STR, NULL,
     "default alert channels for jobs that name none: a JSON list, or "
     "{\"default\": [...], \"domains\": {\"NAME\": [...]}} (docs/alerts.md)"},
    {"alert_ack_url", 0, CFG_STR, NULL,
     "console base URL (http://host:port) for the acknowledgement link in notices"},
    {NULL, 0, 0, NULL, NULL},
};

int main(int argc, char **argv)
{
    struct cfg c;
    int rc = daemon_start(&c, agent_opts, "shardcron-agent",
                          "Runs shard items of jobs assigned through ZooKeeper.", argc, argv);
    if (rc != 0) {
        cfg_free(&c);
        return rc > 0 ? 0 : 2;
    }
    rc = agent_run(&c);
    log_fini();
    cfg_free(&c);
    return rc;
}
