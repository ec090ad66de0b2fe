/* core/http.c: evhttp listening and replies shared by the agent and the console,
 * with the gate every connection passes before evhttp sees its bytes: caps on
 * connections and buffered request bytes, deadlines that do not move with every
 * byte, the strict request-head check (core/http_head.c), JSON refusals, and a
 * listener that pauses instead of spinning when accept() runs out of
 * descriptors. */
#define LOG_CAT "shardcron.http"
#include "core/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "core/http_head.h"
#include "core/json.h"
#include "core/log.h"
#include "core/strmap.h"

/* ---------------------------------------------------------------- the gate
 *
 * Every accepted connection gets a filter bufferevent (evhttp_set_bevcb) whose
 * input filter sees the raw bytes before evhttp does. It admits the connection
 * (caps per client address and in total, counted from accept), checks each
 * request head with http_head_check (core/http_head.c) before evhttp parses it,
 * reserves the head and the declared body against the byte budgets before the
 * body is read, and holds each connection to deadlines that do not move with
 * every byte: idle (waiting for a request), head (first byte to the empty line)
 * and body (the empty line to the last byte). A request refused here gets the
 * API's JSON error with "Connection: close", written straight to the socket; the
 * connection is then shut down for writing and closed once the client has read
 * it (or after a short linger). Bytes of a request are released when its reply
 * has been sent (evhttp's on-complete callback, set by gate_dispatch) or when
 * its connection closes.
 *
 * evhttp frees a connection (and our filter with it) on its own terms; the
 * filter's context is freed later, when libevent finalizes the bufferevent.
 * Until then the socket bufferevent under the filter is still allocated but
 * has no callbacks: gconn_dropped tells our timer not to touch the filter. */

enum gstate { G_NEW, G_IDLE, G_HEAD, G_BODY, G_WAIT, G_CLOSING };

struct gclient {
    int conns;
    size_t held;
};

struct gconn {
    struct http_server *s;
    struct bufferevent *bev;   /* the filter: evhttp's */
    struct bufferevent *under; /* the socket */
    struct gclient *cl;        /* NULL until admitted */
    struct event *timer;
    struct event *kick; /* EV_WRITE on the socket: run the output filter again */
    struct evbuffer_cb_entry *outcb, *filtcb;
    enum gstate st;
    size_t held;      /* bytes reserved for the current request */
    size_t body_left; /* of the current request */
    int64_t close_at; /* G_CLOSING: close by then (monotonic ms) */
    bool shut;        /* G_CLOSING: write side shut down */
    char addr[64];
    char key[24];          /* "%p" of bev in s->conns */
    int64_t dispatched_us; /* the current request went to the handler (monotonic), 0 none */
};

struct http_server {
    struct evhttp *http;
    struct event_base *base;
    struct http_limits lim;
    struct evconnlistener *lev;
    struct event *ev_accept; /* re-enables accepting after EMFILE */
    struct event *ev_trim;   /* returns freed request memory to the system */
    int accept_backoff_ms;
    bool accept_paused;
    bool pause_logged;       /* the pause was logged: log the recovery too */
    int64_t pause_logged_ms; /* when a pause was last logged */
    bool dying;              /* http_server_free was called; the last gconn_free frees it */
    void (*cb)(struct evhttp_request *, void *);
    void *cbarg;
    struct strmap conns;   /* "%p" of the filter -> struct gconn */
    struct strmap clients; /* address -> struct gclient */
    size_t nconns, buffered, released_since_trim;
    struct http_stats st;
};

#define RAW_HIGH (64 * 1024) /* socket read buffer, bytes ahead of the filter */
#define LINGER_MS 2000       /* after a refusal: how long to wait for the client's EOF */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm(struct gconn *k, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(k->timer, &tv);
}

/* gconn_dropped: evhttp has freed the connection (the filter's free clears the
 * socket's callbacks at once; our context goes later). */
static bool gconn_dropped(struct gconn *k)
{
    bufferevent_data_cb rcb = NULL;
    bufferevent_getcb(k->under, &rcb, NULL, NULL, NULL);
    return rcb == NULL;
}

