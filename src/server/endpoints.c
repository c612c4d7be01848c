/*
 * endpoints.c — the gateway's HTTP API (docs/gateway.md): the endpoint table, request parsing
 * with limits, OpenAI-style error bodies, the chat/embeddings handlers on the model-call API
 * (JSON and SSE), the response cache, client disconnects, metrics and traces.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

enum cache_state { CACHE_OFF = 0, CACHE_MISS, CACHE_HIT, CACHE_BYPASS };
static const char *const cache_words[] = {"off", "miss", "hit", "bypass"};

typedef void handler_fn(struct srv_loop *sl, struct evhttp_request *hr, int ep);

struct endpoint {
    const char *path; /* exact path */
    unsigned methods; /* EVHTTP_REQ_* accepted */
    int ep;           /* enum belt_endpoint (metrics label) */
    handler_fn *fn;   /* handler */
};

static handler_fn handle_chat, handle_embeddings, handle_models, handle_healthz, handle_metrics;

static const struct endpoint endpoints[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, BELT_EP_CHAT, handle_chat},
    {"/chat/completions", EVHTTP_REQ_POST, BELT_EP_CHAT, handle_chat},
    {"/v1/embeddings", EVHTTP_REQ_POST, BELT_EP_EMBEDDINGS, handle_embeddings},
    {"/embeddings", EVHTTP_REQ_POST, BELT_EP_EMBEDDINGS, handle_embeddings},
    {"/v1/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_MODELS, handle_models},
    {"/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_MODELS, handle_models},
    {"/healthz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, BELT_EP_HEALTHZ, handle_healthz},
    {"/metrics", EVHTTP_REQ_GET, BELT_EP_METRICS, handle_metrics},
};

/* ---- responses ---------------------------------------------------------------------------- */

static void count_response(struct srv_loop *sl, int ep, int status)
{
    BELT_METRIC_ADD(sl->loop->shard->http[ep][belt__metrics_code_index(status)], 1);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
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
static void error_body(struct belt_buf *b, int status, const char *msg, const char *param,
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

static void on_reply_flushed(struct evhttp_request *hr, void *arg)
{
    struct srv_loop *sl = arg;
    (void)hr;
    sl->n_flushing--;
    belt__srv_maybe_exit(sl);
}

/* Count a reply until evhttp has written it, so a draining loop does not exit (and free the
 * connection) before the bytes left; while draining, ask the client to close. */
static void track_reply(struct srv_loop *sl, struct evhttp_request *hr)
{
    if (sl->draining)
        evhttp_add_header(evhttp_request_get_output_headers(hr), "Connection", "close");
    evhttp_request_set_on_complete_cb(hr, on_reply_flushed, sl);
    sl->n_flushing++;
}

static void send_body(struct srv_loop *sl, struct evhttp_request *hr, int status, const char *ctype,
                      const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr);
    track_reply(sl, hr);
    evhttp_add_header(h, "Content-Type", ctype);
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, body, len);
    evhttp_send_reply(hr, status, reason_of(status), out);
    if (out)
        evbuffer_free(out);
}

/* A plain error response (no model involved). */
static void send_error(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                       const char *param, const char *fmt, ...) BELT_PRINTF(6, 7);
static void send_error(struct srv_loop *sl, struct evhttp_request *hr, int ep, int status,
                       const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    error_body(&b, status, msg, param, NULL);
    send_body(sl, hr, status, "application/json", belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
    count_response(sl, ep, status);
}

/* The x-belt-* headers of a model response. */
static void belt_headers(struct srv_req *r, struct evhttp_request *hr, const char *model,
                         const char *cost)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr);
    evhttp_add_header(h, "x-belt-model", model ? model : r->route);
    evhttp_add_header(h, "x-belt-cost-usd", cost);
    evhttp_add_header(h, "x-belt-cache", cache_words[r->cache_state]);
    evhttp_add_header(h, "x-belt-trace-id", r->trace_id);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

void belt__srv_dispatch(struct evhttp_request *hr, void *arg)
{
    struct srv_loop *sl = arg;
    const char *uri = evhttp_request_get_uri(hr);
    size_t plen = strcspn(uri, "?#");
    int method = (int)evhttp_request_get_command(hr);
    evhttp_add_header(evhttp_request_get_output_headers(hr), "Server", sl->s->server_header);
    if (plen > 12 && strncmp(uri, "/v1/models/", 11) == 0 && method == EVHTTP_REQ_GET) {
        handle_models(sl, hr, BELT_EP_MODELS);
        return;
    }
    for (size_t i = 0; i < BELT_ARRAY_LEN(endpoints); i++) {
        const struct endpoint *e = &endpoints[i];
        if (strlen(e->path) != plen || strncmp(e->path, uri, plen) != 0)
            continue;
        if (!(e->methods & (unsigned)method)) {
            evhttp_add_header(evhttp_request_get_output_headers(hr), "Allow",
                              e->methods & EVHTTP_REQ_POST ? "POST" : "GET, HEAD");
            send_error(sl, hr, e->ep, 405, NULL, "%s does not accept this method", e->path);
            return;
        }
        e->fn(sl, hr, e->ep);
        return;
    }
    send_error(sl, hr, BELT_EP_OTHER, 404, NULL, "no such endpoint: %.*s", (int)BELT_MIN(plen, 200),
               uri);
}

/* ---- small endpoints ---------------------------------------------------------------------- */

static void handle_healthz(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    const char *body = sl->draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}";
    int status = sl->draining ? 503 : 200;
    send_body(sl, hr, status, "application/json", body, strlen(body));
    count_response(sl, ep, status);
}

static void handle_metrics(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    if (!sl->s->cfg->metrics) {
        send_error(sl, hr, ep, 404, NULL, "metrics are disabled (server.metrics: false)");
        return;
    }
    char *text = belt_engine_metrics_text(sl->s->e);
    if (!text) {
        send_error(sl, hr, ep, 500, NULL, "out of memory");
        return;
    }
    send_body(sl, hr, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    belt_free(text);
    count_response(sl, ep, 200);
}

static void model_object(struct belt_buf *b, const struct belt__model *m, int64_t created)
{
    belt_buf_puts(b, "{\"id\":");
    belt_buf_append_json_string(b, m->name, strlen(m->name));
    belt_buf_printf(b,
                    ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"belt\","
                    "\"belt\":{\"provider\":\"%s\",\"trusted\":%s,\"price\":{\"input\":%g,"
                    "\"output\":%g}}}",
                    (long long)created, belt__provider_names[m->cfg->provider],
                    m->cfg->trusted ? "true" : "false", m->cfg->price.input_per_m,
                    m->cfg->price.output_per_m);
}

static void handle_models(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    const struct belt__models *ms = &sl->s->e->models;
    int64_t created = sl->s->e->metrics.start_ms / 1000;
    const char *uri = evhttp_request_get_uri(hr);
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (strncmp(uri, "/v1/models/", 11) == 0) {
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(uri + 11, "?#"), uri + 11);
        char *dec = evhttp_decode_uri(name);
        const struct belt__model *m = belt__models_find(ms, dec ? dec : name);
        if (!m) {
            send_error(sl, hr, ep, 404, "model", "The model '%s' does not exist", dec ? dec : name);
            free(dec);
            belt_buf_deinit(&b);
            return;
        }
        free(dec);
        model_object(&b, m, created);
    } else {
        belt_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i < ms->n; i++) {
            if (i)
                belt_buf_putc(&b, ',');
            model_object(&b, &ms->v[i], created);
        }
        belt_buf_puts(&b, "]}");
    }
    send_body(sl, hr, 200, "application/json", belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
    count_response(sl, ep, 200);
}

/* ---- requests in progress ----------------------------------------------------------------- */

static struct srv_req *req_new(struct srv_loop *sl, struct evhttp_request *hr, int kind, int ep)
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

static void req_free(struct srv_req *r)
{
    if (r->close_ev)
        event_free(r->close_ev);
    if (r->conn && !r->client_gone)
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
    belt__srv_req_done(r);
    json_decref(r->body);
    belt_buf_deinit(&r->sse_copy);
    belt_free(r);
}

/* The W3C trace id of a valid `traceparent` header, else a new random one. */
static void pick_trace_id(struct srv_req *r, struct evhttp_request *hr)
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
    if (r->call)
        belt_call_cancel(r->call);
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
    if (r->call)
        belt_call_cancel(r->call); /* on_answer frees r */
    evhttp_connection_free(conn);
}

