/*
 * inject_train.c — training the injection classifier and measuring the guard by stratified,
 * nested k-fold cross-validation: for each outer fold a model is trained on the other folds
 * (+ extra data), the test fold is scored by rules, classifier and both; the tuned threshold
 * for a target false-positive rate is chosen from inner out-of-fold scores of the training part
 * only, so no test example influences its own threshold.
 */
#include "belt_config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"
#include "guard/guard.h"
#include "guard/inject.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/rng.h"

static int is_pos(const struct belt_example *e)
{
    return strcmp(e->label, BELT__GUARD_POSITIVE) == 0;
}

/* Normalised copies of the texts (owned strings; labels borrowed). */
static belt_status normalize_all(const struct belt_example *ex, size_t n, struct belt_example *out,
                                 struct belt_error *err)
{
    for (size_t i = 0; i < n; i++) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        int inv = 0, tags = 0;
        belt_status st = belt__inject_normalize(ex[i].text, strlen(ex[i].text), &b, &inv, &tags);
        if (st != BELT_OK) {
            belt_buf_deinit(&b);
            return belt__error_set(err, st, 0, "example %zu: %s", i, belt_strerror(st));
        }
        out[i].text = belt_buf_detach(&b, NULL);
        out[i].label = is_pos(&ex[i]) ? BELT__GUARD_POSITIVE : "benign";
        if (!out[i].text)
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    return BELT_OK;
}

static void free_texts(struct belt_example *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        belt_free((char *)v[i].text);
}

static void expand_free(struct belt_example *v, char **own, size_t n_own)
{
    for (size_t i = 0; i < n_own; i++)
        belt_free(own[i]);
    belt_free(own);
    belt_free(v);
}

belt_status belt_guard_train(const struct belt_example *ex, size_t n,
                             const struct belt_classifier_params *p, struct belt_classifier **out,
                             struct belt_error *err)
{
    *out = NULL;
    struct belt_classifier_params d = belt_classifier_default_params();
    struct belt_example *norm = belt_calloc(n ? n : 1, sizeof(*norm));
    if (!norm)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_status st = normalize_all(ex, n, norm, err);
    struct belt_example *xv = NULL;
    char **own = NULL;
    size_t nx = 0, n_own = 0;
    if (st == BELT_OK)
        st = belt__guard_expand(norm, n, &xv, &nx, &own, &n_own, err);
    if (st == BELT_OK)
        st = belt_classifier_train(p ? p : &d, xv, nx, NULL, 0, out, err);
    expand_free(xv, own, n_own);
    free_texts(norm, n);
    belt_free(norm);
    return st;
}

/* Hash set of the sentences of the benign examples. */
struct sent_set {
    uint64_t *v; /* open addressing, 0 = empty */
    size_t cap;  /* power of two */
};

static uint64_t sent_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ? h : 1;
}

static int sent_set_add(struct sent_set *ss, uint64_t h, int insert)
{
    for (size_t i = h & (ss->cap - 1);; i = (i + 1) & (ss->cap - 1)) {
        if (ss->v[i] == h)
            return 1;
        if (!ss->v[i]) {
            if (insert)
                ss->v[i] = h;
            return 0;
        }
    }
}

/* The training set the classifier learns from: every example whole, plus for multi-sentence
 * texts each sentence — benign sentences as benign; sentences of an injection as injection
 * unless the same sentence occurs in benign data (the rest of a poisoned document is not
 * evidence). Texts are borrowed from `norm` where possible; *out_owned lists allocations. */
