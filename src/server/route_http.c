/*
 * route_http.c — routes in `belt serve` (issue 4): a chat request whose `model` names a route
 * runs through the live route executor (belt_route_call_start); a plain model keeps the direct
 * path, and its per-request budget is judged with the executor's estimates. This file reads the
 * request metadata the route's rules and budgets use, and strips it before anything goes upstream:
 *   body  metadata: {stakes: "high", tags: ["refund", ...]}  (other metadata keys stay)
 *   headers x-belt-stakes, x-belt-tags (comma-separated), x-belt-max-cost-usd,
 *           x-belt-max-latency-ms
 * plus the API key's name. It answers with the response headers x-belt-route and x-belt-tiers
 * (the compact path "TIER:MODEL:CONFIDENCE:DECISION;..."), a `belt` object in the body (the path,
 * `unresolved`), per-route metrics, the trace (one step per tier, via the executor's
 * conversion, plus the gateway's own fields) and a `route.decision` audit event. A route that
 * hands the task to a person (a `human` tier or rule) parks it in the review queue and answers
 * 202; a streamed request on such a route is run unstreamed and replayed as a stream when it
 * resolves.
 */
#include "belt_config.h"

#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/exec.h"
#include "server/server.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/str.h"

#define MAX_TAGS  32
#define TIERS_CAP 1024 /* x-belt-tiers header bytes at most (whole steps) */

/* ---- metadata ------------------------------------------------------------------------------- */

static int add_tag(struct srv_req *r, const char *t, size_t n)
{
    while (n && (*t == ' ' || *t == '\t'))
        t++, n--;
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (!n)
        return 0;
    for (size_t i = 0; i < r->n_tags; i++)
        if (strlen(r->tags[i]) == n && memcmp(r->tags[i], t, n) == 0)
            return 0;
    if (r->n_tags >= MAX_TAGS)
        return -1;
    if (!r->tags && !(r->tags = belt_calloc(MAX_TAGS, sizeof(*r->tags))))
        return -1;
    r->tags[r->n_tags] = belt_strndup(t, n);
    return r->tags[r->n_tags] ? (r->n_tags++, 0) : -1;
}

/* metadata.stakes / metadata.tags of the body: read, then removed. */
static const char *body_meta(struct srv_req *r)
{
    json_t *md = json_object_get(r->body, "metadata");
    if (!json_is_object(md))
        return NULL;
    const json_t *st = json_object_get(md, "stakes");
    const json_t *tags = json_object_get(md, "tags");
    if (st && !json_is_string(st))
        return "metadata.stakes must be a string";
    if (tags && !json_is_string(tags) && !json_is_array(tags))
        return "metadata.tags must be a string or a list of strings";
    if (st && !(r->stakes = belt_strdup(json_string_value(st))))
        return "out of memory";
    if (json_is_string(tags) && add_tag(r, json_string_value(tags), json_string_length(tags)) != 0)
        return "too many tags (at most 32)";
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (!json_is_string(t))
            return "metadata.tags must be a string or a list of strings";
        if (add_tag(r, json_string_value(t), json_string_length(t)) != 0)
            return "too many tags (at most 32)";
    }
    if (st || tags) { /* belt-only: never sent upstream */
        json_object_del(md, "stakes");
        json_object_del(md, "tags");
        if (json_object_size(md) == 0)
            json_object_del(r->body, "metadata");
        r->body_changed = 1;
    }
    return NULL;
}

static const char *header_meta(struct srv_req *r)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(r->hr);
    const char *st = evhttp_find_header(in, "x-belt-stakes");
    if (st && *st) {
        belt_free(r->stakes);
        if (!(r->stakes = belt_strdup(st)))
            return "out of memory";
    }
    const char *tags = evhttp_find_header(in, "x-belt-tags");
    for (const char *p = tags; p && *p;) {
        size_t n = strcspn(p, ",");
        if (add_tag(r, p, n) != 0)
            return "too many tags (at most 32)";
        p += n + (p[n] == ',');
    }
    const char *mc = evhttp_find_header(in, "x-belt-max-cost-usd");
    if (mc && (belt_parse_double(mc, &r->max_cost_usd) != 0 || !(r->max_cost_usd > 0) ||
               !isfinite(r->max_cost_usd)))
        return "x-belt-max-cost-usd must be a positive number of USD";
    const char *ml = evhttp_find_header(in, "x-belt-max-latency-ms");
    if (ml && (belt_parse_i64(ml, &r->max_latency_ms) != 0 || r->max_latency_ms <= 0))
        return "x-belt-max-latency-ms must be a positive number of milliseconds";
    return NULL;
}

