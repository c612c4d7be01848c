/*
 * cache.h — the exact-match response cache of the gateway.
 *
 * Key: BLAKE2b-128 of the model name and the request's canonical JSON (keys sorted,
 * integral numbers written as integers, a content array of one text part written as that
 * string, and the fields that do not change the answer — stream, stream_options, user —
 * removed), so a streamed and a non-streamed request for the same thing share an entry.
 * Only deterministic requests are cached: temperature 0, or a seed.
 *
 * Storage: an in-memory LRU shared by every loop thread (16 shards, each with its own mutex
 * held for a hash lookup only, so a lookup never blocks a loop), bounded in bytes; entries
 * expire after the TTL. When a writer is given, every new entry is also written to the
 * store's `cache` table through it (never blocking), and belt__cache_warm() loads the live
 * rows back at start, so a restarted gateway keeps its hits.
 *
 * Entries are immutable and reference-counted: a hit stays valid while it is being sent even
 * if the LRU evicts it meanwhile.
 *
 * Thread rule: every function is thread-safe.
 */
#ifndef BELT_CACHE_CACHE_H
#define BELT_CACHE_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"

struct belt_cache;
struct belt_writer;
struct belt_store;

#define BELT_CACHE_KEY_LEN 16

struct belt_cache_entry {
    unsigned char key[BELT_CACHE_KEY_LEN]; /* binary key */
    const char *model;                     /* model that answered */
    const char *response;                  /* the complete JSON answer (chat.completion) */
    size_t response_len;
    const char *stream; /* the SSE body as first sent, or NULL (never streamed) */
    size_t stream_len;
    double cost_usd;    /* what the answer cost when it was made */
    int64_t created_ms; /* Unix ms */
    int64_t expires_ms; /* Unix ms */
};

struct belt_cache_params {
    size_t max_bytes;           /* memory bound over all entries (default 32 MiB) */
    size_t max_entry;           /* larger answers are not cached (default 1 MiB) */
    int64_t ttl_ms;             /* lifetime (default 1 h) */
    struct belt_writer *writer; /* borrowed; NULL: memory only */
};

struct belt_cache_stats {
    uint64_t entries;   /* live entries */
    uint64_t bytes;     /* bytes they take */
    uint64_t hits;      /* lookups that found a live entry */
    uint64_t misses;    /* lookups that did not */
    uint64_t inserts;   /* entries stored */
    uint64_t evictions; /* entries dropped for room or age */
};

struct belt_cache_params belt__cache_default_params(void);
belt_status belt__cache_new(const struct belt_cache_params *p, struct belt_cache **out,
                            struct belt_error *err);
void belt__cache_free(struct belt_cache *c);

/* 1 when the request is deterministic enough to cache: temperature 0 or an integer seed. */
int belt__cache_cacheable(const json_t *request);
/* The key of (model, request). Returns BELT_ERR_NOMEM on allocation failure. */
belt_status belt__cache_key(const char *model, const json_t *request,
                            unsigned char key[BELT_CACHE_KEY_LEN]);
/* Hex form of a key (out: 2 * BELT_CACHE_KEY_LEN + 1 bytes). */
void belt__cache_key_hex(const unsigned char key[BELT_CACHE_KEY_LEN], char *out);

/* Look up a live entry; on a hit the entry is returned with a reference the caller releases
 * with belt__cache_release. NULL on a miss. */
const struct belt_cache_entry *
belt__cache_get(struct belt_cache *c, const unsigned char key[BELT_CACHE_KEY_LEN], int64_t now_ms);
void belt__cache_release(const struct belt_cache_entry *e);
/* Store an answer (copied). stream may be NULL. Too-large answers are ignored. Persisted
 * through the writer when there is one (persist = 1). */
void belt__cache_put(struct belt_cache *c, const unsigned char key[BELT_CACHE_KEY_LEN],
                     const char *model, const char *response, size_t response_len,
                     const char *stream, size_t stream_len, double cost_usd, int64_t now_ms,
                     int persist);
/* Load the live rows of the store's cache table (newest first, up to max_bytes). Returns the
 * number of entries loaded in *n_loaded. */
belt_status belt__cache_warm(struct belt_cache *c, struct belt_store *st, int64_t now_ms,
                             size_t *n_loaded, struct belt_error *err);
/* Queue deletion of expired rows from the store (through the writer). */
void belt__cache_purge_store(struct belt_cache *c, int64_t now_ms);
void belt__cache_stats(struct belt_cache *c, struct belt_cache_stats *out);

#endif
