/*
 * cfg_routes_check.c — the `routes:` cross-checks, run once every section is read: names are
 * resolved to model / route indexes, tiers and rules are checked against what they name, and
 * the route graph is searched for cycles (a route that reaches itself would never finish).
 * Errors carry the file:line:col of the offending name.
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "config/cfg_models.h"
#include "config/cfg_routes.h"
#include "util/error.h"

struct ctx {
    struct belt_cfg_reader *rd;           /* for errors */
    struct belt_cfg_routes *routes;       /* being checked */
    const struct belt_cfg_models *models; /* the models: section */
};

/* Resolve t (model, route or, for NONE, whichever exists). */
static belt_status resolve(struct ctx *c, struct belt_cfg_target *t, const char *where,
                           int allow_human)
{
    if (t->kind == BELT_TARGET_HUMAN)
        return allow_human ? BELT_OK
                           : belt__cfg_error(c->rd, t->mark, where, "a person cannot go here");
    const struct belt_cfg_model *m = belt__cfg_models_find(c->models, t->name);
    size_t ri = 0;
    const struct belt_cfg_route *r = belt__cfg_routes_find(c->routes, t->name, &ri);
    if (t->kind != BELT_TARGET_ROUTE && m) {
        t->kind = BELT_TARGET_MODEL;
        t->index = (size_t)(m - c->models->v);
        return BELT_OK;
    }
    if (t->kind != BELT_TARGET_MODEL && r) {
        t->kind = BELT_TARGET_ROUTE;
        t->index = ri;
        return BELT_OK;
    }
    if (t->kind == BELT_TARGET_MODEL)
        return belt__cfg_error(c->rd, t->mark, where, "unknown model '%s'%s", t->name,
                               r ? " (it is a route: write 'route:')" : "");
    if (t->kind == BELT_TARGET_ROUTE)
        return belt__cfg_error(c->rd, t->mark, where, "unknown route '%s'%s", t->name,
                               m ? " (it is a model: write 'model:')" : "");
    return belt__cfg_error(c->rd, t->mark, where, "unknown model or route '%s'", t->name);
}

static belt_status model_index(struct ctx *c, const char *name, struct belt_cfg_mark mark,
                               const char *where, size_t *out)
{
    const struct belt_cfg_model *m = belt__cfg_models_find(c->models, name);
    if (!m)
        return belt__cfg_error(c->rd, mark, where, "unknown model '%s'", name);
    *out = (size_t)(m - c->models->v);
    return BELT_OK;
}

/* Resolve the models an accept condition names and check it suits its tier. */
static belt_status check_accept(struct ctx *c, struct belt__accept *a,
                                const struct belt_cfg_tier *tier, const char *where)
{
    struct belt_cfg_mark mark = tier->target.mark;
    belt_status st = BELT_OK;
    switch (a->kind) {
    case BELT__ACCEPT_PEER:
    case BELT__ACCEPT_VERIFIER:
        st = model_index(c, a->model_name, mark, where, &a->model);
        break;
    case BELT__ACCEPT_SAMPLES:
        if (tier->target.kind != BELT_TARGET_MODEL)
            st = belt__cfg_error(c->rd, mark, where,
                                 "agree.samples needs a model tier (samples of one model)");
        break;
    case BELT__ACCEPT_LABELS:
        if (a->from_model && (tier->target.kind != BELT_TARGET_MODEL ||
                              c->models->v[tier->target.index].provider != BELT_PROVIDER_LOCAL))
            st = belt__cfg_error(c->rd, mark, where,
                                 "labels: from_model needs a local (classifier) model tier");
        break;
    default:
        break;
    }
    for (size_t i = 0; st == BELT_OK && i < a->n_kids; i++)
        st = check_accept(c, &a->kids[i], tier, where);
    return st;
}

