/* Unit tests for src/util/jsonschema.c: keywords, error paths and messages, invalid schemas,
 * recursion limits, allocation failures and concurrent validation. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/jsonschema.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

static struct belt_jsonschema *S(const char *text)
{
    struct belt_jsonschema *js = NULL;
    struct belt_error err = {0};
    json_t *s = J(text);
    BELT_ASSERT_OK_ERR(belt_jsonschema_compile(s, NULL, &js, &err), &err);
    json_decref(s);
    return js;
}

/* 1 if value (JSON text) is valid; the message goes to err. */
static int valid(const struct belt_jsonschema *js, const char *value, struct belt_error *err)
{
    json_t *v = J(value);
    belt_status st = belt_jsonschema_validate(js, v, err);
    json_decref(v);
    if (st != BELT_OK && st != BELT_ERR_INVALID)
        fail_msg("validate returned %s", belt_status_name(st));
    return st == BELT_OK;
}

static void expect_invalid(const struct belt_jsonschema *js, const char *value, const char *needle)
{
    struct belt_error err = {0};
    if (valid(js, value, &err))
        fail_msg("%s should be invalid", value);
    BELT_ASSERT_CONTAINS(err.msg, needle);
}

static void expect_valid(const struct belt_jsonschema *js, const char *value)
{
    struct belt_error err = {0};
    if (!valid(js, value, &err))
        fail_msg("%s should be valid: %s", value, err.msg);
}

static const char ticket_schema[] =
    "{\"type\":\"object\",\"required\":[\"id\",\"items\"],\"additionalProperties\":false,"
    "\"properties\":{\"id\":{\"type\":\"string\",\"pattern\":\"^T-[0-9]+$\"},"
    "\"status\":{\"enum\":[\"open\",\"closed\"]},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\","
    "\"required\":[\"sku\",\"price\"],\"properties\":{\"sku\":{\"type\":\"string\"},"
    "\"price\":{\"type\":\"number\",\"minimum\":0}}}}}}";

static void jsonschema_accepts_a_valid_record(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S(ticket_schema);
    expect_valid(js,
                 "{\"id\":\"T-17\",\"status\":\"open\",\"items\":[{\"sku\":\"a\",\"price\":2}]}");
    belt_jsonschema_free(js);
}

static void jsonschema_reports_instance_path_and_value(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S(ticket_schema);
    expect_invalid(
        js,
        "{\"id\":\"T-1\",\"items\":[{\"sku\":\"a\",\"price\":1},{\"sku\":\"b\",\"price\":1},"
        "{\"sku\":\"c\",\"price\":1},{\"sku\":\"d\",\"price\":-5}]}",
        "/items/3/price: must be >= 0, got -5");
    belt_jsonschema_free(js);
}

struct seen {
    char ipath[128];
    char spath[256];
    int n;
};

static int remember(void *ud, const char *ipath, const char *spath, const char *message)
{
    (void)message;
    struct seen *s = ud;
    if (s->n++ == 0) {
        snprintf(s->ipath, sizeof(s->ipath), "%s", ipath);
        snprintf(s->spath, sizeof(s->spath), "%s", spath);
    }
    return 0;
}

static void jsonschema_reports_schema_path_of_the_keyword(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S(ticket_schema);
    json_t *v = J("{\"id\":\"T-1\",\"items\":[{\"sku\":\"a\",\"price\":-1}]}");
    struct seen s = {0};
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt_jsonschema_validate_each(js, v, 0, remember, &s, &err),
                       BELT_ERR_INVALID);
    assert_int_equal(s.n, 1);
    assert_int_equal(err.sub, 1);
    assert_string_equal(s.ipath, "/items/0/price");
    assert_string_equal(s.spath, "#/properties/items/items/properties/price/minimum");
    json_decref(v);
    belt_jsonschema_free(js);
}

