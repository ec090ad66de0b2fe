/* tests/unit/test_alertch.c: alert channels without a network (core/alertch.h)
 * and the acknowledgement tokens (sql/hist_outbox.h): validation names the
 * field at fault; DingTalk's and Feishu's signatures equal vectors computed
 * independently with Python's hmac (timestamp + "\n" + secret, HMAC-SHA256,
 * base64; DingTalk urlencoded in the query, Feishu in the body); each chat
 * format has the robot's field names; a mail has its headers and CRLF lines;
 * a job's alert.channels/escalate round-trip; a token verifies only for its
 * alert, unaltered and before its expiry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alertch.h"
#include "core/job.h"
#include "core/json.h"
#include "sql/hist_outbox.h"

static cJSON *parse(const char *s)
{
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    return o;
}

static void expect_invalid(const char *channels, const char *field)
{
    struct sc_err err;
    sc_err_clear(&err);
    cJSON *a = parse(channels);
    assert_int_equal(alertch_validate(a, "alert.channels", &err), -EINVAL);
    assert_string_equal(err.field, field);
    cJSON_Delete(a);
}

static void test_validate(void **state)
{
    (void)state;
    struct sc_err err;
    cJSON *ok = parse(
        "[{\"type\":\"webhook\",\"url\":\"http://h/x\"},"
        "{\"type\":\"dingtalk\",\"url\":\"https://h/"
        "r?access_token=t\",\"secret\":{\"secret\":\"dk\"}},"
        "{\"type\":\"feishu\",\"url\":\"https://h/f\",\"secret\":\"s\"},"
        "{\"type\":\"wecom\",\"url\":\"https://h/w\"},{\"type\":\"slack\",\"url\":\"https://h/s\"},"
        "{\"type\":\"email\",\"smtp\":\"smtp://m:25\",\"from\":\"a@b\",\"to\":[\"c@d\"],"
        "\"starttls\":true,\"user\":\"u\",\"password\":{\"secret\":\"pw\"}}]");
    sc_err_clear(&err);
    assert_int_equal(alertch_validate(ok, "alert.channels", &err), 0);
    assert_string_equal(alertch_secret_ref(cJSON_GetArrayItem(ok, 1), "secret"), "dk");
    assert_null(alertch_secret_ref(cJSON_GetArrayItem(ok, 2), "secret"));
    cJSON_Delete(ok);
    expect_invalid("[]", "alert.channels");
    expect_invalid("[{\"type\":\"pager\",\"url\":\"http://h\"}]", "alert.channels[0].type");
    expect_invalid(
        "[{\"type\":\"slack\",\"url\":\"http://h\"},{\"type\":\"slack\",\"url\":\"ftp://h\"}]",
        "alert.channels[1].url");
    expect_invalid("[{\"type\":\"slack\"}]", "alert.channels[0].url");
    expect_invalid("[{\"type\":\"slack\",\"url\":\"http://h\",\"colour\":1}]",
                   "alert.channels[0].colour");
    expect_invalid(
        "[{\"type\":\"dingtalk\",\"url\":\"http://h\",\"secret\":{\"secret\":\"../x\"}}]",
        "alert.channels[0].secret");
    expect_invalid("[{\"type\":\"email\",\"smtp\":\"http://m\",\"from\":\"a@b\",\"to\":[\"c@d\"]}]",
                   "alert.channels[0].smtp");
    expect_invalid("[{\"type\":\"email\",\"smtp\":\"smtp://"
                   "m\",\"from\":\"a@b\",\"to\":[\"c@d\\r\\nBcc: e@f\"]}]",
                   "alert.channels[0].to");
    cJSON *esc =
        parse("[{\"after_s\":600,\"channels\":[{\"type\":\"slack\",\"url\":\"http://h\"}]},"
              "{\"after_s\":300,\"channels\":[{\"type\":\"slack\",\"url\":\"http://h\"}]}]");
    sc_err_clear(&err);
    assert_int_equal(alertch_validate_escalate(esc, "alert.escalate", &err), -EINVAL);
    assert_string_equal(err.field, "alert.escalate[1]");
    cJSON_Delete(esc);
}

static const char *notice_json =
    "{\"event\":\"open\",\"alert_id\":7,\"notice_id\":70,\"kind\":\"failed\","
    "\"job\":\"settle\",\"item\":3,\"domain\":\"finance\",\"job_level\":2,"
    "\"fire_time\":\"2026-12-07 01:02:03.000\",\"message\":\"item 3 failed\","
    "\"late\":true,\"late_since\":\"2026-12-07 01:02:04.000\","
    "\"ack_url\":\"http://console/api/v1/alerts/ack?token=7.1.x\"}";

static cJSON *render(const char *ch, const char *secret, int64_t now_ms, struct alertch_msg *m)
{
    struct sc_err err;
    sc_err_clear(&err);
    cJSON *c = parse(ch), *n = parse(notice_json);
    assert_int_equal(alertch_render(c, n, secret, now_ms, m, &err), 0);
    cJSON_Delete(c);
    cJSON_Delete(n);
    return m->smtp ? NULL : parse(m->body);
}

static const char *get(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static void test_dingtalk(void **state)
{
    (void)state;
    struct alertch_msg m;
    /* python3: quote_plus(b64encode(hmac.new(b"SECabc", b"1700000000123\nSECabc",
     * sha256).digest())) */
    cJSON *b = render("{\"type\":\"dingtalk\",\"url\":\"https://oapi/robot/send?access_token=t\"}",
                      "SECabc", 1700000000123LL, &m);
    assert_string_equal(m.url, "https://oapi/robot/send?access_token=t&timestamp=1700000000123"
                               "&sign=IqXBU%2FaLfwMA3S%2FtDcfRmHx5vWHw9Y1aOgFLBr1Ti9w%3D");
    assert_string_equal(get(b, "msgtype", NULL), "markdown");
    assert_non_null(strstr(get(b, "markdown", "text"), "OPEN failed: job settle item 3"));
    assert_non_null(strstr(get(b, "markdown", "text"), "Late: decided at 2026-12-07 01:02:04.000"));
    assert_non_null(
        strstr(get(b, "markdown", "text"), "[Acknowledge](http://console/api/v1/alerts/ack"));
    assert_non_null(strstr(get(b, "markdown", "title"), "settle"));
    cJSON_Delete(b);
    alertch_msg_free(&m);
    /* text format, no secret: the URL is left alone */
    b = render("{\"type\":\"dingtalk\",\"url\":\"https://oapi/robot/send\",\"format\":\"text\"}",
               NULL, 1, &m);
    assert_string_equal(m.url, "https://oapi/robot/send");
    assert_string_equal(get(b, "msgtype", NULL), "text");
    assert_non_null(strstr(get(b, "text", "content"), "Domain: finance, job level 2"));
    cJSON_Delete(b);
    alertch_msg_free(&m);
}

