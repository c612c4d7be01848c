/*
 * policy.c — the route decision core (see policy.h). A run is a stack of frames, one per active
 * route; each frame steps through its targets or tiers. belt__route_next() advances the top
 * frame until it needs a model call (returned as an action) or the entry route finishes.
 * Answers come back through belt__route_feed(), which only stores them; all decisions are taken
 * in belt__route_next(), so the order of decisions never depends on who feeds.
 */
#include "belt_config.h"

#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "route/policy.h"
#include "util/error.h"
#include "util/hash.h"

const char *const belt__step_event_names[] = {"accepted", "escalated",  "failed",  "skipped",
                                              "rule",     "router",     "balance", "human",
                                              "signal",   "unresolved", NULL};
const char *const belt__route_outcome_names[] = {"answered", "unresolved", "budget", "failed",
                                                 NULL};

/* Frame states. */
enum {
    ST_SLOT = 0,       /* start the current target/tier */
    ST_WAIT = 1,       /* a CALL was returned; waiting for feed */
    ST_GOT_ANSWER = 2, /* the answer to the current target's call was fed */
    ST_GOT_SIGNAL = 3, /* the answers to a signal call were fed */
    ST_WAIT_CHILD = 4, /* a child route runs above this frame */
    ST_GOT_CHILD = 5,  /* the child route finished */
    ST_EVAL = 6        /* evaluate the current tier's accept condition */
};

/* What advancing a frame produced. */
enum { ADV_CONTINUE = 0, ADV_EMIT = 1 };

static const struct belt_cfg_route *route_of(const struct belt__route_run *run, size_t i)
{
    return &run->env->cfg->routes.v[i];
}

static const char *model_name(const struct belt__route_run *run, size_t m)
{
    return m < run->env->cfg->models.n ? run->env->cfg->models.v[m].name : "?";
}

static void push_step(struct belt__route_run *run, enum belt__step_event ev, size_t tier,
                      size_t model, double conf, double cost, const char *fmt, ...)
    BELT_PRINTF(7, 8);

/* Append one trace line for the top frame. */
static void push_step(struct belt__route_run *run, enum belt__step_event ev, size_t tier,
                      size_t model, double conf, double cost, const char *fmt, ...)
{
    run->n_steps_total++;
    if (run->n_steps >= BELT__ROUTE_MAX_STEPS || run->env->no_trace)
        return;
    struct belt__route_step *s = &run->steps[run->n_steps++];
    s->event = ev;
    s->route = run->depth ? run->frames[run->depth - 1].route : run->entry_route;
    s->depth = run->depth ? (int)run->depth - 1 : 0;
    s->tier = tier;
    s->model = model;
    s->confidence = conf;
    s->cost_usd = cost;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
}

/* The target at the frame's current position. */
static const struct belt_cfg_target *current_target(const struct belt__route_run *run,
                                                    const struct belt__route_frame *f)
{
    const struct belt_cfg_route *r = route_of(run, f->route);
    switch (r->kind) {
    case BELT_ROUTE_FIXED:
    case BELT_ROUTE_FALLBACK:
        return &r->targets[f->pos];
    case BELT_ROUTE_BALANCE:
        return &r->targets[f->order[f->pos]];
    case BELT_ROUTE_CASCADE:
    case BELT_ROUTE_LEARNED:
        return &r->tiers[f->pos].target;
    case BELT_ROUTE_RULES:
        return f->rule_target;
    }
    return NULL;
}

/* ---- rules ---------------------------------------------------------------------------------- */

