/*
 * train.c — belt_classifier_train(): from labelled texts to a calibrated linear softmax.
 *
 * Pipeline: collect labels → carve a stratified dev split (unless one is given) → extract the
 * features of every training text → keep features seen in >= min_count texts (at most
 * max_features, most frequent first) and give each a weight row → turn every example into a
 * sparse vector (row, value), each feature block scaled to unit norm → SGD on the softmax
 * cross-entropy, Hogwild-style over `threads` pthreads (lock-free updates of the shared weight
 * matrix; only the labels whose gradient is not negligible are touched), learning rate decaying
 * linearly to zero → after each epoch, accuracy on dev; the best epoch's weights are kept and
 * training stops after `patience` epochs without progress → temperature fitted on dev → dev
 * metrics (accuracy, macro-F1, ECE, threshold reaching target_accuracy) into the metadata.
 *
 * The main data structure is `struct sparse_set`: examples in CSR form.
 */
#include "belt_config.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "learn/classifier.h"
#include "learn/features.h"
#include "learn/train.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/utf8.h"

#define MAX_LABELS   65535
#define GRAD_EPSILON 1e-4f /* label gradients smaller than this are not applied */

/* Examples as sparse vectors (CSR). */
struct sparse_set {
    size_t n;      /* examples */
    size_t *off;   /* n + 1 offsets into row/val */
    uint32_t *row; /* weight rows */
    float *val;    /* feature values */
    int *gold;     /* label index of each example */
};

/* Everything one training run owns. */
struct trainer {
    struct belt_classifier_params p;        /* effective parameters */
    struct belt__feature_config fc;         /* feature config */
    float block_weight[BELT__FEAT_N_KINDS]; /* block weights */
    size_t n_labels;                        /* labels */
    char **labels;                          /* sorted label names; owned */
    const struct belt_example **tr;         /* training examples (borrowed) */
    int *tr_gold;                           /* their labels */
    size_t n_tr;                            /* count */
    const struct belt_example **dv;         /* dev examples (borrowed) */
    int *dv_gold;                           /* their labels */
    size_t n_dv;                            /* count */
    int dev_carved;                         /* 0 given, 1 carved from train, 2 = train itself */
    uint64_t *vocab;                        /* kept feature hashes, sorted; row = position; owned */
    uint32_t n_rows;                        /* kept features */
    struct belt__clf_slot *slots;           /* hash table over vocab; owned */
    uint32_t n_slots;                       /* power of two */
    struct sparse_set train, dev;           /* vectors */
    float *w;                               /* n_rows * n_labels working weights; owned */
    float *b;                               /* n_labels working bias; owned */
    float *best_w, *best_b;                 /* best epoch's weights (inside the model block) */
    int best_epoch, epochs_run;             /* bookkeeping */
    double best_acc, best_loss;             /* dev accuracy / loss at best_epoch */
    int64_t t0_us;                          /* start time */
};

/* ---- Labels ---------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int label_of(const struct trainer *t, const char *name)
{
    size_t lo = 0, hi = t->n_labels;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(t->labels[mid], name);
        if (r == 0)
            return (int)mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Sorted distinct labels of train; checks texts and labels of train and dev. */
static belt_status collect_labels(struct trainer *t, const struct belt_example *train, size_t n,
                                  struct belt_error *err)
{
    const char **all = belt_malloc(n * sizeof(*all));
    if (!all)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++)
        all[i] = train[i].label;
    qsort(all, n, sizeof(*all), cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(all[u - 1], all[i]) != 0)
            all[u++] = all[i];
    belt_status st = BELT_OK;
    if (u < 2)
        st = belt__error_set(err, BELT_ERR_INVALID, 0,
                             "training data has a single label ('%s'): need at least two", all[0]);
    else if (u > MAX_LABELS)
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "too many labels (%zu > %d)", u, MAX_LABELS);
    if (st == BELT_OK) {
        t->labels = belt_calloc(u, sizeof(char *));
        if (!t->labels)
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        for (size_t i = 0; st == BELT_OK && i < u; i++) {
            t->labels[i] = belt_strdup(all[i]);
            if (!t->labels[i])
                st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
            t->n_labels = i + 1;
        }
    }
    belt_free(all);
    return st;
}

static int utf8_ok(const char *s, size_t *bad)
{
    return belt_utf8_valid(s, strlen(s), bad);
}

static belt_status check_examples(const struct belt_example *ex, size_t n, const char *what,
                                  struct belt_error *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t bad = 0;
        if (!ex[i].text || !ex[i].label)
            return belt__error_set(err, BELT_ERR_INVALID, 0, "%s example %zu: missing %s", what,
                                   i + 1, ex[i].text ? "label" : "text");
        if (!ex[i].label[0])
            return belt__error_set(err, BELT_ERR_INVALID, 0, "%s example %zu: empty label", what,
                                   i + 1);
        if (!utf8_ok(ex[i].text, &bad))
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "%s example %zu: text is not UTF-8 (byte %zu)", what, i + 1,
                                   bad + 1);
        if (!utf8_ok(ex[i].label, &bad))
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "%s example %zu: label is not UTF-8 (byte %zu)", what, i + 1,
                                   bad + 1);
    }
    return BELT_OK;
}