/* Watch the connection for the peer closing (epoll EPOLLRDHUP via EV_CLOSED). */
static void watch_close(struct srv_req *r)
{
    if (!r->conn || !(event_base_get_features(r->sl->base) & EV_FEATURE_EARLY_CLOSE))
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

/* ---- traces and metrics ------------------------------------------------------------------- */

static void attr_str(struct belt_buf *b, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    belt_buf_printf(b, "%s\"%s\":", b->len > 1 ? "," : "", key);
    belt_buf_append_json_string(b, v, strlen(v));
}

/* OpenTelemetry GenAI attributes of the request and answer, as a JSON object. */
static char *trace_attrs(const struct srv_req *r, const struct belt_answer *a)
{
    struct belt_buf b;
    belt_buf_init(&b, 65536);
    belt_buf_putc(&b, '{');
    attr_str(&b, "gen_ai.operation.name", r->kind == BELT_CALL_EMBEDDINGS ? "embeddings" : "chat");
    attr_str(&b, "gen_ai.request.model", r->route);
    if (a) {
        attr_str(&b, "gen_ai.system", a->provider);
        attr_str(&b, "gen_ai.response.model", a->response_model);
        attr_str(&b, "gen_ai.response.id", a->response_id);
        if (a->finish_reason && *a->finish_reason) {
            belt_buf_puts(&b, ",\"gen_ai.response.finish_reasons\":[");
            belt_buf_append_json_string(&b, a->finish_reason, strlen(a->finish_reason));
            belt_buf_putc(&b, ']');
        }
        attr_str(&b, "belt.deployment", a->deployment);
        if (a->usage_estimated)
            belt_buf_puts(&b, ",\"belt.usage_estimated\":true");
        if (a->ttft_us)
            belt_buf_printf(&b, ",\"belt.ttft_us\":%lld", (long long)a->ttft_us);
        if (a->n_logprobs)
            belt_buf_printf(&b, ",\"belt.logprob_mean\":%.6g,\"belt.logprob_min\":%.6g",
                            a->logprob_mean, a->logprob_min);
        if (a->label)
            belt_buf_printf(&b, ",\"belt.confidence\":%.6g", a->confidence);
    }
    const json_t *t = json_object_get(r->body, "temperature");
    if (json_is_number(t))
        belt_buf_printf(&b, ",\"gen_ai.request.temperature\":%g", json_number_value(t));
    const json_t *mt = json_object_get(r->body, "max_tokens");
    if (json_is_integer(mt))
        belt_buf_printf(&b, ",\"gen_ai.request.max_tokens\":%lld",
                        (long long)json_integer_value(mt));
    belt_buf_putc(&b, '}');
    return belt_buf_detach(&b, NULL);
}

/* The static spelling of an attempt's reason (the answer copy's string dies first). */
static const char *static_why(const char *why)
{
    static const char *const words[] = {"first", "retry", "fallback"};
    for (size_t i = 0; why && i < BELT_ARRAY_LEN(words); i++)
        if (strcmp(why, words[i]) == 0)
            return words[i];
    return "other";
}

/* The engine-owned copy of a model name (traces borrow names that must outlive the writer;
 * the answer's strings belong to a copy freed before the writer runs). */
static const struct belt__model *engine_model(const struct srv_req *r, const char *name)
{
    return name ? belt__models_find(&r->sl->s->e->models, name) : NULL;
}

static const char *engine_deployment(const struct belt__model *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_deps; i++)
        if (strcmp(m->deps[i].name, name) == 0)
            return m->deps[i].name;
    return m ? m->name : NULL;
}

