/* sql/hist_hooks.c: the alert webhook sender (see sql/hist_alert.h).
 *
 * One thread drives a libcurl multi handle: bodies posted by any thread wait in
 * a bounded FIFO, at most HIST_HOOKS_INFLIGHT transfers run at once, each with a
 * total timeout. A stuck receiver therefore holds at most its in-flight slots
 * for one timeout; the queue never grows past its bound (what does not fit is
 * counted as dropped, and the alert's next reminder carries it). TLS is
 * libcurl's (certificates checked against the system store). */
#define LOG_CAT "shardcron.alerts"
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "sql/hist_alert.h"
#include "sql/hist_outbox.h"

struct hook_req {
    char *url, *body;
    struct curl_slist *hdr;
    struct alertch_msg msg; /* hist_hooks_send: the delivery (url, body point into it) */
    bool owned_msg;
    size_t rd;               /* SMTP: bytes of body already read by libcurl */
    struct curl_slist *rcpt; /* SMTP recipients */
    hist_hooks_done_fn done; /* NULL for hist_hooks_post */
    void *done_arg;
    char errbuf[CURL_ERROR_SIZE];
    CURL *easy;
    struct hook_req *next;
};

struct hist_hooks {
    pthread_t thread;
    pthread_mutex_t lock;
    CURLM *multi;
    struct hook_req *head, *tail; /* waiting, under lock */
    struct hook_req *running;     /* in flight, thread only */
    int nqueued;                  /* waiting + in flight, under lock */
    int max_queued, timeout_ms, inflight;
    bool stop;
    uint64_t sent, failed, dropped;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void req_free(struct hook_req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdr);
    curl_slist_free_all(r->rcpt);
    if (r->owned_msg) {
        alertch_msg_free(&r->msg);
    } else {
        free(r->url);
        free(r->body);
    }
    free(r);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* mail_read: libcurl's upload callback for SMTP, the message from r->body. */
static size_t mail_read(char *buf, size_t size, size_t n, void *arg)
{
    struct hook_req *r = arg;
    size_t left = strlen(r->body) - r->rd, k = size * n < left ? size * n : left;
    memcpy(buf, r->body + r->rd, k);
    r->rd += k;
    return k;
}

/* start_smtp: one mail through libcurl's SMTP (hooks thread). */
static int start_smtp(struct hist_hooks *h, struct hook_req *r)
{
    char from[400];
    if (!(r->easy = curl_easy_init()))
        return -ENOMEM;
    for (int i = 0; i < r->msg.nrcpt; i++) {
        char to[400];
        snprintf(to, sizeof to, "<%s>", r->msg.rcpt[i]);
        struct curl_slist *l = curl_slist_append(r->rcpt, to);
        if (!l)
            return -ENOMEM;
        r->rcpt = l;
    }
    snprintf(from, sizeof from, "<%s>", r->msg.mail_from);
    curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(r->easy, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(r->easy, CURLOPT_MAIL_RCPT, r->rcpt);
    curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
    if (r->msg.starttls)
        curl_easy_setopt(r->easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    /* A fresh connection per mail, closed after it: the multi handle would
     * otherwise reuse another channel's plain connection to the same server,
     * and a mail that requires STARTTLS went out in clear that way
     * (alert_channels.sh caught it, libcurl 7.88). Mail is rare enough. */
    curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
    if (r->msg.user) {
        curl_easy_setopt(r->easy, CURLOPT_USERNAME, r->msg.user);
        curl_easy_setopt(r->easy, CURLOPT_PASSWORD, r->msg.password ? r->msg.password : "");
    }
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
        return -ENOMEM;
    r->next = h->running;
    h->running = r;
    return 0;
}

/* start: hand one request to the multi handle (hooks thread). */
static int start(struct hist_hooks *h, struct hook_req *r)
{
    if (r->msg.smtp)
        return start_smtp(h, r);
    r->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = r->hdr ? curl_slist_append(r->hdr, "Expect:") : NULL;
    if (more)
        r->hdr = more;
    if (!more || !(r->easy = curl_easy_init()))
        return -ENOMEM;
    curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "shardcron/" SC_VERSION);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
        return -ENOMEM;
    r->next = h->running;
    h->running = r;
    return 0;
}

static void unlink_running(struct hist_hooks *h, struct hook_req *r)
{
    for (struct hook_req **p = &h->running; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            return;
        }
}

/* finished: count a completed transfer and free it (hooks thread). */
static void finished(struct hist_hooks *h, struct hook_req *r, CURLcode res)
{
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    bool ok = res == CURLE_OK && (r->msg.smtp || (code >= 200 && code < 300));
    char why[CURL_ERROR_SIZE + 64];
    if (ok)
        why[0] = 0;
    else if (res == CURLE_OK)
        snprintf(why, sizeof why, "HTTP %ld", code);
    else
        snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
    /* The URL may carry a token or a signature: the log names the host only. */
    if (!ok)
        LOGW("alert %s to %.*s failed: %s", r->msg.smtp ? "mail" : "webhook",
             (int)strcspn(r->url, "?"), r->url, why);
    if (r->done)
        r->done(r->done_arg, ok, why);
    curl_multi_remove_handle(h->multi, r->easy);
    unlink_running(h, r);
    req_free(r);
    pthread_mutex_lock(&h->lock);
    if (ok)
        h->sent++;
    else
        h->failed++;
    h->inflight--;
    h->nqueued--;
    pthread_mutex_unlock(&h->lock);
}

static void *hooks_main(void *arg)
{
    struct hist_hooks *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        while (h->inflight < HIST_HOOKS_INFLIGHT && h->head) {
            struct hook_req *r = h->head;
            h->head = r->next;
            if (!h->head)
                h->tail = NULL;
            r->next = NULL;
            h->inflight++;
            pthread_mutex_unlock(&h->lock);
            int rc = start(h, r);
            pthread_mutex_lock(&h->lock);
            if (rc < 0) {
                if (r->easy)
                    curl_multi_remove_handle(h->multi, r->easy);
                req_free(r);
                h->inflight--;
                h->nqueued--;
                h->failed++;
            }
        }
        pthread_mutex_unlock(&h->lock);
        int running = 0, left = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(h->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct hook_req *r = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            if (r)
                finished(h, r, msg->data.result);
        }
        /* Woken early by hist_hooks_post / hist_hooks_free (curl_multi_wakeup). */
        curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int hist_hooks_new(int max_queued, int timeout_ms, struct hist_hooks **out)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return -EIO;
    struct hist_hooks *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->max_queued = max_queued > 0 ? max_queued : 64;
    h->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    if (!(h->multi = curl_multi_init())) {
        free(h);
        return -ENOMEM;
    }
    pthread_mutex_init(&h->lock, NULL);
    if (pthread_create(&h->thread, NULL, hooks_main, h) != 0) {
        curl_multi_cleanup(h->multi);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return -EAGAIN;
    }
    *out = h;
    return 0;
}

/* enqueue: r joins the FIFO; -EAGAIN (r freed) when full. */
static int enqueue(struct hist_hooks *h, struct hook_req *r)
{
    pthread_mutex_lock(&h->lock);
    if (h->nqueued >= h->max_queued) {
        h->dropped++;
        pthread_mutex_unlock(&h->lock);
        req_free(r);
        return -EAGAIN;
    }
    if (h->tail)
        h->tail->next = r;
    else
        h->head = r;
    h->tail = r;
    h->nqueued++;
    pthread_mutex_unlock(&h->lock);
    curl_multi_wakeup(h->multi);
    return 0;
}

int hist_hooks_send(struct hist_hooks *h, struct alertch_msg *msg, hist_hooks_done_fn done,
                    void *arg)
{
    struct hook_req *r = calloc(1, sizeof *r);
    if (!r) {
        alertch_msg_free(msg);
        return -ENOMEM;
    }
    r->msg = *msg;
    memset(msg, 0, sizeof *msg);
    r->owned_msg = true;
    r->url = r->msg.url;
    r->body = r->msg.body;
    r->done = done;
    r->done_arg = arg;
    return enqueue(h, r);
}

int hist_hooks_room(struct hist_hooks *h)
{
    pthread_mutex_lock(&h->lock);
    int n = h->max_queued - h->nqueued;
    pthread_mutex_unlock(&h->lock);
    return n > 0 ? n : 0;
}

int hist_hooks_post(struct hist_hooks *h, const char *url, const char *body)
{
    if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return -EINVAL;
    struct hook_req *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url)) || !(r->body = strdup(body ? body : "{}"))) {
        req_free(r);
        return -ENOMEM;
    }
    return enqueue(h, r);
}

void hist_hooks_stats(struct hist_hooks *h, struct hist_hooks_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    s->sent = h->sent;
    s->failed = h->failed;
    s->dropped = h->dropped;
    s->queued = (uint64_t)h->nqueued;
    pthread_mutex_unlock(&h->lock);
}

void hist_hooks_free(struct hist_hooks *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_mutex_unlock(&h->lock);
    curl_multi_wakeup(h->multi);
    pthread_join(h->thread, NULL);
    while (h->running) {
        struct hook_req *r = h->running;
        h->running = r->next;
        curl_multi_remove_handle(h->multi, r->easy);
        if (r->done)
            r->done(r->done_arg, false, "sender stopped");
        req_free(r);
    }
    while (h->head) {
        struct hook_req *r = h->head;
        h->head = r->next;
        if (r->done)
            r->done(r->done_arg, false, "sender stopped");
        req_free(r);
    }
    curl_multi_cleanup(h->multi);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
