/*
 * exec_state.c — engine-wide state of the route executor (exec.h): the learned routers loaded
 * once per engine, per-model moving averages of latency and output tokens (lock-free), and the
 * per-request cost / latency estimates that budgets and least-latency balance use.
 */
#include "belt_config.h"

#include <math.h>
#include <string.h>

#include "model/model.h"
#include "model/replay.h"
#include "model/usage.h"
#include "route/exec.h"
#include "route/replay.h"
#include "util/error.h"
#include "util/json.h"

belt_status belt__route_engine_new(const struct belt_config *cfg, const struct belt__models *ms,
                                   struct belt__route_engine **out, struct belt_error *err)
{
    *out = NULL;
    struct belt__route_engine *re = belt_calloc(1, sizeof(*re));
    if (!re)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    re->cfg = cfg;
    re->ms = ms;
    re->n_models = cfg->models.n;
    re->stats = belt_calloc(re->n_models ? re->n_models : 1, sizeof(*re->stats));
    belt_status st = re->stats ? belt__route_routers_load(cfg, NULL, &re->routers, err)
                               : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (st != BELT_OK) {
        belt__route_engine_free(re);
        return st;
    }
    for (size_t i = 0; i < re->n_models; i++) {
        atomic_init(&re->stats[i].latency_us, 0);
        atomic_init(&re->stats[i].out_tokens16, 0);
        atomic_init(&re->stats[i].n_ok, 0);
        atomic_init(&re->stats[i].n, 0);
    }
    *out = re;
    return BELT_OK;
}

void belt__route_engine_free(struct belt__route_engine *re)
{
    if (!re)
        return;
    belt__route_routers_free(re->routers, re->cfg->routes.n);
    belt_free(re->stats);
    belt_free(re);
}

/* avg += (x - avg) / 8, starting at the first value. */
static void ewma_add(_Atomic int64_t *avg, int64_t x, int first)
{
    int64_t old = atomic_load_explicit(avg, memory_order_relaxed);
    for (;;) {
        int64_t nv = first || old == 0 ? x : old + ((x - old) >> BELT__ROUTE_EWMA_SHIFT);
        if (nv == 0 && x > 0)
            nv = 1; /* 0 means "none yet" */
        if (atomic_compare_exchange_weak_explicit(avg, &old, nv, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

void belt__route_observe(struct belt__route_engine *re, size_t m, int64_t latency_us,
                         int64_t out_tokens, int ok)
{
    if (!re || m >= re->n_models)
        return;
    struct belt__model_stat *s = &re->stats[m];
    uint64_t n = atomic_fetch_add_explicit(&s->n, 1, memory_order_relaxed);
    ewma_add(&s->latency_us, latency_us > 0 ? latency_us : 1, n == 0);
    if (ok) {
        uint64_t k = atomic_fetch_add_explicit(&s->n_ok, 1, memory_order_relaxed);
        ewma_add(&s->out_tokens16, (out_tokens > 0 ? out_tokens : 0) * 16 + 1, k == 0);
    }
}

/* Output tokens a request allows at most, or -1. */
static int64_t max_out_tokens(const json_t *request)
{
    int64_t v = belt_json_int(request, "max_completion_tokens", -1);
    return v > 0 ? v : belt_json_int(request, "max_tokens", -1);
}

/* The estimate of one replay model: this task's recorded cost and latency, else the means. */
static void replay_estimate(const struct belt__model *m, const char *text, size_t len,
                            struct belt__model_estimate *e)
{
    size_t mi = 0;
    const struct belt__replay_task *t = belt__replay_model_task(m->replay, text, len, &mi);
    if (t && mi != BELT__REPLAY_NONE && t->out[mi].present) {
        e->cost_usd = t->out[mi].ans.cost_usd;
        e->latency_us = t->out[mi].ans.latency_us;
    }
}

void belt__route_estimates(const struct belt__route_engine *re, const json_t *request,
                           const char *text, size_t len, struct belt__model_estimate *est)
{
    int64_t in = belt__estimate_request_tokens(request);
    int64_t cap = max_out_tokens(request);
    for (size_t i = 0; i < re->n_models; i++) {
        const struct belt_cfg_model *cm = &re->cfg->models.v[i];
        struct belt__model_stat *s = &re->stats[i];
        struct belt__model_estimate *e = &est[i];
        int64_t o16 = atomic_load_explicit(&s->out_tokens16, memory_order_relaxed);
        int64_t out = o16 > 0 ? o16 / 16 : (cap > 0 ? cap : BELT__ROUTE_PRIOR_OUT_TOKENS);
        if (cap > 0 && out > cap)
            out = cap;
        e->cost_usd = belt__cost_usd(cm->price.input_per_m, cm->price.output_per_m, in, out);
        e->latency_us = atomic_load_explicit(&s->latency_us, memory_order_relaxed);
        if (cm->provider == BELT_PROVIDER_HUMAN) {
            e->cost_usd = 0;
            e->latency_us = 0;
        } else if (cm->provider == BELT_PROVIDER_REPLAY && i < re->ms->n) {
            e->cost_usd = NAN; /* unknown unless recorded */
            replay_estimate(&re->ms->v[i], text, len, e);
            if (isnan(e->cost_usd) && cm->price.input_per_m + cm->price.output_per_m > 0)
                e->cost_usd =
                    belt__cost_usd(cm->price.input_per_m, cm->price.output_per_m, in, out);
        }
    }
}