static void server_destroy(struct http_server *s)
{
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&s->clients, &it, &k, &v);)
        free(v);
    strmap_free(&s->clients);
    strmap_free(&s->conns);
    free(s);
}

static void release(struct gconn *k)
{
    struct http_server *s = k->s;
    if (!k->held)
        return;
    if (k->cl)
        k->cl->held -= k->held;
    s->buffered -= k->held;
    s->released_since_trim += k->held;
    k->held = 0;
    /* Request bodies arrive in many small evbuffer chains, freed when libevent
     * finalizes the connection or the request, after this: trim a moment later. */
    if (s->buffered == 0 && s->released_since_trim >= (1u << 20) && s->ev_trim) {
        struct timeval later = {0, 200000};
        evtimer_add(s->ev_trim, &later);
    }
}

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    (void)fd;
    (void)what;
    if (s->buffered)
        return;
    s->released_since_trim = 0;
#ifdef __GLIBC__
    /* give the freed pages back instead of keeping the peak */
    malloc_trim(0);
#endif
}

static void client_drop(struct gconn *k)
{
    if (!k->cl)
        return;
    k->cl->conns--;
    if (k->cl->conns == 0 && k->cl->held == 0)
        free(strmap_del(&k->s->clients, k->addr));
    k->cl = NULL;
}

/* gconn_free: the filter's free_context (libevent finalizing it). */
static void gconn_free(void *arg)
{
    struct gconn *k = arg;
    struct http_server *s = k->s;
    release(k);
    client_drop(k);
    strmap_del(&s->conns, k->key);
    if (k->outcb)
        evbuffer_remove_cb_entry(bufferevent_get_output(k->under), k->outcb);
    if (k->filtcb)
        evbuffer_remove_cb_entry(bufferevent_get_output(k->bev), k->filtcb);
    event_free(k->timer);
    if (k->kick)
        event_free(k->kick);
    free(k);
    if (--s->nconns == 0 && s->dying)
        server_destroy(s);
}

/* gconn_close: hand the end to evhttp, which frees the connection. k may be
 * gone after the call. */
static void gconn_close(struct gconn *k)
{
    bufferevent_trigger_event(k->bev, BEV_EVENT_ERROR | BEV_EVENT_READING, 0);
}

static void out_drained(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct gconn *k = arg;
    if (info->n_deleted && evbuffer_get_length(b) == 0)
        event_active(k->timer, EV_TIMEOUT, 0);
}

/* gconn_refuse: reply {"error","field"} with `code` and close the connection
 * once the reply is out. Input from now on is read and dropped. */
static void gconn_refuse(struct gconn *k, int code, const char *field, const char *msg)
{
    struct http_server *s = k->s;
    static const struct {
        int code;
        const char *reason;
    } reasons[] = {{400, "Bad Request"},         {405, "Method Not Allowed"},
                   {408, "Request Timeout"},     {411, "Length Required"},
                   {413, "Content Too Large"},   {431, "Request Header Fields Too Large"},
                   {503, "Service Unavailable"}, {505, "HTTP Version Not Supported"}};
    const char *reason = "Error";
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        if (reasons[i].code == code)
            reason = reasons[i].reason;
    cJSON *o = cJSON_CreateObject();
    char *body = NULL;
    if (o) {
        cJSON_AddStringToObject(o, "error", msg);
        if (field && *field)
            cJSON_AddStringToObject(o, "field", field);
        body = json_print(o);
        cJSON_Delete(o);
    }
    struct evbuffer *out = bufferevent_get_output(k->under);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n%s\r\n",
                        code, reason, body ? strlen(body) : 2,
                        code == 503 ? "Retry-After: 1\r\n" : "");
    evbuffer_add(out, body ? body : "{}", body ? strlen(body) : 2);
    free(body);
    if (code >= 500)
        s->st.replies_5xx++;
    else
        s->st.replies_4xx++;
    release(k);
    k->st = G_CLOSING;
    k->close_at = mono_ms() + LINGER_MS + 5000;
    if (!k->outcb)
        k->outcb = evbuffer_add_cb(out, out_drained, k);
    evbuffer_drain(bufferevent_get_input(k->under),
                   evbuffer_get_length(bufferevent_get_input(k->under)));
    arm(k, 5000 + LINGER_MS);
}

