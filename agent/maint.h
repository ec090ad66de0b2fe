/* agent/maint.h: the leader's history housekeeping, off the event loop.
 *
 * One thread with its own MySQL connection. Every `period_s` (and at once
 * when this agent becomes leader) it recomputes today's job_daily_stats
 * (and yesterday's), then deletes executions older than retention_days in
 * bounded chunks. Only the leader does it, so the work is not repeated by
 * every agent; the flag is set from the loop with maint_set_leader(). */
#ifndef SC_AGENT_MAINT_H
#define SC_AGENT_MAINT_H

#include <stdbool.h>
#include <stdint.h>

#include "sql/db.h"

struct maint;

/* maint_start: `url` and `password` are copied. 0 or -errno. */
int maint_start(const struct db_url *url, const char *password, unsigned retention_days,
                unsigned period_s, struct maint **out);
void maint_set_leader(struct maint *m, bool leader);
/* maint_deleted: executions deleted by retention so far. */
uint64_t maint_deleted(const struct maint *m);
void maint_stop(struct maint *m);

#endif
