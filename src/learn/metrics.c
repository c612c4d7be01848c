/*
 * metrics.c — belt_eval_compute(): accuracy, macro-F1, expected calibration error, coverage and
 * accuracy above confidence thresholds, the threshold that reaches a target accuracy, and the
 * most frequent confusions, over (gold, predicted, confidence) triples of any labeller.
 */
#include "belt_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"
#include "util/error.h"

struct belt_eval_params belt_eval_default_params(void)
{
    struct belt_eval_params p;
    memset(&p, 0, sizeof(p));
    static const double t[] = {0.5, 0.7, 0.8, 0.9, 0.95};
    p.n_thresholds = BELT_ARRAY_LEN(t);
    memcpy(p.thresholds, t, sizeof(t));
    p.target_accuracy = 0.95;
    p.fixed_threshold = -1.0;
    p.n_bins = 15;
    p.n_confusions = 10;
    return p;
}

static belt_status check_items(const struct belt_eval_item *items, size_t n, size_t n_labels,
                               struct belt_error *err)
{
    if (n == 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "evaluation: no items");
    for (size_t i = 0; i < n; i++) {
        const struct belt_eval_item *it = &items[i];
        if (it->gold < -1 || it->gold >= (long)n_labels || it->pred < -1 ||
            it->pred >= (long)n_labels)
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "evaluation item %zu: label index out of range", i);
        if (!(it->confidence >= 0.0 && it->confidence <= 1.0))
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "evaluation item %zu: confidence not in [0,1]", i);
    }
    return BELT_OK;
}

static int correct(const struct belt_eval_item *it)
{
    return it->gold >= 0 && it->pred == it->gold;
}

static struct belt_eval_coverage coverage_at(const struct belt_eval_item *items, size_t n, double t)
{
    struct belt_eval_coverage c = {t, 0, 0.0, 0.0};
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].confidence >= t) {
            c.n++;
            ok += (size_t)correct(&items[i]);
        }
    }
    c.coverage = (double)c.n / (double)n;
    c.accuracy = c.n ? (double)ok / (double)c.n : 0.0;
    return c;
}

static double ece(const struct belt_eval_item *items, size_t n, size_t n_bins)
{
    double conf[64] = {0}, ok[64] = {0};
    size_t cnt[64] = {0};
    if (n_bins < 1)
        n_bins = 1;
    if (n_bins > 64)
        n_bins = 64;
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)(items[i].confidence * (double)n_bins);
        if (b >= n_bins)
            b = n_bins - 1;
        cnt[b]++;
        conf[b] += items[i].confidence;
        ok[b] += correct(&items[i]);
    }
    double e = 0.0;
    for (size_t b = 0; b < n_bins; b++)
        if (cnt[b])
            e += fabs(ok[b] - conf[b]) / (double)n;
    return e;
}

static int cmp_conf_desc(const void *a, const void *b)
{
    double x = ((const struct belt_eval_item *)a)->confidence;
    double y = ((const struct belt_eval_item *)b)->confidence;
    return (x < y) - (x > y);
}

/* Wilson score lower bound of a proportion ok/n at z standard deviations. */
static double wilson_lower(double ok, double n, double z)
{
    if (n <= 0)
        return 0.0;
    const double p = ok / n, z2 = z * z;
    const double centre = p + z2 / (2 * n);
    const double spread = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    return (centre - spread) / (1 + z2 / n);
}

/* The lowest threshold whose covered accuracy (its Wilson lower bound at target_z) reaches the
 * target, i.e. the one with the largest coverage. */
static void at_target(struct belt_eval_item *sorted, size_t n, double z, struct belt_eval_report *r)
{
    qsort(sorted, n, sizeof(*sorted), cmp_conf_desc);
    size_t ok = 0;
    r->target_reached = 0;
    for (size_t i = 0; i < n; i++) {
        ok += (size_t)correct(&sorted[i]);
        if (i + 1 < n && sorted[i + 1].confidence == sorted[i].confidence)
            continue;
        double acc = (double)ok / (double)(i + 1);
        double lower = z > 0 ? wilson_lower((double)ok, (double)(i + 1), z) : acc;
        if (lower >= r->target_accuracy) {
            r->at_target_lower = lower;
            r->target_reached = 1;
            r->at_target.threshold = sorted[i].confidence;
            r->at_target.n = i + 1;
            r->at_target.coverage = (double)(i + 1) / (double)n;
            r->at_target.accuracy = acc;
        }
    }
}

