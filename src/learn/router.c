/*
 * router.c — the learned router (belt.h, router.h): per tier, a logistic model over hashed
 * word/character n-grams (plus, on request, a few shape features: bucketed counts and the edge
 * tokens of the text) trained with AdaGrad and L2, early-stopped on a dev split carved by a
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
    p.shape = 0;
    p.tags = 0;
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
        r->qscale[i] = 1;
    }
    return r;
}

void belt__router_quantize_tier(struct belt_router *r, size_t t)
{
    size_t nb = (size_t)r->mask + 1;
    float m = 0;
    for (size_t b = 0; b < nb; b++)
        m = fmaxf(m, fabsf(r->w[b * r->n_tiers + t]));
    int e = 0;
    if (m > 0) /* the smallest power of two with m / 2^e <= 127 (log2 may round down: the
                  loop makes sure) */
        e = (int)ceil(log2((double)m / 127.0));
    while (m > 0 && ldexp(127.0, e) < (double)m)
        e++;
    double scale = ldexp(1.0, e);
    r->qscale[t] = (float)scale;
    for (size_t b = 0; b < nb; b++) {
        float *w = &r->w[b * r->n_tiers + t];
        double q = nearbyint((double)*w / scale); /* |q| <= 127 by the choice of e */
        *w = (float)(q * scale);
    }
}

belt_status belt__router_pack(struct belt_router *r)
{
    size_t n = ((size_t)r->mask + 1) * r->n_tiers;
    int8_t *q = belt_malloc(n ? n : 1);
    if (!q)
        return BELT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        q[i] = (int8_t)lrint((double)r->w[i] / r->qscale[i % r->n_tiers]);
    belt_free(r->q);
    r->q = q;
    belt_free(r->w);
    r->w = NULL;
    return BELT_OK;
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
    belt_free(r->q);
    belt_free(r->bias);
    belt_free(r->calib);
    belt_free(r->metrics_json);
    belt_free(r);
}

/* ---- shape features ------------------------------------------------------------------------- */

/* Salt of the shape features' hash space. Changing it, or what a measure counts, changes every
 * router: it is part of the router file format. */
#define SALT_SHAPE 0xD6E8FEB86659FD93ULL

/* Bucket of a count on a log scale: 0 | 1-2 | 3-6 | 7-14 | 15-30 | ... (at most `cap`). */
static unsigned log_bucket(size_t n, unsigned cap)
{
    unsigned b = 0;
    while (n > 0 && b < cap) {
        b++;
        n = (n - 1) >> 1;
    }
    return b;
}

static void emit_shape(belt__router_shape_fn *fn, void *ud, unsigned what, uint64_t value)
{
    fn(ud, belt_mix64(SALT_SHAPE + ((uint64_t)what << 56) + value) | 1);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Bytes of an answer-option label ("A." .. "J.", "A)" or "(A)") at the start of a line, else 0. */
static size_t option_label(const char *s, size_t left)
{
    if (left >= 2 && s[0] >= 'A' && s[0] <= 'J' && (s[1] == '.' || s[1] == ')'))
        return 2;
    if (left >= 3 && s[0] == '(' && s[1] >= 'A' && s[1] <= 'J' && s[2] == ')')
        return 3;
    return 0;
}

static int is_op(unsigned char c)
{
    switch (c) {
    case '+':
    case '-':
    case '*':
    case '/':
    case '=':
    case '^':
    case '<':
    case '>':
    case '%':
    case '$':
        return 1;
    default:
        return 0;
    }
}

/* Hash of the first (which 0), last (1) or last two (2) white-space-separated tokens, ASCII
 * letters lower-cased and each run of digits read as one '0' (at most 64 bytes read). */
static uint64_t edge_tokens(const char *text, size_t len, int which)
{
    size_t b = 0, e = len;
    if (which == 0) {
        while (b < len && is_space((unsigned char)text[b]))
            b++;
        for (e = b; e < len && !is_space((unsigned char)text[e]);)
            e++;
    } else {
        while (e > 0 && is_space((unsigned char)text[e - 1]))
            e--;
        b = e;
        for (int n = which; n > 0 && b > 0; n--) {
            while (b > 0 && is_space((unsigned char)text[b - 1]))
                b--;
            while (b > 0 && !is_space((unsigned char)text[b - 1]))
                b--;
        }
    }
    uint64_t h = BELT_FNV_OFFSET;
    for (size_t i = b; i < e && i < b + 64; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_digit(c) && i > b && is_digit((unsigned char)text[i - 1]))
            continue;
        if (is_digit(c))
            c = '0';
        else if (is_space(c))
            c = ' ';
        else if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c | 0x20);
        h = belt_fnv1a(h, &c, 1);
    }
    return h;
}

