/*
 * estimate.c — what a request can cost at most, and whether every model it can reach is
 * trusted with raw PII. The key service reserves the cost bound against a key's budgets before
 * the call (belt_keys_authorize) and the real cost is settled afterwards, so the bound must not
 * be exceeded by the call: input tokens are over-estimated (the estimator is within ~20% of BPE
 * tokenizers; we take 1.5× + 16), output tokens are the request's max_tokens (which the gateway
 * sets to the assumed default when a budget applies and the request has none), and a route
 * counts every call it may make: each tier of a cascade, its samples, peer and verifier calls,
 * each target of a fallback, the dearest target of a balance or rules route, and each model's
 * own fallback chain at its dearest price.
 */
#include "belt_config.h"

#include "model/usage.h"
#include "server/server.h"

#define MAX_DEPTH 16 /* routes nest at most this deep (the config rejects cycles) */

struct reach {
    const struct belt_config *cfg;
    const struct belt__models *ms;
    int64_t in, out; /* token bounds of one call */
    int trusted;     /* every model seen is trusted */
};

static double model_cost(struct reach *x, size_t mi, int64_t in, int64_t out)
{
    if (mi >= x->ms->n)
        return 0;
    const struct belt__model *m = &x->ms->v[mi];
    double worst = 0;
    for (size_t c = 0; c < m->n_chain; c++) {
        const struct belt__model *f = &x->ms->v[m->chain[c]];
        x->trusted &= f->cfg->trusted != 0;
        double cost =
            belt__cost_usd(f->cfg->price.input_per_m, f->cfg->price.output_per_m, in, out);
        worst = BELT_MAX(worst, cost);
    }
    return worst;
}

static double route_cost(struct reach *x, const struct belt_cfg_route *r, int depth);

static double target_cost(struct reach *x, const struct belt_cfg_target *t, int depth)
{
    switch (t->kind) {
    case BELT_TARGET_MODEL:
        return model_cost(x, t->index, x->in, x->out);
    case BELT_TARGET_ROUTE:
        return t->index < x->cfg->routes.n ? route_cost(x, &x->cfg->routes.v[t->index], depth + 1)
                                           : 0;
    default:
        return 0; /* a person, or nothing */
    }
}

/* Further calls an accept condition may make for a tier whose own answer costs tier_cost. */
static double accept_cost(struct reach *x, const struct belt__accept *a, double tier_cost)
{
    if (!a)
        return 0;
    switch (a->kind) {
    case BELT__ACCEPT_SAMPLES:
        return (a->n_samples > 1 ? a->n_samples - 1 : 0) * tier_cost;
    case BELT__ACCEPT_PEER:
        return model_cost(x, a->model, x->in, x->out);
    case BELT__ACCEPT_VERIFIER: /* the task and the answer go in */
        return model_cost(x, a->model, x->in + x->out + 64, x->out);
    case BELT__ACCEPT_ALL:
    case BELT__ACCEPT_ANY: {
        double sum = 0;
        for (size_t i = 0; i < a->n_kids; i++)
            sum += accept_cost(x, &a->kids[i], tier_cost);
        return sum;
    }
    default:
        return 0;
    }
}

static double route_cost(struct reach *x, const struct belt_cfg_route *r, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    double sum = 0, worst = 0;
    for (size_t i = 0; i < r->n_targets; i++) {
        double c = target_cost(x, &r->targets[i], depth);
        sum += c;
        worst = BELT_MAX(worst, c);
    }
    for (size_t i = 0; i < r->n_tiers; i++) {
        double c = target_cost(x, &r->tiers[i].target, depth);
        sum += c + accept_cost(x, r->tiers[i].accept, c);
    }
    for (size_t i = 0; i < r->n_rules; i++)
        worst = BELT_MAX(worst, target_cost(x, &r->rules[i].target, depth));
    if (r->kind == BELT_ROUTE_RULES)
        worst = BELT_MAX(worst, target_cost(x, &r->dflt, depth));
    switch (r->kind) {
    case BELT_ROUTE_BALANCE:
    case BELT_ROUTE_RULES:
        return worst;
    default:
        return sum; /* fixed (one target), fallback, cascade, learned */
    }
}

int64_t belt__srv_input_bound(const json_t *body, int kind)
{
    int64_t est = 0;
    if (kind == BELT_CALL_CHAT) {
        est = belt__estimate_request_tokens(body);
    } else {
        const json_t *in = json_object_get(body, "input");
        size_t i;
        const json_t *v;
        if (json_is_string(in))
            est = belt__estimate_tokens(json_string_value(in), json_string_length(in));
        json_array_foreach(in, i, v)
        {
            if (json_is_string(v))
                est += belt__estimate_tokens(json_string_value(v), json_string_length(v));
            else
                est += (int64_t)json_array_size(v); /* token ids */
        }
    }
    return est + est / 2 + 16;
}

double belt__srv_cost_bound(const struct belt_server *s, const struct belt_cfg_route *rc,
                            size_t model_index, int64_t in, int64_t out, int *trusted)
{
    struct reach x = {belt_engine_config(s->e), &s->e->models, in, out, 1};
    double cost = rc ? route_cost(&x, rc, 0) : model_cost(&x, model_index, in, out);
    if (trusted)
        *trusted = x.trusted;
    return cost;
}