/* A plain model under a per-request budget: refuse (402) when its expected cost or latency
 * (the executor's estimates, as a route's tier would be judged) breaks it. -1 after answering. */
static int model_budget(struct srv_req *r)
{
    struct belt_engine *e = r->sl->s->e;
    size_t n = e->models.n;
    struct belt__model_estimate *est = belt_calloc(n ? n : 1, sizeof(*est));
    if (!est)
        return 0;
    const char *text = belt__srv_last_user_text(r->body);
    belt__route_estimates(e->routes, r->body, text, strlen(text), est);
    const struct belt__model_estimate *m = &est[r->model_index];
    char why[256] = "";
    if (r->max_cost_usd > 0 && !isnan(m->cost_usd) && m->cost_usd > r->max_cost_usd)
        snprintf(why, sizeof(why), "budget: %s would cost ~$%.6g, the request allows $%.6g",
                 r->route, m->cost_usd, r->max_cost_usd);
    else if (r->max_latency_ms > 0 && m->latency_us > r->max_latency_ms * 1000)
        snprintf(why, sizeof(why), "budget: %s would take ~%lld ms, the request allows %lld ms",
                 r->route, (long long)(m->latency_us / 1000), (long long)r->max_latency_ms);
    belt_free(est);
    if (!why[0])
        return 0;
    belt__srv_req_unwatch(r);
    belt__srv_send_error_code(r->sl, r->hr, r->endpoint, 402, "budget_exceeded", "%s", why);
    r->final_status = 402;
    r->trace_status = "budget";
    belt__srv_count_request(r, 402, 0, 0, 0);
    belt__srv_submit_trace(r, NULL, BELT_OK, 402, why, 0, 0, 0);
    belt__srv_req_free(r);
    return -1;
}

int belt__srv_route_meta(struct srv_req *r)
{
    const char *problem = body_meta(r);
    if (!problem)
        problem = header_meta(r);
    if (problem) {
        belt__srv_req_unwatch(r);
        belt__srv_send_error(r->sl, r->hr, r->endpoint, 400, NULL, "%s", problem);
        belt__srv_req_free(r);
        return -1;
    }
    r->use_route = r->rcfg != NULL;
    if (!r->rcfg && (r->max_cost_usd > 0 || r->max_latency_ms > 0))
        return model_budget(r);
    return 0;
}

void belt__srv_route_free(struct srv_req *r)
{
    for (size_t i = 0; i < r->n_tags; i++)
        belt_free(r->tags[i]);
    belt_free(r->tags);
    belt_free(r->stakes);
    belt_free(r->route_json);
    json_decref(r->park_body);
    belt_route_answer_free(r->parked);
    r->tags = NULL;
    r->n_tags = 0;
    r->stakes = NULL;
    r->route_json = NULL;
    r->park_body = NULL;
    r->parked = NULL;
}

/* ---- reachability of a person --------------------------------------------------------------- */

static int reaches_human(const struct belt_config *cfg, const struct belt_cfg_route *rc, int depth);

static int target_human(const struct belt_config *cfg, const struct belt_cfg_target *t, int depth)
{
    if (t->kind == BELT_TARGET_HUMAN)
        return 1;
    if (t->kind == BELT_TARGET_MODEL && t->index < cfg->models.n)
        return strcmp(belt__provider_names[cfg->models.v[t->index].provider], "human") == 0;
    if (t->kind == BELT_TARGET_ROUTE && t->index < cfg->routes.n)
        return reaches_human(cfg, &cfg->routes.v[t->index], depth + 1);
    return 0;
}

static int reaches_human(const struct belt_config *cfg, const struct belt_cfg_route *rc, int depth)
{
    if (!rc || depth > 16)
        return 0;
    for (size_t i = 0; i < rc->n_targets; i++)
        if (target_human(cfg, &rc->targets[i], depth))
            return 1;
    for (size_t i = 0; i < rc->n_tiers; i++)
        if (target_human(cfg, &rc->tiers[i].target, depth))
            return 1;
    for (size_t i = 0; i < rc->n_rules; i++)
        if (target_human(cfg, &rc->rules[i].target, depth))
            return 1;
    return rc->kind == BELT_ROUTE_RULES && target_human(cfg, &rc->dflt, depth);
}

