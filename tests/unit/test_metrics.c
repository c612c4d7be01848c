/*
 * test_metrics.c — belt_eval_compute (accuracy, macro-F1, ECE, coverage, threshold for a
 * target accuracy, confusions) and temperature scaling (learn/calib.c), on hand-computed cases.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "learn/classifier.h"
#include "util/rng.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void eval_accuracy_and_macro_f1(void **state)
{
    (void)state;
    /* label 0: tp 2, fn 1 (as 1); label 1: tp 1, fp 1; label 2: absent everywhere */
    const struct belt_eval_item it[] = {{0, 0, 0.9}, {0, 0, 0.8}, {0, 1, 0.6}, {1, 1, 0.7}};
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 4, 3, NULL, &r, NULL));
    assert_int_equal(r.n, 4);
    assert_int_equal(r.n_correct, 3);
    NEAR(r.accuracy, 0.75);
    /* F1(0) = 4/5, F1(1) = 2/3; label 2 is not counted */
    NEAR(r.macro_f1, (0.8 + 2.0 / 3.0) / 2);
    NEAR(r.mean_confidence, 0.75);
}

static void eval_ece_of_perfectly_calibrated_bins_is_zero(void **state)
{
    (void)state;
    struct belt_eval_item it[10];
    for (int i = 0; i < 10; i++) /* confidence 0.7, 7 of 10 right */
        it[i] = (struct belt_eval_item){0, i < 7 ? 0 : 1, 0.7};
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 10, 2, NULL, &r, NULL));
    NEAR(r.ece, 0.0);
    for (int i = 0; i < 10; i++) /* now all wrong: |0 - 0.7| */
        it[i].pred = 1;
    BELT_ASSERT_OK(belt_eval_compute(it, 10, 2, NULL, &r, NULL));
    NEAR(r.ece, 0.7);
}

static void eval_coverage_at_thresholds(void **state)
{
    (void)state;
    const struct belt_eval_item it[] = {
        {0, 0, 0.99}, {0, 0, 0.91}, {1, 0, 0.85}, {1, 1, 0.5}, {1, 1, 0.4}};
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 5, 2, NULL, &r, NULL));
    assert_int_equal(r.n_coverage, 5);
    NEAR(r.coverage[0].threshold, 0.5); /* >= 0.5: 4 items, 3 right */
    assert_int_equal(r.coverage[0].n, 4);
    NEAR(r.coverage[0].coverage, 0.8);
    NEAR(r.coverage[0].accuracy, 0.75);
    NEAR(r.coverage[3].threshold, 0.9); /* >= 0.9: 2 items, both right */
    NEAR(r.coverage[3].accuracy, 1.0);
    NEAR(r.coverage[4].coverage, 0.2); /* >= 0.95 */
}

static void eval_threshold_for_target_accuracy(void **state)
{
    (void)state;
    const struct belt_eval_item it[] = {{0, 0, 0.99}, {0, 0, 0.95}, {0, 0, 0.9}, {0, 1, 0.8},
                                        {0, 0, 0.7},  {0, 1, 0.6},  {0, 1, 0.5}};
    struct belt_eval_params p = belt_eval_default_params();
    p.target_accuracy = 0.8;
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 7, 2, &p, &r, NULL));
    assert_true(r.target_reached); /* top 5: 4/5 = 0.8 */
    NEAR(r.at_target.threshold, 0.7);
    assert_int_equal(r.at_target.n, 5);
    NEAR(r.at_target.accuracy, 0.8);
    p.target_accuracy = 1.0;
    BELT_ASSERT_OK(belt_eval_compute(it, 7, 2, &p, &r, NULL));
    NEAR(r.at_target.threshold, 0.9);
    p.target_z = 1.645; /* 3 of 3 is not enough evidence for 100% */
    BELT_ASSERT_OK(belt_eval_compute(it, 7, 2, &p, &r, NULL));
    assert_false(r.target_reached);
}

static void eval_ties_are_all_in_or_all_out(void **state)
{
    (void)state;
    const struct belt_eval_item it[] = {{0, 0, 0.9}, {0, 1, 0.9}, {0, 0, 0.5}};
    struct belt_eval_params p = belt_eval_default_params();
    p.target_accuracy = 0.9;
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 3, 2, &p, &r, NULL));
    assert_false(r.target_reached); /* 0.9 covers both tied items: 50% */
}

