/* workflow/wfhist.c: ZooKeeper's runs and history's runs as one view
 * (workflow/wfhist.h). */
#include "workflow/wfhist.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workflow/wfzk.h"

/* zero_nulls: a null or missing number becomes 0 (ZooKeeper's "not known"). */
static void zero_null(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v))
        return;
    if (v)
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateNumber(0));
    else
        cJSON_AddNumberToObject(o, key, 0);
}

static void set_str(cJSON *o, const char *key, const char *s)
{
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(s));
    else
        cJSON_AddStringToObject(o, key, s);
}

void wfhist_from_history(cJSON *run, const char *tz)
{
    char buf[48];
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(run, "logical_ms");
    if (cJSON_IsNumber(lm)) {
        /* history writes "+00:00"; ZooKeeper's view writes the zone's time */
        wfzk_time_format(buf, sizeof buf, (int64_t)lm->valuedouble, tz);
        set_str(run, "logical_time", buf);
    }
    zero_null(run, "created_ms");
    zero_null(run, "started_ms");
    zero_null(run, "ended_ms");
    cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(run, "tasks"))
    {
        zero_null(t, "started_ms");
        zero_null(t, "ended_ms");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "reason")))
            set_str(t, "reason", "");
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(t, "outputs")))
            cJSON_AddObjectToObject(t, "outputs");
    }
    set_str(run, "source", WFHIST_HISTORY);
}

static const char *id_of(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "run_id");
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* logical_of: the run's logical ms; -1 (the oldest) when it has none. */
static double logical_of(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "logical_ms");
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int newest_first(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    double lx = logical_of(x), ly = logical_of(y);
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return -strcmp(id_of(x), id_of(y));
}

void wfhist_merge_runs(cJSON *zk, cJSON *hist)
{
    cJSON *r;
    cJSON_ArrayForEach(r, zk)
    {
        if (!cJSON_GetObjectItemCaseSensitive(r, "source"))
            cJSON_AddStringToObject(r, "source", WFHIST_ZK);
    }
    while (hist && cJSON_GetArraySize(hist) > 0) {
        cJSON *h = cJSON_DetachItemFromArray(hist, 0);
        bool dup = false;
        cJSON_ArrayForEach(r, zk)
        {
            if (strcmp(id_of(r), id_of(h)) == 0) {
                dup = true;
                break;
            }
        }
        if (dup) {
            cJSON_Delete(h);
            continue;
        }
        wfhist_from_history(h, NULL);
        /* a listing shows no parameters (ZooKeeper's rows have none): they
         * are read with the run, where a viewer's are redacted */
        cJSON_DeleteItemFromObjectCaseSensitive(h, "params");
        cJSON_AddItemToArray(zk, h);
    }
    cJSON_Delete(hist);
    int n = cJSON_GetArraySize(zk);
    if (n < 2)
        return;
    cJSON **rows = malloc((size_t)n * sizeof *rows);
    if (!rows)
        return; /* left in arrival order: still every run */
    for (int i = 0; i < n; i++)
        rows[i] = cJSON_DetachItemFromArray(zk, 0);
    qsort(rows, (size_t)n, sizeof *rows, newest_first);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(zk, rows[i]);
    free(rows);
}
