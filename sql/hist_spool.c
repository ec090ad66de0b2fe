/* sql/hist_spool.c: the on-disk spool of the history writer.
 *
 * Owns: the segment files under the spool directory (format in sql/hist_spool.h
 * and docs/history.md), the read cursor used by replay, and the size limit. Used by
 * the writer thread only (no locking here). Segments make "keep the newest data"
 * cheap: hitting the limit deletes the oldest whole segment instead of rewriting
 * a file. */
#define LOG_CAT "shardcron.history"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "sql/hist_spool.h"

#define MAGIC "SCSPOOL1"
#define MAGIC_LEN 8
#define REC_HDR 8
#define MAX_SEGS 4096

struct seg {
    uint64_t seq;
    uint64_t size;    /* bytes in the file, header included */
    uint64_t records; /* records in the file */
};

struct hist_spool {
    char *dir;
    uint64_t max_bytes;
    uint64_t seg_max; /* roll to a new segment past this size */
    struct seg *segs; /* oldest first; the last one is the write segment */
    size_t nsegs;
    int wfd; /* write segment, O_APPEND; -1 when none */
    /* read cursor (segment index into segs, offset, records consumed in it) and
     * the committed copy of it */
    size_t rseg, cseg;
    uint64_t roff, coff;
    uint64_t rrecs, crecs;
    uint64_t records; /* records not yet committed as replayed */
    uint64_t bytes;
    int full;
    unsigned full_logs; /* rate-limits the "spool full" line */
};

static void seg_path(const struct hist_spool *s, uint64_t seq, char *buf, size_t len)
{
    snprintf(buf, len, "%s/seg-%016" PRIu64 ".spool", s->dir, seq);
}

