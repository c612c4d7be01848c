/*
 * test_engine.c — the engine and the model-call API (belt.h "Gateway"): parameter errors
 * never call back, the local provider served as a model (label, confidence, top-k, streamed
 * chunks), the async rule (no callback from inside belt_call_start; exactly one answer),
 * cancellation, fallbacks after connection failures with every attempt reported, answer
 * copies, metrics text, and allocation failures that leak nothing.
 */
#include "testutil.h"

#include <event2/event.h>
#include <jansson.h>
#include <string.h>

#include "util/alloc.h"

struct fixture {
    char dir[256];
    char model[320];
    struct belt_config *cfg;
    struct belt_engine *e;
};

static const char *const texts[][2] = {
    {"I want my money back", "refund"},         {"please refund my order", "refund"},
    {"refund the charge now", "refund"},        {"money back for the broken item", "refund"},
    {"where is my package", "shipping"},        {"track my delivery please", "shipping"},
    {"the parcel has not arrived", "shipping"}, {"when will my order ship", "shipping"},
};

static void train_model(const char *path)
{
    struct belt_example ex[64];
    size_t n = 0;
    for (int rep = 0; rep < 8; rep++)
        for (size_t i = 0; i < BELT_ARRAY_LEN(texts); i++)
            ex[n++] = (struct belt_example){texts[i][0], texts[i][1]};
    struct belt_classifier_params p = belt_classifier_default_params();
    p.min_count = 1;
    p.threads = 1;
    p.epochs = 10;
    struct belt_classifier *c = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_classifier_train(&p, ex, n, ex, n, &c, &err), &err);
    BELT_ASSERT_OK_ERR(belt_classifier_save(c, path, 0, &err), &err);
    belt_classifier_free(c);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    belt_test_tmpdir(f->dir, sizeof(f->dir));
    snprintf(f->model, sizeof(f->model), "%s/intent.belt", f->dir);
    train_model(f->model);
    char yaml[2048];
    /* port 1 on loopback: nothing listens, connections are refused at once */
    snprintf(yaml, sizeof(yaml),
             "store: { path: '%s/belt.db' }\n"
             "models:\n"
             "  intent: { provider: local, path: '%s', top_k: 2 }\n"
             "  dead: { provider: openai, base_url: 'http://127.0.0.1:1/v1', retries: 1,\n"
             "          backoff: 1ms, fallbacks: [intent], price: { input: 1, output: 1 } }\n"
             "  alone: { provider: openai, base_url: 'http://127.0.0.1:1/v1', retries: 0 }\n",
             f->dir, f->model);
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_config_parse(yaml, strlen(yaml), "t.yaml", f->dir, &f->cfg, &err),
                       &err);
    struct belt_engine_params ep = belt_engine_default_params();
    ep.config = f->cfg;
    BELT_ASSERT_OK_ERR(belt_engine_new(&ep, &f->e, &err), &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    belt_engine_free(f->e);
    belt_config_free(f->cfg);
    belt_test_rmrf(f->dir);
    free(f);
    return 0;
}

static json_t *user_request(const char *text)
{
    return json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", text);
}

static void engine_needs_a_config(void **state)
{
    (void)state;
    struct belt_engine_params ep = belt_engine_default_params();
    struct belt_engine *e = NULL;
    struct belt_error err;
    BELT_ASSERT_STATUS(belt_engine_new(&ep, &e, &err), BELT_ERR_INVALID);
    assert_null(e);
}

static void never_called(void *ud, struct belt_call *call, const struct belt_answer *a)
{
    (void)ud;
    (void)call;
    (void)a;
    fail_msg("on_answer must not be called after a failed start");
}

static void call_start_errors_never_call_back(void **state)
{
    struct fixture *f = *state;
    struct event_base *base = event_base_new();
    struct belt_loop *l = NULL;
    struct belt_error err;
    BELT_ASSERT_OK(belt_loop_new(f->e, base, &l, &err));
    json_t *req = user_request("hello");
    struct belt_call_params p = belt_call_default_params();
    p.request = req;
    p.on_answer = never_called;
    p.model = "nope";
    BELT_ASSERT_STATUS(belt_call_start(l, &p, NULL, &err), BELT_ERR_NOTFOUND);
    BELT_ASSERT_CONTAINS(err.msg, "nope");
    p.model = "intent";
    p.stream = 1; /* without on_chunk */
    BELT_ASSERT_STATUS(belt_call_start(l, &p, NULL, &err), BELT_ERR_INVALID);
    p.stream = 0;
    p.request = NULL;
    p.request_json = "{\"messages\": 3}";
    p.request_len = strlen(p.request_json);
    BELT_ASSERT_STATUS(belt_call_start(l, &p, NULL, &err), BELT_ERR_INVALID);
    p.request_json = "{broken";
    p.request_len = strlen(p.request_json);
    BELT_ASSERT_STATUS(belt_call_start(l, &p, NULL, &err), BELT_ERR_INVALID);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(belt_loop_n_calls(l), 0);
    json_decref(req);
    belt_loop_free(l);
    event_base_free(base);
}

