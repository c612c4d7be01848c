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
#include "util/buf.h"

struct belt_server;
struct srv_req;

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
    int cache_state;                /* enum cache_state (endpoints.c) */
    unsigned char key[BELT_CACHE_KEY_LEN]; /* cache key when cacheable */
    int store_in_cache;                    /* write the answer to the cache */
    struct belt_buf sse_copy;              /* SSE bytes sent, kept for the cache (bounded) */
    int final_status;                      /* HTTP status the client got (499: gone) */
};

/* The generic request callback of every loop's evhttp (endpoints.c). */
void belt__srv_dispatch(struct evhttp_request *hr, void *arg);
/* A request finished: unlink, and let a draining loop exit when it was the last. */
void belt__srv_req_done(struct srv_req *r);
/* Cancel the calls of every request in progress (endpoints.c); their clients get a 503. */
void belt__srv_cancel_all(struct srv_loop *sl);
/* Exit a draining loop once no request is running and every reply was written. */
void belt__srv_maybe_exit(struct srv_loop *sl);

#endif
