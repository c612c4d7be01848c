/* Unit tests for src/line/template.c: values, loops, conditionals, JSON output, whitespace rules,
 * escaping, strict mode, syntax errors with line and column, bounds, allocation failures and
 * concurrent rendering. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "line/template.h"
#include "util/alloc.h"

static const char record_text[] =
    "{\"customer\":{\"name\":\"Ana\",\"vip\":true},\"refund\":150,\"ratio\":0.25,\"none\":null,"
    "\"items\":[{\"title\":\"Lamp\",\"tags\":[\"a\",\"b\"]},{\"title\":\"Desk\",\"tags\":[]}],"
    "\"empty\":[],\"attrs\":{\"color\":\"red\",\"size\":\"L\"},\"q\":\"say \\\"hi\\\"\"}";

static json_t *record(void)
{
    json_error_t je;
    json_t *r = json_loads(record_text, 0, &je);
    if (!r)
        fail_msg("bad record: %s", je.text);
    return r;
}

/* Render src (non-strict) against the test record and compare with want. */
static void R(const char *src, const char *want)
{
    struct belt_template *t = NULL;
    struct belt_error err = {0};
    belt_status st = belt__template_compile(src, strlen(src), NULL, &t, &err);
    if (st != BELT_OK)
        fail_msg("compile %s: %s", src, err.msg);
    json_t *r = record();
    struct belt_buf b;
    belt_buf_init(&b, 0);
    BELT_ASSERT_OK_ERR(belt__template_render(t, r, NULL, &b, &err), &err);
    if (strcmp(belt_buf_cstr(&b), want) != 0)
        fail_msg("template:\n%s\nrendered:\n[%s]\nexpected:\n[%s]", src, belt_buf_cstr(&b), want);
    belt_buf_deinit(&b);
    json_decref(r);
    belt__template_free(t);
}

static void template_renders_fields_and_paths(void **state)
{
    (void)state;
    R("Hello {{customer.name}}!", "Hello Ana!");
    R("{{ items[1].title }} / {{items[-1]['title']}}", "Desk / Desk");
    R("no tags at all", "no tags at all");
    R("", "");
    R("{{q}}", "say \"hi\"");
}

static void template_renders_scalars_and_json(void **state)
{
    (void)state;
    R("{{refund}} {{ratio}} {{customer.vip}} [{{none}}] [{{missing}}]", "150 0.25 true [] []");
    R("{{items[0].tags}}", "[\"a\",\"b\"]");
    R("{{json customer.name}} {{json refund}} {{json none}} {{json missing}}",
      "\"Ana\" 150 null null");
    R("{{json q}}", "\"say \\\"hi\\\"\"");
    R("{{json attrs}}", "{\"color\":\"red\",\"size\":\"L\"}");
    R("{{json}}", ""); /* a field named json */
    R("{{len(items)}} {{refund > 100}}", "2 true");
}

static void template_each_binds_item_index_first_last(void **state)
{
    (void)state;
    R("{{#each items}}{{@index}}={{this.title}}{{#if not @last}}, {{/if}}{{/each}}",
      "0=Lamp, 1=Desk");
    R("{{#each items as it}}{{#if @first}}first:{{/if}}{{it.title}}({{len(it.tags)}}) {{/each}}",
      "first:Lamp(2) Desk(0) ");
    R("{{#each empty}}x{{else}}(none){{/each}}", "(none)");
    R("{{#each missing}}x{{else}}(none){{/each}}", "(none)");
    R("{{#each attrs}}{{@key}}={{this}};{{/each}}", "color=red;size=L;");
    R("{{#each items}}{{#each this.tags}}{{this}}{{/each}}|{{/each}}", "ab||");
    R("{{#each items as it}}{{#each it.tags}}{{it.title}}:{{this}} {{/each}}{{/each}}",
      "Lamp:a Lamp:b ");
}

static void template_if_else_if_else(void **state)
{
    (void)state;
    const char *t = "{{#if refund > 200}}big{{else if refund > 100}}medium{{else}}small{{/if}}";
    R(t, "medium");
    R("{{#if missing}}yes{{else}}no{{/if}}", "no");
    R("{{#if customer.vip and refund >= 150}}VIP{{/if}}", "VIP");
    R("{{#if 'a' in items[0].tags}}{{#if ratio < 1}}in{{/if}}{{/if}}", "in");
}

