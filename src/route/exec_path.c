/*
 * exec_path.c — the path of a route call: policy steps turned into path steps with the cost,
 * latency, attempts and signal values of the calls made for them; the public answer struct,
 * its deep copy, its JSON form (docs/routes.md#the-path), the x-belt-tiers summary, and the
 * trace record the engine's writer stores.
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "route/exec_int.h"
#include "trace/trace.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"

/* Path events (static strings; copies map back to these for the trace). */
static const char *const EVENTS[] = {"answered", "accepted", "escalated",  "failed",
                                     "skipped",  "human",    "unresolved", "rule",
                                     "router",   "balance",  NULL};

static const char *static_event(const char *e)
{
    for (size_t i = 0; e && EVENTS[i]; i++)
        if (strcmp(EVENTS[i], e) == 0)
            return EVENTS[i];
    return "failed";
}

static int is_tier_event(const char *e)
{
    return strcmp(e, "rule") != 0 && strcmp(e, "router") != 0 && strcmp(e, "balance") != 0 &&
           strcmp(e, "unresolved") != 0;
}

struct belt_route_signals belt__rc_no_signals(void)
{
    struct belt_route_signals s;
    s.confidence = s.logprob_mean = s.logprob_min = s.score = NAN;
    s.agree = s.compared = s.peer_agree = -1;
    return s;
}

struct belt_route_step *belt__rc_path_push(struct belt_route_call *rc, const char *event)
{
    rc->n_path_total++;
    if (rc->n_path >= BELT__ROUTE_MAX_PATH)
        return NULL;
    struct belt_route_step *s = &rc->path[rc->n_path++];
    memset(s, 0, sizeof(*s));
    s->event = static_event(event);
    s->tier = -1;
    s->reason = "";
    s->sig = belt__rc_no_signals();
    return s;
}

static void put_acc(struct belt_route_step *s, const struct rc_acc *acc)
{
    s->cost_usd = acc->cost_usd;
    s->latency_us = acc->latency_us;
    s->calls = acc->calls;
    s->attempts = acc->attempts;
    s->input_tokens = acc->input_tokens;
    s->output_tokens = acc->output_tokens;
    s->sig = acc->sig;
}

void belt__rc_flush_acc(struct belt_route_call *rc, const char *event, const char *reason)
{
    const struct belt_config *cfg = rc->env.cfg;
    struct belt_route_step *s = belt__rc_path_push(rc, event);
    if (s) {
        s->route = rc->is_model ? cfg->models.v[rc->model].name : cfg->routes.v[rc->acc.route].name;
        s->depth = rc->acc.depth;
        s->tier = rc->is_model ? 0 : (int)rc->acc.tier;
        s->model = cfg->models.v[rc->acc.model].name;
        s->target = s->model;
        s->reason = reason ? reason : "";
        put_acc(s, &rc->acc);
    }
    rc->acc.active = 0;
}

/* What a route's position names: a model, a route, "human" (NULL when unknown). */
static const char *target_name(const struct belt_cfg_route *r, size_t pos)
{
    const struct belt_cfg_target *t = NULL;
    if ((r->kind == BELT_ROUTE_CASCADE || r->kind == BELT_ROUTE_LEARNED) && pos < r->n_tiers)
        t = &r->tiers[pos].target;
    else if ((r->kind == BELT_ROUTE_FIXED || r->kind == BELT_ROUTE_FALLBACK) && pos < r->n_targets)
        t = &r->targets[pos];
    if (!t)
        return NULL;
    return t->kind == BELT_TARGET_HUMAN ? "human" : t->name;
}

