/*
 * server.h — internal layout of the HTTP gateway (public handle: belt_server in belt.h).
 * One event loop per thread, each with its own evhttp and belt_loop; the listening socket is
 * shared through SO_REUSEPORT (one socket per loop, the kernel spreads connections) or, when
 * server.reuseport is off, one socket dup'ed into every loop (each loop accepts from it).
 * Requests in progress are tracked per loop so a graceful stop can wait for them.
 *
 * Thread rule: a srv_loop and everything hanging off it belong to its thread; the only
 * cross-thread operation is belt_server_stop, which writes one byte to each loop's pipe.
 */
#ifndef BELT_SERVER_SERVER_H
#define BELT_SERVER_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>

#include "belt.h"
#include "cache/cache.h"
#include "engine/engine.h"
#include "server/gov.h"
#include "util/buf.h"

struct belt_server;
struct srv_req;

enum belt_srv_cache_state { CACHE_OFF = 0, CACHE_MISS, CACHE_HIT, CACHE_BYPASS };

struct srv_loop {
    struct belt_server *s;             /* owner */
    int index;                         /* 0..n-1 */
    struct event_base *base;           /* owned */
    struct evhttp *http;               /* owned */
    struct evhttp_bound_socket *bound; /* accepting socket (owned by http) */
    struct belt_loop *loop;            /* the engine on this base */
    int stop_pipe[2];                  /* belt_server_stop writes here */
    struct event *stop_ev;             /* reads the pipe */
    struct event *grace_ev;            /* shutdown timeout */
    struct srv_req *reqs;              /* requests in progress (doubly linked) */
    size_t n_reqs;                     /* their number */
    size_t n_flushing;                 /* replies handed to evhttp and not yet written out */
    int draining;                      /* stop accepting, exit when idle */
    int grace_over;                    /* shutdown_timeout passed: calls were cancelled */
    pthread_t thread;                  /* loops 1..n-1 */
    int thread_started;
    struct srv_mailbox mb;             /* store tasks coming back from the writer */
    struct srv_gov_counters gc;        /* governance metrics of this loop */
    struct srv_route_counters *routes; /* one per configured route (owned), or NULL */
    int torn_down;                     /* loop_deinit started: start no new store work */
    char date[32];                     /* the Date header of this second (http.c) */
    int64_t date_s;                    /* the second it is for */
    struct event *flush_ev;            /* writes the replies of this turn (http.c) */
    struct bufferevent **flush;        /* their connections, each with a reference we hold */
    size_t n_flush, cap_flush;         /* how many, room */
};

struct belt_server {
    struct belt_engine *e;             /* borrowed */
    const struct belt_cfg_server *cfg; /* borrowed from the engine's config */
    struct srv_loop *loops;            /* owned array */
    int n_loops;
    int port;                       /* bound port */
    volatile sig_atomic_t stopping; /* belt_server_stop was called */
    int running;                    /* inside belt_server_run */
    char server_header[32];         /* "belt/VERSION" */
    int no_watch;                   /* BELT_NO_WATCH was set at start: no EV_CLOSED watchers */
    struct srv_gov gov;             /* guard, keys, audit, store tasks */
};

