/* tests/fuzz/fuzz_tzif.c: libFuzzer target for the TZif reader.
 *
 * Each input is written as a zone file under a private $TZDIR and loaded; a file
 * either loads or is refused with an error, and a loaded zone answers lookups
 * (offsets within +-26 h, periods that contain the instant asked about). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/tz.h"

static char dir[64];

static void cleanup(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/Z", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    struct sc_err err;
    if (!dir[0]) {
        /* tmpfs when there is one: on ext4, rewriting a truncated file flushes it at
         * close (auto_da_alloc), which held this target to ~300 runs a second. */
        snprintf(dir, sizeof dir, "%s/sc-fuzz-tz-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        if (mkdir(dir, 0700) < 0 && access(dir, W_OK) < 0)
            abort();
        setenv("TZDIR", dir, 1);
        atexit(cleanup);
    }
    snprintf(path, sizeof path, "%s/Z", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    tz_zone *z = tz_load("Z", &err);
    if (!z) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    static const int64_t probes[] = {INT64_MIN / 2, -1,           0, 1616893200, 4102444800,
                                     10429430400,   INT64_MAX / 2};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        struct tz_period p;
        int64_t u;
        tz_period(z, probes[i], &p);
        if (p.start > probes[i] || p.end <= probes[i] || p.off < -26 * 3600 || p.off > 26 * 3600)
            abort();
        if (probes[i] > -(1LL << 40) && probes[i] < (1LL << 40))
            (void)tz_from_local(z, probes[i], &u);
    }
    tz_free(z);
    return 0;
}
