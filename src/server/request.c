/*
 * request.c — a model request in progress: creation and release, the trace id, noticing a
 * client that went away (evhttp's close callback, and an EV_CLOSED watcher while the request is
 * parked), cancelling everything at shutdown, and reading and validating the JSON body.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

/* ---- requests in progress ----------------------------------------------------------------- */

struct srv_req *belt__srv_req_new(struct srv_loop *sl, struct evhttp_request *hr, int kind, int ep)
{
    struct srv_req *r = belt_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->sl = sl;
    r->hr = hr;
    r->conn = evhttp_request_get_connection(hr);
    r->kind = kind;
    r->endpoint = ep;
    r->start_us = belt_now_us();
    r->ts_ms = belt_wall_ms();
    r->route = "";
    r->next = sl->reqs;
    if (sl->reqs)
        sl->reqs->prev = r;
    sl->reqs = r;
    sl->n_reqs++;
    atomic_fetch_add_explicit(&sl->loop->shard->inflight, 1, memory_order_relaxed);
    belt_buf_init(&r->sse_copy, (size_t)sl->s->cfg->cache.max_entry);
    return r;
}

void belt__srv_req_free(struct srv_req *r)
{
    if (r->close_ev)
        event_free(r->close_ev);
    if (r->conn && !r->client_gone)
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
    belt__srv_req_done(r);
    if (belt__log_enabled(BELT_LOG_DEBUG)) /* the access log: never the key, only its id */
        BELT_LOG_D("%s %s -> %d trace=%s key=%s %.3f ms", belt__metrics_endpoints[r->endpoint],
                   r->route, r->final_status, r->trace_id,
                   r->auth.grant.key_id[0] ? r->auth.grant.key_id : "-",
                   (double)(belt_now_us() - r->start_us) / 1000.0);
    belt__srv_settle(r->sl, &r->auth, 0, 0); /* a reservation never outlives its request */
    BELT_METRIC_ADD(r->sl->gc.audit_events, r->events.n);
    belt__srv_audit_submit(&r->sl->s->gov, &r->events); /* takes them */
    json_decref(r->guard_attrs);
    belt__srv_route_free(r);
    belt__srv_guard_out_free(r);
    belt_pii_map_free(r->pii);
    json_decref(r->body);
    belt_buf_deinit(&r->sse_copy);
    belt_free(r);
}

/* The W3C trace id of a valid `traceparent` header, else a new random one. */
void belt__srv_req_trace_id(struct srv_req *r, struct evhttp_request *hr)
{
    const char *tp = evhttp_find_header(evhttp_request_get_input_headers(hr), "traceparent");
    if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-') {
        int ok = 1, zero = 1;
        for (int i = 3; i < 35; i++) {
            char ch = tp[i];
            ok &= (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
            zero &= ch == '0';
        }
        if (ok && !zero) {
            memcpy(r->trace_id, tp + 3, 32);
            r->trace_id[32] = '\0';
            return;
        }
    }
    belt__loop_trace_id(r->sl->loop, r->trace_id);
}

void belt__srv_req_cancel(struct srv_req *r)
{
    if (r->call)
        belt_call_cancel(r->call);
    else if (r->rcall)
        belt_route_call_cancel(r->rcall);
}

/* The client went away: evhttp is tearing the connection down. Cancel the upstream. */
static void on_conn_close(struct evhttp_connection *conn, void *arg)
{
    struct srv_req *r = arg;
    (void)conn;
    r->client_gone = 1;
    BELT_METRIC_ADD(r->sl->loop->shard->disconnects, 1);
    /* A detached request (no connection) is still ours to complete; an attached one is freed
     * by evhttp with the connection. */
    if (r->hr && evhttp_request_get_connection(r->hr) != NULL)
        r->hr = NULL;
    belt__srv_req_cancel(r);
}

