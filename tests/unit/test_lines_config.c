/*
 * test_lines_config.c — the `lines:` section: stations and tools, DAG order, per-kind keys,
 * cross-checks, and errors that point at the offending character (conditions, templates,
 * rules, regexes) with file:line:col.
 */
#include "testutil.h"

#include <string.h>

#include "config/config.h"

static belt_status parse(const char *text, struct belt_config **cfg, struct belt_error *err)
{
    belt_error_clear(err);
    return belt_config_parse(text, strlen(text), "belt.yaml", ".", cfg, err);
}

/* Parse text that must fail; returns the message (static). */
static const char *parse_error(const char *text)
{
    static struct belt_error err;
    struct belt_config *cfg = NULL;
    belt_status st = parse(text, &cfg, &err);
    belt_config_free(cfg);
    if (st == BELT_OK)
        fail_msg("expected an error for:\n%s", text);
    assert_int_equal(st, BELT_ERR_CONFIG);
    return err.msg;
}

static const char *const models = "models:\n"
                                  "  small: { provider: openai, model: m, api_key_env: NOPE_KEY }\n"
                                  "  mine: { provider: openai, model: m, trusted: true }\n";

static void lines_config_reads_stations_tools_and_defaults(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof(text),
             "%s"
             "lines:\n"
             "  support:\n"
             "    stations:\n"
             "      - { name: clean, kind: redact, input: [subject, text], pii: [email] }\n"
             "      - { name: intent, kind: classify, input: text, route: small,\n"
             "          labels: [a, b] }\n"
             "      - { name: plan, kind: plan, route: small, prompt: 'Plan it', allow: [reply] }\n"
             "    tools:\n"
             "      - { name: reply, kind: generate, route: mine, prompt: 'Hi {{text}}',\n"
             "          sensitive: true }\n",
             models);
    struct belt_config *cfg = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(parse(text, &cfg, &err), &err);
    const struct belt_cfg_line *l = belt__cfg_lines_find(&cfg->lines, "support");
    assert_non_null(l);
    assert_int_equal(l->n_stations, 3);
    assert_int_equal(l->n_tools, 1);
    assert_int_equal(l->on_fail, BELT_ON_FAIL_REVIEW);
    assert_int_equal(l->concurrency, 32);
    assert_int_equal(l->stations[0].n_inputs, 2);
    assert_string_equal(l->stations[1].output.text, "intent");
    assert_int_equal(l->stations[1].n_need, 1); /* the previous station */
    assert_int_equal(l->stations[1].need_idx[0], 0);
    assert_true(l->stations[1].route_untrusted);
    assert_false(l->tools[0].route_untrusted);
    assert_true(l->tools[0].sensitive);
    assert_int_equal(l->stations[2].allow_idx[0], 0);
    assert_non_null(l->outbound_pii);
    assert_int_equal(strlen(l->hash), 64);
    belt_config_free(cfg);
}

static void lines_config_orders_a_dag_by_needs(void **state)
{
    (void)state;
    const char *text = "lines:\n"
                       "  dag:\n"
                       "    stations:\n"
                       "      - { name: c, kind: validate, condition: 'true', needs: [a, b] }\n"
                       "      - { name: a, kind: validate, condition: 'true', needs: [] }\n"
                       "      - { name: b, kind: validate, condition: 'true', needs: [a] }\n";
    struct belt_config *cfg = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(parse(text, &cfg, &err), &err);
    const struct belt_cfg_line *l = &cfg->lines.v[0];
    assert_int_equal(l->order[0], 1); /* a */
    assert_int_equal(l->order[1], 2); /* b */
    assert_int_equal(l->order[2], 0); /* c */
    belt_config_free(cfg);
}

static void lines_config_rejects_a_cycle(void **state)
{
    (void)state;
    const char *msg = parse_error("lines:\n"
                                  "  dag:\n"
                                  "    stations:\n"
                                  "      - { name: a, kind: review, needs: [b] }\n"
                                  "      - { name: b, kind: review, needs: [a] }\n");
    BELT_ASSERT_CONTAINS(msg, "cycle among: a, b");
}

