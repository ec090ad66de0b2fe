/* registry/calcache.h: the business calendars under /calendars, kept current
 * with watches (one children watch on /calendars, one data watch per
 * calendar: calendars are few and rarely written).
 *
 * One copy for every process that needs them: the agent (registry/coord.c,
 * whose items apply them to fire times) and the console (console/zkview.c).
 * Entries are parsed calendars (core/calendar.h), reference counted: a user
 * that keeps one past the next update takes a reference. A node that does
 * not parse is logged and left out (jobs naming it stop firing; the writers,
 * shardcronctl and the console, never store one). Everything runs on the
 * owner's loop. */
#ifndef SC_REGISTRY_CALCACHE_H
#define SC_REGISTRY_CALCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/calendar.h"
#include "core/strmap.h"
#include "registry/zk.h"

#define CALCACHE_ROOT "/calendars"

struct calcache {
    struct zkreg *z;
    struct strmap map; /* name -> struct calendar * */
    uint64_t gen;      /* bumped whenever a calendar appears, changes or goes */
    bool listed;       /* /calendars listed (or known absent) */
    int loading;       /* reads in flight */
    void (*on_update)(void *ctx);
    void *ctx;
};

void calcache_init(struct calcache *cc, struct zkreg *z, void (*on_update)(void *ctx), void *ctx);
/* calcache_load: list /calendars (with its watch) and read every calendar;
 * at a new session and after a reconnect. */
void calcache_load(struct calcache *cc);
/* calcache_on_watch: true when `path` is the cache's (and it was handled). */
bool calcache_on_watch(struct calcache *cc, int type, const char *path);
/* calcache_settled: listed, and no read in flight. */
bool calcache_settled(const struct calcache *cc);
/* calcache_get: the calendar, borrowed (valid until the next update), or NULL. */
struct calendar *calcache_get(const struct calcache *cc, const char *name);
void calcache_free(struct calcache *cc);

#endif
