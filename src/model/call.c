/*
 * call.c — one model call (belt.h "One model call"): the attempt loop over deployments,
 * retries and fallbacks, streaming through the SSE parser and the provider's translator, and
 * the answer. A call lives on one loop; its answer callback runs exactly once, never from
 * inside belt_call_start (work that would finish at once is queued on the loop's ready list
 * and run by the loop's defer event on the next turn).
 *
 * Life of a call: start → attempt (pick deployment, build, transfer) → on_xfer_done →
 * success: finish | failure: retry after backoff / next model in the chain / finish → deliver
 * (on_answer) → destroy. Cancellation aborts the transfer and delivers BELT_ERR_CANCELLED.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "model/assemble.h"
#include "model/call.h"
#include "model/jscan.h"
#include "model/local.h"
#include "model/sse.h"
#include "model/usage.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

#define MAX_ATTEMPTS    64
#define INLINE_ATTEMPTS 2
#define MAX_SSE_EVENT   ((size_t)4 << 20)
/* Recycled call objects per loop. A call is ~3 KB: past glibc's fast sizes, so every fresh
 * one would make malloc consolidate its fastbins. Sanitised builds do not recycle, so that
 * use-after-free stays visible. */
#ifdef BELT_SANITIZED
#define CALL_POOL_MAX 0
#else
#define CALL_POOL_MAX 64
#endif
static const size_t call_pool_max = CALL_POOL_MAX;
#define TRACE_ID_MAX 48

struct belt_call {
    struct belt_loop *l;           /* owner */
    struct belt_call *prev, *next; /* the loop's list of calls */
    struct belt_call *next_ready;  /* the loop's ready list */
    int queued;                    /* on the ready list */
    /* parameters */
    char trace_id[TRACE_ID_MAX]; /* copied (truncated), "" when none */
    int kind;                    /* enum belt_call_kind */
    json_t *req;                 /* request (reference held) */
    char *raw;                   /* its serialisation from the caller, or NULL; owned */
    size_t raw_len;
    int stream;        /* stream chunks */
    int retries;       /* -1: per model */
    int use_fallbacks; /* follow fallbacks */
    int no_tree;       /* the caller needs no answer tree (belt_call_params.no_response_tree) */
    belt_chunk_fn *on_chunk;
    belt_attempt_fn *on_attempt;
    belt_answer_fn *on_answer;
    void *ud;
    /* progress */
    int64_t start_us;          /* call start */
    int64_t deadline_us;       /* 0: none */
    struct event *deadline_ev; /* overall deadline, lazily; kept when the object is recycled */
    struct event *backoff_ev;  /* retry timer, lazily */
    struct belt__model *first; /* requested model */
    size_t chain_pos;          /* position in first->chain */
    int retry;                 /* retries done on the current model */
    const char *why;           /* "first" | "retry" | "fallback" of the next attempt */
    int64_t backoff_ms;        /* waited before the next attempt */
    int last_dep;              /* deployment of the previous failed attempt, -1 */
    /* the attempt in flight */
    struct belt__model *cur;      /* model tried */
    struct belt__deployment *dep; /* deployment tried */
    int dep_probe;                /* this attempt is the breaker's probe */
    struct belt_xfer *xfer;       /* transfer, NULL when none */
    int64_t attempt_start_us;
    /* streaming */
    struct belt_sse sse;          /* parser */
    void *pstate;                 /* provider stream state */
    struct belt_assembler as;     /* assembled answer */
    int streaming;                /* sse/as initialised */
    int64_t n_chunks;             /* chunks delivered */
    int64_t first_chunk_us;       /* when the first was delivered */
    int stream_done;              /* upstream signalled the end */
    int stream_failed;            /* the receiver aborted: stream_err holds why */
    struct belt_error stream_err; /* why the stream failed */
    /* attempts */
    struct belt_attempt inline_att[INLINE_ATTEMPTS];
    struct belt_attempt *att; /* inline_att or heap */
    size_t n_att, cap_att;
    double total_cost; /* over all attempts */
    /* outcome */
    int begin_pending;    /* first attempt to run from the ready list */
    int in_start;         /* inside belt_call_start */
    int answer_pending;   /* answer to deliver from the ready list */
    int finished;         /* answer decided */
    int in_cb;            /* inside a user callback of this call */
    int cancel_requested; /* cancel arrived inside a callback */
    belt_status status;   /* final */
    int http_status;
    char error[512];  /* final error message */
    char *error_body; /* upstream error body, owned */
    json_t *resp;     /* answer object (owned reference); NULL for a lean answer */
    int lean;         /* validated, not parsed: the fields below replace resp's */
    char *lean_strs;  /* owned: id, model, finish_reason, content, each NUL-terminated */
    const char *lean_id, *lean_model, *lean_finish, *lean_content; /* into lean_strs */
    size_t lean_content_len;
    char *body; /* serialised answer; owned */
    size_t body_len;
    int usage_estimated;
    int64_t in_tokens, out_tokens;
    struct belt_lp_acc lp;
    struct belt_prediction pred; /* local models */
    int has_pred;
    double fixed_cost;        /* in-process answer: recorded cost of the attempt; NAN: priced */
    int64_t fixed_latency_us; /* in-process answer: recorded latency; -1: measured */
    struct belt_label_prob top[BELT_CLASSIFIER_MAX_TOP_K];
};

static void next_attempt(struct belt_call *c);
static void finish(struct belt_call *c, belt_status st, int http_status, const char *fmt, ...)
    BELT_PRINTF(4, 5);

/* ---- list and scheduling ------------------------------------------------------------------ */

static void schedule(struct belt_call *c)
{
    struct belt_loop *l = c->l;
    if (c->queued)
        return;
    c->queued = 1;
    c->next_ready = l->ready;
    l->ready = c;
    event_active(l->defer_ev, 0, 0);
}

