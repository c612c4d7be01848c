/*
 * cfg_lines_check.c — cross-checks of the `lines:` section once every section is read: unique
 * station names, `needs:` and the topological order (no cycles), routes and models named by
 * stations, `allow:` lists naming tools, `retry:` targets, and whether a station's route can
 * reach a model that is not trusted (its prompts are then PII-redacted before they leave).
 */
#include "belt_config.h"

#include <stdio.h>
#include <string.h>

#include "config/cfg_lines.h"
#include "config/config.h"
#include "util/error.h"

#define NOMEM(rd) belt__error_set((rd)->err, BELT_ERR_NOMEM, 0, "out of memory")

static void walk(const struct belt_config *cfg, const char *name, int depth, belt__cfg_model_fn *fn,
                 void *ud);

static void walk_target(const struct belt_config *cfg, const struct belt_cfg_target *t, int depth,
                        belt__cfg_model_fn *fn, void *ud)
{
    if (t->kind == BELT_TARGET_MODEL || t->kind == BELT_TARGET_ROUTE)
        walk(cfg, t->name, depth + 1, fn, ud);
}

static void walk(const struct belt_config *cfg, const char *name, int depth, belt__cfg_model_fn *fn,
                 void *ud)
{
    if (!name || depth > 32)
        return;
    const struct belt_cfg_route *r = belt__cfg_routes_find(&cfg->routes, name, NULL);
    if (!r) {
        const struct belt_cfg_model *m = belt__cfg_models_find(&cfg->models, name);
        if (m)
            fn(ud, m);
        return;
    }
    walk_target(cfg, &r->dflt, depth, fn, ud);
    for (size_t i = 0; i < r->n_targets; i++)
        walk_target(cfg, &r->targets[i], depth, fn, ud);
    for (size_t i = 0; i < r->n_tiers; i++)
        walk_target(cfg, &r->tiers[i].target, depth, fn, ud);
    for (size_t i = 0; i < r->n_rules; i++)
        walk_target(cfg, &r->rules[i].target, depth, fn, ud);
}

void belt__cfg_route_models(const struct belt_config *cfg, const char *name, belt__cfg_model_fn *fn,
                            void *ud)
{
    walk(cfg, name, 0, fn, ud);
}

static void note_untrusted(void *ud, const struct belt_cfg_model *m)
{
    *(int *)ud |= !m->trusted;
}

/* 1 if the route or model `name` can send text to a model that is not trusted. */
static int reaches_untrusted(const struct belt_config *cfg, const char *name, int depth)
{
    (void)depth;
    int u = 0;
    walk(cfg, name, 0, note_untrusted, &u);
    return u;
}

static belt_status check_route(struct belt_cfg_reader *rd, const struct belt_config *cfg,
                               const char *where, const char *name, struct belt_cfg_mark m)
{
    if (!name)
        return BELT_OK;
    if (belt__cfg_routes_find(&cfg->routes, name, NULL) ||
        belt__cfg_models_find(&cfg->models, name))
        return BELT_OK;
    return belt__cfg_error(rd, m, where, "'%s' is neither a route nor a model", name);
}

