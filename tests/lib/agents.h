/* tests/lib/agents.h: real shardcron-agent processes for integration tests —
 * start, signal, query /status over loopback HTTP, and an ownership checker
 * that proves no two agents claimed the same item at the same moment.
 *
 * The checker: every /status reports, for each owned item, when it became
 * active (owned_since, realtime ms). A sample requested at time t from agent A
 * proves A held the item over [since, t]. Two agents' proven intervals for one
 * item that intersect are a double claim. No false positives; a double claim
 * lasting longer than one sampling round is caught. */
#ifndef SC_TEST_AGENTS_H
#define SC_TEST_AGENTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <sys/types.h>

#define TA_MAX 8

struct ta_agent {
    char id[64];
    char dir[512];
    pid_t pid;
    int port;
    bool stopped; /* SIGSTOPped by the test */
};

struct ta_cluster {
    char ns[64];
    int session_ms;
    struct ta_agent a[TA_MAX];
    int n;
    const char *const *wrapper; /* optional command prefix (e.g. faketime -f +10s) */
    /* agents started from now on lead a process group of their own, so a test
     * can signal the group (ta_kill_group) without signalling itself */
    bool own_group;
    int violations;
    char first_violation[512];
    /* ownership intervals seen: per (job, item, agent) the latest proven one */
    struct ta_claim {
        char job[64];
        int item;
        int agent;
        long long since, seen;
    } * claims;
    int nclaims, capclaims;
};

/* ta_start: launch agent `id` with extra args (NULL-terminated list), wait for its
 * HTTP port (10 s). Returns the index or -1. */
int ta_start(struct ta_cluster *c, const char *id, const char *const *extra);
/* ta_restart: start dead agent i again with the same id and directory. */
int ta_restart(struct ta_cluster *c, int i, const char *const *extra);
void ta_kill(struct ta_cluster *c, int i, int sig);
/* ta_kill_group: sig to agent i's whole process group (started with own_group). */
void ta_kill_group(struct ta_cluster *c, int i, int sig);
/* ta_wait_exit: wait for the process to exit; returns its exit status or -1. */
int ta_wait_exit(struct ta_cluster *c, int i, int deadline_ms);
/* ta_status: GET /status of agent i; NULL when it does not answer (stopped, dead). */
cJSON *ta_status(struct ta_cluster *c, int i);
/* ta_get: GET path from agent i into a malloc'd string (NULL on failure). */
char *ta_get(struct ta_cluster *c, int i, const char *path);
/* ta_sample: query every running agent once and feed the checker. */
void ta_sample(struct ta_cluster *c);
/* ta_owner_count: from a fresh sample round, how many agents own (job, item). */
int ta_owners(struct ta_cluster *c, const char *job, int item, int *owner);
void ta_stop_all(struct ta_cluster *c);
/* ta_sanitizer_reports: how many agent logs hold an ASan/UBSan/LSan report
 * (call after ta_stop_all, so leak checks at exit are included); the first
 * offending log path goes to `first`. */
int ta_sanitizer_reports(const struct ta_cluster *c, char *first, size_t len);
long long ta_now_ms(void);

#endif
