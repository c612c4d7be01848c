/*
 * router.c — the learned router (belt.h, router.h): per tier, a logistic model over hashed
 * word/character n-grams trained with AdaGrad and L2, early-stopped on a dev split carved by a
 * hash of the text, then calibrated on that split (Platt or isotonic). Prediction is one pass
 * over the text's features (no allocation); the decision is the cheapest tier whose calibrated
 * probability reaches the target.
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/router.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/rng.h"

const char *const belt__router_objective_names[] = {"correct", "sufficient", NULL};

struct belt_router_params belt_router_default_params(void)
{
    struct belt_router_params p;
    memset(&p, 0, sizeof(p));
    p.word_ngrams = 2;
    p.char_min = 3;
    p.char_max = 5;
    p.bucket_bits = 18;
    p.epochs = 12;
    p.ensemble = 5;
    p.learning_rate = 0.2;
    p.l2 = 1e-4;
    p.dev_fraction = 0.2;
    p.seed = 1;
    p.calibration = BELT_ROUTER_CALIB_ISOTONIC;
    p.objective = BELT_ROUTER_CORRECT;
    return p;
}

struct belt_router *belt__router_alloc(size_t n_tiers, int bucket_bits)
{
    struct belt_router *r = belt_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->n_tiers = n_tiers;
    r->bucket_bits = bucket_bits;
    r->mask = ((uint64_t)1 << bucket_bits) - 1;
    r->names = belt_calloc(n_tiers, sizeof(char *));
    r->cost = belt_calloc(n_tiers, sizeof(double));
    r->w = belt_calloc((size_t)(r->mask + 1) * n_tiers, sizeof(float));
    r->bias = belt_calloc(n_tiers, sizeof(float));
    r->calib = belt_calloc(n_tiers, sizeof(*r->calib));
    if (!r->names || !r->cost || !r->w || !r->bias || !r->calib) {
        belt_router_free(r);
        return NULL;
    }
    for (size_t i = 0; i < n_tiers; i++) {
        r->cost[i] = NAN;
        r->calib[i].a = 1;
    }
    return r;
}

void belt_router_free(struct belt_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->names && i < r->n_tiers; i++)
        belt_free(r->names[i]);
    for (size_t i = 0; r->calib && i < r->n_tiers; i++) {
        belt_free(r->calib[i].x);
        belt_free(r->calib[i].y);
    }
    belt_free(r->names);
    belt_free(r->cost);
    belt_free(r->w);
    belt_free(r->bias);
    belt_free(r->calib);
    belt_free(r->metrics_json);
    belt_free(r);
}

/* ---- prediction ----------------------------------------------------------------------------- */

/* Per-kind sums of every tier's weights, scaled once the kind's count is known. */
struct score_acc {
    const struct belt_router *r;                            /* the router */
    double sum[BELT__FEAT_N_KINDS][BELT__ROUTER_MAX_TIERS]; /* weight sums per kind, tier */
};

static void score_feature(void *ud, uint64_t hash, enum belt__feature_kind kind)
{
    struct score_acc *a = ud;
    const struct belt_router *r = a->r;
    const float *w = &r->w[(size_t)(hash & r->mask) * r->n_tiers];
    for (size_t t = 0; t < r->n_tiers; t++)
        a->sum[kind][t] += w[t];
}

belt_status belt__router_scores(const struct belt_router *r, const char *text, size_t len,
                                double *s, struct belt_error *err)
{
    struct score_acc a;
    a.r = r;
    memset(a.sum, 0, sizeof(a.sum));
    size_t n_kind[BELT__FEAT_N_KINDS] = {0};
    belt_status st = belt__features_each(&r->fc, text, len, score_feature, &a, n_kind, err);
    if (st != BELT_OK)
        return st;
    for (size_t t = 0; t < r->n_tiers; t++) {
        double z = r->bias[t];
        for (int k = 0; k < BELT__FEAT_N_KINDS; k++)
            z += a.sum[k][t] * belt__features_block_scale(n_kind[k], 1.0);
        s[t] = z;
    }
    return BELT_OK;
}

static double sigmoid(double z)
{
    if (z > 35)
        return 1;
    if (z < -35)
        return 0;
    return 1.0 / (1.0 + exp(-z));
}

double belt__router_calibrate(const struct belt__router_calib *c, double s)
{
    if (c->n == 0)
        return sigmoid(c->a * s + c->b);
    if (s <= c->x[0])
        return c->y[0];
    if (s >= c->x[c->n - 1])
        return c->y[c->n - 1];
    size_t lo = 0, hi = c->n - 1; /* x[lo] < s < x[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->x[mid] <= s)
            lo = mid;
        else
            hi = mid;
    }
    double t = (s - c->x[lo]) / (c->x[hi] - c->x[lo]);
    return c->y[lo] + t * (c->y[hi] - c->y[lo]);
}

belt_status belt_router_predict(const struct belt_router *r, const char *text, size_t len,
                                double *p, size_t n, struct belt_error *err)
{
    if (n != r->n_tiers)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "the router has %zu tiers, %zu probabilities asked", r->n_tiers, n);
    double s[BELT__ROUTER_MAX_TIERS];
    belt_status st = belt__router_scores(r, text, len, s, err);
    if (st != BELT_OK)
        return st;
    for (size_t t = 0; t < n; t++)
        p[t] = belt__router_calibrate(&r->calib[t], s[t]);
    return BELT_OK;
}

size_t belt_router_choose(const struct belt_router *r, const double *p, double target)
{
    for (size_t t = 0; t < r->n_tiers; t++)
        if (p[t] >= target)
            return t;
    return r->n_tiers - 1;
}

size_t belt_router_n_tiers(const struct belt_router *r)
{
    return r->n_tiers;
}

const char *belt_router_tier_name(const struct belt_router *r, size_t i)
{
    return i < r->n_tiers ? r->names[i] : NULL;
}

double belt_router_tier_cost(const struct belt_router *r, size_t i)
{
    return i < r->n_tiers ? r->cost[i] : NAN;
}

const char *belt_router_metrics_json(const struct belt_router *r)
{
    return r->metrics_json ? r->metrics_json : "{}";
}
