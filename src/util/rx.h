/*
 * rx.h — PCRE2 glue shared by the modules that match patterns (JSON Schema `pattern`, rules
 * extraction): compilation through belt_malloc (so fault injection and leak counts see it) with
 * JIT when available and an error text naming the offset, and a small lock-free pool of match
 * data so that matching from many threads allocates nothing in the steady state.
 *
 * Thread rule: a compiled pcre2_code is immutable and may be matched from any number of threads;
 * a belt_rx_pool may be used by any number of threads at once (atomic slots).
 */
#ifndef BELT_UTIL_RX_H
#define BELT_UTIL_RX_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stddef.h>

#include "belt.h"

#define BELT_RX_POOL_SLOTS 8

/* Match data kept for reuse. Embedded by its owner; init/deinit. */
struct belt_rx_pool {
    const pcre2_code *sizer;                              /* pattern with the most groups */
    uint32_t n_pairs;                                     /* ovector pairs of pooled data */
    _Atomic(pcre2_match_data *) slot[BELT_RX_POOL_SLOTS]; /* idle match data, NULL = empty */
};

/* Compile pat[0..len) with `options` (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF are always added) and
 * JIT-compile it when the platform allows. On a syntax error returns BELT_ERR_INVALID and writes
 * "at offset N: why" into msg[0..cap); BELT_ERR_NOMEM when out of memory. *out is owned by the
 * caller (pcre2_code_free). extra_nest raises the parentheses nesting limit (0: PCRE2's default),
 * for generated patterns such as dictionary tries. */
belt_status belt__rx_compile(const char *pat, size_t len, uint32_t options, uint32_t extra_nest,
                             pcre2_code **out, char *msg, size_t cap);

/* Number of capture groups of code (not counting group 0). */
uint32_t belt__rx_n_groups(const pcre2_code *code);

void belt__rx_pool_init(struct belt_rx_pool *p);
/* Make the pool hand out match data large enough for `code` if it has more groups than the
 * patterns seen so far. Call before any acquire (at compile time). */
void belt__rx_pool_size_for(struct belt_rx_pool *p, const pcre2_code *code);
/* Take match data from the pool or make new (NULL when out of memory). Return it with
 * belt__rx_pool_release. */
pcre2_match_data *belt__rx_pool_acquire(struct belt_rx_pool *p);
void belt__rx_pool_release(struct belt_rx_pool *p, pcre2_match_data *md);
/* Free every pooled match data. No acquire may be outstanding. */
void belt__rx_pool_deinit(struct belt_rx_pool *p);

#endif
