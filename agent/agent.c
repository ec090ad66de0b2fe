/* agent/agent.c: shardcron-agent's runtime: settings -> event loop with the
 * coordination state machine, the status/metrics HTTP endpoint and the
 * scheduler; clean shutdown on SIGTERM.
 *
 * Sections: state; coordination callbacks; HTTP; start-up and shutdown. */
#define LOG_CAT "shardcron.agent"
#include "agent/agent.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/items.h"
#include "agent/javaw.h"
#include "agent/logsweep.h"
#include "agent/maint.h"
#include "agent/pausehold.h"
#include "agent/runner.h"
#include "agent/sched.h"
#include "agent/secrets.h"
#include "agent/watchdog.h"
#include "agent/wfdrive.h"
#include "core/alertch.h"
#include "core/http.h"
#include "core/json.h"
#include "core/log.h"
#include "core/strmap.h"
#include "registry/coord.h"
#include "registry/plan.h"
#include "sql/db.h"
#include "sql/hist.h"
#include "sql/hist_alert.h"

/* ---------------------------------------------------------------- state */

/* A run this agent has going, for /status and for the failover record. */
struct live_run {
    char job[JOB_NAME_MAX + 1];
    int item;
    int64_t fire;
    int64_t started_ms;
    char exec_id[EXEC_ID_LEN + 1];
    int pid; /* its process group (a Java run: its worker JVM); 0 not known yet */
    /* a failover re-run or a retry of one: never listed in the record's
     * running set, so nobody re-runs a re-run */
    bool rerun;
};

struct agent {
    struct event_base *base;
    struct coord *coord;
    struct http_server *http;
    struct event *ev_term, *ev_int, *ev_sync, *ev_publish;
    struct exec_runner *exec;
    struct javaw_pool *javaw;
    struct agent_runner ar;
    struct sched_runner inner; /* the real runner behind the lease check */
    struct sched *sched;
    struct items *items;
    struct watchdog *wd;
    bool wd_down;              /* the watchdog died and could not be replaced: start nothing */
    struct hist_writer *hist;  /* NULL when no history store is configured */
    struct pausehold *pause;   /* pause windows on cron fires (agent/pausehold.h) */
    struct wfd *wfd;           /* workflows: the item side, and the driver while leading */
    struct maint *maint;       /* the leader's retention and rollup */
    struct logsweep *logsweep; /* prunes old execution logs */
    /* the leader's alert conditions for maint: the jobs' (no_agent,
     * no_failover) recomputed when coord_generation or the applied epoch moved,
     * then the agents' every interval (at most HIST_ALERT_MAX, owned here) */
    struct event *ev_noagent;
    int alert_ms, alert_skew_ms;
    bool na_cached;
    uint64_t na_gen;
    int64_t na_epoch;
    struct hist_alert_cond *na;
    size_t nna, njobconds, capna;
    struct strmap agent_seen; /* agent id -> struct seen_agent (leader only) */
    int log_min_free_pct;     /* an agent's log disk with less free is "nearly full" */
    char logs[4200];          /* WORK_DIR/logs, whose disk the record reports */
    int64_t disk_checked_ms;
    char host[256];
    struct event *ev_guard;
    struct live_run *runs;
    int nruns, capruns;
    int64_t started, finished, failed, missed, skipped, refused, paused;
    char id[129];
    int exit_code;
    bool stopping;
    uint64_t synced_gen; /* coord_generation() at the last items_sync */
    int64_t backlog_s;   /* the scheduler's backlog (on_backlog), for coord's record */
    /* /metrics (core/histo.h, through core/http.h): cron fires from the
     * scheduled second to the process start; every finished run's time */
    struct histo start_delay, duration;
};

/* ---------------------------------------------------------------- coordination callbacks */

/* alert_channels_load: the default channels of setting alert_channels_file (a
 * list, or default and per-domain lists: core/alertch.h), validated, as JSON text (*out the
 * caller's; NULL when the setting is unset). -EINVAL with err naming the file and what is wrong. */
static int alert_channels_load(const char *path, char **out, struct sc_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "r");
    char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f)
        return sc_err_set(err, EINVAL, "alert_channels_file", -1, "%s: %s", path, strerror(errno));
    fclose(f);
    if (n == sizeof buf)
        return sc_err_set(err, EINVAL, "alert_channels_file", -1, "%s: over %zu bytes", path,
                          sizeof buf - 1);
    cJSON *j = json_parse(buf, n, err);
    int rc = j ? alertch_validate_defaults(j, "alert_channels_file", err) : -EINVAL;
    if (rc == 0 && !(*out = json_print(j)))
        rc = sc_err_set(err, ENOMEM, "alert_channels_file", -1, "out of memory");
    cJSON_Delete(j);
    if (rc < 0 && !j) {
        char inner[300];
        sc_err_format(err, inner, sizeof inner);
        sc_err_set(err, EINVAL, "alert_channels_file", -1, "%s: %s", path, inner);
    }
    return rc;
}

/* alert_job: the leader's alert notices look up the job's alert settings here. */
static const struct job *alert_job(void *ctx, const char *name)
{
    struct agent *a = ctx;
    return a->coord ? coord_job(a->coord, name) : NULL;
}

/* alert_workflow: a workflow's own alert channels, from the driver. */
static char *alert_workflow(void *ctx, const char *name)
{
    struct agent *a = ctx;
    return a->wfd ? wfd_alert_channels(a->wfd, name) : NULL;
}

/* na_add: one more condition for maint (false when out of memory or full). */
static bool na_add(struct agent *a, const char *kind, const char *job, const char *agent,
                   const char *msg)
{
    if (a->nna >= HIST_ALERT_MAX)
        return true; /* cut, in name order: see noagent_cb */
    if (a->nna == a->capna) {
        size_t cap = a->capna ? 2 * a->capna : 64;
        struct hist_alert_cond *v = realloc(a->na, cap * sizeof *v);
        if (!v)
            return false;
        a->na = v;
        a->capna = cap;
    }
    struct hist_alert_cond *c = &a->na[a->nna++];
    memset(c, 0, sizeof *c);
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    snprintf(c->job, sizeof c->job, "%s", job);
    snprintf(c->agent, sizeof c->agent, "%s", agent);
    snprintf(c->message, sizeof c->message, "%s", msg);
    return true;
}

/* na_walk: collects the enabled, valid jobs that cannot run (no eligible
 * agent) or cannot fail over (failover off, or one eligible agent). */
struct na_walk {
    struct coord *c;
    const struct job **v;
    size_t n, cap;
    bool oom;
};

static void na_job(void *arg, const struct job *cfg)
{
    struct na_walk *w = arg;
    if (w->oom || cfg->disabled)
        return;
    int el = coord_job_eligible(w->c, cfg->name);
    if (el < 0 || (el >= 2 && cfg->failover))
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        const struct job **v = realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->oom = true;
            return;
        }
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = cfg;
}

static int cmp_name(const void *x, const void *y)
{
    return strcmp((*(const struct job *const *)x)->name, (*(const struct job *const *)y)->name);
}

/* An agent seen by this leader: its first session, and when a new one came. */
struct seen_agent {
    int64_t session, back_ms;
};

/* How long "session lost and back" stays open after the new session is seen:
 * it is an event, not a state, so it clears by itself. */
#define AGENT_BACK_MS 600000

struct ag_walk {
    struct agent *a;
    int64_t now;
    bool oom;
};

