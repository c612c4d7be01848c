/*
 * test_classifier.c — training and prediction (belt_classifier_train / _predict): it learns a
 * separable task, abstains below the threshold, reports top-k and progress, is thread-safe on
 * a shared model, and refuses bad training data with a clear message.
 */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "learn/train.h"
#include "learn_data.h"
#include "util/alloc.h"

static struct belt_classifier *train_small(size_t n)
{
    struct learn_data d;
    learn_data_make(&d, n, 7);
    struct belt_classifier_params p = learn_params();
    struct belt_classifier *c = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_classifier_train(&p, d.ex, d.n, NULL, 0, &c, &err), &err);
    learn_data_free(&d);
    return c;
}

static void classifier_learns_separable_intents(void **state)
{
    (void)state;
    struct belt_classifier *c = train_small(400);
    struct learn_data test;
    learn_data_make(&test, 200, 99);
    size_t ok = 0;
    for (size_t i = 0; i < test.n; i++) {
        struct belt_prediction p;
        BELT_ASSERT_OK(
            belt_classifier_predict(c, test.ex[i].text, strlen(test.ex[i].text), NULL, &p, NULL));
        ok += strcmp(p.label, test.ex[i].label) == 0;
    }
    assert_true(ok >= 190);
    assert_int_equal(belt_classifier_n_labels(c), 4);
    learn_data_free(&test);
    belt_classifier_free(c);
}

static void classifier_labels_are_sorted_and_indexed(void **state)
{
    (void)state;
    struct belt_classifier *c = train_small(200);
    assert_string_equal(belt_classifier_label(c, 0), "cancel");
    assert_string_equal(belt_classifier_label(c, 3), "shipping");
    assert_null(belt_classifier_label(c, 4));
    assert_int_equal(belt_classifier_label_index(c, "refund"), 2);
    assert_int_equal(belt_classifier_label_index(c, "nope"), -1);
    belt_classifier_free(c);
}

static void classifier_abstains_below_threshold(void **state)
{
    (void)state;
    struct belt_classifier *c = train_small(200);
    struct belt_predict_params pp = belt_predict_default_params();
    struct belt_prediction p;
    pp.threshold = 1.01; /* nothing reaches it */
    BELT_ASSERT_OK(belt_classifier_predict(c, "refund please", 13, &pp, &p, NULL));
    assert_true(p.abstained);
    assert_string_equal(p.label, BELT_CLASSIFIER_ABSTAIN);
    assert_string_equal(p.top[0].label, "refund"); /* the best guess is still reported */
    pp.threshold = 0.0;
    BELT_ASSERT_OK(belt_classifier_predict(c, "refund please", 13, &pp, &p, NULL));
    assert_false(p.abstained);
    assert_string_equal(p.label, "refund");
    belt_classifier_free(c);
}

static void classifier_top_k_is_sorted_and_sums_to_one(void **state)
{
    (void)state;
    struct belt_classifier *c = train_small(200);
    struct belt_predict_params pp = belt_predict_default_params();
    pp.top_k = 10; /* more than there are labels */
    struct belt_prediction p;
    BELT_ASSERT_OK(belt_classifier_predict(c, "my tracking number", 18, &pp, &p, NULL));
    assert_int_equal(p.n_top, 4);
    double sum = 0;
    for (int i = 0; i < p.n_top; i++) {
        sum += p.top[i].prob;
        if (i)
            assert_true(p.top[i - 1].prob >= p.top[i].prob);
    }
    assert_true(sum > 0.999 && sum < 1.001);
    assert_true(p.confidence == p.top[0].prob);
    belt_classifier_free(c);
}

static void classifier_rejects_invalid_utf8_at_predict(void **state)
{
    (void)state;
    struct belt_classifier *c = train_small(100);
    struct belt_prediction p;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_classifier_predict(c, "a\xc3", 2, NULL, &p, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "UTF-8");
    belt_classifier_free(c);
}

