/* Unit tests for src/line/expr.c: the `when:` condition language — semantics, syntax errors with
 * columns, limits, allocation failures, allocation-free and concurrent evaluation. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "line/expr.h"
#include "util/alloc.h"

static const char record_text[] =
    "{\"fields\":{\"refund_usd\":150,\"currency\":\"USD\",\"note\":null,\"ok\":true},"
    "\"intent\":\"refund\",\"items\":[{\"sku\":\"A1\",\"qty\":2},{\"sku\":\"B2\",\"qty\":0}],"
    "\"meta\":{\"tags\":[\"vip\",\"urgent\"]},\"text\":\"please refund my order\","
    "\"amount\":\" 12.50 \",\"big\":9007199254740993,\"odd key\":{\"x\":1},\"empty\":\"\","
    "\"date\":\"2024-05-01\",\"and\":7}";

static json_t *record(void)
{
    json_error_t je;
    json_t *r = json_loads(record_text, 0, &je);
    if (!r)
        fail_msg("bad record: %s", je.text);
    return r;
}

/* Evaluate src's truthiness against the test record. */
static int T(const char *src)
{
    struct belt_expr *e = NULL;
    struct belt_error err = {0};
    belt_status st = belt__expr_compile(src, strlen(src), &e, &err);
    if (st != BELT_OK)
        fail_msg("compile %s: %s", src, err.msg);
    json_t *r = record();
    int v = belt__expr_test(e, r, NULL);
    json_decref(r);
    belt__expr_free(e);
    return v;
}

#define YES(src) assert_true(T(src))
#define NO(src)  assert_false(T(src))

static void expr_compares_numbers_and_strings(void **state)
{
    (void)state;
    YES("fields.refund_usd > 100");
    YES("fields.refund_usd >= 150 and fields.refund_usd <= 150.0");
    NO("fields.refund_usd < 100");
    YES("fields.currency == 'USD'");
    YES("fields.currency != \"EUR\"");
    YES("date >= '2024-01-01' and date < '2024-12-31'");
    YES("-5 < 3e2");
}

static void expr_missing_field_makes_every_comparison_false(void **state)
{
    (void)state;
    NO("fields.nothing > 1");
    NO("fields.nothing == 1");
    NO("fields.nothing != 1");
    NO("fields.nothing in [1, 2]");
    NO("fields.nothing not in [1, 2]");
    NO("items[5].sku == 'A1'");
    NO("intent.sub == 1");
    YES("not (fields.nothing == 1)");
    YES("not exists(fields.nothing)");
}

static void expr_values_of_different_types_are_never_equal(void **state)
{
    (void)state;
    NO("fields.refund_usd == '150'");
    YES("fields.refund_usd != '150'");
    NO("fields.currency < 5");
    NO("fields.currency > 5");
    NO("fields.note == false");
    YES("fields.note == null");
    YES("fields.ok == true");
}

static void expr_in_checks_lists_substrings_and_keys(void **state)
{
    (void)state;
    YES("intent in ['refund', 'chargeback']");
    NO("intent in ['cancel']");
    YES("'vip' in meta.tags");
    YES("'refund' in text");
    NO("'REFUND' in text");
    YES("'x' in $['odd key']");
    YES("intent not in ['cancel', 'upgrade']");
    NO("'vip' not in meta.tags");
    YES("150 in [1, 150.0]");
    NO("'150' in [150]");
}

static void expr_paths_support_indexes_quoted_keys_and_root(void **state)
{
    (void)state;
    YES("items[0].sku == 'A1'");
    YES("items[-1].sku == 'B2'");
    YES("items[1]['sku'] == 'B2'");
    YES("$['odd key'].x == 1");
    YES("$.and == 7");
    YES("fields.ok");
    NO("items[-3].sku == 'A1'");
}

static void expr_and_or_not_follow_precedence(void **state)
{
    (void)state;
    YES("false and false or true");
    NO("false and (false or true)");
    YES("not false and true");
    NO("not (true and true)");
    YES("not not true");
    YES("true or fields.nothing > 1");
}

