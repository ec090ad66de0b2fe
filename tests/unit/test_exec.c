/* tests/unit/test_exec.c: the process runner with real processes on a real
 * libevent loop (no servers): environment, working directory, stdin, output
 * capture and its cap, exit status and signals, timeouts that kill the whole
 * process group, the kill API, fd hygiene, reaping; pre-armed starts (held by
 * the gate library, released or cancelled: nothing runs early, no zombies, no
 * fd leaks); and the scheduler driving real executions (FIRE_TIME is the
 * scheduled time, retries, forbid/replace, pre-arming).
 *
 * Every wait drives the loop until a condition holds or a deadline passes. */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/exec.h"
#include "agent/runner.h"
#include "agent/sched.h"
#include "agent/watchdog.h"
#include "tests/lib/testenv.h"

#define DEADLINE_MS 20000

struct done {
    int n;
    struct exec_result r;
    char tail[EXEC_TAIL_MAX + 1];
    char reason[200];
};

static struct event_base *base;
static struct event *tick; /* keeps EVLOOP_ONCE from blocking forever */
static char tmpdir[256];

static void on_done(const struct exec_result *r, void *arg)
{
    struct done *d = arg;
    d->n++;
    d->r = *r;
    snprintf(d->tail, sizeof d->tail, "%s", r->output_tail);
    snprintf(d->reason, sizeof d->reason, "%s", r->reason);
    d->r.output_tail = d->tail;
    d->r.reason = d->reason;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

/* run_until: drive the loop until cond(arg) or the deadline. */
static bool run_until(bool (*cond)(void *), void *arg, int deadline_ms)
{
    long long end = tenv_now_ms() + deadline_ms;
    while (!cond(arg)) {
        if (tenv_now_ms() > end)
            return false;
        event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

static bool is_done(void *arg)
{
    return ((struct done *)arg)->n > 0;
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    event_free(tick);
    event_base_free(base);
    return 0;
}

static struct exec_runner *runner(enum exec_spawn_method m, size_t cap, int grace_ms)
{
    struct exec_runner_opts o = {.spawn = m, .log_cap = cap, .kill_grace_ms = grace_ms};
    struct exec_runner *r = NULL;
    assert_int_equal(exec_runner_new(base, &o, &r), 0);
    return r;
}

static void run_cmd(struct exec_runner *r, const char *cmd, const char *log, int timeout_ms,
                    struct done *d)
{
    struct sc_err err;
    struct exec_spec s = {.command = cmd,
                          .cwd = tmpdir,
                          .log_path = log,
                          .timeout_ms = timeout_ms,
                          .env = {.job = "settle",
                                  .shard_item = 2,
                                  .shard_total = 8,
                                  .shard_param = "B",
                                  .job_param = "jp",
                                  .fire_time = "2030-01-02T03:04:05+08:00",
                                  .execution_id = "id-1",
                                  .trigger = EXEC_TRIGGER_FAILOVER,
                                  .attempt = 2,
                                  .fence = "001893553445.000000000042.0002",
                                  .epoch = 42}};
    memset(d, 0, sizeof *d);
    assert_int_equal(exec_start(r, &s, on_done, d, NULL, &err), 0);
    assert_true(run_until(is_done, d, DEADLINE_MS));
}

static bool no_children(void)
{
    int st;
    return waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD;
}

static bool no_children_cond(void *arg)
{
    (void)arg;
    return no_children();
}

/* ---------------------------------------------------------------- tests */

static void test_environment(void **state)
{
    (void)state;
    setenv("SHARDCRON_ZK", "zk-secret-host:2181", 1);
    setenv("DB_PASSWORD", "hunter2", 1);
    setenv("MY_API_TOKEN", "tok", 1);
    setenv("UNRELATED_VAR", "x", 1);
    setenv("LANG", "C.UTF-8", 1);
    for (int m = EXEC_SPAWN_POSIX; m <= EXEC_SPAWN_FORK; m++) {
        struct exec_runner *r = runner(m, 0, 0);
        struct done d;
        run_cmd(r, "env | sort; echo cwd=$(pwd); cat; echo stdin-eof", NULL, 0, &d);
        assert_int_equal(d.r.status, EXEC_SUCCEEDED);
        assert_int_equal(d.r.exit_code, 0);
        const char *want[] = {"SHARDCRON_JOB=settle\n",
                              "SHARDCRON_SHARD_ITEM=2\n",
                              "SHARDCRON_SHARD_TOTAL=8\n",
                              "SHARDCRON_SHARD_PARAM=B\n",
                              "SHARDCRON_JOB_PARAM=jp\n",
                              "SHARDCRON_FIRE_TIME=2030-01-02T03:04:05+08:00\n",
                              "SHARDCRON_EXECUTION_ID=id-1\n",
                              "SHARDCRON_TRIGGER=failover\n",
                              "SHARDCRON_ATTEMPT=2\n",
                              "SHARDCRON_FENCE=001893553445.000000000042.0002\n",
                              "SHARDCRON_EPOCH=42\n",
                              "LANG=C.UTF-8\n",
                              "\nPATH=",
                              "stdin-eof"};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            assert_non_null(strstr(d.tail, want[i]));
        char cwd[300];
        snprintf(cwd, sizeof cwd, "cwd=%s\n", tmpdir);
        assert_non_null(strstr(d.tail, cwd));
        assert_null(strstr(d.tail, "SHARDCRON_ZK"));
        assert_null(strstr(d.tail, "hunter2"));
        assert_null(strstr(d.tail, "MY_API_TOKEN"));
        assert_null(strstr(d.tail, "UNRELATED_VAR"));
        exec_runner_free(r);
    }
    /* Without a fence (a runner without coordination) neither variable is set. */
    {
        struct exec_runner *r = runner(EXEC_SPAWN_POSIX, 0, 0);
        struct exec_spec s = {.command = "env",
                              .cwd = tmpdir,
                              .env = {.job = "settle", .execution_id = "id-2", .attempt = 1}};
        struct done d = {0};
        struct sc_err err;
        assert_int_equal(exec_start(r, &s, on_done, &d, NULL, &err), 0);
        assert_true(run_until(is_done, &d, DEADLINE_MS));
        assert_non_null(strstr(d.tail, "SHARDCRON_EXECUTION_ID=id-2\n"));
        assert_null(strstr(d.tail, "SHARDCRON_FENCE"));
        assert_null(strstr(d.tail, "SHARDCRON_EPOCH"));
        exec_runner_free(r);
    }
    assert_true(exec_env_secret("DB_PASSWORD", 11));
    assert_true(exec_env_secret("SHARDCRON_MYSQL", 15));
    assert_false(exec_env_secret("PATH", 4));
}

static void test_no_fd_leaks(void **state)
{
    (void)state;
    /* An fd opened without O_CLOEXEC by someone else in the process must not
     * reach the job either. */
    int stray = open("/dev/null", O_RDONLY);
    assert_true(stray > 2);
    for (int m = EXEC_SPAWN_POSIX; m <= EXEC_SPAWN_VFORK; m++) {
        struct exec_runner *r = runner(m, 0, 0);
        struct done d;
        char log[300];
        snprintf(log, sizeof log, "%s/fd.log", tmpdir);
        run_cmd(r, "ls /proc/$$/fd", log, 0, &d);
        assert_int_equal(d.r.status, EXEC_SUCCEEDED);
        assert_string_equal(d.tail, "0\n1\n2\n");
        exec_runner_free(r);
    }
    close(stray);
}

static void test_exit_status_and_signal(void **state)
{
    (void)state;
    struct exec_runner *r = runner(EXEC_SPAWN_POSIX, 0, 0);
    struct done d;
    run_cmd(r, "echo failing; exit 3", NULL, 0, &d);
    assert_int_equal(d.r.status, EXEC_FAILED);
    assert_int_equal(d.r.exit_code, 3);
    assert_int_equal(d.r.signal, 0);
    assert_string_equal(d.tail, "failing\n");
    assert_true(d.r.finished_ms >= d.r.started_ms);
    assert_true(d.r.duration_ms >= 0);
    run_cmd(r, "kill -SEGV $$", NULL, 0, &d);
    assert_int_equal(d.r.status, EXEC_FAILED);
    assert_int_equal(d.r.signal, SIGSEGV);
    assert_int_equal(d.r.exit_code, -1);
    /* a missing working directory is an error of exec_start, nothing runs */
    struct sc_err err;
    struct exec_spec s = {.command = "true", .cwd = "/nonexistent/dir"};
    assert_true(exec_start(r, &s, on_done, &d, NULL, &err) < 0);
    assert_string_equal(err.field, "cwd");
    exec_runner_free(r);
    assert_true(no_children());
}

static bool gone(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    return pid;
}

static void test_timeout_kills_the_group(void **state)
{
    (void)state;
    struct exec_runner *r = runner(EXEC_SPAWN_POSIX, 0, 300);
    struct done d;
    char cmd[600], pidfile[300];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", tmpdir);
    /* The grandchild ignores SIGTERM: only the SIGKILL to the group stops it. */
    snprintf(cmd, sizeof cmd,
             "(trap '' TERM; exec sleep 300) & echo $! > %s; echo started; sleep 300", pidfile);
    run_cmd(r, cmd, NULL, 1500, &d);
    assert_int_equal(d.r.status, EXEC_TIMEOUT);
    assert_non_null(strstr(d.reason, "timeout after 1500 ms"));
    assert_int_equal(d.r.signal, SIGTERM);
    assert_string_equal(d.tail, "started\n");
    pid_t g = read_pid(pidfile);
    assert_true(g > 0);
    assert_true(run_until(gone, &g, DEADLINE_MS));

    /* a leader that ignores SIGTERM is killed after the grace period */
    run_cmd(r, "trap '' TERM; echo up; while :; do sleep 1; done", NULL, 300, &d);
    assert_int_equal(d.r.status, EXEC_TIMEOUT);
    assert_int_equal(d.r.signal, SIGKILL);
    exec_runner_free(r);
    assert_true(run_until(no_children_cond, NULL, DEADLINE_MS));
}

/* proc_state: the state letter of /proc/PID/stat ('Z' zombie), 0 if gone. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* An execution is guarded from the moment its process exists: with the
 * watchdog's deadline passed and the loop never turned (so nobody has been
 * told it started), the watchdog kills its group. */
static void test_guarded_from_spawn(void **state)
{
    (void)state;
    struct watchdog *wd = NULL;
    assert_int_equal(watchdog_start(&wd), 0);
    struct exec_runner_opts o = {.guard = wd};
    struct exec_runner *r = NULL;
    assert_int_equal(exec_runner_new(base, &o, &r), 0);
    struct exec_spec s = {.command = "sleep 300", .cwd = tmpdir, .env = {.execution_id = "g-1"}};
    struct done d = {0};
    struct exec_proc *p = NULL;
    struct sc_err err;
    assert_int_equal(exec_start(r, &s, on_done, &d, &p, &err), 0);
    pid_t pid = exec_pid(p);
    assert_true(pid > 0);
    watchdog_deadline(wd, exec_now_mono_ms() - 1);
    long long end = tenv_now_ms() + DEADLINE_MS;
    while (proc_state(pid) != 'Z' && tenv_now_ms() < end)
        usleep(10000);
    assert_int_equal(proc_state(pid), 'Z');
    assert_int_equal(watchdog_kills(wd), 1);
    assert_true(run_until(is_done, &d, DEADLINE_MS));
    assert_int_equal(d.r.signal, SIGKILL);
    exec_runner_free(r);
    watchdog_stop(wd);
    assert_true(run_until(no_children_cond, NULL, DEADLINE_MS));
}

static void test_kill_api(void **state)
{
    (void)state;
    struct exec_runner *r = runner(EXEC_SPAWN_FORK, 0, 1000);
    struct done d = {0};
    struct exec_proc *p = NULL;
    struct sc_err err;
    struct exec_spec s = {.command = "echo running; exec sleep 300", .env = {.job = "k"}};
    assert_int_equal(exec_start(r, &s, on_done, &d, &p, &err), 0);
    assert_int_equal(exec_running(r), 1);
    assert_true(exec_pid(p) > 0);
    assert_int_equal(exec_kill(p, "replaced by a newer fire"), 0);
    assert_int_equal(exec_kill(p, "again"), -ESRCH);
    assert_true(run_until(is_done, &d, DEADLINE_MS));
    assert_int_equal(d.r.status, EXEC_KILLED);
    assert_string_equal(d.reason, "replaced by a newer fire");
    assert_int_equal(exec_running(r), 0);

    struct done d2[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(exec_start(r, &s, on_done, &d2[i], NULL, &err), 0);
    assert_int_equal(exec_kill_all(r, "session lost"), 3);
    for (int i = 0; i < 3; i++) {
        assert_true(run_until(is_done, &d2[i], DEADLINE_MS));
        assert_int_equal(d2[i].r.status, EXEC_KILLED);
        assert_string_equal(d2[i].reason, "session lost");
    }
    exec_runner_free(r);
    assert_true(no_children());
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_output_cap(void **state)
{
    (void)state;
    struct exec_runner *r = runner(EXEC_SPAWN_POSIX, 1000, 0);
    struct done d;
    char log[300];
    snprintf(log, sizeof log, "%s/cap.log", tmpdir);
    run_cmd(r, "echo HEAD; head -c 200000 /dev/zero | tr '\\000' x; echo; echo TAIL", log, 0, &d);
    assert_int_equal(d.r.status, EXEC_SUCCEEDED);
    uint64_t total = 5 + 200000 + 1 + 5;
    assert_int_equal(d.r.output_bytes, total);
    assert_int_equal(d.r.cut_bytes, total - 1000);
    size_t len;
    char *txt = slurp(log, &len);
    assert_true(strncmp(txt, "HEAD\nxxx", 8) == 0);
    char mark[80];
    snprintf(mark, sizeof mark, "\n[shardcron: %llu bytes cut]\n",
             (unsigned long long)(total - 1000));
    assert_non_null(strstr(txt, mark));
    assert_int_equal(len, 1000 + strlen(mark));
    assert_string_equal(txt + len - 6, "\nTAIL\n");
    /* the in-memory tail: the last 4 KiB */
    assert_int_equal(strlen(d.tail), EXEC_TAIL_MAX);
    assert_string_equal(d.tail + EXEC_TAIL_MAX - 6, "\nTAIL\n");

    /* under the cap: the file is the output, byte for byte, no marker */
    run_cmd(r, "echo small; echo output", log, 0, &d);
    txt = slurp(log, &len);
    assert_string_equal(txt, "small\noutput\n");
    assert_int_equal(d.r.cut_bytes, 0);
    exec_runner_free(r);
}

/* echo_batch: n executions at once, item i echoing i; each must finish once,
 * succeed with its own output and have had a pid. */
static void echo_batch(struct exec_runner *r, struct done *d, int n, const char *job)
{
    struct sc_err err;
    struct exec_spec s = {.command = "echo $SHARDCRON_SHARD_ITEM", .env = {.job = job}};
    for (int i = 0; i < n; i++) {
        memset(&d[i], 0, sizeof d[i]);
        s.env.shard_item = i;
        assert_int_equal(exec_start(r, &s, on_done, &d[i], NULL, &err), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_true(run_until(is_done, &d[i], DEADLINE_MS));
        char want[16];
        snprintf(want, sizeof want, "%d\n", i);
        assert_string_equal(d[i].tail, want);
        assert_int_equal(d[i].n, 1);
        assert_int_equal(d[i].r.status, EXEC_SUCCEEDED);
        assert_true(d[i].r.pid > 0);
    }
}

static void test_many_no_zombies(void **state)
{
    (void)state;
    struct exec_runner *r = runner(EXEC_SPAWN_POSIX, 0, 0);
    static struct done d[50];
    echo_batch(r, d, 50, "z");
    assert_int_equal(exec_running(r), 0);
    assert_true(no_children());
    exec_runner_free(r);
}

static void test_spawn_threads(void **state)
{
    (void)state;
    struct exec_runner_opts o = {.spawn_threads = 2, .kill_grace_ms = 300};
    struct exec_runner *r = NULL;
    assert_int_equal(exec_runner_new(base, &o, &r), 0);
    static struct done d[40];
    struct sc_err err;
    echo_batch(r, d, 40, "t");
    /* killed before the spawner thread reported the pid: still killed */
    struct done k = {0};
    struct exec_proc *p = NULL;
    struct exec_spec sl = {.command = "exec sleep 300", .env = {.job = "t"}};
    assert_int_equal(exec_start(r, &sl, on_done, &k, &p, &err), 0);
    assert_int_equal(exec_kill(p, "session lost"), 0);
    assert_true(run_until(is_done, &k, DEADLINE_MS));
    assert_int_equal(k.r.status, EXEC_KILLED);
    /* a spawn failure arrives through the callback */
    struct done f = {0};
    struct exec_spec bad = {.command = "true", .cwd = "/nonexistent/dir", .env = {.job = "t"}};
    assert_int_equal(exec_start(r, &bad, on_done, &f, NULL, &err), 0);
    assert_true(run_until(is_done, &f, DEADLINE_MS));
    assert_int_equal(f.r.status, EXEC_FAILED);
    assert_non_null(strstr(f.reason, "cannot start /bin/sh in /nonexistent/dir"));
    /* the fd hygiene holds on spawner threads too */
    struct done fd = {0};
    struct exec_spec ls = {.command = "ls /proc/$$/fd", .env = {.job = "t"}};
    assert_int_equal(exec_start(r, &ls, on_done, &fd, NULL, &err), 0);
    assert_true(run_until(is_done, &fd, DEADLINE_MS));
    assert_string_equal(fd.tail, "0\n1\n2\n");
    assert_int_equal(exec_running(r), 0);
    exec_runner_free(r);
    assert_true(no_children());
}

/* ------------------------------------------------------ pre-armed starts */

static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static char gate[1024];

static struct exec_runner *gated_runner(int threads)
{
    assert_int_equal(exec_gate_find(gate, sizeof gate), 0);
    struct exec_runner_opts o = {.kill_grace_ms = 300, .gate_path = gate, .spawn_threads = threads};
    struct exec_runner *r = NULL;
    assert_int_equal(exec_runner_new(base, &o, &r), 0);
    return r;
}

/* held_ready: the process is the shell with the gate library loaded, asleep
 * (in the gate's read: the constructor runs before the shell's main). */
static bool held_ready(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char st = 0;
    int ok = fscanf(f, "%*d (%*[^)]) %c", &st) == 1;
    fclose(f);
    if (!ok || st != 'S')
        return false;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    if (!(f = fopen(path, "r")))
        return false;
    bool loaded = false;
    while (!loaded && fgets(buf, sizeof buf, f))
        loaded = strstr(buf, "shardcron-gate.so") != NULL;
    fclose(f);
    return loaded;
}

static bool exists(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static bool reaped(void *arg)
{
    return kill(*(pid_t *)arg, 0) < 0 && errno == ESRCH;
}

static bool none_held(void *arg)
{
    return exec_held(arg) == 0;
}

static struct exec_spec held_spec(const char *cmd, const char *log)
{
    return (struct exec_spec){.command = cmd,
                              .cwd = tmpdir,
                              .log_path = log,
                              .env = {.job = "settle",
                                      .shard_item = 2,
                                      .shard_total = 8,
                                      .fire_time = "2030-01-02T03:04:05+08:00",
                                      .execution_id = "id-held",
                                      .attempt = 1,
                                      .fence = "001893553445.000000000007.0001",
                                      .epoch = 7}};
}

static void test_prearm_release(void **state)
{
    (void)state;
    for (int threads = 0; threads <= 2; threads += 2) {
        int fds0 = fd_count();
        struct exec_runner *r = gated_runner(threads);
        char log[300];
        snprintf(log, sizeof log, "%s/held.log", tmpdir);
        unlink(log);
        struct exec_spec s = held_spec("touch ran; echo argv0=$0; env | sort; ls /proc/$$/fd", log);
        struct done d = {0};
        struct exec_proc *p = NULL;
        struct sc_err err;
        assert_int_equal(exec_prepare(r, &s, on_done, &d, &p, &err), 0);
        assert_int_equal(exec_held(r), 1);
        assert_int_equal(exec_running(r), 0);
        pid_t pid = 0;
        long long end = tenv_now_ms() + DEADLINE_MS;
        while ((pid = exec_pid(p)) == 0 && tenv_now_ms() < end) /* spawner threads report it */
            event_base_loop(base, EVLOOP_ONCE);
        assert_true(pid > 0);
        assert_true(run_until(held_ready, &pid, DEADLINE_MS));
        /* held: the shell is loaded, nothing of the command ran, nothing reported */
        assert_false(exists(tmpdir, "ran"));
        assert_int_equal(d.n, 0);
        struct stat st;
        assert_int_equal(stat(log, &st), 0);
        assert_int_equal(st.st_size, 0);
        int64_t before = exec_now_real_ms();
        assert_int_equal(exec_release(p), 0);
        assert_int_equal(exec_held(r), 0);
        assert_int_equal(exec_running(r), 1);
        assert_true(run_until(is_done, &d, DEADLINE_MS));
        assert_int_equal(d.r.status, EXEC_SUCCEEDED);
        assert_int_equal(d.r.pid, pid);
        assert_true(d.r.started_ms >= before); /* started = released, not prepared */
        assert_true(exists(tmpdir, "ran"));
        /* exactly `sh -c COMMAND` with the job environment; the gate left no trace */
        assert_non_null(strstr(d.tail, "argv0=sh\n"));
        assert_non_null(strstr(d.tail, "SHARDCRON_FIRE_TIME=2030-01-02T03:04:05+08:00\n"));
        assert_non_null(strstr(d.tail, "SHARDCRON_EXECUTION_ID=id-held\n"));
        assert_non_null(strstr(d.tail, "SHARDCRON_FENCE=001893553445.000000000007.0001\n"));
        assert_non_null(strstr(d.tail, "SHARDCRON_EPOCH=7\n"));
        assert_non_null(strstr(d.tail, "SHARDCRON_SHARD_ITEM=2\n"));
        assert_null(strstr(d.tail, "LD_PRELOAD"));
        assert_null(strstr(d.tail, "SHARDCRON_GATE"));
        size_t tl = strlen(d.tail);
        assert_true(tl > 6);
        assert_string_equal(d.tail + tl - 6, "0\n1\n2\n"); /* the gate's fd 3 is closed */
        assert_int_equal(stat(log, &st), 0);
        assert_int_equal(st.st_size, (off_t)tl);
        unlink(log);
        char ran[300];
        snprintf(ran, sizeof ran, "%s/ran", tmpdir);
        unlink(ran);
        exec_runner_free(r);
        assert_true(no_children());
        assert_int_equal(fd_count(), fds0);
    }
}

static void test_prearm_cancel(void **state)
{
    (void)state;
    int fds0 = fd_count();
    struct exec_runner *r = gated_runner(0);
    enum { N = 5 };
    struct done d[N];
    struct exec_proc *p[N];
    pid_t pid[N];
    char cmd[N][64], log[N][300];
    struct sc_err err;
    for (int i = 0; i < N; i++) {
        memset(&d[i], 0, sizeof d[i]);
        snprintf(cmd[i], sizeof cmd[i], "touch cancelled-%d", i);
        snprintf(log[i], sizeof log[i], "%s/cancel-%d.log", tmpdir, i);
        struct exec_spec s = held_spec(cmd[i], log[i]);
        assert_int_equal(exec_prepare(r, &s, on_done, &d[i], &p[i], &err), 0);
        pid[i] = exec_pid(p[i]);
        assert_true(pid[i] > 0);
    }
    for (int i = 0; i < N; i++)
        assert_true(run_until(held_ready, &pid[i], DEADLINE_MS));
    for (int i = 0; i < N; i++)
        exec_cancel(p[i]);
    assert_true(run_until(none_held, r, DEADLINE_MS));
    assert_true(no_children()); /* every held process was reaped */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "cancelled-%d", i);
        assert_false(exists(tmpdir, name));
        assert_int_equal(d[i].n, 0);
        assert_int_equal(access(log[i], F_OK), -1); /* the empty log file is removed */
    }

    /* killed from outside while held: release says so, and nothing ran */
    struct done k = {0};
    struct exec_proc *q = NULL;
    struct exec_spec s = held_spec("touch killed-held", NULL);
    assert_int_equal(exec_prepare(r, &s, on_done, &k, &q, &err), 0);
    pid_t kp = exec_pid(q);
    assert_true(run_until(held_ready, &kp, DEADLINE_MS));
    kill(kp, SIGKILL);
    assert_true(run_until(reaped, &kp, DEADLINE_MS));
    assert_int_equal(exec_release(q), -ESRCH);
    assert_int_equal(exec_held(r), 0);
    assert_int_equal(k.n, 0);
    assert_false(exists(tmpdir, "killed-held"));

    /* cancelled while a spawner thread still creates it */
    struct exec_runner *rt = gated_runner(2);
    for (int i = 0; i < N; i++) {
        struct exec_spec st = held_spec("touch spawning-cancelled", NULL);
        assert_int_equal(exec_prepare(rt, &st, on_done, &d[i], &p[i], &err), 0);
        exec_cancel(p[i]);
    }
    assert_true(run_until(none_held, rt, DEADLINE_MS));
    exec_runner_free(rt);
    assert_false(exists(tmpdir, "spawning-cancelled"));
    exec_runner_free(r);
    assert_true(no_children());
    assert_int_equal(fd_count(), fds0);
}

/* spawn_gated: /bin/sh held by the gate library by hand; *w is our end of the gate. */
static pid_t spawn_gated(const char *lib, const char *cmd, int *w)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char ld[1100], gc[200];
    snprintf(ld, sizeof ld, "LD_PRELOAD=%s", lib);
    snprintf(gc, sizeof gc, "SHARDCRON_GATE_COMMAND=%s", cmd);
    char *envp[] = {"PATH=/usr/bin:/bin", ld, gc, NULL};
    char *argv[] = {"sh", "-c", "exit 126", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[0], 3);
    posix_spawn_file_actions_addchdir_np(&fa, tmpdir);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[0]);
    *w = sv[1];
    return pid;
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_gate_library(void **state)
{
    (void)state;
    assert_int_equal(exec_gate_find(gate, sizeof gate), 0);
    /* The agent died (its end of the gate closed): the shell exits, the command never runs. */
    int w;
    pid_t pid = spawn_gated(gate, "touch ran-after-eof", &w);
    assert_true(run_until(held_ready, &pid, DEADLINE_MS));
    close(w);
    assert_int_equal(wait_status(pid), 0);
    assert_false(exists(tmpdir, "ran-after-eof"));
    /* The go byte runs exactly the command. */
    pid = spawn_gated(gate, "test \"$0\" = sh && touch ran-after-go", &w);
    assert_int_equal(write(w, "g", 1), 1);
    close(w);
    assert_int_equal(wait_status(pid), 0);
    assert_true(exists(tmpdir, "ran-after-go"));
    /* Fail-safe: when the library is not loaded the shell runs the placeholder, never the
     * command (exec then sees the held process gone and starts the fire the ordinary way). */
    char bogus[300];
    snprintf(bogus, sizeof bogus, "%s/not-a-library.so", tmpdir);
    FILE *f = fopen(bogus, "w");
    assert_non_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    pid = spawn_gated(bogus, "touch ran-without-gate", &w);
    assert_int_equal(wait_status(pid), 126);
    close(w);
    assert_false(exists(tmpdir, "ran-without-gate"));
}

/* ------------------------------------------------- scheduler + real runs */

struct evlog {
    int n;
    struct {
        enum sched_ev_type type;
        enum exec_status status;
        int attempt;
        enum exec_trigger trigger;
        char id[EXEC_ID_LEN + 1];
        char tail[256];
        char reason[256];
        int pid;
        int64_t started_ms;
        char fence[AGENT_FENCE_LEN + 1];
        bool wf, final;
        int exit_code, signal;
        char *xcom, *captured; /* copies, freed by rig_free */
    } e[64];
};

static void on_sched_event(const struct sched_event *ev, void *arg)
{
    struct evlog *l = arg;
    /* The rig moves its wall clock to stand for waiting: the scheduler sees
     * jumps (test_sched.c covers those); they are not what these tests look at. */
    if (l->n >= 64 || ev->type == SCHED_EV_CLOCK_JUMP)
        return;
    l->e[l->n].type = ev->type;
    l->e[l->n].status = ev->status;
    l->e[l->n].attempt = ev->attempt;
    l->e[l->n].trigger = ev->trigger;
    snprintf(l->e[l->n].id, sizeof l->e[0].id, "%s", ev->exec_id);
    snprintf(l->e[l->n].tail, sizeof l->e[0].tail, "%s", ev->output_tail ? ev->output_tail : "");
    snprintf(l->e[l->n].reason, sizeof l->e[0].reason, "%s", ev->reason);
    l->e[l->n].pid = ev->pid;
    l->e[l->n].started_ms = ev->started_ms;
    snprintf(l->e[l->n].fence, sizeof l->e[0].fence, "%s", ev->fence);
    l->e[l->n].wf = ev->wf != NULL;
    l->e[l->n].final = ev->final;
    l->e[l->n].exit_code = ev->exit_code;
    l->e[l->n].signal = ev->signal;
    l->e[l->n].xcom = ev->xcom ? strdup(ev->xcom) : NULL;
    l->e[l->n].captured = ev->captured ? strdup(ev->captured) : NULL;
    l->n++;
}

static int count(const struct evlog *l, enum sched_ev_type t)
{
    int n = 0;
    for (int i = 0; i < l->n; i++)
        n += l->e[i].type == t;
    return n;
}

struct want {
    struct evlog *l;
    enum sched_ev_type t;
    int n;
};

static bool have(void *arg)
{
    struct want *w = arg;
    return count(w->l, w->t) >= w->n;
}

/* a wall clock that runs with the monotonic one from a chosen origin */
static int64_t test_real(void *c)
{
    return *(int64_t *)c + exec_now_mono_ms();
}

static int64_t mono(void *c)
{
    (void)c;
    return exec_now_mono_ms();
}

static int64_t every_hour(void *ctx, int64_t after)
{
    (void)ctx;
    return (after / 3600 + 1) * 3600;
}

struct rig {
    struct exec_runner *er;
    struct agent_runner ar;
    struct sched *s;
    struct evlog log;
    int64_t now;
    struct sched_clock clk;
    int64_t epoch; /* what the scheduler's epoch callback answers */
};

static int64_t rig_epoch(void *ctx)
{
    return ((struct rig *)ctx)->epoch;
}

/* rig_new: scheduler with a real runner; the wall clock starts at
 * 2029-12-31T23:59:00Z (the test can move it), so the fire time the job sees
 * is the scheduled one and not the start time. */
static void rig_new_pre(struct rig *g, struct event_base *sched_base, int prearm_ms);

static void rig_new(struct rig *g, struct event_base *sched_base)
{
    rig_new_pre(g, sched_base, 0);
}

static void rig_new_pre(struct rig *g, struct event_base *sched_base, int prearm_ms)
{
    memset(g, 0, sizeof *g);
    if (prearm_ms) {
        assert_int_equal(exec_gate_find(gate, sizeof gate), 0);
        struct exec_runner_opts eo = {.kill_grace_ms = 500, .gate_path = gate};
        assert_int_equal(exec_runner_new(base, &eo, &g->er), 0);
    } else {
        g->er = runner(EXEC_SPAWN_POSIX, 0, 500);
    }
    g->ar.exec = g->er;
    snprintf(g->ar.log_dir, sizeof g->ar.log_dir, "%s", tmpdir);
    g->now = 1893456000000LL - 60000 - exec_now_mono_ms();
    g->epoch = 9;
    g->clk = (struct sched_clock){test_real, mono, &g->now};
    struct sched_opts o = {.capacity = 4,
                           .clock = &g->clk,
                           .runner = agent_runner_ops(&g->ar),
                           .on_event = on_sched_event,
                           .event_arg = &g->log,
                           .prearm_ms = prearm_ms,
                           .epoch = rig_epoch,
                           .epoch_ctx = g};
    assert_int_equal(sched_new(sched_base, &o, &g->s), 0);
}

static void rig_free(struct rig *g)
{
    exec_runner_free(g->er);
    sched_free(g->s);
    for (int i = 0; i < g->log.n; i++) {
        free(g->log.e[i].xcom);
        free(g->log.e[i].captured);
    }
}

static void put_item(struct rig *g, const char *cmd, enum sched_concurrency c, int retries,
                     int backoff)
{
    struct sched_item_conf conf = {.job = "real",
                                   .item = 1,
                                   .total = 2,
                                   .shard_param = "p1",
                                   .command = cmd,
                                   .cwd = tmpdir,
                                   .next = every_hour,
                                   .concurrency = c,
                                   .retries = retries,
                                   .retry_backoff_s = backoff,
                                   .timeout_s = 30};
    struct sc_err err;
    assert_int_equal(sched_item_put(g->s, &conf, &err), 0);
}

static void test_sched_fire_time_is_scheduled(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, NULL);
    put_item(&g,
             "echo $SHARDCRON_FIRE_TIME $SHARDCRON_TRIGGER $SHARDCRON_SHARD_PARAM"
             " $SHARDCRON_FENCE $SHARDCRON_EPOCH",
             0, 0, 0);
    g.now += 60700; /* 0.7 s late: within the misfire threshold */
    sched_tick(g.s);
    struct want w = {&g.log, SCHED_EV_FINISHED, 1};
    assert_true(run_until(have, &w, DEADLINE_MS));
    const char *tail = g.log.e[g.log.n - 1].tail;
    /* the fence names the scheduled second, not the late start */
    assert_string_equal(tail,
                        "2030-01-01T00:00:00+00:00 cron p1 001893456000.000000000009.0001 9\n");
    assert_string_equal(g.log.e[g.log.n - 1].fence, "001893456000.000000000009.0001");
    assert_int_equal(g.log.e[g.log.n - 1].status, EXEC_SUCCEEDED);
    /* the log file is named after the execution */
    char path[600];
    agent_runner_log_path(&g.ar, "real", 1, g.log.e[g.log.n - 1].id, path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, (off_t)strlen(tail));
    rig_free(&g);
}

static void test_sched_retries_real(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, base); /* the scheduler's own timer drives the retries */
    put_item(&g, "echo attempt $SHARDCRON_ATTEMPT $SHARDCRON_TRIGGER; exit 1", 0, 2, 1);
    char id[EXEC_ID_LEN + 1];
    assert_int_equal(sched_trigger(g.s, "real", 1, EXEC_TRIGGER_MANUAL, 0, NULL, id), 0);
    struct want w = {&g.log, SCHED_EV_FINISHED, 3};
    long long t0 = tenv_now_ms();
    assert_true(run_until(have, &w, DEADLINE_MS));
    assert_true(tenv_now_ms() - t0 >= 1000 + 2000); /* backoff 1 s, then 2 s */
    const char *want_tail[] = {"attempt 1 manual\n", "attempt 2 retry\n", "attempt 3 retry\n"};
    int k = 0;
    for (int i = 0; i < g.log.n; i++)
        if (g.log.e[i].type == SCHED_EV_FINISHED) {
            assert_int_equal(g.log.e[i].status, EXEC_FAILED);
            assert_int_equal(g.log.e[i].attempt, k + 1);
            assert_string_equal(g.log.e[i].tail, want_tail[k]);
            if (k == 0)
                assert_string_equal(g.log.e[i].id, id);
            else
                assert_string_not_equal(g.log.e[i].id, id);
            k++;
        }
    assert_int_equal(sched_item_active(g.s, "real", 1), 0);
    rig_free(&g);
}

static void test_sched_forbid_replace_real(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, NULL);
    put_item(&g, "echo up; exec sleep 300", SCHED_CONC_FORBID, 0, 0);
    assert_int_equal(sched_trigger(g.s, "real", 1, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(sched_trigger(g.s, "real", 1, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(count(&g.log, SCHED_EV_SKIPPED), 1);
    assert_int_equal(sched_running(g.s), 1);

    put_item(&g, "echo up; exec sleep 300", SCHED_CONC_REPLACE, 0, 0);
    assert_int_equal(sched_trigger(g.s, "real", 1, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    struct want w = {&g.log, SCHED_EV_FINISHED, 1};
    assert_true(run_until(have, &w, DEADLINE_MS));
    for (int i = 0; i < g.log.n; i++)
        if (g.log.e[i].type == SCHED_EV_FINISHED) {
            assert_int_equal(g.log.e[i].status, EXEC_KILLED);
            assert_non_null(strstr(g.log.e[i].reason, "replace"));
        }
    assert_int_equal(sched_running(g.s), 1);
    assert_int_equal(sched_kill_all(g.s, "session lost"), 1);
    w.n = 2;
    assert_true(run_until(have, &w, DEADLINE_MS));
    assert_int_equal(sched_running(g.s), 0);
    rig_free(&g);
    assert_true(no_children());
}

static bool one_held(void *arg)
{
    return exec_held(arg) == 1;
}

static void test_sched_prearm_real(void **state)
{
    (void)state;
    int fds0 = fd_count();
    struct rig g;
    rig_new_pre(&g, NULL, 300);
    put_item(&g,
             "echo $SHARDCRON_FIRE_TIME $SHARDCRON_EXECUTION_ID $SHARDCRON_TRIGGER"
             " $SHARDCRON_FENCE",
             0, 0, 0);
    g.now += 59600; /* 23:59:59.600: not yet in the 300 ms window */
    sched_tick(g.s);
    assert_int_equal(sched_armed(g.s), 0);
    g.now += 200; /* 23:59:59.800 */
    sched_tick(g.s);
    assert_int_equal(sched_armed(g.s), 1);
    assert_true(run_until(one_held, g.er, DEADLINE_MS));
    assert_int_equal(g.log.n, 0);
    g.epoch = 10; /* applied between prepare and release: the held env keeps 9 */
    g.now += 200; /* the instant */
    sched_tick(g.s);
    assert_int_equal(sched_armed(g.s), 0);
    assert_int_equal(exec_held(g.er), 0);
    struct want w = {&g.log, SCHED_EV_FINISHED, 1};
    assert_true(run_until(have, &w, DEADLINE_MS));
    assert_int_equal(g.log.e[0].type, SCHED_EV_STARTED);
    assert_true(g.log.e[0].pid > 0); /* the watchdog guards it from STARTED on */
    assert_true(g.log.e[0].started_ms >= 1893456000000LL);
    char want_tail[128];
    snprintf(want_tail, sizeof want_tail,
             "2030-01-01T00:00:00+00:00 %s cron 001893456000.000000000009.0001\n", g.log.e[0].id);
    assert_string_equal(g.log.e[1].tail, want_tail);
    assert_string_equal(g.log.e[0].fence, "001893456000.000000000009.0001");
    assert_string_equal(g.log.e[1].fence, g.log.e[0].fence);
    assert_int_equal(g.log.e[1].status, EXEC_SUCCEEDED);
    assert_int_equal(g.log.e[1].pid, g.log.e[0].pid);
    struct sched_prearm_stats ps;
    sched_prearm_stats(g.s, &ps);
    assert_int_equal(ps.released, 1);
    /* an armed fire of a removed item: cancelled and reaped, nothing reported */
    g.now += 3600000 - 200;
    sched_tick(g.s);
    assert_int_equal(sched_armed(g.s), 1);
    assert_true(run_until(one_held, g.er, DEADLINE_MS));
    assert_int_equal(sched_item_remove(g.s, "real", 1, true), 0);
    assert_true(run_until(none_held, g.er, DEADLINE_MS));
    assert_int_equal(count(&g.log, SCHED_EV_STARTED), 1); /* nothing more was reported */
    assert_int_equal(count(&g.log, SCHED_EV_FINISHED), 1);
    assert_int_equal(count(&g.log, SCHED_EV_SKIPPED) + count(&g.log, SCHED_EV_MISSED), 0);
    rig_free(&g);
    assert_true(no_children());
    assert_int_equal(fd_count(), fds0);
}

/* ------------------------------------------------------ workflow runs */

/* last_finished: the newest FINISHED event of the rig's log. */
static int last_finished(const struct rig *g)
{
    for (int i = g->log.n - 1; i >= 0; i--)
        if (g->log.e[i].type == SCHED_EV_FINISHED)
            return i;
    fail_msg("no FINISHED event");
    return -1;
}

/* wf_run: one workflow run of real/1 with command cmd and context ctx, to its
 * FINISHED event; returns that event's index. */
static int wf_run(struct rig *g, const char *cmd, const char *ctx)
{
    put_item(g, cmd, SCHED_CONC_FORBID, 0, 0);
    int before = count(&g->log, SCHED_EV_FINISHED);
    char id[EXEC_ID_LEN + 1];
    assert_int_equal(sched_trigger_wf(g->s, "real", 1, NULL, ctx, id), 0);
    struct want w = {&g->log, SCHED_EV_FINISHED, before + 1};
    assert_true(run_until(have, &w, DEADLINE_MS));
    int i = last_finished(g);
    assert_string_equal(g->log.e[i].id, id);
    assert_true(g->log.e[i].wf);
    return i;
}

static bool dir_has_xcom(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    bool found = false;
    while (d && (de = readdir(d)))
        found |= strstr(de->d_name, ".xcom-") != NULL;
    if (d)
        closedir(d);
    return found;
}

#define CTX_TAIL "\"timezone\":\"Asia/Shanghai\",\"logical_ms\":1893456000000"

/* The task environment as a real shell sees it (it writes env to a file). */
static void test_wf_environment(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, NULL);
    char cmd[2000], out[400];
    snprintf(out, sizeof out, "%s/wf-env.txt", tmpdir);
    snprintf(cmd, sizeof cmd,
             "env > %s; cat \"$SHARDCRON_XCOM_IN\" >> %s; echo >> %s; "
             "test -e \"$SHARDCRON_XCOM_OUT\" && echo OUT-EXISTS >> %s; exit 0",
             out, out, out, out);
    int i = wf_run(
        &g, cmd,
        "{\"workflow\":\"nightly\",\"run_id\":\"r-17\",\"task\":\"load\",\"attempt\":3," CTX_TAIL
        ",\"params\":{\"region\":\"cn\",\"Batch_2\":\"a b\"},"
        "\"xcom_in\":{\"extract\":{\"0\":{\"rows\":5}}},\"capture\":false}");
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_true(g.log.e[i].final);
    assert_null(g.log.e[i].xcom);
    assert_null(g.log.e[i].captured);
    size_t len;
    char *env = slurp(out, &len);
    const char *want[] = {"SHARDCRON_WORKFLOW=nightly\n", "SHARDCRON_RUN_ID=r-17\n",
                          "SHARDCRON_TASK=load\n",
                          /* 2030-01-01T00:00:00Z in Shanghai */
                          "SHARDCRON_LOGICAL_TIME=2030-01-01T08:00:00+08:00\n",
                          "SHARDCRON_PARAM_region=cn\n", "SHARDCRON_PARAM_Batch_2=a b\n",
                          /* the scheduler's attempt, not the workflow's */
                          "SHARDCRON_ATTEMPT=1\n", "SHARDCRON_TRIGGER=manual\n",
                          "{\"extract\":{\"0\":{\"rows\":5}}}\n"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (!strstr(env, want[k]))
            fail_msg("missing %s in:\n%s", want[k], env);
    (void)len;
    char xin[400];
    snprintf(xin, sizeof xin, "SHARDCRON_XCOM_IN=%s/%s.xcom-in.json\n", tmpdir, g.log.e[i].id);
    assert_non_null(strstr(env, xin));
    snprintf(xin, sizeof xin, "SHARDCRON_XCOM_OUT=%s/%s.xcom-out.json\n", tmpdir, g.log.e[i].id);
    assert_non_null(strstr(env, xin));
    assert_null(strstr(env, "OUT-EXISTS")); /* a path, not created */
    assert_false(dir_has_xcom());           /* the work files are gone */

    /* No xcom_in: the file holds {}. A plain run has none of the variables. */
    i = wf_run(&g, "cat \"$SHARDCRON_XCOM_IN\"",
               "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"t\"," CTX_TAIL "}");
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_string_equal(g.log.e[i].tail, "{}");
    put_item(&g, "env | grep -c '^SHARDCRON_\\(WORKFLOW\\|XCOM\\|RUN_ID\\)' || true", 0, 0, 0);
    assert_int_equal(sched_trigger(g.s, "real", 1, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    struct want w = {&g.log, SCHED_EV_FINISHED, 3};
    assert_true(run_until(have, &w, DEADLINE_MS));
    i = last_finished(&g);
    assert_false(g.log.e[i].wf);
    assert_string_equal(g.log.e[i].tail, "0\n");

    /* A param name that cannot be an environment variable fails the run, saying so. */
    i = wf_run(
        &g, "exit 0",
        "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"t\",\"params\":{\"bad-name\":\"x\"}}");
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_non_null(strstr(g.log.e[i].reason, "\"bad-name\" is not a valid environment variable"));
    /* A time zone this host does not know fails the run, naming it. */
    i = wf_run(
        &g, "exit 0",
        "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"t\",\"timezone\":\"Mars/Olympus\"}");
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_non_null(strstr(g.log.e[i].reason, "could not start: timezone"));
    /* A context that is not one is refused at the trigger. */
    assert_int_equal(sched_trigger_wf(g.s, "real", 1, NULL, "{\"workflow\":\"w\"}", NULL), -EINVAL);
    assert_int_equal(sched_trigger_wf(g.s, "real", 1, NULL, "not json", NULL), -EINVAL);
    rig_free(&g);
}

/* XCom output: read back, limits, invalid JSON, absent. */
static void test_wf_xcom(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, NULL);
    const char *ctx = "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"t\"}";
    /* round trip: the input file's JSON, changed, as the output */
    int i = wf_run(&g, "sed 's/5/6/' \"$SHARDCRON_XCOM_IN\" > \"$SHARDCRON_XCOM_OUT\"",
                   "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"t\","
                   "\"xcom_in\":{\"up\":{\"0\":[5]}}}");
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_string_equal(g.log.e[i].xcom, "{\"up\":{\"0\":[6]}}");
    /* absent: no output */
    i = wf_run(&g, "true", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_null(g.log.e[i].xcom);
    /* exactly 65,536 bytes: a JSON string of 65,534 characters */
    i = wf_run(&g,
               "{ printf '\"'; head -c 65534 /dev/zero | tr '\\0' a; printf '\"'; } > "
               "\"$SHARDCRON_XCOM_OUT\"",
               ctx);
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_non_null(g.log.e[i].xcom);
    assert_int_equal(strlen(g.log.e[i].xcom), 65536);
    /* 65,537 bytes fail the run although the process exited 0 */
    i = wf_run(&g,
               "{ printf '\"'; head -c 65535 /dev/zero | tr '\\0' a; printf '\"'; } > "
               "\"$SHARDCRON_XCOM_OUT\"",
               ctx);
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_int_equal(g.log.e[i].attempt, 1);
    assert_string_equal(g.log.e[i].reason, "XCom output is 65537 bytes; the limit is 65536");
    assert_null(g.log.e[i].xcom);
    /* not JSON */
    i = wf_run(&g, "echo '{\"a\":' > \"$SHARDCRON_XCOM_OUT\"", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_non_null(strstr(g.log.e[i].reason, "XCom output is not valid JSON: "));
    assert_null(g.log.e[i].xcom);
    i = wf_run(&g, "printf '{\"a\":1,\"a\":2}' > \"$SHARDCRON_XCOM_OUT\"", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_non_null(strstr(g.log.e[i].reason, "XCom output is not valid JSON: "));
    /* a failed process: its own failure, no output taken */
    i = wf_run(&g, "echo '[1]' > \"$SHARDCRON_XCOM_OUT\"; exit 3", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_int_equal(g.log.e[i].exit_code, 3);
    assert_null(g.log.e[i].xcom);
    assert_false(dir_has_xcom());
    rig_free(&g);
}

/* capture: stdout apart from stderr, at most 65,536 bytes. */
static void test_wf_capture(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, NULL);
    const char *ctx = "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"route\",\"capture\":true}";
    int i = wf_run(&g, "echo full; echo noise >&2; echo delta", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_string_equal(g.log.e[i].captured, "full\ndelta\n");
    /* the output tail still has both streams */
    assert_non_null(strstr(g.log.e[i].tail, "noise"));
    assert_non_null(strstr(g.log.e[i].tail, "delta"));
    i = wf_run(&g, "head -c 65536 /dev/zero | tr '\\0' x", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_SUCCEEDED);
    assert_int_equal(strlen(g.log.e[i].captured), 65536);
    i = wf_run(&g, "head -c 65537 /dev/zero | tr '\\0' x", ctx);
    assert_int_equal(g.log.e[i].status, EXEC_FAILED);
    assert_string_equal(g.log.e[i].reason, "branch output over 65536 bytes");
    assert_null(g.log.e[i].captured);
    /* without capture nothing is kept apart */
    i = wf_run(&g, "echo x", "{\"workflow\":\"w\",\"run_id\":\"r\",\"task\":\"t\"}");
    assert_null(g.log.e[i].captured);
    rig_free(&g);
    assert_true(no_children());
}

struct wf_done {
    int n;
    enum exec_status status;
    char captured[64], xcom[64], tail[256];
    bool has_captured;
};

static void on_wf_done(const struct exec_result *r, void *arg)
{
    struct wf_done *d = arg;
    d->n++;
    d->status = r->status;
    d->has_captured = r->captured != NULL;
    snprintf(d->captured, sizeof d->captured, "%s", r->captured ? r->captured : "");
    snprintf(d->xcom, sizeof d->xcom, "%s", r->xcom ? r->xcom : "");
    snprintf(d->tail, sizeof d->tail, "%s", r->output_tail);
}

static bool wf_is_done(void *arg)
{
    return ((struct wf_done *)arg)->n > 0;
}

/* Every spawn path (posix_spawn on the loop, fork, spawner threads) keeps
 * stdout apart for a captured run and writes and removes the XCom files. */
static void test_wf_spawn_paths(void **state)
{
    (void)state;
    const char *names[] = {"region"}, *values[] = {"cn"};
    struct exec_wf wf = {.workflow = "w",
                         .run_id = "r",
                         .task = "t",
                         .logical_time = "2030-01-01T08:00:00+08:00",
                         .param_names = names,
                         .param_values = values,
                         .nparams = 1,
                         .xcom_in = "[7]",
                         .work_dir = tmpdir,
                         .capture = true};
    for (int m = 0; m < 3; m++) {
        struct exec_runner_opts o = {.spawn = m == 1 ? EXEC_SPAWN_FORK : EXEC_SPAWN_POSIX,
                                     .spawn_threads = m == 2 ? 2 : 0};
        struct exec_runner *r = NULL;
        assert_int_equal(exec_runner_new(base, &o, &r), 0);
        struct exec_spec spec = {
            .command = "echo $SHARDCRON_PARAM_region; echo err >&2; cat $SHARDCRON_XCOM_IN > "
                       "$SHARDCRON_XCOM_OUT",
            .cwd = tmpdir,
            .env = {.job = "j", .execution_id = "wf-id-1", .attempt = 1},
            .wf = &wf};
        struct wf_done d = {0};
        struct sc_err err;
        assert_int_equal(exec_start(r, &spec, on_wf_done, &d, NULL, &err), 0);
        assert_true(run_until(wf_is_done, &d, DEADLINE_MS));
        assert_int_equal(d.status, EXEC_SUCCEEDED);
        assert_true(d.has_captured);
        assert_string_equal(d.captured, "cn\n");
        assert_string_equal(d.xcom, "[7]");
        assert_non_null(strstr(d.tail, "err\n"));
        assert_false(dir_has_xcom());
        exec_runner_free(r);
    }
    assert_true(no_children());
}

/* Retries keep the context; final is false until the last attempt. */
static void test_wf_retries(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, base);
    put_item(&g, "echo $SHARDCRON_RUN_ID $SHARDCRON_ATTEMPT $SHARDCRON_PARAM_k; exit 1", 0, 2, 1);
    char id[EXEC_ID_LEN + 1];
    assert_int_equal(
        sched_trigger_wf(
            g.s, "real", 1, NULL,
            "{\"workflow\":\"w\",\"run_id\":\"r-9\",\"task\":\"t\",\"params\":{\"k\":\"v\"}}", id),
        0);
    struct want w = {&g.log, SCHED_EV_FINISHED, 3};
    assert_true(run_until(have, &w, DEADLINE_MS));
    const char *tails[] = {"r-9 1 v\n", "r-9 2 v\n", "r-9 3 v\n"};
    int k = 0;
    for (int i = 0; i < g.log.n; i++) {
        assert_true(g.log.e[i].wf);
        if (g.log.e[i].type != SCHED_EV_FINISHED)
            continue;
        assert_string_equal(g.log.e[i].tail, tails[k]);
        assert_int_equal(g.log.e[i].final, k == 2);
        k++;
    }
    assert_int_equal(k, 3);
    rig_free(&g);
}

static bool file_exists(void *arg)
{
    return access(arg, F_OK) == 0;
}

/* Kill of a workflow run's item: the running execution through the kill
 * path (SIGKILL after the grace: it ignores SIGTERM), a retry-waiting one
 * dropped, another run's left alone. */
static void test_wf_kill(void **state)
{
    (void)state;
    struct rig g;
    rig_new(&g, NULL); /* no timer: a failed run waits for its retry until a tick */
    char cmd[400];
    snprintf(
        cmd, sizeof cmd,
        "[ $SHARDCRON_RUN_ID = C ] && exit 1; trap '' TERM; echo up > %s/wf-kill-$SHARDCRON_RUN_ID;"
        " sleep 300",
        tmpdir);
    put_item(&g, cmd, SCHED_CONC_ALLOW, 3, 1);
    assert_int_equal(sched_trigger_wf(g.s, "real", 1, NULL,
                                      "{\"workflow\":\"w\",\"run_id\":\"C\",\"task\":\"t\"}", NULL),
                     0);
    struct want w = {&g.log, SCHED_EV_FINISHED, 1};
    assert_true(run_until(have, &w, DEADLINE_MS));
    assert_false(g.log.e[last_finished(&g)].final); /* a retry follows */
    assert_int_equal(sched_item_active(g.s, "real", 1), 1);
    assert_int_equal(sched_trigger_wf(g.s, "real", 1, NULL,
                                      "{\"workflow\":\"w\",\"run_id\":\"A\",\"task\":\"t\"}", NULL),
                     0);
    assert_int_equal(sched_trigger_wf(g.s, "real", 1, NULL,
                                      "{\"workflow\":\"w\",\"run_id\":\"B\",\"task\":\"t\"}", NULL),
                     0);
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/wf-kill-A", tmpdir);
    snprintf(b, sizeof b, "%s/wf-kill-B", tmpdir);
    assert_true(run_until(file_exists, a, DEADLINE_MS));
    assert_true(run_until(file_exists, b, DEADLINE_MS));
    assert_int_equal(sched_running(g.s), 2);
    /* the retry-waiting run C: dropped */
    assert_int_equal(sched_kill_wf(g.s, "real", 1, "C"), 1);
    assert_int_equal(count(&g.log, SCHED_EV_SKIPPED), 1);
    int i = g.log.n - 1;
    assert_int_equal(g.log.e[i].type, SCHED_EV_SKIPPED);
    assert_string_equal(g.log.e[i].reason, "cancelled by the workflow");
    assert_true(g.log.e[i].final);
    assert_true(g.log.e[i].wf);
    assert_int_equal(sched_kill_wf(g.s, "real", 1, "nope"), 0);
    assert_int_equal(sched_kill_wf(g.s, "real", 1, "A"), 1);
    assert_int_equal(sched_kill_wf(g.s, "real", 1, "A"), 0); /* already being stopped */
    w.n = 2;
    assert_true(run_until(have, &w, DEADLINE_MS));
    i = last_finished(&g);
    assert_int_equal(g.log.e[i].status, EXEC_KILLED);
    assert_int_equal(g.log.e[i].signal, SIGKILL);
    assert_string_equal(g.log.e[i].reason, "cancelled by the workflow");
    assert_true(g.log.e[i].final);           /* retries left, but none follows */
    assert_int_equal(sched_running(g.s), 1); /* run B goes on */
    assert_int_equal(sched_kill_wf(g.s, "real", 1, "B"), 1);
    w.n = 3;
    assert_true(run_until(have, &w, DEADLINE_MS));
    sched_tick(g.s);
    assert_int_equal(sched_item_active(g.s, "real", 1), 0);
    assert_int_equal(count(&g.log, SCHED_EV_FINISHED), 3);
    rig_free(&g);
    /* the SIGKILLed groups are reaped as they go (a loaded machine is slower) */
    assert_true(run_until(no_children_cond, NULL, DEADLINE_MS));
}

int main(void)
{
    /* Orphaned grandchildren come back to this process and are reaped by the
     * runner, so "gone" means gone, not a zombie of some other parent. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sc-test-exec-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_fd_leaks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_status_and_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guarded_from_spawn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_no_zombies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_fire_time_is_scheduled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_retries_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_forbid_replace_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prearm_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prearm_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_prearm_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wf_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wf_xcom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wf_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wf_spawn_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wf_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wf_kill, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
