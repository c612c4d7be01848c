/*
 * upstream.h — the HTTP client of the model layer: libcurl's multi interface driven by a
 * libevent event_base (curl_multi_socket_action), so that many upstream transfers run on one
 * loop without threads. Connections are pooled and kept alive per loop (CURLMOPT_MAXCONNECTS
 * high), POST bodies are sent without waiting for 100-continue (the caller's header list holds
 * an empty "Expect:"), response bodies are bounded, streamed bodies are handed over as they
 * arrive, every transfer has deadlines, and a transfer can be cancelled at any time.
 *
 * Thread rule: a belt_upstream and its transfers belong to the thread that runs its
 * event_base; nothing here may be called from another thread.
 * Deferred close (STYLE 29): a transfer cancelled from inside one of curl's callbacks is
 * detached at once (no more callbacks) and freed later at a safe point of the loop.
 */
#ifndef BELT_UPSTREAM_UPSTREAM_H
#define BELT_UPSTREAM_UPSTREAM_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"

struct event_base;
struct belt_upstream;
struct belt_xfer;

struct belt_upstream_params {
    long max_connects;         /* idle connections kept in the pool (default 1024) */
    long max_host_connections; /* connections per host, 0 = unlimited (default 0) */
};

struct belt_upstream_params belt__upstream_default_params(void);
/* Create the client on `base` (borrowed; must outlive it). *out owned by the caller. */
belt_status belt__upstream_new(struct event_base *base, const struct belt_upstream_params *p,
                               struct belt_upstream **out, struct belt_error *err);
/* Cancel every transfer still running (no callbacks) and free. Not from inside a callback. */
void belt__upstream_free(struct belt_upstream *u);
/* Transfers in progress. */
size_t belt__upstream_n_active(const struct belt_upstream *u);

/* How a transfer ended. Strings are borrowed for the duration of the done callback. */
struct belt_xfer_result {
    belt_status status;       /* BELT_OK: a complete HTTP response arrived (any HTTP status);
                                 BELT_ERR_TIMEOUT, BELT_ERR_IO (connect/reset/closed early),
                                 BELT_ERR_TOOBIG (body over max_response), BELT_ERR_UPSTREAM */
    int curl_code;            /* CURLcode */
    int http_status;          /* 0 when no status line arrived */
    const char *body;         /* buffered body ("" when streamed to on_data); NUL-terminated */
    size_t body_len;          /* bytes in body */
    const char *content_type; /* Content-Type header value or "" */
    const char *retry_after;  /* Retry-After header value or "" */
    const char *error;        /* what went wrong ("" when status is BELT_OK) */
    int64_t latency_us;       /* start to end */
    int64_t ttfb_us;          /* start to the first body byte (0 if none) */
};

/* Body bytes of a 2xx response of a streaming transfer, as they arrive (inside curl's
 * callback: cancel only through belt__xfer_cancel). Return 0 to go on; non-zero aborts the
 * transfer, which then completes with BELT_ERR_UPSTREAM "aborted by the receiver". */
typedef int belt_xfer_data_fn(void *ud, struct belt_xfer *x, const char *data, size_t n);
/* Called exactly once when the transfer ends (not after cancel). The transfer is freed when
 * this returns; do not use `x` afterwards. */
typedef void belt_xfer_done_fn(void *ud, struct belt_xfer *x, const struct belt_xfer_result *r);

struct belt_xfer_params {
    const char *url;                  /* absolute URL; copied */
    const struct curl_slist *headers; /* borrowed; must outlive the transfer */
    char *body;                       /* POST body; ownership passes to the transfer (belt_free)
                                         even when start fails; NULL: GET */
    size_t body_len;                  /* bytes of body */
    int64_t timeout_ms;               /* whole transfer (0: none) */
    int64_t idle_timeout_ms;          /* abort after this long without a byte (0: none) */
    int64_t connect_timeout_ms;       /* connect + TLS (0: curl's default) */
    size_t max_response;              /* largest buffered body (0: 32 MiB) */
    int stream;                       /* 1: 2xx bodies go to on_data instead of the buffer */
    belt_xfer_data_fn *on_data;       /* required when stream */
    belt_xfer_done_fn *on_done;       /* required */
    void *ud;                         /* passed to both */
};

/* Start a transfer. On error no callback is called and *out is untouched. *out (may be NULL)
 * is valid until on_done returns or belt__xfer_cancel is called. */
belt_status belt__xfer_start(struct belt_upstream *u, const struct belt_xfer_params *p,
                             struct belt_xfer **out, struct belt_error *err);
/* Stop a transfer: no callback is called afterwards. Safe from inside any callback, including
 * the transfer's own on_data. Must not be called after on_done. */
void belt__xfer_cancel(struct belt_xfer *x);

#endif
