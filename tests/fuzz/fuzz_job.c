/* tests/fuzz/fuzz_job.c: libFuzzer target for job JSON (core/job.c, job_parse).
 *
 * Job configs arrive from outside: `shardcronctl job put`, the console's PUT and
 * import, and /jobs/<name> in ZooKeeper, which anyone holding the ACL may write.
 * Any input must either be refused with a message, or parse into a job whose
 * canonical JSON parses again into the same canonical JSON (job.h: "parse(serialize(j))
 * is j"). The input is handed over without a NUL after it, as ZooKeeper's data is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly the bytes: over-reads are caught */
    struct job *j = NULL, *again = NULL;
    struct sc_err err;
    if (!text)
        return 0;
    memcpy(text, data, size);
    sc_err_clear(&err);
    if (job_parse(text, size, &j, &err) < 0) {
        if (j || !err.msg[0])
            abort();
        free(text);
        return 0;
    }
    char *canon = job_to_json(j);
    if (!canon)
        abort();
    sc_err_clear(&err);
    if (job_parse(canon, strlen(canon), &again, &err) < 0)
        abort(); /* our own output refused: err.field, err.msg say why */
    char *canon2 = job_to_json(again);
    if (!canon2 || strcmp(canon, canon2) != 0)
        abort();
    free(canon2);
    free(canon);
    job_free(again);
    job_free(j);
    free(text);
    return 0;
}
