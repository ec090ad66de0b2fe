/* tests/sim/sim.h: the deterministic simulator of the coordination protocol
 * (issue 12) — the types every part shares.
 *
 * One seeded world: simulated time in ms, one event queue ordered by (time,
 * sequence), one PRNG. No threads, no real clock, no I/O but printing. Parts:
 *   sim_world.c  PRNG, event queue, trace, faults, the run loop of one seed
 *   sim_zk.c     the ZooKeeper model (sessions, connections, nodes, watches)
 *   sim_agent.c  the agent model: coord.c's event handling calling
 *                registry/own.h, the lease, the watchdog and a scheduler
 *   sim_check.c  the history table and the invariants, checked every step
 *   sim_main.c   the command line and the summary table
 * The agent model decides nothing that registry/own.h decides: it calls
 * own_member_self, own_gate_open, own_takeover (through it plan_handover_window),
 * own_carry/own_pending_lo, own_may_start, own_evict/own_evict_bound_ms, and
 * sharding's shard_assign for the owners. */
#ifndef SC_TESTS_SIM_H
#define SC_TESTS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "registry/own.h"

#define SIM_MAX_AGENTS 9
#define SIM_MAX_JOBS 8
#define SIM_MAX_ITEMS 8
#define SIM_MAX_NODES 96
#define SIM_MAX_WATCHES 512
#define SIM_MAX_CONNS 4096
#define SIM_MAX_CHILDREN 32
#define SIM_PATH 40
#define SIM_ID 16
#define SIM_MAX_PENDING 96
#define SIM_MAX_RUNS 64 /* runs of one agent at once (running, queued, retrying) */
#define SIM_RERAN 8     /* sessions in a record's reran list */
#define SIM_LIST 48     /* running / draining entries in a record */
#define SIM_TRACE 160   /* events kept for a violation's trace */

typedef int64_t ms_t;

/* ---------------------------------------------------------------- parameters */

struct sim_params {
    int agents, jobs;
    int session_ms;  /* T */
    int max_skew_ms; /* max_clock_skew_ms */
    int misfire_ms;  /* misfire threshold */
    int capacity;    /* runs at once per agent */
    int mutant;      /* 0 = the protocol as designed */
    bool verbose;
    int64_t steps;      /* steps with faults; the quiet phase follows */
    ms_t quiet_ms;      /* the quiet phase: faults stopped */
    ms_t horizon_ms;    /* invariant 3: fires older than this must have a record */
    ms_t live_bound_ms; /* invariant 4: settled within this after faults stop */
};

enum sim_mutant {
    MUT_NONE = 0,
    MUT_REREAD = 1,   /* a read lost to CONNECTIONLOSS is not re-read on reconnect */
    MUT_DRAIN_QUEUED, /* draining set for queued/retry-waiting runs, cleared only by a finish */
    MUT_FAILOVER_ANY, /* failover re-runs from any dead agent's last record, every activation */
    MUT_FIRST_NOW,    /* the new owner's first fire is the first after its own now */
    MUT_JUMP_FUTURE,  /* a forward jump's misfire-once catch-up is labelled in the future */
    MUT_RUNNING_LAZY, /* the running list written at most once a second and trusted */
    MUT_MEMBER_ID,    /* members compared by id only */
    MUT_NO_EVICT,     /* the leader never evicts */
    MUT_MOMENTS_WALL, /* observed moments (a peer's vanishing, breaks, ...) on the wall clock */
    MUT_NO_SUSPECT,   /* a wall-clock jump does not stop work until the skew is measured again */
    MUT_COUNT
};

/* ---------------------------------------------------------------- data of nodes */

enum zdata_tag { ZD_NONE, ZD_REC, ZD_SNAP, ZD_JOB, ZD_ELECT };

struct sim_item_ref {
    int8_t job, item;
    int64_t fire; /* running: fire label; draining: 0 */
    int run;      /* running: the checker's run id */
};

/* /agents/<id>: the agent record */
struct sim_rec {
    int64_t session;
    int64_t applied_epoch, applied_ms, carry_ms, skew_ms;
    int64_t stop_s; /* the highest fire label it started (own_takeover_in.peers_stop_s) */
    int nreran;
    int64_t reran[SIM_RERAN];
    int npending;         /* items held pending (own_settled) */
    int64_t prev_applied; /* the epoch applied before applied_epoch in this session */
    int64_t backlog_s;
    /* the oldest fire queued (due, not started) since the queue last emptied */ /* dead
                                                                                    sessions
                                                                                    whose
                                                                                    cut-off runs
                                                                                    it took over
                                                                                    to re-run */
    int session_ms;
    int64_t brk_ms; /* its process's last connection break, ZooKeeper's clock (own_gap_merge) */
    bool ready;
    int ndrain, nrun;
    struct sim_item_ref drain[SIM_LIST], run[SIM_LIST];
};