static void unschedule(struct belt_call *c)
{
    if (!c->queued)
        return;
    struct belt_call **pp = &c->l->ready;
    while (*pp && *pp != c)
        pp = &(*pp)->next_ready;
    if (*pp)
        *pp = c->next_ready;
    c->queued = 0;
}

static void call_destroy(struct belt_call *c)
{
    struct belt_loop *l = c->l;
    unschedule(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->n_calls--;
    if (c->deadline_ev)
        event_del(c->deadline_ev);
    if (c->backoff_ev)
        event_free(c->backoff_ev);
    if (c->streaming) {
        belt__sse_deinit(&c->sse);
        belt__asm_deinit(&c->as);
    }
    if (c->pstate && c->cur && c->cur->ops->stream_free)
        c->cur->ops->stream_free(c->pstate);
    for (size_t i = 0; i < c->n_att; i++)
        if (c->att[i].error && c->att[i].error[0]) /* "" is a literal, not a copy */
            belt_free((char *)c->att[i].error);
    if (c->att != c->inline_att)
        belt_free(c->att);
    json_decref(c->req);
    belt_free(c->raw);
    json_decref(c->resp);
    belt_free(c->lean_strs);
    belt_free(c->body);
    belt_free(c->error_body);
    if (l->n_free_calls < call_pool_max) {
        c->next = l->free_calls;
        l->free_calls = c;
        l->n_free_calls++;
        return;
    }
    if (c->deadline_ev)
        event_free(c->deadline_ev);
    belt_free(c);
}

/* A zeroed call object: a recycled one of this loop (its deadline event kept), or a new one. */
static struct belt_call *call_alloc(struct belt_loop *l)
{
    struct belt_call *c = l->free_calls;
    if (!c)
        return belt_calloc(1, sizeof(*c));
    l->free_calls = c->next;
    l->n_free_calls--;
    struct event *deadline = c->deadline_ev;
    memset(c, 0, sizeof(*c));
    c->deadline_ev = deadline;
    return c;
}

void belt__calls_pool_clear(struct belt_loop *l)
{
    while (l->free_calls) {
        struct belt_call *c = l->free_calls;
        l->free_calls = c->next;
        if (c->deadline_ev)
            event_free(c->deadline_ev);
        belt_free(c);
    }
    l->n_free_calls = 0;
}

/* ---- the answer --------------------------------------------------------------------------- */

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static void fill_answer(const struct belt_call *c, struct belt_answer *a)
{
    memset(a, 0, sizeof(*a));
    a->status = c->status;
    a->http_status = c->http_status;
    a->error = c->error;
    a->error_body = c->error_body;
    const struct belt__model *m = c->cur ? c->cur : c->first;
    a->model = m->name;
    a->deployment = c->dep ? c->dep->name : m->name;
    a->provider = m->ops ? m->ops->name : belt__provider_names[m->cfg->provider];
    if (c->lean) {
        a->response_model = c->lean_model;
        a->response_id = c->lean_id;
        a->content = c->lean_content;
        a->content_len = c->lean_content_len;
        a->finish_reason = c->lean_finish;
    } else {
        const json_t *ch0 = json_array_get(json_object_get(c->resp, "choices"), 0);
        const json_t *msg = json_object_get(ch0, "message");
        a->response_model = str_or_empty(belt_json_str(c->resp, "model"));
        a->response_id = str_or_empty(belt_json_str(c->resp, "id"));
        const json_t *content = json_object_get(msg, "content");
        a->content = json_is_string(content) ? json_string_value(content) : "";
        a->content_len = json_is_string(content) ? json_string_length(content) : 0;
        a->finish_reason = str_or_empty(belt_json_str(ch0, "finish_reason"));
        a->tool_calls = json_object_get(msg, "tool_calls");
        a->response = c->resp;
    }
    a->body = c->body ? c->body : "";
    a->body_len = c->body_len;
    a->confidence = -1;
    if (c->has_pred) {
        a->label = c->pred.label;
        a->confidence = c->pred.confidence;
        a->abstained = c->pred.abstained;
        a->top_k = c->top;
        a->n_top_k = (size_t)c->pred.n_top;
    }
    a->n_logprobs = c->lp.n;
    a->logprob_mean = c->lp.n ? c->lp.sum / (double)c->lp.n : 0;
    a->logprob_min = c->lp.n ? c->lp.min : 0;
    a->input_tokens = c->in_tokens;
    a->output_tokens = c->out_tokens;
    a->usage_estimated = c->usage_estimated;
    a->cost_usd = c->total_cost;
    a->latency_us = c->fixed_latency_us >= 0 ? c->fixed_latency_us : belt_now_us() - c->start_us;
    a->ttft_us = c->first_chunk_us ? c->first_chunk_us - c->start_us : 0;
    a->stream = c->stream;
    a->attempts = c->att;
    a->n_attempts = c->n_att;
}

/* Call on_answer and destroy the call. Never inside another callback of this call. */
static void deliver(struct belt_call *c)
{
    struct belt_answer a;
    fill_answer(c, &a);
    c->in_cb++;
    c->on_answer(c->ud, c, &a);
    call_destroy(c);
}

static void stop_activity(struct belt_call *c)
{
    if (c->xfer) {
        belt__xfer_cancel(c->xfer);
        c->xfer = NULL;
    }
    if (c->dep && c->dep_probe) {
        belt__deployment_release(c->dep, 1);
        c->dep_probe = 0;
    }
    if (c->backoff_ev)
        evtimer_del(c->backoff_ev);
    if (c->deadline_ev)
        evtimer_del(c->deadline_ev);
}

/* Decide the final outcome; deliver now, or from the ready list when inside a callback or
 * belt_call_start. */
static void finish(struct belt_call *c, belt_status st, int http_status, const char *fmt, ...)
{
    if (c->finished)
        return;
    c->finished = 1;
    if (c->cancel_requested && st != BELT_OK) { /* cancellation wins over the failure */
        st = BELT_ERR_CANCELLED;
        http_status = 499;
        fmt = "cancelled";
    }
    c->status = st;
    c->http_status = http_status;
    c->error[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
    }
    stop_activity(c);
    if (c->in_cb || c->in_start || c->queued) {
        c->answer_pending = 1;
        schedule(c);
        return;
    }
    deliver(c);
}

/* ---- attempts ----------------------------------------------------------------------------- */

static struct belt_attempt *new_attempt(struct belt_call *c)
{
    if (c->n_att == c->cap_att) {
        size_t cap = c->cap_att * 2;
        struct belt_attempt *v = belt_malloc(cap * sizeof(*v));
        if (!v)
            return NULL;
        memcpy(v, c->att, c->n_att * sizeof(*v));
        if (c->att != c->inline_att)
            belt_free(c->att);
        c->att = v;
        c->cap_att = cap;
    }
    struct belt_attempt *a = &c->att[c->n_att];
    memset(a, 0, sizeof(*a));
    a->seq = (int)c->n_att++;
    a->model = c->cur->name;
    a->deployment = c->dep ? c->dep->name : c->cur->name;
    a->why = c->why;
    a->backoff_ms = c->backoff_ms;
    a->error = NULL;
    return a;
}

/* Record the end of the current attempt, update metrics and the breaker, tell on_attempt. */
static void record_attempt(struct belt_call *c, belt_status st, int http, const char *error,
                           int64_t in, int64_t out)
{
    struct belt_attempt *a = new_attempt(c);
    int64_t lat = c->fixed_latency_us >= 0 ? c->fixed_latency_us
                  : c->attempt_start_us    ? belt_now_us() - c->attempt_start_us
                                           : 0;
    struct belt_model_counters *mc = &c->l->shard->models[c->cur->index];
    BELT_METRIC_ADD(mc->attempts, 1);
    if (st != BELT_OK)
        BELT_METRIC_ADD(mc->attempt_errors, 1);
    if (st == BELT_ERR_TIMEOUT)
        BELT_METRIC_ADD(mc->timeouts, 1);
    if (http == 429)
        BELT_METRIC_ADD(mc->ratelimited, 1);
    if (st == BELT_ERR_BUSY)
        BELT_METRIC_ADD(mc->skipped, 1);
    if (strcmp(c->why, "retry") == 0)
        BELT_METRIC_ADD(mc->retries, 1);
    else if (strcmp(c->why, "fallback") == 0)
        BELT_METRIC_ADD(mc->fallbacks, 1);
    if (c->attempt_start_us)
        belt__histogram_observe(&mc->upstream, lat);
    if (c->dep && st != BELT_ERR_BUSY && st != BELT_ERR_AUTH) {
        if (st == BELT_ERR_CANCELLED)
            belt__deployment_release(c->dep, c->dep_probe);
        else
            belt__deployment_record(c->dep, belt__outcome_is_failure(st, http), belt_now_us());
        c->dep_probe = 0;
    }
    double cost = !isnan(c->fixed_cost) ? c->fixed_cost
                                        : belt__cost_usd(c->cur->cfg->price.input_per_m,
                                                         c->cur->cfg->price.output_per_m, in, out);
    c->total_cost += cost;
    BELT_METRIC_ADD(mc->input_tokens, (uint64_t)in);
    BELT_METRIC_ADD(mc->output_tokens, (uint64_t)out);
    BELT_METRIC_ADD(mc->cost_nusd, (uint64_t)(cost * 1e9 + 0.5));
    if (!a)
        return; /* out of memory: the attempt is not listed, the call goes on */
    a->status = st;
    a->http_status = http;
    a->error = error && *error ? belt_strdup(error) : "";
    a->latency_us = lat;
    a->input_tokens = in;
    a->output_tokens = out;
    a->cost_usd = cost;
    if (c->on_attempt) {
        c->in_cb++;
        c->on_attempt(c->ud, c, a);
        c->in_cb--;
    }
}

/* Weighted choice among deployments that have a key and whose breaker lets traffic through,
 * avoiding the one that just failed when another is available. */
static int pick_deployment(struct belt_call *c, struct belt__model *m, int *no_key)
{
    unsigned char ok[64];
    double w[64];
    size_t n = BELT_MIN(m->n_deps, (size_t)64);
    int64_t now = belt_now_us();
    size_t n_ok = 0;
    *no_key = 0;
    for (size_t i = 0; i < n; i++) {
        struct belt__deployment *d = &m->deps[i];
        w[i] = d->weight;
        ok[i] = d->has_key && belt__deployment_would_allow(d, now);
        *no_key |= !d->has_key;
        n_ok += ok[i] && w[i] > 0;
    }
    if (c->last_dep >= 0 && (size_t)c->last_dep < n && n_ok > 1 && ok[c->last_dep])
        ok[c->last_dep] = 0;
    return belt__weighted_pick(w, ok, n, belt_rng_uniform(&c->l->rng));
}

/* Move to the next model of the chain, or finish with the given failure. */
static void fall_back(struct belt_call *c, belt_status st, int http, const char *msg)
{
    size_t n_chain = c->use_fallbacks ? c->first->n_chain : 1;
    if (c->chain_pos + 1 < n_chain) {
        c->chain_pos++;
        c->retry = 0;
        c->why = "fallback";
        c->backoff_ms = 0;
        c->last_dep = -1;
        next_attempt(c);
        return;
    }
    finish(c, st, http, "%s", msg);
}

static int gateway_status(belt_status st, int http)
{
    switch (st) {
    case BELT_ERR_TIMEOUT:
        return 504;
    case BELT_ERR_RATELIMIT:
        return 429;
    case BELT_ERR_BUSY:
        return 503;
    case BELT_ERR_CANCELLED:
        return 499;
    case BELT_ERR_INVALID:
    case BELT_ERR_UNSUPPORTED:
        return 400;
    case BELT_ERR_NOMEM:
    case BELT_ERR_INTERNAL:
        return 500;
    default:
        break;
    }
    /* the upstream refused the request itself: its status goes to the client */
    if (http >= 400 && http < 500 && http != 401 && http != 403 && http != 404 && http != 408)
        return http;
    return 502;
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    next_attempt(arg);
}

/* Decide what follows a failed attempt. */
static void after_failure(struct belt_call *c, belt_status st, int http, const char *msg,
                          const char *retry_after)
{
    enum belt_outcome o = belt__outcome_classify(st, http);
    if (st == BELT_ERR_AUTH || st == BELT_ERR_BUSY || st == BELT_ERR_UNSUPPORTED)
        o = BELT_OUTCOME_FALLBACK;
    if (c->n_chunks > 0 || c->cancel_requested || c->finished)
        o = BELT_OUTCOME_FATAL; /* a stream the client already saw cannot be redone */
    int max_retries = c->retries >= 0 ? c->retries : (int)c->cur->cfg->retries;
    if (o == BELT_OUTCOME_RETRY && c->retry < max_retries) {
        int64_t ra = -1, now = belt_now_us();
        if (retry_after && *retry_after &&
            belt__retry_after_parse(retry_after, belt_wall_ms(), &ra) != 0)
            ra = -1;
        int64_t max_wait = c->deadline_us ? (c->deadline_us - now) / 1000 : 60000;
        int64_t d =
            belt__retry_delay_ms(c->retry, c->cur->cfg->backoff_ms, c->cur->cfg->backoff_max_ms,
                                 belt_rng_uniform(&c->l->rng), ra, max_wait);
        if (d >= 0) {
            c->retry++;
            c->why = "retry";
            c->backoff_ms = d;
            if (!c->backoff_ev)
                c->backoff_ev = evtimer_new(c->l->base, on_backoff, c);
            if (c->backoff_ev) {
                struct timeval tv = {(time_t)(d / 1000), (suseconds_t)((d % 1000) * 1000)};
                evtimer_add(c->backoff_ev, &tv);
                return;
            }
        }
    }
    if (o == BELT_OUTCOME_RETRY || o == BELT_OUTCOME_FALLBACK) {
        fall_back(c, st, gateway_status(st, http), msg);
        return;
    }
    finish(c, st, st == BELT_ERR_CANCELLED ? 499 : gateway_status(st, http), "%s", msg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct belt_call *c = arg;
    (void)fd;
    (void)what;
    if (c->xfer)
        record_attempt(c, BELT_ERR_TIMEOUT, 0, "the call's deadline passed", 0, 0);
    finish(c, BELT_ERR_TIMEOUT, 504, "model %s: no answer within the call's deadline",
           c->first->name);
}

/* ---- success ------------------------------------------------------------------------------ */

/* Usage of the answer, estimated when the upstream reported none. */
static void settle_usage(struct belt_call *c, int has_usage, int64_t in, int64_t out)
{
    if (has_usage) {
        c->in_tokens = in;
        c->out_tokens = out;
        return;
    }
    c->usage_estimated = 1;
    c->in_tokens = belt__estimate_request_tokens(c->req);
    const json_t *ch0 = json_array_get(json_object_get(c->resp, "choices"), 0);
    const json_t *msg = json_object_get(ch0, "message");
    const json_t *content = json_object_get(msg, "content");
    c->out_tokens = json_is_string(content) ? belt__estimate_tokens(json_string_value(content),
                                                                    json_string_length(content))
                                            : 0;
    size_t i;
    const json_t *tc;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, tc)
    {
        const char *args = belt_json_str(json_object_get(tc, "function"), "arguments");
        if (args)
            c->out_tokens += belt__estimate_tokens(args, strlen(args)) + 3;
    }
}

/* The attempt produced c->resp (and c->body): record it and finish. */
static void succeed(struct belt_call *c)
{
    int64_t in = 0, out = 0;
    int has = c->streaming ? c->as.has_usage
              : c->lean    ? 1 /* lean answers have usage: read by lean_answer */
                           : belt__usage_read(c->resp, &in, &out);
    if (c->lean) {
        in = c->in_tokens;
        out = c->out_tokens;
    }
    if (c->streaming) {
        in = c->as.input_tokens;
        out = c->as.output_tokens;
    }
    if (c->kind == BELT_CALL_CHAT && !c->has_pred && !c->lean) {
        const json_t *ch0 = json_array_get(json_object_get(c->resp, "choices"), 0);
        belt__lp_add(&c->lp, json_object_get(ch0, "logprobs"));
    }
    settle_usage(c, has, in, out);
    if (!c->body) {
        c->body = belt_json_dumps(c->resp, JSON_COMPACT);
        c->body_len = c->body ? strlen(c->body) : 0;
    }
    record_attempt(c, BELT_OK, 200, NULL, c->in_tokens, c->out_tokens);
    if (c->cancel_requested)
        finish(c, BELT_ERR_CANCELLED, 499, "cancelled");
    else
        finish(c, BELT_OK, 200, NULL);
}

/* In-process model (local classifier, replay): answer now; streamed requests get the answer
 * as chunks. */
static void emit_local_stream(struct belt_call *c);

static void attempt_local(struct belt_call *c)
{
    struct belt_error err = {0};
    c->attempt_start_us = belt_now_us();
    json_t *resp = NULL;
    struct belt__inproc_result res;
    memset(&res, 0, sizeof(res));
    res.cost_usd = NAN;
    res.latency_us = -1;
    belt_status st = c->kind == BELT_CALL_CHAT
                         ? c->cur->ops->answer(c->cur, c->req, &resp, &res, &err)
                         : belt__error_set(&err, BELT_ERR_UNSUPPORTED, 0,
                                           "model %s (%s) does not offer embeddings", c->cur->name,
                                           c->cur->ops->name);
    if (st != BELT_OK) {
        record_attempt(c, st, 0, err.msg, 0, 0);
        if (st == BELT_ERR_UNSUPPORTED)
            fall_back(c, st, 400, err.msg);
        else
            finish(c, st, gateway_status(st, 0), "%s", err.msg);
        return;
    }
    c->fixed_cost = res.cost_usd;
    c->fixed_latency_us = res.latency_us;
    if (res.has_pred) {
        c->pred = res.pred;
        c->has_pred = 1;
        for (int i = 0; i < c->pred.n_top; i++)
            c->top[i] = c->pred.top[i];
    }
    c->resp = resp;
    if (c->stream)
        emit_local_stream(c);
    succeed(c);
}

/* ---- streaming ---------------------------------------------------------------------------- */

/* A chunk in OpenAI form from the provider: assemble it and hand it to the caller. */
static belt_status emit_chunk(void *ud, const json_t *chunk, const char *raw, size_t raw_len)
{
    struct belt_call *c = ud;
    struct belt_chunk ck;
    memset(&ck, 0, sizeof(ck));
    belt_status st = belt__asm_add(&c->as, chunk, &ck.delta, &ck.delta_len, &ck.usage_only);
    if (st != BELT_OK)
        return belt__error_set(&c->stream_err, st, 0, "streamed answer too large");
    char *owned = NULL;
    if (!raw) {
        owned = belt_json_dumps(chunk, JSON_COMPACT);
        if (!owned)
            return belt__error_set(&c->stream_err, BELT_ERR_NOMEM, 0, "out of memory");
        raw = owned;
        raw_len = strlen(owned);
    }
    ck.chunk = chunk;
    ck.data = raw;
    ck.len = raw_len;
    ck.index = c->n_chunks++;
    ck.model = c->cur->name;
    if (!c->first_chunk_us)
        c->first_chunk_us = belt_now_us();
    const json_t *ch0 = json_array_get(json_object_get(chunk, "choices"), 0);
    belt__lp_add(&c->lp, json_object_get(ch0, "logprobs"));
    c->in_cb++;
    c->on_chunk(c->ud, c, &ck);
    c->in_cb--;
    belt_free(owned);
    return c->cancel_requested ? BELT_ERR_CANCELLED : BELT_OK;
}

static int on_sse_event(void *ud, const char *event, const char *data, size_t len)
{
    struct belt_call *c = ud;
    int done = 0;
    belt_status st = c->cur->ops->stream_event(c->pstate, event, data, len, emit_chunk, c, &done,
                                               &c->stream_err);
    if (done)
        c->stream_done = 1;
    if (st != BELT_OK) {
        if (c->stream_err.code == BELT_OK)
            belt__error_set(&c->stream_err, st, 0, "stream stopped");
        c->stream_failed = 1;
        return 1;
    }
    return 0;
}

static int on_xfer_data(void *ud, struct belt_xfer *x, const char *data, size_t n)
{
    struct belt_call *c = ud;
    (void)x;
    belt_status st = belt__sse_feed(&c->sse, data, n, on_sse_event, c);
    if (st == BELT_ERR_TOOBIG) {
        belt__error_set(&c->stream_err, st, 0, "upstream stream event too large");
        c->stream_failed = 1;
    } else if (st != BELT_OK && !c->stream_failed) {
        belt__error_set(&c->stream_err, st, 0, "stream stopped");
        c->stream_failed = 1;
    }
    return c->stream_failed ? 1 : 0;
}

static void emit_local_stream(struct belt_call *c)
{
    belt__asm_init(&c->as, 0);
    belt__sse_init(&c->sse, 1);
    c->streaming = 1;
    const char *id = belt_json_str(c->resp, "id");
    json_int_t created = (json_int_t)belt_json_int(c->resp, "created", 0);
    const json_t *msg0 =
        json_object_get(json_array_get(json_object_get(c->resp, "choices"), 0), "message");
    const char *label = c->has_pred ? c->pred.label : belt_json_str(msg0, "content");
    if (!label)
        label = "";
    json_t *chunks[2];
    chunks[0] =
        json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:n, s:n}], s:O}", "id", id,
                  "object", "chat.completion.chunk", "created", created, "model", c->cur->name,
                  "choices", "index", 0, "delta", "role", "assistant", "content", label, "logprobs",
                  "finish_reason", "belt", json_object_get(c->resp, "belt"));
    chunks[1] = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{}, s:n, s:s}], s:O}", "id", id,
                          "object", "chat.completion.chunk", "created", created, "model",
                          c->cur->name, "choices", "index", 0, "delta", "logprobs", "finish_reason",
                          "stop", "usage", json_object_get(c->resp, "usage"));
    for (size_t i = 0; i < 2; i++) {
        if (chunks[i] && !c->cancel_requested)
            emit_chunk(c, chunks[i], NULL, 0);
        json_decref(chunks[i]);
    }
}

