/* Unit tests for src/line/rules.c: patterns and groups, dictionaries, normalisers, types,
 * configuration errors naming the key, allocation failures and concurrent use. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "line/rules.h"
#include "util/alloc.h"
#include "util/json.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

static struct belt_rules *compile(const char *spec_text)
{
    json_t *spec = J(spec_text);
    struct belt_rules *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt__rules_compile(spec, NULL, &r, &err), &err);
    json_decref(spec);
    return r;
}

/* Apply spec to text and compare the output object (compact JSON) with want. */
static void X(const char *spec_text, const char *text, const char *want)
{
    struct belt_rules *r = compile(spec_text);
    json_t *out = json_object();
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt__rules_apply(r, text, strlen(text), out, &err), &err);
    char *got = belt_json_dumps(out, JSON_COMPACT);
    if (strcmp(got, want) != 0)
        fail_msg("rules %s\ntext: %s\ngot:  %s\nwant: %s", spec_text, text, got, want);
    belt_free(got);
    json_decref(out);
    belt__rules_free(r);
}

static void rules_pattern_gives_group_one_or_the_whole_match(void **state)
{
    (void)state;
    X("{\"order\":{\"pattern\":\"order\\\\s*#?([A-Z]{2}\\\\d{4})\"}}", "re: order #AB1234 late",
      "{\"order\":\"AB1234\"}");
    X("{\"sku\":{\"pattern\":\"SKU-\\\\d+\"}}", "see SKU-12 and SKU-7", "{\"sku\":\"SKU-12\"}");
    X("{\"sku\":{\"pattern\":\"SKU-\\\\d+\"}}", "nothing here", "{}");
}

static void rules_named_groups_become_an_object(void **state)
{
    (void)state;
    const char *spec =
        "{\"contact\":{\"pattern\":\"(?<name>[A-Z][a-z]+)(?: <(?<email>[^>]+)>)?\"}}";
    X(spec, "from Ana <ana@x.org>", "{\"contact\":{\"name\":\"Ana\",\"email\":\"ana@x.org\"}}");
    X(spec, "from Bo today", "{\"contact\":{\"name\":\"Bo\"}}"); /* unset group: omitted */
    X("{\"v\":{\"pattern\":\"id=(?<id>\\\\d+)\"}}", "id=42", "{\"v\":\"42\"}");
}

static void rules_group_selects_by_name_or_number(void **state)
{
    (void)state;
    X("{\"d\":{\"pattern\":\"(\\\\d{4})-(\\\\d{2})\",\"group\":2}}", "on 2024-05",
      "{\"d\":\"05\"}");
    X("{\"d\":{\"pattern\":\"(?<y>\\\\d{4})-(?<m>\\\\d{2})\",\"group\":\"y\"}}", "on 2024-05",
      "{\"d\":\"2024\"}");
}

static void rules_match_all_collects_values(void **state)
{
    (void)state;
    X("{\"skus\":{\"pattern\":\"SKU-\\\\d+\",\"match\":\"all\"}}", "SKU-1, SKU-2 and SKU-1",
      "{\"skus\":[\"SKU-1\",\"SKU-2\",\"SKU-1\"]}");
    X("{\"skus\":{\"pattern\":\"SKU-\\\\d+\",\"match\":\"all\",\"unique\":true}}",
      "SKU-1, SKU-2 and SKU-1", "{\"skus\":[\"SKU-1\",\"SKU-2\"]}");
    X("{\"skus\":{\"pattern\":\"SKU-\\\\d+\",\"match\":\"all\",\"max_matches\":2}}",
      "SKU-1 SKU-2 SKU-3", "{\"skus\":[\"SKU-1\",\"SKU-2\"]}");
    X("{\"e\":{\"pattern\":\"x*\",\"match\":\"all\",\"type\":\"string\"}}", "\xc3\xa9x\xc3\xa9xx",
      "{\"e\":[\"x\",\"xx\"]}"); /* empty matches skipped, no split UTF-8 */
}

