/* tests/integration/test_alert_eval.c: hist_alert_eval's no_agent alerts
 * against a real MariaDB (a scratch database of its own).
 *
 * A listed job gets exactly one open alert_event row (kind no_agent, item and
 * execution NULL) and one "open" notice; evaluating again decides nothing; an
 * unknown list (NULL) leaves no_agent rows alone; a row whose last notice is
 * older than the reminder interval gets one "reminder"; a job no longer listed
 * gets its row resolved and one "resolve" notice; and failed executions are
 * still alerted next to no_agent rows. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sql/db.h"
#include "sql/hist.h"
#include "sql/hist_alert.h"
#include "tests/lib/testdb.h"
#include "tests/lib/testenv.h"

struct ctx {
    struct db_url url;
    MYSQL *m;
};

static void ctx_open(struct ctx *c)
{
    struct sc_err err;
    char sql[256];
    memset(c, 0, sizeof *c);
    assert_int_equal(db_url_parse(tenv("SC_TEST_MYSQL"), &c->url, &err), 0);
    MYSQL *root = tdb_connect(&c->url);
    snprintf(c->url.db, sizeof c->url.db, "shardcron_alerteval_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", c->url.db);
    tdb_exec(root, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", c->url.db);
    tdb_exec(root, sql);
    mysql_close(root);
    c->m = tdb_connect(&c->url);
    if (hist_migrate(c->m, HIST_SCHEMA_VERSION, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
}

static void ctx_close(struct ctx *c)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", c->url.db);
    mysql_query(c->m, sql);
    mysql_close(c->m);
}

/* eval: one evaluation; the notices are the caller's to free. */
static struct hist_alert_notice *eval(struct ctx *c, const char *const *names, size_t n, size_t *nn)
{
    struct hist_alert_notice *out = NULL;
    struct sc_err err;
    sc_err_clear(&err);
    if (hist_alert_eval(c->m, 3600, names, n, &out, nn, &err) != 0)
        fail_msg("eval: %s", err.msg);
    return out;
}

static const struct hist_alert_notice *find(const struct hist_alert_notice *v, size_t n,
                                            const char *event, const char *kind, const char *job)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].event, event) && !strcmp(v[i].kind, kind) && !strcmp(v[i].job, job))
            return &v[i];
    return NULL;
}

static void test_no_agent_lifecycle(void **state)
{
    (void)state;
    struct ctx c;
    size_t nn;
    struct hist_alert_notice *v;
    const char *both[] = {"pay", "report"}, *report[] = {"report"};
    ctx_open(&c);

    /* open: one row and one notice per listed job */
    v = eval(&c, both, 2, &nn);
    assert_int_equal(nn, 2);
    const struct hist_alert_notice *o = find(v, nn, "open", "no_agent", "pay");
    assert_non_null(o);
    assert_int_equal(o->item, -1);
    assert_string_equal(o->execution_id, "");
    assert_string_equal(o->fire, "");
    assert_string_equal(o->message, "no eligible agent");
    assert_non_null(find(v, nn, "open", "no_agent", "report"));
    unsigned long long pay_id = o->id;
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE kind='no_agent'"
                                  " AND resolved_at IS NULL AND item IS NULL"
                                  " AND execution_id IS NULL AND fire_time IS NULL"),
                     2);

    /* the same list again: nothing new */
    v = eval(&c, both, 2, &nn);
    assert_int_equal(nn, 0);
    assert_null(v);

    /* unknown list: no_agent rows are neither resolved nor reminded */
    tdb_exec(c.m, "UPDATE alert_event SET notified_at = UTC_TIMESTAMP(3) - INTERVAL 2 HOUR");
    v = eval(&c, NULL, 0, &nn);
    assert_int_equal(nn, 0);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE resolved_at IS NULL"), 2);

    /* known again: both rows are due a reminder, once */
    v = eval(&c, both, 2, &nn);
    assert_int_equal(nn, 2);
    assert_non_null(find(v, nn, "reminder", "no_agent", "pay"));
    assert_non_null(find(v, nn, "reminder", "no_agent", "report"));
    free(v);
    v = eval(&c, both, 2, &nn);
    assert_int_equal(nn, 0);

    /* pay is no longer listed: resolved, once */
    v = eval(&c, report, 1, &nn);
    assert_int_equal(nn, 1);
    assert_string_equal(v[0].event, "resolve");
    assert_string_equal(v[0].job, "pay");
    assert_int_equal(v[0].id, pay_id);
    free(v);
    v = eval(&c, report, 1, &nn);
    assert_int_equal(nn, 0);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE job='pay'"
                                  " AND resolved_at IS NOT NULL"),
                     1);

    /* pay loses its agents again: a new row, not the resolved one reopened */
    v = eval(&c, both, 2, &nn);
    assert_int_equal(nn, 1);
    assert_non_null(find(v, nn, "open", "no_agent", "pay"));
    assert_true(v[0].id != pay_id);
    free(v);

    /* an empty known list resolves every no_agent row; a failed execution is
     * alerted alongside */
    tdb_exec(c.m,
             "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type,"
             " status, agent) VALUES ('e-1', 'pay', 0, UTC_TIMESTAMP(3), 'cron', 'failed', 'a1')");
    static const char *const none[1] = {NULL};
    v = eval(&c, none, 0, &nn);
    assert_int_equal(nn, 3);
    assert_non_null(find(v, nn, "resolve", "no_agent", "pay"));
    assert_non_null(find(v, nn, "resolve", "no_agent", "report"));
    assert_non_null(find(v, nn, "open", "failed", "pay"));
    free(v);
    assert_int_equal(tdb_int(c.m, "SELECT COUNT(*) FROM alert_event WHERE resolved_at IS NULL"), 1);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_agent_lifecycle),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