/* ---- Dev split ------------------------------------------------------------------------- */

size_t belt__split_stratified(const int *gold, size_t n, size_t n_labels, double fraction,
                              uint64_t seed, unsigned char *is_dev)
{
    size_t *count = belt_calloc(n_labels + 1, sizeof(size_t));
    size_t *idx = belt_malloc((n ? n : 1) * sizeof(size_t));
    if (!count || !idx) {
        belt_free(count);
        belt_free(idx);
        return (size_t)-1;
    }
    /* Bucket the items by label (counting sort keeps the input order inside a label). */
    for (size_t i = 0; i < n; i++)
        count[gold[i] + 1]++;
    for (size_t l = 0; l < n_labels; l++)
        count[l + 1] += count[l];
    for (size_t i = 0; i < n; i++)
        idx[count[gold[i]]++] = i;
    struct belt_rng rng;
    belt_rng_seed(&rng, seed);
    memset(is_dev, 0, n);
    size_t n_dev = 0, start = 0;
    for (size_t l = 0; l < n_labels; l++) {
        size_t end = count[l], m = end - start;
        if (m >= 2) {
            size_t k = (size_t)floor(fraction * (double)m + 0.5);
            k = BELT_MAX(k, (size_t)1);
            k = BELT_MIN(k, m - 1);
            belt_rng_shuffle(&rng, idx + start, m, sizeof(size_t));
            for (size_t j = 0; j < k; j++)
                is_dev[idx[start + j]] = 1;
            n_dev += k;
        }
        start = end;
    }
    belt_free(count);
    belt_free(idx);
    return n_dev;
}

/* Fill t->tr / t->dv (and gold labels) from the inputs, carving dev when none is given. */
static belt_status make_splits(struct trainer *t, const struct belt_example *train, size_t n,
                               const struct belt_example *dev, size_t n_dev, struct belt_error *err)
{
    int *gold = belt_malloc(n * sizeof(int));
    unsigned char *is_dev = belt_calloc(n, 1);
    t->tr = belt_malloc(n * sizeof(*t->tr));
    t->tr_gold = belt_malloc(n * sizeof(int));
    t->dv = belt_malloc((n_dev ? n_dev : n) * sizeof(*t->dv));
    t->dv_gold = belt_malloc((n_dev ? n_dev : n) * sizeof(int));
    belt_status st = BELT_OK;
    if (!gold || !is_dev || !t->tr || !t->tr_gold || !t->dv || !t->dv_gold) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        gold[i] = label_of(t, train[i].label);
    if (n_dev == 0) {
        size_t k =
            belt__split_stratified(gold, n, t->n_labels, t->p.dev_fraction, t->p.seed, is_dev);
        if (k == (size_t)-1) {
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
            goto done;
        }
        t->dev_carved = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_dev[i]) {
            t->dv[t->n_dv] = &train[i];
            t->dv_gold[t->n_dv++] = gold[i];
        } else {
            t->tr[t->n_tr] = &train[i];
            t->tr_gold[t->n_tr++] = gold[i];
        }
    }
    for (size_t i = 0; i < n_dev; i++) {
        int g = label_of(t, dev[i].label);
        if (g < 0) {
            st = belt__error_set(err, BELT_ERR_INVALID, 0,
                                 "dev example %zu: label '%s' does not occur in the training data",
                                 i + 1, dev[i].label);
            goto done;
        }
        t->dv[t->n_dv] = &dev[i];
        t->dv_gold[t->n_dv++] = g;
    }
    if (t->n_dv == 0) { /* too small to carve: select on the training data itself */
        for (size_t i = 0; i < t->n_tr; i++) {
            t->dv[i] = t->tr[i];
            t->dv_gold[i] = t->tr_gold[i];
        }
        t->n_dv = t->n_tr;
        t->dev_carved = 2;
    }
done:
    belt_free(gold);
    belt_free(is_dev);
    return st;
}

/* ---- Vocabulary -------------------------------------------------------------------------- */

/* Open-addressing counter of feature hashes (document frequency). */
struct df_table {
    uint64_t *key; /* 0 = empty */
    uint32_t *cnt; /* texts containing the key */
    size_t cap;    /* power of two */
    size_t n;      /* keys stored */
};

static belt_status df_grow(struct df_table *d)
{
    size_t cap = d->cap ? d->cap * 2 : 1u << 16;
    uint64_t *key = belt_calloc(cap, sizeof(uint64_t));
    uint32_t *cnt = belt_calloc(cap, sizeof(uint32_t));
    if (!key || !cnt) {
        belt_free(key);
        belt_free(cnt);
        return BELT_ERR_NOMEM;
    }
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->key[i])
            continue;
        size_t j = d->key[i] & (cap - 1);
        while (key[j])
            j = (j + 1) & (cap - 1);
        key[j] = d->key[i];
        cnt[j] = d->cnt[i];
    }
    belt_free(d->key);
    belt_free(d->cnt);
    d->key = key;
    d->cnt = cnt;
    d->cap = cap;
    return BELT_OK;
}

