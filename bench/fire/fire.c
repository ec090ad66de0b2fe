/* bench/fire/fire.c: how punctually and how cheaply one agent loop fires.
 *
 *   fire steady [--items N] [--duration S] [--spawn posix|fork] [--spawn-threads T]
 *               [--prearm MS] [--gate PATH] [--stamp PATH]
 *       N items, item i at second i mod 60 of every minute, each `true` (or the
 *       stamp program): start lateness p50/p99/max, CPU. Two definitions side
 *       by side: "started" is when the runner let the process go (posix_spawn
 *       returned; for a pre-armed start, the release), "command began" is the
 *       stamp's own CLOCK_REALTIME at main entry, after /bin/sh exec'd it.
 *   fire burst [--items N] [--prearm MS] ...
 *       N items due at the same second, with posix_spawn, with fork, vfork,
 *       spawner threads, pre-armed (when --prearm), and with a one-thread-per-job
 *       design (each thread sleeps to the second and forks).
 *   fire scale [--items N] [--duration S]
 *       N items every minute on one loop: threads and RSS (and lateness).
 *   --ab N (steady): the pre-armed configuration and the same without
 *       pre-arming alternate in N blocks each, duration/N seconds per block.
 *   --prearm MS: the scheduler creates each process MS before its fire, held
 *       by the gate library (--gate, default build/bin/shardcron-gate.so), and
 *       releases it at the scheduled instant.
 *   fire java --jar JAR --classpath CP [--runs N]
 *       start latency of a trivial job through the warm worker vs `java -cp`.
 *
 * Every mode prints markdown table rows: | bench | metric | value | target |. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/javaw.h"
#include "agent/runner.h"
#include "agent/sched.h"
#include "core/log.h"

static struct {
    const char *mode;
    int items;
    int duration;
    int runs;
    enum exec_spawn_method spawn;
    int threads;
    const char *jar, *classpath;
    int prearm, ab;
    const char *gate, *stamp;
} A = {.items = 1000, .duration = 180, .runs = 50};

/* ------------------------------------------------------------ statistics */

struct samples {
    double *v;
    size_t n, cap;
};