/* ---- the output side. evhttp counts a reply as sent when its write callback
 * runs, and frees a "Connection: close" connection right then. A filter runs
 * that callback as soon as bytes move to the socket's buffer, before they are
 * written: the reply would be lost. So gate_out keeps the last byte of the
 * reply back until the socket's buffer is empty, then sends it itself; only then
 * does evhttp hear that the reply is out. It also runs the filter again when
 * evhttp added output while writing was still disabled (the filter does not do
 * that on its own when writing is enabled later). */

static void gconn_kick(evutil_socket_t fd, short what, void *arg)
{
    struct gconn *k = arg;
    (void)fd;
    (void)what;
    if (!gconn_dropped(k))
        bufferevent_flush(k->bev, EV_WRITE, BEV_NORMAL);
}

static void filt_added(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct gconn *k = arg;
    (void)b;
    if (info->n_added && k->kick && !(bufferevent_get_enabled(k->bev) & EV_WRITE))
        event_active(k->kick, EV_WRITE, 0);
}

static enum bufferevent_filter_result gate_out(struct evbuffer *src, struct evbuffer *dst,
                                               ev_ssize_t lim, enum bufferevent_flush_mode mode,
                                               void *arg)
{
    struct gconn *k = arg;
    size_t n = evbuffer_get_length(src);
    (void)lim;
    (void)mode;
    if (n > 1)
        evbuffer_remove_buffer(src, dst, n - 1);
    if (evbuffer_get_length(dst) || n == 0)
        return BEV_NEED_MORE; /* called again when the socket's buffer drains */
    char last;
    evbuffer_copyout(src, &last, 1);
    ssize_t w = send(bufferevent_getfd(k->under), &last, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w == 1) {
        evbuffer_drain(src, 1);
        return BEV_OK;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (k->kick)
            event_add(k->kick, NULL);
        return BEV_NEED_MORE;
    }
    /* The peer is gone: let evhttp finish; the socket's error closes it. */
    evbuffer_drain(src, 1);
    return BEV_OK;
}

/* gconn_admit: the caps on connections, once the socket's peer is known. */
static void gconn_admit(struct gconn *k)
{
    struct http_server *s = k->s;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = bufferevent_getfd(k->under);
    snprintf(k->addr, sizeof k->addr, "local");
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, k->addr, sizeof k->addr);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, k->addr, sizeof k->addr);
        /* evhttp may write a reply in two writes; with Nagle the second waits for
         * the client's delayed ACK (40 ms on Linux) whenever the reply is sent
         * later than the request arrived. */
        int one = 1;
        if (ss.ss_family != AF_UNIX)
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    k->st = G_IDLE;
    if (fd >= 0)
        k->kick = event_new(s->base, fd, EV_WRITE, gconn_kick, k);
    struct gclient *cl = strmap_get(&s->clients, k->addr);
    if (!cl) {
        int perr = 0;
        if (!(cl = calloc(1, sizeof *cl)) || (strmap_put(&s->clients, k->addr, cl, &perr), perr)) {
            free(cl);
            gconn_refuse(k, 503, "connections", "out of memory");
            return;
        }
    }
    k->cl = cl;
    cl->conns++;
    char msg[160];
    if (s->nconns > (size_t)s->lim.max_conns) {
        s->st.refused_conns++;
        snprintf(msg, sizeof msg, "too many connections (the limit is %d); retry later",
                 s->lim.max_conns);
        gconn_refuse(k, 503, "connections", msg);
        return;
    }
    if (cl->conns > s->lim.max_client_conns) {
        s->st.refused_conns++;
        snprintf(msg, sizeof msg, "too many connections from %s (the limit is %d); retry later",
                 k->addr, s->lim.max_client_conns);
        gconn_refuse(k, 503, "connections", msg);
        return;
    }
    arm(k, (int64_t)s->lim.idle_s * 1000);
}

