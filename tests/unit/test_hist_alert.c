/* tests/unit/test_hist_alert.c: the alert pieces that need no MySQL —
 * hist_alert_wanted (the job's alert.on against the kind), the webhook payload,
 * the grouping of conditions into notices (a burst gives one notice with its
 * count, more items of an open group give none, reminders, one recovery, a
 * blip inside the window gives nothing, a rebuilt group is not announced
 * again),
 * and the hist_hooks sender against loopback listeners made here: a 2xx answer
 * counts as sent and carries the body, a 500 counts as failed, a listener that
 * never answers holds its slots while the queue bound drops the rest, and
 * anything but http:// and https:// is refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/json.h"
#include "sql/hist_alert.h"

static struct job *mkjob(const char *json)
{
    struct job *j = NULL;
    struct sc_err err;
    sc_err_clear(&err);
    assert_int_equal(job_parse(json, strlen(json), &j, &err), 0);
    return j;
}

static struct hist_alert_notice notice(const char *event, const char *kind, int item)
{
    struct hist_alert_notice n;
    memset(&n, 0, sizeof n);
    n.id = 42;
    snprintf(n.event, sizeof n.event, "%s", event);
    snprintf(n.kind, sizeof n.kind, "%s", kind);
    snprintf(n.job, sizeof n.job, "settle");
    n.item = item;
    snprintf(n.message, sizeof n.message, "item %d %s", item, kind);
    return n;
}

static void test_wanted(void **state)
{
    (void)state;
    struct job *j = mkjob("{\"name\":\"settle\",\"cron\":\"0 0 1 * * ?\",\"command\":\"true\","
                          "\"alert\":{\"webhook\":\"https://h.example/x\",\"on\":[\"failure\"]}}");
    struct job *all = mkjob("{\"name\":\"settle\",\"cron\":\"0 0 1 * * ?\",\"command\":\"true\","
                            "\"alert\":{\"webhook\":\"http://h.example/x\"}}");
    struct job *none = mkjob("{\"name\":\"settle\",\"cron\":\"0 0 1 * * ?\",\"command\":\"true\"}");
    struct hist_alert_notice f = notice("open", "failed", 0), t = notice("open", "timeout", 0),
                             m = notice("open", "missed", 0);
    assert_true(hist_alert_wanted(j, &f));
    assert_false(hist_alert_wanted(j, &t));
    assert_false(hist_alert_wanted(j, &m));
    assert_true(hist_alert_wanted(all, &t));
    assert_true(hist_alert_wanted(all, &m));
    assert_false(hist_alert_wanted(none, &f));
    assert_false(hist_alert_wanted(NULL, &f));
    /* no_agent (no eligible agent: the fires cannot run) goes with "missed". */
    struct job *missed =
        mkjob("{\"name\":\"settle\",\"cron\":\"0 0 1 * * ?\",\"command\":\"true\","
              "\"alert\":{\"webhook\":\"http://h.example/x\",\"on\":[\"missed\"]}}");
    struct hist_alert_notice na = notice("open", "no_agent", -1);
    assert_false(hist_alert_wanted(j, &na));
    assert_true(hist_alert_wanted(missed, &na));
    assert_true(hist_alert_wanted(all, &na));
    assert_false(hist_alert_wanted(missed, &f));
    assert_false(hist_alert_wanted(none, &na));
    /* no_failover only when asked for: not in the default set */
    struct job *nf =
        mkjob("{\"name\":\"settle\",\"cron\":\"0 0 1 * * ?\",\"command\":\"true\","
              "\"alert\":{\"webhook\":\"http://h.example/x\",\"on\":[\"no_failover\"]}}");
    struct hist_alert_notice nfo = notice("open", "no_failover", -1);
    assert_false(hist_alert_wanted(all, &nfo));
    assert_true(hist_alert_wanted(nf, &nfo));
    assert_false(hist_alert_wanted(nf, &na));
    job_free(nf);
    job_free(missed);
    job_free(j);
    job_free(all);
    job_free(none);
}