struct sim_member {
    char id[SIM_ID];
    int64_t session;
};

/* /state/assignment: the leader's snapshot */
struct sim_snap {
    int64_t epoch, created_ms;
    char leader[SIM_ID];
    char digest[17];
    int nmembers, nevicted;
    /* no members, after an epoch that had some (or another such): every
     * session was lost; the publication of the last epoch that had members
     * (coord.c: the snapshot's "outage_from"); 0 otherwise */
    int64_t outage_from;
    /* the last moment a leader saw the cluster settled (ZooKeeper's clock,
     * as that leader measured it), carried from snapshot to snapshot
     * (coord.c: the snapshot's "settled_ms"); 0 none known */
    int64_t settled_zk;
    struct sim_member m[SIM_MAX_AGENTS], ev[SIM_MAX_AGENTS];
};

enum sim_misfire { MF_SKIP, MF_ONCE, MF_ALL };
enum sim_conc { CONC_FORBID, CONC_ALLOW };

/* /jobs/<name> */
struct sim_job {
    int shards, strategy, period_s, misfire, conc, retries, backoff_ms;
    bool failover;
};

struct zdata {
    int tag;
    union {
        struct sim_rec rec;
        struct sim_snap snap;
        struct sim_job job;
        struct sim_member elect;
    } u;
};

/* ---------------------------------------------------------------- ZooKeeper messages */

enum zop {
    ZO_PING,
    ZO_CREATE,
    ZO_DELETE,
    ZO_SET,
    ZO_GET,
    ZO_EXISTS,
    ZO_CHILDREN,
    ZO_MULTI,
    ZO_CLOSE,
    ZO_CHECK, /* inside a multi only */
};

enum zrc {
    ZR_OK = 0,
    ZR_NONODE,
    ZR_NODEEXISTS,
    ZR_BADVERSION,
    ZR_CONNLOSS,
    ZR_EXPIRED,
    ZR_NOTEMPTY
};

enum zwatch_type { ZW_DATA, ZW_EXIST, ZW_CHILD };
enum zevent { ZE_CREATED, ZE_DELETED, ZE_CHANGED, ZE_CHILD };

#define ZF_EPHEMERAL 1
#define ZF_SEQUENCE 2

struct zstat {
    int version;
    int64_t czxid, mzxid, owner;
    ms_t mtime;
};

struct zsubop {
    int op;
    char path[SIM_PATH];
    int version;   /* -1 any */
    int64_t owner; /* delete: only a node of this ephemeral owner (0 any) */
    struct zdata data;
};

enum msg_kind { MK_REQ, MK_RESP, MK_WATCH, MK_CONNECT, MK_CONNECTED, MK_EXPIRED };

struct msg {
    int kind;
    int conn, agent;
    int64_t xid;
    /* request */
    int op, flags, version;
    bool watch;
    char path[SIM_PATH];
    int64_t owner;
    struct zdata data;
    int nops;
    struct zsubop ops[3];
    /* connect: the session to resume (0 new), the client's last zxid and watches */
    int64_t session, last_zxid;
    int nwatch;
    struct {
        char path[SIM_PATH];
        int type;
    } watches[64];
    /* response */
    int rc;
    int op_rc[3];
    struct zstat stat;
    int64_t zxid;
    int nchildren;
    char children[SIM_MAX_CHILDREN][SIM_PATH];
    /* watch event */
    int event;
};

/* ---------------------------------------------------------------- events */

enum ev_type {
    EV_C2S,      /* a message reaches the server */
    EV_S2C,      /* a message reaches an agent's process */
    EV_TIMER,    /* an agent's timer (b: which) */
    EV_RUN_END,  /* a job process exits (x: run id) */
    EV_WATCHDOG, /* an agent's watchdog deadline (x: incarnation) */
    EV_SERVER_TICK,
    EV_SERVER_UP,
    EV_FAULT, /* the next fault */
    EV_HEAL,  /* a fault ends (b: kind) */
    EV_QUIET, /* faults stop */
    EV_END,
};

struct ev {
    ms_t t;
    uint64_t seq;
    int type, a, b;
    int64_t x;
    struct msg *m;
};

/* ---------------------------------------------------------------- the world */

struct sim_agent; /* sim_agent.c */
struct zk;        /* sim_zk.c */
struct check;     /* sim_check.c */

