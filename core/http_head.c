/* core/http_head.c: the strict check of an HTTP/1.x request head (request line
 * and header fields) that core/http.c runs on the raw bytes of every request
 * before libevent's evhttp parses them.
 *
 * evhttp's own parser is permissive in the ways request smuggling needs: it
 * takes the first of two Content-Length headers, "Content-Length :" and "+2",
 * folded lines, bare LF line ends and NUL bytes. A front proxy may read the
 * same bytes differently, so any head that two parsers could disagree on is
 * refused here with a status and the name of what is wrong. Pure: no I/O. */
#include "core/http_head.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 5.6.2: the characters of a token (method, field name). */
static int is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int refuse(struct http_head *h, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(struct http_head *h, int status, const char *field, const char *fmt, ...)
{
    va_list ap;
    char msg[sizeof h->err.msg];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->status = status;
    sc_err_set(&h->err, EINVAL, field, -1, "%s", msg);
    return -EINVAL;
}

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", NULL};

/* check_request_line: "METHOD SP /target SP HTTP/1.x" (without its CRLF). */
static int check_request_line(struct http_head *h, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ' ')
        return refuse(h, 400, "method", "the request line must be METHOD SP TARGET SP HTTP/1.1");
    int known = 0;
    for (const char *const *m = methods; *m; m++)
        if (strlen(*m) == i && memcmp(*m, s, i) == 0)
            known = 1;
    if (!known)
        return refuse(h, 405, "method", "method %.*s is not served (GET, HEAD, POST, PUT, DELETE)",
                      (int)(i > 20 ? 20 : i), s);
    snprintf(h->method, sizeof h->method, "%.*s", (int)i, s);
    size_t t = ++i;
    while (i < n && s[i] != ' ') {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return refuse(h, 400, "path",
                          "the request target holds a control, space or non-ASCII byte (0x%02x)",
                          ch);
        i++;
    }
    if (i == t || s[t] != '/')
        return refuse(h, 400, "path", "the request target must be a path starting with /");
    /* evhttp reads "//x/y" as an authority (host x) and answers its own HTML 400 */
    if (i > t + 1 && s[t + 1] == '/')
        return refuse(h, 400, "path", "the request target must not start with //");
    if (i >= n)
        return refuse(h, 400, "version", "the request line has no HTTP version");
    const char *v = s + i + 1;
    size_t vn = n - i - 1;
    if (vn == 8 && (memcmp(v, "HTTP/1.1", 8) == 0 || memcmp(v, "HTTP/1.0", 8) == 0))
        return 0;
    if (vn == 8 && memcmp(v, "HTTP/", 5) == 0)
        return refuse(h, 505, "version", "HTTP version %.8s is not supported (1.0, 1.1)", v);
    return refuse(h, 400, "version", "the request line must end in HTTP/1.1 or HTTP/1.0");
}

/* header_value: the field value without the optional whitespace around it. */
static void header_value(const char *s, size_t n, const char **v, size_t *vn)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *v = s;
    *vn = n;
}

static int name_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* check_field: one "Name: value" line (without its CRLF). */
static int check_field(struct http_head *h, const char *s, size_t n, int *seen_cl, int *seen_te,
                       int *seen_host)
{
    if (*s == ' ' || *s == '\t')
        return refuse(h, 400, "headers",
                      "a header line starts with whitespace (obsolete line folding is refused)");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == n || s[i] != ':') {
        if (i < n && (s[i] == ' ' || s[i] == '\t'))
            return refuse(h, 400, "headers",
                          "whitespace between the header name %.*s and its colon is refused",
                          (int)(i > 40 ? 40 : i), s);
        return refuse(h, 400, "headers", "a header line is not NAME: VALUE");
    }
    if (i == 0)
        return refuse(h, 400, "headers", "a header line has an empty name");
    const char *v;
    size_t vn;
    header_value(s + i + 1, n - i - 1, &v, &vn);
    for (size_t k = 0; k < vn; k++) {
        unsigned char ch = (unsigned char)v[k];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return refuse(h, 400, "headers", "the value of %.*s holds a control byte (0x%02x)",
                          (int)(i > 40 ? 40 : i), s, ch);
    }
    if (name_is(s, i, "Content-Length")) {
        if ((*seen_cl)++)
            return refuse(h, 400, "Content-Length", "is given more than once");
        if (vn == 0 || vn > 18)
            return refuse(h, 400, "Content-Length", "must be 1 to 18 decimal digits");
        long long len = 0;
        for (size_t k = 0; k < vn; k++) {
            if (v[k] < '0' || v[k] > '9')
                return refuse(h, 400, "Content-Length",
                              "must be decimal digits only (got \"%.*s\")",
                              (int)(vn > 24 ? 24 : vn), v);
            len = len * 10 + (v[k] - '0');
        }
        h->content_length = len;
    } else if (name_is(s, i, "Transfer-Encoding")) {
        (*seen_te)++;
    } else if (name_is(s, i, "Host")) {
        if ((*seen_host)++)
            return refuse(h, 400, "Host", "is given more than once");
    }
    return 0;
}