static int station_index(const struct belt_cfg_station *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Resolve `needs:` (default: the previous station) into indices. */
static belt_status resolve_needs(struct belt_cfg_reader *rd, struct belt_cfg_line *l,
                                 const char *where)
{
    for (size_t i = 0; i < l->n_stations; i++) {
        struct belt_cfg_station *s = &l->stations[i];
        size_t n = s->needs_set ? s->needs.n : (i > 0);
        s->need_idx = belt_calloc(n ? n : 1, sizeof(size_t));
        if (!s->need_idx)
            return NOMEM(rd);
        if (!s->needs_set) {
            if (i > 0)
                s->need_idx[s->n_need++] = i - 1;
            continue;
        }
        for (size_t j = 0; j < s->needs.n; j++) {
            int k = station_index(l->stations, l->n_stations, s->needs.v[j]);
            if (k < 0)
                return belt__cfg_error(rd, s->mark, where,
                                       "station '%s' needs '%s', which is not a station of "
                                       "the line",
                                       s->name, s->needs.v[j]);
            if ((size_t)k == i)
                return belt__cfg_error(rd, s->mark, where, "station '%s' needs itself", s->name);
            s->need_idx[s->n_need++] = (size_t)k;
        }
    }
    return BELT_OK;
}

/* Kahn's algorithm, stable (ties in list order); a cycle names its stations. */
static belt_status topo_order(struct belt_cfg_reader *rd, struct belt_cfg_line *l,
                              const char *where)
{
    size_t n = l->n_stations;
    size_t *indeg = belt_calloc(n, sizeof(size_t));
    unsigned char *done = belt_calloc(n, 1);
    l->order = belt_calloc(n, sizeof(size_t));
    if (!indeg || !done || !l->order) {
        belt_free(indeg);
        belt_free(done);
        return NOMEM(rd);
    }
    for (size_t i = 0; i < n; i++)
        indeg[i] = l->stations[i].n_need;
    size_t placed = 0;
    while (placed < n) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
            if (!done[i] && indeg[i] == 0)
                pick = i;
        if (pick == SIZE_MAX)
            break;
        done[pick] = 1;
        l->order[placed++] = pick;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < l->stations[i].n_need; j++)
                if (l->stations[i].need_idx[j] == pick)
                    indeg[i]--;
    }
    belt_status st = BELT_OK;
    if (placed < n) {
        char names[300] = "";
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            int w = snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "",
                             l->stations[i].name);
            if (w > 0 && (size_t)w < sizeof(names) - used)
                used += (size_t)w;
        }
        st = belt__cfg_error(rd, l->mark, where, "the stations' needs form a cycle among: %s",
                             names);
    }
    belt_free(indeg);
    belt_free(done);
    return st;
}

/* validate → the station `retry` re-runs: named, or the nearest one before it (in the order)
 * whose output is where the validated input lives. */
static belt_status resolve_retry(struct belt_cfg_reader *rd, struct belt_cfg_line *l,
                                 struct belt_cfg_station *s, const char *where)
{
    if (s->retry_station) {
        int k = station_index(l->stations, l->n_stations, s->retry_station);
        if (k < 0 || s->is_tool)
            return belt__cfg_error(rd, s->mark, where,
                                   "station '%s': retry names '%s', which is not a station of "
                                   "the line",
                                   s->name, s->retry_station);
        s->retry_idx = (size_t)k;
        return BELT_OK;
    }
    if (s->kind != BELT_STATION_VALIDATE || s->n_inputs == 0 || s->is_tool)
        return BELT_OK;
    size_t pos = 0;
    while (pos < l->n_stations && l->order[pos] != s->index)
        pos++;
    for (size_t p = pos; p-- > 0;) {
        const struct belt_cfg_station *c = &l->stations[l->order[p]];
        if (c->kind != BELT_STATION_VALIDATE && c->kind != BELT_STATION_REVIEW &&
            strcmp(c->output.seg[0], s->inputs[0].seg[0]) == 0) {
            s->retry_idx = c->index;
            break;
        }
    }
    return BELT_OK;
}

static belt_status check_plan(struct belt_cfg_reader *rd, struct belt_cfg_line *l,
                              struct belt_cfg_station *s, const char *where)
{
    if (s->is_tool)
        return belt__cfg_error(rd, s->mark, where, "tool '%s': a plan cannot be a tool", s->name);
    s->allow_idx = belt_calloc(s->allow.n ? s->allow.n : 1, sizeof(size_t));
    if (!s->allow_idx)
        return NOMEM(rd);
    for (size_t j = 0; j < s->allow.n; j++) {
        int k = station_index(l->tools, l->n_tools, s->allow.v[j]);
        if (k < 0)
            return belt__cfg_error(rd, s->mark, where,
                                   "station '%s' allows '%s', which is not under the line's "
                                   "tools:",
                                   s->name, s->allow.v[j]);
        s->allow_idx[j] = (size_t)k;
    }
    for (size_t j = 0; j < s->trusted.n; j++) {
        struct belt_cfg_path p;
        char why[200];
        belt_status st = belt__cfg_path_parse(s->trusted.v[j], &p, why, sizeof(why));
        if (st != BELT_OK)
            return st == BELT_ERR_NOMEM
                       ? NOMEM(rd)
                       : belt__cfg_error(rd, s->mark, where, "station '%s': trusted: %s", s->name,
                                         why);
        belt__cfg_path_free(&p);
    }
    return BELT_OK;
}

