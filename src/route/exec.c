/*
 * exec.c — the live route executor (belt.h, "Running a route live"): a route call drives the
 * policy step machine (route/policy.h) with real model calls on a loop. Each CALL action
 * becomes one or more model calls (exec_calls.c); when all have answered, their answers are fed
 * to the policy and the next action is taken, until DONE. Every policy step becomes a line of
 * the path (exec_path.c) with the cost, latency and attempts of the calls made for it.
 *
 * Lifecycle: start → (calls ... group done → feed → next)* → conclude → finish_up (synthesised
 * stream when the answer was judged before being sent, trace record, on_answer) → destroy.
 * Cancellation and the deadline abort: calls in flight are cancelled and the route call ends
 * as soon as the last one is back. Answers are delivered from the loop, never from inside
 * belt_route_call_start.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "model/model.h"
#include "model/replay.h"
#include "route/exec_int.h"
#include "trace/trace.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

const char *belt_route_outcome_name(enum belt_route_outcome o)
{
    static const char *const names[] = {"answered", "unresolved", "budget", "failed"};
    return (unsigned)o < BELT_ARRAY_LEN(names) ? names[o] : "?";
}

struct belt_route_call_params belt_route_call_default_params(void)
{
    struct belt_route_call_params p;
    memset(&p, 0, sizeof(p));
    return p;
}

int belt_route_exists(const struct belt_engine *e, const char *name)
{
    return name && (belt__cfg_routes_find(&e->cfg->routes, name, NULL) ||
                    belt__cfg_models_find(&e->cfg->models, name));
}

/* ---- teardown ------------------------------------------------------------------------------ */

static void destroy(struct belt_route_call *rc)
{
    struct belt_loop *l = rc->l;
    if (rc->prev)
        rc->prev->next = rc->next;
    else if (l->route_calls == rc)
        l->route_calls = rc->next;
    if (rc->next)
        rc->next->prev = rc->prev;
    if (rc->defer_ev)
        event_free(rc->defer_ev);
    if (rc->timer_ev)
        event_free(rc->timer_ev);
    belt__rc_groups_free(rc->groups);
    json_decref(rc->req);
    belt_free(rc->req_json);
    belt_free(rc->name);
    belt_free(rc->text);
    belt_free(rc->stakes);
    for (size_t i = 0; i < rc->n_tags; i++)
        belt_free(rc->tags[i]);
    belt_free(rc->tags);
    belt_free(rc->key_name);
    belt_free(rc->key_id);
    belt_free(rc->est);
    belt_free(rc);
}

/* ---- delivery ----------------------------------------------------------------------------- */

static void submit_trace(struct belt_route_call *rc, const struct belt_route_answer *a)
{
    struct belt_engine *e = rc->l->e;
    if (!rc->trace || !e->trace_on || !e->writer)
        return;
    struct belt_trace_rec *t = belt__route_trace_rec(e, a, 0);
    if (!t) {
        BELT_LOG_W("route %s: out of memory recording the trace", rc->name);
        return;
    }
    t->ts_ms = rc->ts_ms;
    t->key_id = NULL; /* key ids are not engine-owned strings; the gateway records its own */
    belt__trace_submit(e->writer, t);
}

/* Deliver the answer as chunks: the role and content (and tool calls), the finish reason, the
 * usage. Returns 0 when the client cancelled meanwhile. */
