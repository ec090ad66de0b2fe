/* core/err.h: the error record every validating function fills.
 *
 * Functions return 0 or a negative errno-style code; when they take a
 * `struct sc_err *`, they also say what was wrong in words a person can act on:
 * which field (a JSON field name, a flag, a cron field) and where (a character
 * offset, or -1 when position means nothing). */
#ifndef SC_ERR_H
#define SC_ERR_H

#include <stdarg.h>
#include <stddef.h>

struct sc_err {
    char field[96]; /* "" when the error is not about one field */
    char msg[256];  /* complete sentence fragment: "must be between 1 and 10000" */
    int pos;        /* character offset of the fault, or -1 */
};

/* sc_err_set: fill `err` (may be NULL) and return -code (code is a positive errno). */
int sc_err_set(struct sc_err *err, int code, const char *field, int pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* sc_err_clear: reset to "no error". */
void sc_err_clear(struct sc_err *err);

/* sc_err_format: "field: msg (at N)" into buf; returns buf. */
const char *sc_err_format(const struct sc_err *err, char *buf, size_t len);

#endif
