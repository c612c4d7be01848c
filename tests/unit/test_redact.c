/*
 * test_redact.c — reversible redaction (OWASP LLM02: only redacted text leaves): placeholders,
 * the per-request map, restoring answers, and the streaming restorer across chunk splits.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

static struct belt_pii *pii_all(void)
{
    struct belt_pii *pii = NULL;
    BELT_ASSERT_OK(belt_pii_new(NULL, &pii, NULL));
    return pii;
}

static char *redact(const struct belt_pii *pii, struct belt_pii_map *map, const char *t)
{
    char *out = NULL;
    size_t n = 0;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_pii_redact(pii, map, t, strlen(t), &out, &n, &err), &err);
    assert_int_equal(strlen(out), n);
    return out;
}

static void redact_replaces_values_with_placeholders(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    const char *t = "Mail jane@example.com or call +1 415 555 0132; card 4111 1111 1111 1111.";
    char *r = redact(pii, map, t);
    assert_string_equal(r, "Mail [EMAIL_1] or call [PHONE_1]; card [CARD_1].");
    assert_null(strstr(r, "jane"));
    assert_int_equal(belt_pii_map_count(map), 3);
    struct belt_pii_map_entry e;
    BELT_ASSERT_OK(belt_pii_map_get(map, 0, &e));
    assert_int_equal(e.entity, BELT_PII_EMAIL);
    assert_string_equal(e.placeholder, "[EMAIL_1]");
    assert_memory_equal(e.value, "jane@example.com", e.value_len);
    BELT_ASSERT_STATUS(belt_pii_map_get(map, 3, &e), BELT_ERR_NOTFOUND);
    belt_free(r);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

static void redact_same_value_same_placeholder_across_texts(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    char *a = redact(pii, map, "from a@x.io to b@y.io");
    char *b = redact(pii, map, "reply to b@y.io, cc a@x.io and c@z.io");
    assert_string_equal(a, "from [EMAIL_1] to [EMAIL_2]");
    assert_string_equal(b, "reply to [EMAIL_2], cc [EMAIL_1] and [EMAIL_3]");
    belt_free(a);
    belt_free(b);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

static void redact_skips_placeholders_the_user_wrote(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    char *r = redact(pii, map, "template [EMAIL_1] for jane@example.com");
    assert_string_equal(r, "template [EMAIL_1] for [EMAIL_2]");
    char *back = NULL;
    size_t n = 0;
    BELT_ASSERT_OK(belt_pii_restore(map, r, strlen(r), &back, &n, NULL));
    assert_string_equal(back, "template [EMAIL_1] for jane@example.com");
    belt_free(back);
    belt_free(r);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

static void restore_puts_values_back_and_leaves_unknown(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    char *r = redact(pii, map, "IBAN GB29 NWBK 6016 1331 9268 19");
    assert_string_equal(r, "IBAN [IBAN_1]");
    const char *answer = "Paid to [IBAN_1] ([IBAN_2] unknown, [IBAN_1 broken).";
    char *back = NULL;
    size_t n = 0;
    BELT_ASSERT_OK(belt_pii_restore(map, answer, strlen(answer), &back, &n, NULL));
    assert_string_equal(back,
                        "Paid to GB29 NWBK 6016 1331 9268 19 ([IBAN_2] unknown, [IBAN_1 broken).");
    belt_free(back);
    belt_free(r);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

/* Feed `answer` in two chunks split at every position; the output must always be the same. */
static void restorer_handles_every_split_point(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    char *r = redact(pii, map, "jane@example.com and 078-05-1123");
    assert_string_equal(r, "[EMAIL_1] and [SSN_1]");
    const char *answer = "Dear [EMAIL_1], your SSN [SSN_1] is on file [x] [EMAIL_";
    const char *want = "Dear jane@example.com, your SSN 078-05-1123 is on file [x] [EMAIL_";
    struct belt_pii_restorer *rs = NULL;
    BELT_ASSERT_OK(belt_pii_restorer_new(map, &rs, NULL));
    size_t len = strlen(answer);
    for (size_t cut = 0; cut <= len; cut++) {
        char *o1 = NULL, *o2 = NULL, *o3 = NULL;
        size_t n1 = 0, n2 = 0, n3 = 0;
        BELT_ASSERT_OK(belt_pii_restorer_push(rs, answer, cut, &o1, &n1, NULL));
        BELT_ASSERT_OK(belt_pii_restorer_push(rs, answer + cut, len - cut, &o2, &n2, NULL));
        BELT_ASSERT_OK(belt_pii_restorer_finish(rs, &o3, &n3, NULL));
        char joined[256];
        snprintf(joined, sizeof(joined), "%s%s%s", o1, o2, o3);
        if (strcmp(joined, want) != 0)
            fail_msg("split at %zu: \"%s\"", cut, joined);
        /* Nothing that could still become a placeholder is emitted early. */
        assert_null(strstr(o1, "[EMAIL_1"));
        belt_free(o1);
        belt_free(o2);
        belt_free(o3);
    }
    belt_pii_restorer_free(rs);
    belt_free(r);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

/* Append s to the NUL-terminated buffer acc of capacity cap. */
static void append(char *acc, size_t cap, const char *s)
{
    size_t a = strlen(acc), b = strlen(s);
    if (a + b >= cap)
        fail_msg("buffer too small");
    memcpy(acc + a, s, b + 1);
}

static void restorer_one_byte_chunks(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    char *r = redact(pii, map, "mac 00:1A:2B:3C:4D:5E");
    struct belt_pii_restorer *rs = NULL;
    BELT_ASSERT_OK(belt_pii_restorer_new(map, &rs, NULL));
    const char *answer = "[[MAC_1]] ok";
    char acc[128] = "";
    for (size_t i = 0; answer[i]; i++) {
        char *o = NULL;
        size_t n = 0;
        BELT_ASSERT_OK(belt_pii_restorer_push(rs, answer + i, 1, &o, &n, NULL));
        append(acc, sizeof(acc), o);
        belt_free(o);
    }
    char *o = NULL;
    size_t n = 0;
    BELT_ASSERT_OK(belt_pii_restorer_finish(rs, &o, &n, NULL));
    append(acc, sizeof(acc), o);
    belt_free(o);
    assert_string_equal(acc, "[00:1A:2B:3C:4D:5E] ok");
    belt_pii_restorer_free(rs);
    belt_free(r);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

static void redact_empty_and_clean_text(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    struct belt_pii_map *map = NULL;
    BELT_ASSERT_OK(belt_pii_map_new(&map, NULL));
    char *a = redact(pii, map, "");
    char *b = redact(pii, map, "nothing to hide here");
    assert_string_equal(a, "");
    assert_string_equal(b, "nothing to hide here");
    assert_int_equal(belt_pii_map_count(map), 0);
    belt_free(a);
    belt_free(b);
    belt_pii_map_free(map);
    belt_pii_free(pii);
}

static void redact_survives_allocation_failures(void **state)
{
    (void)state;
    struct belt_pii *pii = pii_all();
    const char *t = "a@b.io, c@d.io, a@b.io";
    for (long k = 1; k < 200; k++) {
        struct belt_pii_map *map = NULL;
        char *out = NULL, *back = NULL;
        size_t n = 0;
        belt__alloc_fail_after(k, 0);
        belt_status s = belt_pii_map_new(&map, NULL);
        if (s == BELT_OK)
            s = belt_pii_redact(pii, map, t, strlen(t), &out, &n, NULL);
        if (s == BELT_OK)
            s = belt_pii_restore(map, out, n, &back, &n, NULL);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (s == BELT_OK)
            assert_string_equal(back, t);
        else
            assert_int_equal(s, BELT_ERR_NOMEM);
        belt_free(out);
        belt_free(back);
        belt_pii_map_free(map);
        if (injected == 0)
            break;
    }
    belt_pii_free(pii);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redact_replaces_values_with_placeholders),
        cmocka_unit_test(redact_same_value_same_placeholder_across_texts),
        cmocka_unit_test(redact_skips_placeholders_the_user_wrote),
        cmocka_unit_test(restore_puts_values_back_and_leaves_unknown),
        cmocka_unit_test(restorer_handles_every_split_point),
        cmocka_unit_test(restorer_one_byte_chunks),
        cmocka_unit_test(redact_empty_and_clean_text),
        cmocka_unit_test(redact_survives_allocation_failures),
    };
    return belt_test_run("redact", tests, BELT_ARRAY_LEN(tests));
}
