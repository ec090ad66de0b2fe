/* tests/integration/test_smoke.c: the harness talks to real servers.
 *
 * ZooKeeper: connect with the C client, create/read/delete a node.
 * MariaDB: connect with Connector/C, apply sql/schema.sql to a scratch
 * database, insert and select a row, drop the database. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zookeeper.h>

#include <cmocka.h>

#include "sql/db.h"
#include "tests/lib/testenv.h"

static bool zk_connected(void *arg)
{
    return zoo_state((zhandle_t *)arg) == ZOO_CONNECTED_STATE;
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh, (void)type, (void)state, (void)path, (void)ctx;
}

static void test_zk_create_read_delete(void **state)
{
    (void)state;
    char path[64], buf[64];
    int len = sizeof buf;
    struct Stat st;

    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    zhandle_t *zh = zookeeper_init(tenv("SC_TEST_ZK"), watcher, 4000, NULL, NULL, 0);
    assert_non_null(zh);
    assert_true(tenv_wait(zk_connected, zh, 10000, 20));

    snprintf(path, sizeof path, "/smoke-%d", (int)getpid());
    assert_int_equal(zoo_create(zh, path, "hello", 5, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    assert_int_equal(zoo_get(zh, path, 0, buf, &len, &st), ZOK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(st.version, 0);
    /* A second create of the same path must fail: the server is real. */
    assert_int_equal(zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZNODEEXISTS);
    assert_int_equal(zoo_delete(zh, path, 0), ZOK);
    assert_int_equal(zoo_exists(zh, path, 0, &st), ZNONODE);
    zookeeper_close(zh);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void test_mysql_schema_insert_select(void **state)
{
    (void)state;
    struct db_url u;
    struct sc_err err;
    char sql[512], db[64], path[1024];

    sc_err_clear(&err);
    assert_int_equal(db_url_parse(tenv("SC_TEST_MYSQL"), &u, &err), 0);
    MYSQL *m = db_connect(&u, tenv_password(), 10, &err);
    if (!m)
        fail_msg("%s", err.msg);

    /* A scratch database of its own (the test user may create shardcron_*). */
    snprintf(db, sizeof db, "shardcron_smoke_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    if (mysql_query(m, sql) != 0)
        fail_msg("create database: %s", mysql_error(m));
    assert_int_equal(mysql_select_db(m, db), 0);

    snprintf(path, sizeof path, "%s/sql/schema.sql", tenv("SC_ROOT"));
    char *schema = read_file(path);
    if (db_exec_script(m, schema, &err) != 0)
        fail_msg("schema: %s", err.msg);
    /* Applying twice must be harmless. */
    if (db_exec_script(m, schema, &err) != 0)
        fail_msg("schema again: %s", err.msg);
    free(schema);

    snprintf(sql, sizeof sql,
             "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, status)"
             " VALUES ('smoke-%d', 'smoke', 3, '2026-01-02 03:04:05.678', 'cron', 'succeeded')",
             (int)getpid());
    if (mysql_query(m, sql) != 0)
        fail_msg("insert: %s", mysql_error(m));
    snprintf(sql, sizeof sql,
             "SELECT item, DATE_FORMAT(fire_time, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), status"
             " FROM job_execution WHERE execution_id = 'smoke-%d'",
             (int)getpid());
    assert_int_equal(mysql_query(m, sql), 0);
    MYSQL_RES *r = mysql_store_result(m);
    assert_non_null(r);
    assert_int_equal(mysql_num_rows(r), 1);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_string_equal(row[0], "3");
    assert_string_equal(row[1], "2026-01-02 03:04:05.678000");
    assert_string_equal(row[2], "succeeded");
    mysql_free_result(r);

    snprintf(sql, sizeof sql, "DROP DATABASE %s", db);
    assert_int_equal(mysql_query(m, sql), 0);
    mysql_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zk_create_read_delete),
        cmocka_unit_test(test_mysql_schema_insert_select),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
