/* core/http.c: evhttp listening and replies shared by the agent and the console. */
#define LOG_CAT "shardcron.http"
#include "core/http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"

struct evhttp *http_listen(struct event_base *base, const char *addr, size_t max_body,
                           int *port_out, struct sc_err *err)
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
    struct evhttp *h = evhttp_new(base);
    if (!h) {
        sc_err_set(err, ENOMEM, "http", -1, "out of memory");
        return NULL;
    }
    evhttp_set_max_body_size(h, (ev_ssize_t)max_body);
    evhttp_set_max_headers_size(h, 16384);
    evhttp_set_timeout(h, 30);
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                      EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h, host, (ev_uint16_t)port);
    if (!bs) {
        sc_err_set(err, EADDRINUSE, "http", -1, "cannot listen on %s: %s", addr, strerror(errno));
        evhttp_free(h);
        return NULL;
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
    return h;
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
