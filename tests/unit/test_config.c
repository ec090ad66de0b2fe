/* tests/unit/test_config.c: settings precedence (flag > env > file > default),
 * unknown keys, secrets only from files; and the JSON helpers' error reports. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/json.h"

static const struct cfg_opt opts[] = {
    CFG_COMMON_OPTS,
    {"capacity", 0, CFG_INT, "16", "executions at once"},
    {"session_timeout_ms", 0, CFG_INT, "10000", "session timeout"},
    {"n", 'n', CFG_INT, "10", "count"},
    {"confirm", 0, CFG_FLAG, NULL, "apply"},
    {"param", 0, CFG_LIST, NULL, "K=V, repeatable"},
    {NULL, 0, 0, NULL, NULL},
};

static char cfg_path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(cfg_path, sizeof cfg_path, "/tmp/sc-test-config-%d", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs("# comment\nzk = 10.0.0.1:2181 # trailing comment\nsession-timeout-ms=3000\n"
          "capacity = 4\nnamespace = fromfile\n",
          f);
    fclose(f);
    unsetenv("SHARDCRON_CAPACITY");
    unsetenv("SHARDCRON_CONFIG");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cfg_path);
    unsetenv("SHARDCRON_NAMESPACE");
    return 0;
}

static void test_precedence(void **state)
{
    (void)state;
    struct cfg c;
    struct sc_err err;
    long long v;
    char *argv[] = {"prog", "--config", cfg_path, "--capacity=9", "job",
                    "-n",   "3",        "list",   "--confirm",    NULL};
    setenv("SHARDCRON_NAMESPACE", "fromenv", 1);
    setenv("SHARDCRON_CAPACITY", "7", 1);
    assert_int_equal(cfg_load(&c, opts, 9, argv, &err), 0);
    assert_string_equal(cfg_str(&c, "zk"), "10.0.0.1:2181");        /* file */
    assert_string_equal(cfg_str(&c, "namespace"), "fromenv");       /* env beats file */
    assert_int_equal(cfg_int(&c, "capacity", 1, 100, &v, &err), 0); /* flag beats env */
    assert_int_equal(v, 9);
    assert_int_equal(cfg_int(&c, "session_timeout_ms", 1, 100000, &v, &err), 0);
    assert_int_equal(v, 3000);
    assert_int_equal(cfg_int(&c, "n", 1, 100, &v, &err), 0);
    assert_int_equal(v, 3);
    assert_true(cfg_flag(&c, "confirm"));
    assert_false(cfg_flag(&c, "help"));
    assert_int_equal(c.npos, 2);
    assert_string_equal(c.pos[0], "job");
    assert_string_equal(c.pos[1], "list");
    assert_null(cfg_str(&c, "mysql"));
    assert_int_equal(cfg_int(&c, "capacity", 10, 100, &v, &err), -EINVAL);
    assert_string_equal(err.field, "capacity");
    cfg_free(&c);
    unsetenv("SHARDCRON_CAPACITY");
}

static void test_errors(void **state)
{
    (void)state;
    struct cfg c;
    struct sc_err err;
    char *a1[] = {"prog", "--bogus", "1", NULL};
    assert_int_equal(cfg_load(&c, opts, 3, a1, &err), -EINVAL);
    assert_string_equal(err.field, "bogus");
    assert_non_null(strstr(err.msg, "unknown setting"));
    cfg_free(&c);

    char *a2[] = {"prog", "--mysql-password", "hunter2", NULL};
    assert_int_equal(cfg_load(&c, opts, 3, a2, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "only read from files"));
    cfg_free(&c);

    char *a3[] = {"prog", "--zk", NULL};
    assert_int_equal(cfg_load(&c, opts, 2, a3, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "needs a value"));
    cfg_free(&c);

    FILE *f = fopen(cfg_path, "a");
    fputs("colour = blue\n", f);
    fclose(f);
    char *a4[] = {"prog", "--config", cfg_path, NULL};
    assert_int_equal(cfg_load(&c, opts, 3, a4, &err), -EINVAL);
    assert_string_equal(err.field, "colour");
    assert_non_null(strstr(err.msg, ":6: unknown setting"));
    cfg_free(&c);

    char *a5[] = {"prog", "--capacity", "lots", NULL};
    long long v;
    assert_int_equal(cfg_load(&c, opts, 3, a5, &err), 0);
    assert_int_equal(cfg_int(&c, "capacity", 1, 100, &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "must be an integer"));
    cfg_free(&c);
}