static belt_status df_add(struct df_table *d, uint64_t h)
{
    if (2 * (d->n + 1) > d->cap && df_grow(d) != BELT_OK)
        return BELT_ERR_NOMEM;
    size_t j = h & (d->cap - 1);
    while (d->key[j] && d->key[j] != h)
        j = (j + 1) & (d->cap - 1);
    if (!d->key[j]) {
        d->key[j] = h;
        d->n++;
    }
    d->cnt[j]++;
    return BELT_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Count in how many training texts each feature occurs. */
static belt_status count_features(struct trainer *t, struct df_table *d, struct belt_error *err)
{
    struct belt__feature_vec v;
    belt__feature_vec_init(&v);
    belt_status st = BELT_OK;
    for (size_t i = 0; st == BELT_OK && i < t->n_tr; i++) {
        const char *text = t->tr[i]->text;
        st = belt__features_extract(&t->fc, text, strlen(text), &v, err);
        if (st != BELT_OK)
            break;
        qsort(v.hash, v.n, sizeof(uint64_t), cmp_u64);
        for (size_t j = 0; st == BELT_OK && j < v.n; j++)
            if (j == 0 || v.hash[j] != v.hash[j - 1])
                st = df_add(d, v.hash[j]);
        if (st == BELT_ERR_NOMEM)
            belt__error_set(err, st, 0, "counting features: out of memory");
    }
    belt__feature_vec_deinit(&v);
    return st;
}

struct kept {
    uint64_t key; /* feature hash */
    uint32_t cnt; /* document frequency */
};

static int cmp_kept(const void *a, const void *b)
{
    const struct kept *x = a, *y = b;
    if (x->cnt != y->cnt)
        return x->cnt > y->cnt ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

/* Keep the features with df >= min_count (the max_features most frequent), sorted by hash. */
static belt_status select_features(struct trainer *t, const struct df_table *d,
                                   struct belt_error *err)
{
    struct kept *k = belt_malloc((d->n ? d->n : 1) * sizeof(*k));
    if (!k)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < d->cap; i++)
        if (d->key[i] && d->cnt[i] >= (uint32_t)t->p.min_count)
            k[m++] = (struct kept){d->key[i], d->cnt[i]};
    if (m > t->p.max_features) {
        qsort(k, m, sizeof(*k), cmp_kept);
        m = t->p.max_features;
    }
    t->vocab = belt_malloc((m ? m : 1) * sizeof(uint64_t));
    if (!t->vocab) {
        belt_free(k);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < m; i++)
        t->vocab[i] = k[i].key;
    belt_free(k);
    qsort(t->vocab, m, sizeof(uint64_t), cmp_u64);
    t->n_rows = (uint32_t)m;
    return BELT_OK;
}

/* Fill a slot table for vocab (rows = positions). */
static void fill_slots(struct belt__clf_slot *slots, uint32_t n_slots, const uint64_t *vocab,
                       uint32_t n)
{
    memset(slots, 0, (size_t)n_slots * sizeof(*slots));
    for (uint32_t r = 0; r < n; r++) {
        uint32_t j = (uint32_t)vocab[r] & (n_slots - 1);
        while (slots[j].key)
            j = (j + 1) & (n_slots - 1);
        slots[j].key = vocab[r];
        slots[j].row = r;
    }
}

static uint32_t slots_for(uint32_t n_rows)
{
    uint32_t n = 16;
    while ((uint64_t)n * 3 < 4 * (uint64_t)n_rows) /* load factor <= 0.75 */
        n *= 2;
    return n;
}

static belt_status build_vocab(struct trainer *t, struct belt_error *err)
{
    struct df_table d = {0};
    belt_status st = count_features(t, &d, err);
    if (st == BELT_OK)
        st = select_features(t, &d, err);
    belt_free(d.key);
    belt_free(d.cnt);
    if (st != BELT_OK)
        return st;
    t->n_slots = slots_for(t->n_rows);
    t->slots = belt_malloc((size_t)t->n_slots * sizeof(*t->slots));
    if (!t->slots)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    fill_slots(t->slots, t->n_slots, t->vocab, t->n_rows);
    return BELT_OK;
}

/* ---- Sparse vectors -------------------------------------------------------------------- */

struct entry {
    uint32_t row; /* weight row */
    float val;    /* value */
};

static int cmp_entry(const void *a, const void *b)
{
    uint32_t x = ((const struct entry *)a)->row, y = ((const struct entry *)b)->row;
    return (x > y) - (x < y);
}

static void sparse_free(struct sparse_set *s)
{
    belt_free(s->off);
    belt_free(s->row);
    belt_free(s->val);
    memset(s, 0, sizeof(*s));
}

/* Append one example's merged entries to s (capacity *cap entries). */
static belt_status sparse_append(struct sparse_set *s, size_t *cap, const struct entry *e, size_t m)
{
    size_t used = s->off[s->n];
    if (used + m > *cap) {
        size_t nc = BELT_MAX(*cap * 2, used + m + 1024);
        uint32_t *r = belt_realloc(s->row, nc * sizeof(uint32_t));
        if (!r)
            return BELT_ERR_NOMEM;
        s->row = r;
        float *v = belt_realloc(s->val, nc * sizeof(float));
        if (!v)
            return BELT_ERR_NOMEM;
        s->val = v;
        *cap = nc;
    }
    for (size_t j = 0; j < m; j++) {
        s->row[used + j] = e[j].row;
        s->val[used + j] = e[j].val;
    }
    s->off[s->n + 1] = used + m;
    s->n++;
    return BELT_OK;
}

/* Map the features of one text to (row, value) entries, duplicates summed; returns the count. */
static size_t vectorize(const struct trainer *t, const struct belt__feature_vec *v, struct entry *e)
{
    float scale[BELT__FEAT_N_KINDS];
    for (int k = 0; k < BELT__FEAT_N_KINDS; k++)
        scale[k] = belt__features_block_scale(v->n_kind[k], t->block_weight[k]);
    struct belt_classifier view;
    view.slots = t->slots;
    view.n_slots = t->n_slots;
    size_t m = 0;
    for (size_t j = 0; j < v->n; j++) {
        const struct belt__clf_slot *s = belt__clf_find(&view, v->hash[j]);
        if (s && scale[v->kind[j]] != 0.0f)
            e[m++] = (struct entry){s->row, scale[v->kind[j]]};
    }
    qsort(e, m, sizeof(*e), cmp_entry);
    size_t u = 0;
    for (size_t j = 0; j < m; j++) {
        if (u > 0 && e[u - 1].row == e[j].row)
            e[u - 1].val += e[j].val;
        else
            e[u++] = e[j];
    }
    return u;
}

static belt_status build_sparse(const struct trainer *t, const struct belt_example *const *ex,
                                const int *gold, size_t n, struct sparse_set *s,
                                struct belt_error *err)
{
    struct belt__feature_vec v;
    belt__feature_vec_init(&v);
    struct entry *e = NULL;
    size_t e_cap = 0, cap = 0;
    belt_status st = BELT_OK;
    memset(s, 0, sizeof(*s));
    s->off = belt_calloc(n + 1, sizeof(size_t));
    if (!s->off)
        st = BELT_ERR_NOMEM;
    for (size_t i = 0; st == BELT_OK && i < n; i++) {
        st = belt__features_extract(&t->fc, ex[i]->text, strlen(ex[i]->text), &v, err);
        if (st != BELT_OK)
            break;
        if (v.n > e_cap) {
            belt_free(e);
            e_cap = v.n * 2;
            e = belt_malloc(e_cap * sizeof(*e));
            if (!e) {
                st = BELT_ERR_NOMEM;
                break;
            }
        }
        st = sparse_append(s, &cap, e, vectorize(t, &v, e));
    }
    s->gold = (int *)gold;
    belt_free(e);
    belt__feature_vec_deinit(&v);
    if (st == BELT_ERR_NOMEM)
        belt__error_set(err, st, 0, "building training vectors: out of memory");
    return st;
}

/* ---- SGD ------------------------------------------------------------------------------- */

/* z += v * row. Not inlined, so the restrict qualifiers survive and the loop vectorises. */
__attribute__((noinline)) BELT__VECTORIZE static void
axpy(float *restrict z, const float *restrict row, float v, size_t n)
{
    for (size_t l = 0; l < n; l++)
        z[l] += v * row[l];
}

/* z = b + sum val * W[row] for example i of s. */
static void forward(const float *w, const float *b, size_t L, const struct sparse_set *s, size_t i,
                    float *z)
{
    memcpy(z, b, L * sizeof(float));
    for (size_t j = s->off[i]; j < s->off[i + 1]; j++)
        axpy(z, w + (size_t)s->row[j] * L, s->val[j], L);
}

/* One worker's share of an epoch. */
struct job {
    struct trainer *t;     /* shared trainer (weights updated Hogwild-style) */
    const uint32_t *order; /* example indices of this worker */
    size_t n;              /* count */
    size_t done_before;    /* examples processed by all workers before this epoch */
    size_t total;          /* examples over all epochs (lr schedule) */
    size_t n_threads;      /* workers (to scale progress) */
    float *z;              /* scratch: n_labels */
    uint32_t *active;      /* scratch: n_labels */
    double loss;           /* sum of cross-entropy over this share */
};

/* row -= g * grad + decay * row (dense; separate function so both pointers are restrict). */
__attribute__((noinline)) BELT__VECTORIZE static void
row_update(float *restrict row, const float *restrict grad, float g, float decay, size_t n)
{
    for (size_t l = 0; l < n; l++)
        row[l] -= g * grad[l] + decay * row[l];
}

/* SGD step on example i; returns its loss. */
BELT__VECTORIZE static double sgd_step(struct trainer *t, struct job *jb, size_t i, float lr)
{
    const size_t L = t->n_labels;
    const struct sparse_set *s = &t->train;
    float *z = jb->z;
    forward(t->w, t->b, L, s, i, z);
    belt__softmax(z, L, 1.0);
    const int y = s->gold[i];
    const double loss = -log(z[y] > 1e-30f ? z[y] : 1e-30f);
    z[y] -= 1.0f;
    size_t na = 0;
    for (size_t l = 0; l < L; l++)
        if (z[l] > GRAD_EPSILON || z[l] < -GRAD_EPSILON)
            jb->active[na++] = (uint32_t)l;
    const float decay = (float)(lr * t->p.l2);
    if (na * 3 > L) { /* most labels move: a dense, vectorised update is cheaper */
        for (size_t j = s->off[i]; j < s->off[i + 1]; j++)
            row_update(t->w + (size_t)s->row[j] * L, z, lr * s->val[j], decay, L);
        row_update(t->b, z, lr, 0.0f, L);
        return loss;
    }
    for (size_t j = s->off[i]; j < s->off[i + 1]; j++) {
        float *row = t->w + (size_t)s->row[j] * L;
        const float g = lr * s->val[j];
        for (size_t a = 0; a < na; a++) {
            const uint32_t l = jb->active[a];
            row[l] -= g * z[l] + decay * row[l];
        }
    }
    for (size_t a = 0; a < na; a++)
        t->b[jb->active[a]] -= lr * z[jb->active[a]];
    return loss;
}

static void *worker(void *arg)
{
    struct job *jb = arg;
    struct trainer *t = jb->t;
    double loss = 0.0;
    const double lr0 = t->p.lr;
    for (size_t k = 0; k < jb->n; k++) {
        double progress = (double)(jb->done_before + k * jb->n_threads) / (double)jb->total;
        float lr = (float)(lr0 * (1.0 - progress));
        if (lr < (float)(lr0 * 1e-4))
            lr = (float)(lr0 * 1e-4);
        loss += sgd_step(t, jb, jb->order[k], lr);
    }
    jb->loss = loss;
    return NULL;
}

/* Accuracy and mean loss of the current weights on dev. */
static void evaluate_dev(const struct trainer *t, const float *w, const float *b, float *z,
                         double *acc, double *loss)
{
    const size_t L = t->n_labels;
    size_t ok = 0;
    double sum = 0.0;
    for (size_t i = 0; i < t->dev.n; i++) {
        forward(w, b, L, &t->dev, i, z);
        size_t best = 0;
        for (size_t l = 1; l < L; l++)
            if (z[l] > z[best])
                best = l;
        ok += best == (size_t)t->dev.gold[i];
        belt__softmax(z, L, 1.0);
        float p = z[t->dev.gold[i]];
        sum -= log(p > 1e-30f ? p : 1e-30f);
    }
    *acc = t->dev.n ? (double)ok / (double)t->dev.n : 0.0;
    *loss = t->dev.n ? sum / (double)t->dev.n : 0.0;
}

/* Keep the current weights as the best so far. */
static void snapshot(struct trainer *t)
{
    memcpy(t->best_w, t->w, (size_t)t->n_rows * t->n_labels * sizeof(float));
    memcpy(t->best_b, t->b, t->n_labels * sizeof(float));
}

/* Run one epoch over t->train with n_threads workers; returns the mean loss. */
static double run_epoch(struct trainer *t, struct job *jobs, size_t n_threads,
                        const uint32_t *order, size_t done_before, size_t total)
{
    pthread_t th[64];
    int started[64] = {0};
    const size_t n = t->train.n, per = (n + n_threads - 1) / n_threads;
    for (size_t k = 0; k < n_threads; k++) {
        size_t a = BELT_MIN(k * per, n), b = BELT_MIN(a + per, n);
        jobs[k].order = order + a;
        jobs[k].n = b - a;
        jobs[k].done_before = done_before + k;
        jobs[k].total = total;
        jobs[k].n_threads = n_threads;
        if (k > 0)
            started[k] = pthread_create(&th[k], NULL, worker, &jobs[k]) == 0;
    }
    worker(&jobs[0]);
    double loss = jobs[0].loss;
    for (size_t k = 1; k < n_threads; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            worker(&jobs[k]); /* could not start a thread: do its share here */
        loss += jobs[k].loss;
    }
    return n ? loss / (double)n : 0.0;
}

static size_t thread_count(const struct trainer *t)
{
    long n = t->p.threads;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    n = BELT_MIN(n, 64L);
    if ((size_t)n > t->train.n / 64 + 1) /* tiny sets: threads would only add noise */
        n = (long)(t->train.n / 64 + 1);
    return (size_t)n;
}

static belt_status epochs(struct trainer *t, struct belt_error *err)
{
    const size_t L = t->n_labels, nt = thread_count(t), n = t->train.n;
    struct job jobs[64];
    memset(jobs, 0, sizeof(jobs));
    uint32_t *order = belt_malloc((n ? n : 1) * sizeof(uint32_t));
    float *z = belt_malloc((nt + 1) * L * sizeof(float));
    uint32_t *active = belt_malloc(nt * L * sizeof(uint32_t));
    belt_status st = BELT_OK;
    if (!order || !z || !active) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t k = 0; k < nt; k++)
        jobs[k] = (struct job){t, NULL, 0, 0, 0, nt, z + k * L, active + k * L, 0.0};
    struct belt_rng rng;
    belt_rng_seed(&rng, t->p.seed ^ 0x5851F42D4C957F2DULL);
    const size_t total = (size_t)t->p.epochs * (n ? n : 1);
    t->best_acc = -1.0;
    for (int ep = 1; ep <= t->p.epochs; ep++) {
        belt_rng_shuffle(&rng, order, n, sizeof(uint32_t));
        double loss = run_epoch(t, jobs, nt, order, (size_t)(ep - 1) * n, total);
        double acc, dloss;
        evaluate_dev(t, t->w, t->b, z + nt * L, &acc, &dloss);
        t->epochs_run = ep;
        if (acc > t->best_acc || (acc == t->best_acc && dloss < t->best_loss)) {
            t->best_acc = acc;
            t->best_loss = dloss;
            t->best_epoch = ep;
            snapshot(t);
        }
        int64_t el = belt_now_us() - t->t0_us;
        BELT_LOG_D("train: epoch %d loss %.4f dev acc %.4f dev loss %.4f", ep, loss, acc, dloss);
        if (t->p.progress_fn) {
            struct belt_classifier_progress pr = {
                ep,          t->p.epochs,   loss, acc,
                t->best_acc, t->best_epoch, el,   (int64_t)((double)el / ep * (t->p.epochs - ep))};
            if (t->p.progress_fn(t->p.progress_ud, &pr) != 0) {
                st = belt__error_set(err, BELT_ERR_CANCELLED, 0, "training cancelled");
                goto done;
            }
        }
        if (ep - t->best_epoch >= t->p.patience)
            break;
    }
done:
    belt_free(order);
    belt_free(z);
    belt_free(active);
    return st;
}

