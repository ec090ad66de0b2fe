/* agent/sched.c: the scheduler (see sched.h).
 *
 * Owns the items (a hash by (job, item) plus a min-heap by next fire time),
 * the runs (struct sched_run: one per fire that was accepted, reused for its
 * retries) and the one timer. A run is in exactly one of: the FIFO queue
 * (waiting for capacity), the running list, the retry list (sorted by due
 * time on the monotonic clock); and in its item's list while the item exists.
 * Item configurations are immutable refcounted copies (struct spec), so a run
 * keeps the configuration it was created with across updates and removal.
 * A pre-armed run (RUN_ARMED) is in the armed list and its item's `armed`
 * slot only, not in the item's run list: until its instant it is not active
 * for the concurrency policy. */
#define LOG_CAT "shardcron.agent"
#include "agent/sched.h"

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/wfctx.h"
#include "core/job.h"
#include "core/log.h"
#include "core/strmap.h"

#define DEFAULT_CAPACITY 16
#define DEFAULT_JUMP_MS 1000
#define DEFAULT_MISFIRE_MS 5000
#define MAX_IDLE_WAKE_MS 1000 /* wake at least this often to notice wall-clock jumps */
#define MAX_BACKOFF_S 3600
#define ARM_MARGIN_MS 3 /* no arming this close to a due instant: the instant comes first */

struct spec {
    int refs;
    struct sched_item_conf c; /* strings owned; next/offset/ctx cleared */
};

struct sched_item {
    struct spec *spec;
    sched_next_fn next;
    sched_offset_fn offset;
    void *ctx;
    void (*ctx_free)(void *ctx);
    int64_t next_fire;           /* -1 none */
    int64_t last_fire;           /* last fire time handled (run, missed or skipped), -1 none */
    int64_t floor_after;         /* fires at or before this second never run (set at add) */
    int heap_idx;                /* -1 when not in the heap */
    struct sched_run *armed;     /* pre-armed run for next_fire, or NULL */
    struct sched_item *due_next; /* sched_tick's list of items due now */
    int64_t arm_tried;           /* next_fire that arming was tried (or refused) for, -1 none */
    struct sched_run *runs;
    int n_runs;
    struct sched_item *hnext; /* hash chain; the owed list for an owed item */
    struct sched_item *oprev; /* the owed list, backwards (O(1) unlink) */
    char *owed_why;           /* an owed item (sched_item_hand, sched_owe): its fires' reason */
};

enum run_state { RUN_NEW, RUN_ARMED, RUN_QUEUED, RUN_RUNNING, RUN_RETRY };

struct sched_run {
    struct sched *s;
    struct sched_item *item; /* NULL once the item was removed */
    struct spec *spec;
    char exec_id[EXEC_ID_LEN + 1];
    enum exec_trigger trigger;
    enum exec_trigger origin; /* the first attempt's trigger (a retry keeps it) */
    int attempt;
    int64_t fire_time;
    char fire_iso[40];
    char *job_param;  /* manual override, owned; NULL = spec's */
    struct wfctx *wf; /* a workflow task's run (sched_trigger_wf), owned; else NULL */
    int64_t epoch;    /* set by stamp() when the process is created */
    char fence[AGENT_FENCE_LEN + 1];
    enum run_state state;
    int64_t queued_ms, started_ms, retry_due;
    void *handle;
    void *held;                  /* the runner's prepared process, until released or cancelled */
    struct sched_item *arm_item; /* RUN_ARMED: the item whose `armed` this is */
    int pid;                     /* of the started process, 0 unknown */
    bool no_retry;               /* killed on purpose */
    bool last;                   /* FINISHED: no retry follows */
    bool reported_queued;
    struct sched_run *inext, *iprev; /* item's list */
    struct sched_run *qnext, *qprev; /* queue, running or retry list */
};

struct run_list {
    struct sched_run *head, *tail;
    int n;
};

struct sched {
    struct event_base *base;
    struct event *timer;
    struct sched_opts o;
    struct sched_clock clock;
    struct sched_item **buckets;
    size_t nbuckets;
    int n_items;
    struct sched_item **heap;
    int heap_n, heap_cap;
    struct run_list queue, running, retry, armed;
    struct sched_item *owed; /* items lost here whose fires are still ours to report */
    struct strmap owed_by;   /* "job\x1fitem" -> its owed item: lookups without a walk */
    bool owed_recheck;       /* coordination changed: ask owes() of every owed item */
    /* no owed item's next fire is before this (INT64_MAX: none); a lower
     * bound, exact after each owed_tick: a wake-up never walks the owed
     * list (handing 40,000 items walked it 40,000 times) */
    int64_t owed_min;
    /* sched_batch_begin..end: a removal's backlog check and timer re-arm
     * wait for the end of the batch */
    bool in_batch, batch_dirty;
    struct sched_run **batch; /* capacity slots: the runs one pump starts */
    struct sched_prearm_stats pstats;
    bool paused;
    int64_t backlog_s; /* the oldest fire queued since the queue was last empty (0 none) */
    bool have_last;
    int64_t last_real, last_mono;
    bool in_tick;
};

/* ------------------------------------------------------------ utilities */

static int64_t sys_real(void *ctx)
{
    (void)ctx;
    return exec_now_real_ms();
}

static int64_t sys_mono(void *ctx)
{
    (void)ctx;
    return exec_now_mono_ms();
}

static int64_t now_real(const struct sched *s)
{
    return s->clock.now_real_ms(s->clock.ctx);
}

static int64_t now_mono(const struct sched *s)
{
    return s->clock.now_mono_ms(s->clock.ctx);
}

