/* tests/unit/test_hist_spool.c: the history event record and the on-disk spool,
 * without a database: encoding round trips, text clean-up, torn files cut at
 * every kind of position, the size limit keeping the newest data, spools
 * written before the fence existed (record version 1) still replaying, and the
 * workflow records (runs, task instances, outputs up to 64 KiB) beside
 * executions in one spool, a torn 64 KiB record cut away. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sql/hist.h"
#include "sql/hist_spool.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_hist_spool.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    const struct dirent *de;
    char p[512];
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    (void)state;
    rm_dir(tmpdir);
    return 0;
}

/* Event number i: sizes vary with i so records have different lengths. */
static struct hist_rec *make_rec(int i)
{
    char id[40], err[300], out[200], fence[40];
    snprintf(id, sizeof id, "exec-%08d", i);
    memset(err, 'e', sizeof err);
    err[(i * 37) % (sizeof err - 1)] = '\0';
    for (size_t k = 0; k < sizeof out; k++)
        out[k] = (char)(i + k); /* any bytes, NULs included */
    /* Every third report is of a fire that did not run: no fence. */
    snprintf(fence, sizeof fence, "%012lld.%012d.%04d", 1700000000LL + i, 40 + i % 4, 1 + i % 3);
    struct hist_event ev = {
        .execution_id = id,
        .job = i % 2 ? "settle" : "report-\xE6\x97\xA5",
        .item = i % 8,
        .fire_ms = 1700000000000LL + i * 1000LL,
        .trigger = HIST_TRIG_CRON,
        .attempt = 1 + i % 3,
        .agent = "a1",
        .host = "h1",
        .status = HIST_QUEUED + i % HIST_STATUS_COUNT,
        .exit_code = i,
        .has_exit_code = i % 2,
        .signal = i % 5 == 0 ? 9 : 0,
        .queued_ms = 1700000000000LL + i,
        .started_ms = 1700000000100LL + i,
        .finished_ms = i % 3 ? 1700000000200LL + i : 0,
        .output = out,
        .output_len = (size_t)(i * 13) % sizeof out,
        .error = err,
        .message = "m",
        .fence = i % 3 ? fence : NULL,
    };
    struct hist_rec *r = hist_rec_new(&ev, NULL);
    assert_non_null(r);
    return r;
}

static void assert_same(const struct hist_rec *a, const struct hist_rec *b)
{
    assert_string_equal(a->ev.execution_id, b->ev.execution_id);
    assert_string_equal(a->ev.job, b->ev.job);
    assert_int_equal(a->ev.item, b->ev.item);
    assert_int_equal(a->ev.fire_ms, b->ev.fire_ms);
    assert_int_equal(a->ev.trigger, b->ev.trigger);
    assert_int_equal(a->ev.attempt, b->ev.attempt);
    assert_int_equal(a->ev.status, b->ev.status);
    assert_int_equal(a->ev.has_exit_code, b->ev.has_exit_code);
    assert_int_equal(a->ev.exit_code, b->ev.exit_code);
    assert_int_equal(a->ev.signal, b->ev.signal);
    assert_int_equal(a->ev.queued_ms, b->ev.queued_ms);
    assert_int_equal(a->ev.started_ms, b->ev.started_ms);
    assert_int_equal(a->ev.finished_ms, b->ev.finished_ms);
    assert_string_equal(a->ev.agent, b->ev.agent);
    assert_string_equal(a->ev.host, b->ev.host);
    assert_string_equal(a->ev.error, b->ev.error);
    assert_string_equal(a->ev.message, b->ev.message);
    assert_string_equal(a->ev.fence, b->ev.fence);
    assert_int_equal(a->ev.output_len, b->ev.output_len);
    if (a->ev.output_len)
        assert_memory_equal(a->ev.output, b->ev.output, a->ev.output_len);
}

static void free_list(struct hist_rec *r)
{
    while (r) {
        struct hist_rec *n = r->next;
        free(r);
        r = n;
    }
}

