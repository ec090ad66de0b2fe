/* agent/items.h: keeps the scheduler's items equal to what coordination says
 * this agent owns — the bridge between registry/coord and agent/sched.
 *
 * After every coordination change, items_sync() adds items that became active
 * (with the job's cron in the job's zone as their next-fire rule), re-puts
 * items whose job config changed, and removes items no longer owned or whose
 * job was disabled or deleted (a running execution is left to finish; the
 * agent reports it as draining until it does). Zones are loaded once each and
 * shared by every item in that zone. */
#ifndef SC_AGENT_ITEMS_H
#define SC_AGENT_ITEMS_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/sched.h"
#include "registry/coord.h"

struct items;

int items_new(struct sched *s, struct coord *c, const char *cwd, struct items **out);
void items_free(struct items *it);
/* items_sync: make the scheduler's items match coordination. */
void items_sync(struct items *it);
/* items_count: items in the scheduler. */
int items_count(const struct items *it);
/* items_invalid: owned items that could not be scheduled (bad zone...). */
int items_invalid(const struct items *it);

#endif