int http_head_check(const char *buf, size_t len, const struct http_head_limits *lim,
                    struct http_head *h)
{
    memset(h, 0, sizeof *h);
    sc_err_clear(&h->err);
    int seen_cl = 0, seen_te = 0, seen_host = 0, lines = 0;
    size_t at = 0;
    for (;;) {
        /* One line: every CR must be followed by LF and every LF preceded by CR;
         * NUL is refused wherever it is. */
        size_t i = at;
        while (i < len && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\0')
            i++;
        if (i >= len || (buf[i] == '\r' && i + 1 >= len)) {
            if (len > lim->max_head)
                return refuse(h, 431, "headers", "the request line and headers are over %zu bytes",
                              lim->max_head);
            return 0;
        }
        if (buf[i] == '\0')
            return refuse(h, 400, "headers", "the request head holds a NUL byte");
        if (buf[i] == '\n')
            return refuse(h, 400, "headers", "a line ends in a bare LF (CRLF is required)");
        if (buf[i + 1] != '\n')
            return refuse(h, 400, "headers", "a bare CR inside a line");
        size_t n = i - at;
        if (i + 2 > lim->max_head)
            return refuse(h, 431, "headers", "the request line and headers are over %zu bytes",
                          lim->max_head);
        if (lines == 0) {
            if (n == 0)
                return refuse(h, 400, "method", "the request starts with an empty line");
            if (check_request_line(h, buf + at, n) < 0)
                return -EINVAL;
        } else if (n == 0) {
            h->head_len = i + 2;
            break;
        } else {
            if (lines > lim->max_fields)
                return refuse(h, 431, "headers", "more than %d header lines", lim->max_fields);
            if (check_field(h, buf + at, n, &seen_cl, &seen_te, &seen_host) < 0)
                return -EINVAL;
        }
        lines++;
        at = i + 2;
    }
    if (seen_te && seen_cl)
        return refuse(h, 400, "Transfer-Encoding",
                      "Transfer-Encoding and Content-Length together are refused");
    if (seen_te)
        return refuse(h, 411, "Transfer-Encoding",
                      "chunked or encoded request bodies are not accepted; send Content-Length");
    if ((unsigned long long)h->content_length > lim->max_body)
        return refuse(h, 413, "body", "the request body is %lld bytes; the limit is %zu",
                      h->content_length, lim->max_body);
    return 1;
}

/* ---------------------------------------------------------------- query strings */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* decode: what evhttp_parse_query_str makes of s[0..n): %XX and '+'. */
static size_t decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return o;
}

static int utf8_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t k;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            k = 3;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 4;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else
            return 0;
        if (n - i < k || p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t j = 2; j < k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xbf)
                return 0;
        i += k;
    }
    return 1;
}

int http_query_check(const char *qs, struct sc_err *err)
{
    size_t len = strlen(qs);
    char *kbuf = malloc(len + 1), *vbuf = malloc(len + 1), *seen = malloc(len + 2);
    size_t seen_n = 0;
    int rc = 0;
    if (!kbuf || !vbuf || !seen) {
        rc = sc_err_set(err, ENOMEM, "query", -1, "out of memory");
        goto out;
    }
    for (const char *p = qs; *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t kn = decode(p, (size_t)((eq ? eq : end) - p), kbuf);
        size_t vn = eq ? decode(eq + 1, (size_t)(end - eq - 1), vbuf) : 0;
        kbuf[kn] = '\0';
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strnlen(kbuf, kn), kbuf);
        if (memchr(kbuf, '\0', kn) || !utf8_ok((unsigned char *)kbuf, kn)) {
            rc = sc_err_set(err, EINVAL, "query", -1,
                            "a parameter name holds a NUL byte or is not UTF-8");
            goto out;
        }
        if (memchr(vbuf, '\0', vn)) {
            rc = sc_err_set(err, EINVAL, name, -1, "holds a NUL byte (%%00)");
            goto out;
        }
        if (!utf8_ok((unsigned char *)vbuf, vn)) {
            rc = sc_err_set(err, EINVAL, name, -1, "is not valid UTF-8");
            goto out;
        }
        if (kn) {
            /* seen: the names so far, each followed by NUL; a repeated one would be
             * read as its first value only */
            for (size_t at = 0; at < seen_n; at += strlen(seen + at) + 1)
                if (strcmp(seen + at, kbuf) == 0) {
                    rc = sc_err_set(err, EINVAL, name, -1, "is given more than once");
                    goto out;
                }
            memcpy(seen + seen_n, kbuf, kn + 1);
            seen_n += kn + 1;
        }
        p = amp ? amp + 1 : end;
    }
out:
    free(kbuf);
    free(vbuf);
    free(seen);
    return rc;
}