/* One request in progress (chat or embeddings). */
struct srv_req {
    struct srv_loop *sl;            /* owner loop */
    struct srv_req *prev, *next;    /* the loop's list */
    struct evhttp_request *hr;      /* evhttp request; NULL once the client went away */
    struct evhttp_connection *conn; /* its connection (for the close callback) */
    struct event *close_ev;         /* EV_CLOSED watcher on the connection's socket, or NULL */
    struct belt_call *call;         /* the model call, NULL when none */
    json_t *body;                   /* parsed request body */
    const char *route;              /* requested model (inside body) */
    size_t model_index;             /* index of the requested model */
    int kind;                       /* BELT_CALL_CHAT / BELT_CALL_EMBEDDINGS */
    int endpoint;                   /* enum belt_endpoint */
    char trace_id[33];              /* 32 hex */
    int64_t start_us;               /* request start (monotonic) */
    int64_t ts_ms;                  /* request start (wall) */
    int stream;                     /* client asked for SSE */
    int include_usage;              /* client asked for the usage chunk */
    int sse_started;                /* SSE headers sent */
    int client_gone;                /* the connection closed before the answer */
    int cache_state;                /* enum belt_srv_cache_state */
    unsigned char key[BELT_CACHE_KEY_LEN]; /* cache key when cacheable */
    int store_in_cache;                    /* write the answer to the cache */
    struct belt_buf sse_copy;              /* SSE bytes sent, kept for the cache (bounded) */
    int final_status;                      /* HTTP status the client got (499: gone) */
    /* governance */
    struct srv_auth auth;               /* the key's grant (settled exactly once) */
    const struct belt_cfg_route *rcfg;  /* the route asked for; NULL for a plain model */
    int trusted;                        /* every model the request can reach may see raw PII */
    struct belt_pii_map *pii;           /* placeholders of this request; NULL when none */
    struct srv_out *out;                /* output guard state of a stream, or NULL */
    char canary[48];                    /* canary token looked for in the answer; "" none */
    int canary_action;                  /* enum belt_guard_action when it leaks */
    int canary_seen;                    /* it leaked (recorded once) */
    int output_blocked;                 /* the answer was stopped by the output guard */
    int body_changed;                   /* body differs from the bytes received */
    struct srv_audit_list events;       /* audit events of this request (owned) */
    json_t *guard_attrs;                /* guard decisions for the trace (array, owned) */
    char review_id[BELT_REVIEW_ID_MAX]; /* the review it was parked as ("" none) */
    char error_code[40];                /* error code of a refusal by the gateway ("" none) */
    const char *trace_status;           /* static status word for the trace, or NULL */
    int cleared;   /* a review cleared it (x-belt-review): no injection check */
    int escalated; /* the injection guard escalated it to the route's strongest tier */
    /* routes (route_http.c) */
    size_t route_index;            /* index of rcfg in the routes: section */
    int use_route;                 /* run through the route executor (a route, or a model
                                      with a per-request budget) */
    struct belt_route_call *rcall; /* the route call in progress, or NULL */
    char *stakes;                  /* request metadata (owned), or NULL */
    char **tags;                   /* owned array of owned strings */
    size_t n_tags;
    double max_cost_usd;              /* x-belt-max-cost-usd; 0: none */
    int64_t max_latency_ms;           /* x-belt-max-latency-ms; 0: none */
    char *route_json;                 /* the route answer's path (belt_route_answer_json) */
    json_t *park_body;                /* the request before the canary, for a reviewer */
    struct belt_route_answer *parked; /* the route answer while the request is being parked */
};

/* ---- server.c: lifecycle ---------------------------------------------------------------- */

/* A request finished: unlink, and let a draining loop exit when it was the last. */
void belt__srv_req_done(struct srv_req *r);
/* Exit a draining loop once no request is running and every reply was written. */
void belt__srv_maybe_exit(struct srv_loop *sl);

/* ---- endpoints.c: the endpoint table and dispatch ----------------------------------------- */

/* A handler answers (now or later) the request hr of endpoint ep (enum belt_endpoint). */
typedef void belt__srv_handler_fn(struct srv_loop *sl, struct evhttp_request *hr, int ep);

enum {
    BELT_SRV_EP_PREFIX = 1u << 0, /* path ends in '/' and matches any longer path below it */
    BELT_SRV_EP_PUBLIC = 1u << 1  /* never needs an API key */
};

struct belt__srv_endpoint {
    const char *path;         /* exact path, or a prefix with BELT_SRV_EP_PREFIX */
    unsigned methods;         /* EVHTTP_REQ_* accepted */
    int ep;                   /* enum belt_endpoint (metrics label) */
    unsigned flags;           /* BELT_SRV_EP_* */
    belt__srv_handler_fn *fn; /* handler */
};

/* The generic request callback of every loop's evhttp. */
void belt__srv_dispatch(struct evhttp_request *hr, void *arg);

/* ---- http.c: replies ---------------------------------------------------------------------- */

/* Count a response in the per-endpoint metrics. */
void belt__srv_count_response(struct srv_loop *sl, int ep, int status);
/* {"error": {"message", "type", "param", "code"}} appended to b; type and code follow OpenAI's
 * for the status unless code_override (may be NULL) is given. msg and param may be NULL/any. */