/* ---- one HTTP attempt --------------------------------------------------------------------- */

/* A verbatim answer that needs no tree: validate it, take the few fields the answer shows
 * (jscan.h), keep the bytes. 0 when a tree is needed after all (or the scan is unsure, or the
 * body is invalid: jansson then words the error), with nothing changed. */
static int lean_answer(struct belt_call *c, const char *body, size_t len)
{
    struct belt__jscan_answer s;
    if (!belt__jscan_answer(body, len, &s) || s.needs_tree || !s.has_usage ||
        !(c->kind == BELT_CALL_EMBEDDINGS ? s.data_array : s.choices_array))
        return 0;
    char *strs = belt_malloc(s.id.n + s.model.n + s.finish_reason.n + s.content.n + 4);
    char *copy = strs ? belt_strndup(body, len) : NULL;
    if (!copy) {
        belt_free(strs);
        return 0; /* the tree path reports the lack of memory */
    }
    char *o = strs;
    c->lean_id = o;
    o += belt__jscan_unescape(&s.id, o) + 1;
    c->lean_model = o;
    o += belt__jscan_unescape(&s.model, o) + 1;
    c->lean_finish = o;
    o += belt__jscan_unescape(&s.finish_reason, o) + 1;
    c->lean_content = o;
    c->lean_content_len = belt__jscan_unescape(&s.content, o);
    c->lean_strs = strs;
    c->lean = 1;
    c->body = copy;
    c->body_len = len;
    c->in_tokens = s.prompt_tokens;
    c->out_tokens = s.completion_tokens;
    return 1;
}

