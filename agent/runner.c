/* agent/runner.c: dispatch of scheduler runs to the shell or Java adapter. */
#define LOG_CAT "shardcron.exec"
#include "agent/runner.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/javaw.h"
#include "agent/secrets.h"
#include "agent/wfctx.h"
#include "core/json.h"
#include "core/log.h"
#include "core/tz.h"

void agent_runner_log_path(const struct agent_runner *ar, const char *job, int item,
                           const char *exec_id, char *buf, size_t len)
{
    if (!ar->log_dir[0]) {
        buf[0] = '\0';
        return;
    }
    char safe[256];
    size_t i = 0;
    for (; i < sizeof safe - 1 && job[i]; i++) {
        char c = job[i];
        safe[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '_' || c == '.'
                      ? c
                      : '_';
    }
    safe[i] = '\0';
    snprintf(buf, len, "%s/%s.%d.%s.log", ar->log_dir, safe, item, exec_id);
}

static void on_exec_done(const struct exec_result *res, void *token)
{
    sched_run_done(token, res);
}

static struct exec_job_env env_of(const struct sched_launch *l)
{
    const struct sched_item_conf *c = l->conf;
    return (struct exec_job_env){
        .job = c->job,
        .shard_item = c->item,
        .shard_total = c->total,
        .shard_param = c->shard_param,
        .job_param = l->job_param,
        .fire_time = l->fire_time_iso,
        .execution_id = l->exec_id,
        .trigger = l->trigger,
        .attempt = l->attempt,
        .fence = l->fence,
        .epoch = l->epoch,
    };
}

/* wf_store: the exec_wf of a workflow run (l->wf) and the storage it points
 * into (filled by wf_build, freed by wf_release). wf_build: 0 or -errno with
 * err filled (the context's time zone is unknown here). */
struct wf_store {
    struct exec_wf wf;
    const char **names, **values;
    char *xcom_in;
    char time[40];
};

static int wf_build(const struct agent_runner *ar, const struct sched_launch *l,
                    struct wf_store *st, struct sc_err *err)
{
    const struct wfctx *c = l->wf;
    memset(st, 0, sizeof *st);
    tz_zone *z = tz_load(c->timezone, err);
    if (!z)
        return -EINVAL;
    int64_t t = c->logical_ms >= 0 ? c->logical_ms / 1000 : -((-c->logical_ms + 999) / 1000);
    exec_format_time(t, tz_offset(z, t), st->time, sizeof st->time);
    tz_free(z);
    int n = cJSON_GetArraySize(c->params);
    st->names = calloc((size_t)n + 1, sizeof *st->names);
    st->values = calloc((size_t)n + 1, sizeof *st->values);
    st->xcom_in = c->xcom_in ? json_print(c->xcom_in) : NULL;
    if (!st->names || !st->values || (c->xcom_in && !st->xcom_in)) {
        free(st->names);
        free(st->values);
        free(st->xcom_in);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    int k = 0;
    for (const cJSON *p = c->params->child; p && k < n; p = p->next, k++) {
        st->names[k] = p->string;
        st->values[k] = p->valuestring;
    }
    const char *dir = ar->work_dir[0]                         ? ar->work_dir
                      : ar->log_dir[0]                        ? ar->log_dir
                      : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR")
                                                              : "/tmp";
    st->wf = (struct exec_wf){.workflow = c->workflow,
                              .run_id = c->run_id,
                              .task = c->task,
                              .logical_time = st->time,
                              .param_names = st->names,
                              .param_values = st->values,
                              .nparams = k,
                              .xcom_in = st->xcom_in,
                              .work_dir = dir,
                              .capture = c->capture};
    return 0;
}

static void wf_release(struct wf_store *st)
{
    free(st->names);
    free(st->values);
    free(st->xcom_in);
}

/* shell: exec_start (held false) or exec_prepare (held true) of a shell item. */
static int shell(struct agent_runner *ar, const struct sched_launch *l, void *token, void **handle,
                 bool held, struct sc_err *err)
{
    const struct sched_item_conf *c = l->conf;
    char log_path[1024];
    agent_runner_log_path(ar, c->job, c->item, l->exec_id, log_path, sizeof log_path);
    char **extra = NULL;
    /* Secrets are read at each start: a rotated value reaches the next run. */
    if (c->nenv > 0 && agent_env_build(ar->secrets, c->env, c->nenv, &extra, err) < 0) {
        LOGW("%s/%d %s not started: %s: %s", c->job, c->item, l->exec_id, err->field, err->msg);
        return -EINVAL;
    }
    struct wf_store wst;
    if (l->wf && wf_build(ar, l, &wst, err) < 0) {
        agent_env_free(extra);
        return -EINVAL;
    }
    struct exec_spec spec = {
        .wf = l->wf ? &wst.wf : NULL,
        .command = c->command,
        .cwd = c->cwd,
        .log_path = log_path[0] ? log_path : NULL,
        .timeout_ms = c->timeout_s * 1000,
        .env = env_of(l),
        .extra_env = (const char *const *)extra,
    };
    int rc = (held ? exec_prepare : exec_start)(ar->exec, &spec, on_exec_done, token,
                                                (struct exec_proc **)handle, err);
    agent_env_free(extra);
    if (l->wf)
        wf_release(&wst);
    return rc;
}

static int start(void *ctx, const struct sched_launch *l, void *token, void **handle,
                 struct sc_err *err)
{
    struct agent_runner *ar = ctx;
    const struct sched_item_conf *c = l->conf;
    if (c->type == SCHED_JOB_JAVA) {
        if (!ar->javaw)
            return sc_err_set(err, ENOTSUP, "type", -1, "java jobs are not enabled on this agent");
        struct wf_store wst;
        if (l->wf && wf_build(ar, l, &wst, err) < 0)
            return -EINVAL;
        struct javaw_run jr = {.classpath = c->java_classpath,
                               .class_name = c->java_class,
                               .jvm_opts = c->jvm_opts,
                               .timeout_ms = c->timeout_s * 1000,
                               .env = env_of(l),
                               .wf = l->wf ? &wst.wf : NULL};
        int rc =
            javaw_submit(ar->javaw, &jr, on_exec_done, token, (struct javaw_exec **)handle, err);
        if (l->wf)
            wf_release(&wst);
        return rc;
    }
    return shell(ar, l, token, handle, false, err);
}

/* Pre-arming: shell items only (a Java execution is a message to a warm worker). */
static int prepare(void *ctx, const struct sched_launch *l, void *token, void **handle,
                   struct sc_err *err)
{
    if (l->conf->type != SCHED_JOB_SHELL)
        return sc_err_set(err, ENOTSUP, "type", -1, "only shell starts are pre-armed");
    return shell(ctx, l, token, handle, true, err);
}

static int release(void *ctx, void *handle, const struct sched_item_conf *conf, int64_t fire_time)
{
    (void)fire_time;
    (void)ctx, (void)conf;
    return exec_release(handle);
}

static void cancel(void *ctx, void *handle, const struct sched_item_conf *conf)
{
    (void)ctx, (void)conf;
    exec_cancel(handle);
}

static int pid_of(void *ctx, void *handle, const struct sched_item_conf *conf)
{
    (void)ctx;
    /* A Java run is a thread of its worker JVM: the worker is what the
     * watchdog kills, and what identifies the run's process. */
    return conf->type == SCHED_JOB_JAVA ? (int)javaw_pid(handle) : (int)exec_pid(handle);
}

static int kill_run(void *ctx, void *handle, const struct sched_item_conf *conf, const char *reason)
{
    (void)ctx;
    if (conf->type == SCHED_JOB_JAVA)
        return javaw_cancel(handle, reason);
    return exec_kill(handle, reason);
}

struct sched_runner agent_runner_ops(struct agent_runner *ar)
{
    return (struct sched_runner){.start = start,
                                 .kill = kill_run,
                                 .ctx = ar,
                                 .prepare = prepare,
                                 .release = release,
                                 .cancel = cancel,
                                 .pid = pid_of};
}
