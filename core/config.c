/* core/config.c: settings from defaults, a key=value file, SHARDCRON_* and flags. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* norm_key: "session-timeout-ms" -> "session_timeout_ms" into buf. */
static const char *norm_key(const char *in, size_t n, char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < n && i + 1 < len; i++)
        buf[i] = in[i] == '-' ? '_' : in[i];
    buf[i] = '\0';
    return buf;
}

static int find_opt(const struct cfg *c, const char *key)
{
    for (int i = 0; i < c->nopts; i++)
        if (strcmp(c->opts[i].name, key) == 0)
            return i;
    return -1;
}

static void set_val(struct cfg *c, int i, const char *v)
{
    free(c->vals[i]);
    c->vals[i] = strdup(v);
}

static int unknown_key(const char *key, const char *where, struct sc_err *err)
{
    if (strstr(key, "password") && !strstr(key, "password_file"))
        return sc_err_set(err, EINVAL, key, -1, "%s: secrets are only read from files; use %s_file",
                          where, key);
    return sc_err_set(err, EINVAL, key, -1, "%s: unknown setting", where);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* open_regular: fopen for reading a file that must be a regular file (a
 * directory opens fine and reads as empty: that must not pass for "nothing
 * set" or "empty password"). `what` names the setting in the error. */
static FILE *open_regular(const char *path, const char *what, struct stat *st, struct sc_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        sc_err_set(err, errno, what, -1, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), st) != 0 || !S_ISREG(st->st_mode)) {
        sc_err_set(err, EINVAL, what, -1, "%s is %s, not a file", path,
                   S_ISDIR(st->st_mode) ? "a directory" : "not a regular file");
        fclose(f);
        return NULL;
    }
    return f;
}

static int load_file(struct cfg *c, const char *path, struct sc_err *err)
{
    struct stat st;
    char *line = NULL, key[128], where[512];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    FILE *f = open_regular(path, "config", &st, err);
    if (!f)
        return -EINVAL;
    /* getline: a line of any length is one line (a fixed buffer would split a
     * long one and read its tail as a setting). */
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (strlen(line) != (size_t)len) {
            rc = sc_err_set(err, EINVAL, "config", -1, "%s: NUL byte in the line", where);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = sc_err_set(err, EINVAL, "config", -1, "%s: expected key = value", where);
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        if (strlen(k) >= sizeof key) {
            rc = sc_err_set(err, EINVAL, "config", -1, "%s: key of %zu bytes: unknown setting",
                            where, strlen(k));
            break;
        }
        norm_key(k, strlen(k), key, sizeof key);
        int i = find_opt(c, key);
        if (i < 0) {
            rc = unknown_key(key, where, err);
            break;
        }
        set_val(c, i, c->opts[i].type == CFG_FLAG && !*v ? "1" : v);
    }
    if (rc == 0 && ferror(f))
        rc = sc_err_set(err, EIO, "config", -1, "cannot read %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* load_env: SHARDCRON_<NAME> for every option. A secret in a variable is
 * refused as it is on the command line (environments leak into /proc and job
 * processes): SHARDCRON_*PASSWORD* other than *_FILE is an error, not ignored. */
static int load_env(struct cfg *c, struct sc_err *err)
{
    extern char **environ;
    char name[160];
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "SHARDCRON_", 10) != 0)
            continue;
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)n, *e);
        if (strstr(name, "PASSWORD") && !strstr(name, "PASSWORD_FILE"))
            return sc_err_set(err, EINVAL, name, -1,
                              "environment: secrets are only read from files; set %s_FILE to a "
                              "file holding it",
                              name);
    }
    for (int i = 0; i < c->nopts; i++) {
        size_t j = 0;
        j += (size_t)snprintf(name, sizeof name, "SHARDCRON_");
        for (const char *p = c->opts[i].name; *p && j + 1 < sizeof name; p++)
            name[j++] = (char)toupper((unsigned char)*p);
        name[j] = '\0';
        const char *v = getenv(name);
        if (v)
            set_val(c, i, v);
    }
    return 0;
}

/* list_add: a CFG_LIST value from the command line; the first replaces what
 * the file or the environment said (listed[i]: seen on the line). */
static int list_add(struct cfg *c, int i, const char *val, bool *listed, struct sc_err *err)
{
    if (strchr(val, '\n'))
        return sc_err_set(err, EINVAL, c->opts[i].name, -1, "--%s: a value may not hold a newline",
                          c->opts[i].name);
    bool first = !listed[i];
    listed[i] = true;
    if (first || !c->vals[i]) {
        set_val(c, i, val);
        return 0;
    }
    size_t n = strlen(c->vals[i]);
    char *v = realloc(c->vals[i], n + strlen(val) + 2);
    if (!v)
        return sc_err_set(err, ENOMEM, c->opts[i].name, -1, "out of memory");
    v[n] = '\n';
    strcpy(v + n + 1, val);
    c->vals[i] = v;
    return 0;
}

static int load_args(struct cfg *c, const struct cfg_opt *opts, int argc, char **argv, bool *listed,
                     struct sc_err *err);