static void jsonschema_lists_several_problems_in_the_message(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S(ticket_schema);
    struct belt_error err = {0};
    assert_false(valid(js, "{\"id\":\"X\",\"status\":\"opne\",\"extra\":1}", &err));
    BELT_ASSERT_CONTAINS(err.msg, "4 problems");
    BELT_ASSERT_CONTAINS(err.msg, "(root): missing required property \"items\"");
    BELT_ASSERT_CONTAINS(err.msg, "/status: must be one of \"open\", \"closed\"; got \"opne\"");
    BELT_ASSERT_CONTAINS(err.msg, "property \"extra\" is not allowed");
    BELT_ASSERT_CONTAINS(err.msg, "/id: must match the pattern ^T-[0-9]+$");
    assert_int_equal(err.sub, 4);
    belt_jsonschema_free(js);
}

static int stop_at_first(void *ud, const char *ipath, const char *spath, const char *message)
{
    (void)ipath;
    (void)spath;
    (void)message;
    (*(int *)ud)++;
    return 1;
}

static void jsonschema_callback_can_stop_validation(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"items\":{\"type\":\"string\"}}");
    json_t *v = J("[1,2,3,4]");
    int calls = 0;
    BELT_ASSERT_STATUS(belt_jsonschema_validate_each(js, v, 0, stop_at_first, &calls, NULL),
                       BELT_ERR_INVALID);
    assert_int_equal(calls, 1);
    json_decref(v);
    belt_jsonschema_free(js);
}

static void jsonschema_integer_accepts_integral_reals_only(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"type\":\"integer\"}");
    expect_valid(js, "3");
    expect_valid(js, "3.0");
    expect_invalid(js, "3.5", "must be of type integer, got number 3.5");
    expect_invalid(js, "\"3\"", "got string \"3\"");
    belt_jsonschema_free(js);
    js = S("{\"type\":[\"string\",\"null\"]}");
    expect_valid(js, "null");
    expect_invalid(js, "1", "(root): must be null or string, got integer 1");
    belt_jsonschema_free(js);
}

static void jsonschema_enum_and_const_compare_numbers_by_value(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"enum\":[1,\"a\",[1,{\"x\":null}]]}");
    expect_valid(js, "1.0");
    expect_valid(js, "[1.0,{\"x\":null}]");
    expect_invalid(js, "2", "must be one of");
    belt_jsonschema_free(js);
    js = S("{\"const\":{\"a\":[1,2]}}");
    expect_valid(js, "{\"a\":[1,2.0]}");
    expect_invalid(js, "{\"a\":[2,1]}", "must be exactly an object");
    belt_jsonschema_free(js);
}

static void jsonschema_numeric_bounds_and_multiples(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":100,\"multipleOf\":0.01}");
    expect_valid(js, "19.99");
    expect_valid(js, "0.07");
    expect_invalid(js, "0", "must be > 0, got 0");
    expect_invalid(js, "100", "must be < 100");
    expect_invalid(js, "1.005", "must be a multiple of 0.01, got 1.005");
    belt_jsonschema_free(js);
    js = S("{\"multipleOf\":3,\"maximum\":9223372036854775807}");
    expect_valid(js, "9");
    expect_invalid(js, "10", "multiple of 3");
    belt_jsonschema_free(js);
}

static void jsonschema_string_length_counts_code_points(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"minLength\":2,\"maxLength\":3}");
    expect_valid(js, "\"\\u00e9t\\u00e9\""); /* 3 code points, 5 bytes */
    expect_invalid(js, "\"\\u00e9\"", "at least 2 characters long, got 1");
    expect_invalid(js, "\"abcd\"", "at most 3 characters long, got 4");
    belt_jsonschema_free(js);
}

static void jsonschema_pattern_is_an_unanchored_utf8_search(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"pattern\":\"\\\\p{Lu}\\\\d\"}");
    expect_valid(js, "\"xx \\u00c93 yy\"");
    expect_invalid(js, "\"e3\"", "must match the pattern");
    expect_valid(js, "5"); /* pattern applies to strings only */
    belt_jsonschema_free(js);
}

