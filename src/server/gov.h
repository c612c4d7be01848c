/*
 * gov.h — governance inside the gateway (issue 6): the server-wide guard and key service, the
 * audit trail and every other store access of a request, which never touch the disk on a loop
 * thread. Store work runs on the engine's writer thread as jobs:
 *   - audit events of a request (model call, routing decision, guard decisions) are queued as one
 *     job appended with belt_audit_append_batch inside the writer's batch transaction;
 *   - tasks (review add/list/get/decide, key spend flush) run outside the batch transaction
 *     (BELT_WRITE_OWN_TX) and their result comes back to the loop's thread through the loop's
 *     mailbox (an eventfd watched by the loop), where `done` runs.
 * The writer's audit handle (struct belt_audit) is opened lazily on the writer thread on the
 * writer's own connection and closed there when the server is freed.
 *
 * Thread rule: struct srv_gov is created and freed by the thread owning the server; `guard` and
 * `keys` are thread-safe; `audit` is touched by the writer thread only; a mailbox is written by
 * the writer and drained by its loop.
 */
#ifndef BELT_SERVER_GOV_H
#define BELT_SERVER_GOV_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "belt.h"
#include "engine/metrics.h"
#include "trace/writer.h"

struct belt_server;
struct srv_loop;

/* One audit event of a request, in one heap block (one free on the writer thread). Its data
 * is JSON text, or, for the model call of every request, the fields to render on the writer
 * (so that the loop formats no number). */
struct srv_audit_ev {
    struct srv_audit_ev *next;                /* list link */
    int64_t ts_ms;                            /* when it happened */
    const char *kind;                         /* into text */
    const char *actor;                        /* into text, or NULL */
    const char *subject;                      /* into text, or NULL */
    const char *data_json;                    /* into text (an object), or NULL: `call` below */
    struct {                                  /* "model.call" data when data_json is NULL */
        const char *route, *model, *key_name; /* into text; model may be NULL */
        double cost_usd;
        int http_status, stream;
        int64_t input_tokens, output_tokens;
    } call;
    char text[]; /* the strings */
};

/* Audit events, oldest first. */
struct srv_audit_list {
    struct srv_audit_ev *head; /* NULL when empty */
    struct srv_audit_ev *tail;
    size_t n;
};
struct srv_task;
struct event;
struct evhttp_request;
struct belt_buf;

struct srv_gov {
    const struct belt_config *cfg; /* borrowed (the engine's) */
    struct belt_guard *guard;      /* owned: injection rules/classifiers, PII detectors */
    struct belt_keys *keys;        /* owned; NULL without a store */
    int keys_required;             /* guard.keys.required */
    struct belt_audit *audit;      /* writer thread only; opened by the first job; owned */
    int audit_failed;              /* opening it failed once (logged; not retried) */
    struct belt_writer *writer;    /* the engine's (borrowed); NULL without a store */
    struct event *flush_ev;        /* periodic key spend flush (loop 0's base) */
    atomic_long n_pending;         /* tasks submitted and not yet back in a mailbox */
    unsigned char csrf_key[32];    /* per-process secret of the review page's form tokens */
    pthread_mutex_t aq_lock;       /* guards aq and aq_job */
    struct srv_audit_list aq;      /* audit events waiting for the writer */
    int aq_job;                    /* a flush job is in the writer's queue */
    int aq_inited;                 /* aq_lock was initialised */
};

/* Work on the writer thread: return the status (err filled on failure). */
typedef belt_status srv_task_run_fn(struct srv_task *t, struct belt_store *st,
                                    struct belt_audit *audit, struct belt_error *err);
/* Back on the loop's thread: use t->status / t->err, then free t (the whole struct it is
 * embedded in). `alive` is 0 when the loop is being torn down: free only, reply nothing. */
typedef void srv_task_done_fn(struct srv_task *t, int alive);

/* Embed first in a struct of your own; fill run, done; submit with belt__srv_task_submit. */
struct srv_task {
    struct belt_write_job job; /* the writer's link (first member) */
    struct srv_gov *gov;       /* set by submit */
    struct srv_mailbox *mb;    /* set by submit: where it comes back */
    struct srv_task *mb_next;  /* mailbox queue */
    srv_task_run_fn *run;      /* required */
    srv_task_done_fn *done;    /* required */
    int needs_audit;           /* run gets the audit handle (NULL if it cannot be opened) */
    belt_status status;        /* what run returned; BELT_ERR_BUSY when the writer dropped it */
    struct belt_error err;     /* run's error */
};

/* A loop's mailbox: completed tasks waiting for the loop's thread. */
struct srv_mailbox {
    pthread_mutex_t lock;  /* guards head/tail */
    struct srv_task *head; /* completed tasks, oldest first */
    struct srv_task *tail; /* last */
    int fd;                /* eventfd the writer signals */
    struct event *ev;      /* reads fd on the loop */
};

