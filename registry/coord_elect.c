/* registry/coord_elect.c: the leader election.
 *
 * Owns this agent's election node /election/n_<session>_<seq> (ephemeral,
 * sequential) and c->leader: the standard recipe, the lowest sequence leads
 * and every other node watches only its predecessor. The session id in the
 * name finds our node again after a lost create reply. */
#define LOG_CAT "shardcron.registry"
#include "registry/coord_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static bool my_session_hex(const struct coord *c, char *buf, size_t len)
{
    int64_t s = zkreg_session_id(c->z);
    snprintf(buf, len, "%016llx", (unsigned long long)s);
    return s != 0;
}

/* seq_of: the sequence suffix of an election node name. */
static long long seq_of(const char *name)
{
    const char *u = strrchr(name, '_');
    return u ? atoll(u + 1) : -1;
}

static void pred_exists(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale)
        return;
    if (r->rc == ZNONODE)
        coord_elect_check(c); /* predecessor went between listing and watching */
}

static void election_listed(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    char want[40], path[300];
    (void)z;
    if (r->stale || r->rc != ZOK)
        return;
    my_session_hex(c, want, sizeof want);
    if (!c->elect[0]) {
        /* A lost create reply: find our node by the session id in its name. */
        for (int i = 0; i < r->nchildren; i++)
            if (strstr(r->children[i], want))
                snprintf(c->elect, sizeof c->elect, "/election/%s", r->children[i]);
        if (!c->elect[0]) {
            coord_elect_start(c);
            return;
        }
    }
    const char *mine = c->elect + strlen("/election/");
    long long my_seq = seq_of(mine), best_below = -1;
    const char *pred = NULL;
    bool found = false;
    for (int i = 0; i < r->nchildren; i++) {
        long long s = seq_of(r->children[i]);
        if (strcmp(r->children[i], mine) == 0)
            found = true;
        else if (s < my_seq && s > best_below) {
            best_below = s;
            pred = r->children[i];
        }
    }
    if (!found) { /* our node is gone (should not happen within a session) */
        c->elect[0] = '\0';
        coord_elect_start(c);
        return;
    }
    bool was = c->leader;
    c->leader = pred == NULL;
    if (c->leader && !was) {
        LOGN("elected leader (%s)", mine);
        coord_schedule_eval(c);
        coord_changed(c);
    }
    if (pred) {
        snprintf(path, sizeof path, "/election/%s", pred);
        zkreg_exists(c->z, path, true, pred_exists, c);
    }
}

void coord_elect_check(struct coord *c)
{
    if (zkreg_state(c->z) == ZKREG_CONNECTED)
        zkreg_children(c->z, "/election", false, election_listed, c);
}

static void elect_created(struct zkreg *z, const struct zkreg_result *r, void *arg)
{
    struct coord *c = arg;
    (void)z;
    if (r->stale)
        return;
    c->elect_creating = false;
    if (r->rc == ZOK)
        snprintf(c->elect, sizeof c->elect, "%s", r->path);
    /* On ZCONNECTIONLOSS the node may exist: coord_elect_check finds it by session id. */
    coord_elect_check(c);
}

void coord_elect_start(struct coord *c)
{
    char path[300], hex[40];
    if (c->elect[0] || c->elect_creating || !my_session_hex(c, hex, sizeof hex))
        return;
    snprintf(path, sizeof path, "/election/n_%s_", hex);
    c->elect_creating = true;
    if (zkreg_create(c->z, path, c->id, (int)strlen(c->id), ZOO_EPHEMERAL | ZOO_SEQUENCE,
                     elect_created, c) != ZOK)
        c->elect_creating = false;
}