static double macro_f1(const struct belt_eval_item *items, size_t n, size_t n_labels,
                       size_t *counts)
{
    size_t *tp = counts, *fp = counts + n_labels, *fn = counts + 2 * n_labels;
    for (size_t i = 0; i < n; i++) {
        const struct belt_eval_item *it = &items[i];
        if (correct(it)) {
            tp[it->gold]++;
            continue;
        }
        if (it->pred >= 0)
            fp[it->pred]++;
        if (it->gold >= 0)
            fn[it->gold]++;
    }
    double sum = 0.0;
    size_t used = 0;
    for (size_t l = 0; l < n_labels; l++) {
        size_t d = 2 * tp[l] + fp[l] + fn[l];
        if (d == 0)
            continue;
        sum += 2.0 * (double)tp[l] / (double)d;
        used++;
    }
    return used ? sum / (double)used : 0.0;
}

static int cmp_pair(const void *a, const void *b)
{
    const struct belt_eval_confusion *x = a, *y = b;
    if (x->gold != y->gold)
        return x->gold < y->gold ? -1 : 1;
    return (x->pred > y->pred) - (x->pred < y->pred);
}

static int cmp_count_desc(const void *a, const void *b)
{
    const struct belt_eval_confusion *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return cmp_pair(a, b);
}

/* Most frequent (gold, pred) pairs of the wrong items; pairs is scratch of n entries. */
static void confusions(const struct belt_eval_item *items, size_t n, size_t want,
                       struct belt_eval_confusion *pairs, struct belt_eval_report *r)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (correct(&items[i]) || items[i].gold < 0 || items[i].pred < 0)
            continue;
        pairs[m].gold = items[i].gold;
        pairs[m].pred = items[i].pred;
        pairs[m].count = 1;
        m++;
    }
    qsort(pairs, m, sizeof(*pairs), cmp_pair);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
        if (u > 0 && cmp_pair(&pairs[u - 1], &pairs[i]) == 0)
            pairs[u - 1].count++;
        else
            pairs[u++] = pairs[i];
    }
    qsort(pairs, u, sizeof(*pairs), cmp_count_desc);
    if (want > BELT_EVAL_MAX_CONFUSIONS)
        want = BELT_EVAL_MAX_CONFUSIONS;
    r->n_confusions = BELT_MIN(u, want);
    memcpy(r->confusions, pairs, r->n_confusions * sizeof(*pairs));
}

belt_status belt_eval_compute(const struct belt_eval_item *items, size_t n, size_t n_labels,
                              const struct belt_eval_params *p, struct belt_eval_report *out,
                              struct belt_error *err)
{
    struct belt_eval_params dflt = belt_eval_default_params();
    if (!p)
        p = &dflt;
    memset(out, 0, sizeof(*out));
    belt_status st = check_items(items, n, n_labels, err);
    if (st != BELT_OK)
        return st;
    struct belt_eval_item *sorted = belt_malloc(n * sizeof(*sorted));
    struct belt_eval_confusion *pairs = belt_malloc(n * sizeof(*pairs));
    size_t *counts = belt_calloc(3 * (n_labels ? n_labels : 1), sizeof(size_t));
    if (!sorted || !pairs || !counts) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "evaluation: out of memory");
        goto done;
    }
    out->n = n;
    double conf_sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        out->n_correct += (size_t)correct(&items[i]);
        conf_sum += items[i].confidence;
    }
    out->accuracy = (double)out->n_correct / (double)n;
    out->mean_confidence = conf_sum / (double)n;
    out->macro_f1 = macro_f1(items, n, n_labels, counts);
    out->ece = ece(items, n, p->n_bins);
    out->n_coverage = BELT_MIN(p->n_thresholds, (size_t)BELT_EVAL_MAX_THRESHOLDS);
    for (size_t i = 0; i < out->n_coverage; i++)
        out->coverage[i] = coverage_at(items, n, p->thresholds[i]);
    out->target_accuracy = p->target_accuracy;
    memcpy(sorted, items, n * sizeof(*sorted));
    at_target(sorted, n, p->target_z, out);
    out->has_fixed = p->fixed_threshold >= 0.0;
    if (out->has_fixed)
        out->at_fixed = coverage_at(items, n, p->fixed_threshold);
    confusions(items, n, p->n_confusions, pairs, out);
done:
    belt_free(sorted);
    belt_free(pairs);
    belt_free(counts);
    return st;
}
