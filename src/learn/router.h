/*
 * router.h — the learned router's in-memory layout (public API in belt.h: belt_router_*).
 *
 * A router holds, per tier (model, cheapest first), a logistic model over hashed text features
 * (learn/features.h) and, when trained with them, the router's own shape features
 * (belt__router_shape_each(), a third block hashed into the same table), and a calibration map
 * from its score to a probability. The weights of all tiers are interleaved by bucket
 * (q[bucket * n_tiers + tier]) so that one pass over a text's features scores every tier.
 * They are kept as 8-bit integers times a per-tier power of two (qscale): a quarter of the
 * float table, so the ~1,600 random lookups of a 500-byte text mostly hit the cache (the
 * decision is memory-bound); a trained tier is put on that grid before its calibration is
 * fitted, and files keep float32 values that lie on it, so save and load round-trip exactly.
 * Prediction allocates nothing and is thread-safe.
 *
 * Files (router_file.c): magic "BELTRTR\x1a", format version, 64-byte header with a BLAKE2b-256
 * checksum of everything else, then sections META (JSON), WEIGHTS, BIAS, CALIB.
 */
#ifndef BELT_LEARN_ROUTER_H
#define BELT_LEARN_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "learn/features.h"

#define BELT__ROUTER_MAX_TIERS 16
#define BELT__ROUTER_N_SHAPE   13 /* shape features per text */

/* Score → probability for one tier. */
struct belt__router_calib {
    double a, b; /* Platt: p = sigmoid(a·s + b) (used when n == 0) */
    size_t n;    /* isotonic: breakpoints (0 = Platt) */
    double *x;   /* isotonic: scores, increasing (owned) */
    double *y;   /* isotonic: probabilities, non-decreasing (owned) */
};

struct belt_router {
    size_t n_tiers;                       /* tiers, cheapest first */
    char **names;                         /* tier (model) names (owned) */
    double *cost;                         /* mean cost per task in the training data, NAN */
    struct belt__feature_config fc;       /* feature extraction */
    int bucket_bits;                      /* 2^bucket_bits hashed rows */
    uint64_t mask;                        /* (1 << bucket_bits) - 1 */
    float *w;                             /* training only: n_buckets × n_tiers floats (owned) */
    int8_t *q;                            /* n_buckets × n_tiers, interleaved (owned) */
    float qscale[BELT__ROUTER_MAX_TIERS]; /* weight = q × qscale[tier], a power of two */
    float *bias;                          /* n_tiers (owned) */
    struct belt__router_calib *calib;     /* n_tiers (owned) */
    int shape;                            /* 1: shape features too (belt__router_shape_each) */
    int tags;                             /* 1: the task's tags too (belt__router_tag_each) */
    int objective;                        /* enum belt_router_objective */
    int calibration;                      /* enum belt_router_calibration */
    char *metrics_json;                   /* training figures (owned) */
};

/* An empty router for n tiers with float weights allocated (zeroed), for training or
 * loading. NULL on OOM. */
struct belt_router *belt__router_alloc(size_t n_tiers, int bucket_bits);
/* Put tier t's float weights on the 8-bit grid (in place; sets qscale[t]). */
void belt__router_quantize_tier(struct belt_router *r, size_t t);
/* Move the (quantized) float weights into q and free them; BELT_ERR_NOMEM. */
belt_status belt__router_pack(struct belt_router *r);

/* Raw scores (logits) of every tier for a text with its tags (read when r->tags), into
 * s[0..n_tiers). */
belt_status belt__router_scores(const struct belt_router *r, const char *text, size_t len,
                                const char *const *tags, size_t n_tags, double *s,
                                struct belt_error *err);

/* Receives one shape feature's hash (never 0). */
typedef void belt__router_shape_fn(void *ud, uint64_t hash);

/* The router's shape features of text[0..len): what the hashed n-grams cannot see — how long the
 * text is and how it is laid out. Exactly BELT__ROUTER_N_SHAPE features, one per measure, each
 * the hash of the measure and its (log-)bucketed value: words; numbers (digit runs); operators
 * (+ - * / = ^ < > % $); answer options (lines starting "A." .. "J.", "A)" or "(A)"); words before
 * the first option; mean words per option; options that are numbers only; question marks; lines;
 * words before the options × numbers; and the first, the last and the last two tokens (split on
 * white space, letters lower-cased, digit runs read as one '0': "#### 64" and "#### 7" agree).
 * Byte-level: any bytes are accepted. No allocation; thread-safe. */
void belt__router_shape_each(const char *text, size_t len, belt__router_shape_fn *fn, void *ud);

/* The tag features of a task: one hash per distinct tag (exact bytes), the first
 * BELT_ROUTER_MAX_TAGS tags only; a block of its own, like the shape features. */
void belt__router_tag_each(const char *const *tags, size_t n_tags, belt__router_shape_fn *fn,
                           void *ud);

/* Calibrated probability of score s. */
double belt__router_calibrate(const struct belt__router_calib *c, double s);

/* Objective names ("correct", "sufficient"), NULL-terminated. */
extern const char *const belt__router_objective_names[];

#endif
