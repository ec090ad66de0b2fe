/* tests/fuzz/fuzz_plan_snapshot.c: libFuzzer target for the assignment snapshot as
 * agents and consoles read it from ZooKeeper (/state/assignment, registry/plan.c).
 *
 * Any input must either be refused with a message, or give a snapshot whose JSON
 * parses again into an equal snapshot (plan_snapshot_same, and the same JSON), and
 * whose deep copy is equal too. The input has no NUL after it, as ZooKeeper's data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "registry/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct plan_snapshot s, again, copy;
    struct sc_err err;
    if (size > 1 << 20)
        return 0;
    char *text = malloc(size ? size : 1); /* exactly the bytes: over-reads are caught */
    if (!text)
        return 0;
    memcpy(text, data, size);
    sc_err_clear(&err);
    if (plan_snapshot_parse(text, (int)size, &s, &err) < 0) {
        if (!err.msg[0])
            abort();
        free(text);
        return 0;
    }
    char *json = plan_snapshot_json(&s);
    if (!json)
        abort();
    if (plan_snapshot_parse(json, (int)strlen(json), &again, &err) < 0)
        abort(); /* our own output refused */
    char *json2 = plan_snapshot_json(&again);
    if (!json2 || strcmp(json, json2) != 0 || !plan_snapshot_same(&s, &again) ||
        again.epoch != s.epoch)
        abort();
    if (plan_snapshot_copy(&s, &copy) < 0 || !plan_snapshot_same(&s, &copy))
        abort();
    free(json2);
    free(json);
    plan_snapshot_clear(&copy);
    plan_snapshot_clear(&again);
    plan_snapshot_clear(&s);
    free(text);
    return 0;
}