static void test_feishu_wecom_slack_webhook(void **state)
{
    (void)state;
    struct alertch_msg m;
    /* python3: b64encode(hmac.new(b"1700000000\nfsecret", b"", sha256).digest()) */
    cJSON *b =
        render("{\"type\":\"feishu\",\"url\":\"https://open/hook/x\",\"secret\":\"fsecret\"}", NULL,
               1700000000999LL, &m);
    assert_string_equal(m.url, "https://open/hook/x");
    assert_string_equal(get(b, "timestamp", NULL), "1700000000");
    assert_string_equal(get(b, "sign", NULL), "HLzt7YDW5Xjz5Mh4RVOd0NRODMm01O79OcTFVCyWBbQ=");
    assert_string_equal(get(b, "msg_type", NULL), "text");
    assert_non_null(strstr(get(b, "content", "text"), "job settle"));
    cJSON_Delete(b);
    alertch_msg_free(&m);
    b = render("{\"type\":\"wecom\",\"url\":\"https://qy/send?key=k\"}", NULL, 1, &m);
    assert_string_equal(get(b, "msgtype", NULL), "markdown");
    assert_non_null(strstr(get(b, "markdown", "content"), "### [shardcron] OPEN failed"));
    cJSON_Delete(b);
    alertch_msg_free(&m);
    b = render("{\"type\":\"slack\",\"url\":\"https://hooks/x\"}", NULL, 1, &m);
    assert_non_null(strstr(get(b, "text", NULL), "Acknowledge: http://console/"));
    assert_int_equal(cJSON_GetArraySize(b), 1);
    cJSON_Delete(b);
    alertch_msg_free(&m);
    /* webhook: the notice itself */
    b = render("{\"type\":\"webhook\",\"url\":\"http://h/x\"}", NULL, 1, &m);
    assert_string_equal(get(b, "job", NULL), "settle");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "notice_id")->valueint, 70);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "late")));
    cJSON_Delete(b);
    alertch_msg_free(&m);
}