static void test_payload(void **state)
{
    (void)state;
    struct job *j = mkjob("{\"name\":\"settle\",\"cron\":\"0 0 1 * * ?\",\"command\":\"true\","
                          "\"domain\":\"finance\",\"level\":3,"
                          "\"alert\":{\"webhook\":\"http://h.example/x\"}}");
    struct hist_alert_notice n = notice("resolve", "timeout", 5);
    snprintf(n.execution_id, sizeof n.execution_id, "e-1");
    snprintf(n.fire, sizeof n.fire, "2026-11-21 00:00:00.000");
    char *s = hist_alert_payload(j, &n, "agent-7");
    assert_non_null(s);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "event")->valuestring, "resolve");
    assert_int_equal(cJSON_GetObjectItem(o, "alert_id")->valueint, 42);
    assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "timeout");
    assert_string_equal(cJSON_GetObjectItem(o, "job")->valuestring, "settle");
    assert_int_equal(cJSON_GetObjectItem(o, "item")->valueint, 5);
    assert_string_equal(cJSON_GetObjectItem(o, "domain")->valuestring, "finance");
    assert_int_equal(cJSON_GetObjectItem(o, "job_level")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItem(o, "execution_id")->valuestring, "e-1");
    assert_string_equal(cJSON_GetObjectItem(o, "fire_time")->valuestring,
                        "2026-11-21 00:00:00.000");
    assert_string_equal(cJSON_GetObjectItem(o, "sender")->valuestring, "agent-7");
    cJSON_Delete(o);
    free(s);
    /* Not about one item, no execution: those keys are absent. */
    n = notice("open", "failed", -1);
    s = hist_alert_payload(j, &n, NULL);
    o = cJSON_Parse(s);
    assert_null(cJSON_GetObjectItem(o, "item"));
    assert_null(cJSON_GetObjectItem(o, "execution_id"));
    assert_null(cJSON_GetObjectItem(o, "sender"));
    cJSON_Delete(o);
    free(s);
    /* no_agent: about the job, no item, no execution, no fire time. */
    n = notice("open", "no_agent", -1);
    snprintf(n.message, sizeof n.message, "no eligible agent");
    s = hist_alert_payload(j, &n, "agent-7");
    o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "no_agent");
    assert_string_equal(cJSON_GetObjectItem(o, "job")->valuestring, "settle");
    assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring, "no eligible agent");
    assert_null(cJSON_GetObjectItem(o, "item"));
    assert_null(cJSON_GetObjectItem(o, "execution_id"));
    assert_null(cJSON_GetObjectItem(o, "fire_time"));
    cJSON_Delete(o);
    free(s);
    job_free(j);
}

/* ---------------------------------------------------------------- grouping */

static struct hist_alert_notice cond(const char *kind, const char *job, int item,
                                     unsigned long long id)
{
    struct hist_alert_notice c;
    memset(&c, 0, sizeof c);
    c.id = id;
    snprintf(c.kind, sizeof c.kind, "%s", kind);
    snprintf(c.job, sizeof c.job, "%s", job);
    c.item = item;
    snprintf(c.message, sizeof c.message, "item %d %s", item, kind);
    return c;
}

/* take: the notices due at t; *n their number (the caller frees). */
static struct hist_alert_notice *take(struct hist_alert_groups *g, const struct hist_alert_opts *o,
                                      int64_t t, size_t *n)
{
    struct hist_alert_notice *v = NULL;
    *n = 0;
    assert_int_equal(hist_alert_group_take(g, o, t, &v, n), 0);
    return v;
}