void belt__router_shape_each(const char *text, size_t len, belt__router_shape_fn *fn, void *ud)
{
    size_t n_words = 0, n_numbers = 0, n_ops = 0, n_lines = 0, n_questions = 0;
    size_t n_options = 0, option_words = 0, numeric_options = 0, stem_words = 0;
    for (size_t i = 0; i < len;) { /* one line per turn; an option's label is not counted */
        size_t label = option_label(text + i, len - i), words = 0;
        int in_word = 0, digits = 0, letters = 0;
        for (i += label; i < len && text[i] != '\n'; i++) {
            unsigned char c = (unsigned char)text[i];
            if (is_space(c)) {
                in_word = 0;
                continue;
            }
            words += !in_word;
            in_word = 1;
            if (is_digit(c)) {
                n_numbers += i == 0 || !is_digit((unsigned char)text[i - 1]);
                digits = 1;
            } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
                letters = 1;
            } else {
                n_ops += is_op(c);
                n_questions += c == '?';
            }
        }
        i += i < len; /* the newline */
        n_lines++;
        n_words += words;
        if (label) {
            n_options++;
            option_words += words;
            numeric_options += digits && !letters;
        } else if (!n_options) {
            stem_words += words;
        }
    }
    emit_shape(fn, ud, 1, log_bucket(n_words, 12));
    emit_shape(fn, ud, 2, log_bucket(n_numbers, 8));
    emit_shape(fn, ud, 3, log_bucket(n_ops, 8));
    emit_shape(fn, ud, 4, BELT_MIN(n_options, 10));
    emit_shape(fn, ud, 5, log_bucket(stem_words, 12));
    emit_shape(fn, ud, 6, log_bucket(n_options ? option_words / n_options : 0, 8));
    emit_shape(fn, ud, 7, BELT_MIN(numeric_options, 10));
    emit_shape(fn, ud, 8, log_bucket(n_questions, 4));
    emit_shape(fn, ud, 9, log_bucket(n_lines, 8));
    emit_shape(fn, ud, 10, log_bucket(stem_words, 12) * 16 + log_bucket(n_numbers, 8));
    emit_shape(fn, ud, 11, edge_tokens(text, len, 0));
    emit_shape(fn, ud, 12, edge_tokens(text, len, 1));
    emit_shape(fn, ud, 13, edge_tokens(text, len, 2));
}

/* ---- tag features --------------------------------------------------------------------------- */

/* Salt of the tag features' hash space (part of the file format, like SALT_SHAPE). */
#define SALT_TAG 0x9E6C63D0676A9A99ULL

void belt__router_tag_each(const char *const *tags, size_t n_tags, belt__router_shape_fn *fn,
                           void *ud)
{
    size_t n = BELT_MIN(n_tags, (size_t)BELT_ROUTER_MAX_TAGS);
    for (size_t i = 0; tags && i < n; i++) {
        if (!tags[i])
            continue;
        size_t j = 0;
        while (j < i && (!tags[j] || strcmp(tags[j], tags[i]) != 0))
            j++;
        if (j == i) /* a repeated tag counts once */
            fn(ud, belt_mix64(belt_fnv1a(SALT_TAG, tags[i], strlen(tags[i]))) | 1);
    }
}

/* ---- prediction ----------------------------------------------------------------------------- */

/* Per-kind sums of every tier's 8-bit weights, scaled once the kind's count is known (exact:
 * the float weights they stand for are integers times a power of two). */
struct score_acc {
    const struct belt_router *r;                                 /* the router */
    int64_t sum[BELT__FEAT_N_KINDS + 2][BELT__ROUTER_MAX_TIERS]; /* per kind, shape, tags */
    size_t n_extra[2];                                           /* shape, tag features seen */
    int block;                                                   /* 0: shape, 1: tags */
};

static void score_feature(void *ud, uint64_t hash, enum belt__feature_kind kind)
{
    struct score_acc *a = ud;
    const struct belt_router *r = a->r;
    const int8_t *q = &r->q[(size_t)(hash & r->mask) * r->n_tiers];
    for (size_t t = 0; t < r->n_tiers; t++)
        a->sum[kind][t] += q[t];
}

static void score_block(void *ud, uint64_t hash)
{
    struct score_acc *a = ud;
    const struct belt_router *r = a->r;
    const int8_t *q = &r->q[(size_t)(hash & r->mask) * r->n_tiers];
    for (size_t t = 0; t < r->n_tiers; t++)
        a->sum[BELT__FEAT_N_KINDS + a->block][t] += q[t];
    a->n_extra[a->block]++;
}

belt_status belt__router_scores(const struct belt_router *r, const char *text, size_t len,
                                const char *const *tags, size_t n_tags, double *s,
                                struct belt_error *err)
{
    struct score_acc a;
    a.r = r;
    a.n_extra[0] = a.n_extra[1] = 0;
    a.block = 0;
    memset(a.sum, 0, sizeof(a.sum));
    size_t n_kind[BELT__FEAT_N_KINDS] = {0};
    belt_status st = belt__features_each(&r->fc, text, len, score_feature, &a, n_kind, err);
    if (st != BELT_OK)
        return st;
    if (r->shape)
        belt__router_shape_each(text, len, score_block, &a);
    a.block = 1;
    if (r->tags)
        belt__router_tag_each(tags, n_tags, score_block, &a);
    for (size_t t = 0; t < r->n_tiers; t++) {
        double z = r->bias[t], qs = r->qscale[t];
        for (int k = 0; k < BELT__FEAT_N_KINDS; k++)
            z += (double)a.sum[k][t] * qs * belt__features_block_scale(n_kind[k], 1.0);
        for (int k = 0; k < 2; k++)
            z += (double)a.sum[BELT__FEAT_N_KINDS + k][t] * qs *
                 belt__features_block_scale(a.n_extra[k], 1.0);
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
    return belt_router_predict_tagged(r, text, len, NULL, 0, p, n, err);
}

int belt_router_uses_tags(const struct belt_router *r)
{
    return r->tags;
}

belt_status belt_router_predict_tagged(const struct belt_router *r, const char *text, size_t len,
                                       const char *const *tags, size_t n_tags, double *p, size_t n,
                                       struct belt_error *err)
{
    if (n != r->n_tiers)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "the router has %zu tiers, %zu probabilities asked", r->n_tiers, n);
    double s[BELT__ROUTER_MAX_TIERS];
    belt_status st = belt__router_scores(r, text, len, tags, n_tags, s, err);
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