static void train_rejects_empty_and_single_label(void **state)
{
    (void)state;
    struct belt_classifier *c = NULL;
    struct belt_error err = {0};
    struct belt_classifier_params p = learn_params();
    BELT_ASSERT_STATUS(belt_classifier_train(&p, NULL, 0, NULL, 0, &c, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "empty");
    struct belt_example one[3] = {{"a b", "x"}, {"c d", "x"}, {"e f", "x"}};
    BELT_ASSERT_STATUS(belt_classifier_train(&p, one, 3, NULL, 0, &c, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "single label");
    assert_null(c);
}

static void train_rejects_bad_examples(void **state)
{
    (void)state;
    struct belt_classifier *c = NULL;
    struct belt_error err = {0};
    struct belt_classifier_params p = learn_params();
    struct belt_example bad_text[2] = {{"ok", "a"}, {"bad \xfe", "b"}};
    BELT_ASSERT_STATUS(belt_classifier_train(&p, bad_text, 2, NULL, 0, &c, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "training example 2: text is not UTF-8");
    struct belt_example empty_label[2] = {{"ok", "a"}, {"ok", ""}};
    BELT_ASSERT_STATUS(belt_classifier_train(&p, empty_label, 2, NULL, 0, &c, &err),
                       BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "empty label");
    struct belt_example tr[2] = {{"a", "x"}, {"b", "y"}}, dev[1] = {{"c", "z"}};
    BELT_ASSERT_STATUS(belt_classifier_train(&p, tr, 2, dev, 1, &c, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "'z' does not occur");
    p.epochs = 0;
    BELT_ASSERT_STATUS(belt_classifier_train(&p, tr, 2, NULL, 0, &c, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "epochs");
}

struct prog {
    int calls;      /* progress reports seen */
    int cancel_at;  /* epoch at which to cancel (0: never) */
    int last_epoch; /* last epoch reported */
};

static int on_progress(void *ud, const struct belt_classifier_progress *p)
{
    struct prog *pr = ud;
    pr->calls++;
    assert_true(p->epoch == pr->last_epoch + 1);
    assert_true(p->dev_accuracy >= 0 && p->dev_accuracy <= 1);
    assert_true(p->best_dev_accuracy >= p->dev_accuracy);
    pr->last_epoch = p->epoch;
    return pr->cancel_at && p->epoch >= pr->cancel_at;
}

static void train_reports_progress_and_can_be_cancelled(void **state)
{
    (void)state;
    struct learn_data d;
    learn_data_make(&d, 200, 3);
    struct belt_classifier_params p = learn_params();
    struct prog pr = {0, 2, 0};
    p.progress_fn = on_progress;
    p.progress_ud = &pr;
    p.patience = 100;
    struct belt_classifier *c = NULL;
    BELT_ASSERT_STATUS(belt_classifier_train(&p, d.ex, d.n, NULL, 0, &c, NULL), BELT_ERR_CANCELLED);
    assert_null(c);
    assert_int_equal(pr.calls, 2);
    pr = (struct prog){0, 0, 0};
    BELT_ASSERT_OK(belt_classifier_train(&p, d.ex, d.n, NULL, 0, &c, NULL));
    assert_int_equal(pr.calls, p.epochs);
    belt_classifier_free(c);
    learn_data_free(&d);
}

static void train_is_reproducible_single_threaded(void **state)
{
    (void)state;
    struct belt_classifier *a = train_small(200), *b = train_small(200);
    struct belt_prediction pa, pb;
    BELT_ASSERT_OK(belt_classifier_predict(a, "hi my login reset", 17, NULL, &pa, NULL));
    BELT_ASSERT_OK(belt_classifier_predict(b, "hi my login reset", 17, NULL, &pb, NULL));
    assert_int_equal(pa.index, pb.index);
    assert_true(pa.confidence == pb.confidence);
    assert_true(belt_classifier_temperature(a) == belt_classifier_temperature(b));
    belt_classifier_free(a);
    belt_classifier_free(b);
}

static void train_multithreaded_learns(void **state)
{
    (void)state;
    struct learn_data d;
    learn_data_make(&d, 1200, 5);
    struct belt_classifier_params p = learn_params();
    p.threads = 2;
    struct belt_classifier *c = NULL;
    BELT_ASSERT_OK(belt_classifier_train(&p, d.ex, d.n, NULL, 0, &c, NULL));
    struct belt_prediction pr;
    BELT_ASSERT_OK(belt_classifier_predict(c, "where is my package", 19, NULL, &pr, NULL));
    assert_string_equal(pr.label, "shipping");
    BELT_ASSERT_CONTAINS(belt_classifier_metadata_json(c), "\"threads\":2");
    belt_classifier_free(c);
    learn_data_free(&d);
}

static void split_is_stratified_and_seeded(void **state)
{
    (void)state;
    int gold[100];
    for (int i = 0; i < 100; i++)
        gold[i] = i < 80 ? 0 : (i < 99 ? 1 : 2); /* 80 / 19 / 1 */
    unsigned char a[100], b[100];
    assert_int_equal(belt__split_stratified(gold, 100, 3, 0.1, 42, a), 8 + 2);
    belt__split_stratified(gold, 100, 3, 0.1, 42, b);
    assert_memory_equal(a, b, 100);
    size_t per[3] = {0};
    for (int i = 0; i < 100; i++)
        per[gold[i]] += a[i];
    assert_int_equal(per[0], 8);
    assert_int_equal(per[1], 2);
    assert_int_equal(per[2], 0); /* a single item stays in train */
}

struct shared {
    const struct belt_classifier *c; /* model shared by the threads */
    int ok;                          /* all predictions agreed */
};

static void *predict_many(void *arg)
{
    struct shared *s = arg;
    struct belt_prediction want, got;
    belt_classifier_predict(s->c, "cancel my subscription", 22, NULL, &want, NULL);
    for (int i = 0; i < 2000; i++) {
        belt_classifier_predict(s->c, "cancel my subscription", 22, NULL, &got, NULL);
        if (got.index != want.index || got.confidence != want.confidence)
            s->ok = 0;
    }
    return NULL;
}

static void predict_is_thread_safe_on_shared_model(void **state)
{
    (void)state;
    struct belt_classifier *c = train_small(200);
    struct shared s[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct shared){c, 1};
        assert_int_equal(pthread_create(&th[i], NULL, predict_many, &s[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(s[i].ok);
    }
    belt_classifier_free(c);
}

static void train_out_of_memory_fails_cleanly(void **state)
{
    (void)state;
    struct learn_data d;
    learn_data_make(&d, 60, 11);
    struct belt_classifier_params p = learn_params();
    p.epochs = 1;
    long live = belt__alloc_n_live();
    for (long n = 1; n < 400; n += 7) {
        struct belt_classifier *c = NULL;
        belt__alloc_fail_after(n, 0);
        belt_status st = belt_classifier_train(&p, d.ex, d.n, NULL, 0, &c, NULL);
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK)
            belt_classifier_free(c);
        else
            assert_null(c);
        assert_int_equal(belt__alloc_n_live(), live);
    }
    learn_data_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifier_learns_separable_intents),
        cmocka_unit_test(classifier_labels_are_sorted_and_indexed),
        cmocka_unit_test(classifier_abstains_below_threshold),
        cmocka_unit_test(classifier_top_k_is_sorted_and_sums_to_one),
        cmocka_unit_test(classifier_rejects_invalid_utf8_at_predict),
        cmocka_unit_test(train_rejects_empty_and_single_label),
        cmocka_unit_test(train_rejects_bad_examples),
        cmocka_unit_test(train_reports_progress_and_can_be_cancelled),
        cmocka_unit_test(train_is_reproducible_single_threaded),
        cmocka_unit_test(train_multithreaded_learns),
        cmocka_unit_test(split_is_stratified_and_seeded),
        cmocka_unit_test(predict_is_thread_safe_on_shared_model),
        cmocka_unit_test(train_out_of_memory_fails_cleanly),
    };
    return belt_test_run("classifier", tests, BELT_ARRAY_LEN(tests));
}