static void rules_patterns_are_tried_in_order(void **state)
{
    (void)state;
    const char *spec = "{\"id\":{\"pattern\":[\"ticket (T\\\\d+)\",\"(T\\\\d+)\"]}}";
    X(spec, "T1 is related to ticket T2", "{\"id\":\"T2\"}");
    X(spec, "only T1", "{\"id\":\"T1\"}");
    X("{\"w\":{\"pattern\":\"HELLO\",\"ignore_case\":true}}", "hello", "{\"w\":\"hello\"}");
}

static const char dict_spec[] =
    "{\"product\":{\"dictionary\":{\"router\":[\"router\",\"wi-fi box\",\"modem\"],"
    "\"phone\":[\"phone\",\"mobile phone\",\"t\\u00e9l\\u00e9phone\"],\"nyc\":[\"new york city\"],"
    "\"ny\":\"new york\",\"cpp\":\"c++\"}}}";

static void rules_dictionary_maps_phrases_to_canonical_values(void **state)
{
    (void)state;
    X(dict_spec, "My Wi-Fi Box is broken", "{\"product\":\"router\"}");
    X(dict_spec, "my MOBILE   phone died", "{\"product\":\"phone\"}");
    X(dict_spec, "mon T\xc3\x89L\xc3\x89PHONE", "{\"product\":\"phone\"}");
    X(dict_spec, "routers and modems", "{}"); /* word boundaries */
    X(dict_spec, "xrouter", "{}");
    X(dict_spec, "flying to new york city today", "{\"product\":\"nyc\"}"); /* longest wins */
    X(dict_spec, "new york cityscape", "{\"product\":\"ny\"}");
    X(dict_spec, "I code in C++, daily", "{\"product\":\"cpp\"}");
}

static void rules_dictionary_all_lists_unique_values_in_text_order(void **state)
{
    (void)state;
    const char *spec = "{\"p\":{\"dictionary\":{\"router\":[\"router\",\"modem\"],"
                       "\"phone\":\"phone\"},\"match\":\"all\"}}";
    X(spec, "phone, modem, router, phone", "{\"p\":[\"phone\",\"router\"]}");
    X("{\"p\":{\"dictionary\":[\"red\",\"green\"],\"match\":\"all\"}}", "Green and RED",
      "{\"p\":[\"green\",\"red\"]}");
    X("{\"p\":{\"dictionary\":[\"Red\"],\"ignore_case\":false}}", "red Red", "{\"p\":\"Red\"}");
}

static void rules_normalisers_apply_in_order(void **state)
{
    (void)state;
    X("{\"n\":{\"pattern\":\"name:([^;]*)\",\"normalize\":[\"trim\",\"collapse_space\",\"lower\"]}"
      "}",
      "name:   Ana   MARIA ;", "{\"n\":\"ana maria\"}");
    X("{\"n\":{\"pattern\":\"code:(\\\\S+)\",\"normalize\":\"upper\"}}", "code:ab-1",
      "{\"n\":\"AB-1\"}");
    X("{\"p\":{\"pattern\":\"phone:([-\\\\d ()]+)\",\"normalize\":\"digits\"}}",
      "phone: (555) 123-4567", "{\"p\":\"5551234567\"}");
    X("{\"n\":{\"pattern\":\"x=(\\\\s*)\",\"normalize\":\"trim\"}}", "x=   ", "{}"); /* empty */
}