static int synth_stream(struct belt_route_call *rc)
{
    const struct belt_answer *a = rc->final;
    const json_t *resp = a->response;
    const json_t *ch0 = json_array_get(json_object_get(resp, "choices"), 0);
    json_t *delta = json_deep_copy(json_object_get(ch0, "message"));
    if (!delta)
        delta = json_pack("{s:s, s:s}", "role", "assistant", "content", a->content);
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
    {
        json_object_set_new(tc, "index", json_integer((json_int_t)i));
    }
    const char *id = belt_json_str(resp, "id"), *model = belt_json_str(resp, "model");
    json_int_t created = (json_int_t)belt_json_int(resp, "created", 0);
    json_t *chunks[3];
    chunks[0] = json_pack("{s:s?, s:s, s:I, s:s?, s:[{s:i, s:o, s:n, s:n}]}", "id", id, "object",
                          "chat.completion.chunk", "created", created, "model", model, "choices",
                          "index", 0, "delta", delta, "logprobs", "finish_reason");
    chunks[1] = json_pack("{s:s?, s:s, s:I, s:s?, s:[{s:i, s:{}, s:n, s:s}]}", "id", id, "object",
                          "chat.completion.chunk", "created", created, "model", model, "choices",
                          "index", 0, "delta", "logprobs", "finish_reason",
                          *a->finish_reason ? a->finish_reason : "stop");
    chunks[2] = json_pack("{s:s?, s:s, s:I, s:s?, s:[], s:O?}", "id", id, "object",
                          "chat.completion.chunk", "created", created, "model", model, "choices",
                          "usage", json_object_get(resp, "usage"));
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        char *data = chunks[k] ? belt_json_dumps(chunks[k], JSON_COMPACT) : NULL;
        if (ok && data && !rc->cancel_requested) {
            struct belt_chunk ck;
            memset(&ck, 0, sizeof(ck));
            ck.chunk = chunks[k];
            ck.data = data;
            ck.len = strlen(data);
            ck.delta = k == 0 ? a->content : "";
            ck.delta_len = k == 0 ? a->content_len : 0;
            ck.usage_only = k == 2;
            ck.index = k;
            ck.model = a->model;
            rc->in_user_cb++;
            rc->on_chunk(rc->ud, rc, &ck);
            rc->in_user_cb--;
        }
        ok = ok && !rc->cancel_requested;
        belt_free(data);
        json_decref(chunks[k]);
    }
    return ok;
}

static void deliver(struct belt_route_call *rc)
{
    /* Only an accepted answer is streamed: an unresolved or over-budget one is not the route's
     * answer; the front end decides how to show it (the gateway: 202 + a review item). */
    if (rc->stream && rc->final && !rc->n_live_chunks && !rc->synth_done && rc->status == BELT_OK &&
        rc->outcome == BELT_ROUTE_ANSWERED) {
        rc->synth_done = 1;
        if (!synth_stream(rc)) {
            rc->status = BELT_ERR_CANCELLED;
            rc->http_status = 499;
            snprintf(rc->error, sizeof(rc->error), "cancelled");
        }
    }
    struct belt_route_answer a;
    belt__rc_fill_answer(rc, &a);
    submit_trace(rc, &a);
    rc->in_user_cb++;
    rc->on_answer(rc->ud, rc, &a);
    destroy(rc);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver(arg);
}

void belt__rc_finish_up(struct belt_route_call *rc)
{
    if (rc->in_start) {
        event_active(rc->defer_ev, 0, 0);
        return;
    }
    deliver(rc);
}

/* ---- concluding --------------------------------------------------------------------------- */

static void set_error(struct belt_route_call *rc, belt_status st, int http, const char *fmt, ...)
    BELT_PRINTF(4, 5);

static void set_error(struct belt_route_call *rc, belt_status st, int http, const char *fmt, ...)
{
    rc->status = st;
    rc->http_status = http;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rc->error, sizeof(rc->error), fmt, ap);
    va_end(ap);
}

void belt__rc_abort(struct belt_route_call *rc, belt_status st, int http, const char *msg)
{
    if (rc->concluded)
        return;
    rc->concluded = 1;
    rc->outcome = BELT_ROUTE_FAILED;
    rc->final = NULL;
    set_error(rc, st, http, "%s", msg && *msg ? msg : belt_strerror(st));
    if (rc->stream_broken)
        set_error(rc, st, http,
                  "route %s: the answer's stream broke after %lld chunks (%s); "
                  "a route cannot escalate once streaming started",
                  rc->name, (long long)rc->n_live_chunks, msg && *msg ? msg : belt_strerror(st));
    rc->in_abort = 1;
    belt__rc_cancel_slots(rc);
    rc->in_abort = 0;
    if (rc->n_slots == 0)
        belt__rc_finish_up(rc);
}

/* The model answer behind the policy's final answer (NULL when none). */
static const struct belt_answer *source_of(const struct belt_route_call *rc,
                                           const struct belt__answer *x)
{
    for (const struct rc_group *g = rc->groups; x && g; g = g->next)
        if (x >= g->ans && x < g->ans + g->n)
            return g->src[x - g->ans];
    return NULL;
}

