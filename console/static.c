/* console/static.c: the web pages — files served only from the web directory.
 *
 * Only what the pages use is served: "/" (index.html), a file of the top level
 * or of vendor/ named [A-Za-z0-9._-] (not starting with a dot) with a page
 * extension (.html .js .mjs .css .svg .png .ico .map). Everything else in the
 * directory — node_modules/ (playwright-core and the pinned packages that
 * scripts/setup copies into vendor/), package.json, package-lock.json, dot
 * files — is 404 without touching the file system, as is a path with "..", a
 * backslash or a NUL. A path whose real path leaves the web directory (a
 * symlink out) is refused (403). Only regular files are served, with their
 * content type and cache headers: vendor/ (pinned library versions) may be
 * cached for a day, everything else is revalidated (no-cache) so a new build
 * shows at once. */
#define LOG_CAT "shardcron.console"
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console/console.h"
#include "core/http.h"
#include "core/log.h"

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".map", "application/json"},
};

/* served: the allow-list above; `path` is decoded and starts with '/'. */
static bool served(const char *path)
{
    if (strcmp(path, "/") == 0)
        return true;
    const char *name = path + 1;
    if (strncmp(name, "vendor/", 7) == 0)
        name += 7;
    if (!*name || *name == '.' ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789._-") != strlen(name))
        return false;
    const char *dot = strrchr(name, '.');
    static const char *const exts[] = {".html", ".js",  ".mjs", ".css", ".svg",
                                       ".png",  ".ico", ".map", NULL};
    for (const char *const *e = exts; dot && *e; e++)
        if (strcmp(dot, *e) == 0)
            return true;
    return false;
}

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static void not_found(struct console *c, struct evhttp_request *req, int code, const char *msg)
{
    if (code >= 400)
        c->replies_4xx++;
    http_reply_error(req, code, "path", msg);
}

void static_serve(struct console *c, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        not_found(c, req, 405, "web pages are read-only (GET, HEAD)");
        return;
    }
    if (!c->web[0]) {
        not_found(c, req, 404, "no web directory configured (--web)");
        return;
    }
    size_t n;
    char *dec = evhttp_uridecode(path, 0, &n);
    if (!dec || strlen(dec) != n || dec[0] != '/' || strstr(dec, "..") || strchr(dec, '\\') ||
        strstr(dec, "//") || !served(dec)) {
        free(dec);
        not_found(c, req, 404, "no such page");
        return;
    }
    char full[PATH_MAX + 64], real[PATH_MAX];
    if (strcmp(dec, "/") == 0)
        snprintf(full, sizeof full, "%s/index.html", c->web);
    else
        snprintf(full, sizeof full, "%s%s", c->web, dec);
    bool vendor = strncmp(dec, "/vendor/", 8) == 0;
    free(dec);
    if (!realpath(full, real)) {
        not_found(c, req, 404, "no such page");
        return;
    }
    size_t wl = strlen(c->web);
    if (strncmp(real, c->web, wl) != 0 || real[wl] != '/') {
        LOGW("refused %s: it resolves outside the web directory", full);
        not_found(c, req, 403, "outside the web directory");
        return;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        not_found(c, req, 404, "no such page");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type(real));
    evhttp_add_header(h, "Cache-Control", vendor ? "public, max-age=86400" : "no-cache");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                      "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add_file(b, fd, 0, st.st_size) < 0) {
        if (b)
            evbuffer_free(b);
        else
            close(fd);
        evhttp_send_error(req, 500, "cannot read the file");
        return;
    }
    c->static_files++;
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
