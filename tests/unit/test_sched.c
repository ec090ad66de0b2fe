/* tests/unit/test_sched.c: the scheduler's decisions, with a fake clock and a
 * fake runner (no processes, no event loop): fire times, misfire policies,
 * wall-clock jumps, concurrency, capacity, retries, triggers, updates,
 * pre-arming (prepare ahead, release at the instant, cancel otherwise), and
 * the epoch and fence each run is launched and reported with. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/sched.h"
#include "agent/wfctx.h"

/* ------------------------------------------------------------- fixtures */

#define MAXL 512
#define MAXE 2048

struct launch {
    void *token;
    char exec_id[EXEC_ID_LEN + 1];
    char job[32];
    char job_param[32];
    char fire_iso[40];
    enum exec_trigger trigger;
    int attempt;
    int64_t fire_time;
    int64_t epoch;
    char fence[AGENT_FENCE_LEN + 1];
    int killed;
    char kill_reason[128];
    int done;
    int prepared, released, cancelled; /* pre-arming: prepared by f_prepare */
    char wf_run[32], wf_task[32];      /* the launch's workflow context, "" none */
};

struct ev {
    enum sched_ev_type type;
    char job[32];
    char exec_id[EXEC_ID_LEN + 1];
    enum exec_trigger trigger, origin;
    int attempt;
    int64_t fire_time;
    int64_t queued_ms, started_ms;
    int pid;
    enum exec_status status;
    char reason[200];
    int64_t jump_ms;
    int64_t epoch;
    char fence[AGENT_FENCE_LEN + 1];
    char wf[256]; /* the context text, "" none */
    bool final;
};

static struct {
    int64_t real, mono;
    struct launch l[MAXL];
    int nl;
    struct ev e[MAXE];
    int ne;
    const char *fail_job;   /* start() fails for this job */
    const char *refuse_job; /* start() refuses this job (-EAGAIN) */
    int release_fail;       /* release() reports the held process lost */
    int64_t epoch;          /* what the epoch callback answers */
    int epoch_reads;
    int64_t backlog; /* the last on_backlog value */
    int backlog_calls;
    int not_owed; /* owes() answers no */
    int owes_asked;
} F;

static bool f_owes(void *ctx, const char *job, int item)
{
    (void)ctx, (void)job, (void)item;
    F.owes_asked++;
    return !F.not_owed;
}

static void f_backlog(void *ctx, int64_t oldest)
{
    (void)ctx;
    F.backlog = oldest;
    F.backlog_calls++;
}

static int64_t f_epoch(void *ctx)
{
    (void)ctx;
    F.epoch_reads++;
    return F.epoch;
}

static int64_t f_real(void *c)
{
    (void)c;
    return F.real;
}

static int64_t f_mono(void *c)
{
    (void)c;
    return F.mono;
}

static int f_start(void *ctx, const struct sched_launch *l, void *token, void **handle,
                   struct sc_err *err)
{
    (void)ctx;
    if (F.fail_job && strcmp(F.fail_job, l->conf->job) == 0)
        return sc_err_set(err, ENOENT, "cwd", -1, "no such directory");
    if (F.refuse_job && strcmp(F.refuse_job, l->conf->job) == 0)
        return sc_err_set(err, EAGAIN, "", -1, "cannot prove it owns the item");
    assert_true(F.nl < MAXL);
    struct launch *x = &F.l[F.nl];
    memset(x, 0, sizeof *x);
    x->token = token;
    snprintf(x->exec_id, sizeof x->exec_id, "%s", l->exec_id);
    snprintf(x->job, sizeof x->job, "%s", l->conf->job);
    snprintf(x->job_param, sizeof x->job_param, "%s", l->job_param ? l->job_param : "");
    snprintf(x->fire_iso, sizeof x->fire_iso, "%s", l->fire_time_iso);
    x->trigger = l->trigger;
    x->attempt = l->attempt;
    x->fire_time = l->fire_time;
    x->epoch = l->epoch;
    snprintf(x->fence, sizeof x->fence, "%s", l->fence);
    if (l->wf) {
        snprintf(x->wf_run, sizeof x->wf_run, "%s", l->wf->run_id);
        snprintf(x->wf_task, sizeof x->wf_task, "%s", l->wf->task);
    }
    *handle = x;
    F.nl++;
    return 0;
}

static int f_prepare(void *ctx, const struct sched_launch *l, void *token, void **handle,
                     struct sc_err *err)
{
    int rc = f_start(ctx, l, token, handle, err);
    if (rc == 0)
        F.l[F.nl - 1].prepared = 1;
    return rc;
}

static int f_release(void *ctx, void *handle, const struct sched_item_conf *c, int64_t fire_time)
{
    (void)fire_time;
    (void)ctx, (void)c;
    struct launch *x = handle;
    assert_true(x->prepared);
    assert_false(x->released || x->cancelled);
    if (F.release_fail) {
        x->cancelled = 1; /* the runner dropped it */
        return -ESRCH;
    }
    x->released = 1;
    return 0;
}

static void f_cancel(void *ctx, void *handle, const struct sched_item_conf *c)
{
    (void)ctx, (void)c;
    struct launch *x = handle;
    assert_true(x->prepared);
    assert_false(x->released || x->cancelled);
    x->cancelled = 1;
}

static int f_pid(void *ctx, void *handle, const struct sched_item_conf *c)
{
    (void)ctx, (void)c;
    return 4000 + (int)((struct launch *)handle - F.l);
}

static int f_kill(void *ctx, void *handle, const struct sched_item_conf *c, const char *reason)
{
    (void)ctx, (void)c;
    struct launch *x = handle;
    x->killed++;
    snprintf(x->kill_reason, sizeof x->kill_reason, "%s", reason);
    return 0;
}

static void f_event(const struct sched_event *e, void *arg)
{
    (void)arg;
    assert_true(F.ne < MAXE);
    struct ev *x = &F.e[F.ne++];
    x->type = e->type;
    snprintf(x->job, sizeof x->job, "%s", e->job);
    snprintf(x->exec_id, sizeof x->exec_id, "%s", e->exec_id);
    x->trigger = e->trigger;
    x->origin = e->origin;
    x->attempt = e->attempt;
    x->fire_time = e->fire_time;
    x->queued_ms = e->queued_ms;
    x->started_ms = e->started_ms;
    x->pid = e->pid;
    x->status = e->status;
    snprintf(x->reason, sizeof x->reason, "%s", e->reason);
    x->jump_ms = e->jump_ms;
    x->epoch = e->epoch;
    snprintf(x->fence, sizeof x->fence, "%s", e->fence);
    snprintf(x->wf, sizeof x->wf, "%s", e->wf ? e->wf : "");
    x->final = e->final;
}

/* every N seconds, N in a malloc'd int the scheduler owns */
static int64_t every(void *ctx, int64_t after)
{
    int n = *(int *)ctx;
    return (after / n + 1) * n;
}

static int64_t never(void *ctx, int64_t after)
{
    (void)ctx, (void)after;
    return -1;
}

static int *secs(int n)
{
    int *p = malloc(sizeof *p);
    *p = n;
    return p;
}

static struct sched *mk(int capacity)
{
    memset(&F, 0, sizeof F);
    F.real = 1000000; /* epoch second 1000 */
    F.mono = 50000;
    static const struct sched_clock clk = {f_real, f_mono, NULL};
    struct sched_opts o = {.capacity = capacity,
                           .clock = &clk,
                           .runner = {f_start, f_kill, NULL},
                           .on_event = f_event,
                           .epoch = f_epoch,
                           .on_backlog = f_backlog,
                           .owes = f_owes};
    struct sched *s = NULL;
    assert_int_equal(sched_new(NULL, &o, &s), 0);
    return s;
}

/* mk_pre: a scheduler whose runner pre-arms, prearm_ms ahead. */
static struct sched *mk_pre(int capacity, int prearm_ms)
{
    memset(&F, 0, sizeof F);
    F.real = 1000000;
    F.mono = 50000;
    static const struct sched_clock clk = {f_real, f_mono, NULL};
    struct sched_opts o = {.capacity = capacity,
                           .clock = &clk,
                           .runner = {.start = f_start,
                                      .kill = f_kill,
                                      .prepare = f_prepare,
                                      .release = f_release,
                                      .cancel = f_cancel,
                                      .pid = f_pid},
                           .on_event = f_event,
                           .prearm_ms = prearm_ms,
                           .epoch = f_epoch};
    struct sched *s = NULL;
    assert_int_equal(sched_new(NULL, &o, &s), 0);
    return s;
}

static struct sched_item_conf conf(const char *job, int n)
{
    return (struct sched_item_conf){.job = job,
                                    .item = 0,
                                    .total = 1,
                                    .command = "true",
                                    .next = every,
                                    .ctx = secs(n),
                                    .ctx_free = free,
                                    .concurrency = SCHED_CONC_ALLOW};
}

static void put(struct sched *s, struct sched_item_conf c)
{
    struct sc_err err;
    assert_int_equal(sched_item_put(s, &c, &err), 0);
}

static void advance(struct sched *s, int64_t ms)
{
    F.real += ms;
    F.mono += ms;
    sched_tick(s);
}

