/*
 * exec_int.h — private layout of a route call, shared by exec.c (lifecycle, driving the policy),
 * exec_calls.c (the model calls an action needs and their answers) and exec_path.c (the path,
 * the answer struct, JSON, the trace record). Not for use outside src/route/exec*.c.
 *
 * Thread rule: a route call and everything it points to belong to its loop's thread.
 */
#ifndef BELT_ROUTE_EXEC_INT_H
#define BELT_ROUTE_EXEC_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "route/exec.h"
#include "route/policy.h"

struct event;
struct belt_route_call;

/* The answers of one policy action (one model, n answers), kept until the call ends because
 * the policy borrows them. */
struct rc_group {
    struct rc_group *next;       /* older groups */
    int purpose;                 /* 0: answer the task; else enum belt__need_kind */
    size_t model;                /* model called (config index) */
    int n;                       /* answers wanted */
    int pending;                 /* calls in flight */
    int live;                    /* 1: this call streams live to the client */
    int64_t latency_us;          /* the longest of its calls (they run in parallel) */
    struct belt__answer *ans;    /* n answers for the policy (strings borrow from copies) */
    struct belt_answer **src;    /* per answer: the model answer it came from, or NULL */
    struct belt_answer **copies; /* owned model answers */
    int n_copies, cap_copies;
    char **notes; /* owned failure texts (n entries, NULL when unused) */
};

/* One model call in flight. */
struct rc_slot {
    struct rc_slot *prev, *next; /* the route call's in-flight list */
    struct belt_route_call *rc;  /* owner */
    struct rc_group *g;          /* answers go to g->ans[first .. first + want) */
    struct belt_call *call;      /* the model call (valid until its answer) */
    int first, want;             /* answer slots this call fills */
    int choices;                 /* 1: want > 1 answers are the call's choices ("n") */
    int skip_first;              /* replay samples: choice 0 repeats the tier's answer */
    int cancel_sent;             /* belt_call_cancel was called */
};

/* Calls accumulated for the tier being judged, attributed to its path step. */
struct rc_acc {
    int active;                /* something was accumulated */
    size_t route, tier, model; /* the tier (route index, position) and its model */
    int depth;                 /* frame depth */
    double cost_usd;           /* spent */
    int64_t latency_us;        /* summed over sequential calls */
    int calls, attempts;       /* model calls and their attempts */
    int64_t input_tokens, output_tokens;
    struct belt_route_signals sig; /* signal values */
};

struct belt_route_call {
    struct belt_loop *l;                 /* borrowed */
    struct belt_route_call *prev, *next; /* the loop's list */
    /* what was asked */
    char *name;     /* owned */
    int is_model;   /* the name is a plain model */
    size_t route;   /* route index (routes) */
    size_t model;   /* model index (is_model) */
    json_t *req;    /* owned reference */
    char *req_json; /* owned serialisation as given (pass-through), or NULL */
    size_t req_len;
    char *text; /* the task's text (owned) */
    size_t text_len;
    char *stakes; /* owned or NULL */
    char **tags;  /* owned */
    size_t n_tags;
    char *key_name, *key_id; /* owned or NULL */
    char trace_id[33];
    int stream, trace;
    int64_t timeout_ms, start_us, ts_ms;
    belt_route_chunk_fn *on_chunk;
    belt_route_answer_fn *on_answer;
    void *ud;
    /* the policy */
    struct belt__model_estimate *est; /* per model (owned) */
    struct belt__route_env env;
    struct belt__route_run run;
    size_t steps_seen; /* policy steps already turned into path steps */
    /* calls */
    struct rc_group *groups; /* every group, newest first (owned) */
    struct rc_slot *slots;   /* calls in flight (owned) */
    size_t n_slots;
    struct rc_acc acc;
    /* the path */
    struct belt_route_step path[BELT__ROUTE_MAX_PATH];
    size_t n_path, n_path_total;
    double cost_usd;
    int64_t input_tokens, output_tokens;
    int n_calls;
    /* streaming */
    int64_t n_live_chunks; /* chunks delivered live */
    int stream_broken;     /* a live stream failed after its first chunk */
    /* lifecycle */
    struct event *defer_ev; /* delivers from the loop (owned) */
    struct event *timer_ev; /* the deadline (owned) */
    int in_start, in_user_cb, cancel_requested, cancelling, timed_out, concluded;
    int in_abort;            /* inside belt__rc_abort's cancellation loop */
    int synth_done;          /* the synthesised stream was delivered */
    belt_status fail_status; /* the last failed call (for a failed outcome) */
    int fail_http;
    char fail_msg[300];
    belt_status status;
    int http_status;
    char error[512];
    enum belt_route_outcome outcome;
    const struct belt_answer *final; /* borrowed from a group, or NULL */
    int final_tier;
};

/* ---- exec_calls.c ----------------------------------------------------------------------- */

/* Start the model calls of action act (a new group). Returns 1 when calls are in flight, 0
 * when none could start (every answer was filled as a failure: feed the group now). *out
 * receives the group. */
int belt__rc_start_action(struct belt_route_call *rc, const struct belt__route_action *act,
                          struct rc_group **out);
/* The verifier's score in an answer: a number in [0, 1] ("0.8", "80%", "8/10"), yes/no words,
 * or a classifier's label with its confidence. NAN when none. */
double belt__rc_parse_score(const struct belt_answer *a);
/* The first node of kind `kind` in condition c (PEER: the one naming `model`), or NULL. */
const struct belt__accept *belt__rc_find_accept(const struct belt__accept *c,
                                                enum belt__accept_kind kind, size_t model);
/* Cancel every call in flight (their answers are ignored). */
void belt__rc_cancel_slots(struct belt_route_call *rc);
/* Called by exec_calls.c when a group has all its answers. */
void belt__rc_group_done(struct belt_route_call *rc, struct rc_group *g);
/* A call of rc's group answered with a cancellation nobody asked for, or a live stream
 * broke: end the route call. */
void belt__rc_abort(struct belt_route_call *rc, belt_status st, int http, const char *msg);
/* Deliver the concluded route call (synthesised stream, trace, on_answer), now or from the
 * loop when inside belt_route_call_start. */
void belt__rc_finish_up(struct belt_route_call *rc);
/* Deliver a live chunk to the client. */
void belt__rc_live_chunk(struct belt_route_call *rc, const struct belt_chunk *ck);
void belt__rc_groups_free(struct rc_group *g);

/* ---- exec_path.c ------------------------------------------------------------------------ */

/* Append a path step (NULL when the path is full: counted only). */
struct belt_route_step *belt__rc_path_push(struct belt_route_call *rc, const char *event);
/* Turn the policy steps recorded since the last call into path steps. */
void belt__rc_absorb_steps(struct belt_route_call *rc);
/* A path step for the accumulated tier calls (event "answered" etc.) and reset the
 * accumulator. */
void belt__rc_flush_acc(struct belt_route_call *rc, const char *event, const char *reason);
/* Fill the public answer struct from the route call (borrowing from it). */
void belt__rc_fill_answer(const struct belt_route_call *rc, struct belt_route_answer *a);
/* Signals with every value absent. */
struct belt_route_signals belt__rc_no_signals(void);

#endif
