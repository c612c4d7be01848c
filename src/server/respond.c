/*
 * respond.c — answering a model request: the x-belt-* headers, a complete JSON answer, and the
 * SSE side (headers, events, the closing cost comment and [DONE] or an error event), keeping a
 * bounded copy of the stream for the cache.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "engine/fmt.h"
#include "server/server.h"

static const char *const cache_words[] = {"off", "miss", "hit", "bypass"};

/* ---- answers ------------------------------------------------------------------------------ */

/* The cost as "%.8f" prints it (without printf when exact: engine/fmt.h). */
static void fmt_cost(char *out, size_t cap, double cost)
{
    if (cap < 24 || !belt__fmt_fixed(out, cost, 8))
        snprintf(out, cap, "%.8f", cost);
}

/* Send the SSE headers (first chunk, or a stream replayed from the cache). */
void belt__srv_sse_start(struct srv_req *r, const char *model)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->hr);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    belt__srv_model_headers(r, r->hr, model,
                            r->cache_state == CACHE_HIT ? "0.00000000" : "pending");
    belt__srv_set_date(r->sl, r->hr);
    evhttp_send_reply_start(r->hr, 200, "OK");
    r->sse_started = 1;
}

void belt__srv_sse_write(struct srv_req *r, const char *data, size_t len)
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

int belt__srv_relay_chunk(struct srv_req *r, const struct belt_chunk *ck, const char *route)
{
    if (r->client_gone || !r->hr || r->output_blocked)
        return 0;
    if (ck->usage_only && !r->include_usage)
        return 0;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    int g = belt__srv_guard_chunk(r, ck->chunk, &b);
    if (g < 0) {
        r->output_blocked = 1;
        belt_buf_deinit(&b);
        return -1;
    }
    if (!r->sse_started) {
        if (route)
            evhttp_add_header(evhttp_request_get_output_headers(r->hr), "x-belt-route", route);
        belt__srv_sse_start(r, ck->model);
    }
    belt__srv_sse_event(r, g > 0 ? b.data : ck->data, g > 0 ? b.len : ck->len);
    belt_buf_deinit(&b);
    return 0;
}

void belt__srv_sse_event(struct srv_req *r, const char *data, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, "data: ", 6);
    evbuffer_add(b, data, len);
    evbuffer_add(b, "\n\n", 2);
    if (r->store_in_cache && !r->pii) { /* restored PII never goes to the cache */
        if (belt_buf_puts(&r->sse_copy, "data: ") != BELT_OK ||
            belt_buf_append(&r->sse_copy, data, len) != BELT_OK ||
            belt_buf_puts(&r->sse_copy, "\n\n") != BELT_OK)
            r->store_in_cache = 0;
    }
    evhttp_send_reply_chunk(r->hr, b);
    evbuffer_free(b);
}

/* End an SSE response: the cost as a comment, then [DONE], or an error event. */
void belt__srv_sse_finish(struct srv_req *r, const struct belt_answer *a)
{
    if (a->status == BELT_OK) {
        char line[96] = ": x-belt-cost-usd=";
        size_t n = strlen(line);
        fmt_cost(line + n, sizeof(line) - n - 2, a->cost_usd);
        n += strlen(line + n);
        memcpy(line + n, "\n\n", 2);
        n += 2;
        struct evbuffer *b = evbuffer_new();
        if (b) {
            evbuffer_add(b, line, n);
            evhttp_send_reply_chunk(r->hr, b);
            evbuffer_free(b);
        }
        belt__srv_sse_write(r, "data: [DONE]\n\n", 14);
    } else {
        struct belt_buf eb;
        belt_buf_init(&eb, 0);
        belt_buf_puts(&eb, "data: ");
        belt__srv_error_body(&eb, a->http_status, a->error, NULL,
                             r->error_code[0] ? r->error_code : "stream_error");
        belt_buf_puts(&eb, "\n\n");
        belt__srv_sse_write(r, belt_buf_cstr(&eb), eb.len);
        belt_buf_deinit(&eb);
        BELT_METRIC_ADD(r->sl->loop->shard->stream_errors, 1);
        r->store_in_cache = 0;
    }
    belt__srv_req_unwatch(r);
    belt__srv_track_reply(r->sl, r->hr);
    evhttp_send_reply_end(r->hr);
}

void belt__srv_send_answer(struct srv_req *r, const struct belt_answer *a, const char *body,
                           size_t len)
{
    char cost[48];
    fmt_cost(cost, sizeof(cost), a->cost_usd);
    belt__srv_req_unwatch(r);
    if (a->status == BELT_OK && r->stream) { /* a stream that produced no chunk at all */
        belt__srv_sse_start(r, a->model);
        belt__srv_sse_finish(r, a);
        return;
    }
    belt__srv_model_headers(r, r->hr, a->model, cost);
    if (a->status == BELT_OK) {
        belt__srv_send_body(r->sl, r->hr, 200, "application/json", body ? body : a->body,
                            body ? len : a->body_len);
        return;
    }
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt__srv_error_body(&b, a->http_status, a->error, NULL,
                         r->error_code[0] ? r->error_code : NULL);
    belt__srv_send_body(r->sl, r->hr, a->http_status, "application/json", belt_buf_cstr(&b), b.len);
    belt_buf_deinit(&b);
}
/* The x-belt-* headers of a model response. */
void belt__srv_model_headers(struct srv_req *r, struct evhttp_request *hr, const char *model,
                             const char *cost)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(hr);
    evhttp_add_header(h, "x-belt-model", model ? model : r->route);
    evhttp_add_header(h, "x-belt-cost-usd", cost);
    evhttp_add_header(h, "x-belt-cache", cache_words[r->cache_state]);
    evhttp_add_header(h, "x-belt-trace-id", r->trace_id);
}
