/* tests/lib/proxy.h: a TCP proxy between one agent and the test ZooKeeper
 * (tests/lib/tcp_proxy.py, a child process driven over pipes), for faults that
 * break a connection but keep the session: traffic held, connections reset.
 *
 * Every command returns once the proxy has acknowledged it, so a test never
 * sleeps to let a fault take effect. */
#ifndef SC_TEST_PROXY_H
#define SC_TEST_PROXY_H

#include <stddef.h>
#include <sys/types.h>

struct tp_proxy {
    pid_t pid;
    int to, from;   /* the proxy's stdin and stdout */
    int port;       /* where it listens (127.0.0.1) */
    char addr[64];  /* "127.0.0.1:PORT", for an agent's --zk */
    char buf[4096]; /* answer bytes read past the last line */
    size_t nbuf;
};

/* tp_start: a proxy to `target` (HOST:PORT) logging what it forwards to `log`
 * (NULL: no log). Returns 0, or -1 when it did not start listening in 10 s. */
int tp_start(struct tp_proxy *p, const char *target, const char *log);

/* tp_cmd: send one command ("hold", "hold up", "release", "reset", "stats"; see
 * tcp_proxy.py) and wait up to 5 s for its answer line, copied into `answer`
 * (optional). Returns 0 when the proxy answered "ok", -1 otherwise. */
int tp_cmd(struct tp_proxy *p, const char *cmd, char *answer, size_t len);

/* tp_holds: whether a request or watch notification whose description
 * contains `what` (for example "getData:/ns/state/assignment:w", a watched
 * read, or "dataChanged:/ns/state/assignment") is held in the proxy now. */
int tp_holds(struct tp_proxy *p, const char *what);

/* tp_stop: close its stdin (it closes every connection and exits) and reap it. */
void tp_stop(struct tp_proxy *p);

#endif
