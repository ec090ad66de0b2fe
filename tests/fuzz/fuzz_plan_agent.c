/* tests/fuzz/fuzz_plan_agent.c: libFuzzer target for what agents and consoles read
 * about other agents and job changes from ZooKeeper (registry/plan.c): agent records
 * (/agents/<id>), the change log's node names and its pruning mark.
 *
 * An agent record either is refused with a message, or gives a record whose JSON
 * parses again into the same JSON. The same bytes are also tried as a change node's
 * name (a C string, as ZooKeeper lists children) and as the pruning mark's data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "registry/plan.h"

static void change_name(const uint8_t *data, size_t size)
{
    char name[1024], job[256];
    enum plan_change_kind kind;
    int64_t seq;
    if (size >= sizeof name)
        return;
    memcpy(name, data, size);
    name[size] = '\0';
    if (plan_change_parse(name, &kind, job, sizeof job, &seq) < 0)
        return;
    if (seq < 0 || strlen(job) >= sizeof job || strlen(job) + 13 != strlen(name))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct plan_agent_rec r, again;
    struct sc_err err;
    if (size > 1 << 20)
        return 0;
    change_name(data, size);
    char *text = malloc(size ? size : 1); /* exactly the bytes: over-reads are caught */
    if (!text)
        return 0;
    memcpy(text, data, size);
    if (plan_changes_pruned(text, (int)size) < -1)
        abort();
    sc_err_clear(&err);
    if (plan_agent_parse(text, (int)size, &r, &err) < 0) {
        if (!err.msg[0])
            abort();
        free(text);
        return 0;
    }
    char *json = plan_agent_json(&r);
    if (!json)
        abort();
    if (plan_agent_parse(json, (int)strlen(json), &again, &err) < 0)
        abort(); /* our own output refused */
    char *json2 = plan_agent_json(&again);
    if (!json2 || strcmp(json, json2) != 0)
        abort();
    free(json2);
    free(json);
    plan_agent_clear(&again);
    plan_agent_clear(&r);
    free(text);
    return 0;
}