static void conclude(struct belt_route_call *rc, const struct belt__route_action *act)
{
    rc->concluded = 1;
    static const enum belt_route_outcome map[] = {BELT_ROUTE_ANSWERED, BELT_ROUTE_UNRESOLVED,
                                                  BELT_ROUTE_BUDGET, BELT_ROUTE_FAILED};
    rc->outcome = (unsigned)act->outcome < 4 ? map[act->outcome] : BELT_ROUTE_FAILED;
    rc->final = act->answer && act->answer->status == BELT_OK ? source_of(rc, act->answer) : NULL;
    rc->final_tier = rc->run.final_tier == BELT__ROUTE_NONE ? -1 : (int)rc->run.final_tier;
    rc->status = BELT_OK;
    rc->error[0] = '\0';
    switch (rc->outcome) {
    case BELT_ROUTE_ANSWERED:
        rc->http_status = 200;
        break;
    case BELT_ROUTE_UNRESOLVED:
        rc->http_status = 202;
        break;
    case BELT_ROUTE_BUDGET:
        rc->http_status = rc->final ? 200 : 402;
        break;
    case BELT_ROUTE_FAILED:
        if (rc->run.error[0])
            set_error(rc, BELT_ERR_INTERNAL, 500, "route %s: %s", rc->name, rc->run.error);
        else if (rc->fail_status != BELT_OK)
            set_error(rc, rc->fail_status, rc->fail_http ? rc->fail_http : 502, "%s", rc->fail_msg);
        else
            set_error(rc, BELT_ERR_UPSTREAM, 502, "route %s: no answer", rc->name);
        rc->final = NULL;
        break;
    }
    belt__rc_finish_up(rc);
}

/* ---- driving the policy ------------------------------------------------------------------- */

static void note_failures(struct belt_route_call *rc, const struct rc_group *g)
{
    for (int i = 0; i < g->n; i++) {
        if (g->ans[i].status == BELT_OK || g->purpose != 0)
            continue;
        const struct belt_answer *src = g->src[i];
        rc->fail_status = g->ans[i].status;
        rc->fail_http = src ? src->http_status : 0;
        if (!rc->fail_http)
            rc->fail_http = g->ans[i].status == BELT_ERR_NOTFOUND  ? 404
                            : g->ans[i].status == BELT_ERR_INVALID ? 400
                                                                   : 502;
        snprintf(rc->fail_msg, sizeof(rc->fail_msg), "%s",
                 g->ans[i].error ? g->ans[i].error : belt_strerror(g->ans[i].status));
    }
}

/* Start the next action; loop while actions finish without a call in flight. */
static void drive(struct belt_route_call *rc)
{
    for (;;) {
        struct belt__route_action act;
        belt__route_next(&rc->run, &act);
        belt__rc_absorb_steps(rc);
        if (act.kind == BELT__ACT_DONE) {
            conclude(rc, &act);
            return;
        }
        if (act.purpose == 0) { /* a new tier: calls are attributed to it until judged */
            const struct belt__route_frame *f = &rc->run.frames[rc->run.depth - 1];
            rc->acc = (struct rc_acc){0};
            rc->acc.active = 1;
            rc->acc.route = f->route;
            rc->acc.tier = f->pos;
            rc->acc.model = act.model;
            rc->acc.depth = (int)rc->run.depth - 1;
            rc->acc.sig = belt__rc_no_signals();
        }
        struct rc_group *g = NULL;
        if (belt__rc_start_action(rc, &act, &g))
            return; /* calls in flight */
        if (!g) {
            belt__rc_abort(rc, BELT_ERR_NOMEM, 500, "out of memory");
            return;
        }
        note_failures(rc, g);
        belt__route_feed(&rc->run, g->ans, (size_t)g->n);
    }
}

static int agree(const struct belt__answer *a, const struct belt__answer *b, unsigned flags)
{
    return a->status == BELT_OK && b->status == BELT_OK && a->text && b->text &&
           belt__normalized_equal(a->text, a->len, b->text, b->len, flags);
}