static void jsonschema_formats_are_asserted(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"properties\":{\"d\":{\"format\":\"date\"},"
                                   "\"t\":{\"format\":\"date-time\"},\"e\":{\"format\":\"email\"},"
                                   "\"u\":{\"format\":\"uuid\"},\"i\":{\"format\":\"ipv4\"}}}");
    expect_valid(js, "{\"d\":\"2024-02-29\",\"t\":\"2024-05-01T12:30:00.5+02:00\","
                     "\"e\":\"a.b+c@example.co.uk\",\"u\":\"123e4567-e89b-12d3-a456-426614174000\","
                     "\"i\":\"192.168.0.1\"}");
    expect_invalid(js, "{\"d\":\"2023-02-29\"}", "/d: must be a date (YYYY-MM-DD)");
    expect_invalid(js, "{\"d\":\"2023-13-01\"}", "/d: must be a date");
    expect_invalid(js, "{\"t\":\"2024-05-01 12:30:00\"}", "/t: must be a date-time");
    expect_invalid(js, "{\"t\":\"2024-05-01T25:00:00Z\"}", "/t: must be a date-time");
    expect_invalid(js, "{\"e\":\"no-at-sign.com\"}", "/e: must be an email address");
    expect_invalid(js, "{\"e\":\"a..b@x.com\"}", "/e: must be an email address");
    expect_invalid(js, "{\"e\":\"a@localhost\"}", "/e: must be an email address");
    expect_invalid(js, "{\"u\":\"123e4567e89b12d3a456426614174000\"}", "/u: must be a UUID");
    expect_invalid(js, "{\"i\":\"01.2.3.4\"}", "/i: must be an IPv4 address");
    belt_jsonschema_free(js);
}

static void jsonschema_formats_can_be_annotations_only(void **state)
{
    (void)state;
    struct belt_jsonschema_params p = belt_jsonschema_default_params();
    p.format_assert = 0;
    json_t *s = J("{\"format\":\"date\"}");
    struct belt_jsonschema *js = NULL;
    BELT_ASSERT_OK(belt_jsonschema_compile(s, &p, &js, NULL));
    expect_valid(js, "\"yesterday\"");
    json_decref(s);
    belt_jsonschema_free(js);
}

static void jsonschema_object_keywords(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
          "\"additionalProperties\":{\"type\":\"integer\"},\"propertyNames\":{\"maxLength\":5},"
          "\"dependentRequired\":{\"card\":[\"cvv\"]},\"minProperties\":1,\"maxProperties\":3}");
    expect_valid(js, "{\"x-a\":\"s\",\"n\":1}");
    expect_invalid(js, "{\"x-a\":1}", "/x-a: must be of type string");
    expect_invalid(js, "{\"n\":\"s\"}", "/n: must be of type integer");
    expect_invalid(js, "{\"toolong\":1}", "property name \"toolong\" is not allowed");
    expect_invalid(js, "{\"card\":1}", "property \"cvv\" is required when \"card\" is present");
    expect_invalid(js, "{}", "at least 1 properties");
    expect_invalid(js, "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", "at most 3 properties");
    belt_jsonschema_free(js);
}

static void jsonschema_array_keywords(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"number\"},"
          "\"maxItems\":4,\"uniqueItems\":true,\"contains\":{\"const\":7},\"maxContains\":1}");
    expect_valid(js, "[\"a\",7,2.5]");
    expect_invalid(js, "[1,7]", "/0: must be of type string");
    expect_invalid(js, "[\"a\",7,\"b\"]", "/2: must be of type number");
    expect_invalid(js, "[\"a\",7,1,1]", "items 2 and 3 are equal");
    expect_invalid(js, "[\"a\",1]", "must contain at least 1 item");
    expect_invalid(js, "[\"a\",7,7.0]", "at most 1 items matching");
    expect_invalid(js, "[\"a\",7,1,2,3]", "at most 4 items");
    belt_jsonschema_free(js);
}