static void rules_currency_amounts_become_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        double v;
    } ok[] = {{"$1,234.50", 1234.5},
              {"1.234,50 EUR", 1234.5},
              {"\xe2\x82\xac 12", 12},
              {"(12.00)", -12},
              {"-3", -3},
              {"1,234", 1234},
              {"12,5", 12.5},
              {"1.234.567", 1234567},
              {"0.99", 0.99},
              {"USD 1 000", 1000}};
    for (size_t i = 0; i < BELT_ARRAY_LEN(ok); i++) {
        double v = 0;
        if (belt__rules_parse_amount(ok[i].s, strlen(ok[i].s), &v) != 0 || v != ok[i].v)
            fail_msg("\"%s\": got %g, want %g", ok[i].s, v, ok[i].v);
    }
    double v;
    assert_int_equal(belt__rules_parse_amount("USD", 3, &v), -1);
    X("{\"a\":{\"pattern\":\"[$\\u20ac]\\\\s?[\\\\d.,]+\",\"normalize\":\"currency\"}}",
      "refund $1,234.50 now", "{\"a\":1234.5}");
    X("{\"a\":{\"pattern\":\"\\\\$[\\\\d.,]+\",\"normalize\":\"currency\",\"match\":\"all\"}}",
      "$5 then $1,000", "{\"a\":[5,1000]}");
    X("{\"a\":{\"pattern\":\"\\\\$[\\\\d.,]+\",\"normalize\":\"currency\",\"type\":\"string\"}}",
      "$1,000.50", "{\"a\":\"1000.5\"}");
}

static void rules_types_convert_or_skip(void **state)
{
    (void)state;
    X("{\"n\":{\"pattern\":\"qty (\\\\S+)\",\"type\":\"integer\",\"match\":\"all\"}}",
      "qty 3 qty x qty 4.5 qty 7", "{\"n\":[3,7]}");
    X("{\"n\":{\"pattern\":\"w=(\\\\S+)\",\"type\":\"number\"}}", "w=2.25", "{\"n\":2.25}");
    X("{\"b\":{\"pattern\":\"gift: (\\\\w+)\",\"type\":\"bool\"}}", "gift: YES", "{\"b\":true}");
    X("{\"b\":{\"pattern\":\"gift: (\\\\w+)\",\"type\":\"bool\"}}", "gift: off", "{\"b\":false}");
    X("{\"b\":{\"pattern\":\"gift: (\\\\w+)\",\"type\":\"bool\"}}", "gift: maybe", "{}");
}

static void rules_value_and_default(void **state)
{
    (void)state;
    const char *spec = "{\"urgent\":{\"pattern\":\"\\\\b(urgent|asap)\\\\b\",\"ignore_case\":true,"
                       "\"value\":true,\"default\":false},\"lang\":{\"dictionary\":[\"hola\"],"
                       "\"value\":\"es\"}}";
    X(spec, "ASAP please", "{\"urgent\":true}");
    X(spec, "whenever, hola", "{\"urgent\":false,\"lang\":\"es\"}");
}