/* One policy step as a path step. */
static void absorb_one(struct belt_route_call *rc, const struct belt__route_step *ps)
{
    static const char *const map[] = {"accepted", "escalated", "failed", "skipped", "rule",
                                      "router",   "balance",   "human",  NULL,      "unresolved"};
    if ((unsigned)ps->event >= BELT_ARRAY_LEN(map) || !map[ps->event])
        return; /* SIGNAL: the calls it asks for are counted in the tier's step */
    const struct belt_config *cfg = rc->env.cfg;
    const struct belt_cfg_route *r = &cfg->routes.v[ps->route];
    int judged = ps->event == BELT__EV_ACCEPTED || ps->event == BELT__EV_ESCALATED ||
                 ps->event == BELT__EV_FAILED;
    int mine = judged && rc->acc.active && rc->acc.route == ps->route && rc->acc.tier == ps->tier;
    struct belt_route_step *s = belt__rc_path_push(rc, map[ps->event]);
    if (mine)
        rc->acc.active = 0;
    if (!s)
        return;
    s->route = r->name;
    s->depth = ps->depth;
    s->tier = ps->tier == BELT__ROUTE_NONE ? -1 : (int)ps->tier;
    s->model = ps->model < cfg->models.n ? cfg->models.v[ps->model].name : NULL;
    s->reason = ps->reason;
    if (ps->event == BELT__EV_RULE || ps->event == BELT__EV_BALANCE ||
        ps->event == BELT__EV_UNRESOLVED || r->kind == BELT_ROUTE_RULES)
        s->tier = -1; /* a rules route has no tiers: its one target is in the reason */
    else if (ps->event == BELT__EV_HUMAN && !s->model)
        s->target = "human";
    else if (ps->tier != BELT__ROUTE_NONE)
        s->target = target_name(r, ps->tier);
    if (!s->target && ps->event != BELT__EV_RULE && ps->event != BELT__EV_BALANCE)
        s->target = s->model;
    if (mine)
        put_acc(s, &rc->acc);
    if (isnan(s->sig.confidence) && !isnan(ps->confidence))
        s->sig.confidence = ps->confidence; /* a child's answer, the router's p(correct) */
}

void belt__rc_absorb_steps(struct belt_route_call *rc)
{
    for (; rc->steps_seen < rc->run.n_steps; rc->steps_seen++)
        absorb_one(rc, &rc->run.steps[rc->steps_seen]);
}

void belt__rc_fill_answer(const struct belt_route_call *rc, struct belt_route_answer *a)
{
    memset(a, 0, sizeof(*a));
    a->status = rc->status;
    a->http_status = rc->http_status;
    a->error = rc->error;
    a->outcome = rc->outcome;
    a->resolved = rc->outcome == BELT_ROUTE_ANSWERED && rc->status == BELT_OK;
    a->route = rc->name;
    a->is_model = rc->is_model;
    a->trace_id = rc->trace_id;
    a->answer = rc->final;
    a->model = rc->final ? rc->final->model : NULL;
    a->final_tier = rc->final_tier;
    a->steps = rc->path;
    a->n_steps = rc->n_path;
    /* steps beyond the policy's own trace are counted only */
    a->n_steps_total = rc->n_path_total + (rc->run.n_steps_total - rc->run.n_steps);
    a->cost_usd = rc->cost_usd;
    a->latency_us = belt_now_us() - rc->start_us;
    a->input_tokens = rc->input_tokens;
    a->output_tokens = rc->output_tokens;
    a->n_calls = rc->n_calls;
    a->stream = rc->stream;
    a->streamed_live = rc->n_live_chunks > 0;
}

/* ---- copy --------------------------------------------------------------------------------- */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copy s into the pool at *p (NULL stays NULL). */
static const char *pool_put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

struct belt_route_answer *belt_route_answer_copy(const struct belt_route_answer *a)
{
    if (!a)
        return NULL;
    size_t strings =
        str_size(a->error) + str_size(a->route) + str_size(a->trace_id) + str_size(a->model);
    for (size_t i = 0; i < a->n_steps; i++) {
        const struct belt_route_step *s = &a->steps[i];
        strings +=
            str_size(s->route) + str_size(s->model) + str_size(s->target) + str_size(s->reason);
    }
    size_t head = sizeof(struct belt_route_answer) + a->n_steps * sizeof(struct belt_route_step);
    struct belt_route_answer *c = belt_malloc(head + strings);
    if (!c)
        return NULL;
    *c = *a;
    struct belt_route_step *steps = (struct belt_route_step *)(c + 1);
    char *p = (char *)c + head;
    c->error = pool_put(&p, a->error);
    c->route = pool_put(&p, a->route);
    c->trace_id = pool_put(&p, a->trace_id);
    c->model = pool_put(&p, a->model);
    for (size_t i = 0; i < a->n_steps; i++) {
        steps[i] = a->steps[i];
        steps[i].event = static_event(a->steps[i].event);
        steps[i].route = pool_put(&p, a->steps[i].route);
        steps[i].model = pool_put(&p, a->steps[i].model);
        steps[i].target = pool_put(&p, a->steps[i].target);
        steps[i].reason = pool_put(&p, a->steps[i].reason);
    }
    c->steps = steps;
    c->answer = NULL;
    if (a->answer) {
        c->answer = belt_answer_copy(a->answer);
        if (!c->answer) {
            belt_free(c);
            return NULL;
        }
        c->model = c->answer->model;
    }
    return c;
}