static void gconn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gconn *k = arg;
    struct http_server *s = k->s;
    char msg[200];
    (void)fd;
    (void)what;
    if (gconn_dropped(k))
        return;
    switch (k->st) {
    case G_NEW:
        gconn_admit(k);
        return;
    case G_IDLE:
        s->st.timeouts++;
        gconn_close(k);
        return;
    case G_HEAD:
        s->st.timeouts++;
        snprintf(msg, sizeof msg, "the request line and headers did not arrive within %d s",
                 s->lim.header_s);
        gconn_refuse(k, 408, "headers", msg);
        return;
    case G_BODY:
        s->st.timeouts++;
        snprintf(msg, sizeof msg, "the request body did not arrive within %d s (%zu bytes missing)",
                 s->lim.body_s, k->body_left);
        gconn_refuse(k, 408, "body", msg);
        return;
    case G_WAIT:
        return;
    case G_CLOSING: {
        int64_t now = mono_ms();
        if (!k->shut && evbuffer_get_length(bufferevent_get_output(k->under)) == 0) {
            /* The reply is out: shut our side so the client sees its end, and
             * keep reading (dropped) for a moment so a client still sending
             * does not get a reset that would destroy the reply. */
            k->shut = true;
            shutdown(bufferevent_getfd(k->under), SHUT_WR);
            k->close_at = now + LINGER_MS;
        }
        if (now >= k->close_at) {
            gconn_close(k);
            return;
        }
        arm(k, k->close_at - now);
        return;
    }
    }
}

/* move_packed: move n bytes by copying them into dst's chains. Moving the
 * socket's chains instead would keep each at half use (a read is at most 4 KiB
 * into a chain of 8 KiB): twice the memory per buffered body. */
static void move_packed(struct evbuffer *src, struct evbuffer *dst, size_t n)
{
    struct evbuffer_iovec v[16];
    size_t left = n;
    while (left) {
        int nv = evbuffer_peek(src, (ev_ssize_t)left, NULL, v, 16);
        size_t done = 0;
        for (int i = 0; i < nv && i < 16 && done < left; i++) {
            size_t take = v[i].iov_len < left - done ? v[i].iov_len : left - done;
            evbuffer_add(dst, v[i].iov_base, take);
            done += take;
        }
        evbuffer_drain(src, done);
        left -= done;
        if (!done)
            break;
    }
}

static enum bufferevent_filter_result gate_in(struct evbuffer *src, struct evbuffer *dst,
                                              ev_ssize_t lim, enum bufferevent_flush_mode mode,
                                              void *arg)
{
    struct gconn *k = arg;
    struct http_server *s = k->s;
    bool moved = false;
    (void)lim;
    (void)mode;
    if (k->st == G_NEW)
        gconn_admit(k);
    size_t n = evbuffer_get_length(src);

    switch (k->st) {
    case G_NEW:
    case G_WAIT:
        /* a pipelined request waits in the socket buffer until this one is answered */
        return BEV_NEED_MORE;
    case G_CLOSING:
        evbuffer_drain(src, n);
        return BEV_NEED_MORE;
    case G_IDLE:
        if (n == 0)
            return BEV_NEED_MORE;
        k->st = G_HEAD;
        arm(k, (int64_t)s->lim.header_s * 1000);
        /* fall through */
    case G_HEAD: {
        const struct http_head_limits hl = {s->lim.max_head, s->lim.max_body, 100};
        size_t look = n < s->lim.max_head + 1 ? n : s->lim.max_head + 1;
        const char *p = (const char *)evbuffer_pullup(src, (ev_ssize_t)look);
        struct http_head h;
        int rc = p ? http_head_check(p, look, &hl, &h) : 0;
        if (rc == 0)
            return BEV_NEED_MORE;
        if (rc < 0) {
            s->st.refused_heads++;
            gconn_refuse(k, h.status, h.err.field, h.err.msg);
            return BEV_NEED_MORE;
        }
        size_t need = h.head_len + (size_t)h.content_length;
        char msg[200];
        if (s->buffered + need > s->lim.max_buffered) {
            s->st.refused_bytes++;
            snprintf(
                msg, sizeof msg,
                "the server holds %zu bytes of requests; %zu more would pass its limit of %zu; "
                "retry later",
                s->buffered, need, s->lim.max_buffered);
            gconn_refuse(k, 503, "body", msg);
            return BEV_NEED_MORE;
        }
        if (k->cl->held + need > s->lim.max_client_buffered) {
            s->st.refused_bytes++;
            snprintf(msg, sizeof msg,
                     "%s has %zu bytes of requests in flight; %zu more would pass the limit of %zu "
                     "per client; retry later",
                     k->addr, k->cl->held, need, s->lim.max_client_buffered);
            gconn_refuse(k, 503, "body", msg);
            return BEV_NEED_MORE;
        }
        k->held = need;
        k->cl->held += need;
        s->buffered += need;
        if (s->buffered > s->st.buffered_peak)
            s->st.buffered_peak = s->buffered;
        evbuffer_remove_buffer(src, dst, h.head_len);
        moved = true;
        k->body_left = (size_t)h.content_length;
        if (k->body_left == 0) {
            k->st = G_WAIT;
            evtimer_del(k->timer);
            return BEV_OK;
        }
        k->st = G_BODY;
        arm(k, (int64_t)s->lim.body_s * 1000);
        n = evbuffer_get_length(src);
    }
        /* fall through */
    case G_BODY: {
        size_t m = n < k->body_left ? n : k->body_left;
        if (m) {
            move_packed(src, dst, m);
            moved = true;
            k->body_left -= m;
        }
        if (k->body_left == 0) {
            k->st = G_WAIT;
            evtimer_del(k->timer);
        }
        return moved ? BEV_OK : BEV_NEED_MORE;
    }
    }
    return BEV_NEED_MORE;
}

