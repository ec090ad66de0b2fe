/* agent/secrets.c: secret values for job environments (agent/secrets.h). */
#define LOG_CAT "shardcron.exec"
#include "agent/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static int mode_ok(const char *path, const struct stat *st, struct sc_err *err)
{
    if (st->st_mode & 077)
        return sc_err_set(err, EPERM, "secrets", -1,
                          "%s is readable or writable by group or others (mode %03o); chmod %s %s",
                          path, (unsigned)(st->st_mode & 0777),
                          S_ISDIR(st->st_mode) ? "700" : "600", path);
    return 0;
}

int agent_secrets_check(const char *store, struct sc_err *err)
{
    struct stat st;
    if (stat(store, &st) < 0)
        return sc_err_set(err, errno, "secrets", -1, "cannot open %s: %s", store, strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return sc_err_set(err, EINVAL, "secrets", -1,
                          "%s is neither a directory nor a regular file", store);
    return mode_ok(store, &st, err);
}

/* slurp: the whole of an open file (at most AGENT_SECRET_MAX + 1 bytes read). */
static char *slurp(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        if (n == cap) {
            if (cap > AGENT_SECRET_MAX * 2)
                break;
            char *g = realloc(b, cap * 2 + 1);
            if (!g) {
                sodium_memzero(b, cap);
                free(b);
                return NULL;
            }
            b = g;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            sodium_memzero(b, cap);
            free(b);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (b) {
        b[n] = '\0';
        *len = n;
    }
    return b;
}

/* open_checked: open path read-only, refusing anything but a regular file
 * readable by its owner only. */
static int open_checked(const char *path, struct sc_err *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        sc_err_set(err, e, "secrets", -1, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        sc_err_set(err, EINVAL, "secrets", -1, "%s is not a regular file", path);
        return -EINVAL;
    }
    if (mode_ok(path, &st, err) < 0) {
        close(fd);
        return -EPERM;
    }
    return fd;
}

int agent_secret_read(const char *store, const char *name, char **out, struct sc_err *err)
{
    struct stat st;
    char path[4096];
    size_t len = 0;
    *out = NULL;
    if (!store || !*store)
        return sc_err_set(err, ENOENT, "secrets", -1,
                          "secret \"%s\" is asked for but this agent has no secrets store "
                          "(setting secrets)",
                          name);
    if (!job_secret_name_valid(name))
        return sc_err_set(err, EINVAL, "secrets", -1, "\"%.140s\" is not a secret name", name);
    int rc = agent_secrets_check(store, err);
    if (rc < 0)
        return rc;
    if (stat(store, &st) < 0)
        return sc_err_set(err, errno, "secrets", -1, "cannot open %s: %s", store, strerror(errno));
    bool dir = S_ISDIR(st.st_mode);
    if (dir)
        snprintf(path, sizeof path, "%s/%s", store, name);
    else
        snprintf(path, sizeof path, "%s", store);
    int fd = open_checked(path, err);
    if (fd < 0) {
        if (dir && fd == -ENOENT)
            return sc_err_set(err, ENOENT, "secrets", -1, "no secret \"%s\" in %s", name, store);
        return fd;
    }
    char *text = slurp(fd, &len);
    close(fd);
    if (!text)
        return sc_err_set(err, EIO, "secrets", -1, "cannot read %s", path);
    if (len > (dir ? AGENT_SECRET_MAX : AGENT_SECRET_MAX * 2) || memchr(text, '\0', len)) {
        sodium_memzero(text, len);
        free(text);
        return sc_err_set(err, EINVAL, "secrets", -1, "%s is too long or holds a NUL byte", path);
    }
    if (dir) {
        if (len && text[len - 1] == '\n')
            text[--len] = '\0';
        if (len && text[len - 1] == '\r')
            text[--len] = '\0';
        *out = text;
        return 0;
    }
    /* A file of name=value lines; '#' starts a comment line. */
    size_t nlen = strlen(name);
    rc = sc_err_set(err, ENOENT, "secrets", -1, "no secret \"%s\" in %s", name, store);
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (line[0] == '#' || strncmp(line, name, nlen) != 0 || line[nlen] != '=')
            continue;
        if (!(*out = strdup(line + nlen + 1)))
            rc = sc_err_set(err, ENOMEM, "secrets", -1, "out of memory");
        else
            rc = 0;
        break;
    }
    sodium_memzero(text, len);
    free(text);
    return rc;
}

void agent_env_free(char **env)
{
    for (char **e = env; e && *e; e++) {
        sodium_memzero(*e, strlen(*e));
        free(*e);
    }
    free(env);
}

int agent_env_build(const char *store, const struct job_env *env, int nenv, char ***out,
                    struct sc_err *err)
{
    char **v = calloc((size_t)nenv + 1, sizeof *v);
    *out = NULL;
    if (!v)
        return sc_err_set(err, ENOMEM, "env", -1, "out of memory");
    for (int i = 0; i < nenv; i++) {
        char *val = NULL;
        if (env[i].secret) {
            struct sc_err e2;
            char msg[400];
            sc_err_clear(&e2);
            int rc = agent_secret_read(store, env[i].secret, &val, &e2);
            if (rc < 0) {
                char field[160];
                agent_env_free(v);
                snprintf(field, sizeof field, "env.%.140s", env[i].name);
                sc_err_set(err, -rc, field, -1, "%s", sc_err_format(&e2, msg, sizeof msg));
                return rc;
            }
        }
        const char *s = val ? val : env[i].value;
        size_t n = strlen(env[i].name) + strlen(s) + 2;
        if ((v[i] = malloc(n)))
            snprintf(v[i], n, "%s=%s", env[i].name, s);
        if (val) {
            sodium_memzero(val, strlen(val));
            free(val);
        }
        if (!v[i]) {
            agent_env_free(v);
            return sc_err_set(err, ENOMEM, "env", -1, "out of memory");
        }
    }
    *out = v;
    return 0;
}
