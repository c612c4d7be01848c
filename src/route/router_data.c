/*
 * router_data.c — belt_router_train_file(): training the learned router (learn/router.c) from
 * an outcomes file (replay.h). Lives in the route layer because it reads the replay format.
 */
#include "belt_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "route/replay.h"
#include "util/error.h"

struct by_cost {
    size_t model; /* replay model index */
    double cost;  /* mean cost (NAN sorts last) */
};

static int cmp_cost(const void *a, const void *b)
{
    const struct by_cost *x = a, *y = b;
    if (isnan(x->cost) || isnan(y->cost))
        return isnan(x->cost) - isnan(y->cost);
    return x->cost < y->cost ? -1 : x->cost > y->cost;
}

/* The tiers' replay indexes: the given names, or every model by mean cost. */
static belt_status pick_tiers(const struct belt__replay *rp, const char *const *tiers,
                              size_t n_tiers, size_t *idx, size_t *n_out, struct belt_error *err)
{
    if (tiers) {
        for (size_t t = 0; t < n_tiers; t++) {
            idx[t] = belt__replay_model(rp, tiers[t]);
            if (idx[t] == BELT__REPLAY_NONE)
                return belt__error_set(err, BELT_ERR_INVALID, 0, "%s: no model '%s' in the file",
                                       rp->path, tiers[t]);
        }
        *n_out = n_tiers;
        return BELT_OK;
    }
    struct by_cost v[16];
    if (rp->n_models > BELT_ARRAY_LEN(v))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "%s: %zu models; name at most 16 tiers",
                               rp->path, rp->n_models);
    for (size_t m = 0; m < rp->n_models; m++)
        v[m] = (struct by_cost){m, belt__replay_mean_cost(rp, m)};
    qsort(v, rp->n_models, sizeof(v[0]), cmp_cost);
    for (size_t m = 0; m < rp->n_models; m++)
        idx[m] = v[m].model;
    *n_out = rp->n_models;
    return BELT_OK;
}

belt_status belt_router_train_file(const struct belt_router_params *p, const char *outcomes_path,
                                   const char *const *tiers, size_t n_tiers,
                                   struct belt_router **out, struct belt_error *err)
{
    *out = NULL;
    if (tiers && (n_tiers < 2 || n_tiers > 16))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "give 2 to 16 tiers, not %zu", n_tiers);
    struct belt__replay *rp = NULL;
    belt_status st = belt__replay_load(outcomes_path, &rp, err);
    if (st != BELT_OK)
        return st;
    size_t idx[16], nt = 0;
    const char *names[16];
    st = pick_tiers(rp, tiers, n_tiers, idx, &nt, err);
    struct belt_router_example *ex = belt_calloc(rp->n_tasks, sizeof(*ex));
    int *correct = belt_calloc(rp->n_tasks * 16, sizeof(int));
    double *cost = belt_calloc(rp->n_tasks * 16, sizeof(double));
    if (st == BELT_OK && (!ex || !correct || !cost))
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t t = 0; st == BELT_OK && t < nt; t++)
        names[t] = rp->models[idx[t]];
    for (size_t i = 0; st == BELT_OK && i < rp->n_tasks; i++) {
        const struct belt__replay_task *task = &rp->tasks[i];
        ex[i] = (struct belt_router_example){task->query,
                                             task->query_len,
                                             &correct[i * 16],
                                             &cost[i * 16],
                                             (const char *const *)task->tags,
                                             task->n_tags};
        for (size_t t = 0; st == BELT_OK && t < nt; t++) {
            const struct belt__replay_outcome *o = &task->out[idx[t]];
            if (!o->present || o->correct < 0)
                st = belt__error_set(err, BELT_ERR_FORMAT, 0, "%s:%lld: model '%s' has no %s",
                                     rp->path, (long long)task->line, names[t],
                                     o->present ? "'correct' field" : "outcome");
            correct[i * 16 + t] = o->correct;
            cost[i * 16 + t] = o->ans.cost_usd;
        }
    }
    if (st == BELT_OK)
        st = belt_router_train(p, names, nt, ex, rp->n_tasks, out, err);
    belt_free(ex);
    belt_free(correct);
    belt_free(cost);
    belt__replay_free(rp);
    return st;
}