/* gate_bev: evhttp's bevcb, once per accepted connection (before its fd is set). */
static struct bufferevent *gate_bev(struct event_base *base, void *arg)
{
    struct http_server *s = arg;
    struct gconn *k = calloc(1, sizeof *k);
    struct bufferevent *under = NULL;
    if (!k || !(under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) ||
        !(k->timer = evtimer_new(base, gconn_timer, k)))
        goto err;
    k->s = s;
    k->under = under;
    /* Deferred callbacks: evhttp may free the connection from the filter's write
     * callback; run inline from the socket's drain, libevent's filter would then
     * re-arm its write timeout on a bufferevent being finalized (a use after
     * free the fuzz target found). Deferred, the callback holds a reference. */
    k->bev = bufferevent_filter_new(under, gate_in, gate_out,
                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, gconn_free, k);
    if (!k->bev)
        goto err;
    k->filtcb = evbuffer_add_cb(bufferevent_get_output(k->bev), filt_added, k);
    bufferevent_setwatermark(under, EV_READ, 0, RAW_HIGH);
    snprintf(k->key, sizeof k->key, "%p", (void *)k->bev);
    int perr = 0;
    strmap_put(&s->conns, k->key, k, &perr);
    s->nconns++;
    s->st.conns++;
    if (s->accept_paused) {
        s->accept_paused = false;
        s->accept_backoff_ms = 0;
        if (s->pause_logged)
            LOGN("accepting connections again (%llu accept failures so far)",
                 (unsigned long long)s->st.accept_errors);
        s->pause_logged = false;
    }
    /* Admission needs the peer's address, known once evhttp has set the fd. */
    event_active(k->timer, EV_TIMEOUT, 0);
    return k->bev;
err:
    if (under)
        bufferevent_free(under);
    if (k && k->timer)
        event_free(k->timer);
    free(k);
    return NULL;
}

static void accept_again(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(s->lev);
}

/* accept_error: out of descriptors (or memory), accept() fails at once on every
 * loop turn; stop accepting for a growing pause (100 ms to 1 s) instead of
 * spinning, and say so at most once a minute (with the recovery). */
/* The listener's error callback gets the listener's user data, which evhttp
 * owns (its struct evhttp): find our server from that. A process has one or two
 * servers, all used from its loop thread. */
static struct http_server *servers[8];