static void finish(struct launch *x, enum exec_status st)
{
    assert_false(x->done);
    x->done = 1;
    struct exec_result r = {.status = st,
                            .exit_code = st == EXEC_SUCCEEDED ? 0 : 1,
                            .started_ms = F.real,
                            .finished_ms = F.real,
                            .output_tail = "out",
                            .reason = ""};
    sched_run_done(x->token, &r);
}

static int count_ev(enum sched_ev_type t)
{
    int n = 0;
    for (int i = 0; i < F.ne; i++)
        n += F.e[i].type == t;
    return n;
}

static int count_trig(enum exec_trigger t)
{
    int n = 0;
    for (int i = 0; i < F.nl; i++)
        n += F.l[i].trigger == t;
    return n;
}

static const struct ev *last_ev(enum sched_ev_type t)
{
    for (int i = F.ne - 1; i >= 0; i--)
        if (F.e[i].type == t)
            return &F.e[i];
    return NULL;
}

/* ---------------------------------------------------------------- tests */

static void test_fires_on_the_second(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    put(s, conf("a", 10));
    assert_int_equal(sched_item_next(s, "a", 0), 1010);
    assert_int_equal(sched_next_wake_ms(s), 1000); /* idle wake cap for jump detection */
    advance(s, 9999);
    assert_int_equal(F.nl, 0);
    assert_int_equal(sched_next_wake_ms(s), 1);
    advance(s, 1);
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].fire_time, 1010);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_CRON);
    assert_int_equal(F.l[0].attempt, 1);
    assert_string_equal(F.l[0].fire_iso, "1970-01-01T00:16:50+00:00");
    assert_int_equal(strlen(F.l[0].exec_id), EXEC_ID_LEN);
    assert_int_equal(count_ev(SCHED_EV_STARTED), 1);
    assert_int_equal(count_ev(SCHED_EV_QUEUED), 0);
    /* a late wake-up still reports the scheduled time, not the start time */
    advance(s, 10700);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].fire_time, 1020);
    finish(&F.l[0], EXEC_SUCCEEDED);
    const struct ev *e = last_ev(SCHED_EV_FINISHED);
    assert_non_null(e);
    assert_int_equal(e->status, EXEC_SUCCEEDED);
    assert_string_equal(e->exec_id, F.l[0].exec_id);
    assert_string_not_equal(F.l[0].exec_id, F.l[1].exec_id);
    finish(&F.l[1], EXEC_SUCCEEDED);
    assert_int_equal(sched_running(s), 0);
    sched_free(s);
}

static int off8(void *ctx, int64_t t)
{
    (void)ctx, (void)t;
    return 8 * 3600;
}

static void test_offset_in_fire_time(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("tz", 10);
    c.offset = off8;
    put(s, c);
    advance(s, 10000);
    assert_int_equal(F.nl, 1);
    assert_string_equal(F.l[0].fire_iso, "1970-01-01T08:16:50+08:00");
    sched_free(s);
}

static void stall(enum sched_misfire policy, struct sched **out)
{
    struct sched *s = mk(100);
    struct sched_item_conf c = conf("m", 1);
    c.misfire = policy;
    put(s, c);
    advance(s, 20000); /* loop stalled 20 s: fires 1001..1020 due at once */
    *out = s;
}

static void test_misfire_skip(void **state)
{
    (void)state;
    struct sched *s;
    stall(SCHED_MISFIRE_SKIP, &s);
    /* 1001..1014 are later than the 5 s threshold; 1015..1020 just run */
    assert_int_equal(count_ev(SCHED_EV_MISSED), 14);
    assert_int_equal(F.nl, 6);
    assert_int_equal(count_trig(EXEC_TRIGGER_CRON), 6);
    assert_int_equal(F.l[0].fire_time, 1015);
    assert_int_equal(F.e[0].type, SCHED_EV_MISSED);
    assert_int_equal(F.e[0].fire_time, 1001);
    assert_non_null(strstr(F.e[0].reason, "late by 19000 ms"));
    assert_int_equal(count_ev(SCHED_EV_CLOCK_JUMP), 0);
    assert_int_equal(sched_item_next(s, "m", 0), 1021);
    sched_free(s);
}

static void test_misfire_once(void **state)
{
    (void)state;
    struct sched *s;
    stall(SCHED_MISFIRE_ONCE, &s);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 13);
    assert_int_equal(count_trig(EXEC_TRIGGER_MISFIRE), 1);
    assert_int_equal(count_trig(EXEC_TRIGGER_CRON), 6);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_MISFIRE);
    assert_int_equal(F.l[0].fire_time, 1014); /* the latest missed fire */
    sched_free(s);
}

static void test_misfire_all_bounded(void **state)
{
    (void)state;
    struct sched *s;
    stall(SCHED_MISFIRE_ALL, &s);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 0);
    assert_int_equal(count_trig(EXEC_TRIGGER_MISFIRE), 14);
    assert_int_equal(count_trig(EXEC_TRIGGER_CRON), 6);
    for (int i = 0; i < 14; i++)
        assert_int_equal(F.l[i].fire_time, 1001 + i);
    sched_free(s);

    /* a 500 s stall of an every-second item: at most SCHED_MISFIRE_MAX catch-ups */
    s = mk(1000);
    struct sched_item_conf c = conf("m", 1);
    c.misfire = SCHED_MISFIRE_ALL;
    put(s, c);
    advance(s, 500000);
    assert_int_equal(count_trig(EXEC_TRIGGER_MISFIRE), SCHED_MISFIRE_MAX);
    assert_int_equal(count_trig(EXEC_TRIGGER_CRON), 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 1);
    assert_non_null(strstr(last_ev(SCHED_EV_MISSED)->reason, "not run"));
    assert_true(sched_item_next(s, "m", 0) > 1500);
    int before = F.nl;
    advance(s, 1000);
    assert_int_equal(F.nl, before + 1);
    assert_int_equal(F.l[F.nl - 1].trigger, EXEC_TRIGGER_CRON);
    sched_free(s);
}

static void test_clock_jump_forward_and_back(void **state)
{
    (void)state;
    struct sched *s = mk(100);
    struct sched_item_conf c = conf("j", 60);
    c.misfire = SCHED_MISFIRE_SKIP;
    put(s, c); /* next 1020 */
    advance(s, 20000);
    assert_int_equal(F.nl, 1);
    /* the wall clock jumps forward one hour while one second passes */
    F.real += 3600000;
    F.mono += 1000;
    sched_tick(s);
    const struct ev *j = last_ev(SCHED_EV_CLOCK_JUMP);
    assert_non_null(j);
    assert_int_equal(j->jump_ms, 3599000);
    /* no burst: the 59 fires skipped over are reported missed, none run; 4620
     * (due this very second in the new time) runs */
    assert_int_equal(count_ev(SCHED_EV_MISSED), 59);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].fire_time, 4620);
    int64_t next = sched_item_next(s, "j", 0);
    assert_int_equal(next, 4680);
    /* back again: nothing fires twice, the jump is reported */
    F.real -= 3600000;
    F.mono += 1000;
    sched_tick(s);
    assert_int_equal(count_ev(SCHED_EV_CLOCK_JUMP), 2);
    assert_true(last_ev(SCHED_EV_CLOCK_JUMP)->jump_ms < 0);
    assert_int_equal(sched_item_next(s, "j", 0), next);
    assert_int_equal(F.nl, 2);
    advance(s, 3600000);
    for (int i = 0; i < F.nl; i++)
        for (int k = i + 1; k < F.nl; k++)
            assert_true(F.l[i].fire_time != F.l[k].fire_time);
    sched_free(s);
}

/* A jump before the scheduler's first tick (an item put, then the clock
 * jumps, then an item change forces a tick) is still reported first, so the
 * agent refuses the fires the jump skipped over before they are handled. */
static void test_clock_jump_before_first_tick(void **state)
{
    (void)state;
    struct sched *s = mk(100);
    struct sched_item_conf c = conf("f", 1);
    c.misfire = SCHED_MISFIRE_ONCE;
    put(s, c); /* next 1001 */
    F.real += 30000;
    F.mono += 100;
    sched_tick(s);
    const struct ev *j = last_ev(SCHED_EV_CLOCK_JUMP);
    assert_non_null(j);
    assert_int_equal(j->jump_ms, 29900);
    /* reported before any fire of the jumped clock */
    for (int i = 0; i < F.ne; i++) {
        if (F.e[i].type == SCHED_EV_CLOCK_JUMP)
            break;
        assert_true(F.e[i].type != SCHED_EV_QUEUED && F.e[i].type != SCHED_EV_STARTED &&
                    F.e[i].type != SCHED_EV_MISSED);
    }
    sched_free(s);
}

static void test_forbid(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("f", 10);
    c.concurrency = SCHED_CONC_FORBID;
    put(s, c);
    advance(s, 10000);
    assert_int_equal(F.nl, 1);
    advance(s, 10000);
    assert_int_equal(F.nl, 1);
    const struct ev *e = last_ev(SCHED_EV_SKIPPED);
    assert_non_null(e);
    assert_int_equal(e->fire_time, 1020);
    assert_non_null(strstr(e->reason, "forbid"));
    finish(&F.l[0], EXEC_SUCCEEDED);
    advance(s, 10000);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].fire_time, 1030);
    sched_free(s);
}