belt_status belt__guard_expand(const struct belt_example *norm, size_t n, struct belt_example **out,
                               size_t *n_out, char ***owned, size_t *n_owned,
                               struct belt_error *err)
{
    *out = NULL;
    *owned = NULL;
    *n_owned = 0;
    *n_out = 0;
    size_t total = 0;
    size_t a[256], e[256];
    for (size_t i = 0; i < n; i++)
        total += belt__guard_segments(norm[i].text, strlen(norm[i].text), a, e, 256);
    struct sent_set ss = {NULL, 1};
    while (ss.cap < total * 2 + 16)
        ss.cap <<= 1;
    ss.v = belt_calloc(ss.cap, sizeof(uint64_t));
    struct belt_example *v = belt_malloc((n + total + 1) * sizeof(*v));
    char **own = belt_malloc((total + 1) * sizeof(char *));
    if (!ss.v || !v || !own) {
        belt_free(ss.v);
        belt_free(v);
        belt_free(own);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (is_pos(&norm[i]))
            continue;
        size_t k = belt__guard_segments(norm[i].text, strlen(norm[i].text), a, e, 256);
        for (size_t j = 0; j < k; j++)
            sent_set_add(&ss, sent_hash(norm[i].text + a[j], e[j] - a[j]), 1);
    }
    /* All benign text, to tell an inserted sentence from a piece of the surrounding document
     * whose sentence boundaries the insertion shifted. */
    struct belt_buf benign;
    belt_buf_init(&benign, 0);
    belt_status st = BELT_OK;
    for (size_t i = 0; i < n && st == BELT_OK; i++)
        if (!is_pos(&norm[i])) {
            st = belt_buf_puts(&benign, norm[i].text);
            if (st == BELT_OK)
                st = belt_buf_putc(&benign, '\x01');
        }
    const char *bt = benign.data ? benign.data : "";
    size_t m = 0, no = 0;
    for (size_t i = 0; i < n && st == BELT_OK; i++) {
        size_t k = belt__guard_segments(norm[i].text, strlen(norm[i].text), a, e, 256);
        int pos = is_pos(&norm[i]);
        int known = 0; /* sentences of a positive that occur in benign data */
        for (size_t j = 0; pos && j < k; j++)
            known += sent_set_add(&ss, sent_hash(norm[i].text + a[j], e[j] - a[j]), 0);
        int split = k > 1 && (!pos || known > 0);
        if (!(pos && split))
            v[m++] = norm[i];
        for (size_t j = 0; split && j < k; j++) {
            char *copy = belt_strndup(norm[i].text + a[j], e[j] - a[j]);
            if (!copy) {
                st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
                break;
            }
            own[no++] = copy;
            v[m].text = copy;
            v[m].label = pos && !strstr(bt, copy) ? BELT__GUARD_POSITIVE : "benign";
            m++;
        }
    }
    belt_buf_deinit(&benign);
    if (st == BELT_ERR_NOMEM || st == BELT_ERR_TOOBIG)
        st = belt__error_set(err, st, 0, "out of memory");
    belt_free(ss.v);
    *out = v;
    *n_out = m;
    *owned = own;
    *n_owned = no;
    return st;
}

struct belt_guard_cv_params belt_guard_cv_default_params(void)
{
    struct belt_guard_cv_params p;
    memset(&p, 0, sizeof(p));
    p.folds = 5;
    p.inner_folds = 3;
    p.seed = 1;
    p.source = BELT_GUARD_SOURCE_USER;
    p.max_fpr = 0.05;
    p.cls = belt_classifier_default_params();
    p.cls.threads = 1;
    return p;
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void count_at(const double *score, const unsigned char *pos, const size_t *idx, size_t n,
                     double t, struct belt_guard_counts *c)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        int flag = score[i] >= t;
        c->tp += flag && pos[i];
        c->fp += flag && !pos[i];
        c->tn += !flag && !pos[i];
        c->fn += !flag && pos[i];
    }
}

static void finish_counts(struct belt_guard_counts *c)
{
    c->precision = c->tp + c->fp ? (double)c->tp / (double)(c->tp + c->fp) : 0;
    c->recall = c->tp + c->fn ? (double)c->tp / (double)(c->tp + c->fn) : 0;
    c->fpr = c->fp + c->tn ? (double)c->fp / (double)(c->fp + c->tn) : 0;
    c->f1 = c->precision + c->recall > 0 ? 2 * c->precision * c->recall / (c->precision + c->recall)
                                         : 0;
}

