/* Unit tests for src/line/dict.c: the phrase dictionary matcher behind rules dictionaries —
 * leftmost-longest matches, case folding, white-space runs, word boundaries, invalid UTF-8,
 * conflicts and allocation failures. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "line/dict.h"
#include "util/alloc.h"

static struct belt_dict *make(int caseless, const char *const *phrases, size_t n)
{
    struct belt_dict *d = NULL;
    BELT_ASSERT_OK(belt__dict_new(caseless, &d));
    for (size_t i = 0; i < n; i++)
        BELT_ASSERT_OK(belt__dict_add(d, phrases[i], strlen(phrases[i]), (int32_t)i, NULL));
    BELT_ASSERT_OK(belt__dict_freeze(d));
    return d;
}

/* All matches of d in text as "value@start-end " pieces. */
static void expect(const struct belt_dict *d, const char *text, const char *want)
{
    char got[256] = "";
    size_t o = 0, from = 0, s, e;
    int32_t v;
    while (belt__dict_find(d, text, strlen(text), from, &s, &e, &v)) {
        o += (size_t)snprintf(got + o, sizeof(got) - o, "%d@%zu-%zu ", v, s, e);
        from = e;
    }
    if (strcmp(got, want) != 0)
        fail_msg("text \"%s\": got \"%s\", want \"%s\"", text, got, want);
}

static void dict_finds_leftmost_longest_phrases(void **state)
{
    (void)state;
    static const char *const p[] = {"new york", "new york city", "york", "c++"};
    struct belt_dict *d = make(1, p, BELT_ARRAY_LEN(p));
    expect(d, "to New York City, not york", "1@3-16 2@22-26 ");
    expect(d, "new york cityscape", "0@0-8 ");
    /* "c++" ends with a non-word character: no boundary is needed after it */
    expect(d, "I like c++ and C++11", "3@7-10 3@15-18 ");
    assert_int_equal(belt__dict_n_phrases(d), 4);
    belt__dict_free(d);
}

static void dict_respects_word_boundaries(void **state)
{
    (void)state;
    static const char *const p[] = {"cat", "caf\xc3\xa9"};
    struct belt_dict *d = make(1, p, BELT_ARRAY_LEN(p));
    expect(d, "cat cats scat cat_ (cat) caf\xc3\xa9s caf\xc3\xa9.", "0@0-3 0@20-23 1@32-37 ");
    expect(d,
           "\xe2\x80\x9c"
           "cat\xe2\x80\x9d",
           "0@3-6 "); /* curly quotes are not letters */
    belt__dict_free(d);
}

static void dict_matches_any_white_space_run(void **state)
{
    (void)state;
    static const char *const p[] = {"money  back"};
    struct belt_dict *d = make(1, p, 1);
    expect(d, "money back", "0@0-10 ");
    expect(d, "MONEY\n\t back", "0@0-12 ");
    expect(d,
           "money\xc2\xa0"
           "back",
           "0@0-11 "); /* no-break space */
    expect(d, "moneyback", "");
    belt__dict_free(d);
}

static void dict_folds_case_across_scripts(void **state)
{
    (void)state;
    static const char *const p[] = {
        "\xc3\xa9t\xc3\xa9",                                 /* été */
        "\xce\xb1\xce\xb8\xce\xae\xce\xbd\xce\xb1",          /* αθήνα */
        "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"}; /* москва */
    struct belt_dict *d = make(1, p, BELT_ARRAY_LEN(p));
    expect(d, "\xc3\x89T\xc3\x89", "0@0-5 ");                                 /* ÉTÉ */
    expect(d, "\xce\x91\xce\x98\xce\x89\xce\x9d\xce\x91", "1@0-10 ");         /* ΑΘΉΝΑ */
    expect(d, "\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90", "2@0-12 "); /* МОСКВА */
    belt__dict_free(d);
    struct belt_dict *exact = make(0, p, 1);
    expect(exact, "\xc3\x89T\xc3\x89 \xc3\xa9t\xc3\xa9", "0@6-11 ");
    belt__dict_free(exact);
}

static void dict_skips_invalid_utf8_in_text(void **state)
{
    (void)state;
    static const char *const p[] = {"ok"};
    struct belt_dict *d = make(1, p, 1);
    expect(d,
           "\xff"
           "ok \xc3 ok",
           "0@1-3 0@6-8 ");
    belt__dict_free(d);
}

static void dict_rejects_bad_and_conflicting_phrases(void **state)
{
    (void)state;
    struct belt_dict *d = NULL;
    BELT_ASSERT_OK(belt__dict_new(1, &d));
    BELT_ASSERT_STATUS(belt__dict_add(d, "  ", 2, 0, NULL), BELT_ERR_INVALID);
    BELT_ASSERT_STATUS(belt__dict_add(d, "\xff", 1, 0, NULL), BELT_ERR_INVALID);
    char long_phrase[BELT_DICT_MAX_PHRASE + 2];
    memset(long_phrase, 'a', sizeof(long_phrase));
    BELT_ASSERT_STATUS(belt__dict_add(d, long_phrase, sizeof(long_phrase), 0, NULL),
                       BELT_ERR_INVALID);
    BELT_ASSERT_OK(belt__dict_add(d, "Hello", 5, 3, NULL));
    BELT_ASSERT_OK(belt__dict_add(d, "hello", 5, 3, NULL)); /* same value: fine */
    int32_t other = -1;
    BELT_ASSERT_STATUS(belt__dict_add(d, "HELLO", 5, 4, &other), BELT_ERR_EXISTS);
    assert_int_equal(other, 3);
    assert_int_equal(belt__dict_n_phrases(d), 1);
    belt__dict_free(d);
}

static void dict_build_survives_every_allocation_failure(void **state)
{
    (void)state;
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 100 && !completed; n++) {
        struct belt_dict *d = NULL;
        belt__alloc_fail_after(n, 1);
        belt_status s = belt__dict_new(1, &d);
        for (int i = 0; s == BELT_OK && i < 200; i++) {
            char ph[32];
            int len = snprintf(ph, sizeof(ph), "phrase number %d", i);
            s = belt__dict_add(d, ph, (size_t)len, i, NULL);
        }
        if (s == BELT_OK)
            s = belt__dict_freeze(d);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        belt__dict_free(d);
        if (s != BELT_OK)
            BELT_ASSERT_STATUS(s, BELT_ERR_NOMEM);
        completed = s == BELT_OK && injected == 0;
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(dict_finds_leftmost_longest_phrases),
    cmocka_unit_test(dict_respects_word_boundaries),
    cmocka_unit_test(dict_matches_any_white_space_run),
    cmocka_unit_test(dict_folds_case_across_scripts),
    cmocka_unit_test(dict_skips_invalid_utf8_in_text),
    cmocka_unit_test(dict_rejects_bad_and_conflicting_phrases),
    cmocka_unit_test(dict_build_survives_every_allocation_failure),
};

BELT_TEST_MAIN(tests)