static void test_email(void **state)
{
    (void)state;
    struct alertch_msg m;
    render(
        "{\"type\":\"email\",\"smtp\":\"smtp://mx:587\",\"from\":\"sc@x\",\"to\":[\"a@y\",\"b@y\"],"
        "\"starttls\":true,\"user\":\"u\",\"password\":\"plain\"}",
        "from-store", 1700000000000LL, &m);
    assert_true(m.smtp);
    assert_true(m.starttls);
    assert_string_equal(m.url, "smtp://mx:587");
    assert_string_equal(m.mail_from, "sc@x");
    assert_int_equal(m.nrcpt, 2);
    assert_string_equal(m.rcpt[1], "b@y");
    assert_string_equal(m.user, "u");
    assert_string_equal(m.password, "from-store"); /* the store's value wins */
    assert_non_null(strstr(m.body, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(m.body, "To: <a@y>, <b@y>\r\n"));
    assert_non_null(strstr(m.body, "Subject: [shardcron] OPEN failed: job settle item 3\r\n"));
    assert_non_null(strstr(m.body, "\r\n\r\n[shardcron] OPEN"));
    assert_null(strstr(m.body, "y\n")); /* no bare LF */
    alertch_msg_free(&m);
}

static void test_job_roundtrip(void **state)
{
    (void)state;
    const char *in =
        "{\"name\":\"j\",\"command\":\"true\",\"alert\":{\"channels\":[{\"type\":\"slack\","
        "\"url\":\"http://s\"}],\"escalate\":[{\"after_s\":60,\"channels\":[{\"type\":\"wecom\","
        "\"url\":\"http://w\"}]}]}}";
    struct job *j = NULL, *k = NULL;
    struct sc_err err;
    sc_err_clear(&err);
    assert_int_equal(job_parse(in, strlen(in), &j, &err), 0);
    assert_string_equal(j->alert.channels, "[{\"type\":\"slack\",\"url\":\"http://s\"}]");
    char *out = job_to_json(j);
    assert_int_equal(job_parse(out, strlen(out), &k, &err), 0);
    assert_string_equal(k->alert.escalate, j->alert.escalate);
    free(out);
    job_free(j);
    job_free(k);
    const char *bad =
        "{\"name\":\"j\",\"command\":\"true\",\"alert\":{\"escalate\":[{\"after_s\":60,"
        "\"channels\":[{\"type\":\"wecom\"}]}]}}";
    assert_int_equal(job_parse(bad, strlen(bad), &j, &err), -EINVAL);
    assert_string_equal(err.field, "alert.escalate[0].channels[0].url");
}

static void test_defaults(void **state)
{
    (void)state;
    struct sc_err err;
    cJSON *d = parse("{\"default\":[{\"type\":\"slack\",\"url\":\"http://d\"}],"
                     "\"domains\":{\"finance\":[{\"type\":\"wecom\",\"url\":\"http://f\"}]}}");
    sc_err_clear(&err);
    assert_int_equal(alertch_validate_defaults(d, "alert_channels_file", &err), 0);
    const cJSON *l = alertch_default_for(d, "finance");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "url")->valuestring,
                        "http://f");
    l = alertch_default_for(d, "hr");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "url")->valuestring,
                        "http://d");
    l = alertch_default_for(d, "");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "url")->valuestring,
                        "http://d");
    cJSON_Delete(d);
    d = parse("{\"domains\":{\"finance\":[{\"type\":\"wecom\",\"url\":\"http://f\"}]}}");
    assert_null(alertch_default_for(d, "hr"));
    cJSON_Delete(d);
    d = parse("[{\"type\":\"slack\",\"url\":\"http://d\"}]");
    assert_int_equal(alertch_validate_defaults(d, "alert_channels_file", &err), 0);
    assert_ptr_equal(alertch_default_for(d, "finance"), d);
    cJSON_Delete(d);
    d = parse("{\"domains\":{\"finance\":[{\"type\":\"wecom\",\"url\":\"gopher://f\"}]}}");
    assert_int_equal(alertch_validate_defaults(d, "alert_channels_file", &err), -EINVAL);
    assert_string_equal(err.field, "alert_channels_file.domains.finance[0].url");
    cJSON_Delete(d);
    d = parse("{\"defaults\":[]}");
    assert_int_equal(alertch_validate_defaults(d, "alert_channels_file", &err), -EINVAL);
    assert_string_equal(err.field, "alert_channels_file.defaults");
    cJSON_Delete(d);
}

static void test_ack_token(void **state)
{
    (void)state;
    unsigned char key[HIST_ACK_KEYBYTES], other[HIST_ACK_KEYBYTES];
    char t[HIST_ACK_TOKEN_MAX + 1], bad[HIST_ACK_TOKEN_MAX + 8];
    unsigned long long id = 0;
    memset(key, 7, sizeof key);
    memset(other, 8, sizeof other);
    hist_ack_token(key, 42, 2000, t, sizeof t);
    assert_int_equal(strncmp(t, "42.2000.", 8), 0);
    assert_int_equal(hist_ack_verify(key, t, 1999, &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(hist_ack_verify(key, t, 2001, &id), -ETIMEDOUT);
    assert_int_equal(hist_ack_verify(other, t, 1999, &id), -EINVAL);
    snprintf(bad, sizeof bad, "43%s", t + 2); /* another alert, same mac */
    assert_int_equal(hist_ack_verify(key, bad, 1999, &id), -EINVAL);
    snprintf(bad, sizeof bad, "42.9999%s", t + 7); /* a later expiry */
    assert_int_equal(hist_ack_verify(key, bad, 1999, &id), -EINVAL);
    snprintf(bad, sizeof bad, "%s ", t);
    assert_int_equal(hist_ack_verify(key, bad, 1999, &id), -EINVAL);
    assert_int_equal(hist_ack_verify(key, "", 1, &id), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_dingtalk),
        cmocka_unit_test(test_feishu_wecom_slack_webhook),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_job_roundtrip),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_ack_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