/* ---- The model ------------------------------------------------------------------------- */

/* Allocate the model and its arrays; labels and slots are filled, weights left to training. */
static belt_status model_new(struct trainer *t, struct belt_classifier **out,
                             struct belt_error *err)
{
    const size_t L = t->n_labels;
    struct belt_classifier *c = belt_calloc(1, sizeof(*c));
    size_t blob = 0;
    for (size_t i = 0; i < L; i++)
        blob += strlen(t->labels[i]) + 1;
    const size_t s_bytes = (size_t)t->n_slots * sizeof(struct belt__clf_slot);
    const size_t w_bytes = (size_t)t->n_rows * L * sizeof(float);
    if (c) {
        c->heap = belt_malloc(s_bytes + w_bytes + L * sizeof(float));
        c->labels = belt_malloc(L * sizeof(char *));
        c->label_blob = belt_malloc(blob);
    }
    if (!c || !c->heap || !c->labels || !c->label_blob) {
        belt_classifier_free(c);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    char *p = (char *)c->label_blob;
    for (size_t i = 0; i < L; i++) {
        size_t n = strlen(t->labels[i]) + 1;
        memcpy(p, t->labels[i], n);
        c->labels[i] = p;
        p += n;
    }
    c->fc = t->fc;
    memcpy(c->block_weight, t->block_weight, sizeof(c->block_weight));
    c->n_labels = (uint32_t)L;
    c->n_rows = t->n_rows;
    c->n_slots = t->n_slots;
    memcpy(c->heap, t->slots, s_bytes);
    c->slots = c->heap;
    t->best_w = (float *)((char *)c->heap + s_bytes);
    t->best_b = (float *)((char *)c->heap + s_bytes + w_bytes);
    memset(t->best_w, 0, w_bytes);
    memset(t->best_b, 0, L * sizeof(float));
    c->w = t->best_w;
    c->bias = t->best_b;
    c->temperature = 1.0;
    c->dev_threshold = -1.0;
    *out = c;
    if (belt__clf_index_labels(c) != BELT_OK) {
        belt_classifier_free(c);
        *out = NULL;
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    return BELT_OK;
}

/* Items (gold, argmax, confidence) of dev logits at temperature T; probs is scratch. */
static void dev_items(const struct trainer *t, const float *logits, double T, float *probs,
                      struct belt_eval_item *items)
{
    const size_t L = t->n_labels;
    for (size_t i = 0; i < t->dev.n; i++) {
        memcpy(probs, logits + i * L, L * sizeof(float));
        belt__softmax(probs, L, T);
        size_t best = 0;
        for (size_t l = 1; l < L; l++)
            if (probs[l] > probs[best])
                best = l;
        items[i] = (struct belt_eval_item){t->dev.gold[i], (int)best, probs[best]};
    }
}

/* Fit the temperature on dev and measure the dev metrics into `dev` (JSON object). */
static belt_status calibrate(struct trainer *t, struct belt_classifier *c, json_t *dev,
                             struct belt_error *err)
{
    const size_t L = t->n_labels, n = t->dev.n;
    float *logits = belt_malloc((n + 1) * L * sizeof(float));
    struct belt_eval_item *items = belt_malloc((n ? n : 1) * sizeof(*items));
    belt_status st = BELT_OK;
    if (!logits || !items) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        forward(c->w, c->bias, L, &t->dev, i, logits + i * L);
    double T = t->p.calibrate ? belt__calib_fit_temperature(logits, t->dev.gold, n, L) : 1.0;
    struct belt_eval_params ep = belt_eval_default_params();
    ep.target_accuracy = t->p.target_accuracy;
    ep.target_z = t->p.threshold_z; /* the threshold must hold beyond dev's sampling noise */
    struct belt_eval_report r0, r;
    dev_items(t, logits, 1.0, logits + n * L, items);
    st = belt_eval_compute(items, n, L, &ep, &r0, err);
    if (st == BELT_OK) {
        dev_items(t, logits, T, logits + n * L, items);
        st = belt_eval_compute(items, n, L, &ep, &r, err);
    }
    if (st != BELT_OK)
        goto done;
    c->temperature = T;
    c->dev_threshold = r.target_reached ? r.at_target.threshold : -1.0;
    json_object_set_new(dev, "n", json_integer((json_int_t)n));
    json_object_set_new(dev, "accuracy", json_real(r.accuracy));
    json_object_set_new(dev, "macro_f1", json_real(r.macro_f1));
    json_object_set_new(dev, "ece", json_real(r.ece));
    json_object_set_new(dev, "ece_uncalibrated", json_real(r0.ece));
    json_object_set_new(dev, "nll", json_real(belt__calib_nll(logits, t->dev.gold, n, L, T)));
    json_object_set_new(dev, "target_accuracy", json_real(t->p.target_accuracy));
    json_object_set_new(dev, "threshold", json_real(c->dev_threshold));
    json_object_set_new(dev, "coverage_at_threshold",
                        json_real(r.target_reached ? r.at_target.coverage : 0.0));
    json_object_set_new(dev, "accuracy_at_threshold",
                        json_real(r.target_reached ? r.at_target.accuracy : 0.0));
    json_object_set_new(dev, "threshold_z", json_real(ep.target_z));
done:
    belt_free(logits);
    belt_free(items);
    return st;
}

static json_t *params_json(const struct belt_classifier_params *p, size_t threads)
{
    return json_pack("{s:i, s:i, s:i, s:f, s:i, s:I, s:i, s:i, s:f, s:f, s:I, s:I, s:f, s:b, s:f, "
                     "s:f}",
                     "word_ngrams", p->word_ngrams, "char_min", p->char_min, "char_max",
                     p->char_max, "char_weight", p->char_weight, "min_count", p->min_count,
                     "max_features", (json_int_t)p->max_features, "epochs", p->epochs, "patience",
                     p->patience, "lr", p->lr, "l2", p->l2, "threads", (json_int_t)threads, "seed",
                     (json_int_t)(p->seed & 0x7FFFFFFFFFFFFFFFULL), "dev_fraction", p->dev_fraction,
                     "calibrate", p->calibrate, "target_accuracy", p->target_accuracy,
                     "threshold_z", p->threshold_z);
}

/* The metadata document of a freshly trained model (see model_file.c for the readers). */
static belt_status build_meta(struct trainer *t, struct belt_classifier *c, json_t *dev,
                              struct belt_error *err)
{
    json_t *labels = json_array();
    for (size_t i = 0; labels && i < t->n_labels; i++)
        json_array_append_new(labels, json_string(t->labels[i]));
    const char *dev_src = t->dev_carved == 2 ? "train" : t->dev_carved ? "carved" : "given";
    json_t *m = json_pack(
        "{s:i, s:s, s:{s:i, s:i, s:i, s:[f,f]}, s:o, s:I, s:I, s:f, s:f, s:o, "
        "s:{s:I, s:I, s:s, s:i, s:i, s:f, s:f}, s:O}",
        "format", 1, "kind", "classifier", "features", "word_ngrams", c->fc.word_ngrams, "char_min",
        c->fc.char_min, "char_max", c->fc.char_max, "block_weights", (double)c->block_weight[0],
        (double)c->block_weight[1], "labels", labels, "n_features", (json_int_t)c->n_rows,
        "n_slots", (json_int_t)c->n_slots, "temperature", c->temperature, "dev_threshold",
        c->dev_threshold, "params", params_json(&t->p, thread_count(t)), "training", "n_train",
        (json_int_t)t->train.n, "n_dev", (json_int_t)t->dev.n, "dev", dev_src, "epochs_run",
        t->epochs_run, "best_epoch", t->best_epoch, "best_dev_accuracy", t->best_acc, "seconds",
        (double)(belt_now_us() - t->t0_us) / 1e6, "dev", dev);
    if (!m)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "building model metadata: out of memory");
    c->meta_json = belt_json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!c->meta_json)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "building model metadata: out of memory");
    return BELT_OK;
}