/* ---- record ---- */

static void test_encode_roundtrip(void **state)
{
    (void)state;
    unsigned char buf[HIST_REC_MAX_ENCODED];
    for (int i = 0; i < 50; i++) {
        struct hist_rec *r = make_rec(i);
        size_t n = hist_rec_encode(r, buf, sizeof buf);
        assert_true(n > 0);
        struct hist_rec *d = hist_rec_decode(buf, n);
        assert_non_null(d);
        assert_same(r, d);
        /* Every shorter prefix is malformed, never misread. */
        for (size_t cut = 0; cut < n; cut += 7)
            assert_null(hist_rec_decode(buf, cut));
        free(d);
        free(r);
    }
}

static void test_text_cleanup_and_limits(void **state)
{
    (void)state;
    struct sc_err err;
    char big[6000], job[HIST_JOB_MAX * 3 + 2];
    unsigned char out[HIST_OUTPUT_MAX + 100];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (unsigned char)i;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* A job name of exactly HIST_JOB_MAX three-byte characters is accepted whole. */
    for (int i = 0; i < HIST_JOB_MAX; i++)
        memcpy(job + 3 * i, "\xE6\x97\xA5", 3);
    job[3 * HIST_JOB_MAX] = '\0';
    struct hist_event ev = {.execution_id = "x1",
                            .job = job,
                            .fire_ms = 1,
                            .attempt = 1,
                            .trigger = HIST_TRIG_MANUAL,
                            .status = HIST_FAILED,
                            .error = big,
                            .output = out,
                            .output_len = sizeof out,
                            .host = "bad\xFF\xC0host",
                            .message = "ok \xF0\x9F\x98\x80"};
    struct hist_rec *r = hist_rec_new(&ev, &err);
    assert_non_null(r);
    assert_string_equal(r->ev.job, job);
    assert_int_equal(strlen(r->ev.error), HIST_ERROR_MAX);
    /* The output tail keeps its LAST bytes. */
    assert_int_equal(r->ev.output_len, HIST_OUTPUT_MAX);
    assert_memory_equal(r->ev.output, out + 100, HIST_OUTPUT_MAX);
    assert_string_equal(r->ev.host, "bad\xEF\xBF\xBD\xEF\xBF\xBDhost");
    assert_string_equal(r->ev.message, "ok \xF0\x9F\x98\x80");
    free(r);

    /* Identity fields are never cut: rejected with the field named. */
    strcat(job, "y");
    sc_err_clear(&err);
    assert_null(hist_rec_new(&ev, &err));
    assert_string_equal(err.field, "job");
    ev.job = "j";
    ev.execution_id = big;
    assert_null(hist_rec_new(&ev, &err));
    assert_string_equal(err.field, "execution_id");
    ev.execution_id = "x1";
    ev.status = 42;
    assert_null(hist_rec_new(&ev, &err));
    assert_string_equal(err.field, "status");
    ev.status = HIST_QUEUED;
    ev.fire_ms = 0;
    assert_null(hist_rec_new(&ev, &err));
    assert_string_equal(err.field, "fire_ms");
    /* A fence is never cut either (a cut token would not order): refused. */
    ev.fire_ms = 1;
    char fence[HIST_FENCE_MAX + 2];
    memset(fence, '1', sizeof fence - 1);
    fence[sizeof fence - 1] = '\0';
    ev.fence = fence;
    sc_err_clear(&err);
    assert_null(hist_rec_new(&ev, &err));
    assert_string_equal(err.field, "fence");
    fence[HIST_FENCE_MAX] = '\0'; /* exactly the column size: kept whole */
    r = hist_rec_new(&ev, &err);
    assert_non_null(r);
    assert_string_equal(r->ev.fence, fence);
    free(r);
    ev.fence = "001700000000.0000\xC3\xA9.0001";
    assert_null(hist_rec_new(&ev, &err));
    assert_string_equal(err.field, "fence");
    ev.fence = NULL; /* none: stored as "" (NULL in the table) */
    r = hist_rec_new(&ev, &err);
    assert_non_null(r);
    assert_string_equal(r->ev.fence, "");
    free(r);
}

