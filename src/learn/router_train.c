/*
 * router_train.c — training the learned router (belt_router_train): featurise every example
 * once (text features, plus the router's shape features), split train/dev by a hash of the text,
 * fit one logistic model per tier with AdaGrad and L2 (early stopping on dev log-loss, best epoch
 * kept), then fit the calibration on dev. With `search`, that whole run is repeated for a small
 * grid of feature and L2 settings and the router with the best mean dev AUC is kept.
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/router.h"
#include "util/json.h"
#include <jansson.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/rng.h"

/* Featurised examples: example i's features are b[off[i] .. off[i+1]) with values v[...]. */
struct data {
    size_t n;        /* examples */
    size_t *off;     /* n + 1 offsets (owned) */
    uint32_t *b;     /* bucket of each feature (owned) */
    float *v;        /* value of each feature (owned) */
    size_t cap;      /* allocated features */
    uint8_t *is_dev; /* 1: dev split (owned) */
    int *y;          /* labels, n_tiers × n (owned) */
};

/* What one tier's fit produced, for the metrics. */
struct tier_fit {
    size_t n_train, n_dev; /* split sizes */
    double base_rate;      /* share of positive labels (dev, else train) */
    int epochs;            /* epochs kept (best on dev) */
    double ll_raw, ll_cal; /* dev log-loss before / after calibration */
    double auc;            /* dev ROC AUC of the scores */
    int constant;          /* labels were all equal: constant prediction */
};

static void data_free(struct data *d)
{
    belt_free(d->off);
    belt_free(d->b);
    belt_free(d->v);
    belt_free(d->is_dev);
    belt_free(d->y);
}

/* The shape or tag features of one task (belt__router_shape_each, belt__router_tag_each),
 * collected. */
struct hash_list {
    uint64_t hash[BELT__ROUTER_N_SHAPE + BELT_ROUTER_MAX_TAGS];
    size_t n;
};

static void hash_push(void *ud, uint64_t hash)
{
    struct hash_list *l = ud;
    if (l->n < BELT_ARRAY_LEN(l->hash))
        l->hash[l->n++] = hash;
}

/* Write a block of extra features (all with the block's scale) at d's offset `at`. */
static void put_block(struct data *d, size_t at, const struct hash_list *l, uint64_t mask)
{
    for (size_t j = 0; j < l->n; j++) {
        d->b[at + j] = (uint32_t)(l->hash[j] & mask);
        d->v[at + j] = belt__features_block_scale(l->n, 1.0);
    }
}

static belt_status featurise(struct data *d, const struct belt_router *r,
                             const struct belt_router_example *ex, size_t n, double dev_fraction,
                             struct belt_error *err)
{
    struct belt__feature_vec fv;
    belt__feature_vec_init(&fv);
    d->n = n;
    d->off = belt_calloc(n + 1, sizeof(size_t));
    d->is_dev = belt_calloc(n, 1);
    belt_status st = d->off && d->is_dev ? BELT_OK : BELT_ERR_NOMEM;
    for (size_t i = 0; st == BELT_OK && i < n; i++) {
        st = belt__features_extract(&r->fc, ex[i].text, ex[i].len, &fv, err);
        if (st == BELT_ERR_INVALID) {
            belt__error_prefix(err, "example %zu: ", i + 1);
            break;
        }
        struct hash_list sl, tl;
        sl.n = tl.n = 0;
        if (st == BELT_OK && r->shape)
            belt__router_shape_each(ex[i].text, ex[i].len, hash_push, &sl);
        if (st == BELT_OK && r->tags)
            belt__router_tag_each(ex[i].tags, ex[i].n_tags, hash_push, &tl);
        size_t row = fv.n + sl.n + tl.n;
        if (st == BELT_OK && d->off[i] + row > d->cap) {
            size_t cap = BELT_MAX(d->cap * 2, d->off[i] + row + 4096);
            uint32_t *b = belt_realloc(d->b, cap * sizeof(uint32_t));
            float *v = b ? belt_realloc(d->v, cap * sizeof(float)) : NULL;
            if (b)
                d->b = b;
            if (v) {
                d->v = v;
                d->cap = cap;
            } else {
                st = BELT_ERR_NOMEM;
            }
        }
        for (size_t j = 0; st == BELT_OK && j < fv.n; j++) {
            d->b[d->off[i] + j] = (uint32_t)(fv.hash[j] & r->mask);
            d->v[d->off[i] + j] = belt__features_block_scale(fv.n_kind[fv.kind[j]], 1.0);
        }
        if (st == BELT_OK) {
            put_block(d, d->off[i] + fv.n, &sl, r->mask);
            put_block(d, d->off[i] + fv.n + sl.n, &tl, r->mask);
        }
        d->off[i + 1] = d->off[i] + (st == BELT_OK ? row : 0);
        uint64_t h = belt_mix64(belt_fnv1a(BELT_FNV_OFFSET, ex[i].text, ex[i].len));
        d->is_dev[i] = (double)(h >> 11) / 9007199254740992.0 < dev_fraction;
    }
    belt__feature_vec_deinit(&fv);
    if (st == BELT_ERR_NOMEM)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    return st;
}