/* floor division for epoch milliseconds -> seconds (times before 1970 too). */
static int64_t sec_floor(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

const char *sched_ev_name(enum sched_ev_type t)
{
    static const char *const n[] = {"queued", "started",    "finished", "skipped",
                                    "missed", "clock_jump", "paused"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "unknown";
}

int sched_parse_misfire(const char *s)
{
    return !strcmp(s, "skip")   ? SCHED_MISFIRE_SKIP
           : !strcmp(s, "once") ? SCHED_MISFIRE_ONCE
           : !strcmp(s, "all")  ? SCHED_MISFIRE_ALL
                                : -1;
}

int sched_parse_concurrency(const char *s)
{
    return !strcmp(s, "forbid")    ? SCHED_CONC_FORBID
           : !strcmp(s, "allow")   ? SCHED_CONC_ALLOW
           : !strcmp(s, "replace") ? SCHED_CONC_REPLACE
                                   : -1;
}

static void list_push(struct run_list *l, struct sched_run *r)
{
    r->qnext = NULL;
    r->qprev = l->tail;
    if (l->tail)
        l->tail->qnext = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_unlink(struct run_list *l, struct sched_run *r)
{
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        l->head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        l->tail = r->qprev;
    r->qnext = r->qprev = NULL;
    l->n--;
}

/* next_never: the rule of an item without a schedule (runs only when triggered). */
static int64_t next_never(void *ctx, int64_t after)
{
    (void)ctx, (void)after;
    return -1;
}

/* ----------------------------------------------------------------- specs */

static void spec_unref(struct spec *sp)
{
    if (!sp || --sp->refs > 0)
        return;
    struct sched_item_conf *c = &sp->c;
    free((char *)c->job);
    free((char *)c->shard_param);
    free((char *)c->job_param);
    free((char *)c->command);
    free((char *)c->cwd);
    for (int i = 0; i < c->nenv; i++) {
        free(c->env[i].name);
        free(c->env[i].value);
        free(c->env[i].secret);
    }
    free((struct job_env *)c->env);
    free((char *)c->java_classpath);
    free((char *)c->java_class);
    free((char *)c->jvm_opts);
    free(sp);
}

static int dup_str(const char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    return (*dst = strdup(src)) ? 0 : -ENOMEM;
}

/* dup_env: c->env becomes a copy of in->env (c->nenv counts what was copied,
 * so spec_unref frees a partial copy). */
static int dup_env(struct sched_item_conf *c, const struct sched_item_conf *in)
{
    struct job_env *e = in->nenv > 0 ? calloc((size_t)in->nenv, sizeof *e) : NULL;
    c->env = e;
    c->nenv = 0;
    if (in->nenv > 0 && !e)
        return -ENOMEM;
    for (int i = 0; i < in->nenv; i++, c->nenv++)
        if (dup_str((const char **)&e[i].name, in->env[i].name) ||
            dup_str((const char **)&e[i].value, in->env[i].value) ||
            dup_str((const char **)&e[i].secret, in->env[i].secret))
            return -ENOMEM;
    return 0;
}

static struct spec *spec_new(const struct sched_item_conf *in)
{
    struct spec *sp = calloc(1, sizeof *sp);
    if (!sp)
        return NULL;
    sp->refs = 1;
    sp->c = *in;
    sp->c.next = NULL;
    sp->c.offset = NULL;
    sp->c.ctx = NULL;
    sp->c.ctx_free = NULL;
    if (!sp->c.misfire_threshold_ms)
        sp->c.misfire_threshold_ms = DEFAULT_MISFIRE_MS;
    struct sched_item_conf *c = &sp->c;
    if (dup_str(&c->job, in->job) || dup_str(&c->shard_param, in->shard_param) ||
        dup_str(&c->job_param, in->job_param) || dup_str(&c->command, in->command) ||
        dup_str(&c->cwd, in->cwd) || dup_str(&c->java_classpath, in->java_classpath) ||
        dup_str(&c->java_class, in->java_class) || dup_str(&c->jvm_opts, in->jvm_opts) ||
        dup_env(c, in)) {
        spec_unref(sp);
        return NULL;
    }
    return sp;
}

static int conf_check(const struct sched_item_conf *c, struct sc_err *err)
{
    if (!c->job || !*c->job)
        return sc_err_set(err, EINVAL, "name", -1, "is required");
    if (c->total < 1)
        return sc_err_set(err, EINVAL, "shards", -1, "must be at least 1 (got %d)", c->total);
    if (c->item < 0 || c->item >= c->total)
        return sc_err_set(err, EINVAL, "item", -1, "must be between 0 and %d (got %d)",
                          c->total - 1, c->item);
    if (c->type == SCHED_JOB_SHELL && (!c->command || !*c->command))
        return sc_err_set(err, EINVAL, "command", -1, "is required for a shell job");
    if (c->type == SCHED_JOB_JAVA && (!c->java_class || !*c->java_class))
        return sc_err_set(err, EINVAL, "java.class", -1, "is required for a java job");
    if (c->type != SCHED_JOB_SHELL && c->type != SCHED_JOB_JAVA)
        return sc_err_set(err, EINVAL, "type", -1, "must be shell or java");
    if (c->timeout_s < 0)
        return sc_err_set(err, EINVAL, "timeout_s", -1, "must not be negative");
    if (c->retries < 0 || c->retries > 100)
        return sc_err_set(err, EINVAL, "retries", -1, "must be between 0 and 100");
    if (c->retry_backoff_s < 0)
        return sc_err_set(err, EINVAL, "retry_backoff_s", -1, "must not be negative");
    if ((unsigned)c->misfire > SCHED_MISFIRE_ALL)
        return sc_err_set(err, EINVAL, "misfire", -1, "must be skip, once or all");
    if ((unsigned)c->concurrency > SCHED_CONC_REPLACE)
        return sc_err_set(err, EINVAL, "concurrency", -1, "must be forbid, allow or replace");
    if (c->misfire_threshold_ms < 0)
        return sc_err_set(err, EINVAL, "misfire_threshold_ms", -1, "must not be negative");
    return 0;
}

/* ------------------------------------------------------------------ heap */

static bool heap_less(const struct sched *s, int a, int b)
{
    return s->heap[a]->next_fire < s->heap[b]->next_fire;
}

static void heap_swap(struct sched *s, int a, int b)
{
    struct sched_item *t = s->heap[a];
    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->heap[a]->heap_idx = a;
    s->heap[b]->heap_idx = b;
}

static void heap_up(struct sched *s, int i)
{
    while (i > 0 && heap_less(s, i, (i - 1) / 2)) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct sched *s, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_n && heap_less(s, l, m))
            m = l;
        if (r < s->heap_n && heap_less(s, r, m))
            m = r;
        if (m == i)
            return;
        heap_swap(s, i, m);
        i = m;
    }
}

static int heap_insert(struct sched *s, struct sched_item *it)
{
    if (s->heap_n == s->heap_cap) {
        int cap = s->heap_cap ? s->heap_cap * 2 : 64;
        struct sched_item **h = realloc(s->heap, (size_t)cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        s->heap = h;
        s->heap_cap = cap;
    }
    it->heap_idx = s->heap_n;
    s->heap[s->heap_n++] = it;
    heap_up(s, it->heap_idx);
    return 0;
}

static void heap_remove(struct sched *s, struct sched_item *it)
{
    int i = it->heap_idx;
    if (i < 0)
        return;
    it->heap_idx = -1;
    if (--s->heap_n == i)
        return;
    s->heap[i] = s->heap[s->heap_n];
    s->heap[i]->heap_idx = i;
    heap_down(s, i);
    heap_up(s, i);
}

/* ------------------------------------------------------------ item table */

static size_t key_hash(const char *job, int item)
{
    size_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)job; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (h ^ (size_t)item) * 1099511628211ULL;
}

static struct sched_item **item_slot(const struct sched *s, const char *job, int item)
{
    struct sched_item **pp = &s->buckets[key_hash(job, item) & (s->nbuckets - 1)];
    while (*pp && ((*pp)->spec->c.item != item || strcmp((*pp)->spec->c.job, job) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

static int table_grow(struct sched *s)
{
    size_t n = s->nbuckets * 2;
    struct sched_item **b = calloc(n, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < s->nbuckets; i++)
        while (s->buckets[i]) {
            struct sched_item *it = s->buckets[i];
            s->buckets[i] = it->hnext;
            size_t h = key_hash(it->spec->c.job, it->spec->c.item) & (n - 1);
            it->hnext = b[h];
            b[h] = it;
        }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    return 0;
}

/* ------------------------------------------------------------------ runs */

static void emit(struct sched *s, enum sched_ev_type type, const struct sched_run *r,
                 const char *reason, const struct exec_result *res)
{
    if (!s->o.on_event)
        return;
    struct sched_event ev = {
        .type = type,
        .job = r->spec->c.job,
        .item = r->spec->c.item,
        .total = r->spec->c.total,
        .exec_id = r->exec_id,
        .trigger = r->trigger,
        .origin = r->origin,
        .attempt = r->attempt,
        .fire_time = r->fire_time,
        .fire_time_iso = r->fire_iso,
        .queued_ms = r->queued_ms,
        .started_ms = r->started_ms,
        .pid = r->pid,
        .exit_code = -1,
        .reason = reason ? reason : "",
        .fence = "",
        .wf = r->wf ? r->wf->text : NULL,
        .final = type == SCHED_EV_FINISHED ? r->last
                                           : type == SCHED_EV_SKIPPED || type == SCHED_EV_MISSED ||
                                                 type == SCHED_EV_PAUSED,
    };
    if (type == SCHED_EV_STARTED || type == SCHED_EV_FINISHED) {
        ev.epoch = r->epoch;
        ev.fence = r->fence;
    }
    if (res) {
        ev.status = res->status;
        ev.exit_code = res->exit_code;
        ev.signal = res->signal;
        ev.pid = res->pid;
        ev.finished_ms = res->finished_ms;
        ev.duration_ms = res->duration_ms;
        ev.output_tail = res->output_tail;
        ev.xcom = res->xcom;
        ev.captured = res->captured;
        if (res->started_ms)
            ev.started_ms = res->started_ms;
        if (!reason)
            ev.reason = res->reason ? res->reason : "";
    }
    s->o.on_event(&ev, s->o.event_arg);
}

static void format_fire(const struct sched_item *it, int64_t t, char *buf, size_t len)
{
    exec_format_time(t, it->offset ? it->offset(it->ctx, t) : 0, buf, len);
}

static struct sched_run *run_new(struct sched *s, struct sched_item *it, enum exec_trigger trig,
                                 int64_t fire_time, const char *job_param)
{
    struct sched_run *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (job_param && !(r->job_param = strdup(job_param))) {
        free(r);
        return NULL;
    }
    r->s = s;
    r->spec = it->spec;
    it->spec->refs++;
    exec_new_id(r->exec_id);
    r->trigger = trig;
    r->origin = trig;
    r->attempt = 1;
    r->fire_time = fire_time;
    format_fire(it, fire_time, r->fire_iso, sizeof r->fire_iso);
    return r;
}

static void run_free(struct sched_run *r)
{
    spec_unref(r->spec);
    free(r->job_param);
    wfctx_free(r->wf);
    free(r);
}

static void item_link(struct sched_item *it, struct sched_run *r)
{
    r->item = it;
    r->iprev = NULL;
    r->inext = it->runs;
    if (it->runs)
        it->runs->iprev = r;
    it->runs = r;
    it->n_runs++;
}

static void item_unlink(struct sched_run *r)
{
    struct sched_item *it = r->item;
    if (!it)
        return;
    if (r->iprev)
        r->iprev->inext = r->inext;
    else
        it->runs = r->inext;
    if (r->inext)
        r->inext->iprev = r->iprev;
    r->inext = r->iprev = NULL;
    r->item = NULL;
    it->n_runs--;
}

/* held: a pause window holds this cron or catch-up fire (opts.paused, the
 * agent's agent/pausehold.c); `why` says which and until when. */
static bool held(struct sched *s, const struct sched_item *it, enum exec_trigger trig, int64_t t,
                 char *why, size_t len)
{
    return s->o.paused && (trig == EXEC_TRIGGER_CRON || trig == EXEC_TRIGGER_MISFIRE) &&
           s->o.paused(s->o.paused_ctx, &it->spec->c, t, why, len);
}

/* report_unrun: a fire that will not run (missed, skipped) gets its event and
 * goes away. A missed fire inside a pause window is reported paused: it would
 * not have run anyway, and must not be alerted as missed. */
static void report_unrun(struct sched *s, struct sched_item *it, enum sched_ev_type type,
                         enum exec_trigger trig, int64_t t, const char *reason)
{
    char why[300];
    if (type == SCHED_EV_MISSED && held(s, it, trig, t, why, sizeof why)) {
        type = SCHED_EV_PAUSED;
        reason = why;
    }
    struct sched_run *r = run_new(s, it, trig, t, NULL);
    if (!r) {
        LOGE("out of memory reporting a %s fire of %s/%d", sched_ev_name(type), it->spec->c.job,
             it->spec->c.item);
        return;
    }
    emit(s, type, r, reason, NULL);
    run_free(r);
}

/* report_due: the item's fires already due by our clock that the scheduler
 * has not handled yet (its timer has not come round to them) are reported
 * now, at most SCHED_MISFIRE_MAX: the item stops here at this instant, so
 * nothing before the stop is left to anyone. Returns how many. */
static int report_due(struct sched *s, struct sched_item *it, enum sched_ev_type type,
                      const char *reason)
{
    int64_t now = now_real(s), t = it->next_fire;
    int n = 0;
    for (; t >= 0 && t * 1000 <= now && n < SCHED_MISFIRE_MAX; n++) {
        report_unrun(s, it, type, EXEC_TRIGGER_CRON, t, reason);
        it->last_fire = t;
        int64_t nt = it->next(it->ctx, t);
        t = nt > t ? nt : -1;
    }
    it->next_fire = t;
    return n;
}

/* run_discard: free a run that did not start, cancelling its held process. */
static void run_discard(struct sched *s, struct sched_run *r)
{
    if (r->held) {
        s->o.runner.cancel(s->o.runner.ctx, r->held, &r->spec->c);
        s->pstats.cancelled++;
    }
    r->held = NULL;
    run_free(r);
}

/* unarm: take an item's armed run out of the armed list (the caller fires
 * or discards it). */
static struct sched_run *unarm(struct sched *s, struct sched_item *it)
{
    struct sched_run *r = it->armed;
    if (!r)
        return NULL;
    it->armed = NULL;
    list_unlink(&s->armed, r);
    r->arm_item = NULL;
    r->state = RUN_NEW;
    return r;
}

static void disarm(struct sched *s, struct sched_item *it)
{
    struct sched_run *r = unarm(s, it);
    if (r)
        run_discard(s, r);
    it->arm_tried = -1; /* may be armed again while its fire is still ahead */
}

static void disarm_all(struct sched *s)
{
    while (s->armed.head)
        disarm(s, s->armed.head->arm_item);
}

/* drop_waiting: a queued or retry-waiting run leaves without running. */
static void drop_waiting(struct sched *s, struct sched_run *r, const char *reason)
{
    list_unlink(r->state == RUN_QUEUED ? &s->queue : &s->retry, r);
    item_unlink(r);
    emit(s, SCHED_EV_SKIPPED, r, reason, NULL);
    run_discard(s, r);
}

static void finish_run(struct sched *s, struct sched_run *r, const struct exec_result *res);

/* refused: the runner said this agent may not start the run now (-EAGAIN: it
 * cannot prove it owns the item). The fire is missed here, not failed, and is
 * never retried: another agent may own it, and its report of the fire wins
 * over this one in the history. A refused catch-up is reported as the cron
 * fire it stood for. */
static void refused(struct sched *s, struct sched_run *r, const struct sc_err *err)
{
    char msg[400], why[300];
    snprintf(msg, sizeof msg, "not run: %s", sc_err_format(err, why, sizeof why));
    if (r->trigger == EXEC_TRIGGER_MISFIRE)
        r->trigger = EXEC_TRIGGER_CRON;
    r->started_ms = 0;
    item_unlink(r);
    emit(s, SCHED_EV_MISSED, r, msg, NULL);
    run_free(r);
}

static void launch_of(const struct sched_run *r, struct sched_launch *l)
{
    const struct sched_item_conf *c = &r->spec->c;
    *l = (struct sched_launch){
        .conf = c,
        .exec_id = r->exec_id,
        .trigger = r->trigger,
        .attempt = r->attempt,
        .fire_time = r->fire_time,
        .fire_time_iso = r->fire_iso,
        .job_param = r->job_param ? r->job_param : c->job_param,
        .epoch = r->epoch,
        .fence = r->fence,
        .wf = r->wf,
    };
}

/* stamp: the epoch and fence of the process about to be created for r, read
 * at that moment: a run (or a retry, or a start after a lost pre-armed
 * process) created after this agent applied a newer epoch carries it. */
static void stamp(struct sched *s, struct sched_run *r)
{
    r->epoch = s->o.epoch ? s->o.epoch(s->o.epoch_ctx) : 0;
    if (agent_fence_format(r->fire_time, r->epoch, r->attempt, r->fence, sizeof r->fence) < 0)
        LOGW("%s/%d %s: no fence (fire %lld, epoch %lld, attempt %d do not fit its widths)",
             r->spec->c.job, r->spec->c.item, r->exec_id, (long long)r->fire_time,
             (long long)r->epoch, r->attempt);
}

static void set_running(struct sched *s, struct sched_run *r)
{
    r->state = RUN_RUNNING;
    r->pid = s->o.runner.pid ? s->o.runner.pid(s->o.runner.ctx, r->handle, &r->spec->c) : 0;
    list_push(&s->running, r);
}

/* release_run: a pre-armed run starts by releasing its held process. false:
 * the process was lost (the runner dropped it) and the run must be started. */
static bool release_run(struct sched *s, struct sched_run *r)
{
    void *h = r->held;
    r->held = NULL;
    if (s->o.runner.release(s->o.runner.ctx, h, &r->spec->c, r->fire_time) < 0) {
        s->pstats.lost++;
        return false;
    }
    s->pstats.released++;
    r->started_ms = now_real(s);
    r->handle = h;
    set_running(s, r);
    return true;
}

/* start_run: start the run's process. false: it could not start and was
 * finished as failed (r is freed or waits to retry) or refused (r is freed). */
static bool start_run(struct sched *s, struct sched_run *r)
{
    const struct sched_item_conf *c = &r->spec->c;
    struct sched_launch l;
    stamp(s, r);
    launch_of(r, &l);
    struct sc_err err;
    sc_err_clear(&err);
    r->started_ms = now_real(s);
    int rc = s->o.runner.start(s->o.runner.ctx, &l, r, &r->handle, &err);
    if (rc == -EAGAIN) {
        refused(s, r, &err);
        return false;
    }
    if (rc < 0) {
        char msg[400];
        char why[300];
        snprintf(msg, sizeof msg, "could not start: %s", sc_err_format(&err, why, sizeof why));
        LOGW("%s/%d %s", c->job, c->item, msg);
        struct exec_result res = {.status = EXEC_FAILED,
                                  .exit_code = -1,
                                  .started_ms = r->started_ms,
                                  .finished_ms = r->started_ms,
                                  .output_tail = "",
                                  .reason = msg};
        finish_run(s, r, &res);
        return false;
    }
    set_running(s, r);
    return true;
}

/* backlog_update: the oldest fire label waiting in the queue (due, not
 * started; retries excluded: their fire has its run) since the queue was last
 * empty. It changes only when a backlog starts, ends or gets an older entry
 * (a misfire catch-up), and only then is on_backlog told: never once per
 * fire. */
static void backlog_update(struct sched *s)
{
    int64_t oldest = 0;
    for (const struct sched_run *r = s->queue.head; r; r = r->qnext)
        if (r->trigger != EXEC_TRIGGER_RETRY && (!oldest || r->fire_time < oldest))
            oldest = r->fire_time;
    if ((oldest && !s->backlog_s) || (!oldest && s->backlog_s) ||
        (oldest && oldest < s->backlog_s)) {
        s->backlog_s = oldest;
        if (s->o.on_backlog)
            s->o.on_backlog(s->o.backlog_ctx, oldest);
    }
}

/* pump: start queued runs while there is capacity; runs left waiting that
 * were not reported yet (always the newest, at the tail) get their QUEUED.
 * The runs admitted together start in three passes so that the instant costs
 * as little as possible: first every pre-armed one is released (one write
 * each), then the others are spawned, then the STARTED events are emitted. */
static void pump(struct sched *s)
{
    int cap = s->o.capacity;
    while (!s->paused && s->running.n < cap && s->queue.head) {
        int n = 0;
        while (s->running.n + n < cap && s->queue.head) {
            struct sched_run *r = s->queue.head;
            list_unlink(&s->queue, r);
            s->batch[n++] = r;
        }
        for (int i = 0; i < n; i++)
            if (s->batch[i]->held && !release_run(s, s->batch[i]))
                LOGD("%s/%d: the pre-armed process was lost; starting afresh",
                     s->batch[i]->spec->c.job, s->batch[i]->spec->c.item);
        for (int i = 0; i < n; i++)
            if (s->batch[i]->state != RUN_RUNNING && !start_run(s, s->batch[i]))
                s->batch[i] = NULL;
        for (int i = 0; i < n; i++)
            if (s->batch[i])
                emit(s, SCHED_EV_STARTED, s->batch[i], NULL, NULL);
    }
    struct sched_run *r = s->queue.tail;
    while (r && r->qprev && !r->qprev->reported_queued)
        r = r->qprev;
    for (; r; r = r->qnext)
        if (!r->reported_queued) {
            r->reported_queued = true;
            emit(s, SCHED_EV_QUEUED, r, s->paused ? "paused" : "at capacity", NULL);
        }
    backlog_update(s);
}

static void enqueue(struct sched *s, struct sched_run *r)
{
    r->state = RUN_QUEUED;
    r->queued_ms = now_real(s);
    r->started_ms = 0;
    r->reported_queued = false;
    list_push(&s->queue, r);
}

static int64_t backoff_ms(const struct spec *sp, int attempt)
{
    int64_t d = sp->c.retry_backoff_s;
    for (int i = 2; i < attempt && d < MAX_BACKOFF_S; i++)
        d *= 2;
    return (d > MAX_BACKOFF_S ? MAX_BACKOFF_S : d) * 1000;
}

static void finish_run(struct sched *s, struct sched_run *r, const struct exec_result *res)
{
    bool retry = (res->status == EXEC_FAILED || res->status == EXEC_TIMEOUT) && !r->no_retry &&
                 r->item && r->attempt <= r->item->spec->c.retries;
    r->last = !retry;
    emit(s, SCHED_EV_FINISHED, r, NULL, res);
    if (!retry) {
        item_unlink(r);
        run_free(r);
        return;
    }
    /* The next attempt is a new execution with the item's current configuration. */
    struct spec *cur = r->item->spec;
    cur->refs++;
    spec_unref(r->spec);
    r->spec = cur;
    r->attempt++;
    r->trigger = EXEC_TRIGGER_RETRY;
    exec_new_id(r->exec_id);
    r->handle = NULL;
    r->pid = 0;
    r->queued_ms = r->started_ms = 0;
    r->state = RUN_RETRY;
    r->retry_due = now_mono(s) + backoff_ms(cur, r->attempt);
    /* sorted insert: retries are few */
    struct sched_run *at = s->retry.head;
    while (at && at->retry_due <= r->retry_due)
        at = at->qnext;
    if (!at) {
        list_push(&s->retry, r);
    } else {
        r->qnext = at;
        r->qprev = at->qprev;
        if (at->qprev)
            at->qprev->qnext = r;
        else
            s->retry.head = r;
        at->qprev = r;
        s->retry.n++;
    }
}

static void arm(struct sched *s);

void sched_run_done(void *token, const struct exec_result *res)
{
    struct sched_run *r = token;
    struct sched *s = r->s;
    list_unlink(&s->running, r);
    finish_run(s, r, res);
    if (!s->in_tick) {
        pump(s);
        arm(s);
    }
}

static void kill_run(struct sched *s, struct sched_run *r, const char *reason)
{
    r->no_retry = true;
    if (s->o.runner.kill)
        s->o.runner.kill(s->o.runner.ctx, r->handle, &r->spec->c, reason);
}

/* fire: one fire of an item enters the run path (concurrency, then capacity). */
static void fire(struct sched *s, struct sched_item *it, int64_t t, enum exec_trigger trig,
                 const char *job_param, char *id_out, struct sched_run *armed)
{
    struct sched_run *r = armed ? armed : run_new(s, it, trig, t, job_param);
    if (!r) {
        LOGE("out of memory firing %s/%d", it->spec->c.job, it->spec->c.item);
        return;
    }
    if (id_out)
        memcpy(id_out, r->exec_id, sizeof r->exec_id);
    char why[300];
    if (held(s, it, trig, t, why, sizeof why)) {
        emit(s, SCHED_EV_PAUSED, r, why, NULL);
        run_discard(s, r);
        return;
    }
    if (it->n_runs > 0) {
        switch (it->spec->c.concurrency) {
        case SCHED_CONC_FORBID:
            emit(s, SCHED_EV_SKIPPED, r, "the previous run is still active (concurrency forbid)",
                 NULL);
            run_discard(s, r);
            return;
        case SCHED_CONC_REPLACE:
            for (struct sched_run *o = it->runs, *nx; o; o = nx) {
                nx = o->inext;
                if (o->state == RUN_RUNNING)
                    kill_run(s, o, "replaced by a newer fire (concurrency replace)");
                else
                    drop_waiting(s, o, "replaced by a newer fire (concurrency replace)");
            }
            break;
        case SCHED_CONC_ALLOW:
            break;
        }
    }
    item_link(it, r);
    enqueue(s, r);
}

/* --------------------------------------------------------------- timing */

/* process_due: every fire of `it` due at `now` (ms), by the misfire policy. */
static void process_due(struct sched *s, struct sched_item *it, int64_t now)
{
    int64_t due[SCHED_MISFIRE_MAX];
    int n = 0;
    bool more = false;
    int64_t t = it->next_fire;
    while (t >= 0 && t * 1000 <= now) {
        if (n == SCHED_MISFIRE_MAX) {
            more = true;
            break;
        }
        due[n++] = t;
        int64_t nt = it->next(it->ctx, t);
        t = nt > t ? nt : -1; /* a rule that does not advance stops rather than loops */
    }
    int64_t more_from = t;
    if (more) {
        int64_t nt = it->next(it->ctx, sec_floor(now));
        t = nt > due[n - 1] ? nt : -1;
    }
    it->next_fire = t;
    if (n > 0)
        it->last_fire = more ? sec_floor(now) : due[n - 1];

    const struct sched_item_conf *c = &it->spec->c;
    char why[160];
    /* The armed run (if any) becomes this fire's run when the fire starts on
     * time as a cron fire; otherwise it is cancelled. */
    struct sched_run *armed = unarm(s, it);
    if (s->paused) {
        if (armed)
            run_discard(s, armed);
        for (int i = 0; i < n; i++)
            report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, due[i],
                         "paused: the agent cannot prove its session is alive");
        if (more)
            report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, more_from,
                         "paused; later missed fires up to now not enumerated");
        return;
    }
    /* Only a missed fire (late beyond the threshold) is subject to the policy. */
    int missed[SCHED_MISFIRE_MAX], n_missed = 0;
    for (int i = 0; i < n; i++)
        if (now - due[i] * 1000 > c->misfire_threshold_ms)
            missed[n_missed++] = i;
    for (int k = 0; k < n_missed; k++) {
        int64_t ft = due[missed[k]];
        int64_t late = now - ft * 1000;
        switch (c->misfire) {
        case SCHED_MISFIRE_SKIP:
            snprintf(why, sizeof why, "late by %lld ms (misfire skip)", (long long)late);
            report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, ft, why);
            break;
        case SCHED_MISFIRE_ONCE:
            if (k == n_missed - 1) {
                fire(s, it, ft, EXEC_TRIGGER_MISFIRE, NULL, NULL, NULL);
            } else {
                snprintf(why, sizeof why, "late by %lld ms (misfire once: one catch-up run)",
                         (long long)late);
                report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, ft, why);
            }
            break;
        case SCHED_MISFIRE_ALL:
            fire(s, it, ft, EXEC_TRIGGER_MISFIRE, NULL, NULL, NULL);
            break;
        }
    }
    if (more) {
        snprintf(why, sizeof why, "more than %d missed fires: later ones up to now not run",
                 SCHED_MISFIRE_MAX);
        report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, more_from, why);
    }
    for (int i = 0; i < n; i++)
        if (now - due[i] * 1000 <= c->misfire_threshold_ms) {
            struct sched_run *use = armed && armed->fire_time == due[i] ? armed : NULL;
            if (use)
                armed = NULL;
            fire(s, it, due[i], EXEC_TRIGGER_CRON, NULL, NULL, use);
        }
    if (armed)
        run_discard(s, armed);
}