static void test_crc32_known_value(void **state)
{
    (void)state;
    /* The standard check value of CRC-32/IEEE. */
    assert_int_equal(hist_crc32("123456789", 9), 0xCBF43926u);
}

/* ---- spool ---- */

static struct hist_spool *open_spool(const char *dir, uint64_t max)
{
    struct hist_spool *s = NULL;
    struct sc_err err;
    assert_int_equal(hist_spool_open(dir, max, &s, &err), 0);
    return s;
}

static void test_append_reopen_replay_truncate(void **state)
{
    (void)state;
    char dir[300];
    uint64_t dropped = 0;
    snprintf(dir, sizeof dir, "%s/basic", tmpdir);
    struct hist_spool *s = open_spool(dir, 0);
    struct hist_rec *recs[100];
    for (int i = 0; i < 100; i++)
        recs[i] = make_rec(i);
    assert_int_equal(hist_spool_append(s, recs, 60, &dropped), 60);
    assert_int_equal(hist_spool_append(s, recs + 60, 40, &dropped), 40);
    assert_int_equal(dropped, 0);
    assert_int_equal(hist_spool_records(s), 100);
    hist_spool_close(s);

    s = open_spool(dir, 0);
    assert_int_equal(hist_spool_records(s), 100);
    struct hist_rec *list;
    size_t n;
    /* Read, fail, rewind: the same records come again. */
    assert_int_equal(hist_spool_read(s, 30, &list, &n), 0);
    assert_int_equal(n, 30);
    assert_same(list, recs[0]);
    free_list(list);
    hist_spool_rewind(s);
    int at = 0;
    for (;;) {
        assert_int_equal(hist_spool_read(s, 30, &list, &n), 0);
        if (n == 0)
            break;
        for (struct hist_rec *r = list; r; r = r->next)
            assert_same(r, recs[at++]);
        free_list(list);
        hist_spool_commit(s);
    }
    assert_int_equal(at, 100);
    assert_int_equal(hist_spool_records(s), 0);
    assert_int_equal(hist_spool_bytes(s), 0);
    hist_spool_close(s);
    /* Replayed means gone: a reopen finds nothing. */
    s = open_spool(dir, 0);
    assert_int_equal(hist_spool_records(s), 0);
    hist_spool_close(s);
    for (int i = 0; i < 100; i++)
        free(recs[i]);
    rm_dir(dir);
}

static long file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

static void test_torn_at_random_byte(void **state)
{
    (void)state;
    enum { N = 40 };
    char dir[300], seg[400];
    long ends[N];
    uint64_t dropped = 0;
    struct hist_rec *recs[N];
    snprintf(dir, sizeof dir, "%s/torn", tmpdir);
    snprintf(seg, sizeof seg, "%s/seg-%016d.spool", dir, 1);
    for (int i = 0; i < N; i++)
        recs[i] = make_rec(i);
    unsigned seed = (unsigned)getpid();
    printf("seed %u\n", seed);
    srand(seed);
    for (int round = 0; round < 60; round++) {
        struct hist_spool *s = open_spool(dir, 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(hist_spool_append(s, recs + i, 1, &dropped), 1);
            ends[i] = file_size(seg);
        }
        hist_spool_close(s);
        /* Cut anywhere from the header to the end; include exact boundaries. */
        long cut = round == 0 ? ends[N - 1] : round == 1 ? ends[10] : rand() % (ends[N - 1] + 1);
        assert_int_equal(truncate(seg, cut), 0);
        int whole = 0;
        while (whole < N && ends[whole] <= cut)
            whole++;
        s = open_spool(dir, 0);
        assert_int_equal(hist_spool_records(s), whole);
        struct hist_rec *list;
        size_t n;
        assert_int_equal(hist_spool_read(s, N + 10, &list, &n), 0);
        assert_int_equal(n, whole);
        int at = 0;
        for (struct hist_rec *r = list; r; r = r->next)
            assert_same(r, recs[at++]);
        free_list(list);
        /* The torn tail is gone from disk, and appending after it works. */
        assert_int_equal(hist_spool_append(s, recs, 1, &dropped), 1);
        hist_spool_close(s);
        s = open_spool(dir, 0);
        assert_int_equal(hist_spool_records(s), whole + 1);
        hist_spool_close(s);
        rm_dir(dir);
    }
    assert_int_equal(dropped, 0);
    for (int i = 0; i < N; i++)
        free(recs[i]);
}

