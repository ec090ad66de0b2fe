/* core/http_head.h: the strict check of a request head run before evhttp parses
 * it (request smuggling shapes, size limits). Pure; see core/http_head.c. */
#ifndef SC_HTTP_HEAD_H
#define SC_HTTP_HEAD_H

#include <stddef.h>

#include "core/err.h"

struct http_head_limits {
    size_t max_head; /* request line + header lines + the empty line (431 beyond) */
    size_t max_body; /* Content-Length (413 beyond) */
    int max_fields;  /* header lines (431 beyond) */
};

struct http_head {
    size_t head_len;          /* bytes up to and including the empty line */
    long long content_length; /* 0 when absent */
    char method[8];
    int status;        /* when refused: 400, 405, 411, 413, 431 or 505 */
    struct sc_err err; /* when refused: field ("Content-Length", "headers", ...) and why */
};

/* http_head_check: look at the first `len` bytes of a request. Returns 1 when the
 * head is complete and acceptable (h->head_len, h->content_length set), 0 when
 * more bytes are needed (nothing wrong so far), -EINVAL when refused (h->status,
 * h->err). Refused: bytes other than CRLF ending a line (bare LF, bare CR), NUL,
 * control bytes in a value, whitespace before a colon, folded lines, a
 * Content-Length that is not plain digits or is given twice, Transfer-Encoding
 * (with or without Content-Length), a second Host, methods other than GET, HEAD,
 * POST, PUT, DELETE, targets that are not a path, versions but 1.0 and 1.1. */
int http_head_check(const char *buf, size_t len, const struct http_head_limits *lim,
                    struct http_head *h);

/* http_query_check: the raw query string of a request (without '?'), decoded as
 * evhttp_parse_query_str does: -EINVAL with err->field the parameter when a
 * value decodes to a NUL byte (%00 would silently cut it) or to bytes that are
 * not UTF-8, or when a parameter is given twice (only the first would count). */
int http_query_check(const char *qs, struct sc_err *err);

#endif