static void ag_cond(void *arg, const char *id, const struct plan_agent_rec *r)
{
    struct ag_walk *w = arg;
    struct agent *a = w->a;
    char why[200];
    size_t off = 0;
    why[0] = '\0';
    struct seen_agent *sa = strmap_get(&a->agent_seen, id);
    if (!sa) {
        int perr = 0;
        if ((sa = calloc(1, sizeof *sa))) {
            sa->session = r->session;
            strmap_put(&a->agent_seen, id, sa, &perr);
            if (perr < 0) {
                free(sa);
                sa = NULL;
            }
        }
    } else if (r->session && r->session != sa->session) {
        sa->session = r->session;
        sa->back_ms = w->now;
    }
#define WHY(...) off += (size_t)snprintf(why + off, sizeof why - off, __VA_ARGS__)
    if (!r->ready)
        WHY("%s%s", off ? ", " : "", r->reason && *r->reason ? r->reason : "not ready");
    if (r->skew_ms > a->alert_skew_ms || r->skew_ms < -a->alert_skew_ms)
        WHY("%sclock skew %lld ms", off ? ", " : "", (long long)r->skew_ms);
    if (r->capacity > 0 && r->nrunning >= r->capacity)
        WHY("%sat capacity (%d)", off ? ", " : "", r->capacity);
    if (r->log_free_pct >= 0 && r->log_free_pct < a->log_min_free_pct)
        WHY("%slog disk nearly full (%d%% free)", off ? ", " : "", r->log_free_pct);
    if (sa && sa->back_ms && w->now - sa->back_ms < AGENT_BACK_MS)
        WHY("%ssession lost and back", off ? ", " : "");
#undef WHY
    if (off && off < sizeof why && !na_add(a, "agent", "", id, why))
        w->oom = true;
}

/* noagent_cb (loop, every alert interval): while leader with an applied
 * epoch, hand maint the conditions of its ZooKeeper view. The job list is in
 * name order and cut at HIST_ALERT_MAX, so a job added elsewhere never swaps
 * which ones are alerted. */
static void noagent_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd, (void)what;
    if (!a->coord || !coord_is_leader(a->coord))
        return;
    int64_t epoch = coord_applied_epoch(a->coord);
    uint64_t gen = coord_generation(a->coord);
    if (epoch <= 0) {
        a->na_cached = false;
        maint_set_conditions(a->maint, false, NULL, 0);
        return;
    }
    bool oom = false;
    if (!a->na_cached || gen != a->na_gen || epoch != a->na_epoch) {
        struct na_walk w = {.c = a->coord};
        a->nna = 0;
        coord_foreach_job(a->coord, na_job, &w);
        if (w.n > 1)
            qsort(w.v, w.n, sizeof *w.v, cmp_name);
        for (size_t i = 0; !w.oom && i < w.n; i++) {
            const struct job *j = w.v[i];
            int el = coord_job_eligible(a->coord, j->name);
            bool ok = el == 0        ? na_add(a, "no_agent", j->name, "", "no eligible agent")
                      : !j->failover ? na_add(a, "no_failover", j->name, "", "failover off")
                                     : na_add(a, "no_failover", j->name, "",
                                              "fewer than two live eligible agents");
            w.oom = w.oom || !ok;
        }
        free(w.v);
        oom = w.oom;
        if (w.n > HIST_ALERT_MAX)
            LOGW("%zu jobs cannot run or fail over; alerts for the first %d only", w.n,
                 HIST_ALERT_MAX);
        a->njobconds = a->nna;
        a->na_cached = !oom;
        a->na_gen = gen;
        a->na_epoch = epoch;
    }
    a->nna = a->njobconds;
    struct ag_walk aw = {.a = a, .now = (int64_t)time(NULL) * 1000};
    if (!oom)
        coord_foreach_agent(a->coord, ag_cond, &aw);
    if (oom || aw.oom) {
        a->na_cached = false;
        maint_set_conditions(a->maint, false, NULL, 0);
        return;
    }
    maint_set_conditions(a->maint, true, a->na, a->nna);
}

/* on_change runs inside coordination callbacks; the scheduler is updated from
 * a zero-delay event so neither module re-enters the other. */
static void on_change(void *ctx)
{
    struct agent *a = ctx;
    struct timeval now = {0, 0};
    if (a->ev_sync && !evtimer_pending(a->ev_sync, NULL))
        evtimer_add(a->ev_sync, &now);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd, (void)what;
    if (!a->sched)
        return;
    sched_set_paused(a->sched, !coord_can_start(a->coord));
    sched_owed_recheck(a->sched); /* a lost item's next owner may be there now */
    /* Walking every owned item is skipped when coordination says nothing
     * about items or job configs changed (an epoch that moves nothing here). */
    uint64_t gen = coord_generation(a->coord);
    if (gen != a->synced_gen) {
        items_sync(a->items);
        a->synced_gen = gen;
    }
    maint_set_leader(a->maint, coord_is_leader(a->coord));
}

static void on_lost(void *ctx)
{
    struct agent *a = ctx;
    int n = a->sched ? sched_kill_all(a->sched, "session lost") : 0;
    LOGW("session lost: killed %d running executions; every item dropped", n);
    on_change(a);
}

static void on_fatal(void *ctx, const char *why)
{
    struct agent *a = ctx;
    fprintf(stderr, "shardcron-agent: %s\n", why);
    a->exit_code = 3;
    event_base_loopexit(a->base, NULL);
}

static bool is_running(void *ctx, const char *job, int item)
{
    struct agent *a = ctx;
    return a->sched && sched_item_running(a->sched, job, item) > 0;
}

static void report(struct agent *a, const struct sched_event *ev);

/* ---------------------------------------------------------------- workflow hooks */

static int64_t jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The driver's records go to history through the batched writer (and its
 * spool while MySQL is down), like executions. */
static void wf_record_run(void *ctx, const cJSON *run)
{
    struct agent *a = ctx;
    if (!a->hist)
        return;
    char *params = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(run, "params"));
    struct hist_wf_run_event ev = {.run_id = jstr(run, "run_id"),
                                   .workflow = jstr(run, "workflow"),
                                   .logical_ms = jnum(run, "logical_ms"),
                                   .trigger = jstr(run, "trigger"),
                                   .state = jstr(run, "state"),
                                   .params = params,
                                   .created_ms = jnum(run, "created_ms"),
                                   .started_ms = jnum(run, "started_ms"),
                                   .ended_ms = jnum(run, "ended_ms"),
                                   .seq = jnum(run, "seq")};
    hist_writer_submit_wf_run(a->hist, &ev);
    free(params);
}

static void wf_record_task(void *ctx, const char *run_id, const char *task, const cJSON *t)
{
    struct agent *a = ctx;
    if (!a->hist)
        return;
    const char *reason = jstr(t, "reason");
    struct hist_wf_task_event ev = {.run_id = run_id,
                                    .task = task,
                                    .state = jstr(t, "state"),
                                    .attempt = (int)jnum(t, "attempt"),
                                    .items = (int)jnum(t, "items"),
                                    .started_ms = jnum(t, "started_ms"),
                                    .ended_ms = jnum(t, "ended_ms"),
                                    .reason = reason && *reason ? reason : NULL,
                                    .seq = jnum(t, "seq")};
    hist_writer_submit_wf_task(a->hist, &ev);
}

static void wf_record_xcom(void *ctx, const char *run_id, const char *task, int item, int attempt,
                           const char *json)
{
    struct agent *a = ctx;
    if (!a->hist)
        return;
    struct hist_wf_xcom_event ev = {.run_id = run_id,
                                    .task = task,
                                    .item = item,
                                    .attempt = attempt,
                                    .output = json,
                                    .output_len = strlen(json),
                                    .seq = attempt};
    hist_writer_submit_wf_xcom(a->hist, &ev);
}

static int wf_kill(void *ctx, const char *job, int item, const char *run_id)
{
    struct agent *a = ctx;
    return sched_kill_wf(a->sched, job, item, run_id);
}

