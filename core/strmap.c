/* core/strmap.c: open-addressing string hash map (FNV-1a, linear probing). */
#include "core/strmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define STRMAP_TOMB (&tomb_marker)

uint64_t strmap_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof *m);
}

void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != STRMAP_TOMB)
            free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
    if (!m->cap)
        return NULL;
    for (size_t i = h & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != STRMAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

static int grow(struct strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->len * 2 < m->cap)
        ncap = m->cap; /* mostly tombstones: rehash in place */
    struct strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || s->key == STRMAP_TOMB)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->len;
    return 0;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_slot *s = find(m, key, strmap_hash(key));
    return s ? s->val : NULL;
}

void *strmap_put(struct strmap *m, const char *key, void *val, int *err)
{
    uint64_t h = strmap_hash(key);
    struct strmap_slot *s = find(m, key, h);
    *err = 0;
    if (s) {
        void *old = s->val;
        s->val = val;
        return old;
    }
    if ((m->used + 1) * 4 >= m->cap * 3 && grow(m) < 0) {
        *err = -ENOMEM;
        return NULL;
    }
    char *k = strdup(key);
    if (!k) {
        *err = -ENOMEM;
        return NULL;
    }
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != STRMAP_TOMB)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (struct strmap_slot){k, val, h};
    m->len++;
    return NULL;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct strmap_slot *s = find(m, key, strmap_hash(key));
    if (!s)
        return NULL;
    void *old = s->val;
    free(s->key);
    s->key = STRMAP_TOMB;
    s->val = NULL;
    m->len--;
    return old;
}

size_t strmap_len(const struct strmap *m)
{
    return m->len;
}

int strmap_next(const struct strmap *m, size_t *it, const char **key, void **val)
{
    while (*it < m->cap) {
        struct strmap_slot *s = &m->slots[(*it)++];
        if (s->key && s->key != STRMAP_TOMB) {
            *key = s->key;
            *val = s->val;
            return 1;
        }
    }
    return 0;
}
