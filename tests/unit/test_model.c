/*
 * test_model.c — the pure parts of the model layer: backoff and Retry-After, outcome
 * classification, the circuit breaker, weighted choice, cost and token estimates, SSE parsing
 * across chunk boundaries, stream assembly, the Anthropic translation both ways, and the
 * cache key normalisation.
 */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "cache/cache.h"
#include "model/assemble.h"
#include "model/provider.h"
#include "model/reliability.h"
#include "model/sse.h"
#include "model/usage.h"

/* ---- backoff and Retry-After -------------------------------------------------------------- */

static void reliability_backoff_grows_and_caps(void **state)
{
    (void)state;
    assert_int_equal(belt__backoff_ms(0, 100, 10000, 0.0), 50);
    assert_int_equal(belt__backoff_ms(0, 100, 10000, 0.999999), 99);
    assert_int_equal(belt__backoff_ms(1, 100, 10000, 0.0), 100);
    assert_int_equal(belt__backoff_ms(3, 100, 10000, 0.0), 400);
    assert_int_equal(belt__backoff_ms(20, 100, 1000, 0.0), 500); /* capped at max */
    assert_true(belt__backoff_ms(20, 100, 1000, 0.999) <= 1000);
    assert_int_equal(belt__backoff_ms(2, 0, 1000, 0.5), 0);
}

static void reliability_backoff_jitter_spreads(void **state)
{
    (void)state;
    int64_t lo = belt__backoff_ms(2, 100, 10000, 0.0), hi = belt__backoff_ms(2, 100, 10000, 0.99);
    assert_int_equal(lo, 200);
    assert_true(hi > 390 && hi < 400);
}

static void reliability_retry_after_seconds_and_date(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_int_equal(belt__retry_after_parse("120", 0, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(belt__retry_after_parse(" 1.5 ", 0, &ms), 0);
    assert_int_equal(ms, 1500);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 s */
    assert_int_equal(
        belt__retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000LL - 3000, &ms), 0);
    assert_int_equal(ms, 3000);
    assert_int_equal(
        belt__retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000LL + 5000, &ms), 0);
    assert_int_equal(ms, 0); /* in the past: retry now */
    assert_int_equal(belt__retry_after_parse("soon", 0, &ms), -1);
    assert_int_equal(belt__retry_after_parse("-4", 0, &ms), -1);
    assert_int_equal(belt__retry_after_parse("", 0, &ms), -1);
}

static void reliability_retry_delay_honours_retry_after(void **state)
{
    (void)state;
    assert_int_equal(belt__retry_delay_ms(0, 100, 1000, 0.0, 7000, 60000), 7000);
    assert_int_equal(belt__retry_delay_ms(0, 100, 1000, 0.0, 70000, 60000), -1);
    assert_int_equal(belt__retry_delay_ms(1, 100, 1000, 0.0, -1, 60000), 100);
    assert_int_equal(belt__retry_delay_ms(1, 100, 1000, 0.0, -1, 50), -1);
}

static void reliability_outcomes(void **state)
{
    (void)state;
    assert_int_equal(belt__outcome_classify(BELT_OK, 200), BELT_OUTCOME_OK);
    assert_int_equal(belt__outcome_classify(BELT_ERR_UPSTREAM, 200), BELT_OUTCOME_RETRY);
    assert_int_equal(belt__outcome_classify(BELT_ERR_TIMEOUT, 0), BELT_OUTCOME_RETRY);
    assert_int_equal(belt__outcome_classify(BELT_ERR_IO, 0), BELT_OUTCOME_RETRY);
    assert_int_equal(belt__outcome_classify(BELT_ERR_RATELIMIT, 429), BELT_OUTCOME_RETRY);
    assert_int_equal(belt__outcome_classify(BELT_ERR_UPSTREAM, 503), BELT_OUTCOME_RETRY);
    assert_int_equal(belt__outcome_classify(BELT_ERR_AUTH, 401), BELT_OUTCOME_FALLBACK);
    assert_int_equal(belt__outcome_classify(BELT_ERR_UPSTREAM, 404), BELT_OUTCOME_FALLBACK);
    assert_int_equal(belt__outcome_classify(BELT_ERR_UPSTREAM, 400), BELT_OUTCOME_FATAL);
    assert_int_equal(belt__outcome_classify(BELT_ERR_UPSTREAM, 422), BELT_OUTCOME_FATAL);
    assert_int_equal(belt__outcome_classify(BELT_ERR_CANCELLED, 0), BELT_OUTCOME_FATAL);
    assert_true(belt__outcome_is_failure(BELT_ERR_TIMEOUT, 0));
    assert_true(belt__outcome_is_failure(BELT_ERR_UPSTREAM, 500));
    assert_true(belt__outcome_is_failure(BELT_ERR_RATELIMIT, 429));
    assert_false(belt__outcome_is_failure(BELT_ERR_UPSTREAM, 400));
    assert_false(belt__outcome_is_failure(BELT_OK, 200));
    assert_false(belt__outcome_is_failure(BELT_ERR_CANCELLED, 0));
}

