/*
 * bench_classifier.c — train and evaluate the text classifier in one process, for
 * hyper-parameter sweeps and timing without the store (bench/classifier/run.sh drives the
 * real `belt` binary for the fastText comparison).
 *
 *   bench_classifier TRAIN.jsonl DEV.jsonl|- TEST.jsonl [key=value ...]
 *
 * keys: the belt_classifier_params fields (word_ngrams, char_min, char_max, char_weight,
 * min_count, max_features, epochs, patience, lr, l2, threads, seed, dev_fraction), q8=1 to
 * evaluate the 8-bit model (saved and reloaded), save=PATH. Prints one JSON line.
 */
#include "belt_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"
#include "util/clock.h"
#include "util/json.h"

struct set {
    struct belt_example *ex; /* examples (strings owned) */
    size_t n;                /* count */
};

static int load(const char *path, struct set *s)
{
    struct belt_jsonl_reader r;
    struct belt_error err = {0};
    memset(s, 0, sizeof(*s));
    if (belt_jsonl_open(&r, path, &err) != BELT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        json_t *o = NULL;
        if (belt_jsonl_next(&r, &o, &err) != BELT_OK) {
            fprintf(stderr, "%s\n", err.msg);
            belt_jsonl_close(&r);
            return -1;
        }
        if (!o)
            break;
        if (s->n == cap) {
            cap = cap ? 2 * cap : 1024;
            s->ex = realloc(s->ex, cap * sizeof(*s->ex));
        }
        s->ex[s->n].text = strdup(belt_json_str(o, "text") ? belt_json_str(o, "text") : "");
        s->ex[s->n].label = strdup(belt_json_str(o, "label") ? belt_json_str(o, "label") : "?");
        s->n++;
        json_decref(o);
    }
    belt_jsonl_close(&r);
    return 0;
}

static void set_free(struct set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->ex[i].text);
        free((char *)s->ex[i].label);
    }
    free(s->ex);
}

static int set_param(struct belt_classifier_params *p, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    size_t k = (size_t)(eq - kv);
    double v = strtod(eq + 1, NULL);
#define F(name, expr)                                                                              \
    if (k == strlen(#name) && strncmp(kv, #name, k) == 0) {                                        \
        p->name = expr;                                                                            \
        return 0;                                                                                  \
    }
    F(word_ngrams, (int)v)
    F(char_min, (int)v)
    F(char_max, (int)v)
    F(char_weight, v)
    F(min_count, (int)v)
    F(max_features, (uint32_t)v)
    F(epochs, (int)v)
    F(patience, (int)v)
    F(lr, v)
    F(l2, v)
    F(threads, (int)v)
    F(seed, (uint64_t)v)
    F(dev_fraction, v)
    F(threshold_z, v)
#undef F
    return 1;
}

static void evaluate(const struct belt_classifier *c, const struct set *test, double secs, int q8)
{
    struct belt_eval_item *items = calloc(test->n, sizeof(*items));
    struct belt_prediction p;
    int64_t t0 = belt_now_us();
    for (size_t i = 0; i < test->n; i++) {
        belt_classifier_predict(c, test->ex[i].text, strlen(test->ex[i].text), NULL, &p, NULL);
        items[i].gold = belt_classifier_label_index(c, test->ex[i].label);
        items[i].pred = p.index;
        items[i].confidence = p.confidence;
    }
    double pred_us = (double)(belt_now_us() - t0) / (double)test->n;
    struct belt_eval_params ep = belt_eval_default_params();
    ep.fixed_threshold = belt_classifier_dev_threshold(c);
    struct belt_eval_report r;
    belt_eval_compute(items, test->n, belt_classifier_n_labels(c), &ep, &r, NULL);
    printf("{\"q8\":%d,\"acc\":%.4f,\"macro_f1\":%.4f,\"ece\":%.4f,\"train_s\":%.2f,"
           "\"pred_us\":%.2f,\"dev_thr\":%.3f,\"cov_at_dev_thr\":%.4f,\"acc_at_dev_thr\":%.4f,"
           "\"oracle_cov95\":%.4f,\"meta\":%s}\n",
           q8, r.accuracy, r.macro_f1, r.ece, secs, pred_us, ep.fixed_threshold,
           r.has_fixed ? r.at_fixed.coverage : 0, r.has_fixed ? r.at_fixed.accuracy : 0,
           r.target_reached ? r.at_target.coverage : 0, belt_classifier_metadata_json(c));
    free(items);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s TRAIN DEV|- TEST [key=value ...]\n", argv[0]);
        return 2;
    }
    belt_global_init(NULL);
    struct belt_classifier_params p = belt_classifier_default_params();
    int q8 = 0;
    const char *save = NULL;
    for (int i = 4; i < argc; i++) {
        if (strncmp(argv[i], "q8=", 3) == 0)
            q8 = argv[i][3] == '1';
        else if (strncmp(argv[i], "save=", 5) == 0)
            save = argv[i] + 5;
        else if (set_param(&p, argv[i]) != 0) {
            fprintf(stderr, "bad parameter %s\n", argv[i]);
            return 2;
        }
    }
    struct set tr, dv = {0}, te;
    if (load(argv[1], &tr) || (strcmp(argv[2], "-") && load(argv[2], &dv)) || load(argv[3], &te))
        return 1;
    struct belt_error err = {0};
    struct belt_classifier *c = NULL;
    int64_t t0 = belt_now_us();
    if (belt_classifier_train(&p, tr.ex, tr.n, dv.ex, dv.n, &c, &err) != BELT_OK) {
        fprintf(stderr, "train: %s\n", err.msg);
        return 1;
    }
    double secs = (double)(belt_now_us() - t0) / 1e6;
    evaluate(c, &te, secs, 0);
    if (q8 || save) {
        const char *path = save ? save : "/tmp/bench_classifier.belt";
        struct belt_classifier *c2 = NULL;
        if (belt_classifier_save(c, path, q8 ? BELT_CLASSIFIER_SAVE_Q8 : 0, &err) != BELT_OK ||
            belt_classifier_load(path, &c2, &err) != BELT_OK) {
            fprintf(stderr, "save/load: %s\n", err.msg);
            return 1;
        }
        evaluate(c2, &te, secs, q8);
        belt_classifier_free(c2);
    }
    belt_classifier_free(c);
    set_free(&tr);
    set_free(&dv);
    set_free(&te);
    belt_global_cleanup();
    return 0;
}