static void test_replace(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("r", 10);
    c.concurrency = SCHED_CONC_REPLACE;
    c.retries = 3;
    put(s, c);
    advance(s, 10000);
    advance(s, 10000);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[0].killed, 1);
    assert_non_null(strstr(F.l[0].kill_reason, "replace"));
    assert_int_equal(F.l[1].killed, 0);
    finish(&F.l[0], EXEC_KILLED);
    assert_int_equal(last_ev(SCHED_EV_FINISHED)->status, EXEC_KILLED);
    /* a killed run is not retried */
    advance(s, 5000);
    assert_int_equal(F.nl, 2);
    assert_int_equal(sched_item_active(s, "r", 0), 1);
    sched_free(s);
}

static void test_capacity_fifo(void **state)
{
    (void)state;
    struct sched *s = mk(2);
    const char *jobs[] = {"c0", "c1", "c2", "c3", "c4"};
    for (int i = 0; i < 5; i++)
        put(s, conf(jobs[i], 10));
    advance(s, 10000);
    assert_int_equal(F.nl, 2);
    assert_int_equal(sched_queued(s), 3);
    assert_int_equal(count_ev(SCHED_EV_QUEUED), 3);
    /* a backlog starts: told once, with its oldest fire */
    assert_int_equal(F.backlog_calls, 1);
    assert_int_equal(F.backlog, 1010);
    advance(s, 500);
    finish(&F.l[0], EXEC_SUCCEEDED);
    assert_int_equal(F.nl, 3);
    assert_int_equal(F.backlog_calls, 1); /* still a backlog: nothing new to tell */
    const struct ev *st = last_ev(SCHED_EV_STARTED);
    assert_int_equal(st->started_ms - st->queued_ms, 500);
    finish(&F.l[1], EXEC_FAILED);
    finish(&F.l[2], EXEC_SUCCEEDED);
    assert_int_equal(F.nl, 5);
    /* FIFO: the three that waited start in the order they were queued */
    char order[3][32];
    int k = 0;
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_QUEUED)
            snprintf(order[k++], 32, "%s", F.e[i].job);
    assert_string_equal(F.l[2].job, order[0]);
    assert_string_equal(F.l[3].job, order[1]);
    assert_string_equal(F.l[4].job, order[2]);
    assert_int_equal(sched_running(s), 2);
    /* the queue emptied: the backlog ended */
    assert_int_equal(F.backlog_calls, 2);
    assert_int_equal(F.backlog, 0);
    sched_free(s);
}

static void test_retries_with_backoff(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("t", 3600);
    c.retries = 2;
    c.retry_backoff_s = 10;
    c.timeout_s = 5;
    put(s, c);
    advance(s, 2600000); /* first fire at 3600 */
    assert_int_equal(F.nl, 1);
    finish(&F.l[0], EXEC_FAILED);
    assert_int_equal(sched_item_active(s, "t", 0), 1);
    assert_int_equal(sched_next_wake_ms(s), 1000);
    advance(s, 9999);
    assert_int_equal(F.nl, 1);
    advance(s, 1);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_RETRY);
    assert_int_equal(F.l[1].attempt, 2);
    assert_int_equal(F.l[1].fire_time, 3600);
    assert_string_not_equal(F.l[1].exec_id, F.l[0].exec_id);
    finish(&F.l[1], EXEC_TIMEOUT); /* a timeout is retried too; backoff doubles */
    advance(s, 19999);
    assert_int_equal(F.nl, 2);
    advance(s, 1);
    assert_int_equal(F.nl, 3);
    assert_int_equal(F.l[2].attempt, 3);
    finish(&F.l[2], EXEC_FAILED);
    advance(s, 100000);
    assert_int_equal(F.nl, 3); /* retries exhausted */
    assert_int_equal(sched_item_active(s, "t", 0), 0);
    assert_int_equal(count_ev(SCHED_EV_FINISHED), 3);
    sched_free(s);
}

static void test_triggers(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    put(s, conf("m", 3600));
    char id[EXEC_ID_LEN + 1];
    assert_int_equal(sched_trigger(s, "m", 0, EXEC_TRIGGER_MANUAL, 0, "P1", id), 0);
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_MANUAL);
    assert_int_equal(F.l[0].fire_time, 1000);
    assert_string_equal(F.l[0].job_param, "P1");
    assert_string_equal(F.l[0].exec_id, id);
    assert_int_equal(sched_trigger(s, "m", 0, EXEC_TRIGGER_FAILOVER, 990, NULL, NULL), 0);
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_FAILOVER);
    assert_int_equal(F.l[1].fire_time, 990);
    assert_int_equal(sched_trigger(s, "nope", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), -ENOENT);
    sched_free(s);
}

/* A retry keeps its first attempt's trigger as the event's origin: the agent
 * never lists a failover re-run, nor its retries, as running in its record. */
static void test_retry_origin(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("o", 3600);
    c.retries = 1;
    c.retry_backoff_s = 1;
    put(s, c);
    assert_int_equal(sched_trigger(s, "o", 0, EXEC_TRIGGER_FAILOVER, 990, NULL, NULL), 0);
    assert_int_equal(F.nl, 1);
    finish(&F.l[0], EXEC_FAILED);
    advance(s, 1000);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_RETRY);
    assert_int_equal(F.l[1].fire_time, 990);
    int started = 0;
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_STARTED) {
            assert_int_equal(F.e[i].origin, EXEC_TRIGGER_FAILOVER);
            assert_int_equal(F.e[i].trigger,
                             started++ ? EXEC_TRIGGER_RETRY : EXEC_TRIGGER_FAILOVER);
        }
    assert_int_equal(started, 2);
    /* an ordinary fire's origin is itself */
    finish(&F.l[1], EXEC_SUCCEEDED);
    F.ne = 0;
    assert_int_equal(sched_trigger(s, "o", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(F.nl, 3);
    started = 0;
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_STARTED) {
            assert_int_equal(F.e[i].origin, EXEC_TRIGGER_MANUAL);
            started++;
        }
    assert_int_equal(started, 1);
    sched_free(s);
}

static void test_update_and_remove(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    put(s, conf("u", 100)); /* next 1100 */
    assert_int_equal(sched_item_next(s, "u", 0), 1100);
    put(s, conf("u", 7)); /* new rule takes effect at the next fire */
    assert_int_equal(sched_item_next(s, "u", 0), 1001);
    assert_int_equal(sched_items(s), 1);
    advance(s, 1000);
    assert_int_equal(F.nl, 1);
    put(s, conf("u", 7));
    assert_int_equal(sched_item_next(s, "u", 0), 1008); /* 1001 is never run twice */

    /* remove with kill: the running one is killed, its FINISHED still comes */
    assert_int_equal(sched_item_remove(s, "u", 0, true), 0);
    assert_int_equal(F.l[0].killed, 1);
    assert_int_equal(sched_items(s), 0);
    advance(s, 20000);
    assert_int_equal(F.nl, 1);
    finish(&F.l[0], EXEC_KILLED);
    assert_string_equal(last_ev(SCHED_EV_FINISHED)->job, "u");
    assert_int_equal(sched_item_remove(s, "u", 0, true), -ENOENT);

    /* remove and let finish; a queued run is dropped */
    struct sched *s2 = mk(1);
    put(s2, conf("a", 10));
    put(s2, conf("b", 10));
    advance(s2, 10000);
    assert_int_equal(F.nl, 1);
    const char *queued = strcmp(F.l[0].job, "a") == 0 ? "b" : "a";
    assert_int_equal(sched_item_remove(s2, queued, 0, false), 0);
    assert_string_equal(last_ev(SCHED_EV_SKIPPED)->job, queued);
    assert_int_equal(sched_item_remove(s2, F.l[0].job, 0, false), 0);
    assert_int_equal(F.l[0].killed, 0);
    finish(&F.l[0], EXEC_SUCCEEDED);
    assert_int_equal(sched_running(s2), 0);
    sched_free(s2);
    sched_free(s);
}

/* An item removed with fires already due by the clock that the timer has
 * not handled yet (the loop was busy): they are reported skipped at the
 * removal, at most SCHED_MISFIRE_MAX; none of them runs, and none is reported
 * twice. */
static void test_remove_reports_due_fires(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    put(s, conf("r", 10)); /* next 1010 */
    advance(s, 10000);     /* 1010 runs */
    assert_int_equal(F.nl, 1);
    F.real += 25500; /* 1035.5, no tick: 1020 and 1030 are due, unhandled */
    F.mono += 25500;
    assert_int_equal(sched_item_remove(s, "r", 0, false), 0);
    assert_int_equal(count_ev(SCHED_EV_SKIPPED), 2);
    const struct ev *e = last_ev(SCHED_EV_SKIPPED);
    assert_int_equal(e->fire_time, 1030);
    assert_string_equal(e->reason, "removed from this agent before its turn");
    assert_int_equal(e->trigger, EXEC_TRIGGER_CRON);
    assert_true(strlen(e->exec_id) > 0);
    advance(s, 60000);
    assert_int_equal(F.nl, 1);
    assert_int_equal(count_ev(SCHED_EV_SKIPPED), 2);
    finish(&F.l[0], EXEC_SUCCEEDED);
    sched_free(s);

    /* nothing due: nothing reported; a long stall: bounded */
    s = mk(4);
    put(s, conf("q", 1));
    assert_int_equal(sched_item_remove(s, "q", 0, false), 0);
    assert_int_equal(F.ne, 0);
    put(s, conf("q", 1));
    F.real += 1000000;
    F.mono += 1000000;
    assert_int_equal(sched_item_remove(s, "q", 0, false), 0);
    assert_int_equal(count_ev(SCHED_EV_SKIPPED), SCHED_MISFIRE_MAX);
    sched_free(s);
}

