/*
 * http.c — the gateway's HTTP plumbing shared by every endpoint: status reasons, OpenAI-style
 * error bodies, sending a complete reply (tracked so a draining loop waits for it to be
 * written) and the per-endpoint response counters.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/fmt.h"
#include "server/server.h"
#include "util/error.h"

/* ---- responses ---------------------------------------------------------------------------- */

void belt__srv_count_response(struct srv_loop *sl, int ep, int status)
{
    BELT_METRIC_ADD(sl->loop->shard->http[ep][belt__metrics_code_index(status)], 1);
}

const char *belt__srv_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 303:
        return "See Other";
    case 402:
        return "Payment Required";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 500 ? "Client Error" : "Server Error";
    }
}

/* OpenAI error type and code for a status. */
static void error_kind(int status, const char **type, const char **code)
{
    *code = NULL;
    switch (status) {
    case 401:
        *type = "authentication_error";
        *code = "invalid_api_key";
        break;
    case 403:
        *type = "permission_error";
        break;
    case 404:
        *type = "invalid_request_error";
        *code = "model_not_found";
        break;
    case 413:
        *type = "invalid_request_error";
        *code = "request_too_large";
        break;
    case 429:
        *type = "rate_limit_error";
        *code = "rate_limit_exceeded";
        break;
    case 502:
        *type = "api_error";
        *code = "upstream_error";
        break;
    case 503:
        *type = "api_error";
        *code = "service_unavailable";
        break;
    case 504:
        *type = "api_error";
        *code = "upstream_timeout";
        break;
    default:
        *type = status >= 500 ? "api_error" : "invalid_request_error";
        break;
    }
}

/* {"error": {"message", "type", "param", "code"}} into b. */
void belt__srv_error_body(struct belt_buf *b, int status, const char *msg, const char *param,
                          const char *code_override)
{
    const char *type, *code;
    error_kind(status, &type, &code);
    if (code_override)
        code = code_override;
    belt_buf_puts(b, "{\"error\":{\"message\":");
    belt_buf_append_json_string(b, msg, strlen(msg));
    belt_buf_printf(b, ",\"type\":\"%s\",\"param\":", type);
    if (param)
        belt_buf_append_json_string(b, param, strlen(param));
    else
        belt_buf_puts(b, "null");
    belt_buf_puts(b, ",\"code\":");
    if (code)
        belt_buf_printf(b, "\"%s\"", code);
    else
        belt_buf_puts(b, "null");
    belt_buf_puts(b, "}}");
}

void belt__srv_set_date(struct srv_loop *sl, struct evhttp_request *hr)
{
    struct timeval tv;
    if (event_base_gettimeofday_cached(sl->base, &tv) != 0)
        return; /* evhttp writes its own */
    if (!sl->date[0] || sl->date_s != (int64_t)tv.tv_sec) {
        belt__fmt_http_date((int64_t)tv.tv_sec, sl->date);
        sl->date_s = (int64_t)tv.tv_sec;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr);
    if (!evhttp_find_header(h, "Date"))
        evhttp_add_header(h, "Date", sl->date);
}

static void on_reply_flushed(struct evhttp_request *hr, void *arg)
{
    struct srv_loop *sl = arg;
    (void)hr;
    sl->n_flushing--;
    belt__srv_maybe_exit(sl);
}

/* Count a reply until evhttp has written it, so a draining loop does not exit (and free the
 * connection) before the bytes left; while draining, ask the client to close. */
void belt__srv_track_reply(struct srv_loop *sl, struct evhttp_request *hr)
{
    if (sl->draining)
        evhttp_add_header(evhttp_request_get_output_headers(hr), "Connection", "close");
    evhttp_request_set_on_complete_cb(hr, on_reply_flushed, sl);
    sl->n_flushing++;
}

