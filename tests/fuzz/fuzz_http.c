/* tests/fuzz/fuzz_http.c: libFuzzer target for HTTP requests into the console:
 * the raw bytes go through a real socket into the console's listener, the gate
 * (core/http.c: caps, http_head_check) and evhttp, to the router (api_handle)
 * and its handlers, as on a running console.
 *
 * The console here has no ZooKeeper server (its session stays "connecting") and
 * no MySQL, and one session, cookie sc_session=s, CSRF token "c", with the
 * viewer role: every read route runs, writes stop at the role check before any
 * ZooKeeper write. Checked: no crash, leak or undefined behaviour, every reply
 * starts with an HTTP/1.x status line, every 4xx/5xx reply is JSON, and a head
 * that http_head_check refuses never reaches the router. Built by the Makefile's own rule (it links
 * every module, not only core/). */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console/console.h"
#include "core/http.h"
#include "core/http_head.h"
#include "core/log.h"

static struct console c;
static int port;
static unsigned long routed;

static void count_and_route(struct evhttp_request *req, void *arg)
{
    routed++;
    api_handle(req, arg);
}

static void setup(void)
{
    struct sc_err err;
    signal(SIGPIPE, SIG_IGN);
    log_init("fuzz_http", NULL, "error");
    evthread_use_pthreads();
    strmap_init(&c.sessions);
    strmap_init(&c.zones);
    strmap_init(&c.throttle);
    c.base = event_base_new();
    struct http_limits lim = {
        .max_body = 64 * 1024, .max_client_conns = 100000, .max_conns = 100000};
    if (!c.base || !(c.http = http_listen(c.base, "127.0.0.1:0", &lim, &port, &err)))
        abort();
    http_set_handler(c.http, count_and_route, &c);
    zkview_init(&c.view, NULL);
    struct zkreg_opts zo = {.hosts = "127.0.0.1:1", .ns = "fuzz", .session_timeout_ms = 10000};
    if (zkreg_open(c.base, &zo, &c.z, &err) < 0)
        abort();
    c.view.z = c.z;
    struct console_session *s = calloc(1, sizeof *s);
    int perr = 0;
    if (!s)
        abort();
    strcpy(s->id, "s");
    strcpy(s->csrf, "c");
    strcpy(s->user, "fuzz");
    s->role = ROLE_VIEWER;
    s->expires_ms = console_now_ms() + 86400000;
    strmap_put(&c.sessions, "s", s, &perr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!c.base)
        setup();
    /* What the gate will decide about the head, to check it against the router. */
    static const struct http_head_limits hl = {16 * 1024, 64 * 1024, 100};
    struct http_head h;
    int verdict = http_head_check((const char *)data, size, &hl, &h);
    unsigned long before = routed;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS))
        abort();
    size_t off = 0;
    char reply[1024];
    size_t got = 0;
    bool eof = false, shut = false;
    /* Feed the bytes and run the loop until the console closes the connection or
     * has nothing more to do with it (a head cut short waits for more: bounded). */
    for (int turn = 0; turn < 400 && !eof; turn++) {
        if (off < size) {
            ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        event_base_loop(c.base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
            /* only the start of the first reply is kept: its status line is checked */
            size_t take = (size_t)r < sizeof reply - 1 - got ? (size_t)r : sizeof reply - 1 - got;
            memcpy(reply + got, buf, take);
            got += take;
        } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            eof = true;
        }
        if (turn > 20 && !eof && off >= size && got == 0 && verdict == 0)
            break; /* an incomplete head: the console waits, as it should */
    }
    close(fd);
    /* let the console see the close and free the connection */
    for (int i = 0; i < 4; i++)
        event_base_loop(c.base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    reply[got] = '\0';
    if (got && strncmp(reply, "HTTP/1.1 ", 9) != 0 && strncmp(reply, "HTTP/1.0 ", 9) != 0)
        abort();
    /* every error is the API's JSON error, never evhttp's HTML page */
    char *eoh = strstr(reply, "\r\n\r\n");
    if (got >= 12 && reply[9] >= '4' && eoh) {
        *eoh = '\0';
        if (!strstr(reply, "Content-Type: application/json"))
            abort();
    }
    if (verdict < 0 && routed != before)
        abort(); /* a refused head reached the router */
    return 0;
}
