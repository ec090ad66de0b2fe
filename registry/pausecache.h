/* registry/pausecache.h: the pause windows under /pauses, kept current with
 * watches (docs/pauses.md).
 *
 * Windows are few (an operator's handful, not one per job) and rarely
 * written, so the cache holds one children watch on /pauses and one data
 * watch per window: a write reaches every agent and console within one
 * round trip, and nothing is read on the firing path. A node that does not
 * parse is kept out of the windows (and logged once per version) but listed
 * with its error, so `pause list` shows why it does nothing.
 *
 * One copy for every process that follows pauses: the agent (registry/coord.c)
 * and the console (console/zkview.c). Everything runs on the owner's loop. */
#ifndef SC_REGISTRY_PAUSECACHE_H
#define SC_REGISTRY_PAUSECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pause.h"
#include "core/strmap.h"
#include "registry/zk.h"

#define PAUSECACHE_ROOT "/pauses"

struct pausecache_entry {
    char *id;
    struct pause *p;  /* NULL while unread or invalid */
    char error[300];  /* why the node is invalid ("" when valid) */
    int version;      /* the node's data version */
    int64_t mtime_ms; /* last write (the server's clock) */
};

struct pausecache {
    struct zkreg *z;
    struct strmap map;  /* id -> struct pausecache_entry */
    struct pause **win; /* the valid windows, for pause_find; rebuilt on change */
    size_t nwin;
    bool listed;  /* /pauses was listed once */
    uint64_t gen; /* bumped on every change */
    void (*on_change)(void *ctx);
    void *ctx;
};

/* pausecache_init: z may be set later (before pausecache_load). */
void pausecache_init(struct pausecache *pc, struct zkreg *z, void (*on_change)(void *ctx),
                     void *ctx);
/* pausecache_load: (re)list /pauses with a watch, creating it when missing,
 * and read every window again (after a new session or a reconnect: watches
 * set by requests that failed are gone). What is cached stays until the
 * answers replace it: a window is never forgotten for a lost connection. */
void pausecache_load(struct pausecache *pc);
/* pausecache_on_watch: true when the path was the cache's. */
bool pausecache_on_watch(struct pausecache *pc, int type, const char *path);
void pausecache_free(struct pausecache *pc);

/* pausecache_find: pause_find over the valid windows. */
const struct pause *pausecache_find(const struct pausecache *pc, const struct pause_subject *s,
                                    int64_t t, int64_t *end);

#endif