int cfg_load(struct cfg *c, const struct cfg_opt *opts, int argc, char **argv, struct sc_err *err)
{
    int n = 0;
    while (opts[n].name)
        n++;
    bool *listed = calloc((size_t)n + 1, sizeof *listed);
    if (!listed) {
        memset(c, 0, sizeof *c);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    int rc = load_args(c, opts, argc, argv, listed, err);
    free(listed);
    return rc;
}

static int load_args(struct cfg *c, const struct cfg_opt *opts, int argc, char **argv, bool *listed,
                     struct sc_err *err)
{
    const char *file = getenv("SHARDCRON_CONFIG");
    char key[128];
    int rc;

    memset(c, 0, sizeof *c);
    c->opts = opts;
    while (opts[c->nopts].name)
        c->nopts++;
    c->vals = calloc((size_t)c->nopts + 1, sizeof *c->vals);
    c->pos = calloc((size_t)argc + 1, sizeof *c->pos);
    if (!c->vals || !c->pos)
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    for (int i = 0; i < c->nopts; i++)
        if (opts[i].def)
            set_val(c, i, opts[i].def);

    /* The file comes first, so find --config before applying any flag. */
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--") == 0)
            break;
        if (strcmp(argv[a], "--config") == 0 && a + 1 < argc)
            file = argv[a + 1];
        else if (strncmp(argv[a], "--config=", 9) == 0)
            file = argv[a] + 9;
    }
    if (file && (rc = load_file(c, file, err)) < 0)
        return rc;
    if ((rc = load_env(c, err)) < 0)
        return rc;

    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const char *val = NULL;
        int i;
        if (strcmp(arg, "--") == 0) {
            while (++a < argc)
                c->pos[c->npos++] = argv[a];
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            c->pos[c->npos++] = argv[a];
            continue;
        }
        if (arg[1] == '-') {
            const char *eq = strchr(arg + 2, '=');
            norm_key(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2), key, sizeof key);
            if (eq)
                val = eq + 1;
            i = find_opt(c, key);
        } else {
            i = -1;
            for (int j = 0; j < c->nopts; j++)
                if (arg[2] == '\0' && opts[j].alias == arg[1])
                    i = j;
            snprintf(key, sizeof key, "%s", arg);
        }
        if (strcmp(key, "config") == 0 && find_opt(c, "config") < 0) {
            a += val ? 0 : 1; /* already loaded above */
            continue;
        }
        if (i < 0)
            return unknown_key(key, "command line", err);
        if (opts[i].type == CFG_FLAG) {
            set_val(c, i, val ? val : "1");
            continue;
        }
        if (!val) {
            if (a + 1 >= argc)
                return sc_err_set(err, EINVAL, opts[i].name, -1, "--%s needs a value", key);
            val = argv[++a];
        }
        if (opts[i].type == CFG_LIST && (rc = list_add(c, i, val, listed, err)) < 0)
            return rc;
        if (opts[i].type != CFG_LIST)
            set_val(c, i, val);
    }
    return 0;
}

void cfg_free(struct cfg *c)
{
    if (c->vals)
        for (int i = 0; i < c->nopts; i++)
            free(c->vals[i]);
    free(c->vals);
    free(c->pos);
    memset(c, 0, sizeof *c);
}

const char *cfg_str(const struct cfg *c, const char *name)
{
    int i = find_opt(c, name);
    return i < 0 ? NULL : c->vals[i];
}

bool cfg_flag(const struct cfg *c, const char *name)
{
    const char *v = cfg_str(c, name);
    return v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "no") != 0;
}

int cfg_int(const struct cfg *c, const char *name, long long min, long long max, long long *out,
            struct sc_err *err)
{
    const char *v = cfg_str(c, name);
    char *end;
    if (!v || !*v)
        return -ENOENT;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || end == v)
        return sc_err_set(err, EINVAL, name, -1, "must be an integer (got \"%s\")", v);
    if (n < min || n > max)
        return sc_err_set(err, EINVAL, name, -1, "must be between %lld and %lld (got %lld)", min,
                          max, n);
    *out = n;
    return 0;
}

char *cfg_read_secret(const char *path, struct sc_err *err)
{
    struct stat st;
    char *line = NULL;
    size_t cap = 0;
    FILE *f = open_regular(path, "password_file", &st, err);
    if (!f)
        return NULL;
    if (st.st_mode & 077) {
        fclose(f);
        sc_err_set(err, EPERM, "password_file", -1,
                   "%s is readable by group or others; chmod 600 it", path);
        return NULL;
    }
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        line = NULL;
    } else {
        line[strcspn(line, "\r\n")] = '\0';
    }
    /* An empty secret is a mistake (a file truncated, the wrong file), never a
     * password: say so instead of trying to log in with "". */
    if (!line || !line[0]) {
        free(line);
        sc_err_set(err, EINVAL, "password_file", -1, "%s is empty (the secret is its first line)",
                   path);
        return NULL;
    }
    return line;
}

void cfg_usage(FILE *out, const struct cfg_opt *opts)
{
    char flag[96];
    for (const struct cfg_opt *o = opts; o->name; o++) {
        int n = snprintf(flag, sizeof flag, "%s%c%s--", o->alias ? "-" : "",
                         o->alias ? o->alias : ' ', o->alias ? ", " : "   ");
        for (const char *p = o->name; *p && n + 1 < (int)sizeof flag; p++)
            flag[n++] = *p == '_' ? '-' : *p;
        flag[n] = '\0';
        if (o->type != CFG_FLAG)
            snprintf(flag + n, sizeof flag - (size_t)n, " %s", o->type == CFG_INT ? "N" : "VALUE");
        fprintf(out, "  %-34s %s", flag, o->help ? o->help : "");
        if (o->def)
            fprintf(out, " (default %s)", o->def);
        fputc('\n', out);
    }
}