static double score(const struct belt_router *r, const struct data *d, size_t i, size_t t)
{
    double z = r->bias[t];
    for (size_t k = d->off[i]; k < d->off[i + 1]; k++)
        z += r->w[(size_t)d->b[k] * r->n_tiers + t] * d->v[k];
    return z;
}

static double sigmoid(double z)
{
    return z > 35 ? 1 : z < -35 ? 0 : 1.0 / (1.0 + exp(-z));
}

static double logloss(double p, int y)
{
    const double eps = 1e-12;
    return -log(y ? BELT_MAX(p, eps) : BELT_MAX(1 - p, eps));
}

/* One AdaGrad epoch over the train split of tier t. */
static void epoch(struct belt_router *r, const struct data *d, size_t t, const size_t *order,
                  size_t n_order, float *G, double *gb, const struct belt_router_params *p)
{
    const int *y = &d->y[t * d->n];
    for (size_t o = 0; o < n_order; o++) {
        size_t i = order[o];
        double g = sigmoid(score(r, d, i, t)) - y[i];
        *gb += g * g;
        r->bias[t] -= (float)(p->learning_rate * g / sqrt(*gb));
        for (size_t k = d->off[i]; k < d->off[i + 1]; k++) {
            float *w = &r->w[(size_t)d->b[k] * r->n_tiers + t];
            double gg = g * d->v[k] + p->l2 * *w;
            G[d->b[k]] += (float)(gg * gg);
            if (G[d->b[k]] > 0) /* no gradient yet in this bucket: no step (and no 0/0) */
                *w -= (float)(p->learning_rate * gg / sqrt((double)G[d->b[k]]));
        }
    }
}

static double split_logloss(const struct belt_router *r, const struct data *d, size_t t, int dev)
{
    double ll = 0;
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->is_dev[i] != dev)
            continue;
        ll += logloss(sigmoid(score(r, d, i, t)), d->y[t * d->n + i]);
        n++;
    }
    return n ? ll / (double)n : NAN;
}

/* The tier's weights column to/from a snapshot. */
static void column_copy(struct belt_router *r, size_t t, float *snap, int save)
{
    size_t nb = (size_t)r->mask + 1;
    for (size_t b = 0; b < nb; b++) {
        float *w = &r->w[b * r->n_tiers + t];
        if (save)
            snap[b] = *w;
        else
            *w = snap[b];
    }
    if (save)
        snap[nb] = r->bias[t];
    else
        r->bias[t] = snap[nb];
}

/* The state of one fit of one tier (reused across the ensemble's runs). */
struct run_state {
    float *G;       /* AdaGrad accumulators per bucket */
    float *snap;    /* best column so far (n_buckets + bias) */
    size_t *order;  /* train examples, shuffled per epoch */
    size_t n_order; /* their count */
};

/* One fit of tier t from zero weights: epochs with early stopping on dev; the best epoch's
 * weights are left in the column. Returns the epochs kept through *kept. */