static void check_jump(struct sched *s, int64_t real, int64_t mono)
{
    if (s->have_last) {
        int64_t skew = (real - s->last_real) - (mono - s->last_mono);
        if (skew > s->o.jump_threshold_ms || -skew > s->o.jump_threshold_ms) {
            LOGW("wall clock jumped %+lld ms against the monotonic clock%s", (long long)skew,
                 skew > 0 ? ": fires skipped over are handled as misfires"
                          : ": fires already made are not repeated");
            if (s->o.on_event) {
                struct sched_event ev = {.type = SCHED_EV_CLOCK_JUMP,
                                         .job = "",
                                         .exec_id = "",
                                         .fire_time_iso = "",
                                         .exit_code = -1,
                                         .reason = skew > 0 ? "forward" : "backward",
                                         .jump_ms = skew,
                                         .fence = ""};
                s->o.on_event(&ev, s->o.event_arg);
            }
        }
    }
    s->have_last = true;
    s->last_real = real;
    s->last_mono = mono;
}

/* ------------------------------------------------------------ pre-arming */

static bool can_arm(const struct sched *s)
{
    return s->o.prearm_ms > 0 && s->o.runner.prepare && !s->paused &&
           s->running.n + s->queue.n + s->armed.n < s->o.capacity;
}