static void add(struct samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    s->v[s->n++] = x;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
    if (!s->n)
        return -1;
    qsort(s->v, s->n, sizeof *s->v, cmp);
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long proc_status(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = atol(line + kl + 1);
    if (f)
        fclose(f);
    return v;
}

/* ------------------------------------------------------------- schedules */

struct rule {
    int second; /* fires when t % 60 == second; -1 = once at `at` */
    int64_t at;
};

static int64_t rule_next(void *ctx, int64_t after)
{
    const struct rule *r = ctx;
    if (r->second < 0)
        return after < r->at ? r->at : -1;
    int64_t base = after - after % 60 + r->second;
    return base > after ? base : base + 60;
}

struct run_stats {
    struct samples late;
    struct samples began; /* stamp main entry - scheduled second, ms */
    int64_t last_began_us;
    struct samples wake; /* lateness of the first start of each second: timer wake-up */
    int64_t wake_second;
    int started, finished, failed;
    int64_t last_start_ms;
};

static void on_event(const struct sched_event *ev, void *arg)
{
    struct run_stats *st = arg;
    if (ev->type == SCHED_EV_STARTED) {
        st->started++;
    } else if (ev->type == SCHED_EV_FINISHED) {
        /* started_ms is taken when the spawn returned: the process exists */
        int64_t at = ev->started_ms;
        add(&st->late, (double)(at - ev->fire_time * 1000));
        if (ev->fire_time != st->wake_second) {
            st->wake_second = ev->fire_time;
            add(&st->wake, (double)(at - ev->fire_time * 1000));
        }
        if (at > st->last_start_ms)
            st->last_start_ms = at;
        const char *b = ev->output_tail ? strstr(ev->output_tail, "began_us=") : NULL;
        if (b) {
            int64_t us = strtoll(b + 9, NULL, 10);
            add(&st->began, (double)(us - ev->fire_time * 1000000) / 1000.0);
            if (us > st->last_began_us)
                st->last_began_us = us;
        }
        st->finished++;
        st->failed += ev->status != EXEC_SUCCEEDED;
    }
}

struct loop {
    struct event_base *base;
    struct exec_runner *er;
    struct agent_runner ar;
    struct sched *s;
    struct run_stats st;
    struct rule *rules;
};

static void loop_new(struct loop *L, int capacity, enum exec_spawn_method m, int threads,
                     int prearm)
{
    memset(L, 0, sizeof *L);
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    L->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    struct exec_runner_opts eo = {.spawn = m, .spawn_threads = threads, .gate_path = A.gate};
    if (exec_runner_new(L->base, &eo, &L->er) < 0)
        abort();
    L->ar.exec = L->er;
    struct sched_opts so = {.capacity = capacity,
                            .runner = agent_runner_ops(&L->ar),
                            .on_event = on_event,
                            .event_arg = &L->st,
                            .prearm_ms = prearm};
    if (sched_new(L->base, &so, &L->s) < 0)
        abort();
    L->rules = calloc((size_t)A.items, sizeof *L->rules);
}

static void loop_items(struct loop *L, int once_at)
{
    char name[32];
    for (int i = 0; i < A.items; i++) {
        L->rules[i] = (struct rule){.second = once_at ? -1 : i % 60, .at = once_at};
        snprintf(name, sizeof name, "job%05d", i);
        struct sched_item_conf c = {.job = name,
                                    .total = 1,
                                    .command = A.stamp ? A.stamp : "true",
                                    .next = rule_next,
                                    .ctx = &L->rules[i],
                                    .concurrency = SCHED_CONC_ALLOW};
        struct sc_err err;
        if (sched_item_put(L->s, &c, &err) < 0)
            abort();
    }
}

static void loop_run_for(struct loop *L, int64_t until_real_ms)
{
    while (exec_now_real_ms() < until_real_ms) {
        struct timeval tv = {0, 200000};
        event_base_loopexit(L->base, &tv);
        event_base_dispatch(L->base);
    }
}

static void loop_drain(struct loop *L)
{
    int64_t end = exec_now_real_ms() + 30000;
    while ((sched_running(L->s) > 0 || sched_queued(L->s) > 0) && exec_now_real_ms() < end) {
        struct timeval tv = {0, 50000};
        event_base_loopexit(L->base, &tv);
        event_base_dispatch(L->base);
    }
}

static void loop_free(struct loop *L)
{
    exec_runner_free(L->er);
    sched_free(L->s);
    event_base_free(L->base);
    free(L->rules);
    free(L->st.late.v);
    free(L->st.wake.v);
    free(L->st.began.v);
}

static void row(const char *bench, const char *metric, const char *value, const char *target)
{
    printf("| %s | %s | %s | %s |\n", bench, metric, value, target);
    fflush(stdout);
}

static void rowf(const char *bench, const char *metric, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rowf(const char *bench, const char *metric, const char *target, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    row(bench, metric, v, target);
}

/* ------------------------------------------------------------------ modes */

static void prearm_row(const char *bench, struct loop *L)
{
    struct sched_prearm_stats ps;
    sched_prearm_stats(L->s, &ps);
    if (ps.armed || A.prearm)
        rowf(bench, "pre-armed / released at the instant / cancelled / lost", "",
             "%lld / %lld / %lld / %lld", (long long)ps.armed, (long long)ps.released,
             (long long)ps.cancelled, (long long)ps.lost);
}

/* The figures of one configuration, summed over its blocks. */
struct steady_acc {
    struct run_stats st;
    struct sched_prearm_stats ps;
    double wall, cpu, chcpu;
};

static void merge(struct samples *to, const struct samples *from)
{
    for (size_t i = 0; i < from->n; i++)
        add(to, from->v[i]);
}

/* steady_block: one loop with the N items for `seconds`, added to acc. */
static void steady_block(struct steady_acc *acc, int prearm, int seconds)
{
    struct loop L;
    loop_new(&L, 64, A.spawn, A.threads, prearm);
    loop_items(&L, 0);
    double c0 = cpu_s(RUSAGE_SELF), ch0 = cpu_s(RUSAGE_CHILDREN);
    int64_t t0 = exec_now_real_ms();
    loop_run_for(&L, t0 + (int64_t)seconds * 1000);
    acc->wall += (double)(exec_now_real_ms() - t0) / 1000.0;
    acc->cpu += cpu_s(RUSAGE_SELF) - c0;
    loop_drain(&L);
    acc->chcpu += cpu_s(RUSAGE_CHILDREN) - ch0;
    merge(&acc->st.late, &L.st.late);
    merge(&acc->st.began, &L.st.began);
    merge(&acc->st.wake, &L.st.wake);
    acc->st.finished += L.st.finished;
    acc->st.failed += L.st.failed;
    struct sched_prearm_stats ps;
    sched_prearm_stats(L.s, &ps);
    acc->ps.armed += ps.armed;
    acc->ps.released += ps.released;
    acc->ps.cancelled += ps.cancelled;
    acc->ps.lost += ps.lost;
    loop_free(&L);
}

static void steady_report(const char *bench, struct steady_acc *acc, int prearm, int blocks)
{
    char how[160];
    if (A.threads)
        snprintf(how, sizeof how, "posix_spawn on %d spawner threads", A.threads);
    else
        snprintf(how, sizeof how, "%s on the loop",
                 A.spawn == EXEC_SPAWN_FORK ? "fork" : "posix_spawn");
    if (prearm)
        snprintf(how + strlen(how), sizeof how - strlen(how), ", pre-armed %d ms ahead", prearm);
    if (blocks > 1)
        snprintf(how + strlen(how), sizeof how - strlen(how),
                 ", %d blocks interleaved with the other configuration", blocks);
    double wall = acc->wall;
    rowf(bench, "items / duration / spawning", "", "%d items, %.0f s, %s, command %s", A.items,
         wall, how, A.stamp ? "stamp" : "true");
    rowf(bench, "fires run", "", "%d (%.1f/s), %d failed", acc->st.finished,
         acc->st.finished / wall, acc->st.failed);
    if (prearm)
        rowf(bench, "pre-armed / released at the instant / cancelled / lost", "",
             "%lld / %lld / %lld / %lld", (long long)acc->ps.armed, (long long)acc->ps.released,
             (long long)acc->ps.cancelled, (long long)acc->ps.lost);
    bool steady = strcmp(bench, "steady") == 0;
    struct run_stats *st = &acc->st;
    rowf(bench, "started lateness p50 / p99 / max", steady ? "p99 < 10, max < 50 ms" : "",
         "%.1f / %.1f / %.1f ms", pct(&st->late, 50), pct(&st->late, 99), pct(&st->late, 100));
    if (st->began.n)
        rowf(bench, "command began lateness p50 / p99 / max", steady ? "p99 < 10, max < 50 ms" : "",
             "%.2f / %.2f / %.2f ms (%zu stamps)", pct(&st->began, 50), pct(&st->began, 99),
             pct(&st->began, 100), st->began.n);
    rowf(bench, "first start of each second p50/p99", "", "%.1f / %.1f ms", pct(&st->wake, 50),
         pct(&st->wake, 99));
    rowf(bench, "agent CPU", "", "%.2f s (%.1f%% of one core)", acc->cpu, 100.0 * acc->cpu / wall);
    rowf(bench, "children CPU", "", "%.2f s", acc->chcpu);
    rowf(bench, "threads", steady ? "" : "< 16", "%ld", proc_status("Threads"));
    rowf(bench, "max RSS", steady ? "" : "< 200 MB", "%.1f MiB", proc_status("VmHWM") / 1024.0);
    free(st->late.v);
    free(st->began.v);
    free(st->wake.v);
}

/* mode_steady: one configuration for --duration; with --ab N, the pre-armed
 * configuration and the same without pre-arming alternate in N blocks each of
 * duration/N, so that both see the same machine load. */
static void mode_steady(const char *bench)
{
    if (A.ab > 0 && A.prearm > 0) {
        struct steady_acc on = {0}, off = {0};
        for (int b = 0; b < A.ab; b++) {
            steady_block(&on, A.prearm, A.duration / A.ab);
            steady_block(&off, 0, A.duration / A.ab);
        }
        steady_report(bench, &on, A.prearm, A.ab);
        steady_report(bench, &off, 0, A.ab);
        return;
    }
    struct steady_acc acc = {0};
    steady_block(&acc, A.prearm, A.duration);
    steady_report(bench, &acc, A.prearm, 1);
}

static double burst_loop(enum exec_spawn_method m, int threads, int prearm)
{
    struct loop L;
    loop_new(&L, A.items, m, threads, prearm);
    int64_t t = exec_now_real_ms() / 1000 + 2;
    loop_items(&L, (int)t);
    loop_run_for(&L, t * 1000 + 200);
    int64_t end = exec_now_real_ms() + 30000;
    while (L.st.finished < A.items && exec_now_real_ms() < end)
        loop_run_for(&L, exec_now_real_ms() + 50);
    double span = (double)(L.st.last_start_ms - t * 1000);
    char name[96];
    if (threads)
        snprintf(name, sizeof name, "burst posix_spawn, %d spawner threads", threads);
    else
        snprintf(name, sizeof name, "burst %s on the loop",
                 m == EXEC_SPAWN_FORK    ? "fork"
                 : m == EXEC_SPAWN_VFORK ? "vfork"
                                         : "posix_spawn");
    if (prearm)
        snprintf(name + strlen(name), sizeof name - strlen(name), ", pre-armed %d ms", prearm);
    rowf(name, "all started after the second", "< 500 ms", "%.0f ms (%d of %d)", span,
         L.st.finished, A.items);
    rowf(name, "spawns/s", "", "%.0f", L.st.finished / (span / 1000.0));
    rowf(name, "first start lateness", "", "%.1f ms", pct(&L.st.late, 0));
    if (prearm)
        prearm_row(name, &L);
    if (L.st.began.n)
        rowf(name, "all commands began after the second", "", "%.0f ms (%zu stamps)",
             (double)(L.st.last_began_us - t * 1000000) / 1000.0, L.st.began.n);
    loop_drain(&L);
    loop_free(&L);
    return span;
}

struct thr {
    int64_t at_ms;
    int64_t started_ms;
    pthread_t th;
};

static int stamp_fd = -1; /* thread-per-job: the stamps' shared stdout (O_APPEND) */

static void *thread_job(void *arg)
{
    struct thr *t = arg;
    struct timespec ts = {(time_t)(t->at_ms / 1000), 0};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"sh", "-c", A.stamp ? (char *)A.stamp : "true", NULL};
        if (stamp_fd >= 0)
            dup2(stamp_fd, 1);
        execv("/bin/sh", argv);
        _exit(127);
    }
    t->started_ms = exec_now_real_ms();
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return NULL;
}

