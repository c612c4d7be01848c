/*
 * chat.c — the chat and embeddings pipeline of the gateway, as explicit stages:
 *
 *   admit → parse (body, model or route) → auth (key, allow lists, budget reservation)
 *   → clearance (x-belt-review: a reviewed guard escalation) → guard in (injection: block, flag
 *   or escalate to review; PII: redact, block or flag) → cache → canary → call (a model, or a
 *   route through the executor: route_http.c) → guard out (placeholders restored, canary looked
 *   for, in JSON and in SSE) → respond → record (trace with key id, audit events, metrics,
 *   exactly one settlement of the key's reservation).
 *
 * A request is a struct srv_req (server.h). Stages that wait (store work on the writer thread,
 * the model call) continue from callbacks on this loop's thread. Every end goes through
 * `refuse` (the gateway said no), `post_process` (a model answered) or a parked reply (202).
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "route/policy.h"
#include "server/server.h"
#include "util/fileio.h"
#include "util/json.h"

#define DEFAULT_MAX_OUT                                                                            \
    4096 /* output tokens assumed (and imposed under a budget) when a request                      \
            names no max_tokens */

/* ---- ends ----------------------------------------------------------------------------------- */

/* The gateway refuses the request (guards, clearance, parking failures): answer, trace, free. */
static void refuse(struct srv_req *r, int status, const char *code, const char *fmt, ...)
    BELT_PRINTF(4, 5);
static void refuse(struct srv_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    belt__srv_req_unwatch(r);
    if (!r->client_gone && r->hr) {
        evhttp_add_header(evhttp_request_get_output_headers(r->hr), "x-belt-trace-id", r->trace_id);
        belt__srv_send_error_code(r->sl, r->hr, r->endpoint, status, code, "%s", msg);
    }
    r->final_status = status;
    if (!r->trace_status)
        r->trace_status = status == 400 || status == 403 ? "blocked" : "error";
    belt__srv_count_request(r, status, 0, 0, 0);
    belt__srv_submit_trace(r, NULL, BELT_ERR_FORBIDDEN, status, msg, 0, 0, 0);
    belt__srv_req_free(r);
}

/* The audit event of a model call. */
static void audit_call(struct srv_req *r, const struct belt_answer *a, int status)
{
    belt__srv_audit_add_call(&r->events, r->auth.grant.key_id[0] ? r->auth.grant.key_id : NULL,
                             r->trace_id, r->route, a->model, status, a->cost_usd, a->input_tokens,
                             a->output_tokens, r->stream, r->auth.grant.key_name);
}

/* Bookkeeping of an answered request: settlement, audit, metrics and trace; then free it. */
static void post_process(struct srv_req *r, const struct belt_answer *a)
{
    int status = r->final_status;
    belt__srv_settle(r->sl, &r->auth, a->cost_usd, a->input_tokens + a->output_tokens);
    audit_call(r, a, status);
    belt__srv_count_request(r, status, a->input_tokens, a->output_tokens, a->cost_usd);
    belt__srv_submit_trace(r, a, r->client_gone ? BELT_ERR_CANCELLED : a->status, status, a->error,
                           a->cost_usd, a->input_tokens, a->output_tokens);
    belt__srv_req_free(r);
}

/* ---- the model's answer -----------------------------------------------------------------------
 */

static void on_chunk(void *ud, struct belt_call *call, const struct belt_chunk *ck)
{
    if (belt__srv_relay_chunk(ud, ck, NULL) < 0)
        belt_call_cancel(call); /* no more tokens; on_answer follows this callback */
}

/* The answer's error when the output guard stopped it. */
static void blocked_answer(struct srv_req *r, struct belt_answer *out, const struct belt_answer *a)
{
    *out = *a;
    out->status = BELT_ERR_FORBIDDEN;
    out->http_status = 422;
    out->error = "the answer was blocked: it reveals the system prompt's canary token (system "
                 "prompt leakage)";
    snprintf(r->error_code, sizeof(r->error_code), "output_blocked");
    r->trace_status = "blocked";
}

/* Send a successful or failed answer that has not started streaming. */
static void respond(struct srv_req *r, const struct belt_answer *a)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    struct belt_answer blocked;
    int g = a->status == BELT_OK && !r->stream ? belt__srv_guard_answer(r, a->response, &b) : 0;
    if (g < 0) {
        blocked_answer(r, &blocked, a);
        a = &blocked;
    }
    r->final_status = a->http_status;
    belt__srv_send_answer(r, a, g > 0 ? b.data : NULL, b.len);
    belt_buf_deinit(&b);
}