static void expr_truthiness_of_values(void **state)
{
    (void)state;
    NO("empty");
    NO("fields.note");
    NO("items[1].qty");
    YES("items[0].qty");
    YES("meta.tags");
    YES("meta");
    NO("nothing");
    YES("'x'");
    NO("0");
}

static void expr_functions_len_exists_num(void **state)
{
    (void)state;
    YES("len(items) == 2");
    YES("len(text) == 22");
    YES("len('\\u00e9t\\u00e9') == 3");
    YES("len(fields) == 4");
    NO("len(fields.refund_usd) == 0");
    YES("exists(fields.note)");
    YES("num(amount) == 12.5");
    YES("num(fields.refund_usd) == 150");
    NO("num(intent) == 0");
    NO("exists(num(intent))");
}

static void expr_strings_decode_escapes(void **state)
{
    (void)state;
    YES("'it\\'s' == \"it's\"");
    YES("'\\u00e9' == '\xc3\xa9'");
    YES("'\\ud83d\\ude00' == '\xf0\x9f\x98\x80'");
    YES("'a\\nb' != 'a b'");
}

static void expr_big_integers_compare_exactly(void **state)
{
    (void)state;
    json_t *r = record();
    json_t *other = json_pack("{s:I}", "big", (json_int_t)9007199254740992LL);
    struct belt_expr *e = NULL;
    BELT_ASSERT_OK(belt__expr_compile("big == $.big", 12, &e, NULL));
    /* binding `$`-free comparison between two record integers above 2^53 */
    struct belt_expr_binding b = {"other", belt__expr_from_json(json_object_get(other, "big")),
                                  NULL};
    struct belt_expr *e2 = NULL;
    BELT_ASSERT_OK(belt__expr_compile("big == other", 12, &e2, NULL));
    assert_true(belt__expr_test(e, r, NULL));
    assert_false(belt__expr_test(e2, r, &b));
    belt__expr_free(e);
    belt__expr_free(e2);
    json_decref(other);
    json_decref(r);
}

static void expr_bindings_shadow_record_fields(void **state)
{
    (void)state;
    json_t *r = record();
    json_t *item = json_array_get(json_object_get(r, "items"), 1);
    struct belt_expr_value idx = {BELT_EXPR_NUMBER, 0, 1, NULL, 0, NULL, NULL};
    struct belt_expr_binding at = {"@index", idx, NULL};
    struct belt_expr_binding self = {"this", belt__expr_from_json(item), &at};
    struct belt_expr *e = NULL;
    const char *src = "this.sku == 'B2' and @index == 1 and intent == 'refund'";
    BELT_ASSERT_OK(belt__expr_compile(src, strlen(src), &e, NULL));
    assert_true(belt__expr_test(e, r, &self));
    assert_false(belt__expr_test(e, r, NULL)); /* unbound: missing */
    belt__expr_free(e);
    json_decref(r);
}

static void expr_eval_returns_borrowed_values(void **state)
{
    (void)state;
    json_t *r = record();
    struct belt_expr *e = NULL;
    BELT_ASSERT_OK(belt__expr_compile("meta.tags[1]", 12, &e, NULL));
    struct belt_expr_value v = belt__expr_eval(e, r, NULL);
    assert_int_equal(v.type, BELT_EXPR_STRING);
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.str, "urgent", 6);
    assert_ptr_equal(v.json,
                     json_array_get(json_object_get(json_object_get(r, "meta"), "tags"), 1));
    belt__expr_free(e);
    json_decref(r);
}