static void rules_config_errors_name_the_key(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"[]", "stations.x.rules: must be a non-empty map"},
        {"{\"a\":3}", "stations.x.rules.a: must be a map with a pattern or a dictionary"},
        {"{\"a\":{}}", "stations.x.rules.a: needs exactly one of 'pattern' or 'dictionary'"},
        {"{\"a\":{\"pattern\":\"x\",\"dictionary\":[\"y\"]}}", "needs exactly one of"},
        {"{\"a\":{\"pattern\":\"(x\"}}",
         "stations.x.rules.a.pattern: invalid regular expression at offset 2: missing closing "
         "parenthesis"},
        {"{\"a\":{\"pattern\":[\"x\",3]}}", "stations.x.rules.a.pattern: item 2 must be a string"},
        {"{\"a\":{\"patern\":\"x\"}}", "stations.x.rules.a.patern: unknown key"},
        {"{\"a\":{\"pattern\":\"x\",\"match\":\"some\"}}",
         "stations.x.rules.a.match: \"some\" is not one of: first, all"},
        {"{\"a\":{\"pattern\":\"x\",\"type\":\"float\"}}",
         "stations.x.rules.a.type: \"float\" is not one of: string, number, integer, bool"},
        {"{\"a\":{\"pattern\":\"x\",\"normalize\":[\"trim\",\"title\"]}}",
         "stations.x.rules.a.normalize: \"title\" is not one of: trim, lower"},
        {"{\"a\":{\"pattern\":\"(x)\",\"group\":2}}", "stations.x.rules.a.group: pattern 1 has no "
                                                      "group 2"},
        {"{\"a\":{\"pattern\":\"(x)\",\"group\":\"n\"}}", "has no group named \"n\""},
        {"{\"a\":{\"pattern\":\"x\",\"max_matches\":0}}", "a.max_matches: must be an integer"},
        {"{\"a\":{\"pattern\":\"x\",\"ignore_case\":\"yes\"}}", "a.ignore_case: must be true or "
                                                                "false"},
        {"{\"a\":{\"dictionary\":{\"k\":[]}}}", "a.dictionary: \"k\" must map to a phrase"},
        {"{\"a\":{\"dictionary\":{\"k\":\"  \"}}}", "a.dictionary: phrase \"  \" is empty"},
        {"{\"a\":{\"dictionary\":{\"k\":\"x\",\"j\":\"X\"}}}",
         "a.dictionary: phrase \"X\" maps to both \"k\" and \"j\""},
        {"{\"a\":{\"dictionary\":[\"x\"],\"group\":1}}", "a.group: applies to patterns"},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        json_t *spec = J(cases[i][0]);
        struct belt_rules *r = NULL;
        struct belt_error err = {0};
        BELT_ASSERT_STATUS(belt__rules_compile(spec, "stations.x.rules", &r, &err),
                           BELT_ERR_CONFIG);
        assert_null(r);
        BELT_ASSERT_CONTAINS(err.msg, cases[i][1]);
        json_decref(spec);
    }
}

static void rules_large_dictionary_matches_in_one_pass(void **state)
{
    (void)state;
    json_t *phrases = json_array();
    char ph[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(ph, sizeof(ph), "product %d model %c", i, 'a' + i % 26);
        json_array_append_new(phrases, json_string(ph));
    }
    json_t *spec = json_pack("{s:{s:{s:o}}}", "p", "dictionary", "catalog", phrases);
    struct belt_rules *r = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK_ERR(belt__rules_compile(spec, NULL, &r, &err), &err);
    json_t *out = json_object();
    const char *text = "I bought a PRODUCT 4321 model f yesterday"; /* 4321 % 26 = 5: 'f' */
    BELT_ASSERT_OK(belt__rules_apply(r, text, strlen(text), out, NULL));
    assert_non_null(json_object_get(out, "p"));
    assert_string_equal(json_string_value(json_object_get(out, "p")), "catalog");
    json_object_clear(out);
    const char *other = "product 4321 model g";
    BELT_ASSERT_OK(belt__rules_apply(r, other, strlen(other), out, NULL));
    assert_null(json_object_get(out, "p"));
    json_decref(out);
    json_decref(spec);
    belt__rules_free(r);
}

static const char full_spec[] =
    "{\"order\":{\"pattern\":\"order\\\\s*#?([A-Z]{2}\\\\d{4})\"},"
    "\"amount\":{\"pattern\":\"\\\\$[\\\\d.,]+\",\"normalize\":\"currency\"},"
    "\"contact\":{\"pattern\":\"(?<name>[A-Z][a-z]+) <(?<email>[^>]+)>\"},"
    "\"skus\":{\"pattern\":\"SKU-\\\\d+\",\"match\":\"all\"},"
    "\"product\":{\"dictionary\":{\"router\":[\"router\",\"modem\"],\"phone\":\"phone\"}},"
    "\"urgent\":{\"pattern\":\"urgent\",\"value\":true,\"default\":false}}";
static const char full_text[] =
    "Ana <ana@x.org>: order #AB1234, refund $1,234.50 for SKU-1 and SKU-2 (router) urgent";