static void local_model_answers_with_label_and_confidence(void **state)
{
    struct fixture *f = *state;
    json_t *req = user_request("refund my money please");
    struct belt_call_params p = belt_call_default_params();
    p.model = "intent";
    p.request = req;
    struct belt_answer *a = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_call_sync(f->e, &p, &a, &err), &err);
    assert_string_equal(a->label, "refund");
    assert_string_equal(a->content, "refund");
    assert_string_equal(a->provider, "local");
    assert_true(a->confidence > 0.5 && a->confidence <= 1.0);
    assert_int_equal(a->n_top_k, 2);
    assert_string_equal(a->top_k[0].label, "refund");
    assert_int_equal(a->n_attempts, 1);
    assert_int_equal(a->attempts[0].status, BELT_OK);
    assert_true(a->cost_usd == 0.0);
    const json_t *ext = json_object_get(a->response, "belt");
    assert_string_equal(json_string_value(json_object_get(ext, "label")), "refund");
    assert_int_equal(json_array_size(json_object_get(ext, "top_k")), 2);
    BELT_ASSERT_CONTAINS(a->body, "\"belt\":{");
    belt_answer_free(a);
    json_decref(req);
}

struct stream_log {
    int chunks;
    char text[256];
};

static void log_chunk(void *ud, struct belt_call *call, const struct belt_chunk *ck)
{
    struct stream_log *s = ud;
    (void)call;
    s->chunks++;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "%.*s", (int)ck->delta_len, ck->delta);
    assert_string_equal(ck->model, "intent");
}

static void local_model_streams_its_answer(void **state)
{
    struct fixture *f = *state;
    json_t *req = user_request("where is my parcel");
    struct stream_log log = {0, ""};
    struct belt_call_params p = belt_call_default_params();
    p.model = "intent";
    p.request = req;
    p.stream = 1;
    p.on_chunk = log_chunk;
    p.ud = &log;
    struct belt_answer *a = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_call_sync(f->e, &p, &a, &err), &err);
    assert_int_equal(log.chunks, 2);
    assert_string_equal(log.text, "shipping");
    assert_true(a->stream);
    assert_string_equal(a->finish_reason, "stop");
    belt_answer_free(a);
    json_decref(req);
}

struct async_state {
    int answers;
    belt_status status;
    int in_start;
    struct belt_answer *copy;
    int attempts_seen;
};

static void on_answer(void *ud, struct belt_call *call, const struct belt_answer *a)
{
    struct async_state *s = ud;
    (void)call;
    assert_false(s->in_start);
    s->answers++;
    s->status = a->status;
    s->copy = belt_answer_copy(a);
}

static void on_attempt(void *ud, struct belt_call *call, const struct belt_attempt *a)
{
    struct async_state *s = ud;
    (void)call;
    assert_int_equal(a->seq, s->attempts_seen);
    s->attempts_seen++;
}

static void async_call_answers_once_from_the_loop(void **state)
{
    struct fixture *f = *state;
    struct event_base *base = event_base_new();
    struct belt_loop *l = NULL;
    struct belt_error err;
    BELT_ASSERT_OK(belt_loop_new(f->e, base, &l, &err));
    json_t *req = user_request("track my delivery");
    struct async_state s = {0};
    struct belt_call_params p = belt_call_default_params();
    p.model = "intent";
    p.request = req;
    p.on_answer = on_answer;
    p.on_attempt = on_attempt;
    p.ud = &s;
    s.in_start = 1;
    BELT_ASSERT_OK(belt_call_start(l, &p, NULL, &err));
    s.in_start = 0;
    assert_int_equal(s.answers, 0);
    assert_int_equal(belt_loop_n_calls(l), 1);
    event_base_dispatch(base);
    assert_int_equal(s.answers, 1);
    assert_int_equal(s.status, BELT_OK);
    assert_int_equal(s.attempts_seen, 1);
    assert_string_equal(s.copy->label, "shipping");
    assert_int_equal(belt_loop_n_calls(l), 0);
    belt_answer_free(s.copy);
    json_decref(req);
    belt_loop_free(l);
    event_base_free(base);
}