static belt_status check_station(struct belt_cfg_reader *rd, const struct belt_config *cfg,
                                 struct belt_cfg_line *l, struct belt_cfg_station *s,
                                 const char *where)
{
    char sub[300];
    snprintf(sub, sizeof(sub), "%s.%s[%zu]", where, s->is_tool ? "tools" : "stations", s->index);
    belt_status st = check_route(rd, cfg, sub, s->route, s->route_mark);
    if (st == BELT_OK)
        st = check_route(rd, cfg, sub, s->escalate, s->escalate_mark);
    if (st != BELT_OK)
        return st;
    if (s->is_tool && s->needs_set)
        return belt__cfg_error(rd, s->mark, sub,
                               "a tool runs when a plan names it; 'needs' "
                               "does not apply");
    const struct belt_cfg_model *m =
        s->route ? belt__cfg_models_find(&cfg->models, s->route) : NULL;
    s->route_local = m && m->provider == BELT_PROVIDER_LOCAL &&
                     !belt__cfg_routes_find(&cfg->routes, s->route, NULL);
    s->route_untrusted =
        reaches_untrusted(cfg, s->route, 0) || reaches_untrusted(cfg, s->escalate, 0);
    if (s->kind == BELT_STATION_PLAN)
        st = check_plan(rd, l, s, sub);
    if (st == BELT_OK)
        st = resolve_retry(rd, l, s, sub);
    return st;
}

static belt_status check_line(struct belt_cfg_reader *rd, const struct belt_config *cfg,
                              struct belt_cfg_line *l)
{
    char where[256];
    belt__cfg_where(where, sizeof(where), "lines", l->name);
    for (size_t i = 0; i < l->n_stations + l->n_tools; i++) {
        const struct belt_cfg_station *a =
            i < l->n_stations ? &l->stations[i] : &l->tools[i - l->n_stations];
        for (size_t j = 0; j < i; j++) {
            const struct belt_cfg_station *b =
                j < l->n_stations ? &l->stations[j] : &l->tools[j - l->n_stations];
            if (strcmp(a->name, b->name) == 0)
                return belt__cfg_error(rd, a->mark, where, "station name '%s' is used twice",
                                       a->name);
        }
    }
    belt_status st = resolve_needs(rd, l, where);
    if (st == BELT_OK)
        st = topo_order(rd, l, where);
    for (size_t i = 0; st == BELT_OK && i < l->n_stations; i++)
        st = check_station(rd, cfg, l, &l->stations[i], where);
    for (size_t i = 0; st == BELT_OK && i < l->n_tools; i++)
        st = check_station(rd, cfg, l, &l->tools[i], where);
    int untrusted = 0;
    for (size_t i = 0; i < l->n_stations + l->n_tools; i++)
        untrusted |= i < l->n_stations ? l->stations[i].route_untrusted
                                       : l->tools[i - l->n_stations].route_untrusted;
    if (st == BELT_OK && untrusted) {
        struct belt_pii_params pp = belt_pii_default_params();
        struct belt_error e;
        belt_error_clear(&e);
        if (belt_pii_new(&pp, &l->outbound_pii, &e) != BELT_OK)
            st = belt__cfg_error(rd, l->mark, where, "cannot build the PII detectors: %s", e.msg);
    }
    return st;
}

belt_status belt__cfg_lines_check(struct belt_cfg_reader *rd, struct belt_config *cfg)
{
    for (size_t i = 0; i < cfg->lines.n; i++) {
        belt_status st = check_line(rd, cfg, &cfg->lines.v[i]);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}