static void jsonschema_draft07_spellings_are_understood(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"definitions\":{\"pos\":{\"type\":\"number\",\"minimum\":0,"
          "\"exclusiveMinimum\":true}},\"type\":\"array\",\"items\":[{\"$ref\":"
          "\"#/definitions/pos\"}],\"additionalItems\":false}");
    expect_valid(js, "[1]");
    expect_invalid(js, "[0]", "/0: must be > 0");
    expect_invalid(js, "[1,2]", "/1: no value is allowed here");
    belt_jsonschema_free(js);
}

static void jsonschema_combinators(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],\"not\":{\"const\":\"x\"}}");
    expect_valid(js, "\"a\"");
    expect_valid(js, "null");
    expect_invalid(js, "1",
                   "must match at least one of the anyOf alternatives: [0] must be of type "
                   "string, got integer 1; [1] must be of type null");
    expect_invalid(js, "\"x\"", "must not match the schema at #/not");
    belt_jsonschema_free(js);
    js = S("{\"oneOf\":[{\"multipleOf\":2},{\"multipleOf\":3}],"
           "\"allOf\":[{\"minimum\":0},{\"maximum\":100}]}");
    expect_valid(js, "4");
    expect_invalid(js, "6", "matches [0] and [1]");
    expect_invalid(js, "7", "must match exactly one of the oneOf alternatives");
    expect_invalid(js, "-2", "must be >= 0");
    belt_jsonschema_free(js);
}

static void jsonschema_if_then_else(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"if\":{\"properties\":{\"kind\":{\"const\":\"refund\"}},\"required\":[\"kind\"]},"
          "\"then\":{\"required\":[\"amount\"]},\"else\":{\"not\":{\"required\":[\"amount\"]}}}");
    expect_valid(js, "{\"kind\":\"refund\",\"amount\":3}");
    expect_valid(js, "{\"kind\":\"other\"}");
    expect_invalid(js, "{\"kind\":\"refund\"}", "missing required property \"amount\"");
    expect_invalid(js, "{\"kind\":\"other\",\"amount\":1}", "must not match");
    belt_jsonschema_free(js);
}

static void jsonschema_recursive_refs_validate_trees(void **state)
{
    (void)state;
    struct belt_jsonschema *js =
        S("{\"$defs\":{\"node\":{\"type\":\"object\",\"required\":[\"v\"],\"properties\":{"
          "\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":"
          "\"#/$defs/node\"}}}}},\"$ref\":\"#/$defs/node\"}");
    expect_valid(js, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]}]}");
    expect_invalid(js, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":\"x\"}]}]}",
                   "/kids/0/kids/0/v: must be of type integer");
    belt_jsonschema_free(js);
}

static void jsonschema_ref_cycles_stop_at_the_depth_limit(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},"
                                   "\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}");
    expect_invalid(js, "1", "nested deeper than 128 levels");
    belt_jsonschema_free(js);
}

static void jsonschema_escapes_instance_path_segments(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"additionalProperties\":{\"type\":\"string\"}}");
    expect_invalid(js, "{\"a/b~c\":1}", "/a~1b~0c: must be of type string");
    belt_jsonschema_free(js);
}