/* ---- Public API ------------------------------------------------------------------------ */

struct belt_classifier_params belt_classifier_default_params(void)
{
    struct belt_classifier_params p;
    memset(&p, 0, sizeof(p));
    p.word_ngrams = 2;
    p.char_min = 2;
    p.char_max = 5;
    p.char_weight = 1.0;
    p.min_count = 2;
    p.max_features = 500000;
    p.epochs = 12;
    p.patience = 3;
    p.lr = 1.0;
    p.l2 = 1e-6;
    p.threads = 0;
    p.seed = 1;
    p.dev_fraction = 0.1;
    p.calibrate = 1;
    p.target_accuracy = 0.95;
    p.threshold_z = 1.0;
    return p;
}

static belt_status check_params(const struct belt_classifier_params *p, struct belt_error *err)
{
    const char *bad = NULL;
    if (p->char_weight < 0 || !isfinite(p->char_weight))
        bad = "char_weight must be >= 0";
    else if (p->min_count < 1)
        bad = "min_count must be >= 1";
    else if (p->max_features < 1 || p->max_features > 0x7FFFFFFFu)
        bad = "max_features must be 1..2^31-1";
    else if (p->epochs < 1 || p->epochs > 10000)
        bad = "epochs must be 1..10000";
    else if (p->patience < 1)
        bad = "patience must be >= 1";
    else if (!(p->lr > 0 && p->lr <= 100))
        bad = "lr must be in (0, 100]";
    else if (!(p->l2 >= 0 && p->l2 < 1))
        bad = "l2 must be in [0, 1)";
    else if (!(p->dev_fraction > 0 && p->dev_fraction < 1))
        bad = "dev_fraction must be in (0, 1)";
    else if (!(p->target_accuracy > 0 && p->target_accuracy <= 1))
        bad = "target_accuracy must be in (0, 1]";
    else if (!(p->threshold_z >= 0 && p->threshold_z <= 10))
        bad = "threshold_z must be in [0, 10]";
    else if (p->threads < 0)
        bad = "threads must be >= 0";
    if (bad)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "classifier params: %s", bad);
    struct belt__feature_config fc = {p->word_ngrams, p->char_min, p->char_max};
    belt_status st = belt__features_check_config(&fc, err);
    if (st != BELT_OK)
        belt__error_prefix(err, "classifier params: ");
    return st;
}

