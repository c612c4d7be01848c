/* Unit tests for src/route/accept.c: each accept signal, the all/any combinations, the NEED
 * protocol for signals that cost a call, the sweep override, and normalisation for agreement. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "config/config.h"
#include "route/accept.h"
#include "util/buf.h"

/* A config whose route "c" has one tier (model small) with the given accept mapping. */
static struct belt_config *load(const char *accept)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "models:\n  small: { provider: replay }\n  judge: { provider: replay }\n"
             "  peer: { provider: replay }\n  intent: { provider: local, path: i.belt }\n"
             "routes:\n  c: { cascade: [ { model: small, accept: %s } ] }\n",
             accept);
    struct belt_config *cfg = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_config_parse(y, strlen(y), "a.yaml", ".", &cfg, &err), &err);
    return cfg;
}

static const struct belt__accept *cond(const struct belt_config *cfg)
{
    return cfg->routes.v[0].tiers[0].accept;
}

static struct belt__answer text_answer(const char *t)
{
    struct belt__answer a = belt__answer_empty();
    a.text = t;
    a.len = strlen(t);
    return a;
}

static enum belt__verdict eval(const struct belt__accept *c, const struct belt__answer *a,
                               const struct belt__signal *sig, size_t n_sig, char *reason)
{
    struct belt__accept_need need;
    return belt__accept_eval(c, a, NULL, 0, sig, n_sig, NAN, &need, reason, 256);
}

static void accept_confidence_compares_with_threshold(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ confidence: 0.9 }");
    struct belt__answer a = text_answer("refund");
    char why[256];
    a.confidence = 0.95;
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    BELT_ASSERT_CONTAINS(why, "confidence 0.95 >= 0.9");
    a.confidence = 0.62;
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "confidence 0.62 < 0.9");
    a.confidence = NAN;
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "confidence not reported");
    belt_config_free(cfg);
}

static void accept_sweep_replaces_swept_thresholds(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ confidence: 0.9 }");
    struct belt__answer a = text_answer("x");
    a.confidence = 0.7;
    char why[256];
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, 0.6, NULL, why, sizeof(why)),
        BELT__VERDICT_ACCEPT);
    assert_true(belt__accept_swept_value(cond(cfg), &a, NULL, 0) == 0.7);
    belt_config_free(cfg);
}

static void accept_logprobs_raw_and_calibrated(void **state)
{
    (void)state;
    struct belt_config *raw = load("{ logprobs: { min: -2.0 } }");
    struct belt_config *cal = load("{ logprobs: { over: mean, a: 2.0, b: 1.0, p: 0.7 } }");
    struct belt__answer a = text_answer("x");
    char why[256];
    a.logprob_mean = -0.2;
    a.logprob_min = -2.5;
    assert_int_equal(eval(cond(raw), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "logprob min -2.5 < -2");
    /* p = 1 / (1 + exp(-(2 * -0.2 + 1))) = 0.6457 < 0.7 */
    assert_int_equal(eval(cond(cal), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "p(logprob mean) 0.6457 < 0.7");
    a.logprob_mean = -0.05; /* p = 0.7109 */
    assert_int_equal(eval(cond(cal), &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    belt_config_free(raw);
    belt_config_free(cal);
}

static void accept_samples_need_then_count_agreement(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ agree: { samples: 3, min: 2 } }");
    struct belt__answer a = text_answer("The answer is 1,000.");
    struct belt__accept_need need;
    char why[256];
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, NAN, &need, why, sizeof(why)),
        BELT__VERDICT_NEED);
    assert_int_equal(need.kind, BELT__NEED_SAMPLES);
    assert_int_equal(need.n, 2);
    struct belt__answer s[2] = {text_answer("the answer is 1000"), text_answer("It is 999")};
    struct belt__signal sig = {BELT__NEED_SAMPLES, 0, s, 2};
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ACCEPT);
    BELT_ASSERT_CONTAINS(why, "agreement 2/3 >= 2");
    s[0] = text_answer("no idea");
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "agreement 1/3 < 2");
    belt_config_free(cfg);
}

