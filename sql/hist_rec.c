/* sql/hist_rec.c: the history event as the writer owns it.
 *
 * Owns: validation of submitted events, the owned copy (one allocation, text made
 * valid UTF-8 and cut to column sizes), the spool's binary encoding of a record,
 * CRC-32, and the status/trigger names shared with the schema's ENUMs. */
#define LOG_CAT "shardcron.history"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql/hist.h"
#include "sql/hist_spool.h"

/* ============================== names ============================== */

/* Same order as the ENUMs in sql/schema.sql. */
static const char *const status_names[] = {NULL,      "queued", "running", "succeeded", "failed",
                                           "timeout", "killed", "skipped", "missed"};
static const char *const trigger_names[] = {NULL, "cron", "manual", "failover", "misfire", "retry"};

const char *hist_status_name(int status)
{
    return status >= HIST_QUEUED && status <= HIST_MISSED ? status_names[status] : NULL;
}

const char *hist_trigger_name(int trigger)
{
    return trigger >= HIST_TRIG_CRON && trigger <= HIST_TRIG_RETRY ? trigger_names[trigger] : NULL;
}

int hist_status_parse(const char *name)
{
    for (int i = HIST_QUEUED; name && i <= HIST_MISSED; i++)
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

size_t hist_rec_encode(const struct hist_rec *r, unsigned char *buf, size_t cap)
{
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
    if (len < fixed || (buf[0] != ENC_VERSION && buf[0] != ENC_V1))
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
    char scratch[HIST_REC_MAX_ENCODED];
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