static belt_status one_run(struct belt_router *r, const struct data *d, size_t t,
                           const struct belt_router_params *p, uint64_t seed, struct run_state *rs,
                           int have_dev, int *kept, struct belt_error *err)
{
    size_t nb = (size_t)r->mask + 1;
    memset(rs->G, 0, nb * sizeof(float));
    for (size_t b = 0; b < nb; b++)
        r->w[b * r->n_tiers + t] = 0;
    r->bias[t] = 0;
    struct belt_rng rng;
    belt_rng_seed(&rng, seed);
    double gb = 1e-8, best = INFINITY;
    *kept = 0;
    for (int ep = 1; ep <= p->epochs; ep++) {
        belt_rng_shuffle(&rng, rs->order, rs->n_order, sizeof(size_t));
        epoch(r, d, t, rs->order, rs->n_order, rs->G, &gb, p);
        double ll = split_logloss(r, d, t, have_dev);
        if (p->progress && p->progress(p->progress_ud, t, ep, ll))
            return belt__error_set(err, BELT_ERR_CANCELLED, 0, "training cancelled");
        if (ll < best - 1e-6) {
            best = ll;
            *kept = ep;
            column_copy(r, t, rs->snap, 1);
        } else if (have_dev && ep - *kept >= 2) {
            break; /* two epochs without improvement on dev */
        }
    }
    if (*kept)
        column_copy(r, t, rs->snap, 0);
    return BELT_OK;
}

/* Fit tier t: the average of p->ensemble runs that differ only in their shuffles (a linear
 * model, so averaging weights averages the scores: steadier, and no slower to predict). */
static belt_status fit_tier(struct belt_router *r, const struct data *d, size_t t,
                            const struct belt_router_params *p, struct tier_fit *fit,
                            struct belt_error *err)
{
    size_t nb = (size_t)r->mask + 1;
    int runs = p->ensemble > 0 ? p->ensemble : 1;
    struct run_state rs = {belt_calloc(nb, sizeof(float)), belt_malloc((nb + 1) * sizeof(float)),
                           belt_malloc(d->n * sizeof(size_t)), 0};
    double *avg = runs > 1 ? belt_calloc(nb + 1, sizeof(double)) : NULL;
    belt_status st = rs.G && rs.snap && rs.order && (runs == 1 || avg)
                         ? BELT_OK
                         : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; st == BELT_OK && i < d->n; i++)
        if (!d->is_dev[i])
            rs.order[rs.n_order++] = i;
    int epochs_sum = 0;
    for (int k = 0; st == BELT_OK && k < runs; k++) {
        int kept = 0;
        st = one_run(r, d, t, p, p->seed + t * 1000003u + (uint64_t)k, &rs, fit->n_dev > 0, &kept,
                     err);
        epochs_sum += kept;
        for (size_t b = 0; st == BELT_OK && avg && b < nb; b++)
            avg[b] += r->w[b * r->n_tiers + t];
        if (avg)
            avg[nb] += r->bias[t];
    }
    if (st == BELT_OK && avg) {
        for (size_t b = 0; b < nb; b++)
            r->w[b * r->n_tiers + t] = (float)(avg[b] / runs);
        r->bias[t] = (float)(avg[nb] / runs);
    }
    fit->epochs = (epochs_sum + runs / 2) / runs;
    belt_free(avg);
    belt_free(rs.G);
    belt_free(rs.snap);
    belt_free(rs.order);
    return st;
}

/* ---- calibration ---------------------------------------------------------------------------- */

struct scored {
    double s; /* raw score */
    int y;    /* label */
};

static int by_score(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;
    return x < y ? -1 : x > y;
}