void belt__srv_error_body(struct belt_buf *b, int status, const char *msg, const char *param,
                          const char *code_override);
/* Count a reply until evhttp has written it (a draining loop waits for it). */
void belt__srv_track_reply(struct srv_loop *sl, struct evhttp_request *hr);
/* Send a complete reply (body copied). Does not count it (see belt__srv_count_response). */
void belt__srv_send_body(struct srv_loop *sl, struct evhttp_request *hr, int status,
                         const char *ctype, const char *body, size_t len);
/* Send and count an OpenAI-style error reply (no model involved). */
void belt__srv_send_error(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                          const char *param, const char *fmt, ...) BELT_PRINTF(6, 7);
/* The same with an explicit error code ("prompt_injection_detected", ...). */
void belt__srv_send_error_code(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                               const char *code, const char *fmt, ...) BELT_PRINTF(6, 7);
/* The reason phrase of an HTTP status. Static. */
const char *belt__srv_reason(int status);
/* Set the Date header of a reply (formatted once per second per loop, so that evhttp does
 * not format its own on every reply). */
void belt__srv_set_date(struct srv_loop *sl, struct evhttp_request *hr);
/* The end-of-turn writer of complete replies (see http.c): create with the loop, and drop
 * what is still queued before the event base is freed. */
belt_status belt__srv_flush_init(struct srv_loop *sl, struct belt_error *err);
void belt__srv_flush_deinit(struct srv_loop *sl);

/* ---- request.c: requests in progress ------------------------------------------------------- */

/* A new request linked into the loop; NULL on OOM. */
struct srv_req *belt__srv_req_new(struct srv_loop *sl, struct evhttp_request *hr, int kind, int ep);
/* Unlink and free (the body, watchers, buffers). */
void belt__srv_req_free(struct srv_req *r);
/* The W3C trace id of a valid `traceparent` header, else a new random one. */
void belt__srv_req_trace_id(struct srv_req *r, struct evhttp_request *hr);
/* Watch for the client going away through evhttp's close callback (cancels r->call). */
void belt__srv_req_watch(struct srv_req *r);
/* Also watch the socket for the peer closing while the request is parked (EV_CLOSED), unless
 * BELT_NO_WATCH was set in the environment when the server started. */
void belt__srv_req_watch_close(struct srv_req *r);
/* Stop watching the connection (the reply is being sent). */
void belt__srv_req_unwatch(struct srv_req *r);
/* Cancel r's model call or route call (its answer callback runs and frees r). */
void belt__srv_req_cancel(struct srv_req *r);
/* Cancel the calls of every request in progress; their clients get a 503. */
void belt__srv_cancel_all(struct srv_loop *sl);
/* Read and parse the body: 413 past server.max_body, 400 for bad JSON or fields (answered and
 * counted). Returns the object (owned by the caller) or NULL after answering. */
json_t *belt__srv_read_body(struct srv_loop *sl, struct evhttp_request *hr, int ep, int kind);

/* ---- respond.c: answering model requests -------------------------------------------------- */

/* The x-belt-* headers of a model response (model NULL: the requested name). */
void belt__srv_model_headers(struct srv_req *r, struct evhttp_request *hr, const char *model,
                             const char *cost);
/* Send the SSE headers (first chunk, or a stream replayed from the cache). */
void belt__srv_sse_start(struct srv_req *r, const char *model);
/* Write raw SSE bytes (kept for the cache when the request stores its answer). */
void belt__srv_sse_write(struct srv_req *r, const char *data, size_t len);
/* Write one SSE event "data: <data>\n\n" (kept for the cache like belt__srv_sse_write). */
void belt__srv_sse_event(struct srv_req *r, const char *data, size_t len);
/* Relay one streamed chunk of a model or route call through the output guard (PII restored,
 * canary checked); `route` (or NULL) goes out as x-belt-route with the first chunk. Returns -1
 * when the guard stopped the stream — the caller cancels its call — else 0. */