static void accept_error(struct evconnlistener *lev, void *arg)
{
    struct http_server *s = NULL;
    for (size_t i = 0; i < sizeof servers / sizeof *servers; i++)
        if (servers[i] && (void *)servers[i]->http == arg)
            s = servers[i];
    if (!s) {
        evconnlistener_disable(lev); /* cannot happen; never spin */
        return;
    }
    int e = EVUTIL_SOCKET_ERROR();
    s->st.accept_errors++;
    int64_t now = mono_ms();
    if (!s->accept_paused && (!s->pause_logged_ms || now - s->pause_logged_ms >= 60000)) {
        LOGE("accept: %s; pausing new connections until it passes (logged at most once a "
             "minute; shardcron_console_http_accept_errors_total counts them)",
             strerror(e));
        s->pause_logged_ms = now;
        s->pause_logged = true;
    }
    s->accept_paused = true;
    s->accept_backoff_ms = s->accept_backoff_ms ? s->accept_backoff_ms * 2 : 100;
    if (s->accept_backoff_ms > 1000)
        s->accept_backoff_ms = 1000;
    evconnlistener_disable(lev);
    struct timeval tv = {0, s->accept_backoff_ms * 1000};
    if (s->accept_backoff_ms >= 1000)
        tv = (struct timeval){1, 0};
    evtimer_add(s->ev_accept, &tv);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* conn_of: the gate's record of the connection carrying req, or NULL. */
static struct gconn *conn_of(struct http_server *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char key[24];
    if (!evcon)
        return NULL;
    snprintf(key, sizeof key, "%p", (void *)evhttp_connection_get_bufferevent(evcon));
    return strmap_get(&s->conns, key);
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    struct gconn *k = conn_of(s, req);
    if (!k || k->st != G_WAIT)
        return;
    if (k->dispatched_us) {
        histo_observe(&s->st.latency, (double)(mono_us() - k->dispatched_us) / 1e6);
        k->dispatched_us = 0;
    }
    release(k);
    k->st = G_IDLE;
    arm(k, (int64_t)s->lim.idle_s * 1000);
    /* A pipelined request already read stays in the socket buffer; evhttp only
     * looks at the filter's, so run the filter once evhttp reads again. */
    if (evbuffer_get_length(bufferevent_get_input(k->under)))
        bufferevent_trigger(k->under, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void gate_dispatch(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    struct gconn *k = conn_of(s, req);
    if (k)
        k->dispatched_us = mono_us();
    evhttp_request_set_on_complete_cb(req, on_complete, s);
    s->cb(req, s->cbarg);
}

static void limits_default(struct http_limits *l)
{
    if (!l->max_body)
        l->max_body = 64 * 1024;
    if (!l->max_head)
        l->max_head = 16 * 1024;
    if (!l->max_conns)
        l->max_conns = 1024;
    if (!l->max_client_conns)
        l->max_client_conns = 128;
    if (!l->max_buffered)
        l->max_buffered = 64u << 20;
    if (!l->max_client_buffered)
        l->max_client_buffered = 16u << 20;
    if (!l->idle_s)
        l->idle_s = 30;
    if (!l->header_s)
        l->header_s = 10;
    if (!l->body_s)
        l->body_s = 60;
}

struct http_server *http_listen(struct event_base *base, const char *addr,
                                const struct http_limits *lim, int *port_out, struct sc_err *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    char *end;
    long port;
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        sc_err_set(err, EINVAL, "http", -1, "address must be HOST:PORT (got \"%s\")", addr);
        return NULL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        sc_err_set(err, EINVAL, "http", -1, "port must be 0-65535 (got \"%s\")", colon + 1);
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        sc_err_set(err, ENOMEM, "http", -1, "out of memory");
        return NULL;
    }
    s->base = base;
    /* Replies from the loop's caches take well under a millisecond; history
     * pages wait for MySQL. */
    static const double latency_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    histo_init(&s->st.latency, latency_le, (int)(sizeof latency_le / sizeof latency_le[0]));
    if (lim)
        s->lim = *lim;
    limits_default(&s->lim);
    if (s->lim.max_client_buffered < s->lim.max_body + s->lim.max_head)
        s->lim.max_client_buffered = s->lim.max_body + s->lim.max_head;
    if (s->lim.max_buffered < s->lim.max_client_buffered)
        s->lim.max_buffered = s->lim.max_client_buffered;
    strmap_init(&s->conns);
    strmap_init(&s->clients);
    if (!(s->http = evhttp_new(base)) || !(s->ev_accept = evtimer_new(base, accept_again, s)) ||
        !(s->ev_trim = evtimer_new(base, trim_cb, s))) {
        sc_err_set(err, ENOMEM, "http", -1, "out of memory");
        http_server_free(s);
        return NULL;
    }
    /* The gate enforces the real limits first; evhttp's own stay above them so
     * that no request reaches evhttp's HTML error pages. */
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->lim.max_body + 1);
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)s->lim.max_head + 1024);
    evhttp_set_timeout(s->http, s->lim.idle_s + s->lim.body_s);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_bevcb(s->http, gate_bev, s);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!bs) {
        sc_err_set(err, EADDRINUSE, "http", -1, "cannot listen on %s: %s", addr, strerror(errno));
        http_server_free(s);
        return NULL;
    }
    s->lev = evhttp_bound_socket_get_listener(bs);
    for (size_t i = 0; i < sizeof servers / sizeof *servers; i++)
        if (!servers[i]) {
            servers[i] = s;
            evconnlistener_set_error_cb(s->lev, accept_error);
            break;
        }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int bound = (int)port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    if (port_out)
        *port_out = bound;
    return s;
}

