/*
 * rng.c — xoshiro256** (Blackman & Vigna, public domain algorithm); see rng.h.
 */
#include "belt_config.h"

#include <string.h>

#include "util/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void belt_rng_seed(struct belt_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t belt_rng_next(struct belt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double belt_rng_uniform(struct belt_rng *r)
{
    return (double)(belt_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t belt_rng_below(struct belt_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = belt_rng_next(r);
    } while (x >= limit);
    return x % n;
}

void belt_rng_shuffle(struct belt_rng *r, void *base, size_t n, size_t size)
{
    unsigned char tmp[64];
    unsigned char *a = base;
    if (size > sizeof(tmp) || n < 2)
        return;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)belt_rng_below(r, (uint64_t)i + 1);
        if (j == i)
            continue;
        memcpy(tmp, a + i * size, size);
        memcpy(a + i * size, a + j * size, size);
        memcpy(a + j * size, tmp, size);
    }
}