static void submit_trace(struct srv_req *r, const struct belt_answer *a, belt_status st,
                         int http_status, const char *error, double cost, int64_t in, int64_t out)
{
    struct belt_engine *e = r->sl->s->e;
    if (!e->trace_on)
        return;
    struct belt_trace_rec *t = belt__trace_rec_new(a ? a->n_attempts : 0);
    if (!t)
        return;
    memcpy(t->id, r->trace_id, sizeof(t->id));
    t->ts_ms = r->ts_ms;
    t->kind = r->kind == BELT_CALL_EMBEDDINGS ? "embeddings" : "chat";
    t->route = r->sl->s->e->models.v[r->model_index].name; /* engine-owned: outlives the writer */
    const struct belt__model *am = a ? engine_model(r, a->model) : NULL;
    t->model = am ? am->name : NULL;
    t->status = st == BELT_OK ? "ok" : st == BELT_ERR_CANCELLED ? "cancelled" : "error";
    t->http_status = http_status;
    t->error = error && *error ? belt_strdup(error) : NULL;
    t->input_tokens = in;
    t->output_tokens = out;
    t->cost_usd = cost;
    t->latency_us = belt_now_us() - r->start_us;
    t->cache_hit = r->cache_state == CACHE_HIT;
    t->stream = r->stream;
    t->attrs = trace_attrs(r, a);
    for (size_t i = 0; a && i < a->n_attempts; i++) {
        const struct belt_attempt *at = &a->attempts[i];
        struct belt_trace_step_rec *s = &t->steps[t->n_steps++];
        s->seq = at->seq;
        const struct belt__model *sm = engine_model(r, at->model);
        s->model = sm ? sm->name : r->sl->s->e->models.v[r->model_index].name;
        s->deployment = engine_deployment(sm, at->deployment);
        s->tier = -1;
        s->status = belt__trace_step_status(at->status);
        s->http_status = at->http_status;
        s->error = at->error && *at->error ? belt_strdup(at->error) : NULL;
        s->reason = static_why(at->why);
        s->confidence = i + 1 == a->n_attempts && a->label ? a->confidence : -1;
        s->input_tokens = at->input_tokens;
        s->output_tokens = at->output_tokens;
        s->cost_usd = at->cost_usd;
        s->latency_us = at->latency_us;
    }
    belt__trace_submit(e->writer, t);
}

