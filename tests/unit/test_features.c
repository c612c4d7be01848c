/*
 * test_features.c — text normalisation (learn/text.h) and feature extraction
 * (learn/features.h): the tokenisation of the fastText benchmark, Unicode handling, stable
 * hashes, n-gram counts, errors.
 */
#include "testutil.h"

#include <string.h>

#include "learn/features.h"
#include "learn/text.h"
#include "util/alloc.h"
#include "util/buf.h"

static char *norm(const char *s)
{
    struct belt_buf b;
    belt_buf_init(&b, 0);
    BELT_ASSERT_OK(belt__text_normalize(s, strlen(s), &b, NULL));
    return belt_buf_detach(&b, NULL);
}

static void text_normalize_matches_benchmark_prep(void **state)
{
    (void)state;
    /* Same as ftbench.py prep(): lower-case, split . ! ? , ' " / ( ) [ ] : ; */
    char *s = norm("Hi, I'd like (a) REFUND/return: now!!  ok?");
    assert_string_equal(s, "hi , i ' d like ( a ) refund / return : now ! ! ok ?");
    belt_free(s);
}

static void text_normalize_lowercases_unicode(void **state)
{
    (void)state;
    char *s = norm("ÉCOLE Straße ΑΒΓ ПРИВЕТ Ölçü");
    assert_string_equal(s, "école straße αβγ привет ölçü");
    belt_free(s);
}

static void text_normalize_splits_unicode_space(void **state)
{
    (void)state;
    char *s = norm("a\xc2\xa0"
                   "b\xe3\x80\x80"
                   "c\td");
    assert_string_equal(s, "a b c d");
    belt_free(s);
}

static void text_rejects_invalid_utf8(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt__text_normalize("ok \xff bad", 8, &b, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "invalid UTF-8 at byte 4");
    belt_buf_deinit(&b);
}

static void text_cuts_overlong_tokens(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *s = norm(big);
    /* 999 bytes in pieces of at most BELT__TOKEN_MAX: 256+256+256+231 with three spaces. */
    assert_int_equal(strlen(s), 999 + 3);
    belt_free(s);
}

static void features_counts_word_and_char_ngrams(void **state)
{
    (void)state;
    struct belt__feature_config fc = {2, 3, 4};
    struct belt__feature_vec v;
    belt__feature_vec_init(&v);
    BELT_ASSERT_OK(belt__features_extract(&fc, "ab cd", 5, &v, NULL));
    /* words: ab, cd, "ab cd" = 3; chars of "<ab>": 3-grams 2, 4-grams 1; same for "<cd>" = 6 */
    assert_int_equal(v.n_kind[BELT__FEAT_WORD], 3);
    assert_int_equal(v.n_kind[BELT__FEAT_CHAR], 6);
    assert_int_equal(v.n, 9);
    for (size_t i = 0; i < v.n; i++)
        assert_true(v.hash[i] != 0);
    belt__feature_vec_deinit(&v);
}

static void features_are_stable_and_case_insensitive(void **state)
{
    (void)state;
    struct belt__feature_config fc = {2, 2, 5};
    struct belt__feature_vec a, b;
    belt__feature_vec_init(&a);
    belt__feature_vec_init(&b);
    BELT_ASSERT_OK(belt__features_extract(&fc, "Where is my ORDER?", 18, &a, NULL));
    BELT_ASSERT_OK(belt__features_extract(&fc, "where is my order ?", 19, &b, NULL));
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.hash, b.hash, a.n * sizeof(uint64_t));
    belt__feature_vec_deinit(&a);
    belt__feature_vec_deinit(&b);
}

static void features_distinguish_word_order(void **state)
{
    (void)state;
    struct belt__feature_config fc = {2, 0, 0};
    struct belt__feature_vec a, b;
    belt__feature_vec_init(&a);
    belt__feature_vec_init(&b);
    BELT_ASSERT_OK(belt__features_extract(&fc, "dog bites man", 13, &a, NULL));
    BELT_ASSERT_OK(belt__features_extract(&fc, "man bites dog", 13, &b, NULL));
    assert_int_equal(a.n, 5);
    /* the unigrams agree as a set, the bigrams do not */
    size_t shared = 0;
    for (size_t i = 0; i < a.n; i++)
        for (size_t j = 0; j < b.n; j++)
            shared += a.hash[i] == b.hash[j];
    assert_int_equal(shared, 3);
    belt__feature_vec_deinit(&a);
    belt__feature_vec_deinit(&b);
}

static void features_word_and_char_spaces_differ(void **state)
{
    (void)state;
    /* The word "ab" and the character n-gram "ab" (inside "<ab>") must not share a hash. */
    struct belt__feature_config fc = {1, 2, 2};
    struct belt__feature_vec v;
    belt__feature_vec_init(&v);
    BELT_ASSERT_OK(belt__features_extract(&fc, "ab", 2, &v, NULL));
    for (size_t i = 0; i < v.n; i++)
        for (size_t j = i + 1; j < v.n; j++)
            assert_true(v.hash[i] != v.hash[j]);
    belt__feature_vec_deinit(&v);
}

static void features_reject_bad_config(void **state)
{
    (void)state;
    struct belt_error err = {0};
    struct belt__feature_config fc = {0, 2, 5};
    BELT_ASSERT_STATUS(belt__features_check_config(&fc, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "word_ngrams");
    fc = (struct belt__feature_config){2, 4, 3};
    BELT_ASSERT_STATUS(belt__features_check_config(&fc, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "char_max");
}

static void features_extract_reports_nomem(void **state)
{
    (void)state;
    struct belt__feature_config fc = {2, 2, 5};
    struct belt__feature_vec v;
    belt__feature_vec_init(&v);
    belt__alloc_fail_after(1, 1);
    belt_status st = belt__features_extract(&fc, "some text here", 14, &v, NULL);
    belt__alloc_fail_after(0, 0);
    BELT_ASSERT_STATUS(st, BELT_ERR_NOMEM);
    belt__feature_vec_deinit(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_normalize_matches_benchmark_prep),
        cmocka_unit_test(text_normalize_lowercases_unicode),
        cmocka_unit_test(text_normalize_splits_unicode_space),
        cmocka_unit_test(text_rejects_invalid_utf8),
        cmocka_unit_test(text_cuts_overlong_tokens),
        cmocka_unit_test(features_counts_word_and_char_ngrams),
        cmocka_unit_test(features_are_stable_and_case_insensitive),
        cmocka_unit_test(features_distinguish_word_order),
        cmocka_unit_test(features_word_and_char_spaces_differ),
        cmocka_unit_test(features_reject_bad_config),
        cmocka_unit_test(features_extract_reports_nomem),
    };
    return belt_test_run("features", tests, BELT_ARRAY_LEN(tests));
}