/* Lowest threshold among the scores whose false-positive rate on idx is <= max_fpr. */
static double tune_threshold(const double *score, const unsigned char *pos, const size_t *idx,
                             size_t n, double max_fpr)
{
    size_t n_neg = 0;
    double *neg = belt_malloc((n ? n : 1) * sizeof(double));
    if (!neg)
        return 0.5;
    for (size_t k = 0; k < n; k++)
        if (!pos[idx[k]])
            neg[n_neg++] = score[idx[k]];
    /* Sort negatives descending; allow floor(max_fpr * n_neg) of them at or above t. */
    for (size_t i = 1; i < n_neg; i++)
        for (size_t j = i; j > 0 && neg[j] > neg[j - 1]; j--) {
            double t = neg[j];
            neg[j] = neg[j - 1];
            neg[j - 1] = t;
        }
    size_t allowed = (size_t)floor(max_fpr * (double)n_neg);
    double t = n_neg == 0 ? 0.5 : allowed >= n_neg ? 0 : nextafter(neg[allowed], 2.0);
    belt_free(neg);
    return BELT_MIN(BELT_MAX(t, 1e-6), 1.0);
}

/* ROC AUC by the rank-sum statistic (ties count half). */
static double auc(const double *score, const unsigned char *pos, size_t n)
{
    double num = 0;
    size_t np = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pos[i])
            continue;
        np++;
        for (size_t j = 0; j < n; j++) {
            if (pos[j])
                continue;
            num += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
        }
    }
    for (size_t j = 0; j < n; j++)
        nn += !pos[j];
    return np && nn ? num / ((double)np * (double)nn) : 0;
}

/* ---- folds --------------------------------------------------------------------------------- */

static size_t uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Group of each example: examples that share a sentence of >= 24 bytes (the same e-mail with
 * and without an inserted attack, stacked prompts reusing a phrase) form one group, so that a
 * fold never tests on a near-copy of its training data. Fills group[i] with a root index. */
