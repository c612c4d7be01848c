/*
 * offline.c — `belt eval --route NAME --replay FILE`: runs a route of the configuration over
 * every task of an outcomes file through the decision core (policy.h), answering each model call
 * from the recorded outcomes, once at the configured thresholds and once per sweep point, and
 * builds the report (offline.h; rendered by offline_render.c).
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/router.h"
#include "model/usage.h"
#include "route/offline.h"
#include "route/policy.h"
#include "route/replay.h"
#include "route/sink.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/hash.h"

/* Everything one evaluation needs. */
struct eval {
    const struct belt_config *cfg;         /* borrowed */
    size_t route;                          /* entry route index */
    struct belt__replay *rp;               /* the outcomes (owned) */
    size_t *map;                           /* config model → replay model (owned) */
    struct belt__model_estimate *est;      /* per config model: means over the file (owned) */
    double *out_tokens;                    /* per config model: mean output tokens, NAN (owned) */
    int64_t *in_tokens;                    /* per task: estimated prompt tokens (owned) */
    struct belt__model_estimate *task_est; /* per config model, for one task (owned) */
    struct belt_router **routers;          /* per route (owned) */
    unsigned char *uses;                   /* per config model: the route can call it (owned) */
    unsigned char *seen;                   /* per route: visited while collecting (owned) */
    double *router_p;                      /* entry learned route: predictions per task (owned) */
    size_t n_router_p;                     /* tiers per task in router_p */
    size_t strong;                         /* strongest tier's model (two-tier routes), or NONE */
    struct belt_error *err;                /* errors */
};

/* What one task's run produced. */
struct task_result {
    int correct; /* final answer correct */
    enum belt__route_outcome outcome;
    double cost;         /* USD */
    int64_t latency_us;  /* sequential calls added */
    size_t final_tier;   /* tier of the entry route, or NONE */
    size_t answer_model; /* config model, or NONE */
    int strong_called;   /* the strongest tier's model was called */
    size_t n_calls;      /* model calls */
};

/* ---- answering calls from the replay -------------------------------------------------------- */

static belt_status missing(struct eval *ev, const struct belt__replay_task *t, const char *what,
                           size_t m)
{
    return belt__error_set(ev->err, BELT_ERR_FORMAT, 0, "%s:%lld: %s for model '%s'", ev->rp->path,
                           (long long)t->line, what, ev->cfg->models.v[m].name);
}

/* The recorded answers for one CALL action. */
static belt_status answers_for(struct eval *ev, const struct belt__replay_task *t,
                               const struct belt__route_action *act,
                               const struct belt__answer **ans, size_t *n)
{
    if (act->purpose == BELT__NEED_VERIFY) {
        for (size_t k = 0; k < ev->rp->n_models; k++) {
            if (act->subject == &t->out[k].ans) {
                *ans = belt__replay_verdict(&t->out[k], ev->cfg->models.v[act->model].name);
                *n = 1;
                return *ans ? BELT_OK : missing(ev, t, "no recorded verifier score", act->model);
            }
        }
        return missing(ev, t, "cannot find the judged answer", act->model);
    }
    size_t rm = ev->map[act->model];
    if (rm == BELT__REPLAY_NONE)
        return belt__error_set(ev->err, BELT_ERR_FORMAT, 0,
                               "%s: the route calls model '%s', which has no outcomes in the file",
                               ev->rp->path, ev->cfg->models.v[act->model].name);
    const struct belt__replay_outcome *o = &t->out[rm];
    if (!o->present)
        return missing(ev, t, "no outcome", act->model);
    if (act->purpose == BELT__NEED_SAMPLES) {
        if (o->n_samples < (size_t)act->n)
            return missing(ev, t, "too few recorded samples", act->model);
        *ans = o->samples;
        *n = (size_t)act->n;
        return BELT_OK;
    }
    *ans = &o->ans;
    *n = 1;
    return BELT_OK;
}

/* Is the final answer right? From `correct`, else by comparing with `expected`. */
static belt_status judge(struct eval *ev, const struct belt__replay_task *t, size_t model,
                         const struct belt__answer *a, int *correct)
{
    *correct = 0;
    if (!a || model == BELT__ROUTE_NONE)
        return BELT_OK;
    const struct belt__replay_outcome *o = &t->out[ev->map[model]];
    if (o->correct >= 0 && a == &o->ans) {
        *correct = o->correct;
        return BELT_OK;
    }
    if (!t->expected)
        return missing(ev, t, "no 'correct' and no 'expected' to judge the answer", model);
    *correct = belt__normalized_equal(a->text, a->len, t->expected, strlen(t->expected),
                                      BELT__NORM_DEFAULT);
    return BELT_OK;
}