/* ---- circuit breaker ---------------------------------------------------------------------- */

static void breaker_opens_after_threshold(void **state)
{
    (void)state;
    struct belt_breaker b;
    belt__breaker_init(&b, 3, 1000);
    for (int i = 0; i < 2; i++) {
        assert_true(belt__breaker_allow(&b, 0, NULL));
        belt__breaker_record(&b, 1, 10);
    }
    assert_int_equal(b.state, BELT_BREAKER_CLOSED);
    belt__breaker_record(&b, 0, 10); /* a success resets the count */
    for (int i = 0; i < 3; i++)
        belt__breaker_record(&b, 1, 100);
    assert_int_equal(b.state, BELT_BREAKER_OPEN);
    assert_false(belt__breaker_allow(&b, 100 + 999999, NULL));
    assert_int_equal(b.n_opened, 1);
}

static void breaker_half_open_lets_one_probe(void **state)
{
    (void)state;
    struct belt_breaker b;
    belt__breaker_init(&b, 1, 1000);
    belt__breaker_record(&b, 1, 0);
    int probe = 0;
    assert_true(belt__breaker_would_allow(&b, 1000000));
    assert_true(belt__breaker_allow(&b, 1000000, &probe));
    assert_true(probe);
    assert_int_equal(b.state, BELT_BREAKER_HALF_OPEN);
    assert_false(belt__breaker_allow(&b, 1000001, &probe)); /* one probe at a time */
    belt__breaker_record(&b, 0, 1000002);
    assert_int_equal(b.state, BELT_BREAKER_CLOSED);
    assert_true(belt__breaker_allow(&b, 1000003, &probe));
    assert_false(probe);
}

static void breaker_failed_probe_reopens(void **state)
{
    (void)state;
    struct belt_breaker b;
    belt__breaker_init(&b, 1, 1000);
    belt__breaker_record(&b, 1, 0);
    assert_true(belt__breaker_allow(&b, 1000000, NULL));
    belt__breaker_record(&b, 1, 1000000);
    assert_int_equal(b.state, BELT_BREAKER_OPEN);
    assert_false(belt__breaker_allow(&b, 1500000, NULL));
    assert_true(belt__breaker_allow(&b, 2000000, NULL));
    assert_int_equal(b.n_opened, 2);
}

static void breaker_released_or_lost_probe_frees_the_slot(void **state)
{
    (void)state;
    struct belt_breaker b;
    belt__breaker_init(&b, 1, 1000);
    belt__breaker_record(&b, 1, 0);
    assert_true(belt__breaker_allow(&b, 1000000, NULL));
    belt__breaker_release(&b, 1); /* cancelled probe */
    assert_true(belt__breaker_allow(&b, 1000001, NULL));
    assert_false(belt__breaker_allow(&b, 1000002, NULL));
    assert_true(belt__breaker_allow(&b, 2000002, NULL)); /* the probe was lost: try again */
}

static void breaker_threshold_zero_never_opens(void **state)
{
    (void)state;
    struct belt_breaker b;
    belt__breaker_init(&b, 0, 1000);
    for (int i = 0; i < 100; i++)
        belt__breaker_record(&b, 1, i);
    assert_int_equal(b.state, BELT_BREAKER_CLOSED);
}

/* ---- weighted choice, cost, tokens -------------------------------------------------------- */

