/* core/err.c: filling and formatting struct sc_err. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

int sc_err_set(struct sc_err *err, int code, const char *field, int pos, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->pos = pos;
    }
    return -code;
}

void sc_err_clear(struct sc_err *err)
{
    if (err) {
        err->field[0] = '\0';
        err->msg[0] = '\0';
        err->pos = -1;
    }
}

const char *sc_err_format(const struct sc_err *err, char *buf, size_t len)
{
    if (err->field[0] && err->pos >= 0)
        snprintf(buf, len, "%s: %s (at %d)", err->field, err->msg, err->pos);
    else if (err->field[0])
        snprintf(buf, len, "%s: %s", err->field, err->msg);
    else if (err->pos >= 0)
        snprintf(buf, len, "%s (at %d)", err->msg, err->pos);
    else
        snprintf(buf, len, "%s", err->msg);
    return buf;
}