static void accept_peer_model_must_agree(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ agree: { model: peer } }");
    struct belt__answer a = text_answer("{\"b\": 2, \"a\": 1}");
    struct belt__accept_need need;
    char why[256];
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, NAN, &need, why, sizeof(why)),
        BELT__VERDICT_NEED);
    assert_int_equal(need.kind, BELT__NEED_PEER);
    assert_int_equal(need.model, 2);
    struct belt__answer p = text_answer(" {\"a\":1,\"b\":2} ");
    struct belt__signal sig = {BELT__NEED_PEER, 2, &p, 1};
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ACCEPT);
    BELT_ASSERT_CONTAINS(why, "peer agrees");
    p = text_answer("{\"a\":1,\"b\":3}");
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ESCALATE);
    p.status = BELT_ERR_UPSTREAM;
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "peer failed");
    belt_config_free(cfg);
}

static void accept_verifier_score_threshold(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ verifier: { model: judge, score: 0.7 } }");
    struct belt__answer a = text_answer("42");
    struct belt__accept_need need;
    char why[256];
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, NAN, &need, why, sizeof(why)),
        BELT__VERDICT_NEED);
    assert_int_equal(need.kind, BELT__NEED_VERIFY);
    assert_int_equal(need.model, 1);
    struct belt__answer v = belt__answer_empty();
    v.score = 0.65;
    struct belt__signal sig = {BELT__NEED_VERIFY, 1, &v, 1};
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "verifier judge score 0.65 < 0.7");
    assert_true(belt__accept_swept_value(cond(cfg), &a, &sig, 1) == 0.65);
    v.score = 0.9;
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ACCEPT);
    belt_config_free(cfg);
}

static void accept_labels_must_be_in_the_set(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ labels: [card_arrival, refund] }");
    struct belt__answer a = text_answer("Refund.");
    char why[256];
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    a = text_answer("chargeback");
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "'chargeback' not in the label set");
    a = text_answer("refund");
    a.abstained = 1;
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "abstained");
    belt_config_free(cfg);
}

static void accept_labels_from_model_need_a_label(void **state)
{
    (void)state;
    struct belt__accept c;
    memset(&c, 0, sizeof(c));
    c.kind = BELT__ACCEPT_LABELS;
    c.from_model = 1;
    struct belt__answer a = text_answer("refund");
    char why[256];
    assert_int_equal(eval(&c, &a, NULL, 0, why), BELT__VERDICT_ESCALATE); /* no label */
    a.label = "refund";
    assert_int_equal(eval(&c, &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    a.abstained = 1;
    assert_int_equal(eval(&c, &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
}

static void accept_regex_matches_content(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ regex: '^[0-9]{3}-[0-9]{4}$' }");
    struct belt__answer a = text_answer("555-0199");
    char why[256];
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    a = text_answer("call me");
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "did not match");
    belt_config_free(cfg);
}

/* Evaluate an arithmetic condition on `text` answering `task` (NULL: unknown); the verdict,
 * and the reason in why. */
static enum belt__verdict eval_text(const struct belt__accept *c, const char *text,
                                    const char *task, char *why)
{
    struct belt__answer a = text_answer(text);
    return belt__accept_eval(c, &a, task, task ? strlen(task) : 0, NULL, 0, NAN, NULL, why, 256);
}

static void accept_arithmetic_checks_the_answers_work(void **state)
{
    (void)state;
    struct belt_config *cfg = load("{ arithmetic: { final: '####\\s*\\$?(-?[0-9,]+)$', "
                                   "max_unused: 0 } }");
    const char *task = "Tom has 3 boxes of 12 pens and gives away 5. How many are left?";
    static const struct {
        const char *answer;
        int with_task;
        enum belt__verdict verdict;
        const char *reason;
    } cases[] = {
        {"3 x 12 = 36 pens; 36 - 5 = 31.\n#### 31\n\n", 1, BELT__VERDICT_ACCEPT,
         "2 stated calculations hold, final 31"},
        {"3 x 12 = 38 pens; 38 - 5 = 33.\n#### 33", 1, BELT__VERDICT_ESCALATE,
         "1 of 2 stated calculations wrong: 3 x 12 = 38 (is 36)"},
        {"3 x 12 = 36 pens; 36 - 5 = 31.\nSo 31 pens.", 1, BELT__VERDICT_ESCALATE,
         "no final answer matching /####\\s*\\$?(-?[0-9,]+)$/"},
        {"3 x 12 = 36 pens; 36 - 5 = 31.\n#### 35", 1, BELT__VERDICT_ESCALATE,
         "the final answer 35 is no result of the stated calculations"},
        {"3 x 12 = 36 pens.\n#### 36", 1, BELT__VERDICT_ESCALATE,
         "1 number of the task unused (at most 0), first 5"},
        /* without the task (unknown), the unused-numbers check cannot run and does not fail */
        {"3 x 12 = 36 pens.\n#### 36", 0, BELT__VERDICT_ACCEPT,
         "1 stated calculation holds, final 36"},
    };
    char why[256];
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        enum belt__verdict v =
            eval_text(cond(cfg), cases[i].answer, cases[i].with_task ? task : NULL, why);
        if (v != cases[i].verdict || strcmp(why, cases[i].reason) != 0)
            fail_msg("case %zu: verdict %d, reason '%s' (expected %d, '%s')", i, (int)v, why,
                     (int)cases[i].verdict, cases[i].reason);
    }
    belt_config_free(cfg);

    /* `arithmetic: true`: calculations only; an answer without any passes */
    cfg = load("{ arithmetic: true }");
    assert_int_equal(eval_text(cond(cfg), "The answer is 31.", NULL, why), BELT__VERDICT_ACCEPT);
    assert_string_equal(why, "0 stated calculations hold");
    assert_int_equal(eval_text(cond(cfg), "<<6*7=41>>41", NULL, why), BELT__VERDICT_ESCALATE);
    belt_config_free(cfg);

    /* the final answer must be a number */
    cfg = load("{ arithmetic: { final: 'Answer: (.*)$' } }");
    assert_int_equal(eval_text(cond(cfg), "2 + 2 = 4\nAnswer: four", NULL, why),
                     BELT__VERDICT_ESCALATE);
    assert_string_equal(why, "the final answer 'four' is not a number");
    belt_config_free(cfg);
}

static void accept_schema_validates_json_content(void **state)
{
    (void)state;
    struct belt_config *cfg =
        load("{ schema: { type: object, required: [refund_usd], properties: { refund_usd: { "
             "type: number, minimum: 0 } } } }");
    struct belt__answer a = text_answer("{\"refund_usd\": 12.5}");
    char why[256];
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    a = text_answer("{\"refund_usd\": -3}");
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "/refund_usd");
    a = text_answer("sure, 12 dollars");
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "not JSON");
    belt_config_free(cfg);
}

