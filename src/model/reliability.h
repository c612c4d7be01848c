/*
 * reliability.h — the pure decision logic of a model call's reliability, kept apart from I/O
 * so it can be unit-tested (STYLE 47): retry backoff with jitter and Retry-After, which
 * upstream outcomes are retried or fall back to another model, the per-deployment circuit
 * breaker, and the weighted choice among deployments.
 */
#ifndef BELT_MODEL_RELIABILITY_H
#define BELT_MODEL_RELIABILITY_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

/* ---- backoff ------------------------------------------------------------------------------ */

/* Delay before retry number `retry` (0 = the first retry): exponential, base_ms * 2^retry capped
 * at max_ms, with "equal jitter" — half fixed, half uniform — so that retries of many calls
 * spread out but never come back immediately. u is uniform in [0, 1). */
int64_t belt__backoff_ms(int retry, int64_t base_ms, int64_t max_ms, double u);

/* Parse a Retry-After header value: delay-seconds ("120", "1.5" accepted) or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"), relative to now_wall_ms (Unix ms). Returns 0 and sets
 * *out_ms (>= 0), or -1 if the value is malformed. */
int belt__retry_after_parse(const char *value, int64_t now_wall_ms, int64_t *out_ms);

/* The delay actually waited: the server's Retry-After when it sent one (honoured as given,
 * even when longer than the backoff), else the jittered backoff. -1 when Retry-After exceeds
 * max_wait_ms (the caller then falls back instead of waiting). */
int64_t belt__retry_delay_ms(int retry, int64_t base_ms, int64_t max_ms, double u,
                             int64_t retry_after_ms, int64_t max_wait_ms);

/* ---- outcomes ----------------------------------------------------------------------------- */

/* How one attempt ended, as far as retrying is concerned. */
enum belt_outcome {
    BELT_OUTCOME_OK = 0,       /* an answer */
    BELT_OUTCOME_RETRY = 1,    /* transient: retry the same model (then fall back) */
    BELT_OUTCOME_FALLBACK = 2, /* this model cannot answer: do not retry, try the next model */
    BELT_OUTCOME_FATAL = 3     /* the request itself is wrong (or cancelled): stop */
};

/* Classify an attempt from its status (BELT_OK, BELT_ERR_TIMEOUT, BELT_ERR_IO for connection
 * failures, BELT_ERR_UPSTREAM for garbage, BELT_ERR_CANCELLED, ...) and the upstream HTTP
 * status (0 when no response arrived). 408/409/429/5xx and network errors retry; 401, 403 and
 * 404 fall back (another provider may be configured right); other 4xx are fatal. */
enum belt_outcome belt__outcome_classify(belt_status st, int http_status);
/* Whether the outcome counts against the deployment's circuit breaker (network errors,
 * timeouts, 429 and 5xx do; a 4xx caused by the request does not). */
int belt__outcome_is_failure(belt_status st, int http_status);

/* ---- circuit breaker ---------------------------------------------------------------------- */

enum belt_breaker_state {
    BELT_BREAKER_CLOSED = 0,   /* traffic flows */
    BELT_BREAKER_OPEN = 1,     /* taken out after `threshold` consecutive failures */
    BELT_BREAKER_HALF_OPEN = 2 /* cooldown over: one probe request at a time decides */
};

/* Plain state, no locking (the owner serialises access). */
struct belt_breaker {
    int state;           /* enum belt_breaker_state */
    int64_t failures;    /* consecutive failures while closed */
    int64_t threshold;   /* failures that open it; 0 = never opens */
    int64_t cooldown_us; /* time open before a probe */
    int64_t opened_us;   /* when it last opened */
    int64_t probe_us;    /* when the current probe started; 0 = no probe in flight */
    int64_t n_opened;    /* times it opened (metrics) */
};

void belt__breaker_init(struct belt_breaker *b, int64_t threshold, int64_t cooldown_ms);
/* May a request go to this deployment now? Closed: yes. Open: no until the cooldown passed,
 * then it turns half-open and this caller becomes the probe (*is_probe = 1). Half-open: no
 * while a probe is in flight (a probe older than the cooldown is presumed lost). is_probe may
 * be NULL. */
int belt__breaker_allow(struct belt_breaker *b, int64_t now_us, int *is_probe);
/* Whether allow() would say yes, without changing anything (for choosing among deployments). */
int belt__breaker_would_allow(const struct belt_breaker *b, int64_t now_us);
/* Record the end of a request let through by allow(): failed = 1 counts a failure (see
 * belt__outcome_is_failure). A failed probe reopens the breaker; a good one closes it. */
void belt__breaker_record(struct belt_breaker *b, int failed, int64_t now_us);
/* A request let through ended without a verdict (cancelled): release the probe slot. */
void belt__breaker_release(struct belt_breaker *b, int was_probe);

/* ---- weighted choice ---------------------------------------------------------------------- */

/* Pick an index among n with probability proportional to weights[i], skipping those with
 * eligible[i] == 0 or weight <= 0; u is uniform in [0, 1). Returns -1 when none is eligible. */
int belt__weighted_pick(const double *weights, const unsigned char *eligible, size_t n, double u);

#endif
