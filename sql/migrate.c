/* sql/migrate.c: schema migrations of the history store.
 *
 * Owns: the migrations built into the binary (sql/migrations/NNNN_*.sql and
 * sql/schema.sql, embedded with the assembler's .incbin so `shardcronctl db migrate`
 * needs no files at run time), the version bookkeeping in schema_version, and the
 * refusal to downgrade. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "sql/db.h"
#include "sql/hist.h"

/* Paths are relative to the tree's root, where the Makefile runs the compiler.
 * The Makefile lists these files as prerequisites of this object. */
__asm__(".section .rodata\n"
        ".global hist_sql_schema\n"
        "hist_sql_schema:\n"
        ".incbin \"sql/schema.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0001\n"
        "hist_sql_m0001:\n"
        ".incbin \"sql/migrations/0001_initial.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0002\n"
        "hist_sql_m0002:\n"
        ".incbin \"sql/migrations/0002_history.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0003\n"
        "hist_sql_m0003:\n"
        ".incbin \"sql/migrations/0003_fence.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0004\n"
        "hist_sql_m0004:\n"
        ".incbin \"sql/migrations/0004_user_names.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0005\n"
        "hist_sql_m0005:\n"
        ".incbin \"sql/migrations/0005_workflows.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0006\n"
        "hist_sql_m0006:\n"
        ".incbin \"sql/migrations/0006_alert_outbox.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0007\n"
        "hist_sql_m0007:\n"
        ".incbin \"sql/migrations/0007_paused.sql\"\n"
        ".byte 0\n"
        ".global hist_sql_m0008\n"
        "hist_sql_m0008:\n"
        ".incbin \"sql/migrations/0008_alert_state.sql\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char hist_sql_schema[];
extern const char hist_sql_m0001[];
extern const char hist_sql_m0002[];
extern const char hist_sql_m0003[];
extern const char hist_sql_m0004[];
extern const char hist_sql_m0005[];
extern const char hist_sql_m0006[];
extern const char hist_sql_m0007[];
extern const char hist_sql_m0008[];

/* migrations[i] brings version i to version i + 1. */
static const char *const migrations[HIST_SCHEMA_VERSION] = {
    hist_sql_m0001, hist_sql_m0002, hist_sql_m0003, hist_sql_m0004,
    hist_sql_m0005, hist_sql_m0006, hist_sql_m0007, hist_sql_m0008};

const char *hist_schema_sql(void)
{
    return hist_sql_schema;
}

int hist_schema_version(MYSQL *m, struct sc_err *err)
{
    long long n = 0;
    int rc = db_query_int(m,
                          "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA ="
                          " DATABASE() AND TABLE_NAME = 'schema_version'",
                          &n, err);
    if (rc < 0)
        return rc;
    if (n == 0)
        return 0;
    rc = db_query_int(m, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &n, err);
    return rc < 0 ? rc : (int)n;
}

static int migrate_locked(MYSQL *m, int target, int *from, int *to, struct sc_err *err)
{
    int v = hist_schema_version(m, err);
    if (v < 0)
        return v;
    if (from)
        *from = v;
    if (to)
        *to = v;
    if (v > target)
        return sc_err_set(err, EPROTO, "schema_version", -1,
                          "the database is at schema version %d, newer than this binary's %d;"
                          " use a newer shardcron (downgrades are refused)",
                          v, target);
    for (int next = v + 1; next <= target; next++) {
        char sql[96];
        LOGN("applying schema migration %04d", next);
        int rc = db_exec_script(m, migrations[next - 1], err);
        if (rc < 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return sc_err_set(err, EIO, "migration", -1, "migration %04d failed: %s", next, msg);
        }
        snprintf(sql, sizeof sql, "INSERT IGNORE INTO schema_version (version) VALUES (%d)", next);
        if ((rc = db_exec_script(m, sql, err)) < 0)
            return rc;
        if (to)
            *to = next;
    }
    return 0;
}

int hist_migrate(MYSQL *m, int target, int *from, int *to, struct sc_err *err)
{
    long long got = 0;
    if (target < 1 || target > HIST_SCHEMA_VERSION)
        return sc_err_set(err, EINVAL, "version", -1, "target version %d is not 1..%d", target,
                          HIST_SCHEMA_VERSION);
    /* Two migrating processes would apply the same ALTER twice: one at a time. */
    int rc =
        db_query_int(m, "SELECT GET_LOCK(CONCAT('shardcron.migrate.', DATABASE()), 60)", &got, err);
    if (rc < 0)
        return rc;
    if (got != 1)
        return sc_err_set(err, EBUSY, "migration", -1,
                          "another migration holds the lock for 60 s; try again");
    rc = migrate_locked(m, target, from, to, err);
    struct sc_err ignore;
    db_query_int(m, "SELECT RELEASE_LOCK(CONCAT('shardcron.migrate.', DATABASE()))", &got, &ignore);
    return rc;
}
