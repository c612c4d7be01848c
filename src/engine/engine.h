/*
 * engine.h — internal layout of the engine and of a loop (public handles in belt.h, section
 * "Gateway"). The engine composes what every front end shares: configuration, runtime models
 * (src/model), the store writer and traces (src/trace), the response cache (src/cache) and the
 * metrics; a loop is the engine on one event_base: its upstream client (src/upstream), its
 * random generator, its metrics shard and its calls.
 *
 * Thread rule: engine fields are immutable after belt_engine_new, except through the
 * thread-safe modules they point to. A loop belongs to its event_base's thread.
 */
#ifndef BELT_ENGINE_ENGINE_H
#define BELT_ENGINE_ENGINE_H

#include <stdint.h>

#include "belt.h"
#include "cache/cache.h"
#include "config/config.h"
#include "engine/metrics.h"
#include "model/model.h"
#include "trace/trace.h"
#include "trace/writer.h"
#include "upstream/upstream.h"
#include "util/rng.h"

struct belt_engine {
    const struct belt_config *cfg;     /* borrowed */
    struct belt__models models;        /* runtime models */
    char *store_path;                  /* owned; NULL: no store */
    struct belt_writer *writer;        /* owned; NULL without a store */
    struct belt_cache *cache;          /* owned; NULL when the cache is off */
    int trace_on;                      /* write traces */
    _Atomic uint64_t traces_pruned;    /* deleted by server.trace_retention (writer thread) */
    struct belt_metrics metrics;       /* sharded counters */
    struct belt__route_engine *routes; /* owned: routers and model statistics (route/exec.h) */
};

struct belt_call;
struct belt__route_engine;

struct belt_loop {
    struct belt_engine *e;               /* borrowed */
    struct event_base *base;             /* borrowed */
    struct belt_upstream *up;            /* owned: pooled connections of this thread */
    struct belt_rng rng;                 /* jitter, deployment choice, trace ids */
    struct belt_metrics_shard *shard;    /* this loop's counters */
    struct belt_call *calls;             /* live calls (call.c), doubly linked */
    size_t n_calls;                      /* their number */
    struct event *defer_ev;              /* runs deferred call work on the next loop turn */
    struct belt_call *ready;             /* calls with deferred work (call.c) */
    struct belt_route_call *route_calls; /* live route calls (route/exec.c), doubly linked */
    struct belt_call *free_calls;        /* recycled call objects (call.c), singly linked */
    size_t n_free_calls;                 /* their number (at most BELT__CALL_POOL_MAX) */
};

/* Deferred work of calls (call.c): run by the loop's defer event. */
void belt__calls_run_deferred(struct belt_loop *l);
/* Cancel every call of the loop (call.c), for belt_loop_free. */
void belt__calls_cancel_all(struct belt_loop *l);
/* Free the loop's recycled call objects (call.c), for belt_loop_free after cancel_all. */
void belt__calls_pool_clear(struct belt_loop *l);
/* A new trace id: 32 lowercase hex digits + NUL, time-ordered (48-bit ms prefix). */
void belt__loop_trace_id(struct belt_loop *l, char out[33]);

#endif