static belt_status check_tiers(struct ctx *c, struct belt_cfg_route *r, const char *where)
{
    for (size_t i = 0; i < r->n_tiers; i++) {
        struct belt_cfg_tier *t = &r->tiers[i];
        char sub[300];
        snprintf(sub, sizeof(sub), "%s.%s[%zu]", where,
                 r->kind == BELT_ROUTE_LEARNED ? "learned.tiers" : "cascade", i);
        belt_status st = resolve(c, &t->target, sub, 1);
        if (st == BELT_OK && t->target.kind == BELT_TARGET_HUMAN && i + 1 != r->n_tiers)
            st = belt__cfg_error(c->rd, t->target.mark, sub, "a human tier must be the last");
        if (st == BELT_OK && t->accept)
            st = check_accept(c, t->accept, t, sub);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static belt_status check_balance(struct ctx *c, struct belt_cfg_route *r, const char *where)
{
    if (r->n_targets > 16)
        return belt__cfg_error(c->rd, r->mark, where, "balance takes at most 16 models");
    if (r->n_weights && r->n_weights != r->n_targets)
        return belt__cfg_error(c->rd, r->mark, where, "balance has %zu models but %zu weights",
                               r->n_targets, r->n_weights);
    if (!r->n_weights) {
        r->weights = belt_calloc(r->n_targets, sizeof(double));
        if (!r->weights)
            return belt__error_set(c->rd->err, BELT_ERR_NOMEM, 0, "out of memory");
        for (size_t i = 0; i < r->n_targets; i++)
            r->weights[i] = 1;
        r->n_weights = r->n_targets;
    }
    return BELT_OK;
}

/* The first tier a rule starts at, from min_tier as a number or a tier name. */
static belt_status check_rule_tier(struct ctx *c, struct belt_cfg_rule *rule,
                                   const struct belt_cfg_target *dest, const char *where)
{
    if (!rule->min_tier && !rule->min_tier_name)
        return BELT_OK;
    const struct belt_cfg_route *d =
        dest->kind == BELT_TARGET_ROUTE ? &c->routes->v[dest->index] : NULL;
    if (!d || (d->kind != BELT_ROUTE_CASCADE && d->kind != BELT_ROUTE_LEARNED))
        return belt__cfg_error(c->rd, rule->mark, where,
                               "min_tier needs a cascade or learned route to start in, and '%s' "
                               "is not one",
                               dest->name ? dest->name : "?");
    if (rule->min_tier) {
        if ((size_t)rule->min_tier > d->n_tiers)
            return belt__cfg_error(c->rd, rule->mark, where,
                                   "min_tier %lld is past the last tier of '%s' (%zu tiers)",
                                   (long long)rule->min_tier, d->name, d->n_tiers);
        rule->start_tier = (size_t)rule->min_tier - 1;
        return BELT_OK;
    }
    for (size_t i = 0; i < d->n_tiers; i++) {
        const struct belt_cfg_target *t = &d->tiers[i].target;
        const char *tn = t->kind == BELT_TARGET_HUMAN ? "human" : t->name;
        if (strcmp(tn, rule->min_tier_name) == 0) {
            rule->start_tier = i;
            return BELT_OK;
        }
    }
    return belt__cfg_error(c->rd, rule->mark, where, "route '%s' has no tier '%s'", d->name,
                           rule->min_tier_name);
}

static belt_status check_rules(struct ctx *c, struct belt_cfg_route *r, const char *where)
{
    char sub[300];
    snprintf(sub, sizeof(sub), "%s.default", where);
    belt_status st = resolve(c, &r->dflt, sub, 0);
    for (size_t i = 0; st == BELT_OK && i < r->n_rules; i++) {
        struct belt_cfg_rule *rule = &r->rules[i];
        snprintf(sub, sizeof(sub), "%s.rules[%zu]", where, i);
        if (rule->target.kind != BELT_TARGET_NONE || rule->target.name)
            st = resolve(c, &rule->target, sub, 1);
        if (st == BELT_OK)
            st = check_rule_tier(c, rule, rule->target.name ? &rule->target : &r->dflt, sub);
    }
    return st;
}

static belt_status check_route(struct ctx *c, struct belt_cfg_route *r)
{
    char where[256];
    belt__cfg_where(where, sizeof(where), "routes", r->name);
    if (belt__cfg_models_find(c->models, r->name))
        return belt__cfg_error(c->rd, r->mark, where,
                               "'%s' is also a model name; give the route another name", r->name);
    belt_status st = BELT_OK;
    for (size_t i = 0; st == BELT_OK && i < r->n_targets; i++)
        st = resolve(c, &r->targets[i], where, 0);
    if (st != BELT_OK)
        return st;
    switch (r->kind) {
    case BELT_ROUTE_BALANCE:
        return check_balance(c, r, where);
    case BELT_ROUTE_CASCADE:
    case BELT_ROUTE_LEARNED:
        return check_tiers(c, r, where);
    case BELT_ROUTE_RULES:
        return check_rules(c, r, where);
    default:
        return BELT_OK;
    }
}

/* ---- cycles --------------------------------------------------------------------------------- */

struct dfs {
    struct ctx *c;      /* context */
    unsigned char *col; /* 0 unvisited, 1 on the stack, 2 done */
    size_t *path;       /* the current stack of route indexes */
    size_t depth;       /* its height */
};

static belt_status visit(struct dfs *d, size_t ri);

static belt_status edge(struct dfs *d, const struct belt_cfg_target *t)
{
    if (t->kind != BELT_TARGET_ROUTE)
        return BELT_OK;
    if (d->col[t->index] == 1) {
        char cyc[400] = "";
        size_t used = 0, from = 0;
        for (size_t i = 0; i < d->depth; i++)
            if (d->path[i] == t->index)
                from = i;
        for (size_t i = from; i < d->depth; i++) {
            int w = snprintf(cyc + used, sizeof(cyc) - used, "%s -> ",
                             d->c->routes->v[d->path[i]].name);
            if (w > 0 && (size_t)w < sizeof(cyc) - used)
                used += (size_t)w;
        }
        snprintf(cyc + used, sizeof(cyc) - used, "%s", t->name);
        return belt__cfg_error(d->c->rd, t->mark, "routes", "route cycle: %s", cyc);
    }
    return d->col[t->index] == 0 ? visit(d, t->index) : BELT_OK;
}

static belt_status visit(struct dfs *d, size_t ri)
{
    const struct belt_cfg_route *r = &d->c->routes->v[ri];
    d->col[ri] = 1;
    d->path[d->depth++] = ri;
    belt_status st = BELT_OK;
    for (size_t i = 0; st == BELT_OK && i < r->n_targets; i++)
        st = edge(d, &r->targets[i]);
    for (size_t i = 0; st == BELT_OK && i < r->n_tiers; i++)
        st = edge(d, &r->tiers[i].target);
    for (size_t i = 0; st == BELT_OK && i < r->n_rules; i++)
        st = edge(d, &r->rules[i].target);
    if (st == BELT_OK && r->kind == BELT_ROUTE_RULES)
        st = edge(d, &r->dflt);
    d->depth--;
    d->col[ri] = 2;
    return st;
}

belt_status belt__cfg_routes_check(struct belt_cfg_reader *rd, struct belt_cfg_routes *routes,
                                   const struct belt_cfg_models *models)
{
    struct ctx c = {rd, routes, models};
    for (size_t i = 0; i < routes->n; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(routes->v[i].name, routes->v[j].name) == 0)
                return belt__cfg_error(rd, routes->v[i].mark, "routes", "duplicate route '%s'",
                                       routes->v[i].name);
        belt_status st = check_route(&c, &routes->v[i]);
        if (st != BELT_OK)
            return st;
    }
    if (!routes->n)
        return BELT_OK;
    struct dfs d = {&c, belt_calloc(routes->n, 1), belt_calloc(routes->n, sizeof(size_t)), 0};
    belt_status st = BELT_OK;
    if (!d.col || !d.path)
        st = belt__error_set(rd->err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; st == BELT_OK && i < routes->n; i++)
        if (d.col[i] == 0)
            st = visit(&d, i);
    belt_free(d.col);
    belt_free(d.path);
    return st;
}
