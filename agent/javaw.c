/* agent/javaw.c: warm JVM workers (see javaw.h). */
#define LOG_CAT "shardcron.exec"
#include "agent/javaw.h"

#include <errno.h>

int javaw_submit(struct javaw_pool *p, const struct javaw_run *run, exec_done_cb cb, void *arg,
                 struct javaw_exec **out, struct sc_err *err)
{
    (void)p, (void)run, (void)cb, (void)arg, (void)out;
    return sc_err_set(err, ENOTSUP, "type", -1, "java workers are not built yet");
}

int javaw_cancel(struct javaw_exec *e, const char *reason)
{
    (void)e, (void)reason;
    return -ESRCH;
}