/* Losers account what nobody holds: an item handed to another agent keeps
 * its due fires reported (missed) as they come due, while owes() says so or
 * until it is ours again; a pending item lost reports its window up to now;
 * a dropped one (session lost) reports its due, unhandled fires missed. */
static int missed_between(int64_t from, int64_t to);

static void test_handed_and_owed(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    put(s, conf("h", 10)); /* next 1010 */
    advance(s, 10000);     /* 1010 runs */
    assert_int_equal(F.nl, 1);
    F.real += 10500; /* 1020.5: 1020 due, unhandled */
    F.mono += 10500;
    assert_int_equal(sched_item_hand(s, "h", 0, "handed over, its new owner not there yet"), 0);
    assert_int_equal(sched_items(s), 0);
    assert_int_equal(sched_owed(s), 1);
    assert_int_equal(count_ev(SCHED_EV_SKIPPED), 1); /* 1020: ours, before our turn */
    assert_string_equal(last_ev(SCHED_EV_SKIPPED)->reason,
                        "removed from this agent before its turn");
    assert_int_equal(sched_item_running(s, "h", 0), -ENOENT);
    advance(s, 10000);         /* 1030.5 */
    assert_int_equal(F.nl, 1); /* never run */
    assert_int_equal(count_ev(SCHED_EV_MISSED), 1);
    assert_int_equal(last_ev(SCHED_EV_MISSED)->fire_time, 1030);
    assert_string_equal(last_ev(SCHED_EV_MISSED)->reason,
                        "handed over, its new owner not there yet");
    assert_true(sched_next_wake_ms(s) <= 1000);
    F.not_owed = 1; /* its new owner is there: the fire due now is still reported, then no more */
    advance(s, 10000);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 2);
    assert_int_equal(sched_owed(s), 0);
    advance(s, 30000);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 2);
    finish(&F.l[0], EXEC_SUCCEEDED); /* its run drained */
    sched_free(s);

    /* ours again: put takes it back into the schedule, owed no more */
    s = mk(4);
    put(s, conf("g", 10));
    assert_int_equal(sched_item_hand(s, "g", 0, "handed"), 0);
    assert_int_equal(sched_owed(s), 1);
    put(s, conf("g", 10));
    assert_int_equal(sched_owed(s), 0);
    assert_int_equal(sched_items(s), 1);
    advance(s, 10000);
    assert_int_equal(F.nl, 1);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 0);
    finish(&F.l[0], EXEC_SUCCEEDED);
    assert_int_equal(sched_item_hand(s, "nope", 0, "x"), -ENOENT);
    sched_free(s);

    /* lost while pending: (lo, now] reported, then owed; cleared with the session */
    s = mk(4);
    F.real = 1000500;
    assert_int_equal(sched_owe(s,
                               &(struct sched_item_conf){.job = "p",
                                                         .total = 1,
                                                         .command = "true",
                                                         .next = every,
                                                         .ctx = secs(10),
                                                         .ctx_free = free},
                               975000, "lost while pending", "handed", NULL),
                     3);
    assert_int_equal(missed_between(980, 1000), 3);
    assert_string_equal(last_ev(SCHED_EV_MISSED)->reason, "lost while pending");
    assert_int_equal(sched_owed(s), 1);
    advance(s, 10000);
    assert_int_equal(missed_between(1010, 1010), 1);
    sched_owed_clear(s);
    advance(s, 10000);
    assert_int_equal(missed_between(1020, 1020), 0);
    assert_int_equal(F.nl, 0);
    /* a dropped pending item: its window only */
    assert_int_equal(sched_owe(s,
                               &(struct sched_item_conf){.job = "p",
                                                         .total = 1,
                                                         .command = "true",
                                                         .next = every,
                                                         .ctx = secs(10),
                                                         .ctx_free = free},
                               1015000, "session lost", NULL, NULL),
                     1);
    assert_int_equal(sched_owed(s), 0);
    sched_free(s);

    /* 1,000 items handed in one batch (an apply that loses them all): the
     * timer is re-armed once, to the nearest owed fire, and stays right as
     * the owed fires come due (a bound kept by owed_tick, not a walk of the
     * owed list at every re-arm) */
    s = mk(4);
    static char names[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof names[i], "b%d", i);
        put(s, conf(names[i], 10));
    }
    int64_t wake = sched_next_wake_ms(s);
    sched_batch_begin(s);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sched_item_hand(s, names[i], 0, "handed"), 0);
    sched_batch_end(s);
    assert_int_equal(sched_owed(s), 1000);
    assert_int_equal(sched_items(s), 0);
    assert_int_equal(sched_next_wake_ms(s), wake);
    int before = count_ev(SCHED_EV_MISSED);
    advance(s, 10000);
    assert_int_equal(count_ev(SCHED_EV_MISSED) - before, 1000);
    assert_true(sched_next_wake_ms(s) > 0 && sched_next_wake_ms(s) <= 10000);
    sched_free(s);

    /* dropped with the session: due, unhandled fires are missed */
    s = mk(4);
    put(s, conf("d", 10));
    F.real += 20500;
    F.mono += 20500;
    assert_int_equal(sched_item_drop(s, "d", 0, "session lost"), 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 2);
    assert_string_equal(last_ev(SCHED_EV_MISSED)->reason, "session lost");
    assert_int_equal(sched_owed(s), 0);
    sched_free(s);
}

static void test_never_and_validation(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("n", 1);
    free(c.ctx);
    c.ctx = NULL;
    c.ctx_free = NULL;
    c.next = never;
    put(s, c);
    assert_int_equal(sched_item_next(s, "n", 0), -1);
    advance(s, 5000);
    assert_int_equal(F.nl, 0);

    struct sc_err err;
    c.item = 3;
    c.total = 2;
    assert_int_equal(sched_item_put(s, &c, &err), -EINVAL);
    assert_string_equal(err.field, "item");
    c.item = 0;
    c.command = "";
    assert_int_equal(sched_item_put(s, &c, &err), -EINVAL);
    assert_string_equal(err.field, "command");
    c.command = "true";
    c.retries = -1;
    assert_int_equal(sched_item_put(s, &c, &err), -EINVAL);
    assert_string_equal(err.field, "retries");
    assert_int_equal(sched_items(s), 1); /* the accepted item stays */
    sched_free(s);
}

static void test_pause_and_kill_all(void **state)
{
    (void)state;
    struct sched *s = mk(1);
    put(s, conf("p", 10));
    put(s, conf("q", 10));
    advance(s, 10000);
    assert_int_equal(F.nl, 1);
    assert_int_equal(sched_queued(s), 1);
    sched_set_paused(s, true);
    advance(s, 10000);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 2);
    assert_non_null(strstr(last_ev(SCHED_EV_MISSED)->reason, "paused"));
    /* session lost: kill everything */
    assert_int_equal(sched_kill_all(s, "session lost"), 1);
    assert_int_equal(F.l[0].killed, 1);
    assert_int_equal(sched_queued(s), 0);
    assert_non_null(strstr(last_ev(SCHED_EV_SKIPPED)->reason, "session lost"));
    finish(&F.l[0], EXEC_KILLED);
    sched_set_paused(s, false);
    advance(s, 10000);
    assert_int_equal(F.nl, 2);
    sched_free(s);
}

static void test_start_failure(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("bad", 10);
    c.retries = 1;
    c.retry_backoff_s = 1;
    put(s, c);
    F.fail_job = "bad";
    advance(s, 10000);
    assert_int_equal(F.nl, 0);
    const struct ev *e = last_ev(SCHED_EV_FINISHED);
    assert_non_null(e);
    assert_int_equal(e->status, EXEC_FAILED);
    assert_non_null(strstr(e->reason, "no such directory"));
    F.fail_job = NULL;
    advance(s, 1000);
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].attempt, 2);
    sched_free(s);
}

/* ------------------------------------------------------------ pre-arming */

static const struct ev *ev_of(enum sched_ev_type t, const char *exec_id)
{
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == t && strcmp(F.e[i].exec_id, exec_id) == 0)
            return &F.e[i];
    return NULL;
}