static void expr_syntax_errors_name_the_column(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        int column;
        const char *msg;
    } cases[] = {
        {"fields.x >> 5", 11, "expected a value after '>', got '>'"},
        {"a = 1", 3, "use '==' to compare"},
        {"a && b", 3, "use 'and' instead of '&&'"},
        {"a || b", 3, "use 'or' instead of '||'"},
        {"!a", 1, "use 'not' instead of '!'"},
        {"x == 'abc", 6, "unterminated string"},
        {"(a == 1", 1, "unclosed '('"},
        {"a in [1, 2", 6, "unclosed list"},
        {"a in [1 2]", 9, "expected ',' or ']'"},
        {"1 < a < 3", 7, "comparisons cannot be chained"},
        {"a not b", 3, "did you mean 'not in'"},
        {"foo(a)", 1, "unknown function 'foo'"},
        {"len(a, b)", 6, "takes exactly one argument"},
        {"a.", 3, "expected a field name after '.'"},
        {"a[x]", 3, "expected an integer index or a quoted key"},
        {"a[1.5]", 3, "expected an integer index"},
        {"", 1, "empty expression"},
        {"a == 1 b", 8, "unexpected 'b'"},
        {"'\\q'", 2, "invalid escape"},
        {"01 == 1", 1, "invalid number '01'"},
        {"a == #", 6, "unexpected character '#'"},
        {"\xc3\xa9t\xc3\xa9 == 1", 1, "unexpected character (byte 0xc3)"},
        {"x == '\xc3\xa9' and ?", 14, "unexpected character '?'"},
        {"a in [[1]]", 7, "a list cannot contain a list"},
        {"@ == 1", 1, "'@' must be followed by a name"},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        struct belt_expr *e = NULL;
        struct belt_error err = {0};
        belt_status st = belt__expr_compile(cases[i].src, strlen(cases[i].src), &e, &err);
        if (st != BELT_ERR_INVALID)
            fail_msg("'%s': expected BELT_ERR_INVALID, got %s", cases[i].src, belt_status_name(st));
        assert_null(e);
        BELT_ASSERT_CONTAINS(err.msg, cases[i].msg);
        if (err.sub != cases[i].column)
            fail_msg("'%s': column %d, expected %d (%s)", cases[i].src, err.sub, cases[i].column,
                     err.msg);
    }
}

static void expr_error_shows_a_caret_under_the_character(void **state)
{
    (void)state;
    struct belt_expr *e = NULL;
    struct belt_error err = {0};
    const char *src = "fields.x >> 5";
    BELT_ASSERT_STATUS(belt__expr_compile(src, strlen(src), &e, &err), BELT_ERR_INVALID);
    assert_string_equal(err.msg, "column 11: expected a value after '>', got '>'\n"
                                 "  fields.x >> 5\n"
                                 "            ^");
}

static void expr_caret_windows_long_expressions(void **state)
{
    (void)state;
    char src[400];
    memset(src, 'a', sizeof(src));
    memcpy(src + 200, " # ", 3);
    struct belt_error err = {0};
    struct belt_expr *e = NULL;
    BELT_ASSERT_STATUS(belt__expr_compile(src, sizeof(src), &e, &err), BELT_ERR_INVALID);
    assert_int_equal(err.sub, 202);
    const char *nl = strchr(err.msg, '\n');
    assert_non_null(nl);
    BELT_ASSERT_CONTAINS(nl, "  ...aaaa");
    const char *caret_line = strchr(nl + 1, '\n');
    assert_non_null(caret_line);
    /* The caret sits under the '#': same offset in both lines. */
    const char *hash = strchr(nl + 1, '#');
    assert_int_equal((int)(strchr(caret_line, '^') - (caret_line + 1)), (int)(hash - (nl + 1)));
}

static void expr_rejects_too_long_and_too_deep(void **state)
{
    (void)state;
    static char src[BELT_EXPR_MAX_LEN + 2];
    memset(src, ' ', sizeof(src));
    src[0] = '1';
    struct belt_expr *e = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt__expr_compile(src, sizeof(src), &e, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "longer than 4096 bytes");
    char deep[300];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 100; i++)
        deep[n++] = ')';
    BELT_ASSERT_STATUS(belt__expr_compile(deep, n, &e, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "nested deeper than 64 levels");
    assert_int_equal(err.sub, 65);
}