/* ---- the answer ----------------------------------------------------------------------------- */

/* The compact path for x-belt-tiers (format: belt_route_answer_tiers). */
static void tiers_header(const struct belt_route_answer *a, char *out, size_t cap)
{
    belt_route_answer_tiers(a, out, cap);
}

/* Did the route hand the task to a person? */
static int handed_to_person(const struct belt_route_answer *a)
{
    for (size_t i = 0; i < a->n_steps; i++)
        if (strcmp(a->steps[i].event, "human") == 0)
            return 1;
    return 0;
}

static void route_headers(struct srv_req *r, const struct belt_route_answer *a)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->hr);
    char tiers[TIERS_CAP];
    tiers_header(a, tiers, sizeof(tiers));
    evhttp_add_header(h, "x-belt-route", r->route);
    if (tiers[0])
        evhttp_add_header(h, "x-belt-tiers", tiers);
    if (!a->resolved)
        evhttp_add_header(h, "x-belt-unresolved", belt_route_outcome_name(a->outcome));
}

/* The answer body with the `belt` object (path, unresolved) added; placeholders restored and
 * the canary checked. -1 when the output guard blocked it. */
static int answer_body(struct srv_req *r, const struct belt_route_answer *ra, struct belt_buf *out)
{
    const struct belt_answer *a = ra->answer;
    struct belt_buf g;
    belt_buf_init(&g, 0);
    int rc = belt__srv_guard_answer(r, a->response, &g);
    json_t *doc = rc > 0    ? json_loadb(g.data, g.len, 0, NULL)
                  : rc == 0 ? json_deep_copy(a->response)
                            : NULL;
    belt_buf_deinit(&g);
    if (rc < 0)
        return -1;
    json_t *belt = r->route_json ? json_loads(r->route_json, 0, NULL) : json_object();
    if (belt)
        json_object_set_new(belt, "unresolved", json_boolean(!ra->resolved));
    if (json_is_object(doc) && belt)
        json_object_set_new(doc, "belt", belt);
    else
        json_decref(belt);
    belt_buf_reset(out);
    belt_json_dump_buf(doc ? doc : a->response, JSON_COMPACT, out);
    json_decref(doc);
    return 0;
}

/* Metrics of a finished route request. */
static void count_route(struct srv_req *r, const struct belt_route_answer *a)
{
    if (!r->rcfg || !r->sl->routes)
        return;
    struct srv_route_counters *c = &r->sl->routes[r->route_index];
    {
        if (a->outcome < 4)
            BELT_METRIC_ADD(c->outcomes[a->outcome], 1);
        BELT_METRIC_ADD(c->cost_nusd, (uint64_t)(a->cost_usd * 1e9 + 0.5));
        BELT_METRIC_ADD(c->calls, (uint64_t)(a->n_calls > 0 ? a->n_calls : 0));
        for (size_t i = 0; i < a->n_steps; i++) {
            const char *ev = a->steps[i].event;
            if (a->steps[i].depth == 0 && strcmp(ev, "escalated") == 0)
                BELT_METRIC_ADD(c->escalations, 1);
            else if (a->steps[i].depth == 0 && strcmp(ev, "skipped") == 0)
                BELT_METRIC_ADD(c->budget_skips, 1);
            int t = a->steps[i].tier;
            if (a->steps[i].depth == 0 && t >= 0 && t < SRV_ROUTE_TIERS &&
                (strcmp(ev, "accepted") == 0 || strcmp(ev, "answered") == 0))
                BELT_METRIC_ADD(c->answered_at[t], 1);
        }
    }
}

