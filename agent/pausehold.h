/* agent/pausehold.h: pause windows on the agent's fires (docs/pauses.md).
 *
 * The scheduler asks pausehold_paused() (sched_opts.paused) about every cron
 * and catch-up fire; the answer comes from the windows coord keeps current
 * (coord_pauses) and the job's domain and labels (coord_job). A fire inside a
 * skip window is reported paused and that is all. A fire inside a defer
 * window is reported paused too, and its item is held: when the window ends,
 * the item runs once, as a catch-up (trigger misfire) of the latest fire that
 * fell inside, however many did; the run asks the windows again at that
 * moment, so a window that starts where the first ends holds it on.
 *
 * A held item that has left this agent by the window's end is not run here
 * (its fires are recorded paused; the new owner did not see them). Nothing is
 * written to ZooKeeper: the hold is this agent's memory. Everything runs on
 * the agent's loop. */
#ifndef SC_AGENT_PAUSEHOLD_H
#define SC_AGENT_PAUSEHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct coord;
struct sched;
struct sched_item_conf;
struct pausehold;

/* pausehold_new: the holder, the caller's (pausehold_free). NULL on OOM. */
struct pausehold *pausehold_new(struct event_base *base);
/* pausehold_attach: the coord and scheduler it works with (set once both exist). */
void pausehold_attach(struct pausehold *h, struct coord *c, struct sched *s);
void pausehold_free(struct pausehold *h);

/* pausehold_paused: sched_opts.paused, ctx the holder. */
bool pausehold_paused(void *ctx, const struct sched_item_conf *conf, int64_t fire_time, char *why,
                      size_t len);

/* pausehold_held: items waiting for a defer window's end. */
int pausehold_held(const struct pausehold *h);

#endif