struct world {
    struct sim_params p;
    uint64_t seed, rng;
    ms_t now;
    uint64_t seq;
    int64_t steps;
    struct ev *heap;
    int nheap, capheap;
    bool quiet;
    ms_t quiet_at, end_at;
    struct zk *zk;
    struct sim_agent *ag[SIM_MAX_AGENTS];
    struct check *ck;
    /* trace ring */
    char trace[SIM_TRACE][160];
    int ntrace;
    int violations;
    int64_t viol_by[5];
    bool stop;
    /* figures */
    int64_t faults, runs_started, epochs;
};

/* sim_world.c */
uint64_t sim_rand(struct world *w);
int64_t sim_range(struct world *w, int64_t lo, int64_t hi); /* uniform in [lo, hi] */
bool sim_chance(struct world *w, double p);
void sim_push(struct world *w, ms_t t, int type, int a, int b, int64_t x, struct msg *m);
void sim_trace(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_violation(struct world *w, int inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sim_run_seed(const struct sim_params *p, uint64_t seed, struct world **out);
void sim_world_free(struct world *w);
extern const char *const sim_mutant_names[MUT_COUNT];

/* sim_zk.c */
struct zk *zk_new(struct world *w);
void zk_free(struct zk *z);
void zk_on_c2s(struct world *w, struct msg *m);
void zk_tick(struct world *w);
void zk_restart(struct world *w, ms_t down_ms);
void zk_up(struct world *w);
bool zk_is_up(const struct world *w);
/* zk_send: the client side of connection `conn` sends `m` (taken). */
void zk_send(struct world *w, int conn, struct msg *m);
/* zk_drop_conn: the connection breaks (both ends see it). */
void zk_drop_conn(struct world *w, int conn);
bool zk_conn_open(const struct world *w, int conn);
int zk_new_conn(struct world *w, int agent);
/* operator writes (no client): job configs */
void zk_put_job(struct world *w, int j, const struct sim_job *cfg);
const struct zdata *zk_peek(const struct world *w, const char *path, struct zstat *st);
int64_t zk_session_of_node(const struct world *w, const char *path);
bool zk_session_alive(const struct world *w, int64_t session);

/* sim_agent.c */
struct sim_agent *agent_new(struct world *w, int idx);
void agent_free(struct sim_agent *a);
void agent_start(struct world *w, int idx); /* a new process with this id */
void agent_kill(struct world *w, int idx);  /* kill -9 */
void agent_stop(struct world *w, int idx);  /* clean stop (SIGTERM) */
void agent_freeze(struct world *w, int idx, bool on);
void agent_set_stuck(struct world *w, int idx, bool on);
void agent_conn_loss(struct world *w, int idx);
void agent_jump(struct world *w, int idx, ms_t delta, bool detectable);
void agent_on_s2c(struct world *w, struct msg *m);
void agent_on_timer(struct world *w, int idx, int which, int64_t inc);
void agent_on_run_end(struct world *w, int idx, int64_t run);
void agent_on_watchdog(struct world *w, int idx, int which, int64_t x);
void agent_on_conn_drop(struct world *w, int idx, int conn);
/* what the checker and the fault picker see */
bool agent_proc_alive(const struct world *w, int idx);
bool agent_frozen(const struct world *w, int idx);
bool agent_stuck(const struct world *w, int idx);
bool agent_healthy(const struct world *w, int idx);
bool agent_is_leader(const struct world *w, int idx);
bool agent_item_active(const struct world *w, int idx, int job, int item);
int64_t agent_applied(const struct world *w, int idx);
ms_t agent_clock(const struct world *w, int idx);
int64_t agent_session(const struct world *w, int idx);
void agent_describe(const struct world *w, int idx, char *buf, size_t len);

/* sim_check.c: the history table and the invariants */
struct check *check_new(struct world *w);
void check_free(struct check *c);
/* a run's life: returns the run id */
int check_run_start(struct world *w, int agent, int64_t session, int job, int item, int64_t label,
                    enum own_trigger trig, int attempt, int prev_run);
void check_run_end(struct world *w, int run, bool killed);
void check_run_end_seen(struct world *w, int run, bool published_at_once);
void check_record(struct world *w, int agent, int job, int item, int64_t label, bool skipped,
                  const char *why);
void check_item_active(struct world *w, int job, int item, int64_t first_s);
void check_item_unowned(struct world *w, int job, int item);
void check_job_shards(struct world *w, int job, int shards_before, int shards_after);
/* hooks in the ZooKeeper model: a record write applied, an agent node gone,
 * a snapshot applied */
void check_rec_applied(struct world *w, int agent, const struct sim_rec *rec);
void check_agent_gone(struct world *w, int agent, int64_t session);
void check_snap_applied(struct world *w, const struct sim_snap *snap);
void check_step(struct world *w);
void check_final(struct world *w);

#endif
