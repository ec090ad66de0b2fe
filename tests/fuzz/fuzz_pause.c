/* tests/fuzz/fuzz_pause.c: libFuzzer target for pause windows (core/pause.c,
 * pause_parse).
 *
 * Windows arrive from outside: `shardcronctl pause add`, the console's POST and
 * /pauses/<id> in ZooKeeper, which every agent reads. Any input must either be
 * refused with a message naming what is wrong, or parse into a window whose
 * canonical JSON parses again into the same canonical JSON; and asking the
 * parsed window about a few instants must not crash. The input is handed over
 * without a NUL after it, as ZooKeeper's data is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/pause.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly the bytes: over-reads are caught */
    struct pause *p = NULL, *again = NULL;
    struct sc_err err;
    if (!text)
        return 0;
    memcpy(text, data, size);
    sc_err_clear(&err);
    if (pause_parse(text, size, &p, &err) < 0) {
        if (p || !err.msg[0])
            abort();
        free(text);
        return 0;
    }
    char *canon = pause_to_json(p);
    if (!canon)
        abort();
    sc_err_clear(&err);
    if (pause_parse(canon, strlen(canon), &again, &err) < 0)
        abort(); /* our own output refused */
    char *canon2 = pause_to_json(again);
    if (!canon2 || strcmp(canon, canon2) != 0)
        abort();
    static const int64_t at[] = {0, 86399, 1796659200, 4102444800LL};
    struct pause_subject s = {.job = "j", .domain = "d", .workflow = "w"};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        int64_t b = 0, e = 0;
        if (pause_window_at(p, at[i], &b, &e) && (at[i] < b || at[i] >= e))
            abort();
        (void)pause_next_start(p, at[i], NULL);
        (void)pause_find(&p, 1, &s, at[i], NULL);
    }
    free(canon2);
    free(canon);
    pause_free(again);
    pause_free(p);
    free(text);
    return 0;
}
