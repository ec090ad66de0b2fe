/* tests/unit/test_secrets.c: the agent's secrets store (agent/secrets.h) on
 * real files in a scratch directory: a directory of files and a file of
 * name=value lines resolve; a store or a secret file readable by group or
 * others is refused naming the path and the chmod; a missing secret, a missing
 * store and a bad name are errors naming the secret; agent_env_build puts
 * values and secrets together as NAME=value and names the variable that
 * failed. */
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

#include "agent/secrets.h"

static char root[256];

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/secrets.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_directory(void **state)
{
    (void)state;
    char dir[300], p[400];
    char *v = NULL;
    struct sc_err err;
    snprintf(dir, sizeof dir, "%s/d", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(p, sizeof p, "%s/db-password", dir);
    put(p, "s3cret value\n", 0600);
    assert_int_equal(agent_secrets_check(dir, &err), 0);
    assert_int_equal(agent_secret_read(dir, "db-password", &v, &err), 0);
    assert_string_equal(v, "s3cret value");
    free(v);
    assert_int_equal(agent_secret_read(dir, "nope", &v, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "no secret \"nope\""));
    assert_int_equal(agent_secret_read(dir, "../d/db-password", &v, &err), -EINVAL);
    /* a secret file others can read */
    snprintf(p, sizeof p, "%s/open", dir);
    put(p, "x", 0644);
    assert_true(agent_secret_read(dir, "open", &v, &err) < 0);
    assert_non_null(strstr(err.msg, "chmod 600"));
    /* the directory itself */
    assert_int_equal(chmod(dir, 0750), 0);
    assert_int_equal(agent_secrets_check(dir, &err), -EPERM);
    assert_non_null(strstr(err.msg, "chmod 700"));
    assert_string_equal(err.field, "secrets");
    assert_true(agent_secret_read(dir, "db-password", &v, &err) < 0);
    assert_null(v);
}

static void test_file(void **state)
{
    (void)state;
    char f[300];
    char *v = NULL;
    struct sc_err err;
    snprintf(f, sizeof f, "%s/secrets.env", root);
    put(f, "# comment\nA=1\ndb=p=w\r\nempty=\n", 0600);
    assert_int_equal(agent_secret_read(f, "db", &v, &err), 0);
    assert_string_equal(v, "p=w");
    free(v);
    assert_int_equal(agent_secret_read(f, "empty", &v, &err), 0);
    assert_string_equal(v, "");
    free(v);
    assert_int_equal(agent_secret_read(f, "B", &v, &err), -ENOENT);
    assert_int_equal(chmod(f, 0640), 0);
    assert_int_equal(agent_secret_read(f, "db", &v, &err), -EPERM);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_int_equal(agent_secret_read(NULL, "db", &v, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "no secrets store"));
    assert_int_equal(agent_secrets_check("/nonexistent/x", &err), -ENOENT);
}

static void test_env_build(void **state)
{
    (void)state;
    char f[300];
    char **env = NULL;
    struct sc_err err;
    snprintf(f, sizeof f, "%s/s2", root);
    put(f, "tok=abc\n", 0600);
    struct job_env e[2] = {{.name = "USER_NAME", .value = "batch"},
                           {.name = "TOKEN", .secret = "tok"}};
    assert_int_equal(agent_env_build(f, e, 2, &env, &err), 0);
    assert_string_equal(env[0], "USER_NAME=batch");
    assert_string_equal(env[1], "TOKEN=abc");
    assert_null(env[2]);
    agent_env_free(env);
    e[1].secret = "missing";
    assert_true(agent_env_build(f, e, 2, &env, &err) < 0);
    assert_null(env);
    assert_string_equal(err.field, "env.TOKEN");
    assert_non_null(strstr(err.msg, "missing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_env_build),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