static void on_answer(void *ud, struct belt_call *call, const struct belt_answer *a)
{
    struct srv_req *r = ud;
    (void)call;
    r->call = NULL;
    struct belt_answer alt;
    if (a->status == BELT_ERR_CANCELLED && r->output_blocked) {
        blocked_answer(r, &alt, a);
        a = &alt;
    } else if (a->status == BELT_ERR_CANCELLED && !r->client_gone && r->sl->grace_over) {
        alt = *a; /* cancelled by the shutdown, not by the client */
        alt.http_status = 503;
        alt.error = "the server shut down before the answer was ready";
        a = &alt;
    }
    r->final_status = r->client_gone ? 499 : a->http_status;
    if (r->client_gone) {
        if (r->hr) /* detached by evhttp: completing it frees it */
            evhttp_send_reply(r->hr, 499, "Client Closed Request", NULL);
    } else if (r->sse_started) {
        struct belt_buf rest;
        belt_buf_init(&rest, 0);
        if (a->status == BELT_OK && belt__srv_guard_stream_rest(r, &rest))
            belt__srv_sse_write(r, rest.data, rest.len);
        belt_buf_deinit(&rest);
        belt__srv_sse_finish(r, a);
    } else {
        respond(r, a);
    }
    if (!r->client_gone && !r->output_blocked)
        belt__srv_cache_store(r, a);
    post_process(r, a);
}

/* ---- stages -----------------------------------------------------------------------------------
 */

static int admit(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    if (sl->draining) {
        belt__srv_send_error(sl, hr, ep, 503, NULL, "the server is shutting down");
        return 0;
    }
    if ((int64_t)sl->n_reqs * sl->s->n_loops >= sl->s->cfg->max_inflight) {
        evhttp_add_header(evhttp_request_get_output_headers(hr), "Retry-After", "1");
        belt__srv_send_error(sl, hr, ep, 503, NULL,
                             "too many requests in progress (server.max_inflight)");
        return 0;
    }
    return 1;
}

/* The request for `body` (taken): the model or route it names; NULL after answering 404. */
static struct srv_req *open_request(struct srv_loop *sl, struct evhttp_request *hr, int ep,
                                    int kind, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "model"));
    struct belt__model *m = belt__models_find(&sl->s->e->models, name);
    size_t ri = 0;
    const struct belt_cfg_route *rc =
        !m && kind == BELT_CALL_CHAT
            ? belt__cfg_routes_find(&belt_engine_config(sl->s->e)->routes, name, &ri)
            : NULL;
    if (!m && !rc) {
        BELT_METRIC_ADD(sl->loop->shard->unknown_model, 1);
        belt__srv_send_error(sl, hr, ep, 404, "model", "The model '%s' does not exist", name);
        json_decref(body);
        return NULL;
    }
    struct srv_req *r = belt__srv_req_new(sl, hr, kind, ep);
    if (!r) {
        json_decref(body);
        belt__srv_send_error(sl, hr, ep, 500, NULL, "out of memory");
        return NULL;
    }
    r->body = body;
    r->route = rc ? rc->name : m->name; /* engine-owned */
    r->rcfg = rc;
    r->route_index = ri;
    r->model_index = m ? m->index : 0;
    r->stream = json_is_true(json_object_get(body, "stream"));
    r->include_usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    belt__srv_req_trace_id(r, hr);
    belt__srv_req_watch(r);
    return r;
}

/* The request's own output cap, or 0. */
static int64_t max_out(const json_t *body)
{
    const json_t *v = json_object_get(body, "max_completion_tokens");
    if (!json_is_integer(v))
        v = json_object_get(body, "max_tokens");
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
}

/* Keys: who sends it, may it use this model/route, rate limits, and a reservation of the cost
 * bound against the budgets. Under a budget, a request without max_tokens gets the assumed
 * default so that the bound holds. Returns -1 after answering. */