static void jsonschema_rejects_invalid_schemas_naming_the_path(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"properties\":{\"a\":{\"minimum\":\"x\"}}}",
         "schema #/properties/a/minimum: must be a number"},
        {"{\"type\":\"text\"}", "schema #/type: unknown type \"text\""},
        {"{\"items\":{\"pattern\":\"(\"}}",
         "schema #/items/pattern: invalid regular expression at offset 1"},
        {"{\"required\":\"a\"}", "schema #/required: must be an array"},
        {"{\"minItems\":-1}", "schema #/minItems: must be a non-negative integer"},
        {"{\"anyOf\":[]}", "schema #/anyOf: must be a non-empty array"},
        {"{\"anyOf\":[{},3]}", "schema #/anyOf/1: a schema must be an object or a boolean"},
        {"{\"$ref\":\"#/$defs/missing\"}", "does not point at anything"},
        {"{\"$ref\":\"http://x/y.json\"}", "only references inside this schema"},
        {"{\"unevaluatedProperties\":false}",
         "schema #/unevaluatedProperties: keyword not supported"},
        {"{\"multipleOf\":0}", "must be greater than 0"},
        {"{\"enum\":[]}", "schema #/enum: must be a non-empty array"},
        {"[1]", "schema #: a schema must be an object or a boolean"},
        {"{\"properties\":{\"a/b\":{\"type\":1}}}", "schema #/properties/a~1b/type"},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        json_t *s = J(cases[i][0]);
        struct belt_jsonschema *js = NULL;
        struct belt_error err = {0};
        BELT_ASSERT_STATUS(belt_jsonschema_compile(s, NULL, &js, &err), BELT_ERR_INVALID);
        assert_null(js);
        BELT_ASSERT_CONTAINS(err.msg, cases[i][1]);
        json_decref(s);
    }
}

static void jsonschema_compile_text_reports_json_syntax(void **state)
{
    (void)state;
    struct belt_jsonschema *js = NULL;
    struct belt_error err = {0};
    const char text[] = "{\"type\": \"object\",}";
    BELT_ASSERT_STATUS(
        belt_jsonschema_compile_text(text, sizeof(text) - 1, "s.json", NULL, &js, &err),
        BELT_ERR_FORMAT);
    BELT_ASSERT_CONTAINS(err.msg, "s.json:1:");
    const char bad[] = "{\"type\": 3}";
    BELT_ASSERT_STATUS(
        belt_jsonschema_compile_text(bad, sizeof(bad) - 1, "s.json", NULL, &js, &err),
        BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "s.json: schema #/type");
}

static void jsonschema_message_keeps_the_first_problems(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"items\":{\"type\":\"string\"}}");
    struct belt_error err = {0};
    assert_false(valid(js, "[1,2,3,4,5,6,7]", &err));
    BELT_ASSERT_CONTAINS(err.msg, "7 problems, the first ones: /0: must be of type string");
    BELT_ASSERT_CONTAINS(err.msg, "/4: must be of type string");
    assert_null(strstr(err.msg, "/5:"));
    assert_int_equal(err.sub, 7);
    belt_jsonschema_free(js);
}

static void jsonschema_compiles_a_file(void **state)
{
    (void)state;
    char dir[256], path[300];
    belt_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/s.json", dir);
    belt_test_write_file(path, "{\"type\": \"object\", \"required\": [\"a\"]}");
    struct belt_jsonschema *js = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt_jsonschema_compile_file(path, NULL, &js, &err), &err);
    expect_invalid(js, "{}", "missing required property \"a\"");
    belt_jsonschema_free(js);
    belt_test_write_file(path, "{\"type\": \"objekt\"}");
    BELT_ASSERT_STATUS(belt_jsonschema_compile_file(path, NULL, &js, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "s.json: schema #/type: unknown type \"objekt\"");
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_not_equal(belt_jsonschema_compile_file(path, NULL, &js, &err), BELT_OK);
    BELT_ASSERT_CONTAINS(err.msg, "missing.json");
    belt_test_rmrf(dir);
}

static void jsonschema_boolean_schemas(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("true");
    expect_valid(js, "{\"anything\":[1]}");
    belt_jsonschema_free(js);
    js = S("false");
    expect_invalid(js, "1", "(root): no value is allowed here");
    belt_jsonschema_free(js);
}

static void jsonschema_compile_survives_every_allocation_failure(void **state)
{
    (void)state;
    json_t *s = J(ticket_schema);
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 2000 && !completed; n++) {
        struct belt_jsonschema *js = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = belt_jsonschema_compile(s, NULL, &js, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK) {
            belt_jsonschema_free(js);
            completed = injected == 0;
            continue;
        }
        assert_null(js);
        if (st != BELT_ERR_NOMEM)
            fail_msg("allocation %ld: unexpected %s (%s)", n, belt_status_name(st), err.msg);
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
    json_decref(s);
}

