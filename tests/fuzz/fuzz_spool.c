/* tests/fuzz/fuzz_spool.c: libFuzzer target for the history spool on disk
 * (sql/hist_spool.c, sql/hist_rec.c), what an agent replays into MySQL after a
 * restart: whatever a crash, a full disk or another program left in the files.
 * Records of every kind (executions; workflow runs, task instances, outputs)
 * are seeded from tests/fuzz/corpus/fuzz_spool/.
 *
 * Each input is used twice:
 *   - as one record payload: hist_rec_decode either refuses it or gives a record
 *     that encodes and decodes again to the same bytes;
 *   - as a segment file's body after the magic, opened with hist_spool_open and read
 *     to the end. If the first byte is odd, the rest is cut into payloads (2-byte
 *     little-endian length, then the bytes) written with correct headers and CRCs,
 *     so the reader meets well-framed records with any content; else it is written
 *     raw. Opening must succeed, and reading must give at most the records open
 *     counted, each one that encodes again. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "sql/hist_spool.h"

static char dir[64];

static void empty_dir(void)
{
    DIR *d = opendir(dir);
    const struct dirent *de;
    char path[512];
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static void cleanup(void)
{
    empty_dir();
    rmdir(dir);
}

static void put32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, f);
}

static void check_record(const uint8_t *data, size_t size)
{
    static unsigned char a[HIST_REC_MAX_ENCODED], b[HIST_REC_MAX_ENCODED];
    struct hist_rec *r = hist_rec_decode(data, size);
    if (!r)
        return;
    size_t na = hist_rec_encode(r, a, sizeof a);
    struct hist_rec *again = na ? hist_rec_decode(a, na) : NULL;
    if (!again)
        abort(); /* our own encoding refused */
    size_t nb = hist_rec_encode(again, b, sizeof b);
    if (nb != na || memcmp(a, b, na) != 0)
        abort();
    free(again);
    free(r);
}

static void check_segment(const uint8_t *data, size_t size)
{
    char path[128];
    struct sc_err err;
    struct hist_spool *s;
    snprintf(path, sizeof path, "%s/seg-%016d.spool", dir, 1);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite("SCSPOOL1", 1, 8, f);
    if (size > 0 && (data[0] & 1)) {
        for (size_t i = 1; i + 2 <= size;) {
            size_t n = (size_t)data[i] | (size_t)data[i + 1] << 8;
            i += 2;
            if (n > size - i)
                n = size - i;
            put32(f, (uint32_t)n);
            put32(f, hist_crc32(data + i, n));
            fwrite(data + i, 1, n, f);
            i += n;
        }
    } else {
        fwrite(data, 1, size, f);
    }
    fclose(f);
    sc_err_clear(&err);
    if (hist_spool_open(dir, 0, &s, &err) < 0)
        abort(); /* damage is cut away, never a refusal to start */
    uint64_t counted = hist_spool_records(s), got = 0;
    for (;;) {
        struct hist_rec *list;
        size_t n;
        if (hist_spool_read(s, 16, &list, &n) < 0)
            abort();
        if (n == 0)
            break;
        for (struct hist_rec *r = list, *next; r; r = next) {
            static unsigned char buf[HIST_REC_MAX_ENCODED];
            next = r->next;
            if (hist_rec_encode(r, buf, sizeof buf) == 0)
                abort();
            free(r);
        }
        got += n;
        hist_spool_commit(s);
    }
    if (got > counted)
        abort();
    hist_spool_close(s);
    empty_dir();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        /* tmpfs when there is one: cutting a torn tail fdatasyncs, once per input */
        snprintf(dir, sizeof dir, "%s/sc-fuzz-spool-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        if (mkdir(dir, 0700) < 0 && access(dir, W_OK) < 0)
            abort();
        atexit(cleanup);
        /* Cutting a torn tail is logged as a warning on every damaged input: keep
         * errors only (no log4crc in the empty directory: lines go to stderr). */
        log_init("fuzz_spool", dir, "error");
    }
    check_record(data, size);
    check_segment(data, size);
    return 0;
}
