/* core/histo.c: fixed-bucket histograms in Prometheus' text format
 * (core/histo.h). */
#include "core/histo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int histo_init(struct histo *h, const double *le, int n)
{
    memset(h, 0, sizeof *h);
    if (n < 1 || n > HISTO_MAX_BUCKETS)
        return -EINVAL;
    for (int i = 1; i < n; i++)
        if (!(le[i] > le[i - 1]))
            return -EINVAL;
    h->le = le;
    h->n = n;
    return 0;
}

void histo_observe(struct histo *h, double v)
{
    if (!h->le)
        return;
    if (!(v > 0)) /* negative, and NaN */
        v = 0;
    int i = 0;
    while (i < h->n && v > h->le[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* APPENDF: snprintf at buf+*off, keeping *off the length the whole text needs
 * even once buf is full, as snprintf does. */
#define APPENDF(...)                                                                               \
    do {                                                                                           \
        bool room_ = (size_t)off < size;                                                           \
        int k_ = snprintf(room_ ? buf + off : NULL, room_ ? size - (size_t)off : 0, __VA_ARGS__);  \
        if (k_ < 0)                                                                                \
            return -1;                                                                             \
        off += k_;                                                                                 \
    } while (0)

int histo_write(const struct histo *h, const char *name, const char *help, char *buf, size_t size)
{
    int off = 0;
    uint64_t cum = 0;
    APPENDF("# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        APPENDF("%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], (unsigned long long)cum);
    }
    APPENDF("%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
            (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
    return off;
}