/* The accept condition of the tier being judged (the accumulator's), or NULL. */
static const struct belt__accept *tier_accept_of(const struct belt_route_call *rc)
{
    const struct belt_cfg_route *r = &rc->env.cfg->routes.v[rc->acc.route];
    return rc->acc.tier < r->n_tiers ? r->tiers[rc->acc.tier].accept : NULL;
}

/* Record the confidence signals the group brings into the tier accumulator. */
static void collect_signals(struct belt_route_call *rc, struct rc_group *g)
{
    struct belt_route_signals *s = &rc->acc.sig;
    const struct belt__answer *subject =
        rc->run.depth ? rc->run.frames[rc->run.depth - 1].ans : NULL;
    if (g->purpose == 0) {
        s->confidence = g->ans[0].confidence;
        s->logprob_mean = g->ans[0].logprob_mean;
        s->logprob_min = g->ans[0].logprob_min;
    } else if (g->purpose == BELT__NEED_VERIFY) {
        g->ans[0].score = g->ans[0].status == BELT_OK ? belt__rc_parse_score(g->src[0]) : NAN;
        s->score = g->ans[0].score;
        if (g->ans[0].status == BELT_OK && isnan(s->score))
            BELT_LOG_D("route %s: the verifier's answer holds no score", rc->name);
    } else if (subject && g->purpose == BELT__NEED_SAMPLES) {
        const struct belt__accept *c =
            belt__rc_find_accept(tier_accept_of(rc), BELT__ACCEPT_SAMPLES, 0);
        unsigned flags = c ? c->normalize : BELT__NORM_DEFAULT;
        int agreeing = 1, compared = 1;
        for (int i = 0; i < g->n; i++) {
            compared += g->ans[i].status == BELT_OK;
            agreeing += agree(subject, &g->ans[i], flags);
        }
        s->agree = agreeing;
        s->compared = compared;
    } else if (subject && g->purpose == BELT__NEED_PEER) {
        const struct belt__accept *c =
            belt__rc_find_accept(tier_accept_of(rc), BELT__ACCEPT_PEER, g->model);
        s->peer_agree = agree(subject, &g->ans[0], c ? c->normalize : BELT__NORM_DEFAULT);
    }
}

/* Is the top frame one that returns any successful answer (fixed, fallback, balance, rules)? */
static int top_untiered(const struct belt_route_call *rc)
{
    if (!rc->run.depth)
        return 0;
    const struct belt_cfg_route *r =
        &rc->env.cfg->routes.v[rc->run.frames[rc->run.depth - 1].route];
    return r->kind != BELT_ROUTE_CASCADE && r->kind != BELT_ROUTE_LEARNED;
}

static void model_done(struct belt_route_call *rc, struct rc_group *g)
{
    const struct belt__answer *x = &g->ans[0];
    rc->acc.latency_us += g->latency_us;
    rc->acc.sig.confidence = x->confidence;
    rc->acc.sig.logprob_mean = x->logprob_mean;
    rc->acc.sig.logprob_min = x->logprob_min;
    int ok = x->status == BELT_OK;
    belt__rc_flush_acc(rc, ok ? "answered" : "failed", ok ? "answered" : x->error);
    struct belt__route_action act;
    memset(&act, 0, sizeof(act));
    act.kind = BELT__ACT_DONE;
    act.outcome = ok ? BELT__OUT_ANSWERED : BELT__OUT_FAILED;
    act.answer = ok ? x : NULL;
    note_failures(rc, g);
    rc->run.final_tier = 0;
    conclude(rc, &act);
}

void belt__rc_group_done(struct belt_route_call *rc, struct rc_group *g)
{
    if (rc->cancel_requested) {
        belt__rc_abort(rc, BELT_ERR_CANCELLED, 499, "cancelled");
        return;
    }
    if (rc->is_model) {
        model_done(rc, g);
        return;
    }
    rc->acc.latency_us += g->latency_us;
    collect_signals(rc, g);
    note_failures(rc, g);
    if (g->purpose == 0 && g->ans[0].status == BELT_OK && top_untiered(rc))
        belt__rc_flush_acc(rc, "answered", "answered");
    belt__route_feed(&rc->run, g->ans, (size_t)g->n);
    drive(rc);
}