static void count_request(struct srv_req *r, int status, int64_t in, int64_t out, double cost)
{
    struct belt_model_counters *mc = &r->sl->loop->shard->models[r->model_index];
    (void)in;
    (void)out;
    (void)cost;
    BELT_METRIC_ADD(mc->requests, 1);
    if (status >= 400)
        BELT_METRIC_ADD(mc->errors, 1);
    if (r->stream)
        BELT_METRIC_ADD(mc->streams, 1);
    belt__histogram_observe(&mc->latency, belt_now_us() - r->start_us);
    count_response(r->sl, r->endpoint, status);
}

/* ---- answers ------------------------------------------------------------------------------ */

static void fmt_cost(char *out, size_t cap, double cost)
{
    snprintf(out, cap, "%.8f", cost);
}

/* Send the SSE headers (first chunk, or a stream replayed from the cache). */
static void sse_start(struct srv_req *r, const char *model)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->hr);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    belt_headers(r, r->hr, model, r->cache_state == CACHE_HIT ? "0.00000000" : "pending");
    evhttp_send_reply_start(r->hr, 200, "OK");
    r->sse_started = 1;
}

static void sse_write(struct srv_req *r, const char *data, size_t len)
{
    if (r->store_in_cache && belt_buf_append(&r->sse_copy, data, len) != BELT_OK)
        r->store_in_cache = 0; /* too big to cache */
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, data, len);
    evhttp_send_reply_chunk(r->hr, b);
    evbuffer_free(b);
}

static void on_chunk(void *ud, struct belt_call *call, const struct belt_chunk *ck)
{
    struct srv_req *r = ud;
    (void)call;
    if (r->client_gone || !r->hr)
        return;
    if (ck->usage_only && !r->include_usage)
        return;
    if (!r->sse_started)
        sse_start(r, ck->model);
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, "data: ", 6);
    evbuffer_add(b, ck->data, ck->len);
    evbuffer_add(b, "\n\n", 2);
    if (r->store_in_cache) {
        if (belt_buf_puts(&r->sse_copy, "data: ") != BELT_OK ||
            belt_buf_append(&r->sse_copy, ck->data, ck->len) != BELT_OK ||
            belt_buf_puts(&r->sse_copy, "\n\n") != BELT_OK)
            r->store_in_cache = 0;
    }
    evhttp_send_reply_chunk(r->hr, b);
    evbuffer_free(b);
}

