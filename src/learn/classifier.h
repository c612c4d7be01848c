/*
 * classifier.h — internal layout of struct belt_classifier (public API in belt.h), shared by
 * the trainer (train.c), the model file code (model_file.c) and prediction (classifier.c).
 *
 * A model is a linear softmax over hashed features:
 *   logits[l] = bias[l] + sum over blocks k of scale_k * sum_{f in block k} W[row(f)][l]
 *   p = softmax(logits / temperature)
 * where row(f) comes from an open-addressing table of feature hashes (features not in the table
 * are ignored) and scale_k = block_weight_k / sqrt(number of features of kind k in the text).
 * Weights are float32, or int8 with one float scale per row. Everything the model needs at
 * prediction time is in plain arrays, so a loaded model points straight into its file mapping.
 *
 * Immutable once built: every function here that takes a const model is thread-safe.
 */
#ifndef BELT_LEARN_CLASSIFIER_H
#define BELT_LEARN_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "learn/features.h"
#include "util/fileio.h"

/* Hot inner loops (row additions) are compiled with vectorisation even in -O2 builds. */
#if defined(__GNUC__) && !defined(__clang__)
#define BELT__VECTORIZE __attribute__((optimize("O3")))
#else
#define BELT__VECTORIZE
#endif

/* One slot of the feature table (16 bytes, so a probe touches one cache line). */
struct belt__clf_slot {
    uint64_t key; /* feature hash; 0 = empty slot */
    uint32_t row; /* weight row of the feature */
    uint32_t pad; /* 0 */
};

struct belt_classifier {
    struct belt__feature_config fc;         /* feature extraction */
    float block_weight[BELT__FEAT_N_KINDS]; /* weight of each feature block */
    uint32_t n_labels;                      /* labels (>= 2) */
    const char **labels;                    /* n_labels names; point into label_blob */
    const char *label_blob;                 /* NUL-separated names (owned or mapped) */
    uint32_t *label_order;                  /* label indices sorted by name (lookup); owned */
    uint32_t n_rows;                        /* feature rows */
    uint32_t n_slots;                       /* table size, a power of two > n_rows */
    const struct belt__clf_slot *slots;     /* n_slots entries */
    int q8;                                 /* 1: wq + wscale, 0: w */
    const float *w;                         /* n_rows * n_labels float weights, row-major */
    const int8_t *wq;                       /* n_rows * n_labels 8-bit weights */
    const float *wscale;                    /* n_rows scales: weight = wq * wscale */
    const float *bias;                      /* n_labels */
    double temperature;                     /* softmax temperature (> 0) */
    double dev_threshold;                   /* confidence reaching target accuracy on dev, or -1 */
    char *meta_json;                        /* metadata JSON; owned */
    void *heap;                             /* arrays of a trained model (one block); owned */
    struct belt_mapped_file map;            /* the file of a loaded model */
    int mapped;                             /* map is in use */
};

/* Slot of `key` or NULL (the table always has an empty slot, so probing terminates). */
static inline const struct belt__clf_slot *belt__clf_find(const struct belt_classifier *c,
                                                          uint64_t key)
{
    const uint32_t mask = c->n_slots - 1;
    for (uint32_t i = (uint32_t)key & mask;; i = (i + 1) & mask) {
        const struct belt__clf_slot *s = &c->slots[i];
        if (s->key == key)
            return s;
        if (s->key == 0)
            return NULL;
    }
}

/* Fill label_order from labels (after labels are set). BELT_ERR_NOMEM. */
belt_status belt__clf_index_labels(struct belt_classifier *c);

/* Raw scores of a text: logits[0..n_labels) (before temperature). scratch must hold
 * 2 * n_labels floats. Errors: BELT_ERR_INVALID (not UTF-8). */
belt_status belt__clf_logits(const struct belt_classifier *c, const char *text, size_t len,
                             float *logits, float *scratch, struct belt_error *err);

/* In-place softmax of x[0..n) / temperature (max-subtracted, so never overflows). */
void belt__softmax(float *x, size_t n, double temperature);

/* Temperature minimising the negative log-likelihood of gold labels under
 * softmax(logits / T), for logits of n items x n_labels (row-major); golden-section search on
 * log T in [0.05, 20]. Returns 1 when n == 0. */
double belt__calib_fit_temperature(const float *logits, const int *gold, size_t n, size_t n_labels);

/* Mean negative log-likelihood at temperature T (the objective above). */
double belt__calib_nll(const float *logits, const int *gold, size_t n, size_t n_labels,
                       double temperature);

#endif
