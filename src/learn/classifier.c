/*
 * classifier.c — prediction and accessors of struct belt_classifier (layout in classifier.h).
 * Prediction streams the features of the text straight into per-block score accumulators, so
 * it allocates nothing for models of up to STACK_LABELS labels.
 */
#include "belt_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/classifier.h"
#include "util/error.h"

#define STACK_LABELS 4096 /* models with more labels use a heap scratch per prediction */

#define BATCH        32 /* features looked up together, so their memory loads overlap */

/* Accumulation state of one prediction. */
struct acc_state {
    const struct belt_classifier *c; /* model */
    float *acc[BELT__FEAT_N_KINDS];  /* per-block sums of weight rows, n_labels each */
    uint64_t hash[BATCH];            /* pending features */
    uint8_t kind[BATCH];             /* their kinds */
    int n;                           /* pending count */
};

/* acc += row (float weights). Plain loop: vectorised by the compiler. */
BELT__VECTORIZE static void add_row_f32(float *restrict acc, const float *restrict row, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] += row[i];
}

/* acc += scale * row (8-bit weights). */
BELT__VECTORIZE static void add_row_q8(float *restrict acc, const int8_t *restrict row, float scale,
                                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] += scale * (float)row[i];
}

static inline void prefetch(const void *p)
{
#if defined(__GNUC__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

/* Look up the pending features and add their rows. Three passes (prefetch the slots, find the
 * rows and prefetch them, add) so the cache misses of a batch overlap instead of queueing. */
static void flush(struct acc_state *a)
{
    const struct belt_classifier *c = a->c;
    const size_t L = c->n_labels;
    const uint32_t mask = c->n_slots - 1;
    int32_t rows[BATCH];
    for (int i = 0; i < a->n; i++)
        prefetch(&c->slots[(uint32_t)a->hash[i] & mask]);
    for (int i = 0; i < a->n; i++) {
        const struct belt__clf_slot *s = belt__clf_find(c, a->hash[i]);
        rows[i] = s ? (int32_t)s->row : -1;
        if (s)
            prefetch(c->q8 ? (const void *)(c->wq + (size_t)s->row * L)
                           : (const void *)(c->w + (size_t)s->row * L));
    }
    for (int i = 0; i < a->n; i++) {
        if (rows[i] < 0)
            continue;
        const size_t r = (size_t)rows[i];
        if (c->q8)
            add_row_q8(a->acc[a->kind[i]], c->wq + r * L, c->wscale[r], L);
        else
            add_row_f32(a->acc[a->kind[i]], c->w + r * L, L);
    }
    a->n = 0;
}

static void on_feature(void *ud, uint64_t hash, enum belt__feature_kind kind)
{
    struct acc_state *a = ud;
    a->hash[a->n] = hash;
    a->kind[a->n] = (uint8_t)kind;
    if (++a->n == BATCH)
        flush(a);
}

belt_status belt__clf_logits(const struct belt_classifier *c, const char *text, size_t len,
                             float *logits, float *scratch, struct belt_error *err)
{
    const size_t L = c->n_labels;
    struct acc_state a;
    a.c = c;
    a.acc[0] = logits;
    a.acc[1] = scratch;
    a.n = 0;
    memset(logits, 0, L * sizeof(float));
    memset(scratch, 0, L * sizeof(float));
    size_t n_kind[BELT__FEAT_N_KINDS];
    belt_status st = belt__features_each(&c->fc, text, len, on_feature, &a, n_kind, err);
    if (st != BELT_OK)
        return st;
    flush(&a);
    const float s0 = belt__features_block_scale(n_kind[0], c->block_weight[0]);
    const float s1 = belt__features_block_scale(n_kind[1], c->block_weight[1]);
    for (size_t i = 0; i < L; i++)
        logits[i] = c->bias[i] + s0 * logits[i] + s1 * scratch[i];
    return BELT_OK;
}

void belt__softmax(float *x, size_t n, double temperature)
{
    const float inv_t = (float)(1.0 / temperature);
    float mx = x[0];
    for (size_t i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf((x[i] - mx) * inv_t);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

/* Insert (i, p) into the descending top list of k entries (n used). */
static void top_insert(struct belt_label_prob *top, int *n, int k, int i, double p)
{
    int pos = *n < k ? *n : k - 1;
    if (*n == k && p <= top[k - 1].prob)
        return;
    while (pos > 0 && top[pos - 1].prob < p) {
        top[pos] = top[pos - 1];
        pos--;
    }
    top[pos].index = i;
    top[pos].prob = p;
    if (*n < k)
        (*n)++;
}

static void fill_prediction(const struct belt_classifier *c, const float *p,
                            const struct belt_predict_params *pp, struct belt_prediction *out)
{
    int k = pp->top_k < 1 ? 1 : pp->top_k;
    if (k > BELT_CLASSIFIER_MAX_TOP_K)
        k = BELT_CLASSIFIER_MAX_TOP_K;
    if ((uint32_t)k > c->n_labels)
        k = (int)c->n_labels;
    int n = 0;
    for (uint32_t i = 0; i < c->n_labels; i++)
        top_insert(out->top, &n, k, (int)i, p[i]);
    for (int i = 0; i < n; i++)
        out->top[i].label = c->labels[out->top[i].index];
    out->index = out->top[0].index;
    out->confidence = out->top[0].prob;
    out->abstained = out->confidence < pp->threshold;
    out->label = out->abstained ? BELT_CLASSIFIER_ABSTAIN : out->top[0].label;
    out->n_top = pp->top_k < 1 ? 0 : n;
}

struct belt_predict_params belt_predict_default_params(void)
{
    struct belt_predict_params p = {0.0, 1};
    return p;
}

belt_status belt_classifier_predict(const struct belt_classifier *c, const char *text, size_t len,
                                    const struct belt_predict_params *pp,
                                    struct belt_prediction *out, struct belt_error *err)
{
    struct belt_predict_params dflt = belt_predict_default_params();
    if (!pp)
        pp = &dflt;
    memset(out, 0, sizeof(*out));
    const size_t L = c->n_labels;
    float stack[2 * STACK_LABELS];
    float *buf = stack;
    if (L > STACK_LABELS) {
        buf = belt_malloc(2 * L * sizeof(float));
        if (!buf)
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "predict: out of memory");
    }
    belt_status st = belt__clf_logits(c, text, len, buf, buf + L, err);
    if (st == BELT_OK) {
        belt__softmax(buf, L, c->temperature);
        fill_prediction(c, buf, pp, out);
    }
    if (buf != stack)
        belt_free(buf);
    return st;
}

/* ---- Accessors ------------------------------------------------------------------------- */

size_t belt_classifier_n_labels(const struct belt_classifier *c)
{
    return c->n_labels;
}

const char *belt_classifier_label(const struct belt_classifier *c, size_t i)
{
    return i < c->n_labels ? c->labels[i] : NULL;
}

struct name_idx {
    const char *name; /* label name */
    uint32_t idx;     /* its index */
};

static int cmp_name_idx(const void *a, const void *b)
{
    return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

belt_status belt__clf_index_labels(struct belt_classifier *c)
{
    struct name_idx *tmp = belt_malloc(c->n_labels * sizeof(*tmp));
    uint32_t *order = belt_malloc(c->n_labels * sizeof(*order));
    if (!tmp || !order) {
        belt_free(tmp);
        belt_free(order);
        return BELT_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < c->n_labels; i++) {
        tmp[i].name = c->labels[i];
        tmp[i].idx = i;
    }
    qsort(tmp, c->n_labels, sizeof(*tmp), cmp_name_idx);
    for (uint32_t i = 0; i < c->n_labels; i++)
        order[i] = tmp[i].idx;
    belt_free(tmp);
    belt_free(c->label_order);
    c->label_order = order;
    return BELT_OK;
}

int belt_classifier_label_index(const struct belt_classifier *c, const char *label)
{
    size_t lo = 0, hi = c->n_labels;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->labels[c->label_order[mid]], label);
        if (r == 0)
            return (int)c->label_order[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *belt_classifier_metadata_json(const struct belt_classifier *c)
{
    return c->meta_json ? c->meta_json : "{}";
}

double belt_classifier_temperature(const struct belt_classifier *c)
{
    return c->temperature;
}

double belt_classifier_dev_threshold(const struct belt_classifier *c)
{
    return c->dev_threshold;
}

int belt_classifier_quantized(const struct belt_classifier *c)
{
    return c->q8;
}

void belt_classifier_free(struct belt_classifier *c)
{
    if (!c)
        return;
    if (c->mapped)
        belt_file_unmap(&c->map);
    belt_free((void *)c->label_blob);
    belt_free(c->labels);
    belt_free(c->label_order);
    belt_free(c->meta_json);
    belt_free(c->heap);
    belt_free(c);
}
