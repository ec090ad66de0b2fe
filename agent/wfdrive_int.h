/* agent/wfdrive_int.h: the state shared by agent/wfdrive.c (the driver) and
 * agent/wfitem.c (the item side); private to them. */
#ifndef SC_AGENT_WFDRIVE_INT_H
#define SC_AGENT_WFDRIVE_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "agent/wfdrive.h"
#include "core/strmap.h"
#include "registry/zk.h"
#include "workflow/wf.h"
#include "workflow/wfzk.h"

/* A task of a loaded run, as its t/ node says plus its items' results. */
struct wtask {
    enum wf_tstate st;
    bool has_node; /* t/<task> exists (else the task is waiting) */
    int attempt;   /* the task's attempt (sensors: pokes) */
    int64_t started_ms, ended_ms;
    int64_t next_ms; /* sensor: next poke; external: next check */
    int64_t trig_ms; /* when the current trigger(s) were created (the TTL) */
    char reason[300];
    int nitems;
    int *ia;       /* per item: the attempt it runs in */
    uint8_t *res;  /* per item: 0 open, 1 succeeded, 2 failed */
    cJSON *xcom;   /* {"<item>": output} of the current attempt */
    char *out;     /* branch: its item's stdout */
    char **follow; /* branch: the downstream tasks it chose */
    int nfollow;
};

struct wrun {
    char id[WFZK_RUN_ID_MAX + 1];
    char wf[WF_NAME_MAX + 1];
    int64_t logical_ms;
    char trigger[16];
    enum wf_rstate st;
    cJSON *params;
    char *tz;
    int64_t created_ms, started_ms, ended_ms;
    struct wf_def *d;
    struct wtask *t;
    bool loaded; /* the def, tasks and results are read */
    int loading;
    bool reload;        /* a write's fate is unknown: read it all again */
    bool deferred;      /* a task start waited (its job not seen yet...): evaluate on the tick */
    struct strmap seen; /* done nodes handled */
    int64_t seq;
};

/* A workflow's definition as the driver follows it. */
struct wdef {
    char name[WF_NAME_MAX + 1];
    struct wf_def *d;
    void *cron;        /* cron_expr */
    void *zone;        /* tz_zone */
    int64_t last_ms;   /* /wfstate: the latest scheduled logical time (0 none) */
    int state_version; /* /wfstate node version (-1: absent) */
    bool state_loaded;
    cJSON *backfill; /* /wfstate "backfill": logical times still to create */
    int64_t mzxid;
};

/* A result to report (item side), retried until ZooKeeper has it. */
struct wpending {
    struct wpending *next;
    char *path, *data;
    int len;
    uint64_t id;
    bool inflight;
};

struct wfd {
    struct event_base *base;
    struct coord *c;
    struct zkreg *z;
    char id[200];
    struct wfd_hooks h;
    /* driver */
    bool active;              /* leading and loaded */
    bool detached;            /* the agent is stopping: no more writes */
    uint64_t gen;             /* bumped at every (de)activation: stale callbacks drop */
    enum zkreg_state zst;     /* the session state last seen */
    struct strmap defs;       /* name -> struct wdef */
    struct strmap runs;       /* run id -> struct wrun (every run in /wfruns) */
    struct strmap reqs;       /* request names handled */
    struct strmap reqs_retry; /* requests put back once to read their workflow first */
    struct strmap ensured;    /* jobs whose triggers parent exists (or is being created) */
    struct strmap creating;   /* task jobs this driver created or rewrote (their writes sent) */
    int64_t last_scan_ms, last_gc_ms, last_run_gc_ms;
    int starts_inflight;    /* task starts sent, not answered (WFD_STARTS_INFLIGHT) */
    struct event *ev_timer; /* the earliest sensor poke or external check */
    struct wfd_stats stats;
    /* item side */
    struct wpending *pending;
    uint64_t pend_seq;
    struct strmap watching; /* "<job>\t<item>\t<run>" -> trigger path */
};

int64_t wfd_now_ms(void);

#endif