static void test_prearm_release_at_instant(void **state)
{
    (void)state;
    struct sched *s = mk_pre(4, 250);
    put(s, conf("a", 10)); /* fires at 1010 */
    advance(s, 9000);
    assert_int_equal(F.nl, 0);
    assert_int_equal(sched_next_wake_ms(s), 750); /* wakes to arm, 250 ms ahead */
    advance(s, 750);
    assert_int_equal(F.nl, 1);
    assert_true(F.l[0].prepared);
    assert_int_equal(F.l[0].fire_time, 1010);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_CRON);
    assert_int_equal(sched_armed(s), 1);
    assert_int_equal(F.ne, 0); /* nothing is reported before the instant */
    assert_int_equal(sched_item_active(s, "a", 0), 0);
    assert_int_equal(sched_next_wake_ms(s), 250);
    advance(s, 249);
    assert_false(F.l[0].released);
    advance(s, 4); /* the wake-up is 3 ms late */
    assert_true(F.l[0].released);
    assert_int_equal(F.nl, 1); /* released, not started afresh */
    assert_int_equal(sched_armed(s), 0);
    const struct ev *e = last_ev(SCHED_EV_STARTED);
    assert_non_null(e);
    assert_string_equal(e->exec_id, F.l[0].exec_id);
    assert_int_equal(e->fire_time, 1010);
    assert_int_equal(e->started_ms, 1010003); /* the release, not the prepare */
    assert_int_equal(e->pid, 4000);
    finish(&F.l[0], EXEC_SUCCEEDED);
    assert_string_equal(last_ev(SCHED_EV_FINISHED)->exec_id, F.l[0].exec_id);
    /* the next fire is armed again */
    advance(s, 9750);
    assert_int_equal(F.nl, 2);
    assert_true(F.l[1].prepared);
    assert_int_equal(F.l[1].fire_time, 1020);
    struct sched_prearm_stats ps;
    sched_prearm_stats(s, &ps);
    assert_int_equal(ps.armed, 2);
    assert_int_equal(ps.released, 1);
    assert_int_equal(ps.cancelled, 0);
    sched_free(s);
}

/* arm_a: put item `job` (every 10 s, fires at 1010) and arm it; returns its launch. */
static struct launch *arm_a(struct sched *s, struct sched_item_conf c)
{
    put(s, c);
    advance(s, 9800);
    assert_int_equal(sched_armed(s), 1);
    struct launch *x = &F.l[F.nl - 1];
    assert_true(x->prepared);
    return x;
}

static void test_prearm_cancelled(void **state)
{
    (void)state;
    /* removed */
    struct sched *s = mk_pre(4, 250);
    struct launch *x = arm_a(s, conf("a", 10));
    assert_int_equal(sched_item_remove(s, "a", 0, false), 0);
    assert_true(x->cancelled);
    advance(s, 1000);
    assert_false(x->released);
    assert_int_equal(count_ev(SCHED_EV_STARTED), 0);
    assert_int_equal(F.ne, 0);
    sched_free(s);

    /* changed: the held process had the old configuration; a new one is armed */
    s = mk_pre(4, 250);
    x = arm_a(s, conf("a", 10));
    struct sched_item_conf c = conf("a", 10);
    c.command = "echo new";
    put(s, c);
    assert_true(x->cancelled);
    assert_int_equal(sched_armed(s), 0);
    assert_int_equal(sched_next_wake_ms(s), 0); /* re-arm at once */
    advance(s, 0);
    assert_int_equal(sched_armed(s), 1);
    assert_true(F.l[1].prepared);
    advance(s, 200);
    assert_true(F.l[1].released);
    assert_int_equal(count_ev(SCHED_EV_STARTED), 1);
    assert_string_equal(last_ev(SCHED_EV_STARTED)->exec_id, F.l[1].exec_id);
    sched_free(s);

    /* paused: cancelled; the fire is missed */
    s = mk_pre(4, 250);
    x = arm_a(s, conf("a", 10));
    sched_set_paused(s, true);
    assert_true(x->cancelled);
    advance(s, 200);
    assert_int_equal(count_ev(SCHED_EV_STARTED), 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 1);
    assert_null(ev_of(SCHED_EV_STARTED, x->exec_id));
    sched_free(s);

    /* forbid: a run became active after arming; the fire is skipped with the armed id */
    s = mk_pre(4, 250);
    c = conf("a", 10);
    c.concurrency = SCHED_CONC_FORBID;
    x = arm_a(s, c);
    assert_int_equal(sched_trigger(s, "a", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(F.nl, 2); /* the manual run started the ordinary way */
    advance(s, 200);
    assert_true(x->cancelled);
    assert_false(x->released);
    const struct ev *e = ev_of(SCHED_EV_SKIPPED, x->exec_id);
    assert_non_null(e);
    assert_non_null(strstr(e->reason, "forbid"));
    assert_null(ev_of(SCHED_EV_STARTED, x->exec_id));
    finish(&F.l[1], EXEC_SUCCEEDED);
    sched_free(s);

    /* kill all (session lost) */
    s = mk_pre(4, 250);
    x = arm_a(s, conf("a", 10));
    assert_int_equal(sched_kill_all(s, "session lost"), 0);
    assert_true(x->cancelled);
    sched_free(s);

    /* the wall clock went back by 5 s: the fire is out of reach, the process is given up */
    s = mk_pre(4, 250);
    x = arm_a(s, conf("a", 10));
    F.real -= 5000;
    F.mono += 10;
    sched_tick(s);
    assert_true(x->cancelled);
    assert_int_equal(count_ev(SCHED_EV_CLOCK_JUMP), 1);
    advance(s, 5000 - 10); /* armed again when the fire comes near */
    assert_int_equal(sched_armed(s), 1);
    advance(s, 210);
    assert_true(F.l[F.nl - 1].released);
    assert_int_equal(count_ev(SCHED_EV_STARTED), 1);
    sched_free(s);

    /* late past the misfire threshold (a stalled loop): missed, not released */
    s = mk_pre(4, 250);
    c = conf("a", 10);
    c.misfire_threshold_ms = 1000;
    x = arm_a(s, c);
    F.real += 3000;
    F.mono += 3000;
    sched_tick(s);
    assert_true(x->cancelled);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 1);
    assert_int_equal(count_ev(SCHED_EV_STARTED), 0);
    sched_free(s);
}

static void test_prearm_lost_and_capacity(void **state)
{
    (void)state;
    /* the held process was lost: the run starts the ordinary way, same execution id */
    struct sched *s = mk_pre(4, 250);
    struct launch *x = arm_a(s, conf("a", 10));
    F.release_fail = 1;
    advance(s, 200);
    assert_int_equal(F.nl, 2);
    assert_false(F.l[1].prepared);
    assert_string_equal(F.l[1].exec_id, x->exec_id);
    assert_string_equal(last_ev(SCHED_EV_STARTED)->exec_id, x->exec_id);
    struct sched_prearm_stats ps;
    sched_prearm_stats(s, &ps);
    assert_int_equal(ps.lost, 1);
    sched_free(s);

    /* capacity bounds what is armed; the rest start the ordinary way, FIFO */
    s = mk_pre(2, 250);
    const char *jobs[] = {"j0", "j1", "j2", "j3", "j4"};
    for (int i = 0; i < 5; i++)
        put(s, conf(jobs[i], 10));
    advance(s, 9800);
    assert_int_equal(sched_armed(s), 2);
    assert_int_equal(F.nl, 2);
    assert_int_equal(sched_next_wake_ms(s), 200); /* no spinning while capacity is taken */
    advance(s, 200);
    assert_int_equal(sched_running(s), 2);
    assert_int_equal(sched_queued(s), 3);
    assert_true(F.l[0].released && F.l[1].released);
    assert_int_equal(count_ev(SCHED_EV_QUEUED), 3);
    sched_free(s);
}

/* A start the runner refuses (the agent cannot prove it owns the item) is a
 * missed fire, never a failure and never retried; a refused catch-up is
 * reported as the cron fire it stood for. */
static void test_refused_start_is_missed(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("r", 10);
    c.retries = 3;
    c.retry_backoff_s = 1;
    c.misfire = SCHED_MISFIRE_ONCE;
    put(s, c);
    F.refuse_job = "r";
    advance(s, 10000);
    assert_int_equal(F.nl, 0);
    assert_int_equal(count_ev(SCHED_EV_FINISHED), 0);
    const struct ev *e = last_ev(SCHED_EV_MISSED);
    assert_non_null(e);
    assert_int_equal(e->fire_time, 1010);
    assert_int_equal(e->trigger, EXEC_TRIGGER_CRON);
    assert_int_equal(e->started_ms, 0);
    assert_non_null(strstr(e->reason, "cannot prove it owns the item"));
    advance(s, 5000); /* no retry after the backoff */
    assert_int_equal(F.nl, 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 1);
    /* a stall: the catch-up of the latest missed fire is refused too */
    advance(s, 25000);
    assert_int_equal(F.nl, 0);
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_MISSED)
            assert_int_equal(F.e[i].trigger, EXEC_TRIGGER_CRON);
    assert_true(count_ev(SCHED_EV_MISSED) >= 3);
    assert_int_equal(sched_item_active(s, "r", 0), 0);
    F.refuse_job = NULL;
    advance(s, 10000);
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].attempt, 1);
    sched_free(s);
}

/* A taken-over item: its fires between lo and the item's floor are accounted;
 * those up to hi only as missed (the previous owner may have run them), the
 * later ones ours: within the misfire threshold (1 s here) ordinary fires,
 * later than that by the misfire policy. */