static void jsonschema_validation_reports_nomem_for_match_data(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S("{\"pattern\":\"a\"}");
    json_t *v = J("\"bab\"");
    struct belt_error err = {0};
    belt__alloc_fail_after(1, 1);
    belt_status st = belt_jsonschema_validate(js, v, &err);
    belt__alloc_fail_after(0, 0);
    BELT_ASSERT_STATUS(st, BELT_ERR_NOMEM);
    BELT_ASSERT_OK(belt_jsonschema_validate(js, v, &err));
    json_decref(v);
    belt_jsonschema_free(js);
}

struct thread_arg {
    const struct belt_jsonschema *js;
    json_t *good;
    json_t *bad;
    int failures;
};

static void *validate_many(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 3000; i++) {
        struct belt_error err = {0};
        if (belt_jsonschema_validate(a->js, a->good, &err) != BELT_OK)
            a->failures++;
        if (belt_jsonschema_validate(a->js, a->bad, &err) != BELT_ERR_INVALID ||
            !strstr(err.msg, "/id: must match the pattern"))
            a->failures++;
    }
    return NULL;
}

static void jsonschema_validation_is_thread_safe(void **state)
{
    (void)state;
    struct belt_jsonschema *js = S(ticket_schema);
    json_t *good = J("{\"id\":\"T-9\",\"items\":[{\"sku\":\"a\",\"price\":1}]}");
    json_t *bad = J("{\"id\":\"U-9\",\"items\":[{\"sku\":\"a\",\"price\":1}]}");
    pthread_t t[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){js, good, bad, 0};
        assert_int_equal(pthread_create(&t[i], NULL, validate_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    json_decref(good);
    json_decref(bad);
    belt_jsonschema_free(js);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(jsonschema_accepts_a_valid_record),
    cmocka_unit_test(jsonschema_reports_instance_path_and_value),
    cmocka_unit_test(jsonschema_reports_schema_path_of_the_keyword),
    cmocka_unit_test(jsonschema_lists_several_problems_in_the_message),
    cmocka_unit_test(jsonschema_callback_can_stop_validation),
    cmocka_unit_test(jsonschema_integer_accepts_integral_reals_only),
    cmocka_unit_test(jsonschema_enum_and_const_compare_numbers_by_value),
    cmocka_unit_test(jsonschema_numeric_bounds_and_multiples),
    cmocka_unit_test(jsonschema_string_length_counts_code_points),
    cmocka_unit_test(jsonschema_pattern_is_an_unanchored_utf8_search),
    cmocka_unit_test(jsonschema_formats_are_asserted),
    cmocka_unit_test(jsonschema_formats_can_be_annotations_only),
    cmocka_unit_test(jsonschema_object_keywords),
    cmocka_unit_test(jsonschema_array_keywords),
    cmocka_unit_test(jsonschema_draft07_spellings_are_understood),
    cmocka_unit_test(jsonschema_combinators),
    cmocka_unit_test(jsonschema_if_then_else),
    cmocka_unit_test(jsonschema_recursive_refs_validate_trees),
    cmocka_unit_test(jsonschema_ref_cycles_stop_at_the_depth_limit),
    cmocka_unit_test(jsonschema_escapes_instance_path_segments),
    cmocka_unit_test(jsonschema_rejects_invalid_schemas_naming_the_path),
    cmocka_unit_test(jsonschema_compile_text_reports_json_syntax),
    cmocka_unit_test(jsonschema_message_keeps_the_first_problems),
    cmocka_unit_test(jsonschema_compiles_a_file),
    cmocka_unit_test(jsonschema_boolean_schemas),
    cmocka_unit_test(jsonschema_compile_survives_every_allocation_failure),
    cmocka_unit_test(jsonschema_validation_reports_nomem_for_match_data),
    cmocka_unit_test(jsonschema_validation_is_thread_safe),
};

BELT_TEST_MAIN(tests)