/* Governance counters of one loop (single writer: the loop; /metrics sums the loops). */
struct srv_gov_counters {
    belt_counter auth_refused[4]; /* 401, 403, 429 rate limit, 429 budget */
    belt_counter injection[2][5]; /* detections by [source][enum belt_guard_action taken] */
    belt_counter pii_values;      /* values replaced by placeholders */
    belt_counter pii_requests[5]; /* requests with PII bound for an untrusted model, by action */
    belt_counter canary_leaks[3]; /* answers leaking the canary, by action (none/flag/block) */
    belt_counter reviews_created; /* requests parked for a person (202) */
    belt_counter reviews_decided; /* decisions taken over HTTP */
    belt_counter audit_events;    /* events queued to the audit log */
};

#define SRV_ROUTE_TIERS 8 /* tiers counted individually in belt_route_answered_total */

/* Counters of one route on one loop (the requested route's name is the label). */
struct srv_route_counters {
    belt_counter requests;                     /* requests for the route */
    belt_counter errors;                       /* of which ended in an error status */
    belt_counter streams;                      /* of which streamed */
    belt_counter outcomes[4];                  /* by enum belt_route_outcome */
    belt_counter escalations;                  /* tiers whose answer was not accepted */
    belt_counter budget_skips;                 /* tiers skipped for the budget */
    belt_counter answered_at[SRV_ROUTE_TIERS]; /* answers accepted at tier i (0-based) */
    belt_counter calls;                        /* model calls made */
    belt_counter cost_nusd;                    /* total cost, nano-USD */
    struct belt_histogram latency;             /* end-to-end latency */
};

/* A request's authorisation: the key's grant (a reservation to settle exactly once). */
struct srv_auth {
    struct belt_auth_grant grant; /* key id/name, reservation; zero when anonymous */
    int granted;                  /* 1 while the reservation is unsettled */
};

/* ---- auth.c ---------------------------------------------------------------------------------- */

/* The presented key (Bearer, Basic password, or x-api-key) into out; 1 if there is one. The
 * caller wipes out after use. */
int belt__srv_presented_key(struct evhttp_request *hr, char *out, size_t cap);
/* Authorise a request (req->key is filled here). Returns 0 to go on (out->granted tells
 * whether a key was checked and a reservation taken) or -1 after answering 401 / 403 / 429
 * (with Retry-After; WWW-Authenticate Basic when basic_realm, for browsers). */
int belt__srv_auth(struct srv_loop *sl, struct evhttp_request *hr, int ep,
                   struct belt_auth_request *req, struct srv_auth *out, int basic_realm);
/* Charge real usage and release the reservation; a no-op when not granted (exactly once). */
void belt__srv_settle(struct srv_loop *sl, struct srv_auth *a, double cost_usd, int64_t tokens);
/* 1 if the authorised key's name matches server.reviewers. */
int belt__srv_is_reviewer(const struct belt_server *s, const struct srv_auth *a);

/* ---- gov_metrics.c ------------------------------------------------------------------------------
 */

/* Append the governance and route metrics of every loop (Prometheus text) to b. */
void belt__srv_gov_metrics(const struct belt_server *s, struct belt_buf *b);

/* Create the guard and the key service from the engine's configuration. Errors: the guard's
 * (a classifier file), BELT_ERR_CONFIG when keys are required but there is no store, the key
 * service's (secret file). */
belt_status belt__srv_gov_init(struct belt_server *s, struct srv_gov *g, struct belt_error *err);
/* Start the periodic spend flush on loop 0 (after the loops exist). */
belt_status belt__srv_gov_start(struct belt_server *s, struct belt_error *err);
/* Stop the spend flush timer and wait (bounded) until every submitted task came back; returns
 * 0 when none is left. First thing when the server is freed (before the loops). */
int belt__srv_gov_quiesce(struct srv_gov *g, int64_t timeout_ms);
/* Close the audit handle on the writer, flush spend, free everything. */
void belt__srv_gov_free(struct srv_gov *g);

belt_status belt__srv_mailbox_init(struct srv_loop *sl, struct belt_error *err);
/* Run the done of every completed task with alive = 0 and release the mailbox. */
void belt__srv_mailbox_deinit(struct srv_loop *sl);

/* Queue t on the writer for loop sl (urgent: a request waits). Returns 0; when there is no
 * writer, t->done runs later on the loop with BELT_ERR_UNSUPPORTED. */
int belt__srv_task_submit(struct srv_loop *sl, struct srv_task *t);

/* Queue audit events (taken: the list is left empty) to be appended by the writer in its next
 * batch. Without a writer they are freed. */
void belt__srv_audit_submit(struct srv_gov *g, struct srv_audit_list *events);
/* Append one event {kind, actor (may be NULL), subject (may be NULL), data (stolen, may be
 * NULL: {})} to `events`. Dropped (logged) when out of memory or not valid UTF-8. */
void belt__srv_audit_add(struct srv_audit_list *events, const char *kind, const char *actor,
                         const char *subject, json_t *data);
/* Append the "model.call" event of a request: data {route, model (omitted when NULL),
 * http_status, cost_usd, input_tokens, output_tokens, stream, key_name}, rendered on the writer. */
void belt__srv_audit_add_call(struct srv_audit_list *events, const char *actor, const char *subject,
                              const char *route, const char *model, int http_status,
                              double cost_usd, int64_t input_tokens, int64_t output_tokens,
                              int stream, const char *key_name);
/* Free the events of a list (not submitted) and empty it. */
void belt__srv_audit_clear(struct srv_audit_list *events);

#endif