static void test_corrupt_byte_stops_replay_there(void **state)
{
    (void)state;
    char dir[300], seg[400];
    uint64_t dropped = 0;
    struct hist_rec *recs[10];
    long ends[10];
    snprintf(dir, sizeof dir, "%s/corrupt", tmpdir);
    snprintf(seg, sizeof seg, "%s/seg-%016d.spool", dir, 1);
    struct hist_spool *s = open_spool(dir, 0);
    for (int i = 0; i < 10; i++) {
        recs[i] = make_rec(i);
        assert_int_equal(hist_spool_append(s, recs + i, 1, &dropped), 1);
        ends[i] = file_size(seg);
    }
    hist_spool_close(s);
    /* Flip one byte inside record 6's payload. */
    FILE *f = fopen(seg, "r+b");
    assert_non_null(f);
    fseek(f, ends[5] + 12, SEEK_SET);
    int c = fgetc(f);
    fseek(f, ends[5] + 12, SEEK_SET);
    fputc(c ^ 0x5A, f);
    fclose(f);
    s = open_spool(dir, 0);
    assert_int_equal(hist_spool_records(s), 6);
    hist_spool_close(s);
    for (int i = 0; i < 10; i++)
        free(recs[i]);
    rm_dir(dir);
}

static void test_limit_keeps_newest(void **state)
{
    (void)state;
    enum { N = 2000 };
    char dir[300];
    uint64_t dropped = 0;
    snprintf(dir, sizeof dir, "%s/limit", tmpdir);
    struct hist_spool *s = open_spool(dir, 64 * 1024);
    for (int i = 0; i < N; i++) {
        struct hist_rec *r = make_rec(i);
        assert_int_equal(hist_spool_append(s, &r, 1, &dropped), 1);
        free(r);
    }
    assert_true(hist_spool_full(s));
    assert_true(dropped > 0);
    assert_true(hist_spool_bytes(s) <= 64 * 1024);
    /* Nothing is lost silently: kept + dropped = appended. */
    assert_int_equal(hist_spool_records(s) + dropped, N);
    struct hist_rec *list;
    size_t n;
    assert_int_equal(hist_spool_read(s, N, &list, &n), 0);
    assert_int_equal(n, N - dropped);
    /* What is kept is the newest, in order, ending with the last one appended. */
    int expect = (int)dropped;
    for (struct hist_rec *r = list; r; r = r->next) {
        char id[40];
        snprintf(id, sizeof id, "exec-%08d", expect++);
        assert_string_equal(r->ev.execution_id, id);
    }
    assert_int_equal(expect, N);
    free_list(list);
    hist_spool_close(s);
    rm_dir(dir);
}

