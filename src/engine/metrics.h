/*
 * metrics.h — the engine's counters, sharded per event loop: each loop writes only its own
 * shard (relaxed atomic stores, no lock, no contention on the hot path) and a scrape sums all
 * shards. Shards outlive their loops (counters never go backwards): a new loop reuses a free
 * shard. Rendering in the Prometheus text format is in engine.c (it also reads the cache,
 * the writer and the breakers).
 *
 * Thread rule: a shard is written by one thread at a time (its loop's); any thread may read.
 */
#ifndef BELT_ENGINE_METRICS_H
#define BELT_ENGINE_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define BELT_METRICS_N_BUCKETS 15 /* latency buckets, +Inf excluded */

/* Upper bounds of the latency buckets in seconds. */
extern const double belt__metrics_bounds_s[BELT_METRICS_N_BUCKETS];

/* Single-writer increment: plain load + store with relaxed ordering (no lock prefix). */
#define BELT_METRIC_ADD(ctr, v)                                                                    \
    atomic_store_explicit(&(ctr), atomic_load_explicit(&(ctr), memory_order_relaxed) + (v),        \
                          memory_order_relaxed)
#define BELT_METRIC_GET(ctr) atomic_load_explicit(&(ctr), memory_order_relaxed)

typedef atomic_uint_fast64_t belt_counter;

struct belt_histogram {
    belt_counter buckets[BELT_METRICS_N_BUCKETS + 1]; /* last = +Inf */
    belt_counter sum_us;                              /* sum of observations */
};

/* Per model (by the name a request asked for: the route label) and per tried model. */
struct belt_model_counters {
    belt_counter requests;     /* requests for this model/route */
    belt_counter errors;       /* of which ended in an error status */
    belt_counter streams;      /* of which streamed */
    belt_counter cache_hits;   /* answered from the cache */
    belt_counter cache_misses; /* cacheable but not in the cache */
    belt_counter saved_nusd;   /* cost avoided by cache hits, nano-USD */
    belt_counter input_tokens; /* tokens billed */
    belt_counter output_tokens;
    belt_counter cost_nusd;         /* cost, nano-USD */
    struct belt_histogram latency;  /* end-to-end request latency */
    belt_counter attempts;          /* upstream attempts to this model */
    belt_counter attempt_errors;    /* of which failed */
    belt_counter timeouts;          /* of which timed out */
    belt_counter ratelimited;       /* of which got 429 */
    belt_counter retries;           /* attempts that were retries */
    belt_counter fallbacks;         /* attempts that were fallbacks to this model */
    belt_counter skipped;           /* attempts skipped: circuit open */
    struct belt_histogram upstream; /* attempt latency */
};

enum belt_endpoint {
    BELT_EP_CHAT = 0,
    BELT_EP_EMBEDDINGS,
    BELT_EP_MODELS,
    BELT_EP_HEALTHZ,
    BELT_EP_METRICS,
    BELT_EP_REVIEWS,     /* /v1/reviews (the gateway's review queue) */
    BELT_EP_REVIEW_PAGE, /* /review (its web page) */
    BELT_EP_OTHER,
    BELT_EP_COUNT_
};

#define BELT_METRICS_N_CODES 15
/* HTTP statuses counted individually; the last slot counts every other one. */
extern const int belt__metrics_codes[BELT_METRICS_N_CODES];
extern const char *const belt__metrics_endpoints[BELT_EP_COUNT_];

struct belt_metrics_shard {
    struct belt_model_counters *models;                      /* n_models entries; owned */
    belt_counter http[BELT_EP_COUNT_][BELT_METRICS_N_CODES]; /* responses by endpoint, status */
    belt_counter disconnects;                                /* clients gone before their answer */
    belt_counter stream_errors;   /* streams that ended with an error event */
    belt_counter unknown_model;   /* requests for a model that does not exist */
    atomic_int_fast64_t inflight; /* requests in progress */
    int in_use;                   /* taken by a live loop (under the registry lock) */
};

struct belt_metrics {
    pthread_mutex_t lock;               /* guards the shard registry */
    struct belt_metrics_shard **shards; /* owned */
    size_t n_shards;                    /* entries */
    size_t n_models;                    /* models per shard */
    int64_t start_ms;                   /* process start (Unix ms) */
};

void belt__metrics_init(struct belt_metrics *m, size_t n_models);
void belt__metrics_deinit(struct belt_metrics *m);
/* A shard for a new loop (reused or new); NULL on OOM. */
struct belt_metrics_shard *belt__metrics_acquire(struct belt_metrics *m);
void belt__metrics_release(struct belt_metrics *m, struct belt_metrics_shard *s);
/* Observe a duration in a histogram (single writer). */
void belt__histogram_observe(struct belt_histogram *h, int64_t us);
/* Index of an HTTP status in belt__metrics_codes (the last slot for others). */
size_t belt__metrics_code_index(int status);

#endif
