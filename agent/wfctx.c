/* agent/wfctx.c: the workflow context of a run (see wfctx.h). */
#include "agent/wfctx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

int wfctx_parse(const char *text, struct wfctx **out, struct sc_err *err)
{
    struct wfctx *c = calloc(1, sizeof *c);
    long long v;
    int rc;
    *out = NULL;
    if (!c || !(c->text = strdup(text))) {
        free(c);
        return sc_err_set(err, ENOMEM, "", -1, "out of memory");
    }
    if (!(c->root = json_parse(text, strlen(text), err))) {
        rc = -EINVAL;
        goto err;
    }
    if (!cJSON_IsObject(c->root)) {
        rc = sc_err_set(err, EINVAL, "", -1, "the workflow context must be a JSON object");
        goto err;
    }
    c->timezone = "UTC";
    c->attempt = 1;
    /* Members other than those read here are left alone: the context is
     * passed along by the coordination layer, which adds its own (the
     * trigger node's path). */
    if ((rc = json_get_str(c->root, "workflow", JSON_REQUIRED, &c->workflow, err)) < 0 ||
        (rc = json_get_str(c->root, "run_id", JSON_REQUIRED, &c->run_id, err)) < 0 ||
        (rc = json_get_str(c->root, "task", JSON_REQUIRED, &c->task, err)) < 0)
        goto err;
    if ((rc = json_get_str(c->root, "timezone", JSON_OPTIONAL, &c->timezone, err)) < 0 &&
        rc != -ENOENT)
        goto err;
    if ((rc = json_get_int(c->root, "attempt", JSON_OPTIONAL, 0, 1000000, &v, err)) == 0)
        c->attempt = (int)v;
    else if (rc != -ENOENT)
        goto err;
    if ((rc = json_get_int(c->root, "logical_ms", JSON_OPTIONAL, 0, INT64_MAX / 2, &v, err)) == 0)
        c->logical_ms = v;
    else if (rc != -ENOENT)
        goto err;
    if ((rc = json_get_bool(c->root, "capture", JSON_OPTIONAL, &c->capture, err)) < 0 &&
        rc != -ENOENT)
        goto err;
    if ((rc = json_get_obj(c->root, "xcom_in", JSON_OPTIONAL, &c->xcom_in, err)) < 0 &&
        rc != -ENOENT)
        goto err;
    rc = json_get_obj(c->root, "params", JSON_OPTIONAL, &c->params, err);
    if (rc == -ENOENT) {
        cJSON *p = cJSON_AddObjectToObject(c->root, "params");
        if (!p) {
            rc = sc_err_set(err, ENOMEM, "", -1, "out of memory");
            goto err;
        }
        c->params = p;
    } else if (rc < 0) {
        goto err;
    }
    for (const cJSON *p = c->params->child; p; p = p->next)
        if (!cJSON_IsString(p)) {
            rc = sc_err_set(err, EINVAL, "params", -1, "%.64s: must be a string", p->string);
            goto err;
        }
    if (!*c->run_id) {
        rc = sc_err_set(err, EINVAL, "run_id", -1, "must not be empty");
        goto err;
    }
    *out = c;
    return 0;
err:
    wfctx_free(c);
    return rc;
}

void wfctx_free(struct wfctx *c)
{
    if (!c)
        return;
    cJSON_Delete(c->root);
    free(c->text);
    free(c);
}
