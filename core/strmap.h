/* core/strmap.h: a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are copied and owned by the map; values are the caller's pointers. Used
 * for the caches of jobs and agents, which reach 100,000 entries. Not thread-safe:
 * each map belongs to one event loop. */
#ifndef SC_STRMAP_H
#define SC_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap {
    struct strmap_slot {
        char *key; /* NULL = empty; STRMAP_TOMB = deleted */
        void *val;
        uint64_t hash;
    } * slots;
    size_t cap, len, used; /* used counts tombstones too */
};

uint64_t strmap_hash(const char *s);

void strmap_init(struct strmap *m);
/* strmap_free: frees keys and slots; values are not touched. */
void strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* strmap_put: insert or replace; returns the previous value (or NULL), and sets
 * *err to -ENOMEM when the insert failed. */
void *strmap_put(struct strmap *m, const char *key, void *val, int *err);
/* strmap_del: remove; returns the removed value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_len(const struct strmap *m);

/* Iteration: for (size_t i = 0; strmap_next(m, &i, &k, &v);) ... The map must not
 * change during the loop, except strmap_del of the current key. */
int strmap_next(const struct strmap *m, size_t *it, const char **key, void **val);

#endif
