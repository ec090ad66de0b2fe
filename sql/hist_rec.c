/* sql/hist_rec.c: the history event as the writer owns it.
 *
 * Owns: validation of submitted events (executions and the workflow rows), the
 * owned copy (one allocation, text made valid UTF-8 and cut to column sizes),
 * the spool's binary encoding of a record, CRC-32, and the status, state and
 * trigger names shared with the schema's ENUMs. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "sql/hist.h"
#include "sql/hist_spool.h"
#include "workflow/wf.h" /* the state enums only: nothing of workflow/ is linked */

/* ============================== names ============================== */

/* Same order as the ENUMs in sql/schema.sql. */
static const char *const status_names[] = {NULL,      "queued", "running", "succeeded", "failed",
                                           "timeout", "killed", "skipped", "missed",    "paused"};
static const char *const trigger_names[] = {NULL, "cron", "manual", "failover", "misfire", "retry"};

const char *hist_status_name(int status)
{
    return status >= HIST_QUEUED && status <= HIST_PAUSED ? status_names[status] : NULL;
}

const char *hist_trigger_name(int trigger)
{
    return trigger >= HIST_TRIG_CRON && trigger <= HIST_TRIG_RETRY ? trigger_names[trigger] : NULL;
}

int hist_status_parse(const char *name)
{
    for (int i = HIST_QUEUED; name && i <= HIST_PAUSED; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -EINVAL;
}

int hist_trigger_parse(const char *name)
{
    for (int i = HIST_TRIG_CRON; name && i <= HIST_TRIG_RETRY; i++)
        if (strcmp(name, trigger_names[i]) == 0)
            return i;
    return -EINVAL;
}

/* ============================== CRC-32 ============================== */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t hist_crc32(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t c = 0xFFFFFFFFu;
    pthread_once(&crc_once, crc_init);
    while (len--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ============================== UTF-8 ============================== */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0 when invalid
 * (overlongs, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

size_t hist_utf8_copy(char *dst, size_t cap, const char *src, size_t max_chars)
{
    size_t o = 0, chars = 0;
    const unsigned char *p = (const unsigned char *)(src ? src : "");
    size_t n = strlen((const char *)p);
    while (n > 0 && chars < max_chars) {
        size_t k = utf8_seq(p, n);
        const unsigned char *from = p;
        size_t out = k;
        if (k == 0) {
            from = (const unsigned char *)"\xEF\xBF\xBD"; /* U+FFFD */
            out = 3;
            k = 1;
        }
        if (o + out + 1 > cap)
            break;
        if (dst)
            memcpy(dst + o, from, out);
        o += out;
        p += k;
        n -= k;
        chars++;
    }
    if (dst)
        dst[o] = '\0';
    return o;
}

/* Characters (code points) in a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
    size_t c = 0;
    for (; *s; s++)
        c += ((unsigned char)*s & 0xC0) != 0x80;
    return c;
}

/* ============================== owned copy ============================== */

/* Worst-case bytes of a text column of `chars` characters after replacement. */
#define TXT_CAP(chars) ((chars)*4 + 1)

struct hist_rec *hist_rec_new(const struct hist_event *ev, struct sc_err *err)
{
    const char *id = ev->execution_id ? ev->execution_id : "";
    const char *job = ev->job ? ev->job : "";
    size_t idlen = strlen(id);
    if (idlen == 0 || idlen > HIST_ID_MAX) {
        sc_err_set(err, EINVAL, "execution_id", -1, "must be 1 to %d bytes, got %zu", HIST_ID_MAX,
                   idlen);
        return NULL;
    }
    for (size_t i = 0; i < idlen; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7F) {
            sc_err_set(err, EINVAL, "execution_id", (int)i, "must be printable ASCII");
            return NULL;
        }
    if (job[0] == '\0') {
        sc_err_set(err, EINVAL, "job", -1, "is required");
        return NULL;
    }
    {
        char tmp[TXT_CAP(HIST_JOB_MAX + 1)];
        hist_utf8_copy(tmp, sizeof tmp, job, HIST_JOB_MAX + 1);
        if (strcmp(tmp, job) != 0 || utf8_chars(job) > HIST_JOB_MAX) {
            sc_err_set(err, EINVAL, "job", -1, "must be valid UTF-8 of at most %d characters",
                       HIST_JOB_MAX);
            return NULL;
        }
    }
    if (!hist_status_name(ev->status)) {
        sc_err_set(err, EINVAL, "status", -1, "unknown status %d", ev->status);
        return NULL;
    }
    if (!hist_trigger_name(ev->trigger)) {
        sc_err_set(err, EINVAL, "trigger", -1, "unknown trigger %d", ev->trigger);
        return NULL;
    }
    if (ev->item < 0 || ev->attempt < 1 || ev->attempt > 65535) {
        sc_err_set(err, EINVAL, ev->item < 0 ? "item" : "attempt", -1,
                   ev->item < 0 ? "must be >= 0" : "must be 1..65535");
        return NULL;
    }
    if (ev->fire_ms <= 0) {
        sc_err_set(err, EINVAL, "fire_ms", -1, "the scheduled fire time is required");
        return NULL;
    }
    const char *fence = ev->fence ? ev->fence : "";
    size_t fencelen = strlen(fence);
    if (fencelen > HIST_FENCE_MAX) {
        sc_err_set(err, EINVAL, "fence", -1, "must be at most %d bytes, got %zu", HIST_FENCE_MAX,
                   fencelen);
        return NULL;
    }
    for (size_t i = 0; i < fencelen; i++)
        if ((unsigned char)fence[i] <= 0x20 || (unsigned char)fence[i] >= 0x7F) {
            sc_err_set(err, EINVAL, "fence", (int)i, "must be printable ASCII");
            return NULL;
        }
    size_t outlen = ev->output ? ev->output_len : 0;
    const unsigned char *out = ev->output;
    if (outlen > HIST_OUTPUT_MAX) { /* a tail: keep the last bytes */
        out += outlen - HIST_OUTPUT_MAX;
        outlen = HIST_OUTPUT_MAX;
    }
    /* Exact size: a sizing pass over the text first (most of it is short). */
    size_t cap = idlen + 1 + strlen(job) + 1 + fencelen + 1 + outlen + 1;
    cap += hist_utf8_copy(NULL, SIZE_MAX, ev->agent, HIST_AGENT_MAX) + 1;
    cap += hist_utf8_copy(NULL, SIZE_MAX, ev->host, HIST_HOST_MAX) + 1;
    cap += hist_utf8_copy(NULL, SIZE_MAX, ev->error, HIST_ERROR_MAX) + 1;
    cap += hist_utf8_copy(NULL, SIZE_MAX, ev->message, HIST_MESSAGE_MAX) + 1;
    struct hist_rec *r = malloc(sizeof *r + cap);
    if (!r) {
        sc_err_set(err, ENOMEM, "event", -1, "out of memory");
        return NULL;
    }
    r->next = NULL;
    r->kind = HIST_REC_EXEC;
    r->ev = *ev;
    char *p = r->data;
#define PUT_TEXT(field, src, max)                                                                  \
    do {                                                                                           \
        r->ev.field = p;                                                                           \
        p += hist_utf8_copy(p, TXT_CAP(max), (src), (max)) + 1;                                    \
    } while (0)
    memcpy(p, id, idlen + 1);
    r->ev.execution_id = p;
    p += idlen + 1;
    memcpy(p, job, strlen(job) + 1);
    r->ev.job = p;
    p += strlen(job) + 1;
    PUT_TEXT(agent, ev->agent, HIST_AGENT_MAX);
    PUT_TEXT(host, ev->host, HIST_HOST_MAX);
    PUT_TEXT(error, ev->error, HIST_ERROR_MAX);
    PUT_TEXT(message, ev->message, HIST_MESSAGE_MAX);
#undef PUT_TEXT
    memcpy(p, fence, fencelen + 1);
    r->ev.fence = p;
    p += fencelen + 1;
    r->ev.output = outlen ? p : NULL;
    r->ev.output_len = outlen;
    if (outlen)
        memcpy(p, out, outlen);
    p += outlen;
    r->size = sizeof *r + (size_t)(p - r->data);
    return r;
}

/* ============================== workflow rows ============================== */

/* Same order as the ENUMs of workflow_run and task_instance (migration 0005). */
static const char *const run_states[] = {"queued", "running", "succeeded", "failed", "cancelled"};
static const char *const task_states[] = {"waiting",  "queued",    "running", "sensing",
                                          "retrying", "succeeded", "failed",  "upstream_failed",
                                          "skipped",  "cancelled"};
static const char *const run_triggers[] = {"schedule", "manual", "backfill"};
#define NELEM(a) ((int)(sizeof(a) / sizeof *(a)))
/* A state added to the model needs a migration of the ENUM: fail the build here. */
_Static_assert(NELEM(run_states) == WF_R_COUNT, "workflow_run.state lists every run state");
_Static_assert(NELEM(task_states) == WF_T_COUNT, "task_instance.state lists every task state");

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -EINVAL;
}

int hist_wf_run_state_index(const char *name)
{
    return name_index(run_states, NELEM(run_states), name);
}

int hist_wf_task_state_index(const char *name)
{
    return name_index(task_states, NELEM(task_states), name);
}

int hist_wf_trigger_index(const char *name)
{
    return name_index(run_triggers, NELEM(run_triggers), name);
}

/* An identity field: 1..max bytes of printable ASCII without spaces. */
static int check_ident(const char *field, const char *v, size_t max, struct sc_err *err)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > max)
        return sc_err_set(err, EINVAL, field, -1, "must be 1 to %zu bytes, got %zu", max, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7F)
            return sc_err_set(err, EINVAL, field, (int)i, "must be printable ASCII without spaces");
    return 0;
}

static int check_name(const char *field, const char *v, const char *const *names, int n,
                      struct sc_err *err)
{
    if (name_index(names, n, v) >= 0)
        return 0;
    char list[160] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    return sc_err_set(err, EINVAL, field, -1, "\"%s\" is not one of %s", v ? v : "(none)", list);
}

/* JSON text of len bytes; `object` also requires an object. */
static int check_json(const char *field, const char *v, size_t len, bool object, struct sc_err *err)
{
    struct sc_err jerr;
    sc_err_clear(&jerr);
    cJSON *j = json_parse(v, len, &jerr);
    if (!j)
        return sc_err_set(err, EINVAL, field, jerr.pos, "not JSON: %s%s%s", jerr.msg,
                          jerr.field[0] ? " at " : "", jerr.field);
    bool ok = !object || cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok ? 0 : sc_err_set(err, EINVAL, field, -1, "must be a JSON object");
}

static char *put_str(char **p, const char *s, size_t n)
{
    char *at = *p;
    memcpy(at, s, n);
    at[n] = '\0';
    *p += n + 1;
    return at;
}

static struct hist_rec *rec_alloc(enum hist_rec_kind kind, size_t cap, struct sc_err *err)
{
    struct hist_rec *r = malloc(sizeof *r + cap);
    if (!r) {
        sc_err_set(err, ENOMEM, "event", -1, "out of memory");
        return NULL;
    }
    memset(r, 0, sizeof *r);
    r->kind = kind;
    return r;
}

struct hist_rec *hist_rec_new_wf_run(const struct hist_wf_run_event *ev, struct sc_err *err)
{
    const char *params = ev->params && *ev->params ? ev->params : "{}";
    size_t plen = strlen(params);
    if (check_ident("run_id", ev->run_id, HIST_RUN_ID_MAX, err) < 0 ||
        check_ident("workflow", ev->workflow, HIST_WF_NAME_MAX, err) < 0 ||
        check_name("trigger", ev->trigger, run_triggers, NELEM(run_triggers), err) < 0 ||
        check_name("state", ev->state, run_states, NELEM(run_states), err) < 0)
        return NULL;
    if (ev->logical_ms <= 0 || ev->created_ms <= 0 || ev->started_ms < 0 || ev->ended_ms < 0 ||
        ev->seq < 0) {
        sc_err_set(err, EINVAL,
                   ev->logical_ms <= 0   ? "logical_ms"
                   : ev->created_ms <= 0 ? "created_ms"
                   : ev->seq < 0         ? "seq"
                                         : "started_ms",
                   -1, "out of range");
        return NULL;
    }
    if (plen > HIST_PARAMS_MAX) {
        sc_err_set(err, EINVAL, "params", -1, "must be at most %d bytes, got %zu", HIST_PARAMS_MAX,
                   plen);
        return NULL;
    }
    if (check_json("params", params, plen, true, err) < 0)
        return NULL;
    size_t idlen = strlen(ev->run_id), wflen = strlen(ev->workflow);
    struct hist_rec *r = rec_alloc(HIST_REC_WF_RUN, idlen + wflen + plen + 3, err);
    if (!r)
        return NULL;
    char *p = r->data;
    r->run = *ev;
    r->run.run_id = put_str(&p, ev->run_id, idlen);
    r->run.workflow = put_str(&p, ev->workflow, wflen);
    r->run.params = put_str(&p, params, plen);
    r->run.trigger = run_triggers[hist_wf_trigger_index(ev->trigger)];
    r->run.state = run_states[hist_wf_run_state_index(ev->state)];
    r->size = sizeof *r + (size_t)(p - r->data);
    return r;
}

struct hist_rec *hist_rec_new_wf_task(const struct hist_wf_task_event *ev, struct sc_err *err)
{
    if (check_ident("run_id", ev->run_id, HIST_RUN_ID_MAX, err) < 0 ||
        check_ident("task", ev->task, HIST_TASK_MAX, err) < 0 ||
        check_name("state", ev->state, task_states, NELEM(task_states), err) < 0)
        return NULL;
    if (ev->attempt < 0 || ev->attempt > 65535 || ev->items < 0 || ev->started_ms < 0 ||
        ev->ended_ms < 0 || ev->seq < 0) {
        sc_err_set(err, EINVAL,
                   ev->attempt < 0 || ev->attempt > 65535 ? "attempt"
                   : ev->items < 0                        ? "items"
                   : ev->seq < 0                          ? "seq"
                                                          : "started_ms",
                   -1, "out of range");
        return NULL;
    }
    size_t idlen = strlen(ev->run_id), tlen = strlen(ev->task);
    size_t rlen = hist_utf8_copy(NULL, SIZE_MAX, ev->reason, HIST_REASON_MAX);
    struct hist_rec *r = rec_alloc(HIST_REC_WF_TASK, idlen + tlen + rlen + 3, err);
    if (!r)
        return NULL;
    char *p = r->data;
    r->task = *ev;
    r->task.run_id = put_str(&p, ev->run_id, idlen);
    r->task.task = put_str(&p, ev->task, tlen);
    r->task.reason = p;
    p += hist_utf8_copy(p, rlen + 1, ev->reason, HIST_REASON_MAX) + 1;
    r->task.state = task_states[hist_wf_task_state_index(ev->state)];
    r->size = sizeof *r + (size_t)(p - r->data);
    return r;
}

struct hist_rec *hist_rec_new_wf_xcom(const struct hist_wf_xcom_event *ev, struct sc_err *err)
{
    size_t olen = ev->output ? ev->output_len : 0;
    if (check_ident("run_id", ev->run_id, HIST_RUN_ID_MAX, err) < 0 ||
        check_ident("task", ev->task, HIST_TASK_MAX, err) < 0)
        return NULL;
    if (ev->item < 0 || ev->attempt < 0 || ev->attempt > 65535 || ev->seq < 0) {
        sc_err_set(err, EINVAL,
                   ev->item < 0  ? "item"
                   : ev->seq < 0 ? "seq"
                                 : "attempt",
                   -1, "out of range");
        return NULL;
    }
    if (olen > HIST_XCOM_MAX) {
        sc_err_set(err, EINVAL, "output", -1, "must be at most %d bytes of JSON, got %zu",
                   HIST_XCOM_MAX, olen);
        return NULL;
    }
    if (olen && check_json("output", ev->output, olen, false, err) < 0)
        return NULL;
    size_t idlen = strlen(ev->run_id), tlen = strlen(ev->task);
    struct hist_rec *r = rec_alloc(HIST_REC_WF_XCOM, idlen + tlen + olen + 3, err);
    if (!r)
        return NULL;
    char *p = r->data;
    r->xcom = *ev;
    r->xcom.run_id = put_str(&p, ev->run_id, idlen);
    r->xcom.task = put_str(&p, ev->task, tlen);
    r->xcom.output = olen ? put_str(&p, ev->output, olen) : NULL;
    r->xcom.output_len = olen;
    r->size = sizeof *r + (size_t)(p - r->data);
    return r;
}

void hist_rec_describe(const struct hist_rec *r, char *buf, size_t len)
{
    switch (r->kind) {
    case HIST_REC_EXEC:
        snprintf(buf, len, "execution %s (%s)", r->ev.execution_id, r->ev.job);
        break;
    case HIST_REC_WF_RUN:
        snprintf(buf, len, "workflow run %s", r->run.run_id);
        break;
    case HIST_REC_WF_TASK:
        snprintf(buf, len, "task %s/%s", r->task.run_id, r->task.task);
        break;
    case HIST_REC_WF_XCOM:
        snprintf(buf, len, "output %s/%s/%d", r->xcom.run_id, r->xcom.task, r->xcom.item);
        break;
    }
}

/* ============================== encoding ============================== */

/* Payload, version 2: u8 version | i32 item | i64 fire | u8 trigger | i32 attempt |
 * u8 status | u8 has_exit | i32 exit | i32 signal | i64 queued | i64 started |
 * i64 finished | 7 x (u16 len + bytes): id job agent host error message fence |
 * u32 len + bytes: output. Little-endian. Version 1 (written before the fence
 * existed) is the same with 6 strings, no fence; it is still read, so a spool
 * left by an older agent replays after an upgrade. */
#define ENC_VERSION 2
#define ENC_STRINGS 7
#define ENC_V1 1
#define ENC_V1_STRINGS 6
/* An execution record's largest payload: 7 strings of at most 2 KiB and a 4 KiB tail. */
#define ENC_EXEC_MAX 16384

static unsigned char *put_u(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static uint64_t get_u(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Workflow payloads (the first byte is the kind tag, not a version):
 *   16 run:  i64 logical | i64 created | i64 started | i64 ended | i64 seq | u8 trigger |
 *            u8 state | u16 len + run_id | u16 len + workflow | u32 len + params
 *   17 task: i64 started | i64 ended | i64 seq | i32 attempt | i32 items | u8 state |
 *            u16 len + run_id | u16 len + task | u16 len + reason
 *   18 xcom: i64 seq | i32 item | i32 attempt | u16 len + run_id | u16 len + task |
 *            u32 len + output (0 = cleared)
 * Little-endian; states and triggers are indexes into the name lists above. */
#define ENC_WF_RUN 16
#define ENC_WF_TASK 17
#define ENC_WF_XCOM 18

static unsigned char *put_bytes(unsigned char *p, const void *s, size_t n, int lenbytes)
{
    p = put_u(p, n, lenbytes);
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static size_t wf_encode(const struct hist_rec *r, unsigned char *buf, size_t cap)
{
    unsigned char *p = buf;
    size_t need;
    switch (r->kind) {
    case HIST_REC_WF_RUN: {
        const struct hist_wf_run_event *e = &r->run;
        size_t a = strlen(e->run_id), b = strlen(e->workflow), c = strlen(e->params);
        need = 1 + 40 + 2 + 2 + a + 2 + b + 4 + c;
        if (need > cap)
            return 0;
        *p++ = ENC_WF_RUN;
        p = put_u(p, (uint64_t)e->logical_ms, 8);
        p = put_u(p, (uint64_t)e->created_ms, 8);
        p = put_u(p, (uint64_t)e->started_ms, 8);
        p = put_u(p, (uint64_t)e->ended_ms, 8);
        p = put_u(p, (uint64_t)e->seq, 8);
        *p++ = (unsigned char)hist_wf_trigger_index(e->trigger);
        *p++ = (unsigned char)hist_wf_run_state_index(e->state);
        p = put_bytes(p, e->run_id, a, 2);
        p = put_bytes(p, e->workflow, b, 2);
        p = put_bytes(p, e->params, c, 4);
        break;
    }
    case HIST_REC_WF_TASK: {
        const struct hist_wf_task_event *e = &r->task;
        size_t a = strlen(e->run_id), b = strlen(e->task), c = strlen(e->reason);
        need = 1 + 24 + 8 + 1 + 2 + a + 2 + b + 2 + c;
        if (need > cap)
            return 0;
        *p++ = ENC_WF_TASK;
        p = put_u(p, (uint64_t)e->started_ms, 8);
        p = put_u(p, (uint64_t)e->ended_ms, 8);
        p = put_u(p, (uint64_t)e->seq, 8);
        p = put_u(p, (uint32_t)e->attempt, 4);
        p = put_u(p, (uint32_t)e->items, 4);
        *p++ = (unsigned char)hist_wf_task_state_index(e->state);
        p = put_bytes(p, e->run_id, a, 2);
        p = put_bytes(p, e->task, b, 2);
        p = put_bytes(p, e->reason, c, 2);
        break;
    }
    case HIST_REC_WF_XCOM: {
        const struct hist_wf_xcom_event *e = &r->xcom;
        size_t a = strlen(e->run_id), b = strlen(e->task);
        need = 1 + 16 + 2 + a + 2 + b + 4 + e->output_len;
        if (need > cap)
            return 0;
        *p++ = ENC_WF_XCOM;
        p = put_u(p, (uint64_t)e->seq, 8);
        p = put_u(p, (uint32_t)e->item, 4);
        p = put_u(p, (uint32_t)e->attempt, 4);
        p = put_bytes(p, e->run_id, a, 2);
        p = put_bytes(p, e->task, b, 2);
        p = put_bytes(p, e->output, e->output_len, 4);
        break;
    }
    default:
        return 0;
    }
    return (size_t)(p - buf);
}

/* A bounds-checked reader over a payload: any short read sets `bad`. */
struct rd {
    const unsigned char *p, *end;
    bool bad;
};

static uint64_t rd_u(struct rd *r, int bytes)
{
    if (r->bad || r->end - r->p < bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = get_u(r->p, bytes);
    r->p += bytes;
    return v;
}

/* A length-prefixed field copied NUL-terminated into *scratch (which moves);
 * an embedded NUL makes the payload bad unless `binary`. */
static const char *rd_str(struct rd *r, int lenbytes, char **scratch, bool binary)
{
    size_t n = (size_t)rd_u(r, lenbytes);
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    char *s = *scratch;
    memcpy(s, r->p, n);
    s[n] = '\0';
    if (!binary && strlen(s) != n)
        r->bad = true;
    r->p += n;
    *scratch += n + 1;
    return s;
}

static const char *name_at(const char *const *names, int n, unsigned idx)
{
    return idx < (unsigned)n ? names[idx] : NULL;
}

/* Decoded fields go through the same constructor as a submitted event, so a
 * record from the spool passes the same checks. */
static struct hist_rec *wf_decode(const unsigned char *buf, size_t len)
{
    struct rd r = {buf + 1, buf + len, false};
    char *scratch = malloc(len + 8), *sp = scratch;
    struct hist_rec *out = NULL;
    if (!scratch)
        return NULL;
    switch (buf[0]) {
    case ENC_WF_RUN: {
        struct hist_wf_run_event e = {0};
        e.logical_ms = (int64_t)rd_u(&r, 8);
        e.created_ms = (int64_t)rd_u(&r, 8);
        e.started_ms = (int64_t)rd_u(&r, 8);
        e.ended_ms = (int64_t)rd_u(&r, 8);
        e.seq = (int64_t)rd_u(&r, 8);
        e.trigger = name_at(run_triggers, NELEM(run_triggers), (unsigned)rd_u(&r, 1));
        e.state = name_at(run_states, NELEM(run_states), (unsigned)rd_u(&r, 1));
        e.run_id = rd_str(&r, 2, &sp, false);
        e.workflow = rd_str(&r, 2, &sp, false);
        e.params = rd_str(&r, 4, &sp, false);
        /* params "" would decode as {}: not what was encoded, so refused. */
        if (!r.bad && r.p == r.end && e.params && *e.params)
            out = hist_rec_new_wf_run(&e, NULL);
        break;
    }
    case ENC_WF_TASK: {
        struct hist_wf_task_event e = {0};
        e.started_ms = (int64_t)rd_u(&r, 8);
        e.ended_ms = (int64_t)rd_u(&r, 8);
        e.seq = (int64_t)rd_u(&r, 8);
        e.attempt = (int)(int32_t)rd_u(&r, 4);
        e.items = (int)(int32_t)rd_u(&r, 4);
        e.state = name_at(task_states, NELEM(task_states), (unsigned)rd_u(&r, 1));
        e.run_id = rd_str(&r, 2, &sp, false);
        e.task = rd_str(&r, 2, &sp, false);
        e.reason = rd_str(&r, 2, &sp, false);
        if (!r.bad && r.p == r.end)
            out = hist_rec_new_wf_task(&e, NULL);
        /* Text the constructor cleaned up differs from what was encoded: refused,
         * so decode(encode(x)) is x. */
        if (out && strcmp(out->task.reason, e.reason) != 0) {
            free(out);
            out = NULL;
        }
        break;
    }
    case ENC_WF_XCOM: {
        struct hist_wf_xcom_event e = {0};
        e.seq = (int64_t)rd_u(&r, 8);
        e.item = (int)(int32_t)rd_u(&r, 4);
        e.attempt = (int)(int32_t)rd_u(&r, 4);
        e.run_id = rd_str(&r, 2, &sp, false);
        e.task = rd_str(&r, 2, &sp, false);
        size_t olen = (size_t)rd_u(&r, 4);
        if (!r.bad && (size_t)(r.end - r.p) == olen) {
            e.output = olen ? (const char *)r.p : NULL;
            e.output_len = olen;
            out = hist_rec_new_wf_xcom(&e, NULL);
        }
        break;
    }
    }
    free(scratch);
    return out;
}

size_t hist_rec_encode(const struct hist_rec *r, unsigned char *buf, size_t cap)
{
    if (r->kind != HIST_REC_EXEC)
        return wf_encode(r, buf, cap);
    const struct hist_event *e = &r->ev;
    const char *s[ENC_STRINGS] = {e->execution_id, e->job,     e->agent, e->host,
                                  e->error,        e->message, e->fence};
    size_t need = 1 + 4 + 8 + 1 + 4 + 1 + 1 + 4 + 4 + 24 + 4 + e->output_len;
    for (int i = 0; i < ENC_STRINGS; i++)
        need += 2 + strlen(s[i]);
    if (need > cap)
        return 0;
    unsigned char *p = buf;
    *p++ = ENC_VERSION;
    p = put_u(p, (uint32_t)e->item, 4);
    p = put_u(p, (uint64_t)e->fire_ms, 8);
    *p++ = (unsigned char)e->trigger;
    p = put_u(p, (uint32_t)e->attempt, 4);
    *p++ = (unsigned char)e->status;
    *p++ = e->has_exit_code ? 1 : 0;
    p = put_u(p, (uint32_t)e->exit_code, 4);
    p = put_u(p, (uint32_t)e->signal, 4);
    p = put_u(p, (uint64_t)e->queued_ms, 8);
    p = put_u(p, (uint64_t)e->started_ms, 8);
    p = put_u(p, (uint64_t)e->finished_ms, 8);
    for (int i = 0; i < ENC_STRINGS; i++) {
        size_t n = strlen(s[i]);
        p = put_u(p, n, 2);
        memcpy(p, s[i], n);
        p += n;
    }
    p = put_u(p, e->output_len, 4);
    if (e->output_len)
        memcpy(p, e->output, e->output_len);
    p += e->output_len;
    return (size_t)(p - buf);
}

struct hist_rec *hist_rec_decode(const unsigned char *buf, size_t len)
{
    const size_t fixed = 1 + 4 + 8 + 1 + 4 + 1 + 1 + 4 + 4 + 24;
    if (len > 0 && buf[0] >= ENC_WF_RUN && buf[0] <= ENC_WF_XCOM)
        return wf_decode(buf, len);
    if (len < fixed || len > ENC_EXEC_MAX || (buf[0] != ENC_VERSION && buf[0] != ENC_V1))
        return NULL;
    int nstr = buf[0] == ENC_V1 ? ENC_V1_STRINGS : ENC_STRINGS;
    struct hist_event e = {0};
    const unsigned char *p = buf + 1, *end = buf + len;
    e.item = (int)(int32_t)get_u(p, 4), p += 4;
    e.fire_ms = (int64_t)get_u(p, 8), p += 8;
    e.trigger = *p++;
    e.attempt = (int)(int32_t)get_u(p, 4), p += 4;
    e.status = *p++;
    e.has_exit_code = *p++ != 0;
    e.exit_code = (int)(int32_t)get_u(p, 4), p += 4;
    e.signal = (int)(int32_t)get_u(p, 4), p += 4;
    e.queued_ms = (int64_t)get_u(p, 8), p += 8;
    e.started_ms = (int64_t)get_u(p, 8), p += 8;
    e.finished_ms = (int64_t)get_u(p, 8), p += 8;
    /* Strings are copied NUL-terminated into one scratch buffer, then hist_rec_new
     * validates and copies again: a decoded record passes the same checks. */
    char scratch[ENC_EXEC_MAX];
    char *s[ENC_STRINGS] = {NULL};
    size_t used = 0;
    for (int i = 0; i < nstr; i++) {
        if (end - p < 2)
            return NULL;
        size_t n = (size_t)get_u(p, 2);
        p += 2;
        if ((size_t)(end - p) < n || used + n + 1 > sizeof scratch)
            return NULL;
        s[i] = scratch + used;
        memcpy(s[i], p, n);
        s[i][n] = '\0';
        if (strlen(s[i]) != n) /* an embedded NUL: not ours */
            return NULL;
        used += n + 1;
        p += n;
    }
    if (end - p < 4)
        return NULL;
    size_t outlen = (size_t)get_u(p, 4);
    p += 4;
    if ((size_t)(end - p) != outlen || outlen > HIST_OUTPUT_MAX)
        return NULL;
    e.execution_id = s[0];
    e.job = s[1];
    e.agent = s[2];
    e.host = s[3];
    e.error = s[4];
    e.message = s[5];
    e.fence = nstr > ENC_V1_STRINGS ? s[6] : NULL;
    e.output = outlen ? p : NULL;
    e.output_len = outlen;
    return hist_rec_new(&e, NULL);
}
