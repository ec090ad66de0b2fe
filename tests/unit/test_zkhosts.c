/* tests/unit/test_zkhosts.c: zkreg_hosts_local, which decides whether a daemon
 * without zk_auth_file warns that its namespace is world-writable: only connect
 * strings whose every server is a loopback address or localhost stay quiet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "registry/zk.h"

static void test_local(void **state)
{
    (void)state;
    assert_true(zkreg_hosts_local("127.0.0.1:2181"));
    assert_true(zkreg_hosts_local("localhost:2181"));
    assert_true(zkreg_hosts_local("127.0.0.1:2181,127.0.0.2:2182/shardcron"));
    assert_true(zkreg_hosts_local("[::1]:2181"));
    assert_true(zkreg_hosts_local("localhost"));
}

static void test_remote(void **state)
{
    (void)state;
    assert_false(zkreg_hosts_local("zk1.example.com:2181"));
    assert_false(zkreg_hosts_local("127.0.0.1:2181,zk2.example.com:2181"));
    assert_false(zkreg_hosts_local("localhost.example.com:2181"));
    assert_false(zkreg_hosts_local("127.example.com:2181"));
    assert_false(zkreg_hosts_local("[::2]:2181"));
    assert_false(zkreg_hosts_local("10.0.0.1:2181/chroot"));
    assert_false(zkreg_hosts_local(""));
    assert_false(zkreg_hosts_local(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local),
        cmocka_unit_test(test_remote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