/* ---- writing replies at the end of the loop turn --------------------------------------------
 *
 * evhttp queues a reply and writes it once epoll next reports the socket writable: per reply an
 * EPOLLOUT registration, another loop pass, the write, and a deregistration — and the bytes
 * wait behind everything else the turn still does. Instead, a complete reply's connection is
 * noted, and when the callbacks of this turn are done (an event made active, so it runs before
 * the next epoll_wait) the reply is written at once. When all of it went out, the pending write
 * interest is dropped (the event changelist then makes no system call for it) and evhttp's
 * write callback runs as it would have after its own write. A short or failed write leaves the
 * rest to evhttp. Waiting for the end of the turn keeps the order a client can observe: what the
 * handler does after sending (cache, budgets, metrics) is done before the client has the reply.
 * Each noted connection holds a bufferevent reference, so one that evhttp frees in the meantime
 * stays valid (and is skipped: its callbacks are gone). */

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct srv_loop *sl = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < sl->n_flush; i++) { /* n_flush may grow: callbacks can reply too */
        struct bufferevent *bev = sl->flush[i];
        bufferevent_data_cb wcb = NULL;
        bufferevent_getcb(bev, NULL, &wcb, NULL, NULL);
        struct evbuffer *out = bufferevent_get_output(bev);
        if (wcb && (bufferevent_get_enabled(bev) & EV_WRITE) && evbuffer_get_length(out) &&
            evbuffer_write(out, bufferevent_getfd(bev)) >= 0 && evbuffer_get_length(out) == 0) {
            bufferevent_disable(bev, EV_WRITE);
            bufferevent_trigger(bev, EV_WRITE, 0);
        }
        bufferevent_decref(bev);
    }
    sl->n_flush = 0;
}

/* Note evcon's reply for the end of the turn; without room (or a connection) evhttp writes it. */
static void flush_soon(struct srv_loop *sl, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (!bev || !sl->flush_ev)
        return;
    if (sl->n_flush == sl->cap_flush) {
        size_t n = sl->cap_flush ? sl->cap_flush * 2 : 64;
        struct bufferevent **v = belt_realloc(sl->flush, n * sizeof(*v));
        if (!v)
            return;
        sl->flush = v;
        sl->cap_flush = n;
    }
    bufferevent_incref(bev);
    sl->flush[sl->n_flush++] = bev;
    if (sl->n_flush == 1)
        event_active(sl->flush_ev, EV_TIMEOUT, 0);
}

belt_status belt__srv_flush_init(struct srv_loop *sl, struct belt_error *err)
{
    sl->flush_ev = event_new(sl->base, -1, 0, on_flush, sl);
    return sl->flush_ev ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
}

void belt__srv_flush_deinit(struct srv_loop *sl)
{
    for (size_t i = 0; i < sl->n_flush; i++)
        bufferevent_decref(sl->flush[i]);
    sl->n_flush = 0;
    belt_free(sl->flush);
    sl->flush = NULL;
    sl->cap_flush = 0;
    if (sl->flush_ev)
        event_free(sl->flush_ev);
    sl->flush_ev = NULL;
}

void belt__srv_send_body(struct srv_loop *sl, struct evhttp_request *hr, int status,
                         const char *ctype, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr);
    /* taken now: a request whose client has gone has no connection, and sending frees it */
    struct evhttp_connection *evcon = evhttp_request_get_connection(hr);
    belt__srv_track_reply(sl, hr);
    belt__srv_set_date(sl, hr);
    evhttp_add_header(h, "Content-Type", ctype);
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, body, len);
    evhttp_send_reply(hr, status, belt__srv_reason(status), out);
    if (out)
        evbuffer_free(out);
    flush_soon(sl, evcon);
}

static void send_error_v(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                         const char *param, const char *code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt__srv_error_body(&b, status, msg, param, code);
    belt__srv_send_body(sl, hr, status, "application/json", belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
    belt__srv_count_response(sl, ep, status);
}

void belt__srv_send_error(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                          const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error_v(sl, hr, ep, status, param, NULL, fmt, ap);
    va_end(ap);
}

void belt__srv_send_error_code(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                               const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error_v(sl, hr, ep, status, NULL, code, fmt, ap);
    va_end(ap);
}
