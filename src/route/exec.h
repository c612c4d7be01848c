/*
 * exec.h — the live route executor (public API in belt.h, "Running a route live"): internal
 * pieces shared by the executor (exec.c), its model-call helpers (exec_calls.c), the path and
 * trace rendering (exec_path.c), the engine-wide route state (exec_state.c), and the front ends
 * that record traces themselves (the gateway).
 *
 * Engine-wide state (struct belt__route_engine, one per engine, made by belt_engine_new): the
 * learned routers of the configuration (loaded once), and per model an exponentially weighted
 * moving average of call latency and of output tokens, which feed least-latency balance and
 * the budget estimates. Updated lock-free (C11 atomics) by every loop thread.
 *
 * Thread rule: a belt__route_engine is shared by all threads (routers immutable, statistics
 * atomic). A belt_route_call belongs to its loop's thread.
 */
#ifndef BELT_ROUTE_EXEC_H
#define BELT_ROUTE_EXEC_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "config/config.h"
#include "route/policy.h"

struct belt__models;
struct belt_trace_rec;

/* Output tokens assumed for a model's answer before any was observed and when the request sets
 * no max_tokens (budget estimates only). */
#define BELT__ROUTE_PRIOR_OUT_TOKENS 256
/* Weight of a new observation in the moving averages (1/8). */
#define BELT__ROUTE_EWMA_SHIFT 3
/* Path steps kept per route call (more are counted). */
#define BELT__ROUTE_MAX_PATH 64

/* Running statistics of one model. */
struct belt__model_stat {
    _Atomic int64_t latency_us;   /* EWMA of call latency, failures included; 0: none yet */
    _Atomic int64_t out_tokens16; /* EWMA of output tokens of successful calls, ×16 */
    _Atomic uint64_t n_ok;        /* successful calls observed */
    _Atomic uint64_t n;           /* calls observed */
};

struct belt__route_engine {
    const struct belt_config *cfg;  /* borrowed */
    const struct belt__models *ms;  /* borrowed: the engine's runtime models */
    struct belt_router **routers;   /* per route: its learned router or NULL (owned) */
    struct belt__model_stat *stats; /* per model (owned) */
    size_t n_models;                /* entries of stats */
};

/* Load the router of every learned route (a missing or mismatched router file is an error
 * naming the route) and set up the statistics. *out owned (belt__route_engine_free). */
belt_status belt__route_engine_new(const struct belt_config *cfg, const struct belt__models *ms,
                                   struct belt__route_engine **out, struct belt_error *err);
/* NULL is a no-op. */
void belt__route_engine_free(struct belt__route_engine *re);
/* Record one call of model m: its latency, output tokens, and whether it succeeded. */
void belt__route_observe(struct belt__route_engine *re, size_t m, int64_t latency_us,
                         int64_t out_tokens, int ok);
/* Fill est[0..n_models) for a request: expected cost (price × estimated input tokens + expected
 * output tokens; recorded cost for replay models) and latency (moving average; recorded for
 * replay models; 0 when unknown, so never skipped). text = the task's text (replay lookup). */
void belt__route_estimates(const struct belt__route_engine *re, const json_t *request,
                           const char *text, size_t len, struct belt__model_estimate *est);

/* Cancel every route call of loop l (each gets its answer with BELT_ERR_CANCELLED,
 * synchronously); for belt_loop_free, before the loop's model calls are cancelled. */
void belt__route_calls_cancel_all(struct belt_loop *l);

/* The trace record of a route answer: route, answering model, status ("ok", "escalated",
 * "budget", "error", "cancelled"), usage, cost, latency, one step per path line (tier, model or
 * target, event as status, the reason, confidence, cost, latency, tokens) and the path as
 * attrs {"route": {...}} (belt_route_answer_json). Room for extra_steps more steps is left
 * at the end. The caller sets id (a->trace_id is copied), ts_ms (set to now - latency),
 * kind ("chat"), key_id, http_status (set to a->http_status), and submits it with
 * belt__trace_submit. Names are borrowed from the engine's configuration. NULL when out of
 * memory. */
struct belt_trace_rec *belt__route_trace_rec(const struct belt_engine *e,
                                             const struct belt_route_answer *a, size_t extra_steps);

#endif