static void cancel_answers_at_once_and_only_once(void **state)
{
    struct fixture *f = *state;
    struct event_base *base = event_base_new();
    struct belt_loop *l = NULL;
    struct belt_error err;
    BELT_ASSERT_OK(belt_loop_new(f->e, base, &l, &err));
    json_t *req = user_request("hello");
    struct async_state s = {0};
    struct belt_call_params p = belt_call_default_params();
    p.model = "alone";
    p.request = req;
    p.on_answer = on_answer;
    p.ud = &s;
    struct belt_call *c = NULL;
    BELT_ASSERT_OK(belt_call_start(l, &p, &c, &err));
    belt_call_cancel(c);
    assert_int_equal(s.answers, 1);
    assert_int_equal(s.status, BELT_ERR_CANCELLED);
    assert_int_equal(s.copy->http_status, 499);
    event_base_dispatch(base);
    assert_int_equal(s.answers, 1);
    belt_answer_free(s.copy);
    /* a loop freed with a call in flight cancels it */
    memset(&s, 0, sizeof(s));
    BELT_ASSERT_OK(belt_call_start(l, &p, NULL, &err));
    belt_loop_free(l);
    assert_int_equal(s.answers, 1);
    assert_int_equal(s.status, BELT_ERR_CANCELLED);
    belt_answer_free(s.copy);
    json_decref(req);
    event_base_free(base);
}

static void connection_failures_retry_then_fall_back(void **state)
{
    struct fixture *f = *state;
    json_t *req = user_request("refund please");
    struct belt_call_params p = belt_call_default_params();
    p.model = "dead";
    p.request = req;
    struct belt_answer *a = NULL;
    struct belt_error err;
    BELT_ASSERT_OK_ERR(belt_call_sync(f->e, &p, &a, &err), &err);
    assert_string_equal(a->model, "intent");
    assert_int_equal(a->n_attempts, 3);
    assert_string_equal(a->attempts[0].why, "first");
    assert_string_equal(a->attempts[1].why, "retry");
    assert_string_equal(a->attempts[2].why, "fallback");
    assert_int_equal(a->attempts[0].status, BELT_ERR_IO);
    assert_int_equal(a->attempts[0].http_status, 0);
    assert_string_equal(a->attempts[0].model, "dead");
    assert_int_equal(a->attempts[2].status, BELT_OK);
    belt_answer_free(a);
    /* without fallbacks the failure is the answer */
    p.fallbacks = 0;
    BELT_ASSERT_STATUS(belt_call_sync(f->e, &p, &a, &err), BELT_ERR_IO);
    assert_non_null(a);
    assert_int_equal(a->http_status, 502);
    assert_int_equal(a->n_attempts, 2);
    BELT_ASSERT_CONTAINS(a->error, "dead");
    belt_answer_free(a);
    json_decref(req);
}

static void metrics_text_names_models(void **state)
{
    struct fixture *f = *state;
    char *text = belt_engine_metrics_text(f->e);
    assert_non_null(text);
    BELT_ASSERT_CONTAINS(text, "belt_upstream_attempts_total{model=\"dead\"}");
    BELT_ASSERT_CONTAINS(text, "# TYPE belt_request_duration_seconds histogram");
    belt_free(text);
    BELT_ASSERT_OK(belt_engine_flush(f->e, 5000, NULL));
    assert_ptr_equal(belt_engine_config(f->e), f->cfg);
}

static void sync_call_survives_allocation_failures(void **state)
{
    struct fixture *f = *state;
    json_t *req = user_request("refund my order");
    struct belt_call_params p = belt_call_default_params();
    p.model = "intent";
    p.request = req;
    int ok_seen = 0;
    for (long n = 1; n < 400 && !ok_seen; n++) {
        struct belt_answer *a = NULL;
        belt__alloc_fail_after(n, 0);
        belt_status st = belt_call_sync(f->e, &p, &a, NULL);
        long injected = belt__alloc_n_injected();
        belt__alloc_fail_after(0, 0);
        if (st == BELT_OK && injected == 0)
            ok_seen = 1;
        belt_answer_free(a);
    }
    assert_true(ok_seen);
    json_decref(req);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(engine_needs_a_config),
    cmocka_unit_test_setup_teardown(call_start_errors_never_call_back, setup, teardown),
    cmocka_unit_test_setup_teardown(local_model_answers_with_label_and_confidence, setup, teardown),
    cmocka_unit_test_setup_teardown(local_model_streams_its_answer, setup, teardown),
    cmocka_unit_test_setup_teardown(async_call_answers_once_from_the_loop, setup, teardown),
    cmocka_unit_test_setup_teardown(cancel_answers_at_once_and_only_once, setup, teardown),
    cmocka_unit_test_setup_teardown(connection_failures_retry_then_fall_back, setup, teardown),
    cmocka_unit_test_setup_teardown(metrics_text_names_models, setup, teardown),
    cmocka_unit_test_setup_teardown(sync_call_survives_allocation_failures, setup, teardown),
};

BELT_TEST_MAIN(tests)