static void attempt_done_ok(struct belt_call *c, const struct belt_xfer_result *r)
{
    struct belt_error err = {0};
    if (c->streaming) {
        if (c->stream_failed ||
            (!c->stream_done && (c->n_chunks > 0 || belt__sse_pending(&c->sse)))) {
            const char *why = c->stream_failed ? c->stream_err.msg
                                               : "upstream stream ended before its end marker";
            record_attempt(c, BELT_ERR_UPSTREAM, r->http_status, why, c->as.input_tokens,
                           c->as.output_tokens);
            after_failure(c, c->stream_failed ? c->stream_err.code : BELT_ERR_UPSTREAM,
                          r->http_status, why, NULL);
            return;
        }
        if (c->n_chunks == 0 && !c->stream_done) {
            record_attempt(c, BELT_ERR_UPSTREAM, r->http_status, "upstream sent no stream events",
                           0, 0);
            after_failure(c, BELT_ERR_UPSTREAM, r->http_status, "upstream sent no stream events",
                          NULL);
            return;
        }
        c->resp = belt__asm_result(&c->as);
        if (!c->resp) {
            finish(c, BELT_ERR_NOMEM, 500, "out of memory");
            return;
        }
        succeed(c);
        return;
    }
    if (c->no_tree && c->cur->ops->passthrough && lean_answer(c, r->body, r->body_len)) {
        succeed(c);
        return;
    }
    int verbatim = 0;
    belt_status st =
        c->cur->ops->parse(c->cur, c->kind, r->body, r->body_len, &c->resp, &verbatim, &err);
    if (st != BELT_OK) {
        record_attempt(c, st, r->http_status, err.msg, 0, 0);
        after_failure(c, st, r->http_status, err.msg, NULL);
        return;
    }
    if (verbatim) {
        c->body = belt_strndup(r->body, r->body_len);
        c->body_len = c->body ? r->body_len : 0;
    }
    succeed(c);
}