static void takeover(enum sched_misfire policy, enum sched_concurrency conc, struct sched **out)
{
    struct sched *s = mk(100);
    F.real = 1000500; /* 1000.5 s: the item's own schedule starts after 1000 */
    struct sched_item_conf c = conf("t", 1);
    c.misfire = policy;
    c.concurrency = conc;
    c.misfire_threshold_ms = 1000;
    put(s, c);
    assert_int_equal(sched_item_next(s, "t", 0), 1001);
    /* fires 995..1000: 995, 996 maybe run by the previous owner */
    assert_int_equal(sched_item_account(s, "t", 0, 994500, 996000, "taken over from a2"), 6);
    *out = s;
}

static int missed_between(int64_t from, int64_t to)
{
    int n = 0;
    for (int i = 0; i < F.ne; i++)
        n += F.e[i].type == SCHED_EV_MISSED && F.e[i].fire_time >= from && F.e[i].fire_time <= to;
    return n;
}

static const struct ev *missed_ev(int64_t fire)
{
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_MISSED && F.e[i].fire_time == fire)
            return &F.e[i];
    return NULL;
}

static void test_takeover_accounting(void **state)
{
    (void)state;
    struct sched *s;
    takeover(SCHED_MISFIRE_SKIP, SCHED_CONC_ALLOW, &s);
    /* 1000 is half a second late: ours, and run as an ordinary fire */
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].fire_time, 1000);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_CRON);
    assert_int_equal(missed_between(995, 999), 5);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 5);
    const struct ev *m = missed_ev(995);
    assert_non_null(m);
    assert_int_equal(m->trigger, EXEC_TRIGGER_CRON);
    assert_non_null(strstr(m->reason, "failover window (taken over from a2)"));
    assert_non_null(strstr(m->reason, "unless the previous owner ran it"));
    assert_null(strstr(m->reason, "misfire"));
    assert_non_null(strstr(missed_ev(999)->reason, "misfire skip"));
    advance(s, 500); /* the item's own schedule goes on */
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].fire_time, 1001);
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_CRON);
    sched_free(s);

    takeover(SCHED_MISFIRE_ONCE, SCHED_CONC_ALLOW, &s);
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_MISFIRE);
    assert_int_equal(F.l[0].fire_time, 999); /* the latest late fire no one can have run */
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_CRON);
    assert_int_equal(F.l[1].fire_time, 1000);
    assert_int_equal(missed_between(995, 998), 4);
    assert_int_equal(missed_between(999, 1000), 0);
    sched_free(s);

    takeover(SCHED_MISFIRE_ALL, SCHED_CONC_ALLOW, &s);
    assert_int_equal(F.nl, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(F.l[i].trigger, i < 3 ? EXEC_TRIGGER_MISFIRE : EXEC_TRIGGER_CRON);
        assert_int_equal(F.l[i].fire_time, 997 + i);
    }
    assert_int_equal(missed_between(995, 996), 2); /* never caught up */
    assert_int_equal(count_ev(SCHED_EV_MISSED), 2);
    sched_free(s);

    /* A floor in the future (our clock is behind the previous owner's): the
     * item's own schedule starts after it, and everything up to it was the
     * previous owner's (missed unless it ran them, never run here). */
    s = mk(100);
    F.real = 1000500;
    struct sched_item_conf cf = conf("f", 1);
    cf.fire_after = 1002;
    put(s, cf);
    assert_int_equal(sched_item_next(s, "f", 0), 1003);
    assert_int_equal(sched_item_account(s, "f", 0, 999000, 1002200, "taken over from a3"), 3);
    assert_int_equal(F.nl, 0);
    assert_int_equal(missed_between(1000, 1002), 3);
    advance(s, 2600); /* 1003.1: the first fire of ours */
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].fire_time, 1003);
    sched_free(s);

    /* a window wider than SCHED_MISFIRE_MAX fires: its newest are accounted
     * (those nearest our first own fire), the older ones summarized by one
     * report at the newest fire left out */
    s = mk(100);
    F.real = 2000500;
    struct sched_item_conf c = conf("w", 1);
    c.misfire = SCHED_MISFIRE_ONCE;
    put(s, c);
    assert_int_equal(sched_item_account(s, "w", 0, 1000000, 1000000, "taken over from a3"),
                     SCHED_MISFIRE_MAX + 1);
    /* 1996..2000 are within the misfire threshold: ordinary fires; 1995 the
     * one catch-up; 1901..1994 missed */
    assert_int_equal(F.nl, 6);
    assert_int_equal(F.l[0].fire_time, 1995);
    assert_int_equal(F.l[0].trigger, EXEC_TRIGGER_MISFIRE);
    assert_int_equal(F.l[5].fire_time, 2000);
    assert_int_equal(missed_between(1901, 1994), 94);
    assert_int_equal(missed_between(1001, 1899), 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 95);
    assert_non_null(missed_ev(1900));
    assert_non_null(strstr(missed_ev(1900)->reason, "not enumerated"));
    sched_free(s);

    /* a sparse rule far back: the walk reaches lo, nothing is left out */
    s = mk(100);
    F.real = 100000500;
    put(s, conf("h", 3600));
    assert_int_equal(sched_item_account(s, "h", 0, 0, 0, "taken over from a3"), 27);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 27); /* 3600 .. 97200 */
    assert_non_null(missed_ev(3600));
    assert_non_null(missed_ev(97200));
    assert_int_equal(sched_item_account(s, "nope", 0, 0, 0, "x"), -ENOENT);
    sched_free(s);
}

/* Each launch carries the epoch read when its process is created and the
 * fence (fire, that epoch, attempt); its STARTED and FINISHED events carry the
 * same, any other event none. A retry is stamped again at its own start. */
