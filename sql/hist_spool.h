/* sql/hist_spool.h: internals of the history writer shared with its unit tests:
 * the owned event copy (struct hist_rec), its binary encoding, and the on-disk
 * spool. Not for use outside sql/ and tests/.
 *
 * Spool format (docs/history.md): a directory of segment files named
 * seg-NNNNNNNNNNNNNNNN.spool (a 16-digit sequence number; replayed in that order).
 * Each segment starts with the 8-byte magic "SCSPOOL1", then records:
 *     u32 payload length (little-endian) | u32 CRC-32 of the payload | payload
 * A record whose header or payload is cut short, or whose CRC does not match, ends
 * the segment: it and everything after it are dropped with a log line, everything
 * before it is replayed. Appends are grouped and fdatasync'd once per group.
 * The payload's first byte says what it holds: 1 or 2 an execution (record
 * versions), 16 a workflow run, 17 a task instance, 18 an output. */
#ifndef SC_HIST_SPOOL_H
#define SC_HIST_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "sql/hist.h"

/* What a record reports: an execution (struct hist_event) or one of the
 * workflow rows (sql/hist.h, "workflow events"). */
enum hist_rec_kind { HIST_REC_EXEC, HIST_REC_WF_RUN, HIST_REC_WF_TASK, HIST_REC_WF_XCOM };

/* An owned, validated copy of an event: one allocation, the event's pointers
 * point into `data` (or, for states and triggers, at constant names). Strings
 * are valid UTF-8 cut to their column sizes. */
struct hist_rec {
    struct hist_rec *next; /* queue link */
    size_t size;           /* bytes allocated, for queue accounting */
    enum hist_rec_kind kind;
    union {
        struct hist_event ev; /* HIST_REC_EXEC */
        struct hist_wf_run_event run;
        struct hist_wf_task_event task;
        struct hist_wf_xcom_event xcom;
    };
    char data[];
};

/* hist_rec_new: validate and copy. NULL with err set when the event is malformed
 * (-EINVAL) or memory ran out. The result is the caller's to free(). */
struct hist_rec *hist_rec_new(const struct hist_event *ev, struct sc_err *err);
/* The same for the workflow events; err->field names the offending field. */
struct hist_rec *hist_rec_new_wf_run(const struct hist_wf_run_event *ev, struct sc_err *err);
struct hist_rec *hist_rec_new_wf_task(const struct hist_wf_task_event *ev, struct sc_err *err);
struct hist_rec *hist_rec_new_wf_xcom(const struct hist_wf_xcom_event *ev, struct sc_err *err);

/* hist_rec_describe: "execution ID (JOB)", "workflow run ID", "task RUN/TASK",
 * "output RUN/TASK/ITEM": what a log line names. */
void hist_rec_describe(const struct hist_rec *r, char *buf, size_t len);

/* Names shared with the ENUMs of sql/schema.sql: the index of `name` in the
 * run state, task state or run trigger list, or -EINVAL. */
int hist_wf_run_state_index(const char *name);
int hist_wf_task_state_index(const char *name);
int hist_wf_trigger_index(const char *name);

/* hist_rec_encode: the payload bytes into buf (capacity cap); returns the length,
 * or 0 when cap is too small. HIST_REC_MAX_ENCODED always suffices (an output of
 * HIST_XCOM_MAX bytes or params of HIST_PARAMS_MAX, with their identity). */
#define HIST_REC_MAX_ENCODED (HIST_XCOM_MAX + 1024)
size_t hist_rec_encode(const struct hist_rec *r, unsigned char *buf, size_t cap);

/* hist_rec_decode: a new record from a payload, or NULL when it is malformed. */
struct hist_rec *hist_rec_decode(const unsigned char *buf, size_t len);

/* hist_utf8_copy: copy src into dst (capacity cap bytes, NUL-terminated), keeping at
 * most max_chars characters, replacing each invalid byte with U+FFFD. Returns the
 * bytes written (without the NUL). dst NULL only measures (cap is then ignored
 * if SIZE_MAX). */
size_t hist_utf8_copy(char *dst, size_t cap, const char *src, size_t max_chars);

/* hist_crc32: CRC-32 (IEEE 802.3, as zlib's crc32). */
uint32_t hist_crc32(const void *buf, size_t len);

/* ---- spool ---- */

struct hist_spool;

/* hist_spool_open: open (creating) the spool directory, check every segment and cut
 * a torn tail. max_bytes 0 = 256 MiB. 0 and *out (free with hist_spool_close), or
 * a negative errno with err set. */
int hist_spool_open(const char *dir, uint64_t max_bytes, struct hist_spool **out,
                    struct sc_err *err);
void hist_spool_close(struct hist_spool *s);

/* hist_spool_append: append n records as one group and fdatasync once. When the
 * spool would pass its limit, whole oldest segments are deleted first, and a group
 * larger than the whole limit loses its oldest records (all added to *dropped,
 * the full flag raised). Returns the number of the group's records written, or a
 * negative errno (disk error: nothing of the group is kept, all in *dropped). */
int hist_spool_append(struct hist_spool *s, struct hist_rec *const *recs, size_t n,
                      uint64_t *dropped);

/* hist_spool_read: up to max records from the read cursor, oldest first, as a list
 * linked through ->next (the caller's to free). *n gets the count (0 = nothing
 * more). The cursor moves; hist_spool_commit makes it final, hist_spool_rewind
 * goes back to the last commit (the write failed; read them again later). */
int hist_spool_read(struct hist_spool *s, size_t max, struct hist_rec **list, size_t *n);
void hist_spool_commit(struct hist_spool *s);
void hist_spool_rewind(struct hist_spool *s);

/* Records and bytes waiting in the spool (record bytes, not segment headers), and
 * whether the limit has dropped data since open (the alert flag). */
uint64_t hist_spool_records(const struct hist_spool *s);
uint64_t hist_spool_bytes(const struct hist_spool *s);
int hist_spool_full(const struct hist_spool *s);

#endif
