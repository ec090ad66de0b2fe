/* registry/zkcli.h: blocking ZooKeeper calls for command-line tools, tests and
 * benchmarks — the same registry/zk wrapper, driven by a private event loop
 * until each reply arrives. Never used inside a daemon's loop. */
#ifndef SC_REGISTRY_ZKCLI_H
#define SC_REGISTRY_ZKCLI_H

#include <stdbool.h>
#include <zookeeper.h>

#include "core/err.h"
#include "registry/zk.h"

struct zkcli;

/* zkcli_open: connect within timeout_ms; NULL with err set on failure. */
struct zkcli *zkcli_open(const char *hosts, const char *ns, const char *auth, int timeout_ms,
                         struct sc_err *err);
void zkcli_close(struct zkcli *k);

/* Results: ZooKeeper codes (ZOK, ZNONODE, ZNODEEXISTS, ZBADVERSION...).
 * zkcli_get: *data is the caller's (free), NUL-terminated; stat optional. */
int zkcli_get(struct zkcli *k, const char *path, char **data, int *len, struct Stat *stat);
int zkcli_set(struct zkcli *k, const char *path, const char *data, int len, int version,
              struct Stat *stat);
/* zkcli_create: created path (relative) into created if not NULL (size len). */
int zkcli_create(struct zkcli *k, const char *path, const char *data, int len, int flags,
                 char *created, size_t created_len);
int zkcli_delete(struct zkcli *k, const char *path, int version);
/* zkcli_delete_tree: the node and everything below it. */
int zkcli_delete_tree(struct zkcli *k, const char *path);
/* zkcli_children: sorted names, the caller's (zkcli_free_children). */
int zkcli_children(struct zkcli *k, const char *path, char ***names, int *n);
void zkcli_free_children(char **names, int n);
int zkcli_exists(struct zkcli *k, const char *path, struct Stat *stat);

/* One read of zkcli_get_many: path in; rc, data (the caller's, NUL-terminated;
 * NULL unless ZOK) and len out. */
struct zkcli_read {
    const char *path;
    int rc;
    char *data;
    int len;
};
/* zkcli_get_many: every r[i] read with up to ZKCLI_INFLIGHT gets in flight at
 * once (one round trip per window, not per node). ZOK when every read has an
 * answer (each its own rc: ZOK or ZNONODE...); else the error that stopped it
 * (a lost connection, or ZOPERATIONTIMEOUT when no answer came for twice the
 * session timeout). zkcli_reads_free frees the data. */
#define ZKCLI_INFLIGHT 512
int zkcli_get_many(struct zkcli *k, struct zkcli_read *r, int n);
void zkcli_reads_free(struct zkcli_read *r, int n);
int zkcli_ensure(struct zkcli *k, const char *path);
int zkcli_multi(struct zkcli *k, const struct zkreg_op *ops, int n, int *op_rc);
/* zkcli_multi_path: zkcli_multi, copying the path of its first create (relative
 * to the namespace; "" when none) into `created` when it is not NULL. */
int zkcli_multi_path(struct zkcli *k, const struct zkreg_op *ops, int n, int *op_rc, char *created,
                     size_t created_len);

#endif
