/*
 * test_jscan.c — the tree-free answer scanner (src/model/jscan.c): the fields it reads, what it
 * refuses, and, by differential testing against jansson on mutated answers, that it never
 * accepts what jansson rejects nor reads a value jansson would read differently.
 */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "model/jscan.h"
#include "util/rng.h"

static const char *const answers[] = {
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Hello from the fake upstream.\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"system_fingerprint\":\"fp_fake\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6,"
    "\"total_tokens\":15}}",
    " {\n \"id\": \"x\\u00e9\\ud83d\\ude00\", \"model\": \"m\\/1\", \"choices\": [ {\"message\": "
    "{\"content\": \"a\\nb\\t\\\"c\\\"\\\\ \\u4e2d\\u0001\"}, \"finish_reason\": \"length\"}, "
    "{\"message\": {\"content\": \"second\"}} ], \"usage\": {\"prompt_tokens\": -0, "
    "\"completion_tokens\": 123456789012345678, \"x\": [1.5e-3, -2E+10, 0.0, true, false, "
    "null, {}, []]}}\r\n",
    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1,"
    "-0.25,3e-5]}],\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":5,"
    "\"total_tokens\":5}}",
    "{\"id\":\"é中😀\",\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":null}],"
    "\"usage\":{\"prompt_tokens\":1.0,\"completion_tokens\":\"2\"}}",
};

/* The same fields read from jansson's tree. */
static void tree_fields(const json_t *v, struct belt__jscan_answer *t, const char **id,
                        const char **model, const char **fin, const char **content,
                        size_t *content_len)
{
    memset(t, 0, sizeof(*t));
    const json_t *ch0 = json_array_get(json_object_get(v, "choices"), 0);
    const json_t *msg = json_object_get(ch0, "message");
    const json_t *u = json_object_get(v, "usage");
    t->choices_array = json_is_array(json_object_get(v, "choices"));
    t->data_array = json_is_array(json_object_get(v, "data"));
    t->has_usage = json_is_object(u);
    const json_t *pt = json_object_get(u, "prompt_tokens");
    const json_t *ct = json_object_get(u, "completion_tokens");
    t->prompt_tokens = json_is_integer(pt) ? json_integer_value(pt) : 0;
    t->completion_tokens = json_is_integer(ct) ? json_integer_value(ct) : 0;
    t->needs_tree =
        json_is_object(json_object_get(ch0, "logprobs")) || json_object_get(msg, "tool_calls");
    *id = json_string_value(json_object_get(v, "id"));
    *model = json_string_value(json_object_get(v, "model"));
    *fin = json_string_value(json_object_get(ch0, "finish_reason"));
    const json_t *c = json_object_get(msg, "content");
    *content = json_string_value(c);
    *content_len = json_is_string(c) ? json_string_length(c) : 0;
}

static void assert_slice(const struct belt__jslice *s, const char *want, size_t want_len)
{
    if (!want) {
        assert_null(s->p);
        return;
    }
    assert_non_null(s->p);
    char buf[4096];
    assert_true(s->n < sizeof(buf));
    size_t n = belt__jscan_unescape(s, buf);
    assert_int_equal(n, want_len);
    assert_memory_equal(buf, want, n);
    assert_int_equal(buf[n], '\0');
}

/* Scan text; when accepted, jansson must accept it too and read the same values. Returns the
 * scanner's verdict. */
static int check_against_jansson(const char *text, size_t n)
{
    struct belt__jscan_answer s;
    int ok = belt__jscan_answer(text, n, &s);
    json_error_t je;
    json_t *v = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (ok) {
        if (!v || !json_is_object(v))
            fail_msg("scanner accepted what jansson rejects: %.*s", (int)n, text);
        struct belt__jscan_answer t;
        const char *id, *model, *fin, *content;
        size_t content_len;
        tree_fields(v, &t, &id, &model, &fin, &content, &content_len);
        assert_int_equal(s.choices_array, t.choices_array);
        assert_int_equal(s.data_array, t.data_array);
        assert_int_equal(s.has_usage, t.has_usage);
        assert_int_equal(s.prompt_tokens, t.prompt_tokens);
        assert_int_equal(s.completion_tokens, t.completion_tokens);
        assert_int_equal(s.needs_tree, t.needs_tree);
        assert_slice(&s.id, id, id ? strlen(id) : 0);
        assert_slice(&s.model, model, model ? strlen(model) : 0);
        assert_slice(&s.finish_reason, fin, fin ? strlen(fin) : 0);
        assert_slice(&s.content, content, content_len);
    }
    json_decref(v);
    return ok;
}

static void jscan_reads_the_answer_fields(void **state)
{
    (void)state;
    struct belt__jscan_answer s;
    assert_true(belt__jscan_answer(answers[0], strlen(answers[0]), &s));
    assert_true(s.choices_array);
    assert_false(s.data_array);
    assert_true(s.has_usage);
    assert_int_equal(s.prompt_tokens, 9);
    assert_int_equal(s.completion_tokens, 6);
    assert_false(s.needs_tree);
    assert_slice(&s.id, "chatcmpl-1", 10);
    assert_slice(&s.model, "gpt-4o-mini", 11);
    assert_slice(&s.finish_reason, "stop", 4);
    assert_slice(&s.content, "Hello from the fake upstream.", 29);
}