static void trainer_free(struct trainer *t)
{
    for (size_t i = 0; t->labels && i < t->n_labels; i++)
        belt_free(t->labels[i]);
    belt_free(t->labels);
    belt_free(t->tr);
    belt_free(t->tr_gold);
    belt_free(t->dv);
    belt_free(t->dv_gold);
    belt_free(t->vocab);
    belt_free(t->slots);
    sparse_free(&t->train);
    sparse_free(&t->dev);
    belt_free(t->w);
    belt_free(t->b);
}

/* Allocate the working weights: zero (the softmax of a linear model needs no symmetry break). */
static belt_status alloc_weights(struct trainer *t, struct belt_error *err)
{
    t->w = belt_calloc((size_t)t->n_rows * t->n_labels + 1, sizeof(float));
    t->b = belt_calloc(t->n_labels, sizeof(float));
    if (!t->w || !t->b)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory for %u x %zu weights",
                               t->n_rows, t->n_labels);
    return BELT_OK;
}

belt_status belt_classifier_train(const struct belt_classifier_params *params,
                                  const struct belt_example *train, size_t n_train,
                                  const struct belt_example *dev, size_t n_dev,
                                  struct belt_classifier **out, struct belt_error *err)
{
    struct trainer t;
    memset(&t, 0, sizeof(t));
    struct belt_classifier *c = NULL;
    json_t *dev_json = NULL;
    *out = NULL;
    t.t0_us = belt_now_us();
    t.p = params ? *params : belt_classifier_default_params();
    belt_status st = check_params(&t.p, err);
    if (st == BELT_OK && n_train == 0)
        st = belt__error_set(err, BELT_ERR_INVALID, 0, "training data is empty");
    if (st == BELT_OK)
        st = check_examples(train, n_train, "training", err);
    if (st == BELT_OK)
        st = check_examples(dev, n_dev, "dev", err);
    if (st != BELT_OK)
        return st;
    t.fc = (struct belt__feature_config){t.p.word_ngrams, t.p.char_min, t.p.char_max};
    t.block_weight[BELT__FEAT_WORD] = 1.0f;
    t.block_weight[BELT__FEAT_CHAR] = (float)t.p.char_weight;
    st = collect_labels(&t, train, n_train, err);
    if (st == BELT_OK)
        st = make_splits(&t, train, n_train, dev, n_dev, err);
    if (st == BELT_OK)
        st = build_vocab(&t, err);
    if (st == BELT_OK)
        st = build_sparse(&t, t.tr, t.tr_gold, t.n_tr, &t.train, err);
    if (st == BELT_OK)
        st = build_sparse(&t, t.dv, t.dv_gold, t.n_dv, &t.dev, err);
    if (st == BELT_OK)
        st = alloc_weights(&t, err);
    if (st == BELT_OK)
        st = model_new(&t, &c, err);
    if (st == BELT_OK) {
        BELT_LOG_I("train: %zu train, %zu dev, %zu labels, %u features", t.train.n, t.dev.n,
                   t.n_labels, t.n_rows);
        st = epochs(&t, err);
    }
    if (st == BELT_OK) {
        dev_json = json_object();
        st = dev_json ? calibrate(&t, c, dev_json, err)
                      : belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    if (st == BELT_OK)
        st = build_meta(&t, c, dev_json, err);
    json_decref(dev_json);
    trainer_free(&t);
    if (st != BELT_OK) {
        belt_classifier_free(c);
        return st;
    }
    *out = c;
    return BELT_OK;
}