static double burst_threads(void)
{
    char stamps[] = "/tmp/fire-stamps-XXXXXX";
    if (A.stamp) {
        stamp_fd = mkstemp(stamps);
        if (stamp_fd >= 0)
            fcntl(stamp_fd, F_SETFL, O_APPEND);
    }
    struct thr *t = calloc((size_t)A.items, sizeof *t);
    int64_t at = (exec_now_real_ms() / 1000 + 2) * 1000;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int made = 0;
    for (int i = 0; i < A.items; i++) {
        t[i].at_ms = at;
        if (pthread_create(&t[i].th, &attr, thread_job, &t[i]) == 0)
            made++;
        else
            t[i].th = 0;
    }
    long threads = proc_status("Threads");
    int64_t last = 0;
    for (int i = 0; i < A.items; i++)
        if (t[i].th) {
            pthread_join(t[i].th, NULL);
            if (t[i].started_ms > last)
                last = t[i].started_ms;
        }
    double span = (double)(last - at);
    rowf("burst thread-per-job", "all started after the second", "", "%.0f ms (%d threads)", span,
         made);
    rowf("burst thread-per-job", "spawns/s", "", "%.0f", made / (span / 1000.0));
    rowf("burst thread-per-job", "threads at peak", "", "%ld", threads);
    if (stamp_fd >= 0) {
        FILE *f = fopen(stamps, "r");
        char line[64];
        long long us, last = 0;
        int n = 0;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "began_us=%lld", &us) == 1) {
                n++;
                if (us > last)
                    last = us;
            }
        if (f)
            fclose(f);
        rowf("burst thread-per-job", "all commands began after the second", "",
             "%.0f ms (%d stamps)", (double)(last - at * 1000) / 1000.0, n);
        close(stamp_fd);
        stamp_fd = -1;
        unlink(stamps);
    }
    pthread_attr_destroy(&attr);
    free(t);
    return span;
}

