/* sharding/shard_hash.c: FNV-1a and the integer -ln used by the balanced
 * strategy's weighted rendezvous hashing.
 *
 * Why an integer logarithm: weighted rendezvous hashing ranks agent k for an
 * item by E_k / w_k with E_k = -ln(u_k) exponential; with libm's log() two
 * hosts with different libm builds (or an FMA-contracting compiler on ARM)
 * could rank a near-tie differently and both run the item. Here the value is
 * built from two tables filled by an exact bit-by-bit integer log2, then
 * linearly interpolated: same bits everywhere.
 *
 * shard_neglog(h) = -ln(1 - v), v = h / 2^64:
 *   v <  1/4: v * R(v), R(v) = -ln(1-v)/v tabulated on 4096 steps of 2^-14
 *             (keeps full relative precision near 0, where the winners are);
 *   v >= 1/4: with 1 - v = m * 2^-z, m in [1/2, 1): z*ln2 - ln(m), -ln(m)
 *             tabulated on 2048 steps of 2^-12. */
#include "sharding/shard_hash.h"

#include <pthread.h>

typedef unsigned __int128 u128;

uint32_t shard_fnv1a32(const char *s)
{
    uint32_t h = 0x811c9dc5u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x01000193u;
    }
    return h;
}

uint64_t shard_fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ln 2 * 2^64, rounded down. */
#define LN2_Q64 0xB17217F7D1CF79ABULL
#define R_STEPS 4096 /* R(v) on v = k / 2^14, k = 0..4096 */
#define T_STEPS 2048 /* -ln(m) on m = 1/2 + k / 2^12, k = 0..2048 */

static uint64_t r_tab[R_STEPS + 1]; /* Q62 */
static uint64_t t_tab[T_STEPS + 1]; /* Q62 */
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

/* log2_frac: log2(y) for y in [1, 2) given as Q62, result Q62 in [0, 1).
 * Square and compare: each squaring doubles the logarithm, so whether the
 * square reaches 2 is the next bit. Truncation error stays near 2^-62. */
static uint64_t log2_frac(uint64_t y)
{
    uint64_t r = 0;
    for (int bit = 61; bit >= 0; bit--) {
        y = (uint64_t)(((u128)y * y) >> 62);
        if (y >= (1ULL << 63)) {
            y >>= 1;
            r |= 1ULL << bit;
        }
    }
    return r;
}

/* neg_ln_half_to_one: -ln(x) for x = y / 2^63 in [1/2, 1) (y in [2^62, 2^63)), Q62. */
static uint64_t neg_ln_q62(uint64_t y)
{
    /* x = (2x)/2 with 2x = y in Q62 -> -log2(x) = 1 - log2(2x) */
    uint64_t nl2 = (1ULL << 62) - log2_frac(y);
    return (uint64_t)(((u128)nl2 * LN2_Q64) >> 64);
}

static void tables_init(void)
{
    r_tab[0] = 1ULL << 62; /* R(0) = 1 */
    for (uint64_t k = 1; k <= R_STEPS; k++) {
        /* 1 - v = 1 - k/2^14 as y = (1-v) * 2^63 */
        uint64_t e = neg_ln_q62((1ULL << 63) - (k << 49));
        r_tab[k] = (uint64_t)(((u128)e << 14) / k);
    }
    for (uint64_t k = 0; k < T_STEPS; k++)
        t_tab[k] = neg_ln_q62((1ULL << 62) + (k << 51)); /* m = 1/2 + k/2^12 */
    t_tab[T_STEPS] = 0;                                  /* -ln(1) */
}

uint64_t shard_neglog(uint64_t h)
{
    pthread_once(&tab_once, tables_init);
    if (h < (1ULL << 62)) {
        uint64_t k = h >> 50, frac = h & ((1ULL << 50) - 1);
        uint64_t r = r_tab[k] + (uint64_t)(((u128)(r_tab[k + 1] - r_tab[k]) * frac) >> 50);
        return (uint64_t)(((u128)h * r) >> (64 + 62 - SHARD_Q));
    }
    uint64_t x = 0 - h; /* (1 - v) * 2^64, in [1, 3 * 2^62] */
    int z = __builtin_clzll(x);
    uint64_t m = (x << z) - (1ULL << 63); /* (m - 1/2) * 2^64 */
    uint64_t k = m >> 52, frac = m & ((1ULL << 52) - 1);
    uint64_t t = t_tab[k] - (uint64_t)(((u128)(t_tab[k] - t_tab[k + 1]) * frac) >> 52);
    return (uint64_t)z * (LN2_Q64 >> (64 - SHARD_Q)) + (t >> (62 - SHARD_Q));
}