/* The peer closed its end while the request was parked (evhttp does not read, so it would not
 * notice before writing): cancel the upstream call and drop the connection. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    struct srv_req *r = arg;
    (void)fd;
    (void)what;
    struct evhttp_connection *conn = r->conn;
    event_free(r->close_ev);
    r->close_ev = NULL;
    if (!conn || r->client_gone)
        return;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    r->conn = NULL;
    r->client_gone = 1;
    r->hr = NULL; /* freed with the connection below */
    BELT_METRIC_ADD(r->sl->loop->shard->disconnects, 1);
    belt__srv_req_cancel(r); /* the answer callback frees r */
    evhttp_connection_free(conn);
}

void belt__srv_req_watch(struct srv_req *r)
{
    if (r->conn)
        evhttp_connection_set_closecb(r->conn, on_conn_close, r);
}

void belt__srv_req_unwatch(struct srv_req *r)
{
    if (r->conn)
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
    r->conn = NULL;
}

/* Watch the connection for the peer closing (epoll EPOLLRDHUP via EV_CLOSED), unless
 * BELT_NO_WATCH was set in the environment when the server started. */
void belt__srv_req_watch_close(struct srv_req *r)
{
    if (r->sl->s->no_watch || !r->conn ||
        !(event_base_get_features(r->sl->base) & EV_FEATURE_EARLY_CLOSE))
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return;
    r->close_ev = event_new(r->sl->base, fd, EV_CLOSED, on_peer_closed, r);
    if (r->close_ev && event_add(r->close_ev, NULL) != 0) {
        event_free(r->close_ev);
        r->close_ev = NULL;
    }
}

void belt__srv_cancel_all(struct srv_loop *sl)
{
    struct srv_req *next;
    for (struct srv_req *r = sl->reqs; r; r = next) {
        next = r->next;
        belt__srv_req_cancel(r); /* frees r (requests waiting on the store finish anyway) */
    }
}

/* ---- the body ---------------------------------------------------------------------------- */

/* Read and parse the body: 413 past server.max_body, 400 for bad JSON or fields. Returns the
 * object or NULL after answering. */
json_t *belt__srv_read_body(struct srv_loop *sl, struct evhttp_request *hr, int ep, int kind)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(hr);
    size_t len = evbuffer_get_length(in);
    if ((int64_t)len > sl->s->cfg->max_body) {
        belt__srv_send_error(sl, hr, ep, 413, NULL,
                             "request body of %zu bytes exceeds the limit of %lld", len,
                             (long long)sl->s->cfg->max_body);
        return NULL;
    }
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    /* the common case without belt_json_parse's error location formatting; on any failure
     * belt_json_parse runs again to word the error */
    size_t bad = 0;
    json_t *body = belt_utf8_valid(data, len, &bad)
                       ? json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL)
                       : NULL;
    struct belt_error err = {0};
    if (!body && belt_json_parse(data, len, "request body", 0, &body, &err) != BELT_OK) {
        belt__srv_send_error(sl, hr, ep, 400, NULL, "%s", err.msg);
        return NULL;
    }
    const char *problem = NULL, *param = NULL;
    const json_t *stream = json_object_get(body, "stream");
    if (!json_is_object(body))
        problem = "the request body must be a JSON object";
    else if (!json_is_string(json_object_get(body, "model")))
        problem = "you must provide a model parameter (a string)", param = "model";
    else if (stream && !json_is_boolean(stream) && !json_is_null(stream))
        problem = "'stream' must be a boolean", param = "stream";
    else if (kind == BELT_CALL_CHAT && (!json_is_array(json_object_get(body, "messages")) ||
                                        json_array_size(json_object_get(body, "messages")) == 0))
        problem = "'messages' must be a non-empty array", param = "messages";
    else if (kind == BELT_CALL_EMBEDDINGS && !json_object_get(body, "input"))
        problem = "you must provide an input parameter", param = "input";
    if (problem) {
        belt__srv_send_error(sl, hr, ep, 400, param, "%s", problem);
        json_decref(body);
        return NULL;
    }
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m)
    {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
            char p[48];
            snprintf(p, sizeof(p), "messages[%zu]", i);
            belt__srv_send_error(sl, hr, ep, 400, p, "%s must be an object with a string 'role'",
                                 p);
            json_decref(body);
            return NULL;
        }
    }
    return body;
}