static belt_status find_groups(const struct belt_example *norm, size_t n, size_t *group,
                               struct belt_error *err)
{
    size_t cap = 16, total = 0;
    size_t a[256], e[256];
    for (size_t i = 0; i < n; i++)
        total += belt__guard_segments(norm[i].text, strlen(norm[i].text), a, e, 256);
    while (cap < total * 2 + 16)
        cap <<= 1;
    uint64_t *key = belt_calloc(cap, sizeof(uint64_t));
    size_t *owner = belt_calloc(cap, sizeof(size_t));
    if (!key || !owner) {
        belt_free(key);
        belt_free(owner);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        group[i] = i;
    for (size_t i = 0; i < n; i++) {
        size_t k = belt__guard_segments(norm[i].text, strlen(norm[i].text), a, e, 256);
        for (size_t j = 0; j < k; j++) {
            if (e[j] - a[j] < 24)
                continue;
            uint64_t h = sent_hash(norm[i].text + a[j], e[j] - a[j]);
            size_t slot = h & (cap - 1);
            while (key[slot] && key[slot] != h)
                slot = (slot + 1) & (cap - 1);
            if (!key[slot]) {
                key[slot] = h;
                owner[slot] = i;
            } else {
                size_t r1 = uf_find(group, i), r2 = uf_find(group, owner[slot]);
                if (r1 != r2)
                    group[r1] = r2;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        group[i] = uf_find(group, i);
    belt_free(key);
    belt_free(owner);
    return BELT_OK;
}

/* Fold of each index in idx[0..n): whole groups (see find_groups) in a seeded random order,
 * each to the fold that has the fewest examples of the group's majority label so far. */
static void assign_folds(const unsigned char *pos, const size_t *group, const size_t *idx, size_t n,
                         size_t k, uint64_t seed, size_t *fold)
{
    size_t *order = belt_malloc((n ? n : 1) * sizeof(size_t));
    size_t *cnt = belt_calloc(k * 2, sizeof(size_t));
    if (!order || !cnt) {
        for (size_t i = 0; i < n; i++)
            fold[i] = i % k;
        belt_free(order);
        belt_free(cnt);
        return;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    struct belt_rng rng;
    belt_rng_seed(&rng, seed);
    belt_rng_shuffle(&rng, order, n, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        fold[i] = (size_t)-1;
    for (size_t o = 0; o < n; o++) {
        size_t w = order[o];
        if (fold[w] != (size_t)-1)
            continue;
        size_t g = group[idx[w]], np = 0, nn = 0;
        for (size_t j = 0; j < n; j++)
            if (group[idx[j]] == g)
                np += pos[idx[j]], nn += !pos[idx[j]];
        int lab = np >= nn;
        size_t best = 0;
        for (size_t f = 1; f < k; f++)
            if (cnt[f * 2 + lab] < cnt[best * 2 + lab])
                best = f;
        for (size_t j = 0; j < n; j++)
            if (group[idx[j]] == g)
                fold[j] = best;
        cnt[best * 2 + 1] += np;
        cnt[best * 2] += nn;
    }
    belt_free(order);
    belt_free(cnt);
}

struct cv_data {
    const struct belt_example *norm;  /* normalised examples */
    const struct belt_example *extra; /* normalised extra training examples */
    size_t n_extra;
    const unsigned char *pos; /* label per example */
    const size_t *group;      /* group per example */
    const double *rule;       /* rule score per example */
    const struct belt_guard_cv_params *p;
};

/* Train on idx[0..n) + extra and fill model_out[i] / comb_out[i] for i in test[0..n_test). */
static belt_status train_and_score(const struct cv_data *d, const size_t *idx, size_t n,
                                   const size_t *test, size_t n_test, double *model_out,
                                   double *comb_out, struct belt_error *err)
{
    struct belt_example *tr = belt_malloc((n + d->n_extra + 1) * sizeof(*tr));
    if (!tr)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t k = 0; k < n; k++)
        tr[k] = d->norm[idx[k]];
    for (size_t k = 0; k < d->n_extra; k++)
        tr[n + k] = d->extra[k];
    struct belt_classifier *c = NULL;
    struct belt_example *xv = NULL;
    char **own = NULL;
    size_t nx = 0, n_own = 0;
    belt_status st = belt__guard_expand(tr, n + d->n_extra, &xv, &nx, &own, &n_own, err);
    if (st == BELT_OK)
        st = belt_classifier_train(&d->p->cls, xv, nx, NULL, 0, &c, err);
    expand_free(xv, own, n_own);
    belt_free(tr);
    if (st != BELT_OK)
        return st;
    int label = belt_classifier_label_index(c, BELT__GUARD_POSITIVE);
    for (size_t k = 0; k < n_test; k++) {
        size_t i = test[k];
        double p = label < 0
                       ? 0
                       : belt__guard_model_prob(c, label, d->norm[i].text, strlen(d->norm[i].text));
        model_out[i] = p;
        comb_out[i] = 1 - (1 - d->rule[i]) * (1 - p);
    }
    belt_classifier_free(c);
    return BELT_OK;
}

/* Thresholds for rules, model and combined chosen by inner CV on idx[0..n). */
static belt_status inner_thresholds(const struct cv_data *d, const size_t *idx, size_t n,
                                    uint64_t seed, double t[3], double *m_tmp, double *c_tmp,
                                    struct belt_error *err)
{
    size_t k = d->p->inner_folds;
    size_t *fold = belt_malloc(n * sizeof(size_t));
    size_t *tr = belt_malloc(n * sizeof(size_t));
    size_t *te = belt_malloc(n * sizeof(size_t));
    belt_status st = BELT_OK;
    if (!fold || !tr || !te) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto done;
    }
    assign_folds(d->pos, d->group, idx, n, k, seed, fold);
    for (size_t f = 0; f < k && st == BELT_OK; f++) {
        size_t ntr = 0, nte = 0;
        for (size_t j = 0; j < n; j++) {
            if (fold[j] == f)
                te[nte++] = idx[j];
            else
                tr[ntr++] = idx[j];
        }
        st = train_and_score(d, tr, ntr, te, nte, m_tmp, c_tmp, err);
    }
    if (st == BELT_OK) {
        t[0] = tune_threshold(d->rule, d->pos, idx, n, d->p->max_fpr);
        t[1] = tune_threshold(m_tmp, d->pos, idx, n, d->p->max_fpr);
        t[2] = tune_threshold(c_tmp, d->pos, idx, n, d->p->max_fpr);
    }
done:
    belt_free(fold);
    belt_free(tr);
    belt_free(te);
    return st;
}

struct cv_bufs {
    struct belt_example *norm, *extra; /* normalised copies (owned texts) */
    unsigned char *pos;                /* labels */
    double *rule, *model, *comb;       /* out-of-fold scores */
    double *m_tmp, *c_tmp;             /* inner scores */
    size_t *idx, *fold, *tr, *te;      /* index scratch */
    size_t *group;                     /* group of each example */
};

static void cv_bufs_free(struct cv_bufs *b, size_t n, size_t n_extra)
{
    free_texts(b->norm, n);
    free_texts(b->extra, n_extra);
    belt_free(b->norm);
    belt_free(b->extra);
    belt_free(b->pos);
    belt_free(b->rule);
    belt_free(b->model);
    belt_free(b->comb);
    belt_free(b->m_tmp);
    belt_free(b->c_tmp);
    belt_free(b->idx);
    belt_free(b->fold);
    belt_free(b->tr);
    belt_free(b->te);
    belt_free(b->group);
}

static belt_status cv_prepare(const struct belt_example *ex, size_t n,
                              const struct belt_example *extra, size_t n_extra,
                              enum belt_guard_source src, struct cv_bufs *b, struct belt_error *err)
{
    size_t m = n ? n : 1;
    b->norm = belt_calloc(m, sizeof(*b->norm));
    b->extra = belt_calloc(n_extra ? n_extra : 1, sizeof(*b->extra));
    b->pos = belt_calloc(m, 1);
    b->rule = belt_calloc(m, sizeof(double));
    b->model = belt_calloc(m, sizeof(double));
    b->comb = belt_calloc(m, sizeof(double));
    b->m_tmp = belt_calloc(m, sizeof(double));
    b->c_tmp = belt_calloc(m, sizeof(double));
    b->idx = belt_calloc(m, sizeof(size_t));
    b->fold = belt_calloc(m, sizeof(size_t));
    b->tr = belt_calloc(m, sizeof(size_t));
    b->te = belt_calloc(m, sizeof(size_t));
    b->group = belt_calloc(m, sizeof(size_t));
    if (!b->group || !b->norm || !b->extra || !b->pos || !b->rule || !b->model || !b->comb ||
        !b->m_tmp || !b->c_tmp || !b->idx || !b->fold || !b->tr || !b->te)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    belt_status st = normalize_all(ex, n, b->norm, err);
    if (st == BELT_OK)
        st = normalize_all(extra, n_extra, b->extra, err);
    if (st == BELT_OK)
        st = find_groups(b->norm, n, b->group, err);
    struct belt__inject_rules *rules = NULL;
    if (st == BELT_OK)
        st = belt__inject_rules_new(&rules, err);
    for (size_t i = 0; i < n && st == BELT_OK; i++) {
        struct belt__inject_result rr;
        b->pos[i] = (unsigned char)is_pos(&ex[i]);
        b->idx[i] = i;
        st = belt__inject_rules_score(rules, src, ex[i].text, strlen(ex[i].text), &rr, err);
        b->rule[i] = rr.score;
    }
    belt__inject_rules_free(rules);
    return st;
}

belt_status belt_guard_cross_validate(const struct belt_example *ex, size_t n,
                                      const struct belt_example *extra, size_t n_extra,
                                      const struct belt_guard_cv_params *p,
                                      struct belt_guard_cv_report *out, struct belt_error *err)
{
    memset(out, 0, sizeof(*out));
    struct belt_guard_cv_params d = belt_guard_cv_default_params();
    if (!p)
        p = &d;
    if (p->folds < 2 || p->inner_folds < 2 || n < p->folds * 2)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "cross-validation needs >= 2 folds and >= 2 examples per fold");
    struct cv_bufs b;
    memset(&b, 0, sizeof(b));
    belt_status st = cv_prepare(ex, n, extra, n_extra, p->source, &b, err);
    struct cv_data cd = {b.norm, b.extra, n_extra, b.pos, b.group, b.rule, p};
    double t_def = p->source == BELT_GUARD_SOURCE_USER ? BELT__GUARD_THRESHOLD_USER_MODEL
                                                       : BELT__GUARD_THRESHOLD_THIRD_MODEL;
    double t_rules = p->source == BELT_GUARD_SOURCE_USER ? BELT__GUARD_THRESHOLD_USER_RULES
                                                         : BELT__GUARD_THRESHOLD_THIRD_RULES;
    if (st == BELT_OK)
        assign_folds(b.pos, b.group, b.idx, n, p->folds, p->seed, b.fold);
    double tsum[3] = {0, 0, 0};
    for (size_t f = 0; f < p->folds && st == BELT_OK; f++) {
        size_t ntr = 0, nte = 0;
        for (size_t i = 0; i < n; i++) {
            if (b.fold[i] == f)
                b.te[nte++] = i;
            else
                b.tr[ntr++] = i;
        }
        double t[3] = {0.5, 0.5, 0.5};
        st = inner_thresholds(&cd, b.tr, ntr, p->seed + 1 + f, t, b.m_tmp, b.c_tmp, err);
        if (st == BELT_OK)
            st = train_and_score(&cd, b.tr, ntr, b.te, nte, b.model, b.comb, err);
        if (st != BELT_OK)
            break;
        count_at(b.rule, b.pos, b.te, nte, t[0], &out->rules_tuned);
        count_at(b.model, b.pos, b.te, nte, t[1], &out->model_tuned);
        count_at(b.comb, b.pos, b.te, nte, t[2], &out->combined_tuned);
        for (int k = 0; k < 3; k++)
            tsum[k] += t[k];
    }
    if (st == BELT_OK) {
        out->n = n;
        for (size_t i = 0; i < n; i++)
            out->n_pos += b.pos[i];
        count_at(b.rule, b.pos, NULL, n, t_rules, &out->rules);
        count_at(b.model, b.pos, NULL, n, t_def, &out->model);
        count_at(b.comb, b.pos, NULL, n, t_def, &out->combined);
        out->rules.threshold = t_rules;
        out->model.threshold = out->combined.threshold = t_def;
        out->rules_tuned.threshold = tsum[0] / (double)p->folds;
        out->model_tuned.threshold = tsum[1] / (double)p->folds;
        out->combined_tuned.threshold = tsum[2] / (double)p->folds;
        struct belt_guard_counts *all[6] = {&out->rules,       &out->model,
                                            &out->combined,    &out->rules_tuned,
                                            &out->model_tuned, &out->combined_tuned};
        for (int k = 0; k < 6; k++)
            finish_counts(all[k]);
        for (size_t i = 0; p->on_score && i < n; i++)
            p->on_score(p->score_ud, i, b.rule[i], b.model[i], b.comb[i]);
        for (int k = 0; k < 9; k++) {
            out->sweep[k].threshold = 0.1 * (k + 1);
            count_at(b.comb, b.pos, NULL, n, out->sweep[k].threshold, &out->sweep[k]);
            finish_counts(&out->sweep[k]);
        }
        out->auc_rules = auc(b.rule, b.pos, n);
        out->auc_model = auc(b.model, b.pos, n);
        out->auc_combined = auc(b.comb, b.pos, n);
    }
    cv_bufs_free(&b, n, n_extra);
    return st;
}