static void test_group_burst(void **state)
{
    (void)state;
    struct hist_alert_groups *g;
    struct hist_alert_opts o = {.reminder_s = 60, .group_ms = 2000};
    struct hist_alert_notice *v;
    size_t n;
    const int64_t t0 = 1000000;
    assert_int_equal(hist_alert_groups_new(&g), 0);
    /* 120 items of settle fail, then 80 more a second later: one window */
    for (int i = 0; i < 120; i++) {
        struct hist_alert_notice c = cond("failed", "settle", i, 10 + (unsigned)i);
        assert_int_equal(hist_alert_group_open(g, &c, false, 0, t0), 0);
    }
    v = take(g, &o, t0, &n);
    assert_int_equal(n, 0);
    for (int i = 120; i < 200; i++) {
        struct hist_alert_notice c = cond("failed", "settle", i, 10 + (unsigned)i);
        assert_int_equal(hist_alert_group_open(g, &c, false, 0, t0 + 1000), 0);
    }
    v = take(g, &o, t0 + 1999, &n);
    assert_int_equal(n, 0);
    v = take(g, &o, t0 + 2000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].event, "open");
    assert_string_equal(v[0].kind, "failed");
    assert_string_equal(v[0].job, "settle");
    assert_int_equal(v[0].count, 200);
    assert_int_equal(v[0].item, -1);
    assert_int_equal(v[0].id, 10); /* the group's first row */
    assert_false(v[0].recovered);
    assert_string_equal(v[0].items, "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15");
    assert_non_null(strstr(v[0].message, "200 items failed"));
    free(v);
    /* another item of the open group: no notice (dedup by job and kind) */
    struct hist_alert_notice late = cond("failed", "settle", 200, 500);
    assert_int_equal(hist_alert_group_open(g, &late, false, 0, t0 + 3000), 0);
    v = take(g, &o, t0 + 3000, &n);
    assert_int_equal(n, 0);
    /* a reminder once the interval has passed since the open notice, not twice */
    v = take(g, &o, t0 + 2000 + 59999, &n);
    assert_int_equal(n, 0);
    v = take(g, &o, t0 + 2000 + 60000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].event, "reminder");
    assert_int_equal(v[0].count, 201);
    free(v);
    v = take(g, &o, t0 + 2000 + 60001, &n);
    assert_int_equal(n, 0);
    /* items clear one by one: nothing until the last, then one recovery */
    for (int i = 0; i < 200; i++) {
        struct hist_alert_notice c = cond("failed", "settle", i, 10 + (unsigned)i);
        hist_alert_group_clear(g, &c);
    }
    v = take(g, &o, t0 + 70000, &n);
    assert_int_equal(n, 0);
    hist_alert_group_clear(g, &late);
    v = take(g, &o, t0 + 70001, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].event, "resolve");
    assert_true(v[0].recovered);
    assert_int_equal(v[0].count, 201);
    free(v);
    assert_int_equal(hist_alert_groups_len(g), 0);
    v = take(g, &o, t0 + 80000, &n);
    assert_int_equal(n, 0);
    hist_alert_groups_free(g);
}

static void test_group_kinds(void **state)
{
    (void)state;
    struct hist_alert_groups *g;
    struct hist_alert_opts o = {.reminder_s = 3600, .group_ms = 0};
    struct hist_alert_notice *v;
    size_t n;
    assert_int_equal(hist_alert_groups_new(&g), 0);
    /* one item: the notice names it; another kind or job is its own group */
    struct hist_alert_notice a = cond("failed", "settle", 3, 1),
                             b = cond("timeout", "settle", 3, 2),
                             c = cond("failed", "report", 0, 3), ag = cond("agent", "", -1, 4);
    snprintf(ag.agent, sizeof ag.agent, "a7");
    snprintf(ag.message, sizeof ag.message, "clock skew 5000 ms");
    assert_int_equal(hist_alert_group_open(g, &a, false, 0, 0), 0);
    assert_int_equal(hist_alert_group_open(g, &b, false, 0, 0), 0);
    assert_int_equal(hist_alert_group_open(g, &c, false, 0, 0), 0);
    assert_int_equal(hist_alert_group_open(g, &ag, false, 0, 0), 0);
    v = take(g, &o, 0, &n); /* window 0: at once */
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i].event, "open");
        assert_int_equal(v[i].count, 1);
        if (!strcmp(v[i].kind, "failed") && !strcmp(v[i].job, "settle")) {
            assert_int_equal(v[i].item, 3);
            assert_string_equal(v[i].message, "item 3 failed");
        }
        if (!strcmp(v[i].kind, "agent")) {
            assert_string_equal(v[i].agent, "a7");
            assert_int_equal(v[i].item, -1);
            assert_string_equal(v[i].message, "clock skew 5000 ms");
        }
    }
    free(v);
    /* a blip: opened and cleared inside its window gives no notice at all */
    struct hist_alert_opts w = {.reminder_s = 3600, .group_ms = 10000};
    struct hist_alert_notice d = cond("missed", "settle", 1, 9);
    assert_int_equal(hist_alert_group_open(g, &d, false, 0, 100), 0);
    hist_alert_group_clear(g, &d);
    v = take(g, &w, 20000, &n);
    assert_int_equal(n, 0);
    assert_int_equal(hist_alert_groups_len(g), 4);
    /* a group rebuilt from rows already notified (a new leader) is not
     * announced again; its reminder keeps the old schedule */
    struct hist_alert_notice e = cond("no_failover", "pay", -1, 11);
    assert_int_equal(hist_alert_group_open(g, &e, true, 50000, 60000), 0);
    v = take(g, &w, 60000, &n);
    assert_int_equal(n, 0);
    v = take(g, &w, 50000 + 3600000, &n);
    assert_true(n >= 1);
    bool reminded = false;
    for (size_t i = 0; i < n; i++)
        reminded |= !strcmp(v[i].kind, "no_failover") && !strcmp(v[i].event, "reminder");
    assert_true(reminded);
    free(v);
    hist_alert_groups_free(g);
}

