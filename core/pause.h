/* core/pause.h: pause windows (design.md "Calendars and pause windows").
 *
 * A pause window stops the scheduled fires of what it scopes (every job, a
 * domain, a job, a workflow, or the jobs carrying some labels) for a while:
 * either once, between two wall times of a zone ("from"/"to"), or again and
 * again, for duration_s real seconds from each fire of a cron expression in
 * the project's dialect (core/cron.h) and zone. A fire inside a window is
 * skipped (recorded `paused`) or deferred (recorded `paused`, and the item
 * runs once when the window ends). Running executions are never touched.
 *
 * Windows are stored as JSON, one znode each at /pauses/<id> (docs/pauses.md).
 * pause_parse() is the only way in: unknown fields are refused and every
 * error names its field ("to: the window ends (...) before it starts (...)").
 * pause_to_json() writes the canonical form back. Everything here is pure. */
#ifndef SC_PAUSE_H
#define SC_PAUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/cron.h"
#include "core/err.h"

#define PAUSE_ID_MAX 128
#define PAUSE_REASON_MAX 512
#define PAUSE_LABELS_MAX 32
#define PAUSE_DURATION_MAX (31 * 86400) /* one recurring window lasts at most a month */
#define PAUSE_STORED_MAX 8192

enum pause_scope { PAUSE_ALL, PAUSE_DOMAIN, PAUSE_JOB, PAUSE_WORKFLOW, PAUSE_LABELS };
enum pause_action { PAUSE_SKIP, PAUSE_DEFER };

struct pause {
    char *id;
    enum pause_scope scope;
    char *target;  /* the domain, job or workflow named by the scope; NULL otherwise */
    char **labels; /* PAUSE_LABELS: a job carrying any of them is paused */
    int nlabels;
    char *timezone; /* IANA name, default "UTC" */
    /* one-off: [from, to) in UTC epoch seconds; recurring: both 0 */
    int64_t from, to;
    /* recurring: cron text and its parsed form, duration_s; one-off: NULL, 0 */
    char *cron;
    int duration_s;
    cron_expr *expr;
    tz_zone *zone;
    enum pause_action action;
    char *reason;
};

/* What a fire belongs to, as a window's scope sees it. Any field may be
 * NULL/empty: a job fire has job, domain and labels; a workflow task has its
 * workflow and, for a job task, the job's fields too. */
struct pause_subject {
    const char *job;
    const char *domain;
    char *const *labels;
    int nlabels;
    const char *workflow;
};

/* pause_parse / pause_from_cjson: validate; on success *out is the caller's
 * (pause_free). -EINVAL with err naming the field otherwise. */
int pause_parse(const char *json, size_t len, struct pause **out, struct sc_err *err);
int pause_from_cjson(const cJSON *root, struct pause **out, struct sc_err *err);
/* pause_to_cjson / pause_to_json: the canonical form (one-off times as wall
 * times of the window's zone), the caller's. NULL only on OOM. */
cJSON *pause_to_cjson(const struct pause *p);
char *pause_to_json(const struct pause *p);
void pause_free(struct pause *p);

/* pause_scopes: does p's scope take in s? */
bool pause_scopes(const struct pause *p, const struct pause_subject *s);

/* pause_window_at: is UTC second t inside a window of p (its start included,
 * its end not)? 1 with *start and *end (either may be NULL) of that window,
 * else 0. A recurring window is the latest cron fire at or before t plus
 * duration_s real seconds (a window across a DST change lasts what it says). */
int pause_window_at(const struct pause *p, int64_t t, int64_t *start, int64_t *end);

/* pause_find: the window among ps[0..n) that holds a fire of s at t, or NULL.
 * When several do, a skip wins over a defer (the fire is not run at all), and
 * among equals the one ending last; *end (may be NULL) is that window's end. */
const struct pause *pause_find(struct pause *const *ps, size_t n, const struct pause_subject *s,
                               int64_t t, int64_t *end);

/* pause_next_start: the start of the first window of p that starts after t
 * (with its *end, may be NULL), or -1 (a one-off window that has begun, cron
 * that never fires again). For listings ("next: ..."). */
int64_t pause_next_start(const struct pause *p, int64_t t, int64_t *end);

const char *pause_action_name(enum pause_action a);
const char *pause_scope_name(enum pause_scope s);
/* pause_scope_text: "domain finance", "all", "labels batch,etl" into buf. */
const char *pause_scope_text(const struct pause *p, char *buf, size_t len);

#endif