/* What each model is expected to cost on task t before it is called, as `belt serve` estimates
 * it (exec_state.c): the model's prices times the task's estimated prompt tokens and the mean
 * output tokens of the file; the mean recorded cost when either is unknown. The recorded cost of
 * this very task is never used: it holds the answer's length. Latency: the file's mean. */
static const struct belt__model_estimate *task_estimates(struct eval *ev,
                                                         const struct belt__replay_task *t)
{
    int64_t in = ev->in_tokens[t - ev->rp->tasks];
    for (size_t m = 0; m < ev->cfg->models.n; m++) {
        const struct belt_cfg_model *cm = &ev->cfg->models.v[m];
        ev->task_est[m] = ev->est[m];
        if (cm->provider != BELT_PROVIDER_HUMAN && !isnan(ev->out_tokens[m]) &&
            cm->price.input_per_m + cm->price.output_per_m > 0)
            ev->task_est[m].cost_usd = belt__cost_usd(cm->price.input_per_m, cm->price.output_per_m,
                                                      in, (int64_t)llround(ev->out_tokens[m]));
    }
    return ev->task_est;
}

/* Run one task through the route with sweep value `sweep` (NAN: configured thresholds). */
static belt_status run_task(struct eval *ev, size_t ti, double sweep, struct belt__route_run *run,
                            struct task_result *res, int trace)
{
    const struct belt__replay_task *t = &ev->rp->tasks[ti];
    struct belt__route_env env = {ev->cfg, task_estimates(ev, t),
                                  (const struct belt_router *const *)ev->routers, sweep, !trace};
    struct belt__route_request req = {0};
    req.text = t->query;
    req.len = t->query_len;
    req.stakes = t->stakes;
    req.tags = (const char *const *)t->tags;
    req.n_tags = t->n_tags;
    req.key_name = t->key;
    req.seed = belt_fnv1a(BELT_FNV_OFFSET, t->id, strlen(t->id));
    if (ev->router_p) {
        req.router_p = &ev->router_p[ti * ev->n_router_p];
        req.router_p_route = ev->route;
    }
    belt__route_run_init(run, &env, ev->route, &req);
    for (;;) {
        struct belt__route_action act;
        belt__route_next(run, &act);
        if (act.kind == BELT__ACT_DONE)
            break;
        const struct belt__answer *ans = NULL;
        size_t n = 0;
        belt_status st = answers_for(ev, t, &act, &ans, &n);
        if (st != BELT_OK)
            return st;
        belt__route_feed(run, ans, n);
    }
    if (run->error[0])
        return belt__error_set(ev->err, BELT_ERR_INTERNAL, 0, "%s:%lld: %s", ev->rp->path,
                               (long long)t->line, run->error);
    res->outcome = run->outcome;
    res->cost = run->cost_usd;
    res->latency_us = run->latency_us;
    res->final_tier = run->final_tier;
    res->answer_model = run->answer_model;
    res->n_calls = run->n_calls;
    res->strong_called = ev->strong < 64 && (run->models_called >> ev->strong) & 1;
    return judge(ev, t, run->answer_model, run->answer, &res->correct);
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* Mark every model route ri can call (tiers, targets, rules, peers, verifiers). */
static void mark_uses(struct eval *ev, size_t ri);

static void mark_target(struct eval *ev, const struct belt_cfg_target *t)
{
    if (t->kind == BELT_TARGET_MODEL)
        ev->uses[t->index] = 1;
    else if (t->kind == BELT_TARGET_ROUTE)
        mark_uses(ev, t->index);
}

static void mark_accept(void *ud, const struct belt__accept *a)
{
    struct eval *ev = ud;
    if (a->kind == BELT__ACCEPT_PEER) /* verifiers are replayed from the judged answers */
        ev->uses[a->model] = 1;
}

static void mark_uses(struct eval *ev, size_t ri)
{
    if (ev->seen[ri])
        return;
    ev->seen[ri] = 1;
    const struct belt_cfg_route *r = &ev->cfg->routes.v[ri];
    for (size_t i = 0; i < r->n_targets; i++)
        mark_target(ev, &r->targets[i]);
    for (size_t i = 0; i < r->n_tiers; i++) {
        mark_target(ev, &r->tiers[i].target);
        belt__accept_visit(r->tiers[i].accept, mark_accept, ev);
    }
    for (size_t i = 0; i < r->n_rules; i++)
        mark_target(ev, &r->rules[i].target);
    if (r->kind == BELT_ROUTE_RULES)
        mark_target(ev, &r->dflt);
}

/* Mean recorded output tokens of replay model rm, NAN if none are recorded. */
static double mean_output_tokens(const struct belt__replay *rp, size_t rm)
{
    double sum = 0;
    size_t n = 0;
    for (size_t t = 0; rm != BELT__REPLAY_NONE && t < rp->n_tasks; t++) {
        const struct belt__replay_outcome *o = &rp->tasks[t].out[rm];
        if (o->present && o->output_tokens >= 0) {
            sum += (double)o->output_tokens;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

static belt_status setup(struct eval *ev, const char *replay_path)
{
    const struct belt_config *cfg = ev->cfg;
    size_t nm = cfg->models.n ? cfg->models.n : 1;
    belt_status st = belt__replay_load(replay_path, &ev->rp, ev->err);
    if (st != BELT_OK)
        return st;
    ev->map = belt_calloc(nm, sizeof(*ev->map));
    ev->est = belt_calloc(nm, sizeof(*ev->est));
    ev->task_est = belt_calloc(nm, sizeof(*ev->task_est));
    ev->out_tokens = belt_calloc(nm, sizeof(*ev->out_tokens));
    ev->in_tokens = belt_calloc(ev->rp->n_tasks, sizeof(*ev->in_tokens));
    ev->uses = belt_calloc(nm, 1);
    ev->seen = belt_calloc(cfg->routes.n, 1);
    if (!ev->map || !ev->est || !ev->task_est || !ev->out_tokens || !ev->in_tokens || !ev->uses ||
        !ev->seen)
        return belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t t = 0; t < ev->rp->n_tasks; t++)
        ev->in_tokens[t] =
            belt__estimate_prompt_tokens(ev->rp->tasks[t].query, ev->rp->tasks[t].query_len);
    for (size_t m = 0; m < cfg->models.n; m++) {
        ev->map[m] = belt__replay_model(ev->rp, cfg->models.v[m].name);
        ev->out_tokens[m] = mean_output_tokens(ev->rp, ev->map[m]);
        ev->est[m].cost_usd =
            ev->map[m] == BELT__REPLAY_NONE ? NAN : belt__replay_mean_cost(ev->rp, ev->map[m]);
        ev->est[m].latency_us =
            ev->map[m] == BELT__REPLAY_NONE ? -1 : belt__replay_mean_latency_us(ev->rp, ev->map[m]);
    }
    mark_uses(ev, ev->route);
    for (size_t m = 0; m < cfg->models.n; m++)
        if (ev->uses[m] && ev->map[m] == BELT__REPLAY_NONE)
            return belt__error_set(ev->err, BELT_ERR_FORMAT, 0,
                                   "%s: the route can call model '%s', which has no outcomes in "
                                   "the file (models there: %s%s)",
                                   replay_path, cfg->models.v[m].name, ev->rp->models[0],
                                   ev->rp->n_models > 1 ? ", ..." : "");
    return belt__route_routers_load(cfg, ev->seen, &ev->routers, ev->err);
}

/* Predict every task once for an entry learned route (the sweep reuses the predictions). */
static belt_status predict_all(struct eval *ev)
{
    const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
    if (r->kind != BELT_ROUTE_LEARNED)
        return BELT_OK;
    ev->n_router_p = r->n_tiers;
    ev->router_p = belt_malloc(ev->rp->n_tasks * r->n_tiers * sizeof(double));
    if (!ev->router_p)
        return belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t t = 0; t < ev->rp->n_tasks; t++) {
        const struct belt__replay_task *task = &ev->rp->tasks[t];
        belt_status st = belt_router_predict_tagged(
            ev->routers[ev->route], task->query, task->query_len, (const char *const *)task->tags,
            task->n_tags, &ev->router_p[t * r->n_tiers], r->n_tiers, ev->err);
        if (st != BELT_OK)
            return belt__error_prefix(ev->err, "%s:%lld: ", ev->rp->path, (long long)task->line);
    }
    return BELT_OK;
}

static void teardown(struct eval *ev)
{
    if (ev->rp)
        belt__route_routers_free(ev->routers, ev->cfg->routes.n);
    belt__replay_free(ev->rp);
    belt_free(ev->map);
    belt_free(ev->est);
    belt_free(ev->task_est);
    belt_free(ev->out_tokens);
    belt_free(ev->in_tokens);
    belt_free(ev->uses);
    belt_free(ev->seen);
    belt_free(ev->router_p);
}

/* ---- passes --------------------------------------------------------------------------------- */

/* Evaluate every task at one sweep value into stats (and per-task results when res != NULL). */
static belt_status pass(struct eval *ev, double sweep, struct belt__eval_stats *stats,
                        struct task_result *res, struct belt__route_run *run)
{
    memset(stats, 0, sizeof(*stats));
    for (size_t t = 0; t < ev->rp->n_tasks; t++) {
        struct task_result r;
        belt_status st = run_task(ev, t, sweep, run, &r, 0);
        if (st != BELT_OK)
            return st;
        stats->n_correct += (size_t)r.correct;
        stats->outcomes[r.outcome]++;
        stats->n_strong += (size_t)r.strong_called;
        stats->cost_total += r.cost;
        stats->n_calls += r.n_calls;
        if (res)
            res[t] = r;
    }
    return BELT_OK;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct collect {
    struct eval *ev;                      /* evaluation */
    double *v;                            /* values (owned by the caller) */
    size_t n, cap;                        /* used / allocated */
    int any;                              /* a swept node was found */
    const struct belt__replay_task *task; /* being scanned */
};

static void add_value(struct collect *c, double x)
{
    if (isnan(x) || c->n == c->cap)
        return;
    c->v[c->n++] = x;
}

/* For one swept node: the value it would compare for each recorded answer of the task. */
static void collect_node(void *ud, const struct belt__accept *a)
{
    struct collect *c = ud;
    if (!a->swept)
        return;
    c->any = 1;
    if (!c->task)
        return;
    for (size_t m = 0; m < c->ev->rp->n_models; m++) {
        const struct belt__replay_outcome *o = &c->task->out[m];
        if (!o->present)
            continue;
        if (a->kind == BELT__ACCEPT_VERIFIER) {
            const struct belt__answer *v =
                belt__replay_verdict(o, c->ev->cfg->models.v[a->model].name);
            add_value(c, v ? v->score : NAN);
        } else {
            add_value(c, belt__accept_swept_value(a, &o->ans, NULL, 0));
        }
    }
}

/* The sweep values: the distinct values the route's swept signals take in the data (or the
 * router's predictions), thinned to max_points quantiles, plus both ends. */
static belt_status sweep_values(struct eval *ev, size_t max_points, double **out, size_t *n_out)
{
    size_t cap = ev->rp->n_tasks * (ev->rp->n_models * 4 + ev->n_router_p) + 2;
    struct collect c = {ev, belt_malloc(cap * sizeof(double)), 0, cap, 0, NULL};
    *out = NULL;
    *n_out = 0;
    if (!c.v)
        return belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t t = 0; t <= ev->rp->n_tasks; t++) {
        c.task = t < ev->rp->n_tasks ? &ev->rp->tasks[t] : NULL;
        for (size_t ri = 0; ri < ev->cfg->routes.n; ri++) {
            const struct belt_cfg_route *r = &ev->cfg->routes.v[ri];
            for (size_t i = 0; ev->seen[ri] && i < r->n_tiers; i++)
                belt__accept_visit(r->tiers[i].accept, collect_node, &c);
        }
    }
    for (size_t t = 0; ev->router_p && t < ev->rp->n_tasks; t++) { /* the learned scores */
        const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
        struct belt__route_env env = {ev->cfg, task_estimates(ev, &ev->rp->tasks[t]),
                                      (const struct belt_router *const *)ev->routers, NAN, 1};
        double s[BELT__ROUTER_MAX_TIERS];
        belt__route_learned_scores(&env, r, ev->routers[ev->route],
                                   &ev->router_p[t * ev->n_router_p], s, ev->n_router_p);
        for (size_t i = 0; i < ev->n_router_p; i++)
            add_value(&c, s[i]);
    }
    if (!c.any && !ev->router_p) {
        belt_free(c.v);
        return BELT_OK; /* nothing to sweep */
    }
    qsort(c.v, c.n, sizeof(double), cmp_d);
    size_t u = 0;
    for (size_t i = 0; i < c.n; i++)
        if (u == 0 || c.v[i] != c.v[u - 1])
            c.v[u++] = c.v[i];
    double top = u ? c.v[u - 1] : 1;
    size_t keep = BELT_MAX((size_t)3, max_points) - 2;
    if (u > keep) { /* quantiles of the distinct values */
        for (size_t i = 0; i < keep; i++)
            c.v[i] = c.v[(size_t)((double)i * (double)(u - 1) / (double)(keep - 1))];
        u = keep;
    }
    c.v[u++] = 0;
    c.v[u++] = nextafter(BELT_MAX(top, 1.0), INFINITY); /* everything escalates */
    *out = c.v;
    *n_out = u;
    return BELT_OK;
}

/* ---- the report ----------------------------------------------------------------------------- */

static belt_status report_singles(struct eval *ev, struct belt_route_report *rep)
{
    const struct belt__replay *rp = ev->rp;
    rep->singles = belt_calloc(rp->n_models, sizeof(*rep->singles));
    if (!rep->singles)
        return belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    rep->best = (size_t)-1;
    for (size_t m = 0; m < rp->n_models; m++) {
        size_t ok = 0, n = 0;
        double cost = 0;
        for (size_t t = 0; t < rp->n_tasks; t++) {
            const struct belt__replay_outcome *o = &rp->tasks[t].out[m];
            if (!o->present || o->correct < 0)
                break;
            ok += (size_t)o->correct;
            cost += isnan(o->ans.cost_usd) ? 0 : o->ans.cost_usd;
            n++;
        }
        if (n != rp->n_tasks)
            continue; /* only models with a judged outcome for every task are baselines */
        struct belt__single *s = &rep->singles[rep->n_singles];
        s->name = belt_strdup(rp->models[m]);
        if (!s->name)
            return belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
        s->accuracy = (double)ok / (double)n;
        s->cost = cost / (double)n;
        for (size_t cm = 0; cm < ev->cfg->models.n; cm++)
            s->in_route |= ev->uses[cm] && ev->map[cm] == m;
        struct belt__single *b = rep->best == (size_t)-1 ? NULL : &rep->singles[rep->best];
        if (s->in_route &&
            (!b || s->accuracy > b->accuracy || (s->accuracy == b->accuracy && s->cost < b->cost)))
            rep->best = rep->n_singles;
        rep->n_singles++;
    }
    return BELT_OK;
}

/* Per task, the cheapest model of the route that was right (the oracle router). */
static void report_oracle(struct eval *ev, struct belt_route_report *rep)
{
    size_t ok = 0;
    double cost = 0;
    for (size_t t = 0; t < ev->rp->n_tasks; t++) {
        double best = INFINITY, cheapest = INFINITY;
        for (size_t cm = 0; cm < ev->cfg->models.n; cm++) {
            if (!ev->uses[cm] || ev->map[cm] == BELT__REPLAY_NONE)
                continue;
            const struct belt__replay_outcome *o = &ev->rp->tasks[t].out[ev->map[cm]];
            double c = o->present && !isnan(o->ans.cost_usd) ? o->ans.cost_usd : 0;
            if (o->present && o->correct == 1 && c < best)
                best = c;
            if (o->present && c < cheapest)
                cheapest = c;
        }
        ok += best < INFINITY;
        cost += best < INFINITY ? best : (cheapest < INFINITY ? cheapest : 0);
    }
    rep->oracle_accuracy = (double)ok / (double)ev->rp->n_tasks;
    rep->oracle_cost = cost / (double)ev->rp->n_tasks;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static belt_status add_share(struct belt_route_report *rep, const char *name, int ok,
                             struct belt_error *err)
{
    for (size_t i = 0; i < rep->n_shares; i++) {
        if (strcmp(rep->shares[i].name, name) == 0) {
            rep->shares[i].n++;
            rep->shares[i].n_ok += (size_t)ok;
            return BELT_OK;
        }
    }
    struct belt__share_row *v = belt_realloc(rep->shares, (rep->n_shares + 1) * sizeof(*v));
    if (!v)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    rep->shares = v;
    v[rep->n_shares].name = belt_strdup(name);
    if (!v[rep->n_shares].name)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    v[rep->n_shares].n = 1;
    v[rep->n_shares].n_ok = (size_t)ok;
    rep->n_shares++;
    return BELT_OK;
}

/* The label of tier i of route r ("1: small"). */
static void tier_label(const struct belt_config *cfg, const struct belt_cfg_route *r, size_t i,
                       char *buf, size_t cap)
{
    if (i == BELT__ROUTE_NONE || i >= r->n_tiers) {
        snprintf(buf, cap, "none");
        return;
    }
    const struct belt_cfg_target *t = &r->tiers[i].target;
    (void)cfg;
    snprintf(buf, cap, "%zu: %s", i + 1, t->kind == BELT_TARGET_HUMAN ? "human" : t->name);
}

/* Operating point: per-task figures, shares, latency percentiles. */
static belt_status report_op(struct eval *ev, struct belt_route_report *rep,
                             struct belt__route_run *run)
{
    size_t n = ev->rp->n_tasks;
    struct task_result *res = belt_calloc(n, sizeof(*res));
    int64_t *lat = belt_calloc(n, sizeof(*lat));
    belt_status st = res && lat ? pass(ev, NAN, &rep->op, res, run)
                                : belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
    rep->shares_by_tier = r->kind == BELT_ROUTE_CASCADE || r->kind == BELT_ROUTE_LEARNED;
    double lat_sum = 0;
    for (size_t t = 0; st == BELT_OK && t < n; t++) {
        char label[160];
        if (rep->shares_by_tier)
            tier_label(ev->cfg, r, res[t].final_tier, label, sizeof(label));
        else
            snprintf(label, sizeof(label), "%s",
                     res[t].answer_model == BELT__ROUTE_NONE
                         ? "none"
                         : ev->cfg->models.v[res[t].answer_model].name);
        st = add_share(rep, label, res[t].correct, ev->err);
        lat[t] = res[t].latency_us;
        lat_sum += (double)res[t].latency_us;
        rep->has_latency |= res[t].latency_us > 0;
    }
    if (st == BELT_OK) {
        rep->accuracy = (double)rep->op.n_correct / (double)n;
        rep->cost_per_task = rep->op.cost_total / (double)n;
        qsort(lat, n, sizeof(*lat), cmp_i64);
        rep->latency_mean_ms = lat_sum / (double)n / 1000.0;
        rep->latency_p50_ms = (double)lat[(n - 1) / 2] / 1000.0;
        rep->latency_p95_ms = (double)lat[(size_t)((double)(n - 1) * 0.95)] / 1000.0;
    }
    belt_free(res);
    belt_free(lat);
    return st;
}

/* Decision traces of the first few tasks, as a JSON array. */
static belt_status report_traces(struct eval *ev, struct belt_route_report *rep,
                                 struct belt__route_run *run)
{
    struct belt__sink b;
    belt__sink_init(&b, 1 << 20);
    out_putc(&b, '[');
    for (size_t t = 0; t < BELT_MIN(ev->rp->n_tasks, (size_t)5); t++) {
        struct task_result r;
        belt_status st = run_task(ev, t, NAN, run, &r, 1);
        if (st != BELT_OK) {
            belt_buf_deinit(&b.b);
            return st;
        }
        const char *id = ev->rp->tasks[t].id;
        out_printf(&b, "%s{\"id\":", t ? "," : "");
        out_json(&b, id, strlen(id));
        out_printf(&b, ",\"outcome\":\"%s\",\"correct\":%s,\"cost_usd\":%.9g,\"steps\":[",
                   belt__route_outcome_names[r.outcome], r.correct ? "true" : "false", r.cost);
        for (size_t i = 0; i < run->n_steps; i++) {
            const struct belt__route_step *s = &run->steps[i];
            out_printf(&b, "%s{\"event\":\"%s\",\"route\":", i ? "," : "",
                       belt__step_event_names[s->event]);
            const char *rn = ev->cfg->routes.v[s->route].name;
            out_json(&b, rn, strlen(rn));
            if (s->tier != BELT__ROUTE_NONE)
                out_printf(&b, ",\"tier\":%zu", s->tier + 1);
            if (s->model != BELT__ROUTE_NONE) {
                out_puts(&b, ",\"model\":");
                const char *mn = ev->cfg->models.v[s->model].name;
                out_json(&b, mn, strlen(mn));
            }
            out_puts(&b, ",\"reason\":");
            out_json(&b, s->reason, strlen(s->reason));
            out_putc(&b, '}');
        }
        out_puts(&b, "]}");
    }
    out_putc(&b, ']');
    belt_status st;
    rep->traces = belt__sink_finish(&b, &st);
    return st == BELT_OK
               ? BELT_OK
               : belt__error_set(ev->err, st, 0, "rendering the traces: %s", belt_strerror(st));
}

/* Two model tiers: weak = tier 1, strong = tier 2 (APGR and CPT are defined for them). */
static void find_two_tier(struct eval *ev)
{
    const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
    ev->strong = BELT__ROUTE_NONE;
    if ((r->kind == BELT_ROUTE_CASCADE || r->kind == BELT_ROUTE_LEARNED) && r->n_tiers == 2 &&
        r->tiers[0].target.kind == BELT_TARGET_MODEL &&
        r->tiers[1].target.kind == BELT_TARGET_MODEL &&
        r->tiers[0].target.index != r->tiers[1].target.index)
        ev->strong = r->tiers[1].target.index;
}

static const struct belt__single *single_named(const struct belt_route_report *rep,
                                               const char *name)
{
    for (size_t i = 0; i < rep->n_singles; i++)
        if (strcmp(rep->singles[i].name, name) == 0)
            return &rep->singles[i];
    return NULL;
}

/* The sweep: one pass per value; the curve, its hull and the metrics. */
static belt_status report_sweep(struct eval *ev, struct belt_route_report *rep, size_t max_points,
                                struct belt__route_run *run)
{
    double *vals = NULL;
    size_t n_vals = 0;
    belt_status st = sweep_values(ev, max_points, &vals, &n_vals);
    if (st != BELT_OK || !vals)
        return st;
    rep->swept = 1;
    const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
    size_t n_tiers =
        r->kind == BELT_ROUTE_CASCADE || r->kind == BELT_ROUTE_LEARNED ? r->n_tiers : 0;
    rep->pts = belt_calloc(n_vals + n_tiers + 1, sizeof(*rep->pts));
    rep->hull = belt_calloc(n_vals + n_tiers + 1, sizeof(*rep->hull));
    if (!rep->pts || !rep->hull)
        st = belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    double n = (double)ev->rp->n_tasks;
    for (size_t i = 0; st == BELT_OK && i < n_vals; i++) {
        struct belt__eval_stats s;
        st = pass(ev, vals[i], &s, NULL, run);
        struct belt__curve_point *p = &rep->pts[rep->n_pts++];
        p->threshold = vals[i];
        p->cost = s.cost_total / n;
        p->accuracy = (double)s.n_correct / n;
        p->strong_share = (double)s.n_strong / n;
    }
    belt_free(vals);
    if (st != BELT_OK)
        return st;
    /* The hull also holds each model tier alone: mixing the route at random with a fixed model
     * reaches every point between them, as mixing two thresholds does. It matters for routes
     * whose curve stops short of the cheap end (an accept condition that always escalates some
     * tasks); the extra points sit after the sweep's in pts, which n_pts does not count. */
    size_t n_all = rep->n_pts;
    for (size_t i = 0; i < n_tiers; i++) {
        const struct belt__single *m = r->tiers[i].target.kind == BELT_TARGET_MODEL
                                           ? single_named(rep, r->tiers[i].target.name)
                                           : NULL;
        if (m)
            rep->pts[n_all++] = (struct belt__curve_point){NAN, m->cost, m->accuracy, NAN};
    }
    rep->n_hull = belt__curve_hull(rep->pts, n_all, rep->hull);
    return st;
}

static void report_metrics(struct eval *ev, struct belt_route_report *rep, double quality)
{
    rep->quality = quality;
    rep->apgr = rep->cpt50 = rep->cpt80 = rep->aiq = NAN;
    rep->cost_best = rep->cost_best_hull = rep->cost_q = rep->cost_q_hull = NAN;
    rep->aiq_cmin = rep->aiq_cmax = NAN;
    /* the curve: sweep points, or the operating point alone */
    struct belt__curve_point op = {NAN, rep->cost_per_task, rep->accuracy,
                                   (double)rep->op.n_strong / (double)ev->rp->n_tasks};
    const struct belt__curve_point *pts = rep->n_pts ? rep->pts : &op;
    size_t n_pts = rep->n_pts ? rep->n_pts : 1;
    if (rep->best != (size_t)-1) {
        double acc = rep->singles[rep->best].accuracy;
        rep->cost_best = belt__curve_cost_at(pts, n_pts, acc);
        rep->cost_q = belt__curve_cost_at(pts, n_pts, quality * acc);
        if (rep->n_hull) {
            rep->cost_best_hull = belt__hull_cost_at(rep->hull, rep->n_hull, acc);
            rep->cost_q_hull = belt__hull_cost_at(rep->hull, rep->n_hull, quality * acc);
        }
    }
    if (rep->n_hull) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < rep->n_pts; i++) {
            lo = BELT_MIN(lo, rep->pts[i].cost);
            hi = BELT_MAX(hi, rep->pts[i].cost);
        }
        for (size_t i = 0; i < rep->n_singles; i++) {
            if (!rep->singles[i].in_route)
                continue;
            lo = BELT_MIN(lo, rep->singles[i].cost);
            hi = BELT_MAX(hi, rep->singles[i].cost);
        }
        rep->aiq_cmin = lo;
        rep->aiq_cmax = hi;
        rep->aiq = belt__curve_aiq(rep->hull, rep->n_hull, lo, hi);
    }
    if (ev->strong != BELT__ROUTE_NONE) {
        const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
        const struct belt__single *w = single_named(rep, r->tiers[0].target.name);
        const struct belt__single *s = single_named(rep, r->tiers[1].target.name);
        rep->two_tier = w && s;
        if (rep->two_tier) {
            rep->weak = belt_strdup(w->name);
            rep->strong = belt_strdup(s->name);
            rep->weak_acc = w->accuracy;
            rep->strong_acc = s->accuracy;
            rep->apgr = belt__curve_apgr(pts, n_pts, w->accuracy, s->accuracy);
            rep->cpt50 = belt__curve_cpt(pts, n_pts, w->accuracy, s->accuracy, 0.5);
            rep->cpt80 = belt__curve_cpt(pts, n_pts, w->accuracy, s->accuracy, 0.8);
        }
    }
}

static belt_status report_names(struct eval *ev, struct belt_route_report *rep,
                                const char *replay_path, const char *title)
{
    const struct belt_cfg_route *r = &ev->cfg->routes.v[ev->route];
    rep->route = belt_strdup(r->name);
    rep->kind = belt_strdup(belt__route_kind_names[r->kind]);
    rep->replay = belt_strdup(replay_path);
    rep->title = belt_strdup(title ? title : r->name);
    char what[200];
    if (r->kind == BELT_ROUTE_LEARNED)
        snprintf(what, sizeof(what), "the router's target p(correct)");
    else
        snprintf(what, sizeof(what),
                 "every swept accept threshold (confidence, calibrated "
                 "logprobs, verifier score)");
    rep->sweep_what = belt_strdup(what);
    rep->n_tasks = ev->rp->n_tasks;
    if (!rep->route || !rep->kind || !rep->replay || !rep->title || !rep->sweep_what)
        return belt__error_set(ev->err, BELT_ERR_NOMEM, 0, "out of memory");
    return BELT_OK;
}

struct belt_route_eval_params belt_route_eval_default_params(void)
{
    struct belt_route_eval_params p;
    memset(&p, 0, sizeof(p));
    p.sweep = 1;
    p.max_points = 101;
    p.quality = 0.95;
    return p;
}

belt_status belt_route_eval(const struct belt_config *cfg, const char *route,
                            const char *replay_path, const struct belt_route_eval_params *p,
                            struct belt_route_report **out, struct belt_error *err)
{
    struct belt_route_eval_params dp = belt_route_eval_default_params();
    if (!p)
        p = &dp;
    *out = NULL;
    struct eval ev;
    memset(&ev, 0, sizeof(ev));
    ev.cfg = cfg;
    ev.err = err;
    if (!belt__cfg_routes_find(&cfg->routes, route, &ev.route))
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "%s: no route '%s'", cfg->file, route);
    if (!(p->quality > 0 && p->quality <= 1))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "quality must be in (0, 1]");
    struct belt_route_report *rep = belt_calloc(1, sizeof(*rep));
    struct belt__route_run *run = belt_malloc(sizeof(*run));
    belt_status st = rep && run ? setup(&ev, replay_path)
                                : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (st == BELT_OK)
        st = predict_all(&ev);
    find_two_tier(&ev);
    if (st == BELT_OK)
        st = report_names(&ev, rep, replay_path, p->title);
    if (st == BELT_OK)
        st = report_op(&ev, rep, run);
    if (st == BELT_OK)
        st = report_singles(&ev, rep);
    if (st == BELT_OK)
        report_oracle(&ev, rep);
    if (st == BELT_OK && p->sweep)
        st = report_sweep(&ev, rep, p->max_points, run);
    if (st == BELT_OK)
        report_metrics(&ev, rep, p->quality);
    if (st == BELT_OK)
        st = report_traces(&ev, rep, run);
    belt_free(run);
    teardown(&ev);
    if (st != BELT_OK) {
        belt_route_report_free(rep);
        return st;
    }
    *out = rep;
    return BELT_OK;
}

