/* core/histo.h: fixed-bucket histograms written in Prometheus' text format,
 * for the daemons' /metrics (the agent's start delay and execution time).
 *
 * A histogram belongs to one event loop: observing takes no lock. The bucket
 * bounds are the caller's (usually a static array) and must outlive it. */
#ifndef SC_HISTO_H
#define SC_HISTO_H

#include <stddef.h>
#include <stdint.h>

#define HISTO_MAX_BUCKETS 16

struct histo {
    const double *le; /* ascending upper bounds; +Inf is implied after them */
    int n;
    uint64_t counts[HISTO_MAX_BUCKETS + 1]; /* per bucket, not cumulative; [n] = over le[n-1] */
    uint64_t count;
    double sum;
};

/* histo_init: empty histogram over bounds le[0..n-1]. Returns 0, or -EINVAL
 * when n is outside 1..HISTO_MAX_BUCKETS or the bounds do not ascend. */
int histo_init(struct histo *h, const double *le, int n);

/* histo_observe: count v (a negative v counts as 0: a clock that stepped back
 * must not make a "start delay" negative in the sum). */
void histo_observe(struct histo *h, double v);

/* histo_write: the # HELP and # TYPE lines, cumulative name_bucket{le=...}
 * lines ending with le="+Inf", name_sum and name_count, into buf. Returns what
 * snprintf returns: the length the text needs (>= size means it was cut). */
int histo_write(const struct histo *h, const char *name, const char *help, char *buf, size_t size);

#endif