static void template_block_lines_vanish_when_alone(void **state)
{
    (void)state;
    R("Items:\n{{#each items}}\n- {{this.title}}\n{{/each}}\nDone.\n",
      "Items:\n- Lamp\n- Desk\nDone.\n");
    R("  {{#if refund}}  \nyes\n  {{/if}}\n", "yes\n");
    R("{{! a comment alone }}\nkept\n", "kept\n");
    R("a {{#if refund}}b{{/if}} c\n", "a b c\n"); /* inline blocks keep their line */
}

static void template_tilde_trims_whitespace(void **state)
{
    (void)state;
    R("a   {{~ refund ~}}   b", "a150b");
    R("[\n  {{~#each items~}}\n  {{this.title}}\n{{~/each~}}\n]", "[LampDesk]");
}

static void template_braces_can_be_escaped(void **state)
{
    (void)state;
    R("\\{{not a tag}} {x} }} {", "{{not a tag}} {x} }} {");
    R("json: {\"a\": {{refund}}}", "json: {\"a\": 150}");
    R("{{ 'x}}y' }}", "x}}y");
    R("{{! comment with {braces} }}z", "z");
}

static void template_strict_mode_rejects_missing_values(void **state)
{
    (void)state;
    struct belt_template_params p = belt__template_default_params();
    p.strict = 1;
    p.name = "prompt";
    const char *src = "Hi {{customer.name}},\nrefund {{customer.refund_usd}}\n";
    struct belt_template *t = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_OK(belt__template_compile(src, strlen(src), &p, &t, &err));
    json_t *r = record();
    struct belt_buf b;
    belt_buf_init(&b, 0);
    BELT_ASSERT_OK(belt_buf_puts(&b, "keep:"));
    BELT_ASSERT_STATUS(belt__template_render(t, r, NULL, &b, &err), BELT_ERR_INVALID);
    assert_string_equal(err.msg, "prompt: line 2, column 8: 'customer.refund_usd' is missing");
    assert_string_equal(belt_buf_cstr(&b), "keep:"); /* nothing half-written */
    belt_buf_deinit(&b);
    json_decref(r);
    belt__template_free(t);
}

static void template_strict_mode_allows_null_and_conditions(void **state)
{
    (void)state;
    struct belt_template_params p = belt__template_default_params();
    p.strict = 1;
    const char *src = "[{{none}}]{{#if missing}}x{{/if}}";
    struct belt_template *t = NULL;
    BELT_ASSERT_OK(belt__template_compile(src, strlen(src), &p, &t, NULL));
    json_t *r = record();
    struct belt_buf b;
    belt_buf_init(&b, 0);
    BELT_ASSERT_OK(belt__template_render(t, r, NULL, &b, NULL));
    assert_string_equal(belt_buf_cstr(&b), "[]");
    belt_buf_deinit(&b);
    json_decref(r);
    belt__template_free(t);
}

static void template_syntax_errors_name_line_and_column(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        const char *msg;
        int column;
    } cases[] = {
        {"Hi {{name", "line 1, column 4: unclosed tag", 4},
        {"a\nb {{x >> 1}}", "line 2, column 8: expected a value after '>'", 8},
        {"{{#if a}}x", "line 1, column 1: {{#if}} is never closed (missing {{/if}})", 1},
        {"x\n  {{#each a}}{{#if b}}{{/each}}",
         "line 2, column 23: {{/each}} closes {{#if}} "
         "opened at line 2, column 14",
         23},
        {"{{/if}}", "line 1, column 1: {{/if}} without an open {{#if}}", 1},
        {"{{else}}", "{{else}} outside of {{#if}} or {{#each}}", 1},
        {"{{#if a}}1{{else}}2{{else}}3{{/if}}", "column 20: a second {{else}}", 20},
        {"{{#each a}}1{{else if b}}2{{/each}}", "column 20: {{else}} takes nothing after it", 20},
        {"{{#for a}}{{/for}}", "column 3: unknown block '#for a' (known: #if, #each)", 3},
        {"{{#if}}{{/if}}", "{{#if}} needs an expression", 1},
        {"{{}}", "empty tag", 1},
        {"{{#each a as 1x}}{{/each}}", "column 14: the name after 'as' must be a plain identifier",
         14},
        {"{{ a = 1 }}", "column 6: use '==' to compare", 6},
        {"\xc3\xa9\xc3\xa9 {{ x + }}", "column 9: unexpected character '+'", 9},
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(cases); i++) {
        struct belt_template *t = NULL;
        struct belt_error err = {0};
        belt_status st = belt__template_compile(cases[i].src, strlen(cases[i].src), NULL, &t, &err);
        if (st != BELT_ERR_INVALID)
            fail_msg("'%s': expected BELT_ERR_INVALID, got %s", cases[i].src, belt_status_name(st));
        assert_null(t);
        BELT_ASSERT_CONTAINS(err.msg, cases[i].msg);
        if (err.sub != cases[i].column)
            fail_msg("'%s': column %d, expected %d: %s", cases[i].src, err.sub, cases[i].column,
                     err.msg);
    }
}