/* arm_item: create the run of the item's next fire and its held process. */
static void arm_item(struct sched *s, struct sched_item *it)
{
    it->arm_tried = it->next_fire;
    /* A forbid item still running would most likely be skipped: not worth a process. */
    if (it->n_runs > 0 && it->spec->c.concurrency == SCHED_CONC_FORBID)
        return;
    struct sched_run *r = run_new(s, it, EXEC_TRIGGER_CRON, it->next_fire, NULL);
    if (!r)
        return;
    struct sched_launch l;
    stamp(s, r);
    launch_of(r, &l);
    struct sc_err err;
    sc_err_clear(&err);
    int rc = s->o.runner.prepare(s->o.runner.ctx, &l, r, &r->held, &err);
    if (rc < 0) {
        char why[300];
        if (rc != -ENOTSUP)
            LOGD("%s/%d: not pre-armed: %s", it->spec->c.job, it->spec->c.item,
                 sc_err_format(&err, why, sizeof why));
        r->held = NULL;
        run_free(r);
        return;
    }
    s->pstats.armed++;
    r->state = RUN_ARMED;
    r->arm_item = it;
    it->armed = r;
    list_push(&s->armed, r);
}

/* arm_visit: every heap node due within the window (a pruned walk: a node
 * beyond the window has only later nodes below it). Stops near an instant. */
