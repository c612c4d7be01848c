/*
 * test_pii.c — the PII detectors: names, each entity's pattern and validator, scores and
 * context words, overlap resolution, the Presidio recognizer cases, and allocation failures.
 */
#include "testutil.h"

#include <string.h>

#include "guard/pii_check.h"
#include "util/alloc.h"

/* Scan text with one entity enabled and min_score 0; returns the number of matches and copies
 * the first into *first (when not NULL). */
static size_t scan_one(enum belt_pii_entity e, const char *text, struct belt_pii_match *first)
{
    struct belt_pii_params p = belt_pii_default_params();
    p.entities = 1u << e;
    p.min_score = 0;
    struct belt_pii *pii = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_pii_new(&p, &pii, &err), &err);
    struct belt_pii_match *m = NULL;
    size_t n = 0;
    BELT_ASSERT_OK_ERR(belt_pii_scan(pii, text, strlen(text), &m, &n, &err), &err);
    if (first && n > 0)
        *first = m[0];
    belt_free(m);
    belt_pii_free(pii);
    return n;
}

static void pii_entity_names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(belt_pii_n_entities(), 15);
    for (size_t e = 0; e < belt_pii_n_entities(); e++) {
        assert_int_equal(belt_pii_entity_parse(belt_pii_entity_name(e)), (int)e);
        assert_int_equal(belt_pii_entity_parse(belt_pii_entity_tag(e)), (int)e);
        assert_int_equal(belt_pii_entity_parse(belt_pii_entity_presidio(e)), (int)e);
    }
    assert_int_equal(belt_pii_entity_parse("EMAIL_address"), BELT_PII_EMAIL);
    assert_int_equal(belt_pii_entity_parse("nonsense"), -1);
    assert_null(belt_pii_entity_name((enum belt_pii_entity)99));
}

static void pii_checksums_accept_valid_and_reject_altered(void **state)
{
    (void)state;
    assert_true(belt__pii_luhn("4111111111111111", 16));
    assert_false(belt__pii_luhn("4111111111111112", 16));
    assert_true(belt__pii_iban("GB29 NWBK 6016 1331 9268 19", 27));
    assert_false(belt__pii_iban("GB29 NWBK 6016 1331 9268 10", 27));
    assert_false(belt__pii_iban("GB29 1WBK 6016 1331 9268 19", 27)); /* bank code must be letters */
    assert_true(belt__pii_aba("121000358"));
    assert_false(belt__pii_aba("121000359"));
    assert_true(belt__pii_nhs("4010232137"));
    assert_false(belt__pii_nhs("4010232138"));
    assert_true(belt__pii_ssn("078051123"));
    assert_false(belt__pii_ssn("078051120")); /* the Woolworth wallet number */
    assert_false(belt__pii_ssn("666123456"));
    assert_false(belt__pii_ssn("123004567"));
    assert_true(belt__pii_itin("911701234"));
    assert_false(belt__pii_itin("911891234"));
    assert_true(belt__pii_base58check("16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyZ", 34));
    assert_false(belt__pii_base58check("16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyY", 34));
    const char *b = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    assert_true(belt__pii_bech32(b, strlen(b)));
    assert_false(belt__pii_bech32("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr", strlen(b)));
}

static void pii_detects_each_entity_in_context(void **state)
{
    (void)state;
    struct {
        enum belt_pii_entity e;
        const char *text;
        const char *value;
    } cases[] = {
        {BELT_PII_EMAIL, "write to jane.doe+tag@example.co.uk today", "jane.doe+tag@example.co.uk"},
        {BELT_PII_PHONE, "call me at (415) 555-0132 tonight", "(415) 555-0132"},
        {BELT_PII_PHONE, "mobile +44 20 7123 4567", "+44 20 7123 4567"},
        {BELT_PII_CREDIT_CARD, "card 4111-1111-1111-1111 exp 12/29", "4111-1111-1111-1111"},
        {BELT_PII_IBAN, "IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"},
        {BELT_PII_US_SSN, "my ssn is 078-05-1123", "078-05-1123"},
        {BELT_PII_US_ITIN, "ITIN 911-70-1234", "911-70-1234"},
        {BELT_PII_ABA_ROUTING, "routing number 121000358", "121000358"},
        {BELT_PII_US_BANK_NUMBER, "bank account 945456787654", "945456787654"},
        {BELT_PII_IP_ADDRESS, "from 192.168.1.20, then", "192.168.1.20"},
        {BELT_PII_IP_ADDRESS, "via [2001:db8::1]:443", "2001:db8::1"},
        {BELT_PII_MAC_ADDRESS, "MAC 00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"},
        {BELT_PII_URL, "see https://example.com/a?b=1.", "https://example.com/a?b=1"},
        {BELT_PII_CRYPTO, "send to 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
         "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"},
        {BELT_PII_UK_NHS, "NHS number 401 023 2137", "401 023 2137"},
        {BELT_PII_US_PASSPORT, "passport A12803456", "A12803456"},
        {BELT_PII_US_DRIVER_LICENSE, "driver license H12234567", "H12234567"},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        struct belt_pii_match m;
        size_t n = scan_one(cases[i].e, cases[i].text, &m);
        if (n != 1)
            fail_msg("%s: %zu matches in \"%s\"", belt_pii_entity_name(cases[i].e), n,
                     cases[i].text);
        size_t want = strlen(cases[i].value);
        const char *at = strstr(cases[i].text, cases[i].value);
        if (m.start != (size_t)(at - cases[i].text) || m.end - m.start != want)
            fail_msg("%s: span [%zu,%zu) in \"%s\"", belt_pii_entity_name(cases[i].e), m.start,
                     m.end, cases[i].text);
    }
}