int belt__srv_relay_chunk(struct srv_req *r, const struct belt_chunk *ck, const char *route);
/* End an SSE response: the cost as a comment, then [DONE], or an error event. */
void belt__srv_sse_finish(struct srv_req *r, const struct belt_answer *a);
/* A complete JSON answer (body[0..len), or a's own when body is NULL) or error (code
 * r->error_code when set). A stream that produced no chunk is sent as SSE. */
void belt__srv_send_answer(struct srv_req *r, const struct belt_answer *a, const char *body,
                           size_t len);

/* ---- cache_http.c: the response cache ------------------------------------------------------- */

/* Write a complete chat.completion (JSON text) as SSE events: the message, the finish reason,
 * the usage when the client asked (no [DONE]: the caller ends the stream). */
void belt__srv_sse_replay(struct srv_req *r, const char *body, size_t len);

/* Decide the request's cache state; returns 1 when it was answered from the cache. */
int belt__srv_try_cache(struct srv_req *r, struct evhttp_request *hr);
/* Store a fresh successful answer when the request may be cached. */
void belt__srv_cache_store(struct srv_req *r, const struct belt_answer *a);

/* ---- record.c: traces and metrics ---------------------------------------------------------- */

/* Queue the trace of a finished request (a may be NULL when no model answered). */
void belt__srv_submit_trace(struct srv_req *r, const struct belt_answer *a, belt_status st,
                            int http_status, const char *error, double cost, int64_t in,
                            int64_t out);
/* Count a finished model request (per requested model and per endpoint). */
void belt__srv_count_request(struct srv_req *r, int status, int64_t in, int64_t out, double cost);

/* ---- guard_http.c: the guards of a chat request -------------------------------------------- */

struct srv_out;
/* Injection check of user and third-party messages; returns the action to take (enum
 * belt_guard_action: the most serious over all messages, route overrides applied) with its
 * reason. Detections are recorded (audit, trace, metric). A guard error blocks. */
int belt__srv_guard_injection(struct srv_req *r, char *reason, size_t cap);
/* PII in text bound for a model that is not trusted: redact (r->pii), flag, or refuse (-1 with
 * the reason). 0 to go on. */
int belt__srv_guard_pii(struct srv_req *r, char *reason, size_t cap);
/* A canary in the system prompt (route guard.canary) or the client's (x-belt-canary). */
int belt__srv_guard_canary(struct srv_req *r, struct evhttp_request *hr);
/* A complete answer: restore placeholders, look for the canary. 0: send as is; 1: send out;
 * -1: blocked (canary leaked with action block). */
int belt__srv_guard_answer(struct srv_req *r, const json_t *resp, struct belt_buf *out);
/* One streamed chunk (JSON object): same contract, out is the rewritten JSON. */
int belt__srv_guard_chunk(struct srv_req *r, const json_t *chunk, struct belt_buf *out);
/* At the end of a stream: the held-back rest of every restorer as SSE events in out; 1 if any. */
int belt__srv_guard_stream_rest(struct srv_req *r, struct belt_buf *out);
/* Record a guard decision (audit event + trace attribute); data is stolen (may be NULL). */
void belt__srv_guard_record(struct srv_req *r, const char *what, const char *action, json_t *data);
void belt__srv_guard_out_free(struct srv_req *r);

/* ---- reviews.c: the review queue over HTTP ----------------------------------------------------
 */

/* What comes next for a chat request once it was parked or cleared; runs on the loop (alive 0:
 * the loop is being torn down, free r and answer nothing). st/msg: the store's verdict. */
typedef void srv_review_cont_fn(struct srv_req *r, int alive, belt_status st, const char *msg);
/* Answer a review request: status (HTTP), msg (the error, or NULL), doc (the review, the list
 * array, or NULL). Must not free r. */
typedef void srv_review_render_fn(struct srv_req *r, int status, const char *msg,
                                  const json_t *doc);

/* A stored review as the JSON the API returns (with "completion" once decided with an answer). */
json_t *belt__srv_review_json(const struct belt_review_record *rv);
/* Park chat request r for a person (source "route" or "guard"): payload (the request and who
 * sent it) and the best answer so far (may be NULL) are stored; then cont runs with
 * r->review_id set. -1 when it could not be queued (nothing runs). */