/* on_trigger: coord claimed a manual trigger of (job, item) for this agent:
 * the scheduler records what becomes of it (run, skipped by the concurrency
 * policy, or missed when its start is refused, with the reason). */
static int on_trigger(void *ctx, const struct job *cfg, int item, const char *param, const char *wf)
{
    struct agent *a = ctx;
    int rc = wf ? sched_trigger_wf(a->sched, cfg->name, item, param, wf, NULL)
                : sched_trigger(a->sched, cfg->name, item, EXEC_TRIGGER_MANUAL, 0, param, NULL);
    if (rc == -ENOENT) {
        /* Activated in coordination a moment ago, not yet in the scheduler
         * (sync_cb runs on the next loop turn): sync now. */
        sync_cb(-1, 0, a);
        rc = wf ? sched_trigger_wf(a->sched, cfg->name, item, param, wf, NULL)
                : sched_trigger(a->sched, cfg->name, item, EXEC_TRIGGER_MANUAL, 0, param, NULL);
    }
    if (rc >= 0 && wf && a->wfd)
        wfd_item_started(a->wfd, cfg->name, item, wf); /* a cancel stops it */
    return rc;
}

/* on_trigger_unrun: a manual trigger of (job, item) will not run: one history
 * row (status missed, trigger manual, the reason) so the operator sees it in
 * /executions and the alert panel. Its id is derived from the trigger, so a
 * second report (a new leader) is the same row. */