static void pii_rejects_invalid_values(void **state)
{
    (void)state;
    assert_int_equal(scan_one(BELT_PII_CREDIT_CARD, "4012-8888-8888-1882", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_CREDIT_CARD, "ts 1748503543012", NULL), 0); /* Unix ms */
    assert_int_equal(scan_one(BELT_PII_EMAIL, "my email is info@presidio.", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_IP_ADDRESS, "version 1.2.3 and 256.1.1.1", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_IP_ADDRESS, "std::cout and 12:34:56", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_MAC_ADDRESS, "FF:FF:FF:FF:FF:FF", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_US_SSN, "000-12-3456 and 078-05-0000", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_URL, "open main.py or www.microsoft", NULL), 0);
    assert_int_equal(scan_one(BELT_PII_IBAN, "GB29 NWBK 6016 1331 9268 10", NULL), 0);
}

static void pii_context_word_raises_score(void **state)
{
    (void)state;
    struct belt_pii_match bare, ctx;
    assert_int_equal(scan_one(BELT_PII_US_BANK_NUMBER, "ref 945456787654", &bare), 1);
    assert_int_equal(scan_one(BELT_PII_US_BANK_NUMBER, "checking account 945456787654", &ctx), 1);
    assert_true(ctx.score > bare.score + 0.3);
    /* Below the default threshold, a bare 12-digit number is not redacted. */
    struct belt_pii *pii = NULL;
    BELT_ASSERT_OK(belt_pii_new(NULL, &pii, NULL));
    struct belt_pii_match *m = NULL;
    size_t n = 0;
    BELT_ASSERT_OK(belt_pii_scan(pii, "ref 945456787654", 16, &m, &n, NULL));
    assert_int_equal(n, 0);
    belt_pii_free(pii);
}

static void pii_overlaps_keep_the_strongest(void **state)
{
    (void)state;
    struct belt_pii *pii = NULL;
    struct belt_pii_params p = belt_pii_default_params();
    p.min_score = 0;
    BELT_ASSERT_OK(belt_pii_new(&p, &pii, NULL));
    const char *t = "card 4111111111111111 and mail a@b.io";
    struct belt_pii_match *m = NULL;
    size_t n = 0;
    BELT_ASSERT_OK(belt_pii_scan(pii, t, strlen(t), &m, &n, NULL));
    assert_int_equal(n, 2);
    assert_int_equal(m[0].entity, BELT_PII_CREDIT_CARD); /* not bank number / driver licence */
    assert_int_equal(m[1].entity, BELT_PII_EMAIL);
    assert_true(m[0].end <= m[1].start);
    belt_free(m);
    belt_pii_free(pii);
}

static void pii_presidio_cases_hit_rate(void **state)
{
    (void)state;
    char path[512];
    if (!belt_test_shared_path("data/pii/presidio_recognizer_cases.jsonl", path, sizeof(path)))
        skip();
    struct belt_pii_eval_report r;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_pii_evaluate(path, &r, NULL, NULL, &err), &err);
    assert_int_equal(r.n_cases, 565);
    /* 560 / 565 at the time of writing: the misses are two Presidio spans that include the
     * quotes around a URL and three phone cases that contradict each other. */
    if (r.n_hits < 560)
        fail_msg("hit rate fell to %zu / %zu", r.n_hits, r.n_cases);
}

static void pii_scan_survives_allocation_failures(void **state)
{
    (void)state;
    const char *t = "mail a@b.io, call +1 415 555 0132, IBAN GB29 NWBK 6016 1331 9268 19";
    for (long k = 1; k < 400; k++) {
        struct belt_pii *pii = NULL;
        struct belt_pii_match *m = NULL;
        size_t n = 0;
        belt__alloc_fail_after(k, 0);
        belt_status s = belt_pii_new(NULL, &pii, NULL);
        if (s == BELT_OK)
            s = belt_pii_scan(pii, t, strlen(t), &m, &n, NULL);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        belt_free(m);
        belt_pii_free(pii);
        /* Either a clean failure, or (when only the optional JIT compile failed and the
         * interpreter took over) the right answer. */
        if (s == BELT_OK)
            assert_int_equal(n, 3);
        else
            assert_int_equal(s, BELT_ERR_NOMEM);
        if (injected == 0)
            return;
    }
    fail_msg("allocation failures did not stop");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pii_entity_names_round_trip),
        cmocka_unit_test(pii_checksums_accept_valid_and_reject_altered),
        cmocka_unit_test(pii_detects_each_entity_in_context),
        cmocka_unit_test(pii_rejects_invalid_values),
        cmocka_unit_test(pii_context_word_raises_score),
        cmocka_unit_test(pii_overlaps_keep_the_strongest),
        cmocka_unit_test(pii_presidio_cases_hit_rate),
        cmocka_unit_test(pii_scan_survives_allocation_failures),
    };
    return belt_test_run("pii", tests, BELT_ARRAY_LEN(tests));
}