static void weighted_pick_follows_weights(void **state)
{
    (void)state;
    const double w[3] = {3, 1, 0};
    int counts[3] = {0};
    for (int i = 0; i < 1000; i++)
        counts[belt__weighted_pick(w, NULL, 3, (double)i / 1000.0)]++;
    assert_int_equal(counts[0], 750);
    assert_int_equal(counts[1], 250);
    assert_int_equal(counts[2], 0);
    const unsigned char only_second[3] = {0, 1, 1};
    assert_int_equal(belt__weighted_pick(w, only_second, 3, 0.1), 1);
    const unsigned char none[3] = {0, 0, 1};
    assert_int_equal(belt__weighted_pick(w, none, 3, 0.5), -1);
    assert_int_equal(belt__weighted_pick(w, NULL, 3, 0.99999999), 1);
}

static void usage_cost_and_estimates(void **state)
{
    (void)state;
    assert_true(belt__cost_usd(3.0, 15.0, 1000, 200) - 0.006 < 1e-15);
    assert_true(belt__cost_usd(3.0, 15.0, 1000, 200) - 0.006 > -1e-15);
    assert_true(belt__cost_usd(1.0, 1.0, -5, -5) == 0.0);
    assert_int_equal(belt__estimate_tokens("", 0), 0);
    assert_int_equal(belt__estimate_tokens("hello world", 11), 4); /* 2 + 2 */
    assert_int_equal(belt__estimate_tokens("a, b!", 5), 4);
    assert_int_equal(belt__estimate_tokens("日本語", strlen("日本語")), 3);
    json_t *req =
        json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}", 0, NULL);
    assert_int_equal(belt__estimate_request_tokens(req), 3 + 4 + 4);
    json_decref(req);
}

static void usage_logprob_summary(void **state)
{
    (void)state;
    json_t *lp =
        json_loads("{\"content\":[{\"logprob\":-0.5},{\"logprob\":-1.5},{\"x\":1}]}", 0, NULL);
    struct belt_lp_acc acc = {0};
    belt__lp_add(&acc, lp);
    belt__lp_add(&acc, NULL);
    assert_int_equal(acc.n, 2);
    assert_true(acc.sum == -2.0 && acc.min == -1.5);
    json_decref(lp);
}

/* ---- SSE ---------------------------------------------------------------------------------- */

struct sse_log {
    char text[2048];
    int n;
};

static int log_event(void *ud, const char *event, const char *data, size_t len)
{
    struct sse_log *l = ud;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "[%s|%.*s]", event, (int)len, data);
    l->n++;
    return 0;
}

static void sse_parses_every_split(void **state)
{
    (void)state;
    static const char stream[] = ": comment\r\nevent: delta\r\ndata: {\"a\":1}\r\n\r\n"
                                 "data: line1\ndata: line2\n\n"
                                 "data:nospace\r\rdata: [DONE]\n\n";
    static const char want[] = "[delta|{\"a\":1}][|line1\nline2][|nospace][|[DONE]]";
    size_t n = strlen(stream);
    for (size_t split = 0; split <= n; split++) {
        for (size_t split2 = split; split2 <= n; split2 += 7) {
            struct belt_sse p;
            struct sse_log log = {{0}, 0};
            belt__sse_init(&p, 1024);
            BELT_ASSERT_OK(belt__sse_feed(&p, stream, split, log_event, &log));
            BELT_ASSERT_OK(belt__sse_feed(&p, stream + split, split2 - split, log_event, &log));
            BELT_ASSERT_OK(belt__sse_feed(&p, stream + split2, n - split2, log_event, &log));
            assert_string_equal(log.text, want);
            assert_false(belt__sse_pending(&p));
            belt__sse_deinit(&p);
        }
    }
}

static void sse_reports_unfinished_and_too_big(void **state)
{
    (void)state;
    struct belt_sse p;
    struct sse_log log = {{0}, 0};
    belt__sse_init(&p, 16);
    BELT_ASSERT_OK(belt__sse_feed(&p, "data: partial", 13, log_event, &log));
    assert_true(belt__sse_pending(&p));
    assert_int_equal(log.n, 0);
    BELT_ASSERT_STATUS(belt__sse_feed(&p, "0123456789abcdefXYZ", 19, log_event, &log),
                       BELT_ERR_TOOBIG);
    belt__sse_deinit(&p);
}