void belt__rc_live_chunk(struct belt_route_call *rc, const struct belt_chunk *ck)
{
    if (rc->concluded || rc->cancel_requested)
        return;
    rc->n_live_chunks++;
    rc->in_user_cb++;
    rc->on_chunk(rc->ud, rc, ck);
    rc->in_user_cb--;
    if (rc->cancel_requested)
        belt__rc_abort(rc, BELT_ERR_CANCELLED, 499, "cancelled");
}

/* ---- the deadline ------------------------------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct belt_route_call *rc = arg;
    char msg[300];
    (void)fd;
    (void)what;
    rc->timed_out = 1;
    snprintf(msg, sizeof(msg), "route %s: no answer within the route call's deadline (%lld ms)",
             rc->name, (long long)rc->timeout_ms);
    belt__rc_abort(rc, BELT_ERR_TIMEOUT, 504, msg);
}

/* ---- starting ----------------------------------------------------------------------------- */

static belt_status check_params(const struct belt_loop *l, const struct belt_route_call_params *p,
                                struct belt_error *err)
{
    if (!l || !p || !p->name || !p->on_answer)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_route_call_start: loop, name and on_answer are required");
    if (!p->request && !p->request_json)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_route_call_start: a request is required");
    if (p->stream && !p->on_chunk)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_route_call_start: a streamed route call needs on_chunk");
    if (p->trace_id && strlen(p->trace_id) != 32)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_route_call_start: trace_id must be 32 hex digits");
    if (p->max_cost_usd < 0 || p->max_latency_ms < 0 || p->timeout_ms < 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_route_call_start: budgets and timeout must be >= 0");
    return BELT_OK;
}

/* Copy the request (object or text) and the task's text. */
static belt_status take_request(struct belt_route_call *rc, const struct belt_route_call_params *p,
                                struct belt_error *err)
{
    if (p->request) {
        rc->req = json_incref(p->request);
        if (p->request_json) {
            rc->req_json = belt_strndup(p->request_json, p->request_len);
            rc->req_len = rc->req_json ? p->request_len : 0;
        }
    } else {
        belt_status st =
            belt_json_parse(p->request_json, p->request_len, "request", 0, &rc->req, err);
        if (st != BELT_OK)
            return st == BELT_ERR_NOMEM ? st : BELT_ERR_INVALID;
        rc->req_json = belt_strndup(p->request_json, p->request_len);
        rc->req_len = rc->req_json ? p->request_len : 0;
    }
    if (!json_is_object(rc->req) || !json_is_array(json_object_get(rc->req, "messages")))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "the request must be a chat request with a 'messages' array");
    if (p->text) {
        rc->text = belt_strndup(p->text, p->text_len);
        rc->text_len = p->text_len;
    } else {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt__request_user_text(rc->req, &b);
        rc->text_len = b.len;
        rc->text = belt_buf_detach(&b, NULL);
        if (!rc->text)
            rc->text = belt_strdup("");
    }
    return rc->text ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d = s ? belt_strdup(s) : NULL;
    if (s && !d)
        *oom = 1;
    return d;
}

static belt_status take_metadata(struct belt_route_call *rc, const struct belt_route_call_params *p,
                                 struct belt_error *err)
{
    int oom = 0;
    rc->name = dup_or_null(p->name, &oom);
    rc->stakes = dup_or_null(p->stakes, &oom);
    rc->key_name = dup_or_null(p->key_name, &oom);
    rc->key_id = dup_or_null(p->key_id, &oom);
    if (p->n_tags) {
        rc->tags = belt_calloc(p->n_tags, sizeof(char *));
        oom |= !rc->tags;
        for (size_t i = 0; rc->tags && i < p->n_tags; i++) {
            rc->tags[rc->n_tags++] = dup_or_null(p->tags[i] ? p->tags[i] : "", &oom);
        }
    }
    return oom ? belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory") : BELT_OK;
}