static void test_payload_group(void **state)
{
    (void)state;
    struct hist_alert_notice n = notice("open", "failed", -1);
    n.count = 200;
    snprintf(n.items, sizeof n.items, "0,1,2");
    char *s = hist_alert_payload(NULL, &n, NULL);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_int_equal(cJSON_GetObjectItem(o, "count")->valueint, 200);
    assert_string_equal(cJSON_GetObjectItem(o, "items")->valuestring, "0,1,2");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "recovered")));
    assert_null(cJSON_GetObjectItem(o, "agent"));
    cJSON_Delete(o);
    free(s);
    n = notice("resolve", "agent", -1);
    n.recovered = true;
    snprintf(n.job, sizeof n.job, "%s", "");
    snprintf(n.agent, sizeof n.agent, "a7");
    s = hist_alert_payload(NULL, &n, NULL);
    o = cJSON_Parse(s);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "recovered")));
    assert_int_equal(cJSON_GetObjectItem(o, "count")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "agent")->valuestring, "a7");
    cJSON_Delete(o);
    free(s);
}

/* ---------------------------------------------------------------- loopback receivers */

struct rcv {
    int fd, port;
    int code;       /* answer with this status; 0 = never answer */
    int want;       /* connections to serve, then the thread ends */
    char body[512]; /* the last body received */
    char ctype[64];
    pthread_t th;
};

static void *serve(void *arg)
{
    struct rcv *r = arg;
    for (int k = 0; k < r->want; k++) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            break;
        char buf[4096];
        size_t n = 0;
        ssize_t got;
        char *hdr_end = NULL;
        long clen = -1;
        while (n < sizeof buf - 1 && (got = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
            n += (size_t)got;
            buf[n] = '\0';
            if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
                const char *cl = strcasestr(buf, "Content-Length:");
                clen = cl ? strtol(cl + 15, NULL, 10) : 0;
                const char *ct = strcasestr(buf, "Content-Type:");
                if (ct)
                    sscanf(ct + 13, " %63[^\r]", r->ctype);
            }
            if (hdr_end && (long)(n - (size_t)(hdr_end + 4 - buf)) >= clen)
                break;
        }
        if (hdr_end)
            snprintf(r->body, sizeof r->body, "%s", hdr_end + 4);
        if (r->code) {
            char ans[128];
            int len = snprintf(ans, sizeof ans,
                               "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                               r->code);
            if (write(c, ans, (size_t)len) < 0)
                break;
            close(c);
        }
        /* code 0: the connection stays open, unanswered, until the test ends */
    }
    return NULL;
}

static void rcv_start(struct rcv *r, int code, int want)
{
    memset(r, 0, sizeof *r);
    r->code = code;
    r->want = want;
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->fd, 16), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &al), 0);
    r->port = ntohs(a.sin_port);
    if (want > 0)
        assert_int_equal(pthread_create(&r->th, NULL, serve, r), 0);
}