static void expr_compile_survives_every_allocation_failure(void **state)
{
    (void)state;
    const char *src = "fields.refund_usd > 100 and intent in ['refund', 'charge\\u00e9'] or "
                      "not exists(items[0].sku) and len($['odd key']) == 1";
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 500 && !completed; n++) {
        struct belt_expr *e = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = belt__expr_compile(src, strlen(src), &e, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK) {
            belt__expr_free(e);
            completed = injected == 0;
            continue;
        }
        assert_null(e);
        BELT_ASSERT_STATUS(st, BELT_ERR_NOMEM);
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
}

static void expr_evaluation_allocates_nothing(void **state)
{
    (void)state;
    json_t *r = record();
    struct belt_expr *e = NULL;
    const char *src = "intent in ['refund', 'x'] and 'vip' in meta.tags and num(amount) > 1";
    BELT_ASSERT_OK(belt__expr_compile(src, strlen(src), &e, NULL));
    long live = belt__alloc_n_live();
    belt__alloc_fail_after(1, 1); /* any allocation would fail and be counted */
    int v = belt__expr_test(e, r, NULL);
    long injected = belt__alloc_n_injected();
    belt__alloc_fail_after(0, 0);
    assert_true(v);
    assert_int_equal(injected, 0);
    assert_int_equal(belt__alloc_n_live(), live);
    belt__expr_free(e);
    json_decref(r);
}

struct targ {
    const struct belt_expr *e;
    int failures;
};

static void *eval_many(void *p)
{
    struct targ *a = p;
    json_t *yes = json_pack("{s:i,s:s}", "n", 5, "s", "refund");
    json_t *no = json_pack("{s:i,s:s}", "n", 1, "s", "other");
    for (int i = 0; i < 20000; i++) {
        if (!belt__expr_test(a->e, yes, NULL) || belt__expr_test(a->e, no, NULL))
            a->failures++;
    }
    json_decref(yes);
    json_decref(no);
    return NULL;
}

static void expr_evaluation_is_thread_safe(void **state)
{
    (void)state;
    struct belt_expr *e = NULL;
    const char *src = "n > 3 and s in ['refund', 'chargeback']";
    BELT_ASSERT_OK(belt__expr_compile(src, strlen(src), &e, NULL));
    pthread_t t[4];
    struct targ a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct targ){e, 0};
        assert_int_equal(pthread_create(&t[i], NULL, eval_many, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    belt__expr_free(e);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(expr_compares_numbers_and_strings),
    cmocka_unit_test(expr_missing_field_makes_every_comparison_false),
    cmocka_unit_test(expr_values_of_different_types_are_never_equal),
    cmocka_unit_test(expr_in_checks_lists_substrings_and_keys),
    cmocka_unit_test(expr_paths_support_indexes_quoted_keys_and_root),
    cmocka_unit_test(expr_and_or_not_follow_precedence),
    cmocka_unit_test(expr_truthiness_of_values),
    cmocka_unit_test(expr_functions_len_exists_num),
    cmocka_unit_test(expr_strings_decode_escapes),
    cmocka_unit_test(expr_big_integers_compare_exactly),
    cmocka_unit_test(expr_bindings_shadow_record_fields),
    cmocka_unit_test(expr_eval_returns_borrowed_values),
    cmocka_unit_test(expr_syntax_errors_name_the_column),
    cmocka_unit_test(expr_error_shows_a_caret_under_the_character),
    cmocka_unit_test(expr_caret_windows_long_expressions),
    cmocka_unit_test(expr_rejects_too_long_and_too_deep),
    cmocka_unit_test(expr_compile_survives_every_allocation_failure),
    cmocka_unit_test(expr_evaluation_allocates_nothing),
    cmocka_unit_test(expr_evaluation_is_thread_safe),
};

BELT_TEST_MAIN(tests)
