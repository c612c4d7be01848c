/*
 * hash.h — fast non-cryptographic hashing (FNV-1a 64 and a 64-bit mixer) for hash tables and
 * feature hashing. For anything an attacker may choose and that must not collide, use
 * libsodium (crypto_generichash, crypto_shorthash). Depends on libc only.
 */
#ifndef BELT_UTIL_HASH_H
#define BELT_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define BELT_FNV_OFFSET 0xcbf29ce484222325ULL
#define BELT_FNV_PRIME  0x100000001b3ULL

/* FNV-1a over n bytes, continuing from h (start with BELT_FNV_OFFSET). */
static inline uint64_t belt_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= BELT_FNV_PRIME;
    }
    return h;
}

/* A strong 64-bit finaliser (from splitmix64): spreads FNV's weak low bits. */
static inline uint64_t belt_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#endif