/* Platt scaling: Newton's method on the smoothed targets of Platt (1999). */
static void fit_platt(struct belt__router_calib *c, const struct scored *v, size_t n)
{
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++)
        n1 += (size_t)v[i].y;
    double hi = ((double)n1 + 1) / ((double)n1 + 2), lo = 1 / ((double)(n - n1) + 2);
    double a = 1, b = 0;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gbb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
        for (size_t i = 0; i < n; i++) {
            double pr = sigmoid(a * v[i].s + b), tg = v[i].y ? hi : lo, w = pr * (1 - pr);
            ga += (pr - tg) * v[i].s;
            gbb += pr - tg;
            haa += w * v[i].s * v[i].s;
            hab += w * v[i].s;
            hbb += w;
        }
        double det = haa * hbb - hab * hab;
        if (!(fabs(det) > 1e-18))
            break;
        double da = (hbb * ga - hab * gbb) / det, db = (haa * gbb - hab * ga) / det;
        a -= da;
        b -= db;
        if (fabs(da) + fabs(db) < 1e-9)
            break;
    }
    c->a = isfinite(a) ? a : 1;
    c->b = isfinite(b) ? b : 0;
    c->n = 0;
}

/* Isotonic regression by pool-adjacent-violators; blocks become interpolation knots. */
static belt_status fit_isotonic(struct belt__router_calib *c, struct scored *v, size_t n)
{
    qsort(v, n, sizeof(*v), by_score);
    c->x = belt_malloc(n * sizeof(double));
    c->y = belt_malloc(n * sizeof(double));
    double *cnt = belt_malloc(n * sizeof(double));
    if (!c->x || !c->y || !cnt) {
        belt_free(cnt);
        return BELT_ERR_NOMEM;
    }
    size_t k = 0; /* x holds score sums, y label sums while pooling */
    for (size_t i = 0; i < n; i++) {
        c->x[k] = v[i].s;
        c->y[k] = v[i].y;
        cnt[k] = 1;
        k++;
        while (k > 1 && (c->y[k - 2] / cnt[k - 2] >= c->y[k - 1] / cnt[k - 1] ||
                         c->x[k - 2] / cnt[k - 2] >= c->x[k - 1] / cnt[k - 1])) {
            c->x[k - 2] += c->x[k - 1];
            c->y[k - 2] += c->y[k - 1];
            cnt[k - 2] += cnt[k - 1];
            k--;
        }
    }
    double eps = 0.5 / ((double)n + 1);
    for (size_t i = 0; i < k; i++) {
        c->x[i] /= cnt[i];
        c->y[i] = BELT_MIN(1 - eps, BELT_MAX(eps, c->y[i] / cnt[i]));
    }
    c->n = k;
    belt_free(cnt);
    return BELT_OK;
}

/* ROC AUC of scores (Mann–Whitney with ties counted half); v sorted by score. */
static double auc_of(const struct scored *v, size_t n)
{
    double rank_sum = 0, n1 = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double avg = ((double)i + (double)j + 1) / 2; /* 1-based average rank */
        for (size_t k = i; k < j; k++)
            if (v[k].y) {
                rank_sum += avg;
                n1++;
            }
        i = j;
    }
    double n0 = (double)n - n1;
    return n1 > 0 && n0 > 0 ? (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0) : NAN;
}

/* Fit tier t's calibration on dev (train when there is no dev) and fill the metrics. */
static belt_status calibrate(struct belt_router *r, const struct data *d, size_t t,
                             const struct belt_router_params *p, struct tier_fit *fit)
{
    int dev = fit->n_dev > 0;
    size_t m = dev ? fit->n_dev : fit->n_train;
    struct scored *v = belt_malloc((m ? m : 1) * sizeof(*v));
    if (!v)
        return BELT_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->is_dev[i] == dev)
            v[k++] = (struct scored){score(r, d, i, t), d->y[t * d->n + i]};
    belt_status st = BELT_OK;
    if (p->calibration == BELT_ROUTER_CALIB_PLATT)
        fit_platt(&r->calib[t], v, k);
    else
        st = fit_isotonic(&r->calib[t], v, k);
    fit->ll_raw = fit->ll_cal = 0;
    for (size_t i = 0; st == BELT_OK && i < k; i++) {
        fit->ll_raw += logloss(sigmoid(v[i].s), v[i].y) / (double)k;
        fit->ll_cal += logloss(belt__router_calibrate(&r->calib[t], v[i].s), v[i].y) / (double)k;
    }
    qsort(v, k, sizeof(*v), by_score);
    fit->auc = auc_of(v, k);
    belt_free(v);
    return st;
}

/* ---- labels, metrics, entry points ---------------------------------------------------------- */