static void test_group_larger_than_limit_keeps_its_newest(void **state)
{
    (void)state;
    enum { N = 2000 };
    char dir[300];
    uint64_t dropped = 0;
    struct hist_rec *recs[N];
    snprintf(dir, sizeof dir, "%s/biggroup", tmpdir);
    for (int i = 0; i < N; i++)
        recs[i] = make_rec(i);
    struct hist_spool *s = open_spool(dir, 64 * 1024);
    int kept = hist_spool_append(s, recs, N, &dropped);
    assert_true(kept > 0 && kept < N);
    assert_int_equal((uint64_t)kept + dropped, N);
    assert_true(hist_spool_full(s));
    assert_true(hist_spool_bytes(s) <= 64 * 1024);
    hist_spool_close(s);
    s = open_spool(dir, 64 * 1024);
    struct hist_rec *list;
    size_t n;
    assert_int_equal(hist_spool_read(s, N, &list, &n), 0);
    assert_int_equal(n, kept);
    int at = N - kept;
    for (struct hist_rec *r = list; r; r = r->next)
        assert_same(r, recs[at++]);
    assert_int_equal(at, N);
    free_list(list);
    hist_spool_close(s);
    for (int i = 0; i < N; i++)
        free(recs[i]);
    rm_dir(dir);
}

/* ---- spools from before the fence ---- */

static unsigned char *put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

/* v1_payload: record i of make_rec() as an agent without fences wrote it
 * (docs/history.md, payload v1), byte by byte, independent of the encoder. */
static size_t v1_payload(int i, unsigned char *buf)
{
    struct hist_rec *r = make_rec(i);
    const struct hist_event *e = &r->ev;
    const char *s[6] = {e->execution_id, e->job, e->agent, e->host, e->error, e->message};
    unsigned char *p = buf;
    *p++ = 1;
    p = put_le(p, (uint32_t)e->item, 4);
    p = put_le(p, (uint64_t)e->fire_ms, 8);
    *p++ = (unsigned char)e->trigger;
    p = put_le(p, (uint32_t)e->attempt, 4);
    *p++ = (unsigned char)e->status;
    *p++ = e->has_exit_code;
    p = put_le(p, (uint32_t)e->exit_code, 4);
    p = put_le(p, (uint32_t)e->signal, 4);
    p = put_le(p, (uint64_t)e->queued_ms, 8);
    p = put_le(p, (uint64_t)e->started_ms, 8);
    p = put_le(p, (uint64_t)e->finished_ms, 8);
    for (int k = 0; k < 6; k++) {
        size_t n = strlen(s[k]);
        p = put_le(p, n, 2);
        memcpy(p, s[k], n);
        p += n;
    }
    p = put_le(p, e->output_len, 4);
    if (e->output_len)
        memcpy(p, e->output, e->output_len);
    p += e->output_len;
    free(r);
    return (size_t)(p - buf);
}

static void assert_same_but_fence(const struct hist_rec *v1, int i)
{
    struct hist_rec *want = make_rec(i);
    assert_string_equal(v1->ev.fence, ""); /* v1 had none */
    want->ev.fence = "";
    assert_same(v1, want);
    free(want);
}

/* A spool segment left by an agent of the previous version (v1 records) is
 * read after the upgrade; new v2 records are appended behind it and the two
 * replay in order. */
static void test_v1_spool_replays(void **state)
{
    (void)state;
    static unsigned char buf[HIST_REC_MAX_ENCODED];
    /* One record, straight through the decoder; its prefixes stay malformed. */
    size_t n1 = v1_payload(4, buf);
    struct hist_rec *d = hist_rec_decode(buf, n1);
    assert_non_null(d);
    assert_same_but_fence(d, 4);
    free(d);
    for (size_t cut = 0; cut < n1; cut += 5)
        assert_null(hist_rec_decode(buf, cut));
    buf[0] = 3; /* an unknown future version is refused, not misread */
    assert_null(hist_rec_decode(buf, n1));

    /* A whole v1 segment on disk, as the old agent left it. */
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/v1", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/seg-%016d.spool", dir, 7);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("SCSPOOL1", 1, 8, f), 8);
    for (int i = 0; i < 20; i++) {
        size_t n = v1_payload(i, buf);
        unsigned char hdr[8];
        uint32_t crc = hist_crc32(buf, n);
        put_le(put_le(hdr, n, 4), crc, 4);
        assert_int_equal(fwrite(hdr, 1, 8, f), 8);
        assert_int_equal(fwrite(buf, 1, n, f), n);
    }
    assert_int_equal(fclose(f), 0);
    struct hist_spool *s = open_spool(dir, 0);
    assert_int_equal(hist_spool_records(s), 20); /* nothing cut as torn */
    struct hist_rec *recs[10];
    uint64_t dropped = 0;
    for (int i = 0; i < 10; i++)
        recs[i] = make_rec(20 + i);
    assert_int_equal(hist_spool_append(s, recs, 10, &dropped), 10);
    assert_int_equal(dropped, 0);
    struct hist_rec *list;
    size_t n;
    int at = 0;
    for (;;) {
        assert_int_equal(hist_spool_read(s, 7, &list, &n), 0);
        if (n == 0)
            break;
        for (struct hist_rec *r = list; r; r = r->next, at++)
            if (at < 20)
                assert_same_but_fence(r, at);
            else
                assert_same(r, recs[at - 20]); /* with their fences */
        free_list(list);
        hist_spool_commit(s);
    }
    assert_int_equal(at, 30);
    assert_int_equal(hist_spool_records(s), 0);
    hist_spool_close(s);
    for (int i = 0; i < 10; i++)
        free(recs[i]);
    rm_dir(dir);
}

