/* tests/fuzz/fuzz_wf.c: libFuzzer target for workflow definitions
 * (workflow/wf.c, wf_parse).
 *
 * Definitions arrive from outside: `shardcronctl workflow put`, the console's
 * API, and /workflows/<name> in ZooKeeper. Any input must either be refused
 * with a message naming what is wrong, or parse into a definition whose
 * canonical JSON parses again into the same canonical JSON (wf.h:
 * "parse(to_json(d)) is d"), with an order that puts every upstream first.
 * The input is handed over without a NUL after it, as ZooKeeper's data is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "workflow/wf.h"

static void check_model(const struct wf_def *d)
{
    unsigned char *seen = calloc((size_t)d->ntasks, 1);
    if (!seen)
        abort();
    for (int k = 0; k < d->ntasks; k++) {
        int v = d->topo[k];
        if (v < 0 || v >= d->ntasks || seen[v])
            abort();
        for (int u = 0; u < d->tasks[v].nup; u++)
            if (!seen[d->tasks[v].up[u]])
                abort();
        seen[v] = 1;
        if (wf_task_index(d, d->tasks[v].id) != v)
            abort();
    }
    /* the rules decide something for any upstream states, and the closure
     * of the first task marks it */
    enum wf_tstate st[4] = {WF_T_SUCCEEDED, WF_T_SKIPPED, WF_T_FAILED, WF_T_RUNNING};
    if (wf_rule_decide(d->tasks[0].rule, st, 4) > WF_UPSTREAM_FAILED)
        abort();
    memset(seen, 0, (size_t)d->ntasks);
    wf_downstream_closure(d, d->topo[0], seen);
    if (!seen[d->topo[0]])
        abort();
    /* a branch's output naming its first downstream task follows exactly that one */
    const struct wf_task *t0 = &d->tasks[d->topo[0]];
    if (t0->ndown > 0) {
        unsigned char *follow = calloc((size_t)t0->ndown, 1);
        const char *id = d->tasks[t0->down[0]].id;
        if (!follow || wf_branch_follow(d, d->topo[0], id, strlen(id), follow, NULL) != 0 ||
            !follow[0])
            abort();
        for (int k = 1; k < t0->ndown; k++)
            if (follow[k])
                abort();
        free(follow);
    }
    free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly the bytes: over-reads are caught */
    struct wf_def *d = NULL, *again = NULL;
    struct sc_err err;
    if (!text)
        return 0;
    memcpy(text, data, size);
    sc_err_clear(&err);
    if (wf_parse(text, size, &d, &err) < 0) {
        if (d || !err.msg[0])
            abort();
        free(text);
        return 0;
    }
    check_model(d);
    char *canon = wf_to_json(d);
    if (!canon)
        abort();
    sc_err_clear(&err);
    if (wf_parse(canon, strlen(canon), &again, &err) < 0)
        abort(); /* our own output refused: err.field, err.msg say why */
    char *canon2 = wf_to_json(again);
    if (!canon2 || strcmp(canon, canon2) != 0)
        abort();
    free(canon2);
    free(canon);
    wf_free(again);
    wf_free(d);
    free(text);
    return 0;
}