static void arm_visit(struct sched *s, int i, int64_t now, int64_t stop_at)
{
    if (i >= s->heap_n || !can_arm(s))
        return;
    struct sched_item *it = s->heap[i];
    if (it->next_fire * 1000 > now + s->o.prearm_ms)
        return;
    if (!it->armed && it->arm_tried != it->next_fire && it->next_fire * 1000 > now) {
        if (now_real(s) >= stop_at)
            return;
        arm_item(s, it);
    }
    arm_visit(s, 2 * i + 1, now, stop_at);
    arm_visit(s, 2 * i + 2, now, stop_at);
}

static void prearm(struct sched *s)
{
    if (s->o.prearm_ms <= 0 || !s->o.runner.prepare)
        return;
    int64_t now = now_real(s);
    /* A fire that moved out of reach (the wall clock went back) gives its process up. */
    for (struct sched_run *r = s->armed.head, *nx; r; r = nx) {
        nx = r->qnext;
        if (r->fire_time * 1000 - now > s->o.prearm_ms + MAX_IDLE_WAKE_MS)
            disarm(s, r->arm_item);
    }
    if (s->heap_n > 0)
        arm_visit(s, 0, now, s->heap[0]->next_fire * 1000 - ARM_MARGIN_MS);
}

/* arm_next: when the earliest fire not armed (nor tried) enters the window,
 * epoch ms; INT64_MAX none. Walks only the armed and tried nodes. */
static int64_t arm_next(const struct sched *s, int i)
{
    if (i >= s->heap_n)
        return INT64_MAX;
    const struct sched_item *it = s->heap[i];
    if (!it->armed && it->arm_tried != it->next_fire)
        return it->next_fire * 1000 - s->o.prearm_ms;
    int64_t a = arm_next(s, 2 * i + 1), b = arm_next(s, 2 * i + 2);
    return a < b ? a : b;
}

/* --------------------------------------------------------------- waking */

int64_t sched_next_wake_ms(struct sched *s)
{
    int64_t real = now_real(s), mono = now_mono(s);
    int64_t d = MAX_IDLE_WAKE_MS;
    if (s->heap_n > 0 && s->heap[0]->next_fire * 1000 - real < d)
        d = s->heap[0]->next_fire * 1000 - real;
    /* Arming never starts within ARM_MARGIN_MS of the next instant (no wake for it then). */
    int64_t stop_at = s->heap_n > 0 ? s->heap[0]->next_fire * 1000 - ARM_MARGIN_MS : 0;
    if (can_arm(s) && s->heap_n > 0 && real < stop_at) {
        int64_t a = arm_next(s, 0);
        if (a < stop_at && a - real < d)
            d = a - real;
    }
    if (s->retry.head && s->retry.head->retry_due - mono < d)
        d = s->retry.head->retry_due - mono;
    if (s->owed && s->owed_min != INT64_MAX && s->owed_min * 1000 - real < d)
        d = s->owed_min * 1000 - real;
    return d < 0 ? 0 : d;
}