/* Labels per tier for the objective: correct, or sufficient (right, or no costlier tier is). */
static belt_status labels(struct data *d, const struct belt_router_example *ex, size_t nt,
                          int objective)
{
    d->y = belt_malloc(nt * d->n * sizeof(int));
    if (!d->y)
        return BELT_ERR_NOMEM;
    for (size_t i = 0; i < d->n; i++) {
        int later_right = 0;
        for (size_t t = nt; t-- > 0;) {
            int c = ex[i].correct[t] != 0;
            d->y[t * d->n + i] = objective == BELT_ROUTER_SUFFICIENT ? c || !later_right : c;
            later_right |= c;
        }
    }
    return BELT_OK;
}

/* A tier whose labels are all equal predicts their smoothed rate. */
static int constant_tier(struct belt_router *r, const struct data *d, size_t t)
{
    size_t pos = 0;
    for (size_t i = 0; i < d->n; i++)
        pos += (size_t)d->y[t * d->n + i];
    if (pos != 0 && pos != d->n)
        return 0;
    double rate = ((double)pos + 0.5) / ((double)d->n + 1);
    r->bias[t] = 0;
    r->calib[t].a = 0;
    r->calib[t].b = log(rate / (1 - rate));
    r->calib[t].n = 0;
    return 1;
}

/* The training metrics as a JSON object (new reference; NULL: out of memory). */
static json_t *metrics(const struct belt_router *r, const struct tier_fit *fit,
                       const struct belt_router_params *p, int64_t train_ms)
{
    json_t *tiers = json_array();
    for (size_t t = 0; tiers && t < r->n_tiers; t++) {
        const struct tier_fit *f = &fit[t];
        json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:i, s:b}", "name", r->names[t], "n_train",
                              (json_int_t)f->n_train, "n_dev", (json_int_t)f->n_dev, "base_rate",
                              f->base_rate, "epochs", f->epochs, "constant", f->constant);
        if (o && !f->constant) {
            json_object_set_new(o, "dev_logloss_raw", json_real(f->ll_raw));
            json_object_set_new(o, "dev_logloss_calibrated", json_real(f->ll_cal));
            json_object_set_new(o, "dev_auc", isfinite(f->auc) ? json_real(f->auc) : json_null());
        }
        if (!o || json_array_append_new(tiers, o) != 0) {
            json_decref(tiers);
            tiers = NULL;
        }
    }
    json_t *m =
        tiers ? json_pack("{s:o, s:s, s:s, s:{s:i, s:i, s:i, s:b, s:b}, s:i, s:i, s:f, s:f, s:I}",
                          "tiers", tiers, "objective", belt__router_objective_names[r->objective],
                          "calibration",
                          r->calibration == BELT_ROUTER_CALIB_PLATT ? "platt" : "isotonic",
                          "features", "word_ngrams", r->fc.word_ngrams, "char_min", r->fc.char_min,
                          "char_max", r->fc.char_max, "shape", r->shape, "tags", r->tags,
                          "bucket_bits", r->bucket_bits, "ensemble", p->ensemble, "l2", p->l2,
                          "dev_fraction", p->dev_fraction, "train_ms", (json_int_t)train_ms)
              : NULL;
    return m;
}

static belt_status check_params(const struct belt_router_params *p, size_t n_tiers, size_t n,
                                struct belt_error *err)
{
    struct belt__feature_config fc = {p->word_ngrams, p->char_min, p->char_max};
    if (n_tiers < 2 || n_tiers > BELT__ROUTER_MAX_TIERS)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "a router needs 2 to %d tiers, got %zu",
                               BELT__ROUTER_MAX_TIERS, n_tiers);
    if (n < 20)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "a router needs at least 20 examples, got %zu", n);
    if (p->bucket_bits < 10 || p->bucket_bits > 24)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "bucket_bits must be in [10, 24]");
    if (p->epochs < 1 || !(p->learning_rate > 0) || !(p->l2 >= 0) || p->ensemble < 1 ||
        p->ensemble > 100)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "epochs must be >= 1, learning_rate > 0, l2 >= 0 and ensemble "
                               "in [1, 100]");
    if (!(p->dev_fraction >= 0 && p->dev_fraction < 1))
        return belt__error_set(err, BELT_ERR_INVALID, 0, "dev_fraction must be in [0, 1)");
    if ((unsigned)p->shape > 1 || (unsigned)p->tags > 1 || (unsigned)p->search > 1)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "shape, tags and search must be 0 or 1");
    if ((unsigned)p->objective > BELT_ROUTER_SUFFICIENT ||
        (unsigned)p->calibration > BELT_ROUTER_CALIB_ISOTONIC)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "unknown objective or calibration");
    return belt__features_check_config(&fc, err);
}