static void on_trigger_unrun(void *ctx, const char *job, int item, const char *name,
                             int64_t ctime_ms, const char *why, const char *wf)
{
    struct agent *a = ctx;
    if (wf && a->wfd) {
        /* A workflow item: the driver learns it from the result. */
        struct wfd_result res = {.status = "missed", .exit_code = -1, .reason = why};
        wfd_item_done(a->wfd, job, item, wf, &res);
        return;
    }
    uint64_t h1 = 1469598103934665603ULL, h2 = 1099511628211ULL;
    char key[400], id[40], iso[40];
    snprintf(key, sizeof key, "%s/%s/%d", job, name, item);
    for (const char *p = key; *p; p++) {
        h1 = (h1 ^ (unsigned char)*p) * 1099511628211ULL;
        h2 = (h2 ^ (unsigned char)*p) * 1469598103934665603ULL + 7;
    }
    snprintf(id, sizeof id, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(h1 >> 32),
             (unsigned long long)((h1 >> 16) & 0xffff), (unsigned long long)(h1 & 0xffff),
             (unsigned long long)(h2 >> 48), (unsigned long long)(h2 & 0xffffffffffffULL));
    time_t t = (time_t)(ctime_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    char reason[300];
    snprintf(reason, sizeof reason, "%s (trigger %s)", why, name);
    struct sched_event ev = {.type = SCHED_EV_MISSED,
                             .job = job,
                             .item = item,
                             .exec_id = id,
                             .trigger = EXEC_TRIGGER_MANUAL,
                             .origin = EXEC_TRIGGER_MANUAL,
                             .attempt = 1,
                             .fire_time = ctime_ms / 1000,
                             .fire_time_iso = iso,
                             .reason = reason,
                             .fence = ""};
    a->missed++;
    LOGW("%s/%d: %s", job, item, reason);
    report(a, &ev);
}

/* ---------------------------------------------------------------- executions */

static enum own_trigger own_trigger_of(enum exec_trigger t)
{
    switch (t) {
    case EXEC_TRIGGER_MANUAL:
        return OWN_MANUAL;
    case EXEC_TRIGGER_FAILOVER:
        return OWN_FAILOVER;
    case EXEC_TRIGGER_MISFIRE:
        return OWN_MISFIRE;
    case EXEC_TRIGGER_RETRY:
        return OWN_RETRY;
    default:
        return OWN_CRON;
    }
}

/* guarded_start: the last check before a process starts. The lease is read
 * on the monotonic clock now, so an agent resumed after a pause starts nothing
 * until it has heard from ZooKeeper again, whatever order its timers run in. */
static int guarded_start(void *ctx, const struct sched_launch *l, void *token, void **handle,
                         struct sc_err *err)
{
    struct agent *a = ctx;
    if (a->wd_down) {
        a->refused++;
        return sc_err_set(err, EAGAIN, "", -1,
                          "not started: no execution watchdog (it died and could not be "
                          "replaced), so a run could outlive this agent's lease");
    }
    if (!coord_may_start(a->coord, l->conf->job, l->conf->item, l->fire_time,
                         own_trigger_of(l->trigger))) {
        a->refused++;
        return sc_err_set(err, EAGAIN, "", -1,
                          "not started: this agent cannot prove it still owns the item");
    }
    return a->inner.start(a->inner.ctx, l, token, handle, err);
}

static int guarded_kill(void *ctx, void *handle, const struct sched_item_conf *conf,
                        const char *reason)
{
    struct agent *a = ctx;
    return a->inner.kill(a->inner.ctx, handle, conf, reason);
}

/* Pre-armed starts: the same check at the release, the instant the job runs.
 * A refused release drops the held process; the scheduler then calls
 * guarded_start, which refuses and reports it exactly as an unarmed fire. */
static int guarded_prepare(void *ctx, const struct sched_launch *l, void *token, void **handle,
                           struct sc_err *err)
{
    struct agent *a = ctx;
    if (a->wd_down || !coord_can_start(a->coord))
        return sc_err_set(err, EAGAIN, "", -1, "not pre-armed: the lease is not proven");
    return a->inner.prepare(a->inner.ctx, l, token, handle, err);
}

static int guarded_release(void *ctx, void *handle, const struct sched_item_conf *conf,
                           int64_t fire_time)
{
    struct agent *a = ctx;
    if (a->wd_down || !coord_may_start(a->coord, conf->job, conf->item, fire_time, OWN_CRON)) {
        a->inner.cancel(a->inner.ctx, handle, conf);
        return -EAGAIN;
    }
    return a->inner.release(a->inner.ctx, handle, conf, fire_time);
}

/* run_epoch: the epoch a run is stamped with (its SHARDCRON_EPOCH and fence),
 * read as the scheduler creates the process. For a start, guarded_start checks
 * ownership on the same loop turn, so the applied snapshot is one under which
 * the item is ours, newer than any its previous owner ran it under. A pre-armed
 * run keeps its prepare's epoch; its release is checked the same way, and an
 * item lost in between is removed from the scheduler, which cancels the run. */
/* on_backlog: the scheduler's backlog started, ended or got an older entry:
 * it rides on the agent record (coord_set_backlog). */
static void on_backlog(void *ctx, int64_t oldest_s)
{
    struct agent *a = ctx;
    a->backlog_s = oldest_s;
    if (a->coord)
        coord_set_backlog(a->coord, oldest_s);
}

/* owes: whether a lost item's fires are still ours to report (coord_owes). */
static bool owes(void *ctx, const char *job, int item)
{
    struct agent *a = ctx;
    return a->coord && coord_owes(a->coord, job, item);
}

static int64_t run_epoch(void *ctx)
{
    struct agent *a = ctx;
    return a->coord ? coord_applied_epoch(a->coord) : 0;
}

static void guarded_cancel(void *ctx, void *handle, const struct sched_item_conf *conf)
{
    struct agent *a = ctx;
    a->inner.cancel(a->inner.ctx, handle, conf);
}

static int guarded_pid(void *ctx, void *handle, const struct sched_item_conf *conf)
{
    struct agent *a = ctx;
    return a->inner.pid(a->inner.ctx, handle, conf);
}

static int runs_of(const struct agent *a, const char *job, int item)
{
    int n = 0;
    for (int i = 0; i < a->nruns; i++)
        n += a->runs[i].item == item && strcmp(a->runs[i].job, job) == 0;
    return n;
}

static void runs_remove(struct agent *a, const char *exec_id)
{
    for (int i = 0; i < a->nruns; i++)
        if (strcmp(a->runs[i].exec_id, exec_id) == 0) {
            a->runs[i] = a->runs[--a->nruns];
            return;
        }
}

/* report: every state change of an execution goes to the history writer
 * (non-blocking: a queue drained by the writer's own thread, spooled to disk
 * when MySQL is away). */
static void report(struct agent *a, const struct sched_event *ev)
{
    int status;
    if (!a->hist || ev->type == SCHED_EV_CLOCK_JUMP)
        return;
    switch (ev->type) {
    case SCHED_EV_QUEUED:
        status = HIST_QUEUED;
        break;
    case SCHED_EV_STARTED:
        status = HIST_RUNNING;
        break;
    case SCHED_EV_FINISHED:
        status = hist_status_parse(exec_status_name(ev->status));
        break;
    case SCHED_EV_SKIPPED:
        status = HIST_SKIPPED;
        break;
    case SCHED_EV_PAUSED:
        status = HIST_PAUSED;
        break;
    default:
        status = HIST_MISSED;
        break;
    }
    struct hist_event h = {
        .execution_id = ev->exec_id,
        .job = ev->job,
        .item = ev->item,
        .fire_ms = ev->fire_time * 1000,
        .trigger = hist_trigger_parse(exec_trigger_name(ev->trigger)),
        .attempt = ev->attempt > 0 ? ev->attempt : 1,
        .agent = a->id,
        .host = a->host,
        .status = status,
        .exit_code = ev->exit_code,
        .has_exit_code = ev->type == SCHED_EV_FINISHED && ev->exit_code >= 0,
        .signal = ev->signal,
        .queued_ms = ev->queued_ms,
        .started_ms = ev->started_ms,
        .finished_ms = ev->finished_ms,
        .output = ev->output_tail,
        .output_len = ev->output_tail ? strlen(ev->output_tail) : 0,
        .error = ev->reason,
        .message = ev->reason,
        .fence = ev->fence, /* the job's SHARDCRON_FENCE; "" for a fire not run */
    };
    hist_writer_submit(a->hist, &h);
}

/* report_wf: the final result of a workflow item, to its driver. */
static void report_wf(struct agent *a, const struct sched_event *ev)
{
    if (!ev->wf || !ev->final || !a->wfd ||
        (ev->type != SCHED_EV_FINISHED && ev->type != SCHED_EV_SKIPPED &&
         ev->type != SCHED_EV_MISSED))
        return;
    const char *status = "failed";
    /* missed: the item never ran here (the driver asks again, not counting
     * it as a try). A refused retry of a run that did run and failed is
     * that run's failure. */
    if (ev->type == SCHED_EV_MISSED && ev->attempt <= 1)
        status = "missed";
    else if (ev->type == SCHED_EV_FINISHED && ev->status == EXEC_SUCCEEDED)
        status = "succeeded";
    else if (ev->reason && strcmp(ev->reason, SCHED_WF_CANCELLED) == 0)
        status = "cancelled";
    struct wfd_result res = {
        .status = status,
        .exit_code = ev->type == SCHED_EV_FINISHED ? ev->exit_code : -1,
        .exec_id = ev->exec_id,
        .started_ms = ev->started_ms,
        .ended_ms = ev->finished_ms,
        .reason = ev->reason && *ev->reason      ? ev->reason
                  : ev->type == SCHED_EV_SKIPPED ? "skipped by the job's concurrency policy"
                                                 : "",
        .xcom = ev->type == SCHED_EV_FINISHED ? ev->xcom : NULL,
        .captured = ev->type == SCHED_EV_FINISHED ? ev->captured : NULL,
    };
    wfd_item_done(a->wfd, ev->job, ev->item, ev->wf, &res);
}

static void on_sched_event(const struct sched_event *ev, void *arg)
{
    struct agent *a = arg;
    report(a, ev);
    report_wf(a, ev);
    switch (ev->type) {
    case SCHED_EV_STARTED:
        a->started++;
        /* Only cron fires: a manual, retry or catch-up start is late by design. */
        if (ev->trigger == EXEC_TRIGGER_CRON && ev->started_ms > 0)
            histo_observe(&a->start_delay, (double)(ev->started_ms - ev->fire_time * 1000) / 1e3);
        if (a->nruns == a->capruns) {
            int cap = a->capruns ? a->capruns * 2 : 64;
            struct live_run *n = realloc(a->runs, (size_t)cap * sizeof *n);
            if (!n)
                break;
            a->runs = n;
            a->capruns = cap;
        }
        struct live_run *r = &a->runs[a->nruns++];
        snprintf(r->job, sizeof r->job, "%s", ev->job);
        r->item = ev->item;
        r->fire = ev->fire_time;
        r->started_ms = ev->started_ms;
        snprintf(r->exec_id, sizeof r->exec_id, "%s", ev->exec_id);
        r->rerun = ev->origin == EXEC_TRIGGER_FAILOVER;
        r->pid = ev->pid; /* the runners list its group with the watchdog as it starts */
        LOGD("%s/%d started %s pid %d (fire %s, %s, attempt %d)", ev->job, ev->item, ev->exec_id,
             ev->pid, ev->fire_time_iso, exec_trigger_name(ev->trigger), ev->attempt);
        break;
    case SCHED_EV_FINISHED:
        a->finished++;
        histo_observe(&a->duration, (double)ev->duration_ms / 1e3);
        if (ev->status != EXEC_SUCCEEDED)
            a->failed++;
        runs_remove(a, ev->exec_id);
        coord_run_ended(a->coord, ev->job, ev->item, ev->fire_time);
        LOGI("%s/%d %s pid %d: %s (exit %d, signal %d, %lld ms)%s%s", ev->job, ev->item,
             ev->exec_id, ev->pid, exec_status_name(ev->status), ev->exit_code, ev->signal,
             (long long)ev->duration_ms, ev->reason && *ev->reason ? ": " : "",
             ev->reason ? ev->reason : "");
        /* A lost item that was still running has now stopped (also when it
         * came back here meanwhile: its new run waits for this one). */
        if (!runs_of(a, ev->job, ev->item))
            coord_set_draining(a->coord, ev->job, ev->item, false);
        break;
    case SCHED_EV_MISSED:
        a->missed++;
        LOGW("%s/%d missed fire %s: %s", ev->job, ev->item, ev->fire_time_iso, ev->reason);
        break;
    case SCHED_EV_SKIPPED:
        a->skipped++;
        LOGI("%s/%d skipped fire %s: %s", ev->job, ev->item, ev->fire_time_iso, ev->reason);
        break;
    case SCHED_EV_PAUSED:
        a->paused++;
        LOGI("%s/%d fire %s not run: %s", ev->job, ev->item, ev->fire_time_iso, ev->reason);
        break;
    case SCHED_EV_CLOCK_JUMP:
        LOGW("wall clock jumped %lld ms", (long long)ev->jump_ms);
        coord_clock_suspect(a->coord);
        break;
    case SCHED_EV_QUEUED:
        break;
    }
}

/* guard_cb: keep the watchdog's deadline at the point where our lease runs
 * out; if this loop stops running (SIGSTOP, a hang), the deadline stays and
 * the watchdog kills the executions before ZooKeeper can hand them over.
 * It also checks the watchdog is alive (its stamp on the shared page): one
 * that died or was stopped is replaced at once; while none can be had, the
 * agent starts nothing (guarded_start) and kills what runs, since nothing
 * would kill it when the lease ends. */
static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd, (void)what;
    bool was_down = a->wd_down;
    a->wd_down = watchdog_check(a->wd, WATCHDOG_STALE_MS) < 0;
    if (a->wd_down && !was_down)
        sched_kill_all(a->sched, "no execution watchdog: it died and could not be replaced");
    else if (was_down && !a->wd_down)
        LOGN("execution watchdog back: starting work again");
    struct zkreg *z = coord_zk(a->coord);
    enum zkreg_state st = zkreg_state(z);
    if (st != ZKREG_CONNECTED && st != ZKREG_SUSPENDED)
        return; /* keep the old deadline: it has passed or will */
    int t = zkreg_timeout_ms(z), margin = t / 10 > 100 ? t / 10 : 100;
    watchdog_deadline(a->wd, exec_now_mono_ms() - zkreg_lease_age_ms(z) + t - margin);
}

