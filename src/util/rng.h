/*
 * rng.h — small, fast, seedable pseudo-random generator (xoshiro256**, seeded via splitmix64),
 * for reproducible shuffles, splits, jitter and sampling. Not for secrets (use libsodium).
 * Caller-embedded value; one per thread.
 */
#ifndef BELT_UTIL_RNG_H
#define BELT_UTIL_RNG_H

#include <stddef.h>
#include <stdint.h>

struct belt_rng {
    uint64_t s[4]; /* xoshiro256** state */
};

void belt_rng_seed(struct belt_rng *r, uint64_t seed);
uint64_t belt_rng_next(struct belt_rng *r);
/* Uniform in [0, 1). */
double belt_rng_uniform(struct belt_rng *r);
/* Uniform integer in [0, n), n > 0 (unbiased). */
uint64_t belt_rng_below(struct belt_rng *r, uint64_t n);
/* Fisher–Yates shuffle of n elements of `size` bytes (size <= 64). */
void belt_rng_shuffle(struct belt_rng *r, void *base, size_t n, size_t size);

#endif