static void eval_lists_most_confused_pairs(void **state)
{
    (void)state;
    const struct belt_eval_item it[] = {{0, 1, 0.5}, {0, 1, 0.5}, {2, 1, 0.5}, {1, 0, 0.5},
                                        {1, 0, 0.5}, {1, 0, 0.5}, {2, 2, 0.5}, {-1, 2, 0.5}};
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 8, 3, NULL, &r, NULL));
    assert_int_equal(r.n_confusions, 3);
    assert_int_equal(r.confusions[0].gold, 1);
    assert_int_equal(r.confusions[0].pred, 0);
    assert_int_equal(r.confusions[0].count, 3);
    assert_int_equal(r.confusions[1].gold, 0);
    assert_int_equal(r.confusions[1].count, 2);
    assert_int_equal(r.n_correct, 1); /* an unknown gold label is never right */
}

static void eval_fixed_threshold_is_reported(void **state)
{
    (void)state;
    const struct belt_eval_item it[] = {{0, 0, 0.9}, {0, 1, 0.3}};
    struct belt_eval_params p = belt_eval_default_params();
    p.fixed_threshold = 0.5;
    struct belt_eval_report r;
    BELT_ASSERT_OK(belt_eval_compute(it, 2, 2, &p, &r, NULL));
    assert_true(r.has_fixed);
    NEAR(r.at_fixed.coverage, 0.5);
    NEAR(r.at_fixed.accuracy, 1.0);
}

static void eval_rejects_bad_items(void **state)
{
    (void)state;
    struct belt_eval_report r;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_eval_compute(NULL, 0, 2, NULL, &r, &err), BELT_ERR_INVALID);
    const struct belt_eval_item range[] = {{0, 5, 0.5}};
    BELT_ASSERT_STATUS(belt_eval_compute(range, 1, 2, NULL, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "out of range");
    const struct belt_eval_item conf[] = {{0, 0, NAN}};
    BELT_ASSERT_STATUS(belt_eval_compute(conf, 1, 2, NULL, &r, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "confidence");
}

static void calib_recovers_the_generating_temperature(void **state)
{
    (void)state;
    /* Labels drawn from softmax(z / 2): the fitted temperature should be near 2. */
    enum { N = 4000, L = 3 };
    static float logits[N * L];
    static int gold[N];
    struct belt_rng r;
    belt_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        float p[L];
        for (int l = 0; l < L; l++)
            p[l] = logits[i * L + l] = (float)(belt_rng_uniform(&r) * 8.0);
        belt__softmax(p, L, 2.0);
        double u = belt_rng_uniform(&r), acc = 0;
        gold[i] = L - 1;
        for (int l = 0; l < L; l++) {
            acc += p[l];
            if (u < acc) {
                gold[i] = l;
                break;
            }
        }
    }
    double t = belt__calib_fit_temperature(logits, gold, N, L);
    assert_true(t > 1.7 && t < 2.3);
    assert_true(belt__calib_nll(logits, gold, N, L, t) <= belt__calib_nll(logits, gold, N, L, 1));
}

static void softmax_is_stable_for_large_logits(void **state)
{
    (void)state;
    float z[3] = {1000.0f, 999.0f, -1000.0f};
    belt__softmax(z, 3, 1.0);
    assert_true(isfinite(z[0]) && isfinite(z[1]));
    assert_true(fabs(z[0] + z[1] + z[2] - 1.0) < 1e-6);
    assert_true(z[0] > z[1] && z[2] < 1e-30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eval_accuracy_and_macro_f1),
        cmocka_unit_test(eval_ece_of_perfectly_calibrated_bins_is_zero),
        cmocka_unit_test(eval_coverage_at_thresholds),
        cmocka_unit_test(eval_threshold_for_target_accuracy),
        cmocka_unit_test(eval_ties_are_all_in_or_all_out),
        cmocka_unit_test(eval_lists_most_confused_pairs),
        cmocka_unit_test(eval_fixed_threshold_is_reported),
        cmocka_unit_test(eval_rejects_bad_items),
        cmocka_unit_test(calib_recovers_the_generating_temperature),
        cmocka_unit_test(softmax_is_stable_for_large_logits),
    };
    return belt_test_run("metrics", tests, BELT_ARRAY_LEN(tests));
}