/* The trace (the executor's conversion + the gateway's fields), audit, metrics, settlement. */
static void record_route(struct srv_req *r, const struct belt_route_answer *a, int status)
{
    struct belt_engine *e = r->sl->s->e;
    belt__srv_settle(r->sl, &r->auth, a->cost_usd, a->input_tokens + a->output_tokens);
    json_t *d =
        json_pack("{s:s, s:s, s:b, s:s?, s:i, s:f, s:i, s:s?, s:s?}", "route", r->route, "outcome",
                  belt_route_outcome_name(a->outcome), "resolved", a->resolved, "model", a->model,
                  "final_tier", a->final_tier + 1, "cost_usd", a->cost_usd, "http_status", status,
                  "stakes", r->stakes, "review_id", r->review_id[0] ? r->review_id : NULL);
    if (d && r->route_json)
        json_object_set_new(d, "path", json_loads(r->route_json, 0, NULL));
    const char *actor = r->auth.grant.key_id[0] ? r->auth.grant.key_id : NULL;
    belt__srv_audit_add(&r->events, "route.decision", actor, r->trace_id, d);
    if (a->answer) {
        json_t *mc = json_pack("{s:s, s:s?, s:i, s:f, s:I, s:I, s:b}", "route", r->route, "model",
                               a->model, "http_status", status, "cost_usd", a->cost_usd,
                               "input_tokens", (json_int_t)a->input_tokens, "output_tokens",
                               (json_int_t)a->output_tokens, "stream", r->stream);
        belt__srv_audit_add(&r->events, "model.call", actor, r->trace_id, mc);
    }
    belt__srv_count_request(r, status, a->input_tokens, a->output_tokens, a->cost_usd);
    count_route(r, a);
    if (!e->trace_on)
        return;
    struct belt_trace_rec *t = belt__route_trace_rec(e, a, 0);
    if (!t)
        return;
    memcpy(t->id, r->trace_id, sizeof(t->id));
    t->ts_ms = r->ts_ms;
    t->http_status = status;
    t->latency_us = belt_now_us() - r->start_us;
    t->stream = r->stream;
    if (r->trace_status)
        t->status = r->trace_status;
    if (r->auth.grant.key_id[0]) {
        snprintf(t->key_buf, sizeof(t->key_buf), "%s", r->auth.grant.key_id);
        t->key_id = t->key_buf;
    }
    if (r->guard_attrs || r->auth.grant.key_name[0] || r->review_id[0]) {
        json_t *attrs = t->attrs ? json_loads(t->attrs, 0, NULL) : json_object();
        if (attrs) {
            if (r->guard_attrs)
                json_object_set(attrs, "belt.guard", r->guard_attrs);
            if (r->auth.grant.key_name[0])
                json_object_set_new(attrs, "belt.key_name", json_string(r->auth.grant.key_name));
            if (r->review_id[0])
                json_object_set_new(attrs, "belt.review_id", json_string(r->review_id));
            belt_free(t->attrs);
            t->attrs = belt_json_dumps(attrs, JSON_COMPACT);
            json_decref(attrs);
        }
    }
    belt__trace_submit(e->writer, t);
}

/* ---- the call ------------------------------------------------------------------------------- */

static void on_route_chunk(void *ud, struct belt_route_call *rc, const struct belt_chunk *ck)
{
    struct srv_req *r = ud;
    if (belt__srv_relay_chunk(r, ck, r->route) < 0)
        belt_route_call_cancel(rc); /* on_answer follows this callback */
}

/* The answer was parked for a person: 202 (or an error when the store refused). */
static void after_route_park(struct srv_req *r, int alive, belt_status st, const char *msg)
{
    struct belt_route_answer *a = r->parked;
    r->parked = NULL;
    if (!alive || r->client_gone || !r->hr) {
        belt_route_answer_free(a);
        belt__srv_req_free(r);
        return;
    }
    belt__srv_req_unwatch(r);
    int status = 202;
    if (st == BELT_OK) {
        route_headers(r, a);
        json_t *belt = r->route_json ? json_loads(r->route_json, 0, NULL) : NULL;
        json_t *extra = json_pack("{s:s, s:o?}", "reason", "the route hands this task to a person",
                                  "belt", belt);
        belt__srv_send_parked(r, extra);
        json_decref(extra);
        r->trace_status = "review";
    } else {
        status = 503;
        belt__srv_send_error_code(r->sl, r->hr, r->endpoint, 503, "review_unavailable",
                                  "the route hands this task to a person but it could not be "
                                  "parked: %s",
                                  msg);
    }
    r->final_status = status;
    record_route(r, a, status);
    belt_route_answer_free(a);
    belt__srv_req_free(r);
}