int belt__srv_park(struct srv_req *r, const char *source, const char *reason, const json_t *payload,
                   const json_t *answer, srv_review_cont_fn *cont);
/* Check that review `id` clears this guard-escalated request (decided, not rejected, same
 * request hash, unused) and mark it used; then cont runs. -1 when not queued. */
int belt__srv_clear(struct srv_req *r, const char *id, const char *request_sha256,
                    srv_review_cont_fn *cont);
/* Answer 202 with the review id, its URL (Location) and `extra` fields merged in. */
void belt__srv_send_parked(struct srv_req *r, const json_t *extra);
/* "PREFIX" + "ID[/ACTION]" of uri (prefix_len bytes skipped): id and action ("" none). */
int belt__srv_review_path(const char *uri, size_t prefix_len, char *id, size_t idcap, char *act,
                          size_t actcap);
/* Authorise a review request (no charge) and wrap it in a srv_req; NULL after answering. */
struct srv_req *belt__srv_review_request(struct srv_loop *sl, struct evhttp_request *hr, int ep,
                                         int basic);
/* Query parameter `name` into out; 1 if present. */
int belt__srv_query(struct evhttp_request *hr, const char *name, char *out, size_t cap);
/* The store operations; each answers through render (NULL: JSON) and frees r. */
void belt__srv_review_list(struct srv_req *r, int status, int64_t limit,
                           srv_review_render_fn *render);
void belt__srv_review_get(struct srv_req *r, const char *id, srv_review_render_fn *render);
/* Reviewers only (others get 403 here, and r is freed): -1 when refused. */
int belt__srv_review_decide(struct srv_req *r, const char *id, int status, const char *note,
                            const char *answer_json, srv_review_render_fn *render);
/* "approve" / "reject" / "edit" → enum belt_review_status, else -1. */
int belt__srv_review_action(const char *act);
void belt__srv_handle_reviews(struct srv_loop *sl, struct evhttp_request *hr, int ep);
/* ---- review_page.c: the review web page --------------------------------------------------------
 */
/* Append s[0..n) HTML-escaped (& < > " ' and NUL). */
void belt__srv_html_escape(struct belt_buf *b, const char *s, size_t n);
void belt__srv_handle_review_page(struct srv_loop *sl, struct evhttp_request *hr, int ep);

/* ---- estimate.c: cost bounds ------------------------------------------------------------------
 */

/* Upper bound of the input tokens of a chat (kind BELT_CALL_CHAT) or embeddings request. */
int64_t belt__srv_input_bound(const json_t *body, int kind);
/* Upper bound of the cost of a request for route rc (or, rc NULL, model model_index) with at
 * most `in` input and `out` output tokens per call; *trusted (may be NULL) = every reachable
 * model is trusted with raw PII. */
double belt__srv_cost_bound(const struct belt_server *s, const struct belt_cfg_route *rc,
                            size_t model_index, int64_t in, int64_t out, int *trusted);

/* ---- route_http.c: routes through the executor --------------------------------------------- */

/* Request metadata for routes: metadata {stakes, tags} in the body and x-belt-stakes /
 * x-belt-tags headers, x-belt-max-cost-usd / x-belt-max-latency-ms; the belt-only fields are
 * removed from the body. -1 after answering 400. */
int belt__srv_route_meta(struct srv_req *r);
/* Start the route call of r (answers and frees r in every case). */
void belt__srv_route_start(struct srv_req *r);
/* Free what route_http.c attached to r. */
void belt__srv_route_free(struct srv_req *r);

/* ---- chat.c: the chat and embeddings pipeline --------------------------------------------- */
/* The last user message's text (string content or first text part), borrowed; "" if none. */
const char *belt__srv_last_user_text(const json_t *body);
/* The payload a parked request is stored with: its text, the request, its hash, who sent it. */
json_t *belt__srv_park_payload(const struct srv_req *r, const json_t *request);

void belt__srv_handle_chat(struct srv_loop *sl, struct evhttp_request *hr, int ep);
void belt__srv_handle_embeddings(struct srv_loop *sl, struct evhttp_request *hr, int ep);

#endif