static void lines_config_when_error_points_at_the_character(void **state)
{
    (void)state;
    const char *msg = parse_error("lines:\n"
                                  "  l:\n"
                                  "    stations:\n"
                                  "      - name: r\n"
                                  "        kind: review\n"
                                  "        when: intent == \"refund\" and amount >< 3\n");
    /* the value starts at column 15; '<' is character 32 of the expression */
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:6:46: lines.l.stations[0].when: ");
    BELT_ASSERT_CONTAINS(msg, "^");
}

static void lines_config_quoted_when_error_counts_the_quote(void **state)
{
    (void)state;
    const char *msg = parse_error("lines:\n"
                                  "  l:\n"
                                  "    stations:\n"
                                  "      - { name: r, kind: review, when: 'a == (' }\n");
    /* the text starts after the quote (column 41); the error is at its end (character 7,
     * where a value is missing), which is the closing quote */
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:4:47: lines.l.stations[0].when:");
}

static void lines_config_template_error_in_a_block_names_the_line(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof(text),
             "%s"
             "lines:\n"
             "  l:\n"
             "    stations:\n"
             "      - name: g\n"
             "        kind: generate\n"
             "        route: small\n"
             "        prompt: |\n"
             "          Hello {{name}}\n"
             "          {{#each items}} {{this}}\n",
             models);
    const char *msg = parse_error(text);
    /* the template's line 2 is the file's line 12 */
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:12: lines.l.stations[0].prompt: line 2 of the text");
    BELT_ASSERT_CONTAINS(msg, "{{#each");
}

static void lines_config_template_error_on_one_line_is_exact(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof(text),
             "%s"
             "lines:\n"
             "  l:\n"
             "    stations:\n"
             "      - { name: g, kind: generate, route: small, prompt: 'Hi {{name' }\n",
             models);
    const char *msg = parse_error(text);
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:7:");
    BELT_ASSERT_CONTAINS(msg, "lines.l.stations[0].prompt:");
}

static void lines_config_rules_error_names_the_rule(void **state)
{
    (void)state;
    const char *msg = parse_error("lines:\n"
                                  "  l:\n"
                                  "    stations:\n"
                                  "      - name: x\n"
                                  "        kind: extract\n"
                                  "        input: text\n"
                                  "        rules:\n"
                                  "          ok: { pattern: 'a+' }\n"
                                  "          order: { pattern: '(unclosed' }\n");
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:9:");
    BELT_ASSERT_CONTAINS(msg, "lines.l.stations[0].rules.order.pattern");
}

static void lines_config_regex_error_points_at_the_offset(void **state)
{
    (void)state;
    const char *msg = parse_error("lines:\n"
                                  "  l:\n"
                                  "    stations:\n"
                                  "      - { name: v, kind: validate, regex: 'ab[c' }\n");
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:4:");
    BELT_ASSERT_CONTAINS(msg, "lines.l.stations[0].regex");
}

static void lines_config_rejects_keys_of_other_kinds(void **state)
{
    (void)state;
    const char *msg = parse_error("lines:\n"
                                  "  l:\n"
                                  "    stations:\n"
                                  "      - { name: r, kind: review, corpus: kb }\n");
    BELT_ASSERT_CONTAINS(msg, "belt.yaml:4:34: lines.l.stations[0].corpus: does not apply to a "
                              "review station");
    msg = parse_error("lines:\n"
                      "  l:\n"
                      "    stations:\n"
                      "      - { name: r, kind: review, colour: red }\n");
    BELT_ASSERT_CONTAINS(msg, "unknown key for a review station");
}