static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const struct seg *)a)->seq, y = ((const struct seg *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Walk a segment, counting whole valid records; cut it at the first bad one. */
static int seg_scan(struct hist_spool *s, struct seg *g)
{
    char path[4096];
    seg_path(s, g->seq, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    if (!f)
        return -errno;
    unsigned char hdr[REC_HDR];
    /* On the heap: a record may be as large as a 64 KiB workflow output. */
    unsigned char *buf = malloc(HIST_REC_MAX_ENCODED);
    uint64_t off = 0, good = MAGIC_LEN;
    const char *why = NULL;
    g->records = 0;
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    if (fread(hdr, 1, MAGIC_LEN, f) != MAGIC_LEN || memcmp(hdr, MAGIC, MAGIC_LEN) != 0) {
        why = "bad or missing segment header";
        good = 0;
    } else {
        off = MAGIC_LEN;
        for (;;) {
            size_t got = fread(hdr, 1, REC_HDR, f);
            if (got == 0)
                break;
            uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                           (uint32_t)hdr[3] << 24;
            uint32_t crc = (uint32_t)hdr[4] | (uint32_t)hdr[5] << 8 | (uint32_t)hdr[6] << 16 |
                           (uint32_t)hdr[7] << 24;
            if (got < REC_HDR) {
                why = "torn record header";
                break;
            }
            if (len == 0 || len > HIST_REC_MAX_ENCODED) {
                why = "impossible record length";
                break;
            }
            if (fread(buf, 1, len, f) != len) {
                why = "torn record";
                break;
            }
            if (hist_crc32(buf, len) != crc) {
                why = "checksum mismatch";
                break;
            }
            off += REC_HDR + len;
            good = off;
            g->records++;
        }
    }
    fseek(f, 0, SEEK_END);
    long total = ftell(f);
    if (why) {
        LOGW("spool %s: %s at offset %" PRIu64 "; dropping the %ld bytes from there, replaying the"
             " %" PRIu64 " records before it",
             path, why, good, total - (long)good, g->records);
        if (good == 0) {
            /* Not even a header: rewrite it so the segment is usable. */
            if (ftruncate(fileno(f), 0) == 0 && fseek(f, 0, SEEK_SET) == 0)
                fwrite(MAGIC, 1, MAGIC_LEN, f);
            good = MAGIC_LEN;
        } else if (ftruncate(fileno(f), (off_t)good) != 0) {
            LOGE("spool %s: cannot cut the torn tail: %s", path, strerror(errno));
        }
        fflush(f);
        fdatasync(fileno(f));
    }
    g->size = good;
    fclose(f);
    free(buf);
    return 0;
}

static int seg_create(struct hist_spool *s)
{
    char path[4096];
    if (s->nsegs == MAX_SEGS)
        return -ENOSPC;
    uint64_t seq = s->nsegs ? s->segs[s->nsegs - 1].seq + 1 : 1;
    seg_path(s, seq, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (write(fd, MAGIC, MAGIC_LEN) != MAGIC_LEN) {
        int e = errno ? -errno : -EIO;
        close(fd);
        unlink(path);
        return e;
    }
    if (s->wfd >= 0)
        close(s->wfd);
    s->wfd = fd;
    s->segs[s->nsegs++] = (struct seg){.seq = seq, .size = MAGIC_LEN, .records = 0};
    s->bytes += MAGIC_LEN;
    return 0;
}

int hist_spool_open(const char *dir, uint64_t max_bytes, struct hist_spool **out,
                    struct sc_err *err)
{
    struct hist_spool *s = calloc(1, sizeof *s);
    if (!s)
        return sc_err_set(err, ENOMEM, "spool", -1, "out of memory");
    s->wfd = -1;
    s->max_bytes = max_bytes ? max_bytes : 256ull << 20;
    s->seg_max = s->max_bytes / 8;
    if (s->seg_max < 4096)
        s->seg_max = 4096;
    s->dir = strdup(dir);
    s->segs = calloc(MAX_SEGS, sizeof *s->segs);
    if (!s->dir || !s->segs) {
        sc_err_set(err, ENOMEM, "spool", -1, "out of memory");
        goto err;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        sc_err_set(err, errno, "spool_path", -1, "cannot create %s: %s", dir, strerror(errno));
        goto err;
    }
    DIR *d = opendir(dir);
    if (!d) {
        sc_err_set(err, errno, "spool_path", -1, "cannot open %s: %s", dir, strerror(errno));
        goto err;
    }
    const struct dirent *de;
    while ((de = readdir(d)) != NULL && s->nsegs < MAX_SEGS) {
        uint64_t seq;
        char tail[8];
        if (sscanf(de->d_name, "seg-%16" SCNu64 ".spoo%1s", &seq, tail) == 2 &&
            strlen(de->d_name) == 26)
            s->segs[s->nsegs++].seq = seq;
    }
    closedir(d);
    qsort(s->segs, s->nsegs, sizeof *s->segs, cmp_seg);
    for (size_t i = 0; i < s->nsegs; i++) {
        int rc = seg_scan(s, &s->segs[i]);
        if (rc < 0) {
            sc_err_set(err, -rc, "spool_path", -1, "cannot read spool segment %" PRIu64 ": %s",
                       s->segs[i].seq, strerror(-rc));
            goto err;
        }
        s->bytes += s->segs[i].size;
        s->records += s->segs[i].records;
    }
    if (s->records)
        LOGN("spool %s: %" PRIu64 " records from an earlier run will be replayed", dir, s->records);
    if (s->nsegs) {
        char path[4096];
        seg_path(s, s->segs[s->nsegs - 1].seq, path, sizeof path);
        s->wfd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (s->wfd < 0) {
            sc_err_set(err, errno, "spool_path", -1, "cannot open %s: %s", path, strerror(errno));
            goto err;
        }
    } else {
        int rc = seg_create(s);
        if (rc < 0) {
            sc_err_set(err, -rc, "spool_path", -1, "cannot create a segment in %s: %s", dir,
                       strerror(-rc));
            goto err;
        }
    }
    s->roff = s->coff = MAGIC_LEN;
    *out = s;
    return 0;
err:
    hist_spool_close(s);
    return err && err->msg[0] ? -EIO : -ENOMEM;
}

void hist_spool_close(struct hist_spool *s)
{
    if (!s)
        return;
    if (s->wfd >= 0)
        close(s->wfd);
    free(s->segs);
    free(s->dir);
    free(s);
}

/* Delete segment i (not the write segment), keeping the cursors pointing at the
 * same records. */
static void seg_remove(struct hist_spool *s, size_t i, uint64_t unread)
{
    char path[4096];
    seg_path(s, s->segs[i].seq, path, sizeof path);
    unlink(path);
    s->bytes -= s->segs[i].size;
    s->records -= unread;
    memmove(s->segs + i, s->segs + i + 1, (s->nsegs - i - 1) * sizeof *s->segs);
    s->nsegs--;
    if (s->cseg > i)
        s->cseg--;
    else if (s->cseg == i)
        s->coff = MAGIC_LEN, s->crecs = 0;
    if (s->rseg > i)
        s->rseg--;
    else if (s->rseg == i)
        s->roff = MAGIC_LEN, s->rrecs = 0;
}

int hist_spool_append(struct hist_spool *s, struct hist_rec *const *recs, size_t n,
                      uint64_t *dropped)
{
    if (n == 0)
        return 0;
    size_t cap = n * (REC_HDR + 512) + HIST_REC_MAX_ENCODED, len = 0;
    unsigned char *buf = malloc(cap);
    size_t *ends = malloc(n * sizeof *ends);
    if (!buf || !ends) {
        free(buf);
        free(ends);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (cap - len < REC_HDR + HIST_REC_MAX_ENCODED) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                free(ends);
                return -ENOMEM;
            }
            buf = nb, cap *= 2;
        }
        size_t plen = hist_rec_encode(recs[i], buf + len + REC_HDR, HIST_REC_MAX_ENCODED);
        uint32_t crc = hist_crc32(buf + len + REC_HDR, plen);
        for (int k = 0; k < 4; k++) {
            buf[len + k] = (unsigned char)(plen >> (8 * k));
            buf[len + 4 + k] = (unsigned char)(crc >> (8 * k));
        }
        len += REC_HDR + plen;
        ends[i] = len;
    }
    /* A group larger than the whole spool keeps its newest records. */
    size_t first = 0, from = 0;
    while (first < n && len - from + MAGIC_LEN * 2 > s->max_bytes)
        from = ends[first++];
    if (first) {
        if (s->full_logs++ % 100 == 0)
            LOGE("spool %s: a group of %zu records is larger than the limit (%" PRIu64
                 " bytes): its %zu oldest are dropped",
                 s->dir, n, s->max_bytes, first);
        *dropped += first;
        s->full = 1;
    }
    len -= from;
    /* Keep the newest: delete whole oldest segments until the group fits. */
    while (s->bytes + len > s->max_bytes && s->nsegs > 0) {
        if (s->nsegs == 1) {
            /* Only the write segment: start a fresh one so the old one can go. */
            if (s->segs[0].size <= MAGIC_LEN || seg_create(s) < 0)
                break;
        }
        uint64_t unread = s->segs[0].records - (s->cseg == 0 ? s->crecs : 0);
        if (s->full_logs++ % 100 == 0)
            LOGE("spool %s is full (%" PRIu64 " bytes): dropping its oldest segment, %" PRIu64
                 " records lost",
                 s->dir, s->max_bytes, unread);
        *dropped += unread;
        s->full = 1;
        seg_remove(s, 0, unread);
    }
    if (len == 0 || s->bytes + len > s->max_bytes) {
        if (len)
            LOGE("spool %s: %zu records do not fit the limit; dropped", s->dir, n - first);
        *dropped += len ? n - first : 0;
        s->full = 1;
        free(buf);
        free(ends);
        return 0;
    }
    /* Write in segment-sized pieces, so the limit can later free space by the
     * segment rather than by a whole large group; one fdatasync per piece. */
    size_t i = first, written = 0;
    int rc = 0;
    while (i < n) {
        struct seg *w = &s->segs[s->nsegs - 1];
        size_t j = i, start = i ? ends[i - 1] : 0;
        do
            j++;
        while (j < n && w->size + (ends[j] - start) < s->seg_max);
        size_t plen = ends[j - 1] - start;
        ssize_t wr = write(s->wfd, buf + start, plen);
        if (wr != (ssize_t)plen || fdatasync(s->wfd) != 0) {
            rc = wr < 0 || errno ? -errno : -EIO;
            LOGE("spool %s: write failed: %s; %zu records lost", s->dir, strerror(-rc), n - i);
            if (ftruncate(s->wfd, (off_t)w->size) != 0)
                LOGE("spool %s: cannot cut the partial write: %s", s->dir, strerror(errno));
            *dropped += n - i;
            break;
        }
        w->size += plen;
        w->records += j - i;
        s->bytes += plen;
        s->records += j - i;
        written += j - i;
        i = j;
        if (w->size >= s->seg_max && seg_create(s) < 0)
            LOGW("spool %s: cannot start a new segment; the current one keeps growing", s->dir);
    }
    free(buf);
    free(ends);
    return rc < 0 && written == 0 ? rc : (int)written;
}

int hist_spool_read(struct hist_spool *s, size_t max, struct hist_rec **list, size_t *n)
{
    unsigned char *buf = malloc(HIST_REC_MAX_ENCODED);
    struct hist_rec *head = NULL, **tail = &head;
    char path[4096];
    int fd = -1;
    size_t fdseg = (size_t)-1;
    *n = 0;
    *list = NULL;
    if (!buf)
        return -ENOMEM;
    while (*n < max && s->rseg < s->nsegs) {
        struct seg *g = &s->segs[s->rseg];
        if (s->roff >= g->size) {
            if (s->rseg + 1 >= s->nsegs)
                break;
            s->rseg++, s->roff = MAGIC_LEN, s->rrecs = 0;
            continue;
        }
        if (fdseg != s->rseg) {
            if (fd >= 0)
                close(fd);
            seg_path(s, g->seq, path, sizeof path);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                LOGE("spool %s: %s", path, strerror(errno));
                break;
            }
            fdseg = s->rseg;
        }
        unsigned char hdr[REC_HDR];
        uint32_t len = 0, crc = 0;
        int ok = pread(fd, hdr, REC_HDR, (off_t)s->roff) == REC_HDR;
        if (ok) {
            for (int k = 0; k < 4; k++) {
                len |= (uint32_t)hdr[k] << (8 * k);
                crc |= (uint32_t)hdr[4 + k] << (8 * k);
            }
            ok = len > 0 && len <= HIST_REC_MAX_ENCODED &&
                 pread(fd, buf, len, (off_t)(s->roff + REC_HDR)) == (ssize_t)len &&
                 hist_crc32(buf, len) == crc;
        }
        struct hist_rec *r = ok ? hist_rec_decode(buf, len) : NULL;
        if (!r) {
            /* Checked at open and written whole since: only outside damage gets here. */
            LOGE("spool %s: unreadable record at offset %" PRIu64 "; skipping the rest of"
                 " this segment",
                 path, s->roff);
            s->records -= g->records - s->rrecs;
            g->records = s->rrecs;
            s->roff = g->size;
            continue;
        }
        s->roff += REC_HDR + len;
        s->rrecs++;
        *tail = r;
        tail = &r->next;
        (*n)++;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    *list = head;
    return 0;
}

void hist_spool_commit(struct hist_spool *s)
{
    /* Records between the committed and the read cursor are now done. */
    uint64_t done = 0;
    for (size_t i = s->cseg; i <= s->rseg && i < s->nsegs; i++) {
        uint64_t from = i == s->cseg ? s->crecs : 0;
        uint64_t to = i == s->rseg ? s->rrecs : s->segs[i].records;
        done += to - from;
    }
    s->records -= done;
    s->cseg = s->rseg, s->coff = s->roff, s->crecs = s->rrecs;
    /* Segments wholly replayed go away. */
    while (s->cseg > 0) {
        seg_remove(s, 0, 0);
    }
    if (s->nsegs == 1 && s->coff >= s->segs[0].size) {
        /* Everything replayed: truncate the write segment back to its header. */
        s->records = 0;
        if (s->segs[0].size > MAGIC_LEN && ftruncate(s->wfd, MAGIC_LEN) == 0) {
            s->bytes -= s->segs[0].size - MAGIC_LEN;
            s->segs[0].size = MAGIC_LEN;
            s->segs[0].records = 0;
            s->coff = s->roff = MAGIC_LEN;
            s->crecs = s->rrecs = 0;
        }
    }
}

void hist_spool_rewind(struct hist_spool *s)
{
    s->rseg = s->cseg, s->roff = s->coff, s->rrecs = s->crecs;
}

uint64_t hist_spool_records(const struct hist_spool *s)
{
    return s->records;
}

uint64_t hist_spool_bytes(const struct hist_spool *s)
{
    return s->bytes - s->nsegs * MAGIC_LEN;
}

int hist_spool_full(const struct hist_spool *s)
{
    return s->full;
}