/* wait_stats: poll until pred holds, at most 20 s (a deadline, not a delay). */
static bool wait_stats(struct hist_hooks *h, bool (*pred)(const struct hist_hooks_stats *))
{
    struct hist_hooks_stats s;
    for (int i = 0; i < 2000; i++) {
        hist_hooks_stats(h, &s);
        if (pred(&s))
            return true;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

static bool one_sent(const struct hist_hooks_stats *s)
{
    return s->sent == 1 && s->queued == 0;
}

static bool one_failed(const struct hist_hooks_stats *s)
{
    return s->failed == 1 && s->queued == 0;
}

static void test_hooks_sent(void **state)
{
    (void)state;
    struct rcv r;
    struct hist_hooks *h;
    char url[64];
    rcv_start(&r, 204, 1);
    assert_int_equal(hist_hooks_new(8, 10000, &h), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook?x=1", r.port);
    assert_int_equal(hist_hooks_post(h, url, "{\"event\":\"open\"}"), 0);
    assert_true(wait_stats(h, one_sent));
    pthread_join(r.th, NULL);
    assert_string_equal(r.body, "{\"event\":\"open\"}");
    assert_string_equal(r.ctype, "application/json");
    hist_hooks_free(h);
    close(r.fd);
}

static void test_hooks_failed(void **state)
{
    (void)state;
    struct rcv r;
    struct hist_hooks *h;
    char url[64];
    rcv_start(&r, 500, 1);
    assert_int_equal(hist_hooks_new(8, 10000, &h), 0);
    snprintf(url, sizeof url, "HTTP://127.0.0.1:%d/", r.port);
    assert_int_equal(hist_hooks_post(h, url, "{}"), 0);
    assert_true(wait_stats(h, one_failed));
    struct hist_hooks_stats s;
    hist_hooks_stats(h, &s);
    assert_int_equal(s.sent, 0);
    pthread_join(r.th, NULL);
    hist_hooks_free(h);
    close(r.fd);
}

static void test_hooks_bounded(void **state)
{
    (void)state;
    struct rcv r;
    struct hist_hooks *h;
    char url[64];
    rcv_start(&r, 0, 0); /* listens, never accepts nor answers */
    assert_int_equal(hist_hooks_new(3, 60000, &h), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", r.port);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hist_hooks_post(h, url, "{}"), 0);
    assert_int_equal(hist_hooks_post(h, url, "{}"), -EAGAIN);
    assert_int_equal(hist_hooks_post(h, url, "{}"), -EAGAIN);
    struct hist_hooks_stats s;
    hist_hooks_stats(h, &s);
    assert_int_equal(s.dropped, 2);
    assert_int_equal(s.queued, 3);
    assert_int_equal(s.sent + s.failed, 0);
    /* Freeing abandons the transfers at once (it does not wait 60 s). */
    hist_hooks_free(h);
    close(r.fd);
}

static void test_hooks_refuse(void **state)
{
    (void)state;
    struct hist_hooks *h;
    assert_int_equal(hist_hooks_new(2, 1000, &h), 0);
    assert_int_equal(hist_hooks_post(h, "ftp://127.0.0.1/x", "{}"), -EINVAL);
    assert_int_equal(hist_hooks_post(h, "file:///etc/passwd", "{}"), -EINVAL);
    assert_int_equal(hist_hooks_post(h, "", "{}"), -EINVAL);
    assert_int_equal(hist_hooks_post(h, NULL, "{}"), -EINVAL);
    struct hist_hooks_stats s;
    hist_hooks_stats(h, &s);
    assert_int_equal(s.queued, 0);
    hist_hooks_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_group_burst),   cmocka_unit_test(test_group_kinds),
        cmocka_unit_test(test_payload_group), cmocka_unit_test(test_hooks_sent),
        cmocka_unit_test(test_hooks_failed),  cmocka_unit_test(test_hooks_bounded),
        cmocka_unit_test(test_hooks_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