static void attempt_done_http_error(struct belt_call *c, const struct belt_xfer_result *r)
{
    char msg[400], full[512];
    c->cur->ops->error_message(r->body, r->body_len, msg, sizeof(msg));
    snprintf(full, sizeof(full), "model %s: upstream answered HTTP %d%s%s", c->cur->name,
             r->http_status, msg[0] ? ": " : "", msg);
    belt_status st = r->http_status == 429                            ? BELT_ERR_RATELIMIT
                     : r->http_status == 401 || r->http_status == 403 ? BELT_ERR_AUTH
                                                                      : BELT_ERR_UPSTREAM;
    belt_free(c->error_body);
    c->error_body = NULL;
    if (r->body_len && r->body[0] == '{')
        c->error_body = belt_strndup(r->body, r->body_len);
    record_attempt(c, st, r->http_status, full, 0, 0);
    after_failure(c, st, r->http_status, full, r->retry_after);
}

static void on_xfer_done(void *ud, struct belt_xfer *x, const struct belt_xfer_result *r)
{
    struct belt_call *c = ud;
    (void)x;
    c->xfer = NULL;
    if (c->cancel_requested) {
        record_attempt(c, BELT_ERR_CANCELLED, r->http_status, "cancelled", c->as.input_tokens,
                       c->as.output_tokens);
        finish(c, BELT_ERR_CANCELLED, 499, "cancelled");
        return;
    }
    if (r->status == BELT_OK && r->http_status >= 200 && r->http_status < 300) {
        attempt_done_ok(c, r);
        return;
    }
    if (r->status == BELT_OK) {
        attempt_done_http_error(c, r);
        return;
    }
    if (c->streaming && c->stream_failed) { /* the receiver stopped the stream: say why */
        attempt_done_ok(c, r);
        return;
    }
    char msg[512];
    snprintf(msg, sizeof(msg), "model %s (%s): %s", c->cur->name, c->dep->name, r->error);
    belt_status st = r->status == BELT_ERR_TOOBIG ? BELT_ERR_UPSTREAM : r->status;
    record_attempt(c, st, r->http_status, msg, c->as.input_tokens, c->as.output_tokens);
    after_failure(c, st, r->http_status, msg, NULL);
}