/* ---- careless input: each case is a config file (or an environment) and the
 * error it must give, or the value it must produce. */
struct file_case {
    const char *what;
    const char *text;        /* the file; "@DIR" = pass a directory as --config */
    size_t pad;              /* bytes of 'x' appended to the value of the first line */
    const char *env;         /* NAME=VALUE set during the load, or NULL */
    const char *field, *msg; /* expected error (field, substring of message), or NULL */
    const char *key, *value; /* else: expected setting */
};

static void test_file_cases(void **state)
{
    (void)state;
    char dir[96];
    snprintf(dir, sizeof dir, "%s.d", cfg_path);
    mkdir(dir, 0700);
    static const struct file_case cases[] = {
        {"a line over 4095 bytes is one line, its tail no setting", "namespace = ", 5000, NULL,
         NULL, NULL, "namespace", NULL},
        {"an unknown key names its line", "job_param_unused = 1\n", 0, NULL, "job_param_unused",
         ":1: unknown setting", NULL, NULL},
        {"a directory as --config", "@DIR", 0, NULL, "config", "is a directory", NULL, NULL},
        {"a secret in the environment is refused, not ignored", "zk = z:1\n", 0,
         "SHARDCRON_MYSQL_PASSWORD=hunter2", "SHARDCRON_MYSQL_PASSWORD", "only read from files",
         NULL, NULL},
        {"the file form of it is fine", "zk = z:1\n", 0,
         "SHARDCRON_MYSQL_PASSWORD_FILE=/nonexistent", NULL, NULL, "mysql_password_file",
         "/nonexistent"},
        {"a NUL in a line", "zk = a\0b\n", 0, NULL, "config", "NUL byte", NULL, NULL},
        {"key = value with no key", "= 3\n", 0, NULL, "", "unknown setting", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct file_case *k = &cases[i];
        struct cfg c;
        struct sc_err err;
        sc_err_clear(&err);
        const char *path = cfg_path;
        if (strcmp(k->text, "@DIR") == 0) {
            path = dir;
        } else {
            FILE *f = fopen(cfg_path, "w");
            assert_non_null(f);
            /* the NUL case: write the bytes as given (strlen would stop at it) */
            size_t len = strcmp(k->what, "a NUL in a line") == 0 ? 10 : strlen(k->text);
            fwrite(k->text, 1, len, f);
            for (size_t x = 0; x < k->pad; x++)
                fputc('x', f);
            if (k->pad)
                fputs("\ncapacity = 7\n", f);
            fclose(f);
        }
        char name[64] = "";
        if (k->env) {
            snprintf(name, sizeof name, "%.*s", (int)strcspn(k->env, "="), k->env);
            setenv(name, strchr(k->env, '=') + 1, 1);
        }
        char *argv[] = {"prog", "--config", (char *)path, NULL};
        int rc = cfg_load(&c, opts, 3, argv, &err);
        if (name[0])
            unsetenv(name);
        if (k->msg) {
            if (rc != -EINVAL || strcmp(err.field, k->field) != 0 || !strstr(err.msg, k->msg))
                fail_msg("%s: rc %d, field \"%s\", msg \"%s\"", k->what, rc, err.field, err.msg);
        } else {
            if (rc != 0)
                fail_msg("%s: rc %d: %s", k->what, rc, err.msg);
            const char *v = cfg_str(&c, k->key);
            if (k->pad) {
                /* the whole value, and the line after it read as its own line */
                assert_non_null(v);
                assert_int_equal(strlen(v), k->pad);
                assert_string_equal(cfg_str(&c, "capacity"), "7");
            } else {
                assert_string_equal(v, k->value);
            }
        }
        cfg_free(&c);
    }
    rmdir(dir);
}

static void test_secret_file(void **state)
{
    (void)state;
    struct sc_err err;
    char path[80];
    snprintf(path, sizeof path, "%s.secret", cfg_path);
    FILE *f = fopen(path, "w");
    fputs("s3cret\n", f);
    fclose(f);
    chmod(path, 0644);
    assert_null(cfg_read_secret(path, &err));
    assert_non_null(strstr(err.msg, "chmod 600"));
    chmod(path, 0600);
    char *s = cfg_read_secret(path, &err);
    assert_string_equal(s, "s3cret");
    free(s);
    /* Empty, only a newline, a directory: errors naming the path, never "". */
    const char *bad[] = {"", "\n", "\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        assert_null(cfg_read_secret(path, &err));
        assert_non_null(strstr(err.msg, "is empty"));
        assert_non_null(strstr(err.msg, path));
    }
    unlink(path);
    assert_null(cfg_read_secret(path, &err));
    mkdir(path, 0700);
    assert_null(cfg_read_secret(path, &err));
    assert_non_null(strstr(err.msg, "is a directory"));
    rmdir(path);
}

/* A repeatable flag keeps every value in order; the environment's value is
 * replaced by the command line's, not added to; a newline is refused. */
static void test_list(void **state)
{
    (void)state;
    struct cfg c;
    struct sc_err err;
    char *argv[] = {"prog", "--param", "a=1", "x", "--param=b=2", "--param", "c=", NULL};
    setenv("SHARDCRON_PARAM", "env=0", 1);
    assert_int_equal(cfg_load(&c, opts, 7, argv, &err), 0);
    assert_string_equal(cfg_str(&c, "param"), "a=1\nb=2\nc=");
    assert_int_equal(c.npos, 1);
    cfg_free(&c);
    char *none[] = {"prog", NULL};
    assert_int_equal(cfg_load(&c, opts, 1, none, &err), 0);
    assert_string_equal(cfg_str(&c, "param"), "env=0");
    cfg_free(&c);
    unsetenv("SHARDCRON_PARAM");
    char *nl[] = {"prog", "--param", "a=1", "--param", "b=x\ny", NULL};
    assert_int_equal(cfg_load(&c, opts, 5, nl, &err), -EINVAL);
    assert_string_equal(err.field, "param");
    cfg_free(&c);
}

static void test_json_helpers(void **state)
{
    (void)state;
    struct sc_err err;
    const char *text = "{\"a\":1,\"b\":\"x\",\"c\":true,\"d\":1.5,\"e\":null}";
    cJSON *o = json_parse(text, strlen(text), &err);
    long long v;
    const char *s;
    bool b;
    assert_non_null(o);
    assert_int_equal(json_get_int(o, "a", JSON_REQUIRED, 0, 5, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(json_get_int(o, "a", JSON_REQUIRED, 2, 5, &v, &err), -EINVAL);
    assert_string_equal(err.field, "a");
    assert_int_equal(json_get_int(o, "d", JSON_REQUIRED, 0, 5, &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "integer"));
    assert_int_equal(json_get_str(o, "b", JSON_REQUIRED, &s, &err), 0);
    assert_string_equal(s, "x");
    assert_int_equal(json_get_str(o, "a", JSON_REQUIRED, &s, &err), -EINVAL);
    assert_int_equal(json_get_bool(o, "c", JSON_REQUIRED, &b, &err), 0);
    assert_true(b);
    assert_int_equal(json_get_str(o, "e", JSON_OPTIONAL, &s, &err), -ENOENT);
    assert_int_equal(json_get_str(o, "zz", JSON_REQUIRED, &s, &err), -EINVAL);
    assert_string_equal(err.field, "zz");
    const char *const allowed[] = {"a", "b", "c", "d", NULL};
    assert_int_equal(json_check_fields(o, allowed, &err), -EINVAL);
    assert_string_equal(err.field, "e");
    json_err_prefix(&err, "outer");
    assert_string_equal(err.field, "outer.e");
    cJSON_Delete(o);

    assert_null(json_parse("{\"a\":", 5, &err));
    assert_true(err.pos >= 4 && err.pos <= 5); /* at or next to the cut */
    assert_null(json_parse("{} {}", 5, &err));
    assert_int_equal(err.pos, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test(test_json_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