static void test_epoch_and_fence(void **state)
{
    (void)state;
    struct sched *s = mk(1);
    struct sched_item_conf c = conf("f", 3600);
    c.retries = 1;
    c.retry_backoff_s = 10;
    put(s, c);
    F.epoch = 7;
    advance(s, 2600000); /* the fire at 3600 */
    assert_int_equal(F.nl, 1);
    assert_int_equal(F.l[0].epoch, 7);
    assert_string_equal(F.l[0].fence, "000000003600.000000000007.0001");
    const struct ev *e = last_ev(SCHED_EV_STARTED);
    assert_int_equal(e->epoch, 7);
    assert_string_equal(e->fence, F.l[0].fence);
    /* A manual trigger a second later waits for capacity: no fence while queued. */
    advance(s, 1500);
    assert_int_equal(sched_trigger(s, "f", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(F.nl, 1);
    e = last_ev(SCHED_EV_QUEUED);
    assert_string_equal(e->fence, "");
    assert_int_equal(e->epoch, 0);
    /* The agent applies epoch 8; the first run fails. Its FINISHED keeps the
     * fence it ran with; the manual run starts now, under 8. */
    F.epoch = 8;
    finish(&F.l[0], EXEC_FAILED);
    e = last_ev(SCHED_EV_FINISHED);
    assert_string_equal(e->exec_id, F.l[0].exec_id);
    assert_string_equal(e->fence, "000000003600.000000000007.0001");
    assert_int_equal(F.nl, 2);
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_MANUAL);
    assert_string_equal(F.l[1].fence, "000000003601.000000000008.0001"); /* the trigger's second */
    finish(&F.l[1], EXEC_SUCCEEDED);
    assert_string_equal(last_ev(SCHED_EV_FINISHED)->fence, F.l[1].fence);
    /* The retry of fire 3600 starts under 8 with attempt 2: above the original,
     * below the later fire. */
    advance(s, 10000);
    assert_int_equal(F.nl, 3);
    assert_int_equal(F.l[2].trigger, EXEC_TRIGGER_RETRY);
    assert_string_equal(F.l[2].fence, "000000003600.000000000008.0002");
    assert_true(strcmp(F.l[2].fence, F.l[0].fence) > 0);
    assert_true(strcmp(F.l[1].fence, F.l[2].fence) > 0);
    assert_string_equal(last_ev(SCHED_EV_STARTED)->fence, F.l[2].fence);
    finish(&F.l[2], EXEC_SUCCEEDED);
    /* Fires that do not run have no fence: paused (missed), refused. */
    sched_set_paused(s, true);
    advance(s, 3600000);
    e = last_ev(SCHED_EV_MISSED);
    assert_non_null(e);
    assert_string_equal(e->fence, "");
    sched_set_paused(s, false);
    F.refuse_job = "f";
    advance(s, 3600000);
    e = last_ev(SCHED_EV_MISSED);
    assert_int_equal(e->fire_time, 3600 * 3);
    assert_string_equal(e->fence, "");
    assert_int_equal(e->epoch, 0);
    sched_free(s);
}

/* A pre-armed run gets its fence at prepare (its environment is built then)
 * and keeps it through the release, even when the epoch moved in between; a
 * run whose held process was lost is started afresh and stamped again. */
static void test_prearm_fence(void **state)
{
    (void)state;
    struct sched *s = mk_pre(4, 250);
    F.epoch = 3;
    struct launch *x = arm_a(s, conf("a", 10)); /* fires at 1010 */
    assert_string_equal(x->fence, "000000001010.000000000003.0001");
    F.epoch = 4;
    advance(s, 200);
    assert_true(x->released);
    const struct ev *e = last_ev(SCHED_EV_STARTED);
    assert_int_equal(e->epoch, 3);
    assert_string_equal(e->fence, x->fence);
    finish(x, EXEC_SUCCEEDED);
    assert_string_equal(last_ev(SCHED_EV_FINISHED)->fence, x->fence);

    /* the next fire is armed under 4; its process is lost, the fresh start reads 5 */
    advance(s, 9800);
    x = &F.l[F.nl - 1];
    assert_true(x->prepared);
    assert_string_equal(x->fence, "000000001020.000000000004.0001");
    F.epoch = 5;
    F.release_fail = 1;
    advance(s, 200);
    assert_false(F.l[F.nl - 1].prepared);
    assert_string_equal(F.l[F.nl - 1].fence, "000000001020.000000000005.0001");
    assert_string_equal(last_ev(SCHED_EV_STARTED)->fence, "000000001020.000000000005.0001");
    sched_free(s);
}

/* ------------------------------------------------ triggered-only items */

static int shanghai(void *ctx, int64_t t)
{
    (void)ctx, (void)t;
    return 8 * 3600;
}

/* An item without a next-fire rule (a job without cron) never fires on a
 * schedule: no timer entry, no misfire, nothing missed (not when paused,
 * handed over, taken over or removed), and runs when triggered. */
static void test_cronless_never_fires(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("tr", 1);
    free(c.ctx);
    c.ctx = NULL;
    c.ctx_free = NULL;
    c.next = NULL;
    c.offset = shanghai;
    c.misfire = SCHED_MISFIRE_ALL;
    put(s, c);
    assert_int_equal(sched_items(s), 1);
    assert_int_equal(sched_item_next(s, "tr", 0), -1);
    assert_int_equal(sched_next_wake_ms(s), 1000); /* the idle wake-up only */
    advance(s, 86400000);                          /* a day */
    sched_set_paused(s, true);
    advance(s, 3600000);
    sched_set_paused(s, false);
    F.real += 7200000; /* a wall-clock jump forward: nothing to catch up */
    sched_tick(s);
    assert_int_equal(F.nl, 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 0);
    assert_int_equal(count_ev(SCHED_EV_SKIPPED), 0);
    /* taken over with a window of a day: no fire to account for */
    assert_int_equal(sched_item_account(s, "tr", 0, 0, F.real, "taken over from a2"), 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 0);
    /* triggered: it runs, its fire time in its zone */
    char id[EXEC_ID_LEN + 1];
    assert_int_equal(sched_trigger(s, "tr", 0, EXEC_TRIGGER_MANUAL, 0, NULL, id), 0);
    assert_int_equal(F.nl, 1);
    assert_string_equal(F.l[0].exec_id, id);
    assert_non_null(strstr(F.l[0].fire_iso, "+08:00"));
    finish(&F.l[0], EXEC_SUCCEEDED);
    /* handed over and owed: nothing comes due to be reported */
    assert_int_equal(sched_item_hand(s, "tr", 0, "moved to a3"), 0);
    advance(s, 86400000);
    assert_int_equal(sched_owed(s), 0);
    struct sc_err err;
    assert_int_equal(sched_owe(s, &c, 0, "window", "owed", &err), 0);
    advance(s, 86400000);
    put(s, c);
    assert_int_equal(sched_item_remove(s, "tr", 0, false), 0);
    assert_int_equal(count_ev(SCHED_EV_MISSED), 0);
    assert_int_equal(count_ev(SCHED_EV_SKIPPED), 0);
    assert_int_equal(F.nl, 1);
    sched_free(s);
}

/* --------------------------------------------------------- workflow runs */

#define WF1 "{\"workflow\":\"etl\",\"run_id\":\"r1\",\"task\":\"load\",\"attempt\":1}"
/* with a member the coordination layer adds: ignored */
#define WF2 "{\"workflow\":\"etl\",\"run_id\":\"r2\",\"task\":\"load\",\"trigger\":\"/wftrig/x\"}"

/* The context stays with the run through the capacity queue and retries,
 * reaches the runner, and is on every event; final marks the last event. */
static void test_wf_context_queue_and_retries(void **state)
{
    (void)state;
    struct sched *s = mk(1);
    struct sched_item_conf c = conf("w", 3600);
    c.retries = 1;
    c.retry_backoff_s = 10;
    put(s, c);
    put(s, conf("busy", 3600));
    assert_int_equal(sched_trigger(s, "busy", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    char id[EXEC_ID_LEN + 1];
    assert_int_equal(sched_trigger_wf(s, "w", 0, "jp", WF1, id), 0);
    assert_int_equal(F.nl, 1); /* at capacity: queued */
    const struct ev *q = last_ev(SCHED_EV_QUEUED);
    assert_non_null(q);
    assert_string_equal(q->exec_id, id);
    assert_string_equal(q->wf, WF1);
    finish(&F.l[0], EXEC_SUCCEEDED);
    assert_int_equal(F.nl, 2);
    assert_string_equal(F.l[1].exec_id, id);
    assert_string_equal(F.l[1].wf_run, "r1");
    assert_string_equal(F.l[1].wf_task, "load");
    assert_string_equal(F.l[1].job_param, "jp");
    assert_int_equal(F.l[1].trigger, EXEC_TRIGGER_MANUAL);
    assert_string_equal(last_ev(SCHED_EV_STARTED)->wf, WF1);
    /* the non-workflow run's events carry none */
    for (int i = 0; i < F.ne; i++)
        if (!strcmp(F.e[i].job, "busy"))
            assert_string_equal(F.e[i].wf, "");
    finish(&F.l[1], EXEC_FAILED);
    const struct ev *f = last_ev(SCHED_EV_FINISHED);
    assert_string_equal(f->wf, WF1);
    assert_false(f->final); /* a retry follows */
    advance(s, 10000);
    assert_int_equal(F.nl, 3);
    assert_int_equal(F.l[2].trigger, EXEC_TRIGGER_RETRY);
    assert_int_equal(F.l[2].attempt, 2);
    assert_string_equal(F.l[2].wf_run, "r1");
    finish(&F.l[2], EXEC_FAILED);
    f = last_ev(SCHED_EV_FINISHED);
    assert_string_equal(f->wf, WF1);
    assert_true(f->final); /* retries exhausted */
    /* a success is final at once */
    assert_int_equal(sched_trigger_wf(s, "w", 0, NULL, WF2, NULL), 0);
    finish(&F.l[3], EXEC_SUCCEEDED);
    assert_true(last_ev(SCHED_EV_FINISHED)->final);
    assert_string_equal(last_ev(SCHED_EV_FINISHED)->wf, WF2);
    assert_int_equal(sched_item_active(s, "w", 0), 0);
    sched_free(s);
}

/* Skipped by the concurrency policy, refused: the run's only event, final. */
static void test_wf_skipped_refused_final(void **state)
{
    (void)state;
    struct sched *s = mk(4);
    struct sched_item_conf c = conf("f", 3600);
    c.concurrency = SCHED_CONC_FORBID;
    put(s, c);
    assert_int_equal(sched_trigger(s, "f", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(sched_trigger_wf(s, "f", 0, NULL, WF1, NULL), 0);
    const struct ev *k = last_ev(SCHED_EV_SKIPPED);
    assert_non_null(k);
    assert_string_equal(k->wf, WF1);
    assert_true(k->final);
    put(s, conf("x", 3600));
    F.refuse_job = "x";
    assert_int_equal(sched_trigger_wf(s, "x", 0, NULL, WF2, NULL), 0);
    k = last_ev(SCHED_EV_MISSED);
    assert_non_null(k);
    assert_string_equal(k->wf, WF2);
    assert_true(k->final);
    /* a context that is not one: refused, nothing reported */
    int ne = F.ne;
    assert_int_equal(sched_trigger_wf(s, "f", 0, NULL, "{\"run_id\":\"r\"}", NULL), -EINVAL);
    assert_int_equal(sched_trigger_wf(s, "f", 0, NULL,
                                      "{\"workflow\":\"w\",\"run_id\":\"\",\"task\":\"t\"}", NULL),
                     -EINVAL);
    assert_int_equal(sched_trigger_wf(s, "f", 0, NULL, "[]", NULL), -EINVAL);
    assert_int_equal(sched_trigger_wf(s, "f", 0, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(F.ne, ne);
    assert_int_equal(sched_trigger_wf(s, "nope", 0, NULL, WF1, NULL), -ENOENT);
    sched_free(s);
}

/* sched_kill_wf: the run's running execution through the runner's kill,
 * its queued and retry-waiting ones dropped; other runs untouched. */
static void test_wf_kill(void **state)
{
    (void)state;
    struct sched *s = mk(2);
    struct sched_item_conf c = conf("k", 3600);
    c.retries = 3;
    c.retry_backoff_s = 60;
    put(s, c);
    assert_int_equal(sched_trigger_wf(s, "k", 0, NULL, WF1, NULL), 0); /* running */
    assert_int_equal(sched_trigger_wf(s, "k", 0, NULL, WF2, NULL), 0); /* running */
    assert_int_equal(sched_trigger_wf(s, "k", 0, NULL, WF1, NULL), 0); /* queued */
    assert_int_equal(F.nl, 2);
    finish(&F.l[1], EXEC_FAILED); /* r2 waits to retry; r1's queued run starts */
    assert_int_equal(F.nl, 3);
    assert_int_equal(sched_item_active(s, "k", 0), 3);
    assert_int_equal(sched_trigger_wf(s, "k", 0, NULL, WF1, NULL), 0); /* queued again */
    assert_int_equal(sched_queued(s), 1);
    assert_int_equal(sched_kill_wf(s, "k", 0, "nope"), 0);
    assert_int_equal(sched_kill_wf(s, "nope", 0, "r1"), 0);
    /* r1: two running (killed through the runner), one queued (dropped) */
    assert_int_equal(sched_kill_wf(s, "k", 0, "r1"), 3);
    assert_int_equal(F.l[0].killed, 1);
    assert_int_equal(F.l[2].killed, 1);
    assert_string_equal(F.l[0].kill_reason, "cancelled by the workflow");
    const struct ev *k = last_ev(SCHED_EV_SKIPPED);
    assert_string_equal(k->reason, "cancelled by the workflow");
    assert_string_equal(k->wf, WF1);
    assert_true(k->final);
    assert_int_equal(sched_queued(s), 0);
    /* a second kill does not kill again */
    assert_int_equal(sched_kill_wf(s, "k", 0, "r1"), 0);
    assert_int_equal(F.l[0].killed, 1);
    /* the runner reports them killed: final, no retry despite retries left */
    struct exec_result r = {.status = EXEC_KILLED,
                            .exit_code = -1,
                            .signal = 15,
                            .output_tail = "",
                            .reason = "cancelled by the workflow"};
    F.l[0].done = F.l[2].done = 1;
    sched_run_done(F.l[0].token, &r);
    assert_true(last_ev(SCHED_EV_FINISHED)->final);
    assert_string_equal(last_ev(SCHED_EV_FINISHED)->reason, "cancelled by the workflow");
    sched_run_done(F.l[2].token, &r);
    assert_true(last_ev(SCHED_EV_FINISHED)->final);
    assert_int_equal(sched_item_active(s, "k", 0), 1); /* r2, waiting to retry */
    /* r2 waiting to retry: dropped */
    assert_int_equal(sched_kill_wf(s, "k", 0, "r2"), 1);
    assert_string_equal(last_ev(SCHED_EV_SKIPPED)->wf, WF2);
    assert_true(last_ev(SCHED_EV_SKIPPED)->final);
    assert_int_equal(sched_item_active(s, "k", 0), 0);
    advance(s, 600000);
    assert_int_equal(F.nl, 3); /* no retry ran */
    sched_free(s);
}

/* ---------------------------------------------------------------- pause hook */

/* the pause hook (sched_opts.paused): fires in [P_from, P_to) are held */
static int64_t P_from, P_to;
static int P_asked;

static bool f_paused(void *ctx, const struct sched_item_conf *c, int64_t t, char *why, size_t len)
{
    (void)ctx, (void)c;
    P_asked++;
    if (t < P_from || t >= P_to)
        return false;
    snprintf(why, len, "paused by window w until %lld", (long long)P_to);
    return true;
}

static void test_pause_hook(void **state)
{
    (void)state;
    struct sched *s = mk(4); /* for its fixture and clock reset; the hook needs its own */
    sched_free(s);
    static const struct sched_clock clk = {f_real, f_mono, NULL};
    struct sched_opts o = {.capacity = 4,
                           .clock = &clk,
                           .runner = {f_start, f_kill, NULL},
                           .on_event = f_event,
                           .paused = f_paused};
    assert_int_equal(sched_new(NULL, &o, &s), 0);
    P_from = 1003, P_to = 1005, P_asked = 0;
    put(s, conf("a", 1));
    for (int k = 0; k < 6; k++) {
        advance(s, 1000);
        for (int i = 0; i < F.nl; i++)
            if (!F.l[i].done)
                finish(&F.l[i], EXEC_SUCCEEDED);
    }
    /* 1001 1002 ran, 1003 1004 held (reported, final, never launched), 1005 1006 ran */
    assert_int_equal(F.nl, 4);
    int64_t ran[] = {1001, 1002, 1005, 1006};
    for (int i = 0; i < 4; i++)
        assert_int_equal(F.l[i].fire_time, ran[i]);
    assert_int_equal(count_ev(SCHED_EV_PAUSED), 2);
    for (int i = 0, k = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_PAUSED) {
            assert_int_equal(F.e[i].fire_time, 1003 + k++);
            assert_true(F.e[i].final);
            assert_int_equal(F.e[i].trigger, EXEC_TRIGGER_CRON);
            assert_string_equal(F.e[i].reason, "paused by window w until 1005");
            assert_true(F.e[i].exec_id[0]);
        }
    assert_int_equal(P_asked, 6);
    assert_string_equal(sched_ev_name(SCHED_EV_PAUSED), "paused");
    /* a manual trigger inside a window runs and is not asked; a catch-up
     * (what a deferring window's end sends) is asked like a cron fire */
    P_from = 0, P_to = 5000;
    assert_int_equal(sched_trigger(s, "a", 0, EXEC_TRIGGER_MANUAL, 0, NULL, NULL), 0);
    assert_int_equal(F.nl, 5);
    assert_int_equal(F.l[4].trigger, EXEC_TRIGGER_MANUAL);
    assert_int_equal(P_asked, 6);
    assert_int_equal(sched_trigger(s, "a", 0, EXEC_TRIGGER_MISFIRE, 1004, NULL, NULL), 0);
    assert_int_equal(F.nl, 5);
    assert_int_equal(P_asked, 7);
    assert_int_equal(count_ev(SCHED_EV_PAUSED), 3);
    assert_int_equal(last_ev(SCHED_EV_PAUSED)->trigger, EXEC_TRIGGER_MISFIRE);
    P_to = 0; /* the window is over: the catch-up runs */
    assert_int_equal(sched_trigger(s, "a", 0, EXEC_TRIGGER_MISFIRE, 1004, NULL, NULL), 0);
    assert_int_equal(F.nl, 6);
    assert_int_equal(F.l[5].fire_time, 1004);
    assert_int_equal(F.l[5].trigger, EXEC_TRIGGER_MISFIRE);
    finish(&F.l[4], EXEC_SUCCEEDED);
    finish(&F.l[5], EXEC_SUCCEEDED);
    /* fires that come due late (past the misfire threshold, policy skip)
     * inside a window are reported paused, outside it missed */
    P_from = 1008, P_to = 1010; /* 8 and 7 s late: the misfire path, not fire() */
    int missed = count_ev(SCHED_EV_MISSED), paused = count_ev(SCHED_EV_PAUSED);
    advance(s, 10000); /* 1007 .. 1016, all late but the last ones */
    assert_int_equal(count_ev(SCHED_EV_PAUSED) - paused, 2);
    for (int i = 0; i < F.ne; i++)
        if (F.e[i].type == SCHED_EV_MISSED)
            assert_true(F.e[i].fire_time < 1008 || F.e[i].fire_time >= 1010);
    assert_int_equal(count_ev(SCHED_EV_MISSED) - missed,
                     2); /* 1007, 1010; 1011 is 5 s late: on time */
    assert_int_equal(last_ev(SCHED_EV_PAUSED)->fire_time, 1009);
    for (int i = 0; i < F.nl; i++)
        if (!F.l[i].done)
            finish(&F.l[i], EXEC_SUCCEEDED);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_on_the_second),
        cmocka_unit_test(test_offset_in_fire_time),
        cmocka_unit_test(test_misfire_skip),
        cmocka_unit_test(test_misfire_once),
        cmocka_unit_test(test_misfire_all_bounded),
        cmocka_unit_test(test_clock_jump_forward_and_back),
        cmocka_unit_test(test_clock_jump_before_first_tick),
        cmocka_unit_test(test_forbid),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_capacity_fifo),
        cmocka_unit_test(test_retries_with_backoff),
        cmocka_unit_test(test_triggers),
        cmocka_unit_test(test_retry_origin),
        cmocka_unit_test(test_update_and_remove),
        cmocka_unit_test(test_remove_reports_due_fires),
        cmocka_unit_test(test_handed_and_owed),
        cmocka_unit_test(test_never_and_validation),
        cmocka_unit_test(test_pause_and_kill_all),
        cmocka_unit_test(test_start_failure),
        cmocka_unit_test(test_prearm_release_at_instant),
        cmocka_unit_test(test_prearm_cancelled),
        cmocka_unit_test(test_prearm_lost_and_capacity),
        cmocka_unit_test(test_refused_start_is_missed),
        cmocka_unit_test(test_takeover_accounting),
        cmocka_unit_test(test_epoch_and_fence),
        cmocka_unit_test(test_prearm_fence),
        cmocka_unit_test(test_cronless_never_fires),
        cmocka_unit_test(test_wf_context_queue_and_retries),
        cmocka_unit_test(test_wf_skipped_refused_final),
        cmocka_unit_test(test_wf_kill),
        cmocka_unit_test(test_pause_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