static void reset_stream(struct belt_call *c)
{
    if (c->streaming) {
        belt__sse_deinit(&c->sse);
        belt__asm_deinit(&c->as);
        c->streaming = 0;
    }
    if (c->pstate && c->cur && c->cur->ops->stream_free)
        c->cur->ops->stream_free(c->pstate);
    c->pstate = NULL;
    c->stream_done = c->stream_failed = 0;
    belt_error_clear(&c->stream_err);
}

static void attempt_http(struct belt_call *c)
{
    struct belt__model *m = c->cur;
    int no_key = 0;
    int di = pick_deployment(c, m, &no_key);
    c->dep = di >= 0 ? &m->deps[di] : &m->deps[0];
    c->attempt_start_us = 0;
    if (di < 0 || !belt__deployment_allow(c->dep, belt_now_us(), &c->dep_probe)) {
        int auth = no_key && di < 0;
        char msg[300];
        snprintf(msg, sizeof(msg),
                 auth ? "model %s: environment variable %s is not set"
                      : "model %s: every deployment's circuit is open",
                 m->name, c->dep->key_env ? c->dep->key_env : "");
        record_attempt(c, auth ? BELT_ERR_AUTH : BELT_ERR_BUSY, 0, msg, 0, 0);
        c->dep = NULL;
        after_failure(c, auth ? BELT_ERR_AUTH : BELT_ERR_BUSY, 0, msg, NULL);
        return;
    }
    c->last_dep = di;
    struct belt_buf body;
    belt_buf_init(&body, (size_t)1 << 30);
    const char *path = "";
    struct belt_error err = {0};
    belt_status st = m->ops->build(m, c->dep->model_id, c->kind, c->req, c->raw, c->raw_len,
                                   c->stream, &body, &path, &err);
    if (st != BELT_OK) {
        belt_buf_deinit(&body);
        belt__deployment_release(c->dep, c->dep_probe);
        c->dep_probe = 0;
        record_attempt(c, st, 0, err.msg, 0, 0);
        after_failure(c, st, 0, err.msg, NULL);
        return;
    }
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", c->dep->base_url, path);
    reset_stream(c);
    if (c->stream) {
        belt__sse_init(&c->sse, MAX_SSE_EVENT);
        belt__asm_init(&c->as, c->l->e->cfg->server.max_response);
        c->streaming = 1;
        c->pstate = m->ops->stream_new();
    }
    struct belt_xfer_params xp;
    memset(&xp, 0, sizeof(xp));
    xp.url = url;
    xp.headers = c->dep->headers;
    xp.body_len = body.len;
    xp.body = belt_buf_detach(&body, NULL);
    xp.timeout_ms = c->stream ? 0 : m->cfg->timeout_ms;
    xp.idle_timeout_ms = c->stream ? m->cfg->timeout_ms : 0;
    xp.connect_timeout_ms = m->cfg->connect_timeout_ms;
    xp.max_response = (size_t)c->l->e->cfg->server.max_response;
    xp.stream = c->stream;
    xp.on_data = on_xfer_data;
    xp.on_done = on_xfer_done;
    xp.ud = c;
    c->attempt_start_us = belt_now_us();
    st = belt__xfer_start(c->l->up, &xp, &c->xfer, &err);
    if (st != BELT_OK) {
        record_attempt(c, st, 0, err.msg, 0, 0);
        finish(c, st, 500, "%s", err.msg);
    }
}

