/* agent/pausehold.c: pause windows on the agent's fires (see pausehold.h).
 *
 * Owns the held items (a map by "job\x1fitem": the latest deferred fire and
 * the window's end) and one timer armed for the earliest end. */
#define LOG_CAT "shardcron.agent"
#include "agent/pausehold.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/exec.h"
#include "agent/sched.h"
#include "core/job.h"
#include "core/log.h"
#include "core/pause.h"
#include "core/strmap.h"
#include "registry/coord.h"
#include "registry/pausecache.h"

struct held {
    char job[JOB_NAME_MAX + 1];
    int item;
    int64_t fire;  /* the latest fire deferred */
    int64_t until; /* the window's end: run then */
};

struct pausehold {
    struct event_base *base;
    struct event *timer;
    struct coord *c;
    struct sched *s;
    struct strmap held; /* "job\x1fitem" -> struct held */
    /* set while a held item's run goes through the scheduler: that fire is
     * asked about now, not about its (paused) fire time */
    const struct held *releasing;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm(struct pausehold *h)
{
    int64_t first = INT64_MAX;
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&h->held, &it, &k, &v))
        if (((struct held *)v)->until < first)
            first = ((struct held *)v)->until;
    evtimer_del(h->timer);
    if (first == INT64_MAX)
        return;
    int64_t d = first * 1000 - now_ms();
    if (d < 0)
        d = 0;
    struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};
    evtimer_add(h->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pausehold *h = arg;
    (void)fd, (void)what;
    int64_t now = now_ms();
    size_t it = 0;
    const char *k;
    void *v;
    /* Take the due ones out first: a run may be held again (a window that
     * starts where this one ends), which puts a new entry under the key. */
    struct held **due = calloc(strmap_len(&h->held) + 1, sizeof *due);
    size_t n = 0;
    if (!due) {
        arm(h);
        return;
    }
    while (strmap_next(&h->held, &it, &k, &v))
        if (((struct held *)v)->until * 1000 <= now) {
            due[n++] = v;
            strmap_del(&h->held, k);
        }
    for (size_t i = 0; i < n; i++) {
        struct held *x = due[i];
        h->releasing = x;
        int rc =
            h->s ? sched_trigger(h->s, x->job, x->item, EXEC_TRIGGER_MISFIRE, x->fire, NULL, NULL)
                 : -ENOENT;
        h->releasing = NULL;
        if (rc < 0)
            LOGW("%s/%d: the run deferred to the end of its pause window is dropped: the item"
                 " is no longer owned here",
                 x->job, x->item);
        else
            LOGI("%s/%d: pause window over: running the deferred fire once", x->job, x->item);
        free(x);
    }
    free(due);
    arm(h);
}

/* hold: remember the latest deferred fire of an item and when it runs. */
static void hold(struct pausehold *h, const struct sched_item_conf *conf, int64_t fire,
                 int64_t until)
{
    char key[JOB_ITEM_KEY_MAX];
    job_item_key(key, sizeof key, conf->job, conf->item);
    struct held *x = strmap_get(&h->held, key);
    if (!x) {
        int perr = 0;
        if (!(x = calloc(1, sizeof *x)) || (strmap_put(&h->held, key, x, &perr), perr)) {
            free(x);
            LOGE("%s/%d: out of memory holding a deferred fire: it will not run", conf->job,
                 conf->item);
            return;
        }
        snprintf(x->job, sizeof x->job, "%s", conf->job);
        x->item = conf->item;
    }
    if (fire > x->fire)
        x->fire = fire;
    if (until > x->until)
        x->until = until;
    arm(h);
}

bool pausehold_paused(void *ctx, const struct sched_item_conf *conf, int64_t fire_time, char *why,
                      size_t len)
{
    struct pausehold *h = ctx;
    if (!h->c)
        return false;
    const struct pausecache *pc = coord_pauses(h->c);
    if (!pc->nwin)
        return false;
    int64_t at = fire_time;
    if (h->releasing && h->releasing->item == conf->item &&
        strcmp(h->releasing->job, conf->job) == 0 && h->releasing->fire == fire_time)
        at = now_ms() / 1000;
    const struct job *j = coord_job(h->c, conf->job);
    struct pause_subject sub = {.job = conf->job,
                                .domain = j ? j->domain : NULL,
                                .labels = j ? j->labels : NULL,
                                .nlabels = j ? j->nlabels : 0};
    int64_t end = 0;
    const struct pause *p = pausecache_find(pc, &sub, at, &end);
    if (!p)
        return false;
    char until[48];
    exec_format_time(end, 0, until, sizeof until);
    if (p->action == PAUSE_DEFER) {
        hold(h, conf, fire_time, end);
        snprintf(why, len, "deferred by pause window %s until %s (runs once then): %s", p->id,
                 until, p->reason);
    } else {
        snprintf(why, len, "paused by window %s until %s: %s", p->id, until, p->reason);
    }
    return true;
}

struct pausehold *pausehold_new(struct event_base *base)
{
    struct pausehold *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->base = base;
    strmap_init(&h->held);
    if (!(h->timer = evtimer_new(base, on_timer, h))) {
        free(h);
        return NULL;
    }
    return h;
}

void pausehold_attach(struct pausehold *h, struct coord *c, struct sched *s)
{
    h->c = c;
    h->s = s;
}

int pausehold_held(const struct pausehold *h)
{
    return h ? (int)strmap_len(&h->held) : 0;
}

void pausehold_free(struct pausehold *h)
{
    if (!h)
        return;
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&h->held, &it, &k, &v))
        free(v);
    strmap_free(&h->held);
    event_free(h->timer);
    free(h);
}