void belt_route_report_free(struct belt_route_report *r)
{
    if (!r)
        return;
    belt_free(r->route);
    belt_free(r->kind);
    belt_free(r->replay);
    belt_free(r->title);
    belt_free(r->sweep_what);
    for (size_t i = 0; i < r->n_shares; i++)
        belt_free(r->shares[i].name);
    belt_free(r->shares);
    for (size_t i = 0; i < r->n_singles; i++)
        belt_free(r->singles[i].name);
    belt_free(r->singles);
    belt_free(r->pts);
    belt_free(r->hull);
    belt_free(r->weak);
    belt_free(r->strong);
    belt_free(r->traces);
    belt_free(r);
}

double belt_route_report_accuracy(const struct belt_route_report *r)
{
    return r->accuracy;
}

double belt_route_report_cost_per_task(const struct belt_route_report *r)
{
    return r->cost_per_task;
}

double belt_route_report_apgr(const struct belt_route_report *r)
{
    return r->apgr;
}

double belt_route_report_aiq(const struct belt_route_report *r)
{
    return r->aiq;
}

double belt_route_report_saving(const struct belt_route_report *r)
{
    if (r->best == (size_t)-1 || isnan(r->cost_q) || !(r->singles[r->best].cost > 0))
        return NAN;
    return 1.0 - r->cost_q / r->singles[r->best].cost;
}