/* ---- workflow records ---- */

/* A JSON string of exactly n bytes. */
static char *json_of(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'q', n);
    s[0] = s[n - 1] = '"';
    s[n] = '\0';
    return s;
}

/* Workflow record number i: a run, a task instance or an output by i % 3; the
 * output of i == 2 is the largest allowed. */
static struct hist_rec *make_wf_rec(int i, const char *big)
{
    char run[32], task[16], reason[64], out[64];
    struct sc_err err;
    struct hist_rec *r = NULL;
    snprintf(run, sizeof run, "wf-%08d", i / 3);
    snprintf(task, sizeof task, "t%d", i % 7);
    reason[0] = '\0';
    if (i % 2)
        snprintf(reason, sizeof reason, "item %d failed \xE6\x97\xA5", i);
    snprintf(out, sizeof out, "{\"n\":%d,\"s\":\"x\"}", i);
    if (i % 3 == 0) {
        struct hist_wf_run_event e = {.run_id = run,
                                      .workflow = "nightly",
                                      .logical_ms = 1700000000000LL + i,
                                      .trigger = "backfill",
                                      .state = i % 2 ? "running" : "failed",
                                      .params = i % 2 ? "{\"region\":\"cn\"}" : NULL,
                                      .created_ms = 1700000000001LL,
                                      .started_ms = i % 2 ? 1700000000002LL : 0,
                                      .ended_ms = 0,
                                      .seq = i};
        r = hist_rec_new_wf_run(&e, &err);
    } else if (i % 3 == 1) {
        struct hist_wf_task_event e = {.run_id = run,
                                       .task = task,
                                       .state = "upstream_failed",
                                       .attempt = i % 4,
                                       .items = 8,
                                       .started_ms = 1700000000003LL,
                                       .ended_ms = 1700000000004LL,
                                       .reason = reason,
                                       .seq = i};
        r = hist_rec_new_wf_task(&e, &err);
    } else {
        const char *o = i == 2 ? big : out;
        struct hist_wf_xcom_event e = {.run_id = run,
                                       .task = task,
                                       .item = i,
                                       .attempt = 1,
                                       .output = i % 5 == 0 ? NULL : o,
                                       .output_len = i % 5 == 0 ? 0 : strlen(o),
                                       .seq = i};
        r = hist_rec_new_wf_xcom(&e, &err);
    }
    if (!r)
        fail_msg("record %d: %s: %s", i, err.field, err.msg);
    return r;
}