static void accept_all_stops_at_first_failure_before_needing_calls(void **state)
{
    (void)state;
    struct belt_config *cfg =
        load("{ all: [ { confidence: 0.9 }, { verifier: { model: judge, score: 0.5 } } ] }");
    struct belt__answer a = text_answer("x");
    struct belt__accept_need need;
    char why[256];
    a.confidence = 0.5; /* fails: no verifier call is worth making */
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, NAN, &need, why, sizeof(why)),
        BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "confidence 0.5 < 0.9");
    a.confidence = 0.95; /* holds: the verifier decides */
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, NAN, &need, why, sizeof(why)),
        BELT__VERDICT_NEED);
    assert_int_equal(need.kind, BELT__NEED_VERIFY);
    belt_config_free(cfg);
}

static void accept_any_accepts_on_first_success(void **state)
{
    (void)state;
    struct belt_config *cfg =
        load("{ any: [ { verifier: { model: judge, score: 0.5 } }, { confidence: 0.9 } ] }");
    struct belt__answer a = text_answer("x");
    char why[256];
    a.confidence = 0.95; /* no verifier call needed */
    assert_int_equal(eval(cond(cfg), &a, NULL, 0, why), BELT__VERDICT_ACCEPT);
    a.confidence = 0.1;
    struct belt__accept_need need;
    assert_int_equal(
        belt__accept_eval(cond(cfg), &a, NULL, 0, NULL, 0, NAN, &need, why, sizeof(why)),
        BELT__VERDICT_NEED);
    struct belt__answer v = belt__answer_empty();
    v.score = 0.2;
    struct belt__signal sig = {BELT__NEED_VERIFY, 1, &v, 1};
    assert_int_equal(eval(cond(cfg), &a, &sig, 1, why), BELT__VERDICT_ESCALATE);
    BELT_ASSERT_CONTAINS(why, "none held");
    belt_config_free(cfg);
}