static belt_status fit_all(struct belt_router *r, struct data *d,
                           const struct belt_router_params *p, struct tier_fit *fit,
                           struct belt_error *err)
{
    size_t n_dev = 0;
    for (size_t i = 0; i < d->n; i++)
        n_dev += d->is_dev[i];
    if (n_dev < 10 || d->n - n_dev < 10)
        n_dev = 0; /* too small a split: no early stopping, calibration on train */
    if (!n_dev)
        memset(d->is_dev, 0, d->n);
    for (size_t t = 0; t < r->n_tiers; t++) {
        struct tier_fit *f = &fit[t];
        f->n_dev = n_dev;
        f->n_train = d->n - n_dev;
        size_t pos = 0;
        for (size_t i = 0; i < d->n; i++)
            pos += (size_t)(d->y[t * d->n + i] && (!n_dev || d->is_dev[i]));
        f->base_rate = (double)pos / (double)(n_dev ? n_dev : d->n);
        f->constant = constant_tier(r, d, t);
        if (f->constant)
            continue;
        belt_status st = fit_tier(r, d, t, p, f, err);
        if (st == BELT_OK)
            belt__router_quantize_tier(r, t); /* calibrated as it will predict */
        if (st == BELT_OK && calibrate(r, d, t, p, f) != BELT_OK)
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

/* One training run with the parameters as given: the router (its metrics not yet set) and
 * its metrics (*mout, owned by the caller). *dev_auc: the mean dev AUC of the fitted tiers (NAN
 * without a dev split or a fitted tier), what the search compares. */
static belt_status train_once(const struct belt_router_params *p, const char *const *tier_names,
                              size_t n_tiers, const struct belt_router_example *ex, size_t n,
                              struct belt_router **out, json_t **mout, double *dev_auc,
                              struct belt_error *err)
{
    belt_status st = BELT_OK;
    int64_t t0 = belt_now_us();
    *dev_auc = NAN;
    struct belt_router *r = belt__router_alloc(n_tiers, p->bucket_bits);
    struct tier_fit *fit = belt_calloc(n_tiers, sizeof(*fit));
    struct data d;
    memset(&d, 0, sizeof(d));
    if (!r || !fit) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto fail;
    }
    r->fc = (struct belt__feature_config){p->word_ngrams, p->char_min, p->char_max};
    r->shape = p->shape;
    r->tags = p->tags;
    r->objective = p->objective;
    r->calibration = p->calibration;
    for (size_t t = 0; t < n_tiers; t++) {
        r->names[t] = belt_strdup(tier_names[t]);
        if (!r->names[t]) {
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
            goto fail;
        }
    }
    st = featurise(&d, r, ex, n, p->dev_fraction, err);
    if (st == BELT_OK && labels(&d, ex, n_tiers, p->objective) != BELT_OK)
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    if (st == BELT_OK)
        st = fit_all(r, &d, p, fit, err);
    if (st == BELT_OK && belt__router_pack(r) != BELT_OK)
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t t = 0; st == BELT_OK && t < n_tiers; t++) {
        double sum = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (ex[i].cost_usd && !isnan(ex[i].cost_usd[t])) {
                sum += ex[i].cost_usd[t];
                k++;
            }
        r->cost[t] = k ? sum / (double)k : NAN;
    }
    if (st == BELT_OK) {
        *mout = metrics(r, fit, p, (belt_now_us() - t0) / 1000);
        if (!*mout)
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    double auc_sum = 0;
    int n_auc = 0;
    for (size_t t = 0; st == BELT_OK && t < n_tiers; t++)
        if (!fit[t].constant && fit[t].n_dev > 0 && isfinite(fit[t].auc)) {
            auc_sum += fit[t].auc;
            n_auc++;
        }
    *dev_auc = n_auc ? auc_sum / n_auc : NAN;
fail:
    data_free(&d);
    belt_free(fit);
    if (st != BELT_OK) {
        belt_router_free(r);
        return st;
    }
    *out = r;
    return BELT_OK;
}

/* ---- the search ----------------------------------------------------------------------------- */

#define SEARCH_MAX 6 /* candidates of a search */

/* The candidates of a search, the given parameters first: character n-grams as given or none,
 * times l2 × 1, 10, 30. Returns how many (at most SEARCH_MAX). */
static size_t search_grid(const struct belt_router_params *p, struct belt_router_params *c)
{
    static const double l2_scale[] = {1, 10, 30};
    size_t n = 0;
    for (int nochar = 0; nochar <= (p->char_min > 0); nochar++)
        for (size_t k = 0; k < sizeof(l2_scale) / sizeof(l2_scale[0]); k++) {
            if (p->l2 == 0 && k > 0)
                break; /* no penalty: scaling it changes nothing */
            c[n] = *p;
            c[n].search = 0;
            c[n].l2 = p->l2 * l2_scale[k];
            if (nochar)
                c[n].char_min = c[n].char_max = 0;
            n++;
        }
    return n;
}

/* The search's candidates with their dev AUC, the chosen one marked (NULL: out of memory). */
static json_t *search_json(const struct belt_router_params *c, const double *auc, size_t n,
                           size_t chosen)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *dev_auc = isfinite(auc[i]) ? json_real(auc[i]) : json_null();
        json_t *o =
            json_pack("{s:i, s:i, s:f, s:o, s:b}", "char_min", c[i].char_min, "char_max",
                      c[i].char_max, "l2", c[i].l2, "dev_auc", dev_auc, "chosen", i == chosen);
        if (json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

belt_status belt_router_train(const struct belt_router_params *p, const char *const *tier_names,
                              size_t n_tiers, const struct belt_router_example *ex, size_t n,
                              struct belt_router **out, struct belt_error *err)
{
    struct belt_router_params dp = belt_router_default_params();
    if (!p)
        p = &dp;
    *out = NULL;
    belt_status st = check_params(p, n_tiers, n, err);
    if (st != BELT_OK)
        return st;
    struct belt_router_params cand[SEARCH_MAX];
    double auc[SEARCH_MAX];
    size_t n_cand = p->search ? search_grid(p, cand) : 1, best = 0;
    if (!p->search)
        cand[0] = *p;
    struct belt_router *r = NULL;
    json_t *m = NULL;
    int64_t t0 = belt_now_us();
    for (size_t i = 0; st == BELT_OK && i < n_cand; i++) {
        struct belt_router *ri = NULL;
        json_t *mi = NULL;
        st = train_once(&cand[i], tier_names, n_tiers, ex, n, &ri, &mi, &auc[i], err);
        if (st == BELT_OK && (!r || auc[i] > auc[best])) {
            belt_router_free(r);
            json_decref(m);
            r = ri;
            m = mi;
            best = i;
        } else {
            belt_router_free(ri);
            json_decref(mi);
        }
        if (!isfinite(auc[0]))
            n_cand = 1; /* no dev split to compare on: as given */
    }
    if (st == BELT_OK && p->search) { /* train_ms: the whole search, not the kept run alone */
        json_t *sj = search_json(cand, auc, n_cand, best);
        if (!sj || json_object_set_new(m, "search", sj) != 0 || /* set_new frees sj on failure */
            json_object_set_new(m, "train_ms", json_integer((belt_now_us() - t0) / 1000)) != 0)
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    if (st == BELT_OK && !(r->metrics_json = belt_json_dumps(m, JSON_COMPACT)))
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    json_decref(m);
    if (st != BELT_OK) {
        belt_router_free(r);
        return st;
    }
    *out = r;
    return BELT_OK;
}