/* End an SSE response: the cost as a comment, then [DONE], or an error event. */
static void sse_finish(struct srv_req *r, const struct belt_answer *a)
{
    char line[160];
    if (a->status == BELT_OK) {
        int n = snprintf(line, sizeof(line), ": x-belt-cost-usd=%.8f\n\n", a->cost_usd);
        struct evbuffer *b = evbuffer_new();
        if (b) {
            evbuffer_add(b, line, (size_t)n);
            evhttp_send_reply_chunk(r->hr, b);
            evbuffer_free(b);
        }
        sse_write(r, "data: [DONE]\n\n", 14);
    } else {
        struct belt_buf eb;
        belt_buf_init(&eb, 0);
        belt_buf_puts(&eb, "data: ");
        error_body(&eb, a->http_status, a->error, NULL, "stream_error");
        belt_buf_puts(&eb, "\n\n");
        sse_write(r, belt_buf_cstr(&eb), eb.len);
        belt_buf_deinit(&eb);
        BELT_METRIC_ADD(r->sl->loop->shard->stream_errors, 1);
        r->store_in_cache = 0;
    }
    evhttp_connection_set_closecb(r->conn, NULL, NULL);
    r->conn = NULL;
    track_reply(r->sl, r->hr);
    evhttp_send_reply_end(r->hr);
}