/* publish_cb: once a second, the runs older than a second go into the agent's
 * record, so a survivor can re-run them if this agent dies (never per fire).
 * Failover re-runs are left out: a fire is re-run once at most. */
static void publish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    const char *jobs[256];
    int items[256];
    int64_t fires[256];
    int n = 0;
    int64_t now = exec_now_real_ms();
    (void)fd, (void)what;
    for (int i = 0; i < a->nruns && n < 256; i++)
        if (!a->runs[i].rerun && now - a->runs[i].started_ms >= 1000) {
            jobs[n] = a->runs[i].job;
            items[n] = a->runs[i].item;
            fires[n] = a->runs[i].fire;
            n++;
        }
    coord_set_running(a->coord, jobs, items, fires, n);
    /* the log disk's free share, for the leader's abnormal-agent alerts (the
     * record is written only when it moves by 5 %) */
    struct statvfs sv;
    if (now - a->disk_checked_ms >= 10000 && statvfs(a->logs, &sv) == 0 && sv.f_blocks > 0) {
        a->disk_checked_ms = now;
        coord_set_log_disk(a->coord, (int)((sv.f_bavail * 100) / sv.f_blocks));
    }
}

/* ---------------------------------------------------------------- HTTP */

/* runs_json: every run in flight with what identifies it on this host. */
static void runs_json(struct agent *a, cJSON *o)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "runs");
    for (int i = 0; i < a->nruns; i++) {
        const struct live_run *r = &a->runs[i];
        int pid = r->pid;
        if (!pid && a->javaw) /* a Java run whose worker was still starting */
            pid = (int)javaw_pid_of(a->javaw, r->exec_id);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "job", r->job);
        cJSON_AddNumberToObject(e, "item", r->item);
        cJSON_AddNumberToObject(e, "fire", (double)r->fire);
        cJSON_AddStringToObject(e, "execution_id", r->exec_id);
        cJSON_AddNumberToObject(e, "pid", pid);
        cJSON_AddNumberToObject(e, "started_ms", (double)r->started_ms);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON *w = cJSON_AddObjectToObject(o, "watchdog");
    cJSON_AddNumberToObject(w, "pid", a->wd ? (double)watchdog_pid(a->wd) : 0);
    cJSON_AddNumberToObject(w, "restarts", a->wd ? (double)watchdog_restarts(a->wd) : 0);
    cJSON_AddNumberToObject(w, "kills", a->wd ? (double)watchdog_kills(a->wd) : 0);
    cJSON_AddBoolToObject(w, "ok", a->wd && !a->wd_down);
}