void http_set_handler(struct http_server *s, void (*cb)(struct evhttp_request *, void *), void *arg)
{
    s->cb = cb;
    s->cbarg = arg;
    evhttp_set_gencb(s->http, gate_dispatch, s);
}

struct evhttp *http_server_evhttp(struct http_server *s)
{
    return s->http;
}

void http_server_stats(const struct http_server *s, struct http_stats *out)
{
    *out = s->st;
    out->open = s->nconns;
    out->buffered = s->buffered;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < sizeof servers / sizeof *servers; i++)
        if (servers[i] == s)
            servers[i] = NULL;
    if (s->http)
        evhttp_free(s->http);
    if (s->ev_accept)
        event_free(s->ev_accept);
    if (s->ev_trim)
        event_free(s->ev_trim);
    s->ev_trim = NULL;
    /* evhttp_free frees the connections; libevent finalizes their filters (and
     * calls gconn_free) later, so the last one frees the server. */
    s->dying = true;
    if (s->nconns == 0)
        server_destroy(s);
}
int http_gzip(const char *body, size_t len, char **out, size_t *out_len)
{
    z_stream z = {0};
    /* 15 + 16: a gzip wrapper; level 6, zlib's default (a 540 KB run in ~5 ms, ~15x smaller) */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t cap = deflateBound(&z, (uLong)len);
    char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int zrc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    return 0;
}

bool http_wants_gzip(struct evhttp_request *req)
{
    const char *ae = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding");
    for (const char *p = ae; p && (p = strcasestr(p, "gzip")); p += 4) {
        bool start = p == ae || p[-1] == ' ' || p[-1] == ',';
        const char *q = p + 4;
        while (*q == ' ')
            q++;
        if (!start || (*q != '\0' && *q != ',' && *q != ';'))
            continue;
        if (*q != ';')
            return true;
        q++;
        while (*q == ' ')
            q++;
        if (strncmp(q, "q=", 2) != 0)
            return true;
        return strtod(q + 2, NULL) > 0;
    }
    return false;
}

void http_reply_text(struct evhttp_request *req, int code, const char *ctype, const char *body,
                     size_t len)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Content-Type", ctype);
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
    if (b)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, code < 400 ? "OK" : "Error", b);
    if (b)
        evbuffer_free(b);
}

void http_reply_json(struct evhttp_request *req, int code, const cJSON *o)
{
    char *s = json_print(o);
    if (!s) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    http_reply_text(req, code, "application/json", s, strlen(s));
    free(s);
}

void http_reply_error(struct evhttp_request *req, int code, const char *field, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    if (field && *field)
        cJSON_AddStringToObject(o, "field", field);
    http_reply_json(req, code, o);
    cJSON_Delete(o);
}
