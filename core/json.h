/* core/json.h: the project's one helper layer over cJSON.
 *
 * Typed getters that say which field is wrong and why, a parser that reports
 * the offset of a syntax error, and an unknown-field check. Every module reads
 * JSON through these; building JSON uses cJSON's own Add* functions. */
#ifndef SC_JSON_H
#define SC_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum { JSON_OPTIONAL = 0, JSON_REQUIRED = 1 };

/* json_parse: parse exactly `len` bytes (no trailing garbage). NULL on error,
 * with err->pos at the fault. Besides syntax (err->field ""), refuses what
 * cJSON would take silently (json_lint), with err->field naming the member.
 * The result is the caller's (cJSON_Delete). */
cJSON *json_parse(const char *buf, size_t len, struct sc_err *err);
/* json_lint: check JSON text that cJSON accepted: -EINVAL when a string holds
 * \u0000 or an unpaired surrogate, bytes that are not UTF-8, or an object has
 * two equal keys; err->field is the member's path ("alert.webhook",
 * "labels[2]", "jobs[3].command"; "" for the top value), err->pos the offset. */
int json_lint(const char *buf, size_t len, struct sc_err *err);

/* Getters return 0 when found, -ENOENT when absent and optional (out untouched),
 * -EINVAL on a wrong type/range or a missing required field (err filled).
 * JSON null counts as absent. Strings returned point into `obj`. */
int json_get_str(const cJSON *obj, const char *key, int required, const char **out,
                 struct sc_err *err);
int json_get_int(const cJSON *obj, const char *key, int required, long long min, long long max,
                 long long *out, struct sc_err *err);
int json_get_bool(const cJSON *obj, const char *key, int required, bool *out, struct sc_err *err);
/* Optional fields with a default: json_opt_str copies the string (or `def`)
 * and refuses one over `max` bytes; json_opt_int and json_opt_bool take `def`
 * when absent. -EINVAL on a wrong type, naming the field. */
int json_opt_str(const cJSON *o, const char *key, const char *def, size_t max, char **out,
                 struct sc_err *err);
int json_opt_int(const cJSON *o, const char *key, long long min, long long max, int def, int *out,
                 struct sc_err *err);
int json_opt_bool(const cJSON *o, const char *key, bool def, bool *out, struct sc_err *err);
int json_get_obj(const cJSON *obj, const char *key, int required, const cJSON **out,
                 struct sc_err *err);
int json_get_arr(const cJSON *obj, const char *key, int required, const cJSON **out,
                 struct sc_err *err);

/* json_check_fields: -EINVAL naming the first member of `obj` not in the
 * NULL-terminated `allowed` list. */
int json_check_fields(const cJSON *obj, const char *const *allowed, struct sc_err *err);

/* json_err_prefix: turn err->field "webhook" into "alert.webhook". */
void json_err_prefix(struct sc_err *err, const char *prefix);

/* json_print: compact text, the caller's to free(). NULL only on OOM. */
char *json_print(const cJSON *item);

#endif