static int list_has(const struct belt_cfg_strlist *l, const char *s)
{
    for (size_t i = 0; s && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

static int64_t count_chars(const char *s, size_t n)
{
    int64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int belt__route_rule_matches(const struct belt_cfg_rule *rule,
                             const struct belt__route_request *req)
{
    if (rule->stakes.n && !list_has(&rule->stakes, req->stakes))
        return 0;
    if (rule->tags.n) {
        int any = 0;
        for (size_t i = 0; i < req->n_tags && !any; i++)
            any = list_has(&rule->tags, req->tags[i]);
        if (!any)
            return 0;
    }
    if (rule->keys.n) {
        int any = 0;
        for (size_t i = 0; req->key_name && i < rule->keys.n && !any; i++)
            any = fnmatch(rule->keys.v[i], req->key_name, 0) == 0;
        if (!any)
            return 0;
    }
    int64_t chars = (rule->min_input_chars || rule->max_input_chars >= 0)
                        ? count_chars(req->text ? req->text : "", req->text ? req->len : 0)
                        : 0;
    if (rule->min_input_chars && chars < rule->min_input_chars)
        return 0;
    if (rule->max_input_chars >= 0 && chars > rule->max_input_chars)
        return 0;
    if (rule->re) {
        pcre2_match_data *md = belt__rx_pool_acquire(rule->rx_pool);
        if (!md)
            return 0;
        int rc = pcre2_match(rule->re, (PCRE2_SPTR)(req->text ? req->text : ""),
                             req->text ? req->len : 0, 0, 0, md, NULL);
        belt__rx_pool_release(rule->rx_pool, md);
        if (rc < 0)
            return 0;
    }
    return 1;
}

/* ---- entering a route ----------------------------------------------------------------------- */

/* Weighted choice by the request seed, then the others in config order (tried on failure). */
static void balance_order(struct belt__route_run *run, struct belt__route_frame *f,
                          const struct belt_cfg_route *r)
{
    size_t first = 0;
    if (r->strategy == BELT_BALANCE_LEAST_LATENCY) {
        int64_t best = INT64_MAX;
        for (size_t i = 0; i < r->n_targets; i++) {
            const struct belt_cfg_target *t = &r->targets[i];
            int64_t lat = t->kind == BELT_TARGET_MODEL && run->env->est &&
                                  run->env->est[t->index].latency_us >= 0
                              ? run->env->est[t->index].latency_us
                              : INT64_MAX - 1;
            if (lat < best) {
                best = lat;
                first = i;
            }
        }
    } else {
        double total = 0, acc = 0;
        for (size_t i = 0; i < r->n_targets; i++)
            total += r->weights[i];
        uint64_t h = belt_mix64(run->req.seed ^ (0x9E3779B97F4A7C15ULL * (f->route + 1)));
        double u = (double)(h >> 11) / 9007199254740992.0 * total;
        for (first = 0; first + 1 < r->n_targets; first++) {
            acc += r->weights[first];
            if (u < acc)
                break;
        }
    }
    size_t k = 0;
    f->order[k++] = (uint8_t)first;
    for (size_t i = 0; i < r->n_targets; i++)
        if (i != first)
            f->order[k++] = (uint8_t)i;
    push_step(run, BELT__EV_BALANCE, BELT__ROUTE_NONE, BELT__ROUTE_NONE, NAN, 0, "%s chose %s",
              r->strategy == BELT_BALANCE_LEAST_LATENCY ? "least latency" : "weights",
              r->targets[first].name);
}

/* Cost of one call of tier i's model for this task, NAN if unknown. */
static double tier_cost(const struct belt__route_env *env, const struct belt_cfg_route *r, size_t i)
{
    const struct belt_cfg_target *t = &r->tiers[i].target;
    if (!env->est || t->kind != BELT_TARGET_MODEL)
        return NAN;
    return env->est[t->index].cost_usd;
}

void belt__route_learned_scores(const struct belt__route_env *env, const struct belt_cfg_route *r,
                                const struct belt_router *router, const double *p, double *s,
                                size_t n)
{
    size_t last = n - 1;
    double c_last = tier_cost(env, r, last);
    for (size_t i = 0; i < n; i++) {
        s[i] = p[i];
        if (r->cost_weight <= 0 || i == last || !router)
            continue;
        double d = c_last - tier_cost(env, r, i); /* NAN when either is unknown */
        double ref = belt_router_tier_cost(router, last) - belt_router_tier_cost(router, i);
        if (!(d > 0) || !(ref > 0) || !(p[i] > 0 && p[i] < 1))
            continue; /* nothing to weigh, or already certain */
        double z = log(p[i] / (1 - p[i])) + r->cost_weight * log(d / ref);
        s[i] = 1 / (1 + exp(-z));
    }
}

/* The learned router's choice: the cheapest tier predicted to succeed, never below start. */
static size_t learned_tier(struct belt__route_run *run, const struct belt_cfg_route *r, size_t ri,
                           size_t start)
{
    const struct belt_router *router = run->env->routers ? run->env->routers[ri] : NULL;
    double p[16];
    size_t n = BELT_MIN(r->n_tiers, BELT_ARRAY_LEN(p));
    double target = isnan(run->env->sweep) ? r->target : run->env->sweep;
    struct belt_error err = {0};
    if (run->req.router_p && run->req.router_p_route == ri) {
        memcpy(p, run->req.router_p, n * sizeof(double));
    } else if (!router || belt_router_n_tiers(router) != n ||
               belt_router_predict_tagged(router, run->req.text ? run->req.text : "",
                                          run->req.text ? run->req.len : 0, run->req.tags,
                                          run->req.n_tags, p, n, &err) != BELT_OK) {
        push_step(run, BELT__EV_ROUTER, start, BELT__ROUTE_NONE, NAN, 0,
                  "router unavailable (%s): starting at tier %zu", router ? err.msg : "not loaded",
                  start + 1);
        return start;
    }
    double s[16];
    belt__route_learned_scores(run->env, r, router, p, s, n);
    size_t tier = n - 1; /* belt_router_choose(): the cheapest that reaches the target */
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= target) {
            tier = i;
            break;
        }
    }
    size_t chosen = BELT_MAX(tier, start);
    char ps[80] = "", ss[80] = "";
    for (size_t i = 0, used = 0, used_s = 0; i < n; i++) {
        if (used < sizeof(ps)) {
            int w = snprintf(ps + used, sizeof(ps) - used, "%s%.3f", i ? " " : "", p[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        if (r->cost_weight > 0 && used_s < sizeof(ss)) {
            int w = snprintf(ss + used_s, sizeof(ss) - used_s, "%s%.3f", i ? " " : "", s[i]);
            used_s += w > 0 ? (size_t)w : 0;
        }
    }
    push_step(run, BELT__EV_ROUTER, chosen, BELT__ROUTE_NONE, p[tier], 0,
              "p(correct) = [%s]%s%s%s, target %.3f: tier %zu%s", ps,
              ss[0] ? ", cost-weighted [" : "", ss, ss[0] ? "]" : "", target, tier + 1,
              chosen != tier ? " (raised to the rule's minimum tier)" : "");
    return chosen;
}

/* Pick the rule's destination for a rules frame. */
static void rules_choose(struct belt__route_run *run, struct belt__route_frame *f,
                         const struct belt_cfg_route *r)
{
    for (size_t i = 0; i < r->n_rules; i++) {
        const struct belt_cfg_rule *rule = &r->rules[i];
        if (!belt__route_rule_matches(rule, &run->req))
            continue;
        f->rule_target = rule->target.kind != BELT_TARGET_NONE ? &rule->target : &r->dflt;
        f->rule_start = rule->start_tier;
        char from[48] = "";
        if (rule->min_tier || rule->min_tier_name)
            snprintf(from, sizeof(from), ", from tier %zu", rule->start_tier + 1);
        push_step(run, BELT__EV_RULE, BELT__ROUTE_NONE, BELT__ROUTE_NONE, NAN, 0,
                  "rule %zu matched: %s%s", i + 1,
                  f->rule_target->kind == BELT_TARGET_HUMAN ? "a person" : f->rule_target->name,
                  from);
        return;
    }
    f->rule_target = &r->dflt;
    f->rule_start = 0;
    push_step(run, BELT__EV_RULE, BELT__ROUTE_NONE, BELT__ROUTE_NONE, NAN, 0,
              "no rule matched: default %s", r->dflt.name);
}

/* Push a frame for route ri, starting at tier `start` (cascade / learned). */
static int enter(struct belt__route_run *run, size_t ri, size_t start)
{
    if (run->depth >= BELT__ROUTE_MAX_DEPTH) {
        snprintf(run->error, sizeof(run->error), "routes nested deeper than %d",
                 BELT__ROUTE_MAX_DEPTH);
        return -1;
    }
    struct belt__route_frame *f = &run->frames[run->depth++];
    memset(f, 0, sizeof(*f));
    f->route = ri;
    f->ans_model = BELT__ROUTE_NONE;
    f->best_model = BELT__ROUTE_NONE;
    const struct belt_cfg_route *r = route_of(run, ri);
    switch (r->kind) {
    case BELT_ROUTE_FIXED:
    case BELT_ROUTE_FALLBACK:
        f->n_pos = r->n_targets;
        break;
    case BELT_ROUTE_BALANCE:
        f->n_pos = r->n_targets;
        balance_order(run, f, r);
        break;
    case BELT_ROUTE_CASCADE:
        f->n_pos = r->n_tiers;
        f->pos = BELT_MIN(start, r->n_tiers - 1);
        break;
    case BELT_ROUTE_LEARNED:
        f->n_pos = r->n_tiers;
        f->pos = learned_tier(run, r, ri, BELT_MIN(start, r->n_tiers - 1));
        break;
    case BELT_ROUTE_RULES:
        f->n_pos = 1;
        rules_choose(run, f, r);
        break;
    }
    f->state = ST_SLOT;
    return 0;
}

static int is_person(const struct belt_config *cfg, const struct belt_cfg_target *t)
{
    return t->kind == BELT_TARGET_HUMAN ||
           (t->kind == BELT_TARGET_MODEL &&
            cfg->models.v[t->index].provider == BELT_PROVIDER_HUMAN);
}

size_t belt__route_strongest_tier(const struct belt_config *cfg, const struct belt_cfg_route *r)
{
    if (!r || (r->kind != BELT_ROUTE_CASCADE && r->kind != BELT_ROUTE_LEARNED))
        return BELT__ROUTE_NONE;
    for (size_t i = r->n_tiers; i-- > 1;)
        if (!is_person(cfg, &r->tiers[i].target))
            return i;
    return BELT__ROUTE_NONE;
}

void belt__route_run_init(struct belt__route_run *run, const struct belt__route_env *env,
                          size_t route, const struct belt__route_request *req)
{
    memset(run, 0, sizeof(*run));
    run->env = env;
    run->req = *req;
    run->entry_route = route;
    run->final_tier = BELT__ROUTE_NONE;
    run->answer_model = BELT__ROUTE_NONE;
    size_t start = 0;
    if (req->escalated && route < env->cfg->routes.n) {
        const struct belt_cfg_route *r = &env->cfg->routes.v[route];
        size_t t = belt__route_strongest_tier(env->cfg, r);
        if (t != BELT__ROUTE_NONE) {
            start = t;
            push_step(run, BELT__EV_RULE, BELT__ROUTE_NONE, BELT__ROUTE_NONE, NAN, 0,
                      "escalated by the guard: from tier %zu (%s)", t + 1, r->tiers[t].target.name);
        }
    }
    if (route >= env->cfg->routes.n || enter(run, route, start) != 0) {
        if (!run->error[0])
            snprintf(run->error, sizeof(run->error), "no route %zu", route);
        run->done = 1;
        run->outcome = BELT__OUT_FAILED;
    }
}

/* ---- finishing a frame ---------------------------------------------------------------------- */

/* Pop the top frame with its result; hand it to the parent or end the run. */
static void finish(struct belt__route_run *run, enum belt__route_outcome out,
                   const struct belt__answer *ans, size_t model)
{
    struct belt__route_frame *f = &run->frames[run->depth - 1];
    if (run->depth == 1) {
        run->final_tier = f->pos;
        run->depth = 0;
        run->done = 1;
        run->outcome = out;
        run->answer = ans;
        run->answer_model = ans ? model : BELT__ROUTE_NONE;
        return;
    }
    run->depth--;
    struct belt__route_frame *p = &run->frames[run->depth - 1];
    p->child_outcome = out;
    p->fed = ans;
    p->n_fed = ans ? 1 : 0;
    p->ans_model = model;
    p->state = ST_GOT_CHILD;
}

/* Nothing is left to try in this frame. */
static void exhausted(struct belt__route_run *run, struct belt__route_frame *f)
{
    enum belt__route_outcome out;
    if (f->budget_skips)
        out = BELT__OUT_BUDGET;
    else if (f->best)
        out = BELT__OUT_UNRESOLVED;
    else
        out = BELT__OUT_FAILED;
    const struct belt_cfg_route *r = route_of(run, f->route);
    if (f->pos > 0 && f->pos >= f->n_pos)
        f->pos = f->n_pos - 1;
    push_step(run, BELT__EV_UNRESOLVED, BELT__ROUTE_NONE, f->best_model, NAN, 0,
              "%s: nothing left to try (%s)%s", r->name, belt__route_outcome_names[out],
              f->best ? "; returning the best answer so far" : "");
    finish(run, out, f->best, f->best_model);
}

/* Move to the next target / tier, or finish when there is none. */
static void next_pos(struct belt__route_run *run, struct belt__route_frame *f)
{
    const struct belt_cfg_route *r = route_of(run, f->route);
    f->ans = NULL;
    f->n_sig = 0;
    if (r->kind == BELT_ROUTE_FIXED || r->kind == BELT_ROUTE_RULES || f->pos + 1 >= f->n_pos) {
        f->pos = f->n_pos; /* exhausted() clamps it back for the trace */
        exhausted(run, f);
        return;
    }
    f->pos++;
    f->state = ST_SLOT;
}

/* ---- budgets -------------------------------------------------------------------------------- */

/* The tightest cost / latency limits over the request and every route on the stack. */
static void limits(const struct belt__route_run *run, double *cost, int64_t *lat_ms)
{
    *cost = run->req.max_cost_usd;
    *lat_ms = run->req.max_latency_ms;
    for (size_t i = 0; i < run->depth; i++) {
        const struct belt_cfg_route *r = route_of(run, run->frames[i].route);
        if (r->max_cost_usd > 0 && (*cost <= 0 || r->max_cost_usd < *cost))
            *cost = r->max_cost_usd;
        if (r->max_latency_ms > 0 && (*lat_ms <= 0 || r->max_latency_ms < *lat_ms))
            *lat_ms = r->max_latency_ms;
    }
}

/* 1 if n calls of model m fit the budget; otherwise writes why into why[0..cap). */
static int affordable(const struct belt__route_run *run, size_t m, int n, char *why, size_t cap)
{
    if (!run->env->est)
        return 1;
    double max_cost;
    int64_t max_lat_ms;
    limits(run, &max_cost, &max_lat_ms);
    const struct belt__model_estimate *e = &run->env->est[m];
    if (max_cost > 0 && !isnan(e->cost_usd) && run->cost_usd + n * e->cost_usd > max_cost) {
        snprintf(why, cap, "budget: %s would cost ~$%.6g, $%.6g of $%.6g left", model_name(run, m),
                 n * e->cost_usd, BELT_MAX(0.0, max_cost - run->cost_usd), max_cost);
        return 0;
    }
    if (max_lat_ms > 0 && e->latency_us >= 0 &&
        run->latency_us + e->latency_us > max_lat_ms * 1000) {
        snprintf(why, cap, "budget: %s would take ~%lld ms, %lld ms of %lld ms left",
                 model_name(run, m), (long long)(e->latency_us / 1000),
                 (long long)BELT_MAX(0, max_lat_ms - run->latency_us / 1000),
                 (long long)max_lat_ms);
        return 0;
    }
    return 1;
}

/* ---- stepping ------------------------------------------------------------------------------- */

static int emit(struct belt__route_run *run, struct belt__route_frame *f,
                struct belt__route_action *act, size_t model, int n, int purpose,
                const struct belt__answer *subject)
{
    memset(act, 0, sizeof(*act));
    act->kind = BELT__ACT_CALL;
    act->model = model;
    act->n = n;
    act->purpose = purpose;
    act->subject = subject;
    run->last = *act;
    if (model < 64)
        run->models_called |= (uint64_t)1 << model;
    run->n_calls += (size_t)n;
    f->state = ST_WAIT;
    return ADV_EMIT;
}

/* Start the current target: a model call, a child route, or a person. */
static int start_slot(struct belt__route_run *run, struct belt__route_frame *f,
                      struct belt__route_action *act)
{
    const struct belt_cfg_target *t = current_target(run, f);
    const struct belt_cfg_route *r = route_of(run, f->route);
    int person_model = t->kind == BELT_TARGET_MODEL &&
                       run->env->cfg->models.v[t->index].provider == BELT_PROVIDER_HUMAN;
    if (t->kind == BELT_TARGET_HUMAN || person_model) {
        push_step(run, BELT__EV_HUMAN, f->pos, person_model ? t->index : BELT__ROUTE_NONE, NAN, 0,
                  "escalated to a person%s%s: returned as escalated-unresolved%s",
                  person_model ? " via " : "", person_model ? t->name : "",
                  f->best ? " with the best answer so far" : "");
        finish(run, BELT__OUT_UNRESOLVED, f->best, f->best_model);
        return ADV_CONTINUE;
    }
    if (t->kind == BELT_TARGET_ROUTE) {
        size_t start = r->kind == BELT_ROUTE_RULES ? f->rule_start : 0;
        f->state = ST_WAIT_CHILD;
        if (enter(run, t->index, start) != 0) {
            run->done = 1;
            run->outcome = BELT__OUT_FAILED;
        }
        return ADV_CONTINUE;
    }
    char why[176];
    if (!affordable(run, t->index, 1, why, sizeof(why))) {
        f->budget_skips++;
        push_step(run, BELT__EV_SKIPPED, f->pos, t->index, NAN, 0, "%s", why);
        next_pos(run, f);
        return ADV_CONTINUE;
    }
    return emit(run, f, act, t->index, 1, 0, NULL);
}

/* A successful or failed result of the current target (model answer or child route). */
static void on_result(struct belt__route_run *run, struct belt__route_frame *f, int ok,
                      const struct belt__answer *ans, size_t model, const char *fail_why)
{
    const struct belt_cfg_route *r = route_of(run, f->route);
    int tiered = r->kind == BELT_ROUTE_CASCADE || r->kind == BELT_ROUTE_LEARNED;
    if (ok && !tiered) {
        finish(run, BELT__OUT_ANSWERED, ans, model);
        return;
    }
    if (ok) {
        f->ans = ans;
        f->ans_model = model;
        f->n_sig = 0;
        f->state = ST_EVAL;
        return;
    }
    if (ans && ans->status == BELT_OK) { /* an unresolved child still has a best answer */
        f->best = ans;
        f->best_model = model;
    }
    push_step(run, BELT__EV_FAILED, f->pos, model, NAN, 0, "%s", fail_why);
    next_pos(run, f);
}

/* Evaluate the current tier's accept condition with the signals gathered so far. */
static int evaluate(struct belt__route_run *run, struct belt__route_frame *f,
                    struct belt__route_action *act)
{
    const struct belt_cfg_route *r = route_of(run, f->route);
    const struct belt_cfg_tier *tier = &r->tiers[f->pos];
    struct belt__accept_need need;
    char reason[176];
    enum belt__verdict v =
        belt__accept_eval(tier->accept, f->ans, run->req.text, run->req.text ? run->req.len : 0,
                          f->sig, f->n_sig, run->env->sweep, &need, reason, sizeof(reason));
    if (v == BELT__VERDICT_ACCEPT) {
        push_step(run, BELT__EV_ACCEPTED, f->pos, f->ans_model, f->ans->confidence, 0, "%s",
                  reason);
        finish(run, BELT__OUT_ANSWERED, f->ans, f->ans_model);
        return ADV_CONTINUE;
    }
    if (v == BELT__VERDICT_NEED && f->n_sig < BELT__ROUTE_MAX_SIG) {
        size_t m = need.kind == BELT__NEED_SAMPLES ? tier->target.index : need.model;
        char why[176];
        if (affordable(run, m, need.n, why, sizeof(why))) {
            push_step(run, BELT__EV_SIGNAL, f->pos, m, NAN, 0, "%s", reason);
            return emit(run, f, act, m, need.n, (int)need.kind, f->ans);
        }
        f->budget_skips++;
        snprintf(reason, sizeof(reason), "%s", why);
    }
    f->best = f->ans;
    f->best_model = f->ans_model;
    push_step(run, BELT__EV_ESCALATED, f->pos, f->ans_model, f->ans->confidence, 0, "%s", reason);
    next_pos(run, f);
    return ADV_CONTINUE;
}

/* One step of the top frame. */
static int advance(struct belt__route_run *run, struct belt__route_action *act)
{
    struct belt__route_frame *f = &run->frames[run->depth - 1];
    switch (f->state) {
    case ST_SLOT:
        if (f->pos >= f->n_pos) {
            exhausted(run, f);
            return ADV_CONTINUE;
        }
        return start_slot(run, f, act);
    case ST_GOT_ANSWER: {
        const struct belt__answer *a = f->n_fed ? &f->fed[0] : NULL;
        size_t m = run->last.model;
        char why[176];
        snprintf(why, sizeof(why), "%s: %s", model_name(run, m),
                 !a         ? "no answer"
                 : a->error ? a->error
                            : belt_strerror(a->status));
        on_result(run, f, a && a->status == BELT_OK, a, m, why);
        return ADV_CONTINUE;
    }
    case ST_GOT_CHILD: {
        const struct belt_cfg_target *t = current_target(run, f);
        const struct belt_cfg_route *r = route_of(run, f->route);
        if (r->kind != BELT_ROUTE_CASCADE && r->kind != BELT_ROUTE_LEARNED &&
            (f->child_outcome == BELT__OUT_UNRESOLVED || f->child_outcome == BELT__OUT_BUDGET)) {
            /* a person or the budget decided inside the route this one sends to: not an error
             * to fall back from; the outcome and its best answer pass up unchanged */
            finish(run, f->child_outcome, f->fed, f->ans_model);
            return ADV_CONTINUE;
        }
        char why[176];
        snprintf(why, sizeof(why), "route %s: %s", t->name,
                 belt__route_outcome_names[f->child_outcome]);
        on_result(run, f, f->child_outcome == BELT__OUT_ANSWERED, f->fed, f->ans_model, why);
        return ADV_CONTINUE;
    }
    case ST_GOT_SIGNAL:
        f->sig[f->n_sig].kind = (enum belt__need_kind)run->last.purpose;
        f->sig[f->n_sig].model = run->last.model;
        f->sig[f->n_sig].answers = f->fed;
        f->sig[f->n_sig].n = f->n_fed;
        f->n_sig++;
        f->state = ST_EVAL;
        return ADV_CONTINUE;
    case ST_EVAL:
        return evaluate(run, f, act);
    default: /* ST_WAIT / ST_WAIT_CHILD: next() called without feed: repeat the call */
        *act = run->last;
        return ADV_EMIT;
    }
}

void belt__route_next(struct belt__route_run *run, struct belt__route_action *act)
{
    for (int guard = 0; guard < 10000; guard++) {
        if (run->done || run->depth == 0) {
            memset(act, 0, sizeof(*act));
            act->kind = BELT__ACT_DONE;
            act->outcome = run->outcome;
            act->answer = run->answer;
            run->done = 1;
            return;
        }
        if (advance(run, act) == ADV_EMIT)
            return;
    }
    snprintf(run->error, sizeof(run->error), "internal: the route did not settle");
    run->done = 1;
    run->outcome = BELT__OUT_FAILED;
    memset(act, 0, sizeof(*act));
    act->kind = BELT__ACT_DONE;
    act->outcome = BELT__OUT_FAILED;
}

void belt__route_feed(struct belt__route_run *run, const struct belt__answer *answers, size_t n)
{
    if (run->done || !run->depth)
        return;
    struct belt__route_frame *f = &run->frames[run->depth - 1];
    if (f->state != ST_WAIT)
        return;
    double cost = 0;
    int64_t lat = 0;
    for (size_t i = 0; i < n; i++) {
        cost += isnan(answers[i].cost_usd) ? 0 : answers[i].cost_usd;
        lat = BELT_MAX(lat, answers[i].latency_us); /* several answers run in parallel */
    }
    run->cost_usd += cost;
    run->latency_us += lat;
    f->fed = answers;
    f->n_fed = n;
    f->state = run->last.purpose ? ST_GOT_SIGNAL : ST_GOT_ANSWER;
}

/* ---- routers -------------------------------------------------------------------------------- */

belt_status belt__route_routers_load(const struct belt_config *cfg, const unsigned char *only,
                                     struct belt_router ***out, struct belt_error *err)
{
    *out = NULL;
    size_t n = cfg->routes.n;
    struct belt_router **v = belt_calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct belt_cfg_route *r = &cfg->routes.v[i];
        if (r->kind != BELT_ROUTE_LEARNED || (only && !only[i]))
            continue;
        belt_status st = belt_router_load(r->router_path, &v[i], err);
        if (st != BELT_OK)
            belt__error_prefix(err, "routes.%s: ", r->name);
        else if (belt_router_n_tiers(v[i]) != r->n_tiers)
            st = belt__error_set(err, BELT_ERR_CONFIG, 0,
                                 "routes.%s: the router %s predicts %zu tiers but the route has "
                                 "%zu",
                                 r->name, r->router_path, belt_router_n_tiers(v[i]), r->n_tiers);
        for (size_t t = 0; st == BELT_OK && r->cost_weight > 0 && t < r->n_tiers; t++)
            if (!(belt_router_tier_cost(v[i], t) >= 0))
                st =
                    belt__error_set(err, BELT_ERR_CONFIG, 0,
                                    "routes.%s.cost_weight: the router %s has no mean cost for "
                                    "tier %zu (%s); train it on outcomes that record cost_usd",
                                    r->name, r->router_path, t + 1, belt_router_tier_name(v[i], t));
        if (st != BELT_OK) {
            belt__route_routers_free(v, n);
            return st;
        }
    }
    *out = v;
    return BELT_OK;
}

void belt__route_routers_free(struct belt_router **routers, size_t n)
{
    if (!routers)
        return;
    for (size_t i = 0; i < n; i++)
        belt_router_free(routers[i]);
    belt_free(routers);
}