static int stop_at_first(void *ud, const char *event, const char *data, size_t len)
{
    (void)event;
    (void)data;
    (void)len;
    (*(int *)ud)++;
    return 1;
}

static void sse_callback_can_stop(void **state)
{
    (void)state;
    struct belt_sse p;
    int n = 0;
    belt__sse_init(&p, 1024);
    BELT_ASSERT_STATUS(belt__sse_feed(&p, "data: a\n\ndata: b\n\n", 18, stop_at_first, &n),
                       BELT_ERR_CANCELLED);
    assert_int_equal(n, 1);
    belt__sse_deinit(&p);
}

/* ---- stream assembly ---------------------------------------------------------------------- */

static void assemble_rebuilds_a_completion(void **state)
{
    (void)state;
    static const char *const chunks[] = {
        "{\"id\":\"c1\",\"model\":\"m\",\"created\":5,\"choices\":[{\"index\":0,\"delta\":"
        "{\"role\":\"assistant\",\"content\":\"\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"Hel\",\"logprob\":-0.1}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
    };
    struct belt_assembler a;
    belt__asm_init(&a, 0);
    int usage_only = 0;
    for (size_t i = 0; i < BELT_ARRAY_LEN(chunks); i++) {
        json_t *c = json_loads(chunks[i], 0, NULL);
        assert_non_null(c);
        const char *d;
        size_t dl;
        BELT_ASSERT_OK(belt__asm_add(&a, c, &d, &dl, &usage_only));
        if (i == 1)
            assert_true(dl == 3 && memcmp(d, "Hel", 3) == 0);
        json_decref(c);
    }
    assert_true(usage_only);
    json_t *r = belt__asm_result(&a);
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    BELT_ASSERT_CONTAINS(s, "\"content\":\"Hello\"");
    BELT_ASSERT_CONTAINS(s, "\"arguments\":\"{\\\"a\\\":1}\"");
    BELT_ASSERT_CONTAINS(s, "\"finish_reason\":\"tool_calls\"");
    BELT_ASSERT_CONTAINS(s, "\"usage\":{\"completion_tokens\":4,\"prompt_tokens\":3");
    BELT_ASSERT_CONTAINS(s, "\"logprob\":-0.1");
    BELT_ASSERT_CONTAINS(s, "\"id\":\"c1\"");
    free(s);
    json_decref(r);
    belt__asm_deinit(&a);
}

/* ---- Anthropic ---------------------------------------------------------------------------- */

static char *dumps(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

static void anthropic_request_translation(void **state)
{
    (void)state;
    json_t *req = json_loads(
        "{\"model\":\"x\",\"max_tokens\":10,\"temperature\":1.7,\"stop\":[\"A\",\"B\"],"
        "\"user\":\"u9\",\"parallel_tool_calls\":false,"
        "\"messages\":[{\"role\":\"system\",\"content\":\"S1\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"S2\"}]},"
        "{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":\"thinking\",\"tool_calls\":[{\"id\":\"c1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"k\\\":2}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r1\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"more\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,QUJD\"}}]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
        "{\"type\":\"object\"}}}],\"tool_choice\":{\"type\":\"function\",\"function\":"
        "{\"name\":\"f\"}}}",
        0, NULL);
    assert_non_null(req);
    json_t *out = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt__anthropic_from_openai(req, "claude-x", 4096, 1, &out, &err), &err);
    char *s = dumps(out);
    BELT_ASSERT_CONTAINS(s, "\"system\":\"S1\\n\\nS2\"");
    BELT_ASSERT_CONTAINS(s, "\"model\":\"claude-x\"");
    BELT_ASSERT_CONTAINS(s, "\"max_tokens\":10");
    BELT_ASSERT_CONTAINS(s, "\"temperature\":1.0");
    BELT_ASSERT_CONTAINS(s, "\"stop_sequences\":[\"A\",\"B\"]");
    BELT_ASSERT_CONTAINS(s, "\"metadata\":{\"user_id\":\"u9\"}");
    BELT_ASSERT_CONTAINS(s, "\"stream\":true");
    BELT_ASSERT_CONTAINS(
        s, "{\"id\":\"c1\",\"input\":{\"k\":2},\"name\":\"f\",\"type\":\"tool_use\"}");
    BELT_ASSERT_CONTAINS(s, "{\"content\":\"r1\",\"tool_use_id\":\"c1\",\"type\":\"tool_result\"}");
    BELT_ASSERT_CONTAINS(
        s, "\"source\":{\"data\":\"QUJD\",\"media_type\":\"image/png\",\"type\":\"base64\"}");
    BELT_ASSERT_CONTAINS(
        s, "\"tool_choice\":{\"disable_parallel_tool_use\":true,\"name\":\"f\",\"type\":\"tool\"}");
    BELT_ASSERT_CONTAINS(s, "\"input_schema\":{\"type\":\"object\"}");
    /* user, assistant, user (tool result merged with the next user turn) */
    assert_int_equal(json_array_size(json_object_get(out, "messages")), 3);
    free(s);
    json_decref(out);
    json_decref(req);
}