static void accept_no_condition_accepts(void **state)
{
    (void)state;
    struct belt__answer a = text_answer("x");
    char why[64];
    assert_int_equal(belt__accept_eval(NULL, &a, NULL, 0, NULL, 0, NAN, NULL, why, sizeof(why)),
                     BELT__VERDICT_ACCEPT);
}

static const char *norm(const char *s, unsigned flags, struct belt_buf *b)
{
    belt_buf_reset(b);
    BELT_ASSERT_OK(belt_buf_puts(b, ""));
    BELT_ASSERT_OK(belt__normalize(s, strlen(s), flags, b));
    return belt_buf_cstr(b);
}

static void normalize_defines_each_step(void **state)
{
    (void)state;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    assert_string_equal(norm("  Hello,\t  World! ", BELT__NORM_DEFAULT, &b), "hello world");
    assert_string_equal(norm("Total: $1,000.50", BELT__NORM_DEFAULT, &b), "total 1000.5");
    assert_string_equal(norm("18.0 apples", BELT__NORM_DEFAULT, &b), "18 apples");
    assert_string_equal(norm("-3.50", BELT__NORM_NUMBER, &b), "-3.5");
    assert_string_equal(norm("12,34", BELT__NORM_NUMBER, &b), "12,34"); /* not a separator */
    assert_string_equal(norm("1,234,567", BELT__NORM_NUMBER, &b), "1234567");
    assert_string_equal(norm("mp3 player", BELT__NORM_DEFAULT, &b), "mp3 player");
    assert_string_equal(norm("{ \"b\": [1, 2], \"a\": \"X\" }", BELT__NORM_DEFAULT, &b),
                        "{\"a\":\"X\",\"b\":[1,2]}");
    assert_string_equal(norm("so 3 + 4 = 7\n#### 7", BELT__NORM_LAST_NUMBER, &b), "7");
    assert_string_equal(norm("A.B", BELT__NORM_CASE, &b), "a.b");
    assert_string_equal(norm("a  b", BELT__NORM_CASE, &b), "a  b");
    assert_true(belt__normalized_equal("Yes.", 4, "yes", 3, BELT__NORM_DEFAULT));
    assert_false(belt__normalized_equal("Yes", 3, "no", 2, BELT__NORM_DEFAULT));
    belt_buf_deinit(&b);
}

/* Random byte strings through every step: no out-of-bounds read (ASan), always terminates. */
static void normalize_survives_random_bytes(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789,.-+ \t\n{}[]\"aZ#$\xc3\xa9\xff";
    struct belt_buf b;
    belt_buf_init(&b, 0);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 3000; i++) {
        char s[24];
        size_t n = (size_t)(i % 23);
        for (size_t k = 0; k < n; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s[k] = alphabet[x % (sizeof(alphabet) - 1)];
        }
        char *heap = belt_malloc(n ? n : 1); /* exact size: ASan sees any read past n */
        memcpy(heap, s, n);
        belt_buf_reset(&b);
        BELT_ASSERT_OK(belt__normalize(heap, n, 0x3f, &b));
        BELT_ASSERT_OK(belt__normalize(heap, n, BELT__NORM_DEFAULT, &b));
        belt_free(heap);
    }
    belt_buf_deinit(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(accept_confidence_compares_with_threshold),
    cmocka_unit_test(accept_sweep_replaces_swept_thresholds),
    cmocka_unit_test(accept_logprobs_raw_and_calibrated),
    cmocka_unit_test(accept_samples_need_then_count_agreement),
    cmocka_unit_test(accept_peer_model_must_agree),
    cmocka_unit_test(accept_verifier_score_threshold),
    cmocka_unit_test(accept_labels_must_be_in_the_set),
    cmocka_unit_test(accept_labels_from_model_need_a_label),
    cmocka_unit_test(accept_regex_matches_content),
    cmocka_unit_test(accept_arithmetic_checks_the_answers_work),
    cmocka_unit_test(accept_schema_validates_json_content),
    cmocka_unit_test(accept_all_stops_at_first_failure_before_needing_calls),
    cmocka_unit_test(accept_any_accepts_on_first_success),
    cmocka_unit_test(accept_no_condition_accepts),
    cmocka_unit_test(normalize_defines_each_step),
    cmocka_unit_test(normalize_survives_random_bytes),
};

BELT_TEST_MAIN(tests)