/* Park the task with its best answer so far (restored for the reviewer). 0 when queued. */
static int park_route(struct srv_req *r, const struct belt_route_answer *a)
{
    struct belt_buf g;
    belt_buf_init(&g, 0);
    json_t *best = NULL;
    if (a->answer && a->answer->content) {
        char *txt = NULL;
        size_t n = 0;
        struct belt_error err = {0};
        if (r->pii && belt_pii_restore(r->pii, a->answer->content, a->answer->content_len, &txt, &n,
                                       &err) == BELT_OK) {
            best = json_stringn(txt, n);
            belt_free(txt);
        } else {
            best = json_stringn(a->answer->content, a->answer->content_len);
        }
    }
    belt_buf_deinit(&g);
    json_t *payload = belt__srv_park_payload(r, r->park_body ? r->park_body : r->body);
    const char *why = "the route hands this task to a person";
    for (size_t i = 0; i < a->n_steps; i++)
        if (strcmp(a->steps[i].event, "human") == 0 && a->steps[i].reason && *a->steps[i].reason)
            why = a->steps[i].reason;
    r->parked = belt_route_answer_copy(a);
    int rc = payload && r->parked ? belt__srv_park(r, "route", why, payload, best, after_route_park)
                                  : -1;
    json_decref(payload);
    json_decref(best);
    if (rc != 0) {
        belt_route_answer_free(r->parked);
        r->parked = NULL;
    }
    return rc;
}

/* SSE comments closing a streamed route answer: the route and its compact path (headers were
 * sent before the path was known). */
static void sse_route_trailer(struct srv_req *r, const struct belt_route_answer *a)
{
    char tiers[TIERS_CAP];
    tiers_header(a, tiers, sizeof(tiers));
    struct belt_buf b;
    belt_buf_init(&b, 0);
    belt_buf_printf(&b, ": x-belt-route=%s\n: x-belt-tiers=%s\n", r->route, tiers);
    if (!a->resolved)
        belt_buf_printf(&b, ": x-belt-unresolved=%s\n", belt_route_outcome_name(a->outcome));
    belt_buf_puts(&b, "\n");
    belt__srv_sse_write(r, b.data, b.len);
    belt_buf_deinit(&b);
}

/* A resolved answer of a run made unstreamed for a stream request: replay it as SSE. */
static void replay_stream(struct srv_req *r, const struct belt_route_answer *a, const char *body,
                          size_t len)
{
    belt__srv_sse_start(r, a->model);
    belt__srv_sse_replay(r, body, len);
    sse_route_trailer(r, a);
    struct belt_answer fin = *a->answer;
    fin.cost_usd = a->cost_usd;
    belt__srv_sse_finish(r, &fin);
}

static void send_route_answer(struct srv_req *r, const struct belt_route_answer *a)
{
    route_headers(r, a);
    if (!a->answer) { /* failed, or unresolved/budget without any answer */
        struct belt_answer none;
        memset(&none, 0, sizeof(none));
        none.status = a->status != BELT_OK ? a->status : BELT_ERR_UPSTREAM;
        none.http_status = a->http_status >= 400             ? a->http_status
                           : a->outcome == BELT_ROUTE_BUDGET ? 402
                                                             : 502;
        none.error = a->error && *a->error ? a->error
                     : a->outcome == BELT_ROUTE_BUDGET
                         ? "every tier would break the budget and no answer was given"
                         : "no tier gave an acceptable answer";
        none.model = r->route;
        if (a->outcome == BELT_ROUTE_BUDGET)
            snprintf(r->error_code, sizeof(r->error_code), "budget_exceeded");
        r->final_status = none.http_status;
        belt__srv_send_answer(r, &none, NULL, 0);
        return;
    }
    struct belt_buf b;
    belt_buf_init(&b, 0);
    struct belt_answer ans = *a->answer;
    ans.cost_usd = a->cost_usd; /* the route's total, not the last call's */
    if (answer_body(r, a, &b) != 0) {
        ans.status = BELT_ERR_FORBIDDEN;
        ans.http_status = 422;
        ans.error = "the answer was blocked: it reveals the system prompt's canary token "
                    "(system prompt leakage)";
        snprintf(r->error_code, sizeof(r->error_code), "output_blocked");
        r->trace_status = "blocked";
    }
    r->final_status = ans.status == BELT_OK ? 200 : ans.http_status;
    if (ans.status == BELT_OK && r->stream) {
        belt__srv_req_unwatch(r);
        replay_stream(r, a, b.data, b.len);
    } else {
        belt__srv_send_answer(r, &ans, ans.status == BELT_OK ? b.data : NULL, b.len);
    }
    belt_buf_deinit(&b);
}