/* Policy environment and request; estimates for budgets and least-latency balance. */
static belt_status setup_run(struct belt_route_call *rc, const struct belt_route_call_params *p,
                             struct belt_error *err)
{
    const struct belt_engine *e = rc->l->e;
    size_t nm = e->cfg->models.n;
    rc->est = belt_calloc(nm ? nm : 1, sizeof(*rc->est));
    if (!rc->est)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    belt__route_estimates(e->routes, rc->req, rc->text, rc->text_len, rc->est);
    rc->env.cfg = e->cfg;
    rc->env.est = rc->est;
    rc->env.routers = (const struct belt_router *const *)e->routes->routers;
    rc->env.sweep = NAN;
    if (rc->is_model)
        return BELT_OK;
    struct belt__route_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.text = rc->text;
    rq.len = rc->text_len;
    rq.stakes = rc->stakes;
    rq.tags = (const char *const *)rc->tags;
    rq.n_tags = rc->n_tags;
    rq.key_name = rc->key_name;
    rq.max_cost_usd = p->max_cost_usd;
    rq.max_latency_ms = p->max_latency_ms;
    rq.seed = p->seed ? p->seed : belt_rng_next(&rc->l->rng);
    rq.escalated = p->escalated;
    belt__route_run_init(&rc->run, &rc->env, rc->route, &rq);
    return BELT_OK;
}

static belt_status setup_events(struct belt_route_call *rc, struct belt_error *err)
{
    rc->defer_ev = event_new(rc->l->base, -1, 0, on_defer, rc);
    if (!rc->defer_ev)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot create an event");
    if (rc->timeout_ms <= 0)
        return BELT_OK;
    rc->timer_ev = evtimer_new(rc->l->base, on_timer, rc);
    struct timeval tv = {(time_t)(rc->timeout_ms / 1000),
                         (suseconds_t)((rc->timeout_ms % 1000) * 1000)};
    if (!rc->timer_ev || evtimer_add(rc->timer_ev, &tv) != 0)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot arm the route call's deadline");
    return BELT_OK;
}

static belt_status resolve(struct belt_route_call *rc, const struct belt_config *cfg,
                           const char *name, struct belt_error *err)
{
    if (belt__cfg_routes_find(&cfg->routes, name, &rc->route))
        return BELT_OK;
    const struct belt_cfg_model *m = belt__cfg_models_find(&cfg->models, name);
    if (!m)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no route or model is called '%s'", name);
    rc->is_model = 1;
    rc->model = (size_t)(m - cfg->models.v);
    return BELT_OK;
}

/* A plain model of provider human: a person, at once. */
static void start_person(struct belt_route_call *rc)
{
    rc->acc.active = 1;
    rc->acc.model = rc->model;
    rc->acc.sig = belt__rc_no_signals();
    belt__rc_flush_acc(rc, "human", "escalated to a person: returned as escalated-unresolved");
    struct belt__route_action act;
    memset(&act, 0, sizeof(act));
    act.kind = BELT__ACT_DONE;
    act.outcome = BELT__OUT_UNRESOLVED;
    conclude(rc, &act);
}

static void start_model(struct belt_route_call *rc)
{
    if (rc->env.cfg->models.v[rc->model].provider == BELT_PROVIDER_HUMAN) {
        start_person(rc);
        return;
    }
    struct belt__route_action act;
    memset(&act, 0, sizeof(act));
    act.kind = BELT__ACT_CALL;
    act.model = rc->model;
    act.n = 1;
    rc->acc = (struct rc_acc){0};
    rc->acc.active = 1;
    rc->acc.model = rc->model;
    rc->acc.sig = belt__rc_no_signals();
    struct rc_group *g = NULL;
    if (belt__rc_start_action(rc, &act, &g))
        return;
    if (!g)
        belt__rc_abort(rc, BELT_ERR_NOMEM, 500, "out of memory");
    else
        model_done(rc, g);
}

belt_status belt_route_call_start(struct belt_loop *l, const struct belt_route_call_params *p,
                                  struct belt_route_call **out, struct belt_error *err)
{
    if (out)
        *out = NULL;
    belt_status st = check_params(l, p, err);
    if (st != BELT_OK)
        return st;
    struct belt_route_call *rc = belt_calloc(1, sizeof(*rc));
    if (!rc)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    rc->l = l;
    rc->stream = p->stream;
    rc->trace = p->trace;
    rc->timeout_ms = p->timeout_ms;
    rc->on_chunk = p->on_chunk;
    rc->on_answer = p->on_answer;
    rc->ud = p->ud;
    rc->start_us = belt_now_us();
    rc->ts_ms = belt_wall_ms();
    rc->final_tier = -1;
    st = resolve(rc, l->e->cfg, p->name, err);
    if (st == BELT_OK)
        st = take_metadata(rc, p, err);
    if (st == BELT_OK)
        st = take_request(rc, p, err);
    if (st == BELT_OK)
        st = setup_run(rc, p, err);
    if (st == BELT_OK)
        st = setup_events(rc, err);
    if (st != BELT_OK) {
        destroy(rc);
        return st;
    }
    if (p->trace_id)
        memcpy(rc->trace_id, p->trace_id, 33);
    else
        belt__loop_trace_id(l, rc->trace_id);
    rc->next = l->route_calls;
    if (l->route_calls)
        l->route_calls->prev = rc;
    l->route_calls = rc;
    rc->in_start = 1;
    if (rc->is_model)
        start_model(rc);
    else
        drive(rc);
    rc->in_start = 0;
    if (out)
        *out = rc;
    return BELT_OK;
}

