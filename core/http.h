/* core/http.h: the small HTTP helpers every daemon shares (libevent evhttp):
 * listen on HOST:PORT with limits, reply JSON or text, JSON errors. */
#ifndef SC_HTTP_H
#define SC_HTTP_H

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/histo.h"

/* http_limits: what one listener accepts. Zero fields take the defaults. */
struct http_limits {
    size_t max_body;            /* Content-Length cap: 413 (default 64 KiB) */
    size_t max_head;            /* request line + headers: 431 (default 16 KiB) */
    int max_conns;              /* open connections, counted from accept: 503 (1024) */
    int max_client_conns;       /* open connections from one address: 503 (128) */
    size_t max_buffered;        /* request bytes held for all clients: 503 (64 MiB) */
    size_t max_client_buffered; /* request bytes held for one address: 503 (16 MiB) */
    int idle_s;                 /* connection open, no request begun: closed (30) */
    int header_s;               /* first byte to the end of the headers: 408 (10) */
    int body_s;                 /* end of the headers to the end of the body: 408 (60) */
};

struct http_stats {
    unsigned long long conns;                    /* accepted */
    unsigned long long refused_conns;            /* over a connection cap */
    unsigned long long refused_bytes;            /* over a byte budget */
    unsigned long long refused_heads;            /* a head refused by http_head_check */
    unsigned long long timeouts;                 /* idle, head or body deadline */
    unsigned long long accept_errors;            /* accept() failures (EMFILE...) */
    unsigned long long replies_4xx, replies_5xx; /* written by the gate itself */
    size_t open, buffered, buffered_peak;
    struct histo latency; /* seconds from a request handed on to its reply written */
};

struct http_server;

/* http_listen: an evhttp on `addr` ("127.0.0.1:8080"; port 0 picks one) behind
 * the gate (core/http.c) with `lim` (NULL: defaults). *port_out gets the bound
 * port. The server is the caller's (http_server_free). */
struct http_server *http_listen(struct event_base *base, const char *addr,
                                const struct http_limits *lim, int *port_out, struct sc_err *err);
/* http_set_handler: every request that passed the gate goes to cb. Use this,
 * not evhttp_set_cb/gencb: the gate learns from it when a reply is done. */
void http_set_handler(struct http_server *s, void (*cb)(struct evhttp_request *, void *),
                      void *arg);
struct evhttp *http_server_evhttp(struct http_server *s);
void http_server_stats(const struct http_server *s, struct http_stats *out);
/* http_server_free: closes the listener and every connection. */
void http_server_free(struct http_server *s);

/* http_reply_json: send `o` (not consumed) with `code`. */
void http_reply_json(struct evhttp_request *req, int code, const cJSON *o);
/* http_reply_error: {"error": msg, "field": field} with a 4xx/5xx code. */
void http_reply_error(struct evhttp_request *req, int code, const char *field, const char *msg);
/* http_reply_text: text/plain (Prometheus' 0.0.4 format for /metrics). */
/* http_gzip: body compressed for "Content-Encoding: gzip" into *out (the
 * caller's); 0, or -ENOMEM. */
int http_gzip(const char *body, size_t len, char **out, size_t *out_len);
/* http_wants_gzip: the request's Accept-Encoding takes gzip (q > 0). */
bool http_wants_gzip(struct evhttp_request *req);
void http_reply_text(struct evhttp_request *req, int code, const char *ctype, const char *body,
                     size_t len);

#endif
