/*
 * cache_http.c — the response cache on the HTTP side: deciding a request's cache state
 * (Cache-Control no-cache / no-store), answering a hit (JSON, a stored stream, or a JSON entry
 * replayed as a stream) and storing a fresh answer.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <string.h>

#include "server/server.h"
#include "util/clock.h"
#include "util/json.h"

/* ---- the cache ---------------------------------------------------------------------------- */

/* Synthesise an SSE stream from a complete chat.completion (a non-streamed cache entry asked
 * for as a stream): one chunk with the whole message, one with the finish reason, usage if the
 * client asked (the caller ends the stream). */
void belt__srv_sse_replay(struct srv_req *r, const char *body, size_t len)
{
    json_t *resp = json_loadb(body, len, 0, NULL);
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
        belt__srv_sse_write(r, b.data, b.len);
        belt_buf_deinit(&b);
        json_decref(chunks[k]);
    }
    json_decref(resp);
}

/* Answer from a cache entry. */
static void serve_hit(struct srv_req *r, const struct belt_cache_entry *ce)
{
    struct belt_model_counters *mc = &r->sl->loop->shard->models[r->model_index];
    BELT_METRIC_ADD(mc->cache_hits, 1);
    BELT_METRIC_ADD(mc->saved_nusd, (uint64_t)(ce->cost_usd * 1e9 + 0.5));
    belt__srv_req_unwatch(r);
    /* an entry holds what the model answered to the redacted request: restore this request's
     * values (the same text always gets the same placeholders) */
    const char *body = ce->response;
    size_t len = ce->response_len;
    struct belt_buf restored;
    belt_buf_init(&restored, 0);
    json_t *doc = r->pii ? json_loadb(ce->response, ce->response_len, 0, NULL) : NULL;
    if (doc && belt__srv_guard_answer(r, doc, &restored) == 1) {
        body = restored.data;
        len = restored.len;
    }
    json_decref(doc);
    if (r->stream) {
        belt__srv_sse_start(r, ce->model);
        r->store_in_cache = 0;
        if (ce->stream && !r->pii)
            belt__srv_sse_write(r, ce->stream, ce->stream_len);
        else {
            belt__srv_sse_replay(r, body, len);
            belt__srv_sse_write(r, "data: [DONE]\n\n", 14);
        }
        belt__srv_track_reply(r->sl, r->hr);
        evhttp_send_reply_end(r->hr);
    } else {
        belt__srv_model_headers(r, r->hr, ce->model, "0.00000000");
        belt__srv_send_body(r->sl, r->hr, 200, "application/json", body, len);
    }
    belt_buf_deinit(&restored);
    belt__srv_count_request(r, 200, 0, 0, 0);
    struct belt_answer a;
    memset(&a, 0, sizeof(a));
    const struct belt__model *am = belt__models_find(&r->sl->s->e->models, ce->model);
    a.model = am ? am->name : NULL; /* engine-owned (traces borrow it) */
    a.provider = "cache";
    a.response_model = "";
    a.response_id = "";
    a.finish_reason = "";
    a.confidence = -1;
    belt__srv_submit_trace(r, &a, BELT_OK, 200, NULL, 0, 0, 0);
}

/* Decide the request's cache state; returns 1 when it was answered from the cache. */
int belt__srv_try_cache(struct srv_req *r, struct evhttp_request *hr)
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

void belt__srv_cache_store(struct srv_req *r, const struct belt_answer *a)
{
    struct belt_cache *c = r->sl->s->e->cache;
    if (!c || !r->store_in_cache || a->status != BELT_OK)
        return;
    if (r->canary_seen)
        return; /* an answer that leaked the canary is never served again */
    const char *sse = r->stream && r->sse_copy.len && !r->pii ? r->sse_copy.data : NULL;
    belt__cache_put(c, r->key, a->model, a->body, a->body_len, sse, sse ? r->sse_copy.len : 0,
                    a->cost_usd, belt_wall_ms(), 1);
}