static void assert_same_any(const struct hist_rec *a, const struct hist_rec *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
    case HIST_REC_EXEC:
        assert_same(a, b);
        break;
    case HIST_REC_WF_RUN:
        assert_string_equal(a->run.run_id, b->run.run_id);
        assert_string_equal(a->run.workflow, b->run.workflow);
        assert_string_equal(a->run.trigger, b->run.trigger);
        assert_string_equal(a->run.state, b->run.state);
        assert_string_equal(a->run.params, b->run.params);
        assert_int_equal(a->run.logical_ms, b->run.logical_ms);
        assert_int_equal(a->run.created_ms, b->run.created_ms);
        assert_int_equal(a->run.started_ms, b->run.started_ms);
        assert_int_equal(a->run.ended_ms, b->run.ended_ms);
        assert_int_equal(a->run.seq, b->run.seq);
        break;
    case HIST_REC_WF_TASK:
        assert_string_equal(a->task.run_id, b->task.run_id);
        assert_string_equal(a->task.task, b->task.task);
        assert_string_equal(a->task.state, b->task.state);
        assert_string_equal(a->task.reason, b->task.reason);
        assert_int_equal(a->task.attempt, b->task.attempt);
        assert_int_equal(a->task.items, b->task.items);
        assert_int_equal(a->task.started_ms, b->task.started_ms);
        assert_int_equal(a->task.ended_ms, b->task.ended_ms);
        assert_int_equal(a->task.seq, b->task.seq);
        break;
    case HIST_REC_WF_XCOM:
        assert_string_equal(a->xcom.run_id, b->xcom.run_id);
        assert_string_equal(a->xcom.task, b->xcom.task);
        assert_int_equal(a->xcom.item, b->xcom.item);
        assert_int_equal(a->xcom.attempt, b->xcom.attempt);
        assert_int_equal(a->xcom.seq, b->xcom.seq);
        assert_int_equal(a->xcom.output_len, b->xcom.output_len);
        if (a->xcom.output_len)
            assert_memory_equal(a->xcom.output, b->xcom.output, a->xcom.output_len);
        break;
    }
}

static void test_wf_encode_roundtrip(void **state)
{
    (void)state;
    unsigned char *buf = malloc(HIST_REC_MAX_ENCODED);
    char *big = json_of(HIST_XCOM_MAX);
    assert_non_null(buf);
    for (int i = 0; i < 60; i++) {
        struct hist_rec *r = make_wf_rec(i, big);
        size_t n = hist_rec_encode(r, buf, HIST_REC_MAX_ENCODED);
        assert_true(n > 0);
        struct hist_rec *d = hist_rec_decode(buf, n);
        assert_non_null(d);
        assert_same_any(r, d);
        /* Every shorter prefix is malformed, never misread. */
        for (size_t cut = 0; cut<n; cut += n> 1000 ? 997 : 3)
            assert_null(hist_rec_decode(buf, cut));
        assert_null(hist_rec_decode(buf, n - 1));
        /* A capacity one byte short is refused, not overrun. */
        assert_int_equal(hist_rec_encode(r, buf, n - 1), 0);
        free(d);
        free(r);
    }
    /* An unknown kind tag, and a state index past the list, are refused. */
    struct hist_rec *r = make_wf_rec(1, big);
    size_t n = hist_rec_encode(r, buf, HIST_REC_MAX_ENCODED);
    buf[0] = 19;
    assert_null(hist_rec_decode(buf, n));
    buf[0] = 17;
    buf[1 + 24 + 8] = 10; /* task state index: 0..9 */
    assert_null(hist_rec_decode(buf, n));
    free(r);
    free(big);
    free(buf);
}