static void template_error_shows_the_line_with_a_caret(void **state)
{
    (void)state;
    const char *src = "first line\n  second {{ a ! b }} line\nthird";
    struct belt_template_params p = belt__template_default_params();
    p.name = "tickets.fields";
    struct belt_template *t = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt__template_compile(src, strlen(src), &p, &t, &err), BELT_ERR_INVALID);
    assert_string_equal(err.msg, "tickets.fields: line 2, column 15: use 'not' instead of '!'\n"
                                 "    second {{ a ! b }} line\n"
                                 "                ^");
}

static void template_rejects_deep_nesting(void **state)
{
    (void)state;
    struct belt_buf src;
    belt_buf_init(&src, 0);
    for (int i = 0; i < BELT_TEMPLATE_MAX_DEPTH + 1; i++)
        BELT_ASSERT_OK(belt_buf_puts(&src, "{{#if a}}"));
    struct belt_template *t = NULL;
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt__template_compile(src.data, src.len, NULL, &t, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "nested deeper than 32 levels");
    belt_buf_deinit(&src);
}

static void template_output_is_bounded(void **state)
{
    (void)state;
    struct belt_template_params p = belt__template_default_params();
    p.max_output = 10;
    const char *src = "{{#each items}}{{this.title}}{{this.title}}{{/each}}";
    struct belt_template *t = NULL;
    BELT_ASSERT_OK(belt__template_compile(src, strlen(src), &p, &t, NULL));
    json_t *r = record();
    struct belt_buf b;
    belt_buf_init(&b, 0);
    struct belt_error err = {0};
    BELT_ASSERT_STATUS(belt__template_render(t, r, NULL, &b, &err), BELT_ERR_TOOBIG);
    BELT_ASSERT_CONTAINS(err.msg, "exceeds 10 bytes");
    assert_int_equal(b.len, 0);
    belt__template_free(t);
    /* the buffer's own limit applies too */
    BELT_ASSERT_OK(belt__template_compile(src, strlen(src), NULL, &t, NULL));
    struct belt_buf small;
    belt_buf_init(&small, 5);
    BELT_ASSERT_STATUS(belt__template_render(t, r, NULL, &small, &err), BELT_ERR_TOOBIG);
    assert_int_equal(small.len, 0);
    belt_buf_deinit(&small);
    belt_buf_deinit(&b);
    json_decref(r);
    belt__template_free(t);
}

static const char big_template[] =
    "Customer {{customer.name}} ({{#if customer.vip}}VIP{{else}}regular{{/if}})\n"
    "{{#each items as it}}\n- {{@index}} {{it.title}} {{json it.tags}}\n{{else}}\nnone\n{{/each}}\n"
    "{{! note }}Refund: {{refund}} {{#if refund > 100}}review{{else if refund > 0}}auto{{/if}}\n"
    "\\{{literal}}";