/* ---- cancel, sync --------------------------------------------------------------------------- */

void belt_route_call_cancel(struct belt_route_call *rc)
{
    if (!rc || rc->cancel_requested)
        return;
    rc->cancel_requested = 1;
    if (rc->in_user_cb)
        return;          /* handled when the callback returns */
    if (rc->concluded) { /* decided, waiting for the loop (or for cancelled calls): now */
        if (rc->n_slots == 0) {
            event_del(rc->defer_ev);
            deliver(rc);
        }
        return;
    }
    belt__rc_abort(rc, BELT_ERR_CANCELLED, 499, "cancelled");
}

void belt__route_calls_cancel_all(struct belt_loop *l)
{
    while (l->route_calls) {
        struct belt_route_call *rc = l->route_calls;
        rc->in_start = 0; /* outside every callback now */
        rc->in_user_cb = 0;
        rc->cancel_requested = 1;
        if (!rc->concluded) {
            rc->concluded = 1;
            rc->outcome = BELT_ROUTE_FAILED;
            rc->final = NULL;
            set_error(rc, BELT_ERR_CANCELLED, 499, "cancelled: the loop was freed");
        }
        rc->in_abort = 1; /* no delivery from the cancelled calls' answers: here, once */
        for (struct rc_slot *s = rc->slots; s; s = s->next)
            s->cancel_sent = 0;
        belt__rc_cancel_slots(rc);
        rc->in_abort = 0;
        event_del(rc->defer_ev);
        deliver(rc);
    }
}

struct sync_state {
    struct belt_route_answer *answer; /* copy */
    int done;
    belt_route_chunk_fn *on_chunk;
    void *ud;
};

static void sync_answer(void *ud, struct belt_route_call *rc, const struct belt_route_answer *a)
{
    struct sync_state *s = ud;
    (void)rc;
    s->answer = belt_route_answer_copy(a);
    s->done = 1;
}

static void sync_chunk(void *ud, struct belt_route_call *rc, const struct belt_chunk *ck)
{
    struct sync_state *s = ud;
    s->on_chunk(s->ud, rc, ck);
}

belt_status belt_route_call_sync(struct belt_engine *e, const struct belt_route_call_params *p,
                                 struct belt_route_answer **out, struct belt_error *err)
{
    *out = NULL;
    struct sync_state s = {NULL, 0, p ? p->on_chunk : NULL, p ? p->ud : NULL};
    if (!e || !p)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_route_call_sync: engine and params "
                               "are required");
    struct event_base *base = event_base_new();
    if (!base)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot create an event loop");
    struct belt_loop *l = NULL;
    belt_status st = belt_loop_new(e, base, &l, err);
    if (st == BELT_OK) {
        struct belt_route_call_params q = *p;
        q.on_answer = sync_answer;
        q.on_chunk = p->on_chunk ? sync_chunk : NULL;
        q.ud = &s;
        st = belt_route_call_start(l, &q, NULL, err);
        while (st == BELT_OK && !s.done)
            event_base_loop(base, EVLOOP_ONCE);
    }
    belt_loop_free(l);
    event_base_free(base);
    if (st != BELT_OK)
        return st;
    if (!s.answer)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory copying the answer");
    *out = s.answer;
    if (s.answer->status != BELT_OK)
        belt__error_set(err, s.answer->status, s.answer->http_status, "%s", s.answer->error);
    return s.answer->status;
}