static void test_wf_validation(void **state)
{
    (void)state;
    struct sc_err err;
    char *big = json_of(HIST_XCOM_MAX + 1);
    struct hist_wf_xcom_event x = {
        .run_id = "r", .task = "t", .output = big, .output_len = HIST_XCOM_MAX + 1, .seq = 1};
    sc_err_clear(&err);
    assert_null(hist_rec_new_wf_xcom(&x, &err));
    assert_string_equal(err.field, "output");
    assert_non_null(strstr(err.msg, "65536"));
    x.output_len = HIST_XCOM_MAX; /* the first 65,536 bytes: not JSON any more */
    assert_null(hist_rec_new_wf_xcom(&x, &err));
    assert_string_equal(err.field, "output");
    free(big);
    struct hist_wf_run_event r = {.run_id = "r",
                                  .workflow = "w",
                                  .logical_ms = 1,
                                  .trigger = "manual",
                                  .state = "queued",
                                  .created_ms = 1,
                                  .params = "{\"a\":\"b\"}"};
    struct hist_rec *rec = hist_rec_new_wf_run(&r, &err);
    assert_non_null(rec);
    assert_string_equal(rec->run.params, "{\"a\":\"b\"}");
    free(rec);
    r.logical_ms = 0;
    assert_null(hist_rec_new_wf_run(&r, &err));
    assert_string_equal(err.field, "logical_ms");
    r.logical_ms = 1, r.state = NULL;
    assert_null(hist_rec_new_wf_run(&r, &err));
    assert_string_equal(err.field, "state");
    struct hist_wf_task_event t = {.run_id = "r", .task = "t\x7F", .state = "sensing"};
    assert_null(hist_rec_new_wf_task(&t, &err));
    assert_string_equal(err.field, "task");
}

/* Executions and workflow records in one spool, in order; a 64 KiB output cut
 * anywhere inside (a crash mid-write) is dropped with everything after it,
 * everything before it replays. */
static void test_wf_spool_mixed_and_torn(void **state)
{
    (void)state;
    enum { N = 30 };
    char dir[300], seg[400];
    long ends[N];
    uint64_t dropped = 0;
    struct hist_rec *recs[N];
    char *big = json_of(HIST_XCOM_MAX);
    snprintf(dir, sizeof dir, "%s/wfmixed", tmpdir);
    snprintf(seg, sizeof seg, "%s/seg-%016d.spool", dir, 1);
    for (int i = 0; i < N; i++)
        recs[i] = i % 2 ? make_rec(i) : make_wf_rec(i == 20 ? 2 : i, big);
    for (int round = 0; round < 4; round++) {
        struct hist_spool *s = open_spool(dir, 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(hist_spool_append(s, recs + i, 1, &dropped), 1);
            ends[i] = file_size(seg);
        }
        assert_int_equal(dropped, 0);
        hist_spool_close(s);
        /* Whole; then inside record 20 (the 64 KiB output): its header, its
         * middle, its last byte missing. */
        long cut = round == 0   ? ends[N - 1]
                   : round == 1 ? ends[19] + 5
                   : round == 2 ? ends[19] + (ends[20] - ends[19]) / 2
                                : ends[20] - 1;
        assert_int_equal(truncate(seg, cut), 0);
        int whole = round == 0 ? N : 20;
        s = open_spool(dir, 0);
        assert_int_equal(hist_spool_records(s), whole);
        struct hist_rec *list;
        size_t n;
        assert_int_equal(hist_spool_read(s, N + 10, &list, &n), 0);
        assert_int_equal(n, whole);
        int at = 0;
        for (struct hist_rec *r = list; r; r = r->next)
            assert_same_any(r, recs[at++]);
        free_list(list);
        hist_spool_commit(s);
        hist_spool_close(s);
        rm_dir(dir);
    }
    for (int i = 0; i < N; i++)
        free(recs[i]);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_text_cleanup_and_limits),
        cmocka_unit_test(test_crc32_known_value),
        cmocka_unit_test(test_append_reopen_replay_truncate),
        cmocka_unit_test(test_torn_at_random_byte),
        cmocka_unit_test(test_corrupt_byte_stops_replay_there),
        cmocka_unit_test(test_limit_keeps_newest),
        cmocka_unit_test(test_group_larger_than_limit_keeps_its_newest),
        cmocka_unit_test(test_v1_spool_replays),
        cmocka_unit_test(test_wf_encode_roundtrip),
        cmocka_unit_test(test_wf_validation),
        cmocka_unit_test(test_wf_spool_mixed_and_torn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