static void mode_burst(void)
{
    double loop_span = burst_loop(EXEC_SPAWN_POSIX, 0, 0);
    burst_loop(EXEC_SPAWN_FORK, 0, 0);
    burst_loop(EXEC_SPAWN_VFORK, 0, 0);
    burst_loop(EXEC_SPAWN_POSIX, A.threads ? A.threads : 2, 0);
    double pre_span = 0;
    if (A.prearm) {
        pre_span = burst_loop(EXEC_SPAWN_POSIX, 0, A.prearm);
        burst_loop(EXEC_SPAWN_POSIX, A.threads ? A.threads : 2, A.prearm);
    }
    double thr_span = burst_threads();
    rowf("burst ratio", "thread-per-job / one loop (posix_spawn)", "", "%.2f",
         thr_span / loop_span);
    if (pre_span > 0)
        rowf("burst ratio", "thread-per-job / one loop pre-armed (all started)", "", "%.2f",
             thr_span / pre_span);
}

static double mono_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

struct jdone {
    int n;
    enum exec_status st;
};

static void on_jdone(const struct exec_result *r, void *arg)
{
    struct jdone *d = arg;
    d->n++;
    d->st = r->status;
    if (r->status != EXEC_SUCCEEDED)
        fprintf(stderr, "java bench run failed: %s %s %s\n", exec_status_name(r->status), r->reason,
                r->output_tail);
}

