/* tests/unit/test_logsweep.c: pruning of old execution logs on a real libevent
 * loop and a real directory: old execution logs go, recent ones, JVM worker
 * logs, other files, directories and symlinks stay; a large directory is
 * walked in several slices; keep_days 0 deletes nothing. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/logsweep.h"
#include "tests/lib/testenv.h"

static char dir[256];

static void make_file(const char *name, int age_days)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x\n", 2), 2);
    close(fd);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= (time_t)age_days * 86400;
    t[1] = t[0];
    assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

static bool exists(const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

/* sweep: run one sweep to its end on a fresh loop (deadline 10 s). */
static void sweep(int keep_days, uint64_t *deleted)
{
    struct event_base *base = event_base_new();
    struct logsweep *ls = NULL;
    assert_int_equal(logsweep_new(base, dir, keep_days, 3600, &ls), 0);
    logsweep_now(ls);
    long long end = tenv_now_ms() + 10000;
    while (logsweep_sweeps(ls) == 0 && keep_days > 0 && tenv_now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    if (keep_days > 0)
        assert_int_equal(logsweep_sweeps(ls), 1);
    *deleted = logsweep_deleted(ls);
    logsweep_free(ls);
    event_base_free(base);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sc-logsweep.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_what_goes(void **state)
{
    (void)state;
    uint64_t deleted = 0;
    make_file("etl.0.e1.log", 10);
    make_file("etl.1.e2.log", 8);
    make_file("etl.0.e3.log", 1);      /* recent */
    make_file("javaw-Report.log", 30); /* a worker's own log */
    make_file("notes.txt", 30);
    make_file(".hidden.log", 30);
    char path[512], target[512];
    snprintf(path, sizeof path, "%s/old-dir.log", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(target, sizeof target, "%s/notes.txt", dir);
    snprintf(path, sizeof path, "%s/link.log", dir);
    assert_int_equal(symlink(target, path), 0);
    struct timespec t[2] = {{0, 0}, {0, 0}}; /* the link itself is old */
    assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);

    sweep(0, &deleted); /* off: nothing happens */
    assert_int_equal(deleted, 0);
    assert_true(exists("etl.0.e1.log"));

    sweep(7, &deleted);
    assert_int_equal(deleted, 2);
    assert_false(exists("etl.0.e1.log"));
    assert_false(exists("etl.1.e2.log"));
    assert_true(exists("etl.0.e3.log"));
    assert_true(exists("javaw-Report.log"));
    assert_true(exists("notes.txt"));
    assert_true(exists(".hidden.log"));
    assert_true(exists("old-dir.log"));
    assert_true(exists("link.log"));

    sweep(7, &deleted); /* nothing left to delete */
    assert_int_equal(deleted, 0);
}

static void test_many_files(void **state)
{
    (void)state;
    uint64_t deleted = 0;
    char name[64];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof name, "job.%d.e%d.log", i % 8, i);
        make_file(name, i % 2 ? 40 : 0);
    }
    sweep(30, &deleted);
    assert_int_equal(deleted, 750);
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof name, "job.%d.e%d.log", i % 8, i);
        assert_int_equal(exists(name), i % 2 == 0);
    }
}

static void test_missing_dir(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct logsweep *ls = NULL;
    assert_int_equal(logsweep_new(base, "/nonexistent/sc-logs", 7, 3600, &ls), 0);
    logsweep_now(ls); /* nothing to walk: no sweep starts, nothing breaks */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(logsweep_deleted(ls), 0);
    logsweep_free(ls);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_what_goes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