static void next_attempt(struct belt_call *c)
{
    if (c->finished)
        return;
    if (c->deadline_us && belt_now_us() >= c->deadline_us) {
        finish(c, BELT_ERR_TIMEOUT, 504, "model %s: no answer within the call's deadline",
               c->first->name);
        return;
    }
    if (c->n_att >= MAX_ATTEMPTS) {
        finish(c, BELT_ERR_UPSTREAM, 502, "model %s: too many attempts", c->first->name);
        return;
    }
    struct belt__model *prev = c->cur;
    c->cur = &c->l->e->models.v[c->first->chain[c->chain_pos]];
    if (prev && prev != c->cur && c->pstate && prev->ops->stream_free) {
        prev->ops->stream_free(c->pstate);
        c->pstate = NULL;
    }
    c->dep = NULL;
    c->dep_probe = 0;
    if (!c->cur->ops) {
        char msg[200];
        snprintf(msg, sizeof(msg), "model %s (%s) cannot be called directly", c->cur->name,
                 belt__provider_names[c->cur->cfg->provider]);
        record_attempt(c, BELT_ERR_UNSUPPORTED, 0, msg, 0, 0);
        fall_back(c, BELT_ERR_UNSUPPORTED, 400, msg);
    } else if (!c->cur->ops->remote) {
        attempt_local(c);
    } else {
        attempt_http(c);
    }
}

/* ---- public API --------------------------------------------------------------------------- */

struct belt_call_params belt_call_default_params(void)
{
    struct belt_call_params p;
    memset(&p, 0, sizeof(p));
    p.kind = BELT_CALL_CHAT;
    p.retries = -1;
    p.fallbacks = 1;
    return p;
}

static belt_status check_params(const struct belt_loop *l, const struct belt_call_params *p,
                                struct belt__model **m, struct belt_error *err)
{
    if (!p->model || !p->on_answer)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_call_start: model and on_answer are required");
    if (p->stream && !p->on_chunk)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "belt_call_start: a streamed call needs on_chunk");
    if (p->kind != BELT_CALL_CHAT && p->kind != BELT_CALL_EMBEDDINGS)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "belt_call_start: unknown kind %d",
                               p->kind);
    if (p->kind == BELT_CALL_EMBEDDINGS && p->stream)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "embeddings cannot be streamed");
    *m = belt__models_find(&l->e->models, p->model);
    if (!*m)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "the model '%s' does not exist",
                               p->model);
    return BELT_OK;
}

static belt_status take_request(struct belt_call *c, const struct belt_call_params *p,
                                struct belt_error *err)
{
    if (p->request) {
        c->req = json_incref(p->request);
        if (p->request_json) {
            c->raw = belt_strndup(p->request_json, p->request_len);
            c->raw_len = c->raw ? p->request_len : 0;
        }
    } else if (p->request_json) {
        belt_status st =
            belt_json_parse(p->request_json, p->request_len, "request", 0, &c->req, err);
        if (st != BELT_OK)
            return st == BELT_ERR_NOMEM ? st : BELT_ERR_INVALID;
    }
    if (!json_is_object(c->req))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "the request must be a JSON object");
    if (c->kind == BELT_CALL_CHAT && !json_is_array(json_object_get(c->req, "messages")))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "'messages' must be an array");
    return BELT_OK;
}

