/* sharding/shard_hash.h: the hashes and the integer logarithm the strategies
 * are built on. Internal to sharding/ (the tests and the bench use it too).
 *
 * Every agent computes the whole assignment itself, so everything here must
 * give bit-identical results on every host, compiler and libm: integer
 * arithmetic only, no floating point (the reason Ceph's CRUSH straw2 uses a
 * fixed-point ln as well). */
#ifndef SC_SHARD_HASH_H
#define SC_SHARD_HASH_H

#include <stdint.h>

/* shard_fnv1a32 / shard_fnv1a64: FNV-1a over the bytes of a NUL-terminated
 * string (offset basis 0x811c9dc5 / 0xcbf29ce484222325, prime 0x01000193 /
 * 0x100000001b3). */
uint32_t shard_fnv1a32(const char *s);
uint64_t shard_fnv1a64(const char *s);

/* shard_mix64: the splitmix64 finalizer, a bijection that spreads every input
 * bit over every output bit. */
static inline uint64_t shard_mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

/* SHARD_Q: fixed-point scale of shard_neglog's result (value * 2^58). */
#define SHARD_Q 58

/* shard_neglog: -ln(1 - h/2^64) in Q58 fixed point, for h uniform on 64 bits
 * an exponential variate with mean 1. Relative error below 1e-6 for
 * h >= 2^30, absolute error below 2^-57 for smaller h (tested against libm
 * in tests/unit/test_shard.c). Thread-safe: the two
 * interpolation tables are built once, by integer arithmetic, on first use. */
uint64_t shard_neglog(uint64_t h);

#endif
