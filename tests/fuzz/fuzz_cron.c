/* tests/fuzz/fuzz_cron.c: libFuzzer target for the cron parser and search.
 *
 * Any input must either parse or fail with a field name, a message and a position
 * inside the text; a parsed expression must give fire times that move in the
 * right direction and agree with each other (prev(next(t)) <= t). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/err.h"
#include "core/tz.h"

/* Zones are loaded once per fuzzing process (the harness's state, not the library's). */
static const tz_zone *zones[3];

static void load_zones(void)
{
    static const char *names[3] = {"UTC", "Europe/Berlin", "Australia/Lord_Howe"};
    struct sc_err err;
    for (int i = 0; i < 3; i++)
        if (!zones[i] && !(zones[i] = tz_load(names[i], &err)))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cron_expr *e = NULL;
    struct sc_err err;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    load_zones();
    sc_err_clear(&err);
    if (cron_parse(text, &e, &err) < 0) {
        if (e || !err.field[0] || !err.msg[0] || err.pos < 0 || (size_t)err.pos > strlen(text))
            abort();
        for (const char *m = err.msg; *m; m++) /* messages stay printable ASCII */
            if ((unsigned char)*m < 0x20 || (unsigned char)*m > 0x7e)
                abort();
        free(text);
        return 0;
    }
    static const int64_t starts[] = {0, 1616893190, 1635641990, 1617461990, 4102444800, -5};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        const tz_zone *z = zones[i % 3];
        int64_t t = starts[i], n = cron_next(e, t, z);
        if (n == -1)
            continue;
        if (n <= t)
            abort();
        int64_t p = cron_prev(e, n, z);
        if (p != -1 && (p > t || cron_next(e, p, z) != n))
            abort();
    }
    cron_free(e);
    free(text);
    return 0;
}