static void send_answer(struct srv_req *r, const struct belt_answer *a)
{
    char cost[48];
    fmt_cost(cost, sizeof(cost), a->cost_usd);
    evhttp_connection_set_closecb(r->conn, NULL, NULL);
    r->conn = NULL;
    if (a->status == BELT_OK && r->stream) { /* a stream that produced no chunk at all */
        sse_start(r, a->model);
        sse_finish(r, a);
        return;
    }
    belt_headers(r, r->hr, a->model, cost);
    if (a->status == BELT_OK) {
        send_body(r->sl, r->hr, 200, "application/json", a->body, a->body_len);
        return;
    }
    struct belt_buf b;
    belt_buf_init(&b, 0);
    error_body(&b, a->http_status, a->error, NULL, NULL);
    send_body(r->sl, r->hr, a->http_status, "application/json", belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
}

static void cache_store(struct srv_req *r, const struct belt_answer *a)
{
    struct belt_cache *c = r->sl->s->e->cache;
    if (!c || !r->store_in_cache || a->status != BELT_OK)
        return;
    const char *sse = r->stream && r->sse_copy.len ? r->sse_copy.data : NULL;
    belt__cache_put(c, r->key, a->model, a->body, a->body_len, sse, sse ? r->sse_copy.len : 0,
                    a->cost_usd, belt_wall_ms(), 1);
}

void belt__srv_cancel_all(struct srv_loop *sl)
{
    struct srv_req *next;
    for (struct srv_req *r = sl->reqs; r; r = next) {
        next = r->next;
        if (r->call)
            belt_call_cancel(r->call); /* frees r */
    }
}

/* Bookkeeping of an answered request: metrics and trace; then free it. */
static void post_process(struct srv_req *r, const struct belt_answer *a)
{
    int status = r->final_status;
    count_request(r, status, a->input_tokens, a->output_tokens, a->cost_usd);
    submit_trace(r, a, r->client_gone ? BELT_ERR_CANCELLED : a->status, status, a->error,
                 a->cost_usd, a->input_tokens, a->output_tokens);
    req_free(r);
}

static void on_answer(void *ud, struct belt_call *call, const struct belt_answer *a)
{
    struct srv_req *r = ud;
    (void)call;
    r->call = NULL;
    struct belt_answer shut;
    if (a->status == BELT_ERR_CANCELLED && !r->client_gone && r->sl->grace_over) {
        shut = *a; /* cancelled by the shutdown, not by the client */
        shut.http_status = 503;
        shut.error = "the server shut down before the answer was ready";
        a = &shut;
    }
    int status = r->client_gone ? 499 : a->http_status;
    if (r->client_gone) {
        if (r->hr) /* detached by evhttp: completing it frees it */
            evhttp_send_reply(r->hr, 499, "Client Closed Request", NULL);
    } else if (r->sse_started) {
        sse_finish(r, a);
    } else {
        send_answer(r, a);
    }
    r->final_status = status;
    if (!r->client_gone)
        cache_store(r, a);
    post_process(r, a);
}

/* ---- the cache ---------------------------------------------------------------------------- */

/* Synthesise an SSE stream from a complete chat.completion (a non-streamed cache entry asked
 * for as a stream): one chunk with the whole message, one with the finish reason, usage if the
 * client asked, [DONE]. */
static void replay_as_stream(struct srv_req *r, const struct belt_cache_entry *ce)
{
    json_t *resp = json_loadb(ce->response, ce->response_len, 0, NULL);
    const json_t *ch0 = json_array_get(json_object_get(resp, "choices"), 0);
    json_t *delta = json_deep_copy(json_object_get(ch0, "message"));
    if (!delta)
        delta = json_object();
    json_t *tcs = json_object_get(delta, "tool_calls");
    size_t i;
    json_t *tc;
    json_array_foreach(tcs, i, tc)
    {
        json_object_set_new(tc, "index", json_integer((json_int_t)i));
    }
    const char *id = belt_json_str(resp, "id");
    const char *model = belt_json_str(resp, "model");
    json_int_t created = (json_int_t)belt_json_int(resp, "created", 0);
    const char *finish = belt_json_str(ch0, "finish_reason");
    json_t *c1 = json_pack("{s:s?, s:s, s:I, s:s?, s:[{s:i, s:o, s:n, s:n}]}", "id", id, "object",
                           "chat.completion.chunk", "created", created, "model", model, "choices",
                           "index", 0, "delta", delta, "logprobs", "finish_reason");
    json_t *c2 =
        json_pack("{s:s?, s:s, s:I, s:s?, s:[{s:i, s:{}, s:n, s:s?}]}", "id", id, "object",
                  "chat.completion.chunk", "created", created, "model", model, "choices", "index",
                  0, "delta", "logprobs", "finish_reason", finish ? finish : "stop");
    json_t *c3 = NULL;
    if (r->include_usage && json_object_get(resp, "usage"))
        c3 = json_pack("{s:s?, s:s, s:I, s:s?, s:[], s:O}", "id", id, "object",
                       "chat.completion.chunk", "created", created, "model", model, "choices",
                       "usage", json_object_get(resp, "usage"));
    json_t *chunks[3] = {c1, c2, c3};
    for (size_t k = 0; k < 3; k++) {
        if (!chunks[k])
            continue;
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_puts(&b, "data: ");
        belt_json_dump_buf(chunks[k], JSON_COMPACT, &b);
        belt_buf_puts(&b, "\n\n");
        sse_write(r, b.data, b.len);
        belt_buf_deinit(&b);
        json_decref(chunks[k]);
    }
    sse_write(r, "data: [DONE]\n\n", 14);
    json_decref(resp);
}

/* Answer from a cache entry. */
static void serve_hit(struct srv_req *r, const struct belt_cache_entry *ce)
{
    struct belt_model_counters *mc = &r->sl->loop->shard->models[r->model_index];
    BELT_METRIC_ADD(mc->cache_hits, 1);
    BELT_METRIC_ADD(mc->saved_nusd, (uint64_t)(ce->cost_usd * 1e9 + 0.5));
    evhttp_connection_set_closecb(r->conn, NULL, NULL);
    r->conn = NULL;
    if (r->stream) {
        sse_start(r, ce->model);
        r->store_in_cache = 0;
        if (ce->stream)
            sse_write(r, ce->stream, ce->stream_len);
        else
            replay_as_stream(r, ce);
        track_reply(r->sl, r->hr);
        evhttp_send_reply_end(r->hr);
    } else {
        belt_headers(r, r->hr, ce->model, "0.00000000");
        send_body(r->sl, r->hr, 200, "application/json", ce->response, ce->response_len);
    }
    count_request(r, 200, 0, 0, 0);
    struct belt_answer a;
    memset(&a, 0, sizeof(a));
    const struct belt__model *am = belt__models_find(&r->sl->s->e->models, ce->model);
    a.model = am ? am->name : NULL; /* engine-owned (traces borrow it) */
    a.provider = "cache";
    a.response_model = "";
    a.response_id = "";
    a.finish_reason = "";
    a.confidence = -1;
    submit_trace(r, &a, BELT_OK, 200, NULL, 0, 0, 0);
}

/* Decide the request's cache state; returns 1 when it was answered from the cache. */
static int try_cache(struct srv_req *r, struct evhttp_request *hr)
{
    struct belt_cache *c = r->sl->s->e->cache;
    r->cache_state = CACHE_OFF;
    if (!c || r->kind != BELT_CALL_CHAT || !belt__cache_cacheable(r->body))
        return 0;
    const char *cc = evhttp_find_header(evhttp_request_get_input_headers(hr), "Cache-Control");
    int no_cache = cc && strstr(cc, "no-cache") != NULL;
    int no_store = cc && strstr(cc, "no-store") != NULL;
    if (belt__cache_key(r->route, r->body, r->key) != BELT_OK)
        return 0;
    r->store_in_cache = !no_store;
    if (no_cache || no_store) {
        r->cache_state = CACHE_BYPASS;
        return 0;
    }
    const struct belt_cache_entry *ce = belt__cache_get(c, r->key, belt_wall_ms());
    if (!ce) {
        r->cache_state = CACHE_MISS;
        BELT_METRIC_ADD(r->sl->loop->shard->models[r->model_index].cache_misses, 1);
        return 0;
    }
    r->cache_state = CACHE_HIT;
    r->store_in_cache = 0;
    serve_hit(r, ce);
    belt__cache_release(ce);
    return 1;
}

/* ---- chat and embeddings ------------------------------------------------------------------ */

/* Read and parse the body: 413 past server.max_body, 400 for bad JSON or fields. Returns the
 * object or NULL after answering. */
static json_t *read_body(struct srv_loop *sl, struct evhttp_request *hr, int ep, int kind)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(hr);
    size_t len = evbuffer_get_length(in);
    if ((int64_t)len > sl->s->cfg->max_body) {
        send_error(sl, hr, ep, 413, NULL, "request body of %zu bytes exceeds the limit of %lld",
                   len, (long long)sl->s->cfg->max_body);
        return NULL;
    }
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *body = NULL;
    struct belt_error err = {0};
    if (belt_json_parse(data, len, "request body", 0, &body, &err) != BELT_OK) {
        send_error(sl, hr, ep, 400, NULL, "%s", err.msg);
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
        send_error(sl, hr, ep, 400, param, "%s", problem);
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
            send_error(sl, hr, ep, 400, p, "%s must be an object with a string 'role'", p);
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

static void model_request(struct srv_loop *sl, struct evhttp_request *hr, int ep, int kind)
{
    if (sl->draining) {
        send_error(sl, hr, ep, 503, NULL, "the server is shutting down");
        return;
    }
    if ((int64_t)sl->n_reqs * sl->s->n_loops >= sl->s->cfg->max_inflight) {
        evhttp_add_header(evhttp_request_get_output_headers(hr), "Retry-After", "1");
        send_error(sl, hr, ep, 503, NULL, "too many requests in progress (server.max_inflight)");
        return;
    }
    json_t *body = read_body(sl, hr, ep, kind);
    if (!body)
        return;
    const char *model = json_string_value(json_object_get(body, "model"));
    struct belt__model *m = belt__models_find(&sl->s->e->models, model);
    if (!m) {
        BELT_METRIC_ADD(sl->loop->shard->unknown_model, 1);
        send_error(sl, hr, ep, 404, "model", "The model '%s' does not exist", model);
        json_decref(body);
        return;
    }
    struct srv_req *r = req_new(sl, hr, kind, ep);
    if (!r) {
        json_decref(body);
        send_error(sl, hr, ep, 500, NULL, "out of memory");
        return;
    }
    r->body = body;
    r->route = model;
    r->model_index = m->index;
    r->stream = json_is_true(json_object_get(body, "stream"));
    r->include_usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    pick_trace_id(r, hr);
    if (r->conn)
        evhttp_connection_set_closecb(r->conn, on_conn_close, r);
    if (try_cache(r, hr)) {
        req_free(r);
        return;
    }
    struct belt_call_params p = belt_call_default_params();
    p.model = model;
    p.kind = kind;
    p.request = body;
    struct evbuffer *in = evhttp_request_get_input_buffer(hr);
    p.request_len = evbuffer_get_length(in);
    p.request_json = (const char *)evbuffer_pullup(in, -1); /* contiguous since read_body */
    p.stream = r->stream;
    p.timeout_ms = sl->s->cfg->request_timeout_ms;
    p.trace_id = r->trace_id;
    p.on_chunk = on_chunk;
    p.on_answer = on_answer;
    p.ud = r;
    struct belt_error err = {0};
    if (!getenv("BELT_NO_WATCH"))
        watch_close(r);
    belt_status st = belt_call_start(sl->loop, &p, &r->call, &err);
    if (st != BELT_OK) {
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
        r->conn = NULL;
        int status = st == BELT_ERR_INVALID ? 400 : st == BELT_ERR_NOTFOUND ? 404 : 500;
        send_error(sl, hr, ep, status, NULL, "%s", err.msg);
        req_free(r);
    }
}

static void handle_chat(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    model_request(sl, hr, ep, BELT_CALL_CHAT);
}

static void handle_embeddings(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    model_request(sl, hr, ep, BELT_CALL_EMBEDDINGS);
}