static void status_cb(struct evhttp_request *req, void *arg)
{
    struct agent *a = arg;
    cJSON *o = cJSON_CreateObject();
    coord_status(a->coord, o);
    cJSON *running = cJSON_AddObjectToObject(o, "running");
    for (int i = 0; i < a->nruns; i++) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(running, a->runs[i].job);
        if (!arr)
            arr = cJSON_AddArrayToObject(running, a->runs[i].job);
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(a->runs[i].item));
    }
    runs_json(a, o);
    http_reply_json(req, 200, o);
    cJSON_Delete(o);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
    struct agent *a = arg;
    struct coord_stats s;
    char buf[16384];
    struct hist_writer_stats hs = {0};
    struct maint_alert_stats as;
    maint_alert_stats(a->maint, &as);
    if (a->hist)
        hist_writer_stats(a->hist, &hs);
    struct sched_prearm_stats ps = {0};
    if (a->sched)
        sched_prearm_stats(a->sched, &ps);
    coord_stats(a->coord, &s);
    enum zkreg_state st = zkreg_state(coord_zk(a->coord));
    int n = snprintf(
        buf, sizeof buf,
        "# TYPE shardcron_agent_leader gauge\nshardcron_agent_leader %d\n"
        "# TYPE shardcron_agent_epoch gauge\nshardcron_agent_epoch %lld\n"
        "# TYPE shardcron_agent_applied_epoch gauge\nshardcron_agent_applied_epoch %lld\n"
        "# TYPE shardcron_agent_owned_items gauge\nshardcron_agent_owned_items %lld\n"
        "# TYPE shardcron_agent_pending_items gauge\nshardcron_agent_pending_items %lld\n"
        "# TYPE shardcron_agent_draining_items gauge\nshardcron_agent_draining_items %lld\n"
        "# TYPE shardcron_agent_jobs gauge\nshardcron_agent_jobs %lld\n"
        "# TYPE shardcron_agent_invalid_jobs gauge\nshardcron_agent_invalid_jobs %lld\n"
        "# TYPE shardcron_agent_agents_alive gauge\nshardcron_agent_agents_alive %lld\n"
        "# TYPE shardcron_agent_clock_skew_ms gauge\nshardcron_agent_clock_skew_ms %lld\n"
        "# TYPE shardcron_agent_epochs_applied_total counter\n"
        "shardcron_agent_epochs_applied_total %lld\n"
        "# TYPE shardcron_agent_publishes_total counter\nshardcron_agent_publishes_total %lld\n"
        "# TYPE shardcron_agent_deposed_total counter\nshardcron_agent_deposed_total %lld\n"
        "# TYPE shardcron_agent_sessions_lost_total counter\n"
        "shardcron_agent_sessions_lost_total %lld\n"
        "# TYPE shardcron_agent_session_state gauge\n"
        "shardcron_agent_session_state{state=\"connected\"} %d\n"
        "shardcron_agent_session_state{state=\"suspended\"} %d\n"
        "# TYPE shardcron_agent_executions_started_total counter\n"
        "shardcron_agent_executions_started_total %lld\n"
        "# TYPE shardcron_agent_executions_finished_total counter\n"
        "shardcron_agent_executions_finished_total %lld\n"
        "# TYPE shardcron_agent_executions_failed_total counter\n"
        "shardcron_agent_executions_failed_total %lld\n"
        "# TYPE shardcron_agent_fires_missed_total counter\nshardcron_agent_fires_missed_total "
        "%lld\n"
        "# TYPE shardcron_agent_fires_skipped_total counter\n"
        "shardcron_agent_fires_skipped_total %lld\n"
        "# TYPE shardcron_agent_starts_refused_total counter\n"
        "shardcron_agent_starts_refused_total %lld\n"
        "# TYPE shardcron_agent_running gauge\nshardcron_agent_running %d\n"
        "# TYPE shardcron_agent_queued gauge\nshardcron_agent_queued %d\n"
        "# TYPE shardcron_agent_history_written_total counter\n"
        "shardcron_agent_history_written_total %llu\n"
        "# TYPE shardcron_agent_history_spooled_total counter\n"
        "shardcron_agent_history_spooled_total %llu\n"
        "# TYPE shardcron_agent_history_dropped_total counter\n"
        "shardcron_agent_history_dropped_total %llu\n"
        "# TYPE shardcron_agent_history_spool_bytes gauge\nshardcron_agent_history_spool_bytes "
        "%llu\n"
        "# TYPE shardcron_agent_history_pending gauge\nshardcron_agent_history_pending %llu\n"
        "# TYPE shardcron_agent_history_connected gauge\nshardcron_agent_history_connected %d\n"
        "# TYPE shardcron_agent_history_spool_full gauge\nshardcron_agent_history_spool_full %d\n"
        "# TYPE shardcron_agent_watchdog_kills_total counter\n"
        "shardcron_agent_watchdog_kills_total %lld\n"
        "# TYPE shardcron_agent_alert_evaluations_total counter\n"
        "shardcron_agent_alert_evaluations_total{result=\"ok\"} %llu\n"
        "shardcron_agent_alert_evaluations_total{result=\"error\"} %llu\n"
        "# TYPE shardcron_agent_alerts_total counter\n"
        "shardcron_agent_alerts_total{event=\"open\"} %llu\n"
        "shardcron_agent_alerts_total{event=\"resolve\"} %llu\n"
        "shardcron_agent_alerts_total{event=\"reminder\"} %llu\n"
        "shardcron_agent_alerts_total{event=\"silenced\"} %llu\n"
        "# TYPE shardcron_agent_webhooks_total counter\n"
        "shardcron_agent_webhooks_total{result=\"sent\"} %llu\n"
        "shardcron_agent_webhooks_total{result=\"failed\"} %llu\n"
        "shardcron_agent_webhooks_total{result=\"dropped\"} %llu\n"
        "# TYPE shardcron_agent_webhooks_queued gauge\nshardcron_agent_webhooks_queued %llu\n"
        "# TYPE shardcron_agent_alert_outbox_total counter\n"
        "shardcron_agent_alert_outbox_total{result=\"delivered\"} %llu\n"
        "shardcron_agent_alert_outbox_total{result=\"retried\"} %llu\n"
        "shardcron_agent_alert_outbox_total{result=\"failed_over\"} %llu\n"
        "shardcron_agent_alert_outbox_total{result=\"escalated\"} %llu\n"
        "# TYPE shardcron_agent_prearmed_total counter\nshardcron_agent_prearmed_total %lld\n"
        "# TYPE shardcron_agent_prearm_released_total counter\n"
        "shardcron_agent_prearm_released_total %lld\n",
        coord_is_leader(a->coord), (long long)coord_epoch(a->coord),
        (long long)coord_applied_epoch(a->coord), (long long)s.owned_items,
        (long long)s.pending_items, (long long)s.draining_items, (long long)s.jobs,
        (long long)s.invalid_jobs, (long long)s.agents_alive, (long long)s.skew_ms,
        (long long)s.epochs_applied, (long long)s.publishes, (long long)s.deposed,
        (long long)s.sessions_lost, st == ZKREG_CONNECTED, st == ZKREG_SUSPENDED,
        (long long)a->started, (long long)a->finished, (long long)a->failed, (long long)a->missed,
        (long long)a->skipped, (long long)a->refused, a->sched ? sched_running(a->sched) : 0,
        a->sched ? sched_queued(a->sched) : 0, (unsigned long long)hs.written,
        (unsigned long long)hs.spooled, (unsigned long long)hs.dropped,
        (unsigned long long)hs.spool_bytes, (unsigned long long)hs.pending, hs.connected,
        hs.spool_full, a->wd ? (long long)watchdog_kills(a->wd) : 0LL,
        (unsigned long long)as.evaluations, (unsigned long long)as.eval_errors,
        (unsigned long long)as.opened, (unsigned long long)as.resolved,
        (unsigned long long)as.reminders, (unsigned long long)as.silenced,
        (unsigned long long)as.sent, (unsigned long long)as.failed, (unsigned long long)as.dropped,
        (unsigned long long)as.queued, (unsigned long long)as.delivered,
        (unsigned long long)as.retried, (unsigned long long)as.failovers,
        (unsigned long long)as.escalations, (long long)ps.armed, (long long)ps.released);
    struct wfd_stats ws = {0};
    if (a->wfd)
        wfd_stats(a->wfd, &ws);
    if (n > 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      "# TYPE shardcron_agent_fires_paused_total counter\n"
                      "shardcron_agent_fires_paused_total %lld\n"
                      "# TYPE shardcron_agent_pause_held gauge\n"
                      "shardcron_agent_pause_held %d\n",
                      (long long)a->paused, pausehold_held(a->pause));
    if (n > 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      "# TYPE shardcron_agent_workflow_runs_active gauge\n"
                      "shardcron_agent_workflow_runs_active %d\n"
                      "# TYPE shardcron_agent_workflow_runs_created_total counter\n"
                      "shardcron_agent_workflow_runs_created_total %llu\n"
                      "# TYPE shardcron_agent_workflow_tasks_started_total counter\n"
                      "shardcron_agent_workflow_tasks_started_total %llu\n"
                      "# TYPE shardcron_agent_workflow_requests_total counter\n"
                      "shardcron_agent_workflow_requests_total %llu\n"
                      "# TYPE shardcron_agent_workflow_writes_total counter\n"
                      "shardcron_agent_workflow_writes_total{result=\"sent\"} %llu\n"
                      "shardcron_agent_workflow_writes_total{result=\"failed\"} %llu\n"
                      "# TYPE shardcron_agent_workflow_results_total counter\n"
                      "shardcron_agent_workflow_results_total %llu\n",
                      ws.runs_active, (unsigned long long)ws.runs_created,
                      (unsigned long long)ws.tasks_started, (unsigned long long)ws.requests,
                      (unsigned long long)ws.writes, (unsigned long long)ws.write_failures,
                      (unsigned long long)ws.results);
    if (n > 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      "# TYPE shardcron_agent_logs_pruned_total counter\n"
                      "shardcron_agent_logs_pruned_total %llu\n",
                      (unsigned long long)logsweep_deleted(a->logsweep));
    if (n > 0 && (size_t)n < sizeof buf)
        n += histo_write(&a->start_delay, "shardcron_agent_start_delay_seconds",
                         "Cron fires: from the scheduled second to the process start.", buf + n,
                         sizeof buf - (size_t)n);
    if (n > 0 && (size_t)n < sizeof buf)
        n +=
            histo_write(&a->duration, "shardcron_agent_execution_duration_seconds",
                        "Finished executions: how long each ran.", buf + n, sizeof buf - (size_t)n);
    if (n < 0 || (size_t)n >= sizeof buf) {
        http_reply_error(req, 500, "", "metrics do not fit");
        return;
    }
    http_reply_text(req, 200, "text/plain; version=0.0.4", buf, (size_t)n);
}

static void http_cb(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path && strcmp(path, "/status") == 0)
        status_cb(req, arg);
    else if (path && strcmp(path, "/metrics") == 0)
        metrics_cb(req, arg);
    else
        http_reply_error(req, 404, "", "no such endpoint (try /status or /metrics)");
}

/* ---------------------------------------------------------------- start-up and shutdown */

/* drain_cb: after SIGTERM, wait (bounded) for killed executions to be reaped,
 * then leave the loop; closing the session afterwards hands the items over. */
static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    static int waited_ms;
    (void)fd, (void)what;
    waited_ms += 50;
    if (sched_running(a->sched) == 0 || waited_ms > 15000) {
        event_base_loopexit(a->base, NULL);
        return;
    }
    struct timeval tv = {0, 50000};
    event_base_once(a->base, -1, EV_TIMEOUT, drain_cb, a, &tv);
}

static void term_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    (void)what;
    if (a->stopping)
        return;
    a->stopping = true;
    /* Nothing may outlive our ownership: running executions are killed
     * (status killed) before the session closes and the items move. */
    sched_set_paused(a->sched, true);
    int n = sched_kill_all(a->sched, "agent shutting down");
    LOGN("signal %d: shutting down (%d executions killed)", (int)sig, n);
    drain_cb(-1, 0, a);
}