static void arm(struct sched *s)
{
    if (!s->timer)
        return;
    int64_t d = sched_next_wake_ms(s);
    struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void owed_tick(struct sched *s, int64_t now);
static struct sched_item *owed_take(struct sched *s, const char *job, int item);

void sched_tick(struct sched *s)
{
    if (s->in_tick)
        return;
    s->in_tick = true;
    int64_t real = now_real(s), mono = now_mono(s);
    check_jump(s, real, mono);
    while (s->retry.head && s->retry.head->retry_due <= mono) {
        struct sched_run *r = s->retry.head;
        list_unlink(&s->retry, r);
        enqueue(s, r);
    }
    /* Every item due now leaves the heap; the pre-armed ones fire first, so
     * that their runs come first in the queue (due runs have no order among
     * themselves) and a held process does not wait behind a fresh spawn. */
    struct sched_item *due = NULL, **armed_tail = &due, *plain = NULL, **plain_tail = &plain;
    while (s->heap_n > 0 && s->heap[0]->next_fire * 1000 <= real) {
        struct sched_item *it = s->heap[0];
        heap_remove(s, it);
        it->due_next = NULL;
        struct sched_item ***tail = it->armed ? &armed_tail : &plain_tail;
        **tail = it;
        *tail = &it->due_next;
    }
    *armed_tail = plain; /* armed ones first, then the others */
    for (struct sched_item *it = due; it; it = it->due_next)
        process_due(s, it, real);
    owed_tick(s, real);
    while (due) {
        struct sched_item *it = due;
        due = it->due_next;
        if (it->next_fire >= 0 && heap_insert(s, it) < 0)
            LOGE("out of memory: %s/%d stops firing", it->spec->c.job, it->spec->c.item);
    }
    pump(s);
    s->in_tick = false;
    /* Runs that finished inside the tick (start failures) may have freed capacity. */
    pump(s);
    prearm(s);
    arm(s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    sched_tick(arg);
}

/* ------------------------------------------------------------ public API */

int sched_new(struct event_base *base, const struct sched_opts *opts, struct sched **out)
{
    if (!opts->runner.start)
        return -EINVAL;
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->base = base;
    s->o = *opts;
    if (s->o.capacity <= 0)
        s->o.capacity = DEFAULT_CAPACITY;
    if (s->o.jump_threshold_ms <= 0)
        s->o.jump_threshold_ms = DEFAULT_JUMP_MS;
    if (opts->clock)
        s->clock = *opts->clock;
    else
        s->clock = (struct sched_clock){sys_real, sys_mono, NULL};
    s->o.clock = NULL;
    s->nbuckets = 1024;
    s->owed_min = INT64_MAX;
    s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
    s->batch = calloc((size_t)s->o.capacity, sizeof *s->batch);
    if (!s->buckets || !s->batch)
        goto err;
    if (s->o.prearm_ms < 0 || !s->o.runner.release || !s->o.runner.cancel)
        s->o.prearm_ms = 0;
    if (base && !(s->timer = evtimer_new(base, on_timer, s)))
        goto err;
    /* The jump check's first reference: a jump before the first tick (which
     * may come seconds later, or be forced by an item change right after
     * the jump) is reported before the fires it skipped over are handled. */
    s->have_last = true;
    s->last_real = now_real(s);
    s->last_mono = now_mono(s);
    *out = s;
    arm(s);
    return 0;
err:
    sched_free(s);
    return -ENOMEM;
}

static void item_free(struct sched_item *it)
{
    if (!it)
        return;
    if (it->ctx_free)
        it->ctx_free(it->ctx);
    spec_unref(it->spec);
    free(it->owed_why);
    free(it);
}

static void free_list(struct run_list *l)
{
    while (l->head) {
        struct sched_run *r = l->head;
        list_unlink(l, r);
        run_free(r);
    }
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    free_list(&s->queue);
    free_list(&s->running);
    free_list(&s->retry);
    free_list(&s->armed);
    for (size_t i = 0; s->buckets && i < s->nbuckets; i++)
        while (s->buckets[i]) {
            struct sched_item *it = s->buckets[i];
            s->buckets[i] = it->hnext;
            item_free(it);
        }
    sched_owed_clear(s);
    if (s->timer)
        event_free(s->timer);
    free(s->buckets);
    free(s->batch);
    free(s->heap);
    free(s);
}

int sched_item_put(struct sched *s, const struct sched_item_conf *conf, struct sc_err *err)
{
    int rc = conf_check(conf, err);
    if (rc < 0)
        return rc;
    struct spec *sp = spec_new(conf);
    if (!sp)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    /* Ours again: its fires go through the schedule (and the takeover's
     * accounting), no longer reported as owed. */
    item_free(owed_take(s, conf->job, conf->item));
    int64_t now_s = sec_floor(now_real(s));
    struct sched_item **slot = item_slot(s, conf->job, conf->item);
    struct sched_item *it = *slot;
    if (!it) {
        if ((size_t)s->n_items >= s->nbuckets * 2 && table_grow(s) == 0)
            slot = item_slot(s, conf->job, conf->item);
        if (!(it = calloc(1, sizeof *it))) {
            spec_unref(sp);
            return sc_err_set(err, ENOMEM, "", -1, "out of memory");
        }
        it->heap_idx = -1;
        it->last_fire = -1;
        it->arm_tried = -1;
        /* A floor in the future: fires up to it are another owner's. */
        it->floor_after = conf->fire_after > now_s ? conf->fire_after : now_s;
        it->spec = sp;
        *slot = it;
        s->n_items++;
    } else {
        disarm(s, it); /* prepared with the old configuration */
        it->arm_tried = -1;
        spec_unref(it->spec);
        it->spec = sp;
        if (it->ctx_free && it->ctx != conf->ctx)
            it->ctx_free(it->ctx);
    }
    it->next = conf->next ? conf->next : next_never;
    it->offset = conf->offset;
    it->ctx = conf->ctx;
    it->ctx_free = conf->ctx_free;
    /* Recompute from the last fire handled, never before the item's floor, and
     * not before the current second (a pending fire of this second still runs). */
    int64_t after = now_s - 1;
    if (after < it->floor_after)
        after = it->floor_after;
    if (after < it->last_fire)
        after = it->last_fire;
    heap_remove(s, it);
    it->next_fire = it->next(it->ctx, after);
    if (it->next_fire >= 0 && heap_insert(s, it) < 0) {
        it->next_fire = -1;
        LOGE("out of memory: %s/%d will not fire", conf->job, conf->item);
    }
    if (!s->in_tick)
        arm(s);
    return 0;
}

/* ------------------------------------------------------------ removal and owed fires */

static int64_t window_walk(const struct sched_item *it, int64_t lo_ms,
                           int64_t due[SCHED_MISFIRE_MAX], int *n);

/* detach: take `it` out of the table and the heap; its fires already due and
 * not handled are reported (`type`, `why`), its queued and retry-waiting runs
 * dropped, its running ones left to finish (killed when `kill`). The caller
 * frees or keeps it. */
static struct sched_item *detach(struct sched *s, const char *job, int item, bool kill,
                                 enum sched_ev_type type, const char *why)
{
    struct sched_item **slot = item_slot(s, job, item);
    struct sched_item *it = *slot;
    if (!it)
        return NULL;
    *slot = it->hnext;
    it->hnext = NULL;
    s->n_items--;
    heap_remove(s, it);
    disarm(s, it);
    report_due(s, it, type, why);
    for (struct sched_run *r = it->runs, *nx; r; r = nx) {
        nx = r->inext;
        if (r->state == RUN_RUNNING) {
            if (kill)
                kill_run(s, r, "the item was removed from this agent");
            item_unlink(r);
        } else {
            drop_waiting(s, r, "the item was removed from this agent");
        }
    }
    return it;
}

static void detached(struct sched *s)
{
    if (s->in_batch) {
        s->batch_dirty = true;
        return;
    }
    backlog_update(s);
    if (!s->in_tick)
        arm(s);
}

int sched_item_remove(struct sched *s, const char *job, int item, bool kill)
{
    struct sched_item *it =
        detach(s, job, item, kill, SCHED_EV_SKIPPED, "removed from this agent before its turn");
    if (!it)
        return -ENOENT;
    item_free(it);
    detached(s);
    return 0;
}

int sched_item_drop(struct sched *s, const char *job, int item, const char *why)
{
    struct sched_item *it = detach(s, job, item, false, SCHED_EV_MISSED, why);
    if (!it)
        return -ENOENT;
    item_free(it);
    detached(s);
    return 0;
}

/* owed_unlink: take `it` out of the owed list and map. */
static void owed_unlink(struct sched *s, struct sched_item *it)
{
    char key[JOB_ITEM_KEY_MAX];
    job_item_key(key, sizeof key, it->spec->c.job, it->spec->c.item);
    strmap_del(&s->owed_by, key);
    if (it->oprev)
        it->oprev->hnext = it->hnext;
    else
        s->owed = it->hnext;
    if (it->hnext)
        it->hnext->oprev = it->oprev;
    it->hnext = it->oprev = NULL;
}

/* owed_take: unlink the owed item (job, item), NULL when there is none. A
 * lookup, not a walk: a loss of 10,000 items at once is 10,000 of these. */
static struct sched_item *owed_take(struct sched *s, const char *job, int item)
{
    char key[JOB_ITEM_KEY_MAX];
    job_item_key(key, sizeof key, job, item);
    struct sched_item *it = strmap_get(&s->owed_by, key);
    if (it)
        owed_unlink(s, it);
    return it;
}

/* owe: keep `it` (out of the table) to report its fires as they come due,
 * while opts.owes says so; freed when no one asks. */
static void owe(struct sched *s, struct sched_item *it, const char *why)
{
    item_free(owed_take(s, it->spec->c.job, it->spec->c.item));
    if (!s->o.owes || !why || !(it->owed_why = strdup(why))) {
        item_free(it);
        return;
    }
    char key[JOB_ITEM_KEY_MAX];
    int e;
    job_item_key(key, sizeof key, it->spec->c.job, it->spec->c.item);
    strmap_put(&s->owed_by, key, it, &e);
    if (e < 0) {
        item_free(it);
        return;
    }
    it->oprev = NULL;
    it->hnext = s->owed;
    if (s->owed)
        s->owed->oprev = it;
    s->owed = it;
    if (it->next_fire >= 0 && it->next_fire < s->owed_min)
        s->owed_min = it->next_fire;
}

/* owed_tick: every owed item's fires due by `now` are reported MISSED (at
 * most SCHED_MISFIRE_MAX each time); an item no longer owed goes. */
static void owed_tick(struct sched *s, int64_t now)
{
    s->owed_min = INT64_MAX;
    for (struct sched_item **p = &s->owed; *p;) {
        struct sched_item *it = *p;
        bool due = it->next_fire >= 0 && it->next_fire * 1000 <= now;
        for (int n = 0; it->next_fire >= 0 && it->next_fire * 1000 <= now && n < SCHED_MISFIRE_MAX;
             n++) {
            report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, it->next_fire, it->owed_why);
            int64_t nt = it->next(it->ctx, it->next_fire);
            it->next_fire = nt > it->next_fire ? nt : -1;
        }
        /* owes() is asked after a due fire was reported and, after a change
         * in coordination (sched_owed_recheck), of every owed item: not of
         * 10,000 idle ones on every wake-up */
        if (it->next_fire < 0 || ((due || s->owed_recheck) &&
                                  !s->o.owes(s->o.owes_ctx, it->spec->c.job, it->spec->c.item))) {
            owed_unlink(s, it); /* *p now names the next one */
            item_free(it);
        } else {
            if (it->next_fire < s->owed_min)
                s->owed_min = it->next_fire;
            p = &it->hnext;
        }
    }
    s->owed_recheck = false;
}

void sched_owed_recheck(struct sched *s)
{
    if (s->owed)
        s->owed_recheck = true;
}

int sched_item_hand(struct sched *s, const char *job, int item, const char *why)
{
    struct sched_item *it =
        detach(s, job, item, false, SCHED_EV_SKIPPED, "removed from this agent before its turn");
    if (!it)
        return -ENOENT;
    owe(s, it, why);
    detached(s);
    return 0;
}

int sched_owe(struct sched *s, const struct sched_item_conf *conf, int64_t lo_ms,
              const char *window_why, const char *why, struct sc_err *err)
{
    int64_t due[SCHED_MISFIRE_MAX];
    int n = 0;
    char msg[300];
    int rc = conf_check(conf, err);
    if (rc < 0)
        return rc;
    struct sched_item *it = calloc(1, sizeof *it);
    if (!it || !(it->spec = spec_new(conf))) {
        free(it);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    it->heap_idx = -1;
    it->last_fire = -1;
    it->arm_tried = -1;
    it->next = conf->next ? conf->next : next_never;
    it->offset = conf->offset;
    it->ctx = conf->ctx;
    it->ctx_free = conf->ctx_free;
    it->floor_after = sec_floor(now_real(s));
    int64_t more_from = window_walk(it, lo_ms, due, &n);
    if (more_from >= 0) {
        snprintf(msg, sizeof msg,
                 "%s; more than %d fires: this one and earlier ones not enumerated", window_why,
                 SCHED_MISFIRE_MAX);
        report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, more_from, msg);
    }
    for (int i = 0; i < n; i++)
        report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, due[i], window_why);
    it->next_fire = it->next(it->ctx, it->floor_after);
    owe(s, it, why);
    if (!s->in_tick)
        arm(s);
    return n + (more_from >= 0);
}