static void template_compile_survives_every_allocation_failure(void **state)
{
    (void)state;
    struct belt_template_params p = belt__template_default_params();
    p.name = "x";
    long live_before = belt__alloc_n_live();
    int completed = 0;
    for (long n = 1; n < 1000 && !completed; n++) {
        struct belt_template *t = NULL;
        struct belt_error err = {0};
        belt__alloc_fail_after(n, 1);
        belt_status st = belt__template_compile(big_template, strlen(big_template), &p, &t, &err);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK) {
            belt__template_free(t);
            completed = injected == 0;
            continue;
        }
        assert_null(t);
        BELT_ASSERT_STATUS(st, BELT_ERR_NOMEM);
    }
    assert_true(completed);
    assert_int_equal(belt__alloc_n_live(), live_before);
}

static void template_render_fails_cleanly_without_memory(void **state)
{
    (void)state;
    struct belt_template *t = NULL;
    BELT_ASSERT_OK(belt__template_compile(big_template, strlen(big_template), NULL, &t, NULL));
    json_t *r = record();
    struct belt_buf b;
    belt_buf_init(&b, 0);
    struct belt_error err = {0};
    belt__alloc_fail_after(1, 1);
    belt_status st = belt__template_render(t, r, NULL, &b, &err);
    belt__alloc_fail_after(0, 0);
    BELT_ASSERT_STATUS(st, BELT_ERR_NOMEM);
    assert_int_equal(b.len, 0);
    /* with room reserved, rendering allocates nothing */
    BELT_ASSERT_OK(belt_buf_reserve(&b, 4096));
    belt__alloc_fail_after(1, 1);
    st = belt__template_render(t, r, NULL, &b, &err);
    long injected = belt__alloc_n_injected();
    belt__alloc_fail_after(0, 0);
    BELT_ASSERT_OK(st);
    assert_int_equal(injected, 0);
    BELT_ASSERT_CONTAINS(belt_buf_cstr(&b), "- 1 Desk []\nRefund: 150 review\n{{literal}}");
    belt_buf_deinit(&b);
    json_decref(r);
    belt__template_free(t);
}

struct targ {
    const struct belt_template *t;
    const char *want;
    int failures;
};

static void *render_many(void *p)
{
    struct targ *a = p;
    json_t *r = record();
    struct belt_buf b;
    belt_buf_init(&b, 0);
    for (int i = 0; i < 5000; i++) {
        belt_buf_reset(&b);
        if (belt__template_render(a->t, r, NULL, &b, NULL) != BELT_OK ||
            strcmp(belt_buf_cstr(&b), a->want) != 0)
            a->failures++;
    }
    belt_buf_deinit(&b);
    json_decref(r);
    return NULL;
}

static void template_rendering_is_thread_safe(void **state)
{
    (void)state;
    struct belt_template *t = NULL;
    BELT_ASSERT_OK(belt__template_compile(big_template, strlen(big_template), NULL, &t, NULL));
    json_t *r = record();
    struct belt_buf want;
    belt_buf_init(&want, 0);
    BELT_ASSERT_OK(belt__template_render(t, r, NULL, &want, NULL));
    pthread_t th[4];
    struct targ a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct targ){t, belt_buf_cstr(&want), 0};
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    belt_buf_deinit(&want);
    json_decref(r);
    belt__template_free(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(template_renders_fields_and_paths),
    cmocka_unit_test(template_renders_scalars_and_json),
    cmocka_unit_test(template_each_binds_item_index_first_last),
    cmocka_unit_test(template_if_else_if_else),
    cmocka_unit_test(template_block_lines_vanish_when_alone),
    cmocka_unit_test(template_tilde_trims_whitespace),
    cmocka_unit_test(template_braces_can_be_escaped),
    cmocka_unit_test(template_strict_mode_rejects_missing_values),
    cmocka_unit_test(template_strict_mode_allows_null_and_conditions),
    cmocka_unit_test(template_syntax_errors_name_line_and_column),
    cmocka_unit_test(template_error_shows_the_line_with_a_caret),
    cmocka_unit_test(template_rejects_deep_nesting),
    cmocka_unit_test(template_output_is_bounded),
    cmocka_unit_test(template_compile_survives_every_allocation_failure),
    cmocka_unit_test(template_render_fails_cleanly_without_memory),
    cmocka_unit_test(template_rendering_is_thread_safe),
};

BELT_TEST_MAIN(tests)