/* default_jar: build/bin/<agent> -> build/java/shardcron-java.jar */
static void default_jar(char *buf, size_t len)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    buf[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(buf, len, "%s/../java/shardcron-java.jar", exe);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0750) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(buf, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* split_labels: "a,b" -> array (the caller frees the array and *store). */
static const char **split_labels(const char *s, int *n, char **store)
{
    const char **v = calloc(strlen(s) / 2 + 2, sizeof *v);
    *n = 0;
    *store = strdup(s);
    if (!v || !*store)
        return v;
    for (char *save = NULL, *t = strtok_r(*store, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t)
            v[(*n)++] = t;
    return v;
}

int agent_run(const struct cfg *c)
{
    struct agent a = {0};
    struct sc_err err;
    char host[256], msg[512], *label_store = NULL;
    long long capacity, timeout_ms, skew_ms, prearm_ms;
    int nlabels = 0, port = 0, rc = 1;
    char *auth = NULL;
    const char **labels = NULL;

    sc_err_clear(&err);
    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    memcpy(a.host, host, sizeof a.host);
    /* A cron fire is due at its second: sub-second buckets say how close. */
    static const double delay_le[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1,     2,    5,     10,   30,  60};
    static const double duration_le[] = {0.1, 0.5, 1,    5,    10,   30,   60,
                                         300, 900, 1800, 3600, 7200, 21600};
    histo_init(&a.start_delay, delay_le, (int)(sizeof delay_le / sizeof delay_le[0]));
    histo_init(&a.duration, duration_le, (int)(sizeof duration_le / sizeof duration_le[0]));
    snprintf(a.id, sizeof a.id, "%.128s", cfg_str(c, "id") ? cfg_str(c, "id") : host);
    if (cfg_int(c, "capacity", 1, 100000, &capacity, &err) < 0 ||
        cfg_int(c, "session_timeout_ms", 400, 600000, &timeout_ms, &err) < 0 ||
        cfg_int(c, "max_clock_skew_ms", 1, 3600000, &skew_ms, &err) < 0 ||
        cfg_int(c, "prearm_ms", 0, 5000, &prearm_ms, &err) < 0) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        return 2;
    }
    const char *work = cfg_str(c, "work_dir");
    if (mkdir_p(work) < 0) {
        fprintf(stderr, "shardcron-agent: work_dir: cannot create %s: %s\n", work, strerror(errno));
        return 2;
    }
    if (cfg_str(c, "secrets") && *cfg_str(c, "secrets") &&
        agent_secrets_check(cfg_str(c, "secrets"), &err) < 0) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        return 2;
    }
    if (cfg_str(c, "zk_auth_file") && !(auth = cfg_read_secret(cfg_str(c, "zk_auth_file"), &err))) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        return 2;
    }
    labels = split_labels(cfg_str(c, "labels") ? cfg_str(c, "labels") : "", &nlabels, &label_store);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    /* Precise timers: the default monotonic clock of libevent is the coarse one
     * (a jiffy), which would make fires up to a jiffy late. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    a.base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!a.base || !labels)
        goto out;
    a.http = http_listen(a.base, cfg_str(c, "http"), &(struct http_limits){.max_body = 64 * 1024},
                         &port, &err);
    if (!a.http) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    http_set_handler(a.http, http_cb, &a);
    {
        char path[4200];
        snprintf(path, sizeof path, "%s/http.port", work);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
        }
    }
    struct zkreg_opts zo = {
        .hosts = cfg_str(c, "zk"),
        .ns = cfg_str(c, "namespace"),
        .session_timeout_ms = (int)timeout_ms,
        .auth = auth,
    };
    /* History: optional; without --mysql executions are only logged. */
    if (cfg_str(c, "mysql")) {
        struct db_url url;
        char spool[4200], *pw = NULL;
        if (db_url_parse(cfg_str(c, "mysql"), &url, &err) < 0 ||
            (cfg_str(c, "mysql_password_file") &&
             !(pw = cfg_read_secret(cfg_str(c, "mysql_password_file"), &err)))) {
            fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
            rc = 2;
            goto out;
        }
        snprintf(spool, sizeof spool, "%s/spool", work);
        struct hist_writer_opts ho = {.url = &url, .password = pw, .spool_path = spool};
        int hrc = hist_writer_open(&ho, &a.hist, &err);
        long long days = 30, alert_ms = 5000, reminder_s = 3600, hook_ms = 5000, hook_q = 64,
                  group_ms = 10000, disk_pct = 10;
        long long failover_s = 300, retry_max_s = 60, give_up_s = 86400;
        char *channels = NULL;
        if (hrc == 0 &&
            (cfg_int(c, "retention_days", 1, 36500, &days, &err) == -EINVAL ||
             cfg_int(c, "alert_interval_ms", 0, 3600000, &alert_ms, &err) == -EINVAL ||
             cfg_int(c, "alert_reminder_s", 1, 7 * 86400, &reminder_s, &err) == -EINVAL ||
             cfg_int(c, "alert_group_ms", 0, 3600000, &group_ms, &err) == -EINVAL ||
             cfg_int(c, "log_disk_min_free_pct", 0, 100, &disk_pct, &err) == -EINVAL ||
             cfg_int(c, "webhook_timeout_ms", 100, 60000, &hook_ms, &err) == -EINVAL ||
             cfg_int(c, "webhook_queue", 1, 100000, &hook_q, &err) == -EINVAL ||
             cfg_int(c, "alert_failover_s", 1, 7 * 86400, &failover_s, &err) == -EINVAL ||
             cfg_int(c, "alert_retry_max_s", 1, 86400, &retry_max_s, &err) == -EINVAL ||
             cfg_int(c, "alert_give_up_s", 60, 30 * 86400, &give_up_s, &err) == -EINVAL ||
             alert_channels_load(cfg_str(c, "alert_channels_file"), &channels, &err) < 0)) {
            fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
            free(pw);
            rc = 2;
            goto out;
        }
        struct maint_opts mo = {
            .url = &url,
            .password = pw,
            .retention_days = (unsigned)days,
            .period_s = 300,
            .alert_interval_ms = (int)alert_ms,
            .alert_reminder_s = (int)reminder_s,
            .alert_group_ms = (int)group_ms,
            .alert_webhook = cfg_str(c, "alert_webhook"),
            .webhook_timeout_ms = (int)hook_ms,
            .webhook_queue = (int)hook_q,
            .base = a.base,
            .sender = a.id,
            .job = alert_job,
            .workflow_channels = alert_workflow,
            .ctx = &a,
            .secrets = cfg_str(c, "secrets"),
            .ack_url = cfg_str(c, "alert_ack_url"),
            .channels = channels,
            .failover_s = (int)failover_s,
            .retry_max_s = (int)retry_max_s,
            .give_up_s = (int)give_up_s,
        };
        if (hrc == 0 && maint_start(&mo, &a.maint) < 0)
            LOGW("history housekeeping thread not started");
        a.alert_ms = (int)alert_ms;
        a.alert_skew_ms = (int)skew_ms;
        a.log_min_free_pct = (int)disk_pct;
        free(channels);
        free(pw);
        if (hrc < 0) {
            fprintf(stderr, "shardcron-agent: history: %s\n", sc_err_format(&err, msg, sizeof msg));
            rc = 2;
            goto out;
        }
    }
    /* The watchdog is forked here; it only makes async-signal-safe calls, so the
     * history thread already running does not matter. */
    int wrc = watchdog_start(&a.wd);
    if (wrc < 0) {
        /* Without it, the runs of a frozen agent would outlive its lease. */
        fprintf(stderr, "shardcron-agent: cannot start the execution watchdog: %s\n",
                strerror(-wrc));
        rc = 2;
        goto out;
    }
    /* Execution: shell processes, warm JVMs, the scheduler behind the lease check. */
    char logs[4200], jar[4200];
    snprintf(logs, sizeof logs, "%s/logs", work);
    mkdir_p(logs);
    snprintf(a.logs, sizeof a.logs, "%s", logs);
    long long keep_days = 14;
    if (cfg_int(c, "log_retention_days", 0, 36500, &keep_days, &err) == -EINVAL) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    if (logsweep_new(a.base, logs, (int)keep_days, 3600, &a.logsweep) < 0)
        LOGW("execution logs will not be pruned (out of memory)");
    else
        logsweep_now(a.logsweep); /* once at start, then hourly */
    /* Pre-armed starts need the gate library installed beside this binary. */
    char gate[4200];
    if (prearm_ms > 0 && exec_gate_find(gate, sizeof gate) < 0) {
        LOGW("starts are not pre-armed: shardcron-gate.so is not installed beside the agent");
        prearm_ms = 0;
    }
    struct exec_runner_opts eo = {.gate_path = prearm_ms > 0 ? gate : NULL, .guard = a.wd};
    if (exec_runner_new(a.base, &eo, &a.exec) < 0) {
        fprintf(stderr, "shardcron-agent: cannot set up the process runner\n");
        goto out;
    }
    if (cfg_str(c, "java_jar") && *cfg_str(c, "java_jar"))
        snprintf(jar, sizeof jar, "%s", cfg_str(c, "java_jar"));
    else
        default_jar(jar, sizeof jar);
    if (access(jar, R_OK) == 0) {
        struct javaw_opts jo = {.jar = jar, .log_dir = logs, .guard = a.wd};
        if (javaw_pool_new(a.base, a.exec, &jo, &a.javaw) < 0)
            LOGW("java jobs disabled: cannot set up the worker pool");
    } else {
        LOGW("java jobs disabled: %s not found (build it with make, or set java_jar)", jar);
    }
    a.ar.exec = a.exec;
    a.ar.javaw = a.javaw;
    snprintf(a.ar.log_dir, sizeof a.ar.log_dir, "%.500s", logs);
    snprintf(a.ar.secrets, sizeof a.ar.secrets, "%.1000s",
             cfg_str(c, "secrets") ? cfg_str(c, "secrets") : "");
    a.inner = agent_runner_ops(&a.ar);
    a.pause = pausehold_new(a.base);
    struct sched_opts so = {
        .capacity = (int)capacity,
        .runner = {.start = guarded_start,
                   .kill = guarded_kill,
                   .ctx = &a,
                   .prepare = guarded_prepare,
                   .release = guarded_release,
                   .cancel = guarded_cancel,
                   .pid = guarded_pid},
        .on_event = on_sched_event,
        .event_arg = &a,
        .prearm_ms = (int)prearm_ms,
        .epoch = run_epoch,
        .epoch_ctx = &a,
        .on_backlog = on_backlog,
        .backlog_ctx = &a,
        .owes = owes,
        .owes_ctx = &a,
        .paused = pausehold_paused,
        .paused_ctx = a.pause,
    };
    if (!a.pause || sched_new(a.base, &so, &a.sched) < 0) {
        fprintf(stderr, "shardcron-agent: cannot set up the scheduler\n");
        goto out;
    }
    sched_set_paused(a.sched, true); /* until coordination says we may run */
    a.ev_sync = evtimer_new(a.base, sync_cb, &a);
    a.ev_publish = event_new(a.base, -1, EV_PERSIST, publish_cb, &a);
    struct timeval one_s = {1, 0};
    event_add(a.ev_publish, &one_s);

    struct coord_opts co = {
        .id = a.id,
        .host = host,
        .labels = labels,
        .nlabels = nlabels,
        .capacity = (int)capacity,
        .max_clock_skew_ms = (int)skew_ms,
        .on_change = on_change,
        .on_lost = on_lost,
        .on_fatal = on_fatal,
        .is_running = is_running,
        .on_trigger = on_trigger,
        .on_trigger_unrun = on_trigger_unrun,
        .ctx = &a,
    };
    if (coord_open(a.base, &zo, &co, &a.coord, &err) < 0) {
        fprintf(stderr, "shardcron-agent: %s\n", sc_err_format(&err, msg, sizeof msg));
        rc = 2;
        goto out;
    }
    pausehold_attach(a.pause, a.coord, a.sched);
    if (a.backlog_s)
        coord_set_backlog(a.coord, a.backlog_s);
    {
        struct wfd_hooks wh = {.record_run = wf_record_run,
                               .record_task = wf_record_task,
                               .record_xcom = wf_record_xcom,
                               .kill = wf_kill,
                               .ctx = &a};
        if (wfd_open(a.base, a.coord, a.id, &wh, &a.wfd) < 0)
            goto out;
    }
    if (items_new(a.sched, a.coord, work, &a.items) < 0)
        goto out;
    if (a.maint && a.alert_ms > 0) {
        struct timeval iv = {a.alert_ms / 1000, (a.alert_ms % 1000) * 1000};
        a.ev_noagent = event_new(a.base, -1, EV_PERSIST, noagent_cb, &a);
        if (a.ev_noagent)
            event_add(a.ev_noagent, &iv);
    }
    {
        struct timeval tenth = {0, 100000};
        a.ev_guard = event_new(a.base, -1, EV_PERSIST, guard_cb, &a);
        event_add(a.ev_guard, &tenth);
    }
    a.ev_term = evsignal_new(a.base, SIGTERM, term_cb, &a);
    a.ev_int = evsignal_new(a.base, SIGINT, term_cb, &a);
    event_add(a.ev_term, NULL);
    event_add(a.ev_int, NULL);
    LOGN("agent %s started: zk %s namespace %s, http 127.0.0.1:%d, capacity %lld, labels %s", a.id,
         cfg_str(c, "zk"), cfg_str(c, "namespace"), port, capacity,
         cfg_str(c, "labels") ? cfg_str(c, "labels") : "");
    event_base_dispatch(a.base);
    rc = a.exit_code;
    LOGN("agent %s stopped", a.id);