static void anthropic_request_errors_and_defaults(void **state)
{
    (void)state;
    json_t *out = NULL;
    struct belt_error err;
    json_t *n2 = json_loads("{\"n\":2,\"messages\":[]}", 0, NULL);
    BELT_ASSERT_STATUS(belt__anthropic_from_openai(n2, "m", 1, 0, &out, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "n > 1");
    json_t *bad = json_loads("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
                             "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
                             0, NULL);
    BELT_ASSERT_STATUS(belt__anthropic_from_openai(bad, "m", 1, 0, &out, &err), BELT_ERR_INVALID);
    BELT_ASSERT_CONTAINS(err.msg, "messages[0].tool_calls[0]");
    json_t *rf = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                            "{\"name\":\"x\",\"schema\":{\"type\":\"object\"}}}}",
                            0, NULL);
    BELT_ASSERT_OK(belt__anthropic_from_openai(rf, "m", 777, 0, &out, &err));
    char *s = dumps(out);
    BELT_ASSERT_CONTAINS(s, "\"max_tokens\":777");
    BELT_ASSERT_CONTAINS(s, "\"name\":\"" BELT_ANTHROPIC_JSON_TOOL "\"");
    BELT_ASSERT_CONTAINS(s, "\"tool_choice\":{\"name\":\"" BELT_ANTHROPIC_JSON_TOOL
                            "\",\"type\":\"tool\"}");
    free(s);
    json_decref(out);
    json_decref(n2);
    json_decref(bad);
    json_decref(rf);
}

static void anthropic_response_translation(void **state)
{
    (void)state;
    json_t *resp = json_loads(
        "{\"id\":\"msg_1\",\"model\":\"claude\",\"stop_reason\":\"tool_use\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Let me check.\"},{\"type\":\"tool_use\",\"id\":\"tu1\","
        "\"name\":\"get\",\"input\":{\"q\":1}}],\"usage\":{\"input_tokens\":10,"
        "\"cache_read_input_tokens\":5,\"output_tokens\":7}}",
        0, NULL);
    json_t *out = NULL;
    struct belt_error err;
    BELT_ASSERT_OK(belt__anthropic_to_openai(resp, &out, &err));
    char *s = dumps(out);
    BELT_ASSERT_CONTAINS(s, "\"content\":\"Let me check.\"");
    BELT_ASSERT_CONTAINS(s, "\"finish_reason\":\"tool_calls\"");
    BELT_ASSERT_CONTAINS(s, "{\"function\":{\"arguments\":\"{\\\"q\\\":1}\",\"name\":\"get\"},"
                            "\"id\":\"tu1\",\"type\":\"function\"}");
    BELT_ASSERT_CONTAINS(s, "\"usage\":{\"completion_tokens\":7,\"prompt_tokens\":15,"
                            "\"total_tokens\":22}");
    free(s);
    json_decref(out);
    json_decref(resp);
    json_t *js =
        json_loads("{\"content\":[{\"type\":\"tool_use\",\"name\":\"" BELT_ANTHROPIC_JSON_TOOL
                   "\",\"input\":{\"answer\":42}}],\"stop_reason\":\"tool_use\"}",
                   0, NULL);
    BELT_ASSERT_OK(belt__anthropic_to_openai(js, &out, &err));
    s = dumps(out);
    BELT_ASSERT_CONTAINS(s, "\"content\":\"{\\\"answer\\\":42}\"");
    BELT_ASSERT_CONTAINS(s, "\"finish_reason\":\"stop\"");
    assert_null(strstr(s, "tool_calls"));
    free(s);
    json_decref(out);
    json_decref(js);
    json_t *junk = json_loads("{\"type\":\"message\"}", 0, NULL);
    BELT_ASSERT_STATUS(belt__anthropic_to_openai(junk, &out, &err), BELT_ERR_UPSTREAM);
    json_decref(junk);
    assert_string_equal(belt__anthropic_finish_reason("max_tokens"), "length");
    assert_string_equal(belt__anthropic_finish_reason("end_turn"), "stop");
    assert_string_equal(belt__anthropic_finish_reason(NULL), "stop");
}