static int stage_auth(struct srv_req *r)
{
    int64_t in = belt__srv_input_bound(r->body, r->kind);
    int64_t asked = r->kind == BELT_CALL_CHAT ? max_out(r->body) : 0;
    int64_t out = r->kind == BELT_CALL_CHAT ? (asked ? asked : DEFAULT_MAX_OUT) : 0;
    double cost = belt__srv_cost_bound(r->sl->s, r->rcfg, r->model_index, in, out, &r->trusted);
    struct belt_auth_request ar = {
        NULL, r->rcfg ? NULL : r->route, r->rcfg ? r->route : NULL, NULL, in + out, cost};
    if (belt__srv_auth(r->sl, r->hr, r->endpoint, &ar, &r->auth, 0) != 0) {
        r->hr = NULL; /* answered */
        belt__srv_req_unwatch(r);
        belt__srv_req_free(r);
        return -1;
    }
    const struct belt_auth_grant *g = &r->auth.grant;
    int budgeted = r->auth.granted && (g->remaining_day_usd >= 0 || g->remaining_month_usd >= 0);
    if (budgeted && !asked && r->kind == BELT_CALL_CHAT) {
        json_object_set_new(r->body, "max_tokens", json_integer((json_int_t)out));
        r->body_changed = 1;
    }
    return 0;
}

/* The canonical hash of the request (sorted keys): what a review clears. */
static void request_hash(const struct srv_req *r, char out[65])
{
    char *s = belt_json_dumps(r->body, JSON_COMPACT | JSON_SORT_KEYS);
    belt_sha256_hex(s ? s : "", s ? strlen(s) : 0, out);
    belt_free(s);
}

/* The last user message's text (string content or text parts), borrowed; "" when none. */
const char *belt__srv_last_user_text(const json_t *body)
{
    const json_t *msgs = json_object_get(body, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        if (!json_is_string(json_object_get(m, "role")) ||
            strcmp(json_string_value(json_object_get(m, "role")), "user") != 0)
            continue;
        const json_t *c = json_object_get(m, "content");
        if (json_is_string(c))
            return json_string_value(c);
        const json_t *p0 = json_array_get(c, 0);
        if (json_is_string(json_object_get(p0, "text")))
            return json_string_value(json_object_get(p0, "text"));
    }
    return "";
}

json_t *belt__srv_park_payload(const struct srv_req *r, const json_t *request)
{
    char hash[65];
    request_hash(r, hash);
    return json_pack("{s:s, s:O, s:s, s:s, s:s?, s:s?}", "text", belt__srv_last_user_text(request),
                     "request", request, "request_sha256", hash, "trace_id", r->trace_id, "key_id",
                     r->auth.grant.key_id[0] ? r->auth.grant.key_id : NULL, "key_name",
                     r->auth.grant.key_name[0] ? r->auth.grant.key_name : NULL);
}

static void stage_guard(struct srv_req *r);
static void stage_call(struct srv_req *r);

static void after_park(struct srv_req *r, int alive, belt_status st, const char *msg)
{
    if (!alive || r->client_gone || !r->hr) {
        belt__srv_req_free(r);
        return;
    }
    if (st != BELT_OK) {
        refuse(r, 503, "review_unavailable",
               "the request needs a person's review but could not "
               "be parked: %s",
               msg);
        return;
    }
    belt__srv_req_unwatch(r);
    json_t *extra = json_pack("{s:s}", "reason", "a guard escalated the request to a person");
    belt__srv_send_parked(r, extra);
    json_decref(extra);
    r->final_status = 202;
    r->trace_status = "review";
    belt__srv_count_request(r, 202, 0, 0, 0);
    belt__srv_submit_trace(r, NULL, BELT_OK, 202, NULL, 0, 0, 0);
    belt__srv_req_free(r);
}

static void after_clear(struct srv_req *r, int alive, belt_status st, const char *msg)
{
    if (!alive || r->client_gone || !r->hr) {
        belt__srv_req_free(r);
        return;
    }
    if (st != BELT_OK) {
        refuse(r,
               st == BELT_ERR_NOTFOUND ? 404
               : st == BELT_ERR_BUSY   ? 409
                                       : 403,
               "review_not_clearing", "%s", msg);
        return;
    }
    r->cleared = 1;
    stage_guard(r);
}

/* x-belt-review: ID — a person cleared this very request after a guard escalated it. */
static void stage_clearance(struct srv_req *r)
{
    const char *id = evhttp_find_header(evhttp_request_get_input_headers(r->hr), "x-belt-review");
    if (!id || r->kind != BELT_CALL_CHAT) {
        stage_guard(r);
        return;
    }
    char hash[65];
    request_hash(r, hash);
    if (strlen(id) >= BELT_REVIEW_ID_MAX || belt__srv_clear(r, id, hash, after_clear) != 0)
        refuse(r, 400, "review_not_clearing", "x-belt-review: not a usable review id");
}