out:
    /* Closing the session removes our record and election node at once, so the
     * leader moves our items without waiting for a session timeout. */
    wfd_detach(a.wfd); /* results from here on are not reported: the driver retries */
    coord_close(a.coord);
    pausehold_free(a.pause); /* its timer would trigger through the scheduler freed below */
    items_free(a.items);
    /* The adapters go first (they must not report to a freed scheduler), then
     * the scheduler. */
    javaw_pool_free(a.javaw);
    exec_runner_free(a.exec);
    sched_free(a.sched);
    wfd_close(a.wfd);
    /* What MySQL does not take within 5 s stays in the spool for the next start. */
    hist_writer_close(a.hist, 5000);
    maint_stop(a.maint);
    logsweep_free(a.logsweep);
    watchdog_stop(a.wd);
    if (a.ev_guard)
        event_free(a.ev_guard);
    free(a.runs);
    if (a.ev_sync)
        event_free(a.ev_sync);
    if (a.ev_publish)
        event_free(a.ev_publish);
    if (a.ev_noagent)
        event_free(a.ev_noagent);
    free(a.na);
    {
        const char *k;
        void *v;
        for (size_t it = 0; strmap_next(&a.agent_seen, &it, &k, &v);)
            free(v);
        strmap_free(&a.agent_seen);
    }
    http_server_free(a.http);
    if (a.ev_term)
        event_free(a.ev_term);
    if (a.ev_int)
        event_free(a.ev_int);
    if (a.base)
        event_base_free(a.base);
    free(labels);
    free(label_store);
    free(auth);
    return rc;
}
