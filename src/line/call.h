/*
 * call.h — how a station asks a route (or a plain model) for an answer: one asynchronous call
 * on a belt_loop through the live route executor (belt_route_call_start), reduced to what a
 * station needs — the content or label, the confidence, who answered at which tier, cost,
 * latency, whether the route accepted the answer, and the route's path as JSON for the item's
 * path and trace.
 *
 * Thread rule: a call belongs to its loop's thread. Async rule: an error from
 * belt__lcall_start means no callback; otherwise the callback runs exactly once, later.
 */
#ifndef BELT_LINE_CALL_H
#define BELT_LINE_CALL_H

#include <jansson.h>
#include <stdint.h>

#include "belt.h"

struct belt__lcall;

/* Everything is borrowed for the duration of the callback. */
struct belt__lcall_result {
    belt_status status;  /* BELT_OK when the route ended as designed (even unresolved) */
    const char *error;   /* "" when ok */
    int resolved;        /* 1: an answer was accepted */
    const char *outcome; /* "answered", "unresolved", "budget", "failed" */
    const char *content; /* answer text ("" when none) */
    size_t content_len;
    const char *label; /* classifier label, or NULL */
    double confidence; /* -1 when none */
    const char *model; /* model whose answer this is, or NULL */
    int tier;          /* 0-based tier of the route called, -1 when none */
    double cost_usd;   /* over every call of the route */
    int64_t latency_us;
    int64_t input_tokens, output_tokens;
    int n_escalations;   /* tiers that escalated inside the route */
    const char *why;     /* unresolved / failed: the last step's reason ("" when none) */
    const json_t *steps; /* the route's path: array of {event, tier, model, reason,
                            confidence?, cost_usd} (borrowed; may be empty) */
};

typedef void belt__lcall_fn(void *ud, const struct belt__lcall_result *r);

/* Start a call of route or model `name` with an OpenAI chat request (a reference is taken).
 * `text` (may be NULL) is the task text the route's rules and router see. */
belt_status belt__lcall_start(struct belt_loop *l, const char *name, json_t *request,
                              const char *text, belt__lcall_fn *cb, void *ud,
                              struct belt__lcall **out, struct belt_error *err);
/* Cancel: the callback runs with BELT_ERR_CANCELLED (now, or right after the current callback). */
void belt__lcall_cancel(struct belt__lcall *c);

#endif
