/* core/http.h: the small HTTP helpers every daemon shares (libevent evhttp):
 * listen on HOST:PORT with limits, reply JSON or text, JSON errors. */
#ifndef SC_HTTP_H
#define SC_HTTP_H

#include <cjson/cJSON.h>
#include <event2/http.h>

#include "core/err.h"

/* http_listen: an evhttp on `addr` ("127.0.0.1:8080"; port 0 picks one) with a
 * body cap, header/idle timeouts and a connection cap. *port_out gets the bound
 * port. The evhttp is the caller's (evhttp_free). */
struct evhttp *http_listen(struct event_base *base, const char *addr, size_t max_body,
                           int *port_out, struct sc_err *err);

/* http_reply_json: send `o` (not consumed) with `code`. */
void http_reply_json(struct evhttp_request *req, int code, const cJSON *o);
/* http_reply_error: {"error": msg, "field": field} with a 4xx/5xx code. */
void http_reply_error(struct evhttp_request *req, int code, const char *field, const char *msg);
/* http_reply_text: text/plain (Prometheus' 0.0.4 format for /metrics). */
void http_reply_text(struct evhttp_request *req, int code, const char *ctype, const char *body,
                     size_t len);

#endif