void belt_route_answer_free(struct belt_route_answer *a)
{
    if (!a)
        return;
    belt_answer_free((struct belt_answer *)a->answer);
    belt_free(a);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void set_num(json_t *o, const char *k, double v)
{
    if (!isnan(v))
        json_object_set_new(o, k, json_real(v));
}

static json_t *signals_json(const struct belt_route_signals *s)
{
    json_t *o = json_object();
    set_num(o, "confidence", s->confidence);
    set_num(o, "logprob_mean", s->logprob_mean);
    set_num(o, "logprob_min", s->logprob_min);
    set_num(o, "score", s->score);
    if (s->compared >= 0) {
        json_object_set_new(o, "agree", json_integer(s->agree));
        json_object_set_new(o, "compared", json_integer(s->compared));
    }
    if (s->peer_agree >= 0)
        json_object_set_new(o, "peer_agree", json_boolean(s->peer_agree));
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *step_json(const struct belt_route_step *s)
{
    json_t *o = json_pack("{s:s, s:o, s:i, s:o, s:o, s:o, s:s}", "event", s->event, "route",
                          str_or_null(s->route), "depth", s->depth, "tier",
                          s->tier >= 0 ? json_integer(s->tier + 1) : json_null(), "model",
                          str_or_null(s->model), "target", str_or_null(s->target), "reason",
                          s->reason ? s->reason : "");
    if (!o)
        return NULL;
    if (s->calls || s->cost_usd > 0) {
        json_object_set_new(o, "cost_usd", json_real(s->cost_usd));
        json_object_set_new(o, "latency_ms", json_real((double)s->latency_us / 1000.0));
        json_object_set_new(o, "calls", json_integer(s->calls));
        json_object_set_new(o, "attempts", json_integer(s->attempts));
        json_object_set_new(o, "input_tokens", json_integer(s->input_tokens));
        json_object_set_new(o, "output_tokens", json_integer(s->output_tokens));
    }
    json_t *sig = signals_json(&s->sig);
    if (sig && json_object_size(sig))
        json_object_set_new(o, "signals", sig);
    else
        json_decref(sig);
    return o;
}

static json_t *answer_json(const struct belt_route_answer *a)
{
    json_t *steps = json_array();
    for (size_t i = 0; steps && i < a->n_steps; i++)
        json_array_append_new(steps, step_json(&a->steps[i]));
    json_t *o = json_pack(
        "{s:s, s:b, s:s, s:b, s:i, s:s, s:o, s:o, s:f, s:f, s:I, s:I, s:i, s:s, s:o, s:I}", "route",
        a->route ? a->route : "", "is_model", a->is_model, "outcome",
        belt_route_outcome_name(a->outcome), "resolved", a->resolved, "http_status", a->http_status,
        "status", a->status == BELT_OK ? "ok" : belt_status_name(a->status), "model",
        str_or_null(a->model), "final_tier",
        a->final_tier >= 0 ? json_integer(a->final_tier + 1) : json_null(), "cost_usd", a->cost_usd,
        "latency_ms", (double)a->latency_us / 1000.0, "input_tokens", (json_int_t)a->input_tokens,
        "output_tokens", (json_int_t)a->output_tokens, "calls", a->n_calls, "trace_id",
        a->trace_id ? a->trace_id : "", "steps", steps ? steps : json_array(), "steps_total",
        (json_int_t)a->n_steps_total);
    if (o && a->error && *a->error)
        json_object_set_new(o, "error", json_string(a->error));
    return o;
}

char *belt_route_answer_json(const struct belt_route_answer *a)
{
    json_t *o = a ? answer_json(a) : NULL;
    char *s = o ? belt_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    return s;
}

/* ---- x-belt-tiers ------------------------------------------------------------------------- */

static size_t put_clean(char *out, size_t used, size_t cap, const char *s)
{
    for (; s && *s && used + 1 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        out[used++] = (ch < 0x21 || ch > 0x7e || ch == ';' || ch == '=' || ch == ',' || ch == ':')
                          ? '_'
                          : (char)ch;
    }
    return used;
}

size_t belt_route_answer_tiers(const struct belt_route_answer *a, char *out, size_t cap)
{
    if (!out || !cap)
        return 0;
    out[0] = '\0';
    size_t used = 0;
    int depth = INT32_MAX; /* the outermost route with tiers (rules send to a cascade) */
    for (size_t i = 0; a && i < a->n_steps; i++)
        if (a->steps[i].tier >= 0 && is_tier_event(a->steps[i].event))
            depth = BELT_MIN(depth, a->steps[i].depth);
    for (size_t i = 0; a && i < a->n_steps; i++) {
        const struct belt_route_step *s = &a->steps[i];
        if (s->depth != depth || s->tier < 0 || !is_tier_event(s->event))
            continue;
        /* The signal that decided: calibrated confidence, else a verifier score, else the
         * probability of the mean token logprob; "-" when the tier was not judged. */
        double c = !isnan(s->sig.confidence)     ? s->sig.confidence
                   : !isnan(s->sig.score)        ? s->sig.score
                   : !isnan(s->sig.logprob_mean) ? exp(s->sig.logprob_mean)
                                                 : NAN;
        char one[200];
        int w = snprintf(one, sizeof(one), "%s%d:", used ? ";" : "", s->tier + 1);
        size_t n = w > 0 ? (size_t)w : 0;
        n = put_clean(one, n, sizeof(one) - 48, s->target ? s->target : s->model ? s->model : "?");
        if (isnan(c))
            w = snprintf(one + n, sizeof(one) - n, ":-:");
        else
            w = snprintf(one + n, sizeof(one) - n, ":%.3f:", c);
        n += w > 0 ? (size_t)w : 0;
        n = put_clean(one, n, sizeof(one), s->event);
        if (used + n + 1 > cap)
            break; /* whole steps only */
        memcpy(out + used, one, n);
        used += n;
        out[used] = '\0';
    }
    return used;
}

/* ---- trace record ------------------------------------------------------------------------- */

/* The configuration's own copy of a model or route name (outlives the writer), or NULL. */
static const char *cfg_name(const struct belt_config *cfg, const char *name)
{
    if (!name)
        return NULL;
    const struct belt_cfg_model *m = belt__cfg_models_find(&cfg->models, name);
    if (m)
        return m->name;
    const struct belt_cfg_route *r = belt__cfg_routes_find(&cfg->routes, name, NULL);
    if (r)
        return r->name;
    return strcmp(name, "human") == 0 ? "human" : NULL;
}

static const char *trace_status(const struct belt_route_answer *a)
{
    if (a->status == BELT_ERR_CANCELLED)
        return "cancelled";
    if (a->status != BELT_OK)
        return "error";
    switch (a->outcome) {
    case BELT_ROUTE_ANSWERED:
        return "ok";
    case BELT_ROUTE_UNRESOLVED:
        return "escalated";
    case BELT_ROUTE_BUDGET:
        return "budget";
    default:
        return "error";
    }
}

struct belt_trace_rec *belt__route_trace_rec(const struct belt_engine *e,
                                             const struct belt_route_answer *a, size_t extra_steps)
{
    const struct belt_config *cfg = e->cfg;
    struct belt_trace_rec *t = belt__trace_rec_new(a->n_steps + extra_steps);
    if (!t)
        return NULL;
    snprintf(t->id, sizeof(t->id), "%s", a->trace_id ? a->trace_id : "");
    t->ts_ms = belt_wall_ms() - a->latency_us / 1000;
    t->kind = "chat";
    t->route = cfg_name(cfg, a->route);
    t->model = cfg_name(cfg, a->model);
    t->status = trace_status(a);
    t->http_status = a->http_status;
    t->error = a->error && *a->error ? belt_strdup(a->error) : NULL;
    t->input_tokens = a->input_tokens;
    t->output_tokens = a->output_tokens;
    t->cost_usd = a->cost_usd;
    t->latency_us = a->latency_us;
    t->stream = a->stream;
    json_t *path = answer_json(a);
    json_t *attrs = path ? json_pack("{s:o}", "route", path) : NULL;
    t->attrs = attrs ? belt_json_dumps(attrs, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(attrs);
    for (size_t i = 0; i < a->n_steps; i++) {
        const struct belt_route_step *s = &a->steps[i];
        struct belt_trace_step_rec *r = &t->steps[t->n_steps++];
        r->seq = (int)i;
        r->model = cfg_name(cfg, s->target ? s->target : s->model);
        if (!r->model)
            r->model = cfg_name(cfg, s->route);
        r->tier = s->tier;
        r->status = static_event(s->event);
        r->note = s->reason && *s->reason ? belt_strdup(s->reason) : NULL;
        r->reason = static_event(s->event);
        r->confidence = !isnan(s->sig.confidence) ? s->sig.confidence
                        : !isnan(s->sig.score)    ? s->sig.score
                                                  : -1;
        r->input_tokens = s->input_tokens;
        r->output_tokens = s->output_tokens;
        r->cost_usd = s->cost_usd;
        r->latency_us = s->latency_us;
    }
    return t;
}