void sched_batch_begin(struct sched *s)
{
    s->in_batch = true;
}

void sched_batch_end(struct sched *s)
{
    s->in_batch = false;
    if (s->batch_dirty) {
        s->batch_dirty = false;
        detached(s);
    }
}

void sched_owed_clear(struct sched *s)
{
    while (s->owed) {
        struct sched_item *it = s->owed;
        s->owed = it->hnext;
        item_free(it);
    }
    strmap_free(&s->owed_by);
    strmap_init(&s->owed_by);
    s->owed_min = INT64_MAX;
}

int sched_owed(const struct sched *s)
{
    int n = 0;
    for (const struct sched_item *it = s->owed; it; it = it->hnext)
        n++;
    return n;
}

int sched_trigger(struct sched *s, const char *job, int item, enum exec_trigger trigger,
                  int64_t fire_time, const char *job_param, char *exec_id_out)
{
    struct sched_item *it = *item_slot(s, job, item);
    if (!it)
        return -ENOENT;
    if (fire_time <= 0)
        fire_time = sec_floor(now_real(s));
    fire(s, it, fire_time, trigger, job_param, exec_id_out, NULL);
    if (!s->in_tick) {
        pump(s);
        arm(s);
    }
    return 0;
}

int sched_trigger_wf(struct sched *s, const char *job, int item, const char *job_param,
                     const char *wf_json, char *exec_id_out)
{
    struct sched_item *it = *item_slot(s, job, item);
    struct sc_err err;
    struct wfctx *wf = NULL;
    char why[300];
    if (!it)
        return -ENOENT;
    sc_err_clear(&err);
    int rc = wfctx_parse(wf_json ? wf_json : "", &wf, &err);
    if (rc < 0) {
        LOGW("%s/%d: workflow trigger refused: %s", job, item,
             sc_err_format(&err, why, sizeof why));
        return rc;
    }
    int64_t t = sec_floor(now_real(s));
    struct sched_run *r = run_new(s, it, EXEC_TRIGGER_MANUAL, t, job_param);
    if (!r) {
        wfctx_free(wf);
        return -ENOMEM;
    }
    r->wf = wf;
    fire(s, it, t, EXEC_TRIGGER_MANUAL, NULL, exec_id_out, r);
    if (!s->in_tick) {
        pump(s);
        arm(s);
    }
    return 0;
}