struct chunk_log {
    char text[4096];
};

static belt_status log_chunk(void *ud, const json_t *chunk, const char *raw, size_t raw_len)
{
    struct chunk_log *l = ud;
    (void)raw;
    (void)raw_len;
    char *s = json_dumps(chunk, JSON_COMPACT | JSON_SORT_KEYS);
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "%s\n", s);
    free(s);
    return BELT_OK;
}

static void anthropic_stream_events_become_chunks(void **state)
{
    (void)state;
    static const char *const ev[][2] = {
        {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"model\":\"c\","
                          "\"usage\":{\"input_tokens\":11}}}"},
        {"content_block_start",
         "{\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"},
        {"ping", "{\"type\":\"ping\"}"},
        {"content_block_delta",
         "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}"},
        {"content_block_start",
         "{\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\","
         "\"name\":\"f\"}}"},
        {"content_block_delta", "{\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
                                "\"partial_json\":\"{\\\"a\\\":\"}}"},
        {"message_delta",
         "{\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}"},
        {"message_stop", "{\"type\":\"message_stop\"}"},
    };
    const struct belt_provider_ops *ops = &belt__provider_anthropic;
    void *st = ops->stream_new();
    struct chunk_log log = {{0}};
    struct belt_error err;
    int done = 0;
    for (size_t i = 0; i < BELT_ARRAY_LEN(ev); i++)
        BELT_ASSERT_OK(ops->stream_event(st, ev[i][0], ev[i][1], strlen(ev[i][1]), log_chunk, &log,
                                         &done, &err));
    assert_true(done);
    BELT_ASSERT_CONTAINS(log.text, "\"delta\":{\"content\":\"\",\"role\":\"assistant\"}");
    BELT_ASSERT_CONTAINS(log.text, "\"delta\":{\"content\":\"Hi\"}");
    BELT_ASSERT_CONTAINS(log.text,
                         "\"tool_calls\":[{\"function\":{\"arguments\":\"\",\"name\":\"f\"},"
                         "\"id\":\"t\",\"index\":0,\"type\":\"function\"}]");
    BELT_ASSERT_CONTAINS(log.text, "\"tool_calls\":[{\"function\":{\"arguments\":\"{\\\"a\\\":\"},"
                                   "\"index\":0}]");
    BELT_ASSERT_CONTAINS(log.text, "\"finish_reason\":\"tool_calls\"");
    BELT_ASSERT_CONTAINS(log.text, "\"usage\":{\"completion_tokens\":9,\"prompt_tokens\":11,"
                                   "\"total_tokens\":20}");
    BELT_ASSERT_CONTAINS(log.text, "\"object\":\"chat.completion.chunk\"");
    const char *e = "{\"error\":{\"message\":\"overloaded\"}}";
    BELT_ASSERT_STATUS(ops->stream_event(st, "error", e, strlen(e), log_chunk, &log, &done, &err),
                       BELT_ERR_UPSTREAM);
    BELT_ASSERT_CONTAINS(err.msg, "overloaded");
    ops->stream_free(st);
}