belt_status belt_call_start(struct belt_loop *l, const struct belt_call_params *p,
                            struct belt_call **out, struct belt_error *err)
{
    struct belt__model *m = NULL;
    belt_status st = check_params(l, p, &m, err);
    if (st != BELT_OK)
        return st;
    struct belt_call *c = call_alloc(l);
    if (!c)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    c->l = l;
    c->kind = p->kind;
    c->stream = p->stream;
    c->retries = p->retries;
    c->use_fallbacks = p->fallbacks;
    c->no_tree = p->no_response_tree;
    c->on_chunk = p->on_chunk;
    c->on_attempt = p->on_attempt;
    c->on_answer = p->on_answer;
    c->ud = p->ud;
    c->first = m;
    c->why = "first";
    c->last_dep = -1;
    c->att = c->inline_att;
    c->cap_att = INLINE_ATTEMPTS;
    c->start_us = belt_now_us();
    c->fixed_cost = NAN;
    c->fixed_latency_us = -1;
    if (p->trace_id) {
        size_t n = BELT_MIN(strlen(p->trace_id), sizeof(c->trace_id) - 1);
        memcpy(c->trace_id, p->trace_id, n);
        c->trace_id[n] = '\0';
    }
    st = take_request(c, p, err);
    if (st == BELT_OK && p->timeout_ms > 0) {
        c->deadline_us = c->start_us + p->timeout_ms * 1000;
        if (!c->deadline_ev) /* a recycled object keeps its timer (same loop, same object) */
            c->deadline_ev = evtimer_new(l->base, on_deadline, c);
        struct timeval tv = {(time_t)(p->timeout_ms / 1000),
                             (suseconds_t)((p->timeout_ms % 1000) * 1000)};
        if (!c->deadline_ev || evtimer_add(c->deadline_ev, &tv) != 0)
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot arm the call's deadline");
    }
    c->next = l->calls; /* linked before any failure so call_destroy can unlink */
    if (l->calls)
        l->calls->prev = c;
    l->calls = c;
    l->n_calls++;
    if (st != BELT_OK) {
        call_destroy(c);
        return st;
    }
    /* Remote models start their transfer now (no callback can run before we return);
     * local models answer at once, so their work waits for the next loop turn. */
    if (m->ops && m->ops->remote) {
        c->in_start = 1;
        next_attempt(c);
        c->in_start = 0;
    } else {
        c->begin_pending = 1;
        schedule(c);
    }
    if (out)
        *out = c;
    return BELT_OK;
}

void belt__calls_run_deferred(struct belt_loop *l)
{
    while (l->ready) {
        struct belt_call *c = l->ready;
        l->ready = c->next_ready;
        c->queued = 0;
        if (c->begin_pending) {
            c->begin_pending = 0;
            next_attempt(c);
        } else if (c->answer_pending && !c->in_cb) {
            c->answer_pending = 0;
            deliver(c);
        }
    }
}

void belt_call_cancel(struct belt_call *c)
{
    if (!c || c->cancel_requested)
        return;
    c->cancel_requested = 1;
    if (c->in_cb)
        return;        /* handled when the callback returns (the transfer sees the flag) */
    if (c->finished) { /* answer decided, waiting for the loop: deliver it now */
        unschedule(c);
        c->answer_pending = 0;
        deliver(c);
        return;
    }
    c->begin_pending = 0;
    if (c->xfer && c->cur)
        record_attempt(c, BELT_ERR_CANCELLED, 0, "cancelled", 0, 0);
    stop_activity(c);
    c->finished = 1;
    c->status = BELT_ERR_CANCELLED;
    c->http_status = 499;
    snprintf(c->error, sizeof(c->error), "cancelled");
    unschedule(c);
    deliver(c);
}

void belt__calls_cancel_all(struct belt_loop *l)
{
    while (l->calls) {
        struct belt_call *c = l->calls;
        c->in_cb = 0;
        belt_call_cancel(c);
        if (l->calls == c) /* cancel could not complete (should not happen): drop it */
            call_destroy(c);
    }
}

/* ---- synchronous wrapper ------------------------------------------------------------------ */

struct sync_state {
    struct belt_answer *answer; /* copy */
    int done;                   /* on_answer ran */
    struct event_base *base;    /* the private loop */
    belt_chunk_fn *on_chunk;    /* the caller's callbacks and their ud */
    belt_attempt_fn *on_attempt;
    void *ud;
};

static void sync_answer(void *ud, struct belt_call *call, const struct belt_answer *a)
{
    struct sync_state *s = ud;
    (void)call;
    s->answer = belt__answer_copy(a);
    s->done = 1;
    event_base_loopbreak(s->base);
}

static void sync_chunk(void *ud, struct belt_call *call, const struct belt_chunk *ck)
{
    struct sync_state *s = ud;
    s->on_chunk(s->ud, call, ck);
}

static void sync_attempt(void *ud, struct belt_call *call, const struct belt_attempt *a)
{
    struct sync_state *s = ud;
    s->on_attempt(s->ud, call, a);
}

belt_status belt_call_sync(struct belt_engine *e, const struct belt_call_params *p,
                           struct belt_answer **out, struct belt_error *err)
{
    *out = NULL;
    struct sync_state s = {NULL, 0, event_base_new(), p->on_chunk, p->on_attempt, p->ud};
    if (!s.base)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot create an event loop");
    struct belt_loop *l = NULL;
    belt_status st = belt_loop_new(e, s.base, &l, err);
    if (st == BELT_OK) {
        struct belt_call_params q = *p;
        q.on_answer = sync_answer;
        q.on_chunk = p->on_chunk ? sync_chunk : NULL;
        q.on_attempt = p->on_attempt ? sync_attempt : NULL;
        q.ud = &s;
        st = belt_call_start(l, &q, NULL, err);
        while (st == BELT_OK && !s.done)
            event_base_loop(s.base, EVLOOP_ONCE);
    }
    belt_loop_free(l);
    event_base_free(s.base);
    if (st != BELT_OK)
        return st;
    if (!s.answer)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory copying the answer");
    *out = s.answer;
    if (s.answer->status != BELT_OK)
        belt__error_set(err, s.answer->status, s.answer->http_status, "%s", s.answer->error);
    return s.answer->status;
}
