/* registry/jobops.c: job writes paired with their change-log entries (see
 * registry/jobops.h). */
#include "registry/jobops.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "registry/plan.h"

void jobops_set(struct jobops *o, const char *name, const char *data, int len, int version)
{
    snprintf(o->target, sizeof o->target, "/jobs/%s", name);
    plan_change_prefix(o->change, sizeof o->change, PLAN_CHANGE_CONFIG, name);
    o->ops[0] = (struct zkreg_op){
        .type = ZKOP_SET, .path = o->target, .data = data, .len = len, .version = version};
    o->ops[1] = (struct zkreg_op){.type = ZKOP_CREATE, .path = o->change, .flags = ZOO_SEQUENCE};
}

void jobops_create(struct jobops *o, const char *name, const char *data, int len)
{
    snprintf(o->target, sizeof o->target, "/jobs/%s", name);
    plan_change_prefix(o->change, sizeof o->change, PLAN_CHANGE_CONFIG, name);
    o->ops[0] = (struct zkreg_op){
        .type = ZKOP_CREATE, .path = o->target, .data = data, .len = len, .flags = 0};
    o->ops[1] = (struct zkreg_op){.type = ZKOP_CREATE, .path = o->change, .flags = ZOO_SEQUENCE};
}

void jobops_trigger(struct jobops *o, const char *name, const char *data, int len)
{
    snprintf(o->target, sizeof o->target, "/jobs/%s/triggers/t-", name);
    plan_change_prefix(o->change, sizeof o->change, PLAN_CHANGE_TRIGGER, name);
    o->ops[0] = (struct zkreg_op){
        .type = ZKOP_CREATE, .path = o->target, .data = data, .len = len, .flags = ZOO_SEQUENCE};
    o->ops[1] = (struct zkreg_op){.type = ZKOP_CREATE, .path = o->change, .flags = ZOO_SEQUENCE};
}

/* own_error: an op's result is its own failure (not ZOK, and not the
 * "rolled back because another op failed" marker). */
static bool own_error(int rc)
{
    return rc != ZOK && rc != ZRUNTIMEINCONSISTENCY;
}

/* run: the multi, creating the log's parent once when it is missing. */
static int run(struct zkcli *k, struct jobops *o, char *created, size_t created_len)
{
    int op_rc[2] = {0, 0}, rc = ZOK;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = zkcli_multi_path(k, o->ops, 2, op_rc, created, created_len);
        if (rc == ZOK || own_error(op_rc[0]))
            break;
        if (op_rc[1] != ZNONODE || zkcli_ensure(k, PLAN_CHANGES) != ZOK)
            break;
    }
    return rc != ZOK && own_error(op_rc[0]) ? op_rc[0] : rc;
}

int zkcli_job_set(struct zkcli *k, const char *name, const char *data, int len, int version)
{
    struct jobops o = {0};
    jobops_set(&o, name, data, len, version);
    return run(k, &o, NULL, 0);
}

int zkcli_job_create(struct zkcli *k, const char *name, const char *data, int len)
{
    struct jobops o = {0};
    jobops_create(&o, name, data, len);
    return run(k, &o, NULL, 0);
}

int zkcli_job_trigger(struct zkcli *k, const char *name, const char *data, int len, char *created,
                      size_t created_len)
{
    struct jobops o = {0};
    char parent[400];
    snprintf(parent, sizeof parent, "/jobs/%s", name);
    if (zkcli_exists(k, parent, NULL) == ZNONODE)
        return ZNONODE; /* no such job: do not create its triggers parent */
    snprintf(parent, sizeof parent, "/jobs/%s/triggers", name);
    int rc = zkcli_ensure(k, parent);
    if (rc != ZOK)
        return rc;
    jobops_trigger(&o, name, data, len);
    return run(k, &o, created, created_len);
}