static void on_route_answer(void *ud, struct belt_route_call *rc, const struct belt_route_answer *a)
{
    struct srv_req *r = ud;
    (void)rc;
    r->rcall = NULL;
    r->route_json = belt_route_answer_json(a);
    struct belt_route_answer alt;
    if (a->status == BELT_ERR_CANCELLED && !r->client_gone && !r->sse_started &&
        (r->output_blocked || r->sl->grace_over)) {
        alt = *a; /* stopped by the output guard or by the shutdown, not by the client */
        alt.answer = NULL;
        alt.http_status = r->output_blocked ? 422 : 503;
        alt.error = r->output_blocked ? "the answer was blocked: it reveals the system prompt's "
                                        "canary token (system prompt leakage)"
                                      : "the server shut down before the answer was ready";
        if (r->output_blocked) {
            snprintf(r->error_code, sizeof(r->error_code), "output_blocked");
            r->trace_status = "blocked";
        }
        a = &alt;
    }
    int status;
    if (r->client_gone) {
        status = 499;
        if (r->hr)
            evhttp_send_reply(r->hr, 499, "Client Closed Request", NULL);
    } else if (r->sse_started) { /* streamed live (or synthesised) by the executor */
        struct belt_answer fin;
        memset(&fin, 0, sizeof(fin));
        int shut = a->status == BELT_ERR_CANCELLED && r->sl->grace_over;
        fin.status = r->output_blocked ? BELT_ERR_FORBIDDEN : a->status;
        fin.http_status = r->output_blocked ? 422 : shut ? 503 : a->http_status;
        fin.error = r->output_blocked ? "the answer was blocked: it reveals the system prompt's "
                                        "canary token (system prompt leakage)"
                    : shut            ? "the server shut down before the answer was ready"
                                      : a->error;
        fin.cost_usd = a->cost_usd;
        if (r->output_blocked)
            snprintf(r->error_code, sizeof(r->error_code), "output_blocked");
        struct belt_buf rest;
        belt_buf_init(&rest, 0);
        if (fin.status == BELT_OK && belt__srv_guard_stream_rest(r, &rest))
            belt__srv_sse_write(r, rest.data, rest.len);
        belt_buf_deinit(&rest);
        sse_route_trailer(r, a);
        belt__srv_sse_finish(r, &fin);
        status = fin.status == BELT_OK ? 200 : fin.http_status;
    } else if (a->status == BELT_OK && a->outcome == BELT_ROUTE_UNRESOLVED && handed_to_person(a) &&
               !r->sl->torn_down && park_route(r, a) == 0) {
        return; /* after_route_park answers 202 */
    } else {
        send_route_answer(r, a);
        status = r->final_status;
    }
    r->final_status = status;
    record_route(r, a, status);
    belt__srv_req_free(r);
}

void belt__srv_route_start(struct srv_req *r)
{
    struct srv_loop *sl = r->sl;
    /* a route that may hand the task to a person answers 202 then: run it unstreamed and replay
     * a resolved answer as a stream */
    int person = reaches_human(belt_engine_config(sl->s->e), r->rcfg, 0);
    if (person && !r->park_body)
        r->park_body = json_deep_copy(r->body); /* before the canary, for the reviewer */
    struct belt_route_call_params p = belt_route_call_default_params();
    p.name = r->route;
    p.request = r->body;
    p.stakes = r->stakes;
    p.tags = (const char *const *)r->tags;
    p.n_tags = r->n_tags;
    p.escalated = r->escalated;
    p.key_name = r->auth.grant.key_name[0] ? r->auth.grant.key_name : NULL;
    p.max_cost_usd = r->max_cost_usd;
    p.max_latency_ms = r->max_latency_ms;
    p.timeout_ms = sl->s->cfg->request_timeout_ms;
    p.stream = r->stream && !person;
    p.trace_id = r->trace_id;
    p.trace = 0; /* recorded here, with the gateway's fields */
    p.on_chunk = on_route_chunk;
    p.on_answer = on_route_answer;
    p.ud = r;
    struct belt_error err = {0};
    belt__srv_req_watch_close(r);
    belt_status st = belt_route_call_start(sl->loop, &p, &r->rcall, &err);
    if (st == BELT_OK)
        return;
    belt__srv_req_unwatch(r);
    int status = st == BELT_ERR_INVALID ? 400 : st == BELT_ERR_NOTFOUND ? 404 : 500;
    belt__srv_send_error(sl, r->hr, r->endpoint, status, NULL, "%s", err.msg);
    r->final_status = status;
    r->trace_status = "error";
    belt__srv_count_request(r, status, 0, 0, 0);
    belt__srv_submit_trace(r, NULL, st, status, err.msg, 0, 0, 0);
    belt__srv_req_free(r);
}