static void wait_jdone(struct event_base *b, struct jdone *d)
{
    int64_t end = exec_now_mono_ms() + 60000;
    while (!d->n && exec_now_mono_ms() < end) {
        struct timeval tv = {0, 100000};
        event_base_loopexit(b, &tv);
        event_base_loop(b, EVLOOP_ONCE);
    }
}

static void mode_java(void)
{
    if (!A.jar) {
        fprintf(stderr, "java: --jar is required\n");
        exit(2);
    }
    struct event_base *b = event_base_new();
    struct exec_runner *er;
    struct javaw_pool *jp;
    struct javaw_opts jo = {.jar = A.jar};
    if (exec_runner_new(b, NULL, &er) < 0 || javaw_pool_new(b, er, &jo, &jp) < 0)
        abort();
    const char *cls = "io.shardcron.examples.Example";
    struct samples warm = {0}, cold = {0};
    int failed = 0;
    for (int i = 0; i <= A.runs; i++) { /* run 0 starts the JVM and is not counted */
        char id[EXEC_ID_LEN + 1];
        exec_new_id(id);
        struct javaw_run run = {.classpath = A.classpath,
                                .class_name = cls,
                                .env = {.job = "bench",
                                        .shard_total = 1,
                                        .job_param = "ok",
                                        .fire_time = "",
                                        .execution_id = id}};
        struct jdone d = {0};
        struct sc_err err;
        double t0 = mono_ms_f();
        if (javaw_submit(jp, &run, on_jdone, &d, NULL, &err) < 0)
            abort();
        wait_jdone(b, &d);
        failed += d.st != EXEC_SUCCEEDED;
        if (i > 0)
            add(&warm, mono_ms_f() - t0);
    }
    char cmd[2048], jar[1024];
    if (!realpath(A.jar, jar))
        abort();
    snprintf(cmd, sizeof cmd, "exec java -cp %s%s%s io.shardcron.Run %s", jar,
             A.classpath ? ":" : "", A.classpath ? A.classpath : "", cls);
    for (int i = 0; i < A.runs; i++) {
        struct exec_spec sp = {.command = cmd,
                               .env = {.job = "bench", .shard_total = 1, .job_param = "ok"}};
        struct jdone d = {0};
        struct sc_err err;
        double t0 = mono_ms_f();
        if (exec_start(er, &sp, on_jdone, &d, NULL, &err) < 0)
            abort();
        wait_jdone(b, &d);
        failed += d.st != EXEC_SUCCEEDED;
        add(&cold, mono_ms_f() - t0);
    }
    double w = pct(&warm, 50), c = pct(&cold, 50);
    rowf("java", "trivial job, warm worker (median of N)", "", "%.2f ms (N=%d)", w, A.runs);
    rowf("java", "trivial job, java -cp per fire (median of N)", "", "%.1f ms (N=%d)", c, A.runs);
    rowf("java", "cold / warm", "", "%.0fx (%d failed)", c / (w > 0 ? w : 1), failed);
    javaw_pool_free(jp);
    exec_runner_free(er);
    event_base_free(b);
    free(warm.v);
    free(cold.v);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fire steady|burst|scale|java [options]\n");
        return 2;
    }
    A.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--items"))
            A.items = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            A.duration = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            A.runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--spawn-threads"))
            A.threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--spawn"))
            A.spawn = !strcmp(argv[i + 1], "fork") ? EXEC_SPAWN_FORK : EXEC_SPAWN_POSIX;
        else if (!strcmp(argv[i], "--jar"))
            A.jar = argv[i + 1];
        else if (!strcmp(argv[i], "--classpath"))
            A.classpath = argv[i + 1];
        else if (!strcmp(argv[i], "--prearm"))
            A.prearm = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ab"))
            A.ab = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gate"))
            A.gate = argv[i + 1];
        else if (!strcmp(argv[i], "--stamp"))
            A.stamp = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    static char gate[1024];
    if (A.prearm && !A.gate) {
        if (exec_gate_find(gate, sizeof gate) < 0 &&
            access("build/bin/shardcron-gate.so", R_OK) == 0)
            snprintf(gate, sizeof gate, "build/bin/shardcron-gate.so");
        A.gate = gate[0] ? gate : NULL;
        if (!A.gate) {
            fprintf(stderr, "--prearm needs the gate library: --gate PATH\n");
            return 2;
        }
    }
    log_init("fire", NULL, "warn");
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(A.mode, "steady"))
        mode_steady("steady");
    else if (!strcmp(A.mode, "scale"))
        mode_steady("scale");
    else if (!strcmp(A.mode, "burst"))
        mode_burst();
    else if (!strcmp(A.mode, "java"))
        mode_java();
    else {
        fprintf(stderr, "unknown mode %s\n", A.mode);
        return 2;
    }
    log_fini();
    return 0;
}