static void openai_stream_event_passes_through(void **state)
{
    (void)state;
    const struct belt_provider_ops *ops = &belt__provider_openai;
    void *st = ops->stream_new();
    struct chunk_log log = {{0}};
    struct belt_error err;
    int done = 0;
    const char *d = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}";
    BELT_ASSERT_OK(ops->stream_event(st, "", d, strlen(d), log_chunk, &log, &done, &err));
    assert_false(done);
    BELT_ASSERT_OK(ops->stream_event(st, "", "[DONE]", 6, log_chunk, &log, &done, &err));
    assert_true(done);
    BELT_ASSERT_STATUS(ops->stream_event(st, "", "{not json", 9, log_chunk, &log, &done, &err),
                       BELT_ERR_UPSTREAM);
    const char *e = "{\"error\":{\"message\":\"boom\"}}";
    BELT_ASSERT_STATUS(ops->stream_event(st, "", e, strlen(e), log_chunk, &log, &done, &err),
                       BELT_ERR_UPSTREAM);
    BELT_ASSERT_CONTAINS(err.msg, "boom");
    ops->stream_free(st);
    char msg[64];
    belt__error_message_generic("{\"error\":{\"message\":\"bad key\"}}", 31, msg, sizeof(msg));
    assert_string_equal(msg, "bad key");
    belt__error_message_generic("<html>\x01oops", 11, msg, sizeof(msg));
    assert_string_equal(msg, "<html> oops");
}

/* ---- cache key ---------------------------------------------------------------------------- */

static void cache_key_normalises_requests(void **state)
{
    (void)state;
    json_t *a = json_loads("{\"model\":\"m\",\"temperature\":0,\"stream\":true,\"user\":\"a\","
                           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                           0, NULL);
    json_t *b = json_loads("{\"messages\":[{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
                           "\"role\":\"user\"}],\"temperature\":0.0,\"user\":\"b\"}",
                           0, NULL);
    json_t *c = json_loads(
        "{\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"ho\"}]}", 0, NULL);
    unsigned char ka[BELT_CACHE_KEY_LEN], kb[BELT_CACHE_KEY_LEN], kc[BELT_CACHE_KEY_LEN],
        kd[BELT_CACHE_KEY_LEN];
    BELT_ASSERT_OK(belt__cache_key("m", a, ka));
    BELT_ASSERT_OK(belt__cache_key("m", b, kb));
    BELT_ASSERT_OK(belt__cache_key("m", c, kc));
    BELT_ASSERT_OK(belt__cache_key("other", a, kd));
    assert_memory_equal(ka, kb, sizeof(ka));
    assert_memory_not_equal(ka, kc, sizeof(ka));
    assert_memory_not_equal(ka, kd, sizeof(ka));
    char hex[2 * BELT_CACHE_KEY_LEN + 1];
    belt__cache_key_hex(ka, hex);
    assert_int_equal(strlen(hex), 32);
    assert_true(belt__cache_cacheable(a));
    json_t *hot = json_loads("{\"temperature\":0.2}", 0, NULL);
    json_t *seeded = json_loads("{\"temperature\":0.2,\"seed\":7}", 0, NULL);
    json_t *none = json_loads("{}", 0, NULL);
    assert_false(belt__cache_cacheable(hot));
    assert_true(belt__cache_cacheable(seeded));
    assert_false(belt__cache_cacheable(none));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(hot);
    json_decref(seeded);
    json_decref(none);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reliability_backoff_grows_and_caps),
    cmocka_unit_test(reliability_backoff_jitter_spreads),
    cmocka_unit_test(reliability_retry_after_seconds_and_date),
    cmocka_unit_test(reliability_retry_delay_honours_retry_after),
    cmocka_unit_test(reliability_outcomes),
    cmocka_unit_test(breaker_opens_after_threshold),
    cmocka_unit_test(breaker_half_open_lets_one_probe),
    cmocka_unit_test(breaker_failed_probe_reopens),
    cmocka_unit_test(breaker_released_or_lost_probe_frees_the_slot),
    cmocka_unit_test(breaker_threshold_zero_never_opens),
    cmocka_unit_test(weighted_pick_follows_weights),
    cmocka_unit_test(usage_cost_and_estimates),
    cmocka_unit_test(usage_logprob_summary),
    cmocka_unit_test(sse_parses_every_split),
    cmocka_unit_test(sse_reports_unfinished_and_too_big),
    cmocka_unit_test(sse_callback_can_stop),
    cmocka_unit_test(assemble_rebuilds_a_completion),
    cmocka_unit_test(anthropic_request_translation),
    cmocka_unit_test(anthropic_request_errors_and_defaults),
    cmocka_unit_test(anthropic_response_translation),
    cmocka_unit_test(anthropic_stream_events_become_chunks),
    cmocka_unit_test(openai_stream_event_passes_through),
    cmocka_unit_test(cache_key_normalises_requests),
};

BELT_TEST_MAIN(tests)