int sched_kill_wf(struct sched *s, const char *job, int item, const char *run_id)
{
    struct sched_item *it = *item_slot(s, job, item);
    int n = 0;
    if (!it || !run_id)
        return 0;
    for (struct sched_run *r = it->runs, *nx; r; r = nx) {
        nx = r->inext;
        if (!r->wf || strcmp(r->wf->run_id, run_id) != 0)
            continue;
        if (r->state == RUN_RUNNING) {
            if (r->no_retry)
                continue; /* already being stopped */
            kill_run(s, r, SCHED_WF_CANCELLED);
        } else {
            drop_waiting(s, r, SCHED_WF_CANCELLED);
        }
        n++;
    }
    backlog_update(s);
    if (!s->in_tick) {
        pump(s);
        arm(s);
    }
    return n;
}

/* window_walk: the fires f of `it` with f*1000 > lo_ms up to its floor, in
 * due[] (n, ascending). The window ends where the item's own schedule starts
 * (its floor). Of a window holding more than SCHED_MISFIRE_MAX fires the
 * newest are taken, the ones nearest the floor: a window that reaches far
 * back is a conservative bound, and its oldest fires are the likeliest to
 * have been accounted by an owner before. Returns the newest fire left out
 * (-1 none). The window is walked from a start that moves back (by growing
 * spans) until it holds one fire more than the cap or reaches lo, so a long
 * window of a frequent rule costs no more than its newest fires. */
static int64_t window_walk(const struct sched_item *it, int64_t lo_ms,
                           int64_t due[SCHED_MISFIRE_MAX], int *n)
{
    int64_t ring[SCHED_MISFIRE_MAX + 1];
    int64_t lo_s = sec_floor(lo_ms), span = 3600, cnt = 0;
    *n = 0;
    if (it->next == next_never)
        return -1;
    for (;;) {
        int64_t start = it->floor_after - span > lo_s ? it->floor_after - span : lo_s;
        int64_t t = it->next(it->ctx, start);
        cnt = 0;
        while (t >= 0 && t <= it->floor_after) {
            ring[cnt++ % (SCHED_MISFIRE_MAX + 1)] = t;
            int64_t nt = it->next(it->ctx, t);
            t = nt > t ? nt : -1;
        }
        if (cnt > SCHED_MISFIRE_MAX || start == lo_s)
            break;
        span = span > INT64_MAX / 16 ? INT64_MAX / 2 : span * 8;
    }
    *n = cnt > SCHED_MISFIRE_MAX ? SCHED_MISFIRE_MAX : (int)cnt;
    for (int i = 0; i < *n; i++)
        due[i] = ring[(cnt - *n + i) % (SCHED_MISFIRE_MAX + 1)];
    return cnt > SCHED_MISFIRE_MAX ? ring[(cnt - *n - 1) % (SCHED_MISFIRE_MAX + 1)] : -1;
}

int sched_item_account(struct sched *s, const char *job, int item, int64_t lo_ms, int64_t hi_ms,
                       const char *why)
{
    struct sched_item *it = *item_slot(s, job, item);
    int64_t due[SCHED_MISFIRE_MAX];
    int n = 0, n_sure = 0;
    char msg[300];
    if (!it)
        return -ENOENT;
    int64_t more_from = window_walk(it, lo_ms, due, &n);
    if (more_from >= 0) {
        snprintf(msg, sizeof msg,
                 "failover window (%s): more than %d fires without an owner; this one and "
                 "earlier ones not enumerated",
                 why, SCHED_MISFIRE_MAX);
        report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, more_from, msg);
    }
    const struct sched_item_conf *c = &it->spec->c;
    /* Ours alone and not late past the threshold: an ordinary fire (a handoff
     * of a few hundred ms must not turn fires into misfires). Only the later
     * ones are misfires, under the policy, as in process_due. */
    int64_t now = now_real(s);
    for (int i = 0; i < n; i++)
        n_sure += due[i] * 1000 > hi_ms && now - due[i] * 1000 > c->misfire_threshold_ms;
    for (int i = 0, k = 0; i < n; i++) {
        bool sure = due[i] * 1000 > hi_ms;
        if (sure && now - due[i] * 1000 <= c->misfire_threshold_ms) {
            fire(s, it, due[i], EXEC_TRIGGER_CRON, NULL, NULL, NULL);
            continue;
        }
        k += sure;
        if (sure && (c->misfire == SCHED_MISFIRE_ALL ||
                     (c->misfire == SCHED_MISFIRE_ONCE && k == n_sure))) {
            fire(s, it, due[i], EXEC_TRIGGER_MISFIRE, NULL, NULL, NULL);
            continue;
        }
        /* Fires up to hi_ms may have been run by the previous owner: reported
         * missed only, never caught up; its own report wins in the history. */
        if (!sure)
            snprintf(msg, sizeof msg,
                     "failover window (%s): not run here; missed unless the previous owner ran it",
                     why);
        else
            snprintf(msg, sizeof msg, "failover window (%s): no owner ran this fire%s", why,
                     c->misfire == SCHED_MISFIRE_SKIP ? " (misfire skip)"
                                                      : " (misfire once: one catch-up run)");
        report_unrun(s, it, SCHED_EV_MISSED, EXEC_TRIGGER_CRON, due[i], msg);
    }
    if (!s->in_tick) {
        pump(s);
        arm(s);
    }
    return n + (more_from >= 0);
}

static int kill_item_runs(struct sched *s, struct sched_item *it, const char *reason)
{
    int n = 0;
    disarm(s, it);
    for (struct sched_run *r = it->runs, *nx; r; r = nx) {
        nx = r->inext;
        if (r->state == RUN_RUNNING) {
            if (!r->no_retry) {
                kill_run(s, r, reason);
                n++;
            }
        } else {
            drop_waiting(s, r, reason);
        }
    }
    return n;
}

int sched_kill_item(struct sched *s, const char *job, int item, const char *reason)
{
    struct sched_item *it = *item_slot(s, job, item);
    int n = it ? kill_item_runs(s, it, reason) : -ENOENT;
    backlog_update(s);
    return n;
}

int sched_kill_all(struct sched *s, const char *reason)
{
    int n = 0;
    disarm_all(s);
    while (s->queue.head)
        drop_waiting(s, s->queue.head, reason);
    while (s->retry.head)
        drop_waiting(s, s->retry.head, reason);
    for (struct sched_run *r = s->running.head; r; r = r->qnext)
        if (!r->no_retry) {
            kill_run(s, r, reason);
            n++;
        }
    backlog_update(s);
    if (!s->in_tick)
        arm(s);
    return n;
}

void sched_set_paused(struct sched *s, bool paused)
{
    s->paused = paused;
    if (paused)
        disarm_all(s);
    if (!paused && !s->in_tick) {
        pump(s);
        arm(s);
    }
}

int sched_items(const struct sched *s)
{
    return s->n_items;
}

int sched_running(const struct sched *s)
{
    return s->running.n;
}

int sched_queued(const struct sched *s)
{
    return s->queue.n;
}

int sched_armed(const struct sched *s)
{
    return s->armed.n;
}

void sched_prearm_stats(const struct sched *s, struct sched_prearm_stats *out)
{
    *out = s->pstats;
}

int64_t sched_item_next(const struct sched *s, const char *job, int item)
{
    const struct sched_item *it = *item_slot(s, job, item);
    return it ? it->next_fire : -ENOENT;
}

int sched_item_active(const struct sched *s, const char *job, int item)
{
    const struct sched_item *it = *item_slot(s, job, item);
    return it ? it->n_runs : -ENOENT;
}

int sched_item_running(const struct sched *s, const char *job, int item)
{
    const struct sched_item *it = *item_slot(s, job, item);
    int n = 0;
    if (!it)
        return -ENOENT;
    for (const struct sched_run *r = it->runs; r; r = r->inext)
        n += r->state == RUN_RUNNING;
    return n;
}