static void lines_config_requires_the_kinds_keys(void **state)
{
    (void)state;
    BELT_ASSERT_CONTAINS(parse_error("lines:\n  l:\n    stations:\n"
                                     "      - { name: c, kind: classify, input: text }\n"),
                         "a classify station needs 'route'");
    BELT_ASSERT_CONTAINS(parse_error("lines:\n  l:\n    stations:\n"
                                     "      - { name: v, kind: validate }\n"),
                         "needs one of: schema|labels|regex|condition");
    BELT_ASSERT_CONTAINS(parse_error("lines:\n  l:\n    stations:\n"
                                     "      - { name: v, kind: sort }\n"),
                         "lines.l.stations[0].kind");
}

static void lines_config_checks_routes_and_allow_lists(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof(text),
             "%s"
             "lines:\n  l:\n    stations:\n"
             "      - { name: c, kind: classify, input: text, route: big }\n",
             models);
    BELT_ASSERT_CONTAINS(parse_error(text), "'big' is neither a route nor a model");
    snprintf(text, sizeof(text),
             "%s"
             "lines:\n  l:\n    stations:\n"
             "      - { name: p, kind: plan, route: small, prompt: x, allow: [c] }\n"
             "      - { name: c, kind: review }\n",
             models);
    BELT_ASSERT_CONTAINS(parse_error(text), "allows 'c', which is not under the line's tools:");
    BELT_ASSERT_CONTAINS(parse_error("lines:\n  l:\n    stations:\n"
                                     "      - { name: a, kind: review }\n"
                                     "      - { name: a, kind: review }\n"),
                         "station name 'a' is used twice");
    BELT_ASSERT_CONTAINS(parse_error("lines:\n  l:\n    stations:\n"
                                     "      - { name: a, kind: review, needs: [zz] }\n"),
                         "needs 'zz', which is not a station");
}

static void lines_config_bad_input_path_is_rejected(void **state)
{
    (void)state;
    BELT_ASSERT_CONTAINS(parse_error("lines:\n  l:\n    stations:\n"
                                     "      - { name: r, kind: redact, input: 'a..b' }\n"),
                         "empty segment");
    BELT_ASSERT_CONTAINS(
        parse_error("lines:\n  l:\n    stations:\n"
                    "      - { name: r, kind: redact, input: text, pii: [dna] }\n"),
        "unknown PII entity 'dna'");
}

static void lines_config_validate_retry_finds_the_producer(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof(text),
             "%s"
             "lines:\n  l:\n    stations:\n"
             "      - { name: fields, kind: extract, input: text, route: small }\n"
             "      - { name: other, kind: review, when: 'false' }\n"
             "      - { name: check, kind: validate, input: fields.order, regex: '^\\d+$' }\n",
             models);
    struct belt_config *cfg = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(parse(text, &cfg, &err), &err);
    assert_int_equal(cfg->lines.v[0].stations[2].retry_idx, 0);
    belt_config_free(cfg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(lines_config_reads_stations_tools_and_defaults),
    cmocka_unit_test(lines_config_orders_a_dag_by_needs),
    cmocka_unit_test(lines_config_rejects_a_cycle),
    cmocka_unit_test(lines_config_when_error_points_at_the_character),
    cmocka_unit_test(lines_config_quoted_when_error_counts_the_quote),
    cmocka_unit_test(lines_config_template_error_in_a_block_names_the_line),
    cmocka_unit_test(lines_config_template_error_on_one_line_is_exact),
    cmocka_unit_test(lines_config_rules_error_names_the_rule),
    cmocka_unit_test(lines_config_regex_error_points_at_the_offset),
    cmocka_unit_test(lines_config_rejects_keys_of_other_kinds),
    cmocka_unit_test(lines_config_requires_the_kinds_keys),
    cmocka_unit_test(lines_config_checks_routes_and_allow_lists),
    cmocka_unit_test(lines_config_bad_input_path_is_rejected),
    cmocka_unit_test(lines_config_validate_retry_finds_the_producer),
};

BELT_TEST_MAIN(tests)