static void jscan_decodes_escapes_as_jansson_does(void **state)
{
    (void)state;
    for (size_t i = 0; i < BELT_ARRAY_LEN(answers); i++)
        assert_true(check_against_jansson(answers[i], strlen(answers[i])));
    struct belt__jscan_answer s;
    assert_true(belt__jscan_answer(answers[1], strlen(answers[1]), &s));
    assert_slice(&s.id, "x\xc3\xa9\xf0\x9f\x98\x80", 7);
    assert_slice(&s.content, "a\nb\t\"c\"\\ \xe4\xb8\xad\x01", 13);
}

static void jscan_flags_answers_that_need_a_tree(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"choices\":[{\"message\":{\"content\":\"x\",\"tool_calls\":null}}],\"usage\":{}}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"t\"}]}}],\"usage\":{}}",
        "{\"choices\":[{\"logprobs\":{\"content\":[{\"logprob\":-0.1}]}}],\"usage\":{}}",
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(docs); i++) {
        struct belt__jscan_answer s;
        assert_true(belt__jscan_answer(docs[i], strlen(docs[i]), &s));
        assert_true(s.needs_tree);
    }
    struct belt__jscan_answer s; /* tool_calls of a later choice do not matter */
    const char *later = "{\"choices\":[{},{\"message\":{\"tool_calls\":[]}}]}";
    assert_true(belt__jscan_answer(later, strlen(later), &s));
    assert_false(s.needs_tree);
}

static void jscan_refuses_invalid_and_unsure_input(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "\"x\"",
        "{",
        "{}x",
        "{} {}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":True}",
        "{\"a\":\"x\ty\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xe0\x80\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":1,\"a\":2}",
        "{\"o\":{\"k\":1,\"k\":1}}",
        "{\"a\\u0062\":1}",             /* escaped key: left to jansson */
        "{\"a\":12345678901234567890}", /* might not fit int64 */
        "{\"a\":1e400}",                /* might overflow */
        "{\"a\":1234567890123456789}",  /* 19 digits: unsure */
        "\xef\xbb\xbf{}",               /* BOM */
        "{\"a\":[1,2}",
        "{\"a\":[1 2]}",
    };
    for (size_t i = 0; i < BELT_ARRAY_LEN(bad); i++) {
        struct belt__jscan_answer s;
        if (belt__jscan_answer(bad[i], strlen(bad[i]), &s))
            fail_msg("accepted bad input #%zu: %s", i, bad[i]);
    }
    char deep[2 * BELT__JSCAN_MAX_DEPTH + 16]; /* nesting past the limit: unsure */
    size_t n = 0;
    deep[n++] = '{';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ':';
    for (int i = 0; i < BELT__JSCAN_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < BELT__JSCAN_MAX_DEPTH; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    struct belt__jscan_answer s;
    assert_false(belt__jscan_answer(deep, n, &s));
}

/* One random edit of buf (len bytes, capacity cap): flip, insert, delete or copy a byte. */
static size_t mutate(struct belt_rng *rng, char *buf, size_t len, size_t cap)
{
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefABCDEF.eE+- \t\nntrfl\x01\x7f"
                                   "\xc3\xa9\xed\xa0\x80\xf0\x9f";
    size_t at = len ? (size_t)(belt_rng_uniform(rng) * (double)len) : 0;
    char ch = alphabet[(size_t)(belt_rng_uniform(rng) * (sizeof(alphabet) - 1))];
    switch ((int)(belt_rng_uniform(rng) * 4)) {
    case 0:
        if (len)
            buf[at] = ch;
        return len;
    case 1:
        if (len + 1 >= cap)
            return len;
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = ch;
        return len + 1;
    case 2:
        if (!len)
            return len;
        memmove(buf + at, buf + at + 1, len - at - 1);
        return len - 1;
    default:
        if (len && len + 1 < cap) {
            size_t from = (size_t)(belt_rng_uniform(rng) * (double)len);
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = buf[from < at ? from : from + 1];
            return len + 1;
        }
        return len;
    }
}

static void jscan_never_disagrees_with_jansson_on_mutations(void **state)
{
    (void)state;
    struct belt_rng rng;
    belt_rng_seed(&rng, 20261128);
    char buf[2048];
    size_t accepted = 0, tried = 0;
    for (size_t d = 0; d < BELT_ARRAY_LEN(answers); d++) {
        for (int round = 0; round < 4000; round++) {
            size_t len = strlen(answers[d]);
            memcpy(buf, answers[d], len);
            int edits = 1 + (int)(belt_rng_uniform(&rng) * 3);
            for (int e = 0; e < edits; e++)
                len = mutate(&rng, buf, len, sizeof(buf));
            accepted += (size_t)check_against_jansson(buf, len);
            tried++;
        }
    }
    /* the edits must leave a good share valid, or this test would prove little */
    assert_true(accepted * 20 > tried);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jscan_reads_the_answer_fields),
        cmocka_unit_test(jscan_decodes_escapes_as_jansson_does),
        cmocka_unit_test(jscan_flags_answers_that_need_a_tree),
        cmocka_unit_test(jscan_refuses_invalid_and_unsure_input),
        cmocka_unit_test(jscan_never_disagrees_with_jansson_on_mutations),
    };
    return belt_test_run(__FILE__, tests, BELT_ARRAY_LEN(tests));
}