static const char full_want[] =
    "{\"order\":\"AB1234\",\"amount\":1234.5,\"contact\":{\"name\":\"Ana\",\"email\":\"ana@x.org\"}"
    ","
    "\"skus\":[\"SKU-1\",\"SKU-2\"],\"product\":\"router\",\"urgent\":true}";

static void rules_extract_all_kinds_together(void **state)
{
    (void)state;
    X(full_spec, full_text, full_want);
}

static void rules_compile_survives_every_allocation_failure(void **state)
{
    (void)state;
    json_t *spec = J(full_spec);
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 2000 && !completed; n++) {
        struct belt_rules *r = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = belt__rules_compile(spec, NULL, &r, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK) {
            belt__rules_free(r);
            completed = injected == 0;
            continue;
        }
        assert_null(r);
        if (st != BELT_ERR_NOMEM)
            fail_msg("allocation %ld: unexpected %s: %s", n, belt_status_name(st), err.msg);
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
    json_decref(spec);
}

static void rules_apply_survives_every_allocation_failure(void **state)
{
    (void)state;
    struct belt_rules *r = compile(full_spec);
    json_t *warm = json_object(); /* the first apply fills the match-data pool */
    BELT_ASSERT_OK(belt__rules_apply(r, full_text, strlen(full_text), warm, NULL));
    json_decref(warm);
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 500 && !completed; n++) {
        json_t *out = json_object();
        belt__alloc_fail_after(n, 1);
        belt_status st = belt__rules_apply(r, full_text, strlen(full_text), out, NULL);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        json_decref(out);
        if (st != BELT_OK)
            BELT_ASSERT_STATUS(st, BELT_ERR_NOMEM);
        completed = st == BELT_OK && injected == 0;
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
    belt__rules_free(r);
}

struct targ {
    const struct belt_rules *r;
    int failures;
};

static void *apply_many(void *p)
{
    struct targ *a = p;
    for (int i = 0; i < 3000; i++) {
        json_t *out = json_object();
        char *got = NULL;
        if (belt__rules_apply(a->r, full_text, strlen(full_text), out, NULL) == BELT_OK)
            got = belt_json_dumps(out, JSON_COMPACT);
        if (!got || strcmp(got, full_want) != 0)
            a->failures++;
        belt_free(got);
        json_decref(out);
    }
    return NULL;
}

static void rules_apply_is_thread_safe(void **state)
{
    (void)state;
    struct belt_rules *r = compile(full_spec);
    pthread_t t[4];
    struct targ a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct targ){r, 0};
        assert_int_equal(pthread_create(&t[i], NULL, apply_many, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    assert_int_equal(belt__rules_n_fields(r), 6);
    assert_string_equal(belt__rules_field_name(r, 1), "amount");
    belt__rules_free(r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rules_pattern_gives_group_one_or_the_whole_match),
    cmocka_unit_test(rules_named_groups_become_an_object),
    cmocka_unit_test(rules_group_selects_by_name_or_number),
    cmocka_unit_test(rules_match_all_collects_values),
    cmocka_unit_test(rules_patterns_are_tried_in_order),
    cmocka_unit_test(rules_dictionary_maps_phrases_to_canonical_values),
    cmocka_unit_test(rules_dictionary_all_lists_unique_values_in_text_order),
    cmocka_unit_test(rules_normalisers_apply_in_order),
    cmocka_unit_test(rules_currency_amounts_become_numbers),
    cmocka_unit_test(rules_types_convert_or_skip),
    cmocka_unit_test(rules_value_and_default),
    cmocka_unit_test(rules_config_errors_name_the_key),
    cmocka_unit_test(rules_large_dictionary_matches_in_one_pass),
    cmocka_unit_test(rules_extract_all_kinds_together),
    cmocka_unit_test(rules_compile_survives_every_allocation_failure),
    cmocka_unit_test(rules_apply_survives_every_allocation_failure),
    cmocka_unit_test(rules_apply_is_thread_safe),
};

BELT_TEST_MAIN(tests)