/* Injection (user and third-party text), then PII. */
static void stage_guard(struct srv_req *r)
{
    char reason[512] = "";
    int act = r->kind == BELT_CALL_CHAT && !r->cleared
                  ? belt__srv_guard_injection(r, reason, sizeof(reason))
                  : BELT_GUARD_ACTION_NONE;
    if (act == BELT_GUARD_ACTION_BLOCK) {
        refuse(r, 400, "prompt_injection_detected",
               "the request was blocked by the prompt-injection guard: %s", reason);
        return;
    }
    if (act == BELT_GUARD_ACTION_ESCALATE && r->use_route &&
        belt__route_strongest_tier(belt_engine_config(r->sl->s->e), r->rcfg) != BELT__ROUTE_NONE) {
        r->escalated = 1; /* a stronger tier takes it: the cascade starts at its strongest model */
        act = BELT_GUARD_ACTION_NONE;
    }
    if (act == BELT_GUARD_ACTION_ESCALATE) { /* no stronger tier: a person decides */
        char why[600];
        snprintf(why, sizeof(why), "possible prompt injection: %s", reason);
        json_t *payload = belt__srv_park_payload(r, r->body);
        int rc = payload ? belt__srv_park(r, "guard", why, payload, NULL, after_park) : -1;
        json_decref(payload);
        if (rc != 0)
            refuse(r, 503, "review_unavailable", "the request could not be parked for review");
        return;
    }
    if (belt__srv_guard_pii(r, reason, sizeof(reason)) != 0) {
        refuse(r, 400, "pii_detected", "%s", reason);
        return;
    }
    stage_call(r);
}

/* Cache, canary, then the model call (or the route executor). */
static void stage_call(struct srv_req *r)
{
    struct srv_loop *sl = r->sl;
    if (!r->use_route && belt__srv_try_cache(r, r->hr)) {
        belt__srv_req_free(r);
        return;
    }
    if (r->kind == BELT_CALL_CHAT && belt__srv_guard_canary(r, r->hr) != 0) {
        refuse(r, 500, NULL, "out of memory");
        return;
    }
    if (r->use_route) {
        belt__srv_route_start(r);
        return;
    }
    struct belt_call_params p = belt_call_default_params();
    p.model = r->route;
    p.kind = r->kind;
    p.request = r->body;
    if (!r->body_changed) { /* the client's bytes go upstream unchanged when nothing changed */
        struct evbuffer *in = evhttp_request_get_input_buffer(r->hr);
        p.request_len = evbuffer_get_length(in);
        p.request_json = (const char *)evbuffer_pullup(in, -1); /* contiguous since read_body */
    }
    p.stream = r->stream;
    p.timeout_ms = sl->s->cfg->request_timeout_ms;
    p.trace_id = r->trace_id;
    /* the output guard is the only reader of the answer's tree (placeholders, canary) */
    p.no_response_tree = !r->pii && !r->canary[0];
    p.on_chunk = on_chunk;
    p.on_answer = on_answer;
    p.ud = r;
    struct belt_error err = {0};
    belt__srv_req_watch_close(r);
    belt_status st = belt_call_start(sl->loop, &p, &r->call, &err);
    if (st != BELT_OK)
        refuse(r,
               st == BELT_ERR_INVALID    ? 400
               : st == BELT_ERR_NOTFOUND ? 404
                                         : 500,
               NULL, "%s", err.msg);
}

static void model_request(struct srv_loop *sl, struct evhttp_request *hr, int ep, int kind)
{
    if (!admit(sl, hr, ep))
        return;
    json_t *body = belt__srv_read_body(sl, hr, ep, kind);
    if (!body)
        return;
    struct srv_req *r = open_request(sl, hr, ep, kind, body);
    if (!r || stage_auth(r) != 0)
        return;
    if (kind == BELT_CALL_CHAT && belt__srv_route_meta(r) != 0)
        return;
    stage_clearance(r);
}

void belt__srv_handle_chat(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    model_request(sl, hr, ep, BELT_CALL_CHAT);
}

void belt__srv_handle_embeddings(struct srv_loop *sl, struct evhttp_request *hr, int ep)
{
    model_request(sl, hr, ep, BELT_CALL_EMBEDDINGS);
}
