/*
 * keys.h — internal side of API keys: hashing, budget periods, and the limits backend
 * interface behind belt_keys (public API in belt.h, "API keys, budgets, rate limits").
 *
 * The backend owns the shared mutable state of keys — token buckets, spend per UTC day/month,
 * in-flight reservations — behind a small vtable, so that the in-process implementation
 * (limits_local.c: a mutex, SQLite for spend) can be swapped for a Redis one when several
 * gateways share keys (one Lua script per operation gives the same atomic check-and-reserve).
 */
#ifndef BELT_GUARD_KEYS_H
#define BELT_GUARD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

#define BELT__KEY_HASH_LEN 32
#define BELT__KEY_PREFIX   "belt_"

/* Keyed BLAKE2b-256 of a key's text. */
void belt__key_hash(const unsigned char secret[32], const char *key, size_t len,
                    unsigned char out[BELT__KEY_HASH_LEN]);
/* The spend periods containing now_ms (UTC): "d:YYYY-MM-DD" and "m:YYYY-MM". */
void belt__key_period(int64_t now_ms, char day[16], char month[16]);

/* One admission: the key's limits and what the request would consume. */
struct belt__limit_req {
    const char *key_id;      /* borrowed */
    int64_t now_ms;          /* Unix ms */
    int64_t rpm, tpm, burst; /* 0: unlimited */
    double budget_day;       /* < 0: none */
    double budget_month;     /* < 0: none */
    int64_t tokens;          /* tokens to reserve (tokens/minute) */
    double usd;              /* cost to reserve (budgets) */
};

struct belt__limit_res {
    belt_status status;    /* BELT_OK, BELT_ERR_RATELIMIT or BELT_ERR_BUDGET */
    int64_t retry_after_s; /* when not OK */
    double remaining_day;  /* after the reservation; < 0: no budget */
    double remaining_month;
    const char *which; /* "requests per minute", "tokens per minute", "daily budget", ... */
};

struct belt__limits_ops {
    /* Check every limit and, only if all pass, take the request and reserve tokens and cost —
     * atomically with respect to other admissions and settlements. */
    void (*admit)(void *impl, const struct belt__limit_req *r, struct belt__limit_res *out);
    /* Release a reservation and charge real usage (tokens refunded or charged to the bucket). */
    void (*settle)(void *impl, const char *key_id, int64_t now_ms, int64_t reserved_tokens,
                   double reserved_usd, int64_t tokens, double cost_usd);
    /* Persist charged spend; re-read shared spend. */
    belt_status (*flush)(void *impl, struct belt_error *err);
    belt_status (*reload)(void *impl, int64_t now_ms, struct belt_error *err);
    void (*destroy)(void *impl);
};

/* The in-process backend: state in memory under one mutex, spend persisted to the store at
 * `store_path` (own connection) by flush, re-read by reload. */
belt_status belt__limits_local_new(const char *store_path, const struct belt__limits_ops **ops,
                                   void **impl, struct belt_error *err);

#endif
